// Batched CCF initialisation on the GPU (see ccf_cuda.h).  C-style CUDA:
// plain structs, extern "C" entry points, every runtime/cuFFT call checked.
//
// One call groups the spectra by their tuple of banks (a "set"; DESI: one
// set) and runs each set in passes of S spectra, double-buffered:
//   host (OpenMP):  rvs_ccf_prep_spectrum per spectrum of pass k+1 (median
//                   filter, continuum, resampling: f*w and w per arm) while
//                   the device runs pass k;
//   device, per arm a (in arm order, so the sums over arms are the CPU's):
//     cuFFT D2Z      2S in-place forward transforms (f*w, w) of N_a points
//     prod_kernel    for a chunk of Sc spectra x M models: the 2 products
//                    model_fft*conj(Fs), model_fft2*conj(Fw)   (nf x pairs)
//     cuFFT Z2D      2*Sc*M in-place inverse transforms
//     lag_kernel     per (spectrum, model, velocity): c0, c1 at the two kept
//                    lags around the velocity, -2c0+c1 or -c0^2/c1, linear
//                    interpolation, chisq[spec][model][vel] += (nvel x pairs)
//   device:          argmin_kernel: block per spectrum, min of chisq + sse
//                    (ties: the smallest flat index, as the CPU's scan);
//   host:            the parabola (rvs_ccf_finish).
// The chunk is sized from cudaMemGetInfo; an out-of-memory anywhere in the
// set-up of a set halves the pass (and so the chunk) and retries; nothing of
// a set is computed before its buffers and plans exist, so a retry never
// leaves partial results.
#include <cuda_runtime.h>
#include <cufft.h>

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern "C" {
#include "backend/cpu/ccf_batch.h"
#include "rvs/log.h"
#include "rvs/status.h"
}
#include "backend/cuda/ccf_cuda.h"
#include "backend/cuda/cuda_check.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define CCF_MAXARMS 16
#define CCF_DEFAULT_PASS 256
#define CCF_MAXPLANS (2 * CCF_MAXARMS + 8)

// ---------------------------------------------------------------- checks
#define CK_LAUNCH(name)                                                            \
  do {                                                                             \
    cudaError_t ck_e_ = cudaGetLastError();                                        \
    if (ck_e_ != cudaSuccess) return cuda_fail(ck_e_, "launch of " name, __FILE__, __LINE__); \
  } while (0)

static const char *cufft_str(cufftResult r) {
  switch (r) {
  case CUFFT_SUCCESS: return "CUFFT_SUCCESS";
  case CUFFT_INVALID_PLAN: return "CUFFT_INVALID_PLAN";
  case CUFFT_ALLOC_FAILED: return "CUFFT_ALLOC_FAILED";
  case CUFFT_INVALID_TYPE: return "CUFFT_INVALID_TYPE";
  case CUFFT_INVALID_VALUE: return "CUFFT_INVALID_VALUE";
  case CUFFT_INTERNAL_ERROR: return "CUFFT_INTERNAL_ERROR";
  case CUFFT_EXEC_FAILED: return "CUFFT_EXEC_FAILED";
  case CUFFT_SETUP_FAILED: return "CUFFT_SETUP_FAILED";
  case CUFFT_INVALID_SIZE: return "CUFFT_INVALID_SIZE";
  case CUFFT_UNALIGNED_DATA: return "CUFFT_UNALIGNED_DATA";
  case CUFFT_INVALID_DEVICE: return "CUFFT_INVALID_DEVICE";
  case CUFFT_NO_WORKSPACE: return "CUFFT_NO_WORKSPACE";
  case CUFFT_NOT_IMPLEMENTED: return "CUFFT_NOT_IMPLEMENTED";
  case CUFFT_NOT_SUPPORTED: return "CUFFT_NOT_SUPPORTED";
  default: return "cuFFT error";
  }
}
static int cufft_fail(cufftResult r, const char *what, const char *file, int line) {
  (void)cudaGetLastError();
  return rvs_error(r == CUFFT_ALLOC_FAILED ? RVS_ERR_NOMEM : RVS_ERR_DEVICE, "%s:%d: %s: %s (%d)",
                   file, line, what, cufft_str(r), (int)r);
}
#define CKF(call)                                                                  \
  do {                                                                             \
    cufftResult ckf_r_ = (call);                                                   \
    if (ckf_r_ != CUFFT_SUCCESS) return cufft_fail(ckf_r_, #call, __FILE__, __LINE__); \
  } while (0)

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// ---------------------------------------------------------------- state
typedef struct dred {  // argmin result of one spectrum
  long long idx;       // best flat index model*nvel + pixel; -1: none finite
  double best;         // chisq + total_sse there
  double y[3];         // row values (without sse) at pixel-1, pixel, pixel+1
} dred;

typedef struct cbank {
  const rvs_ccf_bank *host;
  const double *fft, *fft2;
  size_t M, N, nf;
  double2 *d_fft, *d_fft2;  // [M][nf]
} cbank;

typedef struct cplan {
  cufftHandle h;
  long long N, batch;
  cufftType type;
  size_t work;
  unsigned long long used;
} cplan;

struct rvs_ccf_gpu {
  int device;
  cudaStream_t st;
  cudaEvent_t ev[2];
  cbank *banks;
  int nbanks, capbanks;
  cplan plans[CCF_MAXPLANS];
  int nplans;
  unsigned long long tick;
  // device scratch (grown on demand, kept between calls)
  void *d_work, *d_in, *d_chunk, *d_chisq, *d_sse, *d_red, *d_k, *d_t;
  size_t c_work, c_in, c_chunk, c_chisq, c_sse, c_red, c_k, c_t, held;
  // pinned host buffers, double-buffered
  void *h_in[2], *h_sse[2], *h_red[2];
  size_t ch_in[2], ch_sse[2], ch_red[2];
  // limits (test aids) and the pass limit after shrinks
  size_t max_bytes, max_pass, pass_lim;
  int fail_allocs;
  rvs_ccf_gpu_stats stats;
};

static int dev_ensure(rvs_ccf_gpu *g, void **p, size_t *cap, size_t need) {
  if (need == 0) need = 8;
  if (*cap >= need) return RVS_OK;
  if (*p) {
    CK(cudaFree(*p));
    g->held -= *cap;
    *p = NULL;
    *cap = 0;
  }
  if (g->fail_allocs > 0) {
    g->fail_allocs--;
    return rvs_error(RVS_ERR_NOMEM, "CCF GPU: simulated device allocation failure (%zu bytes)", need);
  }
  if (g->max_bytes && g->held + need > g->max_bytes)
    return rvs_error(RVS_ERR_NOMEM, "CCF GPU: scratch limit %zu bytes reached", g->max_bytes);
  cudaError_t e = cudaMalloc(p, need);
  if (e != cudaSuccess) {
    *p = NULL;
    return cuda_fail(e, "cudaMalloc(scratch)", __FILE__, __LINE__);
  }
  *cap = need;
  g->held += need;
  return RVS_OK;
}

static int host_ensure(void **p, size_t *cap, size_t need) {
  if (need == 0) need = 8;
  if (*cap >= need) return RVS_OK;
  if (*p) {
    CK(cudaFreeHost(*p));
    *p = NULL;
  }
  *cap = 0;
  cudaError_t e = cudaHostAlloc(p, need, cudaHostAllocDefault);
  if (e != cudaSuccess) {
    *p = NULL;
    return cuda_fail(e, "cudaHostAlloc(pass buffer)", __FILE__, __LINE__);
  }
  *cap = need;
  return RVS_OK;
}

static int free_scratch(rvs_ccf_gpu *g) {
  void **ps[] = {&g->d_work, &g->d_in, &g->d_chunk, &g->d_chisq, &g->d_sse, &g->d_red, &g->d_k, &g->d_t};
  size_t *cs[] = {&g->c_work, &g->c_in, &g->c_chunk, &g->c_chisq, &g->c_sse, &g->c_red, &g->c_k, &g->c_t};
  int rc = RVS_OK;
  for (int i = 0; i < 8; i++) {
    if (*ps[i]) {
      cudaError_t e = cudaFree(*ps[i]);
      if (e != cudaSuccess && !rc) rc = cuda_fail(e, "cudaFree(scratch)", __FILE__, __LINE__);
    }
    *ps[i] = NULL;
    *cs[i] = 0;
  }
  g->held = 0;
  for (int i = 0; i < g->nplans; i++) cufftDestroy(g->plans[i].h);
  g->nplans = 0;
  return rc;
}

// A plan of `batch` in-place 1-D transforms of N points (D2Z or Z2D), padded
// real layout: real stride 2*nf doubles, complex stride nf.  No work area of
// its own: every plan uses g->d_work (grown to the largest need).
static int get_plan(rvs_ccf_gpu *g, long long N, long long batch, cufftType type, cufftHandle *out) {
  for (int i = 0; i < g->nplans; i++)
    if (g->plans[i].N == N && g->plans[i].batch == batch && g->plans[i].type == type) {
      g->plans[i].used = g->tick;
      *out = g->plans[i].h;
      return RVS_OK;
    }
  if (g->nplans == CCF_MAXPLANS) { // evict the least recently used one not needed now
    int v = -1;
    for (int i = 0; i < g->nplans; i++)
      if (g->plans[i].used != g->tick && (v < 0 || g->plans[i].used < g->plans[v].used)) v = i;
    if (v < 0) return rvs_error(RVS_ERR_ARG, "CCF GPU: more than %d FFT plans needed at once", CCF_MAXPLANS);
    CKF(cufftDestroy(g->plans[v].h));
    g->plans[v] = g->plans[--g->nplans];
  }
  long long nf = N / 2 + 1, n[1] = {N}, cemb[1] = {nf}, remb[1] = {2 * nf};
  cufftHandle h;
  CKF(cufftCreate(&h));
  size_t work = 0;
  cufftResult r = cufftSetAutoAllocation(h, 0);
  if (r == CUFFT_SUCCESS) {
    if (type == CUFFT_D2Z)
      r = cufftMakePlanMany64(h, 1, n, remb, 1, 2 * nf, cemb, 1, nf, type, batch, &work);
    else
      r = cufftMakePlanMany64(h, 1, n, cemb, 1, nf, remb, 1, 2 * nf, type, batch, &work);
  }
  if (r != CUFFT_SUCCESS) {
    cufftDestroy(h);
    return cufft_fail(r, "cufftMakePlanMany64", __FILE__, __LINE__);
  }
  cplan *p = &g->plans[g->nplans++];
  p->h = h;
  p->N = N;
  p->batch = batch;
  p->type = type;
  p->work = work;
  p->used = g->tick;
  *out = h;
  return RVS_OK;
}

static int exec_plan(rvs_ccf_gpu *g, cufftHandle h, cufftType type, double *data) {
  CKF(cufftSetStream(h, g->st));
  CKF(cufftSetWorkArea(h, g->d_work));
  if (type == CUFFT_D2Z)
    CKF(cufftExecD2Z(h, (cufftDoubleReal *)data, (cufftDoubleComplex *)data));
  else
    CKF(cufftExecZ2D(h, (cufftDoubleComplex *)data, (cufftDoubleReal *)data));
  return RVS_OK;
}

static int get_bank(rvs_ccf_gpu *g, const rvs_ccf_bank *b, int *out) {
  for (int i = 0; i < g->nbanks; i++) {
    cbank *c = &g->banks[i];
    if (c->host == b && c->fft == b->fft && c->fft2 == b->fft2 && c->M == b->nmodel &&
        c->N == b->conf.npoints) {
      *out = i;
      return RVS_OK;
    }
  }
  size_t N = b->conf.npoints, nf = N / 2 + 1;
  if (N < 2 || b->nfreq != nf) return rvs_error(RVS_ERR_FORMAT, "CCF GPU: bank with %zu points, %zu frequencies", N, b->nfreq);
  if (g->nbanks == g->capbanks) {
    int nc = g->capbanks ? 2 * g->capbanks : 8;
    cbank *nb = (cbank *)realloc(g->banks, sizeof(cbank) * (size_t)nc);
    if (!nb) return rvs_error(RVS_ERR_NOMEM, "CCF GPU: no memory");
    g->banks = nb;
    g->capbanks = nc;
  }
  cbank c;
  memset(&c, 0, sizeof c);
  c.host = b;
  c.fft = b->fft;
  c.fft2 = b->fft2;
  c.M = b->nmodel;
  c.N = N;
  c.nf = nf;
  size_t bytes = sizeof(double2) * c.M * nf;
  cudaError_t e = cudaMalloc((void **)&c.d_fft, bytes);
  if (e == cudaSuccess) e = cudaMalloc((void **)&c.d_fft2, bytes);
  if (e == cudaSuccess) e = cudaMemcpyAsync(c.d_fft, b->fft, bytes, cudaMemcpyHostToDevice, g->st);
  if (e == cudaSuccess) e = cudaMemcpyAsync(c.d_fft2, b->fft2, bytes, cudaMemcpyHostToDevice, g->st);
  if (e == cudaSuccess) e = cudaStreamSynchronize(g->st);
  if (e != cudaSuccess) {
    int rc = cuda_fail(e, "cudaMalloc/cudaMemcpyAsync(bank)", __FILE__, __LINE__);
    if (c.d_fft) cudaFree(c.d_fft);
    if (c.d_fft2) cudaFree(c.d_fft2);
    return rc;
  }
  g->banks[g->nbanks] = c;
  *out = g->nbanks++;
  return RVS_OK;
}

// ---------------------------------------------------------------- kernels
// Explicit IEEE operations (no FMA contraction), in the order of the CPU's
// C code: (a + ib)(c - id) as GCC's complex product.
__device__ __forceinline__ double2 cmul_conj(double2 t, double2 F) {
  double cr = F.x, ci = -F.y;
  double2 r;
  r.x = __dsub_rn(__dmul_rn(t.x, cr), __dmul_rn(t.y, ci));
  r.y = __dadd_rn(__dmul_rn(t.x, ci), __dmul_rn(t.y, cr));
  return r;
}

// grid (ceil(nf/256), pairs); pair = local spectrum * M + model
__global__ void prod_kernel(const double2 *__restrict__ in, const double2 *__restrict__ bfft,
                            const double2 *__restrict__ bfft2, double2 *__restrict__ out, int nf,
                            int M, int s0) {
  int q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= nf) return;
  int pair = blockIdx.y, sl = pair / M, m = pair - sl * M;
  size_t sp = (size_t)s0 + (size_t)sl;
  double2 Fs = in[(2 * sp) * (size_t)nf + q], Fw = in[(2 * sp + 1) * (size_t)nf + q];
  double2 t = bfft[(size_t)m * nf + q], t2 = bfft2[(size_t)m * nf + q];
  out[(2 * (size_t)pair) * nf + q] = cmul_conj(t, Fs);
  out[(2 * (size_t)pair + 1) * nf + q] = cmul_conj(t2, Fw);
}

__device__ __forceinline__ double ccf_stat(double c0, double c1, int cont) {
  return cont ? __dadd_rn(__dmul_rn(-2.0, c0), c1) : __ddiv_rn(__dmul_rn(-c0, c0), c1);
}

// grid (ceil(nvel/128), pairs): chisq[(s0*M + pair)][i] += interpolated statistic
__global__ void lag_kernel(const double *__restrict__ buf, int nf2, const int *__restrict__ k0,
                           const int *__restrict__ k1, const double *__restrict__ tt, int nvel,
                           double dN, int cont, double *__restrict__ chisq, size_t row0) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= nvel) return;
  size_t pair = blockIdx.y;
  const double *r0 = buf + 2 * pair * (size_t)nf2, *r1 = r0 + nf2;
  int a = k0[i], b = k1[i];
  double sa = ccf_stat(__ddiv_rn(r0[a], dN), __ddiv_rn(r1[a], dN), cont);
  double sb = ccf_stat(__ddiv_rn(r0[b], dN), __ddiv_rn(r1[b], dN), cont);
  double v = __dadd_rn(sa, __dmul_rn(tt[i], __dsub_rn(sb, sa)));
  double *c = chisq + (row0 + pair) * (size_t)nvel + i;
  *c = __dadd_rn(*c, v);
}

#define ARGMIN_THREADS 256
// block per spectrum: min over the M*nvel values of chisq + sse, NaN never
// chosen, ties to the smallest flat index (each thread scans increasing
// indices with a strict <; the combination prefers the smaller index).
__global__ void argmin_kernel(const double *__restrict__ chisq, const double *__restrict__ sse,
                              long long n, int nvel, dred *__restrict__ out) {
  __shared__ double sv[ARGMIN_THREADS];
  __shared__ long long si[ARGMIN_THREADS];
  const double *c = chisq + (size_t)blockIdx.x * (size_t)n;
  double s = sse[blockIdx.x], best = INFINITY;
  long long bi = LLONG_MAX;
  for (long long j = threadIdx.x; j < n; j += blockDim.x) {
    double v = __dadd_rn(c[j], s);
    if (v < best) {
      best = v;
      bi = j;
    }
  }
  sv[threadIdx.x] = best;
  si[threadIdx.x] = bi;
  __syncthreads();
  for (int h = ARGMIN_THREADS / 2; h > 0; h >>= 1) {
    if ((int)threadIdx.x < h) {
      double v = sv[threadIdx.x + h];
      long long k = si[threadIdx.x + h];
      if (v < sv[threadIdx.x] || (v == sv[threadIdx.x] && k < si[threadIdx.x])) {
        sv[threadIdx.x] = v;
        si[threadIdx.x] = k;
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    dred r;
    r.best = sv[0];
    r.idx = si[0] == LLONG_MAX ? -1 : si[0];
    r.y[0] = r.y[1] = r.y[2] = NAN;
    if (r.idx >= 0) {
      long long m = r.idx / nvel, pix = r.idx - m * nvel;
      for (int e = 0; e < 3; e++) {
        long long q = pix - 1 + e;
        if (q >= 0 && q < nvel) r.y[e] = c[m * nvel + q];
      }
    }
    out[blockIdx.x] = r;
  }
}

// ---------------------------------------------------------------- one set of spectra
typedef struct setctx {
  const rvs_ccf_arm *arms;
  int narms, nvel;
  const size_t *idx;  // spectra of the set
  size_t n;
  double maxvel;
  const double *vg;
  rvs_ccf_result *res;
  int *status;
  const cbank *bk[CCF_MAXARMS];
  int ok[CCF_MAXARMS], cont[CCF_MAXARMS];
  size_t M, nf2[CCF_MAXARMS], off[CCF_MAXARMS]; // per arm: padded length, offset in the pass input
  size_t S, Sc, per_in;                         // pass, chunk, doubles of input per spectrum
  cufftHandle fwd[CCF_MAXARMS], inv[CCF_MAXARMS];
  unsigned char *valid[2];
} setctx;

// Sizes from the free memory, buffers, plans: RVS_ERR_NOMEM -> caller shrinks.
static int set_setup(rvs_ccf_gpu *g, setctx *c) {
  size_t fr = 0, tot = 0;
  CK(cudaMemGetInfo(&fr, &tot));
  double budget = 0.8 * (double)(fr + g->held) - 256.0 * (1 << 20);
  if (g->max_bytes && budget > (double)g->max_bytes) budget = (double)g->max_bytes;
  if (budget < 1 << 20) budget = 1 << 20;
  size_t nf2max = 0;
  for (int a = 0; a < c->narms; a++) nf2max = c->nf2[a] > nf2max ? c->nf2[a] : nf2max;
  double per_spec = (double)c->per_in * 8 + (double)c->M * c->nvel * 8 + 8 + sizeof(dred);
  double per_chunk = (double)c->M * 2 * (double)nf2max * 8;
  // chunk: at most a third of the budget and 1 GiB; pass: the rest
  double chunk_cap = budget / 3 < (double)(1u << 30) ? budget / 3 : (double)(1u << 30);
  size_t Scmax = (size_t)(chunk_cap / per_chunk);
  if (Scmax < 1) Scmax = 1;
  if (Scmax * c->M > 65535) Scmax = 65535 / c->M; // grid y of the chunk kernels
  if (Scmax < 1) return rvs_error(RVS_ERR_ARG, "CCF GPU: %zu models per bank (max 65535)", c->M);
  size_t S = g->pass_lim < c->n ? g->pass_lim : c->n;
  double rest = budget - 2 * (double)(S < Scmax ? S : Scmax) * per_chunk; // chunk + FFT work area
  size_t Sm = rest > per_spec ? (size_t)(rest / per_spec) : 1;
  if (S > Sm) S = Sm;
  size_t nch = (S + Scmax - 1) / Scmax, Sc = (S + nch - 1) / nch;
  c->S = S;
  c->Sc = Sc;
  g->stats.pass_spectra = S;
  g->stats.chunk_spectra = Sc;
  size_t acc = 0;
  for (int a = 0; a < c->narms; a++) {
    c->off[a] = acc * S;
    acc += 2 * c->nf2[a];
  }
  int rc;
  size_t nvel = (size_t)c->nvel, na = (size_t)c->narms;
  if ((rc = dev_ensure(g, &g->d_in, &g->c_in, sizeof(double) * S * c->per_in))) return rc;
  if ((rc = dev_ensure(g, &g->d_chunk, &g->c_chunk, sizeof(double) * Sc * c->M * 2 * nf2max))) return rc;
  if ((rc = dev_ensure(g, &g->d_chisq, &g->c_chisq, sizeof(double) * S * c->M * nvel))) return rc;
  if ((rc = dev_ensure(g, &g->d_sse, &g->c_sse, sizeof(double) * S))) return rc;
  if ((rc = dev_ensure(g, &g->d_red, &g->c_red, sizeof(dred) * S))) return rc;
  if ((rc = dev_ensure(g, &g->d_k, &g->c_k, sizeof(int) * 2 * na * nvel))) return rc;
  if ((rc = dev_ensure(g, &g->d_t, &g->c_t, sizeof(double) * na * nvel))) return rc;
  for (int b = 0; b < 2; b++) {
    if ((rc = host_ensure(&g->h_in[b], &g->ch_in[b], sizeof(double) * S * c->per_in))) return rc;
    if ((rc = host_ensure(&g->h_sse[b], &g->ch_sse[b], sizeof(double) * S))) return rc;
    if ((rc = host_ensure(&g->h_red[b], &g->ch_red[b], sizeof(dred) * S))) return rc;
  }
  g->tick++;
  size_t work = 0;
  for (int a = 0; a < c->narms; a++) {
    long long N = (long long)c->bk[a]->N;
    if ((rc = get_plan(g, N, 2 * (long long)S, CUFFT_D2Z, &c->fwd[a]))) return rc;
    if ((rc = get_plan(g, N, 2 * (long long)(Sc * c->M), CUFFT_Z2D, &c->inv[a]))) return rc;
  }
  for (int i = 0; i < g->nplans; i++)
    if (g->plans[i].used == g->tick && g->plans[i].work > work) work = g->plans[i].work;
  if ((rc = dev_ensure(g, &g->d_work, &g->c_work, work))) return rc;
  return RVS_OK;
}

// host: preprocess pass k into buffer k%2
static void set_prep(rvs_ccf_gpu *g, setctx *c, size_t k) {
  int hb = (int)(k % 2);
  size_t first = k * c->S, Sp = c->n - first < c->S ? c->n - first : c->S;
  double *hin = (double *)g->h_in[hb], *hsse = (double *)g->h_sse[hb];
  unsigned char *valid = c->valid[hb];
#pragma omp parallel for schedule(dynamic, 4)
  for (long p = 0; p < (long)Sp; p++) {
    size_t i = c->idx[first + (size_t)p];
    double *fw[CCF_MAXARMS], *w[CCF_MAXARMS];
    for (int a = 0; a < c->narms; a++) {
      fw[a] = hin + c->off[a] + (size_t)p * 2 * c->nf2[a];
      w[a] = fw[a] + c->nf2[a];
    }
    double sse = 0;
    int rc = rvs_ccf_prep_spectrum(c->arms + i * (size_t)c->narms, c->narms, c->maxvel, c->ok, fw, w, &sse);
    if (rc) {
      c->status[i] = rc;
      valid[p] = 0;
      for (int a = 0; a < c->narms; a++) memset(fw[a], 0, sizeof(double) * 2 * c->nf2[a]);
      hsse[p] = 0;
    } else {
      valid[p] = 1;
      hsse[p] = sse;
    }
  }
}

// device: pass k (asynchronous on g->st; event ev[k%2] when its results are on the host)
static int set_enqueue(rvs_ccf_gpu *g, setctx *c, size_t k) {
  int hb = (int)(k % 2);
  size_t first = k * c->S, Sp = c->n - first < c->S ? c->n - first : c->S;
  size_t nvel = (size_t)c->nvel, M = c->M;
  double *din = (double *)g->d_in, *hin = (double *)g->h_in[hb];
  for (int a = 0; a < c->narms; a++)
    CK(cudaMemcpyAsync(din + c->off[a], hin + c->off[a], sizeof(double) * Sp * 2 * c->nf2[a],
                       cudaMemcpyHostToDevice, g->st));
  CK(cudaMemcpyAsync(g->d_sse, g->h_sse[hb], sizeof(double) * Sp, cudaMemcpyHostToDevice, g->st));
  CK(cudaMemsetAsync(g->d_chisq, 0, sizeof(double) * Sp * M * nvel, g->st));
  int rc;
  for (int a = 0; a < c->narms; a++) {
    int nf = (int)(c->nf2[a] / 2);
    if ((rc = exec_plan(g, c->fwd[a], CUFFT_D2Z, din + c->off[a]))) return rc;
    for (size_t s0 = 0; s0 < Sp; s0 += c->Sc) {
      size_t nsp = Sp - s0 < c->Sc ? Sp - s0 : c->Sc;
      unsigned pairs = (unsigned)(nsp * M);
      dim3 gp((unsigned)((nf + 255) / 256), pairs);
      prod_kernel<<<gp, 256, 0, g->st>>>((const double2 *)(din + c->off[a]), c->bk[a]->d_fft,
                                         c->bk[a]->d_fft2, (double2 *)g->d_chunk, nf, (int)M, (int)s0);
      CK_LAUNCH("prod_kernel");
      if ((rc = exec_plan(g, c->inv[a], CUFFT_Z2D, (double *)g->d_chunk))) return rc;
      dim3 gl((unsigned)((nvel + 127) / 128), pairs);
      lag_kernel<<<gl, 128, 0, g->st>>>((const double *)g->d_chunk, (int)c->nf2[a],
                                        (const int *)g->d_k + (size_t)a * 2 * nvel,
                                        (const int *)g->d_k + (size_t)a * 2 * nvel + nvel,
                                        (const double *)g->d_t + (size_t)a * nvel, (int)nvel,
                                        (double)c->bk[a]->N, c->cont[a], (double *)g->d_chisq, s0 * M);
      CK_LAUNCH("lag_kernel");
      g->stats.chunks++;
    }
  }
  argmin_kernel<<<(unsigned)Sp, ARGMIN_THREADS, 0, g->st>>>((const double *)g->d_chisq, (const double *)g->d_sse,
                                                           (long long)(M * nvel), (int)nvel, (dred *)g->d_red);
  CK_LAUNCH("argmin_kernel");
  CK(cudaMemcpyAsync(g->h_red[hb], g->d_red, sizeof(dred) * Sp, cudaMemcpyDeviceToHost, g->st));
  CK(cudaEventRecord(g->ev[hb], g->st));
  g->stats.passes++;
  return RVS_OK;
}

// host: wait for pass k, parabolas, results
static int set_finish(rvs_ccf_gpu *g, setctx *c, size_t k) {
  int hb = (int)(k % 2);
  size_t first = k * c->S, Sp = c->n - first < c->S ? c->n - first : c->S;
  double t0 = now_s();
  CK(cudaEventSynchronize(g->ev[hb]));
  g->stats.wait_s += now_s() - t0;
  const dred *r = (const dred *)g->h_red[hb];
  for (size_t p = 0; p < Sp; p++) {
    if (!c->valid[hb][p]) continue;
    size_t i = c->idx[first + p];
    c->status[i] = rvs_ccf_finish(c->bk[0]->host, c->nvel, c->vg, r[p].idx < 0 ? 0 : (size_t)r[p].idx,
                                  r[p].best, r[p].y, &c->res[i]);
  }
  return RVS_OK;
}

static int run_set(rvs_ccf_gpu *g, setctx *c) {
  const rvs_ccf_arm *a0 = c->arms + c->idx[0] * (size_t)c->narms;
  int rc = rvs_ccf_check_banks(a0, c->narms);
  if (rc) { // a per-spectrum error, as rvs_ccf_fit
    for (size_t p = 0; p < c->n; p++) c->status[c->idx[p]] = rc;
    return RVS_OK;
  }
  c->M = a0[0].bank->nmodel;
  size_t nvel = (size_t)c->nvel, na = (size_t)c->narms;
  c->per_in = 0;
  int bi[CCF_MAXARMS];
  for (int a = 0; a < c->narms; a++)
    if ((rc = get_bank(g, a0[a].bank, &bi[a]))) return rc;
  for (int a = 0; a < c->narms; a++) { // (g->banks may have moved while growing)
    c->bk[a] = &g->banks[bi[a]];
    c->nf2[a] = 2 * c->bk[a]->nf;
    c->per_in += 2 * c->nf2[a];
    c->cont[a] = a0[a].bank->conf.continuum != 0;
  }
  // lag tables: [arm][k0 | k1] ints, [arm] weights
  int *hk = (int *)calloc(2 * na * nvel, sizeof(int));
  double *ht = (double *)calloc(na * nvel, sizeof(double));
  if (!hk || !ht) {
    free(hk); free(ht);
    return rvs_error(RVS_ERR_NOMEM, "CCF GPU: no memory");
  }
  for (int a = 0; a < c->narms && !rc; a++) {
    long nsub = rvs_ccf_lag_table(&a0[a].bank->conf, c->maxvel, c->nvel, c->vg, hk + (size_t)a * 2 * nvel,
                                  hk + (size_t)a * 2 * nvel + nvel, ht + (size_t)a * nvel);
    if (nsub < 0) rc = rvs_error(RVS_ERR_NOMEM, "CCF GPU: no memory");
    c->ok[a] = nsub >= 2;
  }
  // set-up, shrinking the pass on out-of-memory
  while (!rc) {
    rc = set_setup(g, c);
    if (rc != RVS_ERR_NOMEM) break;
    if (g->pass_lim <= 1 && c->Sc <= 1) break;
    rvs_log(RVS_LOG_DEBUG, "CCF GPU: out of memory with passes of %zu spectra: retrying with %zu",
            g->pass_lim < c->n ? g->pass_lim : c->n, (g->pass_lim < c->n ? g->pass_lim : c->n) / 2);
    g->pass_lim = (g->pass_lim < c->n ? g->pass_lim : c->n) / 2;
    if (g->pass_lim < 1) g->pass_lim = 1;
    g->stats.retries++;
    int frc = free_scratch(g);
    if (frc) rc = frc;
    else rc = RVS_OK;
  }
  if (!rc) {
    cudaError_t e = cudaMemcpyAsync(g->d_k, hk, sizeof(int) * 2 * na * nvel, cudaMemcpyHostToDevice, g->st);
    if (e == cudaSuccess) e = cudaMemcpyAsync(g->d_t, ht, sizeof(double) * na * nvel, cudaMemcpyHostToDevice, g->st);
    if (e == cudaSuccess) e = cudaStreamSynchronize(g->st);
    if (e != cudaSuccess) rc = cuda_fail(e, "cudaMemcpyAsync(lag tables)", __FILE__, __LINE__);
  }
  free(hk);
  free(ht);
  if (rc) return rc;
  c->valid[0] = (unsigned char *)malloc(c->S);
  c->valid[1] = (unsigned char *)malloc(c->S);
  if (!c->valid[0] || !c->valid[1]) rc = rvs_error(RVS_ERR_NOMEM, "CCF GPU: no memory");
  size_t npass = (c->n + c->S - 1) / c->S;
  double t0;
  if (!rc) {
    t0 = now_s();
    set_prep(g, c, 0);
    g->stats.host_prep_s += now_s() - t0;
    rc = set_enqueue(g, c, 0);
  }
  for (size_t k = 1; k < npass && !rc; k++) {
    t0 = now_s();
    set_prep(g, c, k); // overlaps the device's pass k-1
    g->stats.host_prep_s += now_s() - t0;
    if ((rc = set_finish(g, c, k - 1))) break;
    rc = set_enqueue(g, c, k);
  }
  if (!rc) rc = set_finish(g, c, npass - 1);
  if (rc) cudaStreamSynchronize(g->st); // nothing of this call in flight afterwards
  free(c->valid[0]);
  free(c->valid[1]);
  return rc;
}

// ---------------------------------------------------------------- API
extern "C" int rvs_ccf_gpu_create(int device, rvs_ccf_gpu **out) {
  *out = NULL;
  rvs_ccf_gpu *g = (rvs_ccf_gpu *)calloc(1, sizeof *g);
  if (!g) return rvs_error(RVS_ERR_NOMEM, "CCF GPU: no memory");
  g->device = device;
  g->max_pass = CCF_DEFAULT_PASS;
  g->pass_lim = CCF_DEFAULT_PASS;
  cudaError_t e = cudaSetDevice(device);
  if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&g->st, cudaStreamNonBlocking);
  if (e == cudaSuccess) e = cudaEventCreateWithFlags(&g->ev[0], cudaEventDisableTiming);
  if (e == cudaSuccess) e = cudaEventCreateWithFlags(&g->ev[1], cudaEventDisableTiming);
  if (e != cudaSuccess) {
    int rc = cuda_fail(e, "cudaSetDevice/cudaStreamCreate/cudaEventCreate", __FILE__, __LINE__);
    rvs_ccf_gpu_free(g);
    return rc;
  }
  *out = g;
  return RVS_OK;
}

extern "C" void rvs_ccf_gpu_free(rvs_ccf_gpu *g) {
  if (!g) return;
  cudaSetDevice(g->device);
  if (g->st) cudaStreamSynchronize(g->st);
  free_scratch(g);
  for (int i = 0; i < g->nbanks; i++) {
    cudaFree(g->banks[i].d_fft);
    cudaFree(g->banks[i].d_fft2);
  }
  free(g->banks);
  for (int b = 0; b < 2; b++) {
    if (g->h_in[b]) cudaFreeHost(g->h_in[b]);
    if (g->h_sse[b]) cudaFreeHost(g->h_sse[b]);
    if (g->h_red[b]) cudaFreeHost(g->h_red[b]);
    if (g->ev[b]) cudaEventDestroy(g->ev[b]);
  }
  if (g->st) cudaStreamDestroy(g->st);
  free(g);
}

extern "C" void rvs_ccf_gpu_set_limits(rvs_ccf_gpu *g, size_t max_bytes, size_t max_pass, int fail_allocs) {
  g->max_bytes = max_bytes;
  g->max_pass = max_pass ? max_pass : CCF_DEFAULT_PASS;
  g->pass_lim = g->max_pass;
  g->fail_allocs = fail_allocs;
  cudaSetDevice(g->device);
  free_scratch(g); // so that the cap applies from the next call on
}

extern "C" void rvs_ccf_gpu_get_stats(const rvs_ccf_gpu *g, rvs_ccf_gpu_stats *st) { *st = g->stats; }

static int fail_all(int rc, size_t nspec, int *status) {
  if (status)
    for (size_t i = 0; i < nspec; i++) status[i] = rc;
  return rc;
}

extern "C" int rvs_ccf_gpu_fit_batch(rvs_ccf_gpu *g, const rvs_ccf_arm *arms, int narms, size_t nspec,
                                     double max_vel, double vel_step0, rvs_ccf_result *res, int *status) {
  if (!g || (nspec && (!arms || !res || !status)))
    return fail_all(rvs_error(RVS_ERR_ARG, "CCF GPU: NULL argument"), nspec, status);
  if (narms < 1) return fail_all(rvs_error(RVS_ERR_ARG, "CCF: no arms"), nspec, status);
  if (narms > CCF_MAXARMS)
    return fail_all(rvs_error(RVS_ERR_ARG, "CCF GPU: %d arms (max %d)", narms, CCF_MAXARMS), nspec, status);
  if (!nspec) return RVS_OK;
  double t0 = now_s();
  g->stats.calls++;
  double maxvel;
  int nvel, rc = rvs_ccf_vel_setup(max_vel, vel_step0, &maxvel, &nvel);
  if (rc) return fail_all(rc, nspec, status);
  double *vg = (double *)malloc(sizeof(double) * (size_t)nvel);
  size_t *order = (size_t *)malloc(sizeof(size_t) * nspec), *set_first = NULL, *set_count = NULL;
  int *set_of = (int *)malloc(sizeof(int) * nspec);
  int nsets = 0, capsets = 0;
  if (!vg || !order || !set_of) {
    rc = rvs_error(RVS_ERR_NOMEM, "CCF GPU: no memory");
    goto done;
  }
  rvs_ccf_vel_grid(maxvel, nvel, vg);
  {
    cudaError_t e = cudaSetDevice(g->device);
    if (e != cudaSuccess) {
      rc = cuda_fail(e, "cudaSetDevice", __FILE__, __LINE__);
      goto done;
    }
  }
  // group the spectra by their tuple of banks (keeping their order)
  for (size_t i = 0; i < nspec && !rc; i++) {
    const rvs_ccf_arm *ai = arms + i * (size_t)narms;
    int s = -1;
    for (int t = nsets - 1; t >= 0 && s < 0; t--) { // most often the last set
      const rvs_ccf_arm *af = arms + set_first[t] * (size_t)narms;
      int a = 0;
      while (a < narms && af[a].bank == ai[a].bank) a++;
      if (a == narms) s = t;
    }
    if (s < 0) {
      if (nsets == capsets) {
        capsets = capsets ? 2 * capsets : 4;
        size_t *nf = (size_t *)realloc(set_first, sizeof(size_t) * (size_t)capsets);
        if (nf) set_first = nf;
        size_t *nc = (size_t *)realloc(set_count, sizeof(size_t) * (size_t)capsets);
        if (nc) set_count = nc;
        if (!nf || !nc) {
          rc = rvs_error(RVS_ERR_NOMEM, "CCF GPU: no memory");
          break;
        }
      }
      s = nsets++;
      set_first[s] = i;
      set_count[s] = 0;
    }
    set_of[i] = s;
    set_count[s]++;
  }
  if (!rc) {
    for (size_t i = 0; i < nspec; i++) status[i] = RVS_ERR_DEVICE; // every one is overwritten
    size_t pos = 0;
    for (int s = 0; s < nsets && !rc; s++) {
      size_t n = 0;
      for (size_t i = set_first[s]; i < nspec; i++)
        if (set_of[i] == s) order[pos + n++] = i;
      setctx c;
      memset(&c, 0, sizeof c);
      c.arms = arms;
      c.narms = narms;
      c.nvel = nvel;
      c.idx = order + pos;
      c.n = n;
      c.maxvel = maxvel;
      c.vg = vg;
      c.res = res;
      c.status = status;
      rc = run_set(g, &c);
      pos += n;
    }
  }
done:
  free(vg);
  free(order);
  free(set_of);
  free(set_first);
  free(set_count);
  g->stats.total_s += now_s() - t0;
  if (rc) return fail_all(rc, nspec, status);
  return RVS_OK;
}
