/* Instrument resolution as a banded N x N matrix (ALGORITHM.md 3.4, 5.4).
 *
 * Storage: row i holds nd = 2*half+1 taps, w[i*nd + m] = R[i, i + m - half]
 * (m = 0..nd-1).  Cells whose column falls outside 0..n-1 are always zero.
 * Applying R costs O(nd * n) with contiguous access. */
#ifndef RVS_CORE_RESOLUTION_H
#define RVS_CORE_RESOLUTION_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rvs_banded {
  size_t n;  /* matrix size */
  int nd;    /* taps per row (odd) */
  int half;  /* (nd - 1) / 2 */
  double *w; /* [n][nd] */
} rvs_banded;

/* Number of taps of DESI resolution data (diagonals +5..-5). */
#define RVS_DESI_NDIAG 11

/* Allocate n rows of nd taps (nd odd, >= 1), zero-filled. Frees nothing;
 * call rvs_banded_free on the result. */
int rvs_banded_alloc(rvs_banded *b, size_t n, int nd);
void rvs_banded_free(rvs_banded *b);

/* out = R @ in (out must not alias in). */
void rvs_banded_apply(const rvs_banded *R, const double *in, double *out);

/* The same product from a diagonal-major copy of the taps (the hot path of a
 * backend: four rows per vector instruction).  rvs_banded_diag_alloc returns
 * wt[m*n + i] = w[i*nd + m] (malloc'd, NULL when out of memory);
 * rvs_banded_apply_diag gives bit-for-bit the result of rvs_banded_apply
 * (same products, summed per row in the same order). */
double *rvs_banded_diag_alloc(const rvs_banded *R);
void rvs_banded_apply_diag(const rvs_banded *R, const double *wt, const double *in, double *out);

/* Row-normalised Gaussian resolution matrix (upstream construct_resol_mat)
 * with per-pixel width sigma_angstrom[i] (the width of row i).  The band
 * half-width is upstream's: the largest, over rows, number of pixels within
 * 5 sigma on either side (computed with searchsorted semantics, so it can
 * include one pixel past 5 sigma on the right), capped at n; every row uses the
 * whole band (rows of narrower sigma are not cut at their own 5 sigma), exactly
 * as upstream.  lam must be strictly increasing; sigma > 0. */
int rvs_banded_gaussian(const double *lam, size_t n, const double *sigma_angstrom,
                        rvs_banded *out);

/* Same with sigma_i = lam_i / R(lam_i) / 2.35 (upstream's constant), R given
 * by a callback (e.g. an expression evaluator of x = lam). */
int rvs_banded_gaussian_R(const double *lam, size_t n,
                          double (*Rfun)(double lam, void *ctx), void *ctx,
                          rvs_banded *out);

/* DESI data rdata[k*n + j] (k = 0..10, the file's [11][N] float32 layout) is
 * diagonal offset o_k = 5 - k in scipy DIA convention: element (k, j) is matrix
 * cell (j - o_k, j).  Plain conversion into an 11-tap band; cells outside the
 * matrix are zero whatever the file holds there. */
int rvs_desi_resolution_to_banded(const float *rdata, size_t n, rvs_banded *out);

/* Upstream construct_resolution_sparse_matrix (desi_fit.py): band the data,
 * zero the out-of-range cells, deconvolve every 11-tap row r by the template
 * LSF (r' = G^-1 r, G[i][x] = exp(-((x-i)/s)^2/2)/(sqrt(2 pi) s), i,x = 0..10,
 * s = lsf_sigma0 / pix_step), then rescale the 5 edge rows at each end so
 * that their in-range taps sum to the median (over all rows) of the full
 * 11-tap sums (1 if the median is 0).  Interior rows are not renormalised.
 * Deviation from upstream (ALGORITHM 7.5): upstream leaves one out-of-range
 * cell per left-edge row (m = 4 - i, rows 0..4) holding a value wrapped around
 * from the far end of the array before deconvolving; we zero ALL out-of-range
 * cells on both edges.  Requires n >= 11. */
int rvs_desi_resolution_prepare(const float *rdata, size_t n,
                                double pix_step_angstrom,
                                double lsf_sigma0_angstrom, rvs_banded *out);

#ifdef __cplusplus
}
#endif
#endif
