/* Delaunay-triangulation interpolator (upstream make_nd.py without
 * --regulargrid, and spec_inter.TriInterp).
 *
 * Build: map the parameters (log10 on log_ids), add a deterministic jitter of
 * U(-1e-6, 1e-6) (numpy's legacy Mersenne Twister stream seeded with 1,
 * exactly upstream's values, so the tessellation is upstream's), append the 2^ndim corners of the
 * bounding box padded by 20% per dimension (corner i takes the upper bound in
 * dimension j iff bit j of i is set), each carrying the spectrum of the
 * nearest real template, and triangulate with Qhull using scipy.spatial.
 * Delaunay's options ("d Qt Qbb Qc Qz Q12", plus "Qx" above 4-D).  The
 * barycentric weights come, by default, from upstream's jittered geometry
 * (scipy's Delaunay.transform), or from the true positions
 * (RVS_TRI_WEIGHTS_EXACT; see interp.h).
 *
 * Point location: a directed walk (step into the neighbour opposite the most
 * negative barycentric coordinate) started from the simplex that holds the
 * centre of the point's cell in a uniform bucket grid over the box; a
 * brute-force scan is the fallback, as in scipy's find_simplex. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libqhull_r/qhull_ra.h"
#include "rvs/log.h"
#include "rvs/status.h"
#include "templates/interp_internal.h"

/* numpy's legacy RandomState: MT19937 seeded by init_genrand (what
 * np.random.seed(int) does) and random_sample's 53-bit doubles, so the
 * jitter, hence the Qhull tessellation of a regular grid (whose cocircular
 * faces can be split many ways), is upstream's: np.random.seed(1);
 * vec += np.random.uniform(-1e-6, 1e-6, vec.shape). */
typedef struct mt19937 {
  uint32_t mt[624];
  int mti;
} mt19937;

static void mt_seed(mt19937 *m, uint32_t s) {
  m->mt[0] = s;
  for (int i = 1; i < 624; i++)
    m->mt[i] = 1812433253u * (m->mt[i - 1] ^ (m->mt[i - 1] >> 30)) + (uint32_t)i;
  m->mti = 624;
}

static uint32_t mt_next(mt19937 *m) {
  if (m->mti >= 624) {
    for (int k = 0; k < 624; k++) {
      uint32_t y = (m->mt[k] & 0x80000000u) | (m->mt[(k + 1) % 624] & 0x7fffffffu);
      m->mt[k] = m->mt[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    m->mti = 0;
  }
  uint32_t y = m->mt[m->mti++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

void rvs_tri_jitter(double *v, size_t n, double amplitude, uint64_t seed) {
  mt19937 m;
  mt_seed(&m, (uint32_t)seed);
  double low = -amplitude, high = amplitude;
  for (size_t i = 0; i < n; i++) {
    uint32_t a = mt_next(&m) >> 5, b = mt_next(&m) >> 6;
    double u = ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
    v[i] += low + (high - low) * u;
  }
}

/* ------------------------------------------------------------ barycentrics */

void rvs_tri_bary(const rvs_interp *ip, int32_t s, const double *x, double *bary) {
  int n = ip->ndim;
  const double *T = ip->transform + (size_t)s * (size_t)(n + 1) * (size_t)n;
  const double *r = T + (size_t)n * (size_t)n;
  double sum = 0;
  for (int j = 0; j < n; j++) {
    double b = 0;
    for (int i = 0; i < n; i++) b += T[j * n + i] * (x[i] - r[i]);
    bary[j] = b;
    sum += b;
  }
  bary[n] = 1.0 - sum;
}

/* Inverse of the n x n matrix a (row-major, destroyed) into inv by
 * Gauss-Jordan with partial pivoting; returns the reciprocal condition
 * number estimate 1/(|A|_1 |A^-1|_1), 0 if singular. */
static double invert_small(int n, double *a, double *inv) {
  double anorm = 0;
  for (int j = 0; j < n; j++) {
    double c = 0;
    for (int i = 0; i < n; i++) c += fabs(a[i * n + j]);
    if (c > anorm) anorm = c;
  }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) inv[i * n + j] = i == j;
  for (int c = 0; c < n; c++) {
    int p = c;
    for (int i = c + 1; i < n; i++)
      if (fabs(a[i * n + c]) > fabs(a[p * n + c])) p = i;
    if (a[p * n + c] == 0) return 0;
    if (p != c)
      for (int j = 0; j < n; j++) {
        double t = a[c * n + j];
        a[c * n + j] = a[p * n + j];
        a[p * n + j] = t;
        t = inv[c * n + j];
        inv[c * n + j] = inv[p * n + j];
        inv[p * n + j] = t;
      }
    double piv = a[c * n + c];
    for (int j = 0; j < n; j++) {
      a[c * n + j] /= piv;
      inv[c * n + j] /= piv;
    }
    for (int i = 0; i < n; i++) {
      if (i == c) continue;
      double f = a[i * n + c];
      if (f == 0) continue;
      for (int j = 0; j < n; j++) {
        a[i * n + j] -= f * a[c * n + j];
        inv[i * n + j] -= f * inv[c * n + j];
      }
    }
  }
  double inorm = 0;
  for (int j = 0; j < n; j++) {
    double c = 0;
    for (int i = 0; i < n; i++) c += fabs(inv[i * n + j]);
    if (c > inorm) inorm = c;
  }
  if (anorm == 0 || inorm == 0 || !isfinite(inorm)) return 0;
  return 1.0 / (anorm * inorm);
}

/* transform[s] as scipy's Delaunay.transform: rows 0..n-1 = T^-1 with
 * T[:, j] = v_j - v_n, row n = v_n, from the coordinates `coords`
 * [nvert][n].  rcond[s] receives the reciprocal condition estimate (0 if
 * singular, then the transform is NaN). */
static void transforms_from(const rvs_interp *ip, const double *coords, double *transform,
                            double *rcond_out) {
  int n = ip->ndim;
  size_t per = (size_t)(n + 1) * (size_t)n;
  for (size_t s = 0; s < ip->nsimplex; s++) {
    double a[256], inv[256];
    const int32_t *v = ip->simplices + s * (size_t)(n + 1);
    const double *vn = coords + (size_t)v[n] * (size_t)n;
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) a[i * n + j] = coords[(size_t)v[j] * (size_t)n + i] - vn[i];
    double rcond = invert_small(n, a, inv);
    double *T = transform + s * per;
    rcond_out[s] = rcond;
    if (rcond < 1000 * DBL_EPSILON) {
      for (size_t k = 0; k < per; k++) T[k] = NAN;
      continue;
    }
    memcpy(T, inv, (size_t)n * (size_t)n * sizeof(double));
    memcpy(T + (size_t)n * (size_t)n, vn, (size_t)n * sizeof(double));
  }
}

/* Barycentric transforms from the geometry `geo` (upstream's: the jittered
 * templates and the exact corners of the box around them, so the weights
 * are scipy's Delaunay.transform weights; or, for RVS_TRI_WEIGHTS_EXACT,
 * the true positions, so nodes and linear functions are reproduced
 * exactly).  A simplex that is flat in `geo` (a sliver between two ways of
 * splitting a cocircular face, or next to a padded corner) keeps the
 * transform of the Qhull input `walkgeo` for the walk only and is flagged
 * degenerate: it holds no volume and is never the answer of a location. */
static int compute_transforms(rvs_interp *ip, const double *geo, const double *walkgeo) {
  int n = ip->ndim;
  size_t per = (size_t)(n + 1) * (size_t)n;
  ip->transform = malloc(ip->nsimplex * per * sizeof(double));
  ip->degenerate = calloc(ip->nsimplex ? ip->nsimplex : 1, 1);
  double *rc = malloc((ip->nsimplex ? ip->nsimplex : 1) * sizeof(double));
  double *tj = walkgeo ? malloc((ip->nsimplex ? ip->nsimplex : 1) * per * sizeof(double)) : NULL;
  double *rcj = walkgeo ? malloc((ip->nsimplex ? ip->nsimplex : 1) * sizeof(double)) : NULL;
  if (!ip->transform || !ip->degenerate || !rc || (walkgeo && (!tj || !rcj))) {
    free(rc);
    free(tj);
    free(rcj);
    return rvs_error(RVS_ERR_NOMEM, "triangulation: out of memory");
  }
  transforms_from(ip, geo, ip->transform, rc);
  if (walkgeo) transforms_from(ip, walkgeo, tj, rcj);
  size_t ndegen = 0;
  for (size_t s = 0; s < ip->nsimplex; s++) {
    if (rc[s] >= RVS_TRI_RCOND_MIN) continue;
    ip->degenerate[s] = 1;
    ndegen++;
    if (walkgeo) memcpy(ip->transform + s * per, tj + s * per, per * sizeof(double));
    else
      for (size_t k = 0; k < per; k++) ip->transform[s * per + k] = NAN;
  }
  free(rc);
  free(tj);
  free(rcj);
  if (ndegen)
    rvs_log(RVS_LOG_INFO, "triangulation: %zu flat simplices (slivers) flagged", ndegen);
  return RVS_OK;
}

/* ------------------------------------------------------------ neighbours */

typedef struct face_rec {
  uint64_t hash;
  int32_t s, k;
} face_rec;

static int face_cmp(const void *a, const void *b) {
  const face_rec *x = a, *y = b;
  if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
  if (x->s != y->s) return x->s < y->s ? -1 : 1;
  return (x->k > y->k) - (x->k < y->k);
}

static int int32_cmp(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* Sorted vertex ids of the face of simplex s opposite its vertex k. */
static void face_of(const rvs_interp *ip, int32_t s, int32_t k, int32_t *f) {
  int m = 0;
  const int32_t *v = ip->simplices + (size_t)s * (size_t)(ip->ndim + 1);
  for (int i = 0; i <= ip->ndim; i++)
    if (i != k) f[m++] = v[i];
  qsort(f, (size_t)m, sizeof *f, int32_cmp);
}

/* Neighbours from shared faces (independent of Qhull's internal ordering). */
static int compute_neighbors(rvs_interp *ip) {
  int n = ip->ndim;
  size_t nf = ip->nsimplex * (size_t)(n + 1);
  ip->neighbors = malloc(nf * sizeof(int32_t));
  face_rec *rec = malloc((nf ? nf : 1) * sizeof *rec);
  if (!ip->neighbors || !rec) {
    free(rec);
    return rvs_error(RVS_ERR_NOMEM, "triangulation: out of memory");
  }
  for (size_t i = 0; i < nf; i++) ip->neighbors[i] = -1;
  for (size_t s = 0; s < ip->nsimplex; s++)
    for (int k = 0; k <= n; k++) {
      int32_t f[17];
      face_of(ip, (int32_t)s, k, f);
      uint64_t h = 1469598103934665603ULL;
      for (int i = 0; i < n; i++) {
        h ^= (uint64_t)(uint32_t)f[i];
        h *= 1099511628211ULL;
        h ^= h >> 29;
      }
      face_rec r = {h, (int32_t)s, k};
      rec[s * (size_t)(n + 1) + (size_t)k] = r;
    }
  qsort(rec, nf, sizeof *rec, face_cmp);
  size_t nshared3 = 0;
  for (size_t a = 0; a < nf;) {
    size_t b = a + 1;
    while (b < nf && rec[b].hash == rec[a].hash) b++;
    for (size_t i = a; i < b; i++) {
      int32_t fi[17], fj[17];
      face_of(ip, rec[i].s, rec[i].k, fi);
      for (size_t j = i + 1; j < b; j++) {
        face_of(ip, rec[j].s, rec[j].k, fj);
        if (memcmp(fi, fj, (size_t)n * sizeof(int32_t)) != 0) continue;
        int32_t *ni = ip->neighbors + (size_t)rec[i].s * (size_t)(n + 1) + rec[i].k;
        int32_t *nj = ip->neighbors + (size_t)rec[j].s * (size_t)(n + 1) + rec[j].k;
        if (*ni == -1 && *nj == -1) {
          *ni = rec[j].s;
          *nj = rec[i].s;
        } else {
          nshared3++;
        }
      }
    }
    a = b;
  }
  free(rec);
  if (nshared3)
    rvs_log(RVS_LOG_INFO, "triangulation: %zu faces shared by more than two simplices (flat ones)",
            nshared3);
  return RVS_OK;
}

/* ------------------------------------------------------------ location */

/* The smallest barycentric coordinate of x in simplex s. */
static double min_bary(const rvs_interp *ip, int32_t s, const double *x) {
  double b[17];
  rvs_tri_bary(ip, s, x, b);
  double mn = b[0];
  for (int k = 1; k <= ip->ndim; k++)
    if (b[k] < mn) mn = b[k];
  return mn;
}

/* The scans below keep the simplex with the largest min_bary; it is the
 * answer when that is >= -eps_broad (x inside, or a hair outside). */
static int32_t accept_best(const rvs_interp *ip, int32_t best, double bestmin, const double *x,
                           double *bary) {
  if (best < 0 || bestmin < -RVS_TRI_EPS_BROAD) return -1;
  if (bary) rvs_tri_bary(ip, best, x, bary);
  return best;
}

int32_t rvs_tri_find_simplex_bruteforce(const rvs_interp *ip, const double *x,
                                        double *bary) {
  int32_t best = -1;
  double bestmin = -INFINITY;
  for (size_t s = 0; s < ip->nsimplex; s++) {
    if (ip->degenerate[s]) continue;
    double mn = min_bary(ip, (int32_t)s, x);
    if (mn > bestmin) {
      bestmin = mn;
      best = (int32_t)s;
    }
    if (mn >= 0) break; /* strictly inside or on a face: the answer */
  }
  return accept_best(ip, best, bestmin, x, bary);
}

/* Best non-degenerate neighbour of the sliver s holding x (min barycentric
 * >= -eps_broad), or -1. */
static int32_t resolve_sliver(const rvs_interp *ip, const double *x, int32_t s, double *bary) {
  int n = ip->ndim;
  int32_t best = -1;
  double bestmin = -INFINITY;
  for (int k = 0; k <= n; k++) {
    int32_t nb = ip->neighbors[(size_t)s * (size_t)(n + 1) + (size_t)k];
    if (nb < 0 || ip->degenerate[nb]) continue;
    double mn = min_bary(ip, nb, x);
    if (mn > bestmin) {
      bestmin = mn;
      best = nb;
    }
  }
  return accept_best(ip, best, bestmin, x, bary);
}

/* Candidate buckets per dimension: a coarser grid than the walk's start
 * buckets (the simplices next to the corners are large). */
#define RVS_TRI_CAND_GRID 8
static int cand_n(const rvs_interp *ip, int d) {
  return ip->bucket_n[d] < RVS_TRI_CAND_GRID ? ip->bucket_n[d] : RVS_TRI_CAND_GRID;
}

/* Row-major index of x's cell in the grid of min(bucket_n[d], cap) cells per
 * dimension over the box: the walk's start buckets (cap INT_MAX) or the
 * candidate buckets (cap RVS_TRI_CAND_GRID). */
static size_t grid_cell(const rvs_interp *ip, const double *x, int cap) {
  size_t idx = 0;
  for (int d = 0; d < ip->ndim; d++) {
    int g = ip->bucket_n[d] < cap ? ip->bucket_n[d] : cap;
    double span = ip->box_hi[d] - ip->box_lo[d];
    int c = span > 0 ? (int)floor((x[d] - ip->box_lo[d]) / span * g) : 0;
    if (c < 0) c = 0;
    if (c >= g) c = g - 1;
    idx = idx * (size_t)g + (size_t)c;
  }
  return idx;
}

/* Where the walk gives up (among the slivers next to the padded corners,
 * which Qhull makes flat when given upstream's exact corners): the brute
 * force over the simplices that touch a corner and whose bounding box meets
 * x's candidate bucket, then, if none holds x, over every simplex (scipy's
 * fallback).  Same answer as the brute force alone whenever a corner
 * simplex holds x. */
static int32_t find_simplex_candidates(const rvs_interp *ip, const double *x, double *bary) {
  if (!ip->cand_off) return rvs_tri_find_simplex_bruteforce(ip, x, bary);
  size_t b0 = grid_cell(ip, x, RVS_TRI_CAND_GRID);
  int32_t best = -1;
  double bestmin = -INFINITY;
  for (size_t k = ip->cand_off[b0]; k < ip->cand_off[b0 + 1]; k++) {
    double mn = min_bary(ip, ip->cand[k], x);
    if (mn > bestmin) {
      bestmin = mn;
      best = ip->cand[k];
    }
    if (mn >= 0) break;
  }
  int32_t r = accept_best(ip, best, bestmin, x, bary);
  return r >= 0 ? r : rvs_tri_find_simplex_bruteforce(ip, x, bary);
}

/* Candidate lists of the buckets (see cand_off): the non-degenerate
 * simplices with a corner vertex, on a grid of at most 8 buckets per
 * dimension.  The simplex's box comes
 * from the stored vertices, widened by 4x the jitter amplitude (the
 * weights' geometry moves the templates by up to 1e-6) plus 1e-6 of the
 * span. */
static int build_candidates(rvs_interp *ip) {
  int n = ip->ndim;
  free(ip->cand_off);
  free(ip->cand);
  ip->cand_off = NULL;
  ip->cand = NULL;
  size_t nb = 1;
  for (int d = 0; d < n; d++) nb *= (size_t)cand_n(ip, d);
  size_t *off = calloc(nb + 1, sizeof(size_t));
  if (!off) return rvs_error(RVS_ERR_NOMEM, "triangulation: out of memory");
  int32_t *list = NULL;
  /* two passes: count, then fill */
  for (int pass = 0; pass < 2; pass++) {
    for (size_t s = 0; s < ip->nsimplex; s++) {
      if (ip->degenerate[s]) continue;
      const int32_t *v = ip->simplices + s * (size_t)(n + 1);
      int corner = 0;
      for (int k = 0; k <= n; k++) corner |= ip->extraflags[v[k]] != 0;
      if (!corner) continue;
      int lo[17], hi[17];
      for (int d = 0; d < n; d++) {
        double mn = INFINITY, mx = -INFINITY;
        for (int k = 0; k <= n; k++) {
          double c = ip->vec[(size_t)v[k] * (size_t)n + (size_t)d];
          if (c < mn) mn = c;
          if (c > mx) mx = c;
        }
        double span = ip->box_hi[d] - ip->box_lo[d];
        double pad = 4 * RVS_INTERP_JITTER + 1e-6 * span;
        int g = cand_n(ip, d);
        if (span > 0) {
          double a = floor((mn - pad - ip->box_lo[d]) / span * g);
          double z = floor((mx + pad - ip->box_lo[d]) / span * g);
          lo[d] = a < 0 ? 0 : a > g - 1 ? g - 1 : (int)a;
          hi[d] = z < 0 ? 0 : z > g - 1 ? g - 1 : (int)z;
        } else {
          lo[d] = hi[d] = 0;
        }
      }
      int idx[17];
      for (int d = 0; d < n; d++) idx[d] = lo[d];
      for (;;) {
        size_t b = 0;
        for (int d = 0; d < n; d++) b = b * (size_t)cand_n(ip, d) + (size_t)idx[d];
        if (pass == 0) off[b + 1]++;
        else list[off[b]++] = (int32_t)s;
        int d = n - 1;
        while (d >= 0 && idx[d] == hi[d]) {
          idx[d] = lo[d];
          d--;
        }
        if (d < 0) break;
        idx[d]++;
      }
    }
    if (pass == 0) {
      for (size_t b = 0; b < nb; b++) off[b + 1] += off[b];
      list = malloc((off[nb] ? off[nb] : 1) * sizeof(int32_t));
      if (!list) {
        free(off);
        return rvs_error(RVS_ERR_NOMEM, "triangulation: out of memory");
      }
    } else {
      /* off[b] now holds the end of bucket b: shift back to the starts */
      for (size_t b = nb; b > 0; b--) off[b] = off[b - 1];
      off[0] = 0;
    }
  }
  ip->cand_off = off;
  ip->cand = list;
  return RVS_OK;
}

/* Directed walk from `start`: into the neighbour opposite the most negative
 * barycentric coordinate.  A walk that meets a flat simplex (no transform)
 * steps back and leaves through another negative facet; after 64 steps it
 * picks among the negative facets at random (a deterministic generator), so
 * that it cannot cycle among slivers.  Only when no facet leads on (the hull's
 * boundary) or the step limit is reached does it fall back to the brute force,
 * which also accepts points a hair outside the hull (RVS_TRI_EPS_BROAD). */
static int32_t walk_from(const rvs_interp *ip, const double *x, int32_t start,
                         double *bary) {
  int n = ip->ndim;
  int32_t s = start, prev = -1, forbid = -1;
  double b[17];
  uint32_t rng = 2463534242u;
  /* a walk that has not arrived by then is lost among slivers (next to the
   * padded corners): the bucket's candidates settle it */
  size_t maxsteps = 64 + 4 * ip->nsimplex;
  if (maxsteps > 256) maxsteps = 256;
  for (size_t step = 0; step < maxsteps && s >= 0; step++) {
    const double *T = ip->transform + (size_t)s * (size_t)(n + 1) * (size_t)n;
    if (isnan(T[0])) {
      if (prev < 0) break;
      forbid = s; /* back to where we came from; leave another way */
      s = prev;
      prev = -1;
      continue;
    }
    rvs_tri_bary(ip, s, x, b);
    const int32_t *nbr = ip->neighbors + (size_t)s * (size_t)(n + 1);
    int kmin = 0;
    for (int k = 1; k <= n; k++)
      if (b[k] < b[kmin]) kmin = k;
    if (b[kmin] >= -RVS_TRI_EPS) {
      if (!ip->degenerate[s]) {
        if (bary) memcpy(bary, b, (size_t)(n + 1) * sizeof(double));
        return s;
      }
      int32_t r = resolve_sliver(ip, x, s, bary);
      if (r >= 0) return r;
      break;
    }
    /* the facets that lead on: negative coordinate, a neighbour, not forbidden */
    int cand[17], nc = 0, kbest = -1;
    for (int k = 0; k <= n; k++) {
      if (!(b[k] < -RVS_TRI_EPS) || nbr[k] < 0 || nbr[k] == forbid) continue;
      cand[nc++] = k;
      if (kbest < 0 || b[k] < b[kbest]) kbest = k;
    }
    if (nc == 0) break;
    int k = kbest;
    if (step >= 64) {
      rng ^= rng << 13;
      rng ^= rng >> 17;
      rng ^= rng << 5;
      k = cand[rng % (uint32_t)nc];
    }
    prev = s;
    forbid = -1;
    s = nbr[k];
  }
  return find_simplex_candidates(ip, x, bary);
}

int32_t rvs_tri_find_simplex(const rvs_interp *ip, const double *x, double *bary) {
  int n = ip->ndim;
  for (int d = 0; d < n; d++) {
    if (!isfinite(x[d])) return -1;
    double tol = 1e-10 * (ip->box_hi[d] - ip->box_lo[d]);
    if (x[d] < ip->box_lo[d] - tol || x[d] > ip->box_hi[d] + tol) return -1;
  }
  if (ip->nsimplex == 0) return -1;
  int32_t start = ip->bucket_start ? ip->bucket_start[grid_cell(ip, x, INT_MAX)] : 0;
  return walk_from(ip, x, start, bary);
}

int rvs_tri_build_buckets(rvs_interp *ip) {
  int n = ip->ndim;
  free(ip->bucket_n);
  free(ip->bucket_start);
  ip->bucket_start = NULL;
  ip->bucket_n = malloc((size_t)n * sizeof(int));
  if (!ip->bucket_n) return rvs_error(RVS_ERR_NOMEM, "triangulation: out of memory");
  /* About one bucket per simplex, at most 2^20 in all. */
  double target = (double)ip->nsimplex;
  if (target > (double)(1 << 20)) target = (double)(1 << 20);
  int g = (int)floor(pow(target, 1.0 / n));
  if (g < 1) g = 1;
  if (g > 256) g = 256;
  size_t nb = 1;
  for (int d = 0; d < n; d++) {
    ip->bucket_n[d] = ip->box_hi[d] > ip->box_lo[d] ? g : 1;
    nb *= (size_t)ip->bucket_n[d];
  }
  ip->nbucket = nb;
  int st = build_candidates(ip);
  if (st) return st;
  int32_t *start = malloc(nb * sizeof(int32_t));
  if (!start) return rvs_error(RVS_ERR_NOMEM, "triangulation: out of memory");
  /* Row-major order: consecutive buckets are close, so each walk is short. */
  int32_t prev = 0;
  int idx[17] = {0};
  double x[17];
  for (size_t b = 0; b < nb; b++) {
    size_t rem = b;
    for (int d = n - 1; d >= 0; d--) {
      idx[d] = (int)(rem % (size_t)ip->bucket_n[d]);
      rem /= (size_t)ip->bucket_n[d];
    }
    for (int d = 0; d < n; d++)
      x[d] = ip->box_lo[d] +
             (idx[d] + 0.5) * (ip->box_hi[d] - ip->box_lo[d]) / ip->bucket_n[d];
    int32_t s = ip->nsimplex ? walk_from(ip, x, prev, NULL) : -1;
    if (s < 0) s = prev;
    start[b] = s;
    prev = s;
  }
  ip->bucket_start = start;
  return RVS_OK;
}

/* Box = bounding box of all vertices (the padded corners). */
int rvs_tri_setup_runtime(rvs_interp *ip) {
  int n = ip->ndim;
  free(ip->box_lo);
  free(ip->box_hi);
  ip->box_lo = malloc((size_t)n * sizeof(double));
  ip->box_hi = malloc((size_t)n * sizeof(double));
  if (!ip->box_lo || !ip->box_hi) return rvs_error(RVS_ERR_NOMEM, "triangulation: out of memory");
  for (int d = 0; d < n; d++) {
    ip->box_lo[d] = INFINITY;
    ip->box_hi[d] = -INFINITY;
  }
  for (size_t i = 0; i < ip->nvert; i++)
    for (int d = 0; d < n; d++) {
      double v = ip->vec[i * (size_t)n + (size_t)d];
      if (v < ip->box_lo[d]) ip->box_lo[d] = v;
      if (v > ip->box_hi[d]) ip->box_hi[d] = v;
    }
  int st = RVS_OK;
  if (!ip->transform) st = compute_transforms(ip, ip->vec, NULL);
  if (!st && !ip->neighbors) st = compute_neighbors(ip);
  if (!st) st = rvs_tri_build_buckets(ip);
  return st;
}

int rvs_tri_locate_mapped(const rvs_interp *ip, const double *x, int *vert, double *w,
                          int *nw, double *outside) {
  double b[17];
  int32_t s = rvs_tri_find_simplex(ip, x, b);
  if (s < 0) {
    *nw = 0;
    *outside = NAN;
    return RVS_ERR_RANGE;
  }
  int n = ip->ndim;
  const int32_t *v = ip->simplices + (size_t)s * (size_t)(n + 1);
  double out = 0;
  for (int k = 0; k <= n; k++) {
    vert[k] = v[k];
    w[k] = b[k];
    out += b[k] * ip->extraflags[v[k]];
  }
  *nw = n + 1;
  *outside = out;
  return RVS_OK;
}

/* ------------------------------------------------------------ build */

static int run_qhull(rvs_interp *ip, const double *coords) {
  int n = ip->ndim;
  char cmd[64];
  snprintf(cmd, sizeof cmd, "qhull d Qt Qbb Qc Qz Q12%s", n > 4 ? " Qx" : "");
  char *errbuf = NULL;
  size_t errlen = 0;
  FILE *errf = open_memstream(&errbuf, &errlen);
  if (!errf) return rvs_error(RVS_ERR_NOMEM, "triangulation: cannot open message stream");
  coordT *pts = malloc(ip->nvert * (size_t)n * sizeof(coordT));
  if (!pts) {
    fclose(errf);
    free(errbuf);
    return rvs_error(RVS_ERR_NOMEM, "triangulation: out of memory");
  }
  for (size_t i = 0; i < ip->nvert * (size_t)n; i++) pts[i] = coords[i];
  qhT qh_qh;
  qhT *qh = &qh_qh;
  QHULL_LIB_CHECK
  qh_zero(qh, errf);
  int exitcode = qh_new_qhull(qh, n, (int)ip->nvert, pts, False, cmd, NULL, errf);
  int st = RVS_OK;
  if (exitcode) {
    fflush(errf);
    char first[200] = "";
    if (errbuf) {
      const char *p = errbuf;
      while (*p == '\n') p++;
      snprintf(first, sizeof first, "%s", p);
      char *nl = strchr(first, '\n');
      if (nl) *nl = 0;
    }
    st = rvs_error(RVS_ERR_NUMERIC, "triangulation: Qhull failed (code %d): %s", exitcode,
                   first);
  } else {
    facetT *facet;
    vertexT *vertex, **vertexp;
    size_t count = 0;
    FORALLfacets {
      if (!facet->upperdelaunay) count++;
    }
    ip->simplices = malloc((count ? count : 1) * (size_t)(n + 1) * sizeof(int32_t));
    if (!ip->simplices) {
      st = rvs_error(RVS_ERR_NOMEM, "triangulation: out of memory");
    } else {
      size_t s = 0;
      FORALLfacets {
        if (facet->upperdelaunay) continue;
        if (qh_setsize(qh, facet->vertices) != n + 1) {
          st = rvs_error(RVS_ERR_NUMERIC, "triangulation: non-simplicial facet from Qhull");
          break;
        }
        int k = 0;
        FOREACHvertex_(facet->vertices) {
          int id = qh_pointid(qh, vertex->point);
          if (id < 0 || (size_t)id >= ip->nvert) {
            st = rvs_error(RVS_ERR_NUMERIC, "triangulation: bad vertex id %d from Qhull", id);
            break;
          }
          ip->simplices[s * (size_t)(n + 1) + (size_t)k++] = id;
        }
        if (st) break;
        s++;
      }
      ip->nsimplex = s;
    }
  }
  int curlong, totlong;
  qh_freeqhull(qh, !qh_ALL);
  qh_memfreeshort(qh, &curlong, &totlong);
  fclose(errf);
  free(errbuf);
  free(pts);
  if (!st && ip->nsimplex == 0)
    st = rvs_error(RVS_ERR_NUMERIC, "triangulation: Qhull returned no simplices");
  return st;
}

int rvs_interp_build_tri(const rvs_specs *s, rvs_interp **out) {
  return rvs_interp_build_tri_ex(s, RVS_TRI_WEIGHTS_UPSTREAM, out);
}

int rvs_interp_build_tri_ex(const rvs_specs *s, rvs_tri_weights weights, rvs_interp **out) {
  *out = NULL;
  if (!s || s->nparam < 1 || s->nparam > 8)
    return rvs_error(RVS_ERR_ARG, "triangulation: needs 1 to 8 parameters");
  if (weights != RVS_TRI_WEIGHTS_UPSTREAM && weights != RVS_TRI_WEIGHTS_EXACT)
    return rvs_error(RVS_ERR_ARG, "triangulation: unknown weights mode %d", (int)weights);
  int n = (int)s->nparam;
  size_t nreal = s->nspec, ncorner = (size_t)1 << n;
  int st;
  double *jittered = NULL, *jit = NULL, *geo = NULL, *walkgeo = NULL;
  rvs_interp *ip = rvs_interp_alloc_common(s, nreal + ncorner, &st);
  if (!ip) return st;
  ip->kind = RVS_INTERP_TRIANGULATION;
  ip->extraflags = calloc(ip->nvert, sizeof(double));
  /* jittered: the Qhull input; geo: the geometry of the weights */
  jittered = malloc(ip->nvert * (size_t)n * sizeof(double));
  geo = malloc(ip->nvert * (size_t)n * sizeof(double));
  walkgeo = malloc(ip->nvert * (size_t)n * sizeof(double));
  jit = calloc(ip->nvert * (size_t)n, sizeof(double));
  if (!ip->extraflags || !jittered || !geo || !walkgeo || !jit) {
    st = rvs_error(RVS_ERR_NOMEM, "triangulation: out of memory");
    goto fail;
  }
  /* Mapped parameters, row-major [point][dim]. */
  for (size_t i = 0; i < nreal; i++)
    for (int d = 0; d < n; d++) {
      double raw = s->vec[(size_t)d * nreal + i];
      double v = ip->is_log[d] ? log10(raw) : raw;
      if (!isfinite(v)) {
        st = rvs_error(RVS_ERR_ARG, "triangulation: template %zu: parameter %s = %g is not "
                       "finite after mapping", i, ip->parnames[d], raw);
        goto fail;
      }
      ip->vec[i * (size_t)n + (size_t)d] = v;
    }
  /* Upstream's jitter of the templates (stream drawn in upstream's (dim,
   * point) order); the stream continues into the corners' jitter below. */
  rvs_tri_jitter(jit, ip->nvert * (size_t)n, RVS_INTERP_JITTER, RVS_INTERP_JITTER_SEED);
  for (size_t i = 0; i < nreal; i++)
    for (int d = 0; d < n; d++)
      jittered[i * (size_t)n + (size_t)d] =
          ip->vec[i * (size_t)n + (size_t)d] + jit[(size_t)d * nreal + i];
  /* The box around the templates (upstream: around the jittered ones),
   * padded by 20% of the span. */
  const double *boxsrc = weights == RVS_TRI_WEIGHTS_UPSTREAM ? jittered : ip->vec;
  double lo[8], hi[8];
  for (int d = 0; d < n; d++) {
    lo[d] = INFINITY;
    hi[d] = -INFINITY;
    for (size_t i = 0; i < nreal; i++) {
      double v = boxsrc[i * (size_t)n + (size_t)d];
      if (v < lo[d]) lo[d] = v;
      if (v > hi[d]) hi[d] = v;
    }
    if (!(hi[d] > lo[d]) || !(hi[d] - lo[d] > 10 * RVS_INTERP_JITTER)) {
      st = rvs_error(RVS_ERR_ARG, "triangulation: parameter %s is constant over the grid; "
                     "a Delaunay triangulation needs a spread in every parameter (drop it, "
                     "or use the regular-grid interpolator)", ip->parnames[d]);
      goto fail;
    }
  }
  for (int d = 0; d < n; d++) {
    double span = hi[d] - lo[d];
    lo[d] -= RVS_INTERP_BOX_PAD * span;
    hi[d] += RVS_INTERP_BOX_PAD * span;
  }
  for (size_t i = 0; i < nreal; i++) {
    st = rvs_interp_store_specs(ip, i, s->specs + i * s->npix);
    if (st) goto fail;
  }
  for (size_t c = 0; c < ncorner; c++) {
    double *cv = ip->vec + (nreal + c) * (size_t)n;
    for (int d = 0; d < n; d++) cv[d] = (c >> d) & 1 ? hi[d] : lo[d];
    size_t best = 0;
    double bestd = INFINITY;
    for (size_t i = 0; i < nreal; i++) { /* nearest in mapped, unscaled space */
      double d2 = 0;
      for (int d = 0; d < n; d++) {
        double t = boxsrc[i * (size_t)n + (size_t)d] - cv[d];
        d2 += t * t;
      }
      if (d2 < bestd) {
        bestd = d2;
        best = i;
      }
    }
    st = rvs_interp_store_specs(ip, nreal + c, s->specs + best * s->npix);
    if (st) goto fail;
    ip->extraflags[nreal + c] = 1.0;
  }
  /* The corners in the Qhull input: upstream's exact ones (its simplices
   * next to the box, hence the corner spectra a point outside the hull
   * mixes, are then upstream's), or, in exact mode, jittered too (the stream
   * continues, scaled by the span).  walkgeo always has the jittered
   * corners: exact corners give Qhull simplices that are flat even in the
   * jittered geometry; they are flagged degenerate and walked through with
   * their transform in walkgeo (without it the walk stalls on them and falls
   * back to brute force: 140 us instead of 1 us per point, 12,000 templates). */
  for (int d = 0; d < n; d++) {
    double span = (hi[d] - lo[d]) / (1 + 2 * RVS_INTERP_BOX_PAD);
    for (size_t c = 0; c < ncorner; c++) {
      size_t k = (nreal + c) * (size_t)n + (size_t)d;
      walkgeo[k] = ip->vec[k] + span * jit[nreal * (size_t)n + c * (size_t)n + (size_t)d];
      jittered[k] = weights == RVS_TRI_WEIGHTS_EXACT ? walkgeo[k] : ip->vec[k];
    }
  }
  memcpy(walkgeo, jittered, nreal * (size_t)n * sizeof(double));
  if (weights == RVS_TRI_WEIGHTS_UPSTREAM) {
    memcpy(geo, jittered, nreal * (size_t)n * sizeof(double));
    memcpy(geo + nreal * (size_t)n, ip->vec + nreal * (size_t)n,
           ncorner * (size_t)n * sizeof(double));
  } else {
    memcpy(geo, ip->vec, ip->nvert * (size_t)n * sizeof(double));
  }
  free(jit);
  jit = NULL;
  st = run_qhull(ip, jittered);
  if (!st) st = compute_transforms(ip, geo, walkgeo);
  if (!st) st = rvs_tri_setup_runtime(ip);
  if (st) goto fail;
  free(jittered);
  free(geo);
  free(walkgeo);
  rvs_log(RVS_LOG_INFO, "triangulation: %zu templates + %zu corners, %zu simplices", nreal,
          ncorner, ip->nsimplex);
  *out = ip;
  return RVS_OK;
fail:
  free(jittered);
  free(geo);
  free(walkgeo);
  free(jit);
  rvs_interp_free(ip);
  return st;
}
