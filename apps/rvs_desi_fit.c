/* rvs_desi_fit: radial velocities and stellar parameters for DESI coadd files,
 * with upstream rvspecfit's options, outputs and config.yaml. */
#include "driver/desi_fit.h"
#include "driver/desi_run.h"
#include "driver/desi_targetbits.h"
#include "driver/file_queue.h"
#include "driver/mpi_queue.h"
#include "driver/signals.h"
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
"  --queue_file[=FILE]         take names one at a time from a shared queue file (FILE, or\n"
"                              the --input_file_from file): each line is removed under a\n"
"                              rename lock, so several jobs can consume one queue\n"
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
"  --objtypes LIST             fit only these DESI target classes: comma-separated regular\n"
"                              expressions matched at the start of the bit names of the\n"
"                              file's DESI_TARGET mask (main, SVn or CMX), e.g.\n"
"                              MWS_ANY,SCND_ANY,STD_*\n"
"  --zbest_select              fit only what Redrock calls a star or finds at |v| < 1500 km/s\n"
"                              (redrock-* next to a coadd-*/spectra-* file, else zbest-*);\n"
"                              with --objtypes, fibers passing either are fitted\n"
"  --zbest_include             copy Redrock's Z, SPECTYPE, SUBTYPE into RR_Z, RR_SPECTYPE,\n"
"                              RR_SUBTYPE (no selection); a missing Redrock file fails the input\n"
"outputs:\n"
"  --output_dir DIR            (default ./); files go to DIR/<tile>/<night>/ unless\n"
"  --no_subdirs                ... this is given\n"
"  --output_tab_prefix P       (default rvtab)\n"
"  --output_mod_prefix P       (default rvmod)\n"
"  --skipexisting              skip inputs whose two outputs both exist\n"
"  --overwrite                 accepted for compatibility (outputs are always replaced)\n"
"  --process_status_file FILE  one line per input: <file> <SUCCESS|FAILURE|EXISTING> <nfit> <seconds>\n"
"running:\n"
"  --mpi                       MPI run: rank 0 hands out files one at a time to every rank\n"
"                              (itself included); --log and --process_status_file must\n"
"                              contain %%d (replaced by the rank)\n"
"  --mpi_timeout S             a rank silent for S seconds is taken as dead (default 300)\n"
"  --use_gpu                   fit on GPUs: one worker thread per GPU of the list, files\n"
"                              shared out dynamically; with --mpi one GPU per rank:\n"
"                              device = list[node-local rank %% n].  No usable GPU: one\n"
"                              message, then the CPU\n"
"  --gpu_devices LIST          the GPU list, e.g. 0,1,2,3 (default: all visible GPUs)\n"
"  --gpu_workers N             worker threads per listed GPU (default 2: one plans and\n"
"                              steps its fits while the other's run on the device; they\n"
"                              share the default --gpu_batch_size); 1: one per GPU\n"
"  --workers N                 CPU: N workers (each with --nthreads/N threads) take files\n"
"                              from the shared list as they finish (default 1)\n"
"  --gpu_batch_size N          spectra in flight per GPU worker, at most (default 8192\n"
"                              shared by a GPU's workers; fewer when the device memory\n"
"                              is full); several files are fitted together to fill it\n"
"  --readahead N               files read ahead of the fits by a reader thread, so that\n"
"                              reading overlaps fitting (default 1; with --use_gpu 2 per\n"
"                              worker; 0: read each file when a worker needs it)\n"
"  --nthreads N                CPU threads (default: all cores)\n"
"  --log FILE                  log to FILE instead of stderr\n"
"  --log_level LEVEL           DEBUG, INFO, WARNING (default), ERROR\n"
"  --throw_exceptions          stop at the first failing file\n"
"  --version                   print the version and exit\n"
"  -h, --help                  this help\n"
"\n"
"SIGINT/SIGTERM abandon the files in flight (no output is left for them) and stop;\n"
"rerun with --skipexisting to resume.\n"
"\n"
"Exit status: 0 when every file succeeded, 1 when any file failed (with --mpi: on rank 0,\n"
"for all ranks; a dead rank ends the run with MPI_Abort), 2 on bad options, 128+signal\n"
"when stopped by a signal.\n");
}

/* optarg as an integer in [lo, hi] into *out; otherwise `msg` on stderr and -1 */
static int int_arg(const char *arg, long lo, long hi, const char *msg, int *out) {
  char *end;
  long v = strtol(arg, &end, 10);
  if (*end || v < lo || v > hi) {
    fprintf(stderr, "rvs_desi_fit: %s\n", msg);
    return -1;
  }
  *out = (int)v;
  return 0;
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

enum { O_ZBEST_SELECT = 1100, O_ZBEST_INCLUDE, O_OBJTYPES }; /* target/Redrock selection */

enum {
  O_INPUT_FROM = 1000, O_CONFIG, O_NPOLY, O_FITARM, O_PARAM_INIT, O_RESMAT, O_NORESMAT,
  O_NOCCFCONT, O_TARGETID, O_TARGETID_FROM, O_MINSN, O_MINEXPID, O_MAXEXPID, O_OUTDIR,
  O_NOSUBDIRS, O_TABPREFIX, O_MODPREFIX, O_SKIPEXISTING, O_OVERWRITE, O_STATUSFILE,
  O_NTHREADS, O_LOG, O_LOGLEVEL, O_THROW, O_VERSION, O_QUEUE, O_MPI, O_MPI_TIMEOUT, O_USE_GPU,
  O_GPU_DEVICES, O_GPU_BATCH, O_WORKERS, O_READAHEAD, O_GPU_WORKERS
};

/* File sources: a list, or the shared queue file. */
typedef struct list_source { char **files; size_t n, next; } list_source;
static int list_next(void *user, char *path, size_t cap, int *got) {
  list_source *l = user;
  *got = 0;
  if (l->next >= l->n) return RVS_OK;
  if (strlen(l->files[l->next]) + 1 > cap)
    return rvs_error(RVS_ERR_ARG, "%s: file name too long", l->files[l->next]);
  snprintf(path, cap, "%s", l->files[l->next++]);
  *got = 1;
  return RVS_OK;
}
typedef struct queue_source { const char *path; rvs_queue_opts opt; } queue_source;
static int queue_next(void *user, char *path, size_t cap, int *got) {
  queue_source *q = user;
  return rvs_queue_pop(q->path, &q->opt, path, cap, got);
}

#ifdef RVS_HAVE_MPI
/* Files handed out by rank 0's MPI queue */
typedef struct mpi_source { rvs_mpi_queue *mq; } mpi_source;
static int mpi_next(void *user, char *path, size_t cap, int *got) {
  return rvs_mpi_queue_next(((mpi_source *)user)->mq, path, cap, got);
}
static void mpi_file_done(void *user, const char *path) {
  rvs_mpi_queue_file_done(((mpi_source *)user)->mq, path);
}
#endif

/* `pattern` with its "%d" replaced by the rank; NULL if there is no "%d". */
static char *with_rank(const char *pattern, int rank) {
  const char *p = strstr(pattern, "%d");
  if (!p) return NULL;
  size_t n = strlen(pattern) + 16;
  char *s = malloc(n);
  if (s) snprintf(s, n, "%.*s%d%s", (int)(p - pattern), pattern, rank, p + 2);
  return s;
}

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
      {"zbest_select", no_argument, 0, O_ZBEST_SELECT},
      {"zbest_include", no_argument, 0, O_ZBEST_INCLUDE},
      {"objtypes", required_argument, 0, O_OBJTYPES},
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
      {"queue_file", optional_argument, 0, O_QUEUE},
      {"mpi", no_argument, 0, O_MPI},
      {"mpi_timeout", required_argument, 0, O_MPI_TIMEOUT},
      {"use_gpu", no_argument, 0, O_USE_GPU},
      {"gpu_devices", required_argument, 0, O_GPU_DEVICES},
      {"gpu_batch_size", required_argument, 0, O_GPU_BATCH},
      {"workers", required_argument, 0, O_WORKERS},
      {"readahead", required_argument, 0, O_READAHEAD},
      {"gpu_workers", required_argument, 0, O_GPU_WORKERS},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  rvs_desi_options o;
  rvs_desi_options_default(&o);
  const char *config_path = NULL, *status_path = NULL, *log_path = NULL;
  const char *input_from = NULL, *queue_path = NULL, *gpu_devices = NULL;
  int use_queue = 0, use_mpi = 0, use_gpu = 0, gpu_batch_size = 0, cpu_workers = 1;
  int readahead = -1; /* -1: the default */
  int gpu_workers = 2;  /* per GPU */
  double mpi_timeout = 300;
  char **files = NULL;
  size_t nfiles = 0;
  int nthreads = 0, throw_exc = 0, no_ccf_cont = 0, have_targetid = 0;
  int64_t *tids = NULL;
  size_t ntids = 0;
  char **objtypes = NULL;
  size_t nobjtypes = 0;
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    int rc = RVS_OK;
    switch (c) {
    case O_INPUT_FROM: input_from = optarg; break;
    case O_QUEUE: use_queue = 1; if (optarg) queue_path = optarg; break;
    case O_MPI: use_mpi = 1; break;
    case O_MPI_TIMEOUT: {
      char *end;
      mpi_timeout = strtod(optarg, &end);
      if (*end || !(mpi_timeout > 0)) {
        fprintf(stderr, "rvs_desi_fit: --mpi_timeout needs a positive number of seconds\n");
        goto early_exit;
      }
      break;
    }
    case O_USE_GPU: use_gpu = 1; break;
    case O_GPU_DEVICES: gpu_devices = optarg; break;
    case O_WORKERS:
      if (int_arg(optarg, 1, 64, "--workers needs a number from 1 to 64", &cpu_workers)) goto early_exit;
      break;
    case O_GPU_WORKERS:
      if (int_arg(optarg, 1, 8, "--gpu_workers needs a number from 1 to 8", &gpu_workers)) goto early_exit;
      break;
    case O_READAHEAD:
      if (int_arg(optarg, 0, 64, "--readahead needs a number of files from 0 to 64", &readahead)) goto early_exit;
      break;
    case O_GPU_BATCH:
      if (int_arg(optarg, 1, 1000000, "--gpu_batch_size needs a number of spectra (1..1000000)", &gpu_batch_size)) goto early_exit;
      break;
    case O_CONFIG: config_path = optarg; break;
    case O_NPOLY: o.npoly = atoi(optarg); if (o.npoly <= 0) o.npoly = 10; break;
    case O_FITARM: {
      char arms[4] = "";
      int k = 0;
      for (const char *p = optarg; *p && k < 3; p++)
        if (*p == 'b' || *p == 'r' || *p == 'z') arms[k++] = *p;
        else if (*p != ',') { fprintf(stderr, "rvs_desi_fit: --fitarm: unknown arm '%c'\n", *p); goto early_exit; }
      arms[k] = 0;
      snprintf(o.fitarm, sizeof o.fitarm, "%s", arms);
      break;
    }
    case O_PARAM_INIT:
      if (strcasecmp(optarg, "CCF") == 0) o.param_init = RVS_INIT_CCF;
      else if (strcasecmp(optarg, "bruteforce") == 0) o.param_init = RVS_INIT_BRUTEFORCE;
      else { fprintf(stderr, "rvs_desi_fit: --param_init must be CCF or bruteforce\n"); goto early_exit; }
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
    case O_ZBEST_SELECT: o.select.zbest_select = 1; break;
    case O_ZBEST_INCLUDE: o.select.zbest_include = 1; break;
    case O_OBJTYPES: /* the last one given wins, as argparse */
      rvs_objtypes_free(objtypes, nobjtypes);
      rc = rvs_objtypes_parse(optarg, &objtypes, &nobjtypes);
      if (!rc) rc = rvs_objtypes_check((const char *const *)objtypes, nobjtypes);
      o.select.objtypes = (const char *const *)objtypes;
      o.select.nobjtypes = nobjtypes;
      break;
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
      if (lv < 0) { fprintf(stderr, "rvs_desi_fit: unknown --log_level %s\n", optarg); goto early_exit; }
      rvs_set_log_level(lv);
      break;
    }
    case O_THROW: throw_exc = 1; break;
    case O_VERSION: printf("rvs_desi_fit (rvspecfit-c) %s\n", RVS_VERSION_STRING); return 0;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); goto early_exit;
    }
    if (rc) { fprintf(stderr, "rvs_desi_fit: %s\n", rvs_last_error()); goto early_exit; }
  }
  if (have_targetid > 1) {
    fprintf(stderr, "rvs_desi_fit: --targetid and --targetid_file_from are exclusive\n");
    goto early_exit;
  }
  if (use_queue) {
    if (!queue_path) queue_path = input_from;
    if (!queue_path) {
      fprintf(stderr, "rvs_desi_fit: --queue_file needs a file: --queue_file=FILE or "
                      "--input_file_from FILE\n");
      goto early_exit;
    }
    if (optind < argc || (input_from && strcmp(input_from, queue_path) != 0)) {
      fprintf(stderr, "rvs_desi_fit: with --queue_file the inputs come from the queue only "
                      "(name the queue as --queue_file=FILE or --input_file_from FILE)\n");
      goto early_exit;
    }
  } else if (input_from) {
    if (read_lines(input_from, &files, &nfiles)) {
      fprintf(stderr, "rvs_desi_fit: %s\n", rvs_last_error());
      goto early_exit;
    }
  }
  for (int i = optind; i < argc; i++) {
    char **nw = realloc(files, sizeof(char *) * (nfiles + 1));
    if (!nw) goto early_exit;
    files = nw;
    files[nfiles++] = strdup(argv[i]);
  }
  if (nfiles == 0 && !use_queue) {
    fprintf(stderr, "rvs_desi_fit: no input files (give them as arguments, with --input_file_from "
                    "or --queue_file)\n");
    goto early_exit;
  }
  if (use_queue && rvs_queue_check(queue_path)) {
    fprintf(stderr, "rvs_desi_fit: %s\n", rvs_last_error());
    goto early_exit;
  }
  if (o.fitarm[0] == 0) { fprintf(stderr, "rvs_desi_fit: --fitarm selects no arm\n"); goto early_exit; }
  if (have_targetid) { o.select.targetids = tids; o.select.ntargetids = ntids; }
  if (gpu_devices && !use_gpu) {
    fprintf(stderr, "rvs_desi_fit: --gpu_devices needs --use_gpu\n");
    goto early_exit;
  }
  if (use_mpi) {
#ifndef RVS_HAVE_MPI
    fprintf(stderr, "rvs_desi_fit: --mpi: this build has no MPI support (MPI was not found "
                    "at configure time)\n");
    goto early_exit;
#else
    if ((log_path && !strstr(log_path, "%d")) || (status_path && !strstr(status_path, "%d"))) {
      fprintf(stderr, "rvs_desi_fit: with --mpi, --log and --process_status_file must contain "
                      "%%d (replaced by the MPI rank)\n");
      goto early_exit;
    }
#endif
  }

  int rank = 0, nranks = 1, local_rank = rvs_local_rank_from_env();
#ifdef RVS_HAVE_MPI
  rvs_mpi_queue *mq = NULL;
  mpi_source mpi_src = {NULL};
  if (use_mpi && rvs_mpi_init(&argc, &argv, &rank, &nranks, &local_rank)) {
    fprintf(stderr, "rvs_desi_fit: %s\n", rvs_last_error());
    return 2;
  }
#endif
  /* from here on, with --mpi, leave through `finish` (MPI must be finalized) */
  int exit_code = 0;
  char *log_name = NULL, *status_name = NULL, *cmdline = NULL;
  FILE *status = NULL;
  rvs_context *ctx = NULL, **ctxs = NULL;
  int nctx = 0, ngpu_workers = 0, gpu_worker_device[64];
  list_source lsrc = {files, nfiles, 0};
  queue_source qsrc;
  qsrc.path = queue_path;
  rvs_queue_opts_default(&qsrc.opt);
  rvs_file_source_fn source = use_queue ? queue_next : list_next;
  void *source_user = use_queue ? (void *)&qsrc : (void *)&lsrc;
  int nfail = 0, nfiles_done = 0;

  if (use_mpi) {
    if (log_path) log_path = log_name = with_rank(log_path, rank);
    if (status_path) status_path = status_name = with_rank(status_path, rank);
  }
  if (log_path) {
    logfile = fopen(log_path, "a");
    if (!logfile) {
      fprintf(stderr, "rvs_desi_fit: %s: cannot open log file\n", log_path);
      exit_code = 2;
      goto finish;
    }
    rvs_set_log_callback(log_to_file, NULL);
  }
  if (rvs_signals_install()) {
    fprintf(stderr, "rvs_desi_fit: %s\n", rvs_last_error());
    exit_code = 2;
    goto finish;
  }
  if (use_mpi)
    rvs_log(RVS_LOG_INFO, "MPI rank %d of %d (node-local rank %d, pid %ld)", rank, nranks,
            local_rank, (long)getpid());
  int gpu_device = -1;
  if (use_gpu && !use_mpi) {
    /* one worker per listed (or visible) GPU, files shared out dynamically */
    int listed[64], nlisted = 0;
    if (rvs_gpu_list_devices(gpu_devices, listed, 64, &nlisted) ||
        rvs_gpu_workers(listed, nlisted, gpu_workers, gpu_worker_device, 64, &ngpu_workers)) {
      if (gpu_devices) {
        fprintf(stderr, "rvs_desi_fit: %s\n", rvs_last_error());
        exit_code = 2;
        goto finish;
      }
      fprintf(stderr, "rvs_desi_fit: %s: fitting on the CPU\n", rvs_last_error());
      use_gpu = 0;
    } else {
      gpu_device = gpu_worker_device[0];
      rvs_log(RVS_LOG_INFO, "%d GPU worker(s)", ngpu_workers);
    }
  } else if (use_gpu) {
    int device = -1;
    if (rvs_gpu_pick_device(gpu_devices, local_rank, &device)) {
      if (gpu_devices) { /* a bad --gpu_devices list is the user's error */
        fprintf(stderr, "rvs_desi_fit: %s\n", rvs_last_error());
        exit_code = 2;
        goto finish;
      }
      /* no GPU found: say so once and fit on the CPU */
      if (rank == 0) fprintf(stderr, "rvs_desi_fit: %s: fitting on the CPU\n", rvs_last_error());
      use_gpu = 0;
      device = -1;
    }
    gpu_device = device;
    ngpu_workers = use_gpu ? gpu_workers : 1;
    for (int k = 0; k < ngpu_workers; k++) gpu_worker_device[k] = device;
    rvs_log(RVS_LOG_INFO, "rank %d (node-local %d): GPU device %d", rank, local_rank, device);
  }
  /* the command line, for the RVS_CMD header key */
  size_t cl = 1;
  for (int i = 0; i < argc; i++) cl += strlen(argv[i]) + 1;
  cmdline = calloc(cl, 1);
  if (!cmdline) { exit_code = 2; goto finish; }
  for (int i = 0; i < argc; i++) { strcat(cmdline, argv[i]); if (i + 1 < argc) strcat(cmdline, " "); }
  o.cmdline = cmdline;
  o.progress = isatty(2) && !use_mpi;

  rvs_config cfg;
  if (rvs_config_read(config_path, &cfg)) {
    fprintf(stderr, "rvs_desi_fit: %s\n", rvs_last_error());
    exit_code = 2;
    goto finish;
  }
  if (no_ccf_cont) cfg.ccf_continuum_normalize = 0;
  rvs_options ropt;
  rvs_options_default(&ropt);
  ropt.npoly = o.npoly;
  ropt.param_init = o.param_init;
  ropt.nthreads = nthreads;
  ropt.use_gpu = use_gpu;       /* the CUDA backend, or the CPU with one warning */
  ropt.gpu_device = gpu_device < 0 ? 0 : gpu_device;
  /* a device's workers share the default pool (the device memory of one) */
  if (use_gpu) ropt.pool = rvs_gpu_worker_pool(gpu_batch_size, 8192, gpu_workers);
  nctx = use_gpu ? ngpu_workers : cpu_workers;
  if (!use_gpu && cpu_workers > 1) {
    /* the threads are shared out between the workers */
    int nt = nthreads > 0 ? nthreads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    ropt.nthreads = nt / cpu_workers > 0 ? nt / cpu_workers : 1;
  }
  ctxs = calloc((size_t)nctx, sizeof *ctxs);
  if (!ctxs) { exit_code = 2; goto finish; }
  for (int k = 0; k < nctx; k++) {
    if (use_gpu) ropt.gpu_device = gpu_worker_device[k];
    if (rvs_context_create(&cfg, &ropt, &ctxs[k])) {
      fprintf(stderr, "rvs_desi_fit: %s\n", rvs_last_error());
      exit_code = 2;
      goto finish;
    }
    if (k == 0 && use_gpu && strcmp(rvs_context_backend_name(ctxs[0]), "cuda") != 0) {
      /* no CUDA backend after all (a build without CUDA, an unusable device;
       * said once in the log): one CPU worker with every thread */
      rvs_context_free(ctxs[0]);
      ctxs[0] = NULL;
      use_gpu = 0;
      ropt.use_gpu = 0;
      ropt.pool = 0;
      nctx = 1;
      if (rvs_context_create(&cfg, &ropt, &ctxs[0])) {
        fprintf(stderr, "rvs_desi_fit: %s\n", rvs_last_error());
        exit_code = 2;
        goto finish;
      }
    }
    /* load the arms' templates before the workers start; a failure here is
     * reported again for every file (as a per-file failure) */
    for (const char *a = o.fitarm; *a && nctx > 1; a++) {
      char setup[8];
      snprintf(setup, sizeof setup, "desi_%c", *a);
      int np;
      const char *names[RVS_MAX_PARAMS];
      (void)rvs_context_parnames(ctxs[k], setup, &np, names);
    }
    if (use_gpu)
      rvs_log(RVS_LOG_INFO, "worker %d: %s backend, device %d, %d fits in flight", k,
              rvs_context_backend_name(ctxs[k]), gpu_worker_device[k], rvs_context_pool(ctxs[k]));
  }
  ctx = ctxs[0];
  if (status_path) {
    status = fopen(status_path, "w");
    if (!status) {
      fprintf(stderr, "rvs_desi_fit: %s: cannot open status file\n", status_path);
      exit_code = 2;
      goto finish;
    }
  }
#ifdef RVS_HAVE_MPI
  if (use_mpi && rvs_mpi_queue_start(rank == 0 ? source : NULL, source_user, mpi_timeout, &mq)) {
    fprintf(stderr, "rvs_desi_fit: %s\n", rvs_last_error());
    exit_code = 2;
    goto finish;
  }
#else
  (void)mpi_timeout;
#endif
  {
    rvs_desi_run run;
    memset(&run, 0, sizeof run);
    run.ctx = ctxs;
    run.nworkers = nctx;
    run.cfg = &cfg;
    run.o = &o;
#ifdef RVS_HAVE_MPI
    mpi_src.mq = mq;
    run.source = mq ? mpi_next : source;
    run.source_user = mq ? (void *)&mpi_src : source_user;
    run.file_done = mq ? mpi_file_done : NULL;
#else
    run.source = source;
    run.source_user = source_user;
#endif
    run.status = status;
    run.progress = o.progress;
    run.nfiles_total = use_queue || use_mpi ? 0 : nfiles;
    run.throw_exc = throw_exc;
    /* CPU: one file at a time (its fibers fill the threads); GPU: as many as
     * the pool of fits in flight takes */
    run.max_files_in_flight = use_gpu ? 0 : 1;
    run.readahead = readahead >= 0 ? readahead : use_gpu ? 2 * nctx : 1;
    char prefix[64] = "";
    if (use_mpi) snprintf(prefix, sizeof prefix, "rank %d: ", rank);
    run.rank_prefix = prefix;
    if (rvs_desi_run_files(&run)) nfail++;
    nfail += run.nfail;
    nfiles_done += run.nfiles_done;
    rvs_desi_run_report_timing(&run, o.progress ? stderr : NULL);
    if (nctx > 1 || use_gpu)
      rvs_log(RVS_LOG_INFO, "%zu fits in %.1f s (%.1f fits/s) on %d %s worker(s)", run.nfitted,
              run.seconds, run.seconds > 0 ? run.nfitted / run.seconds : 0.0, nctx,
              rvs_context_backend_name(ctxs[0]));
  }
  exit_code = nfail ? 1 : 0;
#ifdef RVS_HAVE_MPI
  if (mq) {
    int total_fail = 0, total_files = 0, ndead = 0;
    int rc = rvs_mpi_queue_finish(mq, nfail, nfiles_done, &total_fail, &total_files, &ndead);
    if (rank == 0) {
      for (size_t k = 0; k < rvs_mpi_queue_nlost(mq); k++) {
        int r = -1;
        const char *lost = rvs_mpi_queue_lost(mq, k, &r);
        fprintf(stderr, "rvs_desi_fit: %s: rank %d died or hung while processing it; rerun with "
                        "--skipexisting\n", lost, r);
        rvs_log(RVS_LOG_ERROR, "%s: rank %d died or hung while processing it", lost, r);
        if (status) fprintf(status, "%s FAILURE 0 0.00\n", lost);
      }
      if (ndead)
        fprintf(stderr, "rvs_desi_fit: %d rank(s) stopped answering; the others finished the "
                        "remaining files; ending with MPI_Abort\n", ndead);
      rvs_log(total_fail || ndead ? RVS_LOG_WARNING : RVS_LOG_INFO,
              "MPI run: %d files processed by %d ranks, %d failed, %d ranks lost", total_files,
              nranks, total_fail, ndead);
      exit_code = total_fail || ndead || rc ? 1 : 0;
    } else {
      exit_code = 0; /* rank 0 reports this rank's failures; one exit code for the job */
    }
  }
#endif
  if (rvs_signals_stop_requested()) {
    int sig = rvs_signals_stop_requested();
    rvs_log(RVS_LOG_WARNING, "stopped by signal %d; rerun with --skipexisting to resume", sig);
    fprintf(stderr, "rvs_desi_fit: stopped by signal %d; rerun with --skipexisting to resume\n", sig);
    exit_code = 128 + sig;
  }
finish:
  if (status) fclose(status);
  for (int k = 0; k < nctx; k++) rvs_context_free(ctxs[k]);
  free(ctxs);
  (void)ctx;
  for (size_t i = 0; i < nfiles; i++) free(files[i]);
  free(files);
  free(tids);
  rvs_objtypes_free(objtypes, nobjtypes);
  free(cmdline);
  if (logfile) {
    rvs_set_log_callback(NULL, NULL);
    fclose(logfile);
  }
  free(log_name);
  free(status_name);
#ifdef RVS_HAVE_MPI
  if (use_mpi) rvs_mpi_queue_free_and_exit_mpi(mq, exit_code);
#endif
  return exit_code;

early_exit: /* bad options, before MPI starts */
  for (size_t i = 0; i < nfiles; i++) free(files[i]);
  free(files);
  free(tids);
  rvs_objtypes_free(objtypes, nobjtypes);
  return 2;
}
