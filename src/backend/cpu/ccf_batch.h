/* The steps of rvs_ccf_fit (ccf_cpu.c) taken apart, for batched CCF
 * initialisation where the FFTs run elsewhere (src/backend/cuda/ccf_cuda.cu):
 * the velocity grid, the lag table (which lags are kept and how they are
 * interpolated onto the velocity grid), the preprocessing of one spectrum
 * (every arm, in rvs_ccf_fit's order of checks) and the final parabola.
 * Same arithmetic as ccf_cpu.c, step by step; tests/test_ccf_batch.c checks
 * that an FFTW pipeline built on these helpers reproduces rvs_ccf_fit bit
 * for bit. */
#ifndef RVS_BACKEND_CPU_CCF_BATCH_H
#define RVS_BACKEND_CPU_CCF_BATCH_H

#include "backend/cpu/ccf_cpu.h"

#include <stddef.h>

/* config max_vel / vel_step0 (0 -> 1000 / 2) -> maxvel and the number of
 * velocities 2*(int)(maxvel/vstep)+1 (RVS_ERR_ARG when < 1). */
int rvs_ccf_vel_setup(double max_vel, double vel_step0, double *maxvel, int *nvel);

/* vel_grid[nvel] = -maxvel + 2 maxvel i/(nvel-1) (0 for nvel == 1). */
void rvs_ccf_vel_grid(double maxvel, int nvel, double *vel_grid);

/* Lag table of one arm: the kept lags (|v| < maxvel + step, increasing v)
 * and, per velocity i, the two kept lags k0[i], k1[i] (indices into the
 * inverse FFT's N outputs) and the weight t[i] of the linear interpolation
 *   stat(i) = s(k0) + t[i] * (s(k1) - s(k0)).
 * Returns the number of kept lags; when < 2, k0/k1/t are not written (the
 * CPU's "bank grid too coarse" error). */
long rvs_ccf_lag_table(const rvs_ccf_conf *conf, double maxvel, int nvel, const double *vel_grid,
                       int *k0, int *k1, double *t);

/* RVS_OK, or RVS_ERR_ARG (narms < 1) / RVS_ERR_FORMAT (banks of the arms
 * differ in models or parameters), as rvs_ccf_fit. */
int rvs_ccf_check_banks(const rvs_ccf_arm *arms, int narms);

/* Preprocess every arm of one spectrum: fw[a][k] = f[k] w[k] and w[a][k]
 * (k < npoints of arm a's bank) and total_sse = sum over arms and k of
 * f^2 w in rvs_ccf_fit's order.  Checks in rvs_ccf_fit's order: per arm the
 * preprocessing error, then lag_ok[a] == 0 -> RVS_ERR_FORMAT ("bank grid
 * too coarse").  The arrays of arms after a failing one are not written. */
int rvs_ccf_prep_spectrum(const rvs_ccf_arm *arms, int narms, double maxvel, const int *lag_ok,
                          double *const *fw, double *const *w, double *total_sse);

/* The result from the argmin over (model, velocity) of chisq + total_sse:
 * best flat index (model*nvel + pixel), its value `best`, and the row's
 * values (without total_sse) at pixel-1, pixel, pixel+1 (y[0], y[2] unused
 * at the ends).  best not finite -> RVS_ERR_NUMERIC, as rvs_ccf_fit. */
int rvs_ccf_finish(const rvs_ccf_bank *bank0, int nvel, const double *vel_grid, size_t best_flat,
                   double best, const double y[3], rvs_ccf_result *res);

#endif
