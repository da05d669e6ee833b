"""The sigmoid-family numpy ufuncs.

Design
------
- Scalar kernels: C, ``static inline`` in ``src/sigcy_kernels.h`` (also cimportable through
  ``sigcy/_kernels.pxd``).
- Array loops: C, ``src/sigcy_kernels.c``, compiled per instruction set, chosen at import.
- This module: the numpy inner loops.  Each one splits a long 1-d run over OpenMP threads
  (a fixed partition of the index range, so the result does not depend on the thread count),
  and hides the floating-point status flags that the kernels raise internally (underflow in
  the subnormal tail, invalid on NaN comparisons), so that no input ever triggers a numpy
  floating-point warning.
- Everything numpy gives a ufunc (broadcasting, ``out=``, ``where=``, casting, dtype
  resolution, overlap handling, ``__array_ufunc__``) comes from numpy itself.
"""
cimport numpy as cnp
from cython.parallel cimport prange
from sigcy._openmp cimport omp_get_max_threads

cnp.import_array()
cnp.import_umath()

from sigcy._ufunc_docs import SIGMOID_DOC, SIGMOID_DERIVATIVE_DOC, LOG_SIGMOID_DOC

ctypedef cnp.npy_intp npy_intp

cdef extern from "<fenv.h>" nogil:
    ctypedef int fexcept_t
    int FE_ALL_EXCEPT
    int fegetexceptflag(fexcept_t *flagp, int excepts)
    int fesetexceptflag(const fexcept_t *flagp, int excepts)

ctypedef void (*strided_loop)(const char *x, Py_ssize_t iss, char *y, Py_ssize_t oss,
                              Py_ssize_t n) noexcept nogil

from cython cimport floating

from sigcy._kernels cimport (
    sigcy_kernels_set_level, sigcy_log_sigmoid_d_strided, sigcy_log_sigmoid_f_strided,
    sigcy_sigmoid_d_strided, sigcy_sigmoid_derivative_d_strided,
    sigcy_sigmoid_derivative_f_strided, sigcy_sigmoid_f_strided, sigcy_tanh_d_strided,
    sigcy_tanh_f_strided,
)
from sigcy._core._dispatch import LEVEL

# Below this many elements a call runs on the calling thread alone: waking the OpenMP team
# costs more than the work.  Each thread gets at least MIN_PER_THREAD elements.  Both were
# chosen by measurement (benchmarks/compare_kernels.py --threshold).
cdef npy_intp PARALLEL_MIN_ELEMENTS = 16384
cdef npy_intp MIN_PER_THREAD = 8192
# Thread partitions are whole multiples of the kernels' block length.
cdef npy_intp PARTITION_QUANTUM = 256


cdef inline bint _partial_overlap(char **args, npy_intp n, npy_intp iss,
                                  npy_intp oss) noexcept nogil:
    """True if input and output share memory other than element for element.

    numpy skips its defensive copy when the output trails the input (out = x[:-k], input
    x[k:]), counting on the loop to go forward in order; such calls must stay serial.
    """
    cdef char *x0 = args[0]
    cdef char *x1 = args[0] + (n - 1) * iss
    cdef char *y0 = args[1]
    cdef char *y1 = args[1] + (n - 1) * oss
    if x0 == y0 and iss == oss:
        return False
    if x1 < x0:
        x0, x1 = x1, x0
    if y1 < y0:
        y0, y1 = y1, y0
    # the item size is at most 8 bytes: pad the extents by it
    return not (x1 + 8 <= y0 or y1 + 8 <= x0)


cdef inline void _run(strided_loop loop, char **args, npy_intp n, npy_intp iss,
                      npy_intp oss) noexcept nogil:
    cdef fexcept_t saved
    cdef int n_threads = 1
    cdef npy_intp part, start, stop, t
    fegetexceptflag(&saved, FE_ALL_EXCEPT)
    if n >= PARALLEL_MIN_ELEMENTS and not _partial_overlap(args, n, iss, oss):
        n_threads = omp_get_max_threads()
        if n_threads > n // MIN_PER_THREAD:
            n_threads = <int>(n // MIN_PER_THREAD)
    if n_threads > 1:
        part = (n + n_threads - 1) // n_threads
        part = (part + PARTITION_QUANTUM - 1) // PARTITION_QUANTUM * PARTITION_QUANTUM
        for t in prange(n_threads, nogil=True, num_threads=n_threads, schedule='static'):
            start = t * part
            stop = start + part
            if stop > n:
                stop = n
            if start < stop:
                loop(args[0] + start * iss, iss, args[1] + start * oss, oss, stop - start)
    else:
        loop(args[0], iss, args[1], oss, n)
    fesetexceptflag(&saved, FE_ALL_EXCEPT)


# numpy inner loops: (args, dimensions, steps, data) for one input and one output.
cdef void _sigmoid_f(char **args, npy_intp *dims, npy_intp *steps, void *data) noexcept nogil:
    _run(sigcy_sigmoid_f_strided, args, dims[0], steps[0], steps[1])

cdef void _sigmoid_d(char **args, npy_intp *dims, npy_intp *steps, void *data) noexcept nogil:
    _run(sigcy_sigmoid_d_strided, args, dims[0], steps[0], steps[1])

cdef void _sigmoid_derivative_f(char **args, npy_intp *dims, npy_intp *steps,
                                void *data) noexcept nogil:
    _run(sigcy_sigmoid_derivative_f_strided, args, dims[0], steps[0], steps[1])

cdef void _sigmoid_derivative_d(char **args, npy_intp *dims, npy_intp *steps,
                                void *data) noexcept nogil:
    _run(sigcy_sigmoid_derivative_d_strided, args, dims[0], steps[0], steps[1])

cdef void _log_sigmoid_f(char **args, npy_intp *dims, npy_intp *steps, void *data) noexcept nogil:
    _run(sigcy_log_sigmoid_f_strided, args, dims[0], steps[0], steps[1])

cdef void _log_sigmoid_d(char **args, npy_intp *dims, npy_intp *steps, void *data) noexcept nogil:
    _run(sigcy_log_sigmoid_d_strided, args, dims[0], steps[0], steps[1])


# ufunc tables must outlive the ufuncs: module-level C arrays and bytes objects.
cdef char _types[4]
_types[0] = cnp.NPY_FLOAT
_types[1] = cnp.NPY_FLOAT
_types[2] = cnp.NPY_DOUBLE
_types[3] = cnp.NPY_DOUBLE
cdef void *_data[2]
_data[0] = NULL
_data[1] = NULL

cdef cnp.PyUFuncGenericFunction _sigmoid_loops[2]
_sigmoid_loops[0] = <cnp.PyUFuncGenericFunction>_sigmoid_f
_sigmoid_loops[1] = <cnp.PyUFuncGenericFunction>_sigmoid_d
cdef cnp.PyUFuncGenericFunction _sigmoid_derivative_loops[2]
_sigmoid_derivative_loops[0] = <cnp.PyUFuncGenericFunction>_sigmoid_derivative_f
_sigmoid_derivative_loops[1] = <cnp.PyUFuncGenericFunction>_sigmoid_derivative_d
cdef cnp.PyUFuncGenericFunction _log_sigmoid_loops[2]
_log_sigmoid_loops[0] = <cnp.PyUFuncGenericFunction>_log_sigmoid_f
_log_sigmoid_loops[1] = <cnp.PyUFuncGenericFunction>_log_sigmoid_d

_names_and_docs = {
    name: (name.encode("ascii"), doc.encode("utf-8"))
    for name, doc in [
        ("sigmoid", SIGMOID_DOC),
        ("sigmoid_derivative", SIGMOID_DERIVATIVE_DOC),
        ("log_sigmoid", LOG_SIGMOID_DOC),
    ]
}

# this module's copy of the array loops' table, for the process's instruction-set level (the
# same variant as the recurrences' forward row loops, from the same per-level libraries)
KERNELS = sigcy_kernels_set_level(LEVEL).decode("ascii")


cdef object _make_ufunc(cnp.PyUFuncGenericFunction *loops, str name):
    cdef bytes bname = _names_and_docs[name][0]
    cdef bytes bdoc = _names_and_docs[name][1]
    return cnp.PyUFunc_FromFuncAndData(loops, _data, _types, 2, 1, 1, cnp.PyUFunc_None,
                                       bname, bdoc, 0)


sigmoid = _make_ufunc(_sigmoid_loops, "sigmoid")
sigmoid_derivative = _make_ufunc(_sigmoid_derivative_loops, "sigmoid_derivative")
log_sigmoid = _make_ufunc(_log_sigmoid_loops, "log_sigmoid")


def _tanh(floating[::1] x):
    """In-place tanh with the recurrences' dispatched kernel (for the accuracy tests)."""
    if x.shape[0] == 0:
        return
    if floating is float:
        sigcy_tanh_f_strided(<char *> &x[0], sizeof(float), <char *> &x[0], sizeof(float),
                             x.shape[0])
    else:
        sigcy_tanh_d_strided(<char *> &x[0], sizeof(double), <char *> &x[0], sizeof(double),
                             x.shape[0])
