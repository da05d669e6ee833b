"""Elman RNN forward pass and backpropagation through time: the compiled loops.

Design
------
- Python (``sigcy/rnn.py``): validation, casting to one dtype, C-contiguous copies, allocation
  of every output and scratch array (the packed weights and the GEMM workspaces in one
  ``scratch`` buffer of ``scratch_bytes``; H and dX on recycled memory, ``_Block`` below),
  block sizes and the thread count.  Nothing here
  allocates, raises or touches a Python object in the loops, which run without the GIL.
- GEMMs: sigcy's own register-blocked kernels (``src/sigcy_gemm.h``, AVX-512, AVX2 or C),
  no BLAS.  The time loops (input projection, one product with W_rec or W_rec^T per step,
  ``dX``) run on weight matrices packed once per call; through BLAS, each step re-packed the
  matrix and paid a call's fixed cost.  The weight gradients (sums over all rows,
  ``A^T B``) pack their operands in passes of 256 rows.  Time slices ``H[i0:i1, t]`` of a
  C-contiguous ``(n_samples, n_timesteps, n_hidden)`` array are matrices with leading
  dimension ``n_timesteps * n_hidden``: no copy.  The kernels compute each output element by
  the same operations in the same order (a sum over the inner index in order) whatever the
  rows and columns around it, so any split of the work gives the same bits.
- Parallelism: the samples are cut into blocks of ``row_block`` samples (one per thread, from
  Python).  Each block is an independent recurrence, run by one thread from t = 0 to the end
  (forward) or back (backward) with no synchronization between steps:
    forward : one GEMM ``X @ W_in`` for all the block's time steps (written straight into H),
              then per step one GEMM ``H[:, t] += H[:, t-1] @ W_rec`` and one fused
              bias + activation call for the block's rows (in place; the carried copy where
              ``t >= lengths[i]``);
    backward: per step one fused loop ``dA[:, t] = (dH[:, t] + carry) * act'(H[:, t])`` and one
              GEMM ``carry = dA[:, t] @ W_rec^T``; then ``dX = dA @ W_in^T`` for the block.
  The weight gradients sum over every sample, after the recursion: ``dW_in = X^T dA`` and
  ``db`` (a sum over the rows in row order) on the calling thread, then
  ``dW_rec = H_prev^T dA`` over blocks of ``grad_block`` of its rows, one per thread.
- Elementwise kernels: sigmoid and tanh through sigcy's dispatched row loops (bias and
  activation in place on all the rows of a step in one call), relu inline.  Derivatives come from the stored
  outputs ``h``: sigmoid ``h (1 - h)``, tanh ``1 - h^2``, relu ``h > 0``.
"""
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

cdef extern from "sigcy_kernels.h" nogil:
    void sigcy_tanh_d_strided(const char *x, Py_ssize_t iss, char *y, Py_ssize_t oss,
                              Py_ssize_t n) noexcept
    void sigcy_tanh_f_strided(const char *x, Py_ssize_t iss, char *y, Py_ssize_t oss,
                              Py_ssize_t n) noexcept
    void sigcy_bias_tanh_rows_d(double *c, Py_ssize_t rs, const double *b, Py_ssize_t m,
                                Py_ssize_t n) noexcept
    void sigcy_bias_tanh_rows_f(float *c, Py_ssize_t rs, const float *b, Py_ssize_t m,
                                Py_ssize_t n) noexcept
    void sigcy_bias_sigmoid_rows_d(double *c, Py_ssize_t rs, const double *b, Py_ssize_t m,
                                   Py_ssize_t n) noexcept
    void sigcy_bias_sigmoid_rows_f(float *c, Py_ssize_t rs, const float *b, Py_ssize_t m,
                                   Py_ssize_t n) noexcept
    const char *sigcy_dispatch_init() noexcept

cdef extern from "sigcy_gemm.h" nogil:
    const char *sigcy_gemm_init() noexcept
    Py_ssize_t sigcy_packed_size_f(Py_ssize_t k, Py_ssize_t n) noexcept
    Py_ssize_t sigcy_packed_size_d(Py_ssize_t k, Py_ssize_t n) noexcept
    void sigcy_pack_f(const float *b, Py_ssize_t ldb, int trans, Py_ssize_t k, Py_ssize_t n,
                      float *bp) noexcept
    void sigcy_pack_d(const double *b, Py_ssize_t ldb, int trans, Py_ssize_t k, Py_ssize_t n,
                      double *bp) noexcept
    void sigcy_gemm_f(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float *a, Py_ssize_t lda,
                      const float *bp, float *c, Py_ssize_t ldc, int accumulate) noexcept
    void sigcy_gemm_d(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const double *a,
                      Py_ssize_t lda, const double *bp, double *c, Py_ssize_t ldc,
                      int accumulate) noexcept
    void sigcy_gemm2_f(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k1, const float *a1,
                       Py_ssize_t lda1, const float *b1p, Py_ssize_t k2, const float *a2,
                       Py_ssize_t lda2, const float *b2p, float *c, Py_ssize_t ldc) noexcept
    void sigcy_gemm2_d(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k1, const double *a1,
                       Py_ssize_t lda1, const double *b1p, Py_ssize_t k2, const double *a2,
                       Py_ssize_t lda2, const double *b2p, double *c, Py_ssize_t ldc) noexcept
    Py_ssize_t sigcy_gemm_tn_work_f(Py_ssize_t m, Py_ssize_t n) noexcept
    Py_ssize_t sigcy_gemm_tn_work_d(Py_ssize_t m, Py_ssize_t n) noexcept
    void sigcy_gemm_tn_f(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float *a,
                         Py_ssize_t lda, const float *b, Py_ssize_t ldb, float *c,
                         Py_ssize_t ldc, int accumulate, float *work) noexcept
    void sigcy_gemm_tn_d(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const double *a,
                         Py_ssize_t lda, const double *b, Py_ssize_t ldb, double *c,
                         Py_ssize_t ldc, int accumulate, double *work) noexcept

cdef extern from "sigcy_rnn.h" nogil:
    void sigcy_rnn_dsigmoid_rows_d(double *da, double *g, const double *dh, const double *h,
                                   Py_ssize_t m, Py_ssize_t n, Py_ssize_t rs,
                                   const Py_ssize_t *lengths, Py_ssize_t t) noexcept
    void sigcy_rnn_dsigmoid_rows_f(float *da, float *g, const float *dh, const float *h,
                                   Py_ssize_t m, Py_ssize_t n, Py_ssize_t rs,
                                   const Py_ssize_t *lengths, Py_ssize_t t) noexcept
    void sigcy_rnn_dtanh_rows_d(double *da, double *g, const double *dh, const double *h,
                                   Py_ssize_t m, Py_ssize_t n, Py_ssize_t rs,
                                   const Py_ssize_t *lengths, Py_ssize_t t) noexcept
    void sigcy_rnn_dtanh_rows_f(float *da, float *g, const float *dh, const float *h,
                                   Py_ssize_t m, Py_ssize_t n, Py_ssize_t rs,
                                   const Py_ssize_t *lengths, Py_ssize_t t) noexcept
    void sigcy_rnn_drelu_rows_d(double *da, double *g, const double *dh, const double *h,
                                   Py_ssize_t m, Py_ssize_t n, Py_ssize_t rs,
                                   const Py_ssize_t *lengths, Py_ssize_t t) noexcept
    void sigcy_rnn_drelu_rows_f(float *da, float *g, const float *dh, const float *h,
                                   Py_ssize_t m, Py_ssize_t n, Py_ssize_t rs,
                                   const Py_ssize_t *lengths, Py_ssize_t t) noexcept
    void sigcy_rnn_column_sum_d(const double *a, Py_ssize_t n_rows, Py_ssize_t n,
                                double *out) noexcept
    void sigcy_rnn_column_sum_f(const float *a, Py_ssize_t n_rows, Py_ssize_t n,
                                float *out) noexcept
    unsigned int sigcy_ftz_begin(int enable) noexcept
    void sigcy_ftz_end(unsigned int old, int enable) noexcept

# The static kernel library is linked into each extension module: pick this copy's
# instruction set once, at import, before any thread can call a loop.
sigcy_dispatch_init()
GEMM_TARGET = sigcy_gemm_init().decode()

# Activation codes shared with sigcy/rnn.py.
ACT_SIGMOID = 0
ACT_TANH = 1
ACT_RELU = 2
cdef enum:
    _SIGMOID = 0
    _TANH = 1
    _RELU = 2


def _tanh(floating[::1] x):
    """In-place tanh with the RNN's dispatched kernel (for the accuracy tests)."""
    if floating is float:
        sigcy_tanh_f_strided(<char *> &x[0], sizeof(float), <char *> &x[0], sizeof(float),
                             x.shape[0])
    else:
        sigcy_tanh_d_strided(<char *> &x[0], sizeof(double), <char *> &x[0], sizeof(double),
                             x.shape[0])


# ----------------------------------------------------------------------------- packed GEMMs
cdef inline void _pgemm(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const floating *a,
                        Py_ssize_t lda, const floating *bp, floating *c, Py_ssize_t ldc,
                        bint accumulate) noexcept nogil:
    """Row-major ``C[m, n] (+)= A[m, k] @ B[k, n]``, B packed (src/sigcy_gemm.h)."""
    if floating is float:
        sigcy_gemm_f(m, n, k, a, lda, bp, c, ldc, accumulate)
    else:
        sigcy_gemm_d(m, n, k, a, lda, bp, c, ldc, accumulate)


cdef inline void _pgemm2(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k1, const floating *a1,
                         Py_ssize_t lda1, const floating *b1p, Py_ssize_t k2,
                         const floating *a2, Py_ssize_t lda2, const floating *b2p, floating *c,
                         Py_ssize_t ldc) noexcept nogil:
    """Row-major ``C[m, n] = A1[m, k1] @ B1 + A2[m, k2] @ B2``, B1 and B2 packed: the bits of
    ``_pgemm(A1, B1, C)`` then ``_pgemm(A2, B2, C, accumulate)`` (src/sigcy_gemm.h)."""
    if floating is float:
        sigcy_gemm2_f(m, n, k1, a1, lda1, b1p, k2, a2, lda2, b2p, c, ldc)
    else:
        sigcy_gemm2_d(m, n, k1, a1, lda1, b1p, k2, a2, lda2, b2p, c, ldc)


cdef inline Py_ssize_t _packed_size(Py_ssize_t k, Py_ssize_t n, floating dummy) noexcept nogil:
    if floating is float:
        return sigcy_packed_size_f(k, n)
    else:
        return sigcy_packed_size_d(k, n)


cdef inline void _pack(const floating *b, Py_ssize_t ldb, bint trans, Py_ssize_t k,
                       Py_ssize_t n, floating *bp) noexcept nogil:
    """bp <- B (k, n) packed; B[p, j] = b[p * ldb + j], or b[j * ldb + p] if trans."""
    if floating is float:
        sigcy_pack_f(b, ldb, trans, k, n, bp)
    else:
        sigcy_pack_d(b, ldb, trans, k, n, bp)


cdef inline void _gemm_tn(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const floating *a,
                          Py_ssize_t lda, const floating *b, Py_ssize_t ldb, floating *c,
                          Py_ssize_t ldc, bint accumulate, floating *work) noexcept nogil:
    """Row-major ``C[m, n] (+)= A^T B``, A (k, m) and B (k, n) (src/sigcy_gemm.h)."""
    if floating is float:
        sigcy_gemm_tn_f(m, n, k, a, lda, b, ldb, c, ldc, accumulate, work)
    else:
        sigcy_gemm_tn_d(m, n, k, a, lda, b, ldb, c, ldc, accumulate, work)


cdef inline Py_ssize_t _gemm_tn_work(Py_ssize_t m, Py_ssize_t n, floating dummy) noexcept nogil:
    if floating is float:
        return sigcy_gemm_tn_work_f(m, n)
    else:
        return sigcy_gemm_tn_work_d(m, n)


def _gemm_tn_check(const floating[:, ::1] A, const floating[:, ::1] B, floating[:, ::1] C,
                   bint accumulate):
    """C (+)= A^T B with the weight-gradient kernel (for the tests and benchmarks)."""
    cdef _Packed work = _Packed(_gemm_tn_work(A.shape[1], B.shape[1], <floating> 0)
                                * sizeof(floating))
    with nogil:
        _gemm_tn(A.shape[1], B.shape[1], A.shape[0], &A[0, 0], A.shape[1], &B[0, 0],
                 B.shape[1], &C[0, 0], C.shape[1], accumulate, <floating *> work.data)


cdef class _Packed:
    """Scratch memory for packed matrices, 64-byte aligned, freed with the object."""
    cdef void *raw
    cdef char *data

    def __cinit__(self, Py_ssize_t n_bytes):
        self.raw = malloc(n_bytes + 64)
        if self.raw == NULL:
            raise MemoryError()
        self.data = <char *> self.raw + (64 - <size_t> self.raw % 64)

    def __dealloc__(self):
        free(self.raw)


# ------------------------------------------------------------------ recycled output blocks
# elman_forward's H (and elman_backward's dX) come from _Block: memory that goes back to a
# small pool when the array that views it is released, and is handed out again for an
# array of the same size.  A training loop's H then reuses the previous step's memory.
# From numpy, an array of a few MiB is mapped fresh from the OS at each allocation by glibc
# (whose heap trims blocks this size on release once two of them are freed together, as a
# step's H and the caller's dH are), and writing it costs a page fault per 4 KiB:
# measured at n_hidden = 128, B = 64, T = 50, 1 thread, a training step took 7.5 ms with a
# fresh H and dH, 5.8 ms when either was kept.  The pool keeps at most _POOL_SLOTS blocks
# and _POOL_MAX_BYTES in all, evicting the longest kept first; it is only touched with the
# GIL held (the blocks are Python objects, created and released under the GIL).  A block is
# the base of the array that views it (numpy's __array_interface__, no buffer export that a
# caller could release early), so it returns to the pool only with the last view.  The
# blocks are reported to tracemalloc (numpy's domain, as numpy's own array data) from
# allocation to free, also while kept.
cdef extern from "Python.h":
    int PyTraceMalloc_Track(unsigned int domain, size_t ptr, size_t size)
    int PyTraceMalloc_Untrack(unsigned int domain, size_t ptr)

cdef enum:
    _POOL_SLOTS = 4
    _NUMPY_TRACE_DOMAIN = 389047
cdef Py_ssize_t _POOL_MAX_BYTES = 64 * 2**20
POOL_MAX_BYTES = _POOL_MAX_BYTES     # sigcy.rnn allocates larger arrays with numpy
cdef void *_pool_raw[_POOL_SLOTS]
cdef Py_ssize_t _pool_nbytes[_POOL_SLOTS]
cdef unsigned long long _pool_when[_POOL_SLOTS]   # when the block was kept (for eviction)
cdef unsigned long long _pool_clock = 0
cdef Py_ssize_t _pool_total = 0


cdef void _pool_free_slot(int k) noexcept:
    global _pool_total
    PyTraceMalloc_Untrack(_NUMPY_TRACE_DOMAIN, <size_t> _pool_raw[k])
    free(_pool_raw[k])
    _pool_total -= _pool_nbytes[k]
    _pool_raw[k] = NULL


cdef class _Block:
    """n_bytes of 64-byte aligned, uninitialized, writable memory, exposed to numpy as a
    uint8 array (``np.asarray(block)``, whose base is the block); taken from the pool of
    released blocks of that size when there is one, and returned to it (or freed) when
    the last array viewing it is released."""
    cdef void *raw
    cdef char *data
    cdef Py_ssize_t nbytes

    def __cinit__(self, Py_ssize_t n_bytes):
        global _pool_total
        cdef int k
        if n_bytes < 0:
            raise ValueError(f"n_bytes must be >= 0, got {n_bytes}")
        self.nbytes = n_bytes
        self.raw = NULL
        for k in range(_POOL_SLOTS):
            if _pool_raw[k] != NULL and _pool_nbytes[k] == n_bytes:
                self.raw = _pool_raw[k]
                _pool_raw[k] = NULL
                _pool_total -= n_bytes
                break
        if self.raw == NULL:
            self.raw = malloc(n_bytes + 64)
            if self.raw == NULL:
                raise MemoryError(f"cannot allocate {n_bytes} bytes")
            PyTraceMalloc_Track(_NUMPY_TRACE_DOMAIN, <size_t> self.raw, n_bytes + 64)
        self.data = <char *> self.raw + (64 - <size_t> self.raw % 64)

    @property
    def __array_interface__(self):
        return {"shape": (self.nbytes,), "typestr": "|u1",
                "data": (<size_t> self.data, False), "version": 3}

    def __dealloc__(self):
        global _pool_total, _pool_clock
        cdef int k, free_k = -1, oldest
        if self.raw == NULL:
            return
        if self.nbytes <= _POOL_MAX_BYTES:
            # make room: evict the longest kept blocks until this one fits
            while True:
                free_k = -1
                oldest = -1
                for k in range(_POOL_SLOTS):
                    if _pool_raw[k] == NULL:
                        free_k = k
                    elif oldest < 0 or _pool_when[k] < _pool_when[oldest]:
                        oldest = k
                if free_k >= 0 and _pool_total + self.nbytes <= _POOL_MAX_BYTES:
                    break
                _pool_free_slot(oldest)
            _pool_raw[free_k] = self.raw
            _pool_nbytes[free_k] = self.nbytes
            _pool_clock += 1
            _pool_when[free_k] = _pool_clock
            _pool_total += self.nbytes
        else:
            PyTraceMalloc_Untrack(_NUMPY_TRACE_DOMAIN, <size_t> self.raw)
            free(self.raw)
        self.raw = NULL


def _pool_state():
    """(bytes kept, sizes of the kept blocks): for the tests."""
    return _pool_total, sorted(_pool_nbytes[k] for k in range(_POOL_SLOTS)
                               if _pool_raw[k] != NULL)


def _pool_clear():
    """Free every kept block (tests, benchmarks)."""
    cdef int k
    for k in range(_POOL_SLOTS):
        if _pool_raw[k] != NULL:
            _pool_free_slot(k)


cdef inline Py_ssize_t _round64(Py_ssize_t n) noexcept nogil:
    return (n + 63) // 64 * 64


cdef Py_ssize_t _forward_scratch(Py_ssize_t n_samples, Py_ssize_t n_features,
                                 Py_ssize_t n_hidden, floating dummy) noexcept nogil:
    """Values of scratch elman_forward_loop needs: W_in and W_rec packed, 64-value aligned."""
    return (_round64(_packed_size(n_features, n_hidden, dummy))
            + _round64(_packed_size(n_hidden, n_hidden, dummy)) + 64)


cdef Py_ssize_t _backward_work(Py_ssize_t n_features, Py_ssize_t n_hidden,
                               Py_ssize_t grad_block, floating dummy) noexcept nogil:
    return _round64(max(_gemm_tn_work(n_features, n_hidden, dummy),
                        _gemm_tn_work(grad_block, n_hidden, dummy)))


cdef Py_ssize_t _backward_scratch(Py_ssize_t n_features, Py_ssize_t n_hidden,
                                  Py_ssize_t grad_block, int n_threads,
                                  floating dummy) noexcept nogil:
    """Values of scratch elman_backward_loop needs: W_in^T and W_rec^T packed for the
    recursion, then in the same place one A^T B workspace per thread of the weight gradients."""
    cdef Py_ssize_t n_grad_blocks = (n_hidden + grad_block - 1) // grad_block
    return max(_round64(_packed_size(n_hidden, n_features, dummy))
               + _round64(_packed_size(n_hidden, n_hidden, dummy)),
               min(n_threads, n_grad_blocks) * _backward_work(n_features, n_hidden, grad_block,
                                                              dummy)) + 64


def scratch_bytes(bint float32, bint backward, Py_ssize_t n_samples, Py_ssize_t n_features,
                  Py_ssize_t n_hidden, Py_ssize_t grad_block=1, int n_threads=1):
    """Bytes of ``scratch`` that elman_forward_loop / elman_backward_loop need."""
    if backward:
        if float32:
            return _backward_scratch(n_features, n_hidden, grad_block, n_threads,
                                     <float> 0) * sizeof(float)
        return _backward_scratch(n_features, n_hidden, grad_block, n_threads,
                                 <double> 0) * sizeof(double)
    if float32:
        return _forward_scratch(n_samples, n_features, n_hidden, <float> 0) * sizeof(float)
    return _forward_scratch(n_samples, n_features, n_hidden, <double> 0) * sizeof(double)


cdef inline char *_aligned64(unsigned char[::1] scratch, Py_ssize_t n_bytes) except NULL:
    """scratch's first 64-byte aligned address, checking that n_bytes fit (with the slack)."""
    if scratch.shape[0] < n_bytes:
        raise ValueError(f"scratch holds {scratch.shape[0]} bytes, need {n_bytes}")
    return <char *> &scratch[0] + (64 - <size_t> &scratch[0] % 64) % 64


# ----------------------------------------------------------------------------- forward
cdef inline void _forward_row(floating *row,              # INOUT pre-activation -> H[i, t]
                              const floating *prev,       # IN H[i, t-1] (only if not active)
                              const floating *b,          # IN bias
                              Py_ssize_t n_hidden, bint active) noexcept nogil:
    """relu(row + b) in place, or the carried state."""
    cdef Py_ssize_t j
    if not active:
        # carried state (t >= lengths[i] >= 1)
        memcpy(row, prev, n_hidden * sizeof(floating))
    else:
        for j in range(n_hidden):
            row[j] = row[j] + b[j]
            # NaN stays NaN (a comparison with NaN is false)
            row[j] = 0 if row[j] < 0 else row[j]


cdef inline void _bias_act_rows(floating *c, Py_ssize_t rs, const floating *b, Py_ssize_t m,
                                Py_ssize_t n, int act) noexcept nogil:
    """c[i * rs + j] = act(c[i * rs + j] + b[j]), i < m, j < n, act tanh or sigmoid: sigcy's
    dispatched row loops."""
    if act == _TANH:
        if floating is float:
            sigcy_bias_tanh_rows_f(c, rs, b, m, n)
        else:
            sigcy_bias_tanh_rows_d(c, rs, b, m, n)
    else:
        if floating is float:
            sigcy_bias_sigmoid_rows_f(c, rs, b, m, n)
        else:
            sigcy_bias_sigmoid_rows_d(c, rs, b, m, n)


cdef inline void _forward_act_rows(
        floating *C,               # INOUT (m, n_hidden), rows rs apart: H[i0:i1, t]
        const floating *b,         # IN (n_hidden,)
        const Py_ssize_t *lengths,  # IN (m,) or NULL (all full)
        Py_ssize_t t, Py_ssize_t m, Py_ssize_t rs, Py_ssize_t n_hidden, int act) noexcept nogil:
    """C = act(C + b) in place (tanh or sigmoid), one call of the row loop per run of active
    rows (one call per step without lengths), no copy; carried rows copy the row of t - 1.
    Elementwise, so the bits are those of a call per row."""
    cdef Py_ssize_t i = 0, i_start
    while i < m:
        if lengths != NULL and t >= lengths[i]:
            memcpy(C + i * rs, C + i * rs - n_hidden, n_hidden * sizeof(floating))
            i += 1
        else:
            i_start = i
            while i < m and (lengths == NULL or t < lengths[i]):
                i += 1
            _bias_act_rows(C + i_start * rs, rs, b, i - i_start, n_hidden, act)


cdef void _forward_block(const floating *X,        # IN  (n_samples, n_timesteps, n_features)
                         const floating *W_in_p,   # IN  W_in (n_features, n_hidden), packed
                         const floating *W_rec_p,  # IN  W_rec (n_hidden, n_hidden), packed
                         const floating *b,        # IN  (n_hidden,)
                         const floating *h0,       # IN  (n_samples, n_hidden) or NULL
                         const Py_ssize_t *lengths,  # IN (n_samples,) or NULL (all full)
                         floating *H,              # OUT (n_samples, n_timesteps, n_hidden)
                         Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t n_timesteps,
                         Py_ssize_t n_features, Py_ssize_t n_hidden, int act, int flush) noexcept nogil:
    """Samples i0 <= i < i1, every time step."""
    cdef Py_ssize_t i, t, m = i1 - i0
    cdef Py_ssize_t rs = n_timesteps * n_hidden   # H's sample stride
    cdef floating *Hb = H + i0 * rs
    cdef unsigned int csr = sigcy_ftz_begin(flush)
    cdef Py_ssize_t xs = n_timesteps * n_features   # X's sample stride
    cdef const floating *Xb = X + i0 * xs
    for t in range(n_timesteps):
        # H[:, t] = X[:, t] @ W_in (+ H[:, t-1] @ W_rec) in one pass, the projection's sums
        # continued by the step's without a store between (src/sigcy_gemm.h, sigcy_gemm2_*):
        # the bits of the projection of all the steps at once followed by a step GEMM
        # accumulating into H[:, t], which it replaced (that wrote all of H, then read each
        # H[:, t] back from L2 or L3, ~5 % of a training step; see sigcy_gemm2_*)
        if t > 0:
            _pgemm2(m, n_hidden, n_features, Xb + t * n_features, xs, W_in_p,
                    n_hidden, Hb + (t - 1) * n_hidden, rs, W_rec_p, Hb + t * n_hidden, rs)
        elif h0 != NULL:
            _pgemm2(m, n_hidden, n_features, Xb, xs, W_in_p,
                    n_hidden, h0 + i0 * n_hidden, n_hidden, W_rec_p, Hb, rs)
        else:
            _pgemm(m, n_hidden, n_features, Xb, xs, W_in_p, Hb, rs, False)
        if act == _RELU:
            for i in range(i0, i1):
                _forward_row(H + i * rs + t * n_hidden, H + i * rs + (t - 1) * n_hidden, b,
                             n_hidden, lengths == NULL or t < lengths[i])
        else:
            _forward_act_rows(Hb + t * n_hidden, b, lengths + i0 if lengths != NULL else NULL,
                              t, m, rs, n_hidden, act)
    sigcy_ftz_end(csr, flush)


cdef void _forward_run(const floating *X,        # IN  (n_samples, n_timesteps, n_features)
                       const floating *W_in,     # IN  (n_features, n_hidden)
                       const floating *W_rec,    # IN  (n_hidden, n_hidden)
                       const floating *b,        # IN  (n_hidden,)
                       const floating *h0,       # IN  (n_samples, n_hidden) or NULL
                       const Py_ssize_t *lengths,  # IN (n_samples,) or NULL (all full)
                       floating *H,              # OUT (n_samples, n_timesteps, n_hidden)
                       Py_ssize_t n_samples, Py_ssize_t n_timesteps, Py_ssize_t n_features,
                       Py_ssize_t n_hidden, int act, Py_ssize_t row_block, int n_threads,
                       bint flush,
                       floating *scratch,        # _forward_scratch(...) values, 64-byte aligned
                       ) noexcept nogil:
    """The forward pass on raw arrays: pack the weights, then the blocks of samples."""
    cdef Py_ssize_t n_blocks = (n_samples + row_block - 1) // row_block, blk
    cdef floating *W_in_p = scratch
    cdef floating *W_rec_p = W_in_p + _round64(_packed_size(n_features, n_hidden,
                                                            <floating> 0))
    n_threads = <int> min(n_threads, n_blocks)
    _pack(W_in, n_hidden, False, n_features, n_hidden, W_in_p)
    _pack(W_rec, n_hidden, False, n_hidden, n_hidden, W_rec_p)
    if n_threads > 1:
        for blk in prange(n_blocks, schedule='static', chunksize=1, num_threads=n_threads):
            _forward_block(X, W_in_p, W_rec_p, b, h0, lengths, H, blk * row_block,
                           min((blk + 1) * row_block, n_samples), n_timesteps, n_features,
                           n_hidden, act, flush)
    else:
        for blk in range(n_blocks):
            _forward_block(X, W_in_p, W_rec_p, b, h0, lengths, H, blk * row_block,
                           min((blk + 1) * row_block, n_samples), n_timesteps, n_features,
                           n_hidden, act, flush)


cdef int _want(str name, Py_ssize_t *shape, int ndim, Py_ssize_t d0, Py_ssize_t d1,
               Py_ssize_t d2) except -1:
    """ValueError unless shape[:ndim] is (d0, d1, d2)[:ndim] (C-level: the loops check their
    arrays without making Python objects of them, ~0.1 us an array)."""
    cdef Py_ssize_t want[3]
    want[0] = d0
    want[1] = d1
    want[2] = d2
    cdef int k
    for k in range(ndim):
        if shape[k] != want[k]:
            raise ValueError(f"{name} has shape {tuple([shape[j] for j in range(ndim)])}, "
                             f"expected {tuple([want[j] for j in range(ndim)])}")
    return 0


cdef int _check_blocks(Py_ssize_t row_block, Py_ssize_t grad_block) except -1:
    if row_block < 1 or grad_block < 1:
        raise ValueError(f"row_block {row_block} or grad_block {grad_block} out of range")
    return 0


def elman_forward_loop(
    const floating[:, :, ::1] X,      # IN  (n_samples, n_timesteps, n_features)
    const floating[:, ::1] W_in,      # IN  (n_features, n_hidden)
    const floating[:, ::1] W_rec,     # IN  (n_hidden, n_hidden)
    const floating[::1] b,            # IN  (n_hidden,)
    const floating[:, ::1] h0,        # IN  (n_samples, n_hidden), or None for zeros
    const Py_ssize_t[::1] lengths,    # IN  (n_samples,) in [1, n_timesteps]; None: all full
    floating[:, :, ::1] H,            # OUT (n_samples, n_timesteps, n_hidden)
    int act,
    Py_ssize_t row_block,             # samples per block (any split gives the same bits)
    int n_threads,
    bint flush,                       # flush subnormals to zero (FTZ/DAZ) in sigcy's threads
    unsigned char[::1] scratch,       # scratch, scratch_bytes(...) bytes
):
    """H[:, t] = act(X[:, t] @ W_in + H[:, t-1] @ W_rec + b), carried where t >= lengths."""
    cdef Py_ssize_t n_samples = X.shape[0], n_hidden = W_in.shape[1]
    # sigcy.rnn checks its callers' arrays; these checks keep a direct call of this private
    # loop from reading or writing out of bounds
    cdef Py_ssize_t n_timesteps = X.shape[1], n_features = X.shape[2]
    _want("W_in", W_in.shape, 2, n_features, n_hidden, 0)
    _want("W_rec", W_rec.shape, 2, n_hidden, n_hidden, 0)
    _want("b", b.shape, 1, n_hidden, 0, 0)
    if h0 is not None:
        _want("h0", h0.shape, 2, n_samples, n_hidden, 0)
    _want("H", H.shape, 3, n_samples, n_timesteps, n_hidden)
    _check_blocks(row_block, 1)
    _check_run(act, 1, n_threads, lengths, n_samples, n_timesteps)
    cdef floating *work = <floating *> _aligned64(
        scratch, _forward_scratch(n_samples, X.shape[2], n_hidden, <floating> 0)
        * sizeof(floating))
    cdef const floating *h0_ptr = NULL
    cdef const Py_ssize_t *lengths_ptr = NULL
    if h0 is not None:
        h0_ptr = &h0[0, 0]
    if lengths is not None:
        lengths_ptr = &lengths[0]
    with nogil:
        _forward_run(&X[0, 0, 0], &W_in[0, 0], &W_rec[0, 0], &b[0], h0_ptr, lengths_ptr,
                     &H[0, 0, 0], n_samples, X.shape[1], X.shape[2], n_hidden, act, row_block,
                     n_threads, flush, work)


# ----------------------------------------------------------------------------- backward
cdef inline void _backward_rows(floating *da,          # OUT dA[i0:i1, t], rows rs apart
                                floating *g,           # INOUT carry[i0:i1] (+= dH if carried)
                                const floating *dh,    # IN dH[i0:i1, t], rows rs apart
                                const floating *h,     # IN H[i0:i1, t], rows rs apart
                                Py_ssize_t m, Py_ssize_t n_hidden, Py_ssize_t rs,
                                const Py_ssize_t *lengths,  # IN lengths[i0:i1] or NULL
                                Py_ssize_t t, int act) noexcept nogil:
    """g + dH[i, t] is dL/dH[i, t]; dA[i, t] = that * act'(H[i, t]), 0 where carried."""
    if act == _SIGMOID:
        if floating is float:
            sigcy_rnn_dsigmoid_rows_f(da, g, dh, h, m, n_hidden, rs, lengths, t)
        else:
            sigcy_rnn_dsigmoid_rows_d(da, g, dh, h, m, n_hidden, rs, lengths, t)
    elif act == _TANH:
        if floating is float:
            sigcy_rnn_dtanh_rows_f(da, g, dh, h, m, n_hidden, rs, lengths, t)
        else:
            sigcy_rnn_dtanh_rows_d(da, g, dh, h, m, n_hidden, rs, lengths, t)
    else:
        if floating is float:
            sigcy_rnn_drelu_rows_f(da, g, dh, h, m, n_hidden, rs, lengths, t)
        else:
            sigcy_rnn_drelu_rows_d(da, g, dh, h, m, n_hidden, rs, lengths, t)


cdef void _backward_block(const floating *H,       # IN  (n_samples, n_timesteps, n_hidden)
                          const floating *dH,      # IN  (n_samples, n_timesteps, n_hidden)
                          const floating *W_in_Tp,  # IN W_in^T (n_hidden, n_features), packed
                          const floating *W_rec_Tp,  # IN W_rec^T (n_hidden, n_hidden), packed
                          const Py_ssize_t *lengths,  # IN (n_samples,) or NULL (all full)
                          Py_ssize_t bptt_steps,
                          Py_ssize_t dh_from,      # IN  dH is zero before this step (not read)
                          floating *dA,            # OUT (n_samples, n_timesteps, n_hidden)
                          floating *carry0,        # scratch (n_samples, n_hidden)
                          floating *carry1,        # scratch (n_samples, n_hidden)
                          floating *dX,            # OUT (n_samples, n_timesteps, n_features)
                                                   #     or NULL (not wanted)
                          floating *dh0,           # OUT (n_samples, n_hidden) or NULL
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
        _backward_rows(dA + i0 * rs + t * n_hidden, g,
                       dH + i0 * rs + t * n_hidden if t >= dh_from else NULL,
                       H + i0 * rs + t * n_hidden, m, n_hidden, rs,
                       lengths + i0 if lengths != NULL else NULL, t, act)
        if t == 0:
            # dh0 = dA[:, 0] @ W_rec^T (every sample is active at t = 0)
            if dh0 != NULL:
                _pgemm(m, n_hidden, n_hidden, dAb, rs, W_rec_Tp, dh0 + i0 * n_hidden,
                       n_hidden, False)
        elif t % bptt_steps == 0:
            # start of a truncation window: nothing flows back to H[:, t-1]
            memset(g, 0, m * n_hidden * sizeof(floating))
        else:
            # to H[:, t-1]: dA[:, t] @ W_rec^T for active samples ...
            _pgemm(m, n_hidden, n_hidden, dAb + t * n_hidden, rs, W_rec_Tp, g_next, n_hidden,
                   False)
            # ... the gradient itself for carried ones (H[i, t] = H[i, t-1])
            for i in range(i0, i1):
                if lengths != NULL and t >= lengths[i]:
                    memcpy(g_next + (i - i0) * n_hidden, g + (i - i0) * n_hidden,
                           n_hidden * sizeof(floating))
            tmp = g
            g = g_next
            g_next = tmp
    # dX = dA @ W_in^T for the block's rows
    if dX != NULL:
        _pgemm(m * n_timesteps, n_features, n_hidden, dAb, n_hidden, W_in_Tp,
               dX + i0 * n_timesteps * n_features, n_features, False)
    sigcy_ftz_end(csr, flush)


# The weight gradients read dA three times after the recursion (dW_in, db, dW_rec).  One
# pass instead (an A^T B whose rows are [H row r-1 or h0 | X row r | 1], packed on the fly;
# branch tn-fused, 1f31670) measured, interleaved, 1 thread, B = 64, T = 50: training step
# float64 128 0.962x, 512 0.99x, float32 512 0.98-0.99x, but float32 32 1.07-1.09x and
# 128 1.00x (dA stays in L2 there; building A's rows costs more).  Not merged: a second
# path for ~4 % in one configuration, and h0's terms summed in a size-dependent order.
cdef void _weight_grads_first(const floating *X,    # IN  (n_rows, n_features), flat
                              floating *dA,         # INOUT (n_rows, n_hidden), flat;
                                                    #   dA[:, 0] zeroed on exit
                              floating *stash,      # OUT (n_samples, n_hidden): dA[:, 0]
                              floating *dW_in,      # OUT (n_features, n_hidden)
                              floating *db,         # OUT (n_hidden,)
                              floating *work,       # scratch for _gemm_tn
                              Py_ssize_t n_samples, Py_ssize_t n_timesteps,
                              Py_ssize_t n_features, Py_ssize_t n_hidden, int flush) noexcept nogil:
    """dW_in and db (sums over every sample and step), then dA[:, 0] moved to the stash."""
    cdef Py_ssize_t i
    cdef Py_ssize_t n_rows = n_samples * n_timesteps, rs = n_timesteps * n_hidden
    cdef unsigned int csr = sigcy_ftz_begin(flush)
    # dW_in = X^T @ dA
    _gemm_tn(n_features, n_hidden, n_rows, X, n_features, dA, n_hidden, dW_in, n_hidden,
             False, work)
    # db: the rows in order
    if floating is float:
        sigcy_rnn_column_sum_f(dA, n_rows, n_hidden, db)
    else:
        sigcy_rnn_column_sum_d(dA, n_rows, n_hidden, db)
    # dW_rec = sum_t H[:, t-1]^T dA[:, t] with H[:, -1] = h0 is one product over the flat
    # rows, pairing H[i, t-1] with dA[i, t] for t >= 1 and H[i-1, T-1] with dA[i, 0];
    # zeroing dA[:, 0] (kept in the stash) removes the wrong pairs, h0^T stash adds the right.
    for i in range(n_samples):
        memcpy(stash + i * n_hidden, dA + i * rs, n_hidden * sizeof(floating))
        memset(dA + i * rs, 0, n_hidden * sizeof(floating))
    sigcy_ftz_end(csr, flush)


cdef void _weight_grads_rec(const floating *H,    # IN  (n_rows, n_hidden), flat
                            const floating *h0,   # IN  (n_samples, n_hidden) or NULL
                            const floating *dA,   # IN  (n_rows, n_hidden), dA[:, 0] zeroed
                            const floating *stash,  # IN (n_samples, n_hidden): dA[:, 0]
                            floating *dW_rec,     # OUT (n_hidden, n_hidden)
                            floating *work,       # scratch for _gemm_tn
                            Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t n_samples,
                            Py_ssize_t n_timesteps, Py_ssize_t n_hidden, int flush) noexcept nogil:
    """Rows i0 <= i < i1 of dW_rec (see _weight_grads_first)."""
    cdef Py_ssize_t n_rows = n_samples * n_timesteps
    cdef unsigned int csr = sigcy_ftz_begin(flush)
    _gemm_tn(i1 - i0, n_hidden, n_rows - 1, H + i0, n_hidden, dA + n_hidden, n_hidden,
             dW_rec + i0 * n_hidden, n_hidden, False, work)
    if h0 != NULL:
        _gemm_tn(i1 - i0, n_hidden, n_samples, h0 + i0, n_hidden, stash, n_hidden,
                 dW_rec + i0 * n_hidden, n_hidden, True, work)
    sigcy_ftz_end(csr, flush)


cdef void _backward_run(const floating *X,       # IN  (n_samples, n_timesteps, n_features)
                        const floating *H,       # IN  (n_samples, n_timesteps, n_hidden)
                        const floating *dH,      # IN  (n_samples, n_timesteps, n_hidden)
                        const floating *W_in,    # IN  (n_features, n_hidden)
                        const floating *W_rec,   # IN  (n_hidden, n_hidden)
                        const floating *h0,      # IN  (n_samples, n_hidden) or NULL
                        const Py_ssize_t *lengths,  # IN (n_samples,) or NULL (all full)
                        Py_ssize_t bptt_steps,
                        Py_ssize_t dh_from,      # IN  dH is zero before this step (not read)
                        floating *dA,            # OUT scratch (n_samples, n_timesteps, n_hidden)
                        floating *carry,         # OUT scratch (2, n_samples, n_hidden)
                        floating *dX,            # OUT (n_samples, n_timesteps, n_features) or NULL
                        floating *dW_in,         # OUT (n_features, n_hidden)
                        floating *dW_rec,        # OUT (n_hidden, n_hidden)
                        floating *db,            # OUT (n_hidden,)
                        floating *dh0,           # OUT (n_samples, n_hidden) or NULL
                        Py_ssize_t n_samples, Py_ssize_t n_timesteps, Py_ssize_t n_features,
                        Py_ssize_t n_hidden, int act, Py_ssize_t row_block,
                        Py_ssize_t grad_block, int n_threads, bint flush,
                        floating *scratch,       # _backward_scratch(...) values, aligned
                        ) noexcept nogil:
    """Backpropagation through time on raw arrays (see elman_backward_loop)."""
    cdef Py_ssize_t n_row_blocks = (n_samples + row_block - 1) // row_block
    cdef Py_ssize_t n_grad_blocks = (n_hidden + grad_block - 1) // grad_block
    cdef Py_ssize_t blk
    cdef int threads_rows = <int> min(n_threads, n_row_blocks)
    cdef int threads_grad = <int> min(n_threads, n_grad_blocks)
    cdef floating *W_in_Tp = scratch
    cdef floating *W_rec_Tp = W_in_Tp + _round64(_packed_size(n_hidden, n_features,
                                                              <floating> 0))
    cdef floating *work = W_in_Tp         # after the recursion, the packed weights' place
    cdef Py_ssize_t size_work = _backward_work(n_features, n_hidden, grad_block, <floating> 0)
    cdef floating *carry1 = carry + n_samples * n_hidden
    _pack(W_in, n_hidden, True, n_hidden, n_features, W_in_Tp)
    _pack(W_rec, n_hidden, True, n_hidden, n_hidden, W_rec_Tp)
    if threads_rows > 1:
        for blk in prange(n_row_blocks, schedule='static', chunksize=1,
                          num_threads=threads_rows):
            _backward_block(H, dH, W_in_Tp, W_rec_Tp, lengths, bptt_steps, dh_from, dA, carry,
                            carry1, dX, dh0, blk * row_block, min((blk + 1) * row_block, n_samples),
                            n_timesteps, n_features, n_hidden, act, flush)
    else:
        for blk in range(n_row_blocks):
            _backward_block(H, dH, W_in_Tp, W_rec_Tp, lengths, bptt_steps, dh_from, dA, carry,
                            carry1, dX, dh0, blk * row_block, min((blk + 1) * row_block, n_samples),
                            n_timesteps, n_features, n_hidden, act, flush)
    # weight gradients, after the recursion; carry[0] is free again: the stash
    _weight_grads_first(X, dA, carry, dW_in, db, work, n_samples, n_timesteps, n_features,
                        n_hidden, flush)
    if threads_grad > 1:
        for blk in prange(n_grad_blocks, schedule='static', num_threads=threads_grad):
            _weight_grads_rec(H, h0, dA, carry, dW_rec, work + threadid() * size_work,
                              blk * grad_block, min((blk + 1) * grad_block, n_hidden),
                              n_samples, n_timesteps, n_hidden, flush)
    else:
        for blk in range(n_grad_blocks):
            _weight_grads_rec(H, h0, dA, carry, dW_rec, work, blk * grad_block,
                              min((blk + 1) * grad_block, n_hidden), n_samples, n_timesteps,
                              n_hidden, flush)


def elman_backward_loop(
    const floating[:, :, ::1] X,      # IN  (n_samples, n_timesteps, n_features)
    const floating[:, :, ::1] H,      # IN  (n_samples, n_timesteps, n_hidden)
    const floating[:, :, ::1] dH,     # IN  (n_samples, n_timesteps, n_hidden)
    const floating[:, ::1] W_in,      # IN  (n_features, n_hidden)
    const floating[:, ::1] W_rec,     # IN  (n_hidden, n_hidden)
    const floating[:, ::1] h0,        # IN  (n_samples, n_hidden), or None for zeros
    const Py_ssize_t[::1] lengths,    # IN  (n_samples,) in [1, n_timesteps]; None: all full
    Py_ssize_t bptt_steps,            # IN  window length (>= n_timesteps: full BPTT)
    floating[:, :, ::1] dA,           # OUT scratch (n_samples, n_timesteps, n_hidden):
                                      #     dL/d(pre-activation), dA[:, 0] zeroed on exit
    floating[:, :, ::1] carry,        # OUT scratch (2, n_samples, n_hidden)
    floating[:, :, ::1] dX,           # OUT (n_samples, n_timesteps, n_features), or None
    floating[:, ::1] dW_in,           # OUT (n_features, n_hidden)
    floating[:, ::1] dW_rec,          # OUT (n_hidden, n_hidden)
    floating[::1] db,                 # OUT (n_hidden,)
    floating[:, ::1] dh0,             # OUT (n_samples, n_hidden), or None
    int act,
    Py_ssize_t row_block,             # samples per recursion block (any split: same bits)
    Py_ssize_t grad_block,            # rows of dW_rec per block (any split: same bits)
    int n_threads,
    bint flush,                       # flush subnormals to zero (FTZ/DAZ) in sigcy's threads
    unsigned char[::1] scratch,       # scratch, scratch_bytes(...) bytes
):
    """Backpropagation through time for elman_forward_loop; see sigcy.rnn.elman_backward."""
    cdef Py_ssize_t n_features = X.shape[2], n_hidden = W_in.shape[1]
    # as in elman_forward_loop: no out-of-bounds access whatever a direct call passes
    cdef Py_ssize_t n_samples = X.shape[0], n_timesteps = X.shape[1]
    _want("W_in", W_in.shape, 2, n_features, n_hidden, 0)
    _want("W_rec", W_rec.shape, 2, n_hidden, n_hidden, 0)
    if h0 is not None:
        _want("h0", h0.shape, 2, n_samples, n_hidden, 0)
    _want("H", H.shape, 3, n_samples, n_timesteps, n_hidden)
    _want("dH", dH.shape, 3, n_samples, n_timesteps, n_hidden)
    _want("dA", dA.shape, 3, n_samples, n_timesteps, n_hidden)
    _want("carry", carry.shape, 3, 2, n_samples, n_hidden)
    if dX is not None:
        _want("dX", dX.shape, 3, n_samples, n_timesteps, n_features)
    _want("dW_in", dW_in.shape, 2, n_features, n_hidden, 0)
    _want("dW_rec", dW_rec.shape, 2, n_hidden, n_hidden, 0)
    _want("db", db.shape, 1, n_hidden, 0, 0)
    if dh0 is not None:
        _want("dh0", dh0.shape, 2, n_samples, n_hidden, 0)
    _check_blocks(row_block, grad_block)
    _check_run(act, bptt_steps, n_threads, lengths, n_samples, n_timesteps)
    cdef floating *work = <floating *> _aligned64(
        scratch, _backward_scratch(n_features, n_hidden, grad_block, n_threads, <floating> 0)
        * sizeof(floating))
    cdef const floating *h0_ptr = NULL
    cdef const Py_ssize_t *lengths_ptr = NULL
    cdef floating *dX_ptr = NULL
    cdef floating *dh0_ptr = NULL
    if h0 is not None:
        h0_ptr = &h0[0, 0]
    if lengths is not None:
        lengths_ptr = &lengths[0]
    if dX is not None:
        dX_ptr = &dX[0, 0, 0]
    if dh0 is not None:
        dh0_ptr = &dh0[0, 0]
    with nogil:
        _backward_run(&X[0, 0, 0], &H[0, 0, 0], &dH[0, 0, 0], &W_in[0, 0], &W_rec[0, 0],
                      h0_ptr, lengths_ptr, bptt_steps, 0, &dA[0, 0, 0], &carry[0, 0, 0], dX_ptr,
                      &dW_in[0, 0], &dW_rec[0, 0], &db[0], dh0_ptr, X.shape[0], X.shape[1],
                      n_features, n_hidden, act, row_block, grad_block, n_threads, flush, work)


# ---------------------------------------------------------------------- fused training step
from sigcy._train cimport (
    sigcy_adam_update_d, sigcy_adam_update_f, sigcy_add_l2_d, sigcy_add_l2_f,
    sigcy_cross_entropy_d, sigcy_cross_entropy_f, sigcy_sgd_update_d, sigcy_sgd_update_f,
    sigcy_squared_error_d, sigcy_squared_error_f,
)

cdef enum:
    # columns of the `layers` table of train_loss_grad, one row per recurrent layer
    _L_W_IN = 0       # offset of W_in (n_in, n_hidden) in theta
    _L_W_REC = 1      # offset of W_rec (n_hidden, n_hidden)
    _L_B = 2          # offset of b (n_hidden,)
    _L_N_IN = 3
    _L_N_HIDDEN = 4
    _L_ROW_BLOCK = 5
    _L_GRAD_BLOCK = 6
    _L_COLUMNS = 7


cdef Py_ssize_t _train_layout(const Py_ssize_t *layers, Py_ssize_t n_layers,
                              Py_ssize_t n_samples, Py_ssize_t n_timesteps,
                              Py_ssize_t n_outputs, int n_threads, Py_ssize_t *offsets,
                              floating dummy) noexcept nogil:
    """Offsets (in values, 64-value aligned) of train_loss_grad's workspace regions, written
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
        scratch = max(scratch, _forward_scratch(n_samples, f, h, dummy),
                      _backward_scratch(f, h, layers[l * _L_COLUMNS + _L_GRAD_BLOCK],
                                        n_threads, dummy))
        offsets[l] = off                                      # H_l
        off += _round64(nt * h)
        offsets[n_layers + l] = off                           # dX_l (l >= 1): (n, T, n_in)
        off += _round64(nt * f) if l > 0 else 0
    offsets[2 * n_layers] = off                               # dA
    off += _round64(nt * h_max)
    offsets[2 * n_layers + 1] = off                           # carry
    off += _round64(2 * n_samples * h_max)
    offsets[2 * n_layers + 2] = off                           # Z
    off += _round64(n_samples * n_outputs)
    offsets[2 * n_layers + 3] = off                           # dZ
    off += _round64(n_samples * n_outputs)
    offsets[2 * n_layers + 4] = off                           # W_out packed
    off += _round64(_packed_size(h_last, n_outputs, dummy))
    offsets[2 * n_layers + 5] = off                           # W_out^T packed / A^T B work
    off += _round64(max(_packed_size(n_outputs, h_last, dummy),
                        _gemm_tn_work(h_last, n_outputs, dummy)))
    offsets[2 * n_layers + 6] = off                           # recurrences' scratch
    off += _round64(scratch)
    offsets[2 * n_layers + 7] = off                           # dH of the top layer
    off += _round64(nt * h_last)
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
    _check_table(layers)
    for l in range(layers.shape[0]):
        h = layers[l, _L_N_HIDDEN]
        if (layers[l, _L_N_IN] != f or h < 1 or layers[l, _L_ROW_BLOCK] < 1
                or layers[l, _L_GRAD_BLOCK] < 1
                or not 0 <= layers[l, _L_W_IN] <= n_theta - f * h
                or not 0 <= layers[l, _L_W_REC] <= n_theta - h * h
                or not 0 <= layers[l, _L_B] <= n_theta - h):
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


cdef int _check_run(int act, Py_ssize_t bptt_steps, int n_threads,
                    const Py_ssize_t[::1] lengths, Py_ssize_t n_samples,
                    Py_ssize_t n_timesteps) except -1:
    """The activation code, window, thread count, number of steps and lengths (one per
    sample, each in [1, n_timesteps]) the loops rely on."""
    cdef Py_ssize_t k
    if not 0 <= act <= 2 or bptt_steps < 1 or n_threads < 1 or n_timesteps < 1:
        raise ValueError(f"act {act}, bptt_steps {bptt_steps}, n_threads {n_threads} or "
                         f"n_timesteps {n_timesteps} out of range")
    if lengths is not None:
        _want("lengths", lengths.shape, 1, n_samples, 0, 0)
        for k in range(n_samples):
            if not 1 <= lengths[k] <= n_timesteps:
                raise ValueError(f"lengths[{k}] = {lengths[k]} is outside [1, {n_timesteps}]")
    return 0


def train_work_bytes(bint float32, const Py_ssize_t[:, ::1] layers, Py_ssize_t n_samples,
                     Py_ssize_t n_timesteps, Py_ssize_t n_outputs, int n_threads):
    """Bytes of the ``work`` buffer that train_loss_grad needs."""
    cdef Py_ssize_t offsets[2 * 64 + 8]
    _check_table(layers)
    if float32:
        return _train_layout(&layers[0, 0], layers.shape[0], n_samples, n_timesteps,
                             n_outputs, n_threads, offsets, <float> 0) * sizeof(float)
    return _train_layout(&layers[0, 0], layers.shape[0], n_samples, n_timesteps, n_outputs,
                         n_threads, offsets, <double> 0) * sizeof(double)


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
    """train_loss_grad on raw arrays, its arguments checked by the caller."""
    cdef Py_ssize_t l, i, j, f, h
    cdef Py_ssize_t h_last = layers[(n_layers - 1) * _L_COLUMNS + _L_N_HIDDEN]
    cdef const Py_ssize_t *row
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
        row = layers + l * _L_COLUMNS
        _forward_run(inp, th + row[_L_W_IN], th + row[_L_W_REC], th + row[_L_B], NULL, lengths,
                     ws + offsets[l], n_samples, n_timesteps, row[_L_N_IN], row[_L_N_HIDDEN],
                     act, row[_L_ROW_BLOCK], n_threads, flush, ws + offsets[2 * n_layers + 6])
        inp = ws + offsets[l]
    # output layer: Z = h_T @ W_out + b_out, rows of h_T n_timesteps * h_last apart
    hT = ws + offsets[n_layers - 1] + (n_timesteps - 1) * h_last
    Z = ws + offsets[2 * n_layers + 2]
    dZ = ws + offsets[2 * n_layers + 3]
    _pack(th + W_out_offset, n_outputs, False, h_last, n_outputs, ws + offsets[2 * n_layers + 4])
    _pgemm(n_samples, n_outputs, h_last, hT, n_timesteps * h_last,
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
    _gemm_tn(h_last, n_outputs, n_samples, hT, n_timesteps * h_last, dZ, n_outputs,
             g + W_out_offset, n_outputs, False, ws + offsets[2 * n_layers + 5])
    _pack(th + W_out_offset, n_outputs, True, n_outputs, h_last, ws + offsets[2 * n_layers + 5])
    _pgemm(n_samples, h_last, n_outputs, dZ, n_outputs, ws + offsets[2 * n_layers + 5],
           dH_top + (n_timesteps - 1) * h_last, n_timesteps * h_last, False)
    dHl = dH_top
    for l in range(n_layers - 1, -1, -1):
        row = layers + l * _L_COLUMNS
        f = row[_L_N_IN]
        h = row[_L_N_HIDDEN]
        inp = X if l == 0 else ws + offsets[l - 1]
        dXl = NULL if l == 0 else ws + offsets[n_layers + l]
        # the top layer's dH is zero but at the last step
        _backward_run(inp, ws + offsets[l], dHl, th + row[_L_W_IN], th + row[_L_W_REC], NULL,
                      lengths, bptt_steps, n_timesteps - 1 if l == n_layers - 1 else 0,
                      ws + offsets[2 * n_layers],
                      ws + offsets[2 * n_layers + 1], dXl, g + row[_L_W_IN], g + row[_L_W_REC],
                      g + row[_L_B], NULL, n_samples, n_timesteps, f, h, act,
                      row[_L_ROW_BLOCK], row[_L_GRAD_BLOCK], n_threads, flush,
                      ws + offsets[2 * n_layers + 6])
        dHl = dXl
    if floating is float:
        out[2] = sigcy_add_l2_f(th, g, n_theta, l2_ranges, n_l2, reg, &sq)
    else:
        out[2] = sigcy_add_l2_d(th, g, n_theta, l2_ranges, n_l2, reg, &sq)
    out[0] = loss
    out[1] = sq


def train_loss_grad(
    const floating[:, :, ::1] X,      # IN  (n_samples, n_timesteps, n_features)
    const Py_ssize_t[::1] lengths,    # IN  (n_samples,) in [1, n_timesteps]; None: all full
    const floating[:, ::1] Y,         # IN  (n_samples, n_outputs) targets
    const floating[::1] w,            # IN  (n_samples,) weights summing to 1, or None
    const floating[::1] theta,        # IN  parameters (layout: layers and head)
    floating[::1] grad,               # OUT gradient, laid out as theta
    const Py_ssize_t[:, ::1] layers,  # IN  (n_layers, _L_COLUMNS), see the enum above
    Py_ssize_t W_out_offset,          # IN  W_out (n_hidden_last, n_outputs) in theta
    Py_ssize_t b_out_offset,          # IN  b_out (n_outputs,) in theta
    const Py_ssize_t[:, ::1] l2_ranges,  # IN (k, 2) [start, stop) of the weight matrices
    floating reg,                     # IN  L2 factor on those (alpha / sum of weights)
    int act, Py_ssize_t bptt_steps, bint cross_entropy, int n_threads, bint flush,
    unsigned char[::1] work,          # scratch, train_work_bytes(...) bytes
):
    """Loss and gradient of the estimators' network on one batch, in one call.

    The recurrent layers forward (as elman_forward_loop), the output layer on the last
    layer's final state (Z = h_T @ W_out + b_out), its loss (cross_entropy: softmax or
    logistic cross-entropy, else half squared error) and dZ, the output layer's gradients,
    dH_top[:, -1] = dZ @ W_out^T, the layers backward (as elman_backward_loop, without the
    first layer's dX and any dh0), and grad += reg * theta on the weights.  The caller
    (sigcy._estimators) checked every shape.  Returns (data loss, sum of the squared
    weights, squared norm of grad).
    """
    cdef Py_ssize_t n_samples = X.shape[0], n_timesteps = X.shape[1]
    cdef Py_ssize_t n_outputs = Y.shape[1]
    cdef Py_ssize_t offsets[2 * 64 + 8]
    cdef floating *ws
    cdef const floating *wp = NULL
    cdef const Py_ssize_t *lengths_ptr = NULL
    cdef double out[3]
    # an internal entry (sigcy._estimators checks its arguments), but a wrong table would
    # write out of bounds: check what the loops rely on
    _check_layers(layers, X.shape[2], theta.shape[0])
    _check_head(layers, theta.shape[0], n_outputs, W_out_offset, b_out_offset, l2_ranges)
    _check_run(act, bptt_steps, n_threads, lengths, n_samples, n_timesteps)
    if (n_samples < 1 or Y.shape[0] != n_samples
            or (w is not None and w.shape[0] != n_samples) or grad.shape[0] != theta.shape[0]):
        raise ValueError("train_loss_grad: arrays or offsets of inconsistent shapes")
    ws = <floating *> _aligned64(work, _train_layout(
        &layers[0, 0], layers.shape[0], n_samples, n_timesteps, n_outputs, n_threads, offsets,
        <floating> 0) * sizeof(floating))
    if w is not None:
        wp = &w[0]
    if lengths is not None:
        lengths_ptr = &lengths[0]
    with nogil:
        _loss_grad_run(&X[0, 0, 0], lengths_ptr, &Y[0, 0], wp, &theta[0], &grad[0],
                       theta.shape[0], &layers[0, 0], layers.shape[0], W_out_offset,
                       b_out_offset, &l2_ranges[0, 0], l2_ranges.shape[0],
                       reg, act, bptt_steps, cross_entropy, n_threads, flush, n_samples,
                       n_timesteps, n_outputs, ws, out)
    return out[0], out[1], out[2]


# ------------------------------------------------------------------------ fused training epoch
from cpython.exc cimport PyErr_CheckSignals
from libc.math cimport isfinite, pow, sqrt

cdef enum:
    # entries of train_epoch's `hyper` vector
    _HY_LR = 0            # sgd: the learning rate; adam: learning_rate_init
    _HY_MOMENTUM = 1      # sgd
    _HY_NESTEROV = 2      # sgd: 1 or 0
    _HY_BETA_1 = 3        # adam
    _HY_BETA_2 = 4
    _HY_EPSILON = 5
    _HY_ALPHA = 6         # L2 penalty (both)
    _HY_CLIP = 7          # gradient-norm clipping, <= 0 or inf: none
    _HY_SIZE = 8
EPOCH_HYPER_SIZE = _HY_SIZE
HY_LR, HY_MOMENTUM, HY_NESTEROV, HY_BETA_1, HY_BETA_2, HY_EPSILON, HY_ALPHA, HY_CLIP = (
    _HY_LR, _HY_MOMENTUM, _HY_NESTEROV, _HY_BETA_1, _HY_BETA_2, _HY_EPSILON, _HY_ALPHA, _HY_CLIP)

cdef enum:
    # train_epoch's status
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
    """Offsets (values, 64-value aligned) of train_epoch's workspace: offsets[0..5) = the
    gathered batch's X, Y, weights and lengths (Py_ssize_t, as many bytes as floating values
    of the same count, rounded up), the optimizer's scratch, then the training step's
    workspace (the larger of the two batch sizes' _train_layout).  Returns the total."""
    cdef Py_ssize_t off = 0, step
    cdef Py_ssize_t tmp[2 * 64 + 8]
    offsets[0] = off
    off += _round64(batch_size * n_timesteps * n_features)
    offsets[1] = off
    off += _round64(batch_size * n_outputs)
    offsets[2] = off
    off += _round64(batch_size)
    offsets[3] = off
    off += _round64((batch_size * sizeof(Py_ssize_t) + sizeof(floating) - 1) // sizeof(floating))
    offsets[4] = off
    off += _round64(n_theta)
    offsets[5] = off
    step = _train_layout(layers_full, n_layers, batch_size, n_timesteps, n_outputs, threads_full,
                         tmp, dummy)
    if layers_rest != NULL:
        step = max(step, _train_layout(layers_rest, n_layers, rest, n_timesteps, n_outputs,
                                       threads_rest, tmp, dummy))
    return off + step + 64


def epoch_work_bytes(bint float32, const Py_ssize_t[:, ::1] layers_full,
                     const Py_ssize_t[:, ::1] layers_rest, Py_ssize_t batch_size,
                     Py_ssize_t rest, Py_ssize_t n_timesteps, Py_ssize_t n_features,
                     Py_ssize_t n_outputs, Py_ssize_t n_theta, int threads_full,
                     int threads_rest):
    """Bytes of the ``work`` buffer that train_epoch needs (layers_rest None: every batch
    has batch_size samples)."""
    cdef Py_ssize_t offsets[6]
    cdef const Py_ssize_t *rest_ptr = NULL
    _check_table(layers_full)
    if layers_rest is not None:
        _check_table(layers_rest)
        if layers_rest.shape[0] != layers_full.shape[0]:
            raise ValueError("layers_rest and layers_full differ in their number of layers")
        rest_ptr = &layers_rest[0, 0]
    if float32:
        return _epoch_layout(&layers_full[0, 0], rest_ptr, layers_full.shape[0], batch_size,
                             rest, n_timesteps, n_features, n_outputs, n_theta, threads_full,
                             threads_rest, offsets, <float> 0) * sizeof(float)
    return _epoch_layout(&layers_full[0, 0], rest_ptr, layers_full.shape[0], batch_size, rest,
                         n_timesteps, n_features, n_outputs, n_theta, threads_full,
                         threads_rest, offsets, <double> 0) * sizeof(double)


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
    """One mini-batch of train_epoch: gather its samples (unless they are consecutive), its
    loss and gradient, clipping, the optimizer's step.  Returns the loss with its L2 term.
    The arithmetic is that of sigcy._estimators' single steps (_loss_grad, then the
    optimizer's update; the weights normalized by their sum in index order)."""
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
        sw_sum = 0.0
        for k in range(nb):
            sw_sum += sw[idx[k]]
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
        # scikit-learn's bias-corrected learning rate, in double as its numpy float64
        t_adam[0] += 1
        lr = (hyper[_HY_LR] * sqrt(1 - pow(hyper[_HY_BETA_2], <double> t_adam[0]))
              / (1 - pow(hyper[_HY_BETA_1], <double> t_adam[0])))
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


def train_epoch(
    const floating[:, :, ::1] X,      # IN  (n_samples, n_timesteps, n_features) training set
    const Py_ssize_t[::1] lengths,    # IN  (n_samples,) in [1, n_timesteps]; None: all full
    const floating[:, ::1] Y,         # IN  (n_samples, n_outputs) targets
    const double[::1] sample_weight,  # IN  (n_samples,) or None (all 1)
    const Py_ssize_t[::1] order,      # IN  (n_samples,) the samples in this epoch's order
    Py_ssize_t batch_size,            # IN  samples per mini-batch (the last one: the rest)
    floating[::1] theta,              # INOUT parameters
    floating[::1] grad,               # OUT scratch, theta's size
    const Py_ssize_t[:, ::1] layers_full,  # IN  layers table for a batch of batch_size
    const Py_ssize_t[:, ::1] layers_rest,  # IN  ... for a smaller last batch, or None
    int threads_full, int threads_rest,
    Py_ssize_t W_out_offset, Py_ssize_t b_out_offset,
    const Py_ssize_t[:, ::1] l2_ranges,  # IN (k, 2) [start, stop) of the weight matrices
    int act, Py_ssize_t bptt_steps, bint cross_entropy, bint flush,
    bint adam,                        # IN  Adam (mom1, mom2: m, v) or SGD (mom1: velocity)
    floating[::1] mom1,               # INOUT
    floating[::1] mom2,               # INOUT (Adam) or None
    const double[::1] hyper,          # IN  (_HY_SIZE,) see the enum above
    Py_ssize_t[::1] counters,         # INOUT [0]: Adam's step count; [1]: steps completed
                                      #   by this call (updated after every step)
    double[::1] norms,                # OUT (n_batches,) gradient norm of each mini-batch
    Py_ssize_t interrupt_after,       # IN  tests: KeyboardInterrupt after this many steps
                                      #   (as if Ctrl-C came then); < 0: never
    unsigned char[::1] work,          # scratch, epoch_work_bytes(...) bytes
):
    """One epoch of the estimators' mini-batch training, in one call.

    For each mini-batch of ``order`` (batch_size samples, the last one the rest): its loss
    and gradient as train_loss_grad (L2 factor alpha / the sum of the batch's sample
    weights), the gradient norm, clipping to norm ``hyper[_HY_CLIP]``, and the optimizer's
    step (Adam with scikit-learn's bias-corrected learning rate, or SGD with momentum), all
    or nothing.  The GIL is released during each step and taken between steps, to let Python
    deliver a Ctrl-C (raised here as KeyboardInterrupt, after a completed step).  Stops at
    the first batch whose loss or gradient is not finite (no update) or whose update would
    make theta non-finite (theta kept).  Returns (sum over the completed batches of loss x
    batch size, status), status EPOCH_OK, EPOCH_NONFINITE_GRAD or EPOCH_NONFINITE_STEP.
    """
    cdef Py_ssize_t n_samples = X.shape[0], n_timesteps = X.shape[1]
    cdef Py_ssize_t n_features = X.shape[2], n_outputs = Y.shape[1]
    cdef Py_ssize_t n_theta = theta.shape[0], n_layers = layers_full.shape[0]
    cdef Py_ssize_t n_batches, rest, b, nb, k
    cdef Py_ssize_t offsets[6]
    cdef const Py_ssize_t *rest_ptr = NULL
    cdef const Py_ssize_t *lengths_ptr = NULL
    cdef const double *sw_ptr = NULL
    cdef floating *mom2_ptr = NULL
    cdef floating *ws
    cdef double loss, loss_sum = 0.0
    cdef int status = _EPOCH_OK
    if n_samples < 1 or n_timesteps < 1 or not 1 <= batch_size <= n_samples:
        raise ValueError(f"train_epoch: {n_samples} samples of {n_timesteps} steps in batches "
                         f"of {batch_size}")
    n_batches = (n_samples + batch_size - 1) // batch_size
    rest = n_samples - (n_batches - 1) * batch_size
    _check_layers(layers_full, n_features, n_theta)
    _check_head(layers_full, n_theta, n_outputs, W_out_offset, b_out_offset, l2_ranges)
    _check_run(act, bptt_steps, min(threads_full, threads_rest), lengths, n_samples,
               n_timesteps)
    if rest != batch_size:
        if layers_rest is None:
            raise ValueError("train_epoch: the last batch is smaller; layers_rest is needed")
        _check_layers(layers_rest, n_features, n_theta)
        for k in range(n_layers):
            if (layers_rest.shape[0] != n_layers
                    or layers_rest[k, _L_N_HIDDEN] != layers_full[k, _L_N_HIDDEN]):
                raise ValueError("train_epoch: layers_rest differs from layers_full")
        rest_ptr = &layers_rest[0, 0]
    if (Y.shape[0] != n_samples or order.shape[0] != n_samples
            or (sample_weight is not None and sample_weight.shape[0] != n_samples)
            or grad.shape[0] != n_theta or mom1.shape[0] != n_theta
            or (adam and (mom2 is None or mom2.shape[0] != n_theta))
            or hyper.shape[0] != _HY_SIZE or counters.shape[0] < 2
            or norms.shape[0] < n_batches):
        raise ValueError("train_epoch: arrays of inconsistent shapes")
    for k in range(n_samples):
        if not 0 <= order[k] < n_samples:
            raise ValueError(f"train_epoch: order[{k}] = {order[k]} is not a sample index")
    ws = <floating *> _aligned64(work, _epoch_layout(
        &layers_full[0, 0], rest_ptr, n_layers, batch_size, rest, n_timesteps, n_features,
        n_outputs, n_theta, threads_full, threads_rest, offsets, <floating> 0)
        * sizeof(floating))
    if lengths is not None:
        lengths_ptr = &lengths[0]
    if sample_weight is not None:
        sw_ptr = &sample_weight[0]
    if adam:
        mom2_ptr = &mom2[0]
    counters[1] = 0
    for b in range(n_batches):
        if 0 <= interrupt_after <= counters[1]:
            raise KeyboardInterrupt
        PyErr_CheckSignals()        # a Ctrl-C between steps: KeyboardInterrupt
        nb = batch_size if b < n_batches - 1 else rest
        with nogil:
            loss = _batch_step(
                &X[0, 0, 0], lengths_ptr, &Y[0, 0], sw_ptr, &order[b * batch_size], nb,
                n_timesteps, n_features, n_outputs, &theta[0], &grad[0], n_theta,
                &layers_full[0, 0] if nb == batch_size else rest_ptr, n_layers, W_out_offset,
                b_out_offset,
                &l2_ranges[0, 0], l2_ranges.shape[0], act, bptt_steps, cross_entropy,
                threads_full if nb == batch_size else threads_rest, flush, adam, &mom1[0],
                mom2_ptr, &hyper[0], &counters[0], ws, offsets, &norms[b], &status)
        if status != _EPOCH_OK:
            break
        loss_sum += loss * nb
        counters[1] += 1
    return loss_sum, status
