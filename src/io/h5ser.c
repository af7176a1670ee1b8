/* Upstream rvspecfit's HDF5 serializer layout; see h5ser.h. */
#include "io/h5ser.h"

#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic.h"
#include "rvs/status.h"

#define H5S_PATHMAX 1024

static const char *const type_names[] = {
    "dict",        "ndarray", "str",    "scalar",         "None",           "list",
    "tuple",       "empty_array", "pickle", "flattened_list", "flattened_tuple"};

const char *rvs_h5s_type_name(rvs_h5s_type t) {
  if ((int)t < 0 || (size_t)t >= sizeof type_names / sizeof type_names[0]) return "?";
  return type_names[t];
}

int rvs_h5s_type_from_name(const char *s) {
  for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
    if (strcmp(s, type_names[i]) == 0) return (int)i;
  return -1;
}

static char *dupstr(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static size_t dtype_size(rvs_h5s_dtype d) {
  switch (d) {
  case RVS_H5S_F64: return sizeof(double);
  case RVS_H5S_F32: return sizeof(float);
  case RVS_H5S_I64: return sizeof(int64_t);
  case RVS_H5S_I32: return sizeof(int32_t);
  case RVS_H5S_BOOL: return 1;
  case RVS_H5S_STRING: return sizeof(char *);
  case RVS_H5S_OPAQUE: return 1;
  default: return 0;
  }
}

/* ------------------------------------------------------------------ tree */

static void node_free_data(rvs_h5s *n) {
  if (n->data && !n->borrowed) {
    if (n->dtype == RVS_H5S_STRING) {
      char **s = n->data;
      for (size_t i = 0; i < n->nelem; i++) free(s[i]);
    }
    free(n->data);
  }
  n->data = NULL;
}

void rvs_h5s_free(rvs_h5s *n) {
  if (!n) return;
  for (size_t i = 0; i < n->nchild; i++) rvs_h5s_free(n->child[i]);
  free(n->child);
  node_free_data(n);
  free(n->name);
  free(n);
}

static rvs_h5s *node_new(const char *name, rvs_h5s_type type) {
  rvs_h5s *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->type = type;
  n->name = dupstr(name ? name : "");
  if (!n->name) {
    free(n);
    return NULL;
  }
  return n;
}

rvs_h5s *rvs_h5s_new_dict(void) { return node_new("", RVS_H5S_DICT); }

static int is_group(const rvs_h5s *n) {
  return n->type == RVS_H5S_DICT || n->type == RVS_H5S_FLATTENED_LIST ||
         n->type == RVS_H5S_FLATTENED_TUPLE;
}

const rvs_h5s *rvs_h5s_get(const rvs_h5s *parent, const char *name) {
  if (!parent || !name) return NULL;
  for (size_t i = 0; i < parent->nchild; i++)
    if (strcmp(parent->child[i]->name, name) == 0) return parent->child[i];
  return NULL;
}

const rvs_h5s *rvs_h5s_item(const rvs_h5s *group, size_t i) {
  char name[64];
  snprintf(name, sizeof name, "__item_%zu", i);
  return rvs_h5s_get(group, name);
}

static int attach(rvs_h5s *parent, rvs_h5s *n) {
  if (!parent || !is_group(parent)) {
    rvs_h5s_free(n);
    return rvs_error(RVS_ERR_ARG, "h5ser: parent of '%s' is not a group", n->name);
  }
  if (n->name[0] == '\0' || strchr(n->name, '/') || rvs_h5s_get(parent, n->name)) {
    int st = rvs_error(RVS_ERR_ARG, "h5ser: bad or duplicate key '%s'", n->name);
    rvs_h5s_free(n);
    return st;
  }
  rvs_h5s **c = realloc(parent->child, (parent->nchild + 1) * sizeof *c);
  if (!c) {
    rvs_h5s_free(n);
    return rvs_error(RVS_ERR_NOMEM, "h5ser: out of memory");
  }
  parent->child = c;
  c[parent->nchild++] = n;
  return RVS_OK;
}

static int set_shape(rvs_h5s *n, int rank, const size_t *dims) {
  if (rank < 0 || rank > RVS_H5S_MAXRANK) return rvs_error(RVS_ERR_ARG, "h5ser: rank %d", rank);
  n->rank = rank;
  n->nelem = 1;
  for (int i = 0; i < rank; i++) {
    n->dims[i] = dims[i];
    n->nelem *= dims[i];
  }
  return RVS_OK;
}

static int add_data_node(rvs_h5s *parent, const char *name, rvs_h5s_type type,
                         rvs_h5s_dtype dtype, rvs_h5s_dtype file_dtype, int rank,
                         const size_t *dims, const void *data, int borrow) {
  rvs_h5s *n = node_new(name, type);
  if (!n) return rvs_error(RVS_ERR_NOMEM, "h5ser: out of memory");
  n->dtype = dtype;
  n->file_dtype = file_dtype;
  int st = set_shape(n, rank, dims);
  if (st) {
    rvs_h5s_free(n);
    return st;
  }
  if (borrow) {
    n->data = (void *)data;
    n->borrowed = 1;
  } else {
    size_t bytes = n->nelem * dtype_size(dtype);
    n->data = malloc(bytes ? bytes : 1);
    if (!n->data) {
      rvs_h5s_free(n);
      return rvs_error(RVS_ERR_NOMEM, "h5ser: out of memory");
    }
    if (bytes && data) memcpy(n->data, data, bytes);
  }
  return attach(parent, n);
}

int rvs_h5s_add_array(rvs_h5s *parent, const char *name, rvs_h5s_type type,
                      rvs_h5s_dtype dtype, int rank, const size_t *dims, const void *data) {
  if (dtype == RVS_H5S_STRING || dtype == RVS_H5S_NODATA || dtype == RVS_H5S_OPAQUE)
    return rvs_error(RVS_ERR_ARG, "h5ser: %s: not a numeric dtype", name);
  return add_data_node(parent, name, type, dtype, RVS_H5S_NODATA, rank, dims, data, 0);
}

int rvs_h5s_add_array_ref(rvs_h5s *parent, const char *name, rvs_h5s_type type,
                          rvs_h5s_dtype dtype, rvs_h5s_dtype file_dtype, int rank,
                          const size_t *dims, const void *data) {
  if (dtype == RVS_H5S_STRING || dtype == RVS_H5S_NODATA || dtype == RVS_H5S_OPAQUE)
    return rvs_error(RVS_ERR_ARG, "h5ser: %s: not a numeric dtype", name);
  return add_data_node(parent, name, type, dtype, file_dtype, rank, dims, data, 1);
}

int rvs_h5s_add_strings(rvs_h5s *parent, const char *name, rvs_h5s_type type,
                        const char *const *s, size_t n) {
  rvs_h5s *nd = node_new(name, type);
  if (!nd) return rvs_error(RVS_ERR_NOMEM, "h5ser: out of memory");
  nd->dtype = RVS_H5S_STRING;
  nd->rank = 1;
  nd->dims[0] = n;
  nd->nelem = n;
  char **arr = calloc(n ? n : 1, sizeof(char *));
  nd->data = arr;
  if (!arr) {
    rvs_h5s_free(nd);
    return rvs_error(RVS_ERR_NOMEM, "h5ser: out of memory");
  }
  for (size_t i = 0; i < n; i++) {
    arr[i] = dupstr(s[i] ? s[i] : "");
    if (!arr[i]) {
      rvs_h5s_free(nd);
      return rvs_error(RVS_ERR_NOMEM, "h5ser: out of memory");
    }
  }
  return attach(parent, nd);
}

int rvs_h5s_add_str(rvs_h5s *parent, const char *name, const char *s) {
  rvs_h5s *nd = node_new(name, RVS_H5S_STR);
  if (!nd) return rvs_error(RVS_ERR_NOMEM, "h5ser: out of memory");
  nd->dtype = RVS_H5S_STRING;
  nd->rank = 0;
  nd->nelem = 1;
  char **arr = calloc(1, sizeof(char *));
  nd->data = arr;
  if (!arr || !(arr[0] = dupstr(s ? s : ""))) {
    rvs_h5s_free(nd);
    return rvs_error(RVS_ERR_NOMEM, "h5ser: out of memory");
  }
  return attach(parent, nd);
}

int rvs_h5s_add_f64(rvs_h5s *parent, const char *name, double v) {
  return add_data_node(parent, name, RVS_H5S_SCALAR, RVS_H5S_F64, RVS_H5S_NODATA, 0, NULL, &v, 0);
}

int rvs_h5s_add_i64(rvs_h5s *parent, const char *name, int64_t v) {
  return add_data_node(parent, name, RVS_H5S_SCALAR, RVS_H5S_I64, RVS_H5S_NODATA, 0, NULL, &v, 0);
}

int rvs_h5s_add_bool(rvs_h5s *parent, const char *name, int v) {
  uint8_t b = v ? 1 : 0;
  return add_data_node(parent, name, RVS_H5S_SCALAR, RVS_H5S_BOOL, RVS_H5S_NODATA, 0, NULL, &b, 0);
}

int rvs_h5s_add_none(rvs_h5s *parent, const char *name) {
  int64_t z = 0;
  return add_data_node(parent, name, RVS_H5S_NONE, RVS_H5S_I64, RVS_H5S_NODATA, 0, NULL, &z, 0);
}

int rvs_h5s_add_empty(rvs_h5s *parent, const char *name) {
  size_t d0 = 0;
  return add_data_node(parent, name, RVS_H5S_EMPTY_ARRAY, RVS_H5S_F64, RVS_H5S_NODATA, 1, &d0,
                       NULL, 0);
}

int rvs_h5s_add_pickle(rvs_h5s *parent, const char *name, const void *bytes, size_t n) {
  if (n == 0) return rvs_error(RVS_ERR_ARG, "h5ser: %s: empty pickle", name);
  rvs_h5s *nd = node_new(name, RVS_H5S_PICKLE);
  if (!nd) return rvs_error(RVS_ERR_NOMEM, "h5ser: out of memory");
  nd->dtype = RVS_H5S_OPAQUE;
  nd->rank = 0;
  nd->nelem = n;
  nd->data = malloc(n);
  if (!nd->data) {
    rvs_h5s_free(nd);
    return rvs_error(RVS_ERR_NOMEM, "h5ser: out of memory");
  }
  memcpy(nd->data, bytes, n);
  return attach(parent, nd);
}

int rvs_h5s_add_group(rvs_h5s *parent, const char *name, rvs_h5s_type type, rvs_h5s **out) {
  if (type != RVS_H5S_DICT && type != RVS_H5S_FLATTENED_LIST && type != RVS_H5S_FLATTENED_TUPLE)
    return rvs_error(RVS_ERR_ARG, "h5ser: %s: not a group type", name);
  rvs_h5s *nd = node_new(name, type);
  if (!nd) return rvs_error(RVS_ERR_NOMEM, "h5ser: out of memory");
  int st = attach(parent, nd);
  if (st == RVS_OK && out) *out = nd;
  return st;
}

int rvs_h5s_to_f64(const rvs_h5s *n, double **out) {
  *out = NULL;
  if (!n || !n->data || n->dtype == RVS_H5S_STRING || n->dtype == RVS_H5S_OPAQUE ||
      n->dtype == RVS_H5S_NODATA)
    return rvs_error(RVS_ERR_FORMAT, "h5ser: '%s' is not numeric data", n ? n->name : "?");
  double *d = malloc((n->nelem ? n->nelem : 1) * sizeof(double));
  if (!d) return rvs_error(RVS_ERR_NOMEM, "h5ser: out of memory");
  for (size_t i = 0; i < n->nelem; i++) {
    switch (n->dtype) {
    case RVS_H5S_F64: d[i] = ((const double *)n->data)[i]; break;
    case RVS_H5S_F32: d[i] = ((const float *)n->data)[i]; break;
    case RVS_H5S_I64: d[i] = (double)((const int64_t *)n->data)[i]; break;
    case RVS_H5S_I32: d[i] = ((const int32_t *)n->data)[i]; break;
    default: d[i] = ((const uint8_t *)n->data)[i]; break;
    }
  }
  *out = d;
  return RVS_OK;
}

int rvs_h5s_to_i64(const rvs_h5s *n, int64_t **out) {
  *out = NULL;
  if (!n || !n->data || n->dtype == RVS_H5S_STRING || n->dtype == RVS_H5S_OPAQUE ||
      n->dtype == RVS_H5S_NODATA)
    return rvs_error(RVS_ERR_FORMAT, "h5ser: '%s' is not numeric data", n ? n->name : "?");
  int64_t *d = malloc((n->nelem ? n->nelem : 1) * sizeof(int64_t));
  if (!d) return rvs_error(RVS_ERR_NOMEM, "h5ser: out of memory");
  for (size_t i = 0; i < n->nelem; i++) {
    double v;
    switch (n->dtype) {
    case RVS_H5S_I64: d[i] = ((const int64_t *)n->data)[i]; continue;
    case RVS_H5S_I32: d[i] = ((const int32_t *)n->data)[i]; continue;
    case RVS_H5S_BOOL: d[i] = ((const uint8_t *)n->data)[i]; continue;
    case RVS_H5S_F64: v = ((const double *)n->data)[i]; break;
    default: v = ((const float *)n->data)[i]; break;
    }
    if (v != (double)(int64_t)v) {
      free(d);
      return rvs_error(RVS_ERR_FORMAT, "h5ser: '%s' holds a non-integer value %g", n->name, v);
    }
    d[i] = (int64_t)v;
  }
  *out = d;
  return RVS_OK;
}

/* ------------------------------------------------------------------ writing */

static void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static hid_t make_vlen_str_type(void) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return t;
  if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

/* h5py's numpy bool: an int8 enum {FALSE: 0, TRUE: 1}. */
static hid_t make_bool_type(void) {
  hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
  if (t < 0) return t;
  int8_t f = 0, tr = 1;
  if (H5Tenum_insert(t, "FALSE", &f) < 0 || H5Tenum_insert(t, "TRUE", &tr) < 0) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

static int write_str_attr(hid_t obj, const char *name, const char *value) {
  hid_t t = make_vlen_str_type();
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = (t >= 0 && sp >= 0) ? H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
  herr_t e = a >= 0 ? H5Awrite(a, t, &value) : -1;
  if (a >= 0) H5Aclose(a);
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  return e < 0 ? -1 : 0;
}

/* File and memory types for a dtype; *close_* says whether to H5Tclose. */
static int h5_types(rvs_h5s_dtype d, hid_t *mem, hid_t *file) {
  switch (d) {
  case RVS_H5S_F64: *mem = H5T_NATIVE_DOUBLE; *file = H5T_IEEE_F64LE; return 0;
  case RVS_H5S_F32: *mem = H5T_NATIVE_FLOAT; *file = H5T_IEEE_F32LE; return 0;
  case RVS_H5S_I64: *mem = H5T_NATIVE_INT64; *file = H5T_STD_I64LE; return 0;
  case RVS_H5S_I32: *mem = H5T_NATIVE_INT32; *file = H5T_STD_I32LE; return 0;
  default: return -1;
  }
}

static int write_node(hid_t loc, const rvs_h5s *n, const char *path, const char *where);

static int write_children(hid_t g, const rvs_h5s *n, const char *path, const char *where) {
  for (size_t i = 0; i < n->nchild; i++) {
    char sub[H5S_PATHMAX];
    snprintf(sub, sizeof sub, "%s/%s", where, n->child[i]->name);
    int st = write_node(g, n->child[i], path, sub);
    if (st) return st;
  }
  return RVS_OK;
}

static int write_node(hid_t loc, const rvs_h5s *n, const char *path, const char *where) {
  if (is_group(n)) {
    hid_t g = H5Gcreate2(loc, n->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return rvs_error(RVS_ERR_IO, "%s: %s: cannot create group", path, where);
    int st = RVS_OK;
    if (n->type != RVS_H5S_DICT && write_str_attr(g, "type", rvs_h5s_type_name(n->type)))
      st = rvs_error(RVS_ERR_IO, "%s: %s: cannot write attribute 'type'", path, where);
    if (!st) st = write_children(g, n, path, where);
    H5Gclose(g);
    return st;
  }
  hsize_t hd[RVS_H5S_MAXRANK];
  for (int i = 0; i < n->rank; i++) hd[i] = n->dims[i];
  hid_t sp = n->rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(n->rank, hd, NULL);
  hid_t mem = -1, file = -1;
  int close_types = 0;
  if (n->dtype == RVS_H5S_STRING) {
    mem = file = make_vlen_str_type();
    close_types = 1;
  } else if (n->dtype == RVS_H5S_BOOL) {
    mem = file = make_bool_type();
    close_types = 1;
  } else if (n->dtype == RVS_H5S_OPAQUE) {
    mem = file = H5Tcreate(H5T_OPAQUE, n->nelem);
    close_types = 1;
  } else {
    hid_t fdummy;
    if (h5_types(n->dtype, &mem, &fdummy)) mem = -1;
    file = fdummy;
    if (n->file_dtype != RVS_H5S_NODATA && n->file_dtype != n->dtype) {
      hid_t mdummy;
      if (n->file_dtype == RVS_H5S_BOOL || h5_types(n->file_dtype, &mdummy, &file)) file = -1;
    }
  }
  int st = RVS_OK;
  hid_t ds = -1;
  if (sp < 0 || mem < 0 || file < 0) {
    st = rvs_error(RVS_ERR_ARG, "%s: %s: cannot make the HDF5 type", path, where);
  } else {
    ds = H5Dcreate2(loc, n->name, file, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (ds < 0) st = rvs_error(RVS_ERR_IO, "%s: %s: cannot create dataset", path, where);
  }
  if (!st && n->nelem > 0 && n->data) {
    if (n->dtype == RVS_H5S_OPAQUE) {
      if (H5Dwrite(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, n->data) < 0)
        st = rvs_error(RVS_ERR_IO, "%s: %s: cannot write", path, where);
    } else if (n->dtype == RVS_H5S_BOOL) {
      int8_t *b = malloc(n->nelem);
      if (!b) st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
      else {
        for (size_t i = 0; i < n->nelem; i++) b[i] = ((const uint8_t *)n->data)[i] ? 1 : 0;
        if (H5Dwrite(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, b) < 0)
          st = rvs_error(RVS_ERR_IO, "%s: %s: cannot write", path, where);
        free(b);
      }
    } else if (H5Dwrite(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, n->data) < 0) {
      st = rvs_error(RVS_ERR_IO, "%s: %s: cannot write", path, where);
    }
  }
  if (!st && write_str_attr(ds, "type", rvs_h5s_type_name(n->type)))
    st = rvs_error(RVS_ERR_IO, "%s: %s: cannot write attribute 'type'", path, where);
  if (ds >= 0) H5Dclose(ds);
  if (close_types && mem >= 0) H5Tclose(mem);
  if (sp >= 0) H5Sclose(sp);
  return st;
}

int rvs_h5s_write(const char *path, const rvs_h5s *root) {
  if (!root || root->type != RVS_H5S_DICT)
    return rvs_error(RVS_ERR_ARG, "%s: the root to write must be a dict", path);
  h5_quiet();
  char tmp[4096];
  int st = rvs_atomic_tmpname(path, tmp, sizeof tmp);
  if (st) return st;
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) return rvs_error(RVS_ERR_IO, "%s: cannot create HDF5 file", path);
  /* root attribute version=1 (int64, as h5py writes a Python int) */
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = sp >= 0 ? H5Acreate2(f, "version", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
  int64_t one = 1;
  if (a < 0 || H5Awrite(a, H5T_NATIVE_INT64, &one) < 0)
    st = rvs_error(RVS_ERR_IO, "%s: cannot write attribute 'version'", path);
  if (a >= 0) H5Aclose(a);
  if (sp >= 0) H5Sclose(sp);
  if (!st) st = write_children(f, root, path, "");
  if (H5Fclose(f) < 0 && !st) st = rvs_error(RVS_ERR_IO, "%s: cannot close HDF5 file", path);
  if (st) {
    rvs_atomic_abort(tmp);
    return st;
  }
  return rvs_atomic_commit(tmp, path);
}

/* ------------------------------------------------------------------ reading */

static void reclaim_vlen(hid_t mem, hid_t sp, void *buf) {
#if H5_VERSION_GE(1, 12, 0)
  H5Treclaim(mem, sp, H5P_DEFAULT, buf);
#else
  H5Dvlen_reclaim(mem, sp, H5P_DEFAULT, buf);
#endif
}

/* Read a string attribute (fixed or variable length); malloc'd. */
static int read_str_attr(hid_t obj, const char *name, char **out) {
  *out = NULL;
  if (H5Aexists(obj, name) <= 0) return 1;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return -1;
  hid_t t = H5Aget_type(a);
  int rc = -1;
  if (t >= 0 && H5Tget_class(t) == H5T_STRING) {
    if (H5Tis_variable_str(t) > 0) {
      hid_t mem = H5Tget_native_type(t, H5T_DIR_ASCEND);
      char *s = NULL;
      if (mem >= 0 && H5Aread(a, mem, &s) >= 0 && s) {
        *out = dupstr(s);
        hid_t sp = H5Aget_space(a);
        reclaim_vlen(mem, sp, &s);
        H5Sclose(sp);
        rc = *out ? 0 : -1;
      }
      if (mem >= 0) H5Tclose(mem);
    } else {
      size_t sz = H5Tget_size(t);
      char *s = calloc(sz + 1, 1);
      if (s && H5Aread(a, t, s) >= 0) {
        *out = s;
        rc = 0;
      } else {
        free(s);
      }
    }
  }
  if (t >= 0) H5Tclose(t);
  H5Aclose(a);
  return rc;
}

static int in_list(const char *name, const char *const *list) {
  if (!list) return 0;
  for (size_t i = 0; list[i]; i++)
    if (strcmp(list[i], name) == 0) return 1;
  return 0;
}

static int read_dataset(hid_t ds, rvs_h5s *n, int lazy, const char *path, const char *where) {
  hid_t t = H5Dget_type(ds);
  hid_t sp = H5Dget_space(ds);
  if (t < 0 || sp < 0) {
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    return rvs_error(RVS_ERR_FORMAT, "%s: %s: cannot query dataset", path, where);
  }
  int st = RVS_OK;
  int rank = H5Sget_simple_extent_ndims(sp);
  hsize_t hd[RVS_H5S_MAXRANK];
  if (rank < 0 || rank > RVS_H5S_MAXRANK || H5Sget_simple_extent_dims(sp, hd, NULL) < 0) {
    st = rvs_error(RVS_ERR_FORMAT, "%s: %s: unsupported dataspace", path, where);
    goto done;
  }
  size_t dims[RVS_H5S_MAXRANK];
  for (int i = 0; i < rank; i++) dims[i] = (size_t)hd[i];
  set_shape(n, rank, dims);
  H5T_class_t cls = H5Tget_class(t);
  size_t tsize = H5Tget_size(t);
  hid_t mem = -1;
  int close_mem = 0;
  switch (cls) {
  case H5T_FLOAT:
    n->dtype = tsize == 4 ? RVS_H5S_F32 : RVS_H5S_F64;
    mem = tsize == 4 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE;
    break;
  case H5T_INTEGER:
    n->dtype = RVS_H5S_I64;
    mem = H5T_NATIVE_INT64;
    break;
  case H5T_ENUM:
    if (tsize > 8) {
      st = rvs_error(RVS_ERR_FORMAT, "%s: %s: unsupported enum", path, where);
      goto done;
    }
    n->dtype = RVS_H5S_BOOL;
    mem = H5Tget_native_type(t, H5T_DIR_ASCEND);
    close_mem = 1;
    break;
  case H5T_STRING:
    n->dtype = RVS_H5S_STRING;
    mem = H5Tget_native_type(t, H5T_DIR_ASCEND);
    close_mem = 1;
    break;
  case H5T_OPAQUE:
    n->dtype = RVS_H5S_OPAQUE;
    mem = H5Tget_native_type(t, H5T_DIR_ASCEND);
    close_mem = 1;
    break;
  default:
    st = rvs_error(RVS_ERR_FORMAT, "%s: %s: unsupported HDF5 type class %d", path, where,
                   (int)cls);
    goto done;
  }
  n->file_dtype = n->dtype;
  if (mem < 0) {
    st = rvs_error(RVS_ERR_FORMAT, "%s: %s: cannot map the HDF5 type", path, where);
    goto done;
  }
  if (lazy) goto done_mem;
  size_t ne = n->nelem;
  if (n->dtype == RVS_H5S_STRING) {
    char **arr = calloc(ne ? ne : 1, sizeof(char *));
    if (!arr) {
      st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
      goto done_mem;
    }
    n->data = arr;
    if (ne == 0) goto done_mem;
    if (H5Tis_variable_str(t) > 0) {
      char **tmp = calloc(ne, sizeof(char *));
      if (!tmp) {
        st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
        goto done_mem;
      }
      if (H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0) {
        free(tmp);
        st = rvs_error(RVS_ERR_FORMAT, "%s: %s: cannot read strings", path, where);
        goto done_mem;
      }
      for (size_t i = 0; i < ne && !st; i++)
        if (!(arr[i] = dupstr(tmp[i] ? tmp[i] : ""))) st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
      reclaim_vlen(mem, sp, tmp);
      free(tmp);
    } else {
      char *buf = malloc(ne * tsize);
      if (!buf) {
        st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
        goto done_mem;
      }
      if (H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        st = rvs_error(RVS_ERR_FORMAT, "%s: %s: cannot read strings", path, where);
      } else {
        for (size_t i = 0; i < ne && !st; i++) {
          size_t len = strnlen(buf + i * tsize, tsize);
          arr[i] = malloc(len + 1);
          if (!arr[i]) st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
          else {
            memcpy(arr[i], buf + i * tsize, len);
            arr[i][len] = '\0';
          }
        }
      }
      free(buf);
    }
  } else if (n->dtype == RVS_H5S_OPAQUE) {
    size_t bytes = ne * tsize;
    n->nelem = bytes; /* bytes of the pickle */
    n->data = malloc(bytes ? bytes : 1);
    if (!n->data) st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
    else if (bytes && H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, n->data) < 0)
      st = rvs_error(RVS_ERR_FORMAT, "%s: %s: cannot read", path, where);
  } else if (n->dtype == RVS_H5S_BOOL) {
    size_t msz = H5Tget_size(mem);
    unsigned char *raw = malloc(ne * msz + 1);
    n->data = malloc(ne + 1);
    if (!raw || !n->data) st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
    else if (ne && H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0)
      st = rvs_error(RVS_ERR_FORMAT, "%s: %s: cannot read", path, where);
    else {
      for (size_t i = 0; i < ne; i++) {
        int nz = 0;
        for (size_t b = 0; b < msz; b++) nz |= raw[i * msz + b] != 0;
        ((uint8_t *)n->data)[i] = (uint8_t)nz;
      }
    }
    free(raw);
  } else {
    n->data = malloc((ne ? ne : 1) * dtype_size(n->dtype));
    if (!n->data) st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
    else if (ne && H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, n->data) < 0)
      st = rvs_error(RVS_ERR_FORMAT, "%s: %s: cannot read", path, where);
  }
done_mem:
  if (close_mem) H5Tclose(mem);
done:
  H5Tclose(t);
  H5Sclose(sp);
  return st;
}

static int read_group(hid_t g, rvs_h5s *parent, const char *const *lazy, const char *path,
                      const char *where, int depth) {
  if (depth > 64) return rvs_error(RVS_ERR_FORMAT, "%s: groups nested too deeply", path);
  H5G_info_t gi;
  if (H5Gget_info(g, &gi) < 0) return rvs_error(RVS_ERR_FORMAT, "%s: %s: cannot list group", path, where);
  for (hsize_t i = 0; i < gi.nlinks; i++) {
    char name[512];
    ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                                     H5P_DEFAULT);
    if (len < 0 || (size_t)len >= sizeof name)
      return rvs_error(RVS_ERR_FORMAT, "%s: %s: bad member name", path, where);
    char sub[H5S_PATHMAX + 1024];
    int wn = snprintf(sub, sizeof sub, "%s/%.511s", where, name);
    if (wn < 0 || (size_t)wn >= sizeof sub)
      return rvs_error(RVS_ERR_FORMAT, "%s: %s: member path too long", path, where);
    hid_t obj = H5Oopen(g, name, H5P_DEFAULT);
    if (obj < 0) return rvs_error(RVS_ERR_FORMAT, "%s: %s: cannot open", path, sub);
    H5I_type_t it = H5Iget_type(obj);
    char *tname = NULL;
    int ar = read_str_attr(obj, "type", &tname);
    int st = RVS_OK;
    rvs_h5s *n = NULL;
    if (it == H5I_GROUP) {
      rvs_h5s_type gt = RVS_H5S_DICT;
      if (ar == 0) {
        int k = rvs_h5s_type_from_name(tname);
        if (k == RVS_H5S_FLATTENED_LIST || k == RVS_H5S_FLATTENED_TUPLE) gt = (rvs_h5s_type)k;
      }
      n = node_new(name, gt);
      if (!n) st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
      else st = read_group(obj, n, NULL, path, sub, depth + 1);
    } else if (it == H5I_DATASET) {
      int k = ar == 0 ? rvs_h5s_type_from_name(tname) : -1;
      if (ar != 0)
        st = rvs_error(RVS_ERR_FORMAT, "%s: %s: dataset has no 'type' attribute", path, sub);
      else if (k < 0 || k == RVS_H5S_DICT || k == RVS_H5S_FLATTENED_LIST ||
               k == RVS_H5S_FLATTENED_TUPLE)
        st = rvs_error(RVS_ERR_FORMAT, "%s: %s: unsupported type '%s'", path, sub, tname);
      else {
        n = node_new(name, (rvs_h5s_type)k);
        if (!n) st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
        else st = read_dataset(obj, n, depth == 0 && in_list(name, lazy), path, sub);
      }
    } else {
      st = rvs_error(RVS_ERR_FORMAT, "%s: %s: neither group nor dataset", path, sub);
    }
    free(tname);
    H5Oclose(obj);
    if (st) {
      rvs_h5s_free(n);
      return st;
    }
    st = attach(parent, n);
    if (st) return st;
  }
  return RVS_OK;
}

int rvs_h5s_read(const char *path, const char *const *lazy, rvs_h5s **out) {
  *out = NULL;
  h5_quiet();
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return rvs_error(RVS_ERR_IO, "%s: cannot open as HDF5", path);
  int st = RVS_OK;
  int64_t version = -1;
  if (H5Aexists(f, "version") <= 0) {
    st = rvs_error(RVS_ERR_FORMAT, "%s: no root attribute 'version' (not an rvspecfit file)", path);
  } else {
    hid_t a = H5Aopen(f, "version", H5P_DEFAULT);
    if (a < 0 || H5Aread(a, H5T_NATIVE_INT64, &version) < 0)
      st = rvs_error(RVS_ERR_FORMAT, "%s: cannot read attribute 'version'", path);
    if (a >= 0) H5Aclose(a);
    if (!st && version != 1)
      st = rvs_error(RVS_ERR_FORMAT, "%s: incompatible serializer version %lld (expected 1)",
                     path, (long long)version);
  }
  rvs_h5s *root = NULL;
  if (!st) {
    root = rvs_h5s_new_dict();
    if (!root) st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
  }
  if (!st) st = read_group(f, root, lazy, path, "", 0);
  H5Fclose(f);
  if (st) {
    rvs_h5s_free(root);
    return st;
  }
  *out = root;
  return RVS_OK;
}

int rvs_h5s_read_f64(const char *path, const char *name, double *dst, size_t n) {
  h5_quiet();
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return rvs_error(RVS_ERR_IO, "%s: cannot open as HDF5", path);
  int st = RVS_OK;
  hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
  if (ds < 0) {
    st = rvs_error(RVS_ERR_FORMAT, "%s: no dataset '%s'", path, name);
  } else {
    hid_t sp = H5Dget_space(ds);
    hid_t t = H5Dget_type(ds);
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (np < 0 || (size_t)np != n)
      st = rvs_error(RVS_ERR_FORMAT, "%s: '%s' has %lld values, expected %zu", path, name,
                     (long long)np, n);
    else if (cls != H5T_FLOAT && cls != H5T_INTEGER)
      st = rvs_error(RVS_ERR_FORMAT, "%s: '%s' is not numeric", path, name);
    else if (n && H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0)
      st = rvs_error(RVS_ERR_IO, "%s: cannot read '%s'", path, name);
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(ds);
  }
  H5Fclose(f);
  return st;
}
