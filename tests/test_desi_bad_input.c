/* RVS_TEST_SERIAL (the cases share the scratch folder)
 *
 * rvs_desi_fit on bad input: each problem gives an error naming the file and
 * the cause (or a flagged BAD_SPECTRUM row), other files and fibers go on,
 * the exit code says whether anything failed, no partial output is left.
 * Inputs are made from the real DESI coadd in ../shared/data; the templates
 * are a tiny analytic library (tests/test_desi_lib.h). */
#include "rvs_test.h"

#include "desi_test_util.h"

#include <unistd.h>

#define W RVS_TEST_SCRATCH "/bad_input"
#define REAL RVS_SHARED_DATA_DIR "/desi/coadd-4-80613-thru20210324.fits"

/* Overwrite image HDU `name` of `path` with a constant (all rows). */
static void fill_hdu(const char *path, const char *name, double value) {
  fitsfile *f;
  int fs = 0, naxis;
  long nax[3] = {1, 1, 1};
  fits_open_file(&f, path, READWRITE, &fs);
  fits_movnam_hdu(f, IMAGE_HDU, (char *)name, 0, &fs);
  fits_get_img_dim(f, &naxis, &fs);
  fits_get_img_size(f, 3, nax, &fs);
  long n = nax[0] * nax[1] * (naxis > 2 ? nax[2] : 1);
  double *v = malloc(sizeof(double) * (size_t)n);
  for (long i = 0; i < n; i++) v[i] = value;
  fits_write_img(f, TDOUBLE, 1, n, v, &fs);
  fits_close_file(f, &fs);
  free(v);
  assert_int_equal(fs, 0);
}

static int setup(void **state) {
  (void)state;
  return dtu_setup(W);
}

static void no_outputs_for(const char *base) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "ls " W "/out 2>/dev/null | grep -q '%s'", base);
  assert_int_not_equal(dtu_sh(cmd), 0); /* neither outputs nor temporary files */
}

static void missing_file(void **state) {
  (void)state;
  rvs_desi_file_stats st;
  int rc = dtu_run_file(W "/nope/x/coadd-missing.fits", 0, 0, &st);
  assert_int_not_equal(rc, RVS_OK);
  assert_non_null(strstr(rvs_last_error(), "coadd-missing.fits"));
  no_outputs_for("coadd-missing");
}

static void truncated_file(void **state) {
  (void)state;
  const char *p = W "/in/coadd-trunc.fits";
  dtu_copy(REAL, p);
  assert_int_equal(truncate(p, 200000), 0);
  rvs_desi_file_stats st;
  assert_int_not_equal(dtu_run_file(p, 0, 0, &st), RVS_OK);
  assert_non_null(strstr(rvs_last_error(), "coadd-trunc.fits"));
  no_outputs_for("coadd-trunc");
}

static void missing_hdu(void **state) {
  (void)state;
  const char *p = W "/in/coadd-nohdu.fits";
  dtu_copy(REAL, p);
  fitsfile *f;
  int fs = 0;
  fits_open_file(&f, p, READWRITE, &fs);
  fits_movnam_hdu(f, IMAGE_HDU, "R_IVAR", 0, &fs);
  fits_delete_hdu(f, NULL, &fs);
  fits_close_file(f, &fs);
  assert_int_equal(fs, 0);
  rvs_desi_file_stats st;
  assert_int_not_equal(dtu_run_file(p, 0, 0, &st), RVS_OK);
  assert_non_null(strstr(rvs_last_error(), "coadd-nohdu.fits"));
  assert_non_null(strstr(rvs_last_error(), "R_IVAR"));
  no_outputs_for("coadd-nohdu");
}

static void bad_arms_are_dropped(void **state) {
  (void)state;
  /* NaN flux in B and ivar = 0 in R: as upstream, both arms stay in the fit
   * with every pixel masked (huge errors), so only Z constrains it */
  const char *p = W "/in/coadd-nanb.fits";
  dtu_copy(REAL, p);
  fill_hdu(p, "B_FLUX", NAN);
  fill_hdu(p, "R_IVAR", 0);
  rvs_desi_file_stats st;
  assert_int_equal(dtu_run_file(p, 0, 0, &st), RVS_OK);
  assert_int_equal(st.nfitted, 1);
  fitsfile *f;
  int fs = 0, col;
  double v;
  fits_open_table(&f, W "/out/rvtab_coadd-nanb.fits", READONLY, &fs);
  fits_movnam_hdu(f, BINARY_TBL, "RVTAB", 0, &fs);
  fits_get_colnum(f, CASEINSEN, "VRAD", &col, &fs);
  fits_read_col(f, TDOUBLE, col, 1, 1, 1, NULL, &v, NULL, &fs);
  assert_true(isfinite(v));
  fits_get_colnum(f, CASEINSEN, "CHISQ_Z", &col, &fs);
  fits_read_col(f, TDOUBLE, col, 1, 1, 1, NULL, &v, NULL, &fs);
  assert_true(isfinite(v) && v > 0);
  fits_get_colnum(f, CASEINSEN, "CHISQ_R", &col, &fs);
  fits_read_col(f, TDOUBLE, col, 1, 1, 1, NULL, &v, NULL, &fs);
  assert_true(v == 0); /* no unmasked pixel in R: true chi2 0, as upstream */
  fits_close_file(f, &fs);
  assert_int_equal(fs, 0);
}

static void fiber_without_usable_arm_is_flagged(void **state) {
  (void)state;
  const char *p = W "/in/coadd-masked.fits";
  dtu_copy(REAL, p);
  fill_hdu(p, "B_MASK", 1);
  fill_hdu(p, "R_MASK", 1);
  fill_hdu(p, "Z_MASK", 1);
  rvs_desi_file_stats st;
  assert_int_equal(dtu_run_file(p, 0, 0, &st), RVS_OK);
  assert_int_equal(st.nbad, 1);
  fitsfile *f;
  int fs = 0, col;
  long long warn;
  double v;
  fits_open_table(&f, W "/out/rvtab_coadd-masked.fits", READONLY, &fs);
  fits_movnam_hdu(f, BINARY_TBL, "RVTAB", 0, &fs);
  fits_get_colnum(f, CASEINSEN, "RVS_WARN", &col, &fs);
  fits_read_col(f, TLONGLONG, col, 1, 1, 1, NULL, &warn, NULL, &fs);
  fits_get_colnum(f, CASEINSEN, "VRAD", &col, &fs);
  fits_read_col(f, TDOUBLE, col, 1, 1, 1, NULL, &v, NULL, &fs);
  fits_close_file(f, &fs);
  assert_int_equal(fs, 0);
  assert_int_equal(warn, 32);
  assert_true(isnan(v));
}

static void empty_selection_writes_empty_table(void **state) {
  (void)state;
  const char *p = W "/in/coadd-empty.fits";
  dtu_copy(REAL, p);
  rvs_desi_options o;
  dtu_options(&o);
  o.select.minsn = 1e9;
  rvs_desi_file_stats st;
  assert_int_equal(rvs_desi_process_file(dtu_ctx, &dtu_cfg, &o, p, &st), RVS_OK);
  assert_int_equal(st.nselected, 0);
  assert_int_equal(dtu_rvtab_nrows(W "/out/rvtab_coadd-empty.fits"), 0);
}

static void program_goes_on_and_reports(void **state) {
  (void)state;
  /* one good file between two bad ones: outputs for the good one, exit 1 */
  dtu_copy(REAL, W "/in2/a/coadd-good.fits");
  dtu_copy(REAL, W "/in2/a/coadd-bad.fits");
  assert_int_equal(truncate(W "/in2/a/coadd-bad.fits", 1000), 0);
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "%s/rvs_desi_fit --config " W "/lib/config.yaml --output_dir " W "/out2 --no_subdirs "
           "--process_status_file " W "/status2.txt " W "/in2/a/coadd-missing.fits " W
           "/in2/a/coadd-good.fits " W "/in2/a/coadd-bad.fits 2> " W "/stderr2.txt",
           RVS_BINARY_DIR);
  int rc = dtu_sh(cmd);
  assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
  assert_int_equal(access(W "/out2/rvtab_coadd-good.fits", R_OK), 0);
  assert_int_equal(dtu_sh("grep -q 'coadd-bad.fits' " W "/stderr2.txt"), 0);
  assert_int_equal(dtu_sh("grep -q 'coadd-missing.fits' " W "/stderr2.txt"), 0);
  assert_int_equal(dtu_sh("grep -q 'coadd-good.fits SUCCESS' " W "/status2.txt"), 0);
  assert_int_equal(dtu_sh("grep -q 'coadd-bad.fits FAILURE 0' " W "/status2.txt"), 0);
  assert_int_not_equal(dtu_sh("ls " W "/out2 | grep -q 'coadd-bad\\|tmp'"), 0);
}

static void unreadable_library_and_config(void **state) {
  (void)state;
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "%s/rvs_desi_fit --config " W "/nope.yaml " REAL " 2> " W "/stderr3.txt",
           RVS_BINARY_DIR);
  int rc = dtu_sh(cmd);
  assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) != 0);
  assert_int_equal(dtu_sh("grep -q 'nope.yaml' " W "/stderr3.txt"), 0);
  FILE *f = fopen(W "/badlib.yaml", "w");
  fprintf(f, "template_lib: '" W "/no_such_lib/'\n");
  fclose(f);
  snprintf(cmd, sizeof cmd,
           "%s/rvs_desi_fit --config " W "/badlib.yaml --output_dir " W "/out3 --no_subdirs " REAL
           " 2> " W "/stderr4.txt",
           RVS_BINARY_DIR);
  rc = dtu_sh(cmd);
  assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
  assert_int_equal(dtu_sh("grep -q 'no_such_lib/interp_desi_b.h5' " W "/stderr4.txt"), 0);
  assert_int_not_equal(dtu_sh("ls " W "/out3 2>/dev/null | grep -q fits"), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(missing_file),
    cmocka_unit_test(truncated_file),
    cmocka_unit_test(missing_hdu),
    cmocka_unit_test(bad_arms_are_dropped),
    cmocka_unit_test(fiber_without_usable_arm_is_flagged),
    cmocka_unit_test(empty_selection_writes_empty_table),
    cmocka_unit_test(program_goes_on_and_reports),
    cmocka_unit_test(unreadable_library_and_config),
};
RVS_TEST_MAIN_SETUP(tests, setup, dtu_teardown)
