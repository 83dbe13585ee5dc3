r"""Closed forms of the optimal one-layer linear self-attention (LSA) in-context learner.

All functions here are exact float64 NumPy. Conventions (spec A2.5, A3.6):

* **mean form** (the library default): the in-context least-squares objective is
  :math:`\hat L(w) = \frac1{2n}\sum_i (y_i - w^\top x_i)^2`, one step from :math:`w_0 = 0` is
  :math:`w_1 = \eta P v` with :math:`v = \frac1n\sum_i y_i x_i`, and the attention is divided by ``n``;
* **sum form**: :math:`\hat L(w) = \frac12\sum_i(\cdot)^2`, :math:`w_1 = \eta_{sum} P\sum_i y_i x_i`,
  :math:`\eta_{sum} = \eta_{mean}/n` (the form in which Theorem 1's step reads
  :math:`1/(n+d+1+\sigma^2)`).

A y-linear predictor is written :math:`\hat y = v^\top\Gamma x_q` with the *effective matrix*
:math:`\Gamma` (mean form), so one preconditioned GD step has :math:`\Gamma^\top = \eta P`.

Data model: :math:`x_i, x_q \sim N(0, \Sigma_x)`, :math:`w\sim N(0,\Sigma_w)`,
:math:`y_i = w^\top x_i + \epsilon_i`, :math:`\epsilon_i\sim N(0,\sigma^2)`.

References:
    Mahankali, Hashimoto, Ma, *One Step of Gradient Descent is Provably the Optimal In-Context
    Learner with One Layer of Linear Self-Attention*, ICLR 2024 (arXiv 2307.03576), Theorems 1-3
    (statements as recalled; the closed forms are derived and checked in spec A2.6-A3.4).
"""

from __future__ import annotations

import numpy as np

from theory._validation import check_int, check_real

__all__ = [
    "optimal_step_size",
    "optimal_step_size_sum",
    "optimal_risk",
    "risk_of_step_size",
    "rank_one_trap_risk",
    "moment_matrices",
    "risk_of_preconditioner",
    "optimal_preconditioner",
    "optimal_preconditioned_risk",
    "nonlinear_optimal_step_size",
    "relu_optimal_step_size",
    "relu_optimal_risk",
    "check_covariance",
]


def _n_d_s2(n, d, noise_var):
    n = check_int("n", n, low=1)
    d = check_int("d", d, low=1)
    s2 = check_real("noise_var", noise_var, low=0.0)
    return n, d, s2


def check_covariance(name: str, cov, d: int | None = None, *, rtol: float = 1e-10) -> np.ndarray:
    """Return ``cov`` as a float64 array after checking it is a symmetric positive-definite matrix.

    Raises ``ValueError`` naming ``name`` when it is not square (``d x d`` if ``d`` is given), not
    finite, not symmetric within ``rtol`` (relative to its largest entry) or not positive definite.
    """
    c = np.asarray(cov, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] < 1:
        raise ValueError(f"{name} must be a square (d, d) matrix with d >= 1, got shape {c.shape}")
    if d is not None and c.shape[0] != d:
        raise ValueError(f"{name} must have shape ({d}, {d}) to match the other arguments, got {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError(f"{name} must be finite")
    scale = max(float(np.max(np.abs(c))), np.finfo(np.float64).tiny)
    if np.max(np.abs(c - c.T)) > rtol * scale:
        raise ValueError(f"{name} must be symmetric (within relative {rtol:g})")
    try:
        np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} must be positive definite (its Cholesky factorisation failed)") from None
    return 0.5 * (c + c.T)


def optimal_step_size(n, d, noise_var):
    r"""Step size of the optimal one-layer LSA, as one GD step on the **mean-normalised** loss.

    .. math:: \eta^*_{mean} = \frac{n}{n + d + 1 + \sigma^2}

    for the objective :math:`\frac1{2n}\sum_{i\le n}(y_i - w^\top x_i)^2` started at ``w = 0``
    (isotropic covariates and weights). In the sum form :math:`\frac12\sum_i(\cdot)^2` the same
    predictor has step :math:`\eta^*_{sum} = \eta^*_{mean}/n = 1/(n+d+1+\sigma^2)`
    (:func:`optimal_step_size_sum`). The optimal effective matrix is :math:`\Gamma^* = \eta^*_{mean} I`.

    Args:
        n: context length, integer ``>= 1``.
        d: covariate dimension, integer ``>= 1``.
        noise_var: label-noise variance :math:`\sigma^2 \ge 0`.

    Returns:
        :math:`\eta^*_{mean}` as a float in ``(0, 1)``.

    Example:
        >>> round(optimal_step_size(10, 4, 0.25), 12)
        0.655737704918

    References:
        Mahankali, Hashimoto, Ma, ICLR 2024, Theorem 1 (printed in the sum form, as recalled); spec A3.1.
    """
    n, d, s2 = _n_d_s2(n, d, noise_var)
    return n / (n + d + 1.0 + s2)


def optimal_step_size_sum(n, d, noise_var):
    r"""Sum-form optimal step :math:`\eta^*_{sum} = 1/(n+d+1+\sigma^2)` (objective :math:`\frac12\sum_i(\cdot)^2`).

    Example:
        >>> round(optimal_step_size_sum(10, 4, 0.25), 12)
        0.065573770492

    References:
        Mahankali, Hashimoto, Ma, ICLR 2024, Theorem 1 (as recalled); spec A3.1.
    """
    n, d, s2 = _n_d_s2(n, d, noise_var)
    return 1.0 / (n + d + 1.0 + s2)


def risk_of_step_size(eta, n, d, noise_var):
    r"""Pre-training risk of one GD step with step ``eta`` (mean form), isotropic model.

    .. math:: R(\eta) = \sigma^2 + d - 2\eta d + \eta^2 d\,\frac{n+d+1+\sigma^2}{n}

    Args:
        eta: mean-form step size (float or array).
        n: context length ``>= 1``.
        d: dimension ``>= 1``.
        noise_var: :math:`\sigma^2 \ge 0`.

    Returns:
        :math:`E(\hat y - y_q)^2` (same shape as ``eta``).

    Example:
        >>> float(risk_of_step_size(0.5, 10, 4, 0.25))
        1.775

    References:
        Spec A2.6 (isotropic case of the risk of a y-linear predictor).
    """
    n, d, s2 = _n_d_s2(n, d, noise_var)
    eta = np.asarray(eta, dtype=np.float64)
    if not np.all(np.isfinite(eta)):
        raise ValueError("eta must be finite")
    return s2 + d - 2.0 * eta * d + eta**2 * d * (n + d + 1.0 + s2) / n


def optimal_risk(n, d, noise_var):
    r"""Optimal pre-training risk of one LSA layer (isotropic Gaussian covariates and weights).

    .. math:: R^*(n, d, \sigma^2) = \sigma^2 + \frac{d\,(d + 1 + \sigma^2)}{n + d + 1 + \sigma^2}

    The risk is :math:`E(\hat y - y_q)^2` with the noisy target :math:`y_q` (no factor 1/2).

    Args:
        n: context length ``>= 1``; d: dimension ``>= 1``; noise_var: :math:`\sigma^2 \ge 0`.

    Returns:
        :math:`R^*` as a float in :math:`[\sigma^2, \sigma^2 + d]`.

    Example:
        >>> round(optimal_risk(10, 4, 0.25), 12)
        1.627049180328

    References:
        Mahankali, Hashimoto, Ma, ICLR 2024, Theorem 1; the value is derived in spec A3.1-A3.2.
    """
    n, d, s2 = _n_d_s2(n, d, noise_var)
    return s2 + d * (d + 1.0 + s2) / (n + d + 1.0 + s2)


def rank_one_trap_risk(n, d, noise_var):
    r"""Risk at the rank-one stationary point ``c = 0, A = 0, Gamma = u b^T`` (isotropic).

    .. math:: R_{trap} = d + \sigma^2 - \frac{n}{n + d + 1 + \sigma^2}

    Equal to :math:`R^*` only when ``d = 1`` (spec A7).

    Example:
        >>> round(rank_one_trap_risk(10, 4, 0.25), 12)
        3.594262295082
    """
    n, d, s2 = _n_d_s2(n, d, noise_var)
    return d + s2 - n / (n + d + 1.0 + s2)


def _general_args(n, cov_x, cov_w, noise_var):
    n = check_int("n", n, low=1)
    sx = check_covariance("cov_x", cov_x)
    sw = check_covariance("cov_w", cov_w, sx.shape[0])
    s2 = check_real("noise_var", noise_var, low=0.0)
    return n, sx, sw, s2


def moment_matrices(n, cov_x, cov_w, noise_var):
    r"""The second moments :math:`M = E[vv^\top]` and :math:`B = E[vw^\top]` of :math:`v = \frac1n\sum_i y_i x_i`.

    .. math::

        M = \frac{n+1}{n}\Sigma_x\Sigma_w\Sigma_x + \frac{\operatorname{tr}(\Sigma_x\Sigma_w)+\sigma^2}{n}\Sigma_x,
        \qquad B = \Sigma_x\Sigma_w

    Returns:
        ``(M, B)`` as float64 ``(d, d)`` arrays.

    References:
        Spec A2.6 (Gaussian identity
        :math:`E[xx^\top Qxx^\top] = \Sigma(Q+Q^\top)\Sigma + \operatorname{tr}(Q\Sigma)\Sigma`).
    """
    n, sx, sw, s2 = _general_args(n, cov_x, cov_w, noise_var)
    return _moments(n, sx, sw, s2)


def _moments(n, sx, sw, s2):
    B = sx @ sw
    M = (n + 1.0) / n * sx @ sw @ sx + (np.trace(B) + s2) / n * sx
    return 0.5 * (M + M.T), B


def risk_of_preconditioner(gamma, n, cov_x, cov_w, noise_var):
    r"""Pre-training risk of the y-linear predictor :math:`\hat y = v^\top\Gamma x_q` (mean form).

    .. math:: R(\Gamma) = \operatorname{tr}(\Sigma_x\Gamma^\top M\Gamma) - 2\operatorname{tr}(\Sigma_x\Gamma^\top B)
              + \operatorname{tr}(\Sigma_x\Sigma_w) + \sigma^2

    One preconditioned GD step :math:`w_1 = \eta P v` has :math:`\Gamma = (\eta P)^\top`.

    Args:
        gamma: effective matrix, ``(d, d)`` (any real matrix).
        n: context length ``>= 1``.
        cov_x: covariate covariance :math:`\Sigma_x` (SPD, ``(d, d)``).
        cov_w: weight covariance :math:`\Sigma_w` (SPD, ``(d, d)``).
        noise_var: :math:`\sigma^2 \ge 0`.

    Returns:
        :math:`R(\Gamma)` as a float.

    Example:
        >>> import numpy as np
        >>> round(risk_of_preconditioner(0.5 * np.eye(4), 10, np.eye(4), np.eye(4), 0.25), 12)
        1.775

    References:
        Spec A2.6 (derived; underlies Theorems 1-2 of Mahankali, Hashimoto, Ma, ICLR 2024).
    """
    n, sx, sw, s2 = _general_args(n, cov_x, cov_w, noise_var)
    g = np.asarray(gamma, dtype=np.float64)
    if g.shape != sx.shape:
        raise ValueError(f"gamma must have shape {sx.shape} to match cov_x, got {g.shape}")
    if not np.all(np.isfinite(g)):
        raise ValueError("gamma must be finite")
    M, B = _moments(n, sx, sw, s2)
    return float(np.trace(sx @ g.T @ M @ g) - 2.0 * np.trace(sx @ g.T @ B) + np.trace(B) + s2)


def optimal_preconditioner(n, cov_x, cov_w, noise_var):
    r"""Effective matrix of the optimal LSA for general Gaussian covariates and weights (mean form).

    .. math:: \Gamma^* = M^{-1}B = \Big[\tfrac{n+1}{n}\Sigma_x\Sigma_w\Sigma_x
              + \tfrac{\operatorname{tr}(\Sigma_x\Sigma_w)+\sigma^2}{n}\Sigma_x\Big]^{-1}\Sigma_x\Sigma_w

    In the paper's case :math:`\Sigma_w = \Sigma_x^{-1}` this is :math:`\eta^*_{mean}\Sigma_x^{-1}`: one GD
    step preconditioned by :math:`\Sigma_x^{-1}` with the isotropic step size. With :math:`\Sigma_w = I`
    it is :math:`n[(n+1)\Sigma_x + (\operatorname{tr}\Sigma_x + \sigma^2)I]^{-1}`.

    Args:
        n: context length ``>= 1``.
        cov_x: :math:`\Sigma_x`, SPD ``(d, d)``.
        cov_w: :math:`\Sigma_w`, SPD ``(d, d)``.
        noise_var: :math:`\sigma^2 \ge 0`.

    Returns:
        :math:`\Gamma^*` as a float64 ``(d, d)`` array (predictor :math:`\hat y = v^\top\Gamma^* x_q`).

    Example:
        >>> import numpy as np
        >>> np.round(np.diag(optimal_preconditioner(10, np.diag([0.5, 1, 2.5]), np.eye(3), 0.25)), 6)
        array([1.025641, 0.655738, 0.314961])

    References:
        Mahankali, Hashimoto, Ma, ICLR 2024, Theorem 2 (case :math:`\Sigma_w = \Sigma_x^{-1}`, as
        recalled); general form derived in spec A3.3.
    """
    n, sx, sw, s2 = _general_args(n, cov_x, cov_w, noise_var)
    M, B = _moments(n, sx, sw, s2)
    return np.linalg.solve(M, B)


def optimal_preconditioned_risk(n, cov_x, cov_w, noise_var):
    r"""Optimal risk for general Gaussian covariates and weights (mean form).

    .. math:: R^* = \operatorname{tr}(\Sigma_x\Sigma_w) + \sigma^2 - \operatorname{tr}(\Sigma_x B^\top M^{-1}B)

    Example:
        >>> import numpy as np
        >>> round(optimal_preconditioned_risk(10, np.diag([0.5, 1, 2.5]), np.eye(3), 0.25), 6)
        1.369348

    References:
        Spec A3.3 (derived).
    """
    n, sx, sw, s2 = _general_args(n, cov_x, cov_w, noise_var)
    M, B = _moments(n, sx, sw, s2)
    return float(np.trace(B) + s2 - np.trace(sx @ B.T @ np.linalg.solve(M, B)))


def nonlinear_optimal_step_size(n, d, noise_var, mu1, kappa):
    r"""Optimal mean-form step for a sign-symmetric, rotation-invariant random target law (Theorem 3).

    .. math:: \gamma^* = \frac{n\mu_1}{\kappa + \sigma^2 d + (n-1)\mu_1},\quad
              \mu_1 = E_f\lVert E_x[x f(x)]\rVert^2,\ \kappa = E_{f,x}[f(x)^2\lVert x\rVert^2]

    Linear targets (:math:`\mu_1 = d`, :math:`\kappa = d(d+2)`) give :func:`optimal_step_size`.

    Example:
        >>> round(nonlinear_optimal_step_size(10, 4, 0.25, mu1=4, kappa=24), 12)
        0.655737704918

    References:
        Mahankali, Hashimoto, Ma, ICLR 2024, Theorem 3 (hypotheses as recalled); formula derived in spec A3.4.
    """
    n, d, s2 = _n_d_s2(n, d, noise_var)
    mu1 = check_real("mu1", mu1, low=0.0, low_open=True)
    kappa = check_real("kappa", kappa, low=0.0, low_open=True)
    return n * mu1 / (kappa + s2 * d + (n - 1.0) * mu1)


def relu_optimal_step_size(n, d, noise_var):
    r"""Optimal mean-form step for ReLU single-index targets.

    Targets :math:`f(x) = a\,\mathrm{relu}(v^\top x)` with :math:`\lVert v\rVert=1` and :math:`a=\pm1` equally likely:

    .. math:: \gamma^*_{ReLU} = \frac{n}{n + 2d + 3 + 4d\sigma^2}

    (:math:`\mu_1 = 1/4`, :math:`\kappa = (d+2)/2`.)

    Example:
        >>> round(relu_optimal_step_size(10, 4, 0.0), 12)
        0.47619047619

    References:
        Mahankali, Hashimoto, Ma, ICLR 2024, Theorem 3; spec A3.4.
    """
    n, d, s2 = _n_d_s2(n, d, noise_var)
    return n / (n + 2.0 * d + 3.0 + 4.0 * d * s2)


def relu_optimal_risk(n, d, noise_var):
    r"""Optimal risk for the ReLU single-index targets: :math:`R^* = 1/2 + \sigma^2 - \gamma^*_{ReLU}/4`.

    Example:
        >>> round(relu_optimal_risk(10, 4, 0.0), 12)
        0.380952380952

    References:
        Spec A3.4 (derived).
    """
    n, d, s2 = _n_d_s2(n, d, noise_var)
    return 0.5 + s2 - relu_optimal_step_size(n, d, s2) / 4.0
