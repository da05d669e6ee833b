"""What this installation of sigcy was built with, for bug reports and tests."""


def build_info():
    """Describe how sigcy was built and what it runs with on this machine.

    Returns
    -------
    info : dict
        ``version``; ``openmp`` (bool: built with OpenMP); ``max_threads`` (the number of
        threads a parallel loop uses now, after ``OMP_NUM_THREADS`` and threadpoolctl);
        ``dispatch`` (the kernels' instruction set on this CPU: "avx512", "avx2" or
        "baseline"; the environment variable ``SIGCY_DISPATCH`` can lower it).

    Examples
    --------
    >>> import sigcy
    >>> sorted(sigcy.build_info())
    ['dispatch', 'max_threads', 'openmp', 'version']
    """
    from sigcy import __version__
    from sigcy._openmp_helpers import (
        _openmp_effective_n_threads,
        _openmp_parallelism_enabled,
    )
    from sigcy._ufuncs import dispatch_target

    return {
        "version": __version__,
        "openmp": bool(_openmp_parallelism_enabled()),
        "max_threads": int(_openmp_effective_n_threads()),
        "dispatch": dispatch_target(),
    }
