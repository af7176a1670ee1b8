/* Expression evaluator (src/core/expr.c): values against the same formulas
 * written in C, Python's precedence rules (results checked with python3),
 * parse errors with their column, IEEE division by zero, thread safety. */
#include "rvs_test.h"

#include <float.h>

#include <stdlib.h>

#include "core/expr.h"
#include "rvs/status.h"

static double eval_src(const char *src, double x) {
  rvs_expr *e = NULL;
  int rc = rvs_expr_parse(src, &e);
  if (rc != RVS_OK) fail_msg("parse of '%s' failed: %s", src, rvs_last_error());
  double v = rvs_expr_eval(e, x);
  rvs_expr_free(e);
  return v;
}

/* Equal to the last bit: the evaluator does the same IEEE operations in the
 * same order as the C expression. */
#define CHECK_EXACT(src, x, cexpr)                                                     \
  do {                                                                                 \
    double x_ = (x);                                                                   \
    double got_ = eval_src(src, x_), want_ = (cexpr);                                  \
    if (!(got_ == want_)) fail_msg("'%s' at x=%g: %.17g, expected %.17g", src, x_, got_, want_); \
  } while (0)

static void upstream_resolution_functions(void **state) {
  (void)state;
  double xs[3] = {3600.0, 5577.3, 9824.0};
  for (int i = 0; i < 3; i++) {
    double x = xs[i];
    CHECK_EXACT("x/1.55", x, x / 1.55);
    CHECK_EXACT("1000+2*x", x, 1000 + 2 * x);
    CHECK_EXACT("0.849*x", x, 0.849 * x);
    CHECK_EXACT("x/(1.55+0*x)", x, x / (1.55 + 0 * x));
    /* make_interpol --fixed_fwhm builds 'x/%f*%f' */
    CHECK_EXACT("x/6712.000000*5000.000000", x, x / 6712.0 * 5000.0);
    CHECK_EXACT("np.sqrt(x)*30", x, sqrt(x) * 30);
    CHECK_EXACT("  2000 + 0.5 * (x - 4000) / 3  ", x, 2000 + 0.5 * (x - 4000) / 3);
  }
}

static void numbers_and_arithmetic(void **state) {
  (void)state;
  CHECK_EXACT("1e3", 0, 1e3);
  CHECK_EXACT(".5", 0, 0.5);
  CHECK_EXACT("5.", 0, 5.0);
  CHECK_EXACT("2.5E-3*x", 7, 2.5e-3 * 7);
  CHECK_EXACT("1.5e+2", 0, 150.0);
  CHECK_EXACT("x-1-2", 10, 10 - 1.0 - 2.0);    /* left-assoc: 7 */
  CHECK_EXACT("64/x/2", 8, 64 / 8.0 / 2);      /* 4 */
  CHECK_EXACT("1+2*3-4/8", 0, 1 + 2 * 3 - 4 / 8.0);
  CHECK_EXACT("(1+2)*(3-x)", 5, (1 + 2) * (3 - 5.0));
  CHECK_EXACT("-x", 3, -3.0);
  CHECK_EXACT("--x", 3, 3.0);
  CHECK_EXACT("+x*-2", 3, -6.0);
  CHECK_EXACT("x*1e-3+x**0.5", 4000, 4000 * 1e-3 + pow(4000, 0.5));
}

/* Python: 2**3**2 == 512, -2**2 == -4, 2**-1 == 0.5, (-2)**2 == 4,
 * 2*3**2 == 18, -x**2 == -9 at x = 3, 7//2 == 3, -7//2 == -4, -7%3 == 2,
 * 7%-3 == -2, 7.5//2 == 3.0 (checked with python3). */
static void python_precedence_and_associativity(void **state) {
  (void)state;
  CHECK_EXACT("2**3**2", 0, 512.0);
  CHECK_EXACT("2^3^2", 0, 512.0);
  CHECK_EXACT("(2**3)**2", 0, 64.0);
  CHECK_EXACT("-2**2", 0, -4.0);
  CHECK_EXACT("2**-1", 0, 0.5);
  CHECK_EXACT("(-2)**2", 0, 4.0);
  CHECK_EXACT("2*3**2", 0, 18.0);
  CHECK_EXACT("-x**2", 3, -9.0);
  CHECK_EXACT("x**2/2", 3, 4.5);
  CHECK_EXACT("7//2", 0, 3.0);
  CHECK_EXACT("-7//2", 0, -4.0);
  CHECK_EXACT("-7%3", 0, 2.0);
  CHECK_EXACT("7%-3", 0, -2.0);
  CHECK_EXACT("7.5//2", 0, 3.0);
  CHECK_EXACT("1+7//2*2", 0, 7.0);
}

static void functions_and_constants(void **state) {
  (void)state;
  double x = 2.7;
  CHECK_EXACT("sqrt(x)", x, sqrt(x));
  CHECK_EXACT("exp(x)", x, exp(x));
  CHECK_EXACT("log(x)", x, log(x));
  CHECK_EXACT("log10(x)", x, log10(x));
  CHECK_EXACT("sin(x)+cos(x)", x, sin(x) + cos(x));
  CHECK_EXACT("abs(1-x)", x, fabs(1 - x));
  CHECK_EXACT("min(x, 2)", x, 2.0);
  CHECK_EXACT("max(x, 2, 9, -1)", x, 9.0);
  CHECK_EXACT("pow(x, 1.5)", x, pow(x, 1.5));
  CHECK_EXACT("2*pi*x", x, 2 * M_PI * x);
  CHECK_EXACT("np.pi + np.e", x, M_PI + M_E);
  CHECK_EXACT("np.exp(np.log(x)) * np.abs(-1)", x, exp(log(x)) * fabs(-1.0));
  CHECK_EXACT("np.maximum(x, 3) + np.minimum(x, 3)", x, 3.0 + x);
  CHECK_EXACT("np.power(x, 2) - np.square(x)", x, pow(x, 2) - x * x);
  CHECK_EXACT("sqrt(sqrt(16))", 0, 2.0);
  CHECK_EXACT("max(1, min(x, 2)) ** 2", x, 4.0);
  /* the source is kept */
  rvs_expr *e;
  assert_int_equal(rvs_expr_parse("x/1.55", &e), RVS_OK);
  assert_string_equal(rvs_expr_source(e), "x/1.55");
  assert_true(rvs_expr_eval_cb(3.1, e) == 2.0);
  rvs_expr_free(e);
}

static void expect_error(const char *src, const char *fragment, int column) {
  rvs_expr *e = (rvs_expr *)&e; /* must be reset to NULL */
  int rc = rvs_expr_parse(src, &e);
  if (rc != RVS_ERR_ARG) fail_msg("'%s': status %d, expected RVS_ERR_ARG", src, rc);
  assert_null(e);
  const char *msg = rvs_last_error();
  char col[32];
  snprintf(col, sizeof col, "at column %d", column);
  if (!strstr(msg, fragment) || !strstr(msg, col) || !strstr(msg, src))
    fail_msg("'%s': message \"%s\" lacks \"%s\" or \"%s\"", src, msg, fragment, col);
}

static void parse_errors(void **state) {
  (void)state;
  rvs_expr *e;
  assert_int_equal(rvs_expr_parse("x/", &e), RVS_ERR_ARG);
  assert_string_equal(rvs_last_error(),
                      "resolution function 'x/': unexpected end of expression at column 3");
  expect_error("", "empty expression", 1);
  expect_error("   ", "empty expression", 4);
  expect_error("(x+1", "missing ')'", 1);
  expect_error("sqrt(x", "missing ')'", 5);
  expect_error("x+1)", "unbalanced ')'", 4);
  expect_error("foo(x)", "unknown name 'foo'", 1);
  expect_error("2*y", "unknown name 'y'", 3);
  expect_error("np.foo(x)", "unknown name 'np.foo'", 1);
  expect_error("x y", "unexpected 'y'", 3);
  expect_error("2x", "malformed number", 1);
  expect_error("1.2.3", "malformed number", 1);
  expect_error("1e", "malformed number", 1);
  expect_error("x**", "unexpected end", 4);
  expect_error("x $ 2", "unexpected '$'", 3);
  expect_error("sqrt x", "needs '('", 1);
  expect_error("sqrt(1, 2)", "takes 1 argument", 1);
  expect_error("pow(2)", "takes 2 arguments", 1);
  expect_error("min(1)", "2 or more", 1);
  expect_error("x*()", "unexpected ')'", 4);
  expect_error("(x,1)", "unexpected ','", 3);
  /* another label */
  assert_int_equal(rvs_expr_parse_named("x+", "--foo", &e), RVS_ERR_ARG);
  assert_string_equal(rvs_last_error(), "--foo 'x+': unexpected end of expression at column 3");
}

static void division_by_zero_is_ieee(void **state) {
  (void)state;
  double v = eval_src("1/x", 0.0);
  assert_true(isinf(v) && v > 0);
  v = eval_src("-1/x", 0.0);
  assert_true(isinf(v) && v < 0);
  assert_true(isnan(eval_src("x/x", 0.0)));
  assert_true(isinf(eval_src("x/0", 5.0)));
  assert_true(isnan(eval_src("x%0", 5.0)));
  assert_true(isinf(eval_src("x//0", 5.0)));
  assert_true(isnan(eval_src("sqrt(x)", -1.0)));
  assert_true(isnan(eval_src("(-8)**(1/3)", 0.0))); /* numpy float power: nan */
}

/* Limits: long flat expressions are fine (the stack stays shallow), deep
 * nesting is refused with a message instead of overflowing anything. */
static void size_limits(void **state) {
  (void)state;
  size_t terms = 2000;
  char *src = malloc(terms * 2 + 8);
  assert_non_null(src);
  size_t p = 0;
  for (size_t i = 0; i < terms; i++) {
    if (i) src[p++] = '+';
    src[p++] = 'x';
  }
  src[p] = 0;
  CHECK_EXACT(src, 0.5, 1000.0);
  p = 0;
  for (int i = 0; i < 150; i++) src[p++] = '(';
  src[p++] = 'x';
  for (int i = 0; i < 150; i++) src[p++] = ')';
  src[p] = 0;
  CHECK_EXACT(src, 1.25, 1.25);
  p = 0;
  for (int i = 0; i < 300; i++) src[p++] = '(';
  src[p++] = 'x';
  for (int i = 0; i < 300; i++) src[p++] = ')';
  src[p] = 0;
  rvs_expr *e;
  assert_int_equal(rvs_expr_parse(src, &e), RVS_ERR_ARG);
  assert_non_null(strstr(rvs_last_error(), "nested too deeply"));
  /* right-nested powers need a deep evaluation stack: refused, not overrun */
  p = 0;
  for (int i = 0; i < 100; i++) {
    memcpy(src + p, "1**", 3);
    p += 3;
  }
  src[p++] = '1';
  src[p] = 0;
  assert_int_equal(rvs_expr_parse(src, &e), RVS_ERR_ARG);
  assert_non_null(strstr(rvs_last_error(), "too complex"));
  free(src);
}

/* One parsed expression evaluated from many threads gives the serial values. */
static void concurrent_evaluation(void **state) {
  (void)state;
  rvs_expr *e;
  assert_int_equal(rvs_expr_parse("max(1000, 2*x - sqrt(x)) / (1 + x**2 / 1e8)", &e), RVS_OK);
  int n = 200000;
  double *a = malloc(sizeof(double) * (size_t)n);
  assert_non_null(a);
  int bad = 0;
#ifdef _OPENMP
#pragma omp parallel for reduction(+ : bad)
#endif
  for (int i = 0; i < n; i++) {
    double x = 3000.0 + 0.035 * i;
    a[i] = rvs_expr_eval(e, x);
    double want = fmax(1000, 2 * x - sqrt(x)) / (1 + pow(x, 2) / 1e8);
    /* the evaluator and the compiled expression may round pow(x, 2) and x*x
     * differently (unoptimised builds call pow): allow a few ulp */
    if (!(fabs(a[i] - want) <= 4 * DBL_EPSILON * fabs(want))) bad++;
  }
  assert_int_equal(bad, 0);
  rvs_expr_free(e);
  free(a);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(upstream_resolution_functions),
    cmocka_unit_test(numbers_and_arithmetic),
    cmocka_unit_test(python_precedence_and_associativity),
    cmocka_unit_test(functions_and_constants),
    cmocka_unit_test(parse_errors),
    cmocka_unit_test(division_by_zero_is_ieee),
    cmocka_unit_test(size_limits),
    cmocka_unit_test(concurrent_evaluation),
};

RVS_TEST_MAIN(tests)
