r"""Proportional-regime bias, variance and risk of the interpolating estimator.

Regime: :math:`n, d \to \infty` with :math:`\gamma = d/n \in (0, 1)`, bag size :math:`k` fixed,
:math:`\|\theta_0\|^2 \to r^2` (``signal``), noise variance :math:`\sigma^2` (``noise_var``). With
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

Every function here works under ``jax.jit``, ``jax.vmap`` and ``jax.grad`` (float64 inside
``jax.enable_x64()``, or float32). Concrete inputs are checked eagerly and evaluated in float64 (NumPy,
or JAX inside ``jax.enable_x64()`` for :func:`optimal_rho`), returning floats or NumPy arrays; traced
inputs are evaluated in their own dtype and give NaN where invalid (docs/glossary.md#input-policy).
Hyperparameters are keyword-only (``asymptotic_risk(gamma, *, bag_size, rho, ...)``); the old positional
calls and the old spellings (``noise``, ``n_samples``) still work with a ``DeprecationWarning``.

References:
    Javanmard, Chen, Mirrokni, Badanidiyuru, Fu, *Learning from Aggregate Responses: Instance Level
    versus Bag Level Loss Functions*, ICLR 2024 (arXiv 2401.11081), Theorem 2.5 (as recalled; the
    closed form used here is derived by the library, docs/aggregate.md#asymptotic-risk, and checked
    symbolically in proofs/aggregate.py and by Monte Carlo).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import is_traced, nan_unless
from theory.aggregate._checks import integer, old_spellings, real, rho_valid

__all__ = [
    "AsymptoticRisk",
    "fixed_point_tau",
    "asymptotic_risk",
    "risk_slope_at_zero",
    "finite_sample_variance",
    "optimal_rho",
]


@functools.partial(jax.tree_util.register_dataclass,
                   data_fields=["tau", "c1", "bias2", "variance", "risk"], meta_fields=[])
@dataclasses.dataclass(frozen=True)
class AsymptoticRisk:
    """Limits of the interpolating estimator's bias and variance.

    Floats, NumPy arrays when the inputs broadcast, JAX arrays under tracing (it is a JAX pytree, so
    ``jax.vmap`` and ``jax.jit`` can return it).

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


def _any_traced(*values) -> bool:
    return any(is_traced(v) for v in values)


def _traceable(x):
    """A checked concrete value for the traced path: 0-d as a Python scalar (weakly typed), else as is."""
    if is_traced(x) or not isinstance(x, np.ndarray | np.generic):
        return x
    return x.item() if x.ndim == 0 else x


def _check_common(gamma, bag_size, rho, allow_extrapolation):
    """(gamma, k, rho): concrete values checked eagerly (NaN, ranges, the rho = 0 condition), tracers as is."""
    gamma = real("gamma", gamma, low=0.0, high=1.0, low_open=True, high_open=True)
    k = integer("bag_size", bag_size)
    rho = real("rho", rho, low=0.0)
    if not is_traced(rho) and not allow_extrapolation and np.any(rho > 1.0):
        raise ValueError(f"rho must lie in [0, 1], got {rho.max()}; pass allow_extrapolation=True for rho > 1")
    if not _any_traced(gamma, k, rho):
        bad = (rho == 0.0) & (1.0 / k <= gamma)
        if np.any(bad):
            raise ValueError("rho = 0 (bag-level loss) needs n/bag_size > d, i.e. 1/bag_size > gamma; got "
                             f"gamma={np.broadcast_to(gamma, bad.shape)[bad].ravel()[0]:g}, "
                             f"bag_size={np.broadcast_to(k, bad.shape)[bad].ravel()[0]}")
    return gamma, k, rho


def _valid(gamma, k, rho, allow_extrapolation, *nonnegative):
    """Elementwise validity of traced inputs (the eager checks of :func:`_check_common`, as a mask)."""
    ok = ((gamma > 0.0) & (gamma < 1.0) & (k >= 1) & (k == jnp.round(k)) & rho_valid(jnp, rho, allow_extrapolation)
          & ((rho > 0.0) | (1.0 / k > gamma)))
    for v in nonnegative:
        ok = ok & jnp.isfinite(v) & (v >= 0.0)
    return ok


def _tau(xp, gamma, p, rho):
    """Stable positive root of the quadratic: no cancellation for small rho or B > 0, and no 0/0 in the branch
    that is not taken (so gradients stay finite)."""
    q = 1.0 - p
    b = p + q * rho - gamma * (1.0 + rho)
    disc = xp.sqrt(b * b + 4.0 * rho * (1.0 - gamma) * gamma)
    pos = b > 0
    small = 2.0 * gamma / xp.where(pos, b + disc, 1.0)  # exact when b > 0 (includes rho = 0)
    large = (disc - b) / xp.where(pos, 1.0, 2.0 * rho * (1.0 - gamma))  # exact when b <= 0 (then rho > 0)
    return xp.where(pos, small, large)


def _risk_terms(xp, gamma, p, rho, r2, s2n):
    """(tau, c1, bias2, variance, risk) in the array module ``xp`` (NumPy or jax.numpy)."""
    q = 1.0 - p
    tau = _tau(xp, gamma, p, rho)
    c1 = p * tau / ((1.0 + tau) * gamma)
    s2 = p / (1.0 + tau) ** 2 + q * rho / (1.0 + rho * tau) ** 2
    orth = (tau / s2) * (p * (1.0 - c1) ** 2 / (1.0 + tau) ** 2 + q * rho**2 * c1**2 / (1.0 + rho * tau) ** 2)
    bias2 = r2 * ((1.0 - c1) ** 2 + orth)
    var = s2n * p * tau / (s2 * (1.0 + tau) ** 2)
    return tau, c1, bias2, var, bias2 + var


@old_spellings(positional=("bag_size", "rho"))
def fixed_point_tau(gamma, *, bag_size, rho, allow_extrapolation=False):
    r"""The fixed point :math:`\tau`, the positive root of :math:`\rho(1-\gamma)\tau^2 + B\tau - \gamma = 0`.

    :math:`B = p + q\rho - \gamma(1+\rho)`; evaluated as :math:`2\gamma/(B+\sqrt{B^2+4\rho(1-\gamma)\gamma})`
    when :math:`B > 0` and :math:`(\sqrt{\cdot}-B)/(2\rho(1-\gamma))` otherwise. At :math:`\rho = 0`,
    :math:`\tau = \gamma/(p-\gamma)`; :math:`\tau = \lim \mathrm{tr}(M_n^{-1})` for the weighted Gram matrix
    :math:`M_n` (weight 1 on the m bag rows, :math:`\rho` on the n - m within-bag rows) normalised by n.
    Works under ``jit``/``vmap``/``grad`` (NaN for invalid traced inputs).

    Args:
        gamma: :math:`d/n \in (0, 1)` (scalar or array).
        bag_size: k >= 1 (integer, scalar or array).
        rho: interpolation weight in [0, 1] (or >= 0 with ``allow_extrapolation``).
        allow_extrapolation: accept rho > 1.

    Returns:
        :math:`\tau > 0` (a float, or an array of the broadcast shape).

    Example:
        >>> round(fixed_point_tau(0.2, bag_size=4, rho=0.0), 12)
        4.0

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Thm 2.5 (as recalled); the quadratic and its stable
        root: docs/aggregate.md#asymptotic-risk.
    """
    gamma, k, rho = _check_common(gamma, bag_size, rho, allow_extrapolation)
    if not _any_traced(gamma, k, rho):
        return _out(_tau(np, gamma, 1.0 / k, rho))
    gamma, k, rho = map(_traceable, (gamma, k, rho))
    return nan_unless(_valid(gamma, k, rho, allow_extrapolation), _tau(jnp, gamma, 1.0 / k, rho))


@old_spellings(positional=("bag_size", "rho"), noise="noise_var")
def asymptotic_risk(gamma, *, bag_size, rho, signal=1.0, noise_var=1.0, allow_extrapolation=False) -> AsymptoticRisk:
    r"""Limiting bias², variance and risk of the interpolating estimator :math:`\hat\theta_\rho`.

    See the module docstring for the formulas. Special cases: :math:`k = 1` gives OLS
    (bias 0, variance :math:`\sigma^2\gamma/(1-\gamma)`); :math:`\rho = 0` gives bias 0 and variance
    :math:`\sigma^2 k\gamma/(1-k\gamma)`; :math:`\rho = 1` gives :math:`c_1 = 1/k`, bias²
    :math:`r^2[(1-1/k)^2 + (1/k)(1-1/k)\gamma/(1-\gamma)]` and variance :math:`\sigma^2\gamma/(k(1-\gamma))`.
    Works under ``jit``/``vmap``/``grad`` in every argument (NaN for invalid traced inputs).

    Args:
        gamma: :math:`d/n \in (0, 1)`.
        bag_size: k >= 1; with rho = 0 it needs :math:`1/k > \gamma` (more bags than features).
        rho: interpolation weight in [0, 1]; > 1 only with ``allow_extrapolation=True``.
        signal: :math:`r^2 = \|\theta_0\|^2 \ge 0`.
        noise_var: :math:`\sigma^2 \ge 0` (``noise`` is its deprecated spelling).
        allow_extrapolation: accept rho > 1 (the unconstrained optimum can exceed 1).

    Returns:
        An :class:`AsymptoticRisk` (``tau``, ``c1``, ``bias2``, ``variance``, ``risk``); arrays broadcast.

    Example:
        >>> r = asymptotic_risk(0.25, bag_size=3, rho=1.0)
        >>> round(r.bias2 * 27, 9), round(r.variance * 9, 9)
        (14.0, 1.0)

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Thm 2.5 (as recalled); derivation:
        docs/aggregate.md#asymptotic-risk.
    """
    gamma, k, rho = _check_common(gamma, bag_size, rho, allow_extrapolation)
    r2 = real("signal", signal, low=0.0)
    s2n = real("noise_var", noise_var, low=0.0)
    if not _any_traced(gamma, k, rho, r2, s2n):
        return AsymptoticRisk(*map(_out, _risk_terms(np, gamma, 1.0 / k, rho, r2, s2n)))
    gamma, k, rho, r2, s2n = map(_traceable, (gamma, k, rho, r2, s2n))
    valid = _valid(gamma, k, rho, allow_extrapolation, r2, s2n)
    return AsymptoticRisk(*(nan_unless(valid, t) for t in _risk_terms(jnp, gamma, 1.0 / k, rho, r2, s2n)))


@old_spellings(positional=("bag_size",), noise="noise_var")
def risk_slope_at_zero(gamma, *, bag_size, noise_var=1.0):
    r"""The derivative of the asymptotic risk in :math:`\rho` at the bag-level end :math:`\rho = 0`.

    .. math::
        \frac{d\,\mathrm{Risk}}{d\rho}\Big|_{\rho=0} = -\frac{2\sigma^2(1-p)p\gamma}{(p-\gamma)^3} < 0
        \quad (k \ge 2,\ \sigma^2 > 0),

    (bias² is :math:`O(\rho^2)`, so only the variance moves): the bag-level estimator is never
    risk-optimal when there is noise. Works under ``jit``/``vmap``/``grad``.

    Args:
        gamma: :math:`d/n \in (0, 1)` with :math:`\gamma < 1/k`.
        bag_size: k >= 1.
        noise_var: :math:`\sigma^2 \ge 0` (``noise`` is its deprecated spelling).

    Returns:
        The slope (a float, or an array).

    Example:
        >>> round(risk_slope_at_zero(0.1, bag_size=2), 12)
        -0.78125

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 2 (as recalled); derivation by implicit
        differentiation of the fixed point: docs/aggregate.md#slope-at-the-bag-level-end.
    """
    gamma, k, _ = _check_common(gamma, bag_size, 0.0, False)
    s2n = real("noise_var", noise_var, low=0.0)
    traced = _any_traced(gamma, k, s2n)
    if traced:
        gamma, k, s2n = map(_traceable, (gamma, k, s2n))
    p = 1.0 / k
    slope = -2.0 * s2n * (1.0 - p) * p * gamma / (p - gamma) ** 3
    return nan_unless(_valid(gamma, k, 0.0, False, s2n), slope) if traced else _out(slope)


@old_spellings(positional=("num_samples", "dim", "bag_size", "rho"), n_samples="num_samples", noise="noise_var")
def finite_sample_variance(*, num_samples, dim, bag_size, rho, noise_var=1.0):
    r"""Exact expected conditional variance :math:`E\,\mathrm{tr\,Cov}(\hat\theta_\rho|X)` at :math:`\rho \in \{0, 1\}`.

    For Gaussian :math:`x \sim N(0, I_d)` and m = n/k bags:

    * :math:`\rho = 0`: :math:`\sigma^2 d/(m-d-1)` (inverse-Wishart mean), needs :math:`m > d+1`;
    * :math:`\rho = 1`: :math:`\sigma^2 (1/k) d/(n-d-1)`, needs :math:`n > d+1`.

    ``rho`` selects the formula, so it must be concrete; the other arguments may be traced (``jit``/``vmap``
    over them, ``grad`` in ``noise_var``; NaN for invalid traced values).

    Args:
        num_samples: n, a multiple of ``bag_size`` (``n_samples`` is its deprecated spelling).
        dim: d >= 1.
        bag_size: k >= 1.
        rho: 0 or 1.
        noise_var: :math:`\sigma^2 \ge 0` (``noise`` is its deprecated spelling).

    Returns:
        The expected variance (float).

    Example:
        >>> round(finite_sample_variance(num_samples=2000, dim=200, bag_size=8, rho=0.0), 4)
        4.0816

    References:
        Derived by the library (inverse-Wishart mean and rotation invariance of :math:`X(X^TX)^{-2}X^T`):
        docs/aggregate.md#finite-sample-variance.
    """
    n = integer("num_samples", num_samples)
    d = integer("dim", dim)
    k = integer("bag_size", bag_size)
    if is_traced(rho):
        raise TypeError("finite_sample_variance: rho selects the formula and must be concrete (0 or 1), not traced")
    rho = real("rho", rho, low=0.0, high=1.0)
    s2n = real("noise_var", noise_var, low=0.0)
    if np.ndim(rho) or rho not in (0.0, 1.0):
        raise ValueError(f"rho must be 0 or 1 (exact finite-sample forms exist only there), got {rho}")
    if not _any_traced(n, d, k, s2n):
        n, d, k, s2n = int(n), int(d), int(k), float(s2n)
        if n % k:
            raise ValueError(f"num_samples={n} must be a multiple of bag_size={k}")
        m = n // k
        if rho == 0.0:
            if m <= d + 1:
                raise ValueError(f"rho=0 needs n_bags = n/bag_size > dim + 1 (finite mean), got n_bags={m}, dim={d}")
            return s2n * d / (m - d - 1)
        if n <= d + 1:
            raise ValueError(f"rho=1 needs num_samples > dim + 1, got num_samples={n}, dim={d}")
        return s2n * d / (k * (n - d - 1))
    n, d, k, s2n = map(_traceable, (n, d, k, s2n))
    m = n // k
    valid = (n >= 1) & (d >= 1) & (k >= 1) & (n % k == 0) & jnp.isfinite(s2n) & (s2n >= 0.0)
    if rho == 0.0:
        valid = valid & (m > d + 1)
        return nan_unless(valid, s2n * d / jnp.where(valid, m - d - 1, 1))
    valid = valid & (n > d + 1)
    return nan_unless(valid, s2n * d / jnp.where(valid, k * (n - d - 1), 1))


# ---------------------------------------------------------------------------------------------------------------------
# optimal rho: a log-spaced grid, golden-section refinement, and one Newton step (value and implicit gradient)

_GRID = 121
_GOLDEN_STEPS = 100
_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0


def _golden_section(f, a, b):
    """Minimise a unimodal ``f`` on [a, b] by golden-section search (fixed step count: jit/vmap friendly)."""
    c, d = b - _INV_PHI * (b - a), a + _INV_PHI * (b - a)

    def step(_, s):
        a, b, c, d, fc, fd = s
        left = fc < fd  # the minimum lies in [a, d]
        a, b = jnp.where(left, a, c), jnp.where(left, d, b)
        c, d = jnp.where(left, b - _INV_PHI * (b - a), d), jnp.where(left, c, a + _INV_PHI * (b - a))
        new = f(jnp.where(left, c, d))
        return a, b, c, d, jnp.where(left, new, fd), jnp.where(left, fc, new)

    fc, fd = f(jnp.stack([c, d]))
    a, b, c, d, fc, fd = jax.lax.fori_loop(0, _GOLDEN_STEPS, step, (a, b, c, d, fc, fd))
    return jnp.where(fc < fd, c, d), jnp.minimum(fc, fd)


def _optimal_rho_core(gamma, k, r2, s2n, *, constrained):
    """rho* of one (gamma, k, r2, s2n) (JAX scalars). The search itself carries no gradient; at an interior
    optimum a final Newton step on dRisk/dlog(rho) from the (stop-gradient) search result polishes the value
    (the flat minimum leaves the search ~sqrt(machine epsilon) off) and carries the implicit-function
    derivative -d_theta R' / R''."""
    p = 1.0 / k

    def risk(x):
        return _risk_terms(jnp, gamma, p, jnp.exp(x), r2, s2n)[4]

    dtype = jnp.result_type(gamma, r2, s2n, float)
    grid = jnp.linspace(-25.0, 0.0 if constrained else math.log(50.0), _GRID, dtype=dtype)
    vals = jax.lax.stop_gradient(risk(grid))
    i = jnp.argmin(vals)
    lo, hi = grid[jnp.maximum(i - 1, 0)], grid[jnp.minimum(i + 1, _GRID - 1)]
    x_gs, f_gs = jax.lax.stop_gradient(_golden_section(risk, lo, hi))
    x0 = jnp.where(f_gs <= vals[i], x_gs, grid[i])
    best = jnp.minimum(f_gs, vals[i])
    g, h = jax.jvp(jax.grad(risk), (x0,), (jnp.ones_like(x0),))  # R' and R'' in one forward-over-reverse pass
    h = jax.lax.stop_gradient(h)  # the tangent of h is multiplied by R'(x*) = 0: skip a third derivative
    newton = x0 - g / jnp.where(h > 0, h, 1.0)
    interior = (i > 0) & (i < _GRID - 1) & (h > 0) & (newton > lo) & (newton < hi)
    x = jnp.where(interior, newton, x0)
    zero_ok = p > gamma
    risk0 = _risk_terms(jnp, gamma, p, 0.0, r2, s2n)[4]  # meaningful only where zero_ok
    take_zero = (k == 1) | (zero_ok & ((s2n == 0.0) | (risk0 <= best)))
    return jnp.where(take_zero, jnp.zeros_like(x), jnp.exp(x))


@functools.partial(jax.jit, static_argnames=("constrained",))
def _optimal_rho(gamma, k, r2, s2n, *, constrained):
    return jnp.vectorize(functools.partial(_optimal_rho_core, constrained=constrained))(gamma, k, r2, s2n)


@old_spellings(positional=("bag_size",), noise="noise_var")
def optimal_rho(gamma, *, bag_size, signal=1.0, noise_var=1.0, constrained=True):
    r"""The risk-minimising interpolation weight :math:`\rho^* = \arg\min_\rho \mathrm{Risk}(\gamma, k, \rho)`.

    Minimised over :math:`\rho \in [0, 1]` (``constrained=True``) or :math:`[0, 50]`: a 121-point grid in
    :math:`\log\rho \in [-25, \log\rho_{\max}]`, refined by golden-section search between the neighbours
    of the best grid point and polished by one Newton step on :math:`\partial_{\log\rho}\mathrm{Risk}`,
    compared with :math:`\rho = 0` (a candidate only when :math:`1/k > \gamma`).
    Depends on (signal, noise_var) only through the SNR :math:`r^2/\sigma^2`; :math:`k = 1` or zero noise
    give 0 (every rho is optimal for k = 1; bag level is unbiased).

    Written in JAX: works under ``jit`` and ``vmap`` (NaN for invalid traced inputs) and ``grad``: at an
    interior optimum the derivative is the implicit-function one, :math:`-\partial_\theta R'/R''`; at a
    boundary optimum (0, or 1 when constrained) it is 0. Concrete inputs are evaluated in float64.

    Args:
        gamma: :math:`d/n \in (0, 1)` (scalar or array).
        bag_size: k >= 1.
        signal: :math:`r^2 \ge 0`.
        noise_var: :math:`\sigma^2 \ge 0` (``noise`` is its deprecated spelling).
        constrained: restrict to [0, 1] (the interpolation range); else allow up to 50.

    Returns:
        :math:`\rho^*` (a float, or an array of the broadcast shape).

    Example:
        >>> round(optimal_rho(0.1, bag_size=4), 4)
        0.1345

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 2-3 (as recalled; the paper states the optimum
        through its own fixed point): docs/aggregate.md#optimal-rho.
    """
    gamma = real("gamma", gamma, low=0.0, high=1.0, low_open=True, high_open=True)
    k = integer("bag_size", bag_size)
    r2 = real("signal", signal, low=0.0)
    s2n = real("noise_var", noise_var, low=0.0)
    constrained = bool(constrained)
    if not _any_traced(gamma, k, r2, s2n):
        with jax.enable_x64(True):
            return _out(_optimal_rho(gamma, k, r2, s2n, constrained=constrained))
    gamma, k, r2, s2n = map(_traceable, (gamma, k, r2, s2n))
    valid = (gamma > 0.0) & (gamma < 1.0) & (k >= 1) & (k == jnp.round(k))
    for v in (r2, s2n):
        valid = valid & jnp.isfinite(v) & (v >= 0.0)
    return nan_unless(valid, _optimal_rho(gamma, k, r2, s2n, constrained=constrained))
