# The C loops of the estimators' training step (src/sigcy_train.h): the output layer's
# losses, the L2 term, the order of weighted sums and Adam's learning rate, shared by
# _step.pyx (its def wrappers) and the trainer (_trainer.pyx).  The optimizers' steps are
# row loops (_rows.pxd).
cdef extern from "sigcy_train.h" nogil:
    double sigcy_cross_entropy_d(const double *Z, const double *Y, const double *w, double *dZ,
                                 double *db, Py_ssize_t n, Py_ssize_t C) noexcept
    double sigcy_cross_entropy_f(const float *Z, const float *Y, const float *w, float *dZ,
                                 float *db, Py_ssize_t n, Py_ssize_t C) noexcept
    double sigcy_squared_error_d(const double *Z, const double *Y, const double *w, double *dZ,
                                 double *db, Py_ssize_t n, Py_ssize_t C) noexcept
    double sigcy_squared_error_f(const float *Z, const float *Y, const float *w, float *dZ,
                                 float *db, Py_ssize_t n, Py_ssize_t C) noexcept
    double sigcy_add_l2_d(const double *theta, double *grad, Py_ssize_t n,
                          const Py_ssize_t *ranges, Py_ssize_t k, double reg,
                          double *sq) noexcept
    double sigcy_add_l2_f(const float *theta, float *grad, Py_ssize_t n,
                          const Py_ssize_t *ranges, Py_ssize_t k, float reg, double *sq) noexcept
    double sigcy_sum_in_order(const double *w, const Py_ssize_t *idx, Py_ssize_t n) noexcept
    double sigcy_adam_learning_rate(double lr, double beta_1, double beta_2,
                                    double t) noexcept
