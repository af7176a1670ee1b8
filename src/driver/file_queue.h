/* A shared text queue of input files (upstream utils.FileQueue / --queue_file):
 * several independent jobs, on one host or many sharing a file system, pop
 * lines from one file; each line is handed to exactly one reader.
 *
 * Locking is by rename(queue -> queue.<host>.<pid>.lock), as upstream: rename
 * is atomic on POSIX file systems, including NFS and Lustre, where fcntl/flock
 * locks are often unsupported or not shared between clients.  Whoever renamed
 * the file owns it; the rest find the name missing and retry after a short
 * random sleep.  The remaining lines are written to a temporary file that
 * replaces the lock file, so a crash never truncates the queue. */
#ifndef RVS_DRIVER_FILE_QUEUE_H
#define RVS_DRIVER_FILE_QUEUE_H

#include <stddef.h>

typedef struct rvs_queue_opts {
  double max_wait_s;   /* give up after waiting this long for the lock (default 600) */
  double min_sleep_s;  /* random sleep between tries: U(min, 1.5*min) (default 0.05) */
} rvs_queue_opts;

void rvs_queue_opts_default(rvs_queue_opts *o);

/* Pop the first non-blank line of the queue file (trailing blanks/CR removed).
 * *got = 1 with the line in `line`; *got = 0 when the queue is empty (the file
 * is left in place, empty).  Errors: RVS_ERR_IO when the queue cannot be
 * read or written, or stays locked/missing longer than max_wait_s;
 * RVS_ERR_ARG when the line does not fit in `cap`.  A lock left by a dead
 * process of this host is taken back. */
int rvs_queue_pop(const char *queue_path, const rvs_queue_opts *opt, char *line, size_t cap,
                  int *got);

/* RVS_OK if the queue file or a lock of it exists (another job may hold it);
 * otherwise an RVS_ERR_IO naming the file. */
int rvs_queue_check(const char *queue_path);

/* Remove "<final_path>.tmp.<pid>" files (rvs_atomic_tmpname) left by processes
 * of this host that no longer exist, e.g. after a SIGKILL.  Returns how many
 * were removed.  A pid alive here but belonging to another host's process is
 * left alone; a dead local pid that is really another host's live job is the
 * one case this gets wrong, and that needs two jobs writing the same output. */
int rvs_remove_stale_temporaries(const char *final_path);

#endif
