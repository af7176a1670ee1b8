/* Velocity grid minimum, moments and the error sampler vs upstream rvspecfit
 * 0.9.0: references from vel_fit._minimum_sampler / spec_fit._quadratic_interp_min
 * driven by the same analytic chi-square (computed once with python). */
#include "rvs_test.h"

#include "fit/velgrid.h"
#include "rvs/status.h"

#include <stdlib.h>

static double chi(double v) {
  double t = (v - 13.7) / 2.3;
  return t * t + 0.02 * t * t * t * tanh(v / 50.) + 1000.;
}

static void arange_like_numpy(void **state) {
  (void)state;
  assert_int_equal(rvs_arange_count(-1000, 1000, 5), 400);
  assert_int_equal(rvs_arange_count(0, 1, 0.3), 4); /* 0, .3, .6, .9 */
  assert_int_equal(rvs_arange_count(1, 1, 0.3), 0);
  assert_int_equal(rvs_arange_count(2, 1, 0.3), 0);
  assert_true(rvs_arange_at(-1000, 5, 399) == 995);
}

static void grid_minimum_and_moments(void **state) {
  (void)state;
  int n = 400;
  double *v = malloc(sizeof(double) * n), *c = malloc(sizeof(double) * n);
  for (int i = 0; i < n; i++) {
    v[i] = -1000 + 5.0 * i;
    c[i] = chi(v[i]);
  }
  rvs_velgrid_result r;
  assert_int_equal(rvs_velgrid_best(v, c, n, 1, &r), RVS_OK);
  assert_int_equal(r.ivel, 203); /* 15 km/s */
  assert_close_rel(r.best_vel, 13.673659854044928, 1e-12, 1);
  assert_close_rel(r.vel_err, 2.3137487958179848, 1e-12, 1);
  assert_close_rel(r.skewness, -0.47364825720910597, 1e-10, 1);
  assert_close_rel(r.kurtosis, 2.8044788593963266, 1e-10, 1);
  assert_int_equal(r.parabola_failed, 0);
  free(v);
  free(c);
}

static void edge_minimum_uses_grid_value(void **state) {
  (void)state;
  double v[5] = {0, 1, 2, 3, 4}, c[5] = {1, 2, 3, 4, 5};
  rvs_velgrid_result r;
  assert_int_equal(rvs_velgrid_best(v, c, 5, 1, &r), RVS_OK);
  assert_true(r.best_vel == 0);
  /* probabilities exp(-k/2) normalised: err about v=0 */
  double p[5], s = 0, m2 = 0;
  for (int i = 0; i < 5; i++) s += (p[i] = exp(-0.5 * i));
  for (int i = 0; i < 5; i++) m2 += p[i] / s * i * i;
  assert_close_rel(r.vel_err, sqrt(m2), 1e-14, 1);
}

static void matrix_argmin_picks_column(void **state) {
  (void)state;
  /* 3 velocities x 2 templates, row-major: template 1 has the minimum */
  double v[3] = {-5, 0, 5};
  double c[6] = {10, 9, 8, 4, 10, 9};
  rvs_velgrid_result r;
  assert_int_equal(rvs_velgrid_best(v, c, 3, 2, &r), RVS_OK);
  assert_int_equal(r.ivel, 1);
  assert_int_equal(r.iparam, 1);
  /* parabola through (-5,9),(0,4),(5,9): vertex 0 */
  assert_close_abs(r.best_vel, 0, 1e-14);
}

static void all_nan_is_an_error(void **state) {
  (void)state;
  double v[2] = {0, 1}, c[2] = {NAN, NAN};
  rvs_velgrid_result r;
  assert_int_equal(rvs_velgrid_best(v, c, 2, 1, &r), RVS_ERR_NUMERIC);
}

static void sampler_matches_upstream(void **state) {
  (void)state;
  rvs_velsampler s;
  rvs_velsampler_init(&s, 37.0, -1000, 1000, 5, 0.2);
  /* upstream's grids: (400, -998, 997), (100, -36.315.., 62.684..), (125, -9.0629.., 36.4606..) */
  const long want_n[3] = {400, 100, 125};
  const double want_first[3] = {-998.0, -36.31517389301621, -9.062948617706175};
  const double want_last[3] = {997.0, 62.68482610698379, 36.460631390531084};
  int rounds = 0;
  long n;
  while ((n = rvs_velsampler_ngrid(&s)) > 0) {
    assert_true(rounds < 3);
    assert_int_equal(n, want_n[rounds]);
    double *v = malloc(sizeof(double) * n), *c = malloc(sizeof(double) * n);
    rvs_velsampler_grid(&s, v);
    assert_close_rel(v[0], want_first[rounds], 1e-12, 1);
    assert_close_rel(v[n - 1], want_last[rounds], 1e-12, 1);
    for (long i = 0; i < n; i++) c[i] = chi(v[i]);
    assert_int_equal(rvs_velsampler_tell(&s, c), RVS_OK);
    free(v);
    free(c);
    rounds++;
  }
  assert_int_equal(rounds, 3);
  assert_close_rel(s.last.best_vel, 13.699843375501356, 1e-10, 1);
  assert_close_rel(s.last.vel_err, 2.2945428693338146, 1e-10, 1);
  assert_close_rel(s.last.skewness, -0.03868351048942942, 1e-7, 1);
  assert_close_rel(s.last.kurtosis, 2.9912247928045796, 1e-9, 1);
}

static void sampler_clamps_start_velocity(void **state) {
  (void)state;
  rvs_velsampler s;
  rvs_velsampler_init(&s, 5000, -1000, 1000, 5, 0.2);
  assert_true(s.best_vel == 1000);
  double *v = malloc(sizeof(double) * rvs_velsampler_ngrid(&s));
  rvs_velsampler_grid(&s, v);
  assert_true(v[0] == -1000); /* grid passes through 1000 exactly, starts at -1000 */
  free(v);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(arange_like_numpy),
    cmocka_unit_test(grid_minimum_and_moments),
    cmocka_unit_test(edge_minimum_uses_grid_value),
    cmocka_unit_test(matrix_argmin_picks_column),
    cmocka_unit_test(all_nan_is_an_error),
    cmocka_unit_test(sampler_matches_upstream),
    cmocka_unit_test(sampler_clamps_start_velocity),
};
RVS_TEST_MAIN(tests)
