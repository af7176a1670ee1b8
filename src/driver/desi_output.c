#include "driver/desi_output.h"

#include "io/fits_util.h"
#include "rvs/status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(what)                                                           \
  do {                                                                        \
    if (fs) {                                                                 \
      rc = rvs_fits_check(fs, path, what);                                    \
      goto fail;                                                              \
    }                                                                         \
  } while (0)

/* Primary HDU with upstream's provenance keys; copy_keys: take SPGRP... from
 * the input's primary header (model file only). */
static int write_primary(fitsfile *f, const rvs_desi_output *o, fitsfile *in, int copy_keys,
                         const char *path) {
  int fs = 0, rc = RVS_OK;
  fits_create_img(f, BYTE_IMG, 0, NULL, &fs);
  fits_write_key_str(f, "DEPNAM00", "rvspecfit-c", "Software", &fs);
  fits_write_key_str(f, "DEPVER00", o->version ? o->version : "", "Version", &fs);
  for (int i = 0; i < o->nsetups; i++) {
    char k[32];
    snprintf(k, sizeof k, "TMPLCON%d", i);
    fits_write_key_str(f, k, o->setup_name[i], "Spec arm config name", &fs);
    snprintf(k, sizeof k, "TMPLREV%d", i);
    fits_write_key_str(f, k, o->setup_revision[i] ? o->setup_revision[i] : "",
                       "Spec template revision", &fs);
    snprintf(k, sizeof k, "TMPLSVR%d", i);
    fits_write_key_str(f, k, o->version ? o->version : "", "Spec template soft version", &fs);
  }
  if (o->config_path) fits_write_key_longstr(f, "RVS_CONF", o->config_path, "", &fs);
  if (o->cmdline) fits_write_key_longstr(f, "RVS_CMD", o->cmdline, "", &fs);
  fits_write_key_longstr(f, "RR_FILE", o->rr_file ? o->rr_file : "", "Redrock redshift file", &fs);
  CHECK("cannot write the primary header");
  if (copy_keys && in) {
    static const char *keys[] = {"SPGRP", "SPGRPVAL", "TILEID", "SPECTRO", "PETAL",
                                 "NIGHT", "EXPID", "HPXPIXEL", "HPXNSIDE", "HPXNEST"};
    int hdu0;
    fits_get_hdu_num(in, &hdu0);
    fits_movabs_hdu(in, 1, NULL, &fs);
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
      char card[FLEN_CARD];
      int ks = 0;
      fits_read_card(in, keys[k], card, &ks);
      if (ks == 0) fits_write_record(f, card, &fs);
      fits_clear_errmsg();
    }
    fits_movabs_hdu(in, hdu0, NULL, &fs);
    CHECK("cannot copy primary keywords");
  }
  return RVS_OK;
fail:
  return rc;
}

/* Copy HDU `name` of the input keeping only the listed rows (0-based,
 * increasing).  keep == NULL with targetids: keep rows whose TARGETID is in
 * the list. */
static int copy_subset(fitsfile *in, fitsfile *out, const char *name, const int64_t *keep,
                       size_t nkeep, const int64_t *tids, size_t ntids, int optional,
                       const char *path) {
  int fs = 0, rc = RVS_OK;
  fits_movnam_hdu(in, BINARY_TBL, (char *)name, 0, &fs);
  if (fs == BAD_HDU_NUM && optional) {
    fits_clear_errmsg();
    return RVS_OK;
  }
  if (fs) return rvs_fits_check(fs, path, name);
  long nrows = 0;
  fits_get_num_rows(in, &nrows, &fs);
  fits_copy_hdu(in, out, 0, &fs);
  if (fs) return rvs_fits_check(fs, path, "cannot copy table");
  char *keepflag = calloc((size_t)(nrows > 0 ? nrows : 1), 1);
  long *del = malloc(sizeof(long) * (size_t)(nrows > 0 ? nrows : 1));
  int64_t *rowtid = NULL;
  if (!keepflag || !del) {
    rc = rvs_error(RVS_ERR_NOMEM, "%s: no memory", path);
    goto done;
  }
  if (keep) {
    for (size_t i = 0; i < nkeep; i++)
      if (keep[i] >= 0 && keep[i] < nrows) keepflag[keep[i]] = 1;
  } else {
    int col;
    fits_get_colnum(out, CASEINSEN, "TARGETID", &col, &fs);
    rowtid = malloc(sizeof(int64_t) * (size_t)(nrows > 0 ? nrows : 1));
    if (!rowtid) {
      rc = rvs_error(RVS_ERR_NOMEM, "%s: no memory", path);
      goto done;
    }
    if (nrows) fits_read_col(out, TLONGLONG, col, 1, 1, nrows, NULL, rowtid, NULL, &fs);
    if (fs) {
      rc = rvs_fits_check(fs, path, "cannot read TARGETID");
      goto done;
    }
    for (long r = 0; r < nrows; r++)
      for (size_t i = 0; i < ntids; i++)
        if (rowtid[r] == tids[i]) { keepflag[r] = 1; break; }
  }
  long ndel = 0;
  for (long r = 0; r < nrows; r++)
    if (!keepflag[r]) del[ndel++] = r + 1;
  if (ndel) fits_delete_rowlist(out, del, ndel, &fs);
  if (fs) rc = rvs_fits_check(fs, path, "cannot select table rows");
done:
  free(keepflag);
  free(del);
  free(rowtid);
  return rc;
}

/* DATASUM/CHECKSUM on every HDU, as upstream writes with checksum=True. */
static int checksum_all(fitsfile *f, const char *path) {
  int fs = 0, n = 0;
  fits_get_num_hdus(f, &n, &fs);
  for (int h = 1; h <= n && !fs; h++) {
    fits_movabs_hdu(f, h, NULL, &fs);
    fits_write_chksum(f, &fs);
  }
  return rvs_fits_check(fs, path, "cannot write checksums");
}

typedef struct colspec {
  char name[24];
  char form[FLEN_VALUE];
  char unit[FLEN_VALUE];
  const char *desc;
} colspec;

static const char *arm_upper(char a) {
  return a == 'b' ? "B" : a == 'r' ? "R" : a == 'z' ? "Z" : "X";
}

/* RVTAB: the fit columns, then FIBERMAP copies, S/N, SUCCESS, Redrock. */
static int write_rvtab(fitsfile *f, fitsfile *in, const rvs_desi_output *o, const char *path) {
  int fs = 0, rc = RVS_OK;
  static const char *copy_cols[] = {"FIBER", "REF_ID", "REF_CAT", "TARGET_RA", "TARGET_DEC",
                                    "TARGETID", "EXPID"};
  colspec cols[64];
  int nc = 0;
#define ADD(n, fm, u, d)                                                              \
  do {                                                                                \
    snprintf(cols[nc].name, sizeof cols[nc].name, "%s", n);                           \
    snprintf(cols[nc].form, sizeof cols[nc].form, "%s", fm);                          \
    snprintf(cols[nc].unit, sizeof cols[nc].unit, "%s", u);                           \
    cols[nc].desc = d;                                                                \
    nc++;                                                                             \
  } while (0)
  ADD("VRAD", "D", "km / s", "Radial velocity");
  ADD("VRAD_ERR", "D", "km / s", "Radial velocity error");
  ADD("VRAD_SKEW", "D", "", "Radial velocity posterior skewness");
  ADD("VRAD_KURT", "D", "", "Radial velocity posterior kurtosis");
  ADD("VSINI", "D", "km / s", "Stellar rotation velocity");
  ADD("LOGG", "D", "", "Log of surface gravity");
  ADD("LOGG_ERR", "D", "", "Log of surface gravity uncertainty");
  ADD("TEFF", "D", "K", "Effective temperature");
  ADD("TEFF_ERR", "D", "K", "Effective temperature uncertainty");
  ADD("FEH", "D", "", "[Fe/H] from template fitting");
  ADD("FEH_ERR", "D", "", "[Fe/H] uncertainty from template fitting");
  ADD("ALPHAFE", "D", "", "[alpha/Fe] from template fitting");
  ADD("ALPHAFE_ERR", "D", "", "[alpha/Fe] uncertainty from template fitting");
  ADD("CHISQ_TOT", "D", "", "Total chi-square for all arms");
  ADD("CHISQ_C_TOT", "D", "", "Total chi-square for all arms for polynomial only fit");
  ADD("NPIX_TOT", "K", "", "Total number of unmasked pixels fitted");
  static char chisq_desc[RVS_DESI_MAXARMS][2][80];
  for (int a = 0; a < o->narms; a++) {
    char n[24];
    snprintf(chisq_desc[a][0], sizeof chisq_desc[a][0], "Chi-square in the %s arm", arm_upper(o->arms[a]));
    snprintf(chisq_desc[a][1], sizeof chisq_desc[a][1],
             "Chi-square in the %s arm after fitting continuum only", arm_upper(o->arms[a]));
    snprintf(n, sizeof n, "CHISQ_%s", arm_upper(o->arms[a]));
    ADD(n, "D", "", chisq_desc[a][0]);
    snprintf(n, sizeof n, "CHISQ_C_%s", arm_upper(o->arms[a]));
    ADD(n, "D", "", chisq_desc[a][1]);
  }
  ADD("VRAD_CCF", "D", "km / s", "Initial velocity from cross-correlation");
  ADD("RVS_WARN", "K", "", "RVSpecFit warning flag");
  int nfit_cols = nc;
  /* FIBERMAP copies with the input's formats */
  int copy_in[8];
  int ncopy = 0;
  fits_movnam_hdu(in, BINARY_TBL, "FIBERMAP", 0, &fs);
  CHECK("FIBERMAP");
  for (size_t k = 0; k < sizeof copy_cols / sizeof copy_cols[0]; k++) {
    int col, s2 = 0;
    fits_get_colnum(in, CASEINSEN, (char *)copy_cols[k], &col, &s2);
    if (s2) {
      fits_clear_errmsg();
      continue;
    }
    char key[16], form[FLEN_VALUE], unit[FLEN_VALUE] = "";
    snprintf(key, sizeof key, "TFORM%d", col);
    fits_read_key_str(in, key, form, NULL, &fs);
    snprintf(key, sizeof key, "TUNIT%d", col);
    int s3 = 0;
    fits_read_key_str(in, key, unit, NULL, &s3);
    if (s3) { unit[0] = 0; fits_clear_errmsg(); }
    ADD(copy_cols[k], form, unit, NULL);
    copy_in[ncopy++] = col;
  }
  CHECK("cannot read FIBERMAP column formats");
  static char sn_desc[RVS_DESI_MAXARMS][48];
  for (int a = 0; a < o->narms; a++) {
    char n[24];
    snprintf(n, sizeof n, "SN_%s", arm_upper(o->arms[a]));
    snprintf(sn_desc[a], sizeof sn_desc[a], "Median S/N in the %s arm", arm_upper(o->arms[a]));
    ADD(n, "E", "", sn_desc[a]);
  }
  ADD("SUCCESS", "L", "", "Did we succeed or fail");
  ADD("RR_Z", "D", "", "Redrock redshift");
  ADD("RR_SPECTYPE", "16A", "", "Redrock spectype");
  ADD("RR_SUBTYPE", "32A", "", "Redrock spectroscopic subtype");
#undef ADD
  char *ttype[64], *tform[64], *tunit[64];
  for (int i = 0; i < nc; i++) {
    ttype[i] = cols[i].name;
    tform[i] = cols[i].form;
    tunit[i] = cols[i].unit;
  }
  fits_create_tbl(f, BINARY_TBL, (LONGLONG)o->nrows, nc, ttype, tform, tunit, "RVTAB", &fs);
  for (int i = 0; i < nc; i++)
    if (cols[i].desc) {
      char key[16];
      snprintf(key, sizeof key, "TCOMM%d", i + 1);
      fits_write_key_str(f, key, cols[i].desc, NULL, &fs);
    }
  CHECK("cannot create RVTAB");
  size_t n = o->nrows;
  if (n == 0) return RVS_OK;
  double *d = malloc(sizeof(double) * n);
  int64_t *k64 = malloc(sizeof(int64_t) * n);
  char *lg = malloc(n);
  char **strs = malloc(sizeof(char *) * n);
  char *strbuf = malloc(n * 72);
  if (!d || !k64 || !lg || !strs || !strbuf) {
    free(d); free(k64); free(lg); free(strs); free(strbuf);
    return rvs_error(RVS_ERR_NOMEM, "%s: no memory", path);
  }
  for (size_t i = 0; i < n; i++) strs[i] = strbuf + 72 * i;
  int c = 1;
#define DCOL(expr)                                                                  \
  do {                                                                              \
    for (size_t i = 0; i < n; i++) {                                                \
      const rvs_desi_row *r = &o->rows[i];                                          \
      d[i] = r->bad ? NAN : (expr);                                                 \
    }                                                                               \
    fits_write_col(f, TDOUBLE, c++, 1, 1, (LONGLONG)n, d, &fs);                     \
  } while (0)
  DCOL(r->vrad); DCOL(r->vrad_err); DCOL(r->vrad_skew); DCOL(r->vrad_kurt); DCOL(r->vsini);
  DCOL(r->logg); DCOL(r->logg_err); DCOL(r->teff); DCOL(r->teff_err);
  DCOL(r->feh); DCOL(r->feh_err); DCOL(r->alphafe); DCOL(r->alphafe_err);
  DCOL(r->chisq_tot); DCOL(r->chisq_c_tot);
  for (size_t i = 0; i < n; i++) k64[i] = o->rows[i].bad ? 0 : o->rows[i].npix_tot;
  fits_write_col(f, TLONGLONG, c++, 1, 1, (LONGLONG)n, k64, &fs);
  for (int a = 0; a < o->narms; a++) {
    DCOL(r->chisq[a]);
    DCOL(r->chisq_c[a]);
  }
  DCOL(r->vrad_ccf);
  for (size_t i = 0; i < n; i++) k64[i] = o->rows[i].rvs_warn;
  fits_write_col(f, TLONGLONG, c++, 1, 1, (LONGLONG)n, k64, &fs);
#undef DCOL
  if (c != nfit_cols + 1) fs = BAD_COL_NUM;
  CHECK("cannot write RVTAB fit columns");
  /* FIBERMAP copies: read each row's value from the input */
  for (int k = 0; k < ncopy; k++, c++) {
    int typecode;
    long repeat, width;
    fits_get_coltype(in, copy_in[k], &typecode, &repeat, &width, &fs);
    for (size_t i = 0; i < n && !fs; i++) {
      LONGLONG row = (LONGLONG)o->rows[i].fibermap_row + 1;
      if (typecode == TSTRING) {
        fits_read_col(in, TSTRING, copy_in[k], row, 1, 1, NULL, &strs[i], NULL, &fs);
      } else if (typecode == TFLOAT || typecode == TDOUBLE) {
        fits_read_col(in, TDOUBLE, copy_in[k], row, 1, 1, NULL, &d[i], NULL, &fs);
      } else {
        long long v = 0;
        fits_read_col(in, TLONGLONG, copy_in[k], row, 1, 1, NULL, &v, NULL, &fs);
        k64[i] = v;
      }
    }
    if (typecode == TSTRING) fits_write_col(f, TSTRING, c, 1, 1, (LONGLONG)n, strs, &fs);
    else if (typecode == TFLOAT || typecode == TDOUBLE) fits_write_col(f, TDOUBLE, c, 1, 1, (LONGLONG)n, d, &fs);
    else fits_write_col(f, TLONGLONG, c, 1, 1, (LONGLONG)n, k64, &fs);
  }
  CHECK("cannot copy FIBERMAP columns");
  for (int a = 0; a < o->narms; a++, c++) {
    for (size_t i = 0; i < n; i++) d[i] = o->rows[i].sn[a];
    fits_write_col(f, TDOUBLE, c, 1, 1, (LONGLONG)n, d, &fs);
  }
  for (size_t i = 0; i < n; i++) lg[i] = o->rows[i].rvs_warn == 0;
  fits_write_col(f, TLOGICAL, c++, 1, 1, (LONGLONG)n, lg, &fs);
  for (size_t i = 0; i < n; i++) d[i] = o->rows[i].rr_z;
  fits_write_col(f, TDOUBLE, c++, 1, 1, (LONGLONG)n, d, &fs);
  for (size_t i = 0; i < n; i++) snprintf(strs[i], 72, "%s", o->rows[i].rr_spectype);
  fits_write_col(f, TSTRING, c++, 1, 1, (LONGLONG)n, strs, &fs);
  for (size_t i = 0; i < n; i++) snprintf(strs[i], 72, "%s", o->rows[i].rr_subtype);
  fits_write_col(f, TSTRING, c++, 1, 1, (LONGLONG)n, strs, &fs);
  free(d); free(k64); free(lg); free(strs); free(strbuf);
  CHECK("cannot write RVTAB");
  return RVS_OK;
fail:
  return rc;
}

int rvs_desi_write_outputs(const rvs_desi_output *o) {
  const char *path = o->input_path;
  int fs = 0, rc = RVS_OK;
  fitsfile *in = NULL, *tab = NULL, *mod = NULL;
  char tmp_tab[4200] = "", tmp_mod[4200] = "";
  int64_t *rows = malloc(sizeof(int64_t) * (o->nrows ? o->nrows : 1));
  int64_t *tids = malloc(sizeof(int64_t) * (o->nrows ? o->nrows : 1));
  if (!rows || !tids) {
    free(rows); free(tids);
    return rvs_error(RVS_ERR_NOMEM, "%s: no memory", path);
  }
  for (size_t i = 0; i < o->nrows; i++) rows[i] = o->rows[i].fibermap_row;
  fits_open_file(&in, o->input_path, READONLY, &fs);
  if (fs) {
    rc = rvs_fits_check(fs, path, "cannot open");
    in = NULL;
    goto fail;
  }
  /* TARGETIDs of the selected rows (for EXP_FIBERMAP) */
  {
    int col;
    fits_movnam_hdu(in, BINARY_TBL, "FIBERMAP", 0, &fs);
    fits_get_colnum(in, CASEINSEN, "TARGETID", &col, &fs);
    for (size_t i = 0; i < o->nrows && !fs; i++)
      fits_read_col(in, TLONGLONG, col, (LONGLONG)rows[i] + 1, 1, 1, NULL, &tids[i], NULL, &fs);
    CHECK("cannot read FIBERMAP TARGETID");
  }
  /* table file */
  if ((rc = rvs_fits_create_atomic(&tab, o->tab_path, tmp_tab, sizeof tmp_tab))) { tab = NULL; goto fail; }
  if ((rc = write_primary(tab, o, in, 0, o->tab_path))) goto fail;
  if ((rc = write_rvtab(tab, in, o, o->tab_path))) goto fail;
  if ((rc = copy_subset(in, tab, "FIBERMAP", rows, o->nrows, NULL, 0, 0, path))) goto fail;
  if ((rc = copy_subset(in, tab, "SCORES", rows, o->nrows, NULL, 0, 0, path))) goto fail;
  if ((rc = copy_subset(in, tab, "EXP_FIBERMAP", NULL, 0, tids, o->nrows, 1, path))) goto fail;
  if ((rc = checksum_all(tab, o->tab_path))) goto fail;
  /* model file */
  if ((rc = rvs_fits_create_atomic(&mod, o->mod_path, tmp_mod, sizeof tmp_mod))) { mod = NULL; goto fail; }
  if ((rc = write_primary(mod, o, in, 1, o->mod_path))) goto fail;
  for (int a = 0; a < o->narms; a++) {
    char name[32];
    long nax1[1] = {(long)o->npix[a]};
    snprintf(name, sizeof name, "%s_WAVELENGTH", arm_upper(o->arms[a]));
    fits_create_img(mod, DOUBLE_IMG, 1, nax1, &fs);
    fits_write_key_str(mod, "EXTNAME", name, NULL, &fs);
    fits_write_img(mod, TDOUBLE, 1, (LONGLONG)o->npix[a], (void *)o->wave[a], &fs);
    long nax2[2] = {(long)o->npix[a], (long)o->ngood};
    snprintf(name, sizeof name, "%s_MODEL", arm_upper(o->arms[a]));
    fits_create_img(mod, FLOAT_IMG, 2, nax2, &fs);
    fits_write_key_str(mod, "EXTNAME", name, NULL, &fs);
    if (o->ngood)
      fits_write_img(mod, TFLOAT, 1, (LONGLONG)(o->npix[a] * o->ngood), (void *)o->models[a], &fs);
  }
  if (fs) {
    rc = rvs_fits_check(fs, o->mod_path, "cannot write models");
    goto fail;
  }
  if ((rc = copy_subset(in, mod, "FIBERMAP", rows, o->nrows, NULL, 0, 0, path))) goto fail;
  if ((rc = checksum_all(mod, o->mod_path))) goto fail;
  fits_close_file(in, &fs);
  in = NULL;
  /* commit both only when both are complete */
  if ((rc = rvs_fits_close_commit(tab, tmp_tab, o->tab_path))) {
    tab = NULL;
    goto fail;
  }
  tab = NULL;
  if ((rc = rvs_fits_close_commit(mod, tmp_mod, o->mod_path))) {
    mod = NULL;
    remove(o->tab_path);
    goto fail;
  }
  free(rows);
  free(tids);
  return RVS_OK;
fail:
  if (in) { int s = 0; fits_close_file(in, &s); }
  if (tab) rvs_fits_close_abort(tab, tmp_tab);
  if (mod) rvs_fits_close_abort(mod, tmp_mod);
  free(rows);
  free(tids);
  return rc;
}

int rvs_desi_write_bare(const char *tab_path, const char *mod_path) {
  const char *paths[2] = {tab_path, mod_path};
  for (int k = 0; k < 2; k++) {
    fitsfile *f;
    char tmp[4200];
    int rc = rvs_fits_create_atomic(&f, paths[k], tmp, sizeof tmp);
    if (rc) return rc;
    int fs = 0;
    fits_create_img(f, BYTE_IMG, 0, NULL, &fs);
    if (fs) {
      rvs_fits_close_abort(f, tmp);
      return rvs_fits_check(fs, paths[k], "cannot write");
    }
    if ((rc = rvs_fits_close_commit(f, tmp, paths[k]))) return rc;
  }
  return RVS_OK;
}
