#include "driver/accuracy.h"

#include "io/fits_util.h"
#include "rvs/status.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of the non-NaN values (a NaN error marks a bad Hessian). */
static double median(double *x, size_t n) {
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (!isnan(x[i])) x[m++] = x[i];
  n = m;
  if (n == 0) return NAN;
  qsort(x, n, sizeof(double), cmp_d);
  return (n % 2) ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* Read a numeric column as double (NaN if the column is missing). */
static int read_dcol(fitsfile *f, const char *name, long n, double *out, const char *path) {
  int fs = 0, col;
  fits_get_colnum(f, CASEINSEN, (char *)name, &col, &fs);
  if (fs) {
    fits_clear_errmsg();
    for (long i = 0; i < n; i++) out[i] = NAN;
    return RVS_OK;
  }
  double nul = NAN;
  int anynul;
  if (n) fits_read_col(f, TDOUBLE, col, 1, 1, n, &nul, out, &anynul, &fs);
  return rvs_fits_check(fs, path, name);
}

static int read_kcol(fitsfile *f, const char *name, long n, int64_t *out, const char *path) {
  int fs = 0, col;
  fits_get_colnum(f, CASEINSEN, (char *)name, &col, &fs);
  if (n) fits_read_col(f, TLONGLONG, col, 1, 1, n, NULL, out, NULL, &fs);
  return rvs_fits_check(fs, path, name);
}

#define NCOLS_T 6
int rvs_accuracy_compute(const char *rvtab_path, const char *truth_path, double min_sn,
                         rvs_accuracy *acc, FILE *table, size_t nprint) {
  memset(acc, 0, sizeof *acc);
  fitsfile *ft = NULL, *fr = NULL;
  int fs = 0, rc = RVS_OK;
  long nt = 0, nr = 0;
  fits_open_table(&fr, rvtab_path, READONLY, &fs);
  if (fs) return rvs_fits_check(fs, rvtab_path, "cannot open");
  fits_movnam_hdu(fr, BINARY_TBL, "RVTAB", 0, &fs);
  fits_get_num_rows(fr, &nr, &fs);
  if (fs) { rc = rvs_fits_check(fs, rvtab_path, "RVTAB"); fits_close_file(fr, &fs); return rc; }
  fits_open_table(&ft, truth_path, READONLY, &fs);
  if (fs) { rc = rvs_fits_check(fs, truth_path, "cannot open"); int s = 0; fits_close_file(fr, &s); return rc; }
  fits_get_num_rows(ft, &nt, &fs);
  /* truth */
  int64_t *ttid = malloc(sizeof(int64_t) * (size_t)(nt + 1));
  double *tv[NCOLS_T];
  static const char *tnames[NCOLS_T] = {"VRAD", "TEFF", "LOGG", "FEH", "SN_TARGET", "VSINI"};
  for (int k = 0; k < NCOLS_T; k++) tv[k] = malloc(sizeof(double) * (size_t)(nt + 1));
  /* fit */
  int64_t *rtid = malloc(sizeof(int64_t) * (size_t)(nr + 1)), *warn = malloc(sizeof(int64_t) * (size_t)(nr + 1));
  static const char *rnames[7] = {"VRAD", "VRAD_ERR", "TEFF", "TEFF_ERR", "LOGG", "LOGG_ERR", "FEH"};
  double *rv[8];
  for (int k = 0; k < 7; k++) rv[k] = malloc(sizeof(double) * (size_t)(nr + 1));
  rv[7] = malloc(sizeof(double) * (size_t)(nr + 1));
  double *w[8];
  for (int k = 0; k < 8; k++) w[k] = malloc(sizeof(double) * (size_t)(nr + 1));
  if (!ttid || !rtid || !warn) rc = rvs_error(RVS_ERR_NOMEM, "no memory");
  for (int k = 0; k < NCOLS_T && rc == RVS_OK; k++)
    if (!tv[k]) rc = rvs_error(RVS_ERR_NOMEM, "no memory");
  for (int k = 0; k < 8 && rc == RVS_OK; k++)
    if (!rv[k] || !w[k]) rc = rvs_error(RVS_ERR_NOMEM, "no memory");
  if (rc == RVS_OK) rc = read_kcol(ft, "TARGETID", nt, ttid, truth_path);
  /* KIND (when present): only 'star' rows count (the dead fiber has star
   * parameters in the truth but no data) */
  char *kindbuf = calloc((size_t)(nt + 1), 16);
  if (rc == RVS_OK && kindbuf) {
    int kc, ks = 0;
    fits_get_colnum(ft, CASEINSEN, "KIND", &kc, &ks);
    if (ks == 0) {
      char **kp = malloc(sizeof(char *) * (size_t)(nt + 1));
      for (long q = 0; kp && q < nt; q++) kp[q] = kindbuf + 16 * q;
      if (kp && nt) fits_read_col(ft, TSTRING, kc, 1, 1, nt, NULL, kp, NULL, &ks);
      free(kp);
      if (ks) memset(kindbuf, 0, (size_t)(nt + 1) * 16);
    }
    fits_clear_errmsg();
  }
  for (int k = 0; k < NCOLS_T && rc == RVS_OK; k++) rc = read_dcol(ft, tnames[k], nt, tv[k], truth_path);
  if (rc == RVS_OK) rc = read_kcol(fr, "TARGETID", nr, rtid, rvtab_path);
  if (rc == RVS_OK) rc = read_kcol(fr, "RVS_WARN", nr, warn, rvtab_path);
  for (int k = 0; k < 7 && rc == RVS_OK; k++) rc = read_dcol(fr, rnames[k], nr, rv[k], rvtab_path);
  if (rc == RVS_OK) rc = read_dcol(fr, "FEH_ERR", nr, rv[7], rvtab_path);
  if (rc == RVS_OK) {
    acc->nrows = (size_t)nr;
    size_t nu = 0, nout = 0, printed = 0;
    if (table)
      fprintf(table, "%20s %7s %9s %9s %7s %7s %6s %6s %6s %6s %5s\n", "TARGETID", "S/N",
              "VRAD", "truth", "ERR", "TEFF", "truth", "LOGG", "truth", "FEH", "WARN");
    for (long i = 0; i < nr; i++) {
      long j = -1;
      for (long q = 0; q < nt; q++)
        if (ttid[q] == rtid[i]) { j = q; break; }
      if (j < 0 || !isfinite(tv[0][j])) continue; /* not a star */
      if (kindbuf && kindbuf[16 * j] && strncmp(kindbuf + 16 * j, "star", 4) != 0) continue;
      acc->nstars++;
      if (table && printed < nprint) {
        fprintf(table, "%20lld %7.1f %9.2f %9.2f %7.2f %7.0f %6.0f %6.2f %6.2f %6.2f %5lld\n",
                (long long)rtid[i], tv[4][j], rv[0][i], tv[0][j], rv[1][i], rv[2][i], tv[1][j],
                rv[4][i], tv[2][j], rv[6][i], (long long)warn[i]);
        printed++;
      }
      if (!(tv[4][j] > min_sn) || !isfinite(rv[0][i]) || !isfinite(rv[1][i])) continue;
      double dv = rv[0][i] - tv[0][j];
      w[0][nu] = dv;
      w[1][nu] = dv / rv[1][i];
      w[2][nu] = rv[2][i] - tv[1][j];
      w[3][nu] = rv[3][i];
      w[4][nu] = rv[4][i] - tv[2][j];
      w[5][nu] = rv[5][i];
      w[6][nu] = rv[6][i] - tv[3][j];
      w[7][nu] = rv[7][i];
      if (fabs(dv) > 20) nout++;
      if (warn[i] == 0) acc->nwarn0++;
      nu++;
    }
    acc->nused = nu;
    if (nu) {
      acc->med_dv = median(w[0], nu);
      double mp = median(w[1], nu);
      for (size_t k = 0; k < nu; k++) w[1][k] = fabs(w[1][k] - mp);
      acc->rstd_pull = 1.4826 * median(w[1], nu);
      acc->frac_outlier = (double)nout / (double)nu;
      acc->med_dteff = median(w[2], nu);
      acc->med_teff_err = median(w[3], nu);
      acc->med_dlogg = median(w[4], nu);
      acc->med_logg_err = median(w[5], nu);
      acc->med_dfeh = median(w[6], nu);
      acc->med_feh_err = median(w[7], nu);
    }
  }
  free(ttid); free(rtid); free(warn); free(kindbuf);
  for (int k = 0; k < NCOLS_T; k++) free(tv[k]);
  for (int k = 0; k < 8; k++) { free(rv[k]); free(w[k]); }
  int s = 0;
  fits_close_file(ft, &s);
  s = 0;
  fits_close_file(fr, &s);
  return rc;
}

void rvs_accuracy_print(const rvs_accuracy *a, double min_sn, FILE *out) {
  fprintf(out, "rows %zu, stars %zu, used (S/N > %g) %zu, RVS_WARN == 0: %zu\n", a->nrows,
          a->nstars, min_sn, a->nused, a->nwarn0);
  fprintf(out, "  median dRV                 %8.3f km/s\n", a->med_dv);
  fprintf(out, "  robust std dRV/VRAD_ERR    %8.3f\n", a->rstd_pull);
  fprintf(out, "  |dRV| > 20 km/s            %8.2f %%\n", 100 * a->frac_outlier);
  fprintf(out, "  median dTeff  %8.1f K    (median error %.1f)\n", a->med_dteff, a->med_teff_err);
  fprintf(out, "  median dlogg  %8.3f      (median error %.3f)\n", a->med_dlogg, a->med_logg_err);
  fprintf(out, "  median d[Fe/H] %7.3f      (median error %.3f)\n", a->med_dfeh, a->med_feh_err);
}
