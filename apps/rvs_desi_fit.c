/* rvs_desi_fit: radial velocities and stellar parameters for DESI coadd files,
 * with upstream rvspecfit's options, outputs and config.yaml. */
#include "driver/desi_fit.h"
#include "io/atomic.h"
#include "rvs/rvspecfit.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void usage(FILE *f) {
  fprintf(f,
"usage: rvs_desi_fit [options] [input_files ...]\n"
"\n"
"Fit radial velocities and stellar atmospheric parameters of the stars in DESI\n"
"coadd (or spectra) files; write rvtab_<file> and rvmod_<file> for each input,\n"
"with the same HDUs and columns as upstream rvspecfit's rvs_desi_fit.\n"
"\n"
"inputs:\n"
"  input_files                 coadd files to process\n"
"  --input_file_from FILE      read the input file names from FILE (one per line)\n"
"configuration:\n"
"  --config FILE               config.yaml (default ./config.yaml, else built-in defaults)\n"
"  --npoly N                   continuum basis functions (default 10)\n"
"  --fitarm b,r,z              arms to fit (default all three)\n"
"  --param_init CCF|bruteforce starting point (default CCF)\n"
"  --resolution_matrix         use the per-fiber resolution matrices (default off)\n"
"  --no-resolution_matrix      do not (default)\n"
"  --no_ccf_continuum_normalize  use the ccf_nocont_* banks\n"
"fiber selection:\n"
"  --targetid ID[,ID...]       fit only these TARGETIDs\n"
"  --targetid_file_from FILE   ... read from FILE (one per line)\n"
"  --minsn X                   fit fibers whose best arm has median S/N > X (default -1e9)\n"
"  --minexpid N / --maxexpid N EXPID > minexpid and EXPID <= maxexpid\n"
"outputs:\n"
"  --output_dir DIR            (default ./); files go to DIR/<tile>/<night>/ unless\n"
"  --no_subdirs                ... this is given\n"
"  --output_tab_prefix P       (default rvtab)\n"
"  --output_mod_prefix P       (default rvmod)\n"
"  --skipexisting              skip inputs whose two outputs both exist\n"
"  --overwrite                 accepted for compatibility (outputs are always replaced)\n"
"  --process_status_file FILE  one line per input: <file> <SUCCESS|FAILURE|EXISTING> <nfit> <seconds>\n"
"running:\n"
"  --nthreads N                CPU threads (default: all cores)\n"
"  --log FILE                  log to FILE instead of stderr\n"
"  --log_level LEVEL           DEBUG, INFO, WARNING (default), ERROR\n"
"  --throw_exceptions          stop at the first failing file\n"
"  --version                   print the version and exit\n"
"  -h, --help                  this help\n"
"\n"
"Exit status: 0 when every file succeeded, 1 when any file failed, 2 on bad options.\n");
}

static FILE *logfile = NULL;
static void log_to_file(int level, const char *msg, void *user) {
  (void)user;
  const char *lv = level >= RVS_LOG_ERROR ? "ERROR" : level >= RVS_LOG_WARNING ? "WARNING"
                   : level >= RVS_LOG_INFO ? "INFO" : "DEBUG";
  fprintf(logfile, "%s: %s\n", lv, msg);
  fflush(logfile);
}

static int read_lines(const char *path, char ***out, size_t *n) {
  FILE *f = fopen(path, "r");
  if (!f) return rvs_error(RVS_ERR_IO, "%s: cannot open", path);
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    size_t l = strlen(line);
    while (l && (line[l - 1] == '\n' || line[l - 1] == '\r' || line[l - 1] == ' ')) line[--l] = 0;
    if (!l) continue;
    char **nw = realloc(*out, sizeof(char *) * (*n + 1));
    if (!nw) { fclose(f); return rvs_error(RVS_ERR_NOMEM, "no memory"); }
    *out = nw;
    (*out)[(*n)++] = strdup(line);
  }
  fclose(f);
  return RVS_OK;
}

static int parse_targetids(const char *s, int64_t **ids, size_t *n) {
  char *buf = strdup(s), *save = NULL;
  for (char *t = strtok_r(buf, ", \n", &save); t; t = strtok_r(NULL, ", \n", &save)) {
    char *end;
    long long v = strtoll(t, &end, 10);
    if (*end) { free(buf); return rvs_error(RVS_ERR_ARG, "bad TARGETID '%s'", t); }
    int64_t *nw = realloc(*ids, sizeof(int64_t) * (*n + 1));
    if (!nw) { free(buf); return rvs_error(RVS_ERR_NOMEM, "no memory"); }
    *ids = nw;
    (*ids)[(*n)++] = v;
  }
  free(buf);
  return RVS_OK;
}

enum {
  O_INPUT_FROM = 1000, O_CONFIG, O_NPOLY, O_FITARM, O_PARAM_INIT, O_RESMAT, O_NORESMAT,
  O_NOCCFCONT, O_TARGETID, O_TARGETID_FROM, O_MINSN, O_MINEXPID, O_MAXEXPID, O_OUTDIR,
  O_NOSUBDIRS, O_TABPREFIX, O_MODPREFIX, O_SKIPEXISTING, O_OVERWRITE, O_STATUSFILE,
  O_NTHREADS, O_LOG, O_LOGLEVEL, O_THROW, O_VERSION
};

int main(int argc, char **argv) {
  static struct option opts[] = {
      {"input_file_from", required_argument, 0, O_INPUT_FROM},
      {"config", required_argument, 0, O_CONFIG},
      {"npoly", required_argument, 0, O_NPOLY},
      {"fitarm", required_argument, 0, O_FITARM},
      {"param_init", required_argument, 0, O_PARAM_INIT},
      {"resolution_matrix", no_argument, 0, O_RESMAT},
      {"no-resolution_matrix", no_argument, 0, O_NORESMAT},
      {"no_ccf_continuum_normalize", no_argument, 0, O_NOCCFCONT},
      {"targetid", required_argument, 0, O_TARGETID},
      {"targetid_file_from", required_argument, 0, O_TARGETID_FROM},
      {"minsn", required_argument, 0, O_MINSN},
      {"minexpid", required_argument, 0, O_MINEXPID},
      {"maxexpid", required_argument, 0, O_MAXEXPID},
      {"output_dir", required_argument, 0, O_OUTDIR},
      {"no_subdirs", no_argument, 0, O_NOSUBDIRS},
      {"output_tab_prefix", required_argument, 0, O_TABPREFIX},
      {"output_mod_prefix", required_argument, 0, O_MODPREFIX},
      {"skipexisting", no_argument, 0, O_SKIPEXISTING},
      {"overwrite", no_argument, 0, O_OVERWRITE},
      {"process_status_file", required_argument, 0, O_STATUSFILE},
      {"nthreads", required_argument, 0, O_NTHREADS},
      {"log", required_argument, 0, O_LOG},
      {"log_level", required_argument, 0, O_LOGLEVEL},
      {"throw_exceptions", no_argument, 0, O_THROW},
      {"version", no_argument, 0, O_VERSION},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  rvs_desi_options o;
  rvs_desi_options_default(&o);
  const char *config_path = NULL, *status_path = NULL, *log_path = NULL;
  char **files = NULL;
  size_t nfiles = 0;
  int nthreads = 0, throw_exc = 0, no_ccf_cont = 0, have_targetid = 0;
  int64_t *tids = NULL;
  size_t ntids = 0;
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    int rc = RVS_OK;
    switch (c) {
    case O_INPUT_FROM: rc = read_lines(optarg, &files, &nfiles); break;
    case O_CONFIG: config_path = optarg; break;
    case O_NPOLY: o.npoly = atoi(optarg); if (o.npoly <= 0) o.npoly = 10; break;
    case O_FITARM: {
      char arms[4] = "";
      int k = 0;
      for (const char *p = optarg; *p && k < 3; p++)
        if (*p == 'b' || *p == 'r' || *p == 'z') arms[k++] = *p;
        else if (*p != ',') { fprintf(stderr, "rvs_desi_fit: --fitarm: unknown arm '%c'\n", *p); return 2; }
      arms[k] = 0;
      snprintf(o.fitarm, sizeof o.fitarm, "%s", arms);
      break;
    }
    case O_PARAM_INIT:
      if (strcasecmp(optarg, "CCF") == 0) o.param_init = RVS_INIT_CCF;
      else if (strcasecmp(optarg, "bruteforce") == 0) o.param_init = RVS_INIT_BRUTEFORCE;
      else { fprintf(stderr, "rvs_desi_fit: --param_init must be CCF or bruteforce\n"); return 2; }
      break;
    case O_RESMAT: o.resolution_matrix = 1; break;
    case O_NORESMAT: o.resolution_matrix = 0; break;
    case O_NOCCFCONT: no_ccf_cont = 1; break;
    case O_TARGETID: rc = parse_targetids(optarg, &tids, &ntids); have_targetid++; break;
    case O_TARGETID_FROM: {
      char **lines = NULL;
      size_t nl = 0;
      rc = read_lines(optarg, &lines, &nl);
      for (size_t i = 0; i < nl && rc == RVS_OK; i++) rc = parse_targetids(lines[i], &tids, &ntids);
      for (size_t i = 0; i < nl; i++) free(lines[i]);
      free(lines);
      have_targetid++;
      break;
    }
    case O_MINSN: o.select.minsn = atof(optarg); break;
    case O_MINEXPID: o.select.have_minexpid = 1; o.select.minexpid = atoll(optarg); break;
    case O_MAXEXPID: o.select.have_maxexpid = 1; o.select.maxexpid = atoll(optarg); break;
    case O_OUTDIR: o.output_dir = optarg; break;
    case O_NOSUBDIRS: o.no_subdirs = 1; break;
    case O_TABPREFIX: o.tab_prefix = optarg; break;
    case O_MODPREFIX: o.mod_prefix = optarg; break;
    case O_SKIPEXISTING: o.skipexisting = 1; break;
    case O_OVERWRITE: break;
    case O_STATUSFILE: status_path = optarg; break;
    case O_NTHREADS: nthreads = atoi(optarg); break;
    case O_LOG: log_path = optarg; break;
    case O_LOGLEVEL: {
      int lv = rvs_parse_log_level(optarg);
      if (lv < 0) { fprintf(stderr, "rvs_desi_fit: unknown --log_level %s\n", optarg); return 2; }
      rvs_set_log_level(lv);
      break;
    }
    case O_THROW: throw_exc = 1; break;
    case O_VERSION: printf("rvs_desi_fit (rvspecfit-c) %s\n", RVS_VERSION_STRING); return 0;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
    if (rc) { fprintf(stderr, "rvs_desi_fit: %s\n", rvs_last_error()); return 2; }
  }
  if (have_targetid > 1) {
    fprintf(stderr, "rvs_desi_fit: --targetid and --targetid_file_from are exclusive\n");
    return 2;
  }
  for (int i = optind; i < argc; i++) {
    char **nw = realloc(files, sizeof(char *) * (nfiles + 1));
    if (!nw) return 2;
    files = nw;
    files[nfiles++] = strdup(argv[i]);
  }
  if (nfiles == 0) {
    fprintf(stderr, "rvs_desi_fit: no input files (give them as arguments or with --input_file_from)\n");
    return 2;
  }
  if (o.fitarm[0] == 0) { fprintf(stderr, "rvs_desi_fit: --fitarm selects no arm\n"); return 2; }
  if (have_targetid) { o.select.targetids = tids; o.select.ntargetids = ntids; }
  if (log_path) {
    logfile = fopen(log_path, "a");
    if (!logfile) { fprintf(stderr, "rvs_desi_fit: %s: cannot open log file\n", log_path); return 2; }
    rvs_set_log_callback(log_to_file, NULL);
  }
  /* the command line, for the RVS_CMD header key */
  size_t cl = 1;
  for (int i = 0; i < argc; i++) cl += strlen(argv[i]) + 1;
  char *cmdline = calloc(cl, 1);
  for (int i = 0; i < argc; i++) { strcat(cmdline, argv[i]); if (i + 1 < argc) strcat(cmdline, " "); }
  o.cmdline = cmdline;
  o.progress = isatty(2);

  rvs_config cfg;
  if (rvs_config_read(config_path, &cfg)) {
    fprintf(stderr, "rvs_desi_fit: %s\n", rvs_last_error());
    return 2;
  }
  if (no_ccf_cont) cfg.ccf_continuum_normalize = 0;
  rvs_options ropt;
  rvs_options_default(&ropt);
  ropt.npoly = o.npoly;
  ropt.param_init = o.param_init;
  ropt.nthreads = nthreads;
  rvs_context *ctx = NULL;
  if (rvs_context_create(&cfg, &ropt, &ctx)) {
    fprintf(stderr, "rvs_desi_fit: %s\n", rvs_last_error());
    return 2;
  }
  FILE *status = NULL;
  if (status_path) {
    status = fopen(status_path, "w");
    if (!status) { fprintf(stderr, "rvs_desi_fit: %s: cannot open status file\n", status_path); return 2; }
  }
  int nfail = 0;
  size_t total_fit = 0;
  for (size_t i = 0; i < nfiles; i++) {
    rvs_desi_file_stats st;
    int rc = rvs_desi_process_file(ctx, &cfg, &o, files[i], &st);
    const char *what = rc ? "FAILURE" : st.skipped_existing ? "EXISTING" : "SUCCESS";
    if (rc) {
      nfail++;
      fprintf(stderr, "rvs_desi_fit: %s\n", rvs_last_error());
      rvs_log(RVS_LOG_ERROR, "%s", rvs_last_error());
    } else if (!st.skipped_existing) {
      total_fit += st.nfitted;
      rvs_log(RVS_LOG_INFO, "%s: %zu rows, %zu selected, %zu fitted, %zu bad, %.2f s (%.1f fits/s)",
              files[i], st.nrows, st.nselected, st.nfitted, st.nbad, st.seconds,
              st.seconds > 0 ? st.nfitted / st.seconds : 0.0);
      if (o.progress)
        fprintf(stderr, "\r[%zu/%zu files] %s: %zu fitted in %.1f s (%.1f fits/s)   \n", i + 1,
                nfiles, files[i], st.nfitted, st.seconds, st.seconds > 0 ? st.nfitted / st.seconds : 0.0);
    }
    if (status) {
      long nfit = rc ? 0 : st.skipped_existing ? -1 : (long)st.nselected;
      fprintf(status, "%s %s %ld %.2f\n", files[i], what, nfit, rc || st.skipped_existing ? 0.0 : st.seconds);
      fflush(status);
    }
    if (rc && throw_exc) break;
  }
  if (status) fclose(status);
  rvs_context_free(ctx);
  for (size_t i = 0; i < nfiles; i++) free(files[i]);
  free(files);
  free(tids);
  free(cmdline);
  if (logfile) fclose(logfile);
  (void)total_fit;
  return nfail ? 1 : 0;
}
