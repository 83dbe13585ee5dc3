r"""Independent oracles for the claims and tests (not public API): the population NCE Hessian by automatic
differentiation of a trapezoid-rule loss, the KL-DRO primal by cvxpy, and NumPy transcriptions of the contrastive
definitions with their planted errors.

References:
    Gutmann, Hyvarinen, JMLR 2012; Yeh et al., ECCV 2022 (arXiv 2110.06848); Wang, Liu, CVPR 2021 (arXiv
    2012.09740); Qiu et al., ICML 2023 (arXiv 2305.11965); docs/cnce.md.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special


@jax.jit
def _trapezoid_hessian(x, lp, lq, opt, log_nu, step):
    def loss(p):
        g = p[0] * x - 0.5 * x * x - p[1] - lq - log_nu
        f = jnp.exp(lp) * jax.nn.softplus(-g) + jnp.exp(log_nu + lq) * jax.nn.softplus(g)
        return step * (jnp.sum(f) - 0.5 * (f[0] + f[-1]))

    return jax.hessian(loss)(opt)


def nce_hessian_autodiff(data_mean, *, nu=1.0, noise_mean=0.0, num_points=8001):
    """The Hessian in (theta, c) at the optimum of the population NCE loss, by ``jax.hessian`` of the loss evaluated
    with the trapezoid rule on a uniform grid of ``num_points`` over [min(R, mu) - 12, max(R, mu) + 12] (float64;
    spectrally accurate for these smooth, fast-decaying integrands). One compile serves every R."""
    lo, hi = min(data_mean, noise_mean) - 12.0, max(data_mean, noise_mean) + 12.0
    with jax.enable_x64(True):
        x = jnp.linspace(lo, hi, num_points, dtype=jnp.float64)
        lp = -0.5 * (x - data_mean) ** 2 - 0.5 * math.log(2 * math.pi)
        lq = -0.5 * (x - noise_mean) ** 2 - 0.5 * math.log(2 * math.pi)
        opt = jnp.array([data_mean, 0.5 * data_mean**2 + 0.5 * math.log(2 * math.pi)], jnp.float64)
        h = _trapezoid_hessian(x, lp, lq, opt, jnp.float64(math.log(nu)), jnp.float64((hi - lo) / (num_points - 1)))
        return np.asarray(h)


_PRIMALS: dict = {}


def _primal_problem(m):
    """The parameterised (DPP) primal for m atoms, canonicalised once and reused."""
    import cvxpy as cp  # deferred: a second of import time

    if m not in _PRIMALS:
        p, h, rho = cp.Variable(m, nonneg=True), cp.Parameter(m), cp.Parameter(nonneg=True)
        prob = cp.Problem(cp.Maximize(h @ p), [cp.sum(p) == 1, cp.sum(cp.kl_div(p, np.full(m, 1.0 / m))) <= rho])
        _PRIMALS[m] = (prob, p, h, rho)
    return _PRIMALS[m]


def dro_primal_cvxpy(h, rho):
    r""":math:`\max_p \langle p, h\rangle` s.t. :math:`p\in\Delta_m`, :math:`\mathrm{KL}(p\Vert u)\le\rho`
    (CLARABEL); returns ``(value, p)``."""
    import cvxpy as cp

    h = np.asarray(h, np.float64)
    prob, p, hp, rp = _primal_problem(h.size)
    hp.value, rp.value = h, float(rho)
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return float(prob.value), np.asarray(p.value)


def dro_dual_numpy(h, rho, *, log_sum=False, with_rho=True):
    """The scalar dual minimised over a log-grid of 8001 temperatures in [1e-4, 1e4] in NumPy (the planted variants:
    log-sum-exp instead of log-mean-exp, or the tau * rho term dropped, whose infimum is at tau -> inf)."""
    h = np.asarray(h, np.float64)
    taus = np.exp(np.linspace(math.log(1e-4), math.log(1e4), 8001))
    shift = 0.0 if log_sum else math.log(h.size)
    vals = taus * (special.logsumexp(h[None, :] / taus[:, None], axis=1) - shift) + (taus * rho if with_rho else 0.0)
    return float(vals.min())


def dcl_parts_numpy(z1, z2, tau, anchor):
    """(InfoNCE, DCL, q) for one anchor of view 1 by the definitions (float64 loops)."""
    z1, z2 = np.asarray(z1, np.float64), np.asarray(z2, np.float64)
    pos = float(z1[anchor] @ z2[anchor]) / tau
    negs = [float(z1[anchor] @ z[j]) / tau for z in (z1, z2) for j in range(len(z1)) if j != anchor]
    u = sum(math.exp(s) for s in negs)
    return math.log(math.exp(pos) + u) - pos, math.log(u) - pos, u / (math.exp(pos) + u)
