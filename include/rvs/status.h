/* Status codes and error messages shared by every rvspecfit-c function.
 *
 * Library functions never exit() or print: they return an rvs_status and leave
 * a one-line human-readable message (naming the file and the cause where there
 * is one) in a thread-local buffer read with rvs_last_error(). */
#ifndef RVS_STATUS_H
#define RVS_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rvs_status {
  RVS_OK = 0,
  RVS_ERR_NOMEM = -1,   /* allocation failed */
  RVS_ERR_IO = -2,      /* file missing, unreadable, unwritable */
  RVS_ERR_FORMAT = -3,  /* file readable but its content is not what we expect */
  RVS_ERR_ARG = -4,     /* bad argument or option value */
  RVS_ERR_NUMERIC = -5, /* a computation failed (singular system, NaN, ...) */
  RVS_ERR_RANGE = -6,   /* a value outside the domain of the data (e.g. grid) */
  RVS_ERR_DEVICE = -7,  /* GPU / accelerator failure */
  RVS_ERR_INTERRUPTED = -8 /* stopped on request (a signal) */
} rvs_status;

/* Record an error message (printf-style) and return `code` unchanged, so a
 * caller can write `return rvs_error(RVS_ERR_IO, "%s: cannot open", path);` */
int rvs_error(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Message of the last error set on this thread ("" if none). */
const char *rvs_last_error(void);

/* Forget the last error of this thread. */
void rvs_clear_error(void);

/* Short name of a status code ("RVS_ERR_IO", ...). */
const char *rvs_status_name(int code);

#ifdef __cplusplus
}
#endif
#endif
