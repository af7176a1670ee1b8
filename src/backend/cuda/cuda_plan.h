/* Host-side batch planning of the CUDA backend, in plain C (header only, so
 * that the CPU-only build can unit-test it: tests/test_cuda_host_plan.c).
 *
 *  - Template de-duplication: every (setup, parameters, vsini) met in a batch
 *    gets one template id, whatever the request order, so the device builds
 *    each template once per pass (upstream's per-parameter cache, batch wide:
 *    a velocity grid, the same parameters in several arms of one setup, or
 *    one parameter grid evaluated for many spectra share one build).  Keys
 *    compare bit for bit (the CPU backend's runs compare with ==; the two
 *    differ only for -0.0 vs 0.0 and NaN, where a duplicate build is
 *    harmless).
 *  - Item ordering: a stable counting sort of (request, arm) work items by
 *    slot-arm, so that the warps of one block work on the same spectrum and
 *    share its data, basis and resolution band through the L1 cache. */
#ifndef RVS_BACKEND_CUDA_PLAN_H
#define RVS_BACKEND_CUDA_PLAN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fit/eval.h"
#include "rvs/status.h"

typedef struct rvs_cuda_tplkey {
  int setup;                 /* setup index inside the backend */
  int np;                    /* parameters used (the interpolator's count) */
  double vsini;
  double params[RVS_MAXPAR]; /* entries >= np are zero */
} rvs_cuda_tplkey;

typedef struct rvs_cuda_tplmap {
  size_t cap;           /* hash table size (power of two) */
  int *tab;             /* [cap]: key index or -1 */
  rvs_cuda_tplkey *keys; /* [kcap] in insertion order: id = index */
  size_t n, kcap;
} rvs_cuda_tplmap;

static inline void rvs_cuda_tplkey_make(rvs_cuda_tplkey *k, int setup, int np, double vsini,
                                        const double *params) {
  memset(k, 0, sizeof *k);
  k->setup = setup;
  k->np = np < 0 ? 0 : (np > RVS_MAXPAR ? RVS_MAXPAR : np);
  k->vsini = vsini;
  for (int i = 0; i < k->np; i++) k->params[i] = params[i];
}

static inline uint64_t rvs_cuda_mix64(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h *= 0xff51afd7ed558ccdULL;
  return h ^ (h >> 33);
}

static inline uint64_t rvs_cuda_tplkey_hash(const rvs_cuda_tplkey *k) {
  uint64_t h = (uint64_t)(uint32_t)k->setup * 0x100000001b3ULL + (uint64_t)(uint32_t)k->np;
  uint64_t bits;
  memcpy(&bits, &k->vsini, sizeof bits);
  h = rvs_cuda_mix64(h, bits);
  for (int i = 0; i < k->np; i++) {
    memcpy(&bits, &k->params[i], sizeof bits);
    h = rvs_cuda_mix64(h, bits);
  }
  return h;
}

static inline int rvs_cuda_tplkey_equal(const rvs_cuda_tplkey *a, const rvs_cuda_tplkey *b) {
  return a->setup == b->setup && a->np == b->np &&
         memcmp(&a->vsini, &b->vsini, sizeof a->vsini) == 0 &&
         memcmp(a->params, b->params, sizeof(double) * (size_t)a->np) == 0;
}

static inline void rvs_cuda_tplmap_free(rvs_cuda_tplmap *m) {
  free(m->tab);
  free(m->keys);
  memset(m, 0, sizeof *m);
}

/* Forget every key, keep the memory. */
static inline void rvs_cuda_tplmap_reset(rvs_cuda_tplmap *m) {
  if (m->tab)
    for (size_t i = 0; i < m->cap; i++) m->tab[i] = -1;
  m->n = 0;
}

static inline int rvs_cuda_tplmap_rehash(rvs_cuda_tplmap *m, size_t cap) {
  int *tab = (int *)malloc(sizeof(int) * cap);
  if (!tab) return rvs_error(RVS_ERR_NOMEM, "CUDA backend: no memory for the template map");
  for (size_t i = 0; i < cap; i++) tab[i] = -1;
  for (size_t id = 0; id < m->n; id++) {
    size_t j = (size_t)rvs_cuda_tplkey_hash(&m->keys[id]) & (cap - 1);
    while (tab[j] >= 0) j = (j + 1) & (cap - 1);
    tab[j] = (int)id;
  }
  free(m->tab);
  m->tab = tab;
  m->cap = cap;
  return RVS_OK;
}

/* Id of key k whose hash is h (rvs_cuda_tplkey_hash, computed ahead, e.g.
 * in parallel), adding it if new (*is_new = 1).  Ids are 0, 1, 2, ... in
 * order of first appearance. */
static inline int rvs_cuda_tplmap_get_hashed(rvs_cuda_tplmap *m, const rvs_cuda_tplkey *k,
                                             uint64_t h, int *id, int *is_new) {
  if (2 * (m->n + 1) > m->cap) {
    int rc = rvs_cuda_tplmap_rehash(m, m->cap ? 2 * m->cap : 1024);
    if (rc) return rc;
  }
  size_t j = (size_t)h & (m->cap - 1);
  while (m->tab[j] >= 0) {
    if (rvs_cuda_tplkey_equal(&m->keys[m->tab[j]], k)) {
      *id = m->tab[j];
      *is_new = 0;
      return RVS_OK;
    }
    j = (j + 1) & (m->cap - 1);
  }
  if (m->n == m->kcap) {
    size_t nc = m->kcap ? 2 * m->kcap : 1024;
    rvs_cuda_tplkey *nk = (rvs_cuda_tplkey *)realloc(m->keys, sizeof *nk * nc);
    if (!nk) return rvs_error(RVS_ERR_NOMEM, "CUDA backend: no memory for template keys");
    m->keys = nk;
    m->kcap = nc;
  }
  m->keys[m->n] = *k;
  m->tab[j] = (int)m->n;
  *id = (int)m->n;
  *is_new = 1;
  m->n++;
  return RVS_OK;
}

static inline int rvs_cuda_tplmap_get(rvs_cuda_tplmap *m, const rvs_cuda_tplkey *k, int *id,
                                      int *is_new) {
  return rvs_cuda_tplmap_get_hashed(m, k, rvs_cuda_tplkey_hash(k), id, is_new);
}

/* order[0..n-1]: the indices 0..n-1 sorted by key[i] (0 <= key < nkeys),
 * stable.  count: nkeys + 1 entries of scratch. */
static inline void rvs_cuda_order_by_key(const int *key, size_t n, int nkeys, size_t *count,
                                         size_t *order) {
  for (int k = 0; k <= nkeys; k++) count[k] = 0;
  for (size_t i = 0; i < n; i++) count[key[i] + 1]++;
  for (int k = 0; k < nkeys; k++) count[k + 1] += count[k];
  for (size_t i = 0; i < n; i++) order[count[key[i]]++] = i;
}

#endif
