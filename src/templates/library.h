/* The template library of a run: the folder `template_lib` of config.yaml,
 * holding interp_<setup>.h5 (our interpolators) and ccf_<setup>.h5 (CCF
 * banks).  Interpolators are loaded once per setup, on first use, and shared
 * read-only by every thread and every spectrum. */
#ifndef RVS_TEMPLATES_LIBRARY_H
#define RVS_TEMPLATES_LIBRARY_H

#include "templates/ccf_bank.h"
#include "templates/interp.h"

#define RVS_LIB_MAX_SETUPS 16

typedef struct rvs_template_lib {
  char dir[4096];
  int nsetups;
  char setup[RVS_LIB_MAX_SETUPS][64];
  rvs_interp *interp[RVS_LIB_MAX_SETUPS];
  int nccf;
  char ccf_setup[RVS_LIB_MAX_SETUPS][64];
  int ccf_continuum[RVS_LIB_MAX_SETUPS];
  rvs_ccf_bank *ccf[RVS_LIB_MAX_SETUPS];
} rvs_template_lib;

/* Remember the folder (no file is read yet). */
int rvs_template_lib_open(rvs_template_lib *lib, const char *dir);

/* The interpolator of `setup` (loaded on first call: not thread-safe; load
 * every setup before fitting in parallel). */
int rvs_template_lib_interp(rvs_template_lib *lib, const char *setup, rvs_interp **out);

/* Already-loaded interpolator, or NULL (thread-safe). */
const rvs_interp *rvs_template_lib_find(const rvs_template_lib *lib, const char *setup);

/* The CCF bank of `setup` (ccf_<setup>.h5, or ccf_nocont_<setup>.h5 when
 * continuum == 0), loaded on first call (not thread-safe). */
int rvs_template_lib_ccf(rvs_template_lib *lib, const char *setup, int continuum,
                         rvs_ccf_bank **out);

void rvs_template_lib_close(rvs_template_lib *lib);

#endif
