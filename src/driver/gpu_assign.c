#include "driver/gpu_assign.h"
#include "rvs/status.h"

#include <dirent.h>
#include <stdlib.h>

int rvs_local_rank_from_env(void) {
  static const char *vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID",
                               "PMI_LOCAL_RANK"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i]);
    char *end;
    if (v && *v) {
      long r = strtol(v, &end, 10);
      if (!*end && r >= 0) return (int)r;
    }
  }
  return 0;
}

static int count_list(const char *s, int *ids, int cap, int *n) {
  *n = 0;
  const char *p = s;
  while (*p) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v < 0 || v > 1023 || (*end && *end != ',')) return RVS_ERR_ARG;
    if (*n >= cap) return RVS_ERR_ARG;
    ids[(*n)++] = (int)v;
    if (*end && !end[1]) return RVS_ERR_ARG; /* trailing comma */
    p = *end ? end + 1 : end;
  }
  return *n ? RVS_OK : RVS_ERR_ARG;
}

int rvs_gpu_pick_device(const char *devices, int local_rank, int *device) {
  int ids[1024], n = 0;
  if (local_rank < 0) return rvs_error(RVS_ERR_ARG, "negative local rank %d", local_rank);
  int rc = rvs_gpu_list_devices(devices, ids, 1024, &n);
  if (rc) return rc;
  *device = ids[local_rank % n];
  return RVS_OK;
}

int rvs_gpu_list_devices(const char *devices, int *ids, int cap, int *nout) {
  int n = 0;
  *nout = 0;
  if (cap < 1) return rvs_error(RVS_ERR_ARG, "rvs_gpu_list_devices: no room");
  if (devices && *devices) {
    if (count_list(devices, ids, cap, &n))
      return rvs_error(RVS_ERR_ARG, "--gpu_devices '%s': expected device numbers like 0,1,2,3",
                       devices);
  } else {
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    if (cvd && *cvd) {
      /* CUDA renumbers the visible devices 0..n-1; entries may be UUIDs */
      n = 1;
      for (const char *p = cvd; *p; p++) n += *p == ',';
    } else {
      DIR *d = opendir("/proc/driver/nvidia/gpus");
      if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
          if (e->d_name[0] != '.') n++;
        closedir(d);
      }
    }
    if (n <= 0)
      return rvs_error(RVS_ERR_DEVICE, "--use_gpu: no GPU found (CUDA_VISIBLE_DEVICES is unset "
                                       "and /proc/driver/nvidia/gpus lists none); give --gpu_devices");
    if (n > cap) n = cap;
    for (int i = 0; i < n; i++) ids[i] = i;
  }
  *nout = n;
  return RVS_OK;
}

int rvs_gpu_workers(const int *ids, int n, int per, int *out, int cap, int *nout) {
  *nout = 0;
  if (per < 1) return rvs_error(RVS_ERR_ARG, "--gpu_workers must be at least 1");
  if ((long)n * per > cap)
    return rvs_error(RVS_ERR_ARG, "%d GPU(s) x %d workers: more than %d workers", n, per, cap);
  for (int i = 0; i < n; i++)
    for (int k = 0; k < per; k++) out[(*nout)++] = ids[i];
  return RVS_OK;
}

int rvs_gpu_worker_pool(int requested, int total, int per) {
  if (requested > 0) return requested;
  int p = per > 1 ? total / per : total;
  return p < 512 ? 512 : p;
}
