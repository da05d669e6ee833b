"""``sigcy`` / ``python -m sigcy``: sigcy's main job.

``sigcy`` (or ``sigcy fit``) fits an RNNClassifier on the digits as sequences (each 8x8
image read as 8 time steps of 8 pixels, scikit-learn's embedded copy of the UCI digits),
showing progress, and reports the test accuracy and the fit time; then it fits the same
network with the other activations and measures the gradient flow of each (the mean norm
of dloss/dh_t against the distance in time).  ``--plot FILE.png`` draws the learning
curves and the gradient flow; ``--data FILE`` (.npz with X and y, or .csv) replaces the
digits by the user's data.

``sigcy kernels`` demonstrates the kernels: their accuracy (in ULP, against an
extended-precision reference) and their speed (ns per element, median of repeated runs)
beside ``scipy.special.expit`` and the plain numpy formula, on a built-in sample.
"""
import argparse
import sys
import time

import numpy as np


def builtin_sample(dtype, n=200_000, seed=0):
    """The built-in sample: x spread over the whole domain where sigma is not 0 or 1.

    Half of the points are uniform in the range where sigma(x) is representable and
    nontrivial, a quarter lie in the subnormal tail, a quarter are log-uniform in |x| over
    [1e-10, 40], with both signs.
    """
    rng = np.random.default_rng(seed)
    if np.dtype(dtype) == np.float64:
        lo, sub_lo, sub_hi = -745.0, -745.13, -708.4
    else:
        lo, sub_lo, sub_hi = -103.0, -103.97, -87.4
    q = n // 4
    parts = [
        rng.uniform(lo, 40.0, size=2 * q),
        rng.uniform(sub_lo, sub_hi, size=q),
        rng.choice([-1.0, 1.0], size=n - 3 * q) * 10 ** rng.uniform(-10, np.log10(40.0), n - 3 * q),
    ]
    return np.concatenate(parts).astype(dtype)


def _reference_sigmoid(x):
    """sigma(x) in extended precision (np.longdouble; None where it is plain double)."""
    if np.finfo(np.longdouble).nmant <= np.finfo(np.float64).nmant:
        return None
    xl = x.astype(np.longdouble)
    with np.errstate(over="ignore", under="ignore"):
        return 1 / (1 + np.exp(-xl))


def ulp_errors(y, ref, dtype):
    """|y - ref| in units of the last place of ref (in `dtype`), as long doubles.

    ref is the exact value in extended precision (np.longdouble), not rounded to `dtype`
    first; the unit is the spacing of `dtype` at ref rounded to `dtype` (at least the
    smallest subnormal).  Also used by the tests (tests/test_rnn.py).
    """
    ref_d = ref.astype(dtype)
    spacing = np.spacing(np.abs(ref_d)).astype(np.longdouble)
    tiny = np.finfo(dtype).smallest_subnormal
    spacing = np.maximum(spacing, tiny)
    return np.abs(y.astype(np.longdouble) - ref) / spacing


def _time_ns_per_element(func, x, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func(x)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) / x.size * 1e9


def _fit(args):
    from sigcy._job import DataError, run

    try:
        return run(args)
    except DataError as exc:
        print(f"sigcy: error: {exc}", file=sys.stderr)
        return 2


def kernels(args):
    """Accuracy and speed of the kernels against scipy.special.expit."""
    import scipy.special

    import sigcy

    info = sigcy.build_info()
    print(f"sigcy {info['version']}: OpenMP {'on' if info['openmp'] else 'off'}, "
          f"{info['max_threads']} thread(s), kernels for {info['dispatch']}")
    print()
    print("Accuracy of sigmoid on the built-in sample (200,000 points over the whole domain)")
    print(f"{'dtype':8s} {'function':22s} {'max ULP':>9s} {'zeros where sigma > 0':>22s}")
    for dtype in (np.float64, np.float32):
        x = builtin_sample(dtype)
        ref = _reference_sigmoid(x)
        if ref is None:
            print("  (np.longdouble is plain double here: no reference, accuracy skipped)")
            break
        positive = ref.astype(dtype) > 0
        for name, func in [("sigcy.sigmoid", sigcy.sigmoid),
                           ("scipy.special.expit", scipy.special.expit)]:
            y = func(x)
            err = ulp_errors(y, ref, dtype)
            flushed = int(np.count_nonzero((y == 0) & positive))
            print(f"{np.dtype(dtype).name:8s} {name:22s} {float(err.max()):9.3f} {flushed:22d}")
    print()
    n = args.size
    print(f"Speed, ns per element (median of {args.repeat}), {n:.0e} elements, "
          f"{info['max_threads']} thread(s)")
    print(f"{'dtype':8s} {'function':30s} {'ns/elem':>8s} {'vs expit':>9s}")
    for dtype in (np.float64, np.float32):
        x = np.random.default_rng(1).uniform(-20, 20, n).astype(dtype)
        out = np.empty_like(x)
        candidates = [
            ("scipy.special.expit", lambda v: scipy.special.expit(v, out=out)),
            ("numpy 1/(1+exp(-x))", lambda v: np.divide(1, 1 + np.exp(-v), out=out)),
            ("sigcy.sigmoid", lambda v: sigcy.sigmoid(v, out=out)),
            ("sigcy.sigmoid_derivative", lambda v: sigcy.sigmoid_derivative(v, out=out)),
            ("sigcy.log_sigmoid", lambda v: sigcy.log_sigmoid(v, out=out)),
        ]
        base = None
        for name, func in candidates:
            func(x)  # warm up
            t = _time_ns_per_element(func, x, args.repeat)
            base = t if base is None else base
            print(f"{np.dtype(dtype).name:8s} {name:30s} {t:8.2f} {base / t:8.2f}x")
    return 0


def main(argv=None):
    """Run the main job (``fit``, the default) or the kernel demonstration (``kernels``).

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status, 0 on success.

    Examples
    --------
    >>> from sigcy.__main__ import main
    >>> main(["fit", "--max-iter", "3"])  # doctest: +SKIP
    0
    >>> main(["kernels", "--size", "20000", "--repeat", "1"])  # doctest: +SKIP
    0
    """
    from sigcy.rnn import ACTIVATIONS

    parser = argparse.ArgumentParser(prog="sigcy", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    p_fit = sub.add_parser("fit", help="fit RNNClassifier on the digits sequences (default)")
    p_fit.add_argument("--data", metavar="FILE",
                       help="a .npz (arrays X and y) or .csv (last column y) instead of the "
                            "digits")
    p_fit.add_argument("--n-features", type=int, default=None,
                       help=".csv only: features per time step (default 1)")
    p_fit.add_argument("--task", choices=["auto", "classify", "regress"], default="auto",
                       help="with --data: classification or regression (default: guessed "
                            "from y)")
    p_fit.add_argument("--hidden", type=int, nargs="+", default=[32],
                       help="hidden units per recurrent layer (default: 32)")
    p_fit.add_argument("--activation", default="sigmoid", choices=list(ACTIVATIONS))
    p_fit.add_argument("--max-iter", type=int, default=200, help="epochs (default: 200)")
    p_fit.add_argument("--random-state", type=int, default=0)
    p_fit.add_argument("--every", type=int, default=10,
                       help="print every N-th epoch (default: 10)")
    p_fit.add_argument("--no-compare", action="store_true",
                       help="skip fitting the other activations")
    p_fit.add_argument("--plot", metavar="FILE.png",
                       help="write learning curves and gradient flow (needs matplotlib)")
    p_fit.set_defaults(func=_fit)
    p_k = sub.add_parser("kernels", help="the kernels' accuracy and speed against expit")
    p_k.add_argument("--size", type=int, default=2_000_000,
                     help="elements per timing run (default: 2e6)")
    p_k.add_argument("--repeat", type=int, default=7, help="timing repeats (median)")
    p_k.set_defaults(func=kernels)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("fit", "kernels", "-h", "--help"):
        argv = ["fit"] + argv          # the default job
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
