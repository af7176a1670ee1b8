/* Runtime spectral interpolators (upstream spec_inter.py): parameters ->
 * template spectrum on the template wavelength grid, plus the outside-of-grid
 * measure.  Two kinds, built by rvs_make_nd (upstream make_nd.py):
 *
 *  - triangulation: linear interpolation on a Delaunay tessellation (Qhull) of
 *    the mapped parameters (log10 on the log_ids parameters, default teff),
 *    with 2^ndim padded bounding-box corners that carry the nearest template's
 *    spectrum.  outside = barycentric interpolation of the corner flags: 0
 *    inside the hull of the real grid, rising to 1 at the corners, NaN beyond
 *    the padded box (then eval returns RVS_ERR_RANGE and a NaN spectrum).
 *  - regulargrid: multilinear interpolation in the cell of a (possibly
 *    incomplete) rectangular grid; outside the grid, or in a cell with a
 *    missing corner, the nearest node (ptp-scaled distance), and
 *    outside = that distance (0 inside).
 *
 * A loaded/built interpolator is immutable: every eval/locate function is
 * thread-safe.  File format: docs/formats/interp_ccf.md. */
#ifndef RVS_TEMPLATES_INTERP_H
#define RVS_TEMPLATES_INTERP_H

#include <stddef.h>

#include "templates/specs_file.h"

typedef struct rvs_interp rvs_interp;

typedef enum rvs_interp_kind {
  RVS_INTERP_TRIANGULATION = 1,
  RVS_INTERP_REGULARGRID = 2
} rvs_interp_kind;

/* Build from a template library held in memory (rvs_specs is not kept: the
 * interpolator copies what it needs).  Parameter mapping: log10 on s->log_ids. */
int rvs_interp_build_tri(const rvs_specs *s, rvs_interp **out);

/* Where the triangulation's barycentric weights come from.
 * UPSTREAM (the default of rvs_interp_build_tri and rvs_make_nd): scipy's
 *   Delaunay.transform of upstream's points, i.e. the templates with
 *   upstream's U(-1e-6, 1e-6) jitter and the exact corners of the padded box
 *   around them.  Gives upstream's interpolated templates to ~1e-15; a grid
 *   node is reproduced only to ~1e-5 relative (the jitter's weight error).
 * EXACT: the true template positions: nodes and linear functions are
 *   reproduced exactly; templates differ from upstream's by ~1e-5 relative,
 *   enough to send multi-modal fits to other optima than upstream's. */
typedef enum rvs_tri_weights { RVS_TRI_WEIGHTS_UPSTREAM = 0, RVS_TRI_WEIGHTS_EXACT = 1 } rvs_tri_weights;
int rvs_interp_build_tri_ex(const rvs_specs *s, rvs_tri_weights weights, rvs_interp **out);
int rvs_interp_build_grid(const rvs_specs *s, rvs_interp **out);

/* Our interpolator file interp_<setup>.h5 (spectra included); save is atomic. */
int rvs_interp_load(const char *path, rvs_interp **out);
int rvs_interp_save(const rvs_interp *ip, const char *path);
/* Provenance stored by rvs_interp_save (copied; NULL clears). */
int rvs_interp_set_provenance(rvs_interp *ip, const char *revision, const char *cmdline);

void rvs_interp_free(rvs_interp *ip);

rvs_interp_kind rvs_interp_get_kind(const rvs_interp *ip);
size_t rvs_interp_npix(const rvs_interp *ip);
const double *rvs_interp_lam(const rvs_interp *ip);
int rvs_interp_nparam(const rvs_interp *ip);
const char *rvs_interp_parname(const rvs_interp *ip, int i);
int rvs_interp_log_step(const rvs_interp *ip);
int rvs_interp_log_spec(const rvs_interp *ip);
const char *rvs_interp_revision(const rvs_interp *ip); /* "" if none */
/* Index of the parameter called `name`, or -1. */
int rvs_interp_param_index(const rvs_interp *ip, const char *name);

/* Vertices (stored spectra): the triangulation includes the 2^ndim corners. */
size_t rvs_interp_nvert(const rvs_interp *ip);
/* Most vertices one evaluation combines: ndim+1 (tri) or 2^ndim (grid). */
int rvs_interp_max_weights(const rvs_interp *ip);
/* Raw access for the GPU backend: the vertex spectra [nvert][npix] row-major,
 * float (bits 32) or double (bits 64), holding ln-flux when log_spec. */
const void *rvs_interp_vertex_specs(const rvs_interp *ip, int *float_bits);

/* Map raw parameters (teff, logg, ...) to the interpolation space. */
void rvs_interp_map_params(const rvs_interp *ip, const double *params_raw, double *mapped);

/* Which stored spectra to combine for params_raw, and how: spec = exp(sum_k
 * weight[k] * vertex_specs[vert[k]]) (no exp when !log_spec).  vert/weight
 * need room for rvs_interp_max_weights() entries; *nweights receives the
 * count.  *outside receives the outside measure.  Returns RVS_ERR_RANGE (with
 * *nweights = 0, *outside = NaN) beyond the triangulation's padded box or for
 * non-finite mapped parameters (grid: then vert[0] = 0, *nweights = 1 as
 * upstream, outside NaN).  Sets no error message (hot path). */
int rvs_interp_locate(const rvs_interp *ip, const double *params_raw, int *vert,
                      double *weight, int *nweights, double *outside);

/* One spectrum: spec_out[npix] (exp applied when log_spec) and *outside (may be
 * NULL).  Beyond the box: RVS_ERR_RANGE, spec_out all NaN, *outside NaN. */
int rvs_interp_eval(const rvs_interp *ip, const double *params_raw, double *spec_out,
                    double *outside);

/* n spectra at once (OpenMP over points): params_raw [n][nparam], spec_out
 * [n][npix], outside [n] (may be NULL).  Points beyond the box get NaN as in
 * rvs_interp_eval but do not make the call fail: returns RVS_OK unless an
 * argument is invalid.  Results equal n calls of rvs_interp_eval exactly. */
int rvs_interp_eval_batch(const rvs_interp *ip, const double *params_raw, size_t n,
                          double *spec_out, double *outside);

#endif
