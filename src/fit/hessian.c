#include "fit/hessian.h"

#include "core/linalg.h"

#include <math.h>
#include <string.h>

void rvs_hessian_steps(const double *x, const char (*names)[16], int n, double *h) {
  static const struct { const char *name; double base; } table[] = {
      {"vsini", 1. / 100}, {"logg", 0.1 / 100}, {"feh", 0.1 / 100},
      {"alpha", .01 / 100}, {"teff", 1. / 100}, {"vrad", 1. / 100}};
  for (int i = 0; i < n; i++) {
    double b = 0.1 / 100;
    for (size_t k = 0; k < sizeof table / sizeof table[0]; k++)
      if (strcmp(names[i], table[k].name) == 0) b = table[k].base;
    double scale = log(M_E - 1 + fabs(x[i]));
    if (scale < 1) scale = 1;
    double s = b * scale;
    h[i] = (s + 1) - 1;
  }
}

void rvs_hessian_points(const double *x, const double *h, int n, double *pts) {
  int k = 0;
  memcpy(pts, x, sizeof(double) * (size_t)n);
  k++;
  for (int i = 0; i < n; i++) {
    for (int s = 0; s < 2; s++) {
      double *p = pts + (size_t)k++ * n;
      memcpy(p, x, sizeof(double) * (size_t)n);
      p[i] = x[i] + (s == 0 ? 2 : -2) * h[i];
    }
  }
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      for (int s = 0; s < 4; s++) {
        double *p = pts + (size_t)k++ * n;
        memcpy(p, x, sizeof(double) * (size_t)n);
        p[i] = x[i] + (s < 2 ? h[i] : -h[i]);
        p[j] = x[j] + ((s % 2) == 0 ? h[j] : -h[j]);
      }
}

void rvs_hessian_assemble(const double *f, const double *h, int n, double *H) {
  double f0 = f[0];
  int k = 1;
  for (int i = 0; i < n; i++) {
    double fp = f[k++], fm = f[k++];
    H[i * n + i] = (fp - 2 * f0 + fm) / (4 * (h[i] * h[i]));
  }
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++) {
      double fpp = f[k++], fpm = f[k++], fmp = f[k++], fmm = f[k++];
      double v = (fpp - fpm - fmp + fmm) / (4 * (h[j] * h[i]));
      H[i * n + j] = H[j * n + i] = v;
    }
}

void rvs_uncertainties_from_hessian(const double *H, int n, double *err, double *covar, int *bad) {
  double inv_diag[64];
  *bad = 0;
  for (int i = 0; i < n; i++) {
    double d = H[i * n + i];
    inv_diag[i] = d == 0 ? INFINITY : 1. / d;
  }
  if (rvs_matrix_inverse(H, n, covar) != 0) {
    *bad = 1;
    memset(covar, 0, sizeof(double) * (size_t)n * n);
    for (int i = 0; i < n; i++) covar[i * n + i] = inv_diag[i];
  }
  for (int i = 0; i < n; i++) {
    double e0 = covar[i * n + i], e1 = inv_diag[i];
    int bad0 = e0 < 0, bad1 = e1 < 0;
    if (bad0) *bad = 1;
    if (bad0 && !bad1) e0 = e1;
    if (bad0 && bad1) err[i] = NAN;
    else err[i] = sqrt(e0);
    if (!isfinite(err[i])) *bad = 1;
  }
}
