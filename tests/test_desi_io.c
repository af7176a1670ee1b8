/* DESI coadd reader on the real iron coadd (values read once with astropy
 * and hard-coded here), error messages for broken files, and row copies. */
#include "rvs_test.h"

#include <fitsio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "io/atomic.h"
#include "io/desi_coadd.h"
#include "io/fits_util.h"
#include "rvs/status.h"

#define REAL RVS_SHARED_DATA_DIR "/desi/coadd-4-80613-thru20210324.fits"
#define SCRATCH RVS_TEST_SCRATCH "/test_desi_io"

static void scratch(char *buf, size_t cap, const char *name) {
  assert_int_equal(rvs_mkdir_p(SCRATCH), RVS_OK);
  snprintf(buf, cap, "%s/%s", SCRATCH, name);
  remove(buf);
}

static void assert_msg_has(const char *needle) {
  const char *m = rvs_last_error();
  if (!strstr(m, needle)) fail_msg("error message '%s' does not mention '%s'", m, needle);
}

static void real_file_arms(void **state) {
  (void)state;
  rvs_desi_coadd c;
  assert_int_equal(rvs_desi_coadd_read(REAL, "brz", 1, &c), RVS_OK);
  assert_int_equal(c.nrows, 1);
  assert_int_equal(c.nloaded, 1);
  assert_int_equal(c.narms, 3);
  /* astropy: npix, first/last wavelength, flux/ivar at pixel 1000, R[5,1000], R[4,1000] */
  static const size_t npix[3] = {2751, 2326, 2881};
  static const double w0[3] = {3600.0, 5760.0, 7520.0}, w1[3] = {5800.0, 7620.0, 9824.0};
  static const double f0[3] = {1.7408053874969482, 1.468833327293396, 1.1198451519012451};
  static const double f1000[3] = {1.985836386680603, 0.9250218272209167, 0.7555096745491028};
  static const double i1000[3] = {5.1742377281188965, 48.73033905029297, 94.19950866699219};
  static const double r5[3] = {0.4422977566719055, 0.4853719174861908, 0.419733464717865};
  static const double r4[3] = {0.24041420221328735, 0.23749302327632904, 0.23701240122318268};
  static const double flast[3] = {-0.29967397451400757, 0.6206808686256409, 0.5647324323654175};
  for (int a = 0; a < 3; a++) {
    const rvs_desi_arm *A = &c.arms[a];
    assert_int_equal(A->name, "brz"[a]);
    assert_int_equal(A->npix, npix[a]);
    assert_int_equal(A->ndiag, 11);
    assert_close_abs(A->wave[0], w0[a], 1e-9);
    assert_close_abs(A->wave[A->npix - 1], w1[a], 1e-6);
    for (size_t j = 1; j < A->npix; j++) assert_close_abs(A->wave[j] - A->wave[j - 1], 0.8, 1e-9);
    /* float32 data converted from big-endian: exact values */
    assert_true(A->flux[0] == (float)f0[a]);
    assert_true(A->flux[1000] == (float)f1000[a]);
    assert_true(A->flux[A->npix - 1] == (float)flast[a]);
    assert_true(A->ivar[1000] == (float)i1000[a]);
    for (size_t j = 0; j < A->npix; j++) assert_int_equal(A->mask[j], 0);
    assert_true(A->resolution[5 * A->npix + 1000] == (float)r5[a]);
    assert_true(A->resolution[4 * A->npix + 1000] == (float)r4[a]);
  }
  rvs_desi_coadd_free(&c);
}

static void real_file_tables(void **state) {
  (void)state;
  rvs_desi_coadd c;
  assert_int_equal(rvs_desi_coadd_open(REAL, "BRZ", &c), RVS_OK);
  assert_null(c.arms[0].flux); /* open reads no pixels */
  assert_int_equal(c.targetid[0], 39633345008634465LL);
  assert_int_equal(c.brickid[0], 607466);
  assert_string_equal(c.objtype[0], "TGT");
  assert_string_equal(c.fiberstatus_col, "COADD_FIBERSTATUS");
  assert_int_equal(c.fiberstatus[0], 0);
  assert_close_abs(c.target_ra[0], 105.48977452498902, 1e-12);
  assert_close_abs(c.target_dec[0], 56.669300058331935, 1e-12);
  assert_int_equal(c.ref_id[0], 0);
  assert_string_equal(c.ref_cat[0], "");
  assert_int_equal(c.fiber[0], 2233);
  assert_null(c.expid);
  /* SV1 tile: SV1_{DESI,BGS,MWS,SCND}_TARGET then DESI/BGS/MWS_TARGET */
  assert_int_equal(c.ntargetcols, 7);
  static const char *names[7] = {"SV1_DESI_TARGET", "SV1_BGS_TARGET", "SV1_MWS_TARGET",
                                 "SV1_SCND_TARGET", "DESI_TARGET",    "BGS_TARGET",
                                 "MWS_TARGET"};
  static const int64_t vals[7] = {1152921504606846976LL, 4112, 0, 0, 0, 0, 0};
  for (int k = 0; k < 7; k++) {
    assert_string_equal(c.targetcols[k].name, names[k]);
    assert_int_equal(c.targetcols[k].bits[0], vals[k]);
  }
  assert_true(c.has_scores);
  assert_true(c.has_exp_fibermap);
  assert_string_equal(c.sn_family, "MEDIAN_COADD_SNR");
  assert_true(c.sn[0][0] == 3.9446366f);
  assert_true(c.sn[1][0] == 6.98149f);
  assert_true(c.sn[2][0] == 6.8925385f);
  /* SPGRP SPGRPVAL TILEID SPECTRO PETAL NIGHT present; EXPID/HPX* absent */
  assert_int_equal(c.nprimcards, 6);
  int found = 0;
  for (int k = 0; k < c.nprimcards; k++)
    if (strncmp(c.primcards[k], "TILEID  =", 9) == 0) {
      found = 1;
      assert_int_equal(atol(c.primcards[k] + 10), 80613);
    }
  assert_true(found);
  rvs_desi_coadd_free(&c);
}

/* Upstream applies R as DIA matrix: data[k][j] at (j - 5 + k, j).  With that
 * convention the real file's rows (the LSF at an output pixel) sum to 1 far
 * better than its columns: evidence the convention is the right one. */
static void real_file_resolution_convention(void **state) {
  (void)state;
  rvs_desi_coadd c;
  assert_int_equal(rvs_desi_coadd_read(REAL, "brz", 1, &c), RVS_OK);
  for (int a = 0; a < 3; a++) {
    const rvs_desi_arm *A = &c.arms[a];
    size_t n = A->npix;
    double *rows = calloc(n, sizeof *rows), maxrow = 0, maxcol = 0;
    assert_non_null(rows);
    for (int k = 0; k < 11; k++)
      for (size_t j = 0; j < n; j++) {
        long i = (long)j - 5 + k;
        if (i >= 0 && i < (long)n) rows[i] += A->resolution[(size_t)k * n + j];
      }
    for (size_t j = 5; j + 5 < n; j++) {
      double col = 0;
      for (int k = 0; k < 11; k++) col += A->resolution[(size_t)k * n + j];
      if (fabs(rows[j] - 1) > maxrow) maxrow = fabs(rows[j] - 1);
      if (fabs(col - 1) > maxcol) maxcol = fabs(col - 1);
    }
    assert_true(maxrow < 0.08);
    assert_true(maxcol > 0.09);
    assert_true(maxrow < 0.7 * maxcol);
    free(rows);
  }
  rvs_desi_coadd_free(&c);
}

static void real_file_one_arm_rows(void **state) {
  (void)state;
  rvs_desi_coadd all, z;
  assert_int_equal(rvs_desi_coadd_read(REAL, "brz", 1, &all), RVS_OK);
  assert_int_equal(rvs_desi_coadd_open(REAL, "z", &z), RVS_OK);
  assert_int_equal(z.narms, 1);
  assert_int_equal(rvs_desi_coadd_arm_index(&z, 'Z'), 0);
  assert_int_equal(rvs_desi_coadd_arm_index(&z, 'b'), -1);
  size_t rows[2] = {0, 0};
  assert_int_equal(rvs_desi_coadd_load_arms(&z, rows, 2, 0), RVS_OK);
  assert_null(z.arms[0].resolution);
  size_t n = z.arms[0].npix;
  for (int r = 0; r < 2; r++) {
    assert_memory_equal(z.arms[0].flux + r * n, all.arms[2].flux, n * sizeof(float));
    assert_memory_equal(z.arms[0].ivar + r * n, all.arms[2].ivar, n * sizeof(float));
  }
  size_t bad = 1;
  assert_int_equal(rvs_desi_coadd_load_arms(&z, &bad, 1, 0), RVS_ERR_ARG);
  assert_msg_has("row 1 out of range");
  rvs_desi_coadd_free(&z);
  rvs_desi_coadd_free(&all);
}

static void missing_file(void **state) {
  (void)state;
  rvs_desi_coadd c;
  const char *p = SCRATCH "/does-not-exist.fits";
  assert_int_equal(rvs_desi_coadd_read(p, "brz", 1, &c), RVS_ERR_IO);
  assert_msg_has(p);
  rvs_desi_coadd_free(&c); /* safe on a failed read */
  assert_int_equal(rvs_desi_coadd_open(REAL, "bx", &c), RVS_ERR_ARG);
  assert_msg_has("'x'");
}

/* Copy REAL to `out`, leaving out HDU `skip` (may be NULL) and deleting
 * column `dropcol` of FIBERMAP (may be NULL). */
static void copy_real(const char *out, const char *skip, const char *dropcol) {
  fitsfile *in = NULL, *o = NULL;
  int fs = 0, nhdu = 0;
  fits_open_file(&in, REAL, READONLY, &fs);
  fits_create_file(&o, out, &fs);
  fits_get_num_hdus(in, &nhdu, &fs);
  for (int h = 1; h <= nhdu && !fs; h++) {
    char name[FLEN_VALUE] = "PRIMARY";
    fits_movabs_hdu(in, h, NULL, &fs);
    if (h > 1) fits_read_key(in, TSTRING, "EXTNAME", name, NULL, &fs);
    if (skip && strcmp(name, skip) == 0) continue;
    fits_copy_hdu(in, o, 0, &fs);
    if (dropcol && strcmp(name, "FIBERMAP") == 0) {
      int col = 0;
      fits_get_colnum(o, CASESEN, (char *)dropcol, &col, &fs);
      fits_delete_col(o, col, &fs);
    }
  }
  fits_close_file(o, &fs);
  fits_close_file(in, &fs);
  assert_int_equal(fs, 0);
}

static void missing_hdu(void **state) {
  (void)state;
  char p[1024];
  rvs_desi_coadd c;
  scratch(p, sizeof p, "no_b_mask.fits");
  copy_real(p, "B_MASK", NULL);
  assert_int_equal(rvs_desi_coadd_open(p, "r", &c), RVS_ERR_FORMAT);
  assert_msg_has(p);
  assert_msg_has("missing HDU B_MASK");
  scratch(p, sizeof p, "no_fibermap.fits");
  copy_real(p, "FIBERMAP", NULL);
  assert_int_equal(rvs_desi_coadd_open(p, "brz", &c), RVS_ERR_FORMAT);
  assert_msg_has("missing HDU FIBERMAP");
  /* resolution is needed only when asked for */
  scratch(p, sizeof p, "no_z_res.fits");
  copy_real(p, "Z_RESOLUTION", NULL);
  assert_int_equal(rvs_desi_coadd_read(p, "brz", 0, &c), RVS_OK);
  rvs_desi_coadd_free(&c);
  assert_int_equal(rvs_desi_coadd_read(p, "brz", 1, &c), RVS_ERR_FORMAT);
  assert_msg_has("missing HDU Z_RESOLUTION");
}

static void missing_column(void **state) {
  (void)state;
  char p[1024];
  rvs_desi_coadd c;
  scratch(p, sizeof p, "no_targetid.fits");
  copy_real(p, NULL, "TARGETID");
  assert_int_equal(rvs_desi_coadd_open(p, "brz", &c), RVS_ERR_FORMAT);
  assert_msg_has(p);
  assert_msg_has("missing column TARGETID");
}

/* The first `nbytes` bytes of REAL, written to `out`. */
static void truncate_copy(const char *out, size_t nbytes) {
  FILE *in = fopen(REAL, "rb"), *o = fopen(out, "wb");
  assert_non_null(in);
  assert_non_null(o);
  char buf[65536];
  size_t n;
  while (nbytes > 0 && (n = fread(buf, 1, nbytes < sizeof buf ? nbytes : sizeof buf, in)) > 0) {
    assert_int_equal(fwrite(buf, 1, n, o), n);
    nbytes -= n;
  }
  fclose(in);
  fclose(o);
}

static void truncated_file(void **state) {
  (void)state;
  char p[1024];
  scratch(p, sizeof p, "truncated.fits");
  struct stat st;
  assert_int_equal(stat(REAL, &st), 0);
  /* 60% of the file, not on a block boundary */
  truncate_copy(p, (size_t)st.st_size * 6 / 10 + 17);
  rvs_desi_coadd c;
  assert_int_equal(rvs_desi_coadd_read(p, "brz", 1, &c), RVS_ERR_FORMAT);
  assert_msg_has(p);
  assert_msg_has("truncated");
  /* Cut at a block boundary inside the data of Z_RESOLUTION (blocks 174-218;
   * SCORES is lost too): the headers are fine, reading the pixels fails. */
  truncate_copy(p, 200 * 2880);
  assert_int_equal(rvs_desi_coadd_read(p, "brz", 0, &c), RVS_OK); /* no resolution */
  assert_false(c.has_scores);
  rvs_desi_coadd_free(&c);
  int rc = rvs_desi_coadd_read(p, "brz", 1, &c);
  assert_true(rc == RVS_ERR_IO || rc == RVS_ERR_FORMAT);
  assert_msg_has(p);
  assert_msg_has("Z_RESOLUTION");
}

static void wrong_shape(void **state) {
  (void)state;
  char p[1024];
  scratch(p, sizeof p, "short_r_ivar.fits");
  copy_real(p, "R_IVAR", NULL);
  /* Append an R_IVAR with 100 pixels too few. */
  fitsfile *f = NULL;
  int fs = 0;
  fits_open_file(&f, p, READWRITE, &fs);
  long nx[2] = {2226, 1};
  fits_create_img(f, FLOAT_IMG, 2, nx, &fs);
  fits_write_key_str(f, "EXTNAME", "R_IVAR", NULL, &fs);
  float *z = calloc(2226, sizeof *z);
  fits_write_img(f, TFLOAT, 1, 2226, z, &fs);
  free(z);
  fits_close_file(f, &fs);
  assert_int_equal(fs, 0);
  rvs_desi_coadd c;
  assert_int_equal(rvs_desi_coadd_open(p, "brz", &c), RVS_ERR_FORMAT);
  assert_msg_has(p);
  assert_msg_has("R_IVAR: wrong shape");
}

/* Raw bytes of row `row` (1-based) of the current table. */
static unsigned char *row_bytes(fitsfile *f, long row, long *width) {
  int fs = 0;
  fits_read_key(f, TLONG, "NAXIS2", width, NULL, &fs); /* just to check access */
  fits_read_key(f, TLONG, "NAXIS1", width, NULL, &fs);
  unsigned char *b = malloc((size_t)*width);
  fits_read_tblbytes(f, row, 1, *width, b, &fs);
  assert_int_equal(fs, 0);
  return b;
}

static void copy_rows(void **state) {
  (void)state;
  char p[1024], tmp[1100];
  scratch(p, sizeof p, "copied.fits");
  fitsfile *o = NULL;
  assert_int_equal(rvs_fits_create_atomic(&o, p, tmp, sizeof tmp), RVS_OK);
  int fs = 0;
  fits_create_img(o, BYTE_IMG, 0, NULL, &fs);
  size_t rows[2] = {0, 0};
  assert_int_equal(rvs_desi_copy_rows(REAL, "FIBERMAP", rows, 2, o, p), RVS_OK);
  assert_int_equal(rvs_desi_copy_rows(REAL, "SCORES", NULL, 0, o, p), RVS_OK);
  assert_int_equal(rvs_desi_copy_rows(REAL, "EXP_FIBERMAP", (size_t[]){29, 3}, 2, o, p),
                   RVS_OK);
  assert_int_equal(rvs_desi_copy_rows(REAL, "NOPE", rows, 1, o, p), RVS_ERR_FORMAT);
  assert_msg_has("missing HDU NOPE");
  assert_int_equal(rvs_desi_copy_rows(REAL, "FIBERMAP", (size_t[]){1}, 1, o, p), RVS_ERR_ARG);
  assert_int_equal(rvs_fits_close_commit(o, tmp, p), RVS_OK);

  fitsfile *in = NULL, *cp = NULL;
  fits_open_file(&in, REAL, READONLY, &fs);
  fits_open_file(&cp, p, READONLY, &fs);
  assert_int_equal(fs, 0);
  long nrow = 0, w1 = 0, w2 = 0;
  int ncol = 0;
  /* FIBERMAP: 2 rows, both byte-identical to input row 1, same columns */
  fits_movnam_hdu(in, BINARY_TBL, "FIBERMAP", 0, &fs);
  fits_movnam_hdu(cp, BINARY_TBL, "FIBERMAP", 0, &fs);
  fits_get_num_rows(cp, &nrow, &fs);
  fits_get_num_cols(cp, &ncol, &fs);
  assert_int_equal(nrow, 2);
  assert_int_equal(ncol, 81);
  unsigned char *a = row_bytes(in, 1, &w1);
  for (long r = 1; r <= 2; r++) {
    unsigned char *b = row_bytes(cp, r, &w2);
    assert_int_equal(w1, w2);
    assert_memory_equal(a, b, (size_t)w1);
    free(b);
  }
  free(a);
  /* SCORES: empty, 42 columns */
  fits_movnam_hdu(cp, BINARY_TBL, "SCORES", 0, &fs);
  fits_get_num_rows(cp, &nrow, &fs);
  fits_get_num_cols(cp, &ncol, &fs);
  assert_int_equal(nrow, 0);
  assert_int_equal(ncol, 42);
  /* EXP_FIBERMAP: rows 30 and 4 of the input, in that order */
  fits_movnam_hdu(in, BINARY_TBL, "EXP_FIBERMAP", 0, &fs);
  fits_movnam_hdu(cp, BINARY_TBL, "EXP_FIBERMAP", 0, &fs);
  fits_get_num_rows(cp, &nrow, &fs);
  assert_int_equal(nrow, 2);
  long src[2] = {30, 4};
  for (int r = 0; r < 2; r++) {
    unsigned char *x = row_bytes(in, src[r], &w1), *y = row_bytes(cp, r + 1, &w2);
    assert_memory_equal(x, y, (size_t)w1);
    free(x);
    free(y);
  }
  int key_status = 0;
  char card[FLEN_CARD];
  fits_read_card(cp, "CHECKSUM", card, &key_status); /* stale checksums removed */
  assert_int_equal(key_status, KEY_NO_EXIST);
  fits_close_file(cp, &fs);
  fits_close_file(in, &fs);
  fits_clear_errmsg();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(real_file_arms),
    cmocka_unit_test(real_file_tables),
    cmocka_unit_test(real_file_resolution_convention),
    cmocka_unit_test(real_file_one_arm_rows),
    cmocka_unit_test(missing_file),
    cmocka_unit_test(missing_hdu),
    cmocka_unit_test(missing_column),
    cmocka_unit_test(truncated_file),
    cmocka_unit_test(wrong_shape),
    cmocka_unit_test(copy_rows),
};

RVS_TEST_MAIN(tests)
