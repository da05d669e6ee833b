"""Elman RNN forward pass and backpropagation through time: the compiled loops.

Design
------
- Python (``sigcy/rnn.py``): validation, casting to one dtype, C-contiguous copies, allocation
  of every output and scratch array, the thread count.  Nothing here allocates, raises or
  touches a Python object inside the time loop.
- GEMMs: ``scipy.linalg.cython_blas`` (sgemm/dgemm), called without the GIL.  BLAS is
  column-major; a row-major product ``C = op(A) op(B)`` is computed as the column-major
  ``C^T = op(B)^T op(A)^T`` (``_gemm_rm``).  Time slices ``H[:, t]`` of a C-contiguous
  ``(n_samples, n_timesteps, n_hidden)`` array are matrices with leading dimension
  ``n_timesteps * n_hidden``, so no copy or transposed layout is needed.
    forward : one GEMM ``X @ W_in`` for all time steps (written straight into H), then per
              step one GEMM ``H[:, t] += H[:, t-1] @ W_rec``.
    backward: per step one GEMM ``carry = dA[:, t] @ W_rec^T``; after the recursion the weight
              gradients as GEMMs over all time steps (``dW_in = X^T dA``,
              ``dW_rec = H_prev^T dA``, ``dX = dA W_in^T``).
- Elementwise work (bias, activation, derivative, masking): scalar C kernels cimported from
  ``sigcy/_kernels.pxd`` (the dispatched sigmoid array loop for whole rows) in loops over the
  samples, ``prange`` over rows when the step is large enough.  Every element is computed by
  the same code whichever thread runs it, so results do not depend on the thread count.
- ``db`` is a reduction over all ``n_samples * n_timesteps`` rows of ``dA``: fixed chunks of
  ``_DB_CHUNK`` rows (independent of the thread count) summed in parallel, then the chunk sums
  added in chunk order.

Activation derivatives are computed from the stored outputs ``h`` (the forward pass keeps
only H): sigmoid ``h (1 - h)``, tanh ``1 - h^2``, relu ``h > 0``.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport tanh, tanhf
from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm, sgemm

cdef extern from "sigcy_kernels.h" nogil:
    void sigcy_sigmoid_d_strided(const char *x, Py_ssize_t iss, char *y, Py_ssize_t oss,
                                 Py_ssize_t n) noexcept
    void sigcy_sigmoid_f_strided(const char *x, Py_ssize_t iss, char *y, Py_ssize_t oss,
                                 Py_ssize_t n) noexcept
    const char *sigcy_dispatch_init() noexcept

# The static kernel library is linked into each extension module: pick this copy's
# instruction set once, at import, before any thread can call a loop.
sigcy_dispatch_init()

# Activation codes shared with sigcy/rnn.py.
ACT_SIGMOID = 0
ACT_TANH = 1
ACT_RELU = 2
DB_CHUNK = 256
cdef int _SIGMOID = 0
cdef int _TANH = 1
cdef int _RELU = 2
cdef Py_ssize_t _DB_CHUNK = 256


cdef inline void _gemm_rm(char transa, char transb, int m, int n, int k, floating alpha,
                          const floating *a, int lda, const floating *b, int ldb,
                          floating beta, floating *c, int ldc) noexcept nogil:
    """Row-major ``C[m, n] = alpha op(A)[m, k] op(B)[k, n] + beta C`` through column-major BLAS."""
    if m == 0 or n == 0:
        return
    # BLAS rejects leading dimensions below 1 (possible only for empty operands)
    lda = max(lda, 1)
    ldb = max(ldb, 1)
    ldc = max(ldc, 1)
    if floating is float:
        sgemm(&transb, &transa, &n, &m, &k, &alpha, <float *> b, &ldb, <float *> a, &lda,
              &beta, c, &ldc)
    else:
        dgemm(&transb, &transa, &n, &m, &k, &alpha, <double *> b, &ldb, <double *> a, &lda,
              &beta, c, &ldc)


# ----------------------------------------------------------------------------- forward
cdef inline void _forward_row(floating *row,              # INOUT pre-activation -> H[i, t]
                              const floating *prev,       # IN H[i, t-1] (or h0[i]; NULL: zeros)
                              const floating *b,          # IN bias
                              Py_ssize_t n_hidden, int act, bint active) noexcept nogil:
    cdef Py_ssize_t j
    if not active:
        # carried state (t >= lengths[i]); t > 0 here since lengths >= 1
        memcpy(row, prev, n_hidden * sizeof(floating))
        return
    if act == _SIGMOID:
        for j in range(n_hidden):
            row[j] = row[j] + b[j]
        if floating is float:
            sigcy_sigmoid_f_strided(<char *> row, sizeof(float), <char *> row, sizeof(float),
                                    n_hidden)
        else:
            sigcy_sigmoid_d_strided(<char *> row, sizeof(double), <char *> row, sizeof(double),
                                    n_hidden)
    elif act == _TANH:
        for j in range(n_hidden):
            if floating is float:
                row[j] = tanhf(row[j] + b[j])
            else:
                row[j] = tanh(row[j] + b[j])
    else:
        for j in range(n_hidden):
            # NaN stays NaN (a comparison with NaN is false)
            row[j] = row[j] + b[j]
            if row[j] < 0:
                row[j] = 0


def elman_forward_loop(
    const floating[:, :, ::1] X,      # IN  (n_samples, n_timesteps, n_features)
    const floating[:, ::1] W_in,      # IN  (n_features, n_hidden)
    const floating[:, ::1] W_rec,     # IN  (n_hidden, n_hidden)
    const floating[::1] b,            # IN  (n_hidden,)
    const floating[:, ::1] h0,        # IN  (n_samples, n_hidden), or None for zeros
    const Py_ssize_t[::1] lengths,    # IN  (n_samples,) in [1, n_timesteps]
    floating[:, :, ::1] H,            # OUT (n_samples, n_timesteps, n_hidden)
    int act,
    int n_threads,
):
    """H[:, t] = act(X[:, t] @ W_in + H[:, t-1] @ W_rec + b), carried where t >= lengths."""
    cdef Py_ssize_t n_samples = X.shape[0], n_timesteps = X.shape[1]
    cdef Py_ssize_t n_features = X.shape[2], n_hidden = W_in.shape[1]
    cdef Py_ssize_t i, t
    cdef Py_ssize_t row_stride = n_timesteps * n_hidden
    cdef bint has_h0 = h0 is not None
    cdef const floating *h0_ptr = NULL
    cdef const floating *prev
    cdef floating *Hp = &H[0, 0, 0]
    cdef floating one = 1, zero = 0
    if has_h0:
        h0_ptr = &h0[0, 0]

    with nogil:
        # input projection of every time step: H = X @ W_in, (n_samples * n_timesteps) rows
        _gemm_rm(c'N', c'N', <int> (n_samples * n_timesteps), <int> n_hidden,
                 <int> n_features, one, &X[0, 0, 0], <int> n_features, &W_in[0, 0],
                 <int> n_hidden, zero, Hp, <int> n_hidden)
        for t in range(n_timesteps):
            # recurrence: H[:, t] += H[:, t-1] @ W_rec
            if t > 0:
                _gemm_rm(c'N', c'N', <int> n_samples, <int> n_hidden, <int> n_hidden, one,
                         Hp + (t - 1) * n_hidden, <int> row_stride, &W_rec[0, 0],
                         <int> n_hidden, one, Hp + t * n_hidden, <int> row_stride)
            elif has_h0:
                _gemm_rm(c'N', c'N', <int> n_samples, <int> n_hidden, <int> n_hidden, one,
                         h0_ptr, <int> n_hidden, &W_rec[0, 0], <int> n_hidden, one, Hp,
                         <int> row_stride)
            # bias + activation (or carry), one row per sample
            if n_threads > 1:
                for i in prange(n_samples, schedule='static', num_threads=n_threads):
                    _forward_row(Hp + i * row_stride + t * n_hidden,
                                 Hp + i * row_stride + (t - 1) * n_hidden,
                                 &b[0], n_hidden, act, t < lengths[i])
            else:
                for i in range(n_samples):
                    _forward_row(Hp + i * row_stride + t * n_hidden,
                                 Hp + i * row_stride + (t - 1) * n_hidden,
                                 &b[0], n_hidden, act, t < lengths[i])


# ----------------------------------------------------------------------------- backward
cdef inline void _backward_row(floating *da,              # OUT dA[i, t]
                               floating *g,               # INOUT carry[i] -> dL/dH[i, t]
                               const floating *dh,        # IN dH[i, t]
                               const floating *h,         # IN H[i, t]
                               Py_ssize_t n_hidden, int act, bint active) noexcept nogil:
    """g = dH[i, t] + carry[i]; dA[i, t] = g * act'(H[i, t]) (0 where the state is carried)."""
    cdef Py_ssize_t j
    cdef floating hj
    if not active:
        for j in range(n_hidden):
            g[j] = g[j] + dh[j]
            da[j] = 0
        return
    if act == _SIGMOID:
        for j in range(n_hidden):
            da[j] = (g[j] + dh[j]) * (h[j] * (1 - h[j]))
    elif act == _TANH:
        for j in range(n_hidden):
            da[j] = (g[j] + dh[j]) * (1 - h[j] * h[j])
    else:
        for j in range(n_hidden):
            hj = h[j]
            # relu' = 1 where h > 0, else 0; a NaN state propagates NaN
            da[j] = (g[j] + dh[j]) if hj > 0 else (hj if hj != hj else 0)


def elman_backward_loop(
    const floating[:, :, ::1] X,      # IN  (n_samples, n_timesteps, n_features)
    const floating[:, :, ::1] H,      # IN  (n_samples, n_timesteps, n_hidden)
    const floating[:, :, ::1] dH,     # IN  (n_samples, n_timesteps, n_hidden)
    const floating[:, ::1] W_in,      # IN  (n_features, n_hidden)
    const floating[:, ::1] W_rec,     # IN  (n_hidden, n_hidden)
    const floating[:, ::1] h0,        # IN  (n_samples, n_hidden), or None for zeros
    const Py_ssize_t[::1] lengths,    # IN  (n_samples,) in [1, n_timesteps]
    Py_ssize_t bptt_steps,            # IN  window length (n_timesteps for full BPTT)
    floating[:, :, ::1] dA,           # OUT (n_samples, n_timesteps, n_hidden) scratch:
                                      #     dL/d(pre-activation); dA[:, 0] is zeroed on exit
    floating[:, :, ::1] carry,        # OUT (2, n_samples, n_hidden) scratch
    floating[:, ::1] db_parts,        # OUT (ceil(n_samples*n_timesteps / DB_CHUNK), n_hidden)
    floating[:, :, ::1] dX,           # OUT (n_samples, n_timesteps, n_features)
    floating[:, ::1] dW_in,           # OUT (n_features, n_hidden)
    floating[:, ::1] dW_rec,          # OUT (n_hidden, n_hidden)
    floating[::1] db,                 # OUT (n_hidden,)
    floating[:, ::1] dh0,             # OUT (n_samples, n_hidden)
    int act,
    int n_threads,
):
    """Backpropagation through time for elman_forward_loop; see sigcy.rnn.elman_backward."""
    cdef Py_ssize_t n_samples = X.shape[0], n_timesteps = X.shape[1]
    cdef Py_ssize_t n_features = X.shape[2], n_hidden = W_in.shape[1]
    cdef Py_ssize_t n_rows = n_samples * n_timesteps
    cdef Py_ssize_t n_chunks = db_parts.shape[0]
    cdef Py_ssize_t i, t, j, c, r, r_end
    cdef Py_ssize_t row_stride = n_timesteps * n_hidden
    cdef const floating *Hp = &H[0, 0, 0]
    cdef const floating *dHp = &dH[0, 0, 0]
    cdef floating *dAp = &dA[0, 0, 0]
    cdef floating *gp = &carry[0, 0, 0]       # gradient reaching H[:, t] from t+1
    cdef floating *gnext = &carry[1, 0, 0]    # ... reaching H[:, t-1] from t
    cdef floating *dbp = &db_parts[0, 0]
    cdef floating *part
    cdef const floating *src
    cdef floating one = 1, zero = 0

    with nogil:
        memset(gp, 0, n_samples * n_hidden * sizeof(floating))
        for t in range(n_timesteps - 1, -1, -1):
            # dA[:, t] from the gradient reaching H[:, t]; carried rows keep it in `carry`
            if n_threads > 1:
                for i in prange(n_samples, schedule='static', num_threads=n_threads):
                    _backward_row(dAp + i * row_stride + t * n_hidden, gp + i * n_hidden,
                                  dHp + i * row_stride + t * n_hidden,
                                  Hp + i * row_stride + t * n_hidden,
                                  n_hidden, act, t < lengths[i])
            else:
                for i in range(n_samples):
                    _backward_row(dAp + i * row_stride + t * n_hidden, gp + i * n_hidden,
                                  dHp + i * row_stride + t * n_hidden,
                                  Hp + i * row_stride + t * n_hidden,
                                  n_hidden, act, t < lengths[i])
            if t == 0:
                # dh0 = dA[:, 0] @ W_rec^T (every sample is active at t = 0)
                _gemm_rm(c'N', c'T', <int> n_samples, <int> n_hidden, <int> n_hidden, one,
                         dAp, <int> row_stride, &W_rec[0, 0], <int> n_hidden, zero,
                         &dh0[0, 0], <int> n_hidden)
                break
            if t % bptt_steps == 0:
                # start of a truncation window: nothing flows back to H[:, t-1]
                memset(gp, 0, n_samples * n_hidden * sizeof(floating))
                continue
            # carry to H[:, t-1]: dA[:, t] @ W_rec^T for active rows ...
            _gemm_rm(c'N', c'T', <int> n_samples, <int> n_hidden, <int> n_hidden, one,
                     dAp + t * n_hidden, <int> row_stride, &W_rec[0, 0], <int> n_hidden,
                     zero, gnext, <int> n_hidden)
            # ... and the gradient itself for carried rows (H[i, t] = H[i, t-1])
            for i in range(n_samples):
                if t >= lengths[i]:
                    memcpy(gnext + i * n_hidden, gp + i * n_hidden, n_hidden * sizeof(floating))
            gp, gnext = gnext, gp

        # ---- weight gradients over all time steps, after the recursion
        # dX = dA @ W_in^T
        _gemm_rm(c'N', c'T', <int> n_rows, <int> n_features, <int> n_hidden, one, dAp,
                 <int> n_hidden, &W_in[0, 0], <int> n_hidden, zero, &dX[0, 0, 0],
                 <int> n_features)
        # dW_in = X^T @ dA
        _gemm_rm(c'T', c'N', <int> n_features, <int> n_hidden, <int> n_rows, one,
                 &X[0, 0, 0], <int> n_features, dAp, <int> n_hidden, zero, &dW_in[0, 0],
                 <int> n_hidden)
        # db: fixed chunks of rows summed in parallel, then added in chunk order
        for c in prange(n_chunks, schedule='static', num_threads=n_threads):
            part = dbp + c * n_hidden
            r_end = min((c + 1) * _DB_CHUNK, n_rows)
            memcpy(part, dAp + c * _DB_CHUNK * n_hidden, n_hidden * sizeof(floating))
            for r in range(c * _DB_CHUNK + 1, r_end):
                src = dAp + r * n_hidden
                for j in range(n_hidden):
                    part[j] = part[j] + src[j]
        memcpy(&db[0], dbp, n_hidden * sizeof(floating))
        for c in range(1, n_chunks):
            for j in range(n_hidden):
                db[j] = db[j] + dbp[c * n_hidden + j]
        # dW_rec = sum_t H[:, t-1]^T dA[:, t] with H[:, -1] = h0.  One GEMM over the flat rows
        # pairs H[i, t-1] with dA[i, t] for t >= 1 and H[i-1, T-1] with dA[i, 0]; zeroing
        # dA[:, 0] (kept in `carry`) removes the wrong pairs, and h0^T dA[:, 0] is added.
        for i in range(n_samples):
            memcpy(gp + i * n_hidden, dAp + i * row_stride, n_hidden * sizeof(floating))
            memset(dAp + i * row_stride, 0, n_hidden * sizeof(floating))
        if n_rows > 1:
            _gemm_rm(c'T', c'N', <int> n_hidden, <int> n_hidden, <int> (n_rows - 1), one,
                     Hp, <int> n_hidden, dAp + n_hidden, <int> n_hidden, zero, &dW_rec[0, 0],
                     <int> n_hidden)
        else:
            memset(&dW_rec[0, 0], 0, n_hidden * n_hidden * sizeof(floating))
        if h0 is not None:
            _gemm_rm(c'T', c'N', <int> n_hidden, <int> n_hidden, <int> n_samples, one,
                     &h0[0, 0], <int> n_hidden, gp, <int> n_hidden, one, &dW_rec[0, 0],
                     <int> n_hidden)
