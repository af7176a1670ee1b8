/* Arithmetic expressions in one variable x, for upstream's --resol_func (a
 * Python expression evaluated with x = wavelength in Angstrom and numpy as
 * np, e.g. "x/1.55", "1000+2*x", "np.sqrt(x)*3").
 *
 * Syntax and precedence are Python's: numbers (1, 2.5, .5, 5., 1e3, 2.5E-3),
 * x, parentheses, binary + - * / // % and ** (right-associative, binding
 * tighter than a unary minus on its left: -2**2 = -4, 2**-1 = 0.5), unary
 * + and -.  '^' is accepted as a synonym of '**' (not Python's xor).
 * Names: pi, np.pi, np.e; functions sqrt exp log log10 log2 sin cos tan abs
 * (one argument), pow (two), min max (two or more), each also as np.<name>,
 * plus np.absolute np.fabs np.square np.power np.minimum np.maximum
 * np.fmin np.fmax.  Arithmetic is IEEE double as numpy's: x/0 gives inf or
 * nan, never an error; x**2, x**0.5 and x**-1 are x*x, sqrt(x) and 1/x
 * as numpy computes array ** scalar.
 *
 * The parsed expression is an immutable stack program: evaluation is
 * thread-safe and allocates nothing. */
#ifndef RVS_CORE_EXPR_H
#define RVS_CORE_EXPR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rvs_expr rvs_expr;

/* Parse src.  On error returns RVS_ERR_ARG (RVS_ERR_NOMEM if out of memory),
 * sets *out = NULL and a message quoting the expression with the 1-based
 * column of the problem, e.g.
 *   resolution function 'x/': unexpected end of expression at column 3 */
int rvs_expr_parse(const char *src, rvs_expr **out);

/* Same, with another label than "resolution function" in the messages. */
int rvs_expr_parse_named(const char *src, const char *what, rvs_expr **out);

double rvs_expr_eval(const rvs_expr *e, double x);

/* The source text the expression was parsed from. */
const char *rvs_expr_source(const rvs_expr *e);

/* Callback form for APIs taking double (*)(double, void *) (ctx = the expr). */
double rvs_expr_eval_cb(double x, void *ctx);

void rvs_expr_free(rvs_expr *e);

#ifdef __cplusplus
}
#endif
#endif
