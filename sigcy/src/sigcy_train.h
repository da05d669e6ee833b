/*
 * sigcy_train.h -- array loops of the estimators' training step (sigcy/_train.pyx).
 *
 * x[k] = exp(x[k]) for x[k] <= 0 (or NaN), rounded once from sigcy's double-double exp
 * (|error| < 2^-60 relative before rounding; float32 through sigcy_exp_nonpos_f, relative
 * error 2e-10, rounded once).  Used for the softmax of the output layer on a whole batch.
 * As the row loops of sigcy_rnn.h, the loop is compiled for x86-64-v4, -v3 and baseline
 * (target_clones) and picked at load time; the package builds with -ffp-contract=off, so
 * every clone gives the same bits.  Baseline SSE2 made it ~60 % of a 200 x 10 softmax.
 */
#ifndef SIGCY_TRAIN_H
#define SIGCY_TRAIN_H

#include <stddef.h>
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

#endif /* SIGCY_TRAIN_H */
