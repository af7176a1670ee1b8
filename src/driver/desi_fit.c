#include "driver/desi_fit.h"

#include "core/resolution.h"
#include "driver/desi_clean.h"
#include "driver/desi_output.h"
#include "io/atomic.h"
#include "io/desi_coadd.h"
#include "rvs/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void rvs_desi_options_default(rvs_desi_options *o) {
  memset(o, 0, sizeof *o);
  strcpy(o->fitarm, "brz");
  o->npoly = 10;
  o->param_init = RVS_INIT_CCF;
  rvs_select_opts_default(&o->select);
  o->output_dir = "./";
  o->tab_prefix = "rvtab";
  o->mod_prefix = "rvmod";
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int rvs_desi_output_paths(const rvs_desi_options *o, const char *input, char *tab, char *mod,
                          size_t cap) {
  /* basename without .gz */
  const char *base = strrchr(input, '/');
  base = base ? base + 1 : input;
  char fname0[1024];
  snprintf(fname0, sizeof fname0, "%s", base);
  size_t l = strlen(fname0);
  if (l > 3 && strcmp(fname0 + l - 3, ".gz") == 0) fname0[l - 3] = 0;
  char dir[4096];
  if (o->no_subdirs) {
    snprintf(dir, sizeof dir, "%s", o->output_dir);
  } else {
    /* <output_dir>/<path[-3]>/<path[-2]>/ as upstream (e.g. tile/night) */
    char comp[3][512] = {"", "", ""};
    int nc = 0;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", input);
    char *save = NULL;
    for (char *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
      memmove(comp[0], comp[1], sizeof comp[0]);
      memmove(comp[1], comp[2], sizeof comp[0]);
      snprintf(comp[2], sizeof comp[2], "%s", t);
      nc++;
    }
    if (nc < 3)
      return rvs_error(RVS_ERR_ARG,
                       "%s: the path needs two parent folders for the output subfolders "
                       "(use --no_subdirs)", input);
    snprintf(dir, sizeof dir, "%s/%s/%s", o->output_dir, comp[0], comp[1]);
  }
  int n1 = snprintf(tab, cap, "%s/%s_%s", dir, o->tab_prefix, fname0);
  int n2 = snprintf(mod, cap, "%s/%s_%s", dir, o->mod_prefix, fname0);
  if (n1 < 0 || n2 < 0 || (size_t)n1 >= cap || (size_t)n2 >= cap)
    return rvs_error(RVS_ERR_ARG, "%s: output path too long", input);
  return RVS_OK;
}

static int file_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static void make_dirs_for(const char *path) {
  char d[4200];
  snprintf(d, sizeof d, "%s", path);
  char *s = strrchr(d, '/');
  if (s) {
    *s = 0;
    rvs_mkdir_p(d);
  }
}

/* Per selected fiber: the cleaned arms of one spectrum. */
typedef struct fiber_data {
  int narms;                    /* usable arms */
  int arm_index[3];             /* index into the coadd arms for each usable arm */
  double *flux[3], *sigma[3];
  unsigned char *bad[3];
  rvs_banded resol[3];
  int has_resol[3];
} fiber_data;

static void free_fiber(fiber_data *f) {
  for (int a = 0; a < 3; a++) {
    free(f->flux[a]);
    free(f->sigma[a]);
    free(f->bad[a]);
    if (f->has_resol[a]) rvs_banded_free(&f->resol[a]);
  }
}

/* A file between reading and writing (rvs_desi_prepare_file .. rvs_desi_finish_file). */
struct rvs_desi_file {
  rvs_context *ctx;
  const rvs_config *cfg;
  const rvs_desi_options *o;
  char *path;
  char tab[4200], mod[4200];
  double t0, fit_seconds;
  int bare;                     /* --targetid matched nothing: bare outputs */
  rvs_desi_coadd c;
  size_t nr, ns, ngood;
  int na;
  double *sn[3];
  unsigned char *keep;
  size_t *rows;
  fiber_data *fd;
  rvs_spectrum *specs;
  rvs_fit_output *outs;
  rvs_desi_row *out_rows;
  float *models_f[3];
  double *models_d;
  double *(*mptr)[RVS_MAXARMS];
  size_t *fit_of;
  rvs_desi_zbest zb;            /* --zbest_* Redrock values per FIBERMAP row */
  rvs_desi_file_stats st;
};

void rvs_desi_file_free(rvs_desi_file *f) {
  if (!f) return;
  if (f->fd) for (size_t i = 0; i < f->ns; i++) free_fiber(&f->fd[i]);
  free(f->fd);
  free(f->specs);
  free(f->outs);
  free(f->out_rows);
  free(f->fit_of);
  free(f->models_d);
  free(f->mptr);
  for (int a = 0; a < 3; a++) { free(f->sn[a]); free(f->models_f[a]); }
  free(f->keep);
  free(f->rows);
  rvs_desi_zbest_free(&f->zb);
  rvs_desi_coadd_free(&f->c);
  free(f->path);
  free(f);
}

const char *rvs_desi_file_path(const rvs_desi_file *f) { return f->path; }

void rvs_desi_file_outputs(const rvs_desi_file *f, const char **tab, const char **mod) {
  *tab = f->tab;
  *mod = f->mod;
}

void rvs_desi_file_set_context(rvs_desi_file *f, rvs_context *ctx) { f->ctx = ctx; }

size_t rvs_desi_file_nfit(const rvs_desi_file *f) { return f->bare ? 0 : f->ngood; }

void rvs_desi_file_chunk(rvs_desi_file *f, rvs_fit_chunk *chunk) {
  memset(chunk, 0, sizeof *chunk);
  chunk->specs = f->specs;
  chunk->n = rvs_desi_file_nfit(f);
  chunk->outs = f->outs;
  chunk->models = (double *const(*)[RVS_MAXARMS])f->mptr;
}

int rvs_desi_prepare_file(rvs_context *ctx, const rvs_config *cfg, const rvs_desi_options *o,
                          const char *path, rvs_desi_file **out, rvs_desi_file_stats *stp) {
  *out = NULL;
  memset(stp, 0, sizeof *stp);
  rvs_desi_file *F = calloc(1, sizeof *F);
  if (!F) return rvs_error(RVS_ERR_NOMEM, "%s: no memory", path);
  F->t0 = now();
  F->ctx = ctx;
  F->cfg = cfg;
  F->o = o;
  F->path = strdup(path);
  rvs_desi_file_stats *st = &F->st;
  if (!F->path) { free(F); return rvs_error(RVS_ERR_NOMEM, "%s: no memory", path); }
  char *tab = F->tab, *mod = F->mod;
  int rc = rvs_desi_output_paths(o, path, tab, mod, sizeof F->tab);
  if (rc) { rvs_desi_file_free(F); return rc; }
  if (o->skipexisting && file_exists(tab) && file_exists(mod)) {
    stp->skipped_existing = 1;
    rvs_desi_file_free(F);
    return RVS_OK;
  }
  rvs_desi_coadd *cp = &F->c;
  if ((rc = rvs_desi_coadd_open(path, o->fitarm, cp))) { rvs_desi_file_free(F); return rc; }
  st->nrows = cp->nrows;
  size_t nr = F->nr = cp->nrows;
  int na = F->na = cp->narms;
  double **sn = F->sn;
  size_t ns = 0; /* selected fibers */
  F->keep = calloc(nr ? nr : 1, 1);
  F->rows = malloc(sizeof(size_t) * (nr ? nr : 1));
  unsigned char *keep = F->keep;
  size_t *rows = F->rows;
  if (!keep || !rows) { rc = rvs_error(RVS_ERR_NOMEM, "%s: no memory", path); goto done; }
  /* S/N: SCORES when present, else computed from the pixels of every row */
  int need_pixels_for_sn = 0;
  for (int a = 0; a < na; a++) {
    sn[a] = malloc(sizeof(double) * (nr ? nr : 1));
    if (!sn[a]) { rc = rvs_error(RVS_ERR_NOMEM, "%s: no memory", path); goto done; }
    if (cp->sn[a]) for (size_t r = 0; r < nr; r++) sn[a][r] = cp->sn[a][r];
    else need_pixels_for_sn = 1;
  }
  if (need_pixels_for_sn) {
    if ((rc = rvs_desi_coadd_load_arms(cp, NULL, nr, 0))) goto done;
    for (int a = 0; a < na; a++) {
      if (cp->sn[a]) continue;
      size_t np = cp->arms[a].npix;
      double *scratch = malloc(sizeof(double) * np);
      if (!scratch) { rc = rvs_error(RVS_ERR_NOMEM, "%s: no memory", path); goto done; }
      for (size_t r = 0; r < nr; r++)
        sn[a][r] = rvs_desi_arm_sn(cp->arms[a].flux + r * np, cp->arms[a].ivar + r * np,
                                   cp->arms[a].mask + r * np, np, scratch);
      free(scratch);
    }
  }
  const double *snp[3] = {sn[0], sn[1], sn[2]};
  size_t nsel = rvs_desi_select(nr, (const char *const *)cp->objtype, cp->fiberstatus, cp->expid,
                                cp->targetid, snp, na, &o->select, keep);
  st->nselected = nsel;
  make_dirs_for(tab);
  make_dirs_for(mod);
  if (nsel == 0 && o->select.targetids) {
    /* upstream: --targetid matching nothing gives bare outputs */
    F->bare = 1;
    goto done;
  }
  if ((rc = rvs_desi_select_targets(path, nr, cp->targetid, &o->select, keep, &nsel, &F->zb)))
    goto done;
  st->nselected = nsel;
  for (size_t r = 0; r < nr; r++)
    if (keep[r]) rows[ns++] = r;
  F->ns = ns;
  if (ns && (rc = rvs_desi_coadd_load_arms(cp, rows, ns, o->resolution_matrix))) goto done;
  fiber_data *fd = F->fd = calloc(ns ? ns : 1, sizeof *fd);
  rvs_spectrum *specs = F->specs = calloc(ns ? ns : 1, sizeof *specs);
  F->outs = calloc(ns ? ns : 1, sizeof *F->outs);
  rvs_desi_row *out_rows = F->out_rows = calloc(ns ? ns : 1, sizeof *out_rows);
  size_t *fit_of = F->fit_of = malloc(sizeof(size_t) * (ns ? ns : 1));
  if (!fd || !specs || !F->outs || !out_rows || !fit_of) {
    rc = rvs_error(RVS_ERR_NOMEM, "%s: no memory", path);
    goto done;
  }
  /* clean every selected fiber; those with no usable arm become BAD_SPECTRUM rows */
  static const char *setup_names[3] = {"desi_b", "desi_r", "desi_z"};
  size_t ngood = 0;
  for (size_t i = 0; i < ns; i++) {
    fiber_data *f = &fd[i];
    for (int a = 0; a < na; a++) {
      const rvs_desi_arm *A = &cp->arms[a];
      size_t np = A->npix;
      int k = f->narms;
      f->flux[k] = malloc(sizeof(double) * np);
      f->sigma[k] = malloc(sizeof(double) * np);
      f->bad[k] = malloc(np);
      if (!f->flux[k] || !f->sigma[k] || !f->bad[k]) {
        rc = rvs_error(RVS_ERR_NOMEM, "%s: no memory", path);
        goto done;
      }
      size_t ncl;
      int usable = rvs_desi_clean_arm(A->wave, A->flux + i * np, A->ivar + i * np,
                                      A->mask + i * np, np, o->resolution_matrix, f->flux[k],
                                      f->sigma[k], f->bad[k], &ncl);
      if (!usable) { /* dropped arm: release its buffers, the slot is reused */
        free(f->flux[k]);
        free(f->sigma[k]);
        free(f->bad[k]);
        f->flux[k] = f->sigma[k] = NULL;
        f->bad[k] = NULL;
        continue;
      }
      if (o->resolution_matrix) {
        char armname[2] = {A->name, 0};
        double sig0 = rvs_config_lsf_sigma0(cfg, armname);
        rc = rvs_desi_resolution_prepare(A->resolution + i * (size_t)A->ndiag * np, np,
                                         A->wave[1] - A->wave[0], sig0, &f->resol[k]);
        if (rc) goto done;
        f->has_resol[k] = 1;
      }
      f->arm_index[k] = a;
      f->narms++;
    }
    out_rows[i].fibermap_row = (int64_t)rows[i];
    for (int a = 0; a < na; a++) out_rows[i].sn[a] = sn[a][rows[i]];
    out_rows[i].rr_z = F->zb.z ? F->zb.z[rows[i]] : NAN;
    if (F->zb.z) {
      memcpy(out_rows[i].rr_spectype, F->zb.spectype[rows[i]], sizeof out_rows[i].rr_spectype);
      memcpy(out_rows[i].rr_subtype, F->zb.subtype[rows[i]], sizeof out_rows[i].rr_subtype);
    }
    if (f->narms == 0) {
      out_rows[i].bad = 1;
      out_rows[i].rvs_warn = RVS_WARN_BAD_SPECTRUM;
      st->nbad++;
      continue;
    }
    rvs_spectrum *s = &specs[ngood];
    s->narms = f->narms;
    for (int k = 0; k < f->narms; k++) {
      const rvs_desi_arm *A = &cp->arms[f->arm_index[k]];
      s->arms[k].setup = setup_names[A->name == 'b' ? 0 : A->name == 'r' ? 1 : 2];
      s->arms[k].n = A->npix;
      s->arms[k].lam = A->wave;
      s->arms[k].flux = f->flux[k];
      s->arms[k].sigma = f->sigma[k];
      s->arms[k].badmask = f->bad[k];
      if (f->has_resol[k]) {
        s->arms[k].resol_ndiag = f->resol[k].nd;
        s->arms[k].resol = f->resol[k].w;
      }
    }
    fit_of[ngood++] = i;
  }
  /* models: double buffers for the fit, float32 rows for the file */
  size_t totpix = 0;
  for (int a = 0; a < na; a++) totpix += cp->arms[a].npix;
  F->ngood = ngood;
  double *models_d = F->models_d = calloc((ngood ? ngood : 1) * totpix, sizeof(double));
  for (int a = 0; a < na; a++) {
    F->models_f[a] = calloc((ngood ? ngood : 1) * cp->arms[a].npix, sizeof(float));
    if (!F->models_f[a]) { rc = rvs_error(RVS_ERR_NOMEM, "%s: no memory", path); goto done; }
  }
  double *(*mptr)[RVS_MAXARMS] = F->mptr = calloc(ngood ? ngood : 1, sizeof *mptr);
  if (!models_d || !mptr) {
    rc = rvs_error(RVS_ERR_NOMEM, "%s: no memory", path);
    goto done;
  }
  for (size_t g = 0; g < ngood; g++) {
    const fiber_data *f = &fd[fit_of[g]];
    size_t off = 0;
    for (int a = 0; a < na; a++) {
      for (int k = 0; k < f->narms; k++)
        if (f->arm_index[k] == a) mptr[g][k] = models_d + g * totpix + off;
      off += cp->arms[a].npix;
    }
  }
done:
  st->seconds = now() - F->t0;
  *stp = *st;
  if (rc) { rvs_desi_file_free(F); return rc; }
  *out = F;
  return RVS_OK;
}

int rvs_desi_finish_file(rvs_desi_file *F, rvs_desi_file_stats *stp) {
  double t1 = now();
  rvs_desi_file_stats *st = &F->st;
  const rvs_desi_options *o = F->o;
  const rvs_config *cfg = F->cfg;
  rvs_context *ctx = F->ctx;
  const char *path = F->path, *tab = F->tab, *mod = F->mod;
  rvs_desi_coadd *cp = &F->c;
  int na = F->na, rc = RVS_OK;
  size_t ns = F->ns, ngood = F->ngood;
  const size_t *rows = F->rows, *fit_of = F->fit_of;
  const fiber_data *fd = F->fd;
  const rvs_spectrum *specs = F->specs;
  const rvs_fit_output *outs = F->outs;
  rvs_desi_row *out_rows = F->out_rows;
  float **models_f = F->models_f;
  const double *models_d = F->models_d;
  size_t totpix = 0;
  for (int a = 0; a < na; a++) totpix += cp->arms[a].npix;
  if (F->bare) {
    rc = rvs_desi_write_bare(tab, mod);
    goto done;
  }
  /* rows */
  for (size_t g = 0; g < ngood; g++) {
    size_t i = fit_of[g];
    const fiber_data *f = &fd[i];
    const rvs_fit_output *fo = &outs[g];
    rvs_desi_row *r = &out_rows[i];
    size_t off = 0;
    for (int a = 0; a < na; a++) {
      for (size_t p = 0; p < cp->arms[a].npix; p++)
        models_f[a][g * cp->arms[a].npix + p] = (float)models_d[g * totpix + off + p];
      off += cp->arms[a].npix;
    }
    if (fo->status != RVS_OK) {
      rvs_log(RVS_LOG_ERROR, "%s: fiber row %zu (TARGETID %lld): fit failed: %s", path, rows[i],
              (long long)cp->targetid[rows[i]], fo->message);
      r->bad = 1;
      r->rvs_warn = RVS_WARN_BAD_SPECTRUM;
      st->nbad++;
      continue;
    }
    st->nfitted++;
    r->vrad = fo->vel;
    r->vrad_err = fo->vel_err;
    r->vrad_skew = fo->vel_skewness;
    r->vrad_kurt = fo->vel_kurtosis;
    r->vsini = fo->has_vsini ? fo->vsini : NAN;
    r->teff = r->logg = r->feh = r->alphafe = NAN;
    r->teff_err = r->logg_err = r->feh_err = r->alphafe_err = NAN;
    const char *names[RVS_MAX_PARAMS];
    int np;
    if (rvs_context_parnames(ctx, specs[g].arms[0].setup, &np, names) == RVS_OK) {
      for (int k = 0; k < np; k++) {
        double v = fo->param[k], e = fo->param_err[k];
        if (strcmp(names[k], "teff") == 0) { r->teff = v; r->teff_err = e; }
        else if (strcmp(names[k], "logg") == 0) { r->logg = v; r->logg_err = e; }
        else if (strcmp(names[k], "feh") == 0) { r->feh = v; r->feh_err = e; }
        else if (strcmp(names[k], "alpha") == 0) { r->alphafe = v; r->alphafe_err = e; }
      }
    }
    for (int a = 0; a < na; a++) r->chisq[a] = r->chisq_c[a] = NAN;
    r->chisq_tot = r->chisq_c_tot = 0;
    r->npix_tot = 0;
    for (int k = 0; k < f->narms; k++) {
      int a = f->arm_index[k];
      r->chisq[a] = fo->chisq_arm[k];
      r->chisq_c[a] = fo->chisq_c_arm[k];
      r->chisq_tot += fo->chisq_arm[k];
      r->chisq_c_tot += fo->chisq_c_arm[k];
      r->npix_tot += fo->npix_arm[k];
    }
    r->vrad_ccf = fo->vel_ccf;
    r->rvs_warn = rvs_warn_bits(r->chisq_tot, r->chisq_c_tot, r->vrad, r->vrad_err, r->teff,
                                r->logg, r->feh, r->vsini, fo->bad_hessian, cfg->min_vel,
                                cfg->max_vel);
  }
  /* write */
  {
    rvs_desi_output out;
    memset(&out, 0, sizeof out);
    out.input_path = path;
    out.tab_path = tab;
    out.mod_path = mod;
    out.narms = na;
    for (int a = 0; a < na; a++) {
      out.arms[a] = cp->arms[a].name;
      out.wave[a] = cp->arms[a].wave;
      out.npix[a] = cp->arms[a].npix;
      out.models[a] = models_f[a];
    }
    out.ngood = ngood;
    out.rows = out_rows;
    out.nrows = ns;
    out.config_path = cfg->config_file_path;
    out.cmdline = o->cmdline;
    out.rr_file = F->zb.have ? F->zb.path : NULL;
    out.version = RVS_VERSION_STRING;
    rc = rvs_desi_write_outputs(&out);
  }
done:
  st->seconds += now() - t1;
  *stp = *st;
  return rc;
}

int rvs_desi_process_file(rvs_context *ctx, const rvs_config *cfg, const rvs_desi_options *o,
                          const char *path, rvs_desi_file_stats *st) {
  rvs_desi_file *f = NULL;
  int rc = rvs_desi_prepare_file(ctx, cfg, o, path, &f, st);
  if (rc || !f) return rc;
  double t0 = now();
  size_t n = rvs_desi_file_nfit(f);
  if (n) rc = rvs_fit_batch(ctx, f->specs, n, NULL, f->outs, (double *const(*)[RVS_MAXARMS])f->mptr);
  f->st.seconds += now() - t0;
  if (!rc) rc = rvs_desi_finish_file(f, st);
  else *st = f->st;
  rvs_desi_file_free(f);
  return rc;
}
