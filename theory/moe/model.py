r"""The top-K sparse softmax gating Gaussian mixture of experts: gate, density, sampler, gauge.

A mixing measure :math:`G = \sum_{i=1}^{k} e^{\beta_{0i}}\delta_{(\beta_{1i}, a_i, b_i, v_i)}` with
``num_experts`` :math:`= k` atoms in dimension ``dim`` :math:`= d` is a :class:`MoEParams`. The top-K
gate selects, at each covariate :math:`x`, the set :math:`S(x)` of the ``top_k`` :math:`= K` largest
scores (by default the slopes :math:`\beta_{1i}^\top x`, the paper's rule; ``"affine"`` ranks by
:math:`\beta_{1i}^\top x + \beta_{0i}`, the usual deep-learning router), ties going to the lower
index, and renormalises the softmax over :math:`S(x)`:

.. math::
    g_G(y|x) = \sum_{i\in S(x)} \frac{e^{\beta_{1i}^\top x+\beta_{0i}}}{\sum_{j\in S(x)}
    e^{\beta_{1j}^\top x+\beta_{0j}}}\, \mathcal N(y;\, a_i^\top x + b_i,\, v_i).

``var`` is a **variance** (not a standard deviation). Everything is evaluated in log space: the
non-selected scores are set to :math:`-\infty` before the log-sum-exp.

Input policy: concrete inputs are validated eagerly (shapes, NaN/inf, ``var > 0``, ``1 <= top_k <=
num_experts``) and the closed forms (:func:`selection_mask`, :func:`log_gates`, :func:`gates`,
:func:`log_expert`, :func:`log_density`) are returned as float64 NumPy arrays. Called on traced
values (inside ``jax.jit``, ``jax.vmap`` or ``jax.grad``) they return JAX arrays in the ambient
precision (float64 inside ``jax.enable_x64()``), and an invalid traced value (a non-positive
variance, a non-finite parameter, ``top_k`` out of range) gives NaN, never a finite wrong number.

References:
    Nguyen, Akbarian, Yan, Ho, *Statistical Perspective of Top-K Sparse Softmax Gating Mixture of
    Experts*, ICLR 2024 (arXiv 2309.13850), Sec. 2 (the model and the TopK operator), as recalled;
    the ranking rule and the gauge are discussed in ``docs/moe.md#the-model``.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from theory import _random
from theory._validation import check_choice, check_int, check_real, is_traced, nan_unless, renamed_argument

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
    """A mixing measure with ``num_experts`` atoms in dimension ``dim`` (a pytree, so it vmaps and jits).

    Attributes:
        beta0: (num_experts,) gate biases; the atom weights are ``exp(beta0)`` (not normalised).
        beta1: (num_experts, dim) gate slopes.
        a: (num_experts, dim) expert slopes.
        b: (num_experts,) expert intercepts.
        var: (num_experts,) expert variances, > 0.
    """

    beta0: jax.Array
    beta1: jax.Array
    a: jax.Array
    b: jax.Array
    var: jax.Array

    @property
    def num_experts(self) -> int:
        """The number of atoms (experts) k."""
        return int(np.shape(self.beta0)[-1])

    @property
    def dim(self) -> int:
        """The covariate dimension d."""
        return int(np.shape(self.beta1)[-1])

    @property
    def k(self) -> int:
        """Deprecated: use :attr:`num_experts`."""
        warnings.warn("MoEParams.k is deprecated; use MoEParams.num_experts", DeprecationWarning, stacklevel=2)
        return self.num_experts

    @property
    def d(self) -> int:
        """Deprecated: use :attr:`dim`."""
        warnings.warn("MoEParams.d is deprecated; use MoEParams.dim", DeprecationWarning, stacklevel=2)
        return self.dim


def _check_shapes(arrs: dict, name: str) -> tuple[int, int]:
    """Check the shapes of the five fields (static, so also under tracing); return (num_experts, dim)."""
    if np.ndim(arrs["beta0"]) != 1 or np.shape(arrs["beta0"])[0] < 1:
        raise ValueError(f"{name}.beta0 must have shape (num_experts,) with num_experts >= 1, "
                         f"got {np.shape(arrs['beta0'])}")
    k = np.shape(arrs["beta0"])[0]
    if np.ndim(arrs["beta1"]) != 2 or np.shape(arrs["beta1"])[0] != k or np.shape(arrs["beta1"])[1] < 1:
        raise ValueError(f"{name}.beta1 must have shape (num_experts, dim) = ({k}, dim), got {np.shape(arrs['beta1'])}")
    d = np.shape(arrs["beta1"])[1]
    for f, shape in {"a": (k, d), "b": (k,), "var": (k,)}.items():
        if np.shape(arrs[f]) != shape:
            raise ValueError(f"{name}.{f} must have shape {shape} (num_experts={k}, dim={d}), got {np.shape(arrs[f])}")
    return k, d


def _as_params(params, name: str) -> MoEParams:
    if not isinstance(params, MoEParams):
        if not isinstance(params, tuple | list) or len(params) != 5:
            raise TypeError(f"{name} must be MoEParams(beta0, beta1, a, b, var), got {type(params).__name__}")
        params = MoEParams(*params)
    return params


def validate_params(params, name: str = "params", *, std=None) -> MoEParams:
    """Check shapes, finiteness and positive variances; return float64 NumPy :class:`MoEParams`.

    Args:
        params: a :class:`MoEParams` (or a 5-sequence ``(beta0, beta1, a, b, var)``), concrete.
        name: the argument name used in error messages.
        std: optional standard deviations (num_experts,) that replace ``var`` by ``std**2`` (the only
            way to pass standard deviations; ``var`` is never reinterpreted).

    Returns:
        The validated parameters as float64 NumPy arrays.

    Raises:
        ValueError: on shape mismatches, NaN or infinite entries, or ``var <= 0``.
    """
    params = _as_params(params, name)
    arrs = {f: np.asarray(getattr(params, f), dtype=np.float64) for f in MoEParams._fields}
    if std is not None:
        arrs["var"] = np.asarray(std, dtype=np.float64) ** 2
    _check_shapes(arrs, name)
    for f, v in arrs.items():
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name}.{f} must be finite (no NaN or inf)")
    if np.any(arrs["var"] <= 0):
        raise ValueError(f"{name}.var must be > 0 (variances), got {arrs['var']}")
    return MoEParams(**arrs)


def _traced(*values) -> bool:
    return any(is_traced(leaf) for v in values for leaf in jax.tree_util.tree_leaves(v))


def _traced_params(params, name: str):
    """Shape-checked JAX :class:`MoEParams` and a traced validity flag (finite entries, ``var > 0``)."""
    p = MoEParams(*(jnp.asarray(v) for v in _as_params(params, name)))
    _check_shapes(p._asdict(), name)
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in p]))
    return p, finite & jnp.all(p.var > 0)


def _check_top_k(top_k, num_experts: int, name: str = "top_k"):
    """Eager check of a concrete ``top_k``; a traced one passes (with its range as a traced flag)."""
    if is_traced(top_k):
        return top_k, (top_k >= 1) & (top_k <= num_experts)
    return check_int(name, top_k, low=1, high=num_experts), True


def _required(value, name: str, owner: str):
    """``value`` (after resolving a deprecated spelling) when it was passed, else a TypeError."""
    if value is None:
        raise TypeError(f"{owner}() missing required keyword argument {name!r}")
    return value


def _check_x(x, d) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1 and d == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"x must have shape (num_samples, dim) with dim = {d}, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x must be finite (no NaN or inf)")
    return x


def _traced_x(x, d):
    x = jnp.asarray(x)
    if x.ndim == 1 and d == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"x must have shape (num_samples, dim) with dim = {d}, got {x.shape}")
    return x, jnp.all(jnp.isfinite(x))


def _check_y(y, n, traced: bool):
    y = jnp.asarray(y).reshape(-1) if traced else np.asarray(y, dtype=np.float64).reshape(-1)
    if y.shape[0] != n:
        raise ValueError(f"y must have shape ({n},) to match x, got {y.shape}")
    if traced:
        return y, jnp.all(jnp.isfinite(y))
    if not np.all(np.isfinite(y)):
        raise ValueError("y must be finite (no NaN or inf)")
    return y, True


# ---------------------------------------------------------------------------------------------
# Jittable cores (no validation; called by the fitting code).


def _scores(params: MoEParams, x, selection: str):
    s = x @ params.beta1.T
    return s + params.beta0 if selection == "affine" else s


def _topk_mask(scores, K):
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


def _to_jax(p: MoEParams) -> MoEParams:
    return MoEParams(*(jnp.asarray(v) for v in p))


@functools.cache
def _compiled(core, selection, K):
    """``core`` and its top-``K`` mask (none for ``K = None``) as one compiled program: a concrete call compiles
    once per core and shapes instead of once per operation."""

    def run(p, x, y):
        return core(p, x, y, None if K is None else _topk_mask(_scores(p, x, selection), K))

    return jax.jit(run)


def _mask_core(p, x, y, mask):
    return mask


def _log_gates_core(p, x, y, mask):
    return _log_gates(p, x, mask)


def _log_expert_core(p, x, y, mask):
    return _log_expert(p, x, y)


def _evaluate(core, params, x, y, top_k, selection):
    """Validate the inputs of a closed form and evaluate ``core(params, x, y, mask)``.

    Concrete inputs: eager checks, float64 NumPy result. Traced inputs: shape checks, JAX result in the
    ambient precision, NaN where a traced input is invalid (``nan_unless``).
    """
    if selection is not None:
        check_choice("selection", selection, SELECTIONS)
    if not _traced(params, x, y, top_k):
        p = validate_params(params)
        K = None if top_k is None else _check_top_k(top_k, p.num_experts)[0]
        xs = _check_x(x, p.dim)
        ys = None if y is None else _check_y(y, xs.shape[0], traced=False)[0]
        with jax.enable_x64(True):
            return np.asarray(_compiled(core, selection, K)(_to_jax(p), jnp.asarray(xs),
                                                           None if ys is None else jnp.asarray(ys)))
    p, valid = _traced_params(params, "params")
    xj, ok_x = _traced_x(x, p.dim)
    valid = valid & ok_x
    if y is not None:
        yj, ok_y = _check_y(y, xj.shape[0], traced=True)
        valid = valid & ok_y
    else:
        yj = None
    mask = None
    if top_k is not None:
        K, ok_k = _check_top_k(top_k, p.num_experts)
        valid = valid & ok_k
        mask = _topk_mask(_scores(p, xj, selection), K)
    out = core(p, xj, yj, mask)
    return out if out.dtype == bool else nan_unless(valid, out)


# ---------------------------------------------------------------------------------------------
# Public, validated API.


def selection_mask(params, x, *, top_k: int | None = None, selection: str = "slope", K: int | None = None):
    """The selected sets S(x) as a (num_samples, num_experts) boolean mask (exactly ``top_k`` True per row).

    Args:
        params: the mixing measure (:class:`MoEParams`).
        x: covariates, shape (num_samples, dim) (or (num_samples,) when dim = 1).
        top_k: number of selected experts K, 1 <= top_k <= num_experts.
        selection: ``"slope"`` (rank by beta1.x, default, the paper) or ``"affine"`` (beta1.x + beta0).
        K: deprecated name of ``top_k``.

    Returns:
        Boolean array (num_samples, num_experts). Ties are broken toward the lower index. On traced
        inputs a JAX array (a boolean mask cannot carry NaN: a traced ``top_k`` out of range selects
        no expert or all of them, and the gates and densities built on it are NaN).

    Example:
        >>> G = MoEParams([0.0, 0.5, -0.5], [[0.0], [2.0], [4.0]], [[-3.0], [1.0], [4.0]],
        ...               [2.0, -1.0, 0.5], [0.09, 0.16, 0.25])
        >>> selection_mask(G, [-0.5, 0.0, 0.3], top_k=2).astype(int).tolist()
        [[1, 1, 0], [1, 1, 0], [0, 1, 1]]
    """
    top_k = _required(renamed_argument("K", "top_k", top_k, K, owner="selection_mask"), "top_k", "selection_mask")
    return _evaluate(_mask_core, params, x, None, top_k, selection)


def log_gates(params, x, *, top_k: int | None = None, selection: str = "slope", K: int | None = None):
    r"""Log top-K gates :math:`\log \mathrm{gate}_i(x) = \eta_i - \log\sum_{j\in S(x)} e^{\eta_j}` (``-inf`` off S(x)).

    Works under ``jit``/``vmap``/``grad`` (see the module's input policy).

    Args:
        params: the mixing measure.
        x: covariates (num_samples, dim).
        top_k: number of selected experts K.
        selection: ranking rule (``"slope"`` or ``"affine"``).
        K: deprecated name of ``top_k``.

    Returns:
        (num_samples, num_experts) log gates; ``-inf`` for non-selected experts.

    References:
        Nguyen et al., ICLR 2024 (arXiv 2309.13850), the TopK softmax gate of Sec. 2, as recalled.
    """
    top_k = _required(renamed_argument("K", "top_k", top_k, K, owner="log_gates"), "top_k", "log_gates")
    return _evaluate(_log_gates_core, params, x, None, top_k, selection)


def gates(params, x, *, top_k: int | None = None, selection: str = "slope", K: int | None = None):
    """Top-K gate probabilities (num_samples, num_experts): non-negative, ``top_k`` positive entries per row,
    rows summing to 1. Works under ``jit``/``vmap``/``grad``.

    Example:
        >>> G = MoEParams([0.0, 0.5, -0.5], [[0.0], [2.0], [4.0]], [[-3.0], [1.0], [4.0]],
        ...               [2.0, -1.0, 0.5], [0.09, 0.16, 0.25])
        >>> gates(G, [-0.5], top_k=2).round(10).tolist()
        [[0.6224593312, 0.3775406688, 0.0]]

    References:
        Nguyen et al., ICLR 2024 (arXiv 2309.13850), the TopK softmax gate of Sec. 2, as recalled.
    """
    top_k = _required(renamed_argument("K", "top_k", top_k, K, owner="gates"), "top_k", "gates")
    out = log_gates(params, x, top_k=top_k, selection=selection)
    return np.exp(out) if isinstance(out, np.ndarray) else jnp.exp(out)


def log_expert(params, x, y):
    r"""Expert log densities :math:`\log\mathcal N(y; a_i^\top x + b_i, v_i)`, shape (num_samples, num_experts).

    Works under ``jit``/``vmap``/``grad``.
    """
    return _evaluate(_log_expert_core, params, x, y, None, None)


def log_density(params, x, y, *, top_k: int | None = None, selection: str = "slope", K: int | None = None):
    """Conditional log density log g_G(y|x) by a masked log-sum-exp, shape (num_samples,).

    Works under ``jit``/``vmap``/``grad`` (the gradient in the parameters is that of the
    log-likelihood with the selected sets held at their current value, which is the exact gradient
    wherever no score ties).

    Args:
        params: the mixing measure.
        x: covariates (num_samples, dim) (or (num_samples,) when dim = 1).
        y: responses (num_samples,).
        top_k: number of selected experts K, 1 <= top_k <= num_experts.
        selection: ``"slope"`` (default) or ``"affine"``.
        K: deprecated name of ``top_k``.

    Returns:
        (num_samples,) log densities (float64 NumPy for concrete inputs), finite for any finite input.

    Example (the truth of the rate designs, top-2):
        >>> G = MoEParams([0.0, 0.5, -0.5], [[0.0], [2.0], [4.0]], [[-3.0], [1.0], [4.0]],
        ...               [2.0, -1.0, 0.5], [0.09, 0.16, 0.25])
        >>> log_density(G, [0.3], [0.2], top_k=2).round(8).tolist()
        [-2.97470578]

    References:
        Nguyen et al., ICLR 2024 (arXiv 2309.13850), the top-K sparse softmax gating Gaussian MoE of
        Sec. 2, as recalled.
    """
    top_k = _required(renamed_argument("K", "top_k", top_k, K, owner="log_density"), "top_k", "log_density")
    return _evaluate(_log_density, params, x, y, top_k, selection)


def _sample(key, params: MoEParams, n: int, K: int, selection: str, x_low, x_high, dtype):
    """Jittable sampler: X ~ U[x_low, x_high]^d, z ~ Categorical(gate(X)), Y ~ N(a_z.X + b_z, v_z)."""
    kx, kz, ke = jax.random.split(key, 3)
    d = params.beta1.shape[1]
    x = _random.uniform(kx, (n, d), dtype, x_low, x_high)
    mask = _topk_mask(_scores(params, x, selection), K)
    z = jax.random.categorical(kz, _log_gates(params, x, mask), axis=-1)
    mu = jnp.sum(x * params.a[z], axis=-1) + params.b[z]
    y = mu + jnp.sqrt(params.var[z]) * _random.normal(ke, (n,), dtype)
    return x, y


_sample_jit = jax.jit(_sample, static_argnums=(2, 3, 4, 7))


def sample(params, num_samples: int | None = None, *, key, top_k: int | None = None, selection: str = "slope",
           x_low: float = -1.0, x_high: float = 1.0, dtype=jnp.float32, K: int | None = None, n: int | None = None):
    """Draw ``num_samples`` pairs (X, Y): X ~ U[x_low, x_high]^dim, expert z ~ gate(X), Y = a_z.X + b_z + sqrt(v_z) xi.

    A simulator: concrete parameters only (validated eagerly), jitted inside.

    Args:
        params: the mixing measure.
        num_samples: sample size, >= 1.
        key: a JAX PRNG key (keyword-only).
        top_k: number of selected experts.
        selection: ranking rule.
        x_low: lower end of the covariate box.
        x_high: upper end of the covariate box.
        dtype: float dtype of the draw (float32 by default).
        K: deprecated name of ``top_k``.
        n: deprecated name of ``num_samples``.

    Returns:
        ``(x, y)`` with shapes (num_samples, dim) and (num_samples,).

    References:
        Nguyen et al., ICLR 2024 (arXiv 2309.13850), the generative model of Sec. 2 (covariate, expert
        label drawn from the top-K gate, Gaussian response), as recalled.
    """
    top_k = _required(renamed_argument("K", "top_k", top_k, K, owner="sample"), "top_k", "sample")
    num_samples = renamed_argument("n", "num_samples", num_samples, n, owner="sample")
    if num_samples is None:
        raise TypeError("sample() missing required argument 'num_samples'")
    p = validate_params(params)
    top_k = _check_top_k(top_k, p.num_experts)[0]
    num_samples = check_int("num_samples", num_samples, low=1)
    check_choice("selection", selection, SELECTIONS)
    lo = check_real("x_low", x_low)
    hi = check_real("x_high", x_high)
    if not lo < hi:
        raise ValueError(f"x_low must be < x_high, got {lo} and {hi}")
    with jax.enable_x64(jnp.dtype(dtype) == jnp.float64):
        pj = MoEParams(*(jnp.asarray(v, dtype) for v in p))
        return _sample_jit(key, pj, num_samples, top_k, selection, lo, hi, dtype)


def gauge(params, *args, ref: int | None = None) -> MoEParams:
    r"""Translate the gate so that expert ``ref`` has :math:`\beta_0 = 0, \beta_1 = 0`.

    Adding a common :math:`(t_0, t_1)` to every :math:`(\beta_{0i}, \beta_{1i})` leaves S(x) and the
    softmax unchanged (``docs/moe.md#identifiability``), so the gate is identified only up to this
    translation; losses are computed in the gauge of an explicit reference expert.

    Args:
        params: the mixing measure.
        ref: index of the reference expert, 0 <= ref < num_experts (keyword-only; passing it
            positionally is deprecated).

    Returns:
        The translated float64 :class:`MoEParams` (same density for either selection rule).
    """
    if args:
        if len(args) > 1 or ref is not None:
            raise TypeError("gauge() takes the parameters and ref=")
        warnings.warn("gauge(params, ref) with a positional ref is deprecated; use gauge(params, ref=...)",
                      DeprecationWarning, stacklevel=2)
        ref = args[0]
    if ref is None:
        raise TypeError("gauge() missing required keyword argument 'ref'")
    p = validate_params(params)
    ref = check_int("ref", ref, low=0, high=p.num_experts - 1)
    return p._replace(beta0=p.beta0 - p.beta0[ref], beta1=p.beta1 - p.beta1[ref])
