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

Concrete inputs are validated and evaluated in float64 NumPy. Every function here also works under
``jit``, ``vmap`` and ``grad`` (in ``t``/``eps`` and ``tau``): traced inputs run the same formulas in
``jax.numpy``, in the dtype of the inputs (float64 inside ``jax.enable_x64()``, else float32), and an
invalid traced input gives NaN, never a finite wrong number (docs/glossary.md, "Input policy"). The
numerics (series near ``t = 0``, an explicit ``r - 1`` form, a log form near ``tau = 2``) are derived in
docs/compsum.md#numerics.

References:
    Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Theorem 3.1 (H-consistency bounds of comp-sum
    losses) and its square-root corollary; Mao, Mohri, Zhong, NeurIPS 2023, the comp-sum
    characterization.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy import special as jspecial

from theory._compat import keyword_only
from theory._validation import check_array, check_int, check_real, is_traced, nan_unless
from theory.compsum import _kernels as K
from theory.logspace import log1p

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
    """A concrete zero-one regret ``t`` in ``[0, 1]`` (NaN raises)."""
    return check_array("t", t, low=0.0, high=1.0)


#: ``n_classes`` is the deprecated name of ``num_classes`` (it keeps working and warns).
_renamed = keyword_only(renamed={"n_classes": "num_classes"})


def _params(tau, n):
    """``(tau, n)``, each checked when concrete."""
    if is_traced(tau):
        if jnp.ndim(tau) != 0:
            raise TypeError(f"tau must be a scalar, got shape {jnp.shape(tau)}")
    else:
        tau = check_real("tau", tau, low=0.0)
    if not is_traced(n):
        n = check_int("num_classes", n, low=2)
    return tau, n


def _valid(tau, n):
    """The traced validity of ``(tau, n)`` (``nan_unless`` turns an invalid one into NaN)."""
    return (tau >= 0) & (n >= 2)


def _half_sum_minus_one(t, r, rm1, xp=np):
    """``m(t) = ((1+t)^r + (1-t)^r)/2 - 1`` by its even binomial series ``sum_k binom(r, 2k) t^{2k}``
    (used where ``t`` and ``r t`` are small, where the direct formula loses every digit). ``rm1`` is
    ``r - 1`` computed without cancellation, so ``m`` keeps its relative precision as ``tau -> 1``.

    NumPy accumulates the terms one by one; ``jax.numpy`` evaluates the same sum nested,
    ``c_1 t^2 (1 + c_2 t^2 (1 + ...))`` with ``c_k`` the term ratios, in a ``lax.fori_loop`` (one small loop
    body to compile and to differentiate, where a ``cumprod`` or an unrolled sum gives a large graph, and
    its reverse-mode derivative a larger one), which rounds differently in the last bits only."""
    t2 = t * t
    if xp is not np:
        def nest(i, total):  # k = K, ..., 1: total <- ratio_k t^2 (1 + total)
            k = (_SERIES_TERMS - i).astype(t2.dtype)
            return (rm1 - (2 * k - 3)) * (rm1 - (2 * k - 2)) / ((2 * k - 1) * 2 * k) * t2 * (1.0 + total)

        return lax.fori_loop(0, _SERIES_TERMS, nest, jnp.zeros_like(t2))
    total = np.zeros_like(t)
    term = np.ones_like(t)
    for k in range(1, _SERIES_TERMS + 1):  # term_k = binom(r, 2k) t^{2k}: ratio (r-2k+2)(r-2k+1)/((2k-1)2k) t^2
        term = term * (rm1 - (2 * k - 3)) * (rm1 - (2 * k - 2)) / ((2 * k - 1) * 2 * k) * t2
        total += term
    return total


def _a_minus_one(t, tau, xp=np):
    """``A_tau(t) - 1`` for ``tau < 2`` with full relative precision for every ``t`` and ``tau``.

    Three regimes (``r = 1/(2-tau)``): the binomial series where ``t`` and ``r t`` are small; the
    form ``m = ((1+t) expm1((r-1) log(1+t)) + (1-t) expm1((r-1) log(1-t)))/2``, which keeps the
    factor ``r - 1`` explicit (no cancellation as ``tau -> 1``); and, where ``r t`` is large
    (``tau -> 2``), ``log A = log(1+t) + (2-tau) log((1 + q^r)/2)`` with ``q = (1-t)/(1+t)``, which
    cannot overflow (docs/compsum.md#numerics).
    """
    r = 1.0 / (2.0 - tau)
    rm1 = (tau - 1.0) / (2.0 - tau)
    large = r * t >= 5.0
    series = (t < _SERIES_T) & ~large
    middle = ~series & ~large

    def from_m(m):
        return xp.expm1((2.0 - tau) * xp.log1p(m))

    def below_one(x):
        """``x`` where ``x < 1``, 1/2 at ``x = 1`` (where ``log(1 - x)`` is infinite)."""
        return x < 1.0, xp.where(x < 1.0, x, 0.5)

    def f_series(x):
        return from_m(_half_sum_minus_one(x, r, rm1, xp))

    def f_middle(x):
        inside, xs = below_one(x)
        low = xp.where(inside, (1 - xs) * xp.expm1(rm1 * xp.log1p(-xs)), 0.0)  # (1-t)^r - (1-t) -> 0 at t = 1
        return from_m(0.5 * ((1 + x) * xp.expm1(rm1 * xp.log1p(x)) + low))

    def f_large(x):
        inside, xs = below_one(x)
        q_r = xp.where(inside, xp.exp(r * (xp.log1p(-xs) - xp.log1p(xs))), 0.0)  # q^r = 0 at t = 1
        return xp.expm1(xp.log1p(x) + (2.0 - tau) * (xp.log1p(q_r) - K.LOG2))

    return K.piecewise(xp, t, [(series, f_series, 0.1), (middle, f_middle, 0.5), (large, f_large, 1.0)])


def _binary_logistic(t, xp=np):
    """``((1+t)log(1+t) + (1-t)log(1-t))/2``; the series ``sum_k t^{2k} / (2k(2k-1))`` near 0,
    where the two terms cancel."""
    k = np.arange(1, _SERIES_TERMS + 1)
    if xp is np:
        from scipy.special import xlogy
    else:
        xlogy = jspecial.xlogy

    def f_small(x):
        return (x[..., None] ** (2 * k) / (2 * k * (2 * k - 1))).sum(axis=-1)

    def f_large(x):
        return 0.5 * ((1 + x) * xp.log1p(x) + xlogy(1 - x, 1 - x))

    small = t < _SERIES_T
    return K.piecewise(xp, t, [(small, f_small, 0.1), (~small, f_large, 0.5)])


def _transform(t, tau, n, xp=np):
    """``T_{tau,n}(t)`` without validation, for ``t`` of any shape (``xp``: see :mod:`._kernels`)."""
    flat = xp.ravel(xp.atleast_1d(t))
    if xp is np:
        if tau == 1.0:
            out = _binary_logistic(flat)
        elif tau < 1.0:
            out = -(2.0 ** (1.0 - tau) / (1.0 - tau)) * _a_minus_one(flat, tau)
        elif tau < 2.0:
            out = _a_minus_one(flat, tau) / ((tau - 1.0) * n ** (tau - 1.0))
        else:
            out = flat / ((tau - 1.0) * n ** (tau - 1.0))
        return out.reshape(np.shape(t))
    # Traced: the branches tau < 1 and 1 < tau < 2 share one evaluation of A - 1 (a smaller graph to compile).
    power = (tau < 2.0) & (tau != 1.0)
    tp = jnp.where(power, tau, 0.5)
    coef = jnp.where(tp < 1.0, -(2.0 ** (1.0 - tp) / (1.0 - tp)), 1.0 / ((tp - 1.0) * n ** (tp - 1.0)))
    out_power = coef * _a_minus_one(flat, tp, jnp)
    th = jnp.where(tau >= 2.0, tau, 3.0)
    out_linear = flat / ((th - 1.0) * n ** (th - 1.0))
    # + (tau - 1) dT/dtau at tau = 1: zero there, it gives the right derivative in tau
    # (docs/compsum.md#derivative-in-tau-at-the-logistic-loss)
    logistic = _binary_logistic(flat, jnp)
    inside = flat < 1.0
    x = jnp.where(inside, flat, 0.5)
    e2 = 0.5 * ((1 + flat) * log1p(flat) ** 2 + jnp.where(inside, (1 - x) * log1p(-x) ** 2, 0.0))
    t1 = jnp.where(tau == 1.0, tau, 1.0)
    out_logistic = logistic + (t1 - 1.0) * (0.5 * e2 - jnp.log(n) * logistic)
    out = jnp.where(tau == 1.0, out_logistic, jnp.where(power, out_power, out_linear))
    return out.reshape(jnp.shape(t))


def _float_dtype(*args):
    return jnp.result_type(*args, float)


@_renamed
def consistency_transform(t, *, tau, num_classes):
    r"""The bound function :math:`\mathcal T_{\tau,n}(t)` (see the module docstring).

    :math:`\mathcal T_{\tau,n}(\Delta C_{0-1}) \le \Delta C_\tau` pointwise, for every conditional
    distribution and score vector. Increasing and convex on ``[0, 1]``; evaluated with a series near
    ``t = 0`` so that it keeps full relative precision down to ``t = 1e-8`` (docs/compsum.md#numerics).
    Works under ``jit``/``vmap``/``grad`` in ``t`` and ``tau``; an invalid traced input gives NaN. In
    ``tau``, ``T`` has a kink at ``tau = 1`` for ``n > 2`` (the factor ``n^{tau-1}`` starts there) and at
    ``tau = 2``; ``grad`` returns the right derivative at both.

    Args:
        t: zero-one conditional regret(s) in ``[0, 1]`` (any shape; NaN raises).
        tau: comp-sum parameter, ``tau >= 0`` (a scalar).
        num_classes: number of classes ``n >= 2`` (only ``tau > 1`` depends on it); ``n_classes`` is its
            deprecated name.

    Returns:
        ``T(t)`` with the shape of ``t`` (float64 NumPy for concrete inputs).

    Examples:
        >>> round(float(consistency_transform(0.5, tau=1.0, num_classes=3)), 9)
        0.130812036

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Theorem 3.1.
    """
    tau, n = _params(tau, num_classes)
    if K.namespace(t, tau, n) is np:
        return _transform(_check_t(t), tau, n)
    return _transform_traced(t, tau, n)


@jax.jit
def _transform_traced(t, tau, n):
    """The traced :func:`consistency_transform`, one compiled computation: outside ``jit`` (an eager ``vmap`` or
    ``grad``) it runs as one program instead of op by op; inside ``jit`` it is inlined."""
    t = jnp.asarray(t, _float_dtype(t, tau))
    return nan_unless(_valid(tau, n) & (t >= 0) & (t <= 1), _transform(t, tau, n, jnp))


@_renamed
def transform_at_one(*, tau, num_classes):
    r""":math:`\mathcal T_{\tau,n}(1)`: beyond it the bound saturates at :math:`\Gamma = 1`.

    A float for concrete inputs; traceable (``jit``/``vmap``/``grad`` in ``tau``). ``n_classes`` is the
    deprecated name of ``num_classes``.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Theorem 3.1.
    """
    tau, n = _params(tau, num_classes)
    if K.namespace(tau, n) is np:
        return float(_transform(np.array(1.0), tau, n))
    return nan_unless(_valid(tau, n), _transform(jnp.ones((), _float_dtype(tau)), tau, n, jnp))


def _bisect(flat, tau, n, xp):
    """``T^{-1}(flat)`` on ``[0, 1]`` by 64 vectorised bisection steps (absolute error below ``1e-15``)."""
    def step(lo, hi):
        mid = 0.5 * (lo + hi)
        below = _transform(mid, tau, n, xp) <= flat
        return xp.where(below, mid, lo), xp.where(below, hi, mid)

    lo, hi = xp.zeros_like(flat), xp.ones_like(flat)
    if xp is np:
        for _ in range(64):
            lo, hi = step(lo, hi)
    else:
        lo, hi = lax.fori_loop(0, 64, lambda _, bounds: step(*bounds), (lo, hi))
    return 0.5 * (lo + hi)


@jax.custom_jvp
def _with_inverse_derivative(g, flat, tau, n):
    """The root ``g = T^{-1}(flat)`` (found without gradients) with the derivatives of the inverse attached.

    The value is ``g``; its tangent is that of the exact inverse, ``(d flat - dT/dtau d tau) / T'(g)``
    (``dGamma/deps = 1/T'``, ``dGamma/dtau = -(dT/dtau)/T'``), from one forward-mode derivative of ``T`` in
    ``t`` and one in ``tau`` at the root, so no second derivative of ``T`` is ever formed (or compiled). At
    ``eps = 0`` (``T'(0) = 0`` for ``tau < 2``, an infinite slope of Gamma) the derivative is reported as 0.
    """
    return g


@_with_inverse_derivative.defjvp
def _inverse_derivative_jvp(primals, tangents):
    g, flat, tau, n = primals
    _, d_flat, d_tau, _ = tangents
    slope = jax.jvp(lambda x: _transform(x, tau, n, jnp), (g,), (jnp.ones_like(g),))[1]
    d_transform = jax.jvp(lambda a: _transform(g, a, n, jnp), (tau,), (jnp.ones_like(tau),))[1]
    ok = slope > 0
    return g, jnp.where(ok, (d_flat - d_transform * d_tau) / jnp.where(ok, slope, 1.0), 0.0)


@_renamed
def consistency_bound(eps, *, tau, num_classes):
    r"""The H-consistency bound :math:`\Gamma_{\tau,n}(\epsilon) = \mathcal T_{\tau,n}^{-1}(\epsilon)`, capped at 1.

    Closed forms :math:`\Gamma_0(\epsilon) = \sqrt{2\epsilon - \epsilon^2}` and
    :math:`\Gamma_{\tau,n}(\epsilon) = (\tau-1)n^{\tau-1}\epsilon` for ``tau >= 2``; otherwise a
    vectorised bisection on the stable :math:`\mathcal T` (absolute error below ``1e-15``).

    Works under ``jit``/``vmap``/``grad``: traced inputs run the same closed forms or the bisection (as a
    ``lax.fori_loop``) and get the derivatives of the inverse function,
    :math:`\Gamma' = 1/\mathcal T'(\Gamma)` in ``eps`` and :math:`-\partial_\tau\mathcal T/\mathcal T'` in ``tau``
    (the slope at ``eps = 0``, infinite for ``tau < 2``, is reported as 0). An invalid traced input gives NaN.

    Args:
        eps: surrogate regret(s) ``>= 0`` (``inf`` gives 1; NaN raises), e.g. ``R_tau(h) - R*_tau(H) + M_tau(H)``.
        tau: comp-sum parameter, ``tau >= 0``.
        num_classes: number of classes ``n >= 2``; ``n_classes`` is its deprecated name.

    Returns:
        An upper bound on the zero-one regret (plus its minimizability gap), in ``[0, 1]``, with the shape
        of ``eps``.

    Examples:
        >>> round(float(consistency_bound(0.1, tau=0.0, num_classes=5)), 12)
        0.435889894354

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Theorem 3.1.
    """
    tau, n = _params(tau, num_classes)
    if K.namespace(eps, tau, n) is jnp:
        return _bound_traced(eps, tau, n)
    eps = np.asarray(eps)
    if eps.dtype == bool or not np.issubdtype(eps.dtype, np.number) or np.any(~(eps.astype(np.float64) >= 0)):
        raise ValueError("eps must be >= 0 and not NaN (a surrogate regret)")
    eps = eps.astype(np.float64)
    top = float(_transform(np.array(1.0), tau, n))
    flat = np.minimum(eps.ravel(), top)
    if tau == 0.0:
        out = np.sqrt(np.maximum(2.0 * flat - flat * flat, 0.0))
    elif tau >= 2.0:
        out = flat * (tau - 1.0) * n ** (tau - 1.0)
    else:
        out = _bisect(flat, tau, n, np)
    out = np.where(eps.ravel() >= top, 1.0, np.minimum(out, 1.0))
    return out.reshape(eps.shape)


@jax.jit
def _bound_traced(eps, tau, n):
    """The traced :func:`consistency_bound`, one compiled computation (see :func:`_transform_traced`)."""
    eps = jnp.asarray(eps, _float_dtype(eps, tau))
    # T(1) only caps eps: where it binds the result is the constant 1, so it carries no derivative (and
    # none of T is differentiated in reverse mode here).
    top = lax.stop_gradient(_transform(jnp.ones((), eps.dtype), tau, n, jnp))
    flat = jnp.minimum(eps.ravel(), top)
    fixed = lax.stop_gradient(flat)
    root = K.tau_cases(jnp, lax.stop_gradient(tau), [
        (lambda a: a == 0.0, 0.0, lambda a: jnp.sqrt(jnp.maximum(2.0 * fixed - fixed * fixed, 0.0))),
        (lambda a: a >= 2.0, 3.0, lambda a: fixed * (a - 1.0) * n ** (a - 1.0)),
        (lambda a: a < 2.0, 0.5, lambda a: _bisect(fixed, a, n, jnp)),
    ])
    out = _with_inverse_derivative(root, flat, tau, n)
    out = jnp.where(eps.ravel() >= top, 1.0, jnp.minimum(out, 1.0))
    return nan_unless(_valid(tau, n) & (eps >= 0), out.reshape(eps.shape))


def _sqrt_params(owner, tau, num_classes):
    tau, n = _params(tau, num_classes)
    if not is_traced(tau) and tau >= 2.0:
        raise ValueError(f"tau must be < 2 for {owner}: for tau >= 2 the transform is linear near 0, got {tau}")
    return tau, n


def _below_two(xp, tau, n, low, high):
    """``low(tau)`` for ``tau <= 1``, ``high(tau)`` for ``1 < tau < 2`` (NaN for an invalid traced input)."""
    out = K.tau_cases(xp, tau, [(lambda a: a <= 1.0, 0.5, low), (lambda a: a > 1.0 if xp is not np else True, 1.5,
                                                                  high)])
    return float(out) if xp is np else nan_unless(_valid(tau, n) & (tau < 2.0), out)


@_renamed
def small_t_constant(*, tau, num_classes):
    r"""The limit :math:`\lim_{t\to0}\mathcal T_{\tau,n}(t)/t^2` for ``tau < 2``.

    :math:`1/(2^\tau(2-\tau))` for ``tau <= 1`` and :math:`1/(2(2-\tau)n^{\tau-1})` for ``1 < tau < 2``.
    A float for concrete inputs; traceable (a traced ``tau >= 2`` gives NaN). ``n_classes`` is the
    deprecated name of ``num_classes``.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), the square-root corollary of Theorem 3.1.
    """
    tau, n = _sqrt_params("small_t_constant", tau, num_classes)
    return _below_two(K.namespace(tau, n), tau, n, lambda a: 1.0 / (2.0**a * (2.0 - a)),
                      lambda a: 1.0 / (2.0 * (2.0 - a) * n ** (a - 1.0)))


@_renamed
def sqrt_bound_constant(*, tau, num_classes):
    r"""The constant :math:`c` of the global bound :math:`\Gamma_{\tau,n}(\epsilon) \le \sqrt{c\,\epsilon}`.

    :math:`c = 2^\tau(2-\tau)` for ``tau in [0, 1]`` and :math:`c = 2n^{\tau-1}` for ``tau in (1, 2)``.
    For ``tau in (1, 2)`` the small-``t`` constant :math:`2(2-\tau)n^{\tau-1}` is *not* a global bound
    above ``tau ~ 1.37`` (the supremum of :math:`t^2/\mathcal T` moves to ``t = 1``). A float for concrete
    inputs; traceable (a traced ``tau >= 2`` gives NaN). ``n_classes`` is the deprecated name of
    ``num_classes``.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), the square-root corollary of Theorem 3.1.
    """
    tau, n = _sqrt_params("sqrt_bound_constant", tau, num_classes)
    return _below_two(K.namespace(tau, n), tau, n, lambda a: 2.0**a * (2.0 - a), lambda a: 2.0 * n ** (a - 1.0))
