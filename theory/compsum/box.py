r"""Best-in-class conditional risk of comp-sum losses for box-bounded scores :math:`|h_y| \le \Lambda`.

Only logit differences matter, so the feasible softmax vectors form the polytope

.. math::

    \mathcal P_\Lambda = \{S \in \Delta_n : S_i \le e^{2\Lambda} S_j \ \forall i, j\},
    \qquad
    C^*_{\tau,\Lambda}(p) = \min_{S \in \mathcal P_\Lambda} \sum_y p_y\,\Psi_\tau(S_y).

For ``tau < 2`` the objective is strictly convex. With :math:`\ell = \min_y S_y` and
:math:`K = e^{2\Lambda}` the constraint reads :math:`\ell \le S_y \le K\ell`; for fixed
:math:`\ell` the minimizer is :math:`S_y = \mathrm{clip}(c\,p_y^{1/(2-\tau)}, \ell, K\ell)` and the
partial minimum is convex in :math:`\ell` (a 1-D convex search would do). Here that 1-D problem is solved
in closed form: for labels sorted by ``p``, with ``a >= 1`` labels at :math:`K\ell`, ``b >= 1`` at
:math:`\ell` and the rest interior, stationarity in :math:`\ell` gives
:math:`S_y = \ell\,(p_y/\kappa)^{1/(2-\tau)}` inside, with
:math:`\kappa = (p(\mathrm{bottom}) + K^{\tau-1} p(\mathrm{top}))/(b + aK)`, and :math:`\ell` from
:math:`\sum_y S_y = 1`. The minimum is the best feasible candidate over the :math:`O(n^2)` patterns
and the unconstrained :math:`S \propto p^{1/(2-\tau)}`. No iteration, exact up to round-off.
For ``tau >= 2`` the objective is concave (linear at 2) and the minimum sits at a vertex: the ``k``
largest-``p`` labels at :math:`K\ell`, the rest at :math:`\ell = 1/(kK + n - k)`.

Everything here is exact mathematics in float64 NumPy; rows of ``p`` are solved together. The
enumeration (sorting, pattern masks, the choice of the best feasible candidate) needs concrete inputs:
these functions do not run under ``jit``/``vmap``/``grad``. The complete case (``lam = inf``) does, through
:func:`theory.compsum.min_conditional_risk`; so does :func:`t0_threshold`.

References:
    Mao, Mohri, Zhong, *H-Consistency Bounds: Characterization and Extensions*, NeurIPS 2023
    (bounded hypothesis sets); Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from theory._compat import keyword_only
from theory._validation import check_int, check_real, check_simplex, is_traced, nan_unless
from theory.compsum import _kernels as K

__all__ = ["min_conditional_risk_box", "box_minimizer_softmax", "t0_threshold"]

_MAX_LOG_K = 700.0  # beyond e^{700} the box cannot bind in float64: use the complete case


def _psi(s, tau: float) -> np.ndarray:
    """``Psi_tau(s)`` without validation; ``s = 0`` gives ``inf`` (tau <= 1) or ``1/(tau-1)``."""
    return K.psi(s, tau, np)


def _risk(p: np.ndarray, s: np.ndarray, tau: float) -> np.ndarray:
    """``sum_y p_y Psi_tau(S_y)`` over the last axis, with ``0 * inf = 0``."""
    with np.errstate(invalid="ignore"):
        return np.where(p > 0, p * _psi(s, tau), 0.0).sum(axis=-1)


def _check_args(p, tau, lam) -> tuple[np.ndarray, float, float]:
    if any(is_traced(a) for a in (p, tau, lam)):
        raise TypeError("the box-bounded minimum is an exact enumeration in NumPy: p, tau and lam must be "
                        "concrete (not traced by jit/vmap/grad)")
    tau = check_real("tau", tau, low=0.0)
    lam = check_real("lam", lam, low=0.0, allow_inf=True)
    p = check_simplex("p", p)
    if p.shape[-1] < 2:
        raise ValueError(f"p must have n >= 2 classes along its last axis, got shape {p.shape}")
    return p, tau, lam


# --------------------------------------------------------------------------------------------------
# tau < 2: closed-form KKT solution for every active pattern
# --------------------------------------------------------------------------------------------------


def _patterns(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Active patterns on labels sorted by decreasing ``p``: ``a >= 1`` at the top bound, ``b >= 1`` at
    the bottom bound, the rest interior. Returns boolean masks ``top, bottom`` of shape ``[P, n]``."""
    pairs = [(a, b) for a in range(1, n) for b in range(1, n - a + 1)]
    idx = np.arange(n)
    top = np.array([idx < a for a, _ in pairs])
    bottom = np.array([idx >= n - b for _, b in pairs])
    return top, bottom


def _kkt_rows(p: np.ndarray, tau: float, log_k: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Minimal risk and minimizer of each row (``tau < 2``, finite box) by enumerating KKT patterns.

    With ``ell = min S``, ``K = e^{2 Lambda}``, ``a`` labels at ``K ell`` (set ``T``), ``b`` labels at
    ``ell`` (set ``B``) and the rest interior, stationarity in ``S`` gives
    ``S_y = (p_y / nu)^{1/(2-tau)}`` inside, and stationarity in ``ell`` gives
    ``nu = ell^{tau-2} kappa`` with ``kappa = (p(B) + K^{tau-1} p(T)) / (b + a K)``. Hence
    ``S_y = ell (p_y/kappa)^{1/(2-tau)}`` inside and ``ell = 1/(a K + b + sum_inside (p_y/kappa)^r)``.
    The optimum is the best feasible candidate (each feasible candidate is an upper bound, and the
    optimum satisfies KKT with one of these patterns, or is the unconstrained ``S ∝ p^r``).
    """
    m, n = p.shape
    r = 1.0 / (2.0 - tau)
    big = math.exp(log_k)
    order = np.argsort(-p, axis=1, kind="stable")
    ps = np.take_along_axis(p, order, axis=1)
    with np.errstate(divide="ignore"):
        logp = np.log(ps)
    top, bottom = _patterns(n)  # [P, n]
    mid = ~(top | bottom)
    mass_top = ps @ top.T  # [m, P]
    mass_bottom = ps @ bottom.T
    a, b = top.sum(axis=1), bottom.sum(axis=1)
    log_kappa = np.log(mass_bottom + math.exp((tau - 1.0) * log_k) * mass_top) - np.log(b + a * big)
    with np.errstate(over="ignore", invalid="ignore"):
        ratio = np.exp(r * (logp[:, None, :] - log_kappa[:, :, None]))  # (p_y/kappa)^r, [m, P, n]
        ratio = np.where(mid, ratio, 0.0)
        ell = 1.0 / (a * big + b + ratio.sum(axis=2))  # [m, P]
        s = np.where(top, big, np.where(bottom, 1.0, ratio)) * ell[:, :, None]
    tol = 1e-12
    feasible = np.all(np.where(mid, (ratio >= 1.0 - tol) & (ratio <= big * (1.0 + tol)), True), axis=2)
    feasible &= np.isfinite(ell) & (ell > 0)
    # the unconstrained optimum S ∝ p^r, when it already lies in the box
    free = np.exp(r * (logp - logp[:, :1]))
    free = free / free.sum(axis=1, keepdims=True)
    free_ok = (ps[:, -1] > 0) & (r * (logp[:, 0] - logp[:, -1]) <= log_k * (1.0 + tol))
    s = np.concatenate([s, free[:, None, :]], axis=1)
    feasible = np.concatenate([feasible, free_ok[:, None]], axis=1)
    vals = np.where(feasible, _risk(ps[:, None, :], np.where(feasible[:, :, None], s, 1.0), tau), np.inf)
    k = np.argmin(vals, axis=1)
    rows = np.arange(m)
    s_best = np.empty_like(p)
    np.put_along_axis(s_best, order, s[rows, k], axis=1)
    return vals[rows, k], s_best


# --------------------------------------------------------------------------------------------------
# tau >= 2: vertex enumeration
# --------------------------------------------------------------------------------------------------


def _vertex_rows(p: np.ndarray, tau: float, log_k: float) -> tuple[np.ndarray, np.ndarray]:
    """Minimal risk and a minimizing vertex of each row (``tau >= 2``, concave objective)."""
    m, n = p.shape
    order = np.argsort(-p, axis=1, kind="stable")
    mass = np.cumsum(np.take_along_axis(p, order, axis=1), axis=1)  # mass of the k largest labels
    k = np.arange(1, n + 1)
    big = math.exp(log_k)
    ell = 1.0 / (k * big + n - k)
    vals = mass * _psi(big * ell, tau) + np.clip(1.0 - mass, 0.0, None) * _psi(ell, tau)
    kbest = np.argmin(vals, axis=1)
    s_sorted = np.where(np.arange(n)[None, :] <= kbest[:, None], big, 1.0) * ell[kbest][:, None]
    s = np.empty_like(p)
    np.put_along_axis(s, order, s_sorted, axis=1)
    return vals[np.arange(m), kbest], s


def _solve_rows(p: np.ndarray, tau: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Minimal risk and minimizer for a finite box, rows ``[m, n]`` (no validation)."""
    n = p.shape[1]
    if lam == 0.0:
        s = np.full_like(p, 1.0 / n)
        return np.full(p.shape[0], float(_psi(1.0 / n, tau))), s
    log_k = 2.0 * lam
    if tau >= 2.0:
        return _vertex_rows(p, tau, log_k)
    return _kkt_rows(p, tau, log_k)


def _complete_minimizer(p: np.ndarray, tau: float) -> np.ndarray:
    """The (closure) minimizer for complete scores: ``S ∝ p^{1/(2-tau)}``, or ``e_{argmax p}``."""
    if tau >= 2.0:
        return np.eye(p.shape[-1])[np.argmax(p, axis=-1)]
    r = 1.0 / (2.0 - tau)
    with np.errstate(divide="ignore"):
        w = np.exp(r * (np.log(p) - np.log(p.max(axis=-1, keepdims=True))))
    return w / w.sum(axis=-1, keepdims=True)


def box_cstar_rows(p: np.ndarray, tau: float, lam: float) -> np.ndarray:
    """Internal, unvalidated :math:`C^*_{\\tau,\\Lambda}` for rows ``[m, n]``; ``lam = inf`` is the
    complete case, evaluated without cancellation near ``tau = 1`` or underflow near ``tau = 2``."""
    if 2.0 * lam > _MAX_LOG_K:
        return K.min_risk_complete(p, tau, np)
    return _solve_rows(p, tau, lam)[0]


def min_conditional_risk_box(p, *, tau, lam) -> np.ndarray:
    r"""Best conditional risk :math:`C^*_{\tau,\Lambda}(p)` over box-bounded scores :math:`|h_y| \le \Lambda`.

    .. math::

        C^*_{\tau,\Lambda}(p) = \min_{S \in \Delta_n,\ S_i \le e^{2\Lambda} S_j}
            \sum_y p_y\,\Psi_\tau(S_y)

    Exact up to round-off: closed-form KKT candidates for ``tau < 2``, vertex enumeration for
    ``tau >= 2`` (see the module docstring). Special cases:
    :math:`C^*_{\tau,\Lambda}(e_y) = \Phi^\tau((n-1)e^{-2\Lambda})`, :math:`C^*_{\tau,0} = \Psi_\tau(1/n)`,
    and ``lam = inf`` is the complete case :math:`C^*_\tau(p)`.

    Args:
        p: label distribution(s), shape ``[..., n]`` with ``n >= 2`` (rows on the simplex).
        tau: comp-sum parameter, ``tau >= 0``.
        lam: score bound :math:`\Lambda \ge 0` (``inf`` allowed).

    Returns:
        Array of shape ``p.shape[:-1]``.

    Examples:
        >>> round(float(min_conditional_risk_box([1.0, 0.0, 0.0], tau=1.0, lam=1.0)), 10)
        0.2395447662

    References:
        Mao, Mohri, Zhong, NeurIPS 2023 (bounded hypothesis sets); ICML 2023 (arXiv 2304.07288),
        Section 4 (minimal conditional risks of comp-sum losses).
    """
    p, tau, lam = _check_args(p, tau, lam)
    rows = p.reshape(-1, p.shape[-1])
    return box_cstar_rows(rows, tau, lam).reshape(p.shape[:-1])


def box_minimizer_softmax(p, *, tau, lam) -> np.ndarray:
    r"""A softmax vector :math:`S^* \in \mathcal P_\Lambda` attaining :math:`C^*_{\tau,\Lambda}(p)`.

    .. math::

        S^* \in \operatorname*{arg\,min}_{S \in \Delta_n,\ S_i \le e^{2\Lambda} S_j}
            \sum_y p_y\,\Psi_\tau(S_y)

    Unique for ``tau < 2`` on the labels with ``p_y > 0``; for ``tau >= 2`` a minimizing vertex.
    Logits realizing it inside the box are ``h = log S* - (max log S* + min log S*)/2``. With
    ``lam = inf`` the infimum need not be attained; the (closure) point :math:`S \propto p^{1/(2-\tau)}`
    (``tau < 2``) or :math:`e_{\arg\max p}` (``tau >= 2``) is returned.

    Args:
        p: label distribution(s), shape ``[..., n]`` with ``n >= 2``.
        tau: comp-sum parameter, ``tau >= 0``.
        lam: score bound :math:`\Lambda \ge 0` (``inf`` allowed).

    Returns:
        Array with the shape of ``p``.

    References:
        Mao, Mohri, Zhong, NeurIPS 2023 (bounded hypothesis sets).
    """
    p, tau, lam = _check_args(p, tau, lam)
    rows = p.reshape(-1, p.shape[-1])
    if 2.0 * lam > _MAX_LOG_K:
        s = _complete_minimizer(rows, tau)
    else:
        s = _solve_rows(rows, tau, lam)[1]
    return s.reshape(p.shape)


@keyword_only("lam", "num_classes", renamed={"n": "num_classes"})
def t0_threshold(*, lam, num_classes):
    r"""End of the flat segment of the exact box-bounded transformation for ``num_classes >= 3``.

    .. math::

        t_0(\Lambda, n) = \frac{(n-2)e^{-2\Lambda}}{2 + (n-2)e^{-2\Lambda}}

    For every ``tau < 2`` the exact pointwise transformation of box-bounded scores is zero on
    :math:`[0, t_0]`: ``p = ((1+t)/2, (1-t)/2, 0, ...)`` and ``h = (Lambda, Lambda, -Lambda, ...)``
    give zero surrogate regret with zero-one regret ``t``. So no bound with :math:`\Gamma(0) = 0`
    holds there. ``t_0 = 0`` for ``n = 2``. Works under ``jit``/``vmap``/``grad`` (in ``lam``); an invalid
    traced argument gives NaN.

    Args:
        lam: score bound :math:`\Lambda \ge 0` (``inf`` gives 0), keyword-only.
        num_classes: number of classes, ``n >= 2`` (``n`` is its deprecated name), keyword-only. The old
            positional call ``t0_threshold(lam, n)`` keeps working and warns.

    Returns:
        :math:`t_0 \in [0, 1)` (a float for concrete inputs).

    Examples:
        >>> round(t0_threshold(lam=0.5, num_classes=6), 5)
        0.42388

    References:
        Mao, Mohri, Zhong, NeurIPS 2023 (bounded hypothesis sets); a counterexample checked by the library,
        not a statement of the paper: docs/compsum.md#findings (finding 1) and the claim
        ``compsum.box_flat_segment``.
    """
    if is_traced(lam) or is_traced(num_classes):
        return _t0_threshold_jnp(lam, num_classes)
    lam = check_real("lam", lam, low=0.0, allow_inf=True)
    n = check_int("num_classes", num_classes, low=2)
    z = (n - 2) * math.exp(-2.0 * lam)
    return z / (2.0 + z)


@jax.jit  # one compiled program per shape for eager (e.g. vmapped) calls; inlined under a caller's jit
def _t0_threshold_jnp(lam, num_classes):
    z = (num_classes - 2) * jnp.exp(-2.0 * lam)
    return nan_unless((lam >= 0) & (num_classes >= 2), z / (2.0 + z))
