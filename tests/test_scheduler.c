/* The batch scheduler over a mock backend: every job finishes with the same
 * answer as a fit run alone, whatever the pool size, and failures stay local. */
#include "rvs_test.h"

#include "driver/scheduler.h"
#include "rvs/status.h"

#include <stdlib.h>

static const char *const NAMES[4] = {"teff", "logg", "feh", "alpha"};

#define MAXSLOT 1024

typedef struct mock {
  rvs_backend base;
  int nslots;
  int cap;         /* > 0: add_slot fails with RVS_ERR_NOMEM beyond cap slots in use */
  int inuse;
  double v0[MAXSLOT];   /* per-slot true velocity */
  int used[MAXSLOT];
  long max_batch;
  long nevals;
} mock;

static double m2lnl(double v0, double vel, const double *p) {
  double t = (vel - v0) / 2.0;
  return 100 + t * t + pow((p[0] - 5600) / 150, 2) + pow((p[1] - 4.2) / 0.3, 2) +
         pow((p[2] + 0.7) / 0.2, 2) + pow((p[3] - 0.2) / 0.15, 2);
}

static int m_add(rvs_backend *b, const rvs_spectrum *s, int *slot) {
  mock *m = b->impl;
  if (s->narms == 0) return rvs_error(RVS_ERR_ARG, "mock: empty spectrum");
  if (m->cap > 0 && m->inuse >= m->cap) return rvs_error(RVS_ERR_NOMEM, "mock: device memory full");
  for (int i = 0; i < MAXSLOT; i++)
    if (!m->used[i]) {
      m->used[i] = 1;
      m->inuse++;
      m->v0[i] = s->arms[0].flux[0]; /* the mock stores its velocity in flux[0] */
      *slot = i;
      return RVS_OK;
    }
  return rvs_error(RVS_ERR_NOMEM, "mock: full");
}
static void m_remove(rvs_backend *b, int slot) {
  mock *m = b->impl;
  m->used[slot] = 0;
  m->inuse--;
}
static int m_eval(rvs_backend *b, const rvs_eval_request *r, size_t n, rvs_eval_result *res) {
  mock *m = b->impl;
  if ((long)n > m->max_batch) m->max_batch = (long)n;
  m->nevals += (long)n;
  for (size_t i = 0; i < n; i++) {
    memset(&res[i], 0, sizeof res[i]);
    assert_true(m->used[r[i].slot]);
    res[i].m2lnl = m2lnl(m->v0[r[i].slot], r[i].vel, r[i].params);
    res[i].narms = 1;
  }
  return RVS_OK;
}

static void make_mock(mock *m) {
  memset(m, 0, sizeof *m);
  m->base.name = "mock";
  m->base.add_slot = m_add;
  m->base.remove_slot = m_remove;
  m->base.evaluate = m_eval;
  m->base.impl = m;
}

#define NJ 12

/* NJ jobs (job 5 fails at add_slot) over a mock holding at most `cap` spectra
 * (0: any number) with `pool` fits in flight; the stats into *out if given. */
static void run_all(int pool, int cap, rvs_fit_job *jobs, rvs_spectrum *specs, double *flux0,
                    mock *m, rvs_scheduler_stats *out) {
  rvs_fit_config cfg;
  rvs_fit_config_default(&cfg, 4, NAMES);
  for (int j = 0; j < NJ; j++) {
    flux0[j] = -300 + 50.0 * j;
    specs[j].narms = 1;
    specs[j].arms[0].flux = &flux0[j];
    specs[j].arms[0].n = 1;
    memset(&jobs[j], 0, sizeof jobs[j]);
    jobs[j].spec = &specs[j];
    const double p0[4] = {5000 + 50.0 * j, 4.0, -0.5, 0.1};
    memcpy(jobs[j].params0, p0, sizeof p0);
    jobs[j].vsini0 = -1;
  }
  specs[5].narms = 0; /* job 5 fails at add_slot */
  make_mock(m);
  m->cap = cap;
  rvs_scheduler_stats st;
  assert_int_equal(rvs_fit_jobs(&m->base, &cfg, jobs, NJ, pool, NULL, NULL, &st), RVS_OK);
  if (out) *out = st;
  assert_true(st.rounds > 0);
  assert_int_equal(st.requests, m->nevals);
  /* the rounds by size add up to the totals, each in its factor-4 bucket */
  long nr = 0, nq = 0;
  double secs = 0;
  for (int k = 0; k < RVS_ROUND_BUCKETS; k++) {
    nr += st.size_rounds[k];
    nq += st.size_requests[k];
    secs += st.size_seconds[k];
    if (st.size_rounds[k] && k < RVS_ROUND_BUCKETS - 1) {
      long lo = k ? 1L << (2 * k) : 0, hi = 1L << (2 * (k + 1));
      assert_true(st.size_requests[k] >= lo * st.size_rounds[k]);
      assert_true(st.size_requests[k] < hi * st.size_rounds[k]);
    }
  }
  assert_int_equal(nr, st.rounds);
  assert_int_equal(nq, st.requests);
  assert_close_rel(secs, st.eval_seconds, 1e-9, 1e-12);
}

static void pool_size_does_not_change_answers(void **state) {
  (void)state;
  static rvs_fit_job a[NJ], b[NJ];
  static rvs_spectrum sa[NJ], sb[NJ];
  double fa[NJ], fb[NJ];
  mock ma, mb;
  run_all(1, 0, a, sa, fa, &ma, NULL);
  run_all(7, 0, b, sb, fb, &mb, NULL);
  assert_true(mb.max_batch > ma.max_batch); /* fits really were batched together */
  for (int j = 0; j < NJ; j++) {
    if (j == 5) {
      assert_int_equal(a[j].status, RVS_ERR_ARG);
      assert_int_equal(b[j].status, RVS_ERR_ARG);
      assert_non_null(strstr(b[j].errmsg, "empty spectrum"));
      continue;
    }
    assert_int_equal(a[j].status, RVS_OK);
    assert_true(a[j].result.vel == b[j].result.vel);
    assert_true(a[j].result.param[0] == b[j].result.param[0]);
    assert_close_abs(a[j].result.vel, fa[j], 1e-3);
    assert_close_rel(a[j].result.vel_err, 2.0, 1e-3, 1);
    assert_close_rel(a[j].result.param[0], 5600, 1e-4, 1);
  }
}

/* A pool of 700 fits steps them in parallel (the scatter step's OpenMP loop
 * runs from 512 fits in flight): every answer is bitwise the one of a pool
 * of 1 (serial), and a fit that fails at add_slot stays failed. */
#define NBIG 700
static void parallel_stepping_same_answers(void **state) {
  (void)state;
  rvs_fit_config cfg;
  rvs_fit_config_default(&cfg, 4, NAMES);
  static rvs_fit_job jobs[2][NBIG];
  static rvs_spectrum specs[NBIG];
  static double flux0[NBIG];
  static mock m[2];
  for (int j = 0; j < NBIG; j++) {
    flux0[j] = -300 + 0.9 * j;
    specs[j].narms = j == 123 ? 0 : 1; /* job 123 fails at add_slot */
    specs[j].arms[0].flux = &flux0[j];
    specs[j].arms[0].n = 1;
  }
  const int pools[2] = {1, NBIG};
  for (int r = 0; r < 2; r++) {
    for (int j = 0; j < NBIG; j++) {
      memset(&jobs[r][j], 0, sizeof jobs[r][j]);
      jobs[r][j].spec = &specs[j];
      const double p0[4] = {5000 + 1.5 * j, 4.0, -0.5, 0.1};
      memcpy(jobs[r][j].params0, p0, sizeof p0);
      jobs[r][j].vsini0 = -1;
    }
    make_mock(&m[r]);
    assert_int_equal(rvs_fit_jobs(&m[r].base, &cfg, jobs[r], NBIG, pools[r], NULL, NULL, NULL),
                     RVS_OK);
  }
  assert_true(m[1].max_batch >= 512); /* really stepped 512+ fits per round */
  assert_int_equal(m[0].nevals, m[1].nevals);
  for (int j = 0; j < NBIG; j++) {
    if (j == 123) {
      assert_int_equal(jobs[1][j].status, RVS_ERR_ARG);
      continue;
    }
    assert_int_equal(jobs[1][j].status, RVS_OK);
    assert_true(jobs[0][j].result.vel == jobs[1][j].result.vel);
    assert_true(jobs[0][j].result.vel_err == jobs[1][j].result.vel_err);
    for (int k = 0; k < 4; k++) {
      assert_true(jobs[0][j].result.param[k] == jobs[1][j].result.param[k]);
      assert_true(jobs[0][j].result.param_err[k] == jobs[1][j].result.param_err[k]);
    }
    assert_close_abs(jobs[1][j].result.vel, flux0[j], 1e-3);
  }
}

/* A backend whose memory holds 5 spectra, a pool of 12: the sixth spectrum
 * does not fail, the pool shrinks to 5 and the rest wait for room; every
 * answer is bitwise the serial one (pool 1); a spectrum that does not fit
 * with nothing in flight still fails (no endless wait). */
static void backend_memory_full_shrinks_pool(void **state) {
  (void)state;
  static rvs_fit_job a[NJ], b[NJ];
  static rvs_spectrum sa[NJ], sb[NJ];
  double fa[NJ], fb[NJ];
  mock ma, mb;
  rvs_scheduler_stats st;
  run_all(1, 0, a, sa, fa, &ma, NULL);
  run_all(12, 5, b, sb, fb, &mb, &st);
  assert_int_equal(st.pool_shrinks, 1);
  assert_int_equal(mb.inuse, 0); /* every slot given back */
  for (int j = 0; j < NJ; j++) {
    if (j == 5) {
      assert_int_equal(b[j].status, RVS_ERR_ARG);
      continue;
    }
    assert_int_equal(b[j].status, RVS_OK);
    assert_true(a[j].result.vel == b[j].result.vel);
    assert_true(a[j].result.param[0] == b[j].result.param[0]);
  }
  /* no room even for one: the job fails (no endless wait) */
  rvs_fit_config cfg;
  rvs_fit_config_default(&cfg, 4, NAMES);
  mock mc;
  static rvs_fit_job c[1];
  memset(c, 0, sizeof c);
  c[0] = b[0];
  make_mock(&mc);
  mc.cap = 1;
  mc.inuse = 1; /* full before the first spectrum */
  assert_int_equal(rvs_fit_jobs(&mc.base, &cfg, c, 1, 4, NULL, NULL, &st), RVS_OK);
  assert_int_equal(c[0].status, RVS_ERR_NOMEM);
  assert_int_equal(st.pool_shrinks, 0);
}

/* Repeated points are answered from the fit's memo with the backend's bits:
 * each fit of the scheduler (memo on) ends bitwise where the same fit driven
 * by hand ends (ask/tell, every request evaluated), the backend saw fewer
 * requests, and requests + memo answers = the requests of the hand-driven fits. */
static void memo_answers_repeats_with_same_bits(void **state) {
  (void)state;
  static rvs_fit_job jobs[NJ];
  static rvs_spectrum specs[NJ];
  double flux0[NJ];
  mock m;
  rvs_scheduler_stats st;
  run_all(4, 0, jobs, specs, flux0, &m, &st);
  assert_true(st.memo_hits > 0);
  rvs_fit_config cfg;
  rvs_fit_config_default(&cfg, 4, NAMES);
  long asked = 0;
  for (int j = 0; j < NJ; j++) {
    if (j == 5) continue; /* failed at add_slot: never asked anything */
    rvs_fit f;
    assert_int_equal(rvs_fit_init(&f, &cfg, 0, jobs[j].params0, jobs[j].vsini0), RVS_OK);
    const rvs_eval_request *r;
    int n;
    while ((n = rvs_fit_ask(&f, &r)) > 0) {
      rvs_eval_result res[512];
      assert_true(n <= 512);
      for (int i = 0; i < n; i++) {
        memset(&res[i], 0, sizeof res[i]);
        res[i].m2lnl = m2lnl(flux0[j], r[i].vel, r[i].params);
        res[i].narms = 1;
      }
      asked += n;
      assert_int_equal(rvs_fit_tell(&f, res), RVS_OK);
    }
    const rvs_fit_result *h = rvs_fit_get_result(&f);
    assert_int_equal(jobs[j].status, RVS_OK);
    assert_true(h->vel == jobs[j].result.vel);
    assert_true(h->vel_err == jobs[j].result.vel_err);
    for (int k = 0; k < 4; k++) {
      assert_true(h->param[k] == jobs[j].result.param[k]);
      assert_true(h->param_err[k] == jobs[j].result.param_err[k]);
    }
    rvs_fit_free(&f);
  }
  assert_int_equal(st.requests + st.memo_hits, asked);
  assert_int_equal(m.nevals, st.requests);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(pool_size_does_not_change_answers),
    cmocka_unit_test(parallel_stepping_same_answers),
    cmocka_unit_test(backend_memory_full_shrinks_pool),
    cmocka_unit_test(memo_answers_repeats_with_same_bits),
};
RVS_TEST_MAIN(tests)
