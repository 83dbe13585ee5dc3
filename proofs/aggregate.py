r"""Symbolic (sympy) and convex-programming (cvxpy) cross-checks of the aggregate-response topic.

Reference: Javanmard, Chen, Mirrokni, Badanidiyuru, Fu, *Learning from Aggregate Responses: Instance
Level versus Bag Level Loss Functions*, ICLR 2024 (arXiv 2401.11081). The derivations checked here are
written out in docs/aggregate.md#derivations.

Each check derives its object in sympy (or a CLARABEL program), independently of the library, then
compares the library's float64 function with it; each ``assert``\ s and returns its key numbers.

* :func:`check_instance_loss_is_bag_loss_plus_within_bag_variance`:
  :math:`\frac1k\sum(\bar y-f_i)^2 = (\bar y-\bar f)^2 + \frac1k\sum(f_i-\bar f)^2` for k = 1..6; vs
  ``bag_loss``/``instance_loss``/``regulariser``.
* :func:`check_bregman_compensation_identity`:
  :math:`\frac1k\sum D_\phi(f_i,c) = \frac1k\sum D_\phi(f_i,\bar f) + D_\phi(\bar f,c)` for
  :math:`\phi = \exp` and :math:`t\log t`; vs ``bregman_regulariser``.
* :func:`check_fixed_point_is_the_positive_root_of_a_quadratic`: fixed point :math:`\Leftrightarrow`
  quadratic, one positive root (sign argument); vs ``fixed_point_tau``.
* :func:`check_instance_level_closed_forms`: :math:`\rho = 1`: :math:`\tau = \gamma/(1-\gamma)`,
  :math:`c_1 = p`, bias² and variance closed forms.
* :func:`check_bag_level_closed_forms`: :math:`\rho = 0`: :math:`\tau = \gamma/(p-\gamma)`, bias 0,
  variance :math:`\gamma/(p-\gamma)`.
* :func:`check_risk_slope_at_zero_by_implicit_differentiation`:
  :math:`d\mathrm{Risk}/d\rho|_0 = -2\sigma^2(1-p)p\gamma/(p-\gamma)^3`.
* :func:`check_limits_in_rho_k_and_gamma`: :math:`\tau\to0` as :math:`\rho\to\infty` (q > gamma); k = 1
  gives :math:`c_1 = 1`, bias 0; :math:`\gamma\to0` gives Var -> 0 and :math:`c_1 \to p/(p+q\rho)`.
* :func:`check_cvxpy_matches_the_closed_form_estimator`: the cvxpy QP of :math:`(1-\rho)L_{bag} + \rho L_{ins}`
  vs the closed-form estimator.

Run ``python -m proofs.aggregate`` for a table.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from proofs import collect_checks, main, run_checks
from theory.aggregate import (
    asymptotic_risk,
    bag_loss,
    bregman_regulariser,
    fixed_point_tau,
    instance_loss,
    interpolating_estimator,
    regulariser,
    risk_slope_at_zero,
)

__all__ = [
    "check_instance_loss_is_bag_loss_plus_within_bag_variance",
    "check_bregman_compensation_identity",
    "check_fixed_point_is_the_positive_root_of_a_quadratic",
    "check_instance_level_closed_forms",
    "check_bag_level_closed_forms",
    "check_risk_slope_at_zero_by_implicit_differentiation",
    "check_limits_in_rho_k_and_gamma",
    "check_cvxpy_matches_the_closed_form_estimator",
    "CHECKS",
    "run_all",
]

g, p, rho, tau, r2, s2 = sp.symbols("gamma p rho tau r2 sigma2", positive=True)
q = 1 - p


def _quadratic(t=tau, rr=rho):
    return rr * (1 - g) * t**2 + (p + q * rr - g * (1 + rr)) * t - g


def _formulas(t=tau, rr=rho):
    """Symbolic (c1, s2, bias2, var) as functions of the fixed point t (docs/aggregate.md#asymptotic-risk)."""
    c1 = p * t / ((1 + t) * g)
    s_2 = p / (1 + t) ** 2 + q * rr / (1 + rr * t) ** 2
    bias = r2 * ((1 - c1) ** 2 + (t / s_2) * (p * (1 - c1) ** 2 / (1 + t) ** 2 + q * rr**2 * c1**2 / (1 + rr * t) ** 2))
    var = s2 * p * t / (s_2 * (1 + t) ** 2)
    return c1, s_2, bias, var


_POINTS = [(sp.Rational(1, 10), 2, sp.Rational(1, 2)), (sp.Rational(1, 4), 3, sp.Rational(3, 10)),
           (sp.Rational(1, 20), 8, sp.Rational(7, 4))]


def check_instance_loss_is_bag_loss_plus_within_bag_variance(smallest: bool = False) -> dict:
    """The per-bag identity for k = 1..6 symbolically, and the library's losses on a random k-bag."""
    ks = range(1, 5 if smallest else 7)
    for k in ks:
        f = sp.symbols(f"f0:{k}")
        y = sp.Symbol("y")
        fbar = sum(f) / k
        lhs = sum((y - fi) ** 2 for fi in f) / k
        rhs = (y - fbar) ** 2 + sum((fi - fbar) ** 2 for fi in f) / k
        assert sp.expand(lhs - rhs) == 0, f"per-bag identity fails at k={k}"
    rng = np.random.default_rng(0)
    f, bags, y_bar = rng.standard_normal(12), np.repeat(np.arange(3), 4), rng.standard_normal(3)
    lib = (float(instance_loss(f, y_bar, bags)) - float(bag_loss(f, y_bar, bags))
           - float(regulariser(f, bags, num_bags=3)))
    assert abs(lib) < 1e-6, f"library L_ins - L_bag - R = {lib}"
    return {"ks": list(ks), "library_residual": abs(lib)}


def check_bregman_compensation_identity(smallest: bool = False) -> dict:
    """The compensation identity for phi = exp and t log t (k = 3) symbolically; the library's Bregman regulariser
    numerically."""
    f = sp.symbols("f0:3", positive=True)
    c = sp.Symbol("c", positive=True)
    fbar = sum(f) / 3
    done = []
    for name, phi in (("exp", sp.exp), ("entropy", lambda t: t * sp.log(t))):
        t = sp.Symbol("t", positive=True)
        dphi = sp.diff(phi(t), t)

        def D(a, b, phi=phi, dphi=dphi, t=t):
            return phi(a) - phi(b) - dphi.subs(t, b) * (a - b)

        resid = sum(D(fi, c) for fi in f) / 3 - sum(D(fi, fbar) for fi in f) / 3 - D(fbar, c)
        assert sp.simplify(sp.expand_log(resid, force=True)) == 0, f"Bregman identity fails for phi={name}"
        done.append(name)
    import jax.numpy as jnp

    vals = np.array([0.3, 1.2, 2.0])
    lib = float(bregman_regulariser(vals, np.zeros(3, int), num_bags=1, phi=jnp.exp))
    exact = float(np.mean(np.exp(vals) - np.exp(vals.mean()) - np.exp(vals.mean()) * (vals - vals.mean())))
    assert abs(lib - exact) < 1e-6, (lib, exact)
    return {"phis": done, "library_residual": abs(lib - exact)}


def check_fixed_point_is_the_positive_root_of_a_quadratic(smallest: bool = False, tau_fn=None) -> dict:
    """(fixed point - gamma)(1+tau)(1+rho tau) equals the quadratic; one positive root; library tau."""
    tau_fn = tau_fn or (lambda gg, k, rr: fixed_point_tau(gg, bag_size=k, rho=rr, allow_extrapolation=True))
    fp = tau * (p / (1 + tau) + q * rho / (1 + rho * tau)) - g
    assert sp.cancel(fp * (1 + tau) * (1 + rho * tau) - _quadratic()) == 0
    coeffs = sp.Poly(_quadratic(), tau).all_coeffs()
    # leading coefficient rho (1 - gamma) > 0 for gamma < 1, constant -gamma < 0: the product of the roots is
    # negative, so exactly one root is positive (Descartes / Vieta)
    assert sp.expand(coeffs[0] - rho * (1 - g)) == 0 and sp.expand(coeffs[-1] + g) == 0
    worst = 0.0
    for gv, k, rv in _POINTS:
        roots = [r for r in sp.Poly(_quadratic().subs({g: gv, p: sp.Rational(1, k), rho: rv}), tau).nroots(n=30)
                 if r.is_real and r > 0]
        assert len(roots) == 1
        err = abs(float(tau_fn(float(gv), k, float(rv))) - float(roots[0])) / float(roots[0])
        assert err < 1e-12, f"tau at (gamma, k, rho)=({gv}, {k}, {rv}): library off by {err:.2e}"
        worst = max(worst, err)
    return {"max_rel_err": worst}


def _lib(fn, gv, k, rv):
    return fn(float(gv), k, float(rv))


def check_instance_level_closed_forms(smallest: bool = False, risk_fn=None) -> dict:
    """At rho = 1 the quadratic factors, tau = gamma/(1-gamma), c1 = p, and bias²/var have closed forms."""
    risk_fn = risk_fn or (lambda gv, k, rv: asymptotic_risk(gv, bag_size=k, rho=rv, signal=1.0, noise_var=1.0))
    assert sp.factor(_quadratic(rr=1)) == sp.factor((1 - g) * (tau - g / (1 - g)) * (tau + 1))
    t1 = g / (1 - g)
    c1, _, bias, var = _formulas(t1, 1)
    assert sp.simplify(c1 - p) == 0
    bias_cf = r2 * ((1 - p) ** 2 + p * (1 - p) * g / (1 - g))
    var_cf = s2 * g * p / (1 - g)
    assert sp.simplify(bias - bias_cf) == 0 and sp.simplify(var - var_cf) == 0
    worst = 0.0
    for gv, k, _ in _POINTS:
        lib = risk_fn(float(gv), k, 1.0)
        ex = [float(e.subs({g: gv, p: sp.Rational(1, k), r2: 1, s2: 1})) for e in (bias_cf, var_cf)]
        err = max(abs(lib.bias2 - ex[0]), abs(lib.variance - ex[1]))
        assert err < 1e-12, f"rho=1 closed forms at (gamma, k)=({gv}, {k}): library (bias2, var)=" \
                            f"({lib.bias2:.6g}, {lib.variance:.6g}) vs exact ({ex[0]:.6g}, {ex[1]:.6g})"
        worst = max(worst, err)
    return {"bias2_factored": str(sp.factor(bias_cf / r2)), "max_abs_err": worst}


def check_bag_level_closed_forms(smallest: bool = False) -> dict:
    """At rho = 0, tau = gamma/(p-gamma), c1 = 1, bias 0, var = sigma² gamma/(p-gamma)."""
    t0 = g / (p - g)
    assert sp.simplify(_quadratic(t0, 0)) == 0
    c1, _, bias, var = _formulas(t0, 0)
    assert sp.simplify(c1 - 1) == 0 and sp.simplify(bias) == 0
    assert sp.simplify(var - s2 * g / (p - g)) == 0
    lib = asymptotic_risk(0.1, bag_size=4, rho=0.0)
    assert abs(lib.variance - 0.1 / 0.15) < 1e-12 and abs(lib.bias2) < 1e-15
    return {"var_k4_gamma0.1": lib.variance}


def check_risk_slope_at_zero_by_implicit_differentiation(smallest: bool = False, slope_fn=None) -> dict:
    """Implicit differentiation of the fixed point gives dRisk/drho(0) = -2 sigma² (1-p) p gamma/(p-gamma)³."""
    slope_fn = slope_fn or (lambda gv, k: risk_slope_at_zero(gv, bag_size=k, noise_var=1.0))
    t0 = g / (p - g)
    F = _quadratic()
    dtau = -sp.diff(F, rho) / sp.diff(F, tau)
    _, _, bias, var = _formulas()
    risk = bias + var
    total = (sp.diff(risk, rho) + sp.diff(risk, tau) * dtau).subs(rho, 0).subs(tau, t0)
    expected = -2 * s2 * (1 - p) * p * g / (p - g) ** 3
    assert sp.simplify(total - expected) == 0
    dvar = (sp.diff(var, rho) + sp.diff(var, tau) * dtau).subs(rho, 0).subs(tau, t0)
    assert sp.simplify(dvar - 2 * (p - 1) * (1 + t0) ** 2 * t0 / p * s2) == 0  # the intermediate form dVar/drho
    worst = 0.0
    for gv, k in ((sp.Rational(1, 10), 2), (sp.Rational(1, 20), 4), (sp.Rational(1, 5), 3)):
        ex = float(expected.subs({g: gv, p: sp.Rational(1, k), s2: 1}))
        err = abs(slope_fn(float(gv), k) - ex) / abs(ex)
        assert err < 1e-12, f"slope at (gamma, k)=({gv}, {k}): library {slope_fn(float(gv), k):.6g} vs exact {ex:.6g}"
        worst = max(worst, err)
    at = {g: sp.Rational(1, 10), p: sp.Rational(1, 2), s2: 1}
    return {"slope_gamma0.1_k2": float(expected.subs(at)), "max_rel_err": worst}


def check_limits_in_rho_k_and_gamma(smallest: bool = False) -> dict:
    """rho -> inf (q > gamma): tau -> 0; k = 1: c1 = 1, bias 0; gamma -> 0: Var -> 0, c1 -> p/(p+q rho)."""
    B = p + q * rho - g * (1 + rho)
    tau_expr = 2 * g / (B + sp.sqrt(B**2 + 4 * rho * (1 - g) * g))
    sub = {g: sp.Rational(1, 10), p: sp.Rational(1, 4)}
    assert sp.limit(tau_expr.subs(sub), rho, sp.oo) == 0
    k1 = _quadratic().subs(p, 1)
    t_k1 = g / (1 - g)
    assert sp.simplify(k1.subs(tau, t_k1)) == 0
    c1, _, bias, var = _formulas(t_k1)
    assert sp.simplify(c1.subs(p, 1) - 1) == 0 and sp.simplify(bias.subs(p, 1)) == 0
    rv = sp.Rational(1, 2)
    c1_lim = sp.limit((p * tau_expr / ((1 + tau_expr) * g)).subs({p: sp.Rational(1, 4), rho: rv}), g, 0)
    assert sp.simplify(c1_lim - sp.Rational(1, 4) / (sp.Rational(1, 4) + sp.Rational(3, 4) * rv)) == 0
    lib = asymptotic_risk(1e-9, bag_size=4, rho=0.5)
    assert lib.variance < 1e-6 and abs(lib.c1 - 0.4) < 1e-6
    return {"c1_limit": float(c1_lim)}


def check_cvxpy_matches_the_closed_form_estimator(smallest: bool = False) -> dict:
    """The cvxpy QP minimize (1-rho)(1/m)|ybar - Xbar theta|² + rho (1/n) sum (ybar_a - x_i theta)² on the
    6-row reference data set vs the closed-form estimator."""
    import cvxpy as cp

    X = np.array([[1, 0], [0, 1], [1, 1], [2, -1], [0.5, 0.5], [-1, 3]], float)
    y = np.array([1, 2, 0, -1, 3, 0.5])
    bags = np.repeat([0, 1], 3)
    y_bar = np.array([y[:3].mean(), y[3:].mean()])
    x_bar = np.array([X[:3].mean(0), X[3:].mean(0)])
    rhos = (0.0, 0.5, 1.0) if smallest else (0.0, 0.25, 0.5, 0.75, 1.0)
    worst = 0.0
    for r in rhos:
        th = cp.Variable(2)
        obj = (1 - r) * cp.sum_squares(y_bar - x_bar @ th) / 2 + r * cp.sum_squares(y_bar[bags] - X @ th) / 6
        cp.Problem(cp.Minimize(obj)).solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
        err = float(np.max(np.abs(th.value - interpolating_estimator(X, y_bar, bags, rho=r))))
        assert err < 1e-7, f"cvxpy vs closed form at rho={r}: {err:.2e}"
        worst = max(worst, err)
    return {"max_abs_err": worst, "n_solves": len(rhos)}


CHECKS = collect_checks(globals())


def run_all(smallest: bool = False) -> dict:
    """Run every check; return ``{name: result}`` (each with its ``seconds``); raises the first failure."""
    return run_checks(CHECKS, smallest)


if __name__ == "__main__":
    import sys

    sys.exit(main(CHECKS))
