#include "driver/signals.h"
#include "io/atomic.h"
#include "rvs/status.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATHCAP 4200

/* Written by the main thread before `busy` is set, read by the handler. */
static char cur_input[PATHCAP], tab_final[PATHCAP], mod_final[PATHCAP];
static char tab_tmp[PATHCAP], mod_tmp[PATHCAP];
static struct stat tab_before, mod_before;
static int tab_existed, mod_existed;
static volatile sig_atomic_t busy = 0, stop_signal = 0;

static void say(const char *s) {
  ssize_t r = write(2, s, strlen(s));
  (void)r;
}

/* 1 if `path` exists now and is not the file that was there before. */
static int replaced(const char *path, int existed, const struct stat *before) {
  struct stat st;
  if (stat(path, &st) != 0) return 0;
  return !existed || st.st_ino != before->st_ino || st.st_dev != before->st_dev;
}

static void on_signal(int sig) {
  int first = stop_signal == 0;
  stop_signal = sig;
  if (!busy && first) return; /* between files: the loop stops */
  if (busy) {
    if (tab_tmp[0]) unlink(tab_tmp);
    if (mod_tmp[0]) unlink(mod_tmp);
    /* rvtab_ is committed before rvmod_: never leave a new rvtab_ alone */
    if (tab_final[0] && replaced(tab_final, tab_existed, &tab_before) &&
        !replaced(mod_final, mod_existed, &mod_before))
      unlink(tab_final);
    say("rvs_desi_fit: ");
    say(sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal");
    say(": abandoned ");
    say(cur_input);
    say(" (no output written for it); stopping\n");
  } else {
    say("rvs_desi_fit: second signal: stopping now\n");
  }
  _exit(128 + sig);
}

int rvs_signals_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
    return rvs_error(RVS_ERR_IO, "cannot install signal handlers: %s", strerror(errno));
  return RVS_OK;
}

int rvs_signals_stop_requested(void) { return (int)stop_signal; }

void rvs_signals_begin_file(const char *input, const char *tab_path, const char *mod_path) {
  busy = 0;
  snprintf(cur_input, sizeof cur_input, "%s", input ? input : "?");
  tab_final[0] = mod_final[0] = tab_tmp[0] = mod_tmp[0] = 0;
  if (tab_path && mod_path && strlen(tab_path) < PATHCAP - 64 && strlen(mod_path) < PATHCAP - 64) {
    snprintf(tab_final, sizeof tab_final, "%s", tab_path);
    snprintf(mod_final, sizeof mod_final, "%s", mod_path);
    if (rvs_atomic_tmpname(tab_path, tab_tmp, sizeof tab_tmp)) tab_tmp[0] = 0;
    if (rvs_atomic_tmpname(mod_path, mod_tmp, sizeof mod_tmp)) mod_tmp[0] = 0;
    tab_existed = stat(tab_path, &tab_before) == 0;
    mod_existed = stat(mod_path, &mod_before) == 0;
  }
  busy = 1;
}

void rvs_signals_end_file(void) { busy = 0; }
