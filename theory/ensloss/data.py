r"""Binary classification data for the EnsLoss experiments: Gaussian classes with a known Bayes rule (and the exact
0-1 risk of any linear rule), and scikit-learn's bundled real datasets (no download).

Labels are :math:`y \in \{-1, +1\}` throughout.

* **Gaussian classes**: :math:`P(Y = \pm1) = 1/2`, :math:`X \mid Y \sim N(Y\mu, I_d)`. The Bayes rule is
  :math:`\mathrm{sign}(\mu^\top x)` with risk :math:`\Phi(-\lVert\mu\rVert)`, and the 0-1 risk of
  :math:`\mathrm{sign}(w^\top x + b)` is exactly :math:`\tfrac12\Phi(-(w^\top\mu + b)/\lVert w\rVert)
  + \tfrac12\Phi(-(w^\top\mu - b)/\lVert w\rVert)`
  (docs/ensloss.md, "Consistency and the excess-risk rate").
* **Real data**: ``"breast_cancer"`` (569 x 30, malignant = -1, benign = +1) and ``"digits_k"`` for k = 0..9
  (1797 x 64, digit k against the rest), loaded from scikit-learn's bundled files (scikit-learn is imported on
  first use), split at random into train and test sets and standardised with the training statistics.

References:
    Dai, ICML 2025 (arXiv 2409.00908), the experiments (CIFAR2 pairs, PCam and OpenML tabular data; the CPU-scale
    stand-ins here are documented in docs/ensloss.md, "Real data"); Pedregosa et al., *Scikit-learn: Machine
    Learning in Python*, JMLR 2011 (``load_breast_cancer``, ``load_digits``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theory import _random
from theory._random import check_key, numpy_rng
from theory._validation import check_array, check_dtype, check_int, check_real, is_traced
from theory.ensloss._checks import as_float64_or_traced, real_array

__all__ = ["gaussian_classes", "linear_zero_one_risk", "bayes_risk", "load_dataset",
           "DATASETS"]

#: Names accepted by :func:`load_dataset`.
DATASETS = ("breast_cancer", *(f"digits_{k}" for k in range(10)))


def _mean(mean):
    mu = check_array("mean", mean, ndim=1)
    if mu.size < 1:
        raise ValueError("mean must have at least one coordinate")
    return mu


def gaussian_classes(*, key, num_samples, mean, dtype=jnp.float32):
    r"""``num_samples`` draws of :math:`(X, Y)`: :math:`Y = \pm1` with probability 1/2, :math:`X|Y \sim N(Y\mu, I)`.

    Args:
        key: a JAX PRNG key.
        num_samples: ``n >= 1``.
        mean: :math:`\mu`, a finite vector ``[dim]``.
        dtype: floating dtype of ``x``.

    Returns:
        ``(x [n, dim], y [n])`` with ``y`` in ``{-1, +1}`` (same dtype as ``x``).
    """
    n = check_int("num_samples", num_samples, low=1)
    return _gaussian_classes(check_key(key), n, jnp.asarray(_mean(mean), check_dtype(dtype)))


def _gaussian_classes(key, n, mu):
    r = _random.normal(key, (n, mu.shape[0] + 1), mu.dtype)  # one PRNG call: the label is the sign of a normal
    y = jnp.where(r[:, 0] > 0, 1.0, -1.0).astype(mu.dtype)
    return y[:, None] * mu + r[:, 1:], y


def _linear_risk(w, b, mu):
    norm = jnp.linalg.norm(w, axis=-1)
    s = jnp.sum(w * mu, axis=-1)
    return 0.5 * (jax.scipy.special.ndtr(-(s + b) / norm) + jax.scipy.special.ndtr(-(s - b) / norm))


def linear_zero_one_risk(w, b, mean):
    r"""The exact 0-1 risk of :math:`\mathrm{sign}(w^\top x + b)` under Gaussian classes with mean :math:`\mu`.

    .. math::
        R(w, b) = \tfrac12\Phi\Big(-\frac{w^\top\mu + b}{\lVert w\rVert}\Big)
        + \tfrac12\Phi\Big(-\frac{w^\top\mu - b}{\lVert w\rVert}\Big).

    Works under ``jit``/``vmap``/``grad`` (leading axes of ``w`` and ``b`` are batch axes); concrete inputs are
    validated (finite; ``w != 0``) and computed in float64.

    Args:
        w: weights ``[..., dim]`` (nonzero).
        b: intercept(s) ``[...]``.
        mean: :math:`\mu` ``[dim]``.

    Returns:
        The risk, shaped ``[...]``.

    Examples:
        >>> round(linear_zero_one_risk([1.0, 0.0], 0.0, [1.0, 0.0]), 6) == round(bayes_risk([1.0, 0.0]), 6)
        True

    References:
        docs/ensloss.md, "Consistency and the excess-risk rate".
    """
    w = real_array("w", w)
    b = real_array("b", b)
    mu = _mean(mean)
    if not is_traced(w) and np.any(np.linalg.norm(np.atleast_1d(w), axis=-1) == 0):
        raise ValueError("w must be nonzero (the rule sign(b) has no direction)")
    return as_float64_or_traced(_linear_risk, (w, b, mu), True)


def bayes_risk(mean) -> float:
    r"""The Bayes risk :math:`\Phi(-\lVert\mu\rVert)` of Gaussian classes (the risk of the rule
    :math:`\mathrm{sign}(\mu^\top x)`)."""
    from scipy import special

    return float(special.ndtr(-np.linalg.norm(_mean(mean))))


def _raw(name):
    from sklearn import datasets

    if name == "breast_cancer":
        d = datasets.load_breast_cancer()
        return d.data.astype(np.float64), np.where(d.target == 1, 1.0, -1.0)
    d = datasets.load_digits()
    k = int(name.split("_")[1])
    return d.data.astype(np.float64), np.where(d.target == k, 1.0, -1.0)


def load_dataset(name, *, key, test_fraction=0.3):
    r"""A random train/test split of a bundled real dataset, standardised with the training mean and sd.

    Args:
        name: one of :data:`DATASETS`: ``"breast_cancer"`` or ``"digits_k"`` (digit k against the rest).
        key: a JAX PRNG key (the split).
        test_fraction: in ``(0, 1)``.

    Returns:
        ``(x_train, y_train, x_test, y_test)`` as float64 NumPy arrays, ``y`` in ``{-1, +1}``. Constant features
        (blank pixels of ``digits``) are centred and left unscaled.

    References:
        Pedregosa et al., JMLR 2011 (scikit-learn's bundled datasets); docs/ensloss.md, "Real data".
    """
    if name not in DATASETS:
        raise ValueError(f"name must be one of {list(DATASETS)}, got {name!r}")
    frac = check_real("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    x, y = _raw(name)
    n = len(y)
    perm = numpy_rng(key).permutation(n)
    n_test = int(round(frac * n))
    test, train = perm[:n_test], perm[n_test:]
    mean, sd = x[train].mean(axis=0), x[train].std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    x = (x - mean) / sd
    return x[train], y[train], x[test], y[test]
