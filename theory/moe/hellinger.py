r"""Expected Hellinger distance between two top-K MoE conditional densities, by quadrature.

Convention (stated, as in this literature): :math:`h^2(p, q) = \tfrac12\int(\sqrt p-\sqrt q)^2\,dy = 1 -
\int\sqrt{pq}\,dy`, so :math:`0 \le h \le 1`. The quantity of the theorems is
:math:`\mathbb E_X h(g_G(\cdot|X), g_{G^*}(\cdot|X))`. For each x, y runs over a uniform trapezoid grid
covering :math:`[\min\mu - 10\sqrt v, \max\mu + 10\sqrt v]` of both models' experts; the integrand is
the squared difference of :math:`\exp(\tfrac12\log g)` (no cancellation in :math:`1 - BC`). For
:math:`X \sim U[-1, 1]` (d = 1) the x-average is Gauss-Legendre on each half-line, where the slope
ranking is constant, so the quadrature never straddles the switch at x = 0.

References:
    Nguyen et al., ICLR 2024 (arXiv 2309.13850), the density-estimation rate of Thm 1/3 (as recalled);
    spec A2.7.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import check_choice, check_int
from theory.moe.model import SELECTIONS, MoEParams, _check_K, _log_density, _scores, _topk_mask, validate_params

__all__ = ["x_quadrature", "hellinger_at", "expected_hellinger"]


def x_quadrature(n_nodes: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights for E over X ~ U[-1, 1], n_nodes on each half-line.

    Returns:
        ``(x, w)``: x of shape (2 n_nodes, 1) and weights (2 n_nodes,) summing to 1.
    """
    n_nodes = check_int("n_nodes", n_nodes, low=1)
    t, w = np.polynomial.legendre.leggauss(n_nodes)
    x = np.concatenate([(t - 1) / 2, (t + 1) / 2])
    return x[:, None], np.concatenate([w, w]) / 4


def _hellinger_at(p: MoEParams, q: MoEParams, x, K_p: int, K_q: int, selection: str, n_y: int):
    """Jittable h(g_p(.|x), g_q(.|x)) at each row of x (m, d) -> (m,)."""
    mu = jnp.concatenate([x @ p.a.T + p.b, x @ q.a.T + q.b], axis=1)
    sd = jnp.sqrt(jnp.concatenate([jnp.broadcast_to(p.var, mu[:, : p.var.shape[0]].shape),
                                   jnp.broadcast_to(q.var, mu[:, p.var.shape[0]:].shape)], axis=1))
    lo, hi = jnp.min(mu - 10 * sd, axis=1), jnp.max(mu + 10 * sd, axis=1)
    grid = jnp.linspace(0.0, 1.0, n_y, dtype=x.dtype)

    def one(xi, lo_i, hi_i):
        y = lo_i + (hi_i - lo_i) * grid
        xs = jnp.broadcast_to(xi, (n_y, xi.shape[0]))
        mp = _topk_mask(_scores(p, xs, selection), K_p)
        mq = _topk_mask(_scores(q, xs, selection), K_q)
        diff = (jnp.exp(0.5 * _log_density(p, xs, y, mp)) - jnp.exp(0.5 * _log_density(q, xs, y, mq))) ** 2
        h2 = 0.5 * jnp.trapezoid(diff, y)
        return jnp.sqrt(jnp.clip(h2, 0.0, 1.0))

    return jax.vmap(one)(x, lo, hi)


def _expected_hellinger(p, q, x, w, K_p, K_q, selection, n_y):
    return jnp.sum(w * _hellinger_at(p, q, x, K_p, K_q, selection, n_y))


def hellinger_at(G, G_star, x, *, K: int, K_star: int | None = None, selection: str = "slope",
                 n_y: int = 2001) -> np.ndarray:
    """Pointwise Hellinger distance h(g_G(.|x), g_G*(.|x)) (float64) at each covariate row.

    Args:
        G: first mixing measure (evaluated with top-``K`` gating).
        G_star: second mixing measure (evaluated with top-``K_star`` gating; default ``K``).
        x: covariates (m, d) (or (m,) when d = 1).
        K: selected experts of ``G``.
        K_star: selected experts of ``G_star``.
        selection: ranking rule for both.
        n_y: trapezoid points in y (>= 101).

    Returns:
        (m,) distances in [0, 1].
    """
    p, q = validate_params(G, "G"), validate_params(G_star, "G_star")
    if p.d != q.d:
        raise ValueError(f"G and G_star must have the same d, got {p.d} and {q.d}")
    K = _check_K(K, p.k)
    K_star = _check_K(K if K_star is None else K_star, q.k, "K_star")
    check_choice("selection", selection, SELECTIONS)
    n_y = check_int("n_y", n_y, low=101)
    x = np.asarray(x, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[1] != p.d:
        raise ValueError(f"x must have shape (m, {p.d}), got {x.shape}")
    with jax.enable_x64(True):
        pj, qj = (MoEParams(*(jnp.asarray(v) for v in r)) for r in (p, q))
        return np.asarray(jax.jit(_hellinger_at, static_argnums=(3, 4, 5, 6))(pj, qj, jnp.asarray(x), K, K_star,
                                                                                selection, n_y))


def expected_hellinger(G, G_star, *, K: int, K_star: int | None = None, selection: str = "slope",
                       n_nodes: int = 20, n_y: int = 2001) -> float:
    r"""E_X h(g_G(.|X), g_G*(.|X)) for X ~ U[-1, 1] (d = 1), by Gauss-Legendre in x and trapezoid in y.

    Args:
        G: first mixing measure (top-``K`` gating).
        G_star: second mixing measure (top-``K_star`` gating; default ``K``).
        K: selected experts of ``G``.
        K_star: selected experts of ``G_star``.
        selection: ranking rule for both.
        n_nodes: Gauss-Legendre nodes per half-line.
        n_y: trapezoid points in y.

    Returns:
        The expected distance in [0, 1] (float64).

    Example (a model against itself, and a dense evaluation against top-2):
        >>> T = ([0, .5, -.5], [[0], [2], [4]], [[-3], [1], [4]], [2, -1, .5], [.09, .16, .25])
        >>> expected_hellinger(T, T, K=2)
        0.0
        >>> round(expected_hellinger(T, T, K=3, K_star=2), 3)
        0.098

    References:
        Nguyen et al., ICLR 2024, Thm 1 (density rate), as recalled; spec A2.7.
    """
    p = validate_params(G, "G")
    if p.d != 1:
        raise ValueError(f"expected_hellinger averages over X ~ U[-1, 1] and needs d = 1, got d = {p.d}")
    x, w = x_quadrature(n_nodes)
    h = hellinger_at(G, G_star, x, K=K, K_star=K_star, selection=selection, n_y=n_y)
    return float(np.sum(w * h))
