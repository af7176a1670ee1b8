#!/usr/bin/env python3
"""Reference values for tests/test_hessian_richardson.c.

Runs numdifftools' default Hessian, ndf.Hessian(f) (the fallback second pass
of rvspecfit's vel_fit.process), on a few analytic functions and prints the C
block that sits between the GENERATED markers of the test file:
the number of calls numdifftools makes, its Hessian, error estimates and
chosen candidates (full_output's best_index // n^2), and
every point it evaluates for one 2-d case.

The functions use Python's math module on plain floats, which calls the same
libm as the C test, so both sides see bit-identical function values.  The
script also checks that the points numdifftools asks for are exactly the
points, in the order, that src/fit/hessian_richardson.h documents.

Usage:  python3 tests/scripts/hessian_reference.py            (print block)
        python3 tests/scripts/hessian_reference.py --update   (rewrite test)
Made with numdifftools 0.11.2, numpy 2.4.6, scipy 1.17.1.
"""
import math
import os
import sys

import numpy as np
import numdifftools as ndf

NAN = math.nan


def f_exp_cos_1d(x):
    return math.exp(x[0]) * math.cos(x[0]) + 0.5 * x[0] * x[0]


def f_quadratic_2d(x):
    return 0.5 * (3.0 * x[0] * x[0] + 1.4 * x[0] * x[1] + 2.0 * x[1] * x[1]) + x[0] - 0.25 * x[1]


def f_exp_sin_3d(x):
    return math.exp(0.5 * x[0]) * math.sin(x[1]) + x[2] * x[2] * math.cos(x[0]) + x[1] * x[2]


def f_stellar_4d(x):
    # teff ~ 5800 K, logg, [Fe/H], [alpha/Fe] ~ 0.2: scales differ by 1e5
    t = (x[0] - 5750.0) / 120.0
    g = (x[1] - 4.3) / 0.15
    m = (x[2] + 0.6) / 0.08
    a = (x[3] - 0.15) / 0.04
    return (0.5 * (t * t + g * g + m * m + a * a + 0.6 * t * g - 0.3 * m * a)
            + 0.02 * t * t * t + 0.1 * math.sin(m) * g + math.exp(0.05 * a))


def f_near_singular_3d(x):
    # eigenvalues ~4e6 and ~4e-6 in the (x0, x1) block
    d = x[0] - x[1]
    s = x[0] + x[1]
    return 1e6 * d * d + 1e-6 * s * s + 1e-3 * x[2] * x[2] + 1e-4 * x[0] * x[2]


def f_mixed_5d(x):
    return (0.5 * x[0] * x[0] + 1.0 * x[1] * x[1] + 1.5 * x[2] * x[2] + 2.0 * x[3] * x[3]
            + 2.5 * x[4] * x[4] + 0.3 * x[0] * x[1] - 0.2 * x[2] * x[3] + 0.1 * x[1] * x[4]
            + math.exp(0.1 * (x[0] + x[1] + x[2] + x[3] + x[4])) + math.sin(x[0] * x[4]))


def f_nan_region_2d(x):
    # NaN where the large steps leave the domain of sqrt (NaN-aware paths)
    r = math.sqrt(x[0]) if x[0] >= 0 else NAN
    return r * (1.0 + x[1]) + x[1] * x[1]


def f_nan_narrow_2d(x):
    # NaN region and a narrow line: the quartiles of an even number of
    # non-NaN candidates decide the outlier errors
    r = math.sqrt(x[0]) if x[0] >= 0 else NAN
    w = 0.01
    d = x[0] - 1.2 + 0.5 * w
    return r * (1.0 + x[1]) + w * w / (w * w + d * d)


def f_narrow_line_2d(x):
    # a Lorentzian narrower than most steps: most candidates are garbage and
    # the outlier errors (the factor-10 'wild' test) decide the choice
    w2 = 0.04 * 0.04
    return w2 / (w2 + x[0] * x[0]) + x[1] * x[0]


def f_kink_2d(x):
    # a kink 0.7 away: the IQR fences add error to the large-step candidates
    return abs(x[0] - 1.0) + x[0] * x[0] + x[1] * x[0]


def f_linear_3d(x):
    # true Hessian 0: the estimates are pure rounding noise
    return 2.0 * x[0] - 3.0 * x[1] + 0.5 * x[2] + 1.0


CASES = [
    ("exp_cos_1d", f_exp_cos_1d, [0.7]),
    ("quadratic_2d", f_quadratic_2d, [0.3, -1.2]),
    ("exp_sin_3d", f_exp_sin_3d, [0.4, 1.1, -0.8]),
    ("stellar_4d", f_stellar_4d, [5800.0, 4.4, -0.7, 0.2]),
    ("near_singular_3d", f_near_singular_3d, [1.0, 1.0000001, 2.0]),
    ("mixed_5d", f_mixed_5d, [0.1, -0.2, 0.3, 0.5, -0.4]),
    ("nan_region_2d", f_nan_region_2d, [0.7, 0.3]),
    ("nan_narrow_2d", f_nan_narrow_2d, [1.2, 0.2]),
    ("narrow_line_2d", f_narrow_line_2d, [0.04, 0.2]),
    ("kink_2d", f_kink_2d, [0.3, 0.2]),
    ("linear_3d", f_linear_3d, [1.5, -2.5, 0.25]),
]
POINTS_CASE = "quadratic_2d"


def documented_points(x):
    """The point list as src/fit/hessian_richardson.h describes it."""
    n = len(x)
    pts = [list(x)]
    for k in range(15):
        h = []
        for i in range(n):
            nom = max(math.log(1.718281828459045 + abs(x[i])), 1.0)
            h.append((2.0 * nom) * 1.6 ** (-k))

        def moved(changes):
            p = [v + 0.0 for v in x]
            for i, d in changes:
                p[i] = x[i] + d
            return p

        for i in range(n):
            pts.append(moved([(i, 2 * h[i])]))
            pts.append(moved([(i, -(2 * h[i]))]))
            for j in range(i + 1, n):
                for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                    pts.append(moved([(i, si * h[i]), (j, sj * h[j])]))
    return pts


def run_case(fun, x0):
    calls = []

    def wrapped(x):
        xs = [float(v) for v in np.asarray(x, dtype=float)]
        calls.append(xs)
        return fun(xs)

    x = np.array(x0, dtype=float)
    hess = np.atleast_2d(ndf.Hessian(wrapped)(x))
    ncalls = len(calls)
    pts = list(calls)
    calls.clear()
    res = ndf.Hessian(wrapped, full_output=True)(x)
    assert len(calls) == ncalls
    assert np.array_equal(np.atleast_2d(res.estimate), hess, equal_nan=True)
    best = np.asarray(res.best_index).ravel() // (len(x0) ** 2)
    return hess, np.atleast_2d(res.error_estimate), best, ncalls, pts


def c_double(v):
    v = float(v)
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    return repr(v)


def generate():
    out = ["/* BEGIN GENERATED by tests/scripts/hessian_reference.py */"]
    out.append("static const struct ref_case ref_cases[] = {")
    points_block = None
    for name, fun, x0 in CASES:
        n = len(x0)
        hess, err, best, ncalls, pts = run_case(fun, x0)
        # numpy's vectorised log may differ from libm by 1 ulp; the C steps
        # use libm, so make sure this case's steps are the same bits.
        nom_np = np.log(1.718281828459045 + np.abs(np.array(x0)))
        for i in range(n):
            if nom_np[i] != math.log(1.718281828459045 + abs(x0[i])):
                sys.exit(f"{name}: numpy log differs from libm at x[{i}]; pick another x")
        doc = documented_points(x0)
        if len(doc) != len(pts) or any(a != b for p, q in zip(doc, pts) for a, b in zip(p, q)):
            sys.exit(f"{name}: numdifftools' points differ from the documented order")
        out.append(f'    {{"{name}", {n}, {ncalls},')
        out.append("     {" + ", ".join(c_double(v) for v in x0) + "},")
        out.append("     {" + ", ".join(c_double(v) for v in hess.ravel()) + "},")
        out.append("     {" + ", ".join(c_double(v) for v in err.ravel()) + "},")
        out.append("     {" + ", ".join(str(int(v)) for v in best) + "}},")
        if name == POINTS_CASE:
            rows = ["    {" + ", ".join(c_double(v) for v in p) + "}," for p in pts]
            points_block = [f"static const double ref_points[{len(pts)}][{n}] = {{"] + rows + ["};"]
    out.append("};")
    out.extend(points_block)
    out.append("/* END GENERATED */")
    return "\n".join(out) + "\n"


def main():
    block = generate()
    if "--update" not in sys.argv:
        sys.stdout.write(block)
        return
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test_hessian_richardson.c")
    text = open(path).read()
    begin = text.index("/* BEGIN GENERATED")
    end = text.index("/* END GENERATED */") + len("/* END GENERATED */\n")
    open(path, "w").write(text[:begin] + block + text[end:])


if __name__ == "__main__":
    main()
