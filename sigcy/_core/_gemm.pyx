"""The GEMM kernels' table for this process, and an entry for the tests and benchmarks."""
from cython cimport floating

from sigcy._core._dispatch import LEVEL
from sigcy._core._pool cimport _Packed

KERNELS = sigcy_gemm_set_level(LEVEL).decode("ascii")


def _gemm_tn_check(const floating[:, ::1] A, const floating[:, ::1] B, floating[:, ::1] C,
                   bint accumulate):
    """C (+)= A^T B with the weight-gradient kernel (for the tests and benchmarks)."""
    if B.shape[0] != A.shape[0] or C.shape[0] != A.shape[1] or C.shape[1] != B.shape[1]:
        raise ValueError(f"A ({A.shape[0]}, {A.shape[1]}), B ({B.shape[0]}, {B.shape[1]}) "
                         f"and C ({C.shape[0]}, {C.shape[1]}) do not make C (+)= A^T B")
    if A.shape[0] == 0 or C.shape[0] == 0 or C.shape[1] == 0:
        if not accumulate:
            C[:, :] = 0
        return
    cdef _Packed work = _Packed(gemm_tn_work(A.shape[1], B.shape[1], <floating> 0)
                                * sizeof(floating))
    with nogil:
        gemm_tn(A.shape[1], B.shape[1], A.shape[0], &A[0, 0], A.shape[1], &B[0, 0],
                B.shape[1], &C[0, 0], C.shape[1], accumulate, <floating *> work.data)
