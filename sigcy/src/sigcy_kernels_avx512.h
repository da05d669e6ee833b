/*
 * sigcy_kernels_avx512.h -- AVX-512 kernels for the avx512 build of sigcy_kernels.c only
 * (included there when __AVX512F__, __AVX512DQ__ and __AVX512VL__ are defined, i.e. with
 * -march=x86-64-v4): all six kernels (three functions, float32 and float64) and the tanh of the
 * recurrences.  The baseline and avx2 builds keep the plain C kernels of sigcy_kernels.h.
 *
 * Why intrinsics: the C kernels are throughput-bound on vector instructions, and AVX-512 has
 * instructions that gcc does not generate from C and that remove many of them:
 *   vscalefps/pd  m * 2^k in one instruction, rounded once (also to a subnormal result), 0 or
 *                 inf out of range: no 2^k from bits, no two-factor scaling, no |x| > 700 block
 *                 check;
 *   vrcp14ps/pd   1/d to 2^-14, refined with FMA against a double-word divisor, in place of a
 *                 division (or a float division and conversions);
 *   vpermps/vpermt2pd  a 16-entry table lookup in registers (log), no gather.
 *
 * float32 is computed in float arithmetic, 16 lanes (the C kernels compute it in double, 8
 * lanes): exp(r) as a float-float, the sums that matter as exact two-sums, quotients corrected
 * by their residuals (see each kernel).  float64 keeps the double-double exp and corrected
 * quotient of sigcy_kernels.h (in one pass: no |x| > 700 block check), log by a table in
 * registers and a degree-10 polynomial instead of the division of fdlibm's log1p.
 *
 * Accuracy (avx512 build; bounds 1 / 2 / 2 ULP), float32 exhaustively (all 2^32 inputs against
 * long double), float64 on the mpmath table of the tests:
 *   sigmoid             float32 0.59 ULP (0.78 for subnormal results)   float64 0.72
 *   sigmoid_derivative  float32 0.59 ULP (0.78 for subnormal results)   float64 0.77
 *   log_sigmoid         float32 1.07 ULP                                 float64 1.00
 *   tanh                float32 0.63 ULP                                 float64 0.56
 * (tanh: float64 against long double on 4e7 random points over 2^-1074 <= |x| <= 20.)
 * (float64 against 5e6 random points and long double: 0.81, 0.87, 1.16 ULP; the C kernels of
 * the avx2 build measure 0.85, 0.84, 1.23 there.  Worst points found later, checked with
 * mpmath: sigmoid 0.868 at -708.7989654399177, log_sigmoid 1.194 at 36.518337219241175.)
 *
 * NaN propagates (a NaN, not necessarily the same bits: the C kernels return the input NaN).
 * Every element goes through the same instructions (the tail of a block with masked loads and
 * stores), so results do not depend on the position of an element in the array or on the
 * number of threads.  The clamps use vmaxps/vminps with the data as second operand, which is
 * what they return when one operand is NaN.
 */
#ifndef SIGCY_KERNELS_AVX512_H
#define SIGCY_KERNELS_AVX512_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#define SIGCY_AVX512_INLINE static inline __attribute__((always_inline))

/* ---------------------------------------------------------------- float32 */
/*
 * exp(-z) = 2^-k (e_hi + e_lo) for |z| <= 110, k = round(z/ln2) (returned), e_hi + e_lo in
 * [0.7, 1.42] with relative error about 2^-27.  r = k ln2_hi - z is exact (ln2_hi = ln2 rounded
 * to float: both terms are multiples of 2^-25 and |r| < 1/2), 1 + r is an exact two-sum, the
 * rest r^2 P(r) (degree-5 P, the coefficients of sigcy_exp_nonpos_f rounded to float) and
 * k (ln2 - ln2_hi) are added as corrections.  *neg_k = -k when the caller wants it.
 */
SIGCY_AVX512_INLINE __m512 sigcy_avx512_expneg_ff(__m512 z, __m512 *e_hi, __m512 *e_lo,
                                                 __m512 *neg_k)
{
    const __m512 one = _mm512_set1_ps(1.0f), shifter = _mm512_set1_ps(0x1.8p23f);
    __m512 t = _mm512_fmadd_ps(z, _mm512_set1_ps(0x1.715476p+0f), shifter);
    __m512 k = _mm512_sub_ps(t, shifter);
    *neg_k = _mm512_sub_ps(shifter, t);
    __m512 r = _mm512_fmsub_ps(k, _mm512_set1_ps(0x1.62e430p-1f), z);    /* exact */
    __m512 kl = _mm512_mul_ps(k, _mm512_set1_ps(-0x1.05c610p-29f));      /* k (ln2 - ln2_hi) */
    __m512 s = _mm512_add_ps(one, r);
    __m512 s_lo = _mm512_add_ps(_mm512_sub_ps(one, s), r);                /* exact */
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 P = _mm512_fmadd_ps(_mm512_set1_ps(0x1.a1256cp-13f), r,
                               _mm512_set1_ps(0x1.6d43b0p-10f));
    P = _mm512_fmadd_ps(P, r, _mm512_set1_ps(0x1.1110e0p-7f));
    P = _mm512_fmadd_ps(P, r, _mm512_set1_ps(0x1.5554e8p-5f));
    P = _mm512_fmadd_ps(P, r, _mm512_set1_ps(0x1.555556p-3f));
    P = _mm512_fmadd_ps(P, r, _mm512_set1_ps(0.5f));
    __m512 v = _mm512_fmadd_ps(r2, P, s_lo);
    __m512 h = _mm512_add_ps(s, v);
    __m512 l = _mm512_add_ps(_mm512_sub_ps(s, h), v);                     /* exact */
    *e_hi = h;
    *e_lo = _mm512_fmadd_ps(kl, h, l);                     /* exp(r + kl) ~ exp(r) (1 + kl) */
    return k;
}

/*
 * 1/(D + D_lo) = y0 (1 + t): y0 by vrcp14ps, t from its residual to second order (relative
 * error about 2^-42 before rounding).
 */
SIGCY_AVX512_INLINE __m512 sigcy_avx512_recip_ff(__m512 D, __m512 D_lo, __m512 *t)
{
    __m512 y0 = _mm512_rcp14_ps(D);
    __m512 res = _mm512_fnmadd_ps(D_lo, y0, _mm512_fnmadd_ps(D, y0, _mm512_set1_ps(1.0f)));
    *t = _mm512_fmadd_ps(res, res, res);
    return y0;
}

/*
 * D + D_lo = 2^k + (e_hi + e_lo) exactly (up to e_lo's rounding), e_hi in [0.7, 1.42]:
 * Fast2Sum of the larger and the smaller of 2^k and e_hi.
 */
SIGCY_AVX512_INLINE __m512 sigcy_avx512_pow2_plus(__m512 k, __m512 e_hi, __m512 e_lo,
                                                  __m512 *D_lo)
{
    __m512 p = _mm512_scalef_ps(_mm512_set1_ps(1.0f), k);
    __m512 a = _mm512_max_ps(p, e_hi), b = _mm512_min_ps(p, e_hi);
    __m512 D = _mm512_add_ps(a, b);
    *D_lo = _mm512_add_ps(_mm512_sub_ps(b, _mm512_sub_ps(D, a)), e_lo);
    return D;
}

/*
 * sigmoid(x) = 1/(1 + exp(-x)) = 2^k / (2^k + e) with exp(-x) = 2^-k e, x clamped to
 * [-110, 20]: no sign select.  1/D rounded once from y0 (1 + t), then scaled by 2^k (exact for
 * normal results; a subnormal result is rounded a second time, hence 0.75 ULP there).
 */
SIGCY_AVX512_INLINE __m512 sigcy_avx512_sigmoid_f16(__m512 x)
{
    __m512 e_hi, e_lo, neg_k, D_lo, t;
    __m512 xc = _mm512_min_ps(_mm512_set1_ps(20.0f),
                              _mm512_max_ps(_mm512_set1_ps(-110.0f), x));
    __m512 k = sigcy_avx512_expneg_ff(xc, &e_hi, &e_lo, &neg_k);
    __m512 D = sigcy_avx512_pow2_plus(k, e_hi, e_lo, &D_lo);
    __m512 y0 = sigcy_avx512_recip_ff(D, D_lo, &t);
    return _mm512_scalef_ps(_mm512_fmadd_ps(y0, t, y0), k);
}

/*
 * sigmoid'(x) with x' = -|x| (clamped at -110), exp(-x') = 2^-k e, D = 2^k + e (k <= 0):
 * sigmoid(x') = 2^k / D, sigmoid(-x') = e / D, sigmoid'(x) = 2^k (1/D) (e/D).  1/D as y0 + y_lo,
 * e/D as q + q_lo (quotient corrected by its residual), their product rounded once, then scaled.
 */
SIGCY_AVX512_INLINE __m512 sigcy_avx512_sigmoid_derivative_f16(__m512 x)
{
    __m512 e_hi, e_lo, neg_k, D_lo, t;
    __m512 xc = _mm512_max_ps(_mm512_set1_ps(-110.0f),
                              _mm512_or_ps(x, _mm512_set1_ps(-0.0f)));
    __m512 k = sigcy_avx512_expneg_ff(xc, &e_hi, &e_lo, &neg_k);
    __m512 D = sigcy_avx512_pow2_plus(k, e_hi, e_lo, &D_lo);
    __m512 y0 = sigcy_avx512_recip_ff(D, D_lo, &t);
    __m512 y_lo = _mm512_mul_ps(y0, t);                        /* 1/D = y0 + y_lo */
    __m512 y = _mm512_add_ps(y0, y_lo);
    __m512 q = _mm512_mul_ps(e_hi, y);
    __m512 qr = _mm512_fnmadd_ps(q, D, e_hi);
    qr = _mm512_add_ps(_mm512_fnmadd_ps(q, D_lo, qr), e_lo);
    __m512 q_lo = _mm512_mul_ps(qr, y);                        /* e/D = q + q_lo */
    __m512 c = _mm512_fmadd_ps(q, y_lo, _mm512_mul_ps(q_lo, y0));
    return _mm512_scalef_ps(_mm512_fmadd_ps(q, y0, c), k);
}

/*
 * log_sigmoid(x) = min(x, 0) - log(1 + e), e = exp(-|x|) = e_hi + e_lo (|x| clamped at 110),
 * d + d_lo = 1 + e exactly, log(d + d_lo) = log(c_j) + log(1 + u) with c_j = 1 + j/15,
 * j = round(15 (d - 1)), from 16-entry tables in registers (vpermps), u = (d + d_lo)/c_j - 1 as
 * u_hi + u_lo, |u| <= 1/30, log(1 + u) by its Taylor polynomial to u^5 (relative error 2^-27),
 * log(c_j) as a float-float.  c_0 = 1: for small e, u = e exactly and log(1 + e) keeps its
 * relative accuracy.
 */
SIGCY_AVX512_INLINE __m512 sigcy_avx512_log_sigmoid_f16(__m512 x)
{
    static const float invc[16] __attribute__((aligned(64))) = {
        0x1.000000p+0f, 0x1.e00000p-1f, 0x1.c3c3c4p-1f, 0x1.aaaaaap-1f,
        0x1.9435e6p-1f, 0x1.800000p-1f, 0x1.6db6dcp-1f, 0x1.5d1746p-1f,
        0x1.4de9bep-1f, 0x1.400000p-1f, 0x1.333334p-1f, 0x1.276276p-1f,
        0x1.1c71c8p-1f, 0x1.124924p-1f, 0x1.08d3dcp-1f, 0x1.000000p-1f};
    /* -log(invc[j]) = logc_hi + logc_lo (mpmath) */
    static const float logc_hi[16] __attribute__((aligned(64))) = {
        0x0.0p+0f, 0x1.08598cp-4f, 0x1.005588p-3f, 0x1.756504p-3f,
        0x1.e41fc8p-3f, 0x1.269622p-2f, 0x1.588c2cp-2f, 0x1.882f1ep-2f,
        0x1.b5b3e0p-2f, 0x1.e148a2p-2f, 0x1.058aeep-1f, 0x1.199facp-1f,
        0x1.2cf25ep-1f, 0x1.3f9128p-1f, 0x1.5188a6p-1f, 0x1.62e430p-1f};
    static const float logc_lo[16] __attribute__((aligned(64))) = {
        0x0.0p+0f, -0x1.4c38c0p-29f, -0x1.8f66d8p-29f, 0x1.45f26cp-29f,
        -0x1.561bdep-31f, -0x1.d9648ep-27f, -0x1.0cca0ap-31f, 0x1.bed930p-28f,
        -0x1.2183eap-29f, -0x1.76364cp-28f, 0x1.4aefc0p-27f, 0x1.59f1e0p-26f,
        0x1.3f5834p-29f, 0x1.8d464ap-27f, -0x1.4fa54ap-30f, -0x1.05c610p-29f};
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 m_hi, m_lo, neg_k;
    __m512 ax = _mm512_min_ps(_mm512_set1_ps(110.0f), _mm512_abs_ps(x));
    (void)sigcy_avx512_expneg_ff(ax, &m_hi, &m_lo, &neg_k);
    __m512 e_hi = _mm512_scalef_ps(m_hi, neg_k), e_lo = _mm512_scalef_ps(m_lo, neg_k);
    __m512 d = _mm512_add_ps(one, e_hi);
    __m512 d_lo = _mm512_add_ps(_mm512_add_ps(_mm512_sub_ps(one, d), e_hi), e_lo);
    /* j = round(15 (d - 1)) in the low bits of the float */
    __m512i j = _mm512_castps_si512(_mm512_fmadd_ps(d, _mm512_set1_ps(15.0f),
                                                    _mm512_set1_ps(0x1.8p23f - 15.0f)));
    __m512 ic = _mm512_permutexvar_ps(j, _mm512_load_ps(invc));
    __m512 u_hi = _mm512_fmsub_ps(d, ic, one);
    __m512 u_lo = _mm512_mul_ps(d_lo, ic);
    __m512 u = _mm512_add_ps(u_hi, u_lo);     /* u_hi alone is short: d - 1 has ulp 2^-23 */
    __m512 u2 = _mm512_mul_ps(u, u);
    __m512 Q = _mm512_fmadd_ps(_mm512_set1_ps(0x1.99999ap-3f), u, _mm512_set1_ps(-0.25f));
    Q = _mm512_fmadd_ps(Q, u, _mm512_set1_ps(0x1.555556p-2f));
    Q = _mm512_fmadd_ps(Q, u, _mm512_set1_ps(-0.5f));
    __m512 t = _mm512_add_ps(_mm512_fmadd_ps(u2, Q, u_lo),
                             _mm512_permutexvar_ps(j, _mm512_load_ps(logc_lo)));
    __m512 L = _mm512_add_ps(_mm512_permutexvar_ps(j, _mm512_load_ps(logc_hi)),
                             _mm512_add_ps(u_hi, t));
    return _mm512_sub_ps(_mm512_min_ps(x, _mm512_setzero_ps()), L);
}

/*
 * tanh(x) = sign(x) (1 - e)/(1 + e), e = exp(-z), z = 2|x| clamped at 20 (tanh = 1 in float
 * from |x| = 9.011).  exp(-z) = 2^-k exp(r + kl), k = round(z/ln2), r = k ln2_hi - z exact
 * (as in sigcy_avx512_expneg_ff), kl = k (ln2 - ln2_hi).  p = expm1(r + kl) = p_hi + p_lo:
 * r + (r^2/2 + r^3 Q(r) + kl (1 + r)), the parenthesis rounded once with r^2 an exact product
 * (FMA), then a Fast2Sum with r (Q the Taylor polynomial of degree 5, truncation below 2^-32
 * for |r| <= ln2/2).  Then
 *     tanh(|x|) = (2^k - 1 - p) / (2^k + 1 + p),
 * 2^k - 1 and 2^k + 1 as exact sums (Fast2Sum with 1): for k = 0 the numerator is -p itself,
 * which keeps its relative accuracy as x -> 0 (no cancellation: tanh(x) = x for tiny and
 * subnormal x); numerator and denominator are float-floats (Fast2Sums), the quotient is
 * y N with y = 1/D by vrcp14ps and a Newton step, corrected by its residual against both
 * parts and rounded once.  The sign bit of x is copied onto the result (-0.0 -> -0.0); NaN
 * propagates; +-inf gives +-1.  Max error 0.63 ULP (every float32 input against long
 * double; near |x| = 0.17, where k turns 1).
 */
SIGCY_AVX512_INLINE __m512 sigcy_avx512_tanh_f16(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
    const __m512 shifter = _mm512_set1_ps(0x1.8p23f);
    __m512 ax = _mm512_abs_ps(x);
    __m512 z = _mm512_min_ps(_mm512_set1_ps(20.0f), _mm512_add_ps(ax, ax));  /* NaN kept */
    __m512 k = _mm512_sub_ps(_mm512_fmadd_ps(z, _mm512_set1_ps(0x1.715476p+0f), shifter),
                             shifter);
    __m512 r = _mm512_fmsub_ps(k, _mm512_set1_ps(0x1.62e430p-1f), z);     /* exact */
    __m512 kl = _mm512_mul_ps(k, _mm512_set1_ps(-0x1.05c610p-29f));
    /* p = expm1(r + kl) = r + (r^2/2 + r^3 Q(r) + kl (1 + r)) */
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 h2 = _mm512_mul_ps(half, r2);                                   /* exact */
    __m512 h2_lo = _mm512_mul_ps(half, _mm512_fmsub_ps(r, r, r2));         /* exact */
    __m512 Q = _mm512_fmadd_ps(_mm512_set1_ps(0x1.a01a02p-16f), r,
                               _mm512_set1_ps(0x1.a01a02p-13f));
    Q = _mm512_fmadd_ps(Q, r, _mm512_set1_ps(0x1.6c16c2p-10f));
    Q = _mm512_fmadd_ps(Q, r, _mm512_set1_ps(0x1.111112p-7f));
    Q = _mm512_fmadd_ps(Q, r, _mm512_set1_ps(0x1.555556p-5f));
    Q = _mm512_fmadd_ps(Q, r, _mm512_set1_ps(0x1.555556p-3f));
    __m512 tail = _mm512_fmadd_ps(_mm512_mul_ps(r2, r), Q, h2_lo);
    tail = _mm512_fmadd_ps(kl, _mm512_add_ps(one, r), tail);
    __m512 v = _mm512_add_ps(h2, tail);
    __m512 p_hi = _mm512_add_ps(r, v);
    __m512 p_lo = _mm512_add_ps(_mm512_sub_ps(r, p_hi), v);               /* Fast2Sum */
    /* 2^k - 1 = c + c_lo, 2^k + 1 = d + d_lo (exact) */
    __m512 P2 = _mm512_scalef_ps(one, k);
    __m512 c = _mm512_sub_ps(P2, one), c_lo = _mm512_sub_ps(_mm512_sub_ps(P2, c), one);
    __m512 d = _mm512_add_ps(P2, one), d_lo = _mm512_add_ps(_mm512_sub_ps(P2, d), one);
    /* N = c - p, D = d + p (|c|, |d| >= |p_hi| or c = 0: Fast2Sums) */
    __m512 N = _mm512_sub_ps(c, p_hi);
    __m512 N_lo = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(c, N), p_hi),
                                _mm512_sub_ps(c_lo, p_lo));
    __m512 D = _mm512_add_ps(d, p_hi);
    __m512 D_lo = _mm512_add_ps(_mm512_add_ps(_mm512_sub_ps(d, D), p_hi),
                                _mm512_add_ps(d_lo, p_lo));
    /* N/D: y = 1/D to 2^-28, q = N y, corrected by the residual N - q (D + D_lo) */
    __m512 y = _mm512_rcp14_ps(D);
    y = _mm512_fmadd_ps(y, _mm512_fnmadd_ps(D, y, one), y);
    __m512 q = _mm512_mul_ps(N, y);
    __m512 qr = _mm512_fnmadd_ps(q, D, N);
    qr = _mm512_add_ps(_mm512_fnmadd_ps(q, D_lo, qr), N_lo);
    __m512 th = _mm512_fmadd_ps(qr, y, q);
    /* the sign bit of x, the other bits of tanh(|x|) */
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(
        _mm512_set1_epi32(INT32_MIN), _mm512_castps_si512(x), _mm512_castps_si512(th), 0xCA));
}

/* y[i] = KERNEL16(x[i]) for i < m, float32, 16 at a time, the tail masked. */
#define SIGCY_AVX512_BLOCK_F16(KERNEL16, x, y, m)                                            \
    do {                                                                                     \
        ptrdiff_t i_ = 0;                                                                    \
        for (; i_ + 16 <= (m); i_ += 16)                                                     \
            _mm512_storeu_ps((y) + i_, KERNEL16(_mm512_loadu_ps((x) + i_)));                 \
        if (i_ < (m)) {                                                                      \
            __mmask16 k_ = (__mmask16)((1u << ((m) - i_)) - 1u);                             \
            _mm512_mask_storeu_ps((y) + i_, k_, KERNEL16(_mm512_maskz_loadu_ps(k_, (x) + i_))); \
        }                                                                                    \
    } while (0)

/* ---------------------------------------------------------------- float64 */
/*
 * expm1(r) - ... : r + r^2 P(r) for |r| <= ln2/2 (+ 2^-45), P the degree-10 polynomial of
 * sigcy_exp_core, Estrin's scheme (a Horner chain made the loops latency-bound).
 */
SIGCY_AVX512_INLINE __m512d sigcy_avx512_expm1_poly(__m512d r)
{
#define SIGCY_C(v) _mm512_set1_pd(v)
    __m512d r2 = _mm512_mul_pd(r, r);
    __m512d r4 = _mm512_mul_pd(r2, r2), r8 = _mm512_mul_pd(r4, r4);
    __m512d p01 = _mm512_fmadd_pd(SIGCY_C(0x1.5555555555557p-3), r,
                                  SIGCY_C(0x1.0000000000000p-1));
    __m512d p23 = _mm512_fmadd_pd(SIGCY_C(0x1.11111111100bep-7), r,
                                  SIGCY_C(0x1.5555555555556p-5));
    __m512d p45 = _mm512_fmadd_pd(SIGCY_C(0x1.a01a01abf85abp-13), r,
                                  SIGCY_C(0x1.6c16c16c162c3p-10));
    __m512d p67 = _mm512_fmadd_pd(SIGCY_C(0x1.71de01fdbf9cap-19), r,
                                  SIGCY_C(0x1.a01a01a6e1e2ap-16));
    __m512d p89 = _mm512_fmadd_pd(SIGCY_C(0x1.af4e554377204p-26), r,
                                  SIGCY_C(0x1.27e4db46cddd1p-22));
    __m512d q0 = _mm512_fmadd_pd(p23, r2, p01);
    __m512d q1 = _mm512_fmadd_pd(p67, r2, p45);
    __m512d q2 = _mm512_fmadd_pd(SIGCY_C(0x1.1f7340dbc337ep-29), r2, p89);
    __m512d P = _mm512_fmadd_pd(q2, r8, _mm512_fmadd_pd(q1, r4, q0));
#undef SIGCY_C
    return _mm512_fmadd_pd(r2, P, r);
}

/*
 * exp(-z) = 2^-m (s_hi + s_lo) for |z| <= 746 (or NaN), m = round(z/ln2) (returned),
 * s_hi + s_lo in [0.7, 1.42] with relative error about 2^-54 (as sigcy_exp_nonpos_dd).
 * r = m ln2_53 - z is exact (ln2_53 is ln2 rounded to double: the product is exact in the FMA
 * and the difference is a multiple of 2^-54 below 1/2); the remainder m (ln2 - ln2_53), below
 * 2^-45, is applied to first order at the end.
 */
SIGCY_AVX512_INLINE __m512d sigcy_avx512_expneg_dd(__m512d z, __m512d *s_hi, __m512d *s_lo)
{
    const __m512d shifter = _mm512_set1_pd(0x1.8p52), one = _mm512_set1_pd(1.0);
    __m512d m = _mm512_sub_pd(_mm512_fmadd_pd(z, _mm512_set1_pd(0x1.71547652b82fep+0), shifter),
                              shifter);
    __m512d r = _mm512_fmsub_pd(m, _mm512_set1_pd(0x1.62e42fefa39efp-1), z);     /* exact */
    __m512d m_lo = _mm512_mul_pd(m, _mm512_set1_pd(0x1.abc9e3b39803fp-56));  /* ln2 - ln2_53 */
    __m512d p = sigcy_avx512_expm1_poly(r);
    __m512d h = _mm512_add_pd(one, p);
    __m512d l = _mm512_add_pd(_mm512_sub_pd(one, h), p);                         /* exact */
    *s_hi = h;
    *s_lo = _mm512_fmadd_pd(m_lo, h, l);                  /* times exp(m_lo) = 1 + m_lo */
    return m;
}

/*
 * e = exp(-z) = e_hi + e_lo for 0 <= z <= 746 (or NaN), also unscaled: e = 2^k (s_hi + s_lo)
 * with k = -round(z/ln2).  2^k by vscalefpd, which rounds a subnormal result once: no
 * two-factor path, no |x| > 700 block check.
 */
SIGCY_AVX512_INLINE void
sigcy_avx512_exp_dd(__m512d z, __m512d *e_hi, __m512d *e_lo, __m512d *s_hi, __m512d *s_lo,
                    __m512d *k_out)
{
    __m512d k = _mm512_sub_pd(_mm512_setzero_pd(), sigcy_avx512_expneg_dd(z, s_hi, s_lo));
    *k_out = k;
    *e_hi = _mm512_scalef_pd(*s_hi, k);
    *e_lo = _mm512_scalef_pd(*s_lo, k);
}

/* min(|x|, 746), NaN kept (vminpd returns its second operand when one is NaN) */
SIGCY_AVX512_INLINE __m512d sigcy_avx512_abs_clamp_d(__m512d x)
{
    return _mm512_min_pd(_mm512_set1_pd(746.0), _mm512_abs_pd(x));
}

/* 1/d for a normal double d: relative error about 2^-42 (Newton step with the square term). */
SIGCY_AVX512_INLINE __m512d sigcy_avx512_recip42(__m512d d)
{
    __m512d y = _mm512_rcp14_pd(d);
    __m512d eps = _mm512_fnmadd_pd(d, y, _mm512_set1_pd(1.0));
    return _mm512_fmadd_pd(y, _mm512_fmadd_pd(eps, eps, eps), y);
}

/*
 * sigmoid(x) = 1/(1 + exp(-x)) = 2^m / (2^m + s) with exp(-x) = 2^-m (s + s_lo), x clamped to
 * [-746, 40]: no sign select.  D + D_lo = 2^m + s + s_lo (Fast2Sum of the larger and the
 * smaller of 2^m and s), 1/(D + D_lo) by vrcp14pd, a Newton step with the square term (2^-42)
 * and a correction against D_lo, rounded once, then scaled by 2^m (exact unless the result is
 * subnormal, where it is rounded a second time).
 */
SIGCY_AVX512_INLINE __m512d sigcy_avx512_sigmoid_d8(__m512d x)
{
    const __m512d one = _mm512_set1_pd(1.0);
    __m512d s, s_lo;
    __m512d xc = _mm512_min_pd(_mm512_set1_pd(40.0), _mm512_max_pd(_mm512_set1_pd(-746.0), x));
    __m512d m = sigcy_avx512_expneg_dd(xc, &s, &s_lo);
    __m512d p = _mm512_scalef_pd(one, m);
    __m512d a = _mm512_max_pd(p, s), b = _mm512_min_pd(p, s);
    __m512d D = _mm512_add_pd(a, b);
    __m512d D_lo = _mm512_add_pd(_mm512_sub_pd(b, _mm512_sub_pd(D, a)), s_lo);
    __m512d y = sigcy_avx512_recip42(D);
    __m512d res = _mm512_fnmadd_pd(D_lo, y, _mm512_fnmadd_pd(D, y, one));
    return _mm512_scalef_pd(_mm512_fmadd_pd(y, res, y), m);
}

/*
 * sigmoid'(x) = e/(1+e)^2 = 2^k s/D with e = exp(-|x|) = 2^k s and D = (1+e)^2 as a
 * double-double: the corrected quotient of sigcy_avx512_sigmoid_d8's x < 0 branch.
 */
SIGCY_AVX512_INLINE __m512d
sigcy_avx512_sigmoid_derivative_d8(__m512d x)
{
    const __m512d one = _mm512_set1_pd(1.0);
    __m512d e_hi, e_lo, s_hi, s_lo, k;
    sigcy_avx512_exp_dd(sigcy_avx512_abs_clamp_d(x), &e_hi, &e_lo, &s_hi, &s_lo, &k);
    __m512d d = _mm512_add_pd(one, e_hi);
    __m512d d_lo = _mm512_add_pd(_mm512_add_pd(_mm512_sub_pd(one, d), e_hi), e_lo);
    __m512d D = _mm512_mul_pd(d, d);
    __m512d D_lo = _mm512_fmadd_pd(_mm512_add_pd(d, d), d_lo, _mm512_fmsub_pd(d, d, D));
    __m512d inv = sigcy_avx512_recip42(D);
    __m512d q = _mm512_mul_pd(s_hi, inv);
    __m512d res = _mm512_fnmadd_pd(q, D, s_hi);
    res = _mm512_add_pd(_mm512_fnmadd_pd(q, D_lo, res), s_lo);
    return _mm512_scalef_pd(_mm512_fmadd_pd(res, inv, q), k);
}

/*
 * log_sigmoid(x) = min(x, 0) - log(1 + e), e = exp(-|x|) = e_hi + e_lo, d + d_lo = 1 + e,
 * log(d + d_lo) = log(c_j) + log(1 + u), c_j = 1 + j/15, j = round(15 (d - 1)), from 16-entry
 * tables in registers (vpermt2pd): 1/c_j rounded to double and log(c_j) (that is, -log of the
 * rounded 1/c_j) as a double-double.  u = (d + d_lo)/c_j - 1 = u_hi + u_lo exactly enough:
 * d/c_j = p_hi + p_lo (FMA), u_hi = p_hi - 1 (exact), |u| <= 1/30.  log(1 + u) = u + u^2 Q(u),
 * Q of degree 8 (weighted least squares, relative error 2^-61.3), plus u_lo (1 - u_hi).
 * c_0 = 1: for small e, u = e exactly and log(1 + e) keeps its relative accuracy.
 */
SIGCY_AVX512_INLINE __m512d sigcy_avx512_log_sigmoid_d8(__m512d x)
{
    static const double invc[16] __attribute__((aligned(64))) = {
        0x1.0000000000000p+0, 0x1.e000000000000p-1, 0x1.c3c3c3c3c3c3cp-1, 0x1.aaaaaaaaaaaabp-1,
        0x1.9435e50d79436p-1, 0x1.8000000000000p-1, 0x1.6db6db6db6db7p-1, 0x1.5d1745d1745d1p-1,
        0x1.4de9bd37a6f4ep-1, 0x1.4000000000000p-1, 0x1.3333333333333p-1, 0x1.2762762762762p-1,
        0x1.1c71c71c71c72p-1, 0x1.1249249249249p-1, 0x1.08d3dcb08d3ddp-1, 0x1.0000000000000p-1,
    };
    static const double logc_hi[16] __attribute__((aligned(64))) = {
        0x0.0p+0, 0x1.08598b59e3a07p-4, 0x1.005588ad375aep-3, 0x1.7565011e49675p-3,
        0x1.e41fccb76b0d7p-3, 0x1.269621134db92p-2, 0x1.588c2d913348fp-2, 0x1.882f1ef83ed45p-2,
        0x1.b5b3e24235e88p-2, 0x1.e148a1a2726cep-2, 0x1.058aefa811452p-1, 0x1.199fac68b4ab8p-1,
        0x1.2cf25fad8f1c3p-1, 0x1.3f91275240811p-1, 0x1.5188a4a02d7fep-1, 0x1.62e42fefa39efp-1,
    };
    static const double logc_lo[16] __attribute__((aligned(64))) = {
        0x0.0p+0, -0x1.dd7009902bf32p-58, -0x1.23dbdc498b285p-59,
        -0x1.81495b2eb862bp-57, -0x1.ef0a9ec21b972p-57, 0x1.e0efadd9db02bp-56,
        0x1.fafb06b03f0a5p-57, 0x1.d2273fd0174a6p-56, -0x1.4e3e22530be1bp-60,
        -0x1.ac81cc8a4dfb8p-56, -0x1.c19f73d945334p-60, -0x1.0e0e34e56089ep-58,
        0x1.0a35884260cffp-56, 0x1.4d147676db21dp-55, 0x1.5cc1daef69b6ap-55,
        0x1.abc9e3b39803fp-56,
    };
#define SIGCY_C(v) _mm512_set1_pd(v)
#define SIGCY_TABLE(t, j) _mm512_permutex2var_pd(_mm512_load_pd(t), (j), _mm512_load_pd((t) + 8))
    const __m512d one = _mm512_set1_pd(1.0);
    __m512d e_hi, e_lo, s_hi, s_lo, k;
    sigcy_avx512_exp_dd(sigcy_avx512_abs_clamp_d(x), &e_hi, &e_lo, &s_hi, &s_lo, &k);
    __m512d d = _mm512_add_pd(one, e_hi);
    __m512d d_lo = _mm512_add_pd(_mm512_add_pd(_mm512_sub_pd(one, d), e_hi), e_lo);
    /* j = round(15 (d - 1)) in the low bits of the double */
    __m512i j = _mm512_castpd_si512(_mm512_fmadd_pd(d, SIGCY_C(15.0),
                                                    SIGCY_C(0x1.8p52 - 15.0)));
    __m512d ic = SIGCY_TABLE(invc, j);
    __m512d p_hi = _mm512_mul_pd(d, ic);
    __m512d p_lo = _mm512_fmsub_pd(d, ic, p_hi);                        /* exact */
    __m512d u_hi = _mm512_sub_pd(p_hi, one);                             /* exact */
    __m512d u_lo = _mm512_fmadd_pd(d_lo, ic, p_lo);
    __m512d u2 = _mm512_mul_pd(u_hi, u_hi), u4 = _mm512_mul_pd(u2, u2);
    __m512d u8 = _mm512_mul_pd(u4, u4);
    __m512d q01 = _mm512_fmadd_pd(SIGCY_C(0x1.55555555554a2p-2), u_hi,
                                  SIGCY_C(-0x1.0000000000000p-1));
    __m512d q23 = _mm512_fmadd_pd(SIGCY_C(0x1.9999999c8d611p-3), u_hi,
                                  SIGCY_C(-0x1.ffffffffffef3p-3));
    __m512d q45 = _mm512_fmadd_pd(SIGCY_C(0x1.24922a032768cp-3), u_hi,
                                  SIGCY_C(-0x1.55555557daeedp-3));
    __m512d q67 = _mm512_fmadd_pd(SIGCY_C(0x1.c81fbde2d0401p-4), u_hi,
                                  SIGCY_C(-0x1.ffffc8a7b00d8p-4));
    __m512d Q = _mm512_fmadd_pd(_mm512_fmadd_pd(q67, u2, q45), u4, _mm512_fmadd_pd(q23, u2, q01));
    Q = _mm512_fmadd_pd(SIGCY_C(-0x1.9a849790d3073p-4), u8, Q);
    /* u^2 Q + u_lo (1 - u_hi) + log(c_j)_lo, then + u_hi, then + log(c_j)_hi */
    __m512d t = _mm512_fmadd_pd(u2, Q, _mm512_fnmadd_pd(u_lo, u_hi, u_lo));
    t = _mm512_add_pd(t, SIGCY_TABLE(logc_lo, j));
    __m512d L = _mm512_add_pd(SIGCY_TABLE(logc_hi, j), _mm512_add_pd(u_hi, t));
    return _mm512_sub_pd(_mm512_min_pd(x, _mm512_setzero_pd()), L);
#undef SIGCY_TABLE
#undef SIGCY_C
}

/*
 * tanh(x) for float64: the method of sigcy_avx512_tanh_f16 in double, z = 2|x| clamped at 40
 * (tanh = 1 from |x| = 19.06), exp(-z) = 2^-m exp(r + m_lo) as in sigcy_avx512_expneg_dd, and
 * p = expm1(r) = r + r^2/2 + r^3 Q(r) as a double-double (Q: sigcy_avx512_expm1_poly's
 * polynomial without its constant term, Estrin's scheme), so the absolute error of p is about
 * 2^-59 and for m = 0 its relative error about 2^-56.  Numerator -p (m = 0) or 2^m - (1 + p),
 * denominator 2^m + (1 + p), quotient by vrcp14pd with a Newton step (2^-42) corrected by the
 * exact residual and rounded once.
 */
SIGCY_AVX512_INLINE __m512d sigcy_avx512_tanh_d8(__m512d x)
{
#define SIGCY_C(v) _mm512_set1_pd(v)
    const __m512d one = _mm512_set1_pd(1.0), half = _mm512_set1_pd(0.5);
    const __m512d shifter = _mm512_set1_pd(0x1.8p52);
    __m512d ax = _mm512_abs_pd(x);
    __m512d z = _mm512_min_pd(SIGCY_C(40.0), _mm512_add_pd(ax, ax));       /* NaN kept */
    __m512d m = _mm512_sub_pd(_mm512_fmadd_pd(z, SIGCY_C(0x1.71547652b82fep+0), shifter),
                              shifter);
    __m512d r = _mm512_fmsub_pd(m, SIGCY_C(0x1.62e42fefa39efp-1), z);      /* exact */
    __m512d m_lo = _mm512_mul_pd(m, SIGCY_C(0x1.abc9e3b39803fp-56));       /* ln2 - ln2_53 */
    /* p = expm1(r) = r + r^2/2 + r^3 Q(r) */
    __m512d r2 = _mm512_mul_pd(r, r);
    __m512d h2 = _mm512_mul_pd(half, r2);                                  /* exact */
    __m512d h2_lo = _mm512_mul_pd(half, _mm512_fmsub_pd(r, r, r2));        /* exact */
    __m512d r4 = _mm512_mul_pd(r2, r2), r8 = _mm512_mul_pd(r4, r4);
    __m512d q12 = _mm512_fmadd_pd(SIGCY_C(0x1.5555555555556p-5), r, SIGCY_C(0x1.5555555555557p-3));
    __m512d q34 = _mm512_fmadd_pd(SIGCY_C(0x1.6c16c16c162c3p-10), r, SIGCY_C(0x1.11111111100bep-7));
    __m512d q56 = _mm512_fmadd_pd(SIGCY_C(0x1.a01a01a6e1e2ap-16), r, SIGCY_C(0x1.a01a01abf85abp-13));
    __m512d q78 = _mm512_fmadd_pd(SIGCY_C(0x1.27e4db46cddd1p-22), r, SIGCY_C(0x1.71de01fdbf9cap-19));
    __m512d q90 = _mm512_fmadd_pd(SIGCY_C(0x1.1f7340dbc337ep-29), r, SIGCY_C(0x1.af4e554377204p-26));
    __m512d Q = _mm512_fmadd_pd(_mm512_fmadd_pd(q78, r2, q56), r4, _mm512_fmadd_pd(q34, r2, q12));
    Q = _mm512_fmadd_pd(q90, r8, Q);
    __m512d tail = _mm512_fmadd_pd(_mm512_mul_pd(r2, r), Q, h2_lo);
    __m512d u = _mm512_add_pd(r, h2);
    __m512d u_lo = _mm512_add_pd(_mm512_add_pd(_mm512_sub_pd(r, u), h2), tail);
    __m512d p_hi = _mm512_add_pd(u, u_lo);                       /* renormalized: Fast2Sum */
    __m512d p_lo = _mm512_add_pd(_mm512_sub_pd(u, p_hi), u_lo);
    p_lo = _mm512_fmadd_pd(m_lo, _mm512_add_pd(one, p_hi), p_lo);       /* exp(m_lo) = 1 + m_lo */
    /* s = 1 + p */
    __m512d s_hi = _mm512_add_pd(one, p_hi);
    __m512d s_lo = _mm512_add_pd(_mm512_add_pd(_mm512_sub_pd(one, s_hi), p_hi), p_lo);
    /* numerator: -p (m = 0) or 2^m - s */
    __mmask8 m0 = _mm512_cmp_pd_mask(m, _mm512_setzero_pd(), _CMP_EQ_OQ);
    __m512d c = _mm512_maskz_scalef_pd((__mmask8)~m0, one, m);           /* 0 or 2^m */
    __m512d t_hi = _mm512_mask_blend_pd(m0, s_hi, p_hi);
    __m512d t_lo = _mm512_mask_blend_pd(m0, s_lo, p_lo);
    __m512d N = _mm512_sub_pd(c, t_hi);
    __m512d N_lo = _mm512_sub_pd(_mm512_sub_pd(_mm512_sub_pd(c, N), t_hi), t_lo);
    /* denominator 2^m + s (Fast2Sum of the larger and the smaller), quotient */
    __m512d P2 = _mm512_scalef_pd(one, m);
    __m512d a = _mm512_max_pd(P2, s_hi), b = _mm512_min_pd(P2, s_hi);
    __m512d D = _mm512_add_pd(a, b);
    __m512d D_lo = _mm512_add_pd(_mm512_sub_pd(b, _mm512_sub_pd(D, a)), s_lo);
    __m512d y = sigcy_avx512_recip42(D);
    __m512d q = _mm512_mul_pd(N, y);
    __m512d qr = _mm512_fnmadd_pd(q, D, N);
    qr = _mm512_add_pd(_mm512_fnmadd_pd(q, D_lo, qr), N_lo);
    __m512d th = _mm512_fmadd_pd(qr, y, q);
#undef SIGCY_C
    return _mm512_castsi512_pd(_mm512_ternarylogic_epi64(
        _mm512_set1_epi64(INT64_MIN), _mm512_castpd_si512(x), _mm512_castpd_si512(th), 0xCA));
}

/* y[i] = KERNEL8(x[i]) for i < m, float64, 8 at a time, the tail masked. */
#define SIGCY_AVX512_BLOCK_D(KERNEL8, x, y, m)                                               \
    do {                                                                                     \
        ptrdiff_t i_ = 0;                                                                    \
        for (; i_ + 8 <= (m); i_ += 8)                                                       \
            _mm512_storeu_pd((y) + i_, KERNEL8(_mm512_loadu_pd((x) + i_)));                  \
        if (i_ < (m)) {                                                                      \
            __mmask8 k_ = (__mmask8)((1u << ((m) - i_)) - 1u);                               \
            _mm512_mask_storeu_pd((y) + i_, k_, KERNEL8(_mm512_maskz_loadu_pd(k_, (x) + i_))); \
        }                                                                                    \
    } while (0)

#endif /* SIGCY_KERNELS_AVX512_H */
