/* Rotational broadening (see rotation.h). */
#include "core/rotation.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/doppler.h"
#include "core/simd.h"
#include "rvs/status.h"

/* gcc's -O2 cost model leaves these short elementwise loops scalar; ask for
 * SIMD explicitly (no reassociation: results are unchanged). */
#ifdef _OPENMP
#define RVS_SIMD _Pragma("omp simd")
#else
#define RVS_SIMD
#endif

/* Outputs per block: the block of out[] stays in L1 while all taps pass. */
#define CONV_BLOCK 512

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }
static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* Primitives of K(x) and x K(x) at x clipped to [-1, 1] (upstream's
 * _vsini_kernel_primitives). */
static void primitives(double x, double *k0, double *k1) {
  const double eps = RVS_VSINI_EPS;
  const double norm = M_PI * (1 - eps / 3.0);
  const double c1 = 2 * (1 - eps) / norm, c2 = (M_PI / 2.0) * eps / norm;
  if (x < -1.0) x = -1.0;
  if (x > 1.0) x = 1.0;
  double x2 = x * x;
  double sq = sqrt(1 - x2);
  double t1_0 = 0.5 * (x * sq + asin(x));
  double t1_1 = -1.0 / 3.0 * (1 - x2) * sq;
  double t2_0 = x - x2 * x / 3.0;
  double t2_1 = x2 / 2.0 - x2 * x2 / 4.0;
  *k0 = c1 * t1_0 + c2 * t2_0;
  *k1 = c1 * t1_1 + c2 * t2_1;
}

/* int_a^b (slope x + intercept) K(x) dx. */
static double segment(double a, double b, double slope, double intercept) {
  double a0, a1, b0, b1;
  primitives(a, &a0, &a1);
  primitives(b, &b0, &b1);
  return slope * (b1 - a1) + intercept * (b0 - a0);
}

static double clip1(double v) { return v < -1.0 ? -1.0 : (v > 1.0 ? 1.0 : v); }

double rvs_vsini_half_weights(double R, double *w, size_t kmax) {
  for (size_t k = 0; k <= kmax; k++) {
    double kd = (double)k, wk = 0;
    /* Rising side of the hat: x in [k/R, (k+1)/R], Lambda = (1+k) - R x. */
    double lo = clip1(kd / R), hi = clip1((kd + 1) / R);
    if (hi > lo) wk += segment(lo, hi, -R, 1 + kd);
    /* Falling side: x in [(k-1)/R, k/R], Lambda = (1-k) + R x. */
    lo = clip1((kd - 1) / R);
    hi = clip1(kd / R);
    if (hi > lo) wk += segment(lo, hi, R, 1 - kd);
    w[k] = wk;
  }
  double sum = w[0];
  for (size_t k = 1; k <= kmax; k++) sum += 2 * w[k];
  return sum;
}

/* R in pixels, or a negative code: -1 identity, -2 invalid. */
static double pixel_halfwidth(double vsini, double ln_step) {
  if (isnan(vsini) || !(ln_step > 0) || !isfinite(ln_step)) return -2;
  if (vsini <= 0) return -1;
  double R = (vsini / RVS_SPEED_OF_LIGHT) / ln_step;
  if (!isfinite(R)) return -2;
  if (R < RVS_VSINI_MIN_R) return -1;
  return R;
}

/* kmax for R, 0 if too large to index. */
static size_t kmax_of(double R) {
  double k = ceil(R + 1);
  if (!(k < (double)(SIZE_MAX / 4)) || !(k < 1e15)) return 0;
  return (size_t)k;
}

size_t rvs_vsini_kernel_len(double vsini_kms, double ln_step) {
  double R = pixel_halfwidth(vsini_kms, ln_step);
  if (R == -2) return 0;
  if (R < 0) return 1;
  size_t kmax = kmax_of(R);
  return kmax ? 2 * kmax + 1 : 0;
}

int rvs_vsini_kernel(double vsini_kms, double ln_step, double *kernel, size_t cap,
                     size_t *len) {
  size_t need = rvs_vsini_kernel_len(vsini_kms, ln_step);
  if (len) *len = 0;
  if (need == 0)
    return rvs_error(RVS_ERR_ARG, "vsini kernel: invalid vsini=%g km/s or ln step=%g",
                     vsini_kms, ln_step);
  if (!kernel || cap < need)
    return rvs_error(RVS_ERR_ARG, "vsini kernel: needs %zu taps, buffer holds %zu", need, cap);
  if (need == 1) {
    kernel[0] = 1;
  } else {
    double R = pixel_halfwidth(vsini_kms, ln_step);
    size_t kmax = (need - 1) / 2;
    /* Half weights go to the upper half, then are mirrored. */
    double *half = kernel + kmax;
    double sum = rvs_vsini_half_weights(R, half, kmax);
    for (size_t k = 0; k <= kmax; k++) half[k] /= sum; /* as upstream: weights / sum */
    for (size_t k = 1; k <= kmax; k++) kernel[kmax - k] = half[k];
  }
  if (len) *len = need;
  return RVS_OK;
}

/* Symmetric convolution with zero padding: out[i] = w0 in[i] +
 * sum_k w_k (in[i-k] + in[i+k]), terms outside [0, n) dropped.  The sum runs
 * over k in the same order for every i, so blocking does not change it.
 * This one: the outputs i in [i0, i1), blocked. */
static void convolve_symmetric_range(const double *restrict in, size_t n,
                                     const double *restrict w, size_t kmax,
                                     double *restrict out, size_t i0, size_t i1) {
  for (size_t b0 = i0; b0 < i1; b0 += CONV_BLOCK) {
    size_t b1 = min_sz(b0 + CONV_BLOCK, i1);
    double w0 = w[0];
    RVS_SIMD
    for (size_t i = b0; i < b1; i++) out[i] = w0 * in[i];
    size_t kend = min_sz(kmax, n - 1);
    for (size_t k = 1; k <= kend; k++) {
      double wk = w[k];
      size_t nk = n - k;
      /* both neighbours inside: k <= i < n-k */
      size_t lo = max_sz(b0, k), hi = min_sz(b1, nk);
      RVS_SIMD
      for (size_t i = lo; i < hi; i++) out[i] += wk * (in[i - k] + in[i + k]);
      /* only the right one (i < k) */
      hi = min_sz(min_sz(b1, k), nk);
      RVS_SIMD
      for (size_t i = b0; i < hi; i++) out[i] += wk * in[i + k];
      /* only the left one (i >= n-k) */
      lo = max_sz(max_sz(b0, k), nk);
      RVS_SIMD
      for (size_t i = lo; i < b1; i++) out[i] += wk * in[i - k];
    }
  }
}

/* The interior [kmax, n - kmax) (both neighbours inside for every k): four
 * outputs per vector, summed over k in registers in the same order. */
RVS_CLONES static void convolve_symmetric(const double *restrict in, size_t n,
                                          const double *restrict w, size_t kmax,
                                          double *restrict out) {
  size_t kend = min_sz(kmax, n - 1);
  if (n < 2 * kend + 8) {
    convolve_symmetric_range(in, n, w, kmax, out, 0, n);
    return;
  }
  size_t lo = kend, hi = n - kend;
  convolve_symmetric_range(in, n, w, kmax, out, 0, lo);
  double w0 = w[0];
  size_t i = lo;
  for (; i + 8 <= hi; i += 8) {
    v4d a0 = w0 * ld4(in + i), a1 = w0 * ld4(in + i + 4);
    for (size_t k = 1; k <= kend; k++) {
      double wk = w[k];
      a0 += wk * (ld4(in + i - k) + ld4(in + i + k));
      a1 += wk * (ld4(in + i + 4 - k) + ld4(in + i + 4 + k));
    }
    st4(out + i, a0);
    st4(out + i + 4, a1);
  }
  for (; i < hi; i++) {
    double a = w0 * in[i];
    for (size_t k = 1; k <= kend; k++) a += w[k] * (in[i - k] + in[i + k]);
    out[i] = a;
  }
  convolve_symmetric_range(in, n, w, kmax, out, hi, n);
}

int rvs_convolve_vsini(const double *spec, size_t n, double ln_step, double vsini_kms,
                       double *out) {
  if (!spec || !out || spec == out)
    return rvs_error(RVS_ERR_ARG, "convolve_vsini: NULL or aliased arrays");
  double R = pixel_halfwidth(vsini_kms, ln_step);
  if (R == -2)
    return rvs_error(RVS_ERR_ARG, "convolve_vsini: invalid vsini=%g km/s or ln step=%g",
                     vsini_kms, ln_step);
  if (R < 0 || n == 0) {
    if (n) memcpy(out, spec, sizeof(double) * n);
    return RVS_OK;
  }
  size_t kmax = kmax_of(R);
  if (!kmax)
    return rvs_error(RVS_ERR_ARG, "convolve_vsini: kernel too wide (R=%g pixels)", R);
  double stack_w[RVS_VSINI_STACK_TAPS];
  double *w = stack_w;
  if (kmax + 1 > RVS_VSINI_STACK_TAPS) {
    w = malloc(sizeof(double) * (kmax + 1));
    if (!w)
      return rvs_error(RVS_ERR_NOMEM, "convolve_vsini: out of memory (%zu taps)", kmax + 1);
  }
  double sum = rvs_vsini_half_weights(R, w, kmax);
  for (size_t k = 0; k <= kmax; k++) w[k] /= sum;
  convolve_symmetric(spec, n, w, kmax, out);
  if (w != stack_w) free(w);
  return RVS_OK;
}

int rvs_convolve_same(const double *in, size_t n, const double *kernel, size_t klen,
                      double *out) {
  if (!in || !out || !kernel || in == out || klen == 0)
    return rvs_error(RVS_ERR_ARG, "convolve_same: NULL, aliased or empty arrays");
  const double *restrict src = in;
  double *restrict dst = out;
  ptrdiff_t nn = (ptrdiff_t)n, off = (ptrdiff_t)((klen - 1) / 2);
  for (ptrdiff_t b0 = 0; b0 < nn; b0 += CONV_BLOCK) {
    ptrdiff_t b1 = b0 + CONV_BLOCK < nn ? b0 + CONV_BLOCK : nn;
    for (ptrdiff_t i = b0; i < b1; i++) dst[i] = 0;
    for (size_t m = 0; m < klen; m++) {
      /* in[j] with j = i + s contributes to out[i]. */
      ptrdiff_t s = off - (ptrdiff_t)m;
      ptrdiff_t lo = -s > b0 ? -s : b0, hi = nn - s < b1 ? nn - s : b1;
      double km = kernel[m];
      RVS_SIMD
      for (ptrdiff_t i = lo; i < hi; i++) dst[i] += km * src[i + s];
    }
  }
  return RVS_OK;
}
