/* rvs_make_interpol: convolve and resample a template grid for one setup and
 * write <oprefix>/specs_<setup>.h5 in upstream rvspecfit's layout (upstream
 * rvs_make_interpol / make_interpol.py). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rvs/log.h"
#include "rvs/status.h"
#include "templates/make_interpol.h"

#define PROG_VERSION "0.1.0"

static void usage(FILE *f, const char *prog) {
  fprintf(f,
          "Usage: %s --setup NAME --lambda0 A --lambda1 A --step A (--resol R | --resol_func EXPR)\n"
          "          --templprefix DIR --wavefile FILE [options]\n"
          "\n"
          "Create convolved, resampled, normalised ln-spectra of the template grid for one\n"
          "spectral configuration: writes OPREFIX/specs_NAME.h5 (rvspecfit's layout).\n"
          "\n"
          "  --setup NAME            name of the spectral configuration, e.g. desi_b (required)\n"
          "  --lambda0 A             start wavelength of the new grid, Angstrom (required)\n"
          "  --lambda1 A             end wavelength of the new grid, Angstrom (required)\n"
          "  --step A                pixel size in Angstrom; with log spacing (default) it is\n"
          "                          the pixel size at the centre (lambda0+lambda1)/2 (required)\n"
          "  --log / --no-log        log-uniform (default) or linear wavelength grid\n"
          "  --resol R               constant resolution R = lambda/dlambda of the new grid\n"
          "  --resol_func EXPR       resolution as a function of wavelength x in Angstrom, a\n"
          "                          Python-like expression, e.g. 'x/1.55' or '1000+2*x'\n"
          "                          (exactly one of --resol and --resol_func)\n"
          "  --fixed_fwhm            with --resol: constant FWHM, R(x) = x/lambda_mid*R\n"
          "  --resolution0 R0        resolution of the input grid (default 100000); the\n"
          "                          kernel is sqrt(fwhm^2 - (lambda/R0)^2); R must be < R0\n"
          "  --air                   output in air wavelengths (templates are vacuum)\n"
          "  --normalize MODE        linear_continuum (default: divide by a line in ln flux\n"
          "                          through the medians of the two halves), median, none\n"
          "  --no-normalize          deprecated: same as --normalize none\n"
          "  --templdb FILE          template database from rvs_read_grid (default files.db)\n"
          "  --templprefix DIR       the folder the templates are in (required)\n"
          "  --wavefile FILE         FITS file with the template wavelengths (required)\n"
          "  --oprefix DIR           output folder (default templ_data/)\n"
          "  --parameter_names LIST  comma separated parameters (default teff,logg,feh,alpha)\n"
          "  --log_parameters LIST   indices of parameters interpolated in log10 (default 0)\n"
          "  --nthreads N            threads (default: all cores; upstream's default is 8)\n"
          "  --float_bits 32|64      dtype of the stored spectra (default 32)\n"
          "  --revision TEXT         revision of the templates, stored (default '')\n"
          "  --log_level L           DEBUG, INFO, WARNING or ERROR (default WARNING)\n"
          "  --help                  show this help and exit\n"
          "  --version               show the version and exit\n",
          prog);
}

static int parse_double(const char *opt, const char *s, double *v) {
  char *end = NULL;
  errno = 0;
  *v = strtod(s, &end);
  if (!*s || *end || errno || !isfinite(*v)) {
    fprintf(stderr, "rvs_make_interpol: --%s: '%s' is not a number\n", opt, s);
    return -1;
  }
  return 0;
}

static int parse_int(const char *opt, const char *s, long *v) {
  char *end = NULL;
  errno = 0;
  *v = strtol(s, &end, 10);
  if (!*s || *end || errno) {
    fprintf(stderr, "rvs_make_interpol: --%s: '%s' is not an integer\n", opt, s);
    return -1;
  }
  return 0;
}

/* shlex.join-like quoting of argv, stored as provenance as upstream does. */
static char *join_cmdline(int argc, char **argv) {
  size_t cap = 1;
  for (int i = 0; i < argc; i++) cap += 5 * strlen(argv[i]) + 3;
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

struct progress_state {
  size_t last;
};

static void progress_line(size_t done, size_t total, void *user) {
  struct progress_state *ps = user;
  size_t every = total / 100 ? total / 100 : 1;
  if (done != total && done - ps->last < every) return;
  ps->last = done;
  fprintf(stderr, "\rrvs_make_interpol: %zu/%zu templates", done, total);
  if (done == total) fputc('\n', stderr);
  fflush(stderr);
}

int main(int argc, char **argv) {
  rvs_mi_opts o;
  rvs_mi_opts_default(&o);
  int have_l0 = 0, have_l1 = 0, have_step = 0;
  char *parnames = NULL, *log_params = NULL;
  enum { O_SETUP = 1000, O_L0, O_L1, O_RESOL, O_FBITS, O_REV, O_PARN, O_LOGP, O_RFUNC, O_STEP,
         O_LOG, O_NOLOG, O_NORM, O_NONORM, O_DB, O_TPREF, O_AIR, O_OPREF, O_WAVE, O_R0, O_NTHR,
         O_FWHM, O_LOGLEVEL, O_HELP, O_VERSION };
  static const struct option opts[] = {{"setup", required_argument, 0, O_SETUP},
                                       {"lambda0", required_argument, 0, O_L0},
                                       {"lambda1", required_argument, 0, O_L1},
                                       {"resol", required_argument, 0, O_RESOL},
                                       {"float_bits", required_argument, 0, O_FBITS},
                                       {"revision", required_argument, 0, O_REV},
                                       {"parameter_names", required_argument, 0, O_PARN},
                                       {"log_parameters", required_argument, 0, O_LOGP},
                                       {"resol_func", required_argument, 0, O_RFUNC},
                                       {"step", required_argument, 0, O_STEP},
                                       {"log", no_argument, 0, O_LOG},
                                       {"no-log", no_argument, 0, O_NOLOG},
                                       {"normalize", required_argument, 0, O_NORM},
                                       {"no-normalize", no_argument, 0, O_NONORM},
                                       {"templdb", required_argument, 0, O_DB},
                                       {"templprefix", required_argument, 0, O_TPREF},
                                       {"air", no_argument, 0, O_AIR},
                                       {"oprefix", required_argument, 0, O_OPREF},
                                       {"wavefile", required_argument, 0, O_WAVE},
                                       {"resolution0", required_argument, 0, O_R0},
                                       {"nthreads", required_argument, 0, O_NTHR},
                                       {"fixed_fwhm", no_argument, 0, O_FWHM},
                                       {"log_level", required_argument, 0, O_LOGLEVEL},
                                       {"help", no_argument, 0, O_HELP},
                                       {"version", no_argument, 0, O_VERSION},
                                       {0, 0, 0, 0}};
  const char *prog = "rvs_make_interpol";
  int c, have_resol = 0, nolog_seen = 0, log_seen = 0;
  long lv;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case O_SETUP: o.setup = optarg; break;
    case O_L0: if (parse_double("lambda0", optarg, &o.lambda0)) return 2; have_l0 = 1; break;
    case O_L1: if (parse_double("lambda1", optarg, &o.lambda1)) return 2; have_l1 = 1; break;
    case O_RESOL: if (parse_double("resol", optarg, &o.resol)) return 2; have_resol = 1; break;
    case O_FBITS:
      if (parse_int("float_bits", optarg, &lv)) return 2;
      if (lv != 32 && lv != 64) {
        fprintf(stderr, "%s: --float_bits: must be 32 or 64, not %ld\n", prog, lv);
        return 2;
      }
      o.float_bits = (int)lv;
      break;
    case O_REV: o.revision = optarg; break;
    case O_PARN: parnames = optarg; break;
    case O_LOGP: log_params = optarg; break;
    case O_RFUNC: o.resol_func = optarg; break;
    case O_STEP: if (parse_double("step", optarg, &o.step)) return 2; have_step = 1; break;
    case O_LOG: o.log_step = 1; log_seen = 1; break;
    case O_NOLOG: o.log_step = 0; nolog_seen = 1; break;
    case O_NORM: {
      int m = rvs_norm_mode_parse(optarg);
      if (m < 0) {
        fprintf(stderr, "%s: --normalize: '%s' is not one of none, median, linear_continuum\n",
                prog, optarg);
        return 2;
      }
      o.normalize = (rvs_norm_mode)m;
      break;
    }
    case O_NONORM:
      rvs_log(RVS_LOG_WARNING, "--no-normalize is deprecated; use '--normalize none'");
      o.normalize = RVS_NORM_NONE;
      break;
    case O_DB: o.templdb = optarg; break;
    case O_TPREF: o.templprefix = optarg; break;
    case O_AIR: o.air = 1; break;
    case O_OPREF: o.oprefix = optarg; break;
    case O_WAVE: o.wavefile = optarg; break;
    case O_R0: if (parse_double("resolution0", optarg, &o.resolution0)) return 2; break;
    case O_NTHR:
      if (parse_int("nthreads", optarg, &lv)) return 2;
      if (lv < 1 || lv > 4096) {
        fprintf(stderr, "%s: --nthreads: %ld is not a positive number of threads\n", prog, lv);
        return 2;
      }
      o.nthreads = (int)lv;
      break;
    case O_FWHM: o.fixed_fwhm = 1; break;
    case O_LOGLEVEL: {
      int l = rvs_parse_log_level(optarg);
      if (l < 0) {
        fprintf(stderr, "%s: --log_level: unknown level '%s'\n", prog, optarg);
        return 2;
      }
      rvs_set_log_level(l);
      break;
    }
    case O_HELP: usage(stdout, argv[0]); return 0;
    case O_VERSION: printf("rvs_make_interpol (rvspecfit-c) %s\n", PROG_VERSION); return 0;
    default: usage(stderr, argv[0]); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", prog, argv[optind]);
    return 2;
  }
  const char *missing = !o.setup ? "--setup" : !have_l0 ? "--lambda0" : !have_l1 ? "--lambda1"
                        : !have_step ? "--step" : !o.templprefix ? "--templprefix"
                        : !o.wavefile ? "--wavefile" : NULL;
  if (missing) {
    fprintf(stderr, "%s: the option %s is required (see --help)\n", prog, missing);
    return 2;
  }
  if (log_seen && nolog_seen) {
    fprintf(stderr, "%s: --log and --no-log are mutually exclusive\n", prog);
    return 2;
  }
  if (have_resol == (o.resol_func != NULL)) {
    fprintf(stderr, "%s: exactly one of --resol and --resol_func is required\n", prog);
    return 2;
  }
  if (o.resol_func && o.fixed_fwhm) {
    fprintf(stderr, "%s: --resol_func is incompatible with --fixed_fwhm\n", prog);
    return 2;
  }
  if (have_resol && !(o.resol > 0)) {
    fprintf(stderr, "%s: --resol: must be positive\n", prog);
    return 2;
  }
  if (parnames) {
    o.nparam = 0;
    char *save = NULL;
    for (char *t = strtok_r(parnames, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      if (o.nparam >= RVS_MI_MAX_PARAMS) {
        fprintf(stderr, "%s: --parameter_names: more than %d names\n", prog, RVS_MI_MAX_PARAMS);
        return 2;
      }
      o.parnames[o.nparam++] = t;
    }
    if (!o.nparam) {
      fprintf(stderr, "%s: --parameter_names: empty list\n", prog);
      return 2;
    }
  }
  if (log_params) {
    o.nlog_ids = 0;
    char *save = NULL;
    for (char *t = strtok_r(log_params, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      if (parse_int("log_parameters", t, &lv)) return 2;
      if (lv < 0 || (size_t)lv >= o.nparam || o.nlog_ids >= RVS_MI_MAX_PARAMS) {
        fprintf(stderr, "%s: --log_parameters: index %ld is not a parameter index (0..%zu)\n",
                prog, lv, o.nparam - 1);
        return 2;
      }
      o.log_ids[o.nlog_ids++] = (int)lv;
    }
  }
  char *cmdline = join_cmdline(argc, argv);
  if (!cmdline) {
    fprintf(stderr, "%s: out of memory\n", prog);
    return 1;
  }
  o.cmdline = cmdline;
  struct progress_state ps = {0};
  if (isatty(STDERR_FILENO)) {
    o.progress = progress_line;
    o.progress_user = &ps;
  }
  char out[4096];
  int st = rvs_make_interpol_run(&o, out, sizeof out);
  free(cmdline);
  if (st) {
    if (o.progress) fputc('\n', stderr);
    fprintf(stderr, "%s: %s\n", prog, rvs_last_error());
    return 1;
  }
  rvs_log(RVS_LOG_INFO, "wrote %s", out);
  return 0;
}
