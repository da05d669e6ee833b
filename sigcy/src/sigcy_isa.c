/* The instruction-set decision (see sigcy_isa.h). */
#include <stdlib.h>
#include <string.h>
#include "sigcy_isa.h"

static int sigcy_cpu_level(void)
{
#if defined(__GNUC__) && defined(__x86_64__)
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
          && __builtin_cpu_supports("bmi2")))
        return SIGCY_ISA_BASELINE;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512vl"))
        return SIGCY_ISA_AVX512;
    return SIGCY_ISA_AVX2;
#else
    return SIGCY_ISA_BASELINE;
#endif
}

int sigcy_isa_detect(void)
{
    const char *want = getenv("SIGCY_DISPATCH");
    int level = sigcy_cpu_level();
    if (want != NULL && strcmp(want, "baseline") == 0)
        level = SIGCY_ISA_BASELINE;
    else if (want != NULL && strcmp(want, "avx2") == 0 && level > SIGCY_ISA_AVX2)
        level = SIGCY_ISA_AVX2;
    return level;
}

const char *sigcy_isa_name(int level)
{
    return level >= SIGCY_ISA_AVX512 ? "avx512" : level == SIGCY_ISA_AVX2 ? "avx2" : "baseline";
}
