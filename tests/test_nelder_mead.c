/* The ask/tell Nelder-Mead follows scipy's path exactly.
 * Reference values: scipy 1.17.1, minimize(method='Nelder-Mead') with the
 * initial simplexes built below (G = RandomState(43434).normal(size=(6,6)),
 * the matrix upstream rvspecfit hard-codes, ALGORITHM.md §4.3 step 4, with
 * the values as ALGORITHM.md lists them: numpy 2.4 on glibc 2.36 differs from
 * them in the last digit of five entries, so the references were computed
 * with this exact array passed to scipy). */
#include "rvs_test.h"

#include "fit/nelder_mead.h"
#include "rvs/status.h"

static const double G[36] = {
    0.2573163153424189,  -0.9011069298390896, -1.2493873407306169, 2.054202553244047,
    0.07774812382131821, -0.3699605244152346, -0.37582344004923257, -0.7178725579752068,
    -1.9419421669622035, -1.655885921321652,  0.11383137516034889, -0.561055182269903,
    -1.8781173126964281, -0.4732310426905614, -1.672683799477473,  -1.8272840006792983,
    -0.17304992592986235, -2.1883167962435714, -0.3921959338717661, 1.3058839048272703,
    -0.7245360500679104, 1.727241404262352,   -0.29683166657245796, 0.2852204354103993,
    1.9667308138826358,  -1.3945175397962095, -0.584302514553681,  1.7007517333306454,
    1.1857463216936788,  1.3494563341979209,  -1.6540175927298564, 0.5285763586385325,
    0.8065260635840192,  0.2560927306653154,  -2.443717394566921,  -0.2079874729430756};

static double rosen4(const double *x) {
  double s = 0;
  for (int i = 0; i < 3; i++) {
    double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
    s += 100.0 * (a * a) + b * b; /* numpy: 100*(a**2) */
  }
  return s;
}

static double quad6(const double *x) {
  static const double c[6] = {10., 3., 5000., 4.5, -1., 0.2};
  const double w[6] = {1 / 25., 1 / 9., 1 / (300. * 300.), 4., 4., 16.};
  double d[6], s = 0;
  for (int k = 0; k < 6; k++) d[k] = x[k] - c[k];
  for (int k = 0; k < 6; k++) s += w[k] * d[k] * d[k];
  return s + 0.1 * d[0] * d[2] / 300.;
}

/* Drive the machine; `batch_reverse` evaluates each ask's points in reverse
 * order (as a batched backend may), to show the order does not matter. */
static void run(rvs_nm *nm, double (*f)(const double *), int batch_reverse) {
  double pts[(RVS_NM_MAXDIM + 1) * RVS_NM_MAXDIM], vals[RVS_NM_MAXDIM + 1];
  int np_;
  int guard = 0;
  while ((np_ = rvs_nm_ask(nm, pts)) > 0) {
    for (int i = 0; i < np_; i++) {
      int j = batch_reverse ? np_ - 1 - i : i;
      vals[j] = f(pts + (size_t)j * nm->n);
    }
    rvs_nm_tell(nm, vals);
    assert_true(++guard < 100000);
  }
}

static void rosenbrock_matches_scipy_bitwise(void **state) {
  (void)state;
  double x0[4] = {-1.2, 1.0, -0.5, 0.8}, sim[5 * 4];
  for (int k = 0; k < 4; k++) sim[k] = x0[k];
  /* simplex rows: x0 + 0.3*G[r][:4] with G viewed as 6x6 */
  for (int r = 0; r < 4; r++)
    for (int k = 0; k < 4; k++) sim[(r + 1) * 4 + k] = x0[k] + 0.3 * G[r * 6 + k];
  rvs_nm nm;
  assert_int_equal(rvs_nm_init(&nm, 4, sim, 1e-8, 1e-10, 10000), RVS_OK);
  run(&nm, rosen4, 0);
  double fb;
  const double *x = rvs_nm_best(&nm, &fb);
  assert_int_equal(nm.nfev, 601);
  assert_int_equal(nm.iterations, 363);
  assert_int_equal(nm.success, 1);
  assert_true(x[0] == 0x1.ffffffff2e55cp-1);
  assert_true(x[1] == 0x1.0000000079f60p+0);
  assert_true(x[2] == 0x1.0000000306aa1p+0);
  assert_true(x[3] == 0x1.00000005e4362p+0);
  assert_true(fb == 0x1.30e189911c948p-55);
}

static void build_quad_simplex(double *sim) {
  const double x0[6] = {0., 0., 5500., 4.0, -0.5, 0.1};
  const double std[6] = {5, 3, 300, 0.5, 0.5, 0.25};
  for (int k = 0; k < 6; k++) sim[k] = x0[k];
  for (int r = 0; r < 6; r++)
    for (int k = 0; k < 6; k++) sim[(r + 1) * 6 + k] = x0[k] + std[k] * G[r * 6 + k];
}

static void upstream_tolerances_6d_matches_scipy(void **state) {
  (void)state;
  double sim[7 * 6];
  build_quad_simplex(sim);
  rvs_nm nm;
  assert_int_equal(rvs_nm_init(&nm, 6, sim, 1e-2, 1e-3, 10000), RVS_OK);
  run(&nm, quad6, 1);
  static const double want[6] = {9.9999536840553,     2.999997398508811,   4999.994956840977,
                                 4.499984041028494,   -0.9999938301213409, 0.20000263458956646};
  double fb;
  const double *x = rvs_nm_best(&nm, &fb);
  for (int k = 0; k < 6; k++) assert_true(x[k] == want[k]);
  assert_true(fb == 1.7290938136704472e-09);
  assert_int_equal(nm.nfev, 390);
  assert_int_equal(nm.iterations, 237);
  assert_int_equal(nm.success, 1);
}

static void maxiter_reports_failure_like_scipy(void **state) {
  (void)state;
  double sim[7 * 6];
  build_quad_simplex(sim);
  rvs_nm nm;
  assert_int_equal(rvs_nm_init(&nm, 6, sim, 1e-2, 1e-3, 30), RVS_OK);
  run(&nm, quad6, 0);
  double fb;
  const double *x = rvs_nm_best(&nm, &fb);
  assert_int_equal(nm.success, 0);
  assert_int_equal(nm.nfev, 55);
  assert_int_equal(nm.iterations, 30);
  assert_true(x[2] == 5192.958692431383);
  assert_true(fb == 3.903222232888888);
}

static void nan_values_never_converge_to_nan(void **state) {
  (void)state;
  /* A NaN vertex sorts last and is replaced; the minimiser still finds the minimum. */
  double sim[3 * 2] = {1, 1, 1.5, 1, 1, 1.5};
  rvs_nm nm;
  assert_int_equal(rvs_nm_init(&nm, 2, sim, 1e-6, 1e-9, 5000), RVS_OK);
  double pts[6], vals[3];
  int first = 1, np_;
  while ((np_ = rvs_nm_ask(&nm, pts)) > 0) {
    for (int i = 0; i < np_; i++) {
      double a = pts[2 * i] - 0.3, b = pts[2 * i + 1] + 0.2;
      vals[i] = (first && i == 2) ? NAN : a * a + 2 * b * b;
    }
    first = 0;
    rvs_nm_tell(&nm, vals);
  }
  double fb;
  const double *x = rvs_nm_best(&nm, &fb);
  assert_close_abs(x[0], 0.3, 1e-4);
  assert_close_abs(x[1], -0.2, 1e-4);
  assert_true(isfinite(fb));
}

static void bad_dimension_rejected(void **state) {
  (void)state;
  rvs_nm nm;
  double sim[4] = {0};
  assert_int_equal(rvs_nm_init(&nm, 0, sim, 1, 1, 10), RVS_ERR_ARG);
  assert_int_equal(rvs_nm_init(&nm, RVS_NM_MAXDIM + 1, sim, 1, 1, 10), RVS_ERR_ARG);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(rosenbrock_matches_scipy_bitwise),
    cmocka_unit_test(upstream_tolerances_6d_matches_scipy),
    cmocka_unit_test(maxiter_reports_failure_like_scipy),
    cmocka_unit_test(nan_values_never_converge_to_nan),
    cmocka_unit_test(bad_dimension_rejected),
};
RVS_TEST_MAIN(tests)
