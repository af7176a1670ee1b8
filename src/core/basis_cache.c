#include "core/basis_cache.h"

#include "core/basis.h"
#include "rvs/status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void rvs_basis_cache_init(rvs_basis_cache *c) { memset(c, 0, sizeof *c); }

void rvs_basis_cache_free(rvs_basis_cache *c) {
  for (int i = 0; i < c->n; i++) {
    free(c->e[i].lam);
    free(c->e[i].lnlam);
    free(c->e[i].B);
  }
  free(c->e);
  memset(c, 0, sizeof *c);
}

/* FNV-1a over the bytes of the wavelengths: a cheap first test before memcmp */
static unsigned long long hash_lam(const double *lam, size_t n) {
  const unsigned char *p = (const unsigned char *)lam;
  unsigned long long h = 1469598103934665603ULL;
  for (size_t i = 0; i < n * sizeof(double); i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

int rvs_basis_cache_get(rvs_basis_cache *c, const double *lam, size_t n, int P, int rbf,
                        const rvs_basis_entry **out) {
  *out = NULL;
  unsigned long long h = hash_lam(lam, n);
  for (int i = 0; i < c->n; i++) {
    const rvs_basis_entry *e = &c->e[i];
    if (e->n == n && e->P == P && e->rbf == rbf && e->hash == h &&
        memcmp(e->lam, lam, n * sizeof(double)) == 0) {
      *out = e;
      return RVS_OK;
    }
  }
  if (c->n >= RVS_BASIS_CACHE_MAX) return RVS_OK;
  if (c->n == c->cap) {
    int nc = c->cap ? 2 * c->cap : 8;
    rvs_basis_entry *ne = realloc(c->e, sizeof *ne * (size_t)nc);
    if (!ne) return rvs_error(RVS_ERR_NOMEM, "basis cache: no memory");
    c->e = ne;
    c->cap = nc;
  }
  rvs_basis_entry e;
  memset(&e, 0, sizeof e);
  e.n = n;
  e.P = P;
  e.rbf = rbf;
  e.hash = h;
  e.lam = malloc(n * sizeof(double));
  e.lnlam = malloc(n * sizeof(double));
  e.B = malloc(n * (size_t)P * sizeof(double));
  int rc = RVS_OK;
  if (!e.lam || !e.lnlam || !e.B) rc = rvs_error(RVS_ERR_NOMEM, "basis cache: no memory");
  if (!rc) {
    memcpy(e.lam, lam, n * sizeof(double));
    for (size_t i = 0; i < n; i++) e.lnlam[i] = log(lam[i]);
    rc = rvs_continuum_basis(lam, n, P, rbf, e.B);
  }
  if (rc) {
    free(e.lam);
    free(e.lnlam);
    free(e.B);
    return rc;
  }
  c->e[c->n] = e;
  *out = &c->e[c->n++];
  return RVS_OK;
}
