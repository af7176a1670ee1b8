/* RVS_TEST_LABELS: slow
 *
 * The whole chain on our own data, as a user runs it: rvs_synth_grid (a
 * small grid) -> scripts/make-desi-library (Delaunay interpolator) ->
 * rvs_simulate_desi (40
 * fibers, a seed no other test uses) -> rvs_desi_fit -> accuracy against
 * the truth: the CI-sized version of the accuracy goals (bench/RESULTS.md
 * has the 500-fiber numbers). */
#include "rvs_test.h"

#include "driver/accuracy.h"
#include "rvs/status.h"

#include <stdlib.h>
#include <sys/stat.h>

#define W RVS_TEST_SCRATCH "/pipeline"

static int sh(const char *cmd) {
  fprintf(stderr, "+ %s\n", cmd);
  int rc = system(cmd);
  return rc;
}

static void setup_all(void) {
  char cmd[4096];
  assert_int_equal(sh("rm -rf " W " && mkdir -p " W "/t/n"), 0);
  snprintf(cmd, sizeof cmd,
           "%s/rvs_synth_grid --outdir " W "/grid --teff 4000,5000,6000,7000 --logg 2,3,4,5 "
           "--feh -1.5,-0.5,0.5 --alpha 0,0.4 --wmin 3450 --wmax 10050 --nthreads 2 --quiet",
           RVS_BINARY_DIR);
  assert_int_equal(sh(cmd), 0);
  snprintf(cmd, sizeof cmd, "cd %s && scripts/make-desi-library %s " W "/grid " W "/lib --every 4 > /dev/null",
           RVS_SOURCE_DIR, RVS_BINARY_DIR);
  assert_int_equal(sh(cmd), 0);
  snprintf(cmd, sizeof cmd,
           "%s/rvs_simulate_desi --grid " W "/grid --out " W "/t/n/coadd-pipe.fits --truth " W
           "/truth-pipe.fits --nfibers 40 --seed 99991 --nthreads 2",
           RVS_BINARY_DIR);
  assert_int_equal(sh(cmd), 0);
  snprintf(cmd, sizeof cmd,
           "%s/rvs_desi_fit --config " W "/lib/config.yaml --output_dir " W "/out --nthreads 2 "
           "--process_status_file " W "/status.txt " W "/t/n/coadd-pipe.fits",
           RVS_BINARY_DIR);
  assert_int_equal(sh(cmd), 0);
}

static void accuracy_on_simulated_coadd(void **state) {
  (void)state;
  setup_all();
  rvs_accuracy a;
  assert_int_equal(rvs_accuracy_compute(W "/out/t/n/rvtab_coadd-pipe.fits", W "/truth-pipe.fits",
                                        10, &a, stderr, 40),
                   RVS_OK);
  rvs_accuracy_print(&a, 10, stderr);
  assert_true(a.nstars >= 30);
  assert_true(a.nused >= 10);
  assert_true(fabs(a.med_dv) < 0.3);
  assert_true(a.rstd_pull > 0.7 && a.rstd_pull < 1.4);
  assert_true(a.frac_outlier <= 0.05);
  assert_true(fabs(a.med_dteff) < 2 * a.med_teff_err + 20);
  assert_true(fabs(a.med_dlogg) < 2 * a.med_logg_err + 0.05);
  assert_true(fabs(a.med_dfeh) < 2 * a.med_feh_err + 0.05);
  /* one case only: ctest runs cases as separate processes, and the chain
   * must not run twice at once in the same folder */
  struct stat st;
  assert_int_equal(stat(W "/out/t/n/rvmod_coadd-pipe.fits", &st), 0);
  FILE *f = fopen(W "/status.txt", "r");
  assert_non_null(f);
  char line[4096];
  assert_non_null(fgets(line, sizeof line, f));
  fclose(f);
  assert_non_null(strstr(line, "coadd-pipe.fits SUCCESS"));
  /* no temporary file left behind */
  assert_int_not_equal(sh("ls " W "/out/t/n/ | grep -q tmp"), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(accuracy_on_simulated_coadd),
};
RVS_TEST_MAIN(tests)
