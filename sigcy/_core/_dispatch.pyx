"""The process's one instruction-set decision (src/sigcy_isa.h).

Imported first by every other compiled module of sigcy, each of which installs the kernels
of ``LEVEL`` in its own copy of the kernel tables: ``SIGCY_DISPATCH`` is read, and the CPU
tested, once per process.
"""

cdef extern from "sigcy_isa.h" nogil:
    int sigcy_isa_detect() noexcept
    const char *sigcy_isa_name(int level) noexcept
    int SIGCY_X86_GCC

LEVEL = sigcy_isa_detect()
LEVEL_NAME = sigcy_isa_name(LEVEL).decode("ascii")
# whether this build compiled every kernel family for every level (GCC on x86-64); other
# builds run the baseline variants of the row loops and the portable GEMM
ALL_LEVELS_BUILT = bool(SIGCY_X86_GCC)
