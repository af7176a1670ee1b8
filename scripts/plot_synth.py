#!/usr/bin/env python3
"""Pictures of the synthetic templates for docs/SYNTHETIC.md (python is for
the documentation only; the product never needs it).

usage: plot_synth.py --bin BUILD/rvs_synth_grid [--out docs/img] [--work DIR]

Runs rvs_synth_grid for the spectra it shows, then draws, at DESI resolution
(Gaussian FWHM 1.55 A) and with the continuum normalisation of
tests/test_synth_realism.c (40 A running maximum, 40 A boxcar):
  synth_realism_{b,r,z}.png  Teff 5800/logg 4.5/[Fe/H] 0 against PHOENIX and
                             the FERRE solar spectrum, per DESI arm
  synth_hot_cool.png, synth_dwarf_giant.png, synth_metallicity.png
"""
import argparse
import os
import subprocess
import tempfile

import numpy as np
from astropy.io import fits
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
FWHM = 1.55
FINE, COARSE, WIN = 0.05, 0.5, 40.0


def air_to_vac(lam):
    vac = lam.copy()
    for _ in range(4):
        s2 = (1e4 / vac) ** 2
        vac = lam * (1 + 8.34254e-5 + 2.406147e-2 / (130 - s2) + 1.5998e-4 / (38.9 - s2))
    return vac


def smooth_to(lam, flux, grid):
    fx = np.arange(max(lam[0], grid[0] - 10), min(lam[-1], grid[-1] + 10), FINE)
    fy = np.interp(fx, lam, flux)
    sig = FWHM / 2.354820045 / FINE
    k = np.arange(-int(np.ceil(5 * sig)), int(np.ceil(5 * sig)) + 1)
    ker = np.exp(-0.5 * (k / sig) ** 2)
    num = np.convolve(fy, ker, mode="same")
    den = np.convolve(np.ones_like(fy), ker, mode="same")
    return np.interp(grid, fx, num / den)


def normalise(f):
    h = int(WIN / COARSE / 2)
    n = len(f)
    mx = np.array([f[max(0, i - h):i + h + 1].max() for i in range(n)])
    c = np.array([mx[max(0, i - h):i + h + 1].mean() for i in range(n)])
    return f / c


def synth(binary, work, teff, logg, feh, alpha=0.0):
    subprocess.run([binary, "--outdir", work, "--teff", str(teff), "--logg", str(logg),
                    "--feh", str(feh), "--alpha", str(alpha), "--wmin", "3500", "--wmax",
                    "10000", "--quiet"], check=True)
    lam = fits.getdata(os.path.join(work, "WAVE_SYNTH.fits"))
    z = 0.0 if abs(feh) < 5e-7 else feh
    a = 0.0 if abs(alpha) < 5e-7 else alpha
    fn = os.path.join(work, f"Z{z:+.2f}.A{a:+.2f}",
                      f"synth_t{teff:05.0f}_g{logg:.2f}_z{z:+.2f}_a{a:+.2f}.fits")
    return lam.astype(float), fits.getdata(fn).astype(float)


def realism(binary, work, out):
    grid = np.arange(3600.0, 9824.0 + 1e-9, COARSE)
    gp = np.arange(5000.0, 8000.0 + 1e-9, COARSE)
    lam, f = synth(binary, work, 5800, 4.5, 0.0)
    ph = fits.getdata(os.path.join(DATA, "reference_spectra",
                                   "phoenix_lte05800-4.50-0.0_5000-8000A.fits"), "SPECTRUM")
    fe = fits.getdata(os.path.join(DATA, "reference_spectra",
                                   "ferre_sun_5750_4.50_0.00.fits"), "SPECTRUM")
    u = normalise(smooth_to(lam, f, grid))
    fr = normalise(smooth_to(air_to_vac(fe["WAVE"].astype(float)), fe["FLUX"].astype(float), grid))
    pp = normalise(smooth_to(ph["WAVE"].astype(float), ph["FLUX"].astype(float), gp))
    for arm, lo, hi in (("b", 3600, 5800), ("r", 5760, 7620), ("z", 7520, 9824)):
        m = (grid >= lo) & (grid <= hi)
        r_fe = np.corrcoef(u[m], fr[m])[0, 1]
        fig, axes = plt.subplots(3, 1, figsize=(13, 9))
        span = (hi - lo) / 3.0
        for k, ax in enumerate(axes):
            a, b = lo + k * span, lo + (k + 1) * span
            mm = (grid >= a) & (grid <= b)
            ax.plot(grid[mm], fr[mm], lw=0.8, color="0.45", label="FERRE solar (5750/4.5/0)")
            mp = (gp >= a) & (gp <= b)
            if mp.any():
                ax.plot(gp[mp], pp[mp], lw=0.8, color="tab:orange", label="PHOENIX 5800/4.5/0")
            ax.plot(grid[mm], u[mm], lw=0.8, color="tab:blue", label="rvs_synth 5800/4.5/0")
            ax.set_xlim(a, b)
            ax.set_ylim(0.0, 1.1)
            ax.set_ylabel("normalised flux")
        axes[0].set_title(f"DESI {arm} arm at FWHM {FWHM} A: Pearson r vs FERRE = {r_fe:.3f}")
        axes[0].legend(loc="lower right", fontsize=8)
        axes[-1].set_xlabel("vacuum wavelength (A)")
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"synth_realism_{arm}.png"), dpi=80)
        plt.close(fig)


def comparison(binary, work, out, name, title, specs):
    grid = np.arange(3600.0, 9824.0 + 1e-9, COARSE)
    fig, axes = plt.subplots(4, 1, figsize=(13, 11))
    curves = []
    for (teff, logg, feh, label) in specs:
        lam, f = synth(binary, work, teff, logg, feh)
        s = smooth_to(lam, f, grid)
        curves.append((label, s, normalise(s)))
    for label, s, _ in curves:
        axes[0].plot(grid, s / np.median(s), lw=0.6, label=label)
    axes[0].set_ylabel("flux / median")
    axes[0].legend(fontsize=8)
    axes[0].set_title(title + f" (DESI resolution, FWHM {FWHM} A)")
    for ax, (a, b) in zip(axes[1:], ((3850, 4400), (5100, 5950), (8450, 8700))):
        m = (grid >= a) & (grid <= b)
        for label, _, n in curves:
            ax.plot(grid[m], n[m], lw=0.8, label=label)
        ax.set_xlim(a, b)
        ax.set_ylabel("normalised")
    axes[-1].set_xlabel("vacuum wavelength (A)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, name), dpi=80)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="path of rvs_synth_grid")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "docs", "img"))
    ap.add_argument("--work", default=None)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    work = a.work or tempfile.mkdtemp(prefix="plot_synth_")
    realism(a.bin, work, a.out)
    comparison(a.bin, work, a.out, "synth_hot_cool.png", "hot vs cool dwarfs",
               [(3500, 4.5, 0.0, "3500 K"), (4500, 4.5, 0.0, "4500 K"),
                (5800, 4.5, 0.0, "5800 K"), (9000, 4.5, 0.0, "9000 K")])
    comparison(a.bin, work, a.out, "synth_dwarf_giant.png", "dwarf vs giant, Teff 4500 K",
               [(4500, 4.5, 0.0, "logg 4.5"), (4500, 2.5, 0.0, "logg 2.5"),
                (4500, 1.0, 0.0, "logg 1.0")])
    comparison(a.bin, work, a.out, "synth_metallicity.png", "metal-poor vs metal-rich, 5500 K logg 4",
               [(5500, 4.0, -2.0, "[Fe/H] -2"), (5500, 4.0, -1.0, "[Fe/H] -1"),
                (5500, 4.0, 0.0, "[Fe/H] 0"), (5500, 4.0, 0.5, "[Fe/H] +0.5")])


if __name__ == "__main__":
    main()
