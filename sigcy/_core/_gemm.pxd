# The GEMM interface of the recurrences (src/sigcy_gemm.h, header-only): fused float32 /
# float64 wrappers.  Every module that cimports this holds its own kernel table, which it
# fills once at import with gemm_set_level(sigcy._core._dispatch.LEVEL).
from cython cimport floating

cdef extern from "sigcy_gemm.h" nogil:
    const char *sigcy_gemm_set_level(int level) noexcept
    Py_ssize_t sigcy_packed_size_f(Py_ssize_t k, Py_ssize_t n) noexcept
    Py_ssize_t sigcy_packed_size_d(Py_ssize_t k, Py_ssize_t n) noexcept
    void sigcy_pack_f(const float *b, Py_ssize_t ldb, int trans, Py_ssize_t k, Py_ssize_t n,
                      float *bp) noexcept
    void sigcy_pack_d(const double *b, Py_ssize_t ldb, int trans, Py_ssize_t k, Py_ssize_t n,
                      double *bp) noexcept
    void sigcy_gemm_f(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float *a, Py_ssize_t lda,
                      const float *bp, float *c, Py_ssize_t ldc, int accumulate) noexcept
    void sigcy_gemm_d(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const double *a,
                      Py_ssize_t lda, const double *bp, double *c, Py_ssize_t ldc,
                      int accumulate) noexcept
    void sigcy_gemm2_f(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k1, const float *a1,
                       Py_ssize_t lda1, const float *b1p, Py_ssize_t k2, const float *a2,
                       Py_ssize_t lda2, const float *b2p, float *c, Py_ssize_t ldc) noexcept
    void sigcy_gemm2_d(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k1, const double *a1,
                       Py_ssize_t lda1, const double *b1p, Py_ssize_t k2, const double *a2,
                       Py_ssize_t lda2, const double *b2p, double *c, Py_ssize_t ldc) noexcept
    Py_ssize_t sigcy_gemm_tn_work_f(Py_ssize_t m, Py_ssize_t n) noexcept
    Py_ssize_t sigcy_gemm_tn_work_d(Py_ssize_t m, Py_ssize_t n) noexcept
    void sigcy_gemm_tn_f(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float *a,
                         Py_ssize_t lda, const float *b, Py_ssize_t ldb, float *c,
                         Py_ssize_t ldc, int accumulate, float *work) noexcept
    void sigcy_gemm_tn_d(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const double *a,
                         Py_ssize_t lda, const double *b, Py_ssize_t ldb, double *c,
                         Py_ssize_t ldc, int accumulate, double *work) noexcept


cdef inline void pgemm(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const floating *a,
                        Py_ssize_t lda, const floating *bp, floating *c, Py_ssize_t ldc,
                        bint accumulate) noexcept nogil:
    """Row-major ``C[m, n] (+)= A[m, k] @ B[k, n]``, B packed (src/sigcy_gemm.h)."""
    if floating is float:
        sigcy_gemm_f(m, n, k, a, lda, bp, c, ldc, accumulate)
    else:
        sigcy_gemm_d(m, n, k, a, lda, bp, c, ldc, accumulate)


cdef inline void pgemm2(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k1, const floating *a1,
                         Py_ssize_t lda1, const floating *b1p, Py_ssize_t k2,
                         const floating *a2, Py_ssize_t lda2, const floating *b2p, floating *c,
                         Py_ssize_t ldc) noexcept nogil:
    """Row-major ``C[m, n] = A1[m, k1] @ B1 + A2[m, k2] @ B2``, B1 and B2 packed: the bits of
    ``pgemm(A1, B1, C)`` then ``pgemm(A2, B2, C, accumulate)`` (src/sigcy_gemm.h)."""
    if floating is float:
        sigcy_gemm2_f(m, n, k1, a1, lda1, b1p, k2, a2, lda2, b2p, c, ldc)
    else:
        sigcy_gemm2_d(m, n, k1, a1, lda1, b1p, k2, a2, lda2, b2p, c, ldc)


cdef inline Py_ssize_t packed_size(Py_ssize_t k, Py_ssize_t n, floating dummy) noexcept nogil:
    if floating is float:
        return sigcy_packed_size_f(k, n)
    else:
        return sigcy_packed_size_d(k, n)


cdef inline void pack(const floating *b, Py_ssize_t ldb, bint trans, Py_ssize_t k,
                       Py_ssize_t n, floating *bp) noexcept nogil:
    """bp <- B (k, n) packed; B[p, j] = b[p * ldb + j], or b[j * ldb + p] if trans."""
    if floating is float:
        sigcy_pack_f(b, ldb, trans, k, n, bp)
    else:
        sigcy_pack_d(b, ldb, trans, k, n, bp)


cdef inline void gemm_tn(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const floating *a,
                          Py_ssize_t lda, const floating *b, Py_ssize_t ldb, floating *c,
                          Py_ssize_t ldc, bint accumulate, floating *work) noexcept nogil:
    """Row-major ``C[m, n] (+)= A^T B``, A (k, m) and B (k, n) (src/sigcy_gemm.h)."""
    if floating is float:
        sigcy_gemm_tn_f(m, n, k, a, lda, b, ldb, c, ldc, accumulate, work)
    else:
        sigcy_gemm_tn_d(m, n, k, a, lda, b, ldb, c, ldc, accumulate, work)


cdef inline Py_ssize_t gemm_tn_work(Py_ssize_t m, Py_ssize_t n, floating dummy) noexcept nogil:
    if floating is float:
        return sigcy_gemm_tn_work_f(m, n)
    else:
        return sigcy_gemm_tn_work_d(m, n)
