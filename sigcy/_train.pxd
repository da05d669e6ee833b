# The C loops of the estimators' training step (src/sigcy_train.h): the output layer's
# losses, the L2 term and the optimizers' steps on raw row-major arrays, shared by
# sigcy/_train.pyx (its def wrappers) and the fused step and epoch of sigcy/_rnn.pyx:
#
#   from sigcy._train cimport sigcy_cross_entropy_d, ...
#
# A module that cimports them needs `include_directories('src')` (see sigcy/meson.build).
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
    int sigcy_adam_update_d(double *theta, const double *grad, double scale, double *m,
                            double *v, double beta_1, double omb1, double beta_2, double omb2,
                            double lr, double eps, double *work, Py_ssize_t n) noexcept
    int sigcy_adam_update_f(float *theta, const float *grad, float scale, float *m, float *v,
                            float beta_1, float omb1, float beta_2, float omb2, double lr,
                            float eps, float *work, Py_ssize_t n) noexcept
    int sigcy_sgd_update_d(double *theta, const double *grad, double scale, double *velocity,
                           double momentum, double lr, int nesterov, double *work,
                           Py_ssize_t n) noexcept
    int sigcy_sgd_update_f(float *theta, const float *grad, float scale, float *velocity,
                           float momentum, float lr, int nesterov, float *work,
                           Py_ssize_t n) noexcept
