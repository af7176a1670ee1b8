/* Shared per-wavelength-grid arrays of a backend: the continuum basis B and
 * ln(lambda).  Every fiber of a DESI arm has the same wavelength grid, so a
 * backend that takes thousands of spectra per second computes them once per
 * grid instead of once per spectrum (about 60,000 exp() per spectrum).
 * Entries are looked up by content (n, P, kind and the wavelengths
 * themselves) and live until the cache is freed.  Not thread-safe: one cache
 * per backend, used from the thread that adds spectra. */
#ifndef RVS_CORE_BASIS_CACHE_H
#define RVS_CORE_BASIS_CACHE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rvs_basis_entry {
  size_t n;
  int P, rbf;
  double *lam;        /* [n] the key */
  double *lnlam;      /* [n] ln lambda */
  double *B;          /* [P][n] rvs_continuum_basis */
  unsigned long long hash;
} rvs_basis_entry;

typedef struct rvs_basis_cache {
  rvs_basis_entry *e;
  int n, cap;
} rvs_basis_cache;

#define RVS_BASIS_CACHE_MAX 256 /* beyond this, callers compute their own arrays */

void rvs_basis_cache_init(rvs_basis_cache *c);
void rvs_basis_cache_free(rvs_basis_cache *c);

/* The entry for (lam, n, P, rbf): found, or computed and added.  *out is NULL
 * (with RVS_OK) when the cache is full; errors as rvs_continuum_basis or
 * RVS_ERR_NOMEM.  The entry's arrays stay valid until the cache is freed;
 * the entry pointer itself only until the next get. */
int rvs_basis_cache_get(rvs_basis_cache *c, const double *lam, size_t n, int P, int rbf,
                        const rvs_basis_entry **out);

#ifdef __cplusplus
}
#endif
#endif
