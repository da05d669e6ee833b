"""The examples in the public docstrings and in the README run and give what they show."""
import doctest
from pathlib import Path

import numpy as np
import pytest

import sigcy
from sigcy import _build_info

PUBLIC = {
    "sigmoid": sigcy.sigmoid,
    "sigmoid_derivative": sigcy.sigmoid_derivative,
    "log_sigmoid": sigcy.log_sigmoid,
    "build_info": _build_info.build_info,
    "gradient_flow": sigcy.gradient_flow,
    "RNNClassifier": sigcy.RNNClassifier,
    "RNNRegressor": sigcy.RNNRegressor,
    "make_adding_problem": sigcy.datasets.make_adding_problem,
    "make_temporal_order": sigcy.datasets.make_temporal_order,
    "load_digits_sequences": sigcy.datasets.load_digits_sequences,
}
ESTIMATOR_METHODS = ["fit", "partial_fit", "predict", "predict_proba", "predict_log_proba",
                     "score"]


def run_doctest(text, name):
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {"np": np}, name, None, 0)
    assert test.examples, f"{name} has no runnable example"
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} example(s) failed in {name}"


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_docstring_examples(name):
    obj = PUBLIC[name]
    doc = obj.__doc__
    sections = ("Parameters", "Returns", "Examples")
    if isinstance(obj, type):
        sections = ("Parameters", "Attributes", "Examples")
    for section in sections:
        if name == "build_info" and section == "Parameters":
            continue
        assert section in doc, f"{name} docstring lacks {section}"
    run_doctest(doc, name)


@pytest.mark.parametrize("cls", [sigcy.RNNClassifier, sigcy.RNNRegressor])
def test_estimator_methods_are_documented(cls):
    for method in ESTIMATOR_METHODS:
        func = getattr(cls, method, None)
        if func is None:
            continue
        for section in ("Parameters", "Returns"):
            assert section in (func.__doc__ or ""), f"{cls.__name__}.{method} lacks {section}"


def test_readme_examples():
    readme = Path(__file__).resolve().parents[1] / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not beside the tests (installed tests)")
    run_doctest(readme.read_text(), "README.md")
