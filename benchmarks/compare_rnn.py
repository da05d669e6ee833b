"""One training step of a many-to-one RNN classifier: sigcy against torch.

    python benchmarks/compare_rnn.py [--repeat-seconds 1.0] [--hidden 32 128 512]

The step is forward + backward of an Elman layer on B=64 sequences of T=50 steps with F=8
features, followed by a C=4 softmax head in numpy (torch: in torch) and its gradients.
Compared, at 1 thread unless stated:

- sigcy sigmoid / sigcy tanh: sigcy.rnn.elman_forward + elman_backward (OpenMP threads via
  threadpoolctl; BLAS always runs single-threaded inside sigcy for reproducibility),
- torch fused tanh: torch.nn.RNN (its fused kernel; it has no sigmoid),
- torch loop sigmoid: a Python loop over time steps of torch ops, autograd backward.

Timings are medians of repeated steps.  Peak memory: tracemalloc's peak of the numpy
allocations made by sigcy's forward + backward (dH included, the inputs excluded), divided by
the bytes of X plus H.  Benchmark on an idle machine: other processes on the 2 cores make the
numbers noisy, especially with 2 threads.
"""
import argparse
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


def sigcy_step(X, y, W_in, W_rec, b, W_out, b_out, activation):
    H = elman_forward(X, W_in, W_rec, b, activation=activation)
    h_last = H[:, -1]
    logits = h_last @ W_out + b_out
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(B), y]))
    dlogits = p
    dlogits[np.arange(B), y] -= 1
    dlogits /= B
    dW_out = h_last.T @ dlogits
    db_out = dlogits.sum(axis=0)
    dH = np.zeros_like(H)
    dH[:, -1] = dlogits @ W_out.T
    grads = elman_backward(X, H, dH, W_in, W_rec, activation=activation)
    return loss, grads, dW_out, db_out


def median_time(fn, min_seconds, min_repeats=5):
    fn()   # warm up
    times = []
    start = time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 2000:
            break
    return statistics.median(times)


def sigcy_peak_memory_ratio(data, activation):
    X = data[0]
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    sigcy_step(*data, activation)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    n_hidden = data[2].shape[1]
    x_plus_h = X.nbytes + B * T * n_hidden * X.itemsize
    return peak / x_plus_h


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
        t = median_time(lambda: gemm(1.0, a, a), 0.5, 3)
    return 2 * n**3 / t / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat-seconds", type=float, default=1.0)
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
        have_torch = True
    except ImportError:
        have_torch = False

    print(f"B={B} T={T} F={F} C={C}; median ms per training step (forward + backward + head)")
    header = ("| dtype | n_hidden | sigcy sigmoid 1T | sigcy sigmoid 2T | sigcy tanh 1T "
              "| torch fused tanh 1T | torch loop sigmoid 1T | fused/sigcy-tanh "
              "| fused/sigcy-sigmoid | GEMM bound | peak mem / (X+H) |")
    print(header)
    print("|" + "---|" * header.count("|")[:-1] if False else "|" + "|".join(["---"] * 11) + "|")
    for dtype_name in args.dtypes:
        dtype = np.dtype(dtype_name).type
        gflops = gemm_gflops(dtype)
        for n_hidden in args.hidden:
            data = make_data(n_hidden, dtype)
            res = {}
            for act in ("sigmoid", "tanh"):
                for n_threads in (1, 2):
                    if act == "tanh" and n_threads == 2:
                        continue
                    with threadpool_limits(n_threads, user_api="openmp"):
                        res[act, n_threads] = median_time(
                            lambda: sigcy_step(*data, act), args.repeat_seconds)
            mem = sigcy_peak_memory_ratio(data, "sigmoid")
            if have_torch:
                fused, loop = torch_steps(data, dtype)
                with torch.no_grad():
                    pass
                t_fused = median_time(fused, args.repeat_seconds)
                t_loop = median_time(loop, args.repeat_seconds)
            else:
                t_fused = t_loop = float("nan")
            bound = 6 * T * B * n_hidden * (F + n_hidden) / (gflops * 1e9)
            ms = lambda s: f"{1e3 * s:.3g}"  # noqa: E731
            print(f"| {dtype_name} | {n_hidden} | {ms(res['sigmoid', 1])} | "
                  f"{ms(res['sigmoid', 2])} | {ms(res['tanh', 1])} | {ms(t_fused)} | "
                  f"{ms(t_loop)} | {t_fused / res['tanh', 1]:.2f}x | "
                  f"{t_fused / res['sigmoid', 1]:.2f}x | {ms(bound)} ({gflops:.0f} GFLOP/s) | "
                  f"{mem:.2f} |", flush=True)


if __name__ == "__main__":
    main()
