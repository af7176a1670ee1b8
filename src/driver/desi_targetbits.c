#include "driver/desi_targetbits.h"

#include "io/fits_util.h"
#include "rvs/status.h"

#include <ctype.h>
#include <fitsio.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const rvs_targetmask *rvs_targetmask_find(const char *survey) {
  for (int i = 0; i < rvs_ntargetmasks; i++)
    if (strcmp(rvs_targetmasks[i].survey, survey) == 0) return &rvs_targetmasks[i];
  return NULL;
}

/* re.match anchors at the start only: "^(" pattern ")".  An empty pattern
 * (from e.g. "MWS_ANY,") matches every name, as in Python; "()" is not
 * portable ERE, so it becomes "^". */
static int compile_pattern(const char *pat, regex_t *re) {
  size_t n = strlen(pat);
  char *full = malloc(n + 4);
  if (!full) return rvs_error(RVS_ERR_NOMEM, "no memory");
  if (n) snprintf(full, n + 4, "^(%s)", pat);
  else strcpy(full, "^");
  int rc = regcomp(re, full, REG_EXTENDED | REG_NOSUB);
  free(full);
  if (rc) {
    char why[128];
    regerror(rc, re, why, sizeof why);
    return rvs_error(RVS_ERR_ARG, "--objtypes: '%s' is not a valid regular expression (%s)",
                     pat, why);
  }
  return RVS_OK;
}

int rvs_targetmask_bits(const rvs_targetmask *m, const char *const *patterns, size_t npatterns,
                        uint64_t *bits) {
  *bits = 0;
  for (size_t p = 0; p < npatterns; p++) {
    regex_t re;
    int rc = compile_pattern(patterns[p], &re);
    if (rc) return rc;
    for (size_t b = 0; b < m->nbits; b++)
      if (regexec(&re, m->bits[b].name, 0, NULL, 0) == 0) *bits |= UINT64_C(1) << m->bits[b].bit;
    regfree(&re);
  }
  return RVS_OK;
}

int rvs_objtypes_check(const char *const *patterns, size_t npatterns) {
  if (npatterns == 0) return rvs_error(RVS_ERR_ARG, "--objtypes: no target class given");
  for (size_t p = 0; p < npatterns; p++) {
    int found = 0;
    for (int i = 0; i < rvs_ntargetmasks && !found; i++) {
      uint64_t bits;
      int rc = rvs_targetmask_bits(&rvs_targetmasks[i], &patterns[p], 1, &bits);
      if (rc) return rc;
      found = bits != 0;
    }
    if (!found)
      return rvs_error(RVS_ERR_ARG,
                       "--objtypes: '%s' matches no DESI target class (a bit name of the "
                       "main, sv1-3 desi_mask or cmx_mask, e.g. MWS_ANY, SCND_ANY, STD_*)",
                       patterns[p]);
  }
  return RVS_OK;
}

int rvs_objtypes_parse(const char *arg, char ***patterns, size_t *npatterns) {
  *patterns = NULL;
  *npatterns = 0;
  size_t n = 1;
  for (const char *s = arg; *s; s++) n += *s == ',';
  char **v = calloc(n + 1, sizeof *v);
  if (!v) return rvs_error(RVS_ERR_NOMEM, "no memory");
  const char *s = arg;
  for (size_t i = 0; i < n; i++) {
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    v[i] = malloc(len + 1);
    if (!v[i]) {
      rvs_objtypes_free(v, i);
      return rvs_error(RVS_ERR_NOMEM, "no memory");
    }
    memcpy(v[i], s, len);
    v[i][len] = 0;
    s = e ? e + 1 : s + len;
  }
  *patterns = v;
  *npatterns = n;
  return RVS_OK;
}

void rvs_objtypes_free(char **patterns, size_t npatterns) {
  if (!patterns) return;
  for (size_t i = 0; i < npatterns; i++) free(patterns[i]);
  free(patterns);
}

int rvs_targetbits_survey(const char *const *colnames, int ncols, char *survey, size_t scap,
                          char *column, size_t ccap) {
  const char *first = NULL; /* first column naming SV or CMX anywhere, as desitarget */
  for (int i = 0; i < ncols && !first; i++)
    if (strstr(colnames[i], "SV") || strstr(colnames[i], "CMX")) first = colnames[i];
  if (!first) {
    snprintf(survey, scap, "main");
    snprintf(column, ccap, "DESI_TARGET");
    return RVS_OK;
  }
  /* survey = text before the first '_', lower case */
  size_t k = 0;
  for (; first[k] && first[k] != '_' && k + 1 < scap; k++)
    survey[k] = (char)tolower((unsigned char)first[k]);
  survey[k] = 0;
  if (strcmp(survey, "cmx") == 0) {
    snprintf(column, ccap, "%s", first);
  } else if (strncmp(survey, "sv", 2) == 0) {
    char up[64];
    size_t j = 0;
    for (; survey[j] && j + 1 < sizeof up; j++) up[j] = (char)toupper((unsigned char)survey[j]);
    up[j] = 0;
    snprintf(column, ccap, "%s_DESI_TARGET", up);
  } else {
    return rvs_error(RVS_ERR_FORMAT,
                     "FIBERMAP column %s: the target survey must be main, cmx or svN, not '%s'",
                     first, survey);
  }
  if (!rvs_targetmask_find(survey))
    return rvs_error(RVS_ERR_FORMAT, "FIBERMAP column %s: no target bit table for survey '%s'",
                     first, survey);
  return RVS_OK;
}

/* Column names of the current (table) HDU, in file order. */
static int read_colnames(fitsfile *f, const char *path, char ***names, int *ncols) {
  int fs = 0, n = 0;
  *names = NULL;
  *ncols = 0;
  fits_get_num_cols(f, &n, &fs);
  if (fs) return rvs_fits_check(fs, path, "FIBERMAP: cannot count columns");
  char **v = calloc((size_t)(n ? n : 1), sizeof *v);
  if (!v) return rvs_error(RVS_ERR_NOMEM, "%s: no memory", path);
  for (int i = 0; i < n; i++) {
    char key[FLEN_KEYWORD], name[FLEN_VALUE];
    snprintf(key, sizeof key, "TTYPE%d", i + 1);
    fits_read_key(f, TSTRING, key, name, NULL, &fs);
    v[i] = fs ? NULL : strdup(name);
    if (fs || !v[i]) {
      for (int j = 0; j < i; j++) free(v[j]);
      free(v);
      return fs ? rvs_fits_check(fs, path, "FIBERMAP: cannot read column names")
                : rvs_error(RVS_ERR_NOMEM, "%s: no memory", path);
    }
  }
  *names = v;
  *ncols = n;
  return RVS_OK;
}

int rvs_desi_objtypes_match(const char *path, size_t nrows, const char *const *patterns,
                            size_t npatterns, unsigned char *match) {
  fitsfile *f = NULL;
  int fs = 0, rc = RVS_OK, ncols = 0;
  char **names = NULL;
  int64_t *vals = NULL;
  fits_open_file(&f, path, READONLY, &fs);
  if (fs) return rvs_fits_check(fs, path, "cannot open");
  fits_movnam_hdu(f, BINARY_TBL, "FIBERMAP", 0, &fs);
  if (fs) { rc = rvs_fits_check(fs, path, "no FIBERMAP HDU"); goto done; }
  if ((rc = read_colnames(f, path, &names, &ncols))) goto done;
  char survey[32], column[FLEN_VALUE];
  if ((rc = rvs_targetbits_survey((const char *const *)names, ncols, survey, sizeof survey, column,
                                  sizeof column))) {
    char why[512];
    snprintf(why, sizeof why, "%s", rvs_last_error());
    rc = rvs_error(rc, "%s: --objtypes: %s", path, why);
    goto done;
  }
  const rvs_targetmask *m = rvs_targetmask_find(survey);
  uint64_t bits = 0;
  if ((rc = rvs_targetmask_bits(m, patterns, npatterns, &bits))) goto done;
  if (bits == 0 && nrows > 0) { /* upstream fails on such a file too (an empty reduce) */
    rc = rvs_error(RVS_ERR_ARG, "%s: --objtypes matches no bit of %s (this file's survey is %s)",
                   path, m->mask_name, survey);
    goto done;
  }
  int col = 0;
  fits_get_colnum(f, CASESEN, column, &col, &fs);
  if (fs) { /* upstream: KeyError on the row */
    fits_clear_errmsg();
    fs = 0;
    rc = rvs_error(RVS_ERR_FORMAT, "%s: --objtypes: FIBERMAP has no %s column", path, column);
    goto done;
  }
  vals = malloc(sizeof(int64_t) * (nrows ? nrows : 1));
  if (!vals) { rc = rvs_error(RVS_ERR_NOMEM, "%s: no memory", path); goto done; }
  if (nrows) fits_read_col(f, TLONGLONG, col, 1, 1, (LONGLONG)nrows, NULL, vals, NULL, &fs);
  if (fs) {
    char what[FLEN_VALUE + 32];
    snprintf(what, sizeof what, "FIBERMAP column %s", column);
    rc = rvs_fits_check(fs, path, what);
    goto done;
  }
  for (size_t r = 0; r < nrows; r++) match[r] = ((uint64_t)vals[r] & bits) != 0;
done:
  if (names) for (int i = 0; i < ncols; i++) free(names[i]);
  free(names);
  free(vals);
  fs = 0;
  if (f) fits_close_file(f, &fs);
  return rc;
}
