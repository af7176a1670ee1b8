/* config.yaml: upstream keys, defaults, lsf mapping, errors. */
#include "rvs_test.h"

#include "rvs/config.h"
#include "rvs/log.h"
#include "rvs/status.h"

#include <unistd.h>

static const char *write_file(const char *name, const char *text) {
  static char path[1024];
  snprintf(path, sizeof path, "%s/config_%s.yaml", RVS_TEST_SCRATCH, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return path;
}

static void defaults_match_upstream(void **state) {
  (void)state;
  rvs_config c;
  rvs_config_defaults(&c);
  assert_string_equal(c.template_lib, "templ_data/");
  assert_close_abs(c.min_vel, -1000, 0);
  assert_close_abs(c.max_vel, 1000, 0);
  assert_close_abs(c.vel_step0, 5, 0);
  assert_close_abs(c.min_vel_step, 0.2, 0);
  assert_close_abs(c.max_vsini, 500, 0);
  assert_close_abs(c.min_vsini, 1e-2, 0);
  assert_int_equal(c.second_minimizer, 1);
  assert_int_equal(c.ccf_continuum_normalize, 1);
}

static void reads_upstream_shipped_config(void **state) {
  (void)state;
  /* The config.yaml shipped with rvspecfit 0.9.0, verbatim. */
  const char *p = write_file("shipped",
      "template_lib: 'PATH_TO_DIR_WITH_TEMPLATES/'\n"
      "min_vel: -1000 # minimum velocity to consider\n"
      "max_vel: 1000 # maximum velocity to consider\n"
      "min_vel_step: 0.2 # The smallest step for the final P(v|D) evaluation\n"
      "vel_step0: 5 # The initial velocity grid resolution\n"
      "min_vsini: 0.1  # min vsini to fit\n"
      "max_vsini: 500 # max vsini to fit\n"
      "second_minimizer: 1 # to use a second optimizer\n");
  rvs_config c;
  assert_int_equal(rvs_config_read(p, &c), RVS_OK);
  assert_string_equal(c.template_lib, "PATH_TO_DIR_WITH_TEMPLATES/");
  assert_close_abs(c.min_vsini, 0.1, 0);
  assert_int_equal(c.second_minimizer, 1);
  assert_true(strlen(c.config_file_path) > 0);
  assert_true(c.config_file_path[0] == '/');
}

static void lsf_mapping_and_extras(void **state) {
  (void)state;
  const char *p = write_file("lsf",
      "template_lib: /data/templ/\n"
      "max_vel: 800\n"
      "second_minimizer: false\n"
      "lsf_sigma0_angstrom:\n  b: 0.41\n  r: 0.42\n  z: 0.5\n"
      "ccf_continuum_normalize: no\n"
      "my_key: hello\n");
  rvs_config c;
  assert_int_equal(rvs_config_read(p, &c), RVS_OK);
  assert_close_abs(c.max_vel, 800, 0);
  assert_close_abs(c.min_vel, -1000, 0); /* missing key keeps default */
  assert_int_equal(c.second_minimizer, 0);
  assert_int_equal(c.ccf_continuum_normalize, 0);
  assert_int_equal(c.n_lsf, 3);
  assert_close_abs(rvs_config_lsf_sigma0(&c, "desi_r"), 0.42, 0);
  assert_close_abs(rvs_config_lsf_sigma0(&c, "z"), 0.5, 0);
  rvs_set_log_level(RVS_LOG_ERROR);
  assert_close_abs(rvs_config_lsf_sigma0(&c, "desi_x"), 0.5, 0); /* upstream fallback */
  rvs_set_log_level(RVS_LOG_WARNING);
  assert_string_equal(rvs_config_get(&c, "my_key"), "hello");
  assert_null(rvs_config_get(&c, "nope"));
}

static void errors_name_the_file(void **state) {
  (void)state;
  rvs_config c;
  assert_int_equal(rvs_config_read(RVS_TEST_SCRATCH "/no_such_config.yaml", &c), RVS_ERR_IO);
  assert_non_null(strstr(rvs_last_error(), "no_such_config.yaml"));
  const char *p = write_file("bad_number", "max_vel: fast\n");
  assert_int_equal(rvs_config_read(p, &c), RVS_ERR_FORMAT);
  assert_non_null(strstr(rvs_last_error(), "max_vel"));
  assert_non_null(strstr(rvs_last_error(), "config_bad_number.yaml"));
  p = write_file("bad_syntax", "max_vel: [1, 2\nmin_vel: 3\n");
  assert_int_equal(rvs_config_read(p, &c), RVS_ERR_FORMAT);
  assert_non_null(strstr(rvs_last_error(), "YAML error"));
  p = write_file("list", "- 1\n- 2\n");
  assert_int_equal(rvs_config_read(p, &c), RVS_ERR_FORMAT);
}

static void empty_file_gives_defaults(void **state) {
  (void)state;
  const char *p = write_file("empty", "");
  rvs_config c;
  rvs_set_log_level(RVS_LOG_ERROR);
  assert_int_equal(rvs_config_read(p, &c), RVS_OK);
  rvs_set_log_level(RVS_LOG_WARNING);
  assert_close_abs(c.vel_step0, 5, 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(defaults_match_upstream),
    cmocka_unit_test(reads_upstream_shipped_config),
    cmocka_unit_test(lsf_mapping_and_extras),
    cmocka_unit_test(errors_name_the_file),
    cmocka_unit_test(empty_file_gives_defaults),
};
RVS_TEST_MAIN(tests)
