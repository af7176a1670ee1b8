/* Banded resolution matrices: Gaussian (upstream construct_resol_mat) and
 * DESI 11-diagonal data with the template-LSF deconvolution (upstream
 * desi_fit.construct_resolution_sparse_matrix).  See resolution.h. */
#include "core/resolution.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/linalg.h"
#include "core/simd.h"
#include "rvs/status.h"

int rvs_banded_alloc(rvs_banded *b, size_t n, int nd) {
  if (!b) return rvs_error(RVS_ERR_ARG, "rvs_banded_alloc: NULL matrix");
  b->n = 0;
  b->nd = 0;
  b->half = 0;
  b->w = NULL;
  if (n == 0 || nd < 1 || nd % 2 == 0)
    return rvs_error(RVS_ERR_ARG, "rvs_banded_alloc: bad size n=%zu nd=%d (nd must be odd)",
                     n, nd);
  b->w = calloc(n * (size_t)nd, sizeof(double));
  if (!b->w)
    return rvs_error(RVS_ERR_NOMEM, "rvs_banded_alloc: out of memory (%zu x %d)", n, nd);
  b->n = n;
  b->nd = nd;
  b->half = (nd - 1) / 2;
  return RVS_OK;
}

void rvs_banded_free(rvs_banded *b) {
  if (!b) return;
  free(b->w);
  b->w = NULL;
  b->n = 0;
  b->nd = 0;
  b->half = 0;
}

void rvs_banded_apply(const rvs_banded *R, const double *in, double *out) {
  const size_t n = R->n;
  const int nd = R->nd, half = R->half;
  /* rows whose whole band lies inside 0..n-1 need no bounds checks */
  size_t lo = (size_t)half < n ? (size_t)half : n;
  size_t hi = n >= (size_t)half ? n - (size_t)half : 0; /* first row past the interior */
  if (hi < lo) hi = lo;
  for (size_t i = 0; i < n; i++) {
    const double *w = R->w + i * (size_t)nd;
    double s = 0.0;
    if (i >= lo && i < hi) {
      const double *x = in + (i - (size_t)half);
      for (int m = 0; m < nd; m++) s += w[m] * x[m];
    } else {
      for (int m = 0; m < nd; m++) {
        long c = (long)i + m - half;
        if (c >= 0 && (size_t)c < n) s += w[m] * in[c];
      }
    }
    out[i] = s;
  }
}

double *rvs_banded_diag_alloc(const rvs_banded *R) {
  const size_t n = R->n, nd = (size_t)R->nd;
  size_t cnt = n * nd > 0 ? n * nd : 1;
  double *wt = malloc(sizeof(double) * cnt);
  if (!wt) return NULL;
  for (size_t i = 0; i < n; i++)
    for (size_t m = 0; m < nd; m++) wt[m * n + i] = R->w[i * nd + m];
  return wt;
}

/* Rows [lo, hi) whose band lies inside 0..n-1, four at a time: lane q of
 * s is row i + q, summed over m = 0..nd-1 from 0.0 as rvs_banded_apply. */
RVS_CLONES static void apply_diag_interior(const double *wt, size_t n, int nd, int half,
                                           const double *in, double *out, size_t lo,
                                           size_t hi) {
  size_t i = lo;
  for (; i + 4 <= hi; i += 4) {
    v4d s = {0.0, 0.0, 0.0, 0.0};
    const double *x = in + (i - (size_t)half);
    for (int m = 0; m < nd; m++) s += ld4(wt + (size_t)m * n + i) * ld4(x + m);
    st4(out + i, s);
  }
  for (; i < hi; i++) {
    double s = 0.0;
    const double *x = in + (i - (size_t)half);
    for (int m = 0; m < nd; m++) s += wt[(size_t)m * n + i] * x[m];
    out[i] = s;
  }
}

void rvs_banded_apply_diag(const rvs_banded *R, const double *wt, const double *in,
                           double *out) {
  const size_t n = R->n;
  const int nd = R->nd, half = R->half;
  size_t lo = (size_t)half < n ? (size_t)half : n;
  size_t hi = n >= (size_t)half ? n - (size_t)half : 0;
  if (hi < lo) hi = lo;
  for (size_t i = 0; i < n; i++) {
    if (i == lo && hi > lo) {
      apply_diag_interior(wt, n, nd, half, in, out, lo, hi);
      i = hi - 1;
      continue;
    }
    double s = 0.0;
    for (int m = 0; m < nd; m++) {
      long c = (long)i + m - half;
      if (c >= 0 && (size_t)c < n) s += wt[(size_t)m * n + i] * in[c];
    }
    out[i] = s;
  }
}

/* numpy.searchsorted(a, v, 'left'): number of elements < v */
static size_t search_left(const double *a, size_t n, double v) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (a[mid] < v)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* numpy.searchsorted(a, v, 'right'): number of elements <= v */
static size_t search_right(const double *a, size_t n, double v) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (a[mid] <= v)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

int rvs_banded_gaussian(const double *lam, size_t n, const double *sig,
                        rvs_banded *out) {
  if (!lam || !sig || !out || n == 0)
    return rvs_error(RVS_ERR_ARG, "rvs_banded_gaussian: bad arguments (n=%zu)", n);
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(lam[i]) || (i > 0 && !(lam[i] > lam[i - 1])))
      return rvs_error(RVS_ERR_ARG,
                       "rvs_banded_gaussian: wavelengths not strictly increasing at pixel %zu", i);
    if (!(sig[i] > 0) || !isfinite(sig[i]))
      return rvs_error(RVS_ERR_ARG,
                       "rvs_banded_gaussian: resolution width %g at pixel %zu is not positive",
                       sig[i], i);
  }
  const double thresh = 5.0;
  size_t maxl = 0;
  for (size_t i = 0; i < n; i++) {
    size_t i1 = search_left(lam, n, lam[i] - thresh * sig[i]);
    size_t i2 = search_right(lam, n, lam[i] + thresh * sig[i]);
    if (i2 > n - 1) i2 = n - 1;
    if (i2 > i && i2 - i > maxl) maxl = i2 - i;
    if (i > i1 && i - i1 > maxl) maxl = i - i1;
  }
  if (maxl > n) maxl = n;
  int st = rvs_banded_alloc(out, n, (int)(2 * maxl + 1));
  if (st != RVS_OK) return st;
  const int nd = out->nd, half = out->half;
  for (size_t i = 0; i < n; i++) {
    double *w = out->w + i * (size_t)nd;
    double sum = 0.0;
    for (int m = 0; m < nd; m++) {
      long c = (long)i + m - half;
      double v = 0.0;
      if (c >= 0 && (size_t)c < n) {
        double x = (lam[c] - lam[i]) / sig[i];
        v = exp(-0.5 * (x * x)); /* numpy: -0.5 * x**2 */
      }
      w[m] = v;
      sum += v; /* same order as upstream's sum over offsets */
    }
    for (int m = 0; m < nd; m++) w[m] /= sum;
  }
  return RVS_OK;
}

int rvs_banded_gaussian_R(const double *lam, size_t n,
                          double (*Rfun)(double lam, void *ctx), void *ctx,
                          rvs_banded *out) {
  if (!lam || !Rfun || !out || n == 0)
    return rvs_error(RVS_ERR_ARG, "rvs_banded_gaussian_R: bad arguments (n=%zu)", n);
  double *sig = malloc(n * sizeof(double));
  if (!sig)
    return rvs_error(RVS_ERR_NOMEM, "rvs_banded_gaussian_R: out of memory (n=%zu)", n);
  for (size_t i = 0; i < n; i++) {
    double R = Rfun(lam[i], ctx);
    if (!(R > 0) || !isfinite(R)) {
      free(sig);
      return rvs_error(RVS_ERR_ARG,
                       "rvs_banded_gaussian_R: resolution R(%g) = %g is not positive",
                       lam[i], R);
    }
    sig[i] = lam[i] / R / 2.35; /* upstream's FWHM-to-sigma constant */
  }
  int st = rvs_banded_gaussian(lam, n, sig, out);
  free(sig);
  return st;
}

/* Fill out (already allocated, 11 taps) from DESI data; out-of-range cells 0. */
static int desi_fill(const float *rdata, size_t n, rvs_banded *out) {
  const int half = RVS_DESI_NDIAG / 2;
  for (size_t i = 0; i < n; i++) {
    double *w = out->w + i * RVS_DESI_NDIAG;
    for (int m = 0; m < RVS_DESI_NDIAG; m++) {
      long c = (long)i + m - half; /* matrix column = data column */
      if (c < 0 || (size_t)c >= n) {
        w[m] = 0.0;
        continue;
      }
      /* diagonal offset c - i = m - 5 = o_k = 5 - k  =>  k = 10 - m */
      float v = rdata[(size_t)(RVS_DESI_NDIAG - 1 - m) * n + (size_t)c];
      if (!isfinite(v))
        return rvs_error(RVS_ERR_NUMERIC,
                         "DESI resolution data: non-finite value at diagonal %d, pixel %ld",
                         RVS_DESI_NDIAG - 1 - m, c);
      w[m] = (double)v;
    }
  }
  return RVS_OK;
}

int rvs_desi_resolution_to_banded(const float *rdata, size_t n, rvs_banded *out) {
  if (!rdata || !out || n == 0)
    return rvs_error(RVS_ERR_ARG, "rvs_desi_resolution_to_banded: bad arguments (n=%zu)", n);
  int st = rvs_banded_alloc(out, n, RVS_DESI_NDIAG);
  if (st != RVS_OK) return st;
  st = desi_fill(rdata, n, out);
  if (st != RVS_OK) rvs_banded_free(out);
  return st;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int rvs_desi_resolution_prepare(const float *rdata, size_t n,
                                double pix_step_angstrom,
                                double lsf_sigma0_angstrom, rvs_banded *out) {
  enum { W = RVS_DESI_NDIAG, W2 = RVS_DESI_NDIAG / 2 };
  if (!rdata || !out)
    return rvs_error(RVS_ERR_ARG, "rvs_desi_resolution_prepare: NULL argument");
  if (n < (size_t)W)
    return rvs_error(RVS_ERR_ARG,
                     "rvs_desi_resolution_prepare: %zu pixels, need at least %d", n, W);
  double s = lsf_sigma0_angstrom / pix_step_angstrom;
  if (!(s > 0) || !isfinite(s))
    return rvs_error(RVS_ERR_ARG,
                     "rvs_desi_resolution_prepare: bad LSF sigma %g A or pixel step %g A",
                     lsf_sigma0_angstrom, pix_step_angstrom);

  /* G[i][x], unnormalised as upstream; LU-solve like scipy.linalg.solve */
  double G[W * W];
  int piv[W];
  for (int i = 0; i < W; i++)
    for (int x = 0; x < W; x++) {
      double u = (double)(x - i) / s;
      G[i * W + x] = 1.0 / sqrt(2 * M_PI) / s * exp(-0.5 * (u * u));
    }
  if (rvs_lu_factor(G, W, piv) != RVS_OK)
    return rvs_error(RVS_ERR_NUMERIC,
                     "rvs_desi_resolution_prepare: LSF matrix singular (sigma0/step = %g)", s);

  int st = rvs_banded_alloc(out, n, W);
  if (st != RVS_OK) return st;
  double *rowsum = malloc(n * sizeof(double));
  if (!rowsum) {
    rvs_banded_free(out);
    return rvs_error(RVS_ERR_NOMEM, "rvs_desi_resolution_prepare: out of memory (n=%zu)", n);
  }
  /* Band with ALL out-of-range cells zero (upstream's left-edge off-by-one,
   * ALGORITHM 7.5, is deliberately not reproduced). */
  st = desi_fill(rdata, n, out);
  if (st != RVS_OK) goto fail;

  /* Deconvolve each row; keep the out-of-range cells that G^-1 creates for
   * now, because upstream's median row sum includes them. */
  for (size_t i = 0; i < n; i++) {
    double *w = out->w + i * W;
    rvs_lu_solve(G, W, piv, w);
    double sum = 0.0;
    for (int m = 0; m < W; m++) sum += w[m];
    rowsum[i] = sum;
  }
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(rowsum[i])) {
      st = rvs_error(RVS_ERR_NUMERIC,
                     "rvs_desi_resolution_prepare: non-finite deconvolved row %zu", i);
      goto fail;
    }
  }
  qsort(rowsum, n, sizeof(double), cmp_double);
  double mult = (n % 2) ? rowsum[n / 2] : (rowsum[n / 2 - 1] + rowsum[n / 2]) / 2.0;
  if (mult == 0) mult = 1;

  /* Edge rows: in-range taps rescaled to sum to mult. */
  for (int i = 0; i < W2; i++) {
    double *wl = out->w + (size_t)i * W;
    double n1 = 0.0;
    for (int m = W2 - i; m < W; m++) n1 += wl[m];
    double d1 = n1 + (n1 == 0);
    for (int m = 0; m < W; m++) wl[m] = wl[m] / d1 * mult;
    double *wr = out->w + (n - 1 - (size_t)i) * W;
    double n2 = 0.0;
    for (int m = 0; m <= W2 + i; m++) n2 += wr[m];
    double d2 = n2 + (n2 == 0);
    for (int m = 0; m < W; m++) wr[m] = wr[m] / d2 * mult;
  }
  /* scipy's dia_matrix drops the out-of-range cells */
  for (int i = 0; i < W2; i++) {
    double *wl = out->w + (size_t)i * W;
    for (int m = 0; m < W2 - i; m++) wl[m] = 0.0;
    double *wr = out->w + (n - 1 - (size_t)i) * W;
    for (int m = W2 + i + 1; m < W; m++) wr[m] = 0.0;
  }
  free(rowsum);
  return RVS_OK;
fail:
  free(rowsum);
  rvs_banded_free(out);
  return st;
}
