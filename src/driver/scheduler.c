#include "driver/scheduler.h"

#include "rvs/log.h"
#include "rvs/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct active {
  rvs_fit fit;
  size_t job;
  int slot;
  int nreq;       /* requests of this fit in the current batch */
  size_t offset;  /* their position in the batch */
} active;

static void job_fail(rvs_fit_job *j, int rc) {
  j->status = rc;
  snprintf(j->errmsg, sizeof j->errmsg, "%s", rvs_last_error());
}

/* Start job `ji` in pool entry `a`; returns 1 if it is running. */
static int start_job(rvs_backend *be, const rvs_fit_config *cfg, rvs_fit_job *jobs, size_t ji,
                     active *a) {
  rvs_fit_job *j = &jobs[ji];
  int rc = be->add_slot(be, j->spec, &a->slot);
  if (rc) {
    job_fail(j, rc);
    return 0;
  }
  rc = rvs_fit_init(&a->fit, cfg, a->slot, j->params0, j->vsini0);
  if (rc) {
    job_fail(j, rc);
    be->remove_slot(be, a->slot);
    return 0;
  }
  a->job = ji;
  return 1;
}

int rvs_fit_jobs(rvs_backend *be, const rvs_fit_config *cfg, rvs_fit_job *jobs, size_t njobs,
                 int pool, rvs_progress_fn progress, void *user, rvs_scheduler_stats *stats) {
  double t0 = now();
  if (pool <= 0) pool = 256;
  if ((size_t)pool > njobs) pool = (int)(njobs ? njobs : 1);
  active *act = calloc((size_t)pool, sizeof *act);
  int nact = 0;
  size_t next = 0, done = 0;
  size_t cap = 4096;
  rvs_eval_request *batch = malloc(sizeof *batch * cap);
  rvs_eval_result *res = malloc(sizeof *res * cap);
  rvs_scheduler_stats st = {0, 0, 0, 0};
  int rc = RVS_OK;
  if (!act || !batch || !res) {
    rc = rvs_error(RVS_ERR_NOMEM, "scheduler: no memory");
    goto out;
  }
  for (size_t i = 0; i < njobs; i++) jobs[i].status = RVS_OK;
  for (;;) {
    /* fill the pool */
    while (nact < pool && next < njobs) {
      if (start_job(be, cfg, jobs, next, &act[nact])) nact++;
      else done++;
      next++;
    }
    if (nact == 0) break;
    /* gather */
    size_t total = 0;
    for (int k = 0; k < nact; k++) {
      const rvs_eval_request *r;
      int n = rvs_fit_ask(&act[k].fit, &r);
      act[k].nreq = n;
      act[k].offset = total;
      if (total + (size_t)n > cap) {
        size_t nc = 2 * (total + (size_t)n);
        rvs_eval_request *nb = realloc(batch, sizeof *nb * nc);
        if (!nb) { rc = rvs_error(RVS_ERR_NOMEM, "scheduler: no memory"); goto out; }
        batch = nb;
        rvs_eval_result *nr = realloc(res, sizeof *nr * nc);
        if (!nr) { rc = rvs_error(RVS_ERR_NOMEM, "scheduler: no memory"); goto out; }
        res = nr;
        cap = nc;
      }
      memcpy(batch + total, r, sizeof *r * (size_t)n);
      total += (size_t)n;
    }
    /* evaluate */
    double te = now();
    if (total) {
      rc = be->evaluate(be, batch, total, res);
      if (rc) goto out;
    }
    st.eval_seconds += now() - te;
    st.rounds++;
    st.requests += (long)total;
    /* scatter; retire finished fits */
    for (int k = 0; k < nact;) {
      active *a = &act[k];
      int fin = a->nreq == 0;
      if (!fin) {
        int trc = rvs_fit_tell(&a->fit, res + a->offset);
        if (trc) job_fail(&jobs[a->job], trc);
        const rvs_eval_request *r;
        fin = trc != RVS_OK || rvs_fit_ask(&a->fit, &r) == 0;
      }
      if (fin) {
        rvs_fit_job *j = &jobs[a->job];
        j->result = *rvs_fit_get_result(&a->fit);
        if (j->status == RVS_OK && j->result.status != RVS_OK) j->status = j->result.status;
        for (int arm = 0; arm < j->spec->narms && j->status == RVS_OK; arm++)
          if (j->models[arm] && be->get_model && be->get_model(be, a->slot, arm, j->models[arm]))
            job_fail(j, RVS_ERR_ARG);
        rvs_fit_free(&a->fit);
        be->remove_slot(be, a->slot);
        done++;
        if (progress) progress(done, njobs, user);
        act[k] = act[--nact];
        continue;
      }
      k++;
    }
  }
out:
  for (int k = 0; k < nact; k++) {
    rvs_fit_free(&act[k].fit);
    be->remove_slot(be, act[k].slot);
  }
  free(act);
  free(batch);
  free(res);
  st.total_seconds = now() - t0;
  if (stats) *stats = st;
  return rc;
}
