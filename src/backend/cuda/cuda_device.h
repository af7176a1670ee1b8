/* CUDA device discovery (C interface, usable from host C code). */
#ifndef RVS_CUDA_DEVICE_H
#define RVS_CUDA_DEVICE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rvs_cuda_device_info {
  int index;
  char name[256];
  size_t total_mem;
  size_t free_mem;
  int cc_major, cc_minor;
  int multiprocessors;
} rvs_cuda_device_info;

/* Number of usable CUDA devices (0 when there is no driver or no GPU; never
 * an error: the caller falls back to the CPU backend). */
int rvs_cuda_device_count(void);

/* Fill `info` for device `index`; returns RVS_OK or RVS_ERR_DEVICE with a message. */
int rvs_cuda_device_query(int index, rvs_cuda_device_info *info);

#ifdef __cplusplus
}
#endif
#endif
