/* Common glue for the cmocka unit tests.
 *
 * RVS_TEST_MAIN(tests) runs every case, or only the case named in argv[1]
 * (ctest registers one entry per case).  An unknown case name is an error, so a
 * typo can never make ctest pass a test that did not run. */
#ifndef RVS_TEST_H
#define RVS_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#define RVS_TEST_MAIN(tests) RVS_TEST_MAIN_SETUP(tests, NULL, NULL)

/* The same with group setup/teardown run around the selected case(s). */
#define RVS_TEST_MAIN_SETUP(tests, setup_, teardown_)                          \
  int main(int argc, char **argv) {                                            \
    size_t ntests_ = sizeof(tests) / sizeof((tests)[0]);                        \
    if (argc > 1) {                                                             \
      size_t i_;                                                                \
      for (i_ = 0; i_ < ntests_; i_++)                                          \
        if (strcmp((tests)[i_].name, argv[1]) == 0) break;                      \
      if (i_ == ntests_) {                                                      \
        fprintf(stderr, "%s: no test case named '%s'\n", argv[0], argv[1]);     \
        return 2;                                                               \
      }                                                                         \
      cmocka_set_test_filter(argv[1]);                                          \
    }                                                                           \
    return cmocka_run_group_tests(tests, setup_, teardown_);                    \
  }

/* |a-b| <= tol * max(|b|, floor): relative check with an absolute floor. */
#define assert_close_rel(a, b, tol, floor_)                                      \
  do {                                                                          \
    double a_ = (double)(a), b_ = (double)(b);                                  \
    double s_ = fabs(b_) > (floor_) ? fabs(b_) : (floor_);                      \
    if (!(fabs(a_ - b_) <= (tol) * s_)) {                                       \
      fail_msg("%s = %.17g, expected %.17g (rel tol %g)", #a, a_, b_,           \
               (double)(tol));                                                  \
    }                                                                           \
  } while (0)

#define assert_close_abs(a, b, tol)                                             \
  do {                                                                          \
    double a_ = (double)(a), b_ = (double)(b);                                  \
    if (!(fabs(a_ - b_) <= (tol))) {                                            \
      fail_msg("%s = %.17g, expected %.17g (abs tol %g)", #a, a_, b_,           \
               (double)(tol));                                                  \
    }                                                                           \
  } while (0)

#endif
