"""Compiled pieces of the estimators' training step (sigcy/_estimators.py).

A mini-batch step of RNNClassifier on the digits sequences (200 x 8 x 32) spends ~0.4 ms in
the recurrences; done with numpy, the output layer's loss, the L2 term, the gradient norm and
the optimizer update added ~0.2 ms of small array operations and temporaries.  Each is one
loop here, over arrays that the caller allocates and keeps between steps.

Every loop runs in one thread, in index order, so the results do not depend on anything but
the inputs.  Per element, the optimizers compute what scikit-learn's numpy code computes, in
the same order (the package builds without FMA contraction), so an update gives the same bits
as ``sklearn.neural_network._stochastic_optimizers``.  Sums are accumulated in double.
"""
from cython cimport floating
from libc.math cimport log, logf, sqrt, sqrtf, isfinite
from libc.string cimport memcpy

from sigcy._kernels cimport sigmoid, log_sigmoid

cdef extern from "sigcy_train.h" nogil:
    # x[k] = exp(x[k]) for x[k] <= 0 or NaN, rounded once (vectorized, dispatched)
    void sigcy_exp_nonpos_array_d(double *x, Py_ssize_t n) noexcept
    void sigcy_exp_nonpos_array_f(float *x, Py_ssize_t n) noexcept


cdef inline void _exp_nonpos(floating *x, Py_ssize_t n) noexcept nogil:
    if floating is float:
        sigcy_exp_nonpos_array_f(x, n)
    else:
        sigcy_exp_nonpos_array_d(x, n)


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


def cross_entropy(
    const floating[:, ::1] Z,     # IN  (n, C) logits; C == 1: binary (logistic)
    const floating[:, ::1] Y,     # IN  (n, C) one-hot targets (C == 1: 0/1)
    const floating[::1] w,        # IN  (n,) sample weights summing to 1, or None (1/n each)
    floating[:, ::1] dZ,          # OUT (n, C) dloss/dZ
    floating[::1] db=None,        # OUT (C,) column sums of dZ (the output bias's gradient)
):
    """Mean (or w-weighted) cross-entropy of softmax(Z), or of sigmoid(Z) when C == 1.

    dZ = (p - Y) * (1/n or w[i]).  The binary loss is -(y log s(z) + (1-y) log s(-z)) through
    log_sigmoid, finite for any finite z.
    """
    cdef Py_ssize_t n = Z.shape[0], C = Z.shape[1], i, j
    cdef floating zmax, s, zy, scale
    cdef floating inv_n = <floating> (1.0 / n) if n else 0
    cdef double total = 0.0, wi
    with nogil:
        if C == 1:
            for i in range(n):
                scale = inv_n if w is None else w[i]
                wi = 1.0 / n if w is None else w[i]
                zy = Z[i, 0]
                total -= wi * (Y[i, 0] * log_sigmoid(zy) + (1 - Y[i, 0]) * log_sigmoid(-zy))
                dZ[i, 0] = (sigmoid(zy) - Y[i, 0]) * scale
        else:
            # loss_i = log(sum_j e^(z_ij - m_i)) - sum_j (z_ij - m_i) y_ij, m_i = max_j z_ij
            # (a NaN in a row makes the row NaN).  The shifted logits go to dZ, then one exp
            # loop over the whole batch, then each row's sum, loss and gradient.
            for i in range(n):
                wi = 1.0 / n if w is None else w[i]
                zmax = Z[i, 0]
                for j in range(1, C):
                    if Z[i, j] > zmax or Z[i, j] != Z[i, j]:
                        zmax = Z[i, j]
                zy = 0
                for j in range(C):
                    dZ[i, j] = Z[i, j] - zmax
                    zy = zy + dZ[i, j] * Y[i, j]
                total -= wi * zy
            _exp_nonpos(&dZ[0, 0], n * C)
            for i in range(n):
                scale = inv_n if w is None else w[i]
                wi = 1.0 / n if w is None else w[i]
                s = 0
                for j in range(C):
                    s = s + dZ[i, j]
                total += wi * _log(s)
                for j in range(C):
                    dZ[i, j] = (dZ[i, j] / s - Y[i, j]) * scale
        if db is not None:
            _column_sums(dZ, db)
    return total


cdef void _column_sums(const floating[:, ::1] a, floating[::1] out) noexcept nogil:
    """out[j] = sum of a[:, j], the rows in order."""
    cdef Py_ssize_t i, j
    for j in range(a.shape[1]):
        out[j] = 0
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[j] = out[j] + a[i, j]


def squared_error(
    const floating[:, ::1] Z,     # IN  (n, C) predictions
    const floating[:, ::1] Y,     # IN  (n, C) targets
    const floating[::1] w,        # IN  (n,) sample weights summing to 1, or None (1/n each)
    floating[:, ::1] dZ,          # OUT (n, C) dloss/dZ
    floating[::1] db=None,        # OUT (C,) column sums of dZ (the output bias's gradient)
):
    """Half the mean (or w-weighted) squared error over outputs; dZ = (Z - Y) * (1/(nC) or w[i]/C)."""
    cdef Py_ssize_t n = Z.shape[0], C = Z.shape[1], i, j
    cdef floating d, scale
    cdef floating inv_nc = <floating> (1.0 / (n * C)) if n * C else 0
    cdef double total = 0.0, per
    with nogil:
        for i in range(n):
            scale = inv_nc if w is None else w[i] / C
            per = 0.0
            for j in range(C):
                d = Z[i, j] - Y[i, j]
                per += <double> d * d
                dZ[i, j] = d * scale
            total += 0.5 * per / C * (1.0 / n if w is None else w[i])
        if db is not None:
            _column_sums(dZ, db)
    return total


def add_l2(
    const floating[::1] theta,          # IN  parameters
    floating[::1] grad,                 # INOUT gradient; += reg * theta on the weights
    const Py_ssize_t[:, ::1] ranges,    # IN  (k, 2) [start, stop) of every weight matrix
    floating reg,
):
    """grad += reg * theta on the weight ranges; return (sum of theta**2 there, |grad|**2)."""
    cdef Py_ssize_t r, j
    cdef double sq = 0.0, gsq = 0.0
    with nogil:
        for r in range(ranges.shape[0]):
            for j in range(ranges[r, 0], ranges[r, 1]):
                grad[j] = grad[j] + reg * theta[j]
                sq += <double> theta[j] * theta[j]
        for j in range(grad.shape[0]):
            gsq += <double> grad[j] * grad[j]
    return sq, gsq


def adam_update(
    floating[::1] theta,          # INOUT parameters (unchanged if the step is not finite)
    const floating[::1] grad,     # IN  gradient
    floating scale,               # IN  gradient scale (clipping), 1 for none
    floating[::1] m,              # INOUT first moment
    floating[::1] v,              # INOUT second moment
    floating beta_1, floating one_minus_beta_1, floating beta_2, floating one_minus_beta_2,
    double learning_rate, floating epsilon,
    floating[::1] work,           # scratch, theta's size
):
    """One Adam step in scikit-learn's order of operations; False (theta kept) if not finite.

    As in scikit-learn, whose bias-corrected learning rate is a numpy float64, the step
    (m * -lr) / (sqrt(v) + eps) and the sum theta + step are computed in double also for
    float32 parameters (rounded once, to float32).

    g = grad * scale; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2 (1 - b given rounded
    from double, as numpy rounds scikit-learn's python floats);
    theta += (m * -lr) / (sqrt(v) + eps)  (lr already bias-corrected by the caller).
    """
    cdef Py_ssize_t j, n = theta.shape[0]
    cdef floating g, omb1 = one_minus_beta_1, omb2 = one_minus_beta_2
    cdef double neg_lr = -learning_rate
    cdef bint finite = True
    with nogil:
        for j in range(n):
            g = grad[j] * scale
            m[j] = m[j] * beta_1 + g * omb1
            v[j] = v[j] * beta_2 + (g * g) * omb2
            work[j] = <floating> (<double> theta[j]
                                  + (neg_lr * m[j]) / <double> (_sqrt(v[j]) + epsilon))
            finite = finite & isfinite(work[j])
        if finite:
            memcpy(&theta[0], &work[0], n * sizeof(floating))
    return finite


def sgd_update(
    floating[::1] theta,          # INOUT parameters (unchanged if the step is not finite)
    const floating[::1] grad,     # IN  gradient
    floating scale,               # IN  gradient scale (clipping), 1 for none
    floating[::1] velocity,       # INOUT
    floating momentum, floating learning_rate, bint nesterov,
    floating[::1] work,           # scratch, theta's size
):
    """One SGD step with (Nesterov) momentum; False (theta kept) if not finite.

    g = grad * scale; velocity = mom velocity - lr g;
    theta += mom velocity - lr g (Nesterov) or velocity.
    """
    cdef Py_ssize_t j, n = theta.shape[0]
    cdef floating g, upd
    cdef bint finite = True
    with nogil:
        for j in range(n):
            g = grad[j] * scale
            velocity[j] = momentum * velocity[j] - learning_rate * g
            if nesterov:
                upd = momentum * velocity[j] - learning_rate * g
            else:
                upd = velocity[j]
            work[j] = theta[j] + upd
            finite = finite & isfinite(work[j])
        if finite:
            memcpy(&theta[0], &work[0], n * sizeof(floating))
    return finite
