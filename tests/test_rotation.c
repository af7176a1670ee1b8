/* Rotational broadening (src/core/rotation.c): kernel weights against an
 * independent quadrature, against upstream's values, and the convolution
 * against a brute-force scipy 'same' convolution and conservation laws. */
#include "rvs_test.h"

#include <stdlib.h>

#include "core/doppler.h"
#include "core/rotation.h"
#include "rvs/status.h"

static double urand(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return (double)((*s * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
}

/* Unnormalised rotation profile times cos(t) at x = sin(t) (Gray's profile,
 * eps = 0.6): [2(1-eps) cos t + (pi/2) eps cos^2 t] cos t.  The substitution
 * removes the sqrt singularity at |x| = 1. */
static long double profile_dt(long double t) {
  const long double eps = 0.6L, c = cosl(t);
  return (2 * (1 - eps) * c + 0.5L * 3.14159265358979323846264338327950288L * eps * c * c) * c;
}

static long double hat(long double t) { return fabsl(t) < 1 ? 1 - fabsl(t) : 0; }

/* W_k = int_{-1}^{1} Lambda(k - R x) K(x) dx by composite Simpson in t
 * (x = sin t), each piece between the kinks of Lambda handled separately. */
static long double weight_quadrature(double R, int k) {
  long double br[5] = {-1, ((long double)k - 1) / R, (long double)k / R, ((long double)k + 1) / R, 1};
  for (int i = 1; i < 4; i++) br[i] = br[i] < -1 ? -1 : (br[i] > 1 ? 1 : br[i]);
  long double total = 0;
  const int m = 2000; /* even */
  for (int p = 0; p < 4; p++) {
    long double a = br[p], b = br[p + 1];
    if (!(b > a)) continue;
    long double ta = asinl(a), tb = asinl(b), h = (tb - ta) / m, s = 0;
    for (int i = 0; i <= m; i++) {
      long double t = ta + h * i;
      long double f = hat((long double)k - (long double)R * sinl(t)) * profile_dt(t);
      s += f * ((i == 0 || i == m) ? 1 : (i % 2 ? 4 : 2));
    }
    total += s * h / 3;
  }
  return total;
}

static void kernel_sums_to_one_and_symmetric(void **state) {
  (void)state;
  double vs[5] = {0.5, 1.8, 15.0, 120.0, 500.0};
  double ker[200];
  for (int i = 0; i < 5; i++) {
    size_t len = 0;
    double R = vs[i] / RVS_SPEED_OF_LIGHT / 2e-5;
    assert_int_equal(rvs_vsini_kernel(vs[i], 2e-5, ker, 200, &len), RVS_OK);
    assert_int_equal(len, 2 * (size_t)ceil(R + 1) + 1);
    assert_int_equal(len, rvs_vsini_kernel_len(vs[i], 2e-5));
    long double sum = 0;
    for (size_t k = 0; k < len; k++) {
      sum += ker[k];
      assert_true(ker[k] >= 0);
      assert_true(ker[k] == ker[len - 1 - k]);
    }
    assert_close_abs((double)sum, 1.0, 1e-14);
    /* the profile peaks at the centre */
    assert_true(ker[len / 2] >= ker[len / 2 + 1]);
  }
}

/* Each normalised weight against the quadrature (normalised the same way):
 * sub-pixel R = 0.3, R = 2.5, R = 20 and vsini = 500 km/s (R = 83.4). */
static void kernel_matches_quadrature(void **state) {
  (void)state;
  double vs[4] = {1.8, 15.0, 120.0, 500.0};
  double ln_step = 2e-5;
  double *ker = malloc(sizeof(double) * 400);
  assert_non_null(ker);
  for (int i = 0; i < 4; i++) {
    double R = vs[i] / RVS_SPEED_OF_LIGHT / ln_step;
    size_t len;
    assert_int_equal(rvs_vsini_kernel(vs[i], ln_step, ker, 400, &len), RVS_OK);
    int kmax = (int)(len - 1) / 2;
    long double *w = malloc(sizeof(long double) * (size_t)(kmax + 1)), sum = 0;
    assert_non_null(w);
    for (int k = 0; k <= kmax; k++) {
      w[k] = weight_quadrature(R, k);
      sum += k ? 2 * w[k] : w[k];
    }
    for (int k = 0; k <= kmax; k++) assert_close_abs(ker[kmax + k], (double)(w[k] / sum), 1e-12);
    /* beyond the support (k >= R + 1) the weight is exactly zero */
    assert_true(ker[len - 1] == 0.0 && (double)(kmax) >= R + 1);
    if (i == 0) assert_true(ker[kmax + 1] > 0.05 && ker[kmax] < 0.9); /* sub-pixel: real spread */
    free(w);
  }
  free(ker);
}

/* Upstream values: rvspecfit.spec_fit.compute_vsini_kernel(R) with
 * R = vsini / spec_fit.SPEED_OF_LIGHT / 2e-5, the centre and right half
 * printed with repr(). */
static void kernel_matches_upstream(void **state) {
  (void)state;
  const double up3[3] = {0.8000083490479969, 0.09999582547600157, 0.0};
  const double up50[11] = {0.0829860463735369,  0.082062934991903,   0.07928108242031491,
                           0.07459987931044708, 0.06793950541877529, 0.05915316014112974,
                           0.04795141503210269, 0.03361367199882611, 0.013503610559924027,
                           0.0004017169398086092, 0.0};
  double ker[32];
  size_t len;
  assert_int_equal(rvs_vsini_kernel(3.0, 2e-5, ker, 32, &len), RVS_OK);
  assert_int_equal(len, 5);
  for (int k = 0; k < 3; k++) assert_close_abs(ker[2 + k], up3[k], 1e-15);
  assert_int_equal(rvs_vsini_kernel(50.0, 2e-5, ker, 32, &len), RVS_OK);
  assert_int_equal(len, 21);
  for (int k = 0; k < 11; k++) assert_close_abs(ker[10 + k], up50[k], 1e-15);
}

static void identity_and_invalid_cases(void **state) {
  (void)state;
  double ker[4], spec[5] = {1, 2, 3, 4, 5}, out[5];
  size_t len = 99;
  /* vsini <= 0 and R < 1e-9 leave the spectrum unchanged */
  double vs[3] = {0.0, -10.0, 1e-9 * 2e-5 * RVS_SPEED_OF_LIGHT * 0.5};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(rvs_vsini_kernel_len(vs[i], 2e-5), 1);
    assert_int_equal(rvs_vsini_kernel(vs[i], 2e-5, ker, 4, &len), RVS_OK);
    assert_int_equal(len, 1);
    assert_true(ker[0] == 1.0);
    assert_int_equal(rvs_convolve_vsini(spec, 5, 2e-5, vs[i], out), RVS_OK);
    for (int k = 0; k < 5; k++) assert_true(out[k] == spec[k]);
  }
  assert_int_equal(rvs_vsini_kernel_len(10.0, 0.0), 0);
  assert_int_equal(rvs_vsini_kernel_len(NAN, 1e-5), 0);
  assert_int_equal(rvs_vsini_kernel(10.0, -1e-5, ker, 4, &len), RVS_ERR_ARG);
  assert_int_equal(rvs_vsini_kernel(100.0, 2e-5, ker, 4, &len), RVS_ERR_ARG); /* cap too small */
  assert_non_null(strstr(rvs_last_error(), "taps"));
  assert_int_equal(rvs_convolve_vsini(spec, 5, NAN, 10.0, out), RVS_ERR_ARG);
  assert_int_equal(rvs_convolve_vsini(spec, 5, 2e-5, 10.0, spec), RVS_ERR_ARG); /* aliasing */
}

/* scipy 'same' by definition: full[m] = sum_j in[j] k[m-j], same[i] =
 * full[i + (klen-1)/2], in long double. */
static void brute_same(const double *in, size_t n, const double *k, size_t klen, long double *out) {
  size_t off = (klen - 1) / 2;
  for (size_t i = 0; i < n; i++) {
    long double s = 0;
    size_t m = i + off;
    for (size_t j = 0; j < n; j++)
      if (m >= j && m - j < klen) s += (long double)in[j] * k[m - j];
    out[i] = s;
  }
}

static void convolve_same_matches_bruteforce(void **state) {
  (void)state;
  uint64_t seed = 3;
  size_t n = 1100; /* more than one block of 512 */
  size_t klens[5] = {1, 4, 7, 51, 1201};
  double *in = malloc(sizeof(double) * n), *out = malloc(sizeof(double) * n),
         *k = malloc(sizeof(double) * 1201);
  long double *ref = malloc(sizeof(long double) * n);
  assert_true(in && out && k && ref);
  for (size_t i = 0; i < n; i++) in[i] = urand(&seed) - 0.3;
  for (int t = 0; t < 5; t++) {
    for (size_t j = 0; j < klens[t]; j++) k[j] = urand(&seed); /* asymmetric */
    assert_int_equal(rvs_convolve_same(in, n, k, klens[t], out), RVS_OK);
    brute_same(in, n, k, klens[t], ref);
    for (size_t i = 0; i < n; i++) assert_close_abs(out[i], (double)ref[i], 1e-12);
  }
  /* short input, kernel longer than it */
  assert_int_equal(rvs_convolve_same(in, 3, k, 51, out), RVS_OK);
  brute_same(in, 3, k, 51, ref);
  for (size_t i = 0; i < 3; i++) assert_close_abs(out[i], (double)ref[i], 1e-13);
  free(in), free(out), free(k), free(ref);
}

/* The symmetric vsini path equals the generic one with the explicit kernel,
 * for R spanning sub-pixel to a kernel wider than a block. */
static void convolve_vsini_equals_generic(void **state) {
  (void)state;
  uint64_t seed = 11;
  size_t n = 3000;
  double *in = malloc(sizeof(double) * n), *o1 = malloc(sizeof(double) * n),
         *o2 = malloc(sizeof(double) * n), *ker = malloc(sizeof(double) * 2000);
  assert_true(in && o1 && o2 && ker);
  for (size_t i = 0; i < n; i++) in[i] = 1 + urand(&seed);
  double vs[4] = {1.8, 50.0, 500.0, 4000.0}; /* R = 0.3 .. 667 pixels */
  for (int t = 0; t < 4; t++) {
    size_t len;
    assert_int_equal(rvs_vsini_kernel(vs[t], 2e-5, ker, 2000, &len), RVS_OK);
    assert_int_equal(rvs_convolve_vsini(in, n, 2e-5, vs[t], o1), RVS_OK);
    assert_int_equal(rvs_convolve_same(in, n, ker, len, o2), RVS_OK);
    for (size_t i = 0; i < n; i++) assert_close_abs(o1[i], o2[i], 1e-13);
  }
  free(in), free(o1), free(o2), free(ker);
}

/* Bit for bit the documented sum (the CUDA backend repeats it):
 * out[i] = w_0 x_i + sum_{k=1..kmax} w_k (x_{i-k} + x_{i+k}) in order of k,
 * x outside [0, n) zero; every length class of the vector interior, the
 * blocked edges and the short-input path. */
static void convolve_vsini_bitwise_sum(void **state) {
  (void)state;
  uint64_t seed = 29;
  size_t sizes[] = {3001, 3000, 997, 40, 12};
  double vs[3] = {50.0, 300.0, 2000.0};
  double *in = malloc(sizeof(double) * 3001), *out = malloc(sizeof(double) * 3001),
         *ker = malloc(sizeof(double) * 2000);
  assert_true(in && out && ker);
  for (size_t i = 0; i < 3001; i++) in[i] = 1 + urand(&seed);
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
    size_t n = sizes[si];
    for (int t = 0; t < 3; t++) {
      size_t len;
      assert_int_equal(rvs_vsini_kernel(vs[t], 2e-5, ker, 2000, &len), RVS_OK);
      size_t kmax = (len - 1) / 2;
      const double *w = ker + kmax; /* w[k] = kernel[kmax + k] */
      assert_int_equal(rvs_convolve_vsini(in, n, 2e-5, vs[t], out), RVS_OK);
      for (size_t i = 0; i < n; i++) {
        double a = w[0] * in[i];
        for (size_t k = 1; k <= kmax && k < n; k++) {
          double l = i >= k ? in[i - k] : 0.0, r = i + k < n ? in[i + k] : 0.0;
          a += w[k] * (l + r);
        }
        assert_true(a == out[i]);
      }
    }
  }
  free(in), free(out), free(ker);
}

/* Upstream: spec = 1 + 0.5*sin(0.3*arange(30)); lam = exp(ln 5000 +
 * 2e-5*arange(30)); rvspecfit.spec_fit.convolve_vsini(lam, spec, 50.0). */
static void convolve_matches_upstream(void **state) {
  (void)state;
  const double up[30] = {
      0.7088860012018169, 0.8224527240937826, 0.9275963664329905, 1.0196963054054031,
      1.0945184469640823, 1.1483378768006998, 1.1779173700411332, 1.180106866804737,
      1.14982253027987,   1.0950125104237385, 1.03137294677852,   0.9649309312340932,
      0.9016215311580281, 0.8470999867078227, 0.8062365450703574, 0.7826814157855123,
      0.7785387083992109, 0.7941784786242477, 0.8282036723655851, 0.8775749204018836,
      0.9378820361860403, 1.0032534702455114, 1.052547122914157,  1.0733445460184716,
      1.0702694283909473, 1.0448936200771861, 0.9985179891786429, 0.9328823770749946,
      0.8504084095642509, 0.7542591684773354};
  double spec[30], out[30];
  for (int i = 0; i < 30; i++) spec[i] = 1 + 0.5 * sin(i * 0.3);
  /* upstream takes ln(lam[1]/lam[0]) of its exp() grid */
  double ln_step = log(exp(log(5000.0) + 2e-5) / exp(log(5000.0)));
  assert_int_equal(rvs_convolve_vsini(spec, 30, ln_step, 50.0, out), RVS_OK);
  for (int i = 0; i < 30; i++) assert_close_abs(out[i], up[i], 1e-12);
}

/* A constant stays constant where the whole kernel is inside; within kmax of
 * an end it is darkened to c * (sum of the kernel taps that fall inside). */
static void constant_and_zero_padded_edges(void **state) {
  (void)state;
  size_t n = 2000;
  double c = 2.5, *in = malloc(sizeof(double) * n), *out = malloc(sizeof(double) * n), ker[64];
  assert_true(in && out);
  for (size_t i = 0; i < n; i++) in[i] = c;
  size_t len;
  assert_int_equal(rvs_vsini_kernel(100.0, 2e-5, ker, 64, &len), RVS_OK); /* R = 16.7 */
  assert_int_equal(rvs_convolve_vsini(in, n, 2e-5, 100.0, out), RVS_OK);
  size_t kmax = (len - 1) / 2;
  for (size_t i = 0; i < n; i++) {
    long double inside = 0;
    for (size_t m = 0; m < len; m++) {
      long long j = (long long)i + (long long)m - (long long)kmax;
      if (j >= 0 && j < (long long)n) inside += ker[m];
    }
    assert_close_abs(out[i], c * (double)inside, 1e-13);
    if (i >= kmax && i < n - kmax) assert_close_abs(out[i], c, 1e-13);
  }
  /* first pixel keeps the centre and one side: c (1 + w0) / 2 */
  assert_close_abs(out[0], c * 0.5 * (1 + ker[kmax]), 1e-13);
  assert_true(out[0] < 0.6 * c && out[n - 1] < 0.6 * c);
  free(in), free(out);
}

/* The equivalent width sum(1 - f) of a narrow line far from the edges is
 * unchanged by the broadening (the kernel sums to one); the line gets
 * shallower and wider. */
static void equivalent_width_conserved(void **state) {
  (void)state;
  size_t n = 4001;
  double *f = malloc(sizeof(double) * n), *g = malloc(sizeof(double) * n);
  assert_true(f && g);
  for (size_t i = 0; i < n; i++) {
    double d = ((double)i - 2000.3) / 1.5;
    f[i] = 1 - 0.6 * exp(-0.5 * d * d);
  }
  double ew0 = 0;
  for (size_t i = 0; i < n; i++) ew0 += 1 - f[i];
  double vs[3] = {2.0, 30.0, 200.0};
  for (int t = 0; t < 3; t++) {
    assert_int_equal(rvs_convolve_vsini(f, n, 2e-5, vs[t], g), RVS_OK);
    /* compare the line only: away from the darkened ends */
    double ew = 0, depth = 0;
    for (size_t i = 500; i < n - 500; i++) {
      ew += 1 - g[i];
      if (1 - g[i] > depth) depth = 1 - g[i];
    }
    assert_close_rel(ew, ew0, 1e-12, 1.0);
    assert_true(depth < 0.6 && depth > 0.01);
  }
  free(f), free(g);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(kernel_sums_to_one_and_symmetric),
    cmocka_unit_test(kernel_matches_quadrature),
    cmocka_unit_test(kernel_matches_upstream),
    cmocka_unit_test(identity_and_invalid_cases),
    cmocka_unit_test(convolve_same_matches_bruteforce),
    cmocka_unit_test(convolve_vsini_equals_generic),
    cmocka_unit_test(convolve_vsini_bitwise_sum),
    cmocka_unit_test(convolve_matches_upstream),
    cmocka_unit_test(constant_and_zero_padded_edges),
    cmocka_unit_test(equivalent_width_conserved),
};

RVS_TEST_MAIN(tests)
