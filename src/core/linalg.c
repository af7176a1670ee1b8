/* Small dense linear algebra: Cholesky, Jacobi eigen-decomposition with the
 * pseudo-inverse fallback, LU, Gauss-Jordan inverse.  See linalg.h. */
#include "core/linalg.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rvs/status.h"

int rvs_chol_factor(double *A, int n) {
  for (int j = 0; j < n; j++) {
    double *rowj = A + (size_t)j * n;
    double ajj = rowj[j];
    double s = ajj;
    for (int k = 0; k < j; k++) s -= rowj[k] * rowj[k];
    /* !(s > tol) also catches NaN.  A pivot that lost all its digits to
     * cancellation (s <= n eps A_jj: cond(A) >~ 1/(n eps)) is noise, so it
     * counts as a failure and the caller takes the eigen fallback. */
    if (!(s > (double)n * DBL_EPSILON * ajj) || !(s > 0.0) || !isfinite(s))
      return RVS_ERR_NUMERIC;
    double ljj = sqrt(s);
    rowj[j] = ljj;
    double inv = 1.0 / ljj;
    for (int i = j + 1; i < n; i++) {
      double *rowi = A + (size_t)i * n;
      double t = rowi[j];
      for (int k = 0; k < j; k++) t -= rowi[k] * rowj[k];
      rowi[j] = t * inv;
    }
  }
  return RVS_OK;
}

double rvs_chol_logdet(const double *L, int n) {
  double s = 0.0;
  for (int i = 0; i < n; i++) s += log(L[(size_t)i * n + i]);
  return 2.0 * s;
}

void rvs_chol_solve(const double *L, int n, double *b) {
  /* L y = b */
  for (int i = 0; i < n; i++) {
    const double *rowi = L + (size_t)i * n;
    double t = b[i];
    for (int k = 0; k < i; k++) t -= rowi[k] * b[k];
    b[i] = t / rowi[i];
  }
  /* L^T x = y */
  for (int i = n - 1; i >= 0; i--) {
    double t = b[i];
    for (int k = i + 1; k < n; k++) t -= L[(size_t)k * n + i] * b[k];
    b[i] = t / L[(size_t)i * n + i];
  }
}

size_t rvs_sym_eig_work_size(int n) { return n > 0 ? (size_t)n * n : 0; }

int rvs_sym_eig_work(const double *A, int n, double *evals, double *evecs,
                     double *work) {
  if (n <= 0) return RVS_ERR_ARG;
  double *a = work;
  /* symmetric copy from the lower triangle */
  for (int i = 0; i < n; i++) {
    for (int j = 0; j <= i; j++) {
      double v = A[(size_t)i * n + j];
      if (!isfinite(v)) return RVS_ERR_NUMERIC;
      a[(size_t)i * n + j] = v;
      a[(size_t)j * n + i] = v;
    }
  }
  for (size_t k = 0; k < (size_t)n * n; k++) evecs[k] = 0.0;
  for (int i = 0; i < n; i++) evecs[(size_t)i * n + i] = 1.0;

  int converged = 0;
  for (int sweep = 0; sweep < 100; sweep++) {
    int rotated = 0;
    for (int p = 0; p < n - 1; p++) {
      for (int q = p + 1; q < n; q++) {
        double apq = a[(size_t)p * n + q];
        if (apq == 0.0) continue;
        double app = a[(size_t)p * n + p], aqq = a[(size_t)q * n + q];
        /* negligible against both diagonal entries (the Demmel-Veselic
         * criterion, which keeps small eigenvalues relatively accurate):
         * zero it without a rotation */
        if (fabs(apq) <= 0.1 * DBL_EPSILON * sqrt(fabs(app)) * sqrt(fabs(aqq))) {
          a[(size_t)p * n + q] = a[(size_t)q * n + p] = 0.0;
          continue;
        }
        rotated = 1;
        double theta = (aqq - app) / (2.0 * apq);
        double t;
        if (fabs(theta) > 1e150)
          t = 0.5 / theta;
        else
          t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
        double c = 1.0 / sqrt(t * t + 1.0), s = t * c, tau = s / (1.0 + c);
        a[(size_t)p * n + p] = app - t * apq;
        a[(size_t)q * n + q] = aqq + t * apq;
        a[(size_t)p * n + q] = a[(size_t)q * n + p] = 0.0;
        for (int r = 0; r < n; r++) {
          if (r == p || r == q) continue;
          double g = a[(size_t)r * n + p], h = a[(size_t)r * n + q];
          double gp = g - s * (h + g * tau), hq = h + s * (g - h * tau);
          a[(size_t)r * n + p] = a[(size_t)p * n + r] = gp;
          a[(size_t)r * n + q] = a[(size_t)q * n + r] = hq;
        }
        for (int r = 0; r < n; r++) {
          double g = evecs[(size_t)r * n + p], h = evecs[(size_t)r * n + q];
          evecs[(size_t)r * n + p] = g - s * (h + g * tau);
          evecs[(size_t)r * n + q] = h + s * (g - h * tau);
        }
      }
    }
    if (!rotated) {
      converged = 1;
      break;
    }
  }
  if (!converged) {
    /* rounding can keep re-creating tiny off-diagonal entries; accept them
     * when they are negligible against the whole matrix */
    double off = 0.0, tot = 0.0;
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) {
        double v = a[(size_t)i * n + j] * a[(size_t)i * n + j];
        tot += v;
        if (i != j) off += v;
      }
    if (!(off <= 1e-24 * tot)) return RVS_ERR_NUMERIC;
  }
  for (int i = 0; i < n; i++) evals[i] = a[(size_t)i * n + i];
  /* selection sort, descending, permuting eigenvector columns */
  for (int i = 0; i < n - 1; i++) {
    int best = i;
    for (int j = i + 1; j < n; j++)
      if (evals[j] > evals[best]) best = j;
    if (best != i) {
      double t = evals[i];
      evals[i] = evals[best];
      evals[best] = t;
      for (int r = 0; r < n; r++) {
        t = evecs[(size_t)r * n + i];
        evecs[(size_t)r * n + i] = evecs[(size_t)r * n + best];
        evecs[(size_t)r * n + best] = t;
      }
    }
  }
  return RVS_OK;
}

int rvs_sym_eig(const double *A, int n, double *evals, double *evecs) {
  if (n <= 0 || !A || !evals || !evecs)
    return rvs_error(RVS_ERR_ARG, "rvs_sym_eig: bad arguments (n=%d)", n);
  double stackbuf[RVS_LINALG_STACK_N * RVS_LINALG_STACK_N];
  double *work = stackbuf;
  if (n > RVS_LINALG_STACK_N) {
    work = malloc(rvs_sym_eig_work_size(n) * sizeof(double));
    if (!work)
      return rvs_error(RVS_ERR_NOMEM, "rvs_sym_eig: out of memory (n=%d)", n);
  }
  int st = rvs_sym_eig_work(A, n, evals, evecs, work);
  if (work != stackbuf) free(work);
  if (st != RVS_OK)
    return rvs_error(st, "rvs_sym_eig: %s (n=%d)",
                     st == RVS_ERR_NUMERIC ? "non-finite input or no convergence"
                                           : "failed",
                     n);
  return RVS_OK;
}

size_t rvs_spd_work_size(int n) {
  return n > 0 ? 3 * (size_t)n * n + 2 * (size_t)n : 0;
}

int rvs_sym_pinv_solve_logdet(const double *A, int n, const double *b,
                              double *x, double *logdet, double *work) {
  double *evecs = work;                   /* n*n */
  double *evals = evecs + (size_t)n * n;  /* n */
  double *coef = evals + n;               /* n */
  double *scratch = coef + n;             /* n*n */
  int st = rvs_sym_eig_work(A, n, evals, evecs, scratch);
  if (st != RVS_OK) {
    *logdet = NAN;
    return RVS_ERR_NUMERIC;
  }
  double amax = 0.0;
  for (int k = 0; k < n; k++)
    if (fabs(evals[k]) > amax) amax = fabs(evals[k]);
  double tol = n * DBL_EPSILON * amax;
  double ld = 0.0;
  for (int k = 0; k < n; k++) {
    double lam = fabs(evals[k]);
    ld += log(lam > tol ? lam : tol);
    double c = 0.0;
    if (lam > tol) {
      for (int i = 0; i < n; i++) c += evecs[(size_t)i * n + k] * b[i];
      c /= evals[k]; /* signed, as V diag(1/s) U^T */
    }
    coef[k] = c;
  }
  for (int i = 0; i < n; i++) {
    double s = 0.0;
    for (int k = 0; k < n; k++) s += evecs[(size_t)i * n + k] * coef[k];
    x[i] = s;
  }
  *logdet = ld;
  if (!isfinite(ld)) return RVS_ERR_NUMERIC;
  for (int i = 0; i < n; i++)
    if (!isfinite(x[i])) return RVS_ERR_NUMERIC;
  return RVS_OK;
}

int rvs_spd_solve_logdet_work(const double *A, int n, const double *b,
                              double *x, double *logdet, double *work) {
  if (n <= 0) return RVS_ERR_ARG;
  double *L = work;
  double *y = work + (size_t)n * n; /* solution scratch: x may alias b */
  memcpy(L, A, (size_t)n * n * sizeof(double));
  if (rvs_chol_factor(L, n) == RVS_OK) {
    memcpy(y, b, (size_t)n * sizeof(double));
    rvs_chol_solve(L, n, y);
    double ld = rvs_chol_logdet(L, n);
    int ok = isfinite(ld);
    for (int i = 0; ok && i < n; i++) ok = isfinite(y[i]);
    if (ok) {
      memcpy(x, y, (size_t)n * sizeof(double));
      *logdet = ld;
      return RVS_OK;
    }
  }
  int st = rvs_sym_pinv_solve_logdet(A, n, b, x, logdet, work + (size_t)n * n);
  return st == RVS_OK ? RVS_SPD_FALLBACK : st;
}

int rvs_spd_solve_logdet(const double *A, int n, const double *b, double *x,
                         double *logdet) {
  if (n <= 0 || !A || !b || !x || !logdet)
    return rvs_error(RVS_ERR_ARG, "rvs_spd_solve_logdet: bad arguments (n=%d)", n);
  double stackbuf[3 * RVS_LINALG_STACK_N * RVS_LINALG_STACK_N +
                  2 * RVS_LINALG_STACK_N];
  double *work = stackbuf;
  if (n > RVS_LINALG_STACK_N) {
    work = malloc(rvs_spd_work_size(n) * sizeof(double));
    if (!work)
      return rvs_error(RVS_ERR_NOMEM, "rvs_spd_solve_logdet: out of memory (n=%d)", n);
  }
  int st = rvs_spd_solve_logdet_work(A, n, b, x, logdet, work);
  if (work != stackbuf) free(work);
  if (st < 0)
    return rvs_error(st, "rvs_spd_solve_logdet: non-finite result even with the "
                         "eigen fallback (n=%d)", n);
  return st;
}

int rvs_lu_factor(double *A, int n, int *piv) {
  for (int k = 0; k < n; k++) {
    int p = k;
    double best = fabs(A[(size_t)k * n + k]);
    for (int i = k + 1; i < n; i++) {
      double v = fabs(A[(size_t)i * n + k]);
      if (v > best) {
        best = v;
        p = i;
      }
    }
    piv[k] = p;
    if (!(best > 0.0) || !isfinite(best)) return RVS_ERR_NUMERIC;
    if (p != k) {
      for (int j = 0; j < n; j++) {
        double t = A[(size_t)k * n + j];
        A[(size_t)k * n + j] = A[(size_t)p * n + j];
        A[(size_t)p * n + j] = t;
      }
    }
    double inv = 1.0 / A[(size_t)k * n + k];
    for (int i = k + 1; i < n; i++) {
      double f = A[(size_t)i * n + k] * inv;
      A[(size_t)i * n + k] = f;
      for (int j = k + 1; j < n; j++) A[(size_t)i * n + j] -= f * A[(size_t)k * n + j];
    }
  }
  return RVS_OK;
}

void rvs_lu_solve(const double *LU, int n, const int *piv, double *b) {
  for (int k = 0; k < n; k++) {
    if (piv[k] != k) {
      double t = b[k];
      b[k] = b[piv[k]];
      b[piv[k]] = t;
    }
  }
  for (int i = 0; i < n; i++) {
    double t = b[i];
    for (int k = 0; k < i; k++) t -= LU[(size_t)i * n + k] * b[k];
    b[i] = t;
  }
  for (int i = n - 1; i >= 0; i--) {
    double t = b[i];
    for (int k = i + 1; k < n; k++) t -= LU[(size_t)i * n + k] * b[k];
    b[i] = t / LU[(size_t)i * n + i];
  }
}

int rvs_matrix_inverse(const double *A, int n, double *Ainv) {
  if (n <= 0 || !A || !Ainv)
    return rvs_error(RVS_ERR_ARG, "rvs_matrix_inverse: bad arguments (n=%d)", n);
  double stackbuf[2 * RVS_LINALG_STACK_N * RVS_LINALG_STACK_N];
  double *aug = stackbuf;
  if (n > RVS_LINALG_STACK_N) {
    aug = malloc(2 * (size_t)n * n * sizeof(double));
    if (!aug)
      return rvs_error(RVS_ERR_NOMEM, "rvs_matrix_inverse: out of memory (n=%d)", n);
  }
  size_t w = 2 * (size_t)n;
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < n; j++) {
      aug[i * w + j] = A[(size_t)i * n + j];
      aug[i * w + n + j] = (i == j) ? 1.0 : 0.0;
    }
  }
  int st = RVS_OK;
  for (int k = 0; k < n && st == RVS_OK; k++) {
    int p = k;
    double best = fabs(aug[k * w + k]);
    for (int i = k + 1; i < n; i++)
      if (fabs(aug[i * w + k]) > best) {
        best = fabs(aug[i * w + k]);
        p = i;
      }
    if (!(best > 0.0) || !isfinite(best)) {
      st = RVS_ERR_NUMERIC;
      break;
    }
    if (p != k)
      for (size_t j = 0; j < w; j++) {
        double t = aug[k * w + j];
        aug[k * w + j] = aug[p * w + j];
        aug[p * w + j] = t;
      }
    double inv = 1.0 / aug[k * w + k];
    for (size_t j = 0; j < w; j++) aug[k * w + j] *= inv;
    for (int i = 0; i < n; i++) {
      if (i == k) continue;
      double f = aug[i * w + k];
      if (f == 0.0) continue;
      for (size_t j = 0; j < w; j++) aug[i * w + j] -= f * aug[k * w + j];
    }
  }
  if (st == RVS_OK) {
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) {
        double v = aug[i * w + n + j];
        if (!isfinite(v)) st = RVS_ERR_NUMERIC;
        Ainv[(size_t)i * n + j] = v;
      }
  }
  if (aug != stackbuf) free(aug);
  if (st != RVS_OK)
    return rvs_error(st, "rvs_matrix_inverse: matrix is singular or not finite (n=%d)", n);
  return RVS_OK;
}
