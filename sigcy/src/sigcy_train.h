/*
 * sigcy_train.h -- array loops of the estimators' training step (sigcy/_train.pyx).
 *
 * The output layer's losses and their gradients, and the L2 term, on raw row-major arrays;
 * used by sigcy/_train.pyx (one call each, for the estimators' helpers and the tests) and by
 * the fused training step of sigcy/_rnn.pyx.  Everything runs in one thread in index order,
 * sums accumulated in double: the results depend on the inputs only.
 *
 * The softmax's exponentials are one loop over the whole batch, sigcy's double-double exp of
 * the shifted logits rounded once (|error| < 2^-60 relative before rounding; float32 through
 * sigcy_exp_nonpos_f, relative error 2e-10).  As the row loops of sigcy_rnn.h, that loop is
 * compiled for x86-64-v4, -v3 and baseline (target_clones) and picked at load time; the
 * package builds with -ffp-contract=off, so every clone gives the same bits.  (libm's exp,
 * a call per element, or the baseline SSE2 loop made the exponentials ~60 % of a 200 x 10
 * softmax.)
 */
#ifndef SIGCY_TRAIN_H
#define SIGCY_TRAIN_H

#include <math.h>
#include <stddef.h>
#include <string.h>
#include "sigcy_kernels.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(SIGCY_NO_TARGET_CLONES)
#define SIGCY_TRAIN_LOOP \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) static
#else
#define SIGCY_TRAIN_LOOP static
#endif

SIGCY_TRAIN_LOOP void sigcy_exp_nonpos_array_d(double *restrict x, ptrdiff_t n)
{
    for (ptrdiff_t k = 0; k < n; k++) {
        double hi, lo;
        sigcy_exp_nonpos_dd(x[k], &hi, &lo);
        x[k] = hi + lo;
    }
}

SIGCY_TRAIN_LOOP void sigcy_exp_nonpos_array_f(float *restrict x, ptrdiff_t n)
{
    for (ptrdiff_t k = 0; k < n; k++)
        x[k] = (float)sigcy_exp_nonpos_f((double)x[k]);
}

/*
 * Cross-entropy of the logits Z (n, C) against one-hot Y (C > 1: softmax) or 0/1 Y (C == 1:
 * the logistic function, exact through log_sigmoid), averaged over the samples (w NULL) or
 * weighted by w (summing to 1).  dZ = (p - Y) * (1/n or w[i]); db (or NULL) = dZ's column
 * sums.  Returns the loss.  A NaN logit makes its row NaN.
 */
#define SIGCY_DEFINE_CROSS_ENTROPY(T, name, EXP_ARRAY, LOG, SIGMOID, LOG_SIGMOID)              \
static double name(const T *Z, const T *Y, const T *w, T *dZ, T *db, ptrdiff_t n,            \
                   ptrdiff_t C)                                                              \
{                                                                                            \
    double total = 0.0;                                                                      \
    T inv_n = n ? (T)(1.0 / n) : (T)0;                                                       \
    if (C == 1) {                                                                            \
        for (ptrdiff_t i = 0; i < n; i++) {                                                  \
            T z = Z[i], y = Y[i], scale = w ? w[i] : inv_n;                                  \
            double wi = w ? (double)w[i] : 1.0 / n;                                          \
            total -= wi * (double)(y * LOG_SIGMOID(z) + (1 - y) * LOG_SIGMOID(-z));          \
            dZ[i] = (SIGMOID(z) - y) * scale;                                                \
        }                                                                                    \
    } else {                                                                                 \
        /* loss_i = log(sum_j e^(z_ij - m_i)) - sum_j (z_ij - m_i) y_ij, m_i = max_j z_ij:   \
         * the shifted logits go to dZ, one exp loop over the batch, then each row. */       \
        for (ptrdiff_t i = 0; i < n; i++) {                                                  \
            const T *z = Z + i * C;                                                          \
            T m = z[0], zy = 0;                                                              \
            for (ptrdiff_t j = 1; j < C; j++)                                                \
                if (z[j] > m || z[j] != z[j])                                                \
                    m = z[j];                                                                \
            for (ptrdiff_t j = 0; j < C; j++) {                                              \
                dZ[i * C + j] = z[j] - m;                                                    \
                zy = zy + dZ[i * C + j] * Y[i * C + j];                                      \
            }                                                                                \
            total -= (w ? (double)w[i] : 1.0 / n) * (double)zy;                              \
        }                                                                                    \
        EXP_ARRAY(dZ, n * C);                                                                \
        for (ptrdiff_t i = 0; i < n; i++) {                                                  \
            T *d = dZ + i * C, s = 0, scale = w ? w[i] : inv_n;                              \
            for (ptrdiff_t j = 0; j < C; j++)                                                \
                s = s + d[j];                                                                \
            total += (w ? (double)w[i] : 1.0 / n) * (double)LOG(s);                          \
            for (ptrdiff_t j = 0; j < C; j++)                                                \
                d[j] = (d[j] / s - Y[i * C + j]) * scale;                                    \
        }                                                                                    \
    }                                                                                        \
    if (db)                                                                                  \
        sigcy_column_sums_##T(dZ, n, C, db);                                                 \
    return total;                                                                            \
}

/*
 * Half the squared error averaged over the C outputs and the samples (w NULL) or weighted
 * by w (summing to 1): dZ = (Z - Y) * (1/(nC) or w[i]/C); db (or NULL) = dZ's column sums.
 */
#define SIGCY_DEFINE_SQUARED_ERROR(T, name)                                                  \
static double name(const T *Z, const T *Y, const T *w, T *dZ, T *db, ptrdiff_t n,            \
                   ptrdiff_t C)                                                              \
{                                                                                            \
    double total = 0.0;                                                                      \
    T inv_nc = n > 0 && C > 0 ? (T)(1.0 / (n * C)) : (T)0;                                   \
    for (ptrdiff_t i = 0; i < n; i++) {                                                      \
        T scale = w ? w[i] / (T)C : inv_nc;                                                  \
        double per = 0.0;                                                                    \
        for (ptrdiff_t j = 0; j < C; j++) {                                                  \
            T d = Z[i * C + j] - Y[i * C + j];                                               \
            per += (double)d * d;                                                            \
            dZ[i * C + j] = d * scale;                                                       \
        }                                                                                    \
        total += 0.5 * per / C * (w ? (double)w[i] : 1.0 / n);                               \
    }                                                                                        \
    if (db)                                                                                  \
        sigcy_column_sums_##T(dZ, n, C, db);                                                 \
    return total;                                                                            \
}

/* out[j] = sum over i of a[i * C + j], the rows in order. */
#define SIGCY_DEFINE_COLUMN_SUMS(T)                                                          \
static void sigcy_column_sums_##T(const T *a, ptrdiff_t n, ptrdiff_t C, T *out)              \
{                                                                                            \
    for (ptrdiff_t j = 0; j < C; j++)                                                        \
        out[j] = 0;                                                                          \
    for (ptrdiff_t i = 0; i < n; i++)                                                        \
        for (ptrdiff_t j = 0; j < C; j++)                                                    \
            out[j] = out[j] + a[i * C + j];                                                  \
}

/*
 * grad += reg * theta on the k weight ranges [ranges[2r], ranges[2r+1]); *sq = the sum of
 * theta^2 over them.  Returns |grad|^2 (after the update).
 */
#define SIGCY_DEFINE_ADD_L2(T, name)                                                         \
static double name(const T *theta, T *grad, ptrdiff_t n, const ptrdiff_t *ranges,            \
                   ptrdiff_t k, T reg, double *sq)                                           \
{                                                                                            \
    double s = 0.0, g = 0.0;                                                                 \
    for (ptrdiff_t r = 0; r < k; r++)                                                        \
        for (ptrdiff_t j = ranges[2 * r]; j < ranges[2 * r + 1]; j++) {                      \
            grad[j] = grad[j] + reg * theta[j];                                              \
            s += (double)theta[j] * theta[j];                                                \
        }                                                                                    \
    for (ptrdiff_t j = 0; j < n; j++)                                                        \
        g += (double)grad[j] * grad[j];                                                      \
    *sq = s;                                                                                 \
    return g;                                                                                \
}

SIGCY_DEFINE_COLUMN_SUMS(double)
SIGCY_DEFINE_COLUMN_SUMS(float)
SIGCY_DEFINE_CROSS_ENTROPY(double, sigcy_cross_entropy_d, sigcy_exp_nonpos_array_d, log,
                           sigcy_sigmoid_d, sigcy_log_sigmoid_d)
SIGCY_DEFINE_CROSS_ENTROPY(float, sigcy_cross_entropy_f, sigcy_exp_nonpos_array_f, logf,
                           sigcy_sigmoid_f, sigcy_log_sigmoid_f)
SIGCY_DEFINE_SQUARED_ERROR(double, sigcy_squared_error_d)
SIGCY_DEFINE_SQUARED_ERROR(float, sigcy_squared_error_f)
SIGCY_DEFINE_ADD_L2(double, sigcy_add_l2_d)
SIGCY_DEFINE_ADD_L2(float, sigcy_add_l2_f)

/*
 * The optimizers' steps (sigcy/_optimizers.py), in scikit-learn's order of operations
 * (sklearn/neural_network/_stochastic_optimizers.py), so the same bits (without FMA
 * contraction).  With gradient g = grad * scale, each writes the new parameters to work and
 * copies them over theta only if all are finite (a step happens completely or not at all);
 * the moments / velocity are updated either way, as scikit-learn's would be.  Returns whether
 * theta was updated.
 *
 * Adam: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; theta += (m * -lr) / (sqrt(v) + eps),
 * the last in double also for float32 (scikit-learn's bias-corrected lr is a numpy float64,
 * which promotes the step), rounded once.  omb1, omb2: 1 - b1, 1 - b2 rounded from double, as
 * numpy rounds scikit-learn's python floats.
 */
#define SIGCY_DEFINE_ADAM(T, name, SQRT)                                                     \
SIGCY_TRAIN_LOOP int name(T *restrict theta, const T *restrict grad, T scale, T *restrict m, \
                          T *restrict v, T beta_1, T omb1, T beta_2, T omb2, double lr,      \
                          T eps, T *restrict work, ptrdiff_t n)                              \
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
#define SIGCY_DEFINE_SGD(T, name)                                                            \
SIGCY_TRAIN_LOOP int name(T *restrict theta, const T *restrict grad, T scale,               \
                          T *restrict velocity, T momentum, T lr, int nesterov,              \
                          T *restrict work, ptrdiff_t n)                                     \
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
SIGCY_DEFINE_ADAM(double, sigcy_adam_update_d, sqrt)
SIGCY_DEFINE_ADAM(float, sigcy_adam_update_f, sqrtf)
SIGCY_DEFINE_SGD(double, sigcy_sgd_update_d)
SIGCY_DEFINE_SGD(float, sigcy_sgd_update_f)

#endif /* SIGCY_TRAIN_H */
