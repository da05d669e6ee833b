/*
 * sigcy_isa.h -- the one instruction-set decision of the process.
 *
 * sigcy_isa_detect() reads SIGCY_DISPATCH ("baseline", "avx2", "avx512"; anything else or
 * unset: the best) and tests the CPU, once per level.  sigcy._core._dispatch calls it once,
 * at import; every compiled module then hands that level to each kernel family it links
 * (sigcy_kernels_set_level, sigcy_rows_set_level, sigcy_gemm_set_level), which installs the
 * best variant it was built with at or below the level and returns that variant's name.
 */
#ifndef SIGCY_ISA_H
#define SIGCY_ISA_H

#define SIGCY_ISA_BASELINE 0
#define SIGCY_ISA_AVX2 1      /* x86-64-v3: AVX2, FMA, BMI2 */
#define SIGCY_ISA_AVX512 2    /* x86-64-v4: AVX-512 F, BW, CD, DQ, VL (and AVX2, FMA) */

/* GCC builds for x86-64 (but Windows) compile AVX2 and AVX-512 variants of every kernel
 * family, unless the meson option dispatch is off (SIGCY_BASELINE_ONLY); others build the
 * row loops and the GEMM for the baseline only. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(_WIN32) \
    && !defined(SIGCY_BASELINE_ONLY)
#define SIGCY_X86_GCC 1
#else
#define SIGCY_X86_GCC 0
#endif

int sigcy_isa_detect(void);
const char *sigcy_isa_name(int level);

#endif /* SIGCY_ISA_H */
