r"""Symbolic (sympy) and convex-programming (cvxpy) cross-checks of the ``cnce`` topic.

Reference: Jiang, Qin, Wu, Chen, Yang, Zhang, *Learning Unnormalized Statistical Models via Compositional
Optimization*, ICML 2023 (arXiv 2306.07485); Liu et al., ICLR 2022 (arXiv 2110.11271); Yeh et al., ECCV 2022 (arXiv
2110.06848); Qiu et al., ICML 2023 (arXiv 2305.11965). The derivations are in ``docs/cnce.md``.

Each check derives its object independently of the library and compares it with the library's float64 function:

* **Gaussian closed forms**: :math:`\int e^{\theta x - x^2/2}dx = \sqrt{2\pi}e^{\theta^2/2}`, the population NLL
  :math:`\tfrac12(\theta-R)^2 + \tfrac12 + \tfrac12\log2\pi`, and eNCE :math:`e^{3\theta^2/8-\theta R/2} +
  e^{-\theta^2/8}` with its minimiser R and curvature :math:`(1/2 + R^2/8)e^{-R^2/8}`.
* **Chi-squared and the score moments**: :math:`\int p^2/q = e^{\sigma^2}`, :math:`\int (p^2/q)(x-\theta)^2 =
  e^{\sigma^2}(1+\sigma^2)`, :math:`\int (p^2/q)x^2 = e^{\sigma^2}(1+(2\theta-\mu)^2)` and the k-th weighted score
  moments.
* **NCE Hessian structure**: the second derivative of the NCE integrand in :math:`(\theta, c)` at :math:`p_m = p_d`
  is :math:`\nu q p_d/(p_d+\nu q)\tilde T\tilde T^\top`; by the symmetry :math:`x\mapsto R-x`,
  :math:`H_{01} = -(R/2)H_{11}`; the profiled normaliser :math:`c^* = \theta R/2 + \tfrac12\log2\pi`.
* **Moving average**: :math:`V = (1-\gamma)^2V + \gamma^2s^2 \Rightarrow V = \gamma s^2/(2-\gamma)`.
* **Contrastive identities**: :math:`L_{\rm InfoNCE} - L_{\rm DCL} = -\log q`; the temperature derivative
  :math:`\partial_\tau[\tau\log\frac1m\sum e^{h_j/\tau} + \tau\rho] = \rho - \mathrm{KL}(p_\tau\Vert u)`.
* **KL-DRO duality (cvxpy)**: the primal :math:`\max\langle p, h\rangle` s.t. :math:`\mathrm{KL}(p\Vert u)\le\rho`,
  the exponential-cone form of the dual and the library's scalar dual agree, and :math:`p^* =
  \mathrm{softmax}(h/\tau^*)`.

Run ``python -m proofs.cnce`` for a table.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp
from scipy import optimize, special

from proofs import collect_checks, main, run_checks
from theory.cnce import (
    dcl_loss,
    ence_curvature,
    ence_gaussian_loss,
    gaussian_chi2,
    gaussian_log_partition,
    gaussian_nll,
    gaussian_score_moment,
    infonce_loss,
    ma_stationary_variance,
    nce_hessian_at_optimum,
    nce_profiled_normaliser,
    npc_multiplier,
    population_nce_loss,
    robust_gcl_dual,
    robust_gcl_temperature_gradient,
    weighted_score_moment,
)

__all__ = ["CHECKS", "run_all"]

x = sp.Symbol("x", real=True)
theta, mu, R = sp.symbols("theta mu R", real=True)
gamma, s2 = sp.symbols("gamma s2", positive=True)
_GAUSS = sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi)


def _normal(mean):
    return sp.exp(-(x - mean) ** 2 / 2) / sp.sqrt(2 * sp.pi)


def _integral(expr):
    return sp.simplify(sp.integrate(expr, (x, -sp.oo, sp.oo)))


def check_gaussian_closed_forms(smallest=False):
    """Partition functions, the population NLL and the eNCE landscape, symbolically, vs the library."""
    z_nat = _integral(sp.exp(theta * x - x**2 / 2))
    assert sp.simplify(z_nat - sp.sqrt(2 * sp.pi) * sp.exp(theta**2 / 2)) == 0, z_nat
    z_shift = _integral(sp.exp(-(x - theta) ** 2 / 2))
    assert sp.simplify(z_shift - sp.sqrt(2 * sp.pi)) == 0
    nll = _integral(_normal(R) * (-(theta * x - x**2 / 2))) + sp.log(z_nat)
    target = (theta - R) ** 2 / 2 + sp.Rational(1, 2) + sp.log(2 * sp.pi) / 2
    assert sp.simplify(sp.expand_log(nll - target, force=True)) == 0, nll
    t, r = 0.7, 2.0
    assert abs(gaussian_log_partition(t) - float(sp.log(z_nat.subs(theta, t)))) < 1e-12
    assert abs(gaussian_log_partition(t, parameterisation="shift") - float(sp.log(z_shift))) < 1e-12
    assert abs(gaussian_nll(t, data_mean=r) - float(target.subs({theta: t, R: r}))) < 1e-12
    # eNCE of the normalised model against q = N(0, 1)
    p = _normal(theta)
    ence = _integral(_normal(R) * sp.exp((sp.log(_GAUSS) - sp.log(p)) / 2)) + _integral(
        _GAUSS * sp.exp((sp.log(p) - sp.log(_GAUSS)) / 2))
    closed = sp.exp(3 * theta**2 / 8 - theta * R / 2) + sp.exp(-theta**2 / 8)
    assert abs(float((ence - closed).subs({theta: 1.3, R: 2.0}))) < 1e-12
    slope = sp.diff(closed, theta).subs(theta, R)
    d2 = sp.simplify(sp.diff(closed, theta, 2).subs(theta, R))
    assert sp.simplify(slope) == 0 and sp.simplify(d2 - (sp.Rational(1, 2) + R**2 / 8) * sp.exp(-R**2 / 8)) == 0
    assert abs(float(ence_gaussian_loss(1.0, data_mean=2.0)) - float(closed.subs({theta: 1, R: 2}))) < 1e-12
    assert abs(ence_curvature(4.0) - float(d2.subs(R, 4))) < 1e-12
    return {"Z_natural": str(z_nat), "ence_curvature_R4": float(d2.subs(R, 4))}


def check_chi2_and_score_moments(smallest=False):
    """chi^2 = e^{sigma^2} - 1 and the weighted score moments, by sympy integration, vs the library."""
    p, q = _normal(theta), _normal(mu)
    ratio = sp.exp(sp.expand(2 * sp.log(p) - sp.log(q), force=True))
    chi2 = sp.simplify(_integral(ratio) - 1)
    assert sp.simplify(chi2 - (sp.exp((theta - mu) ** 2) - 1)) == 0, chi2
    ratio0 = ratio.subs(mu, 0)  # the moments with mu = 0 (theta symbolic) are fast closed-form integrals
    shift = _integral(ratio0 * (x - theta) ** 2)
    natural = _integral(ratio0 * x**2)
    assert sp.simplify(shift - sp.exp(theta**2) * (1 + theta**2)) == 0, shift
    assert sp.simplify(natural - sp.exp(theta**2) * (1 + 4 * theta**2)) == 0, natural
    assert abs(float(shift.subs(theta, 0.5)) - gaussian_score_moment(0.7, 0.2)) < 1e-10
    assert abs(float(natural.subs(theta, 0.7)) - gaussian_score_moment(0.7, 0.0, parameterisation="natural")) < 1e-10
    assert abs(gaussian_chi2(1.0) - math.expm1(1.0)) < 1e-15
    ks = (2,) if smallest else (2, 3)
    for k in ks:
        pk = sp.exp(sp.expand(k * sp.log(p) + (1 - k) * sp.log(q), force=True)).subs(mu, 0)
        for param, score in (("shift", x - theta), ("natural", x)):
            got = float(_integral(pk * score).subs(theta, 0.7))
            assert abs(got - weighted_score_moment(k, 0.7, 0.0, parameterisation=param)) < 1e-10, (k, param)
    return {"chi2": str(chi2), "natural_moment": str(natural)}


def check_nce_hessian_structure(smallest=False):
    """The NCE integrand's Hessian at p_m = p_d, the symmetry H01 = -(R/2) H11 and the profiled c*."""
    c, lp, lq, nu = sp.symbols("c lp lq nu", real=True)
    pd_, q_ = sp.exp(lp), sp.exp(lq)
    G = theta * x - x**2 / 2 - c - lq - sp.log(nu)
    f = pd_ * sp.log(1 + sp.exp(-G)) + nu * q_ * sp.log(1 + sp.exp(G))
    H = sp.hessian(f, (theta, c))
    at_opt = {c: theta * x - x**2 / 2 - lp}  # log p_m = log p_d
    T = sp.Matrix([x, -1])
    w = nu * q_ * pd_ / (pd_ + nu * q_)
    diff = (H.subs(at_opt) - w * T * T.T).applyfunc(lambda e: sp.simplify(e))
    assert diff == sp.zeros(2, 2), diff
    for r in ((2.0,) if smallest else (2.0, 4.0, 6.0)):
        h = nce_hessian_at_optimum(r)
        assert abs(h[0, 1] + r / 2 * h[1, 1]) <= 1e-10 * abs(h[0, 1]), (r, h)
    t, r = 1.0, 4.0
    res = optimize.minimize_scalar(lambda cc: population_nce_loss(t, cc, data_mean=r), bracket=(1.0, 4.0),
                                   tol=1e-12)
    assert abs(res.x - nce_profiled_normaliser(t, data_mean=r)) < 1e-6, res.x
    return {"c_star(1, 4)": float(res.x)}


def check_moving_average_fixed_point(smallest=False):
    """V = (1 - gamma)^2 V + gamma^2 s^2 gives V = gamma s^2 / (2 - gamma)."""
    V = sp.Symbol("V")
    sol = sp.solve(sp.Eq(V, (1 - gamma) ** 2 * V + gamma**2 * s2), V)[0]
    assert sp.simplify(sol - gamma * s2 / (2 - gamma)) == 0
    assert abs(ma_stationary_variance(0.5, 1.0) - float(sol.subs({gamma: 0.5, s2: 1}))) < 1e-15
    return {"V": str(sol)}


def check_contrastive_identities(smallest=False):
    """InfoNCE = DCL - log q symbolically and on the library; the temperature derivative identity (3 atoms)."""
    pos, U = sp.symbols("pos U", positive=True)
    info = -sp.log(sp.exp(pos) / (sp.exp(pos) + U))
    dcl = -pos + sp.log(U)
    qq = U / (sp.exp(pos) + U)
    assert sp.simplify(sp.expand_log(info - (dcl - sp.log(qq)), force=True)) == 0
    with jax.enable_x64(True):
        z1, z2 = jnp.array([[1.0, 0.0], [0.0, 1.0]]), jnp.array([[0.8, 0.6], [0.6, 0.8]])
        gap = infonce_loss(z1, z2, temperature=0.5) - dcl_loss(z1, z2, temperature=0.5)
        assert float(jnp.max(jnp.abs(gap + jnp.log(npc_multiplier(z1, z2, temperature=0.5))))) < 1e-14
    tau, rho = sp.symbols("tau rho", positive=True)
    h = sp.symbols("h0:3", real=True)
    m = len(h)
    F = tau * sp.log(sum(sp.exp(hj / tau) for hj in h) / m) + tau * rho
    Zs = sum(sp.exp(hj / tau) for hj in h)
    p = [sp.exp(hj / tau) / Zs for hj in h]
    kl = sum(pj * sp.log(pj * m) for pj in p)
    vals = {h[0]: 0.2, h[1]: -0.1, h[2]: 0.5, tau: 0.3, rho: 0.3}
    lhs, rhs = float(sp.diff(F, tau).subs(vals)), float((rho - kl).subs(vals))
    assert abs(lhs - rhs) < 1e-12, (lhs, rhs)
    with jax.enable_x64(True):
        lib = float(robust_gcl_temperature_gradient(jnp.array([0.2, -0.1, 0.5]), temperature=0.3, rho=0.3))
    assert abs(lib - rhs) < 1e-12
    return {"dtau": lhs}


def check_dro_duality(smallest=False):
    """cvxpy: the KL-constrained primal, the exponential-cone dual and the library's scalar dual agree."""
    import cvxpy as cp

    rng = np.random.default_rng(0)
    cases = [np.array([0.2, -0.1, 0.5, -0.3, 0.0])] + ([] if smallest else [0.5 * rng.standard_normal(12)])
    out = {}
    for i, h in enumerate(cases):
        m, rho = h.size, 0.3
        p = cp.Variable(m, nonneg=True)
        primal = cp.Problem(cp.Maximize(h @ p), [cp.sum(p) == 1, cp.sum(cp.kl_div(p, np.full(m, 1 / m))) <= rho])
        primal.solve(solver=cp.CLARABEL)
        t, tau, z = cp.Variable(), cp.Variable(nonneg=True), cp.Variable(m)
        dual = cp.Problem(cp.Minimize(t + tau * rho), [cp.ExpCone(h - t, tau * np.ones(m), z), cp.sum(z) / m <= tau])
        dual.solve(solver=cp.CLARABEL)
        value, tau_star = robust_gcl_dual(h, rho=rho)
        assert abs(primal.value - value) < 1e-6 and abs(dual.value - value) < 1e-6, (primal.value, dual.value, value)
        assert np.max(np.abs(p.value - special.softmax(h / tau_star))) < 1e-4
        out[f"value_{i}"] = float(value)
    assert abs(out["value_0"] - 0.27468310) < 1e-7
    return out


CHECKS = collect_checks(globals())


def run_all(smallest=False):
    """Run every check; ``{name: result}``."""
    return run_checks(CHECKS, smallest=smallest)


if __name__ == "__main__":
    raise SystemExit(main(CHECKS))
