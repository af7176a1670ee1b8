#include "driver/desi_select.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void rvs_select_opts_default(rvs_select_opts *o) {
  memset(o, 0, sizeof *o);
  o->minsn = -1e9;
}

int rvs_fiberstatus_ok(int64_t status) {
  const int64_t mask = (INT64_C(1) << 3) | (INT64_C(1) << 20);
  return (status & mask) == status;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double rvs_desi_arm_sn(const float *flux, const float *ivar, const int32_t *mask, size_t n,
                       double *scratch) {
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (ivar[i] > 0 && mask[i] == 0) scratch[m++] = (double)flux[i] * sqrt((double)ivar[i]);
  if (m == 0) return -1e9;
  /* np.median propagates NaN: a NaN flux makes the S/N -1e9 upstream */
  for (size_t i = 0; i < m; i++)
    if (isnan(scratch[i])) return -1e9;
  qsort(scratch, m, sizeof(double), cmp_d);
  double med = (m % 2) ? scratch[m / 2] : 0.5 * (scratch[m / 2 - 1] + scratch[m / 2]);
  return isfinite(med) ? med : -1e9;
}

size_t rvs_desi_select(size_t nrows, const char *const *objtype, const int64_t *fiberstatus,
                       const int64_t *expid, const int64_t *targetid, const double *const *sn,
                       int narms, const rvs_select_opts *o, unsigned char *keep) {
  size_t nkeep = 0;
  for (size_t r = 0; r < nrows; r++) {
    int ok = 1;
    if (expid) {
      if (o->have_minexpid && !(expid[r] > o->minexpid)) ok = 0;
      if (o->have_maxexpid && !(expid[r] <= o->maxexpid)) ok = 0;
    }
    if (ok && fiberstatus && !rvs_fiberstatus_ok(fiberstatus[r])) ok = 0;
    if (ok && objtype && objtype[r]) {
      const char *t = objtype[r];
      while (*t == ' ') t++;
      if (strncmp(t, "SKY", 3) == 0 && (t[3] == 0 || t[3] == ' ')) ok = 0;
      if (strncmp(t, "BAD", 3) == 0 && (t[3] == 0 || t[3] == ' ')) ok = 0;
    }
    if (ok && o->targetids) {
      int found = 0;
      for (size_t k = 0; k < o->ntargetids && !found; k++) found = targetid[r] == o->targetids[k];
      ok = found;
    }
    if (ok && sn && narms > 0) {
      double mx = -INFINITY;
      for (int a = 0; a < narms; a++)
        if (sn[a][r] > mx) mx = sn[a][r];
      if (!(mx > o->minsn)) ok = 0;
    }
    keep[r] = (unsigned char)ok;
    nkeep += (size_t)ok;
  }
  return nkeep;
}
