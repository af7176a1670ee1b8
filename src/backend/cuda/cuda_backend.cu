// CUDA backend (see cuda_backend.h and docs/GPU.md).  C-style CUDA: plain
// structs, extern "C" entry points, every runtime call and launch checked.
//
// One device pass over a sub-batch of RVS_EVAL_CHISQ requests:
//   host:   de-duplicate templates (setup, params, vsini) over the pass,
//           locate them in the interpolator (rvs_interp_locate, OpenMP),
//           vsini kernels, per-request Doppler factors and range checks;
//   device: interp_kernel   spec = exp(sum_k w_k V[vert_k])      per template
//           vsini_kernel    rotational broadening (zero-padded)  if vsini > 0
//           spline_exact_kernel  natural-spline second derivatives, the
//                           CPU's chunked Thomas recurrences op for op
//           chisq_pN        warp per (request, arm): spline sampling,
//                           resolution band, FP64 normal equations
//           finish_kernel   thread per request: Cholesky and solve
//           resid_kernel    warp per (request, arm): the explicit residual
//   host:   ln det, -2 ln L and the sum over arms (glibc log, as the CPU);
//           requests the GPU flags (Cholesky failure, non-finite values) are
//           re-evaluated by the internal CPU backend, as are FULL/CONTINUUM.
//
// Every step repeats the CPU backend's arithmetic in the same order (the
// sums of core/chisq.h, the spline chunks of core/spline.c, exp of
// core/vexp.c), and the file is built with --fmad=false (the C code has no
// contraction either): -2 ln L is bit-identical on both backends, so fits
// follow the same paths (docs/GPU.md, "Parity").
#include <cuda_runtime.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern "C" {
#include "backend/backend.h"
#include "core/basis.h"
#include "core/basis_cache.h"
#include "core/doppler.h"
#include "core/rotation.h"
#include "core/chisq.h"
#include "core/spline.h"
#include "core/vexp_poly.h"
#include "rvs/log.h"
#include "rvs/status.h"
#include "templates/interp.h"
#include "templates/library.h"
}
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_plan.h"
#include "backend/cuda/cuda_check.h"

#ifdef _OPENMP
#include <omp.h>
#endif

// ---------------------------------------------------------------- device-side tables
typedef struct dsetup {
  const void *vspec;       // [nvert][nt] float or double (ln-flux when log_spec)
  const double *x, *hinv;  // template grid, 1/h
  const double *cdash, *iden, *g; // Thomas factors of the spline system (m = nt-2)
  int nt, float_bits, log_spec, grid_kind;
  int carry_par, pad;      // spline carry corrections in parallel (grid allows)
  double x0, inv_dx;       // O(1) interval guess (as core/spline.c)
} dsetup;

typedef struct dslotarm {
  const double *lam, *lnlam, *isig2, *dsig2, *B, *res;
  const double *D, *isig;  // d/sigma and 1/sigma: the explicit residual
  int n, nd, setup, pad;
  double DtD, slsig;       // sum (d/sigma)^2, sum ln sigma
} dslotarm;

typedef struct dtpl {
  int setup, nw, woff, K;  // K: vsini half width in taps (0: no broadening)
  long long toff;          // taps offset (K+1 half weights)
  long long buf;           // doubles: [raw/u][y][z], nt each
} dtpl;

typedef struct ditem {
  int slotarm, tpl;
  double shrink, lnoff;    // lam_rest = lam_obs * shrink; lnoff = ln(shrink) - x0
  long long moff;          // the item's ws_i = t_i / sigma_i in the model pool
} ditem;

typedef struct dreqarm {
  int item;                // -1: template NaN outside the grid (penalty only)
  int tpl;
  double outside;
} dreqarm;

typedef struct dreq {
  int narms, pad;
  double badchi;
} dreq;

#define CHISQ_THREADS 128
#define NE_GROUP (8 * RVS_NE_BLOCK) // pixels per warp iteration: one block per 4 lanes
#define GPU_MAX_ND 1001          // wider resolution bands go to the CPU
#define MAX_TPL_PER_PASS 60000   // grid.y of the template kernels (<= 65535, with slack)
// shared-memory buffer of a group with its halo: one pad double per 32, so
// that the 8 blocks read by a warp fall on different banks
#define PIDX(p) ((p) + ((p) >> 5))
#define GROUP_BUF_LEN(h) (PIDX(NE_GROUP + 2 * (h)) + 1)
// a chisq warp's shared memory: the group buffer, which holds the group's
// partials [nacc][PART_STRIDE] once the group's pixels are summed (stride 36:
// conflict-free stores by lane and reads by (element, lane mod 4)), then the
// running sums [4][nacc]
#define PART_STRIDE 36
#define CHISQ_BUF_PART(h, nacc) \
  (GROUP_BUF_LEN(h) > PART_STRIDE * (nacc) ? GROUP_BUF_LEN(h) : PART_STRIDE * (nacc))
#define CHISQ_WARP_SMEM(h, nacc) (CHISQ_BUF_PART(h, nacc) + 4 * (nacc))

// ---------------------------------------------------------------- device helpers
__device__ __forceinline__ double warp_sum(double x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// The interval of core/spline.c (clamped guess, then walked to exactness) and
// upstream's cubic with the coefficients formed on the fly from y and z.
__device__ __forceinline__ double spline_value(const dsetup *S, const double *y, const double *z,
                                               double q, double t) {
  const int last = S->nt - 2;
  int i;
  if (!(t > 0))
    i = 0;
  else if (t >= (double)last)
    i = last;
  else
    i = (int)t;
  const double *x = S->x;
  while (i > 0 && q < x[i]) i--;
  while (i < last && q >= x[i + 1]) i++;
  const double xi = x[i], xi1 = x[i + 1], hinv = S->hinv[i];
  const double h = xi1 - xi;
  const double t1 = hinv * (1. / 6), t2 = h * (1. / 6);
  const double zi = z[i], zi1 = z[i + 1];
  const double A = zi1 * t1, B = zi * t1;
  const double C = y[i + 1] * hinv - zi1 * t2, D = y[i] * hinv - zi * t2;
  const double dl = q - xi, dr = xi1 - q;
  return A * dl * dl * dl + B * dr * dr * dr + C * dl + D * dr;
}

// rvs_exp1 of core/vexp.c, operation for operation.
__device__ __forceinline__ double dev_exp1(double x) {
  if (!(x >= RVS_EXP_LO && x <= RVS_EXP_HI)) return exp(x);
  const double kd = x * RVS_INV_LN2 + RVS_SHIFT;
  const double kf = kd - RVS_SHIFT;
  double r = x - kf * RVS_LN2_HI;
  r = r - kf * RVS_LN2_LO;
  const double p = RVS_EXP_POLY(r);
  const long long bits = (__double_as_longlong(kd) - __double_as_longlong(RVS_SHIFT) + 1023) << 52;
  return p * __longlong_as_double(bits);
}

// The Doppler-shifted template at the arm's pixels [lo, hi) into
// buf[PIDX(pixel - lo)] (0 outside the arm), the warp's lanes striding: the
// sampling of the chisq kernels and of resid_kernel.
__device__ __forceinline__ void sample_group(const dslotarm *A, const dsetup *S, const double *y,
                                             const double *z, double shrink, double lnoff, int lo,
                                             int hi, int lane, double *buf) {
  for (int idx = lo + lane; idx < hi; idx += 32) {
    double t = 0.0;
    if (idx >= 0 && idx < A->n) {
      double q = A->lam[idx] * shrink;
      double guess = S->grid_kind == RVS_GRID_LOG ? (A->lnlam[idx] + lnoff) * S->inv_dx
                                                  : (q - S->x0) * S->inv_dx;
      t = spline_value(S, y, z, q, guess);
    }
    buf[PIDX(idx - lo)] = t;
  }
}

// The model at pixel i after the resolution band (none: the sample itself),
// summed over the band from 0 in order as rvs_banded_apply_diag (cells
// outside the matrix are stored as 0 and meet 0 samples: exact no-ops);
// buf starts at pixel lo (the group's first pixel minus the halo h).
__device__ __forceinline__ double band_at(const dslotarm *A, const double *buf, int i, int lo) {
  const int nd = A->nd;
  if (nd <= 0) return buf[PIDX(i - lo)];
  const double *row = A->res + (size_t)i * nd;
  const int base = i - lo - (nd - 1) / 2; // column i + m - h at buf position base + m
  double tt = 0.0;
  for (int m = 0; m < nd; m++) tt += row[m] * buf[PIDX(base + m)];
  return tt;
}

// The blocks of the normal-equation sums (core/chisq.h): [128 b, ...) over
// [0, n4), then [n4, n) when n % 4 != 0.
typedef struct ne_blocks {
  int n, n4, nreg, nblk;
} ne_blocks;

__device__ __forceinline__ ne_blocks ne_blocks_of(int n) {
  ne_blocks B;
  B.n = n;
  B.n4 = n & ~3;
  B.nreg = (B.n4 + RVS_NE_BLOCK - 1) / RVS_NE_BLOCK;
  B.nblk = B.nreg + (n > B.n4 ? 1 : 0);
  return B;
}
__device__ __forceinline__ int ne_block_start(const ne_blocks *B, int b) {
  return b < B->nreg ? b * RVS_NE_BLOCK : B->n4;
}
__device__ __forceinline__ int ne_block_end(const ne_blocks *B, int b) {
  return b < B->nreg ? min((b + 1) * RVS_NE_BLOCK, B->n4) : B->n;
}

// ---------------------------------------------------------------- template kernels
__global__ void interp_kernel(const dtpl *__restrict__ tpls, const dsetup *__restrict__ setups,
                              const int *__restrict__ verts, const double *__restrict__ wts,
                              double *__restrict__ tbuf, int *__restrict__ tflag) {
  const dtpl T = tpls[blockIdx.y];
  const dsetup S = setups[T.setup];
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= S.nt) return;
  const int *vv = verts + T.woff;
  const double *ww = wts + T.woff;
  double s;
  if (S.float_bits == 32) {
    const float *V = (const float *)S.vspec;
    s = ww[0] * (double)V[(size_t)vv[0] * S.nt + j];
    for (int k = 1; k < T.nw; k++) s += ww[k] * (double)V[(size_t)vv[k] * S.nt + j];
  } else {
    const double *V = (const double *)S.vspec;
    s = ww[0] * V[(size_t)vv[0] * S.nt + j];
    for (int k = 1; k < T.nw; k++) s += ww[k] * V[(size_t)vv[k] * S.nt + j];
  }
  // below RVS_EXP_LO (flux < 3e-308) dev_exp1 falls back to CUDA's exp,
  // which need not round as glibc's: such a template goes to the CPU (bit 2)
  if (S.log_spec && s < RVS_EXP_LO && isfinite(s)) atomicOr(&tflag[blockIdx.y], 2);
  if (S.log_spec) s = dev_exp1(s);
  double *out = tbuf + T.buf + (T.K > 0 ? 0 : S.nt); // raw when broadened next, else y
  out[j] = s;
  // upstream's test (used when outside > 0): non-finite or max |spec| > 1e100
  if (!isfinite(s) || fabs(s) > 1e100) atomicOr(&tflag[blockIdx.y], 1);
}

__global__ void vsini_kernel(const int *__restrict__ vlist, const dtpl *__restrict__ tpls,
                             const dsetup *__restrict__ setups, const double *__restrict__ taps,
                             double *__restrict__ tbuf) {
  const dtpl T = tpls[vlist[blockIdx.y]];
  const int nt = setups[T.setup].nt;
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= nt) return;
  const double *raw = tbuf + T.buf;
  const double *w = taps + T.toff;
  double s = w[0] * raw[j];
  for (int k = 1; k <= T.K; k++) {
    double l = j - k >= 0 ? raw[j - k] : 0.0;
    double r = j + k < nt ? raw[j + k] : 0.0;
    s += w[k] * (l + r);
  }
  tbuf[T.buf + nt + j] = s;
}

// The Thomas recurrences of core/spline.c (recur_up / recur_down), operation
// for operation: below NCHUNK * CHUNK_MIN rows one sequential chain;
// otherwise NCHUNK chains (one lane each) solved from a zero carry, then the
// remainder rows and the carry corrections.  The corrections are given one
// per lane when the setup's grid makes them independent (par: no correction
// reaches the next chunk's carry row, rvs_spline_carries_independent), else
// all to lane 0 in the CPU's order; either way every row gets the CPU's
// operations.  (As written, the loop over c has one active lane per
// iteration, so the warp still runs them one after another; branch
// s9-spline has lane c run chunk c's loop.)  Each chain carries its last
// value in a register.  The caller is one warp; v and f are in global memory.
__device__ void spline_recur_up(double *__restrict__ v, const double *__restrict__ f, int m,
                                int l, int par) {
  if (m < RVS_SPLINE_NCHUNK * RVS_SPLINE_CHUNK_MIN) {
    if (l == 0) {
      double p = v[0];
      for (int i = 1; i < m; i++) v[i] = p = v[i] - f[i] * p;
    }
    return;
  }
  const int L = m / RVS_SPLINE_NCHUNK;
  if (l < RVS_SPLINE_NCHUNK) {
    const int b = l * L;
    double p = v[b];
    for (int t = 1; t < L; t++) v[b + t] = p = v[b + t] - f[b + t] * p;
    if (l == RVS_SPLINE_NCHUNK - 1) // the remainder rows continue the last chain
      for (int i = RVS_SPLINE_NCHUNK * L; i < m; i++) v[i] = p = v[i] - f[i] * p;
  }
  __syncwarp();
  for (int c = 1; c < RVS_SPLINE_NCHUNK; c++) {
    if (par ? l != c : l != 0) continue;
    const int s0 = c * L, end = c + 1 < RVS_SPLINE_NCHUNK ? s0 + L : m;
    const double carry = v[s0 - 1];
    double q = 1;
    for (int i = s0; i < end; i++) {
      q *= -f[i];
      v[i] += q * carry;
      if (fabs(q) < RVS_SPLINE_CARRY_EPS) break;
    }
  }
}

__device__ void spline_recur_down(double *__restrict__ v, const double *__restrict__ f, int m,
                                  int l, int par) {
  if (m < RVS_SPLINE_NCHUNK * RVS_SPLINE_CHUNK_MIN) {
    if (l == 0) {
      double p = v[m - 1];
      for (int j = m - 2; j >= 0; j--) v[j] = p = v[j] - f[j] * p;
    }
    return;
  }
  const int L = m / RVS_SPLINE_NCHUNK, r = m - RVS_SPLINE_NCHUNK * L;
  if (l < RVS_SPLINE_NCHUNK) { // chunk [r + cL, r + (c+1)L) from its top down
    const int lo = r + l * L, top = lo + L - 1;
    double p = v[top];
    for (int j = top - 1; j >= lo; j--) v[j] = p = v[j] - f[j] * p;
  }
  __syncwarp();
  for (int c = RVS_SPLINE_NCHUNK - 2; c >= 0; c--) {
    if (par ? l != c : l != 0) continue;
    const int top = r + (c + 1) * L, lo = r + c * L;
    const double carry = v[top];
    double q = 1;
    for (int j = top - 1; j >= lo; j--) {
      q *= -f[j];
      v[j] += q * carry;
      if (fabs(q) < RVS_SPLINE_CARRY_EPS) break;
    }
    if (c == 0) { // chunk 0's rows below the chains, once chunk 0 is final
      double p = v[r];
      for (int j = r - 1; j >= 0; j--) v[j] = p = v[j] - f[j] * p;
    }
  }
}

// z of one template (solve_z of core/spline.c): rhs (32 lanes), forward,
// backward, in place in z[1..nt-2].  One warp per template.
__global__ void __launch_bounds__(32)
spline_exact_kernel(const dtpl *__restrict__ tpls, const dsetup *__restrict__ setups,
                    double *__restrict__ tbuf) {
  const dtpl T = tpls[blockIdx.x];
  const dsetup S = setups[T.setup];
  const int nt = S.nt, m = nt - 2, l = threadIdx.x;
  const double *y = tbuf + T.buf + nt;
  double *z = tbuf + T.buf + 2 * (long long)nt;
  double *v = z + 1;
  for (int i = l; i < m; i += 32) {
    const double b0 = (y[i + 1] - y[i]) * S.hinv[i], b1 = (y[i + 2] - y[i + 1]) * S.hinv[i + 1];
    v[i] = 6 * (b1 - b0) * S.iden[i];
  }
  __syncwarp();
  spline_recur_up(v, S.g, m, l, S.carry_par);
  __syncwarp();
  spline_recur_down(v, S.cdash, m, l, S.carry_par);
  if (l == 0) {
    z[0] = 0;
    z[nt - 1] = 0;
  }
}

// ---------------------------------------------------------------- likelihood kernels
#define CHISQ_P 1
#define CHISQ_NAME chisq_p1
#include "backend/cuda/cuda_chisq_body.cuh"
#define CHISQ_P 2
#define CHISQ_NAME chisq_p2
#include "backend/cuda/cuda_chisq_body.cuh"
#define CHISQ_P 3
#define CHISQ_NAME chisq_p3
#include "backend/cuda/cuda_chisq_body.cuh"
#define CHISQ_P 4
#define CHISQ_NAME chisq_p4
#include "backend/cuda/cuda_chisq_body.cuh"
#define CHISQ_P 5
#define CHISQ_NAME chisq_p5
#include "backend/cuda/cuda_chisq_body.cuh"
#define CHISQ_P 6
#define CHISQ_NAME chisq_p6
#include "backend/cuda/cuda_chisq_body.cuh"
#define CHISQ_P 7
#define CHISQ_NAME chisq_p7
#include "backend/cuda/cuda_chisq_body.cuh"
#define CHISQ_P 8
#define CHISQ_NAME chisq_p8
#include "backend/cuda/cuda_chisq_body.cuh"
#define CHISQ_P 9
#define CHISQ_NAME chisq_p9
#include "backend/cuda/cuda_chisq_body.cuh"
#define CHISQ_P 10
#define CHISQ_NAME chisq_p10
#include "backend/cuda/cuda_chisq_body.cuh"
#define CHISQ_P 11
#define CHISQ_NAME chisq_p11
#include "backend/cuda/cuda_chisq_body.cuh"
#define CHISQ_P 12
#define CHISQ_NAME chisq_p12
#include "backend/cuda/cuda_chisq_body.cuh"

typedef void (*chisq_fn)(const ditem *, int, const dslotarm *, const dsetup *, const dtpl *,
                         const double *, double *, int, double *);
static const chisq_fn chisq_kernels[RVS_CUDA_MAX_NPOLY + 1] = {
    NULL, chisq_p1, chisq_p2, chisq_p3, chisq_p4, chisq_p5, chisq_p6,
    chisq_p7, chisq_p8, chisq_p9, chisq_p10, chisq_p11, chisq_p12};

// Per request: the solve of every arm, as rvs_chol_factor / rvs_chol_solve
// of core/linalg.c (pivot threshold 4x stricter, so that a matrix the GPU
// accepts is one the CPU accepts too).  Writes per item the coefficients
// (over the start of its sums, for resid_kernel) and diag(L) to iout[item][1..P];
// ln det and the sums are formed on the host (finish_requests).  flag = 1
// sends the request to the CPU backend (eigen fallback, non-finite values,
// bad template values inside the grid).
__global__ void finish_kernel(const dreq *__restrict__ reqs, const dreqarm *__restrict__ ra,
                              int nreq, double *__restrict__ acc, const int *__restrict__ tflag,
                              int P, double *__restrict__ iout, int *__restrict__ out_flag) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= nreq) return;
  const dreq R = reqs[r];
  const int NM = P * (P + 1) / 2, NACC = NM + P;
  double L[RVS_CUDA_MAX_NPOLY * RVS_CUDA_MAX_NPOLY], v[RVS_CUDA_MAX_NPOLY];
  int flag = 0;
  for (int a = 0; a < R.narms && !flag; a++) {
    const dreqarm A = ra[(size_t)r * RVS_MAXARMS + a];
    if (A.item < 0) continue;               // NaN template: penalty only
    const int bad = tflag[A.tpl];
    if (bad & 2) {                          // exp below glibc's range: CPU
      flag = 1;
      break;
    }
    if (bad && A.outside > 0) continue;     // upstream: outside = NaN
    if (bad) {
      flag = 1;
      break;
    }
    double *s = acc + (size_t)A.item * NACC;  // read before the coefficients overwrite it
    int q = 0;
    for (int j = 0; j < P; j++)
      for (int k = j; k < P; k++, q++) L[k * P + j] = s[q]; // lower triangle, row k col j
    for (int j = 0; j < P; j++) v[j] = s[NM + j];
    int ok = 1;
    for (int j = 0; j < P && ok; j++) {
      const double ajj = L[j * P + j];
      double d = ajj;
      for (int k = 0; k < j; k++) d -= L[j * P + k] * L[j * P + k];
      if (!(d > 4.0 * P * DBL_EPSILON * ajj) || !(d > 0.0) || !isfinite(d)) {
        ok = 0;
        break;
      }
      const double ljj = sqrt(d);
      L[j * P + j] = ljj;
      const double inv = 1.0 / ljj;
      for (int i = j + 1; i < P; i++) {
        double t = L[i * P + j];
        for (int k = 0; k < j; k++) t -= L[i * P + k] * L[j * P + k];
        L[i * P + j] = t * inv;
      }
    }
    if (!ok) {
      flag = 1;
      break;
    }
    for (int i = 0; i < P; i++) {
      double t = v[i];
      for (int k = 0; k < i; k++) t -= L[i * P + k] * v[k];
      v[i] = t / L[i * P + i];
    }
    for (int i = P - 1; i >= 0; i--) {
      double t = v[i];
      for (int k = i + 1; k < P; k++) t -= L[k * P + i] * v[k];
      v[i] = t / L[i * P + i];
    }
    double *io = iout + (size_t)A.item * (P + 1);
    for (int j = 0; j < P; j++) {
      if (!isfinite(v[j])) flag = 1;
      s[j] = v[j];
      io[1 + j] = L[j * P + j];
    }
  }
  out_flag[r] = flag;
}

// The explicit residual of an item, summed in the CPU's order (core/chisq.h):
// r_i = D_i - ws_i sum_j a_j B_j(i), with ws_i = t_i / sigma_i as the chisq
// kernel computed and stored it (so no second sampling of the spline and
// band), r_i^2 summed per lane q = i % 4 in pixel order over [0, n4), the
// last n % 4 pixels added to lane 0, the lanes joined as (l0 + l1) + (l2 + l3).
// The warp forms r_i^2 of a group in parallel; lanes 0..3 then add them up.
// a: the coefficients finish_kernel left at the start of the item's sums;
// the result goes to iout[item][0].
__global__ void __launch_bounds__(CHISQ_THREADS)
resid_kernel(const ditem *__restrict__ items, int nitems, const dslotarm *__restrict__ slotarms,
             const double *__restrict__ model, const double *__restrict__ acc, int P,
             double *__restrict__ iout) {
  extern __shared__ double chisq_smem[];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int item = blockIdx.x * (CHISQ_THREADS / 32) + warp;
  if (item >= nitems) return;
  double *r2 = chisq_smem + (size_t)warp * NE_GROUP;
  const ditem it = items[item];
  const dslotarm A = slotarms[it.slotarm];
  const double *ws_of = model + it.moff;
  const int n = A.n;
  const int NACC = P * (P + 1) / 2 + P;
  const double *co = acc + (size_t)item * NACC;
  double a[RVS_CUDA_MAX_NPOLY];
#pragma unroll
  for (int j = 0; j < RVS_CUDA_MAX_NPOLY; j++) a[j] = j < P ? co[j] : 0.0;
  const ne_blocks NB = ne_blocks_of(n);
  double sum = 0.0; // lanes 0..3: the lane's running sum
#pragma unroll 1
  for (int g0 = 0; g0 < NB.nblk; g0 += 8) {
    const int glast = min(g0 + 8, NB.nblk) - 1;
    const int gs = ne_block_start(&NB, g0), ge = ne_block_end(&NB, glast);
    for (int i = gs + lane; i < ge; i += 32) {
      double c = a[0] * A.B[i];
#pragma unroll
      for (int j = 1; j < RVS_CUDA_MAX_NPOLY; j++)
        if (j < P) c += a[j] * A.B[(size_t)j * n + i];
      const double rr = A.D[i] - ws_of[i] * c;
      r2[i - gs] = rr * rr;
    }
    __syncwarp();
    if (lane < 4) {
      const int e4 = min(ge, NB.n4);
      for (int i = gs + lane; i < e4; i += 4) sum += r2[i - gs];
      if (lane == 0)
        for (int i = max(gs, NB.n4); i < ge; i++) sum += r2[i - gs];
    }
    __syncwarp();
  }
  const double s1 = __shfl_sync(0xffffffffu, sum, 1);
  const double s2 = __shfl_sync(0xffffffffu, sum, 2);
  const double s3 = __shfl_sync(0xffffffffu, sum, 3);
  if (lane == 0) iout[(size_t)item * (P + 1)] = (sum + s1) + (s2 + s3);
}

// ---------------------------------------------------------------- host-side state
typedef struct cu_setup {
  const rvs_interp *ip;
  int nparam, maxw, spline_rc, nt;
  double lnstep, xlo, xhi;
  void *d_vspec;
  double *d_grid; // x, hinv, cdash, iden, g: nt each
} cu_setup;

typedef struct cu_arm {
  int setup;
  size_t n;
  int nd;
  double lam0, lamN;
  void *d_mem;
} cu_arm;

typedef struct cu_slot {
  int used, narms, gpu; // gpu = 0: every request of the slot goes to the CPU
  long ntot;
  cu_arm arm[RVS_MAXARMS];
} cu_slot;

enum { POOL_TBUF, POOL_ACC, POOL_META, POOL_OUT, POOL_MODEL, NPOOL };

typedef struct cu_tpl_host {  // one de-duplicated template of a pass
  int rc;          // locate status
  int nw;
  double outside;
  int K;           // vsini half width (0: none; -1: invalid vsini)
  int dev;         // device template index, -1 if not built
} cu_tpl_host;

typedef struct cuda_backend {
  rvs_backend base;
  rvs_template_lib *lib;
  rvs_backend_options opt;
  rvs_backend *cpu;
  int device, P, gpu_ok;
  cudaStream_t stream;
  int nsetups;
  cu_setup setups[RVS_LIB_MAX_SETUPS];
  dsetup h_setups[RVS_LIB_MAX_SETUPS];
  dsetup *d_setups;
  cu_slot *slots;
  int nslots, cap;
  dslotarm *h_slotarms, *d_slotarms; // [cap * RVS_MAXARMS]
  void *pool[NPOOL];
  size_t pool_cap[NPOOL];
  size_t scratch_limit, max_tpl, max_tpl_user;
  size_t max_ttpix;        // observed pixels of a pass (doubles of POOL_MODEL), at most
  // host scratch of a pass (grown, reused)
  rvs_cuda_tplmap map;
  int *rq_tid;            // [nreq * MAXARMS]
  rvs_cuda_tplkey *rq_key; // [nreq * MAXARMS]: the template keys of a pass's requests
  uint64_t *rq_hash;      // [nreq * MAXARMS]: their hashes
  size_t rqkcap, rqhcap;
  cu_tpl_host *tinfo;     // [ntpl]
  int *tvert;             // [ntpl * maxw]
  double *twt;            // [ntpl * maxw]
  size_t tcap, twcap, rqcap;
  unsigned char *meta;    // upload staging
  size_t metacap;
  double *h_iout;         // per item: residual, diag(L)
  int *h_flag;
  size_t outcap, flagcap;
  int *fb_idx;            // requests for the CPU backend
  size_t fbcap;
  rvs_cuda_stats stats;
  int profile;
  cudaEvent_t ev[7];
  // per wavelength grid: lam, ln lam, B on the host (basis) and their device
  // copies (dbasis[k] mirrors the host entry whose B is dbasis_key[k])
  rvs_basis_cache basis;
  const double *dbasis_key[RVS_BASIS_CACHE_MAX];
  double *dbasis[RVS_BASIS_CACHE_MAX];
  int ndbasis;
} cuda_backend;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return RVS_OK;
  size_t nc = need + need / 2 + 16;
  void *q = realloc(*p, nc * elem);
  if (!q) return rvs_error(RVS_ERR_NOMEM, "CUDA backend: no host memory (%zu bytes)", nc * elem);
  *p = q;
  *cap = nc;
  return RVS_OK;
}

// Device scratch: grown on demand, kept between passes.  cudaMalloc failure
// (or the test limit) returns RVS_ERR_NOMEM so that the caller can shrink.
static int pool_need(cuda_backend *cb, int which, size_t bytes) {
  if (bytes == 0) bytes = 256;
  if (cb->pool_cap[which] >= bytes) return RVS_OK;
  size_t nc = bytes + bytes / 4;
  if (cb->scratch_limit) {
    size_t others = 0;
    for (int i = 0; i < NPOOL; i++)
      if (i != which) others += cb->pool_cap[i];
    if (others + nc > cb->scratch_limit) nc = bytes;
    if (others + nc > cb->scratch_limit)
      return rvs_error(RVS_ERR_NOMEM, "CUDA backend: scratch limit %zu bytes reached (test)",
                       cb->scratch_limit);
  }
  if (cb->pool[which]) CK(cudaFree(cb->pool[which]));
  cb->pool[which] = NULL;
  cb->pool_cap[which] = 0;
  void *p = NULL;
  CK(cudaMalloc(&p, nc));
  cb->pool[which] = p;
  cb->pool_cap[which] = nc;
  return RVS_OK;
}

// ---------------------------------------------------------------- setups
static int setup_index(cuda_backend *cb, const rvs_interp *ip, int *out) {
  for (int s = 0; s < cb->nsetups; s++)
    if (cb->setups[s].ip == ip) {
      *out = s;
      return RVS_OK;
    }
  if (cb->nsetups == RVS_LIB_MAX_SETUPS)
    return rvs_error(RVS_ERR_ARG, "CUDA backend: more than %d setups", RVS_LIB_MAX_SETUPS);
  cu_setup *S = &cb->setups[cb->nsetups];
  dsetup *D = &cb->h_setups[cb->nsetups];
  memset(S, 0, sizeof *S);
  memset(D, 0, sizeof *D);
  S->ip = ip;
  S->nparam = rvs_interp_nparam(ip);
  S->maxw = rvs_interp_max_weights(ip);
  size_t nt = rvs_interp_npix(ip);
  const double *lt = rvs_interp_lam(ip);
  if (nt < 4 || nt > (size_t)INT32_MAX / 4)
    return rvs_error(RVS_ERR_ARG, "CUDA backend: template grid of %zu pixels", nt);
  S->nt = (int)nt;
  S->lnstep = log(lt[1] / lt[0]); // as the CPU backend
  S->xlo = lt[0];
  S->xhi = lt[nt - 1];
  int bits = 0;
  const void *vs = rvs_interp_vertex_specs(ip, &bits);
  size_t nv = rvs_interp_nvert(ip);
  if (!vs || (bits != 32 && bits != 64))
    return rvs_error(RVS_ERR_ARG, "CUDA backend: interpolator without vertex spectra");
  size_t vbytes = nv * nt * (size_t)(bits / 8);
  CK(cudaMalloc(&S->d_vspec, vbytes));
  CK(cudaMemcpy(S->d_vspec, vs, vbytes, cudaMemcpyHostToDevice));
  // spline grid factors, as the CPU backend builds them (forced grid kind)
  rvs_spline spl;
  int kind = rvs_interp_log_step(ip) ? RVS_GRID_LOG : RVS_GRID_LINEAR;
  S->spline_rc = rvs_spline_init_grid(&spl, lt, nt, kind);
  double *h = (double *)calloc(5 * nt, sizeof(double));
  if (!h) {
    if (!S->spline_rc) rvs_spline_free(&spl);
    return rvs_error(RVS_ERR_NOMEM, "CUDA backend: no host memory");
  }
  if (S->spline_rc == RVS_OK) {
    memcpy(h, spl.x, sizeof(double) * nt);
    memcpy(h + nt, spl.hinv, sizeof(double) * (nt - 1));
    memcpy(h + 2 * nt, spl.tri_c, sizeof(double) * nt);
    memcpy(h + 3 * nt, spl.tri_d, sizeof(double) * nt);
    memcpy(h + 4 * nt, spl.tri_g, sizeof(double) * nt);
    D->grid_kind = spl.grid_kind;
    D->carry_par = rvs_spline_carries_independent(spl.tri_g, spl.tri_c, nt - 2);
    D->x0 = spl.x0;
    D->inv_dx = spl.inv_dx;
    rvs_spline_free(&spl);
  } else {
    rvs_clear_error();
    for (size_t i = 0; i < nt; i++) h[i] = lt[i];
  }
  CK(cudaMalloc((void **)&S->d_grid, 5 * nt * sizeof(double)));
  cudaError_t e = cudaMemcpy(S->d_grid, h, 5 * nt * sizeof(double), cudaMemcpyHostToDevice);
  free(h);
  CK(e);
  D->vspec = S->d_vspec;
  D->x = S->d_grid;
  D->hinv = S->d_grid + nt;
  D->cdash = S->d_grid + 2 * nt;
  D->iden = S->d_grid + 3 * nt;
  D->g = S->d_grid + 4 * nt;
  D->nt = (int)nt;
  D->float_bits = bits;
  D->log_spec = rvs_interp_log_spec(ip);
  CK(cudaMemcpy(cb->d_setups + cb->nsetups, D, sizeof *D, cudaMemcpyHostToDevice));
  *out = cb->nsetups++;
  rvs_log(RVS_LOG_DEBUG, "CUDA backend: setup %d: %zu vertices x %d pixels (%d-bit)", *out, nv,
          (int)nt, bits);
  return RVS_OK;
}

// ---------------------------------------------------------------- slots
// Spectra come and go at thousands per second: their device memory is
// stream-ordered (cudaMallocAsync/cudaFreeAsync from the device's pool, kept
// allocated by a high release threshold), because cudaFree synchronises the
// whole device and cudaMalloc is slow.
static void free_slot_dev(cuda_backend *cb, cu_slot *s) {
  for (int a = 0; a < s->narms; a++)
    if (s->arm[a].d_mem) (void)cudaFreeAsync(s->arm[a].d_mem, cb->stream);
  memset(s, 0, sizeof *s);
}

static int ensure_slot_cap(cuda_backend *cb, int idx) {
  if (idx < cb->cap) return RVS_OK;
  int nc = cb->cap ? cb->cap : 64;
  while (nc <= idx) nc *= 2;
  cu_slot *ns = (cu_slot *)realloc(cb->slots, sizeof *ns * (size_t)nc);
  if (!ns) return rvs_error(RVS_ERR_NOMEM, "CUDA backend: no memory for slots");
  memset(ns + cb->cap, 0, sizeof *ns * (size_t)(nc - cb->cap));
  cb->slots = ns;
  dslotarm *hs = (dslotarm *)realloc(cb->h_slotarms, sizeof *hs * (size_t)nc * RVS_MAXARMS);
  if (!hs) return rvs_error(RVS_ERR_NOMEM, "CUDA backend: no memory for slots");
  memset(hs + (size_t)cb->cap * RVS_MAXARMS, 0,
         sizeof *hs * (size_t)(nc - cb->cap) * RVS_MAXARMS);
  cb->h_slotarms = hs;
  dslotarm *ds = NULL;
  CK(cudaMalloc((void **)&ds, sizeof *ds * (size_t)nc * RVS_MAXARMS));
  cudaError_t e = cudaMemcpy(ds, hs, sizeof *ds * (size_t)nc * RVS_MAXARMS, cudaMemcpyHostToDevice);
  if (e != cudaSuccess) {
    (void)cudaFree(ds);
    CK(e);
  }
  if (cb->d_slotarms) CK(cudaFree(cb->d_slotarms));
  cb->d_slotarms = ds;
  cb->cap = nc;
  return RVS_OK;
}

// Per-arm device constants: lam, ln lam, 1/sigma^2, d/sigma^2, basis, band.
// The device copy of a wavelength grid's [lam | ln lam | B] (shared by every
// spectrum on that grid: uploaded once, kept for the backend's life), or
// NULL when the grid is not cached.
static int grid_arrays(cuda_backend *cb, const rvs_arm *in, double **dev) {
  *dev = NULL;
  const rvs_basis_entry *be = NULL;
  int rc = rvs_basis_cache_get(&cb->basis, in->lam, in->n, cb->P, cb->opt.rbf_continuum, &be);
  if (rc || !be) return rc;
  for (int k = 0; k < cb->ndbasis; k++)
    if (cb->dbasis_key[k] == be->B) {
      *dev = cb->dbasis[k];
      return RVS_OK;
    }
  if (cb->ndbasis >= RVS_BASIS_CACHE_MAX) return RVS_OK;
  const size_t n = in->n, P = (size_t)cb->P;
  double *d = NULL;
  CK(cudaMalloc((void **)&d, sizeof(double) * (2 + P) * n));
  cudaError_t e = cudaMemcpy(d, be->lam, sizeof(double) * n, cudaMemcpyHostToDevice);
  if (e == cudaSuccess) e = cudaMemcpy(d + n, be->lnlam, sizeof(double) * n, cudaMemcpyHostToDevice);
  if (e == cudaSuccess) e = cudaMemcpy(d + 2 * n, be->B, sizeof(double) * P * n, cudaMemcpyHostToDevice);
  if (e != cudaSuccess) {
    (void)cudaFree(d);
    return cuda_fail(e, "upload of a wavelength grid", __FILE__, __LINE__);
  }
  cb->dbasis_key[cb->ndbasis] = be->B;
  cb->dbasis[cb->ndbasis++] = d;
  *dev = d;
  return RVS_OK;
}

static int upload_arm(cuda_backend *cb, const rvs_arm *in, int setup, cu_arm *A, dslotarm *D) {
  const size_t n = in->n;
  const int P = cb->P;
  const int nd = in->resol_ndiag > 0 && in->resol ? in->resol_ndiag : 0;
  double *dgrid = NULL;
  int rc = grid_arrays(cb, in, &dgrid);
  if (rc) return rc;
  // per spectrum: [isig2 | dsig2 | D | isig | band], plus [lam | ln lam | B]
  // when the grid is not shared
  size_t ngrid = dgrid ? 0 : 2 * n + (size_t)P * n;
  size_t ndbl = 4 * n + (size_t)nd * n + ngrid;
  double *h = (double *)malloc(sizeof(double) * ndbl);
  if (!h) return rvs_error(RVS_ERR_NOMEM, "CUDA backend: no host memory for a spectrum");
  double *isig2 = h, *dsig2 = h + n, *Dv = h + 2 * n, *isg = h + 3 * n, *res = h + 4 * n;
  double *lam = res + (size_t)nd * n, *lnlam = lam + n, *B = lam + 2 * n;
  double dtd = 0, lsig = 0;
  for (size_t i = 0; i < n; i++) {
    double s = in->sigma[i];
    if (!dgrid) {
      lam[i] = in->lam[i];
      lnlam[i] = log(in->lam[i]);
    }
    isig2[i] = 1.0 / (s * s);
    dsig2[i] = in->flux[i] / (s * s);
    double Di = in->flux[i] / s; // as the CPU backend: D = d/sigma, 1/sigma
    Dv[i] = Di;
    isg[i] = 1.0 / s;
    dtd += Di * Di;
  }
  for (size_t i = 0; i < n; i++) lsig += log(in->sigma[i]);
  if (!dgrid && (rc = rvs_continuum_basis(in->lam, n, P, cb->opt.rbf_continuum, B))) {
    free(h);
    return rc;
  }
  if (nd) {
    // cells outside the matrix are never used by the CPU: store zeros
    int half = (nd - 1) / 2;
    for (size_t i = 0; i < n; i++)
      for (int m = 0; m < nd; m++) {
        long c = (long)i + m - half;
        res[i * nd + m] = (c >= 0 && (size_t)c < n) ? in->resol[i * nd + m] : 0.0;
      }
  }
  void *d = NULL;
  cudaError_t e = cudaMallocAsync(&d, sizeof(double) * ndbl, cb->stream);
  // from pageable memory the copy is staged before the call returns: h may go
  if (e == cudaSuccess)
    e = cudaMemcpyAsync(d, h, sizeof(double) * ndbl, cudaMemcpyHostToDevice, cb->stream);
  free(h);
  if (e != cudaSuccess) {
    if (d) (void)cudaFreeAsync(d, cb->stream);
    return cuda_fail(e, "upload of a spectrum", __FILE__, __LINE__);
  }
  double *dd = (double *)d;
  A->d_mem = d;
  A->setup = setup;
  A->n = n;
  A->nd = nd;
  A->lam0 = in->lam[0];
  A->lamN = in->lam[n - 1];
  memset(D, 0, sizeof *D);
  const double *g = dgrid ? dgrid : dd + 4 * n + (size_t)nd * n;
  D->lam = (double *)g;
  D->lnlam = (double *)g + n;
  D->B = (double *)g + 2 * n;
  D->isig2 = dd;
  D->dsig2 = dd + n;
  D->D = dd + 2 * n;
  D->isig = dd + 3 * n;
  D->res = nd ? dd + 4 * n : NULL;
  D->n = (int)n;
  D->nd = nd;
  D->setup = setup;
  D->DtD = dtd;
  D->slsig = lsig;
  return RVS_OK;
}

static int cu_add_slot(rvs_backend *b, const rvs_spectrum *spec, int *slot) {
  cuda_backend *cb = (cuda_backend *)b->impl;
  int idx = -1;
  int rc = cb->cpu->add_slot(cb->cpu, spec, &idx); // validates, as the CPU backend
  if (rc) return rc;
  if ((rc = ensure_slot_cap(cb, idx))) goto fail;
  {
    cu_slot *s = &cb->slots[idx];
    free_slot_dev(cb, s);
    s->used = 1;
    s->gpu = cb->gpu_ok;
    for (int a = 0; a < spec->narms; a++) {
      const rvs_arm *in = &spec->arms[a];
      if (in->n > (size_t)INT32_MAX / 16) {
        rc = rvs_error(RVS_ERR_ARG, "CUDA backend: arm of %zu pixels", in->n);
        goto fail_slot;
      }
      rvs_interp *ip = NULL;
      int si = 0;
      if ((rc = rvs_template_lib_interp(cb->lib, in->setup, &ip))) goto fail_slot;
      if ((rc = setup_index(cb, ip, &si))) goto fail_slot;
      dslotarm *D = &cb->h_slotarms[(size_t)idx * RVS_MAXARMS + a];
      s->narms = a + 1;
      if ((rc = upload_arm(cb, in, si, &s->arm[a], D))) goto fail_slot;
      if (s->arm[a].nd > GPU_MAX_ND) s->gpu = 0;
      s->ntot += (long)in->n;
    }
    CK(cudaMemcpyAsync(cb->d_slotarms + (size_t)idx * RVS_MAXARMS,
                       cb->h_slotarms + (size_t)idx * RVS_MAXARMS, sizeof(dslotarm) * RVS_MAXARMS,
                       cudaMemcpyHostToDevice, cb->stream));
    if (idx >= cb->nslots) cb->nslots = idx + 1;
    *slot = idx;
    return RVS_OK;
  fail_slot:
    free_slot_dev(cb, s);
  }
fail:
  cb->cpu->remove_slot(cb->cpu, idx);
  return rc;
}

static void cu_remove_slot(rvs_backend *b, int slot) {
  cuda_backend *cb = (cuda_backend *)b->impl;
  cb->cpu->remove_slot(cb->cpu, slot);
  if (slot >= 0 && slot < cb->nslots) free_slot_dev(cb, &cb->slots[slot]);
}

static int cu_get_model(rvs_backend *b, int slot, int arm, double *model) {
  cuda_backend *cb = (cuda_backend *)b->impl;
  return cb->cpu->get_model(cb->cpu, slot, arm, model);
}

// ---------------------------------------------------------------- one device pass
static size_t align256(size_t x) { return (x + 255) & ~(size_t)255; }

static double wall_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Host planning step k ended now: its seconds since *t_step, and the next
// step starts here.
static void step_done(cuda_backend *cb, int k, double *t_step) {
  const double t = wall_seconds();
  cb->stats.host_step_s[k] += t - *t_step;
  *t_step = t;
}

// -2 ln L of the requests the device solved, summed exactly as eval_one of
// the CPU backend: per arm in order, the NaN-template penalty, or the
// outside-of-grid penalty then (ln det + 2 sum ln sigma) + residual, with
// ln det = 2 sum_i log L_ii (rvs_chol_logdet; glibc log on both backends).
// A non-finite ln det or value sets the request's flag (CPU fallback).
static void finish_requests(cuda_backend *cb, const rvs_eval_request *req, const int *gidx,
                            size_t nr, const int *ok, const dreq *h_req, const dreqarm *h_ra,
                            const int *h_tflag, const ditem *h_item, rvs_eval_result *res) {
  const int P = cb->P;
  long long n_ll = (long long)nr;
#pragma omp parallel for schedule(static) if (nr > 256)
  for (long long i = 0; i < n_ll; i++) {
    if (!ok[i] || cb->h_flag[i]) continue;
    const int ri = gidx[i];
    const cu_slot *s = &cb->slots[req[ri].slot];
    const double badchi = h_req[i].badchi;
    double total = 0;
    int flag = 0;
    for (int a = 0; a < s->narms; a++) {
      const dreqarm *RA = &h_ra[(size_t)i * RVS_MAXARMS + a];
      if (RA->item < 0 || ((h_tflag[RA->tpl] & 1) && RA->outside > 0)) {
        total += 1000 * badchi;
        continue;
      }
      if (cb->opt.outside_penalty) total += RA->outside * badchi;
      const double *io = cb->h_iout + (size_t)RA->item * (P + 1);
      double sl = 0.0;
      for (int k = 0; k < P; k++) sl += log(io[1 + k]);
      const double ld = 2.0 * sl;
      const dslotarm *SA = &cb->h_slotarms[h_item[RA->item].slotarm];
      const double m2 = ld + 2 * SA->slsig + io[0];
      if (!isfinite(ld) || !isfinite(m2)) {
        flag = 1;
        break;
      }
      total += m2;
    }
    if (flag) {
      cb->h_flag[i] = 1;
      continue;
    }
    rvs_eval_result *o = &res[ri];
    o->m2lnl = total;
    o->status = RVS_OK;
    o->narms = s->narms;
    for (int a = 0; a < s->narms; a++) {
      o->chisq_arm[a] = NAN;
      o->npix_arm[a] = 0;
    }
  }
}

// Evaluate requests gidx[0..*consumed) (CHISQ, GPU slots).  Fills res for the
// requests the GPU answers; appends the others to cb->fb_idx (*nfb).  Returns
// RVS_ERR_NOMEM on device memory exhaustion (nothing written to res then).
static int gpu_pass(cuda_backend *cb, const rvs_eval_request *req, const int *gidx, size_t ng,
                    rvs_eval_result *res, size_t *consumed, size_t *nfb) {
  const int P = cb->P;
  int rc;
  const double t_start = wall_seconds();
  // 1. de-duplicate templates until the pass is full
  rvs_cuda_tplmap_reset(&cb->map);
  if ((rc = grow((void **)&cb->rq_tid, &cb->rqcap, ng * RVS_MAXARMS, sizeof(int)))) return rc;
  // the keys and hashes of the requests' templates in parallel, then the
  // insertions in request order (the same map as inserting one by one)
  size_t nmax = 0, npix = 0; // the requests the pixel bound admits
  for (; nmax < ng; nmax++) {
    const size_t np = (size_t)cb->slots[req[gidx[nmax]].slot].ntot;
    if (nmax > 0 && npix + np > cb->max_ttpix) break;
    npix += np;
  }
  if ((rc = grow((void **)&cb->rq_key, &cb->rqkcap, nmax * RVS_MAXARMS, sizeof(rvs_cuda_tplkey))) ||
      (rc = grow((void **)&cb->rq_hash, &cb->rqhcap, nmax * RVS_MAXARMS, sizeof(uint64_t))))
    return rc;
  long long nmax_ll = (long long)nmax;
#pragma omp parallel for schedule(static) if (nmax > 1024)
  for (long long i = 0; i < nmax_ll; i++) {
    const rvs_eval_request *r = &req[gidx[i]];
    const cu_slot *s = &cb->slots[r->slot];
    for (int a = 0; a < s->narms; a++) {
      rvs_cuda_tplkey *k = &cb->rq_key[i * RVS_MAXARMS + a];
      rvs_cuda_tplkey_make(k, s->arm[a].setup, cb->setups[s->arm[a].setup].nparam,
                           r->vsini > 0 ? r->vsini : -1.0, r->params);
      cb->rq_hash[i * RVS_MAXARMS + a] = rvs_cuda_tplkey_hash(k);
    }
  }
  size_t nr = 0;
  for (; nr < nmax; nr++) {
    if (nr > 0 && cb->map.n >= cb->max_tpl) break;
    const cu_slot *s = &cb->slots[req[gidx[nr]].slot];
    for (int a = 0; a < s->narms; a++) {
      int id, isnew;
      if ((rc = rvs_cuda_tplmap_get_hashed(&cb->map, &cb->rq_key[nr * RVS_MAXARMS + a],
                                           cb->rq_hash[nr * RVS_MAXARMS + a], &id, &isnew)))
        return rc;
      cb->rq_tid[nr * RVS_MAXARMS + a] = id;
    }
  }
  *consumed = nr;
  double t_step = wall_seconds();
  cb->stats.host_step_s[0] += t_step - t_start;
  const size_t ntpl = cb->map.n;
  int maxw = 1;
  for (int s = 0; s < cb->nsetups; s++) maxw = cb->setups[s].maxw > maxw ? cb->setups[s].maxw : maxw;
  if ((rc = grow((void **)&cb->tinfo, &cb->tcap, ntpl, sizeof(cu_tpl_host)))) return rc;
  if (cb->tcap * (size_t)maxw > cb->twcap) { // vert/weight rows follow tinfo's capacity
    free(cb->tvert);
    free(cb->twt);
    cb->twcap = cb->tcap * (size_t)maxw;
    cb->tvert = (int *)malloc(sizeof(int) * cb->twcap);
    cb->twt = (double *)malloc(sizeof(double) * cb->twcap);
    if (!cb->tvert || !cb->twt) {
      cb->twcap = 0;
      return rvs_error(RVS_ERR_NOMEM, "CUDA backend: no host memory");
    }
  }
  // 2. locate every template (thread-safe interpolators), vsini widths
  long long nt_ll = (long long)ntpl;
#pragma omp parallel for schedule(dynamic, 16)
  for (long long t = 0; t < nt_ll; t++) {
    const rvs_cuda_tplkey *k = &cb->map.keys[t];
    const cu_setup *S = &cb->setups[k->setup];
    cu_tpl_host *ti = &cb->tinfo[t];
    ti->nw = 0;
    ti->outside = NAN;
    ti->dev = -1;
    ti->rc = rvs_interp_locate(S->ip, k->params, cb->tvert + (size_t)t * maxw,
                               cb->twt + (size_t)t * maxw, &ti->nw, &ti->outside);
    ti->K = 0;
    if (k->vsini > 0) {
      size_t len = rvs_vsini_kernel_len(k->vsini, S->lnstep);
      ti->K = len == 0 ? -1 : (int)((len - 1) / 2);
    }
  }
  step_done(cb, 1, &t_step);
  // 3. requests: NaN arms, host-side failures (-> CPU), items
  size_t nitems = 0;
  int *ok = (int *)malloc(sizeof(int) * (nr ? nr : 1));
  if (!ok) return rvs_error(RVS_ERR_NOMEM, "CUDA backend: no host memory");
  long long nr_chk = (long long)nr;
#pragma omp parallel for schedule(static) reduction(+ : nitems) if (nr > 1024)
  for (long long i = 0; i < nr_chk; i++) {
    const rvs_eval_request *r = &req[gidx[i]];
    const cu_slot *s = &cb->slots[r->slot];
    double shrink = rvs_doppler_rest_scale(r->vel);
    ok[i] = 1;
    int na = 0;
    for (int a = 0; a < s->narms; a++) {
      const cu_tpl_host *ti = &cb->tinfo[cb->rq_tid[i * RVS_MAXARMS + a]];
      const cu_setup *S = &cb->setups[s->arm[a].setup];
      if (ti->rc == RVS_ERR_RANGE || !isfinite(ti->outside)) continue; // NaN: penalty
      if (ti->rc != RVS_OK || ti->K < 0 || S->spline_rc != RVS_OK) ok[i] = 0;
      double first = s->arm[a].lam0 * shrink, last = s->arm[a].lamN * shrink;
      if (!(first >= S->xlo && first < S->xhi && last >= S->xlo && last < S->xhi)) ok[i] = 0;
      na++;
    }
    if (ok[i]) nitems += (size_t)na;
  }
  // dense device template numbering and buffer offsets
  size_t ndev = 0, tbuf_dbl = 0, nwt = 0, ntaps = 0, nvs = 0;
  for (size_t i = 0; i < nr; i++) {
    if (!ok[i]) continue;
    const cu_slot *s = &cb->slots[req[gidx[i]].slot];
    for (int a = 0; a < s->narms; a++) {
      cu_tpl_host *ti = &cb->tinfo[cb->rq_tid[i * RVS_MAXARMS + a]];
      if (ti->rc == RVS_ERR_RANGE || !isfinite(ti->outside) || ti->dev >= 0) continue;
      ti->dev = (int)ndev++;
      const cu_setup *S = &cb->setups[s->arm[a].setup];
      tbuf_dbl += 3 * (size_t)S->nt;
      nwt += (size_t)ti->nw;
      if (ti->K > 0) {
        ntaps += (size_t)ti->K + 1;
        nvs++;
      }
    }
  }
  step_done(cb, 2, &t_step);
  // 4. staging layout
  size_t o_tpl = 0;
  size_t o_vert = align256(o_tpl + sizeof(dtpl) * ndev);
  size_t o_wt = align256(o_vert + sizeof(int) * nwt);
  size_t o_taps = align256(o_wt + sizeof(double) * nwt);
  size_t o_vl = align256(o_taps + sizeof(double) * ntaps);
  size_t o_item = align256(o_vl + sizeof(int) * nvs);
  size_t o_req = align256(o_item + sizeof(ditem) * nitems);
  size_t o_ra = align256(o_req + sizeof(dreq) * nr);
  size_t o_flag = align256(o_ra + sizeof(dreqarm) * nr * RVS_MAXARMS);
  size_t metabytes = align256(o_flag + sizeof(int) * ndev);
  const int NACC = P * (P + 1) / 2 + P;
  if ((rc = grow((void **)&cb->meta, &cb->metacap, metabytes, 1)) ||
      (rc = grow((void **)&cb->h_iout, &cb->outcap, nitems * (size_t)(P + 1), sizeof(double))) ||
      (rc = grow((void **)&cb->h_flag, &cb->flagcap, nr, sizeof(int)))) {
    free(ok);
    return rc;
  }
  if ((rc = pool_need(cb, POOL_TBUF, sizeof(double) * tbuf_dbl)) ||
      (rc = pool_need(cb, POOL_ACC, sizeof(double) * nitems * (size_t)NACC)) ||
      (rc = pool_need(cb, POOL_META, metabytes)) ||
      (rc = pool_need(cb, POOL_OUT,
                      align256(sizeof(double) * nitems * (size_t)(P + 1)) + sizeof(int) * nr))) {
    free(ok);
    return rc;
  }
  unsigned char *M = cb->meta;
  dtpl *h_tpl = (dtpl *)(M + o_tpl);
  int *h_vert = (int *)(M + o_vert);
  double *h_wt = (double *)(M + o_wt);
  double *h_taps = (double *)(M + o_taps);
  int *h_vl = (int *)(M + o_vl);
  ditem *h_item = (ditem *)(M + o_item);
  dreq *h_req = (dreq *)(M + o_req);
  dreqarm *h_ra = (dreqarm *)(M + o_ra);
  int *h_tflag = (int *)(M + o_flag);
  memset(h_tflag, 0, sizeof(int) * ndev);
  {
    // offsets in order (cheap), then the copies and vsini taps in parallel
    size_t wpos = 0, tpos = 0, vpos = 0, bpos = 0;
    for (size_t t = 0; t < ntpl; t++) {
      const cu_tpl_host *ti = &cb->tinfo[t];
      if (ti->dev < 0) continue;
      const rvs_cuda_tplkey *k = &cb->map.keys[t];
      const cu_setup *S = &cb->setups[k->setup];
      dtpl *D = &h_tpl[ti->dev];
      D->setup = k->setup;
      D->nw = ti->nw;
      D->woff = (int)wpos;
      D->K = ti->K;
      D->toff = (long long)tpos;
      D->buf = (long long)bpos;
      wpos += (size_t)ti->nw;
      bpos += 3 * (size_t)S->nt;
      if (ti->K > 0) {
        tpos += (size_t)ti->K + 1;
        h_vl[vpos++] = ti->dev;
      }
    }
    long long bad_tpl = -1; // the first template whose taps failed (error redone below)
    long long ntpl_ll = (long long)ntpl;
#pragma omp parallel if (ntpl > 256)
    {
      double *full = NULL; // this thread's scratch for a full vsini kernel
      size_t fullcap = 0;
#pragma omp for schedule(dynamic, 64)
      for (long long t = 0; t < ntpl_ll; t++) {
        const cu_tpl_host *ti = &cb->tinfo[t];
        if (ti->dev < 0) continue;
        const dtpl *D = &h_tpl[ti->dev];
        memcpy(h_vert + D->woff, cb->tvert + (size_t)t * (size_t)maxw, sizeof(int) * (size_t)ti->nw);
        memcpy(h_wt + D->woff, cb->twt + (size_t)t * (size_t)maxw, sizeof(double) * (size_t)ti->nw);
        if (ti->K <= 0) continue;
        // normalised half weights W_0..W_K, as rvs_convolve_vsini
        const size_t need = 2 * (size_t)ti->K + 1;
        size_t len = 0;
        int trc = RVS_ERR_NOMEM;
        if (need > fullcap) {
          free(full);
          full = (double *)malloc(sizeof(double) * need);
          fullcap = full ? need : 0;
        }
        if (full)
          trc = rvs_vsini_kernel(cb->map.keys[t].vsini, cb->setups[cb->map.keys[t].setup].lnstep,
                                 full, need, &len);
        if (trc) {
#pragma omp critical(cuda_staging_error)
          if (bad_tpl < 0 || t < bad_tpl) bad_tpl = t;
          continue;
        }
        memcpy(h_taps + D->toff, full + ti->K, sizeof(double) * ((size_t)ti->K + 1));
      }
      free(full);
    }
    if (bad_tpl >= 0) { // again on this thread, for its message (errors are per thread)
      const cu_tpl_host *ti = &cb->tinfo[bad_tpl];
      const size_t need = 2 * (size_t)ti->K + 1;
      double *full = (double *)malloc(sizeof(double) * need);
      size_t len = 0;
      rc = full ? rvs_vsini_kernel(cb->map.keys[bad_tpl].vsini,
                                   cb->setups[cb->map.keys[bad_tpl].setup].lnstep, full, need, &len)
                : RVS_ERR_NOMEM;
      free(full);
      free(ok);
      return rc ? rc : rvs_error(RVS_ERR_NOMEM, "CUDA backend: no host memory");
    }
  }
  step_done(cb, 3, &t_step);
  // items sorted by slot-arm (warps of one block share the spectrum's data)
  int hmax = 0, maxnt = 4;
  size_t model_dbl = 0;
  {
    int *key = (int *)malloc(sizeof(int) * (nitems ? nitems : 1));
    ditem *tmp = (ditem *)malloc(sizeof(ditem) * (nitems ? nitems : 1));
    size_t *ord = (size_t *)malloc(sizeof(size_t) * (nitems ? nitems : 1));
    size_t *cnt = (size_t *)malloc(sizeof(size_t) * ((size_t)cb->nslots * RVS_MAXARMS + 1));
    size_t *pos_of = (size_t *)malloc(sizeof(size_t) * (nitems ? nitems : 1));
    if (!key || !tmp || !ord || !cnt || !pos_of) {
      free(key); free(tmp); free(ord); free(cnt); free(pos_of); free(ok);
      return rvs_error(RVS_ERR_NOMEM, "CUDA backend: no host memory");
    }
    size_t it = 0;
    for (size_t i = 0; i < nr; i++) {
      const rvs_eval_request *r = &req[gidx[i]];
      const cu_slot *s = &cb->slots[r->slot];
      dreq *Q = &h_req[i];
      Q->narms = ok[i] ? s->narms : 0;
      Q->pad = 0;
      Q->badchi = 10.0 * (double)s->ntot;
      if (!ok[i]) continue;
      double shrink = rvs_doppler_rest_scale(r->vel);
      double lns = log(shrink);
      for (int a = 0; a < s->narms; a++) {
        const cu_tpl_host *ti = &cb->tinfo[cb->rq_tid[i * RVS_MAXARMS + a]];
        dreqarm *RA = &h_ra[i * RVS_MAXARMS + a];
        RA->outside = ti->outside;
        RA->tpl = ti->dev;
        if (ti->dev < 0) {
          RA->item = -1;
          RA->tpl = 0;
          continue;
        }
        const cu_setup *S = &cb->setups[s->arm[a].setup];
        const dsetup *DS = &cb->h_setups[s->arm[a].setup];
        tmp[it].slotarm = r->slot * RVS_MAXARMS + a;
        tmp[it].tpl = ti->dev;
        tmp[it].shrink = shrink;
        tmp[it].lnoff = lns - DS->x0;
        key[it] = tmp[it].slotarm;
        RA->item = (int)it; // fixed below after sorting
        int h = s->arm[a].nd > 0 ? (s->arm[a].nd - 1) / 2 : 0;
        if (h > hmax) hmax = h;
        if (S->nt > maxnt) maxnt = S->nt;
        it++;
      }
    }
    rvs_cuda_order_by_key(key, nitems, cb->nslots * RVS_MAXARMS, cnt, ord);
    for (size_t k = 0; k < nitems; k++) {
      h_item[k] = tmp[ord[k]];
      h_item[k].moff = (long long)model_dbl; // ws_i of the item, for resid_kernel
      model_dbl += cb->slots[h_item[k].slotarm / RVS_MAXARMS].arm[h_item[k].slotarm % RVS_MAXARMS].n;
      pos_of[ord[k]] = k;
    }
    for (size_t i = 0; i < nr; i++)
      for (int a = 0; a < h_req[i].narms; a++)
        if (h_ra[i * RVS_MAXARMS + a].item >= 0)
          h_ra[i * RVS_MAXARMS + a].item = (int)pos_of[h_ra[i * RVS_MAXARMS + a].item];
    free(key); free(tmp); free(ord); free(cnt); free(pos_of);
  }
  if ((rc = pool_need(cb, POOL_MODEL, sizeof(double) * model_dbl))) {
    free(ok);
    return rc;
  }
  // 5. device work
  unsigned char *dm = (unsigned char *)cb->pool[POOL_META];
  double *d_tbuf = (double *)cb->pool[POOL_TBUF];
  double *d_acc = (double *)cb->pool[POOL_ACC];
  double *d_iout = (double *)cb->pool[POOL_OUT];
  double *d_model = (double *)cb->pool[POOL_MODEL];
  int *d_flag = (int *)((unsigned char *)cb->pool[POOL_OUT] +
                        align256(sizeof(double) * nitems * (size_t)(P + 1)));
  cudaStream_t st = cb->stream;
  const double t_dev = wall_seconds();
  cb->stats.host_step_s[4] += t_dev - t_step;
  rc = RVS_OK;
#define PHASE(k) \
  if (cb->profile && (e = cudaEventRecord(cb->ev[k], st)) != cudaSuccess) { rc = cuda_fail(e, "event", __FILE__, __LINE__); break; }
  do {
    cudaError_t e = cudaSuccess;
    PHASE(0)
    e = cudaMemcpyAsync(dm, M, metabytes, cudaMemcpyHostToDevice, st);
    if (e != cudaSuccess) { rc = cuda_fail(e, "upload of the batch", __FILE__, __LINE__); break; }
    const dtpl *d_tpl = (const dtpl *)(dm + o_tpl);
    int *d_tflag = (int *)(dm + o_flag);
    PHASE(1)
    if (ndev > 0) {
      dim3 g1((unsigned)((maxnt + 255) / 256), (unsigned)ndev);
      interp_kernel<<<g1, 256, 0, st>>>(d_tpl, cb->d_setups, (const int *)(dm + o_vert),
                                        (const double *)(dm + o_wt), d_tbuf, d_tflag);
      if ((e = cudaGetLastError()) != cudaSuccess) { rc = cuda_fail(e, "interp_kernel", __FILE__, __LINE__); break; }
    }
    PHASE(2)
    if (ndev > 0) {
      if (nvs > 0) {
        dim3 g2((unsigned)((maxnt + 255) / 256), (unsigned)nvs);
        vsini_kernel<<<g2, 256, 0, st>>>((const int *)(dm + o_vl), d_tpl, cb->d_setups,
                                         (const double *)(dm + o_taps), d_tbuf);
        if ((e = cudaGetLastError()) != cudaSuccess) { rc = cuda_fail(e, "vsini_kernel", __FILE__, __LINE__); break; }
      }
    }
    PHASE(3)
    if (ndev > 0) {
      spline_exact_kernel<<<(unsigned)ndev, 32, 0, st>>>(d_tpl, cb->d_setups, d_tbuf);
      if ((e = cudaGetLastError()) != cudaSuccess) { rc = cuda_fail(e, "spline_exact_kernel", __FILE__, __LINE__); break; }
    }
    PHASE(4)
    const int wpb = CHISQ_THREADS / 32;
    const unsigned nb = (unsigned)((nitems + wpb - 1) / wpb);
    if (nitems > 0) {
      size_t smem = sizeof(double) * (size_t)wpb * CHISQ_WARP_SMEM((size_t)hmax, (size_t)NACC);
      chisq_kernels[P]<<<nb, CHISQ_THREADS, smem, st>>>(
          (const ditem *)(dm + o_item), (int)nitems, cb->d_slotarms, cb->d_setups, d_tpl,
          d_tbuf, d_acc, hmax, d_model);
      if ((e = cudaGetLastError()) != cudaSuccess) { rc = cuda_fail(e, "chisq kernel", __FILE__, __LINE__); break; }
    }
    PHASE(5)
    if (nr > 0) {
      finish_kernel<<<(unsigned)((nr + 127) / 128), 128, 0, st>>>(
          (const dreq *)(dm + o_req), (const dreqarm *)(dm + o_ra), (int)nr, d_acc, d_tflag, P,
          d_iout, d_flag);
      if ((e = cudaGetLastError()) != cudaSuccess) { rc = cuda_fail(e, "finish_kernel", __FILE__, __LINE__); break; }
      if (nitems > 0) {
        size_t smem = sizeof(double) * (size_t)wpb * NE_GROUP;
        resid_kernel<<<nb, CHISQ_THREADS, smem, st>>>((const ditem *)(dm + o_item), (int)nitems,
                                                      cb->d_slotarms, d_model, d_acc, P, d_iout);
        if ((e = cudaGetLastError()) != cudaSuccess) { rc = cuda_fail(e, "resid_kernel", __FILE__, __LINE__); break; }
        e = cudaMemcpyAsync(cb->h_iout, d_iout, sizeof(double) * nitems * (size_t)(P + 1),
                            cudaMemcpyDeviceToHost, st);
      }
      if (e == cudaSuccess)
        e = cudaMemcpyAsync(cb->h_flag, d_flag, sizeof(int) * nr, cudaMemcpyDeviceToHost, st);
      if (e == cudaSuccess && ndev > 0)
        e = cudaMemcpyAsync(h_tflag, d_tflag, sizeof(int) * ndev, cudaMemcpyDeviceToHost, st);
      if (e != cudaSuccess) { rc = cuda_fail(e, "download of the results", __FILE__, __LINE__); break; }
    }
    PHASE(6)
    e = cudaStreamSynchronize(st);
    if (e != cudaSuccess) { rc = cuda_fail(e, "device pass", __FILE__, __LINE__); break; }
    for (int k = 0; cb->profile && k < 6; k++) {
      float ms = 0;
      if ((e = cudaEventElapsedTime(&ms, cb->ev[k], cb->ev[k + 1])) != cudaSuccess) break;
      cb->stats.phase_ms[k] += ms;
    }
    if (e != cudaSuccess) { rc = cuda_fail(e, "event timing", __FILE__, __LINE__); break; }
  } while (0);
#undef PHASE
  if (rc) {
    free(ok);
    return rc;
  }
  // 6. results: -2 ln L as the CPU backend's eval_one sums it
  const double t_fin = wall_seconds();
  finish_requests(cb, req, gidx, nr, ok, h_req, h_ra, h_tflag, h_item, res);
  cb->stats.host_step_s[5] += wall_seconds() - t_fin;
  for (size_t i = 0; i < nr; i++) {
    int ri = gidx[i];
    if (!ok[i] || cb->h_flag[i]) {
      if (!ok[i]) cb->stats.fb_host++;
      else cb->stats.fb_device++;
      cb->fb_idx[(*nfb)++] = ri;
      continue;
    }
    cb->stats.gpu_requests++;
  }
  cb->stats.host_seconds += t_dev - t_start;
  cb->stats.device_seconds += wall_seconds() - t_dev;
  cb->stats.templates += (long long)ndev;
  cb->stats.sub_batches++;
  free(ok);
  return RVS_OK;
}

static int cu_evaluate(rvs_backend *b, const rvs_eval_request *req, size_t n, rvs_eval_result *res) {
  cuda_backend *cb = (cuda_backend *)b->impl;
  if (n == 0) return RVS_OK;
  if (n > (size_t)INT32_MAX) return rvs_error(RVS_ERR_ARG, "CUDA backend: batch of %zu", n);
  int rc;
  int *gidx = (int *)malloc(sizeof(int) * n);
  if (!gidx) return rvs_error(RVS_ERR_NOMEM, "CUDA backend: no host memory");
  if ((rc = grow((void **)&cb->fb_idx, &cb->fbcap, n, sizeof(int)))) {
    free(gidx);
    return rc;
  }
  size_t ng = 0, nfb = 0;
  for (size_t i = 0; i < n; i++) {
    int s = req[i].slot;
    if (s < 0 || s >= cb->nslots || !cb->slots[s].used) {
      free(gidx);
      return rvs_error(RVS_ERR_ARG, "CUDA backend: request for unknown slot %d", s);
    }
    if (req[i].kind == RVS_EVAL_CHISQ && cb->slots[s].gpu)
      gidx[ng++] = (int)i;
    else
      cb->fb_idx[nfb++] = (int)i;
  }
  size_t ncpu_direct = nfb;
  size_t pos = 0;
  while (pos < ng) {
    size_t used = 0;
    rc = gpu_pass(cb, req, gidx + pos, ng - pos, res, &used, &nfb);
    if (rc == RVS_ERR_NOMEM && (cb->max_tpl > 1 || cb->max_ttpix > 1)) {
      // shrink and retry: nothing of this pass was written
      cb->max_tpl = cb->max_tpl > 1 ? cb->max_tpl / 2 : 1;
      cb->max_ttpix = cb->max_ttpix > 1 ? cb->max_ttpix / 2 : 1;
      cb->stats.oom_retries++;
      rvs_log(RVS_LOG_INFO, "CUDA backend: device memory exhausted (%s); %zu templates per pass",
              rvs_last_error(), cb->max_tpl);
      rvs_clear_error();
      continue;
    }
    if (rc) {
      free(gidx);
      return rc;
    }
    pos += used;
  }
  free(gidx);
  cb->stats.cpu_fallbacks += (long long)(nfb - ncpu_direct);
  cb->stats.cpu_requests += (long long)nfb;
  if (nfb == 0) return RVS_OK;
  // the CPU backend in request order (its runs are consecutive requests)
  {
    int *f = cb->fb_idx;
    // fb_idx holds two increasing lists (direct, then GPU fallbacks): merge
    size_t na = ncpu_direct, nb = nfb - ncpu_direct;
    int *merged = (int *)malloc(sizeof(int) * nfb);
    rvs_eval_request *sub = (rvs_eval_request *)malloc(sizeof *sub * nfb);
    rvs_eval_result *sres = (rvs_eval_result *)malloc(sizeof *sres * nfb);
    if (!merged || !sub || !sres) {
      free(merged); free(sub); free(sres);
      return rvs_error(RVS_ERR_NOMEM, "CUDA backend: no host memory");
    }
    size_t i = 0, j = 0, k = 0;
    while (i < na || j < nb) {
      if (j >= nb || (i < na && f[i] < f[na + j])) merged[k++] = f[i++];
      else merged[k++] = f[na + j++];
    }
    for (k = 0; k < nfb; k++) sub[k] = req[merged[k]];
    double tc = wall_seconds();
    rc = cb->cpu->evaluate(cb->cpu, sub, nfb, sres);
    cb->stats.cpu_seconds += wall_seconds() - tc;
    if (rc == RVS_OK)
      for (k = 0; k < nfb; k++) res[merged[k]] = sres[k];
    free(merged); free(sub); free(sres);
  }
  return rc;
}

static void cu_destroy(rvs_backend *b) {
  if (!b) return;
  cuda_backend *cb = (cuda_backend *)b->impl;
  for (int i = 0; i < cb->nslots; i++)
    if (cb->slots[i].used) free_slot_dev(cb, &cb->slots[i]);
  if (cb->stream) (void)cudaStreamSynchronize(cb->stream);
  for (int s = 0; s < cb->nsetups; s++) {
    if (cb->setups[s].d_vspec) (void)cudaFree(cb->setups[s].d_vspec);
    if (cb->setups[s].d_grid) (void)cudaFree(cb->setups[s].d_grid);
  }
  for (int p = 0; p < NPOOL; p++)
    if (cb->pool[p]) (void)cudaFree(cb->pool[p]);
  if (cb->d_setups) (void)cudaFree(cb->d_setups);
  if (cb->d_slotarms) (void)cudaFree(cb->d_slotarms);
  for (int k = 0; k < cb->ndbasis; k++) (void)cudaFree(cb->dbasis[k]);
  rvs_basis_cache_free(&cb->basis);
  if (cb->stream) (void)cudaStreamDestroy(cb->stream);
  for (int k = 0; k < 7; k++)
    if (cb->ev[k]) (void)cudaEventDestroy(cb->ev[k]);
  if (cb->cpu) cb->cpu->destroy(cb->cpu);
  rvs_cuda_tplmap_free(&cb->map);
  free(cb->slots); free(cb->h_slotarms); free(cb->rq_tid); free(cb->rq_key); free(cb->rq_hash); free(cb->tinfo); free(cb->tvert);
  free(cb->twt); free(cb->meta); free(cb->h_iout); free(cb->h_flag); free(cb->fb_idx);
  free(cb);
}

static int cu_init(cuda_backend *cb) {
  CK(cudaSetDevice(cb->device));
  CK(cudaStreamCreateWithFlags(&cb->stream, cudaStreamNonBlocking));
  {
    cudaMemPool_t mp;
    CK(cudaDeviceGetDefaultMemPool(&mp, cb->device));
    uint64_t keep = UINT64_MAX; // freed spectra stay in the pool for the next ones
    CK(cudaMemPoolSetAttribute(mp, cudaMemPoolAttrReleaseThreshold, &keep));
  }
  CK(cudaMalloc((void **)&cb->d_setups, sizeof(dsetup) * RVS_LIB_MAX_SETUPS));
  size_t fr = 0, tot = 0;
  CK(cudaMemGetInfo(&fr, &tot));
  // templates per pass: half the free memory for [raw|y|z] of ~6,500 pixels
  size_t per = 3 * 6500 * sizeof(double);
  size_t mt = fr / 2 / per;
  if (mt > MAX_TPL_PER_PASS) mt = MAX_TPL_PER_PASS;
  if (mt < 64) mt = 64;
  cb->max_tpl = mt;
  // observed pixels per pass (the stored ws_i): an eighth of the free memory,
  // 2^20..2^27 doubles (at 2^27, ~16,000 DESI requests)
  cb->max_ttpix = fr / 8 / sizeof(double);
  if (cb->max_ttpix > ((size_t)1 << 27)) cb->max_ttpix = (size_t)1 << 27;
  if (cb->max_ttpix < ((size_t)1 << 20)) cb->max_ttpix = (size_t)1 << 20;
  // the chisq kernels need up to ~115 KB of dynamic shared memory per block
  // with the widest band (GPU_MAX_ND) and P = 12; resid_kernel less
  int optin = 0;
  CK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, cb->device));
  const size_t need = sizeof(double) * (CHISQ_THREADS / 32) *
                     CHISQ_WARP_SMEM((size_t)GPU_MAX_ND / 2,
                                     (size_t)RVS_CUDA_MAX_NPOLY * (RVS_CUDA_MAX_NPOLY + 3) / 2);
  if ((size_t)optin < need)
    return rvs_error(RVS_ERR_DEVICE, "CUDA backend: %d bytes of shared memory per block, %zu needed",
                     optin, need);
  for (int p = 1; p <= RVS_CUDA_MAX_NPOLY; p++)
    CK(cudaFuncSetAttribute(chisq_kernels[p], cudaFuncAttributeMaxDynamicSharedMemorySize, (int)need));
  CK(cudaFuncSetAttribute(resid_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)need));
  const char *pe = getenv("RVS_CUDA_PROFILE");
  cb->profile = pe && pe[0] == '1';
  for (int k = 0; cb->profile && k < 7; k++) CK(cudaEventCreate(&cb->ev[k]));
  return RVS_OK;
}

extern "C" int rvs_backend_cuda_create(rvs_template_lib *lib, const rvs_backend_options *opt,
                                       int device, rvs_backend **out) {
  int ndev = 0;
  cudaError_t e = cudaGetDeviceCount(&ndev);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return rvs_error(RVS_ERR_DEVICE, "CUDA backend: no usable device (%s)", cudaGetErrorString(e));
  }
  if (device < 0 || device >= ndev)
    return rvs_error(RVS_ERR_DEVICE, "CUDA backend: device %d of %d", device, ndev);
  cuda_backend *cb = (cuda_backend *)calloc(1, sizeof *cb);
  if (!cb) return rvs_error(RVS_ERR_NOMEM, "CUDA backend: no memory");
  cb->lib = lib;
  if (opt)
    cb->opt = *opt;
  else
    rvs_backend_options_default(&cb->opt);
  if (cb->opt.npoly <= 0) cb->opt.npoly = 5; // as the CPU backend
  cb->P = cb->opt.npoly;
  cb->gpu_ok = cb->P <= RVS_CUDA_MAX_NPOLY;
  if (!cb->gpu_ok)
    rvs_log(RVS_LOG_WARNING, "CUDA backend: npoly = %d > %d: every request runs on the CPU",
            cb->P, RVS_CUDA_MAX_NPOLY);
  cb->device = device;
  int rc = rvs_backend_cpu_create(lib, &cb->opt, &cb->cpu);
  if (rc) {
    free(cb);
    return rc;
  }
  cb->base.name = "cuda";
  cb->base.add_slot = cu_add_slot;
  cb->base.remove_slot = cu_remove_slot;
  cb->base.evaluate = cu_evaluate;
  cb->base.get_model = cu_get_model;
  cb->base.destroy = cu_destroy;
  cb->base.impl = cb;
  if ((rc = cu_init(cb))) {
    cu_destroy(&cb->base);
    return rc;
  }
  *out = &cb->base;
  return RVS_OK;
}

extern "C" void rvs_backend_cuda_stats(const rvs_backend *b, rvs_cuda_stats *st) {
  const cuda_backend *cb = (const cuda_backend *)b->impl;
  *st = cb->stats;
}

extern "C" void rvs_backend_cuda_set_scratch_limit(rvs_backend *b, size_t bytes) {
  cuda_backend *cb = (cuda_backend *)b->impl;
  cb->scratch_limit = bytes;
  // drop the pools so that the limit applies from the next pass on
  for (int p = 0; p < NPOOL; p++) {
    if (cb->pool[p]) (void)cudaFree(cb->pool[p]);
    cb->pool[p] = NULL;
    cb->pool_cap[p] = 0;
  }
}

extern "C" void rvs_backend_cuda_set_max_templates(rvs_backend *b, size_t max_templates) {
  cuda_backend *cb = (cuda_backend *)b->impl;
  cb->max_tpl_user = max_templates;
  if (max_templates) cb->max_tpl = max_templates < MAX_TPL_PER_PASS ? max_templates : MAX_TPL_PER_PASS;
}
