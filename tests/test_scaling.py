"""sigcy on an existing engine: dask.distributed workers, joblib's dask backend, dask.array.

The recipe tested here is the one in docs/scaling.rst: worker *processes* (the Nanny spawns
them, never forks), ``n_workers * threads_per_worker * OpenMP threads <= cores``, and the
OpenMP thread count fixed through each worker's environment before the worker process starts
(``OMP_NUM_THREADS``).  A threadpoolctl limit applied from outside a task does not work:
libgomp keeps the thread count per calling thread, so ``client.run(threadpool_limits, 1)``
(which runs in the worker's event-loop thread) leaves the task threads untouched.

One cluster serves the whole module; it is always closed, and the environment variables that
the Nanny writes into this process (``distributed.nanny.pre-spawn-environ``) are restored.
"""
import os

import numpy as np
import pytest
from numpy.testing import assert_array_equal

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
joblib = pytest.importorskip("joblib")
threadpoolctl = pytest.importorskip("threadpoolctl")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

import sigcy  # noqa: E402
from sigcy import RNNClassifier  # noqa: E402
from sigcy._openmp_helpers import _openmp_parallelism_enabled  # noqa: E402

N_WORKERS = 2
THREADS_PER_WORKER = 1
OMP_THREADS_PER_WORKER = 1       # 2 workers x 1 task thread x 1 OpenMP thread on 2 cores
TIMEOUT = 60                     # seconds, for anything that waits on the cluster

# distributed times the creation of its scratch directories in this process and warns when it
# takes over 1 s, which a busy CI machine can reach; that says nothing about sigcy.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Creating scratch directories is taking a surprisingly long time:UserWarning"
)


@pytest.fixture(scope="module")
def client():
    saved_environ = dict(os.environ)
    try:
        with distributed.LocalCluster(
            n_workers=N_WORKERS,
            threads_per_worker=THREADS_PER_WORKER,
            processes=True,
            # The recipe: OMP_NUM_THREADS in each worker's environment, set when the worker
            # process starts and before any task imports sigcy (it overrides an
            # OMP_NUM_THREADS exported in this process's environment).
            env={"OMP_NUM_THREADS": str(OMP_THREADS_PER_WORKER)},
            dashboard_address=":0",     # the scheduler's HTTP server on a free port
            scheduler_port=0,
            timeout=TIMEOUT,
        ) as cluster, distributed.Client(cluster, timeout=TIMEOUT) as c:
            c.wait_for_workers(N_WORKERS, timeout=TIMEOUT)
            yield c
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)


def _workers(client):
    return sorted(client.scheduler_info()["workers"])


def test_openmp_threads_inside_worker_tasks(client):
    if not _openmp_parallelism_enabled():
        pytest.skip("serial build")
    # Tasks run functions that the workers can import (this module is not importable there).
    # With one thread per worker, the three tasks sent to a worker run in the same thread.
    pids = set()
    for worker in _workers(client):
        def run(func):
            return client.submit(func, pure=False, workers=[worker]).result(timeout=TIMEOUT)

        pids.add(run(os.getpid))
        assert run(sigcy.build_info)["max_threads"] == OMP_THREADS_PER_WORKER
        openmp = {info["filepath"]: info["num_threads"]
                  for info in run(threadpoolctl.threadpool_info)
                  if info["user_api"] == "openmp"}
        assert openmp          # sigcy's libgomp (and scikit-learn's, when it is loaded)
        assert set(openmp.values()) == {OMP_THREADS_PER_WORKER}, openmp
    assert len(pids | {os.getpid()}) == N_WORKERS + 1       # real, separate processes


def test_grid_search_on_dask_workers_through_joblib(client):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 6, 2))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    search = GridSearchCV(
        RNNClassifier(solver="lbfgs", max_iter=300, tol=1e-2, random_state=0),
        {"hidden_layer_sizes": [4, 8], "alpha": [1e-4, 1e-1]},
        cv=2, n_jobs=-1,
    )
    with distributed.get_task_stream(client) as stream:
        with joblib.parallel_backend("dask"):
            search.fit(X, y)
    ran_on = {task["worker"] for task in stream.data}
    assert ran_on and ran_on <= set(_workers(client))
    assert search.best_score_ > 0.8
    # The fits on the workers (1 OpenMP thread) give the same bits as here (the default
    # thread count): sigcy's kernels do not depend on the number of threads.
    here = clone(search).set_params(n_jobs=1).fit(X, y)
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        assert_array_equal(search.cv_results_[key], here.cv_results_[key])
    assert_array_equal(search.predict_proba(X), here.predict_proba(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_on_dask_array_chunk_by_chunk(client, dtype):
    x = np.linspace(-800, 800, 100_003).astype(dtype)
    x[::997] = np.nan
    dx = da.from_array(x, chunks=20_000)             # > 16384: each chunk may use OpenMP
    dy = sigcy.sigmoid(dx)
    assert isinstance(dy, da.Array)
    assert dy.chunks == dx.chunks and dy.dtype == dtype
    with distributed.get_task_stream(client) as stream:
        y = client.compute(dy).result(timeout=TIMEOUT)
    ran_on = {task["worker"] for task in stream.data}
    assert ran_on and ran_on <= set(_workers(client))
    assert_array_equal(y.view(np.uint8), sigcy.sigmoid(x).view(np.uint8))
