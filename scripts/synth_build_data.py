#!/usr/bin/env python3
"""Build the data tables of the synthetic-spectrum generator (run once; the
outputs are committed, the product never runs python).

Writes
  src/synth/statmech_tables.c      atomic partition functions, ionisation
                                   energies, molecular equilibrium constants
                                   and partition functions on a log T grid
  data/linelists/synth_extra_lines.txt
                                   atomic lines outside the wavelength windows
                                   of the GALAH DR3 list + hand list of strong
                                   lines, vacuum wavelengths

Inputs (public; give their folder with --src):
  Korg.jl (BSD-3, A. Wheeler): data/atomic_partition_funcs/partition_funcs.h5
      (NIST levels), data/barklem_collet_2016/{BarklemCollet2016-ionization_
      energies.dat, barklem_collet_ks.h5, BarklemCollet2016-molecular_partition.dat}
      (Barklem & Collet 2016, A&A 588, A96)
  PFANT (trevisanj/PFANT, GPL-3) data/common/atoms.dat of 2017-11-27
      (blob 4babb148): solar-calibrated atomic list 3688-7711 A (air)
  pymoog (MingjieJian/pymoog, MIT) files/linelist/kurucz/kurucz_winered.list
      (R. Kurucz gf values, MOOG format, air) used for 9100-10000 A
usage: synth_build_data.py --src DIR --galah FILE --root REPO
"""
import argparse
import math
import os

import h5py
import numpy as np
from scipy.interpolate import CubicSpline

SYMBOLS = ("H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe "
           "Co Ni Cu Zn Ga Ge As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn "
           "Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W "
           "Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U").split()
NZ = 92
# log10 T grid of the C tables
LT0, LTSTEP, NLT = 3.2, 0.02, 76          # 1585 K .. 51286 K

# Molecules kept: (name in B&C partition file, name in B&C K file (atoms by Z), atoms)
MOLECULES = [
    ("H2", "HH", (1, 1)), ("CO", "CO", (6, 8)), ("OH", "HO", (1, 8)),
    ("CH", "HC", (1, 6)), ("CN", "CN", (6, 7)), ("C2", "CC", (6, 6)),
    ("NH", "HN", (1, 7)), ("N2", "NN", (7, 7)), ("MgH", "HMg", (1, 12)),
    ("SiH", "HSi", (1, 14)), ("CaH", "HCa", (1, 20)), ("TiO", "OTi", (8, 22)),
    ("ZrO", "OZr", (8, 40)), ("VO", "OV", (8, 23)), ("FeH", "HFe", (1, 26)),
    ("SiO", "OSi", (8, 14)), ("NO", "NO", (7, 8)),
]

# Strong lines the other lists miss (air wavelengths, NIST/VALD-like values):
# (Z, ion 1=neutral, lambda_air, E_lo eV, log gf, log gamma_rad, log gamma_stark, vdW)
HAND_LINES = [
    # blue end 3500-3688 A
    (26, 1, 3565.379, 0.958, -0.133, 8.0, -6.0, -7.6),
    (26, 1, 3570.098, 0.915, 0.153, 8.0, -6.0, -7.6),
    (26, 1, 3581.193, 0.859, 0.406, 8.0, -6.0, -7.6),
    (26, 1, 3608.859, 1.011, -0.100, 8.0, -6.0, -7.6),
    (26, 1, 3618.768, 0.990, -0.003, 8.0, -6.0, -7.6),
    (26, 1, 3631.463, 0.958, -0.036, 8.0, -6.0, -7.6),
    (26, 1, 3647.842, 0.915, -0.194, 8.0, -6.0, -7.6),
    (26, 1, 3679.913, 0.000, -1.600, 8.0, -6.0, -7.8),
    (26, 1, 3586.985, 0.990, -0.80, 8.0, -6.0, -7.6),
    (26, 1, 3606.679, 2.693, 0.32, 8.0, -6.0, -7.4),
    (26, 1, 3640.389, 2.727, -0.11, 8.0, -6.0, -7.4),
    (28, 1, 3524.536, 0.025, 0.007, 8.0, -6.0, -7.7),
    (28, 1, 3619.391, 0.423, 0.035, 8.0, -6.0, -7.7),
    (28, 1, 3566.372, 0.423, -0.24, 8.0, -6.0, -7.7),
    (22, 2, 3685.189, 0.607, 0.14, 8.3, -6.5, -7.9),
    (22, 2, 3641.33, 1.237, -0.71, 8.3, -6.5, -7.9),
    (24, 1, 3578.684, 0.000, 0.409, 8.0, -6.0, -7.7),
    (24, 1, 3593.481, 0.000, 0.307, 8.0, -6.0, -7.7),
    (27, 1, 3529.81, 0.174, -0.880, 8.0, -6.0, -7.7),
    (20, 2, 3706.024, 3.123, -0.48, 8.5, -5.5, -7.8),
    # Ca I 4227 and Ca II H&K (PFANT has them only partly / weakly)
    (20, 2, 3933.663, 0.000, 0.135, 8.20, -5.5, -7.8),
    (20, 2, 3968.468, 0.000, -0.180, 8.20, -5.5, -7.8),
    # red: 7927-9100 A
    (14, 1, 7932.348, 5.964, -0.370, 8.5, -4.5, -7.0),
    (14, 1, 7944.001, 5.984, -0.210, 8.5, -4.5, -7.0),
    (26, 1, 7937.139, 4.318, 0.225, 8.0, -5.5, -7.3),
    (26, 1, 7945.846, 4.386, 0.230, 8.0, -5.5, -7.3),
    (26, 1, 7998.944, 4.371, 0.150, 8.0, -5.5, -7.3),
    (26, 1, 8046.047, 4.415, 0.100, 8.0, -5.5, -7.3),
    (26, 1, 8085.172, 4.446, -0.16, 8.0, -5.5, -7.3),
    (11, 1, 8183.256, 2.102, 0.237, 7.8, -4.5, -7.2),
    (11, 1, 8194.790, 2.104, 0.492, 7.8, -4.5, -7.2),
    (11, 1, 8194.824, 2.104, -0.462, 7.8, -4.5, -7.2),
    (26, 1, 8327.053, 2.198, -1.525, 8.0, -6.0, -7.7),
    (26, 1, 8387.770, 2.176, -1.493, 8.0, -6.0, -7.7),
    (22, 1, 8426.504, 0.826, -1.200, 8.0, -6.0, -7.6),
    (22, 1, 8434.957, 0.848, -0.830, 8.0, -6.0, -7.6),
    (26, 1, 8468.404, 2.223, -2.072, 8.0, -6.0, -7.7),
    (26, 1, 8514.068, 2.198, -2.229, 8.0, -6.0, -7.7),
    (20, 2, 8498.023, 1.692, -1.312, 8.38, -5.5, -7.8),
    (20, 2, 8542.091, 1.700, -0.362, 8.38, -5.5, -7.8),
    (20, 2, 8662.141, 1.692, -0.623, 8.38, -5.5, -7.8),
    (14, 1, 8556.777, 5.863, -0.21, 8.5, -4.5, -7.0),
    (26, 1, 8582.257, 2.990, -2.133, 8.0, -6.0, -7.5),
    (26, 1, 8611.803, 2.845, -1.926, 8.0, -6.0, -7.5),
    (26, 1, 8621.601, 2.949, -2.320, 8.0, -6.0, -7.5),
    (26, 1, 8674.746, 2.831, -1.800, 8.0, -6.0, -7.5),
    (26, 1, 8688.624, 2.176, -1.212, 8.0, -6.0, -7.7),
    (26, 1, 8757.187, 2.845, -2.118, 8.0, -6.0, -7.5),
    (26, 1, 8793.342, 4.608, -0.090, 8.0, -5.5, -7.3),
    (12, 1, 8806.756, 4.346, -0.144, 8.5, -4.5, -6.9),
    (12, 1, 8736.019, 5.946, -0.34, 8.5, -4.5, -6.9),
    (12, 1, 8717.825, 5.933, -0.97, 8.5, -4.5, -6.9),
    (12, 1, 8923.569, 5.394, -1.68, 8.5, -4.5, -6.9),
    (26, 1, 8824.221, 2.198, -1.540, 8.0, -6.0, -7.7),
    (26, 1, 8838.428, 2.858, -1.980, 8.0, -6.0, -7.5),
    (26, 1, 8866.931, 2.858, -2.180, 8.0, -6.0, -7.5),
    (14, 1, 8728.011, 6.181, -0.61, 8.5, -4.5, -7.0),
    (14, 1, 8742.451, 5.871, -0.51, 8.5, -4.5, -7.0),
    (14, 1, 8752.007, 5.871, -0.42, 8.5, -4.5, -7.0),
    (14, 1, 7918.384, 5.954, -0.51, 8.5, -4.5, -7.0),
    (20, 1, 8525.7, 4.43, -0.5, 8.0, -5.0, -7.3),
    (26, 1, 8945.189, 5.033, -0.23, 8.0, -5.5, -7.3),
    (26, 1, 8999.556, 2.832, -1.300, 8.0, -6.0, -7.5),
    (26, 1, 9088.326, 2.845, -2.0, 8.0, -6.0, -7.5),
    (7, 1, 8216.336, 10.336, 0.132, 8.5, -4.5, -7.0),
    (7, 1, 8683.403, 10.330, 0.105, 8.5, -4.5, -7.0),
    (8, 1, 8446.359, 9.521, 0.170, 8.5, -4.5, -7.0),
]

ASPLUND09 = [12.00, 10.93, 1.05, 1.38, 2.70, 8.43, 7.83, 8.69, 4.56, 7.93, 6.24, 7.60,
             6.45, 7.51, 5.41, 7.12, 5.50, 6.40, 5.03, 6.34, 3.15, 4.95, 3.93, 5.64,
             5.43, 7.50, 4.99, 6.22, 4.19, 4.56, 3.04, 3.65, 2.30, 3.34, 2.54, 3.25,
             2.52, 2.87, 2.21, 2.58, 1.46, 1.88, -5.0, 1.75, 0.91, 1.57, 0.94, 1.71,
             0.80, 2.04, 1.01, 2.18, 1.55, 2.24, 1.08, 2.18, 1.10, 1.58, 0.72, 1.42,
             -5.0, 0.96, 0.52, 1.07, 0.30, 1.10, 0.48, 0.92, 0.10, 0.84, 0.10, 0.85,
             -0.12, 0.85, 0.26, 1.40, 1.38, 1.62, 0.92, 1.17, 0.90, 1.75, 0.65, -5.0,
             -5.0, -5.0, -5.0, -5.0, -5.0, 0.02, -5.0, -0.54]


def air_to_vac(lam_air):
    """IAU (Morton 2000) air -> vacuum, iterated (the formula is in vacuum s)."""
    lam_air = np.asarray(lam_air, dtype=float)
    vac = lam_air.copy()
    for _ in range(4):
        s2 = (1e4 / vac) ** 2
        n = 1 + 8.34254e-5 + 2.406147e-2 / (130 - s2) + 1.5998e-4 / (38.9 - s2)
        vac = lam_air * n
    return vac


def read_korg(src):
    pf = h5py.File(os.path.join(src, "partition_funcs.h5"), "r")
    lt_korg = np.arange(201) * 0.025
    ion_e = {}
    for line in open(os.path.join(src, "BarklemCollet2016-ionization_energies.dat")):
        if line.startswith("#") or not line.strip():
            continue
        p = line.split()
        ion_e[int(p[0])] = [float(p[2]), float(p[3]), float(p[4])]
    lt = LT0 + LTSTEP * np.arange(NLT)
    U = np.ones((NZ, 3, NLT))
    for z in range(1, NZ + 1):
        for i, rom in enumerate(("I", "II", "III")):
            key = f"{SYMBOLS[z - 1]} {rom}"
            if key in pf:
                u = pf[key][:]
                U[z - 1, i] = np.interp(lt, lt_korg, u)
            elif z == 1 and i == 1:
                U[z - 1, i] = 1.0
    # molecules
    ks = h5py.File(os.path.join(src, "barklem_collet_ks.h5"), "r")
    mols = [m.decode() for m in ks["mols"][:]]
    lnTs, logKs = ks["lnTs"][:].T, ks["logKs"][:].T
    # molecular partition functions
    rows = {}
    temps = None
    for line in open(os.path.join(src, "BarklemCollet2016-molecular_partition.dat")):
        if line.startswith("# T [K]"):
            temps = np.array([float(x) for x in line.split()[3:]])
        elif not line.startswith("#") and line.strip():
            p = line.split()
            rows[p[0]] = np.array([float(x) for x in p[1:]])
    T = 10 ** lt
    logK = np.zeros((len(MOLECULES), NLT))
    logQ = np.zeros((len(MOLECULES), NLT))
    for m, (pname, kname, _) in enumerate(MOLECULES):
        j = mols.index(kname)
        mask = np.isfinite(lnTs[j])
        spl = CubicSpline(lnTs[j][mask], logKs[j][mask], extrapolate=True)
        lk = spl(np.log(T))
        if pname == "C2":   # Visser+2019 dissociation energy, as Korg does
            lk += math.log10(math.e) / (8.617333262e-5 * T) * (6.24 - 6.371)
        logK[m] = lk
        q = rows[pname]
        logQ[m] = np.interp(np.log(T), np.log(temps), np.log10(q))
    return lt, U, ion_e, logK, logQ


def write_tables(root, lt, U, ion_e, logK, logQ):
    out = os.path.join(root, "src/synth/statmech_tables.c")
    with open(out, "w") as f:
        f.write("/* GENERATED by scripts/synth_build_data.py -- do not edit.\n"
                " * Atomic partition functions from NIST levels as tabulated by Korg.jl\n"
                " * (BSD-3, data/atomic_partition_funcs/partition_funcs.h5); ionisation\n"
                " * energies, molecular equilibrium constants (partial-pressure form, cgs)\n"
                " * and molecular partition functions from Barklem & Collet 2016, A&A 588,\n"
                " * A96 (via Korg.jl, C2 corrected to Visser+2019 D0). */\n")
        f.write('#include "synth/statmech.h"\n\n')
        f.write(f"const double rvs_sm_logT0 = {LT0};\nconst double rvs_sm_logT_step = {LTSTEP};\n\n")
        f.write(f"/* [Z-1][ion 0..2][logT] partition function */\n")
        f.write(f"const float rvs_sm_atomic_U[RVS_SM_NZ][3][RVS_SM_NT] = {{\n")
        for z in range(NZ):
            f.write("{")
            for i in range(3):
                f.write("{" + ",".join(f"{float(v):.6e}f" for v in U[z, i]) + "},\n")
            f.write("},\n")
        f.write("};\n\n/* [Z-1][0..2] ionisation energies (eV) of I, II, III; -1 unknown */\n")
        f.write("const double rvs_sm_ion_energy[RVS_SM_NZ][3] = {\n")
        for z in range(1, NZ + 1):
            e = ion_e.get(z, [-1.0, -1.0, -1.0])
            f.write("{" + ",".join(f"{v:.4f}" for v in e) + "},\n")
        f.write("};\n\n")
        f.write("const rvs_sm_molecule rvs_sm_molecules[RVS_SM_NMOL] = {\n")
        for pname, _, atoms in MOLECULES:
            f.write(f'  {{"{pname}", {atoms[0]}, {atoms[1]}}},\n')
        f.write("};\n\n/* log10 pK (dyn/cm^2) = log10 p(A)p(B)/p(AB) */\n")
        f.write("const float rvs_sm_mol_logK[RVS_SM_NMOL][RVS_SM_NT] = {\n")
        for m in range(len(MOLECULES)):
            f.write("{" + ",".join(f"{float(v):.6e}f" for v in logK[m]) + "},\n")
        f.write("};\n\n/* log10 molecular partition function */\n")
        f.write("const float rvs_sm_mol_logQ[RVS_SM_NMOL][RVS_SM_NT] = {\n")
        for m in range(len(MOLECULES)):
            f.write("{" + ",".join(f"{float(v):.6e}f" for v in logQ[m]) + "},\n")
        f.write("};\n")
    print("wrote", out)


def strength(z, ion, e_lo, loggf, lt, U, ion_e):
    """Rough weak-line strength index, max over cool/solar/hot conditions:
    log10 of (abundance * gf * Boltzmann * ionisation fraction / U)."""
    best = -99.0
    for T, pe in ((3500.0, 0.05), (4500.0, 1.0), (5800.0, 30.0), (7500.0, 300.0)):
        th = 5040.0 / T
        k = int(round((math.log10(T) - LT0) / LTSTEP))
        u0, u1, u2 = U[z - 1, 0, k], U[z - 1, 1, k], U[z - 1, 2, k]
        chi1, chi2 = ion_e.get(z, [99, 99, 99])[:2]
        r1 = (2 * u1 / u0) * 10 ** (2.5 * math.log10(T) - th * chi1 - 0.1762) / pe if chi1 > 0 else 0
        r2 = (2 * u2 / u1) * 10 ** (2.5 * math.log10(T) - th * chi2 - 0.1762) / pe if chi2 > 0 else 0
        n0 = 1.0 / (1 + r1 + r1 * r2)
        f = n0 if ion == 1 else n0 * r1 if ion == 2 else n0 * r1 * r2
        u = (u0, u1, u2)[ion - 1]
        s = ASPLUND09[z - 1] - 7.5 + loggf - th * e_lo + math.log10(max(f, 1e-30)) - math.log10(u)
        best = max(best, s)
    return best


def c6_to_log_gamma6(c6, z):
    """Unsoeld C6 (cgs) -> log10 vdW FWHM per H perturber at 10000 K (rad/s),
    gamma = 8.08 C6^0.4 v^0.6 with the mean relative speed of H and the atom."""
    masses = 2.0 * z + 1.0  # rough atomic mass (amu); only enters as v^0.6
    mu_inv = 1 / 1.008 + 1 / masses
    v = math.sqrt(8 * 1.380649e-16 * 1e4 / math.pi * mu_inv / 1.66054e-24)
    return math.log10(8.08 * c6 ** 0.4 * v ** 0.6)


def build_lines(src, galah, root, lt, U, ion_e):
    g = h5py.File(galah, "r")
    gwl = g["wl"][:]
    atomic = g["formula"][:, 1] == 0
    # windows covered by GALAH: 10 A bins holding its atomic lines, merged
    bins = np.unique(np.floor(gwl[atomic] / 10.0).astype(int))
    covered = set(bins.tolist())

    def in_galah(w):
        return int(math.floor(w / 10.0)) in covered

    lines = []
    # PFANT atoms.dat: pairs of records
    L = open(os.path.join(src, "atoms.dat")).read().splitlines()
    for i in range(0, len(L) - 1, 2):
        a, b = L[i].split(), L[i + 1].split()
        sp = a[0]
        el, ion = sp[:-1].capitalize(), int(sp[-1])
        if el not in SYMBOLS:
            continue
        z = SYMBOLS.index(el) + 1
        if z == 1:
            continue
        lam = float(a[1])
        e_lo, lgf, c6, grad, ge = (float(x) for x in b[:5])
        vdw = c6_to_log_gamma6(c6, z) if c6 > 0 else 0.0
        lines.append((z, ion, lam, e_lo, lgf, math.log10(grad) if grad > 0 else 0.0,
                      math.log10(ge) if ge > 0 else 0.0, vdw, "P"))
    # Kurucz (WINERED cut) beyond 9100 A
    for line in open(os.path.join(src, "kurucz_winered.list")):
        p = line.split()
        if len(p) < 5:
            continue
        try:
            lam, spc, e_lo, lgf, dmp = (float(x) for x in p[:5])
        except ValueError:
            continue
        if lam > 10100:
            break
        z, ion = int(spc), int(round((spc - int(spc)) * 10)) + 1
        if z < 2 or z > NZ or spc >= 100 or ion > 3:
            continue
        lines.append((z, ion, lam, e_lo, lgf, 0.0, 0.0, dmp if dmp < 0 else 0.0, "K"))
    for z, ion, lam, e_lo, lgf, gr, gs, vdw in HAND_LINES:
        lines.append((z, ion, lam, e_lo, lgf, gr, gs, vdw, "H"))

    out_rows = []
    for z, ion, lam, e_lo, lgf, gr, gs, vdw, tag in lines:
        vac = float(air_to_vac(lam))
        if vac < 3400 or vac > 10100 or in_galah(vac):
            continue
        if tag != "H" and strength(z, ion, e_lo, lgf, lt, U, ion_e) < -10.2:
            continue
        out_rows.append((vac, z, ion, e_lo, lgf, gr, gs, vdw, tag))
    out_rows.sort()
    out = os.path.join(root, "data/linelists/synth_extra_lines.txt")
    with open(out, "w") as f:
        f.write("# Atomic lines for rvs_synth_grid outside the wavelength windows of the GALAH DR3\n"
                "# list (4676-4960, 5600-5910, 6400-6800, 7550-7930 A), GENERATED by\n"
                "# scripts/synth_build_data.py (weak lines below a strength cut removed).\n"
                "# Sources (tag column):\n"
                "#  P  PFANT atoms.dat (github.com/trevisanj/PFANT, GPL-3; solar-calibrated\n"
                "#     gf values of the Barbuy group / Coelho et al. 2005), 3688-7711 A\n"
                "#  K  Kurucz gf values (cut distributed with github.com/MingjieJian/pymoog,\n"
                "#     MIT), 9100-10000 A\n"
                "#  H  hand list of strong lines (NIST/VALD-like values) for 3500-3688 A,\n"
                "#     Ca II H&K and 7927-9100 A (Ca II triplet, Na I 8183/8195, Mg I 8807...)\n"
                "# Hydrogen lines are not here (computed by src/synth/hydrogen.c).\n"
                "# Air wavelengths were converted to vacuum with the IAU formula (Morton 2000).\n"
                "# columns: lambda_vac[A] Z ion(1=neutral) E_lo[eV] log_gf log_gamma_rad\n"
                "#   log_gamma_stark(per electron, 1e4 K; 0=unknown) vdW(<0: log gamma6 per H\n"
                "#   at 1e4 K; 0: Unsoeld) tag\n")
        for r in out_rows:
            f.write(f"{r[0]:.4f} {r[1]} {r[2]} {r[3]:.3f} {r[4]:.3f} {r[5]:.2f} {r[6]:.2f} "
                    f"{r[7]:.3f} {r[8]}\n")
    print("wrote", out, len(out_rows), "lines")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--galah", required=True)
    ap.add_argument("--root", required=True)
    a = ap.parse_args()
    lt, U, ion_e, logK, logQ = read_korg(a.src)
    write_tables(a.root, lt, U, ion_e, logK, logQ)
    build_lines(a.src, a.galah, a.root, lt, U, ion_e)


if __name__ == "__main__":
    main()
