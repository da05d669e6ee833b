"""Stochastic optimizers on one flat parameter vector.

The semantics follow scikit-learn's ``sklearn/neural_network/_stochastic_optimizers.py``
(the same update rules, learning-rate schedules and stopping; per element the same operations
in the same order, so the same bits), but every array is the whole packed parameter vector,
so a step is one compiled loop (``src/sigcy_rows.c``) whatever the number of layers.  The
loop writes the new parameters to a scratch vector and copies them over only if all are
finite: a step either happens completely or not at all, and an interrupt (which Python
delivers between steps) never leaves a mixture of old and new parameters.  During ``fit``
the estimators' compiled epoch (``sigcy._core._trainer.Trainer.epoch``) runs the same loops,
holding the state of these objects (moments, velocity; Adam's step count is copied back after
each epoch); ``update`` is the single step, for the tests.
"""
import numpy as np

from sigcy._core import _step


class _BaseOptimizer:
    """Learning-rate bookkeeping shared by SGD and Adam."""

    def __init__(self, learning_rate_init):
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self._work = None          # scratch of the compiled update, not pickled

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_work"] = None
        return state

    def iteration_ends(self, time_step):
        """Update the learning rate at the end of an epoch (no-op by default)."""

    def trigger_stopping(self, msg, verbose):
        """Whether to stop after ``n_iter_no_change`` epochs without improvement."""
        if verbose:
            print(msg + " Stopping.")
        return True


class SGDOptimizer(_BaseOptimizer):
    """SGD with momentum (optionally Nesterov's) and scikit-learn's schedules.

    Parameters
    ----------
    n_params : int
        Length of the parameter vector.
    dtype : dtype
        Dtype of the parameter vector.
    learning_rate_init : float
    lr_schedule : {"constant", "invscaling", "adaptive"}
    momentum : float
    nesterov : bool
    power_t : float
    """

    def __init__(self, n_params, dtype, learning_rate_init=0.1, lr_schedule="constant",
                 momentum=0.9, nesterov=True, power_t=0.5):
        super().__init__(learning_rate_init)
        self.lr_schedule = lr_schedule
        self.momentum = momentum
        self.nesterov = nesterov
        self.power_t = power_t
        self.velocity = np.zeros(n_params, dtype=dtype)

    def iteration_ends(self, time_step):
        if self.lr_schedule == "invscaling":
            self.learning_rate = float(self.learning_rate_init) / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg, verbose):
        if self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.learning_rate)
        return False

    def update(self, theta, grad, scale=1.0):
        """One step on ``theta`` in place, with gradient ``grad * scale``.

        Returns False, leaving ``theta`` unchanged, if the step would make it non-finite.
        """
        t = theta.dtype.type
        if self._work is None or self._work.shape != theta.shape:
            self._work = np.empty_like(theta)
        return _step.sgd_update(theta, grad, t(scale), self.velocity, t(self.momentum),
                                 t(self.learning_rate), bool(self.nesterov), self._work)


class AdamOptimizer(_BaseOptimizer):
    """Adam (Kingma & Ba, 2014) with scikit-learn's bias-corrected step size.

    Parameters
    ----------
    n_params : int
    dtype : dtype
    learning_rate_init, beta_1, beta_2, epsilon : float
    """

    def __init__(self, n_params, dtype, learning_rate_init=0.001, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8):
        super().__init__(learning_rate_init)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.t = 0
        self.m = np.zeros(n_params, dtype=dtype)
        self.v = np.zeros(n_params, dtype=dtype)

    def update(self, theta, grad, scale=1.0):
        """One step on ``theta`` in place, with gradient ``grad * scale``.

        Returns False, leaving ``theta`` unchanged, if the step would make it non-finite
        (the moments are updated all the same, as they would be by scikit-learn).
        """
        t = theta.dtype.type
        self.t += 1
        self.learning_rate = _step.adam_learning_rate(self.learning_rate_init, self.beta_1,
                                                      self.beta_2, self.t)
        if self._work is None or self._work.shape != theta.shape:
            self._work = np.empty_like(theta)
        # 1 - beta is rounded from double, as numpy rounds scikit-learn's python floats
        return _step.adam_update(theta, grad, t(scale), self.m, self.v, t(self.beta_1),
                                  t(1 - self.beta_1), t(self.beta_2), t(1 - self.beta_2),
                                  float(self.learning_rate), t(self.epsilon), self._work)
