"""Elman RNN forward pass and backpropagation through time: the compiled loops.

Design
------
- Python (``sigcy/rnn.py``): validation, casting to one dtype, C-contiguous copies, allocation
  of every output and scratch array, block sizes and the thread count.  Nothing here
  allocates, raises or touches a Python object; the time loops run without the GIL.
- GEMMs: ``scipy.linalg.cython_blas`` (sgemm/dgemm), single-threaded (the Python layer limits
  BLAS to one thread).  BLAS is column-major; a row-major product ``C = op(A) op(B)`` is
  computed as the column-major ``C^T = op(B)^T op(A)^T`` (``_gemm_rm``).  Time slices
  ``H[i0:i1, t]`` of a C-contiguous ``(n_samples, n_timesteps, n_hidden)`` array are matrices
  with leading dimension ``n_timesteps * n_hidden``: no copy, no transposed layout.
- Parallelism and reproducibility: the samples are cut into fixed blocks of ``row_block``
  samples (chosen in Python from the sizes, never from the thread count).  Each block is an
  independent recurrence, run by one thread from t = 0 to the end (forward) or back
  (backward) with no synchronization between steps:
    forward : one GEMM ``X @ W_in`` for all the block's time steps (written straight into H),
              then per step one GEMM ``H[:, t] += H[:, t-1] @ W_rec`` and one fused
              bias + activation loop per sample (or the carried copy, ``t >= lengths[i]``);
    backward: per step one fused loop ``dA[:, t] = (dH[:, t] + carry) * act'(H[:, t])`` and one
              GEMM ``carry = dA[:, t] @ W_rec^T`` (W_rec^T copied once, C order); then ``dX = dA @ W_in^T`` for the block.
  The weight gradients sum over every sample: they run after the recursion over fixed blocks
  of ``col_block`` hidden units (output columns), each block one GEMM over all
  ``n_samples * n_timesteps`` rows (``dW_in = X^T dA``, ``dW_rec = H_prev^T dA``) and ``db`` a
  sum over the rows in row order.  Every output element is therefore computed by the same
  sequence of operations whatever the number of threads: the bits do not depend on it.
- Elementwise kernels: sigmoid through sigcy's dispatched array loop, tanh through the
  vectorized row loops of ``src/sigcy_rnn.h``, relu inline.  Derivatives come from the stored
  outputs ``h``: sigmoid ``h (1 - h)``, tanh ``1 - h^2``, relu ``h > 0``.
"""
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm, sgemm

cdef extern from "sigcy_kernels.h" nogil:
    void sigcy_sigmoid_d_strided(const char *x, Py_ssize_t iss, char *y, Py_ssize_t oss,
                                 Py_ssize_t n) noexcept
    void sigcy_sigmoid_f_strided(const char *x, Py_ssize_t iss, char *y, Py_ssize_t oss,
                                 Py_ssize_t n) noexcept
    const char *sigcy_dispatch_init() noexcept

cdef extern from "sigcy_rnn.h" nogil:
    void sigcy_rnn_bias_tanh_d(double *row, const double *b, Py_ssize_t n) noexcept
    void sigcy_rnn_bias_tanh_f(float *row, const float *b, Py_ssize_t n) noexcept
    double sigcy_tanh_d(double x) noexcept
    float sigcy_tanh_f(float x) noexcept
    unsigned int sigcy_ftz_begin(int enable) noexcept
    void sigcy_ftz_end(unsigned int old, int enable) noexcept

# The static kernel library is linked into each extension module: pick this copy's
# instruction set once, at import, before any thread can call a loop.
sigcy_dispatch_init()

# Activation codes shared with sigcy/rnn.py.
ACT_SIGMOID = 0
ACT_TANH = 1
ACT_RELU = 2
cdef enum:
    _SIGMOID = 0
    _TANH = 1
    _RELU = 2


def _tanh(floating[::1] x):
    """In-place tanh with the RNN's kernel (for the accuracy tests)."""
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        if floating is float:
            x[i] = sigcy_tanh_f(x[i])
        else:
            x[i] = sigcy_tanh_d(x[i])


cdef inline void _gemm_rm(char transa, char transb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                          floating alpha, const floating *a, Py_ssize_t lda,
                          const floating *b, Py_ssize_t ldb, floating beta, floating *c,
                          Py_ssize_t ldc) noexcept nogil:
    """Row-major ``C[m, n] = alpha op(A)[m, k] op(B)[k, n] + beta C`` through column-major BLAS.

    The Python layer checks that every size and leading dimension fits in a BLAS int.
    """
    cdef int m_ = <int> m, n_ = <int> n, k_ = <int> k
    # BLAS rejects leading dimensions below 1 (possible only for empty operands)
    cdef int lda_ = <int> max(lda, 1), ldb_ = <int> max(ldb, 1), ldc_ = <int> max(ldc, 1)
    if m == 0 or n == 0:
        return
    if floating is float:
        sgemm(&transb, &transa, &n_, &m_, &k_, &alpha, <float *> b, &ldb_, <float *> a, &lda_,
              &beta, c, &ldc_)
    else:
        dgemm(&transb, &transa, &n_, &m_, &k_, &alpha, <double *> b, &ldb_, <double *> a,
              &lda_, &beta, c, &ldc_)


# ----------------------------------------------------------------------------- forward
cdef inline void _forward_row(floating *row,              # INOUT pre-activation -> H[i, t]
                              const floating *prev,       # IN H[i, t-1] (only if not active)
                              const floating *b,          # IN bias
                              Py_ssize_t n_hidden, int act, bint active) noexcept nogil:
    cdef Py_ssize_t j
    if not active:
        # carried state (t >= lengths[i] >= 1)
        memcpy(row, prev, n_hidden * sizeof(floating))
    elif act == _SIGMOID:
        for j in range(n_hidden):
            row[j] = row[j] + b[j]
        if floating is float:
            sigcy_sigmoid_f_strided(<char *> row, sizeof(float), <char *> row, sizeof(float),
                                    n_hidden)
        else:
            sigcy_sigmoid_d_strided(<char *> row, sizeof(double), <char *> row, sizeof(double),
                                    n_hidden)
    elif act == _TANH:
        if floating is float:
            sigcy_rnn_bias_tanh_f(row, b, n_hidden)
        else:
            sigcy_rnn_bias_tanh_d(row, b, n_hidden)
    else:
        for j in range(n_hidden):
            row[j] = row[j] + b[j]
            # NaN stays NaN (a comparison with NaN is false)
            row[j] = 0 if row[j] < 0 else row[j]


cdef void _forward_block(const floating *X,        # IN  (n_samples, n_timesteps, n_features)
                         const floating *W_in,     # IN  (n_features, n_hidden)
                         const floating *W_rec,    # IN  (n_hidden, n_hidden)
                         const floating *b,        # IN  (n_hidden,)
                         const floating *h0,       # IN  (n_samples, n_hidden) or NULL
                         const Py_ssize_t *lengths,  # IN (n_samples,)
                         floating *H,              # OUT (n_samples, n_timesteps, n_hidden)
                         Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t n_timesteps,
                         Py_ssize_t n_features, Py_ssize_t n_hidden, int act, int flush) noexcept nogil:
    """Samples i0 <= i < i1, every time step."""
    cdef Py_ssize_t i, t, m = i1 - i0
    cdef Py_ssize_t rs = n_timesteps * n_hidden   # H's sample stride
    cdef floating *Hb = H + i0 * rs
    cdef unsigned int csr = sigcy_ftz_begin(flush)
    # input projection of every time step: (m * n_timesteps) rows of X @ W_in
    _gemm_rm(c'N', c'N', m * n_timesteps, n_hidden, n_features, <floating> 1,
             X + i0 * n_timesteps * n_features, n_features, W_in, n_hidden, <floating> 0,
             Hb, n_hidden)
    for t in range(n_timesteps):
        if t > 0:
            _gemm_rm(c'N', c'N', m, n_hidden, n_hidden, <floating> 1, Hb + (t - 1) * n_hidden,
                     rs, W_rec, n_hidden, <floating> 1, Hb + t * n_hidden, rs)
        elif h0 != NULL:
            _gemm_rm(c'N', c'N', m, n_hidden, n_hidden, <floating> 1, h0 + i0 * n_hidden,
                     n_hidden, W_rec, n_hidden, <floating> 1, Hb, rs)
        for i in range(i0, i1):
            _forward_row(H + i * rs + t * n_hidden, H + i * rs + (t - 1) * n_hidden, b,
                         n_hidden, act, t < lengths[i])
    sigcy_ftz_end(csr, flush)


cdef void _forward_cols(const floating *W_rec,    # IN  (n_hidden, n_hidden)
                        const floating *b,        # IN  (n_hidden,)
                        const floating *h0,       # IN  (n_samples, n_hidden) or NULL
                        const Py_ssize_t *lengths,  # IN (n_samples,)
                        floating *H,              # INOUT (n_samples, n_timesteps, n_hidden),
                                                  #   input projection in, states out
                        Py_ssize_t t, Py_ssize_t j0, Py_ssize_t j1, Py_ssize_t n_samples,
                        Py_ssize_t n_timesteps, Py_ssize_t n_hidden, int act, int flush) noexcept nogil:
    """Step t for hidden units j0 <= j < j1 of every sample."""
    cdef Py_ssize_t i, n = j1 - j0
    cdef Py_ssize_t rs = n_timesteps * n_hidden
    cdef floating *C = H + t * n_hidden + j0
    cdef unsigned int csr = sigcy_ftz_begin(flush)
    if t > 0:
        _gemm_rm(c'N', c'N', n_samples, n, n_hidden, <floating> 1, H + (t - 1) * n_hidden, rs,
                 W_rec + j0, n_hidden, <floating> 1, C, rs)
    elif h0 != NULL:
        _gemm_rm(c'N', c'N', n_samples, n, n_hidden, <floating> 1, h0, n_hidden, W_rec + j0,
                 n_hidden, <floating> 1, C, rs)
    for i in range(n_samples):
        _forward_row(C + i * rs, C + i * rs - n_hidden, b + j0, n, act, t < lengths[i])
    sigcy_ftz_end(csr, flush)


def elman_forward_loop(
    const floating[:, :, ::1] X,      # IN  (n_samples, n_timesteps, n_features)
    const floating[:, ::1] W_in,      # IN  (n_features, n_hidden)
    const floating[:, ::1] W_rec,     # IN  (n_hidden, n_hidden)
    const floating[::1] b,            # IN  (n_hidden,)
    const floating[:, ::1] h0,        # IN  (n_samples, n_hidden), or None for zeros
    const Py_ssize_t[::1] lengths,    # IN  (n_samples,) in [1, n_timesteps]
    floating[:, :, ::1] H,            # OUT (n_samples, n_timesteps, n_hidden)
    int act,
    Py_ssize_t row_block,             # > 0: split the samples; 0: split the hidden units
    Py_ssize_t col_block,             # hidden units per block when row_block == 0
    int n_threads,
    bint flush,                       # flush subnormals to zero (FTZ/DAZ) in sigcy's threads
):
    """H[:, t] = act(X[:, t] @ W_in + H[:, t-1] @ W_rec + b), carried where t >= lengths."""
    cdef Py_ssize_t n_samples = X.shape[0], n_timesteps = X.shape[1]
    cdef Py_ssize_t n_features = X.shape[2], n_hidden = W_in.shape[1]
    cdef Py_ssize_t n_blocks, blk, t, j0
    cdef unsigned int csr
    cdef const floating *h0_ptr = NULL
    if h0 is not None:
        h0_ptr = &h0[0, 0]
    if row_block == 0:
        # hidden-unit blocks: the GEMMs keep all samples (M = n_samples), two barriers a step
        n_blocks = (n_hidden + col_block - 1) // col_block
        n_threads = <int> min(n_threads, n_blocks)
        with nogil:
            # input projection of every time step.  FTZ is set only around work of the
            # calling thread, never across the start of a parallel region: threads that
            # OpenMP creates inherit the creator's floating-point control register.
            csr = sigcy_ftz_begin(flush)
            _gemm_rm(c'N', c'N', n_samples * n_timesteps, n_hidden, n_features, <floating> 1,
                     &X[0, 0, 0], n_features, &W_in[0, 0], n_hidden, <floating> 0,
                     &H[0, 0, 0], n_hidden)
            sigcy_ftz_end(csr, flush)
            if n_threads > 1:
                with parallel(num_threads=n_threads):
                    for t in range(n_timesteps):
                        for blk in prange(n_blocks, schedule='static'):
                            j0 = blk * col_block
                            _forward_cols(&W_rec[0, 0], &b[0], h0_ptr, &lengths[0],
                                          &H[0, 0, 0], t, j0, min(j0 + col_block, n_hidden),
                                          n_samples, n_timesteps, n_hidden, act, flush)
            else:
                for t in range(n_timesteps):
                    for blk in range(n_blocks):
                        j0 = blk * col_block
                        _forward_cols(&W_rec[0, 0], &b[0], h0_ptr, &lengths[0], &H[0, 0, 0],
                                      t, j0, min(j0 + col_block, n_hidden), n_samples,
                                      n_timesteps, n_hidden, act, flush)
        return
    n_blocks = (n_samples + row_block - 1) // row_block
    n_threads = <int> min(n_threads, n_blocks)
    with nogil:
        if n_threads > 1:
            for blk in prange(n_blocks, schedule='static', chunksize=1, num_threads=n_threads):
                _forward_block(&X[0, 0, 0], &W_in[0, 0], &W_rec[0, 0], &b[0], h0_ptr,
                               &lengths[0], &H[0, 0, 0], blk * row_block,
                               min((blk + 1) * row_block, n_samples), n_timesteps,
                               n_features, n_hidden, act, flush)
        else:
            for blk in range(n_blocks):
                _forward_block(&X[0, 0, 0], &W_in[0, 0], &W_rec[0, 0], &b[0], h0_ptr,
                               &lengths[0], &H[0, 0, 0], blk * row_block,
                               min((blk + 1) * row_block, n_samples), n_timesteps,
                               n_features, n_hidden, act, flush)


# ----------------------------------------------------------------------------- backward
cdef inline void _backward_row(floating *da,              # OUT dA[i, t]
                               floating *g,               # INOUT carry[i] (+= dH if carried)
                               const floating *dh,        # IN dH[i, t]
                               const floating *h,         # IN H[i, t]
                               Py_ssize_t n_hidden, int act, bint active) noexcept nogil:
    """g + dH[i, t] is dL/dH[i, t]; dA[i, t] = that * act'(H[i, t]), 0 where carried."""
    cdef Py_ssize_t j
    cdef floating hj
    if not active:
        for j in range(n_hidden):
            g[j] = g[j] + dh[j]
            da[j] = 0
    elif act == _SIGMOID:
        for j in range(n_hidden):
            da[j] = (g[j] + dh[j]) * (h[j] * (1 - h[j]))
    elif act == _TANH:
        for j in range(n_hidden):
            da[j] = (g[j] + dh[j]) * (1 - h[j] * h[j])
    else:
        for j in range(n_hidden):
            hj = h[j]
            # relu' = 1 where h > 0, else 0; a NaN state gives NaN
            da[j] = (g[j] + dh[j]) if hj > 0 else (hj if hj != hj else 0)


cdef void _backward_block(const floating *H,       # IN  (n_samples, n_timesteps, n_hidden)
                          const floating *dH,      # IN  (n_samples, n_timesteps, n_hidden)
                          const floating *W_in,    # IN  (n_features, n_hidden)
                          const floating *W_rec_T,  # IN (n_hidden, n_hidden): W_rec^T
                          const Py_ssize_t *lengths,  # IN (n_samples,)
                          Py_ssize_t bptt_steps,
                          floating *dA,            # OUT (n_samples, n_timesteps, n_hidden)
                          floating *carry0,        # scratch (n_samples, n_hidden)
                          floating *carry1,        # scratch (n_samples, n_hidden)
                          floating *dX,            # OUT (n_samples, n_timesteps, n_features)
                          floating *dh0,           # OUT (n_samples, n_hidden)
                          Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t n_timesteps,
                          Py_ssize_t n_features, Py_ssize_t n_hidden, int act, int flush) noexcept nogil:
    """The recursion for samples i0 <= i < i1, then their dX."""
    cdef Py_ssize_t i, t, m = i1 - i0
    cdef Py_ssize_t rs = n_timesteps * n_hidden
    cdef floating *g = carry0 + i0 * n_hidden       # gradient reaching H[:, t] from t+1
    cdef floating *g_next = carry1 + i0 * n_hidden  # ... reaching H[:, t-1] from t
    cdef floating *tmp
    cdef floating *dAb = dA + i0 * rs
    cdef unsigned int csr = sigcy_ftz_begin(flush)
    memset(g, 0, m * n_hidden * sizeof(floating))
    for t in range(n_timesteps - 1, -1, -1):
        for i in range(i0, i1):
            _backward_row(dA + i * rs + t * n_hidden, g + (i - i0) * n_hidden,
                          dH + i * rs + t * n_hidden, H + i * rs + t * n_hidden,
                          n_hidden, act, t < lengths[i])
        if t == 0:
            # dh0 = dA[:, 0] @ W_rec^T (every sample is active at t = 0)
            _gemm_rm(c'N', c'N', m, n_hidden, n_hidden, <floating> 1, dAb, rs, W_rec_T,
                     n_hidden, <floating> 0, dh0 + i0 * n_hidden, n_hidden)
        elif t % bptt_steps == 0:
            # start of a truncation window: nothing flows back to H[:, t-1]
            memset(g, 0, m * n_hidden * sizeof(floating))
        else:
            # to H[:, t-1]: dA[:, t] @ W_rec^T for active samples ...
            _gemm_rm(c'N', c'N', m, n_hidden, n_hidden, <floating> 1, dAb + t * n_hidden, rs,
                     W_rec_T, n_hidden, <floating> 0, g_next, n_hidden)
            # ... the gradient itself for carried ones (H[i, t] = H[i, t-1])
            for i in range(i0, i1):
                if t >= lengths[i]:
                    memcpy(g_next + (i - i0) * n_hidden, g + (i - i0) * n_hidden,
                           n_hidden * sizeof(floating))
            tmp = g
            g = g_next
            g_next = tmp
    # dX = dA @ W_in^T for the block's rows
    _gemm_rm(c'N', c'T', m * n_timesteps, n_features, n_hidden, <floating> 1, dAb, n_hidden,
             W_in, n_hidden, <floating> 0, dX + i0 * n_timesteps * n_features, n_features)
    sigcy_ftz_end(csr, flush)


cdef void _backward_cols_elementwise(
        const floating *H,        # IN  (n_samples, n_timesteps, n_hidden)
        const floating *dH,       # IN  (n_samples, n_timesteps, n_hidden)
        const Py_ssize_t *lengths,  # IN (n_samples,)
        floating *dA,             # OUT (n_samples, n_timesteps, n_hidden)
        floating *g,              # INOUT (n_samples, n_hidden): gradient from t+1
        Py_ssize_t t, Py_ssize_t j0, Py_ssize_t j1, Py_ssize_t n_samples,
        Py_ssize_t n_timesteps, Py_ssize_t n_hidden, int act, int flush) noexcept nogil:
    cdef Py_ssize_t i, rs = n_timesteps * n_hidden, off = t * n_hidden + j0
    cdef unsigned int csr = sigcy_ftz_begin(flush)
    for i in range(n_samples):
        _backward_row(dA + i * rs + off, g + i * n_hidden + j0, dH + i * rs + off,
                      H + i * rs + off, j1 - j0, act, t < lengths[i])
    sigcy_ftz_end(csr, flush)


cdef void _backward_cols_carry(
        const floating *W_rec_T,  # IN  (n_hidden, n_hidden): W_rec^T, C-contiguous
        const Py_ssize_t *lengths,  # IN (n_samples,)
        Py_ssize_t bptt_steps,
        const floating *dA,       # IN  (n_samples, n_timesteps, n_hidden)
        const floating *g,        # IN  (n_samples, n_hidden): gradient reaching H[:, t]
        floating *g_next,         # OUT (n_samples, n_hidden): ... reaching H[:, t-1]
        floating *dh0,            # OUT (n_samples, n_hidden), written at t == 0
        Py_ssize_t t, Py_ssize_t j0, Py_ssize_t j1, Py_ssize_t n_samples,
        Py_ssize_t n_timesteps, Py_ssize_t n_hidden, int flush) noexcept nogil:
    cdef Py_ssize_t i, n = j1 - j0, rs = n_timesteps * n_hidden
    cdef unsigned int csr = sigcy_ftz_begin(flush)
    if t == 0:
        _gemm_rm(c'N', c'N', n_samples, n, n_hidden, <floating> 1, dA, rs, W_rec_T + j0,
                 n_hidden, <floating> 0, dh0 + j0, n_hidden)
    elif t % bptt_steps == 0:
        for i in range(n_samples):
            memset(g_next + i * n_hidden + j0, 0, n * sizeof(floating))
    else:
        _gemm_rm(c'N', c'N', n_samples, n, n_hidden, <floating> 1, dA + t * n_hidden, rs,
                 W_rec_T + j0, n_hidden, <floating> 0, g_next + j0, n_hidden)
        for i in range(n_samples):
            if t >= lengths[i]:
                memcpy(g_next + i * n_hidden + j0, g + i * n_hidden + j0, n * sizeof(floating))
    sigcy_ftz_end(csr, flush)


cdef void _weight_grads_block(const floating *X,    # IN  (n_rows, n_features), flat
                              const floating *H,    # IN  (n_rows, n_hidden), flat
                              const floating *h0,   # IN  (n_samples, n_hidden) or NULL
                              floating *dA,         # INOUT (n_rows, n_hidden), flat;
                                                    #   dA[:, 0, j0:j1] zeroed on exit
                              floating *stash,      # scratch (n_samples, n_hidden)
                              floating *dW_in,      # OUT (n_features, n_hidden)
                              floating *dW_rec,     # OUT (n_hidden, n_hidden)
                              floating *db,         # OUT (n_hidden,)
                              Py_ssize_t j0, Py_ssize_t j1, Py_ssize_t n_samples,
                              Py_ssize_t n_timesteps, Py_ssize_t n_features,
                              Py_ssize_t n_hidden, int flush) noexcept nogil:
    """Columns j0 <= j < j1 of dW_in, dW_rec and db: sums over every sample and step."""
    cdef Py_ssize_t i, r, j, n = j1 - j0
    cdef Py_ssize_t n_rows = n_samples * n_timesteps
    cdef Py_ssize_t rs = n_timesteps * n_hidden
    cdef const floating *src
    cdef unsigned int csr = sigcy_ftz_begin(flush)
    # dW_in[:, j0:j1] = X^T @ dA[:, j0:j1]
    _gemm_rm(c'T', c'N', n_features, n, n_rows, <floating> 1, X, n_features, dA + j0,
             n_hidden, <floating> 0, dW_in + j0, n_hidden)
    # db[j0:j1]: the rows in order
    for j in range(j0, j1):
        db[j] = 0
    for r in range(n_rows):
        src = dA + r * n_hidden
        for j in range(j0, j1):
            db[j] = db[j] + src[j]
    # dW_rec = sum_t H[:, t-1]^T dA[:, t] with H[:, -1] = h0.  One GEMM over the flat rows
    # pairs H[i, t-1] with dA[i, t] for t >= 1, and H[i-1, T-1] with dA[i, 0]; zeroing
    # dA[:, 0] (kept in `stash`) removes the wrong pairs, then h0^T dA[:, 0] is added.
    for i in range(n_samples):
        memcpy(stash + i * n_hidden + j0, dA + i * rs + j0, n * sizeof(floating))
        memset(dA + i * rs + j0, 0, n * sizeof(floating))
    if n_rows > 1:
        _gemm_rm(c'T', c'N', n_hidden, n, n_rows - 1, <floating> 1, H, n_hidden,
                 dA + n_hidden + j0, n_hidden, <floating> 0, dW_rec + j0, n_hidden)
    else:
        for i in range(n_hidden):
            memset(dW_rec + i * n_hidden + j0, 0, n * sizeof(floating))
    if h0 != NULL:
        _gemm_rm(c'T', c'N', n_hidden, n, n_samples, <floating> 1, h0, n_hidden, stash + j0,
                 n_hidden, <floating> 1, dW_rec + j0, n_hidden)
    sigcy_ftz_end(csr, flush)


def elman_backward_loop(
    const floating[:, :, ::1] X,      # IN  (n_samples, n_timesteps, n_features)
    const floating[:, :, ::1] H,      # IN  (n_samples, n_timesteps, n_hidden)
    const floating[:, :, ::1] dH,     # IN  (n_samples, n_timesteps, n_hidden)
    const floating[:, ::1] W_in,      # IN  (n_features, n_hidden)
    const floating[:, ::1] W_rec_T,   # IN  (n_hidden, n_hidden): W_rec transposed, C order
                                      #     (row-major GEMMs without transposition: ~10 %)
    const floating[:, ::1] h0,        # IN  (n_samples, n_hidden), or None for zeros
    const Py_ssize_t[::1] lengths,    # IN  (n_samples,) in [1, n_timesteps]
    Py_ssize_t bptt_steps,            # IN  window length (>= n_timesteps: full BPTT)
    floating[:, :, ::1] dA,           # OUT scratch (n_samples, n_timesteps, n_hidden):
                                      #     dL/d(pre-activation), dA[:, 0] zeroed on exit
    floating[:, :, ::1] carry,        # OUT scratch (2, n_samples, n_hidden)
    floating[:, :, ::1] dX,           # OUT (n_samples, n_timesteps, n_features)
    floating[:, ::1] dW_in,           # OUT (n_features, n_hidden)
    floating[:, ::1] dW_rec,          # OUT (n_hidden, n_hidden)
    floating[::1] db,                 # OUT (n_hidden,)
    floating[:, ::1] dh0,             # OUT (n_samples, n_hidden)
    int act,
    Py_ssize_t row_block,             # > 0: recursion split by samples; 0: by hidden units
    Py_ssize_t rec_col_block,         # hidden units per recursion block when row_block == 0
    Py_ssize_t col_block,             # hidden units per block of the weight gradients
    int n_threads,
    bint flush,                       # flush subnormals to zero (FTZ/DAZ) in sigcy's threads
):
    """Backpropagation through time for elman_forward_loop; see sigcy.rnn.elman_backward."""
    cdef Py_ssize_t n_samples = X.shape[0], n_timesteps = X.shape[1]
    cdef Py_ssize_t n_features = X.shape[2], n_hidden = W_in.shape[1]
    cdef Py_ssize_t n_row_blocks, n_rec_blocks, t, j0, i0
    cdef Py_ssize_t n_col_blocks = (n_hidden + col_block - 1) // col_block
    cdef Py_ssize_t blk
    cdef int threads_rows, threads_rec
    cdef int threads_cols = <int> min(n_threads, n_col_blocks)
    cdef unsigned int csr
    cdef const floating *h0_ptr = NULL
    cdef floating *g
    cdef floating *g_next
    if h0 is not None:
        h0_ptr = &h0[0, 0]
    if row_block == 0:
        n_row_blocks = 0
        n_rec_blocks = (n_hidden + rec_col_block - 1) // rec_col_block
        threads_rec = <int> min(n_threads, n_rec_blocks)
        row_block = 32        # blocks of dX = dA @ W_in^T
    else:
        n_row_blocks = (n_samples + row_block - 1) // row_block
        n_rec_blocks = 0
        threads_rec = 1
    threads_rows = <int> min(n_threads, (n_samples + row_block - 1) // row_block)
    with nogil:
        if n_rec_blocks > 0:
            # hidden-unit blocks; carry[t % 2] reaches H[:, t] from t+1
            memset(&carry[n_timesteps % 2, 0, 0], 0, n_samples * n_hidden * sizeof(floating))
            memset(&carry[(n_timesteps - 1) % 2, 0, 0], 0,
                   n_samples * n_hidden * sizeof(floating))
            if threads_rec > 1:
                with parallel(num_threads=threads_rec):
                    for t in range(n_timesteps - 1, -1, -1):
                        for blk in prange(n_rec_blocks, schedule='static'):
                            j0 = blk * rec_col_block
                            _backward_cols_elementwise(
                                &H[0, 0, 0], &dH[0, 0, 0], &lengths[0], &dA[0, 0, 0],
                                &carry[t % 2, 0, 0], t, j0, min(j0 + rec_col_block, n_hidden),
                                n_samples, n_timesteps, n_hidden, act, flush)
                        for blk in prange(n_rec_blocks, schedule='static'):
                            j0 = blk * rec_col_block
                            _backward_cols_carry(
                                &W_rec_T[0, 0], &lengths[0], bptt_steps, &dA[0, 0, 0],
                                &carry[t % 2, 0, 0], &carry[(t + 1) % 2, 0, 0], &dh0[0, 0],
                                t, j0, min(j0 + rec_col_block, n_hidden), n_samples,
                                n_timesteps, n_hidden, flush)
            else:
                for t in range(n_timesteps - 1, -1, -1):
                    for blk in range(n_rec_blocks):
                        j0 = blk * rec_col_block
                        _backward_cols_elementwise(
                            &H[0, 0, 0], &dH[0, 0, 0], &lengths[0], &dA[0, 0, 0],
                            &carry[t % 2, 0, 0], t, j0, min(j0 + rec_col_block, n_hidden),
                            n_samples, n_timesteps, n_hidden, act, flush)
                    for blk in range(n_rec_blocks):
                        j0 = blk * rec_col_block
                        _backward_cols_carry(
                            &W_rec_T[0, 0], &lengths[0], bptt_steps, &dA[0, 0, 0],
                            &carry[t % 2, 0, 0], &carry[(t + 1) % 2, 0, 0], &dh0[0, 0],
                            t, j0, min(j0 + rec_col_block, n_hidden), n_samples,
                            n_timesteps, n_hidden, flush)
            # dX = dA @ W_in^T over blocks of samples
            if threads_rows > 1:
                for blk in prange((n_samples + row_block - 1) // row_block, schedule='static',
                                  num_threads=threads_rows):
                    i0 = blk * row_block
                    csr = sigcy_ftz_begin(flush)
                    _gemm_rm(c'N', c'T', (min(i0 + row_block, n_samples) - i0) * n_timesteps,
                             n_features, n_hidden, <floating> 1, &dA[i0, 0, 0], n_hidden,
                             &W_in[0, 0], n_hidden, <floating> 0, &dX[i0, 0, 0], n_features)
                    sigcy_ftz_end(csr, flush)
            else:
                for blk in range((n_samples + row_block - 1) // row_block):
                    i0 = blk * row_block
                    csr = sigcy_ftz_begin(flush)
                    _gemm_rm(c'N', c'T', (min(i0 + row_block, n_samples) - i0) * n_timesteps,
                             n_features, n_hidden, <floating> 1, &dA[i0, 0, 0], n_hidden,
                             &W_in[0, 0], n_hidden, <floating> 0, &dX[i0, 0, 0], n_features)
                    sigcy_ftz_end(csr, flush)
        elif threads_rows > 1:
            for blk in prange(n_row_blocks, schedule='static', chunksize=1,
                              num_threads=threads_rows):
                _backward_block(&H[0, 0, 0], &dH[0, 0, 0], &W_in[0, 0], &W_rec_T[0, 0],
                                &lengths[0], bptt_steps, &dA[0, 0, 0], &carry[0, 0, 0],
                                &carry[1, 0, 0], &dX[0, 0, 0], &dh0[0, 0], blk * row_block,
                                min((blk + 1) * row_block, n_samples), n_timesteps,
                                n_features, n_hidden, act, flush)
        else:
            for blk in range(n_row_blocks):
                _backward_block(&H[0, 0, 0], &dH[0, 0, 0], &W_in[0, 0], &W_rec_T[0, 0],
                                &lengths[0], bptt_steps, &dA[0, 0, 0], &carry[0, 0, 0],
                                &carry[1, 0, 0], &dX[0, 0, 0], &dh0[0, 0], blk * row_block,
                                min((blk + 1) * row_block, n_samples), n_timesteps,
                                n_features, n_hidden, act, flush)
        # weight gradients, after the recursion; carry[0] is free again: the stash
        if threads_cols > 1:
            for blk in prange(n_col_blocks, schedule='static', chunksize=1,
                              num_threads=threads_cols):
                _weight_grads_block(&X[0, 0, 0], &H[0, 0, 0], h0_ptr, &dA[0, 0, 0],
                                    &carry[0, 0, 0], &dW_in[0, 0], &dW_rec[0, 0], &db[0],
                                    blk * col_block, min((blk + 1) * col_block, n_hidden),
                                    n_samples, n_timesteps, n_features, n_hidden, flush)
        else:
            for blk in range(n_col_blocks):
                _weight_grads_block(&X[0, 0, 0], &H[0, 0, 0], h0_ptr, &dA[0, 0, 0],
                                    &carry[0, 0, 0], &dW_in[0, 0], &dW_rec[0, 0], &db[0],
                                    blk * col_block, min((blk + 1) * col_block, n_hidden),
                                    n_samples, n_timesteps, n_features, n_hidden, flush)
