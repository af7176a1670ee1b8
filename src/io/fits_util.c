#include "io/fits_util.h"

#include "io/atomic.h"
#include "rvs/status.h"

#include <stdio.h>
#include <string.h>

int rvs_fits_check(int fstatus, const char *path, const char *what) {
  if (fstatus == 0) return RVS_OK;
  char text[FLEN_STATUS];
  char detail[FLEN_ERRMSG] = "";
  fits_get_errstatus(fstatus, text);
  /* The first message on cfitsio's stack is usually the most specific one. */
  fits_read_errmsg(detail);
  fits_clear_errmsg();
  int code = RVS_ERR_IO;
  switch (fstatus) {
  case BAD_HDU_NUM: case COL_NOT_FOUND: case KEY_NO_EXIST: case BAD_NAXIS:
  case NOT_IMAGE: case NOT_TABLE: case BAD_DATATYPE: case BAD_COL_NUM:
    code = RVS_ERR_FORMAT;
    break;
  default:
    break;
  }
  if (detail[0] && strcmp(detail, text) != 0)
    return rvs_error(code, "%s: %s: %s (%s)", path, what, text, detail);
  return rvs_error(code, "%s: %s: %s", path, what, text);
}

int rvs_fits_create_atomic(fitsfile **fptr, const char *final_path, char *tmp, size_t cap) {
  int rc = rvs_atomic_tmpname(final_path, tmp, cap);
  if (rc) return rc;
  rvs_atomic_abort(tmp); /* a stale temp file of ours would make create fail */
  int fs = 0;
  /* The leading '!' would make cfitsio overwrite; we removed it already. */
  fits_create_file(fptr, tmp, &fs);
  return rvs_fits_check(fs, final_path, "cannot create FITS file");
}

int rvs_fits_close_commit(fitsfile *fptr, const char *tmp, const char *final_path) {
  int fs = 0;
  fits_close_file(fptr, &fs);
  if (fs) {
    rvs_atomic_abort(tmp);
    return rvs_fits_check(fs, final_path, "error while closing FITS file");
  }
  return rvs_atomic_commit(tmp, final_path);
}

void rvs_fits_close_abort(fitsfile *fptr, const char *tmp) {
  int fs = 0;
  if (fptr) fits_close_file(fptr, &fs);
  fits_clear_errmsg();
  rvs_atomic_abort(tmp);
}
