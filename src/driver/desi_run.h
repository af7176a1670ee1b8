/* rvs_desi_fit's file loop: files come from a source (list, queue file, MPI
 * queue), each is prepared (read, select, clean), its spectra join one
 * stream of fits per worker (rvs_fit_stream), and it is written as soon as
 * its last fit is done.  Several files are in flight at once when the backend
 * wants more fits than one file has (a GPU: thousands), so the device never
 * waits for a file's slowest fits.  One worker per context (one per GPU);
 * workers share the source and the per-file reports. */
#ifndef RVS_DRIVER_DESI_RUN_H
#define RVS_DRIVER_DESI_RUN_H

#include "driver/desi_fit.h"
#include "driver/mpi_queue.h" /* rvs_file_source_fn */

#include <stdio.h>

typedef struct rvs_desi_run {
  /* in */
  rvs_context **ctx;            /* one per worker (ctx[0] runs on the calling thread) */
  int nworkers;
  const rvs_config *cfg;
  const rvs_desi_options *o;
  rvs_file_source_fn source;    /* called with the run's lock held (never concurrently) */
  void *source_user;
  /* called (with the run's lock held) once a file taken from the source is
   * reported, written or failed; may be NULL (--mpi: rank 0 stops counting it
   * as held by this rank) */
  void (*file_done)(void *source_user, const char *path);
  FILE *status;                 /* --process_status_file, or NULL */
  int progress;                 /* a line per file on stderr */
  size_t nfiles_total;          /* for the progress line; 0 when unknown (queue) */
  int throw_exc;                /* stop taking files after the first failure */
  int max_files_in_flight;      /* per worker; 0: as many as the pool takes */
  int readahead;                /* files a reader thread prepares ahead of the
                                 * workers (0: each worker reads when it needs
                                 * a file) */
  const char *rank_prefix;      /* "rank N: " for messages with --mpi, or "" */
  /* out */
  int nfail, nfiles_done;
  size_t nfitted;
  double seconds;
  double io_seconds;            /* reading, selecting, cleaning, writing on the workers */
  double ahead_seconds;         /* reading, selecting, cleaning on the reader thread
                                 * (--readahead: overlapped with the fits) */
  double wait_seconds;          /* workers idle, waiting for the reader thread */
  int interrupted;              /* a signal stopped the run */
} rvs_desi_run;

/* Run every file.  Per-file failures are counted in nfail (and reported);
 * the return value is an error only when the source itself failed. */
int rvs_desi_run_files(rvs_desi_run *run);

/* One line (INFO log, and `out` when not NULL) on where the run's time went:
 * I/O, starting points (CCF), and the backend's time by fit phase. */
void rvs_desi_run_report_timing(const rvs_desi_run *run, FILE *out);

#endif
