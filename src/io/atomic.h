/* Atomic output files: write to "<final>.tmp.<pid>", then rename onto <final>.
 * A crash or error leaves at most a *.tmp.* file behind, never a half-written
 * final file, and rvs_atomic_abort() removes even that. */
#ifndef RVS_IO_ATOMIC_H
#define RVS_IO_ATOMIC_H

#include <stddef.h>

/* Fill `tmp` (capacity `cap`) with the temporary name for `final_path`.
 * Returns RVS_OK or RVS_ERR_ARG if the name does not fit. */
int rvs_atomic_tmpname(const char *final_path, char *tmp, size_t cap);

/* Rename tmp onto final_path (fsync'ing nothing: rename is atomic on POSIX).
 * On failure the tmp file is removed and RVS_ERR_IO returned. */
int rvs_atomic_commit(const char *tmp, const char *final_path);

/* Remove a temporary file (ignores a missing file). */
void rvs_atomic_abort(const char *tmp);

/* mkdir -p; RVS_OK if the directory exists afterwards. */
int rvs_mkdir_p(const char *dir);

#endif
