/* Four-double vectors for the hot kernels (GCC/Clang vector extension).
 *
 * A v4d is two SSE2 halves in the baseline build, or one AVX2 register in a
 * function cloned with RVS_CLONES (GCC on x86-64: an "avx2" clone picked at
 * load time, and the baseline).  The lane arithmetic is the same in both,
 * and C11 mode does not contract a*b+c into an FMA, so both clones give
 * identical bits: results do not depend on which clone runs.
 *
 * Accesses go through macros (a 32-byte vector passed by value has no fixed
 * ABI without AVX); loads and stores need only double alignment. */
#ifndef RVS_CORE_SIMD_H
#define RVS_CORE_SIMD_H

typedef double v4d __attribute__((vector_size(32), aligned(8), may_alias));

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(RVS_NO_CLONES) && \
    !defined(__AVX2__)
#define RVS_CLONES __attribute__((target_clones("avx2", "default"), noinline))
#else
#define RVS_CLONES
#endif

#define ld4(p) (*(const v4d *)(p))
#define st4(p, x) (*(v4d *)(p) = (x))
/* lanes joined in a fixed order */
#define hsum4(x) (((x)[0] + (x)[1]) + ((x)[2] + (x)[3]))

#endif
