r"""Symbolic (sympy) and convex-programming (cvxpy) cross-checks of the EnsLoss topic.

Reference: B. Dai, *EnsLoss: Stochastic Calibrated Loss Ensembles for Preventing Overfitting in Classification*,
ICML 2025 (arXiv 2409.00908); Bartlett, Jordan, McAuliffe, JASA 2006. The derivations are in ``docs/ensloss.md``
("Margin losses and the CC conditions", "Order statistics and the rank limit", "Findings").

Each check derives its object independently of the library (sympy algebra, calculus or high-precision
quadrature, or a CLARABEL feasibility program) and compares it with the library's float64 function; each
``assert``\ s and returns its key numbers.

* **Mixture derivative at 0**: :math:`(w_1\,\mathrm{logistic} + w_2\exp + w_3\,\mathrm{hinge} +
  w_4\,\mathrm{sq.hinge})'(0) = -w_1/2 - w_2 - w_3 - 2 w_4 < 0`; vs the library's derivatives.
* **Convexity of the ensemble**: the mixture's second derivative is a positive combination of
  :math:`e^z/(1+e^z)^2`, :math:`e^{-z}` and :math:`2\cdot1[z<1]`, and the one-sided derivatives of the hinge
  terms jump upwards; a random positive mixture is CC by ``is_cc``.
* **Conditional-risk minimisers**: stationarity of :math:`\eta\phi(\alpha) + (1-\eta)\phi(-\alpha)` gives
  :math:`\log\frac{\eta}{1-\eta}`, :math:`\frac12\log\frac{\eta}{1-\eta}` and :math:`2\eta - 1`; the perceptron's
  one-sided slopes at 0 are :math:`1 - \eta > 0` and :math:`-\eta < 0` (minimiser 0); vs
  ``conditional_risk_minimiser``.
* **Rank limit**: :math:`G(1/2) = -1`, :math:`G'(u) = e^{-x}/\varphi(x) > 0` for :math:`x = \Phi^{-1}(u) > 0`,
  :math:`G(3/4) = -e^{-\Phi^{-1}(3/4)}`; vs ``rank_limit``.
* **Inverse Box-Cox**: :math:`\mathrm{BC}^{-1}(\mathrm{BC}(x;\lambda);\lambda) = x` and
  :math:`\lim_{\lambda\to0}\mathrm{BC}^{-1}(e;\lambda) = e^e`; vs ``bc_inv``.
* **Order statistics**: :math:`\mathbb E\min(1, e^{\varepsilon}) = \tfrac12 + e^{1/2}\Phi(-1)` (B = 1) and the
  B = 2 maximum by mpmath quadrature of :math:`2\Phi\varphi`; vs ``expected_rank_derivative``.
* **Tails**: :math:`\lim z\phi'(z)` and :math:`\lim\phi` of the authors' Appendix-D hinge tails (three bounded,
  ``Log_Hinge`` unbounded).
* **Convexity certificate (cvxpy)**: a convex loss with subgradients ``g`` at the sorted margins exists (the
  LP "phi_j >= phi_i + g_i (z_j - z_i)" is feasible) for the library's generated batch, and is infeasible for the
  reversed assignment.

Run ``python -m proofs.ensloss`` for a table.
"""

from __future__ import annotations

import jax
import numpy as np
import sympy as sp

from proofs import collect_checks, main, run_checks
from theory.ensloss import (
    MARGIN_LOSSES,
    bc_inv,
    conditional_risk_minimiser,
    ensloss_derivatives,
    expected_rank_derivative,
    is_cc,
    rank_limit,
)
from theory.ensloss.reference import numpy_ensloss_derivatives

__all__ = ["CHECKS", "run_all"]

z, eta, alpha = sp.symbols("z eta alpha", real=True)
_SYMBOLIC = {
    "logistic": sp.log(1 + sp.exp(-z)),
    "exponential": sp.exp(-z),
    "hinge": sp.Piecewise((1 - z, z < 1), (0, True)),
    "squared_hinge": sp.Piecewise(((1 - z) ** 2, z < 1), (0, True)),
}


def _one_sided(expr, at=0):
    d = sp.diff(expr, z)
    return sp.limit(d, z, at, dir="-"), sp.limit(d, z, at, dir="+")


def check_mixture_derivative_at_zero(smallest=False, derivative_fn=None):
    """The derivative at 0 of a positive mixture is the weighted sum of the derivatives: -w1/2 - w2 - w3 - 2 w4."""
    derivative_fn = derivative_fn or (lambda name, x: float(MARGIN_LOSSES[name][1](x)))
    w = sp.symbols("w1:5", positive=True)
    mix = sum(wi * _SYMBOLIC[n] for wi, n in zip(w, _SYMBOLIC, strict=True))
    left, right = _one_sided(mix)
    expected = -w[0] / 2 - w[1] - w[2] - 2 * w[3]
    assert sp.simplify(left - expected) == 0 and sp.simplify(right - expected) == 0, (left, right)
    worst = 0.0
    for name in _SYMBOLIC:
        exact = float(_one_sided(_SYMBOLIC[name])[1])
        worst = max(worst, abs(derivative_fn(name, 0.0) - exact))
    assert worst < 1e-12, f"library derivative at 0 off by {worst:.3g}"
    return {"derivative_at_0": str(expected), "library_error": worst}


def check_ensemble_is_convex(smallest=False):
    """The mixture's second derivative (smooth part) is a positive combination of non-negative terms, the hinge kinks
    jump upwards, and random positive mixtures pass ``is_cc``."""
    w = sp.symbols("w1:5", positive=True)
    smooth = w[0] * _SYMBOLIC["logistic"] + w[1] * _SYMBOLIC["exponential"]
    second = sp.simplify(sp.diff(smooth, z, 2))
    expected = w[0] * sp.exp(z) / (1 + sp.exp(z)) ** 2 + w[1] * sp.exp(-z)
    assert sp.simplify((second - expected).rewrite(sp.exp)) == 0, second
    for name in ("hinge", "squared_hinge"):
        left, right = _one_sided(_SYMBOLIC[name], at=1)
        assert right - left >= 0, f"{name}: the derivative jumps down at 1"
    rng = np.random.default_rng(0)
    count = 1 if smallest else 6
    for _ in range(count):
        weights = rng.dirichlet(np.ones(4))

        def phi(x, weights=weights):
            return sum(wi * MARGIN_LOSSES[n][0](x) for wi, n in zip(weights, _SYMBOLIC, strict=True))

        report = is_cc(phi)
        assert bool(report), report
    return {"second_derivative": str(expected), "mixtures_checked": count}


def check_conditional_risk_minimisers(smallest=False, minimiser_fn=None):
    """Stationarity of C_eta gives the closed-form minimisers; the perceptron's slopes at 0 straddle 0."""
    minimiser_fn = minimiser_fn or (lambda name, e: conditional_risk_minimiser(e, loss=name))
    smooth = {"logistic": (sp.log(1 + sp.exp(-alpha)), sp.log(eta / (1 - eta))),
              "exponential": (sp.exp(-alpha), sp.log(eta / (1 - eta)) / 2),
              "squared_hinge": ((1 - alpha) ** 2, 2 * eta - 1)}  # on |alpha| <= 1 both hinge pieces are active
    worst = 0.0
    etas = (0.3, 0.7) if smallest else (0.1, 0.3, 0.45, 0.7, 0.9)
    for name, (phi, closed) in smooth.items():
        other = (1 + alpha) ** 2 if name == "squared_hinge" else phi.subs(alpha, -alpha)
        risk = eta * phi + (1 - eta) * other
        sol = sp.solve(sp.Eq(sp.diff(risk, alpha), 0), alpha)
        assert any(sp.simplify(s - closed) == 0 for s in sol), (name, sol)
        for e in etas:
            worst = max(worst, abs(minimiser_fn(name, e) - float(closed.subs(eta, e))))
    assert worst < 1e-12, f"closed-form minimiser off by {worst:.3g}"
    # perceptron: C = eta (-a)_+ + (1 - eta) a_+ has slope 1 - eta > 0 right of 0 and -eta < 0 left of it
    for e in etas:
        assert minimiser_fn("perceptron", e) == 0.0
    return {"max_abs_err": worst, "etas": list(etas)}


def check_rank_limit(smallest=False, limit_fn=None):
    """G(1/2) = -1, G is increasing on u > 1/2 with G' = exp(-x)/phi(x), and G(3/4) = -exp(-Phi^{-1}(3/4))."""
    limit_fn = limit_fn or (lambda u: rank_limit(u))
    x = sp.Symbol("x", positive=True)
    phi = sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi)
    # u = Phi(x) on u > 1/2 (x > 0): G = -exp(-x), dG/du = (dG/dx) / phi(x)
    dG = sp.diff(-sp.exp(-x), x) / phi
    assert sp.simplify(dG - sp.exp(-x) / phi) == 0 and dG.is_positive
    q75 = float(sp.sqrt(2) * sp.erfinv(sp.Rational(1, 2)))  # Phi^{-1}(3/4)
    exact = {0.5: -1.0, 0.75: -float(sp.exp(-q75)), 0.25: -1.0, 0.9: -float(sp.exp(-sp.sqrt(2) * sp.erfinv(
        sp.Rational(4, 5))))}
    worst = max(abs(limit_fn(u) - v) for u, v in exact.items())
    assert worst < 1e-12, f"rank limit off by {worst:.3g}"
    return {"G(0.75)": exact[0.75], "max_abs_err": worst}


def check_inverse_box_cox(smallest=False, bc_inv_fn=None):
    """BC^{-1}(BC(x; lam); lam) = x for x > 0, and BC^{-1}(e; lam) -> exp(e) as lam -> 0."""
    bc_inv_fn = bc_inv_fn or (lambda e, lam: float(bc_inv(np.float64(e), lam)))
    xs, lam, e = sp.Symbol("x", positive=True), sp.Symbol("lambda", positive=True), sp.Symbol("e", real=True)
    bc = (xs**lam - 1) / lam
    inv = (1 + lam * e) ** (1 / lam)
    assert sp.simplify(inv.subs(e, bc) - xs) == 0
    assert sp.limit(inv, lam, 0) == sp.exp(e)
    worst = 0.0
    with jax.enable_x64(True):
        for lv in (-0.7, -0.5, 0.5, 1.0, 2.0):
            for xv in (0.2, 1.0, 3.5):
                e_val = (xv**lv - 1) / lv
                worst = max(worst, abs(bc_inv_fn(e_val, lv) - xv) / xv)
        for ev in (-1.2, 0.3, 1.1):
            worst = max(worst, abs(bc_inv_fn(ev, 0.0) - np.exp(ev)))
    assert worst < 1e-12, f"bc_inv off by {worst:.3g}"
    return {"max_rel_err": worst}


def check_order_statistic_expectations(smallest=False, expectation_fn=None):
    """E min(1, e^eps) = 1/2 + e^{1/2} Phi(-1) (B = 1) and, for B = 2, the maximum's density 2 Phi phi."""
    import mpmath as mp

    expectation_fn = expectation_fn or (lambda B, i: expected_rank_derivative(B, i))
    x = sp.Symbol("x", real=True)
    dens = sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi)
    b1 = sp.Rational(1, 2) + sp.integrate(sp.exp(x) * dens, (x, -sp.oo, 0))
    closed = sp.Rational(1, 2) + sp.exp(sp.Rational(1, 2)) * (1 + sp.erf(-1 / sp.sqrt(2))) / 2
    assert abs(float(b1 - closed)) < 1e-14
    mp.mp.dps = 30
    pdf = lambda t: mp.exp(-t**2 / 2) / mp.sqrt(2 * mp.pi)  # noqa: E731
    cdf = lambda t: mp.ncdf(t)  # noqa: E731
    # rank 1 of B = 2 gets the larger normal, rank 2 the smaller
    big = 1 - cdf(0) ** 2 + mp.quad(lambda t: mp.exp(t) * 2 * cdf(t) * pdf(t), [-mp.inf, 0])
    small = (1 - cdf(0)) ** 2 + mp.quad(lambda t: mp.exp(t) * 2 * (1 - cdf(t)) * pdf(t), [-mp.inf, 0])
    errors = [abs(expectation_fn(1, 1) + float(closed)), abs(expectation_fn(2, 1) + float(big)),
              abs(expectation_fn(2, 2) + float(small))]
    assert max(errors) < 1e-12, f"order-statistic expectations off by {errors}"
    return {"B1": -float(closed), "B2": [-float(big), -float(small)], "max_abs_err": max(errors)}


def check_tail_limits(smallest=False):
    """z phi'(z) and phi at infinity for the authors' Appendix-D tails (hinge below z = 1)."""
    zp = sp.Symbol("z", positive=True)
    tails = {"Exp_Hinge": -sp.exp(-(zp - 1)), "Inv_Hinge": 1 / zp - 1,
             "Inv_Log_Hinge": sp.E / sp.log(zp + sp.E - 1) - sp.E, "Log_Hinge": -sp.log(zp)}
    expected = {"Exp_Hinge": (0, 0), "Inv_Hinge": (0, -1), "Inv_Log_Hinge": (0, -sp.E), "Log_Hinge": (-1, -sp.oo)}
    out = {}
    for name, tail in tails.items():
        zd = sp.limit(zp * sp.diff(tail, zp), zp, sp.oo)
        lim = sp.limit(tail, zp, sp.oo)
        assert (zd, lim) == expected[name], (name, zd, lim)
        out[name] = f"z phi' -> {zd}, phi -> {lim}"
    return out


def check_convexity_certificate(smallest=False, derivative_fn=None):
    """A convex phi with subgradient g_i at each margin z_i exists iff the LP phi_j >= phi_i + g_i (z_j - z_i) is
    feasible: it is for the library's batch, it is not for the reversed assignment."""
    import cvxpy as cp

    derivative_fn = derivative_fn or (lambda zz, nn: np.asarray(ensloss_derivatives(zz, nn)))
    rng = np.random.default_rng(3)
    B = 6 if smallest else 10
    zz = np.sort(rng.standard_normal(B) * 1.5)
    nn = rng.standard_normal(B)
    results = {}
    with jax.enable_x64(True):
        cases = {"library": derivative_fn(zz, nn),
                 "reversed": numpy_ensloss_derivatives(zz, nn, assign="reversed")}
    for name, g in cases.items():
        phi = cp.Variable(B)
        cons = [phi[j] >= phi[i] + g[i] * (zz[j] - zz[i]) for i in range(B) for j in range(B) if i != j]
        prob = cp.Problem(cp.Minimize(0), cons)
        prob.solve(solver=cp.CLARABEL)
        results[name] = prob.status
    assert results["library"] == "optimal", results
    assert results["reversed"] == "infeasible", results
    return {**results, "n_solves": len(results)}


CHECKS = collect_checks(globals())


def run_all(smallest: bool = False) -> dict:
    """Run every check; return ``{name: result}`` (each with its ``seconds``); raises the first failure."""
    return run_checks(CHECKS, smallest)


if __name__ == "__main__":
    import sys

    sys.exit(main(CHECKS))
