"""Stochastic optimizers on one flat parameter vector.

The semantics follow scikit-learn's ``sklearn/neural_network/_stochastic_optimizers.py``
(the same update rules, learning-rate schedules and stopping), but every array is the whole
packed parameter vector, so a step is a handful of numpy calls whatever the number of
layers, and the parameters change in one call (``theta += update``): an interrupt between
two calls leaves either the old or the new parameters, never a mixture.
"""
import numpy as np


class _BaseOptimizer:
    """Learning-rate bookkeeping shared by SGD and Adam."""

    def __init__(self, learning_rate_init):
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)

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

    def update(self, theta, grad):
        """Apply one step to ``theta`` in place."""
        lr = theta.dtype.type(self.learning_rate)
        mom = theta.dtype.type(self.momentum)
        self.velocity = mom * self.velocity - lr * grad
        if self.nesterov:
            update = mom * self.velocity - lr * grad
        else:
            update = self.velocity
        theta += update


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

    def update(self, theta, grad):
        """Apply one step to ``theta`` in place."""
        t = theta.dtype.type
        self.t += 1
        # m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2  (in place: the same operations)
        m, v = self.m, self.v
        tmp = grad * t(1 - self.beta_1)
        m *= t(self.beta_1)
        m += tmp
        np.multiply(grad, grad, out=tmp)
        tmp *= t(1 - self.beta_2)
        v *= t(self.beta_2)
        v += tmp
        self.learning_rate = (self.learning_rate_init * np.sqrt(1 - self.beta_2**self.t)
                              / (1 - self.beta_1**self.t))
        # -lr * m / (sqrt(v) + eps), in scikit-learn's order of operations
        np.sqrt(v, out=tmp)
        tmp += t(self.epsilon)
        update = m * -t(self.learning_rate)
        update /= tmp
        theta += update
