/* rvs_desi_fit --mpi: a dynamic file queue over MPI (upstream MPIFileQueue),
 * with rank 0 working too, heartbeats to detect ranks that died or hang, and
 * the GPU chosen per node-local rank.
 *
 * Rank 0 owns the file source and answers requests from a server thread
 * (MPI_THREAD_MULTIPLE; it polls with MPI_Iprobe and 10 ms sleeps so it does
 * not take a core from rank 0's own fitting).  Its main thread takes files
 * from the same source under a mutex.  Every other rank asks for one file at a
 * time and sends a heartbeat from a second thread while it fits.  A rank that
 * sends nothing for `timeout_s` is declared dead: the files it holds are reported
 * as lost (rvs_mpi_queue_lost) and the remaining files go to the other ranks.
 * MPI cannot finalize with a dead peer, so the run then ends with MPI_Abort
 * (see docs/OPERATIONS.md for the mpirun flags that keep the survivors alive).
 *
 * Compiled only with RVS_HAVE_MPI (MPI found at configure time). */
#ifndef RVS_DRIVER_MPI_QUEUE_H
#define RVS_DRIVER_MPI_QUEUE_H

#include "driver/gpu_assign.h"

#include <stddef.h>

/* Where files come from on rank 0 (and without MPI): *got = 0 at the end. */
typedef int (*rvs_file_source_fn)(void *user, char *path, size_t cap, int *got);

#ifdef RVS_HAVE_MPI
typedef struct rvs_mpi_queue rvs_mpi_queue;

/* MPI_Init_thread asking for MPI_THREAD_MULTIPLE, which is required (both
 * threads of a rank use MPI): RVS_ERR_ARG (after MPI_Finalize) otherwise.
 * local_rank: the rank within the node (MPI_Comm_split_type SHARED). */
int rvs_mpi_init(int *argc, char ***argv, int *rank, int *size, int *local_rank);

/* Start the queue: rank 0 gives `source`; other ranks pass NULL. */
int rvs_mpi_queue_start(rvs_file_source_fn source, void *user, double timeout_s,
                        rvs_mpi_queue **out);

/* Next file for this rank (*got = 0: no more work, or stop requested). */
int rvs_mpi_queue_next(rvs_mpi_queue *q, char *path, size_t cap, int *got);

/* This rank has reported `path` (written or failed): rank 0 no longer counts
 * it as held.  A rank holds every file it was given until then (several when
 * it reads ahead or fits many files at once); a rank taken as dead loses all
 * the files it holds. */
void rvs_mpi_queue_file_done(rvs_mpi_queue *q, const char *path);

/* End of this rank's work: nfail/nfiles are its own counts.  Rank 0 waits for
 * every other rank to finish or be declared dead and gets the totals. */
int rvs_mpi_queue_finish(rvs_mpi_queue *q, int nfail, int nfiles, int *total_fail,
                         int *total_files, int *ndead);

/* Rank 0 after finish: files that were being processed by dead ranks. */
size_t rvs_mpi_queue_nlost(const rvs_mpi_queue *q);
const char *rvs_mpi_queue_lost(const rvs_mpi_queue *q, size_t i, int *rank);

/* Free the queue and leave MPI: MPI_Finalize, or MPI_Abort(exit_code) when a
 * peer died or stopped answering (finalize would hang). */
void rvs_mpi_queue_free_and_exit_mpi(rvs_mpi_queue *q, int exit_code);
#endif

#endif
