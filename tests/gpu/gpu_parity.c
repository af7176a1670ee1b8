/* GPU parity checks (needs a CUDA device; run by scripts/gpu-check, never by
 * ctest).  Fresh random scenes and requests each run (seed printed; give one
 * as argv[1] to repeat), CUDA backend against the CPU backend request by
 * request:
 *   - every result written (results poisoned before each call), statuses and
 *     NaN patterns equal, GPU-served -2lnL bit-identical to the CPU's (the
 *     CUDA backend repeats the CPU arithmetic in the same order),
 *     CPU-served requests (FULL, CONTINUUM, fallbacks) identical;
 *   - reruns bitwise identical; many small device passes and forced device
 *     allocation failures (shrink-and-retry) give bitwise the same numbers;
 *   - Delaunay/float32/log grids with DESI sizes and 11-diagonal bands (P=10,
 *     P=12), and regular grid/float64/linear grid/no band (P=5);
 *   - npoly above the GPU limit: everything served by the CPU, identical.
 * Prints one PASS/FAIL line per check and a summary; exit 1 on any failure. */
#include "gpu_check.h"
#include "gpu_scene.h"

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_device.h"
#include "rvs/log.h"

#include <float.h>
#include <stdarg.h>
#include <time.h>

/* A request mix for every slot: a velocity grid (one template), random
 * points (new templates, vsini mix), points outside the hull / beyond the
 * padded box / NaN, velocities beyond the template coverage, FULL and
 * CONTINUUM requests; then shuffled. */
static rvs_eval_request *make_requests(const sc_scene *S, const int *slots, int ngrid, int nrand,
                                       size_t *nout) {
  size_t per = (size_t)ngrid + (size_t)nrand + 8;
  rvs_eval_request *r = (rvs_eval_request *)calloc(per * (size_t)S->nspec, sizeof *r);
  if (!r) DIE("no memory");
  size_t n = 0;
  for (int k = 0; k < S->nspec; k++) {
    double p[RVS_MAXPAR];
    sc_params_near(S->ptrue[k], 0.3, p);
    double vs = sc_random_vsini();
    for (int g = 0; g < ngrid; g++) {
      rvs_eval_request *q = &r[n++];
      q->slot = slots[k];
      q->kind = RVS_EVAL_CHISQ;
      q->vel = -400 + 800.0 * g / (ngrid > 1 ? ngrid - 1 : 1);
      q->vsini = vs;
      memcpy(q->params, p, sizeof p);
    }
    for (int g = 0; g < nrand + 8; g++) {
      rvs_eval_request *q = &r[n++];
      q->slot = slots[k];
      q->kind = RVS_EVAL_CHISQ;
      sc_params_near(S->ptrue[k], 1.0, q->params);
      q->vel = S->vtrue[k] + 100 * sc_normal();
      q->vsini = sc_random_vsini();
      if (g >= nrand) {
        switch (g - nrand) {
        case 0: q->params[0] = 7050 + 900 * sc_uniform(); break; /* beyond the hull */
        case 1: q->params[1] = 5.2 + sc_uniform(); break;
        case 2: q->params[0] = 50000; break;                      /* beyond the box */
        case 3: q->params[2] = NAN; break;
        case 4: q->vel = 3000 + 1000 * sc_uniform(); break;       /* beyond the coverage */
        case 5: q->vel = -3000; break;
        case 6: q->kind = RVS_EVAL_FULL; break;
        default: q->kind = RVS_EVAL_CONTINUUM; break;
        }
      }
    }
  }
  /* shuffle, keeping nothing in order: the backends must not depend on it */
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)(sc_uniform() * (double)i);
    if (j >= i) j = i - 1;
    rvs_eval_request t = r[i - 1];
    r[i - 1] = r[j];
    r[j] = t;
  }
  *nout = n;
  return r;
}

static void poison(rvs_eval_result *res, size_t n) { memset(res, 0xA5, sizeof *res * n); }

static int valid_status(int s) { return s == RVS_OK || (s <= -1 && s >= -7); }

typedef struct cmp_out {
  double max_rel, max_abs;
  long gpu_served, compared, mismatch_status, mismatch_nan, over_tol, unwritten, cpu_diff;
} cmp_out;

static void compare(const rvs_eval_request *req, size_t n, const rvs_eval_result *g,
                    const rvs_eval_result *c, const sc_scene *S, cmp_out *o) {
  (void)S;
  memset(o, 0, sizeof *o);
  for (size_t i = 0; i < n; i++) {
    if (!valid_status(g[i].status) || g[i].narms < 1 || g[i].narms > RVS_MAXARMS) {
      o->unwritten++;
      continue;
    }
    if (g[i].status != c[i].status) {
      o->mismatch_status++;
      continue;
    }
    if (isnan(g[i].m2lnl) != isnan(c[i].m2lnl)) {
      o->mismatch_nan++;
      continue;
    }
    if (isnan(c[i].m2lnl)) continue;
    o->compared++;
    double d = fabs(g[i].m2lnl - c[i].m2lnl);
    double rel = d / fmax(fabs(c[i].m2lnl), 1e-300);
    if (req[i].kind != RVS_EVAL_CHISQ) {
      if (memcmp(&g[i].m2lnl, &c[i].m2lnl, sizeof(double)) != 0) o->cpu_diff++;
      for (int a = 0; a < c[i].narms; a++)
        if (!(g[i].chisq_arm[a] == c[i].chisq_arm[a]) && !(isnan(g[i].chisq_arm[a]) && isnan(c[i].chisq_arm[a])))
          o->cpu_diff++;
      continue;
    }
    if (rel > o->max_rel) o->max_rel = rel;
    if (d > o->max_abs) o->max_abs = d;
    if (memcmp(&g[i].m2lnl, &c[i].m2lnl, sizeof(double)) != 0 && o->over_tol++ < 3)
      info("differs: request %zu (slot %d, vel %.6g, vsini %.6g): GPU %.17g CPU %.17g (rel %.3g)",
           i, req[i].slot, req[i].vel, req[i].vsini, g[i].m2lnl, c[i].m2lnl, rel);
  }
}

static int bitwise_equal(const rvs_eval_result *a, const rvs_eval_result *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (a[i].status != b[i].status || memcmp(&a[i].m2lnl, &b[i].m2lnl, sizeof(double)) != 0)
      return 0;
  return 1;
}

static void run_case(const char *name, sc_scene *S, int npoly, int ngrid, int nrand,
                     int extra_checks) {
  printf("---- %s: %d spectra x %d arms, npoly %d\n", name, S->nspec, S->narms, npoly);
  rvs_backend_options opt;
  rvs_backend_options_default(&opt);
  opt.npoly = npoly;
  rvs_backend *cpu = NULL, *gpu = NULL;
  if (rvs_backend_cpu_create(&S->lib, &opt, &cpu)) DIE("cpu backend");
  if (rvs_backend_cuda_create(&S->lib, &opt, 0, &gpu)) DIE("cuda backend");
  int *cs = (int *)malloc(sizeof(int) * S->nspec), *gs = (int *)malloc(sizeof(int) * S->nspec);
  for (int k = 0; k < S->nspec; k++) {
    if (cpu->add_slot(cpu, &S->spec[k], &cs[k])) DIE("cpu add_slot");
    if (gpu->add_slot(gpu, &S->spec[k], &gs[k])) DIE("gpu add_slot");
    if (cs[k] != gs[k]) DIE("slot numbering differs");
  }
  size_t n = 0;
  rvs_eval_request *req = make_requests(S, gs, ngrid, nrand, &n);
  rvs_eval_result *rc = (rvs_eval_result *)malloc(sizeof *rc * n);
  rvs_eval_result *rg = (rvs_eval_result *)malloc(sizeof *rg * n);
  rvs_eval_result *r2 = (rvs_eval_result *)malloc(sizeof *r2 * n);
  poison(rc, n);
  poison(rg, n);
  double t0 = (double)clock();
  if (cpu->evaluate(cpu, req, n, rc)) DIE("cpu evaluate");
  double t1 = (double)clock();
  if (gpu->evaluate(gpu, req, n, rg)) DIE("gpu evaluate");
  (void)t0;
  (void)t1;
  rvs_cuda_stats st;
  rvs_backend_cuda_stats(gpu, &st);
  cmp_out o;
  compare(req, n, rg, rc, S, &o);
  long nok = 0, nnan = 0;
  for (size_t i = 0; i < n; i++) {
    if (rg[i].status == RVS_OK) nok++;
    if (rg[i].status == RVS_OK && !isfinite(rg[i].m2lnl)) nnan++;
  }
  check(o.unwritten == 0, "%s: every result written (%zu requests, %ld unwritten)", name, n,
        o.unwritten);
  check(o.mismatch_status == 0 && o.mismatch_nan == 0,
        "%s: statuses and NaN patterns equal (%ld / %ld differ; %ld OK)", name,
        o.mismatch_status, o.mismatch_nan, nok);
  check(nnan == 0, "%s: no non-finite -2lnL with status OK (%ld)", name, nnan);
  if (npoly <= RVS_CUDA_MAX_NPOLY) {
    check(st.gpu_requests > (long long)(n / 2), "%s: GPU served %lld of %zu (CPU %lld, fallbacks %lld, templates %lld)",
          name, st.gpu_requests, n, st.cpu_requests, st.cpu_fallbacks, st.templates);
    check(o.over_tol == 0,
          "%s: -2lnL bit-identical to the CPU backend (%ld of %ld differ; max rel %.3g, abs %.3g)",
          name, o.over_tol, o.compared, o.max_rel, o.max_abs);
  } else {
    check(st.gpu_requests == 0, "%s: npoly %d > %d served by the CPU only", name, npoly,
          RVS_CUDA_MAX_NPOLY);
    check(o.max_rel == 0, "%s: CPU-only results identical (max rel %.3g)", name, o.max_rel);
  }
  check(o.cpu_diff == 0, "%s: FULL/CONTINUUM results identical to the CPU backend (%ld differ)",
        name, o.cpu_diff);
  if (gc_report)
    fprintf(gc_report, "case %s n=%zu gpu=%lld cpu=%lld fallbacks=%lld max_rel=%.6g max_abs=%.6g\n",
            name, n, st.gpu_requests, st.cpu_requests, st.cpu_fallbacks, o.max_rel, o.max_abs);
  if (extra_checks) {
    poison(r2, n);
    if (gpu->evaluate(gpu, req, n, r2)) DIE("gpu evaluate (rerun)");
    check(bitwise_equal(rg, r2, n), "%s: rerun bitwise identical", name);
    rvs_backend_cuda_set_max_templates(gpu, 7);
    poison(r2, n);
    if (gpu->evaluate(gpu, req, n, r2)) DIE("gpu evaluate (small passes)");
    rvs_cuda_stats st2;
    rvs_backend_cuda_stats(gpu, &st2);
    check(bitwise_equal(rg, r2, n), "%s: %lld passes of <= 7 templates bitwise identical", name,
          st2.sub_batches - st.sub_batches);
    rvs_backend_cuda_set_max_templates(gpu, 4096);
    /* room for ~24 templates: the first passes fail and shrink */
    rvs_backend_cuda_set_scratch_limit(gpu, (size_t)24 * 3 * 6500 * 8 + (4u << 20));
    poison(r2, n);
    int erc = gpu->evaluate(gpu, req, n, r2);
    rvs_cuda_stats st3;
    rvs_backend_cuda_stats(gpu, &st3);
    check(erc == RVS_OK && bitwise_equal(rg, r2, n) && st3.oom_retries > st2.oom_retries,
          "%s: device allocation failures shrink and retry (%lld retries), bitwise identical",
          name, st3.oom_retries - st2.oom_retries);
    rvs_backend_cuda_set_scratch_limit(gpu, 0);
    /* remove and re-add a slot: numbering and results follow the CPU backend */
    cpu->remove_slot(cpu, cs[0]);
    gpu->remove_slot(gpu, gs[0]);
    int c0 = -1, g0 = -1;
    if (cpu->add_slot(cpu, &S->spec[0], &c0) || gpu->add_slot(gpu, &S->spec[0], &g0)) DIE("re-add");
    poison(r2, n);
    if (gpu->evaluate(gpu, req, n, r2)) DIE("gpu evaluate (after re-add)");
    check(c0 == g0 && bitwise_equal(rg, r2, n), "%s: slot removed and re-added (slot %d)", name, g0);
    /* an unknown slot fails the whole call */
    rvs_eval_request bad = req[0];
    bad.slot = 1 << 20;
    rvs_eval_result br;
    check(gpu->evaluate(gpu, &bad, 1, &br) == RVS_ERR_ARG, "%s: unknown slot rejected", name);
    /* get_model after a FULL request */
    for (size_t i = 0; i < n; i++)
      if (req[i].kind == RVS_EVAL_FULL) {
        rvs_eval_result a, b;
        if (cpu->evaluate(cpu, &req[i], 1, &a) || gpu->evaluate(gpu, &req[i], 1, &b)) DIE("full");
        size_t np = S->spec[0].arms[0].n;
        int k = 0;
        while (gs[k] != req[i].slot) k++;
        np = S->spec[k].arms[0].n;
        double *m1 = (double *)malloc(sizeof(double) * np), *m2 = (double *)malloc(sizeof(double) * np);
        int ok = cpu->get_model(cpu, req[i].slot, 0, m1) == 0 && gpu->get_model(gpu, req[i].slot, 0, m2) == 0 &&
                 memcmp(m1, m2, sizeof(double) * np) == 0;
        check(ok, "%s: get_model after FULL identical", name);
        free(m1);
        free(m2);
        break;
      }
  }
  free(req); free(rc); free(rg); free(r2); free(cs); free(gs);
  cpu->destroy(cpu);
  gpu->destroy(gpu);
}

int main(int argc, char **argv) {
  uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 10) : (uint64_t)time(NULL);
  const char *out = argc > 2 ? argv[2] : NULL;
  if (out) gc_report = fopen(out, "w");
  printf("gpu_parity: seed %llu\n", (unsigned long long)seed);
  if (gc_report) fprintf(gc_report, "seed %llu\n", (unsigned long long)seed);
  int nd = rvs_cuda_device_count();
  if (nd < 1) {
    printf("FAIL  no CUDA device\n");
    return 1;
  }
  rvs_cuda_device_info info;
  if (rvs_cuda_device_query(0, &info) == RVS_OK) {
    printf("device 0: %s, cc %d.%d, %d SMs, %.1f GiB\n", info.name, info.cc_major, info.cc_minor,
           info.multiprocessors, (double)info.total_mem / (1 << 30));
    if (gc_report) fprintf(gc_report, "device %s\n", info.name);
  }
  sc_scene S;
  if (sc_scene_build(&S, 3, SC_DESI, RVS_INTERP_TRIANGULATION, 32, 48, seed)) DIE("scene 1");
  run_case("desi-tri-f32-P10", &S, 10, 40, 60, 1);
  run_case("desi-tri-f32-P12", &S, 12, 10, 20, 0);
  run_case("desi-tri-f32-P14-cpu", &S, 14, 4, 6, 0);
  sc_scene_free(&S);
  const sc_arm_conf small[2] = {
      {"g_lin", 5000.0, 5600.0, 1200, 4000, 0, 7},
      {"g_log", 6000.0, 6800.0, 1500, 5000, 1, 0},
  };
  if (sc_scene_build(&S, 2, small, RVS_INTERP_REGULARGRID, 64, 32, seed + 1)) DIE("scene 2");
  run_case("grid-f64-lin+log-P5", &S, 5, 30, 60, 1);
  sc_scene_free(&S);
  printf("gpu_parity: %d passed, %d failed -> %s\n", gc_npass, gc_nfail, gc_nfail ? "FAIL" : "PASS");
  if (gc_report) {
    fprintf(gc_report, "summary %d passed %d failed\n", gc_npass, gc_nfail);
    fclose(gc_report);
  }
  return gc_nfail ? 1 : 0;
}
