#include "driver/desi_select.h"

#include "driver/desi_targetbits.h"
#include "io/redrock.h"
#include "rvs/status.h"

#include <math.h>
#include <stdio.h>
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

void rvs_desi_zbest_free(rvs_desi_zbest *zb) {
  free(zb->z);
  free(zb->spectype);
  free(zb->subtype);
  memset(zb, 0, sizeof *zb);
}

int rvs_zbest_is_star(const char *spectype, double z) {
  return strcmp(spectype, "STAR") == 0 || fabs(z) < 1500 / 3e5;
}

typedef struct tid_index {
  int64_t tid;
  size_t row;
} tid_index;

static int cmp_tid(const void *a, const void *b) {
  const tid_index *x = a, *y = b;
  if (x->tid != y->tid) return (x->tid > y->tid) - (x->tid < y->tid);
  return (x->row > y->row) - (x->row < y->row); /* stable: file order */
}

/* Redrock rows -> FIBERMAP rows.  Equal row counts: row by row, TARGETIDs
 * must agree.  Otherwise by TARGETID as upstream: the values of the last
 * Redrock row with that TARGETID (a dict built in file order), star when any
 * of its rows is a star (np.isin). */
static int match_redrock(const char *path, const rvs_redrock *rr, size_t nrows,
                         const int64_t *targetid, rvs_desi_zbest *zb, unsigned char *star) {
  for (size_t r = 0; r < nrows; r++) {
    zb->z[r] = NAN;
    zb->spectype[r][0] = zb->subtype[r][0] = 0;
    star[r] = 0;
  }
  if (rr->nrows == nrows) {
    for (size_t r = 0; r < nrows; r++) {
      if (rr->targetid[r] != targetid[r])
        return rvs_error(RVS_ERR_FORMAT,
                         "%s: Redrock file %s: row %zu has TARGETID %lld, the FIBERMAP %lld",
                         path, zb->path, r, (long long)rr->targetid[r], (long long)targetid[r]);
      zb->z[r] = rr->z[r];
      memcpy(zb->spectype[r], rr->spectype[r], sizeof zb->spectype[r]);
      memcpy(zb->subtype[r], rr->subtype[r], sizeof zb->subtype[r]);
      star[r] = (unsigned char)rvs_zbest_is_star(rr->spectype[r], rr->z[r]);
    }
    return RVS_OK;
  }
  size_t n = rr->nrows;
  tid_index *ix = malloc(sizeof *ix * (n ? n : 1));
  if (!ix) return rvs_error(RVS_ERR_NOMEM, "%s: no memory", path);
  for (size_t k = 0; k < n; k++) {
    ix[k].tid = rr->targetid[k];
    ix[k].row = k;
  }
  qsort(ix, n, sizeof *ix, cmp_tid);
  for (size_t r = 0; r < nrows; r++) {
    size_t lo = 0, hi = n; /* first entry with tid >= targetid[r] */
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (ix[mid].tid < targetid[r]) lo = mid + 1;
      else hi = mid;
    }
    size_t last = n;
    for (size_t k = lo; k < n && ix[k].tid == targetid[r]; k++) {
      size_t q = ix[k].row;
      if (rvs_zbest_is_star(rr->spectype[q], rr->z[q])) star[r] = 1;
      last = q;
    }
    if (last == n) continue;
    zb->z[r] = rr->z[last];
    memcpy(zb->spectype[r], rr->spectype[last], sizeof zb->spectype[r]);
    memcpy(zb->subtype[r], rr->subtype[last], sizeof zb->subtype[r]);
  }
  free(ix);
  return RVS_OK;
}

int rvs_desi_select_targets(const char *path, size_t nrows, const int64_t *targetid,
                            const rvs_select_opts *o, unsigned char *keep, size_t *nkeep,
                            rvs_desi_zbest *zb) {
  memset(zb, 0, sizeof *zb);
  int by_type = o->objtypes != NULL, by_zbest = o->zbest_select;
  if (!by_type && !o->zbest_select && !o->zbest_include) return RVS_OK;
  int rc = RVS_OK;
  size_t nn = nrows ? nrows : 1;
  unsigned char *star = calloc(nn, 1), *type = calloc(nn, 1);
  if (!star || !type) { rc = rvs_error(RVS_ERR_NOMEM, "%s: no memory", path); goto done; }
  if (by_type &&
      (rc = rvs_desi_objtypes_match(path, nrows, o->objtypes, o->nobjtypes, type)))
    goto done;
  if (o->zbest_select || o->zbest_include) {
    char tried[4096];
    if (!rvs_redrock_find(path, zb->path, sizeof zb->path, zb->extname, sizeof zb->extname,
                          tried, sizeof tried)) {
      /* upstream only warns and goes on without Redrock (fitting everything
       * under --zbest_select); we fail the file (docs/UPSTREAM_FIXES.md) */
      if (tried[0])
        rc = rvs_error(RVS_ERR_IO,
                       "%s: --zbest_%s: no Redrock file next to it (%s, nor .gz, nor zbest-*)",
                       path, o->zbest_select ? "select" : "include", tried);
      else
        rc = rvs_error(RVS_ERR_ARG,
                       "%s: --zbest_%s: only coadd-* and spectra-* files have a Redrock file",
                       path, o->zbest_select ? "select" : "include");
      goto done;
    }
    zb->z = malloc(sizeof(double) * nn);
    zb->spectype = calloc(nn, sizeof *zb->spectype);
    zb->subtype = calloc(nn, sizeof *zb->subtype);
    if (!zb->z || !zb->spectype || !zb->subtype) {
      rc = rvs_error(RVS_ERR_NOMEM, "%s: no memory", path);
      goto done;
    }
    rvs_redrock rr;
    if ((rc = rvs_redrock_read(zb->path, zb->extname, &rr))) {
      char why[1024];
      snprintf(why, sizeof why, "%s", rvs_last_error());
      rc = rvs_error(rc, "%s: --zbest: %s", path, why);
      goto done;
    }
    rc = match_redrock(path, &rr, nrows, targetid, zb, star);
    rvs_redrock_free(&rr);
    if (rc) goto done;
    zb->have = 1;
  }
  if (by_type || by_zbest) {
    size_t n = 0;
    for (size_t r = 0; r < nrows; r++) {
      int sel = (by_zbest && star[r]) || (by_type && type[r]);
      keep[r] = (unsigned char)(keep[r] && sel);
      n += keep[r];
    }
    *nkeep = n;
  }
done:
  free(star);
  free(type);
  if (rc) rvs_desi_zbest_free(zb);
  return rc;
}
