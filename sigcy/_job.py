"""The main job behind ``sigcy fit``: data, fit with progress, gradient flow, figure."""
import os
import sys
import time
import warnings
import zipfile

import numpy as np

from sigcy.rnn import ACTIVATIONS


class DataError(ValueError):
    """A user data file that cannot be used (the message says why)."""


def load_user_data(path, n_features=None, task="auto"):
    """Read a user's data file for ``sigcy --data FILE``.

    Parameters
    ----------
    path : str or path-like
        A ``.npz`` archive with numeric arrays ``X`` (n_samples, n_timesteps[, n_features])
        and ``y`` (n_samples,), or a ``.csv`` file with one sample per row: the last column
        is the target, the others one sequence.  In a ``.csv``, blank lines, lines starting
        with ``#`` and a first row in which no value is a number (a header) are skipped.
    n_features : int, optional
        ``.csv`` only: the sequence columns are read as steps of this many features
        (default 1: univariate).
    task : {"auto", "classify", "regress"}, default="auto"
        Classification or regression; "auto" guesses from ``y``.

    Returns
    -------
    X : ndarray
        The sequences, 2-D or 3-D.
    y : ndarray of shape (n_samples,)
        The targets.
    is_classification : bool
        Whether ``y`` is read as class labels.

    Raises
    ------
    DataError
        A message naming the problem: for a ``.csv``, the line and column of the first
        value that is not a number, the lines of rows of a different length, an empty file;
        for a ``.npz``, a missing or pickled (object) array; NaN or infinity in ``X`` or
        ``y`` with the first sample that has one.
    """
    path = str(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file.")
    line_numbers = None
    if path.endswith(".npz"):
        X, y = _load_npz(path)
    elif path.endswith(".csv"):
        table, line_numbers = _read_csv(path)
        if table.shape[0] < 2 or table.shape[1] < 2:
            raise DataError(f"{path}: need at least 2 rows and 2 columns (a sequence and a "
                            f"target), got {_plural(table.shape[0], 'row')} of "
                            f"{_plural(table.shape[1], 'column')}.")
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
    if X.dtype.kind not in "biuf":
        raise DataError(f"{path}: X has dtype {X.dtype}; expected numbers (float or int).")
    if y.dtype.kind not in "biufSU":
        raise DataError(f"{path}: y has dtype {y.dtype}; expected numbers or strings.")
    if X.shape[0] < 2:
        raise DataError(f"{path}: need at least 2 samples, got {X.shape[0]}.")
    _check_finite(path, "X", X, line_numbers)
    _check_finite(path, "y", y, line_numbers)
    if task == "auto":
        is_classification = (y.dtype.kind in "biuSU"
                             or (np.all(y == np.round(y))
                                 and len(np.unique(y)) <= max(2, min(50, len(y) // 5))))
    else:
        is_classification = task == "classify"
    if is_classification and len(np.unique(y)) < 2:
        raise DataError(f"{path}: y has a single class ({y[0].item()!r}); a classifier needs at "
                        f"least 2 (or pass --task regress).")
    return X, y, is_classification


def _check_finite(path, name, a, line_numbers):
    """A :class:`DataError` naming the first sample of ``a`` with NaN or infinity."""
    if a.dtype.kind != "f":
        return
    finite = np.isfinite(a).reshape(a.shape[0], -1).all(axis=1)
    if finite.all():
        return
    bad = np.flatnonzero(~finite)
    first = int(bad[0])
    values = a[first].ravel()
    what = "NaN" if np.isnan(values).any() else "infinity"
    where = f"sample {first}"
    if line_numbers is not None:
        where += f" (line {line_numbers[first]})"
    more = (f" ({_plural(len(bad), 'sample')} in all)" if len(bad) > 1 else "")
    raise DataError(f"{path}: {name} has {what} at {where}{more}; sigcy needs finite "
                    f"values: remove or fill in those samples.")


def _plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _read_csv(path):
    """(table, line_numbers) of a numeric CSV, or a :class:`DataError` naming the problem.

    Blank lines and lines starting with ``#`` are skipped, and so is a first row in which no
    value is a number (a header).  Every other value must be a number and every row must
    have as many columns as the first.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file (not UTF-8); expected a .csv with one "
                        f"sequence per row, the target last.") from None
    rows, line_numbers = [], []
    header_seen = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [field.strip() for field in line.split(",")]
        values = [_number_or_none(field) for field in fields]
        if not rows and not header_seen and all(v is None for v in values):
            header_seen = True                      # a header: names, not numbers
            continue
        for column, (field, value) in enumerate(zip(fields, values), start=1):
            if value is None:
                shown = repr(field) if field else "an empty field"
                raise DataError(f"{path}, line {number}, column {column}: {shown} is not a "
                                f"number.")
        rows.append(values)
        line_numbers.append(number)
    if not rows:
        what = "only a header row" if header_seen else "no data rows"
        raise DataError(f"{path}: the file is empty ({what}); expected one sequence per "
                        f"row, the target last.")
    expected = len(rows[0])
    ragged = [(n, len(r)) for n, r in zip(line_numbers, rows) if len(r) != expected]
    if ragged:
        shown = ", ".join(f"line {n} has {c}" for n, c in ragged[:5])
        more = f", and {len(ragged) - 5} more rows differ" if len(ragged) > 5 else ""
        raise DataError(f"{path}: rows of different lengths: line {line_numbers[0]} (the "
                        f"first data row) has {_plural(expected, 'column')}, {shown}{more}.")
    return np.array(rows, dtype=float), line_numbers


def _number_or_none(field):
    try:
        return float(field)
    except ValueError:
        return None


def _load_npz(path):
    """X and y of a ``.npz`` archive; pickled (object) arrays are refused."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        raise DataError(f"{path}: not a .npz archive (np.savez(path, X=X, y=y) writes "
                        f"one).") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: holds a single array, not a .npz archive; save both "
                        f"with np.savez(path, X=X, y=y).")
    with archive:
        missing = {"X", "y"} - set(archive.files)
        if missing:
            raise DataError(f"{path} lacks array(s) {sorted(missing)}; it has "
                            f"{archive.files}.")
        arrays = {}
        for name in ("X", "y"):
            try:
                arrays[name] = archive[name]
            except ValueError:
                raise DataError(
                    f"{path}: {name} is an object array, which .npz stores with pickle, and "
                    f"sigcy does not load pickles (loading one can run arbitrary code); save "
                    f"{name} as a numeric array, e.g. np.asarray({name}, dtype=float)."
                ) from None
    return arrays["X"], arrays["y"]


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
