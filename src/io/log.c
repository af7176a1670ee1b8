#include "rvs/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

static int rvs_log_threshold = RVS_LOG_WARNING;
static rvs_log_fn rvs_log_sink = NULL;
static void *rvs_log_user = NULL;

static const char *level_name(int level) {
  if (level >= RVS_LOG_ERROR) return "ERROR";
  if (level >= RVS_LOG_WARNING) return "WARNING";
  if (level >= RVS_LOG_INFO) return "INFO";
  return "DEBUG";
}

void rvs_log(int level, const char *fmt, ...) {
  if (level < rvs_log_threshold) return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (rvs_log_sink) {
    rvs_log_sink(level, msg, rvs_log_user);
  } else {
    fprintf(stderr, "rvspecfit-c %s: %s\n", level_name(level), msg);
  }
}

void rvs_set_log_callback(rvs_log_fn fn, void *user) {
  rvs_log_sink = fn;
  rvs_log_user = user;
}

void rvs_set_log_level(int level) { rvs_log_threshold = level; }
int rvs_get_log_level(void) { return rvs_log_threshold; }

int rvs_parse_log_level(const char *name) {
  if (!name) return -1;
  if (strcasecmp(name, "DEBUG") == 0) return RVS_LOG_DEBUG;
  if (strcasecmp(name, "INFO") == 0) return RVS_LOG_INFO;
  if (strcasecmp(name, "WARNING") == 0 || strcasecmp(name, "WARN") == 0) return RVS_LOG_WARNING;
  if (strcasecmp(name, "ERROR") == 0) return RVS_LOG_ERROR;
  return -1;
}
