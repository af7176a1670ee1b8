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

/* Node-local rank from the launcher's environment (OMPI_COMM_WORLD_LOCAL_RANK,
 * SLURM_LOCALID, MPI_LOCALRANKID, PMI_LOCAL_RANK), or 0. */
int rvs_local_rank_from_env(void);

#endif
