/* DESI-format spectrum simulator: stars from a synthetic template grid (and a
 * few sky / galaxy / dead fibers) through an independent forward model
 * (multilinear grid interpolation, rotation, relativistic Doppler shift,
 * pixel integration, per-fiber 11-diagonal resolution matrix, flux
 * calibration, noise, defects), written in DESI's coadd layout with a truth
 * table.  See docs/SIMULATOR.md. */
#ifndef RVS_SIM_SIMULATE_H
#define RVS_SIM_SIMULATE_H

#include <stddef.h>
#include <stdint.h>

#include "sim/sim_grid.h"

#define RVS_SIM_NARMS 3
#define RVS_SIM_NDIAG 11

/* DESI mask bits used (desispec.maskbits.specmask). */
#define RVS_SIM_MASK_COSMIC (1 << 2)
#define RVS_SIM_MASK_BADFIBER (1 << 16)

/* Truth DEFECTS bits. */
enum {
  RVS_SIM_DEF_COSMIC = 1,   /* cosmic-ray pixels masked (MASK COSMIC, ivar 0) */
  RVS_SIM_DEF_NAN = 2,      /* a stretch of NaN flux (mask 0, ivar kept) */
  RVS_SIM_DEF_IVAR0 = 4,    /* a stretch of ivar = 0 (mask 0) */
  RVS_SIM_DEF_MASKED = 8,   /* the whole fiber masked (BADFIBER, ivar 0, flux 0) */
  RVS_SIM_DEF_SKY = 16,     /* sky fiber */
  RVS_SIM_DEF_GALAXY = 32   /* non-stellar target */
};

typedef enum rvs_sim_kind {
  RVS_SIM_STAR = 0,
  RVS_SIM_SKY = 1,
  RVS_SIM_GALAXY = 2,
  RVS_SIM_MASKED = 3
} rvs_sim_kind;

/* Parameters of one star. */
typedef struct rvs_sim_star {
  double teff, logg, feh, alpha; /* K, dex, dex, dex */
  double vrad, vsini;            /* km/s */
  double sn;                     /* target median S/N per pixel in the R arm */
} rvs_sim_star;

/* Where the grid interpolation happens in the forward model (docs/SIMULATOR.md).
 * RAW: ln flux of the grid's full-resolution spectra is interpolated, then the
 * star is rotated, shifted, binned and convolved with the fiber's resolution
 * (a real star is not a template interpolation: the fit also meets the
 * template library's interpolation error).  LSF_FIRST: each grid corner of
 * the star's cell goes through rotation, shift, binning and the fiber's
 * resolution on its own, then ln flux is interpolated between these observed
 * corner spectra with the same weights, as the template library interpolates
 * ln flux between spectra already convolved to the instrument: a star off the
 * grid nodes is then in the fitter's model family (tests the fit alone). */
typedef enum rvs_sim_interp {
  RVS_SIM_INTERP_RAW = 0,
  RVS_SIM_INTERP_LSF_FIRST = 1
} rvs_sim_interp;

/* "raw" / "lsf-first" <-> enum; parse returns -1 for an unknown name. */
int rvs_sim_interp_parse(const char *name);
const char *rvs_sim_interp_name(rvs_sim_interp m);

typedef struct rvs_sim_options {
  size_t nfibers;        /* 0 with `stars`: one fiber per star (+ specials) */
  uint64_t seed;
  double sn_min, sn_max; /* log-uniform S/N range (2, 150) */
  double vrad_max;       /* uniform in [-vrad_max, vrad_max] (600) */
  double vsini_frac;     /* fraction of rotating stars (0.2) */
  double vsini_max;      /* their vsini uniform in [0, vsini_max] (300) */
  int defects;           /* 1: cosmics, NaN/ivar=0 stretches, sky/galaxy/masked fibers */
  int nthreads;          /* <= 0: OpenMP default */
  int64_t tileid;
  int petal;             /* 0..9; FIBER = 500*petal + row */
  int night;             /* YYYYMMDD */
  rvs_sim_interp interp; /* RVS_SIM_INTERP_RAW (default) or _LSF_FIRST */
  /* Given star parameters (e.g. from --params): fibers 0..nstars-1 are these
   * stars; with defects on, a sky, a galaxy and a masked fiber follow. */
  const rvs_sim_star *stars;
  size_t nstars;
} rvs_sim_options;

typedef struct rvs_sim_truth {
  int64_t targetid;
  int32_t fiber;
  rvs_sim_kind kind;
  double teff, logg, feh, alpha, vrad, vsini; /* NaN for sky/galaxy */
  double sn_target;                   /* asked for (R arm) */
  double sn[RVS_SIM_NARMS];           /* noiseless median model*sqrt(ivar), per arm */
  double redshift;                    /* galaxy only, else NaN */
  double flux_scale;                  /* brightness, 1e-17 erg/s/cm2/A */
  int32_t defects;                    /* RVS_SIM_DEF_* */
  int32_t ncosmic;                    /* cosmic-ray pixels masked */
  char nan_arm, ivar0_arm;            /* 'B','R','Z' or ' ' */
  int32_t nan_start, nan_len, ivar0_start, ivar0_len; /* pixel ranges in that arm */
} rvs_sim_truth;

/* FIBERMAP quantities that vary per fiber (the rest are constants). */
typedef struct rvs_sim_fiberinfo {
  int32_t device_loc, brickid, brick_objid, priority;
  int64_t ref_id, desi_target, bgs_target, mws_target;
  int64_t sv1_desi_target, sv1_bgs_target, sv1_mws_target;
  double ra, dec, subpriority;
  float fa_x, fa_y, gaia_g, gaia_bp, gaia_rp, parallax, pmra, pmdec;
  float flux_g, flux_r, flux_z, flux_w1, flux_w2, ebv, shape_r;
  char objtype[4], morphtype[5], ref_cat[3], brickname[9];
} rvs_sim_fiberinfo;

typedef struct rvs_sim_arm {
  char name;             /* 'B', 'R', 'Z' */
  size_t npix;
  double *wave;          /* [npix], DESI's exact grid */
  float *flux, *ivar;    /* [nfibers][npix] */
  int32_t *mask;
  float *resolution;     /* [nfibers][11][npix], DESI layout */
  float *model;          /* noiseless model, [nfibers][npix] */
  float *calib;          /* the flux calibration x brightness factor in `model` */
} rvs_sim_arm;

typedef struct rvs_sim_result {
  size_t nfibers;
  rvs_sim_arm arms[RVS_SIM_NARMS];
  rvs_sim_truth *truth;        /* [nfibers] */
  rvs_sim_fiberinfo *info;     /* [nfibers] */
  float *scores_snr[RVS_SIM_NARMS]; /* median flux*sqrt(ivar) of the noisy data */
  float *scores_flux[RVS_SIM_NARMS], *scores_integ[RVS_SIM_NARMS];
  rvs_sim_options opt;         /* copy (stars pointer not owned) */
} rvs_sim_result;

void rvs_sim_options_default(rvs_sim_options *o);

/* DESI's wavelength grid of arm 'B','R','Z' exactly as desispec writes it
 * (numpy arange(lo, hi + 0.4, 0.8)).  *wave is malloc'ed. */
int rvs_sim_desi_wave(char arm, double **wave, size_t *npix);

/* Wavelength range the grid must cover for these options. */
void rvs_sim_needed_range(const rvs_sim_options *o, double *wmin, double *wmax);

/* Simulate every fiber (parallel over fibers, results independent of the
 * thread count). */
int rvs_sim_run(const rvs_sim_grid *g, const rvs_sim_options *o, rvs_sim_result *res);
void rvs_sim_result_free(rvs_sim_result *r);

/* Write the coadd in DESI's layout (HDU order, names, dtypes, FIBERMAP /
 * EXP_FIBERMAP / SCORES columns as a real iron coadd) and the truth table.
 * Each file is written atomically. `grid_dir` is recorded in the headers. */
int rvs_sim_write_coadd(const rvs_sim_result *r, const char *path, const char *grid_dir);
int rvs_sim_write_truth(const rvs_sim_result *r, const char *path, const char *coadd_path);

/* Default truth path: truth-<basename of coadd> in the coadd's directory. */
int rvs_sim_default_truth_path(const char *coadd_path, char *out, size_t cap);

/* Read star parameters from a text file: one star per line, 7 numbers
 * "teff logg feh alpha vrad vsini sn"; '#' starts a comment. */
int rvs_sim_read_params(const char *path, rvs_sim_star **stars, size_t *n);

#endif
