/* Robust spline continuum (see continuum_fit.h).
 *
 * Upstream fits the node values p of a FITPACK interpolating quadratic spline
 * (UnivariateSpline(nodes, p, k=2, s=0)) with scipy's TRF.  The map from node
 * values to B-spline coefficients c is linear and invertible, so we fit c
 * directly: the normal matrix is then banded (half-bandwidth 2) and each
 * iteration costs O(n).  The optimiser is Levenberg-Marquardt on the
 * Gauss-Newton model of the soft-L1 cost (gradient weights rho'(r^2) =
 * (1+r^2)^(-1/2), curvature weights rho' + 2 r^2 rho'' = (1+r^2)^(-3/2), as
 * scipy scales robust losses); a step is accepted only if it lowers the true
 * robust cost, and the fixed points are the stationary points of that cost,
 * i.e. the optimum scipy converges to. */
#include "templates/continuum_fit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rvs/status.h"

#define SPEED_OF_LIGHT_KMS 3e5 /* upstream's value */
#define CLIP_LN 100.0

static int dcmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double rvs_median(const double *x, size_t n, double *scratch) {
  if (n == 0) return NAN;
  memcpy(scratch, x, n * sizeof(double));
  qsort(scratch, n, sizeof(double), dcmp);
  if (n % 2) return scratch[n / 2];
  return 0.5 * (scratch[n / 2 - 1] + scratch[n / 2]);
}

/* FITPACK knots of the interpolating spline of degree k through x[0..m-1]
 * (fpcurf with s = 0): k+1 fold end knots; interior knots at the data for odd
 * k, at midpoints for even k.  Returns the knot count m+k+1. */
static int interp_knots(const double *x, int m, int k, double *t) {
  int nt = 0;
  for (int i = 0; i <= k; i++) t[nt++] = x[0];
  int k3 = k / 2;
  for (int l = 0; l < m - k - 1; l++) {
    int j = k3 + 1 + l; /* 0-based index of FITPACK's x(k3+2+l) */
    t[nt++] = (k % 2) ? x[j] : 0.5 * (x[j] + x[j - 1]);
  }
  for (int i = 0; i <= k; i++) t[nt++] = x[m - 1];
  return nt;
}

/* The k+1 non-zero B-splines of degree k at x (Cox-de Boor); returns the
 * index of the first one.  Outside [t[k], t[nc]] the end polynomial pieces
 * are continued (FITPACK's extrapolation, ext=0). */
static int bspline_basis(const double *t, int nc, int k, double x, double *b) {
  int l = k;
  while (l < nc - 1 && x >= t[l + 1]) l++;
  /* l in [k, nc-1]: t[l] <= x < t[l+1] (clamped at the ends) */
  double left[4], right[4];
  b[0] = 1;
  for (int j = 1; j <= k; j++) {
    left[j] = x - t[l + 1 - j];
    right[j] = t[l + j] - x;
    double saved = 0;
    for (int r = 0; r < j; r++) {
      double den = right[r + 1] + left[j - r];
      double tmp = den != 0 ? b[r] / den : 0;
      b[r] = saved + right[r + 1] * tmp;
      saved = left[j - r] * tmp;
    }
    b[j] = saved;
  }
  return l - k;
}

/* Banded symmetric positive definite solve, half-bandwidth h: a[i*(h+1)+d]
 * holds A[i][i-d].  Cholesky in place; returns 0, or -1 if not positive. */
static int band_cholesky_solve(int n, int h, double *a, double *rhs) {
  int w = h + 1;
  for (int i = 0; i < n; i++) {
    for (int d = h; d >= 0; d--) {
      int j = i - d;
      if (j < 0) continue;
      double s = a[i * w + d];
      for (int e = 1; e <= h; e++) {
        /* L[i][j-e] * L[j][j-e] */
        int kcol = j - e;
        if (kcol < 0 || i - kcol > h) continue;
        s -= a[i * w + (i - kcol)] * a[j * w + e];
      }
      if (d == 0) {
        if (!(s > 0)) return -1;
        a[i * w] = sqrt(s);
      } else {
        a[i * w + d] = s / a[j * w];
      }
    }
  }
  for (int i = 0; i < n; i++) { /* L y = b */
    double s = rhs[i];
    for (int d = 1; d <= h && i - d >= 0; d++) s -= a[i * w + d] * rhs[i - d];
    rhs[i] = s / a[i * w];
  }
  for (int i = n - 1; i >= 0; i--) { /* L^T x = y */
    double s = rhs[i];
    for (int d = 1; d <= h && i + d < n; d++) s -= a[(i + d) * w + d] * rhs[i + d];
    rhs[i] = s / a[i * w];
  }
  return 0;
}

/* Solve the collocation system A c = p with A[i][j] = B_j(x_i): banded, and
 * totally positive, so elimination without pivoting is stable (de Boor). */
static int collocation_solve(const double *t, int nc, int k, const double *x, double *p) {
  int h = k + 1, w = 2 * h + 1;
  double *a = calloc((size_t)nc * (size_t)w, sizeof(double));
  if (!a) return -2;
  for (int i = 0; i < nc; i++) {
    double b[4];
    int j0 = bspline_basis(t, nc, k, x[i], b);
    for (int r = 0; r <= k; r++) {
      int j = j0 + r;
      if (j - i >= -h && j - i <= h) a[i * w + (j - i + h)] = b[r];
    }
  }
  int rc = 0;
  for (int c = 0; c < nc && !rc; c++) {
    double piv = a[c * w + h];
    if (piv == 0) {
      rc = -1;
      break;
    }
    for (int i = c + 1; i <= c + h && i < nc; i++) {
      double f = a[i * w + (c - i + h)] / piv;
      if (f == 0) continue;
      for (int j = c; j <= c + h && j < nc; j++) a[i * w + (j - i + h)] -= f * a[c * w + (j - c + h)];
      p[i] -= f * p[c];
    }
  }
  for (int i = nc - 1; i >= 0 && !rc; i--) {
    double s = p[i];
    for (int j = i + 1; j <= i + h && j < nc; j++) s -= a[i * w + (j - i + h)] * p[j];
    p[i] = s / a[i * w + h];
  }
  free(a);
  return rc;
}

typedef struct fit_ctx {
  size_t n;
  int nc, k;
  const double *spec, *espec;
  const int *first;   /* [n] first non-zero basis index */
  const double *bval; /* [n][k+1] basis values */
} fit_ctx;

static double model_ln(const fit_ctx *fc, const double *c, size_t i) {
  double s = 0;
  for (int r = 0; r <= fc->k; r++) s += c[fc->first[i] + r] * fc->bval[i * (size_t)(fc->k + 1) + (size_t)r];
  return s;
}

static double robust_cost(const fit_ctx *fc, const double *c) {
  double cost = 0;
  for (size_t i = 0; i < fc->n; i++) {
    double s = model_ln(fc, c, i);
    if (s > CLIP_LN) s = CLIP_LN;
    if (s < -CLIP_LN) s = -CLIP_LN;
    double r = (exp(s) - fc->spec[i]) / fc->espec[i];
    cost += sqrt(1 + r * r) - 1; /* 0.5 * 2(sqrt(1+z)-1) */
  }
  return cost;
}

int rvs_get_continuum(const double *lam, const double *spec, const double *espec, size_t n,
                      double splinestep_kms, double *cont, rvs_continuum_info *info) {
  if (!lam || !spec || !espec || !cont || n < 1)
    return rvs_error(RVS_ERR_ARG, "get_continuum: empty input");
  if (!(splinestep_kms > 0))
    return rvs_error(RVS_ERR_ARG, "get_continuum: spline step %g km/s must be > 0",
                     splinestep_kms);
  double lmin = INFINITY, lmax = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    if (!(lam[i] > 0) || !isfinite(lam[i]) || !isfinite(spec[i]) || !(espec[i] > 0))
      return rvs_error(RVS_ERR_ARG, "get_continuum: pixel %zu: bad wavelength, flux or "
                       "error", i);
    if (lam[i] < lmin) lmin = lam[i];
    if (lam[i] > lmax) lmax = lam[i];
  }
  double q = log(1 + splinestep_kms / SPEED_OF_LIGHT_KMS);
  int m = (int)ceil(log(lmax / lmin) / q);
  if (m < 1) m = 1;
  int k = m >= 3 ? 2 : m - 1;
  int st = RVS_OK;
  double *nodes = malloc((size_t)m * sizeof(double));
  double *edges = malloc((size_t)(m + 1) * sizeof(double));
  double *p = malloc((size_t)m * sizeof(double));
  double *t = malloc((size_t)(m + k + 1) * sizeof(double));
  double *scratch = malloc(n * sizeof(double));
  double *binvals = malloc(n * sizeof(double));
  int *bin = malloc(n * sizeof(int));
  size_t *bincount = calloc((size_t)m + 1, sizeof(size_t));
  int *first = malloc(n * sizeof(int));
  double *bval = malloc(n * (size_t)(k + 1) * sizeof(double));
  int hb = k; /* half-bandwidth of the normal matrix */
  double *c = malloc((size_t)m * sizeof(double));
  double *ctry = malloc((size_t)m * sizeof(double));
  double *g = malloc((size_t)m * sizeof(double));
  double *H = malloc((size_t)m * (size_t)(hb + 1) * sizeof(double));
  double *A = malloc((size_t)m * (size_t)(hb + 1) * sizeof(double));
  if (!nodes || !edges || !p || !t || !scratch || !binvals || !bin || !bincount || !first ||
      !bval || !c || !ctry || !g || !H || !A) {
    st = rvs_error(RVS_ERR_NOMEM, "get_continuum: out of memory");
    goto done;
  }
  for (int i = 0; i < m; i++) nodes[i] = lmin * exp(i * q);
  for (int i = 0; i <= m; i++) edges[i] = lmin * exp((-0.5 + i) * q);
  double med = rvs_median(spec, n, scratch);
  if (med <= 0) {
    med = fabs(med);
    if (med == 0) med = 1;
  }
  /* Binned medians as scipy.stats.binned_statistic: [e_i, e_i+1), the last
   * bin closed; points beyond the edges ignored. */
  for (size_t i = 0; i < n; i++) {
    double x = lam[i];
    int b = -1;
    if (x >= edges[0] && x <= edges[m]) {
      int lo = 0, hi = m; /* largest b with edges[b] <= x */
      while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (edges[mid] <= x)
          lo = mid;
        else
          hi = mid;
      }
      b = lo;
      if (b >= m) b = m - 1;
    }
    bin[i] = b;
    if (b >= 0) bincount[b + 1]++;
  }
  for (int b = 0; b < m; b++) bincount[b + 1] += bincount[b];
  {
    size_t *fill = malloc((size_t)m * sizeof(size_t));
    if (!fill) {
      st = rvs_error(RVS_ERR_NOMEM, "get_continuum: out of memory");
      goto done;
    }
    memcpy(fill, bincount, (size_t)m * sizeof(size_t));
    for (size_t i = 0; i < n; i++)
      if (bin[i] >= 0) binvals[fill[bin[i]]++] = spec[i];
    free(fill);
  }
  for (int b = 0; b < m; b++) {
    size_t cnt = bincount[b + 1] - bincount[b];
    if (cnt == 0) {
      p[b] = log(med);
    } else {
      double bm = rvs_median(binvals + bincount[b], cnt, scratch);
      p[b] = log(bm > 1e-3 * med ? bm : 1e-3 * med);
    }
  }
  int nt = interp_knots(nodes, m, k, t);
  (void)nt;
  memcpy(c, p, (size_t)m * sizeof(double));
  if (k > 0) {
    int rc = collocation_solve(t, m, k, nodes, c);
    if (rc == -2) {
      st = rvs_error(RVS_ERR_NOMEM, "get_continuum: out of memory");
      goto done;
    }
    if (rc) {
      st = rvs_error(RVS_ERR_NUMERIC, "get_continuum: singular spline collocation matrix");
      goto done;
    }
  }
  for (size_t i = 0; i < n; i++) first[i] = bspline_basis(t, m, k, lam[i], bval + i * (size_t)(k + 1));
  fit_ctx fc = {n, m, k, spec, espec, first, bval};
  double cost = robust_cost(&fc, c), cost0 = cost;
  double mu = 1.0;
  int iter = 0;
  for (int outer = 0; outer < 500; outer++) {
    memset(H, 0, (size_t)m * (size_t)(hb + 1) * sizeof(double));
    memset(g, 0, (size_t)m * sizeof(double));
    for (size_t i = 0; i < n; i++) {
      double s = model_ln(&fc, c, i);
      int clipped = s > CLIP_LN || s < -CLIP_LN;
      if (s > CLIP_LN) s = CLIP_LN;
      if (s < -CLIP_LN) s = -CLIP_LN;
      double e = exp(s);
      double r = (e - spec[i]) / espec[i];
      if (clipped) continue; /* zero Jacobian */
      /* gradient weight rho'(r^2); curvature weight rho' + 2 r^2 rho'' =
       * (1+r^2)^(-3/2) (scipy's robust-loss Gauss-Newton scaling) */
      double wgt = 1 / sqrt(1 + r * r);
      double hw = wgt * wgt * wgt;
      double dr = e / espec[i];
      const double *bv = bval + i * (size_t)(k + 1);
      int j0 = first[i];
      for (int a = 0; a <= k; a++) {
        double ja = dr * bv[a];
        g[j0 + a] += wgt * r * ja;
        for (int b = 0; b <= a; b++) H[(j0 + a) * (hb + 1) + (a - b)] += hw * ja * dr * bv[b];
      }
    }
    double dmax = 0, gmax = 0;
    for (int j = 0; j < m; j++) {
      if (H[j * (hb + 1)] > dmax) dmax = H[j * (hb + 1)];
      if (fabs(g[j]) > gmax) gmax = fabs(g[j]);
    }
    if (dmax == 0 || gmax == 0) break;
    int accepted = 0;
    double newcost = cost, stepmax = 0, cmax = 0;
    for (int tries = 0; tries < 60; tries++) {
      memcpy(A, H, (size_t)m * (size_t)(hb + 1) * sizeof(double));
      for (int j = 0; j < m; j++) {
        double dj = H[j * (hb + 1)];
        if (dj < 1e-12 * dmax) dj = 1e-12 * dmax;
        A[j * (hb + 1)] += mu * dj;
        ctry[j] = -g[j];
      }
      if (band_cholesky_solve(m, hb, A, ctry) != 0) {
        mu *= 10;
        continue;
      }
      stepmax = 0;
      cmax = 0;
      for (int j = 0; j < m; j++) {
        if (fabs(ctry[j]) > stepmax) stepmax = fabs(ctry[j]);
        if (fabs(c[j]) > cmax) cmax = fabs(c[j]);
        ctry[j] += c[j];
      }
      newcost = robust_cost(&fc, ctry);
      if (newcost <= cost) {
        accepted = 1;
        break;
      }
      mu *= 4;
      if (stepmax < 1e-15 * (1 + cmax)) break;
    }
    if (!accepted) break;
    double dcost = cost - newcost;
    memcpy(c, ctry, (size_t)m * sizeof(double));
    cost = newcost;
    iter++;
    mu = mu / 3 > 1e-12 ? mu / 3 : 1e-12;
    if (dcost <= 1e-13 * cost && stepmax <= 1e-9 * (1 + cmax)) break;
    if (stepmax <= 1e-12 * (1 + cmax)) break;
  }
  for (size_t i = 0; i < n; i++) {
    double s = model_ln(&fc, c, i);
    if (s > CLIP_LN) s = CLIP_LN;
    if (s < -CLIP_LN) s = -CLIP_LN;
    cont[i] = exp(s);
  }
  if (!isfinite(cost)) st = rvs_error(RVS_ERR_NUMERIC, "get_continuum: fit diverged");
  if (info) {
    info->nnodes = m;
    info->iterations = iter;
    info->cost = cost;
    info->cost0 = cost0;
  }
done:
  free(nodes);
  free(edges);
  free(p);
  free(t);
  free(scratch);
  free(binvals);
  free(bin);
  free(bincount);
  free(first);
  free(bval);
  free(c);
  free(ctry);
  free(g);
  free(H);
  free(A);
  return st;
}
