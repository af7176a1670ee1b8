/* BFGS minimiser as an ask/tell state machine.
 *
 * Follows scipy.optimize.minimize(method='BFGS') as upstream rvspecfit calls
 * it (ALGORITHM.md §4.3 step 6): forward-difference gradient with absolute
 * step eps = sqrt(2.2e-16), gtol 1e-5 on the infinity norm, maxiter 200*n,
 * optional initial inverse Hessian `hess_inv0`, strong-Wolfe line search by
 * MINPACK's DCSRCH (scipy line_search_wolfe1) with the fallback to
 * line_search_wolfe2 (bracketing + zoom), and scipy's one-point function
 * cache, so the sequence of evaluated points is scipy's.  (Matrix-vector
 * products may differ from numpy's BLAS in the last bit.)
 *
 * rvs_bfgs_ask() hands out the points needed now: f at a point, the n
 * forward-difference points of a gradient, or both at once (1+n points). */
#ifndef RVS_FIT_BFGS_H
#define RVS_FIT_BFGS_H

#define RVS_BFGS_MAXDIM 12

typedef struct rvs_dcsrch {
  int brackt, stage;
  double ginit, gtest, gx, gy, finit, fx, fy, stx, sty, stmin, stmax, width, width1;
  double ftol, gtol, xtol, stpmin, stpmax;
} rvs_dcsrch;

typedef struct rvs_bfgs {
  int n;
  int state;   /* internal resume point */
  int done;
  int warnflag; /* 0 success, 1 maxiter, 2 precision loss / line search failed, 3 NaN */
  long k, maxiter, nfev;
  double eps, gtol, c1, c2;
  double x[RVS_BFGS_MAXDIM];     /* current iterate xk */
  double g[RVS_BFGS_MAXDIM];     /* gradient at xk */
  double H[RVS_BFGS_MAXDIM][RVS_BFGS_MAXDIM];
  double pk[RVS_BFGS_MAXDIM];
  double old_fval, old_old_fval, gnorm;
  /* scipy ScalarFunction's one-point cache */
  double cx[RVS_BFGS_MAXDIM], cf, cg[RVS_BFGS_MAXDIM];
  int c_has_x, c_f_ok, c_g_ok;
  /* the pending evaluation */
  double ex[RVS_BFGS_MAXDIM];
  int need_f, need_g;
  /* line search state (shared by wolfe1/wolfe2/zoom) */
  double derphi0, phi0, old_phi0, alpha1, alpha0, phi_a0, phi_a1, derphi_a0, derphi_a1;
  double stp, phi1, derphi1;
  int ls_iter;
  rvs_dcsrch dc;
  int dc_task;
  double a_lo, a_hi, phi_lo, phi_hi, derphi_lo, phi_rec, a_rec, a_j, phi_aj;
  int z_iter;
  double ls_alpha, ls_phi, ls_phi0; /* line-search result */
  int ls_have_grad;
  double ls_g[RVS_BFGS_MAXDIM];
} rvs_bfgs;

/* Start at x0.  hess_inv0 (n x n row-major, symmetric positive definite) may
 * be NULL for the identity.  maxiter <= 0 means scipy's default 200*n. */
int rvs_bfgs_init(rvs_bfgs *b, int n, const double *x0, const double *hess_inv0, long maxiter);

/* Points needed now (row-major into `points`, room for (n+1)*n doubles);
 * returns their count, 0 when done. */
int rvs_bfgs_ask(const rvs_bfgs *b, double *points);

/* Values of the points of the last ask, in order. */
void rvs_bfgs_tell(rvs_bfgs *b, const double *fvals);

/* Result: the iterate and its function value (scipy's res.x and res.fun). */
const double *rvs_bfgs_result(const rvs_bfgs *b, double *fval);

#endif
