r"""The general LDR family: other regularisers and the top-k constraint set, with exact inner solvers.

.. math::

    \psi^{\Omega,R}_\lambda(f, y) = \max_{p\in\Omega} \langle p, a(f,y)\rangle - \lambda R(p),
    \qquad \Omega_k = \{p \in \Delta_K : p_j \le 1/k\}.

| ``reg`` | ``k`` | inner solution |
| --- | --- | --- |
| ``"kl"`` | 1 | LDR-KL closed form (:func:`theory.ldr.losses.ldr_kl_loss`) |
| ``"kl"`` | k > 1 | :math:`p_j = \min(1/k, t\,e^{a_j/\lambda})`: the top m entries capped, exact by sorting |
| ``"l2"`` | 1 | :math:`p^* = \mathrm{Proj}_\Delta(u + a/\lambda)`, :math:`R = \frac12\lVert p-u\rVert^2` |
| ``"none"`` | any | mean of the k largest :math:`a_j` (k = 1: Crammer-Singer; top-k SVM) |

``lam = inf`` gives :math:`p = u` (the mean of ``a``) for every regulariser. The ``k = 1`` cases reuse
:mod:`theory.ldr.losses` (LDR-KL, and Crammer-Singer for ``reg="none"``); the variants are registered in
:mod:`theory.losses` as ``ldr_topk``, ``topk_svm`` and ``ldr_l2``, and follow its input policy (NaN
logits raise; a ``-inf`` non-target logit is a masked class).

References:
    Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), the general LDR loss (as recalled); T. Yang,
    *Optimization for Machine Learning*, Sec. 2.1 and 2.5 (top-k SVM as R = 0 on Omega_k); docs/ldr.md,
    "Numerics" (the exact top-k solution).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from theory._validation import check_choice, check_int, check_loss_inputs, is_traced, nan_unless
from theory.ldr.losses import (
    _ldr_kl_of_a,
    _max_margin,
    _mode,
    _traced_lam,
    _weights_of_a,
    check_lam,
    check_margin,
    margin_vector,
)

__all__ = ["ldr_loss", "ldr_weights"]


def _xlogkx(p, K):
    return jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, K * p, 1.0)), 0.0)


def _dot_support(p, a):
    """``<p, a>`` over the support of ``p``: a masked class (``a_k = -inf``, ``p_k = 0``) adds 0, not NaN."""
    return jnp.sum(p * jnp.where(p > 0, a, 0.0), axis=-1)


def _topk_kl(a, lam, k):
    """Exact top-k LDR-KL: cap the m largest entries at 1/k (smallest feasible m, m < k), softmax the rest.

    With ``z = (a - max a)/lam`` and ``L_m = log sum_{j >= m} e^{z_(j)}`` over the sorted entries, the rest
    gets ``(1 - m/k) e^{z_j - L_m}``, and ``m`` is feasible when its largest rest entry is at most ``1/k``
    (always true at ``m = k - 1``; tied entries are capped together). Only the top k values are sorted
    (``lax.top_k``); the tail enters through one log-sum-exp (entries below the k-th value, plus the ties
    at it beyond the first k), so any spread of ``a`` is handled exactly, with no bisection bracket.

    ``p`` is computed without gradient: the value ``<p, a> - lam KL(p || u)`` at the maximiser has gradient
    ``p`` in ``a`` and ``-KL(p || u)`` in ``lam`` (envelope theorem). A masked class (``a_j = -inf``) enters
    the search as ``max a - 10^4 lam`` (weight exactly 0 whenever k classes are unmasked; otherwise tied
    with the other masked classes for the forced mass, and the value is ``-inf``).
    """
    value_a, value_lam = a, lam
    a, lam = jax.lax.stop_gradient(a), jax.lax.stop_gradient(lam)
    a = jnp.where(a == -jnp.inf, jnp.max(a, axis=-1, keepdims=True) - 1e4 * lam[..., None], a)
    vals = jax.lax.top_k(a, k)[0]
    zmax = vals[..., :1]
    z_all = (a - zmax) / lam[..., None]
    z_top = (vals - zmax) / lam[..., None]
    kth = jnp.min(vals, axis=-1, keepdims=True)  # = vals[..., -1:]; slicing top_k's last column is ~30x slower on CPU
    n_above = jnp.sum(a > kth, axis=-1, keepdims=True)
    extra = jnp.sum(a == kth, axis=-1, keepdims=True) - (k - n_above)  # ties at the k-th value left out
    below = jax.nn.logsumexp(jnp.where(a < kth, z_all, -jnp.inf), axis=-1, keepdims=True)
    ties = jnp.where(extra > 0, jnp.log(jnp.maximum(extra, 1).astype(a.dtype)) + (kth - zmax) / lam[..., None],
                     -jnp.inf)
    tail = jnp.logaddexp(below, ties)
    seq = jnp.concatenate([z_top, tail], axis=-1)
    L = jax.lax.cumlogsumexp(seq, axis=seq.ndim - 1, reverse=True)[..., :k]
    m = jnp.arange(k)
    head = (1.0 - m / k) * jnp.exp(z_top - L)  # largest rest weight when the first m entries are capped
    first = jnp.argmax(head <= (1.0 / k) * (1.0 + 1e-12), axis=-1)[..., None]
    pick = m == first  # one-hot selections (take_along_axis on top_k outputs is slow on CPU)
    L_first = jnp.sum(jnp.where(pick, L, 0.0), axis=-1, keepdims=True)
    share = 1.0 - first / k
    cap_at = jnp.sum(jnp.where(m == jnp.maximum(first - 1, 0), vals, 0.0), axis=-1, keepdims=True)
    capped = (first > 0) & (a >= cap_at)
    p = jnp.where(capped, 1.0 / k, share * jnp.exp(z_all - L_first)).astype(a.dtype)
    value = _dot_support(p, value_a) - value_lam * jnp.sum(_xlogkx(p, a.shape[-1]), axis=-1)
    return value, p


def _project_simplex(v):
    """Euclidean projection of each row of ``v`` onto the simplex (sort-based, exact)."""
    K = v.shape[-1]
    s = -jnp.sort(-v, axis=-1)
    css = jnp.cumsum(s, axis=-1) - 1.0
    j = jnp.arange(1, K + 1, dtype=v.dtype)
    cond = s - css / j > 0
    rho = jnp.sum(cond, axis=-1)
    theta = jnp.take_along_axis(css, (rho - 1)[..., None], axis=-1) / rho[..., None].astype(v.dtype)
    return jnp.maximum(v - theta, 0.0)


def _l2(a, lam):
    K = a.shape[-1]
    u = 1.0 / K
    p = _project_simplex(u + a / lam[..., None])
    return _dot_support(p, a) - 0.5 * lam * jnp.sum((p - u) ** 2, axis=-1), p


def _topk_none(a, k):
    top = jax.lax.top_k(a, k)[0]
    return jnp.mean(top, axis=-1)


def _mean(a):
    """The ``lam = inf`` solution: ``p = u``, the mean margin."""
    return jnp.mean(a, axis=-1), jnp.full(a.shape, 1.0 / a.shape[-1], a.dtype)


def _unregularised(a, k):
    """The ``R = 0`` solution: the mean of the k largest margins (k = 1: Crammer-Singer), ties sharing mass."""
    kth = jax.lax.top_k(a, k)[0][..., -1:]
    if k == 1:
        top = (a == kth).astype(a.dtype)
        return _max_margin(a), top / jnp.sum(top, axis=-1, keepdims=True)
    above = (a > kth).astype(a.dtype)  # ties at the k-th value share the remaining mass
    at = (a == kth).astype(a.dtype)
    rest = (1.0 - jnp.sum(above, axis=-1, keepdims=True) / k) / jnp.sum(at, axis=-1, keepdims=True)
    return _topk_none(a, k), above / k + at * rest


def _regularised(a, lam, reg, k):
    """The ``0 < lam < inf`` solution (``lam`` an array of shape ``a.shape[:-1]``)."""
    if reg == "l2":
        return _l2(a, lam)
    return _topk_kl(a, lam, k)


@functools.partial(jax.jit, static_argnames=("reg", "k", "mode"))
def _solve(logits, labels, margin, lam, *, reg, k, mode):
    """(value, p*) of the inner maximisation; ``mode`` is "cs"/"mean" for a concrete 0/inf, else lam is traced."""
    a = margin_vector(logits, labels, margin)
    if mode == "mean":
        return _mean(a)
    if mode == "cs":
        return _unregularised(a, k)
    if reg == "kl" and k == 1:
        return _ldr_kl_of_a(a, lam), _weights_of_a(a, lam)
    # lam is traced here (a jit argument: one compile serves a sweep): 0 and inf by where, NaN where invalid
    # (negative, NaN, or 0 for l2).
    lam = _traced_lam(lam, a.dtype)
    if reg == "l2":
        lam = nan_unless(lam > 0, lam)
    if reg == "none":
        value, p = _unregularised(a, k)
    else:
        special = (lam == 0) | jnp.isinf(lam)
        safe = jnp.broadcast_to(jnp.where(special, jnp.ones((), a.dtype), lam), a.shape[:-1])
        value, p = _regularised(a, safe, reg, k)
        v0, p0 = _unregularised(a, k)
        value, p = jnp.where(lam == 0, v0, value), jnp.where(lam == 0, p0, p)
    v_inf, p_inf = _mean(a)
    value, p = jnp.where(jnp.isinf(lam), v_inf, value), jnp.where(jnp.isinf(lam), p_inf, p)
    return nan_unless(~jnp.isnan(lam), value), nan_unless(~jnp.isnan(lam), p)


def _check(logits, labels, lam, margin, reg, k):
    lam = check_lam(lam)
    logits, labels = check_loss_inputs(logits, labels)
    K = logits.shape[-1]
    margin = check_margin(margin, K)
    check_choice("reg", reg, ("kl", "l2", "none"))
    k = check_int("k", k, low=1, high=K)
    if reg == "l2" and k != 1:
        raise ValueError("reg='l2' is implemented on the full simplex only (k = 1)")
    if reg == "l2" and not is_traced(lam) and lam == 0.0:
        raise ValueError("lam must be > 0 for reg='l2' (lam = 0 is the R = 0 case: use reg='none')")
    return logits, labels, lam, margin, k


def ldr_loss(logits, labels, *, lam, margin=0.0, reg="kl", k=1):
    r"""Per-example general LDR loss :math:`\max_{p\in\Omega_k}\langle p, a\rangle - \lambda R(p)`.

    Args:
        logits: floating ``[..., K]``; labels: integer ``[...]`` (input policy of :mod:`theory.losses`).
        lam: ``lambda >= 0`` (``inf`` gives the mean of ``a``; ``reg="l2"`` needs ``lam > 0``). May be traced,
            0 and inf included; a traced invalid ``lam`` (negative, NaN, or 0 for ``reg="l2"``) gives NaN.
        margin: scalar or ``[K, K]`` margin matrix (see :func:`theory.ldr.losses.ldr_kl_loss`).
        reg: ``"kl"`` (KL to uniform), ``"l2"`` (:math:`\frac12\lVert p-u\rVert^2`, k = 1 only) or ``"none"``.
        k: the constraint set :math:`\Omega_k = \{p\in\Delta_K: p \le 1/k\}`, ``1 <= k <= K``.

    Returns:
        Array ``[...]`` of per-example losses.

    Examples:
        >>> import jax.numpy as jnp
        >>> g, y = jnp.array([0.5, -1.0, 2.0, 0.0, 1.5]), jnp.array(1)
        >>> round(float(ldr_loss(g, y, lam=1.0, margin=0.2, reg="none", k=2)), 6)
        2.95
        >>> round(float(ldr_loss(g, y, lam=1.0, margin=0.2, reg="l2")), 6)
        2.8625

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), the general LDR loss; T. Yang, *Optimization for
        Machine Learning*, Sec. 2.1 and 2.5; docs/ldr.md, "Numerics" (inner solutions).
    """
    logits, labels, lam, margin, k = _check(logits, labels, lam, margin, reg, k)
    return _solve(logits, labels, margin, lam, reg=reg, k=k, mode=_mode(lam))[0]


def ldr_weights(logits, labels, *, lam, margin=0.0, reg="kl", k=1):
    """The maximising label distribution ``p*`` of :func:`ldr_loss` (same arguments), ``[..., K]``.

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), the maximiser of the general LDR inner problem.
    """
    logits, labels, lam, margin, k = _check(logits, labels, lam, margin, reg, k)
    return _solve(logits, labels, margin, lam, reg=reg, k=k, mode=_mode(lam))[1]
