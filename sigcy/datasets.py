"""Sequence datasets: long-range-dependency tasks and the digits as sequences.

``make_adding_problem`` and ``make_temporal_order`` are two of the long-time-lag tasks of
Hochreiter & Schmidhuber (1997), "Long short-term memory", Neural Computation 9(8); they
measure how far back in time a recurrent network can carry information.
``load_digits_sequences`` reads scikit-learn's embedded copy of the UCI handwritten digits
as sequences (sigcy's default dataset).
"""
from numbers import Integral

import numpy as np
from sklearn.utils import Bunch, check_random_state

__all__ = ["make_adding_problem", "make_temporal_order", "load_digits_sequences"]

#: Symbols of make_temporal_order, in the order of its one-hot features.
TEMPORAL_ORDER_SYMBOLS = ("a", "b", "c", "d", "X", "Y", "B", "E")


def _check_int(name, value, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return int(value)


def make_adding_problem(n_samples=1000, n_timesteps=50, *, random_state=None):
    """Generate the adding problem: sum two marked numbers of a long sequence.

    Each sequence has two features per time step: a value drawn uniformly from [0, 1], and
    a marker that is 1 at exactly two steps and 0 elsewhere.  The first marked step lies in
    the first half of the sequence, the second in the second half; the target is the sum
    of the two marked values.  Predicting the mean, 1, gives a mean squared error of 1/6;
    solving the task needs memory across at least ``n_timesteps / 2`` steps.  This is the
    formulation of Le, Jaitly & Hinton (2015) of Hochreiter & Schmidhuber's (1997)
    experiment 4.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of sequences.
    n_timesteps : int, default=50
        Length of every sequence, at least 2.
    random_state : int, RandomState instance or None, default=None
        Seed of the values and marker positions, as in scikit-learn's ``make_*``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_timesteps, 2)
        ``X[:, :, 0]`` the values, ``X[:, :, 1]`` the markers.
    y : ndarray of shape (n_samples,)
        The sum of the two marked values, in [0, 2].

    Examples
    --------
    >>> from sigcy.datasets import make_adding_problem
    >>> X, y = make_adding_problem(n_samples=4, n_timesteps=10, random_state=0)
    >>> X.shape, y.shape
    ((4, 10, 2), (4,))
    >>> bool(np.all(X[:, :, 1].sum(axis=1) == 2))
    True
    >>> bool(np.allclose(y, (X[:, :, 0] * X[:, :, 1]).sum(axis=1)))
    True
    """
    n_samples = _check_int("n_samples", n_samples, 1)
    n_timesteps = _check_int("n_timesteps", n_timesteps, 2)
    rng = check_random_state(random_state)
    half = n_timesteps // 2
    values = rng.uniform(0.0, 1.0, size=(n_samples, n_timesteps))
    first = rng.randint(0, half, size=n_samples)
    second = rng.randint(half, n_timesteps, size=n_samples)
    markers = np.zeros((n_samples, n_timesteps))
    rows = np.arange(n_samples)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    X = np.stack([values, markers], axis=2)
    y = values[rows, first] + values[rows, second]
    return X, y


def make_temporal_order(n_samples=1000, n_timesteps=100, *, random_state=None):
    """Generate the temporal-order problem: classify the order of two distant symbols.

    Hochreiter & Schmidhuber's (1997) experiment 6a.  Each sequence starts with the symbol
    ``B`` and ends with ``E``; the steps between are random distractors from ``a, b, c,
    d``, except two: at a step ``t1`` in the first ``[10 %, 20 %]`` of the sequence and a
    step ``t2`` in ``[50 %, 60 %]``, the symbol is ``X`` or ``Y``.  The class is the pair
    in order: 0 = XX, 1 = XY, 2 = YX, 3 = YY.  Symbols are one-hot encoded in the order
    of :data:`TEMPORAL_ORDER_SYMBOLS` (``a b c d X Y B E``).  The first relevant symbol is
    at least ``0.3 * n_timesteps`` steps from the end.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of sequences.
    n_timesteps : int, default=100
        Length of every sequence, at least 10.
    random_state : int, RandomState instance or None, default=None
        Seed of the symbols and positions.

    Returns
    -------
    X : ndarray of shape (n_samples, n_timesteps, 8)
        One-hot symbols.
    y : ndarray of shape (n_samples,)
        Class labels in {0, 1, 2, 3}.

    Examples
    --------
    >>> from sigcy.datasets import make_temporal_order
    >>> X, y = make_temporal_order(n_samples=5, n_timesteps=20, random_state=0)
    >>> X.shape, set(y.tolist()) <= {0, 1, 2, 3}
    ((5, 20, 8), True)
    >>> bool(np.all(X.sum(axis=2) == 1))        # one symbol per step
    True
    """
    n_samples = _check_int("n_samples", n_samples, 1)
    n_timesteps = _check_int("n_timesteps", n_timesteps, 10)
    rng = check_random_state(random_state)
    T = n_timesteps
    symbols = rng.randint(0, 4, size=(n_samples, T))       # distractors a..d
    symbols[:, 0] = 6                                       # B
    symbols[:, -1] = 7                                      # E
    lo1, hi1 = max(1, int(0.1 * T)), max(1, int(0.2 * T))
    lo2, hi2 = max(hi1 + 1, int(0.5 * T)), max(hi1 + 1, int(0.6 * T))
    t1 = rng.randint(lo1, hi1 + 1, size=n_samples)
    t2 = rng.randint(lo2, min(hi2, T - 2) + 1, size=n_samples)
    first = rng.randint(0, 2, size=n_samples)               # 0: X, 1: Y
    second = rng.randint(0, 2, size=n_samples)
    rows = np.arange(n_samples)
    symbols[rows, t1] = 4 + first
    symbols[rows, t2] = 4 + second
    X = np.zeros((n_samples, T, len(TEMPORAL_ORDER_SYMBOLS)))
    X[rows[:, None], np.arange(T)[None, :], symbols] = 1.0
    y = 2 * first + second
    return X, y


def load_digits_sequences(*, return_X_y=False):
    """Load the handwritten digits as sequences: each 8x8 image as 8 steps of 8 pixels.

    scikit-learn's embedded copy of the UCI ML digits (1797 images, 10 classes,
    :func:`sklearn.datasets.load_digits`), each image read row by row from the top, pixel
    values divided by 16 into [0, 1].  sigcy's default dataset: ``sigcy`` fits an
    :class:`~sigcy.RNNClassifier` on a stratified 75/25 split of it.

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (1797, 8, 8) sequences, ``target`` (1797,) labels, ``images`` the original
        (1797, 8, 8) images in [0, 16], ``DESCR``.
    (X, y) : tuple
        If ``return_X_y``.

    Examples
    --------
    >>> from sigcy.datasets import load_digits_sequences
    >>> X, y = load_digits_sequences(return_X_y=True)
    >>> X.shape, y.shape, float(X.max())
    ((1797, 8, 8), (1797,), 1.0)
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = digits.images / 16.0
    if return_X_y:
        return X, digits.target
    descr = ("Digits as sequences: scikit-learn's load_digits, each 8x8 image read as 8 time "
             "steps (rows, top to bottom) of 8 features (pixels / 16).\n\n" + digits.DESCR)
    return Bunch(data=X, target=digits.target, images=digits.images,
                 target_names=digits.target_names, DESCR=descr)
