/* Expression evaluator (see expr.h): a recursive-descent parser emitting a
 * postfix stack program. */
#include "core/expr.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rvs/status.h"

/* Evaluation stack size; deeper expressions are rejected at parse time. */
#define MAX_STACK 64
/* Parser recursion limit (parentheses, unary operators, powers). */
#define MAX_NEST 200

typedef enum op_code {
  OP_CONST,
  OP_X,
  OP_ADD,
  OP_SUB,
  OP_MUL,
  OP_DIV,
  OP_FLOORDIV,
  OP_MOD,
  OP_POW,
  OP_NEG,
  OP_SQRT,
  OP_EXP,
  OP_LOG,
  OP_LOG10,
  OP_LOG2,
  OP_SIN,
  OP_COS,
  OP_TAN,
  OP_ABS,
  OP_SQUARE,
  OP_MIN,
  OP_MAX
} op_code;

typedef struct instr {
  op_code op;
  double value; /* OP_CONST */
} instr;

struct rvs_expr {
  instr *code;
  size_t n;
  char *src;
};

/* Functions: name (after an optional "np." prefix, see lookup_function),
 * op, arity (-2: two or more, folded pairwise). */
typedef struct func_def {
  const char *name;
  op_code op;
  int nargs;
  int numpy_only; /* only valid as np.<name> */
} func_def;

static const func_def FUNCS[] = {
    {"sqrt", OP_SQRT, 1, 0},     {"exp", OP_EXP, 1, 0},        {"log", OP_LOG, 1, 0},
    {"log10", OP_LOG10, 1, 0},   {"log2", OP_LOG2, 1, 0},      {"sin", OP_SIN, 1, 0},
    {"cos", OP_COS, 1, 0},       {"tan", OP_TAN, 1, 0},        {"abs", OP_ABS, 1, 0},
    {"pow", OP_POW, 2, 0},       {"min", OP_MIN, -2, 0},       {"max", OP_MAX, -2, 0},
    {"absolute", OP_ABS, 1, 1},  {"fabs", OP_ABS, 1, 1},       {"square", OP_SQUARE, 1, 1},
    {"power", OP_POW, 2, 1},     {"minimum", OP_MIN, 2, 1},    {"maximum", OP_MAX, 2, 1},
    {"fmin", OP_MIN, 2, 1},      {"fmax", OP_MAX, 2, 1},
};

typedef struct parser {
  const char *src;
  const char *what;
  size_t pos;
  instr *code;
  size_t n, cap;
  int depth, max_depth; /* evaluation stack depth while emitting */
  int nest;
  int err; /* first error status */
} parser;

static int perr(parser *p, size_t pos, const char *fmt, const char *arg) {
  if (p->err) return p->err;
  char problem[160];
  if (arg)
    snprintf(problem, sizeof problem, fmt, arg);
  else
    snprintf(problem, sizeof problem, "%s", fmt);
  p->err = rvs_error(RVS_ERR_ARG, "%s '%s': %s at column %zu", p->what, p->src, problem,
                     pos + 1);
  return p->err;
}

static int emit(parser *p, op_code op, double value) {
  if (p->err) return p->err;
  if (p->n == p->cap) {
    size_t cap = p->cap ? 2 * p->cap : 16;
    instr *c = realloc(p->code, sizeof(instr) * cap);
    if (!c) return p->err = rvs_error(RVS_ERR_NOMEM, "%s '%s': out of memory", p->what, p->src);
    p->code = c;
    p->cap = cap;
  }
  p->code[p->n].op = op;
  p->code[p->n].value = value;
  p->n++;
  switch (op) {
  case OP_CONST:
  case OP_X:
    p->depth++;
    break;
  case OP_ADD:
  case OP_SUB:
  case OP_MUL:
  case OP_DIV:
  case OP_FLOORDIV:
  case OP_MOD:
  case OP_POW:
  case OP_MIN:
  case OP_MAX:
    p->depth--;
    break;
  default:
    break; /* unary */
  }
  if (p->depth > p->max_depth) p->max_depth = p->depth;
  if (p->max_depth > MAX_STACK) return perr(p, p->pos, "expression too complex", NULL);
  return RVS_OK;
}

static void skip_space(parser *p) {
  while (p->src[p->pos] == ' ' || p->src[p->pos] == '\t' || p->src[p->pos] == '\n' ||
         p->src[p->pos] == '\r')
    p->pos++;
}

/* Describe the token at the current position for an error message. */
static int unexpected(parser *p) {
  skip_space(p);
  const char *s = p->src + p->pos;
  if (!*s) return perr(p, p->pos, "unexpected end of expression", NULL);
  char tok[40];
  size_t len = 1;
  if (isalnum((unsigned char)*s) || *s == '_' || *s == '.') {
    while (len < sizeof tok - 1 &&
           (isalnum((unsigned char)s[len]) || s[len] == '_' || s[len] == '.'))
      len++;
  }
  memcpy(tok, s, len);
  tok[len] = 0;
  return perr(p, p->pos, "unexpected '%s'", tok);
}

static int parse_arith(parser *p);
static int parse_factor(parser *p);

static int is_name_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static int is_name_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* Python float/int literal at p->pos (which starts with a digit or '.'). */
static int parse_number(parser *p) {
  const char *s = p->src;
  size_t start = p->pos, i = start;
  int digits = 0;
  while (isdigit((unsigned char)s[i])) i++, digits++;
  if (s[i] == '.') {
    i++;
    while (isdigit((unsigned char)s[i])) i++, digits++;
  }
  if (!digits) return unexpected(p);
  if (s[i] == 'e' || s[i] == 'E') {
    size_t j = i + 1;
    if (s[j] == '+' || s[j] == '-') j++;
    if (!isdigit((unsigned char)s[j])) return perr(p, start, "malformed number", NULL);
    while (isdigit((unsigned char)s[j])) j++;
    i = j;
  }
  if (is_name_char(s[i]) || s[i] == '.') return perr(p, start, "malformed number", NULL);
  char buf[128];
  size_t len = i - start;
  if (len >= sizeof buf) return perr(p, start, "number too long", NULL);
  memcpy(buf, s + start, len);
  buf[len] = 0;
  double v = strtod(buf, NULL);
  p->pos = i;
  return emit(p, OP_CONST, v);
}

static const func_def *lookup_function(const char *name, size_t len) {
  int numpy = 0;
  if (len > 3 && strncmp(name, "np.", 3) == 0) {
    name += 3;
    len -= 3;
    numpy = 1;
  }
  for (size_t k = 0; k < sizeof FUNCS / sizeof FUNCS[0]; k++) {
    if (strlen(FUNCS[k].name) == len && strncmp(FUNCS[k].name, name, len) == 0 &&
        (numpy || !FUNCS[k].numpy_only)) {
      if (numpy && (FUNCS[k].op == OP_MIN || FUNCS[k].op == OP_MAX) && FUNCS[k].nargs == -2)
        continue; /* np.min/np.max are reductions, not elementwise */
      return &FUNCS[k];
    }
  }
  return NULL;
}

static int name_is(const char *s, size_t len, const char *name) {
  return strlen(name) == len && strncmp(s, name, len) == 0;
}

/* Function call after its name; p->pos is just past the name. */
static int parse_call(parser *p, const func_def *f, size_t name_pos, const char *name) {
  skip_space(p);
  if (p->src[p->pos] != '(') return perr(p, name_pos, "function '%s' needs '(' and arguments", name);
  size_t open = p->pos;
  p->pos++;
  if (++p->nest > MAX_NEST) return perr(p, open, "expression nested too deeply", NULL);
  int nargs = 0;
  skip_space(p);
  if (p->src[p->pos] != ')') {
    for (;;) {
      if (parse_arith(p)) return p->err;
      nargs++;
      /* min/max fold pairwise as the arguments arrive. */
      if (f->nargs == -2 && nargs >= 2 && emit(p, f->op, 0)) return p->err;
      skip_space(p);
      if (p->src[p->pos] == ',') {
        p->pos++;
        continue;
      }
      break;
    }
  }
  skip_space(p);
  if (p->src[p->pos] != ')') {
    if (!p->src[p->pos]) return perr(p, open, "missing ')' for this '('", NULL);
    return unexpected(p);
  }
  p->pos++;
  p->nest--;
  int ok = f->nargs == -2 ? nargs >= 2 : nargs == f->nargs;
  if (!ok) {
    const char *want = f->nargs == 1 ? "function '%s' takes 1 argument"
                       : f->nargs == 2 ? "function '%s' takes 2 arguments"
                                       : "function '%s' takes 2 or more arguments";
    return perr(p, name_pos, want, name);
  }
  if (f->nargs != -2) return emit(p, f->op, 0);
  return RVS_OK;
}

static int parse_atom(parser *p) {
  skip_space(p);
  const char *s = p->src;
  char c = s[p->pos];
  if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)s[p->pos + 1])))
    return parse_number(p);
  if (c == '(') {
    size_t open = p->pos;
    p->pos++;
    if (++p->nest > MAX_NEST) return perr(p, open, "expression nested too deeply", NULL);
    if (parse_arith(p)) return p->err;
    p->nest--;
    skip_space(p);
    if (s[p->pos] != ')') {
      if (!s[p->pos]) return perr(p, open, "missing ')' for this '('", NULL);
      return unexpected(p);
    }
    p->pos++;
    return RVS_OK;
  }
  if (is_name_start(c)) {
    size_t start = p->pos, i = p->pos;
    while (is_name_char(s[i])) i++;
    /* dotted names: np.sqrt */
    while (s[i] == '.' && is_name_start(s[i + 1])) {
      i++;
      while (is_name_char(s[i])) i++;
    }
    size_t len = i - start;
    char name[64];
    size_t clen = len < sizeof name - 1 ? len : sizeof name - 1;
    memcpy(name, s + start, clen);
    name[clen] = 0;
    p->pos = i;
    if (name_is(s + start, len, "x")) return emit(p, OP_X, 0);
    if (name_is(s + start, len, "pi") || name_is(s + start, len, "np.pi"))
      return emit(p, OP_CONST, M_PI);
    if (name_is(s + start, len, "np.e")) return emit(p, OP_CONST, M_E);
    const func_def *f = lookup_function(s + start, len);
    if (f) return parse_call(p, f, start, name);
    return perr(p, start, "unknown name '%s'", name);
  }
  return unexpected(p);
}

/* power: atom [('**' | '^') factor] -- right-associative through factor. */
static int parse_power(parser *p) {
  if (parse_atom(p)) return p->err;
  skip_space(p);
  const char *s = p->src + p->pos;
  if ((s[0] == '*' && s[1] == '*') || s[0] == '^') {
    p->pos += s[0] == '^' ? 1 : 2;
    if (parse_factor(p)) return p->err;
    return emit(p, OP_POW, 0);
  }
  return RVS_OK;
}

/* factor: ('+' | '-') factor | power */
static int parse_factor(parser *p) {
  skip_space(p);
  char c = p->src[p->pos];
  if (c == '-' || c == '+') {
    size_t at = p->pos;
    p->pos++;
    if (++p->nest > MAX_NEST) return perr(p, at, "expression nested too deeply", NULL);
    if (parse_factor(p)) return p->err;
    p->nest--;
    return c == '-' ? emit(p, OP_NEG, 0) : RVS_OK;
  }
  return parse_power(p);
}

/* term: factor (('*' | '/' | '//' | '%') factor)* */
static int parse_term(parser *p) {
  if (parse_factor(p)) return p->err;
  for (;;) {
    skip_space(p);
    const char *s = p->src + p->pos;
    op_code op;
    size_t adv = 1;
    if (s[0] == '*' && s[1] != '*')
      op = OP_MUL;
    else if (s[0] == '/' && s[1] == '/')
      op = OP_FLOORDIV, adv = 2;
    else if (s[0] == '/')
      op = OP_DIV;
    else if (s[0] == '%')
      op = OP_MOD;
    else
      return RVS_OK;
    p->pos += adv;
    if (parse_factor(p) || emit(p, op, 0)) return p->err;
  }
}

/* arith: term (('+' | '-') term)* */
static int parse_arith(parser *p) {
  if (parse_term(p)) return p->err;
  for (;;) {
    skip_space(p);
    char c = p->src[p->pos];
    if (c != '+' && c != '-') return RVS_OK;
    p->pos++;
    if (parse_term(p) || emit(p, c == '+' ? OP_ADD : OP_SUB, 0)) return p->err;
  }
}

int rvs_expr_parse_named(const char *src, const char *what, rvs_expr **out) {
  if (out) *out = NULL;
  if (!what) what = "expression";
  if (!src || !out) return rvs_error(RVS_ERR_ARG, "%s: NULL expression", what);
  parser p;
  memset(&p, 0, sizeof p);
  p.src = src;
  p.what = what;
  skip_space(&p);
  if (!src[p.pos]) {
    perr(&p, p.pos, "empty expression", NULL);
  } else if (!parse_arith(&p)) {
    skip_space(&p);
    if (src[p.pos]) {
      if (src[p.pos] == ')')
        perr(&p, p.pos, "unbalanced ')'", NULL);
      else
        unexpected(&p);
    }
  }
  if (p.err) {
    free(p.code);
    return p.err;
  }
  rvs_expr *e = malloc(sizeof *e);
  char *copy = malloc(strlen(src) + 1);
  if (!e || !copy) {
    free(e);
    free(copy);
    free(p.code);
    return rvs_error(RVS_ERR_NOMEM, "%s '%s': out of memory", what, src);
  }
  strcpy(copy, src);
  e->code = p.code;
  e->n = p.n;
  e->src = copy;
  *out = e;
  return RVS_OK;
}

int rvs_expr_parse(const char *src, rvs_expr **out) {
  return rvs_expr_parse_named(src, "resolution function", out);
}

/* Python's float floor division and modulo (sign of the divisor). */
static double py_floordiv(double a, double b) {
  if (b == 0) return a / b;
  double mod = fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1.0;
  if (div == 0) return copysign(0.0, a / b);
  double fl = floor(div);
  if (div - fl > 0.5) fl += 1.0;
  return fl;
}

static double py_mod(double a, double b) {
  if (b == 0) return NAN;
  double mod = fmod(a, b);
  if (mod != 0) {
    if ((b < 0) != (mod < 0)) mod += b;
  } else {
    mod = copysign(0.0, b);
  }
  return mod;
}

/* numpy's array ** scalar: exponents 2, 0.5, -1 take exact fast paths
 * (square, sqrt, reciprocal) instead of pow(). */
static double np_power(double a, double b) {
  if (b == 2) return a * a;
  if (b == 0.5) return sqrt(a);
  if (b == -1) return 1 / a;
  return pow(a, b);
}

/* numpy's minimum/maximum propagate NaN. */
static double nan_min(double a, double b) { return (isnan(a) || isnan(b)) ? NAN : (a < b ? a : b); }
static double nan_max(double a, double b) { return (isnan(a) || isnan(b)) ? NAN : (a > b ? a : b); }

double rvs_expr_eval(const rvs_expr *e, double x) {
  double st[MAX_STACK + 1];
  int sp = 0; /* number of values on the stack */
  for (size_t k = 0; k < e->n; k++) {
    const instr *in = &e->code[k];
    switch (in->op) {
    case OP_CONST: st[sp++] = in->value; break;
    case OP_X: st[sp++] = x; break;
    case OP_ADD: sp--; st[sp - 1] = st[sp - 1] + st[sp]; break;
    case OP_SUB: sp--; st[sp - 1] = st[sp - 1] - st[sp]; break;
    case OP_MUL: sp--; st[sp - 1] = st[sp - 1] * st[sp]; break;
    case OP_DIV: sp--; st[sp - 1] = st[sp - 1] / st[sp]; break;
    case OP_FLOORDIV: sp--; st[sp - 1] = py_floordiv(st[sp - 1], st[sp]); break;
    case OP_MOD: sp--; st[sp - 1] = py_mod(st[sp - 1], st[sp]); break;
    case OP_POW: sp--; st[sp - 1] = np_power(st[sp - 1], st[sp]); break;
    case OP_MIN: sp--; st[sp - 1] = nan_min(st[sp - 1], st[sp]); break;
    case OP_MAX: sp--; st[sp - 1] = nan_max(st[sp - 1], st[sp]); break;
    case OP_NEG: st[sp - 1] = -st[sp - 1]; break;
    case OP_SQRT: st[sp - 1] = sqrt(st[sp - 1]); break;
    case OP_EXP: st[sp - 1] = exp(st[sp - 1]); break;
    case OP_LOG: st[sp - 1] = log(st[sp - 1]); break;
    case OP_LOG10: st[sp - 1] = log10(st[sp - 1]); break;
    case OP_LOG2: st[sp - 1] = log2(st[sp - 1]); break;
    case OP_SIN: st[sp - 1] = sin(st[sp - 1]); break;
    case OP_COS: st[sp - 1] = cos(st[sp - 1]); break;
    case OP_TAN: st[sp - 1] = tan(st[sp - 1]); break;
    case OP_ABS: st[sp - 1] = fabs(st[sp - 1]); break;
    case OP_SQUARE: st[sp - 1] = st[sp - 1] * st[sp - 1]; break;
    }
  }
  return sp == 1 ? st[0] : NAN;
}

double rvs_expr_eval_cb(double x, void *ctx) { return rvs_expr_eval((const rvs_expr *)ctx, x); }

const char *rvs_expr_source(const rvs_expr *e) { return e ? e->src : NULL; }

void rvs_expr_free(rvs_expr *e) {
  if (!e) return;
  free(e->code);
  free(e->src);
  free(e);
}
