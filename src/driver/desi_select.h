/* Fiber selection of rvs_desi_fit (upstream select_fibers_to_fit,
 * ALGORITHM.md §5.2), on columns already read from the file. */
#ifndef RVS_DRIVER_DESI_SELECT_H
#define RVS_DRIVER_DESI_SELECT_H

#include <stddef.h>
#include <stdint.h>

typedef struct rvs_select_opts {
  double minsn;                 /* max over arms of S/N must exceed it (default -1e9) */
  int have_minexpid, have_maxexpid;
  int64_t minexpid, maxexpid;   /* EXPID > minexpid and EXPID <= maxexpid */
  const int64_t *targetids;     /* optional list (NULL: all) */
  size_t ntargetids;
} rvs_select_opts;

void rvs_select_opts_default(rvs_select_opts *o);

/* Columns (NULL when absent): objtype strings, fiber status, EXPID.
 * sn[arm][row] for narms arms.  Writes keep[row] = 1 for selected rows and
 * returns how many. */
size_t rvs_desi_select(size_t nrows, const char *const *objtype, const int64_t *fiberstatus,
                       const int64_t *expid, const int64_t *targetid, const double *const *sn,
                       int narms, const rvs_select_opts *o, unsigned char *keep);

/* True if a fiber status has no bits other than 3 (restricted positioner) and
 * 20 (variable) set. */
int rvs_fiberstatus_ok(int64_t status);

/* Median S/N of one fiber-arm as upstream get_sns: median of flux*sqrt(ivar)
 * over pixels with ivar > 0 and mask == 0; -1e9 when none or not finite. */
double rvs_desi_arm_sn(const float *flux, const float *ivar, const int32_t *mask, size_t n,
                       double *scratch);

#endif
