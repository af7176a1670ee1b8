/* The shared queue file (--queue_file): order, blank lines, empty queue,
 * concurrent consumers (each line exactly once), rescue of a dead process's
 * lock, errors; stale temporaries; GPU choice per local rank. */
#include "rvs_test.h"

#include "driver/file_queue.h"
#include "driver/gpu_assign.h"
#include "rvs/status.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define W RVS_TEST_SCRATCH "/file_queue"

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* The pid of a process that has exited (and been reaped). */
static pid_t dead_pid(void) {
  pid_t p = fork();
  if (p == 0) _exit(0);
  waitpid(p, NULL, 0);
  return p;
}

static void pops_in_order_skipping_blanks(void **state) {
  (void)state;
  system("mkdir -p " W);
  const char *q = W "/order.txt";
  write_file(q, "a.fits\n\n   \nb.fits \r\n\t\nc.fits");
  rvs_queue_opts o;
  rvs_queue_opts_default(&o);
  char line[64];
  int got;
  const char *want[3] = {"a.fits", "b.fits", "c.fits"};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(rvs_queue_pop(q, &o, line, sizeof line, &got), RVS_OK);
    assert_int_equal(got, 1);
    assert_string_equal(line, want[i]);
  }
  assert_int_equal(rvs_queue_pop(q, &o, line, sizeof line, &got), RVS_OK);
  assert_int_equal(got, 0);
  assert_int_equal(file_size(q), 0); /* left in place, empty */
  assert_int_equal(rvs_queue_pop(q, &o, line, sizeof line, &got), RVS_OK);
  assert_int_equal(got, 0);
  assert_int_equal(rvs_queue_check(q), RVS_OK);
}

static void two_processes_take_each_line_once(void **state) {
  (void)state;
  system("mkdir -p " W);
  const char *q = W "/shared.txt";
  enum { N = 300 };
  FILE *f = fopen(q, "w");
  assert_non_null(f);
  for (int i = 0; i < N; i++) fprintf(f, "file-%04d.fits\n", i);
  fclose(f);
  pid_t kids[2];
  int go[2];
  assert_int_equal(pipe(go), 0); /* both start when the pipe is closed */
  for (int k = 0; k < 2; k++) {
    kids[k] = fork();
    assert_true(kids[k] >= 0);
    if (kids[k] == 0) {
      char c;
      close(go[1]);
      if (read(go[0], &c, 1) < 0) _exit(4);
      char out[256], line[64];
      snprintf(out, sizeof out, W "/taken_%d.txt", k);
      FILE *o = fopen(out, "w");
      rvs_queue_opts opt;
      rvs_queue_opts_default(&opt);
      opt.min_sleep_s = 0.0005;
      opt.max_wait_s = 60;
      int got = 1, n = 0;
      while (got) {
        if (rvs_queue_pop(q, &opt, line, sizeof line, &got)) _exit(2);
        if (got) { fprintf(o, "%s\n", line); fflush(o); n++; usleep(500); /* "work" */ }
      }
      fclose(o);
      _exit(n > 0 ? 0 : 3); /* both must have taken part */
    }
  }
  close(go[0]);
  close(go[1]);
  for (int k = 0; k < 2; k++) {
    int st;
    assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
      fail_msg("consumer %d: status %d (2: pop error, 3: took no line)", k, st);
  }
  /* every line exactly once over the two consumers */
  char cmd[512];
  snprintf(cmd, sizeof cmd,
           "cat " W "/taken_0.txt " W "/taken_1.txt | sort > " W "/taken.txt && "
           "seq -f 'file-%%04g.fits' 0 %d | cmp -s - " W "/taken.txt", N - 1);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(file_size(q), 0);
  assert_int_not_equal(system("ls " W " | grep -q 'shared.txt.*lock\\|\\.new'"), 0);
}

static void dead_holders_lock_is_rescued(void **state) {
  (void)state;
  system("mkdir -p " W);
  const char *q = W "/rescue.txt";
  write_file(q, "x.fits\ny.fits\n");
  char host[256], lock[1024];
  gethostname(host, sizeof host);
  host[sizeof host - 1] = 0;
  snprintf(lock, sizeof lock, "%s.%s.%ld.lock", q, host, (long)dead_pid());
  assert_int_equal(rename(q, lock), 0); /* as a process killed while holding the lock */
  assert_int_equal(rvs_queue_check(q), RVS_OK); /* a lock counts as an existing queue */
  rvs_queue_opts o;
  rvs_queue_opts_default(&o);
  o.min_sleep_s = 0.001;
  o.max_wait_s = 10;
  char line[64];
  int got;
  assert_int_equal(rvs_queue_pop(q, &o, line, sizeof line, &got), RVS_OK);
  assert_int_equal(got, 1);
  assert_string_equal(line, "x.fits");
  assert_int_not_equal(access(lock, F_OK), 0);
  /* a live holder's lock (this process's parent) is left alone: pop times out */
  snprintf(lock, sizeof lock, "%s.%s.%ld.lock", q, host, (long)getppid());
  assert_int_equal(rename(q, lock), 0);
  o.max_wait_s = 0.3;
  int rc = rvs_queue_pop(q, &o, line, sizeof line, &got);
  assert_int_equal(rc, RVS_ERR_IO);
  assert_non_null(strstr(rvs_last_error(), "rescue.txt"));
  assert_int_equal(got, 0);
  assert_int_equal(access(lock, F_OK), 0);
  unlink(lock);
}

static void errors_leave_the_queue_intact(void **state) {
  (void)state;
  system("mkdir -p " W);
  rvs_queue_opts o;
  rvs_queue_opts_default(&o);
  o.max_wait_s = 0.2;
  o.min_sleep_s = 0.01;
  char line[8];
  int got = 1;
  /* missing queue */
  assert_int_equal(rvs_queue_check(W "/nope.txt"), RVS_ERR_IO);
  assert_non_null(strstr(rvs_last_error(), "nope.txt"));
  assert_int_equal(rvs_queue_pop(W "/nope.txt", &o, line, sizeof line, &got), RVS_ERR_IO);
  assert_int_equal(got, 0);
  /* a line longer than the buffer: error, and the line stays in the queue */
  const char *q = W "/long.txt";
  write_file(q, "a-very-long-name.fits\nb\n");
  long before = file_size(q);
  assert_int_equal(rvs_queue_pop(q, &o, line, sizeof line, &got), RVS_ERR_ARG);
  assert_int_equal(got, 0);
  assert_int_equal(file_size(q), before);
  char big[64];
  assert_int_equal(rvs_queue_pop(q, &o, big, sizeof big, &got), RVS_OK);
  assert_string_equal(big, "a-very-long-name.fits");
}

static void stale_temporaries_removed(void **state) {
  (void)state;
  system("rm -rf " W "/tmpf && mkdir -p " W "/tmpf");
  const char *fin = W "/tmpf/rvtab_x.fits";
  char dead[512], mine[512], alive[512], other[512];
  snprintf(dead, sizeof dead, "%s.tmp.%ld", fin, (long)dead_pid());
  snprintf(mine, sizeof mine, "%s.tmp.%ld", fin, (long)getpid());
  snprintf(alive, sizeof alive, "%s.tmp.%ld", fin, (long)getppid());
  snprintf(other, sizeof other, W "/tmpf/rvtab_x.fits.tmp.abc");
  const char *all[4] = {dead, mine, alive, other};
  for (int i = 0; i < 4; i++) write_file(all[i], "partial");
  write_file(fin, "final");
  assert_int_equal(rvs_remove_stale_temporaries(fin), 1);
  assert_int_not_equal(access(dead, F_OK), 0);
  for (int i = 1; i < 4; i++) assert_int_equal(access(all[i], F_OK), 0);
  assert_int_equal(access(fin, F_OK), 0);
}

static void gpu_device_per_local_rank(void **state) {
  (void)state;
  int d = -1;
  assert_int_equal(rvs_gpu_pick_device("3,5", 0, &d), RVS_OK);
  assert_int_equal(d, 3);
  assert_int_equal(rvs_gpu_pick_device("3,5", 1, &d), RVS_OK);
  assert_int_equal(d, 5);
  assert_int_equal(rvs_gpu_pick_device("3,5", 4, &d), RVS_OK); /* more ranks than GPUs */
  assert_int_equal(d, 3);
  assert_int_equal(rvs_gpu_pick_device("0,,1", 0, &d), RVS_ERR_ARG);
  assert_int_equal(rvs_gpu_pick_device("0,x", 0, &d), RVS_ERR_ARG);
  assert_int_equal(rvs_gpu_pick_device("1,", 0, &d), RVS_ERR_ARG);
  /* automatic: CUDA_VISIBLE_DEVICES renumbers to 0..n-1 */
  setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7", 1);
  assert_int_equal(rvs_gpu_pick_device(NULL, 6, &d), RVS_OK);
  assert_int_equal(d, 2);
  setenv("CUDA_VISIBLE_DEVICES", "GPU-1a2b,GPU-3c4d", 1);
  assert_int_equal(rvs_gpu_pick_device("", 3, &d), RVS_OK);
  assert_int_equal(d, 1);
  unsetenv("CUDA_VISIBLE_DEVICES");
  /* local rank from the launcher's environment */
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "2", 1);
  assert_int_equal(rvs_local_rank_from_env(), 2);
  unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
  unsetenv("MPI_LOCALRANKID");
  unsetenv("PMI_LOCAL_RANK");
  setenv("SLURM_LOCALID", "3", 1);
  assert_int_equal(rvs_local_rank_from_env(), 3);
  unsetenv("SLURM_LOCALID");
  assert_int_equal(rvs_local_rank_from_env(), 0);
}

/* --gpu_workers: each device of the list gets N workers, side by side; the
 * default pool of fits in flight is shared by a device's workers. */
static void gpu_workers_per_device(void **state) {
  (void)state;
  int ids[3] = {0, 3, 1}, out[8], n = -1;
  assert_int_equal(rvs_gpu_workers(ids, 3, 2, out, 8, &n), RVS_OK);
  assert_int_equal(n, 6);
  const int want[6] = {0, 0, 3, 3, 1, 1};
  for (int i = 0; i < 6; i++) assert_int_equal(out[i], want[i]);
  assert_int_equal(rvs_gpu_workers(ids, 3, 1, out, 8, &n), RVS_OK);
  assert_int_equal(n, 3);
  assert_int_equal(out[1], 3);
  assert_int_equal(rvs_gpu_workers(ids, 3, 3, out, 8, &n), RVS_ERR_ARG); /* 9 > 8 */
  assert_int_equal(rvs_gpu_workers(ids, 3, 0, out, 8, &n), RVS_ERR_ARG);
  assert_int_equal(rvs_gpu_worker_pool(0, 8192, 2), 4096);
  assert_int_equal(rvs_gpu_worker_pool(0, 8192, 1), 8192);
  assert_int_equal(rvs_gpu_worker_pool(1536, 8192, 2), 1536); /* --gpu_batch_size wins */
  assert_int_equal(rvs_gpu_worker_pool(0, 600, 4), 512);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(pops_in_order_skipping_blanks),
    cmocka_unit_test(two_processes_take_each_line_once),
    cmocka_unit_test(dead_holders_lock_is_rescued),
    cmocka_unit_test(errors_leave_the_queue_intact),
    cmocka_unit_test(stale_temporaries_removed),
    cmocka_unit_test(gpu_device_per_local_rank),
    cmocka_unit_test(gpu_workers_per_device),
};

RVS_TEST_MAIN(tests)
