#include "fit/velgrid.h"

#include "rvs/log.h"
#include "rvs/status.h"

#include <math.h>
#include <stdlib.h>

long rvs_arange_count(double start, double stop, double step) {
  double n = ceil((stop - start) / step);
  return n > 0 ? (long)n : 0;
}

/* Vertex of the parabola through three points (np.polyfit(x, y, 2) is the
 * exact interpolating parabola for three points). */
static int parabola_vertex(const double *x, const double *y, double *v) {
  double d0 = (y[1] - y[0]) / (x[1] - x[0]);
  double d1 = (y[2] - y[1]) / (x[2] - x[1]);
  double a2 = (d1 - d0) / (x[2] - x[0]);
  double a1 = d0 - a2 * (x[0] + x[1]);
  if (!(a2 != 0) || !isfinite(a2) || !isfinite(a1)) return 0;
  *v = -a1 / 2 / a2;
  return isfinite(*v);
}

int rvs_velgrid_best(const double *vels, const double *chisq, int nvel, int nparam,
                     rvs_velgrid_result *r) {
  long best = -1;
  long ntot = (long)nvel * nparam;
  for (long k = 0; k < ntot; k++) {
    /* numpy argmin: the first NaN wins if there is one; we skip NaN instead,
     * a NaN likelihood is a failed evaluation, not a minimum. */
    if (isnan(chisq[k])) continue;
    if (best < 0 || chisq[k] < chisq[best]) best = k;
  }
  if (best < 0) return rvs_error(RVS_ERR_NUMERIC, "velocity grid: every chi-square is NaN");
  int i1 = (int)(best / nparam), i2 = (int)(best % nparam);
  r->ivel = i1;
  r->iparam = i2;
  r->best_chi = chisq[best];
  r->parabola_failed = 0;
  double bv = vels[i1];
  if (i1 > 0 && i1 < nvel - 1) {
    double x[3] = {vels[i1 - 1], vels[i1], vels[i1 + 1]};
    double y[3] = {chisq[(long)(i1 - 1) * nparam + i2], chisq[(long)i1 * nparam + i2],
                   chisq[(long)(i1 + 1) * nparam + i2]};
    double v;
    if (parabola_vertex(x, y, &v) && v < x[2] && v > x[0]) {
      bv = v;
    } else {
      /* upstream raises AssertionError here (a fiber lost); keep the grid value */
      r->parabola_failed = 1;
    }
  }
  r->best_vel = bv;
  double sp = 0;
  for (int i = 0; i < nvel; i++) {
    double c = chisq[(long)i * nparam + i2];
    if (!isnan(c)) sp += exp(-0.5 * (c - r->best_chi));
  }
  double m2 = 0, m3 = 0, m4 = 0;
  for (int i = 0; i < nvel; i++) {
    double c = chisq[(long)i * nparam + i2];
    if (isnan(c)) continue;
    double p = exp(-0.5 * (c - r->best_chi)) / sp;
    double d = vels[i] - bv;
    m2 += p * d * d;
    m3 += p * d * d * d;
    m4 += p * d * d * d * d;
  }
  r->vel_err = sqrt(m2);
  if (r->vel_err < 1e-10) {
    r->skewness = r->kurtosis = 0;
  } else {
    double e2 = r->vel_err * r->vel_err;
    r->kurtosis = m4 / (e2 * e2);
    r->skewness = m3 / (e2 * r->vel_err);
  }
  return RVS_OK;
}

static void plan_grid(rvs_velsampler *s) {
  s->grid_start = ceil((s->min_vel - s->best_vel) / s->step) * s->step;
  s->ngrid = rvs_arange_count(s->grid_start, s->max_vel - s->best_vel, s->step);
}

void rvs_velsampler_init(rvs_velsampler *s, double best_vel, double min_vel, double max_vel,
                         double vel_step0, double min_vel_step) {
  /* _find_best_vel_iterate clamps a velocity outside the range first */
  if (best_vel > max_vel) best_vel = max_vel;
  else if (best_vel < min_vel) best_vel = min_vel;
  s->best_vel = best_vel;
  s->min_vel = min_vel;
  s->max_vel = max_vel;
  s->step = vel_step0;
  s->min_vel_step = min_vel_step;
  s->iter = 0;
  s->done = 0;
  plan_grid(s);
  if (s->ngrid < 1) s->done = 1;
}

long rvs_velsampler_ngrid(const rvs_velsampler *s) { return s->done ? 0 : s->ngrid; }

void rvs_velsampler_grid(const rvs_velsampler *s, double *vels) {
  for (long i = 0; i < s->ngrid; i++) vels[i] = rvs_arange_at(s->grid_start, s->step, i) + s->best_vel;
}

int rvs_velsampler_tell(rvs_velsampler *s, const double *chisq) {
  const double crit_ratio = 5, goal_width = 10;
  long n = s->ngrid;
  double *vels = malloc(sizeof(double) * (size_t)n);
  if (!vels) return rvs_error(RVS_ERR_NOMEM, "velocity sampler: no memory for %ld points", n);
  rvs_velsampler_grid(s, vels);
  int rc = rvs_velgrid_best(vels, chisq, (int)n, 1, &s->last);
  free(vels);
  if (rc) {
    s->done = 1;
    return rc;
  }
  s->best_vel = s->last.best_vel;
  double err = s->last.vel_err;
  int it = s->iter++;
  if (s->step < err / crit_ratio || s->step < s->min_vel_step || s->iter >= 10) {
    if (it > 5) rvs_log(RVS_LOG_WARNING, "More than 5 iterations we used in finding the velocity error");
    s->done = 1;
    return RVS_OK;
  }
  double new_step, width;
  if (s->step > err) {
    new_step = s->step / crit_ratio;
    width = s->step * goal_width;
  } else {
    new_step = err / crit_ratio * 0.8;
    width = err * goal_width;
  }
  s->min_vel = fmax(s->best_vel - width, s->min_vel);
  s->max_vel = fmin(s->best_vel + width, s->max_vel);
  s->step = new_step;
  plan_grid(s);
  if (s->ngrid < 1) s->done = 1;
  return RVS_OK;
}
