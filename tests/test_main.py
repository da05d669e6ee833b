"""The main job (`sigcy`, `python -m sigcy`) runs and reports what it should."""
import re

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
