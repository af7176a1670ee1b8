/* RVS_TEST_SERIAL (the cases share the scratch folder)
 *
 * rvs_desi_fit's --objtypes, --zbest_select and --zbest_include (upstream
 * select_fibers_to_fit with desitarget's masks and the Redrock file).  The
 * expected selections were computed with upstream rvspecfit 0.9.0's own
 * select_fibers_to_fit and desitarget 4.4.0 on the same files: the real
 * coadd/redrock pair in ../shared/data and the small FIBERMAP/REDSHIFTS
 * fixtures written below. */
#include "rvs_test.h"

#include "desi_test_util.h"
#include "driver/desi_select.h"
#include "driver/desi_targetbits.h"
#include "io/redrock.h"

#include <sys/wait.h>
#include <unistd.h>

#define W RVS_TEST_SCRATCH "/select_extra"
#define REALDIR RVS_SHARED_DATA_DIR "/desi"
#define REAL REALDIR "/coadd-4-80613-thru20210324.fits"
#define REAL_RR REALDIR "/redrock-4-80613-thru20210324.fits"
#define REAL_TID 39633345008634465LL

static uint64_t B(int bit) { return UINT64_C(1) << bit; }

/* A FIBERMAP-only file: TARGETID, OBJTYPE 'TGT' and one target column. */
static void write_fibermap(const char *path, const char *targetcol, size_t n,
                           const long long *tid, const long long *bits) {
  fitsfile *f;
  int fs = 0;
  char p[1024];
  snprintf(p, sizeof p, "!%s", path);
  char *ttype[3] = {"TARGETID", "OBJTYPE", (char *)targetcol};
  char *tform[3] = {"K", "3A", "K"};
  fits_create_file(&f, p, &fs);
  fits_create_img(f, 8, 0, NULL, &fs);
  fits_create_tbl(f, BINARY_TBL, (LONGLONG)n, 3, ttype, tform, NULL, "FIBERMAP", &fs);
  char *obj[16];
  for (size_t i = 0; i < n; i++) obj[i] = "TGT";
  fits_write_col(f, TLONGLONG, 1, 1, 1, (LONGLONG)n, (void *)tid, &fs);
  fits_write_col(f, TSTRING, 2, 1, 1, (LONGLONG)n, obj, &fs);
  fits_write_col(f, TLONGLONG, 3, 1, 1, (LONGLONG)n, (void *)bits, &fs);
  fits_close_file(f, &fs);
  assert_int_equal(fs, 0);
}

static void write_redrock(const char *path, const char *ext, size_t n, const long long *tid,
                          const double *z, const char **spectype, const char **subtype) {
  fitsfile *f;
  int fs = 0;
  char p[1024];
  snprintf(p, sizeof p, "!%s", path);
  char *ttype[4] = {"TARGETID", "Z", "SPECTYPE", "SUBTYPE"};
  char *tform[4] = {"K", "D", "6A", "20A"};
  fits_create_file(&f, p, &fs);
  fits_create_img(f, 8, 0, NULL, &fs);
  fits_create_tbl(f, BINARY_TBL, (LONGLONG)n, 4, ttype, tform, NULL, ext, &fs);
  fits_write_col(f, TLONGLONG, 1, 1, 1, (LONGLONG)n, (void *)tid, &fs);
  fits_write_col(f, TDOUBLE, 2, 1, 1, (LONGLONG)n, (void *)z, &fs);
  fits_write_col(f, TSTRING, 3, 1, 1, (LONGLONG)n, (void *)spectype, &fs);
  fits_write_col(f, TSTRING, 4, 1, 1, (LONGLONG)n, (void *)subtype, &fs);
  fits_close_file(f, &fs);
  assert_int_equal(fs, 0);
}

/* Main-survey fixture, 8 rows: target classes and Redrock verdicts mixed. */
static const long long FIX_TID[8] = {1, 2, 3, 4, 5, 6, 7, 8};
#define FIX_DIR W "/main"
#define FIX_COADD FIX_DIR "/coadd-fix.fits"

static void make_main_fixture(void) {
  dtu_sh("mkdir -p " FIX_DIR);
  const long long bits[8] = {(long long)B(61),          (long long)B(60), (long long)B(33),
                             (long long)B(62),          1,                0,
                             (long long)(B(61) | 1), (long long)B(35)};
  write_fibermap(FIX_COADD, "DESI_TARGET", 8, FIX_TID, bits);
  /* 9 Redrock rows (so matched by TARGETID): shuffled, TARGETID 6 absent,
   * 5 twice (GALAXY then STAR), 99 not in the FIBERMAP */
  const long long tid[9] = {8, 1, 2, 3, 4, 5, 5, 7, 99};
  const double z[9] = {0.1, 0.0049, 0.5, -0.006, 2.0, 0.3, 0.0001, -0.004999, 0};
  const char *st[9] = {"STAR", "GALAXY", "GALAXY", "QSO", "STAR", "GALAXY", "STAR", "GALAXY",
                       "STAR"};
  const char *su[9] = {"G", "", "", "", "K", "", "M", "", "WD"};
  write_redrock(FIX_DIR "/redrock-fix.fits", "REDSHIFTS", 9, tid, z, st, su);
}

static size_t run_select(const char *path, size_t n, const long long *tid, const char *objtypes,
                         int zsel, int zinc, unsigned char *keep, rvs_desi_zbest *zb, int *rc) {
  rvs_select_opts o;
  rvs_select_opts_default(&o);
  char **pats = NULL;
  size_t npats = 0;
  if (objtypes) {
    assert_int_equal(rvs_objtypes_parse(objtypes, &pats, &npats), RVS_OK);
    o.objtypes = (const char *const *)pats;
    o.nobjtypes = npats;
  }
  o.zbest_select = zsel;
  o.zbest_include = zinc;
  for (size_t i = 0; i < n; i++) keep[i] = 1;
  size_t nkeep = n;
  *rc = rvs_desi_select_targets(path, n, (const int64_t *)tid, &o, keep, &nkeep, zb);
  rvs_objtypes_free(pats, npats);
  return nkeep;
}

static void bit_tables(void **state) {
  (void)state;
  const rvs_targetmask *m = rvs_targetmask_find("main");
  assert_non_null(m);
  uint64_t bits;
  const char *p1[] = {"MWS_ANY", "SCND_ANY"};
  assert_int_equal(rvs_targetmask_bits(m, p1, 2, &bits), RVS_OK);
  assert_true(bits == (B(61) | B(62)));
  const char *p2[] = {"STD_*"}; /* a regular expression: STD, then any '_' */
  assert_int_equal(rvs_targetmask_bits(m, p2, 1, &bits), RVS_OK);
  assert_true(bits == (B(33) | B(34) | B(35)));
  const char *p3[] = {"LRG"}; /* matched at the start only: LRG, LRG_NORTH, LRG_SOUTH */
  assert_int_equal(rvs_targetmask_bits(m, p3, 1, &bits), RVS_OK);
  assert_true(bits == (B(0) | B(8) | B(16)));
  const char *p4[] = {"ANY"}; /* re.match, not re.search */
  assert_int_equal(rvs_targetmask_bits(m, p4, 1, &bits), RVS_OK);
  assert_true(bits == 0);
  const char *p5[] = {"BGS_ANY$|MWS_ANY"};
  assert_int_equal(rvs_targetmask_bits(m, p5, 1, &bits), RVS_OK);
  assert_true(bits == (B(60) | B(61)));
  assert_true(rvs_targetmask_bits(rvs_targetmask_find("sv1"), p1, 2, &bits) == RVS_OK &&
              bits == (B(61) | B(62)));
  const char *p6[] = {"STD_*"};
  assert_int_equal(rvs_targetmask_bits(rvs_targetmask_find("cmx"), p6, 1, &bits), RVS_OK);
  assert_true(bits == (B(0) | B(3) | B(4) | B(5) | B(58) | B(33) | B(35)));
  assert_non_null(rvs_targetmask_find("sv2"));
  assert_non_null(rvs_targetmask_find("sv3"));
  assert_null(rvs_targetmask_find("sv4"));
}

static void objtypes_names_checked(void **state) {
  (void)state;
  char **v;
  size_t n;
  assert_int_equal(rvs_objtypes_parse("MWS_ANY,SCND_ANY,STD_*", &v, &n), RVS_OK);
  assert_int_equal(n, 3);
  assert_string_equal(v[2], "STD_*");
  assert_int_equal(rvs_objtypes_check((const char *const *)v, n), RVS_OK);
  rvs_objtypes_free(v, n);
  assert_int_equal(rvs_objtypes_parse("MWS_ANY,NOT_A_CLASS", &v, &n), RVS_OK);
  assert_int_equal(rvs_objtypes_check((const char *const *)v, n), RVS_ERR_ARG);
  assert_non_null(strstr(rvs_last_error(), "'NOT_A_CLASS'"));
  rvs_objtypes_free(v, n);
  assert_int_equal(rvs_objtypes_parse("MWS_(", &v, &n), RVS_OK);
  assert_int_equal(rvs_objtypes_check((const char *const *)v, n), RVS_ERR_ARG);
  assert_non_null(strstr(rvs_last_error(), "regular expression"));
  rvs_objtypes_free(v, n);
  /* names of one survey only are known too (SV0_MWS is a cmx bit) */
  assert_int_equal(rvs_objtypes_parse("SV0_MWS", &v, &n), RVS_OK);
  assert_int_equal(rvs_objtypes_check((const char *const *)v, n), RVS_OK);
  rvs_objtypes_free(v, n);
}

static void survey_from_columns(void **state) {
  (void)state;
  char s[32], col[72];
  const char *main_cols[] = {"TARGETID", "DESI_TARGET", "MWS_TARGET"};
  assert_int_equal(rvs_targetbits_survey(main_cols, 3, s, sizeof s, col, sizeof col), RVS_OK);
  assert_string_equal(s, "main");
  assert_string_equal(col, "DESI_TARGET");
  /* the real coadd has both: the first SV column decides, as desitarget */
  const char *sv_cols[] = {"TARGETID", "SV1_MWS_TARGET", "SV1_DESI_TARGET", "DESI_TARGET"};
  assert_int_equal(rvs_targetbits_survey(sv_cols, 4, s, sizeof s, col, sizeof col), RVS_OK);
  assert_string_equal(s, "sv1");
  assert_string_equal(col, "SV1_DESI_TARGET");
  const char *cmx_cols[] = {"TARGETID", "CMX_TARGET"};
  assert_int_equal(rvs_targetbits_survey(cmx_cols, 2, s, sizeof s, col, sizeof col), RVS_OK);
  assert_string_equal(s, "cmx");
  assert_string_equal(col, "CMX_TARGET");
  const char *bad_cols[] = {"TARGETID", "SV9_DESI_TARGET"};
  assert_int_equal(rvs_targetbits_survey(bad_cols, 2, s, sizeof s, col, sizeof col),
                   RVS_ERR_FORMAT);
}

/* Real coadd (SV1 columns, one BGS galaxy at z = 0.369), as upstream:
 * none -> 1, BGS_ANY -> 1, MWS_ANY -> 0, MWS_ANY,SCND_ANY,STD_* -> 0,
 * BGS -> 1, LRG|BGS_ANY -> 1, zbest_select -> 0, zbest_include -> 1 with
 * RR_Z 0.36874355163716493 GALAXY '', MWS_ANY+zbest -> 0, BGS_ANY+zbest -> 1. */
static void real_coadd_selection(void **state) {
  (void)state;
  const long long tid = REAL_TID;
  unsigned char keep[1];
  rvs_desi_zbest zb;
  int rc;
  static const struct {
    const char *objtypes;
    int zsel, zinc;
    size_t want;
  } cases[] = {
      {NULL, 0, 0, 1},         {"BGS_ANY", 0, 0, 1}, {"MWS_ANY", 0, 0, 0},
      {"MWS_ANY,SCND_ANY,STD_*", 0, 0, 0}, {"BGS", 0, 0, 1}, {"LRG|BGS_ANY", 0, 0, 1},
      {NULL, 1, 0, 0},         {NULL, 0, 1, 1},      {"MWS_ANY", 1, 0, 0},
      {"BGS_ANY", 1, 0, 1},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    size_t n = run_select(REAL, 1, &tid, cases[k].objtypes, cases[k].zsel, cases[k].zinc, keep,
                          &zb, &rc);
    assert_int_equal(rc, RVS_OK);
    if (n != cases[k].want) fail_msg("case %zu (%s): %zu selected", k, cases[k].objtypes, n);
    assert_int_equal(keep[0], cases[k].want);
    assert_int_equal(zb.have, cases[k].zsel || cases[k].zinc);
    if (zb.have) {
      assert_close_rel(zb.z[0], 0.36874355163716493, 1e-15, 0);
      assert_string_equal(zb.spectype[0], "GALAXY");
      assert_string_equal(zb.subtype[0], "");
      assert_string_equal(zb.path, REAL_RR);
      assert_string_equal(zb.extname, "REDSHIFTS");
    }
    rvs_desi_zbest_free(&zb);
  }
}

/* The 8-row fixture, upstream's answers: MWS_ANY -> rows 0,6; STD_* -> 2,7;
 * MWS_ANY,SCND_ANY,STD_* -> 0,2,3,6,7; zbest_select -> 0,3,4,6,7 (|z| <
 * 0.005 or STAR; TARGETID 5 is a star in one of its two rows);
 * zbest_select + BGS_ANY -> 0,1,3,4,6,7. */
static void fixture_selection(void **state) {
  (void)state;
  make_main_fixture();
  static const struct {
    const char *objtypes;
    int zsel;
    unsigned char want[8];
  } cases[] = {
      {"MWS_ANY", 0, {1, 0, 0, 0, 0, 0, 1, 0}},
      {"STD_*", 0, {0, 0, 1, 0, 0, 0, 0, 1}},
      {"MWS_ANY,SCND_ANY,STD_*", 0, {1, 0, 1, 1, 0, 0, 1, 1}},
      {NULL, 1, {1, 0, 0, 1, 1, 0, 1, 1}},
      {"BGS_ANY", 1, {1, 1, 0, 1, 1, 0, 1, 1}},
  };
  unsigned char keep[8];
  rvs_desi_zbest zb;
  int rc;
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    size_t n =
        run_select(FIX_COADD, 8, FIX_TID, cases[k].objtypes, cases[k].zsel, 0, keep, &zb, &rc);
    assert_int_equal(rc, RVS_OK);
    size_t want = 0;
    for (int r = 0; r < 8; r++) {
      want += cases[k].want[r];
      if (keep[r] != cases[k].want[r]) fail_msg("case %zu row %d: keep %d", k, r, keep[r]);
    }
    assert_int_equal(n, want);
    rvs_desi_zbest_free(&zb);
  }
  /* RR values by TARGETID: the last row of a TARGETID, NaN/'' when absent */
  run_select(FIX_COADD, 8, FIX_TID, NULL, 0, 1, keep, &zb, &rc);
  assert_int_equal(rc, RVS_OK);
  for (int r = 0; r < 8; r++) assert_int_equal(keep[r], 1);
  assert_close_abs(zb.z[0], 0.0049, 0);
  assert_string_equal(zb.spectype[3], "STAR");
  assert_string_equal(zb.subtype[3], "K");
  assert_close_abs(zb.z[4], 0.0001, 0);
  assert_string_equal(zb.spectype[4], "STAR");
  assert_string_equal(zb.subtype[4], "M");
  assert_true(isnan(zb.z[5]));
  assert_string_equal(zb.spectype[5], "");
  assert_close_abs(zb.z[7], 0.1, 0);
  rvs_desi_zbest_free(&zb);
}

/* Equal row counts: row-by-row, TARGETIDs must agree (upstream asserts). */
static void fixture_row_match(void **state) {
  (void)state;
  dtu_sh("mkdir -p " W "/rows " W "/rows_bad");
  const long long tid[3] = {10, 11, 12}, bits[3] = {0, 0, 0};
  const double z[3] = {0.0001, 0.2, 1e-4};
  const char *st[3] = {"GALAXY", "GALAXY", "STAR"}, *su[3] = {"", "", "F"};
  write_fibermap(W "/rows/coadd-r.fits", "DESI_TARGET", 3, tid, bits);
  write_redrock(W "/rows/redrock-r.fits", "REDSHIFTS", 3, tid, z, st, su);
  unsigned char keep[3];
  rvs_desi_zbest zb;
  int rc;
  size_t n = run_select(W "/rows/coadd-r.fits", 3, tid, NULL, 1, 0, keep, &zb, &rc);
  assert_int_equal(rc, RVS_OK);
  assert_int_equal(n, 2);
  assert_int_equal(keep[1], 0);
  assert_string_equal(zb.subtype[2], "F");
  rvs_desi_zbest_free(&zb);
  const long long swapped[3] = {11, 10, 12};
  write_fibermap(W "/rows_bad/coadd-r.fits", "DESI_TARGET", 3, tid, bits);
  write_redrock(W "/rows_bad/redrock-r.fits", "REDSHIFTS", 3, swapped, z, st, su);
  run_select(W "/rows_bad/coadd-r.fits", 3, tid, NULL, 0, 1, keep, &zb, &rc);
  assert_int_equal(rc, RVS_ERR_FORMAT);
  assert_non_null(strstr(rvs_last_error(), "rows_bad/coadd-r.fits"));
  assert_non_null(strstr(rvs_last_error(), "TARGETID"));
  assert_null(zb.z);
}

/* Older names: zbest-* with HDU ZBEST, spectra-* inputs, .gz stripped. */
static void redrock_file_names(void **state) {
  (void)state;
  dtu_sh("rm -rf " W "/names && mkdir -p " W "/names");
  char path[1024], ext[16], tried[1024];
  assert_int_equal(rvs_redrock_find(W "/names/coadd-a.fits", path, sizeof path, ext, sizeof ext,
                                    tried, sizeof tried),
                   0);
  assert_string_equal(tried, W "/names/redrock-a.fits");
  dtu_sh("touch " W "/names/zbest-a.fits");
  assert_int_equal(rvs_redrock_find(W "/names/spectra-a.fits.gz", path, sizeof path, ext,
                                    sizeof ext, tried, sizeof tried),
                   1);
  assert_string_equal(path, W "/names/zbest-a.fits");
  assert_string_equal(ext, "ZBEST");
  dtu_sh("touch " W "/names/redrock-a.fits.gz");
  assert_int_equal(rvs_redrock_find(W "/names/coadd-a.fits", path, sizeof path, ext, sizeof ext,
                                    tried, sizeof tried),
                   1);
  assert_string_equal(path, W "/names/redrock-a.fits.gz");
  assert_string_equal(ext, "REDSHIFTS");
  assert_int_equal(rvs_redrock_find(W "/names/other-a.fits", path, sizeof path, ext, sizeof ext,
                                    tried, sizeof tried),
                   0);
  assert_string_equal(tried, "");
}

/* cmx survey: its own mask; a class that is not a cmx bit fails the file
 * (upstream's reduce over no names raises). */
static void cmx_survey(void **state) {
  (void)state;
  dtu_sh("mkdir -p " W "/cmx");
  const long long tid[3] = {1, 2, 3};
  const long long bits[3] = {(long long)B(0), (long long)B(9), (long long)B(33)};
  write_fibermap(W "/cmx/coadd-c.fits", "CMX_TARGET", 3, tid, bits);
  unsigned char keep[3];
  rvs_desi_zbest zb;
  int rc;
  size_t n = run_select(W "/cmx/coadd-c.fits", 3, tid, "STD_*", 0, 0, keep, &zb, &rc);
  assert_int_equal(rc, RVS_OK);
  assert_int_equal(n, 2);
  assert_int_equal(keep[1], 0);
  n = run_select(W "/cmx/coadd-c.fits", 3, tid, "SV0_MWS$", 0, 0, keep, &zb, &rc);
  assert_int_equal(rc, RVS_OK);
  assert_int_equal(n, 1);
  assert_int_equal(keep[1], 1);
  run_select(W "/cmx/coadd-c.fits", 3, tid, "MWS_ANY", 0, 0, keep, &zb, &rc);
  assert_int_equal(rc, RVS_ERR_ARG);
  assert_non_null(strstr(rvs_last_error(), "cmx/coadd-c.fits"));
  assert_non_null(strstr(rvs_last_error(), "cmx_mask"));
  /* a main-survey FIBERMAP without DESI_TARGET fails the file (a KeyError upstream) */
  write_fibermap(W "/cmx/coadd-nocol.fits", "MWS_TARGET", 3, tid, bits);
  run_select(W "/cmx/coadd-nocol.fits", 3, tid, "MWS_ANY", 0, 0, keep, &zb, &rc);
  assert_int_equal(rc, RVS_ERR_FORMAT);
  assert_non_null(strstr(rvs_last_error(), "DESI_TARGET"));
}

/* ---- through rvs_desi_process_file, with the tiny template library ---- */

static int setup(void **state) {
  (void)state;
  return dtu_setup(W);
}

static void zbest_include_columns(void **state) {
  (void)state;
  dtu_copy(REAL, W "/in/coadd-4-80613-thru20210324.fits");
  dtu_copy(REAL_RR, W "/in/redrock-4-80613-thru20210324.fits");
  rvs_desi_file_stats st;
  assert_int_equal(dtu_run_file(W "/in/coadd-4-80613-thru20210324.fits", 0, 1, &st), RVS_OK);
  assert_int_equal(st.nselected, 1);
  fitsfile *f;
  int fs = 0, col;
  double z;
  char spectype[32] = "", subtype[40] = "x", *ps = spectype, *pu = subtype;
  char *rrfile = NULL;
  fits_open_file(&f, W "/out/rvtab_coadd-4-80613-thru20210324.fits", READONLY, &fs);
  fits_read_key_longstr(f, "RR_FILE", &rrfile, NULL, &fs);
  assert_int_equal(fs, 0);
  assert_non_null(strstr(rrfile, W "/in/redrock-4-80613-thru20210324.fits"));
  fits_free_memory(rrfile, &fs);
  fits_movnam_hdu(f, BINARY_TBL, "RVTAB", 0, &fs);
  fits_get_colnum(f, CASESEN, "RR_Z", &col, &fs);
  fits_read_col(f, TDOUBLE, col, 1, 1, 1, NULL, &z, NULL, &fs);
  fits_get_colnum(f, CASESEN, "RR_SPECTYPE", &col, &fs);
  fits_read_col(f, TSTRING, col, 1, 1, 1, NULL, &ps, NULL, &fs);
  fits_get_colnum(f, CASESEN, "RR_SUBTYPE", &col, &fs);
  fits_read_col(f, TSTRING, col, 1, 1, 1, NULL, &pu, NULL, &fs);
  fits_close_file(f, &fs);
  assert_int_equal(fs, 0);
  assert_close_rel(z, 0.36874355163716493, 1e-15, 0);
  assert_string_equal(spectype, "GALAXY");
  assert_int_equal(strspn(subtype, " "), strlen(subtype)); /* blank (astropy reads '') */
  /* --zbest_select: the galaxy is dropped, an empty RVTAB is written */
  assert_int_equal(dtu_run_file(W "/in/coadd-4-80613-thru20210324.fits", 1, 0, &st), RVS_OK);
  assert_int_equal(st.nselected, 0);
  assert_int_equal(dtu_rvtab_nrows(W "/out/rvtab_coadd-4-80613-thru20210324.fits"), 0);
}

static void missing_or_corrupt_redrock(void **state) {
  (void)state;
  dtu_copy(REAL, W "/in_norr/coadd-x.fits");
  rvs_desi_file_stats st;
  int rc = dtu_run_file(W "/in_norr/coadd-x.fits", 0, 1, &st);
  assert_int_equal(rc, RVS_ERR_IO);
  assert_non_null(strstr(rvs_last_error(), W "/in_norr/coadd-x.fits"));
  assert_non_null(strstr(rvs_last_error(), "redrock-x.fits"));
  assert_int_not_equal(dtu_sh("ls " W "/out | grep -q coadd-x"), 0); /* nothing written */
  /* cut short: the message names the Redrock file */
  dtu_copy(REAL_RR, W "/in_norr/redrock-x.fits");
  assert_int_equal(truncate(W "/in_norr/redrock-x.fits", 5000), 0);
  rc = dtu_run_file(W "/in_norr/coadd-x.fits", 1, 0, &st);
  assert_int_not_equal(rc, RVS_OK);
  assert_non_null(strstr(rvs_last_error(), "redrock-x.fits"));
  assert_null(strchr(rvs_last_error(), '\n')); /* one line */
  assert_int_not_equal(dtu_sh("ls " W "/out | grep -q coadd-x"), 0);
  /* no REDSHIFTS HDU */
  dtu_copy(REAL, W "/in_norr/redrock-x.fits");
  rc = dtu_run_file(W "/in_norr/coadd-x.fits", 1, 0, &st);
  assert_int_not_equal(rc, RVS_OK);
  assert_non_null(strstr(rvs_last_error(), "redrock-x.fits"));
  assert_non_null(strstr(rvs_last_error(), "REDSHIFTS"));
}

/* The program: an unknown class is a usage error; a file without Redrock
 * fails while the next one is fitted. */
static void program_options(void **state) {
  (void)state;
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "%s/rvs_desi_fit --objtypes MWS_ANY,NOT_A_CLASS --config " W "/lib/config.yaml " REAL
           " 2> " W "/stderr_obj.txt",
           RVS_BINARY_DIR);
  int rc = dtu_sh(cmd);
  assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
  assert_int_equal(dtu_sh("grep -q \"'NOT_A_CLASS' matches no DESI target class\" " W
                      "/stderr_obj.txt"),
                   0);
  dtu_copy(REAL, W "/in_prog/a/coadd-norr.fits");
  dtu_copy(REAL, W "/in_prog/a/coadd-4-80613-thru20210324.fits");
  dtu_copy(REAL_RR, W "/in_prog/a/redrock-4-80613-thru20210324.fits");
  snprintf(cmd, sizeof cmd,
           "%s/rvs_desi_fit --zbest_include --objtypes BGS_ANY --config " W
           "/lib/config.yaml --output_dir " W "/out_prog --no_subdirs --process_status_file " W
           "/status_prog.txt " W "/in_prog/a/coadd-norr.fits " W
           "/in_prog/a/coadd-4-80613-thru20210324.fits 2> " W "/stderr_prog.txt",
           RVS_BINARY_DIR);
  rc = dtu_sh(cmd);
  assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
  assert_int_equal(dtu_sh("grep -q 'coadd-norr.fits FAILURE 0' " W "/status_prog.txt"), 0);
  assert_int_equal(
      dtu_sh("grep -q 'coadd-4-80613-thru20210324.fits SUCCESS 1' " W "/status_prog.txt"), 0);
  assert_int_equal(dtu_sh("grep -q 'redrock-norr.fits' " W "/stderr_prog.txt"), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(bit_tables),
    cmocka_unit_test(objtypes_names_checked),
    cmocka_unit_test(survey_from_columns),
    cmocka_unit_test(real_coadd_selection),
    cmocka_unit_test(fixture_selection),
    cmocka_unit_test(fixture_row_match),
    cmocka_unit_test(redrock_file_names),
    cmocka_unit_test(cmx_survey),
    cmocka_unit_test(zbest_include_columns),
    cmocka_unit_test(missing_or_corrupt_redrock),
    cmocka_unit_test(program_options),
};
RVS_TEST_MAIN_SETUP(tests, setup, dtu_teardown)
