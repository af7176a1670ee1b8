/* CPU backend and public API end to end on a tiny analytic template library:
 * ln-spectra linear in (log10 teff, logg, feh, alpha) so the regular-grid
 * interpolator is exact, a noise-free observed spectrum made here directly
 * from the analytic template (Doppler shift and continuum applied by hand),
 * and -2 ln L checked against a brute-force long-double least-squares solve. */
#include "rvs_test.h"

#include "backend/backend.h"
#include "core/basis.h"
#include "rvs/rvspecfit.h"
#include "templates/ccf_bank.h"
#include "templates/interp.h"

#include <stdlib.h>
#include <sys/stat.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define DIR RVS_TEST_SCRATCH "/cpu_backend"
#define NT 24000
#define NOBS 1500
#define C_KMS 299792.458

static const double TEFF[2] = {5000, 6000}, LOGG[2] = {3, 4}, FEH[2] = {-1, 0}, ALPHA[2] = {0, 0.4};
static const double LINES[6] = {5080, 5120.5, 5167.3, 5210, 5250.7, 5300.2};

/* ln of the analytic template at rest wavelength l */
static double ln_template(double l, const double *p) {
  double lt = log10(p[0]);
  double s = 0.1 * (l - 5200) / 200;
  /* each line reacts differently to each parameter, so none is degenerate */
  static const double A[6] = {2.0, -1.5, 0.5, 1.0, -0.8, 0.0};
  static const double B[6] = {0.1, 0.0, -0.15, 0.05, 0.2, -0.1};
  static const double C[6] = {0.15, 0.3, 0.0, -0.1, 0.1, 0.2};
  static const double D[6] = {0.0, 0.2, 0.3, 0.0, -0.2, 0.1};
  for (int k = 0; k < 6; k++) {
    double depth = 0.4 + A[k] * (lt - 3.74) + B[k] * (p[1] - 3.5) + C[k] * (p[2] + 0.5) + D[k] * p[3];
    double w = 0.8 + 0.1 * k;
    s -= depth * exp(-0.5 * pow((l - LINES[k]) / w, 2));
  }
  return s;
}

static double tlam(int i) { return 5000.0 * exp(i * log(5400.0 / 5000.0) / (NT - 1)); }
static double olam(int i) { return 5050.0 + i * 0.2; }

static void write_library(void) {
  static int done = 0;
  if (done) return;
  mkdir(DIR, 0777);
  rvs_specs s;
  memset(&s, 0, sizeof s);
  s.nspec = 16;
  s.npix = NT;
  s.nparam = 4;
  s.specs = malloc(sizeof(double) * 16 * NT);
  s.vec = malloc(sizeof(double) * 4 * 16);
  s.lam = malloc(sizeof(double) * NT);
  s.lognorms = calloc(16, sizeof(double));
  s.file_ids = calloc(16, sizeof(long long));
  static char *names[4] = {"teff", "logg", "feh", "alpha"};
  s.parnames = names;
  s.log_step = 1;
  s.log_spec = 1;
  int log_ids[1] = {0};
  s.log_ids = log_ids;
  s.nlog_ids = 1;
  s.float_bits = 64;
  for (int i = 0; i < NT; i++) s.lam[i] = tlam(i);
  for (int j = 0; j < 16; j++) {
    double p[4] = {TEFF[j & 1], LOGG[(j >> 1) & 1], FEH[(j >> 2) & 1], ALPHA[(j >> 3) & 1]};
    for (int k = 0; k < 4; k++) s.vec[k * 16 + j] = p[k];
    for (int i = 0; i < NT; i++) s.specs[(size_t)j * NT + i] = ln_template(s.lam[i], p);
  }
  rvs_interp *ip = NULL;
  assert_int_equal(rvs_interp_build_grid(&s, &ip), RVS_OK);
  assert_int_equal(rvs_interp_save(ip, DIR "/interp_test_b.h5"), RVS_OK);
  rvs_interp_free(ip);
  rvs_ccf_conf conf;
  assert_int_equal(rvs_ccf_conf_init(&conf, 5020, 5380, 0.2, 1), RVS_OK);
  rvs_ccf_bank *bank = NULL;
  assert_int_equal(rvs_ccf_bank_build(&s, &conf, 1, NULL, 0, 1, &bank), RVS_OK);
  char path[1024];
  assert_int_equal(rvs_ccf_file_name(DIR "/", "test_b", 1, path, sizeof path), RVS_OK);
  assert_int_equal(rvs_ccf_bank_save(bank, path), RVS_OK);
  rvs_ccf_bank_free(bank);
  free(s.specs); free(s.vec); free(s.lam); free(s.lognorms); free(s.file_ids);
  done = 1;
}

static const double PTRUE[4] = {5500, 3.7, -0.4, 0.2};
static const double VTRUE = 43.0;

static void observed(double *lam, double *flux, double *sigma) {
  double k = sqrt((1 + VTRUE / C_KMS) / (1 - VTRUE / C_KMS));
  for (int i = 0; i < NOBS; i++) {
    lam[i] = olam(i);
    double cont = 100 * (1 + 0.2 * (lam[i] - 5200) / 150 - 0.05 * pow((lam[i] - 5200) / 150, 2));
    flux[i] = cont * exp(ln_template(lam[i] / k, PTRUE));
    sigma[i] = 0.5;
  }
}

/* One arm of setup `setup` over the observed spectrum above (file-scope
 * arrays: the tests run one at a time). */
static rvs_spectrum observed_spectrum(const char *setup) {
  static double lam[NOBS], flux[NOBS], sigma[NOBS];
  observed(lam, flux, sigma);
  rvs_spectrum sp;
  memset(&sp, 0, sizeof sp);
  sp.narms = 1;
  sp.arms[0] = (rvs_arm){setup, NOBS, lam, flux, sigma, NULL, 0, NULL};
  return sp;
}

static rvs_context *open_ctx(void) {
  write_library();
  rvs_config cfg;
  rvs_config_defaults(&cfg);
  snprintf(cfg.template_lib, sizeof cfg.template_lib, "%s/", DIR);
  rvs_options opt;
  rvs_options_default(&opt);
  opt.npoly = 5;
  rvs_context *ctx = NULL;
  assert_int_equal(rvs_context_create(&cfg, &opt, &ctx), RVS_OK);
  return ctx;
}

static void chisq_matches_brute_force(void **state) {
  (void)state;
  rvs_context *ctx = open_ctx();
  rvs_spectrum sp = observed_spectrum("test_b");
  const double *lam = sp.arms[0].lam, *flux = sp.arms[0].flux, *sigma = sp.arms[0].sigma;
  const double vel = 40.0, p[4] = {5400, 3.6, -0.5, 0.1};
  double m2;
  rvs_chisq_info info;
  assert_int_equal(rvs_get_chisq(ctx, &sp, vel, p, -1, &m2, &info), RVS_OK);
  /* independent: analytic template at rest wavelengths, basis, long double normal equations */
  double k = sqrt((1 + vel / C_KMS) / (1 - vel / C_KMS));
  static double B[5 * NOBS];
  assert_int_equal(rvs_continuum_basis(lam, NOBS, 5, 1, B), RVS_OK);
  long double M[5][5] = {{0}}, v[5] = {0}, DtD = 0, sl = 0;
  static double t[NOBS];
  for (int i = 0; i < NOBS; i++) t[i] = exp(ln_template(lam[i] / k, p));
  for (int i = 0; i < NOBS; i++) {
    long double d = flux[i] / (long double)sigma[i];
    DtD += d * d;
    sl += logl(sigma[i]);
    for (int a = 0; a < 5; a++) {
      long double sa = B[a * NOBS + i] * (long double)t[i] / sigma[i];
      v[a] += sa * d;
      for (int b = 0; b < 5; b++) M[a][b] += sa * B[b * NOBS + i] * (long double)t[i] / sigma[i];
    }
  }
  /* Gauss-Jordan: solve M a = v and ln det M */
  long double A[5][6];
  for (int a = 0; a < 5; a++) {
    for (int b = 0; b < 5; b++) A[a][b] = M[a][b];
    A[a][5] = v[a];
  }
  long double logdet = 0;
  for (int c = 0; c < 5; c++) {
    int piv = c;
    for (int r = c + 1; r < 5; r++)
      if (fabsl(A[r][c]) > fabsl(A[piv][c])) piv = r;
    for (int q = 0; q < 6; q++) { long double tmp = A[c][q]; A[c][q] = A[piv][q]; A[piv][q] = tmp; }
    logdet += logl(fabsl(A[c][c]));
    for (int r = 0; r < 5; r++) {
      if (r == c) continue;
      long double f = A[r][c] / A[c][c];
      for (int q = c; q < 6; q++) A[r][q] -= f * A[c][q];
    }
  }
  long double vta = 0;
  for (int a = 0; a < 5; a++) vta += v[a] * (A[a][5] / A[a][a]);
  double want = (double)(logdet + 2 * sl + DtD - vta);
  /* the backend samples the template through a cubic spline of the 0.017 A
   * grid: agreement to the spline's interpolation error (6000 template
   * pixels gave 1.3e-6) */
  assert_close_rel(m2, want, 1e-6, 1);
  assert_int_equal(info.narms, 1);
  assert_int_equal(info.npix_arm[0], NOBS);
  rvs_context_free(ctx);
}

static void chisq_is_smallest_at_truth(void **state) {
  (void)state;
  rvs_context *ctx = open_ctx();
  rvs_spectrum sp = observed_spectrum("test_b");
  double m0, m1;
  assert_int_equal(rvs_get_chisq(ctx, &sp, VTRUE, PTRUE, -1, &m0, NULL), RVS_OK);
  for (int d = 0; d < 5; d++) {
    double p[4];
    memcpy(p, PTRUE, sizeof p);
    double vel = VTRUE;
    if (d < 4) p[d] += d == 0 ? 50 : 0.05;
    else vel += 1.0;
    assert_int_equal(rvs_get_chisq(ctx, &sp, vel, p, -1, &m1, NULL), RVS_OK);
    assert_true(m1 > m0);
  }
  rvs_context_free(ctx);
}

static void fit_recovers_truth_from_ccf_start(void **state) {
  (void)state;
  rvs_context *ctx = open_ctx();
  rvs_spectrum sp = observed_spectrum("test_b");
  rvs_fit_output out;
  int rc = rvs_fit_one(ctx, &sp, NULL, &out);
  if (rc) fail_msg("fit failed: %s", out.message);
  assert_close_abs(out.vel, VTRUE, 0.05);
  assert_close_abs(out.vel_ccf, VTRUE, 5.0);
  assert_true(out.vel_err > 0 && out.vel_err < 1.0);
  assert_close_abs(out.param[0], PTRUE[0], 20);
  assert_close_abs(out.param[1], PTRUE[1], 0.05);
  assert_close_abs(out.param[2], PTRUE[2], 0.05);
  assert_true(out.nevals > 500);
  assert_true(out.chisq_c_arm[0] > out.chisq_arm[0]);
  /* the context's timing: every request counted once, in the rounds by size
   * too; the fit's points = those evaluated + repeats answered from its memo */
  rvs_timing t;
  rvs_context_timing(ctx, &t);
  assert_int_equal(t.fits, 1);
  assert_int_equal(t.requests + t.memo_hits, out.nevals);
  assert_true(t.memo_hits > 0 && t.memo_hits < out.nevals / 10);
  long nr = 0, nq = 0;
  for (int k = 0; k < RVS_ROUND_BUCKETS; k++) {
    nr += t.size_rounds[k];
    nq += t.size_requests[k];
  }
  assert_true(t.rounds > 0);
  assert_int_equal(nr, t.rounds);
  assert_int_equal(nq, t.requests);
  rvs_context_free(ctx);
}

static void missing_setup_names_the_file(void **state) {
  (void)state;
  rvs_context *ctx = open_ctx();
  rvs_spectrum sp = observed_spectrum("nosuch");
  double m;
  int rc = rvs_get_chisq(ctx, &sp, 0, PTRUE, -1, &m, NULL);
  assert_true(rc != RVS_OK);
  assert_non_null(strstr(rvs_last_error(), "interp_nosuch.h5"));
  rvs_context_free(ctx);
}

/* A velocity grid of 300 requests (one template) among 60 distinct ones:
 * with 2 threads the backend cuts the long run into pieces that rebuild the
 * template (load balance); every -2 ln L is bitwise the 1-thread value. */
static void split_runs_same_bits(void **state) {
  (void)state;
  write_library();
  rvs_template_lib lib;
  assert_int_equal(rvs_template_lib_open(&lib, DIR "/"), RVS_OK);
  rvs_interp *ip;
  assert_int_equal(rvs_template_lib_interp(&lib, "test_b", &ip), RVS_OK);
  rvs_backend_options bo;
  rvs_backend_options_default(&bo);
  bo.npoly = 5;
  rvs_backend *be = NULL;
  assert_int_equal(rvs_backend_cpu_create(&lib, &bo, &be), RVS_OK);
  rvs_spectrum sp = observed_spectrum("test_b");
  int slot;
  assert_int_equal(be->add_slot(be, &sp, &slot), RVS_OK);
  enum { NG = 300, ND = 60, N = NG + ND };
  static rvs_eval_request req[N];
  static rvs_eval_result r1[N], r2[N];
  memset(req, 0, sizeof req);
  for (int i = 0; i < N; i++) {
    req[i].slot = slot;
    req[i].kind = RVS_EVAL_CHISQ;
    req[i].vsini = i % 3 == 0 ? 20.0 : -1.0;
    req[i].params[0] = 5400;
    req[i].params[1] = 3.6;
    req[i].params[2] = -0.5;
    req[i].params[3] = 0.1;
    if (i < ND / 2 || i >= ND / 2 + NG) { /* distinct templates around the grid */
      req[i].params[0] = 5100 + 13.0 * i;
      req[i].params[2] = -0.9 + 0.01 * i;
      req[i].vel = 10.0 + 0.5 * i;
    } else { /* the grid: one template, velocities -150..150 */
      req[i].vsini = -1.0;
      req[i].vel = -150.0 + (i - ND / 2);
    }
  }
  int nth0 = 1;
#ifdef _OPENMP
  nth0 = omp_get_max_threads();
  omp_set_num_threads(1);
#endif
  assert_int_equal(be->evaluate(be, req, N, r1), RVS_OK);
#ifdef _OPENMP
  omp_set_num_threads(2);
#endif
  assert_int_equal(be->evaluate(be, req, N, r2), RVS_OK);
#ifdef _OPENMP
  omp_set_num_threads(nth0);
#endif
  int finite = 0;
  for (int i = 0; i < N; i++) {
    assert_int_equal(r1[i].status, r2[i].status);
    assert_memory_equal(&r1[i].m2lnl, &r2[i].m2lnl, sizeof(double));
    finite += isfinite(r1[i].m2lnl) != 0;
  }
  assert_int_equal(finite, N);
  /* the grid's values vary with velocity (not one value copied around) */
  assert_true(r1[ND / 2].m2lnl != r1[ND / 2 + NG / 2].m2lnl);
  be->remove_slot(be, slot);
  be->destroy(be);
  rvs_template_lib_close(&lib);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(chisq_matches_brute_force),
    cmocka_unit_test(chisq_is_smallest_at_truth),
    cmocka_unit_test(fit_recovers_truth_from_ccf_start),
    cmocka_unit_test(missing_setup_names_the_file),
    cmocka_unit_test(split_runs_same_bits),
};
RVS_TEST_MAIN(tests)
