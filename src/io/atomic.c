#include "io/atomic.h"

#include "rvs/status.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rvs_atomic_tmpname(const char *final_path, char *tmp, size_t cap) {
  int n = snprintf(tmp, cap, "%s.tmp.%ld", final_path, (long)getpid());
  if (n < 0 || (size_t)n >= cap)
    return rvs_error(RVS_ERR_ARG, "%s: output path too long", final_path);
  return RVS_OK;
}

int rvs_atomic_commit(const char *tmp, const char *final_path) {
  if (rename(tmp, final_path) != 0) {
    int e = errno;
    unlink(tmp);
    return rvs_error(RVS_ERR_IO, "%s: cannot rename temporary file into place: %s",
                     final_path, strerror(e));
  }
  return RVS_OK;
}

void rvs_atomic_abort(const char *tmp) {
  if (tmp && tmp[0]) unlink(tmp);
}

int rvs_mkdir_p(const char *dir) {
  char buf[4096];
  size_t len = strlen(dir);
  if (len == 0) return RVS_OK;
  if (len >= sizeof buf) return rvs_error(RVS_ERR_ARG, "%s: path too long", dir);
  memcpy(buf, dir, len + 1);
  for (size_t i = 1; i <= len; i++) {
    if (buf[i] == '/' || buf[i] == '\0') {
      char c = buf[i];
      buf[i] = '\0';
      if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return rvs_error(RVS_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
      buf[i] = c;
    }
  }
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return rvs_error(RVS_ERR_IO, "%s: not a directory", dir);
  return RVS_OK;
}
