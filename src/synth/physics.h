/* Internal interfaces of the synthesis (constants, continuum opacity, model
 * atmosphere, radiative transfer helpers, Voigt, hydrogen, molecules). */
#ifndef RVS_SYNTH_PHYSICS_H
#define RVS_SYNTH_PHYSICS_H

#include <stddef.h>

#include "synth/synth.h"

/* cgs constants (CODATA 2018) */
#define RVS_C_CGS 2.99792458e10
#define RVS_H_CGS 6.62607015e-27
#define RVS_K_CGS 1.380649e-16
#define RVS_K_EV 8.617333262e-5
#define RVS_ME_CGS 9.1093837015e-28
#define RVS_E_ESU 4.80320471e-10
#define RVS_AMU_CGS 1.66053906660e-24
#define RVS_SIGMA_SB 5.670374419e-5
#define RVS_HC_OVER_K_A 1.438776877e8 /* hc/k in Angstrom K */
/* pi e^2 / (m_e c^2) in cm: integrated line cross-section per unit gf, per lambda^2 */
#define RVS_PI_E2_MC2 8.85282e-13
#define RVS_CHI_H 13.598434        /* eV */
#define RVS_CHI_HMINUS 0.754195    /* eV */

/* ------------------------------------------------------------ radiation */
/* Planck B_lambda (erg/s/cm^2/cm/sr) at vacuum wavelength lam (Angstrom). */
double rvs_planck_lambda(double lam_A, double T);
/* Exponential integral E_n(x), n >= 1, x >= 0 (E_1(0) = inf). */
double rvs_expint(int n, double x);

/* ------------------------------------------------------------ opacity */
/* H- bound-free photo-detachment cross-section (cm^2), John (1988) fit. */
double rvs_hminus_bf_xsec(double lam_A);
/* H- free-free absorption per neutral H atom per unit electron pressure
 * (cm^4/dyn), John (1988), stimulated emission included. */
double rvs_hminus_ff(double lam_A, double T);
/* Hydrogenic bound-free cross-section from level n (cm^2), Gaunt factor 1. */
double rvs_hydrogen_bf_xsec(int n, double lam_A);

/* Number densities (cm^-3) of one layer that the continuum needs. */
typedef struct rvs_cont_layer {
  double T, ne, nH0, nHp, nHminus;
  double nH2;
} rvs_cont_layer;
/* Continuous opacity (cm^-1, absorption + scattering) at lam. */
double rvs_kappa_cont(const rvs_cont_layer *L, double lam_A);

/* ------------------------------------------------------------ atmosphere */
#define RVS_ATM_NL 48 /* layers, log tau_5000 from -6.2 to +2.2 */
#define RVS_ATM_NSPEC_Z 92
typedef struct rvs_atmos {
  int nl;
  double teff, logg, feh, alpha, vmicro_cms;
  double eps[RVS_ATM_NSPEC_Z + 1];    /* abundances by number relative to H */
  double logtau[RVS_ATM_NL], tau[RVS_ATM_NL];
  double T[RVS_ATM_NL], Pg[RVS_ATM_NL], Pe[RVS_ATM_NL];
  double nH_tot[RVS_ATM_NL];          /* H nuclei per cm^3 */
  rvs_cont_layer cont[RVS_ATM_NL];
  /* per element: free-atom fraction (not in molecules) of its nuclei, and
   * ionisation fractions of the free atoms */
  float free_frac[RVS_ATM_NL][RVS_ATM_NSPEC_Z + 1];
  float ion_frac[RVS_ATM_NL][RVS_ATM_NSPEC_Z + 1][3];
  /* molecules: number density (cm^-3) per table entry */
  double n_mol[RVS_ATM_NL][24];
} rvs_atmos;

/* Temperature of the grey atmosphere with surface cooling, T(tau_5000). */
double rvs_atmos_temperature(double teff, double tau);
/* Build the layer structure (hydrostatic equilibrium, ionisation, molecules). */
int rvs_atmos_build(const rvs_synth_params *p, rvs_atmos *atm);

/* ------------------------------------------------------------ Voigt */
/* Voigt function H(a, v) = Re w(v + i a) (integral over v = sqrt(pi)). */
double rvs_voigt_H(double a, double v);

/* ------------------------------------------------------------ lines */
struct rvs_synth_linelist {
  size_t n;
  double *wl;        /* vacuum Angstrom, sorted */
  float *log_gf, *E_lo, *gamma_rad, *gamma_stark, *vdW;
  unsigned char *z1, *z2; /* atomic numbers; z2 = 0 for atoms */
  signed char *ion;       /* 0 neutral, 1 singly ionised, ... */
};

/* ------------------------------------------------------------ hydrogen */
/* Vacuum wavelength (A) and oscillator strength of H n_lo -> n_up. */
double rvs_hydrogen_wavelength(int n_lo, int n_up);
double rvs_hydrogen_fvalue(int n_lo, int n_up);

/* ------------------------------------------------------------ line environment */
/* What line opacity needs from the model: a subset of the layers ("line
 * layers") with their weak-line weights and continuous opacity, tabulated on
 * wavelength nodes.  Built by synth.c. */
#define RVS_NLL 16
typedef struct rvs_line_env {
  const rvs_atmos *atm;
  int nll;
  int layer[RVS_NLL];       /* index into atm layers */
  double T[RVS_NLL], theta[RVS_NLL] /* 1/kT in 1/eV */, ne[RVS_NLL], nH0[RVS_NLL];
  size_t nnode;
  double *node_lam;          /* [nnode] */
  double *node_w;            /* [nnode][nll] normalised weak-line weights */
  double *node_kc;           /* [nnode][nll] continuous opacity (cm^-1) */
  double vmicro_cms;
} rvs_line_env;

/* Weights and continuous opacity at lam (interpolated between nodes). */
void rvs_line_env_at(const rvs_line_env *env, double lam, double *w, double *kc);

/* Smallest opacity ratio that is worth adding to a pixel. */
#define RVS_ETA_MIN 2e-4

/* Add the hydrogen Balmer and Paschen line opacity ratio (line / continuum)
 * to eta[0..n-1] at wavelengths lam. */
int rvs_hydrogen_add(const rvs_line_env *env, const double *lam, size_t n, double *eta);

/* Add TiO band depressions outside the range of the molecular line list
 * (only matters below ~4000 K). */
void rvs_molecular_bands_add(const rvs_line_env *env, const double *lam, size_t n,
                             double *eta);
#endif
