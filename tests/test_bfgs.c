/* The ask/tell BFGS follows scipy.optimize.minimize(method='BFGS').
 * References: scipy 1.17.1 (numpy 2.4), printed with repr(); see each case.
 * The paths agree to rounding: numpy's BLAS may sum a matrix-vector product
 * in another order, so x is compared to 1e-7 relative and the evaluation and
 * iteration counts exactly. */
#include "rvs_test.h"

#include "fit/bfgs.h"
#include "rvs/status.h"

static double rosen(const double *x, int n) {
  double s = 0;
  for (int i = 0; i < n - 1; i++) {
    double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
    s += 100.0 * (a * a) + b * b;
  }
  return s;
}

static double quad6(const double *x, int n) {
  (void)n;
  static const double c[6] = {10., 3., 5000., 4.5, -1., 0.2};
  const double w[6] = {1 / 25., 1 / 9., 1 / (300. * 300.), 4., 4., 16.};
  double d[6], s = 0;
  for (int k = 0; k < 6; k++) d[k] = x[k] - c[k];
  for (int k = 0; k < 6; k++) s += w[k] * d[k] * d[k];
  return s + 0.1 * d[0] * d[2] / 300.;
}

static double bumpy(const double *x, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += log1p((x[i] - 1.5) * (x[i] - 1.5));
  return s + 0.3 * sin(3 * x[0]) * cos(2 * x[1]);
}

static void run(rvs_bfgs *b, double (*f)(const double *, int)) {
  double pts[(RVS_BFGS_MAXDIM + 1) * RVS_BFGS_MAXDIM], vals[RVS_BFGS_MAXDIM + 1];
  int np_, guard = 0;
  while ((np_ = rvs_bfgs_ask(b, pts)) > 0) {
    for (int i = 0; i < np_; i++) vals[i] = f(pts + (size_t)i * b->n, b->n);
    rvs_bfgs_tell(b, vals);
    assert_true(++guard < 100000);
  }
}

static void check(const rvs_bfgs *b, const double *want, double fwant, long nfev, long nit) {
  double f;
  const double *x = rvs_bfgs_result(b, &f);
  for (int i = 0; i < b->n; i++) assert_close_rel(x[i], want[i], 1e-7, 1e-7);
  assert_close_rel(f, fwant, 1e-4, 1e-11); /* near 0, f is rounding noise */
  assert_int_equal(b->nfev, nfev);
  assert_int_equal(b->k, nit);
  assert_int_equal(b->warnflag, 0);
}

static void rosenbrock_matches_scipy(void **state) {
  (void)state;
  const double x0[4] = {-1.2, 1.0, -0.5, 0.8};
  rvs_bfgs b;
  assert_int_equal(rvs_bfgs_init(&b, 4, x0, NULL, 0), RVS_OK);
  run(&b, rosen);
  const double want[4] = {0.9999985038019498, 0.9999970163965467, 0.9999940319598773,
                          0.9999880449165713};
  check(&b, want, 4.680204671591864e-11, 190, 33);
}

static void hess_inv0_as_upstream_matches_scipy(void **state) {
  (void)state;
  const double x0[6] = {0., 0., 5500., 4.0, -0.5, 0.1};
  double H[36] = {0};
  const double d[6] = {1., 25., 2500., 0.01, 0.01, 0.01};
  for (int i = 0; i < 6; i++) H[i * 6 + i] = d[i];
  rvs_bfgs b;
  assert_int_equal(rvs_bfgs_init(&b, 6, x0, H, 0), RVS_OK);
  run(&b, quad6);
  const double want[6] = {10.000000286254451, 3.000000024065915,   4999.999947064623,
                          4.499999846226198,  -0.9999998612039649, 0.19999994585072503};
  check(&b, want, 2.4798325662899007e-13, 154, 19);
}

static void identity_start_6d_matches_scipy(void **state) {
  (void)state;
  const double x0[6] = {0., 0., 5500., 4.0, -0.5, 0.1};
  rvs_bfgs b;
  assert_int_equal(rvs_bfgs_init(&b, 6, x0, NULL, 0), RVS_OK);
  run(&b, quad6);
  const double want[6] = {10.000000176083853, 3.0000004170451753,  5000.000111241304,
                          4.49999998862416,   -1.0000000074120154, 0.1999999928540271};
  check(&b, want, 1.661449658671802e-13, 259, 33);
}

static void non_quadratic_matches_scipy(void **state) {
  (void)state;
  const double x0[3] = {0.3, -0.7, 2.5};
  rvs_bfgs b;
  assert_int_equal(rvs_bfgs_init(&b, 3, x0, NULL, 0), RVS_OK);
  run(&b, bumpy);
  const double want[3] = {2.1117594225538774, 1.5021391733149656, 1.50000050535987};
  check(&b, want, 0.30243862107174163, 56, 11);
}

static void gradient_points_are_forward_steps(void **state) {
  (void)state;
  const double x0[2] = {1.0, -3.0};
  rvs_bfgs b;
  assert_int_equal(rvs_bfgs_init(&b, 2, x0, NULL, 0), RVS_OK);
  double pts[3 * 2];
  assert_int_equal(rvs_bfgs_ask(&b, pts), 3); /* f(x0) and 2 forward points, one batch */
  assert_true(pts[0] == 1.0 && pts[1] == -3.0);
  assert_true(pts[2] == 1.0 + 1.4901161193847656e-08 && pts[3] == -3.0);
  assert_true(pts[4] == 1.0 && pts[5] == -3.0 + 1.4901161193847656e-08);
}

static void bad_dimension_rejected(void **state) {
  (void)state;
  rvs_bfgs b;
  double x[1] = {0};
  assert_int_equal(rvs_bfgs_init(&b, 0, x, NULL, 0), RVS_ERR_ARG);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(rosenbrock_matches_scipy),
    cmocka_unit_test(hess_inv0_as_upstream_matches_scipy),
    cmocka_unit_test(identity_start_6d_matches_scipy),
    cmocka_unit_test(non_quadratic_matches_scipy),
    cmocka_unit_test(gradient_points_are_forward_steps),
    cmocka_unit_test(bad_dimension_rejected),
};
RVS_TEST_MAIN(tests)
