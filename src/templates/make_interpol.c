/* Convolution/resampling of a template grid into specs_<setup>.h5; see make_interpol.h. */
#include "templates/make_interpol.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/expr.h"
#include "io/atomic.h"
#include "rvs/log.h"
#include "rvs/status.h"
#include "templates/grid_db.h"

/* ---------------------------------------------------------------- weights */

/* With u = t/s:  Phi(-u) = erfc(u/sqrt2)/2,  phi(u) = exp(-u^2/2)/sqrt(2 pi).
 * Antiderivatives in t of Phi(-t/s) and t*Phi(-t/s):
 *   G0(t) = t Phi(-t/s) - s phi(t/s)
 *   G1(t) = t^2/2 Phi(-t/s) + s^2/2 (Phi(t/s) - (t/s) phi(t/s)) */
static void antideriv(double t, double s, double *g0, double *g1) {
  const double inv_sqrt2 = 0.70710678118654752440;
  const double inv_sqrt2pi = 0.39894228040143267794;
  double u = t / s;
  double pm = 0.5 * erfc(u * inv_sqrt2);  /* Phi(-u) */
  double pp = 0.5 * erfc(-u * inv_sqrt2); /* Phi(u) */
  double ph = inv_sqrt2pi * exp(-0.5 * u * u);
  *g0 = t * pm - s * ph;
  *g1 = 0.5 * t * t * pm + 0.5 * s * s * (pp - u * ph);
}

/* M0 = ∫_{0}^{X2} P(x) dx, M1 = ∫_{0}^{X2} x P(x) dx with
 * P(x) = Phi((L2-x)/s) - Phi((L1-x)/s) = ∫_{L1}^{L2} N(y; x, s) dy. */
static void moments(double X2, double L1, double L2, double s, double *m0, double *m1) {
  double a0, a1, b0, b1, c0, c1, d0, d1;
  /* J(L) = ∫ (A x + B) Phi((L - x)/s) dx, substitute t = x - L */
  antideriv(X2 - L2, s, &a0, &a1);
  antideriv(0.0 - L2, s, &b0, &b1);
  antideriv(X2 - L1, s, &c0, &c1);
  antideriv(0.0 - L1, s, &d0, &d1);
  double j0_l2 = a0 - b0, j1_l2 = (a1 - b1) + L2 * (a0 - b0);
  double j0_l1 = c0 - d0, j1_l1 = (c1 - d1) + L1 * (c0 - d0);
  *m0 = j0_l2 - j0_l1;
  *m1 = j1_l2 - j1_l1;
}

void rvs_pix_integrator(double x1, double x2, double l1, double l2, double s, double *c1,
                        double *c2) {
  /* coordinates relative to x1: the closed form loses precision at large |x| */
  double dx = x2 - x1;
  double m0, m1;
  moments(dx, l1 - x1, l2 - x1, s, &m0, &m1);
  *c2 = m1 / dx;      /* basis (x - x1)/dx */
  *c1 = m0 - m1 / dx; /* basis (x2 - x)/dx */
}

double rvs_vac_to_air(double l) {
  return l / (1.0 + 2.735182E-4 + 131.4182 / (l * l) + 2.76249E8 / pow(l, 4.0));
}

/* numpy.searchsorted(a, v, side='left'): first i with a[i] >= v. */
static size_t searchsorted_left(const double *a, size_t n, double v) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

void rvs_rebinner_free(rvs_rebinner *m) {
  if (!m) return;
  free(m->colptr);
  free(m->row);
  free(m->val);
  memset(m, 0, sizeof *m);
}

int rvs_make_rebinner(const double *lam_in, size_t nin, int toair, const double *lam_out,
                      size_t nout, const double *resol, double resolution0, rvs_rebinner *m,
                      int *edge_warning) {
  memset(m, 0, sizeof *m);
  if (edge_warning) *edge_warning = 0;
  if (nin < 2 || nout < 2) return rvs_error(RVS_ERR_ARG, "make_rebinner: need >= 2 input and output pixels");
  for (size_t i = 0; i < nout; i++) {
    if (!(resol[i] > 0) || !isfinite(resol[i]))
      return rvs_error(RVS_ERR_ARG, "resolution %g at %.3f A is not a positive number", resol[i],
                       lam_out[i]);
    if (!(resol[i] < resolution0))
      return rvs_error(RVS_ERR_ARG,
                       "resolution %g at %.3f A is not below the resolution of the input grid "
                       "(--resolution0 %g)", resol[i], lam_out[i], resolution0);
  }
  for (size_t i = 1; i < nout; i++)
    if (!(lam_out[i] > lam_out[i - 1]))
      return rvs_error(RVS_ERR_ARG, "make_rebinner: output wavelengths not increasing");
  double *lam0 = malloc(nin * sizeof(double));
  size_t *left = malloc(nout * sizeof(size_t));
  size_t *nseg = malloc(nout * sizeof(size_t));
  double *sig = malloc(nout * sizeof(double));
  int st = RVS_OK;
  if (!lam0 || !left || !nseg || !sig) {
    st = rvs_error(RVS_ERR_NOMEM, "make_rebinner: out of memory");
    goto out;
  }
  for (size_t k = 0; k < nin; k++) lam0[k] = toair ? rvs_vac_to_air(lam_in[k]) : lam_in[k];
  for (size_t k = 1; k < nin; k++)
    if (!(lam0[k] > lam0[k - 1])) {
      st = rvs_error(RVS_ERR_FORMAT,
                     "template wavelengths are not strictly increasing at pixel %zu (%.6f)", k,
                     lam_in[k]);
      goto out;
    }
  const double fwhm_to_sig = 2.0 * sqrt(2.0 * log(2.0));
  int warn = 0; /* output pixels whose +-5 sigma is not inside the input */
  size_t nnz = 0;
  for (size_t i = 0; i < nout; i++) {
    double fw = lam_out[i] / resol[i], fw0 = lam_out[i] / resolution0;
    sig[i] = sqrt(fw * fw - fw0 * fw0) / fwhm_to_sig;
    double c0 = lam_out[i] - 5 * sig[i], c1 = lam_out[i] + 5 * sig[i];
    long lft = (long)searchsorted_left(lam0, nin, c0) - 1;
    long rgt = (long)searchsorted_left(lam0, nin, c1);
    int clamped = 0;
    if (lft < 0) {
      clamped = 1;
      lft = 0;
    }
    if (rgt > (long)nin - 2) {
      clamped = 1;
      rgt = (long)nin - 2;
    }
    warn += clamped;
    left[i] = (size_t)lft;
    nseg[i] = rgt >= lft ? (size_t)(rgt - lft + 1) : 0; /* empty when rgt < lft */
    /* segments lft..rgt touch the nodes lft..rgt+1 */
    nnz += nseg[i] ? nseg[i] + 1 : 0;
  }
  m->colptr = malloc((nout + 1) * sizeof(size_t));
  m->row = malloc((nnz ? nnz : 1) * sizeof(size_t));
  m->val = malloc((nnz ? nnz : 1) * sizeof(double));
  if (!m->colptr || !m->row || !m->val) {
    st = rvs_error(RVS_ERR_NOMEM, "make_rebinner: out of memory (%zu entries)", nnz);
    goto out;
  }
  m->colptr[0] = 0;
  for (size_t i = 0; i < nout; i++)
    m->colptr[i + 1] = m->colptr[i] + (nseg[i] ? nseg[i] + 1 : 0);
  m->nin = nin;
  m->nout = nout;
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < nout; i++) {
    size_t p = m->colptr[i], np = m->colptr[i + 1] - p;
    if (np == 0) continue;
    double hl = i > 0 ? 0.5 * (lam_out[i] - lam_out[i - 1]) : 0.5 * (lam_out[i + 1] - lam_out[i]);
    double hr = i < nout - 1 ? 0.5 * (lam_out[i + 1] - lam_out[i]) : hl;
    double l1 = lam_out[i] - hl, l2 = lam_out[i] + hr, width = hl + hr;
    for (size_t q = 0; q < np; q++) {
      m->row[p + q] = left[i] + q;
      m->val[p + q] = 0;
    }
    for (size_t k = left[i]; k < left[i] + nseg[i]; k++) {
      double c1, c2;
      rvs_pix_integrator(lam0[k], lam0[k + 1], l1, l2, sig[i], &c1, &c2);
      m->val[p + (k - left[i])] += c1 / width;
      m->val[p + (k - left[i]) + 1] += c2 / width;
    }
  }
  if (edge_warning) *edge_warning = warn;
out:
  free(lam0);
  free(left);
  free(nseg);
  free(sig);
  if (st) rvs_rebinner_free(m);
  return st;
}

void rvs_rebinner_apply(const rvs_rebinner *m, const double *in, double *out) {
  for (size_t j = 0; j < m->nout; j++) {
    double acc = 0;
    for (size_t p = m->colptr[j]; p < m->colptr[j + 1]; p++) acc += in[m->row[p]] * m->val[p];
    out[j] = acc;
  }
}

/* ---------------------------------------------------------------- grids */

int rvs_arange(double start, double stop, double step, double **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (!(step > 0) || !isfinite(start) || !isfinite(stop))
    return rvs_error(RVS_ERR_ARG, "arange(%g, %g, %g): bad arguments", start, stop, step);
  double len = ceil((stop - start) / step);
  if (len <= 0) return RVS_OK;
  if (len > 1e9) return rvs_error(RVS_ERR_ARG, "arange(%g, %g, %g): too many points", start, stop, step);
  size_t nn = (size_t)len;
  double *v = malloc(nn * sizeof(double));
  if (!v) return rvs_error(RVS_ERR_NOMEM, "out of memory");
  /* numpy fills with start + i*delta, delta = (start + step) - start */
  v[0] = start;
  if (nn > 1) {
    v[1] = start + step;
    double delta = v[1] - v[0];
    for (size_t i = 2; i < nn; i++) v[i] = start + (double)i * delta;
  }
  *out = v;
  *n = nn;
  return RVS_OK;
}

int rvs_mi_output_grid(double lambda0, double lambda1, double step, int log_step, double **lam,
                       size_t *n) {
  *lam = NULL;
  *n = 0;
  if (!(step > 0) || !(lambda0 > 0) || !(lambda1 > lambda0))
    return rvs_error(RVS_ERR_ARG, "bad wavelength range or step: lambda0=%g lambda1=%g step=%g",
                     lambda0, lambda1, step);
  double fac1 = 1 + RVS_MI_PAD_KMS / RVS_SPEED_OF_LIGHT_KMS;
  int st;
  if (!log_step) {
    st = rvs_arange(lambda0 / fac1, (lambda1 + step) * fac1, step, lam, n);
  } else {
    double dlog = log(1 + step / (0.5 * (lambda0 + lambda1)));
    st = rvs_arange(log(lambda0 / fac1), log(lambda1 * fac1), dlog, lam, n);
    if (!st)
      for (size_t i = 0; i < *n; i++) (*lam)[i] = exp((*lam)[i]);
  }
  if (st) return st;
  if (*n <= 1) {
    free(*lam);
    *lam = NULL;
    *n = 0;
    return rvs_error(RVS_ERR_ARG, "wavelength range %g..%g with step %g gives fewer than 2 pixels",
                     lambda0, lambda1, step);
  }
  return RVS_OK;
}

/* Hoare selection: the k-th smallest of w[0..n-1] (w is permuted). */
static double select_kth(double *w, size_t n, size_t k) {
  size_t lo = 0, hi = n - 1;
  while (lo < hi) {
    double pivot = w[lo + (hi - lo) / 2];
    size_t i = lo, j = hi;
    while (i <= j) {
      while (w[i] < pivot) i++;
      while (w[j] > pivot) j--;
      if (i <= j) {
        double t = w[i];
        w[i] = w[j];
        w[j] = t;
        i++;
        if (j == 0) break;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return w[k];
  }
  return w[k];
}

double rvs_mi_median(const double *x, size_t n, double *work) {
  for (size_t i = 0; i < n; i++) {
    if (isnan(x[i])) return NAN; /* numpy propagates nan */
    work[i] = x[i];
  }
  if (n % 2 == 1) return select_kth(work, n, n / 2);
  double hi = select_kth(work, n, n / 2);
  /* after selection everything below n/2 is <= hi: the lower middle is their max */
  double lo = work[0];
  for (size_t i = 1; i < n / 2; i++)
    if (work[i] > lo) lo = work[i];
  return (lo + hi) / 2;
}

/* ---------------------------------------------------------------- normalisation */

int rvs_norm_mode_parse(const char *s) {
  if (!s) return -1;
  if (strcmp(s, "linear_continuum") == 0) return RVS_NORM_LINEAR_CONTINUUM;
  if (strcmp(s, "median") == 0) return RVS_NORM_MEDIAN;
  if (strcmp(s, "none") == 0) return RVS_NORM_NONE;
  return -1;
}

const char *rvs_norm_mode_name(rvs_norm_mode m) {
  switch (m) {
  case RVS_NORM_LINEAR_CONTINUUM: return "linear_continuum";
  case RVS_NORM_MEDIAN: return "median";
  default: return "none";
  }
}

int rvs_normalize_log(const double *lam, double *spec, size_t n, rvs_norm_mode mode,
                      double *lognorm) {
  *lognorm = 0;
  if (n < 2) return RVS_ERR_NUMERIC;
  double *work = malloc(n * sizeof(double));
  if (!work) return rvs_error(RVS_ERR_NOMEM, "out of memory");
  if (mode == RVS_NORM_LINEAR_CONTINUUM) {
    size_t h = n / 2;
    double lam1 = rvs_mi_median(lam, h, work), lam2 = rvs_mi_median(lam + h, n - h, work);
    double ls1 = log(rvs_mi_median(spec, h, work)), ls2 = log(rvs_mi_median(spec + h, n - h, work));
    double slope = (ls2 - ls1) / (lam2 - lam1);
    for (size_t i = 0; i < n; i++) spec[i] /= exp(ls1 + slope * (lam[i] - lam1));
  } else if (mode == RVS_NORM_MEDIAN) {
    double med = rvs_mi_median(spec, n, work);
    for (size_t i = 0; i < n; i++) spec[i] /= med;
    *lognorm = log(med);
  }
  free(work);
  int ok = isfinite(*lognorm);
  for (size_t i = 0; i < n; i++) {
    spec[i] = log(spec[i]);
    ok &= isfinite(spec[i]) != 0;
  }
  return ok ? RVS_OK : RVS_ERR_NUMERIC;
}

/* ---------------------------------------------------------------- whole run */

void rvs_mi_opts_default(rvs_mi_opts *o) {
  memset(o, 0, sizeof *o);
  o->log_step = 1;
  o->resolution0 = 100000;
  o->normalize = RVS_NORM_LINEAR_CONTINUUM;
  o->templdb = "files.db";
  o->oprefix = "templ_data/";
  o->float_bits = 32;
  o->revision = "";
  o->cmdline = "";
  o->nparam = 4;
  o->parnames[0] = "teff";
  o->parnames[1] = "logg";
  o->parnames[2] = "feh";
  o->parnames[3] = "alpha";
  o->nlog_ids = 1;
  o->log_ids[0] = 0;
}

static char *join_path(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = malloc(a + b + 2);
  if (!p) return NULL;
  memcpy(p, dir, a);
  p[a] = '/'; /* upstream: prefix + '/' + filename */
  memcpy(p + a + 1, name, b + 1);
  return p;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

int rvs_make_interpol_compute(const rvs_mi_opts *o, rvs_specs *out) {
  memset(out, 0, sizeof *out);
  if (!o->templprefix || !o->wavefile || !o->templdb)
    return rvs_error(RVS_ERR_ARG, "make_interpol: templprefix, wavefile and templdb are required");
  if ((o->resol_func != NULL) == (o->resol > 0))
    return rvs_error(RVS_ERR_ARG, "make_interpol: give exactly one of a resolution or a resolution function");
  if (o->resol_func && o->fixed_fwhm)
    return rvs_error(RVS_ERR_ARG, "make_interpol: a resolution function is incompatible with fixed_fwhm");
  if (o->float_bits != 32 && o->float_bits != 64)
    return rvs_error(RVS_ERR_ARG, "make_interpol: float_bits must be 32 or 64, not %d", o->float_bits);
  if (o->nparam < 1 || o->nparam > RVS_MI_MAX_PARAMS)
    return rvs_error(RVS_ERR_ARG, "make_interpol: %zu parameters", o->nparam);
  for (size_t i = 0; i < o->nlog_ids; i++)
    if (o->log_ids[i] < 0 || (size_t)o->log_ids[i] >= o->nparam)
      return rvs_error(RVS_ERR_ARG, "make_interpol: log parameter index %d out of range 0..%zu",
                       o->log_ids[i], o->nparam - 1);

  rvs_grid_list gl;
  int st = rvs_grid_db_fetch(o->templdb, o->parnames, o->nparam, &gl);
  if (st) return st;
  double *lam_in = NULL, *lam_out = NULL, *resol = NULL;
  size_t nin = 0, nout = 0;
  rvs_rebinner mat;
  memset(&mat, 0, sizeof mat);
  rvs_expr *expr = NULL;

  st = rvs_grid_read_flux(o->wavefile, &lam_in, &nin);
  if (st) goto fail;
  {
    double mn = lam_in[0], mx = lam_in[0];
    for (size_t k = 1; k < nin; k++) {
      if (lam_in[k] < mn) mn = lam_in[k];
      if (lam_in[k] > mx) mx = lam_in[k];
    }
    if (mn > o->lambda0 || mx < o->lambda1) {
      st = rvs_error(RVS_ERR_RANGE,
                     "%s: the template wavelengths %.3f..%.3f do not cover the requested %.3f..%.3f",
                     o->wavefile, mn, mx, o->lambda0, o->lambda1);
      goto fail;
    }
  }
  st = rvs_mi_output_grid(o->lambda0, o->lambda1, o->step, o->log_step, &lam_out, &nout);
  if (st) goto fail;
  resol = malloc(nout * sizeof(double));
  if (!resol) {
    st = rvs_error(RVS_ERR_NOMEM, "out of memory");
    goto fail;
  }
  if (o->resol_func) {
    st = rvs_expr_parse(o->resol_func, &expr);
    if (st) goto fail;
    for (size_t i = 0; i < nout; i++) resol[i] = rvs_expr_eval(expr, lam_out[i]);
  } else if (o->fixed_fwhm) {
    double lam_mid = (o->lambda0 + o->lambda1) * .5;
    for (size_t i = 0; i < nout; i++) resol[i] = lam_out[i] / lam_mid * o->resol;
  } else {
    for (size_t i = 0; i < nout; i++) resol[i] = o->resol;
  }
  int edge = 0;
  st = rvs_make_rebinner(lam_in, nin, o->air, lam_out, nout, resol, o->resolution0, &mat, &edge);
  if (st) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", rvs_last_error());
    st = rvs_error(st, "%s: %s", o->wavefile, msg);
    goto fail;
  }
  if (edge)
    rvs_log(RVS_LOG_WARNING,
            "%s: the templates (%.2f..%.2f A) do not extend 5 sigma of the LSF beyond %d of the "
            "%zu output pixels (%.2f..%.2f A, padded by 1000 km/s): their values are corrupted",
            o->wavefile, lam_in[0], lam_in[nin - 1], edge, nout, lam_out[0], lam_out[nout - 1]);

  size_t nspec = gl.nspec;
  out->nspec = nspec;
  out->npix = nout;
  out->nparam = o->nparam;
  out->specs = malloc(nspec * nout * sizeof(double));
  out->lognorms = calloc(nspec, sizeof(double));
  out->file_ids = malloc(nspec * sizeof(long long));
  out->parnames = calloc(o->nparam, sizeof(char *));
  out->log_ids = malloc((o->nlog_ids ? o->nlog_ids : 1) * sizeof(int));
  if (!out->specs || !out->lognorms || !out->file_ids || !out->parnames || !out->log_ids) {
    st = rvs_error(RVS_ERR_NOMEM, "out of memory for %zu x %zu spectra", nspec, nout);
    goto fail;
  }
  for (size_t i = 0; i < o->nparam; i++)
    if (!(out->parnames[i] = strdup(o->parnames[i]))) {
      st = rvs_error(RVS_ERR_NOMEM, "out of memory");
      goto fail;
    }
  memcpy(out->file_ids, gl.ids, nspec * sizeof(long long));
  for (size_t i = 0; i < o->nlog_ids; i++) out->log_ids[i] = o->log_ids[i];
  out->nlog_ids = o->nlog_ids;
  out->log_step = o->log_step ? 1 : 0;
  out->log_spec = 1;
  out->float_bits = o->float_bits;
  out->revision = dup_or_null(o->revision ? o->revision : "");
  out->cmdline = dup_or_null(o->cmdline ? o->cmdline : "");
  out->dbfile = dup_or_null(o->templdb);
  if (!out->revision || !out->cmdline || !out->dbfile) {
    st = rvs_error(RVS_ERR_NOMEM, "out of memory");
    goto fail;
  }

  /* templates in parallel; the first error wins and stops the others */
  int failed = 0;
  int fail_code = RVS_OK;
  char fail_msg[1024] = "";
  size_t done = 0;
  int nthr = o->nthreads;
#ifdef _OPENMP
  if (nthr <= 0) nthr = omp_get_max_threads();
#else
  nthr = 1;
#endif
#pragma omp parallel num_threads(nthr)
  {
    double *phot = malloc(nin * sizeof(double));
    int local_ok = phot != NULL;
    if (!local_ok) {
#pragma omp critical(rvs_mi_fail)
      if (!failed) {
        failed = 1;
        fail_code = RVS_ERR_NOMEM;
        snprintf(fail_msg, sizeof fail_msg, "out of memory");
      }
    }
#pragma omp for schedule(dynamic, 1)
    for (size_t t = 0; t < nspec; t++) {
      int stop;
#pragma omp atomic read
      stop = failed;
      if (stop || !local_ok) continue;
      char *path = join_path(o->templprefix, gl.filenames[t]);
      double *flux = NULL;
      size_t nf = 0;
      int est = RVS_OK;
      char emsg[1024] = "";
      if (!path) {
        est = RVS_ERR_NOMEM;
        snprintf(emsg, sizeof emsg, "out of memory");
      } else {
        /* cfitsio may not be reentrant: one reader at a time */
#pragma omp critical(rvs_mi_fits)
        {
          est = rvs_grid_read_flux(path, &flux, &nf);
          if (est) snprintf(emsg, sizeof emsg, "%s", rvs_last_error());
        }
      }
      if (!est && nf != nin) {
        est = RVS_ERR_FORMAT;
        snprintf(emsg, sizeof emsg, "%s: %zu flux values but %zu wavelengths in %s", path, nf,
                 nin, o->wavefile);
      }
      if (!est) {
        double *dst = out->specs + t * nout;
        for (size_t k = 0; k < nin; k++) phot[k] = flux[k] * lam_in[k]; /* photons */
        rvs_rebinner_apply(&mat, phot, dst);
        for (size_t k = 0; k < nout; k++) dst[k] /= lam_out[k];
        int nst = rvs_normalize_log(lam_out, dst, nout, o->normalize, &out->lognorms[t]);
        if (nst) {
          est = nst;
          if (nst == RVS_ERR_NUMERIC) {
            int len = snprintf(emsg, sizeof emsg,
                               "%s: the processed spectrum is not finite (nan or inf) at", path);
            for (size_t i = 0; i < o->nparam && len > 0 && (size_t)len < sizeof emsg; i++)
              len += snprintf(emsg + len, sizeof emsg - (size_t)len, " %s=%g", o->parnames[i],
                              gl.vec[i * nspec + t]);
          } else {
            snprintf(emsg, sizeof emsg, "%s", rvs_last_error());
          }
        }
      }
      free(flux);
      free(path);
#pragma omp critical(rvs_mi_fail)
      {
        if (est && !failed) {
          failed = 1;
          fail_code = est;
          snprintf(fail_msg, sizeof fail_msg, "%s", emsg);
        }
        done++;
        if (o->progress) o->progress(done, nspec, o->progress_user);
      }
    }
    free(phot);
  }
  if (failed) {
    st = rvs_error(fail_code, "%s", fail_msg);
    goto fail;
  }
  out->vec = gl.vec; /* take ownership: [nparam][nspec] as upstream */
  gl.vec = NULL;
  out->lam = lam_out;
  lam_out = NULL;
  goto done;
fail:
  rvs_specs_free(out);
done:
  rvs_grid_list_free(&gl);
  rvs_rebinner_free(&mat);
  rvs_expr_free(expr);
  free(lam_in);
  free(lam_out);
  free(resol);
  return st;
}

int rvs_make_interpol_run(const rvs_mi_opts *o, char *outpath, size_t cap) {
  if (!o->setup || !*o->setup || strchr(o->setup, '/'))
    return rvs_error(RVS_ERR_ARG, "make_interpol: bad setup name '%s'", o->setup ? o->setup : "");
  const char *dir = o->oprefix && *o->oprefix ? o->oprefix : ".";
  size_t need = strlen(dir) + strlen(o->setup) + 16;
  char *path = malloc(need);
  if (!path) return rvs_error(RVS_ERR_NOMEM, "out of memory");
  snprintf(path, need, "%s/specs_%s.h5", dir, o->setup);
  rvs_specs s;
  int st = rvs_make_interpol_compute(o, &s);
  if (!st) {
    st = rvs_mkdir_p(dir);
    if (st) st = rvs_error(st, "%s: cannot create the output directory", dir);
  }
  if (!st) {
    st = rvs_specs_write(path, &s);
    rvs_specs_free(&s);
  }
  if (!st && outpath) snprintf(outpath, cap, "%s", path);
  free(path);
  return st;
}
