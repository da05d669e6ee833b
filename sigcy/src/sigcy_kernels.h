/*
 * sigcy_kernels.h -- scalar sigmoid-family kernels, float64 and float32.
 *
 * Design
 * ------
 * Every kernel here is a branch-free `static inline` function of one value, written so that
 * gcc vectorizes a plain loop over it (selects instead of branches, integer bit tricks instead
 * of ldexp, no libm call).  The array loops in sigcy_kernels.c wrap them in blocks and are
 * compiled once per instruction set (baseline x86-64, AVX2+FMA, AVX-512) with run-time
 * dispatch (sigcy_dispatch.c); the Cython recurrences cimport the scalar functions through
 * sigcy/_kernels.pxd.  The AVX-512 build replaces most of them by the intrinsic kernels of
 * sigcy_kernels_avx512.h (same formulas in spirit, float32 in float arithmetic).
 *
 * The package is compiled with -ffp-contract=off: FMA is used only where SIGCY_MULADD asks
 * for it, in builds whose target has it.  Results are therefore the same bits for any number
 * of threads on a given machine, and within the documented accuracy on every machine.
 *
 * Numerics (float64)
 * ------------------
 * With a = -|x| <= 0 and e = exp(a) in (0, 1]:
 *     sigmoid(x)            = 1/(1+e)  for x >= 0,   e/(1+e)  for x < 0
 *     sigmoid_derivative(x) = e/(1+e)^2                       (symmetric in x)
 *     log_sigmoid(x)        = min(x, 0) - log1p(e)
 * exp(a) is computed by Cody-Waite reduction a = k ln2 + r, |r| <= ln2/2, a degree-12
 * polynomial for exp(r) (near-minimax, fitted with mpmath.chebyfit), and 2^k built from bits
 * as the product of two normal powers of two, so that results in the subnormal range are
 * rounded only once.  exp(r) is kept as an unevaluated sum s_hi + s_lo, 1+e likewise, and the
 * final quotient is corrected with its exact residual (Dekker's product), which keeps the
 * error near 0.5 ULP.  float32 kernels compute in double with shorter polynomials and round
 * once at the end.
 */
#ifndef SIGCY_KERNELS_H
#define SIGCY_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#if defined(__GNUC__) || defined(__clang__)
#define SIGCY_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define SIGCY_INLINE static __forceinline
#else
#define SIGCY_INLINE static inline
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- bit helpers */
SIGCY_INLINE uint64_t sigcy_bits_d(double x) { uint64_t u; memcpy(&u, &x, sizeof u); return u; }
SIGCY_INLINE double sigcy_from_bits_d(uint64_t u) { double x; memcpy(&x, &u, sizeof x); return x; }

#define SIGCY_LOG2E   0x1.71547652b82fep+0
#define SIGCY_LN2_HI  0x1.62e42fee00000p-1   /* low 21 bits zero: k*LN2_HI exact for |k| < 2^21 */
#define SIGCY_LN2_LO  0x1.a39ef35793c76p-33
#define SIGCY_SHIFTER 0x1.8p52               /* x + SHIFTER - SHIFTER rounds x to an integer */
#define SIGCY_SQRT2   0x1.6a09e667f3bcdp+0

/*
 * a*b + c.  Where the translation unit is compiled for FMA (the AVX2 and AVX-512 builds of the
 * array loops) this is one fused instruction; elsewhere a product and a sum.  Implicit
 * contraction is off (-ffp-contract=off), so this macro is the only place FMA is used.
 */
#if defined(__FMA__) || defined(__FP_FAST_FMA) || defined(__aarch64__)
#define SIGCY_HAVE_FMA 1
#define SIGCY_MULADD(a, b, c) __builtin_fma((a), (b), (c))
#else
#define SIGCY_HAVE_FMA 0
#define SIGCY_MULADD(a, b, c) ((a) * (b) + (c))
#endif

/*
 * A NaN input is returned as it is (sign and payload): the NaN that arithmetic would produce
 * depends on operand order, which differs between vector and scalar code.
 */
#define SIGCY_KEEP_NAN(x, result) ((x) != (x) ? (x) : (result))

/* 2^k for an integer-valued double k in [-1022, 1023], from its bits. */
SIGCY_INLINE double sigcy_pow2i(double k)
{
    return sigcy_from_bits_d(sigcy_bits_d(k + (SIGCY_SHIFTER + 1023.0)) << 52);
}

/* Exact product a*b = *hi + *lo (one FMA, or Dekker's algorithm with Veltkamp splitting). */
SIGCY_INLINE void sigcy_two_prod(double a, double b, double *hi, double *lo)
{
#if SIGCY_HAVE_FMA
    double p = a * b;
    *hi = p;
    *lo = __builtin_fma(a, b, -p);
#else
    const double split = 134217729.0;   /* 2^27 + 1; |a|, |b| < 2^996 */
    double p = a * b;
    double ca = split * a, cb = split * b;
    double ah = ca - (ca - a), bh = cb - (cb - b);
    double al = a - ah, bl = b - bh;
    *hi = p;
    *lo = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
#endif
}

/* ---------------------------------------------------------------- exp, float64 */
/*
 * e^a = 2^k (s_hi + s_lo) for a <= 0 (or NaN); returns k.  sigcy_exp_nonpos_dd: e^a as e_hi + e_lo, with |error| below 2^-60 relative for normal results.
 * For a < -746 the result is below half the least subnormal and is returned as 0.
 */
SIGCY_INLINE double sigcy_exp_core(double a, double *s_hi, double *s_lo)
{
    a = a < -746.0 ? -746.0 : a;                     /* also maps -inf; NaN passes through */
    double kd = (a * SIGCY_LOG2E + SIGCY_SHIFTER) - SIGCY_SHIFTER;   /* round(a/ln2) in [-1077, 0] */
    double r_hi = SIGCY_MULADD(-kd, SIGCY_LN2_HI, a);    /* exact */
    double k_lo = kd * SIGCY_LN2_LO;
    double r = r_hi - k_lo;
    double r_err = (r_hi - r) - k_lo;                /* r_hi - k_lo = r + r_err */
    /* exp(r) - 1 - r = r^2 P(r), degree-10 P, Estrin's scheme */
    double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    double p01 = SIGCY_MULADD(0x1.5555555555557p-3, r, 0x1.0000000000000p-1);
    double p23 = SIGCY_MULADD(0x1.11111111100bep-7, r, 0x1.5555555555556p-5);
    double p45 = SIGCY_MULADD(0x1.a01a01abf85abp-13, r, 0x1.6c16c16c162c3p-10);
    double p67 = SIGCY_MULADD(0x1.71de01fdbf9cap-19, r, 0x1.a01a01a6e1e2ap-16);
    double p89 = SIGCY_MULADD(0x1.af4e554377204p-26, r, 0x1.27e4db46cddd1p-22);
    double q0 = SIGCY_MULADD(p23, r2, p01);
    double q1 = SIGCY_MULADD(p67, r2, p45);
    double q2 = SIGCY_MULADD(0x1.1f7340dbc337ep-29, r2, p89);
    double P = SIGCY_MULADD(q2, r8, SIGCY_MULADD(q1, r4, q0));
    /* expm1(r + r_err) ~ r + (r_err*(1+r) + r^2 P(r)) */
    double p = r + SIGCY_MULADD(r2, P, SIGCY_MULADD(r_err, r, r_err));
    double h = 1.0 + p;
    *s_hi = h;
    *s_lo = (1.0 - h) + p;                           /* exact: |p| < 1 */
    return kd;
}

SIGCY_INLINE void sigcy_exp_nonpos_dd(double a, double *e_hi, double *e_lo)
{
    double s_hi, s_lo;
    double kd = sigcy_exp_core(a, &s_hi, &s_lo);
    /* 2^k = 2^k1 * 2^k2 with both factors normal: subnormal results round once */
    double k1 = kd < -1020.0 ? -1020.0 : kd;
    double k2 = kd - k1;
    double sc1 = sigcy_pow2i(k1), sc2 = sigcy_pow2i(k2);
    *e_hi = (s_hi * sc1) * sc2;
    *e_lo = (s_lo * sc1) * sc2;
}

/* The same for -700 <= a <= 0 (or NaN) with one scaling: bitwise equal to sigcy_exp_nonpos_dd there. */
SIGCY_INLINE void sigcy_exp_small_dd(double a, double *e_hi, double *e_lo)
{
    double s_hi, s_lo;
    double sc = sigcy_pow2i(sigcy_exp_core(a, &s_hi, &s_lo));
    *e_hi = s_hi * sc;
    *e_lo = s_lo * sc;
}

/*
 * 1/d for d in [1, 4]: a float32 division (several times cheaper than a float64 one) refined by
 * one Newton step in double, relative error below 2^-46; sigcy_recip2 adds a second step
 * (error about 2^-52).  Quotients built on them are corrected with their exact residual.
 */
SIGCY_INLINE double sigcy_recip(double d)
{
    double y = (double)(1.0f / (float)d);
    return SIGCY_MULADD(y, SIGCY_MULADD(-d, y, 1.0), y);
}

SIGCY_INLINE double sigcy_recip2(double d)
{
    double y = sigcy_recip(d);
    return SIGCY_MULADD(y, SIGCY_MULADD(-d, y, 1.0), y);
}

/* 1 + e for 0 <= e_hi <= 1 as d + *d_lo (exact up to e_lo's own rounding). */
SIGCY_INLINE double sigcy_one_plus(double e_hi, double e_lo, double *d_lo)
{
    double d = 1.0 + e_hi;
    *d_lo = ((1.0 - d) + e_hi) + e_lo;
    return d;
}

/*
 * (n_hi + n_lo) / (d + d_lo) given inv = 1/d (1 + O(2^-46)), as *q + *q_lo.  The residual of
 * the quotient is exact (Dekker's product), so *q + *q_lo carries about 2^-90 relative error
 * beyond the inputs' own error.
 */
SIGCY_INLINE double sigcy_div_dd(double n_hi, double n_lo, double d, double d_lo, double inv,
                                 double *q_lo)
{
    double q = n_hi * inv, ph, pl;
    sigcy_two_prod(q, d, &ph, &pl);
    double res = ((n_hi - ph) - pl) + (n_lo - q * d_lo);
    *q_lo = res * inv;
    return q;
}

/* ---------------------------------------------------------------- float64 kernels */
/*
 * Each float64 kernel is exp (sigcy_exp_nonpos_dd) followed by a "finish" step from x and
 * exp(-|x|).  The array loops run the two steps as separate passes over a block, which keeps
 * the dependency chains short enough for the out-of-order core to overlap many elements.
 */

/* sigmoid(x) = 1 / (1 + exp(-x)), at most 1 ULP everywhere (subnormal tail included). */
SIGCY_INLINE double sigcy_sigmoid_finish_d(double x, double e_hi, double e_lo)
{
    double d_lo, q_lo;
    double d = sigcy_one_plus(e_hi, e_lo, &d_lo);
    int neg = x < 0.0;
    double n_hi = neg ? e_hi : 1.0;
    double n_lo = neg ? e_lo : 0.0;
    double q = sigcy_div_dd(n_hi, n_lo, d, d_lo, sigcy_recip(d), &q_lo);
    return SIGCY_KEEP_NAN(x, q + q_lo);
}

SIGCY_INLINE double sigcy_sigmoid_d(double x)
{
    double e_hi, e_lo;
    sigcy_exp_nonpos_dd(-fabs(x), &e_hi, &e_lo);
    return sigcy_sigmoid_finish_d(x, e_hi, e_lo);
}

/* sigmoid'(x) = sigmoid(x) * sigmoid(-x) = e / (1 + e)^2 with e = exp(-|x|), computed from x. */
SIGCY_INLINE double sigcy_sigmoid_derivative_finish_d(double x, double e_hi, double e_lo)
{
    double d_lo, u_lo, v_lo, m, m_lo;
    (void)x;
    double d = sigcy_one_plus(e_hi, e_lo, &d_lo);
    double inv = sigcy_recip(d);
    double u = sigcy_div_dd(1.0, 0.0, d, d_lo, inv, &u_lo);    /* sigmoid(|x|)  */
    double v = sigcy_div_dd(e_hi, e_lo, d, d_lo, inv, &v_lo);  /* sigmoid(-|x|) */
    sigcy_two_prod(u, v, &m, &m_lo);
    return SIGCY_KEEP_NAN(x, m + (m_lo + (u * v_lo + u_lo * v)));
}

SIGCY_INLINE double sigcy_sigmoid_derivative_d(double x)
{
    double e_hi, e_lo;
    sigcy_exp_nonpos_dd(-fabs(x), &e_hi, &e_lo);
    return sigcy_sigmoid_derivative_finish_d(x, e_hi, e_lo);
}

/* fdlibm's log(1+f) polynomial in z = s^2, s = f/(2+f). */
#define SIGCY_LG1 6.666666666666735130e-01
#define SIGCY_LG2 3.999999999940941908e-01
#define SIGCY_LG3 2.857142874366239149e-01
#define SIGCY_LG4 2.222219843214978396e-01
#define SIGCY_LG5 1.818357216161805012e-01
#define SIGCY_LG6 1.531383769920937332e-01
#define SIGCY_LG7 1.479819860511658591e-01

/* log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), at most 2 ULP; exactly x for x < -37. */
SIGCY_INLINE double sigcy_log_sigmoid_finish_d(double x, double e_hi, double e_lo)
{
    double d_lo;
    double d = sigcy_one_plus(e_hi, e_lo, &d_lo);        /* 1 + e in [1, 2] */
    /* log(d + d_lo) = k ln2 + log(m) + d_lo/d, m = d / 2^k in [sqrt(2)/2, sqrt(2)] */
    int big = d > SIGCY_SQRT2;
    double k = big ? 1.0 : 0.0;
    double m = big ? 0.5 * d : d;
    double m_lo = big ? 0.5 * d_lo : d_lo;
    double f = m - 1.0;                                  /* exact */
    double s = f * sigcy_recip2(2.0 + f);
    double z = s * s, w = z * z;
    double t1 = w * (SIGCY_LG2 + w * (SIGCY_LG4 + w * SIGCY_LG6));
    double t2 = z * (SIGCY_LG1 + w * (SIGCY_LG3 + w * (SIGCY_LG5 + w * SIGCY_LG7)));
    double R = t2 + t1;
    double hfsq = 0.5 * f * f;
    double tail = SIGCY_MULADD(k, SIGCY_LN2_LO, m_lo * sigcy_recip(m));
    double L = k * SIGCY_LN2_HI - ((hfsq - (s * (hfsq + R) + tail)) - f);
    double xm = x < 0.0 ? x : 0.0;
    return SIGCY_KEEP_NAN(x, xm - L);
}

SIGCY_INLINE double sigcy_log_sigmoid_d(double x)
{
    double e_hi, e_lo;
    sigcy_exp_nonpos_dd(-fabs(x), &e_hi, &e_lo);
    return sigcy_log_sigmoid_finish_d(x, e_hi, e_lo);
}

/* ---------------------------------------------------------------- float32 kernels */
/* e^a for -110 <= a <= 0 in double, relative error below 2e-10 (ample for float32). */
SIGCY_INLINE double sigcy_exp_nonpos_f(double a)
{
    a = a < -110.0 ? -110.0 : a;
    double kd = (a * SIGCY_LOG2E + SIGCY_SHIFTER) - SIGCY_SHIFTER;
    double r = SIGCY_MULADD(-kd, SIGCY_LN2_LO, SIGCY_MULADD(-kd, SIGCY_LN2_HI, a));
    double r2 = r * r;
    double P = SIGCY_MULADD(r2,
                            SIGCY_MULADD(r2, SIGCY_MULADD(0x1.a1256cd2f13c2p-13, r, 0x1.6d43af18200d3p-10),
                                         SIGCY_MULADD(0x1.1110e0c5c7f50p-7, r, 0x1.5554e8a22b84cp-5)),
                            SIGCY_MULADD(0x1.5555555a800cdp-3, r, 0x1.0000000ba132cp-1));
    return (1.0 + SIGCY_MULADD(r2, P, r)) * sigcy_pow2i(kd);
}

SIGCY_INLINE float sigcy_sigmoid_f(float x)
{
    double xd = (double)x;
    double e = sigcy_exp_nonpos_f(-fabs(xd));
    double n = xd < 0.0 ? e : 1.0;
    return SIGCY_KEEP_NAN(x, (float)(n * sigcy_recip(1.0 + e)));
}

SIGCY_INLINE float sigcy_sigmoid_derivative_f(float x)
{
    double e = sigcy_exp_nonpos_f(-fabs((double)x));
    double inv = sigcy_recip(1.0 + e);
    return SIGCY_KEEP_NAN(x, (float)(e * (inv * inv)));
}

SIGCY_INLINE float sigcy_log_sigmoid_f(float x)
{
    double xd = (double)x;
    double e = sigcy_exp_nonpos_f(-fabs(xd));
    double d = 1.0 + e;
    double d_lo = (1.0 - d) + e;                         /* exact */
    int big = d > SIGCY_SQRT2;
    double k = big ? 1.0 : 0.0;
    double m = big ? 0.5 * d : d;
    double f = m - 1.0;
    double s = f * sigcy_recip(2.0 + f);
    double z = s * s;
    double R = z * (SIGCY_LG1 + z * (SIGCY_LG2 + z * (SIGCY_LG3 + z * SIGCY_LG4)));
    double hfsq = 0.5 * f * f;
    /* d_lo matters only when e is tiny, where 1/d ~ 1 - f */
    double L = k * 0x1.62e42fefa39efp-1 + (f - (hfsq - s * (hfsq + R))) + d_lo * (1.0 - f);
    double xm = xd < 0.0 ? xd : 0.0;
    return SIGCY_KEEP_NAN(x, (float)(xm - L));
}

/* ---------------------------------------------------------------- tanh (the recurrences)
 * float64, a = |x|:
 *     a <  2^-7:  x + x^3 P(x^2), the Taylor series to x^9 (truncation below 2^-61 relative);
 *     a >= 2^-7:  sign(x) (1 - e) / (1 + e), e = exp(-2a) as e_hi + e_lo (sigcy_exp_nonpos_dd),
 *                 1 - e and 1 + e kept as unevaluated sums and the quotient corrected with
 *                 its exact residual; the absolute error of e (~2^-60) is below 2^-54
 *                 relative to 1 - e >= 2a.
 * float32: the same in double with sigcy_exp_nonpos_f (relative error 2e-10) and the series
 * below 2^-4, rounded once.  NaN is returned unchanged, and so is 0.0 with its sign.
 * Measured max error (baseline and avx2 builds, long double reference): float64 1.42 ULP
 * (near |x| = 0.15, where 1 - e cancels), float32 0.51 ULP.  The avx512 build uses the
 * intrinsic kernels of sigcy_kernels_avx512.h instead (0.56 and 0.54 ULP).
 */
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
    r = a == 0.0 ? x : r;                                   /* -0.0 -> -0.0 */
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
    r = a == 0.0 ? x : r;                                   /* -0.0 -> -0.0 */
    return SIGCY_KEEP_NAN(xf, (float)r);
}

/* ---------------------------------------------------------------- array loops (sigcy_kernels.c) */
/* y[i*oss] = kernel(x[i*iss]) for i < n; strides in bytes, any sign; x == y allowed. */
void sigcy_sigmoid_d_strided(const char *x, ptrdiff_t iss, char *y, ptrdiff_t oss, ptrdiff_t n);
void sigcy_sigmoid_f_strided(const char *x, ptrdiff_t iss, char *y, ptrdiff_t oss, ptrdiff_t n);
void sigcy_sigmoid_derivative_d_strided(const char *x, ptrdiff_t iss, char *y, ptrdiff_t oss, ptrdiff_t n);
void sigcy_sigmoid_derivative_f_strided(const char *x, ptrdiff_t iss, char *y, ptrdiff_t oss, ptrdiff_t n);
void sigcy_log_sigmoid_d_strided(const char *x, ptrdiff_t iss, char *y, ptrdiff_t oss, ptrdiff_t n);
void sigcy_log_sigmoid_f_strided(const char *x, ptrdiff_t iss, char *y, ptrdiff_t oss, ptrdiff_t n);
void sigcy_tanh_d_strided(const char *x, ptrdiff_t iss, char *y, ptrdiff_t oss, ptrdiff_t n);
void sigcy_tanh_f_strided(const char *x, ptrdiff_t iss, char *y, ptrdiff_t oss, ptrdiff_t n);
/* c[i*rs + j] = act(c[i*rs + j] + b[j]) for i < m, j < n (rs in elements): the forward step of
 * the recurrence over m rows of H, in place. */
void sigcy_bias_tanh_rows_d(double *c, ptrdiff_t rs, const double *b, ptrdiff_t m, ptrdiff_t n);
void sigcy_bias_tanh_rows_f(float *c, ptrdiff_t rs, const float *b, ptrdiff_t m, ptrdiff_t n);
void sigcy_bias_sigmoid_rows_d(double *c, ptrdiff_t rs, const double *b, ptrdiff_t m, ptrdiff_t n);
void sigcy_bias_sigmoid_rows_f(float *c, ptrdiff_t rs, const float *b, ptrdiff_t m, ptrdiff_t n);

/* Install the loops of an instruction-set level (sigcy_isa.h), once per module, at import;
 * returns the variant installed: "avx512", "avx2" or "baseline". */
const char *sigcy_kernels_set_level(int level);

#ifdef __cplusplus
}
#endif

#endif /* SIGCY_KERNELS_H */
