/* The template database (rvs_read_grid): an SQLite file with upstream
 * rvspecfit's schema (read_grid.py:makedb), so the same .db works with both
 * tools.  See docs/formats/specs.md.
 *
 *   grid_parameters(id int, name varchar, explanation varchar)
 *       one row per parameter, in order (teff, logg, <metallicity>, <alpha>, extras)
 *   files(filename varchar, teff real, logg real, <met> real, <alpha> real,
 *         [<extra> real, ...] id int, bad bool)
 *       filename relative to the prefix, id in sorted-glob order, bad = 0
 *   indices logg_idx, teff_idx, met_idx, id_idx (as upstream's current code) */
#ifndef RVS_TEMPLATES_GRID_DB_H
#define RVS_TEMPLATES_GRID_DB_H

#include <stddef.h>

#define RVS_GRID_MAX_EXTRA 16

typedef struct rvs_grid_db_opts {
  const char *prefix;           /* glob pattern is prefix + glob_mask (string concatenation, as upstream) */
  const char *glob_mask;        /* default: star-slash-star "fits" mask, as upstream */
  const char *dbfile;
  const char *keyword_teff;     /* PHXTEFF */
  const char *keyword_logg;     /* PHXLOGG */
  const char *keyword_metallicity; /* PHXM_H */
  const char *keyword_alpha;    /* PHXALPHA */
  const char *name_metallicity; /* feh */
  const char *name_alpha;       /* alpha */
  size_t nextra;
  const char *extra_names[RVS_GRID_MAX_EXTRA]; /* column names */
  const char *extra_keys[RVS_GRID_MAX_EXTRA];  /* FITS keywords */
  int update;     /* 1: keep an existing db and append files not yet in it */
  int check_data; /* 1: also read each spectrum; non-finite or non-positive flux -> bad=1 */
} rvs_grid_db_opts;

/* Fill the defaults of upstream's CLI (prefix "./", mask, keywords, names). */
void rvs_grid_db_opts_default(rvs_grid_db_opts *o);

/* Parse upstream's --extra_params text "name:KEY,name2:KEY2" into o. */
int rvs_grid_db_parse_extra(rvs_grid_db_opts *o, char *text);

/* Scan the templates and write (or, with update, extend) the database.
 * A missing keyword is an error naming the file and the keyword.  The db is
 * written atomically when created anew.  Counts may be NULL. */
int rvs_grid_db_make(const rvs_grid_db_opts *o, size_t *ninserted, size_t *nskipped,
                     size_t *nbad);

/* Mark the templates whose relative filenames are listed (one per line,
 * '#' comments) as bad; *nmarked receives how many rows changed. */
int rvs_grid_db_mark_bad(const char *dbfile, const char *listfile, size_t *nmarked);

/* The good templates of a database, as make_interpol reads them:
 * `select id, <parnames> from files where not bad order by <parnames>`.
 * vec is [nparam][nspec] (upstream's layout); ids and filenames [nspec].
 * If the table grid_parameters exists its row count must equal nparam. */
typedef struct rvs_grid_list {
  size_t nspec, nparam;
  double *vec;
  long long *ids;
  char **filenames;
} rvs_grid_list;

int rvs_grid_db_fetch(const char *dbfile, const char *const *parnames, size_t nparam,
                      rvs_grid_list *out);
void rvs_grid_list_free(rvs_grid_list *l);

/* Read a template: the primary HDU of prefix/filename as float64, length n. */
int rvs_grid_read_flux(const char *path, double **flux, size_t *n);

#endif
