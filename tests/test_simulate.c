/* DESI simulator: layout identical to a real iron coadd, forward-model checks
 * against analytic expectations (Doppler centroid, rotation variance, noise
 * statistics), determinism, defects as the truth table says.  Each case
 * builds its own tiny template grid in the rvs_synth_grid layout. */
#include "rvs_test.h"

#include <fitsio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "io/atomic.h"
#include "io/desi_coadd.h"
#include "rvs/status.h"
#include "sim/sim_grid.h"
#include "sim/simulate.h"

#define REAL RVS_SHARED_DATA_DIR "/desi/coadd-4-80613-thru20210324.fits"
#define SCRATCH RVS_TEST_SCRATCH "/test_simulate"
#define C_KMS 299792.458

enum { GRID_STARS, GRID_LINE, GRID_HOLE };

/* Hole of GRID_HOLE: teff 5000, logg 3, feh -1, alpha 0. */
static const double HOLE[4] = {5000, 3, -1, 0};

static void assert_msg_has(const char *needle) {
  const char *m = rvs_last_error();
  if (!strstr(m, needle)) fail_msg("error message '%s' does not mention '%s'", m, needle);
}

static void casedir(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", SCRATCH, name);
  assert_int_equal(rvs_mkdir_p(buf), RVS_OK);
}

static void write_1d(const char *path, int bitpix, int dtype, const void *data, long n,
                     const double *par) {
  fitsfile *f = NULL;
  int fs = 0;
  char bang[1100];
  snprintf(bang, sizeof bang, "!%s", path);
  fits_create_file(&f, bang, &fs);
  fits_create_img(f, bitpix, 1, &n, &fs);
  fits_write_img(f, dtype, 1, n, (void *)data, &fs);
  if (par) {
    static const char *keys[4] = {"PHXTEFF", "PHXLOGG", "PHXM_H", "PHXALPHA"};
    for (int d = 0; d < 4; d++) fits_write_key(f, TDOUBLE, keys[d], (void *)&par[d], NULL, &fs);
  }
  fits_close_file(f, &fs);
  assert_int_equal(fs, 0);
}

/* A grid in rvs_synth_grid's layout, log-uniform at R_samp = 20000 over
 * 3500-10000 A.  GRID_STARS/GRID_HOLE: blackbody times absorption lines whose
 * depth depends on the parameters; GRID_LINE: flat continuum with one
 * Gaussian line (6000 A, sigma 1 A, depth 0.5). */
static void make_grid(const char *dir, int kind) {
  assert_int_equal(rvs_mkdir_p(dir), RVS_OK);
  const double rs = 20000;
  long n = (long)(log(10000.0 / 3500.0) * rs) + 1;
  double *w = malloc((size_t)n * sizeof *w);
  float *fl = malloc((size_t)n * sizeof *fl);
  assert_non_null(w);
  assert_non_null(fl);
  for (long i = 0; i < n; i++) w[i] = 3500.0 * exp((double)i / rs);
  char path[4096];
  snprintf(path, sizeof path, "%s/WAVE_SYNTH.fits", dir);
  write_1d(path, DOUBLE_IMG, TDOUBLE, w, n, NULL);
  static const double teffs[4] = {4000, 5000, 6000, 7000}, loggs[3] = {1, 3, 5};
  static const double fehs[2] = {-1, 0}, alphas[2] = {0, 0.4};
  static const double lines[] = {3934.8, 3969.6, 4102.9, 4341.7, 4862.7, 5175.0, 5270.0,
                                 5895.9, 6564.6, 8500.4, 8544.4, 8664.5};
  int nt = kind == GRID_LINE ? 2 : 4, ng = kind == GRID_LINE ? 1 : 3;
  int nf = kind == GRID_LINE ? 1 : 2, na = kind == GRID_LINE ? 1 : 2;
  for (int it = 0; it < nt; it++)
    for (int ig = 0; ig < ng; ig++)
      for (int jf = 0; jf < nf; jf++)
        for (int ja = 0; ja < na; ja++) {
          double p[4] = {kind == GRID_LINE ? 5000 + 1000 * it : teffs[it],
                         kind == GRID_LINE ? 4.5 : loggs[ig], kind == GRID_LINE ? 0 : fehs[jf],
                         kind == GRID_LINE ? 0 : alphas[ja]};
          if (kind == GRID_HOLE && p[0] == HOLE[0] && p[1] == HOLE[1] && p[2] == HOLE[2] &&
              p[3] == HOLE[3])
            continue;
          for (long i = 0; i < n; i++) {
            double v;
            if (kind == GRID_LINE) {
              double x = (w[i] - 6000.0) / 1.0;
              v = 1 - 0.5 * exp(-0.5 * x * x);
            } else {
              double lc = w[i] * 1e-8;
              v = 1e-20 / pow(lc, 5) / (exp(1.4388 / (lc * p[0])) - 1);
              double depth = 0.6 * (1 + 0.3 * p[2]) * (6000 / p[0]) * (1 + 0.1 * p[3]);
              if (depth > 0.95) depth = 0.95;
              for (size_t k = 0; k < sizeof lines / sizeof lines[0]; k++) {
                double x = (w[i] - lines[k]) / (0.3 + 0.1 * p[1]);
                if (fabs(x) < 10) v *= 1 - depth * exp(-0.5 * x * x);
              }
            }
            fl[i] = (float)v;
          }
          char sub[2048];
          snprintf(sub, sizeof sub, "%s/Z%+.2f.A%+.2f", dir, p[2], p[3]);
          assert_int_equal(rvs_mkdir_p(sub), RVS_OK);
          snprintf(path, sizeof path, "%s/synth_t%05.0f_g%.2f_z%+.2f_a%+.2f.fits", sub, p[0],
                   p[1], p[2], p[3]);
          write_1d(path, FLOAT_IMG, TFLOAT, fl, n, p);
        }
  free(w);
  free(fl);
}

static void load_grid(const char *dir, const rvs_sim_options *o, rvs_sim_grid *g) {
  double lo, hi;
  rvs_sim_needed_range(o, &lo, &hi);
  int rc = rvs_sim_grid_load(dir, lo, hi, 2, g);
  if (rc) fail_msg("grid load: %s", rvs_last_error());
}

/* Build a grid of `kind` in scratch/<name>/grid and simulate. */
static void simulate(const char *name, int kind, const rvs_sim_options *o, rvs_sim_result *res,
                     char *dir_out, size_t cap) {
  char dir[1024], gdir[1100];
  casedir(dir, sizeof dir, name);
  snprintf(gdir, sizeof gdir, "%s/grid", dir);
  make_grid(gdir, kind);
  rvs_sim_grid g;
  load_grid(gdir, o, &g);
  int rc = rvs_sim_run(&g, o, res);
  if (rc) fail_msg("simulate: %s", rvs_last_error());
  rvs_sim_grid_free(&g);
  if (dir_out) snprintf(dir_out, cap, "%s", dir);
}

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_dbl);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ------------------------------------------------------------------ layout */

static void hdu_names(fitsfile *f, char names[32][FLEN_VALUE], int *n) {
  int fs = 0;
  fits_get_num_hdus(f, n, &fs);
  for (int h = 1; h <= *n; h++) {
    fits_movabs_hdu(f, h, NULL, &fs);
    strcpy(names[h - 1], "PRIMARY");
    if (h > 1) fits_read_key(f, TSTRING, "EXTNAME", names[h - 1], NULL, &fs);
  }
  assert_int_equal(fs, 0);
}

static void read_key_str(fitsfile *f, const char *key, char *val) {
  int fs = 0;
  val[0] = 0;
  fits_read_key(f, TSTRING, key, val, NULL, &fs);
  if (fs) {
    fits_clear_errmsg();
    strcpy(val, "<none>");
  }
}

static void layout_matches_real(void **state) {
  (void)state;
  rvs_sim_options o;
  rvs_sim_options_default(&o);
  o.nfibers = 12;
  o.seed = 7;
  rvs_sim_result res;
  char dir[1024], path[1100];
  simulate("layout", GRID_STARS, &o, &res, dir, sizeof dir);
  snprintf(path, sizeof path, "%s/coadd-sim.fits", dir);
  assert_int_equal(rvs_sim_write_coadd(&res, path, "grid"), RVS_OK);

  fitsfile *real = NULL, *sim = NULL;
  int fs = 0;
  fits_open_file(&real, REAL, READONLY, &fs);
  fits_open_file(&sim, path, READONLY, &fs);
  assert_int_equal(fs, 0);
  char rn[32][FLEN_VALUE], sn[32][FLEN_VALUE];
  int nr = 0, ns = 0;
  hdu_names(real, rn, &nr);
  hdu_names(sim, sn, &ns);
  assert_int_equal(nr, 19);
  assert_int_equal(ns, nr);
  for (int h = 0; h < nr; h++) {
    assert_string_equal(sn[h], rn[h]);
    fits_movabs_hdu(real, h + 1, NULL, &fs);
    fits_movabs_hdu(sim, h + 1, NULL, &fs);
    int tr, ts;
    fits_get_hdu_type(real, &tr, &fs);
    fits_get_hdu_type(sim, &ts, &fs);
    assert_int_equal(ts, tr);
    char a[FLEN_VALUE], b[FLEN_VALUE];
    read_key_str(real, "BUNIT", a);
    read_key_str(sim, "BUNIT", b);
    assert_string_equal(b, a);
    if (tr == IMAGE_HDU) {
      int bpr, bps, nar, nas;
      long dr[3] = {1, 1, 1}, ds[3] = {1, 1, 1};
      fits_get_img_type(real, &bpr, &fs);
      fits_get_img_type(sim, &bps, &fs);
      fits_get_img_dim(real, &nar, &fs);
      fits_get_img_dim(sim, &nas, &fs);
      fits_get_img_size(real, 3, dr, &fs);
      fits_get_img_size(sim, 3, ds, &fs);
      assert_int_equal(bps, bpr);
      assert_int_equal(nas, nar);
      assert_int_equal(ds[0], dr[0]); /* pixels */
      if (nar >= 2) assert_int_equal(ds[nar - 1], 12); /* spectra on the slowest axis */
      if (nar == 3) assert_int_equal(ds[1], 11);
      if (h > 0 && strstr(rn[h], "WAVELENGTH")) {
        /* identical wavelength grids, bit for bit */
        double *wr = malloc((size_t)dr[0] * sizeof *wr), *ws = malloc((size_t)dr[0] * sizeof *ws);
        long fp = 1;
        fits_read_pix(real, TDOUBLE, &fp, dr[0], NULL, wr, NULL, &fs);
        fits_read_pix(sim, TDOUBLE, &fp, dr[0], NULL, ws, NULL, &fs);
        assert_int_equal(fs, 0);
        assert_memory_equal(wr, ws, (size_t)dr[0] * sizeof *wr);
        free(wr);
        free(ws);
      }
    } else if (h > 0) {
      int cr, cs;
      long rows;
      fits_get_num_cols(real, &cr, &fs);
      fits_get_num_cols(sim, &cs, &fs);
      fits_get_num_rows(sim, &rows, &fs);
      assert_int_equal(cs, cr);
      assert_int_equal(rows, strcmp(rn[h], "EXP_FIBERMAP") == 0 ? 24 : 12);
      for (int c = 1; c <= cr; c++) {
        char key[16], vr[FLEN_VALUE], vs[FLEN_VALUE];
        snprintf(key, sizeof key, "TTYPE%d", c);
        read_key_str(real, key, vr);
        read_key_str(sim, key, vs);
        assert_string_equal(vs, vr);
        snprintf(key, sizeof key, "TFORM%d", c);
        read_key_str(real, key, vr);
        read_key_str(sim, key, vs);
        assert_string_equal(vs, vr);
      }
    }
  }
  /* Primary keys upstream copies: the real file has these six. */
  static const char *keys[6] = {"SPGRP", "SPGRPVAL", "TILEID", "SPECTRO", "PETAL", "NIGHT"};
  fits_movabs_hdu(sim, 1, NULL, &fs);
  for (int k = 0; k < 6; k++) {
    char v[FLEN_VALUE];
    read_key_str(sim, keys[k], v);
    assert_string_not_equal(v, "<none>");
  }
  /* Checksums written and valid in every HDU. */
  for (int h = 1; h <= ns; h++) {
    int ok_data = 0, ok_hdu = 0;
    fits_movabs_hdu(sim, h, NULL, &fs);
    fits_verify_chksum(sim, &ok_data, &ok_hdu, &fs);
    assert_int_equal(ok_data, 1);
    assert_int_equal(ok_hdu, 1);
  }
  fits_close_file(real, &fs);
  fits_close_file(sim, &fs);
  assert_int_equal(fs, 0);
  rvs_sim_result_free(&res);
}

/* The file read back through the coadd reader holds what was simulated. */
static void reader_roundtrip(void **state) {
  (void)state;
  rvs_sim_options o;
  rvs_sim_options_default(&o);
  o.nfibers = 10;
  o.seed = 3;
  rvs_sim_result res;
  char dir[1024], path[1100];
  simulate("roundtrip", GRID_STARS, &o, &res, dir, sizeof dir);
  snprintf(path, sizeof path, "%s/coadd-rt.fits", dir);
  assert_int_equal(rvs_sim_write_coadd(&res, path, "grid"), RVS_OK);
  rvs_desi_coadd c;
  assert_int_equal(rvs_desi_coadd_read(path, "brz", 1, &c), RVS_OK);
  assert_int_equal(c.nrows, 10);
  assert_string_equal(c.fiberstatus_col, "COADD_FIBERSTATUS");
  assert_string_equal(c.sn_family, "MEDIAN_COADD_SNR");
  for (int a = 0; a < 3; a++) {
    const rvs_desi_arm *A = &c.arms[a];
    const rvs_sim_arm *S = &res.arms[a];
    size_t n = 10 * S->npix;
    assert_int_equal(A->npix, S->npix);
    assert_memory_equal(A->wave, S->wave, S->npix * sizeof(double));
    assert_memory_equal(A->flux, S->flux, n * sizeof(float));
    assert_memory_equal(A->ivar, S->ivar, n * sizeof(float));
    assert_memory_equal(A->mask, S->mask, n * sizeof(int32_t));
    assert_memory_equal(A->resolution, S->resolution, 11 * n * sizeof(float));
    assert_memory_equal(c.sn[a], res.scores_snr[a], 10 * sizeof(float));
  }
  /* a subset of rows in any order (runs of consecutive rows read at once) */
  rvs_desi_coadd sub;
  size_t pick[5] = {7, 2, 3, 4, 2};
  assert_int_equal(rvs_desi_coadd_open(path, "zb", &sub), RVS_OK);
  assert_int_equal(rvs_desi_coadd_load_arms(&sub, pick, 5, 1), RVS_OK);
  assert_int_equal(sub.arms[0].name, 'z');
  for (int r = 0; r < 5; r++) {
    size_t nz = res.arms[2].npix, nb = res.arms[0].npix;
    assert_int_equal(sub.loaded_rows[r], pick[r]);
    assert_memory_equal(sub.arms[0].flux + r * nz, res.arms[2].flux + pick[r] * nz,
                        nz * sizeof(float));
    assert_memory_equal(sub.arms[1].mask + r * nb, res.arms[0].mask + pick[r] * nb,
                        nb * sizeof(int32_t));
    assert_memory_equal(sub.arms[0].resolution + r * 11 * nz,
                        res.arms[2].resolution + pick[r] * 11 * nz, 11 * nz * sizeof(float));
  }
  rvs_desi_coadd_free(&sub);
  for (size_t f = 0; f < 10; f++) {
    assert_int_equal(c.targetid[f], res.truth[f].targetid);
    assert_int_equal(c.fiber[f], 2000 + (int64_t)f);
    assert_int_equal(c.fiberstatus[f], 0);
    assert_int_equal((c.targetid[f] >> 22) & 0xFFFFF, c.brickid[f]); /* DESI TARGETID bits */
    for (size_t g = 0; g < f; g++) assert_true(c.targetid[g] != c.targetid[f]);
  }
  rvs_desi_coadd_free(&c);
  rvs_sim_result_free(&res);
}

/* ------------------------------------------------------------- noise, S/N */

static void noise_consistent_with_ivar(void **state) {
  (void)state;
  rvs_sim_options o;
  rvs_sim_options_default(&o);
  o.nfibers = 40;
  o.defects = 0;
  o.seed = 11;
  rvs_sim_result res;
  simulate("noise", GRID_STARS, &o, &res, NULL, 0);
  double chi2 = 0, sum = 0;
  size_t n = 0, n3 = 0;
  for (int a = 0; a < 3; a++) {
    const rvs_sim_arm *A = &res.arms[a];
    for (size_t q = 0; q < res.nfibers * A->npix; q++) {
      assert_true(A->ivar[q] > 0);
      assert_int_equal(A->mask[q], 0);
      double z = ((double)A->flux[q] - A->model[q]) * sqrt(A->ivar[q]);
      chi2 += z * z;
      sum += z;
      n3 += fabs(z) > 3;
      n++;
    }
  }
  /* N ~ 3.2e5: sd of the mean chi2 is sqrt(2/N) = 0.0025 */
  assert_close_abs(chi2 / n, 1.0, 0.0125);
  assert_close_abs(sum / n, 0.0, 0.009);
  assert_close_abs((double)n3 / n, 0.0027, 0.0006);
  rvs_sim_result_free(&res);
}

static void sn_truth_and_scores(void **state) {
  (void)state;
  rvs_sim_options o;
  rvs_sim_options_default(&o);
  o.nfibers = 30;
  o.seed = 5;
  rvs_sim_result res;
  simulate("sn", GRID_STARS, &o, &res, NULL, 0);
  double *buf = malloc(3000 * sizeof *buf), *bufn = malloc(3000 * sizeof *bufn);
  for (size_t f = 0; f < res.nfibers; f++) {
    const rvs_sim_truth *t = &res.truth[f];
    if (t->kind == RVS_SIM_SKY || t->kind == RVS_SIM_MASKED) continue;
    assert_true(t->sn_target >= 2 && t->sn_target <= 150);
    for (int a = 0; a < 3; a++) {
      const rvs_sim_arm *A = &res.arms[a];
      size_t m = 0;
      for (size_t j = 0; j < A->npix; j++) {
        size_t q = f * A->npix + j;
        if (A->ivar[q] > 0 && A->mask[q] == 0 && isfinite(A->flux[q])) {
          buf[m] = A->model[q] * sqrt(A->ivar[q]);
          bufn[m++] = A->flux[q] * sqrt(A->ivar[q]);
        }
      }
      assert_close_rel(t->sn[a], median(buf, m), 1e-6, 1e-6);
      double snn = median(bufn, m);
      assert_close_rel(res.scores_snr[a][f], snn, 1e-6, 1e-6);
      /* the noisy median estimates the noise-free one */
      assert_close_abs(snn, t->sn[a], 0.05 * t->sn[a] + 0.25);
    }
    /* The R arm S/N is the target (masked pixels shift the median a little). */
    double tol = t->defects & (RVS_SIM_DEF_NAN | RVS_SIM_DEF_IVAR0) ? 0.03 : 0.01;
    assert_close_rel(t->sn[1], t->sn_target, tol, 0);
  }
  free(buf);
  free(bufn);
  rvs_sim_result_free(&res);
}

/* --------------------------------------------------- Doppler and rotation */

/* Centroid, equivalent width and variance of the absorption line in the
 * noise-free model of fiber f divided by its calibration (R arm). */
static void line_moments(const rvs_sim_result *r, size_t f, double center, double *cen,
                         double *ew, double *var) {
  const rvs_sim_arm *A = &r->arms[1];
  double s0 = 0, s1 = 0, s2 = 0;
  for (size_t j = 0; j < A->npix; j++) {
    double lam = A->wave[j];
    if (fabs(lam - center) > 14) continue;
    size_t q = f * A->npix + j;
    double d = 1.0 - (double)A->model[q] / A->calib[q];
    s0 += d;
    s1 += d * lam;
  }
  *cen = s1 / s0;
  for (size_t j = 0; j < A->npix; j++) {
    double lam = A->wave[j];
    if (fabs(lam - center) > 14) continue;
    size_t q = f * A->npix + j;
    double d = 1.0 - (double)A->model[q] / A->calib[q];
    s2 += d * (lam - *cen) * (lam - *cen);
  }
  *ew = s0 * 0.8;
  *var = s2 / s0;
}

static void doppler_line_centroid(void **state) {
  (void)state;
  static const double v[6] = {-599.0, -350.5, -123.4, 0.0, 250.0, 599.0};
  rvs_sim_star stars[6];
  for (int i = 0; i < 6; i++)
    stars[i] = (rvs_sim_star){5500, 4.5, 0, 0, v[i], 0, 80};
  rvs_sim_options o;
  rvs_sim_options_default(&o);
  o.defects = 0;
  o.nfibers = 0;
  o.stars = stars;
  o.nstars = 6;
  rvs_sim_result res;
  simulate("doppler", GRID_LINE, &o, &res, NULL, 0);
  assert_int_equal(res.nfibers, 6);
  for (int i = 0; i < 6; i++) {
    double beta = v[i] / C_KMS;
    double expect = 6000.0 * sqrt((1 + beta) / (1 - beta)), classical = 6000.0 * (1 + beta);
    double cen, ew, var;
    line_moments(&res, (size_t)i, expect, &cen, &ew, &var);
    double dv = (cen - expect) / expect * C_KMS;
    if (fabs(dv) > 0.05) fail_msg("v=%g: centroid off by %g km/s", v[i], dv);
    /* relativistic, not classical: at 600 km/s they differ by 0.6 km/s */
    if (fabs(v[i]) > 500) assert_true(fabs(cen - expect) < 0.4 * fabs(classical - expect));
    /* equivalent width of a sigma=1 A, depth 0.5 Gaussian (x Doppler factor) */
    assert_close_rel(ew, 0.5 * sqrt(2 * M_PI) * expect / 6000.0, 2e-3, 0);
  }
  rvs_sim_result_free(&res);
}

/* Variance (A^2) of the LSF row of fiber f at wavelength lam (R arm):
 * Rmat[i][i+off] = data[5-off][i+off]. */
static double lsf_variance(const rvs_sim_result *r, size_t f, double lam) {
  const rvs_sim_arm *A = &r->arms[1];
  size_t n = A->npix, i = (size_t)((lam - A->wave[0]) / 0.8 + 0.5);
  const float *d = A->resolution + f * 11 * n;
  double v = 0;
  for (int off = -5; off <= 5; off++) v += off * off * d[(size_t)(5 - off) * n + i + off];
  return v * 0.64;
}

static void rotation_broadening_variance(void **state) {
  (void)state;
  static const double vs[3] = {0, 60, 150};
  rvs_sim_star stars[3];
  for (int i = 0; i < 3; i++) stars[i] = (rvs_sim_star){5500, 4.5, 0, 0, 100.0, vs[i], 80};
  rvs_sim_options o;
  rvs_sim_options_default(&o);
  o.defects = 0;
  o.nfibers = 0;
  o.stars = stars;
  o.nstars = 3;
  rvs_sim_result res;
  simulate("rotation", GRID_LINE, &o, &res, NULL, 0);
  double beta = 100.0 / C_KMS, center = 6000.0 * sqrt((1 + beta) / (1 - beta));
  double cen0, ew0, var0;
  line_moments(&res, 0, center, &cen0, &ew0, &var0);
  var0 -= lsf_variance(&res, 0, center);
  for (int i = 1; i < 3; i++) {
    double cen, ew, var;
    line_moments(&res, (size_t)i, center, &cen, &ew, &var);
    var -= lsf_variance(&res, (size_t)i, center); /* each fiber has its own LSF */
    /* rotation keeps the line centre and the equivalent width */
    assert_close_abs((cen - cen0) / center * C_KMS, 0.0, 0.2);
    assert_close_rel(ew, ew0, 2e-3, 0);
    /* and adds the profile's variance: for epsilon = 0.6,
     * <x^2> = [(1-eps)/4 + 2 eps/15] / (1 - eps/3) = 0.225 (x = v/vsini),
     * plus dv^2/12 from integrating the kernel over template pixels
     * (dv = c/20000 = 15 km/s): 2% at 60 km/s. */
    double sig_a = vs[i] / C_KMS * center, dv_a = center / 20000.0;
    assert_close_rel(var - var0, 0.225 * sig_a * sig_a + dv_a * dv_a / 12, 0.01, 0);
  }
  rvs_sim_result_free(&res);
}

/* ------------------------------------------------------------- determinism */

static void same_result(const rvs_sim_result *a, const rvs_sim_result *b, int expect_equal) {
  int equal = a->nfibers == b->nfibers;
  for (int k = 0; k < 3 && equal; k++) {
    size_t n = a->nfibers * a->arms[k].npix;
    equal &= !memcmp(a->arms[k].flux, b->arms[k].flux, n * sizeof(float));
    equal &= !memcmp(a->arms[k].ivar, b->arms[k].ivar, n * sizeof(float));
    equal &= !memcmp(a->arms[k].mask, b->arms[k].mask, n * sizeof(int32_t));
    equal &= !memcmp(a->arms[k].resolution, b->arms[k].resolution, 11 * n * sizeof(float));
  }
  for (size_t f = 0; f < a->nfibers && equal; f++) {
    const rvs_sim_truth *x = &a->truth[f], *y = &b->truth[f];
    equal &= x->targetid == y->targetid && x->kind == y->kind && x->defects == y->defects &&
             x->ncosmic == y->ncosmic && x->nan_start == y->nan_start &&
             x->ivar0_start == y->ivar0_start;
    equal &= (x->teff == y->teff || (isnan(x->teff) && isnan(y->teff))) &&
             (x->vrad == y->vrad || (isnan(x->vrad) && isnan(y->vrad)));
  }
  if (expect_equal)
    assert_true(equal);
  else
    assert_false(equal);
}

static void deterministic_with_seed(void **state) {
  (void)state;
  char dir[1024], gdir[1100];
  casedir(dir, sizeof dir, "determinism");
  snprintf(gdir, sizeof gdir, "%s/grid", dir);
  make_grid(gdir, GRID_STARS);
  rvs_sim_options o;
  rvs_sim_options_default(&o);
  o.nfibers = 16;
  o.seed = 42;
  rvs_sim_grid g;
  load_grid(gdir, &o, &g);
  rvs_sim_result r1, r2, r3;
  o.nthreads = 1;
  assert_int_equal(rvs_sim_run(&g, &o, &r1), RVS_OK);
  o.nthreads = 2;
  assert_int_equal(rvs_sim_run(&g, &o, &r2), RVS_OK);
  same_result(&r1, &r2, 1);
  /* and through the files */
  char p1[1200], p2[1200];
  snprintf(p1, sizeof p1, "%s/a.fits", dir);
  snprintf(p2, sizeof p2, "%s/b.fits", dir);
  assert_int_equal(rvs_sim_write_coadd(&r1, p1, gdir), RVS_OK);
  assert_int_equal(rvs_sim_write_coadd(&r2, p2, gdir), RVS_OK);
  rvs_desi_coadd c1, c2;
  assert_int_equal(rvs_desi_coadd_read(p1, "brz", 1, &c1), RVS_OK);
  assert_int_equal(rvs_desi_coadd_read(p2, "brz", 1, &c2), RVS_OK);
  for (int a = 0; a < 3; a++) {
    size_t n = 16 * c1.arms[a].npix;
    assert_memory_equal(c1.arms[a].flux, c2.arms[a].flux, n * sizeof(float));
    assert_memory_equal(c1.arms[a].resolution, c2.arms[a].resolution, 11 * n * sizeof(float));
  }
  assert_memory_equal(c1.targetid, c2.targetid, 16 * sizeof(int64_t));
  rvs_desi_coadd_free(&c1);
  rvs_desi_coadd_free(&c2);
  o.seed = 43;
  assert_int_equal(rvs_sim_run(&g, &o, &r3), RVS_OK);
  same_result(&r1, &r3, 0);
  rvs_sim_result_free(&r1);
  rvs_sim_result_free(&r2);
  rvs_sim_result_free(&r3);
  rvs_sim_grid_free(&g);
}

/* ------------------------------------------------------------------ defects */

static void defects_where_truth_says(void **state) {
  (void)state;
  rvs_sim_options o;
  rvs_sim_options_default(&o);
  o.nfibers = 60;
  o.seed = 9;
  rvs_sim_result res;
  char dir[1024], path[1100];
  simulate("defects", GRID_STARS, &o, &res, dir, sizeof dir);
  snprintf(path, sizeof path, "%s/coadd-def.fits", dir);
  assert_int_equal(rvs_sim_write_coadd(&res, path, "grid"), RVS_OK);
  rvs_desi_coadd c;
  assert_int_equal(rvs_desi_coadd_open(path, "brz", &c), RVS_OK);
  int desi_col = -1;
  for (int k = 0; k < c.ntargetcols; k++)
    if (!strcmp(c.targetcols[k].name, "DESI_TARGET")) desi_col = k;
  assert_true(desi_col >= 0);
  const int64_t MWS_ANY = (int64_t)1 << 61, BGS_ANY = (int64_t)1 << 60;
  int nsky = 0, ngal = 0, nmasked = 0, nnan = 0, niv0 = 0, ncos = 0;
  for (size_t f = 0; f < res.nfibers; f++) {
    const rvs_sim_truth *t = &res.truth[f];
    int64_t dt = c.targetcols[desi_col].bits[f];
    switch (t->kind) {
    case RVS_SIM_SKY:
      nsky++;
      assert_string_equal(c.objtype[f], "SKY");
      assert_true(t->defects & RVS_SIM_DEF_SKY);
      break;
    case RVS_SIM_GALAXY:
      ngal++;
      assert_string_equal(c.objtype[f], "TGT");
      assert_true((dt & BGS_ANY) && !(dt & MWS_ANY));
      assert_true(t->redshift >= 0.05 && t->redshift <= 0.35);
      break;
    default:
      assert_string_equal(c.objtype[f], "TGT");
      assert_true(dt & MWS_ANY);
      break;
    }
    int masked = t->kind == RVS_SIM_MASKED;
    nmasked += masked;
    int cosmic = 0;
    for (int a = 0; a < 3; a++) {
      const rvs_sim_arm *A = &res.arms[a];
      for (size_t j = 0; j < A->npix; j++) {
        size_t q = f * A->npix + j;
        int in_nan = t->nan_arm == "BRZ"[a] && (int)j >= t->nan_start &&
                     (int)j < t->nan_start + t->nan_len;
        int in_iv0 = t->ivar0_arm == "BRZ"[a] && (int)j >= t->ivar0_start &&
                     (int)j < t->ivar0_start + t->ivar0_len;
        int is_cos = (A->mask[q] & RVS_SIM_MASK_COSMIC) != 0;
        cosmic += is_cos;
        if (masked) {
          assert_int_equal(A->mask[q], RVS_SIM_MASK_BADFIBER);
          assert_true(A->ivar[q] == 0);
          continue;
        }
        assert_int_equal(A->mask[q] & ~RVS_SIM_MASK_COSMIC, 0);
        assert_int_equal(isnan(A->flux[q]) != 0, in_nan);
        assert_int_equal(A->ivar[q] == 0, in_iv0 || is_cos);
      }
    }
    assert_int_equal(cosmic, t->ncosmic);
    assert_int_equal((t->defects & RVS_SIM_DEF_COSMIC) != 0, cosmic > 0);
    assert_int_equal((t->defects & RVS_SIM_DEF_NAN) != 0, t->nan_arm != ' ');
    assert_int_equal((t->defects & RVS_SIM_DEF_IVAR0) != 0, t->ivar0_arm != ' ');
    nnan += t->nan_arm != ' ';
    niv0 += t->ivar0_arm != ' ';
    ncos += cosmic > 0;
    if (t->kind == RVS_SIM_SKY) {
      /* sky-subtracted: zero model, flux is noise */
      double s = 0;
      size_t m = 0;
      for (int a = 0; a < 3; a++) {
        const rvs_sim_arm *A = &res.arms[a];
        for (size_t j = 0; j < A->npix; j++) {
          size_t q = f * A->npix + j;
          assert_true(A->model[q] == 0);
          if (A->ivar[q] > 0 && A->mask[q] == 0 && isfinite(A->flux[q])) {
            s += A->flux[q] * sqrt(A->ivar[q]);
            m++;
          }
        }
      }
      assert_close_abs(s / (double)m, 0.0, 0.05);
    }
    if (t->kind == RVS_SIM_GALAXY) {
      /* H-alpha emission where the redshift puts it */
      double lam = 6564.61 * (1 + t->redshift);
      const rvs_sim_arm *A = &res.arms[lam < 7600 ? 1 : 2];
      size_t jc = (size_t)((lam - A->wave[0]) / 0.8 + 0.5);
      double peak = A->model[f * A->npix + jc], side = A->model[f * A->npix + jc - 40];
      assert_true(peak > 2 * side);
    }
  }
  assert_int_equal(nsky, 1);
  assert_int_equal(ngal, 1);
  assert_int_equal(nmasked, 1);
  assert_int_equal(nnan, 1);  /* 60 fibers: max(1, 60/50) of each */
  assert_int_equal(niv0, 1);
  assert_true(ncos > 30);     /* Poisson(1.5) per arm: most fibers */
  rvs_desi_coadd_free(&c);
  rvs_sim_result_free(&res);
}

/* ----------------------------------------------------------- resolution */

static void resolution_matches_real(void **state) {
  (void)state;
  rvs_sim_options o;
  rvs_sim_options_default(&o);
  o.nfibers = 4;
  o.defects = 0;
  rvs_sim_result res;
  simulate("resolution", GRID_STARS, &o, &res, NULL, 0);
  rvs_desi_coadd real;
  assert_int_equal(rvs_desi_coadd_read(REAL, "brz", 1, &real), RVS_OK);
  for (int a = 0; a < 3; a++) {
    size_t n = res.arms[a].npix, j0 = 1000;
    const float *rr = real.arms[a].resolution;
    for (size_t f = 0; f < res.nfibers; f++) {
      const float *rs = res.arms[a].resolution + f * 11 * n;
      /* Response to a delta at j0 = matrix column j0 = data[k][j0] at row
       * j0-5+k: both peak at j0 and have the same shape. */
      double m2r = 0, m2s = 0, m1s = 0;
      for (int k = 0; k < 11; k++) {
        double xr = rr[(size_t)k * n + j0], xs = rs[(size_t)k * n + j0];
        if (k != 5) {
          assert_true(xr < rr[5 * n + j0]);
          assert_true(xs < rs[5 * n + j0]);
        }
        assert_close_abs(xs, xr, 0.08);
        m2r += (k - 5) * (k - 5) * xr;
        m2s += (k - 5) * (k - 5) * xs;
        m1s += (k - 5) * xs;
      }
      assert_close_rel(m2s, m2r, 0.35, 0);
      assert_close_abs(m1s, 0.0, 0.01);
      /* R @ 1 (rows, in upstream's convention) is 1 inside the arm: a
       * continuum stays a continuum, as in the real file (3%). */
      double *row = calloc(n, sizeof *row);
      for (int k = 0; k < 11; k++)
        for (size_t j = 0; j < n; j++) {
          long i = (long)j - 5 + k;
          if (i >= 0 && i < (long)n) row[i] += rs[(size_t)k * n + j];
        }
      for (size_t i = 5; i + 5 < n; i++) assert_close_abs(row[i], 1.0, 2e-6);
      /* the end rows lose the flux that falls off the arm, like DESI's */
      assert_true(row[0] > 0.5 && row[0] < 0.8);
      free(row);
    }
  }
  rvs_desi_coadd_free(&real);
  rvs_sim_result_free(&res);
}

/* ------------------------------------------------------------ grid input */

static void missing_node_grid(void **state) {
  (void)state;
  char dir[1024], gdir[1100];
  casedir(dir, sizeof dir, "hole");
  snprintf(gdir, sizeof gdir, "%s/grid", dir);
  make_grid(gdir, GRID_HOLE);
  rvs_sim_options o;
  rvs_sim_options_default(&o);
  rvs_sim_grid g;
  load_grid(gdir, &o, &g);
  assert_int_equal(g.nspec, 47);
  assert_int_equal(g.naxis[0], 4);
  assert_int_equal(g.naxis[1], 3);
  long idx[16];
  double w[16];
  int n;
  /* at the hole, and in cells touching it: error; at a node: one weight */
  assert_int_equal(rvs_sim_grid_weights(&g, HOLE, idx, w, &n), RVS_ERR_RANGE);
  assert_msg_has("missing");
  double near[4] = {5200, 3.5, -0.5, 0.1};
  assert_int_equal(rvs_sim_grid_weights(&g, near, idx, w, &n), RVS_ERR_RANGE);
  double node[4] = {6000, 3, -1, 0.4};
  assert_int_equal(rvs_sim_grid_weights(&g, node, idx, w, &n), RVS_OK);
  assert_int_equal(n, 1);
  assert_close_abs(w[0], 1.0, 1e-12);
  /* multilinear in log10(teff): weights at teff 4500 */
  double mid[4] = {4500, 1, 0, 0};
  assert_int_equal(rvs_sim_grid_weights(&g, mid, idx, w, &n), RVS_OK);
  assert_int_equal(n, 2);
  double t = (log10(4500) - log10(4000)) / (log10(5000) - log10(4000));
  assert_close_abs(w[0], 1 - t, 1e-12);
  assert_close_abs(w[1], t, 1e-12);
  double out[4] = {8000, 3, 0, 0};
  assert_int_equal(rvs_sim_grid_weights(&g, out, idx, w, &n), RVS_ERR_RANGE);
  assert_msg_has("outside the grid");
  /* random stars avoid the hole */
  o.nfibers = 80;
  o.defects = 0;
  rvs_sim_result res;
  assert_int_equal(rvs_sim_run(&g, &o, &res), RVS_OK);
  for (size_t f = 0; f < res.nfibers; f++) {
    double p[4] = {res.truth[f].teff, res.truth[f].logg, res.truth[f].feh, res.truth[f].alpha};
    assert_int_equal(rvs_sim_grid_weights(&g, p, idx, w, &n), RVS_OK);
  }
  rvs_sim_result_free(&res);
  /* a given star in the hole is an error naming the star */
  rvs_sim_star s = {5000, 3, -1, 0, 0, 0, 20};
  o.nfibers = 0;
  o.stars = &s;
  o.nstars = 1;
  assert_int_equal(rvs_sim_run(&g, &o, &res), RVS_ERR_RANGE);
  assert_msg_has("star 0");
  rvs_sim_grid_free(&g);
}

static void grid_errors(void **state) {
  (void)state;
  char dir[1024], gdir[1100], p[1200];
  casedir(dir, sizeof dir, "griderr");
  rvs_sim_grid g;
  snprintf(gdir, sizeof gdir, "%s/never-created", dir);
  assert_int_equal(rvs_sim_grid_load(gdir, 3600, 9800, 1, &g), RVS_ERR_IO);
  assert_msg_has(gdir);
  assert_msg_has("WAVE_SYNTH.fits");
  /* a wavelength file but no spectra */
  snprintf(gdir, sizeof gdir, "%s/broken", dir);
  assert_int_equal(rvs_mkdir_p(gdir), RVS_OK);
  snprintf(p, sizeof p, "%s/Z+0.00.A+0.00/synth_t05000_g4.50_z+0.00_a+0.00.fits", gdir);
  remove(p); /* from an earlier run */
  double w[100];
  for (int i = 0; i < 100; i++) w[i] = 3000 * exp(i * 0.02);
  snprintf(p, sizeof p, "%s/WAVE_SYNTH.fits", gdir);
  write_1d(p, DOUBLE_IMG, TDOUBLE, w, 100, NULL);
  assert_int_equal(rvs_sim_grid_load(gdir, 3600, 9800, 1, &g), RVS_ERR_FORMAT);
  assert_msg_has("no synth_");
  /* not covering the DESI range */
  assert_int_equal(rvs_sim_grid_load(gdir, 3600, 30000, 1, &g), RVS_ERR_RANGE);
  assert_msg_has("covers");
  /* not log-uniform */
  w[50] += 1;
  write_1d(p, DOUBLE_IMG, TDOUBLE, w, 100, NULL);
  assert_int_equal(rvs_sim_grid_load(gdir, 3600, 9800, 1, &g), RVS_ERR_FORMAT);
  assert_msg_has("log-uniform");
  /* a spectrum of the wrong length */
  w[50] -= 1;
  write_1d(p, DOUBLE_IMG, TDOUBLE, w, 100, NULL);
  snprintf(p, sizeof p, "%s/Z+0.00.A+0.00", gdir);
  assert_int_equal(rvs_mkdir_p(p), RVS_OK);
  snprintf(p, sizeof p, "%s/Z+0.00.A+0.00/synth_t05000_g4.50_z+0.00_a+0.00.fits", gdir);
  float fl[99] = {0};
  double par[4] = {5000, 4.5, 0, 0};
  write_1d(p, FLOAT_IMG, TFLOAT, fl, 99, par);
  assert_int_equal(rvs_sim_grid_load(gdir, 3600, 9800, 1, &g), RVS_ERR_FORMAT);
  assert_msg_has("synth_t05000");
  assert_msg_has("99 pixels");
}

static void params_file(void **state) {
  (void)state;
  char dir[1024], p[1200];
  casedir(dir, sizeof dir, "params");
  snprintf(p, sizeof p, "%s/stars.txt", dir);
  FILE *f = fopen(p, "w");
  fprintf(f, "# teff logg feh alpha vrad vsini sn\n5500 4.5 0 0 -120.5 0 50\n\n"
             "  4200 1.5 -0.8 0.3 300 40 8   # a giant\n");
  fclose(f);
  rvs_sim_star *stars = NULL;
  size_t n = 0;
  assert_int_equal(rvs_sim_read_params(p, &stars, &n), RVS_OK);
  assert_int_equal(n, 2);
  assert_close_abs(stars[1].teff, 4200, 0);
  assert_close_abs(stars[1].vsini, 40, 0);
  assert_close_abs(stars[0].vrad, -120.5, 0);
  rvs_sim_options o;
  rvs_sim_options_default(&o);
  o.nfibers = 0;
  o.stars = stars;
  o.nstars = n;
  rvs_sim_result res;
  simulate("params", GRID_STARS, &o, &res, NULL, 0);
  assert_int_equal(res.nfibers, 5); /* 2 stars + sky, galaxy, masked */
  for (size_t k = 0; k < 2; k++) {
    assert_int_equal(res.truth[k].kind, RVS_SIM_STAR);
    assert_close_abs(res.truth[k].teff, stars[k].teff, 0);
    assert_close_abs(res.truth[k].vrad, stars[k].vrad, 0);
    assert_close_abs(res.truth[k].vsini, stars[k].vsini, 0);
    assert_close_rel(res.truth[k].sn[1], stars[k].sn, 0.03, 0);
  }
  assert_int_equal(res.truth[2].kind, RVS_SIM_SKY);
  assert_int_equal(res.truth[3].kind, RVS_SIM_GALAXY);
  assert_int_equal(res.truth[4].kind, RVS_SIM_MASKED);
  /* truth table on disk */
  char tp[1300], cp[1300];
  snprintf(cp, sizeof cp, "%s/coadd-x.fits", dir);
  assert_int_equal(rvs_sim_default_truth_path(cp, tp, sizeof tp), RVS_OK);
  char expect[1300];
  snprintf(expect, sizeof expect, "%s/truth-coadd-x.fits", dir);
  assert_string_equal(tp, expect);
  assert_int_equal(rvs_sim_write_truth(&res, tp, cp), RVS_OK);
  fitsfile *t = NULL;
  int fs = 0, col;
  long nrow;
  fits_open_file(&t, tp, READONLY, &fs);
  fits_movnam_hdu(t, BINARY_TBL, "TRUTH", 0, &fs);
  fits_get_num_rows(t, &nrow, &fs);
  assert_int_equal(nrow, 5);
  double teff[5], vr[5];
  char kb[5][16], *kinds[5] = {kb[0], kb[1], kb[2], kb[3], kb[4]};
  fits_get_colnum(t, CASESEN, "TEFF", &col, &fs);
  fits_read_col(t, TDOUBLE, col, 1, 1, 5, NULL, teff, NULL, &fs);
  fits_get_colnum(t, CASESEN, "VRAD", &col, &fs);
  fits_read_col(t, TDOUBLE, col, 1, 1, 5, NULL, vr, NULL, &fs);
  fits_get_colnum(t, CASESEN, "KIND", &col, &fs);
  fits_read_col(t, TSTRING, col, 1, 1, 5, NULL, kinds, NULL, &fs);
  fits_close_file(t, &fs);
  assert_int_equal(fs, 0);
  assert_close_abs(teff[1], 4200, 0);
  assert_close_abs(vr[0], -120.5, 0);
  assert_true(isnan(teff[2]));
  assert_string_equal(kinds[0], "star");
  assert_string_equal(kinds[2], "sky");
  assert_string_equal(kinds[3], "galaxy");
  assert_string_equal(kinds[4], "masked");
  rvs_sim_result_free(&res);
  /* a star count that does not match --nfibers, and a bad line */
  o.nfibers = 7;
  rvs_sim_grid g;
  char gdir[1200];
  snprintf(gdir, sizeof gdir, "%s/grid", dir);
  load_grid(gdir, &o, &g);
  assert_int_equal(rvs_sim_run(&g, &o, &res), RVS_ERR_ARG);
  rvs_sim_grid_free(&g);
  free(stars);
  f = fopen(p, "w");
  fprintf(f, "5500 4.5 0 0 -120.5 0 50\n5500 4.5 0 0 oops 0 50\n");
  fclose(f);
  assert_int_equal(rvs_sim_read_params(p, &stars, &n), RVS_ERR_FORMAT);
  assert_msg_has("stars.txt:2");
}

/* --interp lsf-first: an off-node star is the ln-flux interpolation, with the
 * multilinear weights in (log10 teff, logg, feh, alpha), of its 16 grid
 * corners each simulated on its own (same seed and fiber: same resolution,
 * calibration and brightness), up to one constant (each spectrum is
 * normalised by its own median).  The default (raw) mode is not: it
 * interpolates before the resolution. */
static double model_at(const rvs_sim_result *r, int a, size_t j) {
  return (double)r->arms[a].model[j]; /* fiber 0 */
}

static void sim_one(const rvs_sim_grid *g, const rvs_sim_star *s, rvs_sim_interp mode,
                    rvs_sim_result *res) {
  rvs_sim_options o;
  rvs_sim_options_default(&o);
  o.nfibers = 0;
  o.defects = 0;
  o.seed = 31;
  o.nthreads = 2;
  o.interp = mode;
  o.stars = s;
  o.nstars = 1;
  int rc = rvs_sim_run(g, &o, res);
  if (rc) fail_msg("simulate: %s", rvs_last_error());
}

/* max over pixels of |ln(x_j / y_j) - median of ln(x / y)| */
static double log_ratio_spread(const rvs_sim_result *x, const double *lny[RVS_SIM_NARMS]) {
  size_t ntot = 0;
  for (int a = 0; a < RVS_SIM_NARMS; a++) ntot += x->arms[a].npix;
  double *d = malloc(ntot * sizeof *d), *tmp = malloc(ntot * sizeof *tmp);
  assert_non_null(d);
  assert_non_null(tmp);
  size_t k = 0;
  for (int a = 0; a < RVS_SIM_NARMS; a++)
    for (size_t j = 0; j < x->arms[a].npix; j++, k++) {
      assert_true(model_at(x, a, j) > 0);
      d[k] = log(model_at(x, a, j)) - lny[a][j];
    }
  memcpy(tmp, d, ntot * sizeof *d);
  double med = median(tmp, ntot), mx = 0;
  for (k = 0; k < ntot; k++) mx = fmax(mx, fabs(d[k] - med));
  free(d);
  free(tmp);
  return mx;
}

static void lsf_first_interpolates_observed_corners(void **state) {
  (void)state;
  char dir[1024], gdir[1100];
  casedir(dir, sizeof dir, "lsffirst");
  snprintf(gdir, sizeof gdir, "%s/grid", dir);
  make_grid(gdir, GRID_STARS);
  rvs_sim_options o0;
  rvs_sim_options_default(&o0);
  rvs_sim_grid g;
  load_grid(gdir, &o0, &g);
  assert_int_equal(rvs_sim_interp_parse("raw"), RVS_SIM_INTERP_RAW);
  assert_int_equal(rvs_sim_interp_parse("lsf-first"), RVS_SIM_INTERP_LSF_FIRST);
  assert_int_equal(rvs_sim_interp_parse("lsf"), -1);
  assert_string_equal(rvs_sim_interp_name(RVS_SIM_INTERP_LSF_FIRST), "lsf-first");
  /* the grid's cell around the star: teff 5000-6000, logg 3-5, feh -1-0, alpha 0-0.4 */
  static const double lo[4] = {5000, 3, -1, 0}, hi[4] = {6000, 5, 0, 0.4};
  const double vsinis[2] = {0, 80};
  for (int case_ = 0; case_ < 2; case_++) {
    rvs_sim_star s = {5400, 3.7, -0.35, 0.1, 123.4, vsinis[case_], 60};
    double t[4];
    t[0] = (log10(s.teff) - log10(lo[0])) / (log10(hi[0]) - log10(lo[0]));
    t[1] = (s.logg - lo[1]) / (hi[1] - lo[1]);
    t[2] = (s.feh - lo[2]) / (hi[2] - lo[2]);
    t[3] = (s.alpha - lo[3]) / (hi[3] - lo[3]);
    double *lny[RVS_SIM_NARMS];
    rvs_sim_result res, craw;
    sim_one(&g, &s, RVS_SIM_INTERP_LSF_FIRST, &res);
    for (int a = 0; a < RVS_SIM_NARMS; a++) {
      lny[a] = calloc(res.arms[a].npix, sizeof(double));
      assert_non_null(lny[a]);
    }
    /* sum over the 16 corners of w_c ln(model_c), each corner an on-node star */
    double wsum = 0;
    for (int c = 0; c < 16; c++) {
      rvs_sim_star sc = s;
      double *pc[4] = {&sc.teff, &sc.logg, &sc.feh, &sc.alpha}, w = 1;
      for (int d = 0; d < 4; d++) {
        int up = (c >> d) & 1;
        *pc[d] = up ? hi[d] : lo[d];
        w *= up ? t[d] : 1 - t[d];
      }
      wsum += w;
      rvs_sim_result rc_;
      sim_one(&g, &sc, RVS_SIM_INTERP_RAW, &rc_);
      for (int a = 0; a < RVS_SIM_NARMS; a++)
        for (size_t j = 0; j < rc_.arms[a].npix; j++) {
          assert_true(model_at(&rc_, a, j) > 0);
          lny[a][j] += w * log(model_at(&rc_, a, j));
        }
      /* same resolution matrix for every corner and the off-node star */
      assert_memory_equal(rc_.arms[1].resolution, res.arms[1].resolution,
                          RVS_SIM_NDIAG * res.arms[1].npix * sizeof(float));
      rvs_sim_result_free(&rc_);
    }
    assert_close_abs(wsum, 1.0, 1e-12);
    /* lsf-first: equal up to a constant to float32 rounding; raw (the
     * interpolation before the resolution) differs by far more */
    double spread = log_ratio_spread(&res, (const double **)lny);
    sim_one(&g, &s, RVS_SIM_INTERP_RAW, &craw);
    double spread_raw = log_ratio_spread(&craw, (const double **)lny);
    print_message("vsini %g: max |ln(model / corner interpolation)| about its median: "
                  "lsf-first %.2g, raw %.2g\n", s.vsini, spread, spread_raw);
    if (spread > 2e-6)
      fail_msg("vsini %g: lsf-first differs from the corners by %g", s.vsini, spread);
    if (spread_raw < 1e-3)
      fail_msg("vsini %g: raw mode equals the corner interpolation (%g)", s.vsini, spread_raw);
    /* same star, same noise-free level: the truth and S/N are those asked for */
    assert_close_abs(res.truth[0].feh, s.feh, 0);
    assert_close_rel(res.truth[0].sn[1], s.sn, 1e-6, 0);
    rvs_sim_result_free(&craw);
    rvs_sim_result_free(&res);
    for (int a = 0; a < RVS_SIM_NARMS; a++) free(lny[a]);
  }
  /* at a node both modes give the same spectrum (up to the normalisation:
   * raw divides by the median before the resolution, lsf-first after it) */
  rvs_sim_star node = {6000, 3, -1, 0.4, -40, 30, 40};
  rvs_sim_result a, b;
  sim_one(&g, &node, RVS_SIM_INTERP_RAW, &a);
  sim_one(&g, &node, RVS_SIM_INTERP_LSF_FIRST, &b);
  double *lna[RVS_SIM_NARMS];
  for (int k = 0; k < RVS_SIM_NARMS; k++) {
    lna[k] = malloc(a.arms[k].npix * sizeof(double));
    assert_non_null(lna[k]);
    for (size_t j = 0; j < a.arms[k].npix; j++) lna[k][j] = log(model_at(&a, k, j));
  }
  double spread_node = log_ratio_spread(&b, (const double **)lna);
  if (spread_node > 2e-6) fail_msg("at a node the two modes differ by %g", spread_node);
  for (int k = 0; k < RVS_SIM_NARMS; k++) free(lna[k]);
  rvs_sim_result_free(&a);
  rvs_sim_result_free(&b);
  rvs_sim_grid_free(&g);
}

/* The random parameters follow the documented mix. */
static void random_parameter_mix(void **state) {
  (void)state;
  rvs_sim_options o;
  rvs_sim_options_default(&o);
  o.nfibers = 300;
  o.defects = 0;
  o.seed = 2024;
  rvs_sim_result res;
  simulate("mix", GRID_STARS, &o, &res, NULL, 0);
  double vmin = 1e9, vmax = -1e9, lsn = 0;
  int nrot = 0, ngiant = 0, ndwarf = 0;
  for (size_t f = 0; f < res.nfibers; f++) {
    const rvs_sim_truth *t = &res.truth[f];
    assert_true(fabs(t->vrad) <= 600);
    assert_true(t->vsini >= 0 && t->vsini <= 300);
    assert_true(t->sn_target >= 2 && t->sn_target <= 150);
    assert_true(t->teff >= 4000 && t->teff <= 7000 && t->logg >= 1 && t->logg <= 5);
    vmin = fmin(vmin, t->vrad);
    vmax = fmax(vmax, t->vrad);
    nrot += t->vsini > 0;
    ngiant += t->logg < 3.5;
    ndwarf += t->logg > 4;
    lsn += log(t->sn_target);
  }
  assert_true(vmin < -500 && vmax > 500);
  assert_in_range(nrot, 40, 80);   /* 20% of 300, binomial sd 7 */
  assert_in_range(ngiant, 60, 140);
  assert_in_range(ndwarf, 120, 220);
  /* log-uniform S/N: mean of log = (log 2 + log 150)/2 = 2.852, sd 1.25/sqrt(300) */
  assert_close_abs(lsn / 300, 0.5 * (log(2) + log(150)), 0.25);
  rvs_sim_result_free(&res);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(layout_matches_real),
    cmocka_unit_test(reader_roundtrip),
    cmocka_unit_test(noise_consistent_with_ivar),
    cmocka_unit_test(sn_truth_and_scores),
    cmocka_unit_test(doppler_line_centroid),
    cmocka_unit_test(rotation_broadening_variance),
    cmocka_unit_test(deterministic_with_seed),
    cmocka_unit_test(defects_where_truth_says),
    cmocka_unit_test(resolution_matches_real),
    cmocka_unit_test(missing_node_grid),
    cmocka_unit_test(grid_errors),
    cmocka_unit_test(params_file),
    cmocka_unit_test(random_parameter_mix),
    cmocka_unit_test(lsf_first_interpolates_observed_corners),
};

RVS_TEST_MAIN(tests)
