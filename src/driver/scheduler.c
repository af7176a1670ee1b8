#include "driver/scheduler.h"

#include "rvs/log.h"
#include "rvs/status.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Answers a fit already had.  The state machines sometimes ask again for a
 * point they were answered at (the RV-error sampler's grids pass through its
 * current best velocity, BFGS re-evaluates accepted points): about 3% of a
 * DESI fit's requests.  An evaluation is a deterministic function of the
 * request (reruns give the same bits on either backend), so such a request
 * is answered from a small per-fit cache of recent -2 ln L values, with the
 * same bits as the backend would give.  Direct-mapped, keyed by the exact
 * bits of (vel, vsini, params); only RVS_EVAL_CHISQ answers with RVS_OK. */
#define MEMO_SIZE 64
typedef struct memo_entry {
  double key[2 + RVS_MAXPAR];
  double m2lnl;
  int used;
} memo_entry;

static void memo_key(const rvs_eval_request *r, double *key) {
  key[0] = r->vel;
  key[1] = r->vsini;
  memcpy(key + 2, r->params, sizeof r->params);
}

static unsigned memo_index(const double *key) {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < 2 + RVS_MAXPAR; i++) {
    uint64_t w;
    memcpy(&w, key + i, sizeof w);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  return (unsigned)(h & (MEMO_SIZE - 1));
}

/* 1 and *m2lnl when the memo holds the answer to r */
static int memo_find(const memo_entry *memo, const rvs_eval_request *r, double *m2lnl) {
  if (r->kind != RVS_EVAL_CHISQ) return 0;
  double key[2 + RVS_MAXPAR];
  memo_key(r, key);
  const memo_entry *e = &memo[memo_index(key)];
  if (!e->used || memcmp(e->key, key, sizeof key) != 0) return 0;
  *m2lnl = e->m2lnl;
  return 1;
}

static void memo_put(memo_entry *memo, const rvs_eval_request *r, const rvs_eval_result *res) {
  if (r->kind != RVS_EVAL_CHISQ || res->status != RVS_OK) return;
  double key[2 + RVS_MAXPAR];
  memo_key(r, key);
  memo_entry *e = &memo[memo_index(key)];
  memcpy(e->key, key, sizeof key);
  e->m2lnl = res->m2lnl;
  e->used = 1;
}

typedef struct active {
  rvs_fit fit;
  rvs_fit_job *job;
  int slot;
  const rvs_eval_request *req; /* this round's requests (rvs_fit_ask) */
  int nreq;       /* requests of this fit in the current round */
  size_t offset;  /* their position among all of the round's answers */
  int nmiss;      /* of them not in the memo: sent to the backend */
  size_t moff;    /* their position in the backend's batch */
  memo_entry *memo; /* MEMO_SIZE entries (moves with the fit in act[]) */
  int finished;   /* set by the scatter step */
} active;

static void job_fail(rvs_fit_job *j, int rc) {
  j->status = rc;
  snprintf(j->errmsg, sizeof j->errmsg, "%s", rvs_last_error());
}

/* Start job `j` in pool entry `a`; returns 1 if it is running, 0 if it
 * failed, -1 when the backend has no memory for it while `busy` fits are in
 * flight (the caller retries it after some of them finish). */
static int start_job(rvs_backend *be, const rvs_fit_config *cfg, rvs_fit_job *j, active *a,
                     int busy) {
  int rc = be->add_slot(be, j->spec, &a->slot);
  if (rc == RVS_ERR_NOMEM && busy > 0) return -1;
  if (rc) {
    job_fail(j, rc);
    return 0;
  }
  rc = rvs_fit_init(&a->fit, j->cfg ? j->cfg : cfg, a->slot, j->params0, j->vsini0);
  if (rc) {
    job_fail(j, rc);
    be->remove_slot(be, a->slot);
    return 0;
  }
  a->job = j;
  memset(a->memo, 0, sizeof *a->memo * MEMO_SIZE);
  return 1;
}

int rvs_fit_jobs_stream(rvs_backend *be, const rvs_fit_config *cfg, const rvs_job_source *src, int pool,
                   rvs_scheduler_stats *stats) {
  double t0 = now();
  if (pool <= 0) pool = 256;
  active *act = calloc((size_t)pool, sizeof *act);
  memo_entry *memos = calloc((size_t)pool * MEMO_SIZE, sizeof *memos);
  if (act && memos)
    for (int k = 0; k < pool; k++) act[k].memo = memos + (size_t)k * MEMO_SIZE;
  int nact = 0;
  rvs_fit_job *chunk = NULL; /* the source's current chunk */
  size_t chunk_n = 0, chunk_next = 0;
  int source_done = 0;
  size_t cap = 4096;
  size_t fcap = 4096;
  rvs_eval_request *batch = malloc(sizeof *batch * cap);
  rvs_eval_result *res = malloc(sizeof *res * cap);
  size_t *bmap = malloc(sizeof *bmap * cap);        /* batch entry -> answer index */
  rvs_eval_result *ans = malloc(sizeof *ans * fcap); /* every request's answer */
  rvs_scheduler_stats st;
  memset(&st, 0, sizeof st);
  long nphase[RVS_NPHASES];
  int rc = RVS_OK;
  if (!act || !memos || !batch || !res || !bmap || !ans) {
    rc = rvs_error(RVS_ERR_NOMEM, "scheduler: no memory");
    goto out;
  }
  for (;;) {
    if (src->abort && src->abort(src->user)) {
      rc = rvs_error(RVS_ERR_INTERRUPTED, "fits stopped on request");
      goto out;
    }
    /* fill the pool, asking the source for more when its chunk is used up */
    while (nact < pool) {
      if (chunk_next == chunk_n) {
        if (source_done) break;
        int g = src->next(src->user, &chunk, &chunk_n);
        chunk_next = 0;
        if (g < 0) { rc = g; goto out; }
        if (g == 0) { source_done = 1; chunk_n = 0; break; }
        if (g == 2) { chunk_n = 0; break; } /* nothing now: ask again next round */
        continue;
      }
      rvs_fit_job *j = &chunk[chunk_next++];
      j->status = RVS_OK;
      int started = start_job(be, cfg, j, &act[nact], nact);
      if (started < 0) {
        /* the backend's memory (a GPU's) holds no more spectra: keep this
         * many fits in flight from now on, and start this one later */
        chunk_next--;
        rvs_log(RVS_LOG_INFO, "backend memory full with %d fits in flight (pool %d): "
                "continuing with %d", nact, pool, nact);
        pool = nact;
        st.pool_shrinks++;
        break;
      }
      if (started) nact++;
      else if (src->done) src->done(src->user, j);
    }
    if (nact == 0) {
      if (source_done) break;
      continue; /* the source said "later" with nothing in flight: ask again */
    }
    /* gather: each fit's requests (in parallel: the memo lookups), then
     * their places (serial prefix sums), then the copies (in parallel) */
#pragma omp parallel for schedule(static) if (nact >= 512)
    for (int k = 0; k < nact; k++) {
      active *a = &act[k];
      a->nreq = rvs_fit_ask(&a->fit, &a->req);
      int miss = 0;
      double v;
      for (int i = 0; i < a->nreq; i++) miss += !memo_find(a->memo, &a->req[i], &v);
      a->nmiss = miss;
    }
    size_t total = 0, nans = 0;
    long hits = 0;
    memset(nphase, 0, sizeof nphase);
    for (int k = 0; k < nact; k++) {
      active *a = &act[k];
      nphase[rvs_fit_stage(&a->fit)] += a->nmiss;
      hits += a->nreq - a->nmiss;
      a->offset = nans;
      a->moff = total;
      nans += (size_t)a->nreq;
      total += (size_t)a->nmiss;
    }
    st.memo_hits += hits;
    if (total > cap) {
      size_t nc = 2 * total;
      rvs_eval_request *nb = realloc(batch, sizeof *nb * nc);
      if (!nb) { rc = rvs_error(RVS_ERR_NOMEM, "scheduler: no memory"); goto out; }
      batch = nb;
      rvs_eval_result *nr = realloc(res, sizeof *nr * nc);
      if (!nr) { rc = rvs_error(RVS_ERR_NOMEM, "scheduler: no memory"); goto out; }
      res = nr;
      size_t *nm = realloc(bmap, sizeof *nm * nc);
      if (!nm) { rc = rvs_error(RVS_ERR_NOMEM, "scheduler: no memory"); goto out; }
      bmap = nm;
      cap = nc;
    }
    if (nans > fcap) {
      size_t nc = 2 * nans;
      rvs_eval_result *na = realloc(ans, sizeof *na * nc);
      if (!na) { rc = rvs_error(RVS_ERR_NOMEM, "scheduler: no memory"); goto out; }
      ans = na;
      fcap = nc;
    }
#pragma omp parallel for schedule(static) if (nact >= 512)
    for (int k = 0; k < nact; k++) {
      active *a = &act[k];
      size_t m = a->moff;
      for (int i = 0; i < a->nreq; i++) {
        rvs_eval_result *o = &ans[a->offset + (size_t)i];
        double v;
        if (memo_find(a->memo, &a->req[i], &v)) {
          memset(o, 0, sizeof *o);
          o->m2lnl = v;
          o->status = RVS_OK;
        } else {
          batch[m] = a->req[i];
          bmap[m] = a->offset + (size_t)i;
          m++;
        }
      }
    }
    /* evaluate */
    double te = now();
    if (total) {
      rc = be->evaluate(be, batch, total, res);
      if (rc) goto out;
    }
    double dt = now() - te;
    st.eval_seconds += dt;
    for (int p = 0; p < RVS_NPHASES; p++) {
      st.phase_requests[p] += nphase[p];
      if (total) st.phase_seconds[p] += dt * (double)nphase[p] / (double)total;
    }
    st.rounds++;
    st.requests += (long)total;
    {
      int b = 0;
      for (size_t q = total; q >= 4 && b < RVS_ROUND_BUCKETS - 1; q /= 4) b++;
      st.size_rounds[b]++;
      st.size_requests[b] += (long)total;
      st.size_seconds[b] += dt;
    }
    /* scatter: every fit steps on its own results (independent state
     * machines, so in parallel: thousands per round with a GPU backend) */
#pragma omp parallel for schedule(static) if (nact >= 512)
    for (int k = 0; k < nact; k++) {
      active *a = &act[k];
      int fin = a->nreq == 0;
      if (!fin) {
        for (size_t m = a->moff; m < a->moff + (size_t)a->nmiss; m++) {
          ans[bmap[m]] = res[m];
          memo_put(a->memo, &batch[m], &res[m]);
        }
        int trc = rvs_fit_tell(&a->fit, ans + a->offset);
        if (trc) job_fail(a->job, trc); /* same thread: rvs_last_error is per thread */
        const rvs_eval_request *r;
        fin = trc != RVS_OK || rvs_fit_ask(&a->fit, &r) == 0;
      }
      a->finished = fin;
    }
    /* retire finished fits (in order: models, slots, the source's callback) */
    for (int k = 0; k < nact;) {
      active *a = &act[k];
      if (a->finished) {
        rvs_fit_job *j = a->job;
        j->result = *rvs_fit_get_result(&a->fit);
        if (j->status == RVS_OK && j->result.status != RVS_OK) j->status = j->result.status;
        for (int arm = 0; arm < j->spec->narms && j->status == RVS_OK; arm++)
          if (j->models[arm] && be->get_model && be->get_model(be, a->slot, arm, j->models[arm]))
            job_fail(j, RVS_ERR_ARG);
        rvs_fit_free(&a->fit);
        be->remove_slot(be, a->slot);
        if (src->done) src->done(src->user, j);
        memo_entry *freed = a->memo; /* the memo blocks move with the fits */
        act[k] = act[--nact];
        act[nact].memo = freed;
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
  free(memos);
  free(batch);
  free(res);
  free(bmap);
  free(ans);
  st.total_seconds = now() - t0;
  if (stats) *stats = st;
  return rc;
}

/* rvs_fit_jobs: one chunk holding every job */
typedef struct array_source {
  rvs_fit_job *jobs;
  size_t njobs, ndone;
  int given;
  rvs_progress_fn progress;
  void *user;
} array_source;

static int array_next(void *user, rvs_fit_job **jobs, size_t *n) {
  array_source *s = user;
  if (s->given) return 0;
  s->given = 1;
  *jobs = s->jobs;
  *n = s->njobs;
  return 1;
}

static void array_done(void *user, rvs_fit_job *job) {
  (void)job;
  array_source *s = user;
  s->ndone++;
  if (s->progress) s->progress(s->ndone, s->njobs, s->user);
}

int rvs_fit_jobs(rvs_backend *be, const rvs_fit_config *cfg, rvs_fit_job *jobs, size_t njobs,
                 int pool, rvs_progress_fn progress, void *user, rvs_scheduler_stats *stats) {
  array_source s = {jobs, njobs, 0, 0, progress, user};
  rvs_job_source src = {array_next, array_done, NULL, &s};
  if (pool <= 0) pool = 256;
  if ((size_t)pool > njobs) pool = (int)(njobs ? njobs : 1);
  return rvs_fit_jobs_stream(be, cfg, &src, pool, stats);
}
