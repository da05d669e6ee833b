"""The compiled pieces of the estimators' training step (sigcy/_core/_step.pyx, sigcy/_optimizers.py).

References: scikit-learn's own optimizers (sklearn.neural_network._stochastic_optimizers),
which the updates must reproduce bit for bit, and scipy/numpy formulas for the losses.
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import log_expit, log_softmax, softmax
from sklearn.neural_network import _stochastic_optimizers as sk_opt

from sigcy._core import _step as _train
from sigcy._optimizers import AdamOptimizer, SGDOptimizer

DTYPES = [np.float64, np.float32]


def _params(dtype, n=257, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 0.37])
def test_adam_matches_scikit_learn_bitwise(dtype, scale):
    if dtype == np.float32 and np.lib.NumpyVersion(np.__version__) < "2.0.0":
        # numpy 1.x computes scikit-learn's (float64 scalar) * (float32 array) in float32;
        # numpy 2 (NEP 50), as sigcy, in float64
        pytest.skip("scikit-learn's float32 Adam step depends on numpy's promotion rules")
    theta = _params(dtype)
    ours = AdamOptimizer(theta.size, dtype, learning_rate_init=0.01)
    ref_param = theta.copy()
    ref = sk_opt.AdamOptimizer([ref_param], learning_rate_init=0.01)
    rng = np.random.default_rng(1)
    for _ in range(5):
        grad = rng.standard_normal(theta.size).astype(dtype)
        assert ours.update(theta, grad, scale)
        ref.update_params([ref_param], [grad * dtype(scale)])
        assert theta.dtype == dtype
        assert_array_equal(theta, ref_param)
    assert ours.learning_rate == ref.learning_rate


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nesterov", [True, False])
def test_sgd_matches_scikit_learn_bitwise(dtype, nesterov):
    theta = _params(dtype)
    ours = SGDOptimizer(theta.size, dtype, learning_rate_init=0.05, momentum=0.8,
                        nesterov=nesterov)
    ref_param = theta.copy()
    ref = sk_opt.SGDOptimizer([ref_param], learning_rate_init=0.05, momentum=0.8,
                              nesterov=nesterov)
    rng = np.random.default_rng(2)
    for _ in range(5):
        grad = rng.standard_normal(theta.size).astype(dtype)
        assert ours.update(theta, grad, 0.5)
        ref.update_params([ref_param], [grad * dtype(0.5)])
        assert_array_equal(theta, ref_param)


@pytest.mark.parametrize("make", [
    lambda n, dt: AdamOptimizer(n, dt, learning_rate_init=1e30),
    lambda n, dt: SGDOptimizer(n, dt, learning_rate_init=1e30, momentum=0.0),
])
def test_update_is_all_or_nothing(make):
    # a step that would overflow one parameter leaves every parameter as it was
    theta = _params(np.float64, n=50)
    before = theta.copy()
    grad = np.zeros_like(theta)
    grad[7] = 1e300
    opt = make(theta.size, theta.dtype)
    assert not opt.update(theta, grad)
    assert_array_equal(theta, before)
    grad[7] = np.nan
    assert not opt.update(theta, grad)
    assert_array_equal(theta, before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_classes", [1, 2, 5])
def test_cross_entropy(dtype, weighted, n_classes):
    rng = np.random.default_rng(n_classes)
    n = 37
    Z = (3 * rng.standard_normal((n, n_classes))).astype(dtype)
    Z[0] = 40.0                      # saturated logits: the loss stays finite and exact
    labels = rng.integers(0, max(n_classes, 2), n)
    if n_classes == 1:
        Y = labels[:, None].astype(dtype)
    else:
        Y = np.eye(n_classes, dtype=dtype)[labels]
    w = rng.uniform(0.1, 2, n) if weighted else np.full(n, 1.0)
    w /= w.sum()
    dZ = np.empty_like(Z)
    db = np.empty(n_classes, dtype)
    loss = _train.cross_entropy(Z, Y, w.astype(dtype) if weighted else None, dZ, db)
    Z64 = Z.astype(np.float64)
    if n_classes == 1:
        z = Z64[:, 0]
        per = -(Y[:, 0] * log_expit(z) + (1 - Y[:, 0]) * log_expit(-z))
        P = 1 / (1 + np.exp(-Z64))
    else:
        per = -(Y * log_softmax(Z64, axis=1)).sum(axis=1)
        P = softmax(Z64, axis=1)
    rtol = 1e-12 if dtype == np.float64 else 2e-6
    assert_allclose(loss, np.dot(w, per), rtol=rtol)
    assert_allclose(dZ, (P - Y) * w[:, None], rtol=rtol * 10, atol=rtol * 1e-3)
    assert_allclose(db, dZ.astype(np.float64).sum(axis=0), rtol=rtol * 10,
                    atol=rtol * 1e-2)


def test_cross_entropy_propagates_nan():
    Z = np.array([[0.0, np.nan, 1.0], [0.0, 1.0, 2.0]])
    Y = np.eye(3)[[0, 2]]
    dZ = np.empty_like(Z)
    assert np.isnan(_train.cross_entropy(Z, Y, None, dZ))
    assert np.all(np.isnan(dZ[0])) and np.all(np.isfinite(dZ[1]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_squared_error(dtype, weighted):
    rng = np.random.default_rng(3)
    n, C = 29, 3
    Z = rng.standard_normal((n, C)).astype(dtype)
    Y = rng.standard_normal((n, C)).astype(dtype)
    w = rng.uniform(0.1, 2, n) if weighted else np.full(n, 1.0)
    w /= w.sum()
    dZ = np.empty_like(Z)
    db = np.empty(C, dtype)
    loss = _train.squared_error(Z, Y, w.astype(dtype) if weighted else None, dZ, db)
    D = Z.astype(np.float64) - Y
    rtol = 1e-12 if dtype == np.float64 else 2e-6
    assert_allclose(loss, np.dot(w, 0.5 * (D * D).mean(axis=1)), rtol=rtol)
    assert_allclose(dZ, D * w[:, None] / C, rtol=rtol * 10)
    assert_allclose(db, dZ.astype(np.float64).sum(axis=0), rtol=rtol * 10, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_add_l2(dtype):
    theta = _params(dtype, n=40, seed=4)
    grad = _params(dtype, n=40, seed=5)
    ranges = np.array([[0, 10], [25, 38]], dtype=np.intp)
    expected = grad.astype(np.float64)
    mask = np.zeros(40, bool)
    mask[0:10] = mask[25:38] = True
    expected[mask] += 0.25 * theta[mask]
    sq, gsq = _train.add_l2(theta, grad, ranges, dtype(0.25))
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    assert_allclose(grad, expected, rtol=rtol)
    assert_allclose(sq, np.sum(theta[mask].astype(np.float64) ** 2), rtol=rtol)
    assert_allclose(gsq, np.sum(grad.astype(np.float64) ** 2), rtol=rtol)
