r"""ALDR-KL: the LDR-KL loss with a per-instance temperature chosen adversarially, solved exactly.

.. math::

    \psi^A(f, y) = \max_{\lambda \ge \lambda_{min}} h(\lambda), \qquad
    h(\lambda) = \psi_\lambda(f, y) - \frac{\alpha}{2}(\lambda - \lambda_0)^2 .

Every maximiser satisfies :math:`\lambda^* = \lambda_0 - \mathrm{KL}(p^*_{\lambda^*}\|u)/\alpha \in
[\lambda_0 - \log K/\alpha, \lambda_0]`, so :math:`\lambda^* > 0` for all inputs iff
:math:`\alpha > \log K/\lambda_0`. ``h`` need not be concave (:math:`h'' = \mathrm{Var}_{p^*}(a)/\lambda^3 - \alpha`),
so :func:`aldr_kl_solve` certifies its answer: a Newton step and safeguarded secant steps on
:math:`h'(\lambda) = -\mathrm{KL}(p^*_\lambda\|u) - \alpha(\lambda-\lambda_0)` from
:math:`z = \lambda_0 - \mathrm{KL}_{\lambda_0}/\alpha`, vectorised over the batch, then bounds on
:math:`\mathrm{Var}_{p^*_t}(a)` and the monotonicity of KL in the temperature that prove the point found is the
global maximiser; the rare rows without that proof take a grid search with bisection in the best cell. The
gradient in the logits is the LDR-KL gradient at
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
from theory.ldr.losses import _by_chunks, _kl_to_uniform, _psi, _psi_value, check_margin, margin_vector

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


def _grid_search(a, lam0, alpha, lo, grid, iters):
    """The maximiser of h on [lo, lam0] per row by a grid of ``grid`` points and ``iters`` bisection steps on h' in
    the cells around the best grid point, keeping the best value seen (the search of the rows the certificate of
    :func:`_local_solve` does not cover)."""
    t = jnp.linspace(0.0, 1.0, grid, dtype=a.dtype)
    lams = lo[..., None] + (lam0 - lo)[..., None] * t  # [..., G]
    hv = _h(a[..., None, :], lams, lam0[..., None], alpha[..., None])  # [..., G]
    i = jnp.argmax(hv, axis=-1)[..., None]
    left = jnp.take_along_axis(lams, jnp.maximum(i - 1, 0), axis=-1)[..., 0]
    right = jnp.take_along_axis(lams, jnp.minimum(i + 1, grid - 1), axis=-1)[..., 0]
    best_lam = jnp.take_along_axis(lams, i, axis=-1)[..., 0]
    best_h = jnp.max(hv, axis=-1)

    def body(_, lr):
        left, right = lr
        mid = 0.5 * (left + right)
        up = _dh(a, mid, lam0, alpha) > 0
        return jnp.where(up, mid, left), jnp.where(up, right, mid)

    left, right = jax.lax.fori_loop(0, iters, body, (left, right))
    cand = 0.5 * (left + right)
    return jnp.where(_h(a, cand, lam0, alpha) >= best_h, cand, best_lam)


class _Point(typing.NamedTuple):
    """One evaluation at ``lam`` per row: ``h``, ``F = -h' = KL(p*||u) - alpha (lam0 - lam)``, ``kl``,
    ``mu = E_p[a] - m``, the rounding scale ``err`` of F, and (with the second moment) ``Q = E_p[(a - m)^2]`` and
    ``var = Var_p(a)`` (upper bounds up to rounding; zero without it)."""

    lam: jax.Array
    h: jax.Array
    F: jax.Array
    kl: jax.Array
    mu: jax.Array
    err: jax.Array
    Q: jax.Array
    var: jax.Array


def _moment(a, m, beta, j):
    """``sum_k e^{g_k beta} g_k^j`` with ``g = a - m <= 0``: one fused pass over ``a``, ``g`` and the exponential
    recomputed in it. A masked class (``a_k = -inf``) sits at a large finite negative floor (weight 0, ``g^2``
    finite), given per row: XLA materialised a scalar floor as a batch-sized operand of every pass. The barrier
    keeps XLA from sharing one materialised exponential (or ``g``) array between the moments, which costs more
    than recomputing it; it carries ``j`` so that the barriers of two moments differ (identical barriers were
    merged, and the shared arrays came back: four batch-sized temporaries, 66 MB at (4096, 1000), where one is
    needed)."""
    floor = jnp.full_like(m, -math.sqrt(float(jnp.finfo(m.dtype).max)) / 4.0)
    a, m, floor, beta, _ = jax.lax.optimization_barrier((a, m, floor, beta, jnp.int32(j)))
    g = jnp.maximum(a - m[..., None], floor[..., None])
    e = jnp.exp(g * beta[..., None])
    return jnp.sum(e if j == 0 else e * g if j == 1 else e * g * g, axis=-1)


def _point(a, m, lam, lam0, alpha, second=False):
    """:class:`_Point` of the margins ``a`` at ``lam``, with ``g = a - m`` (:func:`_moment`; ``m = max_k a_k``):
    ``S_j = sum_k e^{g_k/lam} g_k^j``, ``psi = m + lam log(S0/K)``, ``mu = S1/S0``, ``KL = mu/lam - log(S0/K)``,
    ``Q = S2/S0``, ``Var = Q - mu^2``; two exponential passes (three with ``second``)."""
    K = a.shape[-1]
    eps = float(jnp.finfo(a.dtype).eps)
    beta = 1.0 / lam
    S0 = _moment(a, m, beta, 0)
    mu = _moment(a, m, beta, 1) / S0
    logm = jnp.log(S0) - math.log(K)
    kl = beta * mu - logm
    h = m + lam * logm - 0.5 * alpha * (lam - lam0) ** 2
    F = kl - alpha * (lam0 - lam)
    err = 16.0 * eps * (1.0 + jnp.abs(beta * mu) + jnp.abs(logm) + alpha * lam0)
    if second:
        Q = _moment(a, m, beta, 2) / S0
        var = jnp.maximum(Q - mu * mu, 0.0) + 16.0 * eps * Q  # the rounding of the difference: an upper bound
        Q = Q * (1.0 + 16.0 * eps)
    else:
        Q = var = jnp.zeros_like(h)
    return _Point(lam, h, F, kl, mu, err, Q, var)


def _integral_bound(L, V, Q, u_x, u_lo, lo):
    r""":math:`\int_{lo}^{x}(t - lo)\,\bar V(t)\,t^{-3}dt` for :math:`\bar V(t) = \min(Q, V e^{L(1/t - 1/x)})`, in
    ``u = 1/t``: :math:`\int_{u_x}^{u_{lo}} (1 - lo\,u)\,\bar V\,du`, in closed form (the exponential piece up to
    :math:`u_z = u_x + \log(Q/V)/L`, the constant piece after it)."""
    tiny = float(jnp.finfo(V.dtype).tiny)
    span = jnp.maximum(u_lo - u_x, 0.0)
    L = jnp.maximum(L, tiny / jnp.maximum(span, tiny))
    d1 = jnp.clip(jnp.log(Q / V) / L, 0.0, span)  # the exponential piece: u in [u_x, u_x + d1]
    z = L * d1
    E1 = jnp.where(z < 1e-3, d1 * (1.0 + z / 2.0 + z * z / 6.0), jnp.expm1(z) / L)  # int_0^d1 e^{L v} dv
    E2 = jnp.where(z < 1e-3, d1 * d1 * (0.5 + z / 3.0 + z * z / 8.0),
                   (d1 * jnp.exp(z) - E1) / L)  # int_0^d1 v e^{L v} dv
    J1 = V * ((1.0 - lo * u_x) * E1 - lo * E2)
    u_z = u_x + d1
    J2 = Q * (u_lo - u_z) * (1.0 - lo * u_z) / 2.0
    return J1 + J2


def _below_ok(x, F, L, V, Q, w, alpha, tol, slack):
    r"""Whether :math:`h(\lambda) \le h(x) + tol` on :math:`[w, x]`, from :math:`h(x) - h(\lambda) = \int_\lambda^x
    (t - \lambda)(\alpha - \mathrm{Var}_t/t^3)\,dt - F(x)(x - \lambda)` and :math:`\mathrm{Var}_t \le \min(Q,
    V e^{L(1/t - 1/x)})`: the bound on the integrand is nondecreasing in t, so the integral's minimum over
    :math:`\lambda` is :math:`\min(0, \text{its value at } w)` (closed form, :func:`_integral_bound`)."""
    J = _integral_bound(L, V, Q, 1.0 / x, 1.0 / w, w) * slack
    G = 0.5 * alpha * (x - w) ** 2 - J
    return (jnp.minimum(G, 0.0) - jnp.maximum(F, 0.0) * (x - w) >= -tol) | (x <= w)


def _cell_max(t1, p1, t2, p2, alpha, lam0):
    r"""An upper bound on h over :math:`[t_1, t_2]` from h and KL at both ends: KL decreases in the temperature, so
    :math:`h' = \alpha(\lambda_0 - t) - \mathrm{KL}_t` lies in :math:`[\alpha(\lambda_0 - t) - \mathrm{KL}_{t_1},
    \alpha(\lambda_0 - t) - \mathrm{KL}_{t_2}]`; integrating from each end gives two concave quadratics whose
    difference is linear in t, and the bound is the maximum of their pointwise minimum."""
    w = t2 - t1
    A = alpha * (lam0 - t1) - p2.kl  # slope bound from the left end
    B = p1.kl - alpha * (lam0 - t2)  # slope bound (of h going left) from the right end
    den = p1.kl - p2.kl
    num = p2.h + w * B - 0.5 * alpha * w * w - p1.h
    cross = jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), jnp.where(num >= 0, w, 0.0))
    cross = jnp.clip(cross, 0.0, w)
    s = jnp.clip(A / alpha, 0.0, cross)
    r = jnp.clip(B / alpha, 0.0, w - cross)
    return jnp.maximum(p1.h + s * A - 0.5 * alpha * s * s, p2.h + r * B - 0.5 * alpha * r * r)


def _local_solve(a, m, lam0, alpha, lo, max_steps):
    r"""The largest stationary point of h below :math:`\lambda_0` and a certificate that it is the global maximiser.

    ``KL`` decreases in the temperature, so :math:`z = \lambda_0 - \mathrm{KL}_{\lambda_0}/\alpha` (clipped to
    ``lo``) bounds every root of :math:`F = -h'` from above and :math:`F \ge \mathrm{KL}_{\lambda_0} -
    \alpha(\lambda_0 - t) \ge 0` on :math:`[z, \lambda_0]` (h decreases there). A Newton step from z (one pass with
    the second moment), then safeguarded secant steps (bisection where a step leaves the bracket), each two
    exponential passes, until :math:`|F|` is at its rounding (or the point sits at ``lo`` with :math:`F > 0`).

    The certificate bounds :math:`\mathrm{Var}_t(a)` for :math:`t \le z` from the moments at z: it is at most
    :math:`Q_z = E_z[(a - m)^2]` (the Gibbs family has a monotone likelihood ratio in ``a`` and :math:`(m - a)^2`
    decreases in ``a``), and :math:`d\log\mathrm{Var}/d(1/t) = \kappa_3/\mathrm{Var} \le m - \mu_t \le m - \mu_z`,
    so :math:`\mathrm{Var}_t \le \mathrm{Var}_z e^{(m - \mu_z)(1/t - 1/z)}`. With :math:`h'' = \mathrm{Var}_t/t^3 -
    \alpha`: on :math:`[x, z]` h is strongly concave (:math:`h'' \le -c`), so its maximum there is at most
    :math:`h(x) + F(x)_-^2/(2c)`; on :math:`[lo, x]`, :func:`_below_ok`.

    Returns ``(x, p, certified, below, bound)``: ``p`` the :class:`_Point` at x, ``below`` whether :func:`_below_ok`
    covers ``[lo, x]``, and ``bound = (L, V, Q, tol, slack)`` for the finer check of :func:`_solve_lambda_value`.
    """
    eps = float(jnp.finfo(a.dtype).eps)
    p0 = _point(a, m, lam0, lam0, alpha)
    z = jnp.clip(lam0 - p0.kl / alpha, lo, lam0)
    pz = _point(a, m, z, lam0, alpha, second=True)
    bad = jnp.isnan(lam0) | jnp.isnan(alpha)  # an invalid traced pair: NaN everywhere, nothing to search

    def converged(p, lo=lo):
        return (jnp.abs(p.F) <= p.err) | ((p.lam <= lo) & (p.F > 0)) | jnp.isnan(p.lam)

    def safeguarded(p, slope, left, right, lo):
        x = p.lam - p.F / jnp.where(slope > 0, slope, 1.0)
        inside = (slope > 0) & (x >= left) & (x <= right)
        x = jnp.where(inside, x, 0.5 * (left + right))
        return jnp.where(converged(p, lo), p.lam, x)

    left = jnp.where(pz.F <= 0, z, lo)  # the bracket: F(left) <= 0 < F(right)
    right = jnp.where(pz.F > 0, z, lam0)
    x1 = safeguarded(pz, alpha - pz.var / z**3, left, right, lo)
    p1 = _point(a, m, x1, lam0, alpha)

    def step(state):
        i, p, prev, left, right, a, m, lam0, alpha, lo = state
        left = jnp.where(p.F <= 0, p.lam, left)
        right = jnp.where(p.F > 0, p.lam, right)
        dl = p.lam - prev.lam
        slope = (p.F - prev.F) / jnp.where(dl != 0, dl, 1.0)
        x = safeguarded(p, jnp.where(dl != 0, slope, 0.0), left, right, lo)
        return i + 1, _point(a, m, x, lam0, alpha), p, left, right, a, m, lam0, alpha, lo

    def refine(rows, p):  # the rows still unconverged after the first step, a chunk at a time
        take = functools.partial(jax.tree.map, lambda v: v[rows])
        state = (1, take(p), take(pz), left[rows], right[rows], a[rows], m[rows], lam0[rows], alpha[rows], lo[rows])
        sub = jax.lax.while_loop(lambda st: (st[0] < max_steps) & ~jnp.all(converged(st[1], st[9])), step, state)[1]
        return jax.tree.map(lambda full, new: full.at[rows].set(new), p, sub)

    p = _by_chunks(~converged(p1), 256, refine, p1)
    x = p.lam
    K = a.shape[-1]
    tol = 16.0 * eps * (1.0 + jnp.abs(p.h) + jnp.abs(m) + lam0 * math.log(K))
    slack = 1.0 + 16.0 * eps
    L = -pz.mu * slack  # m - mu_z >= 0
    V = pz.var * jnp.exp(jnp.minimum(L * (1.0 / x - 1.0 / z), 80.0))  # >= Var_t on [x, z]
    c = alpha - jnp.minimum(pz.Q, V) / x**3 * slack
    top = p0.err * (lam0 - z) <= tol  # [z, lam0]: F >= 0 up to the rounding of KL(lam0)
    high = ((c > 0) & (jnp.minimum(p.F, 0.0) ** 2 <= 2.0 * c * tol)) | (x >= z)
    below = _below_ok(x, p.F, L, V, pz.Q, lo, alpha, tol, slack)
    ok = converged(p) & top & high
    return x, p, ok | bad, below | bad, (L, V, pz.Q, tol, slack)


def _solve_lambda_value(a, lam0, alpha, lam_min, grid, iters):
    """``(lam*, h(lam*))``: the global maximiser of h on [lo, lam0] per row of ``a`` and the maximum (no gradient
    flows through them).

    :func:`_local_solve`; where its bound on ``[lo, x]`` fails, a point ``w`` in ``[lo, x]`` such that
    :func:`_below_ok` covers ``[w, x]`` and the bound of :func:`_cell_max` on ``[lo, w]`` from evaluations at lo
    and w; the rows still uncertified take :func:`_grid_search` (each stage on the rows that need it only, a
    chunk at a time: :func:`_by_chunks`).
    """
    a = jax.lax.stop_gradient(a)
    batch, K = a.shape[:-1], a.shape[-1]
    a = a.reshape((-1, K))
    n = a.shape[0]
    dtype = a.dtype
    lam0 = jnp.asarray(lam0, dtype)
    alpha = jnp.asarray(alpha, dtype)
    lo = jnp.maximum(jnp.asarray(lam_min, dtype), lam0 - math.log(K) / alpha)
    lo = jnp.maximum(lo, lam0 * 1e-6)  # lam* > 0 is guaranteed by the checks; guard round-off
    m = jnp.max(a, axis=-1)
    lam0, alpha, lo = (jnp.broadcast_to(v, (n,)) for v in (lam0, alpha, lo))
    x, p, ok, below, (L, V, Q, tol, slack) = _local_solve(a, m, lam0, alpha, lo, 40)

    def finer(rows, below):  # [lo, w] by _cell_max, [w, x] by _below_ok, for the rows that need it
        x_, F, h, lo_, lam0_, alpha_ = x[rows], p.F[rows], p.h[rows], lo[rows], lam0[rows], alpha[rows]
        bound = [v[rows] for v in (L, V, Q, tol)]
        w = x_
        for f in (0.995, 0.985, 0.97, 0.94, 0.875, 0.75, 0.5, 0.25):
            wf = lo_ + (x_ - lo_) * f
            w = jnp.where(_below_ok(x_, F, *bound[:3], wf, alpha_, bound[3], slack), wf, w)
        pw, plo = (_point(a[rows], m[rows], t, lam0_, alpha_) for t in (w, lo_))
        ok_rows = (_cell_max(lo_, plo, w, pw, alpha_, lam0_) <= h + bound[3]) | (w <= lo_)
        return below.at[rows].set(below[rows] | ok_rows)

    certified = ok & _by_chunks(ok & ~below, 64, finer, below)

    def grid_search(rows, lam_h):
        lam, h = lam_h
        new = _grid_search(a[rows], lam0[rows], alpha[rows], lo[rows], grid, iters)
        keep = certified[rows]
        new_h = _h(a[rows], new, lam0[rows], alpha[rows])
        return lam.at[rows].set(jnp.where(keep, lam[rows], new)), h.at[rows].set(jnp.where(keep, h[rows], new_h))

    # 4 rows a chunk: the grid search holds a [rows, grid, K] array (16 MB at 16 rows, grid 256, K = 1000)
    lam, h = _by_chunks(~certified, 4, grid_search, (x, p.h))
    return lam.reshape(batch), h.reshape(batch)


def _solve_lambda(a, lam0, alpha, lam_min, grid, iters):
    """The global maximiser of h on [lo, lam0] per row of ``a`` (:func:`_solve_lambda_value`; no gradient)."""
    return _solve_lambda_value(a, lam0, alpha, lam_min, grid, iters)[0]


@jax.custom_jvp
def _envelope(a, lam0, alpha, lam_star, value):
    """``value`` (computed at ``lam_star``), with the derivatives of the envelope theorem: ``p*`` in ``a``,
    ``alpha (lam* - lam0)`` in ``lam0`` and ``-(lam* - lam0)^2/2`` in ``alpha``."""
    return value


@_envelope.defjvp
def _envelope_jvp(primals, tangents):
    a, lam0, alpha, lam_star, value = primals
    da, dlam0, dalpha, _, _ = tangents
    p = jax.nn.softmax(a / lam_star[..., None], axis=-1)
    gap = lam_star - lam0
    return value, jnp.sum(p * da, axis=-1) + alpha * gap * dlam0 - 0.5 * gap * gap * dalpha


def aldr_kl_solve(logits, labels, *, lam0, alpha, margin=0.0, lam_min=0.0, grid=256, iters=60):
    r"""``(value, lam_star)`` of ALDR-KL per example, by the exact 1-D global search.

    Every row starts at :math:`z = \lambda_0 - \mathrm{KL}_{\lambda_0}/\alpha` (above every stationary point: h
    decreases on :math:`[z, \lambda_0]`), takes a Newton step and, while unconverged, safeguarded secant steps
    on :math:`h'` (the unconverged rows only, a chunk at a time), each an exponential pass or two over the row,
    and gets a certificate that the point is the global maximiser (see :func:`_local_solve` and
    :func:`_solve_lambda_value`). Rows without the certificate (``h`` with several local maxima, or not concave
    enough) take the grid search: ``grid`` points and ``iters`` bisection steps in the best cell.

    Args:
        logits: floating ``[..., K]``; labels: integer ``[...]``.
        lam0: reference temperature :math:`\lambda_0 > 0`; alpha: penalty :math:`\alpha > \log K/\lambda_0`
            (or any :math:`\alpha > 0` with ``lam_min > 0``). Both may be traced; an invalid traced pair
            gives NaN (value and ``lam_star``).
        margin: scalar or ``[K, K]`` margin matrix, as in :func:`theory.ldr.losses.ldr_kl_loss`.
        lam_min: lower bound on :math:`\lambda`.
        grid: grid points of the search of the uncertified rows; iters: its bisection steps.

    Returns:
        ``(value [...], lam_star [...])``; ``value`` is differentiable in the logits (envelope theorem: the
        gradient is :math:`p^*_{\lambda^*} - e_y`), in ``lam0`` and in ``alpha``.

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), ALDR-KL (as recalled); docs/ldr.md, "Numerics";
        J. Nocedal, S. J. Wright, *Numerical Optimization* (2006), safeguarded Newton steps.
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
    alpha = jnp.asarray(alpha, a.dtype)
    lam_star, h = _solve_lambda_value(a, lam0, alpha, lam_min, grid, iters)
    value = _envelope(a, jnp.broadcast_to(lam0, lam_star.shape), jnp.broadcast_to(alpha, lam_star.shape),
                      lam_star, h)
    return value, lam_star


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
        grid: grid points of the search of the rows the Newton certificate does not cover.
        iters: its bisection steps.

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
