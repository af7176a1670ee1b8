/* Synthetic DESI-like scenes for the GPU programs (gpu_parity, gpu_bench):
 * a template library built in memory (analytic ln-spectra with many lines
 * whose depths depend non-linearly on teff, logg, feh, alpha; a Delaunay or
 * regular-grid interpolator per arm), observed spectra made from it (Doppler
 * shift, resolution band, continuum, noise, a few bad pixels), and random
 * request mixes around realistic parameters.  Header only: static functions. */
#ifndef RVS_GPU_SCENE_H
#define RVS_GPU_SCENE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/basis.h"
#include "rvs/status.h"
#include "templates/interp.h"
#include "templates/library.h"

#define SC_C_KMS 299792.458
#define SC_MAXLINES 400

/* xorshift64* */
static uint64_t sc_rng_state = 88172645463325252ULL;
static inline void sc_seed(uint64_t s) { sc_rng_state = s ? s : 88172645463325252ULL; }
static inline double sc_uniform(void) {
  sc_rng_state ^= sc_rng_state >> 12;
  sc_rng_state ^= sc_rng_state << 25;
  sc_rng_state ^= sc_rng_state >> 27;
  return (double)((sc_rng_state * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}
static inline double sc_normal(void) {
  double u = sc_uniform(), v = sc_uniform();
  if (u < 1e-300) u = 1e-300;
  return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

typedef struct sc_lines {
  int n;
  double c[SC_MAXLINES], w[SC_MAXLINES], a[SC_MAXLINES][5];
} sc_lines;

/* lines sorted by centre; widths <= 2 A, so only |lam - c| < 16 A matter */
static inline double sc_ln_template(const sc_lines *L, double lam, const double *p) {
  double lt = log10(p[0]) - 3.74, lg = p[1] - 3.0, fe = p[2] + 0.5, al = p[3] - 0.2;
  double s = 0.05 * sin(lam / 300.0);
  int lo = 0, hi = L->n; /* first line with c >= lam - 16 */
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (L->c[mid] < lam - 16) lo = mid + 1;
    else hi = mid;
  }
  for (int k = lo; k < L->n && L->c[k] <= lam + 16; k++) {
    double d = (lam - L->c[k]) / L->w[k];
    if (fabs(d) > 8) continue;
    const double *a = L->a[k];
    double depth = a[0] + a[1] * lt + a[2] * lg + a[3] * fe + a[4] * al + 0.5 * a[1] * lt * lt +
                   0.1 * a[3] * fe * fe;
    if (depth < 0) depth = 0;
    s -= depth * exp(-0.5 * d * d);
  }
  return s;
}

typedef struct sc_arm_conf {
  const char *setup;
  double lo, hi; /* observed range, Angstrom */
  int nobs;      /* observed pixels (linear grid) */
  int nt;        /* template pixels */
  int log_step;  /* template grid log-uniform (else linear) */
  int nd;        /* resolution band width (0: none) */
} sc_arm_conf;

typedef struct sc_scene {
  rvs_template_lib lib;
  int narms;
  sc_arm_conf arm[RVS_MAXARMS];
  sc_lines lines[RVS_MAXARMS];
  int nspec;
  rvs_spectrum *spec;
  double (*ptrue)[4];
  double *vtrue;
  double *store; /* every observed array */
} sc_scene;

static const double SC_TEFF[] = {4000, 4500, 5000, 5500, 6000, 6500, 7000};
static const double SC_LOGG[] = {1, 2, 3, 4, 5};
static const double SC_FEH[] = {-2, -1.5, -1, -0.5, 0, 0.5};
static const double SC_ALPHA[] = {0, 0.4};

/* Interpolator of one arm: kind RVS_INTERP_TRIANGULATION or _REGULARGRID. */
static inline int sc_build_interp(const sc_arm_conf *A, const sc_lines *L, int kind, int float_bits,
                           rvs_interp **out) {
  int n1 = 7, n2 = 5, n3 = 6, n4 = 2;
  size_t ns = (size_t)n1 * n2 * n3 * n4, nt = (size_t)A->nt;
  rvs_specs s;
  memset(&s, 0, sizeof s);
  s.nspec = ns;
  s.npix = nt;
  s.nparam = 4;
  s.specs = (double *)malloc(sizeof(double) * ns * nt);
  s.vec = (double *)malloc(sizeof(double) * 4 * ns);
  s.lam = (double *)malloc(sizeof(double) * nt);
  s.lognorms = (double *)calloc(ns, sizeof(double));
  s.file_ids = (long long *)calloc(ns, sizeof(long long));
  static char *names[4] = {"teff", "logg", "feh", "alpha"};
  s.parnames = names;
  s.log_step = A->log_step;
  s.log_spec = 1;
  int log_ids[1] = {0};
  s.log_ids = log_ids;
  s.nlog_ids = 1;
  s.float_bits = float_bits;
  if (!s.specs || !s.vec || !s.lam || !s.lognorms || !s.file_ids) return RVS_ERR_NOMEM;
  double pad = 1.006; /* > 1000 km/s each side */
  double lo = A->lo / pad, hi = A->hi * pad;
  for (size_t i = 0; i < nt; i++)
    s.lam[i] = A->log_step ? lo * exp((double)i * log(hi / lo) / (double)(nt - 1))
                           : lo + (double)i * (hi - lo) / (double)(nt - 1);
  size_t j = 0;
  for (int a = 0; a < n1; a++)
    for (int b = 0; b < n2; b++)
      for (int c = 0; c < n3; c++)
        for (int d = 0; d < n4; d++, j++) {
          double p[4] = {SC_TEFF[a], SC_LOGG[b], SC_FEH[c], SC_ALPHA[d]};
          for (int k = 0; k < 4; k++) s.vec[(size_t)k * ns + j] = p[k];
          for (size_t i = 0; i < nt; i++) {
            double v = sc_ln_template(L, s.lam[i], p);
            /* the file stores float32 when float_bits == 32: the same rounding here */
            s.specs[j * nt + i] = float_bits == 32 ? (double)(float)v : v;
          }
        }
  int rc = kind == RVS_INTERP_TRIANGULATION ? rvs_interp_build_tri(&s, out)
                                            : rvs_interp_build_grid(&s, out);
  free(s.specs); free(s.vec); free(s.lam); free(s.lognorms); free(s.file_ids);
  return rc;
}

/* Banded Gaussian LSF of `nd` taps (row-normalised, width varying along the arm). */
static inline void sc_resolution(int n, int nd, double *w) {
  int h = (nd - 1) / 2;
  double s0 = 0.9 + 0.3 * sc_uniform();
  for (int i = 0; i < n; i++) {
    double sig = s0 * (1 + 0.2 * (double)i / n);
    double sum = 0;
    for (int m = 0; m < nd; m++) {
      double x = (m - h) / sig;
      w[(size_t)i * nd + m] = exp(-0.5 * x * x);
      sum += w[(size_t)i * nd + m];
    }
    for (int m = 0; m < nd; m++) w[(size_t)i * nd + m] /= sum;
  }
}

static inline double sc_arm_template_at(const sc_scene *S, int a, double lam_rest, const double *p) {
  return exp(sc_ln_template(&S->lines[a], lam_rest, p));
}

/* nspec spectra over the arms; resolution on all but every 7th spectrum. */
static inline int sc_scene_build(sc_scene *S, int narms, const sc_arm_conf *conf, int kind,
                          int float_bits, int nspec, uint64_t seed) {
  memset(S, 0, sizeof *S);
  sc_seed(seed);
  S->narms = narms;
  for (int a = 0; a < narms; a++) {
    S->arm[a] = conf[a];
    sc_lines *L = &S->lines[a];
    L->n = SC_MAXLINES;
    for (int k = 0; k < L->n; k++) {
      /* increasing centres with random gaps */
      L->c[k] = conf[a].lo + (conf[a].hi - conf[a].lo) * (k + sc_uniform()) / L->n;
      L->w[k] = 0.5 + 1.5 * sc_uniform();
      L->a[k][0] = 0.05 + 0.4 * sc_uniform();
      for (int q = 1; q < 5; q++) L->a[k][q] = 0.6 * (sc_uniform() - 0.5);
    }
    rvs_interp *ip = NULL;
    int rc = sc_build_interp(&conf[a], L, kind, float_bits, &ip);
    if (rc) return rc;
    snprintf(S->lib.setup[a], sizeof S->lib.setup[a], "%s", conf[a].setup);
    S->lib.interp[a] = ip;
    S->lib.nsetups = a + 1;
  }
  S->nspec = nspec;
  S->spec = (rvs_spectrum *)calloc((size_t)nspec, sizeof *S->spec);
  S->ptrue = (double(*)[4])calloc((size_t)nspec, sizeof *S->ptrue);
  S->vtrue = (double *)calloc((size_t)nspec, sizeof(double));
  size_t per = 0;
  for (int a = 0; a < narms; a++) per += (size_t)conf[a].nobs * (4 + (size_t)conf[a].nd);
  S->store = (double *)malloc(sizeof(double) * per * (size_t)nspec + 1);
  if (!S->spec || !S->ptrue || !S->vtrue || !S->store) return RVS_ERR_NOMEM;
  double *mem = S->store;
  for (int k = 0; k < nspec; k++) {
    double *p = S->ptrue[k];
    p[0] = 4300 + 2500 * sc_uniform();
    p[1] = 1.5 + 3 * sc_uniform();
    p[2] = -1.8 + 2 * sc_uniform();
    p[3] = 0.4 * sc_uniform();
    S->vtrue[k] = 300 * (sc_uniform() - 0.5);
    double kf = sqrt((1 + S->vtrue[k] / SC_C_KMS) / (1 - S->vtrue[k] / SC_C_KMS));
    rvs_spectrum *sp = &S->spec[k];
    sp->narms = narms;
    for (int a = 0; a < narms; a++) {
      const sc_arm_conf *A = &conf[a];
      int n = A->nobs, nd = (k % 7 == 6) ? 0 : A->nd;
      double *lam = mem, *flux = mem + n, *sig = mem + 2 * n, *tmp = mem + 3 * n;
      double *res = mem + 4 * n;
      mem += (size_t)n * (4 + (size_t)A->nd);
      unsigned char *bad = NULL; /* a few bad pixels: big sigma, as upstream */
      for (int i = 0; i < n; i++) {
        lam[i] = A->lo + (A->hi - A->lo) * i / (n - 1);
        tmp[i] = sc_arm_template_at(S, a, lam[i] / kf, p);
      }
      if (nd) sc_resolution(n, nd, res);
      double c0 = 50 + 100 * sc_uniform(), c1 = 0.3 * (sc_uniform() - 0.5);
      for (int i = 0; i < n; i++) {
        double t = tmp[i];
        if (nd) {
          int h = (nd - 1) / 2;
          t = 0;
          for (int m = 0; m < nd; m++) {
            int c = i + m - h;
            if (c >= 0 && c < n) t += res[(size_t)i * nd + m] * tmp[c];
          }
        }
        double u = 2.0 * i / (n - 1) - 1;
        double cont = c0 * (1 + c1 * u - 0.1 * u * u);
        sig[i] = 0.03 * cont * (0.5 + sc_uniform());
        flux[i] = cont * t + sig[i] * sc_normal();
        if (sc_uniform() < 0.005) sig[i] = 1e5; /* masked */
      }
      sp->arms[a] = (rvs_arm){A->setup, (size_t)n, lam, flux, sig, bad, nd, nd ? res : NULL};
    }
  }
  return RVS_OK;
}

static inline void sc_scene_free(sc_scene *S) {
  rvs_template_lib_close(&S->lib);
  free(S->spec); free(S->ptrue); free(S->vtrue); free(S->store);
  memset(S, 0, sizeof *S);
}

static inline void sc_params_near(const double *pt, double scale, double *p) {
  p[0] = pt[0] + 300 * scale * sc_normal();
  p[1] = pt[1] + 0.5 * scale * sc_normal();
  p[2] = pt[2] + 0.3 * scale * sc_normal();
  p[3] = pt[3] + 0.1 * scale * sc_normal();
  for (int i = 4; i < RVS_MAXPAR; i++) p[i] = 0;
}

static inline double sc_random_vsini(void) {
  double u = sc_uniform();
  if (u < 0.4) return -1;
  if (u < 0.5) return 0;
  if (u < 0.9) return 1 + 60 * sc_uniform();
  return 60 + 300 * sc_uniform();
}

/* DESI arms at full size (ALGORITHM.md section 6). */
static const sc_arm_conf SC_DESI[3] = {
    {"desi_b", 3600.0, 5800.0, 2751, 6200, 1, 11},
    {"desi_r", 5760.0, 7620.0, 2326, 5300, 1, 11},
    {"desi_z", 7520.0, 9824.0, 2881, 6450, 1, 11},
};

#endif
