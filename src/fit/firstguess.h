/* Brute-force starting point (upstream vel_fit.firstguess, ALGORITHM.md §4.2,
 * DESI --param_init bruteforce): a coarse template grid
 * logg {1..5} x teff {3000,5000,8000,10000} x feh {-2,-1,0} x alpha {0},
 * for vsini in {none, 10, 100}, scanned over arange(min_vel, max_vel,
 * vel_step0); the lowest chi-square wins. */
#ifndef RVS_FIT_FIRSTGUESS_H
#define RVS_FIT_FIRSTGUESS_H

#include "fit/eval.h"
#include "fit/process.h"

/* Requests for one vsini round (ivsini = 0, 1, 2): count, then fill. */
long rvs_firstguess_count(const rvs_fit_config *cfg);
int rvs_firstguess_requests(const rvs_fit_config *cfg, int slot, int ivsini, rvs_eval_request *req);

typedef struct rvs_firstguess {
  double best_chi;
  double params[RVS_MAXPAR];
  double vsini;     /* -1: none */
  int have;
} rvs_firstguess;

void rvs_firstguess_init(rvs_firstguess *fg);
/* Take the results of round ivsini (requests as filled above). */
int rvs_firstguess_tell(rvs_firstguess *fg, const rvs_fit_config *cfg, int ivsini,
                        const rvs_eval_result *res);

#define RVS_FIRSTGUESS_NVSINI 3

#endif
