r"""Conditional risks of LDR-KL, calibration gaps by convex programming, closed forms and predicates.

The conditional risk at a label distribution :math:`q \in \Delta_K` is
:math:`L(f; q) = \sum_y q_y\,\psi_\lambda(f, y)`, and the calibration gap of a pair with
:math:`q_i > q_j` is

.. math::

    \delta_{ij}(q) = \inf_{f \in D:\, f_i \le f_j} L(f; q) - \inf_{f\in D} L(f; q) \;\ge 0 .

Rank (All-k) calibration asks :math:`\delta_{ij} > 0` for every such pair. Domains ``D``: ``"free"``
(:math:`\mathbb 1^\top f = 0`, with a box :math:`|f| \le 60\max(\lambda, 1)` against near-degenerate
``q``), ``"simplex"`` (the authors' normalised scores :math:`f \ge 0,\ \mathbb 1^\top f = K`) and
``("box", B)`` (:math:`0 \le f \le B`).

What the numerics and the derivations in the spec support (the paper's theorem texts were not
available; see the docs page):

* uniform margins, :math:`0 < \lambda < \infty`, free domain: rank calibrated (swap argument);
* class-dependent margins: not rank calibrated in general (a counterexample);
* :math:`\lambda = 0` (Crammer-Singer): top-1 gap :math:`c(2q_{max} - 1)_+`, zero unless :math:`q_{max} > 1/2`;
* :math:`\lambda = \infty` on the bounded domain: top-1 calibrated, not top-2 (a symmetric loss);
* finite large :math:`\lambda` on the bounded domain: rank calibration can fail (a finding).

References:
    Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), consistency and robustness results (as recalled);
    Zhang, JMLR 2004 (Crammer-Singer); Ghosh, Kumar, Sastry, AAAI 2017 (symmetric losses); spec A.2.10, A.3.
"""

from __future__ import annotations

import math
import warnings

import cvxpy as cp
import numpy as np

from theory._validation import check_int, check_real, check_simplex
from theory.ldr.reference import ldr_kl_numpy

__all__ = [
    "conditional_risk",
    "min_conditional_risk",
    "calibration_gap",
    "min_risk_zero_margin",
    "cs_top1_gap",
    "cs_min_risk",
    "symmetric_gap_bounded",
    "is_uniform_margin",
    "is_rank_calibrated",
    "is_top1_calibrated",
    "is_symmetric",
    "symmetric_sum",
    "symmetry_bounds",
    "noise_excess_bound",
    "noisy_posterior",
]


def _margin_np(margin, K):
    m = np.asarray(margin, np.float64)
    return m * (1.0 - np.eye(K)) if m.ndim == 0 else m


def _check_lam(lam):
    return check_real("lam", lam, low=0.0, allow_inf=True)


def conditional_risk(f, q, *, lam, margin=0.0):
    r""":math:`L(f; q) = \sum_y q_y\psi_\lambda(f, y)` in float64, for ``f [..., K]``.

    Examples:
        >>> round(float(conditional_risk([0.0, 0.0, 0.0], [0.5, 0.3, 0.2], lam=1.0)), 12)
        0.0

    References:
        Spec A.2.10 (conditional risk).
    """
    f = np.asarray(f, np.float64)
    K = f.shape[-1]
    q = check_simplex("q", q, ndim=1)
    lam = _check_lam(lam)
    C = _margin_np(margin, K)
    a = C.T + f[..., None, :] - f[..., :, None]  # [..., y, k]: C[k, y] + f_k - f_y
    return np.sum(q * ldr_kl_numpy(a, lam), axis=-1)


def _domain_constraints(f, K, lam, domain):
    if domain == "free":
        bound = 60.0 * max(lam if math.isfinite(lam) else 1.0, 1.0)
        return [cp.sum(f) == 0, f <= bound, f >= -bound]
    if domain == "simplex":
        return [f >= 0, cp.sum(f) == K]
    if isinstance(domain, tuple) and len(domain) == 2 and domain[0] == "box":
        return [f >= 0, f <= float(domain[1])]
    raise ValueError(f"domain must be 'free', 'simplex' or ('box', B), got {domain!r}")


def min_conditional_risk(q, *, lam, margin=0.0, domain="free", order=None):
    r"""``(value, f)`` of :math:`\inf_{f\in D} L(f; q)` by CLARABEL, optionally with :math:`f_i \le f_j`.

    The risk is written with ``cp.log_sum_exp`` (finite :math:`\lambda`), ``cp.max`` (:math:`\lambda = 0`)
    or a mean (:math:`\lambda = \infty`; use a bounded domain there, the free risk is unbounded below).

    Args:
        q: label distribution ``[K]``; lam: ``lambda >= 0``; margin: scalar or ``[K, K]``.
        domain: ``"free"``, ``"simplex"`` or ``("box", B)``; order: optional pair ``(i, j)``.

    Returns:
        ``(value, f)`` in float64.

    References:
        Spec A.4 (conditional-risk minimisation).
    """
    q = check_simplex("q", q, ndim=1)
    K = q.size
    lam = _check_lam(lam)
    if domain == "free" and math.isinf(lam):
        raise ValueError("lam = inf needs a bounded domain ('simplex' or ('box', B)): the free risk is unbounded")
    C = _margin_np(margin, K)
    f = cp.Variable(K)
    terms = []
    for y in range(K):
        if q[y] == 0:
            continue
        a = C[:, y] + f - f[y]
        if lam == 0:
            t = cp.max(a)
        elif math.isinf(lam):
            t = cp.sum(a) / K
        else:
            t = lam * (cp.log_sum_exp(a / lam) - math.log(K))
        terms.append(q[y] * t)
    cons = _domain_constraints(f, K, lam, domain)
    if order is not None:
        i, j = order
        cons.append(f[i] <= f[j])
    prob = cp.Problem(cp.Minimize(sum(terms)), cons)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "may be inaccurate": the status is checked below
        prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
    if prob.status not in ("optimal", "optimal_inaccurate") or f.value is None:
        raise RuntimeError(f"conditional-risk program failed: status {prob.status}")
    fv = np.asarray(f.value, np.float64)
    return float(conditional_risk(fv, q, lam=lam, margin=C)), fv


def calibration_gap(q, i, j, *, lam, margin=0.0, domain="free"):
    r""":math:`\delta_{ij}(q) = \inf_{f_i\le f_j} L - \inf L` by two convex programs (float64).

    Examples:
        >>> round(calibration_gap([0.7, 0.2, 0.1], 0, 1, lam=0.0, margin=1.0), 6)
        0.4

    References:
        Spec A.2.10 (rank calibration), A.4; numbers in P-A5 to P-A9.
    """
    q = check_simplex("q", q, ndim=1)
    K = q.size
    i = check_int("i", i, low=0, high=K - 1)
    j = check_int("j", j, low=0, high=K - 1)
    if i == j:
        raise ValueError("i and j must differ")
    base = min_conditional_risk(q, lam=lam, margin=margin, domain=domain)[0]
    return min_conditional_risk(q, lam=lam, margin=margin, domain=domain, order=(i, j))[0] - base


def min_risk_zero_margin(q, *, lam):
    r"""Closed form :math:`\inf_f L(f; q) = -\lambda\,\mathrm{KL}(q\|u)` for ``C = 0``, at :math:`f^* = \lambda\log q`.

    Examples:
        >>> round(min_risk_zero_margin([0.5, 0.3, 0.2], lam=1.0), 10)
        -0.0689592746

    References:
        Spec A.4 sympy check 6 and P-A5 (TV-A15).
    """
    q = check_simplex("q", q, ndim=1)
    lam = check_real("lam", lam, low=0.0)
    nz = q[q > 0]
    return -lam * float(np.sum(nz * np.log(q.size * nz)))


def cs_top1_gap(q, *, c):
    r"""Top-1 calibration gap of the Crammer-Singer loss (:math:`\lambda = 0`, uniform ``c``): :math:`c(2q_{max}-1)_+`.

    It is the gap of the pair (argmax q, runner-up). Zero unless :math:`q_{max} > 1/2`: CS is top-1
    calibrated only there.

    References:
        Zhang, JMLR 2004; T. Yang, *Optimization for Machine Learning*, Sec. 2.5; spec P-A7.
    """
    q = check_simplex("q", q, ndim=1)
    return c * max(2.0 * q.max() - 1.0, 0.0)


def cs_min_risk(q, *, c):
    r"""Minimum CS conditional risk: :math:`2c(1 - q_{max})` if :math:`q_{max} \ge 1/2`, else :math:`c` (spec P-A7)."""
    q = check_simplex("q", q, ndim=1)
    return 2.0 * c * (1.0 - q.max()) if q.max() >= 0.5 else float(c)


def symmetric_gap_bounded(q, i, j):
    r"""Gap :math:`\delta_{ij}` of the :math:`\lambda = \infty` loss on :math:`D = \{f\ge0, \mathbb 1^\top f = K\}`.

    :math:`L_\infty(f; q) = \sum_k f_k(1/K - q_k) + \text{const}` is linear, so both infima sit at vertices:
    :math:`\delta_{ij} = K q_{max} - \max(K\max_{k\ne i} q_k, \tfrac K2(q_i + q_j))` when ``i`` is the
    unique argmax of ``q``, and 0 otherwise: top-1 calibrated, not top-2 (spec P-A8).
    """
    q = check_simplex("q", q, ndim=1)
    K = q.size
    if not (q[i] == q.max() and np.sum(q == q.max()) == 1):
        return 0.0
    others = np.delete(q, i)
    return float(K * q[i] - max(K * others.max(), 0.5 * K * (q[i] + q[j])))


def is_uniform_margin(margin, K):
    """True when ``margin`` is a scalar or ``c(11^T - I)`` with ``c >= 0``."""
    C = _margin_np(margin, K)
    off = C[~np.eye(K, dtype=bool)]
    return bool(np.all(off == off[0]) and off[0] >= 0)


def is_rank_calibrated(*, lam, margin, K, domain="free"):
    r"""Predicate: does the theory promise :math:`\delta_{ij}(q) > 0` for every interior ``q`` and :math:`q_i > q_j`?

    True exactly for uniform margins, :math:`0 < \lambda < \infty` and the free domain (spec P-A5);
    False for class-dependent margins (P-A6), :math:`\lambda = 0` (P-A7), :math:`\lambda = \infty`
    (P-A8) and bounded domains (P-A9: large finite :math:`\lambda` fails there).

    References:
        Zhu, Ying, Yang, ICML 2023, "top-k consistency for all k" (abstract); spec P-A5 to P-A9.
    """
    lam = _check_lam(lam)
    return bool(is_uniform_margin(margin, K) and 0.0 < lam < math.inf and domain == "free")


def is_top1_calibrated(q, *, lam, margin, K, domain="free"):
    """Predicate for the top-1 gap at a given ``q``: rank-calibrated cases, CS iff ``q_max > 1/2``, and
    the symmetric (``lam = inf``) loss on a bounded domain (spec P-A7, P-A8)."""
    lam = _check_lam(lam)
    q = check_simplex("q", q, ndim=1)
    if not is_uniform_margin(margin, K):
        return False
    if lam == 0:
        return bool(q.max() > 0.5 and _margin_np(margin, K)[0, 1] > 0)
    if math.isinf(lam):
        return domain != "free"
    return domain == "free"


def is_symmetric(*, lam):
    r"""Predicate: :math:`\sum_y\psi_\lambda(f, y)` is constant in ``f`` (Ghosh et al.) iff :math:`\lambda = \infty`.

    References:
        Ghosh, Kumar, Sastry, AAAI 2017; spec P-A10.
    """
    return math.isinf(_check_lam(lam))


def symmetric_sum(f, *, lam, margin=0.0):
    r""":math:`\sum_y \psi_\lambda(f, y)` for ``f [..., K]`` (float64)."""
    f = np.asarray(f, np.float64)
    K = f.shape[-1]
    return K * conditional_risk(f, np.full(K, 1.0 / K), lam=lam, margin=margin)


def symmetry_bounds(f, *, lam, margin=0.0):
    r"""``(C_sym, upper)`` with :math:`C_{sym} \le \sum_y\psi_\lambda(f,y) \le C_{sym} + K r^2/(8\lambda)`.

    :math:`C_{sym} = \sum_{k,y} C_{k,y}/K` and :math:`r = \max_y(\max_k a^{(y)}_k - \min_k a^{(y)}_k)`
    (Jensen below, Hoeffding's lemma above; spec P-A10).
    """
    f = np.asarray(f, np.float64)
    K = f.shape[-1]
    lam = check_real("lam", lam, low=0.0, low_open=True, allow_inf=True)
    C = _margin_np(margin, K)
    a = C.T + f[..., None, :] - f[..., :, None]
    r = np.max(a.max(axis=-1) - a.min(axis=-1), axis=-1)
    c_sym = C.sum() / K
    return np.full(r.shape, c_sym), c_sym + K * r**2 / (8.0 * lam)


def noise_excess_bound(eta, *, lam, r):
    r"""Bound :math:`\eta r^2 / (8\lambda(1-\eta))` on the clean excess risk of the uniform-noise minimiser.

    Under :math:`\tilde q = (1-\eta)q + \eta u`,
    :math:`L(\cdot;\tilde q) = (1-\eta)L(\cdot; q) + \frac\eta K\sum_y\psi`,
    and the symmetric sum varies by at most :math:`K r^2/(8\lambda)` on a domain where every margin range is
    at most ``r``. ``lam = inf`` gives 0 (exact noise tolerance).

    References:
        Spec P-A11(b) (derived; the paper's robustness theorem as recalled).
    """
    eta = check_real("eta", eta, low=0.0, high=1.0, high_open=True)
    lam = check_real("lam", lam, low=0.0, low_open=True, allow_inf=True)
    return 0.0 if math.isinf(lam) else eta * r**2 / (8.0 * lam * (1.0 - eta))


def noisy_posterior(q, *, eta, kind="uniform"):
    r"""The label distribution after noise: uniform :math:`(1-\eta)q + \eta u`, or pair flip
    :math:`y \mapsto (y+1) \bmod K` with probability :math:`\eta` (the authors' generators, spec A.2.9)."""
    q = check_simplex("q", q, ndim=1)
    eta = check_real("eta", eta, low=0.0, high=1.0)
    if kind == "uniform":
        return (1 - eta) * q + eta / q.size
    if kind == "pairflip":
        return (1 - eta) * q + eta * np.roll(q, 1)
    raise ValueError(f"kind must be 'uniform' or 'pairflip', got {kind!r}")
