"""
Sequence classification: the digits as sequences
=================================================

Each 8x8 image of scikit-learn's handwritten digits is read row by row, top to bottom, as a
sequence of 8 time steps with 8 features (the pixels of a row, scaled to [0, 1]).  A
:class:`sigcy.RNNClassifier` with one sigmoid recurrent layer of 32 units reads the
sequence; its final state goes through a softmax layer.  This is the task ``sigcy`` (the
command) runs.
"""

# %%
# Data: :func:`sigcy.datasets.load_digits_sequences` returns arrays of shape
# (n_samples, n_timesteps, n_features).
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sigcy import RNNClassifier
from sigcy.datasets import load_digits_sequences

X, y = load_digits_sequences(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0)
print("X_train:", X_train.shape, " X_test:", X_test.shape)

# %%
# Fit.  The defaults are those of the ``sigcy`` command: Adam with a learning rate of
# 0.005, mini-batches of 200, gradient-norm clipping at 5, at most 200 epochs.
clf = RNNClassifier(hidden_layer_sizes=32, activation="sigmoid", random_state=0)
with warnings.catch_warnings():
    # 200 epochs do not reach the stopping rule (tol=1e-4): fine for this task
    warnings.simplefilter("ignore", ConvergenceWarning)
    clf.fit(X_train, y_train)
print(f"{clf.n_iter_} epochs, test accuracy {clf.score(X_test, y_test):.3f}")

# %%
# Learning curve: ``loss_curve_`` holds the training loss (cross-entropy plus the L2
# term) of every epoch, ``grad_norm_curve_`` the mean norm of the mini-batch gradients
# before clipping.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
ax1.plot(np.arange(1, clf.n_iter_ + 1), clf.loss_curve_)
ax1.set(xlabel="epoch", ylabel="training loss", yscale="log", title="loss_curve_")
ax2.plot(np.arange(1, clf.n_iter_ + 1), clf.grad_norm_curve_, color="C1")
ax2.set(xlabel="epoch", ylabel="gradient norm", title="grad_norm_curve_")
plt.show()

# %%
# A few test sequences and the predicted digit.
fig, axes = plt.subplots(1, 8, figsize=(9, 1.6), layout="constrained")
pred = clf.predict(X_test[:8])
for ax, image, p, t in zip(axes, X_test[:8], pred, y_test[:8]):
    ax.imshow(image, cmap="gray_r")
    ax.set_title(f"{p}" + ("" if p == t else f" (true {t})"), fontsize=10)
    ax.set_axis_off()
plt.show()
