"""The training step's loops one call at a time: output losses, L2, optimizer steps.

The estimators' epochs and steps run these C loops inside the trainer (_trainer.pyx); this
module wraps each for the estimators' other uses (sigcy/_optimizers.py, gradient_flow) and the
tests (src/sigcy_train.h and src/sigcy_rows.h, declared in _step.pxd and _rows.pxd).

Every loop runs in one thread, in index order, so the results do not depend on anything but
the inputs.  Per element, the optimizers compute what scikit-learn's numpy code computes, in
the same order and precision (the package builds without FMA contraction), so an update gives
the same bits as ``sklearn.neural_network._stochastic_optimizers`` (tested; for float32 Adam
with numpy >= 2, whose promotion rules compute scikit-learn's step in float64 as here).  Sums are
accumulated in double.
"""
from cython cimport floating

from sigcy._core._dispatch import LEVEL
from sigcy._core._rows cimport (
    sigcy_adam_update_d, sigcy_adam_update_f, sigcy_rows_set_level, sigcy_sgd_update_d,
    sigcy_sgd_update_f,
)

# this module's copy of the row loops' table; the variant is the one every module links
KERNELS = sigcy_rows_set_level(LEVEL).decode("ascii")


def sum_in_order(const double[::1] w, const Py_ssize_t[::1] idx=None):
    """The sum of ``w`` (or of ``w[idx]``) in index order: the order of every weighted sum
    of the estimators (a mini-batch's sample weights).  0.0 when empty."""
    cdef Py_ssize_t n = w.shape[0] if idx is None else idx.shape[0], k
    cdef const Py_ssize_t *idx_ptr = NULL
    if idx is not None:
        for k in range(n):
            if not 0 <= idx[k] < w.shape[0]:
                raise ValueError(f"idx[{k}] = {idx[k]} is not an index of w")
        if n:
            idx_ptr = &idx[0]
    if n == 0:
        return 0.0
    return sigcy_sum_in_order(&w[0], idx_ptr, n)


def adam_learning_rate(double learning_rate_init, double beta_1, double beta_2, Py_ssize_t t):
    """Adam's bias-corrected learning rate after t steps (scikit-learn's formula)."""
    return sigcy_adam_learning_rate(learning_rate_init, beta_1, beta_2, <double> t)


def _loss(bint cross_entropy, const floating[:, ::1] Z, const floating[:, ::1] Y,
          const floating[::1] w, floating[:, ::1] dZ, floating[::1] db):
    cdef Py_ssize_t n = Z.shape[0], C = Z.shape[1]
    cdef const floating *wp = NULL
    cdef floating *dbp = NULL
    if Y.shape[0] != n or Y.shape[1] != C or dZ.shape[0] != n or dZ.shape[1] != C:
        raise ValueError(f"Z ({n}, {C}), Y ({Y.shape[0]}, {Y.shape[1]}) and dZ "
                         f"({dZ.shape[0]}, {dZ.shape[1]}) differ in shape")
    if w is not None:
        if w.shape[0] != n:
            raise ValueError(f"w has {w.shape[0]} values for {n} samples")
        wp = &w[0]
    if db is not None:
        if db.shape[0] != C:
            raise ValueError(f"db has {db.shape[0]} values for {C} outputs")
        dbp = &db[0]
    if n == 0 or C == 0:
        return 0.0
    cdef double loss
    with nogil:
        if cross_entropy:
            if floating is float:
                loss = sigcy_cross_entropy_f(&Z[0, 0], &Y[0, 0], wp, &dZ[0, 0], dbp, n, C)
            else:
                loss = sigcy_cross_entropy_d(&Z[0, 0], &Y[0, 0], wp, &dZ[0, 0], dbp, n, C)
        elif floating is float:
            loss = sigcy_squared_error_f(&Z[0, 0], &Y[0, 0], wp, &dZ[0, 0], dbp, n, C)
        else:
            loss = sigcy_squared_error_d(&Z[0, 0], &Y[0, 0], wp, &dZ[0, 0], dbp, n, C)
    return loss


def cross_entropy(Z, Y, w, dZ, db=None):
    """Mean (or w-weighted) cross-entropy of softmax(Z), or of sigmoid(Z) when C == 1.

    Z, Y, dZ: (n, C) C-contiguous arrays of one float dtype; w: (n,) weights summing to 1,
    or None (1/n each).  Writes dZ = (p - Y) * (1/n or w[i]) and, if given, db = dZ's column
    sums (the output bias's gradient); returns the loss.  The binary loss is
    -(y log s(z) + (1-y) log s(-z)) through log_sigmoid, finite for any finite z.
    """
    return _loss(True, Z, Y, w, dZ, db)


def squared_error(Z, Y, w, dZ, db=None):
    """Half the squared error averaged over outputs and samples (or weighted by w).

    As cross_entropy; dZ = (Z - Y) * (1/(nC) or w[i]/C).
    """
    return _loss(False, Z, Y, w, dZ, db)


def add_l2(
    const floating[::1] theta,          # IN  parameters
    floating[::1] grad,                 # INOUT gradient; += reg * theta on the weights
    const Py_ssize_t[:, ::1] ranges,    # IN  (k, 2) [start, stop) of every weight matrix
    floating reg,
):
    """grad += reg * theta on the weight ranges; return (sum of theta**2 there, |grad|**2)."""
    cdef double sq = 0.0, gsq
    cdef Py_ssize_t r
    if grad.shape[0] != theta.shape[0] or ranges.shape[1] != 2:
        raise ValueError("theta and grad differ in size, or ranges is not (k, 2)")
    for r in range(ranges.shape[0]):
        if not 0 <= ranges[r, 0] <= ranges[r, 1] <= theta.shape[0]:
            raise ValueError(f"range {r} is outside theta")
    if theta.shape[0] == 0:
        return 0.0, 0.0
    with nogil:
        if floating is float:
            gsq = sigcy_add_l2_f(&theta[0], &grad[0], theta.shape[0], &ranges[0, 0],
                                 ranges.shape[0], reg, &sq)
        else:
            gsq = sigcy_add_l2_d(&theta[0], &grad[0], theta.shape[0], &ranges[0, 0],
                                 ranges.shape[0], reg, &sq)
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
    cdef Py_ssize_t n = theta.shape[0]
    cdef int finite = 1
    if grad.shape[0] != n or m.shape[0] != n or v.shape[0] != n or work.shape[0] != n:
        raise ValueError("theta, grad, m, v and work differ in size")
    if n == 0:
        return True
    with nogil:
        if floating is float:
            finite = sigcy_adam_update_f(&theta[0], &grad[0], scale, &m[0], &v[0], beta_1,
                                         one_minus_beta_1, beta_2, one_minus_beta_2,
                                         learning_rate, epsilon, &work[0], n)
        else:
            finite = sigcy_adam_update_d(&theta[0], &grad[0], scale, &m[0], &v[0], beta_1,
                                         one_minus_beta_1, beta_2, one_minus_beta_2,
                                         learning_rate, epsilon, &work[0], n)
    return finite != 0


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
    cdef Py_ssize_t n = theta.shape[0]
    cdef int finite = 1
    if grad.shape[0] != n or velocity.shape[0] != n or work.shape[0] != n:
        raise ValueError("theta, grad, velocity and work differ in size")
    if n == 0:
        return True
    with nogil:
        if floating is float:
            finite = sigcy_sgd_update_f(&theta[0], &grad[0], scale, &velocity[0], momentum,
                                        learning_rate, nesterov, &work[0], n)
        else:
            finite = sigcy_sgd_update_d(&theta[0], &grad[0], scale, &velocity[0], momentum,
                                        learning_rate, nesterov, &work[0], n)
    return finite != 0
