/* Regular-grid multilinear interpolator (upstream make_nd.py --regulargrid,
 * spec_inter.GridInterp and GridOutsideCheck).
 *
 * Deviations from upstream (both are fixes, documented in
 * docs/formats/interp_ccf.md):
 *  - a point exactly on the upper edge of a dimension (x == last node) is
 *    inside: it is interpolated in the last cell with t = 1.  Upstream's
 *    digitize() puts it outside, so along the upper faces it returned the
 *    nearest node instead of the interpolant and a positive outside measure.
 *  - a dimension with a single value (constant parameter) is inside only at
 *    that value, and its span for the nearest-neighbour distance is taken as
 *    1 (upstream divides by a zero span). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rvs/log.h"
#include "rvs/status.h"
#include "templates/interp_internal.h"

static int dbl_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Number of entries of sorted u[0..n-1] that are <= x. */
static int upper_bound(const double *u, int n, double x) {
  int lo = 0, hi = n;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (u[mid] <= x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static size_t nearest_node(const rvs_interp *ip, const double *x, double *dist) {
  int n = ip->ndim;
  size_t best = 0;
  double bestd = INFINITY;
  for (size_t i = 0; i < ip->nvert; i++) {
    const double *v = ip->vec + i * (size_t)n;
    double d2 = 0;
    for (int d = 0; d < n; d++) {
      double t = (x[d] - v[d]) / ip->ptp_scale[d];
      d2 += t * t;
    }
    if (d2 < bestd) {
      bestd = d2;
      best = i;
    }
  }
  *dist = sqrt(bestd);
  return best;
}

int rvs_grid_locate_mapped(const rvs_interp *ip, const double *x, int *vert, double *w,
                           int *nw, double *outside) {
  int n = ip->ndim;
  for (int d = 0; d < n; d++)
    if (!isfinite(x[d])) { /* upstream: the first spectrum */
      vert[0] = 0;
      w[0] = 1;
      *nw = 1;
      *outside = NAN;
      return RVS_ERR_RANGE;
    }
  int pos[16];
  double t[16];
  int inside = 1;
  for (int d = 0; d < n && inside; d++) {
    const double *u = ip->uvecs[d];
    int len = ip->ulen[d];
    if (len == 1) {
      pos[d] = 0;
      t[d] = 0;
      inside = x[d] == u[0];
      continue;
    }
    int p = upper_bound(u, len, x[d]) - 1;
    if (p < 0) {
      inside = 0;
    } else if (p >= len - 1) {
      if (x[d] == u[len - 1]) { /* upper edge: last cell, t = 1 */
        pos[d] = len - 2;
        t[d] = 1;
      } else {
        inside = 0;
      }
    } else {
      pos[d] = p;
      t[d] = (x[d] - u[p]) / (u[p + 1] - u[p]);
    }
  }
  if (inside) {
    int k = 0;
    for (int c = 0; c < (1 << n); c++) {
      /* corner bits in itertools.product order: first dimension slowest */
      size_t flat = 0;
      double wt = 1;
      int skip = 0;
      for (int d = 0; d < n; d++) {
        int bit = (c >> (n - 1 - d)) & 1;
        if (bit && ip->ulen[d] == 1) {
          skip = 1;
          break;
        }
        flat = flat * (size_t)ip->ulen[d] + (size_t)(pos[d] + bit);
        wt *= bit ? t[d] : 1 - t[d];
      }
      if (skip) continue;
      int32_t id = ip->idgrid[flat];
      if (id < 0) {
        inside = 0;
        break;
      }
      vert[k] = id;
      w[k] = wt;
      k++;
    }
    if (inside) {
      *nw = k;
      *outside = 0;
      return RVS_OK;
    }
  }
  double dist;
  vert[0] = (int)nearest_node(ip, x, &dist);
  w[0] = 1;
  *nw = 1;
  *outside = dist;
  return RVS_OK;
}

int rvs_interp_build_grid(const rvs_specs *s, rvs_interp **out) {
  *out = NULL;
  if (!s || s->nparam < 1 || s->nparam > 12)
    return rvs_error(RVS_ERR_ARG, "regular grid: needs 1 to 12 parameters");
  int n = (int)s->nparam;
  size_t ns = s->nspec;
  int st;
  rvs_interp *ip = rvs_interp_alloc_common(s, ns, &st);
  if (!ip) return st;
  ip->kind = RVS_INTERP_REGULARGRID;
  ip->ulen = calloc((size_t)n, sizeof(int));
  ip->uvecs = calloc((size_t)n, sizeof(double *));
  ip->ptp_scale = calloc((size_t)n, sizeof(double));
  double *col = malloc(ns * sizeof(double));
  if (!ip->ulen || !ip->uvecs || !ip->ptp_scale || !col) goto nomem;
  for (size_t i = 0; i < ns; i++)
    for (int d = 0; d < n; d++) {
      double raw = s->vec[(size_t)d * ns + i];
      double v = ip->is_log[d] ? log10(raw) : raw;
      if (!isfinite(v)) {
        free(col);
        rvs_interp_free(ip);
        return rvs_error(RVS_ERR_ARG, "regular grid: template %zu: parameter %s = %g is not "
                         "finite after mapping", i, s->parnames ? s->parnames[d] : "?", raw);
      }
      ip->vec[i * (size_t)n + (size_t)d] = v;
    }
  size_t total = 1;
  for (int d = 0; d < n; d++) {
    for (size_t i = 0; i < ns; i++) col[i] = ip->vec[i * (size_t)n + (size_t)d];
    qsort(col, ns, sizeof(double), dbl_cmp);
    int m = 0;
    for (size_t i = 0; i < ns; i++)
      if (m == 0 || col[i] != col[m - 1]) col[m++] = col[i];
    ip->uvecs[d] = malloc((size_t)m * sizeof(double));
    if (!ip->uvecs[d]) goto nomem;
    memcpy(ip->uvecs[d], col, (size_t)m * sizeof(double));
    ip->ulen[d] = m;
    double span = col[m - 1] - col[0];
    ip->ptp_scale[d] = span > 0 ? span : 1.0;
    total *= (size_t)m;
    if (total > ((size_t)1 << 31)) {
      free(col);
      rvs_interp_free(ip);
      return rvs_error(RVS_ERR_ARG, "regular grid: %d-D grid of unique values too large", n);
    }
  }
  free(col);
  col = NULL;
  ip->idgrid = malloc(total * sizeof(int32_t));
  if (!ip->idgrid) goto nomem;
  for (size_t k = 0; k < total; k++) ip->idgrid[k] = -1;
  size_t ndup = 0;
  for (size_t i = 0; i < ns; i++) {
    size_t flat = 0;
    for (int d = 0; d < n; d++) {
      int p = upper_bound(ip->uvecs[d], ip->ulen[d], ip->vec[i * (size_t)n + (size_t)d]) - 1;
      flat = flat * (size_t)ip->ulen[d] + (size_t)p;
    }
    if (ip->idgrid[flat] >= 0) ndup++;
    ip->idgrid[flat] = (int32_t)i; /* last one wins, as numpy's fancy assignment */
    st = rvs_interp_store_specs(ip, i, s->specs + i * s->npix);
    if (st) {
      rvs_interp_free(ip);
      return st;
    }
  }
  if (ndup)
    rvs_log(RVS_LOG_WARNING, "regular grid: %zu templates share grid nodes; the last wins",
            ndup);
  rvs_log(RVS_LOG_INFO, "regular grid: %zu templates on %zu nodes", ns, total);
  *out = ip;
  return RVS_OK;
nomem:
  free(col);
  rvs_interp_free(ip);
  return rvs_error(RVS_ERR_NOMEM, "regular grid: out of memory");
}
