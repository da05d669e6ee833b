# The elementwise row loops of the recurrences and the training step (src/sigcy_rows.h,
# compiled per instruction set in src/sigcy_rows.c): every module that links them fills its
# table once at import with sigcy_rows_set_level(sigcy._core._dispatch.LEVEL).
cdef extern from "sigcy_rows.h" nogil:
    const char *sigcy_rows_set_level(int level) noexcept
    void sigcy_dsigmoid_rows_d(double *da, double *g, const double *dh, const double *h,
                               Py_ssize_t m, Py_ssize_t n, Py_ssize_t rs,
                               const Py_ssize_t *lengths, Py_ssize_t t) noexcept
    void sigcy_dsigmoid_rows_f(float *da, float *g, const float *dh, const float *h,
                               Py_ssize_t m, Py_ssize_t n, Py_ssize_t rs,
                               const Py_ssize_t *lengths, Py_ssize_t t) noexcept
    void sigcy_dtanh_rows_d(double *da, double *g, const double *dh, const double *h,
                            Py_ssize_t m, Py_ssize_t n, Py_ssize_t rs,
                            const Py_ssize_t *lengths, Py_ssize_t t) noexcept
    void sigcy_dtanh_rows_f(float *da, float *g, const float *dh, const float *h,
                            Py_ssize_t m, Py_ssize_t n, Py_ssize_t rs,
                            const Py_ssize_t *lengths, Py_ssize_t t) noexcept
    void sigcy_drelu_rows_d(double *da, double *g, const double *dh, const double *h,
                            Py_ssize_t m, Py_ssize_t n, Py_ssize_t rs,
                            const Py_ssize_t *lengths, Py_ssize_t t) noexcept
    void sigcy_drelu_rows_f(float *da, float *g, const float *dh, const float *h,
                            Py_ssize_t m, Py_ssize_t n, Py_ssize_t rs,
                            const Py_ssize_t *lengths, Py_ssize_t t) noexcept
    void sigcy_column_sum_d(const double *a, Py_ssize_t n_rows, Py_ssize_t n,
                            double *out) noexcept
    void sigcy_column_sum_f(const float *a, Py_ssize_t n_rows, Py_ssize_t n,
                            float *out) noexcept
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
    unsigned int sigcy_ftz_begin(int enable) noexcept
    void sigcy_ftz_end(unsigned int old, int enable) noexcept
