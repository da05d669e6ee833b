# The Elman recurrence's loops on raw arrays (_elman.pyx), for the trainer and for other
# cells' modules.  Activation codes, as sigcy.rnn.ACTIVATIONS maps them.
from cython cimport floating

cdef enum:
    SIGMOID = 0
    TANH = 1
    RELU = 2


cdef Py_ssize_t forward_scratch(Py_ssize_t n_samples, Py_ssize_t n_features,
                                Py_ssize_t n_hidden, floating dummy) noexcept nogil
cdef Py_ssize_t backward_scratch(Py_ssize_t n_features, Py_ssize_t n_hidden,
                                 Py_ssize_t grad_block, int n_threads,
                                 floating dummy) noexcept nogil
cdef void forward_run(const floating *X, const floating *W_in, const floating *W_rec,
                      const floating *b, const floating *h0, const Py_ssize_t *lengths,
                      floating *H, Py_ssize_t n_samples, Py_ssize_t n_timesteps,
                      Py_ssize_t n_features, Py_ssize_t n_hidden, int act,
                      Py_ssize_t row_block, int n_threads, bint flush,
                      floating *scratch) noexcept nogil
cdef void backward_run(const floating *X, const floating *H, const floating *dH,
                       const floating *W_in, const floating *W_rec, const floating *h0,
                       const Py_ssize_t *lengths, Py_ssize_t bptt_steps, Py_ssize_t dh_from,
                       floating *dA, floating *carry, floating *dX, floating *dW_in,
                       floating *dW_rec, floating *db, floating *dh0, floating *G,
                       Py_ssize_t n_samples,
                       Py_ssize_t n_timesteps, Py_ssize_t n_features, Py_ssize_t n_hidden,
                       int act, Py_ssize_t row_block, Py_ssize_t grad_block, int n_threads,
                       bint flush, floating *scratch) noexcept nogil
