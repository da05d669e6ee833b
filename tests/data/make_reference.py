"""Build ``sigmoid_reference.npz``, the exact-value table for ``tests/test_accuracy.py``.

The reference values come from mpmath only (never from sigcy), computed with 1300 bits of
working precision, enough to resolve the low part of every value stored below, down to the
float64 subnormal range.  Rounding to float64 goes through :class:`fractions.Fraction`
(Python's integer true division is correctly rounded, subnormals included), because
``float(mpf)`` truncates and double-rounds subnormals.

Rerun
-----
From the repository root, with mpmath and numpy installed::

    python tests/data/make_reference.py

It rewrites ``tests/data/sigmoid_reference.npz`` next to this script (a few seconds; the point
sets come from a fixed seed, so the output is reproducible).  Pass another path as the first
argument to write elsewhere.

Contents
--------
x64 : float64 (N,)
    float64 sample points.  Regions, in order: log-uniform ``|x|`` in [1e-300, 750] (both
    signs); uniform in the float64 subnormal tail of sigmoid, [-745.14, -708.4]; around 0
    (``|x| < 1e-8``, including subnormal ``x``); the large-``|x|`` region of the derivative,
    [30, 745.2] (both signs); neighbourhoods of transitions (+-20, +-36, +-37, +-40, +-700,
    +-708.4, +-709.78, +-745.13, ...); points whose exact value is close to a power of two.
{sigmoid,sigmoid_derivative,log_sigmoid}_hi, ..._lo : float64 (N,)
    The exact value ``v`` as a double-double: ``hi`` = v rounded to nearest, ``lo`` = (v - hi)
    rounded to nearest.
{sigmoid,sigmoid_derivative,log_sigmoid}_lo_sub : float64 (N,)
    ``(v - hi) * 2**1074`` where ``|hi| < 2**-960`` (0 elsewhere).  There ``lo`` itself is
    quantized by the subnormal spacing 2**-1074 (exactly 0 when ``hi`` is subnormal), so this
    scaled copy is what resolves ULP errors of tiny results.
x32 : float32 (M,)
    float32 sample points: log-uniform ``|x|`` in [1e-45, 105] (both signs), the float32
    subnormal tail [-103.98, -87.3], the derivative's large-``|x|`` region [15, 105], around
    0, neighbourhoods of float32 transitions (+-9, +-16.6, +-17, +-20, +-88.72, -103.28,
    -103.97, ...), points whose value is close to a power of two.
{sigmoid,sigmoid_derivative,log_sigmoid}_ref32 : float64 (M,)
    The exact value at ``x32`` rounded to float64 (2**-29 float32 ULP: ample).
"""
import sys
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
from mpmath import mp

PREC = 1300  # bits (mp.dps ~ 390)
FUNCTIONS = ("sigmoid", "sigmoid_derivative", "log_sigmoid")
LO_SUB_BELOW = 2.0**-960  # keep in sync with tests/_ulp.py
SEED = 20240611


def exact(fn, x):
    """The exact value of ``fn`` at the float ``x`` as an mpf (``mp.prec`` bits)."""
    xm = mpmath.mpf(float(x))  # exact: floats are dyadic
    if mpmath.isnan(xm):
        return xm
    e = mpmath.exp(-abs(xm))
    if fn == "sigmoid":
        return 1 / (1 + e) if xm >= 0 else e / (1 + e)
    if fn == "sigmoid_derivative":
        return e / (1 + e) ** 2
    if fn == "log_sigmoid":
        return (xm if xm < 0 else 0) - mpmath.log1p(e)
    raise ValueError(fn)


def to_fraction(v):
    sign, man, exp, _ = v._mpf_
    if not man:
        return Fraction(0)
    f = Fraction(man * 2**exp) if exp >= 0 else Fraction(man, 2**-exp)
    return -f if sign else f


def split(v):
    """(hi, lo, lo_sub) of the mpf ``v``, each correctly rounded to float64."""
    if v != 0 and mpmath.mag(v) < -1100:  # far below the subnormals: rounds to 0
        return 0.0 * float(mpmath.sign(v)), 0.0, float(mpmath.ldexp(v, 1074))
    f = to_fraction(v)
    hi = float(f)
    rest = f - Fraction(hi)
    lo = float(rest)
    lo_sub = float(rest * 2**1074) if abs(hi) < LO_SUB_BELOW else 0.0
    return hi, lo, lo_sub


def log_uniform(rng, lo, hi, n):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def neighbourhood(center, dtype, n_steps=8, n_rel=8, rel=1e-4, rng=None):
    """Points within a few ULPs and within +-rel relative of ``center`` (both in ``dtype``)."""
    c = dtype(center)
    pts = [c]
    up, down = c, c
    for _ in range(n_steps):
        up = np.nextafter(up, dtype(np.inf))
        down = np.nextafter(down, dtype(-np.inf))
        pts += [up, down]
    pts += list((float(center) * (1 + rng.uniform(-rel, rel, n_rel))).astype(dtype))
    return pts


def power_of_two_points(fn, ks, dtype, rng):
    """x where fn(x) is near +-2**-k (so the exact value straddles a binade boundary)."""
    pts = []
    with mp.workprec(200):
        for k in ks:
            t = mpmath.mpf(2) ** -k
            if fn == "sigmoid":  # sigma(x) = t  <=>  x = -log(1/t - 1)
                xs = [-mpmath.log(1 / t - 1)] if k >= 1 else []
            elif fn == "sigmoid_derivative":  # e/(1+e)^2 = t, e = exp(-|x|) in (0, 1]
                if t > mpmath.mpf(1) / 4:
                    continue
                # e^2 + (2 - 1/t) e + 1 = 0, smaller root
                b = 2 - 1 / t
                e = (-b - mpmath.sqrt(b * b - 4)) / 2
                xs = [-mpmath.log(e), mpmath.log(e)]
            else:  # log_sigmoid(x) = -t  <=>  x = -log(exp(t) - 1)
                xs = [-mpmath.log(mpmath.expm1(t))]
            for xv in xs:
                xf = float(xv)
                if not np.isfinite(xf) or abs(xf) > (750 if dtype == np.float64 else 105):
                    continue
                pts += neighbourhood(xf, dtype, n_steps=2, n_rel=0, rng=rng)
    return pts


def float64_points(rng):
    f8 = np.float64
    mag = log_uniform(rng, 1e-300, 750.0, 3000)
    regions = [
        mag * np.where(np.arange(mag.size) % 2 == 0, 1.0, -1.0),
        # float64 subnormal tail of sigmoid (the result is below 2**-1022)
        rng.uniform(-745.14, -708.4, 1500),
        # around zero
        rng.uniform(-1e-8, 1e-8, 400),
        log_uniform(rng, 5e-324, 1e-8, 300) * np.where(np.arange(300) % 2 == 0, 1.0, -1.0),
        np.array([5e-324, -5e-324, 2.2250738585072014e-308, -2.2250738585072014e-308,
                  0.0, -0.0]),
        # large |x| for the derivative, where s*(1-s) cancels
        rng.uniform(30.0, 745.2, 1000),
        -rng.uniform(30.0, 745.2, 1000),
    ]
    centers = [1.0, 2.0, 20.0, 36.0, 37.0, 40.0, 700.0, 708.3964185322641, 708.4,
               709.782712893384, 745.1332191019411, 745.13, 745.14]
    trans = []
    for c in centers:
        for s in (1.0, -1.0):
            trans += neighbourhood(s * c, f8, rng=rng)
    regions.append(np.array(trans, dtype=f8))
    pw = []
    for fn in FUNCTIONS:
        pw += power_of_two_points(fn, range(-9, 1076, 17), f8, rng)
    regions.append(np.array(pw, dtype=f8))
    return np.concatenate([np.asarray(r, dtype=f8) for r in regions])


def float32_points(rng):
    f4 = np.float32
    n = 1100
    mag = log_uniform(rng, 1e-45, 105.0, n)
    regions = [
        mag * np.where(np.arange(n) % 2 == 0, 1.0, -1.0),
        rng.uniform(-103.98, -87.3, 600),
        rng.uniform(15.0, 105.0, 250),
        -rng.uniform(15.0, 105.0, 250),
        rng.uniform(-1e-4, 1e-4, 150),
        np.array([1e-45, -1e-45, 1.1754944e-38, -1.1754944e-38, 0.0, -0.0]),
    ]
    regions = [np.asarray(r).astype(f4) for r in regions]
    centers = [1.0, 9.0, 16.6, 17.0, 20.0, 87.3, 88.72283, 100.0, 103.27893, 103.972076,
               104.0]
    trans = []
    for c in centers:
        for s in (1.0, -1.0):
            trans += neighbourhood(s * c, f4, rng=rng)
    regions.append(np.array(trans, dtype=f4))
    pw = []
    for fn in FUNCTIONS:
        pw += power_of_two_points(fn, range(-7, 151, 5), f4, rng)
    regions.append(np.array(pw, dtype=f4))
    return np.concatenate(regions)


def main(out=None):
    out = Path(out) if out else Path(__file__).with_name("sigmoid_reference.npz")
    rng = np.random.default_rng(SEED)
    x64 = float64_points(rng)
    x32 = float32_points(rng)
    tables = {"x64": x64, "x32": x32}
    with mp.workprec(PREC):
        for fn in FUNCTIONS:
            parts = np.array([split(exact(fn, x)) for x in x64])
            tables[f"{fn}_hi"] = parts[:, 0]
            tables[f"{fn}_lo"] = parts[:, 1]
            tables[f"{fn}_lo_sub"] = parts[:, 2]
            tables[f"{fn}_ref32"] = np.array([split(exact(fn, x))[0] for x in x32])
    np.savez_compressed(out, **tables)
    print(f"wrote {out}: {x64.size} float64 points, {x32.size} float32 points, "
          f"{out.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
