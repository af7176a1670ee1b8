/* interp_<setup>.h5: our interpolator file (docs/formats/interp_ccf.md). */
#include "templates/interp_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rvs/status.h"
#include "templates/interp_internal.h"
#include "templates/tpl_h5.h"

static int name_join(const char *prefix, const char *stem, const char *setup, char *buf,
                     size_t cap) {
  const char *sep = prefix && prefix[0] && prefix[strlen(prefix) - 1] != '/' ? "/" : "";
  int n = snprintf(buf, cap, "%s%s%s%s.h5", prefix ? prefix : "", sep, stem, setup);
  if (n < 0 || (size_t)n >= cap)
    return rvs_error(RVS_ERR_ARG, "%s: output path too long", prefix ? prefix : "");
  return RVS_OK;
}

int rvs_interp_file_name(const char *prefix, const char *setup, char *buf, size_t cap) {
  return name_join(prefix, "interp_", setup, buf, cap);
}

int rvs_specs_file_name(const char *prefix, const char *setup, char *buf, size_t cap) {
  return name_join(prefix, "specs_", setup, buf, cap);
}

int rvs_interp_save(const rvs_interp *ip, const char *path) {
  if (!ip || !path) return rvs_error(RVS_ERR_ARG, "rvs_interp_save: NULL argument");
  char tmp[4200];
  hid_t f;
  int st = tpl_h5_create_atomic(path, tmp, sizeof tmp, &f);
  if (st) return st;
  int n = ip->ndim;
  int tri = ip->kind == RVS_INTERP_TRIANGULATION;
  int32_t log_ids[16];
  int nlog = 0;
  for (int d = 0; d < n; d++)
    if (ip->is_log[d]) log_ids[nlog++] = d;
  hsize_t d1[1], d2[2], d3[3];
  st = tpl_h5_write_str(f, "format", RVS_INTERP_FORMAT, path);
  if (!st)
    st = tpl_h5_write_str(f, "interpolation_type", tri ? "triangulation" : "regulargrid",
                          path);
  d1[0] = ip->npix;
  if (!st)
    st = tpl_h5_write_array(f, "lam", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, d1, ip->lam,
                            "ndarray", path);
  if (!st) st = tpl_h5_write_strlist(f, "parnames", ip->parnames, (size_t)n, path);
  d1[0] = (hsize_t)nlog;
  if (!st)
    st = tpl_h5_write_array(f, "log_ids", H5T_NATIVE_INT32, H5T_STD_I32LE, 1, d1, log_ids,
                            "ndarray", path);
  if (!st) st = tpl_h5_write_str(f, "mapper_module", "rvspecfit.read_grid", path);
  if (!st) st = tpl_h5_write_str(f, "mapper_class_name", "LogParamMapper", path);
  if (!st) st = tpl_h5_write_int(f, "log_spec", ip->log_spec, path);
  if (!st) st = tpl_h5_write_int(f, "log_step", ip->log_step, path);
  if (!st) st = tpl_h5_write_int(f, "nreal", (long long)ip->nreal, path);
  if (!st) st = tpl_h5_write_str(f, "revision", ip->revision ? ip->revision : "", path);
  if (!st) st = tpl_h5_write_str(f, "cmdline", ip->cmdline ? ip->cmdline : "", path);
  d2[0] = ip->nvert;
  d2[1] = (hsize_t)n;
  if (!st)
    st = tpl_h5_write_array(f, "vec", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, d2, ip->vec,
                            "ndarray", path);
  d2[1] = ip->npix;
  if (!st) {
    if (ip->float_bits == 32)
      st = tpl_h5_write_array(f, "specs", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 2, d2,
                              ip->specs32, "ndarray", path);
    else
      st = tpl_h5_write_array(f, "specs", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, d2,
                              ip->specs64, "ndarray", path);
  }
  if (tri) {
    d1[0] = ip->nvert;
    if (!st)
      st = tpl_h5_write_array(f, "extraflags", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, d1,
                              ip->extraflags, "ndarray", path);
    d2[0] = ip->nsimplex;
    d2[1] = (hsize_t)(n + 1);
    if (!st)
      st = tpl_h5_write_array(f, "simplices", H5T_NATIVE_INT32, H5T_STD_I32LE, 2, d2,
                              ip->simplices, "ndarray", path);
    if (!st)
      st = tpl_h5_write_array(f, "neighbors", H5T_NATIVE_INT32, H5T_STD_I32LE, 2, d2,
                              ip->neighbors, "ndarray", path);
    d1[0] = ip->nsimplex;
    if (!st)
      st = tpl_h5_write_array(f, "degenerate", H5T_NATIVE_UCHAR, H5T_STD_U8LE, 1, d1,
                              ip->degenerate, "ndarray", path);
    d3[0] = ip->nsimplex;
    d3[1] = (hsize_t)(n + 1);
    d3[2] = (hsize_t)n;
    if (!st)
      st = tpl_h5_write_array(f, "transform", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 3, d3,
                              ip->transform, "ndarray", path);
    if (!st) st = tpl_h5_write_double(f, "jitter_amplitude", RVS_INTERP_JITTER, path);
    if (!st) st = tpl_h5_write_int(f, "jitter_seed", RVS_INTERP_JITTER_SEED, path);
  } else {
    hid_t g = -1;
    if (!st) st = tpl_h5_create_group(f, "uvecs", &g, path);
    for (int d = 0; !st && d < n; d++) {
      char nm[16];
      snprintf(nm, sizeof nm, "%d", d);
      d1[0] = (hsize_t)ip->ulen[d];
      st = tpl_h5_write_array(g, nm, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, d1, ip->uvecs[d],
                              "ndarray", path);
    }
    if (g >= 0) H5Gclose(g);
    hsize_t dg[16];
    for (int d = 0; d < n; d++) dg[d] = (hsize_t)ip->ulen[d];
    if (!st)
      st = tpl_h5_write_array(f, "idgrid", H5T_NATIVE_INT32, H5T_STD_I32LE, n, dg, ip->idgrid,
                              "ndarray", path);
  }
  if (st) {
    tpl_h5_close_abort(f, tmp);
    return st;
  }
  return tpl_h5_close_commit(f, tmp, path);
}

static int load_body(hid_t f, const char *path, rvs_interp *ip) {
  char *type = NULL, *fmt = NULL;
  int st = tpl_h5_read_str(f, "format", &fmt, 1, path);
  if (!st && (!fmt || strcmp(fmt, RVS_INTERP_FORMAT) != 0))
    st = rvs_error(RVS_ERR_FORMAT, "%s: not an rvspecfit-c interpolator file (format '%s'); "
                   "upstream's pickled interp files are not supported", path,
                   fmt ? fmt : "missing");
  free(fmt);
  if (st) return st;
  st = tpl_h5_read_str(f, "interpolation_type", &type, 0, path);
  if (st) return st;
  if (strcmp(type, "triangulation") == 0)
    ip->kind = RVS_INTERP_TRIANGULATION;
  else if (strcmp(type, "regulargrid") == 0)
    ip->kind = RVS_INTERP_REGULARGRID;
  else
    st = rvs_error(RVS_ERR_FORMAT, "%s: unknown interpolation_type '%s'", path, type);
  free(type);
  if (st) return st;

  hsize_t d1[1] = {0}, d2[2] = {0, 0}, d3[3] = {0, 0, 0};
  size_t np;
  st = tpl_h5_read_strlist(f, "parnames", &ip->parnames, &np, path);
  if (st) return st;
  if (np < 1 || np > 16) {
    tpl_free_strlist(ip->parnames, np);
    ip->parnames = NULL;
    return rvs_error(RVS_ERR_FORMAT, "%s: %zu parameters", path, np);
  }
  ip->ndim = (int)np;
  int n = ip->ndim;
  st = tpl_h5_read_shaped(f, "lam", H5T_NATIVE_DOUBLE, 1, d1, (void **)&ip->lam, path);
  if (st) return st;
  ip->npix = d1[0];
  int32_t *log_ids = NULL;
  d1[0] = 0;
  st = tpl_h5_read_shaped(f, "log_ids", H5T_NATIVE_INT32, 1, d1, (void **)&log_ids, path);
  if (st) return st;
  ip->is_log = calloc((size_t)n, sizeof(int));
  if (!ip->is_log) st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
  for (hsize_t i = 0; !st && i < d1[0]; i++) {
    if (log_ids[i] < 0 || log_ids[i] >= n)
      st = rvs_error(RVS_ERR_FORMAT, "%s: log_ids out of range", path);
    else
      ip->is_log[log_ids[i]] = 1;
  }
  free(log_ids);
  if (st) return st;
  long long v;
  if ((st = tpl_h5_read_int(f, "log_spec", &v, path))) return st;
  ip->log_spec = v != 0;
  if ((st = tpl_h5_read_int(f, "log_step", &v, path))) return st;
  ip->log_step = v != 0;
  if ((st = tpl_h5_read_int(f, "nreal", &v, path))) return st;
  ip->nreal = (size_t)v;
  if ((st = tpl_h5_read_str(f, "revision", &ip->revision, 1, path))) return st;
  if ((st = tpl_h5_read_str(f, "cmdline", &ip->cmdline, 1, path))) return st;
  d2[1] = (hsize_t)n;
  st = tpl_h5_read_shaped(f, "vec", H5T_NATIVE_DOUBLE, 2, d2, (void **)&ip->vec, path);
  if (st) return st;
  ip->nvert = d2[0];
  if (ip->nvert < 1 || ip->nreal > ip->nvert)
    return rvs_error(RVS_ERR_FORMAT, "%s: inconsistent vertex counts", path);
  for (size_t i = 0; i < ip->nvert * (size_t)n; i++)
    if (!isfinite(ip->vec[i])) return rvs_error(RVS_ERR_FORMAT, "%s: non-finite vec", path);
  int bits = tpl_h5_float_bits(f, "specs");
  if (bits != 32 && bits != 64)
    return rvs_error(RVS_ERR_FORMAT, "%s: specs missing or not float32/float64", path);
  ip->float_bits = bits;
  d2[0] = ip->nvert;
  d2[1] = ip->npix;
  if (bits == 32)
    st = tpl_h5_read_shaped(f, "specs", H5T_NATIVE_FLOAT, 2, d2, (void **)&ip->specs32, path);
  else
    st = tpl_h5_read_shaped(f, "specs", H5T_NATIVE_DOUBLE, 2, d2, (void **)&ip->specs64, path);
  if (st) return st;

  if (ip->kind == RVS_INTERP_TRIANGULATION) {
    d1[0] = ip->nvert;
    st = tpl_h5_read_shaped(f, "extraflags", H5T_NATIVE_DOUBLE, 1, d1,
                            (void **)&ip->extraflags, path);
    if (st) return st;
    d2[0] = 0;
    d2[1] = (hsize_t)(n + 1);
    st = tpl_h5_read_shaped(f, "simplices", H5T_NATIVE_INT32, 2, d2, (void **)&ip->simplices,
                            path);
    if (st) return st;
    ip->nsimplex = d2[0];
    st = tpl_h5_read_shaped(f, "neighbors", H5T_NATIVE_INT32, 2, d2, (void **)&ip->neighbors,
                            path);
    if (st) return st;
    size_t nidx = ip->nsimplex * (size_t)(n + 1);
    for (size_t i = 0; i < nidx; i++) {
      if (ip->simplices[i] < 0 || (size_t)ip->simplices[i] >= ip->nvert ||
          ip->neighbors[i] < -1 || ip->neighbors[i] >= (int64_t)ip->nsimplex)
        return rvs_error(RVS_ERR_FORMAT, "%s: simplex/neighbour index out of range", path);
    }
    d3[0] = ip->nsimplex;
    d3[1] = (hsize_t)(n + 1);
    d3[2] = (hsize_t)n;
    st = tpl_h5_read_shaped(f, "transform", H5T_NATIVE_DOUBLE, 3, d3, (void **)&ip->transform,
                            path);
    if (st) return st;
    d1[0] = ip->nsimplex;
    st = tpl_h5_read_shaped(f, "degenerate", H5T_NATIVE_UCHAR, 1, d1, (void **)&ip->degenerate,
                            path);
    if (st) return st;
    return rvs_tri_setup_runtime(ip);
  }

  ip->ulen = calloc((size_t)n, sizeof(int));
  ip->uvecs = calloc((size_t)n, sizeof(double *));
  ip->ptp_scale = calloc((size_t)n, sizeof(double));
  if (!ip->ulen || !ip->uvecs || !ip->ptp_scale)
    return rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
  hid_t g = H5Gopen2(f, "uvecs", H5P_DEFAULT);
  if (g < 0) return rvs_error(RVS_ERR_FORMAT, "%s: group uvecs missing", path);
  size_t total = 1;
  for (int d = 0; !st && d < n; d++) {
    char nm[16];
    snprintf(nm, sizeof nm, "%d", d);
    d1[0] = 0;
    st = tpl_h5_read_shaped(g, nm, H5T_NATIVE_DOUBLE, 1, d1, (void **)&ip->uvecs[d], path);
    if (st) break;
    ip->ulen[d] = (int)d1[0];
    if (d1[0] < 1) st = rvs_error(RVS_ERR_FORMAT, "%s: empty uvecs/%d", path, d);
    for (hsize_t i = 1; !st && i < d1[0]; i++)
      if (!(ip->uvecs[d][i] > ip->uvecs[d][i - 1]))
        st = rvs_error(RVS_ERR_FORMAT, "%s: uvecs/%d not increasing", path, d);
    total *= d1[0];
  }
  H5Gclose(g);
  if (st) return st;
  hsize_t dg[16];
  for (int d = 0; d < n; d++) dg[d] = (hsize_t)ip->ulen[d];
  st = tpl_h5_read_shaped(f, "idgrid", H5T_NATIVE_INT32, n, dg, (void **)&ip->idgrid, path);
  if (st) return st;
  for (size_t k = 0; k < total; k++)
    if (ip->idgrid[k] < -1 || ip->idgrid[k] >= (int64_t)ip->nvert)
      return rvs_error(RVS_ERR_FORMAT, "%s: idgrid entry out of range", path);
  for (int d = 0; d < n; d++) {
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < ip->nvert; i++) {
      double x = ip->vec[i * (size_t)n + (size_t)d];
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    ip->ptp_scale[d] = hi > lo ? hi - lo : 1.0;
  }
  return RVS_OK;
}

int rvs_interp_load(const char *path, rvs_interp **out) {
  *out = NULL;
  hid_t f;
  int st = tpl_h5_open_read(path, &f);
  if (st) return st;
  rvs_interp *ip = calloc(1, sizeof *ip);
  if (!ip) {
    H5Fclose(f);
    return rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
  }
  st = load_body(f, path, ip);
  H5Fclose(f);
  if (st) {
    rvs_interp_free(ip);
    return st;
  }
  *out = ip;
  return RVS_OK;
}
