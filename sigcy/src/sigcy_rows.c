/*
 * The row loops of sigcy_rows.h, each compiled three times (baseline, x86-64-v3, x86-64-v4)
 * through target attributes, and the table that sigcy_rows_set_level fills.
 */
#include <math.h>
#include <string.h>
#include "sigcy_isa.h"
#include "sigcy_kernels.h"
#include "sigcy_rows.h"

/* The relu derivative is a select, so that it vectorizes (relu states are 0 about half the
 * time: as a branch it was mispredicted).  dh == NULL: zeros, not read (the same values but
 * for the sign of a zero: -0 + 0 is +0). */
#define SIGCY_DEFINE_BACKWARD_ROWS(ATTR, T, name, DA)                                        \
ATTR static void name(T *restrict da, T *restrict g, const T *restrict dh,                   \
                      const T *restrict h, ptrdiff_t m, ptrdiff_t n, ptrdiff_t rs,           \
                      const ptrdiff_t *lengths, ptrdiff_t t)                                 \
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

/* 64 columns at a time in a local accumulator that stays in registers; each column summed
 * over the rows in order. */
#define SIGCY_COLUMN_SUM_BLOCK 64
#define SIGCY_DEFINE_COLUMN_SUM(ATTR, T, name)                                               \
ATTR static void name(const T *restrict a, ptrdiff_t n_rows, ptrdiff_t n, T *restrict out)   \
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

/* sigcy's double-double exp of each value, rounded once (float32 through
 * sigcy_exp_nonpos_f, relative error 2e-10). */
#define SIGCY_DEFINE_EXP_ARRAYS(ATTR, SUF)                                                   \
ATTR static void sigcy_exp_nonpos_array_d##SUF(double *restrict x, ptrdiff_t n)             \
{                                                                                            \
    for (ptrdiff_t k = 0; k < n; k++) {                                                      \
        double hi, lo;                                                                       \
        sigcy_exp_nonpos_dd(x[k], &hi, &lo);                                                 \
        x[k] = hi + lo;                                                                      \
    }                                                                                        \
}                                                                                            \
ATTR static void sigcy_exp_nonpos_array_f##SUF(float *restrict x, ptrdiff_t n)              \
{                                                                                            \
    for (ptrdiff_t k = 0; k < n; k++)                                                        \
        x[k] = (float)sigcy_exp_nonpos_f((double)x[k]);                                      \
}

/*
 * The optimizers' steps, in scikit-learn's order of operations
 * (sklearn/neural_network/_stochastic_optimizers.py), so the same bits.  With g = grad *
 * scale, each writes the new parameters to work and copies them over theta only if all are
 * finite (a step happens completely or not at all); the moments / velocity are updated
 * either way, as scikit-learn's would be.
 *
 * Adam: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; theta += (m * -lr) / (sqrt(v) + eps),
 * the last in double also for float32 (scikit-learn's bias-corrected lr is a numpy float64,
 * which promotes the step), rounded once; omb1, omb2: 1 - b1, 1 - b2 rounded from double.
 */
#define SIGCY_DEFINE_ADAM(ATTR, T, name, SQRT)                                               \
ATTR static int name(T *restrict theta, const T *restrict grad, T scale, T *restrict m,      \
                     T *restrict v, T beta_1, T omb1, T beta_2, T omb2, double lr, T eps,    \
                     T *restrict work, ptrdiff_t n)                                          \
{                                                                                            \
    int finite = 1;                                                                          \
    double neg_lr = -lr;                                                                     \
    for (ptrdiff_t j = 0; j < n; j++) {                                                      \
        T g = grad[j] * scale;                                                               \
        m[j] = m[j] * beta_1 + g * omb1;                                                     \
        v[j] = v[j] * beta_2 + (g * g) * omb2;                                               \
        work[j] = (T)((double)theta[j] + (neg_lr * m[j]) / (double)(SQRT(v[j]) + eps));      \
        finite &= isfinite(work[j]) != 0;                                                    \
    }                                                                                        \
    if (finite)                                                                              \
        memcpy(theta, work, (size_t)n * sizeof(T));                                          \
    return finite;                                                                           \
}

/* SGD with momentum: velocity = mom velocity - lr g; theta += mom velocity - lr g (Nesterov)
 * or velocity. */
#define SIGCY_DEFINE_SGD(ATTR, T, name)                                                      \
ATTR static int name(T *restrict theta, const T *restrict grad, T scale,                     \
                     T *restrict velocity, T momentum, T lr, int nesterov,                   \
                     T *restrict work, ptrdiff_t n)                                          \
{                                                                                            \
    int finite = 1;                                                                          \
    for (ptrdiff_t j = 0; j < n; j++) {                                                      \
        T g = grad[j] * scale;                                                               \
        velocity[j] = momentum * velocity[j] - lr * g;                                       \
        work[j] = theta[j] + (nesterov ? momentum * velocity[j] - lr * g : velocity[j]);     \
        finite &= isfinite(work[j]) != 0;                                                    \
    }                                                                                        \
    if (finite)                                                                              \
        memcpy(theta, work, (size_t)n * sizeof(T));                                          \
    return finite;                                                                           \
}

/* Every loop of this file for one variant: name suffix SUF, function attribute ATTR. */
#define SIGCY_DEFINE_VARIANT(SUF, ATTR)                                                      \
SIGCY_DEFINE_BACKWARD_ROWS(ATTR, double, sigcy_dsigmoid_rows_d##SUF, s * (hj * (1.0 - hj)))  \
SIGCY_DEFINE_BACKWARD_ROWS(ATTR, float, sigcy_dsigmoid_rows_f##SUF, s * (hj * (1.0f - hj)))  \
SIGCY_DEFINE_BACKWARD_ROWS(ATTR, double, sigcy_dtanh_rows_d##SUF, s * (1.0 - hj * hj))       \
SIGCY_DEFINE_BACKWARD_ROWS(ATTR, float, sigcy_dtanh_rows_f##SUF, s * (1.0f - hj * hj))       \
SIGCY_DEFINE_BACKWARD_ROWS(ATTR, double, sigcy_drelu_rows_d##SUF,                            \
                           hj > 0.0 ? s : (hj != hj ? hj : 0.0))                             \
SIGCY_DEFINE_BACKWARD_ROWS(ATTR, float, sigcy_drelu_rows_f##SUF,                             \
                           hj > 0.0f ? s : (hj != hj ? hj : 0.0f))                           \
SIGCY_DEFINE_COLUMN_SUM(ATTR, double, sigcy_column_sum_d##SUF)                               \
SIGCY_DEFINE_COLUMN_SUM(ATTR, float, sigcy_column_sum_f##SUF)                                \
SIGCY_DEFINE_EXP_ARRAYS(ATTR, SUF)                                                           \
SIGCY_DEFINE_ADAM(ATTR, double, sigcy_adam_update_d##SUF, sqrt)                              \
SIGCY_DEFINE_ADAM(ATTR, float, sigcy_adam_update_f##SUF, sqrtf)                              \
SIGCY_DEFINE_SGD(ATTR, double, sigcy_sgd_update_d##SUF)                                      \
SIGCY_DEFINE_SGD(ATTR, float, sigcy_sgd_update_f##SUF)

/* The loops (name, return type, parameters, arguments) that the table dispatches. */
#define SIGCY_BACKWARD_ROWS_SIG(T)                                                           \
    (T *da, T *g, const T *dh, const T *h, ptrdiff_t m, ptrdiff_t n, ptrdiff_t rs,           \
     const ptrdiff_t *lengths, ptrdiff_t t), (da, g, dh, h, m, n, rs, lengths, t)
#define SIGCY_COLUMN_SUM_SIG(T)                                                              \
    (const T *a, ptrdiff_t n_rows, ptrdiff_t n, T *out), (a, n_rows, n, out)
#define SIGCY_EXP_ARRAY_SIG(T) (T *x, ptrdiff_t n), (x, n)
#define SIGCY_ADAM_SIG(T)                                                                    \
    (T *theta, const T *grad, T scale, T *m, T *v, T beta_1, T omb1, T beta_2, T omb2,       \
     double lr, T eps, T *work, ptrdiff_t n),                                                \
    (theta, grad, scale, m, v, beta_1, omb1, beta_2, omb2, lr, eps, work, n)
#define SIGCY_SGD_SIG(T)                                                                     \
    (T *theta, const T *grad, T scale, T *velocity, T momentum, T lr, int nesterov, T *work, \
     ptrdiff_t n), (theta, grad, scale, velocity, momentum, lr, nesterov, work, n)
#define SIGCY_FOR_EACH_ROW_LOOP(X)                                                           \
    X(sigcy_dsigmoid_rows_d, void, SIGCY_BACKWARD_ROWS_SIG(double))                          \
    X(sigcy_dsigmoid_rows_f, void, SIGCY_BACKWARD_ROWS_SIG(float))                           \
    X(sigcy_dtanh_rows_d, void, SIGCY_BACKWARD_ROWS_SIG(double))                             \
    X(sigcy_dtanh_rows_f, void, SIGCY_BACKWARD_ROWS_SIG(float))                              \
    X(sigcy_drelu_rows_d, void, SIGCY_BACKWARD_ROWS_SIG(double))                             \
    X(sigcy_drelu_rows_f, void, SIGCY_BACKWARD_ROWS_SIG(float))                              \
    X(sigcy_column_sum_d, void, SIGCY_COLUMN_SUM_SIG(double))                                \
    X(sigcy_column_sum_f, void, SIGCY_COLUMN_SUM_SIG(float))                                 \
    X(sigcy_exp_nonpos_array_d, void, SIGCY_EXP_ARRAY_SIG(double))                           \
    X(sigcy_exp_nonpos_array_f, void, SIGCY_EXP_ARRAY_SIG(float))                            \
    X(sigcy_adam_update_d, int, SIGCY_ADAM_SIG(double))                                      \
    X(sigcy_adam_update_f, int, SIGCY_ADAM_SIG(float))                                       \
    X(sigcy_sgd_update_d, int, SIGCY_SGD_SIG(double))                                        \
    X(sigcy_sgd_update_f, int, SIGCY_SGD_SIG(float))

SIGCY_DEFINE_VARIANT(_baseline, )
#if SIGCY_X86_GCC
SIGCY_DEFINE_VARIANT(_avx2, __attribute__((target("arch=x86-64-v3"))))
SIGCY_DEFINE_VARIANT(_avx512, __attribute__((target("arch=x86-64-v4"))))
#endif

/* The table, its setter, and the public entry points that call through it.  SIGCY_CALL
 * expands a signature macro into its two parenthesized groups before the call. */
#define SIGCY_CALL(m, args) m args
#define SIGCY_ROW_POINTER_(name, R, PARAMS, ARGS) static R (*name##_ptr) PARAMS = name##_baseline;
#define SIGCY_ROW_POINTER(name, R, SIG) SIGCY_CALL(SIGCY_ROW_POINTER_, (name, R, SIG))
SIGCY_FOR_EACH_ROW_LOOP(SIGCY_ROW_POINTER)
#define SIGCY_ROW_ENTRY_(name, R, PARAMS, ARGS) R name PARAMS { return name##_ptr ARGS; }
#define SIGCY_ROW_ENTRY(name, R, SIG) SIGCY_CALL(SIGCY_ROW_ENTRY_, (name, R, SIG))
SIGCY_FOR_EACH_ROW_LOOP(SIGCY_ROW_ENTRY)

const char *sigcy_rows_set_level(int level)
{
#define SIGCY_ROW_SET(name, R, SIG) name##_ptr = SIGCY_ROW_PICK(name);
#if SIGCY_X86_GCC
    if (level >= SIGCY_ISA_AVX512) {
#define SIGCY_ROW_PICK(name) name##_avx512
        SIGCY_FOR_EACH_ROW_LOOP(SIGCY_ROW_SET)
#undef SIGCY_ROW_PICK
        return "avx512";
    }
    if (level >= SIGCY_ISA_AVX2) {
#define SIGCY_ROW_PICK(name) name##_avx2
        SIGCY_FOR_EACH_ROW_LOOP(SIGCY_ROW_SET)
#undef SIGCY_ROW_PICK
        return "avx2";
    }
#endif
#define SIGCY_ROW_PICK(name) name##_baseline
    SIGCY_FOR_EACH_ROW_LOOP(SIGCY_ROW_SET)
#undef SIGCY_ROW_PICK
    (void)level;
    return "baseline";
}
