/* Template database in upstream rvspecfit's SQLite schema; see grid_db.h. */
#include "templates/grid_db.h"

#include <ctype.h>
#include <fitsio.h>
#include <glob.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic.h"
#include "io/fits_util.h"
#include "rvs/log.h"
#include "rvs/status.h"

void rvs_grid_db_opts_default(rvs_grid_db_opts *o) {
  memset(o, 0, sizeof *o);
  o->prefix = "./";
  o->glob_mask = "*/*fits";
  o->dbfile = "files.db";
  o->keyword_teff = "PHXTEFF";
  o->keyword_logg = "PHXLOGG";
  o->keyword_metallicity = "PHXM_H";
  o->keyword_alpha = "PHXALPHA";
  o->name_metallicity = "feh";
  o->name_alpha = "alpha";
}

/* Column names go into SQL text: accept plain identifiers only. */
static int valid_ident(const char *s) {
  if (!s || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
  for (const char *p = s; *p; p++)
    if (!(isalnum((unsigned char)*p) || *p == '_')) return 0;
  return 1;
}

int rvs_grid_db_parse_extra(rvs_grid_db_opts *o, char *text) {
  o->nextra = 0;
  if (!text || !*text) return RVS_OK;
  char *save = NULL;
  for (char *tok = strtok_r(text, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *colon = strchr(tok, ':');
    if (!colon || colon == tok || !colon[1] || strchr(colon + 1, ':'))
      return rvs_error(RVS_ERR_ARG, "--extra_params: '%s' is not of the form name:KEYWORD", tok);
    if (o->nextra >= RVS_GRID_MAX_EXTRA)
      return rvs_error(RVS_ERR_ARG, "--extra_params: more than %d parameters", RVS_GRID_MAX_EXTRA);
    *colon = '\0';
    o->extra_names[o->nextra] = tok;
    o->extra_keys[o->nextra] = colon + 1;
    o->nextra++;
  }
  return RVS_OK;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int db_exec(sqlite3 *db, const char *sql, const char *path) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    int st = rvs_error(RVS_ERR_IO, "%s: sqlite: %s", path, msg ? msg : "error");
    sqlite3_free(msg);
    return st;
  }
  return RVS_OK;
}

int rvs_grid_read_flux(const char *path, double **flux, size_t *n) {
  *flux = NULL;
  *n = 0;
  fitsfile *f = NULL;
  int fs = 0;
  /* diskfile: no extended-filename syntax, so '[' in names is literal */
  if (fits_open_diskfile(&f, path, READONLY, &fs)) return rvs_fits_check(fs, path, "open");
  int naxis = 0;
  long naxes[2] = {0, 0};
  int st = RVS_OK;
  if (fits_get_img_dim(f, &naxis, &fs) || fits_get_img_size(f, 1, naxes, &fs)) {
    st = rvs_fits_check(fs, path, "primary HDU");
  } else if (naxis != 1 || naxes[0] < 2) {
    st = rvs_error(RVS_ERR_FORMAT, "%s: primary HDU is not a 1-D array (NAXIS=%d)", path, naxis);
  } else {
    double *d = malloc((size_t)naxes[0] * sizeof(double));
    int anynul = 0;
    double nulval = 0; /* 0: no null substitution, NaN passes through */
    if (!d) st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", path);
    else if (fits_read_img(f, TDOUBLE, 1, naxes[0], &nulval, d, &anynul, &fs)) {
      st = rvs_fits_check(fs, path, "read primary data");
      free(d);
    } else {
      *flux = d;
      *n = (size_t)naxes[0];
    }
  }
  fs = 0;
  fits_close_file(f, &fs);
  return st;
}

/* Values of the parameter keywords of one file. */
static int read_params(const char *file, const char *const *params, const char *const *keys,
                       size_t np, double *vals) {
  fitsfile *f = NULL;
  int fs = 0;
  if (fits_open_diskfile(&f, file, READONLY, &fs)) return rvs_fits_check(fs, file, "open");
  int st = RVS_OK;
  for (size_t i = 0; i < np && !st; i++) {
    fs = 0;
    if (fits_read_key(f, TDOUBLE, keys[i], &vals[i], NULL, &fs)) {
      if (fs == KEY_NO_EXIST)
        st = rvs_error(RVS_ERR_FORMAT, "%s: keyword %s (for %s) not found in the primary header",
                       file, keys[i], params[i]);
      else
        st = rvs_error(RVS_ERR_FORMAT, "%s: keyword %s (for %s) is not a number", file, keys[i],
                       params[i]);
      fits_clear_errmsg();
    }
  }
  fs = 0;
  fits_close_file(f, &fs);
  return st;
}

static int check_flux(const char *file, int *is_bad) {
  double *fl = NULL;
  size_t n = 0;
  int st = rvs_grid_read_flux(file, &fl, &n);
  if (st) return st;
  *is_bad = 0;
  for (size_t i = 0; i < n; i++)
    if (!isfinite(fl[i]) || fl[i] <= 0) {
      *is_bad = 1;
      break;
    }
  free(fl);
  return RVS_OK;
}

static int file_exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0;
}

int rvs_grid_db_make(const rvs_grid_db_opts *o, size_t *ninserted, size_t *nskipped,
                     size_t *nbad) {
  size_t nins = 0, nskip = 0, nb = 0;
  if (ninserted) *ninserted = 0;
  if (nskipped) *nskipped = 0;
  if (nbad) *nbad = 0;
  const char *dbfile = o->dbfile;
  size_t np = 4 + o->nextra;
  const char *params[4 + RVS_GRID_MAX_EXTRA], *keys[4 + RVS_GRID_MAX_EXTRA];
  params[0] = "teff";
  params[1] = "logg";
  params[2] = o->name_metallicity;
  params[3] = o->name_alpha;
  keys[0] = o->keyword_teff;
  keys[1] = o->keyword_logg;
  keys[2] = o->keyword_metallicity;
  keys[3] = o->keyword_alpha;
  for (size_t i = 0; i < o->nextra; i++) {
    params[4 + i] = o->extra_names[i];
    keys[4 + i] = o->extra_keys[i];
  }
  for (size_t i = 0; i < np; i++) {
    if (!valid_ident(params[i]))
      return rvs_error(RVS_ERR_ARG, "%s: parameter name '%s' is not a valid column name", dbfile,
                       params[i] ? params[i] : "");
    if (!keys[i] || !*keys[i])
      return rvs_error(RVS_ERR_ARG, "%s: empty FITS keyword for %s", dbfile, params[i]);
    for (size_t j = 0; j < i; j++)
      if (strcmp(params[i], params[j]) == 0)
        return rvs_error(RVS_ERR_ARG, "%s: parameter '%s' given twice", dbfile, params[i]);
  }

  /* the file list, sorted by byte value as Python's sorted() of str */
  size_t plen = strlen(o->prefix), mlen = strlen(o->glob_mask);
  char *pattern = malloc(plen + mlen + 1);
  if (!pattern) return rvs_error(RVS_ERR_NOMEM, "out of memory");
  memcpy(pattern, o->prefix, plen);
  memcpy(pattern + plen, o->glob_mask, mlen + 1);
  glob_t gl;
  memset(&gl, 0, sizeof gl);
  int grc = glob(pattern, GLOB_NOSORT, NULL, &gl);
  if (grc != 0 && grc != GLOB_NOMATCH) {
    globfree(&gl);
    int st = rvs_error(RVS_ERR_IO, "%s: cannot list files", pattern);
    free(pattern);
    return st;
  }
  if (gl.gl_pathc == 0) {
    globfree(&gl);
    int st = rvs_error(RVS_ERR_IO, "%s: no FITS templates found (glob mask '%s')", pattern,
                       o->glob_mask);
    free(pattern);
    return st;
  }
  free(pattern);
  qsort(gl.gl_pathv, gl.gl_pathc, sizeof(char *), cmp_str);

  int update_existing = o->update && file_exists(dbfile);
  char tmp[4096];
  const char *target = dbfile;
  if (!update_existing) {
    int st = rvs_atomic_tmpname(dbfile, tmp, sizeof tmp);
    if (st) {
      globfree(&gl);
      return st;
    }
    unlink(tmp);
    target = tmp;
    if (file_exists(dbfile)) rvs_log(RVS_LOG_INFO, "Overwriting the template database file %s", dbfile);
  }
  sqlite3 *db = NULL;
  int st = RVS_OK;
  if (sqlite3_open(target, &db) != SQLITE_OK) {
    st = rvs_error(RVS_ERR_IO, "%s: cannot open sqlite database: %s", dbfile,
                   db ? sqlite3_errmsg(db) : "out of memory");
    goto out;
  }
  st = db_exec(db, "BEGIN", dbfile);
  if (st) goto out;

  char sql[8192];
  long long next_id = 0;
  if (!update_existing) {
    st = db_exec(db, "CREATE TABLE grid_parameters(\n    id int, name varchar, explanation varchar)",
                 dbfile);
    for (size_t i = 0; i < np && !st; i++) {
      snprintf(sql, sizeof sql, "INSERT INTO grid_parameters (id, name) values (%zu, '%s')", i,
               params[i]);
      st = db_exec(db, sql, dbfile);
    }
    if (st) goto out;
    int len = snprintf(sql, sizeof sql, "CREATE TABLE files (filename varchar,\n    teff real,\n"
                       "    logg real,\n    %s real,\n    %s real,\n    ",
                       params[2], params[3]);
    for (size_t i = 4; i < np; i++)
      len += snprintf(sql + len, sizeof sql - (size_t)len, "%s real,", params[i]);
    snprintf(sql + len, sizeof sql - (size_t)len, "\n    id int,\n    bad bool);");
    st = db_exec(db, sql, dbfile);
    if (st) goto out;
  } else {
    /* every column we insert must exist */
    for (size_t i = 0; i < np + 3 && !st; i++) {
      const char *col = i < np ? params[i] : (i == np ? "filename" : (i == np + 1 ? "id" : "bad"));
      sqlite3_stmt *q = NULL;
      snprintf(sql, sizeof sql, "select count(*) from pragma_table_info('files') where name='%s'",
               col);
      if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK || sqlite3_step(q) != SQLITE_ROW)
        st = rvs_error(RVS_ERR_FORMAT, "%s: cannot inspect table files: %s", dbfile,
                       sqlite3_errmsg(db));
      else if (sqlite3_column_int(q, 0) != 1)
        st = rvs_error(RVS_ERR_FORMAT,
                       "%s: cannot update: column '%s' is missing from table files", dbfile, col);
      sqlite3_finalize(q);
    }
    if (st) goto out;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, "select coalesce(max(id), -1) from files", -1, &q, NULL) !=
            SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
      st = rvs_error(RVS_ERR_FORMAT, "%s: %s", dbfile, sqlite3_errmsg(db));
      sqlite3_finalize(q);
      goto out;
    }
    next_id = sqlite3_column_int64(q, 0) + 1;
    sqlite3_finalize(q);
  }

  {
    int len = snprintf(sql, sizeof sql, "insert into files (filename, id, bad");
    for (size_t i = 0; i < np; i++) len += snprintf(sql + len, sizeof sql - (size_t)len, ",%s", params[i]);
    len += snprintf(sql + len, sizeof sql - (size_t)len, ") values (?, ?, ?");
    for (size_t i = 0; i < np; i++) len += snprintf(sql + len, sizeof sql - (size_t)len, ",?");
    snprintf(sql + len, sizeof sql - (size_t)len, ")");
  }
  sqlite3_stmt *ins = NULL, *exists = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &ins, NULL) != SQLITE_OK ||
      (update_existing && sqlite3_prepare_v2(db, "select 1 from files where filename = ?", -1,
                                             &exists, NULL) != SQLITE_OK)) {
    st = rvs_error(RVS_ERR_IO, "%s: sqlite: %s", dbfile, sqlite3_errmsg(db));
    sqlite3_finalize(ins);
    sqlite3_finalize(exists);
    goto out;
  }
  for (size_t k = 0; k < gl.gl_pathc && !st; k++) {
    const char *f = gl.gl_pathv[k];
    const char *rel = strncmp(f, o->prefix, plen) == 0 ? f + plen : f;
    if (exists) {
      sqlite3_reset(exists);
      sqlite3_bind_text(exists, 1, rel, -1, SQLITE_TRANSIENT);
      if (sqlite3_step(exists) == SQLITE_ROW) {
        nskip++;
        continue;
      }
    }
    double vals[4 + RVS_GRID_MAX_EXTRA];
    st = read_params(f, params, keys, np, vals);
    if (st) break;
    int bad = 0;
    if (o->check_data) {
      st = check_flux(f, &bad);
      if (st) break;
      if (bad) {
        rvs_log(RVS_LOG_WARNING, "%s: non-finite or non-positive flux: marked bad", f);
        nb++;
      }
    }
    sqlite3_reset(ins);
    sqlite3_bind_text(ins, 1, rel, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(ins, 2, next_id);
    sqlite3_bind_int(ins, 3, bad);
    for (size_t i = 0; i < np; i++) sqlite3_bind_double(ins, 4 + (int)i, vals[i]);
    if (sqlite3_step(ins) != SQLITE_DONE)
      st = rvs_error(RVS_ERR_IO, "%s: sqlite insert of %s: %s", dbfile, rel, sqlite3_errmsg(db));
    next_id++;
    nins++;
  }
  sqlite3_finalize(ins);
  sqlite3_finalize(exists);
  if (st) goto out;
  if (!update_existing) {
    snprintf(sql, sizeof sql,
             "create index logg_idx on files(logg);create index teff_idx on files(teff);"
             "create index met_idx on files(%s);create index id_idx on files(id);",
             params[2]);
    st = db_exec(db, sql, dbfile);
    if (st) goto out;
  }
  st = db_exec(db, "COMMIT", dbfile);

out:
  if (db) {
    if (st) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    if (sqlite3_close(db) != SQLITE_OK && !st)
      st = rvs_error(RVS_ERR_IO, "%s: cannot close sqlite database", dbfile);
  }
  globfree(&gl);
  if (!update_existing) {
    if (st) rvs_atomic_abort(tmp);
    else st = rvs_atomic_commit(tmp, dbfile);
  }
  if (st) return st;
  if (update_existing)
    rvs_log(RVS_LOG_INFO, "Update mode: inserted %zu new templates, skipped %zu existing templates",
            nins, nskip);
  if (ninserted) *ninserted = nins;
  if (nskipped) *nskipped = nskip;
  if (nbad) *nbad = nb;
  return RVS_OK;
}

int rvs_grid_db_mark_bad(const char *dbfile, const char *listfile, size_t *nmarked) {
  *nmarked = 0;
  FILE *fp = fopen(listfile, "r");
  if (!fp) return rvs_error(RVS_ERR_IO, "%s: cannot open list of bad templates", listfile);
  sqlite3 *db = NULL;
  int st = RVS_OK;
  if (!file_exists(dbfile) || sqlite3_open_v2(dbfile, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
    st = rvs_error(RVS_ERR_IO, "%s: cannot open sqlite database", dbfile);
    goto out;
  }
  st = db_exec(db, "BEGIN", dbfile);
  sqlite3_stmt *q = NULL;
  if (!st && sqlite3_prepare_v2(db, "update files set bad = 1 where filename = ? and not bad", -1,
                                &q, NULL) != SQLITE_OK)
    st = rvs_error(RVS_ERR_FORMAT, "%s: sqlite: %s", dbfile, sqlite3_errmsg(db));
  char line[4096];
  while (!st && fgets(line, sizeof line, fp)) {
    char *s = line;
    while (isspace((unsigned char)*s)) s++;
    size_t len = strlen(s);
    while (len && isspace((unsigned char)s[len - 1])) s[--len] = '\0';
    if (!len || s[0] == '#') continue;
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, s, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) != SQLITE_DONE)
      st = rvs_error(RVS_ERR_IO, "%s: sqlite update: %s", dbfile, sqlite3_errmsg(db));
    else
      *nmarked += (size_t)sqlite3_changes(db);
  }
  sqlite3_finalize(q);
  if (!st) st = db_exec(db, "COMMIT", dbfile);
  else sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
  if (db) sqlite3_close(db);
  fclose(fp);
  return st;
}

void rvs_grid_list_free(rvs_grid_list *l) {
  if (!l) return;
  if (l->filenames)
    for (size_t i = 0; i < l->nspec; i++) free(l->filenames[i]);
  free(l->filenames);
  free(l->vec);
  free(l->ids);
  memset(l, 0, sizeof *l);
}

int rvs_grid_db_fetch(const char *dbfile, const char *const *parnames, size_t nparam,
                      rvs_grid_list *out) {
  memset(out, 0, sizeof *out);
  if (nparam < 1) return rvs_error(RVS_ERR_ARG, "%s: no parameter names", dbfile);
  for (size_t i = 0; i < nparam; i++)
    if (!valid_ident(parnames[i]))
      return rvs_error(RVS_ERR_ARG, "%s: parameter name '%s' is not a valid column name", dbfile,
                       parnames[i] ? parnames[i] : "");
  if (!file_exists(dbfile))
    return rvs_error(RVS_ERR_IO, "%s: the template database file does not exist", dbfile);
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(dbfile, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    sqlite3_close(db);
    return rvs_error(RVS_ERR_IO, "%s: cannot open sqlite database", dbfile);
  }
  int st = RVS_OK;
  sqlite3_stmt *q = NULL;
  if (sqlite3_prepare_v2(db,
                         "select count(*) from sqlite_master where type='table' and "
                         "name='grid_parameters'",
                         -1, &q, NULL) != SQLITE_OK ||
      sqlite3_step(q) != SQLITE_ROW) {
    st = rvs_error(RVS_ERR_FORMAT, "%s: not an sqlite template database: %s", dbfile,
                   sqlite3_errmsg(db));
    goto out;
  }
  int has_gp = sqlite3_column_int(q, 0) == 1;
  sqlite3_finalize(q);
  q = NULL;
  if (has_gp) {
    if (sqlite3_prepare_v2(db, "select count(*) from grid_parameters", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
      st = rvs_error(RVS_ERR_FORMAT, "%s: %s", dbfile, sqlite3_errmsg(db));
      goto out;
    }
    long long ng = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    q = NULL;
    if (ng != (long long)nparam) {
      st = rvs_error(RVS_ERR_ARG,
                     "%s: %zu parameter names given but the database says there are %lld", dbfile,
                     nparam, ng);
      goto out;
    }
  } else {
    rvs_log(RVS_LOG_WARNING, "%s: older database without grid_parameters; rerunning rvs_read_grid "
            "would upgrade it", dbfile);
  }
  char sql[4096], plist[2048];
  size_t len = 0;
  plist[0] = '\0';
  for (size_t i = 0; i < nparam; i++) {
    int w = snprintf(plist + len, sizeof plist - len, "%s%s", i ? "," : "", parnames[i]);
    if (w < 0 || (size_t)w >= sizeof plist - len) {
      st = rvs_error(RVS_ERR_ARG, "%s: too many parameter names", dbfile);
      goto out;
    }
    len += (size_t)w;
  }
  int wq = snprintf(sql, sizeof sql, "select id, %s, filename from files where not bad order by %s",
                    plist, plist);
  if (wq < 0 || (size_t)wq >= sizeof sql) {
    st = rvs_error(RVS_ERR_ARG, "%s: too many parameter names", dbfile);
    goto out;
  }
  if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
    st = rvs_error(RVS_ERR_FORMAT, "%s: %s", dbfile, sqlite3_errmsg(db));
    goto out;
  }
  size_t cap = 0, n = 0;
  double *rows = NULL; /* [n][nparam], transposed at the end */
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    if (n == cap) {
      size_t nc = cap ? 2 * cap : 256;
      double *r2 = realloc(rows, nc * nparam * sizeof(double));
      long long *i2 = r2 ? realloc(out->ids, nc * sizeof(long long)) : NULL;
      if (i2) out->ids = i2;
      char **f2 = i2 ? realloc(out->filenames, nc * sizeof(char *)) : NULL;
      if (r2) rows = r2;
      if (f2) out->filenames = f2;
      if (!r2 || !i2 || !f2) {
        st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", dbfile);
        break;
      }
      cap = nc;
    }
    if (sqlite3_column_type(q, 0) == SQLITE_NULL) {
      st = rvs_error(RVS_ERR_FORMAT, "%s: a row of table files has no id", dbfile);
      break;
    }
    out->ids[n] = sqlite3_column_int64(q, 0);
    for (size_t i = 0; i < nparam; i++) {
      if (sqlite3_column_type(q, 1 + (int)i) == SQLITE_NULL) {
        st = rvs_error(RVS_ERR_FORMAT, "%s: template id %lld has no value of %s", dbfile,
                       out->ids[n], parnames[i]);
        break;
      }
      rows[n * nparam + i] = sqlite3_column_double(q, 1 + (int)i);
    }
    if (st) break;
    const unsigned char *fn = sqlite3_column_text(q, 1 + (int)nparam);
    if (!fn) {
      st = rvs_error(RVS_ERR_FORMAT, "%s: template id %lld has no filename", dbfile, out->ids[n]);
      break;
    }
    out->filenames[n] = strdup((const char *)fn);
    if (!out->filenames[n]) {
      st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", dbfile);
      break;
    }
    n++;
  }
  out->nspec = n;
  if (!st && rc != SQLITE_DONE)
    st = rvs_error(RVS_ERR_FORMAT, "%s: %s", dbfile, sqlite3_errmsg(db));
  if (!st && n == 0) st = rvs_error(RVS_ERR_FORMAT, "%s: no good templates in the database", dbfile);
  if (!st) {
    out->vec = malloc(n * nparam * sizeof(double));
    if (!out->vec) st = rvs_error(RVS_ERR_NOMEM, "%s: out of memory", dbfile);
    else
      for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < nparam; i++) out->vec[i * n + k] = rows[k * nparam + i];
  }
  free(rows);
  out->nparam = nparam;
out:
  sqlite3_finalize(q);
  sqlite3_close(db);
  if (st) rvs_grid_list_free(out);
  return st;
}
