/* The public API (include/rvs/rvspecfit.h) over the template library, the
 * CPU backend, the CCF initialiser and the batch scheduler. */
#include "rvs/rvspecfit.h"

#include "backend/backend.h"
#include "backend/cpu/ccf_cpu.h"
#include "driver/scheduler.h"
#include "fit/firstguess.h"
#include "templates/library.h"
#ifdef RVS_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_device.h"
#include "backend/cuda/ccf_cuda.h"
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rvs_context {
  rvs_config cfg;
  rvs_options opt;
  rvs_template_lib lib;
  rvs_backend *be;
  rvs_timing timing;
#ifdef RVS_HAVE_CUDA
  rvs_ccf_gpu *ccf_gpu;   /* CCF starting points on the GPU (NULL: on the CPU) */
#endif
};

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void rvs_options_default(rvs_options *o) {
  memset(o, 0, sizeof *o);
  o->npoly = 10;
  o->rbf_continuum = 1;
  o->param_init = RVS_INIT_CCF;
}

int rvs_context_create(const rvs_config *cfg, const rvs_options *opt, rvs_context **out) {
  rvs_context *c = calloc(1, sizeof *c);
  if (!c) return rvs_error(RVS_ERR_NOMEM, "no memory for a context");
  c->cfg = *cfg;
  if (opt) c->opt = *opt;
  else rvs_options_default(&c->opt);
  int rc = rvs_template_lib_open(&c->lib, cfg->template_lib);
  if (rc) { free(c); return rc; }
  rvs_backend_options bo;
  rvs_backend_options_default(&bo);
  bo.npoly = c->opt.npoly;
  bo.rbf_continuum = c->opt.rbf_continuum;
  bo.min_vel = cfg->min_vel;
  bo.max_vel = cfg->max_vel;
  bo.nthreads = c->opt.nthreads;
  c->be = NULL;
  if (c->opt.use_gpu) {
#ifdef RVS_HAVE_CUDA
    int ndev = rvs_cuda_device_count();
    if (ndev <= 0) {
      rvs_log(RVS_LOG_WARNING, "--use_gpu: no usable CUDA device found; running on the CPU");
    } else if (c->opt.gpu_device < 0 || c->opt.gpu_device >= ndev) {
      rvs_log(RVS_LOG_WARNING, "--use_gpu: device %d does not exist (%d found); running on the CPU",
              c->opt.gpu_device, ndev);
    } else if ((rc = rvs_backend_cuda_create(&c->lib, &bo, c->opt.gpu_device, &c->be))) {
      rvs_log(RVS_LOG_WARNING, "--use_gpu: %s; running on the CPU", rvs_last_error());
      c->be = NULL;
    } else {
      if (c->opt.pool <= 0) c->opt.pool = 8192; /* keep the device busy: several files in flight */
      const char *cpu_ccf = getenv("RVS_CCF_CPU"); /* 1: CCF on the CPU (comparisons) */
      if (!(cpu_ccf && cpu_ccf[0] == '1') &&
          rvs_ccf_gpu_create(c->opt.gpu_device, &c->ccf_gpu) != RVS_OK) {
        rvs_log(RVS_LOG_WARNING, "--use_gpu: CCF on the GPU unavailable (%s); CCF on the CPU",
                rvs_last_error());
        c->ccf_gpu = NULL;
      }
    }
#else
    rvs_log(RVS_LOG_WARNING, "--use_gpu: this build has no CUDA backend; running on the CPU");
#endif
  }
  if (!c->be && (rc = rvs_backend_cpu_create(&c->lib, &bo, &c->be))) {
    rvs_template_lib_close(&c->lib);
    free(c);
    return rc;
  }
  *out = c;
  return RVS_OK;
}

void rvs_context_free(rvs_context *ctx) {
  if (!ctx) return;
#ifdef RVS_HAVE_CUDA
  if (ctx->be && strcmp(ctx->be->name, "cuda") == 0) {
    rvs_cuda_stats cs;
    rvs_backend_cuda_stats(ctx->be, &cs);
    rvs_log(RVS_LOG_INFO,
            "CUDA backend: %lld requests on the GPU, %lld on the CPU (%lld sent back by the GPU "
            "path: %lld planning, %lld device flag), %lld templates, %lld device passes, %lld "
            "retries; CPU requests %.2f s, host planning %.2f s, "
            "device %.2f s; device ms: upload %.0f, interpolation %.0f, vsini %.0f, spline %.0f, "
            "likelihood %.0f, finish %.0f",
            cs.gpu_requests, cs.cpu_requests, cs.cpu_fallbacks, cs.fb_host, cs.fb_device,
            cs.templates, cs.sub_batches,
            cs.oom_retries, cs.cpu_seconds, cs.host_seconds, cs.device_seconds, cs.phase_ms[0], cs.phase_ms[1],
            cs.phase_ms[2], cs.phase_ms[3], cs.phase_ms[4], cs.phase_ms[5]);
    rvs_log(RVS_LOG_INFO,
            "CUDA backend host steps (s): de-duplication %.2f, location %.2f, request checks "
            "%.2f, staging %.2f, item sort %.2f, -2 ln L sums %.2f",
            cs.host_step_s[0], cs.host_step_s[1], cs.host_step_s[2], cs.host_step_s[3],
            cs.host_step_s[4], cs.host_step_s[5]);
  }
  if (ctx->ccf_gpu) {
    rvs_ccf_gpu_stats gs;
    rvs_ccf_gpu_get_stats(ctx->ccf_gpu, &gs);
    rvs_log(RVS_LOG_INFO, "CCF on the GPU: %zu calls, %zu passes, host preprocessing %.2f s, "
            "waiting for the device %.2f s, total %.2f s", gs.calls, gs.passes, gs.host_prep_s,
            gs.wait_s, gs.total_s);
    rvs_ccf_gpu_free(ctx->ccf_gpu);
  }
#endif
  ctx->be->destroy(ctx->be);
  rvs_template_lib_close(&ctx->lib);
  free(ctx);
}

int rvs_context_parnames(rvs_context *ctx, const char *setup, int *nparam,
                         const char *names[RVS_MAX_PARAMS]) {
  rvs_interp *ip;
  int rc;
  /* one loader at a time in the process: several contexts (GPU workers) may
   * load their libraries at once, and HDF5 is not assumed thread-safe */
#pragma omp critical(rvs_template_lib)
  rc = rvs_template_lib_interp(&ctx->lib, setup, &ip);
  if (rc) return rc;
  *nparam = rvs_interp_nparam(ip);
  if (*nparam > RVS_MAX_PARAMS) return rvs_error(RVS_ERR_FORMAT, "setup %s: too many parameters", setup);
  for (int i = 0; i < *nparam; i++) names[i] = rvs_interp_parname(ip, i);
  return RVS_OK;
}

/* Load every setup of the spectra and check they share parameter names. */
static int prepare_setups(rvs_context *ctx, const rvs_spectrum *specs, size_t n, rvs_fit_config *fc) {
  int have = 0;
  for (size_t i = 0; i < n; i++)
    for (int a = 0; a < specs[i].narms; a++) {
      int np;
      const char *names[RVS_MAX_PARAMS];
      int rc = rvs_context_parnames(ctx, specs[i].arms[a].setup, &np, names);
      if (rc) return rc;
      if (!have) {
        rvs_fit_config_default(fc, np, names);
        fc->min_vel = ctx->cfg.min_vel;
        fc->max_vel = ctx->cfg.max_vel;
        fc->vel_step0 = ctx->cfg.vel_step0;
        fc->min_vel_step = ctx->cfg.min_vel_step;
        fc->max_vsini = ctx->cfg.max_vsini;
        fc->second_minimizer = ctx->cfg.second_minimizer;
        have = 1;
      } else {
        int same = np == fc->nparam;
        for (int k = 0; same && k < np; k++) same = strcmp(names[k], fc->parnames[k]) == 0;
        if (!same)
          return rvs_error(RVS_ERR_FORMAT, "setup %s: parameters differ from the other setups",
                           specs[i].arms[a].setup);
      }
    }
  if (!have) return rvs_error(RVS_ERR_ARG, "no spectrum with an arm to fit");
  return RVS_OK;
}

int rvs_get_chisq(rvs_context *ctx, const rvs_spectrum *spec, double vel, const double *params,
                  double vsini, double *m2lnl, rvs_chisq_info *info) {
  rvs_fit_config fc;
  int rc = prepare_setups(ctx, spec, 1, &fc);
  if (rc) return rc;
  int slot;
  if ((rc = ctx->be->add_slot(ctx->be, spec, &slot))) return rc;
  rvs_eval_request r;
  memset(&r, 0, sizeof r);
  r.slot = slot;
  r.kind = info ? RVS_EVAL_FULL : RVS_EVAL_CHISQ;
  r.vel = vel;
  r.vsini = vsini;
  memcpy(r.params, params, sizeof(double) * (size_t)fc.nparam);
  rvs_eval_result res;
  rc = ctx->be->evaluate(ctx->be, &r, 1, &res);
  ctx->be->remove_slot(ctx->be, slot);
  if (rc) return rc;
  *m2lnl = res.m2lnl;
  if (info) {
    info->narms = res.narms;
    memcpy(info->chisq_arm, res.chisq_arm, sizeof info->chisq_arm);
    memcpy(info->npix_arm, res.npix_arm, sizeof info->npix_arm);
  }
  if (res.status) return rvs_error(res.status, "likelihood evaluation failed: %s", rvs_last_error());
  return RVS_OK;
}

/* The CCF arms of a spectrum (banks loaded on first use). */
static int ccf_arms(rvs_context *ctx, const rvs_spectrum *s, rvs_ccf_arm *arms) {
  for (int a = 0; a < s->narms; a++) {
    rvs_ccf_bank *b = NULL;
    const rvs_ccf_bank *cb;
    int rc;
#pragma omp critical(rvs_template_lib)
    rc = rvs_template_lib_ccf(&ctx->lib, s->arms[a].setup, ctx->cfg.ccf_continuum_normalize, &b);
    if (rc) return rc;
    cb = b;
    arms[a].bank = cb;
    arms[a].n = s->arms[a].n;
    arms[a].lam = s->arms[a].lam;
    arms[a].spec = s->arms[a].flux;
    arms[a].espec = s->arms[a].sigma;
    arms[a].badmask = s->arms[a].badmask;
  }
  return RVS_OK;
}

/* A CCF result as the fit's start: parameters mapped by name to the
 * interpolator order. */
static int ccf_apply(const rvs_fit_config *fc, const rvs_spectrum *s, const rvs_ccf_bank *b,
                     const rvs_ccf_result *rp, double *params, double *vsini, double *vel_ccf) {
  rvs_ccf_result r = *rp;
  for (int k = 0; k < fc->nparam; k++) {
    params[k] = NAN;
    for (size_t q = 0; q < b->nparam; q++)
      if (strcmp(b->parnames[q], fc->parnames[k]) == 0) params[k] = r.params[q];
    if (isnan(params[k]))
      return rvs_error(RVS_ERR_FORMAT, "CCF bank of %s lacks parameter %s", s->arms[0].setup,
                       fc->parnames[k]);
  }
  *vsini = isnan(r.vsini) ? -1 : r.vsini;
  *vel_ccf = r.best_vel;
  return RVS_OK;
}

/* CCF start for one spectrum on the CPU. */
static int ccf_start(rvs_context *ctx, const rvs_fit_config *fc, const rvs_spectrum *s,
                     double *params, double *vsini, double *vel_ccf) {
  rvs_ccf_arm arms[RVS_MAXARMS];
  int rc = ccf_arms(ctx, s, arms);
  if (rc) return rc;
  rvs_ccf_result r;
  rc = rvs_ccf_fit(arms, s->narms, ctx->cfg.max_vel, ctx->cfg.vel_step0, &r);
  if (rc) return rc;
  return ccf_apply(fc, s, arms[0].bank, &r, params, vsini, vel_ccf);
}

static int bruteforce_start(rvs_context *ctx, const rvs_fit_config *fc, const rvs_spectrum *s,
                            double *params, double *vsini) {
  int slot, rc;
  if ((rc = ctx->be->add_slot(ctx->be, s, &slot))) return rc;
  long n = rvs_firstguess_count(fc);
  rvs_eval_request *req = malloc(sizeof *req * (size_t)n);
  rvs_eval_result *res = malloc(sizeof *res * (size_t)n);
  rvs_firstguess fg;
  rvs_firstguess_init(&fg);
  if (!req || !res) rc = rvs_error(RVS_ERR_NOMEM, "bruteforce initialisation: no memory");
  for (int v = 0; v < RVS_FIRSTGUESS_NVSINI && rc == RVS_OK; v++) {
    if ((rc = rvs_firstguess_requests(fc, slot, v, req))) break;
    if ((rc = ctx->be->evaluate(ctx->be, req, (size_t)n, res))) break;
    rc = rvs_firstguess_tell(&fg, fc, v, res);
  }
  free(req);
  free(res);
  ctx->be->remove_slot(ctx->be, slot);
  if (rc) return rc;
  memcpy(params, fg.params, sizeof(double) * (size_t)fc->nparam);
  *vsini = fg.vsini;
  return RVS_OK;
}

/* A chunk in flight: its jobs, and how many are not finished yet. */
typedef struct chunk_rec {
  rvs_fit_chunk c;
  rvs_fit_config fc;
  rvs_fit_job *jobs;   /* c.n jobs, in the chunk's order */
  rvs_fit_job *run;    /* the jobs whose start succeeded, handed to the scheduler */
  size_t *map;         /* run[k] is jobs[map[k]] */
  size_t nrun, remaining;
  struct chunk_rec *prev, *next;
} chunk_rec;

typedef struct stream_state {
  rvs_context *ctx;
  const rvs_stream_callbacks *cb;
  chunk_rec *head;     /* chunks in flight */
} stream_state;

static void chunk_unlink(stream_state *s, chunk_rec *r) {
  if (r->prev) r->prev->next = r->next;
  else s->head = r->next;
  if (r->next) r->next->prev = r->prev;
}

static void chunk_free(chunk_rec *r) {
  free(r->jobs);
  free(r->run);
  free(r->map);
  free(r);
}

/* Every job of the chunk is finished: outputs, then back to the caller. */
static void chunk_finish(stream_state *s, chunk_rec *r) {
  for (size_t k = 0; k < r->nrun; k++) r->jobs[r->map[k]] = r->run[k];
  for (size_t i = 0; i < r->c.n; i++) {
    rvs_fit_output *o = &r->c.outs[i];
    const rvs_fit_job *j = &r->jobs[i];
    const rvs_fit_result *res = &j->result;
    double vel_ccf = o->vel_ccf;
    memset(o, 0, sizeof *o);
    o->vel_ccf = vel_ccf;
    o->status = j->status;
    if (o->status != RVS_OK) {
      snprintf(o->message, sizeof o->message, "%s", j->errmsg);
      continue;
    }
    o->vel = res->vel;
    o->vel_err = res->vel_err;
    o->vel_skewness = res->vel_skewness;
    o->vel_kurtosis = res->vel_kurtosis;
    o->has_vsini = res->has_vsini;
    o->vsini = res->vsini;
    o->nparam = r->fc.nparam;
    memcpy(o->param, res->param, sizeof o->param);
    memcpy(o->param_err, res->param_err, sizeof o->param_err);
    o->chisq = res->chisq;
    o->narms = res->narms;
    memcpy(o->chisq_arm, res->chisq_arm, sizeof o->chisq_arm);
    memcpy(o->chisq_c_arm, res->chisq_c_arm, sizeof o->chisq_c_arm);
    memcpy(o->npix_arm, res->npix_arm, sizeof o->npix_arm);
    o->minimize_success = res->minimize_success;
    o->bad_hessian = res->bad_hessian;
    o->nevals = res->nrequests;
  }
  chunk_unlink(s, r);
  rvs_fit_chunk c = r->c;
  chunk_free(r);
  s->cb->done(s->cb->user, &c, RVS_OK);
}

static void chunk_starts_run(rvs_context *ctx, chunk_rec *r);

/* Starting points of a chunk: given, CCF (parallel over spectra) or brute force. */
static void chunk_starts(rvs_context *ctx, chunk_rec *r) {
  double t0 = wall_now();
  chunk_starts_run(ctx, r);
  ctx->timing.start_seconds += wall_now() - t0;
}

#ifdef RVS_HAVE_CUDA
/* CCF starts of a chunk on the GPU, one batch per arm count.  Returns an
 * error only when the device failed (the CPU then does the chunk). */
static int chunk_starts_gpu(rvs_context *ctx, chunk_rec *r) {
  const rvs_fit_chunk *c = &r->c;
  size_t n = c->n;
  rvs_ccf_arm *arms = malloc(sizeof *arms * (n ? n : 1) * RVS_MAXARMS);
  size_t *idx = malloc(sizeof *idx * (n ? n : 1));
  rvs_ccf_result *res = malloc(sizeof *res * (n ? n : 1));
  int *st = malloc(sizeof *st * (n ? n : 1));
  int rc = RVS_OK;
  if (!arms || !idx || !res || !st) rc = rvs_error(RVS_ERR_NOMEM, "CCF: no memory");
  for (int na = 1; na <= RVS_MAXARMS && rc == RVS_OK; na++) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
      if (c->specs[i].narms != na || r->jobs[i].status != RVS_OK) continue;
      int e = ccf_arms(ctx, &c->specs[i], arms + m * (size_t)na);
      if (e) {
        r->jobs[i].status = e;
        snprintf(r->jobs[i].errmsg, sizeof r->jobs[i].errmsg, "%s", rvs_last_error());
        continue;
      }
      idx[m++] = i;
    }
    if (!m) continue;
    rc = rvs_ccf_gpu_fit_batch(ctx->ccf_gpu, arms, na, m, ctx->cfg.max_vel, ctx->cfg.vel_step0,
                               res, st);
    if (rc) break;
    for (size_t k = 0; k < m; k++) {
      size_t i = idx[k];
      int e = st[k];
      if (e == RVS_OK)
        e = ccf_apply(&r->fc, &c->specs[i], arms[k * (size_t)na].bank, &res[k],
                      r->jobs[i].params0, &r->jobs[i].vsini0, &c->outs[i].vel_ccf);
      else
        rvs_error(e, "Cross-correlation step failed (%s)", rvs_status_name(e));
      if (e) {
        r->jobs[i].status = e;
        snprintf(r->jobs[i].errmsg, sizeof r->jobs[i].errmsg, "%s", rvs_last_error());
      }
    }
  }
  free(arms);
  free(idx);
  free(res);
  free(st);
  return rc;
}
#endif

static void chunk_starts_run(rvs_context *ctx, chunk_rec *r) {
  const rvs_fit_chunk *c = &r->c;
  size_t n = c->n;
#ifdef RVS_HAVE_CUDA
  if (ctx->ccf_gpu && !c->starts && ctx->opt.param_init == RVS_INIT_CCF) {
    if (chunk_starts_gpu(ctx, r) == RVS_OK) return;
    rvs_log(RVS_LOG_WARNING, "CCF on the GPU failed (%s); this chunk's CCF runs on the CPU",
            rvs_last_error());
    for (size_t i = 0; i < n; i++) r->jobs[i].status = RVS_OK;
  }
#endif
  if (!c->starts && ctx->opt.param_init == RVS_INIT_CCF) {
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t i = 0; i < n; i++) {
      int e = ccf_start(ctx, &r->fc, &c->specs[i], r->jobs[i].params0, &r->jobs[i].vsini0,
                        &c->outs[i].vel_ccf);
      if (e) {
        r->jobs[i].status = e;
        snprintf(r->jobs[i].errmsg, sizeof r->jobs[i].errmsg, "%s", rvs_last_error());
      }
    }
    return;
  }
  for (size_t i = 0; i < n; i++) {
    int e = RVS_OK;
    if (c->starts) {
      memcpy(r->jobs[i].params0, c->starts[i].params, sizeof(double) * (size_t)r->fc.nparam);
      r->jobs[i].vsini0 = isnan(c->starts[i].vsini) ? -1 : c->starts[i].vsini;
    } else {
      e = bruteforce_start(ctx, &r->fc, &c->specs[i], r->jobs[i].params0, &r->jobs[i].vsini0);
    }
    if (e) {
      r->jobs[i].status = e;
      snprintf(r->jobs[i].errmsg, sizeof r->jobs[i].errmsg, "%s", rvs_last_error());
    }
  }
}

/* Scheduler source: the caller's next chunk, started and turned into jobs. */
static int stream_next(void *user, rvs_fit_job **jobs, size_t *njobs) {
  stream_state *s = user;
  for (;;) {
    rvs_fit_chunk c;
    memset(&c, 0, sizeof c);
    int g = s->cb->next(s->cb->user, &c);
    if (g <= 0 || g == 2) return g;
    chunk_rec *r = calloc(1, sizeof *r);
    size_t n = c.n;
    if (r) {
      r->jobs = calloc(n ? n : 1, sizeof *r->jobs);
      r->run = calloc(n ? n : 1, sizeof *r->run);
      r->map = malloc(sizeof(size_t) * (n ? n : 1));
    }
    if (!r || !r->jobs || !r->run || !r->map) {
      if (r) chunk_free(r);
      s->cb->done(s->cb->user, &c,
                  rvs_error(RVS_ERR_NOMEM, "no memory for a chunk of %zu fits", n));
      continue;
    }
    r->c = c;
    r->next = s->head;
    if (s->head) s->head->prev = r;
    s->head = r;
    for (size_t i = 0; i < n; i++) {
      memset(&c.outs[i], 0, sizeof c.outs[i]);
      c.outs[i].vel_ccf = NAN;
    }
    int rc = n ? prepare_setups(s->ctx, c.specs, n, &r->fc) : RVS_OK;
    if (rc) {
      chunk_unlink(s, r);
      chunk_free(r);
      s->cb->done(s->cb->user, &c, rc);
      continue;
    }
    for (size_t i = 0; i < n; i++) {
      rvs_fit_job *j = &r->jobs[i];
      j->spec = &c.specs[i];
      if (c.models)
        for (int a = 0; a < RVS_MAXARMS; a++) j->models[a] = c.models[i][a];
      j->owner = r;
      j->cfg = &r->fc;
    }
    chunk_starts(s->ctx, r);
    for (size_t i = 0; i < n; i++)
      if (r->jobs[i].status == RVS_OK) {
        r->map[r->nrun] = i;
        r->run[r->nrun++] = r->jobs[i];
      }
    r->remaining = r->nrun;
    if (r->remaining == 0) {
      chunk_finish(s, r);
      continue;
    }
    *jobs = r->run;
    *njobs = r->nrun;
    return 1;
  }
}

static void stream_done(void *user, rvs_fit_job *job) {
  stream_state *s = user;
  s->ctx->timing.fits++;
  chunk_rec *r = job->owner;
  if (--r->remaining == 0) chunk_finish(s, r);
}

static int stream_abort(void *user) {
  stream_state *s = user;
  return s->cb->abort ? s->cb->abort(s->cb->user) : 0;
}

int rvs_fit_stream(rvs_context *ctx, const rvs_stream_callbacks *cb) {
  if (!ctx || !cb || !cb->next || !cb->done)
    return rvs_error(RVS_ERR_ARG, "rvs_fit_stream: bad arguments");
  stream_state s = {ctx, cb, NULL};
  rvs_job_source src = {stream_next, stream_done, stream_abort, &s};
  rvs_fit_config dummy; /* every job carries its chunk's configuration */
  memset(&dummy, 0, sizeof dummy);
  rvs_scheduler_stats st;
  double t0 = wall_now();
  int rc = rvs_fit_jobs_stream(ctx->be, &dummy, &src, rvs_context_pool(ctx), &st);
  rvs_timing *t = &ctx->timing;
  t->total_seconds += wall_now() - t0;
  t->eval_seconds += st.eval_seconds;
  t->rounds += st.rounds;
  t->requests += st.requests;
  t->memo_hits += st.memo_hits;
  for (int k = 0; k < RVS_ROUND_BUCKETS; k++) {
    t->size_rounds[k] += st.size_rounds[k];
    t->size_requests[k] += st.size_requests[k];
    t->size_seconds[k] += st.size_seconds[k];
  }
  for (int p = 0; p < RVS_TIME_NPHASES && p < RVS_NPHASES; p++) {
    t->phase_seconds[p] += st.phase_seconds[p];
    t->phase_requests[p] += st.phase_requests[p];
  }
  /* chunks still in flight after a failure go back with the error */
  while (s.head) {
    chunk_rec *r = s.head;
    chunk_unlink(&s, r);
    rvs_fit_chunk c = r->c;
    chunk_free(r);
    cb->done(cb->user, &c, rc ? rc : RVS_ERR_ARG);
  }
  return rc;
}

int rvs_context_pool(const rvs_context *ctx) {
  return ctx->opt.pool > 0 ? ctx->opt.pool : 256;
}

const char *rvs_context_backend_name(const rvs_context *ctx) { return ctx->be->name; }

void rvs_context_timing(const rvs_context *ctx, rvs_timing *t) { *t = ctx->timing; }

/* rvs_fit_batch: a stream of one chunk */
typedef struct one_chunk {
  rvs_fit_chunk c;
  int given, status;
} one_chunk;

static int one_next(void *user, rvs_fit_chunk *chunk) {
  one_chunk *o = user;
  if (o->given) return 0;
  o->given = 1;
  *chunk = o->c;
  return 1;
}

static void one_done(void *user, rvs_fit_chunk *chunk, int status) {
  (void)chunk;
  ((one_chunk *)user)->status = status;
}

int rvs_fit_batch(rvs_context *ctx, const rvs_spectrum *specs, size_t n, const rvs_start *starts,
                  rvs_fit_output *outs, double *const (*models)[RVS_MAXARMS]) {
  one_chunk o;
  memset(&o, 0, sizeof o);
  o.c.specs = specs;
  o.c.n = n;
  o.c.starts = starts;
  o.c.outs = outs;
  o.c.models = models;
  rvs_stream_callbacks cb = {one_next, one_done, NULL, &o};
  int rc = rvs_fit_stream(ctx, &cb);
  if (rc) return rc;
  return o.status;
}

int rvs_fit_one(rvs_context *ctx, const rvs_spectrum *spec, const rvs_start *start,
                rvs_fit_output *out) {
  int rc = rvs_fit_batch(ctx, spec, 1, start, out, NULL);
  if (rc) return rc;
  if (out->status) return out->status;
  return RVS_OK;
}
