/* Interoperability with the real upstream rvspecfit (pip package, run as
 * python3 -m rvspecfit.<module>) on a tiny synthetic grid:
 *  - the SQLite databases of both tools are read by the other's make_interpol;
 *  - upstream's specs_<setup>.h5 is read by us; ours is accepted by
 *    upstream's make_nd and make_ccf;
 *  - our and upstream's `specs` arrays agree (ln flux to 1e-6).
 * If python3 cannot import rvspecfit the tests FAIL with a message saying
 * to run scripts/install-test-tools.
 * RVS_TEST_LABELS: interop */
#include "rvs_test.h"

#include "rvs/status.h"
#include "templates/grid_db.h"
#include "templates/make_interpol.h"
#include "templates/specs_file.h"
#include "test_prep_grid.h"

/* each case works in its own folder (ctest -j runs them in parallel) */
static char base[1024];
#define UP_INTERPOL_ARGS                                                                    \
  " --setup tst --lambda0 4900 --lambda1 5200 --step 0.5 --resol_func 'x/1.55' --nthreads 1" \
  " --templprefix grid/ --wavefile grid/WAVE.fits"

/* base + "/" + rel, in one of a few rotating buffers */
static const char *P(const char *rel) {
  static char buf[8][1200];
  static int k = 0;
  k = (k + 1) % 8;
  snprintf(buf[k], sizeof buf[k], "%s/%s", base, rel);
  return buf[k];
}

/* every parameter takes two values or more: upstream's make_ccf fails on a
 * constant parameter (ALGORITHM.md §7.7) */
static const double T3[3] = {4500, 5000, 6000}, G2[2] = {2.0, 4.5}, F2[2] = {-1, 0},
                    A2[2] = {0.0, 0.4};

/* run `cmd` inside base */
static int sh(const char *what, const char *cmd) {
  char full[4096];
  snprintf(full, sizeof full, "cd '%s' && %s", base, cmd);
  int rc = prep_sh(full);
  if (rc != 0) fprintf(stderr, "%s failed (exit %d): %s\n", what, rc, full);
  return rc;
}

/* The grid and both databases, in SCR/<name>. */
static void make_case(const char *name) {
  PREP_REQUIRE_UPSTREAM();
  snprintf(base, sizeof base, "%s/test_interop_upstream/%s", RVS_TEST_SCRATCH, name);
  prep_rmtree(base);
  assert_int_equal(prep_make_grid(base, T3, 3, G2, 2, F2, 2, A2, 2, 4850, 5250, 0.02, NULL, NULL), 0);
  /* ours */
  char prefix[1200], db[1200];
  snprintf(prefix, sizeof prefix, "%s/grid/", base);
  snprintf(db, sizeof db, "%s/ours.db", base);
  rvs_grid_db_opts go;
  rvs_grid_db_opts_default(&go);
  go.prefix = prefix;
  go.dbfile = db;
  assert_int_equal(rvs_grid_db_make(&go, NULL, NULL, NULL), RVS_OK);
  /* upstream's */
  assert_int_equal(sh("upstream read_grid",
                      "python3 -m rvspecfit.read_grid --prefix grid/ --templdb up.db >/dev/null"),
                   0);
}

static void our_specs(const char *db, const char *odir, int float_bits) {
  rvs_mi_opts o;
  rvs_mi_opts_default(&o);
  o.setup = "tst";
  o.lambda0 = 4900;
  o.lambda1 = 5200;
  o.step = 0.5;
  o.resol_func = "x/1.55";
  o.templdb = db;
  char prefix[1200], wave[1200];
  snprintf(prefix, sizeof prefix, "%s/grid/", base);
  snprintf(wave, sizeof wave, "%s/grid/WAVE.fits", base);
  o.templprefix = prefix;
  o.wavefile = wave;
  o.oprefix = odir;
  o.float_bits = float_bits;
  assert_int_equal(rvs_make_interpol_run(&o, NULL, 0), RVS_OK);
}

/* max |a - b| over the specs; shapes, vec and lam must agree first */
static double compare_specs(const rvs_specs *a, const rvs_specs *b) {
  assert_int_equal(a->nspec, b->nspec);
  assert_int_equal(a->npix, b->npix);
  assert_int_equal(a->nparam, b->nparam);
  for (size_t i = 0; i < a->nparam * a->nspec; i++) assert_true(a->vec[i] == b->vec[i]);
  for (size_t i = 0; i < a->npix; i++) assert_close_rel(a->lam[i], b->lam[i], 1e-14, 1);
  double mx = 0;
  for (size_t i = 0; i < a->nspec * a->npix; i++) {
    double d = fabs(a->specs[i] - b->specs[i]);
    if (!(d <= mx)) mx = d; /* NaN propagates */
  }
  return mx;
}

/* Upstream's specs (from upstream's db) is read by us and agrees with ours
 * (from our db): ln flux to 1e-6, i.e. flux to 1e-6 relative. */
static void specs_agree_with_upstream(void **state) {
  (void)state;
  make_case("agree");
  assert_int_equal(sh("upstream make_interpol", "python3 -m rvspecfit.make_interpol --templdb "
                                                "up.db --oprefix up" UP_INTERPOL_ARGS " >/dev/null"),
                   0);
  our_specs(P("ours.db"), P("ours64"), 64);
  our_specs(P("ours.db"), P("ours32"), 32);
  rvs_specs up, o64, o32;
  assert_int_equal(rvs_specs_read(P("up/specs_tst.h5"), &up), RVS_OK);
  assert_int_equal(rvs_specs_read(P("ours64/specs_tst.h5"), &o64), RVS_OK);
  assert_int_equal(rvs_specs_read(P("ours32/specs_tst.h5"), &o32), RVS_OK);
  /* what we read from upstream's file */
  assert_int_equal(up.nspec, 24);
  assert_int_equal(up.float_bits, 32);
  assert_int_equal(up.log_step, 1);
  assert_int_equal(up.log_spec, 1);
  assert_int_equal(up.nlog_ids, 1);
  assert_int_equal(up.log_ids[0], 0);
  assert_string_equal(up.parnames[0], "teff");
  assert_string_equal(up.parnames[3], "alpha");
  assert_non_null(up.git_rev);
  double d64 = compare_specs(&o64, &up), d32 = compare_specs(&o32, &up);
  fprintf(stderr, "max |ln f ours - ln f upstream|: %.3g (float64), %.3g (float32); %zu x %zu\n",
          d64, d32, up.nspec, up.npix);
  assert_true(d64 <= 1e-6);
  assert_true(d32 <= 1e-6);
  /* upstream 0.9.0 has no file_ids; newer upstream stores the db ids as we do */
  for (size_t i = 0; i < up.nspec; i++)
    assert_true(up.file_ids[i] == -1 || up.file_ids[i] == o64.file_ids[i]);
  rvs_specs_free(&up);
  rvs_specs_free(&o64);
  rvs_specs_free(&o32);
}

/* Upstream's make_interpol runs on our database and ours on upstream's;
 * each gives what it gives with its own database. */
static void databases_cross_read(void **state) {
  (void)state;
  make_case("crossdb");
  assert_int_equal(sh("upstream make_interpol on our db",
                      "python3 -m rvspecfit.make_interpol --templdb ours.db --oprefix up_ourdb"
                      UP_INTERPOL_ARGS " >/dev/null"),
                   0);
  assert_int_equal(sh("upstream make_interpol", "python3 -m rvspecfit.make_interpol --templdb "
                                                "up.db --oprefix up" UP_INTERPOL_ARGS " >/dev/null"),
                   0);
  our_specs(P("up.db"), P("ours_updb"), 32);
  our_specs(P("ours.db"), P("ours_ourdb"), 32);
  rvs_specs a, b, c, d;
  assert_int_equal(rvs_specs_read(P("up_ourdb/specs_tst.h5"), &a), RVS_OK);
  assert_int_equal(rvs_specs_read(P("up/specs_tst.h5"), &b), RVS_OK);
  assert_true(compare_specs(&a, &b) == 0); /* upstream: same spectra from either db */
  assert_int_equal(rvs_specs_read(P("ours_updb/specs_tst.h5"), &c), RVS_OK);
  assert_int_equal(rvs_specs_read(P("ours_ourdb/specs_tst.h5"), &d), RVS_OK);
  assert_true(compare_specs(&c, &d) == 0); /* ours: same spectra from either db */
  assert_memory_equal(c.file_ids, d.file_ids, c.nspec * sizeof(long long));
  rvs_specs_free(&a);
  rvs_specs_free(&b);
  rvs_specs_free(&c);
  rvs_specs_free(&d);
}

/* Upstream's make_nd and make_ccf accept our specs file, and upstream's
 * loader sees the same keys and dtypes as in its own file. */
static void upstream_tools_accept_ours(void **state) {
  (void)state;
  make_case("tools");
  our_specs(P("ours.db"), P("nd"), 32);
  assert_int_equal(sh("upstream make_nd",
                      "python3 -m rvspecfit.make_nd --prefix nd --setup tst >/dev/null 2>&1"),
                   0);
  assert_int_equal(access(P("nd/interp_tst.h5"), F_OK), 0);
  assert_int_equal(access(P("nd/interpdat_tst.npy"), F_OK), 0);
  assert_int_equal(sh("upstream make_ccf",
                      "python3 -m rvspecfit.make_ccf --prefix nd --oprefix nd --setup tst "
                      "--lambda0 4900 --lambda1 5200 --step 0.5 --every 1 --nthreads 1 "
                      ">/dev/null 2>&1"),
                   0);
  assert_int_equal(access(P("nd/ccf_tst.h5"), F_OK), 0);
  /* the interpolator built by upstream from our file evaluates at a grid
   * node to our spectrum there */
  assert_int_equal(
      sh("upstream interpolation of our library",
         "python3 -c \"\n"
         "import numpy as np\n"
         "from rvspecfit import spec_inter, serializer\n"
         "D = serializer.load_dict_from_hdf5('nd/specs_tst.h5')\n"
         "assert D['specs'].dtype == np.float32 and D['vec'].dtype == np.float64\n"
         "assert D['file_ids'].dtype == np.int64 and isinstance(D['dbfile'], str)\n"
         "assert D['log_step'] == True and D['log_spec'] == True\n"
         "si = spec_inter.getInterpolator('tst', dict(template_lib='nd/'))\n"
         "p = dict(zip(D['parnames'], D['vec'][:, 5]))\n"
         "s = np.log(si.eval(p))\n"  /* the interpolator returns exp(ln f) */
         "assert np.allclose(s, D['specs'][5], rtol=0, atol=1e-5), np.abs(s - D['specs'][5]).max()\n"
         "\""),
      0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(specs_agree_with_upstream),
    cmocka_unit_test(databases_cross_read),
    cmocka_unit_test(upstream_tools_accept_ours),
};

RVS_TEST_MAIN(tests)
