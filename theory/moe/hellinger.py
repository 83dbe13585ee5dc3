r"""Expected Hellinger distance between two top-K MoE conditional densities, by quadrature.

Convention (stated, as in this literature): :math:`h^2(p, q) = \tfrac12\int(\sqrt p-\sqrt q)^2\,dy = 1 -
\int\sqrt{pq}\,dy`, so :math:`0 \le h \le 1`. The quantity of the theorems is
:math:`\mathbb E_X h(g_G(\cdot|X), g_{G^*}(\cdot|X))`. For each x, y runs over a uniform trapezoid grid
covering :math:`[\min\mu - 10\sqrt v, \max\mu + 10\sqrt v]` of both models' experts; the integrand is
the squared difference of :math:`\exp(\tfrac12\log g)` (no cancellation in :math:`1 - BC`). For
:math:`X \sim U[-1, 1]` (d = 1) the x-average is Gauss-Legendre on each half-line, where the slope
ranking is constant, so the quadrature never straddles the switch at x = 0.

Quadrature, NumPy in and out: the public functions validate concrete parameters, node counts and the
dimension eagerly and return float64 NumPy values. They are not meant for ``jit``/``grad``: the node
counts fix array shapes, the integration window depends on the parameters, and :math:`h = \sqrt{h^2}`
has no derivative at :math:`h = 0` (where a fit starts from the truth). The jittable core
(``_hellinger_at``) is what the rate experiments vmap over replicates.

References:
    Nguyen et al., ICLR 2024 (arXiv 2309.13850), the density-estimation rates (Thms 1 and 3, as
    recalled) are stated in the expected Hellinger distance; ``docs/moe.md#the-objects``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import check_choice, check_int, renamed_argument
from theory.moe.model import (
    SELECTIONS,
    MoEParams,
    _check_top_k,
    _log_density,
    _required,
    _scores,
    _topk_mask,
    validate_params,
)

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


_hellinger_jit = jax.jit(_hellinger_at, static_argnums=(3, 4, 5, 6))


def hellinger_at(G, G_star, x, *, top_k: int | None = None, top_k_star: int | None = None,
                 selection: str = "slope", n_y: int = 2001, K: int | None = None, K_star: int | None = None):
    """Pointwise Hellinger distance h(g_G(.|x), g_G*(.|x)) (float64) at each covariate row.

    NumPy-only (quadrature; see the module docstring).

    Args:
        G: first mixing measure (evaluated with top-``top_k`` gating).
        G_star: second mixing measure (evaluated with top-``top_k_star`` gating; default ``top_k``).
        x: covariates (m, dim) (or (m,) when dim = 1).
        top_k: selected experts of ``G``.
        top_k_star: selected experts of ``G_star``.
        selection: ranking rule for both.
        n_y: trapezoid points in y (>= 101).
        K: deprecated name of ``top_k``.
        K_star: deprecated name of ``top_k_star``.

    Returns:
        (m,) distances in [0, 1].
    """
    top_k = _required(renamed_argument("K", "top_k", top_k, K, owner="hellinger_at"), "top_k", "hellinger_at")
    top_k_star = renamed_argument("K_star", "top_k_star", top_k_star, K_star, owner="hellinger_at")
    return _hellinger_points(G, G_star, x, top_k, top_k_star, selection, n_y)


def _hellinger_points(G, G_star, x, top_k, top_k_star, selection, n_y) -> np.ndarray:
    p, q = validate_params(G, "G"), validate_params(G_star, "G_star")
    if p.dim != q.dim:
        raise ValueError(f"G and G_star must have the same dim, got {p.dim} and {q.dim}")
    top_k = _check_top_k(top_k, p.num_experts)[0]
    top_k_star = _check_top_k(top_k if top_k_star is None else top_k_star, q.num_experts, "top_k_star")[0]
    check_choice("selection", selection, SELECTIONS)
    n_y = check_int("n_y", n_y, low=101)
    x = np.asarray(x, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[1] != p.dim:
        raise ValueError(f"x must have shape (m, {p.dim}), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x must be finite (no NaN or inf)")
    with jax.enable_x64(True):
        pj, qj = (MoEParams(*(jnp.asarray(v) for v in r)) for r in (p, q))
        return np.asarray(_hellinger_jit(pj, qj, jnp.asarray(x), top_k, top_k_star, selection, n_y))


def expected_hellinger(G, G_star, *, top_k: int | None = None, top_k_star: int | None = None,
                       selection: str = "slope", n_nodes: int = 20, n_y: int = 2001, K: int | None = None,
                       K_star: int | None = None) -> float:
    r"""E_X h(g_G(.|X), g_G*(.|X)) for X ~ U[-1, 1] (dim = 1), by Gauss-Legendre in x and trapezoid in y.

    NumPy-only (quadrature; see the module docstring).

    Args:
        G: first mixing measure (top-``top_k`` gating).
        G_star: second mixing measure (top-``top_k_star`` gating; default ``top_k``).
        top_k: selected experts of ``G``.
        top_k_star: selected experts of ``G_star``.
        selection: ranking rule for both.
        n_nodes: Gauss-Legendre nodes per half-line.
        n_y: trapezoid points in y.
        K: deprecated name of ``top_k``.
        K_star: deprecated name of ``top_k_star``.

    Returns:
        The expected distance in [0, 1] (float64).

    Example (a model against itself, and a dense evaluation against top-2):
        >>> T = ([0, .5, -.5], [[0], [2], [4]], [[-3], [1], [4]], [2, -1, .5], [.09, .16, .25])
        >>> expected_hellinger(T, T, top_k=2)
        0.0
        >>> round(expected_hellinger(T, T, top_k=3, top_k_star=2), 3)
        0.098

    References:
        Nguyen et al., ICLR 2024 (arXiv 2309.13850), Thm 1 (the density rate in E_X h), as recalled.
    """
    top_k = _required(renamed_argument("K", "top_k", top_k, K, owner="expected_hellinger"), "top_k",
                      "expected_hellinger")
    top_k_star = renamed_argument("K_star", "top_k_star", top_k_star, K_star, owner="expected_hellinger")
    p = validate_params(G, "G")
    if p.dim != 1:
        raise ValueError(f"expected_hellinger averages over X ~ U[-1, 1] and needs dim = 1, got dim = {p.dim}")
    x, w = x_quadrature(n_nodes)
    h = _hellinger_points(G, G_star, x, top_k, top_k_star, selection, n_y)
    return float(np.sum(w * h))
