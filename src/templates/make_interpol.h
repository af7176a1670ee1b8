/* rvs_make_interpol: convolve a template grid to an instrument resolution,
 * resample it onto a log- or linear-wavelength grid, normalise, take ln, and
 * write specs_<setup>.h5 (ALGORITHM.md §2.3, upstream make_interpol.py and
 * read_grid.make_rebinner). */
#ifndef RVS_TEMPLATES_MAKE_INTERPOL_H
#define RVS_TEMPLATES_MAKE_INTERPOL_H

#include <stddef.h>

#include "templates/specs_file.h"

#define RVS_MI_MAX_PARAMS 16

/* Upstream's padding of the output range: fac1 = 1 + 1000 km/s / c. */
#define RVS_MI_PAD_KMS 1000.0
#define RVS_SPEED_OF_LIGHT_KMS 299792.458

/* ---------------------------------------------------------------- rebinning */

/* The N_in x N_out sparse matrix M with out = in @ M, stored by output pixel
 * (CSC): column j has entries colptr[j] .. colptr[j+1]-1, rows ascending. */
typedef struct rvs_rebinner {
  size_t nin, nout;
  size_t *colptr; /* [nout+1] */
  size_t *row;    /* [nnz] input pixel */
  double *val;    /* [nnz] */
} rvs_rebinner;

/* Weights (c1, c2) of the values f1, f2 at x1 < x2 such that c1 f1 + c2 f2 =
 * ∫_{x1}^{x2} f(x) ∫_{l1}^{l2} N(y; x, s) dy dx for f linear between the two
 * points (upstream pix_integrator, closed form with erfc/exp). */
void rvs_pix_integrator(double x1, double x2, double l1, double l2, double s, double *c1,
                        double *c2);

/* Vacuum -> air wavelength (Angstrom), upstream's formula. */
double rvs_vac_to_air(double lam_vac);

/* Build M (read_grid.make_rebinner).  lam_in: template wavelengths (vacuum,
 * strictly increasing); with toair they are converted to air first.  resol:
 * R at each output wavelength; every R must be < resolution0.  Output pixel
 * i integrates over [lam_i - h_L, lam_i + h_R] (half distances to the
 * neighbours) the template, piecewise linear, convolved with a Gaussian of
 * sigma_i = sqrt((lam_i/R_i)^2 - (lam_i/resolution0)^2) / (2 sqrt(2 ln 2)),
 * over input segments within 5 sigma; divided by the pixel width.
 * *edge_warning receives the number of output pixels whose +-5 sigma is not
 * inside the input (upstream warns: the edges are corrupted).  Where the
 * input ends far inside a pixel's kernel the value is tiny but finite here;
 * upstream's erf differences give exactly 0 there, hence ln 0 = -inf and a
 * "not finite" error. */
int rvs_make_rebinner(const double *lam_in, size_t nin, int toair, const double *lam_out,
                      size_t nout, const double *resol, double resolution0, rvs_rebinner *m,
                      int *edge_warning);
void rvs_rebinner_apply(const rvs_rebinner *m, const double *in, double *out);
void rvs_rebinner_free(rvs_rebinner *m);

/* ---------------------------------------------------------------- grids */

/* The output wavelength grid with upstream's padding fac1:
 * linear: arange(l0/fac1, (l1+step)*fac1, step); log: exp(arange(ln(l0/fac1),
 * ln(l1*fac1), ln(1 + step/(0.5*(l0+l1))))) -- step in Angstrom at the centre.
 * numpy's arange arithmetic is reproduced exactly. Fewer than 2 points is an error. */
int rvs_mi_output_grid(double lambda0, double lambda1, double step, int log_step, double **lam,
                       size_t *n);

/* numpy.arange(start, stop, step) for step > 0: malloc'd, *n points (may be 0). */
int rvs_arange(double start, double stop, double step, double **out, size_t *n);

/* numpy.median of n values (n >= 1); `work` is scratch space of n doubles. */
double rvs_mi_median(const double *x, size_t n, double *work);

/* ---------------------------------------------------------------- normalisation */

typedef enum rvs_norm_mode {
  RVS_NORM_LINEAR_CONTINUUM = 0, /* divide by exp(line through the ln medians of the two halves) */
  RVS_NORM_MEDIAN,               /* divide by the median; lognorm = ln(median) */
  RVS_NORM_NONE
} rvs_norm_mode;

/* "linear_continuum", "median", "none" -> mode; -1 if unknown. */
int rvs_norm_mode_parse(const char *s);
const char *rvs_norm_mode_name(rvs_norm_mode m);

/* In place: normalise spec[n] (lam[n] its wavelengths) and take ln.
 * *lognorm receives ln(median) for RVS_NORM_MEDIAN, else 0.  Returns
 * RVS_ERR_NUMERIC (no message) if any result is not finite. */
int rvs_normalize_log(const double *lam, double *spec, size_t n, rvs_norm_mode mode,
                      double *lognorm);

/* ---------------------------------------------------------------- whole run */

typedef void (*rvs_mi_progress_fn)(size_t done, size_t total, void *user);

typedef struct rvs_mi_opts {
  const char *setup;
  double lambda0, lambda1, step;
  int log_step;             /* 1 (default): log-uniform output grid */
  double resol;             /* constant R (when resol_func is NULL) */
  const char *resol_func;   /* R(x) expression, x = wavelength in Angstrom */
  int fixed_fwhm;           /* with resol: R(x) = x / lam_mid * resol */
  double resolution0;       /* resolution of the input grid (1e5) */
  int air;                  /* output in air wavelengths */
  rvs_norm_mode normalize;
  const char *templdb;      /* files.db */
  const char *templprefix;  /* folder the db file names are relative to */
  const char *wavefile;     /* FITS primary HDU: template wavelengths (vacuum) */
  const char *oprefix;      /* output folder (templ_data/) */
  int nthreads;             /* <= 0: OpenMP default */
  int float_bits;           /* 32 or 64 */
  const char *revision;
  const char *cmdline;
  size_t nparam;
  const char *parnames[RVS_MI_MAX_PARAMS]; /* teff,logg,feh,alpha */
  size_t nlog_ids;
  int log_ids[RVS_MI_MAX_PARAMS];          /* {0} */
  rvs_mi_progress_fn progress;             /* may be NULL; called under a lock */
  void *progress_user;
} rvs_mi_opts;

/* Upstream's defaults; setup, lambda0/1, step, resol or resol_func,
 * templprefix and wavefile must still be set. */
void rvs_mi_opts_default(rvs_mi_opts *o);

/* Compute the specs of the whole grid in memory (out is filled; free with
 * rvs_specs_free).  Any error names the file at fault. */
int rvs_make_interpol_compute(const rvs_mi_opts *o, rvs_specs *out);

/* Compute and write <oprefix>/specs_<setup>.h5 (atomically); the path
 * written is copied to outpath (capacity cap) if not NULL. */
int rvs_make_interpol_run(const rvs_mi_opts *o, char *outpath, size_t cap);

#endif
