/* The contract between the fit state machines and the backends.
 *
 * A fit never computes a likelihood: it emits rvs_eval_request records and
 * receives one rvs_eval_result per request.  A backend (CPU now, CUDA next)
 * evaluates a whole batch of requests from many fits at once. */
#ifndef RVS_FIT_EVAL_H
#define RVS_FIT_EVAL_H

#define RVS_MAXPAR 8   /* atmospheric parameters (teff, logg, feh, alpha, ...) */
#ifndef RVS_MAXARMS
#define RVS_MAXARMS 8  /* arms / exposures per spectrum (also in rvs/spectrum.h) */
#endif

typedef enum rvs_eval_kind {
  RVS_EVAL_CHISQ = 0,     /* -2 ln L only (get_chisq) */
  RVS_EVAL_FULL = 1,      /* -2 ln L plus per-arm true chi2, npix, models kept in the slot */
  RVS_EVAL_CONTINUUM = 2  /* continuum-only fit: per-arm true chi2 (get_chisq_continuum) */
} rvs_eval_kind;

typedef struct rvs_eval_request {
  int slot;                       /* prepared spectrum inside the backend */
  int kind;                       /* rvs_eval_kind */
  double vel;                     /* km/s */
  double vsini;                   /* km/s; negative: no rotational broadening */
  double params[RVS_MAXPAR];      /* raw atmospheric parameters, interpolator order */
} rvs_eval_request;

typedef struct rvs_eval_result {
  double m2lnl;                   /* get_chisq: -2 ln L incl. outside-of-grid penalties */
  int status;                     /* RVS_OK, or an rvs_status code (the value is then NaN) */
  int narms;                      /* FULL / CONTINUUM only: */
  double chisq_arm[RVS_MAXARMS];  /* true chi2 over unmasked pixels */
  long npix_arm[RVS_MAXARMS];     /* unmasked pixels */
} rvs_eval_result;

#endif
