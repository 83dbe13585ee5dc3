r"""H-consistency bound functions of the comp-sum losses for complete symmetric hypothesis sets.

With :math:`A_\tau(t) = \big(\tfrac{(1+t)^{1/(2-\tau)} + (1-t)^{1/(2-\tau)}}{2}\big)^{2-\tau}`,

.. math::

    \mathcal T_{\tau,n}(t) =
    \begin{cases}
      \frac{2^{1-\tau}}{1-\tau}\,[1 - A_\tau(t)] & \tau \in [0,1) \\
      \frac{1+t}{2}\log(1+t) + \frac{1-t}{2}\log(1-t) & \tau = 1 \\
      \frac{A_\tau(t) - 1}{(\tau-1)\,n^{\tau-1}} & \tau \in (1,2) \\
      \frac{t}{(\tau-1)\,n^{\tau-1}} & \tau \ge 2
    \end{cases}

and the bound :math:`\Gamma_{\tau,n} = \mathcal T_{\tau,n}^{-1}`, capped at 1: for every
:math:`h \in \mathcal H`,
:math:`R_{0-1}(h) - R^*_{0-1} + M_{0-1} \le \Gamma_{\tau,n}(R_\tau(h) - R^*_\tau + M_\tau)`.

All functions here are exact mathematics in float64 (numpy).

References:
    Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Theorem 3.1 (H-consistency bounds of comp-sum
    losses) and its square-root corollary; Mao, Mohri, Zhong, NeurIPS 2023, the comp-sum
    characterization.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from theory._validation import check_int, check_real

__all__ = [
    "consistency_transform",
    "consistency_bound",
    "transform_at_one",
    "sqrt_bound_constant",
    "small_t_constant",
]

_SERIES_T = 0.2
_SERIES_TERMS = 40


def _check_t(t) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64)
    if np.any(~((t >= 0) & (t <= 1))):
        raise ValueError("t must lie in [0, 1] (a zero-one conditional regret)")
    return t


def _check_tau_n(tau, n_classes) -> tuple[float, int]:
    return check_real("tau", tau, low=0.0), check_int("n_classes", n_classes, low=2)


def _half_sum_minus_one(t: np.ndarray, r: float, rm1: float) -> np.ndarray:
    """``m(t) = ((1+t)^r + (1-t)^r)/2 - 1`` by its even binomial series ``sum_k binom(r, 2k) t^{2k}``
    (used where ``t`` and ``r t`` are small, where the direct formula loses every digit). ``rm1`` is
    ``r - 1`` computed without cancellation, so ``m`` keeps its relative precision as ``tau -> 1``."""
    total = np.zeros_like(t)
    term = np.ones_like(t)
    t2 = t * t
    for k in range(1, _SERIES_TERMS + 1):  # term_k = binom(r, 2k) t^{2k}: ratio (r-2k+2)(r-2k+1)/((2k-1)2k) t^2
        term = term * (rm1 - (2 * k - 3)) * (rm1 - (2 * k - 2)) / ((2 * k - 1) * 2 * k) * t2
        total += term
    return total


def _a_minus_one(t: np.ndarray, tau: float) -> np.ndarray:
    """``A_tau(t) - 1`` for ``tau < 2`` with full relative precision for every ``t`` and ``tau``.

    Three regimes (``r = 1/(2-tau)``): the binomial series where ``t`` and ``r t`` are small; the
    form ``m = ((1+t) expm1((r-1) log(1+t)) + (1-t) expm1((r-1) log(1-t)))/2``, which keeps the
    factor ``r - 1`` explicit (no cancellation as ``tau -> 1``); and, where ``r t`` is large
    (``tau -> 2``), ``log A = log(1+t) + (2-tau) log((1 + q^r)/2)`` with ``q = (1-t)/(1+t)``, which
    cannot overflow.
    """
    r = 1.0 / (2.0 - tau)
    rm1 = (tau - 1.0) / (2.0 - tau)
    out = np.empty_like(t)
    large = r * t >= 5.0
    series = (t < _SERIES_T) & ~large
    middle = ~series & ~large
    m = np.empty_like(t)
    m[series] = _half_sum_minus_one(t[series], r, rm1)
    tm = t[middle]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # (1-t)^r - (1-t) -> 0 at t = 1
        low = np.where(tm < 1.0, (1 - tm) * np.expm1(rm1 * np.log1p(-tm)), 0.0)
    m[middle] = 0.5 * ((1 + tm) * np.expm1(rm1 * np.log1p(tm)) + low)
    out[~large] = np.expm1((2.0 - tau) * np.log1p(m[~large]))
    tl = t[large]
    with np.errstate(divide="ignore"):  # q^r = 0 at t = 1
        q_r = np.exp(r * (np.log1p(-tl) - np.log1p(tl)))
    out[large] = np.expm1(np.log1p(tl) + (2.0 - tau) * (np.log1p(q_r) - np.log(2.0)))
    return out


def _binary_logistic(t: np.ndarray) -> np.ndarray:
    """``((1+t)log(1+t) + (1-t)log(1-t))/2``; the series ``sum_k t^{2k} / (2k(2k-1))`` near 0,
    where the two terms cancel."""
    out = np.empty_like(t)
    small = t < _SERIES_T
    k = np.arange(1, _SERIES_TERMS + 1)
    out[small] = (t[small, None] ** (2 * k)[None, :] / (2 * k * (2 * k - 1))[None, :]).sum(axis=1)
    tl = t[~small]
    out[~small] = 0.5 * ((1 + tl) * np.log1p(tl) + special.xlogy(1 - tl, 1 - tl))
    return out


def _transform(t: np.ndarray, tau: float, n: int) -> np.ndarray:
    flat = np.atleast_1d(t).ravel()
    if tau == 1.0:
        out = _binary_logistic(flat)
    elif tau < 1.0:
        out = -(2.0 ** (1.0 - tau) / (1.0 - tau)) * _a_minus_one(flat, tau)
    elif tau < 2.0:
        out = _a_minus_one(flat, tau) / ((tau - 1.0) * n ** (tau - 1.0))
    else:
        out = flat / ((tau - 1.0) * n ** (tau - 1.0))
    return out.reshape(np.shape(t))


def consistency_transform(t, *, tau, n_classes):
    r"""The bound function :math:`\mathcal T_{\tau,n}(t)` (see the module docstring), float64.

    :math:`\mathcal T_{\tau,n}(\Delta C_{0-1}) \le \Delta C_\tau` pointwise, for every conditional
    distribution and score vector. Increasing and convex on ``[0, 1]``; evaluated with a series near
    ``t = 0`` so that it keeps full relative precision down to ``t = 1e-8``.

    Args:
        t: zero-one conditional regret(s) in ``[0, 1]`` (any shape).
        tau: comp-sum parameter, ``tau >= 0``.
        n_classes: number of classes ``n >= 2`` (only ``tau > 1`` depends on it).

    Returns:
        ``T(t)`` with the shape of ``t``.

    Examples:
        >>> round(float(consistency_transform(0.5, tau=1.0, n_classes=3)), 9)
        0.130812036

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Theorem 3.1.
    """
    tau, n = _check_tau_n(tau, n_classes)
    return _transform(_check_t(t), tau, n)


def transform_at_one(*, tau, n_classes) -> float:
    r""":math:`\mathcal T_{\tau,n}(1)`: beyond it the bound saturates at :math:`\Gamma = 1`.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Theorem 3.1.
    """
    tau, n = _check_tau_n(tau, n_classes)
    return float(_transform(np.array(1.0), tau, n))


def consistency_bound(eps, *, tau, n_classes):
    r"""The H-consistency bound :math:`\Gamma_{\tau,n}(\epsilon) = \mathcal T_{\tau,n}^{-1}(\epsilon)`, capped at 1.

    Closed forms :math:`\Gamma_0(\epsilon) = \sqrt{2\epsilon - \epsilon^2}` and
    :math:`\Gamma_{\tau,n}(\epsilon) = (\tau-1)n^{\tau-1}\epsilon` for ``tau >= 2``; otherwise a
    vectorised bisection on the stable :math:`\mathcal T` (absolute error below ``1e-15``).

    Args:
        eps: surrogate regret(s) ``>= 0``, e.g. ``R_tau(h) - R*_tau(H) + M_tau(H)``.
        tau: comp-sum parameter, ``tau >= 0``.
        n_classes: number of classes ``n >= 2``.

    Returns:
        An upper bound on the zero-one regret (plus its minimizability gap), in ``[0, 1]``.

    Examples:
        >>> round(float(consistency_bound(0.1, tau=0.0, n_classes=5)), 12)
        0.435889894354

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Theorem 3.1.
    """
    tau, n = _check_tau_n(tau, n_classes)
    eps = np.asarray(eps, dtype=np.float64)
    if np.any(~(eps >= 0)):
        raise ValueError("eps must be >= 0 and not NaN (a surrogate regret)")
    top = float(_transform(np.array(1.0), tau, n))
    flat = np.minimum(eps.ravel(), top)
    if tau == 0.0:
        out = np.sqrt(np.maximum(2.0 * flat - flat * flat, 0.0))
    elif tau >= 2.0:
        out = flat * (tau - 1.0) * n ** (tau - 1.0)
    else:
        lo = np.zeros_like(flat)
        hi = np.ones_like(flat)
        for _ in range(64):
            mid = 0.5 * (lo + hi)
            below = _transform(mid, tau, n) <= flat
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        out = 0.5 * (lo + hi)
    out = np.where(eps.ravel() >= top, 1.0, np.minimum(out, 1.0))
    return out.reshape(eps.shape)


def small_t_constant(*, tau, n_classes) -> float:
    r"""The limit :math:`\lim_{t\to0}\mathcal T_{\tau,n}(t)/t^2` for ``tau < 2``.

    :math:`1/(2^\tau(2-\tau))` for ``tau <= 1`` and :math:`1/(2(2-\tau)n^{\tau-1})` for ``1 < tau < 2``.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), the square-root corollary of Theorem 3.1.
    """
    tau, n = _check_tau_n(tau, n_classes)
    if tau >= 2.0:
        raise ValueError("tau must be < 2: for tau >= 2 the transform is linear near 0")
    if tau <= 1.0:
        return 1.0 / (2.0**tau * (2.0 - tau))
    return 1.0 / (2.0 * (2.0 - tau) * n ** (tau - 1.0))


def sqrt_bound_constant(*, tau, n_classes) -> float:
    r"""The constant :math:`c` of the global bound :math:`\Gamma_{\tau,n}(\epsilon) \le \sqrt{c\,\epsilon}`.

    :math:`c = 2^\tau(2-\tau)` for ``tau in [0, 1]`` and :math:`c = 2n^{\tau-1}` for ``tau in (1, 2)``.
    For ``tau in (1, 2)`` the small-``t`` constant :math:`2(2-\tau)n^{\tau-1}` is *not* a global bound
    above ``tau ~ 1.37`` (the supremum of :math:`t^2/\mathcal T` moves to ``t = 1``).

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), the square-root corollary of Theorem 3.1.
    """
    tau, n = _check_tau_n(tau, n_classes)
    if tau >= 2.0:
        raise ValueError("tau must be < 2: for tau >= 2 the bound is linear, not a square root")
    if tau <= 1.0:
        return 2.0**tau * (2.0 - tau)
    return 2.0 * n ** (tau - 1.0)
