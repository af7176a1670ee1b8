/* Fit one spectrum held in plain arrays with the rvspecfit-c library.
 *
 *   fit_arrays CONFIG.yaml SETUP SPECTRUM.txt
 *
 * SPECTRUM.txt has three columns: wavelength (Angstrom, increasing), flux,
 * flux error.  SETUP names the template set to use (e.g. desi_r): the
 * template_lib of CONFIG.yaml must hold interp_SETUP.h5 and ccf_SETUP.h5.
 * Build: cc fit_arrays.c $(pkg-config ...) -lrvspecfit... or, in this tree,
 * the target example_fit_arrays. */
#include "rvs/rvspecfit.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s CONFIG.yaml SETUP SPECTRUM.txt\n", argv[0]);
    return 2;
  }
  /* 1. read the arrays */
  FILE *f = fopen(argv[3], "r");
  if (!f) { fprintf(stderr, "%s: cannot open\n", argv[3]); return 1; }
  size_t n = 0, cap = 1024;
  double *lam = malloc(cap * sizeof *lam), *flux = malloc(cap * sizeof *flux),
         *err = malloc(cap * sizeof *err);
  while (lam && flux && err && fscanf(f, "%lf %lf %lf", &lam[n], &flux[n], &err[n]) == 3) {
    if (++n == cap) {
      cap *= 2;
      lam = realloc(lam, cap * sizeof *lam);
      flux = realloc(flux, cap * sizeof *flux);
      err = realloc(err, cap * sizeof *err);
    }
  }
  fclose(f);
  if (!lam || !flux || !err || n < 10) { fprintf(stderr, "%s: no data\n", argv[3]); return 1; }

  /* 2. a context on the template library named by the config */
  rvs_config cfg;
  rvs_context *ctx;
  if (rvs_config_read(argv[1], &cfg) || rvs_context_create(&cfg, NULL, &ctx)) {
    fprintf(stderr, "%s\n", rvs_last_error());
    return 1;
  }

  /* 3. one spectrum with one arm; sigma must be finite and > 0 everywhere */
  rvs_spectrum sp = {0};
  sp.narms = 1;
  sp.arms[0].setup = argv[2];
  sp.arms[0].n = n;
  sp.arms[0].lam = lam;
  sp.arms[0].flux = flux;
  sp.arms[0].sigma = err;

  /* 4. fit from the cross-correlation starting point */
  rvs_fit_output out;
  if (rvs_fit_one(ctx, &sp, NULL, &out)) {
    fprintf(stderr, "fit failed: %s\n", out.message[0] ? out.message : rvs_last_error());
    return 1;
  }
  const char *names[RVS_MAX_PARAMS];
  int np;
  rvs_context_parnames(ctx, argv[2], &np, names);
  printf("vrad = %.3f +- %.3f km/s (CCF %.1f)\n", out.vel, out.vel_err, out.vel_ccf);
  if (out.has_vsini) printf("vsini = %.2f km/s\n", out.vsini);
  for (int i = 0; i < np; i++) printf("%s = %.4g +- %.2g\n", names[i], out.param[i], out.param_err[i]);
  printf("chi2 = %.1f over %ld pixels (continuum only: %.1f), %ld likelihood evaluations\n",
         out.chisq_arm[0], out.npix_arm[0], out.chisq_c_arm[0], out.nevals);
  rvs_context_free(ctx);
  free(lam);
  free(flux);
  free(err);
  return 0;
}
