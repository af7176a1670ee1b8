/* The template database (rvs_read_grid): schema and content as upstream's
 * read_grid.makedb writes them, update mode, bad templates, and the
 * make_interpol query. */
#include "rvs_test.h"

#include <sqlite3.h>

#include "rvs/status.h"
#include "templates/grid_db.h"
#include "test_prep_grid.h"

#define SCR RVS_TEST_SCRATCH "/test_grid_db"

static const double TEFFS[3] = {4500, 5000, 6000};
static const double LOGGS[2] = {2.0, 4.5};
static const double FEHS[2] = {-1.0, 0.0};
static const double ALPHAS[1] = {0.2};

static void make_grid(const char *dir) {
  prep_rmtree(dir);
  assert_int_equal(prep_make_grid(dir, TEFFS, 3, LOGGS, 2, FEHS, 2, ALPHAS, 1, 5000, 5010, 0.5,
                                  NULL, NULL),
                   0);
}

static void opts_for(rvs_grid_db_opts *o, const char *dir, char *prefix, char *db) {
  rvs_grid_db_opts_default(o);
  sprintf(prefix, "%s/grid/", dir);
  sprintf(db, "%s/files.db", dir);
  o->prefix = prefix;
  o->dbfile = db;
}

static long long query_int(const char *db, const char *sql) {
  sqlite3 *h = NULL;
  assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *q = NULL;
  assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &q, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  long long v = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(h);
  return v;
}

/* Every row: relative filename in sorted order, id = position, the header
 * values, bad = 0; grid_parameters lists the names in order. */
static void db_content(void **state) {
  (void)state;
  const char *dir = SCR "/content";
  make_grid(dir);
  rvs_grid_db_opts o;
  char prefix[512], db[512];
  opts_for(&o, dir, prefix, db);
  size_t nins = 0, nskip = 0, nbad = 0;
  assert_int_equal(rvs_grid_db_make(&o, &nins, &nskip, &nbad), RVS_OK);
  assert_int_equal(nins, 12);
  assert_int_equal(nskip, 0);
  assert_int_equal(query_int(db, "select count(*) from files"), 12);
  assert_int_equal(query_int(db, "select count(*) from files where bad"), 0);
  assert_int_equal(query_int(db, "select count(*) from grid_parameters"), 4);
  assert_int_equal(query_int(db, "select id from grid_parameters where name='feh'"), 2);
  assert_int_equal(query_int(db, "select id from grid_parameters where name='alpha'"), 3);
  assert_int_equal(query_int(db, "select count(*) from sqlite_master where type='index'"), 4);

  sqlite3 *h = NULL;
  assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *q = NULL;
  assert_int_equal(sqlite3_prepare_v2(h,
                                      "select filename, teff, logg, feh, alpha, id, bad from "
                                      "files order by id",
                                      -1, &q, NULL),
                   SQLITE_OK);
  char prev[512] = "";
  int k = 0;
  while (sqlite3_step(q) == SQLITE_ROW) {
    const char *fn = (const char *)sqlite3_column_text(q, 0);
    assert_true(strncmp(fn, "Z_logg", 6) == 0); /* relative to the prefix */
    assert_true(strcmp(prev, fn) < 0);          /* sorted glob order */
    snprintf(prev, sizeof prev, "%s", fn);
    assert_int_equal(sqlite3_column_int(q, 5), k);
    assert_int_equal(sqlite3_column_int(q, 6), 0);
    /* the header values written for this file name */
    double teff = sqlite3_column_double(q, 1), logg = sqlite3_column_double(q, 2);
    double feh = sqlite3_column_double(q, 3), alpha = sqlite3_column_double(q, 4);
    char expect[512];
    snprintf(expect, sizeof expect, "Z_logg%.1f/lte%05.0f%+.2f%+.1f.a%+.2f.fits", logg, teff,
             -logg, feh, alpha);
    assert_string_equal(fn, expect);
    assert_true(sqlite3_column_type(q, 1) == SQLITE_FLOAT);
    k++;
  }
  sqlite3_finalize(q);
  sqlite3_close(h);
  assert_int_equal(k, 12);
}

/* Extra parameter columns (name:KEY); a missing keyword names file and key. */
static void extra_params_and_missing_keyword(void **state) {
  (void)state;
  const char *dir = SCR "/extra";
  make_grid(dir);
  rvs_grid_db_opts o;
  char prefix[512], db[512];
  opts_for(&o, dir, prefix, db);
  char spec[] = "vmic:PHXTEFF";
  assert_int_equal(rvs_grid_db_parse_extra(&o, spec), RVS_OK);
  assert_int_equal(o.nextra, 1);
  assert_int_equal(rvs_grid_db_make(&o, NULL, NULL, NULL), RVS_OK);
  assert_int_equal(query_int(db, "select count(*) from files where vmic = teff"), 12);
  assert_int_equal(query_int(db, "select id from grid_parameters where name='vmic'"), 4);

  char bad[] = "vturb:VTURB";
  assert_int_equal(rvs_grid_db_parse_extra(&o, bad), RVS_OK);
  int st = rvs_grid_db_make(&o, NULL, NULL, NULL);
  assert_int_equal(st, RVS_ERR_FORMAT);
  assert_non_null(strstr(rvs_last_error(), "VTURB"));
  assert_non_null(strstr(rvs_last_error(), ".fits"));
  /* the failed run left the previous database intact */
  assert_int_equal(query_int(db, "select count(*) from files where vmic = teff"), 12);

  char malformed[] = "vmic";
  assert_int_equal(rvs_grid_db_parse_extra(&o, malformed), RVS_ERR_ARG);
}

/* --update adds only new files, with ids continuing after the largest. */
static void update_mode(void **state) {
  (void)state;
  const char *dir = SCR "/update";
  make_grid(dir);
  rvs_grid_db_opts o;
  char prefix[512], db[512];
  opts_for(&o, dir, prefix, db);
  assert_int_equal(rvs_grid_db_make(&o, NULL, NULL, NULL), RVS_OK);
  /* one more template */
  char path[512], wave[512];
  snprintf(wave, sizeof wave, "%s/grid/WAVE.fits", dir);
  snprintf(path, sizeof path, "%s/grid/Z_logg2.0/lte07000-2.00+0.0.a+0.20.fits", dir);
  double lam[3] = {5000, 5001, 5002}, par[4] = {7000, 2.0, 0.0, 0.2};
  assert_int_equal(prep_write_template(path, lam, 3, par, prep_default_flux, NULL), 0);
  o.update = 1;
  size_t nins = 99, nskip = 99;
  assert_int_equal(rvs_grid_db_make(&o, &nins, &nskip, NULL), RVS_OK);
  assert_int_equal(nins, 1);
  assert_int_equal(nskip, 12);
  assert_int_equal(query_int(db, "select count(*) from files"), 13);
  assert_int_equal(query_int(db, "select id from files where teff = 7000"), 12);
  assert_int_equal(query_int(db, "select count(*) from grid_parameters"), 4);
  /* without update the database is recreated: ids follow the sorted order again */
  o.update = 0;
  assert_int_equal(rvs_grid_db_make(&o, &nins, NULL, NULL), RVS_OK);
  assert_int_equal(nins, 13);
  assert_int_equal(query_int(db, "select count(*) from files"), 13);
  assert_int_equal(query_int(db, "select id from files where teff = 7000"), 6);
}

/* Bad templates: --bad_list and --check_data; fetch skips them and orders
 * by the parameters, vec in upstream's [nparam][nspec] layout. */
static void bad_templates_and_fetch(void **state) {
  (void)state;
  const char *dir = SCR "/bad";
  make_grid(dir);
  /* one template with a NaN */
  char path[512];
  snprintf(path, sizeof path, "%s/grid/Z_logg2.0/lte05000-2.00-1.0.a+0.20.fits", dir);
  double lam[4] = {5000, 5001, 5002, 5003}, par[4] = {5000, 2.0, -1.0, 0.2};
  float fl[4] = {1, NAN, 1, 1};
  static const char *const keys[] = {"PHXTEFF", "PHXLOGG", "PHXM_H", "PHXALPHA"};
  (void)lam;
  assert_int_equal(prep_write_image(path, FLOAT_IMG, TFLOAT, fl, 4, 4, keys, par), 0);
  rvs_grid_db_opts o;
  char prefix[512], db[512];
  opts_for(&o, dir, prefix, db);
  o.check_data = 1;
  size_t nbad = 0;
  assert_int_equal(rvs_grid_db_make(&o, NULL, NULL, &nbad), RVS_OK);
  assert_int_equal(nbad, 1);
  assert_int_equal(query_int(db, "select bad from files where teff=5000 and logg=2 and feh=-1"), 1);

  char list[512];
  snprintf(list, sizeof list, "%s/bad.txt", dir);
  FILE *fp = fopen(list, "w");
  assert_non_null(fp);
  fprintf(fp, "# broken models\nZ_logg4.5/lte06000-4.50+0.0.a+0.20.fits\n\nno/such.fits\n");
  fclose(fp);
  size_t nm = 0;
  assert_int_equal(rvs_grid_db_mark_bad(db, list, &nm), RVS_OK);
  assert_int_equal(nm, 1);
  assert_int_equal(query_int(db, "select count(*) from files where bad"), 2);

  const char *pn[4] = {"teff", "logg", "feh", "alpha"};
  rvs_grid_list gl;
  assert_int_equal(rvs_grid_db_fetch(db, pn, 4, &gl), RVS_OK);
  assert_int_equal(gl.nspec, 10);
  assert_int_equal(gl.nparam, 4);
  /* sorted by teff, then logg, then feh */
  for (size_t k = 1; k < gl.nspec; k++) {
    double a[3] = {gl.vec[k - 1], gl.vec[gl.nspec + k - 1], gl.vec[2 * gl.nspec + k - 1]};
    double b[3] = {gl.vec[k], gl.vec[gl.nspec + k], gl.vec[2 * gl.nspec + k]};
    int le = a[0] < b[0] || (a[0] == b[0] && (a[1] < b[1] || (a[1] == b[1] && a[2] <= b[2])));
    assert_true(le);
  }
  for (size_t k = 0; k < gl.nspec; k++) {
    assert_false(gl.vec[k] == 6000 && gl.vec[gl.nspec + k] == 4.5 && gl.vec[2 * gl.nspec + k] == 0);
    assert_false(gl.vec[k] == 5000 && gl.vec[gl.nspec + k] == 2.0 && gl.vec[2 * gl.nspec + k] == -1);
    assert_close_abs(gl.vec[3 * gl.nspec + k], 0.2, 1e-15);
    /* the id and filename belong to these parameters */
    char expect[512];
    snprintf(expect, sizeof expect, "Z_logg%.1f/lte%05.0f%+.2f%+.1f.a%+.2f.fits",
             gl.vec[gl.nspec + k], gl.vec[k], -gl.vec[gl.nspec + k], gl.vec[2 * gl.nspec + k], 0.2);
    assert_string_equal(gl.filenames[k], expect);
    char sql[1024];
    snprintf(sql, sizeof sql, "select id from files where filename='%s'", expect);
    assert_int_equal(gl.ids[k], query_int(db, sql));
  }
  rvs_grid_list_free(&gl);

  /* the number of parameter names must match grid_parameters */
  assert_int_equal(rvs_grid_db_fetch(db, pn, 3, &gl), RVS_ERR_ARG);
  assert_non_null(strstr(rvs_last_error(), "files.db"));
  const char *evil[4] = {"teff", "logg", "feh; drop table files", "alpha"};
  assert_int_equal(rvs_grid_db_fetch(db, evil, 4, &gl), RVS_ERR_ARG);
}

/* No file matches the mask; a missing database. */
static void no_templates(void **state) {
  (void)state;
  const char *dir = SCR "/empty";
  prep_rmtree(dir);
  assert_int_equal(rvs_mkdir_p(dir), 0);
  rvs_grid_db_opts o;
  char prefix[512], db[512];
  opts_for(&o, dir, prefix, db);
  assert_int_equal(rvs_grid_db_make(&o, NULL, NULL, NULL), RVS_ERR_IO);
  assert_non_null(strstr(rvs_last_error(), "no FITS templates"));
  assert_int_equal(access(db, F_OK), -1); /* nothing written */
  rvs_grid_list gl;
  const char *pn[4] = {"teff", "logg", "feh", "alpha"};
  assert_int_equal(rvs_grid_db_fetch(db, pn, 4, &gl), RVS_ERR_IO);
  assert_non_null(strstr(rvs_last_error(), "files.db"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(db_content),
    cmocka_unit_test(extra_params_and_missing_keyword),
    cmocka_unit_test(update_mode),
    cmocka_unit_test(bad_templates_and_fetch),
    cmocka_unit_test(no_templates),
};

RVS_TEST_MAIN(tests)
