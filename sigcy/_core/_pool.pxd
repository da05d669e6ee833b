# Reusable memory of the compiled core (_pool.pyx): aligned scratch that lives with a Python
# object, and the pool of released output blocks.

cdef class _Packed:
    cdef void *raw
    cdef char *data


cdef inline Py_ssize_t round64(Py_ssize_t n) noexcept nogil:
    """n rounded up to a multiple of 64 (values: the regions of a workspace)."""
    return (n + 63) // 64 * 64


cdef inline char *aligned64(unsigned char[::1] scratch, Py_ssize_t n_bytes) except NULL:
    """scratch's first 64-byte aligned address, checking that n_bytes fit (with the slack)."""
    if scratch.shape[0] < n_bytes:
        raise ValueError(f"scratch holds {scratch.shape[0]} bytes, need {n_bytes}")
    return <char *> &scratch[0] + (64 - <size_t> &scratch[0] % 64) % 64
