#include "fit/bfgs.h"

#include "rvs/status.h"

#include <math.h>
#include <string.h>

enum {
  ST_INIT = 0,   /* need f and g at x0 */
  ST_ITER,       /* loop test, direction, start the line search */
  ST_W1_EVAL,    /* DCSRCH wants phi and derphi at stp */
  ST_W2_START,   /* wolfe2: need phi(alpha1) */
  ST_W2_LOOP,    /* wolfe2 loop body, phi_a1 known */
  ST_W2_DER,     /* need derphi(alpha1) */
  ST_W2_NEXT,    /* need phi of the doubled step */
  ST_Z_LOOP,     /* zoom: choose a_j, need phi(a_j) */
  ST_Z_PHI,      /* zoom: phi(a_j) known? */
  ST_Z_DER,      /* zoom: need derphi(a_j) */
  ST_LS_DONE,    /* line search finished (ls_alpha or failure) */
  ST_POST_GRAD,  /* need the gradient at the new iterate */
  ST_DONE
};

/* DCSRCH task codes */
enum { T_START, T_FG, T_CONV, T_WARN, T_ERROR };

static const double C1 = 1e-4, C2 = 0.9;
static const double AMIN = 1e-100, AMAX = 1e100, XTOL_LS = 1e-14;

/* ---------------------------------------------------------------- helpers */

static double pymax3(double a, double b, double c) { /* Python's max() */
  double m = a;
  if (b > m) m = b;
  if (c > m) m = c;
  return m;
}

static double sgn(double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : (v == 0 ? 0.0 : v)); }

static double clip(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

static double dot(const double *a, const double *b, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

static double norm2(const double *a, int n) { return sqrt(dot(a, a, n)); }

static double norminf(const double *a, int n) {
  double m = 0;
  for (int i = 0; i < n; i++) {
    double v = fabs(a[i]);
    if (v > m || isnan(v)) m = v;
  }
  return m;
}

static void point_on_line(const rvs_bfgs *b, double alpha, double *x) {
  for (int i = 0; i < b->n; i++) x[i] = b->x[i] + alpha * b->pk[i];
}

/* scipy's ScalarFunction cache: a new x invalidates f and g.  Returns 1 if the
 * wanted values are available, else records what must be evaluated. */
static int same_x(const rvs_bfgs *b, const double *x) {
  if (!b->c_has_x) return 0;
  for (int i = 0; i < b->n; i++)
    if (!(b->cx[i] == x[i])) return 0;
  return 1;
}

static void set_x(rvs_bfgs *b, const double *x) {
  if (!same_x(b, x)) {
    memcpy(b->cx, x, sizeof(double) * (size_t)b->n);
    b->c_has_x = 1;
    b->c_f_ok = b->c_g_ok = 0;
  }
}

static int want_f(rvs_bfgs *b, const double *x) {
  set_x(b, x);
  if (b->c_f_ok) return 1;
  memcpy(b->ex, x, sizeof(double) * (size_t)b->n);
  b->need_f = 1;
  b->need_g = 0;
  return 0;
}

static int want_g(rvs_bfgs *b, const double *x) {
  set_x(b, x);
  if (b->c_g_ok) return 1;
  memcpy(b->ex, x, sizeof(double) * (size_t)b->n);
  b->need_f = !b->c_f_ok;
  b->need_g = 1;
  return 0;
}

/* Forward-difference step as scipy approx_derivative with abs_step=eps. */
static double fd_step(double x, double eps) {
  double h = eps;
  if ((x + h) - x == 0) {
    double sign = x >= 0 ? 1.0 : -1.0;
    h = eps * sign * (fabs(x) > 1.0 ? fabs(x) : 1.0); /* eps_for_method('2-point') = sqrt(eps) */
  }
  return h;
}

/* ---------------------------------------------------------------- DCSRCH */

static void dcstep(double *stx, double *fx, double *dx, double *sty, double *fy, double *dy,
                   double *stp, double fp, double dp, int *brackt, double stpmin, double stpmax) {
  double sgnd = sgn(dp) * sgn(*dx);
  double stpf, theta, s, gamma, p, q, r, stpc, stpq;
  if (fp > *fx) {
    theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
    s = pymax3(fabs(theta), fabs(*dx), fabs(dp));
    gamma = s * sqrt((theta / s) * (theta / s) - (*dx / s) * (dp / s));
    if (*stp < *stx) gamma = -gamma;
    p = (gamma - *dx) + theta;
    q = ((gamma - *dx) + gamma) + dp;
    r = p / q;
    stpc = *stx + r * (*stp - *stx);
    stpq = *stx + ((*dx / ((*fx - fp) / (*stp - *stx) + *dx)) / 2.0) * (*stp - *stx);
    if (fabs(stpc - *stx) <= fabs(stpq - *stx)) stpf = stpc;
    else stpf = stpc + (stpq - stpc) / 2.0;
    *brackt = 1;
  } else if (sgnd < 0.0) {
    theta = 3 * (*fx - fp) / (*stp - *stx) + *dx + dp;
    s = pymax3(fabs(theta), fabs(*dx), fabs(dp));
    gamma = s * sqrt((theta / s) * (theta / s) - (*dx / s) * (dp / s));
    if (*stp > *stx) gamma = -gamma;
    p = (gamma - dp) + theta;
    q = ((gamma - dp) + gamma) + *dx;
    r = p / q;
    stpc = *stp + r * (*stx - *stp);
    stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
    stpf = fabs(stpc - *stp) > fabs(stpq - *stp) ? stpc : stpq;
    *brackt = 1;
  } else if (fabs(dp) < fabs(*dx)) {
    theta = 3 * (*fx - fp) / (*stp - *stx) + *dx + dp;
    s = pymax3(fabs(theta), fabs(*dx), fabs(dp));
    double rad = (theta / s) * (theta / s) - (*dx / s) * (dp / s);
    gamma = s * sqrt(rad > 0 ? rad : 0); /* Python max(0, rad) */
    if (*stp > *stx) gamma = -gamma;
    p = (gamma - dp) + theta;
    q = (gamma + (*dx - dp)) + gamma;
    r = p / q;
    if (r < 0 && gamma != 0) stpc = *stp + r * (*stx - *stp);
    else if (*stp > *stx) stpc = stpmax;
    else stpc = stpmin;
    stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
    if (*brackt) {
      stpf = fabs(stpc - *stp) < fabs(stpq - *stp) ? stpc : stpq;
      if (*stp > *stx) {
        double t = *stp + 0.66 * (*sty - *stp);
        stpf = t < stpf ? t : stpf;
      } else {
        double t = *stp + 0.66 * (*sty - *stp);
        stpf = t > stpf ? t : stpf;
      }
    } else {
      stpf = fabs(stpc - *stp) > fabs(stpq - *stp) ? stpc : stpq;
      stpf = clip(stpf, stpmin, stpmax);
    }
  } else {
    if (*brackt) {
      theta = 3.0 * (fp - *fy) / (*sty - *stp) + *dy + dp;
      s = pymax3(fabs(theta), fabs(*dy), fabs(dp));
      gamma = s * sqrt((theta / s) * (theta / s) - (*dy / s) * (dp / s));
      if (*stp > *sty) gamma = -gamma;
      p = (gamma - dp) + theta;
      q = ((gamma - dp) + gamma) + *dy;
      r = p / q;
      stpc = *stp + r * (*sty - *stp);
      stpf = stpc;
    } else if (*stp > *stx) {
      stpf = stpmax;
    } else {
      stpf = stpmin;
    }
  }
  if (fp > *fx) {
    *sty = *stp; *fy = fp; *dy = dp;
  } else {
    if (sgnd < 0) { *sty = *stx; *fy = *fx; *dy = *dx; }
    *stx = *stp; *fx = fp; *dx = dp;
  }
  *stp = stpf;
}

/* One call of DCSRCH._iterate: updates *stp and returns the new task. */
static int dcsrch_iterate(rvs_dcsrch *d, double *stp, double f, double g, int task) {
  const double p5 = 0.5, p66 = 0.66, xtrapl = 1.1, xtrapu = 4.0;
  if (task == T_START) {
    int err = 0;
    if (*stp < d->stpmin || *stp > d->stpmax || g >= 0 || d->ftol < 0 || d->gtol < 0 ||
        d->xtol < 0 || d->stpmin < 0 || d->stpmax < d->stpmin)
      err = 1;
    if (err) return T_ERROR;
    d->brackt = 0;
    d->stage = 1;
    d->finit = f;
    d->ginit = g;
    d->gtest = d->ftol * d->ginit;
    d->width = d->stpmax - d->stpmin;
    d->width1 = d->width / p5;
    d->stx = 0.0; d->fx = d->finit; d->gx = d->ginit;
    d->sty = 0.0; d->fy = d->finit; d->gy = d->ginit;
    d->stmin = 0;
    d->stmax = *stp + xtrapu * *stp;
    return T_FG;
  }
  double ftest = d->finit + *stp * d->gtest;
  if (d->stage == 1 && f <= ftest && g >= 0) d->stage = 2;
  int t = T_FG;
  if (d->brackt && (*stp <= d->stmin || *stp >= d->stmax)) t = T_WARN;
  if (d->brackt && d->stmax - d->stmin <= d->xtol * d->stmax) t = T_WARN;
  if (*stp == d->stpmax && f <= ftest && g <= d->gtest) t = T_WARN;
  if (*stp == d->stpmin && (f > ftest || g >= d->gtest)) t = T_WARN;
  if (f <= ftest && fabs(g) <= d->gtol * -d->ginit) t = T_CONV;
  if (t == T_WARN || t == T_CONV) return t;

  if (d->stage == 1 && f <= d->fx && f > ftest) {
    double fm = f - *stp * d->gtest;
    double fxm = d->fx - d->stx * d->gtest;
    double fym = d->fy - d->sty * d->gtest;
    double gm = g - d->gtest;
    double gxm = d->gx - d->gtest;
    double gym = d->gy - d->gtest;
    dcstep(&d->stx, &fxm, &gxm, &d->sty, &fym, &gym, stp, fm, gm, &d->brackt, d->stmin, d->stmax);
    d->fx = fxm + d->stx * d->gtest;
    d->fy = fym + d->sty * d->gtest;
    d->gx = gxm + d->gtest;
    d->gy = gym + d->gtest;
  } else {
    dcstep(&d->stx, &d->fx, &d->gx, &d->sty, &d->fy, &d->gy, stp, f, g, &d->brackt, d->stmin,
           d->stmax);
  }
  if (d->brackt) {
    if (fabs(d->sty - d->stx) >= p66 * d->width1) *stp = d->stx + p5 * (d->sty - d->stx);
    d->width1 = d->width;
    d->width = fabs(d->sty - d->stx);
  }
  if (d->brackt) {
    d->stmin = d->stx < d->sty ? d->stx : d->sty;
    d->stmax = d->stx > d->sty ? d->stx : d->sty;
  } else {
    d->stmin = *stp + xtrapl * (*stp - d->stx);
    d->stmax = *stp + xtrapu * (*stp - d->stx);
  }
  *stp = clip(*stp, d->stpmin, d->stpmax);
  if ((d->brackt && (*stp <= d->stmin || *stp >= d->stmax)) ||
      (d->brackt && d->stmax - d->stmin <= d->xtol * d->stmax))
    *stp = d->stx;
  return T_FG;
}

/* ---------------------------------------------------------------- zoom helpers */

static int cubicmin(double a, double fa, double fpa, double b, double fb, double c, double fc,
                    double *xmin) {
  double C = fpa, db = b - a, dc = c - a;
  double denom = (db * dc) * (db * dc) * (db - dc);
  double d00 = dc * dc, d01 = -db * db, d10 = -dc * dc * dc, d11 = db * db * db;
  double v0 = fb - fa - C * db, v1 = fc - fa - C * dc;
  double A = d00 * v0 + d01 * v1, B = d10 * v0 + d11 * v1;
  if (denom == 0 || !isfinite(A) || !isfinite(B)) return 0; /* numpy would raise */
  A /= denom;
  B /= denom;
  double radical = B * B - 3 * A * C;
  if (!(radical >= 0) || A == 0 || !isfinite(radical)) return 0;
  double x = a + (-B + sqrt(radical)) / (3 * A);
  if (!isfinite(x)) return 0;
  *xmin = x;
  return 1;
}

static int quadmin(double a, double fa, double fpa, double b, double fb, double *xmin) {
  double D = fa, C = fpa, db = b - a * 1.0;
  if (db == 0) return 0;
  double B = (fb - D - C * db) / (db * db);
  if (B == 0 || !isfinite(B)) return 0;
  double x = a - C / (2.0 * B);
  if (!isfinite(x)) return 0;
  *xmin = x;
  return 1;
}

/* ---------------------------------------------------------------- the machine */

static void start_wolfe2(rvs_bfgs *b) {
  /* line_search_wolfe2 with the ORIGINAL old_fval / old_old_fval */
  b->alpha0 = 0;
  if (b->derphi0 != 0) b->alpha1 = fmin(1.0, 1.01 * 2 * (b->phi0 - b->old_phi0) / b->derphi0);
  else b->alpha1 = 1.0;
  if (b->alpha1 < 0) b->alpha1 = 1.0;
  b->alpha1 = fmin(b->alpha1, AMAX);
  b->ls_iter = 0;
  b->state = ST_W2_START;
}

static void finish_ls(rvs_bfgs *b, int ok, double alpha, double phi, double phi0, int have_grad) {
  b->state = ST_LS_DONE;
  b->ls_alpha = ok ? alpha : NAN;
  b->ls_phi = phi;
  b->ls_phi0 = phi0;
  b->ls_have_grad = have_grad;
  if (have_grad) memcpy(b->ls_g, b->cg, sizeof(double) * (size_t)b->n);
}

static void start_zoom(rvs_bfgs *b, double a_lo, double a_hi, double phi_lo, double phi_hi,
                       double derphi_lo) {
  b->a_lo = a_lo; b->a_hi = a_hi; b->phi_lo = phi_lo; b->phi_hi = phi_hi;
  b->derphi_lo = derphi_lo;
  b->z_iter = 0;
  b->phi_rec = b->phi0;
  b->a_rec = 0;
  b->state = ST_Z_LOOP;
}

/* Run until an evaluation is needed or the minimiser is done. */
static void advance(rvs_bfgs *b) {
  int n = b->n;
  double xt[RVS_BFGS_MAXDIM];
  for (;;) {
    switch (b->state) {
    case ST_INIT:
      if (!want_g(b, b->x)) return;
      b->old_fval = b->cf;
      memcpy(b->g, b->cg, sizeof(double) * (size_t)n);
      b->old_old_fval = b->old_fval + norm2(b->g, n) / 2;
      b->gnorm = norminf(b->g, n);
      b->state = ST_ITER;
      break;

    case ST_ITER: {
      if (!(b->gnorm > b->gtol && b->k < b->maxiter)) {
        b->state = ST_DONE;
        break;
      }
      for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < n; j++) s += b->H[i][j] * b->g[j];
        b->pk[i] = -s;
      }
      /* line_search_wolfe1 */
      b->phi0 = b->old_fval;
      b->old_phi0 = b->old_old_fval;
      b->derphi0 = dot(b->g, b->pk, n);
      double alpha1 = 1.0;
      if (b->derphi0 != 0) {
        alpha1 = fmin(1.0, 1.01 * 2 * (b->phi0 - b->old_phi0) / b->derphi0);
        if (alpha1 < 0) alpha1 = 1.0;
      }
      rvs_dcsrch *d = &b->dc;
      memset(d, 0, sizeof *d);
      d->ftol = C1; d->gtol = C2; d->xtol = XTOL_LS; d->stpmin = AMIN; d->stpmax = AMAX;
      b->stp = alpha1;
      b->phi1 = b->phi0;
      b->derphi1 = b->derphi0;
      b->dc_task = T_START;
      b->ls_iter = 0;
      /* first _iterate call (START) */
      b->dc_task = dcsrch_iterate(d, &b->stp, b->phi1, b->derphi1, b->dc_task);
      b->ls_iter = 1;
      if (!isfinite(b->stp)) { start_wolfe2(b); break; }
      if (b->dc_task != T_FG) { start_wolfe2(b); break; } /* ERROR at start */
      b->state = ST_W1_EVAL;
      break;
    }

    case ST_W1_EVAL: {
      point_on_line(b, b->stp, xt);
      if (!want_g(b, xt)) return;
      b->phi1 = b->cf;
      b->derphi1 = dot(b->cg, b->pk, n);
      if (b->ls_iter >= 100) { start_wolfe2(b); break; } /* dcsrch maxiter */
      b->dc_task = dcsrch_iterate(&b->dc, &b->stp, b->phi1, b->derphi1, b->dc_task);
      b->ls_iter++;
      if (!isfinite(b->stp)) { start_wolfe2(b); break; }
      if (b->dc_task == T_FG) break; /* evaluate at the new stp */
      if (b->dc_task == T_CONV) {
        /* gradient at stp is the last one computed (same point) */
        finish_ls(b, 1, b->stp, b->phi1, b->phi0, 1);
      } else {
        start_wolfe2(b);
      }
      break;
    }

    case ST_W2_START:
      point_on_line(b, b->alpha1, xt);
      if (!want_f(b, xt)) return;
      b->phi_a1 = b->cf;
      b->phi_a0 = b->phi0;
      b->derphi_a0 = b->derphi0;
      b->ls_iter = 0;
      b->state = ST_W2_LOOP;
      break;

    case ST_W2_LOOP:
      if (b->ls_iter >= 10) { /* maxiter: scipy returns alpha1 without a gradient */
        finish_ls(b, 1, b->alpha1, b->phi_a1, b->phi0, 0);
        break;
      }
      if (b->alpha1 == 0 || b->alpha0 > AMAX) {
        finish_ls(b, 0, 0, b->phi0, b->old_phi0, 0);
        break;
      }
      if ((b->phi_a1 > b->phi0 + C1 * b->alpha1 * b->derphi0) ||
          ((b->phi_a1 >= b->phi_a0) && b->ls_iter > 0)) {
        start_zoom(b, b->alpha0, b->alpha1, b->phi_a0, b->phi_a1, b->derphi_a0);
        break;
      }
      b->state = ST_W2_DER;
      break;

    case ST_W2_DER:
      point_on_line(b, b->alpha1, xt);
      if (!want_g(b, xt)) return;
      b->derphi_a1 = dot(b->cg, b->pk, n);
      if (fabs(b->derphi_a1) <= -C2 * b->derphi0) {
        finish_ls(b, 1, b->alpha1, b->phi_a1, b->phi0, 1);
        break;
      }
      if (b->derphi_a1 >= 0) {
        start_zoom(b, b->alpha1, b->alpha0, b->phi_a1, b->phi_a0, b->derphi_a1);
        break;
      }
      b->alpha0 = b->alpha1;
      b->alpha1 = fmin(2 * b->alpha1, AMAX);
      b->phi_a0 = b->phi_a1;
      b->derphi_a0 = b->derphi_a1;
      b->state = ST_W2_NEXT;
      break;

    case ST_W2_NEXT:
      point_on_line(b, b->alpha1, xt);
      if (!want_f(b, xt)) return;
      b->phi_a1 = b->cf;
      b->ls_iter++;
      b->state = ST_W2_LOOP;
      break;

    case ST_Z_LOOP: {
      double dalpha = b->a_hi - b->a_lo;
      double a = dalpha < 0 ? b->a_hi : b->a_lo;
      double bb = dalpha < 0 ? b->a_lo : b->a_hi;
      double aj = 0;
      int ok = 0;
      if (b->z_iter > 0) {
        double cchk = 0.2 * dalpha;
        ok = cubicmin(b->a_lo, b->phi_lo, b->derphi_lo, b->a_hi, b->phi_hi, b->a_rec, b->phi_rec,
                      &aj);
        if (ok && (aj > bb - cchk || aj < a + cchk)) ok = 0;
      }
      if (!ok) {
        double qchk = 0.1 * dalpha;
        ok = quadmin(b->a_lo, b->phi_lo, b->derphi_lo, b->a_hi, b->phi_hi, &aj);
        if (!ok || aj > bb - qchk || aj < a + qchk) aj = b->a_lo + 0.5 * dalpha;
      }
      b->a_j = aj;
      b->state = ST_Z_PHI;
      break;
    }

    case ST_Z_PHI:
      point_on_line(b, b->a_j, xt);
      if (!want_f(b, xt)) return;
      b->phi_aj = b->cf;
      if ((b->phi_aj > b->phi0 + C1 * b->a_j * b->derphi0) || (b->phi_aj >= b->phi_lo)) {
        b->phi_rec = b->phi_hi;
        b->a_rec = b->a_hi;
        b->a_hi = b->a_j;
        b->phi_hi = b->phi_aj;
        b->z_iter++;
        if (b->z_iter > 10) finish_ls(b, 0, 0, b->phi0, b->phi0, 0);
        else b->state = ST_Z_LOOP;
        break;
      }
      b->state = ST_Z_DER;
      break;

    case ST_Z_DER: {
      point_on_line(b, b->a_j, xt);
      if (!want_g(b, xt)) return;
      double derphi_aj = dot(b->cg, b->pk, n);
      if (fabs(derphi_aj) <= -C2 * b->derphi0) {
        finish_ls(b, 1, b->a_j, b->phi_aj, b->phi0, 1);
        break;
      }
      if (derphi_aj * (b->a_hi - b->a_lo) >= 0) {
        b->phi_rec = b->phi_hi;
        b->a_rec = b->a_hi;
        b->a_hi = b->a_lo;
        b->phi_hi = b->phi_lo;
      } else {
        b->phi_rec = b->phi_lo;
        b->a_rec = b->a_lo;
      }
      b->a_lo = b->a_j;
      b->phi_lo = b->phi_aj;
      b->derphi_lo = derphi_aj;
      b->z_iter++;
      if (b->z_iter > 10) finish_ls(b, 0, 0, b->phi0, b->phi0, 0);
      else b->state = ST_Z_LOOP;
      break;
    }

    case ST_LS_DONE: {
      if (isnan(b->ls_alpha)) { /* _LineSearchError */
        b->warnflag = 2;
        b->state = ST_DONE;
        break;
      }
      b->old_fval = b->ls_phi;
      b->old_old_fval = b->ls_phi0;
      b->state = ST_POST_GRAD;
      break;
    }

    case ST_POST_GRAD: {
      double xk1[RVS_BFGS_MAXDIM], gk1[RVS_BFGS_MAXDIM], sk[RVS_BFGS_MAXDIM], yk[RVS_BFGS_MAXDIM];
      for (int i = 0; i < n; i++) {
        sk[i] = b->ls_alpha * b->pk[i];
        xk1[i] = b->x[i] + sk[i];
      }
      if (b->ls_have_grad) {
        memcpy(gk1, b->ls_g, sizeof(double) * (size_t)n);
      } else {
        if (!want_g(b, xk1)) return;
        memcpy(gk1, b->cg, sizeof(double) * (size_t)n);
      }
      for (int i = 0; i < n; i++) yk[i] = gk1[i] - b->g[i];
      memcpy(b->x, xk1, sizeof(double) * (size_t)n);
      memcpy(b->g, gk1, sizeof(double) * (size_t)n);
      b->k++;
      b->gnorm = norminf(b->g, n);
      if (b->gnorm <= b->gtol) { b->state = ST_DONE; break; }
      if (b->ls_alpha * norm2(b->pk, n) <= 0.0) { b->state = ST_DONE; break; } /* xrtol = 0 */
      if (!isfinite(b->old_fval)) { b->warnflag = 2; b->state = ST_DONE; break; }
      double rhok_inv = dot(yk, sk, n);
      double rhok = rhok_inv == 0.0 ? 1000.0 : 1.0 / rhok_inv;
      double A1[RVS_BFGS_MAXDIM][RVS_BFGS_MAXDIM], T[RVS_BFGS_MAXDIM][RVS_BFGS_MAXDIM];
      /* H <- A1 H A2 + rho s s^T, A1 = I - rho s y^T, A2 = I - rho y s^T = A1^T */
      for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) A1[i][j] = (i == j ? 1.0 : 0.0) - sk[i] * yk[j] * rhok;
      for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
          double s = 0;
          for (int l = 0; l < n; l++) s += b->H[i][l] * A1[j][l]; /* (H A2)[i][j] */
          T[i][j] = s;
        }
      for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
          double s = 0;
          for (int l = 0; l < n; l++) s += A1[i][l] * T[l][j];
          b->H[i][j] = s + rhok * sk[i] * sk[j];
        }
      b->state = ST_ITER;
      break;
    }

    case ST_DONE:
    default:
      if (!b->done) {
        b->done = 1;
        if (b->warnflag == 0) {
          int nan = isnan(b->gnorm) || isnan(b->old_fval);
          for (int i = 0; i < n; i++) nan |= isnan(b->x[i]);
          if (b->k >= b->maxiter) b->warnflag = 1;
          else if (nan) b->warnflag = 3;
        }
      }
      return;
    }
  }
}

int rvs_bfgs_init(rvs_bfgs *b, int n, const double *x0, const double *hess_inv0, long maxiter) {
  if (n < 1 || n > RVS_BFGS_MAXDIM)
    return rvs_error(RVS_ERR_ARG, "BFGS: dimension %d outside 1..%d", n, RVS_BFGS_MAXDIM);
  memset(b, 0, sizeof *b);
  b->n = n;
  b->eps = 1.4901161193847656e-08;
  b->gtol = 1e-5;
  b->c1 = C1;
  b->c2 = C2;
  b->maxiter = maxiter > 0 ? maxiter : 200L * n;
  memcpy(b->x, x0, sizeof(double) * (size_t)n);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      b->H[i][j] = hess_inv0 ? hess_inv0[i * n + j] : (i == j ? 1.0 : 0.0);
  b->state = ST_INIT;
  advance(b);
  return RVS_OK;
}

int rvs_bfgs_ask(const rvs_bfgs *b, double *points) {
  if (b->done) return 0;
  int n = b->n, np_ = 0;
  if (b->need_f) memcpy(points + (size_t)(np_++) * n, b->ex, sizeof(double) * (size_t)n);
  if (b->need_g) {
    for (int i = 0; i < n; i++) {
      double *p = points + (size_t)(np_++) * n;
      memcpy(p, b->ex, sizeof(double) * (size_t)n);
      p[i] = b->ex[i] + fd_step(b->ex[i], b->eps);
    }
  }
  return np_;
}

void rvs_bfgs_tell(rvs_bfgs *b, const double *f) {
  if (b->done) return;
  int n = b->n, k = 0;
  if (b->need_f) {
    b->cf = f[k++];
    b->c_f_ok = 1;
    b->nfev++;
  }
  if (b->need_g) {
    for (int i = 0; i < n; i++) {
      double h = fd_step(b->ex[i], b->eps);
      double dx = (b->ex[i] + h) - b->ex[i];
      b->cg[i] = (f[k++] - b->cf) / dx;
    }
    b->c_g_ok = 1;
    b->nfev += n;
  }
  b->need_f = b->need_g = 0;
  advance(b);
}

const double *rvs_bfgs_result(const rvs_bfgs *b, double *fval) {
  if (fval) *fval = b->old_fval;
  return b->x;
}
