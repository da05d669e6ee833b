"""Docstrings of the ufuncs in sigcy._ufuncs (numpy prepends the call signature)."""

_COMMON_PARAMS = """
Parameters
----------
x : array_like
    Input values.  float32 is computed in float32 and float64 in float64; other input is cast
    by numpy's safe-casting rules (int32 and int64 give float64; bool, int8, int16, uint8,
    uint16 and float16 give float32); complex, object and string input raise TypeError, and
    so does long double (no loop for it: cast to float64 first, ``x.astype(np.float64)``).
out : ndarray, None, or tuple of ndarray and None, optional
    Where to store the result, as for any ufunc.
where : array_like, optional
    Where False, the matching element of `out` is left untouched.
**kwargs
    The other ufunc keyword arguments (``casting``, ``order``, ``dtype``, ...).
"""

_COMMON_NOTES = """
Long contiguous runs are split over OpenMP threads (``OMP_NUM_THREADS``, threadpoolctl);
each element's result does not depend on how many threads ran.  No input raises a
floating-point warning, even under ``np.errstate(all="raise")``.  A NaN input gives a NaN;
its payload and sign bit are not guaranteed (they can differ between the AVX-512, AVX2 and
baseline builds, which is chosen at import).
"""

SIGMOID_DOC = f"""
The logistic sigmoid, sigma(x) = 1 / (1 + exp(-x)), elementwise.

A drop-in replacement for :func:`scipy.special.expit`: at most 1 ULP from the exact value
for every float32 and float64 input, including the subnormal tail (float64 x in
[-745.13, -709.78]) where ``expit`` returns 0.
{_COMMON_PARAMS}
Returns
-------
y : ndarray or scalar
    sigma(x), in (0, 1]; a scalar if `x` is a scalar.

See Also
--------
sigmoid_derivative : sigma'(x) = sigma(x) (1 - sigma(x)), computed from x.
log_sigmoid : log(sigma(x)).
scipy.special.expit : The same function in SciPy.

Notes
-----
With ``e = exp(-|x|)``, sigma(x) = 1/(1+e) for x >= 0 and e/(1+e) for x < 0, so nothing
cancels.  exp is evaluated with extra precision and the quotient corrected by its exact residual.
Special values: sigma(+inf) = 1, sigma(-inf) = 0, sigma(+-0) = 0.5, sigma(nan) = nan.
{_COMMON_NOTES}
Examples
--------
>>> import numpy as np
>>> import sigcy
>>> sigcy.sigmoid(np.array([-np.inf, -1.0, 0.0, 1.0, np.inf]))
array([0.        , 0.26894142, 0.5       , 0.73105858, 1.        ])
>>> float(sigcy.sigmoid(-740.0))  # subnormal, where scipy.special.expit gives 0.0
4.2e-322
"""

SIGMOID_DERIVATIVE_DOC = f"""
The derivative of the sigmoid, sigma'(x) = sigma(x) (1 - sigma(x)), elementwise, from x.

At most 2 ULP from the exact value for every input.  Computing it as ``s * (1 - s)`` from
``s = sigmoid(x)`` (as backpropagation code usually does) returns 0 for x > 37 in float64
(x > 17 in float32), where the true value is about exp(-x); this function does not.
{_COMMON_PARAMS}
Returns
-------
y : ndarray or scalar
    sigma'(x), in [0, 0.25]; a scalar if `x` is a scalar.

See Also
--------
sigmoid : sigma(x).
log_sigmoid : log(sigma(x)), whose derivative is sigma(-x).

Notes
-----
sigma'(x) = e / (1 + e)^2 with ``e = exp(-|x|)``, an even function of x.  Special values:
sigma'(0) = 0.25, sigma'(+-inf) = 0, sigma'(nan) = nan.
{_COMMON_NOTES}
Examples
--------
>>> import numpy as np
>>> import sigcy
>>> sigcy.sigmoid_derivative(np.array([0.0, 2.0, -2.0]))
array([0.25      , 0.10499359, 0.10499359])
>>> float(sigcy.sigmoid_derivative(40.0))  # s * (1 - s) gives 0.0 here
4.248354255291589e-18
"""

LOG_SIGMOID_DOC = f"""
The logarithm of the sigmoid, log(sigma(x)) = -log(1 + exp(-x)), elementwise.

At most 2 ULP from the exact value for every input; exactly x for very negative x, 0 (or
-0.0) for large x, -inf at -inf.  The loss of logistic regression and binary cross-entropy
are built on it.
{_COMMON_PARAMS}
Returns
-------
y : ndarray or scalar
    log(sigma(x)), in [-inf, 0]; a scalar if `x` is a scalar.

See Also
--------
sigmoid : sigma(x).
scipy.special.log_expit : The same function in SciPy.

Notes
-----
``log(sigma(x)) = min(x, 0) - log1p(exp(-|x|))``, with log1p evaluated on
``1 + exp(-|x|)`` kept as an unevaluated sum of two doubles, so neither tail loses accuracy.
{_COMMON_NOTES}
Examples
--------
>>> import numpy as np
>>> import sigcy
>>> sigcy.log_sigmoid(np.array([-1000.0, 0.0, 40.0]))
array([-1.00000000e+03, -6.93147181e-01, -4.24835426e-18])
"""
