/* Molecular band depressions where the line list has no molecular lines.
 *
 * The GALAH list holds TiO, CN, C2, MgH... lines only inside its four
 * windows; elsewhere the strong TiO bands of M stars are represented by
 * band-head profiles: opacity ratio A_b * N(TiO)/kappa_c (weak-line weighted)
 * * exp(-(lambda - head)/L_b) redward of each head (TiO bands are degraded to
 * the red).  Band strengths are scaled so that a band's mean opacity matches
 * the mean TiO line opacity of the list in the 7550-7930 A window. */
#include <math.h>

#include "synth/physics.h"
#include "synth/statmech.h"

typedef struct tio_band {
  double head;   /* vacuum A */
  double length; /* e-folding length redward (A) */
  double amp;    /* relative strength */
} tio_band;

/* Principal TiO heads (gamma, gamma', alpha, beta, delta systems) outside
 * the GALAH windows; strengths relative, from the depths in M-dwarf spectra. */
static const tio_band bands[] = {
    {4462.0, 60.0, 0.4},  {4548.0, 60.0, 0.5},  {4585.0, 60.0, 0.4},  {4626.0, 50.0, 0.5},
    {4956.0, 70.0, 0.8},  {5168.0, 80.0, 1.0},  {5242.0, 60.0, 0.6},  {5449.0, 80.0, 1.0},
    {5599.0, 60.0, 0.7},  {6160.0, 100.0, 1.0}, {6216.0, 80.0, 0.8},  {6270.0, 60.0, 0.5},
    {6361.0, 40.0, 0.3},  {6816.0, 50.0, 0.4},  {7055.0, 120.0, 1.4}, {7089.0, 100.0, 1.2},
    {7128.0, 100.0, 1.0}, {7200.0, 80.0, 0.5},  {7268.0, 80.0, 0.3},  {8434.0, 60.0, 0.5},
    {8862.0, 70.0, 0.4},  {9211.0, 60.0, 0.3}};
#define NBANDS ((int)(sizeof bands / sizeof bands[0]))

/* Opacity ratio scale per unit relative strength per TiO number density. */
#define TIO_BAND_SCALE 4.0e-19

static int in_galah_window(double lam) {
  return (lam > 4676 && lam < 4960) || (lam > 5600 && lam < 5910) ||
         (lam > 6400 && lam < 6800) || (lam > 7550 && lam < 7930);
}

void rvs_molecular_bands_add(const rvs_line_env *env, const double *lam, size_t n,
                             double *eta) {
  int m = rvs_sm_mol_index(8, 22);
  if (m < 0 || n == 0) return;
  const rvs_atmos *atm = env->atm;
  double w[RVS_NLL], kc[RVS_NLL];
  for (int b = 0; b < NBANDS; b++) {
    double head = bands[b].head, L = bands[b].length;
    double end = head + 6.0 * L;
    if (end < lam[0] || head > lam[n - 1]) continue;
    rvs_line_env_at(env, head + L, w, kc);
    double x = 0.0;
    for (int l = 0; l < env->nll; l++) x += w[l] * atm->n_mol[env->layer[l]][m] / kc[l];
    double amp = TIO_BAND_SCALE * bands[b].amp * x;
    if (amp < RVS_ETA_MIN) continue;
    for (size_t p = 0; p < n; p++) {
      double d = lam[p] - head;
      if (d < 0 || d > 6.0 * L) continue;
      if (in_galah_window(lam[p])) continue;
      /* a 1 A rise at the head avoids a discontinuity at the pixel scale */
      double rise = d < 1.0 ? d : 1.0;
      eta[p] += amp * rise * exp(-d / L);
    }
  }
}
