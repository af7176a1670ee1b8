/* Thin helpers over cfitsio: error text that names the file, and the atomic
 * create/close pair every FITS writer uses. */
#ifndef RVS_IO_FITS_UTIL_H
#define RVS_IO_FITS_UTIL_H

#include <fitsio.h>
#include <stddef.h>

/* If `fstatus` is non-zero, record "path: what: <cfitsio text>" and return
 * RVS_ERR_IO (or RVS_ERR_FORMAT for HDU/keyword/column-not-found errors);
 * otherwise return RVS_OK.  Clears cfitsio's error stack either way. */
int rvs_fits_check(int fstatus, const char *path, const char *what);

/* Create `final_path` atomically: the file is really created under a
 * temporary name written into `tmp` (capacity `cap`).  Close with
 * rvs_fits_close_commit() (rename into place) or rvs_fits_close_abort(). */
int rvs_fits_create_atomic(fitsfile **fptr, const char *final_path, char *tmp, size_t cap);
int rvs_fits_close_commit(fitsfile *fptr, const char *tmp, const char *final_path);
void rvs_fits_close_abort(fitsfile *fptr, const char *tmp);

#endif
