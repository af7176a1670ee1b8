/* Status messages, log levels, atomic writes. */
#include "rvs_test.h"

#include "io/atomic.h"
#include "io/fits_util.h"
#include "rvs/log.h"
#include "rvs/status.h"

#include <sys/stat.h>
#include <unistd.h>

static void error_message_is_kept(void **state) {
  (void)state;
  int rc = rvs_error(RVS_ERR_IO, "%s: cannot open", "foo.fits");
  assert_int_equal(rc, RVS_ERR_IO);
  assert_string_equal(rvs_last_error(), "foo.fits: cannot open");
  assert_string_equal(rvs_status_name(RVS_ERR_FORMAT), "RVS_ERR_FORMAT");
  rvs_clear_error();
  assert_string_equal(rvs_last_error(), "");
}

static void log_levels_parse(void **state) {
  (void)state;
  assert_int_equal(rvs_parse_log_level("debug"), RVS_LOG_DEBUG);
  assert_int_equal(rvs_parse_log_level("WARNING"), RVS_LOG_WARNING);
  assert_int_equal(rvs_parse_log_level("nonsense"), -1);
}

static int log_calls;
static void count_sink(int level, const char *msg, void *user) {
  (void)level; (void)user;
  if (strstr(msg, "hello 42")) log_calls++;
}

static void log_threshold_filters(void **state) {
  (void)state;
  rvs_set_log_callback(count_sink, NULL);
  rvs_set_log_level(RVS_LOG_WARNING);
  log_calls = 0;
  rvs_log(RVS_LOG_INFO, "hello %d", 42);
  rvs_log(RVS_LOG_ERROR, "hello %d", 42);
  rvs_set_log_callback(NULL, NULL);
  assert_int_equal(log_calls, 1);
}

static void atomic_fits_commit_and_abort(void **state) {
  (void)state;
  const char *final1 = RVS_TEST_SCRATCH "/atomic_ok.fits";
  const char *final2 = RVS_TEST_SCRATCH "/atomic_abort.fits";
  unlink(final1); unlink(final2);
  char tmp[4096];
  fitsfile *f = NULL;
  assert_int_equal(rvs_fits_create_atomic(&f, final1, tmp, sizeof tmp), RVS_OK);
  int fs = 0;
  long naxes[1] = {3};
  double v[3] = {1, 2, 3};
  fits_create_img(f, DOUBLE_IMG, 1, naxes, &fs);
  fits_write_img(f, TDOUBLE, 1, 3, v, &fs);
  assert_int_equal(fs, 0);
  struct stat st;
  assert_int_not_equal(stat(final1, &st), 0); /* not visible before commit */
  assert_int_equal(rvs_fits_close_commit(f, tmp, final1), RVS_OK);
  assert_int_equal(stat(final1, &st), 0);
  assert_int_not_equal(stat(tmp, &st), 0);

  assert_int_equal(rvs_fits_create_atomic(&f, final2, tmp, sizeof tmp), RVS_OK);
  fits_create_img(f, DOUBLE_IMG, 1, naxes, &fs);
  rvs_fits_close_abort(f, tmp);
  assert_int_not_equal(stat(final2, &st), 0);
  assert_int_not_equal(stat(tmp, &st), 0);
}

static void fits_error_names_file(void **state) {
  (void)state;
  fitsfile *f = NULL;
  int fs = 0;
  fits_open_file(&f, RVS_TEST_SCRATCH "/does_not_exist.fits", READONLY, &fs);
  int rc = rvs_fits_check(fs, "does_not_exist.fits", "cannot open");
  assert_int_equal(rc, RVS_ERR_IO);
  assert_non_null(strstr(rvs_last_error(), "does_not_exist.fits: cannot open"));
}

static void mkdir_p_nested(void **state) {
  (void)state;
  const char *d = RVS_TEST_SCRATCH "/a/b/c";
  assert_int_equal(rvs_mkdir_p(d), RVS_OK);
  struct stat st;
  assert_int_equal(stat(d, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(error_message_is_kept),
    cmocka_unit_test(log_levels_parse),
    cmocka_unit_test(log_threshold_filters),
    cmocka_unit_test(atomic_fits_commit_and_abort),
    cmocka_unit_test(fits_error_names_file),
    cmocka_unit_test(mkdir_p_nested),
};
RVS_TEST_MAIN(tests)
