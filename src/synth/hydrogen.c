/* Hydrogen Balmer and Paschen lines with pressure (Stark) wings.
 *
 * Per line layer: lower-level population by Boltzmann (U_H = 2), strength
 * relative to the continuum, Doppler width, and a quasi-static (Holtsmark)
 * Stark profile P(beta) = (1+beta^2)^(-5/4) / 2.3963, beta = dlambda/dlambda_S,
 * whose wings fall as dlambda^(-5/2) like Holtsmark's.  The Stark width
 * follows the linear Stark effect in the Holtsmark normal field
 * F0 = 1.25e-9 ne^(2/3) (esu): dsigma = (3/2) e a0 F0 X / (h c) with
 * X = STARK_X (n_u^2 - n_l^2), so wings grow with electron density (logg).
 * The layer profiles are averaged with the weak-line weights, sampled as
 * exact cell averages (so they stay normalised however narrow), convolved
 * with the Doppler Gaussian and added to eta. */
#include <math.h>
#include <stdlib.h>

#include "rvs/status.h"
#include "synth/physics.h"

#define STARK_X 0.06 /* effective Stark shift per (n_u^2 - n_l^2), see docs */
#define NUP_MAX 24
#define NCDF 600

double rvs_hydrogen_wavelength(int n_lo, int n_up) {
  /* Rydberg for hydrogen (reduced mass) 109677.58 cm^-1, raised by the mean
   * fine-structure shift so that H alpha/beta land on the NIST vacuum
   * wavelengths (6564.61, 4862.68 A) within 0.01 A */
  const double RH = 109678.8;
  return 1e8 / (RH * (1.0 / ((double)n_lo * n_lo) - 1.0 / ((double)n_up * n_up)));
}

/* Kramers f-value times a Gaunt factor fitted to the exact values below */
static double kramers_f(int l, int u) {
  double x = 1.0 / ((double)l * l) - 1.0 / ((double)u * u);
  return 32.0 / (3.0 * sqrt(3.0) * M_PI) / (pow(l, 5) * pow(u, 3) * x * x * x);
}

double rvs_hydrogen_fvalue(int n_lo, int n_up) {
  /* exact hydrogenic absorption oscillator strengths (Wiese & Fuhr 2009) */
  static const double balmer[] = {0.6407, 0.1193, 0.04467, 0.02209, 0.01270, 0.008036,
                                  0.005429, 0.003851};           /* u = 3..10 */
  static const double paschen[] = {0.8421, 0.1506, 0.05584, 0.02768, 0.01604, 0.01023,
                                   0.006980};                    /* u = 4..10 */
  if (n_lo == 2 && n_up >= 3 && n_up <= 10) return balmer[n_up - 3];
  if (n_lo == 3 && n_up >= 4 && n_up <= 10) return paschen[n_up - 4];
  if (n_lo == 2) return kramers_f(2, n_up) * balmer[7] / kramers_f(2, 10);
  if (n_lo == 3) return kramers_f(3, n_up) * paschen[6] / kramers_f(3, 10);
  return kramers_f(n_lo, n_up);
}

/* C(b) = int_0^b (1+x^2)^(-5/4) dx on a log grid in b, for cell averages */
typedef struct stark_cdf {
  double lb0, dlb, c[NCDF], cinf;
} stark_cdf;

static void cdf_init(stark_cdf *t) {
  t->lb0 = -4.0;
  t->dlb = 9.0 / (NCDF - 1); /* b from 1e-4 to 1e5 */
  double prev_b = 0.0, acc = 0.0;
  for (int i = 0; i < NCDF; i++) {
    double b = pow(10.0, t->lb0 + t->dlb * i);
    /* Simpson on [prev_b, b] */
    double m = 0.5 * (prev_b + b);
    double f0 = pow(1 + prev_b * prev_b, -1.25), fm = pow(1 + m * m, -1.25);
    double f1 = pow(1 + b * b, -1.25);
    acc += (b - prev_b) / 6.0 * (f0 + 4 * fm + f1);
    t->c[i] = acc;
    prev_b = b;
  }
  /* tail beyond b_max: int_b^inf x^-2.5 dx = b^-1.5/1.5 */
  double bmax = pow(10.0, t->lb0 + t->dlb * (NCDF - 1));
  t->cinf = acc + pow(bmax, -1.5) / 1.5;
}

static double cdf_eval(const stark_cdf *t, double b) {
  double s = b < 0 ? -1.0 : 1.0;
  b = fabs(b);
  double v;
  if (b < 1e-4) {
    v = b;
  } else {
    double x = (log10(b) - t->lb0) / t->dlb;
    if (x >= NCDF - 1) {
      v = t->cinf - pow(b, -1.5) / 1.5;
    } else {
      int i = (int)x;
      double f = x - i;
      v = t->c[i] * (1 - f) + t->c[i + 1] * f;
    }
  }
  return s * v / (2.0 * t->cinf); /* normalised: total integral 1 */
}

static int add_line(const rvs_line_env *env, const stark_cdf *cdf, int nl, int nu,
                    const double *lam, size_t n, double *eta) {
  double wl = rvs_hydrogen_wavelength(nl, nu);
  if (wl < lam[0] - 400.0 || wl > lam[n - 1] + 400.0) return RVS_OK;
  int nll = env->nll;
  double w[RVS_NLL], kc[RVS_NLL], s[RVS_NLL], dls[RVS_NLL];
  rvs_line_env_at(env, wl, w, kc);
  double lam_cm = wl * 1e-8;
  double gf = 2.0 * nl * nl * rvs_hydrogen_fvalue(nl, nu);
  double chi = 13.598434 * (1.0 - 1.0 / ((double)nl * nl));
  double S = 0.0, dlD = 0.0;
  const double dsig_per_F = 1.5 * 4.80320471e-10 * 5.29177210903e-9 / (6.62607015e-27 * 2.99792458e10);
  for (int l = 0; l < nll; l++) {
    double T = env->T[l];
    double pop = env->nH0[l] * nl * nl * exp(-chi * env->theta[l]); /* 2n^2/U, U = 2 */
    double x = 1.438776877e8 / (wl * T);
    s[l] = w[l] * RVS_PI_E2_MC2 * lam_cm * lam_cm * gf * pop * (-expm1(-x)) / kc[l] * 1e8;
    S += s[l];
    double F0 = 1.25e-9 * pow(env->ne[l], 2.0 / 3.0);
    dls[l] = lam_cm * lam_cm * dsig_per_F * STARK_X * (double)(nu * nu - nl * nl) * F0 * 1e8;
    double dl = wl / RVS_C_CGS *
                sqrt(2.0 * RVS_K_CGS * T / (1.008 * RVS_AMU_CGS) + env->vmicro_cms * env->vmicro_cms);
    dlD += s[l] * dl;
  }
  if (S <= 0) return RVS_OK;
  dlD /= S;
  if (S / (1.7724539 * dlD) < RVS_ETA_MIN) return RVS_OK;
  /* extent: Stark wing S dls^1.5 dl^-2.5 / (2 * 2.3963) = eta_min */
  double dls_eff = 0.0;
  for (int l = 0; l < nll; l++) dls_eff += s[l] * pow(dls[l], 1.5);
  double W = pow(dls_eff / (2.0 * 2.3963 * RVS_ETA_MIN), 0.4);
  W = fmax(W, 6.0 * dlD);
  W = fmin(W, 400.0);
  double h = dlD / 4.0;
  size_t m = (size_t)ceil(2.0 * W / h) + 1;
  if (m > 400000) {
    m = 400000;
    h = 2.0 * W / (m - 1);
  }
  double *prof = calloc(m, sizeof *prof), *conv = calloc(m, sizeof *conv);
  if (!prof || !conv) {
    free(prof);
    free(conv);
    return rvs_error(RVS_ERR_NOMEM, "synth: out of memory (hydrogen profile)");
  }
  /* Stark profile: cell averages of the layer-weighted mixture */
  for (size_t i = 0; i < m; i++) {
    double x = -W + h * (double)i;
    double a = x - 0.5 * h, b = x + 0.5 * h;
    double v = 0.0;
    for (int l = 0; l < nll; l++) {
      if (s[l] <= 0) continue;
      v += s[l] * (cdf_eval(cdf, b / dls[l]) - cdf_eval(cdf, a / dls[l]));
    }
    prof[i] = v / h; /* strength per Angstrom */
  }
  /* convolve with the Doppler Gaussian (kernel +-4 dlD, normalised) */
  int kh = (int)ceil(4.0 * dlD / h);
  double *ker = malloc((2 * kh + 1) * sizeof *ker);
  if (!ker) {
    free(prof);
    free(conv);
    return rvs_error(RVS_ERR_NOMEM, "synth: out of memory (hydrogen profile)");
  }
  double ks = 0.0;
  for (int k = -kh; k <= kh; k++) {
    double u = k * h / dlD;
    ker[k + kh] = exp(-u * u);
    ks += ker[k + kh];
  }
  for (int k = 0; k <= 2 * kh; k++) ker[k] /= ks;
  for (size_t i = 0; i < m; i++) {
    double v = 0.0;
    for (int k = -kh; k <= kh; k++) {
      long ii = (long)i + k;
      if (ii < 0 || ii >= (long)m) continue;
      v += ker[k + kh] * prof[ii];
    }
    conv[i] = v;
  }
  /* add to pixels by linear interpolation */
  for (size_t p = 0; p < n; p++) {
    double x = lam[p] - wl;
    if (x <= -W || x >= W) continue;
    double fi = (x + W) / h;
    size_t i = (size_t)fi;
    if (i + 1 >= m) continue;
    double f = fi - i;
    eta[p] += conv[i] * (1 - f) + conv[i + 1] * f;
  }
  free(prof);
  free(conv);
  free(ker);
  return RVS_OK;
}

int rvs_hydrogen_add(const rvs_line_env *env, const double *lam, size_t n, double *eta) {
  stark_cdf cdf;
  cdf_init(&cdf);
  for (int nl = 2; nl <= 3; nl++)
    for (int nu = nl + 1; nu <= NUP_MAX; nu++) {
      int rc = add_line(env, &cdf, nl, nu, lam, n, eta);
      if (rc) return rc;
    }
  return RVS_OK;
}
