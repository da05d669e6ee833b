"""How many OpenMP threads sigcy's parallel loops use.

The count is resolved once per call in Python (or at the top of a kernel) and passed down,
as scikit-learn does; it follows ``OMP_NUM_THREADS`` and ``threadpoolctl``.
"""
from sigcy._openmp cimport SIGCY_OPENMP_PARALLELISM_ENABLED, omp_get_max_threads


def _openmp_parallelism_enabled():
    """Return True if sigcy was built with OpenMP support."""
    return SIGCY_OPENMP_PARALLELISM_ENABLED


cpdef int _openmp_effective_n_threads(n_threads=None) except -1:
    """The number of threads a parallel loop will use.

    Parameters
    ----------
    n_threads : int or None
        None (or -1): OpenMP's current maximum (``OMP_NUM_THREADS``, threadpoolctl limits).
        A positive value is capped at that maximum; ``-k`` means ``max + 1 - k``, as in joblib.

    Returns
    -------
    int
        At least 1; always 1 when sigcy was built without OpenMP.
    """
    if n_threads == 0:
        raise ValueError("n_threads == 0 is not allowed: use None, a positive or a negative int.")
    if not SIGCY_OPENMP_PARALLELISM_ENABLED:
        return 1
    cdef int max_n = omp_get_max_threads()
    if n_threads is None:
        return max_n
    if n_threads < 0:
        return max(1, max_n + 1 + n_threads)
    return min(n_threads, max_n)
