/*
 * sigcy_rnn.h -- elementwise row loops of the Elman RNN (sigcy/_rnn.pyx), float64 and float32.
 *
 * Design
 * ------
 * A time step of the recurrence ends with one of these loops over a row of n_hidden values
 * (bias + activation in the forward pass, gradient times activation derivative in the
 * backward pass).  They are plain C so that gcc vectorizes them (branch-free selects, the
 * always-inline exp of sigcy_kernels.h, no libm call); on x86-64 Linux with gcc they are
 * compiled three times, for baseline x86-64, x86-64-v3 (AVX2) and x86-64-v4 (AVX-512), and
 * the loader picks one at run time (target_clones).  No clone uses FMA (the package builds
 * with -ffp-contract=off and SIGCY_MULADD is a product and a sum outside FMA translation
 * units), so all give the same bits.  sigmoid uses sigcy's dispatched array loop instead
 * (sigcy_sigmoid_*_strided).
 *
 * tanh (float64), a = |x|:
 *     a <  2^-7:  x + x^3 P(x^2), the Taylor series to x^9 (truncation below 2^-61 relative);
 *     a >= 2^-7:  sign(x) (1 - e) / (1 + e), e = exp(-2a) as e_hi + e_lo (sigcy_exp_nonpos_dd),
 *                 1 - e and 1 + e kept as unevaluated sums and the quotient corrected with
 *                 its exact residual; the absolute error of e (~2^-60) is below 2^-54
 *                 relative to 1 - e >= 2a.
 * float32: the same in double with sigcy_exp_nonpos_f (relative error 2e-10) and the series
 * below 2^-4, rounded once.  NaN is returned unchanged.
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

#define SIGCY_TANH_C3 (-0x1.5555555555555p-2)   /* -1/3 */
#define SIGCY_TANH_C5 (0x1.1111111111111p-3)    /* 2/15 */
#define SIGCY_TANH_C7 (-0x1.ba1ba1ba1ba1cp-5)   /* -17/315 */
#define SIGCY_TANH_C9 (0x1.664f4882c10fap-6)    /* 62/2835 */

SIGCY_INLINE double sigcy_tanh_series(double x)
{
    double z = x * x;
    return x + (x * z) * (SIGCY_TANH_C3 + z * (SIGCY_TANH_C5 + z * (SIGCY_TANH_C7
                                                                    + z * SIGCY_TANH_C9)));
}

SIGCY_INLINE double sigcy_tanh_d(double x)
{
    double a = fabs(x);
    double e_hi, e_lo, d_lo, q_lo;
    sigcy_exp_nonpos_dd(-2.0 * a, &e_hi, &e_lo);
    double d = sigcy_one_plus(e_hi, e_lo, &d_lo);          /* 1 + e */
    double n_hi = 1.0 - e_hi;                               /* 1 - e = n_hi + n_lo */
    double n_lo = ((1.0 - n_hi) - e_hi) - e_lo;
    double q = sigcy_div_dd(n_hi, n_lo, d, d_lo, sigcy_recip(d), &q_lo);
    double big = q + q_lo;
    big = x < 0.0 ? -big : big;
    double r = a < 0x1p-7 ? sigcy_tanh_series(x) : big;
    return SIGCY_KEEP_NAN(x, r);
}

SIGCY_INLINE float sigcy_tanh_f(float xf)
{
    double x = (double)xf;
    double a = fabs(x);
    double e = sigcy_exp_nonpos_f(-2.0 * a);
    double big = (1.0 - e) * sigcy_recip(1.0 + e);
    big = x < 0.0 ? -big : big;
    double r = a < 0x1p-4 ? sigcy_tanh_series(x) : big;
    return SIGCY_KEEP_NAN(xf, (float)r);
}

/* row[j] = tanh(row[j] + b[j]), j < n */
SIGCY_ROW_LOOP void sigcy_rnn_bias_tanh_d(double *restrict row, const double *restrict b,
                                          ptrdiff_t n)
{
    for (ptrdiff_t j = 0; j < n; j++)
        row[j] = sigcy_tanh_d(row[j] + b[j]);
}

SIGCY_ROW_LOOP void sigcy_rnn_bias_tanh_f(float *restrict row, const float *restrict b,
                                          ptrdiff_t n)
{
    for (ptrdiff_t j = 0; j < n; j++)
        row[j] = sigcy_tanh_f(row[j] + b[j]);
}

/*
 * Backward step over the rows of a block of samples, one call per time step:
 *     da[i][j] = (g[i][j] + dh[i][j]) * act'(h[i][j])     for an active row (t < lengths[i]),
 *     g[i][j] += dh[i][j], da[i][j] = 0                     for a carried one,
 * act' from the stored output h: sigmoid h (1 - h), tanh 1 - h^2, relu 1 where h > 0 (a NaN
 * state gives NaN), in the rows' own precision.  da, dh and h rows are rs apart, g rows n
 * apart; lengths is NULL when every row is active.  One call per step instead of one per
 * sample row: with 32 hidden units a row is 4 AVX-512 vectors, and the calls through the
 * target_clones resolver cost more than the arithmetic (float64, digits mini-batches: ~3x).
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
            for (ptrdiff_t j = 0; j < n; j++) {                                              \
                T hj = hr[j], s = gr[j] + dhr[j];                                            \
                dar[j] = (DA);                                                               \
            }                                                                                \
        } else {                                                                             \
            for (ptrdiff_t j = 0; j < n; j++) {                                              \
                gr[j] = gr[j] + dhr[j];                                                      \
                dar[j] = 0;                                                                  \
            }                                                                                \
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
