"""The compiled trainer (sigcy._core._trainer.Trainer): a private object, but no call of it,
however wrong, may read or write out of bounds; and the estimators' use of it.

Its arithmetic is tested through the estimators (tests/test_estimators.py: the compiled epoch
against a loop of single steps, the gradient against finite differences).
"""
import copy
import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sigcy import RNNClassifier
from sigcy._core import _gemm
from sigcy._core._trainer import CELLS, Trainer
from sigcy._network import _make_layout, _make_trainer


def _trainer(n_features=2, hidden=(3,), n_outputs=2, bptt_steps=None):
    layout, _ = _make_layout(list(hidden), n_features, n_outputs)
    return _make_trainer(layout, n_outputs, 1, True, bptt_steps), layout


def _batch(n=10, T=4, F=2, C=2, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, F)).astype(dtype)
    Y = np.eye(C, dtype=dtype)[rng.integers(0, C, n)]
    return X, Y


def test_loss_grad_runs_and_checks_shapes():
    trainer, layout = _trainer()
    n_theta = layout[-1][4]
    X, Y = _batch()
    theta = np.random.default_rng(1).standard_normal(n_theta)
    grad = np.empty_like(theta)
    loss, sq, gsq = trainer.loss_grad(X, None, Y, None, theta, grad, 0.0)
    assert np.isfinite(loss) and sq > 0 and gsq > 0
    with pytest.raises(ValueError, match="inconsistent shapes"):
        trainer.loss_grad(X[:, :, :1].copy(), None, Y, None, theta, grad, 0.0)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        trainer.loss_grad(X, None, Y[:5].copy(), None, theta, grad, 0.0)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        trainer.loss_grad(X, None, Y, None, theta[:-1].copy(), grad, 0.0)
    with pytest.raises(ValueError, match="lengths"):
        trainer.loss_grad(X, np.full(10, 5, dtype=np.intp), Y, None, theta, grad, 0.0)
    with pytest.raises(TypeError):
        trainer.loss_grad(None, None, Y, None, theta, grad, 0.0)


def test_construction_checks_the_table():
    layout, _ = _make_layout([3], 2, 2)
    blocks = lambda n, T: (1, [(8, 8)])                   # noqa: E731
    good = dict(layers=[(CELLS["elman"], 0, 6, 15, 2, 3)], W_out_offset=18, b_out_offset=24,
                l2_ranges=[(0, 6), (6, 15), (18, 24)], n_theta=26, n_outputs=2, act=0,
                cross_entropy=True, bptt_steps=0, blocks=blocks)
    Trainer(**good)
    for key, value, match in [
            ("layers", [(7, 0, 6, 15, 2, 3)], "does not fit"),            # unknown cell
            ("layers", [(0, 0, 6, 25, 2, 3)], "does not fit"),            # b beyond theta
            ("layers", [(0, 0, 6, 15, 2)], "layers must be"),
            ("W_out_offset", 25, "output offsets"),
            ("l2_ranges", [(0, 27)], "outside theta"),
            ("act", 5, "act 5"),
            ("blocks", None, "callable")]:
        with pytest.raises((ValueError, TypeError), match=match):
            Trainer(**dict(good, **{key: value}))


def test_uninitialized_trainer_raises():
    trainer = Trainer.__new__(Trainer)
    X, Y = _batch()
    with pytest.raises(RuntimeError, match="not initialized"):
        trainer.loss_grad(X, None, Y, None, np.zeros(26), np.zeros(26), 0.0)
    with pytest.raises(RuntimeError, match="not initialized"):
        trainer.epoch(X, None, Y, None, np.arange(10), 5, np.zeros(26), np.zeros(26),
                      np.zeros(26), np.zeros(26), 0.0, 0, np.zeros(2))


def test_absurd_blocks_are_clamped():
    trainer = Trainer([(0, 0, 6, 15, 2, 3)], 18, 24, [(0, 6), (6, 15), (18, 24)], 26, 2, 1,
                      True, 0, lambda n, T: (1, [(2**40, 2**40)]))
    X, Y = _batch()
    theta = np.random.default_rng(1).standard_normal(26)
    reference, _ = _trainer()
    g1, g2 = np.empty(26), np.empty(26)
    assert trainer.loss_grad(X, None, Y, None, theta, g1, 0.0) == \
        reference.loss_grad(X, None, Y, None, theta, g2, 0.0)
    np.testing.assert_array_equal(g1, g2)


def test_step_callback_cannot_reenter_the_trainer():
    # the epoch's workspace stays its own: a call from between its steps is refused
    trainer, layout = _trainer()
    n_theta = layout[-1][4]
    X, Y = _batch(n=40)
    theta = np.random.default_rng(2).standard_normal(n_theta)
    grad, m, v = np.empty_like(theta), np.zeros_like(theta), np.zeros_like(theta)
    bigger_X, bigger_Y = _batch(n=400, T=20, seed=3)
    refused = []

    def reenter(steps_done):
        with pytest.raises(RuntimeError, match="busy"):
            trainer.loss_grad(bigger_X, None, bigger_Y, None, theta.copy(),
                              np.empty_like(theta), 0.0)
        refused.append(steps_done)

    trainer.step_callback = reenter
    trainer.set_optimizer("adam", learning_rate_init=0.01)
    loss_sum, status = trainer.epoch(X, None, Y, None, np.arange(40), 10, theta, grad, m, v,
                                     0.0, 0, np.empty(4))
    assert refused == [0, 1, 2, 3]
    assert trainer.steps_done == 4 and trainer.adam_steps == 4 and np.isfinite(loss_sum)
    # and usable again afterwards
    trainer.step_callback = None
    trainer.loss_grad(bigger_X, None, bigger_Y, None, theta, grad, 0.0)


_snapshots = []


def _save(est):
    """A checkpointing callback (picklable itself, as the estimator holds it)."""
    _snapshots.append(pickle.loads(pickle.dumps(est)))
    copy.deepcopy(est)


def test_callback_may_pickle_and_copy_the_estimator_mid_fit():
    X, Y = _batch(n=60, T=5)
    y = Y.argmax(axis=1)
    snapshots = _snapshots
    for solver in ("adam", "lbfgs"):
        snapshots.clear()
        clf = RNNClassifier(hidden_layer_sizes=4, solver=solver, max_iter=3, random_state=0,
                            callback=_save)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        assert len(snapshots) == clf.n_iter_
        assert not hasattr(snapshots[-1], "_work")
        np.testing.assert_array_equal(snapshots[-1].coefs_[0], clf.coefs_[0])


def test_gemm_entry_checks_shapes():
    A, B = np.ones((5, 3)), np.ones((4, 2))
    with pytest.raises(ValueError, match="A\\^T B"):
        _gemm._gemm_tn_check(A, B, np.ones((3, 2)), False)
    with pytest.raises(ValueError, match="A\\^T B"):
        _gemm._gemm_tn_check(A, np.ones((5, 2)), np.ones((2, 2)), False)
    C = np.full((3, 2), 7.0)
    _gemm._gemm_tn_check(np.ones((0, 3)), np.ones((0, 2)), C, False)
    assert np.all(C == 0)
