/* Tiny PHOENIX-shaped template grids for the template-preparation tests
 * (test_grid_db, test_make_interpol, test_interop_upstream): a wavelength
 * file (primary HDU, float64, vacuum Angstrom) and one FITS file per
 * spectrum (primary HDU float32 flux; PHXTEFF, PHXLOGG, PHXM_H, PHXALPHA)
 * in subfolders, as rvs_synth_grid writes them. */
#ifndef TEST_PREP_GRID_H
#define TEST_PREP_GRID_H

#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/atomic.h"

/* Flux model: blackbody-like slope times Gaussian absorption lines whose
 * depths depend on the parameters. */
typedef double (*prep_flux_fn)(double lam, const double *par, void *user);

static inline double prep_default_flux(double lam, const double *par, void *user) {
  (void)user;
  double teff = par[0], logg = par[1], feh = par[2], alpha = par[3];
  const double hc_k = 1.438777e8; /* h c / k in Angstrom K */
  double bb = 1.0 / (pow(lam / 5000.0, 5) * (exp(hc_k / (lam * teff)) - 1.0));
  static const double lines[][2] = {{4861.35, 0.6}, {5015.68, 0.3}, {5172.68, 0.5},
                                    {5183.60, 0.45}, {5269.54, 0.25}, {5328.04, 0.35},
                                    {5895.92, 0.5},  {5889.95, 0.55}, {4383.55, 0.4},
                                    {5500.00, 0.2}};
  double f = 1.0;
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    double depth = lines[i][1] * (0.5 + 0.15 * feh + 0.05 * alpha + 0.02 * logg) *
                   (1.0 - (teff - 5000.0) / 10000.0);
    if (depth > 0.95) depth = 0.95;
    if (depth < 0) depth = 0;
    double sig = 0.08 + 0.01 * logg;
    double d = (lam - lines[i][0]) / sig;
    f *= 1.0 - depth * exp(-0.5 * d * d);
  }
  return bb * f * 1e15;
}

static inline int prep_write_image(const char *path, int bitpix, int dtype, const void *data, long n,
                            int nkeys, const char *const *keys, const double *vals) {
  fitsfile *f = NULL;
  int st = 0;
  char p[4200];
  snprintf(p, sizeof p, "!%s", path);
  long naxes[1] = {n};
  fits_create_file(&f, p, &st);
  fits_create_img(f, bitpix, 1, naxes, &st);
  fits_write_img(f, dtype, 1, n, (void *)data, &st);
  for (int i = 0; i < nkeys; i++) fits_update_key(f, TDOUBLE, keys[i], (void *)&vals[i], NULL, &st);
  fits_close_file(f, &st);
  return st;
}

/* Wavelength grid lam0..lam1 with constant step (vacuum). */
static inline int prep_write_wavefile(const char *path, double lam0, double lam1, double step,
                               double **lam_out, long *n_out) {
  long n = (long)floor((lam1 - lam0) / step + 0.5) + 1;
  double *lam = malloc((size_t)n * sizeof(double));
  if (!lam) return -1;
  for (long i = 0; i < n; i++) lam[i] = lam0 + step * (double)i;
  int st = prep_write_image(path, DOUBLE_IMG, TDOUBLE, lam, n, 0, NULL, NULL);
  if (lam_out) *lam_out = lam;
  else free(lam);
  if (n_out) *n_out = n;
  return st;
}

/* One template file prefix/<sub>/<name> with the four PHX keywords. */
static inline int prep_write_template(const char *file, const double *lam, long n, const double *par,
                               prep_flux_fn fn, void *user) {
  float *fl = malloc((size_t)n * sizeof(float));
  if (!fl) return -1;
  for (long i = 0; i < n; i++) fl[i] = (float)fn(lam[i], par, user);
  static const char *const keys[] = {"PHXTEFF", "PHXLOGG", "PHXM_H", "PHXALPHA"};
  int st = prep_write_image(file, FLOAT_IMG, TFLOAT, fl, n, 4, keys, par);
  free(fl);
  return st;
}

/* A grid teffs x loggs x fehs x alphas under dir/grid/ (subfolders per
 * logg), wavelengths in dir/grid/WAVE.fits.  Returns 0 on success. */
static inline int prep_make_grid(const char *dir, const double *teffs, int nt, const double *loggs,
                          int ng, const double *fehs, int nf, const double *alphas, int na,
                          double lam0, double lam1, double step, prep_flux_fn fn, void *user) {
  char path[4096];
  snprintf(path, sizeof path, "%s/grid", dir);
  if (rvs_mkdir_p(path)) return -1;
  snprintf(path, sizeof path, "%s/grid/WAVE.fits", dir);
  double *lam = NULL;
  long n = 0;
  if (prep_write_wavefile(path, lam0, lam1, step, &lam, &n)) return -1;
  int st = 0;
  for (int g = 0; g < ng && !st; g++) {
    char sub[2048];
    snprintf(sub, sizeof sub, "%s/grid/Z_logg%.1f", dir, loggs[g]);
    if (rvs_mkdir_p(sub)) st = -1;
    for (int t = 0; t < nt && !st; t++)
      for (int f = 0; f < nf && !st; f++)
        for (int a = 0; a < na && !st; a++) {
          double par[4] = {teffs[t], loggs[g], fehs[f], alphas[a]};
          snprintf(path, sizeof path, "%s/lte%05.0f%+.2f%+.1f.a%+.2f.fits", sub, teffs[t],
                   -loggs[g], fehs[f], alphas[a]);
          st = prep_write_template(path, lam, n, par, fn ? fn : prep_default_flux, user);
        }
  }
  free(lam);
  return st;
}

/* python3 with upstream rvspecfit installed, or a clear failure (never a
 * silent pass).  Returns 1 if available. */
static inline int prep_have_upstream(void) {
  return system("python3 -c 'import rvspecfit, h5py' >/dev/null 2>&1") == 0;
}
#define PREP_REQUIRE_UPSTREAM()                                                              \
  do {                                                                                       \
    if (!prep_have_upstream())                                                               \
      fail_msg("python3 cannot import rvspecfit (the upstream package): run "                \
               "scripts/install-test-tools to install the test tools");                      \
  } while (0)

/* Run a shell command; returns its exit status (-1 if it could not run). */
static inline int prep_sh(const char *cmd) {
  int rc = system(cmd);
  if (rc == -1) return -1;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* rm -rf of a scratch folder (tests only). */
static inline void prep_rmtree(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

#endif
