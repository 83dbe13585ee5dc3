r"""Proportional-regime bias, variance and risk of the interpolating estimator.

Regime: :math:`n, d \to \infty` with :math:`\gamma = d/n \in (0, 1)`, bag size :math:`k` fixed,
:math:`\|\theta_0\|^2 \to r^2` (``signal``), noise variance :math:`\sigma^2` (``noise``). With
:math:`p = 1/k`, :math:`q = 1 - p`, the key quantity :math:`\tau` is the positive root of

.. math::
    \rho(1-\gamma)\tau^2 + (p + q\rho - \gamma(1+\rho))\tau - \gamma = 0
    \iff \tau\Big[\frac{p}{1+\tau} + \frac{q\rho}{1+\rho\tau}\Big] = \gamma,

and with :math:`c_1 = p\tau/((1+\tau)\gamma)`, :math:`s_2 = p/(1+\tau)^2 + q\rho/(1+\rho\tau)^2`:

.. math::
    \mathrm{Bias}^2 = r^2\Big[(1-c_1)^2 + \frac{\tau}{s_2}\Big(\frac{p(1-c_1)^2}{(1+\tau)^2}
    + \frac{q\rho^2c_1^2}{(1+\rho\tau)^2}\Big)\Big],\qquad
    \mathrm{Var} = \frac{\sigma^2 p\tau}{s_2(1+\tau)^2}.

Bias and variance are the conditional-on-X ("fixed design") split; their sum, the excess risk
:math:`\|\hat\theta_\rho - \theta_0\|^2`, is convention free.

References:
    Javanmard, Chen, Mirrokni, Badanidiyuru, Fu, *Learning from Aggregate Responses: Instance Level
    versus Bag Level Loss Functions*, ICLR 2024 (arXiv 2401.11081), Theorem 2.5 (as recalled; the
    closed form here is derived in the project spec, part B3.2, and checked by Monte Carlo).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import optimize

from theory._validation import check_int, check_real

__all__ = [
    "AsymptoticRisk",
    "fixed_point_tau",
    "asymptotic_risk",
    "risk_slope_at_zero",
    "finite_sample_variance",
    "optimal_rho",
]


@dataclasses.dataclass(frozen=True)
class AsymptoticRisk:
    """Limits of the interpolating estimator's bias and variance (floats, or arrays when broadcast).

    Attributes:
        tau: the fixed point :math:`\\tau`.
        c1: the shrinkage factor, :math:`E[\\hat\\theta_\\rho] \\to c_1\\theta_0`.
        bias2: the conditional squared bias :math:`\\|E[\\hat\\theta|X]-\\theta_0\\|^2`.
        variance: the conditional variance :math:`\\mathrm{tr\\,Cov}(\\hat\\theta|X)`.
        risk: ``bias2 + variance`` (the excess prediction risk :math:`\\|\\hat\\theta-\\theta_0\\|^2`).
    """

    tau: float
    c1: float
    bias2: float
    variance: float
    risk: float


def _out(x):
    x = np.asarray(x, dtype=np.float64)
    return float(x) if x.ndim == 0 else x


def _check_array(name, value, *, low=None, high=None, low_open=False, high_open=False, integer=False):
    """Elementwise range check of a scalar or array argument; returns a float64 (or int) array."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got bool")
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    if integer:
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise TypeError(f"{name} must be an integer (or integer array), got {value!r}")
        arr = arr.astype(np.int64)
        if arr.ndim == 0:
            check_int(name, int(arr), low=None if low is None else int(low), high=high)
        elif low is not None and np.any(arr < low):
            raise ValueError(f"{name} must be an integer >= {low}, got min {arr.min()}")
        return arr
    arr = arr.astype(np.float64)
    for v in np.unique(arr.ravel()) if arr.ndim else [arr]:
        check_real(name, v, low=low, high=high, low_open=low_open, high_open=high_open)
    return arr


def _check_common(gamma, bag_size, rho, allow_extrapolation):
    gamma = _check_array("gamma", gamma, low=0.0, high=1.0, low_open=True, high_open=True)
    k = _check_array("bag_size", bag_size, low=1, integer=True)
    rho = _check_array("rho", rho, low=0.0)
    if not allow_extrapolation and np.any(rho > 1.0):
        raise ValueError(f"rho must lie in [0, 1], got {rho.max()}; pass allow_extrapolation=True for rho > 1")
    p = 1.0 / k
    bad = (rho == 0.0) & (p <= gamma)
    if np.any(bad):
        raise ValueError("rho = 0 (bag-level loss) needs n/bag_size > d, i.e. 1/bag_size > gamma; got "
                         f"gamma={np.broadcast_to(gamma, bad.shape)[bad].ravel()[0]:g}, "
                         f"bag_size={np.broadcast_to(k, bad.shape)[bad].ravel()[0]}")
    return gamma, k, rho


def _tau(gamma, p, rho):
    """Stable positive root of the quadratic (spec B7): no cancellation for small rho or B > 0."""
    q = 1.0 - p
    b = p + q * rho - gamma * (1.0 + rho)
    disc = np.sqrt(b * b + 4.0 * rho * (1.0 - gamma) * gamma)
    with np.errstate(divide="ignore", invalid="ignore"):
        small = 2.0 * gamma / (b + disc)  # exact when b > 0 (includes rho = 0)
        large = (disc - b) / (2.0 * rho * (1.0 - gamma))  # exact when b <= 0 (then rho > 0)
    return np.where(b > 0, small, large)


def fixed_point_tau(gamma, bag_size, rho, *, allow_extrapolation=False):
    r"""The fixed point :math:`\tau`, the positive root of :math:`\rho(1-\gamma)\tau^2 + B\tau - \gamma = 0`.

    :math:`B = p + q\rho - \gamma(1+\rho)`; evaluated as :math:`2\gamma/(B+\sqrt{B^2+4\rho(1-\gamma)\gamma})`
    when :math:`B > 0` and :math:`(\sqrt{\cdot}-B)/(2\rho(1-\gamma))` otherwise. At :math:`\rho = 0`,
    :math:`\tau = \gamma/(p-\gamma)`; :math:`\tau = \lim \mathrm{tr}(M_n^{-1})` for the weighted Gram matrix
    :math:`M_n` (weight 1 on the m bag rows, :math:`\rho` on the n - m within-bag rows) normalised by n.

    Args:
        gamma: :math:`d/n \in (0, 1)` (scalar or array).
        bag_size: k >= 1 (integer, scalar or array).
        rho: interpolation weight in [0, 1] (or >= 0 with ``allow_extrapolation``).
        allow_extrapolation: accept rho > 1.

    Returns:
        :math:`\tau > 0` (a float, or an array of the broadcast shape).

    Example:
        >>> round(fixed_point_tau(0.2, 4, 0.0), 12)
        4.0

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Thm 2.5 (as recalled; spec B3.2 item 1).
    """
    gamma, k, rho = _check_common(gamma, bag_size, rho, allow_extrapolation)
    return _out(_tau(gamma, 1.0 / k, rho))


def asymptotic_risk(gamma, bag_size, rho, *, signal=1.0, noise=1.0, allow_extrapolation=False) -> AsymptoticRisk:
    r"""Limiting bias², variance and risk of the interpolating estimator :math:`\hat\theta_\rho`.

    See the module docstring for the formulas. Special cases: :math:`k = 1` gives OLS
    (bias 0, variance :math:`\sigma^2\gamma/(1-\gamma)`); :math:`\rho = 0` gives bias 0 and variance
    :math:`\sigma^2 k\gamma/(1-k\gamma)`; :math:`\rho = 1` gives :math:`c_1 = 1/k`, bias²
    :math:`r^2[(1-1/k)^2 + (1/k)(1-1/k)\gamma/(1-\gamma)]` and variance :math:`\sigma^2\gamma/(k(1-\gamma))`.

    Args:
        gamma: :math:`d/n \in (0, 1)`.
        bag_size: k >= 1; with rho = 0 it needs :math:`1/k > \gamma` (more bags than features).
        rho: interpolation weight in [0, 1]; > 1 only with ``allow_extrapolation=True``.
        signal: :math:`r^2 = \|\theta_0\|^2 \ge 0`.
        noise: :math:`\sigma^2 \ge 0`.
        allow_extrapolation: accept rho > 1 (the unconstrained optimum can exceed 1).

    Returns:
        An :class:`AsymptoticRisk` (``tau``, ``c1``, ``bias2``, ``variance``, ``risk``); arrays broadcast.

    Example:
        >>> r = asymptotic_risk(0.25, 3, 1.0)
        >>> round(r.bias2 * 27, 9), round(r.variance * 9, 9)
        (14.0, 1.0)

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Thm 2.5 (as recalled; spec B3.2, TV-B3).
    """
    gamma, k, rho = _check_common(gamma, bag_size, rho, allow_extrapolation)
    r2 = check_real("signal", signal, low=0.0)
    s2n = check_real("noise", noise, low=0.0)
    p = 1.0 / k
    q = 1.0 - p
    tau = _tau(gamma, p, rho)
    c1 = p * tau / ((1.0 + tau) * gamma)
    s2 = p / (1.0 + tau) ** 2 + q * rho / (1.0 + rho * tau) ** 2
    orth = (tau / s2) * (p * (1.0 - c1) ** 2 / (1.0 + tau) ** 2 + q * rho**2 * c1**2 / (1.0 + rho * tau) ** 2)
    bias2 = r2 * ((1.0 - c1) ** 2 + orth)
    var = s2n * p * tau / (s2 * (1.0 + tau) ** 2)
    return AsymptoticRisk(_out(tau), _out(c1), _out(bias2), _out(var), _out(bias2 + var))


def risk_slope_at_zero(gamma, bag_size, *, noise=1.0) -> float:
    r"""The derivative of the asymptotic risk in :math:`\rho` at the bag-level end :math:`\rho = 0`.

    .. math::
        \frac{d\,\mathrm{Risk}}{d\rho}\Big|_{\rho=0} = -\frac{2\sigma^2(1-p)p\gamma}{(p-\gamma)^3} < 0
        \quad (k \ge 2,\ \sigma^2 > 0),

    (bias² is :math:`O(\rho^2)`, so only the variance moves): the bag-level estimator is never
    risk-optimal when there is noise.

    Args:
        gamma: :math:`d/n \in (0, 1)` with :math:`\gamma < 1/k`.
        bag_size: k >= 1.
        noise: :math:`\sigma^2 \ge 0`.

    Returns:
        The slope (a float, or an array).

    Example:
        >>> round(risk_slope_at_zero(0.1, 2), 12)
        -0.78125

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 2 (as recalled; spec B3.3, TV-B4).
    """
    gamma, k, _ = _check_common(gamma, bag_size, 0.0, False)
    s2n = check_real("noise", noise, low=0.0)
    p = 1.0 / k
    return _out(-2.0 * s2n * (1.0 - p) * p * gamma / (p - gamma) ** 3)


def finite_sample_variance(n_samples, dim, bag_size, rho, *, noise=1.0) -> float:
    r"""Exact expected conditional variance :math:`E\,\mathrm{tr\,Cov}(\hat\theta_\rho|X)` at :math:`\rho \in \{0, 1\}`.

    For Gaussian :math:`x \sim N(0, I_d)` and m = n/k bags:

    * :math:`\rho = 0`: :math:`\sigma^2 d/(m-d-1)` (inverse-Wishart mean), needs :math:`m > d+1`;
    * :math:`\rho = 1`: :math:`\sigma^2 (1/k) d/(n-d-1)`, needs :math:`n > d+1`.

    Args:
        n_samples: n, a multiple of ``bag_size``.
        dim: d >= 1.
        bag_size: k >= 1.
        rho: 0 or 1.
        noise: :math:`\sigma^2 \ge 0`.

    Returns:
        The expected variance (float).

    Example:
        >>> round(finite_sample_variance(2000, 200, 8, 0.0), 4)
        4.0816

    References:
        Spec B3.3 (derived: inverse-Wishart mean and rotation invariance of :math:`X(X^TX)^{-2}X^T`).
    """
    n = check_int("n_samples", n_samples, low=1)
    d = check_int("dim", dim, low=1)
    k = check_int("bag_size", bag_size, low=1)
    rho = check_real("rho", rho, low=0.0, high=1.0)
    s2n = check_real("noise", noise, low=0.0)
    if n % k:
        raise ValueError(f"n_samples={n} must be a multiple of bag_size={k}")
    m = n // k
    if rho == 0.0:
        if m <= d + 1:
            raise ValueError(f"rho=0 needs n_bags = n/bag_size > dim + 1 (finite mean), got n_bags={m}, dim={d}")
        return s2n * d / (m - d - 1)
    if rho == 1.0:
        if n <= d + 1:
            raise ValueError(f"rho=1 needs n_samples > dim + 1, got n_samples={n}, dim={d}")
        return s2n * d / (k * (n - d - 1))
    raise ValueError(f"rho must be 0 or 1 (exact finite-sample forms exist only there), got {rho}")


def optimal_rho(gamma, bag_size, *, signal=1.0, noise=1.0, constrained=True) -> float:
    r"""The risk-minimising interpolation weight :math:`\rho^* = \arg\min_\rho \mathrm{Risk}(\gamma, k, \rho)`.

    Minimised over :math:`\rho \in [0, 1]` (``constrained=True``) or :math:`[0, 50]`: a log-spaced grid
    in :math:`\log\rho \in [-25, \log\rho_{\max}]`, refined by bounded Brent, compared with the ends.
    :math:`\rho = 0` is a candidate only when :math:`1/k > \gamma`. Depends on (signal, noise) only
    through the SNR :math:`r^2/\sigma^2`; :math:`k = 1` or zero noise give 0 (every rho is optimal
    for k = 1; bag level is unbiased).

    Args:
        gamma: :math:`d/n \in (0, 1)`.
        bag_size: k >= 1.
        signal: :math:`r^2 \ge 0`.
        noise: :math:`\sigma^2 \ge 0`.
        constrained: restrict to [0, 1] (the interpolation range); else allow up to 50.

    Returns:
        :math:`\rho^*` (float).

    Example:
        >>> round(optimal_rho(0.1, 4), 4)
        0.1345

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 2-3 (as recalled; spec B3.5).
    """
    gamma = check_real("gamma", gamma, low=0.0, high=1.0, low_open=True, high_open=True)
    k = check_int("bag_size", bag_size, low=1)
    r2 = check_real("signal", signal, low=0.0)
    s2n = check_real("noise", noise, low=0.0)
    p = 1.0 / k
    zero_ok = p > gamma
    if k == 1 or (s2n == 0.0 and zero_ok):
        return 0.0
    hi = 1.0 if constrained else 50.0

    def risk(log_rho):
        return float(asymptotic_risk(gamma, k, math.exp(log_rho), signal=r2, noise=s2n,
                                     allow_extrapolation=True).risk)

    grid = np.linspace(-25.0, math.log(hi), 121)
    vals = np.asarray(asymptotic_risk(gamma, k, np.exp(grid), signal=r2, noise=s2n, allow_extrapolation=True).risk)
    i = int(np.argmin(vals))
    lo_b, hi_b = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    best_x, best_v = grid[i], vals[i]
    if hi_b > lo_b:
        res = optimize.minimize_scalar(risk, bounds=(lo_b, hi_b), method="bounded", options={"xatol": 1e-10})
        if res.fun <= best_v:
            best_x, best_v = res.x, res.fun
    rho_star = math.exp(best_x)
    if zero_ok:
        r0 = float(asymptotic_risk(gamma, k, 0.0, signal=r2, noise=s2n).risk)
        if r0 <= best_v:
            return 0.0
    return rho_star
