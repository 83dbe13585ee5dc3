r"""Closed forms of the optimal one-layer linear self-attention (LSA) in-context learner.

Conventions (docs/icl.md, "Conventions"):

* **mean form** (the library default): the in-context least-squares objective is
  :math:`\hat L(w) = \frac1{2n}\sum_i (y_i - w^\top x_i)^2`, one step from :math:`w_0 = 0` is
  :math:`w_1 = \eta P v` with :math:`v = \frac1n\sum_i y_i x_i`, and the attention is divided by ``n``;
* **sum form**: :math:`\hat L(w) = \frac12\sum_i(\cdot)^2`, :math:`w_1 = \eta_{sum} P\sum_i y_i x_i`,
  :math:`\eta_{sum} = \eta_{mean}/n` (the form in which Theorem 1's step reads
  :math:`1/(n+d+1+\sigma^2)`).

A y-linear predictor is written :math:`\hat y = v^\top\Gamma x_q` with the *effective matrix*
:math:`\Gamma` (mean form), so one preconditioned GD step has :math:`\Gamma^\top = \eta P`.

Data model: :math:`x_i, x_q \sim N(0, \Sigma_x)`, :math:`w\sim N(0,\Sigma_w)`,
:math:`y_i = w^\top x_i + \epsilon_i`, :math:`\epsilon_i\sim N(0,\sigma^2)`. Arguments use the shared
vocabulary: ``num_samples`` is the paper's prompt length :math:`n` (the number of in-context examples),
``dim`` the covariate dimension :math:`d`, ``noise_var`` the noise variance :math:`\sigma^2`. They are
keyword-only; the old positional calls (``optimal_step_size(n, d, noise_var)``) and the old names
``n=``/``d=`` still work and raise a ``DeprecationWarning``.

Every function here works under ``jax.jit``, ``jax.vmap`` and ``jax.grad``. Concrete arguments are
validated eagerly (``ValueError``/``TypeError`` naming the argument) and evaluated exactly in float64
NumPy; as soon as one argument is traced the formula runs in ``jax.numpy`` in the traced dtype
(float64 inside ``jax.enable_x64()``, float32 otherwise), and a traced argument out of its range
(``num_samples < 1``, ``noise_var < 0``, a covariance that is not symmetric positive definite) gives NaN,
never a finite wrong number. A traced ``num_samples`` may be any real ``>= 1`` (the formulas' continuous
extension).

References:
    Mahankali, Hashimoto, Ma, *One Step of Gradient Descent is Provably the Optimal In-Context
    Learner with One Layer of Linear Self-Attention*, ICLR 2024 (arXiv 2307.03576), Theorems 1-3
    (statements as recalled; the closed forms are derived in docs/icl.md, "Derivations", and checked
    symbolically in ``proofs/icl.py``).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from theory._compat import keyword_only
from theory._validation import is_traced
from theory.icl._args import (
    check_covariance,  # noqa: F401  (importable from here, where it used to live)
    checked,
    compiled,
    concrete,
    general_args,
    isotropic_args,
)

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
]

_ISO = ("num_samples", "dim", "noise_var")
_GEN = ("num_samples", "cov_x", "cov_w", "noise_var")
_ISO_KINDS = ("count", "count", "positive")
_GEN_KINDS = ("count", "covariance", "covariance", "positive")


def _isotropic(formula, *args, kinds=_ISO_KINDS):
    """``formula(*args)``: exactly in Python float64 when every argument is concrete, else with the validity masks
    of the traced arguments as one compiled program (one per formula and shapes under ``vmap``/``grad``)."""
    if any(is_traced(a) for a in args):
        return compiled(formula, kinds, *args)
    return formula(*args)


def _general(formula, *args, kinds=_GEN_KINDS):
    """``formula(*args, xp=np)`` in float64 NumPy when every argument is concrete, else ``formula(*args, xp=jnp)``
    with the validity masks of the traced arguments as one compiled program."""
    if any(is_traced(a) for a in args):
        return compiled(formula, kinds, *args, xp=jnp)
    return formula(*args, xp=np)


# ---------------------------------------------------------------------------------------------
# isotropic covariates and weights


@keyword_only(*_ISO)
def optimal_step_size(*, num_samples, dim, noise_var):
    r"""Step size of the optimal one-layer LSA, as one GD step on the **mean-normalised** loss.

    .. math:: \eta^*_{mean} = \frac{n}{n + d + 1 + \sigma^2}

    for the objective :math:`\frac1{2n}\sum_{i\le n}(y_i - w^\top x_i)^2` started at ``w = 0``
    (isotropic covariates and weights). In the sum form :math:`\frac12\sum_i(\cdot)^2` the same
    predictor has step :math:`\eta^*_{sum} = \eta^*_{mean}/n = 1/(n+d+1+\sigma^2)`
    (:func:`optimal_step_size_sum`). The optimal effective matrix is :math:`\Gamma^* = \eta^*_{mean} I`.

    Args:
        num_samples: prompt length :math:`n` (in-context examples), integer ``>= 1``.
        dim: covariate dimension :math:`d`, integer ``>= 1``.
        noise_var: label-noise variance :math:`\sigma^2 \ge 0`.

    Returns:
        :math:`\eta^*_{mean}` in ``(0, 1)``: a float for concrete arguments, a JAX scalar under tracing
        (NaN where a traced argument is out of range).

    Example:
        >>> round(optimal_step_size(num_samples=10, dim=4, noise_var=0.25), 12)
        0.655737704918

    References:
        Mahankali, Hashimoto, Ma, ICLR 2024, Theorem 1 (printed in the sum form, as recalled);
        derivation in docs/icl.md, "Optimal step size and risk".
    """
    return _isotropic(_step_size, *isotropic_args(num_samples, dim, noise_var))


def _step_size(n, d, s2):
    return n / (n + d + 1.0 + s2)


@keyword_only(*_ISO)
def optimal_step_size_sum(*, num_samples, dim, noise_var):
    r"""Sum-form optimal step :math:`\eta^*_{sum} = 1/(n+d+1+\sigma^2)` (objective :math:`\frac12\sum_i(\cdot)^2`).

    Arguments as :func:`optimal_step_size`.

    Example:
        >>> round(optimal_step_size_sum(num_samples=10, dim=4, noise_var=0.25), 12)
        0.065573770492

    References:
        Mahankali, Hashimoto, Ma, ICLR 2024, Theorem 1 (as recalled); docs/icl.md, "Conventions".
    """
    return _isotropic(_step_size_sum, *isotropic_args(num_samples, dim, noise_var))


def _step_size_sum(n, d, s2):
    return 1.0 / (n + d + 1.0 + s2)


@keyword_only(*_ISO)
def risk_of_step_size(eta, *, num_samples, dim, noise_var):
    r"""Pre-training risk of one GD step with step ``eta`` (mean form), isotropic model.

    .. math:: R(\eta) = \sigma^2 + d - 2\eta d + \eta^2 d\,\frac{n+d+1+\sigma^2}{n}

    Args:
        eta: mean-form step size (a finite float or array).
        num_samples: prompt length :math:`n \ge 1`.
        dim: dimension :math:`d \ge 1`.
        noise_var: :math:`\sigma^2 \ge 0`.

    Returns:
        :math:`E(\hat y - y_q)^2` (same shape as ``eta``).

    Example:
        >>> float(risk_of_step_size(0.5, num_samples=10, dim=4, noise_var=0.25))
        1.775

    References:
        Derivation in docs/icl.md, "The risk of a y-linear predictor" (its isotropic case).
    """
    n, d, s2 = isotropic_args(num_samples, dim, noise_var)
    if not is_traced(eta):
        eta = np.asarray(concrete(eta), dtype=np.float64)
        if np.any(np.isnan(eta)):
            raise ValueError("eta must not contain NaN (a finite step size)")
        if not np.all(np.isfinite(eta)):
            raise ValueError("eta must be finite, in (-inf, inf)")
    return _isotropic(_risk_of_step, n, d, s2, eta, kinds=(*_ISO_KINDS, "finite"))


def _risk_of_step(n, d, s2, eta):
    return s2 + d - 2.0 * eta * d + eta**2 * d * (n + d + 1.0 + s2) / n


@keyword_only(*_ISO)
def optimal_risk(*, num_samples, dim, noise_var):
    r"""Optimal pre-training risk of one LSA layer (isotropic Gaussian covariates and weights).

    .. math:: R^*(n, d, \sigma^2) = \sigma^2 + \frac{d\,(d + 1 + \sigma^2)}{n + d + 1 + \sigma^2}

    The risk is :math:`E(\hat y - y_q)^2` with the noisy target :math:`y_q` (no factor 1/2).

    Args:
        num_samples: prompt length :math:`n \ge 1`.
        dim: dimension :math:`d \ge 1`.
        noise_var: :math:`\sigma^2 \ge 0`.

    Returns:
        :math:`R^*` in :math:`[\sigma^2, \sigma^2 + d]`.

    Example:
        >>> round(optimal_risk(num_samples=10, dim=4, noise_var=0.25), 12)
        1.627049180328

    References:
        Mahankali, Hashimoto, Ma, ICLR 2024, Theorem 1; the value is derived in docs/icl.md,
        "Optimal step size and risk".
    """
    return _isotropic(_optimal_risk, *isotropic_args(num_samples, dim, noise_var))


def _optimal_risk(n, d, s2):
    return s2 + d * (d + 1.0 + s2) / (n + d + 1.0 + s2)


@keyword_only(*_ISO)
def rank_one_trap_risk(*, num_samples, dim, noise_var):
    r"""Risk at the rank-one stationary point ``c = 0, A = 0, Gamma = u b^T`` (isotropic).

    .. math:: R_{trap} = d + \sigma^2 - \frac{n}{n + d + 1 + \sigma^2}

    Equal to :math:`R^*` only when ``dim = 1``.

    Example:
        >>> round(rank_one_trap_risk(num_samples=10, dim=4, noise_var=0.25), 12)
        3.594262295082

    References:
        Derivation in docs/icl.md, "The rank-one stationary point".
    """
    return _isotropic(_trap_risk, *isotropic_args(num_samples, dim, noise_var))


def _trap_risk(n, d, s2):
    return d + s2 - n / (n + d + 1.0 + s2)


# ---------------------------------------------------------------------------------------------
# general covariances


def _moments(xp, n, sx, sw, s2):
    B = sx @ sw
    M = (n + 1.0) / n * sx @ sw @ sx + (xp.trace(B) + s2) / n * sx
    return 0.5 * (M + M.T), B


def _scalar(xp, value):
    return float(value) if xp is np else value


@keyword_only(*_GEN)
def moment_matrices(*, num_samples, cov_x, cov_w, noise_var):
    r"""The second moments :math:`M = E[vv^\top]` and :math:`B = E[vw^\top]` of :math:`v = \frac1n\sum_i y_i x_i`.

    .. math::

        M = \frac{n+1}{n}\Sigma_x\Sigma_w\Sigma_x + \frac{\operatorname{tr}(\Sigma_x\Sigma_w)+\sigma^2}{n}\Sigma_x,
        \qquad B = \Sigma_x\Sigma_w

    Args:
        num_samples: prompt length :math:`n \ge 1`.
        cov_x: covariate covariance :math:`\Sigma_x` (SPD, ``(d, d)``).
        cov_w: weight covariance :math:`\Sigma_w` (SPD, ``(d, d)``).
        noise_var: :math:`\sigma^2 \ge 0`.

    Returns:
        ``(M, B)`` as ``(d, d)`` arrays (float64 NumPy for concrete arguments).

    References:
        Derivation in docs/icl.md, "The risk of a y-linear predictor" (Gaussian identity
        :math:`E[xx^\top Qxx^\top] = \Sigma(Q+Q^\top)\Sigma + \operatorname{tr}(Q\Sigma)\Sigma`).
    """
    return _general(_moment_pair, *general_args(num_samples, cov_x, cov_w, noise_var))


def _moment_pair(n, sx, sw, s2, *, xp):
    return _moments(xp, n, sx, sw, s2)


@keyword_only(*_GEN)
def risk_of_preconditioner(gamma, *, num_samples, cov_x, cov_w, noise_var):
    r"""Pre-training risk of the y-linear predictor :math:`\hat y = v^\top\Gamma x_q` (mean form).

    .. math:: R(\Gamma) = \operatorname{tr}(\Sigma_x\Gamma^\top M\Gamma) - 2\operatorname{tr}(\Sigma_x\Gamma^\top B)
              + \operatorname{tr}(\Sigma_x\Sigma_w) + \sigma^2

    One preconditioned GD step :math:`w_1 = \eta P v` has :math:`\Gamma = (\eta P)^\top`.

    Args:
        gamma: effective matrix, ``(d, d)`` (any finite real matrix).
        num_samples: prompt length :math:`n \ge 1`.
        cov_x: covariate covariance :math:`\Sigma_x` (SPD, ``(d, d)``).
        cov_w: weight covariance :math:`\Sigma_w` (SPD, ``(d, d)``).
        noise_var: :math:`\sigma^2 \ge 0`.

    Returns:
        :math:`R(\Gamma)`: a float for concrete arguments, a JAX scalar under tracing.

    Example:
        >>> import numpy as np
        >>> I = np.eye(4)
        >>> round(risk_of_preconditioner(0.5 * I, num_samples=10, cov_x=I, cov_w=I, noise_var=0.25), 12)
        1.775

    References:
        Derivation in docs/icl.md, "The risk of a y-linear predictor" (it underlies Theorems 1-2 of
        Mahankali, Hashimoto, Ma, ICLR 2024).
    """
    n, sx, sw, s2 = general_args(num_samples, cov_x, cov_w, noise_var)
    g = gamma
    if not is_traced(g):
        g = np.asarray(gamma, dtype=np.float64)
        if np.any(np.isnan(g)):
            raise ValueError("gamma must not contain NaN (a finite (d, d) matrix)")
        if not np.all(np.isfinite(g)):
            raise ValueError("gamma must be finite, in (-inf, inf)")
    if g.shape != sx.shape:
        raise ValueError(f"gamma must have shape {sx.shape} to match cov_x, got {g.shape}")
    return _general(_risk_of_gamma, n, sx, sw, s2, g, kinds=(*_GEN_KINDS, "all_finite"))


def _risk_of_gamma(n, sx, sw, s2, g, *, xp):
    M, B = _moments(xp, n, sx, sw, s2)
    risk = xp.trace(sx @ g.T @ M @ g) - 2.0 * xp.trace(sx @ g.T @ B) + xp.trace(B) + s2
    return _scalar(xp, risk)


@keyword_only(*_GEN)
def optimal_preconditioner(*, num_samples, cov_x, cov_w, noise_var):
    r"""Effective matrix of the optimal LSA for general Gaussian covariates and weights (mean form).

    .. math:: \Gamma^* = M^{-1}B = \Big[\tfrac{n+1}{n}\Sigma_x\Sigma_w\Sigma_x
              + \tfrac{\operatorname{tr}(\Sigma_x\Sigma_w)+\sigma^2}{n}\Sigma_x\Big]^{-1}\Sigma_x\Sigma_w

    In the paper's case :math:`\Sigma_w = \Sigma_x^{-1}` this is :math:`\eta^*_{mean}\Sigma_x^{-1}`: one GD
    step preconditioned by :math:`\Sigma_x^{-1}` with the isotropic step size. With :math:`\Sigma_w = I`
    it is :math:`n[(n+1)\Sigma_x + (\operatorname{tr}\Sigma_x + \sigma^2)I]^{-1}`.

    Args:
        num_samples: prompt length :math:`n \ge 1`.
        cov_x: :math:`\Sigma_x`, SPD ``(d, d)``.
        cov_w: :math:`\Sigma_w`, SPD ``(d, d)``.
        noise_var: :math:`\sigma^2 \ge 0`.

    Returns:
        :math:`\Gamma^*` as a ``(d, d)`` array (float64 NumPy for concrete arguments; predictor
        :math:`\hat y = v^\top\Gamma^* x_q`).

    Example:
        >>> import numpy as np
        >>> g = optimal_preconditioner(num_samples=10, cov_x=np.diag([0.5, 1, 2.5]), cov_w=np.eye(3), noise_var=0.25)
        >>> np.round(np.diag(g), 6)
        array([1.025641, 0.655738, 0.314961])

    References:
        Mahankali, Hashimoto, Ma, ICLR 2024, Theorem 2 (case :math:`\Sigma_w = \Sigma_x^{-1}`, as
        recalled); the general form is derived in docs/icl.md, "General covariances".
    """
    return _general(_preconditioner, *general_args(num_samples, cov_x, cov_w, noise_var))


def _preconditioner(n, sx, sw, s2, *, xp):
    M, B = _moments(xp, n, sx, sw, s2)
    return xp.linalg.solve(M, B)


@keyword_only(*_GEN)
def optimal_preconditioned_risk(*, num_samples, cov_x, cov_w, noise_var):
    r"""Optimal risk for general Gaussian covariates and weights (mean form).

    .. math:: R^* = \operatorname{tr}(\Sigma_x\Sigma_w) + \sigma^2 - \operatorname{tr}(\Sigma_x B^\top M^{-1}B)

    Arguments as :func:`optimal_preconditioner`.

    Example:
        >>> import numpy as np
        >>> sx = np.diag([0.5, 1, 2.5])
        >>> round(optimal_preconditioned_risk(num_samples=10, cov_x=sx, cov_w=np.eye(3), noise_var=0.25), 6)
        1.369348

    References:
        Derivation in docs/icl.md, "General covariances".
    """
    return _general(_preconditioned_risk, *general_args(num_samples, cov_x, cov_w, noise_var))


def _preconditioned_risk(n, sx, sw, s2, *, xp):
    M, B = _moments(xp, n, sx, sw, s2)
    return _scalar(xp, xp.trace(B) + s2 - xp.trace(sx @ B.T @ xp.linalg.solve(M, B)))


# ---------------------------------------------------------------------------------------------
# non-linear targets


@keyword_only(*_ISO, "mu1", "kappa")
def nonlinear_optimal_step_size(*, num_samples, dim, noise_var, mu1, kappa):
    r"""Optimal mean-form step for a sign-symmetric, rotation-invariant random target law (Theorem 3).

    .. math:: \gamma^* = \frac{n\mu_1}{\kappa + \sigma^2 d + (n-1)\mu_1},\quad
              \mu_1 = E_f\lVert E_x[x f(x)]\rVert^2,\ \kappa = E_{f,x}[f(x)^2\lVert x\rVert^2]

    Linear targets (:math:`\mu_1 = d`, :math:`\kappa = d(d+2)`) give :func:`optimal_step_size`.

    Args:
        num_samples: prompt length :math:`n \ge 1`.
        dim: dimension :math:`d \ge 1`.
        noise_var: :math:`\sigma^2 \ge 0`.
        mu1: :math:`\mu_1 > 0`.
        kappa: :math:`\kappa > 0`.

    Example:
        >>> round(nonlinear_optimal_step_size(num_samples=10, dim=4, noise_var=0.25, mu1=4, kappa=24), 12)
        0.655737704918

    References:
        Mahankali, Hashimoto, Ma, ICLR 2024, Theorem 3 (hypotheses as recalled); the formula is derived
        in docs/icl.md, "Non-linear targets".
    """
    n, d, s2 = isotropic_args(num_samples, dim, noise_var)
    mu1, kappa = checked("strict", "mu1", mu1), checked("strict", "kappa", kappa)
    return _isotropic(_nonlinear_step_size, n, d, s2, mu1, kappa, kinds=(*_ISO_KINDS, "strict", "strict"))


def _nonlinear_step_size(n, d, s2, mu1, kappa):
    return n * mu1 / (kappa + s2 * d + (n - 1.0) * mu1)


@keyword_only(*_ISO)
def relu_optimal_step_size(*, num_samples, dim, noise_var):
    r"""Optimal mean-form step for ReLU single-index targets.

    Targets :math:`f(x) = a\,\mathrm{relu}(v^\top x)` with :math:`\lVert v\rVert=1` and :math:`a=\pm1` equally likely:

    .. math:: \gamma^*_{ReLU} = \frac{n}{n + 2d + 3 + 4d\sigma^2}

    (:math:`\mu_1 = 1/4`, :math:`\kappa = (d+2)/2`.)

    Example:
        >>> round(relu_optimal_step_size(num_samples=10, dim=4, noise_var=0.0), 12)
        0.47619047619

    References:
        Mahankali, Hashimoto, Ma, ICLR 2024, Theorem 3; the ReLU moments are derived in docs/icl.md,
        "Non-linear targets".
    """
    return _isotropic(_relu_step_size, *isotropic_args(num_samples, dim, noise_var))


def _relu_step_size(n, d, s2):
    return n / (n + 2.0 * d + 3.0 + 4.0 * d * s2)


@keyword_only(*_ISO)
def relu_optimal_risk(*, num_samples, dim, noise_var):
    r"""Optimal risk for the ReLU single-index targets: :math:`R^* = 1/2 + \sigma^2 - \gamma^*_{ReLU}/4`.

    Example:
        >>> round(relu_optimal_risk(num_samples=10, dim=4, noise_var=0.0), 12)
        0.380952380952

    References:
        Derivation in docs/icl.md, "Non-linear targets".
    """
    return _isotropic(_relu_risk, *isotropic_args(num_samples, dim, noise_var))


def _relu_risk(n, d, s2):
    return 0.5 + s2 - n / (n + 2.0 * d + 3.0 + 4.0 * d * s2) / 4.0
