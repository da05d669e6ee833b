"""Reusable memory of the compiled core.

``_Packed``: aligned scratch freed with its Python object.  ``_Block``: the memory of
sigcy.rnn's output arrays, recycled through a small pool.
"""
from libc.stdlib cimport free, malloc

cdef class _Packed:
    """Scratch memory for packed matrices, 64-byte aligned, freed with the object."""

    def __cinit__(self, Py_ssize_t n_bytes):
        self.raw = malloc(n_bytes + 64)
        if self.raw == NULL:
            raise MemoryError()
        self.data = <char *> self.raw + (64 - <size_t> self.raw % 64)

    def __dealloc__(self):
        free(self.raw)


# ------------------------------------------------------------------ recycled output blocks
# elman_forward's H (and elman_backward's dX) come from _Block: memory that goes back to a
# small pool when the array that views it is released, and is handed out again for an array
# of the same size, so a training loop's H reuses the previous step's memory instead of
# fresh pages from the OS (a page fault per 4 KiB; docs/dev/tuning.rst, "Output pool").  The
# pool keeps at most _POOL_SLOTS blocks and _POOL_MAX_BYTES in all, evicting the longest kept
# first; it is only touched with the GIL held.  A block is the base of the array that views
# it (numpy's __array_interface__), so it returns to the pool only with the last view.  The
# blocks are reported to tracemalloc (numpy's domain) from allocation to free.
cdef extern from "Python.h":
    int PyTraceMalloc_Track(unsigned int domain, size_t ptr, size_t size)
    int PyTraceMalloc_Untrack(unsigned int domain, size_t ptr)

cdef enum:
    _POOL_SLOTS = 4
    _NUMPY_TRACE_DOMAIN = 389047
cdef Py_ssize_t _POOL_MAX_BYTES = 64 * 2**20
POOL_MAX_BYTES = _POOL_MAX_BYTES     # sigcy.rnn allocates larger arrays with numpy
cdef void *_pool_raw[_POOL_SLOTS]
cdef Py_ssize_t _pool_nbytes[_POOL_SLOTS]
cdef unsigned long long _pool_when[_POOL_SLOTS]   # when the block was kept (for eviction)
cdef unsigned long long _pool_clock = 0
cdef Py_ssize_t _pool_total = 0


cdef void _pool_free_slot(int k) noexcept:
    global _pool_total
    PyTraceMalloc_Untrack(_NUMPY_TRACE_DOMAIN, <size_t> _pool_raw[k])
    free(_pool_raw[k])
    _pool_total -= _pool_nbytes[k]
    _pool_raw[k] = NULL


cdef class _Block:
    """n_bytes of 64-byte aligned, uninitialized, writable memory, exposed to numpy as a
    uint8 array (``np.asarray(block)``, whose base is the block); taken from the pool of
    released blocks of that size when there is one, and returned to it (or freed) when
    the last array viewing it is released."""
    cdef void *raw
    cdef char *data
    cdef Py_ssize_t nbytes

    def __cinit__(self, Py_ssize_t n_bytes):
        global _pool_total
        cdef int k
        if n_bytes < 0:
            raise ValueError(f"n_bytes must be >= 0, got {n_bytes}")
        self.nbytes = n_bytes
        self.raw = NULL
        for k in range(_POOL_SLOTS):
            if _pool_raw[k] != NULL and _pool_nbytes[k] == n_bytes:
                self.raw = _pool_raw[k]
                _pool_raw[k] = NULL
                _pool_total -= n_bytes
                break
        if self.raw == NULL:
            self.raw = malloc(n_bytes + 64)
            if self.raw == NULL:
                raise MemoryError(f"cannot allocate {n_bytes} bytes")
            PyTraceMalloc_Track(_NUMPY_TRACE_DOMAIN, <size_t> self.raw, n_bytes + 64)
        self.data = <char *> self.raw + (64 - <size_t> self.raw % 64)

    @property
    def __array_interface__(self):
        return {"shape": (self.nbytes,), "typestr": "|u1",
                "data": (<size_t> self.data, False), "version": 3}

    def __dealloc__(self):
        global _pool_total, _pool_clock
        cdef int k, free_k = -1, oldest
        if self.raw == NULL:
            return
        if self.nbytes <= _POOL_MAX_BYTES:
            # make room: evict the longest kept blocks until this one fits
            while True:
                free_k = -1
                oldest = -1
                for k in range(_POOL_SLOTS):
                    if _pool_raw[k] == NULL:
                        free_k = k
                    elif oldest < 0 or _pool_when[k] < _pool_when[oldest]:
                        oldest = k
                if free_k >= 0 and _pool_total + self.nbytes <= _POOL_MAX_BYTES:
                    break
                _pool_free_slot(oldest)
            _pool_raw[free_k] = self.raw
            _pool_nbytes[free_k] = self.nbytes
            _pool_clock += 1
            _pool_when[free_k] = _pool_clock
            _pool_total += self.nbytes
        else:
            PyTraceMalloc_Untrack(_NUMPY_TRACE_DOMAIN, <size_t> self.raw)
            free(self.raw)
        self.raw = NULL


def _pool_state():
    """(bytes kept, sizes of the kept blocks): for the tests."""
    return _pool_total, sorted(_pool_nbytes[k] for k in range(_POOL_SLOTS)
                               if _pool_raw[k] != NULL)


def _pool_clear():
    """Free every kept block (tests, benchmarks)."""
    cdef int k
    for k in range(_POOL_SLOTS):
        if _pool_raw[k] != NULL:
            _pool_free_slot(k)
