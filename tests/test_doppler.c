/* Relativistic Doppler factor (src/core/doppler.c) against analytic values
 * and values computed once with upstream's evalRV expression. */
#include "rvs_test.h"

#include "core/doppler.h"

static void zero_and_small_velocity_limit(void **state) {
  (void)state;
  assert_true(rvs_doppler_factor(0.0) == 1.0);
  assert_true(rvs_doppler_rest_scale(0.0) == 1.0);
  /* sqrt((1+b)/(1-b)) = 1 + b + b^2/2 + b^3/2 + ...: for |b| <= 1e-5 the
   * first three terms are exact to 1e-15 */
  double vs[4] = {1e-3, -0.25, 3.0, -2.99};
  for (int i = 0; i < 4; i++) {
    double b = vs[i] / RVS_SPEED_OF_LIGHT;
    assert_close_rel(rvs_doppler_factor(vs[i]), 1 + b + 0.5 * b * b, 1e-15, 1.0);
    assert_close_rel(rvs_doppler_factor(vs[i]) - 1, b, 1e-4, 0.0); /* first order: v/c */
  }
  assert_true(RVS_SPEED_OF_LIGHT == 299792.458);
}

static void exact_values(void **state) {
  (void)state;
  /* v = c/10: sqrt(1.1/0.9) = 1.10554159678513328303831... (40-digit decimal) */
  assert_close_rel(rvs_doppler_factor(0.1 * RVS_SPEED_OF_LIGHT), 1.1055415967851332830, 5e-16, 1.0);
  /* v = -c/2: sqrt(0.5/1.5) = 1/sqrt(3) */
  assert_close_rel(rvs_doppler_factor(-0.5 * RVS_SPEED_OF_LIGHT), 0.57735026918962576451, 5e-16, 1.0);
  assert_close_rel(rvs_doppler_rest_scale(-0.5 * RVS_SPEED_OF_LIGHT), 1.7320508075688772935, 5e-16, 1.0);
  assert_true(isnan(rvs_doppler_factor(-2 * RVS_SPEED_OF_LIGHT)));
}

static void reciprocity(void **state) {
  (void)state;
  for (int i = -200; i <= 200; i++) {
    double v = 37.3 * i;
    assert_close_rel(rvs_doppler_factor(v) * rvs_doppler_factor(-v), 1.0, 3e-16, 1.0);
    assert_close_rel(rvs_doppler_factor(v) * rvs_doppler_rest_scale(v), 1.0, 3e-16, 1.0);
    if (v > 0) assert_true(rvs_doppler_factor(v) > 1.0); /* receding: redshift */
  }
}

/* Upstream: lams * np.sqrt((1 - beta) / (1 + beta)), beta = v / 299792.458,
 * printed with repr() for v = 123.4 and v = -55.5 (the same expression, so
 * equal to the last bit on IEEE doubles). */
static void rest_wavelengths_match_upstream(void **state) {
  (void)state;
  double lam[3] = {3600.0, 5000.0, 9824.0}, rest[3];
  const double e1[3] = {3598.518479711017, 4997.942332931968, 9819.95709574473};
  const double e2[3] = {3600.666522763954, 5000.9257260610475, 9825.818866564747};
  rvs_doppler_rest_wavelengths(lam, 3, 123.4, rest);
  for (int i = 0; i < 3; i++) assert_close_rel(rest[i], e1[i], 2.3e-16, 1.0);
  rvs_doppler_rest_wavelengths(lam, 3, -55.5, rest);
  for (int i = 0; i < 3; i++) assert_close_rel(rest[i], e2[i], 2.3e-16, 1.0);
  /* in place, and rest * factor = observed */
  rvs_doppler_rest_wavelengths(lam, 3, 321.0, lam);
  assert_close_rel(lam[1] * rvs_doppler_factor(321.0), 5000.0, 3e-16, 1.0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(zero_and_small_velocity_limit),
    cmocka_unit_test(exact_values),
    cmocka_unit_test(reciprocity),
    cmocka_unit_test(rest_wavelengths_match_upstream),
};

RVS_TEST_MAIN(tests)
