/* The small template library of the CCF tests (test_ccf_bank.c,
 * test_ccf_batch.c): 18 templates (teff x logg x feh) of a continuum times
 * absorption lines whose depths depend on the parameters, log-uniform lambda. */
#ifndef RVS_CCF_TEST_UTIL_H
#define RVS_CCF_TEST_UTIL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "templates/ccf_bank.h"

#define CTU_NPIXT 12000
#define CTU_NT 18

/* logg_amp: extra line depth logg_amp * ilogg * cos(q), so that logg changes
 * the depths as well as the widths (0: widths only). */
static inline rvs_specs ctu_make_lib(int float_bits, double logg_amp) {
  rvs_specs s;
  memset(&s, 0, sizeof s);
  static const double teff[] = {4500, 5500, 6500}, logg[] = {2, 3.5, 5}, feh[] = {-1, 0};
  s.nspec = CTU_NT;
  s.npix = CTU_NPIXT;
  s.nparam = 3;
  s.vec = malloc(3 * CTU_NT * sizeof(double));
  s.specs = malloc(CTU_NT * (size_t)CTU_NPIXT * sizeof(double));
  s.lam = malloc(CTU_NPIXT * sizeof(double));
  s.log_step = 1;
  s.log_spec = 1;
  s.float_bits = float_bits;
  static char *names[] = {"teff", "logg", "feh"};
  s.parnames = names;
  for (int j = 0; j < CTU_NPIXT; j++) s.lam[j] = 4950 * exp(1.6e-5 * j);
  int k = 0;
  for (int a = 0; a < 3; a++)
    for (int b = 0; b < 3; b++)
      for (int c = 0; c < 2; c++, k++) {
        s.vec[0 * CTU_NT + k] = teff[a];
        s.vec[1 * CTU_NT + k] = logg[b];
        s.vec[2 * CTU_NT + k] = feh[c];
        for (int j = 0; j < CTU_NPIXT; j++) {
          double l = s.lam[j];
          double lnf = log(1e3 * (1 + 0.2 * (l - 5500) / 500)) -
                       0.3 * (teff[a] / 5500) * ((l - 5500) / 600) * ((l - 5500) / 600);
          double line = 0;
          for (int q = 0; q < 60; q++) {
            double c0 = 5000 + 16.3 * q + 3 * sin(q * 1.7);
            double depth = 0.3 + 0.2 * sin(q + a) + 0.1 * (feh[c] + 1) + logg_amp * b * cos(q);
            double t = (l - c0) / (0.15 + 0.05 * b);
            line += depth * exp(-0.5 * t * t);
          }
          s.specs[(size_t)k * CTU_NPIXT + (size_t)j] = lnf - line;
        }
      }
  return s;
}

static inline void ctu_free_lib(rvs_specs *s) {
  free(s->vec);
  free(s->specs);
  free(s->lam);
}

#endif
