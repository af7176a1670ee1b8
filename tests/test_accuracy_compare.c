/* rvs_accuracy --compare (rvs_parity_*): two small hand-made RVTAB files with
 * known differences; exact fractions, the PARITY line and the exit status. */
#include "rvs_test.h"

#include "driver/accuracy.h"

#include <fitsio.h>
#include <stdlib.h>
#include <sys/wait.h>

#define W RVS_TEST_SCRATCH "/accuracy_compare"

typedef struct row {
  long long tid;
  double vrad, vrad_err, teff, teff_err, logg, logg_err, feh, feh_err, alpha, alpha_err, vsini;
  long long warn;
  double sn_b, sn_r, sn_z;
} row;

static const row base = {0, 10.0, 2.0, 5000.0, 50.0, 4.0, 0.1, -0.5, 0.05, 0.2, 0.04, 10.0, 0,
                         20.0, 30.0, 40.0};

/* RVTAB with rvs_desi_fit's column names; without ALPHAFE when !alpha. */
static void write_rvtab(const char *path, const row *r, long n, int alpha) {
  char *ttype[] = {"TARGETID", "VRAD",    "VRAD_ERR",    "TEFF",  "TEFF_ERR", "LOGG",
                   "LOGG_ERR", "FEH",     "FEH_ERR",     "VSINI", "RVS_WARN", "SN_B",
                   "SN_R",     "SN_Z",    "ALPHAFE",     "ALPHAFE_ERR"};
  char *tform[] = {"K", "D", "D", "D", "D", "D", "D", "D", "D", "D", "K", "E", "E", "E", "D", "D"};
  int nc = alpha ? 16 : 14;
  char fname[512];
  snprintf(fname, sizeof fname, "!%s", path);
  fitsfile *f = NULL;
  int fs = 0;
  fits_create_file(&f, fname, &fs);
  fits_create_tbl(f, BINARY_TBL, 0, nc, ttype, tform, NULL, "RVTAB", &fs);
  assert_int_equal(fs, 0);
  for (long i = 0; i < n; i++) {
    long long k[2] = {r[i].tid, r[i].warn};
    double d[] = {r[i].vrad, r[i].vrad_err, r[i].teff, r[i].teff_err, r[i].logg, r[i].logg_err,
                  r[i].feh, r[i].feh_err, r[i].vsini};
    float sn[3] = {(float)r[i].sn_b, (float)r[i].sn_r, (float)r[i].sn_z};
    double al[2] = {r[i].alpha, r[i].alpha_err};
    fits_write_col(f, TLONGLONG, 1, i + 1, 1, 1, &k[0], &fs);
    for (int c = 0; c < 9; c++) fits_write_col(f, TDOUBLE, 2 + c, i + 1, 1, 1, &d[c], &fs);
    fits_write_col(f, TLONGLONG, 11, i + 1, 1, 1, &k[1], &fs);
    for (int c = 0; c < 3; c++) fits_write_col(f, TFLOAT, 12 + c, i + 1, 1, 1, &sn[c], &fs);
    if (alpha)
      for (int c = 0; c < 2; c++) fits_write_col(f, TDOUBLE, 15 + c, i + 1, 1, 1, &al[c], &fs);
  }
  fits_close_file(f, &fs);
  assert_int_equal(fs, 0);
}

static int sh(const char *cmd) {
  fprintf(stderr, "+ %s\n", cmd);
  return system(cmd);
}

/* A: TARGETID 1..10 and 100; B: 10..1 (reversed) and 200.  Differences:
 *   2: dVRAD = 0.5 VRAD_ERR (fails; pull 0.5); max S/N 3
 *   3: every value NaN in both (passes)
 *   4: VRAD NaN in A, a number in B (fails); max S/N 4
 *   5: dTEFF = 0.01 TEFF_ERR (passes), dLOGG = 0.2 LOGG_ERR (fails)
 *   6: RVS_WARN 0 against 4
 *   7: dVSINI = 1e-4 VSINI (passes); 8: dVSINI = 1e-2 VSINI (fails)
 *   9: dVRAD = 0.04 VRAD_ERR (passes; pull 0.04) */
static void make_pair(const char *pa, const char *pb, int alpha_b) {
  row a[11], b[11];
  for (int i = 0; i < 10; i++) {
    a[i] = base;
    a[i].tid = i + 1;
    a[i].vrad = 10.0 + i;
  }
  a[10] = base;
  a[10].tid = 100;
  a[1].sn_b = 1; a[1].sn_r = 3; a[1].sn_z = NAN;
  a[3].sn_b = a[3].sn_r = a[3].sn_z = 4;
  row *r3 = &a[2];
  r3->vrad = r3->vrad_err = r3->teff = r3->teff_err = r3->logg = r3->logg_err = NAN;
  r3->feh = r3->feh_err = r3->alpha = r3->alpha_err = r3->vsini = NAN;
  for (int i = 0; i < 10; i++) b[9 - i] = a[i];
  b[10] = base;
  b[10].tid = 200;
  row *B[11];
  for (int i = 0; i < 10; i++) B[i] = &b[9 - i]; /* B[i] = partner of a[i] */
  B[1]->vrad += 0.5 * a[1].vrad_err;
  a[3].vrad = NAN;
  B[4]->teff += 0.01 * a[4].teff_err;
  B[4]->logg += 0.2 * a[4].logg_err;
  B[5]->warn = 4;
  B[6]->vsini *= 1 + 1e-4;
  B[7]->vsini *= 1 + 1e-2;
  B[8]->vrad += 0.04 * a[8].vrad_err;
  write_rvtab(pa, a, 11, 1);
  write_rvtab(pb, b, 11, alpha_b);
}

static void compare_counts_and_fractions(void **state) {
  (void)state;
  assert_int_equal(sh("mkdir -p " W), 0);
  make_pair(W "/a1.fits", W "/b1.fits", 1);
  rvs_parity p;
  assert_int_equal(rvs_parity_compute(W "/a1.fits", W "/b1.fits", 0.05, -INFINITY, &p, NULL, 0), 0);
  assert_int_equal(p.na, 11);
  assert_int_equal(p.nb, 11);
  assert_int_equal(p.nmatched, 10);
  assert_int_equal(p.nonly_a, 1);
  assert_int_equal(p.nonly_b, 1);
  assert_int_equal(p.nused, 10);
  for (int k = 0; k < RVS_PAR_N; k++) assert_true(p.present[k]);
  assert_int_equal(p.nok[RVS_PAR_VRAD], 8);
  assert_int_equal(p.nok[RVS_PAR_TEFF], 10);
  assert_int_equal(p.nok[RVS_PAR_LOGG], 9);
  assert_int_equal(p.nok[RVS_PAR_FEH], 10);
  assert_int_equal(p.nok[RVS_PAR_ALPHAFE], 10);
  assert_int_equal(p.nok[RVS_PAR_VSINI], 9);
  assert_int_equal(p.nall, 7); /* 2, 4, 5 fail (VSINI, row 8, has no error: not in 'all') */
  assert_int_equal(p.nwarn, 9);
  assert_true(p.frac[RVS_PAR_VRAD] == 0.8);
  assert_true(p.frac_all == 0.7);
  assert_true(p.frac_warn == 0.9);
  assert_int_equal(p.npull, 8); /* not 3 (NaN) nor 4 (NaN against a number) */
  assert_close_abs(p.max_pull, 0.5, 1e-12);
  assert_true(p.med_pull == 0);
  assert_false(rvs_parity_pass(&p));
  /* the same file against itself passes */
  assert_int_equal(rvs_parity_compute(W "/a1.fits", W "/a1.fits", 0.05, -INFINITY, &p, NULL, 0), 0);
  assert_int_equal(p.nused, 11);
  assert_true(p.frac_all == 1 && p.frac_warn == 1 && p.max_pull == 0);
  assert_true(rvs_parity_pass(&p));
}

static void compare_sn_cut_and_missing_column(void **state) {
  (void)state;
  assert_int_equal(sh("mkdir -p " W), 0);
  make_pair(W "/a2.fits", W "/b2.fits", 0);
  rvs_parity p;
  /* S/N cut drops TARGETID 2 (max S/N 3) and 4 (max S/N 4) */
  assert_int_equal(rvs_parity_compute(W "/a2.fits", W "/b2.fits", 0.05, 5, &p, NULL, 0), 0);
  assert_int_equal(p.nmatched, 10);
  assert_int_equal(p.nused, 8);
  assert_false(p.present[RVS_PAR_ALPHAFE]);
  assert_true(isnan(p.frac[RVS_PAR_ALPHAFE]));
  assert_true(p.frac[RVS_PAR_VRAD] == 1);
  assert_true(p.frac_all == 0.875); /* 5 */
  assert_true(p.frac_warn == 0.875);
  assert_close_abs(p.max_pull, 0.04, 1e-12);
  /* a looser tolerance lets the LOGG row through */
  assert_int_equal(rvs_parity_compute(W "/a2.fits", W "/b2.fits", 0.25, 5, &p, NULL, 0), 0);
  assert_int_equal(p.nall, 8);
}

/* An error of 0 or NaN in A: the column's median error of A is the scale. */
static void compare_error_fallback(void **state) {
  (void)state;
  assert_int_equal(sh("mkdir -p " W), 0);
  row a[5], b[5];
  for (int i = 0; i < 5; i++) {
    a[i] = base;
    a[i].tid = 50 + i;
  }
  a[1].logg_err = 0;   /* median LOGG_ERR of A stays 0.1 */
  a[2].logg_err = NAN;
  for (int i = 0; i < 5; i++) b[i] = a[i];
  b[1].logg += 0.001;  /* 0.01 of the median error: passes */
  b[2].logg += 0.1;    /* 1 median error: fails */
  write_rvtab(W "/a5.fits", a, 5, 1);
  write_rvtab(W "/b5.fits", b, 5, 1);
  rvs_parity p;
  assert_int_equal(rvs_parity_compute(W "/a5.fits", W "/b5.fits", 0.05, -INFINITY, &p, NULL, 0), 0);
  assert_int_equal(p.nused, 5);
  assert_int_equal(p.nok[RVS_PAR_LOGG], 4);
  assert_int_equal(p.nall, 4);
}

/* 200 rows: 2 VRAD failures give 0.99 exactly (passes), 3 give 0.985. */
static void compare_pass_boundary(void **state) {
  (void)state;
  assert_int_equal(sh("mkdir -p " W), 0);
  row *a = calloc(200, sizeof(row)), *b = calloc(200, sizeof(row));
  assert_non_null(a);
  assert_non_null(b);
  for (int i = 0; i < 200; i++) {
    a[i] = base;
    a[i].tid = 1000000000000LL + i;
    b[i] = a[i];
  }
  b[10].vrad += 1; /* 0.5 VRAD_ERR */
  b[20].vrad = NAN;
  write_rvtab(W "/a3.fits", a, 200, 1);
  write_rvtab(W "/b3.fits", b, 200, 1);
  b[30].vrad -= 1;
  write_rvtab(W "/c3.fits", b, 200, 1);
  free(a);
  free(b);
  rvs_parity p;
  assert_int_equal(rvs_parity_compute(W "/a3.fits", W "/b3.fits", 0.05, -INFINITY, &p, NULL, 0), 0);
  assert_int_equal(p.nok[RVS_PAR_VRAD], 198);
  assert_true(rvs_parity_pass(&p));
  assert_int_equal(rvs_parity_compute(W "/a3.fits", W "/c3.fits", 0.05, -INFINITY, &p, NULL, 0), 0);
  assert_int_equal(p.nok[RVS_PAR_VRAD], 197);
  assert_false(rvs_parity_pass(&p));
}

/* A far longer than B (a subset rerun against a full run): only the common
 * TARGETIDs are compared, A's median errors come from all of A. */
static void compare_subset_of_a(void **state) {
  (void)state;
  assert_int_equal(sh("mkdir -p " W), 0);
  row *a = calloc(300, sizeof(row));
  assert_non_null(a);
  for (int i = 0; i < 300; i++) {
    a[i] = base;
    a[i].tid = 7000 + i;
  }
  write_rvtab(W "/a6.fits", a, 300, 1);
  a[5].vrad += 1; /* 0.5 VRAD_ERR */
  write_rvtab(W "/b6.fits", a, 12, 1);
  free(a);
  rvs_parity p;
  assert_int_equal(rvs_parity_compute(W "/a6.fits", W "/b6.fits", 0.05, -INFINITY, &p, NULL, 0), 0);
  assert_int_equal(p.na, 300);
  assert_int_equal(p.nb, 12);
  assert_int_equal(p.nmatched, 12);
  assert_int_equal(p.nonly_a, 288);
  assert_int_equal(p.nok[RVS_PAR_VRAD], 11);
  assert_int_equal(p.nall, 11);
  assert_int_equal(rvs_parity_compute(W "/b6.fits", W "/a6.fits", 0.05, -INFINITY, &p, NULL, 0), 0);
  assert_int_equal(p.nonly_b, 288);
  assert_int_equal(p.nok[RVS_PAR_VRAD], 11);
}

static int prog(const char *args, const char *out) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s/rvs_accuracy %s > %s 2>&1", RVS_BINARY_DIR, args, out);
  int rc = sh(cmd);
  assert_true(WIFEXITED(rc));
  return WEXITSTATUS(rc);
}

static void program_exit_status_and_parity_line(void **state) {
  (void)state;
  assert_int_equal(sh("mkdir -p " W), 0);
  make_pair(W "/a4.fits", W "/b4.fits", 1);
  assert_int_equal(prog("--compare " W "/a4.fits " W "/b4.fits --list 3", W "/out1.txt"), 1);
  assert_int_equal(sh("cat " W "/out1.txt >&2"), 0);
  assert_int_equal(sh("grep -q '^PARITY na=11 nb=11 matched=10 only_a=1 only_b=1 used=10 tol=0.05 "
                      "min_sn=-inf vrad=0.800000 teff=1.000000 logg=0.900000 feh=1.000000 "
                      "alphafe=1.000000 vsini=0.900000 all=0.700000 warn=0.900000 max_pull=0.5 "
                      "med_pull=0 pass=0$' " W "/out1.txt"),
                   0);
  /* the NaN-against-number row is the worst one listed */
  assert_int_equal(sh("grep -A2 '^ *TARGETID' " W "/out1.txt | sed -n 2p | grep -q '^ *4 *inf VRAD'"), 0);
  assert_int_equal(prog("--compare " W "/a4.fits " W "/a4.fits", W "/out2.txt"), 0);
  assert_int_equal(sh("grep -q '^PARITY .* pass=1$' " W "/out2.txt"), 0);
  assert_int_equal(prog("--compare --min_sn 5 --tol 0.25 " W "/a4.fits " W "/b4.fits", W "/out3.txt"), 1);
  assert_int_equal(sh("grep -q '^PARITY .* used=8 tol=0.25 min_sn=5 vrad=1.000000 .* all=1.000000 warn=0.875000 ' " W "/out3.txt"), 0);
  /* bad option, missing file */
  assert_int_equal(prog("--compare --tol 0 " W "/a4.fits " W "/b4.fits", W "/out4.txt"), 2);
  assert_int_equal(prog("--compare " W "/a4.fits " W "/nope.fits", W "/out5.txt"), 2);
  assert_int_equal(sh("grep -q 'nope.fits' " W "/out5.txt"), 0);
  assert_int_equal(prog("--help", W "/out6.txt"), 0);
  assert_int_equal(sh("grep -q 'compare RVTAB_A RVTAB_B' " W "/out6.txt"), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(compare_counts_and_fractions),
    cmocka_unit_test(compare_sn_cut_and_missing_column),
    cmocka_unit_test(compare_pass_boundary),
    cmocka_unit_test(compare_error_fallback),
    cmocka_unit_test(compare_subset_of_a),
    cmocka_unit_test(program_exit_status_and_parity_line),
};

RVS_TEST_MAIN(tests)
