/* Continuum basis (src/core/basis.c) against direct formulas and upstream
 * rvspecfit.spec_fit.get_poly_basis (values hard-coded below). */
#include "rvs_test.h"

#include <stdlib.h>

#include "core/basis.h"
#include "rvs/status.h"

#define N41 41
/* lam_i = 5000 + 0.8 i + 1e-4 i^2, i = 0..40 (non-uniform on purpose) */
static void make_lam(double *lam) {
  for (int i = 0; i < N41; i++) lam[i] = 5000 + 0.8 * i + 1e-4 * i * i;
}
static const int cols[5] = {0, 7, 20, 33, 40};

/* upstream get_poly_basis(lam, 10, rbf=True)[:, cols] */
static const double up_rbf10[10][5] = {
    {1, 1, 1, 1, 1},
    {-1, -0.65143656716416065, -0.0024875621890524391, 0.64856343283581674, 1},
    {1, 0.42436960103862598, 6.1879656444033624e-06, 0.42063452641177895, 1},
    {1, 0.050962590531613443, 2.5861621076894187e-11, 1.2090242033959035e-29, 2.7487850079101757e-43},
    {0.065728528616530529, 0.99433319694016253, 2.0241408436047798e-05, 3.9285739925759827e-19, 2.778739018317031e-30},
    {1.8664469113520571e-05, 0.08381470155584779, 0.068443708521791685, 5.5149642331343588e-11, 1.2135636681257875e-19},
    {2.2897348456455446e-11, 3.0522231890227015e-05, 0.99984840633319338, 3.3447085772337455e-05, 2.2897348456455446e-11},
    {1.213563668125796e-19, 4.8019782971807995e-11, 0.063101924556208347, 0.087635826793199187, 1.8664469113520537e-05},
    {2.7787390183171102e-30, 3.2638629847925176e-19, 1.7205166198096645e-05, 0.99200283549367152, 0.065728528616530307},
    {2.7487850079101757e-43, 9.584102855637935e-30, 2.0266696320929228e-11, 0.048512310517994026, 1},
};
/* upstream get_poly_basis(lam, 6, rbf=False)[:, cols] */
static const double up_cheb6[6][5] = {
    {1, 1, 1, 1, 1},
    {-1, -0.65143656716416065, -0.0024875621890524391, 0.64856343283581674, 1},
    {1, -0.15126079792274805, -0.99998762406871122, -0.15873094717644209, 1},
    {-1, 0.84851019705477415, 0.0074626249953598598, -0.85445760883188471, 1},
    {1, -0.95424034202354713, 0.99995049658117208, -0.94960897281693912, 1},
    {-1, 0.39474390825997396, -0.012437503087798927, -0.37730570169181099, 1},
};

static void test_rbf10_matches_upstream(void **state) {
  (void)state;
  double lam[N41], B[10 * N41];
  make_lam(lam);
  assert_int_equal(rvs_continuum_basis(lam, N41, 10, 1, B), RVS_OK);
  for (int j = 0; j < 10; j++)
    for (int c = 0; c < 5; c++)
      assert_close_rel(B[j * N41 + cols[c]], up_rbf10[j][c], 1e-13, 1e-300);
}

static void test_chebyshev_matches_upstream(void **state) {
  (void)state;
  double lam[N41], B[6 * N41];
  make_lam(lam);
  assert_int_equal(rvs_continuum_basis(lam, N41, 6, 0, B), RVS_OK);
  for (int j = 0; j < 6; j++)
    for (int c = 0; c < 5; c++)
      assert_close_abs(B[j * N41 + cols[c]], up_cheb6[j][c], 1e-15);
}

static void test_rbf_direct_formula(void **state) {
  (void)state;
  /* every pixel, P = 10: monomials and Gaussians with centres -1 + k/3,
   * sigma 1/7, computed here in long double */
  double lam[N41], B[10 * N41];
  make_lam(lam);
  assert_int_equal(rvs_continuum_basis(lam, N41, 10, 1, B), RVS_OK);
  for (int i = 0; i < N41; i++) {
    long double u = 2.0L * ((long double)lam[i] - lam[0]) / ((long double)lam[N41 - 1] - lam[0]) - 1;
    assert_close_abs(B[0 * N41 + i], 1.0, 0);
    assert_close_abs(B[1 * N41 + i], (double)u, 1e-15);
    assert_close_abs(B[2 * N41 + i], (double)(u * u), 1e-15);
    for (int k = 0; k < 7; k++) {
      long double c = -1.0L + k / 3.0L, s = 1.0L / 7;
      long double g = expl(-0.5L * (u - c) * (u - c) / (s * s));
      assert_close_rel(B[(3 + k) * N41 + i], (double)g, 1e-12, 1e-300);
    }
  }
  assert_close_abs(B[1 * N41 + 0], -1.0, 0);
  assert_close_abs(B[1 * N41 + N41 - 1], 1.0, 0);
}

static void test_chebyshev_vs_cosine(void **state) {
  (void)state;
  enum { n = 101, P = 14 };
  double lam[n], B[P * n];
  for (int i = 0; i < n; i++) lam[i] = 3600.0 + 0.8 * i;
  assert_int_equal(rvs_continuum_basis(lam, n, P, 0, B), RVS_OK);
  for (int i = 0; i < n; i++) {
    double u = B[n + i];
    double th = acos(u < -1 ? -1 : (u > 1 ? 1 : u));
    for (int k = 0; k < P; k++) assert_close_abs(B[k * n + i], cos(k * th), 1e-12);
  }
}

static void test_small_npoly_like_numpy(void **state) {
  (void)state;
  enum { n = 9 };
  double lam[n], B[5 * n];
  for (int i = 0; i < n; i++) lam[i] = 100.0 + i; /* u = -1, -0.75, ..., 1 */
  /* P = 1, 2, 3: monomials only */
  for (int P = 1; P <= 3; P++) {
    memset(B, 0, sizeof B);
    assert_int_equal(rvs_continuum_basis(lam, n, P, 1, B), RVS_OK);
    for (int i = 0; i < n; i++) {
      double u = -1 + 0.25 * i;
      for (int j = 0; j < P; j++) assert_close_abs(B[j * n + i], pow(u, j), 1e-15);
    }
  }
  /* P = 4: one RBF; numpy.linspace(-1, 1, 1) = [-1], sigma = 1 */
  assert_int_equal(rvs_continuum_basis(lam, n, 4, 1, B), RVS_OK);
  for (int i = 0; i < n; i++) {
    double u = -1 + 0.25 * i;
    assert_close_rel(B[3 * n + i], exp(-0.5 * (u + 1) * (u + 1)), 1e-15, 1e-300);
  }
  /* P = 5: centres -1, 1, sigma 1/2 */
  assert_int_equal(rvs_continuum_basis(lam, n, 5, 1, B), RVS_OK);
  for (int i = 0; i < n; i++) {
    double u = -1 + 0.25 * i;
    assert_close_rel(B[3 * n + i], exp(-2 * (u + 1) * (u + 1)), 1e-15, 1e-300);
    assert_close_rel(B[4 * n + i], exp(-2 * (u - 1) * (u - 1)), 1e-15, 1e-300);
  }
}

static void test_basis_bad_arguments(void **state) {
  (void)state;
  double lam[3] = {5, 5, 5}, B[30];
  assert_int_equal(rvs_continuum_basis(lam, 3, 10, 1, B), RVS_ERR_ARG);
  assert_non_null(strstr(rvs_last_error(), "wavelength range"));
  assert_int_equal(rvs_continuum_basis(lam, 1, 10, 1, B), RVS_ERR_ARG);
  double lam2[3] = {1, 2, 3};
  assert_int_equal(rvs_continuum_basis(lam2, 3, 0, 1, B), RVS_ERR_ARG);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rbf10_matches_upstream),
    cmocka_unit_test(test_chebyshev_matches_upstream),
    cmocka_unit_test(test_rbf_direct_formula),
    cmocka_unit_test(test_chebyshev_vs_cosine),
    cmocka_unit_test(test_small_npoly_like_numpy),
    cmocka_unit_test(test_basis_bad_arguments),
};

RVS_TEST_MAIN(tests)
