/* Host-side planning of the CUDA backend (src/backend/cuda/cuda_plan.h),
 * without a GPU: template de-duplication against a brute-force O(n^2)
 * search, stable ordering of work items by slot-arm, and the warm-up length
 * of the chunked spline recurrences against the product it bounds. */
#include "rvs_test.h"

#include "backend/cuda/cuda_plan.h"

#include <math.h>

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static double urand(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return (double)((rng * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}

/* Keys drawn from a small pool (many repeats); ids must equal the index of
 * the first equal key in order of appearance, found by brute force. */
static void tplmap_matches_brute_force(void **state) {
  (void)state;
  enum { N = 20000, POOL = 700 };
  static rvs_cuda_tplkey pool[POOL], seq[N];
  for (int i = 0; i < POOL; i++) {
    double p[RVS_MAXPAR];
    for (int k = 0; k < RVS_MAXPAR; k++) p[k] = floor(urand() * 4) * 0.5;
    double vs = urand() < 0.3 ? -1.0 : floor(urand() * 3) * 10.0;
    rvs_cuda_tplkey_make(&pool[i], (int)(urand() * 3), 3 + (int)(urand() * 2), vs, p);
  }
  rvs_cuda_tplmap m;
  memset(&m, 0, sizeof m);
  for (int round = 0; round < 2; round++) { /* the second round reuses the memory */
    rvs_cuda_tplmap_reset(&m);
    int nfirst = 0;
    static int first[N], idof[N];
    for (int i = 0; i < N; i++) {
      seq[i] = pool[(int)(urand() * POOL)];
      int id = -1, isnew = -1;
      assert_int_equal(rvs_cuda_tplmap_get(&m, &seq[i], &id, &isnew), RVS_OK);
      /* brute force: the first earlier key that is equal */
      int ref = -1;
      for (int j = 0; j < nfirst; j++)
        if (rvs_cuda_tplkey_equal(&seq[first[j]], &seq[i])) {
          ref = j;
          break;
        }
      if (ref < 0) {
        assert_int_equal(isnew, 1);
        assert_int_equal(id, nfirst);
        first[nfirst++] = i;
      } else {
        assert_int_equal(isnew, 0);
        assert_int_equal(id, ref);
      }
      idof[i] = id;
    }
    assert_int_equal((int)m.n, nfirst);
    assert_true(nfirst > 100 && nfirst <= POOL); /* repeats happened, many keys */
    for (int i = 0; i < N; i++)
      assert_true(rvs_cuda_tplkey_equal(&m.keys[idof[i]], &seq[i]));
  }
  rvs_cuda_tplmap_free(&m);
}

/* Unused parameters (beyond np) do not split keys; any used one does, and so
 * do the setup and vsini. */
static void tplkey_uses_only_the_interpolator_parameters(void **state) {
  (void)state;
  double p1[RVS_MAXPAR] = {5000, 4, -1, 0.2, 7, 8, 9, 10};
  double p2[RVS_MAXPAR] = {5000, 4, -1, 0.2, -7, 0, 0, 3};
  rvs_cuda_tplkey a, b;
  rvs_cuda_tplkey_make(&a, 1, 4, 10.0, p1);
  rvs_cuda_tplkey_make(&b, 1, 4, 10.0, p2);
  assert_true(rvs_cuda_tplkey_equal(&a, &b));
  assert_true(rvs_cuda_tplkey_hash(&a) == rvs_cuda_tplkey_hash(&b));
  rvs_cuda_tplkey_make(&b, 1, 5, 10.0, p2);
  assert_false(rvs_cuda_tplkey_equal(&a, &b));
  rvs_cuda_tplkey_make(&b, 2, 4, 10.0, p1);
  assert_false(rvs_cuda_tplkey_equal(&a, &b));
  rvs_cuda_tplkey_make(&b, 1, 4, 10.5, p1);
  assert_false(rvs_cuda_tplkey_equal(&a, &b));
  p2[4] = 7;
  p2[3] = nextafter(0.2, 1.0);
  rvs_cuda_tplkey_make(&b, 1, 4, 10.0, p2);
  assert_false(rvs_cuda_tplkey_equal(&a, &b));
}

static void order_by_key_is_a_stable_sort(void **state) {
  (void)state;
  enum { N = 5000, K = 37 };
  static int key[N];
  static size_t order[N], count[K + 1];
  for (int i = 0; i < N; i++) key[i] = (int)(urand() * K);
  rvs_cuda_order_by_key(key, N, K, count, order);
  static int seen[N];
  memset(seen, 0, sizeof seen);
  for (int i = 0; i < N; i++) {
    assert_true(order[i] < N);
    assert_int_equal(seen[order[i]], 0);
    seen[order[i]] = 1;
    if (i > 0) {
      assert_true(key[order[i - 1]] <= key[order[i]]);
      if (key[order[i - 1]] == key[order[i]]) assert_true(order[i - 1] < order[i]);
    }
  }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(tplmap_matches_brute_force),
    cmocka_unit_test(tplkey_uses_only_the_interpolator_parameters),
    cmocka_unit_test(order_by_key_is_a_stable_sort),
};

RVS_TEST_MAIN(tests)
