"""A slow, obviously-correct Elman RNN in numpy: one sample, one time step at a time.

Written from the definitions in sigcy.rnn's docstrings, independently of the compiled code:
the derivative of the activation is taken from the recomputed pre-activation z, the chain
rule is applied per sample and per step with explicit outer products.  Always float64.
"""
import numpy as np


def act(name, z):
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.where(z > 0, z, 0.0 * z)   # 0 * NaN keeps NaN
    raise ValueError(name)


def act_derivative(name, z):
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "relu":
        return (z > 0).astype(float)
    raise ValueError(name)


def forward(X, W_in, W_rec, b, h0=None, activation="sigmoid", lengths=None,
            t_start=0, t_stop=None):
    """States H[:, t_start:t_stop], starting from h0 = the state at t_start - 1.

    Returns (H, Z) with Z the pre-activations (NaN where the state is carried).
    """
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_timesteps, _ = X.shape
    n_hidden = W_in.shape[1]
    t_stop = n_timesteps if t_stop is None else t_stop
    if lengths is None:
        lengths = [n_timesteps] * n_samples
    H = np.zeros((n_samples, t_stop - t_start, n_hidden))
    Z = np.full_like(H, np.nan)
    for i in range(n_samples):
        h = np.zeros(n_hidden) if h0 is None else np.asarray(h0[i], dtype=np.float64)
        for t in range(t_start, t_stop):
            if t < lengths[i]:
                z = X[i, t] @ W_in + h @ W_rec + b
                Z[i, t - t_start] = z
                h = act(activation, z)
            H[i, t - t_start] = h
    return H, Z


def backward(X, dH, W_in, W_rec, b, h0=None, activation="sigmoid", lengths=None,
             bptt_steps=None):
    """(dX, dW_in, dW_rec, db, dh0) of the loss with dL/dH = dH, by the chain rule."""
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_timesteps, n_features = X.shape
    n_hidden = W_in.shape[1]
    if lengths is None:
        lengths = [n_timesteps] * n_samples
    H, Z = forward(X, W_in, W_rec, b, h0, activation, lengths)
    dX = np.zeros_like(X)
    dW_in = np.zeros((n_features, n_hidden))
    dW_rec = np.zeros((n_hidden, n_hidden))
    db = np.zeros(n_hidden)
    dh0 = np.zeros((n_samples, n_hidden))
    for i in range(n_samples):
        g_future = np.zeros(n_hidden)       # dL/dH[i, t] through H[i, t+1]
        for t in range(n_timesteps - 1, -1, -1):
            g = dH[i, t] + g_future
            if t > 0:
                h_prev = H[i, t - 1]
            else:
                h_prev = np.zeros(n_hidden) if h0 is None else h0[i]
            if t < lengths[i]:
                dz = g * act_derivative(activation, Z[i, t])
                dX[i, t] = W_in @ dz
                dW_in += np.outer(X[i, t], dz)
                dW_rec += np.outer(h_prev, dz)
                db += dz
                g_prev = W_rec @ dz
            else:                           # H[i, t] = H[i, t-1]
                g_prev = g
            if bptt_steps is not None and t % bptt_steps == 0 and t > 0:
                g_prev = np.zeros(n_hidden)
            g_future = g_prev
        dh0[i] = g_future
    return dX, dW_in, dW_rec, db, dh0


def loss(X, W_in, W_rec, b, h0, dH, activation, lengths=None, bptt_steps=None, H_frozen=None):
    """sum(dH * H), whose gradient is what backward() returns.

    With bptt_steps, the state entering each window but the first is the constant
    H_frozen[:, start - 1] (the unperturbed forward pass): the loss whose exact gradient is
    the truncated-BPTT gradient.
    """
    n_timesteps = X.shape[1]
    if bptt_steps is None:
        H, _ = forward(X, W_in, W_rec, b, h0, activation, lengths)
        return float(np.sum(dH * H))
    total = 0.0
    for start in range(0, n_timesteps, bptt_steps):
        stop = min(start + bptt_steps, n_timesteps)
        h_start = h0 if start == 0 else H_frozen[:, start - 1]
        H, _ = forward(X, W_in, W_rec, b, h_start, activation, lengths, start, stop)
        total += float(np.sum(dH[:, start:stop] * H))
    return total
