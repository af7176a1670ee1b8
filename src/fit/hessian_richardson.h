/* Fallback Hessian of upstream vel_fit.process (ALGORITHM.md §4.3 step 10):
 * when the first Hessian is bad, upstream calls numdifftools' Hessian(f) with
 * its default settings (numdifftools 0.11.2: method 'central', order 2,
 * MaxStepGenerator(base_step=2, step_ratio=1.6, num_steps=15), Richardson
 * with 2 terms, Wynn's epsilon (dea3), outlier trimming and a min-error pick).
 * This module reproduces that estimate without callbacks: ask for the points,
 * evaluate them all (in any way, e.g. as one batch), then assemble.
 *
 * Steps, per coordinate i and step k = 0..14:
 *   nom_i  = max(log(1.718281828459045 + |x_i|), 1)
 *   h_ki   = (2 nom_i) * 1.6^-k            (no make-exact rounding here)
 *
 * Point order (it is the order of numdifftools' own calls):
 *   point 0: x;
 *   then for k = 0..14, for i = 0..n-1:
 *     x + 2h_ki e_i, x - 2h_ki e_i,
 *     then for each j = i+1..n-1:
 *       (x_i+h_ki, x_j+h_kj), (x_i+h_ki, x_j-h_kj),
 *       (x_i-h_ki, x_j+h_kj), (x_i-h_ki, x_j-h_kj).
 * That is 2n^2 points per step and 30 n^2 + 1 in all (n = 4: 481).
 * Like numdifftools, the untouched coordinates are x_m + 0.0 (only a -0.0
 * would change, into +0.0).
 *
 * Given the same function values the result has the same bits as
 * numdifftools' (tests/test_hessian_richardson.c checks this).  One caveat:
 * numpy's vectorised log may differ from libm's by 1 ulp (about 1 x in 1500),
 * and then the steps, hence the values, differ in the last bit. */
#ifndef RVS_FIT_HESSIAN_RICHARDSON_H
#define RVS_FIT_HESSIAN_RICHARDSON_H

#define RVS_HESSIAN_DEFAULT_MAXN 8
#define RVS_HESSIAN_DEFAULT_NSTEPS 15

/* Number of evaluation points for dimension n (30 n^2 + 1); RVS_ERR_ARG
 * (negative) unless 1 <= n <= RVS_HESSIAN_DEFAULT_MAXN. */
int rvs_hessian_default_npoints(int n);

/* The step of every coordinate at every step index, row-major
 * [RVS_HESSIAN_DEFAULT_NSTEPS][n].  RVS_ERR_ARG for a bad n or a non-finite
 * x (numdifftools would yield no step or nonsense there). */
int rvs_hessian_default_steps(const double *x, int n, double *steps);

/* All evaluation points, row-major [npoints][n], in the order above. */
int rvs_hessian_default_points(const double *x, int n, double *pts);

/* numdifftools' Hessian estimate H (n x n, row-major, symmetric) from the
 * function values at the points of rvs_hessian_default_points (fvals[p] is
 * f(pts[p])).  Non-finite values are handled as numdifftools does (NaN-aware
 * percentiles and minimum); they never make this fail. */
int rvs_hessian_default_assemble(const double *x, int n, const double *fvals, double *H);

/* The same with numdifftools' full_output extras, each skipped when NULL:
 * err (n x n) its error_estimate, and best (n x n) the candidate it chose,
 * best_index // n^2 in numdifftools: 0..10, where candidate l is the Wynn
 * (dea3) extrapolation of the Richardson values built from steps l..l+4. */
int rvs_hessian_default_assemble_full(const double *x, int n, const double *fvals, double *H,
                                      double *err, int *best);

#endif
