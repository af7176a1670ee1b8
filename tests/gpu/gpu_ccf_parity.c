/* GPU check of the batched CCF initialiser (src/backend/cuda/ccf_cuda.h)
 * against rvs_ccf_fit (needs a CUDA device; run by scripts/gpu-check, never
 * by ctest).  usage: gpu_ccf_parity [SEED] [REPORT] [NSPEC]
 *
 * Scene, made here (a real DESI bank is too big to carry): per DESI arm a
 * template grid of 420 analytic spectra (7x5x6x2 teff/logg/feh/alpha, 400
 * random lines whose depths depend on the parameters), CCF banks built from
 * it with rvs_ccf_bank_build as rvs_make_ccf does (every 14th template in
 * Morton order x vsini {0, 300}: M = 60; 0.4 A step -> N = 8192 per arm,
 * continuum; and no-continuum banks with N = 4096), and NSPEC (default 4000)
 * observed spectra: random parameters, velocity +-400 km/s, continuum, S/N
 * 3..60, 0.5% masked pixels, some with a masked block, one arm all bad, all
 * arms bad (exact ties), a NaN pixel, a NaN error.
 *
 * Checks: statuses equal; same best model for >= 99.9% and for every
 * spectrum whose best is not a near-tie (|d chisq| <= 1e-9 relative);
 * |d vel| < 1e-6 km/s and |d chisq| <= 1e-9 relative where the model
 * agrees; a rerun bitwise equal; many small passes, a memory cap with
 * forced allocation failures (shrink and retry), and a call mixing two
 * bank sets equal within the same tolerances.  Timing: CPU rvs_ccf_fit on
 * one thread vs GPU batches.  Exit 1 on any failure. */
#include "gpu_check.h"
#include "gpu_scene.h"

#include "backend/cpu/ccf_cpu.h"
#include "backend/cuda/ccf_cuda.h"
#include "templates/ccf_bank.h"

#include <stdarg.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define NEAR_TIE 1e-9
#define VEL_TOL 1e-6

#define NARMS 3
static const double BL0[NARMS] = {3500, 5660, 7420}, BL1[NARMS] = {5900, 7720, 9924};

/* template grid of one arm -> banks (continuum N=8192, no continuum N=4096) */
static void build_banks(const sc_lines *L, int arm, rvs_ccf_bank **bc, rvs_ccf_bank **bn) {
  int n1 = 7, n2 = 5, n3 = 6, n4 = 2;
  size_t ns = (size_t)n1 * n2 * n3 * n4, nt = 24000;
  rvs_specs s;
  memset(&s, 0, sizeof s);
  s.nspec = ns;
  s.npix = nt;
  s.nparam = 4;
  s.specs = (double *)malloc(sizeof(double) * ns * nt);
  s.vec = (double *)malloc(sizeof(double) * 4 * ns);
  s.lam = (double *)malloc(sizeof(double) * nt);
  static char *names[4] = {"teff", "logg", "feh", "alpha"};
  s.parnames = names;
  s.log_step = 1;
  s.log_spec = 1;
  s.float_bits = 64;
  if (!s.specs || !s.vec || !s.lam) DIE("no memory");
  double lo = BL0[arm] / 1.006, hi = BL1[arm] * 1.006;
  for (size_t i = 0; i < nt; i++) s.lam[i] = lo * exp((double)i * log(hi / lo) / (double)(nt - 1));
  size_t j = 0;
  for (int a = 0; a < n1; a++)
    for (int b = 0; b < n2; b++)
      for (int c = 0; c < n3; c++)
        for (int d = 0; d < n4; d++, j++) {
          double p[4] = {SC_TEFF[a], SC_LOGG[b], SC_FEH[c], SC_ALPHA[d]};
          for (int k = 0; k < 4; k++) s.vec[(size_t)k * ns + j] = p[k];
          for (size_t i = 0; i < nt; i++)
            s.specs[j * nt + i] = sc_ln_template(L, s.lam[i], p) + 0.3 * log(s.lam[i] / 5000);
        }
  rvs_ccf_conf cc, cn;
  if (rvs_ccf_conf_init(&cc, BL0[arm], BL1[arm], 0.4, 1)) DIE("conf");
  if (rvs_ccf_conf_init(&cn, BL0[arm], BL1[arm], 0.8, 0)) DIE("conf");
  const double vs[2] = {0, 300};
  if (rvs_ccf_bank_build(&s, &cc, 14, vs, 2, 0, bc)) DIE("bank build");
  if (rvs_ccf_bank_build(&s, &cn, 14, vs, 2, 0, bn)) DIE("bank build");
  free(s.specs); free(s.vec); free(s.lam);
}

typedef struct obs {
  double *lam[NARMS], *flux[NARMS], *err[NARMS];
  unsigned char *bad[NARMS];
  int n[NARMS];
  double v;
} obs;

static void make_obs(const sc_lines *L, int k, obs *o) {
  double p[4] = {4300 + 2500 * sc_uniform(), 1.5 + 3 * sc_uniform(), -1.8 + 2 * sc_uniform(),
                 0.4 * sc_uniform()};
  o->v = 800 * (sc_uniform() - 0.5);
  double kf = sqrt((1 + o->v / SC_C_KMS) / (1 - o->v / SC_C_KMS));
  double snr = 3 + 57 * sc_uniform();
  for (int a = 0; a < NARMS; a++) {
    const sc_arm_conf *A = &SC_DESI[a];
    int n = A->nobs;
    o->n[a] = n;
    o->lam[a] = (double *)malloc(sizeof(double) * (size_t)n);
    o->flux[a] = (double *)malloc(sizeof(double) * (size_t)n);
    o->err[a] = (double *)malloc(sizeof(double) * (size_t)n);
    o->bad[a] = (unsigned char *)malloc((size_t)n);
    if (!o->lam[a] || !o->flux[a] || !o->err[a] || !o->bad[a]) DIE("no memory");
    double c0 = 50 + 100 * sc_uniform(), c1 = 0.3 * (sc_uniform() - 0.5);
    int blk = (k % 53 == 9) ? (int)(sc_uniform() * (n - 200)) : -1000;
    for (int i = 0; i < n; i++) {
      double l = A->lo + (A->hi - A->lo) * i / (n - 1);
      double u = 2.0 * i / (n - 1) - 1;
      double cont = c0 * (1 + c1 * u - 0.1 * u * u);
      double f = cont * exp(sc_ln_template(&L[a], l / kf, p));
      o->lam[a][i] = l;
      o->err[a][i] = cont / snr * (0.7 + 0.6 * sc_uniform());
      o->flux[a][i] = f + o->err[a][i] * sc_normal();
      o->bad[a][i] = sc_uniform() < 0.005 || (i >= blk && i < blk + 200);
      if ((k % 97 == 5 && a == 1) || k % 89 == 3) o->bad[a][i] = 1;
    }
    if (k % 101 == 7) o->flux[a][n / 3] = NAN;
    if (k % 103 == 11 && a == 2) o->err[a][n / 2] = NAN;
  }
}

typedef struct cmp_stats {
  size_t n, status_diff, id_same, near_tie, hard, vel_bad, chisq_bad, ok;
  double max_dvel, max_dchi;
} cmp_stats;

static cmp_stats compare(const rvs_ccf_result *ref, const int *sref, const rvs_ccf_result *r,
                         const int *st, size_t n, const char *label, int verbose) {
  cmp_stats c;
  memset(&c, 0, sizeof c);
  c.n = n;
  for (size_t i = 0; i < n; i++) {
    if (sref[i] != st[i]) {
      if (verbose && c.status_diff < 5) printf("  %s: spectrum %zu status cpu %d gpu %d\n", label, i, sref[i], st[i]);
      c.status_diff++;
      continue;
    }
    if (sref[i]) continue;
    c.ok++;
    double scale = fabs(ref[i].best_chisq) > 1 ? fabs(ref[i].best_chisq) : 1;
    double dchi = fabs(r[i].best_chisq - ref[i].best_chisq) / scale;
    if (r[i].best_id != ref[i].best_id) {
      if (dchi <= NEAR_TIE) c.near_tie++;
      else {
        c.hard++;
        if (verbose && c.hard < 5)
          printf("  %s: spectrum %zu best_id cpu %zu gpu %zu chisq %.17g %.17g\n", label, i,
                 ref[i].best_id, r[i].best_id, ref[i].best_chisq, r[i].best_chisq);
      }
      continue;
    }
    c.id_same++;
    double dv = fabs(r[i].best_vel - ref[i].best_vel);
    if (!(dv < VEL_TOL)) {
      if (dchi <= NEAR_TIE) c.near_tie++; /* a near-tie between velocity pixels */
      else c.vel_bad++;
      if (verbose && c.vel_bad + c.near_tie < 5)
        printf("  %s: spectrum %zu vel cpu %.12g gpu %.12g\n", label, i, ref[i].best_vel, r[i].best_vel);
    } else if (dv > c.max_dvel) c.max_dvel = dv;
    if (!(dchi <= NEAR_TIE)) c.chisq_bad++;
    if (dchi > c.max_dchi) c.max_dchi = dchi;
    if (memcmp(&r[i].vsini, &ref[i].vsini, sizeof(double)) || r[i].nparam != ref[i].nparam ||
        memcmp(r[i].params, ref[i].params, sizeof(double) * (size_t)r[i].nparam))
      c.hard++;
  }
  return c;
}

static void check_cmp(const cmp_stats *c, const char *label) {
  check(c->status_diff == 0, "%s: statuses equal (%zu differ of %zu; %zu fitted)", label, c->status_diff,
        c->n, c->ok);
  double frac = c->ok ? (double)c->id_same / (double)c->ok : 1;
  check(c->hard == 0 && frac >= 0.999,
        "%s: same best model %zu/%zu (%.4f%%), near-ties %zu, other mismatches %zu", label, c->id_same,
        c->ok, 100 * frac, c->near_tie, c->hard);
  check(c->vel_bad == 0, "%s: |dvel| < %g km/s where the model agrees (max %.3g; %zu beyond)", label,
        VEL_TOL, c->max_dvel, c->vel_bad);
  check(c->chisq_bad == 0, "%s: |dchisq| <= %g relative (max %.3g)", label, NEAR_TIE, c->max_dchi);
}

static int bitwise_equal(const rvs_ccf_result *a, const int *sa, const rvs_ccf_result *b, const int *sb,
                         size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (sa[i] != sb[i]) return 0;
    if (sa[i]) continue;
    if (a[i].best_id != b[i].best_id || memcmp(&a[i].best_vel, &b[i].best_vel, sizeof(double)) ||
        memcmp(&a[i].best_chisq, &b[i].best_chisq, sizeof(double)))
      return 0;
  }
  return 1;
}

static void poison(rvs_ccf_result *r, int *st, size_t n) {
  for (size_t i = 0; i < n; i++) {
    memset(&r[i], 0xff, sizeof r[i]);
    st[i] = 12345;
  }
}

int main(int argc, char **argv) {
  uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 10) : (uint64_t)time(NULL);
  if (argc > 2) gc_report = fopen(argv[2], "w");
  size_t nspec = argc > 3 ? strtoul(argv[3], NULL, 10) : 4000;
  if (nspec < 200) nspec = 200;
  double max_vel = 1000, vstep = 5; /* the DESI config */
  info("seed %llu, %zu spectra, max_vel %g, vel_step0 %g", (unsigned long long)seed, nspec, max_vel, vstep);
  sc_seed(seed);
  sc_lines L[NARMS];
  for (int a = 0; a < NARMS; a++) {
    L[a].n = SC_MAXLINES;
    for (int k = 0; k < L[a].n; k++) {
      L[a].c[k] = BL0[a] + (BL1[a] - BL0[a]) * (k + sc_uniform()) / L[a].n;
      L[a].w[k] = 0.5 + 1.5 * sc_uniform();
      L[a].a[k][0] = 0.05 + 0.4 * sc_uniform();
      for (int q = 1; q < 5; q++) L[a].a[k][q] = 0.6 * (sc_uniform() - 0.5);
    }
  }
  double t0 = now();
  rvs_ccf_bank *bc[NARMS], *bn[NARMS];
  for (int a = 0; a < NARMS; a++) build_banks(&L[a], a, &bc[a], &bn[a]);
  info("banks: M=%zu, N=%zu/%zu/%zu (continuum), N=%zu (no continuum), built in %.1f s", bc[0]->nmodel,
       bc[0]->conf.npoints, bc[1]->conf.npoints, bc[2]->conf.npoints, bn[0]->conf.npoints, now() - t0);
  obs *o = (obs *)calloc(nspec, sizeof *o);
  rvs_ccf_arm *arms = (rvs_ccf_arm *)calloc(nspec * NARMS, sizeof *arms);
  rvs_ccf_arm *mixed = (rvs_ccf_arm *)calloc(nspec * NARMS, sizeof *arms);
  if (!o || !arms || !mixed) DIE("no memory");
  for (size_t k = 0; k < nspec; k++) {
    make_obs(L, (int)k, &o[k]);
    for (int a = 0; a < NARMS; a++) {
      arms[k * NARMS + a] = (rvs_ccf_arm){bc[a], (size_t)o[k].n[a], o[k].lam[a], o[k].flux[a], o[k].err[a], o[k].bad[a]};
      mixed[k * NARMS + a] = arms[k * NARMS + a];
      if (k % 2) mixed[k * NARMS + a].bank = bn[a];
    }
  }
  rvs_ccf_result *rc_ = (rvs_ccf_result *)calloc(nspec, sizeof *rc_), *rg = (rvs_ccf_result *)calloc(nspec, sizeof *rg);
  rvs_ccf_result *r2 = (rvs_ccf_result *)calloc(nspec, sizeof *r2), *rm = (rvs_ccf_result *)calloc(nspec, sizeof *rm);
  int *sc_ = (int *)calloc(nspec, sizeof(int)), *sg = (int *)calloc(nspec, sizeof(int));
  int *s2 = (int *)calloc(nspec, sizeof(int)), *sm = (int *)calloc(nspec, sizeof(int));
  if (!rc_ || !rg || !r2 || !rm || !sc_ || !sg || !s2 || !sm) DIE("no memory");

  /* CPU reference: one thread for the rate, then all threads */
  size_t n1 = 64;
  t0 = now();
  for (size_t k = 0; k < n1; k++) sc_[k] = rvs_ccf_fit(arms + k * NARMS, NARMS, max_vel, vstep, &rc_[k]);
  double cpu1 = (double)n1 / (now() - t0);
  int nthr = 1;
#ifdef _OPENMP
  nthr = omp_get_max_threads();
#endif
  t0 = now();
#pragma omp parallel for schedule(dynamic, 4)
  for (long k = (long)n1; k < (long)nspec; k++)
    sc_[k] = rvs_ccf_fit(arms + (size_t)k * NARMS, NARMS, max_vel, vstep, &rc_[k]);
  double cpuN = (double)(nspec - n1) / (now() - t0);
  info("CPU rvs_ccf_fit: %.1f spectra/s on 1 thread, %.1f spectra/s on %d threads", cpu1, cpuN, nthr);
  size_t nok = 0, nvgood = 0;
  for (size_t k = 0; k < nspec; k++)
    if (!sc_[k]) {
      nok++;
      if (fabs(rc_[k].best_vel - o[k].v) < 20) nvgood++;
    }
  info("CPU: %zu/%zu fitted, %zu within 20 km/s of the truth (scene sanity)", nok, nspec, nvgood);

  rvs_ccf_gpu *g = NULL;
  if (rvs_ccf_gpu_create(0, &g)) DIE("rvs_ccf_gpu_create");
  rvs_ccf_gpu_stats gs;

  /* cold and warm full batches */
  poison(rg, sg, nspec);
  t0 = now();
  int rc = rvs_ccf_gpu_fit_batch(g, arms, NARMS, nspec, max_vel, vstep, rg, sg);
  double tcold = now() - t0;
  check(rc == RVS_OK, "GPU batch of %zu: call ok (%s)", nspec, rc ? rvs_last_error() : "");
  cmp_stats c = compare(rc_, sc_, rg, sg, nspec, "batch", 1);
  check_cmp(&c, "batch");
  poison(r2, s2, nspec);
  rvs_ccf_gpu_get_stats(g, &gs);
  rvs_ccf_gpu_stats g0 = gs;
  t0 = now();
  rc = rvs_ccf_gpu_fit_batch(g, arms, NARMS, nspec, max_vel, vstep, r2, s2);
  double twarm = now() - t0;
  rvs_ccf_gpu_get_stats(g, &gs);
  check(rc == RVS_OK && bitwise_equal(rg, sg, r2, s2, nspec), "rerun bitwise equal");
  info("GPU batch %zu: cold %.3f s (%.0f spectra/s), warm %.3f s (%.0f spectra/s); pass %zu, chunk %zu "
       "spectra; host prep %.3f s, waiting for the device %.3f s (warm call)",
       nspec, tcold, (double)nspec / tcold, twarm, (double)nspec / twarm, gs.pass_spectra, gs.chunk_spectra,
       gs.host_prep_s - g0.host_prep_s, gs.wait_s - g0.wait_s);
  info("speed-up (warm batch vs CPU 1 thread): %.1fx; vs CPU %d threads: %.1fx", (double)nspec / twarm / cpu1,
       nthr, (double)nspec / twarm / cpuN);
  size_t n1000 = nspec < 1000 ? nspec : 1000;
  t0 = now();
  rc = rvs_ccf_gpu_fit_batch(g, arms, NARMS, n1000, max_vel, vstep, r2, s2);
  double t1000 = now() - t0;
  info("GPU batch %zu: %.3f s (%.0f spectra/s)", n1000, t1000, (double)n1000 / t1000);
  check(rc == RVS_OK && bitwise_equal(rg, sg, r2, s2, n1000), "batch of %zu bitwise equal to the full batch", n1000);

  /* many small passes and chunks */
  rvs_ccf_gpu_set_limits(g, 0, 37, 0);
  poison(r2, s2, nspec);
  rc = rvs_ccf_gpu_fit_batch(g, arms, NARMS, nspec, max_vel, vstep, r2, s2);
  rvs_ccf_gpu_get_stats(g, &gs);
  check(rc == RVS_OK, "passes of 37: call ok (pass %zu, chunk %zu)", gs.pass_spectra, gs.chunk_spectra);
  c = compare(rc_, sc_, r2, s2, nspec, "passes of 37", 1);
  check_cmp(&c, "passes of 37");
  info("passes of 37: bitwise equal to the full batch: %s", bitwise_equal(rg, sg, r2, s2, nspec) ? "yes" : "no");

  /* a memory cap and forced allocation failures: shrink and retry */
  size_t ret0 = gs.retries;
  rvs_ccf_gpu_set_limits(g, (size_t)400 << 20, 0, 5);
  poison(r2, s2, nspec);
  rc = rvs_ccf_gpu_fit_batch(g, arms, NARMS, nspec, max_vel, vstep, r2, s2);
  rvs_ccf_gpu_get_stats(g, &gs);
  check(rc == RVS_OK && gs.retries > ret0, "400 MB cap + 5 forced failures: call ok, %zu retries (pass %zu, chunk %zu)",
        gs.retries - ret0, gs.pass_spectra, gs.chunk_spectra);
  c = compare(rc_, sc_, r2, s2, nspec, "memory cap", 1);
  check_cmp(&c, "memory cap");
  info("memory cap: bitwise equal to the full batch: %s", bitwise_equal(rg, sg, r2, s2, nspec) ? "yes" : "no");
  /* nothing possible: the whole call fails, every status says so */
  rvs_ccf_gpu_set_limits(g, 4096, 0, 0);
  rc = rvs_ccf_gpu_fit_batch(g, arms, NARMS, 50, max_vel, vstep, r2, s2);
  int allfail = 1;
  for (int i = 0; i < 50; i++) allfail &= s2[i] == rc;
  check(rc == RVS_ERR_NOMEM && allfail, "4 KB cap: RVS_ERR_NOMEM for the whole call (%d), every status too", rc);
  rvs_ccf_gpu_set_limits(g, 0, 0, 0);

  /* two bank sets in one call (continuum N=8192 and no-continuum N=4096) */
  size_t nm = nspec < 800 ? nspec : 800;
  rvs_ccf_result *rcm = (rvs_ccf_result *)calloc(nm, sizeof *rcm);
  int *scm = (int *)calloc(nm, sizeof(int));
  if (!rcm || !scm) DIE("no memory");
#pragma omp parallel for schedule(dynamic, 4)
  for (long k = 0; k < (long)nm; k++)
    scm[k] = rvs_ccf_fit(mixed + (size_t)k * NARMS, NARMS, 600, 3, &rcm[k]);
  poison(rm, sm, nm);
  rc = rvs_ccf_gpu_fit_batch(g, mixed, NARMS, nm, 600, 3, rm, sm);
  check(rc == RVS_OK, "two bank sets: call ok");
  c = compare(rcm, scm, rm, sm, nm, "two bank sets", 1);
  check_cmp(&c, "two bank sets");

  /* a single spectrum and a call of one arm (other max_vel) */
  rc = rvs_ccf_gpu_fit_batch(g, arms, NARMS, 1, max_vel, vstep, r2, s2);
  check(rc == RVS_OK && bitwise_equal(rg, sg, r2, s2, 1), "batch of 1 equal");
  rvs_ccf_arm *one = (rvs_ccf_arm *)calloc(nm, sizeof *one);
  if (!one) DIE("no memory");
  for (size_t k = 0; k < nm; k++) one[k] = arms[k * NARMS + 2];
#pragma omp parallel for schedule(dynamic, 4)
  for (long k = 0; k < (long)nm; k++) scm[k] = rvs_ccf_fit(one + k, 1, 0, 0, &rcm[k]);
  rc = rvs_ccf_gpu_fit_batch(g, one, 1, nm, 0, 0, rm, sm);
  check(rc == RVS_OK, "one arm, default max_vel/vel_step0: call ok");
  c = compare(rcm, scm, rm, sm, nm, "one arm", 1);
  check_cmp(&c, "one arm");

  rvs_ccf_gpu_free(g);
  printf("%s: %d passed, %d failed\n", gc_nfail ? "FAIL" : "PASS", gc_npass, gc_nfail);
  if (gc_report) {
    fprintf(gc_report, "%s: %d passed, %d failed\n", gc_nfail ? "FAIL" : "PASS", gc_npass, gc_nfail);
    fclose(gc_report);
  }
  for (size_t k = 0; k < nspec; k++)
    for (int a = 0; a < NARMS; a++) {
      free(o[k].lam[a]); free(o[k].flux[a]); free(o[k].err[a]); free(o[k].bad[a]);
    }
  for (int a = 0; a < NARMS; a++) {
    rvs_ccf_bank_free(bc[a]);
    rvs_ccf_bank_free(bn[a]);
  }
  free(o); free(arms); free(mixed); free(rc_); free(rg); free(r2); free(rm); free(sc_); free(sg);
  free(s2); free(sm); free(rcm); free(scm); free(one);
  return gc_nfail ? 1 : 0;
}
