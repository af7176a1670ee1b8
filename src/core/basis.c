/* Continuum basis: monomials + Gaussian RBFs, or Chebyshev polynomials. */
#include "core/basis.h"

#include <math.h>

#include "rvs/status.h"

int rvs_continuum_basis(const double *lam, size_t n, int npoly, int rbf, double *B) {
  if (!lam || !B || n < 2 || npoly < 1)
    return rvs_error(RVS_ERR_ARG, "rvs_continuum_basis: bad arguments (n=%zu, npoly=%d)",
                     n, npoly);
  double span = lam[n - 1] - lam[0];
  if (!(span != 0) || !isfinite(span))
    return rvs_error(RVS_ERR_ARG,
                     "rvs_continuum_basis: wavelength range [%g, %g] is empty or not finite",
                     lam[0], lam[n - 1]);
  /* row 1 holds u itself in both kinds of basis; compute it first, in
   * upstream's order of operations */
  double *u = (npoly > 1) ? B + n : NULL;
  for (size_t i = 0; i < n; i++) {
    double ui = (lam[i] - lam[0]) / span * 2 - 1;
    B[i] = 1.0;
    if (u) u[i] = ui;
  }
  if (!rbf) {
    for (int k = 2; k < npoly; k++) {
      double *tk = B + (size_t)k * n;
      const double *t1 = B + (size_t)(k - 1) * n, *t2 = B + (size_t)(k - 2) * n;
      for (size_t i = 0; i < n; i++) tk[i] = 2.0 * u[i] * t1[i] - t2[i];
    }
    return RVS_OK;
  }
  if (npoly > 2) {
    double *u2 = B + 2 * n;
    for (size_t i = 0; i < n; i++) u2[i] = u[i] * u[i];
  }
  int nrbf = npoly - 3;
  if (nrbf > 0) {
    double sig = 1.0 / nrbf;
    double sig2 = sig * sig;
    for (int k = 0; k < nrbf; k++) {
      /* numpy.linspace(-1, 1, nrbf): start + k*step, last point exactly 1 */
      double c;
      if (nrbf == 1)
        c = -1.0;
      else if (k == nrbf - 1)
        c = 1.0;
      else
        c = -1.0 + k * (2.0 / (nrbf - 1));
      double *row = B + (size_t)(3 + k) * n;
      for (size_t i = 0; i < n; i++) {
        double d = u[i] - c;
        row[i] = exp(-0.5 * (d * d) / sig2);
      }
    }
  }
  return RVS_OK;
}
