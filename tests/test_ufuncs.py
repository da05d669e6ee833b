"""Everything numpy gives a ufunc holds for sigcy's kernels as it does for np.exp.

Expected values come from the ufunc applied to a plain contiguous copy of the same input
(whose accuracy is checked against mpmath in test_accuracy.py), so these tests pin down
the ufunc machinery: layouts, casting, out=, where=, overlap, threads and errors.
"""
import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import sigcy

UFUNCS = [sigcy.sigmoid, sigcy.sigmoid_derivative, sigcy.log_sigmoid]
DTYPES = [np.float32, np.float64]


def sample(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-50, 50, n)
    x[::7] = rng.uniform(-5, 5, x[::7].size)
    return x.astype(dtype)


def reference(ufunc, x):
    """The ufunc on a fresh, contiguous, native-endian copy of x."""
    return ufunc(np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("=")))


@pytest.mark.parametrize("ufunc", UFUNCS)
def test_is_a_real_ufunc(ufunc):
    assert isinstance(ufunc, np.ufunc)
    assert ufunc.nin == 1 and ufunc.nout == 1
    assert set(ufunc.types) == {"f->f", "d->d"}
    assert ufunc.__doc__.startswith(ufunc.__name__ + "(x, /, out=None")
    assert "Examples" in ufunc.__doc__


@pytest.mark.parametrize("ufunc", UFUNCS)
def test_pickle_roundtrip(ufunc):
    assert pickle.loads(pickle.dumps(ufunc)) is ufunc


@pytest.mark.parametrize("ufunc", UFUNCS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_and_shape_kept(ufunc, dtype):
    x = sample(24, dtype).reshape(2, 3, 4)
    y = ufunc(x)
    assert y.dtype == dtype and y.shape == x.shape
    assert_array_equal(y.ravel(), ufunc(x.ravel()))


@pytest.mark.parametrize("ufunc", UFUNCS)
@pytest.mark.parametrize(
    "in_dtype, out_dtype",
    [
        (np.int64, np.float64),
        (np.int32, np.float64),
        (np.uint32, np.float64),
        (np.int16, np.float32),
        (np.int8, np.float32),
        (np.bool_, np.float32),
        (np.float16, np.float32),
    ],
)
def test_casting_follows_numpy_rules(ufunc, in_dtype, out_dtype):
    x = np.array([0, 1, 3, 5], dtype=in_dtype)
    y = ufunc(x)
    assert y.dtype == out_dtype
    assert_array_equal(y, ufunc(x.astype(out_dtype)))


@pytest.mark.parametrize("ufunc", UFUNCS)
def test_python_scalars_and_0d(ufunc):
    y = ufunc(1.5)
    assert isinstance(y, np.float64)
    assert y == ufunc(np.array([1.5]))[0]
    y32 = ufunc(np.float32(1.5))
    assert isinstance(y32, np.float32)
    z = ufunc(np.array(1.5))
    assert z.ndim == 0 and z == y
    out = np.empty(())
    assert ufunc(np.array(1.5), out=out) is out and out[()] == y


@pytest.mark.parametrize("ufunc", UFUNCS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_empty(ufunc, dtype):
    for shape in [(0,), (3, 0), (0, 4, 2)]:
        y = ufunc(np.empty(shape, dtype))
        assert y.shape == shape and y.dtype == dtype


@pytest.mark.parametrize("ufunc", UFUNCS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_negative_and_fortran(ufunc, dtype):
    base = sample(3000, dtype).reshape(30, 100)
    views = [
        base[:, ::3],
        base[::-1],
        base[:, ::-2],
        base.T,
        np.asfortranarray(base),
        base[5],
        base[:, 7],
    ]
    for v in views:
        assert_array_equal(ufunc(v), reference(ufunc, v))


@pytest.mark.parametrize("ufunc", UFUNCS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_big_endian_and_unaligned(ufunc, dtype):
    x = sample(1000, dtype)
    big = x.astype(np.dtype(dtype).newbyteorder(">"))
    assert_array_equal(ufunc(big), ufunc(x))
    raw = np.zeros(x.nbytes + 1, np.uint8)
    unaligned = raw[1:].view(dtype)
    unaligned[:] = x
    assert not unaligned.flags.aligned
    assert_array_equal(ufunc(unaligned), ufunc(x))


@pytest.mark.parametrize("ufunc", UFUNCS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_broadcasting_into_out(ufunc, dtype):
    x = sample(5, dtype)
    out = np.empty((3, 5), dtype)
    res = ufunc(x, out=out)
    assert res is out
    assert_array_equal(out, np.broadcast_to(ufunc(x), (3, 5)))


@pytest.mark.parametrize("ufunc", UFUNCS)
def test_out_and_where(ufunc):
    x = sample(100, np.float64)
    mask = np.arange(100) % 3 == 0
    out = np.full(100, -7.0)
    res = ufunc(x, out=out, where=mask)
    assert res is out
    assert_array_equal(out[mask], ufunc(x[mask]))
    assert np.all(out[~mask] == -7.0)
    out2 = np.full(100, -7.0)
    ufunc(x, out=(out2,), where=mask)
    assert_array_equal(out2, out)


@pytest.mark.parametrize("ufunc", UFUNCS)
def test_out_with_other_dtype(ufunc):
    x = sample(50, np.float64)
    out32 = np.empty(50, np.float32)
    ufunc(x, out=out32)  # same_kind: computed in float64, cast down
    assert_array_equal(out32, ufunc(x).astype(np.float32))
    y = ufunc(x.astype(np.float32), dtype=np.float64)
    assert y.dtype == np.float64
    assert_array_equal(y, ufunc(x.astype(np.float32).astype(np.float64)))


@pytest.mark.parametrize("ufunc", UFUNCS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 255, 257, 5000, 70_001])
def test_in_place_and_overlap(ufunc, dtype, n):
    x = sample(n, dtype)
    expected = ufunc(x)
    y = x.copy()
    assert ufunc(y, out=y) is y
    assert_array_equal(y, expected)
    # partial overlap: numpy must behave as if input were copied first
    buf = np.concatenate([x, np.zeros(3, dtype)])
    ufunc(buf[:n], out=buf[3:])
    assert_array_equal(buf[3:], expected)
    buf = np.concatenate([np.zeros(3, dtype), x])
    ufunc(buf[3:], out=buf[:n])
    assert_array_equal(buf[:n], expected)


@pytest.mark.parametrize("ufunc", UFUNCS)
def test_input_not_modified(ufunc):
    x = sample(10_000, np.float64)
    x_copy = x.copy()
    x.flags.writeable = False
    ufunc(x)
    assert_array_equal(x, x_copy)


@pytest.mark.parametrize("ufunc", UFUNCS)
def test_readonly_out_raises(ufunc):
    out = np.empty(4)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ufunc(np.ones(4), out=out)


@pytest.mark.parametrize("ufunc", UFUNCS)
def test_wrong_out_shape_and_dtype(ufunc):
    with pytest.raises(ValueError):
        ufunc(np.ones(4), out=np.empty(5))
    with pytest.raises(TypeError):  # numpy's UFuncTypeError: float64 cannot go into int
        ufunc(np.ones(4), out=np.empty(4, dtype=np.int64))


@pytest.mark.parametrize("ufunc", UFUNCS)
@pytest.mark.parametrize(
    "bad",
    [
        np.array(["a", "b"]),
        np.array([1.0, 2.0], dtype=object),
        np.array([1 + 2j]),
        "text",
    ],
    ids=["str", "object", "complex", "pystr"],
)
def test_unsupported_input_type_error(ufunc, bad):
    with pytest.raises(TypeError, match="not supported for the input types"):
        ufunc(bad)


@pytest.mark.parametrize("ufunc", UFUNCS)
def test_wrong_arity(ufunc):
    with pytest.raises(TypeError):
        ufunc()
    with pytest.raises(TypeError):
        ufunc(1.0, 2.0, 3.0)


@pytest.mark.parametrize("ufunc", UFUNCS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_no_floating_point_warnings(ufunc, dtype):
    info = np.finfo(dtype)
    x = np.array(
        [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, info.max, -info.max,
         info.tiny, info.smallest_subnormal, -740.0, -745.2, -104.0, 800.0, -800.0],
        dtype=dtype,
    )
    x = np.tile(x, 1000)  # also through the threaded path
    with np.errstate(all="raise"):
        y = ufunc(x)
        ufunc(x[::-3])
        ufunc(x[0])
    assert_array_equal(np.isnan(y), np.isnan(x))


@pytest.mark.parametrize("ufunc", UFUNCS)
def test_floating_point_environment_of_caller_is_kept(ufunc):
    # no flush-to-zero / denormals-are-zero or other rounding mode left behind in the calling
    # thread (the kernels run on it, and on OpenMP threads for large arrays): the caller's
    # own arithmetic on subnormals and its rounding are unchanged after the calls
    for dtype in (np.float32, np.float64):
        ufunc(np.linspace(-800, 800, 3).astype(dtype))
        ufunc(np.linspace(-800, 800, 200_000).astype(dtype))
        # compared as bits: under DAZ a comparison reads subnormals as 0 too
        half = np.array([2.0**-1070, 2.0**-1073]) * np.array([0.5, 1.0])
        assert_array_equal(half.view(np.uint64), np.array([2.0**-1071, 2.0**-1073]).view(
            np.uint64))
        half32 = np.array([2.0**-140], np.float32) * np.float32(0.5)
        assert half32.view(np.uint32)[0] == np.array([2.0**-141], np.float32).view(np.uint32)[0]
        assert np.float64(1.0) + np.float64(0.75 * 2.0**-52) == 1.0 + 2.0**-52   # nearest
        assert np.float64(-1.0) - np.float64(0.75 * 2.0**-52) == -1.0 - 2.0**-52


@pytest.mark.parametrize("ufunc", UFUNCS)
def test_ufunc_methods_behave(ufunc):
    x = sample(10, np.float64)
    y = x.copy()
    ufunc.at(y, [0, 2, 2])  # unbuffered: applied twice at index 2
    expected = x.copy()
    expected[0] = ufunc(x[0])
    expected[2] = ufunc(ufunc(x[2]))
    assert_array_equal(y, expected)
    with pytest.raises(ValueError):
        ufunc.reduce(x)  # reduce needs a binary ufunc


@pytest.mark.parametrize("ufunc", UFUNCS)
def test_array_ufunc_container(ufunc):
    class Wrapped:
        def __init__(self, data):
            self.data = np.asarray(data)

        def __array_ufunc__(self, uf, method, *inputs, **kwargs):
            unwrapped = [i.data if isinstance(i, Wrapped) else i for i in inputs]
            return Wrapped(getattr(uf, method)(*unwrapped, **kwargs))

    w = ufunc(Wrapped([0.0, 1.0]))
    assert isinstance(w, Wrapped)
    assert_array_equal(w.data, ufunc(np.array([0.0, 1.0])))


@pytest.mark.parametrize("ufunc", UFUNCS)
def test_dask_array_chunk_by_chunk(ufunc):
    da = pytest.importorskip("dask.array")
    x = sample(10_000, np.float64)
    dx = da.from_array(x, chunks=1_000)
    dy = ufunc(dx)
    assert isinstance(dy, da.Array)
    assert dy.chunks == dx.chunks
    assert_array_equal(dy.compute(scheduler="synchronous"), ufunc(x))
    assert_array_equal(dy.compute(scheduler="threads"), ufunc(x))


@pytest.mark.parametrize("ufunc", UFUNCS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_bitwise_identical_for_any_thread_count(ufunc, dtype):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    x = sample(1_000_003, dtype)
    x[::1001] = np.array([np.nan, -744.0, 800.0, -np.inf])[np.arange(x[::1001].size) % 4]
    results = []
    for n_threads in (1, 2, 3):
        with threadpoolctl.threadpool_limits(n_threads, user_api="openmp"):
            results.append(ufunc(x))
            results.append(ufunc(x[::-2]))
    assert_array_equal(results[0].view(np.uint8), results[2].view(np.uint8))
    assert_array_equal(results[0].view(np.uint8), results[4].view(np.uint8))
    assert_array_equal(results[1].view(np.uint8), results[3].view(np.uint8))
    assert_array_equal(results[1].view(np.uint8), results[5].view(np.uint8))
    # and the same as elementwise on small pieces (serial path)
    pieces = np.concatenate([ufunc(c) for c in np.array_split(x, 997)])
    assert_array_equal(pieces.view(np.uint8), results[0].view(np.uint8))
