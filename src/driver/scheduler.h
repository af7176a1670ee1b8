/* Many fits at once over one backend (DESIGN.md "Fits"): a persistent pool of
 * active fits; each round steps every active fit, concatenates their
 * requests into one batch, evaluates the batch once, hands the answers back;
 * finished fits leave and new spectra join so the batch stays full. */
#ifndef RVS_DRIVER_SCHEDULER_H
#define RVS_DRIVER_SCHEDULER_H

#include "backend/backend.h"
#include "fit/process.h"
#include "rvs/rvspecfit.h" /* RVS_ROUND_BUCKETS */

typedef struct rvs_fit_job {
  const rvs_spectrum *spec;   /* data (copied into the backend when the job starts) */
  double params0[RVS_MAXPAR]; /* starting parameters (CCF or brute force) */
  double vsini0;              /* NaN/negative: no rotation */
  double *models[RVS_MAXARMS]; /* optional: receives the best-fit model of each arm */
  rvs_fit_result result;      /* filled when done */
  int status;                 /* RVS_OK or the error that stopped this job */
  char errmsg[256];
  void *owner;                /* free for the job's source (rvs_fit_stream) */
  const rvs_fit_config *cfg;  /* NULL: the run's configuration */
} rvs_fit_job;

typedef void (*rvs_progress_fn)(size_t done, size_t total, void *user);

typedef struct rvs_scheduler_stats {
  long rounds;
  long requests;
  double eval_seconds;   /* time inside backend->evaluate */
  double total_seconds;
  /* by fit phase (RVS_PHASE_*): requests, and evaluate time shared out in
   * proportion to each round's requests */
  long phase_requests[RVS_NPHASES];
  double phase_seconds[RVS_NPHASES];
  /* rounds by size, as rvs_timing (buckets of factor 4 in requests) */
  long size_rounds[RVS_ROUND_BUCKETS], size_requests[RVS_ROUND_BUCKETS];
  double size_seconds[RVS_ROUND_BUCKETS];
  /* times the backend ran out of memory for a new spectrum (add_slot:
   * RVS_ERR_NOMEM) with fits in flight: the pool shrank to those fits and the
   * spectrum waited for room, instead of failing */
  long pool_shrinks;
  /* requests answered from the fits' memo of earlier answers (not counted
   * in requests: those went to the backend) */
  long memo_hits;
} rvs_scheduler_stats;

/* A source of jobs for rvs_fit_stream, so that new spectra (the next file)
 * join the pool while the last fits of earlier ones finish. */
typedef struct rvs_job_source {
  /* The next chunk of jobs: *jobs (owned by the source, valid until each job
   * is reported done) and *n.  Returns 1 (chunk; n may be 0), 2 (nothing
   * now: asked again after the next round), 0 (no more) or an error (< 0),
   * which stops the run.  The scheduler reads cfg only after
   * the first call, so the source may fill it then. */
  int (*next)(void *user, rvs_fit_job **jobs, size_t *n);
  /* Called once per job when it finished (result or status filled). */
  void (*done)(void *user, rvs_fit_job *job);
  /* Polled once per round: nonzero stops the run (RVS_ERR_INTERRUPTED). */
  int (*abort)(void *user);
  void *user;
} rvs_job_source;

/* Fit every job of the source; at most `pool` fits in flight (<= 0: 256). */
int rvs_fit_jobs_stream(rvs_backend *be, const rvs_fit_config *cfg, const rvs_job_source *src, int pool,
                   rvs_scheduler_stats *stats);

/* Fit every job.  pool: fits in flight at once (<= 0: 256).  Per-job failures
 * are recorded in the job; the return value is an error only when the run
 * itself could not go on (out of memory, backend failure). */
int rvs_fit_jobs(rvs_backend *be, const rvs_fit_config *cfg, rvs_fit_job *jobs, size_t njobs,
                 int pool, rvs_progress_fn progress, void *user, rvs_scheduler_stats *stats);

#endif
