"""
Kernel accuracy and speed against scipy.special.expit
=====================================================

How far :func:`sigcy.sigmoid` and :func:`sigcy.sigmoid_derivative` are from the exact
values, in units in the last place (ULP) of float64, compared with
:func:`scipy.special.expit` and the textbook derivative ``s * (1 - s)``; then a small timing
table.  ``torch.sigmoid`` joins the table if torch is installed.

The reference here is the same formula in x86 extended precision (``np.longdouble``, 11
more bits than float64), good to about 0.01 ULP: enough for a plot.  The test suite checks
the documented bounds against mpmath on a much larger sample.
"""

# %%
import timeit

import matplotlib.pyplot as plt
import numpy as np
import scipy.special

import sigcy


def ulp_error(y, exact):
    """|y - exact| in units of the float64 spacing at the exact value."""
    exact64 = exact.astype(np.float64)
    ulp = np.spacing(np.abs(exact64))          # 2**-1074 in the subnormal range
    return (np.abs(y.astype(np.longdouble) - exact) / ulp).astype(np.float64)


# x from the bottom of the subnormal tail (sigma(x) ~ e^x reaches 2**-1074 at -745.13)
# to where sigma(x) rounds to 1
rng = np.random.default_rng(0)
x = np.sort(np.concatenate([rng.uniform(-745.1, -700, 4000), rng.uniform(-700, 40, 8000)]))
xl = x.astype(np.longdouble)
e = np.exp(-np.abs(xl))
sigma_exact = np.where(xl >= 0, 1 / (1 + e), e / (1 + e))
dsigma_exact = e / (1 + e) ** 2

err = {
    "sigcy.sigmoid": ulp_error(sigcy.sigmoid(x), sigma_exact),
    "scipy.special.expit": ulp_error(scipy.special.expit(x), sigma_exact),
}
u = -x        # the derivative over [-40, 745.1]: where s * (1 - s) goes wrong, u > 37
s = scipy.special.expit(u)
derr = {   # sigma' is even: dsigma_exact serves for u as well
    "sigcy.sigmoid_derivative": ulp_error(sigcy.sigmoid_derivative(u), dsigma_exact),
    "s * (1 - s), s = expit(u)": ulp_error(s * (1 - s), dsigma_exact),
}
for name, values in {**err, **derr}.items():
    print(f"{name:28s} max error {values.max():10.3g} ULP")

# %%
# The ULP error, on a log scale (errors below 0.001 ULP are drawn at 0.001).  ``expit``
# computes ``1 / (1 + exp(-x))``: ``exp(-x)`` overflows to inf below x = -709.78 and the
# result is 0 where sigma(x) is still a (subnormal) number, an error of up to ~1e15 ULP.
# ``s * (1 - s)`` loses the derivative to the rounding of ``s``: for u > 37, ``s`` rounds
# to 1 and the derivative to 0, where the exact value is about exp(-u).
floor = 1e-3
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), layout="constrained")
# sigcy drawn last, on top: in the normal range both are within about 1 ULP
for (name, values), color in reversed(list(zip(err.items(), ["C0", "C3"]))):
    ax1.semilogy(x, np.maximum(values, floor), ".", ms=1.5, color=color, label=name)
ax1.axvspan(-745.13, -709.78, color="0.92", label="subnormal results")
ax1.set(xlabel="x", title="sigmoid(x)")
for (name, values), color in reversed(list(zip(derr.items(), ["C0", "C3"]))):
    ax2.semilogy(u, np.maximum(values, floor), ".", ms=1.5, color=color, label=name)
ax2.axvspan(708.40, 745.13, color="0.92", label="subnormal results")
ax2.set(xlabel="u", title="sigmoid'(u)")
for ax in (ax1, ax2):
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set(ylabel="error (ULP of float64)", ylim=(floor / 2, 1e17))
    handles, labels = ax.get_legend_handles_labels()
    order = [1, 0, 2]   # sigcy, the peer, the grey band
    ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="center left",
              markerscale=6, fontsize=8)
plt.show()

# %%
# Speed: one thread, ns per element (best of a few runs; the benchmarks in
# ``benchmarks/compare_kernels.py`` interleave the candidates and take medians, see
# :ref:`performance`).
from threadpoolctl import threadpool_limits

try:
    import torch
except ImportError:
    torch = None


def ns_per_element(func, n, number=5, repeat=5):
    return min(timeit.repeat(func, number=number, repeat=repeat)) / number / n * 1e9


rows = []
with threadpool_limits(1):
    for dtype in (np.float64, np.float32):
        n = 10**6
        xs = rng.uniform(-20, 20, n).astype(dtype)
        out = np.empty_like(xs)
        cands = {
            "sigcy.sigmoid": lambda: sigcy.sigmoid(xs, out=out),
            "sigcy.sigmoid_derivative": lambda: sigcy.sigmoid_derivative(xs, out=out),
            "scipy.special.expit": lambda: scipy.special.expit(xs, out=out),
            "1 / (1 + np.exp(-x))": lambda: np.divide(1, 1 + np.exp(-xs), out=out),
        }
        if torch is not None:
            torch.set_num_threads(1)
            xt, ot = torch.from_numpy(xs), torch.from_numpy(out)
            cands["torch.sigmoid"] = lambda: torch.sigmoid(xt, out=ot)
        for name, func in cands.items():
            func()
            rows.append((np.dtype(dtype).name, name, ns_per_element(func, n)))

print(f"{'dtype':8s} {'function':28s} ns/element  (n = 1e6, 1 thread)")
for dtype, name, ns in rows:
    print(f"{dtype:8s} {name:28s} {ns:6.2f}")
print("\nsigcy dispatch:", sigcy.build_info()["dispatch"])
