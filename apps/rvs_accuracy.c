/* rvs_accuracy: compare an rvtab_*.fits with the simulator's truth table, or
 * (--compare) two rvtab_*.fits of the same input with each other. */
#include "driver/accuracy.h"
#include "rvs/status.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *f) {
  fprintf(f,
"usage: rvs_accuracy RVTAB TRUTH [--min_sn 10] [--print N]\n"
"       rvs_accuracy --compare RVTAB_A RVTAB_B [--tol 0.05] [--min_sn X] [--list N]\n"
"\n"
"Match the RVTAB rows of an rvs_desi_fit output with the truth table written by\n"
"rvs_simulate_desi (by TARGETID) and print the accuracy for stars with truth\n"
"S/N above --min_sn: median velocity offset, robust spread of the normalised\n"
"velocity residuals, outlier fraction, and parameter offsets against the\n"
"median reported errors.  --print N also lists the first N stars.\n"
"\n"
"--compare: parity of two fits of the same data (GPU against CPU).  Rows are\n"
"matched by TARGETID; with --min_sn only pairs whose largest SN_* value in A is\n"
"above X count (default: no cut).  A value pair is within tolerance when both\n"
"are equal (NaN and NaN included) or |A-B| < tol * ERR_A, ERR_A being the\n"
"*_ERR column of file A (VRAD, TEFF, LOGG, FEH, ALPHAFE; a NaN against a\n"
"number fails).  VSINI, which has no error column, is within tolerance when\n"
"|A-B| < max(1e-3 |A|, 0.01 km/s).  Printed: matched / only-in-A / only-in-B\n"
"counts, the fraction within tolerance per parameter and for every parameter\n"
"at once, the fraction with identical RVS_WARN, max and median of\n"
"|dVRAD|/VRAD_ERR_A, and a last line 'PARITY key=value ...' for scripts.\n"
"--list N prints the N worst pairs first.\n"
"\n"
"Exit status: 0 on success (for --compare: when the VRAD, every-parameter and\n"
"RVS_WARN fractions are all >= 0.99); 1 when --compare finds them below 0.99\n"
"or no pair to compare; 2 for bad options or an unreadable file (1 for an\n"
"unreadable file without --compare).\n");
}

int main(int argc, char **argv) {
  static struct option opts[] = {{"min_sn", required_argument, 0, 's'},
                                 {"print", required_argument, 0, 'p'},
                                 {"compare", no_argument, 0, 'c'},
                                 {"tol", required_argument, 0, 't'},
                                 {"list", required_argument, 0, 'l'},
                                 {"help", no_argument, 0, 'h'},
                                 {0, 0, 0, 0}};
  double min_sn = 10, tol = 0.05;
  int min_sn_set = 0, compare = 0;
  long nprint = 0, nlist = 0;
  int c;
  char *end;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c == 's') {
      min_sn = strtod(optarg, &end);
      if (end == optarg || *end) {
        fprintf(stderr, "rvs_accuracy: --min_sn must be a number\n");
        return 2;
      }
      min_sn_set = 1;
    } else if (c == 't') {
      tol = strtod(optarg, &end);
      if (end == optarg || *end || !(tol > 0)) {
        fprintf(stderr, "rvs_accuracy: --tol must be a number > 0\n");
        return 2;
      }
    } else if (c == 'p') nprint = atol(optarg);
    else if (c == 'l') nlist = atol(optarg);
    else if (c == 'c') compare = 1;
    else if (c == 'h') { usage(stdout); return 0; }
    else { usage(stderr); return 2; }
  }
  if (argc - optind != 2) { usage(stderr); return 2; }
  if (compare) {
    if (!min_sn_set) min_sn = -INFINITY;
    rvs_parity p;
    if (rvs_parity_compute(argv[optind], argv[optind + 1], tol, min_sn, &p,
                           nlist > 0 ? stdout : NULL, (size_t)(nlist > 0 ? nlist : 0))) {
      fprintf(stderr, "rvs_accuracy: %s\n", rvs_last_error());
      return 2;
    }
    rvs_parity_print(&p, tol, min_sn, stdout);
    return rvs_parity_pass(&p) ? 0 : 1;
  }
  rvs_accuracy a;
  if (rvs_accuracy_compute(argv[optind], argv[optind + 1], min_sn, &a, nprint > 0 ? stdout : NULL,
                           (size_t)(nprint > 0 ? nprint : 0))) {
    fprintf(stderr, "rvs_accuracy: %s\n", rvs_last_error());
    return 1;
  }
  rvs_accuracy_print(&a, min_sn, stdout);
  return 0;
}
