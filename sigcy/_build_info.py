"""What this installation of sigcy was built with, for bug reports and tests."""


def build_info():
    """Describe how sigcy was built and what it runs with on this machine.

    Returns
    -------
    info : dict
        ``version``; ``openmp`` (bool: built with OpenMP); ``max_threads`` (the number of
        threads a parallel loop uses now, after ``OMP_NUM_THREADS`` and threadpoolctl);
        ``dispatch`` (the instruction-set level chosen once for the process: "avx512",
        "avx2" or "baseline"; the environment variable ``SIGCY_DISPATCH`` can lower it);
        ``kernels`` (dict: the variant each kernel family runs at that level, which is the
        best it was built with at or below it):

        - ``"ufuncs"``: the array loops of the sigmoid-family ufuncs ("avx512", "avx2" or
          "baseline");
        - ``"rows"``: the recurrences' forward row loops (bias and activation), as "ufuncs";
        - ``"backward_rows"``: the row loops of the backward passes, losses and optimizer
          steps (compiled for every level; the same bits at each);
        - ``"gemm"``: the matrix products of the recurrences ("avx512", "avx2" or "baseline":
          portable C).

    Examples
    --------
    >>> import sigcy
    >>> sorted(sigcy.build_info())
    ['dispatch', 'kernels', 'max_threads', 'openmp', 'version']
    >>> sorted(sigcy.build_info()["kernels"])
    ['backward_rows', 'gemm', 'rows', 'ufuncs']
    """
    from sigcy import __version__
    from sigcy._core import _dispatch, _gemm, _step
    from sigcy._openmp_helpers import (
        _openmp_effective_n_threads,
        _openmp_parallelism_enabled,
    )
    from sigcy._ufuncs import KERNELS as ufunc_kernels

    return {
        "version": __version__,
        "openmp": bool(_openmp_parallelism_enabled()),
        "max_threads": int(_openmp_effective_n_threads()),
        "dispatch": _dispatch.LEVEL_NAME,
        "kernels": {"ufuncs": ufunc_kernels, "rows": ufunc_kernels,
                    "backward_rows": _step.KERNELS, "gemm": _gemm.KERNELS},
    }
