/* Marginalised -2 ln L for one arm; see chisq.h. */
#include "core/chisq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/linalg.h"
#include "rvs/status.h"

size_t rvs_marg_chisq_work_size(size_t n, int P) {
  size_t p = P > 0 ? (size_t)P : 0;
  return 4 * n + 4 * p * p + 4 * p;
}

/* Solve M a = v with ln det M, using the Cholesky-then-eigen solve of
 * linalg.  Returns 0 (Cholesky), 1 (fallback) or RVS_ERR_NUMERIC. */
static int solve_normal(const double *M, int P, const double *v, double *a,
                        double *logdet, double *work) {
  return rvs_spd_solve_logdet_work(M, P, v, a, logdet, work);
}

/* The dot products below run four independent accumulator chains at once
 * (a single chain is bound by the FP add latency), and let the compiler
 * split each chain into SIMD lanes (omp simd reduction).  The order is fixed
 * by the build, so reruns give identical numbers. */

/* out[q] = sum_i a_q[i] b_q[i] w[i], q = 0..3 */
static void dots4(const double *const a[4], const double *const b[4],
                  const double *w, size_t n, double out[4]) {
  const double *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
  const double *b0 = b[0], *b1 = b[1], *b2 = b[2], *b3 = b[3];
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
#ifdef _OPENMP
#pragma omp simd reduction(+ : s0, s1, s2, s3)
#endif
  for (size_t i = 0; i < n; i++) {
    double wi = w[i];
    s0 += a0[i] * b0[i] * wi;
    s1 += a1[i] * b1[i] * wi;
    s2 += a2[i] * b2[i] * wi;
    s3 += a3[i] * b3[i] * wi;
  }
  out[0] = s0;
  out[1] = s1;
  out[2] = s2;
  out[3] = s3;
}

/* out[q] = sum_i a_q[i] w[i], q = 0..3 */
static void vdots4(const double *const a[4], const double *w, size_t n,
                   double out[4]) {
  const double *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
#ifdef _OPENMP
#pragma omp simd reduction(+ : s0, s1, s2, s3)
#endif
  for (size_t i = 0; i < n; i++) {
    double wi = w[i];
    s0 += a0[i] * wi;
    s1 += a1[i] * wi;
    s2 += a2[i] * wi;
    s3 += a3[i] * wi;
  }
  out[0] = s0;
  out[1] = s1;
  out[2] = s2;
  out[3] = s3;
}

/* M_jk = sum_i X_j[i] Y_k[i] w[i] for the packed pairs k >= j (the packed
 * order of chisq.h), written to both triangles of M; X = Y = B for the
 * explicit path.  Groups of four pairs; the last group is padded by
 * repeating its final pair. */
static void sym_products(const double *B, size_t n, int P, const double *w,
                         double *M) {
  int npair = P * (P + 1) / 2;
  int jj[4], kk[4], g = 0, j = 0, k = 0;
  for (int p = 0; p < npair; p++) {
    jj[g] = j;
    kk[g] = k;
    g++;
    if (++k == P) {
      j++;
      k = j;
    }
    if (g == 4 || p == npair - 1) {
      const double *pa[4], *pb[4];
      double out[4];
      for (int q = 0; q < 4; q++) {
        int qq = q < g ? q : g - 1;
        pa[q] = B + (size_t)jj[qq] * n;
        pb[q] = B + (size_t)kk[qq] * n;
      }
      dots4(pa, pb, w, n, out);
      for (int q = 0; q < g; q++) {
        M[(size_t)jj[q] * P + kk[q]] = out[q];
        M[(size_t)kk[q] * P + jj[q]] = out[q];
      }
      g = 0;
    }
  }
}

/* v_j = sum_i R_j[i] w[i] for rows R_j of a [P][n] array */
static void row_products(const double *R, size_t n, int P, const double *w,
                         double *v) {
  for (int j0 = 0; j0 < P; j0 += 4) {
    int g = P - j0 < 4 ? P - j0 : 4;
    const double *pa[4];
    double out[4];
    for (int q = 0; q < 4; q++) pa[q] = R + (size_t)(j0 + (q < g ? q : g - 1)) * n;
    vdots4(pa, w, n, out);
    for (int q = 0; q < g; q++) v[j0 + q] = out[q];
  }
}

/* Normal equations: M_jk = sum_i B_j B_k s2, v_j = sum_i B_j dw. */
static void normal_equations(const double *B, size_t n, int P, const double *s2,
                             const double *dw, double *M, double *v) {
  sym_products(B, n, P, s2, M);
  row_products(B, n, P, dw, v);
}

/* c = sum_j a_j B_j */
static void combine_basis(const double *B, size_t n, int P, const double *a,
                          double *c) {
  for (size_t i = 0; i < n; i++) c[i] = a[0] * B[i];
  for (int j = 1; j < P; j++) {
    const double *bj = B + (size_t)j * n;
    double aj = a[j];
    for (size_t i = 0; i < n; i++) c[i] += aj * bj[i];
  }
}

static double residual_norm2(const double *D, const double *ws, const double *c,
                             size_t n) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    double r0 = D[i] - ws[i] * c[i], r1 = D[i + 1] - ws[i + 1] * c[i + 1];
    double r2 = D[i + 2] - ws[i + 2] * c[i + 2], r3 = D[i + 3] - ws[i + 3] * c[i + 3];
    s0 += r0 * r0;
    s1 += r1 * r1;
    s2 += r2 * r2;
    s3 += r3 * r3;
  }
  for (; i < n; i++) {
    double r = D[i] - ws[i] * c[i];
    s0 += r * r;
  }
  return (s0 + s1) + (s2 + s3);
}

/* The shared core: D = d/sigma and isig = 1/sigma given (or computed from
 * d and sigma when D == NULL), lsig = sum ln sigma. */
static int marg_core(const double *d, const double *sigma, const double *Dpre,
                     const double *isig, double lsig, const double *t, const double *B,
                     size_t n, int P, double *m2lnl, rvs_chisq_full *full,
                     const unsigned char *badmask, const double *sigma_true, double *work) {
  double *owned = NULL;
  if (!work) {
    owned = malloc(rvs_marg_chisq_work_size(n, P) * sizeof(double));
    if (!owned)
      return rvs_error(RVS_ERR_NOMEM, "rvs_marg_chisq: out of memory (n=%zu, P=%d)", n, P);
    work = owned;
  }
  double *ws = work;          /* t / sigma */
  double *D = ws + n;         /* d / sigma */
  double *s2 = D + n;         /* (t/sigma)^2, later sum_j a_j B_j */
  double *dw = s2 + n;        /* d t / sigma^2 */
  double *M = dw + n;         /* P*P */
  double *v = M + (size_t)P * P;
  double *a = v + P;
  double *lwork = a + P;      /* rvs_spd_work_size(P) = 3P^2 + 2P */

  if (Dpre) {
    for (size_t i = 0; i < n; i++) {
      double Di = Dpre[i], wi = t[i] * isig[i];
      D[i] = Di;
      ws[i] = wi;
      s2[i] = wi * wi;
      dw[i] = Di * wi;
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      double Di = d[i] / sigma[i], wi = t[i] / sigma[i];
      D[i] = Di;
      ws[i] = wi;
      s2[i] = wi * wi;
      dw[i] = Di * wi;
    }
  }

  normal_equations(B, n, P, s2, dw, M, v);
  double logdet;
  int st = solve_normal(M, P, v, a, &logdet, lwork);
  int fallback = (st == RVS_SPD_FALLBACK);
  int solved = (st >= 0);
  double *c = s2;
  double val = NAN;
  if (solved) {
    combine_basis(B, n, P, a, c);
    val = logdet + 2 * lsig + residual_norm2(D, ws, c, n);
    if (!isfinite(val) && !fallback) {
      /* upstream: a non-finite Cholesky result is retried with the SVD */
      fallback = 1;
      solved = rvs_sym_pinv_solve_logdet(M, P, v, a, &logdet, lwork + (size_t)P * P) == RVS_OK;
      if (solved) {
        combine_basis(B, n, P, a, c);
        val = logdet + 2 * lsig + residual_norm2(D, ws, c, n);
      } else {
        val = NAN;
      }
    }
  }
  *m2lnl = val;
  if (full) {
    full->used_fallback = fallback;
    for (int j = 0; j < P; j++) full->coeffs[j] = solved ? a[j] : NAN;
    const double *sg = sigma_true ? sigma_true : sigma;
    double tc = 0.0;
    long np = 0;
    for (size_t i = 0; i < n; i++) {
      double mi = solved ? c[i] * t[i] : NAN;
      if (full->model) full->model[i] = mi;
      if (badmask && badmask[i]) continue;
      double r = (mi - d[i]) / sg[i];
      tc += r * r;
      np++;
    }
    full->true_chisq = tc;
    full->npix = np;
  }
  free(owned);
  if (!isfinite(val))
    return rvs_error(RVS_ERR_NUMERIC,
                     "rvs_marg_chisq: -2lnL is not finite (%g) even with the eigen "
                     "fallback (n=%zu, P=%d)", val, n, P);
  return RVS_OK;
}

int rvs_marg_chisq(const double *d, const double *sigma, const double *t,
                   const double *B, size_t n, int P, double *m2lnl,
                   rvs_chisq_full *full, const unsigned char *badmask,
                   const double *sigma_true, double *work) {
  if (!d || !sigma || !t || !B || !m2lnl || n == 0 || P < 1 ||
      (full && !full->coeffs))
    return rvs_error(RVS_ERR_ARG, "rvs_marg_chisq: bad arguments (n=%zu, P=%d)", n, P);
  double lsig = 0.0;
  for (size_t i = 0; i < n; i++) lsig += log(sigma[i]);
  return marg_core(d, sigma, NULL, NULL, lsig, t, B, n, P, m2lnl, full, badmask, sigma_true,
                   work);
}

int rvs_marg_chisq_sig(const double *d, const double *sigma, const double *D,
                       const double *inv_sigma, double sum_ln_sigma, const double *t,
                       const double *B, size_t n, int P, double *m2lnl, rvs_chisq_full *full,
                       const unsigned char *badmask, double *work) {
  if (!d || !sigma || !D || !inv_sigma || !t || !B || !m2lnl || n == 0 || P < 1 ||
      (full && !full->coeffs))
    return rvs_error(RVS_ERR_ARG, "rvs_marg_chisq_sig: bad arguments (n=%zu, P=%d)", n, P);
  return marg_core(d, sigma, D, inv_sigma, sum_ln_sigma, t, B, n, P, m2lnl, full, badmask,
                   NULL, work);
}

size_t rvs_marg_chisq_continuum_work_size(size_t n, int P) {
  return rvs_marg_chisq_work_size(n, P) + n;
}

int rvs_marg_chisq_continuum(const double *d, const double *sigma,
                             const double *Rone, const double *B, size_t n,
                             int P, const unsigned char *badmask,
                             rvs_chisq_full *full, double *m2lnl, double *work) {
  if (!full || !full->coeffs || n == 0 || P < 1)
    return rvs_error(RVS_ERR_ARG, "rvs_marg_chisq_continuum: bad arguments (n=%zu, P=%d)",
                     n, P);
  double *owned = NULL;
  if (!work) {
    owned = malloc(rvs_marg_chisq_continuum_work_size(n, P) * sizeof(double));
    if (!owned)
      return rvs_error(RVS_ERR_NOMEM, "rvs_marg_chisq_continuum: out of memory (n=%zu)", n);
    work = owned;
  }
  const double *t = Rone;
  if (!t) {
    double *ones = work + rvs_marg_chisq_work_size(n, P);
    for (size_t i = 0; i < n; i++) ones[i] = 1.0;
    t = ones;
  }
  double val;
  int st = rvs_marg_chisq(d, sigma, t, B, n, P, &val, full, badmask, NULL, work);
  if (m2lnl) *m2lnl = val;
  free(owned);
  return st;
}

static size_t npairs(int P) { return (size_t)P * (size_t)(P + 1) / 2; }

int rvs_chisq_pre_init(rvs_chisq_pre *pre, const double *d, const double *sigma,
                       const double *B, size_t n, int P) {
  if (!pre) return rvs_error(RVS_ERR_ARG, "rvs_chisq_pre_init: NULL struct");
  memset(pre, 0, sizeof(*pre));
  if (!d || !sigma || !B || n == 0 || P < 1)
    return rvs_error(RVS_ERR_ARG, "rvs_chisq_pre_init: bad arguments (n=%zu, P=%d)", n, P);
  pre->Q = malloc(npairs(P) * n * sizeof(double));
  pre->r = malloc((size_t)P * n * sizeof(double));
  if (!pre->Q || !pre->r) {
    rvs_chisq_pre_free(pre);
    return rvs_error(RVS_ERR_NOMEM, "rvs_chisq_pre_init: out of memory (n=%zu, P=%d)", n, P);
  }
  pre->n = n;
  pre->P = P;
  double dtd = 0.0, lsig = 0.0;
  for (size_t i = 0; i < n; i++) {
    double Di = d[i] / sigma[i];
    dtd += Di * Di;
    lsig += log(sigma[i]);
  }
  pre->DtD = dtd;
  pre->sum_log_sigma = lsig;
  size_t q = 0;
  for (int j = 0; j < P; j++) {
    const double *bj = B + (size_t)j * n;
    for (int k = j; k < P; k++, q++) {
      const double *bk = B + (size_t)k * n;
      double *Qq = pre->Q + q * n;
      for (size_t i = 0; i < n; i++) Qq[i] = bj[i] * bk[i] / (sigma[i] * sigma[i]);
    }
    double *rj = pre->r + (size_t)j * n;
    for (size_t i = 0; i < n; i++) rj[i] = bj[i] * d[i] / (sigma[i] * sigma[i]);
  }
  return RVS_OK;
}

void rvs_chisq_pre_free(rvs_chisq_pre *pre) {
  if (!pre) return;
  free(pre->Q);
  free(pre->r);
  pre->Q = pre->r = NULL;
  pre->n = 0;
  pre->P = 0;
}

size_t rvs_marg_chisq_pre_work_size(int P) {
  size_t p = P > 0 ? (size_t)P : 0;
  return 4 * p * p + 4 * p;
}

int rvs_marg_chisq_pre(const rvs_chisq_pre *pre, const double *t, double *m2lnl,
                       double *coeffs, int *used_fallback, double *work) {
  if (!pre || !pre->Q || !t || !m2lnl)
    return rvs_error(RVS_ERR_ARG, "rvs_marg_chisq_pre: bad arguments");
  const size_t n = pre->n;
  const int P = pre->P;
  double *owned = NULL;
  if (!work) {
    owned = malloc(rvs_marg_chisq_pre_work_size(P) * sizeof(double));
    if (!owned) return rvs_error(RVS_ERR_NOMEM, "rvs_marg_chisq_pre: out of memory");
    work = owned;
  }
  double *M = work, *v = M + (size_t)P * P, *a = v + P, *lwork = a + P;
  /* M_jk = sum_i Q_jk[i] t_i t_i over the packed pairs, four at a time */
  int npair = P * (P + 1) / 2;
  int jj[4], kk[4], g = 0, j = 0, k = 0;
  for (int p = 0; p < npair; p++) {
    jj[g] = j;
    kk[g] = k;
    g++;
    if (++k == P) {
      j++;
      k = j;
    }
    if (g == 4 || p == npair - 1) {
      const double *pa[4], *pb[4] = {t, t, t, t};
      double out[4];
      for (int q = 0; q < 4; q++) pa[q] = pre->Q + (size_t)(p - g + 1 + (q < g ? q : g - 1)) * n;
      dots4(pa, pb, t, n, out);
      for (int q = 0; q < g; q++) {
        M[(size_t)jj[q] * P + kk[q]] = out[q];
        M[(size_t)kk[q] * P + jj[q]] = out[q];
      }
      g = 0;
    }
  }
  row_products(pre->r, n, P, t, v);
  double logdet, val = NAN;
  int st = solve_normal(M, P, v, a, &logdet, lwork);
  int fallback = (st == RVS_SPD_FALLBACK);
  int solved = (st >= 0);
  if (solved) {
    double va = 0.0;
    for (int j = 0; j < P; j++) va += v[j] * a[j];
    val = logdet + 2 * pre->sum_log_sigma + (pre->DtD - va);
    if (!isfinite(val) && !fallback) {
      fallback = 1;
      val = NAN;
      solved = rvs_sym_pinv_solve_logdet(M, P, v, a, &logdet, lwork + (size_t)P * P) == RVS_OK;
      if (solved) {
        va = 0.0;
        for (int j = 0; j < P; j++) va += v[j] * a[j];
        val = logdet + 2 * pre->sum_log_sigma + (pre->DtD - va);
      }
    }
  }
  *m2lnl = val;
  if (coeffs)
    for (int j = 0; j < P; j++) coeffs[j] = solved ? a[j] : NAN;
  if (used_fallback) *used_fallback = fallback;
  free(owned);
  if (!isfinite(val))
    return rvs_error(RVS_ERR_NUMERIC,
                     "rvs_marg_chisq_pre: -2lnL is not finite (%g) even with the eigen "
                     "fallback (n=%zu, P=%d)", val, n, P);
  return RVS_OK;
}
