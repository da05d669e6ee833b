"""ULP-error helpers for the accuracy tests (and a small command-line table check).

The tests run with ``--import-mode=importlib``, so ``tests/`` is not on ``sys.path``;
``test_accuracy.py`` loads this file by path.  ``python tests/_ulp.py TABLE.npz`` imports
sigcy (honouring ``SIGCY_DISPATCH``), checks it against the table and prints the active
instruction set and the maximum ULP errors as JSON; the per-instruction-set test runs it in
a subprocess.

ULP convention
--------------
The error of a result ``y`` against the exact value ``v`` is ``|y - v| / ulp(v)`` where
``ulp(v)`` is the spacing of the output format in the binade holding ``v`` (not ``y``, not the
rounded ``v``: just below a power of two the smaller spacing counts), and ``ulp`` of a value
in or below the subnormal range is the smallest subnormal of the output type.
"""
import json
import sys

import numpy as np

FUNCTIONS = ("sigmoid", "sigmoid_derivative", "log_sigmoid")
# Documented accuracy: maximum ULP error per function.
BOUNDS = {"sigmoid": 1.0, "sigmoid_derivative": 2.0, "log_sigmoid": 2.0}
# Below this |hi| the table also carries (v - hi) * 2**1074 (keep in sync with make_reference).
LO_SUB_BELOW = 2.0**-960
_HALF_SCALE = 2.0**537  # 2**1074 does not fit in a float64: scale in two exact steps


def _tail(ref_hi, ref_lo, ref_lo_sub):
    """The low part to use for the sign test at powers of two."""
    if ref_lo_sub is None:
        return ref_lo
    return np.where(np.abs(ref_hi) < LO_SUB_BELOW, ref_lo_sub, ref_lo)


def ulp_exponent(ref_hi, ref_lo, dtype, ref_lo_sub=None):
    """log2 of the ULP of ``dtype`` in the binade of the exact value ``hi + lo`` (an int array)."""
    hi = np.asarray(ref_hi, dtype=np.float64)
    tail = np.asarray(_tail(hi, np.asarray(ref_lo, dtype=np.float64), ref_lo_sub))
    info = np.finfo(dtype)
    p = info.nmant + 1                      # 53 / 24 significant bits
    e_sub = info.minexp - info.nmant        # -1074 / -149: exponent of the smallest subnormal
    with np.errstate(invalid="ignore"):
        m, e = np.frexp(np.abs(hi))         # |hi| = m 2**e, m in [0.5, 1): binade [2**(e-1), 2**e)
    # |hi| a power of two and the exact value below it in magnitude: the binade below
    below = (m == 0.5) & (np.sign(tail) * np.sign(hi) < 0)
    e = e.astype(np.int64) - below
    ue = np.maximum(e - p, e_sub)
    return np.where(hi == 0, e_sub, ue)


def ulp_of_exact(ref_hi, ref_lo, dtype, ref_lo_sub=None):
    """The ULP of ``dtype`` at the exact value ``ref_hi + ref_lo`` (see the module docstring)."""
    return np.ldexp(1.0, ulp_exponent(ref_hi, ref_lo, dtype, ref_lo_sub))


def ulp_error(y, ref_hi, ref_lo, dtype, ref_lo_sub=None):
    """ULP error of ``y`` (of type ``dtype``) against the exact value ``ref_hi + ref_lo``.

    Parameters
    ----------
    y : array_like
        Computed values; converted to ``dtype`` (which must not change them) then to float64.
    ref_hi, ref_lo : array_like of float64
        The exact value as a double-double.  For float32 results ``ref_lo`` may be 0.
    dtype : numpy dtype
        The output format the ULP is measured in (float32 or float64).
    ref_lo_sub : array_like of float64, optional
        ``(v - hi) * 2**1074`` where ``|hi| < 2**-960``: there ``lo`` is quantized by the
        subnormal spacing (0 for subnormal ``hi``), so this scaled copy is used instead.

    Returns
    -------
    ndarray of float64
        ``|y - v| / ulp(v)``; 0 where ``y`` and ``v`` are the same infinity or both NaN,
        ``inf`` where only one of them is NaN or infinite.
    """
    y = np.asarray(y)
    yd = y.astype(dtype)
    if not np.array_equal(yd, y, equal_nan=True):
        raise ValueError("y is not representable in dtype")
    y64 = yd.astype(np.float64)
    hi = np.asarray(ref_hi, dtype=np.float64)
    lo = np.asarray(ref_lo, dtype=np.float64)
    ue = ulp_exponent(hi, lo, dtype, ref_lo_sub)
    with np.errstate(all="ignore"):
        # y - hi is exact (Sterbenz) whenever y is within a factor 2 of hi, i.e. whenever the
        # error is small enough to matter; subtracting lo then rounds at 2**-53 relative.
        d = y64 - hi
        err = np.abs(d - lo) / np.ldexp(1.0, ue)
        if ref_lo_sub is not None:
            small = np.abs(hi) < LO_SUB_BELOW
            d_scaled = d * _HALF_SCALE * _HALF_SCALE          # exact for |d| < 2**-50
            err_s = np.abs(d_scaled - np.asarray(ref_lo_sub, dtype=np.float64)) / np.ldexp(
                1.0, ue + 1074)
            err = np.where(small, err_s, err)
    same_special = (np.isnan(y64) & np.isnan(hi)) | (np.isinf(hi) & (y64 == hi))
    err = np.where(same_special, 0.0, err)
    return np.where(np.isnan(err), np.inf, err)


# ---------------------------------------------------------------- independent references
def longdouble_reference(fn, x):
    """(hi, lo, lo_sub) of ``fn`` at float ``x`` computed in np.longdouble.

    Only meaningful where long double has more precision than double (x86 80-bit: 64-bit
    significand, 15-bit exponent, so the float64 subnormal tail is normal there).
    Formulas: 1/(1+exp(-x)), exp(-|x|)/(1+exp(-|x|))**2, -log1p(exp(-x)) (x >= 0) and
    x - log1p(exp(x)) (x < 0).
    """
    xl = np.asarray(x).astype(np.longdouble)
    with np.errstate(over="ignore", under="ignore"):
        if fn == "sigmoid":
            v = 1 / (1 + np.exp(-xl))
        elif fn == "sigmoid_derivative":
            e = np.exp(-np.abs(xl))
            v = e / (1 + e) ** 2
        elif fn == "log_sigmoid":
            neg = xl < 0
            v = np.empty_like(xl)
            v[~neg] = -np.log1p(np.exp(-xl[~neg]))
            v[neg] = xl[neg] - np.log1p(np.exp(xl[neg]))
        else:
            raise ValueError(fn)
        hi = v.astype(np.float64)
        rest = v - hi
        lo = rest.astype(np.float64)
        lo_sub = np.where(np.abs(hi) < LO_SUB_BELOW,
                          (rest * np.longdouble(2) ** 1074).astype(np.float64), 0.0)
    return hi, lo, lo_sub


def mp_reference(fn, x, prec=1300):
    """(hi, lo, lo_sub) of ``fn`` at each float in ``x``, from mpmath at ``prec`` bits."""
    from fractions import Fraction

    import mpmath

    def frac(v):
        sign, man, exp, _ = v._mpf_
        if not man:
            return Fraction(0)
        f = Fraction(man * 2**exp) if exp >= 0 else Fraction(man, 2**-exp)
        return -f if sign else f

    out = []
    with mpmath.mp.workprec(prec):
        for xv in np.asarray(x, dtype=np.float64).ravel():
            xm = mpmath.mpf(float(xv))
            if mpmath.isnan(xm):
                out.append((np.nan, 0.0, 0.0))
                continue
            if mpmath.isinf(xm):
                lim = {"sigmoid": (1.0, 0.0), "sigmoid_derivative": (0.0, 0.0),
                       "log_sigmoid": (0.0, -np.inf)}[fn]
                out.append((lim[0] if xm > 0 else lim[1], 0.0, 0.0))
                continue
            e = mpmath.exp(-abs(xm))
            if fn == "sigmoid":
                v = 1 / (1 + e) if xm >= 0 else e / (1 + e)
            elif fn == "sigmoid_derivative":
                v = e / (1 + e) ** 2
            else:
                v = (xm if xm < 0 else 0) - mpmath.log1p(e)
            if v != 0 and mpmath.mag(v) < -1100:  # far below the subnormals: rounds to 0
                out.append((0.0 * float(mpmath.sign(v)), 0.0, float(mpmath.ldexp(v, 1074))))
                continue
            f = frac(v)
            hi = float(f)
            rest = f - Fraction(hi)
            out.append((hi, float(rest),
                        float(rest * 2**1074) if abs(hi) < LO_SUB_BELOW else 0.0))
    arr = np.array(out, dtype=np.float64).reshape(np.shape(x) + (3,))
    return arr[..., 0], arr[..., 1], arr[..., 2]


# ---------------------------------------------------------------- the table check
def variants(f, x):
    """f(x) computed through each code path of the array loops, every result full-length.

    as_stored: contiguous, in the table's order (blocks mix regions).
    sorted_abs: contiguous, sorted by |x|, so every 256-element block with |x| <= 700 takes the
        one-factor exp path and the others the two-factor path.
    two_factor: every other element 750.0, so every block takes the two-factor exp path.
    strided: a non-contiguous view (the loops' gather/scatter buffer).
    """
    out = {"as_stored": f(x)}
    order = np.argsort(np.abs(x), kind="stable")
    y = np.empty_like(out["as_stored"])
    y[order] = f(x[order])
    out["sorted_abs"] = y
    xx = np.full(2 * x.size, 750.0, dtype=x.dtype)
    xx[0::2] = x
    out["two_factor"] = f(xx)[0::2].copy()
    out["strided"] = f(xx[0::2])
    return out


def table_errors(path, functions=FUNCTIONS):
    """ULP errors of sigcy against the mpmath table at ``path``.

    Returns ``{"fn/dtype": {"max_ulp", "x", "variant", "n"}}`` with the worst point.
    """
    import sigcy

    with np.load(path) as f:
        t = dict(f)
    res = {}
    for fn in functions:
        f = getattr(sigcy, fn)
        for dtype, x, ref in (
            (np.float64, t["x64"], (t[f"{fn}_hi"], t[f"{fn}_lo"], t[f"{fn}_lo_sub"])),
            (np.float32, t["x32"], (t[f"{fn}_ref32"], np.zeros_like(t[f"{fn}_ref32"]), None)),
        ):
            worst = {"max_ulp": -1.0}
            for name, y in variants(f, x).items():
                if y.dtype != dtype or y.shape != x.shape:
                    raise AssertionError(f"{fn}: got {y.dtype}{y.shape} for {x.dtype}{x.shape}")
                err = ulp_error(y, ref[0], ref[1], dtype, ref[2])
                i = int(np.argmax(err))
                if err[i] > worst["max_ulp"]:
                    worst = {"max_ulp": float(err[i]), "x": float(x[i]), "y": float(y[i]),
                             "variant": name, "n": int(x.size)}
            res[f"{fn}/{np.dtype(dtype).name}"] = worst
    return res


def main(argv):
    import sigcy

    print(json.dumps({"dispatch": sigcy.build_info()["dispatch"],
                      "errors": table_errors(argv[1])}))



# ---------------------------------------------------------------- instruction-set builds
# What each of sigcy's builds needs from the CPU (SIGCY_DISPATCH=baseline/avx2/avx512); the
# tests that run every build in a subprocess skip those this CPU cannot run.
CPU_NEEDS = {"baseline": set(), "avx2": {"avx2", "fma", "bmi2"},
             "avx512": {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl", "avx2",
                        "fma", "bmi2"}}


def cpu_flags():
    """The CPU's feature flags from /proc/cpuinfo, or None where there is none."""
    from pathlib import Path

    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return None


if __name__ == "__main__":
    main(sys.argv)
