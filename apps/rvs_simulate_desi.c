/* rvs_simulate_desi: simulated DESI coadd (exact DESI layout) plus a truth
 * table, from a synthetic template grid written by rvs_synth_grid. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/atomic.h"
#include "rvs/log.h"
#include "rvs/status.h"
#include "sim/simulate.h"

#ifndef RVS_VERSION_STRING
#define RVS_VERSION_STRING "0.1.0"
#endif

static void usage(FILE *f, const char *prog) {
  fprintf(f,
          "Usage: %s --grid DIR --out COADD.fits [options]\n"
          "\n"
          "Simulate a DESI coadd file (HDUs, columns and dtypes as a real DESI coadd) of\n"
          "stars drawn from a synthetic template grid, with a truth table beside it.\n"
          "\n"
          "  --grid DIR          template grid: DIR/WAVE_SYNTH.fits + DIR/*/synth_*.fits (required)\n"
          "  --out FILE          output coadd file (required)\n"
          "  --truth FILE        truth table (default: truth-<basename of FILE> beside it)\n"
          "  --nfibers N         number of fibers (default 500; with --params: the number of\n"
          "                      stars, plus 3 with defects)\n"
          "  --seed S            random seed; same seed -> same data (default 1)\n"
          "  --sn-min X          smallest target median S/N per pixel in the R arm (default 2)\n"
          "  --sn-max X          largest target S/N, log-uniform in between (default 150)\n"
          "  --vrad-max V        radial velocities uniform in [-V, V] km/s (default 600)\n"
          "  --vsini-frac F      fraction of rotating stars (default 0.2)\n"
          "  --vsini-max V       their vsini uniform in [0, V] km/s (default 300)\n"
          "  --params FILE       star parameters, one line per fiber:\n"
          "                      'teff logg feh alpha vrad vsini sn' ('#' comments)\n"
          "  --interp MODE       raw (default): interpolate ln flux of the grid's full-\n"
          "                      resolution spectra, then rotate, shift, bin, apply the LSF\n"
          "                      (includes the template library's interpolation error);\n"
          "                      lsf-first: observe each grid corner through the LSF, then\n"
          "                      interpolate ln flux (off-node stars are in the fitter's\n"
          "                      model family: tests the fit alone)\n"
          "  --no-defects        no cosmic rays, NaN/ivar=0 stretches, sky, galaxy or dead fiber\n"
          "  --nthreads N        OpenMP threads (default: all)\n"
          "  --tileid N          TILEID (default 90001)\n"
          "  --petal N           petal 0..9; FIBER = 500*petal + row (default 4)\n"
          "  --night YYYYMMDD    NIGHT (default 20240315)\n"
          "  --log_level L       DEBUG, INFO, WARNING or ERROR (default WARNING)\n"
          "  --help              show this help and exit\n"
          "  --version           show the version and exit\n",
          prog);
}

static int parse_double(const char *opt, const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || errno) {
    fprintf(stderr, "rvs_simulate_desi: --%s: not a number: '%s'\n", opt, s);
    return -1;
  }
  *out = v;
  return 0;
}

static int parse_long(const char *opt, const char *s, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (end == s || *end || errno) {
    fprintf(stderr, "rvs_simulate_desi: --%s: not an integer: '%s'\n", opt, s);
    return -1;
  }
  *out = v;
  return 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  const char *grid_dir = NULL, *out = NULL, *truth = NULL, *params = NULL;
  rvs_sim_options o;
  rvs_sim_options_default(&o);
  int nfibers_given = 0;
  static const struct option opts[] = {{"grid", required_argument, 0, 'g'},
                                       {"out", required_argument, 0, 'o'},
                                       {"truth", required_argument, 0, 't'},
                                       {"nfibers", required_argument, 0, 'n'},
                                       {"seed", required_argument, 0, 's'},
                                       {"sn-min", required_argument, 0, 1},
                                       {"sn-max", required_argument, 0, 2},
                                       {"vrad-max", required_argument, 0, 3},
                                       {"vsini-frac", required_argument, 0, 4},
                                       {"vsini-max", required_argument, 0, 5},
                                       {"params", required_argument, 0, 'p'},
                                       {"no-defects", no_argument, 0, 6},
                                       {"nthreads", required_argument, 0, 7},
                                       {"tileid", required_argument, 0, 8},
                                       {"petal", required_argument, 0, 9},
                                       {"night", required_argument, 0, 10},
                                       {"interp", required_argument, 0, 11},
                                       {"log_level", required_argument, 0, 'l'},
                                       {"help", no_argument, 0, 'h'},
                                       {"version", no_argument, 0, 'V'},
                                       {0, 0, 0, 0}};
  int c, bad = 0;
  long long iv;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'g': grid_dir = optarg; break;
      case 'o': out = optarg; break;
      case 't': truth = optarg; break;
      case 'p': params = optarg; break;
      case 'n':
        if (parse_long("nfibers", optarg, &iv)) return 2;
        if (iv <= 0) {
          fprintf(stderr, "rvs_simulate_desi: --nfibers must be positive\n");
          return 2;
        }
        o.nfibers = (size_t)iv;
        nfibers_given = 1;
        break;
      case 's':
        if (parse_long("seed", optarg, &iv)) return 2;
        o.seed = (uint64_t)iv;
        break;
      case 1: bad |= parse_double("sn-min", optarg, &o.sn_min); break;
      case 2: bad |= parse_double("sn-max", optarg, &o.sn_max); break;
      case 3: bad |= parse_double("vrad-max", optarg, &o.vrad_max); break;
      case 4: bad |= parse_double("vsini-frac", optarg, &o.vsini_frac); break;
      case 5: bad |= parse_double("vsini-max", optarg, &o.vsini_max); break;
      case 6: o.defects = 0; break;
      case 7:
        if (parse_long("nthreads", optarg, &iv)) return 2;
        o.nthreads = (int)iv;
        break;
      case 8:
        if (parse_long("tileid", optarg, &iv)) return 2;
        o.tileid = iv;
        break;
      case 9:
        if (parse_long("petal", optarg, &iv)) return 2;
        o.petal = (int)iv;
        break;
      case 10:
        if (parse_long("night", optarg, &iv)) return 2;
        o.night = (int)iv;
        break;
      case 11: {
        int m = rvs_sim_interp_parse(optarg);
        if (m < 0) {
          fprintf(stderr, "rvs_simulate_desi: --interp: unknown mode '%s' (raw, lsf-first)\n",
                  optarg);
          return 2;
        }
        o.interp = (rvs_sim_interp)m;
        break;
      }
      case 'l': {
        int lv = rvs_parse_log_level(optarg);
        if (lv < 0) {
          fprintf(stderr, "rvs_simulate_desi: --log_level: unknown level '%s'\n", optarg);
          return 2;
        }
        rvs_set_log_level(lv);
        break;
      }
      case 'h': usage(stdout, argv[0]); return 0;
      case 'V': printf("rvs_simulate_desi (rvspecfit-c) %s\n", RVS_VERSION_STRING); return 0;
      default: usage(stderr, argv[0]); return 2;
    }
  }
  if (bad) return 2;
  if (optind < argc) {
    fprintf(stderr, "rvs_simulate_desi: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (!grid_dir || !out) {
    fprintf(stderr, "rvs_simulate_desi: --grid and --out are required (see --help)\n");
    return 2;
  }
  char truth_buf[4096];
  if (!truth) {
    if (rvs_sim_default_truth_path(out, truth_buf, sizeof truth_buf)) {
      fprintf(stderr, "rvs_simulate_desi: %s\n", rvs_last_error());
      return 2;
    }
    truth = truth_buf;
  }
  rvs_sim_star *stars = NULL;
  size_t nstars = 0;
  if (params) {
    if (rvs_sim_read_params(params, &stars, &nstars)) {
      fprintf(stderr, "rvs_simulate_desi: %s\n", rvs_last_error());
      return 1;
    }
    o.stars = stars;
    o.nstars = nstars;
    if (!nfibers_given) o.nfibers = 0;
  }

  /* Create the output folders (as upstream's tools do). */
  const char *paths[2] = {out, truth};
  for (int k = 0; k < 2; k++) {
    const char *slash = strrchr(paths[k], '/');
    if (!slash || slash == paths[k]) continue;
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - paths[k]), paths[k]);
    if (rvs_mkdir_p(dir)) {
      fprintf(stderr, "rvs_simulate_desi: %s: cannot create the output folder\n", dir);
      free(stars);
      return 1;
    }
  }

  double t0 = now();
  double wmin, wmax;
  rvs_sim_needed_range(&o, &wmin, &wmax);
  rvs_sim_grid grid;
  if (rvs_sim_grid_load(grid_dir, wmin, wmax, o.nthreads, &grid)) {
    fprintf(stderr, "rvs_simulate_desi: %s\n", rvs_last_error());
    free(stars);
    return 1;
  }
  double t1 = now();
  rvs_log(RVS_LOG_INFO, "loaded %zu grid spectra of %zu pixels in %.1f s", grid.nspec,
          grid.npix, t1 - t0);
  rvs_sim_result res;
  int rc = rvs_sim_run(&grid, &o, &res);
  rvs_sim_grid_free(&grid);
  free(stars);
  if (rc) {
    fprintf(stderr, "rvs_simulate_desi: %s\n", rvs_last_error());
    return 1;
  }
  double t2 = now();
  rvs_log(RVS_LOG_INFO, "simulated %zu fibers in %.1f s", res.nfibers, t2 - t1);
  rc = rvs_sim_write_coadd(&res, out, grid_dir);
  if (!rc && (rc = rvs_sim_write_truth(&res, truth, out)) != 0) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", rvs_last_error());
    remove(out); /* a coadd without its truth table is of no use */
    rvs_error(rc, "%s", msg);
  }
  if (rc) {
    fprintf(stderr, "rvs_simulate_desi: %s\n", rvs_last_error());
    rvs_sim_result_free(&res);
    return 1;
  }
  rvs_log(RVS_LOG_INFO, "wrote %s and %s in %.1f s (total %.1f s)", out, truth, now() - t2,
          now() - t0);
  rvs_sim_result_free(&res);
  return 0;
}
