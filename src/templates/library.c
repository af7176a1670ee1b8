#include "templates/library.h"

#include "rvs/status.h"

#include <stdio.h>
#include <string.h>

int rvs_template_lib_open(rvs_template_lib *lib, const char *dir) {
  memset(lib, 0, sizeof *lib);
  if (!dir || !dir[0]) return rvs_error(RVS_ERR_ARG, "template library: empty folder name");
  if (strlen(dir) >= sizeof lib->dir) return rvs_error(RVS_ERR_ARG, "%s: path too long", dir);
  strcpy(lib->dir, dir);
  return RVS_OK;
}

const rvs_interp *rvs_template_lib_find(const rvs_template_lib *lib, const char *setup) {
  for (int i = 0; i < lib->nsetups; i++)
    if (strcmp(lib->setup[i], setup) == 0) return lib->interp[i];
  return NULL;
}

int rvs_template_lib_interp(rvs_template_lib *lib, const char *setup, rvs_interp **out) {
  for (int i = 0; i < lib->nsetups; i++)
    if (strcmp(lib->setup[i], setup) == 0) {
      *out = lib->interp[i];
      return RVS_OK;
    }
  if (lib->nsetups >= RVS_LIB_MAX_SETUPS)
    return rvs_error(RVS_ERR_ARG, "template library %s: more than %d setups", lib->dir,
                     RVS_LIB_MAX_SETUPS);
  if (strlen(setup) >= sizeof lib->setup[0])
    return rvs_error(RVS_ERR_ARG, "setup name '%s' too long", setup);
  char path[4200];
  /* upstream joins template_lib + file name; accept the folder with or without '/' */
  size_t len = strlen(lib->dir);
  snprintf(path, sizeof path, "%s%sinterp_%s.h5", lib->dir,
           (len && lib->dir[len - 1] == '/') ? "" : "/", setup);
  rvs_interp *ip = NULL;
  int rc = rvs_interp_load(path, &ip);
  if (rc) return rc;
  strcpy(lib->setup[lib->nsetups], setup);
  lib->interp[lib->nsetups++] = ip;
  *out = ip;
  return RVS_OK;
}

int rvs_template_lib_ccf(rvs_template_lib *lib, const char *setup, int continuum,
                         rvs_ccf_bank **out) {
  for (int i = 0; i < lib->nccf; i++)
    if (strcmp(lib->ccf_setup[i], setup) == 0 && lib->ccf_continuum[i] == continuum) {
      *out = lib->ccf[i];
      return RVS_OK;
    }
  if (lib->nccf >= RVS_LIB_MAX_SETUPS)
    return rvs_error(RVS_ERR_ARG, "template library %s: more than %d CCF banks", lib->dir,
                     RVS_LIB_MAX_SETUPS);
  if (strlen(setup) >= sizeof lib->ccf_setup[0])
    return rvs_error(RVS_ERR_ARG, "setup name '%s' too long", setup);
  char path[4200];
  int rc = rvs_ccf_file_name(lib->dir, setup, continuum, path, sizeof path);
  if (rc) return rc;
  rvs_ccf_bank *b = NULL;
  if ((rc = rvs_ccf_bank_load(path, &b))) return rc;
  strcpy(lib->ccf_setup[lib->nccf], setup);
  lib->ccf_continuum[lib->nccf] = continuum;
  lib->ccf[lib->nccf++] = b;
  *out = b;
  return RVS_OK;
}

void rvs_template_lib_close(rvs_template_lib *lib) {
  for (int i = 0; i < lib->nsetups; i++) rvs_interp_free(lib->interp[i]);
  for (int i = 0; i < lib->nccf; i++) rvs_ccf_bank_free(lib->ccf[i]);
  lib->nsetups = 0;
  lib->nccf = 0;
}
