/* Small HDF5 helpers for the interpolator and CCF-bank files (see tpl_h5.h). */
#include "templates/tpl_h5.h"

#include <stdlib.h>
#include <string.h>

#include "io/atomic.h"
#include "rvs/status.h"

void tpl_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

char *tpl_strdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *r = malloc(n);
  if (r) memcpy(r, s, n);
  return r;
}

void tpl_free_strlist(char **s, size_t n) {
  if (!s) return;
  for (size_t i = 0; i < n; i++) free(s[i]);
  free(s);
}

/* Variable-length UTF-8, as h5py writes str attributes (read back as str). */
static int set_str_attr(hid_t obj, const char *attr, const char *value) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return -1;
  int ok = 0;
  if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) ok = -1;
  hid_t sp = ok == 0 ? H5Screate(H5S_SCALAR) : -1;
  hid_t a = sp >= 0 ? H5Acreate2(obj, attr, t, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
  if (a < 0 || H5Awrite(a, t, &value) < 0) ok = -1;
  if (a >= 0) H5Aclose(a);
  if (sp >= 0) H5Sclose(sp);
  H5Tclose(t);
  return ok;
}

int tpl_h5_create_atomic(const char *final_path, char *tmp, size_t cap, hid_t *out) {
  tpl_h5_quiet();
  int st = rvs_atomic_tmpname(final_path, tmp, cap);
  if (st) return st;
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) return rvs_error(RVS_ERR_IO, "%s: cannot create HDF5 file", tmp);
  long long version = 1;
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(f, "version", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
  int bad = a < 0 || H5Awrite(a, H5T_NATIVE_LLONG, &version) < 0;
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  if (bad) {
    tpl_h5_close_abort(f, tmp);
    return rvs_error(RVS_ERR_IO, "%s: cannot write root attribute", final_path);
  }
  *out = f;
  return RVS_OK;
}

int tpl_h5_close_commit(hid_t f, const char *tmp, const char *final_path) {
  if (H5Fclose(f) < 0) {
    rvs_atomic_abort(tmp);
    return rvs_error(RVS_ERR_IO, "%s: error closing HDF5 file", final_path);
  }
  return rvs_atomic_commit(tmp, final_path);
}

void tpl_h5_close_abort(hid_t f, const char *tmp) {
  if (f >= 0) H5Fclose(f);
  rvs_atomic_abort(tmp);
}

int tpl_h5_open_read(const char *path, hid_t *out) {
  tpl_h5_quiet();
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return rvs_error(RVS_ERR_IO, "%s: cannot open as HDF5", path);
  *out = f;
  return RVS_OK;
}

int tpl_h5_write_array(hid_t loc, const char *name, hid_t memtype, hid_t filetype,
                       int rank, const hsize_t *dims, const void *data,
                       const char *type_attr, const char *path) {
  hid_t sp = rank > 0 ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
  if (sp < 0) return rvs_error(RVS_ERR_IO, "%s: %s: cannot create dataspace", path, name);
  hid_t d = H5Dcreate2(loc, name, filetype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int bad = d < 0;
  hsize_t total = 1;
  for (int i = 0; i < rank; i++) total *= dims[i];
  if (!bad && total > 0 && H5Dwrite(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    bad = 1;
  if (!bad && set_str_attr(d, "type", type_attr ? type_attr : "ndarray") < 0) bad = 1;
  if (d >= 0) H5Dclose(d);
  H5Sclose(sp);
  if (bad) return rvs_error(RVS_ERR_IO, "%s: cannot write dataset %s", path, name);
  return RVS_OK;
}

int tpl_h5_write_double(hid_t loc, const char *name, double v, const char *path) {
  return tpl_h5_write_array(loc, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 0, NULL, &v,
                            "scalar", path);
}

int tpl_h5_write_int(hid_t loc, const char *name, long long v, const char *path) {
  return tpl_h5_write_array(loc, name, H5T_NATIVE_LLONG, H5T_STD_I64LE, 0, NULL, &v,
                            "scalar", path);
}

static hid_t vlen_str_type(void) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return t;
  if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

int tpl_h5_write_str(hid_t loc, const char *name, const char *s, const char *path) {
  hid_t t = vlen_str_type();
  if (t < 0) return rvs_error(RVS_ERR_IO, "%s: %s: string type", path, name);
  const char *v = s ? s : "";
  int st = tpl_h5_write_array(loc, name, t, t, 0, NULL, &v, "str", path);
  H5Tclose(t);
  return st;
}

int tpl_h5_write_strlist(hid_t loc, const char *name, char *const *s, size_t n,
                         const char *path) {
  hid_t t = vlen_str_type();
  if (t < 0) return rvs_error(RVS_ERR_IO, "%s: %s: string type", path, name);
  hsize_t dims[1] = {n};
  int st = tpl_h5_write_array(loc, name, t, t, 1, dims, s, "list", path);
  H5Tclose(t);
  return st;
}

int tpl_h5_create_group(hid_t loc, const char *name, hid_t *out, const char *path) {
  hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) return rvs_error(RVS_ERR_IO, "%s: cannot create group %s", path, name);
  *out = g;
  return RVS_OK;
}

int tpl_h5_exists(hid_t loc, const char *name) { return H5Lexists(loc, name, H5P_DEFAULT) > 0; }

int tpl_h5_read_array(hid_t loc, const char *name, hid_t memtype, int maxrank,
                      int *rank, hsize_t *dims, void **data, const char *path) {
  *data = NULL;
  if (!tpl_h5_exists(loc, name))
    return rvs_error(RVS_ERR_FORMAT, "%s: dataset %s missing", path, name);
  hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
  if (d < 0) return rvs_error(RVS_ERR_FORMAT, "%s: cannot open dataset %s", path, name);
  hid_t sp = H5Dget_space(d);
  int r = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
  if (r < 0 || r > maxrank) {
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    return rvs_error(RVS_ERR_FORMAT, "%s: dataset %s has rank %d (at most %d expected)",
                     path, name, r, maxrank);
  }
  hsize_t tmpd[32];
  H5Sget_simple_extent_dims(sp, tmpd, NULL);
  size_t total = 1;
  for (int i = 0; i < r; i++) {
    dims[i] = tmpd[i];
    total *= (size_t)tmpd[i];
  }
  *rank = r;
  size_t esz = H5Tget_size(memtype);
  void *buf = malloc(total * esz > 0 ? total * esz : 1);
  int st = RVS_OK;
  if (!buf) {
    st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory reading %s", path, name);
  } else if (total > 0 && H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
    st = rvs_error(RVS_ERR_FORMAT, "%s: cannot read dataset %s", path, name);
  }
  H5Sclose(sp);
  H5Dclose(d);
  if (st) {
    free(buf);
    return st;
  }
  *data = buf;
  return RVS_OK;
}

int tpl_h5_read_shaped(hid_t loc, const char *name, hid_t memtype, int rank,
                       hsize_t *dims, void **data, const char *path) {
  int r;
  hsize_t got[32];
  int st = tpl_h5_read_array(loc, name, memtype, rank, &r, got, data, path);
  if (st) return st;
  int ok = r == rank;
  for (int i = 0; ok && i < rank; i++)
    if (dims[i] != 0 && dims[i] != got[i]) ok = 0;
  if (!ok) {
    free(*data);
    *data = NULL;
    return rvs_error(RVS_ERR_FORMAT, "%s: dataset %s has an unexpected shape", path, name);
  }
  for (int i = 0; i < rank; i++) dims[i] = got[i];
  return RVS_OK;
}

int tpl_h5_read_double(hid_t loc, const char *name, double *v, const char *path) {
  int r;
  hsize_t dims[1];
  void *buf;
  int st = tpl_h5_read_array(loc, name, H5T_NATIVE_DOUBLE, 1, &r, dims, &buf, path);
  if (st) return st;
  if (r == 1 && dims[0] != 1) {
    free(buf);
    return rvs_error(RVS_ERR_FORMAT, "%s: %s is not a scalar", path, name);
  }
  *v = *(double *)buf;
  free(buf);
  return RVS_OK;
}

int tpl_h5_read_int(hid_t loc, const char *name, long long *v, const char *path) {
  int r;
  hsize_t dims[1];
  void *buf;
  int st = tpl_h5_read_array(loc, name, H5T_NATIVE_LLONG, 1, &r, dims, &buf, path);
  if (st) return st;
  if (r == 1 && dims[0] != 1) {
    free(buf);
    return rvs_error(RVS_ERR_FORMAT, "%s: %s is not a scalar", path, name);
  }
  *v = *(long long *)buf;
  free(buf);
  return RVS_OK;
}

/* Read n strings (fixed or variable length) from an open dataset. */
static int read_strings(hid_t d, size_t n, char **out) {
  hid_t ft = H5Dget_type(d);
  if (ft < 0 || H5Tget_class(ft) != H5T_STRING) {
    if (ft >= 0) H5Tclose(ft);
    return -1;
  }
  int rc = 0;
  if (H5Tis_variable_str(ft) > 0) {
    hid_t mt = vlen_str_type();
    char **tmp = calloc(n ? n : 1, sizeof *tmp);
    if (mt < 0 || !tmp || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0) {
      rc = -1;
    } else {
      for (size_t i = 0; i < n; i++) {
        out[i] = tpl_strdup(tmp[i] ? tmp[i] : "");
        if (!out[i]) rc = -2;
      }
      hid_t sp = H5Dget_space(d);
      H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, tmp);
      H5Sclose(sp);
    }
    free(tmp);
    if (mt >= 0) H5Tclose(mt);
  } else {
    size_t len = H5Tget_size(ft);
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, len + 1);
    H5Tset_strpad(mt, H5T_STR_NULLTERM);
    char *tmp = malloc((len + 1) * (n ? n : 1));
    if (!tmp || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0) {
      rc = -1;
    } else {
      for (size_t i = 0; i < n; i++) {
        out[i] = tpl_strdup(tmp + i * (len + 1));
        if (!out[i]) rc = -2;
      }
    }
    free(tmp);
    H5Tclose(mt);
  }
  H5Tclose(ft);
  return rc;
}

int tpl_h5_read_str(hid_t loc, const char *name, char **out, int optional,
                    const char *path) {
  *out = NULL;
  if (!tpl_h5_exists(loc, name)) {
    if (optional) return RVS_OK;
    return rvs_error(RVS_ERR_FORMAT, "%s: dataset %s missing", path, name);
  }
  hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
  if (d < 0) return rvs_error(RVS_ERR_FORMAT, "%s: cannot open %s", path, name);
  hid_t sp = H5Dget_space(d);
  hssize_t np = H5Sget_simple_extent_npoints(sp);
  H5Sclose(sp);
  int rc = np == 1 ? read_strings(d, 1, out) : -1;
  H5Dclose(d);
  if (rc == -2) return rvs_error(RVS_ERR_NOMEM, "%s: out of memory reading %s", path, name);
  if (rc) {
    free(*out);
    *out = NULL;
    return rvs_error(RVS_ERR_FORMAT, "%s: %s is not a string", path, name);
  }
  return RVS_OK;
}

int tpl_h5_read_strlist(hid_t loc, const char *name, char ***out, size_t *n,
                        const char *path) {
  *out = NULL;
  *n = 0;
  if (!tpl_h5_exists(loc, name))
    return rvs_error(RVS_ERR_FORMAT, "%s: dataset %s missing", path, name);
  hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
  if (d < 0) return rvs_error(RVS_ERR_FORMAT, "%s: cannot open %s", path, name);
  hid_t sp = H5Dget_space(d);
  hssize_t np = H5Sget_simple_extent_npoints(sp);
  H5Sclose(sp);
  char **s = calloc(np > 0 ? (size_t)np : 1, sizeof *s);
  int rc = s ? read_strings(d, (size_t)np, s) : -2;
  H5Dclose(d);
  if (rc) {
    tpl_free_strlist(s, (size_t)np);
    if (rc == -2) return rvs_error(RVS_ERR_NOMEM, "%s: out of memory reading %s", path, name);
    return rvs_error(RVS_ERR_FORMAT, "%s: %s is not a list of strings", path, name);
  }
  *out = s;
  *n = (size_t)np;
  return RVS_OK;
}

int tpl_h5_float_bits(hid_t loc, const char *name) {
  if (!tpl_h5_exists(loc, name)) return 0;
  hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
  if (d < 0) return 0;
  hid_t t = H5Dget_type(d);
  int bits = 0;
  if (t >= 0 && H5Tget_class(t) == H5T_FLOAT) bits = (int)H5Tget_size(t) * 8;
  if (t >= 0) H5Tclose(t);
  H5Dclose(d);
  return bits;
}
