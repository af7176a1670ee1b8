/* Line lists: the GALAH DR3 HDF5 list (Korg.jl layout) read with the HDF5 C
 * API, plus the companion text list of lines outside its wavelength windows
 * (data/linelists/synth_extra_lines.txt).  Hydrogen lines are dropped here:
 * hydrogen.c computes them with Stark wings.  Molecular lines are kept only
 * for molecules of the equilibrium table (statmech.h). */
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rvs/status.h"
#include "synth/physics.h"
#include "synth/statmech.h"

#ifndef RVS_DEFAULT_LINELIST
#define RVS_DEFAULT_LINELIST "/work/shared/data/linelists/galah_dr3_linelist.h5"
#endif

static void copy_str(char *buf, size_t cap, const char *s) {
  size_t l = strlen(s);
  if (l >= cap) l = cap - 1;
  memcpy(buf, s, l);
  buf[l] = 0;
}

static int file_exists(const char *p) {
  struct stat st;
  return p && p[0] && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Root of the source tree this file was compiled from ("" if unknown). */
static void source_root(char *buf, size_t cap) {
  const char *f = __FILE__;
  const char *tail = strstr(f, "/src/synth/lines.c");
  size_t len = tail ? (size_t)(tail - f) : 0;
  if (len >= cap) len = 0;
  memcpy(buf, f, len);
  buf[len] = 0;
}

const char *rvs_synth_default_linelist_path(char *buf, size_t cap) {
  if (!buf || cap == 0) return RVS_DEFAULT_LINELIST;
  const char *env = getenv("RVS_SHARED_DATA");
  if (env && env[0]) {
    snprintf(buf, cap, "%s/linelists/galah_dr3_linelist.h5", env);
    if (file_exists(buf)) return buf;
  }
  copy_str(buf, cap, RVS_DEFAULT_LINELIST);
  if (file_exists(buf)) return buf;
  char root[3072];
  source_root(root, sizeof root);
  if (root[0]) {
    snprintf(buf, cap, "%s/../shared/data/linelists/galah_dr3_linelist.h5", root);
    if (file_exists(buf)) return buf;
  }
  copy_str(buf, cap, RVS_DEFAULT_LINELIST);
  return buf;
}

const char *rvs_synth_find_extra_lines(const char *h5path, char *buf, size_t cap) {
  if (!buf || cap == 0) return "";
  const char *env = getenv("RVS_SYNTH_EXTRA_LINES");
  if (env) {
    copy_str(buf, cap, env);
    return buf;
  }
  char root[3072];
  source_root(root, sizeof root);
  if (root[0]) {
    snprintf(buf, cap, "%s/data/linelists/synth_extra_lines.txt", root);
    if (file_exists(buf)) return buf;
  }
  if (h5path) {
    const char *slash = strrchr(h5path, '/');
    size_t dl = slash ? (size_t)(slash - h5path) : 0;
    snprintf(buf, cap, "%.*s%ssynth_extra_lines.txt", (int)dl, h5path, slash ? "/" : "");
    if (file_exists(buf)) return buf;
  }
  buf[0] = 0;
  return buf;
}

/* ------------------------------------------------------------ storage */
typedef struct line_rec {
  double wl;
  float log_gf, E_lo, g_rad, g_stark, vdW;
  unsigned char z1, z2;
  signed char ion;
} line_rec;

typedef struct rec_vec {
  line_rec *v;
  size_t n, cap;
} rec_vec;

static int push(rec_vec *r, const line_rec *x) {
  if (r->n == r->cap) {
    size_t nc = r->cap ? 2 * r->cap : 65536;
    line_rec *nv = realloc(r->v, nc * sizeof *nv);
    if (!nv) return RVS_ERR_NOMEM;
    r->v = nv;
    r->cap = nc;
  }
  r->v[r->n++] = *x;
  return RVS_OK;
}

static int keep_species(int z1, int z2, int ion) {
  if (z1 < 1 || z1 > RVS_SM_NZ || ion < 0 || ion > 2) return 0;
  if (z2 == 0) return z1 != 1; /* hydrogen lines: hydrogen.c */
  return ion == 0 && rvs_sm_mol_index(z1, z2) >= 0;
}

static int read_dataset(hid_t f, const char *name, hid_t memtype, void *buf, size_t n,
                        size_t ncols, const char *path) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0) return rvs_error(RVS_ERR_FORMAT, "%s: no dataset '%s'", path, name);
  hid_t sp = H5Dget_space(d);
  int nd = H5Sget_simple_extent_ndims(sp);
  hsize_t dims[2] = {0, 0};
  if (nd >= 1 && nd <= 2) H5Sget_simple_extent_dims(sp, dims, NULL);
  H5Sclose(sp);
  size_t got = (size_t)dims[0] * (nd == 2 ? (size_t)dims[1] : 1);
  if (got != n * ncols) {
    H5Dclose(d);
    return rvs_error(RVS_ERR_FORMAT, "%s: dataset '%s' has %zu values, expected %zu", path,
                     name, got, n * ncols);
  }
  herr_t st = H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  H5Dclose(d);
  if (st < 0) return rvs_error(RVS_ERR_IO, "%s: cannot read dataset '%s'", path, name);
  return RVS_OK;
}

static int load_h5(const char *path, rec_vec *out) {
  if (!file_exists(path)) return rvs_error(RVS_ERR_IO, "%s: line list not found", path);
  H5E_auto2_t old_fn;
  void *old_data;
  H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  int rc = RVS_OK;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  double *wl = NULL;
  float *lgf = NULL, *elo = NULL, *grad = NULL, *gst = NULL, *vdw = NULL;
  short *ion = NULL;
  unsigned char *form = NULL;
  if (f < 0) {
    rc = rvs_error(RVS_ERR_FORMAT, "%s: not an HDF5 file", path);
    goto done;
  }
  hid_t d = H5Dopen2(f, "wl", H5P_DEFAULT);
  if (d < 0) {
    rc = rvs_error(RVS_ERR_FORMAT, "%s: no dataset 'wl'", path);
    goto done;
  }
  hid_t sp = H5Dget_space(d);
  hsize_t n = 0;
  if (H5Sget_simple_extent_ndims(sp) == 1) H5Sget_simple_extent_dims(sp, &n, NULL);
  H5Sclose(sp);
  H5Dclose(d);
  if (n == 0) {
    rc = rvs_error(RVS_ERR_FORMAT, "%s: empty or malformed 'wl'", path);
    goto done;
  }
  wl = malloc(n * sizeof *wl);
  lgf = malloc(n * sizeof *lgf);
  elo = malloc(n * sizeof *elo);
  grad = malloc(n * sizeof *grad);
  gst = malloc(n * sizeof *gst);
  vdw = malloc(n * sizeof *vdw);
  ion = malloc(n * sizeof *ion);
  form = malloc(3 * n);
  if (!wl || !lgf || !elo || !grad || !gst || !vdw || !ion || !form) {
    rc = rvs_error(RVS_ERR_NOMEM, "%s: out of memory for %llu lines", path,
                   (unsigned long long)n);
    goto done;
  }
  if ((rc = read_dataset(f, "wl", H5T_NATIVE_DOUBLE, wl, n, 1, path)) ||
      (rc = read_dataset(f, "log_gf", H5T_NATIVE_FLOAT, lgf, n, 1, path)) ||
      (rc = read_dataset(f, "E_lo", H5T_NATIVE_FLOAT, elo, n, 1, path)) ||
      (rc = read_dataset(f, "gamma_rad", H5T_NATIVE_FLOAT, grad, n, 1, path)) ||
      (rc = read_dataset(f, "gamma_stark", H5T_NATIVE_FLOAT, gst, n, 1, path)) ||
      (rc = read_dataset(f, "vdW", H5T_NATIVE_FLOAT, vdw, n, 1, path)) ||
      (rc = read_dataset(f, "ionization", H5T_NATIVE_SHORT, ion, n, 1, path)) ||
      (rc = read_dataset(f, "formula", H5T_NATIVE_UCHAR, form, n, 3, path)))
    goto done;
  for (size_t i = 0; i < n; i++) {
    line_rec r;
    r.wl = wl[i];
    r.log_gf = lgf[i];
    r.E_lo = elo[i];
    r.g_rad = grad[i];
    r.g_stark = gst[i];
    r.vdW = vdw[i];
    r.z1 = form[3 * i];
    r.z2 = form[3 * i + 1];
    r.ion = (signed char)(ion[i] - 1);
    if (form[3 * i + 2] != 0) continue; /* triatomic: not modelled */
    if (!isfinite(r.wl) || !isfinite(r.log_gf) || !keep_species(r.z1, r.z2, r.ion)) continue;
    if ((rc = push(out, &r))) {
      rc = rvs_error(rc, "%s: out of memory", path);
      goto done;
    }
  }
done:
  if (f >= 0) H5Fclose(f);
  H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
  free(wl);
  free(lgf);
  free(elo);
  free(grad);
  free(gst);
  free(vdw);
  free(ion);
  free(form);
  return rc;
}

static int load_text(const char *path, rec_vec *out) {
  FILE *fp = fopen(path, "r");
  if (!fp) return rvs_error(RVS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  char line[512];
  long lineno = 0;
  int rc = RVS_OK;
  while (fgets(line, sizeof line, fp)) {
    lineno++;
    char *s = line;
    while (*s == ' ' || *s == '\t') s++;
    if (*s == '#' || *s == '\n' || *s == 0) continue;
    double wl, elo, lgf, gr, gs, vdw;
    int z, ion;
    if (sscanf(s, "%lf %d %d %lf %lf %lf %lf %lf", &wl, &z, &ion, &elo, &lgf, &gr, &gs, &vdw) !=
        8) {
      rc = rvs_error(RVS_ERR_FORMAT, "%s:%ld: malformed line record", path, lineno);
      break;
    }
    line_rec r = {wl, (float)lgf, (float)elo, (float)gr, (float)gs, (float)vdw,
                  (unsigned char)z, 0, (signed char)(ion - 1)};
    if (!keep_species(r.z1, 0, r.ion)) continue;
    if ((rc = push(out, &r))) {
      rc = rvs_error(rc, "%s: out of memory", path);
      break;
    }
  }
  fclose(fp);
  return rc;
}

static int cmp_rec(const void *a, const void *b) {
  const line_rec *x = a, *y = b;
  if (x->wl < y->wl) return -1;
  if (x->wl > y->wl) return 1;
  /* tie-break on the other fields so the order is fully deterministic */
  if (x->z1 != y->z1) return x->z1 - y->z1;
  if (x->z2 != y->z2) return x->z2 - y->z2;
  if (x->E_lo != y->E_lo) return x->E_lo < y->E_lo ? -1 : 1;
  if (x->log_gf != y->log_gf) return x->log_gf < y->log_gf ? -1 : 1;
  return 0;
}

void rvs_synth_linelist_free(rvs_synth_linelist *ll) {
  if (!ll) return;
  free(ll->wl);
  free(ll->log_gf);
  free(ll->E_lo);
  free(ll->gamma_rad);
  free(ll->gamma_stark);
  free(ll->vdW);
  free(ll->z1);
  free(ll->z2);
  free(ll->ion);
  free(ll);
}

size_t rvs_synth_linelist_size(const rvs_synth_linelist *ll) { return ll ? ll->n : 0; }

int rvs_synth_linelist_load2(const char *h5path, const char *extra_path,
                             rvs_synth_linelist **out) {
  *out = NULL;
  rec_vec r = {0};
  int rc = RVS_OK;
  if (h5path && h5path[0] && (rc = load_h5(h5path, &r))) goto fail;
  if (extra_path && extra_path[0] && (rc = load_text(extra_path, &r))) goto fail;
  qsort(r.v, r.n, sizeof *r.v, cmp_rec);
  rvs_synth_linelist *ll = calloc(1, sizeof *ll);
  if (!ll) {
    rc = rvs_error(RVS_ERR_NOMEM, "synth: out of memory for the line list");
    goto fail;
  }
  size_t n = r.n ? r.n : 1;
  ll->n = r.n;
  ll->wl = malloc(n * sizeof *ll->wl);
  ll->log_gf = malloc(n * sizeof(float));
  ll->E_lo = malloc(n * sizeof(float));
  ll->gamma_rad = malloc(n * sizeof(float));
  ll->gamma_stark = malloc(n * sizeof(float));
  ll->vdW = malloc(n * sizeof(float));
  ll->z1 = malloc(n);
  ll->z2 = malloc(n);
  ll->ion = malloc(n);
  if (!ll->wl || !ll->log_gf || !ll->E_lo || !ll->gamma_rad || !ll->gamma_stark || !ll->vdW ||
      !ll->z1 || !ll->z2 || !ll->ion) {
    rvs_synth_linelist_free(ll);
    rc = rvs_error(RVS_ERR_NOMEM, "synth: out of memory for the line list");
    goto fail;
  }
  for (size_t i = 0; i < r.n; i++) {
    ll->wl[i] = r.v[i].wl;
    ll->log_gf[i] = r.v[i].log_gf;
    ll->E_lo[i] = r.v[i].E_lo;
    ll->gamma_rad[i] = r.v[i].g_rad;
    ll->gamma_stark[i] = r.v[i].g_stark;
    ll->vdW[i] = r.v[i].vdW;
    ll->z1[i] = r.v[i].z1;
    ll->z2[i] = r.v[i].z2;
    ll->ion[i] = r.v[i].ion;
  }
  free(r.v);
  *out = ll;
  return RVS_OK;
fail:
  free(r.v);
  return rc;
}

int rvs_synth_linelist_load(const char *path, rvs_synth_linelist **out) {
  char def[4096], extra[4096];
  if (!path || !path[0]) path = rvs_synth_default_linelist_path(def, sizeof def);
  rvs_synth_find_extra_lines(path, extra, sizeof extra);
  return rvs_synth_linelist_load2(path, extra, out);
}

double rvs_synth_air_to_vac(double lam_air) {
  double vac = lam_air;
  for (int i = 0; i < 4; i++) {
    double s2 = 1e8 / (vac * vac);
    double n = 1 + 8.34254e-5 + 2.406147e-2 / (130 - s2) + 1.5998e-4 / (38.9 - s2);
    vac = lam_air * n;
  }
  return vac;
}

double rvs_synth_vac_to_air(double lam_vac) {
  double s2 = 1e8 / (lam_vac * lam_vac);
  double n = 1 + 8.34254e-5 + 2.406147e-2 / (130 - s2) + 1.5998e-4 / (38.9 - s2);
  return lam_vac / n;
}
