/* Velocity-grid pieces of the fit (ALGORITHM.md §3.9, §4.3 step 8):
 * the grid minimum with its parabolic refinement and posterior moments
 * (upstream spec_fit.find_best), numpy-style arange, and the iterative
 * velocity-error sampler (vel_fit._minimum_sampler) as an ask/tell machine. */
#ifndef RVS_FIT_VELGRID_H
#define RVS_FIT_VELGRID_H

typedef struct rvs_velgrid_result {
  int ivel, iparam;  /* argmin over the [nvel][nparam] chi-square matrix */
  double best_chi;
  double best_vel;   /* parabola vertex through the 3 points around ivel */
  double vel_err;    /* sqrt(sum p (v - best_vel)^2) */
  double skewness, kurtosis; /* moments about best_vel (not the mean), non-excess */
  int parabola_failed; /* vertex not strictly inside: upstream asserts; we use the grid value */
} rvs_velgrid_result;

/* chisq is [nvel][nparam] row-major (nparam >= 1).  The first minimum in
 * row-major order wins, as numpy's argmin.  Returns RVS_OK, or
 * RVS_ERR_NUMERIC when every value is NaN. */
int rvs_velgrid_best(const double *vels, const double *chisq, int nvel, int nparam,
                     rvs_velgrid_result *r);

/* numpy.arange(start, stop, step): number of points, and point i. */
long rvs_arange_count(double start, double stop, double step);
static inline double rvs_arange_at(double start, double step, long i) { return start + (double)i * step; }

/* The velocity-error sampler: each round evaluates a velocity grid (with the
 * template fixed), refines the step until step < err/5 or step < min_vel_step,
 * at most 10 rounds. */
typedef struct rvs_velsampler {
  double best_vel, min_vel, max_vel, step, min_vel_step;
  double grid_start; /* first point minus best_vel: the grid passes through best_vel */
  long ngrid;
  int iter, done;
  rvs_velgrid_result last;
} rvs_velsampler;

void rvs_velsampler_init(rvs_velsampler *s, double best_vel, double min_vel, double max_vel,
                         double vel_step0, double min_vel_step);
/* Number of velocities of the grid wanted now (0 when done); rvs_velsampler_grid
 * writes them. */
long rvs_velsampler_ngrid(const rvs_velsampler *s);
void rvs_velsampler_grid(const rvs_velsampler *s, double *vels);
/* chi-square at each grid velocity.  Returns RVS_OK or the find_best error. */
int rvs_velsampler_tell(rvs_velsampler *s, const double *chisq);

#endif
