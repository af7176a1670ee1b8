#include "driver/file_queue.h"
#include "rvs/status.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void rvs_queue_opts_default(rvs_queue_opts *o) {
  o->max_wait_s = 600;
  o->min_sleep_s = 0.05;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_s(double s) {
  struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&t, &t) != 0 && errno == EINTR) {}
}

static void host_name(char *h, size_t cap) {
  if (gethostname(h, cap) != 0) snprintf(h, cap, "unknown");
  h[cap - 1] = 0;
}

/* Split a path into its folder ("." if none) and base name. */
static void split_path(const char *path, char *dir, size_t dcap, const char **base) {
  const char *s = strrchr(path, '/');
  if (!s) { snprintf(dir, dcap, "."); *base = path; return; }
  snprintf(dir, dcap, "%.*s", (int)(s - path) > 0 ? (int)(s - path) : 1, s == path ? "/" : path);
  *base = s + 1;
}

static int pid_is_dead(long pid) {
  return pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Look for "<base>.<host>.<pid>.lock" in the queue's folder.  Returns 1 if any
 * lock exists; a lock of this host whose process is gone is renamed back
 * onto the queue (only one of several rescuers can win that rename). */
static int scan_locks(const char *queue_path) {
  char dir[4096], host[256];
  const char *base;
  split_path(queue_path, dir, sizeof dir, &base);
  host_name(host, sizeof host);
  DIR *d = opendir(dir);
  if (!d) return 0;
  size_t bl = strlen(base), hl = strlen(host);
  int found = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    const char *n = e->d_name;
    size_t nl = strlen(n);
    if (nl < bl + 6 || strncmp(n, base, bl) != 0 || n[bl] != '.' ||
        strcmp(n + nl - 5, ".lock") != 0)
      continue;
    found = 1;
    /* <host>.<pid>.lock of this host? */
    const char *h = n + bl + 1;
    if (strncmp(h, host, hl) != 0 || h[hl] != '.') continue;
    char *end;
    long pid = strtol(h + hl + 1, &end, 10);
    if (strcmp(end, ".lock") != 0 || !pid_is_dead(pid)) continue;
    char lock[8192];
    snprintf(lock, sizeof lock, "%s/%s", dir, n);
    if (rename(lock, queue_path) == 0) found = 2; /* rescued: the queue is back */
  }
  closedir(d);
  return found;
}

int rvs_queue_check(const char *queue_path) {
  if (access(queue_path, F_OK) == 0 || scan_locks(queue_path)) return RVS_OK;
  return rvs_error(RVS_ERR_IO, "%s: queue file does not exist", queue_path);
}

static int is_blank(const char *s) {
  for (; *s; s++)
    if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return 0;
  return 1;
}

/* With the queue renamed to `lock`: take the first non-blank line, write the
 * rest back through a temporary file. */
static int pop_locked(const char *queue_path, const char *lock, char *line, size_t cap,
                      int *got) {
  char tmp[8192];
  int tl = snprintf(tmp, sizeof tmp, "%s.new", lock);
  if (tl < 0 || (size_t)tl >= sizeof tmp)
    return rvs_error(RVS_ERR_ARG, "%s: queue path too long", queue_path);
  FILE *f = fopen(lock, "r");
  if (!f) return rvs_error(RVS_ERR_IO, "%s: cannot open queue: %s", queue_path, strerror(errno));
  FILE *out = NULL;
  char *buf = NULL;
  size_t bcap = 0;
  ssize_t n;
  int rc = RVS_OK;
  *got = 0;
  while ((n = getline(&buf, &bcap, f)) >= 0) {
    if (!*got) {
      if (is_blank(buf)) continue;
      size_t l = (size_t)n;
      while (l && (buf[l - 1] == '\n' || buf[l - 1] == '\r' || buf[l - 1] == ' ' ||
                   buf[l - 1] == '\t'))
        buf[--l] = 0;
      if (l + 1 > cap) {
        rc = rvs_error(RVS_ERR_ARG, "%s: queue line too long (%zu characters)", queue_path, l);
        break;
      }
      memcpy(line, buf, l + 1);
      *got = 1;
      out = fopen(tmp, "w");
      if (!out) {
        rc = rvs_error(RVS_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
        break;
      }
      continue;
    }
    if (fwrite(buf, 1, (size_t)n, out) != (size_t)n) {
      rc = rvs_error(RVS_ERR_IO, "%s: write error", tmp);
      break;
    }
  }
  if (!rc && ferror(f)) rc = rvs_error(RVS_ERR_IO, "%s: read error", queue_path);
  fclose(f);
  free(buf);
  if (out) {
    if (fflush(out) != 0 || fsync(fileno(out)) != 0) {
      if (!rc) rc = rvs_error(RVS_ERR_IO, "%s: write error: %s", tmp, strerror(errno));
    }
    fclose(out);
    if (!rc && rename(tmp, lock) != 0)
      rc = rvs_error(RVS_ERR_IO, "%s: cannot replace queue: %s", queue_path, strerror(errno));
    if (rc) unlink(tmp);
  }
  if (rc) *got = 0;
  return rc;
}

int rvs_queue_pop(const char *queue_path, const rvs_queue_opts *opt, char *line, size_t cap,
                  int *got) {
  rvs_queue_opts def;
  if (!opt) { rvs_queue_opts_default(&def); opt = &def; }
  *got = 0;
  char host[256], lock[8192];
  host_name(host, sizeof host);
  int nl = snprintf(lock, sizeof lock, "%s.%s.%ld.lock", queue_path, host, (long)getpid());
  if (nl < 0 || (size_t)nl >= sizeof lock)
    return rvs_error(RVS_ERR_ARG, "%s: queue path too long", queue_path);
  unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
  double t0 = now_s();
  for (int tries = 0;; tries++) {
    if (rename(queue_path, lock) == 0) {
      int rc = pop_locked(queue_path, lock, line, cap, got);
      if (rename(lock, queue_path) != 0 && !rc)
        rc = rvs_error(RVS_ERR_IO, "%s: cannot put the queue back from %s: %s", queue_path,
                       lock, strerror(errno));
      return rc;
    }
    if (errno != ENOENT)
      return rvs_error(RVS_ERR_IO, "%s: cannot lock queue: %s", queue_path, strerror(errno));
    /* someone holds it, or it is gone; every few tries, rescue a dead holder's lock */
    if (tries % 8 == 7 && scan_locks(queue_path) == 2) continue;
    if (now_s() - t0 > opt->max_wait_s)
      return rvs_error(RVS_ERR_IO,
                       "%s: queue missing or locked for more than %.0f s (stale %s.*.lock?)",
                       queue_path, opt->max_wait_s, queue_path);
    sleep_s(opt->min_sleep_s * (1.0 + 0.5 * rand_r(&seed) / (double)RAND_MAX));
  }
}

int rvs_remove_stale_temporaries(const char *final_path) {
  char dir[4096];
  const char *base;
  split_path(final_path, dir, sizeof dir, &base);
  DIR *d = opendir(dir);
  if (!d) return 0;
  size_t bl = strlen(base);
  int removed = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    const char *n = e->d_name;
    if (strncmp(n, base, bl) != 0 || strncmp(n + bl, ".tmp.", 5) != 0) continue;
    char *end;
    long pid = strtol(n + bl + 5, &end, 10);
    if (*end || end == n + bl + 5 || !pid_is_dead(pid)) continue;
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", dir, n);
    if (unlink(p) == 0) removed++;
  }
  closedir(d);
  return removed;
}
