/* rvs_synth_grid: write a grid of synthetic stellar spectra in the layout
 * upstream rvspecfit reads from PHOENIX (see src/synth/grid_writer.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rvs/log.h"
#include "rvs/status.h"
#include "synth/grid_writer.h"
#include "synth/synth.h"

static void usage(FILE *out) {
  fprintf(out,
          "Usage: rvs_synth_grid --outdir DIR [options]\n"
          "Synthesise a grid of stellar spectra (surface flux, erg/s/cm^2/cm, vacuum\n"
          "wavelengths, log-uniform) as DIR/WAVE_SYNTH.fits plus one FITS image per\n"
          "spectrum DIR/Z<feh>.A<alpha>/synth_t<teff>_g<logg>_z<feh>_a<alpha>.fits with\n"
          "keys PHXTEFF PHXLOGG PHXM_H PHXALPHA (read by rvs_read_grid --prefix DIR/).\n"
          "\n"
          "Options (axis values: a list v1,v2,... or start:stop:step, stop included):\n"
          "  --outdir DIR        output directory (required)\n"
          "  --preset NAME       default | tiny (default: default); explicit axes override\n"
          "                      the preset's.  default: Teff 3000-4000/250, 4500-7000/500,\n"
          "                      8000,10000,12000; logg 0:5:1; [Fe/H] -2.5:0.5:1;\n"
          "                      [a/Fe] 0:0.8:0.4.  tiny: Teff 5500,6000; logg 4,4.5;\n"
          "                      [Fe/H] -0.5,0; [a/Fe] 0\n"
          "  --teff LIST         effective temperatures (K), 2000-60000\n"
          "  --logg LIST         surface gravities (cgs)\n"
          "  --feh LIST          [Fe/H]\n"
          "  --alpha LIST        [alpha/Fe] (O Ne Mg Si S Ca Ti)\n"
          "  --resolution R      log-uniform step ln(1+1/R) (default 100000)\n"
          "  --wmin A            first vacuum wavelength (default 3500)\n"
          "  --wmax A            last vacuum wavelength (default 10000)\n"
          "  --vmicro KMS        microturbulence (default: 2.2-0.27 logg, +0.6 when hot,\n"
          "                      clipped to 0.8..3)\n"
          "  --linelist PATH     GALAH-format HDF5 line list.  Default, first that exists:\n"
          "                      $RVS_SHARED_DATA/linelists/galah_dr3_linelist.h5,\n"
          "                      %s (set at build time),\n"
          "                      <source tree>/../shared/data/linelists/galah_dr3_linelist.h5\n"
          "  --extra-lines PATH  companion list of lines outside the GALAH windows.\n"
          "                      Default: $RVS_SYNTH_EXTRA_LINES, else\n"
          "                      <source tree>/data/linelists/synth_extra_lines.txt, else\n"
          "                      synth_extra_lines.txt beside the HDF5 list; 'none' for none\n"
          "  --nthreads N        OpenMP threads (default: all)\n"
          "  --overwrite         rewrite existing files (default: keep existing spectra,\n"
          "                      so an interrupted run resumes)\n"
          "  --quiet             log warnings only\n"
          "  --help, --version\n",
          rvs_synth_default_linelist_path(NULL, 0));
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"outdir", required_argument, 0, 'o'},     {"preset", required_argument, 0, 'p'},
      {"teff", required_argument, 0, 't'},       {"logg", required_argument, 0, 'g'},
      {"feh", required_argument, 0, 'z'},        {"alpha", required_argument, 0, 'a'},
      {"resolution", required_argument, 0, 'R'}, {"wmin", required_argument, 0, 'w'},
      {"wmax", required_argument, 0, 'W'},       {"vmicro", required_argument, 0, 'm'},
      {"linelist", required_argument, 0, 'l'},   {"extra-lines", required_argument, 0, 'e'},
      {"nthreads", required_argument, 0, 'n'},   {"overwrite", no_argument, 0, 'O'},
      {"quiet", no_argument, 0, 'q'},            {"help", no_argument, 0, 'h'},
      {"version", no_argument, 0, 'V'},          {0, 0, 0, 0}};
  const char *outdir = NULL, *preset = "default", *linelist = NULL, *extra = NULL;
  const char *axis_spec[4] = {NULL, NULL, NULL, NULL};
  rvs_synth_grid_opts go = {NULL, 3500.0, 10000.0, 100000.0, 0, 0, 0.0};
  int quiet = 0, c, li = 0;
  while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
    char *end = NULL;
    switch (c) {
    case 'o': outdir = optarg; break;
    case 'p': preset = optarg; break;
    case 't': axis_spec[0] = optarg; break;
    case 'g': axis_spec[1] = optarg; break;
    case 'z': axis_spec[2] = optarg; break;
    case 'a': axis_spec[3] = optarg; break;
    case 'R': go.resolution = strtod(optarg, &end); break;
    case 'w': go.wmin = strtod(optarg, &end); break;
    case 'W': go.wmax = strtod(optarg, &end); break;
    case 'm': go.vmicro = strtod(optarg, &end); break;
    case 'l': linelist = optarg; break;
    case 'e': extra = optarg; break;
    case 'n': go.nthreads = (int)strtol(optarg, &end, 10); break;
    case 'O': go.overwrite = 1; break;
    case 'q': quiet = 1; break;
    case 'h': usage(stdout); return 0;
    case 'V': printf("rvs_synth_grid (rvspecfit-c) synthesis %s\n", RVS_SYNTH_VERSION); return 0;
    default: usage(stderr); return 2;
    }
    if (end && *end) {
      fprintf(stderr, "rvs_synth_grid: --%s: not a number: '%s'\n", opts[li].name, optarg);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "rvs_synth_grid: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (!outdir) {
    fprintf(stderr, "rvs_synth_grid: --outdir is required (see --help)\n");
    return 2;
  }
  if (!(go.resolution > 1000) || !(go.wmin > 0) || !(go.wmax > go.wmin)) {
    fprintf(stderr, "rvs_synth_grid: bad --resolution/--wmin/--wmax\n");
    return 2;
  }
  rvs_set_log_level(quiet ? RVS_LOG_WARNING : RVS_LOG_INFO);
  go.outdir = outdir;
  rvs_synth_axes ax;
  if (rvs_synth_preset(preset, &ax)) {
    fprintf(stderr, "rvs_synth_grid: %s\n", rvs_last_error());
    return 2;
  }
  double *vals[4] = {ax.teff, ax.logg, ax.feh, ax.alpha};
  size_t *cnt[4] = {&ax.nteff, &ax.nlogg, &ax.nfeh, &ax.nalpha};
  for (int i = 0; i < 4; i++)
    if (axis_spec[i] && rvs_synth_parse_axis(axis_spec[i], vals[i], cnt[i], RVS_SYNTH_MAX_NODES)) {
      fprintf(stderr, "rvs_synth_grid: %s\n", rvs_last_error());
      return 2;
    }
  char def[4096], ebuf[4096];
  if (!linelist) linelist = rvs_synth_default_linelist_path(def, sizeof def);
  if (!extra) extra = rvs_synth_find_extra_lines(linelist, ebuf, sizeof ebuf);
  else if (strcmp(extra, "none") == 0) extra = "";
  rvs_synth_linelist *ll = NULL;
  if (rvs_synth_linelist_load2(linelist, extra, &ll)) {
    fprintf(stderr, "rvs_synth_grid: %s\n", rvs_last_error());
    return 1;
  }
  size_t nspec = ax.nteff * ax.nlogg * ax.nfeh * ax.nalpha;
  rvs_log(RVS_LOG_INFO, "%zu lines (%s%s%s); %zu spectra (%zu Teff x %zu logg x %zu [Fe/H] x %zu [a/Fe])",
          rvs_synth_linelist_size(ll), linelist, extra[0] ? " + " : "", extra, nspec, ax.nteff,
          ax.nlogg, ax.nfeh, ax.nalpha);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  size_t nw = 0, ns = 0;
  int rc = rvs_synth_make_grid(ll, &ax, &go, &nw, &ns);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  rvs_synth_linelist_free(ll);
  if (rc) {
    fprintf(stderr, "rvs_synth_grid: %s\n", rvs_last_error());
    return 1;
  }
  double dt = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
  rvs_log(RVS_LOG_INFO, "wrote %zu spectra (%zu kept) in %s in %.1f s", nw, ns, outdir, dt);
  return 0;
}
