/* Vectorised exp; see vexp.h. */
#include "core/vexp.h"

#include <math.h>
#include <string.h>

#include "core/simd.h"

typedef long long v4i __attribute__((vector_size(32), aligned(8), may_alias));

#include "core/vexp_poly.h"

double rvs_exp1(double x) {
  if (!(x >= RVS_EXP_LO && x <= RVS_EXP_HI)) return exp(x);
  double kd = x * RVS_INV_LN2 + RVS_SHIFT;
  double kf = kd - RVS_SHIFT;
  double r = x - kf * RVS_LN2_HI;
  r = r - kf * RVS_LN2_LO;
  double p = RVS_EXP_POLY(r);
  long long kb, sb;
  double shift = RVS_SHIFT, scale;
  memcpy(&kb, &kd, sizeof kb);
  memcpy(&sb, &shift, sizeof sb);
  long long bits = (kb - sb + 1023) << 52;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/* One vector: the scalar formula lane by lane. */
#define EXP_V4(v, out)                                      \
  do {                                                      \
    v4d kd_ = (v) * RVS_INV_LN2 + shift;                        \
    v4d kf_ = kd_ - shift;                                  \
    v4d r_ = (v) - kf_ * RVS_LN2_HI;                            \
    r_ = r_ - kf_ * RVS_LN2_LO;                                 \
    v4d p_ = RVS_EXP_POLY(r_);                                  \
    v4i bits_ = ((v4i)kd_ - shift_bits + 1023) << 52;       \
    (out) = p_ * (v4d)bits_;                                \
  } while (0)

/* Four vectors per step: four independent Horner chains hide the latency. */
RVS_CLONES static void exp_vec(double *x, size_t n4) {
  const v4d shift = {RVS_SHIFT, RVS_SHIFT, RVS_SHIFT, RVS_SHIFT};
  const v4i shift_bits = (v4i)shift;
  size_t i = 0;
  for (; i + 16 <= n4; i += 16) {
    v4d a = ld4(x + i), b = ld4(x + i + 4), c = ld4(x + i + 8), d = ld4(x + i + 12);
    v4i bad = (a < RVS_EXP_LO) | (a > RVS_EXP_HI) | (a != a) | (b < RVS_EXP_LO) | (b > RVS_EXP_HI) | (b != b) |
              (c < RVS_EXP_LO) | (c > RVS_EXP_HI) | (c != c) | (d < RVS_EXP_LO) | (d > RVS_EXP_HI) | (d != d);
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
