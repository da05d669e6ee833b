"""Input sequences for the estimators: 3-D and ragged input checked and padded, sample weights.

Functions here set no estimator attribute: the estimators' ``_validate_X`` calls them and
then records what it fitted on (``n_features_in_``, the input's dimensionality), or checks
the input against it.  A batch of sequences travels as a :class:`_Sequences`: one
C-contiguous (n_samples, n_timesteps, n_features) array, plus the length of each sequence
when a ragged list was padded.
"""
import numpy as np

from sigcy._core import _step
import scipy.sparse as sp
from sklearn.utils.validation import check_array

_FLOAT_DTYPES = (np.float64, np.float32)


class _Sequences:
    """Validated sequences: a C-contiguous (n_samples, n_timesteps, n_features) array and the
    length of each sequence (None when all have n_timesteps)."""

    __slots__ = ("X", "lengths")

    def __init__(self, X, lengths=None):
        self.X = X
        self.lengths = lengths

    def __len__(self):
        return self.X.shape[0]

    def take(self, idx):
        return _Sequences(np.ascontiguousarray(self.X[idx]),
                          None if self.lengths is None else self.lengths[idx])


def _ragged_to_padded(X, dtype, name):
    """A list of 2-D arrays (T_i, n_features) -> padded 3-D array and lengths."""
    seqs = []
    for i, s in enumerate(X):
        s = check_array(s, dtype=dtype, ensure_2d=False, ensure_min_samples=0,
                        input_name=f"{name}[{i}]")
        if s.ndim != 2:
            raise ValueError(
                f"{name} is a list of sequences of different lengths, so each must be a 2-D "
                f"array (n_timesteps_i, n_features); {name}[{i}] has shape {s.shape}."
            )
        if s.shape[0] == 0:
            raise ValueError(f"{name}[{i}] is an empty sequence (shape {s.shape}); every "
                             f"sequence needs at least one time step.")
        seqs.append(s)
    n_features = {s.shape[1] for s in seqs}
    if len(n_features) > 1:
        raise ValueError(f"The sequences in {name} have different numbers of features: "
                         f"{sorted(n_features)}.")
    out_dtype = np.result_type(*[s.dtype for s in seqs])
    if out_dtype not in _FLOAT_DTYPES:
        out_dtype = np.float64
    lengths = np.array([s.shape[0] for s in seqs], dtype=np.intp)
    padded = np.zeros((len(seqs), lengths.max(), seqs[0].shape[1]), dtype=out_dtype)
    for i, s in enumerate(seqs):
        padded[i, : s.shape[0]] = s
    return padded, lengths


def _as_3d(X, dtype):
    """Sort the input of ``fit`` or ``predict`` into 3-D sequences and the rest.

    Returns ``(X, lengths, True)`` for 3-D input, checked (``check_array`` in ``dtype``, at
    least one time step), or for a list of sequences of different lengths, padded (their
    ``lengths``, else None); ``(X, None, False)`` for anything else (2-D, one univariate
    sequence per row, or invalid), left to scikit-learn's ``validate_data``, a list turned
    into an array.  Raises ValueError for more than 3 dimensions.
    """
    if isinstance(X, (list, tuple)) and len(X):
        try:
            X = np.asarray(X)
        except ValueError:            # sequences of different lengths
            padded, lengths = _ragged_to_padded(X, dtype, "X")
            return padded, lengths, True
    if sp.issparse(X):
        ndim = None
    elif hasattr(X, "shape"):
        ndim = len(X.shape)
    else:
        ndim = np.asarray(X).ndim
    if ndim == 3:
        X = check_array(X, dtype=dtype, allow_nd=True, input_name="X")
        if X.shape[1] == 0:
            raise ValueError(f"X has shape {X.shape}: zero time steps; need at least one.")
        return X, None, True
    if ndim is not None and ndim > 3:
        raise ValueError(
            f"X has shape {np.shape(X)}: expected a 2-D array (n_samples, n_timesteps), a "
            f"3-D array (n_samples, n_timesteps, n_features) or a list of 2-D arrays."
        )
    return X, None, False


def _sum_in_order(w):
    """The sum of the 1-D array w, added in index order, not numpy's pairwise order: the
    compiled training step's own sum of a mini-batch's sample weights; a Python float."""
    return _step.sum_in_order(np.ascontiguousarray(w, dtype=np.float64))


def _check_batch_weights(sample_weight, order, batch_size, index):
    """ValueError if the sample weights of a mini-batch of this epoch sum to zero (its
    weighted mean loss is undefined); sums in index order, as the compiled step's.
    index[j]: the caller's index of training sample j (early stopping holds some out)."""
    w = sample_weight[order]
    starts = np.arange(0, w.shape[0], batch_size)
    if w.min() >= 0:        # a sum of non-negative values is 0 only if all are, any order
        sums = np.add.reduceat(w, starts)
    else:
        sums = np.array([_sum_in_order(w[a:a + batch_size]) for a in starts])
    bad = np.flatnonzero(sums == 0)
    if bad.size:
        k = bad[0]
        samples = index[order[starts[k]:starts[k] + batch_size]]
        raise ValueError(
            f"The sample weights of a mini-batch sum to zero (batch {k + 1} of "
            f"{starts.shape[0]}, samples {samples!r}): its "
            f"weighted mean loss is undefined. Use a larger batch_size or fewer zero "
            f"weights.")
