"""The main job (`sigcy`, `python -m sigcy`) runs and reports what it should."""
import re

import numpy as np
import pytest

from sigcy.__main__ import builtin_sample, main


def test_default_job_fits_digits_and_reports(capsys):
    assert main(["--max-iter", "12", "--every", "5"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  Epoch 5: loss = ", out, re.M)
    assert re.search(r"^  Epoch 10: loss = ", out, re.M)
    assert re.search(r"^  Epoch 12: loss = ", out, re.M)       # the last one always
    assert not re.search(r"^  Epoch 3:", out, re.M)
    assert "Epochs: 12, fit time: " in out
    accuracy = float(re.search(r"Test accuracy: ([\d.]+) %", out).group(1))
    assert 50 < accuracy <= 100


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
