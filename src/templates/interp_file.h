/* File names of the interpolator products (the reader/writer are
 * rvs_interp_load / rvs_interp_save in templates/interp.h; the format is
 * documented in docs/formats/interp_ccf.md). */
#ifndef RVS_TEMPLATES_INTERP_FILE_H
#define RVS_TEMPLATES_INTERP_FILE_H

#include <stddef.h>

#define RVS_INTERP_FORMAT "rvspecfit-c interp 1"

/* "<prefix>/interp_<setup>.h5" into buf; RVS_ERR_ARG if it does not fit. */
int rvs_interp_file_name(const char *prefix, const char *setup, char *buf, size_t cap);
/* "<prefix>/specs_<setup>.h5" (upstream make_interpol.SPECS_H5_NAME). */
int rvs_specs_file_name(const char *prefix, const char *setup, char *buf, size_t cap);

#endif
