/* Natural cubic spline (src/core/spline.c) against independent references:
 * a dense long-double solve of the spline system, exactness properties,
 * O(h^4) convergence, brute-force interval search, and values computed once
 * with upstream's rvspecfit.spliner. */
#include "rvs_test.h"

#include <stdlib.h>
#include <string.h>

#include "core/doppler.h"
#include "core/spline.h"
#include "rvs/status.h"

/* Deterministic uniform [0,1) numbers (xorshift64*). */
static double urand(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return (double)((*s * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
}

static double *log_grid(double a, double b, size_t n) {
  double *x = malloc(sizeof(double) * n);
  assert_non_null(x);
  double la = log(a), d = (log(b) - la) / (double)(n - 1);
  for (size_t i = 0; i < n; i++) x[i] = exp(la + d * (double)i);
  return x;
}

static double *random_grid(size_t n, uint64_t *seed) {
  double *x = malloc(sizeof(double) * n);
  assert_non_null(x);
  x[0] = 1.0;
  for (size_t i = 1; i < n; i++) x[i] = x[i - 1] + 0.05 + urand(seed); /* h in [0.05, 1.05) */
  return x;
}

/* Interior second derivatives by Gaussian elimination with partial pivoting
 * on the full (n-2)x(n-2) matrix, in long double. */
static void dense_second_derivs(const double *x, const double *y, size_t n, long double *z) {
  size_t m = n > 2 ? n - 2 : 1;
  long double *M = calloc(m * m, sizeof(long double));
  long double *r = calloc(m, sizeof(long double));
  assert_non_null(M);
  assert_non_null(r);
  for (size_t i = 0; i < m; i++) {
    long double h0 = (long double)x[i + 1] - x[i], h1 = (long double)x[i + 2] - x[i + 1];
    long double b0 = ((long double)y[i + 1] - y[i]) / h0;
    long double b1 = ((long double)y[i + 2] - y[i + 1]) / h1;
    M[i * m + i] = 2 * (h0 + h1);
    if (i + 1 < m) M[i * m + i + 1] = h1;
    if (i > 0) M[i * m + i - 1] = h0;
    r[i] = 6 * (b1 - b0);
  }
  for (size_t c = 0; c < m; c++) {
    size_t piv = c;
    for (size_t i = c + 1; i < m; i++)
      if (fabsl(M[i * m + c]) > fabsl(M[piv * m + c])) piv = i;
    if (piv != c) {
      for (size_t j = 0; j < m; j++) {
        long double t = M[c * m + j];
        M[c * m + j] = M[piv * m + j];
        M[piv * m + j] = t;
      }
      long double t = r[c];
      r[c] = r[piv];
      r[piv] = t;
    }
    for (size_t i = c + 1; i < m; i++) {
      long double f = M[i * m + c] / M[c * m + c];
      for (size_t j = c; j < m; j++) M[i * m + j] -= f * M[c * m + j];
      r[i] -= f * r[c];
    }
  }
  for (size_t c = m; c-- > 0;) {
    long double s = r[c];
    for (size_t j = c + 1; j < m; j++) s -= M[c * m + j] * r[j];
    r[c] = s / M[c * m + c];
  }
  z[0] = z[n - 1] = 0;
  for (size_t i = 0; i < m; i++) z[i + 1] = r[i];
  free(M);
  free(r);
}

static void second_derivs_vs_dense_solve(void **state) {
  (void)state;
  uint64_t seed = 12345;
  size_t sizes[] = {4, 5, 9, 120};
  for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
    size_t n = sizes[t];
    double *x = random_grid(n, &seed), *y = malloc(sizeof(double) * n);
    double *z = malloc(sizeof(double) * n), *work = malloc(sizeof(double) * rvs_spline_work_size(n));
    long double *zref = malloc(sizeof(long double) * n);
    assert_true(y && z && work && zref);
    for (size_t i = 0; i < n; i++) y[i] = 10 * urand(&seed) - 5;
    assert_int_equal(rvs_spline_second_derivs(x, y, n, z, work), RVS_OK);
    dense_second_derivs(x, y, n, zref);
    long double scale = 0;
    for (size_t i = 0; i < n; i++)
      if (fabsl(zref[i]) > scale) scale = fabsl(zref[i]);
    assert_true(scale > 0.1); /* random data: a real system, not all zero */
    assert_true(z[0] == 0 && z[n - 1] == 0);
    for (size_t i = 1; i + 1 < n; i++) assert_close_rel(z[i], zref[i], 1e-12, (double)scale);
    /* the struct holds the same z */
    rvs_spline s;
    assert_int_equal(rvs_spline_init(&s, x, y, n, RVS_GRID_AUTO), RVS_OK);
    for (size_t i = 0; i < n; i++) assert_true(s.z[i] == z[i]);
    rvs_spline_free(&s);
    free(x), free(y), free(z), free(work), free(zref);
  }
}

/* Large systems take the chunked solve (interleaved chains joined through
 * their carries).  Reference: the plain sequential Thomas algorithm in long
 * double.  The data span 1e-3..1e3 in amplitude along the grid, so the error
 * is judged against the local scale (max |z| within 60 nodes), where a bad
 * join at a chunk boundary would show. */
static void chunked_solve_vs_sequential_long_double(void **state) {
  (void)state;
  uint64_t seed = 4242;
  size_t sizes[3] = {5003, 20000, 600};
  for (int t = 0; t < 3; t++) {
    size_t n = sizes[t], m = n - 2;
    double *x = t == 1 ? log_grid(3500.0, 10000.0, n) : random_grid(n, &seed);
    double *y = malloc(sizeof(double) * n);
    long double *c = malloc(sizeof(long double) * n), *d = malloc(sizeof(long double) * n),
                *zr = malloc(sizeof(long double) * n);
    assert_true(y && c && d && zr);
    for (size_t i = 0; i < n; i++)
      y[i] = pow(10.0, 3 * sin((double)i / 500.0)) * (urand(&seed) - 0.5);
    for (size_t i = 0; i < m; i++) { /* row i: h_i z_i + 2(h_i+h_{i+1}) z_{i+1} + h_{i+1} z_{i+2} */
      long double h0 = (long double)x[i + 1] - x[i], h1 = (long double)x[i + 2] - x[i + 1];
      long double rhs = 6 * (((long double)y[i + 2] - y[i + 1]) / h1 - ((long double)y[i + 1] - y[i]) / h0);
      long double piv = 2 * (h0 + h1) - (i ? h0 * c[i - 1] : 0);
      c[i] = h1 / piv;
      d[i] = (rhs - (i ? h0 * d[i - 1] : 0)) / piv;
    }
    zr[0] = zr[n - 1] = 0;
    zr[m] = d[m - 1];
    for (size_t i = m - 1; i >= 1; i--) zr[i] = d[i - 1] - c[i - 1] * zr[i + 1];
    rvs_spline s;
    assert_int_equal(rvs_spline_init(&s, x, y, n, RVS_GRID_AUTO), RVS_OK);
    double *z2 = malloc(sizeof(double) * n), *work = malloc(sizeof(double) * rvs_spline_work_size(n));
    assert_true(z2 && work);
    assert_int_equal(rvs_spline_second_derivs(x, y, n, z2, work), RVS_OK);
    for (size_t i = 0; i < n; i++) {
      long double scale = 0;
      for (size_t j = i > 60 ? i - 60 : 0; j < n && j <= i + 60; j++)
        if (fabsl(zr[j]) > scale) scale = fabsl(zr[j]);
      assert_close_rel(s.z[i], zr[i], 1e-13, (double)scale);
      assert_true(z2[i] == s.z[i]);
    }
    rvs_spline_free(&s);
    free(x), free(y), free(c), free(d), free(zr), free(z2), free(work);
  }
}

/* The recurrences of core/spline.c with the carry corrections run in the
 * opposite chunk order (what parallel corrections may do): the same bits as
 * the library's solve whenever rvs_spline_carries_independent says so. */
static void solve_reversed_carries(const rvs_spline *s, const double *y, size_t n, double *z) {
  const double *g = s->tri_g, *cd = s->tri_c, *iden = s->tri_d, *hinv = s->hinv;
  size_t m = n - 2, K = RVS_SPLINE_NCHUNK, L = m / K, r = m - K * L;
  double *v = z + 1;
  for (size_t i = 0; i < m; i++) {
    double b0 = (y[i + 1] - y[i]) * hinv[i], b1 = (y[i + 2] - y[i + 1]) * hinv[i + 1];
    v[i] = 6 * (b1 - b0) * iden[i];
  }
  for (size_t c = 0; c < K; c++) {
    double p = v[c * L];
    for (size_t t = 1; t < L; t++) v[c * L + t] = p = v[c * L + t] - g[c * L + t] * p;
  }
  double p = v[K * L - 1];
  for (size_t i = K * L; i < m; i++) v[i] = p = v[i] - g[i] * p;
  for (size_t c = K - 1; c >= 1; c--) {
    size_t s0 = c * L, end = c + 1 < K ? s0 + L : m;
    double carry = v[s0 - 1], q = 1;
    for (size_t i = s0; i < end; i++) {
      q *= -g[i];
      v[i] += q * carry;
      if (fabs(q) < RVS_SPLINE_CARRY_EPS) break;
    }
  }
  for (size_t c = 0; c < K; c++) {
    size_t lo = r + c * L, top = lo + L - 1;
    double pd = v[top];
    for (size_t j = top; j-- > lo;) v[j] = pd = v[j] - cd[j] * pd;
  }
  for (size_t c = 0; c + 1 < K; c++) {
    size_t top = r + (c + 1) * L, lo = r + c * L;
    double carry = v[top], q = 1;
    for (size_t j = top; j-- > lo;) {
      q *= -cd[j];
      v[j] += q * carry;
      if (fabs(q) < RVS_SPLINE_CARRY_EPS) break;
    }
    if (c == 0) {
      double pd = v[r];
      for (size_t j = r; j-- > 0;) v[j] = pd = v[j] - cd[j] * pd;
    }
  }
  z[0] = z[n - 1] = 0;
}

static void parallel_carries_same_bits(void **state) {
  (void)state;
  uint64_t seed = 777;
  /* DESI-like log grids (the CUDA backend's case), a long random grid, and
   * chunks of 65 rows, too short for a correction (~70 rows) to stop */
  struct { size_t n; int kind; int expect; } cases[] = {
      {6200, 0, 1}, {5300, 0, 1}, {6450, 0, 1}, {20000, 1, 1}, {8 * 65 + 2, 0, 0}, {300, 0, 0}};
  for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
    size_t n = cases[t].n;
    double *x = cases[t].kind ? random_grid(n, &seed) : log_grid(3600.0, 9800.0, n);
    double *y = malloc(sizeof(double) * n), *z1 = malloc(sizeof(double) * n),
           *z2 = malloc(sizeof(double) * n), *work = malloc(sizeof(double) * rvs_spline_work_size(n));
    assert_true(y && z1 && z2 && work);
    rvs_spline s;
    assert_int_equal(rvs_spline_init_grid(&s, x, n, RVS_GRID_AUTO), RVS_OK);
    int ind = rvs_spline_carries_independent(s.tri_g, s.tri_c, n - 2);
    assert_int_equal(ind, cases[t].expect);
    if (ind) {
      for (int rep = 0; rep < 3; rep++) {
        for (size_t i = 0; i < n; i++) y[i] = exp(urand(&seed) - 0.5) * (1 + sin((double)i / 40.0));
        assert_int_equal(rvs_spline_second_derivs(x, y, n, z1, work), RVS_OK);
        solve_reversed_carries(&s, y, n, z2);
        for (size_t i = 0; i < n; i++) assert_true(memcmp(&z1[i], &z2[i], sizeof(double)) == 0);
      }
    }
    rvs_spline_free(&s);
    free(x), free(y), free(z1), free(z2), free(work);
  }
}

static void exact_at_nodes(void **state) {
  (void)state;
  uint64_t seed = 99;
  size_t n = 200;
  double *x = random_grid(n, &seed), *y = malloc(sizeof(double) * n), *out = malloc(sizeof(double) * n);
  assert_true(y && out);
  for (size_t i = 0; i < n; i++) y[i] = sin(x[i]) + urand(&seed);
  rvs_spline s;
  assert_int_equal(rvs_spline_init(&s, x, y, n, RVS_GRID_AUTO), RVS_OK);
  assert_int_equal(s.grid_kind, RVS_GRID_GENERAL);
  assert_int_equal(rvs_spline_eval(&s, x, n - 1, out), RVS_OK); /* x[n-1] itself is out of range */
  for (size_t i = 0; i + 1 < n; i++) assert_close_rel(out[i], y[i], 1e-13, 1.0);
  assert_close_rel(rvs_spline_eval_one(&s, x[n - 1]), y[n - 1], 1e-13, 1.0);
  rvs_spline_free(&s);
  free(x), free(y), free(out);
}

/* A natural spline reproduces any linear function (its z are all zero). */
static void reproduces_linear_function(void **state) {
  (void)state;
  uint64_t seed = 7;
  size_t n = 300;
  double *xs[2] = {random_grid(n, &seed), log_grid(3600.0, 9800.0, n)};
  for (int g = 0; g < 2; g++) {
    double *x = xs[g], *y = malloc(sizeof(double) * n);
    assert_non_null(y);
    for (size_t i = 0; i < n; i++) y[i] = 3.0 - 0.002 * x[i];
    rvs_spline s;
    assert_int_equal(rvs_spline_init(&s, x, y, n, RVS_GRID_AUTO), RVS_OK);
    assert_int_equal(s.grid_kind, g ? RVS_GRID_LOG : RVS_GRID_GENERAL);
    for (size_t i = 0; i < n; i++) assert_true(fabs(s.z[i]) < 1e-13);
    double span = x[n - 1] - x[0];
    for (int k = 0; k < 2000; k++) {
      double q = x[0] + span * urand(&seed);
      assert_close_rel(rvs_spline_eval_one(&s, q), 3.0 - 0.002 * q, 1e-12, 1.0);
    }
    rvs_spline_free(&s);
    free(x), free(y);
  }
}

/* S, S', S'' continuous at every interior node and S'' = 0 at both ends,
 * from the stored A,B,C,D coefficients. */
static void c2_continuity_and_natural_ends(void **state) {
  (void)state;
  uint64_t seed = 2024;
  size_t n = 60;
  double *x = random_grid(n, &seed), *y = malloc(sizeof(double) * n);
  assert_non_null(y);
  for (size_t i = 0; i < n; i++) y[i] = cos(0.7 * x[i]) + 0.3 * urand(&seed);
  rvs_spline s;
  assert_int_equal(rvs_spline_init(&s, x, y, n, RVS_GRID_GENERAL), RVS_OK);
  for (size_t i = 0; i + 1 < n; i++) {
    const double *c = s.coef + 4 * i;
    double h = x[i + 1] - x[i];
    /* at x_i: dl = 0, dr = h */
    double v0 = c[1] * h * h * h + c[3] * h, s0 = 6 * c[1] * h;
    /* at x_{i+1}: dl = h, dr = 0 */
    double v1 = c[0] * h * h * h + c[2] * h, d1 = 3 * c[0] * h * h + c[2] - c[3], s1 = 6 * c[0] * h;
    assert_close_rel(v0, y[i], 1e-13, 1.0);
    assert_close_rel(v1, y[i + 1], 1e-13, 1.0);
    if (i == 0) assert_close_abs(s0, 0.0, 1e-15);
    if (i + 2 == n) assert_close_abs(s1, 0.0, 1e-15);
    if (i + 2 < n) {
      const double *cn = s.coef + 4 * (i + 1);
      double hn = x[i + 2] - x[i + 1];
      double dn = -3 * cn[1] * hn * hn + cn[2] - cn[3], sn = 6 * cn[1] * hn;
      assert_close_rel(d1, dn, 1e-11, 1.0);
      assert_close_rel(s1, sn, 1e-11, 1.0);
    }
  }
  rvs_spline_free(&s);
  free(x), free(y);
}

/* Interior error of sin on a log grid falls as h^4 (away from the natural
 * ends, where the wrong end condition costs O(h^2)). */
static double interior_error(size_t n) {
  double *x = log_grid(4000.0, 4600.0, n), *y = malloc(sizeof(double) * n);
  assert_non_null(y);
  for (size_t i = 0; i < n; i++) y[i] = sin(x[i] / 20.0);
  rvs_spline s;
  assert_int_equal(rvs_spline_init(&s, x, y, n, RVS_GRID_LOG), RVS_OK);
  double emax = 0;
  for (int k = 0; k <= 4000; k++) {
    double q = 4150.0 + 300.0 * k / 4000.0;
    double e = fabs(rvs_spline_eval_one(&s, q) - sin(q / 20.0));
    if (e > emax) emax = e;
  }
  rvs_spline_free(&s);
  free(x), free(y);
  return emax;
}

static void convergence_h4_interior(void **state) {
  (void)state;
  double e1 = interior_error(100), e2 = interior_error(200), e3 = interior_error(400);
  assert_true(e1 < 1e-3 && e1 > 1e-8);
  double r1 = e1 / e2, r2 = e2 / e3;
  /* h^4 -> 16 per halving (h^2 would give 4) */
  assert_true(r1 > 13 && r1 < 19);
  assert_true(r2 > 13 && r2 < 19);
}

/* O(1) lookup (log and linear grids) against binary search on the same nodes:
 * random queries, every node exactly, and the last interval. */
static void uniform_lookup_matches_bsearch(void **state) {
  (void)state;
  uint64_t seed = 5;
  size_t n = 5001;
  for (int g = 0; g < 2; g++) {
    double *x;
    if (g == 0) {
      x = log_grid(3600.0, 9824.0, n);
    } else {
      x = malloc(sizeof(double) * n);
      assert_non_null(x);
      for (size_t i = 0; i < n; i++) x[i] = 3600.0 + 0.8 * (double)i;
    }
    double *y = malloc(sizeof(double) * n);
    size_t nq = 20001 + n;
    double *q = malloc(sizeof(double) * nq), *o1 = malloc(sizeof(double) * nq),
           *o2 = malloc(sizeof(double) * nq);
    assert_true(y && q && o1 && o2);
    for (size_t i = 0; i < n; i++) y[i] = sin(x[i] * 0.37) + 0.1 * urand(&seed);
    size_t k = 0;
    q[k++] = x[0];
    for (int r = 0; r < 20000; r++) q[k++] = x[0] + (x[n - 1] - x[0]) * urand(&seed);
    for (size_t i = 1; i + 1 < n; i++) q[k++] = x[i];
    q[k++] = 0.5 * (x[n - 2] + x[n - 1]);
    q[k++] = nextafter(x[n - 1], 0); /* last query: just inside */
    assert_int_equal(k, nq);
    rvs_spline su, sg;
    int kind = g == 0 ? RVS_GRID_LOG : RVS_GRID_LINEAR;
    assert_int_equal(rvs_spline_init(&su, x, y, n, RVS_GRID_AUTO), RVS_OK);
    assert_int_equal(su.grid_kind, kind);
    assert_int_equal(rvs_spline_init(&sg, x, y, n, RVS_GRID_GENERAL), RVS_OK);
    assert_int_equal(rvs_spline_eval(&su, q, nq, o1), RVS_OK);
    assert_int_equal(rvs_spline_eval(&sg, q, nq, o2), RVS_OK);
    for (size_t i = 0; i < nq; i++) {
      size_t j = rvs_spline_interval(&su, q[i]);
      assert_true(x[j] <= q[i] && q[i] < x[j + 1]);
      assert_int_equal(j, rvs_spline_interval(&sg, q[i]));
      assert_true(o1[i] == o2[i]); /* same interval, same arithmetic */
    }
    /* nodes give the node values */
    for (size_t i = 1; i + 1 < n; i++) assert_close_rel(o1[20001 + i - 1], y[i], 1e-12, 1.0);
    rvs_spline_free(&su);
    rvs_spline_free(&sg);
    free(x), free(y), free(q), free(o1), free(o2);
  }
}

/* A grid that passes the uniformity checks but has unsampled nodes off their
 * uniform positions (by 0.45 step) still gets exact intervals: the O(1)
 * guess is only a starting point. */
static void nearly_uniform_grid_still_exact(void **state) {
  (void)state;
  uint64_t seed = 8;
  size_t n = 1000, nq = 5000;
  double *x = malloc(sizeof(double) * n), *y = malloc(sizeof(double) * n);
  double *q = malloc(sizeof(double) * nq), *o1 = malloc(sizeof(double) * nq),
         *o2 = malloc(sizeof(double) * nq);
  assert_true(x && y && q && o1 && o2);
  for (size_t i = 0; i < n; i++) {
    x[i] = 100.0 + 2.0 * (double)i + (i >= 500 && i <= 510 ? 0.9 : 0.0);
    y[i] = urand(&seed);
  }
  for (size_t k = 0; k < nq; k++) q[k] = 1000.0 + 22.0 * (double)k / (double)nq; /* nodes 450..461 */
  rvs_spline su, sg;
  assert_int_equal(rvs_spline_init(&su, x, y, n, RVS_GRID_AUTO), RVS_OK);
  assert_int_equal(su.grid_kind, RVS_GRID_LINEAR);
  assert_int_equal(rvs_spline_init(&sg, x, y, n, RVS_GRID_GENERAL), RVS_OK);
  for (int pass = 0; pass < 2; pass++) {
    if (pass) /* the shifted nodes themselves */
      for (size_t k = 0; k < nq; k++) q[k] = x[499] + (x[512] - x[499]) * (double)k / (double)nq;
    assert_int_equal(rvs_spline_eval(&su, q, nq, o1), RVS_OK);
    assert_int_equal(rvs_spline_eval(&sg, q, nq, o2), RVS_OK);
    for (size_t k = 0; k < nq; k++) {
      size_t j = rvs_spline_interval(&su, q[k]);
      assert_true(x[j] <= q[k] && q[k] < x[j + 1]);
      assert_true(o1[k] == o2[k]);
    }
  }
  rvs_spline_free(&su);
  rvs_spline_free(&sg);
  free(x), free(y), free(q), free(o1), free(o2);
}

static void out_of_range_queries(void **state) {
  (void)state;
  size_t n = 50;
  double *x = log_grid(5000.0, 5100.0, n), y[50], out[3];
  for (size_t i = 0; i < n; i++) y[i] = (double)i;
  rvs_spline s;
  assert_int_equal(rvs_spline_init(&s, x, y, n, RVS_GRID_LOG), RVS_OK);
  double ok[3] = {x[0], 5050.0, nextafter(x[n - 1], 0)};
  assert_int_equal(rvs_spline_eval(&s, ok, 3, out), RVS_OK);
  double below[3] = {nextafter(x[0], 0), 5050.0, 5060.0};
  assert_int_equal(rvs_spline_eval(&s, below, 3, out), RVS_ERR_RANGE);
  assert_non_null(strstr(rvs_last_error(), "outside"));
  double at_end[3] = {5010.0, 5050.0, x[n - 1]}; /* [x0, x_{N-1}) excludes the end */
  assert_int_equal(rvs_spline_eval(&s, at_end, 3, out), RVS_ERR_RANGE);
  double nanq[3] = {NAN, 5050.0, 5060.0};
  assert_int_equal(rvs_spline_eval(&s, nanq, 3, out), RVS_ERR_RANGE);
  /* an unsorted interior query beyond the end is extrapolated, never read
   * out of bounds */
  double inner[3] = {5010.0, 6000.0, 5060.0};
  assert_int_equal(rvs_spline_eval(&s, inner, 3, out), RVS_OK);
  assert_true(isfinite(out[1]));
  /* Doppler evaluation: a velocity that pushes the ends off the grid */
  double lam[2] = {5001.0, 5099.0};
  assert_int_equal(rvs_spline_eval_doppler(&s, lam, NULL, 2, 0.0, out), RVS_OK);
  assert_int_equal(rvs_spline_eval_doppler(&s, lam, NULL, 2, -400.0, out), RVS_ERR_RANGE);
  assert_int_equal(rvs_spline_eval_doppler(&s, lam, NULL, 2, 400.0, out), RVS_ERR_RANGE);
  rvs_spline_free(&s);
  free(x);
}

static void init_errors_and_kind_detection(void **state) {
  (void)state;
  rvs_spline s;
  double x3[3] = {1, 2, 3}, y[8] = {0};
  assert_int_equal(rvs_spline_init(&s, x3, y, 3, RVS_GRID_AUTO), RVS_ERR_ARG);
  assert_null(s.x);
  rvs_spline_free(&s); /* safe on a failed init */
  double xdup[5] = {1, 2, 2, 3, 4};
  assert_int_equal(rvs_spline_init(&s, xdup, y, 5, RVS_GRID_AUTO), RVS_ERR_ARG);
  double xnan[5] = {1, 2, NAN, 3, 4};
  assert_int_equal(rvs_spline_init(&s, xnan, y, 5, RVS_GRID_AUTO), RVS_ERR_ARG);
  double xlin[6] = {10, 11, 12, 13, 14, 15};
  assert_int_equal(rvs_spline_init(&s, xlin, y, 6, RVS_GRID_AUTO), RVS_OK);
  assert_int_equal(s.grid_kind, RVS_GRID_LINEAR);
  assert_close_rel(s.inv_dx, 1.0, 1e-15, 1.0);
  rvs_spline_free(&s);
  assert_int_equal(rvs_spline_init(&s, xlin, y, 6, RVS_GRID_LOG), RVS_ERR_ARG);
  double xlog[6] = {1, 2, 4, 8, 16, 32};
  assert_int_equal(rvs_spline_init(&s, xlog, y, 6, RVS_GRID_AUTO), RVS_OK);
  assert_int_equal(s.grid_kind, RVS_GRID_LOG);
  assert_close_rel(s.inv_dx, 1.0 / log(2.0), 1e-15, 1.0);
  assert_close_rel(s.x0, 0.0, 1e-15, 1.0);
  rvs_spline_free(&s);
  assert_int_equal(rvs_spline_init(&s, xlog, y, 6, RVS_GRID_LINEAR), RVS_ERR_ARG);
  /* first two steps equal (upstream's only test) but the rest is not */
  double xbad[6] = {1, 2, 3, 5, 8, 13};
  assert_int_equal(rvs_spline_init(&s, xbad, y, 6, RVS_GRID_AUTO), RVS_OK);
  assert_int_equal(s.grid_kind, RVS_GRID_GENERAL);
  rvs_spline_free(&s);
  assert_int_equal(rvs_spline_init(&s, xbad, y, 6, RVS_GRID_LINEAR), RVS_ERR_ARG);
  assert_int_equal(rvs_spline_init(&s, xlin, y, 6, 42), RVS_ERR_ARG);
  double work[16], z[8];
  assert_int_equal(rvs_spline_second_derivs(x3, y, 3, z, work), RVS_ERR_ARG);
}

/* Values from upstream, computed once with
 *   x = np.exp(np.linspace(np.log(4000.), np.log(4100.), 12))
 *   y = np.sin(x/7.) + 0.01*x
 *   rvspecfit.spliner.Spline(x, y, log_step=True)(q)   (rvspecfit 0.8.x) */
static void matches_upstream_spliner(void **state) {
  (void)state;
  size_t n = 12;
  double *x = malloc(sizeof(double) * n), y[12];
  assert_non_null(x);
  double la = log(4000.0), lb = log(4100.0);
  for (size_t i = 0; i < n; i++) {
    /* np.linspace: start + i*step, last point exactly stop */
    double step = (lb - la) / 11.0;
    x[i] = exp(i == 11 ? lb : la + (double)i * step);
    y[i] = sin(x[i] / 7.) + 0.01 * x[i];
  }
  double q[7] = {4000.0, 4003.3, 4017.77, 4050.0, x[5], 4088.123, 4099.999};
  const double expect[7] = {39.66529559532845, 40.19010866118181, 40.98702045928457,
                            40.99086477502756, 40.2776896340502,  40.5983162861363,
                            41.98138434782757};
  double out[7];
  rvs_spline s;
  assert_int_equal(rvs_spline_init(&s, x, y, n, RVS_GRID_LOG), RVS_OK);
  assert_int_equal(rvs_spline_eval(&s, q, 7, out), RVS_OK);
  for (int i = 0; i < 7; i++) assert_close_rel(out[i], expect[i], 1e-14, 1.0);
  rvs_spline_free(&s);
  free(x);
}

/* Fused Doppler evaluation == rest wavelengths then eval, bit for bit, with
 * and without precomputed ln(lambda_obs); and set_y == a fresh init. */
static void doppler_eval_and_set_y(void **state) {
  (void)state;
  uint64_t seed = 77;
  size_t n = 3000, nq = 2500;
  double *x = log_grid(3500.0, 6000.0, n), *y = malloc(sizeof(double) * n),
         *y2 = malloc(sizeof(double) * n);
  double *lam = malloc(sizeof(double) * nq), *lnlam = malloc(sizeof(double) * nq),
         *rest = malloc(sizeof(double) * nq), *o1 = malloc(sizeof(double) * nq),
         *o2 = malloc(sizeof(double) * nq), *o3 = malloc(sizeof(double) * nq);
  assert_true(y && y2 && lam && lnlam && rest && o1 && o2 && o3);
  for (size_t i = 0; i < n; i++) {
    y[i] = 1 - 0.5 * exp(-0.5 * pow((x[i] - 4861.3) / 2.0, 2)) + 0.01 * urand(&seed);
    y2[i] = cos(x[i] / 3.0);
  }
  for (size_t i = 0; i < nq; i++) {
    lam[i] = 3600.0 + 0.9 * (double)i;
    lnlam[i] = log(lam[i]);
  }
  for (int g = 0; g < 2; g++) {
    rvs_spline s;
    assert_int_equal(rvs_spline_init(&s, x, y, n, g ? RVS_GRID_GENERAL : RVS_GRID_LOG), RVS_OK);
    double vels[4] = {0.0, 123.456, -987.6, 1500.0};
    for (int v = 0; v < 4; v++) {
      rvs_doppler_rest_wavelengths(lam, nq, vels[v], rest);
      assert_int_equal(rvs_spline_eval(&s, rest, nq, o1), RVS_OK);
      assert_int_equal(rvs_spline_eval_doppler(&s, lam, lnlam, nq, vels[v], o2), RVS_OK);
      assert_int_equal(rvs_spline_eval_doppler(&s, lam, NULL, nq, vels[v], o3), RVS_OK);
      for (size_t i = 0; i < nq; i++) assert_true(o1[i] == o2[i] && o1[i] == o3[i]);
      /* guesses off by one or two intervals on some lanes (the vector check
       * must send those to the scalar correction) */
      double dlx = log(x[1]) - log(x[0]);
      for (size_t i = 0; i < nq; i++)
        rest[i] = lnlam[i] + (i % 7 == 3 ? 1.5 * dlx : i % 11 == 5 ? -2.2 * dlx : 0.0);
      assert_int_equal(rvs_spline_eval_doppler(&s, lam, rest, nq, vels[v], o3), RVS_OK);
      for (size_t i = 0; i < nq; i++) assert_true(o1[i] == o3[i]);
    }
    /* queries exactly on the nodes (v = 0: q == lambda_obs): the interval
     * to the right of the node on both paths */
    size_t nn = 1001;
    for (size_t i = 0; i < nn; i++) {
      rest[i] = x[200 + i];
      o3[i] = log(rest[i]);
    }
    assert_int_equal(rvs_spline_eval(&s, rest, nn, o1), RVS_OK);
    assert_int_equal(rvs_spline_eval_doppler(&s, rest, o3, nn, 0.0, o2), RVS_OK);
    for (size_t i = 0; i < nn; i++) assert_true(o1[i] == o2[i] && fabs(o1[i] - y[200 + i]) < 1e-12);
    rvs_spline_free(&s);
  }
  rvs_spline a, b;
  assert_int_equal(rvs_spline_init(&a, x, y, n, RVS_GRID_AUTO), RVS_OK);
  rvs_spline_set_y(&a, y2);
  assert_int_equal(rvs_spline_init_grid(&b, x, n, RVS_GRID_AUTO), RVS_OK);
  rvs_spline_set_y(&b, y2);
  rvs_spline c;
  assert_int_equal(rvs_spline_init(&c, x, y2, n, RVS_GRID_AUTO), RVS_OK);
  for (size_t i = 0; i < n; i++) assert_true(a.z[i] == c.z[i] && b.z[i] == c.z[i]);
  for (size_t i = 0; i < 4 * (n - 1); i++) assert_true(a.coef[i] == c.coef[i]);
  /* the stored (vectorised) coefficients == the plain scalar formula; n - 1
   * = 2999 intervals: a vector part and a tail of 3 */
  double *cref = malloc(sizeof(double) * 4 * (n - 1));
  assert_non_null(cref);
  rvs_spline_coeffs(x, y2, c.z, n, cref);
  for (size_t i = 0; i < 4 * (n - 1); i++) assert_true(c.coef[i] == cref[i]);
  free(cref);
  assert_true(fabs(c.z[n / 2]) > 1e-3);
  rvs_spline_free(&a), rvs_spline_free(&b), rvs_spline_free(&c);
  free(x), free(y), free(y2), free(lam), free(lnlam), free(rest), free(o1), free(o2), free(o3);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(second_derivs_vs_dense_solve),
    cmocka_unit_test(chunked_solve_vs_sequential_long_double),
    cmocka_unit_test(parallel_carries_same_bits),
    cmocka_unit_test(exact_at_nodes),
    cmocka_unit_test(reproduces_linear_function),
    cmocka_unit_test(c2_continuity_and_natural_ends),
    cmocka_unit_test(convergence_h4_interior),
    cmocka_unit_test(uniform_lookup_matches_bsearch),
    cmocka_unit_test(nearly_uniform_grid_still_exact),
    cmocka_unit_test(out_of_range_queries),
    cmocka_unit_test(init_errors_and_kind_detection),
    cmocka_unit_test(matches_upstream_spliner),
    cmocka_unit_test(doppler_eval_and_set_y),
};

RVS_TEST_MAIN(tests)
