/* Realism check of the synthetic templates against real model spectra:
 * our Teff 5800 / logg 4.5 / [Fe/H] 0 / [a/Fe] 0 template versus the PHOENIX
 * model (5000-8000 A, vacuum) and the FERRE solar spectrum (air -> vacuum)
 * of ../shared/data/reference_spectra, at DESI resolution (Gaussian FWHM
 * 1.55 A), each divided by the same upper-envelope continuum.
 *
 * Continuum: running maximum over 40 A of the smoothed spectrum, then a 40 A
 * boxcar mean of that envelope.  Equivalent widths: int (1 - f/c) over fixed
 * windows, identical for the three spectra.  docs/SYNTHETIC.md records the
 * numbers printed here. */
#include "rvs_test.h"

#include <fitsio.h>
#include <stdlib.h>

#include "rvs/status.h"
#include "synth/synth.h"

#define FWHM_DESI 1.55
#define FINE 0.05  /* A, uniform grid for the convolution */
#define COARSE 0.5 /* A, common comparison grid */
#define ENV_WIN 40.0

typedef struct spec {
  double *lam, *flux;
  size_t n;
} spec;

static void read_table(const char *path, int air, spec *s) {
  fitsfile *f = NULL;
  int fs = 0, cw = 0, cf = 0;
  long nrows = 0;
  fits_open_table(&f, path, READONLY, &fs);
  if (!fs) fits_movnam_hdu(f, BINARY_TBL, "SPECTRUM", 0, &fs);
  if (!fs) fits_get_num_rows(f, &nrows, &fs);
  if (!fs) fits_get_colnum(f, CASEINSEN, "WAVE", &cw, &fs);
  if (!fs) fits_get_colnum(f, CASEINSEN, "FLUX", &cf, &fs);
  assert_int_equal(fs, 0);
  s->n = (size_t)nrows;
  s->lam = malloc(s->n * sizeof(double));
  s->flux = malloc(s->n * sizeof(double));
  assert_non_null(s->lam);
  assert_non_null(s->flux);
  fits_read_col(f, TDOUBLE, cw, 1, 1, nrows, NULL, s->lam, NULL, &fs);
  fits_read_col(f, TDOUBLE, cf, 1, 1, nrows, NULL, s->flux, NULL, &fs);
  fits_close_file(f, &fs);
  assert_int_equal(fs, 0);
  if (air)
    for (size_t i = 0; i < s->n; i++) s->lam[i] = rvs_synth_air_to_vac(s->lam[i]);
}

static double interp(const double *x, const double *y, size_t n, double t) {
  if (t <= x[0]) return y[0];
  if (t >= x[n - 1]) return y[n - 1];
  size_t lo = 0, hi = n - 1;
  while (hi - lo > 1) {
    size_t m = (lo + hi) / 2;
    if (x[m] <= t) lo = m; else hi = m;
  }
  double f = (t - x[lo]) / (x[hi] - x[lo]);
  return y[lo] * (1 - f) + y[hi] * f;
}

/* Gaussian smoothing to DESI resolution, sampled on grid g[0..ng-1]. */
static void smooth_to(const spec *s, const double *g, size_t ng, double *out) {
  double lo = fmax(s->lam[0], g[0] - 10), hi = fmin(s->lam[s->n - 1], g[ng - 1] + 10);
  size_t nf = (size_t)((hi - lo) / FINE) + 1;
  double *fx = malloc(nf * sizeof *fx), *fy = malloc(nf * sizeof *fy), *fz = malloc(nf * sizeof *fz);
  assert_non_null(fx);
  assert_non_null(fy);
  assert_non_null(fz);
  for (size_t i = 0; i < nf; i++) {
    fx[i] = lo + FINE * (double)i;
    fy[i] = interp(s->lam, s->flux, s->n, fx[i]);
  }
  double sig = FWHM_DESI / 2.354820045 / FINE;
  int kh = (int)ceil(5 * sig);
  double *ker = malloc((2 * kh + 1) * sizeof *ker), ks = 0;
  assert_non_null(ker);
  for (int k = -kh; k <= kh; k++) ks += (ker[k + kh] = exp(-0.5 * (k / sig) * (k / sig)));
  for (size_t i = 0; i < nf; i++) {
    double v = 0, w = 0;
    for (int k = -kh; k <= kh; k++) {
      long j = (long)i + k;
      if (j < 0 || j >= (long)nf) continue;
      v += ker[k + kh] * fy[j];
      w += ker[k + kh];
    }
    fz[i] = v / w;
  }
  for (size_t i = 0; i < ng; i++) out[i] = interp(fx, fz, nf, g[i]);
  free(fx);
  free(fy);
  free(fz);
  free(ker);
}

/* Divide by the upper-envelope continuum (in place). */
static void normalise(double *f, size_t n) {
  int h = (int)(ENV_WIN / COARSE / 2);
  double *mx = malloc(n * sizeof *mx), *c = malloc(n * sizeof *c);
  assert_non_null(mx);
  assert_non_null(c);
  for (size_t i = 0; i < n; i++) {
    double m = -INFINITY;
    for (long j = (long)i - h; j <= (long)i + h; j++)
      if (j >= 0 && j < (long)n) m = fmax(m, f[j]);
    mx[i] = m;
  }
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    int k = 0;
    for (long j = (long)i - h; j <= (long)i + h; j++)
      if (j >= 0 && j < (long)n) s += mx[j], k++;
    c[i] = s / k;
  }
  for (size_t i = 0; i < n; i++) f[i] /= c[i];
  free(mx);
  free(c);
}

static double pearson(const double *g, const double *a, const double *b, size_t n, double lo,
                      double hi) {
  double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (g[i] < lo || g[i] > hi) continue;
    sa += a[i], sb += b[i], k++;
  }
  double ma = sa / k, mb = sb / k;
  for (size_t i = 0; i < n; i++) {
    if (g[i] < lo || g[i] > hi) continue;
    double da = a[i] - ma, db = b[i] - mb;
    saa += da * da, sbb += db * db, sab += da * db;
  }
  return sab / sqrt(saa * sbb);
}

static double ew(const double *g, const double *f, size_t n, double lo, double hi) {
  double s = 0;
  for (size_t i = 0; i + 1 < n; i++)
    if (g[i] >= lo && g[i + 1] <= hi) s += 0.5 * ((1 - f[i]) + (1 - f[i + 1])) * COARSE;
  return s;
}

static void test_realism_sun(void **state) {
  (void)state;
  char pph[4096], pfe[4096];
  snprintf(pph, sizeof pph, "%s/reference_spectra/phoenix_lte05800-4.50-0.0_5000-8000A.fits",
           RVS_SHARED_DATA_DIR);
  snprintf(pfe, sizeof pfe, "%s/reference_spectra/ferre_sun_5750_4.50_0.00.fits",
           RVS_SHARED_DATA_DIR);
  spec ph, fe, us;
  read_table(pph, 0, &ph);
  read_table(pfe, 1, &fe);
  rvs_synth_linelist *ll = NULL;
  assert_int_equal(rvs_synth_linelist_load(NULL, &ll), RVS_OK);
  assert_int_equal(rvs_synth_wavelength_grid(3550.0, 9880.0, 100000.0, &us.lam, &us.n), RVS_OK);
  us.flux = malloc(us.n * sizeof(double));
  assert_non_null(us.flux);
  rvs_synth_params p = {5800, 4.5, 0.0, 0.0, 0.0};
  assert_int_equal(rvs_synth_spectrum(ll, &p, us.lam, us.n, us.flux), RVS_OK);
  rvs_synth_linelist_free(ll);

  /* common grids: full DESI range, and the PHOENIX range */
  size_t ng = (size_t)((9824.0 - 3600.0) / COARSE) + 1;
  size_t np = (size_t)((8000.0 - 5000.0) / COARSE) + 1;
  double *g = malloc(ng * sizeof *g), *gp = malloc(np * sizeof *gp);
  double *u = malloc(ng * sizeof *u), *fr = malloc(ng * sizeof *fr);
  double *up = malloc(np * sizeof *up), *pp = malloc(np * sizeof *pp);
  assert_true(g && gp && u && fr && up && pp);
  for (size_t i = 0; i < ng; i++) g[i] = 3600.0 + COARSE * (double)i;
  for (size_t i = 0; i < np; i++) gp[i] = 5000.0 + COARSE * (double)i;
  smooth_to(&us, g, ng, u);
  smooth_to(&fe, g, ng, fr);
  smooth_to(&us, gp, np, up);
  smooth_to(&ph, gp, np, pp);
  normalise(u, ng);
  normalise(fr, ng);
  normalise(up, np);
  normalise(pp, np);

  double c_ph = pearson(gp, up, pp, np, 5000.0, 7900.0);
  double c_b = pearson(g, u, fr, ng, 3600.0, 5800.0);
  double c_r = pearson(g, u, fr, ng, 5760.0, 7620.0);
  double c_z = pearson(g, u, fr, ng, 7520.0, 9824.0);
  print_message("Pearson r: PHOENIX 5000-7900 %.3f; FERRE b %.3f r %.3f z %.3f\n", c_ph, c_b,
                c_r, c_z);
  /* windows (vacuum A): whole line +- enough for the DESI-smoothed wings */
  struct { const char *name; double lo, hi; int in_ph; } win[] = {
      {"H alpha", 6549.6, 6579.6, 1}, {"H beta", 4847.7, 4877.7, 0},
      {"Na D", 5887.0, 5899.0, 1},    {"Mg b", 5162.0, 5190.0, 1},
      {"Ca II 8500", 8495.4, 8505.4, 0}, {"Ca II 8544", 8539.4, 8549.4, 0},
      {"Ca II 8664", 8659.5, 8669.5, 0}};
  int nbad = 0;
  for (size_t k = 0; k < sizeof win / sizeof win[0]; k++) {
    double e_us = ew(g, u, ng, win[k].lo, win[k].hi);
    double e_fe = ew(g, fr, ng, win[k].lo, win[k].hi);
    double e_ph = win[k].in_ph ? ew(gp, pp, np, win[k].lo, win[k].hi) : NAN;
    print_message("EW %-11s ours %.3f  PHOENIX %.3f  FERRE %.3f A\n", win[k].name, e_us, e_ph,
                  e_fe);
    if (fabs(e_us / e_fe - 1) > 0.30) nbad++;
    if (win[k].in_ph && fabs(e_us / e_ph - 1) > 0.30) nbad++;
  }
  assert_true(c_ph >= 0.85);
  assert_true(c_b >= 0.60 && c_r >= 0.60 && c_z >= 0.60);
  assert_int_equal(nbad, 0);
  free(g), free(gp), free(u), free(fr), free(up), free(pp);
  free(ph.lam), free(ph.flux), free(fe.lam), free(fe.flux), free(us.lam), free(us.flux);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_realism_sun),
};

RVS_TEST_MAIN(tests)
