r"""The top-K sparse softmax gating Gaussian mixture of experts: gate, density, sampler, gauge.

A mixing measure :math:`G = \sum_i e^{\beta_{0i}}\delta_{(\beta_{1i}, a_i, b_i, v_i)}` is a
:class:`MoEParams`. The top-K gate selects, at each covariate :math:`x`, the set :math:`S(x)` of the
K largest scores (by default the slopes :math:`\beta_{1i}^\top x`, the paper's rule; ``"affine"``
ranks by :math:`\beta_{1i}^\top x + \beta_{0i}`, the usual deep-learning router), ties going to the
lower index, and renormalises the softmax over :math:`S(x)`:

.. math::
    g_G(y|x) = \sum_{i\in S(x)} \frac{e^{\beta_{1i}^\top x+\beta_{0i}}}{\sum_{j\in S(x)}
    e^{\beta_{1j}^\top x+\beta_{0j}}}\, \mathcal N(y;\, a_i^\top x + b_i,\, v_i).

``var`` is a **variance** (not a standard deviation). Everything is evaluated in log space: the
non-selected scores are set to :math:`-\infty` before the log-sum-exp.

References:
    Nguyen, Akbarian, Yan, Ho, *Statistical Perspective of Top-K Sparse Softmax Gating Mixture of
    Experts*, ICLR 2024 (arXiv 2309.13850), Sec. 2 (model, TopK operator), as recalled (spec A2).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import check_choice, check_int, check_real

__all__ = [
    "MoEParams",
    "SELECTIONS",
    "validate_params",
    "selection_mask",
    "log_gates",
    "gates",
    "log_expert",
    "log_density",
    "sample",
    "gauge",
]

SELECTIONS = ("slope", "affine")
_LOG_2PI = math.log(2.0 * math.pi)


class MoEParams(NamedTuple):
    """A mixing measure with k atoms in dimension d (a pytree, so it vmaps and jits).

    Attributes:
        beta0: (k,) gate biases; the atom weights are ``exp(beta0)`` (not normalised).
        beta1: (k, d) gate slopes.
        a: (k, d) expert slopes.
        b: (k,) expert intercepts.
        var: (k,) expert variances, > 0.
    """

    beta0: jax.Array
    beta1: jax.Array
    a: jax.Array
    b: jax.Array
    var: jax.Array

    @property
    def k(self) -> int:
        """The number of atoms."""
        return int(np.shape(self.beta0)[0])

    @property
    def d(self) -> int:
        """The covariate dimension."""
        return int(np.shape(self.beta1)[1])


def validate_params(params, name: str = "params", *, std=None) -> MoEParams:
    """Check shapes, finiteness and positive variances; return float64 NumPy :class:`MoEParams`.

    Args:
        params: a :class:`MoEParams` (or a 5-sequence ``(beta0, beta1, a, b, var)``).
        name: the argument name used in error messages.
        std: optional standard deviations (k,) that replace ``var`` by ``std**2`` (the only way to
            pass standard deviations; ``var`` is never reinterpreted).

    Returns:
        The validated parameters as float64 NumPy arrays.

    Raises:
        ValueError: on shape mismatches, non-finite entries or ``var <= 0``.
    """
    if not isinstance(params, MoEParams):
        if not isinstance(params, tuple | list) or len(params) != 5:
            raise TypeError(f"{name} must be MoEParams(beta0, beta1, a, b, var), got {type(params).__name__}")
        params = MoEParams(*params)
    arrs = {f: np.asarray(getattr(params, f), dtype=np.float64) for f in MoEParams._fields}
    if std is not None:
        arrs["var"] = np.asarray(std, dtype=np.float64) ** 2
    if arrs["beta0"].ndim != 1 or arrs["beta0"].shape[0] < 1:
        raise ValueError(f"{name}.beta0 must have shape (k,) with k >= 1, got {arrs['beta0'].shape}")
    k = arrs["beta0"].shape[0]
    if arrs["beta1"].ndim != 2 or arrs["beta1"].shape[0] != k or arrs["beta1"].shape[1] < 1:
        raise ValueError(f"{name}.beta1 must have shape (k, d) = ({k}, d), got {arrs['beta1'].shape}")
    d = arrs["beta1"].shape[1]
    expected = {"a": (k, d), "b": (k,), "var": (k,)}
    for f, shape in expected.items():
        if arrs[f].shape != shape:
            raise ValueError(f"{name}.{f} must have shape {shape} (k={k}, d={d}), got {arrs[f].shape}")
    for f, v in arrs.items():
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name}.{f} must be finite")
    if np.any(arrs["var"] <= 0):
        raise ValueError(f"{name}.var must be > 0 (variances), got {arrs['var']}")
    return MoEParams(**arrs)


def _check_K(K, k, name="K") -> int:
    return check_int(name, K, low=1, high=k)


def _check_x(x, d) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1 and d == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"x must have shape (n, d) with d = {d}, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x must be finite")
    return x


# ---------------------------------------------------------------------------------------------
# Jittable cores (no validation; called by the fitting code).


def _scores(params: MoEParams, x, selection: str):
    s = x @ params.beta1.T
    return s + params.beta0 if selection == "affine" else s


def _topk_mask(scores, K: int):
    """Top-K indicator of each row, ties to the lower index: rank_i = #{j: s_j > s_i} + #{j < i: s_j = s_i}."""
    k = scores.shape[-1]
    si, sj = scores[..., :, None], scores[..., None, :]
    lower = jnp.arange(k)[None, :] < jnp.arange(k)[:, None]  # [i, j] = j < i
    rank = jnp.sum((sj > si) | ((sj == si) & lower), axis=-1)
    return rank < K


def _log_gates(params: MoEParams, x, mask):
    eta = x @ params.beta1.T + params.beta0
    masked = jnp.where(mask, eta, -jnp.inf)
    lse = jax.nn.logsumexp(masked, axis=-1, keepdims=True)
    return jnp.where(mask, eta - lse, -jnp.inf)


def _log_expert(params: MoEParams, x, y):
    mu = x @ params.a.T + params.b
    return -0.5 * (_LOG_2PI + jnp.log(params.var) + (y[:, None] - mu) ** 2 / params.var)


def _log_density(params: MoEParams, x, y, mask):
    joint = jnp.where(mask, _log_gates(params, x, mask) + _log_expert(params, x, y), -jnp.inf)
    return jax.nn.logsumexp(joint, axis=-1)


# ---------------------------------------------------------------------------------------------
# Public, validated API (float64).


def selection_mask(params, x, *, K: int, selection: str = "slope") -> np.ndarray:
    """The selected sets S(x) as an (n, k) boolean mask (exactly K True per row).

    Args:
        params: the mixing measure (:class:`MoEParams`).
        x: covariates, shape (n, d) (or (n,) when d = 1).
        K: number of selected experts, 1 <= K <= k.
        selection: ``"slope"`` (rank by beta1.x, default, the paper) or ``"affine"`` (beta1.x + beta0).

    Returns:
        Boolean array (n, k). Ties are broken toward the lower index.

    Example:
        >>> G = MoEParams([0.0, 0.5, -0.5], [[0.0], [2.0], [4.0]], [[-3.0], [1.0], [4.0]],
        ...               [2.0, -1.0, 0.5], [0.09, 0.16, 0.25])
        >>> selection_mask(G, [-0.5, 0.0, 0.3], K=2).astype(int).tolist()
        [[1, 1, 0], [1, 1, 0], [0, 1, 1]]
    """
    p = validate_params(params)
    K = _check_K(K, p.k)
    check_choice("selection", selection, SELECTIONS)
    x = _check_x(x, p.d)
    with jax.enable_x64(True):
        return np.asarray(_topk_mask(_scores(_to_jax(p), jnp.asarray(x), selection), K))


def _to_jax(p: MoEParams) -> MoEParams:
    return MoEParams(*(jnp.asarray(v) for v in p))


def log_gates(params, x, *, K: int, selection: str = "slope") -> np.ndarray:
    r"""Log top-K gates :math:`\log \mathrm{gate}_i(x) = \eta_i - \log\sum_{j\in S(x)} e^{\eta_j}` (``-inf`` off S(x)).

    Args:
        params: the mixing measure.
        x: covariates (n, d).
        K: number of selected experts.
        selection: ranking rule (``"slope"`` or ``"affine"``).

    Returns:
        (n, k) float64 log gates; ``-inf`` for non-selected experts.

    References:
        Nguyen et al., ICLR 2024, TopK softmax gate (Sec. 2), as recalled.
    """
    p = validate_params(params)
    K = _check_K(K, p.k)
    check_choice("selection", selection, SELECTIONS)
    x = _check_x(x, p.d)
    with jax.enable_x64(True):
        pj, xj = _to_jax(p), jnp.asarray(x)
        return np.asarray(_log_gates(pj, xj, _topk_mask(_scores(pj, xj, selection), K)))


def gates(params, x, *, K: int, selection: str = "slope") -> np.ndarray:
    """Top-K gate probabilities (n, k): non-negative, K positive entries per row, rows sum to 1.

    Example:
        >>> G = MoEParams([0.0, 0.5, -0.5], [[0.0], [2.0], [4.0]], [[-3.0], [1.0], [4.0]],
        ...               [2.0, -1.0, 0.5], [0.09, 0.16, 0.25])
        >>> gates(G, [-0.5], K=2).round(10).tolist()
        [[0.6224593312, 0.3775406688, 0.0]]
    """
    return np.exp(log_gates(params, x, K=K, selection=selection))


def log_expert(params, x, y) -> np.ndarray:
    r"""Expert log densities :math:`\log\mathcal N(y; a_i^\top x + b_i, v_i)`, shape (n, k)."""
    p = validate_params(params)
    x = _check_x(x, p.d)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have shape ({x.shape[0]},) to match x, got {y.shape}")
    with jax.enable_x64(True):
        return np.asarray(_log_expert(_to_jax(p), jnp.asarray(x), jnp.asarray(y)))


def log_density(params, x, y, *, K: int, selection: str = "slope") -> np.ndarray:
    """Conditional log density log g_G(y|x) by a masked log-sum-exp (float64), shape (n,).

    Args:
        params: the mixing measure.
        x: covariates (n, d) (or (n,) when d = 1).
        y: responses (n,).
        K: number of selected experts, 1 <= K <= k.
        selection: ``"slope"`` (default) or ``"affine"``.

    Returns:
        (n,) float64 log densities, finite for any finite input.

    Example (spec TV-A2, K = 2):
        >>> G = MoEParams([0.0, 0.5, -0.5], [[0.0], [2.0], [4.0]], [[-3.0], [1.0], [4.0]],
        ...               [2.0, -1.0, 0.5], [0.09, 0.16, 0.25])
        >>> log_density(G, [0.3], [0.2], K=2).round(8).tolist()
        [-2.97470578]

    References:
        Nguyen et al., ICLR 2024, the top-K sparse softmax gating Gaussian MoE, as recalled.
    """
    p = validate_params(params)
    K = _check_K(K, p.k)
    check_choice("selection", selection, SELECTIONS)
    x = _check_x(x, p.d)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have shape ({x.shape[0]},) to match x, got {y.shape}")
    with jax.enable_x64(True):
        pj, xj = _to_jax(p), jnp.asarray(x)
        mask = _topk_mask(_scores(pj, xj, selection), K)
        return np.asarray(_log_density(pj, xj, jnp.asarray(y), mask))


def _sample(key, params: MoEParams, n: int, K: int, selection: str, x_low, x_high, dtype):
    """Jittable sampler: X ~ U[x_low, x_high]^d, z ~ Categorical(gate(X)), Y ~ N(a_z.X + b_z, v_z)."""
    kx, kz, ke = jax.random.split(key, 3)
    d = params.beta1.shape[1]
    x = jax.random.uniform(kx, (n, d), dtype, x_low, x_high)
    mask = _topk_mask(_scores(params, x, selection), K)
    z = jax.random.categorical(kz, _log_gates(params, x, mask), axis=-1)
    mu = jnp.sum(x * params.a[z], axis=-1) + params.b[z]
    y = mu + jnp.sqrt(params.var[z]) * jax.random.normal(ke, (n,), dtype)
    return x, y


_sample_jit = jax.jit(_sample, static_argnums=(2, 3, 4, 7))


def sample(params, n: int, *, key, K: int, selection: str = "slope", x_low: float = -1.0, x_high: float = 1.0,
           dtype=jnp.float32):
    """Draw n pairs (X, Y): X ~ U[x_low, x_high]^d, expert z ~ gate(X), Y = a_z.X + b_z + sqrt(v_z) xi.

    Args:
        params: the mixing measure.
        n: sample size, >= 1.
        key: a JAX PRNG key (keyword-only).
        K: number of selected experts.
        selection: ranking rule.
        x_low: lower end of the covariate box.
        x_high: upper end of the covariate box.
        dtype: float dtype of the draw (float32 by default).

    Returns:
        ``(x, y)`` with shapes (n, d) and (n,).

    References:
        Spec A2.3 (sampling of the top-K model).
    """
    p = validate_params(params)
    K = _check_K(K, p.k)
    n = check_int("n", n, low=1)
    check_choice("selection", selection, SELECTIONS)
    lo = check_real("x_low", x_low)
    hi = check_real("x_high", x_high)
    if not lo < hi:
        raise ValueError(f"x_low must be < x_high, got {lo} and {hi}")
    with jax.enable_x64(jnp.dtype(dtype) == jnp.float64):
        pj = MoEParams(*(jnp.asarray(v, dtype) for v in p))
        return _sample_jit(key, pj, n, K, selection, lo, hi, dtype)


def gauge(params, ref: int) -> MoEParams:
    r"""Translate the gate so that expert ``ref`` has :math:`\beta_0 = 0, \beta_1 = 0`.

    Adding a common :math:`(t_0, t_1)` to every :math:`(\beta_{0i}, \beta_{1i})` leaves S(x) and the
    softmax unchanged (spec A2.4), so the gate is identified only up to this translation; losses are
    computed in the gauge of an explicit reference expert.

    Args:
        params: the mixing measure.
        ref: index of the reference expert, 0 <= ref < k.

    Returns:
        The translated float64 :class:`MoEParams` (same density for either selection rule).
    """
    p = validate_params(params)
    ref = check_int("ref", ref, low=0, high=p.k - 1)
    return p._replace(beta0=p.beta0 - p.beta0[ref], beta1=p.beta1 - p.beta1[ref])
