r"""Exact (numerical) transformations: the ground truth that the closed-form bound functions are tested against.

The exact pointwise transformation of a comp-sum loss is

.. math::

    \mathcal T^*_{\tau,n}(t) = \inf\{\Delta C_\tau(h, p) : p \in \Delta_n,\ h \in \mathcal H,\
        \Delta C_{0-1}(h, p) = t\},

with the highest-index tie-breaking of predictions. Relabel so that label 0 is :math:`\arg\max p`
and label 1 is the prediction; then :math:`p_0 - p_1 = t` and the inner problem is
:math:`\min \sum_y p_y \Psi_\tau(S_y)` over softmax vectors with :math:`S_1 \ge S_j` (closure of the
set where 1 is predicted), optionally inside the box polytope.

**Exact inner reduction** (``tau < 2``, convex objective). At the optimum label 1 is tied with a
block :math:`A = \{0, 1\} \cup \{k \text{ largest other labels}\}`; averaging ``p`` over ``A`` gives
``p'`` and the inner minimum is the unconstrained best risk :math:`C^*(p')` (complete or box), for
the block with :math:`\bar p_A \ge p_j` for every :math:`j \notin A` (the minimum over such blocks).
For ``tau >= 2`` (concave objective) the minimum is at a vertex of
:math:`\{S : S_j \in \{m/K, m\},\ S_1 = m\}` (``K = e^{2\Lambda}``, ``K = inf`` when complete).
Only the outer minimum over the face :math:`\{p : p_0 = \max p,\ p_0 - p_1 = t\}` is numerical: a grid
with successive zooms (1-D for ``n = 3``, 2-D for ``n = 4``). The reduction is derived in
docs/compsum.md#exact-transformation.

These are numerical searches in NumPy (grids with zooms, golden sections, exact enumerations): they need
concrete inputs and do not run under ``jit``/``vmap``/``grad``. The closed form
:func:`bounded_logistic_transform` does.

References:
    Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Theorem 3.1 and its tightness discussion;
    Mao, Mohri, Zhong, *H-Consistency Bounds: Characterization and Extensions*, NeurIPS 2023
    (the comp-sum characterization and bounded hypothesis sets).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from theory._compat import keyword_only
from theory._validation import check_int, check_real, is_traced, nan_unless
from theory.compsum.bounds import _binary_logistic, _check_t
from theory.compsum.box import _psi, box_cstar_rows

__all__ = [
    "exact_transform",
    "characterization_transform",
    "characterization_transform_tau",
    "bounded_logistic_transform",
    "tightness_example",
]

_INV_GOLD = (math.sqrt(5.0) - 1.0) / 2.0
_ZOOMS = 8


#: ``n_classes`` is the deprecated name of ``num_classes`` (it keeps working and warns).
_renamed = keyword_only(renamed={"n_classes": "num_classes"})


def _concrete(owner: str, *args) -> None:
    if any(is_traced(a) for a in args):
        raise TypeError(f"{owner} is a numerical search in NumPy: its inputs must be concrete (not traced by "
                        "jit/vmap/grad)")


# --------------------------------------------------------------------------------------------------
# exact transformation T*
# --------------------------------------------------------------------------------------------------


def _inner_convex(p: np.ndarray, tau: float, lam: float) -> np.ndarray:
    """``min sum p Psi(S)`` over ``S_1 >= S_j`` (and the box), ``tau < 2``: block-averaging reduction."""
    m, n = p.shape
    rest = -np.sort(-p[:, 2:], axis=1)
    best = np.full(m, np.inf)
    for k in range(n - 1):
        mean = (p[:, 0] + p[:, 1] + rest[:, :k].sum(axis=1)) / (k + 2)
        feasible = np.ones(m, bool) if k == n - 2 else mean >= rest[:, k]
        if not feasible.any():
            continue
        averaged = np.concatenate([np.repeat(mean[feasible, None], k + 2, axis=1), rest[feasible, k:]], axis=1)
        best[feasible] = np.minimum(best[feasible], box_cstar_rows(averaged, tau, lam))
    return best


def _inner_vertex(p: np.ndarray, tau: float, lam: float) -> np.ndarray:
    """The same minimum for ``tau >= 2`` (concave): best vertex ``S_B = m, S_rest = m/K`` with ``1 in B``."""
    n = p.shape[1]
    others = -np.sort(-np.delete(p, 1, axis=1), axis=1)
    mass = p[:, 1:2] + np.concatenate([np.zeros((p.shape[0], 1)), np.cumsum(others, axis=1)], axis=1)
    k = np.arange(1, n + 1)[None, :]
    inv_k = 0.0 if math.isinf(lam) else math.exp(-2.0 * lam)
    top = 1.0 / (k + (n - k) * inv_k)
    vals = mass * _psi(top, tau) + np.clip(1.0 - mass, 0.0, None) * _psi(top * inv_k, tau)
    return vals.min(axis=1)


def _regret_floor(p: np.ndarray, tau: float, lam: float) -> np.ndarray:
    """``min_{S: label 1 predicted} C(S, p) - C*(p)`` for rows with label 0 the max and label 1 predicted."""
    inner = _inner_convex(p, tau, lam) if tau < 2.0 else _inner_vertex(p, tau, lam)
    return inner - box_cstar_rows(p, tau, lam)


def _face_points(t: np.ndarray, coords: np.ndarray, n: int) -> np.ndarray:
    """Map unit-cube coordinates to ``p`` on the face ``{p_0 = max p, p_0 - p_1 = t}``.

    ``coords[..., 0]`` sets the mass ``r`` of the labels ``2..n-1`` in ``[0, min(1-t, (n-2)(1+t)/n)]``
    (``r = 0`` exactly at 0, the two-label face), so ``p_0 = (1+t-r)/2`` and ``p_1 = (1-t-r)/2``; for
    ``n = 4``, ``coords[..., 1]`` splits ``r`` as ``p_2 >= p_3`` with ``p_2 in [r/2, min(p_0, r)]``
    (labels 2 and 3 are symmetric).
    """
    rem = coords[..., 0] * np.minimum(1.0 - t, (n - 2) * (1.0 + t) / n)
    a = (1.0 + t - rem) / 2.0
    cols = [a, (1.0 - t - rem) / 2.0]
    if n == 3:
        cols.append(rem)
    elif n == 4:
        b = rem / 2.0 + coords[..., 1] * np.clip(np.minimum(a, rem) - rem / 2.0, 0.0, None)
        cols += [b, rem - b]
    return np.stack(cols, axis=-1)


def _minimize_over_face(t: np.ndarray, tau: float, n: int, lam: float, grid: int) -> np.ndarray:
    """Grid-and-zoom minimum of the regret floor over the face, for every ``t`` at once."""
    dim = n - 2
    if dim == 0:
        p = np.stack([(1.0 + t) / 2.0, (1.0 - t) / 2.0], axis=-1)
        return _regret_floor(p, tau, lam)
    nt = t.shape[0]
    lo = np.zeros((nt, dim))
    hi = np.ones((nt, dim))
    best = np.full(nt, np.inf)
    axes = np.linspace(0.0, 1.0, grid)
    mesh = np.stack(np.meshgrid(*([axes] * dim), indexing="ij"), axis=-1).reshape(-1, dim)  # [G^dim, dim]
    for _ in range(_ZOOMS + 1):
        coords = lo[:, None, :] + mesh[None, :, :] * (hi - lo)[:, None, :]  # [nt, G^dim, dim]
        p = _face_points(t[:, None], coords, n).reshape(-1, n)
        vals = _regret_floor(p, tau, lam).reshape(nt, -1)
        i = np.argmin(vals, axis=1)
        best = np.minimum(best, vals[np.arange(nt), i])
        center = coords[np.arange(nt), i]
        step = (hi - lo) / (grid - 1)
        lo = np.clip(center - step, 0.0, 1.0)
        hi = np.clip(center + step, 0.0, 1.0)
    return best


@_renamed
def exact_transform(t, *, tau, num_classes, box=None, grid=None) -> np.ndarray:
    r"""The exact pointwise transformation :math:`\mathcal T^*_{\tau,n}(t)` (ground truth), for ``n <= 4``.

    .. math::

        \mathcal T^*_{\tau,n}(t) = \inf_{p \in \Delta_n,\ h \in \mathcal H}
            \{\Delta C_\tau(h, p) : \Delta C_{0-1}(h, p) = t\}

    ``box=None`` is the complete hypothesis set; ``box=Lambda`` bounds every score by
    :math:`|h_y| \le \Lambda` (then :math:`\Delta C_\tau` uses :math:`C^*_{\tau,\Lambda}`). The inner
    problem is solved exactly (module docstring); the face of ``p`` is searched with a grid and
    eight zooms, which resolves the minimizer to far below ``1e-8`` (the minimum could only be missed
    if a narrower basin than one grid cell existed). Values are clipped at 0 (round-off). This is the
    pointwise infimum; the best distribution-free transformation is its convex minorant. A numerical
    search in NumPy: concrete inputs only (no ``jit``/``vmap``/``grad``).

    Known values (docs/compsum.md#findings, claims ``compsum.exact_transform``, ``compsum.gce_not_tight``,
    ``compsum.box_flat_segment``): equal to :math:`\mathcal T_{\tau,n}` for ``tau in [0, 1]``; strictly
    above it for ``tau in (1, 2)``, ``n = 3``; ``0`` on :math:`[0, t_0(\Lambda, n)]` for boxes with ``n >= 3``.

    Args:
        t: zero-one regret(s) in ``[0, 1]`` (any shape).
        tau: comp-sum parameter, ``tau >= 0``.
        num_classes: ``n in {2, 3, 4}`` (``n_classes`` is its deprecated name).
        box: ``None`` / ``inf`` (complete) or :math:`\Lambda \ge 0`.
        grid: points per face dimension and zoom (default 201 for ``n = 3``, 41 for ``n = 4``).

    Returns:
        :math:`\mathcal T^*(t)` with the shape of ``t``.

    Examples:
        >>> round(float(exact_transform(0.1, tau=1.5, num_classes=3)), 6)
        0.007053

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Theorem 3.1 (tightness); NeurIPS 2023
        (bounded hypothesis sets).
    """
    _concrete("exact_transform", t, tau, box)
    tau = check_real("tau", tau, low=0.0)
    n = check_int("num_classes", num_classes, low=2, high=4)
    lam = math.inf if box is None else check_real("box", box, low=0.0, allow_inf=True)
    grid = (201 if n <= 3 else 41) if grid is None else check_int("grid", grid, low=5)
    t = _check_t(t)
    flat = np.atleast_1d(t).astype(np.float64).ravel()
    out = _minimize_over_face(flat, tau, n, lam, grid)
    return np.maximum(out, 0.0).reshape(np.shape(t))


# --------------------------------------------------------------------------------------------------
# characterization transformation of B
# --------------------------------------------------------------------------------------------------


def _check_convex_decreasing(phi: Callable) -> None:
    s = np.linspace(0.0, 1.0, 2049)[1:]
    v = np.asarray(phi(s), dtype=np.float64)
    if v.shape != s.shape or not np.all(np.isfinite(v)):
        raise ValueError("phi must map an array of softmax values in (0, 1] to finite reals of the same shape")
    tol = 64 * np.finfo(float).eps * (1.0 + np.max(np.abs(v)))
    if np.any(np.diff(v) > tol):
        raise ValueError("phi must be non-increasing on [0, 1]")
    if np.any(np.diff(v, 2) < -tol):
        raise ValueError("phi must be convex on [0, 1] (the characterization needs a convex phi)")


def _transfer_gain(phi, s, mu, t):
    """``((1+t)/2)[phi(s) - phi(s+mu)] + ((1-t)/2)[phi(s) - phi(s-mu)]`` with ``0 * inf = 0``."""
    w1, w2 = (1.0 + t) / 2.0, (1.0 - t) / 2.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # phi(0) = inf is allowed
        base = phi(s)
        g1 = np.where(w1 > 0, w1 * (base - phi(s + mu)), 0.0)
        g2 = np.where(w2 > 0, w2 * (base - phi(s - mu)), 0.0)
    return g1 + g2


def _sup_over_mu(phi, s, t):
    """``sup_{mu in [-s, s]}`` of the transfer gain (concave in mu): vectorised golden section."""
    lo, hi = -s, s.copy()
    x1 = hi - _INV_GOLD * (hi - lo)
    x2 = lo + _INV_GOLD * (hi - lo)
    f1, f2 = _transfer_gain(phi, s, x1, t), _transfer_gain(phi, s, x2, t)
    for _ in range(80):
        left = f1 >= f2
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
        new = np.where(left, hi - _INV_GOLD * (hi - lo), lo + _INV_GOLD * (hi - lo))
        f_new = _transfer_gain(phi, s, new, t)
        x2, f2, x1, f1 = (
            np.where(left, x1, new),
            np.where(left, f1, f_new),
            np.where(left, new, x2),
            np.where(left, f_new, f2),
        )
    cands = [_transfer_gain(phi, s, m, t) for m in (0.5 * (lo + hi), np.zeros_like(s), s, -s)]
    return np.max(np.nan_to_num(np.stack(cands), nan=-np.inf), axis=0)


def _char(t: np.ndarray, phi, n: int, grid: int) -> np.ndarray:
    flat = np.atleast_1d(t).ravel()
    s_lo, s_hi = np.full(flat.shape, 1.0 / n), np.full(flat.shape, 0.5)
    best = np.full(flat.shape, np.inf)
    axes = np.linspace(0.0, 1.0, grid)
    for _ in range(_ZOOMS + 1):
        s = s_lo[:, None] + axes[None, :] * (s_hi - s_lo)[:, None]
        vals = _sup_over_mu(phi, s, np.broadcast_to(flat[:, None], s.shape))
        i = np.argmin(vals, axis=1)
        rows = np.arange(flat.size)
        best = np.minimum(best, vals[rows, i])
        step = (s_hi - s_lo) / (grid - 1)
        center = s[rows, i]
        s_lo, s_hi = np.maximum(center - step, 1.0 / n), np.minimum(center + step, 0.5)
    return np.maximum(best, 0.0).reshape(np.shape(t))


@_renamed
def characterization_transform(t, *, phi, num_classes, grid=101) -> np.ndarray:
    r"""The characterization transformation :math:`\mathcal T^{\rm char}_{\Phi,n}` of B for a loss ``Phi(S_y)``.

    .. math::

        \mathcal T^{\rm char}_{\Phi,n}(t) = \inf_{s \in [1/n, 1/2]}\ \sup_{\mu \in [-s, s]}
            \Big\{\tfrac{1+t}{2}[\Phi(s) - \Phi(s+\mu)] + \tfrac{1-t}{2}[\Phi(s) - \Phi(s-\mu)]\Big\}

    ``s`` is the softmax value shared by the prediction and the most likely label, ``mu`` the mass
    moved between them. The inner sup is concave in ``mu`` (golden section, vectorised); the outer inf
    is a grid over ``s`` with zooms. Valid only for convex non-increasing ``phi`` (checked on a grid;
    a concave ``phi`` such as ``Psi_tau`` with ``tau > 2`` gives a non-zero value at ``t = 0``). A
    numerical search in NumPy: concrete inputs only (no ``jit``/``vmap``/``grad``).

    Args:
        t: zero-one regret(s) in ``[0, 1]``.
        phi: vectorised callable on softmax values in ``[0, 1]``, convex and non-increasing
            (``phi(0)`` may be ``inf``), e.g. ``lambda s: (1 - s)**2``.
        num_classes: ``n >= 2`` (``n_classes`` is its deprecated name).
        grid: points of the ``s`` grid per zoom (``>= 5``).

    Returns:
        :math:`\mathcal T^{\rm char}(t)` with the shape of ``t``.

    Examples:
        >>> round(float(characterization_transform(0.5, phi=lambda s: (1 - s) ** 2, num_classes=3)), 6)
        0.0625

    References:
        Mao, Mohri, Zhong, *H-Consistency Bounds: Characterization and Extensions*, NeurIPS 2023,
        the comp-sum characterization theorem.
    """
    if not callable(phi):
        raise TypeError(f"phi must be a callable on softmax values, got {type(phi).__name__}")
    _concrete("characterization_transform", t)
    n = check_int("num_classes", num_classes, low=2)
    grid = check_int("grid", grid, low=5)
    t = _check_t(t)
    _check_convex_decreasing(phi)
    return _char(t, phi, n, grid)


@_renamed
def characterization_transform_tau(t, *, tau, num_classes, grid=101) -> np.ndarray:
    r""":math:`\mathcal T^{\rm char}_{\Psi_\tau,n}(t)` for the comp-sum loss :math:`\Psi_\tau`, ``tau in [0, 2]``.

    .. math::

        \Psi_\tau(s) = \frac{s^{\tau-1} - 1}{1-\tau}\ (\tau \ne 1), \quad -\log s\ (\tau = 1)

    Reproduces :math:`\mathcal T_{\tau,n}` of ICML 2023, Theorem 3.1, for every ``tau in [0, 2]``
    (including the :math:`n^{\tau-1}` factor). Raises ``ValueError`` for ``tau > 2``: :math:`\Psi_\tau` is
    concave there and the characterization does not apply. A numerical search in NumPy (no ``jit``).

    Args:
        t: zero-one regret(s) in ``[0, 1]``.
        tau: comp-sum parameter in ``[0, 2]``.
        num_classes: ``n >= 2`` (``n_classes`` is its deprecated name).
        grid: points of the ``s`` grid per zoom.

    Returns:
        :math:`\mathcal T^{\rm char}(t)` with the shape of ``t``.

    References:
        Mao, Mohri, Zhong, NeurIPS 2023, the comp-sum characterization; ICML 2023 (arXiv 2304.07288),
        Theorem 3.1.
    """
    _concrete("characterization_transform_tau", t, tau)
    tau = check_real("tau", tau, low=0.0)
    if tau > 2.0:
        raise ValueError(
            f"tau must lie in [0, 2] for the characterization: Psi_tau is concave for tau > 2, got {tau}"
        )
    n = check_int("num_classes", num_classes, low=2)
    grid = check_int("grid", grid, low=5)
    t = _check_t(t)
    return _char(t, lambda s: _psi(s, tau), n, grid)


# --------------------------------------------------------------------------------------------------
# bounded logistic (n = 2) and tightness constructions
# --------------------------------------------------------------------------------------------------


def bounded_logistic_transform(t, *, lam) -> np.ndarray:
    r"""Exact transformation of the logistic loss for **two** classes and scores :math:`|h_y| \le \Lambda`.

    .. math::

        \mathcal T_\Lambda(t) = \begin{cases}
            \frac{1+t}{2}\log(1+t) + \frac{1-t}{2}\log(1-t) & t \le \tanh\Lambda \\
            t\Lambda - \log\cosh\Lambda & t > \tanh\Lambda
        \end{cases}

    Only ``n = 2`` is exposed: for ``n >= 3`` the exact box transformation vanishes on
    :math:`[0, t_0(\Lambda, n)]` (see :func:`theory.compsum.box.t0_threshold`), so no such closed form
    with :math:`\mathcal T(0) = 0` can be a valid bound there. ``lam = inf`` gives the complete case.
    Works under ``jit``/``vmap``/``grad`` (in ``t`` and ``lam``); an invalid traced input gives NaN.

    Args:
        t: zero-one regret(s) in ``[0, 1]``.
        lam: score bound :math:`\Lambda \ge 0` (``inf`` allowed).

    Returns:
        :math:`\mathcal T_\Lambda(t)` with the shape of ``t``.

    Examples:
        >>> round(float(bounded_logistic_transform(0.6, lam=0.25)), 6)
        0.11907

    References:
        Mao, Mohri, Zhong, NeurIPS 2023 (bounded hypothesis sets, logistic loss), for ``n = 2``.
    """
    if is_traced(t) or is_traced(lam):
        dtype = jnp.result_type(t, lam, float)
        return _bounded_logistic_jnp(jnp.asarray(t, dtype), jnp.asarray(lam, dtype))
    lam = check_real("lam", lam, low=0.0, allow_inf=True)
    t = _check_t(t)
    inner = _binary_logistic(np.atleast_1d(t)).reshape(np.shape(t))
    if math.isinf(lam):
        return inner
    log_cosh = lam + math.log1p(math.exp(-2.0 * lam)) - math.log(2.0)
    return np.where(t <= math.tanh(lam), inner, t * lam - log_cosh)


@jax.jit  # one compiled program per shape for eager (e.g. vmapped) calls; inlined under a caller's jit
def _bounded_logistic_jnp(t, lam):
    inner = _binary_logistic(jnp.atleast_1d(t).ravel(), jnp).reshape(jnp.shape(t))
    finite = jnp.isfinite(lam)
    lam_f = jnp.where(finite, lam, 1.0)
    log_cosh = lam_f + jnp.log1p(jnp.exp(-2.0 * lam_f)) - jnp.log(2.0)
    out = jnp.where(finite & (t > jnp.tanh(lam_f)), t * lam_f - log_cosh, inner)
    return nan_unless((lam >= 0) & (t >= 0) & (t <= 1), out)


@keyword_only(renamed={"n_classes": "num_classes", "K": "logit_gap"})
def tightness_example(t, *, tau, num_classes, logit_gap=40.0) -> tuple[np.ndarray, np.ndarray]:
    r"""A single-point distribution on which the bound :math:`\mathcal T_{\tau,n}` is attained (where it is).

    .. math::

        \tau \in [0,1]:\ p = (\tfrac{1+t}{2}, \tfrac{1-t}{2}, 0, \dots),\ h = (0, 0, -g, \dots),
        \quad \Delta C_\tau \to \mathcal T_{\tau,n}(t)\ (g \to \infty);

        \tau = 2,\ t \le \tfrac{1}{n-1}:\ p = (a, \dots, a, a - t),\ a = \tfrac{1+t}{n},\ h = 0,
        \quad \Delta C_2 = t/n\ \text{exactly};

        n = 2,\ \tau \in (1, 2]:\ p = (\tfrac{1+t}{2}, \tfrac{1-t}{2}),\ h = 0 \ \text{(exact)}.

    Ties are broken toward the highest index, so the prediction is label 1 (label ``n-1`` for
    MAE) and :math:`\Delta C_{0-1} = t`. Tightness is **false** elsewhere (``tau in (1, 2)`` with
    ``n >= 3``, ``tau > 2``, MAE with ``t > 1/(n-1)``); those requests raise ``ValueError``. Builds NumPy
    arrays case by case (concrete inputs only).

    Args:
        t: zero-one regret in ``[0, 1]`` (scalar).
        tau: comp-sum parameter (see the cases above).
        num_classes: ``n >= 2`` (``n_classes`` is its deprecated name).
        logit_gap: the gap ``g > 0`` between the two top logits and those of the zero-probability labels
            (default 40); the surrogate regret exceeds :math:`\mathcal T` by :math:`O(e^{-g})`. ``K`` is its
            deprecated name.

    Returns:
        ``(logits, p)``, two float64 arrays of shape ``[n]``.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Theorem 3.1 (tightness); where tightness holds
        and where it fails: docs/compsum.md#findings (finding 2) and the claims ``compsum.tightness`` and
        ``compsum.gce_not_tight``.
    """
    _concrete("tightness_example", t, tau)
    t = check_real("t", t, low=0.0, high=1.0)
    tau = check_real("tau", tau, low=0.0)
    n = check_int("num_classes", num_classes, low=2)
    gap = check_real("logit_gap", logit_gap, low=0.0, low_open=True)
    if tau <= 1.0:
        p = np.zeros(n)
        p[:2] = (1.0 + t) / 2.0, (1.0 - t) / 2.0
        h = np.full(n, -gap)
        h[:2] = 0.0
        return h, p
    if n == 2 and tau <= 2.0:
        return np.zeros(2), np.array([(1.0 + t) / 2.0, (1.0 - t) / 2.0])
    if tau == 2.0:
        if t > 1.0 / (n - 1):
            raise ValueError(f"t must be <= 1/(num_classes-1) = {1.0 / (n - 1):g} for the MAE tightness example, "
                             f"got {t}")
        a = (1.0 + t) / n
        p = np.full(n, a)
        p[-1] = max(a - t, 0.0)  # a - t = 0 at t = 1/(n-1), up to round-off
        return np.zeros(n), p
    raise ValueError(
        f"tau = {tau} with num_classes = {n}: the bound is not tight there (tightness holds for tau in [0, 1], "
        "tau = 2 with t <= 1/(n-1), and n = 2 with tau <= 2)"
    )
