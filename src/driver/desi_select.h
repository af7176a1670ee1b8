/* Fiber selection of rvs_desi_fit (upstream select_fibers_to_fit,
 * ALGORITHM.md §5.2), on columns already read from the file. */
#ifndef RVS_DRIVER_DESI_SELECT_H
#define RVS_DRIVER_DESI_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "io/redrock.h"

typedef struct rvs_select_opts {
  double minsn;                 /* max over arms of S/N must exceed it (default -1e9) */
  int have_minexpid, have_maxexpid;
  int64_t minexpid, maxexpid;   /* EXPID > minexpid and EXPID <= maxexpid */
  const int64_t *targetids;     /* optional list (NULL: all) */
  size_t ntargetids;
  /* --zbest_select / --zbest_include: read the Redrock file next to the
   * coadd (rvs_redrock_find); select keeps its stars (SPECTYPE STAR or
   * |Z| < 1500/3e5); either fills the RR_* columns */
  int zbest_select, zbest_include;
  /* --objtypes: regular expressions of DESI target classes (NULL: none) */
  const char *const *objtypes;
  size_t nobjtypes;
} rvs_select_opts;

void rvs_select_opts_default(rvs_select_opts *o);

/* Columns (NULL when absent): objtype strings, fiber status, EXPID.
 * sn[arm][row] for narms arms.  Writes keep[row] = 1 for selected rows and
 * returns how many. */
size_t rvs_desi_select(size_t nrows, const char *const *objtype, const int64_t *fiberstatus,
                       const int64_t *expid, const int64_t *targetid, const double *const *sn,
                       int narms, const rvs_select_opts *o, unsigned char *keep);

/* Redrock values of every FIBERMAP row (RVTAB's RR_Z, RR_SPECTYPE,
 * RR_SUBTYPE); NaN and "" for a TARGETID not in the Redrock file. */
typedef struct rvs_desi_zbest {
  int have;                 /* a Redrock file was read */
  char path[4096];          /* that file (the RR_FILE header card) */
  char extname[16];         /* REDSHIFTS or ZBEST */
  double *z;                /* [nrows] */
  char (*spectype)[RVS_RR_SPECTYPE_LEN]; /* [nrows] */
  char (*subtype)[RVS_RR_SUBTYPE_LEN];   /* [nrows] */
} rvs_desi_zbest;

void rvs_desi_zbest_free(rvs_desi_zbest *zb);

/* Redrock's verdict used by --zbest_select: a star, or |Z| below 1500 km/s
 * (z < 1500/3e5, as upstream). */
int rvs_zbest_is_star(const char *spectype, double z);

/* The --zbest_select / --zbest_include / --objtypes part of upstream's
 * select_fibers_to_fit, applied after rvs_desi_select on the FIBERMAP of
 * `path` (nrows rows): when --zbest_select or --objtypes is on,
 * keep[r] &= (star[r] || class_match[r]).  Updates *nkeep and fills *zb
 * (zeroed first; free with rvs_desi_zbest_free).  Errors name the file: no
 * Redrock file next to the coadd, an unreadable one, TARGETIDs that differ
 * row by row when the row counts agree (upstream asserts), or an --objtypes
 * problem (rvs_desi_objtypes_match). */
int rvs_desi_select_targets(const char *path, size_t nrows, const int64_t *targetid,
                            const rvs_select_opts *o, unsigned char *keep, size_t *nkeep,
                            rvs_desi_zbest *zb);

/* True if a fiber status has no bits other than 3 (restricted positioner) and
 * 20 (variable) set. */
int rvs_fiberstatus_ok(int64_t status);

/* Median S/N of one fiber-arm as upstream get_sns: median of flux*sqrt(ivar)
 * over pixels with ivar > 0 and mask == 0; -1e9 when none or not finite. */
double rvs_desi_arm_sn(const float *flux, const float *ivar, const int32_t *mask, size_t n,
                       double *scratch);

#endif
