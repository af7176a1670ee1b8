/* Tests of the Delaunay and regular-grid interpolators (templates/interp.h).
 * References: analytic functions of the mapped parameters (linear and
 * multilinear ones are reproduced exactly), brute-force point location and
 * nearest-neighbour searches written here. */
#include "rvs_test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "rvs/status.h"
#include "templates/interp.h"
#include "templates/interp_file.h"
#include "templates/interp_internal.h"

#define NPIX 64

/* --------------------------------------------------------------- fixtures */

static double urand(unsigned *state) { /* test-local LCG in [0,1) */
  *state = *state * 1664525u + 1013904223u;
  return (*state >> 8) * (1.0 / 16777216.0);
}

typedef double (*lnspec_fn)(const double *mapped, int ndim, int j);

/* ln-spec linear in the mapped parameters (log10 teff, logg, feh, alpha). */
static double f_linear(const double *x, int ndim, int j) {
  double v = 0.3 * sin(0.1 * j) - 1.0;
  for (int d = 0; d < ndim; d++) v += (0.2 + 0.1 * d) * cos(0.05 * j * (d + 1) + d) * x[d];
  return v;
}

/* Multilinear (products of distinct coordinates): reproduced by the grid. */
static double f_multilinear(const double *x, int ndim, int j) {
  double v = f_linear(x, ndim, j);
  double p = 1;
  for (int d = 0; d < ndim; d++) p *= x[d];
  return v + 0.05 * sin(0.2 * j) * x[0] * x[1] + 0.01 * p;
}

/* Non-linear: nodes must still be reproduced exactly. */
static double f_nonlinear(const double *x, int ndim, int j) {
  double v = 0;
  for (int d = 0; d < ndim; d++) v += sin(3.0 * x[d] + 0.07 * j * (d + 1));
  return 0.5 * v;
}

static const double TEFF[] = {4000, 4500, 5000, 5500, 6000, 6500};
static const double LOGG[] = {1, 2, 3, 4, 5};
static const double FEH[] = {-2, -1, -0.5, 0};
static const double ALPHA[] = {0, 0.4};

typedef struct grid_def {
  int ndim;
  const double *vals[4];
  int nval[4];
} grid_def;

static grid_def default_grid(void) {
  grid_def g = {4, {TEFF, LOGG, FEH, ALPHA}, {6, 5, 4, 2}};
  return g;
}

static double map1(int d, double raw) { return d == 0 ? log10(raw) : raw; }

/* Full grid (minus nodes for which skip() is true) with ln-spec fn. */
static rvs_specs make_specs(grid_def g, lnspec_fn fn, int float_bits,
                            int (*skipfn)(const double *raw)) {
  rvs_specs s;
  memset(&s, 0, sizeof s);
  int total = 1;
  for (int d = 0; d < g.ndim; d++) total *= g.nval[d];
  s.nparam = (size_t)g.ndim;
  s.npix = NPIX;
  s.vec = malloc(sizeof(double) * (size_t)total * (size_t)g.ndim);
  s.specs = malloc(sizeof(double) * (size_t)total * NPIX);
  s.lam = malloc(sizeof(double) * NPIX);
  s.parnames = calloc(4, sizeof(char *));
  static const char *names[] = {"teff", "logg", "feh", "alpha"};
  for (int d = 0; d < g.ndim; d++) s.parnames[d] = (char *)names[d];
  for (int j = 0; j < NPIX; j++) s.lam[j] = 5000 * exp(1e-4 * j);
  s.log_step = 1;
  s.log_spec = 1;
  s.float_bits = float_bits;
  static int log_ids[1] = {0};
  s.log_ids = log_ids;
  s.nlog_ids = 1;
  /* first pass: collect kept nodes */
  double raw[4], x[4];
  size_t ns = 0;
  double *tmpvec = malloc(sizeof(double) * (size_t)total * 4);
  for (int k = 0; k < total; k++) {
    int rem = k;
    for (int d = g.ndim - 1; d >= 0; d--) {
      raw[d] = g.vals[d][rem % g.nval[d]];
      rem /= g.nval[d];
    }
    if (skipfn && skipfn(raw)) continue;
    for (int d = 0; d < g.ndim; d++) tmpvec[ns * 4 + (size_t)d] = raw[d];
    ns++;
  }
  s.nspec = ns;
  for (size_t i = 0; i < ns; i++) {
    for (int d = 0; d < g.ndim; d++) {
      raw[d] = tmpvec[i * 4 + (size_t)d];
      s.vec[(size_t)d * ns + i] = raw[d];
      x[d] = map1(d, raw[d]);
    }
    for (int j = 0; j < NPIX; j++) {
      double v = fn(x, g.ndim, j);
      if (float_bits == 32) v = (double)(float)v;
      s.specs[i * NPIX + (size_t)j] = v;
    }
  }
  free(tmpvec);
  return s;
}

static void free_specs(rvs_specs *s) {
  free(s->vec);
  free(s->specs);
  free(s->lam);
  free(s->parnames);
}

/* A random raw point with mapped coordinates in [lo + m*span, hi - m*span]. */
static void random_raw(grid_def g, double margin, unsigned *st, double *raw) {
  for (int d = 0; d < g.ndim; d++) {
    double lo = map1(d, g.vals[d][0]), hi = map1(d, g.vals[d][g.nval[d] - 1]);
    double span = hi - lo;
    double x = lo + margin * span + urand(st) * (1 - 2 * margin) * span;
    raw[d] = d == 0 ? pow(10, x) : x;
  }
}

/* tri: 0 regular grid, 1 triangulation (upstream weights), 2 triangulation
 * with exact-node weights */
static rvs_interp *build(int tri, const rvs_specs *s) {
  rvs_interp *ip = NULL;
  int st = tri == 2   ? rvs_interp_build_tri_ex(s, RVS_TRI_WEIGHTS_EXACT, &ip)
           : tri == 1 ? rvs_interp_build_tri(s, &ip)
                      : rvs_interp_build_grid(s, &ip);
  if (st) fail_msg("build failed: %s", rvs_last_error());
  assert_non_null(ip);
  return ip;
}

static void scratch_dir(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/test_interp", RVS_TEST_SCRATCH);
  mkdir(buf, 0777);
  size_t l = strlen(buf);
  snprintf(buf + l, cap - l, "/%s", name);
}

/* --------------------------------------------------------------- triangulation */

static void tri_nodes_exact(void **state) {
  (void)state;
  grid_def g = default_grid();
  rvs_specs s = make_specs(g, f_nonlinear, 64, NULL);
  rvs_interp *ip = build(2, &s);
  assert_int_equal(rvs_interp_nvert(ip), s.nspec + 16);
  double spec[NPIX], out, raw[4], maxrel = 0;
  for (size_t i = 0; i < s.nspec; i++) {
    for (int d = 0; d < 4; d++) raw[d] = s.vec[(size_t)d * s.nspec + i];
    assert_int_equal(rvs_interp_eval(ip, raw, spec, &out), RVS_OK);
    for (int j = 0; j < NPIX; j++) {
      double want = s.specs[i * NPIX + (size_t)j];
      double e = fabs(log(spec[j]) - want) / fmax(fabs(want), 1e-3);
      if (e > maxrel) maxrel = e;
    }
  }
  print_message("tri nodes: max relative |d ln f| = %.3g\n", maxrel);
  assert_true(maxrel < 1e-12);
  rvs_interp_free(ip);
  free_specs(&s);
}

static void tri_linear_exact(void **state) {
  (void)state;
  grid_def g = default_grid();
  rvs_specs s = make_specs(g, f_linear, 64, NULL);
  rvs_interp *ip = build(2, &s);
  unsigned seed = 12345;
  double raw[4], x[4], spec[NPIX], out, maxerr = 0;
  for (int it = 0; it < 500; it++) {
    random_raw(g, 0.02, &seed, raw);
    for (int d = 0; d < 4; d++) x[d] = map1(d, raw[d]);
    assert_int_equal(rvs_interp_eval(ip, raw, spec, &out), RVS_OK);
    assert_true(out == 0.0); /* well inside the real hull */
    for (int j = 0; j < NPIX; j++) {
      double e = fabs(log(spec[j]) - f_linear(x, 4, j));
      if (e > maxerr) maxerr = e;
    }
  }
  print_message("tri linear: max |d ln f| = %.3g\n", maxerr);
  assert_true(maxerr < 1e-11);
  rvs_interp_free(ip);
  free_specs(&s);
}

static void tri_outside_measure(void **state) {
  (void)state;
  grid_def g = default_grid();
  rvs_specs s = make_specs(g, f_linear, 64, NULL);
  rvs_interp *ip = build(2, &s);
  double spec[NPIX], out;
  /* centre of the grid, raw: teff 5250 (mapped midpoint differs; fine) */
  double mid[4] = {5250, 3, -1, 0.2};
  assert_int_equal(rvs_interp_eval(ip, mid, spec, &out), RVS_OK);
  assert_true(out == 0.0);
  /* at a real hull face (teff = 4000): ~0 (jitter-level) */
  double face[4] = {4000, 3, -1, 0.2};
  assert_int_equal(rvs_interp_eval(ip, face, spec, &out), RVS_OK);
  assert_true(out >= 0 && out < 1e-3);
  /* along teff from the hull face to the box face: rises from 0 to 1 */
  double lo = log10(4000.0), span = log10(6500.0) - lo;
  double prev = -1;
  for (int k = 0; k <= 40; k++) {
    double xt = lo - 0.2 * span * k / 40.0;
    double p[4] = {pow(10, xt), 3, -1, 0.2};
    assert_int_equal(rvs_interp_eval(ip, p, spec, &out), RVS_OK);
    assert_true(out >= prev - 1e-9);
    assert_true(out >= 0 && out <= 1 + 1e-9);
    if (k > 0 && k < 40) assert_true(out > 0 && out < 1);
    prev = out;
  }
  assert_close_abs(prev, 1.0, 1e-6); /* on the box face */
  /* at every corner of the padded box: 1, and the spectrum of the nearest node */
  for (int c = 0; c < 16; c++) {
    double raw[4];
    for (int d = 0; d < 4; d++) {
      double x = ip->vec[(s.nspec + (size_t)c) * 4 + (size_t)d];
      raw[d] = d == 0 ? pow(10, x) : x;
    }
    assert_int_equal(rvs_interp_eval(ip, raw, spec, &out), RVS_OK);
    assert_close_abs(out, 1.0, 1e-9);
  }
  /* beyond the box: NaN, error, NaN spectrum */
  double beyond[4] = {pow(10, lo - 0.21 * span), 3, -1, 0.2};
  assert_int_equal(rvs_interp_eval(ip, beyond, spec, &out), RVS_ERR_RANGE);
  assert_true(isnan(out));
  assert_true(isnan(spec[0]) && isnan(spec[NPIX - 1]));
  double beyond2[4] = {5000, 3, -1, 0.4 + 0.081};
  assert_int_equal(rvs_interp_eval(ip, beyond2, spec, &out), RVS_ERR_RANGE);
  assert_true(isnan(out));
  double negteff[4] = {-5000, 3, -1, 0.2}; /* log10 of a negative: NaN */
  assert_int_equal(rvs_interp_eval(ip, negteff, spec, &out), RVS_ERR_RANGE);
  assert_true(isnan(out));
  rvs_interp_free(ip);
  free_specs(&s);
}

static void tri_corner_spectra(void **state) {
  (void)state;
  /* each corner carries the spectrum of its nearest real node (brute force
   * here in mapped, unscaled space) */
  grid_def g = default_grid();
  rvs_specs s = make_specs(g, f_nonlinear, 64, NULL);
  rvs_interp *ip = build(2, &s);
  for (int c = 0; c < 16; c++) {
    const double *cv = ip->vec + (s.nspec + (size_t)c) * 4;
    /* corner c takes the upper bound in dim d iff bit d is set */
    for (int d = 0; d < 4; d++) {
      double lo = map1(d, g.vals[d][0]), hi = map1(d, g.vals[d][g.nval[d] - 1]);
      double span = hi - lo, want = (c >> d) & 1 ? hi + 0.2 * span : lo - 0.2 * span;
      assert_close_abs(cv[d], want, 1e-12);
    }
    size_t best = 0;
    double bd = INFINITY;
    for (size_t i = 0; i < s.nspec; i++) {
      double d2 = 0;
      for (int d = 0; d < 4; d++) {
        double t = ip->vec[i * 4 + (size_t)d] - cv[d];
        d2 += t * t;
      }
      if (d2 < bd) {
        bd = d2;
        best = i;
      }
    }
    assert_memory_equal(ip->specs64 + (s.nspec + (size_t)c) * NPIX, s.specs + best * NPIX,
                        NPIX * sizeof(double));
    assert_true(ip->extraflags[s.nspec + (size_t)c] == 1.0);
  }
  for (size_t i = 0; i < s.nspec; i++) assert_true(ip->extraflags[i] == 0.0);
  rvs_interp_free(ip);
  free_specs(&s);
}

static void tri_walk_matches_bruteforce(void **state) {
  (void)state;
  grid_def g = default_grid();
  rvs_specs s = make_specs(g, f_linear, 64, NULL);
  rvs_interp *ip = build(1, &s);
  unsigned seed = 777;
  int n = 3000, nsame = 0;
  double x[4], b1[5], b2[5];
  for (int it = 0; it < n; it++) {
    for (int d = 0; d < 4; d++)
      x[d] = ip->box_lo[d] + urand(&seed) * (ip->box_hi[d] - ip->box_lo[d]);
    int32_t s1 = rvs_tri_find_simplex(ip, x, b1);
    int32_t s2 = rvs_tri_find_simplex_bruteforce(ip, x, b2);
    assert_true(s1 >= 0);
    assert_int_equal(s1, s2);
    double sum = 0;
    for (int k = 0; k < 5; k++) {
      assert_true(b1[k] >= -1e-12);
      sum += b1[k];
    }
    assert_close_abs(sum, 1.0, 1e-12);
    nsame++;
  }
  assert_int_equal(nsame, n);
  print_message("tri: %zu simplices, %zu buckets; %d random points located as brute force\n",
                ip->nsimplex, ip->nbucket, n);
  /* each simplex's neighbour shares exactly ndim vertices with it */
  for (size_t si = 0; si < ip->nsimplex; si++)
    for (int k = 0; k < 5; k++) {
      int32_t nb = ip->neighbors[si * 5 + (size_t)k];
      if (nb < 0) continue;
      int shared = 0;
      for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++)
          shared += ip->simplices[si * 5 + (size_t)a] == ip->simplices[(size_t)nb * 5 + (size_t)b];
      assert_int_equal(shared, 4);
    }
  rvs_interp_free(ip);
  free_specs(&s);
}

static void tri_deterministic(void **state) {
  (void)state;
  grid_def g = default_grid();
  rvs_specs s = make_specs(g, f_nonlinear, 64, NULL);
  rvs_interp *a = build(1, &s), *b = build(1, &s);
  assert_int_equal(a->nsimplex, b->nsimplex);
  assert_memory_equal(a->vec, b->vec, a->nvert * 4 * sizeof(double));
  assert_memory_equal(a->simplices, b->simplices, a->nsimplex * 5 * sizeof(int32_t));
  /* stored vertices are the true mapped parameters (the jitter only steers Qhull) */
  for (size_t i = 0; i < s.nspec; i++)
    for (int d = 0; d < 4; d++)
      assert_true(a->vec[i * 4 + (size_t)d] == map1(d, s.vec[(size_t)d * s.nspec + i]));
  /* the jitter stream: reproducible, within +-amplitude, mean ~0 */
  size_t nj = 100000;
  double *v = calloc(nj, sizeof(double)), *w = calloc(nj, sizeof(double));
  rvs_tri_jitter(v, nj, 1e-6, RVS_INTERP_JITTER_SEED);
  rvs_tri_jitter(w, nj, 1e-6, RVS_INTERP_JITTER_SEED);
  assert_memory_equal(v, w, nj * sizeof(double));
  double mean = 0, mx = 0;
  for (size_t i = 0; i < nj; i++) {
    assert_true(v[i] >= -1e-6 && v[i] < 1e-6);
    mean += v[i] / (double)nj;
    if (fabs(v[i]) > mx) mx = fabs(v[i]);
  }
  assert_true(fabs(mean) < 1e-8);
  assert_true(mx > 0.999e-6);
  /* numpy: np.random.seed(1); np.random.uniform(-1e-6, 1e-6, 6) (upstream make_nd) */
  static const double np_first[6] = {-1.6595599059485197e-07, 4.4064898688431626e-07,
                                     -9.997712503653101e-07,  -3.953348547363204e-07,
                                     -7.064882183657739e-07,  -8.153228104624044e-07};
  for (int i = 0; i < 6; i++) assert_true(v[i] == np_first[i]);
  free(v);
  free(w);
  rvs_interp_free(a);
  rvs_interp_free(b);
  free_specs(&s);
}

/* The default weights are upstream's: barycentric coordinates in upstream's
 * geometry, i.e. the templates with numpy's jitter (np.random.seed(1);
 * uniform(-1e-6, 1e-6, (ndim, npoints))) and the exact corners of the box,
 * padded by 20%, around the jittered templates.  Reference: that geometry
 * rebuilt here and, for each point, the simplex found by brute force with
 * its coordinates from a long-double Gaussian elimination. */
static void tri_upstream_weights(void **state) {
  (void)state;
  grid_def g = default_grid();
  rvs_specs s = make_specs(g, f_nonlinear, 64, NULL);
  rvs_interp *ip = build(1, &s);
  const size_t nr = s.nspec, nv = nr + 16;
  double *geo = malloc(nv * 4 * sizeof(double)), *jit = calloc(nr * 4, sizeof(double)); /* rvs_tri_jitter adds */
  assert_non_null(geo);
  assert_non_null(jit);
  rvs_tri_jitter(jit, nr * 4, 1e-6, 1);
  double lo[4], hi[4];
  for (int d = 0; d < 4; d++) {
    lo[d] = INFINITY;
    hi[d] = -INFINITY;
    for (size_t i = 0; i < nr; i++) {
      double x = map1(d, s.vec[(size_t)d * nr + i]) + jit[(size_t)d * nr + i];
      geo[i * 4 + (size_t)d] = x;
      lo[d] = fmin(lo[d], x);
      hi[d] = fmax(hi[d], x);
    }
    double span = hi[d] - lo[d];
    lo[d] -= 0.2 * span;
    hi[d] += 0.2 * span;
  }
  for (int c = 0; c < 16; c++)
    for (int d = 0; d < 4; d++) geo[(nr + (size_t)c) * 4 + (size_t)d] = (c >> d) & 1 ? hi[d] : lo[d];
  /* the corners the interpolator stores are upstream's */
  for (size_t k = nr * 4; k < nv * 4; k++) assert_true(ip->vec[k] == geo[k]);
  unsigned seed = 4321;
  double maxdw = 0, raw[4], x[4], w[5];
  int vert[5], nw, nfound = 0;
  for (int it = 0; it < 300; it++) {
    random_raw(g, it < 150 ? 0.0 : -0.1, &seed, raw);
    for (int d = 0; d < 4; d++) x[d] = map1(d, raw[d]);
    double out;
    assert_int_equal(rvs_interp_locate(ip, raw, vert, w, &nw, &out), RVS_OK);
    assert_int_equal(nw, 5);
    /* brute force: the non-flat simplex whose coordinates are all >= -1e-9 */
    int best = -1;
    long double bw[5] = {0};
    for (size_t sx = 0; sx < ip->nsimplex && best < 0; sx++) {
      const int32_t *v = ip->simplices + sx * 5;
      long double a[4][5];
      for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++)
          a[i][j] = (long double)geo[(size_t)v[j] * 4 + (size_t)i] - geo[(size_t)v[4] * 4 + (size_t)i];
        a[i][4] = (long double)x[i] - geo[(size_t)v[4] * 4 + (size_t)i];
      }
      int singular = 0;
      for (int c = 0; c < 4 && !singular; c++) {
        int piv = c;
        for (int r = c + 1; r < 4; r++)
          if (fabsl(a[r][c]) > fabsl(a[piv][c])) piv = r;
        if (fabsl(a[piv][c]) < 1e-14L) singular = 1;
        for (int j = 0; j < 5 && piv != c; j++) {
          long double t = a[c][j];
          a[c][j] = a[piv][j];
          a[piv][j] = t;
        }
        for (int r = 0; r < 4 && !singular; r++) {
          if (r == c) continue;
          long double f = a[r][c] / a[c][c];
          for (int j = c; j < 5; j++) a[r][j] -= f * a[c][j];
        }
      }
      if (singular) continue;
      long double b[5], last = 1;
      int inside = 1;
      for (int i = 0; i < 4; i++) {
        b[i] = a[i][4] / a[i][i];
        last -= b[i];
        if (b[i] < -1e-9L) inside = 0;
      }
      b[4] = last;
      if (last < -1e-9L || !inside) continue;
      best = (int)sx;
      for (int i = 0; i < 5; i++) bw[i] = b[i];
    }
    assert_true(best >= 0);
    nfound++;
    /* the same vertices carry the same weights (order-free comparison) */
    const int32_t *v = ip->simplices + (size_t)best * 5;
    for (int i = 0; i < 5; i++) {
      double wi = 0;
      for (int k = 0; k < nw; k++)
        if (vert[k] == v[i]) wi += w[k];
      double dw = fabs(wi - (double)bw[i]);
      if (dw > maxdw) maxdw = dw;
    }
  }
  print_message("tri upstream weights: %d points, max |dw| = %.3g\n", nfound, maxdw);
  assert_int_equal(nfound, 300);
  assert_true(maxdw < 1e-9);
  /* at a node: the node's weight is 1 up to the jitter's effect, not exactly */
  double node[4] = {5000, 3, -1, 0.4}, spec[NPIX], out, maxrel = 0, wnode = 0;
  size_t inode = nr;
  for (size_t i = 0; i < nr && inode == nr; i++) {
    int same = 1;
    for (int d = 0; d < 4; d++) same &= s.vec[(size_t)d * nr + i] == node[d];
    if (same) inode = i;
  }
  assert_true(inode < nr);
  assert_int_equal(rvs_interp_locate(ip, node, vert, w, &nw, &out), RVS_OK);
  for (int k = 0; k < nw; k++)
    if ((size_t)vert[k] == inode) wnode += w[k];
  assert_true(wnode > 0.999 && wnode != 1.0);
  assert_int_equal(rvs_interp_eval(ip, node, spec, &out), RVS_OK);
  for (int j = 0; j < NPIX; j++) {
    double want = s.specs[inode * NPIX + (size_t)j];
    double e = fabs(log(spec[j]) - want) / fmax(fabs(want), 1e-3);
    if (e > maxrel) maxrel = e;
  }
  print_message("tri upstream weights at a node: w = %.9f, max relative |d ln f| = %.3g\n", wnode,
                maxrel);
  assert_true(maxrel > 0 && maxrel < 1e-3);
  free(geo);
  free(jit);
  rvs_interp_free(ip);
  free_specs(&s);
}

static void tri_constant_param_rejected(void **state) {
  (void)state;
  static const double ONE[] = {0.0};
  grid_def g = {4, {TEFF, LOGG, FEH, ONE}, {6, 5, 4, 1}};
  rvs_specs s = make_specs(g, f_linear, 64, NULL);
  rvs_interp *ip = NULL;
  assert_int_equal(rvs_interp_build_tri(&s, &ip), RVS_ERR_ARG);
  assert_null(ip);
  assert_non_null(strstr(rvs_last_error(), "alpha"));
  free_specs(&s);
}

static void tri_locate_weights(void **state) {
  (void)state;
  grid_def g = default_grid();
  rvs_specs s = make_specs(g, f_nonlinear, 64, NULL);
  rvs_interp *ip = build(1, &s);
  assert_int_equal(rvs_interp_max_weights(ip), 5);
  unsigned seed = 99;
  double raw[4], w[5], spec[NPIX], ref[NPIX], out, out2;
  int vert[5], nw;
  for (int it = 0; it < 100; it++) {
    random_raw(g, -0.1, &seed, raw);
    assert_int_equal(rvs_interp_locate(ip, raw, vert, w, &nw, &out), RVS_OK);
    assert_int_equal(nw, 5);
    double sum = 0, of = 0;
    for (int k = 0; k < nw; k++) {
      assert_true(vert[k] >= 0 && (size_t)vert[k] < ip->nvert);
      sum += w[k];
      of += w[k] * ((size_t)vert[k] >= s.nspec ? 1.0 : 0.0);
    }
    assert_close_abs(sum, 1.0, 1e-12);
    assert_close_abs(out, of, 1e-15);
    /* the weighted sum done here equals eval */
    for (int j = 0; j < NPIX; j++) {
      double acc = 0;
      for (int k = 0; k < nw; k++) acc += w[k] * ip->specs64[(size_t)vert[k] * NPIX + (size_t)j];
      ref[j] = exp(acc);
    }
    assert_int_equal(rvs_interp_eval(ip, raw, spec, &out2), RVS_OK);
    assert_true(out2 == out);
    for (int j = 0; j < NPIX; j++) assert_close_rel(spec[j], ref[j], 1e-14, 0);
  }
  rvs_interp_free(ip);
  free_specs(&s);
}

/* --------------------------------------------------------------- batch, file */

static void check_batch(rvs_interp *ip, grid_def g) {
  size_t n = 200;
  double *p = malloc(n * 4 * sizeof(double));
  double *sb = malloc(n * NPIX * sizeof(double)), *ob = malloc(n * sizeof(double));
  unsigned seed = 4242;
  for (size_t i = 0; i < n; i++) random_raw(g, -0.3, &seed, p + i * 4); /* some outside */
  assert_int_equal(rvs_interp_eval_batch(ip, p, n, sb, ob), RVS_OK);
  double spec[NPIX], out;
  int nnan = 0;
  for (size_t i = 0; i < n; i++) {
    int st = rvs_interp_eval(ip, p + i * 4, spec, &out);
    assert_true(st == RVS_OK || st == RVS_ERR_RANGE);
    if (isnan(out)) {
      nnan++;
      assert_true(isnan(ob[i]));
    } else {
      assert_true(out == ob[i]);
    }
    assert_memory_equal(spec, sb + i * NPIX, NPIX * sizeof(double));
  }
  if (rvs_interp_get_kind(ip) == RVS_INTERP_TRIANGULATION) assert_true(nnan > 0);
  free(p);
  free(sb);
  free(ob);
}

static void batch_equals_single(void **state) {
  (void)state;
  grid_def g = default_grid();
  rvs_specs s = make_specs(g, f_nonlinear, 64, NULL);
  rvs_interp *a = build(1, &s), *b = build(0, &s);
  check_batch(a, g);
  check_batch(b, g);
  rvs_interp_free(a);
  rvs_interp_free(b);
  free_specs(&s);
}

static int skip_some(const double *raw) {
  return (raw[0] == 6500 && raw[1] == 1) || (raw[0] == 4500 && raw[1] == 3 && raw[2] == -1);
}

static void roundtrip(int tri, int bits) {
  grid_def g = default_grid();
  rvs_specs s = make_specs(g, f_nonlinear, bits, skip_some);
  rvs_interp *a = build(tri, &s);
  assert_int_equal(rvs_interp_set_provenance(a, "rev7", "rvs_make_nd --test"), RVS_OK);
  char path[1024];
  scratch_dir(path, sizeof path, tri ? "interp_tri.h5" : "interp_grid.h5");
  assert_int_equal(rvs_interp_save(a, path), RVS_OK);
  rvs_interp *b = NULL;
  int st = rvs_interp_load(path, &b);
  if (st) fail_msg("load: %s", rvs_last_error());
  assert_int_equal(rvs_interp_get_kind(b), tri ? RVS_INTERP_TRIANGULATION : RVS_INTERP_REGULARGRID);
  assert_int_equal(rvs_interp_nparam(b), 4);
  assert_int_equal(rvs_interp_npix(b), NPIX);
  assert_string_equal(rvs_interp_parname(b, 2), "feh");
  assert_int_equal(rvs_interp_param_index(b, "alpha"), 3);
  assert_string_equal(rvs_interp_revision(b), "rev7");
  assert_memory_equal(rvs_interp_lam(a), rvs_interp_lam(b), NPIX * sizeof(double));
  int fb;
  rvs_interp_vertex_specs(b, &fb);
  assert_int_equal(fb, bits);
  size_t n = 300;
  double *p = malloc(n * 4 * sizeof(double));
  double *sa = malloc(n * NPIX * sizeof(double)), *sb = malloc(n * NPIX * sizeof(double));
  double *oa = malloc(n * sizeof(double)), *ob = malloc(n * sizeof(double));
  unsigned seed = 31;
  for (size_t i = 0; i < n; i++) random_raw(g, -0.1, &seed, p + i * 4);
  assert_int_equal(rvs_interp_eval_batch(a, p, n, sa, oa), RVS_OK);
  assert_int_equal(rvs_interp_eval_batch(b, p, n, sb, ob), RVS_OK);
  assert_memory_equal(sa, sb, n * NPIX * sizeof(double));
  assert_memory_equal(oa, ob, n * sizeof(double));
  free(p);
  free(sa);
  free(sb);
  free(oa);
  free(ob);
  rvs_interp_free(a);
  rvs_interp_free(b);
  free_specs(&s);
}

static void save_load_roundtrip_tri(void **state) {
  (void)state;
  roundtrip(1, 64);
  roundtrip(1, 32);
}

static void save_load_roundtrip_grid(void **state) {
  (void)state;
  roundtrip(0, 64);
  roundtrip(0, 32);
}

static void load_rejects_bad_files(void **state) {
  (void)state;
  rvs_interp *ip = NULL;
  assert_int_equal(rvs_interp_load("/nonexistent/interp_x.h5", &ip), RVS_ERR_IO);
  assert_non_null(strstr(rvs_last_error(), "/nonexistent/interp_x.h5"));
  char path[1024];
  scratch_dir(path, sizeof path, "not_hdf5.h5");
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("plain text\n", f);
  fclose(f);
  assert_int_equal(rvs_interp_load(path, &ip), RVS_ERR_IO);
  assert_null(ip);
  char name[256];
  assert_int_equal(rvs_interp_file_name("templ_data", "desi_b", name, sizeof name), RVS_OK);
  assert_string_equal(name, "templ_data/interp_desi_b.h5");
  assert_int_equal(rvs_specs_file_name("templ_data/", "desi_b", name, sizeof name), RVS_OK);
  assert_string_equal(name, "templ_data/specs_desi_b.h5");
}

/* --------------------------------------------------------------- regular grid */

static void grid_nodes_exact(void **state) {
  (void)state;
  grid_def g = default_grid();
  rvs_specs s = make_specs(g, f_nonlinear, 64, NULL);
  rvs_interp *ip = build(0, &s);
  double raw[4], spec[NPIX], out;
  for (size_t i = 0; i < s.nspec; i++) {
    for (int d = 0; d < 4; d++) raw[d] = s.vec[(size_t)d * s.nspec + i];
    assert_int_equal(rvs_interp_eval(ip, raw, spec, &out), RVS_OK);
    assert_true(out == 0.0); /* every node is inside, upper edges included */
    for (int j = 0; j < NPIX; j++) assert_close_rel(log(spec[j]), s.specs[i * NPIX + (size_t)j], 1e-12, 1e-3);
  }
  rvs_interp_free(ip);
  free_specs(&s);
}

static void grid_multilinear_exact(void **state) {
  (void)state;
  grid_def g = default_grid();
  rvs_specs s = make_specs(g, f_multilinear, 64, NULL);
  rvs_interp *ip = build(0, &s);
  unsigned seed = 5;
  double raw[4], x[4], spec[NPIX], out, maxerr = 0;
  for (int it = 0; it < 500; it++) {
    random_raw(g, 0.0, &seed, raw);
    for (int d = 0; d < 4; d++) x[d] = map1(d, raw[d]);
    assert_int_equal(rvs_interp_eval(ip, raw, spec, &out), RVS_OK);
    assert_true(out == 0.0);
    for (int j = 0; j < NPIX; j++) {
      double e = fabs(log(spec[j]) - f_multilinear(x, 4, j));
      if (e > maxerr) maxerr = e;
    }
  }
  print_message("grid multilinear: max |d ln f| = %.3g\n", maxerr);
  assert_true(maxerr < 1e-12);
  rvs_interp_free(ip);
  free_specs(&s);
}

/* Brute-force nearest node in ptp-scaled mapped space. */
static size_t brute_nearest(const rvs_specs *s, grid_def g, const double *raw, double *dist) {
  double best = INFINITY;
  size_t bi = 0;
  for (size_t i = 0; i < s->nspec; i++) {
    double d2 = 0;
    for (int d = 0; d < 4; d++) {
      double ptp = map1(d, g.vals[d][g.nval[d] - 1]) - map1(d, g.vals[d][0]);
      double t = (map1(d, raw[d]) - map1(d, s->vec[(size_t)d * s->nspec + i])) / ptp;
      d2 += t * t;
    }
    if (d2 < best) {
      best = d2;
      bi = i;
    }
  }
  *dist = sqrt(best);
  return bi;
}

static void grid_nearest_fallback(void **state) {
  (void)state;
  grid_def g = default_grid();
  rvs_specs s = make_specs(g, f_nonlinear, 64, skip_some);
  rvs_interp *ip = build(0, &s);
  double spec[NPIX], out;
  /* beyond the grid */
  double pts[][4] = {{7000, 3.3, -0.7, 0.1}, {3500, 0.2, -3, 0.6}, {5200, 5.5, 0.3, 0.2}};
  for (int k = 0; k < 3; k++) {
    double dist;
    size_t nn = brute_nearest(&s, g, pts[k], &dist);
    assert_int_equal(rvs_interp_eval(ip, pts[k], spec, &out), RVS_OK);
    assert_close_rel(out, dist, 1e-12, 1e-3);
    assert_true(out > 0);
    for (int j = 0; j < NPIX; j++) assert_close_rel(log(spec[j]), s.specs[nn * NPIX + (size_t)j], 1e-13, 1e-3);
  }
  /* in a cell with a missing corner (teff 6500, logg 1 removed) */
  double hole[4] = {6300, 1.4, -0.7, 0.1};
  double dist;
  size_t nn = brute_nearest(&s, g, hole, &dist);
  assert_int_equal(rvs_interp_eval(ip, hole, spec, &out), RVS_OK);
  assert_close_rel(out, dist, 1e-12, 1e-3);
  for (int j = 0; j < NPIX; j++) assert_close_rel(log(spec[j]), s.specs[nn * NPIX + (size_t)j], 1e-13, 1e-3);
  /* the neighbouring complete cell is interpolated */
  double ok[4] = {6300, 2.5, -0.7, 0.1};
  assert_int_equal(rvs_interp_eval(ip, ok, spec, &out), RVS_OK);
  assert_true(out == 0.0);
  /* non-finite mapped parameter: upstream's first spectrum, outside NaN */
  double bad[4] = {-1, 3, -1, 0};
  assert_int_equal(rvs_interp_eval(ip, bad, spec, &out), RVS_ERR_RANGE);
  assert_true(isnan(out));
  for (int j = 0; j < NPIX; j++) assert_close_rel(log(spec[j]), s.specs[j], 1e-13, 1e-3);
  rvs_interp_free(ip);
  free_specs(&s);
}

static void grid_upper_edge_inside(void **state) {
  (void)state;
  grid_def g = default_grid();
  rvs_specs s = make_specs(g, f_multilinear, 64, NULL);
  rvs_interp *ip = build(0, &s);
  /* on the upper faces (teff = 6500 and alpha = 0.4) between nodes: the
   * interpolant, outside 0 (upstream: nearest node and outside > 0) */
  double p[4] = {6500, 2.5, -0.75, 0.4}, x[4], spec[NPIX], out;
  for (int d = 0; d < 4; d++) x[d] = map1(d, p[d]);
  assert_int_equal(rvs_interp_eval(ip, p, spec, &out), RVS_OK);
  assert_true(out == 0.0);
  for (int j = 0; j < NPIX; j++) assert_close_abs(log(spec[j]), f_multilinear(x, 4, j), 1e-12);
  /* just beyond: outside, distance to the nearest node */
  double q[4] = {6500, 2.5, -0.75, 0.4 + 1e-9};
  assert_int_equal(rvs_interp_eval(ip, q, spec, &out), RVS_OK);
  assert_true(out > 0);
  rvs_interp_free(ip);
  free_specs(&s);
}

static void grid_constant_param(void **state) {
  (void)state;
  static const double ONE[] = {0.2};
  grid_def g = {4, {TEFF, LOGG, FEH, ONE}, {6, 5, 4, 1}};
  rvs_specs s = make_specs(g, f_linear, 64, NULL);
  rvs_interp *ip = build(0, &s);
  assert_int_equal(rvs_interp_max_weights(ip), 16);
  double p[4] = {5200, 2.5, -0.75, 0.2}, x[4], spec[NPIX], out;
  for (int d = 0; d < 4; d++) x[d] = map1(d, p[d]);
  assert_int_equal(rvs_interp_eval(ip, p, spec, &out), RVS_OK);
  assert_true(out == 0.0);
  for (int j = 0; j < NPIX; j++) assert_close_abs(log(spec[j]), f_linear(x, 4, j), 1e-12);
  int vert[16], nw;
  double w[16];
  assert_int_equal(rvs_interp_locate(ip, p, vert, w, &nw, &out), RVS_OK);
  assert_int_equal(nw, 8); /* the constant dimension contributes no corners */
  /* off the constant value: nearest node, distance with span 1 in alpha */
  double q[4] = {5000, 3, -1, 0.5};
  assert_int_equal(rvs_interp_eval(ip, q, spec, &out), RVS_OK);
  assert_close_rel(out, 0.3, 1e-12, 0);
  rvs_interp_free(ip);
  free_specs(&s);
}

/* --------------------------------------------------------------- speed */

static void tri_speed_report(void **state) {
  (void)state;
  /* 4-D, 240 templates (6x5x4x2), N_t = 6000: location + evaluation */
  grid_def g = default_grid();
  rvs_specs s0 = make_specs(g, f_linear, 32, NULL);
  size_t npix = 6000;
  rvs_specs s = s0;
  s.npix = npix;
  s.lam = malloc(npix * sizeof(double));
  s.specs = malloc(s.nspec * npix * sizeof(double));
  for (size_t j = 0; j < npix; j++) s.lam[j] = 3600 * exp(1e-5 * (double)j);
  for (size_t i = 0; i < s.nspec; i++)
    for (size_t j = 0; j < npix; j++)
      s.specs[i * npix + j] = (double)(float)(s0.specs[i * NPIX + j % NPIX] + 1e-6 * (double)j);
  rvs_interp *ip = build(1, &s);
  size_t n = 2000;
  double *p = malloc(n * 4 * sizeof(double)), *spec = malloc(npix * sizeof(double));
  unsigned seed = 1;
  for (size_t i = 0; i < n; i++) random_raw(g, 0.0, &seed, p + i * 4);
  struct timespec t0, t1, t2;
  int vert[5], nw;
  double w[5], out;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (size_t i = 0; i < n; i++) rvs_interp_locate(ip, p + i * 4, vert, w, &nw, &out);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  for (size_t i = 0; i < n; i++) assert_int_equal(rvs_interp_eval(ip, p + i * 4, spec, &out), RVS_OK);
  clock_gettime(CLOCK_MONOTONIC, &t2);
  double tl = ((t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec)) / (double)n;
  double te = ((t2.tv_sec - t1.tv_sec) + 1e-9 * (t2.tv_nsec - t1.tv_nsec)) / (double)n;
  print_message("tri speed: %zu simplices; locate %.2f us/point, locate+eval (N_t=%zu, float32) "
                "%.2f us/point\n", ip->nsimplex, tl * 1e6, npix, te * 1e6);
  assert_true(te < 0.01); /* sanity only: well under 10 ms per point */
  free(p);
  free(spec);
  rvs_interp_free(ip);
  free(s.lam);
  free(s.specs);
  free_specs(&s0);
}


static const struct CMUnitTest tests[] = {
    cmocka_unit_test(tri_nodes_exact),
    cmocka_unit_test(tri_linear_exact),
    cmocka_unit_test(tri_outside_measure),
    cmocka_unit_test(tri_corner_spectra),
    cmocka_unit_test(tri_walk_matches_bruteforce),
    cmocka_unit_test(tri_deterministic),
    cmocka_unit_test(tri_constant_param_rejected),
    cmocka_unit_test(tri_locate_weights),
    cmocka_unit_test(tri_upstream_weights),
    cmocka_unit_test(batch_equals_single),
    cmocka_unit_test(save_load_roundtrip_tri),
    cmocka_unit_test(save_load_roundtrip_grid),
    cmocka_unit_test(load_rejects_bad_files),
    cmocka_unit_test(grid_nodes_exact),
    cmocka_unit_test(grid_multilinear_exact),
    cmocka_unit_test(grid_nearest_fallback),
    cmocka_unit_test(grid_upper_edge_inside),
    cmocka_unit_test(grid_constant_param),
    cmocka_unit_test(tri_speed_report),
};

RVS_TEST_MAIN(tests)
