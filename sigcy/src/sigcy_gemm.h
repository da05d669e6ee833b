/*
 * sigcy_gemm.h -- the small GEMMs of the Elman RNN's time loops (sigcy/_rnn.pyx).
 *
 * Design
 * ------
 * Each time step of the recurrence multiplies a few rows (the samples of a block) by the same
 * (n_hidden, n_hidden) matrix.  Through BLAS every step re-packs that matrix (OpenBLAS spent
 * ~40 % of a step at n_hidden = 512 in sgemm_itcopy) and pays a call's fixed cost, which
 * dominates at n_hidden = 32.  Here the matrix is packed once per call (sigcy_pack_*) and
 * every step runs a register-blocked kernel on it:
 *
 *     C[m, n] (+)= A[m, k] @ B[k, n],   A and C row-major with leading dimensions, B packed
 *
 * B is packed in panels of NR columns (32 float32 / 16 float64 values, the width of two
 * AVX-512 registers), each panel k rows of NR contiguous values, zero-padded past n.
 *
 * Reproducibility: every element C[i, j] is computed by the same operations in the same
 * order, acc = C[i, j] (or 0), then acc = acc + A[i, p] * B[p, j] for p = 0, 1, ..., k-1
 * (one fused multiply-add each in the AVX-512 kernel, a product and a sum in the portable
 * one), whatever m, the row tile, the panel or the thread that computes it.  So the rows can
 * be split among threads in any way without changing a bit of the result (unlike a BLAS
 * GEMM, whose summation order may depend on the matrix sizes and its thread count).  The
 * kernel is chosen once per process (sigcy_gemm_init: AVX-512, else AVX2 + FMA, else portable C;
 * SIGCY_DISPATCH=avx2 or baseline asks for a lower one), so a process always gives the same
 * bits.  The portable kernels are a last resort (x86 without AVX2, other compilers and
 * architectures): ~10x slower than the AVX2 ones, the weight-gradient one more.
 */
#ifndef SIGCY_GEMM_H
#define SIGCY_GEMM_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define SIGCY_NR_F 32
#define SIGCY_NR_D 16
#define SIGCY_MR 8
/* Rows of the per-step kernel's main tile: 12 rows x 2 registers = 24 accumulators of the
 * 32 zmm registers (+ 2 for the panel's row, 1 for the broadcast of A), 14 loads per 24 FMAs
 * instead of 10 per 16, and a third less of the panel read per FMA (from L2 at n_hidden
 * = 512, where a panel of k = 512 rows is 64 KB).  Measured on the step GEMMs (64 rows,
 * k = n = 128 and 512, lda = 50 n), 1 thread, interleaved against the 8-row tile: float64
 * +2-7 %, float32 -2..+5 % (12 x 2 against 8 x 2, 21 repeats, two runs).  14 rows (28
 * accumulators) did not fit: gcc kept the accumulators in memory, half the speed. */
#define SIGCY_MR_WIDE 12
/* A^T B: rows per pass (a panel's KC x NR values stay in L1), and the tiles of A's columns
 * (SIGCY_TN_MC_F / _D tiles) that run against all the panels before the next ones, so that
 * the packed A that every panel reads stays in L1 or L2.  Measured on 512 x 512 x 3200,
 * 1 thread, interleaved: float64 KC 256 without column blocking (the 1 MB packed A went
 * through L2 with the 1 MB packed B for every panel) ~60 GFLOP/s, KC 128 with 8 tiles of 8
 * ~67; with the tiles of 12, 2 tiles (24 KB of packed A) against 8: float64 +5-8 % (n = 512),
 * +2-4 % (128 x 128), float32 -1..-3 % (4: between the two); KC 64, 192 or 256: no better.
 * Prefetching the next tile's C (prefetcht1 or t2 of its 16 lines), or the next pass's rows
 * of A and B spread over the tiles of a pass, did not help (the latter -5..-10 %).
 * Where the A^T B time goes (1 thread, float32 128 x 128): the same product over k = 128 rows
 * (A and B in L2) runs at ~158 GFLOP/s, k = 640 ~151, k = 3200 (3.2 MB of A and B) ~125, so
 * the gap to the per-step kernel is the first read of A and B from beyond L2, not the tile
 * (its inner loop is 2 loads of B, 12 broadcasts, 24 FMAs, nothing spilled).  Tried again,
 * interleaved against this code, 11-21 repeats, noise +-8 % between runs: prefetching the
 * next pass's rows before each tile call (t0/t1/t2): 128 x 128 +3..+9 %, 32 x 32 float32
 * -27..-37 %; prefetching in the tile's loop 32 or 128 rows ahead (A's and B's row, t0/t1/t2):
 * 128 x 128 and 512 x 512 -9..+7 % (0.97-1.04x in two runs of 21), only 64 x 64 better
 * (+5..+14 %); the in-place passes at 64 rows, or packing from 64 columns on: within noise. */
#define SIGCY_KC 128
#define SIGCY_TN_MC_F 8
#define SIGCY_TN_MC_D 2
/* A^T B reads A and B in place (no packing) up to this many columns of A when B is at most
 * four whole panels wide.  Measured on 3200 rows, 1 thread: at 32 columns in place is 1.5x
 * faster than packing (float32 and float64); at 64 and 128 the two run alike (float32
 * 110-125 GFLOP/s, float64 ~55). */
#ifndef SIGCY_TN_INPLACE_M
#define SIGCY_TN_INPLACE_M 128
#endif
/* ... and always when A has at most SIGCY_MR columns (dW_in = X^T dA: one tile of A's
 * columns, so a packed panel of B would be read once, packing is a pure copy), in passes of
 * this many rows of B when B is wider than four panels (the tile then reads every panel of
 * those rows before the next rows: B's rows, n values apart, go through L1 once).  Measured
 * on 8 x 512 x 3200, 1 thread: packed 23 (float64) / 56 (float32) GFLOP/s; in place 128 rows
 * a pass 34 / 73; 32 rows 44-48 / 74-77 (16: alike, 64: 36 / 75). */
#define SIGCY_TN_SMALL_KC 32

#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__)) \
    && !defined(SIGCY_NO_AVX512_GEMM)
#define SIGCY_GEMM_AVX512 1
#include <immintrin.h>
#endif

/* ------------------------------------------------------------------------------- packing */
/* Bp <- B(p, j) for p < k, j < n in panels of NR columns; B(p, j) = B[p * ldb + j], or
 * B[j * ldb + p] if trans (B^T stored row-major). */
#define SIGCY_DEFINE_PACK(T, NR, name)                                                       \
static void name(const T *B, ptrdiff_t ldb, int trans, ptrdiff_t k, ptrdiff_t n, T *Bp)      \
{                                                                                            \
    ptrdiff_t n_panels = (n + NR - 1) / NR;                                                  \
    for (ptrdiff_t q = 0; q < n_panels; q++) {                                               \
        T *dst = Bp + q * k * NR;                                                            \
        for (ptrdiff_t p = 0; p < k; p++)                                                    \
            for (ptrdiff_t jj = 0; jj < NR; jj++) {                                          \
                ptrdiff_t j = q * NR + jj;                                                   \
                dst[p * NR + jj] = j >= n ? (T)0 : trans ? B[j * ldb + p] : B[p * ldb + j];  \
            }                                                                                \
    }                                                                                        \
}
SIGCY_DEFINE_PACK(float, SIGCY_NR_F, sigcy_pack_f)
SIGCY_DEFINE_PACK(double, SIGCY_NR_D, sigcy_pack_d)

/* Number of values of a packed (k, n) matrix. */
static ptrdiff_t sigcy_packed_size_f(ptrdiff_t k, ptrdiff_t n)
{
    return (n + SIGCY_NR_F - 1) / SIGCY_NR_F * SIGCY_NR_F * k;
}
static ptrdiff_t sigcy_packed_size_d(ptrdiff_t k, ptrdiff_t n)
{
    return (n + SIGCY_NR_D - 1) / SIGCY_NR_D * SIGCY_NR_D * k;
}

/* ---------------------------------------------------------------- portable kernel (C) */
/* One row at a time against one panel.  With GCC or clang the panel's row is one vector
 * (generic vector extension, lowered to the target's registers); elsewhere a plain loop. */
#if defined(__GNUC__) || defined(__clang__)
#define SIGCY_ROW_UPDATE(T, NR, acc, ap, b)                                                  \
    do {                                                                                     \
        typedef T sigcy_vec __attribute__((vector_size(NR * sizeof(T))));                   \
        sigcy_vec va, vb;                                                                    \
        memcpy(&va, acc, sizeof va);                                                         \
        memcpy(&vb, b, sizeof vb);                                                           \
        va = va + ap * vb;                                                                   \
        memcpy(acc, &va, sizeof va);                                                         \
    } while (0)
#else
#define SIGCY_ROW_UPDATE(T, NR, acc, ap, b)                                                  \
    for (ptrdiff_t jj = 0; jj < NR; jj++)                                                    \
        acc[jj] = acc[jj] + ap * b[jj]
#endif
#define SIGCY_DEFINE_GEMM_C(T, NR, name)                                                     \
static void name(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *A, ptrdiff_t lda,          \
                 const T *Bp, T *C, ptrdiff_t ldc, int accumulate)                          \
{                                                                                            \
    ptrdiff_t n_panels = (n + NR - 1) / NR;                                                  \
    for (ptrdiff_t q = 0; q < n_panels; q++) {                                               \
        const T *bq = Bp + q * k * NR;                                                       \
        ptrdiff_t j0 = q * NR, nn = n - j0 < NR ? n - j0 : NR;                               \
        for (ptrdiff_t i = 0; i < m; i++) {                                                  \
            T acc[NR];                                                                       \
            T *c = C + i * ldc + j0;                                                         \
            const T *a = A + i * lda;                                                        \
            for (ptrdiff_t jj = 0; jj < NR; jj++)                                            \
                acc[jj] = 0;                                                                 \
            if (accumulate)                                                                  \
                memcpy(acc, c, (size_t)nn * sizeof(T));                                      \
            for (ptrdiff_t p = 0; p < k; p++) {                                              \
                T ap = a[p];                                                                 \
                SIGCY_ROW_UPDATE(T, NR, acc, ap, (bq + p * NR));                             \
            }                                                                                \
            memcpy(c, acc, (size_t)nn * sizeof(T));                                          \
        }                                                                                    \
    }                                                                                        \
}
SIGCY_DEFINE_GEMM_C(float, SIGCY_NR_F, sigcy_gemm_f_c)
SIGCY_DEFINE_GEMM_C(double, SIGCY_NR_D, sigcy_gemm_d_c)

/* C[m, n] (+)= A^T B, A (k, m) and B (k, n) row-major (work unused): 4 rows of C at a time,
 * accumulated in place over passes of SIGCY_KC rows of B (kept in cache for the next rows). */
#define SIGCY_DEFINE_GEMM_TN_C(T, NR, name)                                                  \
static void name(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *A, ptrdiff_t lda,          \
                 const T *B, ptrdiff_t ldb, T *C, ptrdiff_t ldc, int accumulate, T *work)    \
{                                                                                            \
    (void)work;                                                                              \
    if (!accumulate)                                                                         \
        for (ptrdiff_t i = 0; i < m; i++)                                                    \
            for (ptrdiff_t j = 0; j < n; j++)                                                \
                C[i * ldc + j] = 0;                                                          \
    for (ptrdiff_t k0 = 0; k0 < k; k0 += SIGCY_KC) {                                         \
        ptrdiff_t k1 = k - k0 < SIGCY_KC ? k : k0 + SIGCY_KC;                                \
        for (ptrdiff_t i0 = 0; i0 < m; i0 += 4) {                                            \
            ptrdiff_t mr = m - i0 < 4 ? m - i0 : 4;                                          \
            for (ptrdiff_t p = k0; p < k1; p++) {                                            \
                const T *b = B + p * ldb;                                                    \
                for (ptrdiff_t r = 0; r < mr; r++) {                                         \
                    T ap = A[p * lda + i0 + r];                                              \
                    T *c = C + (i0 + r) * ldc;                                               \
                    for (ptrdiff_t j = 0; j < n; j++)                                        \
                        c[j] = c[j] + ap * b[j];                                             \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
}
SIGCY_DEFINE_GEMM_TN_C(float, SIGCY_NR_F, sigcy_gemm_tn_f_c)
SIGCY_DEFINE_GEMM_TN_C(double, SIGCY_NR_D, sigcy_gemm_tn_d_c)

/* ------------------------------------------------------------------- AVX-512 kernel */
#ifdef SIGCY_GEMM_AVX512
/* The body of the AVX-512 tiles: acc(r) += A(r, p) * panel row p for p = 0 .. k-1 in order,
 * into the accumulators c0 (and c1 if NV == 2) of MR rows, W values a register; and the
 * masked store of the accumulators to C's rows. */
#define SIGCY_AVX512_FMA_LOOP(V, SUF, MR, NV, AT, k, A, lda, bq, ldb)                       \
    for (ptrdiff_t p = 0; p < (k); p++) {                                                    \
        V b0_ = _mm512_loadu_##SUF((bq) + p * (ldb));                                        \
        V b1_ = (NV) == 2 ? _mm512_loadu_##SUF((bq) + p * (ldb) + W) : b0_;                  \
        _Pragma("GCC unroll 12")                                                             \
        for (int r = 0; r < (MR); r++) {                                                     \
            V a_ = _mm512_set1_##SUF((AT) ? (A)[p * (lda) + r] : (A)[r * (lda) + p]);        \
            c0[r] = _mm512_fmadd_##SUF(a_, b0_, c0[r]);                                      \
            if ((NV) == 2)                                                                   \
                c1[r] = _mm512_fmadd_##SUF(a_, b1_, c1[r]);                                  \
        }                                                                                    \
    }
#define SIGCY_AVX512_STORE_ROWS(SUF, MR, NV, C, ldc, m0, m1)                                \
    _Pragma("GCC unroll 12")                                                                 \
    for (int r = 0; r < (MR); r++) {                                                         \
        _mm512_mask_storeu_##SUF((C) + r * (ldc), m0, c0[r]);                                \
        if ((NV) == 2)                                                                       \
            _mm512_mask_storeu_##SUF((C) + r * (ldc) + W, m1, c1[r]);                        \
    }
/* One tile of MR <= SIGCY_MR_WIDE rows x one panel (two registers a row, or only the first if
 * NV == 1: panels of at most NR / 2 columns); A(r, p) = A[r * lda + p], or A[p * lda + r] if
 * AT; the panel's row p at bq + p * ldb.  MR, AT and NV are constants after inlining. */
#define SIGCY_DEFINE_TILE_AVX512(T, V, SUF, MASK, name)                                     \
__attribute__((target("avx512f"), always_inline)) static inline void name(                  \
    const int MR, const int AT, const int NV, ptrdiff_t k, const T *A, ptrdiff_t lda,       \
    const T *bq, ptrdiff_t ldb, T *C, ptrdiff_t ldc, MASK m0, MASK m1, int accumulate)      \
{                                                                                            \
    const ptrdiff_t W = (ptrdiff_t)(sizeof(V) / sizeof(T));                                  \
    V c0[SIGCY_MR_WIDE], c1[SIGCY_MR_WIDE];                                                  \
    _Pragma("GCC unroll 12")                                                                 \
    for (int r = 0; r < MR; r++) {                                                           \
        if (accumulate) {                                                                    \
            c0[r] = _mm512_maskz_loadu_##SUF(m0, C + r * ldc);                               \
            if (NV == 2)                                                                     \
                c1[r] = _mm512_maskz_loadu_##SUF(m1, C + r * ldc + W);                       \
        } else {                                                                             \
            c0[r] = _mm512_setzero_##SUF();                                                  \
            if (NV == 2)                                                                     \
                c1[r] = _mm512_setzero_##SUF();                                              \
        }                                                                                    \
    }                                                                                        \
    SIGCY_AVX512_FMA_LOOP(V, SUF, MR, NV, AT, k, A, lda, bq, ldb)                            \
    SIGCY_AVX512_STORE_ROWS(SUF, MR, NV, C, ldc, m0, m1)                                     \
}
SIGCY_DEFINE_TILE_AVX512(float, __m512, ps, __mmask16, sigcy_tile_f_avx512)
SIGCY_DEFINE_TILE_AVX512(double, __m512d, pd, __mmask8, sigcy_tile_d_avx512)

/* The same tile for AVX2 + FMA (the drivers below are compiled for both): a panel's row is
 * 2 * NV registers of 256 bits, the rows go 3 at a time (12 accumulators of 16 registers);
 * m0 and m1 are the lane bits of the panel's two halves, as for AVX-512. */
#define SIGCY_DEFINE_TILE_AVX2(T, V, SUF, LANEMASK, name)                                    \
__attribute__((target("avx2,fma"), always_inline)) static inline void name(                 \
    const int MR, const int AT, const int NV, ptrdiff_t k, const T *A, ptrdiff_t lda,       \
    const T *bq, ptrdiff_t ldb, T *C, ptrdiff_t ldc, unsigned m0, unsigned m1,              \
    int accumulate)                                                                          \
{                                                                                            \
    const int L = (int)(sizeof(V) / sizeof(T));                                              \
    __m256i mk[4];                                                                           \
    for (int v = 0; v < 4; v++)                                                              \
        mk[v] = LANEMASK(((v < 2 ? m0 : m1) >> ((v % 2) * L)) & ((1u << L) - 1));            \
    _Pragma("GCC unroll 3")                                                                  \
    for (int r0 = 0; r0 < MR; r0 += 3) {                                                     \
        const int R = MR - r0 < 3 ? MR - r0 : 3;                                             \
        V c[3][4];                                                                           \
        _Pragma("GCC unroll 3")                                                              \
        for (int r = 0; r < R; r++)                                                          \
            _Pragma("GCC unroll 4")                                                          \
            for (int v = 0; v < 2 * NV; v++)                                                 \
                c[r][v] = accumulate ? _mm256_maskload_##SUF(C + (r0 + r) * ldc + v * L,     \
                                                             mk[v])                         \
                                     : _mm256_setzero_##SUF();                               \
        for (ptrdiff_t p = 0; p < k; p++) {                                                  \
            V b[4];                                                                          \
            _Pragma("GCC unroll 4")                                                          \
            for (int v = 0; v < 2 * NV; v++)                                                 \
                b[v] = _mm256_loadu_##SUF(bq + p * ldb + v * L);                             \
            _Pragma("GCC unroll 3")                                                          \
            for (int r = 0; r < R; r++) {                                                    \
                V a = _mm256_set1_##SUF(AT ? A[p * lda + r0 + r] : A[(r0 + r) * lda + p]);   \
                _Pragma("GCC unroll 4")                                                      \
                for (int v = 0; v < 2 * NV; v++)                                             \
                    c[r][v] = _mm256_fmadd_##SUF(a, b[v], c[r][v]);                          \
            }                                                                                \
        }                                                                                    \
        _Pragma("GCC unroll 3")                                                              \
        for (int r = 0; r < R; r++)                                                          \
            _Pragma("GCC unroll 4")                                                          \
            for (int v = 0; v < 2 * NV; v++)                                                 \
                _mm256_maskstore_##SUF(C + (r0 + r) * ldc + v * L, mk[v], c[r][v]);          \
    }                                                                                        \
}
__attribute__((target("avx2,fma"), always_inline)) static inline __m256i
sigcy_lanes_f_avx2(unsigned bits)
{
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)bits), bit), bit);
}
__attribute__((target("avx2,fma"), always_inline)) static inline __m256i
sigcy_lanes_d_avx2(unsigned bits)
{
    const __m256i bit = _mm256_setr_epi64x(1, 2, 4, 8);
    return _mm256_cmpeq_epi64(_mm256_and_si256(_mm256_set1_epi64x((long long)bits), bit), bit);
}
SIGCY_DEFINE_TILE_AVX2(float, __m256, ps, sigcy_lanes_f_avx2, sigcy_tile_f_avx2)
SIGCY_DEFINE_TILE_AVX2(double, __m256d, pd, sigcy_lanes_d_avx2, sigcy_tile_d_avx2)

/* The full tiles (SIGCY_MR or SIGCY_MR_WIDE rows, a whole panel wide), A's rows (_nt) or
 * columns (_tn), as functions of their own: inlined into the drivers, where it sat beside
 * seven smaller tiles, gcc kept the panel's second register on the stack and reloaded it for
 * every FMA (the weight-gradient kernel ran at ~100 GFLOP/s in float32 against ~150 for a
 * BLAS GEMM).  The same code, so the same bits. */
#define SIGCY_DEFINE_TILE_FN(T, MASK, tile, TARGET, SUFFIX, ROWS, AT)                       \
__attribute__((target(TARGET), noinline)) static void tile##SUFFIX(                          \
    ptrdiff_t k, const T *A, ptrdiff_t lda, const T *bq, ptrdiff_t ldb, T *C, ptrdiff_t ldc, \
    MASK m0, MASK m1, int accumulate)                                                        \
{                                                                                            \
    tile(ROWS, AT, 2, k, A, lda, bq, ldb, C, ldc, m0, m1, accumulate);                       \
}
#define SIGCY_DEFINE_FULL_TILES(T, MASK, tile, TARGET)                                       \
    SIGCY_DEFINE_TILE_FN(T, MASK, tile, TARGET, _full_nt, SIGCY_MR, 0)                       \
    SIGCY_DEFINE_TILE_FN(T, MASK, tile, TARGET, _wide_nt, SIGCY_MR_WIDE, 0)                  \
    SIGCY_DEFINE_TILE_FN(T, MASK, tile, TARGET, _full_tn, SIGCY_MR, 1)                       \
    SIGCY_DEFINE_TILE_FN(T, MASK, tile, TARGET, _wide_tn, SIGCY_MR_WIDE, 1)
SIGCY_DEFINE_FULL_TILES(float, __mmask16, sigcy_tile_f_avx512, "avx512f")
SIGCY_DEFINE_FULL_TILES(double, __mmask8, sigcy_tile_d_avx512, "avx512f")
SIGCY_DEFINE_FULL_TILES(float, unsigned, sigcy_tile_f_avx2, "avx2,fma")
SIGCY_DEFINE_FULL_TILES(double, unsigned, sigcy_tile_d_avx2, "avx2,fma")

/* The tiles of m rows (or columns): sigcy_wide_tiles(m) of SIGCY_MR_WIDE, as many as leave a
 * multiple of SIGCY_MR, then tiles of SIGCY_MR, the last one possibly smaller; tile t starts
 * at row SIGCY_TILE_START(t) and has SIGCY_TILE_ROWS(t) rows.  (Which tile computes a row
 * changes no bit of it.) */
static inline ptrdiff_t sigcy_wide_tiles(ptrdiff_t m)
{
    ptrdiff_t n_wide = m / SIGCY_MR_WIDE;
    while (n_wide > 0 && (m - n_wide * SIGCY_MR_WIDE) % SIGCY_MR != 0)
        n_wide--;
    return n_wide;
}
#define SIGCY_TILE_START(t, n_wide)                                                          \
    ((t) < (n_wide) ? (t) * SIGCY_MR_WIDE                                                    \
                    : (n_wide) * SIGCY_MR_WIDE + ((t) - (n_wide)) * SIGCY_MR)
#define SIGCY_TILE_ROWS(t, n_wide, m)                                                        \
    ((t) < (n_wide) ? SIGCY_MR_WIDE                                                          \
     : (m) - SIGCY_TILE_START(t, n_wide) < SIGCY_MR ? (m) - SIGCY_TILE_START(t, n_wide)      \
                                                    : SIGCY_MR)

/* The tiles of m rows against one panel (inside the drivers below): for a whole panel
 * (NV == 2) as many SIGCY_MR_WIDE-row tiles as leave a multiple of SIGCY_MR rows (64 rows:
 * 4 x 12 + 2 x 8), then SIGCY_MR-row tiles, then one smaller tile.  CALL(tile, R, NV, i0)
 * runs the R-row tile from row i0, CALL##_WIDE and CALL##_FULL the wide and full tiles'
 * functions (the drivers' arguments are in scope). */
#define SIGCY_ROW_TILES_BY(CALL, tile, NV)                                                   \
    do {                                                                                     \
        ptrdiff_t i0 = 0, n_wide = NV == 2 ? sigcy_wide_tiles(m) : 0;                        \
        for (; i0 < n_wide * SIGCY_MR_WIDE; i0 += SIGCY_MR_WIDE)                             \
            CALL##_WIDE(tile, i0);                                                           \
        for (; i0 + SIGCY_MR <= m; i0 += SIGCY_MR) {                                         \
            if (NV == 2)                                                                     \
                CALL##_FULL(tile, i0);                                                       \
            else                                                                             \
                CALL(tile, SIGCY_MR, NV, i0);                                                \
        }                                                                                    \
        switch (m - i0) {                                                                    \
        case 7: CALL(tile, 7, NV, i0); break;                                                \
        case 6: CALL(tile, 6, NV, i0); break;                                                \
        case 5: CALL(tile, 5, NV, i0); break;                                                \
        case 4: CALL(tile, 4, NV, i0); break;                                                \
        case 3: CALL(tile, 3, NV, i0); break;                                                \
        case 2: CALL(tile, 2, NV, i0); break;                                                \
        case 1: CALL(tile, 1, NV, i0); break;                                                \
        default: break;                                                                      \
        }                                                                                    \
    } while (0)
/* C (+)= A @ B's panel bq, rows from i0 (SIGCY_DEFINE_GEMM_AVX512) */
#define SIGCY_NT_TILE(tile, R, NV, i0)                                                       \
    tile(R, 0, NV, k, A + (i0) * lda, lda, bq, 2 * W, C + (i0) * ldc + j0, ldc, m0, m1,      \
         accumulate)
#define SIGCY_NT_TILE_WIDE(tile, i0)                                                         \
    tile##_wide_nt(k, A + (i0) * lda, lda, bq, 2 * W, C + (i0) * ldc + j0, ldc, m0, m1,      \
                   accumulate)
#define SIGCY_NT_TILE_FULL(tile, i0)                                                         \
    tile##_full_nt(k, A + (i0) * lda, lda, bq, 2 * W, C + (i0) * ldc + j0, ldc, m0, m1,      \
                   accumulate)

#define SIGCY_DEFINE_GEMM_AVX512(T, NR, MASK, tile, name, TARGET)                           \
__attribute__((target(TARGET))) static void name(                                           \
    ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *A, ptrdiff_t lda, const T *Bp, T *C,    \
    ptrdiff_t ldc, int accumulate)                                                          \
{                                                                                            \
    const int W = NR / 2;                                                                    \
    ptrdiff_t n_panels = (n + NR - 1) / NR;                                                  \
    for (ptrdiff_t q = 0; q < n_panels; q++) {                                               \
        const T *bq = Bp + q * k * NR;                                                       \
        ptrdiff_t j0 = q * NR, nn = n - j0 < NR ? n - j0 : NR;                               \
        MASK m0 = nn >= W ? (MASK)~0u : (MASK)((1u << nn) - 1);                              \
        MASK m1 = nn >= NR ? (MASK)~0u : nn <= W ? (MASK)0 : (MASK)((1u << (nn - W)) - 1);   \
        if (nn <= W)                                                                         \
            SIGCY_ROW_TILES_BY(SIGCY_NT_TILE, tile, 1);                                      \
        else                                                                                 \
            SIGCY_ROW_TILES_BY(SIGCY_NT_TILE, tile, 2);                                      \
    }                                                                                        \
}
SIGCY_DEFINE_GEMM_AVX512(float, SIGCY_NR_F, __mmask16, sigcy_tile_f_avx512, sigcy_gemm_f_avx512,
                         "avx512f")
SIGCY_DEFINE_GEMM_AVX512(double, SIGCY_NR_D, __mmask8, sigcy_tile_d_avx512, sigcy_gemm_d_avx512,
                         "avx512f")
SIGCY_DEFINE_GEMM_AVX512(float, SIGCY_NR_F, unsigned, sigcy_tile_f_avx2, sigcy_gemm_f_avx2,
                         "avx2,fma")
SIGCY_DEFINE_GEMM_AVX512(double, SIGCY_NR_D, unsigned, sigcy_tile_d_avx2, sigcy_gemm_d_avx2,
                         "avx2,fma")

/* C = A1 @ B1 + A2 @ B2 (sigcy_gemm2_*): the forward step's tile with the input projection
 * of its own rows in front, acc = 0, then the FMAs over X's k1 features, then over the k2
 * values of the previous state, never stored in between: the same operations in the same
 * order as the projection (C = X @ W_in) followed by the step (C += H @ W_rec), so the same
 * bits.  AVX-512 only (MR, NV constants after inlining).
 * Why: the projection of all the steps at once (one GEMM of B * T rows, k = n_features = 8)
 * ran at a few GFLOP/s, bound by writing all of H (1.6 MB at B = 64, T = 50, n_hidden = 128
 * float32), and each step then read its H[:, t] back from L2 or L3: timed in situ (rdtsc
 * around the calls, 200 training steps, tanh, B = 64, T = 50, F = 8), the projection took
 * 4.5-6.5 % of a training step (f32 128: 152 us of 3.24 ms; f64 128: 431 us of 6.6 ms),
 * the per-step GEMMs ran at ~157 GFLOP/s (f32 128; ~175-188 in a C replay of the loop).
 * Measured interleaved against the two GEMMs, 1 thread, medians of per-call ratios over
 * 3-4 s (20-5400 pairs): training step (elman_forward + elman_backward) float32 0.964 /
 * 0.955 / 0.952 (n_hidden 32 / 128 / 512), float64 0.953 / 0.931 / 0.972; elman_forward
 * alone float32 0.93 / 0.89 / 0.87, float64 0.91 / 0.84 / 0.92.  (Projecting per step into
 * the rows with a separate call, then the step GEMM, was +4 % at 128 and -5 % float64 at
 * 512.)  Tried in the same C replay of the time loops (64 rows, strides of H, a tanh-like
 * loop between steps, 6 MB touched between passes), against the current step kernel, 21-41
 * repeats: k-blocking the tile (two halves of k, partial sums stored and reloaded; the same
 * bits) float32 128 fwd 1.02-1.03x / bwd 1.01-1.04x slower, float64 1.04 / 1.02; quarters
 * 1.09-1.14x slower; row tiles outer, panels inner 1.00-1.05x slower; prefetching the next
 * panel spread over the row tiles (t0 / t1) 1.01-1.03x / 0.99-1.03x; prefetching the next
 * step's C rows after the step 0.98-1.01x (noise).  Computing dX = dA @ W_in^T per step, on
 * dA's rows just written, instead of once after the loop: 0.99-1.01x of a training step. */
#define SIGCY_DEFINE_TILE2_AVX512(T, V, SUF, MASK, name)                                    \
__attribute__((target("avx512f"), always_inline)) static inline void name(                  \
    const int MR, const int NV, ptrdiff_t k1, const T *A1, ptrdiff_t lda1, const T *b1,     \
    ptrdiff_t k2, const T *A2, ptrdiff_t lda2, const T *b2, ptrdiff_t ldb, T *C,            \
    ptrdiff_t ldc, MASK m0, MASK m1)                                                         \
{                                                                                            \
    const ptrdiff_t W = (ptrdiff_t)(sizeof(V) / sizeof(T));                                  \
    V c0[SIGCY_MR_WIDE], c1[SIGCY_MR_WIDE];                                                  \
    _Pragma("GCC unroll 12")                                                                 \
    for (int r = 0; r < MR; r++) {                                                           \
        c0[r] = _mm512_setzero_##SUF();                                                      \
        if (NV == 2)                                                                         \
            c1[r] = _mm512_setzero_##SUF();                                                  \
    }                                                                                        \
    SIGCY_AVX512_FMA_LOOP(V, SUF, MR, NV, 0, k1, A1, lda1, b1, ldb)                          \
    SIGCY_AVX512_FMA_LOOP(V, SUF, MR, NV, 0, k2, A2, lda2, b2, ldb)                          \
    SIGCY_AVX512_STORE_ROWS(SUF, MR, NV, C, ldc, m0, m1)                                     \
}
SIGCY_DEFINE_TILE2_AVX512(float, __m512, ps, __mmask16, sigcy_tile2_f_avx512)
SIGCY_DEFINE_TILE2_AVX512(double, __m512d, pd, __mmask8, sigcy_tile2_d_avx512)
#define SIGCY_DEFINE_TILE2_FN(T, MASK, tile, SUFFIX, ROWS)                                   \
__attribute__((target("avx512f"), noinline)) static void tile##SUFFIX(                       \
    ptrdiff_t k1, const T *A1, ptrdiff_t lda1, const T *b1, ptrdiff_t k2, const T *A2,       \
    ptrdiff_t lda2, const T *b2, ptrdiff_t ldb, T *C, ptrdiff_t ldc, MASK m0, MASK m1)       \
{                                                                                            \
    tile(ROWS, 2, k1, A1, lda1, b1, k2, A2, lda2, b2, ldb, C, ldc, m0, m1);                  \
}
SIGCY_DEFINE_TILE2_FN(float, __mmask16, sigcy_tile2_f_avx512, _full, SIGCY_MR)
SIGCY_DEFINE_TILE2_FN(float, __mmask16, sigcy_tile2_f_avx512, _wide, SIGCY_MR_WIDE)
SIGCY_DEFINE_TILE2_FN(double, __mmask8, sigcy_tile2_d_avx512, _full, SIGCY_MR)
SIGCY_DEFINE_TILE2_FN(double, __mmask8, sigcy_tile2_d_avx512, _wide, SIGCY_MR_WIDE)

/* C = A1 @ B1's panel b1 + A2 @ B2's panel b2, rows from i0 (sigcy_gemm2) */
#define SIGCY_TILE2(tile, R, NV, i0)                                                         \
    tile(R, NV, k1, A1 + (i0) * lda1, lda1, b1, k2, A2 + (i0) * lda2, lda2, b2, 2 * W,       \
         C + (i0) * ldc + j0, ldc, m0, m1)
#define SIGCY_TILE2_WIDE(tile, i0)                                                           \
    tile##_wide(k1, A1 + (i0) * lda1, lda1, b1, k2, A2 + (i0) * lda2, lda2, b2, 2 * W,       \
                C + (i0) * ldc + j0, ldc, m0, m1)
#define SIGCY_TILE2_FULL(tile, i0)                                                           \
    tile##_full(k1, A1 + (i0) * lda1, lda1, b1, k2, A2 + (i0) * lda2, lda2, b2, 2 * W,       \
                C + (i0) * ldc + j0, ldc, m0, m1)
#define SIGCY_DEFINE_GEMM2_AVX512(T, NR, MASK, tile, name)                                  \
__attribute__((target("avx512f"))) static void name(                                        \
    ptrdiff_t m, ptrdiff_t n, ptrdiff_t k1, const T *A1, ptrdiff_t lda1, const T *B1p,       \
    ptrdiff_t k2, const T *A2, ptrdiff_t lda2, const T *B2p, T *C, ptrdiff_t ldc)            \
{                                                                                            \
    const int W = NR / 2;                                                                    \
    ptrdiff_t n_panels = (n + NR - 1) / NR;                                                  \
    for (ptrdiff_t q = 0; q < n_panels; q++) {                                               \
        const T *b1 = B1p + q * k1 * NR, *b2 = B2p + q * k2 * NR;                            \
        ptrdiff_t j0 = q * NR, nn = n - j0 < NR ? n - j0 : NR;                               \
        MASK m0 = nn >= W ? (MASK)~0u : (MASK)((1u << nn) - 1);                              \
        MASK m1 = nn >= NR ? (MASK)~0u : nn <= W ? (MASK)0 : (MASK)((1u << (nn - W)) - 1);   \
        if (nn <= W)                                                                         \
            SIGCY_ROW_TILES_BY(SIGCY_TILE2, tile, 1);                                        \
        else                                                                                 \
            SIGCY_ROW_TILES_BY(SIGCY_TILE2, tile, 2);                                        \
    }                                                                                        \
}
SIGCY_DEFINE_GEMM2_AVX512(float, SIGCY_NR_F, __mmask16, sigcy_tile2_f_avx512,
                          sigcy_gemm2_f_avx512)
SIGCY_DEFINE_GEMM2_AVX512(double, SIGCY_NR_D, __mmask8, sigcy_tile2_d_avx512,
                          sigcy_gemm2_d_avx512)

/* One tile of mr <= SIGCY_MR (or SIGCY_MR_WIDE) of A's columns (A(p, r) = at[p * lda + r])
 * against the panel at bq, for both paths of the A^T B driver below. */
#define SIGCY_TN_TILE(tile, mr, kk, at, lda, bq, ldb, c, ldc, m0, m1, acc)                  \
    do {                                                                                     \
        switch (mr) {                                                                        \
        case SIGCY_MR_WIDE:                                                                  \
            tile##_wide_tn(kk, at, lda, bq, ldb, c, ldc, m0, m1, acc);                       \
            break;                                                                           \
        case 8: tile##_full_tn(kk, at, lda, bq, ldb, c, ldc, m0, m1, acc); break;            \
        case 7: tile(7, 1, 2, kk, at, lda, bq, ldb, c, ldc, m0, m1, acc); break;             \
        case 6: tile(6, 1, 2, kk, at, lda, bq, ldb, c, ldc, m0, m1, acc); break;             \
        case 5: tile(5, 1, 2, kk, at, lda, bq, ldb, c, ldc, m0, m1, acc); break;             \
        case 4: tile(4, 1, 2, kk, at, lda, bq, ldb, c, ldc, m0, m1, acc); break;             \
        case 3: tile(3, 1, 2, kk, at, lda, bq, ldb, c, ldc, m0, m1, acc); break;             \
        case 2: tile(2, 1, 2, kk, at, lda, bq, ldb, c, ldc, m0, m1, acc); break;             \
        default: tile(1, 1, 2, kk, at, lda, bq, ldb, c, ldc, m0, m1, acc); break;            \
        }                                                                                    \
    } while (0)

/* C[m, n] (+)= A^T B, A (k, m) and B (k, n) row-major, in passes of SIGCY_KC rows: each pass
 * packs B's rows in panels of NR columns and A's columns in tiles of SIGCY_MR_WIDE and
 * SIGCY_MR (sigcy_wide_tiles; the 12-column tiles measured +1-7 % against 8 only, float32 and
 * float64, 128 x 128 to 512 x 512 on 3200 rows) into work, then runs SIGCY_TN_MC_F / _D tiles
 * against one panel (kept in L1) at a time, panel after panel, then the next tiles; a pass
 * continues from the partial sums in C (stored and reloaded exactly, so the passes do not
 * change a bit). */
#define SIGCY_DEFINE_GEMM_TN_AVX512(T, NR, MASK, tile, name, TARGET)                        \
__attribute__((target(TARGET))) static void name(                                           \
    ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *A, ptrdiff_t lda, const T *B,            \
    ptrdiff_t ldb, T *C, ptrdiff_t ldc, int accumulate, T *work)                            \
{                                                                                            \
    const int W = NR / 2;                                                                    \
    ptrdiff_t n_panels = (n + NR - 1) / NR;                                                  \
    ptrdiff_t n_wide = sigcy_wide_tiles(m);                                                  \
    ptrdiff_t n_tiles = n_wide + (m - n_wide * SIGCY_MR_WIDE + SIGCY_MR - 1) / SIGCY_MR;     \
    T *bp = work, *ap = work + n_panels * SIGCY_KC * NR;                                     \
    if (m <= 0 || n <= 0)                                                                    \
        return;                                                                              \
    if (n % NR == 0 && ((n <= 4 * NR && m <= SIGCY_TN_INPLACE_M) || m <= SIGCY_MR)) {        \
        /* small: no packing, the tiles read A and B in place, 128 rows at a time (a  */    \
        /* panel's 128 rows stay in L1 for the tiles; see SIGCY_TN_INPLACE_M), or */        \
        /* SIGCY_TN_SMALL_KC for one tile against a wide B */                               \
        const ptrdiff_t kc = m <= SIGCY_MR && n > 4 * NR ? SIGCY_TN_SMALL_KC : 128;          \
        for (ptrdiff_t k0 = 0; k0 == 0 || k0 < k; k0 += kc) {                                \
            ptrdiff_t kk = k - k0 < kc ? k - k0 : kc;                                        \
            int acc = accumulate || k0 > 0;                                                  \
            for (ptrdiff_t q = 0; q < n_panels; q++) {                                       \
                const T *bq = B + k0 * ldb + q * NR;                                         \
                for (ptrdiff_t it = 0; it < n_tiles; it++) {                                 \
                    ptrdiff_t i0 = SIGCY_TILE_START(it, n_wide);                             \
                    const T *at = A + k0 * lda + i0;                                         \
                    T *c = C + i0 * ldc + q * NR;                                            \
                    MASK m0 = (MASK)~0u, m1 = (MASK)~0u;                                     \
                    SIGCY_TN_TILE(tile, SIGCY_TILE_ROWS(it, n_wide, m), kk, at, lda, bq,     \
                                  ldb, c, ldc, m0, m1, acc);                                 \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
        return;                                                                              \
    }                                                                                        \
    for (ptrdiff_t k0 = 0; k0 == 0 || k0 < k; k0 += SIGCY_KC) {                              \
        ptrdiff_t kk = k - k0 < SIGCY_KC ? k - k0 : SIGCY_KC;                                \
        int acc = accumulate || k0 > 0;                                                      \
        /* pack row by row: each row of A and B is read once, front to back (the panel at */ \
        /* a time order read 64-128 bytes of every row, rows n values apart: the same L1 */  \
        /* set for n = 512; packing took ~19 % of the float64 512 x 512 x 3200 product) */  \
        for (ptrdiff_t p = 0; p < kk; p++) {                                                 \
            const T *src = B + (k0 + p) * ldb;                                               \
            ptrdiff_t q = 0;                                                                 \
            for (; (q + 1) * NR <= n; q++)                                                   \
                memcpy(bp + q * SIGCY_KC * NR + p * NR, src + q * NR, NR * sizeof(T));       \
            if (q < n_panels)                                                                \
                for (ptrdiff_t jj = 0; jj < NR; jj++)                                        \
                    bp[q * SIGCY_KC * NR + p * NR + jj] = q * NR + jj < n ? src[q * NR + jj] \
                                                                          : (T)0;            \
            /* tile it: its KC rows of mr values at ap + KC * i0 (i0 its first column) */   \
            const T *srca = A + (k0 + p) * lda;                                              \
            ptrdiff_t i0 = 0;                                                                \
            for (; i0 < n_wide * SIGCY_MR_WIDE; i0 += SIGCY_MR_WIDE)                         \
                memcpy(ap + i0 * SIGCY_KC + p * SIGCY_MR_WIDE, srca + i0,                    \
                       SIGCY_MR_WIDE * sizeof(T));                                           \
            for (; i0 + SIGCY_MR <= m; i0 += SIGCY_MR)                                       \
                memcpy(ap + i0 * SIGCY_KC + p * SIGCY_MR, srca + i0, SIGCY_MR * sizeof(T));  \
            for (ptrdiff_t r = 0; i0 + r < m; r++)                                           \
                ap[i0 * SIGCY_KC + p * SIGCY_MR + r] = srca[i0 + r];                         \
        }                                                                                    \
        const ptrdiff_t mc = sizeof(T) == 8 ? SIGCY_TN_MC_D : SIGCY_TN_MC_F;                 \
        for (ptrdiff_t it0 = 0; it0 < n_tiles; it0 += mc)                                    \
        for (ptrdiff_t q = 0; q < n_panels; q++) {                                           \
            ptrdiff_t nn = n - q * NR < NR ? n - q * NR : NR;                                \
            MASK m0 = nn >= W ? (MASK)~0u : (MASK)((1u << nn) - 1);                          \
            MASK m1 = nn >= NR ? (MASK)~0u                                                   \
                      : nn <= W ? (MASK)0 : (MASK)((1u << (nn - W)) - 1);                    \
            const T *bq = bp + q * SIGCY_KC * NR;                                            \
            ptrdiff_t it1 = n_tiles - it0 < mc ? n_tiles : it0 + mc;                         \
            for (ptrdiff_t it = it0; it < it1; it++) {                                       \
                ptrdiff_t i0 = SIGCY_TILE_START(it, n_wide);                                 \
                ptrdiff_t mr = SIGCY_TILE_ROWS(it, n_wide, m);                               \
                const T *at = ap + i0 * SIGCY_KC;                                            \
                T *c = C + i0 * ldc + q * NR;                                                \
                SIGCY_TN_TILE(tile, mr, kk, at, it < n_wide ? SIGCY_MR_WIDE : SIGCY_MR, bq,  \
                              NR, c, ldc, m0, m1, acc);                                      \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
}
SIGCY_DEFINE_GEMM_TN_AVX512(float, SIGCY_NR_F, __mmask16, sigcy_tile_f_avx512,
                            sigcy_gemm_tn_f_avx512, "avx512f")
SIGCY_DEFINE_GEMM_TN_AVX512(double, SIGCY_NR_D, __mmask8, sigcy_tile_d_avx512,
                            sigcy_gemm_tn_d_avx512, "avx512f")
SIGCY_DEFINE_GEMM_TN_AVX512(float, SIGCY_NR_F, unsigned, sigcy_tile_f_avx2,
                            sigcy_gemm_tn_f_avx2, "avx2,fma")
SIGCY_DEFINE_GEMM_TN_AVX512(double, SIGCY_NR_D, unsigned, sigcy_tile_d_avx2,
                            sigcy_gemm_tn_d_avx2, "avx2,fma")
#endif

/* ------------------------------------------------------------------------- dispatch */
typedef void (*sigcy_gemm_f_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t,
                                const float *, float *, ptrdiff_t, int);
typedef void (*sigcy_gemm_d_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const double *, ptrdiff_t,
                                const double *, double *, ptrdiff_t, int);
typedef void (*sigcy_gemm_tn_f_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t,
                                   const float *, ptrdiff_t, float *, ptrdiff_t, int, float *);
typedef void (*sigcy_gemm_tn_d_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const double *, ptrdiff_t,
                                   const double *, ptrdiff_t, double *, ptrdiff_t, int,
                                   double *);
static sigcy_gemm_f_fn sigcy_gemm_f_ptr = sigcy_gemm_f_c;
static sigcy_gemm_d_fn sigcy_gemm_d_ptr = sigcy_gemm_d_c;
static sigcy_gemm_tn_f_fn sigcy_gemm_tn_f_ptr = sigcy_gemm_tn_f_c;
static sigcy_gemm_tn_d_fn sigcy_gemm_tn_d_ptr = sigcy_gemm_tn_d_c;
static const char *sigcy_gemm_target = "portable";

/* Pick the kernel once, at import, before any thread can call one. */
static const char *sigcy_gemm_init(void)
{
#ifdef SIGCY_GEMM_AVX512
    const char *want = getenv("SIGCY_DISPATCH");
    /* as sigcy_dispatch_init: "baseline" or "avx2" ask for less, anything else (unset,
     * empty, "avx512") for the best the CPU has */
    int allow_avx2 = want == NULL || strcmp(want, "baseline") != 0;
    int allow_avx512 = allow_avx2 && (want == NULL || strcmp(want, "avx2") != 0);
    __builtin_cpu_init();
    if (allow_avx2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        sigcy_gemm_f_ptr = sigcy_gemm_f_avx2;
        sigcy_gemm_d_ptr = sigcy_gemm_d_avx2;
        sigcy_gemm_tn_f_ptr = sigcy_gemm_tn_f_avx2;
        sigcy_gemm_tn_d_ptr = sigcy_gemm_tn_d_avx2;
        sigcy_gemm_target = "avx2";
    }
    if (allow_avx512 && __builtin_cpu_supports("avx512f")) {
        sigcy_gemm_f_ptr = sigcy_gemm_f_avx512;
        sigcy_gemm_d_ptr = sigcy_gemm_d_avx512;
        sigcy_gemm_tn_f_ptr = sigcy_gemm_tn_f_avx512;
        sigcy_gemm_tn_d_ptr = sigcy_gemm_tn_d_avx512;
        sigcy_gemm_target = "avx512";
    }
#endif
    return sigcy_gemm_target;
}

/* C[m, n] (+)= A[m, k] @ B[k, n] with B packed by sigcy_pack_*; see the top of the file. */
static inline void sigcy_gemm_f(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *A,
                                ptrdiff_t lda, const float *Bp, float *C, ptrdiff_t ldc,
                                int accumulate)
{
    if (m > 0 && n > 0)
        sigcy_gemm_f_ptr(m, n, k, A, lda, Bp, C, ldc, accumulate);
}
static inline void sigcy_gemm_d(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const double *A,
                                ptrdiff_t lda, const double *Bp, double *C, ptrdiff_t ldc,
                                int accumulate)
{
    if (m > 0 && n > 0)
        sigcy_gemm_d_ptr(m, n, k, A, lda, Bp, C, ldc, accumulate);
}

/* C[m, n] = A1[m, k1] @ B1[k1, n] + A2[m, k2] @ B2[k2, n], B1 and B2 packed by sigcy_pack_*:
 * the bits of sigcy_gemm_*(A1, B1, C, accumulate 0) then sigcy_gemm_*(A2, B2, C, accumulate 1)
 * (what the other kernels run), in one pass with the AVX-512 kernel. */
#ifdef SIGCY_GEMM_AVX512
#define SIGCY_GEMM2_AVX512_CALL(X)                                                           \
    if (sigcy_gemm_##X##_ptr == sigcy_gemm_##X##_avx512) {                                   \
        sigcy_gemm2_##X##_avx512(m, n, k1, A1, lda1, B1p, k2, A2, lda2, B2p, C, ldc);        \
        return;                                                                              \
    }
#else
#define SIGCY_GEMM2_AVX512_CALL(X)
#endif
#define SIGCY_DEFINE_GEMM2(T, X)                                                             \
static inline void sigcy_gemm2_##X(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k1, const T *A1,     \
                                   ptrdiff_t lda1, const T *B1p, ptrdiff_t k2, const T *A2,  \
                                   ptrdiff_t lda2, const T *B2p, T *C, ptrdiff_t ldc)       \
{                                                                                            \
    if (m <= 0 || n <= 0)                                                                    \
        return;                                                                              \
    SIGCY_GEMM2_AVX512_CALL(X)                                                               \
    sigcy_gemm_##X##_ptr(m, n, k1, A1, lda1, B1p, C, ldc, 0);                                \
    sigcy_gemm_##X##_ptr(m, n, k2, A2, lda2, B2p, C, ldc, 1);                                \
}
SIGCY_DEFINE_GEMM2(float, f)
SIGCY_DEFINE_GEMM2(double, d)

/* C[m, n] (+)= A^T B, A (k, m) and B (k, n) row-major (the weight gradients: sums over all
 * rows); work: sigcy_gemm_tn_work_* values, 64-byte aligned.  Same order of operations on
 * every element as sigcy_gemm_*. */
static ptrdiff_t sigcy_gemm_tn_work_f(ptrdiff_t m, ptrdiff_t n)
{
    return SIGCY_KC * ((n + SIGCY_NR_F - 1) / SIGCY_NR_F * SIGCY_NR_F
                       + (m + SIGCY_MR - 1) / SIGCY_MR * SIGCY_MR);
}
static ptrdiff_t sigcy_gemm_tn_work_d(ptrdiff_t m, ptrdiff_t n)
{
    return SIGCY_KC * ((n + SIGCY_NR_D - 1) / SIGCY_NR_D * SIGCY_NR_D
                       + (m + SIGCY_MR - 1) / SIGCY_MR * SIGCY_MR);
}
static inline void sigcy_gemm_tn_f(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *A,
                                   ptrdiff_t lda, const float *B, ptrdiff_t ldb, float *C,
                                   ptrdiff_t ldc, int accumulate, float *work)
{
    if (m > 0 && n > 0)
        sigcy_gemm_tn_f_ptr(m, n, k, A, lda, B, ldb, C, ldc, accumulate, work);
}
static inline void sigcy_gemm_tn_d(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const double *A,
                                   ptrdiff_t lda, const double *B, ptrdiff_t ldb, double *C,
                                   ptrdiff_t ldc, int accumulate, double *work)
{
    if (m > 0 && n > 0)
        sigcy_gemm_tn_d_ptr(m, n, k, A, lda, B, ldb, C, ldc, accumulate, work);
}

#endif /* SIGCY_GEMM_H */
