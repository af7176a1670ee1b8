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

/* ---- parity of two fit runs ----------------------------------------------- */

const char *const rvs_parity_names[RVS_PAR_N] = {"VRAD", "TEFF", "LOGG", "FEH", "ALPHAFE", "VSINI"};
static const char *const par_err[RVS_PAR_N] = {"VRAD_ERR", "TEFF_ERR", "LOGG_ERR",
                                               "FEH_ERR", "ALPHAFE_ERR", NULL};

typedef struct ptab {
  long n;
  int64_t *tid, *warn;
  double *v[RVS_PAR_N], *e[RVS_PAR_N];
  int has[RVS_PAR_N];
  double *sn; /* max over the SN_* columns (NaN when none is finite) */
  int nsn;    /* number of SN_* columns */
} ptab;

static int has_col(fitsfile *f, const char *name) {
  int fs = 0, col;
  fits_get_colnum(f, CASEINSEN, (char *)name, &col, &fs);
  if (fs) {
    fits_clear_errmsg();
    return 0;
  }
  return 1;
}

static void ptab_free(ptab *t) {
  free(t->tid);
  free(t->warn);
  free(t->sn);
  for (int k = 0; k < RVS_PAR_N; k++) {
    free(t->v[k]);
    free(t->e[k]);
  }
  memset(t, 0, sizeof *t);
}

/* Max of the SN_<arm> columns ("SN_B", "SN_R", ...), row by row. */
static int read_sn(fitsfile *f, ptab *t, const char *path) {
  int fs = 0, ncols = 0;
  for (long i = 0; i < t->n; i++) t->sn[i] = NAN;
  fits_get_num_cols(f, &ncols, &fs);
  if (fs) return rvs_fits_check(fs, path, "RVTAB columns");
  double *tmp = malloc(sizeof(double) * (size_t)(t->n + 1));
  if (!tmp) return rvs_error(RVS_ERR_NOMEM, "no memory");
  int rc = RVS_OK;
  for (int c = 1; c <= ncols && rc == RVS_OK; c++) {
    char key[16], name[FLEN_VALUE] = "";
    snprintf(key, sizeof key, "TTYPE%d", c);
    fits_read_key_str(f, key, name, NULL, &fs);
    if (fs) {
      rc = rvs_fits_check(fs, path, key);
      break;
    }
    if (strlen(name) != 4 || (name[0] != 'S' && name[0] != 's') ||
        (name[1] != 'N' && name[1] != 'n') || name[2] != '_')
      continue;
    t->nsn++;
    rc = read_dcol(f, name, t->n, tmp, path);
    for (long i = 0; rc == RVS_OK && i < t->n; i++)
      if (!isnan(tmp[i]) && (isnan(t->sn[i]) || tmp[i] > t->sn[i])) t->sn[i] = tmp[i];
  }
  free(tmp);
  return rc;
}

static int ptab_read(const char *path, int need_sn, ptab *t) {
  memset(t, 0, sizeof *t);
  fitsfile *f = NULL;
  int fs = 0, rc = RVS_OK;
  fits_open_file(&f, path, READONLY, &fs);
  if (fs) return rvs_fits_check(fs, path, "cannot open");
  fits_movnam_hdu(f, BINARY_TBL, "RVTAB", 0, &fs);
  if (fs) {
    rc = rvs_fits_check(fs, path, "no RVTAB HDU");
    goto done;
  }
  long n = 0;
  fits_get_num_rows(f, &n, &fs);
  if (fs) {
    rc = rvs_fits_check(fs, path, "RVTAB");
    goto done;
  }
  t->n = n;
  size_t m = (size_t)n + 1;
  t->tid = malloc(sizeof(int64_t) * m);
  t->warn = malloc(sizeof(int64_t) * m);
  t->sn = malloc(sizeof(double) * m);
  int ok = t->tid && t->warn && t->sn;
  for (int k = 0; k < RVS_PAR_N; k++) {
    t->v[k] = malloc(sizeof(double) * m);
    t->e[k] = malloc(sizeof(double) * m);
    ok = ok && t->v[k] && t->e[k];
  }
  if (!ok) {
    rc = rvs_error(RVS_ERR_NOMEM, "no memory");
    goto done;
  }
  if (!has_col(f, "VRAD") || !has_col(f, "VRAD_ERR")) {
    rc = rvs_error(RVS_ERR_FORMAT, "%s: RVTAB has no VRAD or VRAD_ERR column", path);
    goto done;
  }
  if ((rc = read_kcol(f, "TARGETID", n, t->tid, path))) goto done;
  if ((rc = read_kcol(f, "RVS_WARN", n, t->warn, path))) goto done;
  for (int k = 0; k < RVS_PAR_N; k++) {
    t->has[k] = has_col(f, rvs_parity_names[k]);
    if ((rc = read_dcol(f, rvs_parity_names[k], n, t->v[k], path))) goto done;
    if (par_err[k]) {
      if ((rc = read_dcol(f, par_err[k], n, t->e[k], path))) goto done;
    } else {
      for (long i = 0; i < n; i++) t->e[k][i] = NAN;
    }
  }
  if ((rc = read_sn(f, t, path))) goto done;
  if (need_sn && t->nsn == 0)
    rc = rvs_error(RVS_ERR_FORMAT, "%s: RVTAB has no SN_* column for --min_sn", path);
done:;
  int s = 0;
  fits_close_file(f, &s);
  if (rc == RVS_OK && s) rc = rvs_fits_check(s, path, "close");
  if (rc) ptab_free(t);
  return rc;
}

typedef struct tidrow {
  int64_t tid;
  long row;
} tidrow;

static int cmp_tidrow(const void *a, const void *b) {
  const tidrow *x = a, *y = b;
  if (x->tid != y->tid) return (x->tid > y->tid) - (x->tid < y->tid);
  return (x->row > y->row) - (x->row < y->row);
}

/* Sorted (TARGETID, row) pairs of a table (NULL on allocation failure). */
static tidrow *sorted_tids(const ptab *t) {
  tidrow *s = malloc(sizeof(tidrow) * (size_t)(t->n + 1));
  if (!s) return NULL;
  for (long i = 0; i < t->n; i++) {
    s[i].tid = t->tid[i];
    s[i].row = i;
  }
  qsort(s, (size_t)t->n, sizeof(tidrow), cmp_tidrow);
  return s;
}

/* Threshold of quantity k for value a (file A) and error e (file A). */
static double par_thr(int k, double a, double e, double tol) {
  if (k == RVS_PAR_VSINI) {
    double r = RVS_PARITY_VSINI_REL * fabs(a);
    return r > RVS_PARITY_VSINI_ABS ? r : RVS_PARITY_VSINI_ABS;
  }
  return tol * e;
}

/* |a - b| / thr: 0 for identical values (two NaNs included), +inf for a NaN
 * against a number or a difference with an unusable threshold.  < 1 passes. */
static double par_score(double a, double b, double thr) {
  if (a == b || (isnan(a) && isnan(b))) return 0;
  if (isnan(a) || isnan(b)) return INFINITY;
  double d = fabs(a - b);
  if (!(thr > 0) || !isfinite(thr)) return INFINITY;
  return d / thr;
}

typedef struct pairrec {
  double score; /* worst par_score over the quantities (>= 1: fails) */
  long ia, ib;
  int worst;    /* quantity index, RVS_PAR_N for RVS_WARN, -1 for none */
} pairrec;

static int cmp_pairrec(const void *a, const void *b) {
  const pairrec *x = a, *y = b;
  if (x->score != y->score) return (x->score < y->score) - (x->score > y->score);
  return (x->ia > y->ia) - (x->ia < y->ia);
}

static void print_list(FILE *out, const ptab *A, const ptab *B, const rvs_parity *p,
                       pairrec *rec, size_t nrec, size_t nlist) {
  qsort(rec, nrec, sizeof(pairrec), cmp_pairrec);
  if (nlist > nrec) nlist = nrec;
  fprintf(out, "worst %zu pairs (score = max |dX|/threshold; >= 1 fails):\n", nlist);
  fprintf(out, "%20s %9s %-8s %10s %10s %8s", "TARGETID", "score", "worst", "VRAD_A", "VRAD_B",
          "ERR_A");
  for (int k = 1; k < RVS_PAR_N; k++)
    if (p->present[k]) fprintf(out, " %9s_A %9s_B", rvs_parity_names[k], rvs_parity_names[k]);
  fprintf(out, " %6s %6s\n", "WARN_A", "WARN_B");
  for (size_t q = 0; q < nlist; q++) {
    const pairrec *r = &rec[q];
    const char *w = r->worst < 0 ? "-" : r->worst == RVS_PAR_N ? "RVS_WARN" : rvs_parity_names[r->worst];
    fprintf(out, "%20lld %9.3g %-8s %10.4f %10.4f %8.4f", (long long)A->tid[r->ia], r->score, w,
            A->v[0][r->ia], B->v[0][r->ib], A->e[0][r->ia]);
    for (int k = 1; k < RVS_PAR_N; k++)
      if (p->present[k]) fprintf(out, " %11.5g %11.5g", A->v[k][r->ia], B->v[k][r->ib]);
    fprintf(out, " %6lld %6lld\n", (long long)A->warn[r->ia], (long long)B->warn[r->ib]);
  }
}

int rvs_parity_compute(const char *path_a, const char *path_b, double tol, double min_sn,
                       rvs_parity *p, FILE *list, size_t nlist) {
  memset(p, 0, sizeof *p);
  p->max_pull = p->med_pull = p->frac_all = p->frac_warn = NAN;
  for (int k = 0; k < RVS_PAR_N; k++) p->frac[k] = NAN;
  if (!(tol > 0)) return rvs_error(RVS_ERR_ARG, "--tol must be > 0 (got %g)", tol);
  int cut = min_sn > -INFINITY;
  ptab A, B;
  int rc = ptab_read(path_a, cut, &A);
  if (rc) return rc;
  if ((rc = ptab_read(path_b, 0, &B))) {
    ptab_free(&A);
    return rc;
  }
  p->na = (size_t)A.n;
  p->nb = (size_t)B.n;
  for (int k = 0; k < RVS_PAR_N; k++) p->present[k] = A.has[k] && B.has[k];
  tidrow *sa = sorted_tids(&A), *sb = sorted_tids(&B);
  size_t nmax = (size_t)(A.n < B.n ? A.n : B.n) + 1;
  pairrec *rec = malloc(sizeof(pairrec) * nmax);
  /* pull also holds A's errors for the median below: A.n of them */
  double *pull = malloc(sizeof(double) * ((size_t)(A.n > B.n ? A.n : B.n) + 1));
  if (!sa || !sb || !rec || !pull) {
    rc = rvs_error(RVS_ERR_NOMEM, "no memory");
    goto done;
  }
  /* An error that is NaN or 0 (a parameter at the grid's edge, a bad
   * Hessian) gives no scale: use the median error of that column in A. */
  double med_err[RVS_PAR_N];
  for (int k = 0; k < RVS_PAR_N; k++) {
    med_err[k] = NAN;
    if (!p->present[k] || k == RVS_PAR_VSINI) continue;
    size_t m = 0;
    for (long q = 0; q < A.n; q++)
      if (isfinite(A.e[k][q]) && A.e[k][q] > 0) pull[m++] = A.e[k][q];
    if (m) med_err[k] = median(pull, m);
  }
  size_t i = 0, j = 0, na = (size_t)A.n, nb = (size_t)B.n;
  while (i < na && j < nb) {
    if (sa[i].tid < sb[j].tid) {
      p->nonly_a++;
      i++;
      continue;
    }
    if (sa[i].tid > sb[j].tid) {
      p->nonly_b++;
      j++;
      continue;
    }
    long ia = sa[i++].row, ib = sb[j++].row;
    p->nmatched++;
    if (cut && !(A.sn[ia] > min_sn)) continue;
    pairrec *r = &rec[p->nused++];
    r->ia = ia;
    r->ib = ib;
    r->score = 0;
    r->worst = -1;
    int all = 1;
    for (int k = 0; k < RVS_PAR_N; k++) {
      if (!p->present[k]) continue;
      double a = A.v[k][ia], b = B.v[k][ib], e = A.e[k][ia];
      if (k != RVS_PAR_VSINI && !(isfinite(e) && e > 0)) e = med_err[k];
      double s = par_score(a, b, par_thr(k, a, e, tol));
      if (s < 1) p->nok[k]++;
      else if (k != RVS_PAR_VSINI) all = 0; /* no error column: reported, not in 'every' */
      if (s > r->score) {
        r->score = s;
        r->worst = k;
      }
    }
    if (all) p->nall++;
    if (A.warn[ia] == B.warn[ib]) {
      p->nwarn++;
    } else if (r->score < 1) {
      r->score = 1;
      r->worst = RVS_PAR_N;
    }
    double a = A.v[0][ia], b = B.v[0][ib], e = A.e[0][ia];
    if (isfinite(a) && isfinite(b) && isfinite(e) && e > 0) pull[p->npull++] = fabs(a - b) / e;
  }
  p->nonly_a += na - i;
  p->nonly_b += nb - j;
  if (p->nused) {
    double n = (double)p->nused;
    for (int k = 0; k < RVS_PAR_N; k++)
      if (p->present[k]) p->frac[k] = (double)p->nok[k] / n;
    p->frac_all = (double)p->nall / n;
    p->frac_warn = (double)p->nwarn / n;
  }
  if (p->npull) {
    p->max_pull = 0;
    for (size_t q = 0; q < p->npull; q++)
      if (pull[q] > p->max_pull) p->max_pull = pull[q];
    p->med_pull = median(pull, p->npull);
  }
  if (list && nlist) print_list(list, &A, &B, p, rec, p->nused, nlist);
done:
  free(sa);
  free(sb);
  free(rec);
  free(pull);
  ptab_free(&A);
  ptab_free(&B);
  return rc;
}

/* fraction >= 0.99, in integers (no rounding at the boundary) */
static int frac_ok(size_t nok, size_t n) { return n > 0 && 100 * nok >= 99 * n; }

int rvs_parity_pass(const rvs_parity *p) {
  return frac_ok(p->nok[RVS_PAR_VRAD], p->nused) && frac_ok(p->nall, p->nused) &&
         frac_ok(p->nwarn, p->nused);
}

void rvs_parity_print(const rvs_parity *p, double tol, double min_sn, FILE *out) {
  fprintf(out, "rows A %zu, B %zu; matched by TARGETID %zu (only in A %zu, only in B %zu)\n",
          p->na, p->nb, p->nmatched, p->nonly_a, p->nonly_b);
  if (min_sn > -INFINITY)
    fprintf(out, "compared (max arm S/N of A > %g): %zu\n", min_sn, p->nused);
  else
    fprintf(out, "compared (no S/N cut): %zu\n", p->nused);
  fprintf(out, "within tolerance: |A-B| < %g * ERR_A (ERR_A NaN or 0: the column's median "
               "error; VSINI: < max(%g |A|, %g km/s), not part of 'every param'); "
               "NaN == NaN\n", tol, RVS_PARITY_VSINI_REL, RVS_PARITY_VSINI_ABS);
  for (int k = 0; k < RVS_PAR_N; k++) {
    if (p->present[k])
      fprintf(out, "  %-14s %9.4f %%  (%zu/%zu)\n", rvs_parity_names[k], 100 * p->frac[k],
              p->nok[k], p->nused);
    else
      fprintf(out, "  %-14s not in both files\n", rvs_parity_names[k]);
  }
  fprintf(out, "  %-14s %9.4f %%  (%zu/%zu)\n", "every param", 100 * p->frac_all, p->nall,
          p->nused);
  fprintf(out, "  %-14s %9.4f %%  (%zu/%zu)\n", "same RVS_WARN", 100 * p->frac_warn, p->nwarn,
          p->nused);
  fprintf(out, "  |dVRAD|/VRAD_ERR_A: max %.4g, median %.4g (%zu pairs with finite values)\n",
          p->max_pull, p->med_pull, p->npull);
  int pass = rvs_parity_pass(p);
  fprintf(out, "%s: VRAD, every-param and RVS_WARN fractions %s >= 0.99\n",
          pass ? "PASS" : "FAIL", pass ? "all" : "not all");
  fprintf(out, "PARITY na=%zu nb=%zu matched=%zu only_a=%zu only_b=%zu used=%zu tol=%g min_sn=%g",
          p->na, p->nb, p->nmatched, p->nonly_a, p->nonly_b, p->nused, tol, min_sn);
  for (int k = 0; k < RVS_PAR_N; k++) {
    char key[16];
    size_t l = 0;
    for (const char *c = rvs_parity_names[k]; *c && l + 1 < sizeof key; c++)
      key[l++] = (char)(*c - 'A' + 'a');
    key[l] = 0;
    fprintf(out, " %s=%.6f", key, p->frac[k]);
  }
  fprintf(out, " all=%.6f warn=%.6f max_pull=%.6g med_pull=%.6g pass=%d\n", p->frac_all,
          p->frac_warn, p->max_pull, p->med_pull, pass);
}
