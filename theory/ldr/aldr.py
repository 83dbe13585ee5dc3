r"""ALDR-KL: the LDR-KL loss with a per-instance temperature chosen adversarially, solved exactly.

.. math::

    \psi^A(f, y) = \max_{\lambda \ge \lambda_{min}} h(\lambda), \qquad
    h(\lambda) = \psi_\lambda(f, y) - \frac{\alpha}{2}(\lambda - \lambda_0)^2 .

Every maximiser satisfies :math:`\lambda^* = \lambda_0 - \mathrm{KL}(p^*_{\lambda^*}\|u)/\alpha \in
[\lambda_0 - \log K/\alpha, \lambda_0]`, so :math:`\lambda^* > 0` for all inputs iff
:math:`\alpha > \log K/\lambda_0`. ``h`` need not be concave (:math:`h'' = \mathrm{Var}_{p^*}(a)/\lambda^3 - \alpha`),
so :func:`aldr_kl_solve` does a global 1-D search: a grid over the interval, then bisection on
:math:`h'(\lambda) = -\mathrm{KL}(p^*_\lambda\|u) - \alpha(\lambda-\lambda_0)` in the cells around the best
grid point, keeping the best value seen. The gradient in the logits is the LDR-KL gradient at
:math:`\lambda^*` (envelope theorem), so :math:`\lambda^*` is held fixed under differentiation.

The authors' code parameterises :math:`\alpha = \alpha_c\log K/\lambda_0` (:func:`aldr_alpha_from_code`)
and does one stale ascent step in :math:`\lambda` per visit of an instance, keeping the temperatures as
state: :func:`aldr_official_init` and :func:`aldr_official_step` re-implement it with explicit state.

:func:`aldr_kl_loss` is registered in :mod:`theory.losses` as ``aldr_kl`` and follows its input policy
(NaN logits raise; a ``-inf`` non-target logit is a masked class; a traced invalid ``lam0``/``alpha``
gives NaN).

References:
    Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), ALDR-KL (form as recalled; code ``ALDRLoss_V1``);
    docs/ldr.md, "Numerics" (the interval of lambda* and the global 1-D search).
"""

from __future__ import annotations

import functools
import math
import typing

import jax
import jax.numpy as jnp

from theory._compat import keyword_only
from theory._validation import check_int, check_logits_labels, check_loss_inputs, check_real, is_traced, nan_unless
from theory.ldr.losses import _kl_to_uniform, _psi, _psi_value, check_margin, margin_vector

__all__ = [
    "aldr_alpha_from_code",
    "aldr_kl_solve",
    "aldr_kl_loss",
    "aldr_lambda_interval",
    "AldrState",
    "aldr_official_init",
    "aldr_official_step",
]


@keyword_only("num_classes", "lam0", renamed={"K": "num_classes"})
def aldr_alpha_from_code(alpha_c, *, num_classes, lam0):
    r"""The penalty :math:`\alpha = \alpha_c\log K/\lambda_0` of the code's ``alpha``.

    :math:`\alpha_c > 1` keeps :math:`\lambda^* > 0`.

    Examples:
        >>> round(aldr_alpha_from_code(2.0, num_classes=5, lam0=1.0), 6)
        3.218876

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), code ``loss.py``, ``ALDRLoss_V1`` (its ``alpha``).
    """
    alpha_c = check_real("alpha_c", alpha_c, low=0.0, low_open=True)
    K = check_int("num_classes", num_classes, low=2)
    lam0 = check_real("lam0", lam0, low=0.0, low_open=True)
    return alpha_c * math.log(K) / lam0


@keyword_only(renamed={"K": "num_classes"})
def aldr_lambda_interval(num_classes, *, lam0, alpha, lam_min=0.0):
    r"""The interval :math:`[\max(\lambda_{min}, \lambda_0 - \log K/\alpha), \lambda_0]` holding :math:`\lambda^*`,
    ``K = num_classes``."""
    return max(lam_min, lam0 - math.log(num_classes) / alpha), lam0


def _check_aldr(K, lam0, alpha, lam_min):
    out = []
    for name, v in (("lam0", lam0), ("alpha", alpha)):
        out.append(v if is_traced(v) else check_real(name, v, low=0.0, low_open=True))
    lam_min = check_real("lam_min", lam_min, low=0.0)
    lam0, alpha = out
    if not is_traced(lam0) and not is_traced(alpha):
        if lam_min >= lam0:
            raise ValueError(f"lam_min must be < lam0 = {lam0}, got {lam_min}")
        if lam_min == 0.0 and alpha <= math.log(K) / lam0:
            raise ValueError(f"alpha must be > log(K)/lam0 = {math.log(K) / lam0:.6g} (else lambda* can reach 0); "
                             "or pass lam_min > 0")
    return lam0, alpha, lam_min


def _h(a, lam, lam0, alpha):
    return _psi_value(a, lam) - 0.5 * alpha * (lam - lam0) ** 2


def _dh(a, lam, lam0, alpha):
    return -_kl_to_uniform(a, lam) - alpha * (lam - lam0)


def _solve_lambda(a, lam0, alpha, lam_min, grid, iters):
    """The global maximiser of h on [lo, lam0] per row of ``a`` (no gradient flows through it)."""
    a = jax.lax.stop_gradient(a)
    K = a.shape[-1]
    dtype = a.dtype
    lam0 = jnp.asarray(lam0, dtype)
    alpha = jnp.asarray(alpha, dtype)
    lo = jnp.maximum(jnp.asarray(lam_min, dtype), lam0 - math.log(K) / alpha)
    lo = jnp.maximum(lo, lam0 * 1e-6)  # lam* > 0 is guaranteed by the checks; guard round-off
    t = jnp.linspace(0.0, 1.0, grid, dtype=dtype)
    lams = lo + (lam0 - lo) * t  # [G]
    batch = a.shape[:-1]
    lam_grid = jnp.broadcast_to(lams, batch + (grid,))
    hv = _h(a[..., None, :], lam_grid, lam0, alpha)  # [..., G]
    i = jnp.argmax(hv, axis=-1)
    left = jnp.take(lams, jnp.maximum(i - 1, 0))
    right = jnp.take(lams, jnp.minimum(i + 1, grid - 1))
    best_lam = jnp.take(lams, i)
    best_h = jnp.max(hv, axis=-1)

    def body(_, lr):
        left, right = lr
        mid = 0.5 * (left + right)
        up = _dh(a, mid, lam0, alpha) > 0
        return jnp.where(up, mid, left), jnp.where(up, right, mid)

    left, right = jax.lax.fori_loop(0, iters, body, (left, right))
    cand = 0.5 * (left + right)
    h_cand = _h(a, cand, lam0, alpha)
    return jnp.where(h_cand >= best_h, cand, best_lam)


def aldr_kl_solve(logits, labels, *, lam0, alpha, margin=0.0, lam_min=0.0, grid=256, iters=60):
    r"""``(value, lam_star)`` of ALDR-KL per example, by the exact 1-D global search.

    Args:
        logits: floating ``[..., K]``; labels: integer ``[...]``.
        lam0: reference temperature :math:`\lambda_0 > 0`; alpha: penalty :math:`\alpha > \log K/\lambda_0`
            (or any :math:`\alpha > 0` with ``lam_min > 0``). Both may be traced; an invalid traced pair
            gives NaN (value and ``lam_star``).
        margin: scalar or ``[K, K]`` margin matrix, as in :func:`theory.ldr.losses.ldr_kl_loss`.
        lam_min: lower bound on :math:`\lambda`.
        grid: grid points on the interval; iters: bisection steps in the best cell.

    Returns:
        ``(value [...], lam_star [...])``; ``value`` is differentiable in the logits (envelope theorem).

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), ALDR-KL (as recalled); docs/ldr.md, "Numerics".
    """
    logits, labels = check_loss_inputs(logits, labels)
    K = logits.shape[-1]
    margin = check_margin(margin, K)
    lam0, alpha, lam_min = _check_aldr(K, lam0, alpha, lam_min)
    grid = check_int("grid", grid, low=3)
    iters = check_int("iters", iters, low=0)
    return _aldr_core(logits, labels, margin, lam0, alpha, lam_min, grid=grid, iters=iters)


@functools.partial(jax.jit, static_argnames=("grid", "iters"))
def _aldr_core(logits, labels, margin, lam0, alpha, lam_min, *, grid, iters):
    a = margin_vector(logits, labels, margin)
    # Traced hyperparameters cannot be checked: an invalid pair makes lam0 (hence everything) NaN.
    log_k = math.log(a.shape[-1])
    valid = (lam0 > 0) & (alpha > 0) & (lam_min < lam0) & ((lam_min > 0) | (alpha * lam0 > log_k))
    valid = valid & jnp.isfinite(lam0) & jnp.isfinite(alpha)
    lam0 = nan_unless(valid, jnp.asarray(lam0, a.dtype))
    lam_star = jax.lax.stop_gradient(_solve_lambda(a, lam0, alpha, lam_min, grid, iters))
    penalty = 0.5 * jnp.asarray(alpha, a.dtype) * (lam_star - jnp.asarray(lam0, a.dtype)) ** 2
    return _psi(a, lam_star) - jax.lax.stop_gradient(penalty), lam_star


def aldr_kl_loss(logits, labels, *, lam0, alpha, margin=0.0, lam_min=0.0, grid=256, iters=60):
    r"""Per-example ALDR-KL loss.

    .. math::

        \psi^A(f, y) = \max_{\lambda\ge\lambda_{min}} \psi_\lambda(f,y) - \frac\alpha2(\lambda-\lambda_0)^2 .

    The per-instance :math:`\lambda^*` is solved exactly (see :func:`aldr_kl_solve`); the gradient is
    :math:`p^*_{\lambda^*} - e_y`.

    Args:
        logits: floating ``[..., K]``.
        labels: integer ``[...]``.
        lam0: reference temperature (> 0).
        alpha: penalty (> log K / lam0, or any > 0 with ``lam_min > 0``).
        margin: scalar or ``[K, K]`` margin matrix.
        lam_min: lower bound on lambda.
        grid: grid points of the global search.
        iters: bisection steps.

    Returns:
        Array ``[...]`` of per-example losses.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> with jax.enable_x64(True):
        ...     g = jnp.array([0.5, -1.0, 2.0, 0.0, 1.5])
        ...     alpha = aldr_alpha_from_code(2.0, num_classes=5, lam0=1.0)
        ...     v = aldr_kl_loss(g, jnp.array(1), lam0=1.0, alpha=alpha, margin=0.2)
        >>> round(float(v), 8)
        2.31628846

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), ALDR-KL (as recalled); docs/ldr.md, "Numerics".
    """
    return aldr_kl_solve(logits, labels, lam0=lam0, alpha=alpha, margin=margin, lam_min=lam_min, grid=grid,
                         iters=iters)[0]


class AldrState(typing.NamedTuple):
    """State of the authors' ALDR update: one temperature per training instance."""

    lam: jax.Array


def aldr_official_init(n, *, lam0, dtype=jnp.float32):
    """The initial state: every instance's temperature at ``lam0`` (``n`` instances)."""
    n = check_int("n", n, low=1)
    lam0 = check_real("lam0", lam0, low=0.0, low_open=True)
    return AldrState(jnp.full((n,), lam0, dtype))


def aldr_official_step(state, logits, labels, ids, *, lam0, alpha_c, margin=0.1, softplus=False):
    r"""One visit of the authors' ``ALDRLoss_V1``: ``(loss [B], new_state)``, jittable, explicit state.

    Scores are normalised :math:`\hat F = F/\max(\lVert F\rVert_1/K, 10^{-12})` (the code has no guard:
    an all-zero row gives NaN there); the stale weights
    :math:`\tilde p = \operatorname{softmax}(\hat F/\Lambda_{ids}) + 10^{-5}`
    (renormalised, no margin) give :math:`\kappa = \mathrm{KL}(\tilde p\|u)` and
    :math:`\lambda_{new} = \lambda_0(1 - \kappa/(\alpha_c\log K))`, stored at ``ids``; the loss is
    :math:`\psi_{\lambda_{new}}(\hat F, y) - \frac{\alpha_c\log K}{2\lambda_0}(\lambda_{new}-\lambda_0)^2`,
    differentiated only through :math:`\hat F`.

    Args:
        state: :class:`AldrState` (one temperature per instance).
        logits: raw scores ``[B, K]``.
        labels: integers ``[B]``.
        ids: instance indices ``[B]`` into the state.
        lam0: the code's ``Lambda``.
        alpha_c: the code's ``alpha`` (> 1).
        margin: the code's ``threshold``.
        softplus: apply softplus to the scores first (the code's CIFAR-100 option).

    Returns:
        ``(loss [B], new_state)``.

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), the authors' ``loss.py`` (``ALDRLoss_V1``, commit
        732fc85): the training-time update; docs/ldr.md, "Findings" (how it differs from the exact solve).
    """
    logits = jnp.asarray(logits)
    if not is_traced(logits):
        check_logits_labels(logits, labels)
    return _official_core(state, logits, jnp.asarray(labels), jnp.asarray(ids), lam0, alpha_c, margin,
                          softplus=bool(softplus))


@functools.partial(jax.jit, static_argnames=("softplus",))
def _official_core(state, logits, labels, ids, lam0, alpha_c, margin, *, softplus):
    K = logits.shape[-1]
    F = jax.nn.softplus(logits) if softplus else logits
    Fh = F / jnp.maximum(jnp.sum(jnp.abs(F), axis=-1, keepdims=True) / K, 1e-12)
    lam_old = state.lam[ids]
    pt = jax.nn.softmax(jax.lax.stop_gradient(Fh) / lam_old[:, None], axis=-1) + 1e-5
    pt = pt / jnp.sum(pt, axis=-1, keepdims=True)
    kappa = jnp.sum(pt * jnp.log(K * pt), axis=-1)
    lam_new = jax.lax.stop_gradient(lam0 - lam0 * kappa / (alpha_c * math.log(K)))
    extra = -0.5 * (alpha_c * math.log(K) / lam0) * (lam_new - lam0) ** 2
    a = margin_vector(Fh, labels, margin)
    return _psi(a, lam_new) + extra, AldrState(state.lam.at[ids].set(lam_new))
