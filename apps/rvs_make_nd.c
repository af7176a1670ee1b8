/* rvs_make_nd: build the N-D interpolator of a template library (upstream
 * rvs_make_nd / make_nd.py): <prefix>/specs_<setup>.h5 -> <prefix>/interp_<setup>.h5. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rvs/log.h"
#include "rvs/status.h"
#include "templates/interp.h"
#include "templates/interp_file.h"
#include "templates/specs_file.h"

#ifndef RVS_VERSION_STRING
#define RVS_VERSION_STRING "0.1.0"
#endif

static void usage(FILE *f, const char *prog) {
  fprintf(f,
          "Usage: %s --prefix DIR --setup NAME [--regulargrid] [--exact_nodes] [--revision TEXT]\n"
          "\n"
          "Create the N-D spectral interpolator of a template library: reads\n"
          "DIR/specs_NAME.h5 (from rvs_make_interpol) and writes DIR/interp_NAME.h5.\n"
          "\n"
          "  --prefix DIR      location of the convolved input spectra and of the output (required)\n"
          "  --setup NAME      name of the spectral configuration, e.g. desi_b (required)\n"
          "  --regulargrid     multilinear interpolation on the regular grid of the\n"
          "                    parameters (default: linear interpolation on a Delaunay\n"
          "                    triangulation with a padded bounding box)\n"
          "  --exact_nodes     triangulation weights from the true template positions\n"
          "                    (grid nodes reproduced exactly); default: upstream's\n"
          "                    weights from its jittered points, which reproduce\n"
          "                    upstream rvspecfit's interpolated templates\n"
          "  --revision TEXT   revision of the data files/run, stored in the output (default '')\n"
          "  --log_level L     DEBUG, INFO, WARNING or ERROR (default WARNING)\n"
          "  --help            show this help and exit\n"
          "  --version         show the version and exit\n",
          prog);
}

/* shlex.join-like quoting of argv, for the provenance field. */
static char *join_cmdline(int argc, char **argv) {
  size_t cap = 1;
  for (int i = 0; i < argc; i++) cap += 4 * strlen(argv[i]) + 3;
  char *s = malloc(cap), *p = s;
  if (!s) return NULL;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    int plain = a[0] != 0;
    for (const char *c = a; *c; c++)
      if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_", *c))
        plain = 0;
    if (i) *p++ = ' ';
    if (plain) {
      p += sprintf(p, "%s", a);
    } else {
      *p++ = '\'';
      for (const char *c = a; *c; c++) {
        if (*c == '\'') p += sprintf(p, "'\"'\"'");
        else *p++ = *c;
      }
      *p++ = '\'';
    }
  }
  *p = 0;
  return s;
}

int main(int argc, char **argv) {
  const char *prefix = NULL, *setup = NULL, *revision = "";
  int regular = 0, exact_nodes = 0;
  static const struct option opts[] = {{"prefix", required_argument, 0, 'p'},
                                       {"setup", required_argument, 0, 's'},
                                       {"regulargrid", no_argument, 0, 'g'},
                                       {"exact_nodes", no_argument, 0, 'x'},
                                       {"revision", required_argument, 0, 'r'},
                                       {"log_level", required_argument, 0, 'l'},
                                       {"help", no_argument, 0, 'h'},
                                       {"version", no_argument, 0, 'V'},
                                       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'p': prefix = optarg; break;
      case 's': setup = optarg; break;
      case 'g': regular = 1; break;
      case 'x': exact_nodes = 1; break;
      case 'r': revision = optarg; break;
      case 'l': {
        int lv = rvs_parse_log_level(optarg);
        if (lv < 0) {
          fprintf(stderr, "%s: unknown --log_level '%s'\n", argv[0], optarg);
          return 2;
        }
        rvs_set_log_level(lv);
        break;
      }
      case 'h': usage(stdout, argv[0]); return 0;
      case 'V': printf("rvs_make_nd (rvspecfit-c) %s\n", RVS_VERSION_STRING); return 0;
      default: usage(stderr, argv[0]); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
    return 2;
  }
  if (!prefix || !setup) {
    fprintf(stderr, "%s: --prefix and --setup are required (see --help)\n", argv[0]);
    return 2;
  }
  char inpath[4096], outpath[4096];
  if (rvs_specs_file_name(prefix, setup, inpath, sizeof inpath) ||
      rvs_interp_file_name(prefix, setup, outpath, sizeof outpath)) {
    fprintf(stderr, "%s: %s\n", argv[0], rvs_last_error());
    return 1;
  }
  rvs_specs specs;
  memset(&specs, 0, sizeof specs);
  int st = rvs_specs_read(inpath, &specs);
  if (st) {
    fprintf(stderr, "%s: %s\n", argv[0], rvs_last_error());
    return 1;
  }
  rvs_interp *ip = NULL;
  st = regular ? rvs_interp_build_grid(&specs, &ip)
               : rvs_interp_build_tri_ex(&specs,
                                         exact_nodes ? RVS_TRI_WEIGHTS_EXACT : RVS_TRI_WEIGHTS_UPSTREAM,
                                         &ip);
  if (st) {
    fprintf(stderr, "%s: %s: %s\n", argv[0], inpath, rvs_last_error());
    rvs_specs_free(&specs);
    return 1;
  }
  char *cmdline = join_cmdline(argc, argv);
  st = rvs_interp_set_provenance(ip, revision, cmdline);
  free(cmdline);
  if (!st) st = rvs_interp_save(ip, outpath);
  if (st) {
    fprintf(stderr, "%s: %s\n", argv[0], rvs_last_error());
  } else {
    rvs_log(RVS_LOG_INFO, "%s: %s interpolator of %zu templates, %zu pixels", outpath,
            regular ? "regular-grid" : "triangulation", specs.nspec, specs.npix);
  }
  rvs_interp_free(ip);
  rvs_specs_free(&specs);
  return st ? 1 : 0;
}
