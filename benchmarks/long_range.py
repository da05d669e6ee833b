"""How far back can each activation learn?  The long-time-lag tasks of sigcy.datasets.

    python benchmarks/long_range.py [--lengths 10 20 40 80] [--epochs 60] [--hidden 32]

For each activation (sigmoid, tanh, relu) and sequence length T, fit on 2000 sequences and
score 1000 held-out ones:

- the adding problem (RNNRegressor): test MSE relative to predicting the mean (MSE 1/6);
  "learned" when it is below 0.1, i.e. 90 % of the variance explained;
- the temporal-order problem (RNNClassifier, 4 classes, chance 25 %): test accuracy;
  "learned" above 90 %.

The last column of each table is the longest T learned.  Fixed seeds; Adam with sigcy's
defaults except batch_size=50; the same hidden size and epochs for everyone.
"""
import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sigcy import RNNClassifier, RNNRegressor
from sigcy.datasets import make_adding_problem, make_temporal_order

ACTIVATIONS = ("sigmoid", "tanh", "relu")


def run_task(name, make, Estimator, score, lengths, args):
    print(f"\n{name}: " + ("test MSE / MSE of the mean (learned < 0.1)" if Estimator is
                           RNNRegressor else "test accuracy (learned > 0.9, chance 0.25)"))
    print(f"{'activation':10s} " + " ".join(f"{'T=' + str(T):>8s}" for T in lengths)
          + f" {'longest':>8s} {'seconds':>8s}")
    for act in ACTIVATIONS:
        row, longest, start = [], "-", time.perf_counter()
        for T in lengths:
            X, y = make(n_samples=3000, n_timesteps=T, random_state=0)
            est = Estimator(hidden_layer_sizes=args.hidden, activation=act, batch_size=50,
                            max_iter=args.epochs, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                try:
                    est.fit(X[:2000], y[:2000])
                    value, learned = score(est, X[2000:], y[2000:])
                except ValueError as exc:          # divergence is reported, not fatal
                    print(f"  ({act}, T={T}: {exc})")
                    value, learned = np.nan, False
            row.append(value)
            if learned:
                longest = str(T)
        seconds = time.perf_counter() - start
        print(f"{act:10s} " + " ".join(f"{v:8.3f}" for v in row) + f" {longest:>8s} "
              f"{seconds:8.1f}", flush=True)


def adding_score(est, X, y):
    ratio = np.mean((est.predict(X) - y) ** 2) / (1 / 6)
    return ratio, ratio < 0.1


def order_score(est, X, y):
    acc = est.score(X, y)
    return acc, acc > 0.9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 20, 40, 80])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--hidden", type=int, default=32)
    args = parser.parse_args()
    print(f"{args.hidden} hidden units, {args.epochs} epochs, batch 50, 2000 training and "
          f"1000 test sequences")
    run_task("Adding problem", make_adding_problem, RNNRegressor, adding_score,
             args.lengths, args)
    run_task("Temporal order", make_temporal_order, RNNClassifier, order_score,
             args.lengths, args)


if __name__ == "__main__":
    main()
