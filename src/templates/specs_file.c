/* specs_<setup>.h5 in upstream rvspecfit's serializer layout; see specs_file.h
 * and docs/formats/specs.md. */
#include "templates/specs_file.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5ser.h"
#include "rvs/status.h"

#define SPECS_GIT_REV_DEFAULT "rvspecfit-c 0.1.0"
#define SPECS_MAPPER_MODULE "rvspecfit.read_grid"
#define SPECS_MAPPER_CLASS "LogParamMapper"

void rvs_specs_free(rvs_specs *s) {
  if (!s) return;
  free(s->specs);
  free(s->vec);
  free(s->lam);
  free(s->lognorms);
  free(s->file_ids);
  if (s->parnames)
    for (size_t i = 0; i < s->nparam; i++) free(s->parnames[i]);
  free(s->parnames);
  free(s->log_ids);
  free(s->revision);
  free(s->cmdline);
  free(s->dbfile);
  free(s->git_rev);
  memset(s, 0, sizeof *s);
}

int rvs_specs_write(const char *path, const rvs_specs *s) {
  if (!s || !s->specs || !s->vec || !s->lam || !s->parnames || s->nspec < 1 || s->npix < 1 ||
      s->nparam < 1)
    return rvs_error(RVS_ERR_ARG, "%s: incomplete specs to write", path);
  if (s->float_bits != 32 && s->float_bits != 64)
    return rvs_error(RVS_ERR_ARG, "%s: float_bits must be 32 or 64, not %d", path, s->float_bits);
  for (size_t i = 0; i < s->nparam; i++)
    if (!s->parnames[i]) return rvs_error(RVS_ERR_ARG, "%s: parameter name %zu missing", path, i);
  rvs_h5s *root = rvs_h5s_new_dict();
  int64_t *ids = malloc(s->nspec * sizeof(int64_t));
  int64_t *margs = malloc((s->nlog_ids ? s->nlog_ids : 1) * sizeof(int64_t));
  double *lognorms = calloc(s->nspec, sizeof(double));
  if (!root || !ids || !margs || !lognorms) {
    rvs_h5s_free(root);
    free(ids);
    free(margs);
    free(lognorms);
    return rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
  }
  for (size_t i = 0; i < s->nspec; i++) {
    ids[i] = s->file_ids ? (int64_t)s->file_ids[i] : (int64_t)i;
    if (s->lognorms) lognorms[i] = s->lognorms[i];
  }
  for (size_t i = 0; i < s->nlog_ids; i++) margs[i] = s->log_ids[i];
  size_t d_specs[2] = {s->nspec, s->npix}, d_vec[2] = {s->nparam, s->nspec};
  size_t d_lam[1] = {s->npix}, d_ns[1] = {s->nspec}, d_marg[2] = {1, s->nlog_ids};
  int st = RVS_OK;
  /* the same keys, in the same order, as upstream's make_interpol.process_all */
  st = rvs_h5s_add_array_ref(root, "specs", RVS_H5S_NDARRAY, RVS_H5S_F64,
                             s->float_bits == 32 ? RVS_H5S_F32 : RVS_H5S_F64, 2, d_specs, s->specs);
  if (!st)
    st = rvs_h5s_add_array_ref(root, "vec", RVS_H5S_NDARRAY, RVS_H5S_F64, RVS_H5S_F64, 2, d_vec,
                               s->vec);
  if (!st)
    st = rvs_h5s_add_array_ref(root, "lam", RVS_H5S_NDARRAY, RVS_H5S_F64, RVS_H5S_F64, 1, d_lam,
                               s->lam);
  if (!st)
    st = rvs_h5s_add_strings(root, "parnames", RVS_H5S_LIST, (const char *const *)s->parnames,
                             s->nparam);
  if (!st) st = rvs_h5s_add_str(root, "git_rev", s->git_rev ? s->git_rev : SPECS_GIT_REV_DEFAULT);
  if (!st) st = rvs_h5s_add_str(root, "mapper_module", SPECS_MAPPER_MODULE);
  if (!st) st = rvs_h5s_add_str(root, "mapper_class_name", SPECS_MAPPER_CLASS);
  /* mapper_args = (log_parameters,): np.array of a 1-tuple of a list -> shape (1, n) */
  if (!st) st = rvs_h5s_add_array(root, "mapper_args", RVS_H5S_TUPLE, RVS_H5S_I64, 2, d_marg, margs);
  if (!st) st = rvs_h5s_add_str(root, "revision", s->revision ? s->revision : "");
  if (!st) st = rvs_h5s_add_str(root, "cmdline", s->cmdline ? s->cmdline : "");
  if (!st) st = rvs_h5s_add_array(root, "lognorms", RVS_H5S_NDARRAY, RVS_H5S_F64, 1, d_ns, lognorms);
  if (!st) st = rvs_h5s_add_bool(root, "log_step", s->log_step);
  if (!st) st = rvs_h5s_add_bool(root, "log_spec", s->log_spec);
  if (!st) st = rvs_h5s_add_array(root, "file_ids", RVS_H5S_NDARRAY, RVS_H5S_I64, 1, d_ns, ids);
  if (!st) st = s->dbfile ? rvs_h5s_add_str(root, "dbfile", s->dbfile) : rvs_h5s_add_none(root, "dbfile");
  if (!st) st = rvs_h5s_write(path, root);
  rvs_h5s_free(root);
  free(ids);
  free(margs);
  free(lognorms);
  return st;
}

/* ---------------------------------------------------------------- reading */

static int get_numeric(const rvs_h5s *root, const char *name, int rank, const char *path,
                       const rvs_h5s **out) {
  const rvs_h5s *n = rvs_h5s_get(root, name);
  if (!n) return rvs_error(RVS_ERR_FORMAT, "%s: no dataset '%s' (not a specs file?)", path, name);
  if (n->dtype == RVS_H5S_STRING || n->dtype == RVS_H5S_OPAQUE || n->dtype == RVS_H5S_NODATA)
    return rvs_error(RVS_ERR_FORMAT, "%s: '%s' is not numeric", path, name);
  if (rank >= 0 && n->rank != rank)
    return rvs_error(RVS_ERR_FORMAT, "%s: '%s' has %d dimensions, expected %d", path, name,
                     n->rank, rank);
  *out = n;
  return RVS_OK;
}

/* Optional string: absent or None -> NULL. */
static int get_opt_str(const rvs_h5s *root, const char *name, const char *path, char **out) {
  *out = NULL;
  const rvs_h5s *n = rvs_h5s_get(root, name);
  if (!n || n->type == RVS_H5S_NONE) return RVS_OK;
  if (n->dtype != RVS_H5S_STRING || n->nelem != 1 || !n->data)
    return rvs_error(RVS_ERR_FORMAT, "%s: '%s' is not a string", path, name);
  *out = strdup(((char **)n->data)[0]);
  return *out ? RVS_OK : rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
}

static int get_opt_bool(const rvs_h5s *root, const char *name, int dflt, const char *path,
                        int *out) {
  *out = dflt;
  const rvs_h5s *n = rvs_h5s_get(root, name);
  if (!n) return RVS_OK;
  if (n->nelem != 1 || n->dtype == RVS_H5S_STRING || n->dtype == RVS_H5S_OPAQUE || !n->data)
    return rvs_error(RVS_ERR_FORMAT, "%s: '%s' is not a scalar", path, name);
  double *v = NULL;
  int st = rvs_h5s_to_f64(n, &v);
  if (st) return st;
  *out = v[0] != 0;
  free(v);
  return RVS_OK;
}

/* mapper_args = (log_ids,): a (1, n) array, or a flattened tuple whose item 0 is the list. */
static int read_log_ids(const rvs_h5s *root, const char *path, rvs_specs *s) {
  const rvs_h5s *mod = rvs_h5s_get(root, "mapper_module");
  const rvs_h5s *cls = rvs_h5s_get(root, "mapper_class_name");
  const rvs_h5s *args = rvs_h5s_get(root, "mapper_args");
  if (!mod && !cls && !args) { /* no mapper: interpolate the raw parameters */
    s->nlog_ids = 0;
    s->log_ids = malloc(sizeof(int));
    return s->log_ids ? RVS_OK : rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
  }
  if (!mod || !cls || !args || mod->dtype != RVS_H5S_STRING || cls->dtype != RVS_H5S_STRING ||
      !mod->data || !cls->data)
    return rvs_error(RVS_ERR_FORMAT, "%s: incomplete parameter mapper (mapper_module, "
                     "mapper_class_name, mapper_args)", path);
  const char *m = ((char **)mod->data)[0], *c = ((char **)cls->data)[0];
  if (strcmp(m, SPECS_MAPPER_MODULE) != 0 || strcmp(c, SPECS_MAPPER_CLASS) != 0)
    return rvs_error(RVS_ERR_FORMAT, "%s: unsupported parameter mapper %s.%s (only %s.%s)", path,
                     m, c, SPECS_MAPPER_MODULE, SPECS_MAPPER_CLASS);
  const rvs_h5s *list = args;
  if (args->type == RVS_H5S_FLATTENED_TUPLE || args->type == RVS_H5S_FLATTENED_LIST) {
    list = rvs_h5s_item(args, 0);
    if (!list) return rvs_error(RVS_ERR_FORMAT, "%s: mapper_args is empty", path);
  } else if (args->type == RVS_H5S_EMPTY_ARRAY) {
    return rvs_error(RVS_ERR_FORMAT, "%s: mapper_args is empty", path);
  } else if (args->rank == 2 && args->dims[0] != 1) {
    return rvs_error(RVS_ERR_FORMAT, "%s: mapper_args has %zu arguments, expected 1", path,
                     args->dims[0]);
  } else if (args->rank > 2) {
    return rvs_error(RVS_ERR_FORMAT, "%s: mapper_args has %d dimensions", path, args->rank);
  }
  size_t n = list->type == RVS_H5S_EMPTY_ARRAY ? 0 : list->nelem;
  int64_t *v = NULL;
  if (n) {
    int st = rvs_h5s_to_i64(list, &v);
    if (st) return rvs_error(st, "%s: mapper_args: %s", path, rvs_last_error());
  }
  s->log_ids = malloc((n ? n : 1) * sizeof(int));
  if (!s->log_ids) {
    free(v);
    return rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
  }
  for (size_t i = 0; i < n; i++) {
    if (v[i] < 0 || (size_t)v[i] >= s->nparam) {
      free(v);
      return rvs_error(RVS_ERR_FORMAT, "%s: mapper_args: log parameter index %lld out of range",
                       path, (long long)v[i]);
    }
    s->log_ids[i] = (int)v[i];
  }
  s->nlog_ids = n;
  free(v);
  return RVS_OK;
}

int rvs_specs_read(const char *path, rvs_specs *s) {
  memset(s, 0, sizeof *s);
  static const char *const lazy[] = {"specs", NULL};
  rvs_h5s *root = NULL;
  int st = rvs_h5s_read(path, lazy, &root);
  if (st) return st;
  const rvs_h5s *nspecs = NULL, *nvec = NULL, *nlam = NULL;
  st = get_numeric(root, "specs", 2, path, &nspecs);
  if (!st) st = get_numeric(root, "vec", 2, path, &nvec);
  if (!st) st = get_numeric(root, "lam", 1, path, &nlam);
  if (st) goto fail;
  s->nspec = nspecs->dims[0];
  s->npix = nspecs->dims[1];
  s->nparam = nvec->dims[0];
  if (s->nspec < 1 || s->npix < 2 || s->nparam < 1) {
    st = rvs_error(RVS_ERR_FORMAT, "%s: empty specs (%zu x %zu, %zu parameters)", path, s->nspec,
                   s->npix, s->nparam);
    goto fail;
  }
  if (nvec->dims[1] != s->nspec || nlam->dims[0] != s->npix) {
    st = rvs_error(RVS_ERR_FORMAT, "%s: inconsistent shapes: specs %zux%zu, vec %zux%zu, lam %zu",
                   path, s->nspec, s->npix, nvec->dims[0], nvec->dims[1], nlam->dims[0]);
    goto fail;
  }
  s->float_bits = nspecs->file_dtype == RVS_H5S_F32 ? 32 : 64;
  if ((st = rvs_h5s_to_f64(nvec, &s->vec)) || (st = rvs_h5s_to_f64(nlam, &s->lam))) {
    st = rvs_error(st, "%s: %s", path, rvs_last_error());
    goto fail;
  }
  for (size_t i = 0; i < s->npix; i++)
    if (!(s->lam[i] > 0) || (i && !(s->lam[i] > s->lam[i - 1]))) {
      st = rvs_error(RVS_ERR_FORMAT, "%s: lam is not positive and increasing at pixel %zu", path, i);
      goto fail;
    }
  for (size_t i = 0; i < s->nparam * s->nspec; i++)
    if (!isfinite(s->vec[i])) {
      st = rvs_error(RVS_ERR_FORMAT, "%s: vec holds a non-finite parameter value", path);
      goto fail;
    }

  const rvs_h5s *pn = rvs_h5s_get(root, "parnames");
  if (!pn || pn->dtype != RVS_H5S_STRING || pn->nelem != s->nparam || !pn->data) {
    st = rvs_error(RVS_ERR_FORMAT, "%s: parnames missing or not %zu strings", path, s->nparam);
    goto fail;
  }
  s->parnames = calloc(s->nparam, sizeof(char *));
  if (!s->parnames) {
    st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
    goto fail;
  }
  for (size_t i = 0; i < s->nparam; i++)
    if (!(s->parnames[i] = strdup(((char **)pn->data)[i]))) {
      st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
      goto fail;
    }

  const rvs_h5s *ln = rvs_h5s_get(root, "lognorms");
  if (ln && ln->type != RVS_H5S_NONE) {
    if (ln->nelem != s->nspec || (st = rvs_h5s_to_f64(ln, &s->lognorms))) {
      st = rvs_error(RVS_ERR_FORMAT, "%s: lognorms is not %zu numbers", path, s->nspec);
      goto fail;
    }
  } else if (!(s->lognorms = calloc(s->nspec, sizeof(double)))) {
    st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
    goto fail;
  }
  s->file_ids = malloc(s->nspec * sizeof(long long));
  if (!s->file_ids) {
    st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
    goto fail;
  }
  const rvs_h5s *fid = rvs_h5s_get(root, "file_ids");
  if (fid && fid->type != RVS_H5S_NONE) {
    int64_t *v = NULL;
    if (fid->nelem != s->nspec || rvs_h5s_to_i64(fid, &v)) {
      st = rvs_error(RVS_ERR_FORMAT, "%s: file_ids is not %zu integers", path, s->nspec);
      goto fail;
    }
    for (size_t i = 0; i < s->nspec; i++) s->file_ids[i] = (long long)v[i];
    free(v);
  } else {
    for (size_t i = 0; i < s->nspec; i++) s->file_ids[i] = -1; /* upstream 0.9.0: not stored */
  }

  st = get_opt_bool(root, "log_spec", 1, path, &s->log_spec);
  if (!st) {
    /* upstream always writes log_step; if absent, tell from the grid itself */
    double r0 = s->lam[1] / s->lam[0], rl = s->lam[s->npix - 1] / s->lam[s->npix - 2];
    st = get_opt_bool(root, "log_step", fabs(rl / r0 - 1) < 1e-9, path, &s->log_step);
  }
  if (!st) st = read_log_ids(root, path, s);
  if (!st) st = get_opt_str(root, "revision", path, &s->revision);
  if (!st) st = get_opt_str(root, "cmdline", path, &s->cmdline);
  if (!st) st = get_opt_str(root, "dbfile", path, &s->dbfile);
  if (!st) st = get_opt_str(root, "git_rev", path, &s->git_rev);
  if (st) goto fail;

  s->specs = malloc(s->nspec * s->npix * sizeof(double));
  if (!s->specs) {
    st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory for %zu x %zu spectra", path, s->nspec, s->npix);
    goto fail;
  }
  st = rvs_h5s_read_f64(path, "specs", s->specs, s->nspec * s->npix);
  if (st) goto fail;
  rvs_h5s_free(root);
  return RVS_OK;
fail:
  rvs_h5s_free(root);
  rvs_specs_free(s);
  return st;
}
