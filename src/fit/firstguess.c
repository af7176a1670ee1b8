#include "fit/firstguess.h"

#include "fit/velgrid.h"
#include "rvs/status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double LOGG[5] = {1, 2, 3, 4, 5};
static const double TEFF[4] = {3000, 5000, 8000, 10000};
static const double FEH[3] = {-2, -1, 0};
static const double VSINI[RVS_FIRSTGUESS_NVSINI] = {-1, 10, 100};
#define NGRID (5 * 4 * 3 * 1)

/* Template j in itertools.product(logg, teff, feh, alpha) order, written in
 * the interpolator's parameter order. */
static int grid_params(const rvs_fit_config *cfg, int j, double *p) {
  int ia = 0, ifeh = j % 3, it = (j / 3) % 4, il = j / 12;
  (void)ia;
  for (int k = 0; k < cfg->nparam; k++) {
    const char *nm = cfg->parnames[k];
    if (strcmp(nm, "logg") == 0) p[k] = LOGG[il];
    else if (strcmp(nm, "teff") == 0) p[k] = TEFF[it];
    else if (strcmp(nm, "feh") == 0) p[k] = FEH[ifeh];
    else if (strcmp(nm, "alpha") == 0) p[k] = 0;
    else return rvs_error(RVS_ERR_ARG, "bruteforce initialisation: no grid for parameter '%s'", nm);
  }
  return RVS_OK;
}

long rvs_firstguess_count(const rvs_fit_config *cfg) {
  return (long)NGRID * rvs_arange_count(cfg->min_vel, cfg->max_vel, cfg->vel_step0);
}

/* Requests ordered template-major (each template's velocity grid contiguous,
 * so a backend shares one interpolation per template). */
int rvs_firstguess_requests(const rvs_fit_config *cfg, int slot, int ivsini, rvs_eval_request *req) {
  long nv = rvs_arange_count(cfg->min_vel, cfg->max_vel, cfg->vel_step0);
  for (int j = 0; j < NGRID; j++) {
    double p[RVS_MAXPAR] = {0};
    int rc = grid_params(cfg, j, p);
    if (rc) return rc;
    for (long i = 0; i < nv; i++) {
      rvs_eval_request *r = &req[(long)j * nv + i];
      r->slot = slot;
      r->kind = RVS_EVAL_CHISQ;
      r->vel = rvs_arange_at(cfg->min_vel, cfg->vel_step0, i);
      r->vsini = VSINI[ivsini];
      memset(r->params, 0, sizeof r->params);
      memcpy(r->params, p, sizeof(double) * (size_t)cfg->nparam);
    }
  }
  return RVS_OK;
}

void rvs_firstguess_init(rvs_firstguess *fg) {
  memset(fg, 0, sizeof *fg);
  fg->best_chi = INFINITY;
  fg->vsini = -1;
}

int rvs_firstguess_tell(rvs_firstguess *fg, const rvs_fit_config *cfg, int ivsini,
                        const rvs_eval_result *res) {
  long nv = rvs_arange_count(cfg->min_vel, cfg->max_vel, cfg->vel_step0);
  /* find_best's matrix is [nvel][nparam]: transpose our template-major order */
  double *chi = malloc(sizeof(double) * (size_t)(nv * NGRID));
  double *vels = malloc(sizeof(double) * (size_t)nv);
  if (!chi || !vels) {
    free(chi);
    free(vels);
    return rvs_error(RVS_ERR_NOMEM, "bruteforce initialisation: no memory");
  }
  for (long i = 0; i < nv; i++) {
    vels[i] = rvs_arange_at(cfg->min_vel, cfg->vel_step0, i);
    for (int j = 0; j < NGRID; j++) chi[i * NGRID + j] = res[(long)j * nv + i].m2lnl;
  }
  rvs_velgrid_result g;
  int rc = rvs_velgrid_best(vels, chi, (int)nv, NGRID, &g);
  free(chi);
  free(vels);
  if (rc) return rc;
  if (g.best_chi < fg->best_chi) {
    fg->best_chi = g.best_chi;
    grid_params(cfg, g.iparam, fg->params);
    fg->vsini = VSINI[ivsini];
    fg->have = 1;
  }
  return RVS_OK;
}
