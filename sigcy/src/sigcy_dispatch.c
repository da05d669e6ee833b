/*
 * The array loops' variant for the process's instruction-set level (sigcy_isa.h): the ufunc
 * loops and the forward row loops, each compiled once per instruction set from
 * sigcy_kernels.c.  A module that links them calls sigcy_kernels_set_level once, at import,
 * before any thread can call a loop.
 */
#include "sigcy_isa.h"
#include "sigcy_kernels.h"

typedef void (*sigcy_loop_fn)(const char *, ptrdiff_t, char *, ptrdiff_t, ptrdiff_t);

#define SIGCY_FOR_EACH_LOOP(X)       \
    X(sigcy_sigmoid_d_strided)       \
    X(sigcy_sigmoid_f_strided)       \
    X(sigcy_sigmoid_derivative_d_strided) \
    X(sigcy_sigmoid_derivative_f_strided) \
    X(sigcy_log_sigmoid_d_strided)   \
    X(sigcy_log_sigmoid_f_strided)   \
    X(sigcy_tanh_d_strided)          \
    X(sigcy_tanh_f_strided)

#define SIGCY_DECLARE(name, isa) void name##_##isa(const char *, ptrdiff_t, char *, ptrdiff_t, ptrdiff_t);
#define SIGCY_DECLARE_BASELINE(name) SIGCY_DECLARE(name, baseline)
SIGCY_FOR_EACH_LOOP(SIGCY_DECLARE_BASELINE)
#ifdef SIGCY_HAVE_AVX2
#define SIGCY_DECLARE_AVX2(name) SIGCY_DECLARE(name, avx2)
SIGCY_FOR_EACH_LOOP(SIGCY_DECLARE_AVX2)
#endif
#ifdef SIGCY_HAVE_AVX512
#define SIGCY_DECLARE_AVX512(name) SIGCY_DECLARE(name, avx512)
SIGCY_FOR_EACH_LOOP(SIGCY_DECLARE_AVX512)
#endif

#define SIGCY_POINTER(name) static sigcy_loop_fn name##_ptr = name##_baseline;
SIGCY_FOR_EACH_LOOP(SIGCY_POINTER)

/* the row loops of the recurrences: (c, rs, b, m, n) per dtype */
typedef void (*sigcy_rows_d_fn)(double *, ptrdiff_t, const double *, ptrdiff_t, ptrdiff_t);
typedef void (*sigcy_rows_f_fn)(float *, ptrdiff_t, const float *, ptrdiff_t, ptrdiff_t);
#define SIGCY_FOR_EACH_ROWS(X) \
    X(sigcy_bias_tanh_rows_d, double, sigcy_rows_d_fn) \
    X(sigcy_bias_tanh_rows_f, float, sigcy_rows_f_fn) \
    X(sigcy_bias_sigmoid_rows_d, double, sigcy_rows_d_fn) \
    X(sigcy_bias_sigmoid_rows_f, float, sigcy_rows_f_fn)
#define SIGCY_DECLARE_ROWS(name, T, isa) \
    void name##_##isa(T *, ptrdiff_t, const T *, ptrdiff_t, ptrdiff_t);
#define SIGCY_DECLARE_ROWS_BASELINE(name, T, F) SIGCY_DECLARE_ROWS(name, T, baseline)
SIGCY_FOR_EACH_ROWS(SIGCY_DECLARE_ROWS_BASELINE)
#ifdef SIGCY_HAVE_AVX2
#define SIGCY_DECLARE_ROWS_AVX2(name, T, F) SIGCY_DECLARE_ROWS(name, T, avx2)
SIGCY_FOR_EACH_ROWS(SIGCY_DECLARE_ROWS_AVX2)
#endif
#ifdef SIGCY_HAVE_AVX512
#define SIGCY_DECLARE_ROWS_AVX512(name, T, F) SIGCY_DECLARE_ROWS(name, T, avx512)
SIGCY_FOR_EACH_ROWS(SIGCY_DECLARE_ROWS_AVX512)
#endif
#define SIGCY_POINTER_ROWS(name, T, F) static F name##_ptr = name##_baseline;
SIGCY_FOR_EACH_ROWS(SIGCY_POINTER_ROWS)

static const char *sigcy_target = "baseline";

#define SIGCY_SET(name, isa) name##_ptr = name##_##isa;

const char *sigcy_kernels_set_level(int level)
{
    sigcy_target = "baseline";
#define SIGCY_SET_BASELINE(name) SIGCY_SET(name, baseline)
#define SIGCY_SET_ROWS_BASELINE(name, T, F) SIGCY_SET(name, baseline)
    SIGCY_FOR_EACH_LOOP(SIGCY_SET_BASELINE)
    SIGCY_FOR_EACH_ROWS(SIGCY_SET_ROWS_BASELINE)
#ifdef SIGCY_HAVE_AVX2
    if (level >= SIGCY_ISA_AVX2) {
#define SIGCY_SET_AVX2(name) SIGCY_SET(name, avx2)
#define SIGCY_SET_ROWS_AVX2(name, T, F) SIGCY_SET(name, avx2)
        SIGCY_FOR_EACH_LOOP(SIGCY_SET_AVX2)
        SIGCY_FOR_EACH_ROWS(SIGCY_SET_ROWS_AVX2)
        sigcy_target = "avx2";
    }
#endif
#ifdef SIGCY_HAVE_AVX512
    if (level >= SIGCY_ISA_AVX512) {
#define SIGCY_SET_AVX512(name) SIGCY_SET(name, avx512)
#define SIGCY_SET_ROWS_AVX512(name, T, F) SIGCY_SET(name, avx512)
        SIGCY_FOR_EACH_LOOP(SIGCY_SET_AVX512)
        SIGCY_FOR_EACH_ROWS(SIGCY_SET_ROWS_AVX512)
        sigcy_target = "avx512";
    }
#endif
    (void)level;
    return sigcy_target;
}

#define SIGCY_FORWARD(name) \
    void name(const char *x, ptrdiff_t iss, char *y, ptrdiff_t oss, ptrdiff_t n) { name##_ptr(x, iss, y, oss, n); }
SIGCY_FOR_EACH_LOOP(SIGCY_FORWARD)

#define SIGCY_FORWARD_ROWS(name, T, F) \
    void name(T *c, ptrdiff_t rs, const T *b, ptrdiff_t m, ptrdiff_t n) { name##_ptr(c, rs, b, m, n); }
SIGCY_FOR_EACH_ROWS(SIGCY_FORWARD_ROWS)
