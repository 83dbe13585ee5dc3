r"""The interpolating estimator: closed form (squared loss), a cvxpy reference, and a scikit-learn-style class.

For the linear model :math:`f_\theta(x) = x^T\theta` and squared loss, with :math:`\bar X` the bag
means of the rows and :math:`S` the block-averaging projector,

.. math::
    \hat\theta_\rho = \big(X^TSX + \rho X^T(I-S)X\big)^{-1}X^TSy,\qquad X^TSX = k\bar X^T\bar X,\quad
    X^TSy = k\bar X^T\bar y,

the minimiser of :math:`L_\rho = L_{bag} + \rho R`. It needs :math:`\mathrm{rank}(\bar X) = d` at
:math:`\rho = 0` (m >= d) and :math:`\mathrm{rank}(X) = d` for :math:`\rho > 0`.

The estimators are fitted in NumPy float64 (``interpolating_estimator``) or by cvxpy
(``cvxpy_estimator``); they are not JAX functions and do not work under ``jit``/``vmap``/``grad``. The
differentiable objects are the losses (:mod:`theory.aggregate.losses`) and the JAX simulators
(:mod:`theory.aggregate.simulate`), which solve the same normal equations.

References:
    Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 2 (the interpolating estimator; as recalled);
    the closed form is derived by the library (docs/aggregate.md#closed-form-estimator) and checked
    against cvxpy (proofs/aggregate.py).
"""

from __future__ import annotations

import numpy as np

from theory._validation import check_choice, check_real, is_traced
from theory.aggregate._checks import check_rho, old_spellings
from theory.aggregate.bags import check_bags

__all__ = ["interpolating_estimator", "cvxpy_estimator", "AggregateRegressor"]

_LOSSES = ("squared", "huber", "logistic")


def _prepare(X, y_bar, bags, rho, allow_extrapolation):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (n, d), got shape {X.shape}")
    y_bar = np.asarray(y_bar, dtype=np.float64)
    info = check_bags(bags, num_samples=X.shape[0], equal_size=True)
    if y_bar.shape != (info.num_bags,):
        raise ValueError(f"y_bar must have one entry per bag, shape ({info.num_bags},), got {y_bar.shape}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y_bar))):
        raise ValueError("X and y_bar must be finite (got NaN or inf)")
    if is_traced(rho):
        raise TypeError("rho must be a concrete number: the estimators run in NumPy/cvxpy, not under jit")
    rho = check_rho(rho, allow_extrapolation)
    k, m = info.bag_size, info.num_bags
    x_bar = np.zeros((m, X.shape[1]))
    np.add.at(x_bar, info.bags, X)
    x_bar /= k
    return X, y_bar, info, rho, x_bar


def interpolating_estimator(X, y_bar, bags, *, rho, allow_extrapolation=False) -> np.ndarray:
    r"""The closed-form minimiser :math:`\hat\theta_\rho` of :math:`(1-\rho)L_{bag} + \rho L_{ins}` (squared loss).

    Solves :math:`(k\bar X^T\bar X + \rho B)\theta = k\bar X^T\bar y` with the within-bag scatter
    :math:`B = X^TX - k\bar X^T\bar X`, in NumPy float64 (not a JAX function: no ``jit``/``vmap``/``grad``;
    the JAX simulators in :mod:`theory.aggregate.simulate` solve the same system in JAX).

    Args:
        X: features, shape (n, d).
        y_bar: aggregate responses, shape (m,).
        bags: bag id of each row, int array (n,), m equal-size bags (n = m k).
        rho: interpolation weight in [0, 1]; > 1 only with ``allow_extrapolation=True``.
        allow_extrapolation: accept rho > 1.

    Returns:
        The coefficient vector, shape (d,).

    Raises:
        ValueError: unequal bags (n not a multiple of k), rho out of range, or a singular system
            (m < d at rho = 0, n < d for rho > 0).

    Example:
        >>> X = np.array([[1, 0], [0, 1], [1, 1], [2, -1], [0.5, 0.5], [-1, 3]])
        >>> y_bar = np.array([1.0, 5 / 6])
        >>> interpolating_estimator(X, y_bar, np.array([0, 0, 0, 1, 1, 1]), rho=0.0).round(6).tolist()
        [1.25, 0.25]

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 2 (as recalled); derivation:
        docs/aggregate.md#closed-form-estimator.
    """
    X, y_bar, info, rho, x_bar = _prepare(X, y_bar, bags, rho, allow_extrapolation)
    k, m, d = info.bag_size, info.num_bags, X.shape[1]
    if rho == 0.0 and m < d:
        raise ValueError(f"rho=0 (bag-level loss) needs at least as many bags as features: num_bags={m} < dim={d}")
    if X.shape[0] < d:
        raise ValueError(f"the estimator needs n >= d, got n={X.shape[0]}, d={d}")
    A = k * x_bar.T @ x_bar
    M = A + rho * (X.T @ X - A)
    scale = max(np.linalg.norm(M, 2), np.finfo(float).tiny)
    if np.linalg.cond(M / scale) > 1e12:
        raise ValueError("the normal equations are singular: rank(X_bar) < d at rho=0 or rank(X) < d for rho>0")
    return np.linalg.solve(M, k * x_bar.T @ y_bar)


def cvxpy_estimator(X, y_bar, bags, *, rho, loss="squared", delta=1.0, allow_extrapolation=False) -> np.ndarray:
    r"""Reference minimiser of :math:`(1-\rho)L_{bag} + \rho L_{ins}` for a convex loss, by cvxpy (CLARABEL).

    Losses: ``"squared"`` (solved as :math:`L_{bag} + \rho R`, convex for every rho >= 0), ``"huber"``
    (cvxpy's ``huber(y - f, delta)``) and ``"logistic"`` (soft labels :math:`\bar y \in [0,1]`,
    :math:`\log(1+e^f) - \bar y f`); the last two need rho in [0, 1] (convexity).

    NumPy/cvxpy only: the problem is built and solved by cvxpy on concrete float64 arrays, so it does not
    work under ``jit``/``vmap``/``grad`` (a traced argument raises a ``TypeError``). cvxpy is imported on
    first call, not by ``import theory.aggregate``.

    Args:
        X: (n, d).
        y_bar: (m,).
        bags: (n,) bag ids, equal sizes.
        rho: interpolation weight.
        loss: "squared", "huber" or "logistic".
        delta: Huber threshold (> 0).
        allow_extrapolation: accept rho > 1 (squared loss only).

    Returns:
        The coefficient vector, shape (d,).

    References:
        The reference for non-squared convex losses; for the squared loss it matches the closed form
        (docs/aggregate.md#closed-form-estimator, proofs/aggregate.py).
    """
    import cvxpy as cp

    check_choice("loss", loss, _LOSSES)
    if is_traced(rho):
        raise TypeError("rho must be a concrete number: the estimators run in NumPy/cvxpy, not under jit")
    if loss != "squared" and check_rho(rho, allow_extrapolation) > 1.0:
        raise ValueError(f"rho > 1 makes the {loss} objective non-convex (negative weight on L_bag); use rho in [0, 1]")
    X, y_bar, info, rho, x_bar = _prepare(X, y_bar, bags, rho, allow_extrapolation)
    delta = check_real("delta", delta, low=0.0, low_open=True)
    n, d = X.shape
    theta = cp.Variable(d)
    f_bar = x_bar @ theta
    f = X @ theta
    y_row = y_bar[info.bags]
    if loss == "squared":
        within = f - (x_bar @ theta)[info.bags]
        objective = cp.sum_squares(y_bar - f_bar) / info.num_bags + rho * cp.sum_squares(within) / n
    else:
        if loss == "huber":
            bag_l, ins_l = cp.huber(y_bar - f_bar, delta), cp.huber(y_row - f, delta)
        else:
            bag_l, ins_l = cp.logistic(f_bar) - cp.multiply(y_bar, f_bar), cp.logistic(f) - cp.multiply(y_row, f)
        objective = (1.0 - rho) * cp.sum(bag_l) / info.num_bags + rho * cp.sum(ins_l) / n
    problem = cp.Problem(cp.Minimize(objective))
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    if problem.status not in ("optimal", "optimal_inaccurate") or theta.value is None:
        raise RuntimeError(f"cvxpy did not solve the {loss} problem: status {problem.status}")
    return np.asarray(theta.value, dtype=np.float64)


class AggregateRegressor:
    """Scikit-learn-style linear model fitted to aggregate (bag-mean) responses.

    ``fit(X, bags, bag_means)`` minimises :math:`(1-\\rho)L_{bag} + \\rho L_{ins}` over linear
    predictors (closed form for the squared loss, :func:`cvxpy_estimator` otherwise) and returns
    ``self``; the fitted coefficients are ``coef_``; ``predict(X) = X @ coef_`` (decision scores for
    the logistic loss). No intercept (centre the data, or append a constant column).

    Args:
        rho: interpolation weight (0: bag level, 1: instance level); keyword-only (passing it positionally is
            deprecated).
        loss: "squared", "huber" or "logistic".
        delta: Huber threshold.
        allow_extrapolation: accept rho > 1 (squared loss).

    Example:
        >>> X = np.array([[1, 0], [0, 1], [1, 1], [2, -1], [0.5, 0.5], [-1, 3]])
        >>> model = AggregateRegressor(rho=1.0).fit(X, [0, 0, 0, 1, 1, 1], [1.0, 5 / 6])
        >>> model.coef_.round(4).tolist()
        [0.7375, 0.5591]

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 2 (as recalled).
    """

    @old_spellings(positional=("rho",))
    def __init__(self, *, rho=0.5, loss="squared", delta=1.0, allow_extrapolation=False):
        self.rho = rho
        self.loss = loss
        self.delta = delta
        self.allow_extrapolation = allow_extrapolation

    def get_params(self, deep=True) -> dict:
        """The constructor parameters (scikit-learn convention)."""
        return {"rho": self.rho, "loss": self.loss, "delta": self.delta,
                "allow_extrapolation": self.allow_extrapolation}

    def set_params(self, **params) -> AggregateRegressor:
        """Set constructor parameters; returns ``self``."""
        for name, value in params.items():
            if name not in self.get_params():
                raise ValueError(f"unknown parameter {name!r}; valid: {sorted(self.get_params())}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"AggregateRegressor({args})"

    def fit(self, X, bags, bag_means) -> AggregateRegressor:
        """Fit to features ``X`` (n, d), bag ids ``bags`` (n,) and aggregate responses ``bag_means`` (m,)."""
        check_choice("loss", self.loss, _LOSSES)
        bags = np.asarray(bags)
        if self.loss == "squared":
            coef = interpolating_estimator(X, bag_means, bags, rho=self.rho,
                                           allow_extrapolation=self.allow_extrapolation)
        else:
            coef = cvxpy_estimator(X, bag_means, bags, rho=self.rho, loss=self.loss, delta=self.delta)
        info = check_bags(bags)
        self.coef_ = coef
        self.n_features_in_ = coef.shape[0]
        self.n_bags_ = info.num_bags
        self.bag_size_ = info.bag_size
        return self

    def predict(self, X) -> np.ndarray:
        """Linear predictions ``X @ coef_``."""
        if not hasattr(self, "coef_"):
            raise RuntimeError("this AggregateRegressor is not fitted yet; call fit(X, bags, bag_means) first")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have shape (n, {self.n_features_in_}), got {X.shape}")
        return X @ self.coef_
