/* Small dense linear algebra (src/core/linalg.c) against long double
 * Gauss-Jordan references and matrices with known answers. */
#include "rvs_test.h"

#include <float.h>
#include <stdlib.h>

#include "core/linalg.h"
#include "rvs/status.h"

/* deterministic uniform [-1, 1) */
static double urand(unsigned long long *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* Long double Gauss-Jordan: solves A x = b (A n x n row-major), returns
 * ln|det A| (or -inf if singular). */
static long double ld_solve(const double *A, int n, const double *b, long double *x) {
  long double a[40][41];
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < n; j++) a[i][j] = A[i * n + j];
    a[i][n] = b ? b[i] : 0.0L;
  }
  long double logdet = 0.0L;
  for (int k = 0; k < n; k++) {
    int p = k;
    for (int i = k + 1; i < n; i++)
      if (fabsl(a[i][k]) > fabsl(a[p][k])) p = i;
    if (a[p][k] == 0.0L) return -INFINITY;
    for (int j = 0; j <= n; j++) {
      long double t = a[k][j];
      a[k][j] = a[p][j];
      a[p][j] = t;
    }
    logdet += logl(fabsl(a[k][k]));
    for (int i = 0; i < n; i++) {
      if (i == k) continue;
      long double f = a[i][k] / a[k][k];
      for (int j = k; j <= n; j++) a[i][j] -= f * a[k][j];
    }
  }
  if (x)
    for (int i = 0; i < n; i++) x[i] = a[i][n] / a[i][i];
  return logdet;
}

/* random SPD: X X^T + n I */
static void random_spd(int n, unsigned long long seed, double *A) {
  double X[40 * 40];
  unsigned long long s = seed;
  for (int i = 0; i < n * n; i++) X[i] = urand(&s);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      double t = 0;
      for (int k = 0; k < n; k++) t += X[i * n + k] * X[j * n + k];
      A[i * n + j] = t + (i == j ? n : 0);
    }
}

static void test_chol_known_factor(void **state) {
  (void)state;
  /* A = L L^T with a hand-picked integer L: the factor is exact */
  const double L0[9] = {2, 0, 0, 1, 3, 0, -1, 2, 4};
  double A[9];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      double t = 0;
      for (int k = 0; k < 3; k++) t += L0[i * 3 + k] * L0[j * 3 + k];
      A[i * 3 + j] = t;
    }
  double L[9];
  memcpy(L, A, sizeof A);
  assert_int_equal(rvs_chol_factor(L, 3), RVS_OK);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j <= i; j++) assert_close_abs(L[i * 3 + j], L0[i * 3 + j], 1e-15);
  assert_close_rel(rvs_chol_logdet(L, 3), log(24.0 * 24.0), 1e-15, 1e-300);
  double b[3] = {1, -2, 0.5};
  long double xr[3];
  ld_solve(A, 3, b, xr);
  rvs_chol_solve(L, 3, b);
  for (int i = 0; i < 3; i++) assert_close_rel(b[i], (double)xr[i], 1e-14, 1e-14);
}

static void test_chol_random_vs_longdouble(void **state) {
  (void)state;
  for (int n = 1; n <= 20; n += 3) {
    double A[400], L[400], b[20];
    random_spd(n, 1000 + n, A);
    unsigned long long s = 77 + n;
    for (int i = 0; i < n; i++) b[i] = urand(&s);
    long double xr[20];
    long double ldr = ld_solve(A, n, b, xr);
    memcpy(L, A, sizeof(double) * n * n);
    assert_int_equal(rvs_chol_factor(L, n), RVS_OK);
    assert_close_abs(rvs_chol_logdet(L, n), (double)ldr, 1e-12 * n);
    rvs_chol_solve(L, n, b);
    for (int i = 0; i < n; i++) assert_close_rel(b[i], (double)xr[i], 1e-12, 1e-12);
  }
}

static void test_chol_rejects_indefinite_and_nan(void **state) {
  (void)state;
  double A[4] = {1, 2, 2, 1}; /* eigenvalues 3, -1 */
  assert_int_equal(rvs_chol_factor(A, 2), RVS_ERR_NUMERIC);
  double Z[4] = {0, 0, 0, 0};
  assert_int_equal(rvs_chol_factor(Z, 2), RVS_ERR_NUMERIC);
  double N[4] = {1, 0, NAN, 1};
  assert_int_equal(rvs_chol_factor(N, 2), RVS_ERR_NUMERIC);
}

static void test_sym_eig_known_2x2(void **state) {
  (void)state;
  const double A[4] = {2, 1, 1, 2};
  double ev[2], V[4];
  assert_int_equal(rvs_sym_eig(A, 2, ev, V), RVS_OK);
  assert_close_rel(ev[0], 3.0, 1e-15, 1e-300);
  assert_close_rel(ev[1], 1.0, 1e-15, 1e-300);
  /* eigenvector columns (1,1)/sqrt2 and (1,-1)/sqrt2 up to sign */
  assert_close_abs(fabs(V[0]), M_SQRT1_2, 1e-15);
  assert_close_abs(V[0] * V[2], 0.5, 1e-15);
  assert_close_abs(V[1] * V[3], -0.5, 1e-15);
}

static void test_sym_eig_random_reconstructs(void **state) {
  (void)state;
  const int n = 12;
  double A[144], ev[12], V[144];
  unsigned long long s = 4242;
  for (int i = 0; i < n; i++)
    for (int j = 0; j <= i; j++) A[i * n + j] = A[j * n + i] = urand(&s);
  assert_int_equal(rvs_sym_eig(A, n, ev, V), RVS_OK);
  for (int k = 1; k < n; k++) assert_true(ev[k - 1] >= ev[k]);
  /* A v_k = lambda_k v_k and V^T V = I */
  for (int k = 0; k < n; k++) {
    for (int i = 0; i < n; i++) {
      long double t = 0;
      for (int j = 0; j < n; j++) t += (long double)A[i * n + j] * V[j * n + k];
      assert_close_abs((double)t, ev[k] * V[i * n + k], 1e-13);
    }
    for (int l = 0; l < n; l++) {
      long double t = 0;
      for (int i = 0; i < n; i++) t += (long double)V[i * n + k] * V[i * n + l];
      assert_close_abs((double)t, k == l ? 1.0 : 0.0, 1e-14);
    }
  }
  /* sum ln|lambda| = ln|det A| */
  double sl = 0;
  for (int k = 0; k < n; k++) sl += log(fabs(ev[k]));
  assert_close_abs(sl, (double)ld_solve(A, n, NULL, NULL), 1e-11);
}

/* ln det of the Hilbert matrix H_n, exact: det = c_n^4 / c_2n,
 * c_m = prod_{i=1}^{m-1} i! */
static long double hilbert_logdet(int n) {
  long double lc_n = 0, lc_2n = 0, lf = 0;
  for (int i = 1; i < 2 * n; i++) {
    lf += logl((long double)i); /* ln i! */
    if (i < n) lc_n += lf;
    lc_2n += lf;
  }
  return 4 * lc_n - lc_2n;
}

static void test_sym_eig_hilbert_small_eigenvalues(void **state) {
  (void)state;
  /* Jacobi keeps small eigenvalues of an SPD matrix relatively accurate:
   * the product of all eigenvalues of H_8 (cond 1.5e10) matches the exact
   * determinant. */
  const int n = 8;
  double H[64], ev[8], V[64];
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) H[i * n + j] = 1.0 / (i + j + 1);
  assert_int_equal(rvs_sym_eig(H, n, ev, V), RVS_OK);
  double sl = 0;
  for (int k = 0; k < n; k++) {
    assert_true(ev[k] > 0);
    sl += log(ev[k]);
  }
  /* H in double is not exactly H: its ln det differs by ~cond*eps */
  assert_close_abs(sl, (double)hilbert_logdet(n), 1e-5);
  /* eigenvalue error ~eps*lambda_max/lambda_min ~ 1e-6 relative at most */
  assert_close_abs(sl, (double)ld_solve(H, n, NULL, NULL), 1e-6);
  assert_close_rel(ev[0], 1.6959389969219498, 1e-13, 1e-300); /* lambda_max(H_8) */
}

static void test_spd_solve_hilbert_ill_conditioned(void **state) {
  (void)state;
  /* H_14 has cond ~1e19: Cholesky pivots become rounding noise, so the
   * solve must go through the eigen fallback and still give finite numbers
   * whose A x reproduces b on the well-determined subspace */
  const int n = 14;
  double H[196], b[14], x[14], ld;
  for (int i = 0; i < n; i++) {
    b[i] = 1.0;
    for (int j = 0; j < n; j++) H[i * n + j] = 1.0 / (i + j + 1);
  }
  assert_int_equal(rvs_spd_solve_logdet(H, n, b, x, &ld), RVS_SPD_FALLBACK);
  assert_true(isfinite(ld));
  /* the pseudo-determinant is bounded by the exact one from below (dropped
   * eigenvalues are floored at n eps lambda_max, far above the true ones) */
  assert_true(ld > (double)hilbert_logdet(n));
  assert_true(ld < 0);
  double r2 = 0, b2 = 0;
  for (int i = 0; i < n; i++) {
    double t = 0;
    for (int j = 0; j < n; j++) t += H[i * n + j] * x[j];
    r2 += (t - b[i]) * (t - b[i]);
    b2 += b[i] * b[i];
  }
  assert_true(sqrt(r2 / b2) < 1e-6);
  /* H_8 (cond 1.5e10) still takes the Cholesky path */
  double H8[64];
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 8; j++) H8[i * 8 + j] = 1.0 / (i + j + 1);
  assert_int_equal(rvs_spd_solve_logdet(H8, 8, b, x, &ld), RVS_OK);
  assert_close_abs(ld, (double)hilbert_logdet(8), 1e-5);
}

static void test_spd_solve_cholesky_path(void **state) {
  (void)state;
  const int n = 10;
  double A[100], b[10], x[10], ld;
  random_spd(n, 99, A);
  unsigned long long s = 5;
  for (int i = 0; i < n; i++) b[i] = urand(&s);
  long double xr[10];
  long double ldr = ld_solve(A, n, b, xr);
  assert_int_equal(rvs_spd_solve_logdet(A, n, b, x, &ld), RVS_OK);
  assert_close_abs(ld, (double)ldr, 1e-12);
  for (int i = 0; i < n; i++) assert_close_rel(x[i], (double)xr[i], 1e-12, 1e-12);
  /* x may alias b */
  assert_int_equal(rvs_spd_solve_logdet(A, n, b, b, &ld), RVS_OK);
  for (int i = 0; i < n; i++) assert_close_rel(b[i], (double)xr[i], 1e-12, 1e-12);
}

/* Q diag(d) Q^T with Q a product of Givens rotations */
static void rotated_diag(int n, const double *d, unsigned long long seed, double *A) {
  double Q[400];
  for (int i = 0; i < n * n; i++) Q[i] = (i % (n + 1) == 0) ? 1.0 : 0.0;
  unsigned long long s = seed;
  for (int r = 0; r < 3 * n; r++) {
    int p = (int)((urand(&s) + 1) * 0.5 * n) % n, q = (p + 1 + r % (n - 1)) % n;
    double th = urand(&s) * M_PI, c = cos(th), sn = sin(th);
    for (int i = 0; i < n; i++) {
      double g = Q[i * n + p], h = Q[i * n + q];
      Q[i * n + p] = c * g - sn * h;
      Q[i * n + q] = sn * g + c * h;
    }
  }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      double t = 0;
      for (int k = 0; k < n; k++) t += Q[i * n + k] * d[k] * Q[j * n + k];
      A[i * n + j] = t;
    }
  /* exact symmetry */
  for (int i = 0; i < n; i++)
    for (int j = 0; j < i; j++) A[j * n + i] = A[i * n + j];
}

static void test_spd_solve_indefinite_falls_back(void **state) {
  (void)state;
  /* eigenvalues 3, -2, 1, 0.5: Cholesky must fail; the SVD semantics give
   * ln det = sum ln|lambda| = ln 3 and the true inverse */
  const int n = 4;
  const double d[4] = {3, -2, 1, 0.5};
  double A[16], b[4] = {1, 2, -1, 0.25}, x[4], ld;
  rotated_diag(n, d, 31, A);
  long double xr[4];
  ld_solve(A, n, b, xr);
  assert_int_equal(rvs_spd_solve_logdet(A, n, b, x, &ld), RVS_SPD_FALLBACK);
  assert_close_abs(ld, log(3.0), 1e-13);
  for (int i = 0; i < n; i++) assert_close_rel(x[i], (double)xr[i], 1e-12, 1e-12);
}

static void test_spd_solve_singular_pseudo_inverse(void **state) {
  (void)state;
  /* rank 2 of 3: eigenvalues 4, 2, 0.  The zero direction is dropped from the
   * solve (pseudo-inverse) and floored at n*eps*max in ln det. */
  const int n = 3;
  double A[9] = {3, 1, 0, 1, 3, 0, 0, 0, 0}; /* eig 4 (1,1,0), 2 (1,-1,0), 0 (0,0,1) */
  double b[3] = {1, 0, 5}, x[3], ld;
  assert_int_equal(rvs_spd_solve_logdet(A, n, b, x, &ld), RVS_SPD_FALLBACK);
  /* pinv b = (1,1,0)(1/4)(1/2) + (1,-1,0)(1/2)(1/2) */
  assert_close_abs(x[0], 0.125 + 0.25, 1e-15);
  assert_close_abs(x[1], 0.125 - 0.25, 1e-15);
  assert_close_abs(x[2], 0.0, 1e-300);
  assert_close_abs(ld, log(4.0) + log(2.0) + log(3 * DBL_EPSILON * 4.0), 1e-12);

  /* the same with a rotated basis (the zero eigenvalue is only ~1e-16) */
  const double d[3] = {4, 2, 0};
  rotated_diag(n, d, 7, A);
  assert_int_equal(rvs_spd_solve_logdet(A, n, b, x, &ld), RVS_SPD_FALLBACK);
  assert_true(isfinite(ld));
  assert_close_abs(ld, log(4.0) + log(2.0) + log(3 * DBL_EPSILON * 4.0), 1e-9);
  /* pseudo-inverse solution: A x = projection of b onto range(A), and x is
   * orthogonal to the null space, so A x reproduces A pinv(A) b; check
   * A x = A A^+ b through A (A x) = A b' with b' = A x, i.e. x^T A x = x . b */
  double Ax[3] = {0, 0, 0}, xAx = 0, xb = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) Ax[i] += A[i * n + j] * x[j];
  for (int i = 0; i < n; i++) {
    xAx += x[i] * Ax[i];
    xb += x[i] * b[i];
  }
  assert_close_rel(xAx, xb, 1e-12, 1e-12);
  /* and A x = P b where P is the range projector = A (A^+)... check directly:
   * residual b - A x lies in the null space, so A (b - A x) = 0 */
  for (int i = 0; i < n; i++) {
    double t = 0;
    for (int j = 0; j < n; j++) t += A[i * n + j] * (b[j] - Ax[j]);
    assert_close_abs(t, 0.0, 1e-13);
  }
}

static void test_spd_solve_zero_matrix_fails(void **state) {
  (void)state;
  double A[4] = {0, 0, 0, 0}, b[2] = {1, 1}, x[2], ld;
  assert_int_equal(rvs_spd_solve_logdet(A, 2, b, x, &ld), RVS_ERR_NUMERIC);
  assert_true(strlen(rvs_last_error()) > 0);
}

static void test_lu_and_inverse_vs_longdouble(void **state) {
  (void)state;
  const int n = 7;
  double A[49], LU[49], Ainv[49], b[7];
  int piv[7];
  unsigned long long s = 123;
  for (int i = 0; i < n * n; i++) A[i] = urand(&s);
  for (int i = 0; i < n; i++) b[i] = urand(&s);
  long double xr[7];
  ld_solve(A, n, b, xr);
  memcpy(LU, A, sizeof A);
  assert_int_equal(rvs_lu_factor(LU, n, piv), RVS_OK);
  double x[7];
  memcpy(x, b, sizeof b);
  rvs_lu_solve(LU, n, piv, x);
  for (int i = 0; i < n; i++) assert_close_rel(x[i], (double)xr[i], 1e-12, 1e-12);

  assert_int_equal(rvs_matrix_inverse(A, n, Ainv), RVS_OK);
  /* column k of the inverse = solution for e_k, in long double */
  for (int k = 0; k < n; k++) {
    double e[7] = {0};
    e[k] = 1;
    long double col[7];
    ld_solve(A, n, e, col);
    for (int i = 0; i < n; i++) assert_close_rel(Ainv[i * n + k], (double)col[i], 1e-12, 1.0);
  }
  /* in place */
  double B[49];
  memcpy(B, A, sizeof A);
  assert_int_equal(rvs_matrix_inverse(B, n, B), RVS_OK);
  for (int i = 0; i < n * n; i++) assert_close_abs(B[i], Ainv[i], 1e-14);
}

static void test_inverse_singular_rejected(void **state) {
  (void)state;
  const double A[9] = {1, 2, 3, 2, 4, 6, 0, 1, 1}; /* row1 = 2 row0 */
  double Ainv[9];
  assert_int_equal(rvs_matrix_inverse(A, 3, Ainv), RVS_ERR_NUMERIC);
  assert_non_null(strstr(rvs_last_error(), "singular"));
  assert_int_equal(rvs_matrix_inverse(A, 0, Ainv), RVS_ERR_ARG);
}

static void test_large_n_heap_paths(void **state) {
  (void)state;
  /* n above the stack limit exercises the allocating paths */
  const int n = 40;
  double *A = malloc(sizeof(double) * n * n), *V = malloc(sizeof(double) * n * n);
  double ev[40], b[40], x[40], ld;
  assert_non_null(A);
  assert_non_null(V);
  random_spd(n, 2024, A);
  unsigned long long s = 9;
  for (int i = 0; i < n; i++) b[i] = urand(&s);
  long double xr[40];
  long double ldr = ld_solve(A, n, b, xr);
  assert_int_equal(rvs_spd_solve_logdet(A, n, b, x, &ld), RVS_OK);
  assert_close_abs(ld, (double)ldr, 1e-11);
  for (int i = 0; i < n; i++) assert_close_rel(x[i], (double)xr[i], 1e-11, 1e-11);
  assert_int_equal(rvs_sym_eig(A, n, ev, V), RVS_OK);
  double sl = 0;
  for (int k = 0; k < n; k++) sl += log(ev[k]);
  assert_close_abs(sl, (double)ldr, 1e-10);
  free(A);
  free(V);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_chol_known_factor),
    cmocka_unit_test(test_chol_random_vs_longdouble),
    cmocka_unit_test(test_chol_rejects_indefinite_and_nan),
    cmocka_unit_test(test_sym_eig_known_2x2),
    cmocka_unit_test(test_sym_eig_random_reconstructs),
    cmocka_unit_test(test_sym_eig_hilbert_small_eigenvalues),
    cmocka_unit_test(test_spd_solve_cholesky_path),
    cmocka_unit_test(test_spd_solve_hilbert_ill_conditioned),
    cmocka_unit_test(test_spd_solve_indefinite_falls_back),
    cmocka_unit_test(test_spd_solve_singular_pseudo_inverse),
    cmocka_unit_test(test_spd_solve_zero_matrix_fails),
    cmocka_unit_test(test_lu_and_inverse_vs_longdouble),
    cmocka_unit_test(test_inverse_singular_rejected),
    cmocka_unit_test(test_large_n_heap_paths),
};

RVS_TEST_MAIN(tests)
