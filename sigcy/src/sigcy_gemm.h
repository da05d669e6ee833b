/*
 * sigcy_gemm.h -- the GEMM interface of the recurrences (sigcy/_core/_gemm.pxd).
 *
 * Design
 * ------
 * Each time step of a recurrence multiplies a few rows (the samples of a block) by the same
 * (n_hidden, n_hidden) matrix.  Through BLAS every step would re-pack that matrix and pay a
 * call's fixed cost; here the matrix is packed once per call (sigcy_pack_*) and every step
 * runs a register-blocked kernel on it:
 *
 *     C[m, n] (+)= A[m, k] @ B[k, n],   A and C row-major with leading dimensions, B packed
 *
 * B is packed in panels of NR columns (32 float32 / 16 float64 values, the width of two
 * AVX-512 registers), each panel k rows of NR contiguous values, zero-padded past n.  The
 * weight gradients (sums over all rows, A^T B) pack their operands in passes of SIGCY_KC rows.
 *
 * Reproducibility: every element C[i, j] is computed by the same operations in the same
 * order, acc = C[i, j] (or 0), then acc = acc + A[i, p] * B[p, j] for p = 0, 1, ..., k-1
 * (one FMA each in the x86 kernels, a product and a sum in the portable ones), whatever m,
 * the tile, the panel or the thread that computes it: the rows can be split among threads in
 * any way without changing a bit.  sigcy_gemm_set_level installs the kernels of the
 * process's instruction-set level (sigcy_isa.h): the tiles of sigcy_gemm_x86.h (GCC on
 * x86-64) or the portable C below.  Block sizes and their measurements: docs/dev/tuning.rst.
 */
#ifndef SIGCY_GEMM_H
#define SIGCY_GEMM_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "sigcy_isa.h"

#define SIGCY_NR_F 32
#define SIGCY_NR_D 16
#define SIGCY_MR 8
/* rows of the per-step kernel's main tile: 24 accumulators of the 32 zmm registers */
#define SIGCY_MR_WIDE 12
/* A^T B: rows per pass (a panel's KC x NR values stay in L1) and the tiles of A's columns
 * that run against all the panels before the next ones (the packed A stays in L1 or L2) */
#define SIGCY_KC 128
#define SIGCY_TN_MC_F 8
#define SIGCY_TN_MC_D 2
/* A^T B reads A and B in place (no packing) up to this many columns of A when B is at most
 * four whole panels wide ... */
#ifndef SIGCY_TN_INPLACE_M
#define SIGCY_TN_INPLACE_M 128
#endif
/* ... and always when A has at most SIGCY_MR columns (dW_in = X^T dA), in passes of this
 * many rows of B when B is wider than four panels */
#define SIGCY_TN_SMALL_KC 32

/* ------------------------------------------------------------------------------- packing */
/* Bp <- B(p, j) for p < k, j < n in panels of NR columns; B(p, j) = B[p * ldb + j], or
 * B[j * ldb + p] if trans (B^T stored row-major). */
#define SIGCY_DEFINE_PACK(T, NR, name)                                                       \
static void name(const T *B, ptrdiff_t ldb, int trans, ptrdiff_t k, ptrdiff_t n, T *Bp)      \
{                                                                                            \
    ptrdiff_t n_panels = (n + NR - 1) / NR;                                                  \
    for (ptrdiff_t q = 0; q < n_panels; q++) {                                               \
        T *dst = Bp + q * k * NR;                                                            \
        for (ptrdiff_t p = 0; p < k; p++)                                                    \
            for (ptrdiff_t jj = 0; jj < NR; jj++) {                                          \
                ptrdiff_t j = q * NR + jj;                                                   \
                dst[p * NR + jj] = j >= n ? (T)0 : trans ? B[j * ldb + p] : B[p * ldb + j];  \
            }                                                                                \
    }                                                                                        \
}
SIGCY_DEFINE_PACK(float, SIGCY_NR_F, sigcy_pack_f)
SIGCY_DEFINE_PACK(double, SIGCY_NR_D, sigcy_pack_d)

/* Number of values of a packed (k, n) matrix. */
static ptrdiff_t sigcy_packed_size_f(ptrdiff_t k, ptrdiff_t n)
{
    return (n + SIGCY_NR_F - 1) / SIGCY_NR_F * SIGCY_NR_F * k;
}
static ptrdiff_t sigcy_packed_size_d(ptrdiff_t k, ptrdiff_t n)
{
    return (n + SIGCY_NR_D - 1) / SIGCY_NR_D * SIGCY_NR_D * k;
}

/* ---------------------------------------------------------------- portable kernel (C) */
/* One row at a time against one panel.  With GCC or clang the panel's row is one vector
 * (generic vector extension, lowered to the target's registers); elsewhere a plain loop. */
#if defined(__GNUC__) || defined(__clang__)
#define SIGCY_ROW_UPDATE(T, NR, acc, ap, b)                                                  \
    do {                                                                                     \
        typedef T sigcy_vec __attribute__((vector_size(NR * sizeof(T))));                   \
        sigcy_vec va, vb;                                                                    \
        memcpy(&va, acc, sizeof va);                                                         \
        memcpy(&vb, b, sizeof vb);                                                           \
        va = va + ap * vb;                                                                   \
        memcpy(acc, &va, sizeof va);                                                         \
    } while (0)
#else
#define SIGCY_ROW_UPDATE(T, NR, acc, ap, b)                                                  \
    for (ptrdiff_t jj = 0; jj < NR; jj++)                                                    \
        acc[jj] = acc[jj] + ap * b[jj]
#endif
#define SIGCY_DEFINE_GEMM_C(T, NR, name)                                                     \
static void name(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *A, ptrdiff_t lda,          \
                 const T *Bp, T *C, ptrdiff_t ldc, int accumulate)                          \
{                                                                                            \
    ptrdiff_t n_panels = (n + NR - 1) / NR;                                                  \
    for (ptrdiff_t q = 0; q < n_panels; q++) {                                               \
        const T *bq = Bp + q * k * NR;                                                       \
        ptrdiff_t j0 = q * NR, nn = n - j0 < NR ? n - j0 : NR;                               \
        for (ptrdiff_t i = 0; i < m; i++) {                                                  \
            T acc[NR];                                                                       \
            T *c = C + i * ldc + j0;                                                         \
            const T *a = A + i * lda;                                                        \
            for (ptrdiff_t jj = 0; jj < NR; jj++)                                            \
                acc[jj] = 0;                                                                 \
            if (accumulate)                                                                  \
                memcpy(acc, c, (size_t)nn * sizeof(T));                                      \
            for (ptrdiff_t p = 0; p < k; p++) {                                              \
                T ap = a[p];                                                                 \
                SIGCY_ROW_UPDATE(T, NR, acc, ap, (bq + p * NR));                             \
            }                                                                                \
            memcpy(c, acc, (size_t)nn * sizeof(T));                                          \
        }                                                                                    \
    }                                                                                        \
}
SIGCY_DEFINE_GEMM_C(float, SIGCY_NR_F, sigcy_gemm_f_c)
SIGCY_DEFINE_GEMM_C(double, SIGCY_NR_D, sigcy_gemm_d_c)

/* C[m, n] (+)= A^T B, A (k, m) and B (k, n) row-major (work unused): 4 rows of C at a time,
 * accumulated in place over passes of SIGCY_KC rows of B (kept in cache for the next rows). */
#define SIGCY_DEFINE_GEMM_TN_C(T, NR, name)                                                  \
static void name(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *A, ptrdiff_t lda,          \
                 const T *B, ptrdiff_t ldb, T *C, ptrdiff_t ldc, int accumulate, T *work)    \
{                                                                                            \
    (void)work;                                                                              \
    if (!accumulate)                                                                         \
        for (ptrdiff_t i = 0; i < m; i++)                                                    \
            for (ptrdiff_t j = 0; j < n; j++)                                                \
                C[i * ldc + j] = 0;                                                          \
    for (ptrdiff_t k0 = 0; k0 < k; k0 += SIGCY_KC) {                                         \
        ptrdiff_t k1 = k - k0 < SIGCY_KC ? k : k0 + SIGCY_KC;                                \
        for (ptrdiff_t i0 = 0; i0 < m; i0 += 4) {                                            \
            ptrdiff_t mr = m - i0 < 4 ? m - i0 : 4;                                          \
            for (ptrdiff_t p = k0; p < k1; p++) {                                            \
                const T *b = B + p * ldb;                                                    \
                for (ptrdiff_t r = 0; r < mr; r++) {                                         \
                    T ap = A[p * lda + i0 + r];                                              \
                    T *c = C + (i0 + r) * ldc;                                               \
                    for (ptrdiff_t j = 0; j < n; j++)                                        \
                        c[j] = c[j] + ap * b[j];                                             \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
}
SIGCY_DEFINE_GEMM_TN_C(float, SIGCY_NR_F, sigcy_gemm_tn_f_c)
SIGCY_DEFINE_GEMM_TN_C(double, SIGCY_NR_D, sigcy_gemm_tn_d_c)

/* ------------------------------------------------------------------------------ x86 */
#if SIGCY_X86_GCC && !defined(SIGCY_NO_X86_GEMM)
#define SIGCY_GEMM_X86 1
#include "sigcy_gemm_x86.h"
#endif

/* ------------------------------------------------------------------------- dispatch */
typedef void (*sigcy_gemm_f_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t,
                                const float *, float *, ptrdiff_t, int);
typedef void (*sigcy_gemm_d_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const double *, ptrdiff_t,
                                const double *, double *, ptrdiff_t, int);
typedef void (*sigcy_gemm_tn_f_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t,
                                   const float *, ptrdiff_t, float *, ptrdiff_t, int, float *);
typedef void (*sigcy_gemm_tn_d_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const double *, ptrdiff_t,
                                   const double *, ptrdiff_t, double *, ptrdiff_t, int,
                                   double *);
static sigcy_gemm_f_fn sigcy_gemm_f_ptr = sigcy_gemm_f_c;
static sigcy_gemm_d_fn sigcy_gemm_d_ptr = sigcy_gemm_d_c;
static sigcy_gemm_tn_f_fn sigcy_gemm_tn_f_ptr = sigcy_gemm_tn_f_c;
static sigcy_gemm_tn_d_fn sigcy_gemm_tn_d_ptr = sigcy_gemm_tn_d_c;

/* Install the kernels of an instruction-set level (sigcy_isa.h) in this module's table, once,
 * at import, before any thread can call one; returns their name ("avx512", "avx2" or
 * "baseline": the portable C kernels). */
#define SIGCY_GEMM_SET(SUF)                                                                  \
    sigcy_gemm_f_ptr = sigcy_gemm_f_##SUF;                                                   \
    sigcy_gemm_d_ptr = sigcy_gemm_d_##SUF;                                                   \
    sigcy_gemm_tn_f_ptr = sigcy_gemm_tn_f_##SUF;                                             \
    sigcy_gemm_tn_d_ptr = sigcy_gemm_tn_d_##SUF;
static const char *sigcy_gemm_set_level(int level)
{
    SIGCY_GEMM_SET(c)
#ifdef SIGCY_GEMM_X86
    if (level >= SIGCY_ISA_AVX512) {
        SIGCY_GEMM_SET(avx512)
        return "avx512";
    }
    if (level >= SIGCY_ISA_AVX2) {
        SIGCY_GEMM_SET(avx2)
        return "avx2";
    }
#endif
    (void)level;
    return "baseline";
}

/* C[m, n] (+)= A[m, k] @ B[k, n] with B packed by sigcy_pack_*; see the top of the file. */
static inline void sigcy_gemm_f(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *A,
                                ptrdiff_t lda, const float *Bp, float *C, ptrdiff_t ldc,
                                int accumulate)
{
    if (m > 0 && n > 0)
        sigcy_gemm_f_ptr(m, n, k, A, lda, Bp, C, ldc, accumulate);
}
static inline void sigcy_gemm_d(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const double *A,
                                ptrdiff_t lda, const double *Bp, double *C, ptrdiff_t ldc,
                                int accumulate)
{
    if (m > 0 && n > 0)
        sigcy_gemm_d_ptr(m, n, k, A, lda, Bp, C, ldc, accumulate);
}

/* C[m, n] = A1[m, k1] @ B1[k1, n] + A2[m, k2] @ B2[k2, n], B1 and B2 packed by sigcy_pack_*:
 * the bits of sigcy_gemm_*(A1, B1, C, accumulate 0) then sigcy_gemm_*(A2, B2, C, accumulate 1)
 * (what the other kernels run), in one pass with the AVX-512 kernel. */
#ifdef SIGCY_GEMM_X86
#define SIGCY_GEMM2_AVX512_CALL(X)                                                           \
    if (sigcy_gemm_##X##_ptr == sigcy_gemm_##X##_avx512) {                                   \
        sigcy_gemm2_##X##_avx512(m, n, k1, A1, lda1, B1p, k2, A2, lda2, B2p, C, ldc);        \
        return;                                                                              \
    }
#else
#define SIGCY_GEMM2_AVX512_CALL(X)
#endif
#define SIGCY_DEFINE_GEMM2(T, X)                                                             \
static inline void sigcy_gemm2_##X(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k1, const T *A1,     \
                                   ptrdiff_t lda1, const T *B1p, ptrdiff_t k2, const T *A2,  \
                                   ptrdiff_t lda2, const T *B2p, T *C, ptrdiff_t ldc)       \
{                                                                                            \
    if (m <= 0 || n <= 0)                                                                    \
        return;                                                                              \
    SIGCY_GEMM2_AVX512_CALL(X)                                                               \
    sigcy_gemm_##X##_ptr(m, n, k1, A1, lda1, B1p, C, ldc, 0);                                \
    sigcy_gemm_##X##_ptr(m, n, k2, A2, lda2, B2p, C, ldc, 1);                                \
}
SIGCY_DEFINE_GEMM2(float, f)
SIGCY_DEFINE_GEMM2(double, d)

/* C[m, n] (+)= A^T B, A (k, m) and B (k, n) row-major (the weight gradients: sums over all
 * rows); work: sigcy_gemm_tn_work_* values, 64-byte aligned.  Same order of operations on
 * every element as sigcy_gemm_*. */
static ptrdiff_t sigcy_gemm_tn_work_f(ptrdiff_t m, ptrdiff_t n)
{
    return SIGCY_KC * ((n + SIGCY_NR_F - 1) / SIGCY_NR_F * SIGCY_NR_F
                       + (m + SIGCY_MR - 1) / SIGCY_MR * SIGCY_MR);
}
static ptrdiff_t sigcy_gemm_tn_work_d(ptrdiff_t m, ptrdiff_t n)
{
    return SIGCY_KC * ((n + SIGCY_NR_D - 1) / SIGCY_NR_D * SIGCY_NR_D
                       + (m + SIGCY_MR - 1) / SIGCY_MR * SIGCY_MR);
}
static inline void sigcy_gemm_tn_f(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *A,
                                   ptrdiff_t lda, const float *B, ptrdiff_t ldb, float *C,
                                   ptrdiff_t ldc, int accumulate, float *work)
{
    if (m > 0 && n > 0)
        sigcy_gemm_tn_f_ptr(m, n, k, A, lda, B, ldb, C, ldc, accumulate, work);
}
static inline void sigcy_gemm_tn_d(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const double *A,
                                   ptrdiff_t lda, const double *B, ptrdiff_t ldb, double *C,
                                   ptrdiff_t ldc, int accumulate, double *work)
{
    if (m > 0 && n > 0)
        sigcy_gemm_tn_d_ptr(m, n, k, A, lda, B, ldb, C, ldc, accumulate, work);
}

#endif /* SIGCY_GEMM_H */
