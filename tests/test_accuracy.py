"""Accuracy of sigcy's ufuncs against independent references.

References: the mpmath table ``tests/data/sigmoid_reference.npz`` (rebuild with
``python tests/data/make_reference.py``), mpmath directly, and np.longdouble formulas on
x86's 80-bit long double.  Nothing here compares sigcy with itself or with stored sigcy output.

Documented bounds: sigmoid <= 1 ULP, sigmoid_derivative <= 2 ULP, log_sigmoid <= 2 ULP, in
the output type, subnormal results included (see ``tests/_ulp.py`` for the ULP convention).
"""
import importlib.util
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sigcy

HERE = Path(__file__).resolve().parent
TABLE = HERE / "data" / "sigmoid_reference.npz"


def _load_helpers():
    # --import-mode=importlib keeps tests/ off sys.path: load the helper module by path.
    spec = importlib.util.spec_from_file_location("_sigcy_tests_ulp", HERE / "_ulp.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


U = _load_helpers()
FUNCTIONS = U.FUNCTIONS
BOUNDS = U.BOUNDS
DTYPES = (np.float32, np.float64)
TINY64 = 2.0**-1074
HALF_TINY64 = 2.0**-1075

EXTENDED_LONGDOUBLE = np.finfo(np.longdouble).nmant > 52
needs_longdouble = pytest.mark.skipif(
    not EXTENDED_LONGDOUBLE, reason="np.longdouble is no wider than float64 here")

fn_param = pytest.mark.parametrize("fn", FUNCTIONS)
dtype_param = pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])


@pytest.fixture(scope="module")
def table():
    with np.load(TABLE) as t:
        return {k: t[k] for k in t.files}


def _ref(table, fn, dtype):
    """(x, hi, lo, lo_sub) from the table for one function and output type."""
    if dtype == np.float64:
        return (table["x64"], table[f"{fn}_hi"], table[f"{fn}_lo"], table[f"{fn}_lo_sub"])
    ref = table[f"{fn}_ref32"]
    return table["x32"], ref, np.zeros_like(ref), None


def _max_err(err, x):
    i = int(np.argmax(err))
    return float(err[i]), x.flat[i]


# ---------------------------------------------------------------- the measuring stick
def test_ulp_error_helper():
    f8, f4 = np.float64, np.float32
    one_up = np.nextafter(1.0, 2.0)
    one_down = np.nextafter(1.0, 0.0)
    assert U.ulp_error(one_up, 1.0, 0.0, f8) == 1.0
    assert U.ulp_error(one_down, 1.0, 0.0, f8) == 0.5  # exact 1.0: its binade [1, 2), ULP 2**-52
    # exact value 1 - 2**-60: its binade is [0.5, 1), ULP 2**-53
    assert U.ulp_error(1.0, 1.0, -(2.0**-60), f8) == 2.0**-7
    assert U.ulp_error(one_down, 1.0, -(2.0**-60), f8) == pytest.approx(1 - 2.0**-7, abs=1e-15)
    # exact value 1 + 2**-60: binade [1, 2), ULP 2**-52
    assert U.ulp_error(one_up, 1.0, 2.0**-60, f8) == pytest.approx(1 - 2.0**-8, abs=1e-15)
    # subnormals: ULP is the smallest subnormal, resolved through lo_sub
    assert U.ulp_error(3 * TINY64, 2 * TINY64, 0.0, f8, 0.3) == pytest.approx(0.7)
    assert U.ulp_error(0.0, 0.0, 0.0, f8, 0.3) == pytest.approx(0.3)
    assert U.ulp_error(TINY64, 0.0, 0.0, f8, 0.3) == pytest.approx(0.7)
    # smallest normal: exact value just below it lies in the subnormal range (same ULP)
    assert U.ulp_error(2.0**-1022, 2.0**-1022, 0.0, f8, -0.25) == pytest.approx(0.25)
    # float32: ULP of the float32 format, subnormal spacing 2**-149
    assert U.ulp_error(np.nextafter(f4(1), f4(2)), 1.0, 0.0, f4) == 1.0
    assert U.ulp_error(f4(2.0**-149), 0.0, 0.0, f4) == 1.0
    assert U.ulp_error(f4(3 * 2.0**-149), 2.5 * 2.0**-149, 0.0, f4) == 0.5
    # specials
    assert U.ulp_error(np.inf, np.inf, 0.0, f8) == 0.0
    assert U.ulp_error(np.nan, np.nan, 0.0, f8) == 0.0
    assert U.ulp_error(np.nan, 1.0, 0.0, f8) == np.inf
    assert U.ulp_error(1.0, np.nan, 0.0, f8) == np.inf
    assert U.ulp_error(-np.inf, np.inf, 0.0, f8) == np.inf


def test_table_covers_the_regions(table):
    x, x32 = table["x64"], table["x32"]
    assert TABLE.stat().st_size < 600_000
    assert np.count_nonzero((x >= -745.14) & (x <= -708.4)) >= 1000
    assert np.count_nonzero((np.abs(x) < 1e-8) & (x != 0)) >= 500
    assert np.count_nonzero((x >= 30) & (x <= 745.2)) >= 800
    assert np.count_nonzero((x <= -30) & (x >= -745.2)) >= 800
    assert np.count_nonzero(np.abs(x) <= 1e-299) >= 10 and np.abs(x).max() >= 745.14
    for c in (36.0, 37.0, 709.782712893384, 745.1332191019411):
        for s in (1, -1):
            assert np.count_nonzero(np.abs(x - s * c) < 1e-9 * c) >= 10
    assert np.count_nonzero((x32 >= -103.98) & (x32 <= -87.3)) >= 500
    assert np.abs(x32).max() >= 104


@needs_longdouble
@fn_param
def test_table_agrees_with_longdouble(table, fn):
    """The mpmath table's rounded values are within 0.5 ULP of a long-double computation."""
    for dtype in DTYPES:
        x, hi, lo, lo_sub = _ref(table, fn, dtype)
        l_hi, l_lo, l_sub = U.longdouble_reference(fn, x)
        err = U.ulp_error(hi.astype(dtype), l_hi, l_lo, dtype, l_sub if dtype == np.float64
                          else None)
        worst, at = _max_err(err, x)
        assert worst <= 0.5 + 2.0**-7, (fn, dtype, at)
        # and the double-double (hi, lo) is the long-double value to far below an ULP
        if dtype == np.float64:
            big = np.abs(hi) >= U.LO_SUB_BELOW
            d = np.abs((hi[big] - l_hi[big]) + (lo[big] - l_lo[big]))
            assert np.all(d <= 2.0**-8 * U.ulp_of_exact(hi[big], lo[big], dtype))


# ---------------------------------------------------------------- ULP errors against the table
@dtype_param
@fn_param
def test_ulp_error_against_mpmath_table(table, fn, dtype):
    x, hi, lo, lo_sub = _ref(table, fn, dtype)
    f = getattr(sigcy, fn)
    # every code path of the loops (mixed/homogeneous blocks, one/two-factor exp, strided)
    for variant, y in U.variants(f, x.astype(dtype)).items():
        assert y.dtype == dtype and y.shape == x.shape
        err = U.ulp_error(y, hi, lo, dtype, lo_sub)
        worst, at = _max_err(err, x)
        assert worst <= BOUNDS[fn], (
            f"{fn}/{np.dtype(dtype).name}/{sigcy.build_info()['dispatch']}/{variant}: "
            f"{worst:.3f} ULP at x={at!r}")


# ---------------------------------------------------------------- dense random check
def _dense_points(dtype):
    rng = np.random.default_rng(20240611)
    if dtype == np.float64:
        n_log, n_uni, n_mid, n_tail, top, tail = 80_000, 60_000, 40_000, 20_000, 750.0, (-745.2, -700.0)
        lo_mag = 1e-320
    else:
        n_log, n_uni, n_mid, n_tail, top, tail = 400_000, 300_000, 200_000, 100_000, 110.0, (-104.0, -87.0)
        lo_mag = 1e-45
    sign = rng.choice([-1.0, 1.0], n_log)
    x = np.concatenate([
        sign * np.exp(rng.uniform(np.log(lo_mag), np.log(top), n_log)),
        rng.uniform(-top, top, n_uni),
        rng.uniform(-40.0, 40.0, n_mid),
        rng.uniform(*tail, n_tail),
    ]).astype(dtype)
    rng.shuffle(x)
    return x


@needs_longdouble
@dtype_param
@fn_param
def test_dense_random_against_longdouble(fn, dtype):
    x = _dense_points(dtype)
    assert x.size == (200_000 if dtype == np.float64 else 1_000_000)
    y = getattr(sigcy, fn)(x)
    hi, lo, lo_sub = U.longdouble_reference(fn, x)
    err = U.ulp_error(y, hi, lo, dtype, lo_sub if dtype == np.float64 else None)
    worst, at = _max_err(err, x)
    assert worst <= BOUNDS[fn], f"{fn}/{np.dtype(dtype).name}: {worst:.3f} ULP at x={at!r}"


# ---------------------------------------------------------------- documented exactness claims
def test_sigmoid_float64_subnormal_tail_is_not_flushed(table):
    # Dense grid over the tail: the exact value e^x/(1+e^x) >= 2**-1075 for x >= -745.1332,
    # so the correctly rounded result is nonzero.  (scipy.special.expit gives 0 for x <= -710.)
    x = np.linspace(-745.13, -708.4, 200_001)
    y = sigcy.sigmoid(x)
    assert np.all(y > 0) and np.all(y < 2.0**-1021)
    # table points: nonzero wherever the exact value is >= half the smallest subnormal
    x, hi, lo, lo_sub = _ref(table, "sigmoid", np.float64)
    at_least_half = (hi > 0) | ((hi == 0) & (lo_sub >= 0.5))
    assert np.count_nonzero(at_least_half & (x < -708.4)) >= 1000
    y = sigcy.sigmoid(x[at_least_half])
    assert np.all(y > 0), x[at_least_half][y == 0]


def test_sigmoid_float32_subnormal_tail_is_not_flushed():
    x = np.linspace(-103.97, -87.3, 100_001, dtype=np.float32)
    y = sigcy.sigmoid(x)
    assert y.dtype == np.float32 and np.all(y > 0)


@dtype_param
def test_sigmoid_derivative_at_40(dtype):
    exact_hi, exact_lo, _ = U.mp_reference("sigmoid_derivative", np.array([40.0]))
    assert exact_hi[0] == 4.2483542552915889e-18  # the literal is the correctly rounded value
    for x in (40.0, -40.0):
        y = sigcy.sigmoid_derivative(dtype(x))
        assert np.asarray(y).dtype == dtype
        assert U.ulp_error(y, exact_hi, exact_lo, dtype)[0] <= 2.0
    # s * (1 - s) has lost it entirely; the ufunc computes from x
    s = 1 / (1 + np.exp(-40.0))
    assert s * (1 - s) == 0.0


@pytest.mark.parametrize("dtype, top", [(np.float64, 745.13), (np.float32, 103.97)],
                         ids=["float64", "float32"])
def test_sigmoid_derivative_nonzero_for_large_abs_x(dtype, top):
    x = np.linspace(30.0 if dtype == np.float64 else 15.0, top, 100_001).astype(dtype)
    y = sigcy.sigmoid_derivative(x)
    assert np.all(y > 0), x[y == 0]
    assert np.all(sigcy.sigmoid_derivative(-x) > 0)
    # decreasing in |x| while the results are normal (steps of 0.7% dwarf the ULP error)
    normal = y[:-1] > np.finfo(dtype).smallest_normal * 2**10
    assert np.count_nonzero(normal) > 50_000
    assert np.all(np.diff(y)[normal] < 0)


@pytest.mark.parametrize("dtype, start", [(np.float64, 40.0), (np.float32, 20.0)],
                         ids=["float64", "float32"])
def test_log_sigmoid_is_x_far_left(dtype, start):
    fmax = float(np.finfo(dtype).max)
    x = -np.geomspace(start, fmax / 2, 50_001).astype(dtype)
    x = np.concatenate([x, [dtype(-start), np.nextafter(dtype(-start), dtype(-np.inf)),
                            dtype(-fmax)]]).astype(dtype)
    y = sigcy.log_sigmoid(x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, x)
    # the region just above the claim, against mpmath: still within bounds
    near = np.linspace(-start, -start / 2, 201).astype(dtype)
    hi, lo, sub = U.mp_reference("log_sigmoid", near)
    err = U.ulp_error(sigcy.log_sigmoid(near), hi, lo, dtype, sub if dtype == np.float64 else None)
    assert err.max() <= BOUNDS["log_sigmoid"]


@pytest.mark.parametrize("dtype, start, last_nonzero, first_zero",
                         [(np.float64, 37.0, 745.13, 745.14), (np.float32, 17.0, 103.97, 103.98)],
                         ids=["float64", "float32"])
def test_log_sigmoid_far_right(dtype, start, last_nonzero, first_zero):
    import mpmath

    x = np.geomspace(start, last_nonzero, 400).astype(dtype)
    hi, lo, sub = np.empty(x.size), np.empty(x.size), np.zeros(x.size)
    with mpmath.mp.workprec(1300):
        for i, xv in enumerate(x):  # reference -exp(-x), not log1p
            _, man, exp, _ = mpmath.exp(-mpmath.mpf(float(xv)))._mpf_
            v = -Fraction(man, 2**-exp)  # exp(-x) < 1: exp < 0
            hi[i] = float(v)
            rest = v - Fraction(hi[i])
            lo[i] = float(rest)
            if abs(hi[i]) < U.LO_SUB_BELOW:
                sub[i] = float(rest * 2**1074)
    y = sigcy.log_sigmoid(x)
    err = U.ulp_error(y, hi, lo, dtype, sub if dtype == np.float64 else None)
    worst, at = _max_err(err, x)
    assert worst <= 2.0, (worst, at)
    assert np.all(y < 0)
    # once exp(-x) is below half the smallest subnormal: 0 (either sign)
    fmax = float(np.finfo(dtype).max)
    big = np.concatenate([np.geomspace(first_zero, fmax / 2, 10_001), [fmax, np.inf]]).astype(dtype)
    assert np.all(sigcy.log_sigmoid(big) == 0)


@dtype_param
def test_log_sigmoid_minus_inf(dtype):
    with np.errstate(all="raise"):
        y = sigcy.log_sigmoid(np.array([-np.inf, -np.inf], dtype=dtype))
        assert y.dtype == dtype and np.all(y == -np.inf)
        assert sigcy.log_sigmoid(dtype(-np.inf)) == -np.inf


# ---------------------------------------------------------------- special values
SPECIALS = {
    # fn: [(x, exact result)]
    "sigmoid": [(np.inf, 1.0), (-np.inf, 0.0), (0.0, 0.5), (-0.0, 0.5), (np.nan, np.nan)],
    "sigmoid_derivative": [(0.0, 0.25), (-0.0, 0.25), (np.inf, 0.0), (-np.inf, 0.0),
                           (np.nan, np.nan)],
    "log_sigmoid": [(np.inf, 0.0), (-np.inf, -np.inf), (np.nan, np.nan)],
}


@dtype_param
@fn_param
def test_special_values_exact_and_silent(fn, dtype):
    f = getattr(sigcy, fn)
    xs = np.array([p[0] for p in SPECIALS[fn]], dtype=dtype)
    want = np.array([p[1] for p in SPECIALS[fn]], dtype=dtype)
    with np.errstate(all="raise"):  # no floating-point warning for any of them
        for x0, w in zip(xs, want):
            y = f(x0)
            assert np.asarray(y).dtype == dtype
            np.testing.assert_array_equal(y, w)
        # in arrays: short (one block), long (many blocks, threads), strided, mixed
        for reps in (1, 7, 20_000):
            x = np.tile(xs, reps)
            np.testing.assert_array_equal(f(x), np.tile(want, reps))
            np.testing.assert_array_equal(f(x[::3]), np.tile(want, reps)[::3])
        mixed = np.concatenate([xs, np.linspace(-800, 800, 1001, dtype=dtype), xs])
        y = f(mixed)
        np.testing.assert_array_equal(y[: xs.size], want)
        np.testing.assert_array_equal(y[-xs.size:], want)


# ---------------------------------------------------------------- every instruction-set build

@pytest.mark.parametrize("isa", ["baseline", "avx2", "avx512"])
def test_every_instruction_set_is_accurate(isa, tmp_path):
    env = dict(os.environ, SIGCY_DISPATCH=isa)
    proc = subprocess.run([sys.executable, str(HERE / "_ulp.py"), str(TABLE)], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    if report["dispatch"] != isa:
        flags = U.cpu_flags()
        if flags is None or not U.CPU_NEEDS[isa] <= flags:
            pytest.skip(f"CPU lacks {isa} (sigcy chose {report['dispatch']})")
        pytest.fail(f"CPU has {isa} but SIGCY_DISPATCH={isa} gave {report['dispatch']}")
    bad = {k: v for k, v in report["errors"].items() if v["max_ulp"] > BOUNDS[k.split("/")[0]]}
    assert not bad, f"{isa}: {bad}"
    # every function/dtype was measured
    assert len(report["errors"]) == 6 and all(v["n"] > 3000 for v in report["errors"].values())


# ---------------------------------------------------------------- properties (hypothesis)
def _finite_arrays(dtype, max_side=40):
    return hnp.arrays(dtype, st.integers(1, max_side),
                      elements=st.floats(allow_nan=False, allow_infinity=False,
                                         width=np.finfo(dtype).bits))


def _any_arrays(dtype):
    return hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, max_side=6),
                      elements=st.floats(width=np.finfo(dtype).bits))


PROPS = settings(deadline=None, max_examples=200)


@dtype_param
@PROPS
@given(data=st.data())
def test_prop_sigmoid_bounded_and_monotone(dtype, data):
    x = data.draw(_finite_arrays(dtype))
    y = sigcy.sigmoid(x)
    assert np.all((y >= 0) & (y <= 1))
    ys = sigcy.sigmoid(np.sort(x))
    assert np.all(np.diff(ys) >= 0), (np.sort(x), ys)


@dtype_param
@PROPS
@given(data=st.data())
def test_prop_sigmoid_of_minus_x_against_mpmath(dtype, data):
    x = data.draw(_finite_arrays(dtype, max_side=12))
    y = sigcy.sigmoid(-x)
    hi, lo, sub = U.mp_reference("sigmoid", (-x).astype(np.float64))
    err = U.ulp_error(y, hi, lo, dtype, sub if dtype == np.float64 else None)
    assert err.max() <= BOUNDS["sigmoid"], (-x)[np.argmax(err)]


@dtype_param
@PROPS
@given(data=st.data())
def test_prop_derivative_even_and_nonnegative(dtype, data):
    x = data.draw(_finite_arrays(dtype))
    y, ym = sigcy.sigmoid_derivative(x), sigcy.sigmoid_derivative(-x)
    np.testing.assert_array_equal(y.view(f"u{y.itemsize}"), ym.view(f"u{ym.itemsize}"))
    assert np.all((y >= 0) & (y <= 0.25 + np.spacing(dtype(0.25))))


@dtype_param
@PROPS
@given(data=st.data())
def test_prop_log_sigmoid_nonpositive(dtype, data):
    x = data.draw(_finite_arrays(dtype))
    y = sigcy.log_sigmoid(x)
    assert np.all(y <= 0)
    # log(1/2) <= log_sigmoid(x) for x >= 0 (with room for rounding)
    assert np.all(y[x >= 0] >= -0.6931472 * (1 + 1e-6))


@dtype_param
@PROPS
@given(data=st.data())
def test_prop_nan_positions_dtype_and_shape(dtype, data):
    x = data.draw(_any_arrays(dtype))
    for fn in FUNCTIONS:
        y = getattr(sigcy, fn)(x)
        y_arr = np.asarray(y)
        assert y_arr.dtype == dtype and y_arr.shape == x.shape
        np.testing.assert_array_equal(np.isnan(y_arr), np.isnan(x))
