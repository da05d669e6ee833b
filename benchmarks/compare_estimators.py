"""Fit time and test accuracy on the digits sequences: sigcy, an equivalent torch loop, MLP.

    python benchmarks/compare_estimators.py [--epochs 200] [--hidden 32 64] [--repeat 3]

The task of issue 4: scikit-learn's digits, each 8x8 image as 8 time steps of 8 features
divided by 16, stratified 75/25 split (random_state=0).  Everyone trains for the same number
of epochs (no early stop: tol=0 and n_iter_no_change=inf for the scikit-learn-style models)
with Adam, batch 200, 1 thread:

- sigcy RNNClassifier (sigmoid), hidden_layer_sizes=(H,), clip_norm and lr as its defaults,
- torch: nn.RNN has no sigmoid, so a Python loop over the 8 steps of
  ``torch.sigmoid(x_t @ W_in + h @ W_rec + b)`` with autograd, a linear head and
  cross-entropy, the same initialisation scheme, Adam (lr as sigcy's), gradient clipping,
- MLPClassifier(hidden_layer_sizes=(64,)) on the flat 64 features (the issue's yardstick).

The table gives the median fit time over --repeat runs (each run a fresh model, interleaved
so that a busy machine slows everyone alike), the ratios to sigcy, and the test accuracy.
"""
import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from sigcy import RNNClassifier


def digits_sequences():
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8) / 16.0
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


def fit_sigcy(data, hidden, epochs):
    X_train, X_test, y_train, y_test = data
    clf = RNNClassifier(hidden_layer_sizes=(hidden,), max_iter=epochs, tol=0,
                        n_iter_no_change=np.inf, random_state=0)
    start = time.perf_counter()
    clf.fit(X_train, y_train)
    return time.perf_counter() - start, clf.score(X_test, y_test)


def fit_mlp(data, hidden, epochs):
    X_train, X_test, y_train, y_test = data
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=epochs, tol=0,
                        n_iter_no_change=np.inf, random_state=0)
    start = time.perf_counter()
    clf.fit(X_train.reshape(len(X_train), -1), y_train)
    return time.perf_counter() - start, clf.score(X_test.reshape(len(X_test), -1), y_test)


def fit_torch(data, hidden, epochs, lr=0.005, clip=5.0, batch=200):
    import torch

    torch.manual_seed(0)
    X_train, X_test, y_train, y_test = data
    Xt = torch.tensor(X_train)
    yt = torch.tensor(y_train)
    F, C = Xt.shape[2], 10
    # sigcy's initialisation: 4x Glorot input, 4x orthogonal recurrent, Glorot output
    W_in = torch.empty(F, hidden, dtype=torch.float64).uniform_(-1, 1) * 4 * np.sqrt(6 / (F + hidden))
    W_rec = 4 * torch.nn.init.orthogonal_(torch.empty(hidden, hidden, dtype=torch.float64))
    b = torch.zeros(hidden, dtype=torch.float64)
    W_out = torch.empty(hidden, C, dtype=torch.float64).uniform_(-1, 1) * np.sqrt(6 / (hidden + C))
    b_out = torch.zeros(C, dtype=torch.float64)
    params = [p.requires_grad_() for p in (W_in, W_rec, b, W_out, b_out)]
    opt = torch.optim.Adam(params, lr=lr, eps=1e-8)

    def logits(X):
        h = torch.zeros(X.shape[0], hidden, dtype=torch.float64)
        for t in range(X.shape[1]):
            h = torch.sigmoid(X[:, t] @ W_in + h @ W_rec + b)
        return h @ W_out + b_out

    start = time.perf_counter()
    gen = torch.Generator().manual_seed(0)
    n = Xt.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(logits(Xt[idx]), yt[idx])
            loss = loss + 0.5e-4 * sum((w * w).sum() for w in (W_in, W_rec, W_out)) / len(idx)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        pred = logits(torch.tensor(X_test)).argmax(dim=1).numpy()
    return seconds, float(np.mean(pred == y_test))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = digits_sequences()
    try:
        import torch

        torch.set_num_threads(1)
        have_torch = True
    except ImportError:
        have_torch = False
        print("(torch not installed: its rows are skipped)")

    runners = [("sigcy RNNClassifier", fit_sigcy)]
    if have_torch:
        runners.append(("torch sigmoid loop", fit_torch))
    runners.append(("MLPClassifier((64,)) flat", fit_mlp))
    print(f"digits sequences, {args.epochs} epochs, batch 200, Adam, 1 thread; "
          f"median of {args.repeat} fits")
    print(f"{'model':28s} {'hidden':>6s} {'fit s':>8s} {'vs sigcy':>9s} {'test acc':>9s}")
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for hidden in args.hidden:
            times = {name: [] for name, _ in runners}
            acc = {}
            for _ in range(args.repeat):
                for name, run in runners:
                    seconds, acc[name] = run(data, hidden, args.epochs)
                    times[name].append(seconds)
            base = statistics.median(times[runners[0][0]])
            for name, _ in runners:
                t = statistics.median(times[name])
                h = 64 if name.startswith("MLP") else hidden
                print(f"{name:28s} {h:6d} {t:8.3f} {t / base:8.2f}x {100 * acc[name]:8.2f}%")


if __name__ == "__main__":
    main()
