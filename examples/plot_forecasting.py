"""
Forecasting a noisy sine wave with RNNRegressor
===============================================

One-step-ahead forecasting: from the last 20 observations of a noisy sine wave of slowly
varying frequency, predict the next value (without its noise).  Each training row is one
univariate sequence, so the input is a plain 2-D array of shape (n_samples, n_timesteps);
:class:`sigcy.RNNRegressor` reads a 2-D array as one univariate sequence per row.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from sigcy import RNNRegressor

rng = np.random.default_rng(0)
n, window = 1500, 20
t = np.arange(n + window)
phase = np.cumsum(0.15 + 0.05 * np.sin(t / 150))      # slowly varying frequency
clean = np.sin(phase)
series = clean + 0.1 * rng.standard_normal(t.shape)

# sliding windows: X[i] = series[i : i + window], target the clean value after it
X = np.lib.stride_tricks.sliding_window_view(series, window)[:n]
y = clean[window:window + n]
split = 1000                                          # train on the past, test on the future
X_train, y_train, X_test, y_test = X[:split], y[:split], X[split:], y[split:]

# %%
# A tanh recurrent layer of 16 units.
reg = RNNRegressor(hidden_layer_sizes=16, activation="tanh", max_iter=60,
                   random_state=0)
reg.fit(X_train, y_train)
y_pred = reg.predict(X_test)
print(f"test R^2 = {reg.score(X_test, y_test):.3f}")
print(f"RMSE      = {np.sqrt(np.mean((y_pred - y_test) ** 2)):.3f} "
      f"(noise standard deviation: 0.1)")

# %%
# Predicted against true on the test period.
steps = np.arange(split, n)
fig, ax = plt.subplots(figsize=(9, 3.5), layout="constrained")
ax.plot(steps, X_test[:, -1], ".", ms=3, color="0.6", label="observed (noisy)")
ax.plot(steps, y_test, color="C0", label="true next value")
ax.plot(steps, y_pred, color="C1", lw=1.2, label="RNNRegressor forecast")
ax.set(xlabel="time step", xlim=(split, split + 200))
ax.legend(loc="upper right", fontsize=8)
plt.show()
