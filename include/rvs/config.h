/* Run configuration (config.yaml), upstream rvspecfit's keys and defaults
 * (ALGORITHM.md §1.2).  A missing key takes the default; unknown keys are kept
 * (rvs_config_get) and logged at debug level. */
#ifndef RVS_CONFIG_H
#define RVS_CONFIG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RVS_CONFIG_MAX_ARMS 8
#define RVS_CONFIG_MAX_EXTRA 64

typedef struct rvs_config {
  char template_lib[4096];   /* directory with specs/interp/ccf files ('templ_data/') */
  double min_vel, max_vel;   /* km/s (-1000, 1000) */
  double vel_step0;          /* km/s, first velocity grid step (5) */
  double min_vel_step;       /* km/s, error-sampler stop rule (0.2) */
  double max_vsini;          /* km/s (500) */
  double min_vsini;          /* km/s (1e-2; unused by the fit, as upstream) */
  int second_minimizer;      /* BFGS after Nelder-Mead (1) */
  int ccf_continuum_normalize; /* 1 unless the key says otherwise */
  /* lsf_sigma0_angstrom: Gaussian sigma (A) already in the templates, per arm */
  int n_lsf;
  char lsf_arm[RVS_CONFIG_MAX_ARMS][64];
  double lsf_sigma0[RVS_CONFIG_MAX_ARMS];
  /* every other scalar key, verbatim */
  int n_extra;
  char extra_key[RVS_CONFIG_MAX_EXTRA][64];
  char extra_val[RVS_CONFIG_MAX_EXTRA][256];
  char config_file_path[4096]; /* absolute path of the file read ("" if defaults) */
} rvs_config;

/* Fill `cfg` with upstream's defaults. */
void rvs_config_defaults(rvs_config *cfg);

/* Read `path`.  path == NULL: read ./config.yaml if it exists, else keep the
 * defaults (a warning is logged), as upstream.  A given path that does not
 * exist, or a file that is not a YAML mapping, is an error naming the file. */
int rvs_config_read(const char *path, rvs_config *cfg);

/* LSF sigma0 for an arm ("b", "desi_b", ...): the configured value, or 0.5 with
 * a warning (upstream's fallback).  Returns the value. */
double rvs_config_lsf_sigma0(const rvs_config *cfg, const char *arm);

/* Verbatim value of an unknown key, or NULL. */
const char *rvs_config_get(const rvs_config *cfg, const char *key);

#ifdef __cplusplus
}
#endif
#endif
