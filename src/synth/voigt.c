/* Voigt function H(a, v) = Re w(v + i a) by Humlicek's (1982, JQSRT 27, 437)
 * four-region rational approximation "W4" (relative accuracy ~1e-4). */
#include <complex.h>
#include <math.h>

#include "synth/physics.h"

double rvs_voigt_H(double a, double v) {
  double x = fabs(v), y = a;
  double complex t = y - I * x;
  double s = x + y;
  double complex w;
  if (s >= 15.0) {
    w = t * 0.5641896 / (0.5 + t * t);
  } else if (s >= 5.5) {
    double complex u = t * t;
    w = t * (1.410474 + u * 0.5641896) / (0.75 + u * (3.0 + u));
  } else if (y >= 0.195 * x - 0.176) {
    w = (16.4955 + t * (20.20933 + t * (11.96482 + t * (3.778987 + t * 0.5642236)))) /
        (16.4955 + t * (38.82363 + t * (39.27121 + t * (21.69274 + t * (6.699398 + t)))));
  } else {
    double complex u = t * t;
    double complex num =
        t * (36183.31 - u * (3321.9905 - u * (1540.787 - u * (219.0313 - u * (35.76683 - u * (1.320522 - u * 0.56419))))));
    double complex den =
        32066.6 - u * (24322.84 - u * (9022.228 - u * (2186.181 - u * (364.2191 - u * (61.57037 - u * (1.841439 - u))))));
    w = cexp(u) - num / den;
  }
  return creal(w);
}
