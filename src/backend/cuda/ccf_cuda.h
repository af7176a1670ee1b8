/* The CCF initialiser (rvs_ccf_fit, backend/cpu/ccf_cpu.h) for a whole batch
 * of spectra on one GPU.  Host: preprocessing (rvs_ccf_preprocess_data,
 * OpenMP over spectra), overlapped with the device work of the previous
 * pass.  Device, FP64: batched D2Z forward FFTs of f*w and w (cuFFT), the
 * 2*M products per spectrum-arm, batched Z2D inverses in chunks sized from
 * the free memory, the statistic on the kept lags interpolated onto the
 * velocity grid and summed over arms, the argmin per spectrum.  Host: the
 * parabola.  Results equal rvs_ccf_fit's (same best model and velocity;
 * values to ~1e-12 relative: the FFTs differ from FFTW's in rounding only).
 * Banks are uploaded once (cached by pointer) and stay on the device for the
 * life of the handle: do not free a bank and reuse its address while a
 * handle that has seen it is alive. */
#ifndef RVS_BACKEND_CUDA_CCF_CUDA_H
#define RVS_BACKEND_CUDA_CCF_CUDA_H

#include <stddef.h>

#include "backend/cpu/ccf_cpu.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rvs_ccf_gpu rvs_ccf_gpu;

int rvs_ccf_gpu_create(int device, rvs_ccf_gpu **out);

/* nspec spectra, each with narms arms: arms[i*narms + a]; fills res[i] and
 * status[i] (RVS_OK or the per-spectrum error, with the same meaning as
 * rvs_ccf_fit's return).  Spectra may use different banks (they are grouped
 * by their tuple of banks).  Returns an error only when the whole call
 * failed (then every status[i] is that error too). */
int rvs_ccf_gpu_fit_batch(rvs_ccf_gpu *g, const rvs_ccf_arm *arms, int narms, size_t nspec,
                          double max_vel, double vel_step0, rvs_ccf_result *res, int *status);

void rvs_ccf_gpu_free(rvs_ccf_gpu *g);

/* ---- test aids */
/* max_bytes: cap on this handle's device scratch (0: none; allocations that
 * would exceed it fail as out-of-memory); max_pass: spectra per pass (0:
 * default 256); fail_allocs: the next that many device allocations fail
 * (simulated exhaustion: the call shrinks its passes and retries).  Frees
 * the scratch buffers, so that a cap applies from the next call on. */
void rvs_ccf_gpu_set_limits(rvs_ccf_gpu *g, size_t max_bytes, size_t max_pass, int fail_allocs);

typedef struct rvs_ccf_gpu_stats {
  size_t calls, passes, chunks, retries; /* retries: shrink-and-retry after out-of-memory */
  size_t pass_spectra, chunk_spectra;    /* sizes chosen by the last call */
  double host_prep_s;                    /* preprocessing (wall, summed over passes) */
  double wait_s;                         /* host waiting for the device */
  double total_s;                        /* wall time in fit_batch */
} rvs_ccf_gpu_stats;
void rvs_ccf_gpu_get_stats(const rvs_ccf_gpu *g, rvs_ccf_gpu_stats *st);

#ifdef __cplusplus
}
#endif

#endif
