r"""Geometry of the perturbation ball :math:`B_q(x, \gamma)` for linear scores, batched over cases.

Shapes: ``W [m, n, d]``, ``b [m, n]``, ``x [m, d]``, ``y [m]``, ``gamma [m]`` (one linear model, point and
radius per case). Everything is float64 NumPy; nothing is validated here.
"""

from __future__ import annotations

import math

import numpy as np

from theory.compsum import _kernels as K
from theory.compsum.adversarial._checks import dual

#: Largest input dimension for the exact l_inf vertex enumeration (2^(d-1) vertices).
MAX_VERTEX_DIM = 16


def take(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``a[i, y[i], ...]`` for a batch axis ``i``."""
    return a[np.arange(a.shape[0]), y]


def broadcast_model(W, b, m):
    """One model ``W [n, d]``, ``b [n]`` repeated for ``m`` cases."""
    return np.broadcast_to(W, (m, *W.shape)), np.broadcast_to(b, (m, *b.shape))


def adversarial_zero_one(W, b, x, y, gamma, q):
    """``1[min_{y' != y} h(x, y) - h(x, y') - gamma ||w_y - w_y'||_{q*} <= 0]`` per case."""
    scores = np.einsum("mnd,md->mn", W, x) + b
    diff = take(scores, y)[:, None] - scores  # h_y - h_y'
    norms = np.linalg.norm(take(W, y)[:, None, :] - W, ord=dual(q), axis=-1)
    g = diff - gamma[:, None] * norms
    g[np.arange(len(y)), y] = np.inf
    return (g.min(axis=-1) <= 0.0).astype(np.float64)


def worst_points(W, x, y, gamma, q):
    """For each pair (y, y'), the point of the ball that minimises ``h(x', y) - h(x', y')``: ``[m, n, d]``.

    Row ``y`` (where ``w_y - w_y = 0``) is ``x`` itself.
    """
    V = take(W, y)[:, None, :] - W  # w_y - w_y'
    if q == 2.0:
        nrm = np.linalg.norm(V, axis=-1, keepdims=True)
        U = np.divide(V, nrm, out=np.zeros_like(V), where=nrm > 0)
    elif q == math.inf:
        U = np.sign(V)
    else:  # q == 1: a signed basis vector at the largest |v_j|
        j = np.argmax(np.abs(V), axis=-1)
        U = np.zeros_like(V)
        mi, ni = np.meshgrid(np.arange(V.shape[0]), np.arange(V.shape[1]), indexing="ij")
        U[mi, ni, j] = np.sign(V[mi, ni, j])
    return x[:, None, :] - gamma[:, None, None] * U


def sphere_points(rng, x, gamma, q, n_random):
    """``n_random`` points on the l_q sphere of radius ``gamma`` around each ``x``: ``[m, n_random, d]``."""
    m, d = x.shape
    G = rng.standard_normal((m, n_random, d))
    nrm = np.linalg.norm(G, ord=q, axis=-1, keepdims=True)
    nrm = np.where(nrm > 0, nrm, 1.0)
    return x[:, None, :] + gamma[:, None, None] * (G / nrm)


def ramp_loss_at(W, b, y, X, tau, rho):
    """``Phi^tau(sum_{y' != y} Phi_rho(h(x', y) - h(x', y')))`` at candidate points ``X [m, C, d]``: ``[m, C]``."""
    scores = np.matmul(X, np.swapaxes(W, -1, -2)) + b[:, None, :]  # [m, C, n]
    m, _, n = scores.shape
    sy = np.take_along_axis(scores, y[:, None, None], axis=-1)
    R = np.clip(1.0 - (sy - scores) / rho, 0.0, 1.0)
    R[np.arange(m), :, y] = 0.0
    return K.phi(R.sum(axis=-1), tau, np)


def margin_loss_lower(W, b, x, y, gamma, q, tau, rho, rng, n_random):
    """The largest ramp loss over ``x``, the worst point of each pair and ``n_random`` sphere points."""
    cands = [worst_points(W, x, y, gamma, q)]  # includes x itself (row y)
    if n_random > 0:
        cands.append(sphere_points(rng, x, gamma, q, n_random))
    X = np.concatenate(cands, axis=1)
    return ramp_loss_at(W, b, y, X, tau, rho).max(axis=-1)


def _vertices(d: int) -> np.ndarray:
    """The ``2^(d-1)`` cube vertices with first coordinate ``+1`` (the rest follow by ``s -> -s``)."""
    k = np.arange(2 ** (d - 1))[:, None]
    bits = (k >> np.arange(d - 1)) & 1
    return np.concatenate([np.ones((len(k), 1)), 1.0 - 2.0 * bits], axis=1)


def operator_norm(D, q):
    """``||D||_{q -> 2} = sup_{||u||_q <= 1} ||D u||_2`` for ``D [..., n, d]``."""
    if q == 2.0:
        return np.linalg.norm(D, ord=2, axis=(-2, -1))
    if q == 1.0:
        return np.sqrt((D * D).sum(axis=-2)).max(axis=-1)
    d = D.shape[-1]
    if d > MAX_VERTEX_DIM:
        raise ValueError(
            f"d = W.shape[1] must be <= {MAX_VERTEX_DIM} for the exact q = inf vertex enumeration, got d = {d}"
        )
    DV = D @ _vertices(d).T  # [..., n, 2^(d-1)]
    return np.sqrt((DV * DV).sum(axis=-2)).max(axis=-1)


def smooth_term(W, y, gamma, q):
    """``gamma ||D_y||_{q -> 2}`` with ``D_y`` the rows ``w_y' - w_y``."""
    D = W - take(W, y)[:, None, :]
    return gamma * operator_norm(D, q)


def clean_loss(W, b, x, y, tau, rho):
    """The comp-sum loss of the scaled scores ``l^tau(h/rho, x, y)`` per case."""
    scores = np.einsum("mnd,md->mn", W, x) + b
    return take(K.loss_matrix(scores / rho, tau, np), y)
