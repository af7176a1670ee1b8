// One instantiation of the per-(request, arm) normal-equation kernel for a
// fixed number of basis functions (C-style "template": cuda_backend.cu
// includes this file once per CHISQ_P with CHISQ_NAME set; the partial sums
// must be compile-time sized to live in registers).
//
// One warp per work item (one request, one arm).  The sums follow the CPU
// backend's order exactly (core/chisq.h), so that M and v, and so -2 ln L,
// are bit-identical on both backends:
//   the pixels form blocks of RVS_NE_BLOCK (then one block of the n % 4 last
//   pixels); lane (bb, q) = (lane / 4, lane % 4) sums, from 0 and in pixel
//   order, the products of the pixels i = q mod 4 of block g0 + bb, for the
//   P(P+1)/2 + P elements; then the partials of the 8 blocks of the group are
//   added, in block order, to the running sums of lane q (shared memory;
//   the partials pass through shared memory too);
//   at the end the four lanes are joined as (l0 + l1) + (l2 + l3).
// The warp also stores ws_i = t_i / sigma_i of every pixel (model pool) for
// resid_kernel.  Per group the warp first samples the Doppler-shifted spline over the
// group's pixels plus the resolution halo into shared memory.
#if !defined(CHISQ_P) || !defined(CHISQ_NAME)
#error "define CHISQ_P and CHISQ_NAME before including cuda_chisq_body.cuh"
#endif

__global__ void __launch_bounds__(CHISQ_THREADS)
CHISQ_NAME(const ditem *__restrict__ items, int nitems, const dslotarm *__restrict__ slotarms,
           const dsetup *__restrict__ setups, const dtpl *__restrict__ tpls,
           const double *__restrict__ tbuf, double *__restrict__ acc, int hmax,
           double *__restrict__ model) {
  extern __shared__ double chisq_smem[];
  enum { NM = CHISQ_P * (CHISQ_P + 1) / 2, NACC = NM + CHISQ_P };
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int item = blockIdx.x * (CHISQ_THREADS / 32) + warp;
  if (item >= nitems) return; // whole warp leaves together
  double *buf = chisq_smem + (size_t)warp * CHISQ_WARP_SMEM(hmax, NACC);
  double *part = buf; // [NACC][PART_STRIDE] a group's partials, over buf once it is read
  double *run = buf + CHISQ_BUF_PART(hmax, NACC); // [q][NACC] running lane sums
  const ditem it = items[item];
  const dslotarm A = slotarms[it.slotarm];
  const dtpl T = tpls[it.tpl];
  const dsetup S = setups[T.setup];
  const double *y = tbuf + T.buf + S.nt;
  const double *z = tbuf + T.buf + 2 * (long long)S.nt;
  const int n = A.n, nd = A.nd, h = nd > 0 ? (nd - 1) / 2 : 0;
  const ne_blocks NB = ne_blocks_of(n);
  const int bb = lane >> 2, q = lane & 3;
  double *ws_out = model + it.moff; // ws_i for resid_kernel
  for (int e = lane; e < 4 * NACC; e += 32) run[e] = 0.0;
  __syncwarp();

#pragma unroll 1
  for (int g0 = 0; g0 < NB.nblk; g0 += 8) {
    const int glast = min(g0 + 8, NB.nblk) - 1;
    const int gs = ne_block_start(&NB, g0), ge = ne_block_end(&NB, glast);
    const int lo = gs - h;
    sample_group(&A, &S, y, z, it.shrink, it.lnoff, lo, ge + h, lane, buf);
    __syncwarp();
    double M[NM], v[CHISQ_P];
#pragma unroll
    for (int e = 0; e < NM; e++) M[e] = 0.0;
#pragma unroll
    for (int j = 0; j < CHISQ_P; j++) v[j] = 0.0;
    const int bl = g0 + bb;
    if (bl <= glast) {
      const int be = ne_block_end(&NB, bl);
#pragma unroll 1
      for (int i = ne_block_start(&NB, bl) + q; i < be; i += 4) {
        const double tt = band_at(&A, buf, i, lo);
        const double ws = tt * A.isig[i];
        ws_out[i] = ws;
        const double w = ws * ws;
        const double dw = A.D[i] * ws;
        double b[CHISQ_P];
#pragma unroll
        for (int j = 0; j < CHISQ_P; j++) b[j] = A.B[(size_t)j * n + i];
        int e = 0;
#pragma unroll
        for (int j = 0; j < CHISQ_P; j++) {
          const double bw = b[j] * w;
          v[j] += b[j] * dw;
#pragma unroll
          for (int k = j; k < CHISQ_P; k++) M[e++] += bw * b[k];
        }
      }
    }
    // the group's blocks, in order, into the running sums run[q][e]: the
    // lanes' partials go through shared memory (part[e][lane], over the
    // group buffer) and lane c
    // adds, for the chains (q, e) = (c % 4, c / 4), c += 32, the partials of
    // blocks 0..nbk-1 in order (a shuffle per element and block cost as much
    // as the sums themselves)
    const int nbk = glast - g0 + 1;
    __syncwarp(); // every lane is done with buf
#pragma unroll
    for (int e = 0; e < NM; e++) part[e * PART_STRIDE + lane] = M[e];
#pragma unroll
    for (int j = 0; j < CHISQ_P; j++) part[(NM + j) * PART_STRIDE + lane] = v[j];
    __syncwarp();
#pragma unroll 1
    for (int c = lane; c < 4 * NACC; c += 32) {
      const int e = c >> 2, qq = c & 3;
      double r = run[qq * NACC + e];
      for (int b = 0; b < nbk; b++) r += part[e * PART_STRIDE + 4 * b + qq];
      run[qq * NACC + e] = r;
    }
    __syncwarp();
  }
  if (lane == 0) {
    double *out = acc + (size_t)item * NACC;
    for (int e = 0; e < NACC; e++)
      out[e] = (run[e] + run[NACC + e]) + (run[2 * NACC + e] + run[3 * NACC + e]);
  }
}

#undef CHISQ_P
#undef CHISQ_NAME
