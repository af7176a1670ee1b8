#include "backend/cpu/ccf_cpu.h"
#include "backend/cpu/ccf_batch.h"

#include "core/doppler.h"
#include "rvs/log.h"
#include "rvs/status.h"
#include "templates/continuum_fit.h"

#include <complex.h>
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* scipy.signal.medfilt(x, 11): window median with zero padding at the ends.
 * Insertion sort of the 11 values (the same median as qsort; windows with a
 * NaN keep qsort), several times cheaper than qsort's calls. */
static void medfilt11(const double *x, size_t n, double *out) {
  double w[11];
  for (size_t i = 0; i < n; i++) {
    int has_nan = 0;
    for (int k = -5; k <= 5; k++) {
      long j = (long)i + k;
      w[k + 5] = (j < 0 || j >= (long)n) ? 0.0 : x[j];
      has_nan |= isnan(w[k + 5]);
    }
    if (has_nan) { /* cmp_d is no order with NaNs: keep qsort's arrangement */
      qsort(w, 11, sizeof(double), cmp_d);
      out[i] = w[5];
      continue;
    }
    for (int a = 1; a < 11; a++) {
      double v = w[a];
      int b = a - 1;
      while (b >= 0 && cmp_d(&w[b], &v) > 0) {
        w[b + 1] = w[b];
        b--;
      }
      w[b + 1] = v;
    }
    out[i] = w[5];
  }
}

static double nanmedian(const double *x, size_t n, double *scratch) {
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (!isnan(x[i])) scratch[m++] = x[i];
  if (!m) return NAN;
  qsort(scratch, m, sizeof(double), cmp_d);
  return (m % 2) ? scratch[m / 2] : 0.5 * (scratch[m / 2 - 1] + scratch[m / 2]);
}

/* upstream interp_masker: bad pixels linearly interpolated in lambda between
 * the nearest good ones, constant beyond the ends. */
static void interp_masker(const double *lam, double *spec, const unsigned char *bad, size_t n) {
  long prev = -1;
  size_t i = 0;
  while (i < n && bad[i]) i++;
  if (i == n) { /* everything bad */
    for (size_t k = 0; k < n; k++)
      if (!isfinite(spec[k])) spec[k] = 1;
    return;
  }
  double *orig = malloc(sizeof(double) * n);
  if (!orig) return;
  memcpy(orig, spec, sizeof(double) * n);
  for (size_t k = 0; k < n; k++) {
    if (!bad[k]) { prev = (long)k; continue; }
    size_t next = k + 1;
    while (next < n && bad[next]) next++;
    if (prev < 0) spec[k] = orig[i];
    else if (next >= n) spec[k] = orig[prev];
    else {
      double l1 = lam[prev], l2 = lam[next], l0 = lam[k];
      spec[k] = (-(l1 - l0) * orig[next] + (l2 - l0) * orig[prev]) / (l2 - l1);
    }
  }
  free(orig);
}

int rvs_ccf_preprocess_data(const rvs_ccf_conf *conf, const double *lam, const double *spec,
                            const double *espec, const unsigned char *badmask, size_t n,
                            double *flux_out, double *ivar_out) {
  size_t N = conf->npoints;
  double *cur = malloc(sizeof(double) * n), *err = malloc(sizeof(double) * n);
  double *filt = malloc(sizeof(double) * n), *cont = malloc(sizeof(double) * n);
  double *scratch = malloc(sizeof(double) * n), *ivar = malloc(sizeof(double) * n);
  unsigned char *bad = malloc(n);
  int rc = RVS_OK;
  if (!cur || !err || !filt || !cont || !scratch || !ivar || !bad) {
    rc = rvs_error(RVS_ERR_NOMEM, "CCF: no memory");
    goto done;
  }
  memcpy(cur, spec, sizeof(double) * n);
  memcpy(err, espec, sizeof(double) * n);
  for (size_t i = 0; i < n; i++) bad[i] = badmask ? badmask[i] != 0 : 0;
  medfilt11(cur, n, filt);
  double mederr = nanmedian(err, n, scratch);
  if (conf->continuum)
    for (size_t i = 0; i < n; i++) bad[i] |= (err[i] > 10 * mederr) | (filt[i] <= 0);
  for (size_t i = 0; i < n; i++)
    if (bad[i]) err[i] = 1e9 * mederr;
  interp_masker(lam, cur, bad, n);
  if (conf->continuum) {
    if ((rc = rvs_get_continuum(lam, cur, err, n, conf->splinestep, cont, NULL))) goto done;
  } else {
    for (size_t i = 0; i < n; i++) cont[i] = 1;
  }
  for (size_t i = 0; i < n; i++) ivar[i] = bad[i] ? 0 : 1. / (err[i] * err[i]);
  memcpy(scratch, cur, sizeof(double) * n);
  qsort(scratch, n, sizeof(double), cmp_d);
  double medv = (n % 2) ? scratch[n / 2] : 0.5 * (scratch[n / 2 - 1] + scratch[n / 2]);
  for (size_t i = 0; i < n; i++) {
    if (medv > 0) cont[i] = fmax(1e-2 * medv, cont[i]);
    else cont[i] = fmax(cont[i], 1);
    double c = spec[i] / cont[i];
    ivar[i] = cont[i] * cont[i] * ivar[i];
    cur[i] = bad[i] ? 0 : c;
  }
  /* resample onto the bank's grid */
  double dl = (conf->logl1 - conf->logl0) / (double)(N - 1);
  size_t j = 0;
  for (size_t k = 0; k < N; k++) {
    double lk = exp(conf->logl0 + (double)k * dl);
    if (k == N - 1) lk = exp(conf->logl1);
    while (j < n && lam[j] < lk) j++; /* searchsorted(left) */
    long left = (long)j - 1;
    if (left < 0 || left > (long)n - 2) {
      flux_out[k] = 0;
      ivar_out[k] = 0;
      continue;
    }
    double rw = (lk - lam[left]) / (lam[left + 1] - lam[left]), lw = 1 - rw;
    flux_out[k] = lw * cur[left] + rw * cur[left + 1];
    double il = ivar[left], ir = ivar[left + 1];
    ivar_out[k] = il * ir / (lw * lw * ir + rw * rw * il + ((il * ir) == 0 ? 1 : 0));
  }
done:
  free(cur); free(err); free(filt); free(cont); free(scratch); free(ivar); free(bad);
  return rc;
}

int rvs_ccf_fit(const rvs_ccf_arm *arms, int narms, double max_vel, double vel_step0,
                rvs_ccf_result *res) {
  if (narms < 1) return rvs_error(RVS_ERR_ARG, "CCF: no arms");
  double maxvel = max_vel != 0 ? max_vel : 1000;
  double vstep = vel_step0 != 0 ? vel_step0 : 2;
  int nvel = 2 * (int)(maxvel / vstep) + 1;
  size_t M = arms[0].bank->nmodel;
  for (int a = 1; a < narms; a++)
    if (arms[a].bank->nmodel != M || arms[a].bank->nparam != arms[0].bank->nparam)
      return rvs_error(RVS_ERR_FORMAT, "CCF: the banks of the arms do not match");
  double *chisq = calloc(M * (size_t)nvel, sizeof(double));
  double *vel_grid = malloc(sizeof(double) * (size_t)nvel);
  if (!chisq || !vel_grid) {
    free(chisq); free(vel_grid);
    return rvs_error(RVS_ERR_NOMEM, "CCF: no memory");
  }
  for (int i = 0; i < nvel; i++)
    vel_grid[i] = nvel > 1 ? -maxvel + 2 * maxvel * (double)i / (nvel - 1) : 0;
  int rc = RVS_OK;
  double total_sse = 0;
  for (int a = 0; a < narms && rc == RVS_OK; a++) {
    const rvs_ccf_bank *bk = arms[a].bank;
    size_t N = bk->conf.npoints, nf = N / 2 + 1;
    double *f = fftw_malloc(sizeof(double) * N), *w = fftw_malloc(sizeof(double) * N);
    double *buf = fftw_malloc(sizeof(double) * N), *buf2 = fftw_malloc(sizeof(double) * N);
    fftw_complex *Fs = fftw_malloc(sizeof(fftw_complex) * nf), *Fw = fftw_malloc(sizeof(fftw_complex) * nf);
    fftw_complex *P = fftw_malloc(sizeof(fftw_complex) * nf);
    double *vels = malloc(sizeof(double) * N), *sub = malloc(sizeof(double) * N);
    long *subind = malloc(sizeof(long) * N);
    fftw_plan pf = NULL, pb = NULL;
    if (!f || !w || !buf || !buf2 || !Fs || !Fw || !P || !vels || !sub || !subind) {
      rc = rvs_error(RVS_ERR_NOMEM, "CCF: no memory");
      goto arm_done;
    }
    if ((rc = rvs_ccf_preprocess_data(&bk->conf, arms[a].lam, arms[a].spec, arms[a].espec,
                                      arms[a].badmask, arms[a].n, f, w)))
      goto arm_done;
    /* FFTW planning is not thread-safe: serialise it */
#pragma omp critical(rvs_fftw_plan)
    {
      pf = fftw_plan_dft_r2c_1d((int)N, buf, P, FFTW_ESTIMATE);
      pb = fftw_plan_dft_c2r_1d((int)N, P, buf, FFTW_ESTIMATE);
    }
    if (!pf || !pb) {
      rc = rvs_error(RVS_ERR_NUMERIC, "CCF: FFTW planning failed");
      goto arm_done;
    }
    for (size_t k = 0; k < N; k++) {
      buf[k] = f[k] * w[k];
      total_sse += f[k] * f[k] * w[k];
    }
    fftw_execute_dft_r2c(pf, buf, Fs);
    memcpy(buf, w, sizeof(double) * N);
    fftw_execute_dft_r2c(pf, buf, Fw);
    /* lags -> velocities; keep |v| < maxvel + step, increasing */
    double step = (exp((bk->conf.logl1 - bk->conf.logl0) / (double)(N - 1)) - 1) * RVS_SPEED_OF_LIGHT;
    long off = (long)N / 2, nsub = 0;
    /* increasing velocity = decreasing lag: from the most negative velocity */
    for (long lag = off - 1; lag >= -off; lag--) { /* lags run -off..off-1 */
      double v = -(double)lag * step;
      if (fabs(v) < maxvel + step) {
        long k = ((lag % (long)N) + (long)N) % (long)N;
        subind[nsub] = k;
        vels[nsub++] = v;
      }
    }
    if (nsub < 2) {
      rc = rvs_error(RVS_ERR_FORMAT, "CCF: bank grid too coarse for max_vel %g", maxvel);
      goto arm_done;
    }
    for (size_t m = 0; m < M; m++) {
      const double *fm = bk->fft + m * nf * 2, *fm2 = bk->fft2 + m * nf * 2;
      for (size_t q = 0; q < nf; q++) {
        double complex t = fm[2 * q] + I * fm[2 * q + 1];
        P[q] = t * conj(Fs[q]);
      }
      fftw_execute_dft_c2r(pb, P, buf);
      for (size_t q = 0; q < nf; q++) {
        double complex t = fm2[2 * q] + I * fm2[2 * q + 1];
        P[q] = t * conj(Fw[q]);
      }
      fftw_execute_dft_c2r(pb, P, buf2);
      /* FFTW's inverse is unnormalised: divide by N as numpy's irfft */
      for (long s = 0; s < nsub; s++) {
        double c0 = buf[subind[s]] / (double)N, c1 = buf2[subind[s]] / (double)N;
        sub[s] = bk->conf.continuum ? -2 * c0 + c1 : -c0 * c0 / c1;
      }
      /* linear interpolation onto vel_grid (grid inside the lag range) */
      long s = 0;
      double *row = chisq + m * (size_t)nvel;
      for (int i = 0; i < nvel; i++) {
        double v = vel_grid[i];
        while (s < nsub - 2 && vels[s + 1] < v) s++;
        double t = (v - vels[s]) / (vels[s + 1] - vels[s]);
        row[i] += sub[s] + t * (sub[s + 1] - sub[s]);
      }
    }
  arm_done:
#pragma omp critical(rvs_fftw_plan)
    {
      if (pf) fftw_destroy_plan(pf);
      if (pb) fftw_destroy_plan(pb);
    }
    fftw_free(f); fftw_free(w); fftw_free(buf); fftw_free(buf2);
    fftw_free(Fs); fftw_free(Fw); fftw_free(P);
    free(vels); free(sub); free(subind);
  }
  if (rc == RVS_OK) {
    size_t best_id = 0;
    int best_pix = 0;
    double best = INFINITY;
    for (size_t m = 0; m < M; m++)
      for (int i = 0; i < nvel; i++) {
        double c = chisq[m * (size_t)nvel + i] + total_sse;
        if (c < best) { best = c; best_id = m; best_pix = i; }
      }
    /* the parabola through the best point and its neighbours, as the batch paths */
    double y[3] = {0, 0, 0};
    if (isfinite(best)) {
      const double *row = chisq + best_id * (size_t)nvel;
      y[0] = best_pix > 0 ? row[best_pix - 1] : 0.0;
      y[1] = row[best_pix];
      y[2] = best_pix < nvel - 1 ? row[best_pix + 1] : 0.0;
    }
    rc = rvs_ccf_finish(arms[0].bank, nvel, vel_grid, best_id * (size_t)nvel + (size_t)best_pix,
                        best, y, res);
  }
  free(chisq);
  free(vel_grid);
  return rc;
}
