"""sigcy.datasets: the generators' definitions checked from the arrays, and what RNNs learn."""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from sigcy import RNNClassifier, RNNRegressor
from sigcy.datasets import (
    TEMPORAL_ORDER_SYMBOLS,
    load_digits_sequences,
    make_adding_problem,
    make_temporal_order,
)


def test_adding_problem_definition():
    X, y = make_adding_problem(n_samples=500, n_timesteps=21, random_state=0)
    assert X.shape == (500, 21, 2) and y.shape == (500,)
    values, markers = X[:, :, 0], X[:, :, 1]
    assert np.all((values >= 0) & (values <= 1))
    assert set(np.unique(markers)) == {0.0, 1.0}
    for i in range(500):
        (first, second) = np.flatnonzero(markers[i])
        assert first < 10 <= second                     # one in each half
        assert y[i] == values[i, first] + values[i, second]
    # the positions cover both halves
    positions = np.argmax(markers, axis=1)
    assert len(np.unique(positions)) == 10


def test_temporal_order_definition():
    T = 50
    X, y = make_temporal_order(n_samples=400, n_timesteps=T, random_state=0)
    assert X.shape == (400, T, len(TEMPORAL_ORDER_SYMBOLS))
    assert_array_equal(X.sum(axis=2), 1.0)
    symbols = np.array(TEMPORAL_ORDER_SYMBOLS)[X.argmax(axis=2)]
    assert np.all(symbols[:, 0] == "B") and np.all(symbols[:, -1] == "E")
    for i in range(400):
        where = np.flatnonzero(np.isin(symbols[i], ["X", "Y"]))
        assert len(where) == 2
        t1, t2 = where
        assert 0.1 * T <= t1 <= 0.2 * T and 0.5 * T <= t2 <= 0.6 * T
        pair = symbols[i, t1] + symbols[i, t2]
        assert y[i] == ["XX", "XY", "YX", "YY"].index(pair)
    assert np.all(np.bincount(y, minlength=4) > 60)    # roughly balanced


@pytest.mark.parametrize("make", [make_adding_problem, make_temporal_order])
def test_generators_are_reproducible_and_check_arguments(make):
    a = make(n_samples=20, n_timesteps=30, random_state=3)
    b = make(n_samples=20, n_timesteps=30, random_state=np.random.RandomState(3))
    c = make(n_samples=20, n_timesteps=30, random_state=4)
    assert_array_equal(a[0], b[0])
    assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        make(n_samples=0)
    with pytest.raises(ValueError, match="n_timesteps must be >="):
        make(n_timesteps=1)
    with pytest.raises(TypeError, match="n_timesteps must be an int"):
        make(n_timesteps=20.5)


def test_load_digits_sequences():
    digits = load_digits()
    data = load_digits_sequences()
    assert data.data.shape == (1797, 8, 8)
    # step t of sequence i is row t of image i, divided by 16
    assert_array_equal(data.data * 16, digits.images)
    assert_array_equal(data.data.reshape(1797, 64) * 16, digits.data)
    X, y = load_digits_sequences(return_X_y=True)
    assert_array_equal(X, data.data)
    assert_array_equal(y, digits.target)
    assert "sequences" in data.DESCR


# How far back can each activation learn?  Measured with benchmarks/long_range.py; here a
# short-horizon check that every activation learns the adding problem at T=10 (the baseline,
# predicting the mean, has MSE 1/6), and that tanh solves temporal order at T=20.
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_rnns_learn_the_short_adding_problem(activation):
    X, y = make_adding_problem(n_samples=2000, n_timesteps=10, random_state=0)
    reg = RNNRegressor(hidden_layer_sizes=32, activation=activation, batch_size=50,
                       max_iter=60, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X[:1500], y[:1500])
    mse = np.mean((reg.predict(X[1500:]) - y[1500:]) ** 2)
    assert mse < 0.1 / 6, mse


def test_rnn_learns_short_temporal_order():
    X, y = make_temporal_order(n_samples=1500, n_timesteps=20, random_state=0)
    clf = RNNClassifier(hidden_layer_sizes=32, activation="tanh", batch_size=50,
                        max_iter=60, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X[:1000], y[:1000])
    assert clf.score(X[1000:], y[1000:]) > 0.9
