#include "io/redrock.h"

#include "io/fits_util.h"
#include "rvs/status.h"

#include <fitsio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

/* Python's str.replace(old, new): every occurrence, left to right. */
static int replace_all(const char *s, const char *old, const char *new_, char *out, size_t cap) {
  size_t lo = strlen(old), ln = strlen(new_), k = 0;
  while (*s) {
    const char *src = s;
    size_t len = 1;
    if (strncmp(s, old, lo) == 0) {
      src = new_;
      len = ln;
      s += lo;
    } else {
      s++;
    }
    if (k + len >= cap) return 0;
    memcpy(out + k, src, len);
    k += len;
  }
  out[k] = 0;
  return 1;
}

int rvs_redrock_find(const char *input, char *path, size_t pcap, char *extname, size_t ecap,
                     char *tried, size_t tcap) {
  static const char *in_prefix[2] = {"coadd-", "spectra-"};
  static const char *rr_prefix[2] = {"redrock-", "zbest-"};
  static const char *rr_ext[2] = {"REDSHIFTS", "ZBEST"};
  static const char *postfix[2] = {"", ".gz"};
  if (tcap) tried[0] = 0;
  const char *slash = strrchr(input, '/');
  const char *base = slash ? slash + 1 : input;
  size_t dirlen = (size_t)(base - input); /* includes the '/' */
  char name[1024];
  snprintf(name, sizeof name, "%s", base);
  size_t l = strlen(name);
  if (l >= 3 && strcmp(name + l - 3, ".gz") == 0) name[l - 3] = 0;
  int p = -1;
  for (int i = 0; i < 2 && p < 0; i++)
    if (strncmp(name, in_prefix[i], strlen(in_prefix[i])) == 0) p = i;
  if (p < 0) return 0;
  for (int z = 0; z < 2; z++) {
    char repl[1024];
    if (!replace_all(name, in_prefix[p], rr_prefix[z], repl, sizeof repl)) return 0;
    for (int g = 0; g < 2; g++) {
      int n = snprintf(path, pcap, "%.*s%s%s", (int)dirlen, input, repl, postfix[g]);
      if (n < 0 || (size_t)n >= pcap) return 0;
      if (z == 0 && g == 0 && tcap) snprintf(tried, tcap, "%s", path);
      if (exists(path)) {
        snprintf(extname, ecap, "%s", rr_ext[z]);
        return 1;
      }
    }
  }
  return 0;
}

void rvs_redrock_free(rvs_redrock *r) {
  free(r->targetid);
  free(r->z);
  free(r->spectype);
  free(r->subtype);
  memset(r, 0, sizeof *r);
}

static int column(fitsfile *f, const char *path, const char *ext, const char *name, int *col) {
  int fs = 0;
  fits_get_colnum(f, CASESEN, (char *)name, col, &fs);
  if (fs) {
    fits_clear_errmsg();
    return rvs_error(RVS_ERR_FORMAT, "%s: HDU %s: missing column %s", path, ext, name);
  }
  return RVS_OK;
}

/* A string column into fixed-width slots of `width` bytes (longer values cut). */
static int read_strings(fitsfile *f, const char *path, const char *ext, const char *name,
                        size_t n, char *dst, size_t width) {
  int col, rc = column(f, path, ext, name, &col);
  if (rc) return rc;
  int fs = 0, typecode = 0;
  long repeat = 0, w = 0;
  fits_get_coltype(f, col, &typecode, &repeat, &w, &fs);
  if (fs) return rvs_fits_check(fs, path, name);
  if (typecode != TSTRING)
    return rvs_error(RVS_ERR_FORMAT, "%s: HDU %s: column %s is not a string column", path, ext,
                     name);
  if (n == 0) return RVS_OK;
  size_t stride = (size_t)repeat + 1;
  char *buf = calloc(n * stride, 1);
  char **ptr = malloc(n * sizeof *ptr);
  if (!buf || !ptr) {
    free(buf);
    free(ptr);
    return rvs_error(RVS_ERR_NOMEM, "%s: out of memory reading %s", path, name);
  }
  for (size_t i = 0; i < n; i++) ptr[i] = buf + i * stride;
  fits_read_col(f, TSTRING, col, 1, 1, (LONGLONG)n, NULL, ptr, NULL, &fs);
  if (!fs)
    for (size_t i = 0; i < n; i++) snprintf(dst + i * width, width, "%s", ptr[i]);
  free(buf);
  free(ptr);
  if (fs) {
    char what[96];
    snprintf(what, sizeof what, "HDU %s: cannot read column %s", ext, name);
    return rvs_fits_check(fs, path, what);
  }
  return RVS_OK;
}

static int read_numbers(fitsfile *f, const char *path, const char *ext, const char *name,
                        size_t n, int datatype, void *dst) {
  int col, rc = column(f, path, ext, name, &col);
  if (rc) return rc;
  int fs = 0;
  if (n) fits_read_col(f, datatype, col, 1, 1, (LONGLONG)n, NULL, dst, NULL, &fs);
  if (fs) {
    char what[96];
    snprintf(what, sizeof what, "HDU %s: cannot read column %s", ext, name);
    return rvs_fits_check(fs, path, what);
  }
  return RVS_OK;
}

int rvs_redrock_read(const char *path, const char *extname, rvs_redrock *out) {
  memset(out, 0, sizeof *out);
  size_t pl = strlen(path);
  struct stat st;
  /* an uncompressed FITS file is whole 2880-byte blocks: shorter means cut */
  if (!(pl > 3 && strcmp(path + pl - 3, ".gz") == 0) && stat(path, &st) == 0 &&
      S_ISREG(st.st_mode) && st.st_size % 2880 != 0)
    return rvs_error(RVS_ERR_FORMAT, "%s: truncated Redrock file (%lld bytes)", path,
                     (long long)st.st_size);
  fitsfile *f = NULL;
  int fs = 0, rc = RVS_OK;
  fits_open_file(&f, path, READONLY, &fs);
  if (fs) return rvs_fits_check(fs, path, "cannot open Redrock file");
  fits_movnam_hdu(f, BINARY_TBL, (char *)extname, 0, &fs);
  if (fs) {
    char what[64];
    snprintf(what, sizeof what, "no %s table HDU", extname);
    rc = rvs_fits_check(fs, path, what);
    goto done;
  }
  long nrows = 0;
  fits_get_num_rows(f, &nrows, &fs);
  if (fs) { rc = rvs_fits_check(fs, path, extname); goto done; }
  size_t n = (size_t)nrows, nn = n ? n : 1;
  out->nrows = n;
  out->targetid = malloc(nn * sizeof *out->targetid);
  out->z = malloc(nn * sizeof *out->z);
  out->spectype = calloc(nn, sizeof *out->spectype);
  out->subtype = calloc(nn, sizeof *out->subtype);
  if (!out->targetid || !out->z || !out->spectype || !out->subtype) {
    rc = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
    goto done;
  }
  if ((rc = read_numbers(f, path, extname, "TARGETID", n, TLONGLONG, out->targetid))) goto done;
  if ((rc = read_numbers(f, path, extname, "Z", n, TDOUBLE, out->z))) goto done;
  if ((rc = read_strings(f, path, extname, "SPECTYPE", n, &out->spectype[0][0],
                         RVS_RR_SPECTYPE_LEN)))
    goto done;
  rc = read_strings(f, path, extname, "SUBTYPE", n, &out->subtype[0][0], RVS_RR_SUBTYPE_LEN);
done:
  fs = 0;
  fits_close_file(f, &fs);
  if (rc) rvs_redrock_free(out);
  return rc;
}
