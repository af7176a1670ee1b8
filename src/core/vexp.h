/* Vectorised exp over an array (the template interpolator's ln-flux -> flux).
 *
 * exp(x) = 2^k exp(r), k = round(x / ln 2), r = x - k ln 2 (Cody-Waite, two
 * parts of ln 2), exp(r) by its degree-13 Taylor polynomial (|r| <= 0.347:
 * truncation < 4e-18 relative).  Error within 2 ulp of the exact value (the
 * unit test checks against expl); four lanes at a time, the same bits from
 * the SSE2 and AVX2 clones.  Arguments outside [-708, 709], NaN and inf go
 * to libm's exp (overflow, underflow, subnormals as libm). */
#ifndef RVS_CORE_VEXP_H
#define RVS_CORE_VEXP_H

#include <stddef.h>

/* x[i] = exp(x[i]), i < n. */
void rvs_exp_inplace(double *x, size_t n);

/* One value by the same formula (for tests and tails). */
double rvs_exp1(double x);

#endif
