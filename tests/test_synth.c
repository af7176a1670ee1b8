/* Unit tests of the synthesis physics against independent references:
 * analytic results, published tables, brute-force numerics. */
#include "rvs_test.h"

#include <fitsio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "rvs/status.h"
#include "synth/grid_writer.h"
#include "synth/physics.h"
#include "synth/statmech.h"
#include "synth/synth.h"

/* ------------------------------------------------------------ helpers */
static rvs_synth_linelist *one_line(double wl, int z, int ion, double E_lo, double log_gf,
                                    double vdW) {
  rvs_synth_linelist *ll = calloc(1, sizeof *ll);
  assert_non_null(ll);
  ll->n = 1;
  ll->wl = malloc(sizeof(double));
  ll->log_gf = malloc(sizeof(float));
  ll->E_lo = malloc(sizeof(float));
  ll->gamma_rad = malloc(sizeof(float));
  ll->gamma_stark = malloc(sizeof(float));
  ll->vdW = malloc(sizeof(float));
  ll->z1 = malloc(1);
  ll->z2 = malloc(1);
  ll->ion = malloc(1);
  ll->wl[0] = wl;
  ll->log_gf[0] = (float)log_gf;
  ll->E_lo[0] = (float)E_lo;
  ll->gamma_rad[0] = 8.0f;
  ll->gamma_stark[0] = -5.5f;
  ll->vdW[0] = (float)vdW;
  ll->z1[0] = (unsigned char)z;
  ll->z2[0] = 0;
  ll->ion[0] = (signed char)ion;
  return ll;
}

static rvs_synth_linelist *empty_list(void) {
  rvs_synth_linelist *ll = one_line(5000, 26, 0, 0, -50, 0);
  ll->n = 0;
  return ll;
}

/* Equivalent width (A) of F/Fc over lam[0..n-1] (trapezoid). */
static double ew_of(const rvs_synth_linelist *ll, const rvs_synth_params *p, double lo,
                    double hi, double step) {
  size_t n = (size_t)((hi - lo) / step) + 1;
  double *lam = malloc(n * sizeof *lam), *f = malloc(n * sizeof *f), *c = malloc(n * sizeof *c);
  assert_non_null(lam);
  assert_non_null(f);
  assert_non_null(c);
  for (size_t i = 0; i < n; i++) lam[i] = lo + step * (double)i;
  assert_int_equal(rvs_synth_spectrum(ll, p, lam, n, f), RVS_OK);
  assert_int_equal(rvs_synth_continuum(p, lam, n, c), RVS_OK);
  double ew = 0.0;
  for (size_t i = 0; i + 1 < n; i++)
    ew += 0.5 * ((1 - f[i] / c[i]) + (1 - f[i + 1] / c[i + 1])) * (lam[i + 1] - lam[i]);
  free(lam);
  free(f);
  free(c);
  return ew;
}

/* ------------------------------------------------------------ radiation */
static void test_planck_known_values(void **state) {
  (void)state;
  /* brute-force long double Planck with CODATA constants */
  const long double h = 6.62607015e-27L, c = 2.99792458e10L, k = 1.380649e-16L;
  double lams[3] = {3000.0, 5000.0, 20000.0}, Ts[3] = {3000.0, 5778.0, 12000.0};
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      long double l = lams[i] * 1e-8L;
      long double ref = 2 * h * c * c / (l * l * l * l * l) / expm1l(h * c / (l * k * Ts[j]));
      assert_close_rel(rvs_planck_lambda(lams[i], Ts[j]), (double)ref, 2e-8, 0); /* hc/k to 10 digits */
    }
  /* Stefan-Boltzmann: pi * int B dlambda = sigma T^4 (log-spaced quadrature) */
  double T = 5778.0, sum = 0.0;
  for (double ll = log(500.0); ll < log(5e6); ll += 1e-3) {
    double lam = exp(ll);
    sum += rvs_planck_lambda(lam, T) * lam * 1e-8 * 1e-3;
  }
  assert_close_rel(M_PI * sum, RVS_SIGMA_SB * pow(T, 4), 2e-4, 0);
  /* Wien's law: peak at 2.897771955e7 A K / T */
  double best = 0, bl = 0;
  for (double lam = 4000; lam < 6000; lam += 0.1) {
    double b = rvs_planck_lambda(lam, T);
    if (b > best) best = b, bl = lam;
  }
  assert_close_abs(bl, 2.897771955e7 / T, 0.2);
}

static void test_expint_values(void **state) {
  (void)state;
  /* E1 from Abramowitz & Stegun table 5.1; higher orders by the exact
   * recurrence E_{n+1}(x) = (exp(-x) - x E_n(x)) / n */
  const double xs[3] = {0.1, 1.0, 2.0};
  const double e1[3] = {1.822923958419390, 0.219383934395520, 0.048900510708061};
  for (int i = 0; i < 3; i++) {
    double x = xs[i], en = e1[i];
    assert_close_rel(rvs_expint(1, x), en, 1e-12, 0);
    for (int n = 1; n < 4; n++) {
      en = (exp(-x) - x * en) / n;
      assert_close_rel(rvs_expint(n + 1, x), en, 1e-10, 0);
    }
  }
  assert_close_rel(rvs_expint(3, 0.0), 0.5, 1e-15, 0);
  assert_close_rel(rvs_expint(4, 0.0), 1.0 / 3.0, 1e-15, 0);
  /* large x: E_n(x) ~ exp(-x)/x (1 - n/x + n(n+1)/x^2) */
  double x = 200.0, n = 4;
  double asym = exp(-x) / x * (1 - n / x + n * (n + 1) / (x * x) - n * (n + 1) * (n + 2) / (x * x * x));
  assert_close_rel(rvs_expint(4, x), asym, 1e-6, 0);
}

/* ------------------------------------------------------------ opacity */
static void test_hminus_bf_vs_mclaughlin(void **state) {
  (void)state;
  /* H- photodetachment cross-sections of McLaughlin et al. (2017, J. Phys. B
   * 50, 114001) as tabulated in Korg.jl's data (1e-17 cm^2) */
  const double lam[6] = {4000, 5000, 6000, 8000, 10000, 12000};
  const double ref[6] = {2.2989, 2.9110, 3.4025, 3.9258, 3.7366, 2.8530};
  for (int i = 0; i < 6; i++) assert_close_rel(rvs_hminus_bf_xsec(lam[i]), ref[i] * 1e-17, 0.05, 0);
  assert_true(rvs_hminus_bf_xsec(17000.0) == 0.0); /* beyond the 0.754 eV threshold */
}

static void test_hminus_ff_vs_bell_berrington(void **state) {
  (void)state;
  /* Bell & Berrington (1987, J. Phys. B 20, 801) table, 1e-26 cm^4/dyn */
  struct { double lam, theta, k; } ref[] = {
      {5063, 1.0, 0.195}, {5063, 0.5, 0.0965}, {9113, 1.0, 0.576}, {9113, 1.6, 0.874},
      {15189, 1.0, 1.52}, {6510, 1.2, 0.367}};
  for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++)
    assert_close_rel(rvs_hminus_ff(ref[i].lam, 5040.0 / ref[i].theta), ref[i].k * 1e-26, 0.06, 0);
}

static void test_saha_hydrogen_textbook(void **state) {
  (void)state;
  /* N(H+)/N(H0) = 2 U+/U0 (2 pi m kT / h^2)^1.5 kT/Pe exp(-13.598 eV / kT),
   * U0 = 2, U+ = 1, computed independently here in long double */
  const long double me = 9.1093837015e-28L, k = 1.380649e-16L, h = 6.62607015e-27L;
  double Ts[3] = {5800.0, 10000.0, 15000.0}, Pes[3] = {30.0, 100.0, 1000.0};
  for (int i = 0; i < 3; i++) {
    long double kT = k * Ts[i];
    long double ref = (2.0L * 1.0L / 2.0L) * powl(2 * M_PI * me * kT / (h * h), 1.5L) * kT /
                      Pes[i] * expl(-13.598434L / (8.617333262e-5L * Ts[i]));
    double got = rvs_saha_ratio(Ts[i], Pes[i], 2.0, 1.0, 13.598434);
    assert_close_rel(got, (double)ref, 1e-9, 0);
  }
  /* textbook point: T = 10^4 K, Pe = 100 dyn/cm^2: hydrogen ~82% ionised
   * (N+/N0 = 4.66) */
  double fr[3];
  rvs_ion_fractions(1, 10000.0, 100.0, fr);
  assert_close_rel(fr[1] / fr[0], 4.66, 0.02, 0);
  assert_close_abs(fr[0] + fr[1] + fr[2], 1.0, 1e-12);
  /* partition functions: Fe I near 5000 K is ~30 (Irwin/NIST levels), H I = 2 */
  assert_close_rel(rvs_sm_partition(1, 0, 5000.0), 2.0, 1e-3, 0);
  double ufe = rvs_sm_partition(26, 0, 5000.0);
  assert_true(ufe > 25.0 && ufe < 35.0);
}

/* ------------------------------------------------------------ Voigt */
static void test_voigt_limits(void **state) {
  (void)state;
  /* a -> 0: Gaussian */
  for (double v = 0; v < 4.0; v += 0.25) assert_close_abs(rvs_voigt_H(1e-8, v), exp(-v * v), 2e-4);
  /* v = 0: H(a, 0) = exp(a^2) erfc(a) exactly */
  double as[4] = {0.01, 0.3, 1.0, 3.0};
  for (int i = 0; i < 4; i++)
    assert_close_rel(rvs_voigt_H(as[i], 0.0), exp(as[i] * as[i]) * erfc(as[i]), 2e-4, 0);
  /* far wing: Lorentzian a / (sqrt(pi) v^2) */
  assert_close_rel(rvs_voigt_H(0.01, 50.0), 0.01 / (sqrt(M_PI) * 2500.0), 2e-3, 0);
  assert_close_rel(rvs_voigt_H(0.5, 200.0), 0.5 / (sqrt(M_PI) * 40000.0), 2e-3, 0);
  /* normalisation: int H dv = sqrt(pi) (+ analytic Lorentz tail beyond |v| = 2000) */
  double a = 0.5, s = 0.0, dv = 1e-3;
  for (double v = -2000; v < 2000; v += dv) s += rvs_voigt_H(a, v + 0.5 * dv) * dv;
  s += 2.0 * a / sqrt(M_PI) / 2000.0;
  assert_close_rel(s, sqrt(M_PI), 1e-3, 0);
}

/* ------------------------------------------------------------ line formation */
static void test_curve_of_growth(void **state) {
  (void)state;
  rvs_synth_params p = {5800, 4.5, 0.0, 0.0, 1.0};
  double lg[8] = {-7, -6, -3, -2, -1, 0, 1, 2};
  double ew[8];
  for (int i = 0; i < 8; i++) {
    rvs_synth_linelist *ll = one_line(6000.0, 26, 0, 2.0, lg[i], -7.8);
    ew[i] = ew_of(ll, &p, 5850.0, 6150.0, 0.01);
    rvs_synth_linelist_free(ll);
  }
  for (int i = 0; i < 8; i++) print_message("log gf %4.0f  EW %.5g A\n", lg[i], ew[i]);
  double slope_weak = log10(ew[1] / ew[0]);
  double slope_sat = log10(ew[3] / ew[2]);
  double slope_damp = log10(ew[7] / ew[6]);
  /* linear part: EW proportional to N gf */
  assert_close_abs(slope_weak, 1.0, 0.03);
  /* flat part: EW ~ sqrt(ln N) */
  assert_true(slope_sat < 0.3);
  /* damping part: EW ~ sqrt(N) */
  assert_close_abs(slope_damp, 0.5, 0.08);
  assert_true(ew[0] > 0 && ew[0] < 1e-3);
}

static void test_line_width_grows_with_logg(void **state) {
  (void)state;
  /* a strong Fe I line: damping (vdW by H atoms, Stark) grows with pressure */
  double fwhm[2];
  double loggs[2] = {2.0, 5.0};
  size_t n = 4001;
  double *lam = malloc(n * sizeof *lam), *f = malloc(n * sizeof *f), *c = malloc(n * sizeof *c);
  assert_non_null(lam);
  assert_non_null(f);
  assert_non_null(c);
  for (size_t i = 0; i < n; i++) lam[i] = 5990.0 + 0.005 * (double)i;
  rvs_synth_linelist *ll = one_line(6000.0, 26, 0, 1.0, 0.5, -7.3);
  for (int g = 0; g < 2; g++) {
    rvs_synth_params p = {5000, loggs[g], 0.0, 0.0, 1.0};
    assert_int_equal(rvs_synth_spectrum(ll, &p, lam, n, f), RVS_OK);
    assert_int_equal(rvs_synth_continuum(&p, lam, n, c), RVS_OK);
    double dmax = 0;
    for (size_t i = 0; i < n; i++) dmax = fmax(dmax, 1 - f[i] / c[i]);
    size_t lo = 0, hi = n - 1;
    while (lo < n && 1 - f[lo] / c[lo] < 0.5 * dmax) lo++;
    while (hi > 0 && 1 - f[hi] / c[hi] < 0.5 * dmax) hi--;
    fwhm[g] = lam[hi] - lam[lo];
  }
  rvs_synth_linelist_free(ll);
  free(lam);
  free(f);
  free(c);
  assert_true(fwhm[1] > 1.5 * fwhm[0]);
}

static void test_balmer_strength_peaks_near_9000K(void **state) {
  (void)state;
  rvs_synth_linelist *ll = empty_list();
  double T[5] = {5000, 7000, 9000, 10000, 12000}, ew[5];
  for (int i = 0; i < 5; i++) {
    rvs_synth_params p = {T[i], 4.0, 0.0, 0.0, 0.0};
    ew[i] = ew_of(ll, &p, 4801.0, 4925.0, 0.02); /* H beta +- 62 A */
  }
  rvs_synth_linelist_free(ll);
  assert_true(ew[0] < ew[1]);
  assert_true(ew[1] < ew[2]);
  assert_true(ew[4] < fmax(ew[2], ew[3]));
  assert_true(ew[0] > 0.5); /* a real line even in a G star */
}

static void test_molecular_bands_cool_only(void **state) {
  (void)state;
  rvs_synth_linelist *ll = NULL;
  assert_int_equal(rvs_synth_linelist_load(NULL, &ll), RVS_OK);
  double d[2];
  double T[2] = {3300, 5000};
  for (int i = 0; i < 2; i++) {
    rvs_synth_params p = {T[i], 4.8, 0.0, 0.0, 0.0};
    /* TiO gamma' band head 7055 A (outside the GALAH windows) */
    d[i] = ew_of(ll, &p, 7056.0, 7150.0, 0.05) / 94.0;
  }
  rvs_synth_linelist_free(ll);
  assert_true(d[0] > 0.15); /* deep mean depression in an M dwarf */
  assert_true(d[1] < 0.08); /* K dwarf: only atomic lines */
}

static void test_continuum_flux_conservation(void **state) {
  (void)state;
  /* grey atmosphere: integrated surface flux ~ sigma Teff^4 (non-grey H-
   * opacity and the surface cooling make it approximate) */
  double Ts[2] = {5800, 9000};
  for (int k = 0; k < 2; k++) {
    rvs_synth_params p = {Ts[k], 4.5, 0.0, 0.0, 0.0};
    double *lam = NULL;
    size_t n = 0;
    assert_int_equal(rvs_synth_wavelength_grid(1000.0, 100000.0, 300.0, &lam, &n), RVS_OK);
    double *f = malloc(n * sizeof *f);
    assert_non_null(f);
    assert_int_equal(rvs_synth_continuum(&p, lam, n, f), RVS_OK);
    double s = 0;
    for (size_t i = 0; i + 1 < n; i++) s += 0.5 * (f[i] + f[i + 1]) * (lam[i + 1] - lam[i]) * 1e-8;
    assert_close_rel(s, RVS_SIGMA_SB * pow(Ts[k], 4), 0.15, 0);
    free(lam);
    free(f);
  }
}

static void test_determinism(void **state) {
  (void)state;
  rvs_synth_linelist *ll = NULL;
  assert_int_equal(rvs_synth_linelist_load(NULL, &ll), RVS_OK);
  size_t n = 20000;
  double *lam = malloc(n * sizeof *lam), *f[3];
  assert_non_null(lam);
  for (size_t i = 0; i < n; i++) lam[i] = 6500.0 + 0.01 * (double)i;
  rvs_synth_params p = {4300, 2.0, -0.7, 0.3, 0.0};
  for (int k = 0; k < 3; k++) {
    f[k] = malloc(n * sizeof(double));
    assert_non_null(f[k]);
  }
  assert_int_equal(rvs_synth_spectrum(ll, &p, lam, n, f[0]), RVS_OK);
  assert_int_equal(rvs_synth_spectrum(ll, &p, lam, n, f[1]), RVS_OK);
  int rc2 = 0;
#pragma omp parallel num_threads(2)
  {
#pragma omp single
    rc2 = rvs_synth_spectrum(ll, &p, lam, n, f[2]);
  }
  assert_int_equal(rc2, RVS_OK);
  assert_memory_equal(f[0], f[1], n * sizeof(double));
  assert_memory_equal(f[0], f[2], n * sizeof(double));
  for (int k = 0; k < 3; k++) free(f[k]);
  free(lam);
  rvs_synth_linelist_free(ll);
}

/* ------------------------------------------------------------ data, I/O */
static void test_wavelength_grid_and_air_vac(void **state) {
  (void)state;
  double *lam = NULL;
  size_t n = 0;
  assert_int_equal(rvs_synth_wavelength_grid(3500.0, 10000.0, 100000.0, &lam, &n), RVS_OK);
  assert_close_rel(lam[0], 3500.0, 1e-15, 0);
  assert_true(lam[n - 1] <= 10000.0 && lam[n - 1] > 10000.0 / (1 + 1e-5));
  for (size_t i = 1; i < n; i += 997) assert_close_rel(lam[i] / lam[i - 1], 1.0 + 1e-5, 1e-9, 0);
  assert_int_equal(n, (size_t)(log(10000.0 / 3500.0) / log1p(1e-5)) + 1);
  free(lam);
  assert_int_not_equal(rvs_synth_wavelength_grid(10.0, 5.0, 1e5, &lam, &n), RVS_OK);
  /* IAU air -> vacuum: H alpha 6562.80 A (air) = 6564.61 A (vacuum) */
  assert_close_abs(rvs_synth_air_to_vac(6562.80), 6564.61, 0.01);
  assert_close_abs(rvs_synth_air_to_vac(8542.09), 8544.44, 0.01);
  assert_close_abs(rvs_synth_vac_to_air(rvs_synth_air_to_vac(4000.0)), 4000.0, 1e-6);
  /* Rydberg: H alpha, H beta, Pa-epsilon? vacuum wavelengths */
  assert_close_abs(rvs_hydrogen_wavelength(2, 3), 6564.61, 0.02);
  assert_close_abs(rvs_hydrogen_wavelength(2, 4), 4862.68, 0.02);
  assert_close_abs(rvs_hydrogen_fvalue(2, 3), 0.6407, 1e-4);
}

static void test_linelist_load(void **state) {
  (void)state;
  rvs_synth_linelist *ll = NULL;
  char path[4096];
  snprintf(path, sizeof path, "%s/linelists/galah_dr3_linelist.h5", RVS_SHARED_DATA_DIR);
  char extra[4096];
  snprintf(extra, sizeof extra, "%s/data/linelists/synth_extra_lines.txt", RVS_SOURCE_DIR);
  assert_int_equal(rvs_synth_linelist_load2(path, extra, &ll), RVS_OK);
  assert_true(ll->n > 300000);
  int has_cat = 0, has_nad = 0, has_tio = 0;
  for (size_t i = 0; i < ll->n; i++) {
    if (i) assert_true(ll->wl[i] >= ll->wl[i - 1]);
    if (ll->z1[i] == 20 && ll->ion[i] == 1 && fabs(ll->wl[i] - 8544.44) < 0.02) has_cat = 1;
    if (ll->z1[i] == 11 && ll->z2[i] == 0 && fabs(ll->wl[i] - 5891.58) < 0.02) has_nad = 1;
    if (ll->z1[i] == 22 && ll->z2[i] == 8) has_tio = 1;
    assert_false(ll->z1[i] == 1 && ll->z2[i] == 0); /* hydrogen is computed apart */
  }
  assert_true(has_cat && has_nad && has_tio);
  assert_true(ll->wl[0] < 3600 && ll->wl[ll->n - 1] > 9900);
  rvs_synth_linelist_free(ll);
  /* errors name the file */
  assert_int_equal(rvs_synth_linelist_load2("/nonexistent/x.h5", "", &ll), RVS_ERR_IO);
  assert_non_null(strstr(rvs_last_error(), "/nonexistent/x.h5"));
}

static void test_grid_writer_tiny(void **state) {
  (void)state;
  char out[2048];
  snprintf(out, sizeof out, "%s/test_synth_grid", RVS_TEST_SCRATCH);
  rvs_synth_axes ax;
  assert_int_equal(rvs_synth_preset("tiny", &ax), RVS_OK);
  assert_int_equal(ax.nteff * ax.nlogg * ax.nfeh * ax.nalpha, 8);
  ax.nteff = 1; /* 4 spectra suffice here */
  rvs_synth_linelist *ll = empty_list();
  rvs_synth_grid_opts o = {out, 6000.0, 6050.0, 100000.0, 2, 1, 0.0};
  size_t nw = 0, ns = 0;
  assert_int_equal(rvs_synth_make_grid(ll, &ax, &o, &nw, &ns), RVS_OK);
  assert_int_equal(nw, 4);
  /* rerun without overwrite keeps the files */
  o.overwrite = 0;
  assert_int_equal(rvs_synth_make_grid(ll, &ax, &o, &nw, &ns), RVS_OK);
  assert_int_equal(nw, 0);
  assert_int_equal(ns, 4);
  rvs_synth_linelist_free(ll);
  /* wavelength file */
  char wpath[2200], fpath[2400], dir[2200];
  snprintf(wpath, sizeof wpath, "%s/WAVE_SYNTH.fits", out);
  fitsfile *f = NULL;
  int fs = 0;
  fits_open_file(&f, wpath, READONLY, &fs);
  assert_int_equal(fs, 0);
  long nw_pix = 0;
  fits_get_img_size(f, 1, &nw_pix, &fs);
  double *w = malloc(nw_pix * sizeof *w);
  assert_non_null(w);
  fits_read_img(f, TDOUBLE, 1, nw_pix, NULL, w, NULL, &fs);
  fits_close_file(f, &fs);
  assert_int_equal(fs, 0);
  assert_close_rel(w[0], 6000.0, 1e-14, 0);
  assert_close_rel(w[1] / w[0], 1.00001, 1e-10, 0);
  /* one spectrum: path format and header keys */
  assert_int_equal(rvs_synth_spectrum_path(out, 5500, 4.0, -0.5, 0.0, dir, sizeof dir, fpath,
                                           sizeof fpath),
                   RVS_OK);
  char expect[2400];
  snprintf(expect, sizeof expect, "%s/Z-0.50.A+0.00/synth_t05500_g4.00_z-0.50_a+0.00.fits", out);
  assert_string_equal(fpath, expect);
  fits_open_file(&f, fpath, READONLY, &fs);
  assert_int_equal(fs, 0);
  double t, g, z, a;
  fits_read_key(f, TDOUBLE, "PHXTEFF", &t, NULL, &fs);
  fits_read_key(f, TDOUBLE, "PHXLOGG", &g, NULL, &fs);
  fits_read_key(f, TDOUBLE, "PHXM_H", &z, NULL, &fs);
  fits_read_key(f, TDOUBLE, "PHXALPHA", &a, NULL, &fs);
  int bitpix = 0;
  long npix = 0;
  fits_get_img_type(f, &bitpix, &fs);
  fits_get_img_size(f, 1, &npix, &fs);
  float *flux = malloc(npix * sizeof *flux);
  assert_non_null(flux);
  fits_read_img(f, TFLOAT, 1, npix, NULL, flux, NULL, &fs);
  fits_close_file(f, &fs);
  assert_int_equal(fs, 0);
  assert_true(t == 5500 && g == 4.0 && z == -0.5 && a == 0.0);
  assert_int_equal(bitpix, FLOAT_IMG);
  assert_int_equal(npix, nw_pix);
  /* flux matches a direct synthesis (float32 rounding) */
  rvs_synth_params p = {5500, 4.0, -0.5, 0.0, 0.0};
  double *ref = malloc(npix * sizeof *ref);
  assert_non_null(ref);
  ll = empty_list();
  assert_int_equal(rvs_synth_spectrum(ll, &p, w, (size_t)npix, ref), RVS_OK);
  rvs_synth_linelist_free(ll);
  for (long i = 0; i < npix; i += 37) assert_close_rel(flux[i], ref[i], 1e-6, 0);
  free(ref);
  free(flux);
  free(w);
  /* axis parsing */
  double v[16];
  size_t nv;
  assert_int_equal(rvs_synth_parse_axis("3000:4000:250", v, &nv, 16), RVS_OK);
  assert_int_equal(nv, 5);
  assert_close_abs(v[4], 4000.0, 1e-9);
  assert_int_equal(rvs_synth_parse_axis("-2.5,-1,0.5", v, &nv, 16), RVS_OK);
  assert_int_equal(nv, 3);
  assert_close_abs(v[1], -1.0, 0);
  assert_int_not_equal(rvs_synth_parse_axis("1,x", v, &nv, 16), RVS_OK);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_planck_known_values),
    cmocka_unit_test(test_expint_values),
    cmocka_unit_test(test_hminus_bf_vs_mclaughlin),
    cmocka_unit_test(test_hminus_ff_vs_bell_berrington),
    cmocka_unit_test(test_saha_hydrogen_textbook),
    cmocka_unit_test(test_voigt_limits),
    cmocka_unit_test(test_curve_of_growth),
    cmocka_unit_test(test_line_width_grows_with_logg),
    cmocka_unit_test(test_balmer_strength_peaks_near_9000K),
    cmocka_unit_test(test_molecular_bands_cool_only),
    cmocka_unit_test(test_continuum_flux_conservation),
    cmocka_unit_test(test_determinism),
    cmocka_unit_test(test_wavelength_grid_and_air_vac),
    cmocka_unit_test(test_linelist_load),
    cmocka_unit_test(test_grid_writer_tiny),
};

RVS_TEST_MAIN(tests)
