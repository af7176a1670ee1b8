/* Clean stop on SIGINT/SIGTERM for rvs_desi_fit.
 *
 * Between files a signal only sets a flag: the loop stops before taking the
 * next file.  While a file is being processed (rvs_signals_begin_file ..
 * rvs_signals_end_file) the fit cannot be interrupted from outside, and a file
 * may take minutes, so the handler abandons it instead: it removes the file's
 * temporary outputs ("<final>.tmp.<pid>"), and a rvtab_ committed during this
 * file whose rvmod_ is not yet committed, then _exit()s with 128+signal.  No
 * final output is ever half-written (outputs are written under temporary names
 * and renamed), so what is left is exactly the files completed before.  A
 * second signal always exits at once. */
#ifndef RVS_DRIVER_SIGNALS_H
#define RVS_DRIVER_SIGNALS_H

/* Install the SIGINT and SIGTERM handlers.  RVS_OK or RVS_ERR_IO. */
int rvs_signals_install(void);

/* The signal that asked to stop, or 0. */
int rvs_signals_stop_requested(void);

/* A file whose outputs are tab_path and mod_path starts; NULL paths when they
 * are not known (nothing to clean then). */
void rvs_signals_begin_file(const char *input, const char *tab_path, const char *mod_path);
void rvs_signals_end_file(void);

#endif
