// One instantiation of the per-(request, arm) likelihood kernel for a fixed
// number of basis functions (C-style "template": cuda_backend.cu includes this
// file once per CHISQ_P with CHISQ_NAME set; the accumulators must be
// compile-time sized to live in registers).
//
// One warp per work item (one request, one arm).  The warp walks the
// observed pixels in chunks of CHISQ_CHUNK: it samples the Doppler-shifted
// spline at the chunk plus the resolution halo into shared memory, applies
// the resolution band, and accumulates in FP64 registers
//   M_jk += B_j B_k t^2/sigma^2  (packed k >= j),  v_j += B_j t d/sigma^2.
// The lane partial sums are reduced in a fixed butterfly order (reruns give
// identical numbers) and lane 0 writes the P(P+1)/2 + P sums of the item.
#if !defined(CHISQ_P) || !defined(CHISQ_NAME)
#error "define CHISQ_P and CHISQ_NAME before including cuda_chisq_body.cuh"
#endif

__global__ void __launch_bounds__(CHISQ_THREADS)
CHISQ_NAME(const ditem *__restrict__ items, int nitems, const dslotarm *__restrict__ slotarms,
           const dsetup *__restrict__ setups, const dtpl *__restrict__ tpls,
           const double *__restrict__ tbuf, double *__restrict__ acc, int hmax) {
  extern __shared__ double chisq_smem[];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int item = blockIdx.x * (CHISQ_THREADS / 32) + warp;
  if (item >= nitems) return; // whole warp leaves together
  double *buf = chisq_smem + (size_t)warp * (CHISQ_CHUNK + 2 * hmax);
  const ditem it = items[item];
  const dslotarm A = slotarms[it.slotarm];
  const dtpl T = tpls[it.tpl];
  const dsetup S = setups[T.setup];
  const double *y = tbuf + T.buf + S.nt;
  const double *z = tbuf + T.buf + 2 * (long long)S.nt;
  const int n = A.n, nd = A.nd, h = nd > 0 ? (nd - 1) / 2 : 0;
  const double shrink = it.shrink, lnoff = it.lnoff;
  enum { NM = CHISQ_P * (CHISQ_P + 1) / 2 };
  double M[NM], v[CHISQ_P];
#pragma unroll
  for (int q = 0; q < NM; q++) M[q] = 0.0;
#pragma unroll
  for (int j = 0; j < CHISQ_P; j++) v[j] = 0.0;

  for (int c0 = 0; c0 < n; c0 += CHISQ_CHUNK) {
    const int lo = c0 - h;
    const int hi = min(c0 + CHISQ_CHUNK, n) + h;
    sample_chunk(&A, &S, y, z, shrink, lnoff, lo, hi, lane, buf);
    __syncwarp();
#pragma unroll 1
    for (int p = 0; p < CHISQ_CHUNK / 32; p++) {
      const int i = c0 + p * 32 + lane;
      if (i >= n) break;
      const double tt = band_value(&A, buf, i, c0);
      const double w = tt * tt * A.isig2[i];
      const double u = tt * A.dsig2[i];
      double b[CHISQ_P];
#pragma unroll
      for (int j = 0; j < CHISQ_P; j++) b[j] = A.B[(size_t)j * n + i];
      int q = 0;
#pragma unroll
      for (int j = 0; j < CHISQ_P; j++) {
        const double bw = b[j] * w;
        v[j] += b[j] * u;
#pragma unroll
        for (int k = j; k < CHISQ_P; k++) M[q++] += bw * b[k];
      }
    }
    __syncwarp();
  }
  double *out = acc + (size_t)item * (NM + CHISQ_P);
#pragma unroll
  for (int q = 0; q < NM; q++) {
    double s = warp_sum(M[q]);
    if (lane == 0) out[q] = s;
  }
#pragma unroll
  for (int j = 0; j < CHISQ_P; j++) {
    double s = warp_sum(v[j]);
    if (lane == 0) out[NM + j] = s;
  }
}

#undef CHISQ_P
#undef CHISQ_NAME
