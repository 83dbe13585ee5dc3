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
closed form and differentiable by ``jax.grad``: evaluate it inside ``jax.enable_x64(True)`` for
float64 (:func:`population_loss` does this itself).

References:
    Mahankali, Hashimoto, Ma, ICLR 2024 (arXiv 2307.03576), the pre-training loss (their Eq. (10),
    as recalled); spec A2.4, A2.6.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import check_int, check_real
from theory.icl.optimum import check_covariance

__all__ = ["population_loss", "population_loss_and_grad", "population_loss_fn", "stationary_point", "MAX_D"]

#: Largest dimension accepted (the quadrature has 3**d nodes).
MAX_D = 8


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


def _validate(n, cov_x, cov_w, noise_var):
    n = check_int("n", n, low=1)
    sx = check_covariance("cov_x", cov_x)
    d = sx.shape[0]
    if d > MAX_D:
        raise ValueError(f"cov_x must be at most {MAX_D}x{MAX_D} (quadrature with 3**d nodes), got d = {d}")
    sw = check_covariance("cov_w", cov_w, d)
    s2 = check_real("noise_var", noise_var, low=0.0)
    xi, wts = _nodes(d)
    return n, sx, xi @ np.linalg.cholesky(sw).T, wts, s2


def population_loss_fn(n, cov_x, cov_w, noise_var, *, normalize=True):
    r"""A pure function ``(W_KQ, W_PV) -> L`` computing the exact population loss (for ``jax.grad``).

    Arguments are validated here, once; the returned function uses the dtype of its inputs (call it
    inside ``jax.enable_x64(True)`` with float64 parameters for float64 results).
    """
    n, sx, ws_np, wts_np, s2 = _validate(n, cov_x, cov_w, noise_var)
    d = sx.shape[0]
    scale = 1.0 if normalize else float(n)

    def loss(W_KQ, W_PV):
        dt = jnp.result_type(W_KQ, W_PV)
        if W_KQ.shape != (d + 1, d + 1) or W_PV.shape != (d + 1, d + 1):
            raise ValueError(f"W_KQ and W_PV must be ({d + 1}, {d + 1}), got {W_KQ.shape}, {W_PV.shape}")
        return _pop_loss(W_KQ, W_PV, jnp.asarray(sx, dt), jnp.asarray(ws_np, dt), jnp.asarray(wts_np, dt),
                         jnp.asarray(s2, dt), jnp.asarray(n, dt), jnp.asarray(scale, dt))

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


def stationary_point(n, cov_x, cov_w, noise_var):
    r"""The stationary point of the exact population loss on the GD-construction slice, found by autodiff.

    On the slice :math:`c = 1,\ u = b = 0` the loss is a quadratic in :math:`A` (effective matrix
    :math:`\Gamma = A`), so one Newton step from ``A = 0`` with the autodiff gradient and Hessian (float64)
    lands on its stationary point exactly. The full gradient of all :math:`2(d+1)^2` parameters is then
    evaluated there (it vanishes when the point is a stationary point of the full loss).

    Returns:
        ``(W_KQ, W_PV, loss, (grad_KQ, grad_PV))`` as float64 NumPy values.

    References:
        Spec A3.1 ("why") and A3.3: the optimum is :math:`\Gamma^* = M^{-1}B` with zero nuisance.
    """
    n, sx, ws, wts, s2 = _validate(n, cov_x, cov_w, noise_var)
    with jax.enable_x64(True):
        f64 = jnp.float64
        W_KQ, W_PV, val, grads = _stationary(jnp.asarray(sx, f64), jnp.asarray(ws, f64), jnp.asarray(wts, f64),
                                             jnp.asarray(s2, f64), jnp.asarray(n, f64))
        return np.asarray(W_KQ), np.asarray(W_PV), float(val), tuple(np.asarray(g) for g in grads)


def population_loss(W_KQ, W_PV, n, cov_x, cov_w, noise_var, *, normalize=True):
    r"""Exact population loss :math:`E(\hat y - y_q)^2` of the query-masked LSA, in float64.

    Args:
        W_KQ: ``(d+1, d+1)`` key-query matrix.
        W_PV: ``(d+1, d+1)`` projection-value matrix.
        n: context length ``>= 1``.
        cov_x: SPD ``(d, d)`` covariance of the covariates (``d <= 8``).
        cov_w: SPD ``(d, d)`` covariance of the task weights.
        noise_var: :math:`\sigma^2 \ge 0`.
        normalize: mean-form (``/n``) attention; ``False`` for the sum form.

    Returns:
        The loss as a Python float.

    Example:
        >>> import numpy as np
        >>> from theory.icl.lsa import gd_params
        >>> W = gd_params(10 / 15.25, 4, dtype=np.float64)
        >>> round(population_loss(*W, 10, np.eye(4), np.eye(4), 0.25), 12)
        1.627049180328

    References:
        Spec A2.4 (loss) and A2.6 (its value on y-linear layers).
    """
    return population_loss_and_grad(W_KQ, W_PV, n, cov_x, cov_w, noise_var, normalize=normalize)[0]


_VALUE_AND_GRAD = jax.jit(jax.value_and_grad(_pop_loss, argnums=(0, 1)))


def population_loss_and_grad(W_KQ, W_PV, n, cov_x, cov_w, noise_var, *, normalize=True):
    """``(loss, (dL/dW_KQ, dL/dW_PV))`` of :func:`population_loss`, by autodiff in float64 (NumPy outputs)."""
    n, sx, ws, wts, s2 = _validate(n, cov_x, cov_w, noise_var)
    d = sx.shape[0]
    W_KQ, W_PV = np.asarray(W_KQ, np.float64), np.asarray(W_PV, np.float64)
    if W_KQ.shape != (d + 1, d + 1) or W_PV.shape != (d + 1, d + 1):
        raise ValueError(f"W_KQ and W_PV must be ({d + 1}, {d + 1}) to match cov_x, got {W_KQ.shape}, {W_PV.shape}")
    if not (np.all(np.isfinite(W_KQ)) and np.all(np.isfinite(W_PV))):
        raise ValueError("W_KQ and W_PV must be finite")
    with jax.enable_x64(True):
        f64 = jnp.float64
        args = [jnp.asarray(a, f64) for a in (W_KQ, W_PV, sx, ws, wts, s2, n, 1.0 if normalize else float(n))]
        val, grads = _VALUE_AND_GRAD(*args)
        return float(val), tuple(np.asarray(g) for g in grads)
