/* rvtab_*.fits and rvmod_*.fits, upstream rvspecfit's DESI outputs
 * (ALGORITHM.md §5.7), written under a temporary name and renamed. */
#ifndef RVS_DRIVER_DESI_OUTPUT_H
#define RVS_DRIVER_DESI_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#define RVS_DESI_MAXARMS 3

/* One RVTAB row.  bad != 0 (BAD_SPECTRUM): the fit columns are written as NaN
 * (upstream leaves them masked). */
typedef struct rvs_desi_row {
  int bad;
  double vrad, vrad_err, vrad_skew, vrad_kurt, vsini;
  double logg, logg_err, teff, teff_err, feh, feh_err, alphafe, alphafe_err;
  double chisq_tot, chisq_c_tot;
  int64_t npix_tot;
  double chisq[RVS_DESI_MAXARMS], chisq_c[RVS_DESI_MAXARMS]; /* per output arm */
  double vrad_ccf;
  int64_t rvs_warn;
  double sn[RVS_DESI_MAXARMS];
  double rr_z;
  char rr_spectype[16], rr_subtype[32];
  int64_t fibermap_row;   /* 0-based row of the input FIBERMAP */
} rvs_desi_row;

typedef struct rvs_desi_output {
  const char *input_path;         /* the coadd: FIBERMAP/SCORES/EXP_FIBERMAP rows and
                                     primary keys are copied from it */
  const char *tab_path, *mod_path;
  int narms;
  char arms[RVS_DESI_MAXARMS];    /* 'b','r','z' fitted arms, in order */
  const double *wave[RVS_DESI_MAXARMS];
  size_t npix[RVS_DESI_MAXARMS];
  const float *models[RVS_DESI_MAXARMS]; /* [ngood][npix] rows for fibers fitted */
  size_t ngood;
  const rvs_desi_row *rows;
  size_t nrows;
  /* primary header provenance */
  const char *config_path, *cmdline, *rr_file;
  int nsetups;
  const char *setup_name[RVS_DESI_MAXARMS], *setup_revision[RVS_DESI_MAXARMS];
  const char *version;
} rvs_desi_output;

/* Write both files; nothing is left behind on failure. */
int rvs_desi_write_outputs(const rvs_desi_output *o);

/* Both outputs empty of rows (a bare primary HDU each): upstream's answer when
 * --targetid selects nothing in a file. */
int rvs_desi_write_bare(const char *tab_path, const char *mod_path);

#endif
