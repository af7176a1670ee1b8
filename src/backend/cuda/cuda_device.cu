// CUDA device discovery; every runtime call is checked.
#include "backend/cuda/cuda_device.h"

#include "rvs/status.h"

#include <cuda_runtime.h>
#include <string.h>

extern "C" int rvs_cuda_device_count(void) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError(); /* clear the sticky "no device" error */
    return 0;
  }
  return n;
}

extern "C" int rvs_cuda_device_query(int index, rvs_cuda_device_info *info) {
  cudaDeviceProp prop;
  cudaError_t e = cudaGetDeviceProperties(&prop, index);
  if (e != cudaSuccess)
    return rvs_error(RVS_ERR_DEVICE, "CUDA device %d: %s", index, cudaGetErrorString(e));
  memset(info, 0, sizeof *info);
  info->index = index;
  strncpy(info->name, prop.name, sizeof info->name - 1);
  info->total_mem = prop.totalGlobalMem;
  info->cc_major = prop.major;
  info->cc_minor = prop.minor;
  info->multiprocessors = prop.multiProcessorCount;
  int cur = 0;
  e = cudaGetDevice(&cur);
  if (e == cudaSuccess) e = cudaSetDevice(index);
  size_t fr = 0, tot = 0;
  if (e == cudaSuccess) e = cudaMemGetInfo(&fr, &tot);
  if (e != cudaSuccess)
    return rvs_error(RVS_ERR_DEVICE, "CUDA device %d: %s", index, cudaGetErrorString(e));
  info->free_mem = fr;
  (void)cudaSetDevice(cur);
  return RVS_OK;
}
