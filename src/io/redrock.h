/* Redrock redshift files next to a DESI coadd, for rvs_desi_fit
 * --zbest_select / --zbest_include (upstream get_zbest_fname and the zbest
 * part of select_fibers_to_fit, ALGORITHM.md §5.2). */
#ifndef RVS_IO_REDROCK_H
#define RVS_IO_REDROCK_H

#include <stddef.h>
#include <stdint.h>

#define RVS_RR_SPECTYPE_LEN 16  /* = rvs_desi_row.rr_spectype */
#define RVS_RR_SUBTYPE_LEN 32   /* = rvs_desi_row.rr_subtype */

typedef struct rvs_redrock {
  size_t nrows;
  int64_t *targetid;                       /* [nrows] */
  double *z;                               /* [nrows] */
  char (*spectype)[RVS_RR_SPECTYPE_LEN];   /* [nrows], trailing blanks removed */
  char (*subtype)[RVS_RR_SUBTYPE_LEN];     /* [nrows] */
} rvs_redrock;

/* Upstream get_zbest_fname: for an input named coadd-X or spectra-X (a
 * trailing .gz ignored), the first existing file of redrock-X, redrock-X.gz
 * (HDU REDSHIFTS), zbest-X, zbest-X.gz (HDU ZBEST) in the same folder.
 * Returns 1 and fills path/extname when found, 0 when not (or when the input
 * name has neither prefix); tried[] then lists the first name looked for
 * ("" when the prefix is unknown). */
int rvs_redrock_find(const char *input, char *path, size_t pcap, char *extname, size_t ecap,
                     char *tried, size_t tcap);

/* Read TARGETID, Z, SPECTYPE, SUBTYPE of table HDU `extname`.  Any problem
 * (missing file, HDU or column, corrupt data) is an error whose one-line
 * message names the file; *out is then empty (safe to free). */
int rvs_redrock_read(const char *path, const char *extname, rvs_redrock *out);

void rvs_redrock_free(rvs_redrock *r);

#endif
