// CUDA return-code checks shared by the CUDA sources: a failed call becomes
// RVS_ERR_NOMEM (allocation) or RVS_ERR_DEVICE with file:line, the call and
// CUDA's message.  Include after rvs/status.h and cuda_runtime.h.
#ifndef RVS_BACKEND_CUDA_CHECK_H
#define RVS_BACKEND_CUDA_CHECK_H

static inline int cuda_fail(cudaError_t e, const char *what, const char *file, int line) {
  (void)cudaGetLastError(); // clear a non-sticky error so that later calls work
  if (e == cudaErrorMemoryAllocation)
    return rvs_error(RVS_ERR_NOMEM, "%s:%d: %s: %s", file, line, what, cudaGetErrorString(e));
  return rvs_error(RVS_ERR_DEVICE, "%s:%d: %s: %s", file, line, what, cudaGetErrorString(e));
}

#define CK(call)                                                                   \
  do {                                                                             \
    cudaError_t ck_e_ = (call);                                                    \
    if (ck_e_ != cudaSuccess) return cuda_fail(ck_e_, #call, __FILE__, __LINE__);  \
  } while (0)

#endif
