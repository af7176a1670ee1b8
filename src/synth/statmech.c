/* Partition functions, Saha ionisation, abundances, atomic masses. */
#include "synth/statmech.h"

#include <math.h>

#include "synth/physics.h"

static double table_interp(const float *row, double T) {
  double x = (log10(T) - rvs_sm_logT0) / rvs_sm_logT_step;
  if (x <= 0) return row[0];
  if (x >= RVS_SM_NT - 1) return row[RVS_SM_NT - 1];
  int i = (int)x;
  double f = x - i;
  return row[i] * (1 - f) + row[i + 1] * f;
}

double rvs_sm_partition(int z, int ion, double T) {
  if (z < 1 || z > RVS_SM_NZ || ion < 0 || ion > 2) return 1.0;
  if (z == 1 && ion >= 1) return 1.0; /* bare proton */
  double u = table_interp(rvs_sm_atomic_U[z - 1][ion], T);
  return u > 0 ? u : 1.0;
}

double rvs_sm_mol_log_pK(int m, double T) { return table_interp(rvs_sm_mol_logK[m], T); }
double rvs_sm_mol_log_Q(int m, double T) { return table_interp(rvs_sm_mol_logQ[m], T); }

int rvs_sm_mol_index(int z1, int z2) {
  for (int m = 0; m < RVS_SM_NMOL; m++) {
    const rvs_sm_molecule *M = &rvs_sm_molecules[m];
    if ((M->z1 == z1 && M->z2 == z2) || (M->z1 == z2 && M->z2 == z1)) return m;
  }
  return -1;
}

/* N(i+1) Pe / N(i) = 2 U(i+1)/U(i) (2 pi m_e)^1.5 (kT)^2.5 / h^3 exp(-chi/kT) */
double rvs_saha_ratio(double T, double Pe, double U_lo, double U_hi, double chi_eV) {
  const double c = pow(2.0 * M_PI * RVS_ME_CGS, 1.5) / (RVS_H_CGS * RVS_H_CGS * RVS_H_CGS);
  double kT = RVS_K_CGS * T;
  double arg = chi_eV / (RVS_K_EV * T);
  if (arg > 700) return 0.0;
  return 2.0 * U_hi / U_lo * c * pow(kT, 2.5) * exp(-arg) / Pe;
}

void rvs_ion_fractions(int z, double T, double Pe, double frac[3]) {
  double u0 = rvs_sm_partition(z, 0, T), u1 = rvs_sm_partition(z, 1, T);
  double u2 = rvs_sm_partition(z, 2, T);
  double chi1 = rvs_sm_ion_energy[z - 1][0], chi2 = rvs_sm_ion_energy[z - 1][1];
  double r1 = chi1 > 0 ? rvs_saha_ratio(T, Pe, u0, u1, chi1) : 0.0;
  double r2 = (chi2 > 0 && z > 1) ? rvs_saha_ratio(T, Pe, u1, u2, chi2) : 0.0;
  /* normalise on the dominant stage to avoid overflow */
  double n0 = 1.0, n1 = r1, n2 = r1 * r2;
  double s = n0 + n1 + n2;
  frac[0] = n0 / s;
  frac[1] = n1 / s;
  frac[2] = n2 / s;
}

static const double asplund09[92] = {
    12.00, 10.93, 1.05,  1.38,  2.70, 8.43,  7.83,  8.69,  4.56,  7.93,  6.24,  7.60,
    6.45,  7.51,  5.41,  7.12,  5.50, 6.40,  5.03,  6.34,  3.15,  4.95,  3.93,  5.64,
    5.43,  7.50,  4.99,  6.22,  4.19, 4.56,  3.04,  3.65,  2.30,  3.34,  2.54,  3.25,
    2.52,  2.87,  2.21,  2.58,  1.46, 1.88,  -9.0,  1.75,  0.91,  1.57,  0.94,  1.71,
    0.80,  2.04,  1.01,  2.18,  1.55, 2.24,  1.08,  2.18,  1.10,  1.58,  0.72,  1.42,
    -9.0,  0.96,  0.52,  1.07,  0.30, 1.10,  0.48,  0.92,  0.10,  0.84,  0.10,  0.85,
    -0.12, 0.85,  0.26,  1.40,  1.38, 1.62,  0.92,  1.17,  0.90,  1.75,  0.65,  -9.0,
    -9.0,  -9.0,  -9.0,  -9.0,  -9.0, 0.02,  -9.0,  -0.54};

double rvs_solar_log_eps(int z) { return (z >= 1 && z <= 92) ? asplund09[z - 1] : -9.0; }

static const double atomic_mass[92] = {
    1.008,  4.003,  6.94,   9.012,  10.81,  12.011, 14.007, 15.999, 18.998, 20.180,
    22.990, 24.305, 26.982, 28.085, 30.974, 32.06,  35.45,  39.948, 39.098, 40.078,
    44.956, 47.867, 50.942, 51.996, 54.938, 55.845, 58.933, 58.693, 63.546, 65.38,
    69.723, 72.630, 74.922, 78.971, 79.904, 83.798, 85.468, 87.62,  88.906, 91.224,
    92.906, 95.95,  98.0,   101.07, 102.91, 106.42, 107.87, 112.41, 114.82, 118.71,
    121.76, 127.60, 126.90, 131.29, 132.91, 137.33, 138.91, 140.12, 140.91, 144.24,
    145.0,  150.36, 151.96, 157.25, 158.93, 162.50, 164.93, 167.26, 168.93, 173.05,
    174.97, 178.49, 180.95, 183.84, 186.21, 190.23, 192.22, 195.08, 196.97, 200.59,
    204.38, 207.2,  208.98, 209.0,  210.0,  222.0,  223.0,  226.0,  227.0,  232.04,
    231.04, 238.03};

double rvs_atomic_mass(int z) { return (z >= 1 && z <= 92) ? atomic_mass[z - 1] : 2.0 * z; }

int rvs_is_alpha_element(int z) {
  return z == 8 || z == 10 || z == 12 || z == 14 || z == 16 || z == 20 || z == 22;
}
