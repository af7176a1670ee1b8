/* Brute-force initialisation: grid order as upstream's itertools.product,
 * template-major requests, the global minimum wins across vsini rounds. */
#include "rvs_test.h"

#include "fit/firstguess.h"
#include "rvs/status.h"

#include <stdlib.h>

static const char *const NAMES[4] = {"teff", "logg", "feh", "alpha"};

static double fake(const rvs_eval_request *r) {
  /* minimum at teff 8000, logg 3, feh -1, vsini 10, vel 125 */
  double d = pow((r->params[0] - 8000) / 1000, 2) + pow(r->params[1] - 3, 2) +
             pow(r->params[2] + 1, 2) + pow((r->vel - 125) / 20, 2);
  if (r->vsini != 10) d += 0.5;
  return d;
}

static void finds_the_grid_minimum(void **state) {
  (void)state;
  rvs_fit_config cfg;
  rvs_fit_config_default(&cfg, 4, NAMES);
  long n = rvs_firstguess_count(&cfg);
  assert_int_equal(n, 60 * 400);
  rvs_eval_request *req = malloc(sizeof *req * (size_t)n);
  rvs_eval_result *res = malloc(sizeof *res * (size_t)n);
  rvs_firstguess fg;
  rvs_firstguess_init(&fg);
  for (int v = 0; v < RVS_FIRSTGUESS_NVSINI; v++) {
    assert_int_equal(rvs_firstguess_requests(&cfg, 3, v, req), RVS_OK);
    /* upstream order: logg outermost, feh innermost; here template 1 is logg 1, teff 3000, feh -1 */
    assert_true(req[400].params[1] == 1 && req[400].params[0] == 3000 && req[400].params[2] == -1);
    assert_true(req[12 * 400].params[1] == 2);
    assert_int_equal(req[0].slot, 3);
    for (long i = 0; i < n; i++) {
      memset(&res[i], 0, sizeof res[i]);
      res[i].m2lnl = fake(&req[i]);
    }
    assert_int_equal(rvs_firstguess_tell(&fg, &cfg, v, res), RVS_OK);
  }
  assert_int_equal(fg.have, 1);
  assert_true(fg.params[0] == 8000 && fg.params[1] == 3 && fg.params[2] == -1 && fg.params[3] == 0);
  assert_true(fg.vsini == 10);
  free(req);
  free(res);
}

static void unknown_parameter_is_an_error(void **state) {
  (void)state;
  const char *names[5] = {"teff", "logg", "feh", "alpha", "cfe"};
  rvs_fit_config cfg;
  rvs_fit_config_default(&cfg, 5, names);
  rvs_eval_request *req = malloc(sizeof *req * (size_t)rvs_firstguess_count(&cfg));
  assert_int_equal(rvs_firstguess_requests(&cfg, 0, 0, req), RVS_ERR_ARG);
  assert_non_null(strstr(rvs_last_error(), "cfe"));
  free(req);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(finds_the_grid_minimum),
    cmocka_unit_test(unknown_parameter_is_an_error),
};
RVS_TEST_MAIN(tests)
