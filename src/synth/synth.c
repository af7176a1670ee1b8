/* Spectrum synthesis driver.
 *
 * 1. Model: grey atmosphere in hydrostatic equilibrium (atmosphere.c).
 * 2. On wavelength nodes (every NODE_STEP A): continuum optical depth scale,
 *    source function S = B(T), emergent continuum flux, the Milne-Eddington
 *    flux ratio R(eta) = F(eta)/F(0) for a line-to-continuum opacity ratio
 *    eta constant with depth, and the weak-line weighting function.
 * 3. Every line: strength and widths per line layer, averaged with the
 *    weak-line weights (so weak lines get the exact LTE equivalent width of
 *    the depth-dependent problem), Voigt profile added to eta(lambda).
 * 4. Flux = F_cont(lambda) * R(lambda, eta(lambda)): strong lines saturate
 *    (R -> surface/continuum source ratio) and grow by their damping wings. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rvs/status.h"
#include "synth/physics.h"
#include "synth/statmech.h"

#define NODE_STEP 20.0
#define NETA 81
#define LOGETA0 (-5.0)
#define LOGETA_STEP 0.15
#define LINE_LOGTAU_MIN (-5.0)
#define LINE_LOGTAU_MAX 1.2

typedef struct node_tables {
  size_t n;
  double *lam, *Fc, *R; /* R: [n][NETA] */
} node_tables;

/* ------------------------------------------------------------ nodes */
static double *add_node(double *v, size_t *n, size_t *cap, double x) {
  if (*n == *cap) {
    size_t nc = *cap ? 2 * *cap : 1024;
    double *nv = realloc(v, nc * sizeof *nv);
    if (!nv) {
      free(v);
      return NULL;
    }
    v = nv;
    *cap = nc;
  }
  v[(*n)++] = x;
  return v;
}

/* Nodes spanning [lo, hi] every NODE_STEP, with a pair straddling each
 * hydrogen bound-free edge so the jumps stay sharp. */
static double *make_nodes(double lo, double hi, size_t *nout) {
  size_t n = 0, cap = 0;
  double *v = NULL;
  double edges[8];
  int ne = 0;
  for (int k = 1; k <= 8; k++) {
    double e = 911.7633 * k * k;
    if (e > lo && e < hi) edges[ne++] = e;
  }
  double x = lo;
  int ie = 0;
  while (1) {
    while (ie < ne && edges[ie] <= x) {
      if (!(v = add_node(v, &n, &cap, edges[ie] - 0.005))) return NULL;
      if (!(v = add_node(v, &n, &cap, edges[ie] + 0.005))) return NULL;
      ie++;
    }
    if (n == 0 || x > v[n - 1] + 0.02) {
      if (!(v = add_node(v, &n, &cap, x))) return NULL;
    }
    if (x >= hi) break;
    x = fmin(hi, x + NODE_STEP);
  }
  *nout = n;
  return v;
}

static size_t find_node(const double *lam, size_t n, double x) {
  if (x <= lam[0]) return 0;
  if (x >= lam[n - 1]) return n >= 2 ? n - 2 : 0;
  size_t lo = 0, hi = n - 1;
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (lam[mid] <= x) lo = mid; else hi = mid;
  }
  return lo;
}

void rvs_line_env_at(const rvs_line_env *env, double lam, double *w, double *kc) {
  size_t n = env->nnode;
  if (n == 1) {
    memcpy(w, env->node_w, env->nll * sizeof *w);
    memcpy(kc, env->node_kc, env->nll * sizeof *kc);
    return;
  }
  size_t k = find_node(env->node_lam, n, lam);
  double f = (lam - env->node_lam[k]) / (env->node_lam[k + 1] - env->node_lam[k]);
  if (f < 0) f = 0;
  if (f > 1) f = 1;
  const double *w0 = env->node_w + k * env->nll, *w1 = w0 + env->nll;
  const double *k0 = env->node_kc + k * env->nll, *k1 = k0 + env->nll;
  for (int j = 0; j < env->nll; j++) {
    w[j] = w0[j] * (1 - f) + w1[j] * f;
    kc[j] = k0[j] * (1 - f) + k1[j] * f;
  }
}

/* E3, E4 tabulated on a log grid of x (interpolated in log E), built once per
 * synthesis: the ME table needs ~1e6 evaluations. */
#define NEX 3000
#define EX_LX0 (-9.0)
#define EX_DLX (12.0 / (NEX - 1)) /* x from 1e-9 to 1e3 */
typedef struct expint_tab {
  double lnE3[NEX], lnE4[NEX];
} expint_tab;

static void expint_tab_init(expint_tab *t) {
  for (int i = 0; i < NEX; i++) {
    double x = pow(10.0, EX_LX0 + EX_DLX * i);
    t->lnE3[i] = log(rvs_expint(3, x));
    t->lnE4[i] = log(rvs_expint(4, x));
  }
}

static double expint_fast(const expint_tab *t, int n, double x) {
  if (x < 1e-9) return n == 3 ? 0.5 - x : 1.0 / 3.0 - 0.5 * x;
  double u = (log10(x) - EX_LX0) / EX_DLX;
  if (u >= NEX - 1) return 0.0;
  int i = (int)u;
  double f = u - i;
  const double *tab = n == 3 ? t->lnE3 : t->lnE4;
  return exp(tab[i] * (1 - f) + tab[i + 1] * f);
}

/* Radiative transfer at one node: tau_lambda on the layers, the ME flux
 * ratio table, the continuum flux and the weak-line weights. */
static void node_transfer(const rvs_atmos *atm, const double *k5000, double lam,
                          rvs_line_env *env, size_t k, double *Fc, double *R,
                          const expint_tab *et) {
  int nl = atm->nl;
  double t[RVS_ATM_NL] = {0}, S[RVS_ATM_NL] = {0}, kc[RVS_ATM_NL] = {0};
  for (int j = 0; j < nl; j++) {
    kc[j] = rvs_kappa_cont(&atm->cont[j], lam);
    S[j] = rvs_planck_lambda(lam, atm->T[j]);
  }
  t[0] = atm->tau[0] * kc[0] / k5000[0];
  for (int j = 1; j < nl; j++)
    t[j] = t[j - 1] + 0.5 * (kc[j] / k5000[j] + kc[j - 1] / k5000[j - 1]) *
                          (atm->tau[j] - atm->tau[j - 1]);
  double m[RVS_ATM_NL];
  for (int j = 0; j + 1 < nl; j++) m[j] = (S[j + 1] - S[j]) / (t[j + 1] - t[j]);
  m[nl - 1] = m[nl - 2];
  /* F(q) = 2 pi [S0/2 + sum_j m_j (E4(q t_j) - E4(q t_j+1))/q + m_last E4(q t_N)/q] */
  double F1 = 0.0;
  for (int i = -1; i < NETA; i++) {
    double eta = i < 0 ? 0.0 : pow(10.0, LOGETA0 + LOGETA_STEP * i);
    double q = 1.0 + eta;
    double sum = 0.5 * S[0];
    double e_prev = expint_fast(et, 4, q * t[0]);
    for (int j = 0; j + 1 < nl; j++) {
      double e_next = expint_fast(et, 4, q * t[j + 1]);
      sum += m[j] * (e_prev - e_next) / q;
      e_prev = e_next;
    }
    sum += m[nl - 1] * e_prev / q;
    double F = 2.0 * M_PI * sum;
    if (i < 0) F1 = F; else R[i] = F / F1;
  }
  *Fc = F1;
  /* weak-line weighting: G(s) = 2 pi int_s^inf S'(t) E2(t) dt (piecewise) */
  double G[RVS_ATM_NL];
  double acc = m[nl - 1] * expint_fast(et, 3, t[nl - 1]);
  G[nl - 1] = 2.0 * M_PI * acc;
  for (int j = nl - 2; j >= 0; j--) {
    acc += m[j] * (expint_fast(et, 3, t[j]) - expint_fast(et, 3, t[j + 1]));
    G[j] = 2.0 * M_PI * acc;
  }
  /* fine weights G dt / Fc, gathered onto the line layers (each line layer
   * takes the fine layers nearest to it) */
  double *w = env->node_w + k * env->nll, *kcl = env->node_kc + k * env->nll;
  double wsum = 0.0;
  for (int l = 0; l < env->nll; l++) w[l] = 0.0;
  for (int j = 0; j < nl; j++) {
    double dt = (j == 0 ? t[1] - t[0] : j == nl - 1 ? t[j] - t[j - 1] : t[j + 1] - t[j - 1]) /
                2.0;
    double wj = fmax(G[j], 0.0) * dt / F1;
    int best = 0;
    for (int l = 1; l < env->nll; l++)
      if (abs(env->layer[l] - j) < abs(env->layer[best] - j)) best = l;
    w[best] += wj;
    wsum += wj;
  }
  for (int l = 0; l < env->nll; l++) {
    w[l] = wsum > 0 ? w[l] / wsum : 1.0 / env->nll;
    kcl[l] = kc[env->layer[l]];
  }
}

/* ------------------------------------------------------------ lines */
static double unsold_c6(int z, int ion, double E_lo, double lam_A) {
  /* Unsoeld: C6 = 0.3e-30 [1/(I-E-Ephot)^2 - 1/(I-E)^2] (Z_eff^2 scaled), eV */
  double I = rvs_sm_ion_energy[z - 1][ion];
  if (I <= 0) return 0.0;
  double Eup = E_lo + 12398.42 / lam_A;
  double d1 = I - Eup, d0 = I - E_lo;
  if (d1 <= 0.1) d1 = 0.1;
  if (d0 <= 0.1) d0 = 0.1;
  double zeff = ion + 1.0;
  double c6 = 0.3e-30 * zeff * zeff * (1.0 / (d1 * d1) - 1.0 / (d0 * d0));
  return c6 > 0 ? c6 : 0.0;
}

/* vdW FWHM per neutral H atom (rad/s per cm^-3) at 10^4 K, and the exponent
 * of its temperature scaling (T/1e4)^x */
static double vdw_per_H_1e4(float vdW, int z1, int z2, int ion, double E_lo, double lam,
                            double *texp) {
  const double T = 1e4;
  double mass = z2 ? rvs_atomic_mass(z1) + rvs_atomic_mass(z2) : rvs_atomic_mass(z1);
  double inv_mu = 1.0 / 1.008 + 1.0 / mass;
  double vbar = sqrt(8.0 * RVS_K_CGS * T / M_PI * inv_mu / RVS_AMU_CGS);
  *texp = 0.3;
  if (vdW < 0) return pow(10.0, vdW);
  if (vdW >= 20.0) {
    /* ABO theory: sigma (a0^2) and velocity exponent alpha packed as sigma.alpha */
    double sigma = floor(vdW), alpha = vdW - sigma;
    const double a0 = 5.29177210903e-9, v0 = 1e6;
    double g = pow(4.0 / M_PI, alpha / 2.0) * tgamma((4.0 - alpha) / 2.0) * v0 * sigma * a0 *
               a0 * pow(vbar / v0, 1.0 - alpha);
    *texp = 0.5 * (1.0 - alpha);
    return 2.0 * g; /* FWHM */
  }
  if (z2) return pow(10.0, -7.5);
  double c6 = unsold_c6(z1, ion, E_lo, lam);
  double g = 8.08 * pow(c6, 0.4) * pow(vbar, 0.6);
  if (vdW > 0) g *= vdW; /* fudge factor convention */
  return g;
}

/* Voigt H(a, v): exact (Humlicek) for lines that matter, a cheap form for
 * weak Doppler-dominated ones (error ~ a relative to their small peak). */
static inline double voigt_fast(double a, double v) {
  double v2 = v * v;
  return exp(-v2) + 0.5641896 * a / (v2 + 1.0);
}

typedef struct species_tab {
  /* per species: number density / partition function, per line layer */
  double n_over_U[RVS_SM_NZ][3][RVS_NLL];
  double mol_n_over_Q[RVS_SM_NMOL][RVS_NLL];
  double max_atom[RVS_SM_NZ][3], max_mol[RVS_SM_NMOL];
} species_tab;

static void fill_species(const rvs_atmos *atm, const rvs_line_env *env, species_tab *sp) {
  for (int z = 1; z <= RVS_SM_NZ; z++)
    for (int i = 0; i < 3; i++) {
      sp->max_atom[z - 1][i] = 0.0;
      for (int l = 0; l < env->nll; l++) {
        int j = env->layer[l];
        double T = atm->T[j];
        double n = atm->eps[z] * atm->nH_tot[j] * atm->free_frac[j][z] * atm->ion_frac[j][z][i];
        double v = n / rvs_sm_partition(z, i, T);
        sp->n_over_U[z - 1][i][l] = v;
      }
    }
  for (int m = 0; m < RVS_SM_NMOL; m++) {
    sp->max_mol[m] = 0.0;
    for (int l = 0; l < env->nll; l++) {
      int j = env->layer[l];
      sp->mol_n_over_Q[m][l] = atm->n_mol[j][m] / pow(10.0, rvs_sm_mol_log_Q(m, atm->T[j]));
    }
  }
}

/* Add all lines of the list into eta. */
static void add_lines(const rvs_synth_linelist *ll, const rvs_line_env *env,
                      const species_tab *sp, const double *lam, size_t n, double *eta) {
  if (!ll || ll->n == 0 || n == 0) return;
  const double pad = 50.0;
  double lo = lam[0] - pad, hi = lam[n - 1] + pad;
  /* first line >= lo */
  size_t a = 0, b = ll->n;
  while (a < b) {
    size_t mid = (a + b) / 2;
    if (ll->wl[mid] < lo) a = mid + 1; else b = mid;
  }
  int nll = env->nll;
  double wts[RVS_NLL], kc[RVS_NLL];
  double theta_min = env->theta[0];
  for (int l = 1; l < nll; l++) theta_min = fmin(theta_min, env->theta[l]);
  double lnT4[RVS_NLL], tstark[RVS_NLL];
  for (int l = 0; l < nll; l++) {
    lnT4[l] = log(env->T[l] / 1e4);
    tstark[l] = exp(lnT4[l] / 6.0);
  }
  /* smallest continuum opacity per line layer over all nodes: a cheap
   * upper bound on every line's strength */
  double kc_min[RVS_NLL];
  for (int l = 0; l < nll; l++) {
    kc_min[l] = env->node_kc[l];
    for (size_t k = 1; k < env->nnode; k++) kc_min[l] = fmin(kc_min[l], env->node_kc[k * nll + l]);
  }
  double bound_atom[RVS_SM_NZ][3], bound_mol[RVS_SM_NMOL];
  for (int z = 0; z < RVS_SM_NZ; z++)
    for (int i = 0; i < 3; i++) {
      double b = 0;
      for (int l = 0; l < nll; l++) b = fmax(b, sp->n_over_U[z][i][l] / kc_min[l]);
      bound_atom[z][i] = b;
    }
  for (int m = 0; m < RVS_SM_NMOL; m++) {
    double b = 0;
    for (int l = 0; l < nll; l++) b = fmax(b, sp->mol_n_over_Q[m][l] / kc_min[l]);
    bound_mol[m] = b;
  }
  for (size_t i = a; i < ll->n && ll->wl[i] <= hi; i++) {
    double wl = ll->wl[i];
    int z1 = ll->z1[i], z2 = ll->z2[i], ion = ll->ion[i];
    const double *nU;
    double mass, bound;
    if (z2) {
      int m = rvs_sm_mol_index(z1, z2);
      if (m < 0) continue;
      nU = sp->mol_n_over_Q[m];
      mass = rvs_atomic_mass(z1) + rvs_atomic_mass(z2);
      bound = bound_mol[m];
    } else {
      nU = sp->n_over_U[z1 - 1][ion];
      mass = rvs_atomic_mass(z1);
      bound = bound_atom[z1 - 1][ion];
    }
    double lam_cm = wl * 1e-8;
    /* cheap upper bound first: most lines of a big list are negligible.
     * Doppler width >= thermal width at the coolest line layer. */
    double dl_min = wl / RVS_C_CGS * sqrt(2.0 * RVS_K_CGS * env->T[0] / (mass * RVS_AMU_CGS));
    double lbase = log(RVS_PI_E2_MC2 * lam_cm * lam_cm * 1e8 * bound / (1.7724539 * dl_min));
    if (lbase + M_LN10 * ll->log_gf[i] - ll->E_lo[i] * theta_min < log(RVS_ETA_MIN)) continue;
    rvs_line_env_at(env, wl, wts, kc);
    double gf = pow(10.0, ll->log_gf[i]);
    double base = RVS_PI_E2_MC2 * lam_cm * lam_cm * gf * 1e8; /* -> Angstrom */
    double vdw_texp;
    double vdw1e4 = vdw_per_H_1e4(ll->vdW[i], z1, z2, ion, ll->E_lo[i], wl, &vdw_texp);
    double S = 0.0, dlD = 0.0, gam = 0.0;
    double grad = ll->gamma_rad[i] != 0 ? pow(10.0, ll->gamma_rad[i])
                                        : 0.22233 / (lam_cm * lam_cm);
    double gst = ll->gamma_stark[i] != 0 ? pow(10.0, ll->gamma_stark[i]) : 0.0;
    for (int l = 0; l < nll; l++) {
      if (wts[l] <= 0) continue;
      double T = env->T[l];
      double x = RVS_HC_OVER_K_A / (wl * T);
      double s = base * nU[l] * exp(-ll->E_lo[i] * env->theta[l]) * (-expm1(-x)) / kc[l];
      double ws = wts[l] * s;
      S += ws;
      double dl = wl / RVS_C_CGS *
                  sqrt(2.0 * RVS_K_CGS * T / (mass * RVS_AMU_CGS) + env->vmicro_cms * env->vmicro_cms);
      dlD += ws * dl;
      double g = grad + gst * env->ne[l] * tstark[l] +
                 vdw1e4 * exp(vdw_texp * lnT4[l]) * env->nH0[l];
      gam += ws * g;
    }
    if (S <= 0) continue;
    dlD /= S;
    gam /= S;
    double peak = S / (1.7724539 * dlD);
    if (peak < RVS_ETA_MIN) continue;
    /* damping parameter a = gamma / (4 pi dnu_D), dnu_D = c dlD / lambda^2 */
    double aV = gam * lam_cm * lam_cm / (4.0 * M_PI * RVS_C_CGS * dlD * 1e-8);
    double hwhm_L = aV * dlD;
    double core = dlD * sqrt(log(peak / RVS_ETA_MIN));
    double wing = sqrt(S * hwhm_L / (M_PI * RVS_ETA_MIN));
    double hw = fmin(fmax(core, wing), 200.0);
    /* pixels within wl +- hw */
    size_t p0 = 0, p1 = n;
    double x0 = wl - hw;
    while (p0 < p1) {
      size_t mid = (p0 + p1) / 2;
      if (lam[mid] < x0) p0 = mid + 1; else p1 = mid;
    }
    double inv = 1.0 / dlD, amp = S / (1.7724539 * dlD);
    if (peak < 0.1 && aV < 0.03) {
      for (size_t p = p0; p < n && lam[p] <= wl + hw; p++)
        eta[p] += amp * voigt_fast(aV, (lam[p] - wl) * inv);
    } else {
      for (size_t p = p0; p < n && lam[p] <= wl + hw; p++)
        eta[p] += amp * rvs_voigt_H(aV, (lam[p] - wl) * inv);
    }
  }
}

/* ------------------------------------------------------------ driver */
static int synth_core(const rvs_synth_linelist *ll, const rvs_synth_params *p,
                      const double *lam, size_t n, double *flux, int with_lines) {
  if (!p || !lam || !flux || n == 0) return rvs_error(RVS_ERR_ARG, "synth: empty input");
  for (size_t i = 0; i < n; i++)
    if (!(lam[i] > 0) || (i && !(lam[i] > lam[i - 1])))
      return rvs_error(RVS_ERR_ARG, "synth: wavelengths must be positive and increasing");
  int rc = RVS_OK;
  rvs_atmos *atm = malloc(sizeof *atm);
  species_tab *sp = NULL;
  double *eta = NULL, *nodes = NULL, *Fc = NULL, *R = NULL;
  rvs_line_env env;
  memset(&env, 0, sizeof env);
  if (!atm) return rvs_error(RVS_ERR_NOMEM, "synth: out of memory");
  if ((rc = rvs_atmos_build(p, atm))) goto done;
  /* line layers: evenly through log tau in [LINE_LOGTAU_MIN, LINE_LOGTAU_MAX] */
  env.atm = atm;
  env.vmicro_cms = atm->vmicro_cms;
  {
    int jlo = 0, jhi = atm->nl - 1;
    while (jlo < atm->nl - 1 && atm->logtau[jlo] < LINE_LOGTAU_MIN) jlo++;
    while (jhi > 0 && atm->logtau[jhi] > LINE_LOGTAU_MAX) jhi--;
    env.nll = RVS_NLL;
    for (int l = 0; l < RVS_NLL; l++) {
      int j = jlo + (int)lround((double)l * (jhi - jlo) / (RVS_NLL - 1));
      env.layer[l] = j;
      env.T[l] = atm->T[j];
      env.theta[l] = 1.0 / (RVS_K_EV * atm->T[j]);
      env.ne[l] = atm->cont[j].ne;
      env.nH0[l] = atm->cont[j].nH0;
    }
  }
  size_t nn = 0;
  nodes = make_nodes(lam[0] - 60.0 > 500 ? lam[0] - 60.0 : 500, lam[n - 1] + 60.0, &nn);
  if (!nodes) {
    rc = rvs_error(RVS_ERR_NOMEM, "synth: out of memory");
    goto done;
  }
  env.nnode = nn;
  env.node_lam = nodes;
  env.node_w = malloc(nn * RVS_NLL * sizeof(double));
  env.node_kc = malloc(nn * RVS_NLL * sizeof(double));
  Fc = malloc(nn * sizeof *Fc);
  R = malloc(nn * NETA * sizeof *R);
  eta = calloc(n, sizeof *eta);
  sp = malloc(sizeof *sp);
  if (!env.node_w || !env.node_kc || !Fc || !R || !eta || !sp) {
    rc = rvs_error(RVS_ERR_NOMEM, "synth: out of memory");
    goto done;
  }
  double k5000[RVS_ATM_NL];
  for (int j = 0; j < atm->nl; j++) k5000[j] = rvs_kappa_cont(&atm->cont[j], 5000.0);
  expint_tab *et = malloc(sizeof *et);
  if (!et) {
    rc = rvs_error(RVS_ERR_NOMEM, "synth: out of memory");
    goto done;
  }
  expint_tab_init(et);
  for (size_t k = 0; k < nn; k++)
    node_transfer(atm, k5000, nodes[k], &env, k, &Fc[k], R + k * NETA, et);
  free(et);
  if (with_lines) {
    fill_species(atm, &env, sp);
    add_lines(ll, &env, sp, lam, n, eta);
    if ((rc = rvs_hydrogen_add(&env, lam, n, eta))) goto done;
    rvs_molecular_bands_add(&env, lam, n, eta);
  }
  for (size_t i = 0; i < n; i++) {
    size_t k = find_node(nodes, nn, lam[i]);
    double f = nn > 1 ? (lam[i] - nodes[k]) / (nodes[k + 1] - nodes[k]) : 0.0;
    if (f < 0) f = 0;
    if (f > 1) f = 1;
    size_t k1 = nn > 1 ? k + 1 : k;
    double fc = Fc[k] * (1 - f) + Fc[k1] * f;
    double r = 1.0;
    double e = eta[i];
    if (e > 0) {
      double x = (log10(e) - LOGETA0) / LOGETA_STEP;
      double r0, r1;
      if (x < 0) {
        /* linear in eta below the table */
        double e0 = pow(10.0, LOGETA0);
        r0 = 1.0 - (1.0 - R[k * NETA]) * e / e0;
        r1 = 1.0 - (1.0 - R[k1 * NETA]) * e / e0;
      } else {
        if (x > NETA - 1.000001) x = NETA - 1.000001;
        int ix = (int)x;
        double g = x - ix;
        r0 = R[k * NETA + ix] * (1 - g) + R[k * NETA + ix + 1] * g;
        r1 = R[k1 * NETA + ix] * (1 - g) + R[k1 * NETA + ix + 1] * g;
      }
      r = r0 * (1 - f) + r1 * f;
    }
    flux[i] = fc * r;
    if (!isfinite(flux[i])) {
      rc = rvs_error(RVS_ERR_NUMERIC, "synth: non-finite flux at %.3f A (Teff %g logg %g)",
                     lam[i], p->teff, p->logg);
      goto done;
    }
  }
done:
  free(atm);
  free(sp);
  free(eta);
  free(nodes);
  free(env.node_w);
  free(env.node_kc);
  free(Fc);
  free(R);
  return rc;
}

int rvs_synth_spectrum(const rvs_synth_linelist *ll, const rvs_synth_params *p,
                       const double *lam, size_t n, double *flux) {
  return synth_core(ll, p, lam, n, flux, 1);
}

int rvs_synth_continuum(const rvs_synth_params *p, const double *lam, size_t n, double *flux) {
  return synth_core(NULL, p, lam, n, flux, 0);
}

int rvs_synth_wavelength_grid(double wmin, double wmax, double R, double **lam, size_t *n) {
  *lam = NULL;
  *n = 0;
  if (!(wmin > 0) || !(wmax > wmin) || !(R > 0))
    return rvs_error(RVS_ERR_ARG, "synth: bad wavelength grid (%g..%g A, R %g)", wmin, wmax, R);
  double step = log1p(1.0 / R);
  size_t m = (size_t)floor(log(wmax / wmin) / step) + 1;
  if (m > 100000000) return rvs_error(RVS_ERR_ARG, "synth: wavelength grid too large");
  double *v = malloc(m * sizeof *v);
  if (!v) return rvs_error(RVS_ERR_NOMEM, "synth: out of memory for %zu wavelengths", m);
  double lw = log(wmin);
  for (size_t i = 0; i < m; i++) v[i] = exp(lw + step * (double)i);
  *lam = v;
  *n = m;
  return RVS_OK;
}
