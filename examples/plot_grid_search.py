"""
Pipeline and grid search
========================

sigcy's estimators are ordinary scikit-learn estimators: they go into a
:class:`~sklearn.pipeline.Pipeline`, are cloned and cross-validated by
:class:`~sklearn.model_selection.GridSearchCV`, and pickle.

Here the pipeline scales the 64 pixels of each digit (a 2-D step), reshapes each image into
a sequence of 8 rows of 8 pixels, and fits an :class:`~sigcy.RNNClassifier`.  The grid
searches the number of hidden units and the activation.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sigcy import RNNClassifier


def to_sequences(X):
    """(n_samples, 64) pixels -> (n_samples, 8 rows, 8 pixels)."""
    return np.asarray(X).reshape(-1, 8, 8)


X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0)

pipe = make_pipeline(
    StandardScaler(),
    FunctionTransformer(to_sequences),
    RNNClassifier(max_iter=40, random_state=0),
)
param_grid = {
    "rnnclassifier__hidden_layer_sizes": [(8,), (32,)],
    "rnnclassifier__activation": ["sigmoid", "tanh", "relu"],
}
search = GridSearchCV(pipe, param_grid, cv=3)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)   # 40 epochs: not converged
    search.fit(X_train, y_train)
print("best parameters:", search.best_params_)
print(f"cross-validated accuracy {search.best_score_:.3f}, "
      f"test accuracy {search.score(X_test, y_test):.3f}")

# %%
# Mean cross-validated accuracy of every combination (40 epochs each).
activations = param_grid["rnnclassifier__activation"]
sizes = param_grid["rnnclassifier__hidden_layer_sizes"]
scores = np.empty((len(sizes), len(activations)))
for params, score in zip(search.cv_results_["params"],
                         search.cv_results_["mean_test_score"]):
    i = sizes.index(params["rnnclassifier__hidden_layer_sizes"])
    j = activations.index(params["rnnclassifier__activation"])
    scores[i, j] = score

fig, ax = plt.subplots(figsize=(5, 2.8), layout="constrained")
im = ax.imshow(scores, cmap="viridis")
ax.set_xticks(range(len(activations)), activations)
ax.set_yticks(range(len(sizes)), [str(s[0]) for s in sizes])
ax.set(xlabel="activation", ylabel="hidden units")
for (i, j), s in np.ndenumerate(scores):
    ax.text(j, i, f"{s:.3f}", ha="center", va="center",
            color="white" if s < scores.mean() else "black")
fig.colorbar(im, ax=ax, label="CV accuracy")
plt.show()
