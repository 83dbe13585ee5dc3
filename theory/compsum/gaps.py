r"""Minimizability gaps of comp-sum losses on a finite input space.

A distribution on :math:`\mathcal X = \{x_1, \dots, x_m\}` is given by marginal weights
:math:`\pi \in \Delta_m` and conditional label distributions stacked as rows of :math:`P \in \mathbb R^{m\times n}`.
The minimizability gap of a hypothesis set is

.. math::

    \mathcal M_\tau(\mathcal H) = \mathcal R^*_\tau(\mathcal H) - \mathbb E_x\big[C^*_\tau(\mathcal H, x)\big] \ge 0.

Closed forms: intercept-only scores :math:`h(x, y) = b_y` give
:math:`\mathcal M = C^*(\bar p) - \sum_i \pi_i C^*(p_i)` with :math:`\bar p = \pi^\top P` (a Jensen gap of
the concave :math:`C^*`; the mutual information :math:`I(X;Y)` for the logistic loss). Linear scores
need :math:`\mathcal R^*_\tau(\mathcal H_{\rm lin})`, found by multi-start BFGS: exact (up to the
optimizer tolerance) for the convex ``tau <= 1``, only an **upper estimate** for ``tau > 1``.

References:
    Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4 (minimizability gaps of comp-sum
    losses); NeurIPS 2023 (bounded hypothesis sets).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import optimize, special

from theory._validation import check_int, check_real, check_simplex
from theory.compsum.box import box_cstar_rows
from theory.compsum.losses import _phi_of_w

__all__ = [
    "LinearRisk",
    "minimizability_gap_intercept",
    "zero_one_gap_intercept",
    "best_linear_risk",
    "minimizability_gap_linear",
    "mutual_information",
]


def _check_dist(pi, P) -> tuple[np.ndarray, np.ndarray]:
    pi = check_simplex("pi", pi, ndim=1)
    P = check_simplex("P", P, ndim=2)
    if P.shape[0] != pi.shape[0]:
        raise ValueError(f"P must have one row per point of pi: pi has {pi.shape[0]} entries, P has {P.shape[0]} rows")
    if P.shape[1] < 2:
        raise ValueError(f"P must have n >= 2 columns (classes), got {P.shape[1]}")
    return pi, P


def _check_features(X, m: int) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.size == 0:
        raise ValueError("X must not be empty")
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"X must have shape [m] or [m, d], got {X.shape}")
    if X.shape[0] != m:
        raise ValueError(f"X must have one row per point of pi (m = {m}), got {X.shape[0]} rows")
    if not np.all(np.isfinite(X)):
        raise ValueError("X must be finite")
    return X


def minimizability_gap_intercept(pi, P, *, tau, box=None) -> float:
    r"""Minimizability gap of intercept-only scores :math:`h(x, y) = b_y` (optionally :math:`|b_y| \le \Lambda`).

    .. math::

        \mathcal M_\tau(\mathcal H_{\rm const}) = C^*_\tau(\bar p) - \sum_i \pi_i\, C^*_\tau(p_i),
        \qquad \bar p = \sum_i \pi_i p_i,

    with :math:`C^*_{\tau,\Lambda}` in both terms for ``box=Lambda``. Not monotone in ``tau`` for
    stochastic labels (e.g. ``M_1 < M_1.5`` on the spec's MG1); non-increasing for deterministic ones.

    Args:
        pi: marginal weights ``[m]`` on the simplex.
        P: conditional label distributions ``[m, n]``, rows on the simplex.
        tau: comp-sum parameter, ``tau >= 0``.
        box: ``None`` / ``inf`` (free intercepts) or the bound :math:`\Lambda \ge 0`.

    Returns:
        The gap (``>= 0`` up to round-off).

    Examples:
        >>> round(minimizability_gap_intercept([0.5, 0.5], [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], tau=1.0), 10)
        0.2306454879

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4; NeurIPS 2023 for the box.
    """
    tau = check_real("tau", tau, low=0.0)
    pi, P = _check_dist(pi, P)
    lam = np.inf if box is None else check_real("box", box, low=0.0, allow_inf=True)
    pbar = pi @ P
    pbar = pbar / pbar.sum()
    cstar = box_cstar_rows(np.vstack([pbar, P]), tau, lam)
    return float(cstar[0] - pi @ cstar[1:])


def zero_one_gap_intercept(pi, P) -> float:
    r"""Zero-one minimizability gap of intercept-only scores: :math:`\mathbb E_x[\max_y p(y|x)] - \max_y \bar p_y`.

    .. math::

        \mathcal M_{0-1}(\mathcal H_{\rm const}) = \sum_i \pi_i \max_y P_{iy} - \max_y \sum_i \pi_i P_{iy}

    Args:
        pi: marginal weights ``[m]`` on the simplex.
        P: conditional label distributions ``[m, n]``.

    Returns:
        The gap (``>= 0``).

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4; Awasthi, Mao, Mohri, Zhong,
        NeurIPS 2022 (zero-one conditional risk of symmetric sets).
    """
    pi, P = _check_dist(pi, P)
    return float(pi @ P.max(axis=1) - (pi @ P).max())


def mutual_information(pi, P) -> float:
    r"""Mutual information :math:`I(X; Y)` (nats) of the finite-``X`` distribution ``(pi, P)``.

    .. math::

        I(X;Y) = \sum_i \pi_i \sum_y P_{iy} \log\frac{P_{iy}}{\bar p_y}
               = H(\bar p) - \sum_i \pi_i H(p_i)

    Equals the logistic (``tau = 1``) minimizability gap of intercept-only scores.

    Args:
        pi: marginal weights ``[m]`` on the simplex.
        P: conditional label distributions ``[m, n]``.

    Returns:
        :math:`I(X;Y) \ge 0`.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4 (logistic minimizability gap).
    """
    pi, P = _check_dist(pi, P)
    pbar = pi @ P
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = special.xlogy(P, P) - special.xlogy(P, np.where(P > 0, pbar[None, :], 1.0))
    return float(max(pi @ kl.sum(axis=1), 0.0))


class LinearRisk(NamedTuple):
    """Result of :func:`best_linear_risk`.

    Attributes:
        risk: the best risk found, :math:`\\mathcal R_\\tau(W, b)`.
        weights: ``W`` of shape ``[d, n]`` (scores ``x @ W + b``).
        bias: ``b`` of shape ``[n]``.
        converged: whether the best BFGS run reported success.
        upper_estimate: ``True`` for ``tau > 1`` (non-convex: a local minimum only bounds
            :math:`\\mathcal R^*` from above) or when BFGS did not converge.
    """

    risk: float
    weights: np.ndarray
    bias: np.ndarray
    converged: bool
    upper_estimate: bool


def _linear_objective(theta, X, pi, P, tau):
    """Population risk ``sum_i pi_i sum_y P_iy Psi_tau(S_y(x_i W + b))`` and its gradient in ``theta``."""
    d, n = X.shape[1], P.shape[1]
    W, b = theta[: d * n].reshape(d, n), theta[d * n :]
    h = X @ W + b
    log_s = h - special.logsumexp(h, axis=1, keepdims=True)
    s = np.exp(log_s)
    pos = P > 0
    with np.errstate(over="ignore", invalid="ignore"):
        losses = np.where(pos, _phi_of_w(-log_s, 1.0 - tau, xp=np), 0.0)
        weight = np.where(pos, P * np.exp((tau - 1.0) * log_s), 0.0)  # P_iy S_y^{tau-1}
    risk = pi @ (P * losses).sum(axis=1)
    # grad_h sum_y P_y l(h, y) = sum_y P_y S_y^{tau-1} (S - e_y)
    g = pi[:, None] * (s * weight.sum(axis=1, keepdims=True) - weight)
    return risk, np.concatenate([(X.T @ g).ravel(), g.sum(axis=0)])


def best_linear_risk(X, pi, P, *, tau, starts=5, seed=0) -> LinearRisk:
    r"""Best risk of linear scores with free bias, :math:`\mathcal R^*_\tau(\mathcal H_{\rm lin})`, by multi-start BFGS.

    .. math::

        \mathcal R^*_\tau(\mathcal H_{\rm lin}) = \inf_{W, b} \sum_i \pi_i \sum_y P_{iy}\,
            \ell^\tau(x_i W + b, y), \qquad
        \nabla_h \ell^\tau(h, y) = S_y^{\tau-1}(S - e_y)

    The first start is ``W = 0, b = 0``; the others are standard normal (``seed``). Float64, analytic
    gradient. For ``tau <= 1`` the objective is convex and every start reaches the infimum (when it is
    attained); for ``tau > 1`` it is not convex and the result is only an **upper estimate**
    (``upper_estimate=True``).

    Args:
        X: features ``[m]`` or ``[m, d]`` (non-empty, finite).
        pi: marginal weights ``[m]`` on the simplex.
        P: conditional label distributions ``[m, n]``.
        tau: comp-sum parameter, ``tau >= 0``.
        starts: number of BFGS starts, ``>= 1``.
        seed: integer seed of the random starts.

    Returns:
        A :class:`LinearRisk` ``(risk, weights, bias, converged, upper_estimate)``.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4 (minimizability gaps) and the
        comp-sum gradient.
    """
    tau = check_real("tau", tau, low=0.0)
    pi, P = _check_dist(pi, P)
    X = _check_features(X, pi.shape[0])
    starts = check_int("starts", starts, low=1)
    seed = check_int("seed", seed, low=0)
    d, n = X.shape[1], P.shape[1]
    rng = np.random.default_rng(seed)
    best = None
    for k in range(starts):
        theta0 = np.zeros(d * n + n) if k == 0 else rng.standard_normal(d * n + n)
        res = optimize.minimize(
            _linear_objective, theta0, args=(X, pi, P, tau), jac=True, method="BFGS",
            options={"gtol": 1e-11, "maxiter": 5000},
        )  # fmt: skip
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    W, b = best.x[: d * n].reshape(d, n), best.x[d * n :]
    converged = bool(best.success) or float(np.max(np.abs(best.jac))) < 1e-8
    return LinearRisk(float(best.fun), W, b - b.mean(), converged, tau > 1.0 or not converged)


def minimizability_gap_linear(X, pi, P, *, tau, starts=5, seed=0) -> float:
    r"""Minimizability gap of linear scores with free bias (a complete symmetric set).

    .. math::

        \mathcal M_\tau(\mathcal H_{\rm lin}) = \mathcal R^*_\tau(\mathcal H_{\rm lin})
            - \sum_i \pi_i\, C^*_\tau(p_i)

    :math:`\mathcal R^*` comes from :func:`best_linear_risk`; for ``tau > 1`` the result is only an
    **upper estimate** of the gap (non-convex objective). Always :math:`\le \mathcal M_\tau(\mathcal H_{\rm const})`
    up to optimizer tolerance, since both sets are complete and nested.

    Args:
        X: features ``[m]`` or ``[m, d]``.
        pi: marginal weights ``[m]`` on the simplex.
        P: conditional label distributions ``[m, n]``.
        tau: comp-sum parameter, ``tau >= 0``.
        starts: number of BFGS starts, ``>= 1``.
        seed: integer seed of the random starts.

    Returns:
        The gap.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4.
    """
    fit = best_linear_risk(X, pi, P, tau=tau, starts=starts, seed=seed)
    pi, P = _check_dist(pi, P)
    return float(fit.risk - pi @ box_cstar_rows(P, float(tau), np.inf))
