/* One spectrum's maximum-likelihood fit (upstream vel_fit.process,
 * ALGORITHM.md §4.3) as an ask/tell state machine:
 *
 *   1. velocity-grid scan with the starting template      (find_best)
 *   2. Nelder-Mead over [vel, (vsini), free params], one restart
 *   3. BFGS from the Nelder-Mead point (second_minimizer)
 *   4. the RV-error sampler with the template fixed
 *   5. full output at the sampler velocity
 *   6. Hessian of 0.5*(priors + get_chisq) over the atmospheric parameters
 *   7. continuum-only fit (for CHISQ_C_* and CHISQ_WARN)
 *
 * rvs_fit_ask() returns the batch of likelihood requests the fit needs now;
 * rvs_fit_tell() takes their results.  A fit owns no threads and does no I/O. */
#ifndef RVS_FIT_PROCESS_H
#define RVS_FIT_PROCESS_H

#include "fit/bfgs.h"
#include "fit/eval.h"
#include "fit/nelder_mead.h"
#include "fit/velgrid.h"

typedef struct rvs_fit_config {
  double min_vel, max_vel, vel_step0, min_vel_step, max_vsini;
  int second_minimizer;
  int nparam;                          /* atmospheric parameters of the interpolator */
  char parnames[RVS_MAXPAR][16];       /* "teff", "logg", "feh", "alpha", ... */
  unsigned fixed;                      /* bit i: parameter i fixed at params0[i] */
  int fix_vsini;                       /* vsini (if given) held fixed */
  int has_prior[RVS_MAXPAR];
  double prior_mu[RVS_MAXPAR], prior_sigma[RVS_MAXPAR];
} rvs_fit_config;

typedef struct rvs_fit_result {
  double vel, vel_err, vel_skewness, vel_kurtosis;
  int has_vsini;                       /* vsini was fitted (reported) */
  double vsini;
  double param[RVS_MAXPAR], param_err[RVS_MAXPAR];
  double param_covar[RVS_MAXPAR * RVS_MAXPAR];
  int minimize_success, bad_hessian;
  double chisq, logl;                  /* -2 ln L at the reported point, and -chisq/2 */
  int narms;
  double chisq_arm[RVS_MAXARMS], chisq_c_arm[RVS_MAXARMS];
  long npix_arm[RVS_MAXARMS];
  double vel_optimizer;                /* the minimiser's velocity (Hessian point) */
  long nrequests;                      /* likelihood evaluations asked for */
  long nrequests_hessian;              /* ... of them for the Hessian (33 or 33+481 for n=4) */
  int parabola_failed;                 /* a grid parabola failed (upstream would raise) */
  int status;                          /* RVS_OK or the error that stopped the fit */
} rvs_fit_result;

typedef struct rvs_fit {
  rvs_fit_config cfg;
  int slot;
  int stage;
  double params0[RVS_MAXPAR];
  int have_vsini0;
  double vsini0;
  int fit_vsini;
  int ndim;                            /* optimiser dimension */
  /* requests of the current ask, and where their results go */
  rvs_eval_request *req;
  int nreq, cap;
  double pts[(RVS_NM_MAXDIM + 1) * RVS_NM_MAXDIM + 64];
  int npts;
  double fvals[RVS_NM_MAXDIM + 1 + 64];
  int req_of_pt[RVS_NM_MAXDIM + 1 + 64]; /* -1: value known without a request (wall) */
  double prior_of_pt[RVS_NM_MAXDIM + 1 + 64];   /* Gaussian priors */
  double penalty_of_pt[RVS_NM_MAXDIM + 1 + 64]; /* vsini clipping penalty */
  double *grid;                        /* velocity grid of a scan */
  long ngrid;
  rvs_nm nm;
  int nm_run;
  rvs_bfgs bfgs;
  rvs_velsampler sampler;
  double x_opt[RVS_NM_MAXDIM];
  double hess_h[RVS_MAXPAR];
  rvs_fit_result res;
} rvs_fit;

/* params0: starting atmospheric parameters (all nparam, raw).  vsini0 < 0 or
 * NaN: no rotation (vsini not fitted). */
int rvs_fit_init(rvs_fit *f, const rvs_fit_config *cfg, int slot, const double *params0,
                 double vsini0);

/* The requests needed now (valid until the next tell); 0 when the fit is done. */
int rvs_fit_ask(rvs_fit *f, const rvs_eval_request **req);

/* Results of the last ask, one per request, in order. */
int rvs_fit_tell(rvs_fit *f, const rvs_eval_result *res);

const rvs_fit_result *rvs_fit_get_result(const rvs_fit *f);

/* What the current requests are for (for time accounting). */
enum { RVS_PHASE_SCAN = 0, RVS_PHASE_MINIMISER, RVS_PHASE_SAMPLER, RVS_PHASE_HESSIAN,
       RVS_PHASE_OTHER, RVS_NPHASES };
int rvs_fit_stage(const rvs_fit *f);
void rvs_fit_free(rvs_fit *f);

/* The fit configuration from upstream-style settings: parameter names of the
 * interpolator, config values; nothing fixed, no priors. */
void rvs_fit_config_default(rvs_fit_config *c, int nparam, const char *const *parnames);

/* Upstream's deterministic Nelder-Mead start: rows of N(0,1) draws of
 * RandomState(43434) (ALGORITHM.md §4.3 step 4); n*n values for dimension n. */
extern const double rvs_simplex_normals[];
extern const int rvs_simplex_normals_count;

#endif
