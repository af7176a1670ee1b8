/* make_interpol: rebinning/LSF weights against brute-force integrals, the
 * analytic width of a convolved Gaussian line, output grids as numpy's,
 * normalisation, errors, threads, and the specs file round trip. */
#include "rvs_test.h"

#include "rvs/status.h"
#include "templates/grid_db.h"
#include "templates/make_interpol.h"
#include "templates/specs_file.h"
#include "test_prep_grid.h"

#define SCR RVS_TEST_SCRATCH "/test_make_interpol"

static const double FWHM_TO_SIG = 2.3548200450309493; /* 2 sqrt(2 ln 2) */

/* ---------------------------------------------------------------- brute force */

static long double gauss(long double u, long double s) {
  return expl(-0.5L * (u / s) * (u / s)) / (s * sqrtl(2.0L * (long double)M_PI));
}

/* ∫_{a}^{b} ∫_{l1}^{l2} f(x) N(y; x, s) dy dx, composite Simpson in both
 * variables (n even), f(x) = basis weight given by (x - x0)/(x1 - x0) or its
 * complement (which = 0: falling, 1: rising). */
static long double brute(double x0, double x1, double a, double b, double l1, double l2, double s,
                         int which, int n) {
  long double hx = ((long double)b - a) / n, hy = ((long double)l2 - l1) / n, tot = 0;
  for (int i = 0; i <= n; i++) {
    long double x = a + hx * i;
    long double wx = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);
    long double t = (x - x0) / ((long double)x1 - x0);
    long double fx = which ? t : 1 - t;
    long double inner = 0;
    for (int j = 0; j <= n; j++) {
      long double y = l1 + hy * j;
      long double wy = (j == 0 || j == n) ? 1 : (j % 2 ? 4 : 2);
      inner += wy * gauss(x - y, s);
    }
    tot += wx * fx * inner * hy / 3;
  }
  return tot * hx / 3;
}

/* The closed-form pixel integrator against a brute-force 2-D integral,
 * for segments inside, overlapping and far from the pixel. */
static void pix_integrator_vs_brute_force(void **state) {
  (void)state;
  static const double cfg[][5] = {
      /* x1, x2, l1, l2, sigma */
      {5000.00, 5000.02, 4999.9, 5000.1, 0.3},  {5000.00, 5000.05, 5000.01, 5000.03, 0.02},
      {4999.0, 4999.5, 5000.0, 5000.4, 0.25},   {5001.3, 5001.4, 5000.0, 5000.4, 0.5},
      {3500.0, 3500.01, 3499.8, 3500.2, 0.9},   {8000.0, 8000.3, 7999.0, 8001.0, 0.1},
  };
  for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
    const double *p = cfg[c];
    double c1, c2;
    rvs_pix_integrator(p[0], p[1], p[2], p[3], p[4], &c1, &c2);
    long double b1 = brute(p[0], p[1], p[0], p[1], p[2], p[3], p[4], 0, 400);
    long double b2 = brute(p[0], p[1], p[0], p[1], p[2], p[3], p[4], 1, 400);
    /* the scale of a weight: segment length x pixel width */
    double scale = (p[1] - p[0]) * (p[3] - p[2]);
    assert_close_abs(c1, (double)b1, 1e-9 * scale);
    assert_close_abs(c2, (double)b2, 1e-9 * scale);
    assert_true(b1 + b2 > 1e-6 * scale); /* the configurations are not all trivial */
  }
}

/* Every weight of several output pixels against brute force over the same
 * input segments; uneven input spacing, log output grid, varying R. */
static void rebinner_weights_vs_brute_force(void **state) {
  (void)state;
  enum { NIN = 800, NOUT = 40 };
  double lam_in[NIN], lam_out[NOUT], R[NOUT];
  for (int k = 0; k < NIN; k++) lam_in[k] = 5000 + 0.05 * k + 0.01 * sin(0.7 * k);
  for (int i = 0; i < NOUT; i++) {
    lam_out[i] = 5005 * exp(0.0001 * i);
    R[i] = 3000 + 20 * i;
  }
  rvs_rebinner m;
  int edge = 1;
  assert_int_equal(rvs_make_rebinner(lam_in, NIN, 0, lam_out, NOUT, R, 1e5, &m, &edge), RVS_OK);
  assert_int_equal(edge, 0);
  int checked[] = {0, 7, 20, 39};
  for (size_t c = 0; c < sizeof checked / sizeof checked[0]; c++) {
    int i = checked[c];
    double hl = i > 0 ? 0.5 * (lam_out[i] - lam_out[i - 1]) : 0.5 * (lam_out[i + 1] - lam_out[i]);
    double hr = i < NOUT - 1 ? 0.5 * (lam_out[i + 1] - lam_out[i]) : hl;
    double l1 = lam_out[i] - hl, l2 = lam_out[i] + hr;
    double fw = lam_out[i] / R[i], fw0 = lam_out[i] / 1e5;
    double s = sqrt(fw * fw - fw0 * fw0) / FWHM_TO_SIG;
    size_t p0 = m.colptr[i], p1 = m.colptr[i + 1];
    assert_true(p1 - p0 > 10);
    size_t k0 = m.row[p0], k1 = m.row[p1 - 1];
    /* the segments span at least +-5 sigma around the pixel */
    assert_true(lam_in[k0] < lam_out[i] - 5 * s);
    assert_true(lam_in[k1] >= lam_out[i] + 5 * s);
    double colsum = 0;
    for (size_t p = p0; p < p1; p++) {
      size_t k = m.row[p];
      assert_int_equal(k, k0 + (p - p0));
      long double w = 0;
      if (k > k0) w += brute(lam_in[k - 1], lam_in[k], lam_in[k - 1], lam_in[k], l1, l2, s, 1, 60);
      if (k < k1) w += brute(lam_in[k], lam_in[k + 1], lam_in[k], lam_in[k + 1], l1, l2, s, 0, 60);
      w /= (l2 - l1);
      assert_close_abs(m.val[p], (double)w, 1e-10);
      colsum += m.val[p];
    }
    /* weights of a constant add to one (up to the 5-sigma truncation) */
    assert_close_abs(colsum, 1.0, 1e-6);
  }
  rvs_rebinner_free(&m);
}

/* A linear input comes out as its value at each pixel's midpoint (the
 * Gaussian and the pixel box are symmetric), in vacuum and in air; the
 * midpoint differs from the pixel centre by up to 2.5e-5 relative here. */
static void rebinner_preserves_linear(void **state) {
  (void)state;
  enum { NIN = 3001, NOUT = 200 };
  static double lam_in[NIN], in[NIN], lam_out[NOUT], R[NOUT], out[NOUT];
  for (int air = 0; air <= 1; air++) {
    for (int k = 0; k < NIN; k++) {
      lam_in[k] = 4970 + 0.02 * k;
      double la = air ? rvs_vac_to_air(lam_in[k]) : lam_in[k];
      in[k] = 20.0 + 0.5 * (la - 5000);
    }
    for (int i = 0; i < NOUT; i++) {
      lam_out[i] = 4990 + 0.1 * i + 0.001 * i * i / NOUT;
      R[i] = 5000;
    }
    rvs_rebinner m;
    int edge = 0;
    assert_int_equal(rvs_make_rebinner(lam_in, NIN, air, lam_out, NOUT, R, 1e5, &m, &edge), RVS_OK);
    rvs_rebinner_apply(&m, in, out);
    for (int i = 0; i < NOUT; i++) {
      double hl = i > 0 ? 0.5 * (lam_out[i] - lam_out[i - 1]) : 0.5 * (lam_out[1] - lam_out[0]);
      double hr = i < NOUT - 1 ? 0.5 * (lam_out[i + 1] - lam_out[i]) : hl;
      double mid = lam_out[i] + 0.5 * (hr - hl);
      /* 1e-6: the kernel is cut at 5 sigma (5.7e-7 of its mass), as upstream */
      assert_close_rel(out[i], 20.0 + 0.5 * (mid - 5000), 1e-6, 1.0);
    }
    rvs_rebinner_free(&m);
  }
  /* the vacuum -> air formula against Morton (2000) at 5000 A */
  double s2 = 1e4 / 5000.0 * (1e4 / 5000.0);
  double n = 1 + 8.34254e-5 + 2.406147e-2 / (130 - s2) + 1.5998e-4 / (38.9 - s2);
  assert_close_abs(rvs_vac_to_air(5000.0), 5000.0 / n, 2e-3);
}

/* ---------------------------------------------------------------- grids */

static void output_grids_as_numpy(void **state) {
  (void)state;
  double *lam = NULL;
  size_t n = 0;
  /* log: reference values from numpy (see the test's comments in git) */
  assert_int_equal(rvs_mi_output_grid(3500, 5900, 0.4, 1, &lam, &n), RVS_OK);
  assert_int_equal(n, 6215);
  assert_close_rel(lam[0], 3488.364069952843, 1e-14, 1);
  assert_close_rel(lam[3000], 4502.987941169932, 1e-14, 1);
  assert_close_rel(lam[n - 1], 5919.555959604377, 1e-14, 1);
  /* the step is 0.4 A at the centre of lambda0..lambda1 */
  size_t ic = 0;
  for (size_t i = 0; i < n; i++)
    if (fabs(lam[i] - 4700) < fabs(lam[ic] - 4700)) ic = i;
  assert_int_equal(ic, 3503);
  assert_close_abs(lam[ic + 1] - lam[ic], 0.4, 1e-4);
  assert_close_rel(lam[ic + 1] / lam[ic], 1 + 0.4 / 4700, 1e-12, 1);
  free(lam);
  /* linear */
  assert_int_equal(rvs_mi_output_grid(3500, 5900, 0.4, 0, &lam, &n), RVS_OK);
  assert_int_equal(n, 6080);
  assert_close_rel(lam[0], 3488.364069952844, 1e-15, 1);
  assert_close_rel(lam[1234], 3981.9640699529564, 1e-15, 1);
  assert_close_rel(lam[n - 1], 5919.9640699533975, 1e-15, 1);
  free(lam);
  /* numpy.arange lengths where rounding matters */
  assert_int_equal(rvs_arange(1, 1.3, 0.1, &lam, &n), RVS_OK);
  assert_int_equal(n, 4);
  free(lam);
  assert_int_equal(rvs_arange(0, 1, 0.1, &lam, &n), RVS_OK);
  assert_int_equal(n, 10);
  assert_true(lam[3] == 0.30000000000000004); /* 3 * ((0 + 0.1) - 0) */
  free(lam);
  /* too few pixels */
  assert_int_equal(rvs_mi_output_grid(5000, 5000.1, 100, 1, &lam, &n), RVS_ERR_ARG);
}

/* ---------------------------------------------------------------- normalisation */

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double sort_median(const double *x, size_t n) {
  double *c = malloc(n * sizeof(double));
  memcpy(c, x, n * sizeof(double));
  qsort(c, n, sizeof(double), cmp_d);
  double m = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
  free(c);
  return m;
}

static void median_matches_sorting(void **state) {
  (void)state;
  double x[101], w[101];
  unsigned s = 12345;
  for (size_t n = 1; n <= 101; n += 7) {
    for (size_t i = 0; i < n; i++) {
      s = s * 1103515245u + 12345u;
      x[i] = (double)(s >> 8) / 16777216.0 - (i % 3 == 0 ? 0.5 : 0); /* with ties */
      if (i % 5 == 0 && i) x[i] = x[i - 1];
    }
    assert_true(rvs_mi_median(x, n, w) == sort_median(x, n));
  }
}

static void normalisation_modes(void **state) {
  (void)state;
  enum { N = 10 };
  double lam[N], spec[N], orig[N], lognorm = -1;
  /* an exponential in lambda is exactly the linear_continuum model -> ln = 0 */
  for (int i = 0; i < N; i++) {
    lam[i] = 5000 + i;
    spec[i] = exp(1.3 + 0.01 * i);
  }
  assert_int_equal(rvs_normalize_log(lam, spec, N, RVS_NORM_LINEAR_CONTINUUM, &lognorm), RVS_OK);
  assert_true(lognorm == 0);
  for (int i = 0; i < N; i++) assert_close_abs(spec[i], 0.0, 1e-13);
  /* an arbitrary spectrum, odd length: halves of 4 and 5 pixels */
  enum { M = 9 };
  double l2[M], s2[M], o2[M];
  for (int i = 0; i < M; i++) {
    l2[i] = 4000 + 3 * i;
    o2[i] = s2[i] = 2 + sin(1.7 * i) + 0.1 * i;
  }
  assert_int_equal(rvs_normalize_log(l2, s2, M, RVS_NORM_LINEAR_CONTINUUM, &lognorm), RVS_OK);
  double la = sort_median(l2, 4), lb = sort_median(l2 + 4, 5);
  double ya = log(sort_median(o2, 4)), yb = log(sort_median(o2 + 4, 5));
  for (int i = 0; i < M; i++) {
    double cont = ya + (yb - ya) * (l2[i] - la) / (lb - la);
    assert_close_abs(s2[i], log(o2[i]) - cont, 1e-13);
  }
  /* median: lognorm = ln(median); even length averages the middle pair */
  for (int i = 0; i < N; i++) orig[i] = spec[i] = 1 + 0.3 * ((i * 7) % N);
  assert_int_equal(rvs_normalize_log(lam, spec, N, RVS_NORM_MEDIAN, &lognorm), RVS_OK);
  double med = sort_median(orig, N);
  assert_close_abs(med, 0.5 * ((1 + 0.3 * 4) + (1 + 0.3 * 5)), 1e-15);
  assert_close_abs(lognorm, log(med), 1e-15);
  for (int i = 0; i < N; i++) assert_close_abs(spec[i], log(orig[i] / med), 1e-14);
  /* none */
  for (int i = 0; i < N; i++) spec[i] = orig[i];
  assert_int_equal(rvs_normalize_log(lam, spec, N, RVS_NORM_NONE, &lognorm), RVS_OK);
  assert_true(lognorm == 0);
  for (int i = 0; i < N; i++) assert_close_abs(spec[i], log(orig[i]), 1e-15);
  /* a non-positive value gives a non-finite log: an error */
  spec[3] = -1;
  assert_int_equal(rvs_normalize_log(lam, spec, N, RVS_NORM_NONE, &lognorm), RVS_ERR_NUMERIC);
  assert_int_equal(rvs_norm_mode_parse("median"), RVS_NORM_MEDIAN);
  assert_int_equal(rvs_norm_mode_parse("bogus"), -1);
}

/* ---------------------------------------------------------------- whole runs */

struct line_model {
  double center, sigma, depth;
};

static double line_flux(double lam, const double *par, void *user) {
  (void)par;
  const struct line_model *lm = user;
  double d = (lam - lm->center) / lm->sigma;
  return 1.0 - lm->depth * exp(-0.5 * d * d);
}

static void setup_db(const char *dir, char *db, char *prefix, char *wave) {
  sprintf(prefix, "%s/grid/", dir);
  sprintf(db, "%s/files.db", dir);
  sprintf(wave, "%s/grid/WAVE.fits", dir);
  rvs_grid_db_opts go;
  rvs_grid_db_opts_default(&go);
  go.prefix = prefix;
  go.dbfile = db;
  assert_int_equal(rvs_grid_db_make(&go, NULL, NULL, NULL), RVS_OK);
}

/* A Gaussian absorption line of sigma_line convolved to R (input grid at R0)
 * and integrated over output pixels of width D has the variance
 * sigma_line^2 + (lam/R/2.3548)^2 - (lam/R0/2.3548)^2 + D^2/12 + h^2/6
 * (h: input spacing, linear interpolation). */
static void gaussian_line_width(void **state) {
  (void)state;
  const char *dir = SCR "/gauss";
  prep_rmtree(dir);
  struct line_model lm = {5000.0, 0.3, 0.5};
  double t[1] = {5000}, g[1] = {4.5}, f[1] = {0}, a[1] = {0};
  const double h = 0.01, D = 0.2, R = 5000, R0 = 50000;
  assert_int_equal(prep_make_grid(dir, t, 1, g, 1, f, 1, a, 1, 4950, 5050, h, line_flux, &lm), 0);
  char db[512], prefix[512], wave[512];
  setup_db(dir, db, prefix, wave);
  rvs_mi_opts o;
  rvs_mi_opts_default(&o);
  o.setup = "gauss";
  o.lambda0 = 4980;
  o.lambda1 = 5020;
  o.step = D;
  o.log_step = 0;
  o.resol = R;
  o.resolution0 = R0;
  o.normalize = RVS_NORM_NONE;
  o.templdb = db;
  o.templprefix = prefix;
  o.wavefile = wave;
  o.float_bits = 64;
  rvs_specs s;
  assert_int_equal(rvs_make_interpol_compute(&o, &s), RVS_OK);
  assert_int_equal(s.nspec, 1);
  assert_int_equal(s.log_spec, 1);
  assert_int_equal(s.log_step, 0);
  /* the continuum level: 1 - 5.7e-7 (the kernel is cut at 5 sigma, as
   * upstream); divided out, else it weighs on the second moment */
  double cont = 0;
  size_t ncont = 0;
  for (size_t i = 0; i < s.npix; i++)
    if (fabs(s.lam[i] - 5000) > 15) {
      cont += exp(s.specs[i]);
      ncont++;
    }
  cont /= ncont;
  assert_close_abs(cont, 1.0, 1e-6);
  double m0 = 0, m1 = 0, m2 = 0;
  for (size_t i = 0; i < s.npix; i++) {
    double depth = 1 - exp(s.specs[i]) / cont;
    if (fabs(s.lam[i] - 5000) > 15) {
      assert_close_abs(depth, 0.0, 1e-7); /* flat continuum (cut varies by segment) */
      continue;
    }
    if (fabs(s.lam[i] - 5000) > 4) continue; /* 7.7 sigma_out: the +-2e-8 wiggles of the
                                              * cut continuum stay out of the moments */
    m0 += depth;
    m1 += depth * s.lam[i];
  }
  double mu = m1 / m0;
  for (size_t i = 0; i < s.npix; i++)
    if (fabs(s.lam[i] - 5000) <= 4)
      m2 += (1 - exp(s.specs[i]) / cont) * (s.lam[i] - mu) * (s.lam[i] - mu);
  double var = m2 / m0;
  double si = 5000 / R / FWHM_TO_SIG, s0 = 5000 / R0 / FWHM_TO_SIG;
  double expect = lm.sigma * lm.sigma + si * si - s0 * s0 + D * D / 12 + h * h / 6;
  assert_close_rel(var, expect, 3e-5, 0); /* measured 1e-5: the 5-sigma cut */
  assert_close_abs(mu, 5000.0, 1e-4);
  /* equivalent width is conserved: depth * sigma * sqrt(2 pi) */
  assert_close_rel(m0 * D, lm.depth * lm.sigma * sqrt(2 * M_PI), 1e-5, 0);
  rvs_specs_free(&s);
}

static void small_grid_opts(rvs_mi_opts *o, char *db, char *prefix, char *wave) {
  rvs_mi_opts_default(o);
  o->setup = "tst";
  o->lambda0 = 4900;
  o->lambda1 = 5200;
  o->step = 0.5;
  o->resol_func = "x/1.55";
  o->templdb = db;
  o->templprefix = prefix;
  o->wavefile = wave;
}

static const double T3[3] = {4500, 5000, 6000}, G2[2] = {2.0, 4.5}, F2[2] = {-1, 0}, A1[1] = {0.2};

/* Two threads give bit-identical spectra; write/read round trip of the
 * specs file in float64 and float32. */
static void threads_and_specs_round_trip(void **state) {
  (void)state;
  const char *dir = SCR "/threads";
  prep_rmtree(dir);
  assert_int_equal(prep_make_grid(dir, T3, 3, G2, 2, F2, 2, A1, 1, 4850, 5250, 0.02, NULL, NULL), 0);
  char db[512], prefix[512], wave[512];
  setup_db(dir, db, prefix, wave);
  rvs_mi_opts o;
  small_grid_opts(&o, db, prefix, wave);
  o.nthreads = 1;
  o.float_bits = 64;
  rvs_specs s1, s2;
  assert_int_equal(rvs_make_interpol_compute(&o, &s1), RVS_OK);
  o.nthreads = 2;
  assert_int_equal(rvs_make_interpol_compute(&o, &s2), RVS_OK);
  assert_int_equal(s1.nspec, 12);
  assert_int_equal(s1.nparam, 4);
  assert_memory_equal(s1.specs, s2.specs, s1.nspec * s1.npix * sizeof(double));
  /* vec is [nparam][nspec], sorted by teff then logg then feh */
  for (size_t k = 1; k < s1.nspec; k++) assert_true(s1.vec[k] >= s1.vec[k - 1]);
  assert_true(s1.vec[0] == 4500 && s1.vec[s1.nspec] == 2.0 && s1.vec[2 * s1.nspec] == -1);

  o.oprefix = dir;
  o.float_bits = 64;
  char out[1024];
  assert_int_equal(rvs_make_interpol_run(&o, out, sizeof out), RVS_OK);
  assert_string_equal(out, SCR "/threads/specs_tst.h5");
  rvs_specs r;
  assert_int_equal(rvs_specs_read(out, &r), RVS_OK);
  assert_int_equal(r.float_bits, 64);
  assert_int_equal(r.nspec, s1.nspec);
  assert_int_equal(r.npix, s1.npix);
  assert_memory_equal(r.specs, s1.specs, s1.nspec * s1.npix * sizeof(double));
  assert_memory_equal(r.vec, s1.vec, s1.nparam * s1.nspec * sizeof(double));
  assert_memory_equal(r.lam, s1.lam, s1.npix * sizeof(double));
  assert_memory_equal(r.file_ids, s1.file_ids, s1.nspec * sizeof(long long));
  assert_int_equal(r.nlog_ids, 1);
  assert_int_equal(r.log_ids[0], 0);
  assert_int_equal(r.log_step, 1);
  assert_int_equal(r.log_spec, 1);
  assert_string_equal(r.parnames[2], "feh");
  assert_string_equal(r.dbfile, db);
  rvs_specs_free(&r);

  o.float_bits = 32;
  assert_int_equal(rvs_make_interpol_run(&o, out, sizeof out), RVS_OK);
  assert_int_equal(rvs_specs_read(out, &r), RVS_OK);
  assert_int_equal(r.float_bits, 32);
  for (size_t i = 0; i < s1.nspec * s1.npix; i++) assert_true(r.specs[i] == (double)(float)s1.specs[i]);
  rvs_specs_free(&r);
  rvs_specs_free(&s1);
  rvs_specs_free(&s2);
}

/* A template with a NaN (or a non-positive flux) fails naming the file;
 * a wavelength range the library does not cover fails; R >= R0 fails. */
static void errors_name_the_cause(void **state) {
  (void)state;
  const char *dir = SCR "/errors";
  prep_rmtree(dir);
  assert_int_equal(prep_make_grid(dir, T3, 3, G2, 1, F2, 1, A1, 1, 4850, 5250, 0.05, NULL, NULL), 0);
  char db[512], prefix[512], wave[512];
  setup_db(dir, db, prefix, wave);
  rvs_mi_opts o;
  small_grid_opts(&o, db, prefix, wave);
  rvs_specs s;

  o.lambda0 = 4800; /* below the library's 4850 */
  assert_int_equal(rvs_make_interpol_compute(&o, &s), RVS_ERR_RANGE);
  assert_non_null(strstr(rvs_last_error(), "WAVE.fits"));
  assert_non_null(strstr(rvs_last_error(), "cover"));
  o.lambda0 = 4900;

  o.resol_func = "x/0.04"; /* R = 125000 > R0 */
  assert_int_equal(rvs_make_interpol_compute(&o, &s), RVS_ERR_ARG);
  assert_non_null(strstr(rvs_last_error(), "resolution0"));
  o.resol_func = "x/";
  assert_int_equal(rvs_make_interpol_compute(&o, &s), RVS_ERR_ARG);
  o.resol_func = "x/1.55";

  /* overwrite one template with a NaN in the middle */
  char bad[1024];
  snprintf(bad, sizeof bad, "%s/grid/Z_logg2.0/lte05000-2.00-1.0.a+0.20.fits", dir);
  long n = 0;
  double *lam = NULL;
  char wtmp[1024];
  snprintf(wtmp, sizeof wtmp, "%s/wave_copy.fits", dir);
  assert_int_equal(prep_write_wavefile(wtmp, 4850, 5250, 0.05, &lam, &n), 0);
  float *fl = malloc((size_t)n * sizeof(float));
  for (long i = 0; i < n; i++) fl[i] = 1.0f;
  fl[n / 2] = NAN;
  double par[4] = {5000, 2.0, -1, 0.2};
  static const char *const keys[] = {"PHXTEFF", "PHXLOGG", "PHXM_H", "PHXALPHA"};
  assert_int_equal(prep_write_image(bad, FLOAT_IMG, TFLOAT, fl, n, 4, keys, par), 0);
  assert_int_equal(rvs_make_interpol_compute(&o, &s), RVS_ERR_NUMERIC);
  assert_non_null(strstr(rvs_last_error(), "lte05000-2.00-1.0.a+0.20.fits"));
  assert_non_null(strstr(rvs_last_error(), "not finite"));
  /* zero flux: ln(0) */
  fl[n / 2] = 1.0f;
  for (long i = 0; i < n; i++) fl[i] = 0.0f;
  assert_int_equal(prep_write_image(bad, FLOAT_IMG, TFLOAT, fl, n, 4, keys, par), 0);
  o.normalize = RVS_NORM_NONE;
  assert_int_equal(rvs_make_interpol_compute(&o, &s), RVS_ERR_NUMERIC);
  assert_non_null(strstr(rvs_last_error(), "lte05000-2.00-1.0.a+0.20.fits"));
  /* a template of the wrong length */
  assert_int_equal(prep_write_image(bad, FLOAT_IMG, TFLOAT, fl, n - 5, 4, keys, par), 0);
  assert_int_equal(rvs_make_interpol_compute(&o, &s), RVS_ERR_FORMAT);
  assert_non_null(strstr(rvs_last_error(), "lte05000-2.00-1.0.a+0.20.fits"));
  /* a missing template file */
  unlink(bad);
  assert_int_equal(rvs_make_interpol_compute(&o, &s), RVS_ERR_IO);
  assert_non_null(strstr(rvs_last_error(), "lte05000-2.00-1.0.a+0.20.fits"));
  free(fl);
  free(lam);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(pix_integrator_vs_brute_force),
    cmocka_unit_test(rebinner_weights_vs_brute_force),
    cmocka_unit_test(rebinner_preserves_linear),
    cmocka_unit_test(output_grids_as_numpy),
    cmocka_unit_test(median_matches_sorting),
    cmocka_unit_test(normalisation_modes),
    cmocka_unit_test(gaussian_line_width),
    cmocka_unit_test(threads_and_specs_round_trip),
    cmocka_unit_test(errors_name_the_cause),
};

RVS_TEST_MAIN(tests)
