/* Grid writer: wavelength file, one FITS image per spectrum, presets. */
#include "synth/grid_writer.h"

#include <errno.h>
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "io/atomic.h"
#include "io/fits_util.h"
#include "rvs/log.h"
#include "rvs/status.h"

static size_t fill_range(double *v, double a, double b, double step) {
  size_t n = 0;
  while (n < RVS_SYNTH_MAX_NODES) {
    double x = a + step * (double)n;
    if (x > b + 1e-9 * fabs(step)) break;
    v[n++] = x;
  }
  return n;
}

int rvs_synth_preset(const char *name, rvs_synth_axes *ax) {
  memset(ax, 0, sizeof *ax);
  if (!name || strcmp(name, "default") == 0) {
    /* Teff: 250 K steps where spectra change fastest (cool stars, molecules),
     * 500 K through F/A stars, 1000 K when hot (see docs/SYNTHETIC.md) */
    size_t n = fill_range(ax->teff, 3000, 4000, 250);
    n += fill_range(ax->teff + n, 4500, 7000, 500);
    n += fill_range(ax->teff + n, 8000, 12000, 2000);
    ax->nteff = n;
    ax->nlogg = fill_range(ax->logg, 0, 5, 1);
    ax->nfeh = fill_range(ax->feh, -2.5, 0.5, 1.0);
    ax->nalpha = fill_range(ax->alpha, 0, 0.8, 0.4);
    return RVS_OK;
  }
  if (strcmp(name, "tiny") == 0) {
    ax->teff[0] = 5500;
    ax->teff[1] = 6000;
    ax->nteff = 2;
    ax->logg[0] = 4.0;
    ax->logg[1] = 4.5;
    ax->nlogg = 2;
    ax->feh[0] = -0.5;
    ax->feh[1] = 0.0;
    ax->nfeh = 2;
    ax->alpha[0] = 0.0;
    ax->nalpha = 1;
    return RVS_OK;
  }
  return rvs_error(RVS_ERR_ARG, "unknown preset '%s' (expected default or tiny)", name);
}

int rvs_synth_parse_axis(const char *spec, double *vals, size_t *n, size_t cap) {
  *n = 0;
  if (!spec || !*spec) return rvs_error(RVS_ERR_ARG, "empty axis specification");
  if (strchr(spec, ':')) {
    char *end;
    double a = strtod(spec, &end);
    if (*end != ':') goto bad;
    double b = strtod(end + 1, &end);
    if (*end != ':') goto bad;
    double s = strtod(end + 1, &end);
    if (*end || !(s > 0) || b < a) goto bad;
    for (size_t i = 0;; i++) {
      double x = a + s * (double)i;
      if (x > b + 1e-9 * fabs(s)) break;
      if (*n >= cap) return rvs_error(RVS_ERR_ARG, "'%s': more than %zu values", spec, cap);
      vals[(*n)++] = x;
    }
    return RVS_OK;
  }
  const char *p = spec;
  while (*p) {
    char *end;
    double x = strtod(p, &end);
    if (end == p) goto bad;
    if (*n >= cap) return rvs_error(RVS_ERR_ARG, "'%s': more than %zu values", spec, cap);
    vals[(*n)++] = x;
    if (*end == ',') p = end + 1;
    else if (*end == 0) p = end;
    else goto bad;
  }
  return RVS_OK;
bad:
  return rvs_error(RVS_ERR_ARG, "'%s': expected a list v1,v2,... or start:stop:step", spec);
}

static double clean_zero(double x) { return fabs(x) < 5e-7 ? 0.0 : x; }

int rvs_synth_spectrum_path(const char *outdir, double teff, double logg, double feh,
                            double alpha, char *dir, size_t dcap, char *file, size_t fcap) {
  feh = clean_zero(feh);
  alpha = clean_zero(alpha);
  logg = clean_zero(logg);
  int a = snprintf(dir, dcap, "%s/Z%+.2f.A%+.2f", outdir, feh, alpha);
  int b = snprintf(file, fcap, "%s/synth_t%05.0f_g%.2f_z%+.2f_a%+.2f.fits", dir, teff, logg,
                   feh, alpha);
  if (a < 0 || (size_t)a >= dcap || b < 0 || (size_t)b >= fcap)
    return rvs_error(RVS_ERR_ARG, "%s: output path too long", outdir);
  return RVS_OK;
}

int rvs_synth_write_wavefile(const char *path, const double *lam, size_t n) {
  fitsfile *f = NULL;
  char tmp[4200];
  int rc = rvs_fits_create_atomic(&f, path, tmp, sizeof tmp);
  if (rc) return rc;
  int fs = 0;
  long naxes = (long)n;
  fits_create_img(f, DOUBLE_IMG, 1, &naxes, &fs);
  fits_write_img(f, TDOUBLE, 1, (LONGLONG)n, (void *)lam, &fs);
  fits_write_key_str(f, "BUNIT", "Angstrom", "vacuum wavelength", &fs);
  fits_write_key_str(f, "WAVETYPE", "vacuum", "", &fs);
  fits_write_key_str(f, "SYNTHVER", RVS_SYNTH_VERSION, "rvs_synth_grid version", &fs);
  if (fs) {
    rc = rvs_fits_check(fs, path, "cannot write wavelengths");
    rvs_fits_close_abort(f, tmp);
    return rc;
  }
  return rvs_fits_close_commit(f, tmp, path);
}

int rvs_synth_check_wavefile(const char *path, const double *lam, size_t n) {
  fitsfile *f = NULL;
  int fs = 0;
  fits_open_file(&f, path, READONLY, &fs);
  if (fs) return rvs_fits_check(fs, path, "cannot open wavelength file");
  long naxes = 0;
  int naxis = 0;
  fits_get_img_dim(f, &naxis, &fs);
  if (!fs && naxis == 1) fits_get_img_size(f, 1, &naxes, &fs);
  int rc = RVS_OK;
  if (fs) {
    rc = rvs_fits_check(fs, path, "cannot read wavelength file");
  } else if (naxis != 1 || (size_t)naxes != n) {
    rc = rvs_error(RVS_ERR_FORMAT,
                   "%s: existing wavelength file has %ld pixels, this grid %zu (use --overwrite)",
                   path, naxes, n);
  } else {
    double *v = malloc(n * sizeof *v);
    if (!v) {
      rc = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
    } else {
      fits_read_img(f, TDOUBLE, 1, (LONGLONG)n, NULL, v, NULL, &fs);
      if (fs) rc = rvs_fits_check(fs, path, "cannot read wavelengths");
      else
        for (size_t i = 0; i < n; i++)
          if (fabs(v[i] - lam[i]) > 1e-9 * lam[i]) {
            rc = rvs_error(RVS_ERR_FORMAT,
                           "%s: existing wavelength file differs from this grid (use --overwrite)",
                           path);
            break;
          }
      free(v);
    }
  }
  int fs2 = 0;
  fits_close_file(f, &fs2);
  return rc;
}

int rvs_synth_write_spectrum(const char *path, const rvs_synth_params *p, double vmicro,
                             const double *flux, size_t n) {
  float *buf = malloc(n * sizeof *buf);
  if (!buf) return rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
  for (size_t i = 0; i < n; i++) buf[i] = (float)flux[i];
  fitsfile *f = NULL;
  char tmp[4200];
  int rc = rvs_fits_create_atomic(&f, path, tmp, sizeof tmp);
  if (rc) {
    free(buf);
    return rc;
  }
  int fs = 0;
  long naxes = (long)n;
  double teff = p->teff, logg = clean_zero(p->logg), feh = clean_zero(p->feh);
  double alpha = clean_zero(p->alpha);
  fits_create_img(f, FLOAT_IMG, 1, &naxes, &fs);
  fits_write_img(f, TFLOAT, 1, (LONGLONG)n, buf, &fs);
  fits_write_key(f, TDOUBLE, "PHXTEFF", &teff, "effective temperature (K)", &fs);
  fits_write_key(f, TDOUBLE, "PHXLOGG", &logg, "log surface gravity (cgs)", &fs);
  fits_write_key(f, TDOUBLE, "PHXM_H", &feh, "[Fe/H]", &fs);
  fits_write_key(f, TDOUBLE, "PHXALPHA", &alpha, "[alpha/Fe]", &fs);
  fits_write_key(f, TDOUBLE, "VMICRO", &vmicro, "microturbulence (km/s)", &fs);
  fits_write_key_str(f, "BUNIT", "erg/s/cm^2/cm", "surface flux", &fs);
  fits_write_key_str(f, "SYNTHVER", RVS_SYNTH_VERSION, "rvs_synth_grid version", &fs);
  free(buf);
  if (fs) {
    rc = rvs_fits_check(fs, path, "cannot write spectrum");
    rvs_fits_close_abort(f, tmp);
    return rc;
  }
  return rvs_fits_close_commit(f, tmp, path);
}

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

int rvs_synth_make_grid(const rvs_synth_linelist *ll, const rvs_synth_axes *ax,
                        const rvs_synth_grid_opts *o, size_t *nwritten, size_t *nskipped) {
  *nwritten = *nskipped = 0;
  size_t nspec = ax->nteff * ax->nlogg * ax->nfeh * ax->nalpha;
  if (nspec == 0) return rvs_error(RVS_ERR_ARG, "empty grid");
  int rc = rvs_mkdir_p(o->outdir);
  if (rc) return rvs_error(RVS_ERR_IO, "%s: cannot create output directory", o->outdir);
  double *lam = NULL;
  size_t n = 0;
  if ((rc = rvs_synth_wavelength_grid(o->wmin, o->wmax, o->resolution, &lam, &n))) return rc;
  char wpath[4200];
  snprintf(wpath, sizeof wpath, "%s/WAVE_SYNTH.fits", o->outdir);
  if (o->overwrite || !exists(wpath)) rc = rvs_synth_write_wavefile(wpath, lam, n);
  else rc = rvs_synth_check_wavefile(wpath, lam, n);
  if (rc) {
    free(lam);
    return rc;
  }
  int failed = 0;
  int first_rc = RVS_OK;
  char first_msg[512] = "";
  size_t written = 0, skipped = 0;
#ifdef _OPENMP
  int nth = o->nthreads > 0 ? o->nthreads : omp_get_max_threads();
#endif
  /* hottest first: hot spectra are cheapest, cool ones dearest; dynamic
   * scheduling balances them */
#pragma omp parallel num_threads(nth) reduction(+ : written, skipped)
  {
    double *flux = malloc(n * sizeof *flux);
#pragma omp for schedule(dynamic, 1)
    for (size_t k = 0; k < nspec; k++) {
      int local_failed;
#pragma omp atomic read
      local_failed = failed;
      if (local_failed) continue;
      size_t ia = k % ax->nalpha, r = k / ax->nalpha;
      size_t iz = r % ax->nfeh;
      r /= ax->nfeh;
      size_t ig = r % ax->nlogg, it = r / ax->nlogg;
      rvs_synth_params p = {ax->teff[it], ax->logg[ig], ax->feh[iz], ax->alpha[ia], o->vmicro};
      char dir[4200], file[4400];
      int lrc = rvs_synth_spectrum_path(o->outdir, p.teff, p.logg, p.feh, p.alpha, dir,
                                        sizeof dir, file, sizeof file);
      if (!lrc && !o->overwrite && exists(file)) {
        skipped++;
        continue;
      }
      if (!lrc && !flux) lrc = rvs_error(RVS_ERR_NOMEM, "synth: out of memory");
      if (!lrc && rvs_mkdir_p(dir)) lrc = rvs_error(RVS_ERR_IO, "%s: cannot create directory", dir);
      if (!lrc) lrc = rvs_synth_spectrum(ll, &p, lam, n, flux);
      double vm = o->vmicro > 0 ? o->vmicro : rvs_synth_default_vmicro(p.teff, p.logg);
      if (!lrc) lrc = rvs_synth_write_spectrum(file, &p, vm, flux, n);
      if (lrc) {
#pragma omp critical(synth_grid_err)
        {
          if (!failed) {
            failed = 1;
            first_rc = lrc;
            snprintf(first_msg, sizeof first_msg, "%s", rvs_last_error());
          }
        }
      } else {
        written++;
        rvs_log(RVS_LOG_DEBUG, "wrote %s", file);
      }
    }
    free(flux);
  }
  free(lam);
  *nwritten = written;
  *nskipped = skipped;
  if (failed) return rvs_error(first_rc, "%s", first_msg);
  return RVS_OK;
}
