"""The Elman recurrence: forward pass and backpropagation through time, compiled loops.

Design
------
- Python (``sigcy/rnn.py``): validation, casting to one dtype, C-contiguous copies, allocation
  of every output and scratch array (the packed weights and GEMM workspaces in one
  ``scratch`` buffer of ``scratch_bytes``), block sizes and the thread count.  Nothing here
  allocates, raises or touches a Python object in the loops, which run without the GIL.
- GEMMs: sigcy's own kernels (``_gemm.pxd``, ``src/sigcy_gemm.h``) on weight matrices packed
  once per call.  Time slices ``H[i0:i1, t]`` of a C-contiguous ``(n_samples, n_timesteps,
  n_hidden)`` array are matrices with leading dimension ``n_timesteps * n_hidden``: no copy.
  Every output element is computed by the same operations in the same order whatever the
  rows around it, so any split of the work gives the same bits.
- Parallelism: the samples are cut into blocks of ``row_block`` samples (one per thread, from
  Python).  Each block is an independent recurrence, run by one thread from t = 0 to the end
  (forward) or back (backward) with no synchronization between steps:
    forward : per step one GEMM tile pass ``H[:, t] = X[:, t] @ W_in + H[:, t-1] @ W_rec`` and
              one fused bias + activation call for the block's rows (in place; the carried
              copy where ``t >= lengths[i]``);
    backward: per step one row loop ``dA[:, t] = (dH[:, t] + carry) * act'(H[:, t])`` and one
              GEMM ``carry = dA[:, t] @ W_rec^T``; then ``dX = dA @ W_in^T`` for the block.
  The weight gradients sum over every sample after the recursion: ``dW_in = X^T dA`` and
  ``db`` (rows in order) on the calling thread, then ``dW_rec = H_prev^T dA`` over blocks of
  ``grad_block`` of its rows, one per thread.
- Elementwise kernels: sigmoid and tanh through sigcy's dispatched row loops
  (``_kernels.pxd``), relu inline; derivatives from the stored outputs ``h``: sigmoid
  ``h (1 - h)``, tanh ``1 - h^2``, relu ``h > 0`` (``_rows.pxd``).

A new recurrent cell is a module like this one: its loops, its ``.pxd`` for the trainer.
"""
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.string cimport memcpy, memset

from sigcy._core._checks cimport check_blocks, check_run, want_shape
from sigcy._core._dispatch import LEVEL
from sigcy._core._gemm cimport (
    gemm_tn, gemm_tn_work, pack, packed_size, pgemm, pgemm2, sigcy_gemm_set_level,
)
from sigcy._core._pool cimport aligned64, round64
from sigcy._core._rows cimport (
    sigcy_column_sum_d, sigcy_column_sum_f, sigcy_drelu_rows_d, sigcy_drelu_rows_f,
    sigcy_dsigmoid_rows_d, sigcy_dsigmoid_rows_f, sigcy_dtanh_rows_d, sigcy_dtanh_rows_f,
    sigcy_ftz_begin, sigcy_ftz_end, sigcy_rows_set_level,
)
from sigcy._kernels cimport (
    sigcy_bias_sigmoid_rows_d, sigcy_bias_sigmoid_rows_f, sigcy_bias_tanh_rows_d,
    sigcy_bias_tanh_rows_f, sigcy_kernels_set_level,
)

# this module's copies of the kernel tables, for the process's instruction-set level
sigcy_kernels_set_level(LEVEL)
sigcy_rows_set_level(LEVEL)
sigcy_gemm_set_level(LEVEL)

# Activation codes shared with sigcy/rnn.py.
ACT_SIGMOID = SIGMOID
ACT_TANH = TANH
ACT_RELU = RELU


cdef Py_ssize_t forward_scratch(Py_ssize_t n_samples, Py_ssize_t n_features,
                                Py_ssize_t n_hidden, floating dummy) noexcept nogil:
    """Values of scratch elman_forward_loop needs: W_in and W_rec packed, 64-value aligned."""
    return (round64(packed_size(n_features, n_hidden, dummy))
            + round64(packed_size(n_hidden, n_hidden, dummy)) + 64)


cdef Py_ssize_t backward_work(Py_ssize_t n_features, Py_ssize_t n_hidden,
                              Py_ssize_t grad_block, floating dummy) noexcept nogil:
    return round64(max(gemm_tn_work(n_features, n_hidden, dummy),
                        gemm_tn_work(grad_block, n_hidden, dummy)))


cdef Py_ssize_t backward_scratch(Py_ssize_t n_features, Py_ssize_t n_hidden,
                                 Py_ssize_t grad_block, int n_threads,
                                 floating dummy) noexcept nogil:
    """Values of scratch elman_backward_loop needs: W_in^T and W_rec^T packed for the
    recursion, then in the same place one A^T B workspace per thread of the weight gradients."""
    cdef Py_ssize_t n_grad_blocks = (n_hidden + grad_block - 1) // grad_block
    return max(round64(packed_size(n_hidden, n_features, dummy))
               + round64(packed_size(n_hidden, n_hidden, dummy)),
               min(n_threads, n_grad_blocks) * backward_work(n_features, n_hidden, grad_block,
                                                              dummy)) + 64


def scratch_bytes(bint float32, bint backward, Py_ssize_t n_samples, Py_ssize_t n_features,
                  Py_ssize_t n_hidden, Py_ssize_t grad_block=1, int n_threads=1):
    """Bytes of ``scratch`` that elman_forward_loop / elman_backward_loop need."""
    if backward:
        if float32:
            return backward_scratch(n_features, n_hidden, grad_block, n_threads,
                                     <float> 0) * sizeof(float)
        return backward_scratch(n_features, n_hidden, grad_block, n_threads,
                                 <double> 0) * sizeof(double)
    if float32:
        return forward_scratch(n_samples, n_features, n_hidden, <float> 0) * sizeof(float)
    return forward_scratch(n_samples, n_features, n_hidden, <double> 0) * sizeof(double)


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
    if act == TANH:
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
        # H[:, t] = X[:, t] @ W_in (+ H[:, t-1] @ W_rec) in one pass of the tile (pgemm2): the
        # bits of the projection followed by the step GEMM, without writing H in between
        if t > 0:
            pgemm2(m, n_hidden, n_features, Xb + t * n_features, xs, W_in_p,
                    n_hidden, Hb + (t - 1) * n_hidden, rs, W_rec_p, Hb + t * n_hidden, rs)
        elif h0 != NULL:
            pgemm2(m, n_hidden, n_features, Xb, xs, W_in_p,
                    n_hidden, h0 + i0 * n_hidden, n_hidden, W_rec_p, Hb, rs)
        else:
            pgemm(m, n_hidden, n_features, Xb, xs, W_in_p, Hb, rs, False)
        if act == RELU:
            for i in range(i0, i1):
                _forward_row(H + i * rs + t * n_hidden, H + i * rs + (t - 1) * n_hidden, b,
                             n_hidden, lengths == NULL or t < lengths[i])
        else:
            _forward_act_rows(Hb + t * n_hidden, b, lengths + i0 if lengths != NULL else NULL,
                              t, m, rs, n_hidden, act)
    sigcy_ftz_end(csr, flush)


cdef void forward_run(const floating *X,        # IN  (n_samples, n_timesteps, n_features)
                      const floating *W_in,     # IN  (n_features, n_hidden)
                      const floating *W_rec,    # IN  (n_hidden, n_hidden)
                      const floating *b,        # IN  (n_hidden,)
                      const floating *h0,       # IN  (n_samples, n_hidden) or NULL
                      const Py_ssize_t *lengths,  # IN (n_samples,) or NULL (all full)
                      floating *H,              # OUT (n_samples, n_timesteps, n_hidden)
                      Py_ssize_t n_samples, Py_ssize_t n_timesteps, Py_ssize_t n_features,
                      Py_ssize_t n_hidden, int act, Py_ssize_t row_block, int n_threads,
                      bint flush,
                      floating *scratch,        # forward_scratch(...) values, 64-byte aligned
                      ) noexcept nogil:
    """The forward pass on raw arrays: pack the weights, then the blocks of samples."""
    cdef Py_ssize_t n_blocks = (n_samples + row_block - 1) // row_block, blk
    cdef floating *W_in_p = scratch
    cdef floating *W_rec_p = W_in_p + round64(packed_size(n_features, n_hidden,
                                                            <floating> 0))
    n_threads = <int> min(n_threads, n_blocks)
    pack(W_in, n_hidden, False, n_features, n_hidden, W_in_p)
    pack(W_rec, n_hidden, False, n_hidden, n_hidden, W_rec_p)
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


cdef int _check_weights(Py_ssize_t *W_in_shape, Py_ssize_t *W_rec_shape, Py_ssize_t *h0_shape,
                        Py_ssize_t n_samples, Py_ssize_t n_features,
                        Py_ssize_t n_hidden) except -1:
    """W_in (n_features, n_hidden), W_rec (n_hidden, n_hidden), h0 (n_samples, n_hidden)."""
    want_shape("W_in", W_in_shape, 2, n_features, n_hidden, 0)
    want_shape("W_rec", W_rec_shape, 2, n_hidden, n_hidden, 0)
    if h0_shape != NULL:
        want_shape("h0", h0_shape, 2, n_samples, n_hidden, 0)
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
    _check_weights(W_in.shape, W_rec.shape, NULL if h0 is None else h0.shape, n_samples,
                   n_features, n_hidden)
    want_shape("b", b.shape, 1, n_hidden, 0, 0)
    want_shape("H", H.shape, 3, n_samples, n_timesteps, n_hidden)
    check_blocks(row_block, 1)
    check_run(act, 1, n_threads, lengths, n_samples, n_timesteps)
    cdef floating *work = <floating *> aligned64(
        scratch, forward_scratch(n_samples, X.shape[2], n_hidden, <floating> 0)
        * sizeof(floating))
    cdef const floating *h0_ptr = NULL
    cdef const Py_ssize_t *lengths_ptr = NULL
    if h0 is not None:
        h0_ptr = &h0[0, 0]
    if lengths is not None:
        lengths_ptr = &lengths[0]
    with nogil:
        forward_run(&X[0, 0, 0], &W_in[0, 0], &W_rec[0, 0], &b[0], h0_ptr, lengths_ptr,
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
    if act == SIGMOID:
        if floating is float:
            sigcy_dsigmoid_rows_f(da, g, dh, h, m, n_hidden, rs, lengths, t)
        else:
            sigcy_dsigmoid_rows_d(da, g, dh, h, m, n_hidden, rs, lengths, t)
    elif act == TANH:
        if floating is float:
            sigcy_dtanh_rows_f(da, g, dh, h, m, n_hidden, rs, lengths, t)
        else:
            sigcy_dtanh_rows_d(da, g, dh, h, m, n_hidden, rs, lengths, t)
    else:
        if floating is float:
            sigcy_drelu_rows_f(da, g, dh, h, m, n_hidden, rs, lengths, t)
        else:
            sigcy_drelu_rows_d(da, g, dh, h, m, n_hidden, rs, lengths, t)


cdef inline void _state_grads(floating *Gt,           # OUT G[i0:i1, t], rows rs apart
                              const floating *g,     # IN  carry[i0:i1]
                              const floating *dh,    # IN  dH[i0:i1, t], rows rs apart, or NULL
                              Py_ssize_t m, Py_ssize_t n_hidden, Py_ssize_t rs) noexcept nogil:
    """Gt = g + dH[:, t] (g where dH is zero)."""
    cdef Py_ssize_t i, j
    for i in range(m):
        if dh == NULL:
            memcpy(Gt + i * rs, g + i * n_hidden, n_hidden * sizeof(floating))
        else:
            for j in range(n_hidden):
                Gt[i * rs + j] = g[i * n_hidden + j] + dh[i * rs + j]


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
                          floating *G,             # OUT (n_samples, n_timesteps, n_hidden):
                                                   #     dL/dH[:, t], or NULL (not wanted)
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
        if G != NULL:
            # the whole gradient reaching H[:, t]: from the step after it, and dH[:, t]
            _state_grads(G + i0 * rs + t * n_hidden, g,
                         dH + i0 * rs + t * n_hidden if t >= dh_from else NULL, m, n_hidden, rs)
        _backward_rows(dA + i0 * rs + t * n_hidden, g,
                       dH + i0 * rs + t * n_hidden if t >= dh_from else NULL,
                       H + i0 * rs + t * n_hidden, m, n_hidden, rs,
                       lengths + i0 if lengths != NULL else NULL, t, act)
        if t == 0:
            # dh0 = dA[:, 0] @ W_rec^T (every sample is active at t = 0)
            if dh0 != NULL:
                pgemm(m, n_hidden, n_hidden, dAb, rs, W_rec_Tp, dh0 + i0 * n_hidden,
                       n_hidden, False)
        elif t % bptt_steps == 0:
            # start of a truncation window: nothing flows back to H[:, t-1]
            memset(g, 0, m * n_hidden * sizeof(floating))
        else:
            # to H[:, t-1]: dA[:, t] @ W_rec^T for active samples ...
            pgemm(m, n_hidden, n_hidden, dAb + t * n_hidden, rs, W_rec_Tp, g_next, n_hidden,
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
        pgemm(m * n_timesteps, n_features, n_hidden, dAb, n_hidden, W_in_Tp,
               dX + i0 * n_timesteps * n_features, n_features, False)
    sigcy_ftz_end(csr, flush)


# The weight gradients, after the recursion: dW_in and db on the calling thread, then dW_rec
# over blocks of its rows, one per thread (a one-pass variant: docs/dev/tuning.rst).
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
    gemm_tn(n_features, n_hidden, n_rows, X, n_features, dA, n_hidden, dW_in, n_hidden,
             False, work)
    # db: the rows in order
    if floating is float:
        sigcy_column_sum_f(dA, n_rows, n_hidden, db)
    else:
        sigcy_column_sum_d(dA, n_rows, n_hidden, db)
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
    gemm_tn(i1 - i0, n_hidden, n_rows - 1, H + i0, n_hidden, dA + n_hidden, n_hidden,
             dW_rec + i0 * n_hidden, n_hidden, False, work)
    if h0 != NULL:
        gemm_tn(i1 - i0, n_hidden, n_samples, h0 + i0, n_hidden, stash, n_hidden,
                 dW_rec + i0 * n_hidden, n_hidden, True, work)
    sigcy_ftz_end(csr, flush)


cdef void backward_run(const floating *X,       # IN  (n_samples, n_timesteps, n_features)
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
                       floating *G,             # OUT (n_samples, n_timesteps, n_hidden): the
                                                #     gradient reaching each state, or NULL
                       Py_ssize_t n_samples, Py_ssize_t n_timesteps, Py_ssize_t n_features,
                       Py_ssize_t n_hidden, int act, Py_ssize_t row_block,
                       Py_ssize_t grad_block, int n_threads, bint flush,
                       floating *scratch,       # backward_scratch(...) values, aligned
                       ) noexcept nogil:
    """Backpropagation through time on raw arrays (see elman_backward_loop)."""
    cdef Py_ssize_t n_row_blocks = (n_samples + row_block - 1) // row_block
    cdef Py_ssize_t n_grad_blocks = (n_hidden + grad_block - 1) // grad_block
    cdef Py_ssize_t blk
    cdef int threads_rows = <int> min(n_threads, n_row_blocks)
    cdef int threads_grad = <int> min(n_threads, n_grad_blocks)
    cdef floating *W_in_Tp = scratch
    cdef floating *W_rec_Tp = W_in_Tp + round64(packed_size(n_hidden, n_features,
                                                              <floating> 0))
    cdef floating *work = W_in_Tp         # after the recursion, the packed weights' place
    cdef Py_ssize_t size_work = backward_work(n_features, n_hidden, grad_block, <floating> 0)
    cdef floating *carry1 = carry + n_samples * n_hidden
    pack(W_in, n_hidden, True, n_hidden, n_features, W_in_Tp)
    pack(W_rec, n_hidden, True, n_hidden, n_hidden, W_rec_Tp)
    if threads_rows > 1:
        for blk in prange(n_row_blocks, schedule='static', chunksize=1,
                          num_threads=threads_rows):
            _backward_block(H, dH, W_in_Tp, W_rec_Tp, lengths, bptt_steps, dh_from, dA, carry,
                            carry1, dX, dh0, G, blk * row_block,
                            min((blk + 1) * row_block, n_samples),
                            n_timesteps, n_features, n_hidden, act, flush)
    else:
        for blk in range(n_row_blocks):
            _backward_block(H, dH, W_in_Tp, W_rec_Tp, lengths, bptt_steps, dh_from, dA, carry,
                            carry1, dX, dh0, G, blk * row_block,
                            min((blk + 1) * row_block, n_samples),
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
    floating[:, :, ::1] G=None,       # OUT (n_samples, n_timesteps, n_hidden): dL/dH[:, t],
                                      #     the whole gradient reaching each state; None
):
    """Backpropagation through time for elman_forward_loop; see sigcy.rnn.elman_backward."""
    cdef Py_ssize_t n_features = X.shape[2], n_hidden = W_in.shape[1]
    # as in elman_forward_loop: no out-of-bounds access whatever a direct call passes
    cdef Py_ssize_t n_samples = X.shape[0], n_timesteps = X.shape[1]
    _check_weights(W_in.shape, W_rec.shape, NULL if h0 is None else h0.shape, n_samples,
                   n_features, n_hidden)
    want_shape("H", H.shape, 3, n_samples, n_timesteps, n_hidden)
    want_shape("dH", dH.shape, 3, n_samples, n_timesteps, n_hidden)
    want_shape("dA", dA.shape, 3, n_samples, n_timesteps, n_hidden)
    want_shape("carry", carry.shape, 3, 2, n_samples, n_hidden)
    if dX is not None:
        want_shape("dX", dX.shape, 3, n_samples, n_timesteps, n_features)
    want_shape("dW_in", dW_in.shape, 2, n_features, n_hidden, 0)
    want_shape("dW_rec", dW_rec.shape, 2, n_hidden, n_hidden, 0)
    want_shape("db", db.shape, 1, n_hidden, 0, 0)
    if dh0 is not None:
        want_shape("dh0", dh0.shape, 2, n_samples, n_hidden, 0)
    if G is not None:
        want_shape("G", G.shape, 3, n_samples, n_timesteps, n_hidden)
    check_blocks(row_block, grad_block)
    check_run(act, bptt_steps, n_threads, lengths, n_samples, n_timesteps)
    cdef floating *work = <floating *> aligned64(
        scratch, backward_scratch(n_features, n_hidden, grad_block, n_threads, <floating> 0)
        * sizeof(floating))
    cdef const floating *h0_ptr = NULL
    cdef const Py_ssize_t *lengths_ptr = NULL
    cdef floating *dX_ptr = NULL
    cdef floating *dh0_ptr = NULL
    cdef floating *G_ptr = NULL
    if G is not None:
        G_ptr = &G[0, 0, 0]
    if h0 is not None:
        h0_ptr = &h0[0, 0]
    if lengths is not None:
        lengths_ptr = &lengths[0]
    if dX is not None:
        dX_ptr = &dX[0, 0, 0]
    if dh0 is not None:
        dh0_ptr = &dh0[0, 0]
    with nogil:
        backward_run(&X[0, 0, 0], &H[0, 0, 0], &dH[0, 0, 0], &W_in[0, 0], &W_rec[0, 0],
                     h0_ptr, lengths_ptr, bptt_steps, 0, &dA[0, 0, 0], &carry[0, 0, 0], dX_ptr,
                     &dW_in[0, 0], &dW_rec[0, 0], &db[0], dh0_ptr, G_ptr, X.shape[0],
                     X.shape[1], n_features, n_hidden, act, row_block, grad_block, n_threads,
                     flush, work)


