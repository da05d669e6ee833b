"""Side-by-side speed of sigcy's kernels and their peers, in ns per element.

One run times, for each size and dtype, a memcpy (``np.copyto``, the memory-bandwidth
floor), ``scipy.special.expit`` and ``scipy.special.log_expit`` (single-threaded), the numpy
formula ``1 / (1 + exp(-x))`` (in place, single-threaded), ``torch.sigmoid`` with 1 and 2
threads (if torch imports), and ``sigcy.sigmoid``, ``sigcy.sigmoid_derivative`` and
``sigcy.log_sigmoid`` with 1 and 2 OpenMP threads, then prints a table of median ns per
element and a table of ratios.

Usage
-----
::

    python benchmarks/compare_kernels.py                  # the comparison tables
    python benchmarks/compare_kernels.py --threshold      # where 2 threads start to pay
    python benchmarks/compare_kernels.py --markdown       # markdown tables

Options
-------
--sizes N [N ...]
    Array sizes (default: 1e3 1e5 1e6 1e7).
--threads K [K ...]
    Thread counts for the threaded kernels (default: 1 2).
--min-runs R
    Samples per measurement, at least (default: 7).
--min-time T
    Seconds of samples per measurement, at least (default: 0.2).
--threshold
    Instead of the comparison, sweep ~12 log-spaced sizes from 1e3 to 1e6 and time
    ``sigcy.sigmoid`` (float64 and float32) with 1 and with 2 threads.
--markdown
    Print markdown tables.

Notes
-----
Method:

- Input: ``n`` values uniform in [-20, 20] from a fixed seed; every function writes into a
  preallocated ``out=`` array (one warm-up call first), so allocation and page faults are
  not timed.
- Interleaving: for one (size, dtype), every candidate takes one sample per round, in a
  shuffled order, until each has at least ``--min-runs`` samples and ``--min-time``
  seconds of them; drift (frequency scaling, other processes) thus hits all alike.  A
  sample is a batch of calls long enough (>= 0.5 ms) for the clock; the reported time is
  the median over samples divided by ``n``.
- Threads: before each sample the OpenMP thread limit is set with threadpoolctl (the limit
  sigcy's loops read) and with ``torch.set_num_threads`` (torch may share sigcy's libgomp).
  sigcy itself runs single-threaded below 16384 elements and gives each thread at least
  8192 (``PARALLEL_MIN_ELEMENTS`` and ``MIN_PER_THREAD`` in ``sigcy/_ufuncs.pyx``).

Two-thread figures only mean something on an otherwise idle machine with at least 2 free
cores: the load average is printed before and after the run.

Examples
--------
::

    python benchmarks/compare_kernels.py --sizes 1e4 1e6 --min-time 0.1
"""
import argparse
import os
import platform
import sys
import time

import numpy as np

PARALLEL_MIN_ELEMENTS = 16384  # sigcy/_ufuncs.pyx
MIN_PER_THREAD = 8192  # sigcy/_ufuncs.pyx
MIN_SAMPLE_SECONDS = 5e-4
SEED = 1234

try:
    import torch
except ImportError:  # torch is optional
    torch = None


# -- threads ----------------------------------------------------------------------------------

class Threads:
    """Set the number of OpenMP threads for sigcy (threadpoolctl) and torch."""

    def __init__(self):
        from threadpoolctl import ThreadpoolController

        # Created after sigcy and torch are imported, so it sees their OpenMP runtime(s).
        self.controller = ThreadpoolController()
        self._original = self.controller.select(user_api="openmp").info()
        self._torch_original = torch.get_num_threads() if torch is not None else None

    def set(self, n_threads):
        self.controller.limit(limits=n_threads, user_api="openmp")
        if torch is not None:
            torch.set_num_threads(n_threads)

    def restore(self):
        for info in self._original:
            self.controller.select(filepath=info["filepath"]).limit(limits=info["num_threads"])
        if torch is not None:
            torch.set_num_threads(self._torch_original)


def sigcy_threads_used(n, n_threads):
    """How many threads sigcy's loop uses for ``n`` elements under a limit of ``n_threads``."""
    if n < PARALLEL_MIN_ELEMENTS:
        return 1
    return max(1, min(n_threads, n // MIN_PER_THREAD))


# -- timing -----------------------------------------------------------------------------------

class Candidate:
    """One timed call: ``func()`` with ``n_threads`` threads."""

    def __init__(self, key, func, n_threads=1):
        self.key = key
        self.func = func
        self.n_threads = n_threads
        self.number = 1
        self.samples = []  # seconds per call

    def calibrate(self, threads):
        """Warm up, then pick the calls per sample so that a sample lasts >= 0.5 ms."""
        threads.set(self.n_threads)
        self.func()
        number = 1
        while True:
            t0 = time.perf_counter()
            for _ in range(number):
                self.func()
            elapsed = time.perf_counter() - t0
            if elapsed >= MIN_SAMPLE_SECONDS:
                break
            number *= 2 if elapsed == 0 else max(2, int(1.5 * MIN_SAMPLE_SECONDS / elapsed))
        self.number = number

    def sample(self, threads):
        threads.set(self.n_threads)
        func, number = self.func, self.number
        t0 = time.perf_counter()
        for _ in range(number):
            func()
        self.samples.append((time.perf_counter() - t0) / number)

    def done(self, min_runs, min_time):
        return (len(self.samples) >= min_runs
                and sum(self.samples) * self.number >= min_time)


def measure(candidates, threads, min_runs, min_time, rng, max_rounds=10_000):
    """Interleaved timing; returns {key: median seconds per call}."""
    for cand in candidates:
        cand.calibrate(threads)
    rounds = 0
    while rounds < max_rounds and not all(c.done(min_runs, min_time) for c in candidates):
        for i in rng.permutation(len(candidates)):
            candidates[i].sample(threads)
        rounds += 1
    return {c.key: float(np.median(c.samples)) for c in candidates}


def uniform_data(n, dtype, seed=SEED):
    """``n`` values uniform in [-20, 20] (fixed seed) and an output array like them."""
    x = np.random.default_rng(seed).uniform(-20.0, 20.0, size=n).astype(dtype)
    return x, np.empty_like(x)


def numpy_formula(x, out):
    """``1 / (1 + exp(-x))`` in place in ``out``."""
    np.negative(x, out=out)
    np.exp(out, out=out)
    np.add(out, 1, out=out)
    np.reciprocal(out, out=out)


def ufunc_call(func, x, out):
    return lambda: func(x, out=out)


def comparison_candidates(x, out, thread_counts):
    """The candidates of the comparison table for one input array."""
    import scipy.special

    import sigcy

    cands = [
        Candidate("memcpy", lambda: np.copyto(out, x)),
        Candidate("expit", ufunc_call(scipy.special.expit, x, out)),
        Candidate("log_expit", ufunc_call(scipy.special.log_expit, x, out)),
        Candidate("numpy", lambda: numpy_formula(x, out)),
    ]
    if torch is not None:
        xt, outt = torch.from_numpy(x), torch.from_numpy(out)
        for k in thread_counts:
            cands.append(Candidate(("torch", k), lambda: torch.sigmoid(xt, out=outt), k))
    for name in ("sigmoid", "sigmoid_derivative", "log_sigmoid"):
        for k in thread_counts:
            cands.append(Candidate((name, k), ufunc_call(getattr(sigcy, name), x, out), k))
    return cands


# -- output -----------------------------------------------------------------------------------

def render(header, rows, markdown, align=None):
    """A table as text: fixed-width columns, or markdown."""
    cells = [[str(c) for c in row] for row in rows]
    align = align or ["r"] * len(header)
    if markdown:
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join(("---:" if a == "r" else ":---") for a in align) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(header)]

    def line(row):
        return "  ".join(c.rjust(w) if a == "r" else c.ljust(w)
                         for c, w, a in zip(row, widths, align))

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in cells])


def fmt_ns(t):
    return "-" if t is None else f"{t:.3f}" if t < 1 else f"{t:.2f}" if t < 100 else f"{t:.1f}"


def fmt_ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.2f}"


def fmt_size(n):
    exponent = np.log10(n)
    return f"1e{int(round(exponent))}" if abs(exponent - round(exponent)) < 1e-9 else str(n)


def print_environment(args):
    import scipy

    import sigcy

    info = sigcy.build_info()
    print(f"sigcy {info['version']} (OpenMP {'on' if info['openmp'] else 'off'}, "
          f"kernels: {info['dispatch']}), numpy {np.__version__}, scipy {scipy.__version__}, "
          f"torch {torch.__version__ if torch is not None else 'not installed'}")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}; load average {load_average()}")
    print(f"median of >= {args.min_runs} samples and >= {args.min_time:g} s per measurement, "
          f"interleaved; input uniform in [-20, 20]")
    print()


def load_average():
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


# -- the two modes ----------------------------------------------------------------------------

def run_comparison(args, threads, rng):
    ks = args.threads
    k1 = ks[0]
    timed = []
    for n in args.sizes:
        for dtype in ("float64", "float32"):
            x, out = uniform_data(n, dtype)
            t = measure(comparison_candidates(x, out, ks), threads, args.min_runs,
                        args.min_time, rng)
            ns = {key: v / n * 1e9 for key, v in t.items()}
            timed.append((n, dtype, ns))
            print(f"  timed n={fmt_size(n)} {dtype}", file=sys.stderr)

    kernels = [("memcpy", "memcpy"), ("expit", "expit"), ("log_expit", "log_expit"),
               ("numpy", "numpy")]
    if torch is not None:
        kernels += [(("torch", k), f"torch {k}T") for k in ks]
    kernels += [((name, k), f"{short} {k}T")
                for name, short in [("sigmoid", "sig"), ("sigmoid_derivative", "deriv"),
                                    ("log_sigmoid", "logsig")]
                for k in ks]
    header = ["n", "dtype"] + [label for _, label in kernels]
    rows = [[fmt_size(n), dtype] + [fmt_ns(ns.get(key)) for key, _ in kernels]
            for n, dtype, ns in timed]
    print("Median ns per element (lower is better); kT = k OpenMP threads; "
          "memcpy, expit, log_expit, numpy are single-threaded")
    print()
    print(render(header, rows, args.markdown, ["r", "l"] + ["r"] * len(kernels)))
    print()

    ratio_cols = []
    if torch is not None:
        ratio_cols += [(f"torch/sig {k}T", ("torch", k), ("sigmoid", k)) for k in ks]
    ratio_cols += [
        (f"expit/sig {k1}T", "expit", ("sigmoid", k1)),
        (f"log_expit/logsig {k1}T", "log_expit", ("log_sigmoid", k1)),
    ]
    ratio_cols += [(f"sig {k1}T/{k}T", ("sigmoid", k1), ("sigmoid", k)) for k in ks[1:]]
    ratio_cols += [
        (f"deriv/sig {k1}T", ("sigmoid_derivative", k1), ("sigmoid", k1)),
        (f"logsig/sig {k1}T", ("log_sigmoid", k1), ("sigmoid", k1)),
    ]
    header = ["n", "dtype"] + [c[0] for c in ratio_cols]
    rows = [[fmt_size(n), dtype] + [fmt_ratio(ns.get(a), ns.get(b)) for _, a, b in ratio_cols]
            for n, dtype, ns in timed]
    print("Time ratios: torch/sig, expit/sig, log_expit/logsig = how many times faster sigcy "
          "is;")
    print(f"sig {k1}T/kT = speed-up from k threads; deriv/sig, logsig/sig = cost relative to "
          "sigcy.sigmoid")
    print()
    print(render(header, rows, args.markdown, ["r", "l"] + ["r"] * len(ratio_cols)))


def run_threshold(args, threads, rng):
    import sigcy

    ks = (1, 2)
    sizes = np.unique(np.round(np.logspace(3, 6, args.points)).astype(np.int64))
    header = ["n", "threads used"]
    dtypes = ("float64", "float32")
    for dtype in dtypes:
        header += [f"{dtype} 1T", f"{dtype} 2T", f"{dtype} 1T/2T"]
    rows = []
    for n in sizes:
        n = int(n)
        row = [str(n), str(sigcy_threads_used(n, 2))]
        for dtype in dtypes:
            x, out = uniform_data(n, dtype)
            cands = [Candidate(k, ufunc_call(sigcy.sigmoid, x, out), k) for k in ks]
            t = measure(cands, threads, args.min_runs, args.min_time, rng)
            row += [fmt_ns(t[1] / n * 1e9), fmt_ns(t[2] / n * 1e9), fmt_ratio(t[1], t[2])]
        rows.append(row)
        print(f"  timed n={n}", file=sys.stderr)
    print("sigcy.sigmoid, median ns per element with a limit of 1 and of 2 threads; "
          "1T/2T > 1: 2 threads pay")
    print(f"'threads used': what sigcy runs with under a limit of 2 (one thread below "
          f"{PARALLEL_MIN_ELEMENTS} elements,")
    print(f"at least {MIN_PER_THREAD} per thread); where it is 1, 1T/2T shows the "
          "measurement noise")
    print()
    print(render(header, rows, args.markdown))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e3, 1e5, 1e6, 1e7],
                        help="array sizes")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts for sigcy and torch (the first is the baseline)")
    parser.add_argument("--min-runs", type=int, default=7,
                        help="samples per measurement, at least")
    parser.add_argument("--min-time", type=float, default=0.2,
                        help="seconds of samples per measurement, at least")
    parser.add_argument("--threshold", action="store_true",
                        help="sweep sizes 1e3..1e6: sigcy.sigmoid with 1 vs 2 threads")
    parser.add_argument("--points", type=int, default=12,
                        help="number of log-spaced sizes for --threshold")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the shuffled order of samples within a round")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes]
    if any(s < 1 for s in args.sizes) or any(k < 1 for k in args.threads):
        parser.error("sizes and thread counts must be positive")
    if args.min_runs < 1 or args.points < 2:
        parser.error("--min-runs must be >= 1 and --points >= 2")
    return args


def main(argv=None):
    """Run the comparison (or the threshold sweep) and print the tables; return 0."""
    args = parse_args(argv)
    import sigcy  # noqa: F401  (loads sigcy's OpenMP runtime before threadpoolctl looks)

    print_environment(args)
    threads = Threads()
    rng = np.random.default_rng(args.seed)
    try:
        if args.threshold:
            run_threshold(args, threads, rng)
        else:
            run_comparison(args, threads, rng)
    finally:
        threads.restore()
    print()
    print(f"load average after the run: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
