/* Natural cubic spline (see spline.h). */
#include "core/spline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/doppler.h"
#include "core/simd.h"
#include "rvs/status.h"

#ifdef _OPENMP
#define RVS_SIMD _Pragma("omp simd")
#else
#define RVS_SIMD
#endif

/* The O(1) guess on a uniform kind is only a starting point (it is corrected
 * by walking), so uniformity is what makes lookups fast, not correct: besides
 * upstream's test on the first two steps, UNIFORM_SAMPLES nodes spread over
 * the grid must lie within a quarter step of their uniform position. */
#define UNIFORM_NODE_TOL 0.25
#define UNIFORM_SAMPLES 64

/* Recurrences of the Thomas solve are split into NCHUNK chains run
 * interleaved (instruction-level parallelism), then joined exactly: the
 * solution is linear in the carry coming into a chunk, so each chunk is
 * solved with a zero carry and then corrected by carry * prod(-factor), a
 * term that decays by >~ 1.5x per pixel and is dropped once the product is
 * below CARRY_EPS (far below the rounding of the sequential solve). */
#define NCHUNK RVS_SPLINE_NCHUNK
#define CHUNK_MIN RVS_SPLINE_CHUNK_MIN
#define CARRY_EPS RVS_SPLINE_CARRY_EPS

size_t rvs_spline_work_size(size_t n) { return 4 * n; }

/* Grid-only factors of the spline system (m = n-2 interior unknowns; row i
 * couples z_i, z_{i+1}, z_{i+2} with h_i, 2(h_i + h_{i+1}), h_{i+1}):
 * iden[i] = 1 / pivot_i, cdash[i] = h_{i+1} / pivot_i (upstream's c'_i),
 * g[i] = h_i / pivot_i (the forward multiplier), hinv[i] = 1 / h_i. */
static void grid_factors(const double *x, size_t n, double *cdash, double *iden, double *g,
                         double *hinv) {
  size_t m = n - 2;
  RVS_SIMD
  for (size_t i = 0; i < n - 1; i++) hinv[i] = 1. / (x[i + 1] - x[i]);
  double pivot = 2 * ((x[2] - x[1]) + (x[1] - x[0]));
  iden[0] = 1. / pivot;
  cdash[0] = (x[2] - x[1]) * iden[0];
  g[0] = 0;
  for (size_t i = 1; i < m; i++) {
    double h0 = x[i + 1] - x[i], h1 = x[i + 2] - x[i + 1];
    pivot = 2 * (h1 + h0) - h0 * cdash[i - 1];
    iden[i] = 1. / pivot;
    cdash[i] = h1 * iden[i];
    g[i] = h0 * iden[i];
  }
  cdash[m - 1] = 0; /* unused */
}

/* One step of every interleaved chain: row w[c L] of chain c, its factor
 * e[c L], its previous value p[c] (in registers once inlined). */
static inline void chains_step(double *restrict w, const double *restrict e, size_t L,
                               double p[NCHUNK]) {
  for (int c = 0; c < NCHUNK; c++) w[c * L] = p[c] = w[c * L] - e[c * L] * p[c];
}

/* v[i] -= f[i] * v[i-1] for i = 1..m-1, in order.  The interleaved chains
 * carry their last value in a register: read back from memory, every step
 * waited on a store-to-load forward (v and f may alias for the compiler). */
static void recur_up(double *restrict v, const double *restrict f, size_t m) {
  if (m < NCHUNK * CHUNK_MIN) {
    double p = v[0];
    for (size_t i = 1; i < m; i++) v[i] = p = v[i] - f[i] * p;
    return;
  }
  size_t L = m / NCHUNK;
  /* chunk c = [cL, (c+1)L), the last one extends to m; each starts with a
   * zero carry (chunk 0 with the true one, there is none) */
  double p[NCHUNK];
  for (int c = 0; c < NCHUNK; c++) p[c] = v[c * L];
  for (size_t t = 1; t < L; t++) chains_step(v + t, f + t, L, p);
  double pl = p[NCHUNK - 1];
  for (size_t i = NCHUNK * L; i < m; i++) v[i] = pl = v[i] - f[i] * pl;
  for (size_t c = 1; c < NCHUNK; c++) {
    size_t s = c * L, end = c + 1 < NCHUNK ? s + L : m;
    double carry = v[s - 1], q = 1;
    for (size_t i = s; i < end; i++) {
      q *= -f[i];
      v[i] += q * carry;
      if (fabs(q) < CARRY_EPS) break;
    }
  }
}

/* v[j] -= f[j] * v[j+1] for j = m-2 down to 0 (register chains as recur_up). */
static void recur_down(double *restrict v, const double *restrict f, size_t m) {
  if (m < NCHUNK * CHUNK_MIN) {
    double p = v[m - 1];
    for (size_t j = m - 1; j-- > 0;) v[j] = p = v[j] - f[j] * p;
    return;
  }
  size_t L = m / NCHUNK, r = m - NCHUNK * L;
  /* chunk c = [r + cL, r + (c+1)L) (chunk 0 also takes [0, r)); each is
   * solved downward from its top element with a zero carry */
  double p[NCHUNK];
  for (int c = 0; c < NCHUNK; c++) p[c] = v[r + L - 1 + c * L];
  for (size_t t = 2; t <= L; t++) /* chunk 0's element top - (t - 1) */
    chains_step(v + r + L - t, f + r + L - t, L, p);
  for (size_t c = NCHUNK - 1; c-- > 0;) {
    size_t top = r + (c + 1) * L; /* first element of chunk c+1 (final) */
    size_t lo = r + c * L;
    double carry = v[top], q = 1;
    for (size_t j = top; j-- > lo;) {
      q *= -f[j];
      v[j] += q * carry;
      if (fabs(q) < CARRY_EPS) break;
    }
    /* chunk 0's extra part below the interleaved range: plain recurrence
     * (runs after chunk 0 is final at index r) */
    if (c == 0) {
      double p = v[r];
      for (size_t j = r; j-- > 0;) v[j] = p = v[j] - f[j] * p;
    }
  }
}

/* Does the correction loop over rows [from, to) (step +1 or -1 as the
 * recurrences run it) stop before its final row? */
static int correction_stops_early(const double *f, long from, long to, int step) {
  double q = 1;
  for (long i = from; i != to; i += step) {
    q *= -f[i];
    if (fabs(q) < CARRY_EPS) return i != to - step;
  }
  return 0;
}

int rvs_spline_carries_independent(const double *fu, const double *fd, size_t m) {
  if (m < NCHUNK * CHUNK_MIN) return 0;
  long L = (long)(m / NCHUNK), r = (long)m - NCHUNK * L;
  /* recur_up: chunk c's last row is chunk c+1's carry (c = 1..NCHUNK-2);
   * recur_down: chunk c's lowest row is chunk c-1's carry (c = 1..NCHUNK-2) */
  for (long c = 1; c + 1 < NCHUNK; c++) {
    if (!correction_stops_early(fu, c * L, c * L + L, 1)) return 0;
    long top = r + (c + 1) * L, lo = r + c * L;
    if (!correction_stops_early(fd, top - 1, lo - 1, -1)) return 0;
  }
  return 1;
}

/* z[0..n-1] from the grid factors: forward elimination then back
 * substitution, in place in z[1..n-2]. */
RVS_CLONES static void solve_z(const double *y, size_t n, const double *cdash, const double *iden,
                    const double *g, const double *hinv, double *z) {
  size_t m = n - 2;
  double *v = z + 1; /* v[i] = z_{i+1} */
  RVS_SIMD
  for (size_t i = 0; i < m; i++) {
    double b0 = (y[i + 1] - y[i]) * hinv[i], b1 = (y[i + 2] - y[i + 1]) * hinv[i + 1];
    v[i] = 6 * (b1 - b0) * iden[i];
  }
  recur_up(v, g, m);
  recur_down(v, cdash, m);
  z[0] = 0;
  z[n - 1] = 0;
}

int rvs_spline_second_derivs(const double *x, const double *y, size_t n, double *z,
                             double *work) {
  if (n < 4) return RVS_ERR_ARG;
  grid_factors(x, n, work, work + n, work + 2 * n, work + 3 * n);
  solve_z(y, n, work, work + n, work + 2 * n, work + 3 * n, z);
  return RVS_OK;
}

/* Upstream's coefficients, with 1/h stored. */
RVS_CLONES static void coeffs_hinv(const double *x, const double *y, const double *z, const double *hinv,
                        size_t n, double *coef) {
  const double one_sixth = 1. / 6;
  size_t i = 0;
  /* four intervals per vector, rows transposed so each interval's four
   * coefficients are one contiguous store (the same expressions as below) */
  typedef long v4l_ __attribute__((vector_size(32)));
  v4l_ lo = {0, 4, 2, 6}, hi = {1, 5, 3, 7}, first = {0, 1, 4, 5}, second = {2, 3, 6, 7};
  for (; i + 4 <= n - 1; i += 4) {
    v4d xl = ld4(x + i), xr = ld4(x + i + 1), hv = ld4(hinv + i);
    v4d yl = ld4(y + i), yr = ld4(y + i + 1), zl = ld4(z + i), zr = ld4(z + i + 1);
    v4d h = xr - xl;
    v4d t1 = hv * one_sixth, t2 = h * one_sixth;
    v4d c0 = zr * t1, c1 = zl * t1, c2 = yr * hv - zr * t2, c3 = yl * hv - zl * t2;
    /* (c0, c1, c2, c3) by lane -> one row per interval */
    v4d a0 = __builtin_shuffle(c0, c1, lo), a1 = __builtin_shuffle(c0, c1, hi);
    v4d a2 = __builtin_shuffle(c2, c3, lo), a3 = __builtin_shuffle(c2, c3, hi);
    st4(coef + 4 * i, __builtin_shuffle(a0, a2, first));
    st4(coef + 4 * i + 4, __builtin_shuffle(a1, a3, first));
    st4(coef + 4 * i + 8, __builtin_shuffle(a0, a2, second));
    st4(coef + 4 * i + 12, __builtin_shuffle(a1, a3, second));
  }
  for (; i < n - 1; i++) {
    double h = x[i + 1] - x[i];
    double t1 = hinv[i] * one_sixth, t2 = h * one_sixth;
    coef[4 * i] = z[i + 1] * t1;
    coef[4 * i + 1] = z[i] * t1;
    coef[4 * i + 2] = y[i + 1] * hinv[i] - z[i + 1] * t2;
    coef[4 * i + 3] = y[i] * hinv[i] - z[i] * t2;
  }
}

void rvs_spline_coeffs(const double *x, const double *y, const double *z, size_t n,
                       double *coef) {
  const double one_sixth = 1. / 6;
  for (size_t i = 0; i + 1 < n; i++) {
    double h = x[i + 1] - x[i];
    double hinv = 1. / h;
    double t1 = hinv * one_sixth, t2 = h * one_sixth;
    double *c = coef + 4 * i;
    c[0] = z[i + 1] * t1;
    c[1] = z[i] * t1;
    c[2] = y[i + 1] * hinv - z[i + 1] * t2;
    c[3] = y[i] * hinv - z[i] * t2;
  }
}

/* Is x uniform in u = ln x (log) or u = x (linear)?  Upstream's test on the
 * first two steps, then sampled nodes near their uniform positions. */
static int grid_is_uniform(const double *x, size_t n, int log_kind, double *u0,
                           double *inv_du) {
  double a = log_kind ? log(x[0]) : x[0];
  double d1 = log_kind ? log(x[1] / x[0]) : x[1] - x[0];
  double d2 = log_kind ? log(x[2] / x[1]) : x[2] - x[1];
  if (!(fabs(d1 - d2) <= RVS_SPLINE_STEP_TOL) || !(d1 > 0)) return 0;
  double inv = 1. / d1;
  for (size_t k = 1; k <= UNIFORM_SAMPLES; k++) {
    size_t i = (size_t)((double)(n - 1) * k / UNIFORM_SAMPLES);
    double u = log_kind ? log(x[i]) : x[i];
    if (!(fabs((u - a) * inv - (double)i) <= UNIFORM_NODE_TOL)) return 0;
  }
  *u0 = a;
  *inv_du = inv;
  return 1;
}

int rvs_spline_init_grid(rvs_spline *s, const double *x, size_t n, int grid_kind) {
  if (!s) return rvs_error(RVS_ERR_ARG, "rvs_spline_init: NULL spline");
  memset(s, 0, sizeof *s);
  if (!x || n < 4)
    return rvs_error(RVS_ERR_ARG, "rvs_spline_init: need at least 4 nodes (got %zu)", n);
  if (grid_kind < RVS_GRID_AUTO || grid_kind > RVS_GRID_GENERAL)
    return rvs_error(RVS_ERR_ARG, "rvs_spline_init: unknown grid kind %d", grid_kind);
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(x[i]))
      return rvs_error(RVS_ERR_ARG, "rvs_spline_init: node %zu is not finite", i);
    if (i > 0 && !(x[i] > x[i - 1]))
      return rvs_error(RVS_ERR_ARG,
                       "rvs_spline_init: nodes not strictly increasing at %zu (%.17g <= %.17g)",
                       i, x[i], x[i - 1]);
  }
  double u0 = x[0], inv = 0;
  int kind = RVS_GRID_GENERAL;
  if (grid_kind == RVS_GRID_LOG || grid_kind == RVS_GRID_AUTO) {
    if (x[0] > 0 && grid_is_uniform(x, n, 1, &u0, &inv))
      kind = RVS_GRID_LOG;
    else if (grid_kind == RVS_GRID_LOG)
      return rvs_error(RVS_ERR_ARG,
                       "rvs_spline_init: wavelength grid is not uniform in ln(x) "
                       "(first steps %.17g, %.17g)",
                       x[0] > 0 ? log(x[1] / x[0]) : NAN, x[0] > 0 ? log(x[2] / x[1]) : NAN);
  }
  if (kind == RVS_GRID_GENERAL &&
      (grid_kind == RVS_GRID_LINEAR || grid_kind == RVS_GRID_AUTO)) {
    if (grid_is_uniform(x, n, 0, &u0, &inv))
      kind = RVS_GRID_LINEAR;
    else if (grid_kind == RVS_GRID_LINEAR)
      return rvs_error(RVS_ERR_ARG,
                       "rvs_spline_init: wavelength grid is not linearly uniform "
                       "(first steps %.17g, %.17g)",
                       x[1] - x[0], x[2] - x[1]);
  }
  if (kind == RVS_GRID_GENERAL) {
    u0 = x[0];
    inv = 0;
  }
  /* One block: x, y, z, tri_c, tri_d, tri_g, hinv (n each), coef (4(n-1)). */
  if (n > ((size_t)-1) / (11 * sizeof(double)))
    return rvs_error(RVS_ERR_NOMEM, "rvs_spline_init: %zu nodes is too many", n);
  double *mem = malloc(sizeof(double) * (11 * n - 4));
  if (!mem) return rvs_error(RVS_ERR_NOMEM, "rvs_spline_init: out of memory (%zu nodes)", n);
  s->n = n;
  s->x = mem;
  s->y = mem + n;
  s->z = mem + 2 * n;
  s->tri_c = mem + 3 * n;
  s->tri_d = mem + 4 * n;
  s->tri_g = mem + 5 * n;
  s->hinv = mem + 6 * n;
  s->coef = mem + 7 * n;
  s->grid_kind = kind;
  s->x0 = u0;
  s->inv_dx = inv;
  memcpy(s->x, x, sizeof(double) * n);
  memset(s->y, 0, sizeof(double) * n);
  memset(s->z, 0, sizeof(double) * n);
  memset(s->coef, 0, sizeof(double) * 4 * (n - 1));
  grid_factors(s->x, n, s->tri_c, s->tri_d, s->tri_g, s->hinv);
  return RVS_OK;
}

void rvs_spline_set_y(rvs_spline *s, const double *y) {
  if (y != s->y) memcpy(s->y, y, sizeof(double) * s->n);
  solve_z(s->y, s->n, s->tri_c, s->tri_d, s->tri_g, s->hinv, s->z);
  coeffs_hinv(s->x, s->y, s->z, s->hinv, s->n, s->coef);
}

int rvs_spline_init(rvs_spline *s, const double *x, const double *y, size_t n, int grid_kind) {
  if (!y) {
    if (s) memset(s, 0, sizeof *s);
    return rvs_error(RVS_ERR_ARG, "rvs_spline_init: NULL values");
  }
  int rc = rvs_spline_init_grid(s, x, n, grid_kind);
  if (rc) return rc;
  rvs_spline_set_y(s, y);
  return RVS_OK;
}

void rvs_spline_free(rvs_spline *s) {
  if (!s) return;
  free(s->x);
  memset(s, 0, sizeof *s);
}

/* Clamp a real-valued interval guess t to [0, n-2] (NaN -> 0), then step it
 * until x[i] <= q < x[i+1] (or the end interval). */
static inline size_t correct_guess(const double *x, size_t n, double q, double t) {
  size_t last = n - 2, i;
  if (!(t > 0))
    i = 0;
  else if (t >= (double)last)
    i = last;
  else
    i = (size_t)t;
  while (i > 0 && q < x[i]) i--;
  while (i < last && q >= x[i + 1]) i++;
  return i;
}

static inline size_t bsearch_interval(const double *x, size_t n, double q) {
  size_t lo = 0, hi = n - 2; /* answer in [lo, hi] */
  if (!(q >= x[1])) return 0;
  while (lo < hi) {
    size_t mid = lo + (hi - lo + 1) / 2;
    if (x[mid] <= q)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

size_t rvs_spline_interval(const rvs_spline *s, double q) {
  switch (s->grid_kind) {
  case RVS_GRID_LOG:
    return correct_guess(s->x, s->n, q, (log(q) - s->x0) * s->inv_dx);
  case RVS_GRID_LINEAR:
    return correct_guess(s->x, s->n, q, (q - s->x0) * s->inv_dx);
  default:
    return bsearch_interval(s->x, s->n, q);
  }
}

static inline double eval_on(const rvs_spline *s, size_t i, double q) {
  const double *c = s->coef + 4 * i;
  double dl = q - s->x[i], dr = s->x[i + 1] - q;
  return c[0] * dl * dl * dl + c[1] * dr * dr * dr + c[2] * dl + c[3] * dr;
}

double rvs_spline_eval_one(const rvs_spline *s, double q) {
  return eval_on(s, rvs_spline_interval(s, q), q);
}

static int range_check(const rvs_spline *s, double first, double last) {
  double lo = s->x[0], hi = s->x[s->n - 1];
  if (first >= lo && first < hi && last >= lo && last < hi) return RVS_OK;
  return rvs_error(RVS_ERR_RANGE,
                   "spline: query range [%.10g, %.10g] outside the template grid [%.10g, %.10g)",
                   first, last, lo, hi);
}

int rvs_spline_eval(const rvs_spline *s, const double *xq, size_t nq, double *out) {
  if (nq == 0) return RVS_OK;
  int rc = range_check(s, xq[0], xq[nq - 1]);
  if (rc) return rc;
  const double *x = s->x;
  size_t n = s->n;
  switch (s->grid_kind) {
  case RVS_GRID_LOG: {
    double u0 = s->x0, inv = s->inv_dx;
    for (size_t k = 0; k < nq; k++) {
      double q = xq[k];
      out[k] = eval_on(s, correct_guess(x, n, q, (log(q) - u0) * inv), q);
    }
    break;
  }
  case RVS_GRID_LINEAR: {
    double u0 = s->x0, inv = s->inv_dx;
    for (size_t k = 0; k < nq; k++) {
      double q = xq[k];
      out[k] = eval_on(s, correct_guess(x, n, q, (q - u0) * inv), q);
    }
    break;
  }
  default:
    for (size_t k = 0; k < nq; k++) out[k] = eval_on(s, bsearch_interval(x, n, xq[k]), xq[k]);
  }
  return RVS_OK;
}

/* The log-grid loop of rvs_spline_eval_doppler for nq4 (a multiple of 4)
 * queries: the guessed interval of each lane is checked in vectors and
 * corrected by the scalar loop only where it misses; the coefficients of the
 * four intervals are loaded as rows and transposed; the cubic in vectors
 * (the same expressions in the same order as eval_on: the same bits). */
typedef long v4l __attribute__((vector_size(32), aligned(8), may_alias));
static inline size_t clamp_guess(size_t last, double t) {
  return !(t > 0) ? 0 : (t >= (double)last ? last : (size_t)t);
}
RVS_CLONES static void eval_doppler_log4(const rvs_spline *s, const double *lam_obs,
                                         const double *ln_lam_obs, size_t nq4, double shrink,
                                         double off, double inv, double *out) {
  const double *x = s->x, *cf = s->coef;
  size_t n = s->n, last = n - 2;
  for (size_t k = 0; k < nq4; k += 4) {
    v4d q = ld4(lam_obs + k) * shrink;
    v4d t = (ld4(ln_lam_obs + k) + off) * inv;
    size_t i0 = clamp_guess(last, t[0]), i1 = clamp_guess(last, t[1]);
    size_t i2 = clamp_guess(last, t[2]), i3 = clamp_guess(last, t[3]);
    v4d xl = {x[i0], x[i1], x[i2], x[i3]}, xr = {x[i0 + 1], x[i1 + 1], x[i2 + 1], x[i3 + 1]};
    v4l ok = (q >= xl) & (q < xr);
    if (!(ok[0] & ok[1] & ok[2] & ok[3])) { /* rare: a guess off by one interval */
      i0 = correct_guess(x, n, q[0], t[0]);
      i1 = correct_guess(x, n, q[1], t[1]);
      i2 = correct_guess(x, n, q[2], t[2]);
      i3 = correct_guess(x, n, q[3], t[3]);
      xl = (v4d){x[i0], x[i1], x[i2], x[i3]};
      xr = (v4d){x[i0 + 1], x[i1 + 1], x[i2 + 1], x[i3 + 1]};
    }
    v4d r0 = ld4(cf + 4 * i0), r1 = ld4(cf + 4 * i1), r2 = ld4(cf + 4 * i2), r3 = ld4(cf + 4 * i3);
    v4l lo = {0, 4, 2, 6}, hi = {1, 5, 3, 7}, first = {0, 1, 4, 5}, second = {2, 3, 6, 7};
    v4d a0 = __builtin_shuffle(r0, r1, lo), a1 = __builtin_shuffle(r0, r1, hi);
    v4d a2 = __builtin_shuffle(r2, r3, lo), a3 = __builtin_shuffle(r2, r3, hi);
    v4d c0 = __builtin_shuffle(a0, a2, first), c2 = __builtin_shuffle(a0, a2, second);
    v4d c1 = __builtin_shuffle(a1, a3, first), c3 = __builtin_shuffle(a1, a3, second);
    v4d dl = q - xl, dr = xr - q;
    st4(out + k, c0 * dl * dl * dl + c1 * dr * dr * dr + c2 * dl + c3 * dr);
  }
}

int rvs_spline_eval_doppler(const rvs_spline *s, const double *lam_obs,
                            const double *ln_lam_obs, size_t nq, double v_kms,
                            double *out) {
  if (nq == 0) return RVS_OK;
  double shrink = rvs_doppler_rest_scale(v_kms); /* as rvs_doppler_rest_wavelengths */
  int rc = range_check(s, lam_obs[0] * shrink, lam_obs[nq - 1] * shrink);
  if (rc) return rc;
  if (s->grid_kind != RVS_GRID_LOG || !ln_lam_obs) {
    const double *x = s->x;
    size_t n = s->n;
    if (s->grid_kind == RVS_GRID_GENERAL) {
      for (size_t k = 0; k < nq; k++) {
        double q = lam_obs[k] * shrink;
        out[k] = eval_on(s, bsearch_interval(x, n, q), q);
      }
    } else {
      int lg = s->grid_kind == RVS_GRID_LOG;
      double u0 = s->x0, inv = s->inv_dx;
      for (size_t k = 0; k < nq; k++) {
        double q = lam_obs[k] * shrink;
        double t = ((lg ? log(q) : q) - u0) * inv;
        out[k] = eval_on(s, correct_guess(x, n, q, t), q);
      }
    }
    return RVS_OK;
  }
  /* ln(q) = ln(lam_obs) + ln(shrink): no log per query; the guess may differ
   * from log(q) in the last bit, the corrected interval does not. */
  double off = log(shrink) - s->x0, inv = s->inv_dx;
  const double *x = s->x;
  size_t n = s->n;
  size_t nq4 = nq & ~(size_t)3;
  if (nq4) eval_doppler_log4(s, lam_obs, ln_lam_obs, nq4, shrink, off, inv, out);
  for (size_t k = nq4; k < nq; k++) {
    double q = lam_obs[k] * shrink;
    out[k] = eval_on(s, correct_guess(x, n, q, (ln_lam_obs[k] + off) * inv), q);
  }
  return RVS_OK;
}
