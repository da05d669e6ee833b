# Scalar sigmoid-family kernels for Cython code: cimport these, never call the ufuncs from a
# hot loop.  They are the same C functions that the ufuncs' loops are built on
# (src/sigcy_kernels.h); a module that cimports them needs `include_directories('src')` and,
# for the array loops, the sigcy_dispatch static library (see sigcy/meson.build), whose
# table it fills at import: sigcy_kernels_set_level(sigcy._core._dispatch.LEVEL).
#
#   from sigcy._kernels cimport sigmoid, sigmoid_derivative, log_sigmoid
#
# The fused wrappers take and return float or double.  sigmoid_derivative(x) is computed from
# x; sigmoid_derivative_from_output(s) is s * (1 - s) for code that has only sigma(x) (it
# loses accuracy for large |x|, like every implementation that does this).
from cython cimport floating

cdef extern from "sigcy_kernels.h" nogil:
    double sigcy_sigmoid_d(double x) noexcept
    float sigcy_sigmoid_f(float x) noexcept
    double sigcy_sigmoid_derivative_d(double x) noexcept
    float sigcy_sigmoid_derivative_f(float x) noexcept
    double sigcy_log_sigmoid_d(double x) noexcept
    float sigcy_log_sigmoid_f(float x) noexcept
    # Array loops (dispatched to the best instruction set): y[i*oss] = f(x[i*iss]), byte strides.
    void sigcy_sigmoid_d_strided(const char *x, Py_ssize_t iss, char *y, Py_ssize_t oss,
                                 Py_ssize_t n) noexcept
    void sigcy_sigmoid_f_strided(const char *x, Py_ssize_t iss, char *y, Py_ssize_t oss,
                                 Py_ssize_t n) noexcept
    void sigcy_sigmoid_derivative_d_strided(const char *x, Py_ssize_t iss, char *y,
                                            Py_ssize_t oss, Py_ssize_t n) noexcept
    void sigcy_sigmoid_derivative_f_strided(const char *x, Py_ssize_t iss, char *y,
                                            Py_ssize_t oss, Py_ssize_t n) noexcept
    void sigcy_log_sigmoid_d_strided(const char *x, Py_ssize_t iss, char *y, Py_ssize_t oss,
                                     Py_ssize_t n) noexcept
    void sigcy_log_sigmoid_f_strided(const char *x, Py_ssize_t iss, char *y, Py_ssize_t oss,
                                     Py_ssize_t n) noexcept
    void sigcy_tanh_d_strided(const char *x, Py_ssize_t iss, char *y, Py_ssize_t oss,
                              Py_ssize_t n) noexcept
    void sigcy_tanh_f_strided(const char *x, Py_ssize_t iss, char *y, Py_ssize_t oss,
                              Py_ssize_t n) noexcept
    # The forward step of a recurrence over m rows, in place: c[i*rs + j] = act(c + b[j]).
    void sigcy_bias_tanh_rows_d(double *c, Py_ssize_t rs, const double *b, Py_ssize_t m,
                                Py_ssize_t n) noexcept
    void sigcy_bias_tanh_rows_f(float *c, Py_ssize_t rs, const float *b, Py_ssize_t m,
                                Py_ssize_t n) noexcept
    void sigcy_bias_sigmoid_rows_d(double *c, Py_ssize_t rs, const double *b, Py_ssize_t m,
                                   Py_ssize_t n) noexcept
    void sigcy_bias_sigmoid_rows_f(float *c, Py_ssize_t rs, const float *b, Py_ssize_t m,
                                   Py_ssize_t n) noexcept
    # Install the loops of an instruction-set level (src/sigcy_isa.h), once per module, at
    # import (the level: sigcy._core._dispatch.LEVEL); returns the variant's name.
    const char *sigcy_kernels_set_level(int level) noexcept


cdef inline floating sigmoid(floating x) noexcept nogil:
    if floating is float:
        return sigcy_sigmoid_f(x)
    else:
        return sigcy_sigmoid_d(x)


cdef inline floating sigmoid_derivative(floating x) noexcept nogil:
    if floating is float:
        return sigcy_sigmoid_derivative_f(x)
    else:
        return sigcy_sigmoid_derivative_d(x)


cdef inline floating log_sigmoid(floating x) noexcept nogil:
    if floating is float:
        return sigcy_log_sigmoid_f(x)
    else:
        return sigcy_log_sigmoid_d(x)


cdef inline floating sigmoid_derivative_from_output(floating s) noexcept nogil:
    return s * (1 - s)
