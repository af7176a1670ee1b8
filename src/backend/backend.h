/* The batch-evaluation backend interface (DESIGN.md "The batch interface").
 *
 * A backend holds prepared spectra ("slots": per arm the data, 1/sigma, the
 * continuum basis, the resolution band, the template setup) and evaluates
 * batches of rvs_eval_request from many fits at once.  The CPU backend
 * (src/backend/cpu) and the CUDA backend (src/backend/cuda) implement it; the
 * fit state machines and the drivers see only this interface. */
#ifndef RVS_BACKEND_H
#define RVS_BACKEND_H

#include "core/resolution.h"
#include "rvs/spectrum.h"
#include "fit/eval.h"
#include "templates/library.h"

#include <stddef.h>

typedef struct rvs_backend rvs_backend;
struct rvs_backend {
  const char *name;
  /* Prepare a spectrum; *slot receives its handle. */
  int (*add_slot)(rvs_backend *b, const rvs_spectrum *spec, int *slot);
  void (*remove_slot)(rvs_backend *b, int slot);
  /* Fill res[i] for req[i], i < n.  Per-request failures go into res[i].status;
   * the return value is an error only when the whole call failed. */
  int (*evaluate)(rvs_backend *b, const rvs_eval_request *req, size_t n, rvs_eval_result *res);
  /* Model of arm `arm` (n values) from the last RVS_EVAL_FULL request of the slot. */
  int (*get_model)(rvs_backend *b, int slot, int arm, double *model);
  void (*destroy)(rvs_backend *b);
  void *impl;
};

typedef struct rvs_backend_options {
  int npoly;            /* continuum basis functions (DESI: 10) */
  int rbf_continuum;    /* 1: monomials + RBFs (default), 0: Chebyshev */
  int outside_penalty;  /* 1 (default) */
  double min_vel, max_vel; /* template coverage is checked for this range */
  int nthreads;         /* OpenMP threads (0: default) */
} rvs_backend_options;

void rvs_backend_options_default(rvs_backend_options *o);

/* CPU backend over a loaded template library (every setup used by the
 * spectra must be loaded in `lib` before evaluate is called in parallel). */
int rvs_backend_cpu_create(rvs_template_lib *lib, const rvs_backend_options *opt,
                           rvs_backend **out);

#endif
