/*
 * sigcy_rnn.h -- elementwise row loops of the Elman RNN (sigcy/_rnn.pyx), float64 and float32.
 *
 * Design
 * ------
 * The backward pass ends each time step with one of these loops over the rows of a block of
 * samples (gradient times activation derivative); the weight gradients use the column sums.  They
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
 * Backward step over the rows of a block of samples, one call per time step:
 *     da[i][j] = (g[i][j] + dh[i][j]) * act'(h[i][j])     for an active row (t < lengths[i]),
 *     g[i][j] += dh[i][j], da[i][j] = 0                     for a carried one,
 * act' from the stored output h: sigmoid h (1 - h), tanh 1 - h^2, relu 1 where h > 0 (a NaN
 * state gives NaN), in the rows' own precision.  da, dh and h rows are rs apart, g rows n
 * apart; lengths is NULL when every row is active; dh NULL stands for zeros, not read
 * (the same values, but for the sign of a zero: -0 + 0 is +0).  One call per step (the
 * loops wait on memory more than on the calls: not reading the estimators' zero dH, all
 * but the last step's, takes a digits batch's loop from 35 to 22 us).  The relu derivative
 * is a select, so that it vectorizes:
 * as a branch it was mispredicted for about half the states (a digits mini-batch's relu
 * backward pass took 303 us, now 177).
 */
#define SIGCY_DEFINE_BACKWARD_ROWS(T, name, DA)                                              \
SIGCY_ROW_LOOP void name(T *restrict da, T *restrict g, const T *restrict dh,                \
                         const T *restrict h, ptrdiff_t m, ptrdiff_t n, ptrdiff_t rs,        \
                         const ptrdiff_t *lengths, ptrdiff_t t)                              \
{                                                                                            \
    for (ptrdiff_t i = 0; i < m; i++) {                                                      \
        T *restrict dar = da + i * rs;                                                       \
        T *restrict gr = g + i * n;                                                          \
        const T *restrict dhr = dh + i * rs;                                                 \
        const T *restrict hr = h + i * rs;                                                   \
        if (lengths == NULL || t < lengths[i]) {                                             \
            if (dh == NULL)                                                                  \
                for (ptrdiff_t j = 0; j < n; j++) {                                          \
                    T hj = hr[j], s = gr[j];                                                 \
                    dar[j] = (DA);                                                           \
                }                                                                            \
            else                                                                             \
                for (ptrdiff_t j = 0; j < n; j++) {                                          \
                    T hj = hr[j], s = gr[j] + dhr[j];                                        \
                    dar[j] = (DA);                                                           \
                }                                                                            \
        } else {                                                                             \
            if (dh != NULL)                                                                  \
                for (ptrdiff_t j = 0; j < n; j++)                                            \
                    gr[j] = gr[j] + dhr[j];                                                  \
            for (ptrdiff_t j = 0; j < n; j++)                                                \
                dar[j] = 0;                                                                  \
        }                                                                                    \
    }                                                                                        \
}
SIGCY_DEFINE_BACKWARD_ROWS(double, sigcy_rnn_dsigmoid_rows_d, s * (hj * (1.0 - hj)))
SIGCY_DEFINE_BACKWARD_ROWS(float, sigcy_rnn_dsigmoid_rows_f, s * (hj * (1.0f - hj)))
SIGCY_DEFINE_BACKWARD_ROWS(double, sigcy_rnn_dtanh_rows_d, s * (1.0 - hj * hj))
SIGCY_DEFINE_BACKWARD_ROWS(float, sigcy_rnn_dtanh_rows_f, s * (1.0f - hj * hj))
/* branch-free (a select), so that it vectorizes: relu states are 0 about half the time */
SIGCY_DEFINE_BACKWARD_ROWS(double, sigcy_rnn_drelu_rows_d,
                           hj > 0.0 ? s : (hj != hj ? hj : 0.0))
SIGCY_DEFINE_BACKWARD_ROWS(float, sigcy_rnn_drelu_rows_f,
                           hj > 0.0f ? s : (hj != hj ? hj : 0.0f))

/* out[j] = sum over r of a[r * n + j], the rows in order (each column summed sequentially);
 * 64 columns at a time in a local accumulator that stays in registers. */
#define SIGCY_COLUMN_SUM_BLOCK 64
#define SIGCY_DEFINE_COLUMN_SUM(T, name)                                                     \
SIGCY_ROW_LOOP void name(const T *restrict a, ptrdiff_t n_rows, ptrdiff_t n, T *restrict out) \
{                                                                                            \
    for (ptrdiff_t j0 = 0; j0 < n; j0 += SIGCY_COLUMN_SUM_BLOCK) {                           \
        ptrdiff_t w = n - j0 < SIGCY_COLUMN_SUM_BLOCK ? n - j0 : SIGCY_COLUMN_SUM_BLOCK;     \
        if (w == SIGCY_COLUMN_SUM_BLOCK) {                                                   \
            T acc[SIGCY_COLUMN_SUM_BLOCK] = {0};                                             \
            for (ptrdiff_t r = 0; r < n_rows; r++)                                           \
                for (ptrdiff_t j = 0; j < SIGCY_COLUMN_SUM_BLOCK; j++)                       \
                    acc[j] = acc[j] + a[r * n + j0 + j];                                     \
            for (ptrdiff_t j = 0; j < SIGCY_COLUMN_SUM_BLOCK; j++)                           \
                out[j0 + j] = acc[j];                                                        \
        } else {                                                                             \
            T acc[SIGCY_COLUMN_SUM_BLOCK] = {0};                                             \
            for (ptrdiff_t r = 0; r < n_rows; r++)                                           \
                for (ptrdiff_t j = 0; j < w; j++)                                            \
                    acc[j] = acc[j] + a[r * n + j0 + j];                                     \
            for (ptrdiff_t j = 0; j < w; j++)                                                \
                out[j0 + j] = acc[j];                                                        \
        }                                                                                    \
    }                                                                                        \
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
