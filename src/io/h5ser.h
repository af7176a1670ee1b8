/* Reader and writer of upstream rvspecfit's HDF5 serializer layout
 * (rvspecfit/serializer.py, ALGORITHM.md §2.1), so that .h5 products made by
 * either tool are read by both.
 *
 * The layout: a Python dict saved recursively.  The root has the attribute
 * version=1 (int64); the reader rejects any other version.  A dict is a
 * group; every dataset carries a variable-length UTF-8 string attribute
 * `type`:
 *   ndarray      any array (strings as variable-length UTF-8)
 *   str          a scalar variable-length UTF-8 string
 *   scalar       a scalar number (Python bool -> h5py enum {FALSE,TRUE} int8)
 *   None         the scalar int64 0
 *   list, tuple  a homogeneous sequence stored as one array (np.array(seq))
 *   empty_array  an empty list or tuple (float64, shape (0,))
 *   pickle       a pickled Python object (opaque bytes; kept, never decoded)
 * A sequence of mixed types (or holding None) is a group with attribute
 * type=flattened_list/flattened_tuple and children __item_<i>.
 *
 * In memory a file is a tree of rvs_h5s nodes.  Numeric data are kept in
 * their own dtype (a float32 file array stays float); rvs_h5s_to_f64 /
 * rvs_h5s_to_i64 convert. */
#ifndef RVS_IO_H5SER_H
#define RVS_IO_H5SER_H

#include <stddef.h>
#include <stdint.h>

#define RVS_H5S_MAXRANK 8

typedef enum rvs_h5s_type {
  RVS_H5S_DICT = 0,
  RVS_H5S_NDARRAY,
  RVS_H5S_STR,
  RVS_H5S_SCALAR,
  RVS_H5S_NONE,
  RVS_H5S_LIST,
  RVS_H5S_TUPLE,
  RVS_H5S_EMPTY_ARRAY,
  RVS_H5S_PICKLE,
  RVS_H5S_FLATTENED_LIST,
  RVS_H5S_FLATTENED_TUPLE
} rvs_h5s_type;

typedef enum rvs_h5s_dtype {
  RVS_H5S_NODATA = 0, /* groups */
  RVS_H5S_F64,        /* double */
  RVS_H5S_F32,        /* float */
  RVS_H5S_I64,        /* int64_t (any integer file type is read as this) */
  RVS_H5S_I32,        /* int32_t (write only) */
  RVS_H5S_BOOL,       /* uint8_t 0/1, stored as h5py's bool enum */
  RVS_H5S_STRING,     /* char *[nelem] */
  RVS_H5S_OPAQUE      /* nelem bytes (pickle) */
} rvs_h5s_dtype;

typedef struct rvs_h5s {
  char *name;
  rvs_h5s_type type;
  rvs_h5s_dtype dtype;      /* of `data` in memory */
  rvs_h5s_dtype file_dtype; /* stored dtype when writing (NODATA: same as dtype);
                               after reading: the dtype found in the file */
  int rank;                 /* 0 for a scalar */
  size_t dims[RVS_H5S_MAXRANK];
  size_t nelem;
  void *data;               /* NULL for groups and for data not loaded (lazy) */
  int borrowed;             /* 1: data is not owned (not freed) */
  size_t nchild;
  struct rvs_h5s **child;
} rvs_h5s;

/* The type attribute's text for a type ("ndarray", ...), and back (-1 if unknown). */
const char *rvs_h5s_type_name(rvs_h5s_type t);
int rvs_h5s_type_from_name(const char *s);

/* A new empty dict (the root of a file). NULL if out of memory. */
rvs_h5s *rvs_h5s_new_dict(void);

/* Child constructors: each appends a child called `name` to the dict or
 * flattened group `parent` and returns RVS_OK or RVS_ERR_NOMEM/RVS_ERR_ARG
 * (a duplicate name is an error). Data are copied unless stated. */

/* Numeric or bool array; type is NDARRAY, LIST or TUPLE. */
int rvs_h5s_add_array(rvs_h5s *parent, const char *name, rvs_h5s_type type,
                      rvs_h5s_dtype dtype, int rank, const size_t *dims, const void *data);
/* As above but the node only borrows `data` (it must outlive the write), and
 * stores it as file_dtype (e.g. doubles written as float32, as numpy's astype). */
int rvs_h5s_add_array_ref(rvs_h5s *parent, const char *name, rvs_h5s_type type,
                          rvs_h5s_dtype dtype, rvs_h5s_dtype file_dtype, int rank,
                          const size_t *dims, const void *data);
/* 1-D array of strings; type NDARRAY, LIST or TUPLE. */
int rvs_h5s_add_strings(rvs_h5s *parent, const char *name, rvs_h5s_type type,
                        const char *const *s, size_t n);
int rvs_h5s_add_str(rvs_h5s *parent, const char *name, const char *s);
int rvs_h5s_add_f64(rvs_h5s *parent, const char *name, double v);
int rvs_h5s_add_i64(rvs_h5s *parent, const char *name, int64_t v);
int rvs_h5s_add_bool(rvs_h5s *parent, const char *name, int v);
int rvs_h5s_add_none(rvs_h5s *parent, const char *name);
/* An empty list (is_tuple 0) or tuple: type empty_array. */
int rvs_h5s_add_empty(rvs_h5s *parent, const char *name);
int rvs_h5s_add_pickle(rvs_h5s *parent, const char *name, const void *bytes, size_t n);
/* A sub-dict or a flattened list/tuple (type DICT, FLATTENED_LIST, FLATTENED_TUPLE);
 * *out receives the new group (owned by parent). Items of a flattened group
 * must be named __item_0, __item_1, ... */
int rvs_h5s_add_group(rvs_h5s *parent, const char *name, rvs_h5s_type type, rvs_h5s **out);

/* Child by name, or NULL. */
const rvs_h5s *rvs_h5s_get(const rvs_h5s *parent, const char *name);
/* Item i of a flattened group, or NULL. */
const rvs_h5s *rvs_h5s_item(const rvs_h5s *group, size_t i);

/* Copy numeric/bool data as double or int64 into a malloc'd array of
 * node->nelem values (error for strings, groups, lazy nodes). */
int rvs_h5s_to_f64(const rvs_h5s *node, double **out);
int rvs_h5s_to_i64(const rvs_h5s *node, int64_t **out);

/* Write `root` (a dict) to `path` atomically (temporary name, then rename).
 * Root attribute version=1. */
int rvs_h5s_write(const char *path, const rvs_h5s *root);

/* Read a whole file.  Datasets at the root whose names are listed in `lazy`
 * (NULL-terminated, may be NULL) get their type/shape but no data; load them
 * with rvs_h5s_read_f64. */
int rvs_h5s_read(const char *path, const char *const *lazy, rvs_h5s **out);

/* Read the numeric dataset `name` (a path inside the file) converted to
 * double into dst, which holds exactly n values (n must equal its size). */
int rvs_h5s_read_f64(const char *path, const char *name, double *dst, size_t n);

void rvs_h5s_free(rvs_h5s *node);

#endif
