#include "rvs/status.h"

#include <stdarg.h>
#include <stdio.h>

#define RVS_ERRMSG_LEN 1024
static _Thread_local char rvs_errmsg[RVS_ERRMSG_LEN];

int rvs_error(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rvs_errmsg, sizeof rvs_errmsg, fmt, ap);
  va_end(ap);
  return code;
}

const char *rvs_last_error(void) { return rvs_errmsg; }

void rvs_clear_error(void) { rvs_errmsg[0] = '\0'; }

const char *rvs_status_name(int code) {
  switch (code) {
  case RVS_OK: return "RVS_OK";
  case RVS_ERR_NOMEM: return "RVS_ERR_NOMEM";
  case RVS_ERR_IO: return "RVS_ERR_IO";
  case RVS_ERR_FORMAT: return "RVS_ERR_FORMAT";
  case RVS_ERR_ARG: return "RVS_ERR_ARG";
  case RVS_ERR_NUMERIC: return "RVS_ERR_NUMERIC";
  case RVS_ERR_RANGE: return "RVS_ERR_RANGE";
  case RVS_ERR_DEVICE: return "RVS_ERR_DEVICE";
  case RVS_ERR_INTERRUPTED: return "RVS_ERR_INTERRUPTED";
  default: return "RVS_ERR_UNKNOWN";
  }
}
