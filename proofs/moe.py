r"""Symbolic (sympy) and convex (cvxpy) cross-checks of the top-K sparse softmax gating MoE.

Reference: Huy Nguyen, Pedram Akbarian, Fanqi Yan, Nhat Ho, *Statistical Perspective of Top-K Sparse
Softmax Gating Mixture of Experts*, ICLR 2024 (arXiv 2309.13850); the derivations are in
``docs/moe.md#derivations``.

* **heat equation** :math:`\partial_v f = \tfrac12\partial_b^2 f` for :math:`f = \mathcal N(y; ax+b, v)`
  (why a and v get the exponent r-bar/2 in D2).
* **location-slope coupling** :math:`\partial_a f = x\,\partial_b f`.
* **gate-expert interaction** for :math:`u = e^{\beta_1x+\beta_0}f`: :math:`\partial^2_{\beta_1 b}u =
  \partial_a u` and :math:`\partial_{\beta_1}u = x\,\partial_{\beta_0}u`.
* **normalisation** :math:`\int f\,dy = 1` (sympy) and of the library's :math:`g_G(\cdot|x)` (quadrature).
* **translation invariance** of the softmax on a fixed selected set (sympy) and of the library's
  density for both ranking rules (numerically, to 1e-12).
* **top-K sum**: max over K-subsets = sum of the K largest cell terms (itertools, exact).
* **gate M-step** as a concave program (cvxpy, log-sum-exp over each frozen set, reference pinned)
  against the library's Newton gate step iterated to convergence.

``run_all(smallest=True)`` runs everything in a few seconds (one cvxpy solve). Run
``python -m proofs.moe`` for a table.
"""

from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

from proofs import collect_checks, main, run_checks
from theory.moe import MoEParams, log_density, voronoi
from theory.moe.fit import em_step
from theory.moe.simulate import TRUTH

__all__ = ["CHECKS", "run_all"]

x, y, a, b, v, b0, b1 = sp.symbols("x y a b v beta0 beta1", real=True)
f_sym = sp.exp(-(y - a * x - b) ** 2 / (2 * v)) / sp.sqrt(2 * sp.pi * v)


def check_heat_equation(smallest=False, density=f_sym):
    """Heat equation: d f / d v - 1/2 d^2 f / d b^2 == 0 (the variance convention of the expert density)."""
    expr = sp.simplify(sp.diff(density, v) - sp.diff(density, b, 2) / 2)
    assert expr == 0, f"heat equation fails: {expr}"
    return {"residual": str(expr)}


def check_location_slope(smallest=False, density=f_sym):
    """Location-slope coupling: d f / d a - x d f / d b == 0."""
    expr = sp.simplify(sp.diff(density, a) - x * sp.diff(density, b))
    assert expr == 0, f"location-slope coupling fails: {expr}"
    return {"residual": str(expr)}


def check_gate_expert_interaction(smallest=False, density=f_sym):
    """Gate-expert interaction: for u = exp(beta1 x + beta0) f, d2u/dbeta1 db = du/da and du/dbeta1 = x du/dbeta0."""
    u = sp.exp(b1 * x + b0) * density
    e1 = sp.simplify(sp.diff(u, b1, b) - sp.diff(u, a))
    e2 = sp.simplify(sp.diff(u, b1) - x * sp.diff(u, b0))
    assert e1 == 0 and e2 == 0, f"gate-expert identities fail: {e1}, {e2}"
    return {"residuals": [str(e1), str(e2)]}


def check_normalisation(smallest=False, log_density_fn=log_density):
    """Normalisation: int f dy = 1 symbolically; int g_G(y|x) dy = 1 (1e-8) for random G, x, top_k on a +-12 sd grid."""
    vp = sp.Symbol("v", positive=True)
    total = sp.simplify(sp.integrate(f_sym.subs({a: 0, x: 0, v: vp}), (y, -sp.oo, sp.oo)))
    assert total == 1, total
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(2 if smallest else 20):
        k = int(rng.integers(2, 6))
        d = int(rng.integers(1, 4))
        G = MoEParams(rng.normal(size=k), rng.normal(size=(k, d)), rng.normal(size=(k, d)), rng.normal(size=k),
                      rng.uniform(0.05, 1.0, size=k))
        xs = rng.normal(size=(1, d))
        mu = xs @ G.a.T + G.b
        sd = np.sqrt(G.var)
        grid = np.linspace((mu - 12 * sd).min(), (mu + 12 * sd).max(), 20001)
        for K in range(1, k + 1):
            for sel in ("slope", "affine"):
                g = np.exp(log_density_fn(G, np.repeat(xs, len(grid), 0), grid, top_k=K, selection=sel))
                worst = max(worst, abs(np.trapezoid(g, grid) - 1.0))
    assert worst < 1e-8, f"integral of g_G off by {worst:.3g}"
    return {"max_abs_error": worst}


def check_translation_invariance(smallest=False, log_density_fn=log_density):
    """Translation invariance: softmax over a fixed set is invariant to (t0, t1); so is g_G, numerically (1e-12)."""
    t0, t1 = sp.symbols("t0 t1", real=True)
    etas = [sp.Symbol(f"b0{i}") + sp.Symbol(f"b1{i}") * x for i in range(3)]
    soft = sp.exp(etas[0]) / sum(sp.exp(e) for e in etas[:2])
    shifted = soft.subs({sp.Symbol(f"b0{i}"): sp.Symbol(f"b0{i}") + t0 for i in range(3)}).subs(
        {sp.Symbol(f"b1{i}"): sp.Symbol(f"b1{i}") + t1 for i in range(3)})
    assert sp.simplify(shifted - soft) == 0
    rng = np.random.default_rng(1)
    xs, ys = rng.uniform(-1, 1, (200, 1)), rng.normal(size=200)
    worst = 0.0
    for sel in ("slope", "affine"):
        for K in (1, 2, 3):
            base = log_density_fn(TRUTH, xs, ys, top_k=K, selection=sel)
            moved = TRUTH._replace(beta0=TRUTH.beta0 + 0.7, beta1=TRUTH.beta1 - 1.3)
            worst = max(worst, np.max(np.abs(log_density_fn(moved, xs, ys, top_k=K, selection=sel) - base)))
    assert worst < 1e-12, worst
    return {"max_abs_change": float(worst)}


def check_top_k_sum(smallest=False, top_k_sum=voronoi.top_k_sum):
    """Top-K sum: max over K-subsets of sum of terms equals the sum of the K largest (itertools)."""
    rng = np.random.default_rng(2)
    worst = 0.0
    for _ in range(20 if smallest else 200):
        m = int(rng.integers(1, 7))
        terms = rng.exponential(size=m)
        for K in range(1, m + 1):
            brute = max(sum(terms[list(c)]) for c in itertools.combinations(range(m), K))
            worst = max(worst, abs(top_k_sum(terms, K) - brute))
    assert worst < 1e-12, worst
    return {"max_abs_error": worst}


def _cvxpy_gate_mstep(xs, r, mask):
    """argmax over (beta0, beta1) of experts 1, 2 (expert 0 pinned) of sum_i sum_{j in S_i} r_ij log gate_j(x_i)."""
    import cvxpy as cp

    B0, B1 = cp.Variable(2), cp.Variable(2)
    obj = 0
    for sel in ((0, 1), (1, 2)):
        rows = np.flatnonzero(np.all(mask[:, list(sel)], axis=1))
        if len(rows) == 0:
            continue
        etas = cp.vstack([B0[j - 1] + B1[j - 1] * xs[rows] if j else np.zeros(len(rows)) for j in sel])
        obj += sum(cp.sum(cp.multiply(r[rows, j], etas[t])) for t, j in enumerate(sel))
        obj -= cp.sum(cp.multiply(r[rows][:, list(sel)].sum(1), cp.log_sum_exp(etas, axis=0)))
    cp.Problem(cp.Maximize(obj)).solve(solver=cp.CLARABEL)
    return B0.value, B1.value


def check_gate_mstep_cvxpy(smallest=False, em_step_fn=em_step):
    """Gate M-step: a concave program; the library's Newton gate step agrees with cvxpy.

    With the experts held at the truth, the library's gate updates are iterated to their fixed point G
    on n points drawn from the truth of the exact-specified design; at a fixed point the M-step for the
    responsibilities r(G) must return G's own gate, so cvxpy (CLARABEL, log-sum-exp over each frozen set,
    expert 0 pinned) solved at r(G) must give G's (beta0, beta1).
    """
    from theory.moe.model import gates, log_expert, selection_mask

    n = 300
    rng = np.random.default_rng(3)
    xs = rng.uniform(-1, 1, n)
    gate = gates(TRUTH, xs, top_k=2)
    z = (rng.uniform(size=(n, 1)) > np.cumsum(gate, axis=1)).sum(axis=1)  # expert label ~ top-2 gate
    ys = TRUTH.a[z, 0] * xs + TRUTH.b[z] + np.sqrt(TRUTH.var[z]) * rng.normal(size=n)
    G = TRUTH
    for it in range(500):  # noqa: B007 (reported)
        new, _ = em_step_fn(G, xs, ys, top_k=2)
        new = TRUTH._replace(beta0=new.beta0, beta1=new.beta1)
        step = max(np.max(np.abs(new.beta0 - G.beta0)), np.max(np.abs(new.beta1 - G.beta1)))
        G = new
        if step < 1e-11:
            break
    assert step < 1e-9, f"gate updates did not reach a fixed point ({step:.3g})"
    mask = selection_mask(G, xs, top_k=2)
    joint = np.where(mask, np.log(np.maximum(gates(G, xs, top_k=2), 1e-300)) + log_expert(G, xs, ys), -np.inf)
    r = np.where(mask, np.exp(joint - np.logaddexp.reduce(joint, axis=1, keepdims=True)), 0.0)
    b0, b1 = _cvxpy_gate_mstep(xs, r, mask)
    err = max(np.max(np.abs(G.beta0[1:] - b0)), np.max(np.abs(G.beta1[1:, 0] - b1)))
    assert err < 1e-4, f"Newton gate step vs cvxpy: max abs difference {err:.3g}"
    return {"cvxpy_beta0": b0.tolist(), "cvxpy_beta1": b1.tolist(), "max_abs_diff": float(err),
            "iterations": it + 1, "n_solves": 1}


CHECKS = collect_checks(globals())


def run_all(smallest: bool = False) -> dict:
    """Run every check; return ``{name: result}`` (each with its ``seconds``); raises the first failure."""
    return run_checks(CHECKS, smallest)


if __name__ == "__main__":
    import sys

    sys.exit(main(CHECKS))
