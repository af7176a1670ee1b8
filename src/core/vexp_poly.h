/* The constants and the polynomial of rvs_exp1 (core/vexp.c), shared with
 * the CUDA backend's device copy so that both compute exp with the same
 * operations in the same order: bit-identical templates on both backends
 * (CUDA sources are built with --fmad=false, the C ones without contraction). */
#ifndef RVS_CORE_VEXP_POLY_H
#define RVS_CORE_VEXP_POLY_H

#define RVS_EXP_LO (-708.0)
#define RVS_EXP_HI 709.0
#define RVS_INV_LN2 1.4426950408889634074
/* ln 2 = RVS_LN2_HI + RVS_LN2_LO; RVS_LN2_HI has 32 significant bits, so k RVS_LN2_HI is
 * exact for |k| < 2^20 */
#define RVS_LN2_HI 0.693147180369123816490
#define RVS_LN2_LO 1.90821492927058770002e-10
#define RVS_SHIFT 6755399441055744.0 /* 0x1.8p52: x + RVS_SHIFT rounds x to an integer */

/* exp(r) for |r| <= ln2/2: Taylor to degree 13, Horner */
#define RVS_EXP_POLY(r)                                                                       \
  (((((((((((((1.0 / 6227020800.0 * (r) + 1.0 / 479001600.0) * (r) + 1.0 / 39916800.0) * \
             (r) + 1.0 / 3628800.0) * (r) + 1.0 / 362880.0) * (r) + 1.0 / 40320.0) * (r) +  \
          1.0 / 5040.0) * (r) + 1.0 / 720.0) * (r) + 1.0 / 120.0) * (r) + 1.0 / 24.0) *     \
       (r) + 1.0 / 6.0) * (r) + 0.5) * (r) + 1.0) * (r) + 1.0)

#endif
