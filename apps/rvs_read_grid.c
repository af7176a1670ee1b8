/* rvs_read_grid: build the SQLite template database of a folder of template
 * FITS files (upstream rvs_read_grid / read_grid.py:makedb; same schema, so
 * the .db works with both tools). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rvs/log.h"
#include "rvs/status.h"
#include "templates/grid_db.h"

#define PROG_VERSION "0.1.0"

static void usage(FILE *f, const char *prog) {
  fprintf(f,
          "Usage: %s [--prefix DIR] [--glob_mask MASK] [--templdb FILE] [options]\n"
          "\n"
          "Create the database describing the templates: reads the primary header of\n"
          "every file matching PREFIX+MASK (sorted) and writes an SQLite database with\n"
          "tables grid_parameters and files (filename relative to PREFIX, teff, logg,\n"
          "metallicity, alpha, extra parameters, id, bad), as upstream rvspecfit.\n"
          "\n"
          "  --prefix DIR               location of the input grid (default ./); the glob\n"
          "                             pattern is PREFIX followed by MASK, so end it with /\n"
          "  --glob_mask MASK           mask to find the spectra (default */*fits)\n"
          "  --templdb FILE             the SQLite database to write (default files.db)\n"
          "  --keyword_teff KEY         header keyword of teff (default PHXTEFF)\n"
          "  --keyword_logg KEY         header keyword of logg (default PHXLOGG)\n"
          "  --keyword_metallicity KEY  header keyword of metallicity (default PHXM_H)\n"
          "  --keyword_alpha KEY        header keyword of alpha (default PHXALPHA)\n"
          "  --name_metallicity NAME    column name of the metallicity (default feh)\n"
          "  --name_alpha NAME          column name of alpha (default alpha)\n"
          "  --extra_params LIST        extra parameters as comma separated name:KEYWORD\n"
          "                             pairs, e.g. vmic:VMIC (default none)\n"
          "  --update                   keep an existing database and add only files not yet\n"
          "                             in it (default: recreate the database)\n"
          "  --check_data               also read every spectrum and mark those with\n"
          "                             non-finite or non-positive flux as bad (rvspecfit-c\n"
          "                             extension; default off, as upstream)\n"
          "  --bad_list FILE            after scanning, mark the templates listed in FILE\n"
          "                             (relative filenames, one per line, # comments) as bad\n"
          "                             (rvspecfit-c extension)\n"
          "  --log_level L              DEBUG, INFO, WARNING or ERROR (default WARNING)\n"
          "  --help                     show this help and exit\n"
          "  --version                  show the version and exit\n",
          prog);
}

int main(int argc, char **argv) {
  rvs_grid_db_opts o;
  rvs_grid_db_opts_default(&o);
  char *extra = NULL;
  const char *bad_list = NULL;
  enum { O_PREFIX = 1000, O_KT, O_KL, O_KA, O_KM, O_NM, O_NA, O_EXTRA, O_MASK, O_DB, O_UPDATE,
         O_CHECK, O_BAD, O_LOG, O_HELP, O_VERSION };
  static const struct option opts[] = {{"prefix", required_argument, 0, O_PREFIX},
                                       {"keyword_teff", required_argument, 0, O_KT},
                                       {"keyword_logg", required_argument, 0, O_KL},
                                       {"keyword_alpha", required_argument, 0, O_KA},
                                       {"keyword_metallicity", required_argument, 0, O_KM},
                                       {"name_metallicity", required_argument, 0, O_NM},
                                       {"name_alpha", required_argument, 0, O_NA},
                                       {"extra_params", required_argument, 0, O_EXTRA},
                                       {"glob_mask", required_argument, 0, O_MASK},
                                       {"templdb", required_argument, 0, O_DB},
                                       {"update", no_argument, 0, O_UPDATE},
                                       {"check_data", no_argument, 0, O_CHECK},
                                       {"bad_list", required_argument, 0, O_BAD},
                                       {"log_level", required_argument, 0, O_LOG},
                                       {"help", no_argument, 0, O_HELP},
                                       {"version", no_argument, 0, O_VERSION},
                                       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case O_PREFIX: o.prefix = optarg; break;
    case O_KT: o.keyword_teff = optarg; break;
    case O_KL: o.keyword_logg = optarg; break;
    case O_KA: o.keyword_alpha = optarg; break;
    case O_KM: o.keyword_metallicity = optarg; break;
    case O_NM: o.name_metallicity = optarg; break;
    case O_NA: o.name_alpha = optarg; break;
    case O_EXTRA: extra = optarg; break;
    case O_MASK: o.glob_mask = optarg; break;
    case O_DB: o.dbfile = optarg; break;
    case O_UPDATE: o.update = 1; break;
    case O_CHECK: o.check_data = 1; break;
    case O_BAD: bad_list = optarg; break;
    case O_LOG: {
      int lv = rvs_parse_log_level(optarg);
      if (lv < 0) {
        fprintf(stderr, "%s: --log_level: unknown level '%s'\n", argv[0], optarg);
        return 2;
      }
      rvs_set_log_level(lv);
      break;
    }
    case O_HELP: usage(stdout, argv[0]); return 0;
    case O_VERSION: printf("rvs_read_grid (rvspecfit-c) %s\n", PROG_VERSION); return 0;
    default: usage(stderr, argv[0]); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", argv[0], argv[optind]);
    return 2;
  }
  if (extra && rvs_grid_db_parse_extra(&o, extra)) {
    fprintf(stderr, "%s: %s\n", argv[0], rvs_last_error());
    return 2;
  }
  size_t nins = 0, nskip = 0, nbad = 0;
  if (rvs_grid_db_make(&o, &nins, &nskip, &nbad)) {
    fprintf(stderr, "%s: %s\n", argv[0], rvs_last_error());
    return 1;
  }
  rvs_log(RVS_LOG_INFO, "%s: %zu templates added (%zu skipped, %zu marked bad)", o.dbfile, nins,
          nskip, nbad);
  if (bad_list) {
    size_t nm = 0;
    if (rvs_grid_db_mark_bad(o.dbfile, bad_list, &nm)) {
      fprintf(stderr, "%s: %s\n", argv[0], rvs_last_error());
      return 1;
    }
    rvs_log(RVS_LOG_INFO, "%s: %zu templates marked bad from %s", o.dbfile, nm, bad_list);
  }
  return 0;
}
