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

#endif
