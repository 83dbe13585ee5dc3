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

References:
    Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 4 (label-DP by aggregation and the optimal
    bag size; as recalled; the constants are derived in the project spec B2.5/B3.6).
"""

from __future__ import annotations

import functools
import typing

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import check_int, check_real
from theory.aggregate.asymptotics import AsymptoticRisk, asymptotic_risk, optimal_rho
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


def label_range(*, clip, nonnegative=False) -> float:
    """The width L of the clipped label range: 2C for ``[-C, C]``, C for ``[0, C]`` (``nonnegative``).

    Example:
        >>> label_range(clip=1.0)
        2.0
    """
    c = check_real("clip", clip, low=0.0, low_open=True)
    return c if nonnegative else 2.0 * c


def laplace_scale(bag_size, *, epsilon, clip=1.0, nonnegative=False) -> float:
    r"""The Laplace scale :math:`b = \Delta/\varepsilon = L/(k\varepsilon)` making bag means label-DP.

    Args:
        bag_size: k >= 1.
        epsilon: privacy level > 0.
        clip: C > 0.
        nonnegative: labels clipped to [0, C] (L = C) instead of [-C, C] (L = 2C).

    Returns:
        b (float); the noise variance is :math:`2b^2`.

    Example:
        >>> laplace_scale(4, epsilon=1.0, clip=1.0)
        0.5

    References:
        Spec B2.5 (sensitivity L/k of a bag mean; TV-B5).
    """
    k = check_int("bag_size", bag_size, low=1)
    eps = check_real("epsilon", epsilon, low=0.0, low_open=True)
    return label_range(clip=clip, nonnegative=nonnegative) / (k * eps)


def effective_noise(noise, bag_size, *, epsilon, clip=1.0, nonnegative=False) -> float:
    r"""Effective noise variance of the reduced model, :math:`\sigma^2_{\rm eff} = \sigma^2 + 2L^2/(k\varepsilon^2)`.

    (:math:`\tilde\varepsilon = \sqrt k(\bar\varepsilon + \eta)`, so :math:`\mathrm{Var} = \sigma^2 + k\cdot 2b^2`.)

    Args:
        noise: :math:`\sigma^2 \ge 0`.
        bag_size: k >= 1.
        epsilon: > 0.
        clip: C > 0.
        nonnegative: L = C instead of 2C.

    Returns:
        :math:`\sigma^2_{\rm eff}` (float), decreasing in k.

    Example:
        >>> effective_noise(1.0, 4, epsilon=1.0)
        3.0

    References:
        Spec B2.5 item 4 (TV-B5).
    """
    s2 = check_real("noise", noise, low=0.0)
    k = check_int("bag_size", bag_size, low=1)
    b = laplace_scale(k, epsilon=epsilon, clip=clip, nonnegative=nonnegative)
    return s2 + 2.0 * k * b * b


def privatize_bag_means(y, bags, *, epsilon, clip=1.0, nonnegative=False, key):
    r"""Release the label-DP bag means :math:`\tilde y_a = \mathrm{mean}_{B_a}\mathrm{clip}(y_i) + \eta_a`.

    :math:`\eta_a \sim \mathrm{Laplace}(0, L/(k\varepsilon))` i.i.d.

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
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 4 (as recalled; spec B2.5).
    """
    eps = check_real("epsilon", epsilon, low=0.0, low_open=True)
    c = check_real("clip", clip, low=0.0, low_open=True)
    y = jnp.asarray(y)
    info = check_bags(np.asarray(bags), y.shape[0], equal_size=True)
    b = laplace_scale(info.bag_size, epsilon=eps, clip=c, nonnegative=nonnegative)
    return _release(key, y, jnp.asarray(info.bags), b, 0.0 if nonnegative else -c, c, n_bags=info.n_bags)


@functools.partial(jax.jit, static_argnames=("n_bags",))
def _release(key, y, bags, b, lo, hi, *, n_bags):
    means = bag_means(jnp.clip(y, lo, hi), bags, n_bags)
    return means + b * jax.random.laplace(key, means.shape, means.dtype)


def dp_risk(gamma, bag_size, rho, *, epsilon, clip=1.0, signal=1.0, noise=1.0, nonnegative=False,
            allow_extrapolation=False) -> AsymptoticRisk:
    r"""Asymptotic risk of the interpolating estimator fitted to Laplace-released bag means.

    :math:`\mathrm{Risk}_{DP} = \mathrm{Bias}^2(\gamma,k,\rho;r^2) + \sigma^2_{\rm eff}(k)\,V_1(\gamma,k,\rho)`:
    :func:`asymptotic_risk` with ``noise`` replaced by :func:`effective_noise`.

    Args:
        gamma: d/n in (0, 1).
        bag_size: k >= 1.
        rho: interpolation weight (see :func:`asymptotic_risk`).
        epsilon: > 0.
        clip: C > 0.
        signal: :math:`r^2`.
        noise: :math:`\sigma^2` (before privatisation).
        nonnegative: L = C instead of 2C.
        allow_extrapolation: accept rho > 1.

    Returns:
        An :class:`AsymptoticRisk`.

    Example:
        >>> round(dp_risk(0.05, 2, 0.5, epsilon=1.0).risk, 4)
        0.3568

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 4 (as recalled; spec B3.6, B8.5).
    """
    k = check_int("bag_size", bag_size, low=1)
    s2e = effective_noise(noise, k, epsilon=epsilon, clip=clip, nonnegative=nonnegative)
    return asymptotic_risk(gamma, k, rho, signal=signal, noise=s2e, allow_extrapolation=allow_extrapolation)


class OptimalBagSize(typing.NamedTuple):
    """The DP-optimal bag size, its optimal rho, the risk there, and the profile over k = 1..k_max."""

    bag_size: int
    rho: float
    risk: float
    risks: np.ndarray
    rhos: np.ndarray


def optimal_bag_size(gamma, *, epsilon, clip=1.0, signal=1.0, noise=1.0, nonnegative=False, max_bag_size=40,
                     constrained=True) -> OptimalBagSize:
    r""":math:`k^* = \arg\min_k \min_\rho \mathrm{Risk}_{DP}(k, \rho)` over :math:`k = 1..k_{\max}`.

    Each k uses :func:`optimal_rho` with the effective noise. Stronger privacy (smaller epsilon) gives
    larger :math:`k^*`; the bag-level estimator alone (rho = 0) always prefers k = 1.

    Args:
        gamma: d/n in (0, 1).
        epsilon: > 0.
        clip: C > 0.
        signal: :math:`r^2`.
        noise: :math:`\sigma^2`.
        nonnegative: L = C instead of 2C.
        max_bag_size: the largest k tried (>= 1).
        constrained: optimise rho over [0, 1] (else over [0, 50], the setting of the spec's table).

    Returns:
        An :class:`OptimalBagSize` (``bag_size``, ``rho``, ``risk``, and the per-k ``risks``, ``rhos``).

    Example:
        >>> optimal_bag_size(0.05, epsilon=0.3, constrained=False).bag_size
        3

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 4 (as recalled; spec B3.6).
    """
    gamma = check_real("gamma", gamma, low=0.0, high=1.0, low_open=True, high_open=True)
    k_max = check_int("max_bag_size", max_bag_size, low=1)
    risks, rhos = np.full(k_max, np.inf), np.zeros(k_max)
    for k in range(1, k_max + 1):
        s2e = effective_noise(noise, k, epsilon=epsilon, clip=clip, nonnegative=nonnegative)
        r = optimal_rho(gamma, k, signal=signal, noise=s2e, constrained=constrained)
        rhos[k - 1] = r
        risks[k - 1] = asymptotic_risk(gamma, k, r, signal=signal, noise=s2e, allow_extrapolation=True).risk
    i = int(np.argmin(risks))
    return OptimalBagSize(i + 1, float(rhos[i]), float(risks[i]), risks, rhos)
