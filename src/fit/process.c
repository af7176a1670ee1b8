#include "fit/process.h"

#include "fit/hessian.h"
#include "fit/hessian_richardson.h"
#include "rvs/log.h"
#include "rvs/status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First 36 values as ALGORITHM.md lists them (numpy 1.24); the rest from
 * numpy 2.4 RandomState(43434).normal(size=144)[36:], for dimensions 7..12. */
const double rvs_simplex_normals[144] = {
    0.2573163153424189,  -0.9011069298390896, -1.2493873407306169, 2.054202553244047,
    0.07774812382131821, -0.3699605244152346, -0.37582344004923257, -0.7178725579752068,
    -1.9419421669622035, -1.655885921321652,  0.11383137516034889, -0.561055182269903,
    -1.8781173126964281, -0.4732310426905614, -1.672683799477473,  -1.8272840006792983,
    -0.17304992592986235, -2.1883167962435714, -0.3921959338717661, 1.3058839048272703,
    -0.7245360500679104, 1.727241404262352,   -0.29683166657245796, 0.2852204354103993,
    1.9667308138826358,  -1.3945175397962095, -0.584302514553681,  1.7007517333306454,
    1.1857463216936788,  1.3494563341979209,  -1.6540175927298564, 0.5285763586385325,
    0.8065260635840192,  0.2560927306653154,  -2.443717394566921,  -0.2079874729430756,
    -1.0691734661672931, 0.7112236149953491, -0.09014460249659909, -0.052961968726713826,
    -0.4455664059845337, 1.1183935144196115, 1.6553810624426604, 0.8473349999953361,
    1.9495833426038587, 0.20701952304807086, 0.2347143949164803, 0.0008915367795362418,
    0.6170154767564356, -0.3784760430756933, 2.2557940816613278, -0.2663473701763577,
    -1.514587282597177, -0.8747766866440062, -0.5682355404139513, 0.3126795249043563,
    -0.5839838122066103, 1.4744119273746126, 0.18049808393475586, 0.5051668395880327,
    -0.24042098880357138, 1.68952733311919, -1.634714465054764, 0.4340061327240504,
    -0.4538310891293711, 1.8610359110603518, 0.2552257478372349, 0.10520663015035966,
    0.6168548028455932, 0.40532488636981884, 0.8435976311650609, -0.2670459665004763,
    -0.2692631569624889, -2.5301786491265923, -0.8264911256144847, -1.0994700565824438,
    -0.609273048430507, -0.8229867268262416, -0.07239165839046091, -0.37592888657024764,
    -1.0556388869625426, 0.733834527557976, 0.6164695917074398, 0.8069374088787639,
    -0.5648965127387845, -0.9451293525066958, 1.1100376096131002, -0.21256424632671483,
    -0.7129664756160831, -0.6837362873413184, 0.14492231845835993, 0.7592020524285852,
    0.6374401973235979, -0.007119802454716039, -0.6655231784986123, -0.16312968488354435,
    0.32471638678764353, -0.9274220632710954, 1.2676464846365145, -2.0567086465684934,
    -0.7891557462376393, -0.7612831878317576, -0.6169772708587984, -0.8582285563343272,
    -0.35978702958127134, 0.5568839355515763, -1.8176000361163442, -1.4658974114954466,
    -1.5435109827702387, -2.0323071852938277, 2.6518512047481364, -1.0361949488380182,
    0.7425090854364205, 2.4692232557820626, 1.2611109524185018, 2.1252929656000616,
    0.3831398535422616, 0.49603682347734523, 0.504054887896145, -0.05833558980157425,
    2.2398942987535926, 0.3830073568954944, 0.43890981776117044, 0.6150452637892433,
    -0.35335892181334944, 1.0064244915436085, 1.8818433510603507, 1.801149780846802,
    1.1099809265111704, 0.5633160069854571, 1.6385532312763231, 0.21427770499758406,
    -0.1978005489128316, -0.04724630995534305, 1.5681825540187544, -0.4854360111341436,
    -0.9842570421767449, 1.3048052070294138, 0.05960272747108315, -1.3885536875457027,
    1.0331802741119953, -0.8454674980537242, 0.5321623236807048, 0.44711768814330133
};
const int rvs_simplex_normals_count = 144;

enum {
  STAGE_SCAN = 0,   /* initial velocity grid */
  STAGE_NM,
  STAGE_BFGS,
  STAGE_SAMPLER,
  STAGE_FULL,
  STAGE_HESS,
  STAGE_HESS2,      /* the first Hessian was bad: numdifftools' default steps */
  STAGE_CONT,
  STAGE_DONE
};

#define WALL 1e30 /* upstream chisq_func's value outside the velocity range */

void rvs_fit_config_default(rvs_fit_config *c, int nparam, const char *const *parnames) {
  memset(c, 0, sizeof *c);
  c->min_vel = -1000;
  c->max_vel = 1000;
  c->vel_step0 = 5;
  c->min_vel_step = 0.2;
  c->max_vsini = 500;
  c->second_minimizer = 1;
  c->nparam = nparam;
  for (int i = 0; i < nparam && i < RVS_MAXPAR; i++)
    snprintf(c->parnames[i], sizeof c->parnames[i], "%s", parnames[i]);
}

static int ensure_req(rvs_fit *f, int n) {
  if (n <= f->cap) return RVS_OK;
  rvs_eval_request *r = realloc(f->req, sizeof *r * (size_t)n);
  if (!r) return rvs_error(RVS_ERR_NOMEM, "fit: no memory for %d requests", n);
  f->req = r;
  f->cap = n;
  return RVS_OK;
}

static void base_request(const rvs_fit *f, rvs_eval_request *r, int kind, double vel, double vsini,
                         const double *params) {
  r->slot = f->slot;
  r->kind = kind;
  r->vel = vel;
  r->vsini = vsini;
  memset(r->params, 0, sizeof r->params);
  memcpy(r->params, params, sizeof(double) * (size_t)f->cfg.nparam);
}

/* ParamMapper.forward: optimiser vector -> vel, vsini (clipped, penalty), params. */
static void forward(const rvs_fit *f, const double *x, double *vel, double *vsini, double *penalty,
                    double *params) {
  int k = 0;
  *vel = x[k++];
  *penalty = 0;
  if (f->fit_vsini) {
    double raw = x[k++];
    double v = raw < 0 ? 0 : (raw > f->cfg.max_vsini ? f->cfg.max_vsini : raw);
    if (raw < 0 || raw > f->cfg.max_vsini) *penalty = (v - raw) * (v - raw);
    *vsini = v;
  } else {
    *vsini = f->have_vsini0 ? f->vsini0 : -1;
  }
  for (int i = 0; i < f->cfg.nparam; i++)
    params[i] = (f->cfg.fixed >> i & 1u) ? f->params0[i] : x[k++];
}

static double prior_term(const rvs_fit *f, const double *params) {
  double s = 0;
  for (int i = 0; i < f->cfg.nparam; i++)
    if (f->cfg.has_prior[i]) {
      double d = (f->cfg.prior_mu[i] - params[i]) / f->cfg.prior_sigma[i];
      s += d * d;
    }
  return s;
}

/* Turn optimiser points into requests (chisq_func); points beyond the
 * velocity wall or with non-finite parameters get 1e30 without a request. */
static int objective_requests(rvs_fit *f, int npts) {
  int rc = ensure_req(f, npts);
  if (rc) return rc;
  f->npts = npts;
  f->nreq = 0;
  for (int p = 0; p < npts; p++) {
    double vel, vsini, pen, params[RVS_MAXPAR];
    forward(f, f->pts + (size_t)p * f->ndim, &vel, &vsini, &pen, params);
    int finite = 1;
    for (int i = 0; i < f->cfg.nparam; i++) finite &= isfinite(params[i]) != 0;
    if (vel > f->cfg.max_vel || vel < f->cfg.min_vel || !finite) {
      f->req_of_pt[p] = -1;
      f->fvals[p] = WALL;
      continue;
    }
    f->req_of_pt[p] = f->nreq;
    f->prior_of_pt[p] = prior_term(f, params);
    f->penalty_of_pt[p] = pen;
    base_request(f, &f->req[f->nreq++], RVS_EVAL_CHISQ, vel, vsini, params);
  }
  return RVS_OK;
}

static void objective_values(rvs_fit *f, const rvs_eval_result *res) {
  for (int p = 0; p < f->npts; p++) {
    int r = f->req_of_pt[p];
    if (r < 0) continue;
    /* chisq_func0 adds priors first, then get_chisq, then the vsini penalty */
    f->fvals[p] = (f->prior_of_pt[p] + res[r].m2lnl) + f->penalty_of_pt[p];
  }
}

static int grid_requests(rvs_fit *f, const double *vels, long n, double vsini, const double *params) {
  int rc = ensure_req(f, (int)n);
  if (rc) return rc;
  for (long i = 0; i < n; i++) base_request(f, &f->req[i], RVS_EVAL_CHISQ, vels[i], vsini, params);
  f->nreq = (int)n;
  return RVS_OK;
}

static int fail(rvs_fit *f, int rc) {
  f->res.status = rc;
  f->stage = STAGE_DONE;
  f->nreq = 0;
  return rc;
}

/* Prepare the requests of the current stage (called after each transition). */
static int plan(rvs_fit *f);

static int start_nm(rvs_fit *f, const double *simplex) {
  int rc = rvs_nm_init(&f->nm, f->ndim, simplex, 1e-2, 1e-3, 10000);
  if (rc) return fail(f, rc);
  f->stage = STAGE_NM;
  return plan(f);
}

static void hess_inv0(const rvs_fit *f, double *H) {
  int n = f->ndim, k = 0;
  memset(H, 0, sizeof(double) * (size_t)n * n);
  H[k * n + k] = 1.0; /* vel */
  k++;
  if (f->fit_vsini) { H[k * n + k] = 25.0; k++; }
  for (int i = 0; i < f->cfg.nparam; i++) {
    if (f->cfg.fixed >> i & 1u) continue;
    /* upstream get_hess_inv raises when teff is not fitted; we simply skip it */
    H[k * n + k] = strcmp(f->cfg.parnames[i], "teff") == 0 ? 2500.0 : 0.01;
    k++;
  }
}

static int start_sampler(rvs_fit *f) {
  double vel, vsini, pen, params[RVS_MAXPAR];
  forward(f, f->x_opt, &vel, &vsini, &pen, params);
  f->res.vel_optimizer = vel;
  f->res.vsini = vsini;
  f->res.has_vsini = f->fit_vsini;
  memcpy(f->res.param, params, sizeof(double) * (size_t)f->cfg.nparam);
  rvs_velsampler_init(&f->sampler, vel, f->cfg.min_vel, f->cfg.max_vel, f->cfg.vel_step0,
                      f->cfg.min_vel_step);
  f->stage = STAGE_SAMPLER;
  return plan(f);
}

static int plan(rvs_fit *f) {
  int rc;
  switch (f->stage) {
  case STAGE_NM: {
    int np_ = rvs_nm_ask(&f->nm, f->pts);
    if (np_ == 0) return RVS_OK; /* handled by the caller */
    return objective_requests(f, np_);
  }
  case STAGE_BFGS: {
    int np_ = rvs_bfgs_ask(&f->bfgs, f->pts);
    if (np_ == 0) return RVS_OK;
    return objective_requests(f, np_);
  }
  case STAGE_SAMPLER: {
    long n = rvs_velsampler_ngrid(&f->sampler);
    free(f->grid);
    f->grid = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (!f->grid) return fail(f, rvs_error(RVS_ERR_NOMEM, "fit: no memory for a velocity grid"));
    f->ngrid = n;
    rvs_velsampler_grid(&f->sampler, f->grid);
    rc = grid_requests(f, f->grid, n, f->res.vsini, f->res.param);
    return rc ? fail(f, rc) : RVS_OK;
  }
  case STAGE_FULL:
    if ((rc = ensure_req(f, 1))) return fail(f, rc);
    base_request(f, &f->req[0], RVS_EVAL_FULL, f->res.vel, f->res.vsini, f->res.param);
    f->nreq = 1;
    return RVS_OK;
  case STAGE_HESS: {
    int n = f->cfg.nparam, np_ = rvs_hessian_npoints(n);
    double *pts = malloc(sizeof(double) * (size_t)np_ * n);
    if (!pts || (rc = ensure_req(f, np_))) {
      free(pts);
      return fail(f, rvs_error(RVS_ERR_NOMEM, "fit: no memory for the Hessian"));
    }
    rvs_hessian_steps(f->res.param, (const char(*)[16])f->cfg.parnames, n, f->hess_h);
    rvs_hessian_points(f->res.param, f->hess_h, n, pts);
    for (int p = 0; p < np_; p++)
      base_request(f, &f->req[p], RVS_EVAL_CHISQ, f->res.vel_optimizer, f->res.vsini,
                   pts + (size_t)p * n);
    f->nreq = np_;
    free(pts);
    return RVS_OK;
  }
  case STAGE_HESS2: {
    int n = f->cfg.nparam, np_ = rvs_hessian_default_npoints(n);
    double *pts = malloc(sizeof(double) * (size_t)np_ * n);
    if (!pts || (rc = ensure_req(f, np_))) {
      free(pts);
      return fail(f, rvs_error(RVS_ERR_NOMEM, "fit: no memory for the Hessian"));
    }
    if ((rc = rvs_hessian_default_points(f->res.param, n, pts))) {
      free(pts);
      return fail(f, rc);
    }
    for (int p = 0; p < np_; p++)
      base_request(f, &f->req[p], RVS_EVAL_CHISQ, f->res.vel_optimizer, f->res.vsini,
                   pts + (size_t)p * n);
    f->nreq = np_;
    free(pts);
    return RVS_OK;
  }
  case STAGE_CONT:
    if ((rc = ensure_req(f, 1))) return fail(f, rc);
    base_request(f, &f->req[0], RVS_EVAL_CONTINUUM, 0, -1, f->res.param);
    f->nreq = 1;
    return RVS_OK;
  default:
    f->nreq = 0;
    return RVS_OK;
  }
}

int rvs_fit_init(rvs_fit *f, const rvs_fit_config *cfg, int slot, const double *params0,
                 double vsini0) {
  memset(f, 0, sizeof *f);
  f->cfg = *cfg;
  f->slot = slot;
  if (cfg->nparam < 1 || cfg->nparam > RVS_MAXPAR)
    return rvs_error(RVS_ERR_ARG, "fit: %d parameters outside 1..%d", cfg->nparam, RVS_MAXPAR);
  memcpy(f->params0, params0, sizeof(double) * (size_t)cfg->nparam);
  f->have_vsini0 = isfinite(vsini0) && vsini0 >= 0;
  f->vsini0 = f->have_vsini0 ? vsini0 : -1;
  f->fit_vsini = f->have_vsini0 && !cfg->fix_vsini;
  f->ndim = 1 + f->fit_vsini;
  for (int i = 0; i < cfg->nparam; i++) f->ndim += !(cfg->fixed >> i & 1u);
  if (f->ndim > RVS_NM_MAXDIM) return rvs_error(RVS_ERR_ARG, "fit: too many free parameters");
  f->res.status = RVS_OK;
  f->res.minimize_success = 1;
  /* stage 1: the grid scan with the starting template */
  long n = rvs_arange_count(cfg->min_vel, cfg->max_vel, cfg->vel_step0);
  if (n < 3) return rvs_error(RVS_ERR_ARG, "fit: velocity grid %g..%g step %g too short",
                              cfg->min_vel, cfg->max_vel, cfg->vel_step0);
  f->grid = malloc(sizeof(double) * (size_t)n);
  if (!f->grid) return rvs_error(RVS_ERR_NOMEM, "fit: no memory for the velocity grid");
  for (long i = 0; i < n; i++) f->grid[i] = rvs_arange_at(cfg->min_vel, cfg->vel_step0, i);
  f->ngrid = n;
  f->stage = STAGE_SCAN;
  int rc = grid_requests(f, f->grid, n, f->vsini0, f->params0);
  if (rc) {
    rvs_fit_free(f);
    return rc;
  }
  return RVS_OK;
}

int rvs_fit_ask(rvs_fit *f, const rvs_eval_request **req) {
  *req = f->req;
  if (f->stage == STAGE_DONE) return 0;
  return f->nreq;
}

static int after_optimiser_points(rvs_fit *f);

int rvs_fit_tell(rvs_fit *f, const rvs_eval_result *res) {
  int rc;
  f->res.nrequests += f->nreq;
  if (f->stage == STAGE_HESS || f->stage == STAGE_HESS2) f->res.nrequests_hessian += f->nreq;
  switch (f->stage) {
  case STAGE_SCAN: {
    double *chi = malloc(sizeof(double) * (size_t)f->ngrid);
    if (!chi) return fail(f, rvs_error(RVS_ERR_NOMEM, "fit: no memory"));
    for (long i = 0; i < f->ngrid; i++) chi[i] = res[i].m2lnl;
    rvs_velgrid_result g;
    rc = rvs_velgrid_best(f->grid, chi, (int)f->ngrid, 1, &g);
    free(chi);
    if (rc) return fail(f, rc);
    f->res.parabola_failed |= g.parabola_failed;
    /* deterministic start simplex around [best_vel, vsini, free params] */
    double x0[RVS_NM_MAXDIM], sd[RVS_NM_MAXDIM];
    int k = 0;
    x0[k] = g.best_vel;
    sd[k++] = 5;
    if (f->fit_vsini) {
      x0[k] = f->vsini0 > f->cfg.max_vsini ? f->cfg.max_vsini : f->vsini0;
      sd[k++] = 3;
    }
    for (int i = 0; i < f->cfg.nparam; i++) {
      if (f->cfg.fixed >> i & 1u) continue;
      const char *nm = f->cfg.parnames[i];
      x0[k] = f->params0[i];
      sd[k++] = strcmp(nm, "logg") == 0 ? 0.5 : strcmp(nm, "teff") == 0 ? 300
              : strcmp(nm, "feh") == 0 ? 0.5 : strcmp(nm, "alpha") == 0 ? 0.25 : 0.5;
    }
    int n = f->ndim;
    double sim[(RVS_NM_MAXDIM + 1) * RVS_NM_MAXDIM];
    for (int j = 0; j < n; j++) sim[j] = x0[j];
    for (int r = 0; r < n; r++)
      for (int j = 0; j < n; j++)
        sim[(r + 1) * n + j] = x0[j] + sd[j] * rvs_simplex_normals[r * n + j];
    f->nm_run = 1;
    return start_nm(f, sim);
  }
  case STAGE_NM:
    objective_values(f, res);
    rvs_nm_tell(&f->nm, f->fvals);
    return after_optimiser_points(f);
  case STAGE_BFGS:
    objective_values(f, res);
    rvs_bfgs_tell(&f->bfgs, f->fvals);
    return after_optimiser_points(f);
  case STAGE_SAMPLER: {
    double *chi = malloc(sizeof(double) * (size_t)f->ngrid);
    if (!chi) return fail(f, rvs_error(RVS_ERR_NOMEM, "fit: no memory"));
    for (long i = 0; i < f->ngrid; i++) chi[i] = res[i].m2lnl;
    rc = rvs_velsampler_tell(&f->sampler, chi);
    free(chi);
    if (rc) return fail(f, rc);
    f->res.parabola_failed |= f->sampler.last.parabola_failed;
    if (rvs_velsampler_ngrid(&f->sampler) > 0) return plan(f);
    f->res.vel = f->sampler.last.best_vel;
    f->res.vel_err = f->sampler.last.vel_err;
    f->res.vel_skewness = f->sampler.last.skewness;
    f->res.vel_kurtosis = f->sampler.last.kurtosis;
    f->stage = STAGE_FULL;
    return plan(f);
  }
  case STAGE_FULL:
    if (res[0].status) return fail(f, res[0].status);
    f->res.chisq = res[0].m2lnl;
    f->res.logl = -0.5 * res[0].m2lnl;
    f->res.narms = res[0].narms;
    memcpy(f->res.chisq_arm, res[0].chisq_arm, sizeof f->res.chisq_arm);
    memcpy(f->res.npix_arm, res[0].npix_arm, sizeof f->res.npix_arm);
    f->stage = STAGE_HESS;
    return plan(f);
  case STAGE_HESS: {
    int n = f->cfg.nparam, np_ = rvs_hessian_npoints(n);
    double fv[2 * RVS_MAXPAR * RVS_MAXPAR + 1], H[RVS_MAXPAR * RVS_MAXPAR];
    for (int p = 0; p < np_; p++)
      fv[p] = 0.5 * (prior_term(f, f->req[p].params) + res[p].m2lnl);
    rvs_hessian_assemble(fv, f->hess_h, n, H);
    rvs_uncertainties_from_hessian(H, n, f->res.param_err, f->res.param_covar, &f->res.bad_hessian);
    /* upstream retries a bad Hessian with numdifftools' default steps and
     * Richardson extrapolation (its loop also recomputes a good one: not here) */
    f->stage = f->res.bad_hessian ? STAGE_HESS2 : STAGE_CONT;
    return plan(f);
  }
  case STAGE_HESS2: {
    int n = f->cfg.nparam, np_ = rvs_hessian_default_npoints(n);
    double *fv = malloc(sizeof(double) * (size_t)np_), H[RVS_MAXPAR * RVS_MAXPAR];
    if (!fv) return fail(f, rvs_error(RVS_ERR_NOMEM, "fit: no memory for the Hessian"));
    for (int p = 0; p < np_; p++) fv[p] = 0.5 * (prior_term(f, f->req[p].params) + res[p].m2lnl);
    rc = rvs_hessian_default_assemble(f->res.param, n, fv, H);
    free(fv);
    if (rc) return fail(f, rc);
    rvs_uncertainties_from_hessian(H, n, f->res.param_err, f->res.param_covar, &f->res.bad_hessian);
    f->stage = STAGE_CONT;
    return plan(f);
  }
  case STAGE_CONT:
    for (int a = 0; a < res[0].narms && a < RVS_MAXARMS; a++) f->res.chisq_c_arm[a] = res[0].chisq_arm[a];
    f->stage = STAGE_DONE;
    f->nreq = 0;
    return RVS_OK;
  default:
    return RVS_OK;
  }
}

/* After an optimiser tell: more points, or the next stage. */
static int after_optimiser_points(rvs_fit *f) {
  if (f->stage == STAGE_NM) {
    if (f->nm.state != RVS_NM_DONE) return plan(f);
    double fb;
    const double *x = rvs_nm_best(&f->nm, &fb);
    memcpy(f->x_opt, x, sizeof(double) * (size_t)f->ndim);
    if (!f->nm.success) {
      if (f->nm_run < 2) { /* upstream restarts once from the final simplex */
        double sim[(RVS_NM_MAXDIM + 1) * RVS_NM_MAXDIM];
        for (int i = 0; i <= f->ndim; i++)
          memcpy(sim + (size_t)i * f->ndim, f->nm.sim[i], sizeof(double) * (size_t)f->ndim);
        f->nm_run++;
        return start_nm(f, sim);
      }
      rvs_log(RVS_LOG_WARNING, "Maximum number of iterations reached");
      f->res.minimize_success = 0;
    }
    if (f->cfg.second_minimizer) {
      double H[RVS_BFGS_MAXDIM * RVS_BFGS_MAXDIM];
      hess_inv0(f, H);
      int rc = rvs_bfgs_init(&f->bfgs, f->ndim, f->x_opt, H, 0);
      if (rc) return fail(f, rc);
      f->stage = STAGE_BFGS;
      return plan(f);
    }
    return start_sampler(f);
  }
  /* BFGS */
  if (!f->bfgs.done) return plan(f);
  double fv;
  const double *x = rvs_bfgs_result(&f->bfgs, &fv);
  memcpy(f->x_opt, x, sizeof(double) * (size_t)f->ndim);
  return start_sampler(f);
}

const rvs_fit_result *rvs_fit_get_result(const rvs_fit *f) { return &f->res; }

int rvs_fit_stage(const rvs_fit *f) {
  /* the public numbering of process.h: scan, minimiser (NM, BFGS), error
   * sampler, best-fit model, Hessian (both step sets), continuum */
  switch (f->stage) {
  case STAGE_SCAN: return RVS_PHASE_SCAN;
  case STAGE_NM: case STAGE_BFGS: return RVS_PHASE_MINIMISER;
  case STAGE_SAMPLER: return RVS_PHASE_SAMPLER;
  case STAGE_HESS: case STAGE_HESS2: return RVS_PHASE_HESSIAN;
  default: return RVS_PHASE_OTHER;
  }
}

void rvs_fit_free(rvs_fit *f) {
  free(f->req);
  free(f->grid);
  f->req = NULL;
  f->grid = NULL;
  f->cap = 0;
}
