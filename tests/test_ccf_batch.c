/* Host helpers of the batched (GPU) CCF initialiser (backend/cpu/ccf_batch.h).
 * An FFTW pipeline built from the helpers, doing in plain C exactly what
 * src/backend/cuda/ccf_cuda.cu does on the device (explicit complex product,
 * lag table, statistic, interpolation, accumulation over arms in order,
 * argmin with the smallest flat index on ties, parabola), must reproduce
 * rvs_ccf_fit bit for bit: statuses, best model, velocity, chi-square.
 * Scenes: two arms, continuum and no-continuum banks, noise, masked pixels,
 * an all-bad arm, all arms bad (an exact tie everywhere), a NaN pixel, a
 * max_vel beyond the lag range, mismatched banks. */
#include "rvs_test.h"

#include <fftw3.h>
#include <stdlib.h>

#include "backend/cpu/ccf_batch.h"
#include "ccf_test_util.h"
#include "rvs/status.h"
#include "templates/ccf_bank.h"

static uint64_t rng = 12345;
static double unif(void) {
  rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
  return (double)((rng * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}
static double gauss(void) {
  double u = unif(), v = unif();
  if (u < 1e-300) u = 1e-300;
  return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* the pipeline of ccf_cuda.cu, on the host with FFTW */
static int emulate(const rvs_ccf_arm *arms, int narms, double max_vel, double vel_step0,
                   rvs_ccf_result *res) {
  int rc = rvs_ccf_check_banks(arms, narms);
  if (rc) return rc;
  double maxvel;
  int nvel;
  if ((rc = rvs_ccf_vel_setup(max_vel, vel_step0, &maxvel, &nvel))) return rc;
  double *vg = malloc(sizeof(double) * (size_t)nvel);
  rvs_ccf_vel_grid(maxvel, nvel, vg);
  size_t M = arms[0].bank->nmodel;
  int *k0[4], *k1[4], ok[4];
  double *tt[4], *fw[4], *w[4];
  for (int a = 0; a < narms; a++) {
    size_t N = arms[a].bank->conf.npoints;
    k0[a] = malloc(sizeof(int) * (size_t)nvel);
    k1[a] = malloc(sizeof(int) * (size_t)nvel);
    tt[a] = malloc(sizeof(double) * (size_t)nvel);
    fw[a] = fftw_malloc(sizeof(double) * N);
    w[a] = fftw_malloc(sizeof(double) * N);
    ok[a] = rvs_ccf_lag_table(&arms[a].bank->conf, maxvel, nvel, vg, k0[a], k1[a], tt[a]) >= 2;
  }
  double sse = 0;
  rc = rvs_ccf_prep_spectrum(arms, narms, maxvel, ok, fw, w, &sse);
  double *chisq = calloc(M * (size_t)nvel, sizeof(double));
  for (int a = 0; a < narms && !rc; a++) {
    const rvs_ccf_bank *bk = arms[a].bank;
    size_t N = bk->conf.npoints, nf = N / 2 + 1;
    fftw_complex *Fs = fftw_malloc(sizeof(fftw_complex) * nf), *Fw = fftw_malloc(sizeof(fftw_complex) * nf);
    fftw_complex *P = fftw_malloc(sizeof(fftw_complex) * nf);
    double *b0 = fftw_malloc(sizeof(double) * N), *b1 = fftw_malloc(sizeof(double) * N);
    fftw_plan pf = fftw_plan_dft_r2c_1d((int)N, b0, P, FFTW_ESTIMATE);
    fftw_plan pb = fftw_plan_dft_c2r_1d((int)N, P, b0, FFTW_ESTIMATE);
    fftw_execute_dft_r2c(pf, fw[a], Fs);
    fftw_execute_dft_r2c(pf, w[a], Fw);
    for (size_t m = 0; m < M; m++) {
      const double *fm = bk->fft + m * nf * 2, *fm2 = bk->fft2 + m * nf * 2;
      for (int j = 0; j < 2; j++) {
        const double *t = j ? fm2 : fm;
        fftw_complex *F = j ? Fw : Fs;
        for (size_t q = 0; q < nf; q++) { /* (a + ib)(c - id), as the kernel */
          double ar = t[2 * q], ai = t[2 * q + 1], cr = F[q][0], ci = -F[q][1];
          P[q][0] = ar * cr - ai * ci;
          P[q][1] = ar * ci + ai * cr;
        }
        fftw_execute_dft_c2r(pb, P, j ? b1 : b0);
      }
      for (int i = 0; i < nvel; i++) {
        double s[2];
        for (int e = 0; e < 2; e++) {
          int k = e ? k1[a][i] : k0[a][i];
          double c0 = b0[k] / (double)N, c1 = b1[k] / (double)N;
          s[e] = bk->conf.continuum ? -2 * c0 + c1 : -c0 * c0 / c1;
        }
        chisq[m * (size_t)nvel + (size_t)i] += s[0] + tt[a][i] * (s[1] - s[0]);
      }
    }
    fftw_destroy_plan(pf); fftw_destroy_plan(pb);
    fftw_free(Fs); fftw_free(Fw); fftw_free(P); fftw_free(b0); fftw_free(b1);
  }
  if (!rc) { /* strided argmin and combination, as argmin_kernel with 4 "threads" */
    double bv[4];
    size_t bi[4], n = M * (size_t)nvel;
    for (int th = 0; th < 4; th++) {
      bv[th] = INFINITY;
      bi[th] = (size_t)-1;
      for (size_t j = (size_t)th; j < n; j += 4) {
        double c = chisq[j] + sse;
        if (c < bv[th]) { bv[th] = c; bi[th] = j; }
      }
    }
    for (int th = 1; th < 4; th++)
      if (bv[th] < bv[0] || (bv[th] == bv[0] && bi[th] < bi[0])) { bv[0] = bv[th]; bi[0] = bi[th]; }
    double y[3] = {NAN, NAN, NAN};
    if (bi[0] != (size_t)-1) {
      size_t m = bi[0] / (size_t)nvel, pix = bi[0] % (size_t)nvel;
      for (int e = 0; e < 3; e++) {
        long q = (long)pix - 1 + e;
        if (q >= 0 && q < nvel) y[e] = chisq[m * (size_t)nvel + (size_t)q];
      }
    }
    rc = rvs_ccf_finish(arms[0].bank, nvel, vg, bi[0] == (size_t)-1 ? 0 : bi[0], bv[0], y, res);
  }
  for (int a = 0; a < narms; a++) {
    free(k0[a]); free(k1[a]); free(tt[a]); fftw_free(fw[a]); fftw_free(w[a]);
  }
  free(chisq); free(vg);
  return rc;
}

#define NOBS 1500
static void one_case(rvs_ccf_bank *const *banks, int narms, const rvs_specs *s, int kase,
                     double max_vel, double vstep) {
  static const double LO[2] = {5010, 5420}, HI[2] = {5480, 5880};
  double lam[2][NOBS], flux[2][NOBS], err[2][NOBS];
  unsigned char bad[2][NOBS];
  int t = (int)(unif() * CTU_NT) % CTU_NT;
  double v = 400 * (unif() - 0.5), kf = sqrt((1 + v / 299792.458) / (1 - v / 299792.458));
  rvs_ccf_arm arms[2];
  for (int a = 0; a < narms; a++) {
    size_t j = 0;
    for (int i = 0; i < NOBS; i++) {
      lam[a][i] = LO[a] + (HI[a] - LO[a]) * i / (NOBS - 1);
      double lr = lam[a][i] / kf;
      while (j + 2 < s->npix && s->lam[j + 1] < lr) j++;
      double u = (lr - s->lam[j]) / (s->lam[j + 1] - s->lam[j]);
      const double *sp = s->specs + (size_t)t * s->npix;
      double f = exp(sp[j] + u * (sp[j + 1] - sp[j]));
      err[a][i] = 0.02 * f + 1;
      flux[a][i] = f + err[a][i] * gauss();
      bad[a][i] = unif() < 0.01;
      if (kase == 1 && a == narms - 1) bad[a][i] = 1;  /* one arm all bad */
      if (kase == 2) bad[a][i] = 1;                    /* every arm bad: exact ties */
    }
    if (kase == 3) flux[a][NOBS / 2] = NAN;
    arms[a] = (rvs_ccf_arm){banks[a], NOBS, lam[a], flux[a], err[a], bad[a]};
  }
  rvs_ccf_result r1, r2;
  memset(&r1, 0, sizeof r1);
  memset(&r2, 0, sizeof r2);
  int rc1 = rvs_ccf_fit(arms, narms, max_vel, vstep, &r1);
  int rc2 = emulate(arms, narms, max_vel, vstep, &r2);
  assert_int_equal(rc1, rc2);
  if (rc1) return;
  assert_int_equal(r1.best_id, r2.best_id);
  assert_true(r1.best_vel == r2.best_vel);
  assert_true(r1.best_chisq == r2.best_chisq);
  assert_true(memcmp(&r1.vsini, &r2.vsini, sizeof(double)) == 0);
  assert_int_equal(r1.nparam, r2.nparam);
  for (int p = 0; p < r1.nparam; p++) assert_true(r1.params[p] == r2.params[p]);
  if (kase == 0 && narms == 2 && banks[0]->conf.continuum) {
    if (max_vel <= 1000) assert_true(fabs(r1.best_vel - v) < 5); /* a real CCF problem */
  }
  if (kase == 2) { /* all zero: the first model and velocity */
    assert_int_equal(r1.best_id, 0);
  }
}

static void emulation_matches_cpu(void **state) {
  (void)state;
  rvs_specs s = ctu_make_lib(64, 0.05);
  rvs_ccf_conf c[2], cn[2];
  assert_int_equal(rvs_ccf_conf_init(&c[0], 5000, 5500, 0.12, 1), RVS_OK);
  assert_int_equal(rvs_ccf_conf_init(&c[1], 5400, 5900, 0.2, 1), RVS_OK);
  assert_int_equal(rvs_ccf_conf_init(&cn[0], 5000, 5500, 0.12, 0), RVS_OK);
  assert_int_equal(rvs_ccf_conf_init(&cn[1], 5400, 5900, 0.2, 0), RVS_OK);
  assert_true(c[0].npoints != c[1].npoints);
  const double vs[2] = {0, 150};
  rvs_ccf_bank *b[2] = {NULL, NULL}, *bn[2] = {NULL, NULL};
  for (int a = 0; a < 2; a++) {
    if (rvs_ccf_bank_build(&s, &c[a], 3, vs, 2, 2, &b[a])) fail_msg("%s", rvs_last_error());
    if (rvs_ccf_bank_build(&s, &cn[a], 3, NULL, 0, 2, &bn[a])) fail_msg("%s", rvs_last_error());
  }
  for (int k = 0; k < 24; k++) {
    int kase = k < 12 ? 0 : (k - 12) % 4;
    one_case(b, 2, &s, kase, k % 3 ? 0 : 700, k % 2 ? 0 : 5);
    one_case(bn, 2, &s, kase, 0, 3);
    one_case(b, 1, &s, kase, 500, 0);
  }
  /* max_vel beyond the lag range: every lag kept */
  one_case(b, 2, &s, 0, 1e6, 2000);
  /* mismatched banks (different model counts) */
  rvs_ccf_bank *mix[2] = {b[0], bn[1]};
  one_case(mix, 2, &s, 0, 0, 0);
  for (int a = 0; a < 2; a++) {
    rvs_ccf_bank_free(b[a]);
    rvs_ccf_bank_free(bn[a]);
  }
  ctu_free_lib(&s);
}

static void helpers_basic(void **state) {
  (void)state;
  double mv;
  int nvel;
  assert_int_equal(rvs_ccf_vel_setup(0, 0, &mv, &nvel), RVS_OK);
  assert_true(mv == 1000 && nvel == 1001);
  assert_int_equal(rvs_ccf_vel_setup(1000, 5, &mv, &nvel), RVS_OK);
  assert_int_equal(nvel, 401);
  assert_int_equal(rvs_ccf_vel_setup(-5, 1, &mv, &nvel), RVS_ERR_ARG);
  double vg[401];
  rvs_ccf_vel_grid(1000, 401, vg);
  assert_true(vg[0] == -1000 && vg[200] == 0 && vg[400] == 1000);
  rvs_ccf_conf c;
  assert_int_equal(rvs_ccf_conf_init(&c, 5000, 5500, 0.12, 1), RVS_OK);
  int k0[401], k1[401];
  double t[401];
  long nsub = rvs_ccf_lag_table(&c, 1000, 401, vg, k0, k1, t);
  assert_true(nsub > 2);
  size_t N = c.npoints;
  for (int i = 0; i < 401; i++) {
    /* k1 is the next lag towards positive velocity: one index lower, mod N */
    assert_int_equal((size_t)k1[i], (k0[i] + N - 1) % N);
    assert_true(t[i] >= 0 && t[i] <= 1);
  }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(helpers_basic),
    cmocka_unit_test(emulation_matches_cpu),
};

RVS_TEST_MAIN(tests)
