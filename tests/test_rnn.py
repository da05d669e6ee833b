"""sigcy.rnn against a slow numpy reference (tests/_rnn_reference.py) and finite differences.

Expected values never come from the code under test: the reference is a per-sample, per-step
numpy implementation of the documented equations, and gradients are also checked against
4th-order central differences of the reference's loss.
"""
import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import sigcy
from sigcy import rnn
from sigcy._core import _gemm
from sigcy.__main__ import ulp_errors   # the CLI's: |y - exact| / spacing at exact
from sigcy.rnn import elman_backward, elman_forward

# --import-mode=importlib: tests/ is not on sys.path, load the reference by its path.
_spec = importlib.util.spec_from_file_location(
    "_sigcy_rnn_reference", pathlib.Path(__file__).with_name("_rnn_reference.py")
)
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)
_spec = importlib.util.spec_from_file_location(
    "_sigcy_tests_ulp", pathlib.Path(__file__).with_name("_ulp.py")
)
_ulp = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _ulp
_spec.loader.exec_module(_ulp)

ACTIVATIONS = ["sigmoid", "tanh", "relu"]
DTYPES = [np.float32, np.float64]
GRAD_NAMES = ["dX", "dW_in", "dW_rec", "db", "dh0"]


def problem(n_samples=4, n_timesteps=7, n_features=3, n_hidden=5, seed=0, with_h0=True,
            with_lengths=False):
    rng = np.random.default_rng(seed)
    p = dict(
        X=rng.standard_normal((n_samples, n_timesteps, n_features)),
        W_in=rng.standard_normal((n_features, n_hidden)) / np.sqrt(n_features),
        W_rec=0.8 * rng.standard_normal((n_hidden, n_hidden)) / np.sqrt(n_hidden),
        b=0.3 * rng.standard_normal(n_hidden),
        h0=0.5 * rng.standard_normal((n_samples, n_hidden)) if with_h0 else None,
        dH=rng.standard_normal((n_samples, n_timesteps, n_hidden)),
        lengths=(rng.integers(1, n_timesteps + 1, n_samples) if with_lengths else None),
    )
    if with_lengths:
        p["lengths"][0] = n_timesteps    # keep one full-length and one length-1 sequence
        p["lengths"][-1] = 1
    return p


def run(p, activation, dtype=np.float64, bptt_steps=None):
    cast = {k: (None if v is None or k == "lengths" else np.asarray(v, dtype))
            for k, v in p.items()}
    H = elman_forward(cast["X"], cast["W_in"], cast["W_rec"], cast["b"], cast["h0"],
                      activation=activation, lengths=p["lengths"])
    grads = elman_backward(cast["X"], H, cast["dH"], cast["W_in"], cast["W_rec"], cast["h0"],
                           activation=activation, lengths=p["lengths"], bptt_steps=bptt_steps)
    return H, grads


def reference(p, activation, bptt_steps=None):
    H, _ = ref.forward(p["X"], p["W_in"], p["W_rec"], p["b"], p["h0"], activation, p["lengths"])
    grads = ref.backward(p["X"], p["dH"], p["W_in"], p["W_rec"], p["b"], p["h0"], activation,
                         p["lengths"], bptt_steps)
    return H, grads


@pytest.fixture
def parallel_everywhere(monkeypatch):
    """Run the OpenMP loops even on tiny problems, over many small blocks."""
    monkeypatch.setattr(rnn, "_PARALLEL_MIN_ELEMENTS", 0)
    monkeypatch.setattr(rnn, "_ROW_BLOCK", 3)
    monkeypatch.setattr(rnn, "_GRAD_BLOCK", 7)


# ----------------------------------------------------------------------------- reference
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("bptt_steps", [None, 1, 3])
def test_matches_reference_float64(activation, with_h0, with_lengths, bptt_steps):
    p = problem(with_h0=with_h0, with_lengths=with_lengths, seed=1)
    H, grads = run(p, activation, bptt_steps=bptt_steps)
    H_ref, grads_ref = reference(p, activation, bptt_steps)
    assert H.dtype == np.float64
    assert_allclose(H, H_ref, rtol=1e-13, atol=1e-14)
    for name, g, g_ref in zip(GRAD_NAMES, grads, grads_ref):
        assert g.dtype == np.float64 and g.shape == g_ref.shape, name
        assert_allclose(g, g_ref, rtol=1e-12, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("bptt_steps", [None, 4])
def test_float32_close_to_float64(activation, with_lengths, bptt_steps):
    p = problem(n_samples=6, n_timesteps=12, n_features=4, n_hidden=9, seed=2,
                with_lengths=with_lengths)
    H32, grads32 = run(p, activation, np.float32, bptt_steps)
    H_ref, grads_ref = reference(p, activation, bptt_steps)
    assert H32.dtype == np.float32
    assert_allclose(H32, H_ref, rtol=2e-5, atol=2e-6)
    for name, g, g_ref in zip(GRAD_NAMES, grads32, grads_ref):
        assert g.dtype == np.float32, name
        scale = np.max(np.abs(g_ref))
        assert_allclose(g, g_ref, rtol=1e-4, atol=1e-5 * scale, err_msg=name)


@pytest.mark.parametrize("row_block, col_block", [(1, 1), (2, 5), (4, 16), (100, 100)])
def test_blocking_matches_reference(monkeypatch, row_block, col_block):
    monkeypatch.setattr(rnn, "_PARALLEL_MIN_ELEMENTS", 0)
    monkeypatch.setattr(rnn, "_ROW_BLOCK", row_block)
    monkeypatch.setattr(rnn, "_GRAD_BLOCK", col_block)
    p = problem(n_samples=7, n_timesteps=9, n_features=3, n_hidden=11, seed=17,
                with_lengths=True)
    H, grads = run(p, "sigmoid", bptt_steps=4)
    H_ref, grads_ref = reference(p, "sigmoid", 4)
    assert_allclose(H, H_ref, rtol=1e-13, atol=1e-14)
    for name, g, g_ref in zip(GRAD_NAMES, grads, grads_ref):
        assert_allclose(g, g_ref, rtol=1e-12, atol=1e-13, err_msg=name)


_TANH_SCRIPT = """
import sys
import numpy as np
import sigcy
from sigcy import _ufuncs
with np.load(sys.argv[1]) as f:
    x = dict(f)
out = {"dispatch": np.array(sigcy.build_info()["dispatch"])}
for name in ("float32", "float64"):
    y = x[name].copy()
    _ufuncs._tanh(y)
    out[name] = y
np.savez(sys.argv[2], **out)
"""

# max ULP of the recurrence's tanh per build (measured: avx512 float32 0.63 over every float32
# input, float64 0.56 on 4e7 random points; the C kernels of the other builds float32 0.51,
# float64 1.42 on these inputs)
_TANH_BOUNDS = {("avx512", "float32"): 0.7, ("avx512", "float64"): 0.7,
                ("avx2", "float32"): 0.6, ("avx2", "float64"): 1.5,
                ("baseline", "float32"): 0.6, ("baseline", "float64"): 1.5}


def _tanh_inputs(dtype):
    rng = np.random.default_rng(18)
    tiny = np.finfo(dtype).smallest_subnormal
    x = np.concatenate([
        rng.uniform(-20, 20, 20000), rng.uniform(-1, 1, 20000), rng.uniform(-0.4, 0.4, 20000),
        np.geomspace(tiny, 30, 4000),
        [0.0, tiny, 2.0**-7, 2.0**-4, 0.1733, 0.5, 9.0, 9.02, 19.0, 19.1, 400.0],
    ]).astype(dtype)
    return np.concatenate([x, -x])


@pytest.mark.parametrize("isa", ["baseline", "avx2", "avx512"])
def test_tanh_kernel_accuracy(isa, tmp_path):
    # the tanh of the recurrence (sigcy's dispatched array loop) in every build, against
    # mpmath on a sample and long double on every input
    mpmath = pytest.importorskip("mpmath")
    inputs = {np.dtype(dt).name: _tanh_inputs(dt) for dt in DTYPES}
    special = np.array([np.inf, -np.inf, np.nan, -0.0, 0.0])
    for name in inputs:
        inputs[name] = np.concatenate([inputs[name], special.astype(name)])
    np.savez(tmp_path / "in.npz", **inputs)
    proc = subprocess.run([sys.executable, "-c", _TANH_SCRIPT, str(tmp_path / "in.npz"),
                           str(tmp_path / "out.npz")], env=dict(os.environ, SIGCY_DISPATCH=isa),
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(tmp_path / "out.npz") as f:     # closed before a skip
        out = dict(f)
    if str(out["dispatch"]) != isa:
        flags = _ulp.cpu_flags()
        if flags is None or not _ulp.CPU_NEEDS[isa] <= flags:
            pytest.skip(f"CPU lacks {isa} (sigcy chose {out['dispatch']})")
        pytest.fail(f"CPU has {isa} but SIGCY_DISPATCH={isa} gave {out['dispatch']}")
    mpmath.mp.prec = 120
    for dtype in DTYPES:
        name = np.dtype(dtype).name
        x, got = inputs[name][:-5], out[name][:-5]
        bound = _TANH_BOUNDS[isa, name]
        step = max(1, x.size // 3000)
        exact_sample = np.array([mpmath.tanh(mpmath.mpf(float(v))) for v in x[::step]])
        err = np.array([float(abs(mpmath.mpf(float(g)) - e)) for g, e in
                        zip(got[::step], exact_sample)])
        ulp = np.maximum(np.spacing(np.abs(exact_sample.astype(np.float64).astype(dtype))),
                         np.finfo(dtype).smallest_subnormal).astype(np.float64)
        assert np.max(err / ulp) <= bound, (isa, name, np.max(err / ulp))
        if np.finfo(np.longdouble).nmant > 52:
            exact = np.tanh(x.astype(np.longdouble))
            assert np.max(ulp_errors(got, exact, dtype)) <= bound, (isa, name)
        # tanh(x) = x for tiny x (no flush to zero in a plain call), odd symmetry bit for bit
        small = np.abs(x) < (2.0**-30 if dtype == np.float32 else 2.0**-60)
        assert_array_equal(got[small], x[small])
        half = x.size // 2
        assert_array_equal(got[half:], -got[:half])
        s = out[name][-5:]
        assert s[0] == 1 and s[1] == -1 and np.isnan(s[2])
        assert s[3] == 0 and np.signbit(s[3]) and s[4] == 0 and not np.signbit(s[4])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k, m, n", [(0, 3, 5), (1, 1, 1), (300, 9, 33), (600, 17, 70),
                                     (257, 8, 16), (700, 20, 64), (0, 8, 32), (300, 100, 64),
                                     (300, 128, 128), (300, 129, 128)])
def test_weight_gradient_kernel(dtype, k, m, n):
    # C (+)= A^T B over passes of rows, every tail of the tiles and panels, packed operands
    # or (small m and whole panels) read in place
    rng = np.random.default_rng(k + m + n)
    A = rng.standard_normal((k, m)).astype(dtype)
    B = rng.standard_normal((k, n)).astype(dtype)
    C0 = rng.standard_normal((m, n)).astype(dtype)
    expected = A.astype(np.float64).T @ B.astype(np.float64)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    C = C0.copy()
    _gemm._gemm_tn_check(A, B, C, False)
    assert_allclose(C, expected, **tol)
    C = C0.copy()
    _gemm._gemm_tn_check(A, B, C, True)
    assert_allclose(C, C0 + expected, **tol)
    # any block of rows gives the same bits
    if m > 1:
        C_top = np.zeros((m // 2, n), dtype)
        _gemm._gemm_tn_check(np.ascontiguousarray(A[:, : m // 2]), B, C_top, False)
        C_all = np.zeros((m, n), dtype)
        _gemm._gemm_tn_check(A, B, C_all, False)
        assert_array_equal(C_top, C_all[: m // 2])


_PORTABLE_SCRIPT = """
import sys
import numpy as np
import sigcy
from sigcy import rnn
with np.load(sys.argv[1]) as f:
    p = dict(f)
out = {"target": np.array(sigcy.build_info()["kernels"]["gemm"])}
for dtype in (np.float32, np.float64):
    c = {k: p[k].astype(dtype) for k in ("X", "W_in", "W_rec", "b", "h0", "dH")}
    name = np.dtype(dtype).name
    out[name + "_H"] = H = rnn.elman_forward(c["X"], c["W_in"], c["W_rec"], c["b"], c["h0"],
                                             activation="tanh", lengths=p["lengths"])
    grads = rnn.elman_backward(c["X"], H, c["dH"], c["W_in"], c["W_rec"], c["h0"],
                               activation="tanh", lengths=p["lengths"], bptt_steps=4)
    for i, g in enumerate(grads):
        out[f"{name}_g{i}"] = g
np.savez(sys.argv[2], **out)
"""


@pytest.mark.parametrize("dispatch, target", [("baseline", "baseline"), ("avx2", "avx2")])
def test_other_gemm_kernels(dispatch, target, tmp_path):
    # SIGCY_DISPATCH selects the AVX2 or the portable C kernels (machines without AVX-512)
    p = problem(n_samples=11, n_timesteps=9, n_features=5, n_hidden=37, seed=29,
                with_lengths=True)
    np.savez(tmp_path / "in.npz", **p)
    env = dict(os.environ, SIGCY_DISPATCH=dispatch)
    proc = subprocess.run([sys.executable, "-c", _PORTABLE_SCRIPT, str(tmp_path / "in.npz"),
                           str(tmp_path / "out.npz")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(tmp_path / "out.npz") as f:     # closed before a skip
        out = dict(f)
    if str(out["target"]) != target:
        pytest.skip(f"this machine runs {out['target']} for SIGCY_DISPATCH={dispatch}")
    H_ref, grads_ref = reference(p, "tanh", 4)
    for name, tol in (("float64", dict(rtol=1e-12, atol=1e-13)),
                      ("float32", dict(rtol=1e-4, atol=2e-5))):
        assert_allclose(out[name + "_H"], H_ref, **tol)
        for i, g_ref in enumerate(grads_ref):
            scale = max(1.0, np.max(np.abs(g_ref)))
            assert_allclose(out[f"{name}_g{i}"], g_ref, rtol=tol["rtol"],
                            atol=tol["atol"] * scale, err_msg=GRAD_NAMES[i])


def test_block_choice():
    assert rnn._blocks(64, 512, 1)[0] == 64       # one block of samples per thread
    assert rnn._blocks(64, 512, 2)[0] == 32
    assert rnn._blocks(13, 40, 2)[0] == 8         # whole tiles of 8 rows
    assert rnn._blocks(1000, 32, 1)[0] == 256     # at most 256 samples a block
    assert rnn._blocks(600, 32, 2)[0] == 152      # 4 blocks, 2 a thread
    assert rnn._blocks(64, 512, 1)[1] == 512 and rnn._blocks(64, 512, 2)[1] == 256
    assert rnn._blocks(64, 37, 2)[1] == 24        # rows of dW_rec, whole tiles


def test_larger_problem_matches_reference():
    # more than one chunk of the db reduction (n_samples * n_timesteps > 256 rows)
    p = problem(n_samples=9, n_timesteps=40, n_features=6, n_hidden=17, seed=3,
                with_lengths=True)
    H, grads = run(p, "tanh", bptt_steps=13)
    H_ref, grads_ref = reference(p, "tanh", 13)
    assert_allclose(H, H_ref, rtol=1e-12, atol=1e-13)
    for name, g, g_ref in zip(GRAD_NAMES, grads, grads_ref):
        assert_allclose(g, g_ref, rtol=1e-11, atol=1e-12, err_msg=name)


# ----------------------------------------------------------------------------- finite differences
def _numerical_gradient(f, x, eps):
    """4th-order central differences of the scalar f with respect to every entry of x."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for k in range(flat.size):
        orig = flat[k]
        vals = []
        for step in (2, 1, -1, -2):
            flat[k] = orig + step * eps
            vals.append(f())
        flat[k] = orig
        gflat[k] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * eps)
    return g


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("bptt_steps", [None, 2])
def test_gradients_match_finite_differences(activation, with_h0, with_lengths, bptt_steps):
    p = problem(n_samples=3, n_timesteps=5, n_features=2, n_hidden=3, seed=4,
                with_h0=with_h0, with_lengths=with_lengths)
    if with_lengths:
        p["lengths"] = np.array([5, 3, 1])
    _, grads = run(p, activation, bptt_steps=bptt_steps)
    H_frozen, _ = ref.forward(p["X"], p["W_in"], p["W_rec"], p["b"], p["h0"], activation,
                              p["lengths"])
    h0 = p["h0"] if with_h0 else np.zeros((3, 3))

    def loss():
        return ref.loss(p["X"], p["W_in"], p["W_rec"], p["b"], h0, p["dH"], activation,
                        p["lengths"], bptt_steps, H_frozen)

    eps = 1e-4 if activation == "relu" else 1e-3
    for name, arr, g in zip(GRAD_NAMES, [p["X"], p["W_in"], p["W_rec"], p["b"], h0], grads):
        numerical = _numerical_gradient(loss, arr, eps)
        assert np.max(np.abs(numerical)) > 0 or name == "dh0"
        assert_allclose(g, numerical, rtol=1e-7, atol=1e-8, err_msg=name)


def test_truncation_changes_the_gradient():
    # the finite-difference loss for bptt_steps really differs from full BPTT
    p = problem(seed=5)
    _, full = run(p, "tanh")
    _, truncated = run(p, "tanh", bptt_steps=2)
    assert not np.allclose(full[2], truncated[2])
    assert_array_equal(run(p, "tanh", bptt_steps=7)[1][2], full[2])   # k >= T is full BPTT


# ----------------------------------------------------------------------------- lengths semantics
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_lengths_carry_state_and_route_gradients(activation):
    p = problem(with_lengths=True, seed=6)
    p["lengths"] = np.array([7, 4, 1, 2])
    H, grads = run(p, activation)
    for i, L in enumerate(p["lengths"]):
        for t in range(L, 7):
            assert_array_equal(H[i, t], H[i, L - 1])
    # a gradient placed only on carried copies equals the same gradient on the last real step
    dH_late = np.zeros_like(p["dH"])
    dH_late[1, 6] = p["dH"][1, 6]
    dH_last = np.zeros_like(p["dH"])
    dH_last[1, 3] = p["dH"][1, 6]
    args = (p["X"], H)
    kw = dict(activation=activation, lengths=p["lengths"])
    g_late = elman_backward(p["X"], H, dH_late, p["W_in"], p["W_rec"], p["h0"], **kw)
    g_last = elman_backward(p["X"], H, dH_last, p["W_in"], p["W_rec"], p["h0"], **kw)
    del args
    for name, a, c in zip(GRAD_NAMES, g_late, g_last):
        assert_allclose(a, c, rtol=1e-14, atol=1e-15, err_msg=name)
    assert np.any(g_late[0][1, :4] != 0)
    assert_array_equal(g_late[0][1, 4:], 0)     # no input gradient on carried steps


def test_full_lengths_equal_no_lengths():
    p = problem(seed=7)
    H, grads = run(p, "sigmoid")
    p["lengths"] = np.full(4, 7)
    H2, grads2 = run(p, "sigmoid")
    assert_array_equal(H, H2)
    for a, c in zip(grads, grads2):
        assert_array_equal(a, c)


# ----------------------------------------------------------------------------- dtypes and layouts
def test_dtype_of_X_decides():
    p = problem(seed=8)
    H = elman_forward(p["X"].astype(np.float32), p["W_in"], p["W_rec"], p["b"], p["h0"])
    assert H.dtype == np.float32
    grads = elman_backward(p["X"].astype(np.float32), H, p["dH"], p["W_in"], p["W_rec"], p["h0"])
    assert all(g.dtype == np.float32 for g in grads)
    H = elman_forward(p["X"].astype(np.int64), p["W_in"].astype(np.float32), p["W_rec"],
                      p["b"], p["h0"])
    assert H.dtype == np.float64
    H_ref, _ = ref.forward(p["X"].astype(np.int64), p["W_in"].astype(np.float32), p["W_rec"],
                           p["b"], p["h0"])
    assert_allclose(H, H_ref, rtol=1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
def test_any_layout_read_only_and_inputs_unchanged(dtype):
    p = problem(seed=9, with_lengths=True)
    _, _ = None, None
    c = {k: (v if v is None or k == "lengths" else np.asarray(v, dtype)) for k, v in p.items()}
    H = elman_forward(c["X"], c["W_in"], c["W_rec"], c["b"], c["h0"], lengths=c["lengths"])
    grads = elman_backward(c["X"], H, c["dH"], c["W_in"], c["W_rec"], c["h0"],
                           lengths=c["lengths"], bptt_steps=3)
    # Fortran order, negative strides, non-contiguous slices, read-only
    odd = {}
    for k, v in c.items():
        if v is None or k == "lengths":
            odd[k] = v
            continue
        big = np.zeros((2,) + v.shape, dtype=dtype, order="F")
        big[1] = v
        w = big[1]
        w.flags.writeable = False
        odd[k] = w
    X_rev = np.asfortranarray(c["X"][:, ::-1])[:, ::-1]
    X_rev.flags.writeable = False
    odd["X"] = X_rev
    copies = {k: (None if v is None else np.array(v)) for k, v in odd.items()}
    H2 = elman_forward(odd["X"], odd["W_in"], odd["W_rec"], odd["b"], odd["h0"],
                       lengths=odd["lengths"])
    H2_ro = H2.copy()
    H2_ro.flags.writeable = False
    grads2 = elman_backward(odd["X"], H2_ro, odd["dH"], odd["W_in"], odd["W_rec"], odd["h0"],
                            lengths=odd["lengths"], bptt_steps=3)
    assert_array_equal(H, H2)
    for a, b in zip(grads, grads2):
        assert_array_equal(a, b)
    for k, v in odd.items():
        if v is not None:
            assert_array_equal(v, copies[k], err_msg=k)


def test_inputs_not_modified_contiguous():
    p = problem(seed=10, with_lengths=True)
    copies = {k: (None if v is None else v.copy()) for k, v in p.items()}
    H = elman_forward(p["X"], p["W_in"], p["W_rec"], p["b"], p["h0"], lengths=p["lengths"])
    H_copy = H.copy()
    elman_backward(p["X"], H, p["dH"], p["W_in"], p["W_rec"], p["h0"], lengths=p["lengths"])
    assert_array_equal(H, H_copy)
    for k, v in p.items():
        assert_array_equal(v, copies[k], err_msg=k)


# ----------------------------------------------------------------------------- threads
def _all_outputs(p, dtype, activation, bptt_steps):
    H, grads = run(p, activation, dtype, bptt_steps)
    return [H, *grads]


def _assert_same_bits_for_1_and_2_threads(p, dtype, activation, bptt_steps, user_api):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1, user_api=user_api):
        one = _all_outputs(p, dtype, activation, bptt_steps)
    with threadpoolctl.threadpool_limits(2, user_api=user_api):
        two = _all_outputs(p, dtype, activation, bptt_steps)
    for a, b in zip(one, two):
        assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_bitwise_identical_for_1_and_2_openmp_threads(dtype, activation, parallel_everywhere):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not sigcy._openmp_helpers._openmp_parallelism_enabled():
        pytest.skip("serial build")
    p = problem(n_samples=13, n_timesteps=30, n_features=5, n_hidden=40, seed=11,
                with_lengths=True)
    with threadpoolctl.threadpool_limits(2, user_api="openmp"):
        assert rnn._n_threads(13, 30, 40) == 2
    _assert_same_bits_for_1_and_2_threads(p, dtype, activation, 7, "openmp")


@pytest.mark.parametrize("dtype", DTYPES)
def test_bitwise_identical_with_blocks_chosen_by_thread_count(dtype, monkeypatch):
    # the default blocks follow the thread count (1 thread: one block of 21 samples and all 40
    # rows of dW_rec; 2 threads: blocks of 16 + 5 samples and 24 + 16 rows)
    if not sigcy._openmp_helpers._openmp_parallelism_enabled():
        pytest.skip("serial build")
    monkeypatch.setattr(rnn, "_PARALLEL_MIN_ELEMENTS", 0)
    p = problem(n_samples=21, n_timesteps=9, n_features=5, n_hidden=40, seed=23, with_h0=True,
                with_lengths=True)
    assert rnn._blocks(21, 40, 1) == (24, 40) and rnn._blocks(21, 40, 2) == (16, 24)
    _assert_same_bits_for_1_and_2_threads(p, dtype, "tanh", None, "openmp")


@pytest.mark.parametrize("dtype", DTYPES)
def test_bitwise_identical_for_1_and_2_blas_threads(dtype):
    # a size at which OpenBLAS' own GEMM gives different bits for 1 and 2 threads
    p = problem(n_samples=128, n_timesteps=3, n_features=600, n_hidden=300, seed=12)
    _assert_same_bits_for_1_and_2_threads(p, dtype, "tanh", None, "blas")


def test_blas_limit_is_restored():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    p = problem(seed=13)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        run(p, "tanh")
        counts = {i["num_threads"] for i in threadpoolctl.threadpool_info()
                  if i["user_api"] == "blas"}
    assert counts == {2}


# ----------------------------------------------------------------------------- bad input
def _args(**overrides):
    p = problem(seed=14)
    p.update(overrides)
    return p


@pytest.mark.parametrize(
    "override, match",
    [
        (dict(X=np.zeros((4, 7))), r"X has shape \(4, 7\), expected a 3-D"),
        (dict(X=np.zeros((4, 0, 3))), r"X has shape \(4, 0, 3\): zero time steps"),
        (dict(W_in=np.zeros((2, 5))), r"W_in has shape \(2, 5\), expected .*\(3, n_hidden\)"),
        (dict(W_rec=np.zeros((5, 4))), r"W_rec has shape \(5, 4\), expected .*\(5, 5\)"),
        (dict(W_rec=np.zeros((4, 4))), r"W_rec has shape \(4, 4\), expected .*\(5, 5\)"),
        (dict(b=np.zeros(4)), r"b has shape \(4,\), expected .*\(5,\)"),
        (dict(b=np.zeros((1, 5))), r"b has shape \(1, 5\), expected .*\(5,\)"),
        (dict(h0=np.zeros((3, 5))), r"h0 has shape \(3, 5\), expected .*\(4, 5\)"),
        (dict(lengths=np.array([1, 2, 3])), r"lengths has shape \(3,\), expected .*\(4,\)"),
        (dict(lengths=np.array([1, 2, 0, 3])), r"lengths must lie in \[1, n_timesteps\]"),
        (dict(lengths=np.array([1, 2, 8, 3])), r"lengths must lie in \[1, n_timesteps\]"),
        (dict(lengths=np.array([1.5, 2, 3, 3])), r"lengths must hold integers"),
    ],
)
def test_forward_bad_input(override, match):
    p = _args(**override)
    with pytest.raises(ValueError, match=match):
        elman_forward(p["X"], p["W_in"], p["W_rec"], p["b"], p["h0"], lengths=p["lengths"])


@pytest.mark.parametrize("name", ["X", "W_in", "W_rec", "b", "h0"])
def test_complex_or_object_rejected(name):
    p = _args()
    p[name] = p[name].astype(complex)
    with pytest.raises(ValueError, match=rf"{name} must hold real numbers"):
        elman_forward(p["X"], p["W_in"], p["W_rec"], p["b"], p["h0"])
    p[name] = p[name].real.astype(object)
    with pytest.raises(ValueError, match=rf"{name} must hold real numbers"):
        elman_forward(p["X"], p["W_in"], p["W_rec"], p["b"], p["h0"])


def test_unknown_activation():
    p = _args()
    with pytest.raises(ValueError, match=r"Unknown activation 'softplus'"):
        elman_forward(p["X"], p["W_in"], p["W_rec"], p["b"], activation="softplus")
    H = elman_forward(p["X"], p["W_in"], p["W_rec"], p["b"])
    with pytest.raises(ValueError, match=r"Unknown activation 'Sigmoid'"):
        elman_backward(p["X"], H, p["dH"], p["W_in"], p["W_rec"], activation="Sigmoid")


@pytest.mark.parametrize(
    "name, shape",
    [("H", (4, 6, 5)), ("H", (4, 7)), ("dH", (4, 7, 4)), ("dH", (7, 4, 5)), ("h0", (4, 4)),
     ("W_in", (2, 5)), ("W_rec", (5, 6))],
)
def test_backward_bad_shapes(name, shape):
    # (a W_in with more columns is reported on W_rec, which no longer matches it)
    p = _args()
    p["H"] = elman_forward(p["X"], p["W_in"], p["W_rec"], p["b"], p["h0"])
    p[name] = np.zeros(shape)
    with pytest.raises(ValueError, match=rf"{name} has shape \({shape[0]}, .*expected"):
        elman_backward(p["X"], p["H"], p["dH"], p["W_in"], p["W_rec"], p["h0"])


@pytest.mark.parametrize("bptt_steps", [0, -1, 2.5, True])
def test_bad_bptt_steps(bptt_steps):
    p = _args()
    H = elman_forward(p["X"], p["W_in"], p["W_rec"], p["b"])
    with pytest.raises(ValueError, match="bptt_steps"):
        elman_backward(p["X"], H, p["dH"], p["W_in"], p["W_rec"], bptt_steps=bptt_steps)


def test_huge_size_raises_memory_error():
    X = np.broadcast_to(np.zeros((1, 1, 1)), (2**22, 2**20, 1))
    with pytest.raises(MemoryError):
        elman_forward(X, np.zeros((1, 2**10)), np.zeros((2**10, 2**10)), np.zeros(2**10))


def test_size_beyond_addressable_raises_memory_error():
    # X is empty (no features) but H would take 2**65 bytes: numpy's own error would be a
    # ValueError ("array is too big")
    X = np.empty((2**30, 2**30, 0), dtype=np.float32)
    with pytest.raises(MemoryError, match="more than can be addressed"):
        elman_forward(X, np.ones((0, 8)), np.eye(8), np.ones(8))


def test_float32_in_any_byte_order_stays_float32():
    p = _args()
    X = p["X"].astype(">f4")
    H = elman_forward(X, p["W_in"], p["W_rec"], p["b"])
    assert H.dtype == np.float32
    assert_array_equal(H, elman_forward(X.astype(np.float32), p["W_in"], p["W_rec"], p["b"]))
    out = np.empty(H.shape, np.float32)
    assert elman_forward(X, p["W_in"], p["W_rec"], p["b"], out=out) is out
    grads = elman_backward(X, H, p["dH"], p["W_in"], p["W_rec"])
    assert all(g.dtype == np.float32 for g in grads)


def test_unhashable_activation_is_a_value_error():
    p = _args()
    with pytest.raises(ValueError, match="Unknown activation"):
        elman_forward(p["X"], p["W_in"], p["W_rec"], p["b"], activation=["tanh"])


def test_private_loops_check_their_arguments():
    # the compiled loops are private, but a wrong argument must not read or write out of
    # bounds (boundscheck is off inside them)
    from sigcy._core import _elman
    X, W_in, W_rec, b = np.ones((4, 3, 2)), np.ones((2, 5)), np.eye(5), np.zeros(5)
    H = np.empty((4, 3, 5))
    scratch = np.empty(_elman.scratch_bytes(False, False, 4, 2, 5), np.uint8)
    good = dict(h0=None, lengths=None, H=H, act=0, row_block=8, n_threads=1)

    def forward(**kw):
        a = {**good, **kw}
        _elman.elman_forward_loop(X, W_in, W_rec, b, a["h0"], a["lengths"], a["H"], a["act"],
                                a["row_block"], a["n_threads"], True, scratch)

    forward()
    assert_array_equal(H, elman_forward(X, W_in, W_rec, b))
    for kw, msg in [({"row_block": 0}, "row_block"), ({"row_block": -1}, "row_block"),
                    ({"H": np.empty((1, 1, 1))}, "H has shape"), ({"act": 7}, "act 7"),
                    ({"n_threads": 0}, "n_threads"), ({"h0": np.zeros((3, 5))}, "h0 has"),
                    ({"lengths": np.array([1, 2, 3], np.intp)}, "lengths has"),
                    ({"lengths": np.array([1, 2, 3, 4], np.intp)}, r"lengths\[3\] = 4")]:
        with pytest.raises(ValueError, match=msg):
            forward(**kw)
    dA, carry = np.empty_like(H), np.empty((2, 4, 5))
    dX, dW_in, dW_rec = np.empty_like(X), np.empty((2, 5)), np.empty((5, 5))
    db, dh0 = np.empty(5), np.empty((4, 5))
    bscratch = np.empty(_elman.scratch_bytes(False, True, 4, 2, 5, 8, 1), np.uint8)
    for bptt, gb, dA_ in [(0, 8, dA), (3, 0, dA), (3, 8, np.empty((4, 2, 5)))]:
        with pytest.raises(ValueError, match="bptt_steps 0|grad_block 0|dA has shape"):
            _elman.elman_backward_loop(X, H, np.zeros_like(H), W_in, W_rec, None, None, bptt,
                                     dA_, carry, dX, dW_in, dW_rec, db, dh0, 0, 8, gb, 1,
                                     True, bscratch)
    # no time steps: every shape agrees, but the loops need at least one step
    X0, H0 = np.ones((4, 0, 2)), np.empty((4, 0, 5))
    with pytest.raises(ValueError, match="n_timesteps 0"):
        _elman.elman_forward_loop(X0, W_in, W_rec, b, None, None, H0, 0, 8, 1, True, scratch)
    with pytest.raises(ValueError, match="n_timesteps 0"):
        _elman.elman_backward_loop(X0, H0, H0, W_in, W_rec, None, None, 1, np.empty((4, 0, 5)),
                                 carry, np.empty((4, 0, 2)), dW_in, dW_rec, db, dh0, 0, 8, 8, 1,
                                 True, bscratch)


# ----------------------------------------------------------------------------- NaN
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_propagates(activation, dtype):
    p = problem(seed=15, with_lengths=True)
    p["lengths"] = np.array([7, 7, 3, 7])
    p["X"][1, 2, 0] = np.nan
    H, grads = run(p, activation, dtype)
    assert np.all(np.isfinite(H[[0, 2, 3]]))          # other samples unaffected
    assert np.all(np.isfinite(H[1, :2]))
    assert np.all(np.isnan(H[1, 2:]))                 # every later state of sample 1
    assert np.all(np.isnan(grads[2]))                 # dW_rec sums over every sample
    p2 = problem(seed=15)
    p2["W_rec"][0, 0] = np.nan
    H2, grads2 = run(p2, activation, dtype)
    assert np.all(np.isfinite(H2[:, 0])) if p2["h0"] is None else np.isnan(H2[:, 0]).any()
    assert np.isnan(H2[:, -1]).all()
    assert all(np.isnan(g).any() for g in grads2)


def test_empty_batch():
    p = problem(n_samples=0, seed=16)
    H, grads = run(p, "sigmoid")
    assert H.shape == (0, 7, 5)
    assert [g.shape for g in grads] == [(0, 7, 3), (3, 5), (5, 5), (5,), (0, 5)]
    assert all(np.all(g == 0) for g in grads)


def test_docstring_examples():
    import doctest

    result = doctest.testmod(rnn, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 10
    assert result.failed == 0


# ----------------------------------------------------------------------------- subnormals
def test_flush_subnormals_switch():
    # sigmoid(-720) = 1.9e-313 is subnormal in float64
    X = np.zeros((2, 3, 1))
    W_in, W_rec, b = np.zeros((1, 2)), np.zeros((2, 2)), np.array([-720.0, 0.5])
    exact = np.exp(-720.0)               # = 1 / (1 + e^720) in float64
    assert 0 < exact < np.finfo(np.float64).tiny
    H_ieee = elman_forward(X, W_in, W_rec, b, flush_subnormals=False)
    assert_allclose(H_ieee[..., 0], exact, rtol=1e-10)
    H_ftz = elman_forward(X, W_in, W_rec, b)
    assert_array_equal(H_ftz[..., 0], 0.0)
    assert_array_equal(H_ftz[..., 1], H_ieee[..., 1])
    dH = np.ones_like(H_ieee)
    g_ieee = elman_backward(X, H_ieee, dH, W_in, W_rec, flush_subnormals=False)
    g_ftz = elman_backward(X, H_ieee, dH, W_in, W_rec)
    assert g_ieee[3][0] > 0           # db[0] = sum of h (1 - h) ~ 6 * 1.9e-313
    assert g_ftz[3][0] == 0


def test_flush_does_not_leak_into_other_threads(parallel_everywhere):
    # OpenMP threads inherit the floating-point control register of the thread that creates
    # them: FTZ must never be set on the calling thread when a parallel region starts.
    threadpoolctl = pytest.importorskip("threadpoolctl")
    p = problem(n_samples=12, n_timesteps=5, n_features=2, n_hidden=10, seed=19)
    x = np.full(50_000, -744.0)        # sigmoid(-744) is subnormal
    for n_threads in (2, 3, 4):
        with threadpoolctl.threadpool_limits(n_threads, user_api="openmp"):
            run(p, "sigmoid")
            assert np.all(sigcy.sigmoid(x) > 0)
    tiny = np.array([np.finfo(np.float64).tiny])
    assert (tiny / 4)[0] > 0           # the calling thread still computes subnormals


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_out(dtype):
    # out= gives the same bits as a fresh array, is returned, and is reusable
    p = problem(seed=21)
    X = p["X"].astype(dtype)
    expected = elman_forward(X, p["W_in"], p["W_rec"], p["b"], p["h0"], lengths=p["lengths"])
    out = np.full(expected.shape, np.nan, dtype)
    for _ in range(2):
        got = elman_forward(X, p["W_in"], p["W_rec"], p["b"], p["h0"], lengths=p["lengths"],
                            out=out)
        assert got is out
        assert_array_equal(out, expected)


def test_recycled_outputs_are_reused_never_shared():
    """H and dX come from sigcy's pool of released blocks: a released H's memory serves the
    next H of its size, two live arrays never share memory, a reused block gives the same
    results, and the pool stays bounded."""
    from sigcy._core import _pool
    p = problem(seed=23)
    args = (p["X"], p["W_in"], p["W_rec"], p["b"], p["h0"])
    _pool._pool_clear()
    H1 = elman_forward(*args)
    address = H1.ctypes.data
    expected = H1.copy()
    assert H1.flags.writeable and H1.flags.c_contiguous and address % 64 == 0
    H2 = elman_forward(*args)                  # H1 alive: fresh memory
    assert not np.may_share_memory(H1, H2)
    del H1
    assert _pool._pool_state() == (expected.nbytes, [expected.nbytes])
    H3 = elman_forward(*args)                  # takes H1's block
    assert H3.ctypes.data == address
    assert _pool._pool_state() == (0, [])
    assert_array_equal(H3, expected)
    assert_array_equal(H2, expected)
    view = H3[1:]                              # a view keeps the block alive
    del H3
    assert _pool._pool_state() == (0, [])
    del view
    assert _pool._pool_state()[1] == [expected.nbytes]
    # dX (the shape of X) comes from the pool too, and is independent of X
    dH = np.ones_like(expected)
    dX = elman_backward(p["X"], expected, dH, p["W_in"], p["W_rec"], p["h0"])[0]
    assert dX.shape == p["X"].shape and not np.may_share_memory(dX, p["X"])
    # the block is the array's base (no buffer export in between that could be released)
    H4 = elman_forward(*args)
    base = H4
    while isinstance(base, np.ndarray):
        base = base.base
    assert isinstance(base, _pool._Block)
    del H4, base
    # bounded: 4 blocks and 64 MiB at most, the longest kept evicted first
    _pool._pool_clear()
    for k in range(6):
        _pool._Block(1000 + k)                  # allocated, then released at once
    assert _pool._pool_state() == (1002 + 1003 + 1004 + 1005, [1002, 1003, 1004, 1005])
    _pool._Block(70 * 2**20)                    # larger than the pool: freed, nothing evicted
    assert _pool._pool_state()[1] == [1002, 1003, 1004, 1005]
    _pool._Block(40 * 2**20)                    # needs a slot: evicts 1002
    assert _pool._pool_state()[1] == [1003, 1004, 1005, 40 * 2**20]
    _pool._Block(40 * 2**20 + 1)                # needs 40 MiB more: evicts everything
    assert _pool._pool_state() == (40 * 2**20 + 1, [40 * 2**20 + 1])
    _pool._pool_clear()
    assert _pool._pool_state() == (0, [])
    with pytest.raises(ValueError, match="n_bytes must be >= 0"):
        _pool._Block(-1)


def test_forward_out_rejected():
    p = problem(seed=22)
    X, W_in, W_rec, b = p["X"], p["W_in"], p["W_rec"], p["b"]
    shape = (X.shape[0], X.shape[1], W_in.shape[1])
    with pytest.raises(ValueError, match=r"out has shape \(4, 7, 4\), expected \(4, 7, 5\)"):
        elman_forward(X, W_in, W_rec, b, out=np.empty(shape[:2] + (4,)))
    with pytest.raises(ValueError, match="out has dtype float32, expected float64"):
        elman_forward(X, W_in, W_rec, b, out=np.empty(shape, np.float32))
    with pytest.raises(ValueError, match="C-contiguous and writeable"):
        elman_forward(X, W_in, W_rec, b, out=np.empty(shape[::-1]).T)
    readonly = np.empty(shape)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="C-contiguous and writeable"):
        elman_forward(X, W_in, W_rec, b, out=readonly)
    with pytest.raises(ValueError, match="numpy array"):
        elman_forward(X, W_in, W_rec, b, out=[[0.0]])
    # out aliasing an input (here X itself, reshaped to H's shape) is refused
    Xw = np.zeros(shape)
    with pytest.raises(ValueError, match="overlaps an input"):
        elman_forward(Xw, np.eye(5), W_rec, b, out=Xw)
    # ... lengths too (the loop reads lengths after writing the input projection to out)
    buf = np.zeros(shape)
    lengths = buf.reshape(-1).view(np.intp)[: shape[0]]
    lengths[:] = [7, 2, 3, 1]
    with pytest.raises(ValueError, match="overlaps an input"):
        elman_forward(X, W_in, W_rec, b, lengths=lengths, out=buf)
