/* Accuracy of a fit run against a simulator truth table: the numbers the
 * project's accuracy goals are stated in (ALGORITHM-independent). */
#ifndef RVS_DRIVER_ACCURACY_H
#define RVS_DRIVER_ACCURACY_H

#include <stddef.h>
#include <stdio.h>

typedef struct rvs_accuracy {
  size_t nrows;          /* RVTAB rows */
  size_t nstars;         /* rows matched to a truth star */
  size_t nused;          /* ... with truth S/N > min_sn and a finite fit */
  double med_dv;         /* median(VRAD - truth), km/s */
  double rstd_pull;      /* 1.4826*MAD of (VRAD - truth)/VRAD_ERR */
  double frac_outlier;   /* fraction with |VRAD - truth| > 20 km/s */
  double med_dteff, med_teff_err;
  double med_dlogg, med_logg_err;
  double med_dfeh, med_feh_err;
  size_t nwarn0;         /* used rows with RVS_WARN == 0 */
} rvs_accuracy;

/* Match RVTAB of `rvtab_path` to `truth_path` by TARGETID.  When `table` is
 * not NULL, print the first `nprint` star rows as a short comparison table. */
int rvs_accuracy_compute(const char *rvtab_path, const char *truth_path, double min_sn,
                         rvs_accuracy *acc, FILE *table, size_t nprint);

void rvs_accuracy_print(const rvs_accuracy *a, double min_sn, FILE *out);

/* ---- parity of two fit runs (GPU against CPU, issue 5) -------------------
 * Rows of two rvtab files are matched by TARGETID (a TARGETID that occurs k
 * times in both files pairs its occurrences in row order).  A quantity of a
 * pair is "within tolerance" when the two values are identical (two NaNs
 * included) or |A - B| < tol * ERR_A with ERR_A the *_ERR column of file A.
 * A NaN against a number fails, and so does a difference with a NaN, zero or
 * missing ERR_A.  VSINI has no error column: it passes when
 * |A - B| <= max(1e-3 |A|, 0.01 km/s). */
enum { RVS_PAR_VRAD, RVS_PAR_TEFF, RVS_PAR_LOGG, RVS_PAR_FEH, RVS_PAR_ALPHAFE, RVS_PAR_VSINI,
       RVS_PAR_N };
#define RVS_PARITY_VSINI_REL 1e-3
#define RVS_PARITY_VSINI_ABS 0.01

typedef struct rvs_parity {
  size_t na, nb;                 /* RVTAB rows of A and B */
  size_t nmatched;               /* pairs with the same TARGETID */
  size_t nonly_a, nonly_b;       /* rows without a partner */
  size_t nused;                  /* pairs with max arm S/N of A > min_sn */
  int present[RVS_PAR_N];        /* quantity compared (its column in both files) */
  size_t nok[RVS_PAR_N];         /* used pairs within tolerance, per quantity */
  size_t nall;                   /* ... for every present quantity at once */
  size_t nwarn;                  /* used pairs with identical RVS_WARN */
  double frac[RVS_PAR_N];        /* nok / nused (NaN when not present or nused == 0) */
  double frac_all, frac_warn;    /* nall / nused, nwarn / nused */
  size_t npull;                  /* pairs with a finite |dVRAD|/VRAD_ERR */
  double max_pull, med_pull;     /* max and median of |dVRAD|/VRAD_ERR_A */
} rvs_parity;

/* Names of the quantities ("VRAD", "TEFF", ...). */
extern const char *const rvs_parity_names[RVS_PAR_N];

/* Compare the RVTAB HDUs of `path_a` and `path_b`.  min_sn: only pairs with
 * max over the SN_* columns of A above it (-INFINITY: no cut, no SN_* column
 * needed).  When `list` is not NULL, print the `nlist` worst pairs to it. */
int rvs_parity_compute(const char *path_a, const char *path_b, double tol, double min_sn,
                       rvs_parity *p, FILE *list, size_t nlist);

/* Human-readable block and the one-line "PARITY key=value ..." summary. */
void rvs_parity_print(const rvs_parity *p, double tol, double min_sn, FILE *out);

/* 1 when the VRAD, every-quantity and RVS_WARN fractions are all >= 0.99
 * (and at least one pair was compared), else 0. */
int rvs_parity_pass(const rvs_parity *p);

#endif
