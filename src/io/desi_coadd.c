#include "io/desi_coadd.h"

#include "io/fits_util.h"
#include "rvs/status.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

_Static_assert(sizeof(int) == sizeof(int32_t), "cfitsio TINT must be 32-bit");

static const char ARM_UPPER[3] = {'B', 'R', 'Z'};

static void free_strings(char **s) {
  if (s) free(s[0]);
  free(s);
}

static void unload_arms(rvs_desi_coadd *c) {
  for (int a = 0; a < 3; a++) {
    rvs_desi_arm *arm = &c->arms[a];
    free(arm->flux);
    free(arm->ivar);
    free(arm->mask);
    free(arm->resolution);
    arm->flux = arm->ivar = NULL;
    arm->mask = NULL;
    arm->resolution = NULL;
    arm->ndiag = 0;
  }
  free(c->loaded_rows);
  c->loaded_rows = NULL;
  c->nloaded = 0;
}

void rvs_desi_coadd_free(rvs_desi_coadd *c) {
  if (!c) return;
  unload_arms(c);
  for (int a = 0; a < 3; a++) {
    free(c->arms[a].wave);
    free(c->sn[a]);
  }
  free(c->path);
  free(c->targetid);
  free(c->brickid);
  free_strings(c->objtype);
  free(c->fiberstatus);
  free(c->target_ra);
  free(c->target_dec);
  free(c->ref_id);
  free_strings(c->ref_cat);
  free(c->fiber);
  free(c->expid);
  for (int k = 0; k < c->ntargetcols; k++) free(c->targetcols[k].bits);
  memset(c, 0, sizeof *c);
}

int rvs_desi_coadd_arm_index(const rvs_desi_coadd *c, char arm) {
  char l = (char)tolower((unsigned char)arm);
  for (int a = 0; a < c->narms; a++)
    if (c->arms[a].name == l) return a;
  return -1;
}

/* Move to HDU `extname`; a missing HDU is a format error naming both. */
static int move_to(fitsfile *f, const char *path, const char *extname) {
  int fs = 0;
  fits_movnam_hdu(f, ANY_HDU, (char *)extname, 0, &fs);
  if (fs == BAD_HDU_NUM) {
    fits_clear_errmsg();
    return rvs_error(RVS_ERR_FORMAT, "%s: missing HDU %s", path, extname);
  }
  if (fs) {
    char what[96];
    snprintf(what, sizeof what, "cannot move to HDU %s", extname);
    return rvs_fits_check(fs, path, what);
  }
  return RVS_OK;
}

/* Image dimensions of the current HDU, in FITS order (naxes[0] fastest). */
static int image_dims(fitsfile *f, const char *path, const char *extname, int *naxis,
                      long naxes[3]) {
  int fs = 0, hdutype = 0;
  fits_get_hdu_type(f, &hdutype, &fs);
  if (!fs && hdutype != IMAGE_HDU)
    return rvs_error(RVS_ERR_FORMAT, "%s: HDU %s is not an image", path, extname);
  naxes[0] = naxes[1] = naxes[2] = 1;
  fits_get_img_dim(f, naxis, &fs);
  if (!fs && (*naxis < 1 || *naxis > 3))
    return rvs_error(RVS_ERR_FORMAT, "%s: HDU %s: wrong shape (NAXIS=%d)", path, extname,
                     *naxis);
  fits_get_img_size(f, 3, naxes, &fs);
  return rvs_fits_check(fs, path, extname);
}

/* Check that the 2-D image `extname` is [nrows][npix] (a 1-D image is
 * accepted for a single row). */
static int check_2d(fitsfile *f, const char *path, const char *extname, size_t nrows,
                    size_t npix) {
  int rc = move_to(f, path, extname);
  if (rc) return rc;
  int naxis = 0;
  long nx[3];
  if ((rc = image_dims(f, path, extname, &naxis, nx))) return rc;
  int ok = (naxis == 2 && (size_t)nx[0] == npix && (size_t)nx[1] == nrows) ||
           (naxis == 1 && nrows == 1 && (size_t)nx[0] == npix);
  if (!ok)
    return rvs_error(RVS_ERR_FORMAT,
                     "%s: HDU %s: wrong shape (NAXIS=%d, %ld x %ld), expected %zu x %zu "
                     "(spectra x pixels)",
                     path, extname, naxis, nx[1], nx[0], nrows, npix);
  return RVS_OK;
}

static int find_col(fitsfile *f, const char *name, int *col) {
  int fs = 0;
  fits_get_colnum(f, CASESEN, (char *)name, col, &fs);
  if (fs) {
    fits_clear_errmsg();
    *col = 0;
    return 0;
  }
  return 1;
}

/* Read a numeric column converted to `datatype` (TLONGLONG, TDOUBLE, TFLOAT;
 * elements of `elsize` bytes).  Missing: *out NULL (or an error if required). */
static int read_col_num(fitsfile *f, const char *path, const char *hdu, const char *name,
                        size_t n, int required, int datatype, size_t elsize, void **out) {
  int col;
  *out = NULL;
  if (!find_col(f, name, &col)) {
    if (required)
      return rvs_error(RVS_ERR_FORMAT, "%s: HDU %s: missing column %s", path, hdu, name);
    return RVS_OK;
  }
  void *v = malloc((n ? n : 1) * elsize);
  if (!v) return rvs_error(RVS_ERR_NOMEM, "%s: out of memory reading %s", path, name);
  int fs = 0;
  if (n) fits_read_col(f, datatype, col, 1, 1, (LONGLONG)n, NULL, v, NULL, &fs);
  if (fs) {
    free(v);
    char what[96];
    snprintf(what, sizeof what, "HDU %s: cannot read column %s", hdu, name);
    return rvs_fits_check(fs, path, what);
  }
  *out = v;
  return RVS_OK;
}

static int read_col_i64(fitsfile *f, const char *path, const char *hdu, const char *name,
                        size_t n, int required, int64_t **out) {
  void *v = NULL;
  int rc = read_col_num(f, path, hdu, name, n, required, TLONGLONG, sizeof(int64_t), &v);
  *out = v;
  return rc;
}

static int read_col_f64(fitsfile *f, const char *path, const char *hdu, const char *name,
                        size_t n, double **out) {
  void *v = NULL;
  int rc = read_col_num(f, path, hdu, name, n, 0, TDOUBLE, sizeof(double), &v);
  *out = v;
  return rc;
}

static int read_col_f32(fitsfile *f, const char *path, const char *hdu, const char *name,
                        size_t n, float **out) {
  void *v = NULL;
  int rc = read_col_num(f, path, hdu, name, n, 0, TFLOAT, sizeof(float), &v);
  *out = v;
  return rc;
}

/* String column as n pointers into one buffer (trailing blanks removed by
 * cfitsio).  A missing column gives n empty strings. */
static int read_col_str(fitsfile *f, const char *path, const char *hdu, const char *name,
                        size_t n, char ***out) {
  int col, fs = 0;
  long width = 0;
  *out = NULL;
  int present = find_col(f, name, &col);
  if (present) {
    int typecode;
    long repeat;
    fits_get_coltype(f, col, &typecode, &repeat, &width, &fs);
    if (fs) return rvs_fits_check(fs, path, name);
    if (typecode != TSTRING)
      return rvs_error(RVS_ERR_FORMAT, "%s: HDU %s: column %s is not a string column", path,
                       hdu, name);
    width = repeat;
  }
  size_t stride = (size_t)width + 1;
  size_t nn = n ? n : 1;
  char **s = malloc(nn * sizeof *s);
  char *buf = calloc(nn * stride, 1);
  if (!s || !buf) {
    free(s);
    free(buf);
    return rvs_error(RVS_ERR_NOMEM, "%s: out of memory reading %s", path, name);
  }
  for (size_t i = 0; i < nn; i++) s[i] = buf + i * stride;
  if (present && n) {
    fits_read_col(f, TSTRING, col, 1, 1, (LONGLONG)n, NULL, s, NULL, &fs);
    if (fs) {
      free_strings(s);
      char what[96];
      snprintf(what, sizeof what, "HDU %s: cannot read column %s", hdu, name);
      return rvs_fits_check(fs, path, what);
    }
  }
  *out = s;
  return RVS_OK;
}

/* DESI_TARGET, BGS_TARGET, MWS_TARGET, SCND_TARGET with an optional SVn_
 * prefix, and CMX_TARGET: the columns desitarget's main_cmx_or_sv looks at. */
static int is_target_column(const char *name) {
  if (strcmp(name, "CMX_TARGET") == 0) return 1;
  const char *base = name;
  if (strncmp(name, "SV", 2) == 0 && isdigit((unsigned char)name[2]) && name[3] == '_')
    base = name + 4;
  return strcmp(base, "DESI_TARGET") == 0 || strcmp(base, "BGS_TARGET") == 0 ||
         strcmp(base, "MWS_TARGET") == 0 || strcmp(base, "SCND_TARGET") == 0;
}

static int read_fibermap(fitsfile *f, rvs_desi_coadd *c) {
  const char *path = c->path, *H = "FIBERMAP";
  int rc = move_to(f, path, H);
  if (rc) return rc;
  int fs = 0, hdutype = 0, ncols = 0;
  long nrows = 0;
  fits_get_hdu_type(f, &hdutype, &fs);
  if (!fs && hdutype != BINARY_TBL)
    return rvs_error(RVS_ERR_FORMAT, "%s: HDU FIBERMAP is not a binary table", path);
  fits_get_num_rows(f, &nrows, &fs);
  fits_get_num_cols(f, &ncols, &fs);
  if ((rc = rvs_fits_check(fs, path, "FIBERMAP"))) return rc;
  size_t n = (size_t)nrows;
  c->nrows = n;
  if ((rc = read_col_i64(f, path, H, "TARGETID", n, 1, &c->targetid))) return rc;
  if ((rc = read_col_i64(f, path, H, "BRICKID", n, 1, &c->brickid))) return rc;
  if ((rc = read_col_str(f, path, H, "OBJTYPE", n, &c->objtype))) return rc;
  if ((rc = read_col_i64(f, path, H, "FIBERSTATUS", n, 0, &c->fiberstatus))) return rc;
  if (c->fiberstatus) {
    strcpy(c->fiberstatus_col, "FIBERSTATUS");
  } else {
    if ((rc = read_col_i64(f, path, H, "COADD_FIBERSTATUS", n, 0, &c->fiberstatus)))
      return rc;
    if (c->fiberstatus) strcpy(c->fiberstatus_col, "COADD_FIBERSTATUS");
  }
  if ((rc = read_col_f64(f, path, H, "TARGET_RA", n, &c->target_ra))) return rc;
  if ((rc = read_col_f64(f, path, H, "TARGET_DEC", n, &c->target_dec))) return rc;
  if ((rc = read_col_i64(f, path, H, "REF_ID", n, 0, &c->ref_id))) return rc;
  if ((rc = read_col_str(f, path, H, "REF_CAT", n, &c->ref_cat))) return rc;
  if ((rc = read_col_i64(f, path, H, "FIBER", n, 0, &c->fiber))) return rc;
  if ((rc = read_col_i64(f, path, H, "EXPID", n, 0, &c->expid))) return rc;

  for (int col = 1; col <= ncols; col++) {
    char key[FLEN_KEYWORD], name[FLEN_VALUE];
    snprintf(key, sizeof key, "TTYPE%d", col);
    fs = 0;
    fits_read_key(f, TSTRING, key, name, NULL, &fs);
    if (fs) return rvs_fits_check(fs, path, "FIBERMAP: cannot read column names");
    if (!is_target_column(name)) continue;
    if (c->ntargetcols == RVS_DESI_MAX_TARGETCOLS) break;
    rvs_desi_targetcol *tc = &c->targetcols[c->ntargetcols];
    snprintf(tc->name, sizeof tc->name, "%s", name);
    if ((rc = read_col_i64(f, path, H, name, n, 1, &tc->bits))) return rc;
    c->ntargetcols++;
  }
  return RVS_OK;
}

static int read_scores(fitsfile *f, rvs_desi_coadd *c) {
  int fs = 0;
  fits_movnam_hdu(f, BINARY_TBL, "SCORES", 0, &fs);
  if (fs) {
    fits_clear_errmsg();
    return RVS_OK;
  }
  c->has_scores = 1;
  long nrows = 0;
  fits_get_num_rows(f, &nrows, &fs);
  int rc = rvs_fits_check(fs, c->path, "SCORES");
  if (rc) return rc;
  if ((size_t)nrows != c->nrows)
    return rvs_error(RVS_ERR_FORMAT, "%s: SCORES has %ld rows but FIBERMAP has %zu", c->path,
                     nrows, c->nrows);
  static const char *families[] = {"MEDIAN_CALIB_SNR", "MEDIAN_COADD_SNR",
                                   "MEDIAN_COADD_FLUX_SNR"};
  if (c->narms == 0) return RVS_OK;
  for (size_t k = 0; k < sizeof families / sizeof families[0]; k++) {
    char name[48];
    int col;
    snprintf(name, sizeof name, "%s_%c", families[k], toupper((unsigned char)c->arms[0].name));
    if (!find_col(f, name, &col)) continue;
    snprintf(c->sn_family, sizeof c->sn_family, "%s", families[k]);
    for (int a = 0; a < c->narms; a++) {
      snprintf(name, sizeof name, "%s_%c", families[k], toupper((unsigned char)c->arms[a].name));
      if ((rc = read_col_f32(f, c->path, "SCORES", name, c->nrows, &c->sn[a]))) return rc;
    }
    break;
  }
  return RVS_OK;
}

static int read_primary_cards(fitsfile *f, rvs_desi_coadd *c) {
  static const char *keys[RVS_DESI_MAX_PRIMKEYS] = {
      "SPGRP", "SPGRPVAL", "TILEID", "SPECTRO", "PETAL",
      "NIGHT", "EXPID",    "HPXPIXEL", "HPXNSIDE", "HPXNEST"};
  int fs = 0;
  fits_movabs_hdu(f, 1, NULL, &fs);
  int rc = rvs_fits_check(fs, c->path, "cannot read primary header");
  if (rc) return rc;
  for (int k = 0; k < RVS_DESI_MAX_PRIMKEYS; k++) {
    fs = 0;
    fits_read_card(f, (char *)keys[k], c->primcards[c->nprimcards], &fs);
    if (fs == KEY_NO_EXIST) {
      fits_clear_errmsg();
      continue;
    }
    if ((rc = rvs_fits_check(fs, c->path, keys[k]))) return rc;
    c->nprimcards++;
  }
  return RVS_OK;
}

static int parse_arms(const char *arms, rvs_desi_coadd *c) {
  if (!arms || !*arms) arms = "brz";
  for (const char *p = arms; *p; p++) {
    char l = (char)tolower((unsigned char)*p);
    if (l != 'b' && l != 'r' && l != 'z')
      return rvs_error(RVS_ERR_ARG, "%s: unknown DESI arm '%c' (expected b, r, z)", c->path,
                       *p);
    if (rvs_desi_coadd_arm_index(c, l) >= 0) continue;
    c->arms[c->narms++].name = l;
  }
  return RVS_OK;
}

/* An uncompressed FITS file is a whole number of 2880-byte blocks; anything
 * else was cut short (cfitsio would only report a missing HDU). */
static int check_not_truncated(const char *path) {
  size_t n = strlen(path);
  if ((n > 3 && strcmp(path + n - 3, ".gz") == 0) || (n > 3 && strcmp(path + n - 3, ".fz") == 0))
    return RVS_OK;
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return RVS_OK; /* cfitsio will tell */
  if (st.st_size % 2880 != 0)
    return rvs_error(RVS_ERR_FORMAT,
                     "%s: truncated file (%lld bytes, not a multiple of the 2880-byte FITS block)",
                     path, (long long)st.st_size);
  return RVS_OK;
}

int rvs_desi_coadd_open(const char *path, const char *arms, rvs_desi_coadd *out) {
  memset(out, 0, sizeof *out);
  if (!path) return rvs_error(RVS_ERR_ARG, "rvs_desi_coadd_open: no path");
  out->path = strdup(path);
  if (!out->path) return rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
  int rc = parse_arms(arms, out);
  if (rc) {
    rvs_desi_coadd_free(out);
    return rc;
  }
  fitsfile *f = NULL;
  int fs = 0;
  fits_open_file(&f, path, READONLY, &fs);
  if (fs) {
    rc = rvs_fits_check(fs, path, "cannot open FITS file");
    rvs_desi_coadd_free(out);
    return rc;
  }
  if ((rc = check_not_truncated(path))) goto fail;
  if ((rc = read_primary_cards(f, out))) goto fail;
  if ((rc = read_fibermap(f, out))) goto fail;

  /* All three arms must be complete (upstream valid_file), even if unused. */
  for (int a = 0; a < 3; a++) {
    char ext[32];
    snprintf(ext, sizeof ext, "%c_WAVELENGTH", ARM_UPPER[a]);
    if ((rc = move_to(f, path, ext))) goto fail;
    int naxis = 0;
    long nx[3];
    if ((rc = image_dims(f, path, ext, &naxis, nx))) goto fail;
    if (naxis != 1 || nx[0] < 2) {
      rc = rvs_error(RVS_ERR_FORMAT, "%s: HDU %s: wrong shape (NAXIS=%d), expected 1-D", path,
                     ext, naxis);
      goto fail;
    }
    size_t npix = (size_t)nx[0];
    static const char *parts[] = {"FLUX", "IVAR", "MASK"};
    for (int p = 0; p < 3; p++) {
      char e2[32];
      snprintf(e2, sizeof e2, "%c_%s", ARM_UPPER[a], parts[p]);
      if ((rc = check_2d(f, path, e2, out->nrows, npix))) goto fail;
    }
    int idx = rvs_desi_coadd_arm_index(out, (char)tolower(ARM_UPPER[a]));
    if (idx < 0) continue;
    rvs_desi_arm *arm = &out->arms[idx];
    arm->npix = npix;
    arm->wave = malloc(npix * sizeof *arm->wave);
    if (!arm->wave) {
      rc = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
      goto fail;
    }
    if ((rc = move_to(f, path, ext))) goto fail;
    long fp[1] = {1};
    fits_read_pix(f, TDOUBLE, fp, (LONGLONG)npix, NULL, arm->wave, NULL, &fs);
    if ((rc = rvs_fits_check(fs, path, ext))) goto fail;
  }
  if ((rc = read_scores(f, out))) goto fail;
  fs = 0;
  fits_movnam_hdu(f, BINARY_TBL, "EXP_FIBERMAP", 0, &fs);
  out->has_exp_fibermap = fs == 0;
  fits_clear_errmsg();
  fs = 0;
  fits_close_file(f, &fs);
  fits_clear_errmsg();
  return RVS_OK;
fail:
  fs = 0;
  fits_close_file(f, &fs);
  fits_clear_errmsg();
  rvs_desi_coadd_free(out);
  return rc;
}

/* Read rows[] of an image whose rows are `rowlen` values long (2-D or 3-D,
 * slowest axis = spectrum), consecutive rows in one call. */
static int read_rows(fitsfile *f, const char *path, const char *ext, int datatype, int naxis,
                     size_t rowlen, const size_t *rows, size_t nrows, size_t elsize,
                     void *dst) {
  int fs = 0;
  size_t i = 0;
  while (i < nrows) {
    size_t run = 1;
    while (i + run < nrows && rows[i + run] == rows[i] + run) run++;
    long fp[3] = {1, 1, 1};
    fp[naxis - 1] = (long)rows[i] + 1;
    fits_read_pix(f, datatype, fp, (LONGLONG)(run * rowlen), NULL,
                  (char *)dst + i * rowlen * elsize, NULL, &fs);
    if (fs) return rvs_fits_check(fs, path, ext);
    i += run;
  }
  return RVS_OK;
}

int rvs_desi_coadd_load_arms(rvs_desi_coadd *c, const size_t *rows, size_t nrows,
                             int read_resolution) {
  unload_arms(c);
  if (!rows) nrows = c->nrows;
  size_t nn = nrows ? nrows : 1;
  c->loaded_rows = malloc(nn * sizeof *c->loaded_rows);
  if (!c->loaded_rows) return rvs_error(RVS_ERR_NOMEM, "%s: out of memory", c->path);
  for (size_t i = 0; i < nrows; i++) {
    size_t r = rows ? rows[i] : i;
    if (r >= c->nrows) {
      unload_arms(c);
      return rvs_error(RVS_ERR_ARG, "%s: row %zu out of range (%zu rows)", c->path, r,
                       c->nrows);
    }
    c->loaded_rows[i] = r;
  }
  c->nloaded = nrows;
  const size_t *rr = c->loaded_rows;

  fitsfile *f = NULL;
  int fs = 0, rc = RVS_OK;
  fits_open_file(&f, c->path, READONLY, &fs);
  if (fs) {
    rc = rvs_fits_check(fs, c->path, "cannot open FITS file");
    unload_arms(c);
    return rc;
  }
  for (int a = 0; a < c->narms && !rc; a++) {
    rvs_desi_arm *arm = &c->arms[a];
    size_t np = arm->npix, tot = nn * np;
    char U = (char)toupper((unsigned char)arm->name), ext[32];
    arm->flux = malloc(tot * sizeof *arm->flux);
    arm->ivar = malloc(tot * sizeof *arm->ivar);
    arm->mask = malloc(tot * sizeof *arm->mask);
    if (!arm->flux || !arm->ivar || !arm->mask) {
      rc = rvs_error(RVS_ERR_NOMEM, "%s: out of memory for %zu spectra", c->path, nrows);
      break;
    }
    int naxis = 0;
    long nx[3];
    snprintf(ext, sizeof ext, "%c_FLUX", U);
    if ((rc = move_to(f, c->path, ext)) || (rc = image_dims(f, c->path, ext, &naxis, nx)) ||
        (rc = read_rows(f, c->path, ext, TFLOAT, naxis, np, rr, nrows, sizeof(float),
                        arm->flux)))
      break;
    snprintf(ext, sizeof ext, "%c_IVAR", U);
    if ((rc = move_to(f, c->path, ext)) || (rc = image_dims(f, c->path, ext, &naxis, nx)) ||
        (rc = read_rows(f, c->path, ext, TFLOAT, naxis, np, rr, nrows, sizeof(float),
                        arm->ivar)))
      break;
    snprintf(ext, sizeof ext, "%c_MASK", U);
    if ((rc = move_to(f, c->path, ext)) || (rc = image_dims(f, c->path, ext, &naxis, nx)) ||
        (rc = read_rows(f, c->path, ext, TINT, naxis, np, rr, nrows, sizeof(int32_t),
                        arm->mask)))
      break;
    if (!read_resolution) continue;
    snprintf(ext, sizeof ext, "%c_RESOLUTION", U);
    if ((rc = move_to(f, c->path, ext)) || (rc = image_dims(f, c->path, ext, &naxis, nx)))
      break;
    int ok = (naxis == 3 && (size_t)nx[0] == np && nx[1] == RVS_DESI_NDIAG &&
              (size_t)nx[2] == c->nrows) ||
             (naxis == 2 && c->nrows == 1 && (size_t)nx[0] == np && nx[1] == RVS_DESI_NDIAG);
    if (!ok) {
      rc = rvs_error(RVS_ERR_FORMAT,
                     "%s: HDU %s: wrong shape (NAXIS=%d, %ld x %ld x %ld), expected %zu x %d "
                     "x %zu",
                     c->path, ext, naxis, nx[2], nx[1], nx[0], c->nrows, RVS_DESI_NDIAG, np);
      break;
    }
    arm->resolution = malloc(tot * RVS_DESI_NDIAG * sizeof *arm->resolution);
    if (!arm->resolution) {
      rc = rvs_error(RVS_ERR_NOMEM, "%s: out of memory for resolution", c->path);
      break;
    }
    if ((rc = read_rows(f, c->path, ext, TFLOAT, naxis, np * RVS_DESI_NDIAG, rr, nrows,
                        sizeof(float), arm->resolution)))
      break;
    arm->ndiag = RVS_DESI_NDIAG;
  }
  fs = 0;
  fits_close_file(f, &fs);
  fits_clear_errmsg();
  if (rc) unload_arms(c);
  return rc;
}

int rvs_desi_coadd_read(const char *path, const char *arms, int read_resolution,
                        rvs_desi_coadd *out) {
  int rc = rvs_desi_coadd_open(path, arms, out);
  if (rc) return rc;
  rc = rvs_desi_coadd_load_arms(out, NULL, 0, read_resolution);
  if (rc) rvs_desi_coadd_free(out);
  return rc;
}

int rvs_desi_copy_rows(const char *in_path, const char *extname, const size_t *rows,
                       size_t nrows, fitsfile *out, const char *out_path) {
  fitsfile *in = NULL;
  int fs = 0, rc;
  fits_open_file(&in, in_path, READONLY, &fs);
  if (fs) return rvs_fits_check(fs, in_path, "cannot open FITS file");
  if ((rc = move_to(in, in_path, extname))) goto done;
  int hdutype = 0;
  long nin = 0;
  fits_get_hdu_type(in, &hdutype, &fs);
  if (!fs && hdutype != BINARY_TBL && hdutype != ASCII_TBL) {
    rc = rvs_error(RVS_ERR_FORMAT, "%s: HDU %s is not a table", in_path, extname);
    goto done;
  }
  fits_get_num_rows(in, &nin, &fs);
  if ((rc = rvs_fits_check(fs, in_path, extname))) goto done;
  for (size_t i = 0; i < nrows; i++)
    if (rows[i] >= (size_t)nin) {
      rc = rvs_error(RVS_ERR_ARG, "%s: HDU %s: row %zu out of range (%ld rows)", in_path,
                     extname, rows[i], nin);
      goto done;
    }
  /* Same header with zero rows, then append the chosen rows. */
  fits_copy_header(in, out, &fs);
  fits_modify_key_lng(out, "NAXIS2", 0, "&", &fs);
  fits_set_hdustruc(out, &fs);
  if ((rc = rvs_fits_check(fs, out_path, "cannot copy table header"))) goto done;
  /* Checksums of the input describe other data. */
  static const char *stale[] = {"CHECKSUM", "DATASUM"};
  for (int k = 0; k < 2; k++) {
    fits_delete_key(out, (char *)stale[k], &fs);
    if (fs == KEY_NO_EXIST) {
      fs = 0;
      fits_clear_errmsg();
    }
  }
  if ((rc = rvs_fits_check(fs, out_path, "cannot update table header"))) goto done;
  size_t i = 0;
  while (i < nrows) {
    size_t run = 1;
    while (i + run < nrows && rows[i + run] == rows[i] + run) run++;
    fits_copy_rows(in, out, (LONGLONG)rows[i] + 1, (LONGLONG)run, &fs);
    if (fs) {
      char what[96];
      snprintf(what, sizeof what, "cannot copy rows of %s", extname);
      rc = rvs_fits_check(fs, out_path, what);
      goto done;
    }
    i += run;
  }
  rc = RVS_OK;
done:
  fs = 0;
  fits_close_file(in, &fs);
  fits_clear_errmsg();
  return rc;
}
