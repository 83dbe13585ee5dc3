r"""Convexity and calibration (CC) of binary margin losses: conditional risks, their minimisers, the calibration
gap of the definition, and the derivative criterion of Bartlett, Jordan and McAuliffe.

At a conditional probability :math:`\eta = P(Y = 1 \mid x)` the conditional risk of a score :math:`\alpha` is

.. math::
    C_\eta(\alpha) = \eta\,\phi(\alpha) + (1 - \eta)\,\phi(-\alpha).

:math:`\phi` is classification-calibrated when, for every :math:`\eta \ne 1/2`, scores of the wrong sign cannot
reach the minimal conditional risk:

.. math::
    \delta(\eta) = \inf_{\alpha (2\eta - 1) \le 0} C_\eta(\alpha) - \inf_\alpha C_\eta(\alpha) > 0 .

For a **convex** :math:`\phi` this holds iff :math:`\phi` is differentiable at 0 with :math:`\phi'(0) < 0`; that
criterion reads only the derivative, which is what EnsLoss generates (every generated derivative is
non-decreasing in the margin and negative, at 0 included).

Two kinds of functions:

* closed forms (:func:`conditional_risk` for named or JAX-traceable losses, :func:`conditional_risk_minimiser`
  for the named losses) work under ``jit``/``vmap``/``grad``; concrete inputs are validated and computed in
  float64;
* numerical checks (:func:`conditional_risk_minimiser` of a user's callable, :func:`calibration_gap`,
  :func:`is_calibrated`, :func:`is_cc`) minimise or sample the loss with SciPy/NumPy in float64 and run eagerly
  only (a bounded Brent search cannot be traced).

References:
    Bartlett, Jordan, McAuliffe, *Convexity, Classification, and Risk Bounds*, JASA 101 (2006), the definition
    of classification calibration and its characterisation for convex losses; Dai, ICML 2025 (arXiv 2409.00908),
    the CC conditions written as conditions on loss-derivatives; docs/ensloss.md, "Margin losses and the CC
    conditions".
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import check_array, check_choice, check_real, is_traced
from theory.ensloss._checks import as_float64_or_traced, concrete, real_array
from theory.ensloss.margin_losses import MARGIN_LOSSES
from theory.logspace import log1p

__all__ = [
    "conditional_risk",
    "conditional_risk_minimiser",
    "calibration_gap",
    "is_calibrated",
    "is_cc",
    "CCReport",
]


def _loss_fn(loss) -> Callable:
    if isinstance(loss, str):
        check_choice("loss", loss, MARGIN_LOSSES)
        return MARGIN_LOSSES[loss][0]
    if not callable(loss):
        raise TypeError(f"loss must be a loss name {sorted(MARGIN_LOSSES)} or a callable phi(z), got "
                        f"{type(loss).__name__}")
    return loss


def _eta(eta, *, open_ends=False):
    """``(eta, ok)``: concrete values checked to lie in [0, 1] (``(0, 1)`` with ``open_ends``)."""
    eta = real_array("eta", eta, low=0.0, high=1.0, low_open=open_ends, high_open=open_ends)
    ok = True if not is_traced(eta) else (eta >= 0) & (eta <= 1)
    return eta, ok


def conditional_risk(alpha, eta, *, loss):
    r"""The conditional risk :math:`C_\eta(\alpha) = \eta\,\phi(\alpha) + (1 - \eta)\,\phi(-\alpha)`.

    Works under ``jit``/``vmap``/``grad`` when ``loss`` is a name of :data:`~theory.ensloss.MARGIN_LOSSES` or a
    JAX-traceable callable; concrete inputs are validated (``eta`` in ``[0, 1]``, NaN raises) and computed in
    float64.

    Args:
        alpha: score(s) (real; ``+-inf`` allowed where the loss has a limit).
        eta: :math:`P(Y = 1 \mid x)` in ``[0, 1]``, broadcast with ``alpha``.
        loss: a loss name (``"logistic"``, ``"hinge"``, ...) or a callable ``phi(z)``.

    Returns:
        :math:`C_\eta(\alpha)`, the broadcast shape of ``alpha`` and ``eta``.

    Examples:
        >>> round(conditional_risk(0.0, 0.7, loss="logistic"), 6)
        0.693147

    References:
        Bartlett, Jordan, McAuliffe, JASA 2006, Sec. 2 (the conditional phi-risk); docs/ensloss.md.
    """
    phi = _loss_fn(loss)
    alpha = real_array("alpha", alpha, allow_inf=True)
    eta, ok = _eta(eta)
    return as_float64_or_traced(_risk_of(phi), (alpha, eta), ok)


@functools.lru_cache(maxsize=64)
def _risk_of(phi):
    """``C_eta(alpha)`` of ``phi`` as one function object per loss (so its compiled form is reused)."""
    return lambda a, e: e * phi(a) + (1.0 - e) * phi(-a)


def _logit(eta):
    return jnp.log(eta) - log1p(-eta)


#: Closed-form minimisers of the conditional risk of the named losses (at eta = 1/2 the symmetric choice 0).
_MINIMISERS = {
    "logistic": _logit,
    "exponential": lambda eta: 0.5 * _logit(eta),
    "hinge": lambda eta: jnp.sign(2.0 * eta - 1.0),
    "squared_hinge": lambda eta: 2.0 * eta - 1.0,
    "perceptron": lambda eta: jnp.zeros_like(eta),
    "reversed_hinge": lambda eta: -jnp.sign(2.0 * eta - 1.0),
    "sigmoid": lambda eta: jnp.where(eta == 0.5, 0.0, jnp.sign(2.0 * eta - 1.0) * jnp.inf),
}


@functools.lru_cache(maxsize=64)
def _jitted_risk(phi):
    return jax.jit(lambda a, eta: eta * phi(a) + (1.0 - eta) * phi(-a))


def _numpy_risk(phi, eta):
    """``C_eta`` as a float64 NumPy function of a score or an array of scores (one compile per loss)."""
    risk = _jitted_risk(phi)

    def f(a):
        with jax.enable_x64(True):
            return np.asarray(risk(jnp.asarray(a, jnp.float64), jnp.float64(eta)), np.float64)

    return f


def _minimise(f, low, high, *, points=2001):
    """``(argmin, min)`` of ``f`` over ``[low, high]``: the best of an even grid, refined by SciPy's bounded Brent
    search (tolerance 1e-10) between its neighbours, float64. For a convex or monotone ``f`` this is the global
    minimum (an infimum approached at an end point is returned at that end point)."""
    from scipy import optimize

    grid = np.linspace(low, high, points)
    values = f(grid)
    k = int(np.argmin(values))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, points - 1)]
    res = optimize.minimize_scalar(lambda x: float(f(x)), bounds=(a, b), method="bounded", options={"xatol": 1e-10})
    best = min((float(values[k]), float(grid[k])), (float(res.fun), float(res.x)))
    return best[1], best[0]


def conditional_risk_minimiser(eta, *, loss, bound=10.0):
    r"""The minimiser :math:`\alpha^*(\eta) = \arg\min_\alpha C_\eta(\alpha)` of the conditional risk.

    Closed forms for the named losses (at :math:`\eta = 1/2` the symmetric minimiser 0):

    .. math::
        \text{logistic: } \log\tfrac{\eta}{1-\eta}, \quad \text{exponential: } \tfrac12\log\tfrac{\eta}{1-\eta},
        \quad \text{hinge: } \mathrm{sign}(2\eta - 1), \quad \text{squared hinge: } 2\eta - 1,

    the perceptron 0 for every :math:`\eta` (not calibrated), the reversed hinge :math:`-\mathrm{sign}(2\eta-1)`
    (anti-calibrated) and the sigmoid :math:`\pm\infty`. These work under ``jit``/``vmap``/``grad``. For a callable
    ``loss`` the minimiser is found numerically on ``[-bound, bound]`` (the best point of a 2001-point grid,
    refined by SciPy's bounded Brent search, tolerance 1e-10, float64, eager only); a minimiser at an end point
    means the infimum is approached at infinity.

    Args:
        eta: :math:`P(Y = 1 \mid x)` in ``[0, 1]`` (a float or an array).
        loss: a loss name or a callable ``phi(z)``.
        bound: the search interval's half-width for a callable (finite, > 0).

    Returns:
        :math:`\alpha^*`, shaped like ``eta``.

    Examples:
        >>> round(conditional_risk_minimiser(0.7, loss="logistic"), 6), conditional_risk_minimiser(0.7, loss="hinge")
        (0.847298, 1.0)

    References:
        Bartlett, Jordan, McAuliffe, JASA 2006 (the examples of Sec. 2); docs/ensloss.md, "Margin losses and the
        CC conditions".
    """
    if isinstance(loss, str):
        check_choice("loss", loss, _MINIMISERS)
        eta, ok = _eta(eta)
        return as_float64_or_traced(_MINIMISERS[loss], (eta,), ok)
    phi = _loss_fn(loss)
    bound = check_real("bound", bound, low=0.0, low_open=True)
    if not concrete(eta):
        raise TypeError("conditional_risk_minimiser of a callable loss minimises numerically (SciPy) and cannot "
                        "run under jit, vmap or grad; pass a loss name for the closed forms")
    etas = check_array("eta", eta, low=0.0, high=1.0)
    out = np.array([_minimise(_numpy_risk(phi, e), -bound, bound)[0] for e in etas.ravel()]).reshape(etas.shape)
    return float(out) if out.ndim == 0 else out


def calibration_gap(eta, *, loss, bound=10.0):
    r"""The calibration gap :math:`\delta(\eta) = \inf_{\alpha(2\eta-1) \le 0} C_\eta - \inf_\alpha C_\eta`.

    Computed numerically on ``[-bound, bound]`` (two grid-and-Brent searches, float64; eager
    only). It is
    :math:`\ge 0`, and :math:`> 0` for every :math:`\eta \ne 1/2` exactly when the loss is classification-calibrated
    (restricted to scores in ``[-bound, bound]``, which is where the infimum of a loss that decays towards infinity
    is approached).

    Args:
        eta: in ``[0, 1]`` with ``eta != 1/2`` (a float or an array).
        loss: a loss name or a callable ``phi(z)``.
        bound: the half-width of the score interval (finite, > 0).

    Returns:
        :math:`\delta(\eta)`, shaped like ``eta``.

    Examples:
        >>> round(calibration_gap(0.7, loss="hinge"), 6), round(calibration_gap(0.7, loss="perceptron"), 6)
        (0.4, 0.0)

    References:
        Bartlett, Jordan, McAuliffe, JASA 2006, Definition of classification calibration (H^-(eta) > H(eta));
        docs/ensloss.md, "Margin losses and the CC conditions".
    """
    phi = _loss_fn(loss)
    bound = check_real("bound", bound, low=0.0, low_open=True)
    if not concrete(eta):
        raise TypeError("calibration_gap minimises numerically (SciPy) and cannot run under jit, vmap or grad")
    etas = check_array("eta", eta, low=0.0, high=1.0)
    if np.any(etas == 0.5):
        raise ValueError("eta must differ from 1/2 (every score is 'wrong-signed' there, so the gap is 0)")
    out = []
    for e in etas.ravel():
        risk = _numpy_risk(phi, float(e))
        _, best = _minimise(risk, -bound, bound)
        _, wrong = _minimise(risk, -bound, 0.0) if e > 0.5 else _minimise(risk, 0.0, bound)
        out.append(max(wrong - best, 0.0))
    out = np.array(out).reshape(etas.shape)
    return float(out) if out.ndim == 0 else out


_ETAS = (0.05, 0.2, 0.35, 0.45, 0.55, 0.65, 0.8, 0.95)


def is_calibrated(loss, *, etas=_ETAS, bound=10.0, atol=1e-9) -> bool:
    r"""Classification calibration by the definition: :math:`\delta(\eta) > \mathrm{atol}` for every ``eta``.

    Numerical (:func:`calibration_gap`, eager only); applies to any loss, convex or not (the sigmoid loss is
    calibrated, the perceptron and the reversed hinge are not).

    Args:
        loss: a loss name or a callable ``phi(z)``.
        etas: the conditional probabilities checked (each ``!= 1/2``).
        bound: the score interval's half-width.
        atol: the smallest gap counted as positive (the minimisers' round-off is about 1e-12).

    Returns:
        ``True`` when every gap exceeds ``atol``.

    References:
        Bartlett, Jordan, McAuliffe, JASA 2006 (the definition); docs/ensloss.md.
    """
    atol = check_real("atol", atol, low=0.0)
    return bool(np.all(calibration_gap(np.asarray(etas, np.float64), loss=loss, bound=bound) > atol))


@dataclasses.dataclass(frozen=True)
class CCReport:
    """The verdict of :func:`is_cc`; truthy exactly when the loss is convex and calibrated.

    Attributes:
        convex: the loss is convex (its derivative non-decreasing) on the grid.
        differentiable_at_zero: the one-sided derivatives at 0 agree within the kink tolerance.
        derivative_at_zero: ``(phi'(0-), phi'(0+))``.
        calibrated: Bartlett et al.'s criterion (differentiable at 0 with ``phi'(0) < 0``) when ``convex``;
            ``None`` ("not applicable") for a non-convex loss, where the criterion says nothing.
        reason: one sentence saying why.
    """

    convex: bool
    differentiable_at_zero: bool
    derivative_at_zero: tuple[float, float]
    calibrated: bool | None
    reason: str

    def __bool__(self) -> bool:
        return bool(self.convex and self.calibrated)


def is_cc(fn, *, kind="loss", grid=None, atol=1e-7, kink_tol=1e-3) -> CCReport:
    r"""Check the convexity-and-calibration (CC) conditions of a margin loss, from the loss or its derivative.

    In derivative form (the conditions EnsLoss generates): :math:`\phi'` non-decreasing (convex), and
    :math:`\phi'(0^-) = \phi'(0^+) < 0` (differentiable at 0 with a negative derivative: calibrated, by Bartlett,
    Jordan and McAuliffe's characterisation of convex calibrated losses). A non-convex loss gets
    ``calibrated=None``: the characterisation does not apply (use :func:`is_calibrated`, the definition).

    Numerical, in float64 NumPy (eager only):

    * ``kind="loss"``: convexity from the second differences on ``grid`` (each ``>= -atol * max(1, |phi|)``),
      one-sided derivatives at 0 from differences with step ``1e-5``;
    * ``kind="derivative"``: monotonicity from ``diff(phi'(grid)) >= -atol``, the one-sided limits at 0 from
      :math:`\phi'(\mp 10^{-9})`.

    Kinks in the slope smaller than ``kink_tol`` at 0 are not resolved, and :math:`\phi'(0) < -\mathrm{kink\_tol}`
    is required.

    Args:
        fn: a callable ``phi(z)`` (``kind="loss"``) or ``phi'(z)`` (``kind="derivative"``) on float64 arrays, or
            a loss name of :data:`~theory.ensloss.MARGIN_LOSSES`.
        kind: ``"loss"`` or ``"derivative"``.
        grid: the margins checked (default 2401 points on ``[-6, 6]``).
        atol: round-off allowance of the convexity check.
        kink_tol: the slope resolution at 0.

    Returns:
        A :class:`CCReport` (``bool(report)`` is the CC verdict).

    Examples:
        >>> bool(is_cc("logistic")), bool(is_cc("perceptron")), is_cc("sigmoid").calibrated is None
        (True, False, True)

    References:
        Bartlett, Jordan, McAuliffe, JASA 2006 (convex phi is calibrated iff differentiable at 0 with phi'(0) < 0);
        Dai, ICML 2025 (arXiv 2409.00908), the CC conditions as conditions on loss-derivatives; docs/ensloss.md,
        "Margin losses and the CC conditions".
    """
    check_choice("kind", kind, ("loss", "derivative"))
    if isinstance(fn, str):
        check_choice("fn", fn, MARGIN_LOSSES)
        fn = MARGIN_LOSSES[fn][0 if kind == "loss" else 1]
    if not callable(fn):
        raise TypeError(f"fn must be a callable or a loss name, got {type(fn).__name__}")
    atol = check_real("atol", atol, low=0.0)
    kink_tol = check_real("kink_tol", kink_tol, low=0.0, low_open=True)
    z = np.linspace(-6.0, 6.0, 2401) if grid is None else check_array("grid", grid, ndim=1)
    if z.size < 3:
        raise ValueError(f"grid must have at least 3 points, got {z.size}")
    z = np.sort(z)

    def f(x):
        with jax.enable_x64(True):
            return np.asarray(fn(jnp.asarray(x, jnp.float64)), np.float64)

    if kind == "loss":
        if not np.allclose(np.diff(z), z[1] - z[0], rtol=1e-6):
            raise ValueError("grid must be evenly spaced for kind='loss' (second differences)")
        v = f(z)
        second = v[:-2] - 2.0 * v[1:-1] + v[2:]
        convex = bool(np.all(second >= -atol * np.maximum(1.0, np.abs(v[1:-1]))))
        h = 1e-5
        left, right = (f(0.0) - f(-h)) / h, (f(h) - f(0.0)) / h
    else:
        v = f(z)
        convex = bool(np.all(np.diff(v) >= -atol))
        left, right = f(-1e-9), f(1e-9)
    left, right = float(left), float(right)
    smooth = abs(right - left) <= kink_tol
    if not convex:
        return CCReport(False, smooth, (left, right), None, "not convex on the grid: the derivative criterion does "
                        "not apply (check the definition with is_calibrated)")
    calibrated = smooth and 0.5 * (left + right) < -kink_tol
    if not smooth:
        why = f"convex but not differentiable at 0 (phi'(0-) = {left:.4g}, phi'(0+) = {right:.4g}): not calibrated"
    elif calibrated:
        why = f"convex, differentiable at 0 with phi'(0) = {0.5 * (left + right):.4g} < 0: calibrated"
    else:
        why = f"convex, differentiable at 0 with phi'(0) = {0.5 * (left + right):.4g} >= 0: not calibrated"
    return CCReport(True, smooth, (left, right), calibrated, why)
