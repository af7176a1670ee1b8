/* The simulator's forward model and fiber loop.  Written independently of
 * the fitter (src/core, src/templates) so that it checks it. */
#include "sim/simulate.h"

#include "rvs/status.h"
#include "sim/sim_rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define C_KMS 299792.458
#define ROT_EPS 0.6 /* limb darkening of the rotation profile */
#define RES_HALF 5  /* (11 - 1) / 2 */

static const char ARM_NAMES[RVS_SIM_NARMS] = {'B', 'R', 'Z'};
static const double ARM_LO[RVS_SIM_NARMS] = {3600.0, 5760.0, 7520.0};
static const double ARM_HI[RVS_SIM_NARMS] = {5800.0, 7620.0, 9824.0};
/* LSF FWHM (A) the project's templates assume for DESI: 1.55 (b, r), 1.8 (z). */
static const double ARM_FWHM[RVS_SIM_NARMS] = {1.55, 1.55, 1.8};
#define R_ARM 1

void rvs_sim_options_default(rvs_sim_options *o) {
  memset(o, 0, sizeof *o);
  o->nfibers = 500;
  o->seed = 1;
  o->sn_min = 2;
  o->sn_max = 150;
  o->vrad_max = 600;
  o->vsini_frac = 0.2;
  o->vsini_max = 300;
  o->defects = 1;
  o->nthreads = 0;
  o->tileid = 90001;
  o->petal = 4;
  o->night = 20240315;
  o->interp = RVS_SIM_INTERP_RAW;
}

int rvs_sim_interp_parse(const char *name) {
  if (!name) return -1;
  if (!strcmp(name, "raw")) return RVS_SIM_INTERP_RAW;
  if (!strcmp(name, "lsf-first")) return RVS_SIM_INTERP_LSF_FIRST;
  return -1;
}

const char *rvs_sim_interp_name(rvs_sim_interp m) {
  return m == RVS_SIM_INTERP_LSF_FIRST ? "lsf-first" : "raw";
}

int rvs_sim_desi_wave(char arm, double **wave, size_t *npix) {
  int a = arm == 'B' || arm == 'b' ? 0 : arm == 'R' || arm == 'r' ? 1 : arm == 'Z' || arm == 'z' ? 2 : -1;
  if (a < 0) return rvs_error(RVS_ERR_ARG, "unknown DESI arm '%c'", arm);
  /* numpy.arange(lo, hi + 0.4, 0.8): length ceil((stop-start)/step), values
   * start + i*delta with delta = (start + step) - start, bit for bit. */
  double lo = ARM_LO[a], stop = ARM_HI[a] + 0.4, step = 0.8;
  size_t n = (size_t)ceil((stop - lo) / step);
  volatile double second = lo + step; /* keep the rounding of the sum */
  double delta = second - lo;
  double *w = malloc(n * sizeof *w);
  if (!w) return rvs_error(RVS_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) w[i] = lo + (double)i * delta;
  *wave = w;
  *npix = n;
  return RVS_OK;
}

static double doppler_factor(double v) {
  double b = v / C_KMS;
  return sqrt((1 + b) / (1 - b));
}

void rvs_sim_needed_range(const rvs_sim_options *o, double *wmin, double *wmax) {
  double d = doppler_factor(fabs(o->vrad_max)), r = 1 + fabs(o->vsini_max) / C_KMS;
  *wmin = (ARM_LO[0] - 0.4) / d / r - 5.0;
  *wmax = (ARM_HI[2] + 0.4) * d * r + 5.0;
}

void rvs_sim_result_free(rvs_sim_result *r) {
  if (!r) return;
  for (int a = 0; a < RVS_SIM_NARMS; a++) {
    rvs_sim_arm *A = &r->arms[a];
    free(A->wave);
    free(A->flux);
    free(A->ivar);
    free(A->mask);
    free(A->resolution);
    free(A->model);
    free(A->calib);
    free(r->scores_snr[a]);
    free(r->scores_flux[a]);
    free(r->scores_integ[a]);
  }
  free(r->truth);
  free(r->info);
  memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------ small helpers */

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of v[0..n) (v is reordered); NaN for n == 0. */
static double median_inplace(double *v, size_t n) {
  if (n == 0) return NAN;
  qsort(v, n, sizeof *v, cmp_dbl);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double clampd(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* ------------------------------------------------------------ parameters */

static double axis_min(const rvs_sim_grid *g, int d) { return g->axis[d][0]; }
static double axis_max(const rvs_sim_grid *g, int d) { return g->axis[d][g->naxis[d] - 1]; }

static int star_ok(const rvs_sim_grid *g, const rvs_sim_star *s) {
  double p[4] = {s->teff, s->logg, s->feh, s->alpha};
  long idx[16];
  double w[16];
  int n;
  int rc = rvs_sim_grid_weights(g, p, idx, w, &n);
  if (rc) rvs_clear_error();
  return rc == RVS_OK;
}

/* A star drawn from a rough mix of dwarfs, giants on an isochrone-like
 * Teff-logg relation and hot stars, then kept inside the grid. */
static void draw_star(const rvs_sim_grid *g, const rvs_sim_options *o, rvs_sim_rng *r,
                      rvs_sim_star *s) {
  for (int attempt = 0; attempt < 100; attempt++) {
    double u = rvs_sim_rng_uniform(r);
    if (u < 0.55) { /* main sequence, M dwarfs to F stars */
      s->teff = rvs_sim_rng_range(r, 3500, 6800);
      s->logg = 4.85 - 0.55 * (s->teff - 3500) / 3300 + 0.12 * rvs_sim_rng_normal(r);
    } else if (u < 0.88) { /* red giant branch */
      s->teff = rvs_sim_rng_range(r, 3700, 5300);
      s->logg = 0.4 + 2.8 * (s->teff - 3700) / 1600 + 0.2 * rvs_sim_rng_normal(r);
    } else { /* hot stars */
      s->teff = rvs_sim_rng_range(r, 6800, 12000);
      s->logg = rvs_sim_rng_range(r, 3.6, 4.4);
    }
    if (rvs_sim_rng_uniform(r) < 0.15)
      s->feh = rvs_sim_rng_range(r, -2.5, -1.0); /* halo */
    else
      s->feh = clampd(-0.4 + 0.45 * rvs_sim_rng_normal(r), -2.5, 0.5);
    s->alpha = (s->feh < -1 ? 0.35 : s->feh < 0 ? -0.35 * s->feh : 0.0) +
               0.05 * rvs_sim_rng_normal(r);
    double *pp[4] = {&s->teff, &s->logg, &s->feh, &s->alpha};
    for (int d = 0; d < 4; d++) *pp[d] = clampd(*pp[d], axis_min(g, d), axis_max(g, d));
    if (star_ok(g, s)) break;
    if (attempt == 99) { /* fall back to an existing node */
      long k;
      size_t ncell = g->naxis[0] * g->naxis[1] * g->naxis[2] * g->naxis[3];
      do k = (long)rvs_sim_rng_below(r, ncell);
      while (g->node[k] < 0);
      size_t rem = (size_t)k;
      for (int d = 3; d >= 0; d--) {
        *pp[d] = g->axis[d][rem % g->naxis[d]];
        rem /= g->naxis[d];
      }
    }
  }
  s->vrad = rvs_sim_rng_range(r, -o->vrad_max, o->vrad_max);
  s->vsini = rvs_sim_rng_uniform(r) < o->vsini_frac ? rvs_sim_rng_range(r, 0, o->vsini_max)
                                                    : 0.0;
  s->sn = exp(rvs_sim_rng_range(r, log(o->sn_min), log(o->sn_max)));
}

/* ------------------------------------------------------------ forward model */

/* Primitive of the rotation profile (epsilon = ROT_EPS) in x = v / vsini,
 * normalised so that P(1) - P(-1) = 1. */
static double rot_primitive(double x) {
  x = clampd(x, -1, 1);
  double s = sqrt(1 - x * x);
  double p = (1 - ROT_EPS) * (x * s + asin(x)) + 0.5 * M_PI * ROT_EPS * (x - x * x * x / 3);
  return p / (M_PI * (1 - ROT_EPS / 3));
}

/* Convolve in -> out (log-uniform grid, velocity step dv km/s per pixel) with
 * the rotation profile integrated over each pixel; edges replicate. */
static int rotate(const double *in, double *out, size_t n, double dv, double vsini) {
  long K = (long)ceil(vsini / dv + 0.5);
  double *w = malloc((size_t)(2 * K + 1) * sizeof *w);
  if (!w) return rvs_error(RVS_ERR_NOMEM, "simulator: out of memory (rotation kernel)");
  double sum = 0;
  for (long k = -K; k <= K; k++) {
    double a = ((double)k - 0.5) * dv / vsini, b = ((double)k + 0.5) * dv / vsini;
    w[k + K] = rot_primitive(b) - rot_primitive(a);
    sum += w[k + K];
  }
  for (long k = 0; k <= 2 * K; k++) w[k] /= sum;
  long nn = (long)n;
  for (long p = 0; p < nn; p++) {
    double acc = 0;
    for (long k = -K; k <= K; k++) {
      long q = p - k;
      q = q < 0 ? 0 : (q >= nn ? nn - 1 : q);
      acc += w[k + K] * in[q];
    }
    out[p] = acc;
  }
  free(w);
  return RVS_OK;
}

/* Integral of the piecewise-linear interpolant of (wave, f) from wave[0] to x,
 * given the cumulative integrals cum[i] up to node i. */
static double cum_at(const double *wave, const double *f, const double *cum, size_t n,
                     double dln, double x) {
  if (x <= wave[0]) return 0.0;
  if (x >= wave[n - 1]) return cum[n - 1];
  long s = (long)floor(log(x / wave[0]) / dln);
  if (s < 0) s = 0;
  if (s > (long)n - 2) s = (long)n - 2;
  while (s > 0 && wave[s] > x) s--;
  while (s < (long)n - 2 && wave[s + 1] < x) s++;
  double h = wave[s + 1] - wave[s], t = x - wave[s];
  double fx = f[s] + (f[s + 1] - f[s]) * t / h;
  return cum[s] + 0.5 * t * (f[s] + fx);
}

/* Mean over each DESI pixel of the Doppler-shifted spectrum.  Pixel edges are
 * the midpoints between pixel centres. */
static void bin_to_pixels(const rvs_sim_grid *g, const double *f, const double *cum,
                          const double *wobs, size_t npix, double dfac, double *out) {
  for (size_t j = 0; j < npix; j++) {
    double lo = j > 0 ? 0.5 * (wobs[j - 1] + wobs[j]) : wobs[0] - 0.5 * (wobs[1] - wobs[0]);
    double hi = j + 1 < npix ? 0.5 * (wobs[j] + wobs[j + 1])
                             : wobs[npix - 1] + 0.5 * (wobs[npix - 1] - wobs[npix - 2]);
    double a = lo / dfac, b = hi / dfac;
    out[j] = (cum_at(g->wave, f, cum, g->npix, g->dlnwave, b) -
              cum_at(g->wave, f, cum, g->npix, g->dlnwave, a)) /
             (b - a);
  }
}

/* Per-fiber Gaussian LSF rows: R[j][off + 5] for off = -5..5, each row
 * normalised to 1 (interior rows).  sigma varies smoothly (+-5%)
 * along the arm and between fibers. */
static void make_resolution(int arm, const double *wave, size_t npix, rvs_sim_rng *r,
                            double *rows /* [npix][11] */, float *data /* [11][npix] */) {
  double s0 = ARM_FWHM[arm] / (2 * sqrt(2 * log(2)));
  double g1 = rvs_sim_rng_range(r, -1, 1), per = rvs_sim_rng_range(r, 0.3, 1.5);
  double ph = rvs_sim_rng_range(r, 0, 2 * M_PI);
  double step = wave[1] - wave[0];
  memset(data, 0, RVS_SIM_NDIAG * npix * sizeof *data);
  for (size_t j = 0; j < npix; j++) {
    double x = (double)j / (double)(npix - 1);
    double sig = s0 * (1 + 0.03 * g1 + 0.02 * sin(2 * M_PI * per * x + ph)) / step;
    double *row = rows + j * RVS_SIM_NDIAG, sum = 0;
    for (int off = -RES_HALF; off <= RES_HALF; off++) {
      row[off + RES_HALF] = exp(-0.5 * (off / sig) * (off / sig));
      sum += row[off + RES_HALF];
    }
    /* Normalised over all 11 taps; taps beyond the ends are then dropped, so
     * the first/last rows lose flux as in real DESI files. */
    for (int off = -RES_HALF; off <= RES_HALF; off++) {
      long c = (long)j + off;
      row[off + RES_HALF] = (c >= 0 && c < (long)npix) ? row[off + RES_HALF] / sum : 0.0;
    }
    /* DESI storage: data[k][c] = Rmat[c - 5 + k][c], i.e. k = 5 - off, c = j + off. */
    for (int off = -RES_HALF; off <= RES_HALF; off++) {
      long c = (long)j + off;
      if (c < 0 || c >= (long)npix) continue;
      data[(size_t)(RES_HALF - off) * npix + (size_t)c] = (float)row[off + RES_HALF];
    }
  }
}

static void apply_resolution(const double *rows, const double *in, size_t npix, double *out) {
  for (size_t j = 0; j < npix; j++) {
    const double *row = rows + j * RVS_SIM_NDIAG;
    double acc = 0;
    for (int off = -RES_HALF; off <= RES_HALF; off++) {
      long c = (long)j + off;
      if (c >= 0 && c < (long)npix) acc += row[off + RES_HALF] * in[c];
    }
    out[j] = acc;
  }
}

/* Smooth positive flux-calibration curve over 3600-9824 A (continuous
 * across arms): exp of a random cubic in Chebyshev form. */
typedef struct calib_curve {
  double c[4];
} calib_curve;

static void draw_calib(rvs_sim_rng *r, calib_curve *cc) {
  cc->c[0] = 0;
  for (int m = 1; m < 4; m++) cc->c[m] = 0.25 / m * rvs_sim_rng_normal(r);
}

static double calib_at(const calib_curve *cc, double lam) {
  double x = 2 * (lam - ARM_LO[0]) / (ARM_HI[2] - ARM_LO[0]) - 1;
  double t0 = 1, t1 = x, t2 = 2 * x * x - 1, t3 = 4 * x * x * x - 3 * x;
  return exp(cc->c[0] * t0 + cc->c[1] * t1 + cc->c[2] * t2 + cc->c[3] * t3);
}

/* Instrument throughput (relative) and sky (relative to the source level). */
static double throughput(double lam) {
  double x = (lam - 6600) / 2700;
  return 0.3 + 0.7 * exp(-x * x * x * x);
}

static const double SKY_LINES[] = {5578.9, 5891.6, 6302.0, 6365.5, 7278.4, 7342.0, 7371.5,
                                   7795.4, 7823.0, 7855.3, 7915.5, 7995.1, 8346.7, 8401.3,
                                   8432.6, 8467.5, 8507.4, 8829.8, 8888.2, 8945.1, 8960.2,
                                   9378.9, 9442.2, 9505.0, 9524.4, 9795.4};

static double sky_shape(double lam) {
  double x = (lam - ARM_LO[0]) / (ARM_HI[2] - ARM_LO[0]);
  double s = 0.4 + 1.2 * x * x;
  for (size_t k = 0; k < sizeof SKY_LINES / sizeof SKY_LINES[0]; k++) {
    double d = (lam - SKY_LINES[k]) / 0.8;
    if (fabs(d) < 8) s += (k < 4 ? 6.0 : 12.0) * exp(-0.5 * d * d);
  }
  return s;
}

/* Galaxy: smooth continuum with a 4000 A break and emission lines at
 * redshift z, averaged over each pixel.  Units: brightness 1. */
static const double GAL_LINES[][2] = {{3727.09, 25}, {3729.88, 35}, {4862.68, 15},
                                      {4960.30, 10}, {5008.24, 30}, {6549.86, 8},
                                      {6564.61, 45}, {6585.27, 24}, {6718.29, 12},
                                      {6732.67, 9}};

static double gal_continuum(double lam_rest) {
  return pow(lam_rest / 5500, 0.5) * (1 - 0.45 / (1 + exp((lam_rest - 4000) / 40)));
}

static void galaxy_pixels(const double *wobs, size_t npix, double z, double *out) {
  for (size_t j = 0; j < npix; j++) {
    double lo = j > 0 ? 0.5 * (wobs[j - 1] + wobs[j]) : wobs[0] - 0.4;
    double hi = j + 1 < npix ? 0.5 * (wobs[j] + wobs[j + 1]) : wobs[npix - 1] + 0.4;
    double v = gal_continuum(wobs[j] / (1 + z));
    for (size_t k = 0; k < sizeof GAL_LINES / sizeof GAL_LINES[0]; k++) {
      double mu = GAL_LINES[k][0] * (1 + z), sig = mu * 100.0 / C_KMS;
      if (hi < mu - 8 * sig || lo > mu + 8 * sig) continue;
      double ew = GAL_LINES[k][1] * (1 + z) * gal_continuum(GAL_LINES[k][0]);
      double frac = 0.5 * (erf((hi - mu) / (sqrt(2) * sig)) - erf((lo - mu) / (sqrt(2) * sig)));
      v += ew * frac / (hi - lo);
    }
    out[j] = v;
  }
}

/* ------------------------------------------------------------ one fiber */

typedef struct fiber_plan {
  rvs_sim_kind kind;
  rvs_sim_star star;
  int nan_stretch, ivar0_stretch;
} fiber_plan;

typedef struct workspace {
  double *spec, *tmp, *cum;           /* grid-sized */
  double *bin[RVS_SIM_NARMS];         /* per arm, pixel-sized */
  double *rows[RVS_SIM_NARMS];        /* [npix][11] */
  double *conv[RVS_SIM_NARMS], *var[RVS_SIM_NARMS];
  double *acc[RVS_SIM_NARMS];         /* lsf-first: sum of w ln(corner) */
  double *scratch;                    /* max npix */
} workspace;

static void ws_free(workspace *w) {
  free(w->spec);
  free(w->tmp);
  free(w->cum);
  for (int a = 0; a < RVS_SIM_NARMS; a++) {
    free(w->bin[a]);
    free(w->rows[a]);
    free(w->conv[a]);
    free(w->var[a]);
    free(w->acc[a]);
  }
  free(w->scratch);
}

static int ws_alloc(workspace *w, const rvs_sim_grid *g, const rvs_sim_result *res) {
  memset(w, 0, sizeof *w);
  int bad = 0;
  w->spec = malloc(g->npix * sizeof(double));
  w->tmp = malloc(g->npix * sizeof(double));
  w->cum = malloc(g->npix * sizeof(double));
  bad |= !w->spec || !w->tmp || !w->cum;
  size_t mx = 0;
  for (int a = 0; a < RVS_SIM_NARMS; a++) {
    size_t n = res->arms[a].npix;
    if (n > mx) mx = n;
    w->bin[a] = malloc(n * sizeof(double));
    w->rows[a] = malloc(n * RVS_SIM_NDIAG * sizeof(double));
    w->conv[a] = malloc(n * sizeof(double));
    w->var[a] = malloc(n * sizeof(double));
    w->acc[a] = malloc(n * sizeof(double));
    bad |= !w->bin[a] || !w->rows[a] || !w->conv[a] || !w->var[a] || !w->acc[a];
  }
  w->scratch = malloc(mx * sizeof(double));
  bad |= !w->scratch;
  if (bad) {
    ws_free(w);
    return rvs_error(RVS_ERR_NOMEM, "simulator: out of memory (fiber workspace)");
  }
  return RVS_OK;
}

/* Rotate, Doppler-shift and bin ws->spec (grid pixels; overwritten) onto the
 * DESI pixels of every arm, into ws->bin. */
static int shift_and_bin(const rvs_sim_grid *g, const rvs_sim_star *s, const rvs_sim_result *res,
                         workspace *ws) {
  size_t np = g->npix;
  int rc;
  if (s->vsini > 0) {
    double dv = C_KMS * g->dlnwave;
    if ((rc = rotate(ws->spec, ws->tmp, np, dv, s->vsini))) return rc;
    double *t = ws->spec;
    ws->spec = ws->tmp;
    ws->tmp = t;
  }
  ws->cum[0] = 0;
  for (size_t i = 0; i + 1 < np; i++)
    ws->cum[i + 1] = ws->cum[i] + 0.5 * (ws->spec[i] + ws->spec[i + 1]) * (g->wave[i + 1] - g->wave[i]);
  double dfac = doppler_factor(s->vrad);
  for (int a = 0; a < RVS_SIM_NARMS; a++)
    bin_to_pixels(g, ws->spec, ws->cum, res->arms[a].wave, res->arms[a].npix, dfac, ws->bin[a]);
  return RVS_OK;
}

/* Divide out[a] (every arm) by the median of out[R] (must be positive). */
static int normalise_median(const rvs_sim_grid *g, const rvs_sim_star *s,
                            const rvs_sim_result *res, workspace *ws,
                            double *out[RVS_SIM_NARMS]) {
  size_t nr = res->arms[R_ARM].npix;
  memcpy(ws->scratch, out[R_ARM], nr * sizeof(double));
  double med = median_inplace(ws->scratch, nr);
  if (!(med > 0) || !isfinite(med))
    return rvs_error(RVS_ERR_NUMERIC, "%s: template flux is not positive near teff=%g logg=%g",
                     g->dir, s->teff, s->logg);
  for (int a = 0; a < RVS_SIM_NARMS; a++)
    for (size_t j = 0; j < res->arms[a].npix; j++) out[a][j] /= med;
  return RVS_OK;
}

static double safe_log(double x) { return log(x > 0 ? x : 1e-300); }

/* Noise-free star spectrum on the DESI pixels, normalised to a median of 1 in
 * the R arm.  RAW: before resolution, in ws->bin (*resolved = 0).  LSF_FIRST:
 * after the fiber's resolution (ws->rows, made beforehand), in ws->conv
 * (*resolved = 1). */
static int star_spectrum(const rvs_sim_grid *g, const rvs_sim_star *s, rvs_sim_interp mode,
                         const rvs_sim_result *res, workspace *ws, int *resolved) {
  double p[4] = {s->teff, s->logg, s->feh, s->alpha};
  long idx[16];
  double w[16];
  int n;
  int rc = rvs_sim_grid_weights(g, p, idx, w, &n);
  if (rc) return rc;
  size_t np = g->npix;
  *resolved = 0;
  if (mode == RVS_SIM_INTERP_LSF_FIRST) {
    /* Each corner observed on its own (rotation, shift, pixel mean, the
     * fiber's resolution), then ln flux interpolated between the observed
     * corners: the order of rvspecfit's template libraries (convolve every
     * grid spectrum, then interpolate ln flux). */
    for (int a = 0; a < RVS_SIM_NARMS; a++)
      for (size_t j = 0; j < res->arms[a].npix; j++) ws->acc[a][j] = 0;
    for (int k = 0; k < n; k++) {
      const float *f = g->flux + (size_t)idx[k] * np;
      for (size_t i = 0; i < np; i++) ws->spec[i] = f[i];
      if ((rc = shift_and_bin(g, s, res, ws))) return rc;
      for (int a = 0; a < RVS_SIM_NARMS; a++) {
        size_t na = res->arms[a].npix;
        apply_resolution(ws->rows[a], ws->bin[a], na, ws->conv[a]);
        for (size_t j = 0; j < na; j++) ws->acc[a][j] += w[k] * safe_log(ws->conv[a][j]);
      }
    }
    for (int a = 0; a < RVS_SIM_NARMS; a++)
      for (size_t j = 0; j < res->arms[a].npix; j++) ws->conv[a][j] = exp(ws->acc[a][j]);
    *resolved = 1;
    return normalise_median(g, s, res, ws, ws->conv);
  }
  /* Interpolate ln(flux), as rvspecfit's template libraries do (specs_*.h5
   * hold ln flux), but at the grid's full resolution: a star between grid
   * nodes differs from the library's interpolation of convolved spectra by
   * the template-interpolation error (see rvs_sim_interp). */
  for (size_t i = 0; i < np; i++) ws->spec[i] = 0;
  for (int k = 0; k < n; k++) {
    const float *f = g->flux + (size_t)idx[k] * np;
    double wk = w[k];
    for (size_t i = 0; i < np; i++) ws->spec[i] += wk * log(f[i] > 0 ? (double)f[i] : 1e-300);
  }
  for (size_t i = 0; i < np; i++) ws->spec[i] = exp(ws->spec[i]);
  if ((rc = shift_and_bin(g, s, res, ws))) return rc;
  return normalise_median(g, s, res, ws, ws->bin);
}

static void put_stretch(rvs_sim_rng *r, const rvs_sim_result *res, char *arm_out, int32_t *start,
                        int32_t *len, int *arm_idx) {
  int a = (int)rvs_sim_rng_below(r, RVS_SIM_NARMS);
  int32_t L = 10 + (int32_t)rvs_sim_rng_below(r, 31);
  size_t np = res->arms[a].npix;
  int32_t s0 = 50 + (int32_t)rvs_sim_rng_below(r, np - 100 - (size_t)L);
  *arm_out = ARM_NAMES[a];
  *start = s0;
  *len = L;
  *arm_idx = a;
}

static int simulate_fiber(const rvs_sim_grid *g, const rvs_sim_options *o, size_t f,
                          const fiber_plan *plan, rvs_sim_result *res, workspace *ws) {
  rvs_sim_truth *t = &res->truth[f];
  t->kind = plan->kind;
  t->redshift = NAN;
  t->nan_arm = t->ivar0_arm = ' ';
  int rc;
  rvs_sim_rng rcal, rnoise, rdef;
  rvs_sim_rng_init(&rcal, o->seed, f, RVS_SIM_STREAM_CALIB);
  rvs_sim_rng_init(&rnoise, o->seed, f, RVS_SIM_STREAM_NOISE);
  rvs_sim_rng_init(&rdef, o->seed, f, RVS_SIM_STREAM_DEFECTS);

  /* Resolution matrices first, so they do not depend on the fiber kind. */
  for (int a = 0; a < RVS_SIM_NARMS; a++) {
    rvs_sim_arm *A = &res->arms[a];
    make_resolution(a, A->wave, A->npix, &rcal, ws->rows[a],
                    A->resolution + f * RVS_SIM_NDIAG * A->npix);
  }
  calib_curve cc;
  draw_calib(&rcal, &cc);
  double sn = plan->star.sn;
  double scale = 1.0, ksky = 1.0;
  int resolved = 0; /* ws->conv already holds R @ binned */

  if (plan->kind == RVS_SIM_STAR || plan->kind == RVS_SIM_MASKED) {
    const rvs_sim_star *s = &plan->star;
    t->teff = s->teff;
    t->logg = s->logg;
    t->feh = s->feh;
    t->alpha = s->alpha;
    t->vrad = s->vrad;
    t->vsini = s->vsini;
    if ((rc = star_spectrum(g, s, o->interp, res, ws, &resolved))) return rc;
    /* Brighter stars get higher S/N (with scatter). */
    scale = 0.05 * pow(sn, 1.3) * rvs_sim_rng_range(&rcal, 0.7, 1.4);
  } else {
    t->teff = t->logg = t->feh = t->alpha = t->vrad = t->vsini = NAN;
    if (plan->kind == RVS_SIM_GALAXY) {
      t->redshift = rvs_sim_rng_range(&rcal, 0.05, 0.35);
      for (int a = 0; a < RVS_SIM_NARMS; a++)
        galaxy_pixels(res->arms[a].wave, res->arms[a].npix, t->redshift, ws->bin[a]);
      scale = rvs_sim_rng_range(&rcal, 0.5, 3.0);
    } else { /* sky: nothing but residual noise */
      for (int a = 0; a < RVS_SIM_NARMS; a++)
        memset(ws->bin[a], 0, res->arms[a].npix * sizeof(double));
      scale = 0;
    }
  }
  t->flux_scale = scale;
  t->sn_target = plan->kind == RVS_SIM_SKY ? 0.0 : sn;

  /* Model = calibration x (R @ binned). */
  for (int a = 0; a < RVS_SIM_NARMS; a++) {
    rvs_sim_arm *A = &res->arms[a];
    if (!resolved) apply_resolution(ws->rows[a], ws->bin[a], A->npix, ws->conv[a]);
    float *model = A->model + f * A->npix, *calib = A->calib + f * A->npix;
    for (size_t j = 0; j < A->npix; j++) {
      double c = scale * calib_at(&cc, A->wave[j]);
      ws->conv[a][j] *= c;
      model[j] = (float)ws->conv[a][j];
      calib[j] = (float)c;
    }
  }

  /* Noise: var = alpha * [(model + sky) / throughput + read], alpha set so
   * that the median S/N in the R arm is the target. */
  double level;
  if (plan->kind == RVS_SIM_SKY) {
    level = 1.0;
    ksky = 1.0;
  } else {
    size_t nr = res->arms[R_ARM].npix;
    for (size_t j = 0; j < nr; j++) ws->scratch[j] = ws->conv[R_ARM][j];
    level = median_inplace(ws->scratch, nr);
    ksky = clampd(30.0 / sn, 0.03, 15.0) * rvs_sim_rng_range(&rcal, 0.7, 1.4);
  }
  for (int a = 0; a < RVS_SIM_NARMS; a++) {
    rvs_sim_arm *A = &res->arms[a];
    for (size_t j = 0; j < A->npix; j++) {
      double m = ws->conv[a][j] > 0 ? ws->conv[a][j] : 0;
      ws->var[a][j] = (m + ksky * level * sky_shape(A->wave[j])) / throughput(A->wave[j]) +
                      0.05 * ksky * level;
    }
  }
  double alpha;
  if (plan->kind == RVS_SIM_SKY) {
    alpha = 0.09 * rvs_sim_rng_range(&rcal, 0.5, 2.0);
  } else {
    size_t nr = res->arms[R_ARM].npix;
    for (size_t j = 0; j < nr; j++) ws->scratch[j] = ws->conv[R_ARM][j] / sqrt(ws->var[R_ARM][j]);
    double m0 = median_inplace(ws->scratch, nr);
    alpha = (m0 / sn) * (m0 / sn);
  }
  for (int a = 0; a < RVS_SIM_NARMS; a++) {
    rvs_sim_arm *A = &res->arms[a];
    float *fl = A->flux + f * A->npix, *iv = A->ivar + f * A->npix;
    int32_t *mk = A->mask + f * A->npix;
    for (size_t j = 0; j < A->npix; j++) {
      double sig = sqrt(alpha * ws->var[a][j]);
      iv[j] = (float)(1.0 / (sig * sig));
      fl[j] = (float)(ws->conv[a][j] + sig * rvs_sim_rng_normal(&rnoise));
      mk[j] = 0;
    }
  }

  /* Defects. */
  if (plan->kind == RVS_SIM_MASKED) {
    t->defects |= RVS_SIM_DEF_MASKED;
    for (int a = 0; a < RVS_SIM_NARMS; a++) {
      rvs_sim_arm *A = &res->arms[a];
      for (size_t j = 0; j < A->npix; j++) {
        A->flux[f * A->npix + j] = 0;
        A->ivar[f * A->npix + j] = 0;
        A->mask[f * A->npix + j] = RVS_SIM_MASK_BADFIBER;
      }
    }
  } else if (o->defects) {
    for (int a = 0; a < RVS_SIM_NARMS; a++) {
      rvs_sim_arm *A = &res->arms[a];
      int nhit = rvs_sim_rng_poisson(&rdef, 1.5);
      for (int h = 0; h < nhit; h++) {
        size_t p0 = (size_t)rvs_sim_rng_below(&rdef, A->npix);
        size_t w = 1 + (size_t)rvs_sim_rng_below(&rdef, 3);
        double amp = rvs_sim_rng_range(&rdef, 5, 50) * (level > 0 ? level : 1.0);
        for (size_t j = p0; j < p0 + w && j < A->npix; j++) {
          size_t q = f * A->npix + j;
          if (!(A->mask[q] & RVS_SIM_MASK_COSMIC)) t->ncosmic++;
          A->mask[q] |= RVS_SIM_MASK_COSMIC;
          A->ivar[q] = 0;
          A->flux[q] += (float)amp;
        }
      }
    }
    if (t->ncosmic) t->defects |= RVS_SIM_DEF_COSMIC;
    int a;
    if (plan->nan_stretch) {
      put_stretch(&rdef, res, &t->nan_arm, &t->nan_start, &t->nan_len, &a);
      rvs_sim_arm *A = &res->arms[a];
      for (int32_t j = t->nan_start; j < t->nan_start + t->nan_len; j++)
        A->flux[f * A->npix + (size_t)j] = NAN;
      t->defects |= RVS_SIM_DEF_NAN;
    }
    if (plan->ivar0_stretch) {
      put_stretch(&rdef, res, &t->ivar0_arm, &t->ivar0_start, &t->ivar0_len, &a);
      rvs_sim_arm *A = &res->arms[a];
      for (int32_t j = t->ivar0_start; j < t->ivar0_start + t->ivar0_len; j++)
        A->ivar[f * A->npix + (size_t)j] = 0;
      t->defects |= RVS_SIM_DEF_IVAR0;
    }
  }
  if (plan->kind == RVS_SIM_SKY) t->defects |= RVS_SIM_DEF_SKY;
  if (plan->kind == RVS_SIM_GALAXY) t->defects |= RVS_SIM_DEF_GALAXY;

  /* Truth S/N (noise-free) and SCORES (from the noisy data), both over the
   * pixels a reader would call good: ivar > 0, mask == 0, finite flux. */
  for (int a = 0; a < RVS_SIM_NARMS; a++) {
    rvs_sim_arm *A = &res->arms[a];
    const float *fl = A->flux + f * A->npix, *iv = A->ivar + f * A->npix;
    const float *md = A->model + f * A->npix;
    const int32_t *mk = A->mask + f * A->npix;
    size_t ng = 0;
    double integ = 0;
    for (size_t j = 0; j < A->npix; j++)
      if (iv[j] > 0 && mk[j] == 0 && isfinite(fl[j])) ws->scratch[ng++] = md[j] * sqrt(iv[j]);
    t->sn[a] = ng ? median_inplace(ws->scratch, ng) : 0.0;
    ng = 0;
    for (size_t j = 0; j < A->npix; j++)
      if (iv[j] > 0 && mk[j] == 0 && isfinite(fl[j])) ws->scratch[ng++] = fl[j] * sqrt(iv[j]);
    res->scores_snr[a][f] = ng ? (float)median_inplace(ws->scratch, ng) : 0.0f;
    ng = 0;
    for (size_t j = 0; j < A->npix; j++)
      if (iv[j] > 0 && mk[j] == 0 && isfinite(fl[j])) {
        ws->scratch[ng++] = fl[j];
        integ += fl[j] * 0.8;
      }
    res->scores_flux[a][f] = ng ? (float)median_inplace(ws->scratch, ng) : 0.0f;
    res->scores_integ[a][f] = (float)integ;
  }
  return RVS_OK;
}

/* ------------------------------------------------------------ FIBERMAP values */

static void make_fiberinfo(const rvs_sim_options *o, size_t f, const rvs_sim_result *res,
                           rvs_sim_fiberinfo *in, int64_t *targetid) {
  rvs_sim_rng r;
  rvs_sim_rng_init(&r, o->seed, f, RVS_SIM_STREAM_FIBERMAP);
  const rvs_sim_truth *t = &res->truth[f];
  memset(in, 0, sizeof *in);
  in->device_loc = (int32_t)rvs_sim_rng_below(&r, 543);
  in->brickid = 300000 + (int32_t)rvs_sim_rng_below(&r, 300000);
  in->brick_objid = (int32_t)(f + 1);
  /* DESI TARGETID layout: RELEASE << 42 | BRICKID << 22 | OBJID. */
  *targetid = ((int64_t)9011 << 42) | ((int64_t)in->brickid << 22) | (int64_t)(f + 1);
  double rad = 1.4 * sqrt(rvs_sim_rng_uniform(&r)), ang = rvs_sim_rng_range(&r, 0, 2 * M_PI);
  in->dec = 32.0 + rad * sin(ang);
  in->ra = 150.0 + rad * cos(ang) / cos(in->dec * M_PI / 180);
  in->subpriority = rvs_sim_rng_uniform(&r);
  in->fa_x = (float)rvs_sim_rng_range(&r, -400, 400);
  in->fa_y = (float)rvs_sim_rng_range(&r, -400, 400);
  in->ebv = (float)rvs_sim_rng_range(&r, 0.01, 0.08);
  /* Legacy Surveys brick name, e.g. 1502p320 (RA*10, 'p'/'m', |Dec|*10). */
  unsigned ra10 = (unsigned)(in->ra * 10) % 10000u, dec10 = (unsigned)(fabs(in->dec) * 10) % 1000u;
  snprintf(in->brickname, sizeof in->brickname, "%04u%c%03u", ra10, in->dec < 0 ? 'm' : 'p',
           dec10);
  /* AB fluxes (nanomaggies) from the model: f_lambda 1e-17 at 6500 A ~ 4 nMgy. */
  double med[RVS_SIM_NARMS];
  for (int a = 0; a < RVS_SIM_NARMS; a++) {
    const rvs_sim_arm *A = &res->arms[a];
    double s = 0;
    size_t n = 0;
    for (size_t j = 0; j < A->npix; j += 10) {
      s += A->model[f * A->npix + j];
      n++;
    }
    med[a] = n ? s / (double)n : 0;
  }
  in->flux_g = (float)(4 * med[0] * pow(4800 / 6500.0, 2));
  in->flux_r = (float)(4 * med[1]);
  in->flux_z = (float)(4 * med[2] * pow(9100 / 6500.0, 2));
  in->flux_w1 = in->flux_z * 0.6f;
  in->flux_w2 = in->flux_z * 0.35f;
  switch (t->kind) {
  case RVS_SIM_SKY:
    strcpy(in->objtype, "SKY");
    in->desi_target = in->sv1_desi_target = (int64_t)1 << 32; /* SKY */
    in->priority = 0;
    in->flux_g = in->flux_r = in->flux_z = in->flux_w1 = in->flux_w2 = 0;
    break;
  case RVS_SIM_GALAXY:
    strcpy(in->objtype, "TGT");
    strcpy(in->morphtype, "REX");
    in->desi_target = in->sv1_desi_target = (int64_t)1 << 60; /* BGS_ANY */
    in->bgs_target = 1 << 1;                                  /* BGS_BRIGHT */
    in->sv1_bgs_target = 4112;
    in->priority = 2100;
    in->shape_r = (float)rvs_sim_rng_range(&r, 0.3, 2.0);
    break;
  default: /* stars, including the dead fiber */
    strcpy(in->objtype, "TGT");
    strcpy(in->morphtype, "PSF");
    strcpy(in->ref_cat, "G2");
    in->desi_target = in->sv1_desi_target = (int64_t)1 << 61; /* MWS_ANY */
    in->mws_target = (t->teff > 5500 ? (1 << 8) : (1 << 11)) | 1; /* MAIN_BLUE/RED | BROAD */
    in->sv1_mws_target = 1;
    in->priority = 1500;
    in->ref_id = (int64_t)(rvs_sim_rng_u64(&r) >> 2);
    double rmag = in->flux_r > 0 ? 22.5 - 2.5 * log10(in->flux_r) : 21;
    in->gaia_g = (float)(rmag + 0.1);
    in->gaia_bp = (float)(rmag + 0.4);
    in->gaia_rp = (float)(rmag - 0.5);
    in->parallax = (float)rvs_sim_rng_range(&r, 0.05, 2.0);
    in->pmra = (float)(5 * rvs_sim_rng_normal(&r));
    in->pmdec = (float)(5 * rvs_sim_rng_normal(&r));
    break;
  }
}

/* ------------------------------------------------------------ driver */

static int alloc_result(rvs_sim_result *res, size_t nf) {
  res->nfibers = nf;
  for (int a = 0; a < RVS_SIM_NARMS; a++) {
    rvs_sim_arm *A = &res->arms[a];
    A->name = ARM_NAMES[a];
    int rc = rvs_sim_desi_wave(A->name, &A->wave, &A->npix);
    if (rc) return rc;
    size_t n = nf * A->npix;
    A->flux = malloc(n * sizeof(float));
    A->ivar = malloc(n * sizeof(float));
    A->mask = malloc(n * sizeof(int32_t));
    A->model = malloc(n * sizeof(float));
    A->calib = malloc(n * sizeof(float));
    A->resolution = malloc(n * RVS_SIM_NDIAG * sizeof(float));
    res->scores_snr[a] = calloc(nf, sizeof(float));
    res->scores_flux[a] = calloc(nf, sizeof(float));
    res->scores_integ[a] = calloc(nf, sizeof(float));
    if (!A->flux || !A->ivar || !A->mask || !A->model || !A->calib || !A->resolution ||
        !res->scores_snr[a] || !res->scores_flux[a] || !res->scores_integ[a])
      return rvs_error(RVS_ERR_NOMEM, "simulator: out of memory for %zu fibers", nf);
  }
  res->truth = calloc(nf, sizeof *res->truth);
  res->info = calloc(nf, sizeof *res->info);
  if (!res->truth || !res->info)
    return rvs_error(RVS_ERR_NOMEM, "simulator: out of memory for %zu fibers", nf);
  return RVS_OK;
}

/* Pick k distinct entries of cand[0..n) (partial Fisher-Yates), marking them. */
static void pick_distinct(rvs_sim_rng *r, size_t *cand, size_t n, size_t k, size_t *out) {
  for (size_t i = 0; i < k && i < n; i++) {
    size_t j = i + (size_t)rvs_sim_rng_below(r, n - i);
    size_t t = cand[i];
    cand[i] = cand[j];
    cand[j] = t;
    out[i] = cand[i];
  }
}

int rvs_sim_run(const rvs_sim_grid *g, const rvs_sim_options *o, rvs_sim_result *res) {
  memset(res, 0, sizeof *res);
  if (!(o->sn_min > 0) || !(o->sn_max >= o->sn_min))
    return rvs_error(RVS_ERR_ARG, "simulator: need 0 < sn-min <= sn-max (got %g, %g)",
                     o->sn_min, o->sn_max);
  if (!(o->vrad_max >= 0 && o->vrad_max < 0.1 * C_KMS) || !(o->vsini_max >= 0) ||
      !(o->vsini_frac >= 0 && o->vsini_frac <= 1))
    return rvs_error(RVS_ERR_ARG, "simulator: bad velocity options");
  if (o->interp != RVS_SIM_INTERP_RAW && o->interp != RVS_SIM_INTERP_LSF_FIRST)
    return rvs_error(RVS_ERR_ARG, "simulator: unknown interpolation mode %d", (int)o->interp);
  if (o->petal < 0 || o->petal > 9)
    return rvs_error(RVS_ERR_ARG, "simulator: petal %d not in 0..9", o->petal);
  size_t nstars = o->stars ? o->nstars : 0;
  size_t nf = o->nfibers;
  size_t nspecial = 0;
  if (nstars) {
    nspecial = o->defects ? 3 : 0;
    if (nf && nf != nstars + nspecial)
      return rvs_error(RVS_ERR_ARG,
                       "simulator: %zu fibers asked for but %zu stars given (%zu fibers with "
                       "the sky/galaxy/masked fibers)",
                       nf, nstars, nstars + nspecial);
    nf = nstars + nspecial;
  }
  if (nf == 0) return rvs_error(RVS_ERR_ARG, "simulator: no fibers to simulate");
  res->opt = *o;
  res->opt.nfibers = nf;
  int rc = alloc_result(res, nf);
  if (rc) {
    rvs_sim_result_free(res);
    return rc;
  }
  fiber_plan *plan = calloc(nf, sizeof *plan);
  size_t *cand = malloc(nf * sizeof *cand);
  if (!plan || !cand) {
    free(plan);
    free(cand);
    rvs_sim_result_free(res);
    return rvs_error(RVS_ERR_NOMEM, "simulator: out of memory");
  }
  /* Which fibers are special: from one global stream. */
  rvs_sim_rng gr;
  rvs_sim_rng_init(&gr, o->seed, UINT64_MAX, RVS_SIM_STREAM_GLOBAL);
  if (o->defects) {
    size_t sp[3];
    size_t nsp;
    if (nstars) {
      nsp = 3;
      for (size_t k = 0; k < 3; k++) sp[k] = nstars + k;
    } else {
      nsp = nf >= 4 ? 3 : nf - 1;
      for (size_t i = 0; i < nf; i++) cand[i] = i;
      pick_distinct(&gr, cand, nf, nsp, sp);
    }
    static const rvs_sim_kind kinds[3] = {RVS_SIM_SKY, RVS_SIM_GALAXY, RVS_SIM_MASKED};
    for (size_t k = 0; k < nsp; k++) plan[sp[k]].kind = kinds[k];
    size_t nstar = 0;
    for (size_t i = 0; i < nf; i++)
      if (plan[i].kind == RVS_SIM_STAR) cand[nstar++] = i;
    size_t kd = nf / 50 > 1 ? nf / 50 : 1, pick[2 * 64];
    if (kd > 64) kd = 64;
    size_t nd = 2 * kd <= nstar ? 2 * kd : nstar;
    pick_distinct(&gr, cand, nstar, nd, pick);
    for (size_t k = 0; k < nd; k++) {
      if (k % 2 == 0)
        plan[pick[k]].nan_stretch = 1;
      else
        plan[pick[k]].ivar0_stretch = 1;
    }
  }
  /* Star parameters: given, or drawn from each fiber's own stream. */
  size_t istar = 0;
  for (size_t i = 0; i < nf; i++) {
    rvs_sim_rng pr;
    rvs_sim_rng_init(&pr, o->seed, i, RVS_SIM_STREAM_PARAMS);
    if (nstars && i < nstars) {
      plan[i].star = o->stars[istar++];
      if (!star_ok(g, &plan[i].star)) {
        const rvs_sim_star *s = &plan[i].star;
        double p[4] = {s->teff, s->logg, s->feh, s->alpha};
        long idx[16];
        double w[16];
        int n;
        rc = rvs_sim_grid_weights(g, p, idx, w, &n);
        rc = rvs_error(rc ? rc : RVS_ERR_RANGE, "star %zu: %s", i, rvs_last_error());
        break;
      }
      if (!(plan[i].star.sn > 0) || fabs(plan[i].star.vrad) >= 0.1 * C_KMS ||
          !(plan[i].star.vsini >= 0)) {
        rc = rvs_error(RVS_ERR_ARG, "star %zu: need sn > 0, |vrad| < %g km/s, vsini >= 0", i,
                       0.1 * C_KMS);
        break;
      }
    } else {
      draw_star(g, o, &pr, &plan[i].star);
      if (plan[i].kind == RVS_SIM_GALAXY)
        plan[i].star.sn = exp(rvs_sim_rng_range(&pr, log(3.0), log(10.0)));
    }
  }
  free(cand);
  if (rc) {
    free(plan);
    rvs_sim_result_free(res);
    return rc;
  }

  int nthreads = o->nthreads;
#ifdef _OPENMP
  if (nthreads <= 0) nthreads = omp_get_max_threads();
#else
  nthreads = 1;
#endif
  (void)nthreads; /* only read by the OpenMP pragma */
  int err_rc = 0;
  long err_fiber = -1;
  char err_msg[1024] = "";
  long nfl = (long)nf;
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
  {
    workspace ws;
    int wrc = ws_alloc(&ws, g, res);
    if (wrc) {
#ifdef _OPENMP
#pragma omp critical(rvs_sim_err)
#endif
      {
        if (!err_rc) {
          err_rc = wrc;
          snprintf(err_msg, sizeof err_msg, "%s", rvs_last_error());
        }
      }
    }
#ifdef _OPENMP
#pragma omp for schedule(dynamic)
#endif
    for (long f = 0; f < nfl; f++) {
      if (wrc) continue;
      int frc = simulate_fiber(g, o, (size_t)f, &plan[f], res, &ws);
      if (frc) {
#ifdef _OPENMP
#pragma omp critical(rvs_sim_err)
#endif
        {
          if (err_fiber < 0 || f < err_fiber) {
            err_fiber = f;
            err_rc = frc;
            snprintf(err_msg, sizeof err_msg, "%s", rvs_last_error());
          }
        }
      }
    }
    if (!wrc) ws_free(&ws);
  }
  free(plan);
  if (err_rc) {
    rvs_sim_result_free(res);
    if (err_fiber >= 0) return rvs_error(err_rc, "fiber %ld: %s", err_fiber, err_msg);
    return rvs_error(err_rc, "%s", err_msg);
  }
  for (size_t f = 0; f < nf; f++) {
    make_fiberinfo(o, f, res, &res->info[f], &res->truth[f].targetid);
    res->truth[f].fiber = (int32_t)(500 * o->petal + (int)f);
  }
  return RVS_OK;
}
