/* Small HDF5 helpers for the interpolator and CCF-bank files (private to
 * src/templates).  Every dataset gets a string attribute `type` the way
 * upstream rvspecfit's serializer.py writes it ("ndarray", "str", "scalar",
 * "list", "None"), and files get the root attribute version=1, so upstream's
 * serializer.load_dict_from_hdf5() can read our files for inspection.
 * All functions return an rvs status and set a message naming `path`. */
#ifndef RVS_TEMPLATES_TPL_H5_H
#define RVS_TEMPLATES_TPL_H5_H

#include <stddef.h>
#include <hdf5.h>

/* Switch off HDF5's automatic error-stack printing (the library never prints). */
void tpl_h5_quiet(void);

/* Create `final_path` under a temporary name (see io/atomic.h); `tmp` gets the
 * temporary name (capacity cap).  Writes the root attribute version=1. */
int tpl_h5_create_atomic(const char *final_path, char *tmp, size_t cap, hid_t *out);
/* Close and rename onto final_path (commit), or close and delete (abort). */
int tpl_h5_close_commit(hid_t f, const char *tmp, const char *final_path);
void tpl_h5_close_abort(hid_t f, const char *tmp);

int tpl_h5_open_read(const char *path, hid_t *out);

/* Numeric arrays.  memtype: H5T_NATIVE_DOUBLE, H5T_NATIVE_FLOAT, H5T_NATIVE_INT32...
 * filetype: the type stored (e.g. H5T_IEEE_F32LE to store doubles as float32). */
int tpl_h5_write_array(hid_t loc, const char *name, hid_t memtype, hid_t filetype,
                       int rank, const hsize_t *dims, const void *data,
                       const char *type_attr, const char *path);
int tpl_h5_write_double(hid_t loc, const char *name, double v, const char *path);
int tpl_h5_write_int(hid_t loc, const char *name, long long v, const char *path);
int tpl_h5_write_str(hid_t loc, const char *name, const char *s, const char *path);
int tpl_h5_write_strlist(hid_t loc, const char *name, char *const *s, size_t n,
                         const char *path);
/* Create a group marked as a dict (upstream: a plain group). */
int tpl_h5_create_group(hid_t loc, const char *name, hid_t *out, const char *path);

int tpl_h5_exists(hid_t loc, const char *name);

/* Read a whole numeric dataset converted to memtype into a malloc'd buffer.
 * rank must not exceed maxrank; dims[0..rank-1] receive the extents. */
int tpl_h5_read_array(hid_t loc, const char *name, hid_t memtype, int maxrank,
                      int *rank, hsize_t *dims, void **data, const char *path);
/* As above, but the rank and every extent must equal what is given (dims[i]
 * == 0 means "any"; it then receives the extent). */
int tpl_h5_read_shaped(hid_t loc, const char *name, hid_t memtype, int rank,
                       hsize_t *dims, void **data, const char *path);
int tpl_h5_read_double(hid_t loc, const char *name, double *v, const char *path);
int tpl_h5_read_int(hid_t loc, const char *name, long long *v, const char *path);
/* Strings (fixed or variable length); *out is malloc'd.  A missing dataset
 * gives RVS_ERR_FORMAT unless optional is set, then *out = NULL and RVS_OK. */
int tpl_h5_read_str(hid_t loc, const char *name, char **out, int optional,
                    const char *path);
int tpl_h5_read_strlist(hid_t loc, const char *name, char ***out, size_t *n,
                        const char *path);
/* Storage type of a float dataset: 32 or 64 (0 on error). */
int tpl_h5_float_bits(hid_t loc, const char *name);

void tpl_free_strlist(char **s, size_t n);
char *tpl_strdup(const char *s); /* NULL-safe strdup */

#endif
