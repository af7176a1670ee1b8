/* --use_gpu: which GPU a rank uses (one GPU per rank, by node-local rank).
 * Kept apart from mpi_queue.c so that it needs no MPI library. */
#ifndef RVS_DRIVER_GPU_ASSIGN_H
#define RVS_DRIVER_GPU_ASSIGN_H

/* The device for --use_gpu: entry local_rank % n of `devices` ("0,1,2,3"; NULL
 * or "" for automatic: 0..n-1 with n from CUDA_VISIBLE_DEVICES, else the
 * GPUs listed by the NVIDIA driver in /proc/driver/nvidia/gpus).  RVS_ERR_ARG
 * for a malformed list, RVS_ERR_DEVICE when no GPU can be found. */
int rvs_gpu_pick_device(const char *devices, int local_rank, int *device);

/* Every device of the list (or every visible GPU, as above): ids[0..*n-1]. */
int rvs_gpu_list_devices(const char *devices, int *ids, int cap, int *n);

/* Worker list with `per` workers for each device of ids[0..n-1] (each entry
 * repeated `per` times in place: 0,1 with per 2 -> 0,0,1,1) into out[0..*nout-1];
 * RVS_ERR_ARG when per < 1 or the list would exceed cap. */
int rvs_gpu_workers(const int *ids, int n, int per, int *out, int cap, int *nout);

/* Fits in flight per worker: `requested` (--gpu_batch_size) when > 0, else
 * `total` shared by the `per` workers of one device (at least 512), so that
 * two workers use the device memory of one. */
int rvs_gpu_worker_pool(int requested, int total, int per);

/* Node-local rank from the launcher's environment (OMPI_COMM_WORLD_LOCAL_RANK,
 * SLURM_LOCALID, MPI_LOCALRANKID, PMI_LOCAL_RANK), or 0. */
int rvs_local_rank_from_env(void);

#endif
