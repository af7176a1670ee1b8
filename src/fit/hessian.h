/* Central-difference Hessian exactly as upstream's numdifftools call
 * (ALGORITHM.md §4.3 step 10: MinStepGenerator, one step, no Richardson) and
 * the parameter uncertainties derived from it (step 11). */
#ifndef RVS_FIT_HESSIAN_H
#define RVS_FIT_HESSIAN_H

/* Number of evaluation points: 2n^2+1. */
static inline int rvs_hessian_npoints(int n) { return 2 * n * n + 1; }

/* Steps h_i = b_i * max(ln(e-1+|x_i|), 1), made exact as (h+1)-1, with base
 * steps b by parameter name: teff 0.01, logg 0.001, feh 0.001, alpha 0.0001,
 * vsini 0.01, vrad 0.01.  An unknown name gets 0.001 (upstream raises
 * KeyError there). */
void rvs_hessian_steps(const double *x, const char (*names)[16], int n, double *h);

/* The 2n^2+1 points, row-major: x; then x +- 2h_i e_i for each i; then for
 * each pair i<j: (+h_i,+h_j), (+h_i,-h_j), (-h_i,+h_j), (-h_i,-h_j). */
void rvs_hessian_points(const double *x, const double *h, int n, double *pts);

/* H (n x n) from the values at those points. */
void rvs_hessian_assemble(const double *f, const double *h, int n, double *H);

/* err_i and covariance C = inv(H) with upstream's fallbacks; *bad set when
 * the inversion failed, a variance is negative or an error is not finite. */
void rvs_uncertainties_from_hessian(const double *H, int n, double *err, double *covar, int *bad);

#endif
