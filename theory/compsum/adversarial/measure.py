r"""Measurements on random linear cases: the slacks of the proven adversarial chain.

References:
    Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial robustness) [reconstructed].
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from theory._compat import keyword_only
from theory._random import check_key, numpy_rng
from theory._validation import check_int
from theory.compsum.adversarial._ball import (
    MAX_VERTEX_DIM,
    adversarial_zero_one,
    clean_loss,
    margin_loss_lower,
    smooth_term,
)
from theory.compsum.adversarial._checks import check_gamma, check_nu, check_q, check_rho, check_tau
from theory.compsum.adversarial.calibration import adversarial_calibration_constant

__all__ = ["chain_slacks"]


def _case_generator(key, key_or_seed) -> np.random.Generator:
    """The NumPy generator of the cases: from the JAX ``key``, or from the deprecated ``key_or_seed`` (an
    int seed, a NumPy generator or a JAX key, as before)."""
    if key_or_seed is None:
        if key is None:
            raise TypeError("chain_slacks() missing required keyword argument: 'key'")
        return numpy_rng(check_key(key))
    if key is not None:
        raise TypeError("chain_slacks: pass key only (key_or_seed is its deprecated form)")
    warnings.warn("chain_slacks: 'key_or_seed' is deprecated; pass a JAX PRNG key as key=", DeprecationWarning,
                  stacklevel=4)
    if isinstance(key_or_seed, numbers.Integral) and not isinstance(key_or_seed, bool):
        if key_or_seed < 0:
            raise ValueError(f"key_or_seed must be a non-negative integer seed, got {key_or_seed}")
        return np.random.default_rng(int(key_or_seed))
    if isinstance(key_or_seed, np.random.Generator):
        return key_or_seed
    try:
        return numpy_rng(check_key(key_or_seed, "key_or_seed"))
    except TypeError as exc:
        raise TypeError("key_or_seed must be a non-negative int seed, a numpy Generator or a JAX PRNG key, "
                        f"got {type(key_or_seed).__name__}") from exc


@keyword_only(renamed={"n_cases": "num_samples", "n_classes": "num_classes"})
def chain_slacks(
    key_or_seed=None,
    *,
    key=None,
    num_samples,
    tau,
    num_classes,
    rho,
    gamma,
    nu,
    q=2,
    dim: int = 4,
    n_random: int = 200,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Slacks of the adversarial chain ``Phi^tau(1) l_gamma <= l~_lower <= l~_sm`` on random linear cases.

    .. math::

        \text{slack\_left} = \tilde\ell^\tau_{\rho,\text{lower}} - \Phi^\tau(1)\,\ell_\gamma,
        \qquad
        \text{slack\_right} = \tilde\ell^{\tau,\mathrm{sm}}_{\rho,\nu} - \tilde\ell^\tau_{\rho,\text{lower}}.

    Both are :math:`\ge 0` (up to rounding) on every case when :math:`\nu \ge \sqrt{n-1}/\rho`; with
    ``nu = 0`` ``slack_right`` is negative on a sizeable fraction of cases. Because the middle term is a
    *lower* estimate, a negative ``slack_right`` is a genuine violation, while ``slack_left >= 0``
    is guaranteed by including each pair's worst point among the candidates.

    Case ``i`` draws (in this order, from the NumPy generator of ``key``, :func:`theory._random.numpy_rng`)
    ``W ~ N(0,1)^{n x dim}``, ``b ~ N(0,1)^n``, ``x ~ N(0,1)^dim`` and ``y`` uniform; then ``n_random`` sphere
    points per case. Deterministic given the key; vectorised over cases.

    Args:
        key: JAX PRNG key (keyword-only). ``key_or_seed``, its deprecated form (positional or by name), also
            takes an int seed or a ``numpy.random.Generator`` and warns.
        num_samples: number of random linear cases, ``>= 1`` (``n_cases`` is its deprecated name).
        tau: comp-sum parameter, ``tau >= 0``.
        num_classes: ``n >= 2`` (``n_classes`` is its deprecated name).
        rho: margin scale, ``rho > 0``.
        gamma: perturbation radius ``>= 0``, or a 1-D sequence of radii assigned to cases cyclically.
        nu: smoothing weight, ``nu >= 0``.
        q: perturbation norm, one of ``1, 2, inf``.
        dim: input dimension ``d >= 1`` (``<= 16`` for ``q = inf``).
        n_random: random sphere points per case, ``>= 0``.

    Returns:
        ``(slack_left, slack_right)``, two float64 arrays of shape ``[num_samples]``.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial robustness)
        [reconstructed]; the chain is proven in :mod:`theory.compsum.adversarial` and
        docs/compsum.md#adversarial-losses.
    """
    m = check_int("num_samples", num_samples, low=1)
    tau = check_tau(tau)
    n = check_int("num_classes", num_classes, low=2)
    rho = check_rho(rho)
    nu = check_nu(nu)
    q = check_q(q)
    d = check_int("dim", dim, low=1)
    n_random = check_int("n_random", n_random, low=0)
    if q == math.inf and d > MAX_VERTEX_DIM:
        raise ValueError(f"dim must be <= {MAX_VERTEX_DIM} for q = inf (exact vertex enumeration), got {d}")
    if np.ndim(gamma) == 0:
        gammas = np.array([check_gamma(gamma)])
    else:
        gammas = np.array([check_gamma(g) for g in np.asarray(gamma).ravel()])
        if gammas.size == 0:
            raise ValueError("gamma must be a non-negative number or a non-empty sequence of them")
    gam = np.resize(gammas, m)
    rng = _case_generator(key, key_or_seed)

    W = rng.standard_normal((m, n, d))
    b = rng.standard_normal((m, n))
    x = rng.standard_normal((m, d))
    y = rng.integers(0, n, size=m)

    adv01 = adversarial_zero_one(W, b, x, y, gam, q)
    lower = margin_loss_lower(W, b, x, y, gam, q, tau, rho, rng, n_random)
    smooth = clean_loss(W, b, x, y, tau, rho) + nu * smooth_term(W, y, gam, q)
    left = lower - adversarial_calibration_constant(tau=tau) * adv01
    right = smooth - lower
    return left, right
