/* Marginalised likelihood (src/core/chisq.c) against upstream
 * spec_fit.get_chisq0 (hard-coded), a long double least-squares reference,
 * exact fits, and rank-deficient systems with known pseudo-inverse answers. */
#include "rvs_test.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "core/basis.h"
#include "core/chisq.h"
#include "core/linalg.h"
#include "core/resolution.h"
#include "rvs/status.h"

static double urand(unsigned long long *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

#define PMAX 12

/* Long double reference: S_j = B_j t / sigma, M = S S^T, v = S D, a = M^-1 v
 * by Gauss-Jordan, -2lnL = ln det M + 2 sum ln sigma + ||D - S^T a||^2. */
static long double ref_chisq(const double *d, const double *sig, const double *t,
                             const double *B, int n, int P, long double *a) {
  long double M[PMAX][PMAX + 1];
  for (int j = 0; j < P; j++) {
    for (int k = 0; k < P; k++) {
      long double s = 0;
      for (int i = 0; i < n; i++)
        s += ((long double)B[j * n + i] * t[i] / sig[i]) * ((long double)B[k * n + i] * t[i] / sig[i]);
      M[j][k] = s;
    }
    long double s = 0;
    for (int i = 0; i < n; i++)
      s += ((long double)B[j * n + i] * t[i] / sig[i]) * ((long double)d[i] / sig[i]);
    M[j][P] = s;
  }
  long double logdet = 0;
  for (int k = 0; k < P; k++) {
    int p = k;
    for (int i = k + 1; i < P; i++)
      if (fabsl(M[i][k]) > fabsl(M[p][k])) p = i;
    for (int j = 0; j <= P; j++) {
      long double tmp = M[k][j];
      M[k][j] = M[p][j];
      M[p][j] = tmp;
    }
    logdet += logl(fabsl(M[k][k]));
    for (int i = 0; i < P; i++) {
      if (i == k) continue;
      long double f = M[i][k] / M[k][k];
      for (int j = k; j <= P; j++) M[i][j] -= f * M[k][j];
    }
  }
  for (int j = 0; j < P; j++) a[j] = M[j][P] / M[j][j];
  long double res = 0, lsig = 0;
  for (int i = 0; i < n; i++) {
    long double m = 0;
    for (int j = 0; j < P; j++) m += a[j] * B[j * n + i];
    long double r = (long double)d[i] / sig[i] - m * t[i] / sig[i];
    res += r * r;
    lsig += logl(sig[i]);
  }
  return logdet + 2 * lsig + res;
}

/* a synthetic arm: lam, basis (P=10 RBF), template with lines, data =
 * continuum * template + noise, sigma varying */
typedef struct arm {
  int n, P;
  double *lam, *B, *t, *d, *sig;
} arm;

static void arm_make(arm *A, int n, int P, unsigned long long seed) {
  A->n = n;
  A->P = P;
  A->lam = malloc(sizeof(double) * n);
  A->B = malloc(sizeof(double) * n * P);
  A->t = malloc(sizeof(double) * n);
  A->d = malloc(sizeof(double) * n);
  A->sig = malloc(sizeof(double) * n);
  assert_true(A->lam && A->B && A->t && A->d && A->sig);
  unsigned long long s = seed;
  for (int i = 0; i < n; i++) A->lam[i] = 5000.0 + 0.8 * i;
  assert_int_equal(rvs_continuum_basis(A->lam, n, P, 1, A->B), RVS_OK);
  for (int i = 0; i < n; i++) {
    double x = (double)i / n;
    A->t[i] = 1.0 - 0.6 * exp(-0.5 * pow((x - 0.3) / 0.01, 2)) - 0.3 * exp(-0.5 * pow((x - 0.7) / 0.02, 2));
    A->sig[i] = 0.05 + 0.03 * (1 + urand(&s));
    double cont = 3.0 + x - 0.5 * x * x;
    A->d[i] = cont * A->t[i] + A->sig[i] * urand(&s) * 1.7;
  }
}

static void arm_free(arm *A) {
  free(A->lam);
  free(A->B);
  free(A->t);
  free(A->d);
  free(A->sig);
}

static void test_matches_upstream_get_chisq0(void **state) {
  (void)state;
  /* inputs built from correctly rounded operations only, so identical to
   * the Python that produced the reference (spec_fit.get_chisq0, SVD path) */
  enum { n = 50, P = 10 };
  double lam[n], t[n], d[n], e[n], B[P * n], a[P];
  for (int i = 0; i < n; i++) {
    double x = i;
    lam[i] = 4000 + 1.0 * x;
    t[i] = 1 - 0.5 / (1 + ((x - 20) / 2) * ((x - 20) / 2));
    d[i] = t[i] * (2 + 0.01 * x) + (((i * 37) % 11) - 5) / 50.0;
    e[i] = 0.1 + (i % 7) / 100.0;
  }
  assert_int_equal(rvs_continuum_basis(lam, n, P, 1, B), RVS_OK);
  const double up_chisq = -152.29197609437719;
  const double up_coeffs[P] = {2.0456633859037652, 0.42865311441619269, -0.34730365973064181,
                               0.64722863527941854, 0.4515432869532674, 0.26167355401247505,
                               0.16588091126658355, 0.16832324817846711, 0.19618410742873493,
                               0.36903755322964571};
  double m2, m2f;
  assert_int_equal(rvs_marg_chisq(d, e, t, B, n, P, &m2, NULL, NULL, NULL, NULL), RVS_OK);
  assert_close_abs(m2, up_chisq, 1e-10);
  rvs_chisq_full full = {.coeffs = a};
  assert_int_equal(rvs_marg_chisq(d, e, t, B, n, P, &m2f, &full, NULL, NULL, NULL), RVS_OK);
  assert_true(m2f == m2); /* full output uses the same solve */
  assert_int_equal(full.used_fallback, 0);
  for (int j = 0; j < P; j++) assert_close_rel(a[j], up_coeffs[j], 1e-9, 1e-9);
}

static void test_random_vs_longdouble(void **state) {
  (void)state;
  const int sizes[3] = {300, 2000, 57};
  const int Ps[3] = {10, 10, 5};
  for (int c = 0; c < 3; c++) {
    arm A;
    arm_make(&A, sizes[c], Ps[c], 100 + c);
    long double ar[PMAX];
    long double ref = ref_chisq(A.d, A.sig, A.t, A.B, A.n, A.P, ar);
    double m2, a[PMAX], model[2000];
    assert_int_equal(rvs_marg_chisq(A.d, A.sig, A.t, A.B, A.n, A.P, &m2, NULL, NULL, NULL, NULL), RVS_OK);
    assert_close_rel(m2, (double)ref, 1e-10, 1.0);
    rvs_chisq_full full = {.coeffs = a, .model = model};
    assert_int_equal(rvs_marg_chisq(A.d, A.sig, A.t, A.B, A.n, A.P, &m2, &full, NULL, NULL, NULL), RVS_OK);
    assert_close_rel(m2, (double)ref, 1e-10, 1.0);
    double amax = 0;
    for (int j = 0; j < A.P; j++) amax = fmax(amax, fabs((double)ar[j]));
    for (int j = 0; j < A.P; j++) assert_close_rel(a[j], (double)ar[j], 1e-9, amax);
    for (int i = 0; i < A.n; i++) {
      long double m = 0;
      for (int j = 0; j < A.P; j++) m += ar[j] * A.B[j * A.n + i];
      assert_close_rel(model[i], (double)(m * A.t[i]), 1e-9, 1e-6);
    }
    assert_int_equal(full.npix, A.n);
    arm_free(&A);
  }
}

static void test_exact_fit_recovers_coefficients(void **state) {
  (void)state;
  /* d = sum a_j B_j t exactly: residual 0, -2lnL = ln det M + 2 sum ln sigma */
  arm A;
  arm_make(&A, 400, 10, 7);
  const double a0[10] = {2.5, 0.3, -0.2, 0.1, -0.05, 0.2, 0.15, -0.1, 0.05, 0.3};
  for (int i = 0; i < A.n; i++) {
    double m = 0;
    for (int j = 0; j < 10; j++) m += a0[j] * A.B[j * A.n + i];
    A.d[i] = m * A.t[i];
  }
  long double ar[PMAX];
  long double ref = ref_chisq(A.d, A.sig, A.t, A.B, A.n, 10, ar);
  long double lsig = 0;
  for (int i = 0; i < A.n; i++) lsig += logl(A.sig[i]);
  double m2, a[10], model[400];
  rvs_chisq_full full = {.coeffs = a, .model = model};
  assert_int_equal(rvs_marg_chisq(A.d, A.sig, A.t, A.B, A.n, 10, &m2, &full, NULL, NULL, NULL), RVS_OK);
  for (int j = 0; j < 10; j++) assert_close_abs(a[j], a0[j], 1e-10);
  /* the residual part is ~0: m2 - 2 sum ln sigma = ln det M */
  assert_close_abs(m2, (double)ref, 1e-9);
  assert_close_abs((double)(ref - 2 * lsig), m2 - 2 * (double)lsig, 1e-9);
  assert_true(full.true_chisq < 1e-18);
  for (int i = 0; i < A.n; i++) assert_close_abs(model[i], A.d[i], 1e-12);
  arm_free(&A);
}

/* largest eigenvalue of the normal matrix by power iteration (long double) */
static long double lambda_max(const double *t, const double *sig, const double *B, int n, int P) {
  long double M[PMAX][PMAX], x[PMAX], lam = 0;
  for (int j = 0; j < P; j++)
    for (int k = 0; k < P; k++) {
      long double s = 0;
      for (int i = 0; i < n; i++) s += (long double)B[j * n + i] * B[k * n + i] * t[i] * t[i] / ((long double)sig[i] * sig[i]);
      M[j][k] = s;
    }
  for (int j = 0; j < P; j++) x[j] = 1.0L + 0.1L * j;
  for (int it = 0; it < 2000; it++) {
    long double y[PMAX], nrm = 0;
    for (int j = 0; j < P; j++) {
      y[j] = 0;
      for (int k = 0; k < P; k++) y[j] += M[j][k] * x[k];
      nrm += y[j] * y[j];
    }
    nrm = sqrtl(nrm);
    long double xn = 0;
    for (int j = 0; j < P; j++) xn += x[j] * x[j];
    lam = nrm / sqrtl(xn);
    for (int j = 0; j < P; j++) x[j] = y[j] / nrm;
  }
  return lam;
}

static void test_duplicate_basis_rows_fallback(void **state) {
  (void)state;
  /* basis row 9 := row 3: M is exactly singular.  Fallback: the pseudo-
   * inverse gives the same fit as the 9-row basis without the copy, with the
   * duplicated coefficient split evenly (minimum norm); ln det is the pseudo-
   * determinant (= 2 det M' for a duplicated row) times the floor
   * P eps lambda_max for the null direction. */
  arm A;
  arm_make(&A, 500, 10, 21);
  memcpy(A.B + 9 * A.n, A.B + 3 * A.n, sizeof(double) * A.n);
  long double ar[PMAX];
  long double ref9 = ref_chisq(A.d, A.sig, A.t, A.B, A.n, 9, ar);
  long double lmax = lambda_max(A.t, A.sig, A.B, A.n, 10);
  long double expect = ref9 + logl(2.0L) + logl(10 * DBL_EPSILON * lmax);
  double m2, a[10];
  rvs_chisq_full full = {.coeffs = a};
  assert_int_equal(rvs_marg_chisq(A.d, A.sig, A.t, A.B, A.n, 10, &m2, &full, NULL, NULL, NULL), RVS_OK);
  assert_int_equal(full.used_fallback, 1);
  assert_true(isfinite(m2));
  assert_close_abs(m2, (double)expect, 1e-7);
  for (int j = 0; j < 9; j++)
    if (j != 3) assert_close_rel(a[j], (double)ar[j], 1e-7, 1e-3);
  assert_close_rel(a[3], (double)(ar[3] / 2), 1e-7, 1e-3);
  assert_close_rel(a[9], (double)(ar[3] / 2), 1e-7, 1e-3);
  /* the fast path gives the same number */
  double m2fast;
  assert_int_equal(rvs_marg_chisq(A.d, A.sig, A.t, A.B, A.n, 10, &m2fast, NULL, NULL, NULL, NULL), RVS_OK);
  assert_true(m2fast == m2);
  arm_free(&A);
}

static void test_template_zero_region_fallback(void **state) {
  (void)state;
  /* The template is zero on 2/3 of the pixels and the last basis function
   * lives only there, so S_4 = 0 and M has an exactly zero row/column:
   * Cholesky fails, the fallback drops that direction (a_4 = 0), floors
   * its eigenvalue in ln det, and the rest is the 4-function fit.  (A cubic
   * Chebyshev basis keeps the 4-function problem well conditioned on the
   * third of the range where the template lives.) */
  arm A;
  arm_make(&A, 300, 5, 5);
  assert_int_equal(rvs_continuum_basis(A.lam, A.n, 4, 0, A.B), RVS_OK);
  for (int i = 100; i < A.n; i++) A.t[i] = 0.0;
  for (int i = 0; i < A.n; i++) A.B[4 * A.n + i] = (i >= 150) ? 1.0 + 0.01 * i : 0.0;
  long double ar[PMAX];
  long double ref4 = ref_chisq(A.d, A.sig, A.t, A.B, A.n, 4, ar);
  long double lmax = lambda_max(A.t, A.sig, A.B, A.n, 4);
  long double expect = ref4 + logl(5 * DBL_EPSILON * lmax);
  double m2, a[5];
  rvs_chisq_full full = {.coeffs = a};
  assert_int_equal(rvs_marg_chisq(A.d, A.sig, A.t, A.B, A.n, 5, &m2, &full, NULL, NULL, NULL), RVS_OK);
  assert_int_equal(full.used_fallback, 1);
  assert_close_abs(m2, (double)expect, 1e-8);
  assert_true(a[4] == 0.0);
  double amax = 0;
  for (int j = 0; j < 4; j++) amax = fmax(amax, fabs((double)ar[j]));
  for (int j = 0; j < 4; j++) assert_close_rel(a[j], (double)ar[j], 1e-9, amax);
  arm_free(&A);
}

static void test_badmask_true_chisq(void **state) {
  (void)state;
  arm A;
  arm_make(&A, 600, 10, 33);
  unsigned char *bad = calloc(A.n, 1);
  double *sig_true = malloc(sizeof(double) * A.n), *model = malloc(sizeof(double) * A.n);
  assert_true(bad && sig_true && model);
  /* the solve uses sigma = sqrt(sigma_true^2 + sys^2); true chi2 uses sigma_true */
  long nbad = 0;
  for (int i = 0; i < A.n; i++) {
    sig_true[i] = A.sig[i];
    A.sig[i] = sqrt(sig_true[i] * sig_true[i] + 0.02 * 0.02);
    bad[i] = (i % 5 == 2) || (i > 590);
    nbad += bad[i];
  }
  long double ar[PMAX];
  long double ref = ref_chisq(A.d, A.sig, A.t, A.B, A.n, 10, ar);
  long double tc = 0;
  for (int i = 0; i < A.n; i++) {
    if (bad[i]) continue;
    long double m = 0;
    for (int j = 0; j < 10; j++) m += ar[j] * A.B[j * A.n + i];
    long double r = (m * A.t[i] - A.d[i]) / sig_true[i];
    tc += r * r;
  }
  double m2, a[10];
  rvs_chisq_full full = {.coeffs = a, .model = model};
  assert_int_equal(rvs_marg_chisq(A.d, A.sig, A.t, A.B, A.n, 10, &m2, &full, bad, sig_true, NULL), RVS_OK);
  assert_close_rel(m2, (double)ref, 1e-10, 1.0);
  assert_int_equal(full.npix, A.n - nbad);
  assert_close_rel(full.true_chisq, (double)tc, 1e-9, 1e-300);
  /* the badmask does not enter -2lnL */
  double m2b;
  assert_int_equal(rvs_marg_chisq(A.d, A.sig, A.t, A.B, A.n, 10, &m2b, NULL, bad, sig_true, NULL), RVS_OK);
  assert_true(m2b == m2);
  /* model == NULL is allowed */
  full.model = NULL;
  assert_int_equal(rvs_marg_chisq(A.d, A.sig, A.t, A.B, A.n, 10, &m2b, &full, bad, sig_true, NULL), RVS_OK);
  assert_close_rel(full.true_chisq, (double)tc, 1e-9, 1e-300);
  free(bad);
  free(sig_true);
  free(model);
  arm_free(&A);
}

static void test_continuum_only(void **state) {
  (void)state;
  /* upstream get_chisq0(d, ones, B, get_coeffs=True, espec=e) on the same
   * inputs as test_matches_upstream_get_chisq0, then the true chi2 over
   * ~badmask (bad = i % 9 == 4) as get_chisq_continuum computes it */
  enum { n = 50, P = 10 };
  double lam[n], d[n], e[n], B[P * n], a[P], model[n], m2;
  unsigned char bad[n];
  for (int i = 0; i < n; i++) {
    double x = i;
    double t = 1 - 0.5 / (1 + ((x - 20) / 2) * ((x - 20) / 2));
    lam[i] = 4000 + 1.0 * x;
    d[i] = t * (2 + 0.01 * x) + (((i * 37) % 11) - 5) / 50.0;
    e[i] = 0.1 + (i % 7) / 100.0;
    bad[i] = (i % 9) == 4;
  }
  assert_int_equal(rvs_continuum_basis(lam, n, P, 1, B), RVS_OK);
  rvs_chisq_full full = {.coeffs = a, .model = model};
  assert_int_equal(rvs_marg_chisq_continuum(d, e, NULL, B, n, P, bad, &full, &m2, NULL), RVS_OK);
  assert_close_abs(m2, -85.97025713967767, 1e-10);
  assert_close_rel(full.true_chisq, 70.054623051969486, 1e-11, 1e-300);
  assert_int_equal(full.npix, 44);

  /* with a resolution matrix: t = R @ 1 (DESI-prepared rows do not sum to 1) */
  arm A;
  arm_make(&A, 200, 10, 3);
  float rdata[11 * 200];
  for (int k = 0; k < 11; k++)
    for (int j = 0; j < 200; j++)
      rdata[k * 200 + j] = (float)(exp(-0.5 * (k - 5) * (k - 5) / 1.69) * (1 + 0.1 * sin(0.05 * j)) / 3.3);
  rvs_banded R;
  assert_int_equal(rvs_desi_resolution_prepare(rdata, 200, 0.8, 0.5, &R), RVS_OK);
  double ones[200], rone[200], a2[10];
  for (int i = 0; i < 200; i++) ones[i] = 1.0;
  rvs_banded_apply(&R, ones, rone);
  long double ar[PMAX];
  long double ref = ref_chisq(A.d, A.sig, rone, A.B, A.n, 10, ar);
  double *work = malloc(sizeof(double) * rvs_marg_chisq_continuum_work_size(200, 10));
  assert_non_null(work);
  rvs_chisq_full f2 = {.coeffs = a2};
  assert_int_equal(rvs_marg_chisq_continuum(A.d, A.sig, rone, A.B, A.n, 10, NULL, &f2, &m2, work), RVS_OK);
  assert_close_rel(m2, (double)ref, 1e-10, 1.0);
  assert_int_equal(f2.npix, 200);
  long double tc = 0;
  for (int i = 0; i < 200; i++) {
    long double m = 0;
    for (int j = 0; j < 10; j++) m += ar[j] * A.B[j * 200 + i];
    long double r = (m * rone[i] - A.d[i]) / A.sig[i];
    tc += r * r;
  }
  assert_close_rel(f2.true_chisq, (double)tc, 1e-9, 1e-300);
  free(work);
  rvs_banded_free(&R);
  arm_free(&A);
}

static void test_precomputed_agrees(void **state) {
  (void)state;
  arm A;
  arm_make(&A, 1500, 10, 8);
  rvs_chisq_pre pre;
  assert_int_equal(rvs_chisq_pre_init(&pre, A.d, A.sig, A.B, A.n, 10), RVS_OK);
  double *work = malloc(sizeof(double) * rvs_marg_chisq_pre_work_size(10));
  assert_non_null(work);
  /* several templates: the one of the data, shifted ones, a flat one */
  for (int trial = 0; trial < 4; trial++) {
    double *t = malloc(sizeof(double) * A.n);
    assert_non_null(t);
    for (int i = 0; i < A.n; i++) t[i] = (trial == 3) ? 1.0 : A.t[(i + 7 * trial) % A.n];
    double m2e, m2p, ae[10], ap[10];
    int fb = -1;
    rvs_chisq_full full = {.coeffs = ae};
    assert_int_equal(rvs_marg_chisq(A.d, A.sig, t, A.B, A.n, 10, &m2e, &full, NULL, NULL, NULL), RVS_OK);
    assert_int_equal(rvs_marg_chisq_pre(&pre, t, &m2p, ap, &fb, work), RVS_OK);
    assert_int_equal(fb, 0);
    assert_close_rel(m2p, m2e, 1e-9, 1.0);
    double amax = 0;
    for (int j = 0; j < 10; j++) amax = fmax(amax, fabs(ae[j]));
    for (int j = 0; j < 10; j++) assert_close_rel(ap[j], ae[j], 1e-9, amax);
    /* against long double too */
    long double ar[PMAX];
    long double ref = ref_chisq(A.d, A.sig, t, A.B, A.n, 10, ar);
    assert_close_rel(m2p, (double)ref, 1e-9, 1.0);
    free(t);
  }
  /* singular case goes through the fallback as well */
  memcpy(A.B + 9 * A.n, A.B + 3 * A.n, sizeof(double) * A.n);
  rvs_chisq_pre pre2;
  assert_int_equal(rvs_chisq_pre_init(&pre2, A.d, A.sig, A.B, A.n, 10), RVS_OK);
  double m2e, m2p;
  int fb = 0;
  assert_int_equal(rvs_marg_chisq(A.d, A.sig, A.t, A.B, A.n, 10, &m2e, NULL, NULL, NULL, NULL), RVS_OK);
  assert_int_equal(rvs_marg_chisq_pre(&pre2, A.t, &m2p, NULL, &fb, NULL), RVS_OK);
  assert_int_equal(fb, 1);
  assert_close_rel(m2p, m2e, 1e-8, 1.0);
  rvs_chisq_pre_free(&pre);
  rvs_chisq_pre_free(&pre2);
  assert_null(pre.Q);
  free(work);
  arm_free(&A);
}

/* The summation order documented in chisq.h (and repeated by the CUDA
 * backend, which must give identical bits), written out plainly: lane sums of
 * per-block partials, the tail block, the lane join; then rvs_chol_* and the
 * explicit residual.  Must equal rvs_marg_chisq_sig bit for bit. */
static double ordered_sum(int n, double (*prod)(int i, const void *ctx), const void *ctx) {
  int n4 = n & ~3, nreg = (n4 + RVS_NE_BLOCK - 1) / RVS_NE_BLOCK;
  int nblk = nreg + (n > n4 ? 1 : 0);
  double lane[4] = {0, 0, 0, 0};
  for (int b = 0; b < nblk; b++) {
    int s = b < nreg ? b * RVS_NE_BLOCK : n4;
    int e = b < nreg ? (s + RVS_NE_BLOCK < n4 ? s + RVS_NE_BLOCK : n4) : n;
    for (int q = 0; q < 4; q++) {
      double part = 0.0;
      for (int i = s + q; i < e; i += 4) part += prod(i, ctx);
      lane[q] += part;
    }
  }
  return (lane[0] + lane[1]) + (lane[2] + lane[3]);
}

typedef struct ord_ctx {
  const double *B, *t, *isig, *D, *a;
  int n, P, j, k; /* k < 0: v_j */
} ord_ctx;

static double ord_prod(int i, const void *vc) {
  const ord_ctx *c = vc;
  double ws = c->t[i] * c->isig[i];
  double w = ws * ws;
  if (c->k < 0) return c->B[(size_t)c->j * c->n + i] * (c->D[i] * ws);
  return (c->B[(size_t)c->j * c->n + i] * w) * c->B[(size_t)c->k * c->n + i];
}

static double ord_resid2(int i, const ord_ctx *c) {
  double cc = c->a[0] * c->B[i];
  for (int j = 1; j < c->P; j++) cc += c->a[j] * c->B[(size_t)j * c->n + i];
  double ws = c->t[i] * c->isig[i];
  double r = c->D[i] - ws * cc;
  return r * r;
}

static double ordered_m2lnl(const double *d, const double *sig, const double *t, const double *B,
                            int n, int P) {
  double *D = malloc(sizeof(double) * n), *isig = malloc(sizeof(double) * n);
  assert_true(D && isig);
  double lsig = 0;
  for (int i = 0; i < n; i++) {
    isig[i] = 1.0 / sig[i];
    D[i] = d[i] / sig[i];
    lsig += log(sig[i]);
  }
  double M[PMAX * PMAX], v[PMAX], a[PMAX];
  ord_ctx c = {B, t, isig, D, NULL, n, P, 0, 0};
  for (int j = 0; j < P; j++) {
    for (int k = j; k < P; k++) {
      c.j = j;
      c.k = k;
      M[j * P + k] = M[k * P + j] = ordered_sum(n, ord_prod, &c);
    }
    c.j = j;
    c.k = -1;
    v[j] = ordered_sum(n, ord_prod, &c);
  }
  assert_int_equal(rvs_chol_factor(M, P), RVS_OK);
  memcpy(a, v, sizeof(double) * P);
  rvs_chol_solve(M, P, a);
  double ld = rvs_chol_logdet(M, P);
  c.a = a;
  int n4 = n & ~3;
  double lane[4] = {0, 0, 0, 0};
  for (int i = 0; i < n4; i++) lane[i % 4] += ord_resid2(i, &c);
  for (int i = n4; i < n; i++) lane[0] += ord_resid2(i, &c);
  double resid = (lane[0] + lane[1]) + (lane[2] + lane[3]);
  free(D);
  free(isig);
  return ld + 2 * lsig + resid;
}

static void test_summation_order_is_the_documented_one(void **state) {
  (void)state;
  const int ns[] = {3, 4, 5, 127, 128, 131, 256, 1021, 1024, 1029, 1500, 2051};
  const int Ps[] = {1, 2, 3, 5, 10, 12};
  int checked = 0;
  for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
    for (size_t b = 0; b < sizeof Ps / sizeof Ps[0]; b++) {
      int n = ns[a], P = Ps[b];
      if (n < 2 * P) continue;
      arm A;
      arm_make(&A, n, P, 1000 + 7 * a + b);
      double *isig = malloc(sizeof(double) * n), *D = malloc(sizeof(double) * n);
      assert_true(isig && D);
      double lsig = 0;
      for (int i = 0; i < n; i++) {
        isig[i] = 1.0 / A.sig[i];
        D[i] = A.d[i] / A.sig[i];
        lsig += log(A.sig[i]);
      }
      /* pass 0: the continuum basis (B_0 == 1: chisq.c's shortcut for row
       * 0); pass 1: B_0 not all ones (the general path) */
      for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) A.B[n / 2] = 1.25;
        double m2 = NAN;
        assert_int_equal(rvs_marg_chisq_sig(A.d, A.sig, D, isig, lsig, A.t, A.B, n, P, &m2,
                                            NULL, NULL, NULL),
                         RVS_OK);
        double ref = ordered_m2lnl(A.d, A.sig, A.t, A.B, n, P);
        if (memcmp(&m2, &ref, sizeof m2) != 0)
          fail_msg("n=%d P=%d pass %d: %.17g (chisq.c) != %.17g (documented order)", n, P,
                   pass, m2, ref);
        checked++;
      }
      free(isig);
      free(D);
      arm_free(&A);
    }
  }
  assert_true(checked > 100);
}

static void test_work_buffer_reuse_identical(void **state) {
  (void)state;
  arm A;
  arm_make(&A, 700, 10, 44);
  size_t ws = rvs_marg_chisq_work_size(700, 10);
  assert_true(ws >= 4 * 700);
  double *work = malloc(sizeof(double) * ws);
  assert_non_null(work);
  for (size_t k = 0; k < ws; k++) work[k] = NAN; /* stale garbage must not matter */
  double m1, m2, m3;
  assert_int_equal(rvs_marg_chisq(A.d, A.sig, A.t, A.B, A.n, 10, &m1, NULL, NULL, NULL, NULL), RVS_OK);
  assert_int_equal(rvs_marg_chisq(A.d, A.sig, A.t, A.B, A.n, 10, &m2, NULL, NULL, NULL, work), RVS_OK);
  /* a smaller problem in the same buffer, then the first again */
  double m5;
  assert_int_equal(rvs_marg_chisq(A.d, A.sig, A.t, A.B, 300, 5, &m5, NULL, NULL, NULL, work), RVS_OK);
  assert_int_equal(rvs_marg_chisq(A.d, A.sig, A.t, A.B, A.n, 10, &m3, NULL, NULL, NULL, work), RVS_OK);
  assert_true(m1 == m2);
  assert_true(m1 == m3);
  assert_true(isfinite(m5) && m5 != m1);
  free(work);
  arm_free(&A);
}

static void test_nonfinite_and_bad_args(void **state) {
  (void)state;
  arm A;
  arm_make(&A, 100, 10, 9);
  double *z = calloc(100, sizeof(double));
  assert_non_null(z);
  double m2 = 0, a[10];
  /* t == 0: M == 0, no direction survives: -2lnL is not finite */
  assert_int_equal(rvs_marg_chisq(A.d, A.sig, z, A.B, 100, 10, &m2, NULL, NULL, NULL, NULL),
                   RVS_ERR_NUMERIC);
  assert_false(isfinite(m2));
  assert_non_null(strstr(rvs_last_error(), "not finite"));
  /* NaN in the data */
  A.d[17] = NAN;
  rvs_chisq_full full = {.coeffs = a};
  assert_int_equal(rvs_marg_chisq(A.d, A.sig, A.t, A.B, 100, 10, &m2, &full, NULL, NULL, NULL),
                   RVS_ERR_NUMERIC);
  assert_false(isfinite(m2));
  assert_int_equal(rvs_marg_chisq(A.d, A.sig, A.t, A.B, 0, 10, &m2, NULL, NULL, NULL, NULL), RVS_ERR_ARG);
  assert_int_equal(rvs_marg_chisq(A.d, A.sig, A.t, A.B, 100, 0, &m2, NULL, NULL, NULL, NULL), RVS_ERR_ARG);
  rvs_chisq_full nocoef = {0};
  assert_int_equal(rvs_marg_chisq(A.d, A.sig, A.t, A.B, 100, 10, &m2, &nocoef, NULL, NULL, NULL), RVS_ERR_ARG);
  free(z);
  arm_free(&A);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_matches_upstream_get_chisq0),
    cmocka_unit_test(test_random_vs_longdouble),
    cmocka_unit_test(test_exact_fit_recovers_coefficients),
    cmocka_unit_test(test_duplicate_basis_rows_fallback),
    cmocka_unit_test(test_template_zero_region_fallback),
    cmocka_unit_test(test_badmask_true_chisq),
    cmocka_unit_test(test_continuum_only),
    cmocka_unit_test(test_precomputed_agrees),
    cmocka_unit_test(test_summation_order_is_the_documented_one),
    cmocka_unit_test(test_work_buffer_reuse_identical),
    cmocka_unit_test(test_nonfinite_and_bad_args),
};

RVS_TEST_MAIN(tests)
