/* rvs_make_ccf: the FFT template bank for the CCF initialiser (upstream
 * rvs_make_ccf / make_ccf.py): <prefix>/specs_<setup>.h5 ->
 * <oprefix>/ccf_[nocont_]<setup>.h5. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic.h"
#include "rvs/log.h"
#include "rvs/status.h"
#include "templates/ccf_bank.h"
#include "templates/interp_file.h"
#include "templates/specs_file.h"

#ifndef RVS_VERSION_STRING
#define RVS_VERSION_STRING "0.1.0"
#endif

static void usage(FILE *f, const char *prog) {
  fprintf(f,
          "Usage: %s --prefix DIR --setup NAME --lambda0 A --lambda1 A --step A [options]\n"
          "\n"
          "Create the Fourier-transformed template bank for the cross-correlation\n"
          "initialiser: reads DIR/specs_NAME.h5 and writes OPREFIX/ccf_NAME.h5\n"
          "(OPREFIX/ccf_nocont_NAME.h5 with --nocontinuum).\n"
          "\n"
          "  --prefix DIR      location of the input spectra (required)\n"
          "  --setup NAME      name of the spectral configuration (required)\n"
          "  --oprefix DIR     where the output goes (default templ_data/)\n"
          "  --lambda0 A       starting wavelength in Angstrom (required)\n"
          "  --lambda1 A       ending wavelength in Angstrom (required)\n"
          "  --step A          pixel size in Angstrom; the grid has 2^ceil(log2((lambda1-\n"
          "                    lambda0)/step)) points uniform in ln(lambda) (required)\n"
          "  --every N         subsample the input grid by this amount, in Morton-curve\n"
          "                    order of the parameters (default 30)\n"
          "  --vsinis LIST     comma-separated vsini values (km/s) to include (default: no\n"
          "                    rotation)\n"
          "  --nocontinuum     skip the continuum normalisation\n"
          "  --nthreads N      number of threads (default 8)\n"
          "  --revision TEXT   revision of the data files/run (default '')\n"
          "  --log_level L     DEBUG, INFO, WARNING or ERROR (default WARNING)\n"
          "  --help            show this help and exit\n"
          "  --version         show the version and exit\n",
          prog);
}

static int parse_double(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  while (*end == ' ') end++;
  if (end == s || *end || errno || !isfinite(v)) return -1;
  *out = v;
  return 0;
}

static int parse_long(const char *s, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || errno) return -1;
  *out = v;
  return 0;
}

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
  const char *prefix = NULL, *setup = NULL, *oprefix = "templ_data/", *revision = "";
  const char *vsinis_arg = NULL;
  double lambda0 = NAN, lambda1 = NAN, step = NAN;
  long every = 30, nthreads = 8;
  int nocont = 0;
  static const struct option opts[] = {{"prefix", required_argument, 0, 'p'},
                                       {"oprefix", required_argument, 0, 'o'},
                                       {"setup", required_argument, 0, 's'},
                                       {"lambda0", required_argument, 0, '0'},
                                       {"lambda1", required_argument, 0, '1'},
                                       {"step", required_argument, 0, 'S'},
                                       {"every", required_argument, 0, 'e'},
                                       {"vsinis", required_argument, 0, 'v'},
                                       {"nocontinuum", no_argument, 0, 'n'},
                                       {"nthreads", required_argument, 0, 't'},
                                       {"revision", required_argument, 0, 'r'},
                                       {"log_level", required_argument, 0, 'l'},
                                       {"help", no_argument, 0, 'h'},
                                       {"version", no_argument, 0, 'V'},
                                       {0, 0, 0, 0}};
  int c, li = 0;
  while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
    int bad = 0;
    switch (c) {
      case 'p': prefix = optarg; break;
      case 'o': oprefix = optarg; break;
      case 's': setup = optarg; break;
      case '0': bad = parse_double(optarg, &lambda0); break;
      case '1': bad = parse_double(optarg, &lambda1); break;
      case 'S': bad = parse_double(optarg, &step); break;
      case 'e': bad = parse_long(optarg, &every) || every < 1; break;
      case 'v': vsinis_arg = optarg; break;
      case 'n': nocont = 1; break;
      case 't': bad = parse_long(optarg, &nthreads) || nthreads < 1; break;
      case 'r': revision = optarg; break;
      case 'l': {
        int lv = rvs_parse_log_level(optarg);
        bad = lv < 0;
        if (!bad) rvs_set_log_level(lv);
        break;
      }
      case 'h': usage(stdout, argv[0]); return 0;
      case 'V': printf("rvs_make_ccf (rvspecfit-c) %s\n", RVS_VERSION_STRING); return 0;
      default: usage(stderr, argv[0]); return 2;
    }
    if (bad) {
      fprintf(stderr, "%s: bad value '%s' for --%s\n", argv[0], optarg, opts[li].name);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
    return 2;
  }
  if (!prefix || !setup || isnan(lambda0) || isnan(lambda1) || isnan(step)) {
    fprintf(stderr, "%s: --prefix, --setup, --lambda0, --lambda1 and --step are required "
            "(see --help)\n", argv[0]);
    return 2;
  }
  double vsinis[256];
  size_t nvsini = 0;
  if (vsinis_arg) {
    char *copy = strdup(vsinis_arg);
    if (!copy) return 1;
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
      if (nvsini == 256 || parse_double(tok, &vsinis[nvsini])) {
        fprintf(stderr, "%s: bad --vsinis list '%s'\n", argv[0], vsinis_arg);
        free(copy);
        return 2;
      }
      nvsini++;
    }
    free(copy);
    if (nvsini == 0) {
      fprintf(stderr, "%s: empty --vsinis list\n", argv[0]);
      return 2;
    }
  }
  rvs_ccf_conf conf;
  if (rvs_ccf_conf_init(&conf, lambda0, lambda1, step, !nocont)) {
    fprintf(stderr, "%s: %s\n", argv[0], rvs_last_error());
    return 2;
  }
  char inpath[4096], outpath[4096];
  if (rvs_specs_file_name(prefix, setup, inpath, sizeof inpath) ||
      rvs_ccf_file_name(oprefix, setup, !nocont, outpath, sizeof outpath)) {
    fprintf(stderr, "%s: %s\n", argv[0], rvs_last_error());
    return 1;
  }
  if (rvs_mkdir_p(oprefix)) {
    fprintf(stderr, "%s: %s\n", argv[0], rvs_last_error());
    return 1;
  }
  rvs_specs specs;
  memset(&specs, 0, sizeof specs);
  if (rvs_specs_read(inpath, &specs)) {
    fprintf(stderr, "%s: %s\n", argv[0], rvs_last_error());
    return 1;
  }
  rvs_ccf_bank *bank = NULL;
  int st = rvs_ccf_bank_build(&specs, &conf, (size_t)every, vsinis, nvsini, (int)nthreads,
                              &bank);
  if (st) {
    fprintf(stderr, "%s: %s: %s\n", argv[0], inpath, rvs_last_error());
    rvs_specs_free(&specs);
    return 1;
  }
  bank->revision = strdup(revision);
  bank->cmdline = join_cmdline(argc, argv);
  st = rvs_ccf_bank_save(bank, outpath);
  if (st) fprintf(stderr, "%s: %s\n", argv[0], rvs_last_error());
  else
    rvs_log(RVS_LOG_INFO, "%s: %zu models of %zu points", outpath, bank->nmodel,
            conf.npoints);
  rvs_ccf_bank_free(bank);
  rvs_specs_free(&specs);
  return st ? 1 : 0;
}
