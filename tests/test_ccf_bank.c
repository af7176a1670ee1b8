/* Tests of the CCF template bank (templates/ccf_bank.h).  References:
 * upstream make_ccf numbers (computed with the installed rvspecfit), a
 * brute-force bit interleave, analytic interpolation, and circular
 * cross-correlations done here with FFTW. */
#include "rvs_test.h"

#include <fftw3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "rvs/status.h"
#include "ccf_test_util.h"
#include "templates/ccf_bank.h"

static void conf_like_upstream(void **state) {
  (void)state;
  assert_int_equal(rvs_ccf_to_power_two(1), 1);
  assert_int_equal(rvs_ccf_to_power_two(2), 2);
  assert_int_equal(rvs_ccf_to_power_two(3), 4);
  assert_int_equal(rvs_ccf_to_power_two(4096), 4096);
  assert_int_equal(rvs_ccf_to_power_two(4097), 8192);
  rvs_ccf_conf c;
  /* upstream: get_ccf_config(...)['splinestep'] and to_power_two */
  assert_int_equal(rvs_ccf_conf_init(&c, 3600, 5800, 0.8, 1), RVS_OK);
  assert_int_equal(c.npoints, 4096);
  assert_close_rel(c.splinestep, 7239.839353535471, 1e-13, 0);
  assert_int_equal(c.maxcontpts, 20);
  assert_true(c.continuum == 1);
  assert_close_rel(c.logl0, log(3600.0), 1e-15, 0);
  assert_int_equal(rvs_ccf_conf_init(&c, 5000, 6000, 0.25, 1), RVS_OK);
  assert_int_equal(c.npoints, 4096);
  assert_close_rel(c.splinestep, 2747.326748283907, 1e-13, 0);
  assert_int_equal(rvs_ccf_conf_init(&c, 5000, 6000, 0.25, 0), RVS_OK);
  assert_true(c.continuum == 0 && isnan(c.splinestep));
  assert_int_equal(rvs_ccf_conf_init(&c, 3500, 3501, 1.0, 1), RVS_ERR_ARG); /* 1 point */
  assert_int_equal(rvs_ccf_conf_init(&c, 6000, 5000, 1.0, 1), RVS_ERR_ARG);
  /* the grid is numpy's linspace */
  assert_int_equal(rvs_ccf_conf_init(&c, 5000, 6000, 0.25, 1), RVS_OK);
  double *g = malloc(c.npoints * sizeof(double));
  rvs_ccf_logl_grid(&c, g);
  assert_true(g[0] == log(5000.0) && g[c.npoints - 1] == log(6000.0));
  double step = (log(6000.0) - log(5000.0)) / (double)(c.npoints - 1);
  for (size_t j = 1; j < c.npoints; j++) assert_close_rel(g[j] - g[j - 1], step, 1e-9, 0);
  free(g);
}

/* brute-force interleave: walk the output bits one by one */
static uint64_t interleave_ref(const uint64_t *q, int ndim, int bits) {
  uint64_t id = 0;
  int out = 0;
  for (int t = 0; t < bits; t++)
    for (int i = 0; i < ndim; i++, out++)
      if ((q[i] >> t) & 1) id += (uint64_t)1 << out;
  return id;
}

static void morton_ids(void **state) {
  (void)state;
  /* upstream get_mortoncurve_id on these 6 points (bit patterns as uint64) */
  static const double X[6][4] = {{4000, 1, -2, 0}, {4500, 2, -1, 0.4}, {6500, 5, 0, 0.4},
                                 {5000, 3, -1, 0}, {4000, 5, 0, 0.4},  {6500, 1, -2, 0}};
  static const uint64_t up4[6] = {0ULL, 14666970042920045451ULL, 18446744073709551615ULL,
                                  8084014314655068208ULL, 17216961135462248174ULL,
                                  1229782938247303441ULL};
  static const uint64_t up3[6] = {0ULL, 5050894210658567704ULL, 9223372036854775807ULL,
                                  8125351556276826307ULL, 7905747460161236406ULL,
                                  1317624576693539401ULL};
  double vec[4 * 6];
  for (int d = 0; d < 4; d++)
    for (int i = 0; i < 6; i++) vec[d * 6 + i] = X[i][d];
  uint64_t ids[6];
  assert_int_equal(rvs_ccf_morton_ids(vec, 4, 6, ids), RVS_OK);
  for (int i = 0; i < 6; i++) assert_true(ids[i] == up4[i]);
  assert_int_equal(rvs_ccf_morton_ids(vec, 3, 6, ids), RVS_OK); /* first 3 params */
  for (int i = 0; i < 6; i++) assert_true(ids[i] == up3[i]);
  /* upstream's order: the ids sorted as signed int64, so top-bit ids first */
  assert_int_equal(rvs_ccf_morton_ids(vec, 4, 6, ids), RVS_OK);
  size_t inds[6], nsel;
  assert_int_equal(rvs_ccf_select(ids, 6, 1, inds, &nsel), RVS_OK);
  static const size_t order[6] = {1, 4, 2, 0, 5, 3};
  assert_int_equal(nsel, 6);
  for (int i = 0; i < 6; i++) assert_int_equal(inds[i], order[i]);
  assert_int_equal(rvs_ccf_select(ids, 6, 4, inds, &nsel), RVS_OK);
  assert_int_equal(nsel, 2);
  assert_int_equal(inds[0], 1);
  assert_int_equal(inds[1], 5);

  /* random 3-D and 5-D sets against the brute-force interleave of dense ranks */
  unsigned st = 7;
  for (int nd = 3; nd <= 5; nd += 2) {
    int n = 200, bits = 64 / nd;
    double *v = malloc(sizeof(double) * (size_t)(nd * n));
    uint64_t *id = malloc(sizeof(uint64_t) * (size_t)n);
    for (int k = 0; k < nd * n; k++) {
      st = st * 1103515245u + 12345u;
      v[k] = (double)((st >> 16) % 9); /* few distinct values: ties */
    }
    assert_int_equal(rvs_ccf_morton_ids(v, (size_t)nd, (size_t)n, id), RVS_OK);
    for (int i = 0; i < n; i++) {
      uint64_t q[8];
      for (int d = 0; d < nd; d++) {
        int rank = 0, maxrank = 0; /* dense rank by counting distinct smaller values */
        for (int val = 0; val < 9; val++) {
          int present = 0;
          for (int j = 0; j < n; j++) present |= v[d * n + j] == val;
          if (!present) continue;
          if (val < v[d * n + i]) rank++;
          maxrank++;
        }
        maxrank--;
        double x = (double)rank / maxrank;
        double sx = x * ldexp(1.0, bits);
        q[d] = sx >= ldexp(1.0, bits) ? ((uint64_t)1 << bits) - 1 : (uint64_t)sx;
      }
      assert_true(id[i] == interleave_ref(q, nd, bits));
    }
    free(v);
    free(id);
  }
  /* a constant parameter does not crash: it contributes zero bits */
  double cvec[2 * 3] = {1, 2, 3, 7, 7, 7};
  uint64_t cid[3];
  assert_int_equal(rvs_ccf_morton_ids(cvec, 2, 3, cid), RVS_OK);
  assert_true(cid[0] == 0);
  assert_true(cid[2] == interleave_ref((uint64_t[]){UINT32_MAX, 0}, 2, 32));
}

static void preprocess_nocont_interpolates(void **state) {
  (void)state;
  rvs_ccf_conf c;
  assert_int_equal(rvs_ccf_conf_init(&c, 5000, 6000, 1.0, 0), RVS_OK);
  /* template covering 5100..5900 only, flux linear in ln(lambda): the
   * resampled model is that line inside and 1 (fill value) outside */
  size_t n = 3000;
  double *lam = malloc(n * sizeof(double)), *flux = malloc(n * sizeof(double));
  for (size_t i = 0; i < n; i++) {
    lam[i] = 5100 * exp(log(5900.0 / 5100.0) * (double)i / (double)(n - 1));
    flux[i] = 2.0 + 0.5 * (log(lam[i]) - 8.5);
  }
  double *out = malloc(c.npoints * sizeof(double)), *g = malloc(c.npoints * sizeof(double));
  assert_int_equal(rvs_ccf_preprocess_model(&c, lam, flux, n, NAN, out), RVS_OK);
  rvs_ccf_logl_grid(&c, g);
  int nin = 0, nout = 0;
  for (size_t j = 0; j < c.npoints; j++) {
    if (g[j] < log(lam[0]) || g[j] > log(lam[n - 1])) {
      assert_true(out[j] == 1.0);
      nout++;
    } else {
      assert_close_rel(out[j], 2.0 + 0.5 * (g[j] - 8.5), 1e-12, 0);
      nin++;
    }
  }
  assert_true(nin > 0 && nout > 0);
  free(lam);
  free(flux);
  free(out);
  free(g);
}

/* circular cc[k] = sum_n T[n+k] c[n] via FFT: irfft(fft_T * conj(rfft(c))) */
static void circ_ccf(const rvs_ccf_bank *b, size_t m, const double *c, double *cc) {
  size_t n = b->conf.npoints, nf = b->nfreq;
  fftw_complex *fc = fftw_malloc(nf * sizeof(fftw_complex));
  double *in = fftw_malloc(n * sizeof(double));
  memcpy(in, c, n * sizeof(double));
  fftw_plan p = fftw_plan_dft_r2c_1d((int)n, in, fc, FFTW_ESTIMATE);
  fftw_execute(p);
  fftw_destroy_plan(p);
  const double *ft = b->fft + m * nf * 2;
  for (size_t k = 0; k < nf; k++) {
    double ar = ft[2 * k], ai = ft[2 * k + 1], br = fc[k][0], bi = -fc[k][1];
    fc[k][0] = ar * br - ai * bi;
    fc[k][1] = ar * bi + ai * br;
  }
  p = fftw_plan_dft_c2r_1d((int)n, fc, in, FFTW_ESTIMATE);
  fftw_execute(p);
  fftw_destroy_plan(p);
  memcpy(cc, in, n * sizeof(double));
  fftw_free(fc);
  fftw_free(in);
}

static size_t argmax(const double *x, size_t n) {
  size_t k = 0;
  for (size_t i = 1; i < n; i++)
    if (x[i] > x[k]) k = i;
  return k;
}

static void bank_ccf_peaks(void **state) {
  (void)state;
  rvs_specs s = ctu_make_lib(32, 0);
  rvs_ccf_conf c;
  assert_int_equal(rvs_ccf_conf_init(&c, 5000, 5900, 0.12, 1), RVS_OK);
  assert_int_equal(c.npoints, 8192);
  rvs_ccf_bank *b = NULL;
  int st = rvs_ccf_bank_build(&s, &c, 4, NULL, 0, 2, &b);
  if (st) fail_msg("%s", rvs_last_error());
  assert_int_equal(b->nmodel, 5); /* ceil(18/4) */
  assert_int_equal(b->nfreq, 4097);
  size_t n = c.npoints;
  double *cc = malloc(n * sizeof(double)), *shifted = malloc(n * sizeof(double));
  for (size_t m = 0; m < b->nmodel; m++) {
    const double *mod = b->models + m * n;
    assert_true(isnan(b->vsinis[m]));
    /* params are the raw parameters of the selected template */
    size_t t = (size_t)b->specs_index[m];
    for (int d = 0; d < 3; d++) assert_true(b->params[m * 3 + (size_t)d] == s.vec[(size_t)d * 18 + t]);
    /* continuum-normalised: the median is ~1 */
    double *tmp = malloc(n * sizeof(double));
    memcpy(tmp, mod, n * sizeof(double));
    for (size_t i = 1; i < n; i++) { /* insertion-free median: sort */
      double v = tmp[i];
      size_t j = i;
      while (j > 0 && tmp[j - 1] > v) {
        tmp[j] = tmp[j - 1];
        j--;
      }
      tmp[j] = v;
    }
    assert_close_abs(tmp[n / 2], 1.0, 0.03);
    free(tmp);
    /* fft2 is the transform of the squared model: DC term = sum(model^2) */
    double s2 = 0, s1 = 0;
    for (size_t i = 0; i < n; i++) {
      s1 += mod[i];
      s2 += mod[i] * mod[i];
    }
    assert_close_rel(b->fft[m * b->nfreq * 2], s1, 1e-12, 0);
    assert_close_rel(b->fft2[m * b->nfreq * 2], s2, 1e-12, 0);
    /* the mean-subtracted model correlated with itself peaks at lag 0 ... */
    double mean = s1 / (double)n;
    for (size_t i = 0; i < n; i++) shifted[i] = mod[i] - mean;
    circ_ccf(b, m, shifted, cc);
    assert_int_equal(argmax(cc, n), 0);
    /* ... and with a copy shifted by +7 pixels (redshifted) at lag -7 */
    for (size_t i = 0; i < n; i++) shifted[i] = mod[(i + n - 7) % n] - mean;
    circ_ccf(b, m, shifted, cc);
    assert_int_equal(argmax(cc, n), n - 7);
  }
  /* different templates give different models */
  double diff = 0;
  for (size_t i = 0; i < n; i++) diff = fmax(diff, fabs(b->models[i] - b->models[n + i]));
  assert_true(diff > 0.05);
  free(cc);
  free(shifted);
  rvs_ccf_bank_free(b);
  ctu_free_lib(&s);
}

static void bank_vsinis_and_roundtrip(void **state) {
  (void)state;
  rvs_specs s = ctu_make_lib(32, 0);
  rvs_ccf_conf c;
  assert_int_equal(rvs_ccf_conf_init(&c, 5000, 5900, 0.25, 1), RVS_OK);
  double vs[3] = {0, 30, 100};
  rvs_ccf_bank *b = NULL, *b1 = NULL;
  int st = rvs_ccf_bank_build(&s, &c, 6, vs, 3, 2, &b);
  if (st) fail_msg("%s", rvs_last_error());
  assert_int_equal(rvs_ccf_bank_build(&s, &c, 6, NULL, 0, 1, &b1), RVS_OK);
  assert_int_equal(b1->nmodel, 3);
  assert_int_equal(b->nmodel, 9); /* 3 templates x 3 vsini, index imodel*3 + ivsini */
  size_t n = c.npoints;
  for (size_t im = 0; im < 3; im++) {
    for (size_t iv = 0; iv < 3; iv++) {
      size_t row = im * 3 + iv;
      assert_true(b->vsinis[row] == vs[iv]);
      assert_int_equal(b->specs_index[row], b1->specs_index[im]);
      for (int d = 0; d < 3; d++) assert_true(b->params[row * 3 + (size_t)d] == b1->params[im * 3 + (size_t)d]);
    }
    /* vsini 0 is no rotation */
    assert_memory_equal(b->models + (im * 3) * n, b1->models + im * n, n * sizeof(double));
    /* rotation fills the lines in: less variance about the mean */
    double var[3];
    for (size_t iv = 0; iv < 3; iv++) {
      const double *m = b->models + (im * 3 + iv) * n;
      double mean = 0, v = 0;
      for (size_t i = 0; i < n; i++) mean += m[i] / (double)n;
      for (size_t i = 0; i < n; i++) v += (m[i] - mean) * (m[i] - mean);
      var[iv] = v;
    }
    assert_true(var[1] < var[0] && var[2] < var[1]);
  }
  /* the threads do not change the numbers */
  rvs_ccf_bank *b2 = NULL;
  assert_int_equal(rvs_ccf_bank_build(&s, &c, 6, vs, 3, 1, &b2), RVS_OK);
  assert_memory_equal(b->models, b2->models, b->nmodel * n * sizeof(double));
  rvs_ccf_bank_free(b2);
  /* save / load */
  char path[1024], name[256];
  snprintf(path, sizeof path, "%s/test_ccf_bank", RVS_TEST_SCRATCH);
  mkdir(path, 0777);
  assert_int_equal(rvs_ccf_file_name(path, "tst", 1, name, sizeof name), RVS_OK);
  b->revision = strdup("r1");
  assert_int_equal(rvs_ccf_bank_save(b, name), RVS_OK);
  rvs_ccf_bank *l = NULL;
  st = rvs_ccf_bank_load(name, &l);
  if (st) fail_msg("%s", rvs_last_error());
  assert_int_equal(l->nmodel, b->nmodel);
  assert_int_equal(l->nparam, 3);
  assert_int_equal(l->conf.npoints, n);
  assert_true(l->conf.logl0 == c.logl0 && l->conf.logl1 == c.logl1);
  assert_true(l->conf.splinestep == c.splinestep && l->conf.continuum == 1);
  assert_string_equal(l->parnames[1], "logg");
  assert_string_equal(l->revision, "r1");
  assert_memory_equal(l->params, b->params, b->nmodel * 3 * sizeof(double));
  assert_memory_equal(l->vsinis, b->vsinis, b->nmodel * sizeof(double));
  assert_memory_equal(l->models, b->models, b->nmodel * n * sizeof(double));
  assert_memory_equal(l->fft, b->fft, b->nmodel * b->nfreq * 2 * sizeof(double));
  assert_memory_equal(l->fft2, b->fft2, b->nmodel * b->nfreq * 2 * sizeof(double));
  rvs_ccf_bank_free(l);
  /* no-continuum naming and NaN (None) vsinis survive too */
  assert_int_equal(rvs_ccf_file_name(path, "tst", 0, name, sizeof name), RVS_OK);
  assert_non_null(strstr(name, "/ccf_nocont_tst.h5"));
  b1->conf.continuum = 0;
  b1->conf.splinestep = NAN;
  assert_int_equal(rvs_ccf_bank_save(b1, name), RVS_OK);
  assert_int_equal(rvs_ccf_bank_load(name, &l), RVS_OK);
  assert_true(l->conf.continuum == 0 && isnan(l->conf.splinestep) && isnan(l->vsinis[0]));
  rvs_ccf_bank_free(l);
  rvs_ccf_bank_free(b);
  rvs_ccf_bank_free(b1);
  ctu_free_lib(&s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(conf_like_upstream),
    cmocka_unit_test(morton_ids),
    cmocka_unit_test(preprocess_nocont_interpolates),
    cmocka_unit_test(bank_ccf_peaks),
    cmocka_unit_test(bank_vsinis_and_roundtrip),
};

RVS_TEST_MAIN(tests)
