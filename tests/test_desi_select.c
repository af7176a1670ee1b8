/* Fiber selection rules of rvs_desi_fit (upstream select_fibers_to_fit). */
#include "rvs_test.h"

#include "driver/desi_select.h"

static void fiberstatus_mask(void **state) {
  (void)state;
  assert_true(rvs_fiberstatus_ok(0));
  assert_true(rvs_fiberstatus_ok(1 << 3));
  assert_true(rvs_fiberstatus_ok((1 << 3) | (1 << 20)));
  assert_false(rvs_fiberstatus_ok(1 << 2));
  assert_false(rvs_fiberstatus_ok((1 << 20) | 1));
}

static void selection_rules(void **state) {
  (void)state;
  const char *obj[6] = {"TGT", "SKY", "TGT", "BAD", "TGT", "TGT"};
  int64_t fst[6] = {0, 0, 4, 0, 8, 0};
  int64_t exp[6] = {10, 10, 10, 10, 10, 3};
  int64_t tid[6] = {100, 101, 102, 103, 104, 105};
  double snb[6] = {5, 5, 5, 5, 5, 5}, snr[6] = {1, 1, 1, 1, 20, 1};
  const double *sn[2] = {snb, snr};
  unsigned char keep[6];
  rvs_select_opts o;
  rvs_select_opts_default(&o);
  assert_int_equal(rvs_desi_select(6, obj, fst, exp, tid, sn, 2, &o, keep), 3);
  assert_int_equal(keep[0], 1);
  assert_int_equal(keep[1], 0); /* sky */
  assert_int_equal(keep[2], 0); /* fiber status bit 2 */
  assert_int_equal(keep[3], 0); /* BAD */
  assert_int_equal(keep[4], 1); /* bit 3 is allowed */
  o.minsn = 10; /* max over arms must exceed */
  assert_int_equal(rvs_desi_select(6, obj, fst, exp, tid, sn, 2, &o, keep), 1);
  assert_int_equal(keep[4], 1);
  rvs_select_opts_default(&o);
  o.have_minexpid = 1;
  o.minexpid = 3; /* strict > as upstream */
  assert_int_equal(rvs_desi_select(6, obj, fst, exp, tid, sn, 2, &o, keep), 2);
  assert_int_equal(keep[5], 0);
  rvs_select_opts_default(&o);
  int64_t want[2] = {104, 105};
  o.targetids = want;
  o.ntargetids = 2;
  assert_int_equal(rvs_desi_select(6, obj, fst, exp, tid, sn, 2, &o, keep), 2);
  assert_int_equal(keep[0], 0);
}

static void arm_sn_as_upstream(void **state) {
  (void)state;
  float flux[5] = {10, 20, 30, 40, NAN};
  float ivar[5] = {1, 4, 0, 1, 1};
  int32_t mask[5] = {0, 0, 0, 1, 0};
  double scratch[5];
  /* good: pixels 0,1 (2: ivar 0; 3: masked; 4: NaN) -> NaN median upstream */
  assert_true(rvs_desi_arm_sn(flux, ivar, mask, 5, scratch) == -1e9);
  flux[4] = 5;
  /* values 10, 40, 5 -> median 10 */
  assert_close_abs(rvs_desi_arm_sn(flux, ivar, mask, 5, scratch), 10, 0);
  for (int i = 0; i < 5; i++) mask[i] = 1;
  assert_true(rvs_desi_arm_sn(flux, ivar, mask, 5, scratch) == -1e9);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(fiberstatus_mask),
    cmocka_unit_test(selection_rules),
    cmocka_unit_test(arm_sn_as_upstream),
};
RVS_TEST_MAIN(tests)
