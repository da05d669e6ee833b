"""The estimators' network: the layout of its flat parameter vector, and its initialisation.

Also the one place where Python describes the network to the compiled layer:
``_make_trainer`` builds the ``sigcy._core._trainer.Trainer`` of a fit from the layout.

Every weight of a fitted model lives in one flat vector ``theta`` (what L-BFGS optimises
and the compiled training step updates in place).  The *layout* is a list of
``(name, layer, shape, start, stop)`` entries, one per array: for each recurrent layer
``i`` its ``"W_in"`` (n_in, n_hidden), ``"W_rec"`` (n_hidden, n_hidden) and ``"b"``
(n_hidden,), then the output layer's ``"W_in"`` and ``"b"``.  Fitted estimators store it as
``_layout`` (a plain list, so that old pickles keep loading).
"""
from numbers import Integral

import numpy as np
from threadpoolctl import ThreadpoolController

from sigcy._core._trainer import CELLS, Trainer
from sigcy.rnn import _blocks, _n_threads

_blas_controller = None


def _single_threaded_blas():
    """A context limiting numpy's BLAS to one thread (once per fit or predict call).

    The recurrences are sigcy's own kernels, whose bits do not depend on the thread count;
    the output layer's matrix products go through numpy's BLAS, whose multi-threaded GEMM
    may split sums differently for different thread counts.  The controller is built once
    (a fresh ``threadpool_limits`` scans the loaded libraries).
    """
    global _blas_controller
    if _blas_controller is None:
        _blas_controller = ThreadpoolController().select(user_api="blas")
    return _blas_controller.limit(limits=1)


def _hidden_sizes(hidden_layer_sizes):
    """The estimator parameter ``hidden_layer_sizes`` as a list of positive ints."""
    sizes = hidden_layer_sizes
    if isinstance(sizes, Integral) and not isinstance(sizes, (bool, np.bool_)):
        return [int(sizes)]
    sizes = list(sizes)
    if not sizes or any(not isinstance(s, Integral) or isinstance(s, (bool, np.bool_))
                        or s < 1 for s in sizes):
        raise ValueError(f"hidden_layer_sizes must be a positive int or a non-empty "
                         f"sequence of positive ints, got {hidden_layer_sizes!r}.")
    return [int(s) for s in sizes]


def _make_layout(hidden, n_in, n_outputs):
    """(layout, n_params): every parameter's place in the flat vector, for recurrent layers
    of ``hidden`` units on ``n_in`` input features and ``n_outputs`` output units."""
    layout = []
    offset = 0

    def add(name, layer, shape):
        nonlocal offset
        size = int(np.prod(shape))
        layout.append((name, layer, shape, offset, offset + size))
        offset += size

    prev = n_in
    for i, h in enumerate(hidden):
        add("W_in", i, (prev, h))
        add("W_rec", i, (h, h))
        add("b", i, (h,))
        prev = h
    add("W_in", len(hidden), (prev, n_outputs))
    add("b", len(hidden), (n_outputs,))
    return layout, offset


def _views(layout, flat):
    """(W_in list, W_rec list, b list) of views into a flat vector laid out as ``layout``;
    the output layer's W_in and b come last."""
    n_layers = sum(1 for entry in layout if entry[0] == "W_in")
    views = {"W_in": [None] * n_layers, "W_rec": [None] * (n_layers - 1),
             "b": [None] * n_layers}
    for name, layer, shape, start, stop in layout:
        views[name][layer] = flat[start:stop].reshape(shape)
    return views["W_in"], views["W_rec"], views["b"]


def _initial_theta(layout, activation, rng, dtype):
    """The initial flat parameter vector, in ``dtype``, drawn from the RandomState ``rng``.

    Glorot-uniform input weights and orthogonal recurrent weights, both times 4 for sigmoid
    (its slope at 0 is 1/4: the linearised step is then orthogonal, as for tanh);
    Glorot-uniform output weights; zero biases.  See RNNClassifier's Notes.  Drawn in
    float64, layer by layer (all input weights, then all recurrent ones), then cast.
    """
    theta = np.zeros(layout[-1][4], dtype=np.float64)
    W_in, W_rec, _ = _views(layout, theta)
    gain = 4.0 if activation == "sigmoid" else 1.0
    for i, W in enumerate(W_in):
        bound = np.sqrt(6.0 / (W.shape[0] + W.shape[1]))
        if i < len(W_rec):
            bound *= gain
        W[...] = rng.uniform(-bound, bound, W.shape)
    for W in W_rec:
        q, r = np.linalg.qr(rng.standard_normal(W.shape))
        W[...] = gain * q * np.where(np.diag(r) < 0, -1.0, 1.0)
    return theta.astype(dtype)


def _make_trainer(layout, n_outputs, act, cross_entropy, bptt_steps):
    """The compiled training step and epoch of the network of ``layout``: its layer table
    (offsets of W_in, W_rec and b, input and hidden sizes), the output layer's offsets, the
    L2 ranges (every weight matrix, no bias), and sigcy.rnn's thread and block policy for
    each batch shape."""
    offsets = {(name, layer): (start, shape) for name, layer, shape, start, _ in layout}
    n_rec = max(layer for _, layer, _, _, _ in layout)
    hidden = [offsets[("W_rec", i)][1][0] for i in range(n_rec)]
    layers = [(CELLS["elman"], offsets[("W_in", i)][0], offsets[("W_rec", i)][0],
               offsets[("b", i)][0], offsets[("W_in", i)][1][0], h)
              for i, h in enumerate(hidden)]
    l2_ranges = [(start, stop) for name, _, _, start, stop in layout if name != "b"]
    n_theta = max(stop for _, _, _, _, stop in layout)

    def blocks(n_samples, n_timesteps):
        n_threads = _n_threads(n_samples, n_timesteps, max(hidden))
        return n_threads, [_blocks(n_samples, h, n_threads) for h in hidden]

    return Trainer(layers, offsets[("W_in", n_rec)][0], offsets[("b", n_rec)][0], l2_ranges,
                   n_theta, n_outputs, act, cross_entropy,
                   0 if bptt_steps is None else bptt_steps, blocks)
