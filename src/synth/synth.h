/* Synthetic stellar spectra: a small, physically grounded LTE synthesis
 * (grey model atmosphere, H- continuum, Saha/Boltzmann populations, Voigt
 * lines formed in the Milne-Eddington approximation, Stark-broadened hydrogen
 * lines, molecules).  docs/SYNTHETIC.md describes the model.
 *
 * Public API used by rvs_synth_grid, the DESI simulator and the tests. */
#ifndef RVS_SYNTH_SYNTH_H
#define RVS_SYNTH_SYNTH_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RVS_SYNTH_VERSION "1.0"

typedef struct rvs_synth_params {
  double teff;   /* K */
  double logg;   /* cgs */
  double feh;    /* [Fe/H] */
  double alpha;  /* [alpha/Fe] (O Ne Mg Si S Ca Ti) */
  double vmicro; /* km/s; <= 0 selects the default (rvs_synth_default_vmicro) */
} rvs_synth_params;

/* Line list in memory (struct of arrays, sorted by wavelength). */
typedef struct rvs_synth_linelist rvs_synth_linelist;

/* Load the GALAH-format HDF5 list at `path` (datasets wl, log_gf, E_lo,
 * ionization, formula, gamma_rad, gamma_stark, vdW) and add the companion
 * list of lines outside its windows (data/linelists/synth_extra_lines.txt,
 * found as described for rvs_synth_find_extra_lines).  path == NULL: the
 * default list (rvs_synth_default_linelist_path). */
int rvs_synth_linelist_load(const char *path, rvs_synth_linelist **out);

/* As above with an explicit companion list ("" or NULL: none). */
int rvs_synth_linelist_load2(const char *h5path, const char *extra_path,
                             rvs_synth_linelist **out);
void rvs_synth_linelist_free(rvs_synth_linelist *ll);
/* Number of lines held (atomic + molecular). */
size_t rvs_synth_linelist_size(const rvs_synth_linelist *ll);

/* Surface flux (erg/s/cm^2/cm, like PHOENIX) at the vacuum wavelengths
 * lam[0..n-1] (Angstrom, increasing; any spacing) into flux[0..n-1].
 * Deterministic; thread-safe (no shared state is written). */
int rvs_synth_spectrum(const rvs_synth_linelist *ll, const rvs_synth_params *p,
                       const double *lam, size_t n, double *flux);

/* Continuum only (no lines), same conventions. */
int rvs_synth_continuum(const rvs_synth_params *p, const double *lam, size_t n,
                        double *flux);

/* Log-uniform vacuum wavelength grid wmin..wmax (inclusive of wmin) with
 * step ln(1 + 1/R); *lam is malloc'ed. */
int rvs_synth_wavelength_grid(double wmin, double wmax, double R, double **lam, size_t *n);

/* Default microturbulence (km/s) as a function of Teff and logg. */
double rvs_synth_default_vmicro(double teff, double logg);

/* Default HDF5 line list: $RVS_SHARED_DATA/linelists/galah_dr3_linelist.h5,
 * else RVS_DEFAULT_LINELIST (compile-time), else
 * <source>/../shared/data/linelists/galah_dr3_linelist.h5; first that exists
 * (the compile-time one if none does).  Writes into buf. */
const char *rvs_synth_default_linelist_path(char *buf, size_t cap);

/* Companion list: $RVS_SYNTH_EXTRA_LINES if set, else
 * <dir of the HDF5 list>/synth_extra_lines.txt, else
 * <source>/data/linelists/synth_extra_lines.txt; "" if none exists. */
const char *rvs_synth_find_extra_lines(const char *h5path, char *buf, size_t cap);

/* Air <-> vacuum (IAU, Morton 2000), Angstrom. */
double rvs_synth_air_to_vac(double lam_air);
double rvs_synth_vac_to_air(double lam_vac);

#ifdef __cplusplus
}
#endif
#endif
