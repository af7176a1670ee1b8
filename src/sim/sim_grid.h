/* A synthetic template grid as written by rvs_synth_grid, loaded for the
 * simulator:
 *   DIR/WAVE_SYNTH.fits   primary HDU: float64 vacuum wavelengths (A), log-uniform
 *   DIR/<subdir>/synth_*.fits  primary HDU: float32 flux, keys PHXTEFF PHXLOGG
 *                         PHXM_H PHXALPHA
 * The nodes form a regular grid in (teff, logg, feh, alpha), possibly with
 * missing nodes.  Only the wavelength range asked for is kept in memory. */
#ifndef RVS_SIM_GRID_H
#define RVS_SIM_GRID_H

#include <stddef.h>

#define RVS_SIM_NPARAM 4 /* teff, logg, feh, alpha */

typedef struct rvs_sim_grid {
  char *dir;
  size_t npix;         /* kept pixels */
  double *wave;        /* [npix] */
  double dlnwave;      /* log step (the grid is log-uniform) */
  size_t naxis[RVS_SIM_NPARAM];
  double *axis[RVS_SIM_NPARAM];   /* sorted node values; teff in K */
  long *node;          /* [nteff][nlogg][nfeh][nalpha] -> spectrum index or -1 */
  size_t nspec;
  float *flux;         /* [nspec][npix] */
} rvs_sim_grid;

/* Load the grid in `dir`, keeping wavelengths within [wmin, wmax] (an error
 * if the grid does not cover them).  nthreads <= 0: OpenMP default. */
int rvs_sim_grid_load(const char *dir, double wmin, double wmax, int nthreads,
                      rvs_sim_grid *g);
void rvs_sim_grid_free(rvs_sim_grid *g);

/* Multilinear interpolation weights at p = (teff, logg, feh, alpha), in
 * (log10 teff, logg, feh, alpha).  Fills up to 16 (spectrum, weight) pairs
 * with non-zero weight and returns their count through *n.  RVS_ERR_RANGE if p
 * is outside the grid or a node with non-zero weight is missing. */
int rvs_sim_grid_weights(const rvs_sim_grid *g, const double p[RVS_SIM_NPARAM],
                         long idx[16], double w[16], int *n);

#endif
