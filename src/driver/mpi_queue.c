#include "driver/mpi_queue.h"
#include "rvs/log.h"
#include "rvs/status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef RVS_HAVE_MPI
#include <mpi.h>
#include <pthread.h>
#include <signal.h>

#include "driver/signals.h"

enum { TAG_REQ = 11, TAG_FILE = 12, TAG_STOP = 13, TAG_HB = 14, TAG_BYE = 15, TAG_DONE = 16 };
enum { W_ACTIVE = 0, W_STOPPED, W_DONE, W_DEAD };
#define PATH_CAP 4096

typedef struct lost_file { char *path; int rank; } lost_file;
/* The files a rank holds (given, not yet reported done): several with a GPU
 * (many files in flight) or read-ahead. */
typedef struct held_files { char **path; int n, cap; } held_files;

struct rvs_mpi_queue {
  int rank, size;
  double timeout_s;
  /* rank 0 */
  rvs_file_source_fn source;
  void *user;
  pthread_mutex_t mutex; /* source and the state below */
  int source_done;
  int source_error;
  pthread_t server;
  int server_running;
  int *state;
  double *last_seen;
  held_files *held;     /* per rank */
  lost_file *lost;
  size_t nlost;
  int total_fail, total_files, ndead;
  /* other ranks */
  pthread_t hb;
  int hb_running, hb_stop;
  pthread_mutex_t hb_mutex;
  pthread_cond_t hb_cond;
  int broken; /* rank 0 stopped answering */
};

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0 && errno == EINTR) {}
}

/* Signals are for the main thread; the helper threads block them. */
static void block_signals(void) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &s, NULL);
}

int rvs_mpi_init(int *argc, char ***argv, int *rank, int *size, int *local_rank) {
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
    return rvs_error(RVS_ERR_IO, "MPI_Init_thread failed");
  MPI_Comm_rank(MPI_COMM_WORLD, rank);
  MPI_Comm_size(MPI_COMM_WORLD, size);
  if (provided < MPI_THREAD_MULTIPLE) {
    MPI_Finalize();
    return rvs_error(RVS_ERR_ARG, "--mpi needs MPI_THREAD_MULTIPLE, this MPI library gives "
                                  "level %d only", provided);
  }
  MPI_Comm node;
  *local_rank = 0;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) ==
      MPI_SUCCESS) {
    MPI_Comm_rank(node, local_rank);
    MPI_Comm_free(&node);
  } else {
    *local_rank = rvs_local_rank_from_env();
  }
  return RVS_OK;
}

/* Rank 0: next file from the source (mutex held by the caller). */
static int take_file(rvs_mpi_queue *q, char *path, size_t cap, int *got) {
  *got = 0;
  if (q->source_done || rvs_signals_stop_requested()) return RVS_OK;
  int rc = q->source(q->user, path, cap, got);
  if (rc) {
    /* a broken source (e.g. the queue file vanished) ends the distribution */
    rvs_log(RVS_LOG_ERROR, "%s", rvs_last_error());
    q->source_error = rc;
    *got = 0;
  }
  if (!*got) q->source_done = 1;
  return RVS_OK;
}

static void *server_main(void *arg) {
  rvs_mpi_queue *q = arg;
  block_signals();
  char path[PATH_CAP];
  int nopen = q->size - 1;
  while (nopen > 0) {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    if (!flag) {
      /* nothing pending: look for ranks that went silent */
      double t = now_s();
      /* after SIGINT/SIGTERM the ranks that abandoned their file are gone: do
       * not wait the full timeout for them */
      double timeout = q->timeout_s;
      if (rvs_signals_stop_requested() && timeout > 5) timeout = 5;
      pthread_mutex_lock(&q->mutex);
      for (int r = 1; r < q->size; r++) {
        if ((q->state[r] == W_ACTIVE || q->state[r] == W_STOPPED) &&
            t - q->last_seen[r] > timeout) {
          q->state[r] = W_DEAD;
          q->ndead++;
          nopen--;
          held_files *h = &q->held[r];
          size_t first_lost = q->nlost;
          for (int k = 0; k < h->n; k++) {
            lost_file *nl = realloc(q->lost, sizeof(lost_file) * (q->nlost + 1));
            if (!nl) { free(h->path[k]); continue; }
            q->lost = nl;
            q->lost[q->nlost].path = h->path[k];
            q->lost[q->nlost].rank = r;
            q->nlost++;
          }
          h->n = 0;
          rvs_log(RVS_LOG_ERROR, "rank %d sent nothing for %.0f s: taken as dead%s%s%s; the other "
                  "ranks finish the remaining files", r, timeout,
                  q->nlost > first_lost ? ", its files are lost: " : "",
                  q->nlost > first_lost ? q->lost[first_lost].path : "",
                  q->nlost > first_lost + 1 ? " and more" : "");
        }
      }
      pthread_mutex_unlock(&q->mutex);
      sleep_ms(10);
      continue;
    }
    int r = st.MPI_SOURCE;
    int msg[2] = {0, 0};
    char done_path[PATH_CAP];
    done_path[0] = 0;
    if (st.MPI_TAG == TAG_DONE) {
      MPI_Recv(done_path, PATH_CAP, MPI_CHAR, r, TAG_DONE, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      done_path[PATH_CAP - 1] = 0;
    } else {
      MPI_Recv(msg, 2, MPI_INT, r, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    pthread_mutex_lock(&q->mutex);
    if (q->state[r] == W_DEAD) {
      /* late message from a rank taken as dead: its results stand, but it gets no more work */
      rvs_log(RVS_LOG_WARNING, "rank %d answered after being taken as dead", r);
      if (st.MPI_TAG == TAG_REQ) MPI_Send(NULL, 0, MPI_CHAR, r, TAG_STOP, MPI_COMM_WORLD);
      pthread_mutex_unlock(&q->mutex);
      continue;
    }
    q->last_seen[r] = now_s();
    held_files *h = &q->held[r];
    if (st.MPI_TAG == TAG_REQ) {
      int got = 0;
      take_file(q, path, sizeof path, &got);
      char *copy = NULL;
      if (got && h->n == h->cap) {
        int nc = h->cap ? 2 * h->cap : 4;
        char **np = realloc(h->path, sizeof(char *) * (size_t)nc);
        if (np) { h->path = np; h->cap = nc; }
      }
      if (got && h->n < h->cap && (copy = strdup(path))) h->path[h->n++] = copy;
      if (got) {
        /* (without memory to remember it, the file is still given: only its
         * loss with a dead rank would go unreported) */
        rvs_log(RVS_LOG_INFO, "rank %d gets %s", r, path);
        MPI_Send(path, (int)strlen(path) + 1, MPI_CHAR, r, TAG_FILE, MPI_COMM_WORLD);
      } else {
        q->state[r] = W_STOPPED;
        MPI_Send(NULL, 0, MPI_CHAR, r, TAG_STOP, MPI_COMM_WORLD);
      }
    } else if (st.MPI_TAG == TAG_DONE) {
      for (int k = 0; k < h->n; k++)
        if (strcmp(h->path[k], done_path) == 0) {
          free(h->path[k]);
          h->path[k] = h->path[--h->n];
          break;
        }
    } else if (st.MPI_TAG == TAG_BYE) {
      for (int k = 0; k < h->n; k++) free(h->path[k]);
      h->n = 0;
      q->state[r] = W_DONE;
      q->total_fail += msg[0];
      q->total_files += msg[1];
      nopen--;
    }
    pthread_mutex_unlock(&q->mutex);
  }
  return NULL;
}

static void *heartbeat_main(void *arg) {
  rvs_mpi_queue *q = arg;
  block_signals();
  double every = q->timeout_s / 5;
  if (every > 30) every = 30;
  if (every < 0.05) every = 0.05;
  pthread_mutex_lock(&q->hb_mutex);
  while (!q->hb_stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    double t = (double)until.tv_nsec * 1e-9 + every;
    until.tv_sec += (time_t)t;
    until.tv_nsec = (long)((t - (double)(time_t)t) * 1e9);
    pthread_cond_timedwait(&q->hb_cond, &q->hb_mutex, &until);
    if (q->hb_stop) break;
    int msg[2] = {0, 0};
    MPI_Send(msg, 2, MPI_INT, 0, TAG_HB, MPI_COMM_WORLD);
  }
  pthread_mutex_unlock(&q->hb_mutex);
  return NULL;
}

int rvs_mpi_queue_start(rvs_file_source_fn source, void *user, double timeout_s,
                        rvs_mpi_queue **out) {
  *out = NULL;
  rvs_mpi_queue *q = calloc(1, sizeof *q);
  if (!q) return rvs_error(RVS_ERR_NOMEM, "no memory");
  MPI_Comm_rank(MPI_COMM_WORLD, &q->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &q->size);
  q->timeout_s = timeout_s > 0 ? timeout_s : 300;
  pthread_mutex_init(&q->mutex, NULL);
  pthread_mutex_init(&q->hb_mutex, NULL);
  pthread_cond_init(&q->hb_cond, NULL);
  if (q->rank == 0) {
    if (!source) { free(q); return rvs_error(RVS_ERR_ARG, "rank 0 needs a file source"); }
    q->source = source;
    q->user = user;
    q->state = calloc((size_t)q->size, sizeof(int));
    q->last_seen = calloc((size_t)q->size, sizeof(double));
    q->held = calloc((size_t)q->size, sizeof(held_files));
    if (!q->state || !q->last_seen || !q->held) {
      free(q->state); free(q->last_seen); free(q->held); free(q);
      return rvs_error(RVS_ERR_NOMEM, "no memory");
    }
    double t = now_s();
    for (int r = 0; r < q->size; r++) q->last_seen[r] = t;
    if (q->size > 1) {
      if (pthread_create(&q->server, NULL, server_main, q) != 0) {
        free(q->state); free(q->last_seen); free(q->held); free(q);
        return rvs_error(RVS_ERR_IO, "cannot start the MPI server thread");
      }
      q->server_running = 1;
    }
  } else {
    if (pthread_create(&q->hb, NULL, heartbeat_main, q) != 0) {
      free(q);
      return rvs_error(RVS_ERR_IO, "cannot start the MPI heartbeat thread");
    }
    q->hb_running = 1;
  }
  *out = q;
  return RVS_OK;
}

int rvs_mpi_queue_next(rvs_mpi_queue *q, char *path, size_t cap, int *got) {
  *got = 0;
  if (q->rank == 0) {
    pthread_mutex_lock(&q->mutex);
    int rc = take_file(q, path, cap, got);
    pthread_mutex_unlock(&q->mutex);
    return rc;
  }
  if (q->broken || rvs_signals_stop_requested()) return RVS_OK;
  int msg[2] = {0, 0};
  MPI_Send(msg, 2, MPI_INT, 0, TAG_REQ, MPI_COMM_WORLD);
  /* poll (rather than a blocking receive, which spins a core in OpenMPI) with a
   * deadline, so a dead rank 0 does not hang us */
  char buf[PATH_CAP];
  MPI_Request req;
  MPI_Irecv(buf, PATH_CAP, MPI_CHAR, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &req);
  double t0 = now_s();
  int done = 0;
  MPI_Status st;
  for (;;) {
    MPI_Test(&req, &done, &st);
    if (done) break;
    if (now_s() - t0 > q->timeout_s) {
      MPI_Cancel(&req);
      MPI_Request_free(&req);
      q->broken = 1;
      return rvs_error(RVS_ERR_IO, "rank %d: rank 0 did not answer a request for work in %.0f s",
                       q->rank, q->timeout_s);
    }
    sleep_ms(2);
  }
  if (st.MPI_TAG == TAG_STOP) return RVS_OK;
  int n = 0;
  MPI_Get_count(&st, MPI_CHAR, &n);
  if (n <= 0 || (size_t)n > cap) return rvs_error(RVS_ERR_ARG, "file name from rank 0 too long");
  memcpy(path, buf, (size_t)n);
  path[n - 1] = 0;
  *got = 1;
  return RVS_OK;
}

void rvs_mpi_queue_file_done(rvs_mpi_queue *q, const char *path) {
  if (!q || q->rank == 0 || q->broken) return;
  size_t n = strlen(path) + 1;
  if (n > PATH_CAP) return;
  MPI_Send(path, (int)n, MPI_CHAR, 0, TAG_DONE, MPI_COMM_WORLD);
}

int rvs_mpi_queue_finish(rvs_mpi_queue *q, int nfail, int nfiles, int *total_fail,
                         int *total_files, int *ndead) {
  *total_fail = nfail;
  *total_files = nfiles;
  *ndead = 0;
  if (q->rank == 0) {
    pthread_mutex_lock(&q->mutex);
    q->source_done = 1; /* answer STOP from now on */
    pthread_mutex_unlock(&q->mutex);
    if (q->server_running) pthread_join(q->server, NULL);
    q->server_running = 0;
    *total_fail += q->total_fail + (int)q->nlost;
    *total_files += q->total_files;
    *ndead = q->ndead;
    return q->source_error;
  }
  if (q->hb_running) {
    pthread_mutex_lock(&q->hb_mutex);
    q->hb_stop = 1;
    pthread_cond_signal(&q->hb_cond);
    pthread_mutex_unlock(&q->hb_mutex);
    pthread_join(q->hb, NULL);
    q->hb_running = 0;
  }
  if (!q->broken) {
    int msg[2] = {nfail, nfiles};
    MPI_Send(msg, 2, MPI_INT, 0, TAG_BYE, MPI_COMM_WORLD);
  }
  return RVS_OK;
}

size_t rvs_mpi_queue_nlost(const rvs_mpi_queue *q) { return q->nlost; }

const char *rvs_mpi_queue_lost(const rvs_mpi_queue *q, size_t i, int *rank) {
  if (i >= q->nlost) return NULL;
  if (rank) *rank = q->lost[i].rank;
  return q->lost[i].path;
}

void rvs_mpi_queue_free_and_exit_mpi(rvs_mpi_queue *q, int exit_code) {
  /* a rank that failed before joining the queue: the others would wait for it */
  int abort_needed = !q && exit_code != 0;
  if (q) {
    abort_needed = q->ndead > 0 || q->broken;
    if (q->server_running) pthread_join(q->server, NULL);
    if (q->hb_running) {
      pthread_mutex_lock(&q->hb_mutex);
      q->hb_stop = 1;
      pthread_cond_signal(&q->hb_cond);
      pthread_mutex_unlock(&q->hb_mutex);
      pthread_join(q->hb, NULL);
    }
    if (q->held)
      for (int r = 0; r < q->size; r++) {
        for (int k = 0; k < q->held[r].n; k++) free(q->held[r].path[k]);
        free(q->held[r].path);
      }
    for (size_t i = 0; i < q->nlost; i++) free(q->lost[i].path);
    free(q->lost);
    free(q->held);
    free(q->state);
    free(q->last_seen);
    pthread_mutex_destroy(&q->mutex);
    pthread_mutex_destroy(&q->hb_mutex);
    pthread_cond_destroy(&q->hb_cond);
    free(q);
  }
  if (abort_needed) MPI_Abort(MPI_COMM_WORLD, exit_code ? exit_code : 1);
  MPI_Finalize();
}
#endif
