/* CUDA backend: the batch-evaluation interface of backend.h on one NVIDIA GPU
 * (docs/GPU.md).
 *
 * RVS_EVAL_CHISQ requests run on the device: template interpolation, vsini
 * broadening, the natural-spline solve, Doppler-shifted spline sampling, the
 * resolution band, the continuum normal equations (FP64) and the Cholesky
 * solve.  RVS_EVAL_FULL / RVS_EVAL_CONTINUUM requests (two per fit), and the
 * rare CHISQ requests that need the CPU's slow paths (Cholesky failure ->
 * eigen fallback, non-finite values, query outside the template grid, a vsini
 * kernel or spline grid error), are served by an internal CPU backend that
 * holds the same slots, so every result follows the CPU backend's rules. */
#ifndef RVS_BACKEND_CUDA_BACKEND_H
#define RVS_BACKEND_CUDA_BACKEND_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rvs_backend;
struct rvs_template_lib;
struct rvs_backend_options;

/* Largest npoly served on the GPU (larger: every request goes to the CPU). */
#define RVS_CUDA_MAX_NPOLY 12

/* Create the backend on CUDA device `device`.  RVS_ERR_DEVICE when there is
 * no usable device. */
int rvs_backend_cuda_create(struct rvs_template_lib *lib, const struct rvs_backend_options *opt,
                            int device, struct rvs_backend **out);

/* Counters since creation (for tests and benchmarks). */
typedef struct rvs_cuda_stats {
  long long gpu_requests;      /* CHISQ requests answered by the GPU */
  long long cpu_requests;      /* requests answered by the internal CPU backend */
  long long cpu_fallbacks;     /* ... of which CHISQ requests sent back by the GPU path: */
  long long fb_host;           /*     planning (template/spline/coverage) */
  long long fb_device;         /*     device flag (Cholesky, non-finite, bad template) */
  long long templates;         /* templates built on the device */
  long long sub_batches;       /* device passes */
  long long oom_retries;       /* device allocation failures that shrank the batch */
  double host_seconds;         /* wall time of the host planning of the device passes */
  double device_seconds;       /* wall time from upload to results on the host */
  double cpu_seconds;          /* wall time of the internal CPU backend's requests */
  /* With the environment variable RVS_CUDA_PROFILE=1: device milliseconds per
   * phase (upload, interpolation, vsini, spline, likelihood, finish+download),
   * from CUDA events. */
  double phase_ms[6];
  /* Host planning by step (seconds, always measured): template de-duplication,
   * location in the interpolator, request checks and template numbering,
   * staging (metadata and vsini taps), item sorting, and after the device the
   * -2 ln L sums (finish_requests). */
  double host_step_s[6];
} rvs_cuda_stats;

void rvs_backend_cuda_stats(const struct rvs_backend *b, rvs_cuda_stats *st);

/* Testing aid: treat device scratch allocations beyond `bytes` in total as
 * out of memory (0: no limit), to exercise the shrink-and-retry path. */
void rvs_backend_cuda_set_scratch_limit(struct rvs_backend *b, size_t bytes);

/* Testing aid: process at most `max_templates` templates per device pass
 * (0: automatic, from the free device memory). */
void rvs_backend_cuda_set_max_templates(struct rvs_backend *b, size_t max_templates);

#ifdef __cplusplus
}
#endif
#endif
