/* Rotational broadening (ALGORITHM.md 3.2), limb darkening eps = 0.6, on a
 * template grid uniform in ln(lambda) with step ln_step.  R = (vsini/c)/ln_step
 * is the half-width in pixels.  Weights W_k = int Lambda(k - R x) K(x) dx,
 * k = 0..kmax, kmax = ceil(R + 1), integrate the rotation profile K against
 * the hat function of a piecewise-linear spectrum, in closed form from the
 * primitives of K and xK (as upstream); the kernel [W_kmax..W_0..W_kmax] is
 * divided by its sum.  Convolution as scipy.signal.convolve(mode='same'):
 * same length, zeros beyond both ends (the edges darken). */
#ifndef RVS_CORE_ROTATION_H
#define RVS_CORE_ROTATION_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RVS_VSINI_EPS 0.6
/* Below this R (pixels) the spectrum is returned unchanged (upstream). */
#define RVS_VSINI_MIN_R 1e-9

/* Kernel length 2*kmax+1; 1 when vsini <= 0 or R < 1e-9 (identity kernel);
 * 0 when the arguments are invalid (ln_step <= 0 or not finite, vsini NaN,
 * or a kernel too long to index). */
size_t rvs_vsini_kernel_len(double vsini_kms, double ln_step);

/* Fill kernel[0..len-1] (len = rvs_vsini_kernel_len), normalised to sum 1;
 * [1] for the identity case.  RVS_ERR_ARG if the arguments are invalid or
 * cap < len. */
int rvs_vsini_kernel(double vsini_kms, double ln_step, double *kernel, size_t cap,
                     size_t *len);

/* Unnormalised half kernel W_0..W_kmax for R > 0 pixels (kmax = ceil(R+1),
 * w has kmax+1 entries); returns the sum of the full symmetric kernel,
 * W_0 + 2 sum_{k>=1} W_k. */
double rvs_vsini_half_weights(double R, double *w, size_t kmax);

/* out = spec broadened by vsini (out must not alias spec; n >= 1).  vsini <= 0
 * or R < 1e-9 copies.  No allocation unless kmax >= RVS_VSINI_STACK_TAPS. */
#define RVS_VSINI_STACK_TAPS 4096
int rvs_convolve_vsini(const double *spec, size_t n, double ln_step, double vsini_kms,
                       double *out);

/* out[i] = sum_j in[j] kernel[i + (klen-1)/2 - j] over 0 <= j < n, i.e.
 * scipy.signal.convolve(in, kernel, mode='same') for any klen >= 1 (also
 * klen > n).  out must not alias in. */
int rvs_convolve_same(const double *in, size_t n, const double *kernel, size_t klen,
                      double *out);

#ifdef __cplusplus
}
#endif
#endif
