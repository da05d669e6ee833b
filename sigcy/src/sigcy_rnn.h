/*
 * sigcy_rnn.h -- elementwise row loops of the Elman RNN (sigcy/_rnn.pyx), float64 and float32.
 *
 * Design
 * ------
 * The backward pass ends each time step with one of these loops over a row of n_hidden values
 * (gradient times activation derivative); the weight gradients use the column sums.  They
 * are plain C so that gcc vectorizes them; on x86-64 Linux with gcc they are compiled three
 * times, for baseline x86-64, x86-64-v3 (AVX2) and x86-64-v4 (AVX-512), and the loader picks
 * one at run time (target_clones).  No clone uses FMA (the package builds with
 * -ffp-contract=off), so all give the same bits.  The forward pass's activations are sigcy's
 * dispatched array loops instead (sigcy_kernels.c: sigcy_sigmoid_*_strided and
 * sigcy_bias_tanh_rows_*, the tanh kernels in sigcy_kernels.h and sigcy_kernels_avx512.h).
 */
#ifndef SIGCY_RNN_H
#define SIGCY_RNN_H

#include "sigcy_kernels.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(SIGCY_NO_TARGET_CLONES)
#define SIGCY_ROW_LOOP \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) static
#else
#define SIGCY_ROW_LOOP static
#endif

/*
 * Backward row loops: da[j] = (g[j] + dh[j]) * act'(h[j]), act' from the stored output h:
 * sigmoid h (1 - h), tanh 1 - h^2, in the row's own precision.
 */
#define SIGCY_DEFINE_BACKWARD_ROW(T, name, DERIV)                                          \
SIGCY_ROW_LOOP void name(T *restrict da, const T *restrict g, const T *restrict dh,          \
                         const T *restrict h, ptrdiff_t n)                                   \
{                                                                                            \
    for (ptrdiff_t j = 0; j < n; j++) {                                                      \
        T hj = h[j];                                                                         \
        da[j] = (g[j] + dh[j]) * (DERIV);                                                    \
    }                                                                                        \
}
SIGCY_DEFINE_BACKWARD_ROW(double, sigcy_rnn_dsigmoid_d, hj * (1.0 - hj))
SIGCY_DEFINE_BACKWARD_ROW(float, sigcy_rnn_dsigmoid_f, hj * (1.0f - hj))
SIGCY_DEFINE_BACKWARD_ROW(double, sigcy_rnn_dtanh_d, 1.0 - hj * hj)
SIGCY_DEFINE_BACKWARD_ROW(float, sigcy_rnn_dtanh_f, 1.0f - hj * hj)

/* out[j] = sum over r of a[r * n + j], the rows in order (each column summed sequentially). */
#define SIGCY_DEFINE_COLUMN_SUM(T, name)                                                     \
SIGCY_ROW_LOOP void name(const T *restrict a, ptrdiff_t n_rows, ptrdiff_t n, T *restrict out) \
{                                                                                            \
    for (ptrdiff_t j = 0; j < n; j++)                                                        \
        out[j] = 0;                                                                          \
    for (ptrdiff_t r = 0; r < n_rows; r++)                                                   \
        for (ptrdiff_t j = 0; j < n; j++)                                                    \
            out[j] = out[j] + a[r * n + j];                                                  \
}
SIGCY_DEFINE_COLUMN_SUM(double, sigcy_rnn_column_sum_d)
SIGCY_DEFINE_COLUMN_SUM(float, sigcy_rnn_column_sum_f)

/*
 * Flush-to-zero and denormals-are-zero for the calling thread (x86 MXCSR), on request:
 * sigcy_ftz_begin returns the previous state, sigcy_ftz_end restores it.  Vanishing gradients
 * (sigmoid' <= 1/4 a step) reach the subnormal range, where each operation costs a microcode
 * assist.  Elsewhere (no SSE) both are no-ops.
 */
#if defined(__SSE2__) || defined(_M_X64)
#include <xmmintrin.h>
SIGCY_INLINE unsigned int sigcy_ftz_begin(int enable)
{
    unsigned int old = _mm_getcsr();
    if (enable)
        _mm_setcsr(old | 0x8040u);       /* FTZ (bit 15) | DAZ (bit 6) */
    return old;
}
SIGCY_INLINE void sigcy_ftz_end(unsigned int old, int enable)
{
    if (enable)
        _mm_setcsr(old);
}
#else
SIGCY_INLINE unsigned int sigcy_ftz_begin(int enable) { (void)enable; return 0; }
SIGCY_INLINE void sigcy_ftz_end(unsigned int old, int enable) { (void)old; (void)enable; }
#endif

#endif /* SIGCY_RNN_H */
