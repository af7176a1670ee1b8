/* rvs_exp_inplace / rvs_exp1 (core/vexp.h) against expl (long double) and
 * libm at the edges. */
#include "rvs_test.h"

#include <stdlib.h>

#include "core/vexp.h"

static double urand(unsigned long long *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) * (1.0 / 9007199254740992.0);
}

/* |got - exact| in units of the last place of the exact value */
static double ulp_err(double got, long double exact) {
  double e = (double)exact;
  double ulp = nextafter(e, INFINITY) - e;
  return (double)(fabsl((long double)got - exact) / (long double)ulp);
}

static void test_exp_accuracy_vs_expl(void **state) {
  (void)state;
  const double ranges[4][2] = {{-1, 1}, {-30, 5}, {-700, 700}, {-1e-3, 1e-3}};
  unsigned long long s = 2024;
  size_t n = 100003; /* not a multiple of 4: the scalar tail too */
  double *x = malloc(sizeof(double) * n), *y = malloc(sizeof(double) * n);
  assert_true(x && y);
  for (int r = 0; r < 4; r++) {
    for (size_t i = 0; i < n; i++) x[i] = ranges[r][0] + (ranges[r][1] - ranges[r][0]) * urand(&s);
    memcpy(y, x, sizeof(double) * n);
    rvs_exp_inplace(y, n);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
      double e = ulp_err(y[i], expl((long double)x[i]));
      if (e > worst) worst = e;
      /* the vector lanes and the scalar formula agree bit for bit */
      double one = rvs_exp1(x[i]);
      assert_memory_equal(&one, &y[i], sizeof one);
    }
    print_message("range [%g, %g]: worst %.3f ulp\n", ranges[r][0], ranges[r][1], worst);
    assert_true(worst <= 2.0);
  }
  free(x);
  free(y);
}

static void test_exp_edges_as_libm(void **state) {
  (void)state;
  double v[16] = {0.0, -0.0, 1.0, -708.0, 709.0, -708.5, 709.5, 710.0,
                  -745.0, -746.0, -1e300, 1e300, INFINITY, -INFINITY, NAN, 1e-300};
  double y[16];
  memcpy(y, v, sizeof v);
  rvs_exp_inplace(y, 16);
  for (int i = 0; i < 16; i++) {
    if (isnan(v[i])) {
      assert_true(isnan(y[i]));
      continue;
    }
    if (!(v[i] >= -708.0 && v[i] <= 709.0)) {
      double e = exp(v[i]);
      assert_memory_equal(&e, &y[i], sizeof e); /* libm outside the range */
    } else {
      assert_true(ulp_err(y[i], expl((long double)v[i])) <= 2.0);
    }
  }
  assert_true(y[0] == 1.0 && y[1] == 1.0);
  assert_true(isinf(y[7]) && y[8] > 0 && y[9] == 0.0 && y[13] == 0.0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_exp_accuracy_vs_expl),
    cmocka_unit_test(test_exp_edges_as_libm),
};
RVS_TEST_MAIN(tests)
