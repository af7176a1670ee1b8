/* Writing synthetic template grids in the PHOENIX-like layout upstream
 * rvspecfit reads (rvs_read_grid --prefix DIR/ --wavefile DIR/WAVE_SYNTH.fits):
 *   DIR/WAVE_SYNTH.fits   primary HDU: float64 vacuum wavelengths (A)
 *   DIR/Z<feh>.A<alpha>/synth_t<teff>_g<logg>_z<feh>_a<alpha>.fits
 *                         primary HDU: float32 flux, keys PHXTEFF PHXLOGG
 *                         PHXM_H PHXALPHA (+ SYNTHVER VMICRO). */
#ifndef RVS_SYNTH_GRID_WRITER_H
#define RVS_SYNTH_GRID_WRITER_H

#include <stddef.h>

#include "synth/synth.h"

#define RVS_SYNTH_MAX_NODES 256

typedef struct rvs_synth_axes {
  size_t nteff, nlogg, nfeh, nalpha;
  double teff[RVS_SYNTH_MAX_NODES], logg[RVS_SYNTH_MAX_NODES];
  double feh[RVS_SYNTH_MAX_NODES], alpha[RVS_SYNTH_MAX_NODES];
} rvs_synth_axes;

/* Fill axes with a named preset ("default" or "tiny"). */
int rvs_synth_preset(const char *name, rvs_synth_axes *ax);

/* Parse "v1,v2,..." or "start:stop:step" (stop included) into vals. */
int rvs_synth_parse_axis(const char *spec, double *vals, size_t *n, size_t cap);

/* Paths of the files of one spectrum (dir and file) under outdir. */
int rvs_synth_spectrum_path(const char *outdir, double teff, double logg, double feh,
                            double alpha, char *dir, size_t dcap, char *file, size_t fcap);

int rvs_synth_write_wavefile(const char *path, const double *lam, size_t n);
/* Check that an existing wavelength file holds exactly lam (RVS_ERR_FORMAT if not). */
int rvs_synth_check_wavefile(const char *path, const double *lam, size_t n);
int rvs_synth_write_spectrum(const char *path, const rvs_synth_params *p, double vmicro,
                             const double *flux, size_t n);

typedef struct rvs_synth_grid_opts {
  const char *outdir;
  double wmin, wmax, resolution;
  int nthreads;  /* <= 0: OpenMP default */
  int overwrite; /* 0: keep existing spectrum files (resume) */
  double vmicro; /* <= 0: default law */
} rvs_synth_grid_opts;

/* Synthesise and write every spectrum of the grid (parallel over spectra).
 * *nwritten / *nskipped count files.  Stops at the first failure. */
int rvs_synth_make_grid(const rvs_synth_linelist *ll, const rvs_synth_axes *ax,
                        const rvs_synth_grid_opts *o, size_t *nwritten, size_t *nskipped);

#endif
