/* The PASS/FAIL reporting of the GPU check programs (gpu_parity,
 * gpu_ccf_parity) and the small helpers they and gpu_bench share: one line
 * per check on stdout and in the optional report file, counters for the
 * summary, DIE for setup failures (exit 2), a monotonic clock. */
#ifndef RVS_GPU_CHECK_H
#define RVS_GPU_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "rvs/status.h"

static int gc_nfail = 0, gc_npass = 0;
static FILE *gc_report = NULL; /* set by the program (argv) */

static void gc_line(const char *tag, const char *fmt, va_list ap) {
  char msg[640];
  vsnprintf(msg, sizeof msg, fmt, ap);
  printf("%s  %s\n", tag, msg);
  if (gc_report) fprintf(gc_report, "%s  %s\n", tag, msg);
  fflush(stdout);
}

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3), unused));
static void check(int ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gc_line(ok ? "PASS" : "FAIL", fmt, ap);
  va_end(ap);
  if (ok) gc_npass++;
  else gc_nfail++;
}

static void info(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void info(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gc_line("INFO", fmt, ap);
  va_end(ap);
}

#define DIE(...)                                 \
  do {                                           \
    fprintf(stderr, __VA_ARGS__);                \
    fprintf(stderr, ": %s\n", rvs_last_error()); \
    exit(2);                                     \
  } while (0)

static double now(void) __attribute__((unused));
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#endif
