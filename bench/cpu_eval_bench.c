/* CPU-backend evaluate() cost on DESI-sized spectra (the scene of
 * tests/gpu/gpu_scene.h: 3 arms, 2751/2326/2881 observed and 6200/5300/6450
 * template pixels, 11-diagonal bands on 6 of 7 spectra, P=10, Delaunay over
 * float32 vertices).  Mixes as gpu_bench: distinct (a new template per
 * request, half with vsini), velgrid (runs of 400 velocities, one template),
 * fitlike (45% of the requests in runs of 100).  Reports microseconds per
 * evaluation (CPU time of the process / evaluations, and wall), the median of
 * the repeats.  Also a checksum of the results, to see that a change of the
 * kernels leaves them (nearly) unchanged.
 * Usage: cpu_eval_bench [nspec=16] [batch=2000] [reps=5] [mix...] */
#include "gpu/gpu_scene.h"

#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmpd(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

enum { MIX_DISTINCT, MIX_VELGRID, MIX_FITLIKE, MIX_FULL };
static const char *MIXNAME[] = {"distinct", "velgrid", "fitlike", "full"};

static void fill(const sc_scene *S, const int *slots, int mix, size_t n, rvs_eval_request *r) {
  size_t i = 0;
  int k = 0;
  while (i < n) {
    int run = 1;
    if (mix == MIX_VELGRID) run = 400;
    if (mix == MIX_FITLIKE) run = sc_uniform() < 0.45 / (0.45 + 0.55 * 100) ? 100 : 1;
    double p[RVS_MAXPAR];
    sc_params_near(S->ptrue[k], run > 1 ? 0.2 : 0.5, p);
    double vs = sc_uniform() < 0.5 ? -1 : 5 + 100 * sc_uniform();
    for (int g = 0; g < run && i < n; g++, i++) {
      rvs_eval_request *q = &r[i];
      memset(q, 0, sizeof *q);
      q->slot = slots[k];
      q->kind = mix == MIX_FULL ? RVS_EVAL_FULL : RVS_EVAL_CHISQ;
      q->vel = run > 1 ? -500 + 1000.0 * g / (run - 1) : S->vtrue[k] + 30 * sc_normal();
      q->vsini = vs;
      memcpy(q->params, p, sizeof p);
    }
    k = (k + 1) % S->nspec;
  }
}

int main(int argc, char **argv) {
  int nspec = 16, reps = 5;
  size_t n = 2000;
  int mixes[4], nmix = 0;
  int pos = 0;
  for (int i = 1; i < argc; i++) {
    int m = -1;
    for (int q = 0; q < 4; q++)
      if (!strcmp(argv[i], MIXNAME[q])) m = q;
    if (m >= 0) {
      mixes[nmix++] = m;
      continue;
    }
    if (pos == 0) nspec = atoi(argv[i]);
    else if (pos == 1) n = (size_t)strtoull(argv[i], NULL, 10);
    else if (pos == 2) reps = atoi(argv[i]);
    pos++;
  }
  if (!nmix) {
    mixes[0] = MIX_DISTINCT;
    mixes[1] = MIX_VELGRID;
    mixes[2] = MIX_FITLIKE;
    nmix = 3;
  }
  if (reps < 1) reps = 1;
  if (reps > 64) reps = 64;
  int nthreads = 1;
#ifdef _OPENMP
  nthreads = omp_get_max_threads();
#endif
  double tb = now();
  sc_scene S;
  if (sc_scene_build(&S, 3, SC_DESI, RVS_INTERP_TRIANGULATION, 32, nspec, 12345)) {
    fprintf(stderr, "scene: %s\n", rvs_last_error());
    return 2;
  }
  printf("cpu_eval_bench: %d threads, %d spectra, scene built in %.1f s\n", nthreads, nspec,
         now() - tb);
  rvs_backend_options opt;
  rvs_backend_options_default(&opt);
  opt.npoly = 10;
  rvs_backend *cpu = NULL;
  if (rvs_backend_cpu_create(&S.lib, &opt, &cpu)) {
    fprintf(stderr, "backend: %s\n", rvs_last_error());
    return 2;
  }
  int *slots = (int *)malloc(sizeof(int) * (size_t)nspec);
  for (int k = 0; k < nspec; k++)
    if (cpu->add_slot(cpu, &S.spec[k], &slots[k])) {
      fprintf(stderr, "add_slot: %s\n", rvs_last_error());
      return 2;
    }
  rvs_eval_request *req = (rvs_eval_request *)malloc(sizeof *req * n);
  rvs_eval_result *res = (rvs_eval_result *)malloc(sizeof *res * n);
  if (!slots || !req || !res) return 2;
  printf("%-9s %7s %10s %10s %22s\n", "mix", "batch", "cpu_us", "wall_us", "checksum");
  for (int mi = 0; mi < nmix; mi++) {
    int mix = mixes[mi];
    sc_seed(777 + (uint64_t)mix);
    fill(&S, slots, mix, n, req);
    if (cpu->evaluate(cpu, req, n, res)) { /* warm-up */
      fprintf(stderr, "evaluate: %s\n", rvs_last_error());
      return 2;
    }
    double tc[64], tw[64];
    for (int r = 0; r < reps; r++) {
      double c0 = cpu_now(), w0 = now();
      if (cpu->evaluate(cpu, req, n, res)) return 2;
      tc[r] = cpu_now() - c0;
      tw[r] = now() - w0;
    }
    qsort(tc, (size_t)reps, sizeof(double), cmpd);
    qsort(tw, (size_t)reps, sizeof(double), cmpd);
    double sum = 0;
    long bad = 0;
    for (size_t i = 0; i < n; i++) {
      if (res[i].status != RVS_OK || !isfinite(res[i].m2lnl)) bad++;
      else sum += res[i].m2lnl;
    }
    printf("%-9s %7zu %10.1f %10.1f %22.15e%s\n", MIXNAME[mix], n, 1e6 * tc[reps / 2] / (double)n,
           1e6 * tw[reps / 2] / (double)n, sum, bad ? "  (non-OK results)" : "");
  }
  cpu->destroy(cpu);
  sc_scene_free(&S);
  free(slots);
  free(req);
  free(res);
  return 0;
}
