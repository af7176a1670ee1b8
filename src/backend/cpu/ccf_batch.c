#include "backend/cpu/ccf_batch.h"

#include "core/doppler.h"
#include "rvs/status.h"

#include <math.h>
#include <stdlib.h>

int rvs_ccf_vel_setup(double max_vel, double vel_step0, double *maxvel, int *nvel) {
  double mv = max_vel != 0 ? max_vel : 1000;
  double vstep = vel_step0 != 0 ? vel_step0 : 2;
  double r = mv / vstep;
  if (!(r >= 0) || r > 1e8) return rvs_error(RVS_ERR_ARG, "CCF: bad max_vel %g / vel_step0 %g", mv, vstep);
  *maxvel = mv;
  *nvel = 2 * (int)r + 1;
  return RVS_OK;
}

void rvs_ccf_vel_grid(double maxvel, int nvel, double *vel_grid) {
  for (int i = 0; i < nvel; i++)
    vel_grid[i] = nvel > 1 ? -maxvel + 2 * maxvel * (double)i / (nvel - 1) : 0;
}

long rvs_ccf_lag_table(const rvs_ccf_conf *conf, double maxvel, int nvel, const double *vel_grid,
                       int *k0, int *k1, double *t) {
  size_t N = conf->npoints;
  double step = (exp((conf->logl1 - conf->logl0) / (double)(N - 1)) - 1) * RVS_SPEED_OF_LIGHT;
  long off = (long)N / 2, nsub = 0;
  double *vels = malloc(sizeof(double) * (N ? N : 1));
  long *subind = malloc(sizeof(long) * (N ? N : 1));
  if (!vels || !subind) {
    free(vels); free(subind);
    return -1;
  }
  for (long lag = off - 1; lag >= -off; lag--) {
    double v = -(double)lag * step;
    if (fabs(v) < maxvel + step) {
      long k = ((lag % (long)N) + (long)N) % (long)N;
      subind[nsub] = k;
      vels[nsub++] = v;
    }
  }
  if (nsub >= 2) {
    long s = 0;
    for (int i = 0; i < nvel; i++) {
      double v = vel_grid[i];
      while (s < nsub - 2 && vels[s + 1] < v) s++;
      k0[i] = (int)subind[s];
      k1[i] = (int)subind[s + 1];
      t[i] = (v - vels[s]) / (vels[s + 1] - vels[s]);
    }
  }
  free(vels); free(subind);
  return nsub;
}

int rvs_ccf_check_banks(const rvs_ccf_arm *arms, int narms) {
  if (narms < 1) return rvs_error(RVS_ERR_ARG, "CCF: no arms");
  size_t M = arms[0].bank->nmodel;
  for (int a = 1; a < narms; a++)
    if (arms[a].bank->nmodel != M || arms[a].bank->nparam != arms[0].bank->nparam)
      return rvs_error(RVS_ERR_FORMAT, "CCF: the banks of the arms do not match");
  return RVS_OK;
}

int rvs_ccf_prep_spectrum(const rvs_ccf_arm *arms, int narms, double maxvel, const int *lag_ok,
                          double *const *fw, double *const *w, double *total_sse) {
  double sse = 0;
  for (int a = 0; a < narms; a++) {
    const rvs_ccf_bank *bk = arms[a].bank;
    size_t N = bk->conf.npoints;
    double *f = fw[a], *wa = w[a];
    int rc = rvs_ccf_preprocess_data(&bk->conf, arms[a].lam, arms[a].spec, arms[a].espec,
                                     arms[a].badmask, arms[a].n, f, wa);
    if (rc) return rc;
    for (size_t k = 0; k < N; k++) {
      double fk = f[k];
      sse += fk * fk * wa[k];
      f[k] = fk * wa[k];
    }
    if (!lag_ok[a])
      return rvs_error(RVS_ERR_FORMAT, "CCF: bank grid too coarse for max_vel %g", maxvel);
  }
  *total_sse = sse;
  return RVS_OK;
}

int rvs_ccf_finish(const rvs_ccf_bank *bank0, int nvel, const double *vel_grid, size_t best_flat,
                   double best, const double y[3], rvs_ccf_result *res) {
  if (!isfinite(best)) return rvs_error(RVS_ERR_NUMERIC, "Cross-correlation step failed");
  size_t best_id = best_flat / (size_t)nvel;
  int best_pix = (int)(best_flat % (size_t)nvel);
  double bv = vel_grid[best_pix];
  if (best_pix > 0 && best_pix < nvel - 1) {
    double x0 = vel_grid[best_pix - 1], x1 = vel_grid[best_pix], x2 = vel_grid[best_pix + 1];
    double y0 = y[0], y1 = y[1], y2 = y[2];
    double d0 = (y1 - y0) / (x1 - x0), d1 = (y2 - y1) / (x2 - x1);
    double a2 = (d1 - d0) / (x2 - x0), a1 = d0 - a2 * (x0 + x1);
    if (a2 > 0) bv = -a1 / (2 * a2);
  }
  res->best_id = best_id;
  res->best_vel = bv;
  res->best_chisq = best;
  res->vsini = bank0->vsinis[best_id];
  res->nparam = (int)bank0->nparam;
  for (int p = 0; p < res->nparam && p < RVS_MAXPAR; p++)
    res->params[p] = bank0->params[best_id * bank0->nparam + p];
  return RVS_OK;
}
