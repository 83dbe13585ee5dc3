r"""Symbolic (sympy) and convex-programming (cvxpy) cross-checks of the comp-sum losses.

Reference: Anqi Mao, Mehryar Mohri, Yutao Zhong, *Cross-Entropy Loss Functions: Theoretical
Analysis and Applications*, ICML 2023 (arXiv 2304.07288), and for the two-label transfer
characterization Mao, Mohri, Zhong, *H-Consistency Bounds: Characterization and Extensions*,
NeurIPS 2023. The reference values are the library's own, each derived or computed to the stated
digits (mpmath, sympy or CLARABEL); docs/compsum.md derives what the library adds to the papers.

Every check derives its object independently of the library (exact sympy algebra with
``Rational`` exponents, or a CLARABEL convex program) and then compares it with the library's
float64 function where one exists. Each check ``assert``\ s, so a wrong formula in the library (or a
wrong reference number) makes it fail; each returns its key numbers in a dict.

Sympy checks (family :math:`\Phi^\tau`, :math:`\Psi_\tau`, transformation :math:`\mathcal T_{\tau,n}`), by
function:

* ``check_limit_tau_to_one``: :math:`\lim_{\tau\to1}\Phi^\tau(u) = \log(1+u)` (both sides) and the first-order term
  :math:`-(\tau-1)\log^2(1+u)/2`; vs ``comp_sum_phi`` near ``tau = 1``.
* ``check_phi_integral_form``: :math:`\Phi^\tau(u) = \int_0^u (1+v)^{-\tau}dv` for symbolic :math:`\tau`, the
  :math:`\Phi^\tau(1)` table; vs ``comp_sum_phi``.
* ``check_exponential_transform``: :math:`\mathcal T_0(t) = 1-\sqrt{1-t^2}` (the binary exponential-loss function); vs
  ``consistency_transform`` (also at ``t = 1e-6``) and the reference values of T.
* ``check_small_t_series``: Taylor series of :math:`\mathcal T_{\tau,n}` at ``t = 0``: the general-:math:`\tau`
  quadratic
  coefficient and the explicit series at six values of ``tau``; vs ``small_t_constant`` and
  ``consistency_transform`` at small ``t``.
* ``check_stationarity``: Stationarity: the two-class first-order condition at :math:`\tau=1/2`, the ``n = 3``
  Lagrange solution :math:`S^*\propto p^{1/(2-\tau)}` and the vertex infimum for :math:`\tau\ge2`
  give the closed-form :math:`C^*_\tau` (paper: the minimal conditional risk behind the
  minimizability-gap analysis); vs ``min_conditional_risk`` and the reference values of C*.
* ``check_gradient_identity``: Gradient identity :math:`\nabla_h\ell^\tau = S_y^{\tau-1}(S-e_y)`: symbolic in
  :math:`z = e^h`, exact at rational ``h``; vs ``jax.grad(comp_sum_loss)`` and reference gradients.
* ``check_transform_at_one``: :math:`\mathcal T_{\tau,n}(1)` closed forms per branch and their continuity at
  :math:`\tau = 1, 2`; vs ``transform_at_one``.
* ``check_logistic_transfer``: Logistic two-label transfer: :math:`\arg\max_\mu = ts`, value :math:`\mathcal T_1(t)`
  independent of ``s``; sum-exponential value :math:`\propto 1/s` with :math:`\mathcal T_0` at
  ``s = 1/2``; vs ``consistency_transform``.
* ``check_phi_decreasing_in_tau``: :math:`\partial_\tau\Phi^\tau(u) = -\int_0^u\log(1+v)(1+v)^{-\tau}dv < 0`; vs the
  ``tau``-derivative of ``comp_sum_loss`` (its custom JVP).
* ``check_gamma_inverse``: The inverse :math:`\Gamma = \mathcal T^{-1}`:
  :math:`\Gamma_0(\epsilon)=\sqrt{2\epsilon-\epsilon^2}`,
  linear for :math:`\tau\ge2`, 30-digit roots otherwise; vs ``consistency_bound`` and the reference values of
  Gamma.

Convex programs (CLARABEL, tight tolerances; the ``check_cvxpy_*`` functions):

* ``check_cvxpy_complete_min_risk``: :math:`C^*_\tau(p)` over the simplex (complete hypothesis set); vs
  ``min_conditional_risk``.
* ``check_cvxpy_box_min_risk``: :math:`C^*_{\tau,\Lambda}(p)` over the softmax polytope of the box :math:`|h|\le\Lambda`
  (S-space) and, for :math:`\tau\le1`, directly in ``h``; vs reference values, the deterministic closed form
  :math:`\Phi^\tau((n-1)e^{-2\Lambda})` (``comp_sum_phi``) and ``min_conditional_risk(p, box=...)``.
* ``check_cvxpy_linear_best_risk``: :math:`R^*_\tau(\mathcal H_{lin})` on a three-point linear example; vs reference
  numbers, BFGS on
  the library's
  ``conditional_risk`` and the minimizability gaps :math:`M_\tau = R^* - E\,C^*_\tau`.
* ``check_cvxpy_intercept_only_risk``: Intercept-only :math:`R^*_\tau = C^*_\tau(\bar p)` on a two-point stochastic
  example; vs
  ``min_conditional_risk``, the reference :math:`M_\tau(\mathcal H_{const})` and, at :math:`\tau = 1`, the mutual
  information.

``run_all(smallest=True)`` runs everything with at most 10 cvxpy solves in well under 20 s.
Run ``python -m proofs.compsum`` for a table.
"""

from __future__ import annotations

import math
import warnings

import cvxpy as cp
import numpy as np
import sympy as sp
from scipy import optimize

from proofs import collect_checks, main, run_checks
from theory.compsum import (
    comp_sum_loss,
    comp_sum_phi,
    conditional_risk,
    consistency_bound,
    consistency_transform,
    min_conditional_risk,
    small_t_constant,
    transform_at_one,
)

__all__ = [
    "check_limit_tau_to_one",
    "check_phi_integral_form",
    "check_exponential_transform",
    "check_small_t_series",
    "check_stationarity",
    "check_gradient_identity",
    "check_transform_at_one",
    "check_logistic_transfer",
    "check_phi_decreasing_in_tau",
    "check_gamma_inverse",
    "check_cvxpy_complete_min_risk",
    "check_cvxpy_box_min_risk",
    "check_cvxpy_linear_best_risk",
    "check_cvxpy_intercept_only_risk",
    "run_all",
]

R = sp.Rational
_TAUS = (R(0), R(1, 2), R(1), R(3, 2), R(2), R(3))
_P3 = (0.5, 0.3, 0.2)
_CSTAR_P3 = {  # complete C*_tau(p) at p = (0.5, 0.3, 0.2), mpmath
    0.0: 1.89695014983179,
    0.5: 1.38459445460898,
    1.0: 1.02965301406457,
    1.5: 0.767117199406205,
    2.0: 0.5,
    3.0: 0.25,
}


# ----------------------------------------------------------------------------------------------
# Small helpers (pure functions)
# ----------------------------------------------------------------------------------------------


def _close(a, b, rtol, atol=0.0) -> bool:
    return abs(float(a) - float(b)) <= atol + rtol * abs(float(b))


def _rel(a, b) -> float:
    return abs(float(a) - float(b)) / max(abs(float(b)), 1e-300)


def _phi_sym(u, tau):
    """:math:`\\Phi^\\tau(u)` as a sympy expression (``tau`` a Rational or a symbol != 1)."""
    if tau == 1:
        return sp.log(1 + u)
    return ((1 + u) ** (1 - tau) - 1) / (1 - tau)


def _psi_sym(s, tau):
    """:math:`\\Psi_\\tau(s)`, the loss as a function of the softmax value ``s``."""
    if tau == 1:
        return -sp.log(s)
    return (s ** (tau - 1) - 1) / (1 - tau)


def _a_sym(t, tau):
    """:math:`A_\\tau(t) = (((1+t)^r + (1-t)^r)/2)^{2-\\tau}`, ``r = 1/(2-tau)``."""
    r = 1 / (2 - tau)
    return (((1 + t) ** r + (1 - t) ** r) / 2) ** (2 - tau)


def _transform_sym(t, tau, n):
    """The ICML transformation :math:`\\mathcal T_{\\tau,n}(t)` for a Rational ``tau``."""
    if tau == 1:
        return (1 + t) / 2 * sp.log(1 + t) + (1 - t) / 2 * sp.log(1 - t)
    if tau < 1:
        return 2 ** (1 - tau) / (1 - tau) * (1 - _a_sym(t, tau))
    if tau < 2:
        return (_a_sym(t, tau) - 1) / ((tau - 1) * n ** (tau - 1))
    return t / ((tau - 1) * n ** (tau - 1))


def _is_zero(expr) -> bool:
    return sp.simplify(expr) == 0


def _solve(prob: cp.Problem) -> float:
    """Solve with CLARABEL at tight tolerances (default tolerances as a fallback); return the value."""
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10, tol_ktratio=1e-8)
    if prob.status != cp.OPTIMAL:  # e.g. optimal_inaccurate at the tight tolerances: fresh solve, defaults
        prob = cp.Problem(prob.objective, prob.constraints)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prob.solve(solver=cp.CLARABEL)
    assert prob.status == cp.OPTIMAL, f"CLARABEL status {prob.status}"
    return float(prob.value)


def _psi_cvx(S, p, tau):
    """DCP form of :math:`\\sum_y p_y \\Psi_\\tau(S_y)` for ``tau <= 2`` (convex in ``S``)."""
    if tau == 1:
        return -(p @ cp.log(S))
    if tau < 1:
        return (p @ cp.power(S, tau - 1) - 1) / (1 - tau)
    if tau < 2:
        return (1 - p @ cp.power(S, tau - 1)) / (tau - 1)
    if tau == 2:
        return 1 - p @ S
    raise ValueError("the S-space program is convex only for tau <= 2")


def _cvx_min_risk_S(p, tau, box=None) -> float:
    """Convex program: :math:`\\min_S \\sum_y p_y\\Psi_\\tau(S_y)` over the simplex (or the box polytope)."""
    p = np.asarray(p, dtype=np.float64)
    S = cp.Variable(p.size)
    cons = [cp.sum(S) == 1, S >= 1e-12]
    if box is not None:
        low = cp.Variable()
        cons += [S >= low, S <= math.exp(2 * box) * low]
    return _solve(cp.Problem(cp.Minimize(_psi_cvx(S, p, tau)), cons))


def _loss_cvx(h, p, tau):
    """DCP form of :math:`\\sum_y p_y \\ell^\\tau(h, y)` for ``tau <= 1`` (convex in the logits ``h``)."""
    lse = cp.log_sum_exp(h)
    if tau == 1:
        return lse - p @ h
    terms = [p[y] * (cp.exp((1 - tau) * (lse - h[y])) - 1) / (1 - tau) for y in range(p.size) if p[y] > 0]
    return cp.sum(cp.hstack(terms))


def _cvx_min_risk_h(p, tau, box) -> float:
    """h-space program: :math:`\\min_{|h|\\le\\Lambda} \\sum_y p_y \\ell^\\tau(h, y)`, ``tau <= 1``."""
    p = np.asarray(p, dtype=np.float64)
    h = cp.Variable(p.size)
    return _solve(cp.Problem(cp.Minimize(_loss_cvx(h, p, tau)), [cp.abs(h) <= box]))


def _cvx_linear_risk(X, pi, P, tau, *, intercept_only=False, box=None):
    """Linear-score program: :math:`\\min_{W,b} \\sum_i \\pi_i \\sum_y P_{iy}\\ell^\\tau(Wx_i + b, y)`, ``tau <= 1``."""
    X = np.asarray(X, dtype=np.float64).reshape(len(pi), -1)
    n = P.shape[1]
    b = cp.Variable(n)
    W = None if intercept_only else cp.Variable((X.shape[1], n))
    terms = []
    for i in range(len(pi)):
        h = b if W is None else X[i] @ W + b
        terms.append(pi[i] * _loss_cvx(h, P[i], tau))
    cons = [] if box is None else [cp.abs(b) <= box]
    value = _solve(cp.Problem(cp.Minimize(cp.sum(cp.hstack(terms))), cons))
    return value, (None if W is None else W.value), b.value


def _library_box_cstar(p, tau, lam):
    """``min_conditional_risk(p, box=lam)`` or ``None`` when ``theory.compsum.box`` is not available."""
    try:
        return float(min_conditional_risk(np.asarray(p, dtype=np.float64), tau=tau, box=lam))
    except ImportError as err:  # box.py not written yet
        warnings.warn(f"library box C* unavailable, comparison skipped: {err}", stacklevel=3)
        return None


# ----------------------------------------------------------------------------------------------
# Sympy checks
# ----------------------------------------------------------------------------------------------


def check_limit_tau_to_one(smallest: bool = False) -> dict:
    """The comp-sum family is continuous at the logistic loss.

    Paper object: the comp-sum family :math:`\\Phi^\\tau` of Mao-Mohri-Zhong (ICML 2023), whose
    ``tau = 1`` member is the logistic loss. Derives :math:`\\lim_{\\tau\\to1^\\pm}\\Phi^\\tau(u)` and the
    series in :math:`\\tau-1` (first-order term :math:`-(\\tau-1)\\log^2(1+u)/2`, the safe
    fallback ``w + (1-tau) w^2/2``), then checks ``comp_sum_phi`` at ``tau = 1 +- 1e-6`` against it.
    """
    u, tau = sp.symbols("u tau", positive=True)
    phi = _phi_sym(u, tau)
    lim_minus = sp.limit(phi, tau, 1, dir="-")
    lim_plus = sp.limit(phi, tau, 1, dir="+")
    assert _is_zero(lim_minus - sp.log(1 + u)) and _is_zero(lim_plus - sp.log(1 + u)), (lim_minus, lim_plus)
    first = sp.series(phi, tau, 1, 2).removeO()
    first_coeff = sp.simplify(sp.diff(first, tau))
    assert _is_zero(first_coeff + sp.log(1 + u) ** 2 / 2), f"first-order coefficient {first_coeff}"

    us = (0.5, 2.0) if smallest else (0.01, 0.5, 2.0, 10.0, 1e3)
    delta = 1e-6
    worst = 0.0
    for uv in us:
        w = math.log1p(uv)
        for d in (-delta, delta):
            lib = float(comp_sum_phi(uv, tau=1.0 + d))
            pred = w - d * w * w / 2  # series through first order; remainder O(d^2 w^3)
            err = abs(lib - pred)
            worst = max(worst, err / max(1.0, w))
            assert err <= 1e-12 * max(1.0, w**3), f"comp_sum_phi({uv}, tau=1{d:+g}) = {lib}, series {pred}"
        assert _close(comp_sum_phi(uv, tau=1.0), w, 1e-15), f"comp_sum_phi({uv}, tau=1) != log1p(u)"
    return {"limit": str(lim_minus), "first_order_coeff": str(first_coeff), "max_err_near_1": worst}


def check_phi_integral_form(smallest: bool = False) -> dict:
    """:math:`\\Phi^\\tau(u) = \\int_0^u (1+v)^{-\\tau}dv` for every ``tau``.

    Paper object: the comp-sum definition :math:`\\Phi^\\tau` (ICML 2023, the family of
    cross-entropy-like losses). Integrates symbolically for a symbolic ``tau != 1`` (``conds='none'``)
    and for ``tau = 1``, checks the :math:`\\Phi^\\tau(1)` table (six values of ``tau``) exactly, and compares exact
    values at ``u in {1, 2}`` with ``comp_sum_phi``.
    """
    u, v, tau = sp.symbols("u v tau", positive=True)
    integral = sp.integrate((1 + v) ** (-tau), (v, 0, u), conds="none")
    assert _is_zero(integral - _phi_sym(u, tau)), f"integral {integral}"
    integral_1 = sp.integrate(1 / (1 + v), (v, 0, u))
    assert _is_zero(integral_1 - sp.log(1 + u)), f"tau = 1 integral {integral_1}"

    table = {
        R(0): 1,
        R(1, 2): 2 * (sp.sqrt(2) - 1),
        R(1): sp.log(2),
        R(3, 2): 2 - sp.sqrt(2),
        R(2): R(1, 2),
        R(3): R(3, 8),
    }
    phi1_table = {R(0): 1.0, R(1, 2): 0.828427, R(1): 0.693147, R(3, 2): 0.585786, R(2): 0.5, R(3): 0.375}
    worst = 0.0
    for tv in _TAUS:
        exact_1 = sp.integrate((1 + v) ** (-tv), (v, 0, 1))
        assert _is_zero(exact_1 - table[tv]), f"Phi^{tv}(1) = {exact_1}, expected {table[tv]}"
        assert abs(float(exact_1) - phi1_table[tv]) < 1e-6, f"Phi^{tv}(1) table {phi1_table[tv]} vs {float(exact_1)}"
        for uv in (1, 2):
            exact = sp.N(sp.integrate((1 + v) ** (-tv), (v, 0, uv)), 30)
            lib = float(comp_sum_phi(float(uv), tau=float(tv)))
            worst = max(worst, _rel(lib, exact))
            assert _close(lib, exact, 1e-14), f"comp_sum_phi({uv}, tau={tv}) = {lib}, exact {exact}"
    return {"integral": str(sp.simplify(integral)), "max_rel_err_library": worst}


def check_exponential_transform(smallest: bool = False) -> dict:
    """At ``tau = 0`` the transformation is :math:`1-\\sqrt{1-t^2}`.

    Paper object: the bound function :math:`\\mathcal T_{0,n}` of the H-consistency theorem for the
    sum-exponential loss (ICML 2023), which matches the binary exponential-loss function. With
    ``Rational`` exponents, :math:`2(1-A_0(t)) - (1-\\sqrt{1-t^2})` simplifies to 0. Compared with
    ``consistency_transform(t, tau=0)`` on ``t`` from ``1e-6`` to 1 (exact values at 30 digits) and the
    reference values of T.
    """
    t = sp.symbols("t", positive=True)
    t0 = _transform_sym(t, R(0), sp.Integer(3))
    closed = 1 - sp.sqrt(1 - t**2)
    assert _is_zero(t0 - closed), f"T_0 - (1 - sqrt(1 - t^2)) = {sp.simplify(t0 - closed)}"

    ts = (R(1, 10**6), R(1, 10), R(1, 2), R(9, 10), R(1))
    if not smallest:
        ts = ts + (R(1, 10**8), R(1, 1000), R(1, 5), R(99, 100))
    worst = 0.0
    for tv in ts:
        exact = sp.N(closed.subs(t, tv), 30)
        for n in (2, 3) if smallest else (2, 3, 10):
            lib = float(consistency_transform(float(tv), tau=0.0, num_classes=n))
            worst = max(worst, _rel(lib, exact))
            assert _close(lib, exact, 1e-12), f"T_0({tv}) library {lib}, exact {exact}"
    tv2 = {R(1, 10): 0.00501256289338, R(1, 2): 0.133974596216, R(9, 10): 0.564110105646, R(1): 1.0}
    for tv, val in tv2.items():
        assert abs(float(closed.subs(t, tv)) - val) < 1e-12, f"T_0 reference at t = {tv}: {val}"
    return {"T0": str(closed), "max_rel_err_library": worst}


def check_small_t_series(smallest: bool = False) -> dict:
    """Taylor series of :math:`\\mathcal T_{\\tau,n}` at ``t = 0``.

    Paper object: the square-root behaviour of the H-consistency bounds of comp-sum losses near 0
    (ICML 2023, the corollary :math:`\\Gamma(\\epsilon)\\approx\\sqrt{c\\,\\epsilon}`). Derives for symbolic
    ``tau`` that :math:`A_\\tau` is even with :math:`A_\\tau''(0)/2 = (\\tau-1)/(2(2-\\tau))`, hence the
    quadratic coefficient :math:`1/(2^\\tau(2-\\tau))` (``tau <= 1``) and :math:`1/(2(2-\\tau)n^{\\tau-1})`
    (``1 < tau < 2``); checks the explicit series at ``tau in {0, 1/2, 3/4, 1, 5/4, 3/2}``,
    the coefficient against ``small_t_constant``, and the series (through ``t^6``) against
    ``consistency_transform`` at ``t in {1e-6, 1e-4, 1e-3}`` (where the naive formula has no digits).
    """
    t, tau, n = sp.symbols("t tau n", positive=True)
    a = _a_sym(t, tau)
    assert _is_zero(a.subs(t, 0) - 1) and _is_zero(sp.diff(a, t).subs(t, 0)), "A_tau(0) = 1, A'(0) = 0"
    assert _is_zero(sp.diff(a, t, 3).subs(t, 0)), "A'''(0) = 0 (T is even in t)"
    c2_a = sp.simplify(sp.diff(a, t, 2).subs(t, 0) / 2)
    assert _is_zero(c2_a - (tau - 1) / (2 * (2 - tau))), f"A''(0)/2 = {c2_a}"
    c2_low = sp.simplify(-(2 ** (1 - tau)) / (1 - tau) * c2_a)  # tau < 1 branch
    c2_gce = sp.simplify(c2_a / ((tau - 1) * n ** (tau - 1)))  # 1 < tau < 2 branch
    assert _is_zero(c2_low - 1 / (2**tau * (2 - tau))), f"tau < 1 coefficient {c2_low}"
    assert _is_zero(c2_gce - 1 / (2 * (2 - tau) * n ** (tau - 1))), f"GCE coefficient {c2_gce}"

    # The explicit series, written as (c2, c4) (GCE ones multiply powers of n).
    expected = {
        R(0): (R(1, 2), R(1, 8)),
        R(1, 2): (sp.sqrt(2) / 3, 25 * sp.sqrt(2) / 324),
        R(3, 4): (100 * 2 ** R(1, 4) / 250, 21 * 2 ** R(1, 4) / 250),
        R(1): (R(1, 2), R(1, 12)),
        R(5, 4): (2 / (3 * n ** R(1, 4)), 7 / (162 * n ** R(1, 4))),
        R(3, 2): (1 / sp.sqrt(n), -1 / (4 * sp.sqrt(n))),
    }
    ns = (3,) if smallest else (2, 3, 10)
    worst_const = worst_series = 0.0
    coeffs = {}
    for tv, (c2_expected, c4_expected) in expected.items():
        series = sp.expand(sp.series(_transform_sym(t, tv, n), t, 0, 8).removeO())
        c = [sp.simplify(series.coeff(t, k)) for k in range(8)]
        assert all(_is_zero(c[k]) for k in (0, 1, 3, 5, 7)), f"odd/constant terms at tau = {tv}: {c}"
        assert _is_zero(c[2] - c2_expected) and _is_zero(c[4] - c4_expected), f"tau = {tv}: series {series}"
        if tv == 1:
            assert _is_zero(c[6] - R(1, 30)), f"logistic t^6 coefficient {c[6]}"
        general = c2_low if tv < 1 else (R(1, 2) if tv == 1 else c2_gce)
        assert _is_zero(c[2] - general.subs(tau, tv)), f"tau = {tv}: c2 {c[2]} vs general {general}"
        coeffs[str(tv)] = str(c[2])
        for nv in ns:
            c2v = float(c[2].subs(n, nv))
            lib = small_t_constant(tau=float(tv), num_classes=nv)
            worst_const = max(worst_const, _rel(lib, c2v))
            assert _close(lib, c2v, 1e-14), f"small_t_constant(tau={tv}, n={nv}) = {lib}, series {c2v}"
            for tt in (R(1, 10**6), R(1, 10**4), R(1, 1000)):
                exact = sp.N(series.subs({n: nv, t: tt}), 30)  # truncation O(t^8): relative <= 1e-18
                lib_t = float(consistency_transform(float(tt), tau=float(tv), num_classes=nv))
                worst_series = max(worst_series, _rel(lib_t, exact))
                assert _close(lib_t, exact, 1e-12), (
                    f"consistency_transform(t={float(tt):g}, tau={tv}, num_classes={nv}) = {lib_t!r}, exact series "
                    f"{float(exact)!r} (relative error {_rel(lib_t, exact):.2g} > 1e-12)"
                )
    return {"c2": coeffs, "max_rel_err_small_t_constant": worst_const, "max_rel_err_T_small_t": worst_series}


def check_stationarity(smallest: bool = False) -> dict:
    """The closed-form minimal conditional risk :math:`C^*_\\tau(p)`.

    Paper object: the best-in-class conditional risk of comp-sum losses for complete hypothesis
    sets (ICML 2023, the minimizability-gap analysis). Derivations:

    * two classes, ``tau = 1/2``: the first-order condition vanishes at
      :math:`S^* = p^r/(p^r+q^r)`, ``r = 1/(2 - tau)``, for all ``p, q > 0``; :math:`C^*` at ``p = 0.3``
      equals the closed form to 20 digits;
    * ``n = 3``, ``tau in {0, 1/2, 1, 3/2}``: sympy solves the Lagrange conditions
      :math:`-p_y\\Psi_\\tau'(S_y) = \\lambda`, :math:`\\sum S = 1`; :math:`\\Psi_\\tau'' > 0` makes it the
      minimum; the value minus the closed form vanishes on the simplex;
    * ``tau in {2, 3}`` (concave :math:`\\Psi_\\tau`): the infimum over the simplex's vertices,
      :math:`(1-\\max p)/(\\tau-1)`.

    Compared with ``min_conditional_risk`` (rtol 1e-13) and the reference values at ``p = (0.5, 0.3, 0.2)``.
    """
    s = sp.symbols("s", positive=True)
    p, q = sp.symbols("p q", positive=True)
    half = R(1, 2)
    r = 1 / (2 - half)
    objective = p * _psi_sym(s, half) + q * _psi_sym(1 - s, half)  # S = (s, 1 - s)
    foc = sp.diff(objective, s)
    s_star = p**r / (p**r + q**r)
    assert _is_zero(foc.subs(s, s_star)), f"two-class FOC at S*: {sp.simplify(foc.subs(s, s_star))}"
    assert sp.diff(_psi_sym(s, half), s, 2).is_positive, "Psi_1/2 not strictly convex on s > 0"
    c_two = p * _psi_sym(s_star, half) + q * _psi_sym(1 - s_star, half)
    closed_two = ((p**r + q**r) ** (2 - half) - 1) / (1 - half)
    c_two_03 = sp.N(c_two.subs({p: R(3, 10), q: R(7, 10)}), 25)
    assert _is_zero((c_two - closed_two).subs({p: R(3, 10), q: R(7, 10)})), "two-class C* != closed form"
    assert abs(c_two_03 - sp.Float("0.74997374647076162620", 25)) < 1e-19, f"two-class C*(0.3) = {c_two_03}"
    lib_two = float(min_conditional_risk(np.array([0.3, 0.7]), tau=0.5))
    assert _close(lib_two, c_two_03, 1e-13), f"min_conditional_risk([0.3, 0.7], 0.5) = {lib_two}, exact {c_two_03}"

    ps = sp.symbols("p0:3", positive=True)
    Ss = sp.symbols("S0:3", positive=True)
    lam = sp.symbols("lam", positive=True)
    points = [(R(1, 2), R(3, 10), R(1, 5))]
    if not smallest:
        points.append((R(7, 10), R(1, 5), R(1, 10)))
    taus = (R(1, 2), R(3, 2)) if smallest else (R(0), R(1, 2), R(1), R(3, 2))
    worst = 0.0
    values = {}
    for tv in taus:
        assert sp.simplify(sp.diff(_psi_sym(s, tv), s, 2)).is_positive, f"Psi_{tv} not strictly convex"
        sols = [sp.solve(sp.Eq(-ps[i] * sp.diff(_psi_sym(Ss[i], tv), Ss[i]), lam), Ss[i]) for i in range(3)]
        assert all(len(x) == 1 for x in sols), f"stationarity not unique at tau = {tv}: {sols}"
        s_lam = [x[0] for x in sols]
        lam_sol = sp.solve(sp.Eq(sum(s_lam), 1), lam)
        assert len(lam_sol) == 1, f"normalisation at tau = {tv}: {lam_sol}"
        s_opt = [sp.simplify(x.subs(lam, lam_sol[0])) for x in s_lam]
        rr = 1 / (2 - tv)
        for i in range(3):  # S* proportional to p^{1/(2 - tau)}
            assert _is_zero(sp.powsimp(s_opt[i] * sum(pj**rr for pj in ps) - ps[i] ** rr, force=True)), s_opt
        value = sum(ps[i] * _psi_sym(s_opt[i], tv) for i in range(3))
        if tv == 1:
            closed = -sum(pi * sp.log(pi) for pi in ps)
        else:
            closed = ((sum(pi**rr for pi in ps)) ** (2 - tv) - 1) / (1 - tv)
        on_simplex = sp.expand_log((value - closed).subs(ps[2], 1 - ps[0] - ps[1]), force=True)
        assert _is_zero(on_simplex), f"Lagrange value - closed form at tau = {tv}: {sp.simplify(on_simplex)}"
        for pt in points:
            exact = sp.N(value.subs(dict(zip(ps, pt, strict=True))), 30)
            lib = float(min_conditional_risk(np.array([float(x) for x in pt]), tau=float(tv)))
            worst = max(worst, _rel(lib, exact))
            assert _close(lib, exact, 1e-13), f"min_conditional_risk({pt}, tau={tv}) = {lib}, Lagrange {exact}"
            if pt == points[0]:
                values[float(tv)] = float(exact)
                assert _close(exact, _CSTAR_P3[float(tv)], 1e-13), f"C*, tau = {tv}: {_CSTAR_P3[float(tv)]}, {exact}"

    for tv in (R(2), R(3)):  # concave Psi: infimum at a vertex S = e_j, with Psi(0+) = 1/(tau - 1)
        assert sp.simplify(sp.diff(_psi_sym(s, tv), s, 2)).is_nonpositive, f"Psi_{tv} not concave"
        psi0 = sp.limit(_psi_sym(s, tv), s, 0, dir="+")
        assert _is_zero(psi0 - 1 / (tv - 1)), f"Psi_{tv}(0+) = {psi0}"
        for pt in points:
            vertex = min(pt[j] * _psi_sym(sp.Integer(1), tv) + (1 - pt[j]) * psi0 for j in range(3))
            assert _is_zero(vertex - (1 - max(pt)) / (tv - 1)), f"vertex value {vertex}"
            lib = float(min_conditional_risk(np.array([float(x) for x in pt]), tau=float(tv)))
            worst = max(worst, _rel(lib, vertex))
            assert _close(lib, vertex, 1e-14), f"min_conditional_risk({pt}, tau={tv}) = {lib}, vertex {vertex}"
            if pt == points[0]:
                values[float(tv)] = float(vertex)
                assert _close(vertex, _CSTAR_P3[float(tv)], 1e-14), f"C*(0.5, 0.3, 0.2) at tau = {tv}"
    return {"two_class_cstar_0.3": float(c_two_03), "cstar_tv4": values, "max_rel_err_library": worst}


def check_gradient_identity(smallest: bool = False) -> dict:
    """:math:`\\partial\\ell^\\tau/\\partial h_k = S_y^{\\tau-1}(S_k-\\delta_{ky})`.

    Paper object: the comp-sum loss :math:`\\ell^\\tau(h,x,y)` (ICML 2023) and its logit gradient,
    the cross-entropy gradient rescaled by :math:`S_y^{\\tau-1}`. Proved symbolically in
    :math:`z_k = e^{h_k}` (then :math:`\\partial_{h_k} = z_k\\partial_{z_k}`) for
    ``tau in {0, 1/2, 1, 3/2, 2, 3}`` and every label, with :math:`\\sum_k\\partial_k\\ell = 0`; evaluated
    exactly at ``h = (3/10, -7/10, 11/10)``; compared with ``jax.grad(comp_sum_loss)`` in float64 and
    with reference gradients at ``h = (1, -1/2, 2)``.
    """
    import jax
    import jax.numpy as jnp

    z = sp.symbols("z0:3", positive=True)
    total = sum(z)
    soft = [zk / total for zk in z]
    for tv in _TAUS:
        for y in range(3):
            loss = _phi_sym(sum(z[k] for k in range(3) if k != y) / z[y], tv)
            grad = [z[k] * sp.diff(loss, z[k]) for k in range(3)]
            for k in range(3):
                ident = soft[y] ** (tv - 1) * (soft[k] - (1 if k == y else 0))
                assert _is_zero(grad[k] - ident), f"gradient identity fails at tau = {tv}, y = {y}, k = {k}"
            assert _is_zero(sum(grad)), f"gradient does not sum to 0 at tau = {tv}"

    hs = sp.symbols("h0:3", real=True)
    exps = [sp.exp(hk) for hk in hs]
    z_h = sum(exps)
    cases = [((R(3, 10), R(-7, 10), R(11, 10)), 0, None)]
    tv1 = {  # reference gradients, y = 0, h = (1, -1/2, 2)
        R(0): (-2.94141198861, 0.223130160148, 2.71828182846),
        R(1, 2): (-1.48159649373, 0.11239121354, 1.36920528019),
        R(1): (-0.746283818365, 0.0566117322405, 0.689672086125),
        R(3, 2): (-0.375905005114, 0.0285154695488, 0.347389535565),
        R(2): (-0.189344280812, 0.0143633125398, 0.174980968272),
        R(3): (-0.0480397079419, 0.00364420481323, 0.0443955031287),
    }
    cases.append(((R(1), R(-1, 2), R(2)), 0, tv1))
    if not smallest:
        cases.append(((R(3, 10), R(-7, 10), R(11, 10)), 2, None))
    worst_exact = worst_lib = 0.0
    with jax.enable_x64(True):
        for h_val, y, table in cases:
            sub = dict(zip(hs, h_val, strict=True))
            h_arr = jnp.asarray([float(x) for x in h_val], dtype=jnp.float64)
            def grad_at(tt, y=y, h_arr=h_arr):
                return jax.grad(lambda h: comp_sum_loss(h, jnp.asarray(y), tau=tt))(h_arr)

            grads_lib = np.asarray(  # one traced-tau call for all tau values
                jax.vmap(grad_at)(
                    jnp.asarray([float(tv) for tv in _TAUS], dtype=jnp.float64)
                )
            )
            for tv, grad_lib in zip(_TAUS, grads_lib, strict=True):
                loss = _phi_sym(sum(sp.exp(hs[k] - hs[y]) for k in range(3) if k != y), tv)
                for k in range(3):
                    g = sp.diff(loss, hs[k]).subs(sub)
                    ident = ((exps[y] / z_h) ** (tv - 1) * (exps[k] / z_h - (1 if k == y else 0))).subs(sub)
                    resid = abs(sp.N(g - ident, 50))
                    worst_exact = max(worst_exact, float(resid))
                    assert resid < 1e-40, f"exact residual {resid} at tau = {tv}, k = {k}"
                    g30 = sp.N(g, 30)
                    worst_lib = max(worst_lib, abs(grad_lib[k] - float(g30)) / max(1.0, abs(float(g30))))
                    assert _close(grad_lib[k], g30, 1e-13, 1e-15), f"jax grad {grad_lib[k]} vs exact {g30}"
                    if table is not None:
                        assert abs(float(g30) - table[tv][k]) < 1e-11, f"gradient at tau = {tv}, k = {k}: {g30}"
    return {"max_exact_residual": worst_exact, "max_rel_err_jax_grad": worst_lib}


def _t1_symbolic():
    """Derive :math:`\\mathcal T_{\\tau,n}(1)` branch by branch (``tau = 2 - k`` with ``k > 0``)."""
    t, k, n = sp.symbols("t k n", positive=True)
    tau = 2 - k  # makes r = 1/(2 - tau) = 1/k > 0, so (1 - t)^r -> 0 at t = 1
    a1 = sp.simplify(_a_sym(t, tau).subs(t, 1))
    low = sp.simplify(2 ** (1 - tau) / (1 - tau) * (1 - a1))
    gce = sp.simplify((a1 - 1) / ((tau - 1) * n ** (tau - 1)))
    logistic = sp.limit((1 + t) / 2 * sp.log(1 + t) + (1 - t) / 2 * sp.log(1 - t), t, 1, dir="-")
    return {"k": k, "n": n, "a1": a1, "low": low, "gce": gce, "logistic": logistic}


def check_transform_at_one(smallest: bool = False, t1_fn=None) -> dict:
    """:math:`\\mathcal T_{\\tau,n}(1)`, where the bound saturates at :math:`\\Gamma = 1`.

    Paper object: the H-consistency bound function :math:`\\mathcal T_{\\tau,n}` of the comp-sum
    theorem (ICML 2023) at ``t = 1``. Derives :math:`A_\\tau(1) = 2^{\\tau-1}`, hence
    :math:`(2^{1-\\tau}-1)/(1-\\tau)` (``tau < 1``), ``log 2`` (``tau = 1``),
    :math:`(2^{\\tau-1}-1)/((\\tau-1)n^{\\tau-1})` (``1 < tau < 2``) and :math:`1/((\\tau-1)n^{\\tau-1})`
    (``tau >= 2``), plus continuity at ``tau = 1`` (both sides give ``log 2``) and at ``tau = 2`` (``1/n``).
    Compares exact values with ``t1_fn`` (default ``transform_at_one``) on a ``tau`` grid and
    ``n in {2, 3, 10}`` (rtol 1e-12), and the end values of the bound-curve figure (``n = 10``).
    """
    if t1_fn is None:
        def t1_fn(*, tau, n_classes):
            return transform_at_one(tau=tau, num_classes=n_classes)
    d = _t1_symbolic()
    k, n = d["k"], d["n"]
    tau = sp.symbols("tau", positive=True)
    to_tau = {k: 2 - tau}
    assert _is_zero(d["a1"] - 2 ** (1 - k)), f"A_tau(1) = {d['a1']}"
    low = sp.simplify(d["low"].subs(to_tau))
    gce = sp.simplify(d["gce"].subs(to_tau))
    assert _is_zero(low - (2 ** (1 - tau) - 1) / (1 - tau)), f"T(1), tau < 1: {low}"
    assert _is_zero(gce - (2 ** (tau - 1) - 1) / ((tau - 1) * n ** (tau - 1))), f"T(1), GCE: {gce}"
    assert _is_zero(d["logistic"] - sp.log(2)), f"T(1), tau = 1: {d['logistic']}"
    big = 1 / ((tau - 1) * n ** (tau - 1))
    assert _is_zero(sp.limit(low, tau, 1, dir="-") - sp.log(2)), "T(1) discontinuous at tau = 1-"
    assert _is_zero(sp.limit(gce, tau, 1, dir="+") - sp.log(2)), "T(1) discontinuous at tau = 1+"
    assert _is_zero(sp.limit(gce, tau, 2, dir="-") - 1 / n), "T(1) discontinuous at tau = 2-"

    def exact(tv, nv):
        if tv == 1:
            return sp.log(2)
        expr = low if tv < 1 else (gce if tv < 2 else big)
        return expr.subs({tau: tv, n: nv})

    taus = (R(0), R(1, 2), R(1), R(3, 2), R(2), R(3))
    if not smallest:
        taus = taus + (R(1, 4), R(9, 10), R(11, 10), R(5, 4), R(7, 4), R(19, 10), R(5, 2), R(4))
    worst = 0.0
    values = {}
    for tv in taus:
        for nv in (2, 3, 10):
            ex = sp.N(exact(tv, nv), 30)
            lib = float(t1_fn(tau=float(tv), n_classes=nv))
            worst = max(worst, _rel(lib, ex))
            assert _close(lib, ex, 1e-12), f"T(1) at tau = {tv}, n = {nv}: checked function {lib}, derived {ex}"
            values[(float(tv), nv)] = float(ex)
    f1 = {(0.0, 10): 1.0, (0.5, 10): 0.828427, (1.0, 10): 0.693147, (1.5, 10): 0.261972, (2.0, 10): 0.1}
    for (tv, nv), val in f1.items():
        assert abs(values[(tv, nv)] - val) < 1e-6, f"figure end value T(1) at tau = {tv}: {val} vs {values[(tv, nv)]}"
    return {"T1_low": str(low), "T1_gce": str(gce), "max_rel_err_library": worst}


def check_logistic_transfer(smallest: bool = False) -> dict:
    """The two-label transfer problem reproduces :math:`\\mathcal T_1` and :math:`\\mathcal T_0`.

    Paper object: the comp-sum characterization :math:`\\mathcal T^{char}` of Mao-Mohri-Zhong
    (NeurIPS 2023), which yields the ICML 2023 bound functions. For the logistic loss the unique
    stationary point of :math:`\\mu\\mapsto\\frac{1+t}{2}\\log\\frac{s+\\mu}{s}+\\frac{1-t}{2}\\log\\frac{s-\\mu}{s}`
    is :math:`\\mu = ts` (a maximum), with value :math:`\\mathcal T_1(t)` for every ``s``. For the
    sum-exponential loss the admissible stationary point gives a value ``c(t)/s`` (decreasing in ``s``)
    equal to :math:`1-\\sqrt{1-t^2}` at ``s = 1/2``. Compared with ``consistency_transform`` and its reference values.
    """
    t, s, mu = sp.symbols("t s mu", positive=True)
    g = (1 + t) / 2 * sp.log((s + mu) / s) + (1 - t) / 2 * sp.log((s - mu) / s)
    crit = sp.solve(sp.diff(g, mu), mu)
    assert len(crit) == 1 and _is_zero(crit[0] - t * s), f"logistic argmax {crit}"
    second = sp.simplify(sp.diff(g, mu, 2).subs(mu, t * s))
    assert _is_zero(second - 1 / (s**2 * (t**2 - 1))), f"second derivative {second}"  # < 0 for t < 1
    t1 = _transform_sym(t, R(1), 3)
    value = g.subs(mu, t * s)
    assert _is_zero(sp.expand_log(value - t1, force=True)), "logistic transfer value != T_1"
    assert s not in sp.simplify(sp.expand_log(value, force=True)).free_symbols, "logistic value depends on s"

    g0 = (1 + t) / 2 * (_psi_sym(s, 0) - _psi_sym(s + mu, 0)) + (1 - t) / 2 * (_psi_sym(s, 0) - _psi_sym(s - mu, 0))
    crit0 = sp.solve(sp.diff(g0, mu), mu)
    probe = {t: R(1, 2), s: R(1, 4)}
    admissible = [c for c in crit0 if abs(c.subs(probe)) < probe[s]]  # |mu| < s
    assert len(admissible) == 1, f"sum-exponential critical points {crit0}"
    value0 = sp.simplify(g0.subs(mu, admissible[0]))
    c_t = sp.simplify(value0 * s)
    assert s not in c_t.free_symbols, f"sum-exponential value * s depends on s: {c_t}"
    assert _is_zero(value0.subs(s, R(1, 2)) - (1 - sp.sqrt(1 - t**2))), "value at s = 1/2 != T_0"

    tv2 = {R(1, 10): 0.00500836684636, R(1, 2): 0.130812035941, R(9, 10): 0.494631937214}  # T_1 reference
    ts = (R(1, 2),) if smallest else tuple(tv2) + (R(1, 20), R(99, 100))  # small t: see check_small_t_series
    worst = 0.0
    for tv in ts:
        ex1 = sp.N(value.subs({t: tv, s: R(1, 3)}), 30)
        lib = float(consistency_transform(float(tv), tau=1.0, num_classes=3))
        worst = max(worst, _rel(lib, ex1))
        assert _close(lib, ex1, 1e-13), f"T_1({tv}) library {lib}, transfer {ex1}"
        if tv in tv2:
            assert abs(float(ex1) - tv2[tv]) < 1e-12, f"T_1 reference at t = {tv}"
        ex0 = sp.N(value0.subs({t: tv, s: R(1, 2)}), 30)
        lib0 = float(consistency_transform(float(tv), tau=0.0, num_classes=3))
        worst = max(worst, _rel(lib0, ex0))
        assert _close(lib0, ex0, 1e-12), f"T_0({tv}) library {lib0}, transfer {ex0}"
    return {"argmax_mu": str(crit[0]), "sum_exp_value_times_s": str(c_t), "max_rel_err_library": worst}


def check_phi_decreasing_in_tau(smallest: bool = False) -> dict:
    """:math:`\\tau\\mapsto\\Phi^\\tau(u)` is non-increasing.

    Paper object: the ordering of the comp-sum losses in :math:`\\tau` (ICML 2023), which underlies
    the monotone minimizability gaps for deterministic distributions. Derives
    :math:`\\partial_\\tau\\Phi^\\tau(u) = -\\int_0^u\\log(1+v)(1+v)^{-\\tau}dv` for symbolic ``tau`` (with a
    positive integrand, so the derivative is negative), its ``tau -> 1`` limit
    :math:`-\\log^2(1+u)/2`, the value ``-0.8775`` at ``(u, tau) = (2, 1/2)``, and compares with the
    ``tau``-derivative of ``comp_sum_loss`` (its custom JVP) at ``h = 0`` (so ``u = n - 1``).
    """
    import jax
    import jax.numpy as jnp

    u, v, tau = sp.symbols("u v tau", positive=True)
    d_phi = sp.diff(_phi_sym(u, tau), tau)
    integrand = sp.log(1 + v) * (1 + v) ** (-tau)
    assert integrand.is_positive, "integrand log(1+v)(1+v)^-tau not provably positive"
    integral = sp.integrate(integrand, (v, 0, u), conds="none")
    assert _is_zero(d_phi + integral), "dPhi/dtau != -integral"
    d_phi_1 = sp.limit(d_phi, tau, 1)
    assert _is_zero(d_phi_1 + sp.log(1 + u) ** 2 / 2), f"dPhi/dtau at tau = 1: {d_phi_1}"
    val = sp.N(d_phi.subs({u: 2, tau: R(1, 2)}), 30)
    assert abs(float(val) - (-0.8775)) < 5e-5 and val < 0, f"dPhi/dtau(2, 1/2) = {val}"

    cases = [(3, R(1, 2))] if smallest else [(3, R(1, 2)), (3, R(0)), (3, R(3, 2)), (5, R(3)), (2, R(1, 4))]
    cases.append((3, R(1)))
    worst = 0.0
    with jax.enable_x64(True):
        for nv, tv in cases:
            uv = nv - 1  # h = 0: u = sum_{y' != y} e^0
            ex = sp.N(d_phi_1.subs(u, uv) if tv == 1 else d_phi.subs({u: uv, tau: tv}), 30)
            h = jnp.zeros(nv, dtype=jnp.float64)
            lib = float(jax.grad(lambda tt, h=h: comp_sum_loss(h, jnp.asarray(0), tau=tt))(jnp.float64(float(tv))))
            worst = max(worst, _rel(lib, ex))
            assert ex < 0 and _close(lib, ex, 1e-12), f"d l/d tau at n = {nv}, tau = {tv}: jax {lib}, exact {ex}"
    return {"dphi_dtau_u2_tau_half": float(val), "dphi_dtau_at_1": str(d_phi_1), "max_rel_err_jax": worst}


def check_gamma_inverse(smallest: bool = False) -> dict:
    """The bound :math:`\\Gamma_{\\tau,n} = \\mathcal T_{\\tau,n}^{-1}` (capped at 1).

    Paper object: the H-consistency bound :math:`\\Gamma` of the comp-sum theorem (ICML 2023).
    Solves :math:`\\mathcal T_0(t) = \\epsilon`: :math:`\\Gamma_0 = \\sqrt{\\epsilon(2-\\epsilon)}` and
    :math:`1-\\sqrt{1-\\Gamma_0^2} = \\epsilon` (exactly at ``eps = 1/3``: :math:`\\sqrt5/3`); solves the linear
    ``tau >= 2`` branch; finds 30-digit roots for ``tau in {1/2, 1, 3/2}``. Compared with
    ``consistency_bound`` (rtol 1e-12), including saturation above :math:`\\mathcal T(1)`, and the
    reference values of Gamma.
    """
    t, eps, w = sp.symbols("t epsilon w", positive=True)
    sol = sp.solve(sp.Eq(_transform_sym(t, R(0), 3), eps), t)
    gamma0 = [x for x in sol if x.subs(eps, R(1, 3)).is_positive]
    assert len(gamma0) == 1 and _is_zero(gamma0[0] ** 2 - eps * (2 - eps)), f"Gamma_0 candidates {sol}"
    gamma0 = gamma0[0]
    inv_third = 1 - sp.sqrt(1 - gamma0.subs(eps, R(1, 3)) ** 2)
    assert inv_third == R(1, 3) and _is_zero(gamma0.subs(eps, R(1, 3)) - sp.sqrt(5) / 3), "Gamma_0(1/3)"
    resid = sp.simplify(sp.sqrt(1 - gamma0**2).subs(eps, 1 - w) - w)  # eps = 1 - w, w in (0, 1]
    assert resid == 0, f"1 - sqrt(1 - Gamma_0^2) - eps = {resid}"

    n, tau = sp.symbols("n tau", positive=True)
    lin = sp.solve(sp.Eq(t / ((tau - 1) * n ** (tau - 1)), eps), t)
    assert len(lin) == 1 and _is_zero(lin[0] - (tau - 1) * n ** (tau - 1) * eps), f"linear inverse {lin}"

    tv3 = {
        (R(0), 3): (0.141067359797, 0.435889894354),
        (R(1, 2), 3): (0.145289402232, 0.449096051887),
        (R(1), 3): (0.141185140547, 0.439589252323),
        (R(3, 2), 3): (0.131892031889, 0.425094202215),
        (R(3, 2), 10): (0.178529483844, 0.584147041435),
        (R(2), 3): (0.03, 0.3),
        (R(2), 10): (0.1, 1.0),
        (R(3), 3): (0.18, 1.0),
    }
    cases = [(R(0), 3), (R(1, 2), 3), (R(2), 10)] if smallest else list(tv3)
    worst = 0.0
    for tv, nv in cases:
        top = sp.log(2) if tv == 1 else _transform_sym(sp.Integer(1), tv, nv)  # T(1), see check_transform_at_one
        for j, ev in enumerate((R(1, 100), R(1, 10))):
            if ev >= top:
                ex = sp.Integer(1)
            elif tv == 0:
                ex = gamma0.subs(eps, ev)
            elif tv >= 2:
                ex = lin[0].subs({tau: tv, n: nv, eps: ev})
            else:
                residual = _transform_sym(t, tv, nv) - ev
                ex = sp.nsolve(residual, t, (R(1, 10**3), R(999, 1000)), solver="bisect", prec=40)
                assert abs(sp.N(residual.subs(t, ex), 40)) < 1e-30, "root not converged"
            ex = sp.N(ex, 30)
            lib = float(consistency_bound(float(ev), tau=float(tv), num_classes=nv))
            worst = max(worst, _rel(lib, ex))
            assert _close(lib, ex, 1e-12), f"Gamma(tau={tv}, n={nv}, eps={ev}) library {lib}, derived {ex}"
            assert abs(float(ex) - tv3[(tv, nv)][j]) < 1e-11, f"Gamma at tau = {tv}, n = {nv}, eps = {ev}: {ex}"
        assert float(consistency_bound(float(top) * 1.01, tau=float(tv), num_classes=nv)) == 1.0, "no saturation"
    return {"gamma0": str(gamma0), "max_rel_err_library": worst}


# ----------------------------------------------------------------------------------------------
# Convex programs (CLARABEL)
# ----------------------------------------------------------------------------------------------


def check_cvxpy_complete_min_risk(smallest: bool = False, cstar_fn=None) -> dict:
    """:math:`C^*_\\tau(p)` by convex optimization over the simplex.

    Paper object: the best-in-class conditional risk of comp-sum losses for complete hypothesis
    sets (ICML 2023), closed form :math:`((\\sum_y p_y^{1/(2-\\tau)})^{2-\\tau}-1)/(1-\\tau)`, entropy at
    ``tau = 1``, :math:`1-\\max p` at ``tau = 2``. Solves :math:`\\min_{S\\in\\Delta_n}\\sum_y p_y\\Psi_\\tau(S_y)`
    (CLARABEL) and compares with ``cstar_fn`` (default ``min_conditional_risk``) at rtol 1e-6, and with
    the reference values. ``smallest``: 3 solves.
    """
    cstar_fn = (lambda p, tau: min_conditional_risk(p, tau=tau)) if cstar_fn is None else cstar_fn
    if smallest:
        grid = [(_P3, tau) for tau in (0.0, 1.0, 1.5)]
    else:
        ps = (_P3, (0.7, 0.2, 0.1), (0.4, 0.25, 0.2, 0.15))
        grid = [(p, tau) for p in ps for tau in (0.0, 0.5, 1.0, 1.5, 2.0)]
    worst = 0.0
    values = {}
    for p, tau in grid:
        opt = _cvx_min_risk_S(p, tau)
        ref = float(cstar_fn(np.asarray(p), tau))
        worst = max(worst, _rel(ref, opt))
        assert _close(ref, opt, 1e-6), f"C*_{tau}({p}): checked function {ref}, cvxpy {opt} (diff {ref - opt:+.3g})"
        if p == _P3:
            assert _close(opt, _CSTAR_P3[tau], 1e-6), f"C*(p3) at tau = {tau}: {_CSTAR_P3[tau]} vs cvxpy {opt}"
            values[tau] = opt
    return {"cstar_p3_cvxpy": values, "max_rel_err": worst, "n_solves": len(grid)}


def check_cvxpy_box_min_risk(smallest: bool = False) -> dict:
    """:math:`C^*_{\\tau,\\Lambda}(p)` for box-bounded scores :math:`|h|\\le\\Lambda`.

    Paper object: the minimal conditional risk for bounded hypothesis sets (NeurIPS 2023 extension
    of ICML 2023). Two independent programs: S-space over
    :math:`\\{S\\in\\Delta_n: \\ell\\le S_y\\le e^{2\\Lambda}\\ell\\}` (``tau <= 2``) and h-space
    :math:`\\min_{|h|\\le\\Lambda}\\sum_y p_y\\ell^\\tau(h,y)` (``tau <= 1``; at ``tau = 1`` it is
    ``log_sum_exp(h) - p.h``). Compared with each other, reference values, the deterministic closed form
    :math:`\\Phi^\\tau((n-1)e^{-2\\Lambda})` (``comp_sum_phi``), the complete ``min_conditional_risk`` when
    the box is inactive, and the library's ``min_conditional_risk(p, box=Lambda)`` when
    ``theory.compsum.box`` exists (otherwise that comparison is skipped with a warning).
    ``smallest``: 3 solves.
    """
    tv5 = {
        ((0.7, 0.2, 0.1), 0.5): (1.560324452, 1.1359404731, 0.8514447139, 0.6611442401, 0.5331357134),
        ((0.5, 0.3, 0.2), 0.2): (1.8985269211, 1.3935004177, 1.0499749787, 0.8112210932, 0.6431916099),
        ((0.6, 0.4, 0.0), 1.0): (1.1251944036, 0.913316672, 0.7491684736, 0.618570381, 0.4852055831),
        ((1.0, 0.0, 0.0), 1.0): (0.2706705665, 0.2544804869, 0.2395447662, 0.2257553245, 0.2130139578),
        ((1.0,) + (0.0,) * 9, 0.5): (3.3109149705, 2.1525486008, 1.4611501717, 1.0367361386, 0.7680306833),
    }
    taus = (0.0, 0.5, 1.0, 1.5, 2.0)
    if smallest:
        jobs = [("S", (0.5, 0.3, 0.2), 0.2, 1.0), ("h", (0.5, 0.3, 0.2), 0.2, 1.0), ("S", (1.0, 0.0, 0.0), 1.0, 1.0)]
    else:
        jobs = [("S", p, lam, tau) for (p, lam) in tv5 for tau in taus]
        jobs += [("h", p, lam, tau) for (p, lam) in tv5 for tau in (0.0, 0.5, 1.0)]
        jobs += [("S", (0.4, 0.35, 0.25), 1.0, tau) for tau in (0.5, 1.5)]  # inactive box
    results = {}
    skipped = []
    worst = 0.0
    for space, p, lam, tau in jobs:
        opt = _cvx_min_risk_S(p, tau, box=lam) if space == "S" else _cvx_min_risk_h(p, tau, lam)
        results[(space, p, lam, tau)] = opt
        refs = {}
        if (p, lam) in tv5:
            refs["reference"] = tv5[(p, lam)][taus.index(tau)]
        if max(p) == 1.0:
            refs["Phi((n-1)e^-2L)"] = float(comp_sum_phi((len(p) - 1) * math.exp(-2 * lam), tau=tau))
        if tau < 2 and min(p) > 0 and (max(p) / min(p)) ** (1 / (2 - tau)) <= math.exp(2 * lam):
            refs["complete C*"] = float(min_conditional_risk(np.asarray(p), tau=tau))
        lib = _library_box_cstar(p, tau, lam)
        if lib is None:
            skipped.append("min_conditional_risk(box=...) (theory.compsum.box missing)")
        else:
            refs["library box"] = lib
        other = ("h" if space == "S" else "S", p, lam, tau)
        if other in results:
            refs["other program"] = results[other]
        assert refs, f"no reference for {space}, {p}, {lam}, {tau}"
        for name, ref in refs.items():
            worst = max(worst, _rel(ref, opt))
            assert _close(ref, opt, 1e-6), f"box C*_{tau}({p}, L={lam}) [{space}-space] {opt} vs {name} {ref}"
    values = {f"{k[0]}:{k[1]}:{k[2]}:{k[3]}": v for k, v in results.items()}
    out = {"max_rel_err": worst, "n_solves": len(jobs), "values": values}
    if skipped:
        out["skipped"] = sorted(set(skipped))
    return out


def _tvlin():
    X = np.array([[-1.0], [0.0], [1.0]])
    P = np.array([[0.8, 0.15, 0.05], [0.2, 0.6, 0.2], [0.05, 0.15, 0.8]])
    return X, np.full(3, 1 / 3), P


def _library_linear_risk(theta, X, pi, P, tau):
    n = P.shape[1]
    W = theta[: X.shape[1] * n].reshape(X.shape[1], n)
    b = theta[X.shape[1] * n :]
    return float(pi @ conditional_risk(X @ W + b, P, tau=tau))


def _optional_gaps():
    """``theory.compsum.gaps`` or ``(None, message)`` when it is not available."""
    try:
        from theory.compsum import gaps
    except ImportError as err:
        return None, f"theory.compsum.gaps unavailable, comparison skipped ({err})"
    return gaps, None


def check_cvxpy_linear_best_risk(smallest: bool = False) -> dict:
    """Best linear risk :math:`R^*_\\tau(\\mathcal H_{lin})`, ``tau in {0, 1/2, 1}``.

    Paper object: the best-in-class risk that enters the minimizability gap
    :math:`M_\\tau(\\mathcal H) = R^*_\\tau(\\mathcal H) - E_x C^*_\\tau` of the comp-sum bounds (ICML 2023),
    for the complete symmetric linear class ``h = W x + b``. Solves the convex program (per-sample
    loss ``(exp((1 - tau)(lse(h) - h_y)) - 1)/(1 - tau)``, ``lse(h) - h_y`` at ``tau = 1``) and checks:
    the reference R* (1.4976978067, 1.0730047280, 0.7558434589) to 1e-6; the library's
    ``conditional_risk`` at the cvxpy minimizer equals the program's value; BFGS on the library's
    risk does not go lower; the gaps :math:`R^* - \\sum_i\\pi_i C^*_\\tau(p_i)` (``min_conditional_risk``)
    equal the reference :math:`M_\\tau(\\mathcal H_{lin})`; ``best_linear_risk`` and
    ``minimizability_gap_linear`` of ``theory.compsum.gaps`` (skipped with a warning if that module is
    missing). ``smallest``: 3 solves.
    """
    X, pi, P = _tvlin()
    reference = {  # tau: (R*(H_lin), E C*, M(H_lin))
        0.0: (1.4976978067, 1.4392304845, 0.0584673221),
        0.5: (1.0730047280, 1.0292929792, 0.0437117488),
        1.0: (0.7558434589, 0.7253364814, 0.0305069776),
    }
    starts = 1 if smallest else 5
    rng = np.random.default_rng(0)
    gaps, skip_msg = _optional_gaps()
    out = {"R_star": {}, "gap": {}, "n_solves": 0}
    worst = 0.0
    for tau, (r_ref, ec_ref, m_ref) in reference.items():
        r_opt, W, b = _cvx_linear_risk(X, pi, P, tau)
        out["n_solves"] += 1
        assert abs(r_opt - r_ref) < 1e-8 + 1e-6 * r_ref, f"R*_{tau}(H_lin): cvxpy {r_opt}, reference {r_ref}"
        r_lib_at_opt = _library_linear_risk(np.concatenate([W.ravel(), b]), X, pi, P, tau)
        assert _close(r_lib_at_opt, r_opt, 1e-8), f"library risk at the cvxpy minimizer {r_lib_at_opt} vs {r_opt}"
        bfgs = min(
            optimize.minimize(
                _library_linear_risk,
                rng.normal(scale=0.0 if j == 0 else 1.0, size=6),  # first start at 0
                args=(X, pi, P, tau),
                method="BFGS",
                options={"gtol": 1e-10},
            ).fun
            for j in range(starts)
        )
        assert bfgs >= r_opt - 1e-8 and bfgs <= r_opt + 1e-6, f"BFGS {bfgs} vs cvxpy {r_opt} at tau = {tau}"
        e_cstar = float(pi @ min_conditional_risk(P, tau=tau))
        assert _close(e_cstar, ec_ref, 1e-9), f"E C*_{tau}: library {e_cstar}, reference {ec_ref}"
        gap = r_opt - e_cstar
        assert gap > 0 and abs(gap - m_ref) < 1e-8 + 1e-6 * m_ref, f"M_{tau}(H_lin) {gap} vs reference {m_ref}"
        if gaps is not None:
            lib = gaps.best_linear_risk(X, pi, P, tau=tau, starts=starts)
            assert not lib.upper_estimate, f"gaps.best_linear_risk flags an upper estimate at tau = {tau}"
            assert _close(lib.risk, r_opt, 1e-7), f"gaps.best_linear_risk {lib.risk} vs cvxpy {r_opt} at tau = {tau}"
            lib_gap = gaps.minimizability_gap_linear(X, pi, P, tau=tau, starts=starts)
            assert abs(lib_gap - gap) < 1e-7, f"gaps.minimizability_gap_linear {lib_gap} vs {gap} at tau = {tau}"
            out.setdefault("library_best_linear_risk", {})[tau] = lib.risk
        worst = max(worst, _rel(r_opt, r_ref))
        out["R_star"][tau], out["gap"][tau] = r_opt, gap
    out["max_rel_err_vs_reference"] = worst
    if skip_msg:
        warnings.warn(skip_msg, stacklevel=2)
        out["skipped"] = [skip_msg]
    return out


def _library_box_gap(gaps, pi, P, tau, lam):
    try:
        return gaps.minimizability_gap_intercept(pi, P, tau=tau, box=lam)
    except ImportError:
        return None


def check_cvxpy_intercept_only_risk(smallest: bool = False) -> dict:
    """Intercept-only :math:`R^*_\\tau(\\mathcal H_{const}) = C^*_\\tau(\\bar p)`.

    Paper object: the minimizability gap of comp-sum losses (ICML 2023) for the intercept-only class
    ``h(x, y) = b_y``, where :math:`M_\\tau = C^*_\\tau(\\bar p) - \\sum_i\\pi_i C^*_\\tau(p_i)` (a Jensen gap).
    Minimizes the data risk over ``b`` (h-space, ``tau <= 1``) and :math:`C^*_\\tau(\\bar p)` over ``S``
    (``tau = 1.5``), and compares with ``min_conditional_risk(pbar)``, the reference C*(pbar) and
    :math:`M_\\tau(\\mathcal H_{const})`, ``gaps.minimizability_gap_intercept``, and at ``tau = 1`` with
    the mutual information I(X;Y) (computed here and by ``gaps.mutual_information``).
    Full run: also the box ``|b| <= 0.5`` column of the reference values, with the per-point box C* from the S-space
    program (and the library's box C* and box gap when available). ``smallest``: 1 solve.
    """
    pi = np.array([0.5, 0.5])
    P = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    pbar = pi @ P
    reference = {  # tau: (C*(pbar), M(H_const), M(H_const, box 0.5))
        0.0: (1.9723949877, 0.3498146379, 0.3498146379),
        0.5: (1.4429689326, 0.2694390914, 0.2599327672),
        1.0: (1.0805276266, 0.2306454879, 0.1897315280),
        1.5: (0.8252659876, 0.2383459087, 0.1342872036),
    }
    taus = (1.0,) if smallest else (0.0, 0.5, 1.0, 1.5)
    out = {"R_star": {}, "gap": {}, "n_solves": 0}
    gaps, skip_msg = _optional_gaps()
    skipped = []
    if gaps is None:
        warnings.warn(skip_msg, stacklevel=2)
        skipped.append(skip_msg)
    for tau in taus:
        if tau <= 1:
            r_opt, _, _ = _cvx_linear_risk(np.zeros((2, 1)), pi, P, tau, intercept_only=True)
        else:
            r_opt = _cvx_min_risk_S(pbar, tau)
        out["n_solves"] += 1
        c_pbar = float(min_conditional_risk(pbar, tau=tau))
        assert _close(r_opt, c_pbar, 1e-6), f"R*_{tau}(H_const) {r_opt} vs min_conditional_risk(pbar) {c_pbar}"
        assert _close(r_opt, reference[tau][0], 1e-6), f"R*_{tau}(H_const) {r_opt} vs C*(pbar) {reference[tau][0]}"
        gap = r_opt - float(pi @ min_conditional_risk(P, tau=tau))
        assert abs(gap - reference[tau][1]) < 1e-7, f"M_{tau}(H_const) {gap} vs reference {reference[tau][1]}"
        if gaps is not None:
            lib_gap = gaps.minimizability_gap_intercept(pi, P, tau=tau)
            assert abs(lib_gap - gap) < 1e-7, f"gaps.minimizability_gap_intercept {lib_gap} vs cvxpy {gap}"
        if tau == 1.0:
            joint = pi[:, None] * P
            mutual_info = float(np.sum(joint * np.log(joint / (pi[:, None] * pbar[None, :]))))
            assert abs(gap - mutual_info) < 1e-7, f"logistic intercept-only gap {gap} != I(X;Y) {mutual_info}"
            if gaps is not None:
                lib_mi = gaps.mutual_information(pi, P)
                assert abs(lib_mi - mutual_info) < 1e-13, f"gaps.mutual_information {lib_mi} vs {mutual_info}"
            out["mutual_information"] = mutual_info
        out["R_star"][tau], out["gap"][tau] = r_opt, gap
        if not smallest:
            lam = 0.5
            if tau <= 1:
                r_box, _, _ = _cvx_linear_risk(np.zeros((2, 1)), pi, P, tau, intercept_only=True, box=lam)
            else:
                r_box = _cvx_min_risk_S(pbar, tau, box=lam)
            c_box = [_cvx_min_risk_S(P[i], tau, box=lam) for i in range(2)]
            out["n_solves"] += 3
            assert _close(r_box, _cvx_min_risk_S(pbar, tau, box=lam), 1e-6), "box R*(H_const) != C*_box(pbar)"
            out["n_solves"] += 1
            gap_box = r_box - float(pi @ np.array(c_box))
            assert abs(gap_box - reference[tau][2]) < 1e-7, f"M_{tau}(H_const, box) {gap_box} vs {reference[tau][2]}"
            for i in range(2):
                lib = _library_box_cstar(P[i], tau, lam)
                if lib is None:
                    skipped.append("min_conditional_risk(box=...) (theory.compsum.box missing)")
                else:
                    assert _close(lib, c_box[i], 1e-6), f"library box C*_{tau}(p_{i}) {lib} vs cvxpy {c_box[i]}"
            if gaps is not None:
                lib_gap = _library_box_gap(gaps, pi, P, tau, lam)
                if lib_gap is None:
                    skipped.append("min_conditional_risk(box=...) (theory.compsum.box missing)")
                else:
                    assert abs(lib_gap - gap_box) < 1e-7, f"gaps box gap {lib_gap} vs cvxpy {gap_box} at tau = {tau}"
            out.setdefault("gap_box_0.5", {})[tau] = gap_box
    if 1.0 in out["gap"] and 1.5 in out["gap"]:  # not monotone in tau for stochastic p (docs/compsum.md#findings)
        assert out["gap"][1.0] < out["gap"][1.5], f"stochastic example: expected M_1 < M_1.5, got {out['gap']}"
    if skipped:
        out["skipped"] = sorted(set(skipped))
    return out


# ----------------------------------------------------------------------------------------------
# Runner
# ----------------------------------------------------------------------------------------------

CHECKS = collect_checks(globals())


def run_all(smallest: bool = False) -> dict:
    """Run every check (sympy and cvxpy); return ``{name: result}``, each result with its ``seconds``.

    Raises the first ``AssertionError``. ``smallest=True`` is the fast tier (at most 10 cvxpy solves).
    """
    return run_checks(CHECKS, smallest)


def _summary(res: dict) -> str:
    keys = [k for k in res if k.startswith("max_") or k in ("limit", "T0", "gamma0", "argmax_mu", "mutual_information")]
    parts = [f"{k}={res[k]:.2g}" if isinstance(res[k], float) else f"{k}={res[k]}" for k in keys]
    if "n_solves" in res:
        parts.append(f"solves={res['n_solves']}")
    if res.get("skipped"):
        parts.append("SKIPPED: " + "; ".join(res["skipped"]))
    return ", ".join(parts)


if __name__ == "__main__":
    import sys

    sys.exit(main(CHECKS, summary=_summary))
