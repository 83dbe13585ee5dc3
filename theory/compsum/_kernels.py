r"""Unvalidated array kernels of the comp-sum conditional risks, shared by every module of the topic.

Each kernel takes an array namespace ``xp``: NumPy for concrete inputs (exact float64, with masked
branches evaluated only where they apply), ``jax.numpy`` when an input is traced (``jit``, ``vmap``,
``grad``), where every branch is evaluated at a *safe* input and the right one selected with ``where``,
so that no branch that is not taken can put a NaN into a gradient. The two paths run the same
formulas, element by element.

The public functions (:mod:`~theory.compsum.risks`, :mod:`~theory.compsum.bounds`, ...) validate
their arguments and pick the namespace with :func:`namespace`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import is_traced
from theory.compsum.losses import _phi_of_w
from theory.logspace import np_logsumexp

LOG2 = math.log(2.0)


def namespace(*args):
    """``jax.numpy`` when any argument is traced, else ``numpy``."""
    return jnp if any(is_traced(a) for a in args) else np


def simplex_ok(p):
    """Traced validity of the probability vectors along the last axis of ``p`` (non-negative, summing to 1
    within ``1e-9`` or, in low precision, a few ulps per class): the condition ``nan_unless`` guards with."""
    p = jnp.asarray(p)
    eps = jnp.finfo(p.dtype).eps if jnp.issubdtype(p.dtype, jnp.floating) else 0.0
    tol = max(1e-9, 8.0 * p.shape[-1] * float(eps))
    return jnp.all(p >= 0, axis=-1) & (jnp.abs(jnp.sum(p, axis=-1) - 1.0) <= tol)


def tau_cases(xp, tau, cases):
    """Evaluate the first case whose condition holds at ``tau``.

    ``cases`` is a list of ``(condition(tau) -> bool, safe_tau, fn(tau) -> array)``; the conditions must
    cover every valid ``tau``. NumPy (a Python float ``tau``) calls one ``fn``; ``jax.numpy`` evaluates every
    ``fn`` at ``tau`` where its condition holds and at ``safe_tau`` elsewhere, and selects.
    """
    if xp is np:
        for cond, _, fn in cases:
            if cond(tau):
                return fn(tau)
        raise AssertionError("tau_cases: no condition holds")
    out, taken = None, jnp.zeros(jnp.shape(tau), bool)
    for cond, safe, fn in cases:
        c = cond(tau) & ~taken  # exclusive: a later case never sees a tau an earlier one took
        value = fn(jnp.where(c, tau, safe))
        out = value if out is None else jnp.where(c, value, out)
        taken = taken | c
    return out


def piecewise(xp, x, cases):
    """``fn(x)`` on the entries where its mask holds, for disjoint masks covering ``x``.

    ``cases`` is a list of ``(mask, fn, safe_x)``. NumPy evaluates each ``fn`` on its entries only;
    ``jax.numpy`` evaluates it on ``where(mask, x, safe_x)`` and selects.
    """
    if xp is np:
        out = np.empty_like(x)
        for mask, fn, _ in cases:
            out[mask] = fn(x[mask])
        return out
    out = jnp.zeros_like(x)
    for mask, fn, safe in cases:
        out = jnp.where(mask, fn(jnp.where(mask, x, safe)), out)
    return out


def logsumexp(x, xp, axis=-1, keepdims=False):
    if xp is np:
        return np_logsumexp(x, axis=axis, keepdims=keepdims)
    return jax.nn.logsumexp(x, axis=axis, keepdims=keepdims)


def phi(u, tau, xp):
    r""":math:`\Phi^\tau(u) = ((1+u)^{1-\tau} - 1)/(1-\tau)` (``log(1+u)`` at ``tau = 1``)."""
    return _phi_of_w(xp.log1p(u), 1.0 - tau, xp=xp)


def psi(s, tau, xp):
    r""":math:`\Psi_\tau(s)` of a softmax value ``s``; ``s = 0`` gives ``inf`` (``tau <= 1``) or ``1/(tau-1)``."""
    if xp is np:
        with np.errstate(divide="ignore", over="ignore"):
            return _phi_of_w(-np.log(s), 1.0 - tau, xp=np)
    return _phi_of_w(-jnp.log(s), 1.0 - tau, xp=jnp)


def predict_index(h, xp):
    """``argmax_y h_y`` with ties broken toward the highest index."""
    n = h.shape[-1]
    return n - 1 - xp.argmax(h[..., ::-1], axis=-1)


def loss_matrix(h, tau, xp):
    r""":math:`\ell^\tau(h, y)` for every label ``y``: shape ``[..., n]``; ``tau`` broadcasts against ``[..., 1]``."""
    if xp is np:
        w = np.maximum(logsumexp(h, np, keepdims=True) - h, 0.0)
        with np.errstate(over="ignore", invalid="ignore"):  # w = inf (a masked class) at tau = 1: 0 * inf unused
            return _phi_of_w(w, 1.0 - tau, xp=np)
    return _loss_matrix_jnp(h, 1.0 - tau)


def _loss_matrix_jnp(h, a):
    w = jnp.maximum(logsumexp(h, jnp, keepdims=True) - h, 0.0)
    return _phi_of_w(w, a, xp=jnp)


def conditional_risk(h, p, tau, xp):
    r""":math:`C_\tau(h, p) = \sum_y p_y \ell^\tau(h, y)` with ``0 * inf = 0``."""
    if xp is np:
        losses = loss_matrix(h, tau, np)
        with np.errstate(invalid="ignore"):
            return np.where(p > 0, p * losses, 0.0).sum(axis=-1)
    return _conditional_risk_jnp(h, p, 1.0 - tau)  # 1 - tau outside the jit: a Python float tau stays exact


@jax.jit  # one compiled program per shape for eager calls; inlined under a caller's jit
def _conditional_risk_jnp(h, p, a):
    return jnp.sum(jnp.where(p > 0, p * _loss_matrix_jnp(h, a), 0.0), axis=-1)


def zero_one_regret(h, p, xp):
    r""":math:`\max_y p_y - p_{\hat y(h)}`."""
    return _zero_one_regret(h, p, np) if xp is np else _zero_one_regret_jnp(h, p)


def _zero_one_regret(h, p, xp):
    yhat = predict_index(h, xp)
    return xp.max(p, axis=-1) - xp.take_along_axis(p, yhat[..., None], axis=-1)[..., 0]


@jax.jit  # one compiled program per shape for eager calls; inlined under a caller's jit
def _zero_one_regret_jnp(h, p):
    return _zero_one_regret(h, p, jnp)


def _log_p(p, xp):
    """``log p`` with ``-inf`` at ``p = 0`` (and a zero gradient there)."""
    if xp is np:
        with np.errstate(divide="ignore"):
            return np.log(p)
    tiny = jnp.finfo(p.dtype).tiny
    return jnp.where(p > 0, jnp.log(jnp.maximum(p, tiny)), -jnp.inf)


def min_risk_complete(p, tau, xp):
    r"""Complete-case :math:`C^*_\tau(p)` without cancellation near ``tau = 1`` or underflow near ``tau = 2``.

    With :math:`L = \log\sum_y p_y^r` (``r = 1/(2-tau)``), :math:`C^* = \operatorname{expm1}((2-\tau)L)/(1-\tau)`.
    ``L`` is taken as ``log1p(sum_y p_y expm1((r-1) log p_y))`` (terms of one sign, ``r - 1`` formed as
    ``(tau-1)/(2-tau)``) when that sum is above ``-1/2``, else as a log-sum-exp. The relative error stays
    at a few ulps for every ``tau`` (the direct closed form loses about ``eps/|1-tau|``). At ``tau = 1``
    (the entropy) the first-order term ``-(tau-1) sum_y p_y log^2 p_y / 2`` is added: it is zero there, and
    gives the right derivative in ``tau``. ``tau`` broadcasts against ``p.shape[:-1]``
    (docs/compsum.md#minimal-conditional-risk).
    """
    return _min_risk_complete(p, tau, np) if xp is np else _min_risk_complete_jnp(p, tau)


@jax.jit  # one compiled program per shape for eager calls; inlined under a caller's jit
def _min_risk_complete_jnp(p, tau):
    return _min_risk_complete(p, tau, jnp)


def _min_risk_complete(p, tau, xp):
    logp = _log_p(p, xp)
    safe_logp = xp.where(p > 0, logp, 0.0)
    tau = tau if xp is np else jnp.asarray(tau, p.dtype)

    def entropy(tau):
        if xp is np:  # exactly the float64 reference -sum xlogy(p, p) (tau == 1.0 here)
            from scipy import special

            return -special.xlogy(p, p).sum(axis=-1)
        h1 = -jnp.sum(jnp.where(p > 0, p * safe_logp, 0.0), axis=-1)
        h2 = jnp.sum(jnp.where(p > 0, p * safe_logp * safe_logp, 0.0), axis=-1)
        return h1 - (tau - 1.0) * h2 / 2.0

    def linear(tau):
        return (1.0 - xp.max(p, axis=-1)) / (tau - 1.0)

    def power(tau):
        rm1 = (tau - 1.0) / (2.0 - tau)
        tau_c = tau if xp is np else tau[..., None]
        rm1_c = rm1 if xp is np else rm1[..., None]
        if xp is np:
            with np.errstate(invalid="ignore"):
                m = np.where(p > 0, p * np.expm1(rm1_c * logp), 0.0).sum(axis=-1)
        else:
            m = jnp.sum(jnp.where(p > 0, p * jnp.expm1(rm1_c * safe_logp), 0.0), axis=-1)
        lse = logsumexp(logp / (2.0 - tau_c), xp)
        log_sum = xp.where(m > -0.5, xp.log1p(xp.maximum(m, -0.5)), lse)
        return xp.expm1((2.0 - tau) * log_sum) / (1.0 - tau)

    return tau_cases(xp, tau, [
        (lambda t: t == 1.0, 1.0, entropy),
        (lambda t: t >= 2.0, 3.0, linear),
        (lambda t: True if xp is np else jnp.ones_like(t, bool), 0.5, power),
    ])
