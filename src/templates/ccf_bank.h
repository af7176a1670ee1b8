/* CCF template bank (upstream make_ccf.py, ALGORITHM.md §2.8): a Morton-order
 * subsample of the templates, optionally rotated by each vsini, continuum
 * normalised by the robust spline fit, resampled onto a uniform ln(lambda)
 * grid of power-of-two length, with the real FFTs of model and model^2.
 * Stored in our HDF5 file ccf_[nocont_]<setup>.h5 (docs/formats/interp_ccf.md). */
#ifndef RVS_TEMPLATES_CCF_BANK_H
#define RVS_TEMPLATES_CCF_BANK_H

#include <stddef.h>
#include <stdint.h>

#include "templates/specs_file.h"

#define RVS_CCF_FORMAT "rvspecfit-c ccf 1"

typedef struct rvs_ccf_conf {
  double logl0, logl1; /* ln(lambda) of the first and last grid point */
  size_t npoints;      /* grid length, a power of two */
  int continuum;       /* 1: models divided by their fitted continuum */
  int maxcontpts;      /* 20, as upstream */
  double splinestep;   /* km/s, continuum spline node step (continuum only) */
} rvs_ccf_conf;

typedef struct rvs_ccf_bank {
  rvs_ccf_conf conf;
  size_t nmodel;  /* M = (selected templates) x (vsini values) */
  size_t nparam;
  size_t nfreq;   /* npoints/2 + 1 */
  char **parnames;     /* [nparam] */
  double *params;      /* [M][nparam] raw parameters */
  double *vsinis;      /* [M] km/s; NaN = no rotation (upstream None) */
  long long *specs_index; /* [M] row of the template in specs_<setup>.h5 */
  double *models;      /* [M][npoints] */
  double *fft;         /* [M][nfreq][2] (re, im) = rfft(models) */
  double *fft2;        /* [M][nfreq][2] = rfft(models^2) */
  char *revision, *cmdline;
} rvs_ccf_bank;

/* upstream to_power_two: 2^ceil(log2(i)), i >= 1. */
size_t rvs_ccf_to_power_two(long long i);

/* ccfconf for --lambda0/--lambda1/--step and --nocontinuum (continuum = 0). */
int rvs_ccf_conf_init(rvs_ccf_conf *conf, double lambda0, double lambda1, double step,
                      int continuum);

/* ln(lambda) grid: numpy linspace(logl0, logl1, npoints) into logl[npoints]. */
void rvs_ccf_logl_grid(const rvs_ccf_conf *conf, double *logl);

/* Morton (Z-order) ids of templates with raw parameters vec[nparam][nspec]:
 * per parameter the dense rank over its max rank (0 for a constant
 * parameter; upstream divides by zero), quantised to 64/nparam bits and bit-
 * interleaved (bit t of parameter i -> bit t*nparam+i) into a 64-bit id.
 * rvs_ccf_select orders them as upstream's signed int64 (ids with the top bit
 * set first), so a bank holds exactly upstream's templates. */
int rvs_ccf_morton_ids(const double *vec, size_t nparam, size_t nspec, uint64_t *ids);

/* Indices 0, every, 2*every, ... of the stable ascending sort of ids; inds
 * needs room for ceil(n/every) entries. */
int rvs_ccf_select(const uint64_t *ids, size_t n, size_t every, size_t *inds, size_t *nsel);

/* One bank model (upstream preprocess_model): flux[npix] (linear) on lam[npix]
 * -> out[npoints].  vsini: NaN or <= 0 means no rotation (then lam need not be
 * log-uniform).  Thread-safe. */
int rvs_ccf_preprocess_model(const rvs_ccf_conf *conf, const double *lam,
                             const double *flux, size_t npix, double vsini, double *out);

/* The whole bank from a template library.  vsinis[nvsini] (nvsini = 0 means
 * upstream's [None]); model index = imodel*n_vsini + ivsini.  nthreads <= 0:
 * OpenMP default. */
int rvs_ccf_bank_build(const rvs_specs *s, const rvs_ccf_conf *conf, size_t every,
                       const double *vsinis, size_t nvsini, int nthreads,
                       rvs_ccf_bank **out);

int rvs_ccf_bank_save(const rvs_ccf_bank *b, const char *path); /* atomic */
int rvs_ccf_bank_load(const char *path, rvs_ccf_bank **out);
void rvs_ccf_bank_free(rvs_ccf_bank *b);

/* "<prefix>/ccf_<setup>.h5" or "<prefix>/ccf_nocont_<setup>.h5". */
int rvs_ccf_file_name(const char *prefix, const char *setup, int continuum, char *buf,
                      size_t cap);

#endif
