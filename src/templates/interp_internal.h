/* Internals of the interpolators shared by interp.c, interp_tri.c,
 * interp_grid.c and interp_file.c (and white-box tests). */
#ifndef RVS_TEMPLATES_INTERP_INTERNAL_H
#define RVS_TEMPLATES_INTERP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "templates/interp.h"

/* Upstream pads the bounding box by 20% of the span per dimension. */
#define RVS_INTERP_BOX_PAD 0.2
/* Deterministic jitter amplitude (upstream: U(-1e-6, 1e-6)) and our seed. */
#define RVS_INTERP_JITTER 1e-6
#define RVS_INTERP_JITTER_SEED 1u
/* Barycentric tolerances, as scipy's find_simplex. */
#define RVS_TRI_EPS (100.0 * 2.220446049250313e-16)
#define RVS_TRI_EPS_BROAD 1.4901161193847656e-08
/* Simplices with a smaller reciprocal condition number are flat (slivers). */
#define RVS_TRI_RCOND_MIN 1e-10

struct rvs_interp {
  rvs_interp_kind kind;
  int ndim;
  size_t npix;
  size_t nvert; /* stored spectra */
  size_t nreal; /* real templates among them (tri: first nreal; grid: all) */
  double *lam;  /* [npix] */
  char **parnames;
  int *is_log; /* [ndim] 1: parameter interpolated in log10 */
  int log_spec, log_step;
  int float_bits;  /* 32: specs32 holds the spectra; 64: specs64 */
  float *specs32;  /* [nvert][npix] */
  double *specs64; /* [nvert][npix] */
  double *vec;     /* [nvert][ndim] mapped (tri: jittered + corners) */
  char *revision, *cmdline;

  /* triangulation */
  size_t nsimplex;
  int32_t *simplices; /* [nsimplex][ndim+1] vertex ids */
  int32_t *neighbors; /* [nsimplex][ndim+1] simplex opposite vertex k, -1 none */
  double *transform;  /* [nsimplex][ndim+1][ndim] as scipy: T^-1 rows, then r_n */
  unsigned char *degenerate; /* [nsimplex] 1: flat without the jitter (walk only) */
  double *extraflags; /* [nvert] 0 real, 1 corner */
  double *box_lo, *box_hi; /* [ndim] padded box (= hull of all vertices) */
  int *bucket_n;           /* [ndim] buckets per dimension */
  size_t nbucket;
  int32_t *bucket_start; /* [nbucket] a simplex holding the bucket centre */
  /* offsets into cand per candidate bucket (a grid of at most 8 per
   * dimension), plus one: the non-degenerate simplices with a corner vertex
   * whose bounding box (widened by the jitter) meets the bucket, in
   * increasing order: the fallback of the walk next to the corners */
  size_t *cand_off;
  int32_t *cand;

  /* regular grid */
  int *ulen;         /* [ndim] */
  double **uvecs;    /* [ndim][ulen[d]] sorted unique mapped values */
  int32_t *idgrid;   /* [prod ulen] spectrum id or -1, C order (last dim fastest) */
  double *ptp_scale; /* [ndim] span used to scale nearest-neighbour distances */
};

/* interp.c */
rvs_interp *rvs_interp_alloc_common(const rvs_specs *s, size_t nvert, int *st);
int rvs_interp_store_specs(rvs_interp *ip, size_t row, const double *spec);

/* interp_tri.c */
int rvs_tri_setup_runtime(rvs_interp *ip); /* neighbours + buckets if missing */
int rvs_tri_build_buckets(rvs_interp *ip);
/* Simplex holding mapped point x, -1 if none; walk from the bucket start. */
int32_t rvs_tri_find_simplex(const rvs_interp *ip, const double *x, double *bary);
/* Brute force over all simplices (reference for tests). */
int32_t rvs_tri_find_simplex_bruteforce(const rvs_interp *ip, const double *x, double *bary);
/* Barycentric coordinates of x in simplex s: bary[0..ndim]. */
void rvs_tri_bary(const rvs_interp *ip, int32_t s, const double *x, double *bary);
int rvs_tri_locate_mapped(const rvs_interp *ip, const double *x, int *vert, double *w,
                          int *nw, double *outside);
/* Deterministic uniform deviates in [-1, 1) (splitmix64 from seed). */
void rvs_tri_jitter(double *v, size_t n, double amplitude, uint64_t seed);

/* interp_grid.c */
int rvs_grid_locate_mapped(const rvs_interp *ip, const double *x, int *vert, double *w,
                           int *nw, double *outside);

#endif
