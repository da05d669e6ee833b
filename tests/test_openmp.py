"""OpenMP: present in a normal build, and the thread count follows threadpoolctl."""
import os

import pytest

import sigcy
from sigcy._openmp_helpers import _openmp_effective_n_threads, _openmp_parallelism_enabled


def test_openmp_was_not_silently_lost():
    # A build configured with -Csetup-args=-Dopenmp=disabled is serial on purpose; set
    # SIGCY_SKIP_OPENMP_TEST=1 when testing such a build.  Anywhere else, losing OpenMP
    # (a compiler without it, a broken meson dependency) must not pass unnoticed.
    if os.environ.get("SIGCY_SKIP_OPENMP_TEST", "0") != "0":
        pytest.skip("SIGCY_SKIP_OPENMP_TEST is set")
    assert _openmp_parallelism_enabled(), (
        "sigcy was built without OpenMP: install a compiler with OpenMP support (gcc, or "
        "clang with libomp) or set SIGCY_SKIP_OPENMP_TEST=1 for an intentionally serial build."
    )
    assert sigcy.build_info()["openmp"] is True


def test_thread_count_follows_threadpoolctl():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not _openmp_parallelism_enabled():
        pytest.skip("serial build")
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert _openmp_effective_n_threads() == 1
        assert sigcy.build_info()["max_threads"] == 1
    with threadpoolctl.threadpool_limits(3, user_api="openmp"):
        assert _openmp_effective_n_threads() == 3
        assert _openmp_effective_n_threads(2) == 2
        assert _openmp_effective_n_threads(-1) == 3
        assert _openmp_effective_n_threads(-2) == 2


def test_effective_n_threads_rejects_zero():
    with pytest.raises(ValueError, match="n_threads == 0"):
        _openmp_effective_n_threads(0)


def test_threadpoolctl_sees_sigcys_openmp():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not _openmp_parallelism_enabled():
        pytest.skip("serial build")
    import sigcy._ufuncs as mod  # noqa: F401  (loads the OpenMP runtime)

    apis = {info["user_api"] for info in threadpoolctl.threadpool_info()}
    assert "openmp" in apis


def test_build_info():
    info = sigcy.build_info()
    assert info["version"] == sigcy.__version__
    assert info["dispatch"] in {"baseline", "avx2", "avx512"}
    assert info["max_threads"] >= 1
