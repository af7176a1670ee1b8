/* rvs_desi_fit's work on one coadd file (upstream desi_fit.proc_desi):
 * read, select fibers, clean each arm, fit every selected fiber in batches,
 * write rvtab_/rvmod_ files. */
#ifndef RVS_DRIVER_DESI_FIT_H
#define RVS_DRIVER_DESI_FIT_H

#include "driver/desi_select.h"
#include "rvs/rvspecfit.h"

typedef struct rvs_desi_options {
  char fitarm[4];              /* "brz" subset */
  int npoly;                   /* 10 */
  int resolution_matrix;       /* --resolution_matrix */
  int param_init;              /* RVS_INIT_CCF / RVS_INIT_BRUTEFORCE */
  rvs_select_opts select;
  const char *output_dir;      /* "./" */
  int no_subdirs;
  const char *tab_prefix, *mod_prefix; /* "rvtab", "rvmod" */
  int skipexisting;
  const char *cmdline;
  int progress;                /* print a progress line (stderr is a terminal) */
} rvs_desi_options;

void rvs_desi_options_default(rvs_desi_options *o);

typedef struct rvs_desi_file_stats {
  size_t nrows, nselected, nfitted, nbad;
  double seconds;
  int skipped_existing;
} rvs_desi_file_stats;

/* Output file names of an input (upstream proc_many naming). */
int rvs_desi_output_paths(const rvs_desi_options *o, const char *input, char *tab, char *mod,
                          size_t cap);

/* The two halves of rvs_desi_process_file, so that the spectra of several
 * files can be fitted in one stream (rvs_fit_stream):
 *   prepare: read, select, clean -> the spectra to fit (a chunk);
 *   finish:  rows from the fit outputs, write rvtab_/rvmod_ atomically.
 * prepare returns RVS_OK with *out == NULL when the file is skipped
 * (--skipexisting, st->skipped_existing set). */
typedef struct rvs_desi_file rvs_desi_file;
int rvs_desi_prepare_file(rvs_context *ctx, const rvs_config *cfg, const rvs_desi_options *o,
                          const char *path, rvs_desi_file **out, rvs_desi_file_stats *st);
/* The spectra to fit and where their outputs go (n may be 0). */
void rvs_desi_file_chunk(rvs_desi_file *f, rvs_fit_chunk *chunk);
size_t rvs_desi_file_nfit(const rvs_desi_file *f);
/* The context that fits it (and names its parameters when it is written);
 * a file prepared by one thread may be fitted by another worker's context. */
void rvs_desi_file_set_context(rvs_desi_file *f, rvs_context *ctx);
const char *rvs_desi_file_path(const rvs_desi_file *f);
void rvs_desi_file_outputs(const rvs_desi_file *f, const char **tab, const char **mod);
/* After the chunk's fits are done: st gets the file's totals. */
int rvs_desi_finish_file(rvs_desi_file *f, rvs_desi_file_stats *st);
void rvs_desi_file_free(rvs_desi_file *f);

/* Process one file.  Returns RVS_OK, or an error (message names the file)
 * when the file could not be processed; then no output is left behind. */
int rvs_desi_process_file(rvs_context *ctx, const rvs_config *cfg, const rvs_desi_options *o,
                          const char *path, rvs_desi_file_stats *st);

#endif
