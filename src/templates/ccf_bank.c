/* CCF template bank (see ccf_bank.h). */
#include "templates/ccf_bank.h"

#include <fftw3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/rotation.h"
#include "rvs/log.h"
#include "rvs/status.h"
#include "templates/continuum_fit.h"
#include "templates/tpl_h5.h"

#define SPEED_OF_LIGHT_KMS 3e5 /* upstream's value in get_ccf_config */

size_t rvs_ccf_to_power_two(long long i) {
  if (i < 1) return 0;
  /* the same floating-point expression as upstream */
  return (size_t)1 << (int)ceil(log((double)i) / log(2.0));
}

int rvs_ccf_conf_init(rvs_ccf_conf *conf, double lambda0, double lambda1, double step,
                      int continuum) {
  if (!(lambda0 > 0) || !(lambda1 > lambda0) || !(step > 0))
    return rvs_error(RVS_ERR_ARG, "ccf: need 0 < lambda0 < lambda1 and step > 0 (got %g, %g, %g)",
                     lambda0, lambda1, step);
  double ratio = (lambda1 - lambda0) / step;
  if (ratio < 1 || ratio > 1e9)
    return rvs_error(RVS_ERR_ARG, "ccf: (lambda1-lambda0)/step = %g gives no usable grid",
                     ratio);
  memset(conf, 0, sizeof *conf);
  conf->logl0 = log(lambda0);
  conf->logl1 = log(lambda1);
  conf->npoints = rvs_ccf_to_power_two((long long)ratio);
  if (conf->npoints < 2)
    return rvs_error(RVS_ERR_ARG, "ccf: grid of %zu point(s); decrease --step", conf->npoints);
  conf->continuum = continuum ? 1 : 0;
  conf->maxcontpts = 20;
  if (conf->continuum) {
    double s = SPEED_OF_LIGHT_KMS * (exp((conf->logl1 - conf->logl0) / conf->maxcontpts) - 1);
    conf->splinestep = s > 1000 ? s : 1000;
  } else {
    conf->splinestep = NAN;
  }
  return RVS_OK;
}

void rvs_ccf_logl_grid(const rvs_ccf_conf *conf, double *logl) {
  size_t n = conf->npoints;
  double step = (conf->logl1 - conf->logl0) / (double)(n - 1);
  for (size_t j = 0; j < n; j++) logl[j] = conf->logl0 + (double)j * step;
  logl[n - 1] = conf->logl1;
}

static int dcmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int rvs_ccf_morton_ids(const double *vec, size_t nparam, size_t nspec, uint64_t *ids) {
  if (nparam < 1 || nparam > 64)
    return rvs_error(RVS_ERR_ARG, "morton: %zu parameters", nparam);
  int bits = (int)(64 / nparam);
  uint64_t maxq = bits == 64 ? UINT64_MAX : (((uint64_t)1 << bits) - 1);
  double scale = ldexp(1.0, bits);
  double *u = malloc((nspec ? nspec : 1) * sizeof(double));
  if (!u) return rvs_error(RVS_ERR_NOMEM, "morton: out of memory");
  for (size_t i = 0; i < nspec; i++) ids[i] = 0;
  for (size_t d = 0; d < nparam; d++) {
    const double *col = vec + d * nspec;
    memcpy(u, col, nspec * sizeof(double));
    qsort(u, nspec, sizeof(double), dcmp);
    size_t m = 0;
    for (size_t i = 0; i < nspec; i++)
      if (m == 0 || u[i] != u[m - 1]) u[m++] = u[i];
    double maxrank = (double)(m ? m - 1 : 0);
    for (size_t i = 0; i < nspec; i++) {
      size_t lo = 0, hi = m; /* dense rank = index among the unique values */
      while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (u[mid] <= col[i])
          lo = mid;
        else
          hi = mid;
      }
      double x = maxrank > 0 ? (double)lo / maxrank : 0.0;
      double sx = x * scale;
      uint64_t q = sx >= scale ? maxq : (uint64_t)sx;
      if (q > maxq) q = maxq;
      for (int t = 0; t < bits; t++)
        ids[i] |= ((q >> t) & 1u) << ((size_t)t * nparam + d);
    }
  }
  free(u);
  return RVS_OK;
}

typedef struct id_idx {
  uint64_t id;
  size_t idx;
} id_idx;

/* Upstream keeps the ids in a signed int64, so ids with the top bit set sort
 * first.  That order is harmless (it only permutes the Morton walk) and we
 * keep it: the CCF bank then holds exactly upstream's templates, and fits
 * start where upstream's start. */
static int id_cmp(const void *a, const void *b) {
  const id_idx *x = a, *y = b;
  int64_t sx = (int64_t)x->id, sy = (int64_t)y->id;
  if (sx != sy) return sx < sy ? -1 : 1;
  return (x->idx > y->idx) - (x->idx < y->idx); /* stable */
}

int rvs_ccf_select(const uint64_t *ids, size_t n, size_t every, size_t *inds, size_t *nsel) {
  if (every < 1) return rvs_error(RVS_ERR_ARG, "ccf: --every must be >= 1");
  id_idx *a = malloc((n ? n : 1) * sizeof *a);
  if (!a) return rvs_error(RVS_ERR_NOMEM, "ccf: out of memory");
  for (size_t i = 0; i < n; i++) {
    a[i].id = ids[i];
    a[i].idx = i;
  }
  qsort(a, n, sizeof *a, id_cmp);
  size_t k = 0;
  for (size_t i = 0; i < n; i += every) inds[k++] = a[i].idx;
  *nsel = k;
  free(a);
  return RVS_OK;
}

int rvs_ccf_preprocess_model(const rvs_ccf_conf *conf, const double *lam,
                             const double *flux, size_t npix, double vsini, double *out) {
  if (npix < 2) return rvs_error(RVS_ERR_ARG, "ccf: template with %zu pixels", npix);
  int st = RVS_OK;
  double *m = malloc(npix * sizeof(double));
  double *cont = malloc(npix * sizeof(double));
  double *err = malloc(npix * sizeof(double));
  double *lnl = malloc(npix * sizeof(double));
  double *logl = malloc(conf->npoints * sizeof(double));
  if (!m || !cont || !err || !lnl || !logl) {
    st = rvs_error(RVS_ERR_NOMEM, "ccf: out of memory");
    goto done;
  }
  if (isfinite(vsini) && vsini > 0) {
    double ln_step = log(lam[1] / lam[0]);
    st = rvs_convolve_vsini(flux, npix, ln_step, vsini, m);
    if (st) goto done;
  } else {
    memcpy(m, flux, npix * sizeof(double));
  }
  if (conf->continuum) {
    double med = rvs_median(m, npix, err);
    for (size_t i = 0; i < npix; i++) {
      double a = 1e-5 * m[i], b = 1e-2 * med;
      err[i] = a > b ? a : b;
    }
    st = rvs_get_continuum(lam, m, err, npix, conf->splinestep, cont, NULL);
    if (st) goto done;
    double cmed = rvs_median(cont, npix, err);
    for (size_t i = 0; i < npix; i++)
      if (cont[i] < 1e-2 * cmed) cont[i] = 1e-2 * cmed;
    for (size_t i = 0; i < npix; i++) m[i] /= cont[i];
  }
  for (size_t i = 0; i < npix; i++) lnl[i] = log(lam[i]);
  rvs_ccf_logl_grid(conf, logl);
  /* scipy interp1d(kind='linear', bounds_error=False, fill_value=1) */
  for (size_t j = 0; j < conf->npoints; j++) {
    double x = logl[j];
    if (x < lnl[0] || x > lnl[npix - 1] || !isfinite(x)) {
      out[j] = 1;
      continue;
    }
    size_t lo = 0, hi = npix; /* searchsorted left: first index with lnl >= x */
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (lnl[mid] < x)
        lo = mid + 1;
      else
        hi = mid;
    }
    size_t idx = lo < 1 ? 1 : (lo > npix - 1 ? npix - 1 : lo);
    double slope = (m[idx] - m[idx - 1]) / (lnl[idx] - lnl[idx - 1]);
    out[j] = slope * (x - lnl[idx - 1]) + m[idx - 1];
  }
done:
  free(m);
  free(cont);
  free(err);
  free(lnl);
  free(logl);
  return st;
}

void rvs_ccf_bank_free(rvs_ccf_bank *b) {
  if (!b) return;
  tpl_free_strlist(b->parnames, b->parnames ? b->nparam : 0);
  free(b->params);
  free(b->vsinis);
  free(b->specs_index);
  free(b->models);
  free(b->fft);
  free(b->fft2);
  free(b->revision);
  free(b->cmdline);
  free(b);
}

static int alloc_bank(rvs_ccf_bank *b) {
  size_t M = b->nmodel ? b->nmodel : 1;
  b->nfreq = b->conf.npoints / 2 + 1;
  b->parnames = calloc(b->nparam, sizeof(char *));
  b->params = malloc(M * b->nparam * sizeof(double));
  b->vsinis = malloc(M * sizeof(double));
  b->specs_index = malloc(M * sizeof(long long));
  b->models = malloc(M * b->conf.npoints * sizeof(double));
  b->fft = malloc(M * b->nfreq * 2 * sizeof(double));
  b->fft2 = malloc(M * b->nfreq * 2 * sizeof(double));
  if (!b->parnames || !b->params || !b->vsinis || !b->specs_index || !b->models || !b->fft ||
      !b->fft2)
    return rvs_error(RVS_ERR_NOMEM, "ccf: out of memory for %zu models of %zu points",
                     b->nmodel, b->conf.npoints);
  return RVS_OK;
}

/* rfft of each model and of its square (numpy.fft.rfft conventions). */
static int compute_ffts(rvs_ccf_bank *b) {
  size_t n = b->conf.npoints, nf = b->nfreq;
  double *in = fftw_malloc(n * sizeof(double));
  fftw_complex *outc = fftw_malloc(nf * sizeof(fftw_complex));
  if (!in || !outc) {
    fftw_free(in);
    fftw_free(outc);
    return rvs_error(RVS_ERR_NOMEM, "ccf: out of memory for the FFT");
  }
  fftw_plan plan = fftw_plan_dft_r2c_1d((int)n, in, outc, FFTW_ESTIMATE);
  if (!plan) {
    fftw_free(in);
    fftw_free(outc);
    return rvs_error(RVS_ERR_NUMERIC, "ccf: FFTW plan failed for n = %zu", n);
  }
  for (size_t m = 0; m < b->nmodel; m++) {
    const double *mod = b->models + m * n;
    for (int pass = 0; pass < 2; pass++) {
      for (size_t j = 0; j < n; j++) in[j] = pass ? mod[j] * mod[j] : mod[j];
      fftw_execute(plan);
      double *dst = (pass ? b->fft2 : b->fft) + m * nf * 2;
      memcpy(dst, outc, nf * 2 * sizeof(double));
    }
  }
  fftw_destroy_plan(plan);
  fftw_free(in);
  fftw_free(outc);
  return RVS_OK;
}

int rvs_ccf_bank_build(const rvs_specs *s, const rvs_ccf_conf *conf, size_t every,
                       const double *vsinis, size_t nvsini, int nthreads,
                       rvs_ccf_bank **out) {
  *out = NULL;
  if (!s || s->nspec < 1 || s->npix < 2 || s->nparam < 1 || !s->specs || !s->vec || !s->lam)
    return rvs_error(RVS_ERR_ARG, "ccf: empty or incomplete template library");
  if (!conf || conf->npoints < 2) return rvs_error(RVS_ERR_ARG, "ccf: bad configuration");
  for (size_t v = 0; v < nvsini; v++)
    if (isfinite(vsinis[v]) && vsinis[v] > 0 && !s->log_step)
      return rvs_error(RVS_ERR_ARG, "ccf: rotation needs a log-uniform template wavelength "
                       "grid (log_step false)");
  size_t nv = nvsini ? nvsini : 1;
  uint64_t *ids = malloc(s->nspec * sizeof(uint64_t));
  size_t *inds = malloc(s->nspec * sizeof(size_t));
  rvs_ccf_bank *b = calloc(1, sizeof *b);
  int st = RVS_OK;
  if (!ids || !inds || !b) {
    st = rvs_error(RVS_ERR_NOMEM, "ccf: out of memory");
    goto fail;
  }
  st = rvs_ccf_morton_ids(s->vec, s->nparam, s->nspec, ids);
  size_t nsel = 0;
  if (!st) st = rvs_ccf_select(ids, s->nspec, every, inds, &nsel);
  if (st) goto fail;
  b->conf = *conf;
  b->nparam = s->nparam;
  b->nmodel = nsel * nv;
  st = alloc_bank(b);
  if (st) goto fail;
  for (size_t d = 0; d < s->nparam; d++) {
    char buf[32];
    snprintf(buf, sizeof buf, "p%zu", d);
    b->parnames[d] = tpl_strdup(s->parnames && s->parnames[d] ? s->parnames[d] : buf);
    if (!b->parnames[d]) {
      st = rvs_error(RVS_ERR_NOMEM, "ccf: out of memory");
      goto fail;
    }
  }
  {
    double ll0 = log(s->lam[0]), ll1 = log(s->lam[s->npix - 1]);
    if (!(ll0 <= conf->logl0 && conf->logl0 <= ll1) || !(ll0 <= conf->logl1 && conf->logl1 <= ll1))
      rvs_log(RVS_LOG_WARNING, "ccf: the required wavelength range is bigger than the "
              "template wavelengths (padded with 1)");
  }
  for (size_t im = 0; im < nsel; im++)
    for (size_t iv = 0; iv < nv; iv++) {
      size_t row = im * nv + iv;
      for (size_t d = 0; d < s->nparam; d++)
        b->params[row * s->nparam + d] = s->vec[d * s->nspec + inds[im]];
      b->vsinis[row] = nvsini ? vsinis[iv] : NAN;
      b->specs_index[row] = (long long)inds[im];
    }
  int failed = 0;
  char failmsg[512] = "";
  long long nrow = (long long)b->nmodel;
  int nt = 1;
#ifdef _OPENMP
  nt = nthreads > 0 ? nthreads : omp_get_max_threads();
#else
  (void)nthreads;
#endif
#pragma omp parallel num_threads(nt)
  {
    double *flux = malloc(s->npix * sizeof(double));
    int mine = flux ? RVS_OK : rvs_error(RVS_ERR_NOMEM, "ccf: out of memory");
#pragma omp for schedule(dynamic, 1)
    for (long long row = 0; row < nrow; row++) {
      if (mine) continue;
      size_t ti = (size_t)b->specs_index[row];
      const double *src = s->specs + ti * s->npix;
      for (size_t j = 0; j < s->npix; j++) flux[j] = s->log_spec ? exp(src[j]) : src[j];
      mine = rvs_ccf_preprocess_model(conf, s->lam, flux, s->npix, b->vsinis[row],
                                      b->models + (size_t)row * conf->npoints);
    }
    if (mine) {
      /* the message lives in this thread's buffer: carry it out */
#pragma omp critical(rvs_ccf_build_fail)
      {
        if (!failed) {
          failed = mine;
          snprintf(failmsg, sizeof failmsg, "%s", rvs_last_error());
        }
      }
    }
    free(flux);
  }
  if (failed) {
    st = rvs_error(failed, "%s", failmsg);
    goto fail;
  }
  st = compute_ffts(b);
  if (st) goto fail;
  free(ids);
  free(inds);
  rvs_log(RVS_LOG_INFO, "ccf: %zu templates selected (every %zu of %zu) x %zu vsini = %zu models "
          "of %zu points", nsel, every, s->nspec, nv, b->nmodel, conf->npoints);
  *out = b;
  return RVS_OK;
fail:
  free(ids);
  free(inds);
  rvs_ccf_bank_free(b);
  return st ? st : RVS_ERR_NUMERIC;
}

int rvs_ccf_file_name(const char *prefix, const char *setup, int continuum, char *buf,
                      size_t cap) {
  const char *sep = prefix && prefix[0] && prefix[strlen(prefix) - 1] != '/' ? "/" : "";
  int n = snprintf(buf, cap, "%s%sccf_%s%s.h5", prefix ? prefix : "", sep,
                   continuum ? "" : "nocont_", setup);
  if (n < 0 || (size_t)n >= cap) return rvs_error(RVS_ERR_ARG, "ccf: output path too long");
  return RVS_OK;
}

/* h5py's complex128 layout: compound {r: f64, i: f64}. */
static hid_t complex_type(void) {
  hid_t t = H5Tcreate(H5T_COMPOUND, 2 * sizeof(double));
  if (t < 0) return t;
  H5Tinsert(t, "r", 0, H5T_NATIVE_DOUBLE);
  H5Tinsert(t, "i", sizeof(double), H5T_NATIVE_DOUBLE);
  return t;
}

int rvs_ccf_bank_save(const rvs_ccf_bank *b, const char *path) {
  char tmp[4200];
  hid_t f, g = -1;
  int st = tpl_h5_create_atomic(path, tmp, sizeof tmp, &f);
  if (st) return st;
  hsize_t d1[1] = {b->nmodel}, d2[2];
  st = tpl_h5_write_str(f, "format", RVS_CCF_FORMAT, path);
  if (!st) st = tpl_h5_write_strlist(f, "parnames", b->parnames, b->nparam, path);
  d2[0] = b->nmodel;
  d2[1] = b->nparam;
  if (!st)
    st = tpl_h5_write_array(f, "params", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, d2, b->params,
                            "ndarray", path);
  if (!st)
    st = tpl_h5_write_array(f, "vsinis", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, d1, b->vsinis,
                            "ndarray", path);
  if (!st)
    st = tpl_h5_write_array(f, "specs_index", H5T_NATIVE_LLONG, H5T_STD_I64LE, 1, d1,
                            b->specs_index, "ndarray", path);
  if (!st) st = tpl_h5_write_str(f, "revision", b->revision ? b->revision : "", path);
  if (!st) st = tpl_h5_write_str(f, "cmdline", b->cmdline ? b->cmdline : "", path);
  if (!st) st = tpl_h5_create_group(f, "ccfconf", &g, path);
  if (!st) st = tpl_h5_write_double(g, "logl0", b->conf.logl0, path);
  if (!st) st = tpl_h5_write_double(g, "logl1", b->conf.logl1, path);
  if (!st) st = tpl_h5_write_int(g, "npoints", (long long)b->conf.npoints, path);
  if (!st) st = tpl_h5_write_int(g, "continuum", b->conf.continuum, path);
  if (!st) st = tpl_h5_write_int(g, "maxcontpts", b->conf.maxcontpts, path);
  if (!st && b->conf.continuum) st = tpl_h5_write_double(g, "splinestep", b->conf.splinestep, path);
  if (g >= 0) H5Gclose(g);
  d2[1] = b->conf.npoints;
  if (!st)
    st = tpl_h5_write_array(f, "models", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, d2, b->models,
                            "ndarray", path);
  hid_t ct = complex_type();
  if (ct < 0 && !st) st = rvs_error(RVS_ERR_IO, "%s: complex type", path);
  d2[1] = b->nfreq;
  if (!st) st = tpl_h5_write_array(f, "fft", ct, ct, 2, d2, b->fft, "ndarray", path);
  if (!st) st = tpl_h5_write_array(f, "fft2", ct, ct, 2, d2, b->fft2, "ndarray", path);
  if (ct >= 0) H5Tclose(ct);
  if (st) {
    tpl_h5_close_abort(f, tmp);
    return st;
  }
  return tpl_h5_close_commit(f, tmp, path);
}

static int read_bank(hid_t f, const char *path, rvs_ccf_bank *b) {
  char *fmt = NULL;
  int st = tpl_h5_read_str(f, "format", &fmt, 1, path);
  if (!st && (!fmt || strcmp(fmt, RVS_CCF_FORMAT) != 0))
    st = rvs_error(RVS_ERR_FORMAT, "%s: not an rvspecfit-c CCF bank (format '%s')", path,
                   fmt ? fmt : "missing");
  free(fmt);
  if (st) return st;
  hid_t g = H5Gopen2(f, "ccfconf", H5P_DEFAULT);
  if (g < 0) return rvs_error(RVS_ERR_FORMAT, "%s: group ccfconf missing", path);
  long long v;
  st = tpl_h5_read_double(g, "logl0", &b->conf.logl0, path);
  if (!st) st = tpl_h5_read_double(g, "logl1", &b->conf.logl1, path);
  if (!st && !(st = tpl_h5_read_int(g, "npoints", &v, path))) b->conf.npoints = (size_t)v;
  if (!st && !(st = tpl_h5_read_int(g, "continuum", &v, path))) b->conf.continuum = v != 0;
  if (!st && !(st = tpl_h5_read_int(g, "maxcontpts", &v, path))) b->conf.maxcontpts = (int)v;
  b->conf.splinestep = NAN;
  if (!st && tpl_h5_exists(g, "splinestep"))
    st = tpl_h5_read_double(g, "splinestep", &b->conf.splinestep, path);
  H5Gclose(g);
  if (st) return st;
  if (b->conf.npoints < 2 || (b->conf.npoints & (b->conf.npoints - 1)))
    return rvs_error(RVS_ERR_FORMAT, "%s: npoints %zu is not a power of two", path,
                     b->conf.npoints);
  b->nfreq = b->conf.npoints / 2 + 1;
  st = tpl_h5_read_strlist(f, "parnames", &b->parnames, &b->nparam, path);
  if (st) return st;
  hsize_t d1[1] = {0}, d2[2] = {0, b->nparam};
  st = tpl_h5_read_shaped(f, "params", H5T_NATIVE_DOUBLE, 2, d2, (void **)&b->params, path);
  if (st) return st;
  b->nmodel = d2[0];
  d1[0] = b->nmodel;
  st = tpl_h5_read_shaped(f, "vsinis", H5T_NATIVE_DOUBLE, 1, d1, (void **)&b->vsinis, path);
  if (!st)
    st = tpl_h5_read_shaped(f, "specs_index", H5T_NATIVE_LLONG, 1, d1,
                            (void **)&b->specs_index, path);
  if (!st) st = tpl_h5_read_str(f, "revision", &b->revision, 1, path);
  if (!st) st = tpl_h5_read_str(f, "cmdline", &b->cmdline, 1, path);
  if (st) return st;
  d2[0] = b->nmodel;
  d2[1] = b->conf.npoints;
  st = tpl_h5_read_shaped(f, "models", H5T_NATIVE_DOUBLE, 2, d2, (void **)&b->models, path);
  if (st) return st;
  hid_t ct = complex_type();
  if (ct < 0) return rvs_error(RVS_ERR_IO, "%s: complex type", path);
  d2[1] = b->nfreq;
  st = tpl_h5_read_shaped(f, "fft", ct, 2, d2, (void **)&b->fft, path);
  if (!st) st = tpl_h5_read_shaped(f, "fft2", ct, 2, d2, (void **)&b->fft2, path);
  H5Tclose(ct);
  return st;
}

int rvs_ccf_bank_load(const char *path, rvs_ccf_bank **out) {
  *out = NULL;
  hid_t f;
  int st = tpl_h5_open_read(path, &f);
  if (st) return st;
  rvs_ccf_bank *b = calloc(1, sizeof *b);
  if (!b) {
    H5Fclose(f);
    return rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
  }
  st = read_bank(f, path, b);
  H5Fclose(f);
  if (st) {
    rvs_ccf_bank_free(b);
    return st;
  }
  *out = b;
  return RVS_OK;
}
