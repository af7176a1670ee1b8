/* RVS_TEST_SERIAL (the cases share the scratch folder)
 * RVS_TEST_LABELS: slow mpi
 *
 * rvs_desi_fit scale-out and operations: `mpirun -n 3 ... --mpi` over several
 * small coadds (one corrupt) gives the serial run's outputs, reports the
 * corrupt file and exits non-zero; a SIGKILLed run leaves no partial output
 * and --skipexisting completes it; SIGTERM abandons the current file cleanly;
 * two concurrent processes consuming one --queue_file process every file once;
 * a rank killed mid-run is detected and the others finish the work.
 *
 * Inputs: copies of the real one-fiber DESI coadd with their TARGETID and flux
 * scale changed (so a mix-up between files shows), fitted with the tiny
 * analytic template library of tests/test_desi_lib.h. */
#include "rvs_test.h"

#include "rvs/rvspecfit.h"
#include "test_desi_lib.h"

#include <fitsio.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define W RVS_TEST_SCRATCH "/mpi_run"
#define REAL RVS_SHARED_DATA_DIR "/desi/coadd-4-80613-thru20210324.fits"
#define PROG RVS_BINARY_DIR "/rvs_desi_fit"
#define NGOOD 5
#define MPIRUN_ENV "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 "
#define MPIRUN "mpirun --allow-run-as-root --oversubscribe --mca btl self,vader --mca btl_vader_single_copy_mechanism none "

static int sh(const char *cmd) { return system(cmd); }

static int shf(const char *fmt, ...) {
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  return system(cmd);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Input k: <W>/in/80613/2021032<k>/coadd-<k>.fits (two parent folders for
 * the default output subfolders). */
static void input_name(int k, char *buf, size_t cap) {
  snprintf(buf, cap, W "/in/80613/2021032%d/coadd-%d.fits", k, k);
}

/* Scale an image HDU by `f` (all pixels). */
static int scale_hdu(fitsfile *f, const char *name, double fac) {
  int fs = 0, naxis;
  long nax[3] = {1, 1, 1};
  fits_movnam_hdu(f, IMAGE_HDU, (char *)name, 0, &fs);
  fits_get_img_dim(f, &naxis, &fs);
  fits_get_img_size(f, 3, nax, &fs);
  long n = nax[0] * nax[1] * (naxis > 2 ? nax[2] : 1);
  double *v = malloc(sizeof(double) * (size_t)n);
  int anynul;
  fits_read_img(f, TDOUBLE, 1, n, NULL, v, &anynul, &fs);
  for (long i = 0; i < n; i++) v[i] *= fac;
  fits_write_img(f, TDOUBLE, 1, n, v, &fs);
  free(v);
  return fs;
}

static int make_input(int k) {
  char path[1024], cmd[4096];
  input_name(k, path, sizeof path);
  snprintf(cmd, sizeof cmd, "mkdir -p $(dirname %s) && cp %s %s && chmod u+w %s", path, REAL,
           path, path);
  if (sh(cmd)) return -1;
  fitsfile *f;
  int fs = 0, col;
  fits_open_file(&f, path, READWRITE, &fs);
  fits_movnam_hdu(f, BINARY_TBL, "FIBERMAP", 0, &fs);
  fits_get_colnum(f, CASEINSEN, "TARGETID", &col, &fs);
  long long tid = 1000 + k;
  fits_write_col(f, TLONGLONG, col, 1, 1, 1, &tid, &fs);
  double fac = 1 + 0.25 * k;
  const char *arms[3] = {"B", "R", "Z"};
  for (int a = 0; a < 3 && !fs; a++) {
    char n[32];
    snprintf(n, sizeof n, "%s_FLUX", arms[a]);
    fs = scale_hdu(f, n, fac);
    snprintf(n, sizeof n, "%s_IVAR", arms[a]);
    if (!fs) fs = scale_hdu(f, n, 1 / (fac * fac));
  }
  fits_close_file(f, &fs);
  return fs;
}

/* The bytes of every HDU's data unit of a and b are equal (headers differ:
 * they hold the command line). */
static int same_fits_data(const char *a, const char *b) {
  fitsfile *fa, *fb;
  int sa = 0, sb = 0, na = 0, nb = 0, same = 1;
  if (fits_open_file(&fa, a, READONLY, &sa)) return 0;
  if (fits_open_file(&fb, b, READONLY, &sb)) { fits_close_file(fa, &sa); return 0; }
  fits_get_num_hdus(fa, &na, &sa);
  fits_get_num_hdus(fb, &nb, &sb);
  if (na != nb || na < 2) same = 0;
  FILE *ra = fopen(a, "rb"), *rb = fopen(b, "rb");
  for (int h = 1; same && h <= na; h++) {
    LONGLONG ha, da, ea, hb, db, eb;
    int t;
    fits_movabs_hdu(fa, h, &t, &sa);
    fits_movabs_hdu(fb, h, &t, &sb);
    fits_get_hduaddrll(fa, &ha, &da, &ea, &sa);
    fits_get_hduaddrll(fb, &hb, &db, &eb, &sb);
    if (sa || sb || ea - da != eb - db) { same = 0; break; }
    size_t n = (size_t)(ea - da);
    char *ba = malloc(n + 1), *bb = malloc(n + 1);
    fseek(ra, (long)da, SEEK_SET);
    fseek(rb, (long)db, SEEK_SET);
    if (fread(ba, 1, n, ra) != n || fread(bb, 1, n, rb) != n || memcmp(ba, bb, n) != 0) same = 0;
    free(ba);
    free(bb);
  }
  fclose(ra);
  fclose(rb);
  fits_close_file(fa, &sa);
  fits_close_file(fb, &sb);
  return same;
}

static void out_name(const char *dir, int subdirs, const char *prefix, int k, char *buf,
                     size_t cap) {
  if (subdirs) snprintf(buf, cap, "%s/80613/2021032%d/%s_coadd-%d.fits", dir, k, prefix, k);
  else snprintf(buf, cap, "%s/%s_coadd-%d.fits", dir, prefix, k);
}

/* Outputs of good file k in `dir` equal the serial reference. */
static void assert_same_as_reference(const char *dir, int subdirs, int k) {
  const char *pre[2] = {"rvtab", "rvmod"};
  for (int j = 0; j < 2; j++) {
    char got[1024], ref[1024];
    out_name(dir, subdirs, pre[j], k, got, sizeof got);
    out_name(W "/ref", 0, pre[j], k, ref, sizeof ref);
    if (!same_fits_data(got, ref)) fail_msg("%s differs from the serial run's %s", got, ref);
  }
}

/* Lines of `path` matching the basic regular expression `re` (-1: no file). */
static int count_matching(const char *path, const char *re) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "grep -c -e '%s' '%s' 2>/dev/null", re, path);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  int n = -1;
  if (fscanf(p, "%d", &n) != 1) n = -1;
  pclose(p);
  return n;
}

static void write_list(const char *path, int with_corrupt) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  for (int k = 0; k < NGOOD; k++) {
    char p[1024];
    input_name(k, p, sizeof p);
    fprintf(f, "%s\n", p);
    if (with_corrupt && k == 1) fprintf(f, W "/in/80613/20210399/coadd-corrupt.fits\n");
  }
  fclose(f);
}


/* Start `sh -c "exec CMD"` in the background: the pid is the program's. */
static pid_t spawn(const char *fmt, ...) {
  char cmd[8192] = "exec ";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd + 5, sizeof cmd - 5, fmt, ap);
  va_end(ap);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  return pid;
}

static int count_lines(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int n = 0, c;
  while ((c = fgetc(f)) != EOF) n += c == '\n';
  fclose(f);
  return n;
}

static int grep_file(const char *path, const char *what) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "grep -q '%s' %s 2>/dev/null", what, path);
  return sh(cmd) == 0;
}

/* Wait (up to `limit` s) until `path` has at least n lines. */
static int wait_lines(const char *path, int n, double limit) {
  double t0 = now_s();
  while (count_lines(path) < n) {
    if (now_s() - t0 > limit) return 0;
    usleep(20000);
  }
  return 1;
}

/* For every good file: both outputs equal the reference, or neither exists;
 * returns how many are complete. */
static int complete_or_absent(const char *dir) {
  int ncomplete = 0;
  for (int k = 0; k < NGOOD; k++) {
    char tab[1024], mod[1024];
    out_name(dir, 0, "rvtab", k, tab, sizeof tab);
    out_name(dir, 0, "rvmod", k, mod, sizeof mod);
    int ht = access(tab, F_OK) == 0, hm = access(mod, F_OK) == 0;
    if (ht != hm) fail_msg("only one of %s, %s exists", tab, mod);
    if (ht) {
      assert_same_as_reference(dir, 0, k);
      ncomplete++;
    }
  }
  return ncomplete;
}

static double ref_seconds; /* wall time of the serial reference run */

/* Library, inputs and the serial reference outputs, built once per process. */
static int setup(void **state) {
  (void)state;
  sh("rm -rf " W " && mkdir -p " W);
  if (tdl_build(W "/lib")) return -1;
  for (int k = 0; k < NGOOD; k++)
    if (make_input(k)) return -1;
  if (sh("mkdir -p " W "/in/80613/20210399 && head -c 20000 " REAL " > " W
         "/in/80613/20210399/coadd-corrupt.fits"))
    return -1;
  write_list(W "/list.txt", 0);
  double t0 = now_s();
  if (sh(PROG " --config " W "/lib/config.yaml --nthreads 1 --no_subdirs --output_dir " W
         "/ref --input_file_from " W "/list.txt 2> " W "/ref.err"))
    return -1;
  ref_seconds = now_s() - t0;
  return 0;
}

static void need_mpirun(void) {
  if (sh("command -v mpirun > /dev/null"))
    fail_msg("mpirun not found: install OpenMPI (scripts/install-deps) to run this test");
}

static int exit_status(int rc) { return WIFEXITED(rc) ? WEXITSTATUS(rc) : 1000 + WTERMSIG(rc); }

static void mpi_three_ranks(void **state) {
  (void)state;
  need_mpirun();
  write_list(W "/list_mpi.txt", 1);
  sh("rm -rf " W "/out_mpi " W "/mpi_status_* " W "/mpi_log_*");
  double t0 = now_s();
  int rc = shf(MPIRUN_ENV MPIRUN "-n 3 " PROG " --mpi --config " W "/lib/config.yaml --nthreads 1 "
               "--output_dir " W "/out_mpi --input_file_from " W "/list_mpi.txt "
               "--process_status_file " W "/mpi_status_%%d.txt --log " W "/mpi_log_%%d.txt "
               "--log_level INFO > " W "/mpi.out 2> " W "/mpi.err");
  double t = now_s() - t0;
  printf("mpirun -n 3 over %d files: %.2f s (serial reference %.2f s)\n", NGOOD + 1, t,
         ref_seconds);
  assert_int_equal(exit_status(rc), 1); /* a file failed */
  /* every good file equal to the serial run (output subfolders <tile>/<night>) */
  for (int k = 0; k < NGOOD; k++) assert_same_as_reference(W "/out_mpi", 1, k);
  /* the corrupt file: reported, FAILURE in exactly one status file, no output */
  assert_int_equal(sh("grep -q 'coadd-corrupt.fits' " W "/mpi.err"), 0);
  assert_int_equal(sh("test $(cat " W "/mpi_status_*.txt | grep -c 'coadd-corrupt.fits FAILURE 0') = 1"), 0);
  assert_int_not_equal(sh("find " W "/out_mpi | grep -q 'corrupt\\|tmp'"), 0);
  /* each input exactly once over the three status files, each good one SUCCESS */
  assert_int_equal(sh("cat " W "/mpi_status_0.txt " W "/mpi_status_1.txt " W "/mpi_status_2.txt "
                      "| awk '{print $1}' | sort > " W "/mpi_done.txt && sort " W "/list_mpi.txt | "
                      "cmp -s - " W "/mpi_done.txt"), 0);
  assert_int_equal(sh("test $(cat " W "/mpi_status_*.txt | grep -c ' SUCCESS 1 ') = 5"), 0);
  /* rank 0 worked too, and each rank wrote its own log */
  assert_int_equal(sh("test -s " W "/mpi_status_0.txt"), 0);
  for (int r = 0; r < 3; r++) assert_int_equal(shf("grep -q 'MPI rank %d of 3' " W "/mpi_log_%d.txt", r, r), 0);
  assert_int_equal(sh("grep -q 'MPI run: 6 files processed by 3 ranks, 1 failed, 0 ranks lost' " W
                      "/mpi_log_0.txt"), 0);
}

static void mpi_option_checks(void **state) {
  (void)state;
  /* --mpi needs %d in --log / --process_status_file; exit 2 before MPI starts */
  int rc = sh(PROG " --mpi --config " W "/lib/config.yaml --log " W "/x.log " REAL " 2> " W
              "/opt.err");
  assert_int_equal(exit_status(rc), 2);
  assert_int_equal(sh("grep -q '%d' " W "/opt.err"), 0);
  rc = sh(PROG " --config " W "/lib/config.yaml --gpu_devices 0 " REAL " 2> " W "/opt.err");
  assert_int_equal(exit_status(rc), 2);
  rc = sh(PROG " --config " W "/lib/config.yaml --use_gpu --gpu_devices 0,x " REAL " 2> " W "/opt.err");
  assert_int_equal(exit_status(rc), 2);
  assert_int_equal(sh("grep -q 'gpu_devices' " W "/opt.err"), 0);
  rc = sh(PROG " --config " W "/lib/config.yaml --queue_file " REAL " 2> " W "/opt.err");
  assert_int_equal(exit_status(rc), 2);
  rc = sh(PROG " --config " W "/lib/config.yaml --use_gpu --gpu_workers 0 " REAL " 2> " W "/opt.err");
  assert_int_equal(exit_status(rc), 2);
  assert_int_equal(sh("grep -q 'gpu_workers' " W "/opt.err"), 0);
}


#define SERIAL_ARGS "--config " W "/lib/config.yaml --nthreads 1 --no_subdirs "

static void sigkill_then_skipexisting(void **state) {
  (void)state;
  sh("rm -rf " W "/out_kill " W "/kill_status*.txt");
  pid_t pid = spawn(PROG " " SERIAL_ARGS "--output_dir " W "/out_kill --input_file_from " W
                    "/list.txt --process_status_file " W "/kill_status1.txt 2> " W "/kill1.err");
  assert_true(pid > 0);
  assert_true(wait_lines(W "/kill_status1.txt", 2, 60));
  usleep(300000); /* into the third file */
  assert_int_equal(kill(pid, SIGKILL), 0);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  /* no partial output: each file has both outputs (equal to the serial run's) or none */
  int done = complete_or_absent(W "/out_kill");
  assert_true(done >= 2 && done < NGOOD);
  /* a temporary as a SIGKILL during the write would leave it (the dead pid) */
  char stale[1024];
  snprintf(stale, sizeof stale, W "/out_kill/rvtab_coadd-4.fits.tmp.%ld", (long)pid);
  FILE *f = fopen(stale, "w");
  assert_non_null(f);
  fputs("half-written", f);
  fclose(f);
  /* resume */
  int rc = sh(PROG " " SERIAL_ARGS "--skipexisting --output_dir " W "/out_kill --input_file_from " W
              "/list.txt --process_status_file " W "/kill_status2.txt 2> " W "/kill2.err");
  assert_int_equal(exit_status(rc), 0);
  assert_int_equal(complete_or_absent(W "/out_kill"), NGOOD);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "test $(grep -c ' EXISTING -1 0.00' " W "/kill_status2.txt) = %d && "
           "test $(grep -c ' SUCCESS 1 ' " W "/kill_status2.txt) = %d", done, NGOOD - done);
  assert_int_equal(sh(cmd), 0);
  assert_int_not_equal(sh("ls " W "/out_kill | grep -q tmp"), 0); /* stale temporary removed */
}

/* --workers 2: two workers (the code path of one worker per GPU) share the
 * list dynamically; every file is fitted once, by either, with the serial
 * run's outputs; a corrupt file fails without stopping the other worker. */
static void two_workers_share_the_files(void **state) {
  (void)state;
  write_list(W "/list_w.txt", 1);
  sh("rm -rf " W "/out_w " W "/w_status.txt " W "/w.log");
  int rc = sh(PROG " " SERIAL_ARGS "--workers 2 --log_level INFO --log " W "/w.log --output_dir "
              W "/out_w --input_file_from " W "/list_w.txt --process_status_file " W
              "/w_status.txt 2> " W "/w.err");
  assert_int_equal(exit_status(rc), 1); /* the corrupt file */
  for (int k = 0; k < NGOOD; k++) assert_same_as_reference(W "/out_w", 0, k);
  assert_int_equal(count_lines(W "/w_status.txt"), NGOOD + 1);
  assert_int_equal(sh("test $(grep -c ' SUCCESS 1 ' " W "/w_status.txt) = 5"), 0);
  assert_int_equal(sh("grep -q 'coadd-corrupt.fits FAILURE' " W "/w_status.txt"), 0);
  /* the reader thread read every file ahead, both workers took files from
   * it (every file that had fits: not the corrupt one) */
  assert_int_equal(count_matching(W "/w.log", "reading ahead: "), NGOOD + 1);
  assert_int_equal(sh("grep -q 'worker 0 takes' " W "/w.log"), 0);
  assert_int_equal(sh("grep -q 'worker 1 takes' " W "/w.log"), 0);
  assert_int_equal(count_matching(W "/w.log", "worker [01] takes"), NGOOD);
  assert_int_not_equal(sh("ls " W "/out_w | grep -q tmp"), 0);
}

static void sigterm_abandons_current_file(void **state) {
  (void)state;
  sh("rm -rf " W "/out_term " W "/term_status*.txt");
  pid_t pid = spawn(PROG " " SERIAL_ARGS "--output_dir " W "/out_term --input_file_from " W
                    "/list.txt --process_status_file " W "/term_status.txt 2> " W "/term.err");
  assert_true(wait_lines(W "/term_status.txt", 1, 60));
  usleep(300000); /* into the second file (about 1.5 s each) */
  double t0 = now_s();
  assert_int_equal(kill(pid, SIGTERM), 0);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  double stop_s = now_s() - t0;
  printf("SIGTERM to exit: %.3f s\n", stop_s);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGTERM);
  assert_true(stop_s < 1.0); /* abandoned, not finished */
  assert_true(grep_file(W "/term.err", "abandoned .*coadd-1.fits"));
  assert_int_equal(complete_or_absent(W "/out_term"), 1);
  assert_int_not_equal(sh("ls " W "/out_term | grep -q 'coadd-1\\|tmp'"), 0);
  assert_int_equal(count_lines(W "/term_status.txt"), 1);
}

/* --use_gpu --gpu_devices 0 (two workers on device 0 by default): without a
 * usable GPU (CI) one message, then one CPU worker with the serial run's
 * outputs; on a GPU machine the CUDA backend gives the same numbers (it is
 * bit-identical to the CPU backend, docs/GPU.md). */
static void use_gpu_two_workers_or_cpu(void **state) {
  (void)state;
  char p0[1024];
  input_name(0, p0, sizeof p0);
  sh("rm -rf " W "/out_g");
  char cmd[4096];
  snprintf(cmd, sizeof cmd, PROG " " SERIAL_ARGS "--use_gpu --gpu_devices 0 --log_level INFO "
           "--output_dir " W "/out_g %s 2> " W "/g.err", p0);
  assert_int_equal(exit_status(sh(cmd)), 0);
  assert_same_as_reference(W "/out_g", 0, 0);
  if (count_matching(W "/g.err", "running on the CPU") == 1) /* no usable GPU */
    assert_int_equal(count_matching(W "/g.err", "time split (1 worker"), 1);
  else
    assert_int_equal(count_matching(W "/g.err", "time split (2 worker"), 1);
}

/* --throw_exceptions with --readahead 2: the corrupt third file stops the
 * run while the second, already read, waits for the busy worker; the first is
 * written, the second is reported as not fitted (FAILURE, named on stderr),
 * nothing after the corrupt one is taken, no temporaries are left. */
static void throw_exceptions_reports_read_ahead(void **state) {
  (void)state;
  write_list(W "/list_t.txt", 1);
  sh("rm -rf " W "/out_t " W "/t_status.txt");
  int rc = sh(PROG " " SERIAL_ARGS "--throw_exceptions --readahead 2 --output_dir " W
              "/out_t --input_file_from " W "/list_t.txt --process_status_file " W
              "/t_status.txt 2> " W "/t.err");
  assert_int_equal(exit_status(rc), 1);
  assert_int_equal(count_lines(W "/t_status.txt"), 3);
  assert_int_equal(sh("grep -q 'coadd-0.fits SUCCESS 1 ' " W "/t_status.txt"), 0);
  assert_int_equal(sh("grep -q 'coadd-corrupt.fits FAILURE 0 ' " W "/t_status.txt"), 0);
  assert_int_equal(sh("grep -q 'coadd-1.fits FAILURE 0 ' " W "/t_status.txt"), 0);
  assert_int_equal(count_matching(W "/t.err", "^rvs_desi_fit: .*coadd-1.fits: not fitted"), 1);
  assert_same_as_reference(W "/out_t", 0, 0);
  assert_int_equal(complete_or_absent(W "/out_t"), 1);
  assert_int_not_equal(sh("ls " W "/out_t | grep -q 'coadd-1\\|tmp'"), 0);
}

static void queue_file_two_processes(void **state) {
  (void)state;
  write_list(W "/queue.txt", 1);
  sh("rm -rf " W "/out_q " W "/q_status*.txt");
  /* two independent jobs, each with its own status file, one shared queue */
  pid_t a = spawn(PROG " " SERIAL_ARGS "--output_dir " W "/out_q --queue_file=" W
                  "/queue.txt --process_status_file " W "/q_status_a.txt 2> " W "/qa.err");
  pid_t b = spawn(PROG " " SERIAL_ARGS "--output_dir " W "/out_q --input_file_from " W
                  "/queue.txt --queue_file --process_status_file " W "/q_status_b.txt 2> " W
                  "/qb.err");
  int sa, sb;
  assert_int_equal(waitpid(a, &sa, 0), a);
  assert_int_equal(waitpid(b, &sb, 0), b);
  /* exactly one of them met the corrupt file and exits 1 */
  assert_true(WIFEXITED(sa) && WIFEXITED(sb));
  assert_int_equal(WEXITSTATUS(sa) + WEXITSTATUS(sb), 1);
  write_list(W "/queue_all.txt", 1);
  assert_int_equal(sh("cat " W "/q_status_a.txt " W "/q_status_b.txt | awk '{print $1}' | sort > "
                      W "/q_done.txt && sort " W "/queue_all.txt | cmp -s - " W "/q_done.txt"), 0);
  /* both took part */
  assert_true(count_lines(W "/q_status_a.txt") >= 1 && count_lines(W "/q_status_b.txt") >= 1);
  assert_int_equal(complete_or_absent(W "/out_q"), NGOOD);
  /* the queue is left empty, with no lock files */
  assert_int_equal(count_lines(W "/queue.txt"), 0);
  assert_int_not_equal(sh("ls " W " | grep -q 'queue.txt.*lock'"), 0);
}

static void mpi_dead_rank(void **state) {
  (void)state;
  need_mpirun();
  write_list(W "/list_dead.txt", 0);
  sh("rm -rf " W "/out_dead " W "/dead_status_* " W "/dead_log_*");
  /* keep the job alive when a rank dies (OpenMPI's default kills the job) */
  pid_t pid = spawn("env " MPIRUN_ENV MPIRUN "--mca orte_abort_on_non_zero_status 0 -n 3 " PROG
                    " --mpi --mpi_timeout 3 --config " W "/lib/config.yaml --nthreads 1 --output_dir " W
                    "/out_dead "
                    "--input_file_from " W "/list_dead.txt --process_status_file " W
                    "/dead_status_%%d.txt --log " W "/dead_log_%%d.txt --log_level INFO "
                    "> " W "/dead.out 2> " W "/dead.err");
  double t0 = now_s();
  while (!grep_file(W "/dead_log_0.txt", "rank 1 gets") && now_s() - t0 < 60) usleep(20000);
  assert_true(grep_file(W "/dead_log_0.txt", "rank 1 gets"));
  FILE *f = fopen(W "/dead_log_1.txt", "r");
  assert_non_null(f);
  char line[1024];
  long victim = -1;
  while (fgets(line, sizeof line, f)) {
    char *p = strstr(line, "pid ");
    if (strstr(line, "MPI rank 1 of 3") && p) victim = atol(p + 4);
  }
  fclose(f);
  assert_true(victim > 0);
  assert_int_equal(kill((pid_t)victim, SIGKILL), 0);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  printf("run with a dead rank: %.2f s\n", now_s() - t0);
  assert_int_not_equal(exit_status(st), 0);
  assert_true(grep_file(W "/dead_log_0.txt", "rank 1 sent nothing for 3 s"));
  assert_true(grep_file(W "/dead.err", "rank 1 died or hung while processing it"));
  /* the files rank 1 held (the one it was fitting, and the one it had read
   * ahead if any) are FAILUREs in rank 0's status, each named on stderr;
   * every other file was done */
  int nlost = count_matching(W "/dead_status_0.txt", " FAILURE 0 ");
  printf("files lost with rank 1: %d\n", nlost);
  assert_true(nlost == 1 || nlost == 2);
  assert_int_equal(count_matching(W "/dead.err", "died or hung while processing it"), nlost);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "cat " W "/dead_status_*.txt | grep -v 'FAILURE' | awk '{print $1}' | "
           "sort -u | wc -l | grep -qx %d", NGOOD - nlost);
  assert_int_equal(sh(cmd), 0);
  /* resume with --skipexisting: everything equal to the serial run */
  int rc = sh(PROG " --config " W "/lib/config.yaml --nthreads 1 --skipexisting --output_dir " W
          "/out_dead --input_file_from " W "/list_dead.txt --process_status_file " W
          "/dead_resume.txt 2> " W "/dead3.err");
  assert_int_equal(exit_status(rc), 0);
  snprintf(cmd, sizeof cmd, "test $(grep -c ' SUCCESS 1 ' " W "/dead_resume.txt) = %d", nlost);
  assert_int_equal(sh(cmd), 0);
  for (int k = 0; k < NGOOD; k++) assert_same_as_reference(W "/out_dead", 1, k);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(mpi_three_ranks),
    cmocka_unit_test(mpi_option_checks),
    cmocka_unit_test(sigkill_then_skipexisting),
    cmocka_unit_test(sigterm_abandons_current_file),
    cmocka_unit_test(two_workers_share_the_files),
    cmocka_unit_test(throw_exceptions_reports_read_ahead),
    cmocka_unit_test(use_gpu_two_workers_or_cpu),
    cmocka_unit_test(queue_file_two_processes),
    cmocka_unit_test(mpi_dead_rank),
};

RVS_TEST_MAIN_SETUP(tests, setup, NULL)
