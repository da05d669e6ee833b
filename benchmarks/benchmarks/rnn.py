"""asv benchmarks for sigcy.rnn: Elman forward pass and BPTT, torch.nn.RNN timed beside them.

B=64 sequences of F=8 features, n_hidden in {32, 128, 512}, T in {50, 500}, float32 and
float64, one thread for everyone (sigcy's OpenMP through threadpoolctl, torch through
torch.set_num_threads), as in issue 3's comparison.  torch's fused RNN has no sigmoid, so
sigcy is timed with both sigmoid and tanh; the torch classes raise NotImplementedError in
setup when torch is not installed (asv then skips them).
"""
import numpy as np

try:
    from sigcy.rnn import elman_backward, elman_forward
except ImportError:     # an old commit without sigcy.rnn: asv skips these benchmarks
    elman_forward = elman_backward = None

N_SAMPLES = 64
N_FEATURES = 8
PARAMS = ([32, 128, 512], [50, 500], ["float32", "float64"])
PARAM_NAMES = ["n_hidden", "n_timesteps", "dtype"]


def _data(n_hidden, n_timesteps, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_SAMPLES, n_timesteps, N_FEATURES)).astype(dtype)
    W_in = (rng.standard_normal((N_FEATURES, n_hidden)) / np.sqrt(N_FEATURES)).astype(dtype)
    W_rec = (rng.standard_normal((n_hidden, n_hidden)) / np.sqrt(n_hidden)).astype(dtype)
    b = np.zeros(n_hidden, dtype)
    return X, W_in, W_rec, b


class _OneThread:
    """Enter a one-thread OpenMP limit in setup, leave it in teardown."""

    def _limit(self):
        from threadpoolctl import threadpool_limits

        self._limits = threadpool_limits(1, user_api="openmp")

    def teardown(self, *params):
        limits = getattr(self, "_limits", None)
        if limits is not None:
            limits.restore_original_limits()


class ElmanForward(_OneThread):
    params = PARAMS + (["sigmoid", "tanh"],)
    param_names = PARAM_NAMES + ["activation"]
    timeout = 300

    def setup(self, n_hidden, n_timesteps, dtype, activation):
        if elman_forward is None:
            raise NotImplementedError("sigcy.rnn is not available")
        self.data = _data(n_hidden, n_timesteps, dtype)
        self._limit()

    def time_forward(self, n_hidden, n_timesteps, dtype, activation):
        elman_forward(*self.data, activation=activation)

    def peakmem_forward(self, n_hidden, n_timesteps, dtype, activation):
        elman_forward(*self.data, activation=activation)


class ElmanBackward(_OneThread):
    params = PARAMS + (["sigmoid", "tanh"],)
    param_names = PARAM_NAMES + ["activation"]
    timeout = 300

    def setup(self, n_hidden, n_timesteps, dtype, activation):
        if elman_backward is None:
            raise NotImplementedError("sigcy.rnn is not available")
        self.X, self.W_in, self.W_rec, b = _data(n_hidden, n_timesteps, dtype)
        self.H = elman_forward(self.X, self.W_in, self.W_rec, b, activation=activation)
        self.dH = np.zeros_like(self.H)
        self.dH[:, -1] = 1.0            # many-to-one: the loss looks at the last state
        self._limit()

    def time_backward(self, n_hidden, n_timesteps, dtype, activation):
        elman_backward(self.X, self.H, self.dH, self.W_in, self.W_rec, activation=activation)

    def time_backward_truncated_10(self, n_hidden, n_timesteps, dtype, activation):
        elman_backward(self.X, self.H, self.dH, self.W_in, self.W_rec, activation=activation,
                       bptt_steps=10)

    def peakmem_backward(self, n_hidden, n_timesteps, dtype, activation):
        elman_backward(self.X, self.H, self.dH, self.W_in, self.W_rec, activation=activation)


class ElmanForwardBackward(_OneThread):
    """Forward + backward, the unit torch can time too (its backward needs a fresh graph)."""
    params = PARAMS
    param_names = PARAM_NAMES
    timeout = 300

    def setup(self, n_hidden, n_timesteps, dtype):
        if elman_forward is None:
            raise NotImplementedError("sigcy.rnn is not available")
        self.X, self.W_in, self.W_rec, self.b = _data(n_hidden, n_timesteps, dtype)
        self._limit()

    def time_forward_backward_tanh(self, n_hidden, n_timesteps, dtype):
        H = elman_forward(self.X, self.W_in, self.W_rec, self.b, activation="tanh")
        dH = np.zeros_like(H)
        dH[:, -1] = 1.0
        elman_backward(self.X, H, dH, self.W_in, self.W_rec, activation="tanh")


class _Torch:
    def _torch_setup(self, n_hidden, n_timesteps, dtype):
        try:
            import torch
        except ImportError:
            raise NotImplementedError("torch is not installed")
        self.torch = torch
        self._torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        tdtype = torch.float32 if dtype == "float32" else torch.float64
        X, _, _, _ = _data(n_hidden, n_timesteps, dtype)
        self.X = torch.from_numpy(X)
        torch.manual_seed(0)
        self.rnn = torch.nn.RNN(N_FEATURES, n_hidden, nonlinearity="tanh", batch_first=True,
                                dtype=tdtype)

    def teardown(self, *params):
        if hasattr(self, "_torch_threads"):
            self.torch.set_num_threads(self._torch_threads)


class TorchRNNForward(_Torch):
    """torch.nn.RNN (tanh, fused kernel), forward only, no autograd graph."""
    params = PARAMS
    param_names = PARAM_NAMES
    timeout = 300

    def setup(self, n_hidden, n_timesteps, dtype):
        self._torch_setup(n_hidden, n_timesteps, dtype)

    def time_forward(self, n_hidden, n_timesteps, dtype):
        with self.torch.no_grad():
            self.rnn(self.X)


class TorchRNNForwardBackward(_Torch):
    """torch.nn.RNN (tanh, fused kernel), forward + backward from the last state."""
    params = PARAMS
    param_names = PARAM_NAMES
    timeout = 300

    def setup(self, n_hidden, n_timesteps, dtype):
        self._torch_setup(n_hidden, n_timesteps, dtype)

    def time_forward_backward(self, n_hidden, n_timesteps, dtype):
        self.rnn.zero_grad(set_to_none=True)
        _, hn = self.rnn(self.X)
        hn.sum().backward()
