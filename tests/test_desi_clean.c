/* Per-fiber cleaning and RVS_WARN vs upstream rvspecfit 0.9.0
 * desi_fit.get_specdata / get_rvs_warn (reference values printed by python
 * with the same synthetic arm).  Upstream works in float32 on the file's
 * arrays (sigma = 1/sqrt(ivar), the bad-pixel error, the clamp threshold and
 * interpolated fluxes are float32 values), and so do we: the cleaned arrays
 * must match bit for bit. */
#include "rvs_test.h"

#include "driver/desi_clean.h"

#define N 40

static void make_arm(double *wave, float *flux, float *ivar, int32_t *mask) {
  for (int i = 0; i < N; i++) {
    wave[i] = 4280. + i * 5.0; /* pixels 5..33 fall in the 4300-4450 A dichroic */
    flux[i] = (float)(100 + 10 * sin(i * 0.7));
    ivar[i] = (float)(0.01 + 0.001 * (i % 7));
    mask[i] = 0;
  }
  flux[3] = NAN;
  mask[8] = 4;
  ivar[12] = 0;
  mask[0] = 1;
  ivar[39] = -1;
  ivar[20] = 50.0f;
}

static void clean_matches_upstream(void **state) {
  (void)state;
  double wave[N], fo[N], so[N];
  float flux[N], ivar[N];
  int32_t mask[N];
  unsigned char bad[N];
  size_t ncl;
  make_arm(wave, flux, ivar, mask);
  assert_int_equal(rvs_desi_clean_arm(wave, flux, ivar, mask, N, 0, fo, so, bad, &ncl), 1);
  const int idx[8] = {0, 1, 3, 8, 12, 20, 39, 4};
  const double want_f[8] = {106.44217681884766, 106.44217681884766, 106.60218811035156,
                            95.171806335449219, 106.53633117675781, 109.90607452392578,
                            109.94644927978516, 103.34988403320312};
  for (int k = 0; k < 8; k++) assert_close_rel(fo[idx[k]], want_f[k], 0, 1);
  /* float32 1/sqrt(ivar): in double pixel 1 would be 9.5346259182881035 and
   * pixel 2 9.1287092520778277; the bad-pixel error 100504.22668457031 */
  const int idx2[11] = {0, 1, 2, 3, 20, 36, 39, 4, 34, 35, 38};
  const double want_s[11] = {100504.2265625,    9.5346260070800781, 9.1287088394165039,
                             100504.2265625,    100504.2265625,     9.5346260070800781,
                             100504.2265625,    8.451542854309082,  7.905693531036377,
                             10,                8.7705802917480469};
  for (int k = 0; k < 11; k++) assert_close_rel(so[idx2[k]], want_s[k], 0, 1);
  int nbad = 0;
  for (int i = 0; i < N; i++) nbad += bad[i];
  assert_int_equal(nbad, 32);
  assert_int_equal(bad[0], 1);
  assert_int_equal(bad[1], 0);
  assert_int_equal(bad[5], 1);
}

static void resolution_mode_masks_edges(void **state) {
  (void)state;
  double wave[N], fo[N], so[N];
  float flux[N], ivar[N];
  int32_t mask[N];
  unsigned char bad[N];
  size_t ncl;
  make_arm(wave, flux, ivar, mask);
  assert_int_equal(rvs_desi_clean_arm(wave, flux, ivar, mask, N, 1, fo, so, bad, &ncl), 1);
  int nbad = 0;
  for (int i = 0; i < N; i++) nbad += bad[i];
  assert_int_equal(nbad, 39); /* upstream: everything but pixel 34 */
  assert_int_equal(bad[34], 0);
  assert_close_rel(so[1], 100504.2265625, 0, 1);
  assert_close_rel(so[34], 7.905693531036377, 0, 1);
  /* edges and dichroic get the large error but are not interpolated */
  assert_close_rel(fo[1], 106.44217681884766, 0, 1);
  assert_close_rel(fo[3], 106.60218811035156, 0, 1);
}

static void fully_masked_arm_is_dropped(void **state) {
  (void)state;
  double wave[N], fo[N], so[N];
  float flux[N], ivar[N];
  int32_t mask[N];
  unsigned char bad[N];
  size_t ncl;
  make_arm(wave, flux, ivar, mask);
  for (int i = 0; i < N; i++) mask[i] = 2;
  assert_int_equal(rvs_desi_clean_arm(wave, flux, ivar, mask, N, 0, fo, so, bad, &ncl), 0);
  make_arm(wave, flux, ivar, mask);
  for (int i = 0; i < N; i++) flux[i] = 0; /* no sensible median */
  assert_int_equal(rvs_desi_clean_arm(wave, flux, ivar, mask, N, 0, fo, so, bad, &ncl), 0);
}

static void interpolate_bad_runs(void **state) {
  (void)state;
  double s[8] = {9, 9, 2, 0, 0, 5, 7, 9};
  unsigned char b[8] = {1, 1, 0, 1, 1, 0, 0, 1};
  rvs_interpolate_bad_regions(s, b, 8);
  assert_close_abs(s[0], 2, 0);
  assert_close_abs(s[1], 2, 0);
  assert_close_abs(s[3], 3, 1e-15);
  assert_close_abs(s[4], 4, 1e-15);
  assert_close_abs(s[7], 7, 0);
}

static void rvs_warn_bits_as_upstream(void **state) {
  (void)state;
  assert_int_equal(rvs_warn_bits(100, 1000, 10, 1, 5000, 4, 0, 5, 0, -1000, 1000), 0);
  assert_int_equal(rvs_warn_bits(100, 140, 10, 1, 5000, 4, 0, 5, 0, -1000, 1000), 1);
  assert_int_equal(rvs_warn_bits(100, 1000, 996, 1, 5000, 4, 0, 5, 0, -1000, 1000), 2);
  assert_int_equal(rvs_warn_bits(100, 1000, 10, 101, 5000, 4, 0, 5, 0, -1000, 1000), 4);
  assert_int_equal(rvs_warn_bits(100, 1000, 10, 1, 14995, 4, 0, 5, 0, -1000, 1000), 8);
  assert_int_equal(rvs_warn_bits(100, 1000, 10, 1, 5000, 4, 0.995, 5, 0, -1000, 1000), 8);
  assert_int_equal(rvs_warn_bits(100, 1000, 10, 1, 5000, -0.495, 0, 5, 0, -1000, 1000), 8);
  assert_int_equal(rvs_warn_bits(100, 1000, 10, 1, 5000, 4, 0, 101, 0, -1000, 1000), 16);
  assert_int_equal(rvs_warn_bits(100, 1000, 10, 1, 5000, 4, 0, 5, 1, -1000, 1000), 64);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(clean_matches_upstream),
    cmocka_unit_test(resolution_mode_masks_edges),
    cmocka_unit_test(fully_masked_arm_is_dropped),
    cmocka_unit_test(interpolate_bad_runs),
    cmocka_unit_test(rvs_warn_bits_as_upstream),
};
RVS_TEST_MAIN(tests)
