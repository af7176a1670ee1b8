/* Grey model atmosphere: Eddington/Hopf T(tau) with a mild surface cooling
 * for line blanketing, hydrostatic equilibrium on the tau_5000 scale with the
 * continuous opacity of opacity.c, Saha ionisation of all elements, and the
 * dissociation equilibrium of the molecules of statmech_tables.c. */
#include <math.h>
#include <string.h>

#include "rvs/status.h"
#include "synth/physics.h"
#include "synth/statmech.h"

#define LOGTAU_TOP (-6.2)
#define LOGTAU_STEP 0.18

/* Surface cooling of line-blanketed atmospheres relative to the grey case:
 * T drops by up to BLANKET_DT of itself in the layers above tau ~ 0.1. */
#define BLANKET_DT 0.06
#define BLANKET_TAU 0.05

double rvs_atmos_temperature(double teff, double tau) {
  double q = 0.7104 - 0.1331 * exp(-3.4488 * tau); /* Hopf function, grey LTE */
  double T = teff * pow(0.75 * (tau + q), 0.25);
  return T * (1.0 - BLANKET_DT * exp(-tau / BLANKET_TAU));
}

/* Electron donors used when solving for the electron pressure. */
static const int donors[] = {1, 2, 6, 11, 12, 13, 14, 19, 20, 22, 24, 25, 26, 28};
#define NDONORS ((int)(sizeof donors / sizeof donors[0]))
/* Elements that enter molecules. */
static const int mol_elems[] = {1, 6, 7, 8, 12, 14, 20, 22, 23, 26, 40};
#define NMOLEL ((int)(sizeof mol_elems / sizeof mol_elems[0]))

typedef struct layer_state {
  double T, Pg, Pe, ne, nHn;
  double free_frac[RVS_ATM_NSPEC_Z + 1];
  double f0[RVS_ATM_NSPEC_Z + 1]; /* neutral fraction of free atoms */
  double n_mol[RVS_SM_NMOL];
  double nmol_tot;
} layer_state;

/* Dissociation equilibrium at fixed T, ne and H-nuclei density. */
static void solve_molecules(const rvs_atmos *atm, layer_state *s) {
  for (int i = 0; i < NMOLEL; i++) s->free_frac[mol_elems[i]] = 1.0;
  memset(s->n_mol, 0, sizeof s->n_mol);
  s->nmol_tot = 0.0;
  if (s->T > 6500.0) return;
  double kT = RVS_K_CGS * s->T;
  double nK[RVS_SM_NMOL];
  for (int m = 0; m < RVS_SM_NMOL; m++) nK[m] = pow(10.0, rvs_sm_mol_log_pK(m, s->T)) / kT;
  for (int it = 0; it < 60; it++) {
    double maxrel = 0.0;
    for (int i = 0; i < NMOLEL; i++) {
      int z = mol_elems[i];
      double nz = atm->eps[z] * s->nHn;
      if (nz <= 0) continue;
      double denom = 1.0;
      for (int m = 0; m < RVS_SM_NMOL; m++) {
        int a = rvs_sm_molecules[m].z1, b = rvs_sm_molecules[m].z2;
        if (a != z && b != z) continue;
        int other = (a == z) ? b : a;
        double mult = (a == b) ? 2.0 : 1.0;
        double n0_other = atm->eps[other] * s->nHn * s->free_frac[other] * s->f0[other];
        denom += mult * s->f0[z] * n0_other / nK[m];
      }
      double nf = 1.0 / denom;
      double upd = sqrt(nf * s->free_frac[z]); /* damped (geometric mean) */
      double rel = fabs(upd - s->free_frac[z]) / s->free_frac[z];
      if (rel > maxrel) maxrel = rel;
      s->free_frac[z] = upd;
    }
    if (maxrel < 1e-7) break;
  }
  for (int m = 0; m < RVS_SM_NMOL; m++) {
    int a = rvs_sm_molecules[m].z1, b = rvs_sm_molecules[m].z2;
    double na = atm->eps[a] * s->nHn * s->free_frac[a] * s->f0[a];
    double nb = atm->eps[b] * s->nHn * s->free_frac[b] * s->f0[b];
    s->n_mol[m] = na * nb / nK[m];
    s->nmol_tot += s->n_mol[m];
  }
}

static void set_neutral_fractions(layer_state *s, double Pe, const int *list, int n) {
  for (int i = 0; i < n; i++) {
    double fr[3];
    rvs_ion_fractions(list[i], s->T, Pe, fr);
    s->f0[list[i]] = fr[0];
  }
}

/* Electrons per H nucleus released at electron pressure Pe. */
static double electrons_per_H(const rvs_atmos *atm, layer_state *s, double Pe) {
  double sum = 0.0;
  for (int i = 0; i < NDONORS; i++) {
    int z = donors[i];
    double fr[3];
    rvs_ion_fractions(z, s->T, Pe, fr);
    s->f0[z] = fr[0];
    sum += atm->eps[z] * s->free_frac[z] * (fr[1] + 2.0 * fr[2]);
  }
  return sum;
}

/* Solve the state of a layer with temperature T and gas pressure Pg. */
static void layer_solve(const rvs_atmos *atm, double T, double Pg, layer_state *s) {
  double kT = RVS_K_CGS * T;
  double E = 0.0;
  for (int z = 1; z <= RVS_ATM_NSPEC_Z; z++) E += atm->eps[z];
  s->T = T;
  s->Pg = Pg;
  for (int z = 1; z <= RVS_ATM_NSPEC_Z; z++) {
    s->free_frac[z] = 1.0;
    s->f0[z] = 1.0;
  }
  s->nmol_tot = 0.0;
  memset(s->n_mol, 0, sizeof s->n_mol);
  double lo = log(Pg) - 40.0, hi = log(Pg) - log(1.0 + 1e-9);
  double nHn = Pg / kT / E;
  for (int outer = 0; outer < (T < 6500 ? 4 : 1); outer++) {
    lo = log(Pg) - 40.0;
    hi = log(Pg * 0.999);
    for (int it = 0; it < 60; it++) {
      double mid = 0.5 * (lo + hi);
      double Pe = exp(mid);
      double nheavy = (Pg - Pe) / kT;
      nHn = (nheavy + s->nmol_tot) / E;
      double ne_prod = nHn * electrons_per_H(atm, s, Pe);
      double ne = Pe / kT;
      if (ne_prod > ne) lo = mid; else hi = mid;
      if (hi - lo < 1e-7) break;
    }
    s->Pe = exp(0.5 * (lo + hi));
    s->nHn = ((Pg - s->Pe) / kT + s->nmol_tot) / E;
    if (T < 6500) {
      set_neutral_fractions(s, s->Pe, mol_elems, NMOLEL);
      solve_molecules(atm, s);
    }
  }
  s->ne = s->Pe / kT;
  s->nHn = ((Pg - s->Pe) / kT + s->nmol_tot) / E;
}

static void layer_cont(const rvs_atmos *atm, const layer_state *s, rvs_cont_layer *c) {
  double fr[3];
  rvs_ion_fractions(1, s->T, s->Pe, fr);
  double nH_free = s->nHn * s->free_frac[1];
  c->T = s->T;
  c->ne = s->ne;
  c->nH0 = nH_free * fr[0];
  c->nHp = nH_free * fr[1];
  /* H- from Saha: N(H0)/N(H-) with U(H-) = 1, U(H0) = 2 */
  double r = rvs_saha_ratio(s->T, s->Pe, 1.0, 2.0, RVS_CHI_HMINUS);
  c->nHminus = r > 0 ? c->nH0 / r : 0.0;
  int mH2 = rvs_sm_mol_index(1, 1);
  c->nH2 = mH2 >= 0 ? s->n_mol[mH2] : 0.0;
  (void)atm;
}

static double mass_per_H(const rvs_atmos *atm) {
  double m = 0.0;
  for (int z = 1; z <= RVS_ATM_NSPEC_Z; z++) m += atm->eps[z] * rvs_atomic_mass(z);
  return m * RVS_AMU_CGS;
}

/* kappa_5000 per gram at (T, Pg) */
static double kappa_mass(const rvs_atmos *atm, double T, double Pg, layer_state *s) {
  rvs_cont_layer c;
  layer_solve(atm, T, Pg, s);
  layer_cont(atm, s, &c);
  double rho = s->nHn * mass_per_H(atm);
  return rvs_kappa_cont(&c, 5000.0) / rho;
}

int rvs_atmos_build(const rvs_synth_params *p, rvs_atmos *atm) {
  if (!(p->teff >= 2000 && p->teff <= 60000) || !(p->logg >= -1 && p->logg <= 6.5) ||
      !(p->feh >= -6 && p->feh <= 2) || !(p->alpha >= -1 && p->alpha <= 2))
    return rvs_error(RVS_ERR_RANGE,
                     "synth: parameters out of range (Teff %g, logg %g, [Fe/H] %g, [a/Fe] %g)",
                     p->teff, p->logg, p->feh, p->alpha);
  memset(atm, 0, sizeof *atm);
  atm->nl = RVS_ATM_NL;
  atm->teff = p->teff;
  atm->logg = p->logg;
  atm->feh = p->feh;
  atm->alpha = p->alpha;
  double vmic = p->vmicro > 0 ? p->vmicro : rvs_synth_default_vmicro(p->teff, p->logg);
  atm->vmicro_cms = vmic * 1e5;
  for (int z = 1; z <= RVS_ATM_NSPEC_Z; z++) {
    double a = rvs_solar_log_eps(z);
    if (z > 2) a += p->feh;
    if (rvs_is_alpha_element(z)) a += p->alpha;
    atm->eps[z] = pow(10.0, a - 12.0);
  }
  double g = pow(10.0, p->logg);
  layer_state s;
  for (int j = 0; j < atm->nl; j++) {
    atm->logtau[j] = LOGTAU_TOP + LOGTAU_STEP * j;
    atm->tau[j] = pow(10.0, atm->logtau[j]);
    atm->T[j] = rvs_atmos_temperature(p->teff, atm->tau[j]);
  }
  /* top boundary: P = g tau / kappa (kappa at that P), by iteration */
  double P = 1.0;
  for (int it = 0; it < 30; it++) {
    double k = kappa_mass(atm, atm->T[0], P, &s);
    double Pn = g * atm->tau[0] / k;
    if (fabs(Pn - P) < 1e-8 * P) {
      P = Pn;
      break;
    }
    P = sqrt(P * Pn);
  }
  atm->Pg[0] = P;
  /* d lnP / d ln tau = g tau / (kappa P): Heun steps with a repeated corrector */
  const double dlt = LOGTAU_STEP * M_LN10;
  for (int j = 0; j + 1 < atm->nl; j++) {
    double lnP = log(atm->Pg[j]);
    double f0 = g * atm->tau[j] / (kappa_mass(atm, atm->T[j], atm->Pg[j], &s) * atm->Pg[j]);
    double lnP1 = lnP + dlt * f0;
    for (int c = 0; c < 3; c++) {
      double P1 = exp(lnP1);
      double f1 = g * atm->tau[j + 1] / (kappa_mass(atm, atm->T[j + 1], P1, &s) * P1);
      lnP1 = lnP + 0.5 * dlt * (f0 + f1);
    }
    atm->Pg[j + 1] = exp(lnP1);
  }
  /* final state of every layer */
  for (int j = 0; j < atm->nl; j++) {
    layer_solve(atm, atm->T[j], atm->Pg[j], &s);
    layer_cont(atm, &s, &atm->cont[j]);
    atm->Pe[j] = s.Pe;
    atm->nH_tot[j] = s.nHn;
    for (int z = 1; z <= RVS_ATM_NSPEC_Z; z++) {
      double fr[3];
      rvs_ion_fractions(z, s.T, s.Pe, fr);
      atm->free_frac[j][z] = (float)s.free_frac[z];
      for (int i = 0; i < 3; i++) atm->ion_frac[j][z][i] = (float)fr[i];
    }
    for (int m = 0; m < RVS_SM_NMOL; m++) atm->n_mol[j][m] = s.n_mol[m];
    if (!isfinite(atm->Pg[j]) || !isfinite(s.Pe) || atm->Pg[j] <= 0)
      return rvs_error(RVS_ERR_NUMERIC, "synth: model atmosphere failed (Teff %g, logg %g)",
                       p->teff, p->logg);
  }
  return RVS_OK;
}

double rvs_synth_default_vmicro(double teff, double logg) {
  /* ~1 km/s for dwarfs, ~2 km/s for giants and supergiants, ~2 for A stars */
  double v = 2.2 - 0.27 * logg;
  if (teff > 6500) v += 0.6 * fmin(1.0, (teff - 6500) / 1500.0);
  if (v < 0.8) v = 0.8;
  if (v > 3.0) v = 3.0;
  return v;
}
