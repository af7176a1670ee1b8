/* A tiny analytic DESI template library for driver tests: setups desi_b,
 * desi_r, desi_z on upstream's DESI ranges (0.4 A log grid, 1000 km/s
 * padding), 2x2x2x2 templates whose ln-spectra are linear in the mapped
 * parameters (so the interpolators are exact), CCF banks with vsini 0,300,
 * and a config.yaml.  Built in-process in well under a second. */
#ifndef RVS_TEST_DESI_LIB_H
#define RVS_TEST_DESI_LIB_H

#include "templates/ccf_bank.h"
#include "templates/interp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static double tdl_ln_template(double l, const double *p) {
  double lt = log10(p[0]);
  double s = -0.4 * (l - 6000) / 3000 + 2.0 * (lt - 3.74) * (l - 6000) / 3000;
  /* a comb of lines whose depths react differently to each parameter */
  for (int k = 0; k < 60; k++) {
    double c = 3550 + 105.0 * k;
    double depth = 0.3 + (k % 3 - 1) * 1.5 * (lt - 3.74) + (k % 5 - 2) * 0.05 * (p[1] - 3.5) +
                   (k % 4 - 1.5) * 0.1 * (p[2] + 0.5) + (k % 2) * 0.2 * p[3];
    double w = 1.0 + 0.02 * (k % 7);
    double dx = (l - c) / w;
    if (fabs(dx) < 10) s -= depth * exp(-0.5 * dx * dx);
  }
  return s;
}

/* Build the library in `dir` (created); writes dir/config.yaml. */
static int tdl_build(const char *dir) {
  static const double TEFF[2] = {4500, 6500}, LOGG[2] = {2, 5}, FEH[2] = {-2, 0.5},
                      ALPHA[2] = {0, 0.4};
  static const double L0[3] = {3500, 5660, 7420}, L1[3] = {5900, 7720, 9924};
  static const char *names[3] = {"desi_b", "desi_r", "desi_z"};
  mkdir(dir, 0777);
  for (int arm = 0; arm < 3; arm++) {
    double fac = 1 + 1000 / 299792.458;
    double dl = log(1 + 0.4 / (0.5 * (L0[arm] + L1[arm])));
    size_t np = (size_t)ceil((log(L1[arm] * fac) - log(L0[arm] / fac)) / dl);
    rvs_specs s;
    memset(&s, 0, sizeof s);
    s.nspec = 16;
    s.npix = np;
    s.nparam = 4;
    s.specs = malloc(sizeof(double) * 16 * np);
    s.vec = malloc(sizeof(double) * 64);
    s.lam = malloc(sizeof(double) * np);
    s.lognorms = calloc(16, sizeof(double));
    s.file_ids = calloc(16, sizeof(long long));
    static char *pn[4] = {"teff", "logg", "feh", "alpha"};
    s.parnames = pn;
    s.log_step = 1;
    s.log_spec = 1;
    int log_ids[1] = {0};
    s.log_ids = log_ids;
    s.nlog_ids = 1;
    s.float_bits = 64;
    for (size_t i = 0; i < np; i++) s.lam[i] = exp(log(L0[arm] / fac) + (double)i * dl);
    for (int j = 0; j < 16; j++) {
      double p[4] = {TEFF[j & 1], LOGG[(j >> 1) & 1], FEH[(j >> 2) & 1], ALPHA[(j >> 3) & 1]};
      for (int k = 0; k < 4; k++) s.vec[k * 16 + j] = p[k];
      for (size_t i = 0; i < np; i++) s.specs[(size_t)j * np + i] = tdl_ln_template(s.lam[i], p);
    }
    char path[2048];
    rvs_interp *ip = NULL;
    int rc = rvs_interp_build_grid(&s, &ip);
    snprintf(path, sizeof path, "%s/interp_%s.h5", dir, names[arm]);
    if (!rc) rc = rvs_interp_save(ip, path);
    rvs_interp_free(ip);
    rvs_ccf_conf conf;
    rvs_ccf_bank *bank = NULL;
    if (!rc) rc = rvs_ccf_conf_init(&conf, L0[arm], L1[arm], 0.4, 1);
    const double vs[2] = {0, 300};
    if (!rc) rc = rvs_ccf_bank_build(&s, &conf, 1, vs, 2, 1, &bank);
    if (!rc) rc = rvs_ccf_file_name(dir, names[arm], 1, path, sizeof path);
    if (!rc) rc = rvs_ccf_bank_save(bank, path);
    rvs_ccf_bank_free(bank);
    free(s.specs); free(s.vec); free(s.lam); free(s.lognorms); free(s.file_ids);
    if (rc) return rc;
  }
  char cpath[2048];
  snprintf(cpath, sizeof cpath, "%s/config.yaml", dir);
  FILE *f = fopen(cpath, "w");
  if (!f) return -1;
  fprintf(f, "template_lib: '%s/'\nlsf_sigma0_angstrom:\n  b: 0.6582\n  r: 0.6582\n  z: 0.7644\n", dir);
  fclose(f);
  return 0;
}

#endif
