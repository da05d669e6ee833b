#!/usr/bin/env python
"""refcheck: capture sigcy's numerical results bit for bit, and compare two captures.

    python refcheck.py capture OUTDIR          -> OUTDIR/<level>.npz  (level = this process's
                                                  sigcy.build_info()["dispatch"])
    python refcheck.py compare REFDIR NEWDIR   -> byte-for-byte comparison of every array of
                                                  every REFDIR/*.npz with NEWDIR/ of the same
                                                  name; exit 1 on any mismatch or missing
                                                  key/file (REFDIR/NEWDIR may also be two
                                                  .npz files)

Only sigcy's public API is used (sigcy.rnn.elman_forward / elman_backward, RNNClassifier,
RNNRegressor, gradient_flow, the three ufuncs, build_info, sigcy.datasets), so the script
keeps working across an internal refactor.  Thread counts are set with threadpoolctl (as
sigcy's docs say: OpenMP follows threadpool_limits / OMP_NUM_THREADS); every computation is
captured under 1 and under 2 threads, stored under separate keys (..._t1_..., ..._t2_...).

sigcy's kernels only go parallel above a size threshold (sigcy.rnn: n_samples * n_timesteps
* n_hidden >= 2**18; the ufuncs: >= 16384 elements), so the problem set contains groups of
problems above those sizes on purpose (the "par" group, the big estimator fits).

Inputs are generated here from fixed seeds (numpy Generator/RandomState, sklearn's embedded
digits, sigcy.datasets' generators); a SHA-256 of the inputs of every problem is stored as
an array too (keys ending in "_inputs_sha256"), so that a change of the inputs (another
numpy) is told apart from a change of sigcy's results.

Each .npz also holds "__meta__" (a JSON string: level, SIGCY_DISPATCH, versions, thread
pools, the spec of every problem); compare does not count it as an array but prints the
differences that matter (level, package versions).
"""
import argparse
import hashlib
import json
import os
import platform
import sys
import time
import warnings

import numpy as np

FORMAT = 1
SEED = 20240611
THREADS = (1, 2)
LEVELS = ("baseline", "avx2", "avx512")
RNN_PARALLEL_MIN = 2**18          # sigcy.rnn's threshold at capture time (informational)
META_KEY = "__meta__"


# ----------------------------------------------------------------------------- helpers
class Store:
    """An ordered dict of arrays with unique keys; values become C-contiguous copies."""

    def __init__(self):
        self.arrays = {}

    def add(self, key, value):
        if key in self.arrays:
            raise KeyError(f"duplicate key {key}")
        if value is None:
            a = np.array("None")
        elif isinstance(value, str):
            a = np.array(value)
        else:
            a = np.asarray(value)
            if a.dtype == object:
                raise TypeError(f"{key}: object array ({type(value)})")
        self.arrays[key] = np.array(a, copy=True, order="C")


def sha256(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"None")
            continue
        a = np.asarray(a)
        h.update(str(a.dtype.str).encode() + str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return np.frombuffer(h.digest(), dtype=np.uint8).copy()


def limit_threads(controller, n):
    """Context limiting every thread pool (OpenMP and BLAS) to n threads, checked."""
    import sigcy

    ctx = controller.limit(limits=n)
    got = sigcy.build_info()["max_threads"]
    if got != n:
        ctx.restore_original_limits()
        raise RuntimeError(f"asked threadpoolctl for {n} threads, sigcy reports {got} "
                           f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')!r}, "
                           f"{os.cpu_count()} CPUs)")
    return ctx


# ----------------------------------------------------------------------------- 1. rnn
HIDDEN = np.array([1, 3, 8, 17, 32, 64, 100, 128, 256, 512])
HIDDEN_P = np.array([10, 12, 14, 14, 14, 12, 10, 8, 4, 2], dtype=float)
HIDDEN_P /= HIDDEN_P.sum()
ACTS = ("sigmoid", "tanh", "relu")
N_RANDOM = 300
N_PAR = 28


def _weights(rng, F, Hh, act, s_in, s_rec):
    W_in = rng.standard_normal((F, Hh)) * (s_in / np.sqrt(F))
    W_rec = rng.standard_normal((Hh, Hh)) * (s_rec / np.sqrt(Hh))
    b = rng.standard_normal(Hh) * 0.5
    if act == "sigmoid":          # sigmoid's slope is 1/4: larger weights keep it non-trivial
        W_in *= 4
        W_rec *= 4
    return W_in, W_rec, b


def random_problem(idx):
    """The spec and inputs of random problem idx (the random and the "par" groups)."""
    rng = np.random.default_rng([SEED, 1, idx])
    dtype = ("float32", "float64")[int(rng.integers(2))]
    act = ACTS[int(rng.integers(3))]
    if idx < N_RANDOM:
        group = "random"
        n = int(rng.integers(1, 71))
        T = int(rng.integers(1, 31))
        F = int(rng.integers(1, 13))
        Hh = int(rng.choice(HIDDEN, p=HIDDEN_P))
    else:                          # above sigcy.rnn's parallel threshold (2 threads really run)
        group = "par"
        n = int(rng.choice([64, 70, 97, 130, 200, 257, 300, 520, 600, 777]))
        Hh = int(rng.choice([64, 100, 128, 256]))
        F = int(rng.integers(1, 13))
        t_min = -(-RNN_PARALLEL_MIN // (n * Hh))
        T = int(rng.integers(t_min, t_min + 6))
        if n * T * Hh > 2_500_000:         # keep the runtime down
            T = max(t_min, 1)
    s_in = float(rng.choice([0.5, 1.0, 2.0]))
    s_rec = float(rng.choice([0.3, 0.9, 1.0, 1.5, 3.0]))
    use_h0 = bool(rng.integers(2))
    use_len = bool(rng.integers(2))
    bptt = None if rng.random() < 0.5 else int(rng.integers(1, 6))
    flush = bool(rng.random() < 0.85)
    dH_kind = ("dense", "last")[int(rng.integers(2))]
    X = rng.standard_normal((n, T, F))
    W_in, W_rec, b = _weights(rng, F, Hh, act, s_in, s_rec)
    h0 = rng.uniform(-1, 1, (n, Hh)) if use_h0 else None
    lengths = rng.integers(1, T + 1, size=n) if use_len else None
    dH = rng.standard_normal((n, T, Hh))
    if dH_kind == "last":
        dH[:, :-1] = 0
    spec = dict(group=group, dtype=dtype, activation=act, n_samples=n, n_timesteps=T,
                n_features=F, n_hidden=Hh, s_in=s_in, s_rec=s_rec, h0=use_h0,
                lengths=use_len, bptt_steps=bptt, flush_subnormals=flush, dH=dH_kind,
                elements=n * T * Hh)
    cast = (lambda a: None if a is None else a.astype(dtype))
    inputs = dict(X=cast(X), W_in=cast(W_in), W_rec=cast(W_rec), b=cast(b), h0=cast(h0),
                  lengths=lengths, dH=cast(dH))
    return spec, inputs


def edge_problems():
    """Hand-made problems: extremes, special values, other dtypes and layouts."""
    out = []

    def base(name, dtype, act, n, T, F, Hh, s_in=1.0, s_rec=1.0, seed=0, **kw):
        rng = np.random.default_rng([SEED, 2, seed])
        X = rng.standard_normal((n, T, F))
        W_in, W_rec, b = _weights(rng, F, Hh, act, s_in, s_rec)
        dH = rng.standard_normal((n, T, Hh))
        spec = dict(group="edge", name=name, dtype=dtype, activation=act, n_samples=n,
                    n_timesteps=T, n_features=F, n_hidden=Hh, s_in=s_in, s_rec=s_rec,
                    h0=False, lengths=False, bptt_steps=None, flush_subnormals=True,
                    dH="dense", elements=n * T * Hh)
        spec.update({k: v for k, v in kw.items() if not isinstance(v, np.ndarray)})
        inputs = dict(X=X.astype(dtype), W_in=W_in.astype(dtype), W_rec=W_rec.astype(dtype),
                      b=b.astype(dtype), h0=None, lengths=None, dH=dH.astype(dtype))
        return spec, inputs, rng

    # 0: the smallest problem
    s, i, _ = base("tiny", "float64", "sigmoid", 1, 1, 1, 1, seed=0)
    out.append((s, i))
    # 1, 2: NaN / inf in X
    s, i, _ = base("nan_in_X", "float64", "sigmoid", 9, 6, 3, 17, seed=1)
    i["X"][2, 3, 1] = np.nan
    i["X"][5, 0, 0] = np.nan
    out.append((s, i))
    s, i, _ = base("inf_in_X", "float32", "tanh", 9, 6, 3, 17, seed=2)
    i["X"][1, 2, 0] = np.inf
    i["X"][4, 4, 2] = -np.inf
    out.append((s, i))
    # 3-6: vanishing gradients into the subnormal range, flushed or strict IEEE
    for k, (dtype, flush, scale, T) in enumerate([("float32", True, 0.05, 30),
                                                  ("float32", False, 0.05, 30),
                                                  ("float64", True, 1e-9, 40),
                                                  ("float64", False, 1e-9, 40)]):
        s, i, rng = base(f"vanishing_{dtype}_flush{flush}", dtype, "sigmoid", 33, T, 4, 24,
                         s_rec=scale, seed=3 + k, flush_subnormals=flush, dH="last")
        i["W_rec"] = (rng.standard_normal((24, 24)) * scale).astype(dtype)
        i["dH"][:, :-1] = 0
        out.append((s, i))
    # 7: saturated sigmoid (huge weights)
    s, i, _ = base("saturated", "float64", "sigmoid", 20, 12, 5, 32, s_in=50.0, s_rec=50.0,
                   seed=7)
    out.append((s, i))
    # 8: relu growing to overflow in float32
    s, i, _ = base("relu_overflow", "float32", "relu", 16, 30, 6, 64, s_in=3.0, s_rec=30.0,
                   seed=8)
    out.append((s, i))
    # 9: every length 1, bptt_steps 1
    s, i, _ = base("lengths_1_bptt_1", "float32", "tanh", 21, 9, 2, 8, seed=9,
                   lengths=True, bptt_steps=1)
    i["lengths"] = np.ones(21, dtype=np.int64)
    out.append((s, i))
    # 10: h0 + lengths + bptt_steps=2
    s, i, rng = base("h0_lengths_bptt2", "float64", "tanh", 31, 11, 3, 17, seed=10,
                     h0=True, lengths=True, bptt_steps=2)
    i["h0"] = rng.uniform(-1, 1, (31, 17))
    i["lengths"] = rng.integers(1, 12, size=31)
    out.append((s, i))
    # 11: integer X -> float64 computation
    s, i, rng = base("int_X", "float64", "sigmoid", 13, 7, 4, 8, seed=11, variant="int_X")
    i["X"] = rng.integers(-3, 4, size=(13, 7, 4)).astype(np.int64)
    out.append((s, i))
    # 12: float32 X with float64 weights, h0 and dH (cast to float32)
    s, i, rng = base("f32_X_f64_weights", "float32", "tanh", 13, 7, 4, 17, seed=12,
                     h0=True, variant="mixed")
    for k in ("W_in", "W_rec", "b", "dH"):
        i[k] = i[k].astype(np.float64) + 1e-9
    i["h0"] = rng.uniform(-1, 1, (13, 17))
    out.append((s, i))
    # 13: non-contiguous inputs (Fortran X, transposed W_rec view, strided h0)
    s, i, rng = base("noncontiguous", "float64", "relu", 19, 10, 5, 32, seed=13,
                     h0=True, variant="noncontig")
    i["X"] = np.asfortranarray(i["X"])
    i["W_rec"] = np.ascontiguousarray(i["W_rec"].T).T
    i["h0"] = rng.uniform(-1, 1, (19, 64))[:, ::2]
    out.append((s, i))
    # 14: out= given
    s, i, _ = base("out_given", "float32", "sigmoid", 24, 8, 3, 17, seed=14, variant="out")
    out.append((s, i))
    # 15: the largest random-group shape
    s, i, _ = base("largest", "float32", "tanh", 70, 30, 12, 512, seed=15, s_rec=0.9)
    out.append((s, i))
    # 16: all-zero and negative-zero X
    s, i, _ = base("zero_X", "float64", "sigmoid", 8, 5, 3, 8, seed=16)
    i["X"][...] = 0.0
    i["X"][::2] = -0.0
    out.append((s, i))
    # 17, 18: subnormal X and weights, flushed or not
    for k, flush in enumerate((True, False)):
        s, i, _ = base(f"subnormal_inputs_flush{flush}", "float32", "tanh", 11, 6, 3, 17,
                       seed=17 + k, flush_subnormals=flush)
        tiny = np.finfo(np.float32).smallest_subnormal
        i["X"] = (i["X"] * 1000 * tiny).astype(np.float32)
        i["W_in"][0] = np.float32(3 * tiny)
        out.append((s, i))
    # 19: bptt_steps larger than T, lengths, h0, float32 relu
    s, i, rng = base("bptt_gt_T", "float32", "relu", 17, 5, 2, 100, seed=19, h0=True,
                     lengths=True, bptt_steps=9)
    i["h0"] = rng.uniform(-1, 1, (17, 100)).astype(np.float32)
    i["lengths"] = rng.integers(1, 6, size=17)
    out.append((s, i))
    return out


def run_rnn(store, controller, meta, log):
    from sigcy.rnn import elman_backward, elman_forward

    problems = [random_problem(i) for i in range(N_RANDOM + N_PAR)]
    problems += edge_problems()
    specs = []
    for idx, (spec, inp) in enumerate(problems):
        store.add(f"p{idx}_inputs_sha256",
                  sha256(*(inp[k] for k in ("X", "W_in", "W_rec", "b", "h0", "lengths", "dH"))))
        specs.append(spec)
    meta["rnn_problems"] = specs
    t1_vs_t2 = []
    for n_thr in THREADS:
        t0 = time.perf_counter()
        with limit_threads(controller, n_thr):
            for idx, (spec, inp) in enumerate(problems):
                kw = dict(activation=spec["activation"], lengths=inp["lengths"],
                          flush_subnormals=spec["flush_subnormals"])
                if spec.get("variant") == "out":
                    H = np.full((spec["n_samples"], spec["n_timesteps"], spec["n_hidden"]),
                                np.nan, dtype=spec["dtype"])
                    ret = elman_forward(inp["X"], inp["W_in"], inp["W_rec"], inp["b"],
                                        inp["h0"], out=H, **kw)
                    assert ret is H
                else:
                    H = elman_forward(inp["X"], inp["W_in"], inp["W_rec"], inp["b"],
                                      inp["h0"], **kw)
                store.add(f"p{idx}_t{n_thr}_H", H)
                grads = elman_backward(inp["X"], H, inp["dH"], inp["W_in"], inp["W_rec"],
                                       inp["h0"], bptt_steps=spec["bptt_steps"], **kw)
                for name, g in zip(("dX", "dW_in", "dW_rec", "db", "dh0"), grads):
                    if g is not None:
                        store.add(f"p{idx}_t{n_thr}_{name}", g)
                del H, grads
        log(f"  rnn: {len(problems)} problems with {n_thr} thread(s): "
            f"{time.perf_counter() - t0:.1f} s")
    for idx in range(len(problems)):
        for name in ("H", "dX", "dW_in", "dW_rec", "db", "dh0"):
            k1, k2 = f"p{idx}_t1_{name}", f"p{idx}_t2_{name}"
            if k1 in store.arrays and store.arrays[k1].tobytes() != store.arrays[k2].tobytes():
                t1_vs_t2.append(k1)
    return t1_vs_t2


# ----------------------------------------------------------------------------- 2. estimators
EST_ATTRS = ("classes_", "n_features_in_", "loss_", "loss_curve_", "best_loss_",
             "validation_scores_", "best_validation_score_", "grad_norm_curve_", "n_iter_",
             "t_", "n_layers_", "n_outputs_", "coefs_", "recurrent_coefs_", "intercepts_")


def _store_value(store, key, value):
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], np.ndarray):
        store.add(f"{key}_len", len(value))
        for j, v in enumerate(value):
            store.add(f"{key}{j}", v)
    else:
        store.add(key, value)


def estimator_cases():
    """(name, kind, params, data, extra) for every estimator fit."""
    from sigcy.datasets import load_digits_sequences, make_adding_problem, make_temporal_order

    X, y = load_digits_sequences(return_X_y=True)             # (1797, 8, 8) float64
    perm = np.random.RandomState(0).permutation(len(y))
    tr, te = perm[:1347], perm[1347:1547]
    d64 = (X[tr], y[tr], X[te], y[te])
    d32 = tuple(a.astype(np.float32) if a.dtype.kind == "f" else a for a in d64)
    dbin = (X[tr].astype(np.float32), (y[tr] >= 5).astype(int), X[te].astype(np.float32),
            (y[te] >= 5).astype(int))
    # ragged: each digit image cut to 4..8 rows (a fixed RandomState)
    rl = np.random.RandomState(1).randint(4, 9, size=len(y))
    rag_tr = [X[i, : rl[i]] for i in tr[:900]]
    rag_te = [X[i, : rl[i]] for i in te]
    drag = (rag_tr, y[tr[:900]], rag_te, y[te])
    sw = np.random.RandomState(2).uniform(0, 2, size=1347)
    sw[::17] = 0.0

    Xa, ya = make_adding_problem(n_samples=700, n_timesteps=30, random_state=0)
    a64 = (Xa[:600], ya[:600], Xa[600:], ya[600:])
    a32 = tuple(a.astype(np.float32) for a in a64)
    # two targets, 2-D (univariate) input
    Y2 = np.stack([ya, Xa[:, :, 0].mean(axis=1)], axis=1)
    a2d = (Xa[:600, :, 0], Y2[:600], Xa[600:, :, 0], Y2[600:])
    lens_a = np.random.RandomState(3).randint(16, 31, size=700)
    arag = ([Xa[i, : lens_a[i]] for i in range(600)], ya[:600],
            [Xa[i, : lens_a[i]] for i in range(600, 700)], ya[600:])
    swa = np.random.RandomState(4).uniform(0.1, 3, size=600)
    Xt, yt = make_temporal_order(n_samples=500, n_timesteps=20, random_state=0)
    t64 = (Xt[:400], yt[:400], Xt[400:], yt[400:])

    C, R = "classifier", "regressor"
    base = dict(hidden_layer_sizes=(16,), max_iter=15, random_state=0)
    cases = [
        ("c_adam_f64", C, dict(base), d64, {}),
        ("c_adam_f32", C, dict(base), d32, {}),
        ("c_sgd_f64", C, dict(base, solver="sgd"), d64, {}),
        ("c_sgd_invscaling_f32", C, dict(base, solver="sgd", learning_rate="invscaling",
                                         learning_rate_init=0.05), d32, {}),
        ("c_sgd_adaptive_nonesterov_f64", C, dict(base, solver="sgd", learning_rate="adaptive",
                                                  nesterovs_momentum=False, n_iter_no_change=2,
                                                  tol=0.5), d64, {}),
        ("c_lbfgs_h32_f64", C, dict(base, solver="lbfgs", hidden_layer_sizes=(32,)), d64, {}),
        ("c_lbfgs_f32", C, dict(base, solver="lbfgs"), d32, {}),
        ("c_stacked_tanh_adam_f64", C, dict(base, hidden_layer_sizes=(16, 8),
                                            activation="tanh"), d64, {}),
        ("c_stacked_relu_sgd_f32", C, dict(base, hidden_layer_sizes=(16, 8), activation="relu",
                                           solver="sgd"), d32, {}),
        ("c_stacked_lbfgs_f32", C, dict(base, hidden_layer_sizes=(16, 8), solver="lbfgs",
                                        max_iter=10), d32, {}),
        ("c_relu_adam_f32", C, dict(base, activation="relu"), d32, {}),
        ("c_sample_weight_adam_f64", C, dict(base), d64, {"sample_weight": sw}),
        ("c_sample_weight_lbfgs_f32", C, dict(base, solver="lbfgs", max_iter=10), d32,
         {"sample_weight": sw}),
        ("c_ragged_adam_f64", C, dict(base), drag, {}),
        ("c_early_stopping_adam_f64", C, dict(base, early_stopping=True, max_iter=20,
                                              n_iter_no_change=3), d64, {}),
        ("c_early_stopping_sgd_f32", C, dict(base, solver="sgd", early_stopping=True,
                                             validation_fraction=0.2), d32, {}),
        ("c_partial_fit_sgd_f64", C, dict(base, solver="sgd"), d64, {"partial_fit": 3}),
        ("c_partial_fit_adam_f32", C, dict(base), d32, {"partial_fit": 3}),
        ("c_clip_bptt_adam_f64", C, dict(base, clip_norm=0.5, bptt_steps=3), d64, {}),
        ("c_noclip_sgd_f32", C, dict(base, solver="sgd", clip_norm=None, bptt_steps=5,
                                     batch_size=64, learning_rate_init=0.02), d32, {}),
        ("c_binary_adam_f32", C, dict(base), dbin, {}),
        ("c_binary_lbfgs_f64", C, dict(base, solver="lbfgs"),
         tuple(a.astype(np.float64) if a.dtype.kind == "f" else a for a in dbin), {}),
        ("c_big_batch_parallel_f32", C, dict(base, hidden_layer_sizes=(64,), batch_size=600,
                                             max_iter=5), d32, {}),
        ("c_warm_start_adam_f64", C, dict(base, max_iter=6, warm_start=True), d64,
         {"refit": 2}),
        ("c_temporal_order_parallel_f64", C, dict(base, hidden_layer_sizes=(48,),
                                                  activation="tanh", batch_size=300,
                                                  max_iter=8), t64, {}),
        ("r_adam_f64", R, dict(base), a64, {}),
        ("r_adam_parallel_f32", R, dict(base, hidden_layer_sizes=(32,), batch_size=300), a32, {}),
        ("r_sgd_f32", R, dict(base, solver="sgd", learning_rate_init=0.01), a32, {}),
        ("r_lbfgs_h32_f64", R, dict(base, solver="lbfgs", hidden_layer_sizes=(32,)), a64, {}),
        ("r_lbfgs_f32", R, dict(base, solver="lbfgs", activation="tanh"), a32, {}),
        ("r_stacked_tanh_sgd_f64", R, dict(base, hidden_layer_sizes=(16, 8), activation="tanh",
                                           solver="sgd", learning_rate_init=0.01), a64, {}),
        ("r_multioutput_2d_adam_f64", R, dict(base), a2d, {}),
        ("r_ragged_clip_bptt_adam_f64", R, dict(base, clip_norm=1.0, bptt_steps=20), arag, {}),
        ("r_early_stopping_adam_f32", R, dict(base, early_stopping=True, n_iter_no_change=2,
                                              max_iter=20), a32, {}),
        ("r_partial_fit_adam_f64", R, dict(base), a64, {"partial_fit": 3}),
        ("r_sample_weight_lbfgs_f64", R, dict(base, solver="lbfgs"), a64,
         {"sample_weight": swa}),
        ("r_sample_weight_sgd_relu_f32", R, dict(base, solver="sgd", activation="relu",
                                                 learning_rate_init=0.01), a32,
         {"sample_weight": swa}),
    ]
    return cases


def _data_digest(data, extra):
    arrs = []
    for part in data:
        if isinstance(part, list):
            arrs.extend(part)
        else:
            arrs.append(part)
    if "sample_weight" in extra:
        arrs.append(extra["sample_weight"])
    return sha256(*arrs)


def run_estimators(store, controller, meta, log):
    import sigcy
    from sigcy import RNNClassifier, RNNRegressor, gradient_flow

    cases = estimator_cases()
    meta["estimator_cases"] = []
    for name, kind, params, data, extra in cases:
        store.add(f"e_{name}_inputs_sha256", _data_digest(data, extra))
        meta["estimator_cases"].append(dict(name=name, kind=kind, params=repr(params),
                                            extra={k: (v if isinstance(v, int) else "array")
                                                   for k, v in extra.items()}))
    mism = []
    for n_thr in THREADS:
        t0 = time.perf_counter()
        with limit_threads(controller, n_thr):
            for name, kind, params, data, extra in cases:
                Xtr, ytr, Xte, yte = data
                cls = RNNClassifier if kind == "classifier" else RNNRegressor
                est = cls(**params)
                p = f"e_{name}_t{n_thr}"
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if "partial_fit" in extra:
                        kw = {"classes": np.unique(ytr)} if kind == "classifier" else {}
                        for k in range(extra["partial_fit"]):
                            est.partial_fit(Xtr, ytr, **kw)
                            store.add(f"{p}_pf{k}_loss_curve_", est.loss_curve_)
                    else:
                        for k in range(extra.get("refit", 1)):
                            est.fit(Xtr, ytr, sample_weight=extra.get("sample_weight"))
                            if extra.get("refit", 1) > 1:
                                store.add(f"{p}_fit{k}_loss_curve_", est.loss_curve_)
                for attr in EST_ATTRS:
                    if attr == "classes_" and kind != "classifier":
                        continue
                    _store_value(store, f"{p}_{attr}", getattr(est, attr, None))
                store.add(f"{p}_predict", est.predict(Xte))
                if kind == "classifier":
                    store.add(f"{p}_predict_proba", est.predict_proba(Xte))
                    store.add(f"{p}_predict_log_proba", est.predict_log_proba(Xte))
                store.add(f"{p}_gradient_flow", gradient_flow(est, Xte, yte))
                n_rec = len(est.recurrent_coefs_)
                for layer in range(n_rec - 1):
                    store.add(f"{p}_gradient_flow_layer{layer}",
                              gradient_flow(est, Xte, yte, layer=layer))
                # the whole training set: large enough for the parallel path in some fits
                store.add(f"{p}_predict_train", est.predict(Xtr))
                store.add(f"{p}_gradient_flow_train", gradient_flow(est, Xtr, ytr))
        log(f"  estimators: {len(cases)} fits with {n_thr} thread(s): "
            f"{time.perf_counter() - t0:.1f} s")
    for k in store.arrays:
        if k.startswith("e_") and "_t1_" in k:
            k2 = k.replace("_t1_", "_t2_", 1)
            if store.arrays[k].tobytes() != store.arrays[k2].tobytes():
                mism.append(k)
    return mism


# ----------------------------------------------------------------------------- 3. ufuncs
def ufunc_inputs(dtype):
    dtype = np.dtype(dtype)
    rng = np.random.default_rng([SEED, 3, dtype.itemsize])
    fi = np.finfo(dtype)
    tiny_exp = -45 if dtype == np.float32 else -323
    parts = [
        rng.uniform(-800, 800, 40000),
        rng.choice([-1.0, 1.0], 30000) * 10 ** rng.uniform(tiny_exp, np.log10(800), 30000),
        rng.uniform(-110, -80, 4000),      # float32: sigma(x) subnormal / 0
        rng.uniform(-750, -700, 4000),     # float64: sigma(x) subnormal / 0
        rng.uniform(-45, 45, 8000),
        rng.uniform(-1, 1, 4000),
        np.arange(-800, 801, dtype=np.float64),
    ]
    x = np.concatenate(parts).astype(dtype)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0, 0.5, -0.5,
                fi.smallest_subnormal, -fi.smallest_subnormal, fi.tiny, -fi.tiny,
                fi.tiny - fi.smallest_subnormal, -(fi.tiny - fi.smallest_subnormal),
                fi.max, -fi.max, fi.eps, -fi.eps]
    sp = np.array(specials, dtype=dtype)
    # a quiet NaN with a payload, and neighbours of interesting points
    nan_payload = np.array([0x7FC00001 if dtype == np.float32 else 0x7FF8000000000001],
                           dtype=np.uint32 if dtype == np.float32 else np.uint64).view(dtype)
    points = np.array([-745.13, -708.4, -103.97, -87.4, -36.7, -16.6, -1e-8, 1e-8, 16.6,
                       18.0, 36.7, 37.0, 40.0, 88.7, 709.78, 745.13], dtype=dtype)
    nb = []
    inf = np.array(np.inf, dtype)
    for p in points:
        q = p
        for _ in range(4):
            q = np.nextafter(q, inf)
            nb.append(q)
        q = p
        for _ in range(4):
            q = np.nextafter(q, -inf)
            nb.append(q)
        nb.append(p)
    sub = (rng.uniform(-1, 1, 500) * fi.tiny).astype(dtype)      # subnormal inputs
    x = np.concatenate([x, sp, nan_payload, np.array(nb, dtype), sub])
    return np.ascontiguousarray(x)


def run_ufuncs(store, controller, meta, log):
    import sigcy

    funcs = {"sigmoid": sigcy.sigmoid, "sigmoid_derivative": sigcy.sigmoid_derivative,
             "log_sigmoid": sigcy.log_sigmoid}
    xs = {dt: ufunc_inputs(dt) for dt in ("float32", "float64")}
    meta["ufunc_n"] = {dt: int(x.size) for dt, x in xs.items()}
    for dt, x in xs.items():
        store.add(f"u_{dt}_inputs_sha256", sha256(x))
    mism = []
    for n_thr in THREADS:
        t0 = time.perf_counter()
        with limit_threads(controller, n_thr):
            for dt, x in xs.items():
                for fname, f in funcs.items():
                    p = f"u_{fname}_{dt}_t{n_thr}"
                    with np.errstate(all="ignore"):
                        store.add(f"{p}_main", f(x))
                        store.add(f"{p}_strided3", f(x[1::3]))
                        store.add(f"{p}_reversed", f(x[::-1]))
                        out = np.full(x.size - 1, 7, dtype=x.dtype)
                        f(x[1:], out=out)                     # unaligned input
                        store.add(f"{p}_unaligned_out", out)
                        small = [f(x[(n * 7919) % 90000 + n % 3:][:n]) for n in range(1, 80)]
                        store.add(f"{p}_small_sizes", np.concatenate(small))
                        store.add(f"{p}_scalars", np.array([f(v) for v in x[-700:]], dtype=dt))
                        X2 = x[:60000].reshape(300, 200)
                        store.add(f"{p}_2d_transposed", f(X2.T))
        log(f"  ufuncs with {n_thr} thread(s): {time.perf_counter() - t0:.1f} s")
    for k in store.arrays:
        if k.startswith("u_") and "_t1_" in k:
            if store.arrays[k].tobytes() != store.arrays[k.replace("_t1_", "_t2_", 1)].tobytes():
                mism.append(k)
    return mism


# ----------------------------------------------------------------------------- capture
def capture(outdir, sections):
    if os.path.isfile(os.path.join(os.getcwd(), "sigcy", "__init__.py")):
        sys.exit("refcheck: run from outside a sigcy source tree (it would shadow the "
                 "installed build)")
    import scipy
    import sklearn
    import threadpoolctl
    from threadpoolctl import ThreadpoolController

    import sigcy

    info = sigcy.build_info()
    level = info["dispatch"]
    env = os.environ.get("SIGCY_DISPATCH")
    if env in LEVELS and env != level:
        sys.exit(f"refcheck: SIGCY_DISPATCH={env!r} but sigcy.build_info() reports dispatch "
                 f"{level!r}; refusing to write {level}.npz")
    if os.environ.get("OMP_NUM_THREADS") is not None:
        print(f"refcheck: warning: OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']!r} is set",
              file=sys.stderr)
    os.makedirs(outdir, exist_ok=True)
    controller = ThreadpoolController()

    def log(msg):
        print(f"[{level}] {msg}", flush=True)

    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       "")
    except OSError:
        pass
    meta = dict(format=FORMAT, level=level, SIGCY_DISPATCH=env, build_info=info,
                OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS"), threads=list(THREADS),
                sigcy_file=sigcy.__file__, python=sys.version, platform=platform.platform(),
                cpu=cpu, cpu_count=os.cpu_count(),
                versions=dict(sigcy=sigcy.__version__, numpy=np.__version__,
                              scipy=scipy.__version__, sklearn=sklearn.__version__,
                              threadpoolctl=threadpoolctl.__version__),
                threadpools=[{k: d.get(k) for k in ("user_api", "internal_api", "prefix",
                                                    "filepath", "version", "architecture")}
                             for d in controller.info()],
                sections=list(sections),
                refcheck_sha256=hashlib.sha256(open(os.path.abspath(__file__), "rb").read())
                .hexdigest())
    store = Store()
    t_all = time.perf_counter()
    timings = {}
    thread_dependent = {}
    for sec, fn in (("rnn", run_rnn), ("estimators", run_estimators), ("ufuncs", run_ufuncs)):
        if sec not in sections:
            continue
        t0 = time.perf_counter()
        thread_dependent[sec] = fn(store, controller, meta, log)
        timings[sec] = round(time.perf_counter() - t0, 2)
    meta["timings_s"] = timings
    meta["capture_s"] = round(time.perf_counter() - t_all, 2)
    # Informational: arrays whose 1-thread and 2-thread results differ (sigcy documents
    # that they do not); the comparison itself is per thread count.
    meta["t1_vs_t2_differences"] = thread_dependent
    meta["n_arrays"] = len(store.arrays)
    path = os.path.join(outdir, f"{level}.npz")
    tmp = path + ".tmp.npz"
    np.savez(tmp, **{META_KEY: np.array(json.dumps(meta))}, **store.arrays)
    os.replace(tmp, path)
    n_td = sum(len(v) for v in thread_dependent.values())
    log(f"wrote {path}: {len(store.arrays)} arrays, {os.path.getsize(path) / 1e6:.1f} MB, "
        f"capture {meta['capture_s']:.1f} s ({timings}); 1-vs-2-thread differences: {n_td}")
    if n_td:
        for sec, keys in thread_dependent.items():
            for k in keys[:20]:
                log(f"  thread-dependent: {k}")


# ----------------------------------------------------------------------------- compare
def _describe_diff(a, b):
    if a.dtype != b.dtype or a.shape != b.shape:
        return f"dtype/shape {a.dtype}{a.shape} -> {b.dtype}{b.shape}"
    if a.dtype.kind == "f":
        ia = a.view(np.int32 if a.dtype.itemsize == 4 else np.int64).ravel()
        ib = b.view(ia.dtype).ravel()
        diff = ia != ib
        n = int(diff.sum())
        fa, fb = a.ravel()[diff], b.ravel()[diff]
        both_nan = np.isnan(fa) & np.isnan(fb)
        with np.errstate(all="ignore"):
            ad = np.abs(fa.astype(np.float64) - fb.astype(np.float64))
            ad = ad[np.isfinite(ad)]
            # ULP distance on the ordered-integer line (same sign only)
            ua, ub = ia[diff].astype(np.int64), ib[diff].astype(np.int64)
            same_sign = (ua >= 0) == (ub >= 0)
            ulp = np.abs(ua - ub)[same_sign & ~np.isnan(fa) & ~np.isnan(fb)]
        first = int(np.flatnonzero(diff)[0])
        return (f"{n}/{a.size} elements differ (first at flat index {first}: "
                f"{a.ravel()[first]!r} -> {b.ravel()[first]!r}); max |diff| "
                f"{ad.max() if ad.size else float('nan'):.3g}, max ULP "
                f"{ulp.max() if ulp.size else 'n/a'}"
                + (f", {int(both_nan.sum())} NaN payload/sign differences" if both_nan.any()
                   else ""))
    if a.dtype.kind in "iub":
        diff = a.ravel() != b.ravel()
        first = int(np.flatnonzero(diff)[0])
        return (f"{int(diff.sum())}/{a.size} elements differ (first at {first}: "
                f"{a.ravel()[first]!r} -> {b.ravel()[first]!r})")
    return f"{a!r} -> {b!r}"


def _problem_hint(key, meta):
    if key.startswith("p") and "_" in key:
        try:
            idx = int(key[1:key.index("_")])
            spec = meta.get("rnn_problems", [])[idx]
            return f"    problem p{idx}: {json.dumps(spec, sort_keys=True)}"
        except (ValueError, IndexError):
            return None
    return None


def compare_files(ref_path, new_path, out):
    """Compare two .npz captures; return (n_compared, n_problems)."""
    with np.load(ref_path, allow_pickle=False) as fr, np.load(new_path, allow_pickle=False) as fn:
        ref_meta = json.loads(str(fr[META_KEY])) if META_KEY in fr.files else {}
        new_meta = json.loads(str(fn[META_KEY])) if META_KEY in fn.files else {}
        problems = 0
        name = os.path.basename(ref_path)
        out(f"== {name}: ref {ref_path}  vs  new {new_path}")
        for side, m in (("ref", ref_meta), ("new", new_meta)):
            out(f"   {side}: dispatch={m.get('level')} SIGCY_DISPATCH={m.get('SIGCY_DISPATCH')} "
                f"OMP_NUM_THREADS={m.get('OMP_NUM_THREADS')} versions={m.get('versions')} "
                f"sigcy={m.get('sigcy_file')}")
            out(f"        cpu={m.get('cpu')!r} cpus={m.get('cpu_count')} "
                f"refcheck.py sha256={str(m.get('refcheck_sha256'))[:16]}")
        if ref_meta.get("level") != new_meta.get("level"):
            out(f"   MISMATCH: dispatch level {ref_meta.get('level')} vs {new_meta.get('level')}")
            problems += 1
        rv, nv = ref_meta.get("versions", {}), new_meta.get("versions", {})
        for pkg in ("numpy", "scipy", "sklearn", "threadpoolctl"):
            if rv.get(pkg) != nv.get(pkg):
                out(f"   WARNING: {pkg} {rv.get(pkg)} (ref) vs {nv.get(pkg)} (new): the "
                    f"estimators' output layer / L-BFGS / data generation use it; install "
                    f"the reference's versions to compare sigcy alone")
        if ref_meta.get("cpu") != new_meta.get("cpu"):
            out("   WARNING: captured on different CPUs (the kernels are chosen per CPU)")
        if ref_meta.get("refcheck_sha256") != new_meta.get("refcheck_sha256"):
            out("   WARNING: captured with different versions of refcheck.py (the problem set "
                "and the keys may differ)")
        ref_keys = [k for k in fr.files if k != META_KEY]
        new_keys = set(k for k in fn.files if k != META_KEY)
        n = 0
        mismatched = []
        for k in ref_keys:
            if k not in new_keys:
                out(f"   MISSING in new: {k}")
                problems += 1
                continue
            a, b = fr[k], fn[k]
            n += 1
            if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
                mismatched.append(k)
                problems += 1
                out(f"   MISMATCH {k}: {_describe_diff(a, b)}")
                if k.endswith("_inputs_sha256"):
                    out("    (the INPUTS differ: the generated data changed, not sigcy)")
                hint = _problem_hint(k, ref_meta)
                if hint:
                    out(hint)
        extra = sorted(new_keys - set(ref_keys))
        for k in extra:
            out(f"   extra in new (not compared): {k}")
        out(f"   {name}: {n} arrays compared, {len(mismatched)} mismatched, "
            f"{len(ref_keys) - n} missing, {len(extra)} extra")
    return n, problems


def compare(ref, new):
    out = print
    if os.path.isfile(ref):
        pairs = [(ref, new)]
    else:
        refs = sorted(f for f in os.listdir(ref) if f.endswith(".npz"))
        if not refs:
            sys.exit(f"refcheck: no .npz files in {ref}")
        pairs = [(os.path.join(ref, f), os.path.join(new, f)) for f in refs]
    total, problems = 0, 0
    for r, n in pairs:
        if not os.path.isfile(n):
            out(f"== MISSING file {n} (for {r})")
            problems += 1
            continue
        c, p = compare_files(r, n, out)
        total += c
        problems += p
    out(f"TOTAL: {total} arrays compared in {len(pairs)} file(s); "
        f"{problems} mismatch(es)/missing")
    out("RESULT: " + ("IDENTICAL" if problems == 0 else "DIFFERENT"))
    return 1 if problems else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("capture", help="write OUTDIR/<level>.npz")
    c.add_argument("outdir")
    c.add_argument("--sections", default="rnn,estimators,ufuncs",
                   help="comma-separated subset of rnn,estimators,ufuncs (default: all)")
    m = sub.add_parser("compare", help="compare REFDIR with NEWDIR (or two .npz files)")
    m.add_argument("refdir")
    m.add_argument("newdir")
    args = ap.parse_args(argv)
    if args.cmd == "capture":
        sections = [s.strip() for s in args.sections.split(",") if s.strip()]
        bad = set(sections) - {"rnn", "estimators", "ufuncs"}
        if bad:
            ap.error(f"unknown sections {sorted(bad)}")
        capture(args.outdir, sections)
        return 0
    return compare(args.refdir, args.newdir)


if __name__ == "__main__":
    sys.exit(main())
