/* specs_<setup>.h5: the convolved, resampled ln-spectra of a template grid, in
 * exactly upstream rvspecfit's HDF5 layout (see docs/FORMATS.md and
 * ALGORITHM.md §2.1/§2.3), so files made by either tool are read by both. */
#ifndef RVS_TEMPLATES_SPECS_FILE_H
#define RVS_TEMPLATES_SPECS_FILE_H

#include <stddef.h>

typedef struct rvs_specs {
  size_t nspec;     /* number of templates */
  size_t npix;      /* template pixels */
  size_t nparam;    /* parameters per template (teff, logg, feh, alpha, ...) */
  double *specs;    /* [nspec][npix] ln(flux) (float64 in memory whatever the file dtype) */
  double *vec;      /* [nparam][nspec] RAW (unmapped) parameters, upstream's layout */
  double *lam;      /* [npix] wavelengths, Angstrom */
  double *lognorms; /* [nspec] (unused at fit time, kept for round trips) */
  long long *file_ids; /* [nspec] ids in the template database */
  char **parnames;  /* [nparam] */
  int log_step;     /* 1: lam is log-uniform */
  int log_spec;     /* 1: specs hold ln(flux) */
  int *log_ids;     /* mapper args: indices of parameters interpolated in log10 */
  size_t nlog_ids;
  int float_bits;   /* 32 or 64: dtype of `specs` in the file */
  char *revision;   /* free text, may be NULL */
  char *cmdline;    /* may be NULL */
  char *dbfile;     /* may be NULL */
  char *git_rev;    /* may be NULL (written as "rvspecfit-c <version>") */
} rvs_specs;

/* Read a specs file written by us or by upstream rvspecfit (0.9.0 files,
 * without file_ids/dbfile, included: missing file_ids read as -1). */
int rvs_specs_read(const char *path, rvs_specs *out);

/* Write atomically (temporary name, then rename), in upstream's layout:
 * specs (float32 if float_bits==32, else float64), vec, lam, lognorms,
 * file_ids (int64), parnames (list of str), log_step/log_spec (bool
 * scalars), mapper_module/mapper_class_name (str), mapper_args (tuple:
 * int64 array of shape (1, nlog_ids)), git_rev, revision, cmdline, dbfile. */
int rvs_specs_write(const char *path, const rvs_specs *s);

void rvs_specs_free(rvs_specs *s);

#endif
