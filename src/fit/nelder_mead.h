/* Nelder-Mead minimiser as an ask/tell state machine.
 *
 * Exactly scipy.optimize.minimize(method='Nelder-Mead', adaptive=False) with
 * an initial simplex (upstream rvspecfit's call, ALGORITHM.md §4.3 step 5):
 * rho=1, chi=2, psi=0.5, sigma=0.5; stop when max|sim[1:]-sim[0]| <= xatol
 * and max|f0-f[1:]| <= fatol; at most maxiter-1 iterations.  The machine
 * never calls the objective: rvs_nm_ask() hands out the points it needs
 * (n+1 at the start, 1 per reflection/expansion/contraction, n for a shrink)
 * and rvs_nm_tell() takes their values, so many fits can be evaluated in one
 * batch.  The points of one ask are independent, so evaluating them in any
 * order (or in parallel) gives scipy's path exactly. */
#ifndef RVS_FIT_NELDER_MEAD_H
#define RVS_FIT_NELDER_MEAD_H

#define RVS_NM_MAXDIM 12

typedef enum rvs_nm_state {
  RVS_NM_EVAL_SIMPLEX = 0, /* waiting for the n+1 vertex values */
  RVS_NM_REFLECT,          /* waiting for f(xr) */
  RVS_NM_EXPAND,           /* waiting for f(xe) */
  RVS_NM_CONTRACT_OUT,     /* waiting for f(xc) */
  RVS_NM_CONTRACT_IN,      /* waiting for f(xcc) */
  RVS_NM_SHRINK,           /* waiting for the n shrunk vertices */
  RVS_NM_DONE
} rvs_nm_state;

typedef struct rvs_nm {
  int n;
  rvs_nm_state state;
  double sim[RVS_NM_MAXDIM + 1][RVS_NM_MAXDIM];
  double fsim[RVS_NM_MAXDIM + 1];
  double xbar[RVS_NM_MAXDIM];
  double xr[RVS_NM_MAXDIM], fxr;
  double xtrial[RVS_NM_MAXDIM]; /* xe, xc or xcc */
  double xatol, fatol;
  long maxiter;
  long iterations; /* as scipy: starts at 1 */
  long nfev;
  int success;     /* valid once DONE: 0 if maxiter was hit */
} rvs_nm;

/* Start from `simplex` ((n+1) x n, row-major).  Returns RVS_OK or RVS_ERR_ARG. */
int rvs_nm_init(rvs_nm *nm, int n, const double *simplex, double xatol, double fatol,
                long maxiter);

/* Points needed now: writes them row-major into `points` (room for
 * (n+1)*n doubles) and returns their count; 0 when the minimiser is done. */
int rvs_nm_ask(const rvs_nm *nm, double *points);

/* Give the values of the points of the last ask, in the same order. */
void rvs_nm_tell(rvs_nm *nm, const double *fvals);

/* Best point and value (valid at any time after the first tell). */
const double *rvs_nm_best(const rvs_nm *nm, double *fbest);

#endif
