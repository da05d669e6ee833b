"""The main job behind ``sigcy fit``: data, fit with progress, gradient flow, figure."""
import os
import sys
import time
import warnings

import numpy as np

from sigcy.rnn import ACTIVATIONS


class DataError(ValueError):
    """A user data file that cannot be used (the message says why)."""


def load_user_data(path, n_features=None, task="auto"):
    """(X, y, is_classification) from a ``.npz`` (arrays ``X`` and ``y``) or ``.csv`` file.

    A ``.csv`` holds one sample per row: the last column is the target, the others one
    sequence, read as ``n_features`` features per step (default 1: univariate).  Lines
    starting with ``#`` and a header row of non-numbers are skipped.
    """
    path = str(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file.")
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as f:
            missing = {"X", "y"} - set(f.files)
            if missing:
                raise DataError(f"{path} lacks array(s) {sorted(missing)}; it has {f.files}.")
            X, y = f["X"], f["y"]
    elif path.endswith(".csv"):
        with open(path) as f:
            lines = [line for line in f if line.strip() and not line.startswith("#")]
        if lines:
            try:
                [float(v) for v in lines[0].split(",")]
            except ValueError:
                lines = lines[1:]                          # a header row
        try:
            table = np.loadtxt(lines, delimiter=",", ndmin=2, dtype=float)
        except ValueError as exc:
            raise DataError(f"{path}: cannot read it as a numeric CSV ({exc}).") from None
        if table.shape[0] < 2 or table.shape[1] < 2:
            raise DataError(f"{path}: need at least 2 rows and 2 columns (a sequence and a "
                            f"target), got shape {table.shape}.")
        X, y = table[:, :-1], table[:, -1]
        if n_features is not None and n_features > 1:
            if X.shape[1] % n_features:
                raise DataError(f"{path}: {X.shape[1]} sequence columns cannot be read as "
                                f"steps of {n_features} features.")
            X = X.reshape(X.shape[0], -1, n_features)
    else:
        raise DataError(f"{path}: expected a .npz (arrays X and y) or a .csv file.")
    if X.ndim not in (2, 3):
        raise DataError(f"X has shape {X.shape}; expected (n_samples, n_timesteps) or "
                        f"(n_samples, n_timesteps, n_features).")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise DataError(f"y has shape {y.shape}; expected ({X.shape[0]},) to match X of "
                        f"shape {X.shape}.")
    if task == "auto":
        is_classification = (y.dtype.kind in "biuOSU"
                             or (np.all(np.isfinite(y)) and np.all(y == np.round(y))
                                 and len(np.unique(y)) <= max(2, min(50, len(y) // 5))))
    else:
        is_classification = task == "classify"
    return X, y, is_classification


class _Progress:
    """A fit callback printing one epoch line in ``every``, from the estimator's curves.

    ``finish()`` prints the last epoch's line if it was not printed yet.
    """

    def __init__(self, stream, every, indent="  "):
        self.stream, self.every, self.indent = stream, every, indent
        self.pending = None                 # the last epoch's line, not printed yet
        self.tick = time.perf_counter()

    def __call__(self, estimator):
        now = time.perf_counter()
        scores = estimator.validation_scores_
        val = f", validation score = {scores[-1]:.6f}" if scores else ""
        word = "Iteration" if estimator.solver == "lbfgs" else "Epoch"
        self.pending = (f"{word} {estimator.n_iter_}: loss = {estimator.loss_curve_[-1]:.8f}"
                        f"{val}, grad norm = {estimator.grad_norm_curve_[-1]:.4g}, "
                        f"{now - self.tick:.3f} s")
        self.tick = now
        if estimator.n_iter_ % self.every == 0:
            self.finish()

    def finish(self):
        if self.pending is not None:
            self.stream.write(self.indent + self.pending + "\n")
            self.stream.flush()
            self.pending = None


def fit_with_progress(estimator, X, y, every):
    """Fit, printing one epoch line in ``every`` and the last; return the seconds it took."""
    from sklearn.exceptions import ConvergenceWarning

    progress = _Progress(sys.stdout, every)
    estimator.set_params(callback=progress)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X, y)
    finally:
        estimator.set_params(callback=None)
    seconds = time.perf_counter() - start
    progress.finish()
    return seconds


def run(args):
    """Fit, report, compare the gradient flow of the three activations, plot."""
    from sklearn.base import clone
    from sklearn.model_selection import train_test_split

    from sigcy import RNNClassifier, RNNRegressor, gradient_flow

    if args.data is None:
        from sigcy.datasets import load_digits_sequences

        X, y = load_digits_sequences(return_X_y=True)
        is_classification = True
        print(f"Digits as sequences (built in): {X.shape[0]} sequences of {X.shape[1]} steps "
              f"x {X.shape[2]} features, 10 classes")
    else:
        X, y, is_classification = load_user_data(args.data, args.n_features, args.task)
        shape = "x".join(str(s) for s in X.shape[1:])
        print(f"{args.data}: {X.shape[0]} sequences ({shape}), "
              + (f"{len(np.unique(y))} classes" if is_classification else "regression"))
    stratify = y if is_classification else None
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, stratify=stratify, random_state=args.random_state)
    except ValueError:            # a class too small to stratify
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, random_state=args.random_state)
    Estimator = RNNClassifier if is_classification else RNNRegressor
    metric = "accuracy" if is_classification else "R^2"
    model = Estimator(hidden_layer_sizes=tuple(args.hidden), activation=args.activation,
                      max_iter=args.max_iter, random_state=args.random_state)
    print(f"Fitting {model!r} on {len(X_train)} sequences (progress every {args.every} "
          f"epochs)")
    seconds = fit_with_progress(model, X_train, y_train, args.every)
    score = model.score(X_test, y_test)
    stopped = ""
    if model.solver != "lbfgs" and model.n_iter_ < model.max_iter:
        what = "validation score" if model.early_stopping else "training loss"
        stopped = (f" (stopped: the {what} did not improve by more than tol={model.tol:g} for "
                   f"{model.n_iter_no_change} epochs)")
    print(f"Epochs: {model.n_iter_}{stopped}, fit time: {seconds:.2f} s "
          f"({1e3 * seconds / model.n_iter_:.1f} ms per epoch)")
    shown = f"{100 * score:.2f} %" if is_classification else f"{score:.4f}"
    print(f"Test {metric}: {shown}")

    models = {args.activation: model}
    if not args.no_compare:
        print()
        print("Gradient flow: the same network with each activation, mean |dloss/dh_t| on the "
              "test set")
        for act in ACTIVATIONS:
            if act in models:
                continue
            other = clone(model).set_params(activation=act)
            t = fit_with_progress(other, X_train, y_train, every=10**9)
            s = other.score(X_test, y_test)
            shown = f"{100 * s:.2f} %" if is_classification else f"{s:.4f}"
            print(f"  {act:8s} fitted in {t:.2f} s, {other.n_iter_} epochs, test {metric} "
                  f"{shown}")
            models[act] = other
    flows = {act: gradient_flow(m, X_test, y_test) for act, m in models.items()}
    T = len(next(iter(flows.values())))
    distances = [d for d in (0, 1, 2, 4, 8, 16, 32, 64, 128, 256) if d < T] + [T - 1]
    distances = sorted(set(distances))
    print()
    print("Gradient norm at distance d steps back from the final state, relative to d = 0")
    print(f"  {'d':>4s} " + " ".join(f"{act:>10s}" for act in flows))
    for d in distances:
        row = " ".join(f"{flows[act][T - 1 - d] / flows[act][T - 1]:10.3g}" for act in flows)
        print(f"  {d:4d} {row}")
    if args.plot:
        plot(args.plot, models, flows, metric)
        print(f"\nFigure written to {args.plot}")
    return 0


def plot(path, models, flows, metric):
    """Learning curves and gradient norm against the distance in time, log scale."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install 'sigcy[plot]' "
                         "(or pip install matplotlib)") from None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for act, model in models.items():
        ax1.plot(np.arange(1, len(model.loss_curve_) + 1), model.loss_curve_, label=act)
        flow = flows[act]
        distance = np.arange(len(flow))
        ax2.semilogy(distance, flow[::-1] / flow[-1], marker="o", ms=3, label=act)
    ax1.set(xlabel="epoch", ylabel="training loss", title="Learning curves")
    ax1.set_yscale("log")
    ax2.set(xlabel="distance in time from the final state (steps)",
            ylabel="mean |dloss/dh_t| relative to the final state",
            title="Gradient flow back in time")
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
