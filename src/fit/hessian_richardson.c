/* numdifftools 0.11.2 default Hessian, step by step (see the header).  The
 * arithmetic follows numdifftools/numpy/scipy operation by operation so that
 * the same function values give the same bits:
 *   core.Derivative._derivative_nonzero_order -> per-step central Hessians
 *     (finite_difference.HessianDifferenceFunctions._central_even);
 *   limits._Limit._extrapolate -> extrapolation.Richardson (2 terms, step 2,
 *     order 2, ratio 1.6; its own error estimate is discarded by numdifftools),
 *     then _wynn_extrapolate (extrapolation.dea3);
 *   limits._Limit._get_best_estimate -> _add_error_to_outliers and
 *     _get_arg_min.
 * Every element of H is an independent scalar sequence; H[i][j] and H[j][i]
 * see identical sequences, so only i <= j is computed. */
#include "fit/hessian_richardson.h"

#include "rvs/status.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define NSTEPS RVS_HESSIAN_DEFAULT_NSTEPS
#define MAXN RVS_HESSIAN_DEFAULT_MAXN
#define NRICH (NSTEPS - 2) /* Richardson with 3 points drops 2 */
#define NWYNN (NRICH - 2)  /* dea3 drops 2 more: 11 candidates */

/* numpy.linalg.pinv([[1, r^(2i), r^(4i)] for i in 0..2])[0] with r = 1/1.6,
 * as numdifftools computes it (Richardson.rule).  The exact rational values
 * differ from these in the last few bits; using pinv's keeps the bits. */
static const double richardson_rule[3] = {0.11542524507088014, -1.051939513477974,
                                          1.936514268407094};

int rvs_hessian_default_npoints(int n) {
  if (n < 1 || n > MAXN)
    return rvs_error(RVS_ERR_ARG, "hessian_richardson: dimension %d outside 1..%d", n, MAXN);
  return 2 * NSTEPS * n * n + 1;
}

int rvs_hessian_default_steps(const double *x, int n, double *steps) {
  if (n < 1 || n > MAXN)
    return rvs_error(RVS_ERR_ARG, "hessian_richardson: dimension %d outside 1..%d", n, MAXN);
  for (int i = 0; i < n; i++) {
    if (!isfinite(x[i]))
      return rvs_error(RVS_ERR_ARG, "hessian_richardson: parameter %d is not finite", i);
    /* step_generators.get_nominal_step; the constant is numdifftools' e-1 */
    double nom = log(1.718281828459045 + fabs(x[i]));
    if (nom < 1) nom = 1;
    double base = 2.0 * nom;
    /* BasicMaxStepGenerator: base * ratio**(-k), ratio not made exact */
    for (int k = 0; k < NSTEPS; k++) steps[k * n + i] = base * pow(1.6, (double)-k);
  }
  return RVS_OK;
}

/* One point: x with coordinate i moved by di and (if j >= 0) j moved by dj.
 * numdifftools forms x + e_i (+ e_j) with whole vectors, so every other
 * coordinate gets + 0.0 too. */
static void make_point(const double *x, int n, int i, double di, int j, double dj, double *p) {
  for (int m = 0; m < n; m++) p[m] = x[m] + 0.0;
  p[i] = x[i] + di;
  if (j >= 0) p[j] = x[j] + dj;
}

int rvs_hessian_default_points(const double *x, int n, double *pts) {
  double steps[NSTEPS * MAXN];
  int st = rvs_hessian_default_steps(x, n, steps);
  if (st != RVS_OK) return st;
  size_t p = 0;
  memcpy(pts, x, sizeof(double) * (size_t)n);
  p++;
  for (int k = 0; k < NSTEPS; k++) {
    const double *h = steps + k * n;
    for (int i = 0; i < n; i++) {
      make_point(x, n, i, 2 * h[i], -1, 0, pts + p++ * n);
      make_point(x, n, i, -(2 * h[i]), -1, 0, pts + p++ * n);
      for (int j = i + 1; j < n; j++) {
        make_point(x, n, i, h[i], j, h[j], pts + p++ * n);
        make_point(x, n, i, h[i], j, -h[j], pts + p++ * n);
        make_point(x, n, i, -h[i], j, h[j], pts + p++ * n);
        make_point(x, n, i, -h[i], j, -h[j], pts + p++ * n);
      }
    }
  }
  return RVS_OK;
}

/* np.maximum: NaN wins. */
static double max_nan(double a, double b) {
  if (isnan(a) || isnan(b)) return NAN;
  return a > b ? a : b;
}

/* numpy's _lerp: a + (b-a) t, or b - (b-a)(1-t) when t >= 0.5. */
static double lerp(double a, double b, double t) {
  double d = b - a;
  if (t >= 0.5) return b - d * (1 - t);
  return a + d * t;
}

/* np.nanpercentile(v, 100 q) with the default 'linear' method, on the sorted
 * non-NaN values s[0..c-1]; equal to np.percentile when nothing is NaN. */
static double quantile_sorted(const double *s, int c, double q) {
  if (c == 0) return NAN;
  double virt = (double)(c - 1) * q;
  if (virt >= c - 1) return lerp(s[c - 1], s[c - 1], 1.0);
  double prev = floor(virt);
  int ip = (int)prev;
  return lerp(s[ip], s[ip + 1], virt - prev);
}

/* dea3(e0, e1, e2, symmetric=False) for one triple. */
static void dea3(double e0, double e1, double e2, double *result, double *abserr) {
  double delta2 = e2 - e1, delta1 = e1 - e0;
  double err2 = fabs(delta2), err1 = fabs(delta1);
  double tol2 = max_nan(fabs(e2), fabs(e1)) * DBL_EPSILON;
  double tol1 = max_nan(fabs(e1), fabs(e0)) * DBL_EPSILON;
  if (err1 < DBL_MIN) delta1 = DBL_MIN;
  if (err2 < DBL_MIN) delta2 = DBL_MIN;
  double s_inv_diff = 1.0 / delta2 - 1.0 / delta1;
  int converged = (err1 <= tol1) || (err2 <= tol2) || (fabs(s_inv_diff * e1) <= 1.0e-4);
  double res = converged ? e2 : e1 + 1.0 / s_inv_diff;
  double term = converged ? tol2 * 10 : fabs(res - e2);
  *result = res;
  *abserr = err1 + err2 + term;
}

/* Richardson, dea3, outlier errors and the min-error choice for the NSTEPS
 * per-step estimates of one element. */
static void best_estimate(const double *seq, double *est_out, double *err_out, int *best_out) {
  double rich[NRICH], der[NWYNN], errors[NWYNN];
  /* scipy.ndimage.convolve1d(seq, rule[::-1], origin=1): a non-symmetric
   * 3-tap correlation summed as (s[l+2] w2 + s[l] w0) + s[l+1] w1. */
  for (int l = 0; l < NRICH; l++)
    rich[l] = (seq[l + 2] * richardson_rule[2] + seq[l] * richardson_rule[0]) +
              seq[l + 1] * richardson_rule[1];
  for (int l = 0; l < NWYNN; l++) dea3(rich[l], rich[l + 1], rich[l + 2], &der[l], &errors[l]);

  /* _add_error_to_outliers (trim_fact 10): quartiles of the non-NaN values */
  double sorted[NWYNN];
  int c = 0;
  for (int l = 0; l < NWYNN; l++) {
    if (isnan(der[l])) continue;
    int m = c++;
    while (m > 0 && sorted[m - 1] > der[l]) {
      sorted[m] = sorted[m - 1];
      m--;
    }
    sorted[m] = der[l];
  }
  double p25 = quantile_sorted(sorted, c, 0.25);
  double median = quantile_sorted(sorted, c, 0.5);
  double p75 = quantile_sorted(sorted, c, 0.75);
  double iqr = fabs(p75 - p25);
  double a_median = fabs(median);
  for (int l = 0; l < NWYNN; l++) {
    double d = der[l];
    int wild = (fabs(d) < a_median / 10 || fabs(d) > a_median * 10) && a_median > 1e-8;
    int outside = d < p25 - 1.5 * iqr || p75 + 1.5 * iqr < d;
    errors[l] += (double)(wild || outside) * fabs(d - median);
  }

  /* _get_arg_min: smallest non-NaN error, the middle one of ties; index 0
   * when every error is NaN. */
  int best = 0;
  double min_err = NAN;
  for (int l = 0; l < NWYNN; l++)
    if (!isnan(errors[l]) && (isnan(min_err) || errors[l] < min_err)) min_err = errors[l];
  if (!isnan(min_err)) {
    int ties[NWYNN], nt = 0;
    for (int l = 0; l < NWYNN; l++)
      if (errors[l] == min_err) ties[nt++] = l;
    best = ties[nt / 2];
  }
  *est_out = der[best];
  *err_out = errors[best];
  *best_out = best;
}

int rvs_hessian_default_assemble_full(const double *x, int n, const double *fvals, double *H,
                                      double *err, int *best) {
  double steps[NSTEPS * MAXN];
  int st = rvs_hessian_default_steps(x, n, steps);
  if (st != RVS_OK) return st;

  /* per-step central Hessians, upper triangle: seq[(i*n+j)*NSTEPS + k] */
  double seq[MAXN * MAXN * NSTEPS];
  const double f0 = fvals[0];
  size_t p = 1;
  for (int k = 0; k < NSTEPS; k++) {
    const double *h = steps + k * n;
    for (int i = 0; i < n; i++) {
      double fp = fvals[p++], fm = fvals[p++];
      seq[(i * n + i) * NSTEPS + k] = (fp - 2 * f0 + fm) / (4.0 * (h[i] * h[i]));
      for (int j = i + 1; j < n; j++) {
        double fpp = fvals[p++], fpm = fvals[p++], fmp = fvals[p++], fmm = fvals[p++];
        seq[(i * n + j) * NSTEPS + k] = (fpp - fpm - fmp + fmm) / (4.0 * (h[j] * h[i]));
      }
    }
  }

  for (int i = 0; i < n; i++)
    for (int j = i; j < n; j++) {
      double est, e;
      int b;
      best_estimate(seq + (i * n + j) * NSTEPS, &est, &e, &b);
      H[i * n + j] = H[j * n + i] = est;
      if (err) err[i * n + j] = err[j * n + i] = e;
      if (best) best[i * n + j] = best[j * n + i] = b;
    }
  return RVS_OK;
}

int rvs_hessian_default_assemble(const double *x, int n, const double *fvals, double *H) {
  return rvs_hessian_default_assemble_full(x, n, fvals, H, NULL, NULL);
}
