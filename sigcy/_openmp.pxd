# OpenMP entry points that still compile when the build has no OpenMP: there, the package runs
# serially (one thread), as if OMP_NUM_THREADS=1.  Cimport from here, never `openmp` directly.
cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define SIGCY_OPENMP_PARALLELISM_ENABLED 1
    #else
    #define SIGCY_OPENMP_PARALLELISM_ENABLED 0
    #define omp_get_max_threads() 1
    #define omp_get_thread_num() 0
    #endif
    """
    bint SIGCY_OPENMP_PARALLELISM_ENABLED
    int omp_get_max_threads() noexcept nogil
    int omp_get_thread_num() noexcept nogil
