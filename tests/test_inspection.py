"""sigcy.inspection.gradient_flow against a slow numpy recursion (the reference below)."""
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from sigcy import RNNClassifier, RNNRegressor, gradient_flow
from sigcy.rnn import elman_backward

ACTIVATIONS = ["sigmoid", "tanh", "relu"]


def _gradient_flow_reference(estimator, X, y, layer=-1):
    """gradient_flow's documented result, one step at a time in numpy (the implementation
    before gradient_flow went through the compiled backward pass)."""
    seq = estimator._validate_X(X, reset=False)
    Y = np.ascontiguousarray(estimator._validate_y(y, len(seq), False, False, None),
                             dtype=estimator._theta.dtype)
    n_rec = estimator.n_layers_ - 1
    layer %= n_rec
    W_in, W_rec, _ = estimator._views(estimator._theta)
    states, Z = estimator._forward(seq, estimator._theta)
    _, dZ = estimator._output_loss_grad(Z, Y, None)
    dZ *= Z.shape[0]
    dH = np.zeros_like(states[-1])
    dH[:, -1] = dZ @ W_in[-1].T
    for i in reversed(range(layer + 1, n_rec)):
        dH = elman_backward(states[i - 1], states[i], dH, W_in[i], W_rec[i],
                            activation=estimator.activation, lengths=seq.lengths,
                            bptt_steps=estimator.bptt_steps)[0]
    # g_t = dH_t + [dA_{t+1} @ W_rec^T], dA_t = g_t * act'(H_t)
    H = states[layer]
    n, T, _ = H.shape
    lengths = np.full(n, T) if seq.lengths is None else seq.lengths
    act = estimator.activation
    Wt = W_rec[layer].T
    norms = np.empty((n, T))
    carry = np.zeros_like(dH[:, 0])
    for t in reversed(range(T)):
        g = dH[:, t] + carry
        norms[:, t] = np.linalg.norm(g, axis=1)
        h = H[:, t]
        d = h * (1 - h) if act == "sigmoid" else (1 - h * h if act == "tanh" else (h > 0))
        real = (t < lengths)[:, None]
        # a carried copy (t >= length) passes its gradient on to the previous step unchanged
        carry = np.where(real, (g * d) @ Wt, g)
        if estimator.bptt_steps is not None and t % estimator.bptt_steps == 0:
            carry = np.zeros_like(carry)
    return norms.mean(axis=0)


_FITTED = {}


def _fitted(kind, activation, hidden, dtype):
    """A model fitted for a few epochs (shared by the parametrized cases), X, y."""
    key = (kind, activation, hidden, dtype)
    if key not in _FITTED:
        rng = np.random.default_rng(len(_FITTED))
        X = rng.standard_normal((40, 13, 3)).astype(dtype)
        Est = RNNClassifier if kind == "classifier" else RNNRegressor
        y = (X[:, :, 0].sum(axis=1) > 0).astype(int) if kind == "classifier" else X[:, 0, 1]
        with pytest.warns(ConvergenceWarning):
            est = Est(hidden_layer_sizes=hidden, activation=activation, max_iter=3,
                      random_state=0).fit(X, y)
        _FITTED[key] = est, X, y
    return _FITTED[key]


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind, hidden, layer", [("classifier", (6,), -1),
                                                 ("regressor", (5, 4), -1),
                                                 ("regressor", (5, 4), 0),
                                                 ("classifier", (4, 3, 5), 1)])
@pytest.mark.parametrize("bptt_steps", [None, 1, 4, 13])
@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradient_flow_matches_numpy_recursion(activation, kind, hidden, layer, bptt_steps,
                                               ragged, dtype):
    est, X, y = _fitted(kind, activation, hidden, dtype)
    est.set_params(bptt_steps=bptt_steps)
    if ragged:      # lengths 1 .. 13: carried steps, some of them across window starts
        X = [X[i, : 1 + i % X.shape[1]] for i in range(X.shape[0])]
    got = gradient_flow(est, X, y, layer=layer)
    expected = _gradient_flow_reference(est, X, y, layer=layer)
    assert got.dtype == np.float64 and got.shape == (13,)
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    assert_allclose(got, expected, rtol=rtol, atol=0)
    assert got[-1] > 0
