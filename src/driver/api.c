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
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rvs_context {
  rvs_config cfg;
  rvs_options opt;
  rvs_template_lib lib;
  rvs_backend *be;
};

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
    } else if (c->opt.pool <= 0) {
      c->opt.pool = 4096; /* keep the device busy */
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
  ctx->be->destroy(ctx->be);
  rvs_template_lib_close(&ctx->lib);
  free(ctx);
}

int rvs_context_parnames(rvs_context *ctx, const char *setup, int *nparam,
                         const char *names[RVS_MAX_PARAMS]) {
  rvs_interp *ip;
  int rc = rvs_template_lib_interp(&ctx->lib, setup, &ip);
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

/* CCF start for one spectrum: parameters mapped by name to the interpolator order. */
static int ccf_start(rvs_context *ctx, const rvs_fit_config *fc, const rvs_spectrum *s,
                     double *params, double *vsini, double *vel_ccf) {
  rvs_ccf_arm arms[RVS_MAXARMS];
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
  rvs_ccf_result r;
  int rc = rvs_ccf_fit(arms, s->narms, ctx->cfg.max_vel, ctx->cfg.vel_step0, &r);
  if (rc) return rc;
  const rvs_ccf_bank *b = arms[0].bank;
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

int rvs_fit_batch(rvs_context *ctx, const rvs_spectrum *specs, size_t n, const rvs_start *starts,
                  rvs_fit_output *outs, double *const (*models)[RVS_MAXARMS]) {
  rvs_fit_config fc;
  int rc = prepare_setups(ctx, specs, n, &fc);
  if (rc) return rc;
  rvs_fit_job *jobs = calloc(n, sizeof *jobs);
  if (!jobs) return rvs_error(RVS_ERR_NOMEM, "no memory for %zu fits", n);
  for (size_t i = 0; i < n; i++) {
    memset(&outs[i], 0, sizeof outs[i]);
    outs[i].vel_ccf = NAN;
    jobs[i].spec = &specs[i];
    if (models)
      for (int a = 0; a < RVS_MAXARMS; a++) jobs[i].models[a] = models[i][a];
  }
  /* starting points: given, CCF (parallel over spectra) or brute force */
  if (!starts && ctx->opt.param_init == RVS_INIT_CCF) {
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t i = 0; i < n; i++) {
      int r = ccf_start(ctx, &fc, &specs[i], jobs[i].params0, &jobs[i].vsini0, &outs[i].vel_ccf);
      if (r) {
        jobs[i].status = r;
        snprintf(jobs[i].errmsg, sizeof jobs[i].errmsg, "%s", rvs_last_error());
      }
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      int r = RVS_OK;
      if (starts) {
        memcpy(jobs[i].params0, starts[i].params, sizeof(double) * (size_t)fc.nparam);
        jobs[i].vsini0 = isnan(starts[i].vsini) ? -1 : starts[i].vsini;
      } else {
        r = bruteforce_start(ctx, &fc, &specs[i], jobs[i].params0, &jobs[i].vsini0);
      }
      if (r) {
        jobs[i].status = r;
        snprintf(jobs[i].errmsg, sizeof jobs[i].errmsg, "%s", rvs_last_error());
      }
    }
  }
  /* fit the spectra whose start succeeded */
  size_t *map = malloc(sizeof(size_t) * (n ? n : 1));
  rvs_fit_job *run = calloc(n ? n : 1, sizeof *run);
  if (!map || !run) {
    free(map); free(run); free(jobs);
    return rvs_error(RVS_ERR_NOMEM, "no memory for %zu fits", n);
  }
  size_t nrun = 0;
  for (size_t i = 0; i < n; i++)
    if (jobs[i].status == RVS_OK) {
      map[nrun] = i;
      run[nrun++] = jobs[i];
    }
  rc = rvs_fit_jobs(ctx->be, &fc, run, nrun, ctx->opt.pool, NULL, NULL, NULL);
  for (size_t k = 0; k < nrun; k++) jobs[map[k]] = run[k];
  for (size_t i = 0; i < n; i++) {
    rvs_fit_output *o = &outs[i];
    const rvs_fit_result *r = &jobs[i].result;
    o->status = jobs[i].status;
    if (o->status != RVS_OK) {
      snprintf(o->message, sizeof o->message, "%s", jobs[i].errmsg);
      continue;
    }
    o->vel = r->vel;
    o->vel_err = r->vel_err;
    o->vel_skewness = r->vel_skewness;
    o->vel_kurtosis = r->vel_kurtosis;
    o->has_vsini = r->has_vsini;
    o->vsini = r->vsini;
    o->nparam = fc.nparam;
    memcpy(o->param, r->param, sizeof o->param);
    memcpy(o->param_err, r->param_err, sizeof o->param_err);
    o->chisq = r->chisq;
    o->narms = r->narms;
    memcpy(o->chisq_arm, r->chisq_arm, sizeof o->chisq_arm);
    memcpy(o->chisq_c_arm, r->chisq_c_arm, sizeof o->chisq_c_arm);
    memcpy(o->npix_arm, r->npix_arm, sizeof o->npix_arm);
    o->minimize_success = r->minimize_success;
    o->bad_hessian = r->bad_hessian;
    o->nevals = r->nrequests;
  }
  free(map);
  free(run);
  free(jobs);
  return rc;
}

int rvs_fit_one(rvs_context *ctx, const rvs_spectrum *spec, const rvs_start *start,
                rvs_fit_output *out) {
  int rc = rvs_fit_batch(ctx, spec, 1, start, out, NULL);
  if (rc) return rc;
  if (out->status) return out->status;
  return RVS_OK;
}
