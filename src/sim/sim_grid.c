#include "sim/sim_grid.h"

#include "io/fits_util.h"
#include "rvs/status.h"

#include <dirent.h>
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifdef _OPENMP
#include <omp.h>
#endif

static const char *PARAM_KEYS[RVS_SIM_NPARAM] = {"PHXTEFF", "PHXLOGG", "PHXM_H", "PHXALPHA"};

void rvs_sim_grid_free(rvs_sim_grid *g) {
  if (!g) return;
  free(g->dir);
  free(g->wave);
  for (int d = 0; d < RVS_SIM_NPARAM; d++) free(g->axis[d]);
  free(g->node);
  free(g->flux);
  memset(g, 0, sizeof *g);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, const char *suf) {
  size_t n = strlen(s), m = strlen(suf);
  return n >= m && strcmp(s + n - m, suf) == 0;
}

typedef struct strlist {
  char **v;
  size_t n, cap;
} strlist;

static int strlist_add(strlist *l, const char *a, const char *b) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? 2 * l->cap : 256;
    char **nv = realloc(l->v, nc * sizeof *nv);
    if (!nv) return -1;
    l->v = nv;
    l->cap = nc;
  }
  size_t len = strlen(a) + strlen(b) + 2;
  char *s = malloc(len);
  if (!s) return -1;
  snprintf(s, len, "%s/%s", a, b);
  l->v[l->n++] = s;
  return 0;
}

static void strlist_free(strlist *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}

/* Every DIR/<subdir>/synth_*.fits, sorted. */
static int list_spectra(const char *dir, strlist *out) {
  DIR *d = opendir(dir);
  if (!d) return rvs_error(RVS_ERR_IO, "%s: cannot open grid directory", dir);
  strlist subs = {0};
  struct dirent *e;
  int rc = RVS_OK;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    if (strlist_add(&subs, dir, e->d_name)) {
      rc = rvs_error(RVS_ERR_NOMEM, "%s: out of memory listing the grid", dir);
      break;
    }
  }
  closedir(d);
  for (size_t i = 0; i < subs.n && !rc; i++) {
    if (!is_dir(subs.v[i])) continue;
    DIR *sd = opendir(subs.v[i]);
    if (!sd) {
      rc = rvs_error(RVS_ERR_IO, "%s: cannot open grid subdirectory", subs.v[i]);
      break;
    }
    while ((e = readdir(sd))) {
      if (strncmp(e->d_name, "synth_", 6) != 0) continue;
      if (!ends_with(e->d_name, ".fits") && !ends_with(e->d_name, ".fits.gz")) continue;
      if (strlist_add(out, subs.v[i], e->d_name)) {
        rc = rvs_error(RVS_ERR_NOMEM, "%s: out of memory listing the grid", dir);
        break;
      }
    }
    closedir(sd);
  }
  strlist_free(&subs);
  if (!rc && out->n == 0)
    rc = rvs_error(RVS_ERR_FORMAT, "%s: no synth_*.fits spectra in any subdirectory", dir);
  if (!rc) qsort(out->v, out->n, sizeof *out->v, cmp_str);
  return rc;
}

static int read_wave(const char *path, double **wave, size_t *n) {
  fitsfile *f = NULL;
  int fs = 0, naxis = 0;
  long nx = 0;
  fits_open_file(&f, path, READONLY, &fs);
  if (fs) return rvs_fits_check(fs, path, "cannot open wavelength file");
  fits_get_img_dim(f, &naxis, &fs);
  if (!fs && naxis != 1) {
    fits_close_file(f, &fs);
    return rvs_error(RVS_ERR_FORMAT, "%s: primary HDU is not a 1-D array (NAXIS=%d)", path,
                     naxis);
  }
  fits_get_img_size(f, 1, &nx, &fs);
  double *w = NULL;
  if (!fs) {
    w = malloc((size_t)(nx > 0 ? nx : 1) * sizeof *w);
    if (!w) {
      fits_close_file(f, &fs);
      return rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
    }
    long fp = 1;
    fits_read_pix(f, TDOUBLE, &fp, nx, NULL, w, NULL, &fs);
  }
  int rc = rvs_fits_check(fs, path, "cannot read wavelengths");
  fs = 0;
  fits_close_file(f, &fs);
  fits_clear_errmsg();
  if (rc) {
    free(w);
    return rc;
  }
  *wave = w;
  *n = (size_t)nx;
  return RVS_OK;
}

/* Read the 4 parameters and pixels [i0, i0+npix) of one spectrum file. */
static int read_spectrum(const char *path, size_t nwave_full, size_t i0, size_t npix,
                         double par[RVS_SIM_NPARAM], float *dst) {
  fitsfile *f = NULL;
  int fs = 0, naxis = 0, rc;
  long nx = 0;
  fits_open_file(&f, path, READONLY, &fs);
  if (fs) return rvs_fits_check(fs, path, "cannot open grid spectrum");
  for (int d = 0; d < RVS_SIM_NPARAM && !fs; d++) {
    fits_read_key(f, TDOUBLE, PARAM_KEYS[d], &par[d], NULL, &fs);
    if (fs) {
      char what[64];
      snprintf(what, sizeof what, "missing keyword %s", PARAM_KEYS[d]);
      rc = rvs_fits_check(fs, path, what);
      fs = 0;
      fits_close_file(f, &fs);
      return rc;
    }
  }
  fits_get_img_dim(f, &naxis, &fs);
  fits_get_img_size(f, 1, &nx, &fs);
  if (!fs && (naxis != 1 || (size_t)nx != nwave_full)) {
    fits_close_file(f, &fs);
    fits_clear_errmsg();
    return rvs_error(RVS_ERR_FORMAT,
                     "%s: flux has %ld pixels (NAXIS=%d) but WAVE_SYNTH.fits has %zu", path,
                     nx, naxis, nwave_full);
  }
  long fp = (long)i0 + 1;
  if (!fs) fits_read_pix(f, TFLOAT, &fp, (LONGLONG)npix, NULL, dst, NULL, &fs);
  rc = rvs_fits_check(fs, path, "cannot read flux");
  fs = 0;
  fits_close_file(f, &fs);
  fits_clear_errmsg();
  if (rc) return rc;
  for (size_t i = 0; i < npix; i++)
    if (!isfinite(dst[i]))
      return rvs_error(RVS_ERR_FORMAT, "%s: non-finite flux at pixel %zu", path, i0 + i);
  return RVS_OK;
}

static int same_value(double a, double b) {
  return fabs(a - b) <= 1e-6 * fmax(1.0, fmax(fabs(a), fabs(b)));
}

static long axis_index(const double *ax, size_t n, double v) {
  for (size_t i = 0; i < n; i++)
    if (same_value(ax[i], v)) return (long)i;
  return -1;
}

int rvs_sim_grid_load(const char *dir, double wmin, double wmax, int nthreads,
                      rvs_sim_grid *g) {
  memset(g, 0, sizeof *g);
  char path[4096];
  snprintf(path, sizeof path, "%s/WAVE_SYNTH.fits", dir);
  double *wfull = NULL;
  size_t nfull = 0;
  strlist files = {0};
  double *params = NULL;
  int rc = read_wave(path, &wfull, &nfull);
  if (rc) return rc;
  g->dir = strdup(dir);
  if (!g->dir) {
    rc = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", dir);
    goto fail;
  }
  if (nfull < 3 || !(wfull[0] > 0)) {
    rc = rvs_error(RVS_ERR_FORMAT, "%s: too few or non-positive wavelengths", path);
    goto fail;
  }
  /* The forward model convolves in velocity, so the grid must be log-uniform. */
  double dln = log(wfull[nfull - 1] / wfull[0]) / (double)(nfull - 1);
  for (size_t i = 0; i + 1 < nfull; i++) {
    double s = log(wfull[i + 1] / wfull[i]);
    if (!(fabs(s - dln) <= 1e-3 * dln)) {
      rc = rvs_error(RVS_ERR_FORMAT, "%s: wavelengths are not log-uniform (pixel %zu)", path,
                     i);
      goto fail;
    }
  }
  if (wfull[0] > wmin || wfull[nfull - 1] < wmax) {
    rc = rvs_error(RVS_ERR_RANGE, "%s: grid covers %.1f-%.1f A but %.1f-%.1f A is needed", path,
                   wfull[0], wfull[nfull - 1], wmin, wmax);
    goto fail;
  }
  size_t i0 = 0, i1 = nfull;
  while (i0 + 1 < nfull && wfull[i0 + 1] <= wmin) i0++;
  while (i1 > i0 + 2 && wfull[i1 - 2] >= wmax) i1--;
  g->npix = i1 - i0;
  g->dlnwave = dln;
  g->wave = malloc(g->npix * sizeof *g->wave);
  if (!g->wave) {
    rc = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", dir);
    goto fail;
  }
  memcpy(g->wave, wfull + i0, g->npix * sizeof *g->wave);

  if ((rc = list_spectra(dir, &files))) goto fail;
  g->nspec = files.n;
  g->flux = malloc(files.n * g->npix * sizeof *g->flux);
  params = malloc(files.n * RVS_SIM_NPARAM * sizeof *params);
  if (!g->flux || !params) {
    rc = rvs_error(RVS_ERR_NOMEM, "%s: out of memory for %zu spectra of %zu pixels", dir,
                   files.n, g->npix);
    goto fail;
  }
  /* cfitsio is built reentrant: each thread reads its own files. */
  int first_bad = -1;
  char first_msg[1024] = "";
  int first_rc = 0;
  long nf = (long)files.n;
  if (nthreads <= 0) nthreads = 1;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic) num_threads(nthreads)
#endif
  for (long k = 0; k < nf; k++) {
    int r = read_spectrum(files.v[k], nfull, i0, g->npix, params + k * RVS_SIM_NPARAM,
                          g->flux + (size_t)k * g->npix);
    if (r) {
#ifdef _OPENMP
#pragma omp critical(rvs_sim_grid_err)
#endif
      {
        if (first_bad < 0 || k < first_bad) {
          first_bad = (int)k;
          first_rc = r;
          snprintf(first_msg, sizeof first_msg, "%s", rvs_last_error());
        }
      }
    }
  }
  if (first_bad >= 0) {
    rc = rvs_error(first_rc, "%s", first_msg);
    goto fail;
  }

  /* Axes: the sorted distinct values of each parameter. */
  for (int d = 0; d < RVS_SIM_NPARAM; d++) {
    double *v = malloc(files.n * sizeof *v);
    if (!v) {
      rc = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", dir);
      goto fail;
    }
    for (size_t k = 0; k < files.n; k++) v[k] = params[k * RVS_SIM_NPARAM + d];
    qsort(v, files.n, sizeof *v, cmp_dbl);
    size_t m = 0;
    for (size_t k = 0; k < files.n; k++)
      if (m == 0 || !same_value(v[m - 1], v[k])) v[m++] = v[k];
    g->axis[d] = v;
    g->naxis[d] = m;
  }
  for (size_t k = 0; k < files.n; k++)
    if (!(params[k * RVS_SIM_NPARAM] > 0)) {
      rc = rvs_error(RVS_ERR_FORMAT, "%s: PHXTEFF must be positive", files.v[k]);
      goto fail;
    }
  size_t ncell = g->naxis[0] * g->naxis[1] * g->naxis[2] * g->naxis[3];
  g->node = malloc(ncell * sizeof *g->node);
  if (!g->node) {
    rc = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", dir);
    goto fail;
  }
  for (size_t c = 0; c < ncell; c++) g->node[c] = -1;
  for (size_t k = 0; k < files.n; k++) {
    size_t lin = 0;
    for (int d = 0; d < RVS_SIM_NPARAM; d++)
      lin = lin * g->naxis[d] +
            (size_t)axis_index(g->axis[d], g->naxis[d], params[k * RVS_SIM_NPARAM + d]);
    if (g->node[lin] >= 0) {
      rc = rvs_error(RVS_ERR_FORMAT, "%s: same parameters as %s", files.v[k],
                     files.v[g->node[lin]]);
      goto fail;
    }
    g->node[lin] = (long)k;
  }
  free(params);
  free(wfull);
  strlist_free(&files);
  return RVS_OK;
fail:
  free(params);
  free(wfull);
  strlist_free(&files);
  rvs_sim_grid_free(g);
  return rc;
}

int rvs_sim_grid_weights(const rvs_sim_grid *g, const double p[RVS_SIM_NPARAM],
                         long idx[16], double w[16], int *n) {
  size_t lo[RVS_SIM_NPARAM];
  double t[RVS_SIM_NPARAM];
  *n = 0;
  for (int d = 0; d < RVS_SIM_NPARAM; d++) {
    const double *ax = g->axis[d];
    size_t na = g->naxis[d];
    double x = p[d];
    if (!isfinite(x)) return rvs_error(RVS_ERR_RANGE, "%s: non-finite parameter", g->dir);
    if (na == 1) {
      if (!same_value(x, ax[0]))
        return rvs_error(RVS_ERR_RANGE, "%s: %s = %g but the grid has only %g", g->dir,
                         PARAM_KEYS[d], x, ax[0]);
      lo[d] = 0;
      t[d] = 0;
      continue;
    }
    double tol = 1e-9 * fmax(1.0, fabs(x));
    if (x < ax[0] - tol || x > ax[na - 1] + tol)
      return rvs_error(RVS_ERR_RANGE, "%s: %s = %g outside the grid [%g, %g]", g->dir,
                       PARAM_KEYS[d], x, ax[0], ax[na - 1]);
    size_t i = 0;
    while (i + 2 < na && x > ax[i + 1]) i++;
    double a = ax[i], b = ax[i + 1];
    if (d == 0) { /* teff: linear in log10 */
      a = log10(a);
      b = log10(b);
      x = log10(x);
    }
    double tt = (x - a) / (b - a);
    t[d] = tt < 0 ? 0 : (tt > 1 ? 1 : tt);
    lo[d] = i;
  }
  for (int c = 0; c < 16; c++) {
    double wt = 1.0;
    size_t lin = 0;
    for (int d = 0; d < RVS_SIM_NPARAM; d++) {
      int up = (c >> d) & 1;
      if (up && g->naxis[d] == 1) {
        wt = 0;
        break;
      }
      wt *= up ? t[d] : 1.0 - t[d];
      lin = lin * g->naxis[d] + lo[d] + (size_t)up;
    }
    if (wt <= 1e-12) continue;
    long k = g->node[lin];
    if (k < 0)
      return rvs_error(RVS_ERR_RANGE,
                       "%s: teff=%g logg=%g feh=%g alpha=%g needs a node missing from the grid",
                       g->dir, p[0], p[1], p[2], p[3]);
    idx[*n] = k;
    w[*n] = wt;
    (*n)++;
  }
  /* Renormalise after dropping negligible corners. */
  double s = 0;
  for (int k = 0; k < *n; k++) s += w[k];
  for (int k = 0; k < *n; k++) w[k] /= s;
  return RVS_OK;
}
