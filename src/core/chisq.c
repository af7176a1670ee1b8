/* Marginalised -2 ln L for one arm; see chisq.h. */
#include "core/chisq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/linalg.h"
#include "core/simd.h"
#include "rvs/status.h"

/* Pixels per block of the normal-equation kernel: the block's rows of B and
 * of B w (2 P * 128 doubles, 20 KB for P = 10) stay in L1 while every pair
 * tile passes over them.  The block is part of the summation order (see
 * chisq.h), which the CUDA backend repeats. */
#define NE_CHUNK RVS_NE_BLOCK

size_t rvs_marg_chisq_work_size(size_t n, int P) {
  size_t p = P > 0 ? (size_t)P : 0;
  /* ws, D, c [n]; M, v, a, solver scratch (4P^2 + 4P); lane accumulators
   * 4(P^2 + P); block buffers (P + 2) NE_CHUNK; tail block 4P + 16 */
  return 3 * n + 8 * p * p + 12 * p + (p + 2) * NE_CHUNK + 16;
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

/* ---- blocked normal equations --------------------------------------------
 * Four pixels per vector (core/simd.h: the same bits from either clone).
 * Sums are kept per lane (pixel i goes to lane i % 4, blocks added in pixel
 * order) and the lanes are joined as (l0 + l1) + (l2 + l3): a fixed order. */
/* Lane sums over pixels [0, len), len a multiple of 4, rows B_j = B + j ldb:
 * accM[j P + k] += B_j w B_k (k >= j) and accV[j] += B_j dw, where
 * ws = t isig (isig NULL: ws = t), w = ws^2, dw = D ws.  Per block of
 * NE_CHUNK pixels: w, dw, then B_j w with the v sums of row j, then 3x3
 * tiles of (j, k) pairs with nine accumulators in registers. */
RVS_CLONES static void ne_accumulate(const double *B, size_t ldb, int P, const double *t,
                                     const double *isig, const double *D, size_t len,
                                     int one0, v4d *accM, v4d *accV, double *wb, double *dwb,
                                     double *bw) {
  for (size_t c0 = 0; c0 < len; c0 += NE_CHUNK) {
    size_t cl = len - c0 < NE_CHUNK ? len - c0 : NE_CHUNK;
    if (isig) {
      for (size_t i = 0; i < cl; i += 4) {
        v4d ws = ld4(t + c0 + i) * ld4(isig + c0 + i);
        st4(wb + i, ws * ws);
        st4(dwb + i, ld4(D + c0 + i) * ws);
      }
    } else {
      for (size_t i = 0; i < cl; i += 4) {
        v4d ws = ld4(t + c0 + i);
        st4(wb + i, ws * ws);
        st4(dwb + i, ld4(D + c0 + i) * ws);
      }
    }
    /* bw_j = B_j w, once per block */
    /* one0 (B_0 == 1 exactly, the continuum bases): M_0k = sum (1 w) B_k =
     * sum B_k w, the bw_k themselves, summed here in the tiles' order; the
     * tiles then start at row 1 (the same bits, 10 of 60 products fewer at
     * P = 10) */
    int r0 = one0 ? 1 : 0;
    if (one0) {
      v4d s0 = {0, 0, 0, 0};
      for (size_t i = 0; i < cl; i += 4) s0 += ld4(wb + i);
      accM[0] += s0;
    }
    /* with each row's B_j w, the v sums B_j dw of that row (one load of B_j
     * for both; rows below r0 are summed after the tiles) */
    for (int j = r0; j < P; j++) {
      const double *bj = B + (size_t)j * ldb + c0;
      double *o = bw + (size_t)j * NE_CHUNK;
      v4d sv = {0, 0, 0, 0};
      if (one0) {
        v4d s0 = {0, 0, 0, 0};
        for (size_t i = 0; i < cl; i += 4) {
          v4d x = ld4(bj + i);
          v4d b = x * ld4(wb + i);
          st4(o + i, b);
          s0 += b;
          sv += x * ld4(dwb + i);
        }
        accM[j] += s0;
      } else {
        for (size_t i = 0; i < cl; i += 4) {
          v4d x = ld4(bj + i);
          st4(o + i, x * ld4(wb + i));
          sv += x * ld4(dwb + i);
        }
      }
      accV[j] += sv;
    }
    /* 3x3 tiles over the upper triangle of rows/columns r0..P-1: nine
     * accumulators and six vectors per step (each load feeds three
     * products); diagonal tiles compute three products below the diagonal,
     * which are dropped.  Each sum keeps its order: per block from 0, pixel
     * by pixel, then added to accM. */
    for (int j = r0; j < P; j += 3) {
      int j1 = j + 1 < P ? j + 1 : P - 1, j2 = j + 2 < P ? j + 2 : P - 1;
      const double *x0p = bw + (size_t)j * NE_CHUNK, *x1p = bw + (size_t)j1 * NE_CHUNK;
      const double *x2p = bw + (size_t)j2 * NE_CHUNK;
      for (int k0 = j; k0 < P; k0 += 3) {
        int k1 = k0 + 1 < P ? k0 + 1 : P - 1, k2 = k0 + 2 < P ? k0 + 2 : P - 1;
        const double *y0 = B + (size_t)k0 * ldb + c0, *y1 = B + (size_t)k1 * ldb + c0;
        const double *y2 = B + (size_t)k2 * ldb + c0;
        v4d z = {0, 0, 0, 0};
        v4d a00 = z, a01 = z, a02 = z, a10 = z, a11 = z, a12 = z, a20 = z, a21 = z, a22 = z;
        for (size_t i = 0; i < cl; i += 4) {
          v4d x0 = ld4(x0p + i), x1 = ld4(x1p + i), x2 = ld4(x2p + i);
          v4d u0 = ld4(y0 + i), u1 = ld4(y1 + i), u2 = ld4(y2 + i);
          a00 += x0 * u0;
          a01 += x0 * u1;
          a02 += x0 * u2;
          a10 += x1 * u0;
          a11 += x1 * u1;
          a12 += x1 * u2;
          a20 += x2 * u0;
          a21 += x2 * u1;
          a22 += x2 * u2;
        }
        v4d r[3][3] = {{a00, a01, a02}, {a10, a11, a12}, {a20, a21, a22}};
        for (int rr = 0; rr < 3 && j + rr < P; rr++)
          for (int cc = 0; cc < 3 && k0 + cc < P; cc++)
            if (k0 + cc >= j + rr) accM[(size_t)(j + rr) * P + k0 + cc] += r[rr][cc];
      }
    }
    for (int j = 0; j < r0; j++) { /* v sums of the rows the loop above skipped */
      const double *bj = B + (size_t)j * ldb + c0;
      v4d sv = {0, 0, 0, 0};
      for (size_t i = 0; i < cl; i += 4) sv += ld4(bj + i) * ld4(dwb + i);
      accV[j] += sv;
    }
  }
}

/* Lane sums over pixels [0, len), len a multiple of 4, of r^2 with
 * r = D - ws c, c = a_0 B_0 + a_1 B_1 + ... (in that order), ws = t isig. */
RVS_CLONES static void resid_accumulate(const double *B, size_t ldb, int P, const double *a,
                                        const double *t, const double *isig, const double *D,
                                        size_t len, double *lanes) {
  v4d acc = ld4(lanes);
  for (size_t i = 0; i < len; i += 4) {
    v4d c = a[0] * ld4(B + i);
    for (int j = 1; j < P; j++) c += a[j] * ld4(B + (size_t)j * ldb + i);
    v4d ws = ld4(t + i);
    if (isig) ws *= ld4(isig + i);
    v4d r = ld4(D + i) - ws * c;
    acc += r * r;
  }
  st4(lanes, acc);
}

/* Scratch of the blocked kernels, carved from the caller's work buffer. */
typedef struct ne_scratch {
  v4d *accM, *accV;
  double *wb, *dwb, *tail, *bw;
} ne_scratch;

static void ne_scratch_init(ne_scratch *sc, double *mem, int P) {
  sc->accM = (v4d *)mem;
  sc->accV = (v4d *)(mem + 4 * (size_t)P * P);
  sc->wb = mem + 4 * (size_t)P * P + 4 * (size_t)P;
  sc->dwb = sc->wb + NE_CHUNK;
  sc->tail = sc->dwb + NE_CHUNK; /* 4P + 12 */
  sc->bw = sc->tail + 4 * (size_t)P + 12; /* P NE_CHUNK */
}

/* The last n % 4 pixels, zero-padded to one vector (t = 0: no weight). */
static size_t ne_tail(const double *B, size_t n, int P, const double *t, const double *isig,
                      const double *D, double *tail) {
  size_t n4 = n & ~(size_t)3, m = n - n4;
  double *Bt = tail, *tt = tail + 4 * (size_t)P, *it = tt + 4, *Dt = it + 4;
  for (int j = 0; j < P; j++)
    for (size_t q = 0; q < 4; q++) Bt[(size_t)j * 4 + q] = q < m ? B[(size_t)j * n + n4 + q] : 0.0;
  for (size_t q = 0; q < 4; q++) {
    tt[q] = q < m ? t[n4 + q] : 0.0;
    it[q] = q < m && isig ? isig[n4 + q] : 0.0;
    Dt[q] = q < m ? D[n4 + q] : 0.0;
  }
  return m;
}

/* B_0 == 1 at every pixel.  Branch-free and four pixels per vector: an
 * early-exit scalar scan was 3% of a whole fit. */
RVS_CLONES static int basis_row_is_one(const double *B, size_t n) {
  typedef long long v4l_ __attribute__((vector_size(32)));
  const v4d one = {1.0, 1.0, 1.0, 1.0};
  v4l_ all = {-1, -1, -1, -1};
  size_t i = 0;
  for (; i + 4 <= n; i += 4) all &= (v4l_)(ld4(B + i) == one);
  int ok = (all[0] & all[1] & all[2] & all[3]) != 0;
  for (; i < n; i++) ok &= B[i] == 1.0;
  return ok;
}

/* M (both triangles) and v of the normal equations. */
static void normal_equations_blocked(const double *B, size_t n, int P, const double *t,
                                     const double *isig, const double *D, double *M, double *v,
                                     ne_scratch *sc) {
  v4d z = {0, 0, 0, 0};
  for (size_t q = 0; q < (size_t)P * P; q++) sc->accM[q] = z;
  for (int q = 0; q < P; q++) sc->accV[q] = z;
  size_t n4 = n & ~(size_t)3;
  int one0 = basis_row_is_one(B, n); /* B_0 == 1 everywhere: see ne_accumulate */
  if (n4)
    ne_accumulate(B, n, P, t, isig, D, n4, one0, sc->accM, sc->accV, sc->wb, sc->dwb, sc->bw);
  if (ne_tail(B, n, P, t, isig, D, sc->tail)) {
    double *tt = sc->tail + 4 * (size_t)P;
    ne_accumulate(sc->tail, 4, P, tt, isig ? tt + 4 : NULL, tt + 8, 4, 0, sc->accM, sc->accV,
                  sc->wb, sc->dwb, sc->bw);
  }
  for (int j = 0; j < P; j++) {
    for (int k = j; k < P; k++) {
      double m = hsum4(sc->accM[(size_t)j * P + k]);
      M[(size_t)j * P + k] = m;
      M[(size_t)k * P + j] = m;
    }
    v[j] = hsum4(sc->accV[j]);
  }
}

/* ||D - ws c||^2 with c = sum_j a_j B_j; the same per-pixel arithmetic and
 * the same four-lane order as residual_norm2 over combine_basis. */
static double residual_blocked(const double *B, size_t n, int P, const double *a,
                               const double *t, const double *isig, const double *D,
                               ne_scratch *sc) {
  double acc[4] = {0, 0, 0, 0};
  size_t n4 = n & ~(size_t)3;
  if (n4) resid_accumulate(B, n, P, a, t, isig, D, n4, acc);
  for (size_t i = n4; i < n; i++) {
    double c = a[0] * B[i];
    for (int j = 1; j < P; j++) c += a[j] * B[(size_t)j * n + i];
    double ws = isig ? t[i] * isig[i] : t[i];
    double r = D[i] - ws * c;
    acc[0] += r * r;
  }
  (void)sc;
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
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
  double *wsa = work;         /* t / sigma (no isig given) */
  double *Da = wsa + n;       /* d / sigma (no D given) */
  double *c = Da + n;         /* sum_j a_j B_j (full output) */
  double *M = c + n;          /* P*P */
  double *v = M + (size_t)P * P;
  double *a = v + P;
  double *lwork = a + P;      /* rvs_spd_work_size(P) = 3P^2 + 2P */
  ne_scratch sc;
  ne_scratch_init(&sc, lwork + 3 * (size_t)P * P + 2 * (size_t)P, P);

  /* the blocked kernels form ws = t * isig on the fly (isig given), or
   * read ws = t / sigma precomputed here (isig == NULL: "t" is ws) */
  const double *tk = t, *ik = isig, *D = Dpre;
  if (!Dpre) {
    for (size_t i = 0; i < n; i++) {
      Da[i] = d[i] / sigma[i];
      wsa[i] = t[i] / sigma[i];
    }
    tk = wsa;
    ik = NULL;
    D = Da;
  }

  normal_equations_blocked(B, n, P, tk, ik, D, M, v, &sc);
  double logdet;
  int st = solve_normal(M, P, v, a, &logdet, lwork);
  int fallback = (st == RVS_SPD_FALLBACK);
  int solved = (st >= 0);
  double val = NAN;
  if (solved) {
    val = logdet + 2 * lsig + residual_blocked(B, n, P, a, tk, ik, D, &sc);
    if (!isfinite(val) && !fallback) {
      /* upstream: a non-finite Cholesky result is retried with the SVD */
      fallback = 1;
      solved = rvs_sym_pinv_solve_logdet(M, P, v, a, &logdet, lwork + (size_t)P * P) == RVS_OK;
      if (solved)
        val = logdet + 2 * lsig + residual_blocked(B, n, P, a, tk, ik, D, &sc);
      else
        val = NAN;
    }
  }
  *m2lnl = val;
  if (full) {
    full->used_fallback = fallback;
    for (int j = 0; j < P; j++) full->coeffs[j] = solved ? a[j] : NAN;
    if (solved) combine_basis(B, n, P, a, c);
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
