/* Writing simulated spectra in DESI's coadd layout (as a real iron coadd:
 * PRIMARY, FIBERMAP, EXP_FIBERMAP, {B,R,Z}_{WAVELENGTH,FLUX,IVAR,MASK,
 * RESOLUTION}, SCORES) and the truth table. */
#include "io/fits_util.h"
#include "rvs/status.h"
#include "sim/simulate.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct colspec {
  const char *name, *form;
} colspec;

/* The 81 FIBERMAP columns of an iron coadd, in order. */
static const colspec FIBERMAP_COLS[] = {
    {"TARGETID", "K"}, {"PETAL_LOC", "I"}, {"DEVICE_LOC", "J"}, {"LOCATION", "K"},
    {"FIBER", "J"}, {"COADD_FIBERSTATUS", "J"}, {"TARGET_RA", "D"}, {"TARGET_DEC", "D"},
    {"PMRA", "E"}, {"PMDEC", "E"}, {"REF_EPOCH", "E"}, {"LAMBDA_REF", "E"},
    {"FA_TARGET", "K"}, {"FA_TYPE", "B"}, {"OBJTYPE", "3A"}, {"FIBERASSIGN_X", "E"},
    {"FIBERASSIGN_Y", "E"}, {"PRIORITY", "J"}, {"SUBPRIORITY", "D"}, {"OBSCONDITIONS", "J"},
    {"RELEASE", "I"}, {"BRICKNAME", "8A"}, {"BRICKID", "J"}, {"BRICK_OBJID", "J"},
    {"MORPHTYPE", "4A"}, {"EBV", "E"}, {"FLUX_G", "E"}, {"FLUX_R", "E"}, {"FLUX_Z", "E"},
    {"FLUX_W1", "E"}, {"FLUX_W2", "E"}, {"FLUX_IVAR_G", "E"}, {"FLUX_IVAR_R", "E"},
    {"FLUX_IVAR_Z", "E"}, {"FLUX_IVAR_W1", "E"}, {"FLUX_IVAR_W2", "E"}, {"FIBERFLUX_G", "E"},
    {"FIBERFLUX_R", "E"}, {"FIBERFLUX_Z", "E"}, {"FIBERTOTFLUX_G", "E"},
    {"FIBERTOTFLUX_R", "E"}, {"FIBERTOTFLUX_Z", "E"}, {"MASKBITS", "I"}, {"SERSIC", "E"},
    {"SHAPE_R", "E"}, {"SHAPE_E1", "E"}, {"SHAPE_E2", "E"}, {"REF_ID", "K"},
    {"REF_CAT", "2A"}, {"GAIA_PHOT_G_MEAN_MAG", "E"}, {"GAIA_PHOT_BP_MEAN_MAG", "E"},
    {"GAIA_PHOT_RP_MEAN_MAG", "E"}, {"PARALLAX", "E"}, {"PHOTSYS", "1A"},
    {"PRIORITY_INIT", "K"}, {"NUMOBS_INIT", "K"}, {"SV1_DESI_TARGET", "K"},
    {"SV1_BGS_TARGET", "K"}, {"SV1_MWS_TARGET", "K"}, {"SV1_SCND_TARGET", "K"},
    {"DESI_TARGET", "K"}, {"BGS_TARGET", "K"}, {"MWS_TARGET", "K"}, {"PLATE_RA", "D"},
    {"PLATE_DEC", "D"}, {"TILEID", "J"}, {"COADD_NUMEXP", "I"}, {"COADD_EXPTIME", "E"},
    {"COADD_NUMNIGHT", "I"}, {"COADD_NUMTILE", "I"}, {"MEAN_DELTA_X", "E"},
    {"RMS_DELTA_X", "E"}, {"MEAN_DELTA_Y", "E"}, {"RMS_DELTA_Y", "E"},
    {"MEAN_FIBER_RA", "D"}, {"STD_FIBER_RA", "E"}, {"MEAN_FIBER_DEC", "D"},
    {"STD_FIBER_DEC", "E"}, {"MEAN_PSF_TO_FIBER_SPECFLUX", "E"}, {"MEAN_FIBER_X", "E"},
    {"MEAN_FIBER_Y", "E"}};

static const colspec EXP_FIBERMAP_COLS[] = {
    {"TARGETID", "K"}, {"PRIORITY", "J"}, {"SUBPRIORITY", "D"}, {"NIGHT", "J"},
    {"EXPID", "J"}, {"MJD", "D"}, {"TILEID", "J"}, {"EXPTIME", "D"}, {"PETAL_LOC", "I"},
    {"DEVICE_LOC", "J"}, {"LOCATION", "K"}, {"FIBER", "J"}, {"FIBERSTATUS", "J"},
    {"FIBERASSIGN_X", "E"}, {"FIBERASSIGN_Y", "E"}, {"LAMBDA_REF", "E"}, {"PLATE_RA", "D"},
    {"PLATE_DEC", "D"}, {"NUM_ITER", "K"}, {"FIBER_X", "D"}, {"FIBER_Y", "D"},
    {"DELTA_X", "D"}, {"DELTA_Y", "D"}, {"FIBER_RA", "D"}, {"FIBER_DEC", "D"},
    {"PSF_TO_FIBER_SPECFLUX", "D"}};

#define NEXP 2
#define EXPTIME 900.0
static const char ARMS[3] = {'B', 'R', 'Z'};
static const char *TSNR2_CLASSES[8] = {"GPBDARK", "ELG", "GPBBRIGHT", "LYA",
                                       "BGS",     "GPBBACKUP", "QSO", "LRG"};
/* TSNR2 of the real coadd (median S/N 3.94/6.98/6.89), scaled by (S/N)^2. */
static const double TSNR2_REF[3][8] = {
    {229.8, 0.2144, 45.58, 152.4, 1226.3, 395.7, 5.849, 2.320},
    {31748.2, 71.37, 6068.5, 0.1999, 7192.7, 47125.6, 22.06, 101.9},
    {3.655e-05, 312.35, 7.163e-06, 0.0, 13686.5, 5.990e-05, 64.24, 137.7}};
static const double TSNR2_REF_SN[3] = {3.9446, 6.9815, 6.8925};

enum { V_DBL, V_I64, V_STR };

typedef struct colval {
  int kind;
  double d;
  long long k;
  const char *s;
} colval;

#define D(x) (v->kind = V_DBL, v->d = (x), 0)
#define K(x) (v->kind = V_I64, v->k = (long long)(x), 0)
#define S(x) (v->kind = V_STR, v->s = (x), 0)

static int fibermap_value(const char *c, const rvs_sim_result *r, size_t f, colval *v) {
  const rvs_sim_fiberinfo *in = &r->info[f];
  const rvs_sim_truth *t = &r->truth[f];
  const rvs_sim_options *o = &r->opt;
  int star = t->kind == RVS_SIM_STAR || t->kind == RVS_SIM_MASKED;
  int sky = t->kind == RVS_SIM_SKY;
  if (!strcmp(c, "TARGETID")) return K(t->targetid);
  if (!strcmp(c, "PETAL_LOC")) return K(o->petal);
  if (!strcmp(c, "DEVICE_LOC")) return K(in->device_loc);
  if (!strcmp(c, "LOCATION")) return K(1000 * o->petal + in->device_loc);
  if (!strcmp(c, "FIBER")) return K(t->fiber);
  if (!strcmp(c, "COADD_FIBERSTATUS")) return K(0);
  if (!strcmp(c, "TARGET_RA") || !strcmp(c, "PLATE_RA") || !strcmp(c, "MEAN_FIBER_RA"))
    return D(in->ra);
  if (!strcmp(c, "TARGET_DEC") || !strcmp(c, "PLATE_DEC") || !strcmp(c, "MEAN_FIBER_DEC"))
    return D(in->dec);
  if (!strcmp(c, "PMRA")) return D(in->pmra);
  if (!strcmp(c, "PMDEC")) return D(in->pmdec);
  if (!strcmp(c, "REF_EPOCH")) return D(star ? 2015.5 : 0.0);
  if (!strcmp(c, "LAMBDA_REF")) return D(5400.0);
  if (!strcmp(c, "FA_TARGET") || !strcmp(c, "DESI_TARGET")) return K(in->desi_target);
  if (!strcmp(c, "FA_TYPE")) return K(sky ? 4 : 1);
  if (!strcmp(c, "OBJTYPE")) return S(in->objtype);
  if (!strcmp(c, "FIBERASSIGN_X") || !strcmp(c, "MEAN_FIBER_X")) return D(in->fa_x);
  if (!strcmp(c, "FIBERASSIGN_Y") || !strcmp(c, "MEAN_FIBER_Y")) return D(in->fa_y);
  if (!strcmp(c, "PRIORITY") || !strcmp(c, "PRIORITY_INIT")) return K(in->priority);
  if (!strcmp(c, "SUBPRIORITY")) return D(in->subpriority);
  if (!strcmp(c, "OBSCONDITIONS")) return K(4);
  if (!strcmp(c, "RELEASE")) return K(sky ? 0 : 9011);
  if (!strcmp(c, "BRICKNAME")) return S(in->brickname);
  if (!strcmp(c, "BRICKID")) return K(in->brickid);
  if (!strcmp(c, "BRICK_OBJID")) return K(in->brick_objid);
  if (!strcmp(c, "MORPHTYPE")) return S(in->morphtype);
  if (!strcmp(c, "EBV")) return D(in->ebv);
  if (!strcmp(c, "FLUX_G")) return D(in->flux_g);
  if (!strcmp(c, "FLUX_R")) return D(in->flux_r);
  if (!strcmp(c, "FLUX_Z")) return D(in->flux_z);
  if (!strcmp(c, "FLUX_W1")) return D(in->flux_w1);
  if (!strcmp(c, "FLUX_W2")) return D(in->flux_w2);
  if (!strncmp(c, "FLUX_IVAR_", 10)) return D(sky ? 0.0 : (c[10] == 'W' ? 2.0 : 300.0));
  if (!strcmp(c, "FIBERFLUX_G") || !strcmp(c, "FIBERTOTFLUX_G")) return D(0.78 * in->flux_g);
  if (!strcmp(c, "FIBERFLUX_R") || !strcmp(c, "FIBERTOTFLUX_R")) return D(0.78 * in->flux_r);
  if (!strcmp(c, "FIBERFLUX_Z") || !strcmp(c, "FIBERTOTFLUX_Z")) return D(0.78 * in->flux_z);
  if (!strcmp(c, "MASKBITS")) return K(0);
  if (!strcmp(c, "SERSIC")) return D(t->kind == RVS_SIM_GALAXY ? 1.0 : 0.0);
  if (!strcmp(c, "SHAPE_R")) return D(in->shape_r);
  if (!strcmp(c, "SHAPE_E1") || !strcmp(c, "SHAPE_E2")) return D(0.0);
  if (!strcmp(c, "REF_ID")) return K(in->ref_id);
  if (!strcmp(c, "REF_CAT")) return S(in->ref_cat);
  if (!strcmp(c, "GAIA_PHOT_G_MEAN_MAG")) return D(in->gaia_g);
  if (!strcmp(c, "GAIA_PHOT_BP_MEAN_MAG")) return D(in->gaia_bp);
  if (!strcmp(c, "GAIA_PHOT_RP_MEAN_MAG")) return D(in->gaia_rp);
  if (!strcmp(c, "PARALLAX")) return D(in->parallax);
  if (!strcmp(c, "PHOTSYS")) return S(sky ? "" : "N");
  if (!strcmp(c, "NUMOBS_INIT")) return K(sky ? 0 : 1);
  if (!strcmp(c, "SV1_DESI_TARGET")) return K(in->sv1_desi_target);
  if (!strcmp(c, "SV1_BGS_TARGET")) return K(in->sv1_bgs_target);
  if (!strcmp(c, "SV1_MWS_TARGET")) return K(in->sv1_mws_target);
  if (!strcmp(c, "SV1_SCND_TARGET")) return K(0);
  if (!strcmp(c, "BGS_TARGET")) return K(in->bgs_target);
  if (!strcmp(c, "MWS_TARGET")) return K(in->mws_target);
  if (!strcmp(c, "TILEID")) return K(o->tileid);
  if (!strcmp(c, "COADD_NUMEXP")) return K(NEXP);
  if (!strcmp(c, "COADD_EXPTIME")) return D(NEXP * EXPTIME);
  if (!strcmp(c, "COADD_NUMNIGHT") || !strcmp(c, "COADD_NUMTILE")) return K(1);
  if (!strcmp(c, "MEAN_DELTA_X") || !strcmp(c, "MEAN_DELTA_Y")) return D(0.001);
  if (!strcmp(c, "RMS_DELTA_X") || !strcmp(c, "RMS_DELTA_Y")) return D(0.006);
  if (!strcmp(c, "STD_FIBER_RA") || !strcmp(c, "STD_FIBER_DEC")) return D(0.1);
  if (!strcmp(c, "MEAN_PSF_TO_FIBER_SPECFLUX")) return D(star ? 0.78 : 0.6);
  return -1;
}

static int exp_fibermap_value(const char *c, const rvs_sim_result *r, size_t f, int e,
                              colval *v) {
  const rvs_sim_fiberinfo *in = &r->info[f];
  const rvs_sim_options *o = &r->opt;
  double dx = (e == 0 ? -0.004 : 0.005), dy = (e == 0 ? 0.003 : -0.002);
  if (!strcmp(c, "NIGHT")) return K(o->night);
  if (!strcmp(c, "EXPID")) return K(200000 + (o->tileid % 1000) * 10 + e);
  if (!strcmp(c, "MJD")) return D(60384.15 + 0.012 * e);
  if (!strcmp(c, "EXPTIME")) return D(EXPTIME);
  if (!strcmp(c, "FIBERSTATUS")) return K(0);
  if (!strcmp(c, "NUM_ITER")) return K(2);
  if (!strcmp(c, "FIBER_X")) return D(in->fa_x + dx);
  if (!strcmp(c, "FIBER_Y")) return D(in->fa_y + dy);
  if (!strcmp(c, "DELTA_X")) return D(dx);
  if (!strcmp(c, "DELTA_Y")) return D(dy);
  if (!strcmp(c, "FIBER_RA")) return D(in->ra + dx / 3600);
  if (!strcmp(c, "FIBER_DEC")) return D(in->dec + dy / 3600);
  if (!strcmp(c, "PSF_TO_FIBER_SPECFLUX")) return D(0.78);
  return fibermap_value(c, r, f, v);
}

#undef D
#undef K
#undef S

/* Create a binary table `extname` with the given columns and fill it row by
 * row through `value` (nrows = nf * nexp; row = e * nf + f). */
typedef int (*value_fn)(const char *c, const rvs_sim_result *r, size_t f, int e, colval *v);

static int fm_value_adapter(const char *c, const rvs_sim_result *r, size_t f, int e,
                            colval *v) {
  (void)e;
  return fibermap_value(c, r, f, v);
}

static int write_table(fitsfile *fp, const char *path, const char *extname,
                       const colspec *cols, int ncols, const rvs_sim_result *r, int nexp,
                       value_fn value) {
  int fs = 0;
  char *tt[128], *tf[128];
  for (int i = 0; i < ncols; i++) {
    tt[i] = (char *)cols[i].name;
    tf[i] = (char *)cols[i].form;
  }
  size_t nf = r->nfibers, nrows = nf * (size_t)nexp;
  fits_create_tbl(fp, BINARY_TBL, (LONGLONG)nrows, ncols, tt, tf, NULL, extname, &fs);
  fits_write_key_str(fp, "ENCODING", "ascii", NULL, &fs);
  if (fs) return rvs_fits_check(fs, path, extname);
  double *d = malloc(nrows * sizeof *d);
  long long *k = malloc(nrows * sizeof *k);
  char **s = malloc(nrows * sizeof *s);
  if (!d || !k || !s) {
    free(d);
    free(k);
    free(s);
    return rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
  }
  int rc = RVS_OK;
  for (int c = 0; c < ncols && !rc; c++) {
    int kind = -1;
    for (int e = 0; e < nexp && !rc; e++)
      for (size_t f = 0; f < nf; f++) {
        colval v = {V_DBL, 0.0, 0, NULL};
        if (value(cols[c].name, r, f, e, &v)) {
          rc = rvs_error(RVS_ERR_ARG, "%s: no value for column %s", path, cols[c].name);
          break;
        }
        size_t row = (size_t)e * nf + f;
        kind = v.kind;
        d[row] = v.d;
        k[row] = v.k;
        s[row] = (char *)v.s;
      }
    if (rc) break;
    if (kind == V_DBL)
      fits_write_col(fp, TDOUBLE, c + 1, 1, 1, (LONGLONG)nrows, d, &fs);
    else if (kind == V_I64)
      fits_write_col(fp, TLONGLONG, c + 1, 1, 1, (LONGLONG)nrows, k, &fs);
    else
      fits_write_col(fp, TSTRING, c + 1, 1, 1, (LONGLONG)nrows, s, &fs);
    if (fs) {
      char what[96];
      snprintf(what, sizeof what, "%s: cannot write column %s", extname, cols[c].name);
      rc = rvs_fits_check(fs, path, what);
    }
  }
  free(d);
  free(k);
  free(s);
  return rc;
}

static int write_scores(fitsfile *fp, const char *path, const rvs_sim_result *r) {
  char names[42][32], *tt[42], *tf[42];
  int n = 0;
  snprintf(names[n++], 32, "TARGETID");
  for (int a = 0; a < 3; a++) {
    snprintf(names[n++], 32, "INTEG_COADD_FLUX_%c", ARMS[a]);
    snprintf(names[n++], 32, "MEDIAN_COADD_FLUX_%c", ARMS[a]);
    snprintf(names[n++], 32, "MEDIAN_COADD_SNR_%c", ARMS[a]);
  }
  for (int a = 0; a < 3; a++)
    for (int c = 0; c < 8; c++) snprintf(names[n++], 32, "TSNR2_%s_%c", TSNR2_CLASSES[c], ARMS[a]);
  for (int c = 0; c < 8; c++) snprintf(names[n++], 32, "TSNR2_%s", TSNR2_CLASSES[c]);
  for (int i = 0; i < n; i++) {
    tt[i] = names[i];
    tf[i] = i == 0 ? "K" : "E";
  }
  int fs = 0;
  size_t nf = r->nfibers;
  fits_create_tbl(fp, BINARY_TBL, (LONGLONG)nf, n, tt, tf, NULL, "SCORES", &fs);
  fits_write_key_str(fp, "ENCODING", "ascii", NULL, &fs);
  float *col = malloc(nf * sizeof *col);
  long long *tid = malloc(nf * sizeof *tid);
  if (!col || !tid) {
    free(col);
    free(tid);
    return rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
  }
  for (size_t f = 0; f < nf; f++) tid[f] = r->truth[f].targetid;
  fits_write_col(fp, TLONGLONG, 1, 1, 1, (LONGLONG)nf, tid, &fs);
  int cn = 2;
  for (int a = 0; a < 3; a++) {
    fits_write_col(fp, TFLOAT, cn++, 1, 1, (LONGLONG)nf, r->scores_integ[a], &fs);
    fits_write_col(fp, TFLOAT, cn++, 1, 1, (LONGLONG)nf, r->scores_flux[a], &fs);
    fits_write_col(fp, TFLOAT, cn++, 1, 1, (LONGLONG)nf, r->scores_snr[a], &fs);
  }
  for (int a = 0; a < 3; a++)
    for (int c = 0; c < 8; c++) {
      for (size_t f = 0; f < nf; f++) {
        double q = r->scores_snr[a][f] / TSNR2_REF_SN[a];
        col[f] = (float)(TSNR2_REF[a][c] * q * q);
      }
      fits_write_col(fp, TFLOAT, cn++, 1, 1, (LONGLONG)nf, col, &fs);
    }
  for (int c = 0; c < 8; c++) {
    for (size_t f = 0; f < nf; f++) {
      double s = 0;
      for (int a = 0; a < 3; a++) {
        double q = r->scores_snr[a][f] / TSNR2_REF_SN[a];
        s += TSNR2_REF[a][c] * q * q;
      }
      col[f] = (float)s;
    }
    fits_write_col(fp, TFLOAT, cn++, 1, 1, (LONGLONG)nf, col, &fs);
  }
  free(col);
  free(tid);
  return rvs_fits_check(fs, path, "cannot write SCORES");
}

static int write_image(fitsfile *fp, const char *path, const char *extname, int bitpix,
                       int datatype, int naxis, long *naxes, const void *data,
                       const char *bunit) {
  int fs = 0;
  fits_create_img(fp, bitpix, naxis, naxes, &fs);
  fits_write_key_str(fp, "EXTNAME", extname, NULL, &fs);
  if (bunit) fits_write_key_str(fp, "BUNIT", bunit, NULL, &fs);
  LONGLONG n = 1;
  for (int i = 0; i < naxis; i++) n *= naxes[i];
  fits_write_img(fp, datatype, 1, n, (void *)data, &fs);
  return rvs_fits_check(fs, path, extname);
}

static int write_sim_keys(fitsfile *fp, const rvs_sim_result *r, const char *grid_dir) {
  int fs = 0;
  const rvs_sim_options *o = &r->opt;
  long long seed = (long long)o->seed;
  long nf = (long)r->nfibers;
  int defects = o->defects;
  fits_write_key_log(fp, "RVSSIM", 1, "simulated by rvspecfit-c rvs_simulate_desi", &fs);
  fits_write_key(fp, TLONGLONG, "SIMSEED", &seed, "random seed", &fs);
  fits_write_key(fp, TLONG, "SIMNFIB", &nf, "number of fibers", &fs);
  fits_write_key(fp, TINT, "SIMDEFEC", &defects, "defects simulated", &fs);
  double v = o->sn_min;
  fits_write_key(fp, TDOUBLE, "SIMSNMIN", &v, "minimum target S/N", &fs);
  v = o->sn_max;
  fits_write_key(fp, TDOUBLE, "SIMSNMAX", &v, "maximum target S/N", &fs);
  v = o->vrad_max;
  fits_write_key(fp, TDOUBLE, "SIMVMAX", &v, "[km/s] maximum |vrad|", &fs);
  v = o->vsini_frac;
  fits_write_key(fp, TDOUBLE, "SIMVSFR", &v, "fraction of rotating stars", &fs);
  v = o->vsini_max;
  fits_write_key(fp, TDOUBLE, "SIMVSMAX", &v, "[km/s] maximum vsini", &fs);
  fits_write_key_str(fp, "SIMINTRP", rvs_sim_interp_name(o->interp),
                     "grid interpolation: raw or lsf-first", &fs);
  if (grid_dir) {
    fits_write_key_longwarn(fp, &fs);
    fits_write_key_longstr(fp, "SIMGRID", grid_dir, "template grid", &fs);
  }
  return fs;
}

int rvs_sim_write_coadd(const rvs_sim_result *r, const char *path, const char *grid_dir) {
  fitsfile *fp = NULL;
  char tmp[4096];
  int rc = rvs_fits_create_atomic(&fp, path, tmp, sizeof tmp);
  if (rc) return rc;
  int fs = 0;
  const rvs_sim_options *o = &r->opt;
  fits_create_img(fp, BYTE_IMG, 0, NULL, &fs);
  fits_write_key_str(fp, "SPGRP", "cumulative", NULL, &fs);
  long lv = o->night;
  fits_write_key(fp, TLONG, "SPGRPVAL", &lv, NULL, &fs);
  fits_write_key(fp, TLONG, "NIGHT", &lv, NULL, &fs);
  long long tile = o->tileid;
  fits_write_key(fp, TLONGLONG, "TILEID", &tile, NULL, &fs);
  int pv = o->petal;
  fits_write_key(fp, TINT, "SPECTRO", &pv, NULL, &fs);
  fits_write_key(fp, TINT, "PETAL", &pv, NULL, &fs);
  int fmin = 500 * o->petal;
  fits_write_key(fp, TINT, "FIBERMIN", &fmin, NULL, &fs);
  fs = fs ? fs : write_sim_keys(fp, r, grid_dir);
  if ((rc = rvs_fits_check(fs, path, "cannot write primary header"))) goto fail;

  if ((rc = write_table(fp, path, "FIBERMAP", FIBERMAP_COLS,
                        (int)(sizeof FIBERMAP_COLS / sizeof FIBERMAP_COLS[0]), r, 1,
                        fm_value_adapter)))
    goto fail;
  if ((rc = write_table(fp, path, "EXP_FIBERMAP", EXP_FIBERMAP_COLS,
                        (int)(sizeof EXP_FIBERMAP_COLS / sizeof EXP_FIBERMAP_COLS[0]), r, NEXP,
                        exp_fibermap_value)))
    goto fail;
  for (int a = 0; a < 3; a++) {
    const rvs_sim_arm *A = &r->arms[a];
    char ext[32];
    long n1[1] = {(long)A->npix};
    long n2[2] = {(long)A->npix, (long)r->nfibers};
    long n3[3] = {(long)A->npix, RVS_SIM_NDIAG, (long)r->nfibers};
    snprintf(ext, sizeof ext, "%c_WAVELENGTH", ARMS[a]);
    if ((rc = write_image(fp, path, ext, DOUBLE_IMG, TDOUBLE, 1, n1, A->wave, "Angstrom")))
      goto fail;
    snprintf(ext, sizeof ext, "%c_FLUX", ARMS[a]);
    if ((rc = write_image(fp, path, ext, FLOAT_IMG, TFLOAT, 2, n2, A->flux,
                          "10**-17 erg/(s cm2 Angstrom)")))
      goto fail;
    snprintf(ext, sizeof ext, "%c_IVAR", ARMS[a]);
    if ((rc = write_image(fp, path, ext, FLOAT_IMG, TFLOAT, 2, n2, A->ivar,
                          "10**+34 (s2 cm4 Angstrom2) / erg2")))
      goto fail;
    snprintf(ext, sizeof ext, "%c_MASK", ARMS[a]);
    if ((rc = write_image(fp, path, ext, LONG_IMG, TINT, 2, n2, A->mask, NULL))) goto fail;
    snprintf(ext, sizeof ext, "%c_RESOLUTION", ARMS[a]);
    if ((rc = write_image(fp, path, ext, FLOAT_IMG, TFLOAT, 3, n3, A->resolution, NULL)))
      goto fail;
  }
  if ((rc = write_scores(fp, path, r))) goto fail;
  int nhdu = 0;
  fits_get_num_hdus(fp, &nhdu, &fs);
  for (int h = 1; h <= nhdu && !fs; h++) {
    fits_movabs_hdu(fp, h, NULL, &fs);
    fits_write_chksum(fp, &fs);
  }
  if ((rc = rvs_fits_check(fs, path, "cannot write checksums"))) goto fail;
  return rvs_fits_close_commit(fp, tmp, path);
fail:
  rvs_fits_close_abort(fp, tmp);
  return rc;
}

static const char *kind_name(rvs_sim_kind k) {
  switch (k) {
  case RVS_SIM_SKY: return "sky";
  case RVS_SIM_GALAXY: return "galaxy";
  case RVS_SIM_MASKED: return "masked";
  default: return "star";
  }
}

static void defect_list(int32_t d, char *buf, size_t cap) {
  static const char *names[6] = {"cosmic", "nan", "ivar0", "masked", "sky", "galaxy"};
  buf[0] = 0;
  for (int b = 0; b < 6; b++)
    if (d & (1 << b)) {
      size_t l = strlen(buf);
      snprintf(buf + l, cap - l, "%s%s", l ? "," : "", names[b]);
    }
}

int rvs_sim_write_truth(const rvs_sim_result *r, const char *path, const char *coadd_path) {
  static const colspec cols[] = {
      {"TARGETID", "K"}, {"FIBER", "J"}, {"KIND", "8A"}, {"TEFF", "D"}, {"LOGG", "D"},
      {"FEH", "D"}, {"ALPHAFE", "D"}, {"VRAD", "D"}, {"VSINI", "D"}, {"SN_TARGET", "D"},
      {"SN_B", "D"}, {"SN_R", "D"}, {"SN_Z", "D"}, {"REDSHIFT", "D"}, {"FLUX_SCALE", "D"},
      {"DEFECTS", "J"}, {"DEFECT_LIST", "40A"}, {"NCOSMIC", "J"}, {"NAN_ARM", "1A"},
      {"NAN_START", "J"}, {"NAN_LEN", "J"}, {"IVAR0_ARM", "1A"}, {"IVAR0_START", "J"},
      {"IVAR0_LEN", "J"}};
  static const char *units[] = {"", "", "", "K", "", "", "", "km/s", "km/s", "", "", "", "",
                                "", "1e-17 erg/(s cm2 Angstrom)", "", "", "", "", "", "",
                                "", "", ""};
  const int nc = (int)(sizeof cols / sizeof cols[0]);
  fitsfile *fp = NULL;
  char tmp[4096];
  int rc = rvs_fits_create_atomic(&fp, path, tmp, sizeof tmp);
  if (rc) return rc;
  int fs = 0;
  size_t nf = r->nfibers;
  char *tt[32], *tf[32], *tu[32];
  for (int i = 0; i < nc; i++) {
    tt[i] = (char *)cols[i].name;
    tf[i] = (char *)cols[i].form;
    tu[i] = (char *)units[i];
  }
  fits_create_img(fp, BYTE_IMG, 0, NULL, &fs);
  fs = fs ? fs : write_sim_keys(fp, r, NULL);
  if (coadd_path) {
    fits_write_key_longwarn(fp, &fs);
    fits_write_key_longstr(fp, "COADD", coadd_path, "simulated coadd file", &fs);
  }
  fits_create_tbl(fp, BINARY_TBL, (LONGLONG)nf, nc, tt, tf, tu, "TRUTH", &fs);
  if ((rc = rvs_fits_check(fs, path, "cannot create truth table"))) goto fail;
  double *d = malloc(nf * sizeof *d);
  long long *k = malloc(nf * sizeof *k);
  char **s = malloc(nf * sizeof *s);
  char *sbuf = malloc(nf * 48);
  if (!d || !k || !s || !sbuf) {
    free(d);
    free(k);
    free(s);
    free(sbuf);
    rc = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
    goto fail;
  }
  for (size_t f = 0; f < nf; f++) s[f] = sbuf + 48 * f;
  for (int c = 0; c < nc && !fs; c++) {
    const char *n = cols[c].name;
    int kind = V_DBL;
    for (size_t f = 0; f < nf; f++) {
      const rvs_sim_truth *t = &r->truth[f];
      if (!strcmp(n, "TARGETID")) kind = V_I64, k[f] = t->targetid;
      else if (!strcmp(n, "FIBER")) kind = V_I64, k[f] = t->fiber;
      else if (!strcmp(n, "KIND")) kind = V_STR, snprintf(s[f], 48, "%s", kind_name(t->kind));
      else if (!strcmp(n, "TEFF")) d[f] = t->teff;
      else if (!strcmp(n, "LOGG")) d[f] = t->logg;
      else if (!strcmp(n, "FEH")) d[f] = t->feh;
      else if (!strcmp(n, "ALPHAFE")) d[f] = t->alpha;
      else if (!strcmp(n, "VRAD")) d[f] = t->vrad;
      else if (!strcmp(n, "VSINI")) d[f] = t->vsini;
      else if (!strcmp(n, "SN_TARGET")) d[f] = t->sn_target;
      else if (!strcmp(n, "SN_B")) d[f] = t->sn[0];
      else if (!strcmp(n, "SN_R")) d[f] = t->sn[1];
      else if (!strcmp(n, "SN_Z")) d[f] = t->sn[2];
      else if (!strcmp(n, "REDSHIFT")) d[f] = t->redshift;
      else if (!strcmp(n, "FLUX_SCALE")) d[f] = t->flux_scale;
      else if (!strcmp(n, "DEFECTS")) kind = V_I64, k[f] = t->defects;
      else if (!strcmp(n, "DEFECT_LIST")) kind = V_STR, defect_list(t->defects, s[f], 48);
      else if (!strcmp(n, "NCOSMIC")) kind = V_I64, k[f] = t->ncosmic;
      else if (!strcmp(n, "NAN_ARM")) kind = V_STR, snprintf(s[f], 48, "%c", t->nan_arm);
      else if (!strcmp(n, "NAN_START")) kind = V_I64, k[f] = t->nan_start;
      else if (!strcmp(n, "NAN_LEN")) kind = V_I64, k[f] = t->nan_len;
      else if (!strcmp(n, "IVAR0_ARM")) kind = V_STR, snprintf(s[f], 48, "%c", t->ivar0_arm);
      else if (!strcmp(n, "IVAR0_START")) kind = V_I64, k[f] = t->ivar0_start;
      else if (!strcmp(n, "IVAR0_LEN")) kind = V_I64, k[f] = t->ivar0_len;
    }
    if (kind == V_DBL)
      fits_write_col(fp, TDOUBLE, c + 1, 1, 1, (LONGLONG)nf, d, &fs);
    else if (kind == V_I64)
      fits_write_col(fp, TLONGLONG, c + 1, 1, 1, (LONGLONG)nf, k, &fs);
    else
      fits_write_col(fp, TSTRING, c + 1, 1, 1, (LONGLONG)nf, s, &fs);
  }
  free(d);
  free(k);
  free(s);
  free(sbuf);
  if (!fs) {
    fits_movabs_hdu(fp, 1, NULL, &fs);
    fits_write_chksum(fp, &fs);
    fits_movabs_hdu(fp, 2, NULL, &fs);
    fits_write_chksum(fp, &fs);
  }
  if ((rc = rvs_fits_check(fs, path, "cannot write truth table"))) goto fail;
  return rvs_fits_close_commit(fp, tmp, path);
fail:
  rvs_fits_close_abort(fp, tmp);
  return rc;
}

int rvs_sim_default_truth_path(const char *coadd_path, char *out, size_t cap) {
  const char *slash = strrchr(coadd_path, '/');
  int n;
  if (slash)
    n = snprintf(out, cap, "%.*s/truth-%s", (int)(slash - coadd_path), coadd_path, slash + 1);
  else
    n = snprintf(out, cap, "truth-%s", coadd_path);
  if (n < 0 || (size_t)n >= cap)
    return rvs_error(RVS_ERR_ARG, "%s: path too long for the truth file name", coadd_path);
  return RVS_OK;
}

int rvs_sim_read_params(const char *path, rvs_sim_star **stars, size_t *n) {
  *stars = NULL;
  *n = 0;
  FILE *fp = fopen(path, "r");
  if (!fp) return rvs_error(RVS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  size_t cap = 0, cnt = 0, lineno = 0;
  rvs_sim_star *v = NULL;
  char line[1024];
  int rc = RVS_OK;
  while (fgets(line, sizeof line, fp)) {
    lineno++;
    char *h = strchr(line, '#');
    if (h) *h = 0;
    char *p = line;
    while (isspace((unsigned char)*p)) p++;
    if (!*p) continue;
    double x[7];
    int got = 0;
    char *end = p;
    for (; got < 7; got++) {
      errno = 0;
      x[got] = strtod(p, &end);
      if (end == p || errno) break;
      p = end;
    }
    while (isspace((unsigned char)*p)) p++;
    if (got != 7 || *p) {
      rc = rvs_error(RVS_ERR_FORMAT,
                     "%s:%zu: expected 7 numbers: teff logg feh alpha vrad vsini sn", path,
                     lineno);
      break;
    }
    if (cnt == cap) {
      cap = cap ? 2 * cap : 64;
      rvs_sim_star *nv = realloc(v, cap * sizeof *nv);
      if (!nv) {
        rc = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
        break;
      }
      v = nv;
    }
    v[cnt++] = (rvs_sim_star){x[0], x[1], x[2], x[3], x[4], x[5], x[6]};
  }
  if (!rc && ferror(fp)) rc = rvs_error(RVS_ERR_IO, "%s: read error", path);
  fclose(fp);
  if (!rc && cnt == 0) rc = rvs_error(RVS_ERR_FORMAT, "%s: no stars in the file", path);
  if (rc) {
    free(v);
    return rc;
  }
  *stars = v;
  *n = cnt;
  return RVS_OK;
}
