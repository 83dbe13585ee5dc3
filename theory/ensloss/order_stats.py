r"""Expectations of the generated loss-derivatives: exact order statistics, the large-batch rank limit and its
CLT band, and the dependence of a fixed margin's derivative on the rest of the batch.

The sample of rank :math:`i` (the :math:`i`-th smallest margin of a batch of :math:`B`) receives
:math:`v_{(i)} = -\min\big(1, \mathrm{BC}^{-1}(\varepsilon_{(B-i+1:B)}; \lambda)\big)` before the tail step and the
:math:`\epsilon` shift, where :math:`\varepsilon_{(j:B)}` is the :math:`j`-th smallest of :math:`B` standard
normals. Hence (docs/ensloss.md, "Order statistics and the rank limit")

.. math::
    \mathbb E\, v_{(i)} = -\int_0^1 \min\big(1, \mathrm{BC}^{-1}(\Phi^{-1}(u))\big)\,
    \mathrm{Beta}(u;\, B-i+1,\, i)\, du,

and as :math:`B \to \infty` with :math:`i/(B+1) \to u`, :math:`\mathbb E\, v_{(i)} \to G(u) =
-\min\big(1, \mathrm{BC}^{-1}(\Phi^{-1}(1-u))\big)`. The generated derivative of a margin is then
:math:`\mathbb E\, g_i = \mathbb E\, v_{(\mathrm{rank}\ i)} / \max(1, z_i / t) - \epsilon`.

References:
    Dai, ICML 2025 (arXiv 2409.00908), Algorithm 1; David, Nagaraja, *Order Statistics*, 3rd ed., Wiley 2003,
    Sec. 2.1 (the density of an order statistic) and Sec. 10.3 (the central order statistics are
    asymptotically normal); docs/ensloss.md, "Order statistics and the rank limit".
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import check_array, check_int, check_real, is_traced
from theory.ensloss._checks import as_float64_or_traced, hyper, real_array
from theory.ensloss.generator import _bc_inv

__all__ = ["expected_rank_derivative", "rank_limit", "rank_limit_band", "expected_fixed_margin_derivative"]

_NODES = 160  # Gauss-Legendre nodes per smooth piece of the integrand


def _bc(x, lam):
    """The Box-Cox map ``BC(x; lam)`` for ``x > 0`` (the magnitude at which the clip binds)."""
    return math.log(x) if lam == 0 else (x**lam - 1.0) / lam


def _magnitude(x, lam, cap):
    """``min(cap, BC^{-1}(x; lam))`` in NumPy float64 (``cap=None``: no clip); the same formula as the generator."""
    x = np.asarray(x, np.float64)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        if lam == 0:
            m = np.exp(x)
        else:
            inside = 1.0 + lam * x > 0
            m = np.where(inside, np.exp(np.log1p(np.where(inside, lam * x, 0.0)) / lam), 0.0 if lam > 0 else np.inf)
    return m if cap is None else np.minimum(m, cap)


@functools.lru_cache(maxsize=4)
def _gauss_legendre(n: int):
    return np.polynomial.legendre.leggauss(n)


def _order_stat_mean(h, batch_size: int, j: int, breaks) -> float:
    r"""``E h(eps_(j:B))`` by Gauss-Legendre quadrature in :math:`x` against the order-statistic density
    :math:`rac{B!}{(j-1)!(B-j)!}\Phi(x)^{j-1}\Phi(-x)^{B-j}arphi(x)`, on the window holding all but 2e-16 of its
    mass (from the Beta(j, B-j+1) quantiles of :math:`\Phi(x)`), split at ``breaks`` (the kinks of ``h``)."""
    from scipy import special

    a, b = float(j), float(batch_size - j + 1)
    lo = float(special.ndtri(special.betaincinv(a, b, 1e-16)))
    hi = float(-special.ndtri(special.betaincinv(b, a, 1e-16)))  # the upper quantile, by symmetry
    cuts = [lo, *sorted(c for c in breaks if lo < c < hi), hi]
    nodes, weights = _gauss_legendre(_NODES)
    log_norm = special.gammaln(a + b) - special.gammaln(a) - special.gammaln(b) - 0.5 * math.log(2 * math.pi)
    total = 0.0
    for left, right in zip(cuts[:-1], cuts[1:], strict=True):
        x = 0.5 * (right - left) * nodes + 0.5 * (right + left)
        dens = np.exp(log_norm + (a - 1) * special.log_ndtr(x) + (b - 1) * special.log_ndtr(-x) - 0.5 * x * x)
        total += 0.5 * (right - left) * float(np.sum(weights * dens * h(x)))
    return total


def _rank_expectation(batch_size: int, rank: int, box_cox: float, clip: float | None = -1.0) -> float:
    """``E v_(rank)``: minus the mean of ``min(-clip, BC^{-1}(eps_(B-rank+1:B)))`` (no clip when ``clip`` is None)."""
    cap = None if clip is None else -clip
    breaks = []
    if cap is not None:  # the clip binds above x = BC(cap)
        breaks.append(_bc(cap, box_cox))
    if box_cox > 0:  # BC^{-1} is 0 below x = -1/lam
        breaks.append(-1.0 / box_cox)
    return -_order_stat_mean(lambda x: _magnitude(x, box_cox, cap), batch_size, batch_size - rank + 1, breaks)


def expected_rank_derivative(batch_size, rank, *, box_cox=0.0):
    r"""The exact expected loss-derivative at within-batch margin rank ``rank`` (1 = smallest margin).

    .. math::
        \mathbb E\, v_{(i)} = -\mathbb E \min\big(1, \mathrm{BC}^{-1}(\varepsilon_{(B-i+1:B)}; \lambda)\big),

    the clipped derivative before the tail step and the :math:`\epsilon` shift: the generated derivative of the
    rank-:math:`i` sample has mean :math:`\mathbb E\, v_{(i)} / \max(1, z_i/t) - \epsilon`. Computed by
    Gauss-Legendre quadrature of the order-statistic density in :math:`x` (split at the clip's and the Box-Cox
    boundary's kinks), accurate to about 1e-13, in NumPy/SciPy float64 (eager only: it is a quadrature with
    data-dependent windows, not a closed form to trace).

    Args:
        batch_size: :math:`B \ge 1`.
        rank: an integer in ``[1, B]``, or an array of them.
        box_cox: :math:`\lambda`, finite.

    Returns:
        A float in ``[-1, 0]`` (a float64 array for an array of ranks).

    Examples:
        >>> round(expected_rank_derivative(16, 13), 5), round(expected_rank_derivative(16, 16), 5)
        (-0.49283, -0.19598)

    References:
        Dai, ICML 2025 (arXiv 2409.00908), Algorithm 1; David, Nagaraja, *Order Statistics*, Sec. 2.1;
        docs/ensloss.md, "Order statistics and the rank limit".
    """
    B = check_int("batch_size", batch_size, low=1)
    lam = check_real("box_cox", box_cox)
    ranks = np.asarray(rank)
    if ranks.dtype == bool or not np.issubdtype(ranks.dtype, np.integer):
        raise TypeError(f"rank must be an integer or an integer array, got dtype {ranks.dtype}")
    if ranks.size and (ranks.min() < 1 or ranks.max() > B):
        raise ValueError(f"rank must lie in [1, {B}] (batch_size = {B}), got values in [{ranks.min()}, {ranks.max()}]")
    out = np.array([_rank_expectation(B, int(i), lam) for i in ranks.ravel()]).reshape(ranks.shape)
    return float(out) if out.ndim == 0 else out


def _rank_limit(u, lam):
    return -jnp.minimum(1.0, _bc_inv(jax.scipy.special.ndtri(1.0 - u), lam))


def rank_limit(u, *, box_cox=0.0):
    r"""The large-batch limit of the expected loss-derivative at rank quantile ``u``.

    .. math::
        G(u) = -\min\big(1, \mathrm{BC}^{-1}(\Phi^{-1}(1 - u); \lambda)\big),
        \qquad G(u) = -\min\big(1, e^{-\Phi^{-1}(u)}\big) \ \text{at}\ \lambda = 0 .

    :math:`G` is non-decreasing, equals :math:`-1` on :math:`u \le 1/2` (the lower-margin half of a batch gets a
    hinge-like slope) and rises towards 0 as :math:`u \to 1`. With the margin distribution function
    :math:`F_Z`, the population derivative is the data-dependent :math:`g(z) = G(F_Z(z))/\max(1, z)`
    (docs/ensloss.md, "Order statistics and the rank limit").

    Works under ``jit``/``vmap``/``grad``: concrete inputs are validated (``u`` in ``[0, 1]``, NaN raises) and
    computed in float64 (a Python float or a NumPy array); traced ones in their dtype, NaN where invalid.

    Args:
        u: rank quantile(s) in ``[0, 1]``.
        box_cox: :math:`\lambda`, finite.

    Returns:
        :math:`G(u)`, shaped like ``u``.

    Examples:
        >>> round(rank_limit(0.75), 5), rank_limit(0.3)
        (-0.50942, -1.0)

    References:
        Dai, ICML 2025 (arXiv 2409.00908), Algorithm 1; the limit is derived by the library (docs/ensloss.md,
        "Order statistics and the rank limit").
    """
    u = real_array("u", u, low=0.0, high=1.0)
    lam, ok = hyper("box_cox", box_cox)
    if is_traced(u):
        ok = ok & (u >= 0) & (u <= 1)
    return as_float64_or_traced(_rank_limit, (u, lam), ok)


def _band(u, batch_size):
    sd = jnp.sqrt(u * (1.0 - u) / batch_size) / jnp.exp(jax.scipy.stats.norm.logpdf(jax.scipy.special.ndtri(u)))
    return jnp.sqrt(2.0 / jnp.pi) * sd


def rank_limit_band(u, batch_size, *, box_cox=0.0):
    r"""The CLT band of the rank limit: :math:`|\mathbb E\, v_{(i)} - G(u)| \lesssim \sqrt{2/\pi}\,\sigma_B(u)` at
    :math:`u = i/(B+1)`.

    .. math::
        \sigma_B(u) = \frac{\sqrt{u(1-u)/B}}{\varphi(\Phi^{-1}(u))},

    the asymptotic standard deviation of the normal order statistic at quantile :math:`u`. The map
    :math:`h = \min(1, \mathrm{BC}^{-1})` is 1-Lipschitz for :math:`\lambda \le 1`, so
    :math:`|\mathbb E\, h(\varepsilon_{(j)}) - h(\mu)| \le \mathbb E|\varepsilon_{(j)} - \mu| \to
    \sqrt{2/\pi}\,\sigma_B`; at the kink :math:`u = 1/2` the deviation is about half the band
    (:math:`\sigma_B/\sqrt{2\pi}`) and elsewhere it is :math:`O(1/B)`. The tests check the band against the
    exact quadrature for :math:`16 \le B \le 4096` on :math:`u \in [0.05, 0.95]`.

    Works under ``jit``/``vmap``/``grad`` (the input policy of :func:`rank_limit`).

    Args:
        u: rank quantile(s) in ``(0, 1)``.
        batch_size: :math:`B \ge 1` (may be an array, broadcast with ``u``).
        box_cox: :math:`\lambda \le 1` (where the Lipschitz constant 1 holds).

    Returns:
        The half-width of the band, shaped like the broadcast of ``u`` and ``batch_size``.

    References:
        David, Nagaraja, *Order Statistics*, Sec. 10.3 (asymptotic normality of central order statistics);
        docs/ensloss.md, "Order statistics and the rank limit".
    """
    u = real_array("u", u, low=0.0, high=1.0, low_open=True, high_open=True)
    B = real_array("batch_size", batch_size, low=1.0)
    lam, ok = hyper("box_cox", box_cox, high=1.0)
    if is_traced(u):
        ok = ok & (u > 0) & (u < 1)
    if is_traced(B):
        ok = ok & (B >= 1)
    return as_float64_or_traced(_band, (u, B), ok)


def expected_fixed_margin_derivative(batch_size, below, *, box_cox=0.0):
    r"""The expected loss-derivative of one fixed margin when each of its :math:`B-1` batch-mates falls below it
    independently with probability ``below``.

    .. math::
        \mathbb E\, v(z_0) = \sum_{k=0}^{B-1} \binom{B-1}{k} p^k (1-p)^{B-1-k}\, \mathbb E\, v_{(k+1)},
        \qquad p = P(Z < z_0),

    before the tail step and the :math:`\epsilon` shift (exact for continuous margin distributions, where ties
    have probability 0). A loss drawn independently of the data would give the same :math:`\mathbb E\,
    \phi'(z_0)` for every :math:`p`; the batch-rank generator does not (docs/ensloss.md, "Findings").

    Eager only (it sums :func:`expected_rank_derivative`, a quadrature).

    Args:
        batch_size: :math:`B \ge 1`.
        below: :math:`p \in [0, 1]`, a float or an array.
        box_cox: :math:`\lambda`, finite.

    Returns:
        A float (a float64 array for an array of ``below``).

    References:
        Dai, ICML 2025 (arXiv 2409.00908), the random-loss model of the consistency theory versus Algorithm 1;
        docs/ensloss.md, "Findings".
    """
    from scipy import stats

    B = check_int("batch_size", batch_size, low=1)
    p = check_array("below", below, low=0.0, high=1.0)
    ranks = np.arange(1, B + 1)
    means = expected_rank_derivative(B, ranks, box_cox=box_cox)
    weights = stats.binom.pmf(ranks[:, None] - 1, B - 1, p.ravel()[None, :])
    out = (means @ weights).reshape(p.shape)
    return float(out) if out.ndim == 0 else out

