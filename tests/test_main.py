"""The main job (`sigcy`, `python -m sigcy`) runs and reports what it should."""
import re
import subprocess
import sys

import numpy as np
import pytest

from sigcy.__main__ import builtin_sample, main


def test_default_job_fits_digits_and_reports(capsys):
    assert main(["--max-iter", "12", "--every", "5"]) == 0
    out = capsys.readouterr().out
    assert "Digits as sequences (built in): 1797 sequences" in out
    assert re.search(r"^  Epoch 5: loss = ", out, re.M)
    assert re.search(r"^  Epoch 10: loss = ", out, re.M)
    assert re.search(r"^  Epoch 12: loss = ", out, re.M)       # the last one always
    assert not re.search(r"^  Epoch 3:", out, re.M)
    assert "Epochs: 12, fit time: " in out
    accuracy = float(re.search(r"Test accuracy: ([\d.]+) %", out).group(1))
    assert 50 < accuracy <= 100
    # the gradient flow of the three activations, relative to the final state
    for act in ("tanh", "relu"):
        assert re.search(rf"^  {act}\s+fitted in [\d.]+ s", out, re.M)
    table = out[out.index("Gradient norm at distance"):]
    header = table.splitlines()[1].split()
    assert header == ["d", "sigmoid", "tanh", "relu"]
    rows = [line.split() for line in table.splitlines()[2:] if line.strip()]
    assert [r[0] for r in rows] == ["0", "1", "2", "4", "7"]
    assert rows[0][1:] == ["1", "1", "1"]
    assert all(float(v) > 0 for r in rows for v in r[1:])


def test_job_plot_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "flow.png"
    assert main(["fit", "--max-iter", "3", "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"Figure written to {path}" in capsys.readouterr().out


def test_job_on_user_data(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 6, 2))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    assert main(["--data", str(tmp_path / "data.npz"), "--max-iter", "3",
                 "--no-compare"]) == 0
    out = capsys.readouterr().out
    assert "data.npz: 80 sequences (6x2), 2 classes" in out
    assert "Test accuracy:" in out and "Gradient norm at distance" in out
    # CSV: one sequence per row, the target last; a continuous y is a regression
    table = np.column_stack([X.reshape(80, -1), X[:, 0, 0] + X[:, -1, 1]])
    header = ",".join(f"x{k}" for k in range(12)) + ",target"
    np.savetxt(tmp_path / "data.csv", table, delimiter=",", header=header, comments="")
    assert main(["--data", str(tmp_path / "data.csv"), "--n-features", "2", "--max-iter",
                 "3", "--no-compare"]) == 0
    out = capsys.readouterr().out
    assert "data.csv: 80 sequences (6x2), regression" in out
    assert "Test R^2:" in out


@pytest.mark.parametrize("content, name, message", [
    (None, "missing.npz", "no such file"),
    ("1,2,3\n", "one_row.csv", "at least 2 rows"),
    ("x\n", "data.txt", "expected a .npz"),
])
def test_job_rejects_bad_user_data(tmp_path, capsys, content, name, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    assert main(["--data", str(path), "--max-iter", "1"]) == 2
    assert message in capsys.readouterr().err


def _run_sigcy_data(path, *extra):
    """``python -m sigcy --data path`` in a subprocess (from the file's directory, never the
    source tree): its exit status and stderr, as a user sees them in a terminal."""
    proc = subprocess.run([sys.executable, "-m", "sigcy", "--data", str(path), "--max-iter",
                           "1", "--no-compare", *extra],
                          cwd=path.parent, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stderr


def _assert_clear_error(returncode, stderr, *fragments):
    """Exit status 2, one line that names the problem, no warning or traceback."""
    assert returncode == 2, stderr
    assert stderr.startswith("sigcy: error: "), stderr
    for fragment in fragments:
        assert fragment in stderr, stderr
    assert "Warning" not in stderr and "Traceback" not in stderr, stderr
    assert stderr.count("\n") == 1, stderr


@pytest.mark.parametrize("content, fragments", [
    # the example: a value that is not a number on the only line
    ("1,2,x\n", ["line 1, column 3: 'x' is not a number"]),
    # after a header, blank lines and comments: the file's own line number
    ("# my data\nx0,x1,y\n1,2,0\n\n3,4,1\n5,seven,0\n",
     ["line 6, column 2: 'seven' is not a number"]),
    ("1,2,0\n3,,1\n", ["line 2, column 2: an empty field is not a number"]),
    ("1,2,3,0\n4,5,6,1\n7,8,1\n1,2,3,4,0\n",
     ["rows of different lengths", "line 1 (the first data row) has 4 columns",
      "line 3 has 3, line 4 has 5"]),
    ("", ["the file is empty (no data rows)"]),
    ("\n# nothing but a comment\n", ["the file is empty (no data rows)"]),
    ("x0,x1,target\n", ["the file is empty (only a header row)"]),
    ("1,2,0\n3,nan,1\n4,5,0\n", ["X has NaN at sample 1 (line 2)"]),
    ("1,2,0\n3,4,inf\n4,5,0\n", ["y has infinity at sample 1 (line 2)"]),
])
def test_csv_errors_name_the_problem(tmp_path, content, fragments):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    _assert_clear_error(*_run_sigcy_data(path), str(path), *fragments)


def _pickled_X():
    X = np.empty(3, dtype=object)
    X[:] = [np.zeros(4), np.zeros(2), np.zeros(3)]          # sequences of different lengths
    return X


@pytest.mark.parametrize("arrays, fragments", [
    (lambda: {"X": _pickled_X(), "y": np.arange(3)},
     ["X is an object array", "does not load pickles"]),
    (lambda: {"X": np.zeros((3, 4)), "y": np.array(["a", None, "b"], dtype=object)},
     ["y is an object array", "does not load pickles"]),
    (lambda: {"X": np.where(np.arange(24).reshape(4, 3, 2) == 17, np.nan, 1.0),
              "y": np.arange(4) % 2},
     ["X has NaN at sample 2;"]),
    (lambda: {"X": np.where(np.arange(24).reshape(4, 6) % 7 == 6, -np.inf, 1.0),
              "y": np.arange(4) % 2},
     ["X has infinity at sample 1 (3 samples in all)"]),
    (lambda: {"X": np.ones((4, 6)), "y": np.array([0.5, 1.5, np.nan, 2.0])},
     ["y has NaN at sample 2;"]),
    (lambda: {"X": np.ones((4, 6))}, ["lacks array(s) ['y']"]),
    (lambda: {"X": np.ones((8, 3)), "y": np.zeros(8, dtype=int)},
     ["y has a single class (0)", "--task regress"]),
])
def test_npz_errors_name_the_problem(tmp_path, arrays, fragments):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays())
    _assert_clear_error(*_run_sigcy_data(path), str(path), *fragments)


def test_csv_that_is_not_text(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00\x01,2\n")
    _assert_clear_error(*_run_sigcy_data(path), "not a text file (not UTF-8)")


def test_npz_that_is_not_an_archive(tmp_path):
    path = tmp_path / "single.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))
    _assert_clear_error(*_run_sigcy_data(path), "a single array, not a .npz archive")
    path.write_text("1,2,3\n")
    _assert_clear_error(*_run_sigcy_data(path), "not a .npz archive")


def test_kernel_job_reports_accuracy_and_speed(capsys):
    assert main(["kernels", "--size", "20000", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "Accuracy of sigmoid" in out and "ns per element" in out
    if np.finfo(np.longdouble).nmant <= 52:
        pytest.skip("no extended-precision reference on this platform")
    rows = re.findall(r"^(float\d\d)\s+sigcy\.sigmoid\s+([\d.]+)\s+(\d+)$", out, re.M)
    assert [r[0] for r in rows] == ["float64", "float32"]
    for _, max_ulp, flushed in rows:
        assert float(max_ulp) <= 1.0
        assert int(flushed) == 0
    # the contrast the demo is about: expit flushes the float64 subnormal tail to zero
    expit64 = re.search(r"^float64\s+scipy\.special\.expit\s+([\d.]+)\s+(\d+)$", out, re.M)
    assert expit64 is not None and int(expit64.group(2)) > 0


def test_builtin_sample_covers_the_domain():
    for dtype, tail in [(np.float64, -709.78), (np.float32, -88.72)]:
        x = builtin_sample(dtype)
        assert x.dtype == dtype and x.size == 200_000
        assert np.count_nonzero(x < tail) > 10_000  # the subnormal tail of sigma
        assert np.count_nonzero(np.abs(x) < 1e-3) > 100
        assert np.all(np.isfinite(x))
