"""RNNClassifier, RNNRegressor and gradient_flow.

Reference values come from the slow numpy RNN in ``_rnn_reference.py`` (forward pass of a
fitted model, written independently of the compiled kernels), from central finite
differences of the loss, and from scikit-learn's own estimator checks.
"""
import importlib.util
import io
import pathlib
import pickle
import warnings
from contextlib import redirect_stdout

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

import sigcy
import sigcy._estimators as est_module
from sigcy import RNNClassifier, RNNRegressor, gradient_flow

# --import-mode=importlib: tests/ is not on sys.path, load the reference by its path.
_spec = importlib.util.spec_from_file_location(
    "_sigcy_rnn_reference_est", pathlib.Path(__file__).with_name("_rnn_reference.py"))
_ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ref)
ref_forward = _ref.forward

ACTIVATIONS = ["sigmoid", "tanh", "relu"]
no_convergence_warning = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


# ----------------------------------------------------------------------------- scikit-learn
# No expected failures: both estimators pass every check, including the sample-weight
# equivalence checks (the loss is a weighted mean, as in MLPClassifier).
@no_convergence_warning
@parametrize_with_checks([RNNClassifier(random_state=0), RNNRegressor(random_state=0)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def _toy_classification(n=120, T=6, F=2, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, F)).astype(dtype)
    y = np.where(X[:, :, 0].sum(axis=1) > 0, "pos", "neg")
    return X, y


def _toy_regression(n=120, T=6, F=2, seed=0, n_outputs=None):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, T, F))
    y = X[:, 0, 0] - 0.5 * X[:, -1, -1]
    if n_outputs is not None:
        y = np.column_stack([y * (k + 1) for k in range(n_outputs)])
    return X, y


def _digits():
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8) / 16.0
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


@no_convergence_warning
def test_default_classifier_learns_digits_sequences():
    # the quality bar: the default model, digits as 8 steps of 8 features
    X_train, X_test, y_train, y_test = _digits()
    clf = RNNClassifier(random_state=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.96


# ----------------------------------------------------------------------------- the model
def _reference_logits(est, X, lengths=None):
    """Output pre-activations of a fitted estimator by the slow numpy RNN."""
    h = np.asarray(X, dtype=np.float64)
    n_rec = est.n_layers_ - 1
    for i in range(n_rec):
        h, _ = ref_forward(h, est.coefs_[i].astype(np.float64),
                           est.recurrent_coefs_[i].astype(np.float64),
                           est.intercepts_[i].astype(np.float64),
                           activation=est.activation, lengths=lengths)
    return h[:, -1] @ est.coefs_[-1] + est.intercepts_[-1]


@pytest.mark.parametrize("activation", ACTIVATIONS)
@no_convergence_warning
def test_classifier_matches_reference_forward(activation):
    X, y = _toy_classification()
    y[:30] = "zero"                              # three classes: softmax
    clf = RNNClassifier(hidden_layer_sizes=(5, 4), activation=activation, max_iter=5,
                        random_state=0).fit(X, y)
    Z = _reference_logits(clf, X)
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    assert_allclose(clf.predict_proba(X), P, rtol=1e-10, atol=1e-12)
    assert_allclose(np.exp(clf.predict_log_proba(X)), P, rtol=1e-10, atol=1e-12)
    assert_array_equal(clf.predict(X), clf.classes_[P.argmax(axis=1)])


@no_convergence_warning
def test_binary_classifier_probabilities_and_log_probabilities():
    X, y = _toy_classification()
    clf = RNNClassifier(hidden_layer_sizes=4, max_iter=5, random_state=0).fit(X, y)
    assert clf.n_outputs_ == 1
    z = _reference_logits(clf, X)[:, 0]
    p = 1 / (1 + np.exp(-z))
    proba = clf.predict_proba(X)
    assert_allclose(proba[:, 1], p, rtol=1e-10)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-15)
    # log-probabilities do not go through a rounded probability: finite even where the
    # probability itself rounds to 0
    clf.coefs_[-1][...] *= 1e4
    logp = clf.predict_log_proba(X)
    assert np.all(np.isfinite(logp))
    assert np.min(logp) < -800


@no_convergence_warning
def test_regressor_matches_reference_and_shapes():
    X, y = _toy_regression(n_outputs=3)
    reg = RNNRegressor(hidden_layer_sizes=(6,), max_iter=5, random_state=0).fit(X, y)
    assert reg.predict(X).shape == (120, 3)
    assert_allclose(reg.predict(X), _reference_logits(reg, X), rtol=1e-10, atol=1e-12)
    X, y = _toy_regression()
    reg = RNNRegressor(hidden_layer_sizes=(6,), max_iter=5, random_state=0).fit(X, y)
    assert reg.predict(X).shape == (120,)
    reg2 = clone(reg).fit(X, y.reshape(-1, 1))
    assert reg2.predict(X).shape == (120, 1)


def _finite_difference_check(est, X, y, sample_weight=None, lengths=None):
    seq = est_module._Sequences(np.ascontiguousarray(X, dtype=np.float64), lengths)
    Y = est._validate_y(y, len(seq), False, False, None).astype(np.float64)
    theta = est._theta.copy()
    loss, grad, norm = est._loss_grad(seq, Y, sample_weight, theta)
    assert_allclose(norm, np.linalg.norm(grad), rtol=1e-12)
    rng = np.random.default_rng(0)
    idx = rng.choice(theta.size, size=min(40, theta.size), replace=False)
    h = 1e-4
    for k in idx:
        vals = []
        for step in (-2, -1, 1, 2):
            t = theta.copy()
            t[k] += step * h
            vals.append(est._loss_grad(seq, Y, sample_weight, t)[0])
        fd = (vals[0] - 8 * vals[1] + 8 * vals[2] - vals[3]) / (12 * h)
        assert_allclose(grad[k], fd, rtol=1e-5, atol=1e-9, err_msg=f"parameter {k}")
    return loss


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor])
@no_convergence_warning
def test_gradient_matches_finite_differences(Estimator, activation):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((9, 5, 3))
    lengths = np.array([5, 1, 3, 5, 2, 4, 5, 5, 3])
    if Estimator is RNNClassifier:
        y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])
    else:
        y = rng.standard_normal((9, 2))
    est = Estimator(hidden_layer_sizes=(4, 3), activation=activation, alpha=0.3,
                    max_iter=2, random_state=0).fit(X, y)
    _finite_difference_check(est, X, y)
    _finite_difference_check(est, X, y, lengths=lengths,
                             sample_weight=rng.uniform(0.1, 3, 9))


def test_binary_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((8, 4, 2))
    y = np.array([0, 1] * 4)
    est = RNNClassifier(hidden_layer_sizes=3, solver="lbfgs", max_iter=3,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    _finite_difference_check(est, X, y)


# ----------------------------------------------------------------------------- input forms
@no_convergence_warning
def test_2d_input_is_one_univariate_sequence_per_row():
    X, y = _toy_classification(F=1)
    a = RNNClassifier(hidden_layer_sizes=4, max_iter=3, random_state=0).fit(X[:, :, 0], y)
    b = RNNClassifier(hidden_layer_sizes=4, max_iter=3, random_state=0).fit(X, y)
    assert a.n_features_in_ == X.shape[1]
    assert b.n_features_in_ == 1
    assert_array_equal(a._theta, b._theta)
    assert_array_equal(a.predict_proba(X[:, :, 0]), b.predict_proba(X))
    with pytest.raises(ValueError, match="fitted on 2-D input"):
        a.predict(X)
    with pytest.raises(ValueError, match="fitted on 3-D sequences"):
        b.predict(X[:, :, 0])


@no_convergence_warning
def test_ragged_list_matches_each_sequence_alone():
    rng = np.random.default_rng(3)
    seqs = [rng.standard_normal((T, 2)) for T in (3, 7, 1, 5, 7, 2)] * 5
    y = np.array([int(s[:, 0].sum() > 0) for s in seqs])
    clf = RNNClassifier(hidden_layer_sizes=(5, 3), max_iter=5, random_state=0).fit(seqs, y)
    assert clf.n_features_in_ == 2
    proba = clf.predict_proba(seqs)
    for i in (0, 1, 2, 3):
        assert_allclose(proba[i], clf.predict_proba(seqs[i][None])[0], rtol=1e-12)
    # predict takes any number of time steps
    assert clf.predict(rng.standard_normal((4, 11, 2))).shape == (4,)


@no_convergence_warning
def test_float32_input_is_computed_in_float32():
    X, y = _toy_classification(dtype=np.float32)
    clf = RNNClassifier(hidden_layer_sizes=4, max_iter=3, random_state=0).fit(X, y)
    assert clf._theta.dtype == np.float32
    assert clf.coefs_[0].dtype == np.float32
    assert clf.predict_proba(X).dtype == np.float32
    clf64 = RNNClassifier(hidden_layer_sizes=4, max_iter=3, random_state=0).fit(
        X.astype(np.int64), y)
    assert clf64._theta.dtype == np.float64


@no_convergence_warning
def test_input_is_not_modified():
    X, y = _toy_classification()
    X_copy, y_copy = X.copy(), y.copy()
    sw = np.ones(len(y))
    RNNClassifier(hidden_layer_sizes=3, max_iter=2).fit(X, y, sample_weight=sw)
    assert_array_equal(X, X_copy)
    assert_array_equal(y, y_copy)
    assert_array_equal(sw, 1.0)


@pytest.mark.parametrize(
    "X, match",
    [
        (np.zeros(10), "Expected 2D array"),
        (np.zeros((10, 2, 2, 2)), "expected a 2-D array"),
        (np.zeros((10, 0, 2)), "zero time steps"),
        (np.zeros((10, 0)), "0 feature"),
        (np.zeros((0, 3, 2)), "0 sample"),
        (np.full((10, 3, 2), np.nan), "NaN"),
        (np.full((10, 3), np.inf), "infinity"),
        ([np.zeros((3, 2)), np.zeros((0, 2))] * 5, r"X\[1\] is an empty sequence"),
        ([np.zeros((3, 2)), np.zeros((2, 3))] * 5, "different numbers of features"),
    ],
)
def test_bad_X(X, match):
    y = np.arange(len(X)) % 2
    with pytest.raises(ValueError, match=match):
        RNNClassifier(max_iter=1).fit(X, y)


def test_bad_y():
    X = np.zeros((10, 3, 2))
    with pytest.raises(ValueError, match="NaN"):
        RNNRegressor(max_iter=1).fit(X, np.full(10, np.nan))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        RNNRegressor(max_iter=1).fit(X, np.zeros(9))
    with pytest.raises(ValueError, match="Unknown label type"):
        RNNClassifier(max_iter=1).fit(X, np.linspace(0, 1, 10))
    with pytest.raises(ValueError, match="only one class"):
        RNNClassifier(max_iter=1).fit(X, np.zeros(10))
    with pytest.raises(ValueError, match="requires y"):
        RNNClassifier(max_iter=1).fit(X, None)


@no_convergence_warning
def test_feature_mismatch_message_and_not_fitted():
    X, y = _toy_classification(F=2)
    with pytest.raises(NotFittedError):
        RNNClassifier().predict(X)
    clf = RNNClassifier(hidden_layer_sizes=3, max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but RNNClassifier is expecting 2 "
                                         "features as input."):
        clf.predict(np.zeros((4, 5, 3)))


@pytest.mark.parametrize("params, match", [
    ({"activation": "softsign"}, "activation"),
    ({"solver": "newton"}, "solver"),
    ({"clip_norm": 0}, "clip_norm"),
    ({"bptt_steps": 0}, "bptt_steps"),
    ({"hidden_layer_sizes": (4, 0)}, "hidden_layer_sizes"),
    ({"learning_rate_init": -1}, "learning_rate_init"),
])
def test_bad_parameters(params, match):
    X, y = _toy_classification()
    with pytest.raises(ValueError, match=match):
        RNNClassifier(**params).fit(X, y)


# ----------------------------------------------------------------------------- training
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_solvers_learn(solver, activation):
    X, y = _toy_regression(n=200, T=5, F=1)
    # four mini-batches an epoch: with one, ten noisy epochs are only ten steps
    reg = RNNRegressor(hidden_layer_sizes=16, activation=activation, solver=solver,
                       batch_size=50, max_iter=400, random_state=0, tol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    assert reg.score(X, y) > 0.8, reg.score(X, y)
    assert len(reg.loss_curve_) == len(reg.grad_norm_curve_) > 0
    assert reg.loss_curve_[-1] < reg.loss_curve_[0]


@pytest.mark.parametrize("learning_rate", ["constant", "invscaling", "adaptive"])
@no_convergence_warning
def test_sgd_schedules(learning_rate):
    X, y = _toy_regression()
    reg = RNNRegressor(hidden_layer_sizes=4, solver="sgd", learning_rate=learning_rate,
                       max_iter=30, random_state=0, n_iter_no_change=2).fit(X, y)
    assert np.isfinite(reg.loss_)
    if learning_rate == "invscaling":
        assert reg._optimizer.learning_rate == pytest.approx(0.005 / (reg.t_ + 1) ** 0.5)
    if learning_rate == "adaptive":
        # tol=10: after the first epoch (which sets best_loss_) no epoch improves, so every
        # n_iter_no_change + 1 = 3 epochs the rate is divided by 5 until it is below 1e-6
        # (6 divisions from 0.005); the 7th trigger stops: 1 + 7 * 3 epochs
        reg = RNNRegressor(hidden_layer_sizes=4, solver="sgd", learning_rate=learning_rate,
                           max_iter=30, random_state=0, n_iter_no_change=2, tol=10.0)
        reg.fit(X, y)
        assert reg._optimizer.learning_rate == pytest.approx(0.005 / 5**6)
        assert reg.n_iter_ == 1 + 7 * 3


def test_convergence_warning_and_stopping():
    X, y = _toy_regression()
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        RNNRegressor(hidden_layer_sizes=3, max_iter=2, random_state=0).fit(X, y)
    reg = RNNRegressor(hidden_layer_sizes=3, max_iter=500, tol=10.0, n_iter_no_change=3,
                       random_state=0).fit(X, y)
    # the first epoch sets best_loss_; then n_iter_no_change + 1 epochs without a gain
    assert reg.n_iter_ == 5


@no_convergence_warning
def test_early_stopping_keeps_best_weights(monkeypatch):
    X, y = _toy_classification(n=200)
    clf = RNNClassifier(hidden_layer_sizes=4, early_stopping=True, max_iter=30,
                        random_state=0)
    seen = []                     # (validation score, weights) after every epoch
    real_score = RNNClassifier._score_internal

    def recording_score(self, seq, Y, sample_weight, theta):
        score = real_score(self, seq, Y, sample_weight, theta)
        seen.append((score, theta.copy()))
        return score

    monkeypatch.setattr(RNNClassifier, "_score_internal", recording_score)
    clf.fit(X, y)
    assert clf.best_loss_ is None
    assert len(clf.validation_scores_) == clf.n_iter_ == len(seen)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    best = int(np.argmax([score for score, _ in seen]))
    assert best < len(seen) - 1               # the test means something: not the last epoch
    assert_array_equal(clf._theta, seen[best][1])
    reg = RNNRegressor(max_iter=3).fit(*_toy_regression())
    assert reg.validation_scores_ is None and reg.best_validation_score_ is None


@no_convergence_warning
def test_partial_fit_and_warm_start():
    X, y = _toy_classification()
    clf = RNNClassifier(hidden_layer_sizes=4, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X, y, classes=["neg", "pos"])
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 2 and clf.t_ == 2 * len(X)
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit(X, np.where(y == "pos", "other", y))
    # partial_fit twice == two epochs of fit, same shuffling
    full = RNNClassifier(hidden_layer_sizes=4, random_state=0, max_iter=2).fit(X, y)
    assert_array_equal(full._theta, clf._theta)
    assert not hasattr(RNNClassifier(solver="lbfgs"), "partial_fit")
    # warm start continues from the fitted weights
    warm = RNNClassifier(hidden_layer_sizes=4, random_state=0, max_iter=1, warm_start=True)
    warm.fit(X, y)
    warm.fit(X, y)
    assert_array_equal(full._theta, warm._theta)


def test_same_bits_whatever_the_thread_count():
    # big enough for the kernels to split work over OpenMP threads
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 20, 3))
    y = (X[:, :, 0].mean(axis=1) > 0).astype(int)
    results = []
    for n in (1, 2, 3):
        with threadpool_limits(limits=n):
            clf = RNNClassifier(hidden_layer_sizes=(64,), max_iter=2, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(X, y)
            results.append((clf._theta.copy(), clf.predict_proba(X)))
    for theta, proba in results[1:]:
        assert_array_equal(theta, results[0][0])
        assert_array_equal(proba, results[0][1])


def test_verbose_prints_one_line_per_epoch():
    X, y = _toy_classification()
    out = io.StringIO()
    with redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        RNNClassifier(hidden_layer_sizes=3, max_iter=4, verbose=True, early_stopping=True,
                      n_iter_no_change=100).fit(X, y)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    for k, line in enumerate(lines, start=1):
        assert line.startswith(f"Epoch {k}: loss = ")
        assert "validation score = " in line and "grad norm = " in line
        assert line.endswith(" s")


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_callback_sees_every_epoch_with_the_curves_up_to_date(solver):
    X, y = _toy_classification()
    seen = []

    def record(est):
        seen.append((est.n_iter_, len(est.loss_curve_), len(est.grad_norm_curve_),
                     len(est.validation_scores_ or [])))

    early = solver != "lbfgs"
    clf = RNNClassifier(hidden_layer_sizes=3, solver=solver, max_iter=5, random_state=0,
                        early_stopping=early, n_iter_no_change=100, callback=record)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.n_iter_ == 5
    assert seen == [(k, k, k, k if early else 0) for k in range(1, 6)]
    # the callback changes nothing: the same bits without it
    plain = clone(clf).set_params(callback=None)
    with pytest.warns(ConvergenceWarning):
        plain.fit(X, y)
    assert_array_equal(plain._theta, clf._theta)
    assert plain.loss_curve_ == clf.loss_curve_
    # partial_fit: one epoch, one call
    if solver != "lbfgs":
        seen.clear()
        part = RNNClassifier(hidden_layer_sizes=3, solver=solver, callback=record)
        part.partial_fit(X, y, classes=np.unique(y)).partial_fit(X, y)
        assert [k for k, *_ in seen] == [1, 2]


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_callback_returning_true_stops_the_fit(solver):
    X, y = _toy_regression()
    calls = []

    def stop_at_three(est):
        calls.append(est.n_iter_)
        return est.n_iter_ == 3

    reg = RNNRegressor(hidden_layer_sizes=4, solver=solver, max_iter=50, random_state=0,
                       callback=stop_at_three)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)     # a requested stop
        reg.fit(X, y)
    assert calls == [1, 2, 3]
    assert reg.n_iter_ == 3 and len(reg.loss_curve_) == 3 and reg.t_ == 3 * len(X)
    assert reg.loss_ == reg.loss_curve_[-1]
    # the weights are those of the third epoch: three epochs without a callback
    three = clone(reg).set_params(callback=None, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        three.fit(X, y)
    assert_array_equal(three._theta, reg._theta)
    # and warm_start continues from there
    reg.set_params(warm_start=True, callback=None, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    assert reg.n_iter_ == 5


def test_callback_parameter_clone_pickle_and_validation():
    def cb(est):
        return False

    clf = RNNClassifier(callback=cb)
    assert clf.get_params()["callback"] is cb
    assert clone(clf).callback is cb
    with pytest.raises(ValueError, match="callback"):       # InvalidParameterError
        RNNClassifier(callback=3).fit(*_toy_classification(n=20))
    X, y = _toy_classification()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = RNNClassifier(hidden_layer_sizes=3, max_iter=2, random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(fitted))
    assert restored.callback is None
    assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    # a model pickled before the parameter existed loads with callback=None
    state = fitted.__getstate__()
    del state["callback"]
    old = RNNClassifier.__new__(RNNClassifier)
    old.__setstate__(state)
    assert old.get_params()["callback"] is None
    assert_array_equal(old.predict_proba(X), fitted.predict_proba(X))


class _ReferenceTrainer:
    """Trainer.epoch as a Python loop over single steps: numpy gathers the batch,
    Trainer.loss_grad computes its loss and gradient (tested against finite differences),
    Python clips and computes Adam's learning rate with numpy, sigcy._core._step's updates
    (tested bit for bit against scikit-learn's optimizers) step: the loop the estimators ran
    before their epochs were one compiled call (sample weights summed in index order)."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.step_callback = None
        self.adam_steps = self.steps_done = 0

    def set_optimizer(self, solver, **settings):
        self.trainer.set_optimizer(solver, **settings)
        self.adam = solver == "adam"
        self.settings = dict(settings)

    def loss_grad(self, *args):
        return self.trainer.loss_grad(*args)

    def epoch(self, X, lengths, Y, sample_weight, order, batch_size, theta, grad, mom1, mom2,
              learning_rate, adam_steps, norms):
        from sigcy._core import _step
        from sigcy._core._trainer import EPOCH_NONFINITE_GRAD, EPOCH_NONFINITE_STEP, EPOCH_OK
        t = theta.dtype.type
        s = self.settings
        alpha, clip = s.get("alpha", 0.0), s.get("clip_norm", 0.0)
        loss_sum = 0.0
        self.adam_steps, self.steps_done = adam_steps, 0
        for b, start in enumerate(range(0, X.shape[0], batch_size)):
            if self.step_callback is not None:
                self.step_callback(self.steps_done)
            idx = order[start:start + batch_size]
            w, sw_sum = None, len(idx)
            if sample_weight is not None:
                sw_sum = 0.0
                for v in sample_weight[idx]:          # in order, in double
                    sw_sum += float(v)
                w = (sample_weight[idx] / sw_sum).astype(theta.dtype)
            data_loss, sq, gsq = self.trainer.loss_grad(
                np.ascontiguousarray(X[idx]), None if lengths is None else lengths[idx],
                np.ascontiguousarray(Y[idx]), w, theta, grad, t(alpha / sw_sum))
            loss = data_loss + 0.5 * alpha * sq / sw_sum
            norms[b] = norm = np.sqrt(gsq)
            if not np.isfinite(loss + norm):
                return loss_sum, EPOCH_NONFINITE_GRAD
            scale = clip / norm if clip > 0 and norm > clip else 1.0
            if self.adam:
                self.adam_steps += 1
                step = self.adam_steps
                lr, b1, b2 = s["learning_rate_init"], s["beta_1"], s["beta_2"]
                lr_t = lr * np.sqrt(1 - b2**step) / (1 - b1**step)
                ok = _step.adam_update(theta, grad, t(scale), mom1, mom2, t(b1), t(1 - b1),
                                       t(b2), t(1 - b2), lr_t, t(s["epsilon"]),
                                       np.empty_like(theta))
            else:
                ok = _step.sgd_update(theta, grad, t(scale), mom1, t(s["momentum"]),
                                      t(learning_rate), bool(s["nesterov"]),
                                      np.empty_like(theta))
            if not ok:
                return loss_sum, EPOCH_NONFINITE_STEP
            loss_sum += loss * len(idx)
            self.steps_done += 1
        return loss_sum, EPOCH_OK


def _use_reference_trainer(monkeypatch):
    make = est_module._BaseRNN._make_trainer
    monkeypatch.setattr(est_module._BaseRNN, "_make_trainer",
                        lambda self: _ReferenceTrainer(make(self)))


def _ragged_classification(n=90, F=2, seed=1):
    rng = np.random.default_rng(seed)
    X = [rng.standard_normal((rng.integers(2, 9), F)).astype(np.float32) for _ in range(n)]
    y = rng.integers(0, 3, n)
    return X, y


@no_convergence_warning
@pytest.mark.parametrize("case", [
    "adam-clip-shuffle-float64", "adam-ragged-float32-bptt", "sgd-nesterov-invscaling-weights",
    "sgd-plain-noshuffle-multioutput", "adam-stacked-relu-rest-of-one"])
@pytest.mark.filterwarnings("ignore:bptt_steps=.*get no gradient:UserWarning")
def test_epoch_matches_the_loop_of_single_steps(monkeypatch, case):
    """The compiled epoch (gather, step, clipping, learning rate, update, for every batch)
    gives the same bits as the loop of single steps of _ReferenceTrainer."""
    sw = None
    if case == "adam-clip-shuffle-float64":
        X, y = _toy_classification(n=130)
        est = RNNClassifier(hidden_layer_sizes=5, batch_size=40, clip_norm=0.05, max_iter=4,
                            random_state=0)
    elif case == "adam-ragged-float32-bptt":
        X, y = _ragged_classification()
        est = RNNClassifier(hidden_layer_sizes=6, activation="tanh", batch_size=32,
                            bptt_steps=3, max_iter=4, random_state=1)
    elif case == "sgd-nesterov-invscaling-weights":
        X, y = _toy_classification(n=100)
        sw = np.random.default_rng(2).uniform(0.1, 3.0, len(y))
        est = RNNClassifier(hidden_layer_sizes=4, solver="sgd", learning_rate="invscaling",
                            batch_size=30, max_iter=4, random_state=2)
    elif case == "sgd-plain-noshuffle-multioutput":
        X, y = _toy_regression(n=70, n_outputs=2)
        est = RNNRegressor(hidden_layer_sizes=3, solver="sgd", momentum=0.0, shuffle=False,
                           nesterovs_momentum=False, batch_size=25, max_iter=4, alpha=0.01,
                           random_state=3)
    else:
        X, y = _toy_regression(n=61)
        est = RNNRegressor(hidden_layer_sizes=(4, 3), activation="relu", batch_size=30,
                           max_iter=4, random_state=4)
    fused = clone(est).fit(X, y, sample_weight=sw)
    _use_reference_trainer(monkeypatch)
    loop = clone(est).fit(X, y, sample_weight=sw)
    assert fused.n_iter_ == loop.n_iter_ == 4
    assert_array_equal(fused._theta, loop._theta)
    assert fused.loss_curve_ == loop.loss_curve_
    assert fused.grad_norm_curve_ == loop.grad_norm_curve_
    assert fused._optimizer.__dict__.keys() == loop._optimizer.__dict__.keys()
    for key, value in fused._optimizer.__dict__.items():
        if isinstance(value, np.ndarray):
            assert_array_equal(value, loop._optimizer.__dict__[key])
        elif key != "_work":
            assert value == loop._optimizer.__dict__[key], key
    opt = fused._optimizer
    if est.solver == "adam":
        # the step count and the bias-corrected rate of the last step, as scikit-learn's
        n_batches = -(-len(y) // est.batch_size)
        assert opt.t == 4 * n_batches
        assert opt.learning_rate == (est.learning_rate_init * np.sqrt(1 - est.beta_2**opt.t)
                                     / (1 - est.beta_1**opt.t))


@pytest.mark.parametrize("where", ["in the gradient", "after an update"])
def test_epoch_divergence_matches_the_loop_of_single_steps(monkeypatch, where):
    """A non-finite gradient (no update) or update (theta kept) stops the epoch with the
    same error and leaves the same weights and optimizer state as the loop of single steps."""
    X, y = _toy_regression()
    if where == "in the gradient":
        X = 1e6 * X
        y = 1e6 * y
        est = RNNRegressor(hidden_layer_sizes=8, activation="relu", solver="sgd",
                           learning_rate_init=10.0, clip_norm=None, max_iter=50,
                           random_state=0)
    else:
        y = 1e3 * y                            # gradient ~1e3: the first step overflows
        est = RNNRegressor(hidden_layer_sizes=4, solver="sgd", momentum=0.0,
                           learning_rate_init=1e308, clip_norm=None, max_iter=5,
                           random_state=0)
    results = []
    for reference in (False, True):
        if reference:
            _use_reference_trainer(monkeypatch)
        reg = clone(est)
        with pytest.raises(ValueError, match=f"diverged.*{where}"):
            reg.fit(X, y)
        assert np.all(np.isfinite(reg._theta))
        results.append(reg)
    fused, loop = results
    assert_array_equal(fused._theta, loop._theta)
    assert_array_equal(fused._optimizer.velocity, loop._optimizer.velocity)
    assert fused.loss_curve_ == loop.loss_curve_


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_keyboard_interrupt_keeps_last_completed_step(monkeypatch, solver):
    """Ctrl-C after step 4 of 6 (3 per epoch): a warning, one completed epoch, the weights
    and optimizer state of step 4 (those of the loop of single steps stopped there)."""
    X, y = _toy_classification()
    est = RNNClassifier(hidden_layer_sizes=3, solver=solver, max_iter=50, batch_size=40,
                        random_state=0)
    results = {}
    make = est_module._BaseRNN._make_trainer
    for name in ("fused", "loop"):
        calls = {"n": 0}

        def interrupt_at_step_4(steps_done, calls=calls):
            # called before each step: an interrupt before the second step of epoch 2
            calls["n"] += steps_done == 0
            if calls["n"] == 2 and steps_done == 1:
                raise KeyboardInterrupt

        def make_interrupted(self, name=name, hook=interrupt_at_step_4):
            trainer = make(self) if name == "fused" else _ReferenceTrainer(make(self))
            trainer.step_callback = hook
            return trainer

        monkeypatch.setattr(est_module._BaseRNN, "_make_trainer", make_interrupted)
        clf = clone(est)
        with pytest.warns(UserWarning, match="interrupted"):
            clf.fit(X, y)
        assert calls["n"] == 2
        assert clf.n_iter_ == 1
        assert np.all(np.isfinite(clf.predict_proba(X)))
        results[name] = clf
    assert_array_equal(results["fused"]._theta, results["loop"]._theta)
    if solver == "adam":
        assert results["fused"]._optimizer.t == results["loop"]._optimizer.t == 4
        assert_array_equal(results["fused"]._optimizer.m, results["loop"]._optimizer.m)
    else:
        assert_array_equal(results["fused"]._optimizer.velocity,
                           results["loop"]._optimizer.velocity)
    # one epoch and one step of the next: not the weights after one epoch
    one_epoch = clone(est).set_params(max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one_epoch.fit(X, y)
    assert not np.array_equal(one_epoch._theta, results["fused"]._theta)


def test_real_ctrl_c_stops_fit():
    """A real SIGINT during a long fit is delivered between steps: fit returns, warns,
    and leaves finite weights that predict."""
    import os
    import signal
    import threading
    X, y = _toy_classification(n=400, T=20)
    clf = RNNClassifier(hidden_layer_sizes=16, max_iter=100_000, tol=0,
                        n_iter_no_change=np.inf, random_state=0)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.warns(UserWarning, match="interrupted"):
            clf.fit(X, y)
    except KeyboardInterrupt:        # escaped fit: a failure, not the end of the test run
        pytest.fail("KeyboardInterrupt escaped fit")
    finally:
        timer.cancel()
    assert 0 < clf.n_iter_ < 100_000
    assert np.all(np.isfinite(clf._theta))
    assert np.all(np.isfinite(clf.predict_proba(X)))


def test_divergence_raises_and_keeps_finite_weights():
    rng = np.random.default_rng(0)
    X = 1e6 * rng.standard_normal((50, 10, 2))
    y = 1e6 * rng.standard_normal(50)
    reg = RNNRegressor(hidden_layer_sizes=8, activation="relu", solver="sgd",
                       learning_rate_init=10.0, clip_norm=None, max_iter=50, random_state=0)
    with pytest.raises(ValueError, match="diverged.*learning_rate_init.*clip_norm"):
        reg.fit(X, y)
    assert np.all(np.isfinite(reg._theta))
    assert np.all(np.isfinite(reg.predict(X[:, :3] * 1e-6)))


@no_convergence_warning
def test_clip_norm_bounds_the_step():
    X, y = _toy_regression()
    y = 1e3 * y
    reg = RNNRegressor(hidden_layer_sizes=4, solver="sgd", momentum=0, clip_norm=0.5,
                       learning_rate_init=0.1, batch_size=len(X), max_iter=1,
                       shuffle=False, random_state=0)
    reg.fit(X, y)
    start = clone(reg).set_params(max_iter=1)
    start._random_state = np.random.RandomState(0)
    start._initialize(2, 1, np.float64)
    # one SGD step of a clipped gradient moves the weights by lr * clip_norm
    assert np.linalg.norm(reg._theta - start._theta) == pytest.approx(0.1 * 0.5, rel=1e-6)
    assert reg.grad_norm_curve_[0] > 0.5         # recorded before clipping


# ----------------------------------------------------------------------------- ecosystem
@no_convergence_warning
def test_pipeline_gridsearch_cross_val_pickle_joblib(tmp_path):
    X, y = _toy_classification(n=90, T=5, F=1)
    X2 = X[:, :, 0]                             # 2-D: scaled per column by StandardScaler
    pipe = make_pipeline(StandardScaler(), RNNClassifier(hidden_layer_sizes=4, max_iter=20,
                                                         random_state=0))
    pipe.fit(X2, y)
    assert pipe.score(X2, y) > 0.5
    search = GridSearchCV(RNNClassifier(max_iter=10, random_state=0),
                          {"hidden_layer_sizes": [(3,), (5,)]}, cv=3, n_jobs=2).fit(X, y)
    assert search.best_params_["hidden_layer_sizes"] in [(3,), (5,)]
    scores = cross_val_score(RNNRegressor(max_iter=10, random_state=0), *_toy_regression(),
                             cv=3)
    assert scores.shape == (3,)
    clf = search.best_estimator_
    restored = pickle.loads(pickle.dumps(clf))
    assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    joblib.dump(clf, tmp_path / "clf.joblib")
    assert_array_equal(joblib.load(tmp_path / "clf.joblib").predict(X), clf.predict(X))
    # coefs_ are views of the fitted parameters, also after unpickling
    restored.coefs_[-1][...] = 0
    restored.intercepts_[-1][...] = 0
    assert_allclose(restored.predict_proba(X), 1.0 / len(restored.classes_))


# ----------------------------------------------------------------------------- gradient flow
@pytest.mark.parametrize("activation", ACTIVATIONS)
@no_convergence_warning
def test_gradient_flow_matches_finite_differences(activation):
    # dL_i/dh_t is the gradient of the loss of the same model restarted at t+1 from h0=h_t:
    # a finite-difference reference through the slow numpy RNN.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 5, 2))
    y = np.array([0, 1, 2, 0, 1, 2])
    clf = RNNClassifier(hidden_layer_sizes=3, activation=activation, max_iter=5,
                        random_state=0).fit(X, y)
    W_in, W_rec, b = clf.coefs_[0], clf.recurrent_coefs_[0], clf.intercepts_[0]
    W_out, b_out = clf.coefs_[1], clf.intercepts_[1]
    H, _ = ref_forward(X, W_in, W_rec, b, activation=activation)

    def loss(i, t, h):
        if t + 1 < X.shape[1]:
            h = ref_forward(X[i:i + 1], W_in, W_rec, b, h0=h[None], activation=activation,
                            t_start=t + 1)[0][0, -1]
        z = h @ W_out + b_out
        return np.log(np.exp(z - z.max()).sum()) + z.max() - z[y[i]]

    expected = np.zeros(X.shape[1])
    eps = 1e-6
    for t in range(X.shape[1]):
        for i in range(X.shape[0]):
            g = np.zeros(3)
            for k in range(3):
                e = np.zeros(3)
                e[k] = eps
                g[k] = (loss(i, t, H[i, t] + e) - loss(i, t, H[i, t] - e)) / (2 * eps)
            expected[t] += np.linalg.norm(g) / X.shape[0]
    assert_allclose(gradient_flow(clf, X, y), expected, rtol=1e-6, atol=1e-12)


@no_convergence_warning
def test_gradient_flow_vanishes_faster_with_sigmoid():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 40, 1))
    y = (X[:, -1, 0] > 0).astype(int)
    ratio = {}
    for activation in ("sigmoid", "tanh"):
        clf = RNNClassifier(hidden_layer_sizes=8, activation=activation, max_iter=5,
                            random_state=0).fit(X, y)
        norms = gradient_flow(clf, X, y)
        assert norms.shape == (40,)
        ratio[activation] = norms[0] / norms[-1]
    assert ratio["sigmoid"] < ratio["tanh"]
    with pytest.raises(ValueError, match="out of range"):
        gradient_flow(clf, X, y, layer=1)


def test_public_api():
    assert sigcy.RNNClassifier is RNNClassifier
    assert sigcy.RNNRegressor is RNNRegressor
    assert sigcy.gradient_flow is gradient_flow


@pytest.mark.parametrize("Est", [RNNClassifier, RNNRegressor])
def test_failed_refit_keeps_the_fitted_model(Est):
    # A fit that fails validation leaves the previous model whole: its weights and what
    # describes them (n_features_in_, classes_, the targets' shape) still agree.
    X, y = _toy_classification(n=40, T=5, F=2) if Est is RNNClassifier else _toy_regression(
        n=40, T=5, F=2)
    model = Est(hidden_layer_sizes=3, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    before = model.predict(X)
    wide = np.ones((2, 1, 40))
    with pytest.raises(ValueError):
        # one class (classifier) / a sample_weight of the wrong length (regressor)
        model.fit(wide, ["a", "a"]) if Est is RNNClassifier else model.fit(
            wide, np.ones((2, 3)), sample_weight=np.ones(3))
    assert model.n_features_in_ == 2
    with pytest.raises(ValueError, match="features"):
        model.predict(wide)
    after = model.predict(X)
    assert after.shape == before.shape
    assert_array_equal(after, before)
    if Est is RNNClassifier:
        with pytest.raises(ValueError, match="sample_weight|samples"):
            model.fit(X[:3], ["a", "b", "c"], sample_weight=np.ones(4))
        assert_array_equal(model.classes_, ["neg", "pos"])
        assert_array_equal(model.predict(X), before)
    # the weights cannot be built (MemoryError): the old model is whole too
    with pytest.raises(MemoryError):
        model.set_params(hidden_layer_sizes=(10**6,)).fit(X, y)
    assert_array_equal(model.predict(X), before)
    assert model._hidden_sizes_ == [3]
    # never fitted: a failed fit leaves nothing behind
    fresh = Est()
    with pytest.raises(ValueError):
        fresh.fit(X, y, sample_weight=np.ones(3))
    assert not hasattr(fresh, "n_features_in_")


@pytest.mark.parametrize("Est", [RNNClassifier, RNNRegressor])
def test_partial_fit_refuses_early_stopping_at_once(Est):
    X, y = _toy_classification() if Est is RNNClassifier else _toy_regression()
    kwargs = {"classes": ["neg", "pos"]} if Est is RNNClassifier else {}
    model = Est(early_stopping=True)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        model.partial_fit(X, y, **kwargs)
    assert not hasattr(model, "n_features_in_")


def test_warm_start_takes_new_optimizer_settings():
    X, y = _toy_classification()
    model = RNNClassifier(hidden_layer_sizes=3, max_iter=1, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
        theta = model._theta.copy()
        # a learning rate of 1e-12 barely moves the weights (the old Adam, at 5e-3, by ~1e-2)
        model.set_params(learning_rate_init=1e-12, alpha=0.0).fit(X, y)
        assert 0 < np.max(np.abs(model._theta - theta)) < 1e-9
        # a setting of the other solver does not reset this one's state
        adam = model._optimizer
        model.set_params(momentum=0.5, power_t=0.3).fit(X, y)
        assert model._optimizer is adam and adam.t == 2   # its first fit and this one
        model.set_params(solver="sgd").fit(X, y)
    assert isinstance(model._optimizer, est_module.SGDOptimizer)


def test_zero_features_refused():
    y = np.array([0, 1] * 5)
    for Est in (RNNClassifier, RNNRegressor):
        with pytest.raises(ValueError, match="0 feature"):
            Est(max_iter=1).fit(np.zeros((10, 3, 0)), y)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_mini_batch_with_zero_weight_sum_is_named(solver):
    X, y = _toy_classification(n=40)
    w = np.r_[np.zeros(10), np.ones(30)]
    model = RNNClassifier(hidden_layer_sizes=3, max_iter=2, batch_size=10, shuffle=False,
                          solver=solver, random_state=0)
    with pytest.raises(ValueError, match="mini-batch sum to zero .batch 1 of 4"):
        model.fit(X, y, sample_weight=w)
    # signed weights that cancel exactly, in a batch of their own
    w = np.r_[[1.0, -1.0], np.ones(38)]
    with pytest.raises(ValueError, match="sum to zero"):
        model.set_params(batch_size=2).fit(X, y, sample_weight=w)
    # with early stopping the message names the caller's samples, not training positions
    w = np.ones(40)
    w[[7, 23]] = 0.0
    es = RNNClassifier(hidden_layer_sizes=3, max_iter=2, batch_size=1, early_stopping=True,
                       validation_fraction=0.25, random_state=0, solver=solver)
    with pytest.raises(ValueError, match=r"samples array\(\[(7|23)\]\)"):
        es.fit(X, y, sample_weight=w)
    # some zero weights, every batch with a positive sum: fits
    w = np.r_[np.zeros(5), np.ones(35)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.set_params(batch_size=10).fit(X, y, sample_weight=w)
    assert np.all(np.isfinite(model._theta))


def test_lbfgs_weights_summing_to_zero_and_its_divergence_message():
    X, y = _toy_regression(n=20)
    with pytest.raises(ValueError, match="sample weights sum to zero"):
        RNNRegressor(solver="lbfgs").fit(X, y, sample_weight=np.r_[np.ones(10), -np.ones(10)])
    model = RNNRegressor(hidden_layer_sizes=3, solver="lbfgs")
    with pytest.raises(ValueError, match="diverged") as info:
        model._check_finite(np.nan, None, "L-BFGS")
    assert "learning_rate_init" not in str(info.value)
    assert "learning_rate_init" in str(pytest.raises(
        ValueError, RNNRegressor()._check_finite, np.nan, None, "x").value)


def test_bptt_steps_warns_when_short_sequences_get_no_gradient():
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((T, 2)) for T in (9, 9, 3, 9, 8, 9)]
    y = [0, 1, 0, 1, 0, 1]
    model = RNNRegressor(hidden_layer_sizes=3, max_iter=1, bptt_steps=4)
    # windows [0, 4), [4, 8), [8, 9): lengths 3 and 8 end before step 8 (9 does not)
    with pytest.warns(UserWarning, match="2 of the 6 sequences end before the last window"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.set_params(bptt_steps=9).fit(X, y)      # one window: no warning
