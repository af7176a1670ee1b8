#include "driver/desi_run.h"

#include "driver/file_queue.h"
#include "driver/signals.h"
#include "io/atomic.h"
#include "rvs/log.h"

#include <fitsio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One file in flight. */
typedef struct file_rec {
  rvs_desi_file *f;
  size_t index;          /* 1-based order in which it was taken */
  double t_start;
  struct file_rec *prev, *next;   /* the in-flight list */
  struct file_rec *qnext;         /* the read-ahead queue */
} file_rec;

typedef struct shared {
  rvs_desi_run *run;
  pthread_mutex_t lock;  /* source, reports, the in-flight list, signal state */
  pthread_mutex_t io;    /* FITS reading (and writing, when cfitsio is not reentrant) */
  pthread_mutex_t io_w;  /* FITS writing, with a reentrant cfitsio: a worker writing
                          * a finished file need not wait for the reader thread */
  pthread_mutex_t *wlock; /* &io_w, or &io */
  int source_done, stop, source_rc;
  size_t ntaken;
  file_rec *inflight;
  double t0;
  double read_seconds;   /* under io: the workers' reads (without read-ahead) */
  double write_seconds;  /* under *wlock: the workers' writes */
  double ahead_seconds;  /* under io: the reader thread's reads */
  /* read-ahead (run->readahead > 0): a reader thread prepares files into a
   * queue of at most `readahead` files; workers take them from it */
  int readahead;
  pthread_cond_t ready_cv, space_cv;
  file_rec *q_head, *q_tail;
  int q_len, reader_done, quit;
} shared;

typedef struct worker {
  shared *sh;
  rvs_context *ctx;
  int nfiles;            /* this worker's files in flight */
  double wait_seconds;   /* idle, waiting for the reader thread */
  int rc;
  int id;
} worker;

/* The signal handler abandons the files in flight (their names in its
 * message); `writing` is the file being written, whose temporaries it removes.
 * Called with the lock held. */
static void update_signal_state(shared *sh, const file_rec *writing) {
  if (!sh->inflight && !writing) {
    rvs_signals_end_file();
    return;
  }
  char names[2048];
  size_t len = 0;
  names[0] = 0;
  for (const file_rec *r = sh->inflight; r && len + 8 < sizeof names; r = r->next) {
    int k = snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "",
                     rvs_desi_file_path(r->f));
    if (k < 0) break;
    len += (size_t)k;
    if (len >= sizeof names) { len = sizeof names - 1; break; }
  }
  const char *tab = NULL, *mod = NULL;
  if (writing) rvs_desi_file_outputs(writing->f, &tab, &mod);
  rvs_signals_begin_file(names, tab, mod);
}

/* One line per file (log, status file, progress); lock held. */
static void report(shared *sh, const char *path, size_t index, int rc,
                   const rvs_desi_file_stats *st, double seconds, const char *errmsg) {
  rvs_desi_run *run = sh->run;
  run->nfiles_done++;
  const char *what = rc ? "FAILURE" : st->skipped_existing ? "EXISTING" : "SUCCESS";
  if (rc) {
    run->nfail++;
    fprintf(stderr, "rvs_desi_fit: %s%s\n", run->rank_prefix ? run->rank_prefix : "", errmsg);
    rvs_log(RVS_LOG_ERROR, "%s", errmsg);
    if (run->throw_exc) sh->stop = 1;
  } else if (!st->skipped_existing) {
    run->nfitted += st->nfitted;
    double el = now() - sh->t0;
    rvs_log(RVS_LOG_INFO, "%s: %zu rows, %zu selected, %zu fitted, %zu bad, %.2f s "
            "(run: %zu fits in %.1f s, %.1f fits/s)", path, st->nrows, st->nselected,
            st->nfitted, st->nbad, seconds, run->nfitted, el, el > 0 ? run->nfitted / el : 0.0);
    if (run->progress) {
      double rate = el > 0 ? run->nfitted / el : 0.0;
      if (run->nfiles_total) {
        double eta = run->nfiles_done ? el / run->nfiles_done *
                                        (double)(run->nfiles_total - (size_t)run->nfiles_done)
                                      : 0.0;
        fprintf(stderr, "\r[%d/%zu files] %s: %zu fitted; %.1f fits/s, ETA %.0f s   \n",
                run->nfiles_done, run->nfiles_total, path, st->nfitted, rate, eta);
      } else {
        fprintf(stderr, "\r[%d files] %s: %zu fitted; %.1f fits/s   \n", run->nfiles_done, path,
                st->nfitted, rate);
      }
    }
  } else {
    rvs_log(RVS_LOG_INFO, "%s: outputs exist, skipped", path);
  }
  (void)index;
  if (run->file_done) run->file_done(run->source_user, path);
  if (run->status) {
    long nfit = rc ? 0 : st->skipped_existing ? -1 : (long)st->nselected;
    fprintf(run->status, "%s %s %ld %.2f\n", path, what, nfit,
            rc || st->skipped_existing ? 0.0 : seconds);
    fflush(run->status);
  }
}

static void inflight_add(shared *sh, file_rec *r) {
  r->prev = NULL;
  r->next = sh->inflight;
  if (sh->inflight) sh->inflight->prev = r;
  sh->inflight = r;
}

static void inflight_remove(shared *sh, file_rec *r) {
  if (r->prev) r->prev->next = r->next;
  else sh->inflight = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
}

/* Write a file whose fits are done (or that had none), report it, free it. */
static void finish_rec(shared *sh, file_rec *r, int status) {
  rvs_desi_file_stats st;
  memset(&st, 0, sizeof st);
  char err[1200] = "";
  int rc = status;
  pthread_mutex_lock(&sh->lock);
  inflight_remove(sh, r);
  pthread_mutex_unlock(&sh->lock);
  if (rc == RVS_OK) {
    pthread_mutex_lock(sh->wlock);
    pthread_mutex_lock(&sh->lock);
    update_signal_state(sh, r);
    pthread_mutex_unlock(&sh->lock);
    double t0 = now();
    rc = rvs_desi_finish_file(r->f, &st);
    sh->write_seconds += now() - t0;
    if (rc) snprintf(err, sizeof err, "%s", rvs_last_error());
    pthread_mutex_unlock(sh->wlock);
  } else {
    snprintf(err, sizeof err, "%s: %s", rvs_desi_file_path(r->f), rvs_last_error());
  }
  pthread_mutex_lock(&sh->lock);
  if (status != RVS_ERR_INTERRUPTED)
    report(sh, rvs_desi_file_path(r->f), r->index, rc, &st, now() - r->t_start, err);
  update_signal_state(sh, NULL);
  pthread_mutex_unlock(&sh->lock);
  rvs_desi_file_free(r->f);
  free(r);
}

/* Take the next file from the source and prepare it (read, select, clean)
 * with `ctx`.  Files that fail are reported, files with nothing to fit are
 * written, and the loop goes on; returns 1 with *out set (the file is in the
 * in-flight list), or 0 when the source is done or the run stops.  `who`:
 * the worker id for the log, -1 for the reader thread. */
static int take_and_prepare(shared *sh, rvs_context *ctx, int who, file_rec **out) {
  rvs_desi_run *run = sh->run;
  char path[4096];
  *out = NULL;
  for (;;) {
    pthread_mutex_lock(&sh->lock);
    if (sh->source_done || sh->stop || sh->quit || rvs_signals_stop_requested()) {
      pthread_mutex_unlock(&sh->lock);
      return 0;
    }
    int got = 0;
    int rc = run->source(run->source_user, path, sizeof path, &got);
    if (rc || !got) {
      if (rc) {
        /* the source itself failed (queue file unreadable, rank 0 gone): stop taking files */
        sh->source_rc = rc;
        fprintf(stderr, "rvs_desi_fit: %s\n", rvs_last_error());
        rvs_log(RVS_LOG_ERROR, "%s", rvs_last_error());
      }
      sh->source_done = 1;
      pthread_mutex_unlock(&sh->lock);
      return 0;
    }
    size_t index = ++sh->ntaken;
    if (who >= 0) rvs_log(RVS_LOG_INFO, "worker %d takes %s", who, path);
    else rvs_log(RVS_LOG_INFO, "reading ahead: %s", path);
    char tab[4200], mod[4200];
    if (rvs_desi_output_paths(run->o, path, tab, mod, sizeof tab) == RVS_OK) {
      /* a SIGKILLed earlier run may have left temporaries of this file */
      rvs_remove_stale_temporaries(tab);
      rvs_remove_stale_temporaries(mod);
    }
    pthread_mutex_unlock(&sh->lock);

    file_rec *r = calloc(1, sizeof *r);
    rvs_desi_file_stats st;
    memset(&st, 0, sizeof st);
    if (!r) {
      rc = rvs_error(RVS_ERR_NOMEM, "%s: no memory", path);
    } else {
      r->index = index;
      r->t_start = now();
      pthread_mutex_lock(&sh->io);
      double t0 = now();
      rc = rvs_desi_prepare_file(ctx, run->cfg, run->o, path, &r->f, &st);
      if (who < 0) sh->ahead_seconds += now() - t0;
      else sh->read_seconds += now() - t0;
      pthread_mutex_unlock(&sh->io);
    }
    if (rc || !r->f) {
      char err[1200];
      snprintf(err, sizeof err, "%s", rvs_last_error());
      pthread_mutex_lock(&sh->lock);
      report(sh, path, index, rc, &st, r ? now() - r->t_start : 0.0, err);
      pthread_mutex_unlock(&sh->lock);
      free(r);
      continue;
    }
    pthread_mutex_lock(&sh->lock);
    inflight_add(sh, r);
    update_signal_state(sh, NULL);
    pthread_mutex_unlock(&sh->lock);
    if (rvs_desi_file_nfit(r->f) == 0) { /* nothing to fit: write it now */
      finish_rec(sh, r, RVS_OK);
      continue;
    }
    *out = r;
    return 1;
  }
}

/* The reader thread of the read-ahead: keeps up to sh->readahead prepared
 * files queued, so that reading overlaps the workers' fitting. */
static void *reader_main(void *arg) {
  shared *sh = arg;
  for (;;) {
    pthread_mutex_lock(&sh->lock);
    while (sh->q_len >= sh->readahead && !sh->quit) pthread_cond_wait(&sh->space_cv, &sh->lock);
    int quit = sh->quit;
    pthread_mutex_unlock(&sh->lock);
    file_rec *r = NULL;
    if (quit || !take_and_prepare(sh, sh->run->ctx[0], -1, &r)) break;
    pthread_mutex_lock(&sh->lock);
    r->qnext = NULL;
    if (sh->q_tail) sh->q_tail->qnext = r;
    else sh->q_head = r;
    sh->q_tail = r;
    sh->q_len++;
    pthread_cond_broadcast(&sh->ready_cv);
    pthread_mutex_unlock(&sh->lock);
  }
  pthread_mutex_lock(&sh->lock);
  sh->reader_done = 1;
  pthread_cond_broadcast(&sh->ready_cv);
  pthread_mutex_unlock(&sh->lock);
  return NULL;
}

/* A prepared file from the read-ahead queue.  A worker with fits in flight
 * does not wait for one (returns 2: "nothing now", its fits go on); an idle
 * worker waits.  0 when the reader is done and the queue empty. */
static int take_queued(worker *w, file_rec **out) {
  shared *sh = w->sh;
  *out = NULL;
  pthread_mutex_lock(&sh->lock);
  for (;;) {
    if (sh->stop || rvs_signals_stop_requested()) {
      pthread_mutex_unlock(&sh->lock);
      return 0;
    }
    if (sh->q_head) break;
    if (sh->reader_done) {
      pthread_mutex_unlock(&sh->lock);
      return 0;
    }
    if (w->nfiles > 0) {
      pthread_mutex_unlock(&sh->lock);
      return 2;
    }
    const double tw = now();
    pthread_cond_wait(&sh->ready_cv, &sh->lock);
    w->wait_seconds += now() - tw;
  }
  file_rec *r = sh->q_head;
  sh->q_head = r->qnext;
  if (!sh->q_head) sh->q_tail = NULL;
  r->qnext = NULL;
  sh->q_len--;
  pthread_cond_signal(&sh->space_cv);
  pthread_mutex_unlock(&sh->lock);
  rvs_log(RVS_LOG_INFO, "worker %d takes %s", w->id, rvs_desi_file_path(r->f));
  *out = r;
  return 1;
}

static int stream_next(void *user, rvs_fit_chunk *chunk) {
  worker *w = user;
  shared *sh = w->sh;
  rvs_desi_run *run = sh->run;
  if (run->max_files_in_flight > 0 && w->nfiles >= run->max_files_in_flight) return 2;
  file_rec *r = NULL;
  int g = sh->readahead > 0 ? take_queued(w, &r) : take_and_prepare(sh, w->ctx, w->id, &r);
  if (g != 1) return g;
  rvs_desi_file_set_context(r->f, w->ctx);
  rvs_desi_file_chunk(r->f, chunk);
  chunk->user = r;
  w->nfiles++;
  return 1;
}

static void stream_done(void *user, rvs_fit_chunk *chunk, int status) {
  worker *w = user;
  w->nfiles--;
  finish_rec(w->sh, chunk->user, status);
}

static int stream_abort(void *user) {
  (void)user;
  return rvs_signals_stop_requested() != 0;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  rvs_stream_callbacks cb = {stream_next, stream_done, stream_abort, w};
  w->rc = rvs_fit_stream(w->ctx, &cb);
  if (w->rc && w->rc != RVS_ERR_INTERRUPTED) {
    /* the backend failed (device lost, no memory): this worker stops; the
     * files it had in flight were reported as failures */
    pthread_mutex_lock(&w->sh->lock);
    fprintf(stderr, "rvs_desi_fit: %s%s\n", w->sh->run->rank_prefix ? w->sh->run->rank_prefix : "",
            rvs_last_error());
    rvs_log(RVS_LOG_ERROR, "%s", rvs_last_error());
    pthread_mutex_unlock(&w->sh->lock);
  }
  return NULL;
}

int rvs_desi_run_files(rvs_desi_run *run) {
  if (!run || !run->ctx || run->nworkers < 1 || !run->source)
    return rvs_error(RVS_ERR_ARG, "rvs_desi_run_files: bad arguments");
  shared sh;
  memset(&sh, 0, sizeof sh);
  sh.run = run;
  sh.t0 = now();
  pthread_mutex_init(&sh.lock, NULL);
  pthread_mutex_init(&sh.io, NULL);
  pthread_mutex_init(&sh.io_w, NULL);
  sh.wlock = fits_is_reentrant() ? &sh.io_w : &sh.io;
  pthread_cond_init(&sh.ready_cv, NULL);
  pthread_cond_init(&sh.space_cv, NULL);
  sh.readahead = run->readahead > 0 ? run->readahead : 0;
  run->nfail = run->nfiles_done = 0;
  run->nfitted = 0;
  worker *w = calloc((size_t)run->nworkers, sizeof *w);
  pthread_t *th = calloc((size_t)run->nworkers, sizeof *th);
  int *started = calloc((size_t)run->nworkers, sizeof *started);
  if (!w || !th || !started) {
    free(w);
    free(th);
    free(started);
    return rvs_error(RVS_ERR_NOMEM, "no memory for %d workers", run->nworkers);
  }
  for (int k = 0; k < run->nworkers; k++) {
    w[k].sh = &sh;
    w[k].ctx = run->ctx[k];
    w[k].id = k;
  }
  pthread_t reader;
  int reader_started = 0;
  if (sh.readahead > 0) {
    reader_started = pthread_create(&reader, NULL, reader_main, &sh) == 0;
    if (!reader_started) sh.readahead = 0; /* no thread: the workers read */
  }
  for (int k = 1; k < run->nworkers; k++)
    started[k] = pthread_create(&th[k], NULL, worker_main, &w[k]) == 0;
  worker_main(&w[0]);
  for (int k = 1; k < run->nworkers; k++) {
    if (started[k]) pthread_join(th[k], NULL);
    else worker_main(&w[k]); /* no thread: run its share here */
  }
  if (reader_started) {
    /* the workers stopped (all done, a stop, a failure): end the reader and
     * drop what it prepared but nobody fitted (abandoned, as on a stop
     * before this run took it: no output, no report) */
    pthread_mutex_lock(&sh.lock);
    sh.quit = 1;
    pthread_cond_broadcast(&sh.space_cv);
    pthread_mutex_unlock(&sh.lock);
    pthread_join(reader, NULL);
    for (file_rec *r = sh.q_head, *nx; r; r = nx) {
      nx = r->qnext;
      pthread_mutex_lock(&sh.lock);
      inflight_remove(&sh, r);
      if (!rvs_signals_stop_requested()) {
        /* a failure stopped the run (--throw_exceptions, every worker lost its
         * backend): this file was taken, so it is reported, as not done */
        char err[1200];
        snprintf(err, sizeof err, "%s: not fitted: the run stopped after a failure",
                 rvs_desi_file_path(r->f));
        rvs_desi_file_stats st;
        memset(&st, 0, sizeof st);
        report(&sh, rvs_desi_file_path(r->f), r->index, RVS_ERR_INTERRUPTED, &st,
               now() - r->t_start, err);
      }
      pthread_mutex_unlock(&sh.lock);
      rvs_desi_file_free(r->f);
      free(r);
    }
    sh.q_head = sh.q_tail = NULL;
  }
  int failed_workers = 0;
  for (int k = 0; k < run->nworkers; k++)
    if (w[k].rc && w[k].rc != RVS_ERR_INTERRUPTED) failed_workers++;
  if (failed_workers) run->nfail += failed_workers;
  run->interrupted = rvs_signals_stop_requested() != 0;
  run->seconds = now() - sh.t0;
  run->io_seconds = sh.read_seconds + sh.write_seconds;
  run->ahead_seconds = sh.ahead_seconds;
  run->wait_seconds = 0;
  for (int k = 0; k < run->nworkers; k++) run->wait_seconds += w[k].wait_seconds;
  rvs_signals_end_file();
  free(w);
  free(th);
  free(started);
  pthread_mutex_destroy(&sh.lock);
  pthread_mutex_destroy(&sh.io);
  pthread_mutex_destroy(&sh.io_w);
  pthread_cond_destroy(&sh.ready_cv);
  pthread_cond_destroy(&sh.space_cv);
  return sh.source_rc;
}

void rvs_desi_run_report_timing(const rvs_desi_run *run, FILE *out) {
  rvs_timing t, sum;
  memset(&sum, 0, sizeof sum);
  for (int k = 0; k < run->nworkers; k++) {
    rvs_context_timing(run->ctx[k], &t);
    sum.total_seconds += t.total_seconds;
    sum.start_seconds += t.start_seconds;
    sum.eval_seconds += t.eval_seconds;
    for (int p = 0; p < RVS_TIME_NPHASES; p++) {
      sum.phase_seconds[p] += t.phase_seconds[p];
      sum.phase_requests[p] += t.phase_requests[p];
    }
    sum.rounds += t.rounds;
    sum.requests += t.requests;
    sum.memo_hits += t.memo_hits;
    for (int b = 0; b < RVS_ROUND_BUCKETS; b++) {
      sum.size_rounds[b] += t.size_rounds[b];
      sum.size_requests[b] += t.size_requests[b];
      sum.size_seconds[b] += t.size_seconds[b];
    }
    sum.fits += t.fits;
  }
  /* the workers' seconds add up; shares are of their sum */
  /* the reader thread's reads are not in the workers' seconds (they overlap) */
  double host = sum.total_seconds - sum.eval_seconds - sum.start_seconds - run->io_seconds -
                run->wait_seconds;
  char line[1024];
  snprintf(line, sizeof line,
           "time split (%d worker(s), %.1f worker-s): I/O %.1f s (+ %.1f s read ahead by the "
           "reader thread), waiting for files %.1f s, CCF starts %.1f s, "
           "evaluations %.1f s [scan %.1f, minimiser %.1f, error sampler %.1f, Hessian %.1f, "
           "model+continuum %.1f], host stepping %.1f s; %ld fits, %ld rounds, %ld evaluations "
           "(%.0f per fit; %ld repeated points answered from memory)",
           run->nworkers, sum.total_seconds, run->io_seconds, run->ahead_seconds,
           run->wait_seconds, sum.start_seconds, sum.eval_seconds,
           sum.phase_seconds[RVS_TIME_SCAN], sum.phase_seconds[RVS_TIME_MINIMISER],
           sum.phase_seconds[RVS_TIME_SAMPLER], sum.phase_seconds[RVS_TIME_HESSIAN],
           sum.phase_seconds[RVS_TIME_OTHER], host > 0 ? host : 0.0, sum.fits, sum.rounds,
           sum.requests, sum.fits ? (double)sum.requests / (double)sum.fits : 0.0, sum.memo_hits);
  rvs_log(RVS_LOG_INFO, "%s", line);
  if (out) fprintf(out, "rvs_desi_fit: %s\n", line);
  /* rounds by size: "<4^(k+1) requests: rounds, requests, seconds" */
  size_t len = 0;
  len += (size_t)snprintf(line + len, sizeof line - len, "rounds by requests:");
  for (int b = 0; b < RVS_ROUND_BUCKETS && len < sizeof line; b++) {
    if (!sum.size_rounds[b]) continue;
    long top = 1L << (2 * (b + 1));
    len += (size_t)snprintf(line + len, sizeof line - len, " %s%ld: %ld rounds %ld req %.1f s;",
                            b == RVS_ROUND_BUCKETS - 1 ? ">=" : "<",
                            b == RVS_ROUND_BUCKETS - 1 ? top / 4 : top, sum.size_rounds[b],
                            sum.size_requests[b], sum.size_seconds[b]);
  }
  rvs_log(RVS_LOG_INFO, "%s", line);
}
