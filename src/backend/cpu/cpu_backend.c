/* CPU backend: evaluates batches of likelihood requests with OpenMP.
 *
 * Requests are cut into runs of consecutive requests that share the slot,
 * the atmospheric parameters and vsini (a velocity grid, the velocity points
 * of a stencil).  A run interpolates, broadens and splines each arm's
 * template once (upstream caches exactly these per parameter set), then only
 * the Doppler-shifted spline evaluation, the resolution and the continuum
 * solve are done per velocity.  Runs are independent: parallel over runs. */
#include "backend/backend.h"

#include "core/basis.h"
#include "core/basis_cache.h"
#include "core/chisq.h"
#include "core/doppler.h"
#include "core/rotation.h"
#include "core/spline.h"
#include "rvs/log.h"
#include "rvs/status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct cpu_arm {
  const rvs_interp *ip;
  size_t n;
  double *lam, *lnlam, *flux, *sigma, *B;
  double *D, *isig;  /* flux/sigma and 1/sigma */
  double lsig;       /* sum ln sigma */
  unsigned char *badmask;
  rvs_banded resol;
  double *resol_diag; /* diagonal-major taps (rvs_banded_apply_diag) */
  int has_resol;
  double *model; /* last FULL model */
  int shared;    /* lam, lnlam, B belong to the backend's basis cache */
} cpu_arm;

typedef struct cpu_slot {
  int used;
  int narms;
  cpu_arm arms[RVS_MAXARMS];
  long ntot; /* sum of pixels over arms */
} cpu_slot;

/* Per-thread scratch kept between calls: buffers, and one spline per
 * template setup whose Thomas factors (which depend only on the grid) are
 * computed once; each template then costs one rvs_spline_set_y. */
typedef struct thread_ws {
  size_t maxn, maxt, wsize;
  double *spec, *t1, *t2, *work, *coeffs;
  int nspl;
  const rvs_interp *spl_ip[RVS_LIB_MAX_SETUPS];
  rvs_spline spl[RVS_LIB_MAX_SETUPS];
} thread_ws;

typedef struct cpu_backend {
  rvs_backend base;
  rvs_template_lib *lib;
  rvs_backend_options opt;
  cpu_slot *slots;
  int nslots, cap;
  thread_ws *ws;
  int nws;
  rvs_basis_cache basis; /* lam, ln lam, B per wavelength grid */
} cpu_backend;

static void ws_free(thread_ws *w) {
  free(w->spec); free(w->t1); free(w->t2); free(w->work); free(w->coeffs);
  for (int i = 0; i < w->nspl; i++) rvs_spline_free(&w->spl[i]);
  memset(w, 0, sizeof *w);
}

/* Grow the buffers to the sizes of this batch. */
static int ws_reserve(thread_ws *w, size_t maxn, size_t maxt, size_t wsize, int P) {
  if (maxn <= w->maxn && maxt <= w->maxt && wsize <= w->wsize && w->coeffs) return RVS_OK;
  if (maxn < w->maxn) maxn = w->maxn;
  if (maxt < w->maxt) maxt = w->maxt;
  if (wsize < w->wsize) wsize = w->wsize;
  free(w->spec); free(w->t1); free(w->t2); free(w->work); free(w->coeffs);
  w->spec = malloc(sizeof(double) * maxt);
  w->t1 = malloc(sizeof(double) * maxn);
  w->t2 = malloc(sizeof(double) * maxn);
  w->work = malloc(sizeof(double) * wsize);
  w->coeffs = malloc(sizeof(double) * (size_t)(P > 0 ? P : 1));
  w->maxn = maxn;
  w->maxt = maxt;
  w->wsize = wsize;
  if (!w->spec || !w->t1 || !w->t2 || !w->work || !w->coeffs) {
    w->maxn = w->maxt = w->wsize = 0;
    return RVS_ERR_NOMEM;
  }
  return RVS_OK;
}

/* The thread's spline on the grid of `ip`, created on first use. */
static rvs_spline *ws_spline(thread_ws *w, const rvs_interp *ip) {
  for (int i = 0; i < w->nspl; i++)
    if (w->spl_ip[i] == ip) return &w->spl[i];
  if (w->nspl >= RVS_LIB_MAX_SETUPS) return NULL;
  int kind = rvs_interp_log_step(ip) ? RVS_GRID_LOG : RVS_GRID_LINEAR;
  if (rvs_spline_init_grid(&w->spl[w->nspl], rvs_interp_lam(ip), rvs_interp_npix(ip), kind))
    return NULL;
  w->spl_ip[w->nspl] = ip;
  return &w->spl[w->nspl++];
}

void rvs_backend_options_default(rvs_backend_options *o) {
  memset(o, 0, sizeof *o);
  o->npoly = 10;
  o->rbf_continuum = 1;
  o->outside_penalty = 1;
  o->min_vel = -1000;
  o->max_vel = 1000;
}

static void free_slot(cpu_slot *s) {
  for (int a = 0; a < s->narms; a++) {
    cpu_arm *A = &s->arms[a];
    if (!A->shared) { free(A->lam); free(A->lnlam); free(A->B); }
    free(A->D); free(A->isig); free(A->flux); free(A->sigma); free(A->badmask); free(A->model);
    if (A->has_resol) rvs_banded_free(&A->resol);
    free(A->resol_diag);
  }
  memset(s, 0, sizeof *s);
}

static double *dup_array(const double *src, size_t n) {
  double *d = malloc(sizeof(double) * (n ? n : 1));
  if (d && src) memcpy(d, src, sizeof(double) * n);
  return d;
}

static int cpu_add_slot(rvs_backend *b, const rvs_spectrum *spec, int *slot) {
  cpu_backend *cb = b->impl;
  int idx = -1;
  for (int i = 0; i < cb->nslots; i++)
    if (!cb->slots[i].used) { idx = i; break; }
  if (idx < 0) {
    if (cb->nslots == cb->cap) {
      int nc = cb->cap ? 2 * cb->cap : 64;
      cpu_slot *ns = realloc(cb->slots, sizeof *ns * (size_t)nc);
      if (!ns) return rvs_error(RVS_ERR_NOMEM, "CPU backend: no memory for slots");
      memset(ns + cb->cap, 0, sizeof *ns * (size_t)(nc - cb->cap));
      cb->slots = ns;
      cb->cap = nc;
    }
    idx = cb->nslots++;
  }
  cpu_slot *s = &cb->slots[idx];
  memset(s, 0, sizeof *s);
  if (spec->narms < 1 || spec->narms > RVS_MAXARMS)
    return rvs_error(RVS_ERR_ARG, "spectrum with %d arms", spec->narms);
  s->used = 1;
  for (int a = 0; a < spec->narms; a++) {
    const rvs_arm *in = &spec->arms[a];
    cpu_arm *A = &s->arms[a];
    s->narms = a + 1;
    int rc;
    rvs_interp *ip = NULL;
    if ((rc = rvs_template_lib_interp(cb->lib, in->setup, &ip))) goto fail;
    A->ip = ip;
    A->n = in->n;
    /* upstream's _overlap_check, once for the whole velocity range */
    const double *lt = rvs_interp_lam(ip);
    size_t nt = rvs_interp_npix(ip);
    double kmin = rvs_doppler_factor(cb->opt.min_vel), kmax = rvs_doppler_factor(cb->opt.max_vel);
    if (lt[0] * kmax > in->lam[0] || lt[nt - 1] * kmin < in->lam[in->n - 1]) {
      rc = rvs_error(RVS_ERR_RANGE,
                     "setup %s: templates (%.1f-%.1f A) do not cover the spectrum (%.1f-%.1f A) "
                     "for velocities %g..%g km/s",
                     in->setup, lt[0], lt[nt - 1], in->lam[0], in->lam[in->n - 1],
                     cb->opt.min_vel, cb->opt.max_vel);
      goto fail;
    }
    const rvs_basis_entry *be = NULL;
    if ((rc = rvs_basis_cache_get(&cb->basis, in->lam, in->n, cb->opt.npoly,
                                  cb->opt.rbf_continuum, &be)))
      goto fail;
    if (be) { /* the grid's arrays, shared with every spectrum on it */
      A->shared = 1;
      A->lam = be->lam;
      A->lnlam = be->lnlam;
      A->B = be->B;
    } else {
      A->lam = dup_array(in->lam, in->n);
      A->lnlam = dup_array(NULL, in->n);
      A->B = malloc(sizeof(double) * in->n * (size_t)cb->opt.npoly);
    }
    A->D = dup_array(NULL, in->n);
    A->isig = dup_array(NULL, in->n);
    A->flux = dup_array(in->flux, in->n);
    A->sigma = dup_array(in->sigma, in->n);
    A->badmask = calloc(in->n, 1);
    A->model = calloc(in->n, sizeof(double));
    if (!A->lam || !A->lnlam || !A->D || !A->isig || !A->flux || !A->sigma || !A->B || !A->badmask || !A->model) {
      rc = rvs_error(RVS_ERR_NOMEM, "CPU backend: no memory for a spectrum");
      goto fail;
    }
    if (in->badmask) memcpy(A->badmask, in->badmask, in->n);
    A->lsig = 0;
    for (size_t i = 0; i < in->n; i++) {
      if (!A->shared) A->lnlam[i] = log(A->lam[i]);
      A->isig[i] = 1.0 / A->sigma[i];
      A->D[i] = A->flux[i] / A->sigma[i];
      A->lsig += log(A->sigma[i]);
    }
    if (!A->shared &&
        (rc = rvs_continuum_basis(A->lam, A->n, cb->opt.npoly, cb->opt.rbf_continuum, A->B)))
      goto fail;
    if (in->resol_ndiag > 0 && in->resol) {
      if (in->resol_ndiag % 2 == 0) {
        rc = rvs_error(RVS_ERR_ARG, "setup %s: resolution band width %d is not odd", in->setup,
                       in->resol_ndiag);
        goto fail;
      }
      if ((rc = rvs_banded_alloc(&A->resol, in->n, in->resol_ndiag))) goto fail;
      A->has_resol = 1;
      memcpy(A->resol.w, in->resol, sizeof(double) * in->n * (size_t)in->resol_ndiag);
      A->resol_diag = rvs_banded_diag_alloc(&A->resol);
      if (!A->resol_diag) {
        rc = rvs_error(RVS_ERR_NOMEM, "CPU backend: no memory for a resolution matrix");
        goto fail;
      }
    }
    s->ntot += (long)in->n;
    continue;
  fail:
    free_slot(s);
    return rc;
  }
  *slot = idx;
  return RVS_OK;
}

static void cpu_remove_slot(rvs_backend *b, int slot) {
  cpu_backend *cb = b->impl;
  if (slot >= 0 && slot < cb->nslots) free_slot(&cb->slots[slot]);
}

static int same_run(const rvs_eval_request *a, const rvs_eval_request *b, int np) {
  if (a->slot != b->slot || a->kind != b->kind || !(a->vsini == b->vsini)) return 0;
  if (a->kind == RVS_EVAL_CONTINUUM) return 0;
  for (int i = 0; i < np; i++)
    if (!(a->params[i] == b->params[i])) return 0;
  return 1;
}

/* Per-arm template state for one run. */
typedef struct arm_tpl {
  double outside;
  rvs_spline *spl; /* the thread's spline holding this run's template */
} arm_tpl;

static int prepare_template(thread_ws *w, const cpu_arm *A, const rvs_eval_request *r,
                            arm_tpl *T) {
  const rvs_interp *ip = A->ip;
  size_t nt = rvs_interp_npix(ip);
  const double *lt = rvs_interp_lam(ip);
  T->spl = NULL;
  rvs_spline *spl = ws_spline(w, ip);
  if (!spl) return rvs_error(RVS_ERR_NOMEM, "CPU backend: cannot set up the template spline");
  /* the template goes straight into the spline's values (no copy), or into
   * spec first when vsini broadening follows */
  double *spec = r->vsini > 0 ? w->spec : spl->y;
  int rc = rvs_interp_eval(ip, r->params, spec, &T->outside);
  if (rc == RVS_ERR_RANGE || !isfinite(T->outside)) {
    T->outside = NAN;
    return RVS_OK;
  }
  if (rc) return rc;
  if (T->outside > 0) {
    double mx = 0;
    int finite = 1;
    for (size_t i = 0; i < nt; i++) {
      if (!isfinite(spec[i])) finite = 0;
      else if (fabs(spec[i]) > mx) mx = fabs(spec[i]);
    }
    if (!finite || mx > 1e100) {
      T->outside = NAN;
      return RVS_OK;
    }
  }
  if (r->vsini > 0) {
    double lnstep = log(lt[1] / lt[0]);
    if ((rc = rvs_convolve_vsini(spec, nt, lnstep, r->vsini, spl->y))) return rc;
  }
  T->spl = spl;
  rvs_spline_set_y(spl, spl->y);
  return RVS_OK;
}

/* -2 ln L of one request, given the run's templates. */
static void eval_one(cpu_backend *cb, const cpu_slot *s, arm_tpl *T, const rvs_eval_request *r,
                     rvs_eval_result *res, thread_ws *w) {
  double *t1 = w->t1, *t2 = w->t2, *work = w->work, *coeffs = w->coeffs;
  double badchi = 10.0 * (double)s->ntot;
  double total = 0;
  int P = cb->opt.npoly;
  res->narms = s->narms;
  res->status = RVS_OK;
  for (int a = 0; a < s->narms; a++) {
    const cpu_arm *A = &s->arms[a];
    res->chisq_arm[a] = NAN;
    res->npix_arm[a] = 0;
    if (r->kind == RVS_EVAL_CONTINUUM) {
      rvs_chisq_full full = {coeffs, NULL, 0, 0, 0};
      const double *Rone = NULL;
      if (A->has_resol) {
        for (size_t i = 0; i < A->n; i++) t1[i] = 1.0;
        rvs_banded_apply(&A->resol, t1, t2);
        Rone = t2;
      }
      double m2;
      int rc = rvs_marg_chisq_continuum(A->flux, A->sigma, Rone, A->B, A->n, P, A->badmask, &full,
                                        &m2, work);
      if (rc) res->status = rc;
      res->chisq_arm[a] = full.true_chisq;
      res->npix_arm[a] = full.npix;
      total += m2;
      continue;
    }
    if (isnan(T[a].outside)) {
      total += 1000 * badchi;
      continue;
    }
    if (cb->opt.outside_penalty) total += T[a].outside * badchi;
    int rc = rvs_spline_eval_doppler(T[a].spl, A->lam, A->lnlam, A->n, r->vel, t1);
    const double *t = t1;
    if (rc == RVS_OK && A->has_resol) {
      rvs_banded_apply_diag(&A->resol, A->resol_diag, t1, t2);
      t = t2;
    }
    double m2 = NAN;
    rvs_chisq_full full = {coeffs, A->model, 0, 0, 0};
    if (rc == RVS_OK)
      rc = rvs_marg_chisq_sig(A->flux, A->sigma, A->D, A->isig, A->lsig, t, A->B, A->n, P, &m2,
                              r->kind == RVS_EVAL_FULL ? &full : NULL, A->badmask, work);
    if (rc != RVS_OK || !isfinite(m2)) {
      if (T[a].outside > 0) continue; /* upstream: skipped with a warning outside the grid */
      res->status = rc ? rc : RVS_ERR_NUMERIC;
      total = NAN;
      continue;
    }
    if (r->kind == RVS_EVAL_FULL) {
      res->chisq_arm[a] = full.true_chisq;
      res->npix_arm[a] = full.npix;
    }
    total += m2;
  }
  res->m2lnl = total;
}

static int cpu_evaluate(rvs_backend *b, const rvs_eval_request *req, size_t n, rvs_eval_result *res) {
  cpu_backend *cb = b->impl;
  if (n == 0) return RVS_OK;
  int nth = 1;
#ifdef _OPENMP
  nth = omp_get_max_threads();
#endif
  /* Runs: consecutive requests with one template (a velocity grid), each
   * evaluated by one thread that builds the template once.  With several
   * threads a long run is cut into pieces of at most `maxrun` requests (each
   * piece builds the same template again, bit for bit), so that one fit's
   * velocity grid of hundreds of requests does not hold the round while the
   * other threads wait: a template costs about one evaluation, so pieces of
   * >= 16 add at most ~6%. */
  size_t maxrun = n;
  if (nth > 1) {
    maxrun = n / (4 * (size_t)nth);
    if (maxrun < 16) maxrun = 16;
  }
  size_t *start = malloc(sizeof(size_t) * (n + 1));
  if (!start) return rvs_error(RVS_ERR_NOMEM, "CPU backend: no memory");
  size_t nruns = 0;
  for (size_t i = 0; i < n; i++) {
    if (req[i].slot < 0 || req[i].slot >= cb->nslots || !cb->slots[req[i].slot].used) {
      free(start);
      return rvs_error(RVS_ERR_ARG, "CPU backend: request for unknown slot %d", req[i].slot);
    }
    if (i == 0 || !same_run(&req[i - 1], &req[i], RVS_MAXPAR) || i - start[nruns - 1] >= maxrun)
      start[nruns++] = i;
  }
  start[nruns] = n;
  /* longest runs first (then in request order), so that the last runs a
   * thread picks up are short ones: a counting sort by length */
  size_t *order = malloc(sizeof(size_t) * (nruns ? nruns : 1));
  size_t *count = nth > 1 ? calloc(maxrun + 2, sizeof(size_t)) : NULL;
  if (!order || (nth > 1 && !count)) {
    free(order);
    free(count);
    free(start);
    return rvs_error(RVS_ERR_NOMEM, "CPU backend: no memory");
  }
  if (nth > 1) {
    for (size_t k = 0; k < nruns; k++) count[maxrun - (start[k + 1] - start[k])]++;
    for (size_t L = 0, acc = 0; L <= maxrun; L++) {
      size_t c = count[L];
      count[L] = acc;
      acc += c;
    }
    for (size_t k = 0; k < nruns; k++) order[count[maxrun - (start[k + 1] - start[k])]++] = k;
  } else {
    for (size_t k = 0; k < nruns; k++) order[k] = k;
  }
  free(count);
  /* scratch sizes */
  size_t maxn = 1, maxt = 1;
  for (int s = 0; s < cb->nslots; s++) {
    if (!cb->slots[s].used) continue;
    for (int a = 0; a < cb->slots[s].narms; a++) {
      const cpu_arm *A = &cb->slots[s].arms[a];
      if (A->n > maxn) maxn = A->n;
      if (rvs_interp_npix(A->ip) > maxt) maxt = rvs_interp_npix(A->ip);
    }
  }
  int P = cb->opt.npoly;
  size_t wsize = rvs_marg_chisq_work_size(maxn, P);
  size_t wsize2 = rvs_marg_chisq_continuum_work_size(maxn, P);
  if (wsize2 > wsize) wsize = wsize2;
  if (nth > cb->nws) {
    thread_ws *nw = realloc(cb->ws, sizeof *nw * (size_t)nth);
    if (!nw) {
      free(start);
      free(order);
      return rvs_error(RVS_ERR_NOMEM, "CPU backend: no memory for thread workspaces");
    }
    memset(nw + cb->nws, 0, sizeof *nw * (size_t)(nth - cb->nws));
    cb->ws = nw;
    cb->nws = nth;
  }
  int failed = 0;
#pragma omp parallel reduction(| : failed)
  {
    int tid = 0;
#ifdef _OPENMP
    tid = omp_get_thread_num();
#endif
    thread_ws *w = &cb->ws[tid];
    int ok = ws_reserve(w, maxn, maxt, wsize, P) == RVS_OK;
    if (!ok) failed = 1;
#pragma omp for schedule(dynamic, 1)
    for (size_t kk = 0; kk < nruns; kk++) {
      if (!ok) continue;
      const size_t k = order[kk];
      const rvs_eval_request *r0 = &req[start[k]];
      const cpu_slot *s = &cb->slots[r0->slot];
      arm_tpl T[RVS_MAXARMS];
      int rc = RVS_OK;
      for (int a = 0; a < s->narms; a++) {
        T[a].spl = NULL;
        if (r0->kind == RVS_EVAL_CONTINUUM) continue;
        if (rc == RVS_OK) rc = prepare_template(w, &s->arms[a], r0, &T[a]);
        /* arms of one setup share the thread's spline: keep the values of
         * this arm's template (identical for identical setups and params) */
      }
      for (size_t i = start[k]; i < start[k + 1]; i++) {
        if (rc) {
          memset(&res[i], 0, sizeof res[i]);
          res[i].m2lnl = NAN;
          res[i].status = rc;
          continue;
        }
        eval_one(cb, s, T, &req[i], &res[i], w);
      }
    }
  }
  free(start);
  free(order);
  if (failed) return rvs_error(RVS_ERR_NOMEM, "CPU backend: no memory for scratch buffers");
  return RVS_OK;
}

static int cpu_get_model(rvs_backend *b, int slot, int arm, double *model) {
  cpu_backend *cb = b->impl;
  if (slot < 0 || slot >= cb->nslots || !cb->slots[slot].used || arm < 0 ||
      arm >= cb->slots[slot].narms)
    return rvs_error(RVS_ERR_ARG, "CPU backend: no model for slot %d arm %d", slot, arm);
  const cpu_arm *A = &cb->slots[slot].arms[arm];
  memcpy(model, A->model, sizeof(double) * A->n);
  return RVS_OK;
}

static void cpu_destroy(rvs_backend *b) {
  if (!b) return;
  cpu_backend *cb = b->impl;
  for (int i = 0; i < cb->nslots; i++)
    if (cb->slots[i].used) free_slot(&cb->slots[i]);
  free(cb->slots);
  for (int i = 0; i < cb->nws; i++) ws_free(&cb->ws[i]);
  free(cb->ws);
  rvs_basis_cache_free(&cb->basis);
  free(cb);
}

int rvs_backend_cpu_create(rvs_template_lib *lib, const rvs_backend_options *opt,
                           rvs_backend **out) {
  cpu_backend *cb = calloc(1, sizeof *cb);
  if (!cb) return rvs_error(RVS_ERR_NOMEM, "CPU backend: no memory");
  cb->lib = lib;
  if (opt) cb->opt = *opt;
  else rvs_backend_options_default(&cb->opt);
  if (cb->opt.npoly <= 0) cb->opt.npoly = 5; /* upstream: options.get('npoly') or 5 */
#ifdef _OPENMP
  if (cb->opt.nthreads > 0) omp_set_num_threads(cb->opt.nthreads);
#endif
  cb->base.name = "cpu";
  cb->base.add_slot = cpu_add_slot;
  cb->base.remove_slot = cpu_remove_slot;
  cb->base.evaluate = cpu_evaluate;
  cb->base.get_model = cpu_get_model;
  cb->base.destroy = cpu_destroy;
  cb->base.impl = cb;
  *out = &cb->base;
  return RVS_OK;
}
