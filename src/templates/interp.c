/* Interpolator object: common parts, accessors, evaluation (see interp.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/simd.h"
#include "core/vexp.h"
#include "rvs/status.h"
#include "templates/interp_internal.h"
#include "templates/tpl_h5.h"

rvs_interp *rvs_interp_alloc_common(const rvs_specs *s, size_t nvert, int *st) {
  *st = RVS_OK;
  if (!s || s->nspec < 1 || s->npix < 1 || s->nparam < 1 || !s->specs || !s->vec ||
      !s->lam) {
    *st = rvs_error(RVS_ERR_ARG, "interpolator: empty or incomplete template library");
    return NULL;
  }
  if (s->nparam > 16) {
    *st = rvs_error(RVS_ERR_ARG, "interpolator: %zu parameters (at most 16 supported)",
                    s->nparam);
    return NULL;
  }
  rvs_interp *ip = calloc(1, sizeof *ip);
  if (!ip) goto nomem;
  ip->ndim = (int)s->nparam;
  ip->npix = s->npix;
  ip->nvert = nvert;
  ip->nreal = s->nspec;
  ip->log_spec = s->log_spec;
  ip->log_step = s->log_step;
  ip->float_bits = s->float_bits == 32 ? 32 : 64;
  ip->lam = malloc(s->npix * sizeof(double));
  ip->parnames = calloc((size_t)ip->ndim, sizeof(char *));
  ip->is_log = calloc((size_t)ip->ndim, sizeof(int));
  ip->vec = malloc(nvert * (size_t)ip->ndim * sizeof(double));
  if (ip->float_bits == 32)
    ip->specs32 = malloc(nvert * s->npix * sizeof(float));
  else
    ip->specs64 = malloc(nvert * s->npix * sizeof(double));
  if (!ip->lam || !ip->parnames || !ip->is_log || !ip->vec ||
      (!ip->specs32 && !ip->specs64))
    goto nomem;
  memcpy(ip->lam, s->lam, s->npix * sizeof(double));
  for (int d = 0; d < ip->ndim; d++) {
    char buf[32];
    const char *name = s->parnames && s->parnames[d] ? s->parnames[d] : NULL;
    if (!name) {
      snprintf(buf, sizeof buf, "p%d", d);
      name = buf;
    }
    ip->parnames[d] = tpl_strdup(name);
    if (!ip->parnames[d]) goto nomem;
  }
  for (size_t i = 0; i < s->nlog_ids; i++) {
    int id = s->log_ids[i];
    if (id < 0 || id >= ip->ndim) {
      rvs_interp_free(ip);
      *st = rvs_error(RVS_ERR_ARG, "interpolator: log parameter index %d out of range", id);
      return NULL;
    }
    ip->is_log[id] = 1;
  }
  return ip;
nomem:
  rvs_interp_free(ip);
  *st = rvs_error(RVS_ERR_NOMEM, "interpolator: out of memory");
  return NULL;
}

int rvs_interp_store_specs(rvs_interp *ip, size_t row, const double *spec) {
  for (size_t j = 0; j < ip->npix; j++)
    if (!isfinite(spec[j]))
      return rvs_error(RVS_ERR_NUMERIC, "interpolator: template %zu has a non-finite value",
                       row);
  if (ip->float_bits == 32) {
    float *dst = ip->specs32 + row * ip->npix;
    for (size_t j = 0; j < ip->npix; j++) dst[j] = (float)spec[j];
  } else {
    memcpy(ip->specs64 + row * ip->npix, spec, ip->npix * sizeof(double));
  }
  return RVS_OK;
}

void rvs_interp_free(rvs_interp *ip) {
  if (!ip) return;
  free(ip->lam);
  tpl_free_strlist(ip->parnames, ip->parnames ? (size_t)ip->ndim : 0);
  free(ip->is_log);
  free(ip->specs32);
  free(ip->specs64);
  free(ip->vec);
  free(ip->revision);
  free(ip->cmdline);
  free(ip->simplices);
  free(ip->neighbors);
  free(ip->transform);
  free(ip->degenerate);
  free(ip->extraflags);
  free(ip->box_lo);
  free(ip->box_hi);
  free(ip->bucket_n);
  free(ip->bucket_start);
  free(ip->cand_off);
  free(ip->cand);
  if (ip->uvecs)
    for (int d = 0; d < ip->ndim; d++) free(ip->uvecs[d]);
  free(ip->uvecs);
  free(ip->ulen);
  free(ip->idgrid);
  free(ip->ptp_scale);
  free(ip);
}

int rvs_interp_set_provenance(rvs_interp *ip, const char *revision, const char *cmdline) {
  char *r = tpl_strdup(revision), *c = tpl_strdup(cmdline);
  if ((revision && !r) || (cmdline && !c)) {
    free(r);
    free(c);
    return rvs_error(RVS_ERR_NOMEM, "interpolator: out of memory");
  }
  free(ip->revision);
  free(ip->cmdline);
  ip->revision = r;
  ip->cmdline = c;
  return RVS_OK;
}

rvs_interp_kind rvs_interp_get_kind(const rvs_interp *ip) { return ip->kind; }
size_t rvs_interp_npix(const rvs_interp *ip) { return ip->npix; }
const double *rvs_interp_lam(const rvs_interp *ip) { return ip->lam; }
int rvs_interp_nparam(const rvs_interp *ip) { return ip->ndim; }
const char *rvs_interp_parname(const rvs_interp *ip, int i) {
  return i >= 0 && i < ip->ndim ? ip->parnames[i] : NULL;
}
int rvs_interp_log_step(const rvs_interp *ip) { return ip->log_step; }
int rvs_interp_log_spec(const rvs_interp *ip) { return ip->log_spec; }
const char *rvs_interp_revision(const rvs_interp *ip) {
  return ip->revision ? ip->revision : "";
}
int rvs_interp_param_index(const rvs_interp *ip, const char *name) {
  for (int d = 0; d < ip->ndim; d++)
    if (strcmp(ip->parnames[d], name) == 0) return d;
  return -1;
}
size_t rvs_interp_nvert(const rvs_interp *ip) { return ip->nvert; }
int rvs_interp_max_weights(const rvs_interp *ip) {
  return ip->kind == RVS_INTERP_TRIANGULATION ? ip->ndim + 1 : 1 << ip->ndim;
}
const void *rvs_interp_vertex_specs(const rvs_interp *ip, int *float_bits) {
  if (float_bits) *float_bits = ip->float_bits;
  return ip->float_bits == 32 ? (const void *)ip->specs32 : (const void *)ip->specs64;
}

void rvs_interp_map_params(const rvs_interp *ip, const double *params_raw, double *mapped) {
  for (int d = 0; d < ip->ndim; d++)
    mapped[d] = ip->is_log[d] ? log10(params_raw[d]) : params_raw[d];
}

int rvs_interp_locate(const rvs_interp *ip, const double *params_raw, int *vert,
                      double *weight, int *nweights, double *outside) {
  double x[16];
  rvs_interp_map_params(ip, params_raw, x);
  if (ip->kind == RVS_INTERP_TRIANGULATION)
    return rvs_tri_locate_mapped(ip, x, vert, weight, nweights, outside);
  return rvs_grid_locate_mapped(ip, x, vert, weight, nweights, outside);
}

/* spec = sum_k w_k S[vert_k] in a fixed order (per pixel: w_0 s_0, then
 * + w_1 s_1, ...), then exp: deterministic.  Pixels in chunks that stay in
 * L1 across the vertices (the same operations per pixel as whole passes). */
#define WSUM_CHUNK 512
RVS_CLONES static void weighted_sum32(const float *specs, size_t npix, const int *vert,
                                      const double *w, int nw, int log_spec, double *spec) {
  typedef float v4f __attribute__((vector_size(16), aligned(4), may_alias));
  const float *row[64];
  int nr = nw < 64 ? nw : 64;
  for (int k = 0; k < nr; k++) row[k] = specs + (size_t)vert[k] * npix;
  for (size_t j0 = 0; j0 < npix; j0 += WSUM_CHUNK) {
    size_t len = npix - j0 < WSUM_CHUNK ? npix - j0 : WSUM_CHUNK;
    double *o = spec + j0;
    size_t j = 0;
    if (nw <= 64) {
      /* four pixels at a time, the sum over the vertices in a register (the
       * same operations per pixel, in the same order, as the passes below) */
      for (; j + 4 <= len; j += 4) {
        v4d acc = w[0] * __builtin_convertvector(*(const v4f *)(row[0] + j0 + j), v4d);
        for (int k = 1; k < nw; k++)
          acc += w[k] * __builtin_convertvector(*(const v4f *)(row[k] + j0 + j), v4d);
        st4(o + j, acc);
      }
    }
    if (j < len) {
      const float *src = specs + (size_t)vert[0] * npix + j0;
      double w0 = w[0];
      for (size_t q = j; q < len; q++) o[q] = w0 * (double)src[q];
      for (int k = 1; k < nw; k++) {
        double wk = w[k];
        src = specs + (size_t)vert[k] * npix + j0;
        for (size_t q = j; q < len; q++) o[q] += wk * (double)src[q];
      }
    }
    /* exp while the chunk is in L1 (chunks of a multiple of 4: the same
     * vector/tail split of the pixels as one call over all of them) */
    if (log_spec) rvs_exp_inplace(o, len);
  }
}

static void weighted_sum(const rvs_interp *ip, const int *vert, const double *w, int nw,
                         double *spec) {
  size_t npix = ip->npix;
  if (ip->float_bits == 32) {
    weighted_sum32(ip->specs32, npix, vert, w, nw, ip->log_spec, spec);
    return;
  } else {
    for (int k = 0; k < nw; k++) {
      double wk = w[k];
      const double *src = ip->specs64 + (size_t)vert[k] * npix;
      if (k == 0)
        for (size_t j = 0; j < npix; j++) spec[j] = wk * src[j];
      else
        for (size_t j = 0; j < npix; j++) spec[j] += wk * src[j];
    }
  }
  if (ip->log_spec) rvs_exp_inplace(spec, npix); /* within 2 ulp of exp; core/vexp.h */
}

static int eval_one(const rvs_interp *ip, const double *params_raw, double *spec_out,
                    double *outside) {
  int vert[64]; /* enough for ndim <= 6; more goes on the heap */
  double w[sizeof vert / sizeof vert[0]];
  int *pv = vert;
  double *pw = w;
  int maxw = rvs_interp_max_weights(ip);
  int heap = maxw > (int)(sizeof vert / sizeof vert[0]);
  if (heap) {
    pv = malloc((size_t)maxw * sizeof *pv);
    pw = malloc((size_t)maxw * sizeof *pw);
    if (!pv || !pw) {
      free(pv);
      free(pw);
      return RVS_ERR_NOMEM;
    }
  }
  int nw = 0;
  double out = NAN;
  int st = rvs_interp_locate(ip, params_raw, pv, pw, &nw, &out);
  if (nw > 0) {
    weighted_sum(ip, pv, pw, nw, spec_out);
  } else {
    for (size_t j = 0; j < ip->npix; j++) spec_out[j] = NAN;
  }
  if (outside) *outside = out;
  if (heap) {
    free(pv);
    free(pw);
  }
  return st;
}

int rvs_interp_eval(const rvs_interp *ip, const double *params_raw, double *spec_out,
                    double *outside) {
  if (!ip || !params_raw || !spec_out)
    return rvs_error(RVS_ERR_ARG, "rvs_interp_eval: NULL argument");
  int st = eval_one(ip, params_raw, spec_out, outside);
  if (st == RVS_ERR_RANGE)
    return rvs_error(RVS_ERR_RANGE, "interpolator: parameters outside the template grid");
  if (st == RVS_ERR_NOMEM) return rvs_error(st, "interpolator: out of memory");
  return st;
}

int rvs_interp_eval_batch(const rvs_interp *ip, const double *params_raw, size_t n,
                          double *spec_out, double *outside) {
  if (!ip || (n > 0 && (!params_raw || !spec_out)))
    return rvs_error(RVS_ERR_ARG, "rvs_interp_eval_batch: NULL argument");
  int nomem = 0;
  long long nn = (long long)n;
#pragma omp parallel for schedule(dynamic, 8) reduction(| : nomem)
  for (long long i = 0; i < nn; i++) {
    int st = eval_one(ip, params_raw + (size_t)i * (size_t)ip->ndim,
                      spec_out + (size_t)i * ip->npix, outside ? outside + i : NULL);
    if (st == RVS_ERR_NOMEM) nomem = 1;
  }
  if (nomem) return rvs_error(RVS_ERR_NOMEM, "interpolator: out of memory");
  return RVS_OK;
}
