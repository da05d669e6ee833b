"""The estimators' training step and epoch: ``Trainer``, the compiled layer of ``fit``.

Design
------
- One ``Trainer`` per fit, built by ``sigcy/_network.py`` (the only Python that knows this
  layout) from the network: a table with a row per recurrent layer (its cell, the offsets of
  its weights and biases in the flat parameter vector ``theta``, its input and hidden sizes),
  the output layer's offsets, the L2 ranges, the activation and loss, the optimizer's
  hyperparameters.  It owns its workspace and the per-batch-size plans (block sizes and
  thread count, from the ``blocks`` callable that the Python layer gives).
- ``loss_grad``: one batch's loss and gradient in one call: the recurrent layers forward
  (``_elman.forward_run``), the output layer on the last layer's final state, its loss
  (``src/sigcy_train.h``), everything backward (``_elman.backward_run``), the L2 term.
- ``epoch``: every mini-batch of an epoch in one call, each a gather, ``loss_grad``'s work,
  clipping and the optimizer's step (``_rows.pxd``), all or nothing; the GIL is taken between
  steps so that a Ctrl-C (or an exception of ``step_callback``) stops after a whole step.

A new recurrent cell is a code and a branch in each function of the "cells" section below
(its parameter sizes, workspace, forward and backward runs), its loops in a module of its
own; the layer table names each layer's cell.
"""
from cpython.exc cimport PyErr_CheckSignals
from libc.math cimport isfinite, sqrt
from libc.string cimport memcpy

import numpy as np

from cython cimport floating

from sigcy._core._dispatch import LEVEL
from sigcy._core._checks cimport check_run
from sigcy._core._elman cimport backward_run, backward_scratch, forward_run, forward_scratch
from sigcy._core._gemm cimport gemm_tn, gemm_tn_work, pack, packed_size, pgemm, sigcy_gemm_set_level
from sigcy._core._pool cimport aligned64, round64
from sigcy._core._rows cimport (
    sigcy_adam_update_d, sigcy_adam_update_f, sigcy_rows_set_level, sigcy_sgd_update_d,
    sigcy_sgd_update_f,
)
from sigcy._core._step cimport (
    sigcy_add_l2_d, sigcy_add_l2_f, sigcy_adam_learning_rate, sigcy_cross_entropy_d,
    sigcy_cross_entropy_f, sigcy_squared_error_d, sigcy_squared_error_f, sigcy_sum_in_order,
)

sigcy_gemm_set_level(LEVEL)
sigcy_rows_set_level(LEVEL)


cdef enum:
    # columns of a plan's layer table, one row per recurrent layer
    _L_CELL = 0       # the layer's cell (CELL_*)
    _L_W_IN = 1       # offset of its input weights in theta
    _L_W_REC = 2      # offset of its recurrent weights
    _L_B = 3          # offset of its biases
    _L_N_IN = 4
    _L_N_HIDDEN = 5
    _L_ROW_BLOCK = 6  # the plan's blocks: samples per recursion block ...
    _L_GRAD_BLOCK = 7  # ... and rows of the recurrent weights' gradient per block
    _L_COLUMNS = 8

cdef enum:
    # the recurrent cells (sigcy._network's layer tables use the same codes)
    CELL_ELMAN = 0
    _N_CELLS = 1
CELLS = {"elman": CELL_ELMAN}


# ------------------------------------------------------------------------------------ cells
# What the trainer knows of each cell: the sizes of its parameters, its workspace, its
# forward and backward runs.  A new cell is a branch in each of these four functions (and
# its loops in a module of its own, as _elman).

cdef int _cell_sizes(Py_ssize_t cell, Py_ssize_t f, Py_ssize_t h,
                     Py_ssize_t *sizes) noexcept nogil:
    """sizes[0..3) = the values of the input weights, recurrent weights and biases of a
    layer of f inputs and h units; -1 for an unknown cell."""
    if cell == CELL_ELMAN:
        sizes[0] = f * h
        sizes[1] = h * h
        sizes[2] = h
        return 0
    return -1


cdef Py_ssize_t _cell_scratch(const Py_ssize_t *row, Py_ssize_t n_samples, int n_threads,
                              floating dummy) noexcept nogil:
    """Values of scratch a layer's forward and backward runs need (one region, reused)."""
    cdef Py_ssize_t f = row[_L_N_IN], h = row[_L_N_HIDDEN]
    if row[_L_CELL] == CELL_ELMAN:
        return max(forward_scratch(n_samples, f, h, dummy),
                   backward_scratch(f, h, row[_L_GRAD_BLOCK], n_threads, dummy))
    return 0


cdef void _cell_forward(const Py_ssize_t *row, const floating *inp, const floating *th,
                        const Py_ssize_t *lengths, floating *H, Py_ssize_t n_samples,
                        Py_ssize_t n_timesteps, int act, int n_threads, bint flush,
                        floating *scratch) noexcept nogil:
    """A layer's states H from its input sequences inp (initial state zero)."""
    if row[_L_CELL] == CELL_ELMAN:
        forward_run(inp, th + row[_L_W_IN], th + row[_L_W_REC], th + row[_L_B], NULL, lengths,
                    H, n_samples, n_timesteps, row[_L_N_IN], row[_L_N_HIDDEN], act,
                    row[_L_ROW_BLOCK], n_threads, flush, scratch)


cdef void _cell_backward(const Py_ssize_t *row, const floating *inp, const floating *H,
                         const floating *dH, const floating *th, floating *g,
                         const Py_ssize_t *lengths, Py_ssize_t bptt_steps, Py_ssize_t dh_from,
                         floating *dA, floating *carry, floating *dX, Py_ssize_t n_samples,
                         Py_ssize_t n_timesteps, int act, int n_threads, bint flush,
                         floating *scratch) noexcept nogil:
    """A layer's parameter gradients into g and the gradient dX reaching its input (NULL:
    not wanted), from dH (zero before step dh_from, not read)."""
    if row[_L_CELL] == CELL_ELMAN:
        backward_run(inp, H, dH, th + row[_L_W_IN], th + row[_L_W_REC], NULL, lengths,
                     bptt_steps, dh_from, dA, carry, dX, g + row[_L_W_IN], g + row[_L_W_REC],
                     g + row[_L_B], NULL, NULL, n_samples, n_timesteps, row[_L_N_IN],
                     row[_L_N_HIDDEN], act, row[_L_ROW_BLOCK], row[_L_GRAD_BLOCK], n_threads,
                     flush, scratch)


# ------------------------------------------------------------------------- training step


cdef Py_ssize_t _train_layout(const Py_ssize_t *layers, Py_ssize_t n_layers,
                              Py_ssize_t n_samples, Py_ssize_t n_timesteps,
                              Py_ssize_t n_outputs, int n_threads, Py_ssize_t *offsets,
                              floating dummy) noexcept nogil:
    """Offsets (in values, 64-value aligned) of the step's workspace regions, written
    to offsets[0 .. 2 * n_layers + 8): the states H_l of every layer, the gradients dX_l
    reaching layers 1.. from above, dA, carry, Z, dZ, the packed output weights (both ways),
    the recurrences' scratch (the largest any layer needs), then dH of the top layer (only
    its last step is written and read: the loss looks at the final state).  layers: the (n_layers,
    _L_COLUMNS) table, row-major.  Returns the total."""
    cdef Py_ssize_t l, off = 0, h_max = 1, f, h, scratch = 0
    cdef Py_ssize_t h_last = layers[(n_layers - 1) * _L_COLUMNS + _L_N_HIDDEN]
    cdef Py_ssize_t nt = n_samples * n_timesteps
    for l in range(n_layers):
        f = layers[l * _L_COLUMNS + _L_N_IN]
        h = layers[l * _L_COLUMNS + _L_N_HIDDEN]
        h_max = max(h_max, h)
        scratch = max(scratch, _cell_scratch(layers + l * _L_COLUMNS, n_samples, n_threads,
                                             dummy))
        offsets[l] = off                                      # H_l
        off += round64(nt * h)
        offsets[n_layers + l] = off                           # dX_l (l >= 1): (n, T, n_in)
        off += round64(nt * f) if l > 0 else 0
    offsets[2 * n_layers] = off                               # dA
    off += round64(nt * h_max)
    offsets[2 * n_layers + 1] = off                           # carry
    off += round64(2 * n_samples * h_max)
    offsets[2 * n_layers + 2] = off                           # Z
    off += round64(n_samples * n_outputs)
    offsets[2 * n_layers + 3] = off                           # dZ
    off += round64(n_samples * n_outputs)
    offsets[2 * n_layers + 4] = off                           # W_out packed
    off += round64(packed_size(h_last, n_outputs, dummy))
    offsets[2 * n_layers + 5] = off                           # W_out^T packed / A^T B work
    off += round64(max(packed_size(n_outputs, h_last, dummy),
                        gemm_tn_work(h_last, n_outputs, dummy)))
    offsets[2 * n_layers + 6] = off                           # recurrences' scratch
    off += round64(scratch)
    offsets[2 * n_layers + 7] = off                           # dH of the top layer
    off += round64(nt * h_last)
    return off + 64


cdef int _check_table(const Py_ssize_t[:, ::1] layers) except -1:
    """A layers table of (1..64, _L_COLUMNS)."""
    if layers.shape[0] < 1 or layers.shape[0] > 64 or layers.shape[1] != _L_COLUMNS:
        raise ValueError(f"layers must be (1..64, {_L_COLUMNS}), got "
                         f"({layers.shape[0]}, {layers.shape[1]})")
    return 0


cdef int _check_layers(const Py_ssize_t[:, ::1] layers, Py_ssize_t n_features,
                       Py_ssize_t n_theta) except -1:
    """The layers table fits X's features and theta (what the loops rely on)."""
    cdef Py_ssize_t l, f = n_features, h
    cdef Py_ssize_t sizes[3]
    _check_table(layers)
    for l in range(layers.shape[0]):
        h = layers[l, _L_N_HIDDEN]
        if (layers[l, _L_N_IN] != f or h < 1 or layers[l, _L_ROW_BLOCK] < 1
                or layers[l, _L_GRAD_BLOCK] < 1
                or _cell_sizes(layers[l, _L_CELL], f, h, sizes) < 0
                or not 0 <= layers[l, _L_W_IN] <= n_theta - sizes[0]
                or not 0 <= layers[l, _L_W_REC] <= n_theta - sizes[1]
                or not 0 <= layers[l, _L_B] <= n_theta - sizes[2]):
            raise ValueError(f"layer {l} of the layers table does not fit X or theta")
        f = h
    return 0


cdef int _check_head(const Py_ssize_t[:, ::1] layers, Py_ssize_t n_theta, Py_ssize_t n_outputs,
                     Py_ssize_t W_out_offset, Py_ssize_t b_out_offset,
                     const Py_ssize_t[:, ::1] l2_ranges) except -1:
    """The output layer's offsets and the L2 ranges lie in theta."""
    cdef Py_ssize_t h_last = layers[layers.shape[0] - 1, _L_N_HIDDEN], r
    if (n_outputs < 1 or not 0 <= W_out_offset <= n_theta - h_last * n_outputs
            or not 0 <= b_out_offset <= n_theta - n_outputs
            or l2_ranges.shape[0] < 1 or l2_ranges.shape[1] != 2):
        raise ValueError("output offsets or l2 ranges of inconsistent shapes")
    for r in range(l2_ranges.shape[0]):
        if not 0 <= l2_ranges[r, 0] <= l2_ranges[r, 1] <= n_theta:
            raise ValueError(f"l2 range {r} lies outside theta")
    return 0


cdef void _loss_grad_run(
        const floating *X,          # IN  (n_samples, n_timesteps, n_features)
        const Py_ssize_t *lengths,  # IN  (n_samples,) or NULL (all full)
        const floating *Y,          # IN  (n_samples, n_outputs)
        const floating *w,          # IN  (n_samples,) weights summing to 1, or NULL
        const floating *th,         # IN  parameters
        floating *g,                # OUT gradient, laid out as theta
        Py_ssize_t n_theta,
        const Py_ssize_t *layers,   # IN  (n_layers, _L_COLUMNS) table, row-major
        Py_ssize_t n_layers, Py_ssize_t W_out_offset, Py_ssize_t b_out_offset,
        const Py_ssize_t *l2_ranges, Py_ssize_t n_l2, floating reg, int act,
        Py_ssize_t bptt_steps, bint cross_entropy, int n_threads, bint flush,
        Py_ssize_t n_samples, Py_ssize_t n_timesteps, Py_ssize_t n_outputs,
        floating *ws,               # scratch: _train_layout(...) values, 64-byte aligned
        double *out,                # OUT (data loss, sum of the squared weights, |grad|^2)
        ) noexcept nogil:
    """Trainer.loss_grad on raw arrays, its arguments checked by the caller."""
    cdef Py_ssize_t l, i, j
    cdef Py_ssize_t h_last = layers[(n_layers - 1) * _L_COLUMNS + _L_N_HIDDEN]
    cdef Py_ssize_t offsets[2 * 64 + 8]
    cdef const floating *inp
    cdef const floating *hT
    cdef floating *dHl
    cdef floating *dXl
    cdef floating *Z
    cdef floating *dZ
    cdef floating *dH_top
    cdef double loss, sq = 0.0
    _train_layout(layers, n_layers, n_samples, n_timesteps, n_outputs, n_threads, offsets,
                  <floating> 0)
    dH_top = ws + offsets[2 * n_layers + 7]
    inp = X
    for l in range(n_layers):
        _cell_forward(layers + l * _L_COLUMNS, inp, th, lengths, ws + offsets[l], n_samples,
                      n_timesteps, act, n_threads, flush, ws + offsets[2 * n_layers + 6])
        inp = ws + offsets[l]
    # output layer: Z = h_T @ W_out + b_out, rows of h_T n_timesteps * h_last apart
    hT = ws + offsets[n_layers - 1] + (n_timesteps - 1) * h_last
    Z = ws + offsets[2 * n_layers + 2]
    dZ = ws + offsets[2 * n_layers + 3]
    pack(th + W_out_offset, n_outputs, False, h_last, n_outputs, ws + offsets[2 * n_layers + 4])
    pgemm(n_samples, n_outputs, h_last, hT, n_timesteps * h_last,
           ws + offsets[2 * n_layers + 4], Z, n_outputs, False)
    for i in range(n_samples):
        for j in range(n_outputs):
            Z[i * n_outputs + j] = Z[i * n_outputs + j] + th[b_out_offset + j]
    if cross_entropy:
        if floating is float:
            loss = sigcy_cross_entropy_f(Z, Y, w, dZ, g + b_out_offset, n_samples, n_outputs)
        else:
            loss = sigcy_cross_entropy_d(Z, Y, w, dZ, g + b_out_offset, n_samples, n_outputs)
    elif floating is float:
        loss = sigcy_squared_error_f(Z, Y, w, dZ, g + b_out_offset, n_samples, n_outputs)
    else:
        loss = sigcy_squared_error_d(Z, Y, w, dZ, g + b_out_offset, n_samples, n_outputs)
    # dW_out = h_T^T dZ; dH_top[:, -1] = dZ @ W_out^T
    gemm_tn(h_last, n_outputs, n_samples, hT, n_timesteps * h_last, dZ, n_outputs,
             g + W_out_offset, n_outputs, False, ws + offsets[2 * n_layers + 5])
    pack(th + W_out_offset, n_outputs, True, n_outputs, h_last, ws + offsets[2 * n_layers + 5])
    pgemm(n_samples, h_last, n_outputs, dZ, n_outputs, ws + offsets[2 * n_layers + 5],
           dH_top + (n_timesteps - 1) * h_last, n_timesteps * h_last, False)
    dHl = dH_top
    for l in range(n_layers - 1, -1, -1):
        inp = X if l == 0 else ws + offsets[l - 1]
        dXl = NULL if l == 0 else ws + offsets[n_layers + l]
        # the top layer's dH is zero but at the last step
        _cell_backward(layers + l * _L_COLUMNS, inp, ws + offsets[l], dHl, th, g, lengths,
                       bptt_steps, n_timesteps - 1 if l == n_layers - 1 else 0,
                       ws + offsets[2 * n_layers], ws + offsets[2 * n_layers + 1], dXl,
                       n_samples, n_timesteps, act, n_threads, flush,
                       ws + offsets[2 * n_layers + 6])
        dHl = dXl
    if floating is float:
        out[2] = sigcy_add_l2_f(th, g, n_theta, l2_ranges, n_l2, reg, &sq)
    else:
        out[2] = sigcy_add_l2_d(th, g, n_theta, l2_ranges, n_l2, reg, &sq)
    out[0] = loss
    out[1] = sq


cdef enum:
    # entries of the trainer's hyperparameter vector
    _HY_LR = 0            # sgd: the learning rate; adam: learning_rate_init
    _HY_MOMENTUM = 1      # sgd
    _HY_NESTEROV = 2      # sgd: 1 or 0
    _HY_BETA_1 = 3        # adam
    _HY_BETA_2 = 4
    _HY_EPSILON = 5
    _HY_ALPHA = 6         # L2 penalty (both)
    _HY_CLIP = 7          # gradient-norm clipping, <= 0 or inf: none
    _HY_SIZE = 8

cdef enum:
    # Trainer.epoch's status
    _EPOCH_OK = 0
    _EPOCH_NONFINITE_GRAD = 1     # a loss or gradient norm was not finite: no update made
    _EPOCH_NONFINITE_STEP = 2     # an update would have made theta non-finite: theta kept
EPOCH_OK = _EPOCH_OK
EPOCH_NONFINITE_GRAD = _EPOCH_NONFINITE_GRAD
EPOCH_NONFINITE_STEP = _EPOCH_NONFINITE_STEP


cdef Py_ssize_t _epoch_layout(const Py_ssize_t *layers_full, const Py_ssize_t *layers_rest,
                              Py_ssize_t n_layers, Py_ssize_t batch_size, Py_ssize_t rest,
                              Py_ssize_t n_timesteps, Py_ssize_t n_features,
                              Py_ssize_t n_outputs, Py_ssize_t n_theta, int threads_full,
                              int threads_rest, Py_ssize_t *offsets, floating dummy) noexcept nogil:
    """Offsets (values, 64-value aligned) of the epoch's workspace: offsets[0..5) = the
    gathered batch's X, Y, weights and lengths (Py_ssize_t, as many bytes as floating values
    of the same count, rounded up), the optimizer's scratch, then the training step's
    workspace (the larger of the two batch sizes' _train_layout).  Returns the total."""
    cdef Py_ssize_t off = 0, step
    cdef Py_ssize_t tmp[2 * 64 + 8]
    offsets[0] = off
    off += round64(batch_size * n_timesteps * n_features)
    offsets[1] = off
    off += round64(batch_size * n_outputs)
    offsets[2] = off
    off += round64(batch_size)
    offsets[3] = off
    off += round64((batch_size * sizeof(Py_ssize_t) + sizeof(floating) - 1) // sizeof(floating))
    offsets[4] = off
    off += round64(n_theta)
    offsets[5] = off
    step = _train_layout(layers_full, n_layers, batch_size, n_timesteps, n_outputs, threads_full,
                         tmp, dummy)
    if layers_rest != NULL:
        step = max(step, _train_layout(layers_rest, n_layers, rest, n_timesteps, n_outputs,
                                       threads_rest, tmp, dummy))
    return off + step + 64


cdef double _batch_step(
        const floating *X,          # IN  (n_samples, n_timesteps, n_features) training set
        const Py_ssize_t *lengths,  # IN  (n_samples,) or NULL
        const floating *Y,          # IN  (n_samples, n_outputs)
        const double *sw,           # IN  (n_samples,) sample weights or NULL
        const Py_ssize_t *idx,      # IN  (nb,) the batch's samples
        Py_ssize_t nb, Py_ssize_t n_timesteps, Py_ssize_t n_features, Py_ssize_t n_outputs,
        floating *th,               # INOUT parameters
        floating *g,                # OUT gradient
        Py_ssize_t n_theta, const Py_ssize_t *layers, Py_ssize_t n_layers,
        Py_ssize_t W_out_offset, Py_ssize_t b_out_offset,
        const Py_ssize_t *l2_ranges, Py_ssize_t n_l2, int act, Py_ssize_t bptt_steps,
        bint cross_entropy, int n_threads, bint flush,
        bint adam, floating *mom1, floating *mom2,
        const double *hyper,        # IN  see _HY_*
        Py_ssize_t *t_adam,         # INOUT Adam's step count
        floating *ws,               # scratch, _epoch_layout(...) values
        const Py_ssize_t *offsets,  # IN  _epoch_layout's offsets
        double *norm,               # OUT the gradient's norm (before clipping)
        int *status,                # OUT EPOCH_*
        ) noexcept nogil:
    """One mini-batch of an epoch: gather its samples (unless they are consecutive), its loss
    and gradient, clipping, the optimizer's step.  Returns the loss with its L2 term.  The
    arithmetic is that of Trainer.loss_grad followed by the optimizer's single update
    (sigcy._optimizers), the weights normalized by their sum in index order."""
    cdef Py_ssize_t k, row = n_timesteps * n_features
    cdef bint consecutive = True
    cdef const floating *xp
    cdef const floating *yp
    cdef const Py_ssize_t *lp = NULL
    cdef floating *wp = NULL
    cdef floating *Xb = ws + offsets[0]
    cdef floating *Yb = ws + offsets[1]
    cdef floating *wb = ws + offsets[2]
    cdef Py_ssize_t *lb = <Py_ssize_t *> (ws + offsets[3])
    cdef floating *upd = ws + offsets[4]
    cdef double sw_sum = <double> nb, loss, scale = 1.0, lr, clip = hyper[_HY_CLIP]
    cdef double alpha = hyper[_HY_ALPHA]
    cdef double out[3]
    cdef int ok
    for k in range(1, nb):
        if idx[k] != idx[0] + k:
            consecutive = False
            break
    if consecutive:
        xp = X + idx[0] * row
        yp = Y + idx[0] * n_outputs
        if lengths != NULL:
            lp = lengths + idx[0]
    else:
        for k in range(nb):
            memcpy(Xb + k * row, X + idx[k] * row, row * sizeof(floating))
            memcpy(Yb + k * n_outputs, Y + idx[k] * n_outputs, n_outputs * sizeof(floating))
        if lengths != NULL:
            for k in range(nb):
                lb[k] = lengths[idx[k]]
            lp = lb
        xp = Xb
        yp = Yb
    if sw != NULL:
        sw_sum = sigcy_sum_in_order(sw, idx, nb)
        for k in range(nb):
            wb[k] = <floating> (sw[idx[k]] / sw_sum)
        wp = wb
    _loss_grad_run(xp, lp, yp, wp, th, g, n_theta, layers, n_layers, W_out_offset,
                   b_out_offset, l2_ranges, n_l2, <floating> (alpha / sw_sum), act,
                   bptt_steps, cross_entropy, n_threads, flush, nb, n_timesteps, n_outputs,
                   ws + offsets[5], out)
    loss = out[0] + 0.5 * alpha * out[1] / sw_sum
    norm[0] = sqrt(out[2])
    if not isfinite(loss + norm[0]):
        status[0] = _EPOCH_NONFINITE_GRAD
        return loss
    if clip > 0 and norm[0] > clip:
        scale = clip / norm[0]
    if adam:
        t_adam[0] += 1
        lr = sigcy_adam_learning_rate(hyper[_HY_LR], hyper[_HY_BETA_1], hyper[_HY_BETA_2],
                                      <double> t_adam[0])
        if floating is float:
            ok = sigcy_adam_update_f(th, g, <float> scale, mom1, mom2, <float> hyper[_HY_BETA_1],
                                     <float> (1 - hyper[_HY_BETA_1]), <float> hyper[_HY_BETA_2],
                                     <float> (1 - hyper[_HY_BETA_2]), lr,
                                     <float> hyper[_HY_EPSILON], upd, n_theta)
        else:
            ok = sigcy_adam_update_d(th, g, scale, mom1, mom2, hyper[_HY_BETA_1],
                                     1 - hyper[_HY_BETA_1], hyper[_HY_BETA_2],
                                     1 - hyper[_HY_BETA_2], lr, hyper[_HY_EPSILON], upd,
                                     n_theta)
    elif floating is float:
        ok = sigcy_sgd_update_f(th, g, <float> scale, mom1, <float> hyper[_HY_MOMENTUM],
                                <float> hyper[_HY_LR], hyper[_HY_NESTEROV] != 0, upd, n_theta)
    else:
        ok = sigcy_sgd_update_d(th, g, scale, mom1, hyper[_HY_MOMENTUM], hyper[_HY_LR],
                                hyper[_HY_NESTEROV] != 0, upd, n_theta)
    status[0] = _EPOCH_OK if ok else _EPOCH_NONFINITE_STEP
    return loss




cdef class Trainer:
    """The compiled training step and epoch of one network, for one fit.

    Parameters
    ----------
    layers : ndarray of shape (n_layers, 6), intp
        One row per recurrent layer: its cell (``CELLS``), the offsets in ``theta`` of its
        input weights, recurrent weights and biases (for Elman: ``W_in`` (n_in, n_hidden),
        ``W_rec`` (n_hidden, n_hidden), ``b`` (n_hidden,)), then ``n_in``, ``n_hidden``.
    W_out_offset, b_out_offset : int
        Offsets of the output layer's ``W_out`` (n_hidden_last, n_outputs) and ``b_out``.
    l2_ranges : ndarray of shape (k, 2), intp
        ``[start, stop)`` of the weight matrices (the L2 term's ranges).
    n_theta, n_outputs : int
        Length of ``theta``; output units.
    act : int
        Activation code (``sigcy.rnn.ACTIVATIONS``).
    cross_entropy : bool
        Softmax (or logistic) cross-entropy, else half the squared error.
    bptt_steps : int
        Truncated BPTT window; 0 for full BPTT.
    blocks : callable
        ``blocks(n_samples, n_timesteps)`` -> ``(n_threads, [(row_block, grad_block), ...])``
        for a batch of that shape, one pair per layer (any blocks give the same bits; they
        are clamped to the samples and units there are).
    flush : bool, default=True
        Flush subnormals to zero in sigcy's threads.

    Attributes
    ----------
    step_callback : callable or None
        Called with the GIL held before each step of ``epoch`` with the number of steps this
        call has completed (progress within an epoch); an exception it raises stops the
        epoch there, as a Ctrl-C does.  The trainer is busy meanwhile: calling its
        ``loss_grad`` or ``epoch`` from the callback raises RuntimeError.
    adam_steps : int
        Adam's step count after the last step of ``epoch`` (also when it was interrupted).
    steps_done : int
        Steps completed by the last call of ``epoch``.
    """
    cdef Py_ssize_t[:, ::1] layers
    cdef Py_ssize_t[:, ::1] l2_ranges
    cdef Py_ssize_t W_out_offset, b_out_offset, n_theta, n_outputs, bptt_steps
    cdef int act
    cdef bint cross_entropy, flush, adam, ready, busy
    cdef object blocks
    cdef dict plans
    cdef object work
    cdef double hyper[_HY_SIZE]
    cdef public object step_callback
    cdef readonly Py_ssize_t adam_steps, steps_done

    def __cinit__(self):
        self.ready = False
        self.busy = False
        self.plans = {}
        self.work = np.empty(0, dtype=np.uint8)

    def __init__(self, layers, Py_ssize_t W_out_offset, Py_ssize_t b_out_offset, l2_ranges,
                 Py_ssize_t n_theta, Py_ssize_t n_outputs, int act, bint cross_entropy,
                 Py_ssize_t bptt_steps, blocks, bint flush=True):
        cdef Py_ssize_t[:, ::1] table = np.ascontiguousarray(layers, dtype=np.intp)
        cdef Py_ssize_t[:, ::1] checked
        if self.ready:
            raise RuntimeError("Trainer is already initialized")
        if table.shape[1] != _L_ROW_BLOCK or not 1 <= table.shape[0] <= 64:
            raise ValueError(f"layers must be (1..64, {_L_ROW_BLOCK}), got "
                             f"({table.shape[0]}, {table.shape[1]})")
        if not callable(blocks):
            raise TypeError("blocks must be callable")
        self.layers = table
        self.l2_ranges = np.ascontiguousarray(l2_ranges, dtype=np.intp)
        self.W_out_offset = W_out_offset
        self.b_out_offset = b_out_offset
        self.n_theta = n_theta
        self.n_outputs = n_outputs
        self.act = act
        self.cross_entropy = cross_entropy
        self.bptt_steps = bptt_steps
        self.blocks = blocks
        self.flush = flush
        self.step_callback = None
        check_run(act, max(bptt_steps, 1), 1, None, 1, 1)
        # the table, the head and the L2 ranges against theta, once (with blocks of 1)
        checked = self._table_with_blocks([(1, 1)] * table.shape[0])
        _check_layers(checked, table[0, _L_N_IN], n_theta)
        _check_head(checked, n_theta, n_outputs, W_out_offset, b_out_offset, self.l2_ranges)
        self.set_optimizer("adam")
        self.ready = True

    cdef object _table_with_blocks(self, pairs):
        """The layer table with the blocks' columns."""
        table = np.empty((self.layers.shape[0], _L_COLUMNS), dtype=np.intp)
        table[:, :_L_ROW_BLOCK] = self.layers
        table[:, _L_ROW_BLOCK:] = np.asarray(pairs, dtype=np.intp).reshape(-1, 2)
        return table

    cdef int _enter(self) except -1:
        if not self.ready:
            raise RuntimeError("Trainer is not initialized")
        if self.busy:
            raise RuntimeError("Trainer is busy: loss_grad or epoch called during an epoch")
        self.busy = True
        return 0

    def set_optimizer(self, str solver, *, double learning_rate_init=0.001,
                      double momentum=0.9, bint nesterov=True, double beta_1=0.9,
                      double beta_2=0.999, double epsilon=1e-8, double alpha=0.0,
                      double clip_norm=0.0):
        """The optimizer of ``epoch``: "adam" or "sgd", its settings, the L2 penalty
        ``alpha`` and the clipping norm (<= 0 or inf: none)."""
        if solver not in ("adam", "sgd"):
            raise ValueError(f"solver must be 'adam' or 'sgd', got {solver!r}")
        self.adam = solver == "adam"
        self.hyper[:] = [learning_rate_init, momentum, 1.0 if nesterov else 0.0, beta_1,
                         beta_2, epsilon, alpha, clip_norm]

    def _plan(self, Py_ssize_t n_samples, Py_ssize_t n_timesteps):
        """(layer table with the blocks, thread count) for batches of this shape, kept."""
        key = (n_samples, n_timesteps)
        plan = self.plans.get(key)
        if plan is None:
            n_threads, pairs = self.blocks(n_samples, n_timesteps)
            table = self._table_with_blocks(pairs)
            # blocks beyond the samples or units there are change nothing but the workspace
            np.minimum(table[:, _L_ROW_BLOCK], max(n_samples, 1), out=table[:, _L_ROW_BLOCK])
            np.minimum(table[:, _L_GRAD_BLOCK], table[:, _L_N_HIDDEN],
                       out=table[:, _L_GRAD_BLOCK])
            _check_layers(table, self.layers[0, _L_N_IN], self.n_theta)
            if not 1 <= n_threads <= 4096:
                raise ValueError(f"blocks gave {n_threads} threads")
            plan = self.plans[key] = (table, int(n_threads))
        return plan

    cdef object _workspace(self, Py_ssize_t n_bytes):
        """A uint8 array of at least n_bytes, kept for the next calls; the caller holds a
        reference to it for as long as it uses the memory."""
        if self.work.shape[0] < n_bytes:
            self.work = np.empty(n_bytes, dtype=np.uint8)
        return self.work

    def loss_grad(
        self,
        const floating[:, :, ::1] X not None,  # IN  (n_samples, n_timesteps, n_features)
        const Py_ssize_t[::1] lengths,    # IN  (n_samples,) in [1, n_timesteps]; None: all full
        const floating[:, ::1] Y not None,     # IN  (n_samples, n_outputs) targets
        const floating[::1] w,            # IN  (n_samples,) weights summing to 1, or None
        const floating[::1] theta not None,    # IN  parameters
        floating[::1] grad not None,      # OUT gradient, laid out as theta
        floating reg,                     # IN  L2 factor (alpha / sum of the weights)
    ):
        """Loss and gradient of the network on one batch, in one call.

        The recurrent layers forward, the output layer on the last layer's final state
        (``Z = h_T @ W_out + b_out``), its loss and ``dZ``, the output layer's gradients,
        ``dH_top[:, -1] = dZ @ W_out^T``, the layers backward (without the first layer's
        ``dX``), and ``grad += reg * theta`` on the weights.  Returns (data loss, sum of the
        squared weights, squared norm of grad).
        """
        cdef Py_ssize_t n_samples = X.shape[0], n_timesteps = X.shape[1], n_bytes
        cdef Py_ssize_t offsets[2 * 64 + 8]
        cdef Py_ssize_t[:, ::1] layers
        cdef int n_threads
        cdef object work
        cdef floating *ws
        cdef const floating *wp = NULL
        cdef const Py_ssize_t *lengths_ptr = NULL
        cdef double out[3]
        cdef Py_ssize_t bptt
        self._enter()
        try:
            bptt = self._bptt(n_timesteps)
            if (n_samples < 1 or n_timesteps < 1 or X.shape[2] != self.layers[0, _L_N_IN]
                    or Y.shape[0] != n_samples or Y.shape[1] != self.n_outputs
                    or (w is not None and w.shape[0] != n_samples)
                    or theta.shape[0] != self.n_theta or grad.shape[0] != self.n_theta):
                raise ValueError("Trainer.loss_grad: arrays of inconsistent shapes")
            layers, n_threads = self._plan(n_samples, n_timesteps)
            check_run(self.act, bptt, n_threads, lengths, n_samples, n_timesteps)
            n_bytes = _train_layout(&layers[0, 0], layers.shape[0], n_samples, n_timesteps,
                                    self.n_outputs, n_threads, offsets,
                                    <floating> 0) * sizeof(floating)
            work = self._workspace(n_bytes)
            ws = <floating *> aligned64(work, n_bytes)
            if w is not None:
                wp = &w[0]
            if lengths is not None:
                lengths_ptr = &lengths[0]
            with nogil:
                _loss_grad_run(&X[0, 0, 0], lengths_ptr, &Y[0, 0], wp, &theta[0], &grad[0],
                               self.n_theta, &layers[0, 0], layers.shape[0],
                               self.W_out_offset, self.b_out_offset, &self.l2_ranges[0, 0],
                               self.l2_ranges.shape[0], reg, self.act, bptt,
                               self.cross_entropy, n_threads, self.flush, n_samples,
                               n_timesteps, self.n_outputs, ws, out)
        finally:
            self.busy = False
        return out[0], out[1], out[2]

    cdef Py_ssize_t _bptt(self, Py_ssize_t n_timesteps):
        if self.bptt_steps <= 0:
            return n_timesteps
        return min(self.bptt_steps, n_timesteps)

    def epoch(
        self,
        const floating[:, :, ::1] X not None,  # IN  (n_samples, n_timesteps, n_features)
        const Py_ssize_t[::1] lengths,    # IN  (n_samples,) in [1, n_timesteps]; None: all full
        const floating[:, ::1] Y not None,     # IN  (n_samples, n_outputs) targets
        const double[::1] sample_weight,  # IN  (n_samples,) or None (all 1)
        const Py_ssize_t[::1] order not None,  # IN  (n_samples,) this epoch's order
        Py_ssize_t batch_size,            # IN  samples per mini-batch (the last one: the rest)
        floating[::1] theta not None,     # INOUT parameters
        floating[::1] grad not None,      # OUT scratch, theta's size
        floating[::1] mom1 not None,      # INOUT Adam's m, or SGD's velocity
        floating[::1] mom2,               # INOUT Adam's v, or None (SGD)
        double learning_rate,             # IN  SGD's learning rate this epoch (Adam: unused)
        Py_ssize_t adam_steps,            # IN  Adam's step count so far
        double[::1] norms not None,       # OUT (n_batches,) each mini-batch's gradient norm
    ):
        """One epoch of mini-batch training, in one call.

        For each mini-batch of ``order`` (batch_size samples, the last one the rest): its loss
        and gradient as ``loss_grad`` (L2 factor alpha / the sum of the batch's sample
        weights), the gradient norm, clipping, and the optimizer's step (Adam with
        scikit-learn's bias-corrected learning rate, or SGD with momentum), all or nothing.
        The GIL is released during each step and taken between steps, to deliver a Ctrl-C
        (raised here as KeyboardInterrupt, after a completed step) or run ``step_callback``.
        Stops at the first batch whose loss or gradient is not finite (no update) or whose
        update would make theta non-finite (theta kept).  Returns (sum over the completed
        batches of loss x batch size, status), status ``EPOCH_OK``, ``EPOCH_NONFINITE_GRAD``
        or ``EPOCH_NONFINITE_STEP``; ``adam_steps`` and ``steps_done`` tell how far it got.
        """
        cdef Py_ssize_t n_samples = X.shape[0], n_timesteps = X.shape[1]
        cdef Py_ssize_t n_features = X.shape[2], n_outputs, n_theta, n_layers
        cdef Py_ssize_t n_batches, rest, b, nb, k, t_adam = adam_steps, bptt, n_bytes
        cdef Py_ssize_t offsets[6]
        cdef Py_ssize_t[:, ::1] layers_full
        cdef Py_ssize_t[:, ::1] layers_rest = None
        cdef int threads_full, threads_rest = 1
        cdef const Py_ssize_t *rest_ptr = NULL
        cdef const Py_ssize_t *lengths_ptr = NULL
        cdef const double *sw_ptr = NULL
        cdef floating *mom2_ptr = NULL
        cdef object work
        cdef floating *ws
        cdef double loss, loss_sum = 0.0
        cdef int status = _EPOCH_OK
        cdef bint adam
        self._enter()
        try:
            n_outputs, n_theta, n_layers = self.n_outputs, self.n_theta, self.layers.shape[0]
            adam = self.adam
            bptt = self._bptt(n_timesteps)
            self.adam_steps = t_adam
            self.steps_done = 0
            if n_samples < 1 or n_timesteps < 1 or not 1 <= batch_size <= n_samples:
                raise ValueError(f"Trainer.epoch: {n_samples} samples of {n_timesteps} steps "
                                 f"in batches of {batch_size}")
            n_batches = (n_samples + batch_size - 1) // batch_size
            rest = n_samples - (n_batches - 1) * batch_size
            layers_full, threads_full = self._plan(batch_size, n_timesteps)
            if rest != batch_size:
                layers_rest, threads_rest = self._plan(rest, n_timesteps)
                rest_ptr = &layers_rest[0, 0]
            if (n_features != self.layers[0, _L_N_IN] or Y.shape[0] != n_samples
                    or Y.shape[1] != n_outputs or order.shape[0] != n_samples
                    or (sample_weight is not None and sample_weight.shape[0] != n_samples)
                    or theta.shape[0] != n_theta or grad.shape[0] != n_theta
                    or mom1.shape[0] != n_theta
                    or (adam and (mom2 is None or mom2.shape[0] != n_theta))
                    or norms.shape[0] < n_batches):
                raise ValueError("Trainer.epoch: arrays of inconsistent shapes")
            check_run(self.act, bptt, min(threads_full, threads_rest), lengths, n_samples,
                      n_timesteps)
            for k in range(n_samples):
                if not 0 <= order[k] < n_samples:
                    raise ValueError(f"Trainer.epoch: order[{k}] = {order[k]} is not a sample "
                                     f"index")
            n_bytes = _epoch_layout(&layers_full[0, 0], rest_ptr, n_layers, batch_size, rest,
                                    n_timesteps, n_features, n_outputs, n_theta, threads_full,
                                    threads_rest, offsets, <floating> 0) * sizeof(floating)
            work = self._workspace(n_bytes)       # held until the end of the call
            ws = <floating *> aligned64(work, n_bytes)
            if lengths is not None:
                lengths_ptr = &lengths[0]
            if sample_weight is not None:
                sw_ptr = &sample_weight[0]
            if adam:
                mom2_ptr = &mom2[0]
            else:
                self.hyper[_HY_LR] = learning_rate
            for b in range(n_batches):
                if self.step_callback is not None:
                    self.step_callback(self.steps_done)
                PyErr_CheckSignals()        # a Ctrl-C between steps: KeyboardInterrupt
                nb = batch_size if b < n_batches - 1 else rest
                with nogil:
                    loss = _batch_step(
                        &X[0, 0, 0], lengths_ptr, &Y[0, 0], sw_ptr, &order[b * batch_size], nb,
                        n_timesteps, n_features, n_outputs, &theta[0], &grad[0], n_theta,
                        &layers_full[0, 0] if nb == batch_size else rest_ptr, n_layers,
                        self.W_out_offset, self.b_out_offset, &self.l2_ranges[0, 0],
                        self.l2_ranges.shape[0], self.act, bptt, self.cross_entropy,
                        threads_full if nb == batch_size else threads_rest, self.flush, adam,
                        &mom1[0], mom2_ptr, self.hyper, &t_adam, ws, offsets, &norms[b],
                        &status)
                self.adam_steps = t_adam
                if status != _EPOCH_OK:
                    break
                loss_sum += loss * nb
                self.steps_done += 1
        finally:
            self.busy = False
        return loss_sum, status
