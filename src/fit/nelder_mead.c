#include "fit/nelder_mead.h"

#include "rvs/status.h"

#include <math.h>
#include <string.h>

/* scipy's constants for the non-adaptive method. */
#define NM_RHO 1.0
#define NM_CHI 2.0
#define NM_PSI 0.5
#define NM_SIGMA 0.5

/* Stable insertion sort of the vertices by value: numpy's argsort (introsort)
 * is an insertion sort below 16 elements, hence stable, and ties must resolve
 * the same way to follow scipy's path. */
static void sort_simplex(rvs_nm *nm) {
  int n = nm->n;
  for (int i = 1; i <= n; i++) {
    double f = nm->fsim[i];
    double x[RVS_NM_MAXDIM];
    memcpy(x, nm->sim[i], sizeof(double) * (size_t)n);
    int j = i - 1;
    /* NaN compares false: numpy sorts NaN last; keep NaN at the end too. */
    while (j >= 0 && (f < nm->fsim[j] || (isnan(nm->fsim[j]) && !isnan(f)))) {
      nm->fsim[j + 1] = nm->fsim[j];
      memcpy(nm->sim[j + 1], nm->sim[j], sizeof(double) * (size_t)n);
      j--;
    }
    nm->fsim[j + 1] = f;
    memcpy(nm->sim[j + 1], x, sizeof(double) * (size_t)n);
  }
}

static int converged(const rvs_nm *nm) {
  int n = nm->n;
  double dx = 0, df = 0;
  for (int i = 1; i <= n; i++) {
    for (int k = 0; k < n; k++) {
      double d = fabs(nm->sim[i][k] - nm->sim[0][k]);
      if (d > dx || isnan(d)) dx = d;
    }
    double d = fabs(nm->fsim[0] - nm->fsim[i]);
    if (d > df || isnan(d)) df = d;
  }
  /* np.max propagates NaN and NaN <= tol is false: never converged. */
  return dx <= nm->xatol && df <= nm->fatol;
}

/* Start of an iteration: test convergence / the iteration cap, else reflect. */
static void begin_iteration(rvs_nm *nm) {
  int n = nm->n;
  if (!(nm->iterations < nm->maxiter)) {
    nm->state = RVS_NM_DONE;
    nm->success = 0;
    return;
  }
  if (converged(nm)) {
    nm->state = RVS_NM_DONE;
    nm->success = 1;
    return;
  }
  for (int k = 0; k < n; k++) {
    double s = 0;
    for (int i = 0; i < n; i++) s += nm->sim[i][k]; /* np.add.reduce over rows, in order */
    nm->xbar[k] = s / n;
  }
  for (int k = 0; k < n; k++)
    nm->xr[k] = (1 + NM_RHO) * nm->xbar[k] - NM_RHO * nm->sim[n][k];
  nm->state = RVS_NM_REFLECT;
}

static void end_iteration(rvs_nm *nm) {
  nm->iterations++;
  sort_simplex(nm);
  begin_iteration(nm);
}

int rvs_nm_init(rvs_nm *nm, int n, const double *simplex, double xatol, double fatol,
                long maxiter) {
  if (n < 1 || n > RVS_NM_MAXDIM)
    return rvs_error(RVS_ERR_ARG, "Nelder-Mead: dimension %d outside 1..%d", n, RVS_NM_MAXDIM);
  memset(nm, 0, sizeof *nm);
  nm->n = n;
  for (int i = 0; i <= n; i++)
    for (int k = 0; k < n; k++) nm->sim[i][k] = simplex[i * n + k];
  nm->xatol = xatol;
  nm->fatol = fatol;
  nm->maxiter = maxiter;
  nm->iterations = 1;
  nm->state = RVS_NM_EVAL_SIMPLEX;
  return RVS_OK;
}

int rvs_nm_ask(const rvs_nm *nm, double *points) {
  int n = nm->n;
  size_t row = sizeof(double) * (size_t)n;
  switch (nm->state) {
  case RVS_NM_EVAL_SIMPLEX:
    for (int i = 0; i <= n; i++) memcpy(points + (size_t)i * n, nm->sim[i], row);
    return n + 1;
  case RVS_NM_REFLECT:
    memcpy(points, nm->xr, row);
    return 1;
  case RVS_NM_EXPAND:
  case RVS_NM_CONTRACT_OUT:
  case RVS_NM_CONTRACT_IN:
    memcpy(points, nm->xtrial, row);
    return 1;
  case RVS_NM_SHRINK:
    for (int j = 1; j <= n; j++) memcpy(points + (size_t)(j - 1) * n, nm->sim[j], row);
    return n;
  case RVS_NM_DONE:
  default:
    return 0;
  }
}

void rvs_nm_tell(rvs_nm *nm, const double *f) {
  int n = nm->n;
  size_t row = sizeof(double) * (size_t)n;
  switch (nm->state) {
  case RVS_NM_EVAL_SIMPLEX:
    for (int i = 0; i <= n; i++) nm->fsim[i] = f[i];
    nm->nfev += n + 1;
    sort_simplex(nm);
    begin_iteration(nm);
    return;
  case RVS_NM_REFLECT:
    nm->nfev++;
    nm->fxr = f[0];
    if (nm->fxr < nm->fsim[0]) {
      for (int k = 0; k < n; k++)
        nm->xtrial[k] = (1 + NM_RHO * NM_CHI) * nm->xbar[k] - NM_RHO * NM_CHI * nm->sim[n][k];
      nm->state = RVS_NM_EXPAND;
      return;
    }
    if (nm->fxr < nm->fsim[n - 1]) {
      memcpy(nm->sim[n], nm->xr, row);
      nm->fsim[n] = nm->fxr;
      end_iteration(nm);
      return;
    }
    if (nm->fxr < nm->fsim[n]) {
      for (int k = 0; k < n; k++)
        nm->xtrial[k] = (1 + NM_PSI * NM_RHO) * nm->xbar[k] - NM_PSI * NM_RHO * nm->sim[n][k];
      nm->state = RVS_NM_CONTRACT_OUT;
    } else {
      for (int k = 0; k < n; k++)
        nm->xtrial[k] = (1 - NM_PSI) * nm->xbar[k] + NM_PSI * nm->sim[n][k];
      nm->state = RVS_NM_CONTRACT_IN;
    }
    return;
  case RVS_NM_EXPAND:
    nm->nfev++;
    if (f[0] < nm->fxr) {
      memcpy(nm->sim[n], nm->xtrial, row);
      nm->fsim[n] = f[0];
    } else {
      memcpy(nm->sim[n], nm->xr, row);
      nm->fsim[n] = nm->fxr;
    }
    end_iteration(nm);
    return;
  case RVS_NM_CONTRACT_OUT:
  case RVS_NM_CONTRACT_IN: {
    nm->nfev++;
    int accept = nm->state == RVS_NM_CONTRACT_OUT ? (f[0] <= nm->fxr) : (f[0] < nm->fsim[n]);
    if (accept) {
      memcpy(nm->sim[n], nm->xtrial, row);
      nm->fsim[n] = f[0];
      end_iteration(nm);
    } else {
      for (int j = 1; j <= n; j++)
        for (int k = 0; k < n; k++)
          nm->sim[j][k] = nm->sim[0][k] + NM_SIGMA * (nm->sim[j][k] - nm->sim[0][k]);
      nm->state = RVS_NM_SHRINK;
    }
    return;
  }
  case RVS_NM_SHRINK:
    for (int j = 1; j <= n; j++) nm->fsim[j] = f[j - 1];
    nm->nfev += n;
    end_iteration(nm);
    return;
  case RVS_NM_DONE:
  default:
    return;
  }
}

const double *rvs_nm_best(const rvs_nm *nm, double *fbest) {
  if (fbest) {
    /* scipy reports np.min(fsim); after a sort that is fsim[0] unless NaN. */
    double m = nm->fsim[0];
    for (int i = 1; i <= nm->n; i++)
      if (nm->fsim[i] < m) m = nm->fsim[i];
    *fbest = m;
  }
  return nm->sim[0];
}
