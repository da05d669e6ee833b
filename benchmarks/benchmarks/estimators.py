"""asv benchmarks for RNNClassifier and RNNRegressor: fit, predict, peak memory, test score.

Classifier: the digits as sequences (8 steps of 8 features, stratified 75/25 split,
random_state=0), as in issue 4.  Regressor: a synthetic memory task, 1000 sequences of 20
steps with 2 features, target ``x[0, 0] + x[10, 1]`` (the model must carry two values across
the sequence).  Timed fits run a fixed number of epochs (tol=0, no early stop) at one
OpenMP/BLAS thread; the tracked scores come from a full default fit.
"""
import warnings

import numpy as np

try:
    from sigcy import RNNClassifier, RNNRegressor
except ImportError:     # a commit before the estimators: asv skips these benchmarks
    RNNClassifier = RNNRegressor = None

EPOCHS = 20


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8) / 16.0
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


def _memory_task(n=1000, T=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, T, 2))
    y = X[:, 0, 0] + X[:, T // 2, 1]
    return X[: 3 * n // 4], X[3 * n // 4:], y[: 3 * n // 4], y[3 * n // 4:]


class _Base:
    params = ([32, 64], ["float32", "float64"])
    param_names = ["n_hidden", "dtype"]
    timeout = 300

    def setup(self, n_hidden, dtype):
        if RNNClassifier is None:
            raise NotImplementedError("no estimators in this commit")
        from threadpoolctl import threadpool_limits

        self._limits = threadpool_limits(1)
        X_train, X_test, y_train, y_test = self.data()
        self.X_train, self.X_test = X_train.astype(dtype), X_test.astype(dtype)
        self.y_train, self.y_test = y_train, y_test
        self.fitted = self._fit(n_hidden, EPOCHS)

    def teardown(self, *params):
        limits = getattr(self, "_limits", None)
        if limits is not None:
            limits.restore_original_limits()

    def _fit(self, n_hidden, epochs, **kwargs):
        from sklearn.exceptions import ConvergenceWarning

        est = self.Estimator(hidden_layer_sizes=(n_hidden,), max_iter=epochs, random_state=0,
                             **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return est.fit(self.X_train, self.y_train)

    def time_fit(self, n_hidden, dtype):
        self._fit(n_hidden, EPOCHS, tol=0, n_iter_no_change=np.inf)

    def peakmem_fit(self, n_hidden, dtype):
        self._fit(n_hidden, EPOCHS, tol=0, n_iter_no_change=np.inf)

    def time_predict(self, n_hidden, dtype):
        self.fitted.predict(self.X_test)

    def track_test_score(self, n_hidden, dtype):
        return self._fit(n_hidden, 200).score(self.X_test, self.y_test)

    track_test_score.unit = "score"


class RNNClassifierDigits(_Base):
    """RNNClassifier on the digits sequences (sigmoid, the default)."""

    Estimator = RNNClassifier

    @staticmethod
    def data():
        return _digits()


class RNNRegressorMemory(_Base):
    """RNNRegressor on the two-value memory task (sigmoid, the default)."""

    Estimator = RNNRegressor

    @staticmethod
    def data():
        return _memory_task()
