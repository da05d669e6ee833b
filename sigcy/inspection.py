"""Inspection of fitted recurrent estimators: how the loss gradient flows back in time.

``gradient_flow`` (also ``sigcy.gradient_flow``) runs the estimator's forward pass and the
compiled backward pass of :mod:`sigcy.rnn`, and reports the mean gradient norm at every step.
"""
import numpy as np
from sklearn.utils.validation import check_is_fitted

from sigcy._network import _single_threaded_blas
from sigcy.rnn import ACTIVATIONS, _state_gradients, elman_backward

__all__ = ["gradient_flow"]


def gradient_flow(estimator, X, y, *, layer=-1):
    """Mean norm of the loss gradient with respect to each hidden state of a fitted model.

    For every time step ``t`` it returns the mean over the samples of ``||dL_i/dh_t||``,
    where ``L_i`` is sample ``i``'s own loss (cross-entropy or half squared error, without
    the L2 term) and ``h_t`` the state of one recurrent layer.  Plotted against ``t`` on a
    log scale it shows how fast gradients vanish (or explode) going back in time.

    Parameters
    ----------
    estimator : RNNClassifier or RNNRegressor
        A fitted estimator.
    X : array-like or list of arrays
        Input sequences, as the estimator's ``predict`` takes them.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets.
    layer : int, default=-1
        Which recurrent layer (the last, which feeds the output, by default).

    Returns
    -------
    norms : ndarray of shape (n_timesteps,)
        Mean gradient norm at each time step; ``norms[-1]`` is at the final state.  Sequences
        shorter than ``n_timesteps`` contribute their carried final state to the steps
        after their end (the gradient there is that of the final state).

    Raises
    ------
    ValueError
        If ``layer`` is not a recurrent layer of the model, or X or y do not match it.

    See Also
    --------
    sigcy.rnn.elman_backward : The backward pass whose recursion computes the gradients.

    Notes
    -----
    The gradients are those of training: the estimator's ``bptt_steps`` truncates them
    (nothing flows back across the start of a window), and the activation derivative is
    taken from the stored states as in :func:`sigcy.rnn.elman_backward`.  The chosen layer's
    recursion runs without flushing subnormal numbers to zero, so that small gradients are
    shown as they are.

    Examples
    --------
    >>> import numpy as np
    >>> from sigcy import RNNClassifier, gradient_flow
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 30, 1))
    >>> y = (X[:, -1, 0] > 0).astype(int)
    >>> clf = RNNClassifier(hidden_layer_sizes=8, tol=1e-2, random_state=0).fit(X, y)
    >>> norms = gradient_flow(clf, X, y)
    >>> norms.shape
    (30,)
    >>> bool(norms[0] < 1e-3 * norms[-1])    # sigmoid: vanished 30 steps back
    True
    """
    check_is_fitted(estimator, "_theta")
    seq = estimator._validate_X(X, reset=False)
    Y = np.ascontiguousarray(estimator._validate_y(y, len(seq), False, False, None),
                             dtype=estimator._theta.dtype)
    n_rec = estimator.n_layers_ - 1
    if not -n_rec <= layer < n_rec:
        raise ValueError(f"layer={layer} is out of range for {n_rec} recurrent layer(s).")
    layer %= n_rec
    theta = estimator._theta
    W_in, W_rec, _ = estimator._views(theta)
    lengths, bptt_steps = seq.lengths, estimator.bptt_steps
    with _single_threaded_blas():
        states, Z = estimator._forward(seq, theta)
        _, dZ = estimator._output_loss_grad(Z, Y, None)
        dZ *= Z.shape[0]           # per-sample losses, not their mean
        dH = np.zeros_like(states[-1])
        dH[:, -1] = dZ @ W_in[-1].T
        for i in reversed(range(layer + 1, n_rec)):
            dH = elman_backward(states[i - 1], states[i], dH, W_in[i], W_rec[i],
                                activation=estimator.activation, lengths=lengths,
                                bptt_steps=bptt_steps)[0]
        # the chosen layer's state gradients, from the compiled recursion itself
        G = _state_gradients(seq.X if layer == 0 else states[layer - 1], states[layer], dH,
                             W_in[layer], W_rec[layer], ACTIVATIONS[estimator.activation],
                             lengths, bptt_steps)
    return np.linalg.norm(G, axis=2).astype(np.float64).mean(axis=0)
