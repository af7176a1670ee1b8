/* Shared scaffolding of the rvs_desi_process_file tests (test_desi_bad_input.c,
 * test_desi_select_extra.c): a scratch folder with the tiny template library
 * of test_desi_lib.h, one context on it, and small file helpers.  Include
 * after rvs_test.h. */
#ifndef RVS_DESI_TEST_UTIL_H
#define RVS_DESI_TEST_UTIL_H

#include "driver/desi_fit.h"
#include "rvs/rvspecfit.h"
#include "test_desi_lib.h"

#include <fitsio.h>
#include <stdio.h>
#include <stdlib.h>

static rvs_context *dtu_ctx;
static rvs_config dtu_cfg;
static char dtu_out[2048]; /* <scratch>/out, where dtu_options writes */

static inline int dtu_sh(const char *cmd) { return system(cmd); }

/* Copy src to dst (creating dst's folder), writable. */
static inline void dtu_copy(const char *src, const char *dst) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "mkdir -p $(dirname %s) && cp %s %s && chmod u+w %s", dst, src, dst,
           dst);
  assert_int_equal(dtu_sh(cmd), 0);
}

/* Group setup: empty `dir`, build the library in dir/lib, open a 2-thread
 * context on it. */
static inline int dtu_setup(const char *dir) {
  char buf[2048], lib[1024]; /* lib short enough for tdl_build's own buffers */
  snprintf(buf, sizeof buf, "rm -rf %s && mkdir -p %s", dir, dir);
  dtu_sh(buf);
  snprintf(dtu_out, sizeof dtu_out, "%s/out", dir);
  snprintf(lib, sizeof lib, "%s/lib", dir);
  if (tdl_build(lib)) return -1;
  snprintf(buf, sizeof buf, "%s/config.yaml", lib);
  if (rvs_config_read(buf, &dtu_cfg)) return -1;
  rvs_options o;
  rvs_options_default(&o);
  o.nthreads = 2;
  return rvs_context_create(&dtu_cfg, &o, &dtu_ctx);
}

static inline int dtu_teardown(void **state) {
  (void)state;
  rvs_context_free(dtu_ctx);
  return 0;
}

/* Default driver options writing to <scratch>/out without subfolders. */
static inline void dtu_options(rvs_desi_options *o) {
  rvs_desi_options_default(o);
  o->output_dir = dtu_out;
  o->no_subdirs = 1;
}

static inline int dtu_run_file(const char *path, int zsel, int zinc, rvs_desi_file_stats *st) {
  rvs_desi_options o;
  dtu_options(&o);
  o.select.zbest_select = zsel;
  o.select.zbest_include = zinc;
  return rvs_desi_process_file(dtu_ctx, &dtu_cfg, &o, path, st);
}

/* Number of rows of the RVTAB HDU of an output file. */
static inline long dtu_rvtab_nrows(const char *path) {
  fitsfile *f;
  int fs = 0;
  long nrows = -1;
  fits_open_table(&f, path, READONLY, &fs);
  fits_movnam_hdu(f, BINARY_TBL, "RVTAB", 0, &fs);
  fits_get_num_rows(f, &nrows, &fs);
  fits_close_file(f, &fs);
  assert_int_equal(fs, 0);
  return nrows;
}

#endif
