"""Elementwise kernels: sigcy's ufuncs against their peers.

Every benchmark applies one function to ``n`` values drawn uniformly from [-20, 20] (fixed
seed) and writes into a preallocated ``out=`` array, so the timings exclude allocation.

- sigcy: ``sigmoid``, ``sigmoid_derivative``, ``log_sigmoid``, with 1 and 2 OpenMP threads
  (``threadpoolctl.threadpool_limits``, which reaches sigcy's libgomp).
- torch: ``torch.sigmoid`` with 1 and 2 threads; skipped when torch does not import.
- Single-threaded references, parametrized over ``n`` and ``dtype`` only (a thread limit
  does not change them): ``np.copyto`` (a memcpy, the memory-bandwidth floor),
  ``scipy.special.expit``, ``scipy.special.log_expit`` and the numpy formula
  ``1 / (1 + exp(-x))``.

Imports follow SciPy's ``safe_import`` pattern: a function missing from the sigcy under test
(an older commit) makes its own benchmarks skip, through ``NotImplementedError`` in
``setup``, while the rest of the suite runs.  Set ``SIGCY_ALLOW_BENCH_IMPORT_ERRORS=0`` to
make a failing ``import sigcy`` or ``import scipy.special`` an error instead (CI does).
"""
import os

import numpy as np
from threadpoolctl import threadpool_limits


class safe_import:
    """Context manager that swallows an ImportError (SciPy's benchmarks/common.py).

    Parameters
    ----------
    optional : bool
        If True, an ImportError is always swallowed (an optional peer such as torch);
        otherwise only while ``SIGCY_ALLOW_BENCH_IMPORT_ERRORS`` is not "0" or "false".
    """

    def __init__(self, optional=False):
        self.optional = optional
        self.error = False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, tb):
        if exc_type is None:
            return False
        self.error = True
        allowed = os.environ.get("SIGCY_ALLOW_BENCH_IMPORT_ERRORS", "1").lower() not in (
            "0", "false")
        return issubclass(exc_type, ImportError) and (self.optional or allowed)


sigcy = scipy = torch = None
with safe_import():
    import sigcy
with safe_import():
    import scipy.special
with safe_import(optional=True):
    import torch

SIZES = [10**3, 10**4, 10**5, 10**6, 10**7]
DTYPES = ["float32", "float64"]
N_THREADS = [1, 2]
SEED = 1234


def uniform_data(n, dtype, seed=SEED):
    """``n`` values uniform in [-20, 20] (fixed seed) and an output array like them."""
    x = np.random.default_rng(seed).uniform(-20.0, 20.0, size=n).astype(dtype)
    return x, np.empty_like(x)


def require(obj, what):
    """Return ``obj``, or skip the benchmark (``NotImplementedError``) if it is None."""
    if obj is None:
        raise NotImplementedError(f"{what} is not available")
    return obj


def sigcy_function(name):
    """sigcy's ufunc ``name``; skips the benchmark if this sigcy does not have it."""
    return require(getattr(sigcy, name, None), f"sigcy.{name}")


def scipy_special_function(name):
    """``scipy.special.<name>``; skips the benchmark if this SciPy does not have it."""
    special = getattr(scipy, "special", None)
    return require(getattr(special, name, None), f"scipy.special.{name}")


def warm_up(bench, *params):
    """Run ``bench``'s time_ methods once: faults in ``out``'s pages, starts the threads.

    Without it a ``--quick`` run (one call, no warm-up) times page faults and thread start.
    """
    for name in dir(type(bench)):
        if name.startswith("time_"):
            getattr(bench, name)(*params)


class _Threaded:
    """Base: data, and an OpenMP thread limit held from setup to teardown."""

    params = [SIZES, DTYPES, N_THREADS]
    param_names = ["n", "dtype", "n_threads"]
    timeout = 120
    func_name = None

    def setup(self, n, dtype, n_threads):
        self.func = sigcy_function(self.func_name)
        self.x, self.out = uniform_data(n, dtype)
        self._limits = threadpool_limits(limits=n_threads)
        warm_up(self, n, dtype, n_threads)

    def teardown(self, n, dtype, n_threads):
        # asv calls teardown even after setup skipped (NotImplementedError): guard.
        limits = getattr(self, "_limits", None)
        if limits is not None:
            limits.restore_original_limits()


class _SingleThreaded:
    """Base: data for a single-threaded reference."""

    params = [SIZES, DTYPES]
    param_names = ["n", "dtype"]
    timeout = 120

    def setup(self, n, dtype):
        self.x, self.out = uniform_data(n, dtype)
        warm_up(self, n, dtype)


# -- sigcy ------------------------------------------------------------------------------------

class Sigmoid(_Threaded):
    """``sigcy.sigmoid(x, out=out)``."""

    func_name = "sigmoid"

    def time_sigmoid(self, n, dtype, n_threads):
        self.func(self.x, out=self.out)


class SigmoidDerivative(_Threaded):
    """``sigcy.sigmoid_derivative(x, out=out)``."""

    func_name = "sigmoid_derivative"

    def time_sigmoid_derivative(self, n, dtype, n_threads):
        self.func(self.x, out=self.out)


class LogSigmoid(_Threaded):
    """``sigcy.log_sigmoid(x, out=out)``."""

    func_name = "log_sigmoid"

    def time_log_sigmoid(self, n, dtype, n_threads):
        self.func(self.x, out=self.out)


# -- torch ------------------------------------------------------------------------------------

class TorchSigmoid(_Threaded):
    """``torch.sigmoid(x, out=out)`` on tensors sharing the numpy arrays' memory."""

    def setup(self, n, dtype, n_threads):
        require(torch, "torch")
        x, out = uniform_data(n, dtype)
        self.x, self.out = torch.from_numpy(x), torch.from_numpy(out)
        self._torch_threads = torch.get_num_threads()
        # torch may share sigcy's libgomp: limit both the same way.
        self._limits = threadpool_limits(limits=n_threads)
        torch.set_num_threads(n_threads)
        warm_up(self, n, dtype, n_threads)

    def teardown(self, n, dtype, n_threads):
        if hasattr(self, "_torch_threads"):
            torch.set_num_threads(self._torch_threads)
        super().teardown(n, dtype, n_threads)

    def time_torch_sigmoid(self, n, dtype, n_threads):
        torch.sigmoid(self.x, out=self.out)


# -- single-threaded references ---------------------------------------------------------------

class Memcpy(_SingleThreaded):
    """``np.copyto(out, x)``: reading and writing the arrays, the floor for any kernel."""

    def time_copyto(self, n, dtype):
        np.copyto(self.out, self.x)


class Expit(_SingleThreaded):
    """``scipy.special.expit(x, out=out)``."""

    def setup(self, n, dtype):
        self.func = scipy_special_function("expit")
        super().setup(n, dtype)

    def time_expit(self, n, dtype):
        self.func(self.x, out=self.out)


class LogExpit(_SingleThreaded):
    """``scipy.special.log_expit(x, out=out)`` (SciPy >= 1.8), the peer of log_sigmoid."""

    def setup(self, n, dtype):
        self.func = scipy_special_function("log_expit")
        super().setup(n, dtype)

    def time_log_expit(self, n, dtype):
        self.func(self.x, out=self.out)


class NumpyFormula(_SingleThreaded):
    """``1 / (1 + np.exp(-x))``, evaluated in place in ``out`` (no temporaries)."""

    def time_sigmoid_formula(self, n, dtype):
        out = self.out
        np.negative(self.x, out=out)
        np.exp(out, out=out)
        np.add(out, 1, out=out)
        np.reciprocal(out, out=out)
