"""sigcy: exact, fast sigmoid kernels and small recurrent networks for scientific Python.

Public API
----------
sigmoid, sigmoid_derivative, log_sigmoid
    numpy ufuncs, float32 and float64, at most 1-2 ULP from the exact value everywhere.
build_info
    How this installation was built (OpenMP, instruction set).
rnn
    Elman recurrent layers: ``sigcy.rnn.elman_forward``, ``sigcy.rnn.elman_backward``.
RNNClassifier, RNNRegressor
    scikit-learn estimators on those layers.
datasets
    The adding and temporal-order problems, the digits as sequences.
gradient_flow
    The gradient norm at each time step of a fitted estimator (vanishing gradients).
"""
__version__ = "0.1.0"

from sigcy._build_info import build_info
from sigcy._ufuncs import log_sigmoid, sigmoid, sigmoid_derivative
from sigcy import datasets, rnn
from sigcy._estimators import RNNClassifier, RNNRegressor
from sigcy.inspection import gradient_flow

__all__ = ["sigmoid", "sigmoid_derivative", "log_sigmoid", "build_info", "rnn", "datasets",
           "RNNClassifier", "RNNRegressor", "gradient_flow", "__version__"]
