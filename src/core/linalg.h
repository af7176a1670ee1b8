/* Small dense linear algebra for the continuum solve (P <= ~20) and for
 * Hessians.  Matrices are row-major n x n: A[i*n + j].
 *
 * Robust fallback (rvs_spd_solve_logdet): upstream solves the normal matrix
 * M = S S^T by SVD, M = U diag(s) V^T, ln det = sum ln s, x = V diag(1/s) U^T b.
 * For a symmetric M the SVD is the eigen-decomposition with s = |lambda| and
 * V = U sign(lambda), so the same answer is ln det = sum ln|lambda| and
 * x = sum_k (e_k . b / lambda_k) e_k.  We compute the eigenpairs with cyclic
 * Jacobi rotations (accurate, no LAPACK needed, trivially ported to a GPU
 * thread).  Where upstream would divide by an eigenvalue that is zero to
 * working precision (|lambda| <= n * DBL_EPSILON * max|lambda|) and return
 * noise or inf, we drop that direction from the solve (pseudo-inverse) and
 * floor |lambda| at that threshold in ln det, so a rank-deficient system still
 * gives a finite, reproducible value. */
#ifndef RVS_CORE_LINALG_H
#define RVS_CORE_LINALG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return value of rvs_spd_solve_logdet when the eigen fallback was used. */
#define RVS_SPD_FALLBACK 1

/* Largest n for which the routines below need no heap memory. */
#define RVS_LINALG_STACK_N 32

/* Cholesky A = L L^T in place: the lower triangle (incl. diagonal) of A is
 * replaced by L; the strict upper triangle is left untouched (never read).
 * Returns RVS_OK, or RVS_ERR_NUMERIC when a pivot is not finite or not above
 * n * DBL_EPSILON * A_jj (A not SPD, or so ill-conditioned, cond >~ 1/(n eps),
 * that the pivot is rounding noise; np.linalg.cholesky would only reject
 * pivots <= 0).  No error message is set (hot path). */
int rvs_chol_factor(double *A, int n);

/* ln det A = 2 sum ln L_ii for the factor from rvs_chol_factor. */
double rvs_chol_logdet(const double *L, int n);

/* Solve L L^T x = b in place (b becomes x). */
void rvs_chol_solve(const double *L, int n, double *b);

/* Eigen-decomposition of the symmetric matrix A (only the lower triangle is
 * read) by cyclic Jacobi rotations.  evals[k] sorted descending; evecs is
 * row-major n x n with eigenvector k in column k (evecs[i*n + k]), as numpy.
 * Returns RVS_OK, RVS_ERR_ARG, RVS_ERR_NOMEM, or RVS_ERR_NUMERIC (non-finite
 * input, or no convergence). */
int rvs_sym_eig(const double *A, int n, double *evals, double *evecs);

/* Same, with caller scratch of rvs_sym_eig_work_size(n) doubles (no
 * allocation). */
size_t rvs_sym_eig_work_size(int n);
int rvs_sym_eig_work(const double *A, int n, double *evals, double *evecs,
                     double *work);

/* Solve A x = b for a symmetric (ideally SPD) A and give ln det A: Cholesky
 * first; on failure or a non-finite result, the eigen fallback described at
 * the top of this file (ln det = sum ln|lambda|).  Returns RVS_OK (0) when the
 * Cholesky path was used, RVS_SPD_FALLBACK (1) when the eigen path was used,
 * or a negative RVS_ERR_* (message set) when even the fallback fails. */
int rvs_spd_solve_logdet(const double *A, int n, const double *b, double *x,
                         double *logdet);

/* Same with caller scratch of rvs_spd_work_size(n) doubles (no allocation;
 * sets no error message on the fallback-fails path, returns RVS_ERR_NUMERIC). */
size_t rvs_spd_work_size(int n);
int rvs_spd_solve_logdet_work(const double *A, int n, const double *b,
                              double *x, double *logdet, double *work);

/* The eigen fallback alone (work: rvs_spd_work_size(n) doubles).  Returns
 * RVS_OK or RVS_ERR_NUMERIC (non-finite result); no message set. */
int rvs_sym_pinv_solve_logdet(const double *A, int n, const double *b,
                              double *x, double *logdet, double *work);

/* LU factorisation with partial pivoting, in place (unit-lower L and U share
 * A); piv[k] = row swapped with row k.  RVS_ERR_NUMERIC if exactly singular
 * or non-finite.  No message set. */
int rvs_lu_factor(double *A, int n, int *piv);
/* Solve with the factors of rvs_lu_factor, b overwritten by x. */
void rvs_lu_solve(const double *LU, int n, const int *piv, double *b);

/* General inverse by Gauss-Jordan elimination with partial pivoting.
 * Ainv may alias A.  Returns RVS_OK, RVS_ERR_ARG, RVS_ERR_NOMEM, or
 * RVS_ERR_NUMERIC (singular to working precision; message set). */
int rvs_matrix_inverse(const double *A, int n, double *Ainv);

#ifdef __cplusplus
}
#endif
#endif
