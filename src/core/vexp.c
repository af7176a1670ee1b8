/* Vectorised exp; see vexp.h. */
#include "core/vexp.h"

#include <math.h>
#include <string.h>

#include "core/simd.h"

typedef long long v4i __attribute__((vector_size(32), aligned(8), may_alias));

#define EXP_LO (-708.0)
#define EXP_HI 709.0
#define INV_LN2 1.4426950408889634074
/* ln 2 = LN2_HI + LN2_LO; LN2_HI has 32 significant bits, so k LN2_HI is
 * exact for |k| < 2^20 */
#define LN2_HI 0.693147180369123816490
#define LN2_LO 1.90821492927058770002e-10
#define SHIFT 6755399441055744.0 /* 0x1.8p52: x + SHIFT rounds x to an integer */

/* exp(r) for |r| <= ln2/2: Taylor to degree 13, Horner */
#define EXP_POLY(r)                                                                       \
  (((((((((((((1.0 / 6227020800.0 * (r) + 1.0 / 479001600.0) * (r) + 1.0 / 39916800.0) * \
             (r) + 1.0 / 3628800.0) * (r) + 1.0 / 362880.0) * (r) + 1.0 / 40320.0) * (r) +  \
          1.0 / 5040.0) * (r) + 1.0 / 720.0) * (r) + 1.0 / 120.0) * (r) + 1.0 / 24.0) *     \
       (r) + 1.0 / 6.0) * (r) + 0.5) * (r) + 1.0) * (r) + 1.0)

double rvs_exp1(double x) {
  if (!(x >= EXP_LO && x <= EXP_HI)) return exp(x);
  double kd = x * INV_LN2 + SHIFT;
  double kf = kd - SHIFT;
  double r = x - kf * LN2_HI;
  r = r - kf * LN2_LO;
  double p = EXP_POLY(r);
  long long kb, sb;
  double shift = SHIFT, scale;
  memcpy(&kb, &kd, sizeof kb);
  memcpy(&sb, &shift, sizeof sb);
  long long bits = (kb - sb + 1023) << 52;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/* One vector: the scalar formula lane by lane. */
#define EXP_V4(v, out)                                      \
  do {                                                      \
    v4d kd_ = (v) * INV_LN2 + shift;                        \
    v4d kf_ = kd_ - shift;                                  \
    v4d r_ = (v) - kf_ * LN2_HI;                            \
    r_ = r_ - kf_ * LN2_LO;                                 \
    v4d p_ = EXP_POLY(r_);                                  \
    v4i bits_ = ((v4i)kd_ - shift_bits + 1023) << 52;       \
    (out) = p_ * (v4d)bits_;                                \
  } while (0)

/* Four vectors per step: four independent Horner chains hide the latency. */
RVS_CLONES static void exp_vec(double *x, size_t n4) {
  const v4d shift = {SHIFT, SHIFT, SHIFT, SHIFT};
  const v4i shift_bits = (v4i)shift;
  size_t i = 0;
  for (; i + 16 <= n4; i += 16) {
    v4d a = ld4(x + i), b = ld4(x + i + 4), c = ld4(x + i + 8), d = ld4(x + i + 12);
    v4i bad = (a < EXP_LO) | (a > EXP_HI) | (a != a) | (b < EXP_LO) | (b > EXP_HI) | (b != b) |
              (c < EXP_LO) | (c > EXP_HI) | (c != c) | (d < EXP_LO) | (d > EXP_HI) | (d != d);
    if (bad[0] | bad[1] | bad[2] | bad[3]) {
      for (int q = 0; q < 16; q++) x[i + q] = rvs_exp1(x[i + q]);
      continue;
    }
    v4d ea, eb, ec, ed;
    EXP_V4(a, ea);
    EXP_V4(b, eb);
    EXP_V4(c, ec);
    EXP_V4(d, ed);
    st4(x + i, ea);
    st4(x + i + 4, eb);
    st4(x + i + 8, ec);
    st4(x + i + 12, ed);
  }
  for (; i < n4; i++) x[i] = rvs_exp1(x[i]);
}

void rvs_exp_inplace(double *x, size_t n) {
  size_t n4 = n & ~(size_t)3;
  if (n4) exp_vec(x, n4);
  for (size_t i = n4; i < n; i++) x[i] = rvs_exp1(x[i]);
}
