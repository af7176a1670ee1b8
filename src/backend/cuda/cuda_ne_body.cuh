// One instantiation of the split normal-equation kernel (C-style "template":
// cuda_backend.cu includes this file once per CHISQ_P with CHISQ_JS and
// NE_NAME set).  Input: the item's model after the band, tt, stored by
// model_kernel; the sums are those of the fused chisq kernels
// (cuda_chisq_body.cuh), element for element in the same order, so M and v
// are bitwise the same:
//   lane (bb, q) = (lane / 4, lane % 4) sums from 0, in pixel order, the
//   products of the pixels i = q mod 4 of block g0 + bb; the partials of the
//   8 blocks of the group are added in block order to lane q's running sums
//   (shared memory); the four lanes are joined as (l0 + l1) + (l2 + l3).
// Two warps per item share the elements, so that each holds fewer partial
// sums in registers (more warps per SM, no spills): warp 0 the rows
// j < CHISQ_JS of M and all of v, warp 1 the rows j >= CHISQ_JS.
#if !defined(CHISQ_P) || !defined(CHISQ_JS) || !defined(NE_NAME)
#error "define CHISQ_P, CHISQ_JS and NE_NAME before including cuda_ne_body.cuh"
#endif

__global__ void __launch_bounds__(NE_THREADS, NE_MIN_BLOCKS)
NE_NAME(const ditem *__restrict__ items, int nitems, const dslotarm *__restrict__ slotarms,
        const double *__restrict__ tt, double *__restrict__ acc) {
  enum {
    NM = CHISQ_P * (CHISQ_P + 1) / 2,
    NACC = NM + CHISQ_P,
    E0 = CHISQ_JS * CHISQ_P - CHISQ_JS * (CHISQ_JS - 1) / 2, // elements of rows < JS
    E1 = NM - E0
  };
  __shared__ double run_all[NE_THREADS / 64][4 * NACC];
  const int lane = threadIdx.x & 31;
  const int w = threadIdx.x >> 5, sub = w & 1, il = w >> 1;
  const int item = blockIdx.x * (NE_THREADS / 64) + il;
  if (item >= nitems) return; // both warps of the item leave together
  double *run = run_all[il];
  // warp 0: elements [0, E0) and [NM, NACC); warp 1: [E0, NM)
  for (int x = lane; x < 4 * NACC; x += 32) {
    const int e = x % NACC;
    if ((sub == 0) == (e < E0 || e >= NM)) run[x] = 0.0;
  }
  __syncwarp();
  const ditem it = items[item];
  const dslotarm A = slotarms[it.slotarm];
  const double *t = tt + it.ttoff;
  const int n = A.n;
  const ne_blocks NB = ne_blocks_of(n);
  const int bb = lane >> 2, q = lane & 3;
#pragma unroll 1
  for (int g0 = 0; g0 < NB.nblk; g0 += 8) {
    const int glast = min(g0 + 8, NB.nblk) - 1;
    const int nbk = glast - g0 + 1;
    const int bl = g0 + bb;
    const int bs = bl <= glast ? ne_block_start(&NB, bl) : 0;
    const int be = bl <= glast ? ne_block_end(&NB, bl) : 0;
    if (sub == 0) {
      double M[E0 > 0 ? E0 : 1], v[CHISQ_P];
#pragma unroll
      for (int e = 0; e < E0; e++) M[e] = 0.0;
#pragma unroll
      for (int j = 0; j < CHISQ_P; j++) v[j] = 0.0;
#pragma unroll 1
      for (int i = bs + q; i < be; i += 4) {
        const double ws = t[i] * A.isig[i];
        const double wv = ws * ws;
        const double dw = A.D[i] * ws;
        double b[CHISQ_P];
#pragma unroll
        for (int j = 0; j < CHISQ_P; j++) b[j] = A.B[(size_t)j * n + i];
        int e = 0;
#pragma unroll
        for (int j = 0; j < CHISQ_P; j++) {
          v[j] += b[j] * dw;
          if (j < CHISQ_JS) {
            const double bw = b[j] * wv;
#pragma unroll
            for (int k = j; k < CHISQ_P; k++) M[e++] += bw * b[k];
          }
        }
      }
#pragma unroll
      for (int e = 0; e < E0; e++) group_add(run + q * NACC + e, M[e], lane, q, nbk);
#pragma unroll
      for (int j = 0; j < CHISQ_P; j++) group_add(run + q * NACC + NM + j, v[j], lane, q, nbk);
    } else {
      double M[E1 > 0 ? E1 : 1];
#pragma unroll
      for (int e = 0; e < E1; e++) M[e] = 0.0;
#pragma unroll 1
      for (int i = bs + q; i < be; i += 4) {
        const double ws = t[i] * A.isig[i];
        const double wv = ws * ws;
        double b[CHISQ_P];
#pragma unroll
        for (int j = CHISQ_JS; j < CHISQ_P; j++) b[j] = A.B[(size_t)j * n + i];
        int e = 0;
#pragma unroll
        for (int j = CHISQ_JS; j < CHISQ_P; j++) {
          const double bw = b[j] * wv;
#pragma unroll
          for (int k = j; k < CHISQ_P; k++) M[e++] += bw * b[k];
        }
      }
#pragma unroll
      for (int e = 0; e < E1; e++) group_add(run + q * NACC + E0 + e, M[e], lane, q, nbk);
    }
    __syncwarp();
  }
  if (lane == 0) {
    double *out = acc + (size_t)item * NACC;
    for (int e = 0; e < NACC; e++) {
      if ((sub == 0) != (e < E0 || e >= NM)) continue;
      out[e] = (run[e] + run[NACC + e]) + (run[2 * NACC + e] + run[3 * NACC + e]);
    }
  }
}

#undef CHISQ_P
#undef CHISQ_JS
#undef NE_NAME
