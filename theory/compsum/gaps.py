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

The closed forms (:func:`minimizability_gap_intercept` with ``box=None``, :func:`zero_one_gap_intercept`,
:func:`mutual_information`) work under ``jit``/``vmap``/``grad``: traced inputs run the same formulas in
``jax.numpy`` and an invalid traced input gives NaN. The box-bounded gap (an exact enumeration in NumPy)
and the linear gap (scipy's BFGS) need concrete inputs.

References:
    Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4 (minimizability gaps of comp-sum
    losses); NeurIPS 2023 (bounded hypothesis sets).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy import special as jspecial

from theory._random import numpy_rng
from theory._validation import check_int, check_real, check_simplex, is_traced, nan_unless, renamed_argument
from theory.compsum import _kernels as K
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
    if is_traced(pi) or is_traced(P):
        if jnp.ndim(pi) != 1 or jnp.ndim(P) != 2 or jnp.shape(P)[0] != jnp.shape(pi)[0] or jnp.shape(P)[1] < 2:
            raise ValueError(f"pi must have shape [m] and P shape [m, n >= 2], got {jnp.shape(pi)} and "
                             f"{jnp.shape(P)}")
        return jnp.asarray(pi), jnp.asarray(P)
    pi = check_simplex("pi", pi, ndim=1)
    P = check_simplex("P", P, ndim=2)
    if P.shape[0] != pi.shape[0]:
        raise ValueError(f"P must have one row per point of pi: pi has {pi.shape[0]} entries, P has {P.shape[0]} rows")
    if P.shape[1] < 2:
        raise ValueError(f"P must have n >= 2 columns (classes), got {P.shape[1]}")
    return pi, P


def _dist_ok(pi, P):
    """The traced validity of ``(pi, P)``: every row a probability vector (``nan_unless`` guards with it)."""
    return K.simplex_ok(pi) & jnp.all(K.simplex_ok(P))


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
    stochastic labels (e.g. ``M_1 < M_1.5`` for ``pi = (1/2, 1/2)``, ``p(x_1) = (0.7, 0.2, 0.1)``,
    ``p(x_2) = (0.1, 0.3, 0.6)``: docs/compsum.md#findings, finding 5); non-increasing for deterministic ones.

    With ``box=None`` it works under ``jit``/``vmap``/``grad`` (an invalid traced input gives NaN); the
    box-bounded :math:`C^*_{\tau,\Lambda}` is an exact enumeration in NumPy and needs concrete inputs.

    Args:
        pi: marginal weights ``[m]`` on the simplex.
        P: conditional label distributions ``[m, n]``, rows on the simplex.
        tau: comp-sum parameter, ``tau >= 0``.
        box: ``None`` / ``inf`` (free intercepts) or the bound :math:`\Lambda \ge 0`.

    Returns:
        The gap (``>= 0`` up to round-off; a float for concrete inputs).

    Examples:
        >>> round(minimizability_gap_intercept([0.5, 0.5], [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], tau=1.0), 10)
        0.2306454879

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4; NeurIPS 2023 for the box.
    """
    traced = K.namespace(pi, P, tau) is jnp
    tau = tau if is_traced(tau) else check_real("tau", tau, low=0.0)
    pi, P = _check_dist(pi, P)
    lam = np.inf if box is None else check_real("box", box, low=0.0, allow_inf=True)
    if traced:
        if not np.isinf(lam):
            raise TypeError("minimizability_gap_intercept with a finite box is an exact enumeration in NumPy: "
                            "pi, P and tau must be concrete (not traced by jit/vmap/grad)")
        dtype = jnp.result_type(pi, P, float)
        pi, P = pi.astype(dtype), P.astype(dtype)
        pbar = pi @ P
        return _gap_intercept_jnp(pi, P, pbar / pbar.sum(), tau)
    pbar = pi @ P
    pbar = pbar / pbar.sum()
    cstar = box_cstar_rows(np.vstack([pbar, P]), tau, lam)
    return float(cstar[0] - pi @ cstar[1:])


@jax.jit  # one compiled program per shape for eager (e.g. vmapped) calls; inlined under a caller's jit
def _gap_intercept_jnp(pi, P, pbar, tau):
    """The traced :func:`minimizability_gap_intercept` (``box=None``) from the normalised ``pbar``."""
    rows = jnp.vstack([pbar, P])
    cstar = K.min_risk_complete(rows, jnp.broadcast_to(jnp.asarray(tau, rows.dtype), rows.shape[:1]), jnp)
    return nan_unless((tau >= 0) & _dist_ok(pi, P), cstar[0] - pi @ cstar[1:])


def zero_one_gap_intercept(pi, P) -> float:
    r"""Zero-one minimizability gap of intercept-only scores: :math:`\mathbb E_x[\max_y p(y|x)] - \max_y \bar p_y`.

    .. math::

        \mathcal M_{0-1}(\mathcal H_{\rm const}) = \sum_i \pi_i \max_y P_{iy} - \max_y \sum_i \pi_i P_{iy}

    Args:
        pi: marginal weights ``[m]`` on the simplex.
        P: conditional label distributions ``[m, n]``.

    Returns:
        The gap (``>= 0``; a float for concrete inputs). Traceable (``jit``/``vmap``/``grad``).

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4; Awasthi, Mao, Mohri, Zhong,
        NeurIPS 2022 (zero-one conditional risk of symmetric sets).
    """
    pi, P = _check_dist(pi, P)
    xp = K.namespace(pi, P)
    gap = pi @ xp.max(P, axis=1) - xp.max(pi @ P)
    return float(gap) if xp is np else nan_unless(_dist_ok(pi, P), gap)


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
        :math:`I(X;Y) \ge 0` (a float for concrete inputs). Traceable (``jit``/``vmap``/``grad``).

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4 (logistic minimizability gap).
    """
    pi, P = _check_dist(pi, P)
    if K.namespace(pi, P) is np:
        pbar = pi @ P
        with np.errstate(divide="ignore", invalid="ignore"):
            from scipy import special

            kl = special.xlogy(P, P) - special.xlogy(P, np.where(P > 0, pbar[None, :], 1.0))
        return float(max(pi @ kl.sum(axis=1), 0.0))
    pbar = pi @ P
    safe_pbar = jnp.where(P > 0, pbar[None, :], 1.0)
    kl = jspecial.xlogy(P, jnp.where(P > 0, P, 1.0)) - jspecial.xlogy(P, safe_pbar)
    return nan_unless(_dist_ok(pi, P), jnp.maximum(pi @ kl.sum(axis=1), 0.0))


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
    log_s = h - K.logsumexp(h, np, axis=1, keepdims=True)
    s = np.exp(log_s)
    pos = P > 0
    with np.errstate(over="ignore", invalid="ignore"):
        losses = np.where(pos, _phi_of_w(-log_s, 1.0 - tau, xp=np), 0.0)
        weight = np.where(pos, P * np.exp((tau - 1.0) * log_s), 0.0)  # P_iy S_y^{tau-1}
    risk = pi @ (P * losses).sum(axis=1)
    # grad_h sum_y P_y l(h, y) = sum_y P_y S_y^{tau-1} (S - e_y)
    g = pi[:, None] * (s * weight.sum(axis=1, keepdims=True) - weight)
    return risk, np.concatenate([(X.T @ g).ravel(), g.sum(axis=0)])


def _starts_rng(owner: str, key, seed) -> np.random.Generator:
    """The generator of the random BFGS starts: from ``key`` (a JAX key), from the deprecated ``seed``, or
    ``numpy.random.default_rng(0)`` when neither is given (the old default ``seed=0``)."""
    seed = renamed_argument("seed", "key", None, seed, owner=owner)
    if seed is not None:
        if key is not None:
            raise TypeError(f"{owner}: pass key only (seed is its deprecated form)")
        return np.random.default_rng(check_int("seed", seed, low=0))
    return np.random.default_rng(0) if key is None else numpy_rng(key)


def _best_linear_risk(X, pi, P, tau: float, starts: int, rng: np.random.Generator) -> LinearRisk:
    """:func:`best_linear_risk` on checked inputs, with the generator of the random starts."""
    from scipy import optimize  # deferred: only the numerical (BFGS) gaps need it

    d, n = X.shape[1], P.shape[1]
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


def _bfgs_risk(X, pi, P, tau, seed: int) -> float:
    """R*_tau of linear scores on ``(X, pi, P)`` by BFGS from 3 starts (the random ones from ``seed``): the
    numerical measurement of the claims ``compsum.min_conditional_risk`` and ``compsum.gap_intercept``."""
    X, pi, P, tau, starts = _check_linear_args(X, pi, P, tau, 3)
    return _best_linear_risk(X, pi, P, tau, starts, np.random.default_rng(seed)).risk


def _bfgs_min_risks(P, tau, seed: int) -> np.ndarray:
    """C*_tau(p) of each row of ``P`` by BFGS over the logits (an intercept-only fit on one point)."""
    return np.array([_bfgs_risk(np.zeros((1, 1)), [1.0], p[None], tau, seed) for p in P])


def _bfgs_intercept_gap(pi, P, tau, seed: int) -> float:
    """The intercept-only gap R*(intercepts) - E C*(p(x)), both terms by BFGS (no closed form used)."""
    return _bfgs_risk(np.zeros((len(pi), 1)), pi, P, tau, seed) - pi @ _bfgs_min_risks(P, tau, seed)


def _check_linear_args(X, pi, P, tau, starts):
    if any(is_traced(a) for a in (X, pi, P, tau)):
        raise TypeError("the linear minimizability gap runs scipy's BFGS: X, pi, P and tau must be concrete "
                        "(not traced by jit/vmap/grad)")
    tau = check_real("tau", tau, low=0.0)
    pi, P = _check_dist(pi, P)
    return _check_features(X, pi.shape[0]), pi, P, tau, check_int("starts", starts, low=1)


def best_linear_risk(X, pi, P, *, tau, starts=5, key=None, seed=None) -> LinearRisk:
    r"""Best risk of linear scores with free bias, :math:`\mathcal R^*_\tau(\mathcal H_{\rm lin})`, by multi-start BFGS.

    .. math::

        \mathcal R^*_\tau(\mathcal H_{\rm lin}) = \inf_{W, b} \sum_i \pi_i \sum_y P_{iy}\,
            \ell^\tau(x_i W + b, y), \qquad
        \nabla_h \ell^\tau(h, y) = S_y^{\tau-1}(S - e_y)

    The first start is ``W = 0, b = 0``; the others are standard normal (drawn from ``key``). Float64,
    analytic gradient. For ``tau <= 1`` the objective is convex and every start reaches the infimum (when
    it is attained); for ``tau > 1`` it is not convex and the result is only an **upper estimate**
    (``upper_estimate=True``). This is a numerical optimisation (scipy's BFGS): it needs concrete inputs
    and does not run under ``jit``/``vmap``/``grad``.

    Args:
        X: features ``[m]`` or ``[m, d]`` (non-empty, finite).
        pi: marginal weights ``[m]`` on the simplex.
        P: conditional label distributions ``[m, n]``.
        tau: comp-sum parameter, ``tau >= 0``.
        starts: number of BFGS starts, ``>= 1``.
        key: JAX PRNG key of the random starts (keyword-only; ``None``: a fixed generator, the same as the
            deprecated ``seed=0``).
        seed: deprecated integer seed of the random starts (use ``key``).

    Returns:
        A :class:`LinearRisk` ``(risk, weights, bias, converged, upper_estimate)``.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4 (minimizability gaps) and the
        comp-sum gradient.
    """
    X, pi, P, tau, starts = _check_linear_args(X, pi, P, tau, starts)
    return _best_linear_risk(X, pi, P, tau, starts, _starts_rng("best_linear_risk", key, seed))


def minimizability_gap_linear(X, pi, P, *, tau, starts=5, key=None, seed=None) -> float:
    r"""Minimizability gap of linear scores with free bias (a complete symmetric set).

    .. math::

        \mathcal M_\tau(\mathcal H_{\rm lin}) = \mathcal R^*_\tau(\mathcal H_{\rm lin})
            - \sum_i \pi_i\, C^*_\tau(p_i)

    :math:`\mathcal R^*` comes from :func:`best_linear_risk` (scipy's BFGS: concrete inputs only, no
    ``jit``/``grad``); for ``tau > 1`` the result is only an **upper estimate** of the gap (non-convex
    objective). Always :math:`\le \mathcal M_\tau(\mathcal H_{\rm const})` up to optimizer tolerance, since
    both sets are complete and nested.

    Args:
        X: features ``[m]`` or ``[m, d]``.
        pi: marginal weights ``[m]`` on the simplex.
        P: conditional label distributions ``[m, n]``.
        tau: comp-sum parameter, ``tau >= 0``.
        starts: number of BFGS starts, ``>= 1``.
        key: JAX PRNG key of the random starts (keyword-only; ``None``: a fixed generator).
        seed: deprecated integer seed of the random starts (use ``key``).

    Returns:
        The gap.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4.
    """
    X, pi, P, tau, starts = _check_linear_args(X, pi, P, tau, starts)
    fit = _best_linear_risk(X, pi, P, tau, starts, _starts_rng("minimizability_gap_linear", key, seed))
    return float(fit.risk - pi @ box_cstar_rows(P, tau, np.inf))
