/*
 * Array loops over the scalar kernels of sigcy_kernels.h, or in the avx512 build over the
 * vector kernels of sigcy_kernels_avx512.h.
 *
 * This file is compiled once per instruction set, with SIGCY_ISA set to a suffix for the
 * function names: baseline (x86-64 SSE2, or the host's default), and on x86-64 also avx2
 * (-march=x86-64-v3: AVX2 and FMA) and avx512 (-march=x86-64-v4).  sigcy_dispatch.c picks one
 * at run time.  The build uses -ffp-contract=off: FMA appears only where the kernels ask for
 * it (SIGCY_MULADD or an FMA intrinsic), so each build computes what its source says.
 *
 * Contiguous blocks are computed in place in the caller's arrays; strided ones are gathered
 * into a buffer on the stack, computed, and scattered back.
 */
#include "sigcy_kernels.h"

/* the avx512 build (-march=x86-64-v4): intrinsic kernels, see sigcy_kernels_avx512.h */
#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512VL__)
#include "sigcy_kernels_avx512.h"
#define SIGCY_AVX512 1
#else
#define SIGCY_AVX512 0
#endif

#ifndef SIGCY_ISA
#define SIGCY_ISA baseline
#endif
#define SIGCY_CAT2(a, b) a##_##b
#define SIGCY_CAT(a, b) SIGCY_CAT2(a, b)
#define SIGCY_NAME(name) SIGCY_CAT(name, SIGCY_ISA)

#define SIGCY_BLOCK 256

#if defined(__GNUC__) && !defined(__clang__)
#define SIGCY_IVDEP _Pragma("GCC ivdep")
#elif defined(__clang__)
#define SIGCY_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#else
#define SIGCY_IVDEP
#endif

/*
 * One block of float64: exp(-|x|) as a pass of its own, then the kernel's finishing step.
 * `x` and `y` may be the same array (each y[i] is written after x[i] is read, hence ivdep).
 * The exp pass multiplies by a single power of two, which is exact unless |x| > 700; blocks
 * holding such values take the two-factor path, which rounds subnormal results only once and
 * equals the one-factor path bit for bit everywhere else.  The check is an OR of comparisons,
 * which vectorizes; a running maximum did not (NaN semantics) and cost as much as the kernel.
 */
#define SIGCY_BLOCK_D(FINISH, x, y, m)                                                       \
    do {                                                                                     \
        double e_hi[SIGCY_BLOCK], e_lo[SIGCY_BLOCK];                                         \
        ptrdiff_t i;                                                                         \
        int big = 0;                                                                         \
        for (i = 0; i < m; i++) big |= fabs(x[i]) > 700.0;                                   \
        if (!big) {                                                                          \
            for (i = 0; i < m; i++) sigcy_exp_small_dd(-fabs(x[i]), &e_hi[i], &e_lo[i]);     \
        } else {                                                                             \
            for (i = 0; i < m; i++) sigcy_exp_nonpos_dd(-fabs(x[i]), &e_hi[i], &e_lo[i]);    \
        }                                                                                    \
        SIGCY_IVDEP                                                                          \
        for (i = 0; i < m; i++) y[i] = FINISH(x[i], e_hi[i], e_lo[i]);                       \
    } while (0)

#define SIGCY_BLOCK_F(KERNEL, x, y, m)                                                       \
    do {                                                                                     \
        ptrdiff_t i;                                                                         \
        SIGCY_IVDEP                                                                          \
        for (i = 0; i < m; i++) y[i] = KERNEL(x[i]);                                         \
    } while (0)

/*
 * Software prefetch of contiguous input, AHEAD bytes beyond the block about to be computed.
 * The kernels are long enough that the hardware prefetchers fall behind on arrays larger than
 * the cache (figures and distances: docs/dev/tuning.rst).  A prefetch never faults, so
 * running past the end of the array is harmless.
 */
#if defined(__GNUC__) || defined(__clang__)
#define SIGCY_PREFETCH_BLOCK(p, nbytes, AHEAD)                                               \
    do {                                                                                     \
        const char *pf_ = (const char *)(p) + (AHEAD);                                       \
        ptrdiff_t l_;                                                                        \
        for (l_ = 0; l_ < (ptrdiff_t)(nbytes); l_ += 64) __builtin_prefetch(pf_ + l_, 0, 3); \
    } while (0)
#else
#define SIGCY_PREFETCH_BLOCK(p, nbytes, AHEAD) ((void)0)
#endif

/* The loop over blocks: contiguous data directly, strided data through a buffer. */
#define SIGCY_DEFINE_LOOP(NAME, T, BLOCK, K, AHEAD)                                               \
void SIGCY_NAME(NAME)(const char *x, ptrdiff_t iss, char *y, ptrdiff_t oss, ptrdiff_t n)   \
{                                                                                            \
    T buf[SIGCY_BLOCK];                                                                      \
    while (n > 0) {                                                                          \
        ptrdiff_t m = n < SIGCY_BLOCK ? n : SIGCY_BLOCK, i;                                  \
        if (iss == (ptrdiff_t)sizeof(T) && oss == (ptrdiff_t)sizeof(T)) {                    \
            const T *xs = (const T *)x;                                                      \
            T *ys = (T *)y;                                                                  \
            SIGCY_PREFETCH_BLOCK(x, m * sizeof(T), AHEAD);                                       \
            BLOCK(K, xs, ys, m);                                                             \
        } else {                                                                             \
            for (i = 0; i < m; i++) memcpy(&buf[i], x + i * iss, sizeof(T));                 \
            BLOCK(K, buf, buf, m);                                                           \
            for (i = 0; i < m; i++) memcpy(y + i * oss, &buf[i], sizeof(T));                 \
        }                                                                                    \
        x += m * iss;                                                                        \
        y += m * oss;                                                                        \
        n -= m;                                                                              \
    }                                                                                        \
}

/*
 * The avx512 build uses the intrinsic kernels of sigcy_kernels_avx512.h (one pass per block);
 * the other builds the C kernels.  Prefetch distance 2048 bytes for the one-pass loops, the
 * current block for the two-pass ones.
 */
#if SIGCY_AVX512
#define SIGCY_LOOP_D(NAME, AVX512_KERNEL, FINISH) \
    SIGCY_DEFINE_LOOP(NAME, double, SIGCY_AVX512_BLOCK_D, AVX512_KERNEL, 2048)
#define SIGCY_LOOP_F(NAME, AVX512_KERNEL, KERNEL) \
    SIGCY_DEFINE_LOOP(NAME, float, SIGCY_AVX512_BLOCK_F16, AVX512_KERNEL, 2048)
#else
#define SIGCY_LOOP_D(NAME, AVX512_KERNEL, FINISH) \
    SIGCY_DEFINE_LOOP(NAME, double, SIGCY_BLOCK_D, FINISH, 0)
#define SIGCY_LOOP_F(NAME, AVX512_KERNEL, KERNEL) \
    SIGCY_DEFINE_LOOP(NAME, float, SIGCY_BLOCK_F, KERNEL, 2048)
#endif

SIGCY_LOOP_D(sigcy_sigmoid_d_strided, sigcy_avx512_sigmoid_d8, sigcy_sigmoid_finish_d)
SIGCY_LOOP_F(sigcy_sigmoid_f_strided, sigcy_avx512_sigmoid_f16, sigcy_sigmoid_f)
SIGCY_LOOP_D(sigcy_sigmoid_derivative_d_strided, sigcy_avx512_sigmoid_derivative_d8,
             sigcy_sigmoid_derivative_finish_d)
SIGCY_LOOP_F(sigcy_sigmoid_derivative_f_strided, sigcy_avx512_sigmoid_derivative_f16,
             sigcy_sigmoid_derivative_f)
SIGCY_LOOP_D(sigcy_log_sigmoid_d_strided, sigcy_avx512_log_sigmoid_d8, sigcy_log_sigmoid_finish_d)
SIGCY_LOOP_F(sigcy_log_sigmoid_f_strided, sigcy_avx512_log_sigmoid_f16, sigcy_log_sigmoid_f)

/* tanh: the avx512 build's intrinsic kernels, the other builds' C kernels (one pass). */
#if SIGCY_AVX512
SIGCY_DEFINE_LOOP(sigcy_tanh_d_strided, double, SIGCY_AVX512_BLOCK_D, sigcy_avx512_tanh_d8, 2048)
SIGCY_DEFINE_LOOP(sigcy_tanh_f_strided, float, SIGCY_AVX512_BLOCK_F16, sigcy_avx512_tanh_f16, 2048)
#else
SIGCY_DEFINE_LOOP(sigcy_tanh_d_strided, double, SIGCY_BLOCK_F, sigcy_tanh_d, 0)
SIGCY_DEFINE_LOOP(sigcy_tanh_f_strided, float, SIGCY_BLOCK_F, sigcy_tanh_f, 2048)
#endif

/*
 * The forward step of the recurrence, in place on m rows of H (rs elements apart):
 * c[i*rs + j] = act(c[i*rs + j] + b[j]), act tanh or sigmoid.  One call per time step and
 * block of samples: no per-row call through the dispatch, no copy to a contiguous buffer.
 * Each element goes through the same instructions whatever its row and column (the avx512
 * tail of a row is masked; the other builds' sigmoid runs the array loop on each row), so the
 * bits do not depend on how the rows are split between calls or threads, and sigmoid gives
 * the bits of sigcy_sigmoid_*_strided.
 */
#if SIGCY_AVX512
#define SIGCY_DEFINE_BIAS_ROWS(NAME, T, W, KERNEL, VEC, LOADU, STOREU, ADD, MASK_T,          \
                               MASKZ_LOADU, MASK_STOREU)                                     \
void SIGCY_NAME(NAME)(T *restrict c, ptrdiff_t rs, const T *restrict b, ptrdiff_t m,         \
                      ptrdiff_t n)                                                           \
{                                                                                            \
    ptrdiff_t i, j;                                                                          \
    MASK_T tail = (MASK_T)((1u << (n % W)) - 1u);                                            \
    for (i = 0; i < m; i++) {                                                                \
        T *row = c + i * rs;                                                                 \
        for (j = 0; j + W <= n; j += W)                                                      \
            STOREU(row + j, KERNEL(ADD(LOADU(row + j), LOADU(b + j))));                      \
        if (j < n) {                                                                         \
            VEC v = ADD(MASKZ_LOADU(tail, row + j), MASKZ_LOADU(tail, b + j));               \
            MASK_STOREU(row + j, tail, KERNEL(v));                                           \
        }                                                                                    \
    }                                                                                        \
}
SIGCY_DEFINE_BIAS_ROWS(sigcy_bias_tanh_rows_d, double, 8, sigcy_avx512_tanh_d8, __m512d,
                       _mm512_loadu_pd, _mm512_storeu_pd, _mm512_add_pd, __mmask8,
                       _mm512_maskz_loadu_pd, _mm512_mask_storeu_pd)
SIGCY_DEFINE_BIAS_ROWS(sigcy_bias_tanh_rows_f, float, 16, sigcy_avx512_tanh_f16, __m512,
                       _mm512_loadu_ps, _mm512_storeu_ps, _mm512_add_ps, __mmask16,
                       _mm512_maskz_loadu_ps, _mm512_mask_storeu_ps)
SIGCY_DEFINE_BIAS_ROWS(sigcy_bias_sigmoid_rows_d, double, 8, sigcy_avx512_sigmoid_d8, __m512d,
                       _mm512_loadu_pd, _mm512_storeu_pd, _mm512_add_pd, __mmask8,
                       _mm512_maskz_loadu_pd, _mm512_mask_storeu_pd)
SIGCY_DEFINE_BIAS_ROWS(sigcy_bias_sigmoid_rows_f, float, 16, sigcy_avx512_sigmoid_f16, __m512,
                       _mm512_loadu_ps, _mm512_storeu_ps, _mm512_add_ps, __mmask16,
                       _mm512_maskz_loadu_ps, _mm512_mask_storeu_ps)
#else
#define SIGCY_DEFINE_BIAS_ROWS(NAME, T, KERNEL)                                               \
void SIGCY_NAME(NAME)(T *restrict c, ptrdiff_t rs, const T *restrict b, ptrdiff_t m,         \
                      ptrdiff_t n)                                                           \
{                                                                                            \
    ptrdiff_t i, j;                                                                          \
    for (i = 0; i < m; i++) {                                                                \
        T *row = c + i * rs;                                                                 \
        SIGCY_IVDEP                                                                          \
        for (j = 0; j < n; j++) row[j] = KERNEL(row[j] + b[j]);                              \
    }                                                                                        \
}
SIGCY_DEFINE_BIAS_ROWS(sigcy_bias_tanh_rows_d, double, sigcy_tanh_d)
SIGCY_DEFINE_BIAS_ROWS(sigcy_bias_tanh_rows_f, float, sigcy_tanh_f)
/* sigmoid: the bias, then the array loop (two passes per block for float64) on the row */
#define SIGCY_DEFINE_BIAS_ROWS_LOOP(NAME, T, LOOP)                                            \
void SIGCY_NAME(NAME)(T *restrict c, ptrdiff_t rs, const T *restrict b, ptrdiff_t m,         \
                      ptrdiff_t n)                                                           \
{                                                                                            \
    ptrdiff_t i, j;                                                                          \
    for (i = 0; i < m; i++) {                                                                \
        T *row = c + i * rs;                                                                 \
        for (j = 0; j < n; j++) row[j] = row[j] + b[j];                                      \
        LOOP((const char *)row, (ptrdiff_t)sizeof(T), (char *)row, (ptrdiff_t)sizeof(T), n); \
    }                                                                                        \
}
SIGCY_DEFINE_BIAS_ROWS_LOOP(sigcy_bias_sigmoid_rows_d, double, SIGCY_NAME(sigcy_sigmoid_d_strided))
SIGCY_DEFINE_BIAS_ROWS_LOOP(sigcy_bias_sigmoid_rows_f, float, SIGCY_NAME(sigcy_sigmoid_f_strided))
#endif
