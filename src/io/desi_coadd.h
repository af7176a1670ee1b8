/* Reader for DESI coadd-*.fits / spectra-*.fits files (cfitsio).
 *
 * Two steps, so a driver can select fibers before paying for the pixels:
 *   rvs_desi_coadd_open()      HDU/shape validation, wavelengths, FIBERMAP and
 *                              SCORES columns, primary keys (cheap: no pixels);
 *   rvs_desi_coadd_load_arms() FLUX/IVAR/MASK (and RESOLUTION) of chosen rows.
 * rvs_desi_coadd_read() does both for every row.  The file is closed between
 * calls; only its path is kept.  All arrays are native-endian, row-major. */
#ifndef RVS_IO_DESI_COADD_H
#define RVS_IO_DESI_COADD_H

#include <fitsio.h>
#include <stddef.h>
#include <stdint.h>

#define RVS_DESI_NDIAG 11        /* resolution diagonals in DESI files */
#define RVS_DESI_MAX_TARGETCOLS 24
#define RVS_DESI_MAX_PRIMKEYS 10

typedef struct rvs_desi_arm {
  char name;           /* 'b', 'r' or 'z' */
  size_t npix;
  double *wave;        /* [npix], Angstrom (vacuum) */
  /* Filled by rvs_desi_coadd_load_arms (NULL before): [nloaded][npix] */
  float *flux, *ivar;
  int32_t *mask;
  float *resolution;   /* [nloaded][ndiag][npix], DESI layout; NULL if not read */
  int ndiag;           /* RVS_DESI_NDIAG once resolution is read, else 0 */
} rvs_desi_arm;

/* A target-bit column that is present (DESI_TARGET, SV1_MWS_TARGET, ...). */
typedef struct rvs_desi_targetcol {
  char name[FLEN_VALUE];
  int64_t *bits;       /* [nrows] */
} rvs_desi_targetcol;

typedef struct rvs_desi_coadd {
  char *path;
  size_t nrows;        /* FIBERMAP rows == spectra in the file */

  /* arms in the order requested at open */
  int narms;
  rvs_desi_arm arms[3];

  /* FIBERMAP, [nrows] each.  Optional columns are NULL when absent. */
  int64_t *targetid;
  int64_t *brickid;
  char **objtype;              /* pointers into one buffer; "" when absent */
  int64_t *fiberstatus;        /* FIBERSTATUS, else COADD_FIBERSTATUS, else NULL */
  char fiberstatus_col[24];    /* which one was found ("" if none) */
  double *target_ra, *target_dec;
  int64_t *ref_id;
  char **ref_cat;
  int64_t *fiber;
  int64_t *expid;              /* NULL unless the FIBERMAP has EXPID */
  int ntargetcols;
  rvs_desi_targetcol targetcols[RVS_DESI_MAX_TARGETCOLS];

  /* SCORES: per requested arm (same index as arms[]), NULL if absent.
   * The first family present is used, as upstream: MEDIAN_CALIB_SNR_X,
   * MEDIAN_COADD_SNR_X, MEDIAN_COADD_FLUX_SNR_X. */
  int has_scores;
  int has_exp_fibermap;
  char sn_family[32];          /* e.g. "MEDIAN_COADD_SNR" or "" */
  float *sn[3];

  /* Primary keys upstream copies to its outputs (SPGRP ... HPXNEST), as
   * complete 80-character cards ready for fits_write_record(). */
  int nprimcards;
  char primcards[RVS_DESI_MAX_PRIMKEYS][FLEN_CARD];

  /* Rows whose pixels are loaded (indices into the FIBERMAP), [nloaded]. */
  size_t nloaded;
  size_t *loaded_rows;
} rvs_desi_coadd;

/* Open and validate: {B,R,Z}_{WAVELENGTH,FLUX,IVAR,MASK} and FIBERMAP must
 * exist (all three arms, as upstream's valid_file), with FLUX/IVAR/MASK of
 * shape [nrows][npix(WAVELENGTH)].  `arms` picks the arms kept ("brz", "r",
 * any case).  Reads TARGETID and BRICKID (required) and the optional columns.
 * On error *out is left empty (safe to free) and the message names the file
 * and the missing HDU/column or the wrong shape. */
int rvs_desi_coadd_open(const char *path, const char *arms, rvs_desi_coadd *out);

/* Read FLUX/IVAR/MASK (and RESOLUTION if read_resolution) of the given
 * FIBERMAP rows (0-based, any order; rows == NULL means all rows) into the
 * arms.  Replaces what was loaded before.  Row i of the arrays is rows[i]. */
int rvs_desi_coadd_load_arms(rvs_desi_coadd *c, const size_t *rows, size_t nrows,
                             int read_resolution);

/* open + load_arms(all rows). */
int rvs_desi_coadd_read(const char *path, const char *arms, int read_resolution,
                        rvs_desi_coadd *out);

void rvs_desi_coadd_free(rvs_desi_coadd *c);

/* Index of arm 'b'/'r'/'z' (any case) in c->arms, or -1. */
int rvs_desi_coadd_arm_index(const rvs_desi_coadd *c, char arm);

/* Append to `out` (positioned anywhere; a new HDU is added at the end) a copy
 * of table HDU `extname` of `in_path` holding only rows[0..nrows) (0-based, in
 * that order, repeats allowed): same header, every column and dtype.  nrows
 * may be 0 (an empty table with the same columns).  out_path names the output
 * in error messages. */
int rvs_desi_copy_rows(const char *in_path, const char *extname, const size_t *rows,
                       size_t nrows, fitsfile *out, const char *out_path);

#endif
