r"""Symbolic (sympy) and convex-programming (cvxpy) cross-checks of the LDR losses.

Reference: Dixian Zhu, Yiming Ying, Tianbao Yang, *Label Distributionally Robust Losses for Multi-class
Classification: Consistency, Robustness and Adaptivity*, ICML 2023 (arXiv 2112.14869); the derivations are
in ``docs/ldr.md`` ("The objects", "Numerics" and "Derivations").

Each check derives its object independently of the library (exact sympy algebra, or a CLARABEL program)
and compares it with the library's float64 function; each ``assert``\ s and returns its key numbers.

* **KKT** the Lagrangian of :math:`\max_{p\in\Delta}\langle p,a\rangle - \lambda\,\mathrm{KL}(p\|u)`
  gives :math:`p^* = \operatorname{softmax}(a/\lambda)` and the value
  :math:`\lambda\log\frac1K\sum_k e^{a_k/\lambda}`; vs ``ldr_kl_loss``.
* **Limits** :math:`\lambda\to0^+` gives :math:`\max a` and :math:`\lambda\to\infty` gives the mean
  (a = (0, 3/2, -2)); vs the explicit ``lam=0`` / ``lam=inf`` paths.
* **Lambda-derivatives** :math:`\partial_\lambda\psi = -\mathrm{KL}(p^*\|u)` and
  :math:`\partial^2_\lambda\psi = \mathrm{Var}_{p^*}(a)/\lambda^3`; vs ``jax.grad`` in ``lam``.
* **Special cases** CE - log K, temperature-scaled CE, LDAM - log K are identities.
* **ALDR** :math:`\arg\max_\lambda -\lambda\,\mathrm{KL} - \frac\alpha2(\lambda-\lambda_0)^2`
  :math:`= \lambda_0 - \mathrm{KL}/\alpha`.
* **Conditional risk** (C = 0): stationarity gives :math:`\operatorname{softmax}(f/\lambda) = q` and the
  minimum :math:`-\lambda\,\mathrm{KL}(q\|u)`; vs ``min_risk_zero_margin``.
* **Inner max** KL, top-k KL, l2 and R = 0 by CLARABEL; vs ``ldr_loss``.
* **Calibration gaps** the gap table for ``q = (0.4, 0.35, 0.25)``, ``c = 1`` and the class-dependent-margin
  counterexample (``docs/ldr.md``, "Findings"); vs ``calibration_gap`` (CLARABEL).

Run ``python -m proofs.ldr`` for a table.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from proofs import collect_checks, main, run_checks
from theory.ldr import calibration_gap, ldr_kl_loss, ldr_loss, min_risk_zero_margin
from theory.ldr.reference import inner_max_cvxpy

__all__ = ["CHECKS", "run_all"]


def _psi_sym(a, lam):
    K = len(a)
    return lam * sp.log(sum(sp.exp(x / lam) for x in a) / K)


def check_kkt_closed_form(smallest=False, loss_fn=None):
    """KKT of the KL-regularised inner max gives softmax(a/lambda) and lambda log mean exp(a/lambda)."""
    loss_fn = loss_fn or (lambda f, y, lam: ldr_kl_loss(f, y, lam=lam))
    lam, mu = sp.symbols("lambda mu", positive=True)
    a = sp.symbols("a0:3", real=True)
    p = sp.symbols("p0:3", positive=True)
    K = 3
    lagr = sum(pi * ai for pi, ai in zip(p, a, strict=True)) - lam * sum(pi * sp.log(K * pi) for pi in p) \
        - mu * (sum(p) - 1)
    sol = [sp.solve(sp.diff(lagr, pi), pi)[0] for pi in p]  # p_k = exp((a_k - mu - lam)/lam) / K
    mu_star = sp.solve(sp.Eq(sum(sol), 1), mu)[0]
    p_star = [sp.simplify(s.subs(mu, mu_star)) for s in sol]
    softmax = [sp.exp(ai / lam) / sum(sp.exp(x / lam) for x in a) for ai in a]
    assert all(sp.simplify(ps - sm) == 0 for ps, sm in zip(p_star, softmax, strict=True))
    # the value at p* = softmax(a/lambda) is lambda log mean exp(a/lambda), symbolically
    value = sum(sm * ai for sm, ai in zip(softmax, a, strict=True)) - lam * sum(sm * sp.log(K * sm) for sm in softmax)
    assert sp.simplify(sp.expand_log(value - _psi_sym(a, lam), force=True)) == 0, "KKT value is not the closed form"
    points = [((0, sp.Rational(3, 2), -2), sp.Rational(1, 2))] if smallest else \
        [((0, sp.Rational(3, 2), -2), sp.Rational(1, 2)), ((0, 1, 3), 2), ((0, -2, -1), sp.Rational(1, 3))]
    worst = 0.0
    for pt, lv in points:
        exact = _psi_sym(pt, lv).evalf(40)
        with jax.enable_x64(True):
            f = jnp.asarray([float(x) for x in pt])
            got = float(loss_fn(f, jnp.asarray(0), float(lv)))  # a = f - f_0 with f_0 = 0 is the margin vector
        worst = max(worst, abs(got - float(exact)))
        assert worst < 1e-12, f"closed form at a = {pt}, lambda = {lv}: {got} vs {float(exact)}"
    return {"max_error": worst, "points": len(points)}


def check_limits(smallest=False, loss_fn=None):
    """lambda -> 0+ gives max(a) = 3/2, lambda -> inf gives mean(a) = -1/6 for a = (0, 3/2, -2)."""
    loss_fn = loss_fn or (lambda f, y, lam: ldr_kl_loss(f, y, lam=lam))
    lam = sp.symbols("lambda", positive=True)
    a = (0, sp.Rational(3, 2), -2)
    psi = _psi_sym(a, lam)
    lim0 = sp.limit(psi, lam, 0, "+")
    liminf = sp.limit(psi, lam, sp.oo)
    assert lim0 == sp.Rational(3, 2) and liminf == sp.Rational(-1, 6)
    with jax.enable_x64(True):
        f = jnp.asarray([0.0, 1.5, -2.0])
        v0 = float(loss_fn(f, jnp.asarray(0), 0.0))
        vinf = float(loss_fn(f, jnp.asarray(0), math.inf))
    assert abs(v0 - 1.5) < 1e-12 and abs(vinf + 1 / 6) < 1e-12, f"lam=0 gives {v0}, lam=inf gives {vinf}"
    return {"limit_0": float(lim0), "limit_inf": float(liminf)}


def check_lambda_derivatives(smallest=False, kl_fn=None):
    """d psi/d lambda = -KL(p*||u) and d2 psi/d lambda2 = Var_{p*}(a)/lambda^3 (exact at rational points)."""
    kl_fn = kl_fn or (lambda p, K: sum(pi * sp.log(K * pi) for pi in p))
    lam = sp.symbols("lambda", positive=True)
    pts = [((0, sp.Rational(7, 10), sp.Rational(-2, 5)), sp.Rational(9, 10))]
    if not smallest:
        pts += [((0, 2, -1, sp.Rational(1, 2)), 3), ((0, 5, 1), sp.Rational(1, 4))]
    worst = 0.0
    for a, lv in pts:
        K = len(a)
        psi = _psi_sym(a, lam)
        Z = sum(sp.exp(x / lam) for x in a)
        p = [sp.exp(x / lam) / Z for x in a]
        r1 = sp.N((sp.diff(psi, lam) + kl_fn(p, K)).subs(lam, lv), 40)
        mean = sum(pi * x for pi, x in zip(p, a, strict=True))
        var = sum(pi * (x - mean) ** 2 for pi, x in zip(p, a, strict=True))
        r2 = sp.N((sp.diff(psi, lam, 2) - var / lam**3).subs(lam, lv), 40)
        assert abs(r1) < 1e-30, f"dpsi/dlambda + KL = {r1} at a = {a}"
        assert abs(r2) < 1e-30, f"d2psi/dlambda2 - Var/lambda^3 = {r2}"
        with jax.enable_x64(True):
            f = jnp.asarray([float(x) for x in a])
            g = float(jax.grad(lambda t, f=f: ldr_kl_loss(f, jnp.asarray(0), lam=t))(float(lv)))
        target = -float(sp.N(kl_fn(p, K).subs(lam, lv), 30))
        worst = max(worst, abs(g - target))
        assert worst < 1e-12
    return {"max_error": worst}


def check_special_cases(smallest=False):
    """LDR-KL(lambda=1, C=0) = CE - log K; lambda=tau: tau CE(f/tau) - tau log K; LDAM - log K (K = 3)."""
    f = sp.symbols("f0:3", real=True)
    tau, d = sp.symbols("tau Delta", positive=True)
    K = 3
    lse = sp.log(sum(sp.exp(x) for x in f))
    ce = lse - f[0]
    psi1 = _psi_sym([x - f[0] for x in f], 1)
    assert sp.simplify(sp.expand_log(ce - sp.log(K) - psi1, force=True)) == 0
    psit = _psi_sym([x - f[0] for x in f], tau)
    tce = tau * (sp.log(sum(sp.exp(x / tau) for x in f)) - f[0] / tau) - tau * sp.log(K)
    assert sp.simplify(sp.expand_log(tce - psit, force=True)) == 0
    ldam = -sp.log(sp.exp(f[0] - d) / (sp.exp(f[0] - d) + sp.exp(f[1]) + sp.exp(f[2])))
    psil = _psi_sym([0, d + f[1] - f[0], d + f[2] - f[0]], 1)
    assert sp.simplify(sp.expand_log(ldam - sp.log(K) - psil, force=True)) == 0
    return {"identities": 3}


def check_aldr_argmax(smallest=False):
    """argmax_lambda [-lambda KL - alpha/2 (lambda - lambda0)^2] = lambda0 - KL/alpha."""
    lam, lam0, alpha, kl = sp.symbols("lambda lambda0 alpha KL", positive=True)
    obj = -lam * kl - alpha / 2 * (lam - lam0) ** 2
    crit = sp.solve(sp.diff(obj, lam), lam)
    assert len(crit) == 1 and sp.simplify(crit[0] - (lam0 - kl / alpha)) == 0
    assert sp.diff(obj, lam, 2) == -alpha
    return {"argmax": str(crit[0])}


def check_zero_margin_conditional_risk(smallest=False, min_risk_fn=None):
    """With C = 0 the stationary point of sum_y q_y psi(f, y) is softmax(f/lambda) = q, value -lambda KL(q||u)."""
    min_risk_fn = min_risk_fn or (lambda q, lam: min_risk_zero_margin(q, lam=lam))
    lam = sp.symbols("lambda", positive=True)
    q = (sp.Rational(1, 2), sp.Rational(3, 10), sp.Rational(1, 5))
    f = [lam * sp.log(qi) for qi in q]  # the candidate minimiser
    fs = sp.symbols("f0:3", real=True)
    risk = sum(qy * _psi_sym([fk - fs[y] for fk in fs], lam) for y, qy in enumerate(q))
    grad = [sp.simplify(sp.diff(risk, fk).subs(dict(zip(fs, f, strict=True)))) for fk in fs]
    assert all(sp.simplify(g) == 0 for g in grad), grad
    value = sp.simplify(risk.subs(dict(zip(fs, f, strict=True))))
    kl = sum(qi * sp.log(3 * qi) for qi in q)
    assert sp.simplify(sp.expand_log(value + lam * kl, force=True)) == 0
    lams = [1.0] if smallest else [0.5, 1.0, 3.0]
    worst = 0.0
    for lv in lams:
        worst = max(worst, abs(min_risk_fn([0.5, 0.3, 0.2], lv) - float(sp.N((-lam * kl).subs(lam, lv)))))
    assert worst < 1e-12, f"min risk differs by {worst}"
    return {"value_lambda_1": float(sp.N((-lam * kl).subs(lam, 1))), "max_error": worst}


def check_inner_max_by_cvxpy(smallest=False, loss_fn=None):
    """Closed-form inner maxima vs CLARABEL (KL, top-k KL, l2, R = 0), to 1e-6 (the solver tolerance, the KL value
    rebuilt from the clipped solution)."""
    loss_fn = loss_fn or (lambda f, y, **kw: ldr_loss(f, y, **kw))
    cases = [("kl", 1, 0.5), ("kl", 3, 1.0), ("l2", 1, 1.0), ("none", 2, 1.0)]
    if not smallest:
        cases += [("kl", 1, 0.1), ("kl", 2, 3.0), ("l2", 1, 0.3), ("none", 4, 1.0)]
    g = np.array([0.5, -1.0, 2.0, 0.0, 1.5])
    a = 0.2 * (1 - np.eye(5)[1]) + g - g[1]
    worst = 0.0
    for reg, k, lam in cases:
        value, _ = inner_max_cvxpy(a, lam=lam, reg=reg, k=k)
        with jax.enable_x64(True):
            got = float(loss_fn(jnp.asarray(g), jnp.asarray(1), lam=lam, margin=0.2, reg=reg, k=k))
        worst = max(worst, abs(got - value))
        assert abs(got - value) < 1e-6, f"{reg}, k={k}, lambda={lam}: closed form {got} vs cvxpy {value}"
    return {"max_error": worst, "n_solves": len(cases)}


def check_calibration_gaps_by_cvxpy(smallest=False, gap_fn=None):
    """The calibration gaps for q = (0.4, 0.35, 0.25), c = 1 (positive for lambda > 0, 0 for Crammer-Singer) and the
    class-dependent-margin counterexample (gap 0 although q_0 > q_1; docs/ldr.md, "Findings")."""
    gap_fn = gap_fn or (lambda q, i, j, **kw: calibration_gap(q, i, j, **kw))
    table = [(0.0, 0.0), (1.0, 3.258e-3)] if smallest else [(0.0, 0.0), (0.05, 4.200e-4), (0.2, 1.629e-3),
                                                            (1.0, 3.258e-3), (5.0, 9.660e-3)]
    out = {}
    for lam, gap in table:
        got = gap_fn([0.4, 0.35, 0.25], 0, 1, lam=lam, margin=1.0)
        assert abs(got - gap) < 1e-6, f"gap at lambda = {lam}: {got} vs {gap}"
        out[f"gap_{lam:g}"] = got
    C = np.zeros((3, 3))
    C[[0, 2], 1] = 2.0
    cex = gap_fn([0.36, 0.34, 0.30], 0, 1, lam=1.0, margin=C)
    assert abs(cex) < 1e-8, f"class-dependent counterexample gap {cex}"
    out["counterexample_gap"] = cex
    out["n_solves"] = 2 * (len(table) + 1)
    return out


CHECKS = collect_checks(globals())


def run_all(smallest: bool = False) -> dict:
    """Run every check; return ``{name: result}`` (each with its ``seconds``); raises the first failure."""
    return run_checks(CHECKS, smallest)


if __name__ == "__main__":
    import sys

    sys.exit(main(CHECKS))
