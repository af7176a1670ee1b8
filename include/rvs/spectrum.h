/* Observed spectra as rvspecfit-c's library receives them.
 *
 * One rvs_spectrum is one object: up to RVS_MAXARMS arms or exposures, each
 * fitted with the templates of its setup; their -2 ln L add (upstream's list
 * of SpecData).  The library copies what it needs: the caller's arrays may be
 * freed once a call returns. */
#ifndef RVS_SPECTRUM_H
#define RVS_SPECTRUM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef RVS_MAXARMS
#define RVS_MAXARMS 8
#endif

typedef struct rvs_arm {
  const char *setup;            /* template setup, e.g. "desi_b": selects interp_<setup>.h5 */
  size_t n;                     /* pixels */
  const double *lam;            /* observed wavelengths (Angstrom), increasing */
  const double *flux;
  const double *sigma;          /* 1-sigma errors, finite and > 0 everywhere: give bad
                                   pixels a huge error (upstream masks that way) */
  const unsigned char *badmask; /* 1 = bad; NULL = all good.  Used only for the
                                   reported true chi-square and pixel counts */
  int resol_ndiag;              /* 0: no resolution matrix; else odd band width */
  const double *resol;          /* [n][resol_ndiag]: resol[i*nd + m] = R[i, i+m-nd/2],
                                   the model is R @ (template on the observed pixels) */
} rvs_arm;

typedef struct rvs_spectrum {
  int narms;
  rvs_arm arms[RVS_MAXARMS];
} rvs_spectrum;

#ifdef __cplusplus
}
#endif
#endif
