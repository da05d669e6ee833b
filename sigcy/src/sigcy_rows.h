/*
 * sigcy_rows.h -- the elementwise row loops of the recurrences and of the training step.
 *
 * Backward rows (gradient times the activation's derivative, one call per time step), column
 * sums (bias gradients), the softmax's exponentials and the optimizers' steps: plain C that
 * the compiler vectorizes.  sigcy_rows.c compiles each for baseline x86-64, x86-64-v3 and
 * x86-64-v4 through function target attributes (GCC on x86-64; the baseline elsewhere), which
 * change the instructions but not the preprocessor (SIGCY_MULADD stays a product and a sum),
 * and the package builds with -ffp-contract=off: every variant gives the same bits.
 * sigcy_rows_set_level installs the variant of the process's level (sigcy_isa.h).
 */
#ifndef SIGCY_ROWS_H
#define SIGCY_ROWS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

const char *sigcy_rows_set_level(int level);

/*
 * Backward step over the rows of a block of samples:
 *     da[i][j] = (g[i][j] + dh[i][j]) * act'(h[i][j])     for an active row (t < lengths[i]),
 *     g[i][j] += dh[i][j], da[i][j] = 0                     for a carried one,
 * act' from the stored output h: sigmoid h (1 - h), tanh 1 - h^2, relu 1 where h > 0 (a NaN
 * state gives NaN).  da, dh and h rows are rs apart, g rows n apart; lengths NULL: every row
 * active; dh NULL stands for zeros, not read.
 */
#define SIGCY_DECLARE_BACKWARD_ROWS(T, name)                                                 \
    void name(T *da, T *g, const T *dh, const T *h, ptrdiff_t m, ptrdiff_t n, ptrdiff_t rs,  \
              const ptrdiff_t *lengths, ptrdiff_t t);
SIGCY_DECLARE_BACKWARD_ROWS(double, sigcy_dsigmoid_rows_d)
SIGCY_DECLARE_BACKWARD_ROWS(float, sigcy_dsigmoid_rows_f)
SIGCY_DECLARE_BACKWARD_ROWS(double, sigcy_dtanh_rows_d)
SIGCY_DECLARE_BACKWARD_ROWS(float, sigcy_dtanh_rows_f)
SIGCY_DECLARE_BACKWARD_ROWS(double, sigcy_drelu_rows_d)
SIGCY_DECLARE_BACKWARD_ROWS(float, sigcy_drelu_rows_f)

/* out[j] = sum over r of a[r * n + j], the rows in order. */
void sigcy_column_sum_d(const double *a, ptrdiff_t n_rows, ptrdiff_t n, double *out);
void sigcy_column_sum_f(const float *a, ptrdiff_t n_rows, ptrdiff_t n, float *out);

/* x[k] = exp(x[k]) for x[k] <= 0 (the softmax's shifted logits), in place. */
void sigcy_exp_nonpos_array_d(double *x, ptrdiff_t n);
void sigcy_exp_nonpos_array_f(float *x, ptrdiff_t n);

/* The optimizers' steps (sigcy_rows.c); return whether theta was updated. */
int sigcy_adam_update_d(double *theta, const double *grad, double scale, double *m, double *v,
                        double beta_1, double omb1, double beta_2, double omb2, double lr,
                        double eps, double *work, ptrdiff_t n);
int sigcy_adam_update_f(float *theta, const float *grad, float scale, float *m, float *v,
                        float beta_1, float omb1, float beta_2, float omb2, double lr,
                        float eps, float *work, ptrdiff_t n);
int sigcy_sgd_update_d(double *theta, const double *grad, double scale, double *velocity,
                       double momentum, double lr, int nesterov, double *work, ptrdiff_t n);
int sigcy_sgd_update_f(float *theta, const float *grad, float scale, float *velocity,
                       float momentum, float lr, int nesterov, float *work, ptrdiff_t n);

/*
 * Flush-to-zero and denormals-are-zero for the calling thread (x86 MXCSR), on request:
 * sigcy_ftz_begin returns the previous state, sigcy_ftz_end restores it.  Vanishing gradients
 * reach the subnormal range, where each operation costs a microcode assist.  Elsewhere (no
 * SSE) both are no-ops.
 */
#if defined(__SSE2__) || defined(_M_X64)
#include <xmmintrin.h>
static inline unsigned int sigcy_ftz_begin(int enable)
{
    unsigned int old = _mm_getcsr();
    if (enable)
        _mm_setcsr(old | 0x8040u);       /* FTZ (bit 15) | DAZ (bit 6) */
    return old;
}
static inline void sigcy_ftz_end(unsigned int old, int enable)
{
    if (enable)
        _mm_setcsr(old);
}
#else
static inline unsigned int sigcy_ftz_begin(int enable) { (void)enable; return 0; }
static inline void sigcy_ftz_end(unsigned int old, int enable) { (void)old; (void)enable; }
#endif

#ifdef __cplusplus
}
#endif

#endif /* SIGCY_ROWS_H */
