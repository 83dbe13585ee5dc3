"""Plain NumPy reference implementations (oracles for tests, baseline for the benchmark; not public API).

:func:`topk_sets_numpy` also checks a :class:`~theory.moe.simulate.Design` (every true expert selected
somewhere on the support of X), so that building the module's designs at import does no JAX work.

Written independently of :mod:`theory.moe.model` / :mod:`theory.moe.fit`: the top-K set by a stable
argsort, the gate and density by explicit loops over the selected experts, and one generalised EM
iteration (weighted least squares, Newton gate step with step halving) with NumPy linear algebra.
Positional arguments follow the paper's symbols (``K`` = the number of selected experts).

References:
    Nguyen et al., ICLR 2024 (arXiv 2309.13850): the model of Sec. 2 and the EM of Appendix D, as
    recalled; ``docs/moe.md#the-estimator``.
"""

from __future__ import annotations

import math

import numpy as np

__all__: list[str] = []  # oracles only: import them from this module


def topk_sets_numpy(params, x, K, selection="slope"):
    """(n, k) mask of the K largest scores, ties to the lower index (stable argsort of -score)."""
    s = x @ params.beta1.T + (params.beta0 if selection == "affine" else 0.0)
    order = np.argsort(-s, axis=1, kind="stable")[:, :K]
    mask = np.zeros(s.shape, bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask


def log_density_numpy(params, x, y, K, selection="slope"):
    """log g_G(y|x) by an explicit loop over the selected experts (max-shifted sums)."""
    mask = topk_sets_numpy(params, x, K, selection)
    out = np.empty(len(y))
    for i in range(len(y)):
        js = np.flatnonzero(mask[i])
        eta = params.beta0[js] + x[i] @ params.beta1[js].T
        mu = x[i] @ params.a[js].T + params.b[js]
        v = params.var[js]
        terms = eta - eta.max() - math.log(np.exp(eta - eta.max()).sum()) - 0.5 * (
            np.log(2 * np.pi * v) + (y[i] - mu) ** 2 / v)
        m = terms.max()
        out[i] = m + math.log(np.exp(terms - m).sum())
    return out


def _responsibilities(params, x, y, K):
    mask = topk_sets_numpy(params, x, K)
    eta = np.where(mask, params.beta0 + x @ params.beta1.T, -np.inf)
    log_gate = eta - np.logaddexp.reduce(eta, axis=1, keepdims=True)
    mu = x @ params.a.T + params.b
    joint = log_gate - 0.5 * (np.log(2 * np.pi * params.var) + (y[:, None] - mu) ** 2 / params.var)
    ll = np.logaddexp.reduce(joint, axis=1)
    r = np.where(mask, np.exp(joint - ll[:, None]), 0.0)
    return mask, np.exp(np.where(mask, log_gate, -np.inf)), r, ll.mean()


def em_step_numpy(params, x, y, K, ref=0):
    """One generalised EM iteration in NumPy (same algorithm as :func:`theory.moe.fit.em_step`)."""
    k, d = params.beta1.shape
    mask, pi, r, ll = _responsibilities(params, x, y, K)
    z = np.hstack([np.ones((len(y), 1)), x])
    a, b, var = params.a.copy(), params.b.copy(), params.var.copy()
    for j in range(k):
        rj = r[:, j]
        if rj.sum() < 1e-10:
            continue
        coef = np.linalg.solve((z * rj[:, None]).T @ z + 1e-10 * np.eye(d + 1), (z * rj[:, None]).T @ y)
        b[j], a[j] = coef[0], coef[1:]
        var[j] = max(float(rj @ (y - z @ coef) ** 2 / rj.sum()), 1e-8)
    n = len(y)
    free = [j for j in range(k) if j != ref]
    grad = ((r - pi).T @ z / n)[free].ravel()
    P = len(free) * (d + 1)
    H = np.zeros((P, P))
    for p, j in enumerate(free):
        for q, m in enumerate(free):
            wgt = pi[:, j] * ((j == m) - pi[:, m])
            H[p * (d + 1):(p + 1) * (d + 1), q * (d + 1):(q + 1) * (d + 1)] = -(z * wgt[:, None]).T @ z / n
    step = np.linalg.solve(-H + 1e-9 * np.eye(P), grad).reshape(len(free), d + 1)
    Bm = np.hstack([params.beta0[:, None], params.beta1])

    def Q(B):
        eta = np.where(mask, z @ B.T, -np.inf)
        lg = eta - np.logaddexp.reduce(eta, axis=1, keepdims=True)
        return np.sum(np.where(mask, r * np.where(mask, lg, 0.0), 0.0))

    direction = np.zeros_like(Bm)
    direction[free] = step
    q0, t_best = Q(Bm), 0.0
    for t in 0.5 ** np.arange(4):
        if Q(Bm + t * direction) >= q0:
            t_best = t
            break
    Bn = Bm + t_best * direction
    return type(params)(Bn[:, 0], Bn[:, 1:], a, b, var), ll


def em_numpy(params, x, y, K, iters, ref=0):
    """``iters`` NumPy EM iterations from ``params``; returns (params, list of mean log-likelihoods)."""
    p = params._replace(beta0=params.beta0 - params.beta0[ref], beta1=params.beta1 - params.beta1[ref])
    trace = []
    for _ in range(iters):
        p, ll = em_step_numpy(p, x, y, K, ref)
        trace.append(ll)
    return p, trace
