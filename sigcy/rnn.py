"""Elman recurrent networks: forward pass and backpropagation through time.

The loops are compiled (``sigcy/_core/_elman.pyx``): each time step is one GEMM tile pass that computes
the step's input projection and its product with the recurrent weights, plus a fused
bias/activation loop (OpenMP over blocks of samples), and the weight gradients are GEMMs over all time steps after
the backward recursion, all with sigcy's own kernels (``sigcy/src/sigcy_gemm.h``; weights
packed once per call).  This module validates the arguments, casts and copies them to one
C-contiguous dtype, allocates every result, and chooses the thread count.

Reproducibility: the results are the same bits for any number of OpenMP threads (and BLAS is
not used): the kernels compute every element the same way whatever block of the work it is
in; see :func:`elman_forward` Notes.
"""
import math
import threading

import numpy as np

from sigcy._core import _elman, _pool
from sigcy._openmp_helpers import _openmp_effective_n_threads

__all__ = ["elman_forward", "elman_backward", "ACTIVATIONS"]

ACTIVATIONS = {"sigmoid": _elman.ACT_SIGMOID, "tanh": _elman.ACT_TANH, "relu": _elman.ACT_RELU}

# The recursions run over blocks of samples, each an independent recurrence that one thread
# runs from the first step to the last; the weight gradient dW_rec over blocks of its rows.
# All GEMMs are sigcy's own (src/sigcy_gemm.h), which compute every output element by the
# same operations whatever the block, so the blocks can follow the thread count: one block
# per thread (more above _MAX_ROW_BLOCK samples per block), in whole tiles of 8 rows.
# _ROW_BLOCK and _GRAD_BLOCK fix the block sizes instead (the tests use tiny blocks).
# Below _PARALLEL_MIN_ELEMENTS elements of H everything runs on the calling thread: a parallel
# call can wait a scheduler time slice for its second thread when another process keeps the
# cores busy, which only a call of a millisecond or more amortizes (docs/dev/tuning.rst).
_ROW_BLOCK = None
_GRAD_BLOCK = None
_MAX_ROW_BLOCK = 256
_ROW_TILE = 8
_PARALLEL_MIN_ELEMENTS = 2**18


def _blocks(n_samples, n_hidden, n_threads):
    """(row_block, grad_block) for the compiled loops."""
    row_block = _ROW_BLOCK
    if row_block is None:
        n_blocks = n_threads * max(1, -(-n_samples // (n_threads * _MAX_ROW_BLOCK)))
        row_block = -(-max(n_samples, 1) // n_blocks)
        row_block = -(-row_block // _ROW_TILE) * _ROW_TILE
    grad_block = _GRAD_BLOCK
    if grad_block is None:
        grad_block = -(-max(n_hidden, 1) // n_threads)
        grad_block = -(-grad_block // _ROW_TILE) * _ROW_TILE
    return row_block, grad_block


# Scratch memory is kept per Python thread between calls, up to _SCRATCH_KEEP_BYTES: a fresh
# buffer above glibc's mmap threshold (128 KiB) is mapped at allocation and unmapped at
# release, a page fault per 4 KiB at every call (docs/dev/tuning.rst).
_SCRATCH_KEEP_BYTES = 64 * 2**20
_MAX_BYTES = int(np.iinfo(np.intp).max)
_scratch_local = threading.local()


def _scratch(n_bytes):
    """A uint8 array of at least n_bytes (uninitialized), reused by later calls on this thread."""
    buf = getattr(_scratch_local, "buf", None)
    if buf is None or buf.size < n_bytes:
        buf = np.empty(max(n_bytes, 64), dtype=np.uint8)
        if n_bytes <= _SCRATCH_KEEP_BYTES:
            _scratch_local.buf = buf
    return buf


def _recycled_empty(shape, dtype):
    """np.empty(shape, dtype) on memory from sigcy's pool of released output arrays (see
    sigcy/_core/_pool.pyx, _Block): a loop that drops each step's H reuses its memory."""
    dtype = np.dtype(dtype)
    n = math.prod(shape) * dtype.itemsize
    if n > _MAX_BYTES:
        # numpy would raise ValueError ("array is too big").  Only elman_forward's H can get
        # here: other results are at most the size of an input array, which exists (with no
        # features X is empty while H need not be)
        raise MemoryError(f"The result of shape {tuple(shape)} and dtype {dtype} would take "
                          f"{n} bytes, more than can be addressed.")
    if n > _pool.POOL_MAX_BYTES:             # too large to be kept: numpy's own (and errors)
        return np.empty(shape, dtype=dtype)
    return np.asarray(_pool._Block(n)).view(dtype).reshape(shape)


def _carve(buf, offset, shape, dtype):
    """An array of shape and dtype on buf's bytes from offset; the next 64-byte offset."""
    view = np.ndarray(shape, dtype=dtype, buffer=buf, offset=offset)
    return view, offset + (view.nbytes + 63) // 64 * 64


def _shape_error(name, shape, expected):
    return ValueError(f"{name} has shape {tuple(shape)}, expected {expected}.")


def _as_float_array(name, a, dtype=None):
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {a.dtype}.")
    return a


def _validate(X, W_in, W_rec, h0, lengths, activation, b=None, H=None, dH=None):
    """Check every shape; return (dtype, X, W_in, W_rec, b, h0, lengths, H, dH, act).

    lengths stays None for full sequences (the loops then skip the per-sample checks).
    """
    X = _as_float_array("X", X)
    if X.ndim != 3:
        raise ValueError(
            f"X has shape {X.shape}, expected a 3-D array (n_samples, n_timesteps, n_features)."
        )
    # float32 in any byte order stays float32
    dtype = np.float32 if X.dtype.kind == "f" and X.dtype.itemsize == 4 else np.float64
    n_samples, n_timesteps, n_features = X.shape
    if n_timesteps == 0:
        raise ValueError(f"X has shape {X.shape}: zero time steps; need n_timesteps >= 1.")
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(
            f"Unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}."
        )

    W_in = _as_float_array("W_in", W_in, dtype)
    if W_in.ndim != 2 or W_in.shape[0] != n_features:
        raise _shape_error("W_in", W_in.shape, f"(n_features, n_hidden) = ({n_features}, n_hidden) "
                           f"for X of shape {X.shape}")
    n_hidden = W_in.shape[1]
    W_rec = _as_float_array("W_rec", W_rec, dtype)
    if W_rec.shape != (n_hidden, n_hidden):
        raise _shape_error("W_rec", W_rec.shape,
                           f"a square (n_hidden, n_hidden) = {(n_hidden, n_hidden)} matching "
                           f"W_in of shape {W_in.shape}")
    if b is not None:
        b = _as_float_array("b", b, dtype)
        if b.shape != (n_hidden,):
            raise _shape_error("b", b.shape, f"(n_hidden,) = {(n_hidden,)}")
    if h0 is not None:
        h0 = _as_float_array("h0", h0, dtype)
        if h0.shape != (n_samples, n_hidden):
            raise _shape_error("h0", h0.shape, f"(n_samples, n_hidden) = {(n_samples, n_hidden)}")
    expected_H = (n_samples, n_timesteps, n_hidden)
    if H is not None:
        H = _as_float_array("H", H, dtype)
        if H.shape != expected_H:
            raise _shape_error("H", H.shape, f"(n_samples, n_timesteps, n_hidden) = {expected_H}")
    if dH is not None:
        dH = _as_float_array("dH", dH, dtype)
        if dH.shape != expected_H:
            raise _shape_error("dH", dH.shape, f"(n_samples, n_timesteps, n_hidden) = {expected_H}")
    if lengths is not None:
        lengths_arr = np.asarray(lengths)
        if lengths_arr.shape != (n_samples,):
            raise _shape_error("lengths", lengths_arr.shape,
                               f"(n_samples,) = {(n_samples,)} for X of shape {X.shape}")
        if lengths_arr.dtype.kind not in "iu":
            if lengths_arr.dtype.kind == "f" and np.all(np.isfinite(lengths_arr)) and np.all(
                lengths_arr == np.round(lengths_arr)
            ):
                pass
            else:
                raise ValueError(f"lengths must hold integers, got dtype {lengths_arr.dtype}.")
        if n_samples and (lengths_arr.min() < 1 or lengths_arr.max() > n_timesteps):
            raise ValueError(
                f"lengths must lie in [1, n_timesteps] = [1, {n_timesteps}] for X of shape "
                f"{X.shape}; got values in [{lengths_arr.min()}, {lengths_arr.max()}]."
            )
        lengths = np.ascontiguousarray(lengths_arr, dtype=np.intp)

    def c(a):
        return None if a is None else np.ascontiguousarray(a, dtype=dtype)

    X, W_in, W_rec, b, h0, H, dH = (c(a) for a in (X, W_in, W_rec, b, h0, H, dH))
    return (dtype, X, W_in, W_rec, b, h0, lengths, H, dH, ACTIVATIONS[activation])


def _n_threads(n_samples, n_timesteps, n_hidden):
    if n_samples * n_timesteps * n_hidden < _PARALLEL_MIN_ELEMENTS:
        return 1
    return _openmp_effective_n_threads()


def elman_forward(X, W_in, W_rec, b, h0=None, *, activation="sigmoid", lengths=None,
                  flush_subnormals=True, out=None):
    """Forward pass of an Elman recurrent layer over whole sequences.

    ``H[:, t] = act(X[:, t] @ W_in + H[:, t-1] @ W_rec + b)``, with ``h0`` standing for
    ``H[:, -1]`` at ``t = 0``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_timesteps, n_features)
        Input sequences.  Its dtype decides the computation's: float32 stays float32, any
        other numeric dtype is computed in float64.  Any memory layout.
    W_in : array-like of shape (n_features, n_hidden)
        Input weights.
    W_rec : array-like of shape (n_hidden, n_hidden)
        Recurrent weights.
    b : array-like of shape (n_hidden,)
        Bias.
    h0 : array-like of shape (n_samples, n_hidden), default=None
        Initial state; None means zeros.
    activation : {"sigmoid", "tanh", "relu"}, default="sigmoid"
        Elementwise activation ``act``.  sigmoid is sigcy's own kernel (:func:`sigcy.sigmoid`).
    lengths : array-like of int of shape (n_samples,), default=None
        Length of each sequence, in ``[1, n_timesteps]``; None means all ``n_timesteps``.
        At ``t >= lengths[i]`` the state is carried unchanged, ``H[i, t] = H[i, t-1]``
        (Keras masking), so ``H[:, -1]`` is each sequence's final state.
    flush_subnormals : bool, default=True
        Compute with subnormal numbers flushed to zero (x86 FTZ/DAZ, set in sigcy's own
        threads for the duration of the call and restored; other platforms: ignored).
        Results that would be below the smallest normal number (about 1.2e-38 in float32,
        2.2e-308 in float64) become 0.  False gives strict IEEE arithmetic, which can be
        several times slower once values reach that range (vanishing gradients).
    out : ndarray of shape (n_samples, n_timesteps, n_hidden), default=None
        Where to write the states: C-contiguous, writeable, of the computation's dtype, and
        not overlapping any input.  Without it, H is new memory from sigcy's pool of
        released states (see Notes).

    Returns
    -------
    H : ndarray of shape (n_samples, n_timesteps, n_hidden)
        The states, in the dtype of the computation, C-contiguous (``out`` if given).

    Raises
    ------
    ValueError
        For arrays of the wrong shape (the message names the array and both shapes), zero
        time steps, ``lengths`` outside ``[1, n_timesteps]``, an unknown activation, an
        ``out`` of the wrong shape, dtype or layout, read-only, or overlapping an input.
    MemoryError
        If H cannot be allocated.

    See Also
    --------
    elman_backward : Gradients of a loss through this function.

    Notes
    -----
    The samples are cut into one block per OpenMP thread, each an independent recurrence that
    one thread runs from the first step to the last: each step is one GEMM
    ``X[:, t] @ W_in + H[:, t-1] @ W_rec`` and a fused bias-plus-activation loop.  The
    GEMMs are sigcy's own kernels (AVX-512 or AVX2 where available, else C; no BLAS) on
    W_in and W_rec packed once per call.  No Python runs inside the time loop.

    The result does not depend on the number of OpenMP threads: the kernel computes every
    element of a product by the same operations in the same order (``acc += a * b`` over
    the inner index, in order), whatever block of samples it belongs to.  The kernel is
    chosen once per process, so results can differ between machines in the last bits, as
    with any BLAS.  The number of threads is OpenMP's: set it with
    ``threadpoolctl.threadpool_limits(n)`` around the call or ``OMP_NUM_THREADS``; small
    calls (fewer than 2**18 elements of H) run on the calling thread.

    A new ``H`` (and :func:`elman_backward`'s ``dX``) is taken from a small pool of memory
    released by earlier results of the same size (at most 4 blocks and 64 MiB in all, per
    process, the longest kept evicted first), so that a training loop that drops each
    step's ``H`` reuses its memory instead of fresh pages from the operating system.  The
    array is an ordinary writeable ndarray that does not own its memory (as a view;
    ``H.resize`` is refused): the memory returns to the pool when the last view of it is
    released.

    NaN in any input propagates to the affected outputs.

    Examples
    --------
    >>> import numpy as np
    >>> from sigcy.rnn import elman_forward
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((2, 5, 3))
    >>> W_in, W_rec = rng.standard_normal((3, 4)), 0.5 * rng.standard_normal((4, 4))
    >>> H = elman_forward(X, W_in, W_rec, np.zeros(4))
    >>> H.shape
    (2, 5, 4)
    >>> bool(np.all((H > 0) & (H < 1)))
    True
    >>> H2 = elman_forward(X, W_in, W_rec, np.zeros(4), lengths=[5, 2])
    >>> bool(np.array_equal(H2[1, 2:], np.broadcast_to(H2[1, 1], (3, 4))))
    True
    >>> buf = np.empty((2, 5, 4))
    >>> elman_forward(X, W_in, W_rec, np.zeros(4), out=buf) is buf
    True
    """
    dtype, X, W_in, W_rec, b, h0, lengths, _, _, act = _validate(
        X, W_in, W_rec, h0, lengths, activation, b=_required("b", b)
    )
    n_samples, n_timesteps, _ = X.shape
    shape = (n_samples, n_timesteps, W_in.shape[1])
    if out is None:
        H = _recycled_empty(shape, dtype)
    else:
        H = _check_out(out, shape, dtype, (X, W_in, W_rec, b, h0, lengths))
    if H.size:
        _forward_into(X, W_in, W_rec, b, h0, lengths, act, H, bool(flush_subnormals))
    return H


def _check_out(out, shape, dtype, inputs):
    """out, checked to be a writeable C-contiguous array of shape and dtype apart from inputs."""
    if not isinstance(out, np.ndarray):
        raise ValueError(f"out must be a numpy array, got {type(out).__name__}.")
    if out.shape != shape:
        raise _shape_error("out", out.shape, shape)
    if out.dtype != dtype:
        raise ValueError(f"out has dtype {out.dtype}, expected {np.dtype(dtype)} (the dtype of "
                         f"the computation, decided by X).")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out must be C-contiguous and writeable.")
    for a in inputs:
        if a is not None and np.may_share_memory(out, a):
            raise ValueError("out overlaps an input array.")
    return out


def _forward_into(X, W_in, W_rec, b, h0, lengths, act, H, flush=True):
    """elman_forward's work, unchecked, into H (non-empty): for callers that validated.

    Every array C-contiguous, of one float dtype and the right shape; lengths None or intp
    in [1, n_timesteps]; act one of ACTIVATIONS' values.  The estimators call this to
    predict, on input they have already checked.
    """
    n_samples, n_timesteps, n_features = X.shape
    n_hidden = W_in.shape[1]
    n_threads = _n_threads(n_samples, n_timesteps, n_hidden)
    row_block, _ = _blocks(n_samples, n_hidden, n_threads)
    scratch = _scratch(_elman.scratch_bytes(X.dtype == np.float32, False, n_samples, n_features,
                                          n_hidden))
    _elman.elman_forward_loop(X, W_in, W_rec, b, h0, lengths, H, act, row_block, n_threads,
                            flush, scratch)


def _required(name, a):
    if a is None:
        raise ValueError(f"{name} is required.")
    return a


def elman_backward(X, H, dH, W_in, W_rec, h0=None, *, activation="sigmoid", lengths=None,
                   bptt_steps=None, flush_subnormals=True):
    """Backpropagation through time for :func:`elman_forward`.

    Given the gradient ``dH`` of a loss with respect to every state of a forward pass, returns
    the gradients with respect to the inputs, the weights, the bias and the initial state,
    running the recursion backwards from the last step to the first (optionally truncated to
    windows of ``bptt_steps`` steps).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_timesteps, n_features)
        The inputs given to :func:`elman_forward`; its dtype decides the computation's.
    H : array-like of shape (n_samples, n_timesteps, n_hidden)
        The states returned by :func:`elman_forward`.
    dH : array-like of shape (n_samples, n_timesteps, n_hidden)
        Gradient of the loss with respect to every ``H[:, t]`` (zeros where the loss does
        not look at the state, e.g. all but the last step of a many-to-one model).
    W_in : array-like of shape (n_features, n_hidden)
        The input weights given to :func:`elman_forward`.
    W_rec : array-like of shape (n_hidden, n_hidden)
        The recurrent weights given to :func:`elman_forward`.
    h0 : array-like of shape (n_samples, n_hidden), default=None
        Initial state used in the forward pass; None means zeros.
    activation : {"sigmoid", "tanh", "relu"}, default="sigmoid"
        The activation of the forward pass.
    lengths : array-like of int of shape (n_samples,), default=None
        As in :func:`elman_forward`.  A gradient arriving at a carried copy
        ``H[i, t]``, ``t >= lengths[i]``, flows to the last real step ``H[i, lengths[i]-1]``
        -- unless ``bptt_steps`` puts a window boundary between them: the carried copies are
        steps like the others, so the boundary stops it (a sequence that ends before the last
        window then receives no gradient from the final state ``H[:, -1]``).
    bptt_steps : int, default=None
        Truncated BPTT: the time axis is cut into consecutive windows of ``bptt_steps`` steps
        starting at ``t = 0``; gradients do not flow back across a window boundary (from
        ``H[:, t]`` to ``H[:, t-1]`` where ``t`` is a multiple of ``bptt_steps``), while the
        states (computed by the forward pass) did flow forward.  ``dh0`` receives the
        gradient of the first window only.  None means full BPTT.
    flush_subnormals : bool, default=True
        As in :func:`elman_forward`.  Gradients shrink by up to 1/4 per step through a
        sigmoid, so in float32 they reach the subnormal range after a few dozen steps, where
        strict IEEE arithmetic (False) is several times slower.

    Returns
    -------
    dX : ndarray of shape (n_samples, n_timesteps, n_features)
        Gradient with respect to the inputs X (zero at the carried steps of ``lengths``).
    dW_in : ndarray of shape (n_features, n_hidden)
        Gradient with respect to the input weights, summed over samples and steps.
    dW_rec : ndarray of shape (n_hidden, n_hidden)
        Gradient with respect to the recurrent weights, summed over samples and steps.
    db : ndarray of shape (n_hidden,)
        Gradient with respect to the bias, summed over samples and steps.
    dh0 : ndarray of shape (n_samples, n_hidden)
        Gradient with respect to the initial state, also when ``h0`` is None (zeros).

    Raises
    ------
    ValueError
        As :func:`elman_forward`, and for ``H`` or ``dH`` of the wrong shape or
        ``bptt_steps < 1``.

    See Also
    --------
    elman_forward : The forward pass whose gradients this computes.

    Notes
    -----
    The activation derivative is computed from the stored outputs ``h = H[:, t]``:
    ``h (1 - h)`` for sigmoid, ``1 - h^2`` for tanh, ``h > 0`` for relu (as scikit-learn's
    MLP and torch do).  For saturated sigmoid units (``|pre-activation| > ~37`` in float64)
    this gives 0 where the exact derivative is ``~exp(-|x|)``.

    Each step is one fused loop (``dA[:, t] = (dH[:, t] + carry) * act'(H[:, t])``) and one
    GEMM ``carry = dA[:, t] @ W_rec^T`` (sigcy's kernel, as in :func:`elman_forward`), and
    ``dX = dA @ W_in^T`` follows per block of samples.  ``dW_in``, ``dW_rec`` and ``db`` are
    then sums over all samples and steps, in row order (``dW_rec`` in blocks of its rows, one
    per thread), so the result does not depend on the number of threads.  Extra memory: one
    array of H's size (``dA``) and the packed weights, a scratch buffer that the calling
    thread keeps for its later calls (up to 64 MiB).

    Examples
    --------
    >>> import numpy as np
    >>> from sigcy.rnn import elman_forward, elman_backward
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((2, 5, 3))
    >>> W_in, W_rec, b = rng.standard_normal((3, 4)), 0.5 * rng.standard_normal((4, 4)), np.zeros(4)
    >>> H = elman_forward(X, W_in, W_rec, b, activation="tanh")
    >>> dH = np.zeros_like(H)
    >>> dH[:, -1] = H[:, -1]      # loss = 0.5 * sum(H[:, -1] ** 2)
    >>> dX, dW_in, dW_rec, db, dh0 = elman_backward(X, H, dH, W_in, W_rec, activation="tanh")
    >>> dX.shape, dW_in.shape, dW_rec.shape, db.shape, dh0.shape
    ((2, 5, 3), (3, 4), (4, 4), (4,), (2, 4))
    """
    dtype, X, W_in, W_rec, _, h0, lengths, H, dH, act = _validate(
        X, W_in, W_rec, h0, lengths, activation, H=_required("H", H), dH=_required("dH", dH)
    )
    n_samples, n_timesteps, n_features = X.shape
    n_hidden = W_in.shape[1]
    if bptt_steps is None:
        bptt_steps = n_timesteps
    elif isinstance(bptt_steps, (bool, np.bool_)) or not isinstance(bptt_steps, (int, np.integer)):
        raise ValueError(f"bptt_steps must be None or a positive int, got {bptt_steps!r}.")
    elif bptt_steps < 1:
        raise ValueError(f"bptt_steps must be None or a positive int, got {bptt_steps}.")
    bptt_steps = int(min(bptt_steps, n_timesteps))

    dX = _recycled_empty(X.shape, dtype)
    dW_in = np.empty((n_features, n_hidden), dtype=dtype)
    dW_rec = np.empty((n_hidden, n_hidden), dtype=dtype)
    db = np.empty(n_hidden, dtype=dtype)
    dh0 = np.empty((n_samples, n_hidden), dtype=dtype)
    if n_samples == 0 or n_hidden == 0:
        dX[...] = 0
        dW_in[...] = 0
        dW_rec[...] = 0
        db[...] = 0
        dh0[...] = 0
        return dX, dW_in, dW_rec, db, dh0
    n_threads = _n_threads(n_samples, n_timesteps, n_hidden)
    row_block, grad_block = _blocks(n_samples, n_hidden, n_threads)
    loop_bytes = _elman.scratch_bytes(dtype == np.float32, True, n_samples, n_features, n_hidden,
                                    grad_block, n_threads)
    itemsize = np.dtype(dtype).itemsize
    buf = _scratch(((n_samples * n_timesteps * n_hidden * itemsize + 63) // 64
                    + (2 * n_samples * n_hidden * itemsize + 63) // 64) * 64 + loop_bytes)
    dA, offset = _carve(buf, 0, (n_samples, n_timesteps, n_hidden), dtype)
    carry, offset = _carve(buf, offset, (2, n_samples, n_hidden), dtype)
    _elman.elman_backward_loop(X, H, dH, W_in, W_rec, h0, lengths, bptt_steps, dA, carry, dX,
                             dW_in, dW_rec, db, dh0, act, row_block, grad_block, n_threads,
                             bool(flush_subnormals), buf[offset:])
    return dX, dW_in, dW_rec, db, dh0


def _state_gradients(X, H, dH, W_in, W_rec, act, lengths, bptt_steps):
    """dL/dH[:, t], the whole gradient reaching every state in elman_backward's recursion
    (from the step after it and from dH), a new array of H's shape.

    h0 is zero, and the arithmetic strict IEEE (no flush of subnormals: gradient_flow shows
    how small gradients get).  Unchecked, as _forward_into: every array C-contiguous in one
    float dtype, lengths None or intp, act one of ACTIVATIONS' values, bptt_steps None or a
    positive int.  For sigcy.inspection.gradient_flow.
    """
    dtype = X.dtype
    n_samples, n_timesteps, n_features = X.shape
    n_hidden = W_in.shape[1]
    bptt_steps = n_timesteps if bptt_steps is None else int(min(bptt_steps, n_timesteps))
    G = np.empty((n_samples, n_timesteps, n_hidden), dtype=dtype)
    dA = np.empty_like(G)
    carry = np.empty((2, n_samples, n_hidden), dtype=dtype)
    dW_in = np.empty((n_features, n_hidden), dtype=dtype)      # computed, not needed
    dW_rec = np.empty((n_hidden, n_hidden), dtype=dtype)
    db = np.empty(n_hidden, dtype=dtype)
    n_threads = _n_threads(n_samples, n_timesteps, n_hidden)
    row_block, grad_block = _blocks(n_samples, n_hidden, n_threads)
    scratch = _scratch(_elman.scratch_bytes(dtype == np.float32, True, n_samples, n_features,
                                            n_hidden, grad_block, n_threads))
    _elman.elman_backward_loop(X, H, dH, W_in, W_rec, None, lengths, bptt_steps, dA, carry,
                               None, dW_in, dW_rec, db, None, act, row_block, grad_block,
                               n_threads, False, scratch, G)
    return G
