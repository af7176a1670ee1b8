/* Natural cubic spline through template pixels, as upstream's spliner
 * (ALGORITHM.md 3.3): second derivatives z_0 = z_{N-1} = 0, interior ones from
 * the symmetric tridiagonal system solved by the Thomas algorithm, and the
 * value on interval i written as upstream does,
 *   S(x) = A_i dl^3 + B_i dr^3 + C_i dl + D_i dr,  dl = x - x_i, dr = x_{i+1} - x,
 * with upstream's formulas; the grid-only parts of the solve (pivots, 1/h)
 * are stored so that a new template costs two linear recurrences, run as
 * interleaved chains joined exactly (values agree with upstream's to ~1e-15
 * relative, not bit for bit).
 *
 * Interval lookup: O(1) on a log-uniform grid (i = (ln x - ln x_0)/ln-step) or
 * a linear-uniform grid, binary search otherwise.  Unlike upstream the O(1)
 * guess is clamped to [0, N-2] and then corrected so that x_i <= x < x_{i+1}
 * (rounding can never pick a neighbour or read out of bounds, and a grid
 * that only looks uniform still gives exact results). */
#ifndef RVS_CORE_SPLINE_H
#define RVS_CORE_SPLINE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Grid kinds.  AUTO (init only) detects like upstream: log-uniform when the
 * first two steps of ln x agree within 1e-10, else linear-uniform when the
 * first two steps of x agree within 1e-10, else general; a uniform kind is
 * kept only if 64 nodes spread over the grid lie within a quarter step of
 * their uniform positions (lookups stay exact on any grid: the O(1) guess is
 * corrected by walking; uniformity only keeps the walk short). */
enum {
  RVS_GRID_AUTO = 0,
  RVS_GRID_LOG = 1,
  RVS_GRID_LINEAR = 2,
  RVS_GRID_GENERAL = 3
};

/* Upstream's tolerance on the step equality (absolute, in ln x or x). */
#define RVS_SPLINE_STEP_TOL 1e-10

/* The chunking of the Thomas recurrences (core/spline.c): NCHUNK chains of
 * m / NCHUNK rows once m >= NCHUNK * CHUNK_MIN, joined by carry corrections
 * that stop below CARRY_EPS.  Part of the arithmetic, not a tuning knob: the
 * CUDA backend repeats it operation for operation (identical bits). */
#define RVS_SPLINE_NCHUNK 8
#define RVS_SPLINE_CHUNK_MIN 64
#define RVS_SPLINE_CARRY_EPS 1e-40

typedef struct rvs_spline {
  size_t n;       /* number of nodes (>= 4) */
  double *x;      /* [n] nodes, strictly increasing (owns the one allocation) */
  double *y;      /* [n] values */
  double *z;      /* [n] second derivatives, z[0] = z[n-1] = 0 */
  int grid_kind;  /* RVS_GRID_LOG / LINEAR / GENERAL (never AUTO) */
  double x0;      /* LOG: ln x[0]; LINEAR: x[0]; GENERAL: x[0] */
  double inv_dx;  /* LOG: 1/ln(x[1]/x[0]); LINEAR: 1/(x[1]-x[0]); GENERAL: 0 */
  /* Derived data (do not write). */
  double *coef;   /* [n-1][4]: A_i, B_i, C_i, D_i (upstream's form) */
  double *tri_c;  /* [n] Thomas factors c'_i = h_{i+1}/pivot_i (grid only) */
  double *tri_d;  /* [n] 1/pivot_i of the Thomas elimination (grid only) */
  double *tri_g;  /* [n] forward multipliers h_i/pivot_i (grid only) */
  double *hinv;   /* [n-1] 1/(x[i+1]-x[i]) */
} rvs_spline;

/* Build the spline through (x[i], y[i]), i < n (copies x and y).  grid_kind
 * RVS_GRID_AUTO detects the kind; a forced LOG/LINEAR kind on a grid that is
 * not uniform in that sense is an error (RVS_ERR_ARG), as is n < 4, a
 * non-finite or non-increasing x, or x <= 0 with LOG.  On error *s is left
 * zeroed (safe to free). */
int rvs_spline_init(rvs_spline *s, const double *x, const double *y, size_t n, int grid_kind);

/* Same, only the grid: values all zero until rvs_spline_set_y. */
int rvs_spline_init_grid(rvs_spline *s, const double *x, size_t n, int grid_kind);

/* Replace the values (same grid): recomputes z and the coefficients with the
 * stored Thomas factors.  No allocation; this is the per-template call. */
void rvs_spline_set_y(rvs_spline *s, const double *y);

/* out[k] = S(xq[k]).  As upstream, returns RVS_ERR_RANGE (with a message)
 * when the first or the last query lies outside [x[0], x[n-1]) or is NaN;
 * only those two are checked (queries are assumed sorted): any other query
 * outside the grid is evaluated with the cubic of the nearest end interval. */
int rvs_spline_eval(const rvs_spline *s, const double *xq, size_t nq, double *out);

/* Doppler-shifted evaluation fused with rvs_doppler_rest_wavelengths:
 * out[k] = S(lam_obs[k] * sqrt((1-b)/(1+b))), b = v/c.  ln_lam_obs (may be
 * NULL) holds ln(lam_obs[k]); on a log grid it replaces one log() per query
 * (the interval is still exact).  Same checks and result as
 * rvs_doppler_rest_wavelengths followed by rvs_spline_eval. */
int rvs_spline_eval_doppler(const rvs_spline *s, const double *lam_obs,
                            const double *ln_lam_obs, size_t nq, double v_kms,
                            double *out);

/* Interval i in [0, n-2] with x[i] <= xq < x[i+1] (clamped at the ends; NaN
 * gives 0). */
size_t rvs_spline_interval(const rvs_spline *s, double xq);

/* S(xq) without any range check (ends extrapolated with the end cubics). */
double rvs_spline_eval_one(const rvs_spline *s, double xq);

void rvs_spline_free(rvs_spline *s);

/* Low level, no allocation: second derivatives z[0..n-1] of the natural
 * spline through (x, y), n >= 4, with work[] of rvs_spline_work_size(n)
 * doubles (the same solve as rvs_spline_set_y).  Returns RVS_OK or
 * RVS_ERR_ARG (n < 4; no message, it may run in hot loops). */
size_t rvs_spline_work_size(size_t n);
int rvs_spline_second_derivs(const double *x, const double *y, size_t n, double *z,
                             double *work);

/* 1 when the carry corrections of the chunked recurrences (m = n - 2 rows,
 * forward factors fu = tri_g, backward factors fd = tri_c) can run in
 * parallel with the same result: no chunk's correction reaches the row that
 * is the next chunk's carry (each stops below CARRY_EPS first), so every
 * carry is final once the chains are done.  Grid-only (the factors decide
 * where a correction stops).  0 when m uses the single chain. */
int rvs_spline_carries_independent(const double *fu, const double *fd, size_t m);

/* Coefficients coef[(n-1)*4] (A, B, C, D per interval) from x, y, z. */
void rvs_spline_coeffs(const double *x, const double *y, const double *z, size_t n,
                       double *coef);

#ifdef __cplusplus
}
#endif
#endif
