/* Tests of the robust spline continuum (templates/continuum_fit.h), against a
 * known continuum and against upstream rvspecfit's make_ccf.get_continuum
 * (reference numbers computed with the installed upstream, scipy 1.17). */
#include "rvs_test.h"

#include <stdlib.h>

#include "rvs/status.h"
#include "templates/continuum_fit.h"

#define N 3000

/* The problem of the upstream reference: a smooth continuum times 40
 * absorption lines (20-65% deep), 1% deterministic "noise", and every pixel
 * with i*13 % 97 == 0 multiplied by 3 (outliers). */
static void make_problem(double *lam, double *cont, double *spec, double *err) {
  for (int i = 0; i < N; i++) {
    lam[i] = 5000 * exp(i * 1e-4);
  }
  double lmax = lam[N - 1];
  for (int i = 0; i < N; i++) {
    double x = (lam[i] - 5000) / (lmax - 5000);
    cont[i] = 2.0 * exp(0.3 * x - 0.5 * x * x + 0.1 * sin(3 * x));
    double lines = 1;
    for (int k = 0; k < 40; k++) {
      double c = 5000 * exp(((k * 7919) % N) * 1e-4);
      double depth = 0.2 + 0.5 * ((k * 37) % 10) / 10.0;
      double t = (lam[i] - c) / 0.4;
      lines *= 1 - depth * exp(-0.5 * t * t);
    }
    double noise = 0.01 * sin(i * 12.9898 + 78.233 * sin(i * 0.7));
    spec[i] = cont[i] * lines * (1 + noise);
    if ((i * 13) % 97 == 0) spec[i] *= 3.0;
  }
  double *tmp = malloc(N * sizeof(double));
  double med = rvs_median(spec, N, tmp);
  free(tmp);
  for (int i = 0; i < N; i++) err[i] = fmax(1e-5 * spec[i], 1e-2 * med);
}

static void recovers_known_continuum(void **state) {
  (void)state;
  double *lam = malloc(N * sizeof(double)), *cont = malloc(N * sizeof(double));
  double *spec = malloc(N * sizeof(double)), *err = malloc(N * sizeof(double));
  double *fit = malloc(N * sizeof(double));
  make_problem(lam, cont, spec, err);
  rvs_continuum_info info;
  assert_int_equal(rvs_get_continuum(lam, spec, err, N, 3000.0, fit, &info), RVS_OK);
  double maxrel = 0;
  for (int i = 0; i < N; i++) maxrel = fmax(maxrel, fabs(fit[i] / cont[i] - 1));
  print_message("continuum: %d nodes, %d iterations, cost %.6g -> %.6g, max |fit/true-1| = %.3g\n",
                info.nnodes, info.iterations, info.cost0, info.cost, maxrel);
  assert_int_equal(info.nnodes, 31); /* ceil(0.2999/ln(1.01)) */
  assert_true(info.cost < info.cost0);
  assert_true(maxrel < 0.01);
  free(lam);
  free(cont);
  free(spec);
  free(err);
  free(fit);
}

static void matches_upstream_optimum(void **state) {
  (void)state;
  /* upstream make_ccf.get_continuum(lam, spec, err, {'splinestep': 3000})
   * at these pixels (its max |fit/true-1| is 0.00186) */
  static const int idx[] = {0, 1, 17, 333, 1000, 1500, 2222, 2998, 2999};
  static const double ref[] = {1.99958923145736, 1.99987601894449, 2.00454119824617,
                               2.1063011045895,  2.26151634008947, 2.27723305610994,
                               2.09040444864845, 1.66020444459589, 1.65955628142095};
  double *lam = malloc(N * sizeof(double)), *cont = malloc(N * sizeof(double));
  double *spec = malloc(N * sizeof(double)), *err = malloc(N * sizeof(double));
  double *fit = malloc(N * sizeof(double));
  make_problem(lam, cont, spec, err);
  assert_int_equal(rvs_get_continuum(lam, spec, err, N, 3000.0, fit, NULL), RVS_OK);
  double maxd = 0;
  for (size_t k = 0; k < sizeof idx / sizeof idx[0]; k++) {
    maxd = fmax(maxd, fabs(fit[idx[k]] / ref[k] - 1));
    assert_close_rel(fit[idx[k]], ref[k], 1e-7, 0);
  }
  print_message("continuum vs upstream: max relative difference %.3g\n", maxd);
  free(lam);
  free(cont);
  free(spec);
  free(err);
  free(fit);
}

static void exact_for_exp_quadratic(void **state) {
  (void)state;
  /* exp(a + b*lam + c*lam^2) lies in the model space (a quadratic is a
   * quadratic spline): recovered to rounding, from a start that is not it. */
  int n = 800;
  double *lam = malloc((size_t)n * sizeof(double)), *spec = malloc((size_t)n * sizeof(double));
  double *err = malloc((size_t)n * sizeof(double)), *fit = malloc((size_t)n * sizeof(double));
  for (int i = 0; i < n; i++) {
    lam[i] = 4000 + 2.5 * i;
    double x = (lam[i] - 5000) / 1000;
    spec[i] = exp(1.0 + 0.4 * x - 0.3 * x * x);
    err[i] = 0.01;
  }
  rvs_continuum_info info;
  assert_int_equal(rvs_get_continuum(lam, spec, err, (size_t)n, 5000.0, fit, &info), RVS_OK);
  for (int i = 0; i < n; i++) assert_close_rel(fit[i], spec[i], 1e-8, 0);
  assert_true(info.cost < 1e-12);
  free(lam);
  free(spec);
  free(err);
  free(fit);
}

static void few_nodes_and_bad_input(void **state) {
  (void)state;
  double lam[50], spec[50], err[50], fit[50];
  for (int i = 0; i < 50; i++) {
    lam[i] = 6000 + 0.1 * i;
    spec[i] = 3.0 + 0.001 * i;
    err[i] = 0.01;
  }
  rvs_continuum_info info;
  /* 5 A over 6000 A at a 1000 km/s node step: 1 node -> a constant */
  assert_int_equal(rvs_get_continuum(lam, spec, err, 50, 1000.0, fit, &info), RVS_OK);
  assert_int_equal(info.nnodes, 1);
  for (int i = 0; i < 50; i++) assert_close_rel(fit[i], fit[0], 1e-15, 0);
  assert_close_rel(fit[0], 3.0245, 2e-3, 0);
  /* 2 nodes: a straight line in ln f */
  assert_int_equal(rvs_get_continuum(lam, spec, err, 50, 200.0, fit, &info), RVS_OK);
  assert_int_equal(info.nnodes, 2);
  for (int i = 0; i < 50; i++) assert_close_rel(fit[i], spec[i], 1e-4, 0);
  err[3] = 0;
  assert_int_equal(rvs_get_continuum(lam, spec, err, 50, 200.0, fit, NULL), RVS_ERR_ARG);
  err[3] = 0.01;
  assert_int_equal(rvs_get_continuum(lam, spec, err, 50, -1.0, fit, NULL), RVS_ERR_ARG);
  assert_int_equal(rvs_get_continuum(lam, spec, err, 0, 100.0, fit, NULL), RVS_ERR_ARG);
}

static void median_like_numpy(void **state) {
  (void)state;
  double a[] = {5, 1, 4, 2, 3}, b[] = {4, 1, 3, 2}, s[5];
  assert_true(rvs_median(a, 5, s) == 3.0);
  assert_true(rvs_median(b, 4, s) == 2.5);
  assert_true(a[0] == 5 && b[0] == 4); /* inputs untouched */
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(recovers_known_continuum),
    cmocka_unit_test(matches_upstream_optimum),
    cmocka_unit_test(exact_for_exp_quadratic),
    cmocka_unit_test(few_nodes_and_bad_input),
    cmocka_unit_test(median_like_numpy),
};

RVS_TEST_MAIN(tests)
