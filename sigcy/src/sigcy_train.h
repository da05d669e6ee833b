/*
 * sigcy_train.h -- the output layer's losses and the L2 term of the estimators' training step.
 *
 * Loops on raw row-major arrays, used by the trainer (sigcy/_core/_trainer.pyx) and, one call
 * each, by sigcy/_core/_step.pyx for the estimators' helpers and the tests.  Everything runs
 * in one thread in index order, sums accumulated in double: the results depend on the inputs
 * only.  The softmax's exponentials are one dispatched loop over the whole batch
 * (sigcy_exp_nonpos_array_*, sigcy_rows.h), as are the bias gradients' column sums.
 */
#ifndef SIGCY_TRAIN_H
#define SIGCY_TRAIN_H

#include <math.h>
#include <stddef.h>
#include <string.h>
#include "sigcy_kernels.h"
#include "sigcy_rows.h"

#define SIGCY_COLUMN_SUM_double sigcy_column_sum_d
#define SIGCY_COLUMN_SUM_float sigcy_column_sum_f

/* sum of w[idx[k]] (or w[k] when idx is NULL) for k = 0 .. n-1, in that order: the one
 * order in which the estimators sum sample weights (numpy's add.accumulate gives the same). */
static double sigcy_sum_in_order(const double *w, const ptrdiff_t *idx, ptrdiff_t n)
{
    double s = 0.0;
    for (ptrdiff_t k = 0; k < n; k++)
        s += w[idx ? idx[k] : k];
    return s;
}

/* Adam's bias-corrected learning rate at step t (scikit-learn's formula, in double as its
 * numpy float64): lr * sqrt(1 - beta_2^t) / (1 - beta_1^t). */
static double sigcy_adam_learning_rate(double lr, double beta_1, double beta_2, double t)
{
    return lr * sqrt(1 - pow(beta_2, t)) / (1 - pow(beta_1, t));
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
        SIGCY_COLUMN_SUM_##T(dZ, n, C, db);                                                 \
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
        SIGCY_COLUMN_SUM_##T(dZ, n, C, db);                                                 \
    return total;                                                                            \
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

SIGCY_DEFINE_CROSS_ENTROPY(double, sigcy_cross_entropy_d, sigcy_exp_nonpos_array_d, log,
                           sigcy_sigmoid_d, sigcy_log_sigmoid_d)
SIGCY_DEFINE_CROSS_ENTROPY(float, sigcy_cross_entropy_f, sigcy_exp_nonpos_array_f, logf,
                           sigcy_sigmoid_f, sigcy_log_sigmoid_f)
SIGCY_DEFINE_SQUARED_ERROR(double, sigcy_squared_error_d)
SIGCY_DEFINE_SQUARED_ERROR(float, sigcy_squared_error_f)
SIGCY_DEFINE_ADD_L2(double, sigcy_add_l2_d)
SIGCY_DEFINE_ADD_L2(float, sigcy_add_l2_f)

#endif /* SIGCY_TRAIN_H */
