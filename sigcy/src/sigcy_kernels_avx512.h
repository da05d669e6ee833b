/*
 * sigcy_kernels_avx512.h -- AVX-512 versions of the float32 kernels and of float64 sigmoid,
 * for the avx512 build of sigcy_kernels.c only (included there when __AVX512F__, __AVX512DQ__
 * and __AVX512VL__ are defined, i.e. -march=x86-64-v4).
 *
 * Why intrinsics: the plain-C float32 kernels are throughput-bound on vector instructions, and
 * three AVX-512 instructions that gcc does not generate from C remove most of them:
 *   vscalefpd   p * 2^k in one instruction, correctly rounded, 0 or inf outside the range,
 *               so exp(-x) needs neither |x| and a select nor 2^k built from bits;
 *   vrcp14pd    1/d to 2^-14 for any double, refined by one Newton step (FMA) to ~2^-28, in
 *               place of a float division and conversions;
 *   vrangepd    min(|x|, c) with or without the sign of x in one instruction.
 *
 * float32 sigmoid is computed in float arithmetic, 16 lanes (sigcy_avx512_sigmoid_f16:
 * float-float exp and denominator, see there): within 0.57 ULP for normal results and 0.75 ULP for
 * subnormal ones (a second rounding by the final scaling), checked on every 101st float32
 * against long double.  The other float32 kernels are computed in double and rounded once.  With
 * E = exp(-x) over the whole clamped range (|x| <= 110, E in [2^-159, 2^159], a double):
 *     sigmoid_derivative(x) = E / (1 + E)^2
 * no sign select is needed: the relative error of E (~2^-32, degree-7 polynomial) and of the
 * reciprocal (~2^-28) keep the float32 result within 0.5 + 2^-3 ULP.
 * log_sigmoid(x) = min(x, 0) - log(1 + e) with e = exp(-|x|) in (0, 1]: log(d + d_lo) for
 * d = 1 + e by a 16-entry table (in registers, vpermt2pd) of c_j = 1 + j/15 and a degree-6
 * polynomial in u = d/c_j - 1, |u| <= 1/30; c_0 = 1 (u = e) keeps log(1 + e) accurate relative to
 * itself for small e.
 *
 * float64 sigmoid and derivative: the double-double exp and corrected quotient of
 * sigcy_kernels.h in one pass (no per-block |x| > 700 check: vscalefpd rounds subnormal results
 * once), the reciprocal by vrcp14pd and a Newton step with the square term (2^-42) instead of a
 * float division.
 *
 * NaN: the float32 derivative and log_sigmoid return a NaN input as it is, as the scalar
 * kernels do; float32 sigmoid and the float64 kernels let it propagate through the arithmetic
 * (a NaN, not necessarily the same bits).  Every element goes through the
 * same instructions (the tail of a block with masked loads and stores), so results do not
 * depend on the position of an element in the array or on the number of threads.
 */
#ifndef SIGCY_KERNELS_AVX512_H
#define SIGCY_KERNELS_AVX512_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

/* exp(-x) for |x| <= 110 (double lanes): relative error about 2^-32. */
static inline __attribute__((always_inline)) __m512d sigcy_avx512_expneg_f(__m512d x)
{
    const __m512d shifter = _mm512_set1_pd(0x1.8p52);
    __m512d t = _mm512_fmadd_pd(x, _mm512_set1_pd(-0x1.71547652b82fep+0), shifter);
    __m512d k = _mm512_sub_pd(t, shifter);                              /* round(-x/ln2) */
    /* r = -x - k ln2, |r| <= ln2/2; the rounding of ln2 costs |k| 2^-54 < 2^-46 */
    __m512d r = _mm512_fnmsub_pd(k, _mm512_set1_pd(0x1.62e42fefa39efp-1), x);
    /* 1 + r + r^2 P(r), the coefficients of sigcy_exp_nonpos_f, in Horner's scheme (this
     * loop is throughput-bound: Estrin's scheme, two instructions more, was not faster) */
    __m512d p = _mm512_fmadd_pd(_mm512_set1_pd(0x1.a1256cd2f13c2p-13), r,
                                _mm512_set1_pd(0x1.6d43af18200d3p-10));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(0x1.1110e0c5c7f50p-7));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(0x1.5554e8a22b84cp-5));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(0x1.5555555a800cdp-3));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(0x1.0000000ba132cp-1));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0));
    return _mm512_scalef_pd(p, k);
}

/* 1/d for a normal double d >= 1: relative error about 2^-28. */
static inline __attribute__((always_inline)) __m512d sigcy_avx512_recip(__m512d d)
{
    __m512d y = _mm512_rcp14_pd(d);
    __m512d eps = _mm512_fnmadd_pd(d, y, _mm512_set1_pd(1.0));
    return _mm512_fmadd_pd(y, eps, y);
}

/* min(|x|, 110) with the sign of x (imm 0x02), or without it (0x0a): exp(-x) stays finite and
 * nonzero.  vrangepd maps NaN to 110: NaN inputs are put back at the end (KEEP_NAN). */
#define SIGCY_AVX512_CLAMP(x) _mm512_range_pd((x), _mm512_set1_pd(110.0), 0x02)
#define SIGCY_AVX512_ABS_CLAMP(x) _mm512_range_pd((x), _mm512_set1_pd(110.0), 0x0a)
#define SIGCY_AVX512_KEEP_NAN(xf, res) \
    _mm256_mask_mov_ps((res), _mm256_cmp_ps_mask((xf), (xf), _CMP_UNORD_Q), (xf))

static inline __attribute__((always_inline)) __m256 sigcy_avx512_sigmoid_derivative_f8(__m256 xf)
{
    __m512d x = SIGCY_AVX512_CLAMP(_mm512_cvtps_pd(xf));
    __m512d e = sigcy_avx512_expneg_f(x);
    __m512d y = sigcy_avx512_recip(_mm512_add_pd(e, _mm512_set1_pd(1.0)));
    return SIGCY_AVX512_KEEP_NAN(xf, _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_mul_pd(e, y), y)));
}

/*
 * float32 sigmoid in float arithmetic, 16 lanes.  With -x = -k ln2 + r (k = round(x/ln2),
 * x clamped to [-110, 20]) and E = exp(-x) = 2^-k exp(r):
 *     sigmoid(x) = 1/(1 + E) = 2^k / (2^k + exp(r))
 * exp(r) as e_hi + e_lo (float-float: 1 + r exact as a sum, the rest a degree-5 polynomial),
 * D = 2^k + exp(r) as a float-float sum (Fast2Sum of the larger and the smaller part), 1/D by
 * vrcp14ps refined against D_hi + D_lo (residual cubed, ~2^-42), then one scaling by 2^k that
 * rounds subnormal results once more.
 */
static inline __attribute__((always_inline)) __m512 sigcy_avx512_sigmoid_f16(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f), shifter = _mm512_set1_ps(0x1.8p23f);
    /* NaN-propagating clamp: vmaxps/vminps return the second operand when one is NaN */
    __m512 xc = _mm512_min_ps(_mm512_set1_ps(20.0f), _mm512_max_ps(_mm512_set1_ps(-110.0f), x));
    __m512 k = _mm512_sub_ps(_mm512_fmadd_ps(xc, _mm512_set1_ps(0x1.715476p+0f), shifter), shifter);
    __m512 r = _mm512_fmsub_ps(k, _mm512_set1_ps(0x1.62e430p-1f), xc);   /* exact, |r| < ln2/2 */
    __m512 kl = _mm512_mul_ps(k, _mm512_set1_ps(-0x1.05c610p-29f));      /* k (ln2 - ln2_hi) */
    __m512 s = _mm512_add_ps(one, r);
    __m512 s_lo = _mm512_add_ps(_mm512_sub_ps(one, s), r);                /* exact */
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 P = _mm512_fmadd_ps(_mm512_set1_ps(0x1.a1256cp-13f), r, _mm512_set1_ps(0x1.6d43b0p-10f));
    P = _mm512_fmadd_ps(P, r, _mm512_set1_ps(0x1.1110e0p-7f));
    P = _mm512_fmadd_ps(P, r, _mm512_set1_ps(0x1.5554e8p-5f));
    P = _mm512_fmadd_ps(P, r, _mm512_set1_ps(0x1.555556p-3f));
    P = _mm512_fmadd_ps(P, r, _mm512_set1_ps(0.5f));
    __m512 v = _mm512_fmadd_ps(r2, P, s_lo);
    __m512 e_hi = _mm512_add_ps(s, v);
    __m512 e_lo = _mm512_add_ps(_mm512_sub_ps(s, e_hi), v);
    e_lo = _mm512_fmadd_ps(kl, e_hi, e_lo);                   /* exp(r + kl) = exp(r)(1 + kl) */
    __m512 p = _mm512_scalef_ps(one, k);                      /* 2^k */
    __m512 a = _mm512_max_ps(p, e_hi), b = _mm512_min_ps(p, e_hi);
    __m512 D = _mm512_add_ps(a, b);
    __m512 D_lo = _mm512_add_ps(_mm512_sub_ps(b, _mm512_sub_ps(D, a)), e_lo);
    __m512 y = _mm512_rcp14_ps(D);
    __m512 res = _mm512_fnmadd_ps(D_lo, y, _mm512_fnmadd_ps(D, y, one));
    y = _mm512_fmadd_ps(y, _mm512_fmadd_ps(res, res, res), y);
    return _mm512_scalef_ps(y, k);
}

/* 1/c_j rounded to double, c_j = 1 + j/15 (j = 0..15), and log(c_j') = -log(1/c_j) for that
 * double, correctly rounded (mpmath).  log(1 + u) = u + u^2 Q(u) on |u| <= 1/30: a weighted
 * least-squares fit of relative error 2^-36.9. */
static const double sigcy_avx512_invc[16] __attribute__((aligned(64))) = {
    0x1.0000000000000p+0, 0x1.e000000000000p-1, 0x1.c3c3c3c3c3c3cp-1, 0x1.aaaaaaaaaaaabp-1,
    0x1.9435e50d79436p-1, 0x1.8000000000000p-1, 0x1.6db6db6db6db7p-1, 0x1.5d1745d1745d1p-1,
    0x1.4de9bd37a6f4ep-1, 0x1.4000000000000p-1, 0x1.3333333333333p-1, 0x1.2762762762762p-1,
    0x1.1c71c71c71c72p-1, 0x1.1249249249249p-1, 0x1.08d3dcb08d3ddp-1, 0x1.0000000000000p-1,
};
static const double sigcy_avx512_logc[16] __attribute__((aligned(64))) = {
    0x0.0p+0, 0x1.08598b59e3a07p-4, 0x1.005588ad375aep-3, 0x1.7565011e49675p-3,
    0x1.e41fccb76b0d7p-3, 0x1.269621134db92p-2, 0x1.588c2d913348fp-2, 0x1.882f1ef83ed45p-2,
    0x1.b5b3e24235e88p-2, 0x1.e148a1a2726cep-2, 0x1.058aefa811452p-1, 0x1.199fac68b4ab8p-1,
    0x1.2cf25fad8f1c3p-1, 0x1.3f91275240811p-1, 0x1.5188a4a02d7fep-1, 0x1.62e42fefa39efp-1,
};
#define SIGCY_AVX512_LOGQ0 (-0x1.fffffffff434ap-2)
#define SIGCY_AVX512_LOGQ1 0x1.5555502624270p-2
#define SIGCY_AVX512_LOGQ2 (-0x1.fffff8390e7ccp-3)
#define SIGCY_AVX512_LOGQ3 0x1.9a0e37a53bafbp-3
#define SIGCY_AVX512_LOGQ4 (-0x1.55b7bb594a157p-3)

static inline __attribute__((always_inline)) __m256 sigcy_avx512_log_sigmoid_f8(__m256 xf)
{
    const __m512d one = _mm512_set1_pd(1.0);
    __m512d x = _mm512_cvtps_pd(xf);
    __m512d e = sigcy_avx512_expneg_f(SIGCY_AVX512_ABS_CLAMP(x));   /* (0, 1] */
    __m512d d = _mm512_add_pd(one, e);
    __m512d d_lo = _mm512_add_pd(_mm512_sub_pd(one, d), e);             /* exact */
    /* j = round(15 (d - 1)) in [0, 15]: the low bits of t index the tables */
    __m512d t = _mm512_fmadd_pd(d, _mm512_set1_pd(15.0), _mm512_set1_pd(0x1.8p52 - 15.0));
    __m512i j = _mm512_castpd_si512(t);
    __m512d invc = _mm512_permutex2var_pd(_mm512_load_pd(sigcy_avx512_invc), j,
                                          _mm512_load_pd(sigcy_avx512_invc + 8));
    __m512d logc = _mm512_permutex2var_pd(_mm512_load_pd(sigcy_avx512_logc), j,
                                          _mm512_load_pd(sigcy_avx512_logc + 8));
    /* u = (d + d_lo)/c_j - 1, |u| <= 1/30 */
    __m512d u = _mm512_fmadd_pd(d_lo, invc, _mm512_fmsub_pd(d, invc, one));
    __m512d u2 = _mm512_mul_pd(u, u);
    /* log(1 + u) = u + u^2 Q(u) */
    __m512d q = _mm512_fmadd_pd(_mm512_set1_pd(SIGCY_AVX512_LOGQ4), u, _mm512_set1_pd(SIGCY_AVX512_LOGQ3));
    q = _mm512_fmadd_pd(q, u, _mm512_set1_pd(SIGCY_AVX512_LOGQ2));
    q = _mm512_fmadd_pd(q, u, _mm512_set1_pd(SIGCY_AVX512_LOGQ1));
    q = _mm512_fmadd_pd(q, u, _mm512_set1_pd(SIGCY_AVX512_LOGQ0));
    __m512d L = _mm512_add_pd(_mm512_fmadd_pd(u2, q, u), logc);
    __m512d res = _mm512_sub_pd(_mm512_min_pd(x, _mm512_setzero_pd()), L);
    return SIGCY_AVX512_KEEP_NAN(xf, _mm512_cvtpd_ps(res));
}

/* y[i] = KERNEL8(x[i]) for i < m, 8 at a time, the tail masked. */
#define SIGCY_AVX512_BLOCK_F(KERNEL8, x, y, m)                                               \
    do {                                                                                     \
        ptrdiff_t i_ = 0;                                                                    \
        for (; i_ + 8 <= (m); i_ += 8)                                                       \
            _mm256_storeu_ps((y) + i_, KERNEL8(_mm256_loadu_ps((x) + i_)));                  \
        if (i_ < (m)) {                                                                      \
            __mmask8 k_ = (__mmask8)((1u << ((m) - i_)) - 1u);                               \
            _mm256_mask_storeu_ps((y) + i_, k_, KERNEL8(_mm256_maskz_loadu_ps(k_, (x) + i_))); \
        }                                                                                    \
    } while (0)


/* ---------------------------------------------------------------- float64 */
/*
 * e^a = e_hi + e_lo for a <= 0 (a >= -746 or NaN), relative error about 2^-54 (as
 * sigcy_exp_nonpos_dd).  a = k ln2 + r with r = a - k ln2_53 exact (ln2_53 is ln2 rounded to
 * double: the product is exact in the FMA and the difference is a multiple of 2^-54 below 1/2),
 * and the remainder k (ln2 - ln2_53) < 2^-45 applied to first order at the end.  2^k by
 * vscalefpd, which rounds a subnormal result once: no two-factor path, no per-block check.
 * Also returns the unscaled parts: e^a = 2^k (s_hi + s_lo).
 */
static inline __attribute__((always_inline)) void
sigcy_avx512_exp_dd(__m512d a, __m512d *e_hi, __m512d *e_lo, __m512d *s_hi, __m512d *s_lo_out, __m512d *k_out)
{
    const __m512d shifter = _mm512_set1_pd(0x1.8p52), one = _mm512_set1_pd(1.0);
    __m512d t = _mm512_fmadd_pd(a, _mm512_set1_pd(0x1.71547652b82fep+0), shifter);
    __m512d k = _mm512_sub_pd(t, shifter);
    __m512d r = _mm512_fnmadd_pd(k, _mm512_set1_pd(0x1.62e42fefa39efp-1), a);    /* exact */
    __m512d k_lo = _mm512_mul_pd(k, _mm512_set1_pd(0x1.abc9e3b39803fp-56));      /* ln2 - ln2_53 */
    __m512d r2 = _mm512_mul_pd(r, r);
    /* exp(r) - 1 - r = r^2 P(r): the degree-10 P of sigcy_exp_core, Estrin's scheme (a
     * Horner chain made the loop latency-bound) */
#define SIGCY_C(v) _mm512_set1_pd(v)
    __m512d r4 = _mm512_mul_pd(r2, r2), r8 = _mm512_mul_pd(r4, r4);
    __m512d p01 = _mm512_fmadd_pd(SIGCY_C(0x1.5555555555557p-3), r, SIGCY_C(0x1.0000000000000p-1));
    __m512d p23 = _mm512_fmadd_pd(SIGCY_C(0x1.11111111100bep-7), r, SIGCY_C(0x1.5555555555556p-5));
    __m512d p45 = _mm512_fmadd_pd(SIGCY_C(0x1.a01a01abf85abp-13), r, SIGCY_C(0x1.6c16c16c162c3p-10));
    __m512d p67 = _mm512_fmadd_pd(SIGCY_C(0x1.71de01fdbf9cap-19), r, SIGCY_C(0x1.a01a01a6e1e2ap-16));
    __m512d p89 = _mm512_fmadd_pd(SIGCY_C(0x1.af4e554377204p-26), r, SIGCY_C(0x1.27e4db46cddd1p-22));
    __m512d q0 = _mm512_fmadd_pd(p23, r2, p01);
    __m512d q1 = _mm512_fmadd_pd(p67, r2, p45);
    __m512d q2 = _mm512_fmadd_pd(SIGCY_C(0x1.1f7340dbc337ep-29), r2, p89);
    __m512d P = _mm512_fmadd_pd(q2, r8, _mm512_fmadd_pd(q1, r4, q0));
#undef SIGCY_C
    __m512d p = _mm512_fmadd_pd(r2, P, r);
    __m512d h = _mm512_add_pd(one, p);
    __m512d s_lo = _mm512_add_pd(_mm512_sub_pd(one, h), p);                        /* exact */
    s_lo = _mm512_fnmadd_pd(k_lo, h, s_lo);                   /* times exp(-k_lo) = 1 - k_lo */
    *s_hi = h;
    *s_lo_out = s_lo;
    *k_out = k;
    *e_hi = _mm512_scalef_pd(h, k);
    *e_lo = _mm512_scalef_pd(s_lo, k);
}

/* -|x| clamped at -746, NaN kept (vmaxpd returns its second operand when one is NaN) */
static inline __attribute__((always_inline)) __m512d sigcy_avx512_negabs_d(__m512d x)
{
    __m512d a = _mm512_or_pd(x, _mm512_set1_pd(-0.0));
    return _mm512_max_pd(_mm512_set1_pd(-746.0), a);
}

/* 1/d for a normal double d: relative error about 2^-42 (Newton step with the square term). */
static inline __attribute__((always_inline)) __m512d sigcy_avx512_recip42(__m512d d)
{
    __m512d y = _mm512_rcp14_pd(d);
    __m512d eps = _mm512_fnmadd_pd(d, y, _mm512_set1_pd(1.0));
    return _mm512_fmadd_pd(y, _mm512_fmadd_pd(eps, eps, eps), y);
}

/*
 * sigmoid(x) = 1/(1+e) for x >= 0, 2^k s/(1+e) for x < 0, with e = exp(-|x|) = 2^k s: the
 * quotient is computed unscaled (normal numbers, exact residual) and scaled at the end, so a
 * subnormal result is rounded from the corrected quotient (within 0.75 ULP there).
 */
static inline __attribute__((always_inline)) __m512d sigcy_avx512_sigmoid_d8(__m512d x)
{
    const __m512d one = _mm512_set1_pd(1.0);
    __m512d e_hi, e_lo, s_hi, s_lo, k;
    sigcy_avx512_exp_dd(sigcy_avx512_negabs_d(x), &e_hi, &e_lo, &s_hi, &s_lo, &k);
    __m512d d = _mm512_add_pd(one, e_hi);
    __m512d d_lo = _mm512_add_pd(_mm512_add_pd(_mm512_sub_pd(one, d), e_hi), e_lo);
    __mmask8 neg = _mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_LT_OQ);
    __m512d n_hi = _mm512_mask_mov_pd(one, neg, s_hi);
    __m512d n_lo = _mm512_maskz_mov_pd(neg, s_lo);
    __m512d inv = sigcy_avx512_recip42(d);
    __m512d q = _mm512_mul_pd(n_hi, inv);
    __m512d res = _mm512_fnmadd_pd(q, d, n_hi);          /* n_hi - q d, one rounding */
    res = _mm512_add_pd(_mm512_fnmadd_pd(q, d_lo, res), n_lo);
    return _mm512_scalef_pd(_mm512_fmadd_pd(res, inv, q), _mm512_maskz_mov_pd(neg, k));
}

/*
 * sigmoid'(x) = e/(1+e)^2 = 2^k s/D with e = exp(-|x|) = 2^k s and D = (1+e)^2 as a
 * double-double: the corrected quotient of sigcy_avx512_sigmoid_d8's x < 0 branch.
 */
static inline __attribute__((always_inline)) __m512d sigcy_avx512_sigmoid_derivative_d8(__m512d x)
{
    const __m512d one = _mm512_set1_pd(1.0);
    __m512d e_hi, e_lo, s_hi, s_lo, k;
    sigcy_avx512_exp_dd(sigcy_avx512_negabs_d(x), &e_hi, &e_lo, &s_hi, &s_lo, &k);
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
 * float32 log_sigmoid in float arithmetic, 16 lanes: min(x, 0) - log(1 + e), e = exp(-|x|)
 * as a float-float (the exp of sigcy_avx512_sigmoid_f16), d + d_lo = 1 + e exactly, and
 * log(d + d_lo) = log(c_j) + log(1 + u) with c_j = 1 + j/15 from a 16-entry table in a register
 * (vpermps), u = (d + d_lo)/c_j - 1, |u| <= 1/30, log(1 + u) by its Taylor polynomial to u^5
 * (relative error 2^-27); log(c_j) and u as float-floats.  c_0 = 1: for small e, u = e exactly
 * and log(1 + e) keeps its relative accuracy.
 */
static inline __attribute__((always_inline)) __m512 sigcy_avx512_log_sigmoid_f16(__m512 x)
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
    const __m512 one = _mm512_set1_ps(1.0f), shifter = _mm512_set1_ps(0x1.8p23f);
    /* |x| clamped at 110, NaN kept (vminps returns its second operand when one is NaN) */
    __m512 ax = _mm512_min_ps(_mm512_set1_ps(110.0f), _mm512_abs_ps(x));
    /* -|x| = k ln2 + r, k <= 0 */
    __m512 k = _mm512_sub_ps(_mm512_fmadd_ps(ax, _mm512_set1_ps(-0x1.715476p+0f), shifter), shifter);
    __m512 r = _mm512_fnmsub_ps(k, _mm512_set1_ps(0x1.62e430p-1f), ax);  /* -k ln2_hi - |x|, exact */
    __m512 kl = _mm512_mul_ps(k, _mm512_set1_ps(0x1.05c610p-29f));       /* -k (ln2 - ln2_hi) */
    __m512 s = _mm512_add_ps(one, r);
    __m512 s_lo = _mm512_add_ps(_mm512_sub_ps(one, s), r);
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 P = _mm512_fmadd_ps(_mm512_set1_ps(0x1.a1256cp-13f), r, _mm512_set1_ps(0x1.6d43b0p-10f));
    P = _mm512_fmadd_ps(P, r, _mm512_set1_ps(0x1.1110e0p-7f));
    P = _mm512_fmadd_ps(P, r, _mm512_set1_ps(0x1.5554e8p-5f));
    P = _mm512_fmadd_ps(P, r, _mm512_set1_ps(0x1.555556p-3f));
    P = _mm512_fmadd_ps(P, r, _mm512_set1_ps(0.5f));
    __m512 v = _mm512_fmadd_ps(r2, P, s_lo);
    __m512 m_hi = _mm512_add_ps(s, v);
    __m512 m_lo = _mm512_add_ps(_mm512_sub_ps(s, m_hi), v);
    m_lo = _mm512_fmadd_ps(kl, m_hi, m_lo);
    __m512 e_hi = _mm512_scalef_ps(m_hi, k), e_lo = _mm512_scalef_ps(m_lo, k);
    __m512 d = _mm512_add_ps(one, e_hi);
    __m512 d_lo = _mm512_add_ps(_mm512_add_ps(_mm512_sub_ps(one, d), e_hi), e_lo);
    /* j = round(15 (d - 1)) in the low bits */
    __m512i j = _mm512_castps_si512(_mm512_fmadd_ps(d, _mm512_set1_ps(15.0f),
                                                    _mm512_set1_ps(0x1.8p23f - 15.0f)));
    __m512 ic = _mm512_permutexvar_ps(j, _mm512_load_ps(invc));
    /* u = u_hi + u_lo; for j = 0 exactly e = e_hi + e_lo, where log(1 + u) ~ u needs both */
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

/*
 * Two-pass float64 block for the kernel whose finishing step stays in C (log_sigmoid): exp(-|x|) as e_hi + e_lo by sigcy_avx512_exp_dd into buffers, then FINISH.
 * Bitwise the same exp as the C pass except that subnormal values are rounded once by vscalefpd.
 */
#define SIGCY_AVX512_BLOCK_D2(FINISH, x, y, m)                                               \
    do {                                                                                     \
        double e_hi[SIGCY_BLOCK] __attribute__((aligned(64)));                               \
        double e_lo[SIGCY_BLOCK] __attribute__((aligned(64)));                               \
        __m512d eh_, el_, sh_, sl_, k_;                                                      \
        ptrdiff_t i_ = 0;                                                                    \
        for (; i_ < (m); i_ += 8) {                                                          \
            ptrdiff_t left_ = (m) - i_;                                                      \
            __mmask8 k8_ = left_ >= 8 ? (__mmask8)0xff : (__mmask8)((1u << left_) - 1u);     \
            sigcy_avx512_exp_dd(sigcy_avx512_negabs_d(_mm512_maskz_loadu_pd(k8_, (x) + i_)), \
                                &eh_, &el_, &sh_, &sl_, &k_);                                \
            _mm512_store_pd(e_hi + i_, eh_);                                                 \
            _mm512_store_pd(e_lo + i_, el_);                                                 \
        }                                                                                    \
        SIGCY_IVDEP                                                                          \
        for (i_ = 0; i_ < (m); i_++) (y)[i_] = FINISH((x)[i_], e_hi[i_], e_lo[i_]);          \
    } while (0)

#endif /* SIGCY_KERNELS_AVX512_H */
