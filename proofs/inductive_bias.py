r"""Symbolic (sympy) and convex-programming (cvxpy) cross-checks of the inductive-bias topic.

Reference: Boopathy, Yue, Hwang, Iyer, Fiete, *Towards Exact Computation of Inductive Bias*, IJCAI 2024
(arXiv 2406.15941); Ruben, Ann. Math. Stat. 1962. The derivations are in ``docs/inductive_bias.md`` ("The exact
law", "The small-eps law", "Bounds", "Findings").

* **Moments from the CGF**: :math:`K(t) = c_0 t + \sum_j[-\tfrac{d_j}{2}\log(1 - 2w_jt) + \lambda_j w_j t/(1 -
  2w_jt)]` gives :math:`K'(0) = c_0 + \sum w_j(d_j + \lambda_j)`, :math:`K''(0) = \sum 2w_j^2(d_j + 2\lambda_j)`,
  :math:`K'''(0) = \sum 8w_j^3(d_j + 3\lambda_j)`; vs ``GChiSq.mean``/``var`` and sample moments.
* **CGF of one term**: :math:`\log E e^{t w\chi^2_d(\lambda)}` from the MGF of a squared shifted normal,
  :math:`(1 - 2t)^{-1/2}e^{\mu^2 t/(1 - 2t)}`, summed over ``d`` coordinates; vs ``GChiSq.cgf``.
* **Small-eps law**: the first Ruben term :math:`a_0 F_{\chi^2_D}(x/\beta)` divided by
  :math:`x^{D/2}e^{-\sum\lambda_j/2}\prod_j(2w_j)^{-d_j/2}/\Gamma(D/2+1)` tends to 1 as :math:`x\to0` (sympy limit),
  the later terms are :math:`O(x^{D/2+1})`; vs ``small_eps_inductive_bias`` and the exact value at small eps.
* **Moment-matching starts** of the fit: :math:`s(k+\lambda) = m_1`, :math:`2s^2(k+2\lambda) = m_2`,
  :math:`8s^3(k+3\lambda) = m_3` reduce to :math:`8m_1s^2 - 8m_2s + m_3 = 0`.
* **The official fallback's missing terms**: :math:`-\log\Phi(z) - z^2/2 \to \log(-z) + \tfrac12\log 2\pi`
  (z -> -inf); the fallback at the deep-tail test vector underestimates the exact value by a factor ~3.
* **Chernoff bound (cvxpy)**: :math:`\min_{t\le0}\sum_j[-\tfrac{d_j}{2}\log(1-2w_jt) + \tfrac{\lambda_j}{2}
  (1/(1-2w_jt) - 1)] - tx` is a DCP problem whose value matches ``chernoff_log_bound``.

Run ``python -m proofs.inductive_bias`` for a table.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import sympy as sp

from proofs import collect_checks, main, run_checks
from theory.inductive_bias import (
    GChiSq,
    chernoff_log_bound,
    legacy_fallback_nats,
    ruben_logcdf,
    scaled_ncx2_logcdf,
    small_eps_inductive_bias,
)

__all__ = ["CHECKS", "run_all"]

_W = (0.05, 0.2, 0.5, 1.0, 1.7)
_D = (1, 2, 1, 3, 1)
_NC = (0.3, 2, 0, 1.5, 4)


def _symbolic_cgf(n_terms):
    t, c0 = sp.symbols("t c0", real=True)
    w = sp.symbols(f"w0:{n_terms}", positive=True)
    d = sp.symbols(f"d0:{n_terms}", positive=True)
    lam = sp.symbols(f"l0:{n_terms}", nonnegative=True)
    K = c0 * t + sum(-d[j] / 2 * sp.log(1 - 2 * w[j] * t) + lam[j] * w[j] * t / (1 - 2 * w[j] * t)
                     for j in range(n_terms))
    return t, c0, w, d, lam, K


def check_moments_from_cgf(smallest=False, law_fn=GChiSq):
    """K'(0), K''(0), K'''(0) of the symbolic CGF equal the closed-form cumulants and the library's moments."""
    t, c0, w, d, lam, K = _symbolic_cgf(2)
    k1, k2, k3 = (sp.simplify(sp.diff(K, t, r).subs(t, 0)) for r in (1, 2, 3))
    assert sp.simplify(k1 - (c0 + sum(w[j] * (d[j] + lam[j]) for j in range(2)))) == 0
    assert sp.simplify(k2 - sum(2 * w[j] ** 2 * (d[j] + 2 * lam[j]) for j in range(2))) == 0
    assert sp.simplify(k3 - sum(8 * w[j] ** 3 * (d[j] + 3 * lam[j]) for j in range(2))) == 0
    law = law_fn(_W, _D, _NC, 0.3)
    mean = 0.3 + sum(a * (b + c) for a, b, c in zip(_W, _D, _NC, strict=True))
    var = sum(2 * a**2 * (b + 2 * c) for a, b, c in zip(_W, _D, _NC, strict=True))
    assert abs(law.mean() - mean) < 1e-12 and abs(law.var() - var) < 1e-12, "library moments off"
    x = law.sample(jax.random.key(0), 20000 if smallest else 200000)
    se_mean = math.sqrt(var / x.size)
    assert abs(x.mean() - mean) < 5 * se_mean, "sample mean off"
    return {"mean": mean, "var": var, "sample_mean": float(x.mean())}


def check_cgf_of_a_term(smallest=False, cgf_fn=None):
    """log E exp(t w (Z + mu)^2) summed over coordinates equals the CGF's term; the library's cgf matches."""
    t, w, mu = sp.symbols("t w mu", real=True)
    z = sp.symbols("z", real=True)
    # E exp(s (Z + mu)^2) for Z ~ N(0, 1), s = t w < 1/2, by completing the square
    s = t * w
    mgf = sp.exp(mu**2 * s / (1 - 2 * s)) / sp.sqrt(1 - 2 * s)
    density = sp.exp(-z**2 / 2) / sp.sqrt(2 * sp.pi)
    numeric = sp.Integral(sp.exp(sp.Rational(1, 10) * (z + sp.Rational(3, 2)) ** 2) * density, (z, -sp.oo, sp.oo))
    val = float(numeric.evalf(30))
    assert abs(val - float(mgf.subs({t: sp.Rational(1, 10), w: 1, mu: sp.Rational(3, 2)}))) < 1e-12
    term = sp.log(mgf)  # one coordinate: non-centrality mu^2
    target = -sp.Rational(1, 2) * sp.log(1 - 2 * w * t) + mu**2 * w * t / (1 - 2 * w * t)
    assert sp.simplify(sp.expand_log(term - target, force=True)) == 0
    law = GChiSq(_W, _D, _NC)
    cgf = cgf_fn or law.cgf
    ts = np.array([-3.0, -0.5, 0.1, 0.25])
    ref = [sum(-b / 2 * math.log(1 - 2 * a * tt) + c * a * tt / (1 - 2 * a * tt) for a, b, c in zip(_W, _D, _NC,
                                                                                                   strict=True))
           for tt in ts]
    assert np.allclose(cgf(ts), ref, rtol=1e-13, atol=0), "library cgf off"
    return {"mgf_check": val}


def check_small_eps_expansion(smallest=False, asymptote_fn=small_eps_inductive_bias):
    """The first Ruben term over the asymptote -> 1 (sympy limit); the asymptote matches the exact I at small eps
    with error O(eps / w_min)."""
    x, beta, D = sp.symbols("x beta D", positive=True)
    a0 = sp.Symbol("a0", positive=True)
    first = a0 * sp.lowergamma(D / 2, x / (2 * beta)) / sp.gamma(D / 2)
    asym = a0 * (x / (2 * beta)) ** (D / 2) / sp.gamma(D / 2 + 1)
    ratio = sp.limit((first / asym).subs(D, 6), x, 0)
    assert ratio == 1, ratio
    ratio3 = sp.limit((first / asym).subs(D, 3), x, 0)
    assert ratio3 == 1, ratio3
    law = GChiSq(_W, _D, _NC, 0.1)
    eps = 0.1 + np.array([1e-6, 1e-8, 1e-10])
    exact = -ruben_logcdf(eps, *law.params) / math.log(2)
    approx = asymptote_fn(law, eps)
    err = np.abs(exact - approx)
    assert np.all(err < 1e-3) and err[-1] < 1e-6, f"small-eps law off by {err}"
    return {"err_bits_at_1e-6": float(err[0]), "err_bits_at_1e-10": float(err[-1])}


def check_moment_matching_starts(smallest=False):
    """s (k + l) = m1, 2 s^2 (k + 2 l) = m2, 8 s^3 (k + 3 l) = m3  =>  8 m1 s^2 - 8 m2 s + m3 = 0."""
    s, k, lam, m1, m2, m3 = sp.symbols("s k l m1 m2 m3", positive=True)
    sol = sp.solve([s * (k + lam) - m1, 2 * s**2 * (k + 2 * lam) - m2], [k, lam], dict=True)[0]
    cubic = sp.simplify(8 * s**3 * (sol[k] + 3 * sol[lam]) - m3)
    assert sp.simplify(sp.numer(sp.together(cubic)) + (8 * m1 * s**2 - 8 * m2 * s + m3)) == 0 or \
        sp.simplify(sp.numer(sp.together(cubic)) - (8 * m1 * s**2 - 8 * m2 * s + m3)) == 0
    assert sp.simplify(sol[lam] - (m2 / (2 * s**2) - m1 / s)) == 0
    return {"nc": str(sol[lam])}


def check_legacy_fallback_terms(smallest=False, fallback_fn=legacy_fallback_nats):
    """-log Phi(z) - z^2/2 - log(-z) - log(2 pi)/2 -> 0 as z -> -inf: the fallback z^2/2 drops the rest; at
    (x = 1e-3, df = 500, nc = 100) it gives 1046.15 nats against the exact 3084.27."""
    import mpmath

    for z in (-10.0, -45.741657):
        exact = -float(mpmath.log(mpmath.ncdf(z)))
        rest = exact - z**2 / 2
        assert abs(rest - (math.log(-z) + 0.5 * math.log(2 * math.pi))) < 2.0 / z**2, rest
    legacy = float(fallback_fn(1e-3, 500, 100, 1.0))
    exact = -float(scaled_ncx2_logcdf(1e-3, 500, 100, 1.0))
    assert abs(legacy - 1046.149606370622) < 1e-6 and abs(exact - 3084.271245082766) < 1e-8
    assert exact / legacy > 2.5
    return {"legacy_nats": legacy, "exact_nats": exact, "ratio": exact / legacy}


def check_chernoff_by_cvxpy(smallest=False, bound_fn=chernoff_log_bound):
    """The Chernoff exponent as a convex program (CLARABEL) equals the library's bound."""
    import cvxpy as cp

    w, d, nc = (np.asarray(v, np.float64) for v in (_W, _D, _NC))
    out = {}
    for x in (0.1, 0.5, 1.0) if not smallest else (0.5,):
        t = cp.Variable()
        obj = (cp.sum(cp.multiply(-d / 2, cp.log(1 - 2 * w * t)))
               + cp.sum(cp.multiply(nc / 2, cp.inv_pos(1 - 2 * w * t) - 1)) - t * x)
        prob = cp.Problem(cp.Minimize(obj), [t <= 0])
        prob.solve(solver=cp.CLARABEL)
        lib = float(bound_fn(x, w, d, nc))
        assert abs(prob.value - lib) < 1e-5 * max(1.0, abs(lib)), f"Chernoff at x = {x}: {prob.value} vs {lib}"
        out[f"x={x}"] = lib
    return out


CHECKS = collect_checks(globals())


def run_all(smallest: bool = False) -> dict:
    """Run every check; returns ``{name: result}``."""
    return run_checks(CHECKS, smallest=smallest)


if __name__ == "__main__":
    raise SystemExit(main(CHECKS))
