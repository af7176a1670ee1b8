/* The CCF initialiser (upstream fitter_ccf.fit, ALGORITHM.md §4.1) on the CPU:
 * data preprocessing (median filter mask, robust continuum, resampling onto
 * the bank's ln-lambda grid), FFT cross-correlation against every bank model
 * of every arm, chi-square summed over arms on a common velocity grid, and
 * the best template / vsini / velocity.
 *
 * Fix of upstream's lag scale (ALGORITHM.md §7.4): the velocity step of one
 * lag is (exp((logl1-logl0)/(npoints-1)) - 1)*c with c = 299792.458 km/s,
 * the true spacing of the grid (upstream divides by npoints and uses 3e5). */
#ifndef RVS_BACKEND_CPU_CCF_H
#define RVS_BACKEND_CPU_CCF_H

#include "fit/eval.h"
#include "templates/ccf_bank.h"

#include <stddef.h>

typedef struct rvs_ccf_arm {
  const rvs_ccf_bank *bank;     /* bank of this arm's setup */
  size_t n;
  const double *lam, *spec, *espec;
  const unsigned char *badmask; /* may be NULL */
} rvs_ccf_arm;

typedef struct rvs_ccf_result {
  size_t best_id;               /* model index in the banks */
  double best_vel;              /* km/s (VRAD_CCF) */
  double best_chisq;
  double vsini;                 /* NaN: the bank has no vsini (upstream None) */
  int nparam;
  double params[RVS_MAXPAR];    /* raw parameters of the best model */
} rvs_ccf_result;

/* max_vel: config max_vel (0 -> 1000); vel_step0: config vel_step0 (0 -> 2). */
int rvs_ccf_fit(const rvs_ccf_arm *arms, int narms, double max_vel, double vel_step0,
                rvs_ccf_result *res);

/* Data preprocessing of one arm (upstream make_ccf.preprocess_data, maxerr 10):
 * flux and ivar on the bank grid (npoints each). */
int rvs_ccf_preprocess_data(const rvs_ccf_conf *conf, const double *lam, const double *spec,
                            const double *espec, const unsigned char *badmask, size_t n,
                            double *flux_out, double *ivar_out);

#endif
