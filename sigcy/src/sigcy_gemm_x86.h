/*
 * sigcy_gemm_x86.h -- the AVX-512 and AVX2 + FMA tiles and drivers of sigcy_gemm.h.
 *
 * Included by sigcy_gemm.h on GCC x86-64 only (SIGCY_GEMM_X86); every function carries its
 * own target attribute, so the module around it is compiled for baseline x86-64 and the
 * kernels run only when sigcy_gemm_set_level installs them.  Each output element is
 * acc = C or 0, then one FMA per inner index in order, whatever the tile: any split of the
 * rows between tiles, calls or threads gives the same bits.
 */
#ifndef SIGCY_GEMM_X86_H
#define SIGCY_GEMM_X86_H

#include <immintrin.h>

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
 * columns (_tn), as functions of their own, so that gcc keeps the panel in registers
 * (docs/dev/tuning.rst, "GEMM tiles").  The same code, so the same bits. */
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
 * bits, without writing all of H and reading it back (docs/dev/tuning.rst, "Fused input
 * projection").  AVX-512 only (MR, NV constants after inlining). */
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
 * SIGCY_MR (sigcy_wide_tiles) into work, then runs SIGCY_TN_MC_F / _D tiles
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
        /* pack row by row: each row of A and B is read once, front to back (a panel at a */ \
        /* time hit one L1 set for n = 512; docs/dev/tuning.rst) */                          \
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

#endif /* SIGCY_GEMM_X86_H */
