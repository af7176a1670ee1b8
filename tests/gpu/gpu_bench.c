/* Throughput of the CUDA backend on DESI-sized spectra (3 arms: 2751/2326/2881
 * observed pixels, 6200/5300/6450 template pixels, 11-diagonal bands, P=10,
 * Delaunay interpolator with float32 vertices), for three request mixes:
 *   distinct : every request its own parameters (a new template per arm;
 *              half with vsini > 0) - Nelder-Mead, BFGS, Hessian calls;
 *   velgrid  : runs of 400 velocities sharing one template - find_best and
 *              the velocity sampler;
 *   fitlike  : 45% velocity grids (runs of 100) and 55% distinct, about the
 *              mix of one full fit (ALGORITHM.md section 6).
 * Each batch is timed (wall clock around evaluate, which returns with the
 * results on the host) after one warm-up call; the median of the repeats is
 * reported, with the CPU backend on a slice of the fitlike batch for
 * comparison.  Usage: gpu_bench [nspec] [batch sizes...] [--out FILE]. */
#include "gpu_check.h"
#include "gpu_scene.h"

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_device.h"

#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define EVALS_PER_FIT 2230.0


static int cmpd(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

enum { MIX_DISTINCT, MIX_VELGRID, MIX_FITLIKE };
static const char *MIXNAME[] = {"distinct", "velgrid", "fitlike"};

static void fill(const sc_scene *S, const int *slots, int mix, size_t n, rvs_eval_request *r) {
  size_t i = 0;
  int k = 0;
  while (i < n) {
    int run = 1;
    if (mix == MIX_VELGRID) run = 400;
    /* runs of 100 with probability q: 100q / (100q + 1 - q) = 0.45 of the requests */
    if (mix == MIX_FITLIKE) run = sc_uniform() < 0.45 / (0.45 + 0.55 * 100) ? 100 : 1;
    double p[RVS_MAXPAR];
    sc_params_near(S->ptrue[k], run > 1 ? 0.2 : 0.5, p);
    double vs = sc_uniform() < 0.5 ? -1 : 5 + 100 * sc_uniform();
    for (int g = 0; g < run && i < n; g++, i++) {
      rvs_eval_request *q = &r[i];
      memset(q, 0, sizeof *q);
      q->slot = slots[k];
      q->kind = RVS_EVAL_CHISQ;
      q->vel = run > 1 ? -500 + 1000.0 * g / (run - 1) : S->vtrue[k] + 30 * sc_normal();
      q->vsini = vs;
      memcpy(q->params, p, sizeof p);
    }
    k = (k + 1) % S->nspec;
  }
}

int main(int argc, char **argv) {
  int nspec = 256;
  size_t sizes[8];
  int nsizes = 0;
  const char *out = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
    else if (i == 1) nspec = atoi(argv[i]);
    else if (nsizes < 8) sizes[nsizes++] = (size_t)strtoull(argv[i], NULL, 10);
  }
  if (!nsizes) {
    sizes[0] = 10000;
    sizes[1] = 100000;
    nsizes = 2;
  }
  FILE *rep = out ? fopen(out, "w") : NULL;
  rvs_cuda_device_info info;
  if (rvs_cuda_device_count() < 1 || rvs_cuda_device_query(0, &info)) {
    printf("FAIL  no CUDA device\n");
    return 1;
  }
  int nthreads = 1;
#ifdef _OPENMP
  nthreads = omp_get_max_threads();
#endif
  printf("gpu_bench: %s (%d SMs), %d host threads, %d spectra\n", info.name, info.multiprocessors,
         nthreads, nspec);
  double tb = now();
  sc_scene S;
  if (sc_scene_build(&S, 3, SC_DESI, RVS_INTERP_TRIANGULATION, 32, nspec, 12345)) {
    fprintf(stderr, "scene: %s\n", rvs_last_error());
    return 2;
  }
  printf("scene built in %.1f s\n", now() - tb);
  rvs_backend_options opt;
  rvs_backend_options_default(&opt);
  opt.npoly = 10;
  rvs_backend *gpu = NULL, *cpu = NULL;
  if (rvs_backend_cuda_create(&S.lib, &opt, 0, &gpu) || rvs_backend_cpu_create(&S.lib, &opt, &cpu)) {
    fprintf(stderr, "backend: %s\n", rvs_last_error());
    return 2;
  }
  int *slots = (int *)malloc(sizeof(int) * nspec);
  tb = now();
  for (int k = 0; k < nspec; k++) {
    int c;
    if (gpu->add_slot(gpu, &S.spec[k], &slots[k]) || cpu->add_slot(cpu, &S.spec[k], &c)) {
      fprintf(stderr, "add_slot: %s\n", rvs_last_error());
      return 2;
    }
  }
  printf("%d slots added in %.2f s\n", nspec, now() - tb);
  if (rep) fprintf(rep, "device %s\nhost_threads %d\nnspec %d\n", info.name, nthreads, nspec);
  printf("%-9s %8s %12s %10s %9s %9s %8s\n", "mix", "batch", "evals/s", "fits/s", "host_ms",
         "dev_ms", "tpl");
  for (int si = 0; si < nsizes; si++) {
    size_t n = sizes[si];
    rvs_eval_request *req = (rvs_eval_request *)malloc(sizeof *req * n);
    rvs_eval_result *res = (rvs_eval_result *)malloc(sizeof *res * n);
    for (int mix = 0; mix < 3; mix++) {
      fill(&S, slots, mix, n, req);
      if (gpu->evaluate(gpu, req, n, res)) { // warm-up
        fprintf(stderr, "evaluate: %s\n", rvs_last_error());
        return 2;
      }
      int reps = n <= 20000 ? 5 : 3;
      double t[8], hs = 0, ds = 0, ph[6] = {0};
      long long tpl = 0;
      for (int r = 0; r < reps; r++) {
        rvs_cuda_stats a, b;
        rvs_backend_cuda_stats(gpu, &a);
        double t0 = now();
        if (gpu->evaluate(gpu, req, n, res)) {
          fprintf(stderr, "evaluate: %s\n", rvs_last_error());
          return 2;
        }
        t[r] = now() - t0;
        rvs_backend_cuda_stats(gpu, &b);
        hs += b.host_seconds - a.host_seconds;
        ds += b.device_seconds - a.device_seconds;
        for (int k = 0; k < 6; k++) ph[k] += b.phase_ms[k] - a.phase_ms[k];
        tpl = b.templates - a.templates;
      }
      qsort(t, (size_t)reps, sizeof(double), cmpd);
      double med = t[reps / 2];
      double eps = (double)n / med;
      long bad = 0;
      for (size_t i = 0; i < n; i++)
        if (res[i].status != RVS_OK || !isfinite(res[i].m2lnl)) bad++;
      printf("%-9s %8zu %12.0f %10.1f %9.2f %9.2f %8lld%s\n", MIXNAME[mix], n, eps,
             eps / EVALS_PER_FIT, 1e3 * hs / reps, 1e3 * ds / reps, tpl,
             bad ? "  (non-OK results!)" : "");
      if (ph[4] > 0) {
        printf("          phases ms/call: upload %.2f interp %.2f vsini %.2f spline %.2f chisq %.2f finish %.2f\n",
               ph[0] / reps, ph[1] / reps, ph[2] / reps, ph[3] / reps, ph[4] / reps, ph[5] / reps);
        if (rep)
          fprintf(rep, "phases mix=%s batch=%zu upload=%.3f interp=%.3f vsini=%.3f spline=%.3f chisq=%.3f finish=%.3f\n",
                  MIXNAME[mix], n, ph[0] / reps, ph[1] / reps, ph[2] / reps, ph[3] / reps,
                  ph[4] / reps, ph[5] / reps);
      }
      if (rep)
        fprintf(rep, "gpu mix=%s batch=%zu median_s=%.6f evals_per_s=%.1f fits_per_s=%.2f host_ms=%.3f dev_ms=%.3f templates=%lld bad=%ld\n",
                MIXNAME[mix], n, med, eps, eps / EVALS_PER_FIT, 1e3 * hs / reps,
                1e3 * ds / reps, tpl, bad);
    }
    free(req);
    free(res);
  }
  /* CPU backend, same machine, fitlike slice */
  {
    size_t n = 4000;
    rvs_eval_request *req = (rvs_eval_request *)malloc(sizeof *req * n);
    rvs_eval_result *res = (rvs_eval_result *)malloc(sizeof *res * n);
    fill(&S, slots, MIX_FITLIKE, n, req);
    double t0 = now();
    if (cpu->evaluate(cpu, req, n, res)) return 2;
    double dt = now() - t0;
    printf("cpu       %8zu %12.0f %10.1f   (%d threads)\n", n, n / dt, n / dt / EVALS_PER_FIT,
           nthreads);
    if (rep) fprintf(rep, "cpu mix=fitlike batch=%zu evals_per_s=%.1f threads=%d\n", n, n / dt, nthreads);
    free(req);
    free(res);
  }
  rvs_cuda_stats st;
  rvs_backend_cuda_stats(gpu, &st);
  printf("stats: gpu %lld, cpu %lld (fallbacks %lld), passes %lld, templates %lld\n",
         st.gpu_requests, st.cpu_requests, st.cpu_fallbacks, st.sub_batches, st.templates);
  gpu->destroy(gpu);
  cpu->destroy(cpu);
  sc_scene_free(&S);
  free(slots);
  if (rep) fclose(rep);
  return 0;
}
