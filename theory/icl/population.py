r"""The exact population pre-training loss of the LSA layer (linear Gaussian targets), differentiable.

For the query-masked LSA, :math:`\hat y = g^\top x_q` with
:math:`g = \frac1n\sum_j h_j`, :math:`h_j = (\alpha^\top\xi_j)\,K\xi_j`, where
:math:`\xi_j = (x_j;\epsilon_j)\sim N(0, S)`, :math:`S = \mathrm{diag}(\Sigma_x, \sigma^2)`,
:math:`\alpha = (u + cw;\ c)` and :math:`K = [A^\top + bw^\top \mid b]`. Given the task ``w``,
Isserlis' theorem gives

.. math::

    E[h h^\top\mid w] = K\,(2S\alpha\alpha^\top S + \alpha^\top S\alpha\,S)\,K^\top,\qquad
    m(w) = E[h\mid w] = KS\alpha,

    L(w) = \operatorname{tr}\Sigma_x\Big(\tfrac1n E[hh^\top\mid w] + \tfrac{n-1}n mm^\top\Big)
           - 2w^\top\Sigma_x m + w^\top\Sigma_x w + \sigma^2 .

:math:`L(w)` is a polynomial of degree 4 in ``w``, so its Gaussian expectation is computed exactly by
tensor-product 3-point Gauss-Hermite quadrature (exact to degree 5 in each coordinate; :math:`3^d`
nodes). The result is the exact loss :math:`E(\hat y - y_q)^2` of all :math:`2(d+1)^2` parameters, in
closed form and differentiable by ``jax.grad``. Called with concrete arguments,
:func:`population_loss` evaluates it in float64 itself; under ``jax.jit``/``jax.vmap``/``jax.grad`` it
runs in the traced dtype (float64 inside ``jax.enable_x64()``). Arguments are keyword-only
(``num_samples`` is the prompt length :math:`n`); the old positional calls warn.

References:
    Mahankali, Hashimoto, Ma, ICLR 2024 (arXiv 2307.03576), the pre-training loss (their Eq. (10),
    as recalled); derivation in docs/icl.md, "The exact population loss".
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from theory._compat import keyword_only
from theory._validation import is_traced
from theory.icl._args import as_array, checked, compiled, count_arg, covariance_arg, masked, positive_arg

__all__ = ["population_loss", "population_loss_and_grad", "population_loss_fn", "stationary_point", "MAX_DIM"]

#: Largest dimension accepted (the quadrature has 3**dim nodes).
MAX_DIM = 8

_ARGS = ("num_samples", "cov_x", "cov_w", "noise_var")


def __getattr__(name):
    if name == "MAX_D":
        import warnings

        warnings.warn("theory.icl.population.MAX_D is deprecated; use MAX_DIM", DeprecationWarning, stacklevel=2)
        return MAX_DIM
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _nodes(d):
    z = np.array([-math.sqrt(3.0), 0.0, math.sqrt(3.0)])
    wt = np.array([1 / 6, 2 / 3, 1 / 6])
    idx = np.array(list(itertools.product(range(3), repeat=d)))
    return z[idx], np.prod(wt[idx], axis=1)


def _loss_given_w(W_KQ, W_PV, w, sx, s2, n, scale):
    d = sx.shape[0]
    A, b, u, c = W_KQ[:d, :d], W_KQ[d, :d], W_PV[d, :d], W_PV[d, d]
    alpha = jnp.concatenate([u + c * w, c[None]])
    K = jnp.concatenate([A.T + jnp.outer(b, w), b[:, None]], axis=1)  # (d, d+1)
    S = jnp.zeros((d + 1, d + 1), sx.dtype).at[:d, :d].set(sx).at[d, d].set(s2)
    s_alpha = S @ alpha
    e_hh = K @ (2.0 * jnp.outer(s_alpha, s_alpha) + (alpha @ s_alpha) * S) @ K.T
    m = K @ s_alpha
    e_gg = scale**2 * (e_hh / n + (n - 1.0) / n * jnp.outer(m, m))
    return jnp.trace(sx @ e_gg) - 2.0 * scale * (w @ sx @ m) + w @ sx @ w + s2


def _pop_loss(W_KQ, W_PV, sx, ws, wts, s2, n, scale):
    per = jax.vmap(lambda w: _loss_given_w(W_KQ, W_PV, w, sx, s2, n, scale))(ws)
    return jnp.sum(wts * per)


def _arguments(num_samples, cov_x, cov_w, noise_var):
    r"""Validated ``(n, sx, ws, wts, s2, valid)``: the quadrature nodes ``ws`` of :math:`w\sim N(0,\Sigma_w)` and
    their weights ``wts`` (:math:`3^d` of them); concrete arguments checked now, traced ones masked."""
    n, ok_n = count_arg("num_samples", num_samples)
    sx, ok_x = covariance_arg("cov_x", cov_x)
    d = sx.shape[0]
    if d > MAX_DIM:
        raise ValueError(f"cov_x must be at most {MAX_DIM}x{MAX_DIM} (quadrature with 3**dim nodes), got dim = {d}")
    sw, ok_w = covariance_arg("cov_w", cov_w, d)
    s2, ok_s = positive_arg("noise_var", noise_var)
    xi, wts = _nodes(d)
    chol = jnp.linalg.cholesky(sw) if is_traced(sw) else np.linalg.cholesky(sw)
    return n, sx, xi @ chol.T, wts, s2, (ok_n, ok_x, ok_w, ok_s)


def _check_params(W_KQ, W_PV, d):
    if W_KQ.shape != (d + 1, d + 1) or W_PV.shape != (d + 1, d + 1):
        raise ValueError(f"W_KQ and W_PV must be ({d + 1}, {d + 1}) to match cov_x, got {W_KQ.shape}, {W_PV.shape}")
    for name, W in (("W_KQ", W_KQ), ("W_PV", W_PV)):
        if not is_traced(W) and not np.all(np.isfinite(np.asarray(W, np.float64))):
            raise ValueError(f"{name} must be finite (no NaN or inf)")


@keyword_only(*_ARGS)
def population_loss_fn(*, num_samples, cov_x, cov_w, noise_var, normalize=True):
    r"""A pure function ``(W_KQ, W_PV) -> L`` computing the exact population loss (for ``jax.grad``).

    Arguments (those of :func:`population_loss`) are validated here, once; the returned function uses the
    dtype of its inputs (call it inside ``jax.enable_x64(True)`` with float64 parameters for float64 results).
    """
    n, sx, ws_np, wts_np, s2, ok = _arguments(num_samples, cov_x, cov_w, noise_var)
    d = sx.shape[0]
    scale = 1.0 if normalize else n

    def loss(W_KQ, W_PV):
        W_KQ, W_PV = jnp.asarray(W_KQ), jnp.asarray(W_PV)
        if W_KQ.shape != (d + 1, d + 1) or W_PV.shape != (d + 1, d + 1):
            raise ValueError(f"W_KQ and W_PV must be ({d + 1}, {d + 1}), got {W_KQ.shape}, {W_PV.shape}")
        dt = jnp.result_type(W_KQ, W_PV)
        return masked(ok, _pop_loss(W_KQ, W_PV, jnp.asarray(sx, dt), jnp.asarray(ws_np, dt), jnp.asarray(wts_np, dt),
                                    jnp.asarray(s2, dt), jnp.asarray(n, dt), jnp.asarray(scale, dt)))

    return loss


@jax.jit
def _stationary(sx, ws, wts, s2, n):
    d = sx.shape[0]
    W_PV = jnp.zeros((d + 1, d + 1), sx.dtype).at[d, d].set(1.0)

    def embed(a):
        return jnp.zeros((d + 1, d + 1), sx.dtype).at[:d, :d].set(a.reshape(d, d))

    def f_a(a):
        return _pop_loss(embed(a), W_PV, sx, ws, wts, s2, n, 1.0)

    zero = jnp.zeros(d * d, sx.dtype)
    a_star = -jnp.linalg.solve(jax.hessian(f_a)(zero), jax.grad(f_a)(zero))
    W_KQ = embed(a_star)
    val, grads = jax.value_and_grad(_pop_loss, argnums=(0, 1))(W_KQ, W_PV, sx, ws, wts, s2, n, 1.0)
    return W_KQ, W_PV, val, grads


@keyword_only(*_ARGS)
def stationary_point(*, num_samples, cov_x, cov_w, noise_var):
    r"""The stationary point of the exact population loss on the GD-construction slice, found by autodiff.

    On the slice :math:`c = 1,\ u = b = 0` the loss is a quadratic in :math:`A` (effective matrix
    :math:`\Gamma = A`), so one Newton step from ``A = 0`` with the autodiff gradient and Hessian (float64)
    lands on its stationary point exactly. The full gradient of all :math:`2(d+1)^2` parameters is then
    evaluated there (it vanishes when the point is a stationary point of the full loss).

    Eager only (concrete arguments): it is a numerical solve that returns NumPy values, the measurement
    of the claim ``icl.stationary_point``; the closed form it is checked against is
    :func:`~theory.icl.optimum.optimal_preconditioner`, which works under ``jit``/``vmap``/``grad``.

    Returns:
        ``(W_KQ, W_PV, loss, (grad_KQ, grad_PV))`` as float64 NumPy values.

    References:
        Mahankali, Hashimoto, Ma, ICLR 2024, Theorems 1-2; the optimum :math:`\Gamma^* = M^{-1}B` with zero
        nuisance is derived in docs/icl.md, "Why the optimum is one GD step" and "General covariances".
    """
    if any(is_traced(a) for a in (num_samples, cov_x, cov_w, noise_var)):
        raise TypeError("stationary_point takes concrete arguments (it returns NumPy values); for a traceable "
                        "optimum use theory.icl.optimal_preconditioner")
    n, sx, ws, wts, s2, _ = _arguments(num_samples, cov_x, cov_w, noise_var)
    with jax.enable_x64(True):
        f64 = np.float64  # NumPy float64 arguments: the jitted core takes them without an eager conversion compile
        W_KQ, W_PV, val, grads = _stationary(np.asarray(sx, f64), np.asarray(ws, f64), np.asarray(wts, f64),
                                             np.asarray(s2, f64), np.asarray(n, f64))
        return np.asarray(W_KQ), np.asarray(W_PV), float(val), tuple(np.asarray(g) for g in grads)


@keyword_only(*_ARGS)
def population_loss(W_KQ, W_PV, *, num_samples, cov_x, cov_w, noise_var, normalize=True):
    r"""Exact population loss :math:`E(\hat y - y_q)^2` of the query-masked LSA.

    Args:
        W_KQ: ``(d+1, d+1)`` key-query matrix.
        W_PV: ``(d+1, d+1)`` projection-value matrix.
        num_samples: prompt length :math:`n \ge 1`.
        cov_x: SPD ``(d, d)`` covariance of the covariates (``d <= 8``).
        cov_w: SPD ``(d, d)`` covariance of the task weights.
        noise_var: :math:`\sigma^2 \ge 0`.
        normalize: mean-form (``/n``) attention; ``False`` for the sum form.

    Returns:
        With concrete arguments, the loss as a Python float, computed in float64. Under ``jax.jit``,
        ``jax.vmap`` or ``jax.grad`` (any argument traced), a JAX scalar in the traced dtype (float64 inside
        ``jax.enable_x64()``), NaN where a traced ``num_samples``, ``noise_var`` or covariance is out of range.

    Example:
        >>> import numpy as np
        >>> from theory.icl.lsa import gd_params
        >>> W = gd_params(eta=10 / 15.25, dim=4, dtype=np.float64)
        >>> round(population_loss(*W, num_samples=10, cov_x=np.eye(4), cov_w=np.eye(4), noise_var=0.25), 12)
        1.627049180328

    References:
        Mahankali, Hashimoto, Ma, ICLR 2024, the pre-training loss (as recalled); docs/icl.md,
        "The exact population loss" (its value on y-linear layers: "The risk of a y-linear predictor").
    """
    args = (W_KQ, W_PV, num_samples, cov_x, cov_w, noise_var)
    if not any(is_traced(a) for a in args):
        return population_loss_and_grad(W_KQ, W_PV, num_samples=num_samples, cov_x=cov_x, cov_w=cov_w,
                                        noise_var=noise_var, normalize=normalize)[0]
    n = checked("count", "num_samples", num_samples)
    sx = checked("covariance", "cov_x", cov_x)
    d = sx.shape[0]
    if d > MAX_DIM:
        raise ValueError(f"cov_x must be at most {MAX_DIM}x{MAX_DIM} (quadrature with 3**dim nodes), got dim = {d}")
    sw = checked("covariance", "cov_w", cov_w, d)
    s2 = checked("positive", "noise_var", noise_var)
    W_KQ, W_PV = as_array(W_KQ), as_array(W_PV)
    _check_params(W_KQ, W_PV, d)
    xi, wts = _nodes(d)
    if not is_traced(sw):  # the nodes of a concrete cov_w in float64 NumPy, as in the concrete path
        xi, sw = xi @ np.linalg.cholesky(sw).T, None
    return compiled(_traced_loss, (None, None, "count", "covariance", "covariance", "positive", None, None),
                    W_KQ, W_PV, n, sx, sw, s2, xi, wts, normalize=normalize)


def _traced_loss(W_KQ, W_PV, n, sx, sw, s2, xi, wts, *, normalize):
    """The loss in the traced dtype: ``xi`` are the quadrature nodes ``ws`` already (``sw`` None) or the standard
    ones, transformed by the Cholesky factor of a traced ``sw``."""
    ws = xi if sw is None else xi @ jnp.linalg.cholesky(sw).T
    dt = jnp.result_type(W_KQ, W_PV, s2, sx, float)
    return _pop_loss(W_KQ.astype(dt), W_PV.astype(dt), jnp.asarray(sx, dt), jnp.asarray(ws, dt),
                     jnp.asarray(wts, dt), jnp.asarray(s2, dt), jnp.asarray(n, dt),
                     jnp.asarray(1.0 if normalize else n, dt))


_VALUE_AND_GRAD = jax.jit(jax.value_and_grad(_pop_loss, argnums=(0, 1)))


@keyword_only(*_ARGS)
def population_loss_and_grad(W_KQ, W_PV, *, num_samples, cov_x, cov_w, noise_var, normalize=True):
    """``(loss, (dL/dW_KQ, dL/dW_PV))`` of :func:`population_loss` by autodiff: float64 NumPy outputs for concrete
    arguments, JAX values in the traced dtype under tracing."""
    kw = {"num_samples": num_samples, "cov_x": cov_x, "cov_w": cov_w, "noise_var": noise_var, "normalize": normalize}
    if any(is_traced(a) for a in (W_KQ, W_PV, num_samples, cov_x, cov_w, noise_var)):
        return jax.value_and_grad(lambda a, b: population_loss(a, b, **kw), argnums=(0, 1))(W_KQ, W_PV)
    n, sx, ws, wts, s2, _ = _arguments(num_samples, cov_x, cov_w, noise_var)
    d = sx.shape[0]
    W_KQ, W_PV = np.asarray(W_KQ, np.float64), np.asarray(W_PV, np.float64)
    _check_params(W_KQ, W_PV, d)
    with jax.enable_x64(True):
        # NumPy float64 arguments: the jitted core takes them without an eager conversion compile
        args = [np.asarray(a, np.float64) for a in (W_KQ, W_PV, sx, ws, wts, s2, n, 1.0 if normalize else float(n))]
        val, grads = _VALUE_AND_GRAD(*args)
        return float(val), tuple(np.asarray(g) for g in grads)
