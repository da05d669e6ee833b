"""One training step of a many-to-one RNN classifier: sigcy against torch.

    python benchmarks/compare_rnn.py [--repeat-seconds 1.0] [--hidden 32 128 512] [--block 1]

The step is forward + backward of an Elman layer on B=64 sequences of T=50 steps with F=8
features, followed by a C=4 softmax head in numpy (torch: in torch) and its gradients.
Compared, at 1 thread unless stated:

- sigcy sigmoid / sigcy tanh: sigcy.rnn.elman_forward + elman_backward with their defaults
  (flush_subnormals=True; OpenMP threads via threadpoolctl; sigcy's own GEMM kernels, no BLAS),
- torch fused tanh: torch.nn.RNN (its fused kernel; it has no sigmoid),
- torch loop sigmoid: a Python loop over time steps of torch ops, autograd backward.

Timings: median and minimum of repeated steps (the minimum estimates an idle machine), the
candidates of one row called in turn, round after round (in a shuffled order each round), so
that a change in the machine's load, and the caches left by the previous call, hit them
alike; for 1 thread also the median CPU time of the calling thread (time.thread_time), which
excludes the time the thread waited for a core.  --block K: turns of K calls, the first
untimed (warm caches, as in a training loop; see interleaved_times).
sigcy tanh, H and dH reused: the same step with elman_forward(..., out=H) and a dH buffer
kept between steps (zero but at the last step), as a training loop (and sigcy's estimators)
would write it.
GEMM bound: 6*T*B*H*(F+H) FLOP at the single-thread GEMM rate measured here (1024^3).  Peak
memory: see peak_memory_ratios.  Benchmark on an idle machine: other processes on a 2-core
machine make the numbers noisy, and 2 OpenMP threads much slower than 1 (a thread waits at
a barrier for a partner that was preempted).
"""
import argparse
import random
import statistics
import time
import tracemalloc

import numpy as np
from threadpoolctl import threadpool_limits

from sigcy.rnn import elman_backward, elman_forward

B, T, F, C = 64, 50, 8, 4


def make_data(n_hidden, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((B, T, F)).astype(dtype)
    y = rng.integers(0, C, B)
    W_in = (rng.standard_normal((F, n_hidden)) / np.sqrt(F)).astype(dtype)
    W_rec = (rng.standard_normal((n_hidden, n_hidden)) / np.sqrt(n_hidden)).astype(dtype)
    b = np.zeros(n_hidden, dtype)
    W_out = (rng.standard_normal((n_hidden, C)) / np.sqrt(n_hidden)).astype(dtype)
    b_out = np.zeros(C, dtype)
    return X, y, W_in, W_rec, b, W_out, b_out


def softmax_head(h_last, y, W_out, b_out):
    """Loss, dloss/dlogits, dW_out, db_out of the softmax head, in numpy."""
    logits = h_last @ W_out + b_out
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(B), y]))
    dlogits = p
    dlogits[np.arange(B), y] -= 1
    dlogits /= B
    return loss, dlogits, h_last.T @ dlogits, dlogits.sum(axis=0)


def sigcy_step(X, y, W_in, W_rec, b, W_out, b_out, activation):
    H = elman_forward(X, W_in, W_rec, b, activation=activation)
    loss, dlogits, dW_out, db_out = softmax_head(H[:, -1], y, W_out, b_out)
    dH = np.zeros_like(H)
    dH[:, -1] = dlogits @ W_out.T
    grads = elman_backward(X, H, dH, W_in, W_rec, activation=activation)
    return loss, grads, dW_out, db_out


def sigcy_step_reusing(X, y, W_in, W_rec, b, W_out, b_out, activation, H, dH):
    """sigcy_step with H and dH kept between steps, as a training loop keeps them (out=, and
    a dH that stays zero but at the last step): no fresh memory, so no page faults."""
    elman_forward(X, W_in, W_rec, b, activation=activation, out=H)
    loss, dlogits, dW_out, db_out = softmax_head(H[:, -1], y, W_out, b_out)
    np.matmul(dlogits, W_out.T, out=dH[:, -1])
    grads = elman_backward(X, H, dH, W_in, W_rec, activation=activation)
    return loss, grads, dW_out, db_out


def step_times(fn, min_seconds, min_repeats=5):
    """(median, min) seconds of fn() over repeated calls after one warm-up call."""
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 2000:
            break
    return statistics.median(times), min(times)


def interleaved_times(candidates, n_threads, min_seconds, min_rounds=5, block=1):
    """{name: (median, min, median thread CPU) seconds}, calling the candidates in turn.

    block > 1: each turn is block consecutive calls of the candidate, the first of which is
    not timed (it refills the caches the previous candidate emptied), so the timed calls
    run as in a training loop, which repeats one step; block=1 times every call, each right
    after another candidate's (cold caches: a sigcy step at n_hidden=128 then takes up to
    ~25 % longer, refetching its states from memory).

    sigcy's OpenMP and torch run n_threads threads (one setting for the whole run: switching
    between calls would time thread-pool changes and a spinning team).  One warm-up round.
    The order is shuffled each round (fixed seed), so that each candidate follows each
    other one about equally often: the call after torch's Python loop finds the caches full
    of torch's data (~0.1-0.4 ms more for a sigcy step at n_hidden=32), and the fixed order
    charged that to sigcy tanh, which always came right after it.
    """
    from threadpoolctl import threadpool_limits

    try:
        import torch
    except ImportError:
        torch = None
    wall = {name: [] for name in candidates}
    cpu = {name: [] for name in candidates}
    if torch is not None:
        torch.set_num_threads(n_threads)
    with threadpool_limits(n_threads, user_api="openmp"):
        shuffler = random.Random(0)
        start = time.perf_counter()
        rounds = 0
        while rounds <= min_rounds or time.perf_counter() - start < min_seconds:
            order = list(candidates)
            shuffler.shuffle(order)
            for name in order:
                fn = candidates[name]
                for k in range(block):
                    c0 = time.thread_time()
                    t0 = time.perf_counter()
                    fn()
                    t1 = time.perf_counter()
                    c1 = time.thread_time()
                    if rounds and (k or block == 1):
                        wall[name].append(t1 - t0)
                        cpu[name].append(c1 - c0)
            rounds += 1
            if rounds > 2000:
                break
    if torch is not None:
        torch.set_num_threads(1)
    return {name: (statistics.median(wall[name]), min(wall[name]), statistics.median(cpu[name]))
            for name in candidates}


def peak_memory_ratios(data, activation):
    """Peak bytes over (X + H): sigcy's calls alone, and the whole training step.

    sigcy's calls: H (held from the forward pass) plus the peak of what elman_backward
    allocates (dA, dX, scratch), with dH allocated beforehand by the caller.  Whole step:
    tracemalloc's peak over the step (H, dH, dA, dX, the head), the inputs excluded.  sigcy's
    scratch, which a thread keeps between calls, and its pool of released H / dX blocks are
    dropped first, so both include them (the pool's blocks are reported to tracemalloc).
    """
    from sigcy import rnn

    X, y, W_in, W_rec, b, W_out, b_out = data
    x_plus_h = X.nbytes + B * T * W_in.shape[1] * X.itemsize
    # sigcy keeps its scratch (dA, packed weights) per thread between calls: drop it, so that
    # the peaks below include it (older versions keep none)
    scratch = getattr(rnn, "_scratch_local", None)
    # released H / dX blocks (sigcy._core._pool; sigcy._rnn before the compiled core's split)
    pool = getattr(rnn, "_pool", None) or getattr(rnn, "_rnn", None)
    pool_clear = getattr(pool, "_pool_clear", lambda: None)

    def drop_scratch():
        if scratch is not None:
            vars(scratch).clear()
        pool_clear()

    drop_scratch()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    H = elman_forward(X, W_in, W_rec, b, activation=activation)
    fwd_peak = tracemalloc.get_traced_memory()[1] - base
    dH = np.zeros_like(H)
    dH[:, -1] = 1.0
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    elman_backward(X, H, dH, W_in, W_rec, activation=activation)
    bwd_peak = tracemalloc.get_traced_memory()[1] - before
    del H, dH
    drop_scratch()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    sigcy_step(*data, activation)
    step_peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    sigcy_calls = max(fwd_peak, B * T * W_in.shape[1] * X.itemsize + bwd_peak)
    return sigcy_calls / x_plus_h, step_peak / x_plus_h


def torch_steps(data, dtype):
    import torch

    X, y, W_in, W_rec, b, W_out, b_out = data
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    n_hidden = W_in.shape[1]
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(y)
    rnn = torch.nn.RNN(F, n_hidden, nonlinearity="tanh", batch_first=True, dtype=tdtype)
    head = torch.nn.Linear(n_hidden, C, dtype=tdtype)

    def fused():
        rnn.zero_grad(set_to_none=True)
        head.zero_grad(set_to_none=True)
        _, hn = rnn(Xt)
        loss = torch.nn.functional.cross_entropy(head(hn[0]), yt)
        loss.backward()

    Wi = torch.tensor(W_in, requires_grad=True)
    Wr = torch.tensor(W_rec, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)

    def loop_sigmoid():
        for p in (Wi, Wr, bt):
            p.grad = None
        head.zero_grad(set_to_none=True)
        proj = Xt @ Wi
        h = torch.zeros(B, n_hidden, dtype=tdtype)
        for t in range(T):
            h = torch.sigmoid(proj[:, t] + h @ Wr + bt)
        loss = torch.nn.functional.cross_entropy(head(h), yt)
        loss.backward()

    return fused, loop_sigmoid


def gemm_gflops(dtype, n=1024):
    from scipy.linalg import blas

    gemm = blas.sgemm if dtype == np.float32 else blas.dgemm
    a = np.asfortranarray(np.random.default_rng(0).standard_normal((n, n)).astype(dtype))
    with threadpool_limits(1, user_api="blas"):
        t = step_times(lambda: gemm(1.0, a, a), 0.5, 3)[1]
    return 2 * n**3 / t / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat-seconds", type=float, default=1.0)
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--block", type=int, default=1,
                        help="consecutive calls per candidate and turn, the first untimed "
                             "(default 1: every call timed, right after another candidate's)")
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
        have_torch = True
    except ImportError:
        have_torch = False

    print(f"B={B} T={T} F={F} C={C}; ms per training step (forward + backward + head), "
          "median / min of interleaved steps [median CPU time of the calling thread]; "
          f"T = threads; turns of {args.block} call(s)"
          + (", the first untimed" if args.block > 1 else ""))
    cols = ["dtype", "n_hidden", "sigcy tanh 1T", "torch fused tanh 1T",
            "fused / sigcy tanh 1T (median, min, CPU)", "sigcy tanh 2T", "torch fused tanh 2T",
            "fused / sigcy tanh 2T (median, min)", "sigcy sigmoid 1T", "sigcy sigmoid 2T",
            "torch loop sigmoid 1T", "GEMM bound 1T", "sigcy tanh 1T / bound (CPU)",
            "peak mem / (X+H): sigcy calls, whole step",
            "sigcy tanh 1T, H and dH reused", "fused / that (median, min)"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    ms = lambda s: f"{1e3 * s:.3g}"  # noqa: E731
    pair = lambda t: f"{ms(t[0])} / {ms(t[1])}"  # noqa: E731
    triple = lambda t: f"{ms(t[0])} / {ms(t[1])} [{ms(t[2])}]"  # noqa: E731
    ratio = lambda a, b: f"{a[0] / b[0]:.2f}x, {a[1] / b[1]:.2f}x"  # noqa: E731
    nan = (float("nan"),) * 3
    for dtype_name in args.dtypes:
        dtype = np.dtype(dtype_name).type
        gflops = gemm_gflops(dtype)
        for n_hidden in args.hidden:
            data = make_data(n_hidden, dtype)
            res = {}
            for n_threads in (1, 2):
                bufs = (np.empty((B, T, n_hidden), dtype), np.zeros((B, T, n_hidden), dtype))
                candidates = {"tanh": lambda: sigcy_step(*data, "tanh"),
                              "sigmoid": lambda: sigcy_step(*data, "sigmoid"),
                              "tanh_reuse": lambda: sigcy_step_reusing(*data, "tanh", *bufs)}
                if have_torch:
                    fused, loop = torch_steps(data, dtype)
                    candidates["fused"] = fused
                    if n_threads == 1:
                        candidates["loop"] = loop
                times = interleaved_times(candidates, n_threads, args.repeat_seconds,
                                          block=args.block)
                res.update({(name, n_threads): t for name, t in times.items()})
            for key in (("fused", 1), ("fused", 2), ("loop", 1)):
                res.setdefault(key, nan)
            mem_calls, mem_step = peak_memory_ratios(data, "sigmoid")
            bound = 6 * T * B * n_hidden * (F + n_hidden) / (gflops * 1e9)
            r1 = res["fused", 1][2] / res["tanh", 1][2]
            print(f"| {dtype_name} | {n_hidden} | {triple(res['tanh', 1])} | "
                  f"{triple(res['fused', 1])} | {ratio(res['fused', 1], res['tanh', 1])}, "
                  f"{r1:.2f}x | {pair(res['tanh', 2])} | {pair(res['fused', 2])} | "
                  f"{ratio(res['fused', 2], res['tanh', 2])} | {triple(res['sigmoid', 1])} | "
                  f"{pair(res['sigmoid', 2])} | {pair(res['loop', 1])} | "
                  f"{ms(bound)} ({gflops:.0f} GFLOP/s) | {res['tanh', 1][2] / bound:.2f}x | "
                  f"{mem_calls:.2f}, {mem_step:.2f} | {triple(res['tanh_reuse', 1])} | "
                  f"{ratio(res['fused', 1], res['tanh_reuse', 1])} |", flush=True)


if __name__ == "__main__":
    main()
