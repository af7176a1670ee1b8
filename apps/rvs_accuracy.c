/* rvs_accuracy: compare an rvtab_*.fits with the simulator's truth table. */
#include "driver/accuracy.h"
#include "rvs/status.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *f) {
  fprintf(f,
"usage: rvs_accuracy RVTAB TRUTH [--min_sn 10] [--print N]\n"
"\n"
"Match the RVTAB rows of an rvs_desi_fit output with the truth table written by\n"
"rvs_simulate_desi (by TARGETID) and print the accuracy for stars with truth\n"
"S/N above --min_sn: median velocity offset, robust spread of the normalised\n"
"velocity residuals, outlier fraction, and parameter offsets against the\n"
"median reported errors.  --print N also lists the first N stars.\n");
}

int main(int argc, char **argv) {
  static struct option opts[] = {{"min_sn", required_argument, 0, 's'},
                                 {"print", required_argument, 0, 'p'},
                                 {"help", no_argument, 0, 'h'},
                                 {0, 0, 0, 0}};
  double min_sn = 10;
  long nprint = 0;
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c == 's') min_sn = atof(optarg);
    else if (c == 'p') nprint = atol(optarg);
    else if (c == 'h') { usage(stdout); return 0; }
    else { usage(stderr); return 2; }
  }
  if (argc - optind != 2) { usage(stderr); return 2; }
  rvs_accuracy a;
  if (rvs_accuracy_compute(argv[optind], argv[optind + 1], min_sn, &a, nprint > 0 ? stdout : NULL,
                           (size_t)(nprint > 0 ? nprint : 0))) {
    fprintf(stderr, "rvs_accuracy: %s\n", rvs_last_error());
    return 1;
  }
  rvs_accuracy_print(&a, min_sn, stdout);
  return 0;
}
