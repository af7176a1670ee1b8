/* Likelihood with the linear continuum marginalised (ALGORITHM.md 3.5, 3.8).
 *
 * One arm: data d, error sigma, template t (already on the observed pixels,
 * after vsini, Doppler and resolution), basis B [P][n] row-major.
 *   D = d/sigma, S_j = B_j t/sigma, v = S D, M = S S^T, a = M^-1 v,
 *   -2 ln L = ln det M + 2 sum ln sigma_i + ||D - S^T a||^2
 * (the residual computed explicitly, as upstream's fast path).  M is solved
 * by Cholesky; on failure or a non-finite value, by the symmetric eigen
 * fallback of core/linalg.h (upstream's SVD semantics; near-zero eigenvalues
 * dropped from the solve and floored in ln det, see linalg.h).
 *
 * Unlike upstream, the full-output call uses the same Cholesky-then-fallback
 * solve as the fast call (upstream always uses SVD there), so the -2 ln L of
 * a full-output call equals that of a fast call at the same point.
 *
 * Hot path: with a caller work buffer no function here allocates.  M, v and
 * the residual are accumulated by blocked kernels (chisq.c): pixels in
 * blocks of 128 that stay in L1, four pixels per vector, 3x3 tiles of
 * (j, k) pairs in registers; sums per lane in pixel order, lanes joined in a
 * fixed order, so reruns (and the SSE2/AVX2 clones, core/simd.h) give
 * identical bits.
 *
 * The summation order is part of the definition, and the CUDA backend
 * repeats it exactly (identical -2 ln L on both backends):
 *   per element of M and v, per lane q = i % 4: for each block of
 *   RVS_NE_BLOCK pixels of [0, n4) (n4 = n & ~3, the last block shorter),
 *   then one block of the pixels [n4, n): a partial sum from 0 over the
 *   block's pixels of lane q in order, added to the lane's running sum;
 *   the lanes joined as (l0 + l1) + (l2 + l3).  Products: ws = t isig,
 *   w = ws ws, M_jk += (B_j w) B_k, v_j += B_j (D ws).
 *   Residual: per lane q, r_i^2 (r_i = D_i - ws_i c_i, c_i = a_0 B_0i +
 *   a_1 B_1i + ... in order) summed in pixel order over [0, n4); then the
 *   pixels [n4, n) added to lane 0 in order; lanes joined as above. */
#ifndef RVS_CORE_CHISQ_H
#define RVS_CORE_CHISQ_H

#include <stddef.h>

/* Pixels per block of the normal-equation sums (see above). */
#define RVS_NE_BLOCK 128

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rvs_chisq_full {
  double *coeffs;     /* [P], caller-owned, required */
  double *model;      /* [n] = sum_j a_j B_j t, caller-owned; may be NULL */
  double true_chisq;  /* sum over ~badmask of ((model - d)/sigma_true)^2 */
  long npix;          /* number of pixels with badmask == 0 */
  int used_fallback;  /* 1 if the eigen fallback solved M */
} rvs_chisq_full;

/* Scratch (in doubles) needed by rvs_marg_chisq. */
size_t rvs_marg_chisq_work_size(size_t n, int P);

/* -2 ln L into *m2lnl.  full == NULL: fast path.  badmask (NULL = all good)
 * and sigma_true (NULL = sigma) are used only for true_chisq/npix.  work: at
 * least rvs_marg_chisq_work_size(n, P) doubles, or NULL to allocate.
 * Returns RVS_OK; RVS_ERR_NUMERIC (message set, *m2lnl non-finite) when the
 * value is not finite even after the fallback (e.g. t == 0 everywhere, NaN
 * in the data); RVS_ERR_ARG / RVS_ERR_NOMEM. */
int rvs_marg_chisq(const double *d, const double *sigma, const double *t,
                   const double *B, size_t n, int P, double *m2lnl,
                   rvs_chisq_full *full, const unsigned char *badmask,
                   const double *sigma_true, double *work);

/* The same with per-spectrum constants precomputed by the caller (the hot
 * path of a backend: no division or log per pixel): D = d/sigma,
 * inv_sigma = 1/sigma, sum_ln_sigma = sum_i ln sigma_i.  t/sigma is formed
 * as t*inv_sigma, so the value can differ from rvs_marg_chisq in the last
 * bits. */
int rvs_marg_chisq_sig(const double *d, const double *sigma, const double *D,
                       const double *inv_sigma, double sum_ln_sigma, const double *t,
                       const double *B, size_t n, int P, double *m2lnl, rvs_chisq_full *full,
                       const unsigned char *badmask, double *work);

/* Continuum-only fit (upstream get_chisq_continuum for one arm): the same
 * solve with t = 1 (Rone == NULL) or t = R @ 1 (Rone given).  Fills full
 * (coeffs required, model optional, true_chisq over ~badmask with sigma,
 * npix); m2lnl may be NULL.  work: rvs_marg_chisq_continuum_work_size(n, P)
 * doubles or NULL. */
size_t rvs_marg_chisq_continuum_work_size(size_t n, int P);
int rvs_marg_chisq_continuum(const double *d, const double *sigma,
                             const double *Rone, const double *B, size_t n,
                             int P, const unsigned char *badmask,
                             rvs_chisq_full *full, double *m2lnl, double *work);

/* Precomputed variant for batching: per spectrum Q_jk[i] = B_j B_k / sigma^2
 * (j <= k, packed in the order (0,0),(0,1)..(0,P-1),(1,1)..), r_j[i] =
 * B_j d / sigma^2, DtD = sum d^2/sigma^2 and sum ln sigma.  Then per template
 * M_jk = sum_i Q_jk[i] t_i^2, v_j = sum_i r_j[i] t_i and
 *   -2 ln L = ln det M + 2 sum ln sigma + DtD - v^T a.
 * The residual DtD - v^T a is algebraically equal to ||D - S^T a||^2 but not
 * numerically: it loses digits by cancellation when the fit is good (DtD and
 * v^T a nearly equal), so agreement with rvs_marg_chisq is ~1e-9 relative on
 * well-conditioned cases, not bit-level. */
typedef struct rvs_chisq_pre {
  size_t n;
  int P;
  double *Q;   /* [P(P+1)/2][n] */
  double *r;   /* [P][n] */
  double DtD;
  double sum_log_sigma;
} rvs_chisq_pre;

int rvs_chisq_pre_init(rvs_chisq_pre *pre, const double *d, const double *sigma,
                       const double *B, size_t n, int P);
void rvs_chisq_pre_free(rvs_chisq_pre *pre);

/* Scratch (doubles) for rvs_marg_chisq_pre. */
size_t rvs_marg_chisq_pre_work_size(int P);

/* coeffs [P] and used_fallback may be NULL.  work may be NULL (allocates).
 * Returns as rvs_marg_chisq. */
int rvs_marg_chisq_pre(const rvs_chisq_pre *pre, const double *t, double *m2lnl,
                       double *coeffs, int *used_fallback, double *work);

#ifdef __cplusplus
}
#endif
#endif
