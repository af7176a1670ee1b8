/* Continuum basis functions (ALGORITHM.md 3.6, upstream get_poly_basis). */
#ifndef RVS_CORE_BASIS_H
#define RVS_CORE_BASIS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* B is [npoly][n] row-major.  u = (lam - lam[0]) / (lam[n-1] - lam[0]) * 2 - 1.
 * rbf = 1: rows 0..min(3,npoly)-1 are u^0, u^1, u^2; the other npoly-3 rows
 *   are exp(-(u - c_k)^2 / (2 sigma^2)), c_k = linspace(-1, 1, npoly-3)
 *   (c = -1 alone when npoly-3 == 1, as numpy), sigma = 1/(npoly-3).
 * rbf = 0: Chebyshev T_0..T_{npoly-1}(u).
 * Needs n >= 2 and lam[n-1] != lam[0]; npoly >= 1. */
int rvs_continuum_basis(const double *lam, size_t n, int npoly, int rbf, double *B);

#ifdef __cplusplus
}
#endif
#endif
