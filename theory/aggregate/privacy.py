r"""Label differential privacy by aggregation: the Laplace mechanism on clipped bag means.

Clip each response to :math:`[-C, C]` (range :math:`L = 2C`; or :math:`[0, C]`, :math:`L = C`), average
within bags and release :math:`\tilde y_a = \bar y^c_a + \eta_a`, :math:`\eta_a \sim \mathrm{Laplace}(0, b)`,
:math:`b = \Delta/\varepsilon` with sensitivity :math:`\Delta = L/k`. Each label is in exactly one bag,
so the release is :math:`\varepsilon`-label-DP (parallel composition), and so is every estimator computed
from it. In the reduced linear model the noise adds :math:`2b^2` to each bag mean, i.e.

.. math::
    \sigma^2_{\rm eff}(k) = \sigma^2 + \frac{2L^2}{k\varepsilon^2},

and the DP risk is :math:`\mathrm{Bias}^2(\gamma,k,\rho) + \sigma^2_{\rm eff}(k)V_1(\gamma,k,\rho)`
(no clipping bias assumed). Larger bags dilute the privacy noise but lose information; the
optimal bag size :math:`k^*(\varepsilon)` balances the two.

The closed forms (:func:`label_range`, :func:`laplace_scale`, :func:`effective_noise`, :func:`dp_risk`,
:func:`optimal_bag_size`) work under ``jax.jit``/``jax.vmap``/``jax.grad`` (float64 inside
``jax.enable_x64()``, or float32); concrete inputs are checked eagerly, invalid traced ones give NaN
(docs/glossary.md#input-policy). Hyperparameters are keyword-only; the old positional calls
(``effective_noise(noise, bag_size, ...)``, ``dp_risk(gamma, bag_size, rho, ...)``) and ``noise`` still work
with a ``DeprecationWarning``.

References:
    Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 4 (label-DP by aggregation and the optimal
    bag size; as recalled); Dwork and Roth, *The Algorithmic Foundations of Differential Privacy* (2014),
    Thm 3.6 (Laplace mechanism) and parallel composition. The constants are derived by the library:
    docs/aggregate.md#label-dp-constants.
"""

from __future__ import annotations

import functools
import typing

import jax
import jax.numpy as jnp
import numpy as np

from theory._random import check_key
from theory._validation import check_int, check_real, is_traced, nan_unless
from theory.aggregate._checks import old_spellings
from theory.aggregate.asymptotics import (
    AsymptoticRisk,
    _optimal_rho_core,
    _risk_terms,
    _traceable,
    asymptotic_risk,
)
from theory.aggregate.bags import bag_means, check_bags

__all__ = [
    "label_range",
    "laplace_scale",
    "effective_noise",
    "privatize_bag_means",
    "dp_risk",
    "OptimalBagSize",
    "optimal_bag_size",
]


def _scalar(name, value, **bounds):
    """A concrete scalar checked by :func:`theory._validation.check_real`; a tracer as it is."""
    return value if is_traced(value) else check_real(name, value, **bounds)


def _positive_int(name, value):
    return value if is_traced(value) else check_int(name, value, low=1)


def _finite_positive(x):
    return jnp.isfinite(x) & (x > 0.0)


def label_range(*, clip, nonnegative=False):
    """The width L of the clipped label range: 2C for ``[-C, C]``, C for ``[0, C]`` (``nonnegative``).

    Works under ``jit``/``vmap``/``grad`` in ``clip`` (NaN for an invalid traced clip).

    Example:
        >>> label_range(clip=1.0)
        2.0
    """
    c = _scalar("clip", clip, low=0.0, low_open=True)
    width = c if nonnegative else 2.0 * c
    return nan_unless(_finite_positive(c), width) if is_traced(c) else width


@old_spellings(positional=("bag_size",))
def laplace_scale(*, bag_size, epsilon, clip=1.0, nonnegative=False):
    r"""The Laplace scale :math:`b = \Delta/\varepsilon = L/(k\varepsilon)` making bag means label-DP.

    Works under ``jit``/``vmap``/``grad`` (NaN for invalid traced inputs).

    Args:
        bag_size: k >= 1.
        epsilon: privacy level > 0.
        clip: C > 0.
        nonnegative: labels clipped to [0, C] (L = C) instead of [-C, C] (L = 2C).

    Returns:
        b (float); the noise variance is :math:`2b^2`.

    Example:
        >>> laplace_scale(bag_size=4, epsilon=1.0, clip=1.0)
        0.5

    References:
        Dwork and Roth (2014), Thm 3.6 (Laplace mechanism); the sensitivity L/k of a bag mean:
        docs/aggregate.md#label-dp-constants.
    """
    k = _positive_int("bag_size", bag_size)
    eps = _scalar("epsilon", epsilon, low=0.0, low_open=True)
    b = label_range(clip=clip, nonnegative=nonnegative) / (k * eps)
    if is_traced(k) or is_traced(eps):
        return nan_unless((k >= 1) & _finite_positive(eps), b)
    return b


@old_spellings(positional=("noise_var", "bag_size"), noise="noise_var")
def effective_noise(*, noise_var, bag_size, epsilon, clip=1.0, nonnegative=False):
    r"""Effective noise variance of the reduced model, :math:`\sigma^2_{\rm eff} = \sigma^2 + 2L^2/(k\varepsilon^2)`.

    (:math:`\tilde\varepsilon = \sqrt k(\bar\varepsilon + \eta)`, so :math:`\mathrm{Var} = \sigma^2 + k\cdot 2b^2`.)
    Works under ``jit``/``vmap``/``grad`` (NaN for invalid traced inputs).

    Args:
        noise_var: :math:`\sigma^2 \ge 0` (``noise`` is its deprecated spelling).
        bag_size: k >= 1.
        epsilon: > 0.
        clip: C > 0.
        nonnegative: L = C instead of 2C.

    Returns:
        :math:`\sigma^2_{\rm eff}` (float), decreasing in k.

    Example:
        >>> effective_noise(noise_var=1.0, bag_size=4, epsilon=1.0)
        3.0

    References:
        Derived by the library: docs/aggregate.md#label-dp-constants.
    """
    s2 = _scalar("noise_var", noise_var, low=0.0)
    k = _positive_int("bag_size", bag_size)
    b = laplace_scale(bag_size=k, epsilon=epsilon, clip=clip, nonnegative=nonnegative)
    out = s2 + 2.0 * k * b * b
    return nan_unless(jnp.isfinite(s2) & (s2 >= 0.0), out) if is_traced(s2) else out


def privatize_bag_means(y, bags, *, epsilon, clip=1.0, nonnegative=False, key):
    r"""Release the label-DP bag means :math:`\tilde y_a = \mathrm{mean}_{B_a}\mathrm{clip}(y_i) + \eta_a`.

    :math:`\eta_a \sim \mathrm{Laplace}(0, L/(k\varepsilon))` i.i.d. The responses must not contain NaN
    (they may be infinite: clipping maps them to the range).

    Args:
        y: responses, shape (n,).
        bags: bag ids (n,), equal-size bags.
        epsilon: privacy level > 0.
        clip: C > 0; responses are clipped to [-C, C] (or [0, C] with ``nonnegative``).
        nonnegative: clip to [0, C].
        key: a JAX PRNG key.

    Returns:
        The released aggregate responses, shape (m,): :math:`\varepsilon`-label-DP.

    Example:
        >>> y_t = privatize_bag_means(jnp.zeros(4), jnp.array([0, 0, 1, 1]), epsilon=1.0, key=jax.random.key(0))
        >>> y_t.shape
        (2,)

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 4 (as recalled); Dwork and Roth (2014),
        Thm 3.6 and parallel composition: docs/aggregate.md#label-dp-constants.
    """
    eps = check_real("epsilon", epsilon, low=0.0, low_open=True)
    c = check_real("clip", clip, low=0.0, low_open=True)
    key = check_key(key)
    y = jnp.asarray(y)
    if not is_traced(y) and bool(jnp.any(jnp.isnan(y))):
        raise ValueError("y must not contain NaN")
    info = check_bags(np.asarray(bags), num_samples=y.shape[0], equal_size=True)
    b = laplace_scale(bag_size=info.bag_size, epsilon=eps, clip=c, nonnegative=nonnegative)
    return _release(key, y, jnp.asarray(info.bags), b, 0.0 if nonnegative else -c, c, num_bags=info.num_bags)


@functools.partial(jax.jit, static_argnames=("num_bags",))
def _release(key, y, bags, b, lo, hi, *, num_bags):
    means = bag_means(jnp.clip(y, lo, hi), bags, num_bags=num_bags)
    return means + b * jax.random.laplace(key, means.shape, means.dtype)


@old_spellings(positional=("bag_size", "rho"), noise="noise_var")
def dp_risk(gamma, *, bag_size, rho, epsilon, clip=1.0, signal=1.0, noise_var=1.0, nonnegative=False,
            allow_extrapolation=False) -> AsymptoticRisk:
    r"""Asymptotic risk of the interpolating estimator fitted to Laplace-released bag means.

    :math:`\mathrm{Risk}_{DP} = \mathrm{Bias}^2(\gamma,k,\rho;r^2) + \sigma^2_{\rm eff}(k)\,V_1(\gamma,k,\rho)`:
    :func:`~theory.aggregate.asymptotics.asymptotic_risk` with ``noise_var`` replaced by
    :func:`effective_noise`. Works under ``jit``/``vmap``/``grad`` (NaN for invalid traced inputs).

    Args:
        gamma: d/n in (0, 1).
        bag_size: k >= 1.
        rho: interpolation weight (see :func:`~theory.aggregate.asymptotics.asymptotic_risk`).
        epsilon: > 0.
        clip: C > 0.
        signal: :math:`r^2`.
        noise_var: :math:`\sigma^2` before privatisation (``noise`` is its deprecated spelling).
        nonnegative: L = C instead of 2C.
        allow_extrapolation: accept rho > 1.

    Returns:
        An :class:`~theory.aggregate.asymptotics.AsymptoticRisk`.

    Example:
        >>> round(dp_risk(0.05, bag_size=2, rho=0.5, epsilon=1.0).risk, 4)
        0.3568

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 4 (as recalled); derivation:
        docs/aggregate.md#label-dp-constants.
    """
    k = _positive_int("bag_size", bag_size)
    s2e = effective_noise(noise_var=noise_var, bag_size=k, epsilon=epsilon, clip=clip, nonnegative=nonnegative)
    return asymptotic_risk(gamma, bag_size=k, rho=rho, signal=signal, noise_var=s2e,
                           allow_extrapolation=allow_extrapolation)


class OptimalBagSize(typing.NamedTuple):
    """The DP-optimal bag size, its optimal rho, the risk there, and the profile over k = 1..k_max (JAX arrays
    under tracing)."""

    bag_size: int
    rho: float
    risk: float
    risks: np.ndarray
    rhos: np.ndarray


@functools.partial(jax.jit, static_argnames=("max_bag_size", "constrained"))
def _bag_size_profile(gamma, epsilon, width, r2, s2n, *, max_bag_size, constrained):
    """(risks, rhos) over k = 1..max_bag_size: optimal_rho with the effective noise of each k."""
    ks = jnp.arange(1, max_bag_size + 1)
    b = width / (ks * epsilon)
    s2e = s2n + 2.0 * ks * b * b
    rhos = jax.vmap(functools.partial(_optimal_rho_core, constrained=constrained), (None, 0, None, 0))(
        gamma, ks, r2, s2e)
    risks = _risk_terms(jnp, gamma, 1.0 / ks, rhos, r2, s2e)[4]
    return risks, rhos


@old_spellings(noise="noise_var")
def optimal_bag_size(gamma, *, epsilon, clip=1.0, signal=1.0, noise_var=1.0, nonnegative=False, max_bag_size=40,
                     constrained=True) -> OptimalBagSize:
    r""":math:`k^* = \arg\min_k \min_\rho \mathrm{Risk}_{DP}(k, \rho)` over :math:`k = 1..k_{\max}`.

    Each k uses :func:`~theory.aggregate.asymptotics.optimal_rho` with the effective noise. Stronger privacy
    (smaller epsilon) gives larger :math:`k^*`; the bag-level estimator alone (rho = 0) always prefers k = 1.

    Written in JAX: works under ``jit`` and ``vmap`` over ``gamma``, ``epsilon``, ``clip``, ``signal`` and
    ``noise_var`` (``max_bag_size`` and ``constrained`` are static), and ``grad`` of ``risk``/``risks``/``rho``.
    For invalid traced inputs the real fields are NaN and ``bag_size`` is 0 (an integer cannot be NaN).
    Concrete inputs are evaluated in float64 and give NumPy/Python values.

    Args:
        gamma: d/n in (0, 1).
        epsilon: > 0.
        clip: C > 0.
        signal: :math:`r^2`.
        noise_var: :math:`\sigma^2` (``noise`` is its deprecated spelling).
        nonnegative: L = C instead of 2C.
        max_bag_size: the largest k tried (>= 1).
        constrained: optimise rho over [0, 1] (else over [0, 50], the range used by the table of
            docs/aggregate.md#label-dp-constants).

    Returns:
        An :class:`OptimalBagSize` (``bag_size``, ``rho``, ``risk``, and the per-k ``risks``, ``rhos``).

    Example:
        >>> optimal_bag_size(0.05, epsilon=0.3, constrained=False).bag_size
        3

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 4 (as recalled); derivation:
        docs/aggregate.md#label-dp-constants.
    """
    g = _scalar("gamma", gamma, low=0.0, high=1.0, low_open=True, high_open=True)
    k_max = check_int("max_bag_size", max_bag_size, low=1)
    eps = _scalar("epsilon", epsilon, low=0.0, low_open=True)
    r2 = _scalar("signal", signal, low=0.0)
    s2n = _scalar("noise_var", noise_var, low=0.0)
    width = label_range(clip=clip, nonnegative=nonnegative)
    static = {"max_bag_size": k_max, "constrained": bool(constrained)}
    if not any(is_traced(v) for v in (g, eps, r2, s2n, width)):
        with jax.enable_x64(True):
            risks, rhos = (np.asarray(a, np.float64) for a in _bag_size_profile(g, eps, width, r2, s2n, **static))
        i = int(np.argmin(risks))
        return OptimalBagSize(i + 1, float(rhos[i]), float(risks[i]), risks, rhos)
    g, eps, r2, s2n, width = map(_traceable, (g, eps, r2, s2n, width))
    valid = (g > 0.0) & (g < 1.0) & _finite_positive(eps) & _finite_positive(width)
    for v in (r2, s2n):
        valid = valid & jnp.isfinite(v) & (v >= 0.0)
    risks, rhos = (nan_unless(valid, a) for a in _bag_size_profile(g, eps, width, r2, s2n, **static))
    i = jnp.argmin(risks)
    return OptimalBagSize(jnp.where(valid, i + 1, 0), rhos[i], risks[i], risks, rhos)
