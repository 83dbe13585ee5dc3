r"""The one-layer linear self-attention (LSA) layer, its prompt format and the one-step-GD predictor.

Prompt: :math:`Z\in\mathbb R^{(d+1)\times(n+1)}`, column :math:`i\le n` is
:math:`z_i = (x_i; y_i)`, the last column is the query :math:`z_q = (x_q; 0)`. Batches are
``(B, d+1, n+1)`` (feature-major, the default) or token-major ``(B, n+1, d+1)``
(:func:`to_token_major`).

LSA in merged-parameter form (:math:`W_{KQ} = W_K^\top W_Q`, :math:`W_{PV} = W_P W_V`; the paper's
read-out head :math:`h` gives :math:`h^\top W_V` = the last row of :math:`W_{PV}`):

.. math:: f(Z) = Z + W_{PV} Z\,\mathrm{Mask}\,Z^\top W_{KQ} Z / n,\qquad \hat y = f(Z)_{d+1,\,n+1}

with ``Mask = diag(1, ..., 1, 0)`` (query excluded; ``include_query=True`` uses the identity) and
the ``1/n`` dropped when ``normalize=False`` (sum form).

References:
    Mahankali, Hashimoto, Ma, ICLR 2024 (arXiv 2307.03576), Sec. 2-3 (parameterisation as recalled
    from the reviews); docs/icl.md, "The objects".
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from theory._compat import keyword_only
from theory._validation import check_int, check_real
from theory.icl._args import as_array

__all__ = [
    "make_prompt",
    "to_token_major",
    "from_token_major",
    "lsa_forward",
    "lsa_predict",
    "context_readout",
    "effective_params",
    "gd_params",
    "one_step_gd_predict",
]


def _shape_check(Z, W_KQ, W_PV):
    if Z.ndim < 2:
        raise ValueError(f"Z must have shape (..., d+1, n+1), got {Z.shape}")
    d1, n1 = Z.shape[-2:]
    if d1 < 2 or n1 < 2:
        raise ValueError(f"Z must have d+1 >= 2 rows and n+1 >= 2 columns, got {Z.shape[-2:]}")
    for name, W in (("W_KQ", W_KQ), ("W_PV", W_PV)):
        if W.shape[-2:] != (d1, d1):
            raise ValueError(f"{name} must be ({d1}, {d1}) to match the prompt's d+1 = {d1}, got {W.shape}")
    return d1 - 1, n1 - 1


def make_prompt(X, y, x_q):
    r"""Embed a context ``(X, y)`` and a query ``x_q`` as :math:`Z = [z_1 \dots z_n\ z_q]`.

    Args:
        X: covariates ``(..., n, d)``; y: responses ``(..., n)``; x_q: query ``(..., d)``.

    Returns:
        ``Z`` of shape ``(..., d+1, n+1)`` with columns :math:`(x_i; y_i)` and :math:`(x_q; 0)`.

    Example:
        >>> import jax.numpy as jnp
        >>> make_prompt(jnp.eye(2), jnp.array([1.0, 2.0]), jnp.array([3.0, 4.0])).tolist()
        [[1.0, 0.0, 3.0], [0.0, 1.0, 4.0], [1.0, 2.0, 0.0]]
    """
    X, y, x_q = as_array(X), as_array(y), as_array(x_q)
    if X.ndim < 2 or y.shape != X.shape[:-1] or x_q.shape != X.shape[:-2] + X.shape[-1:]:
        raise ValueError(f"shapes must be X (..., n, d), y (..., n), x_q (..., d); got {X.shape}, {y.shape}, "
                         f"{x_q.shape}")
    return _make_prompt(X, y, x_q)


# Jitted: an eager call compiles one program per shape instead of one per jnp operation (inlined under jit).
@jax.jit
def _make_prompt(X, y, x_q):
    ctx = jnp.concatenate([X, y[..., None]], axis=-1)  # (..., n, d+1)
    q = jnp.concatenate([x_q, jnp.zeros_like(x_q[..., :1])], axis=-1)[..., None, :]
    return jnp.swapaxes(jnp.concatenate([ctx, q], axis=-2), -1, -2)


def to_token_major(Z):
    """``(..., d+1, n+1)`` -> ``(..., n+1, d+1)`` (one row per token)."""
    return jnp.swapaxes(jnp.asarray(Z), -1, -2)


def from_token_major(T):
    """``(..., n+1, d+1)`` -> ``(..., d+1, n+1)`` (inverse of :func:`to_token_major`)."""
    return jnp.swapaxes(jnp.asarray(T), -1, -2)


def lsa_forward(W_KQ, W_PV, Z, *, include_query=False, normalize=True):
    r"""The LSA layer :math:`f(Z) = Z + W_{PV} Z\,\mathrm{Mask}\,Z^\top W_{KQ} Z / n`.

    Args:
        W_KQ: ``(d+1, d+1)`` key-query matrix :math:`W_K^\top W_Q`.
        W_PV: ``(d+1, d+1)`` projection-value matrix :math:`W_P W_V`.
        Z: prompts ``(..., d+1, n+1)``.
        include_query: use ``Mask = I`` (the query token also acts as key/value).
        normalize: divide by ``n`` (mean form); ``False`` gives the sum form.

    Returns:
        ``f(Z)`` with the shape of ``Z``.

    References:
        Mahankali, Hashimoto, Ma, ICLR 2024, Sec. 2 (as recalled); docs/icl.md, "The objects".
    """
    Z, W_KQ, W_PV = as_array(Z), as_array(W_KQ), as_array(W_PV)
    _shape_check(Z, W_KQ, W_PV)
    return _lsa_forward(W_KQ, W_PV, Z, include_query=include_query, normalize=normalize)


def _forward(W_KQ, W_PV, Z, include_query, normalize):
    n = Z.shape[-1] - 1
    mask = jnp.ones(n + 1, Z.dtype) if include_query else jnp.ones(n + 1, Z.dtype).at[-1].set(0.0)
    attn = (Z * mask) @ jnp.swapaxes(Z, -1, -2)  # Z Mask Z^T
    scale = 1.0 / n if normalize else 1.0
    return Z + scale * (W_PV @ attn @ W_KQ @ Z)


# Jitted: an eager call compiles one program per shape instead of one per jnp operation (inlined under jit).
_lsa_forward = jax.jit(_forward, static_argnames=("include_query", "normalize"))


@functools.partial(jax.jit, static_argnames=("include_query", "normalize"))
def _lsa_predict(W_KQ, W_PV, Z, include_query, normalize):
    return _forward(W_KQ, W_PV, Z, include_query, normalize)[..., -1, -1]


def lsa_predict(W_KQ, W_PV, Z, *, include_query=False, normalize=True):
    r"""The LSA prediction :math:`\hat y = f(Z)_{d+1, n+1}` (shape ``Z.shape[:-2]``).

    Example:
        >>> import jax.numpy as jnp
        >>> Z = make_prompt(jnp.array([[1., 0], [0, 1], [1, 1]]), jnp.array([1., 2, 3]), jnp.array([2., -1]))
        >>> round(float(lsa_predict(*gd_params(eta=0.5, dim=2), Z)), 6)
        0.5
    """
    Z, W_KQ, W_PV = as_array(Z), as_array(W_KQ), as_array(W_PV)
    _shape_check(Z, W_KQ, W_PV)
    return _lsa_predict(W_KQ, W_PV, Z, include_query=include_query, normalize=normalize)


def context_readout(W_KQ, W_PV, Z, *, normalize=True):
    r"""The context vector :math:`g` with :math:`\hat y = g^\top x_q` (query masked).

    .. math:: g = \frac1n\sum_{j\le n} (W_{PV}[d,:]\,z_j)\,(W_{KQ}[:, :d]^\top z_j)

    Because :math:`g` depends only on the context, the pre-training risk conditional on the context
    and the task is a quadratic form in :math:`g` (the Rao-Blackwellised estimator of docs/icl.md,
    "The Rao-Blackwellised risk").

    Returns:
        ``g`` of shape ``(..., d)``.
    """
    Z, W_KQ, W_PV = as_array(Z), as_array(W_KQ), as_array(W_PV)
    _shape_check(Z, W_KQ, W_PV)
    return _context_readout(W_KQ, W_PV, Z, normalize=normalize)


# Jitted: an eager call compiles one program per shape instead of one per jnp operation (inlined under jit).
@functools.partial(jax.jit, static_argnames=("normalize",))
def _context_readout(W_KQ, W_PV, Z, normalize):
    d, n = Z.shape[-2] - 1, Z.shape[-1] - 1
    ctx = Z[..., :, :n]  # (..., d+1, n)
    value = jnp.einsum("k,...kj->...j", W_PV[d, :], ctx)  # (..., n)
    key = jnp.einsum("ki,...kj->...ji", W_KQ[:, :d], ctx)  # (..., n, d)
    scale = 1.0 / n if normalize else 1.0
    return scale * jnp.einsum("...j,...ji->...i", value, key)


def effective_params(W_KQ, W_PV):
    r"""Reduce LSA parameters to :math:`(\Gamma, u, c, A, b)`.

    With :math:`W_{PV}[d,:] = (u^\top, c)`, :math:`A = W_{KQ}[:d,:d]`, :math:`b^\top = W_{KQ}[d,:d]`:

    .. math:: \hat y = v^\top\Gamma x_q + \frac1n\sum_j\big[(u^\top x_j)(x_j^\top A x_q) + c\,y_j^2\,b^\top x_q\big],
              \qquad \Gamma = cA + ub^\top,\ v = \frac1n\sum_j y_j x_j

    so a layer with zero nuisance implements one preconditioned GD step :math:`w_1 = \Gamma^\top v`
    (effective step :math:`\operatorname{tr}\Gamma/d`, preconditioner :math:`\Gamma^\top` up to scale).

    Returns:
        ``(Gamma, u, c, A, b)``.

    References:
        Derivation in docs/icl.md, "Why the optimum is one GD step".
    """
    W_KQ, W_PV = as_array(W_KQ), as_array(W_PV)
    d = W_KQ.shape[-1] - 1
    if W_KQ.shape[-2:] != (d + 1, d + 1) or W_PV.shape[-2:] != (d + 1, d + 1) or d < 1:
        raise ValueError(f"W_KQ and W_PV must both be (d+1, d+1) with d >= 1, got {W_KQ.shape}, {W_PV.shape}")
    return _effective_params(W_KQ, W_PV)


# Jitted: an eager call compiles one program per shape instead of one per jnp operation (inlined under jit).
@jax.jit
def _effective_params(W_KQ, W_PV):
    d = W_KQ.shape[-1] - 1
    A = W_KQ[..., :d, :d]
    b = W_KQ[..., d, :d]
    u = W_PV[..., d, :d]
    c = W_PV[..., d, d]
    gamma = c[..., None, None] * A + u[..., :, None] * b[..., None, :]
    return gamma, u, c, A, b


@keyword_only("eta", "dim", "preconditioner", "dtype")
def gd_params(*, eta, dim, preconditioner=None, dtype=np.float32):
    r"""LSA parameters that implement one (preconditioned) GD step :math:`w_1 = \eta P v` exactly.

    :math:`W_{KQ} = \begin{pmatrix}\eta P^\top & 0\\ 0 & 0\end{pmatrix}`, :math:`W_{PV}[d,:] = (0,\dots,0,1)`
    (mean-normalised LSA), hence :math:`\Gamma = \eta P^\top` and zero nuisance.

    Args:
        eta: step size (mean form).
        dim: dimension :math:`d \ge 1`.
        preconditioner: ``(d, d)`` matrix (identity if None).
        dtype: the NumPy dtype of the result.

    Returns:
        ``(W_KQ, W_PV)`` as NumPy arrays of ``dtype`` (exact in float64 when asked).

    Example:
        >>> W_KQ, W_PV = gd_params(eta=0.5, dim=2)
        >>> W_KQ.tolist(), W_PV[2].tolist()
        ([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.0]], [0.0, 0.0, 1.0])

    References:
        Mahankali, Hashimoto, Ma, ICLR 2024, Sec. 3 (the GD construction; von Oswald et al., ICML 2023).
    """
    d = check_int("dim", dim, low=1)
    eta = check_real("eta", eta)
    P = np.eye(d) if preconditioner is None else np.asarray(preconditioner, np.float64)
    if P.shape != (d, d):
        raise ValueError(f"preconditioner must be ({d}, {d}), got {P.shape}")
    W_KQ = np.zeros((d + 1, d + 1))
    W_KQ[:d, :d] = eta * P.T
    W_PV = np.zeros((d + 1, d + 1))
    W_PV[d, d] = 1.0
    return W_KQ.astype(dtype), W_PV.astype(dtype)


@keyword_only("eta", "preconditioner")
def one_step_gd_predict(X, y, x_q, *, eta, preconditioner=None):
    r"""One step of (preconditioned) GD on the mean-form least squares, evaluated at the query.

    .. math:: w_1 = -\eta P\nabla\hat L(0) = \eta P\,\frac1n\sum_i y_i x_i,\qquad \hat y = x_q^\top w_1,
              \qquad \hat L(w) = \frac1{2n}\sum_i (y_i - w^\top x_i)^2

    (sum form: pass ``eta = n * eta_sum``).

    Args:
        X: ``(..., n, d)``; y: ``(..., n)``; x_q: ``(..., d)``; eta: step; preconditioner: ``(d, d)`` or None.

    Returns:
        Predictions of shape ``X.shape[:-2]``.

    Example:
        >>> import jax.numpy as jnp
        >>> float(one_step_gd_predict(jnp.array([[1., 0], [0, 1], [1, 1]]), jnp.array([1., 2, 3]),
        ...                           jnp.array([2., -1]), eta=0.5))
        0.5
    """
    X, y, x_q = as_array(X), as_array(y), as_array(x_q)
    P = None if preconditioner is None else as_array(preconditioner)
    return _one_step_gd_predict(X, y, x_q, eta, P)


# Jitted: an eager call compiles one program per shape instead of one per jnp operation (inlined under jit).
@jax.jit
def _one_step_gd_predict(X, y, x_q, eta, P):
    v = jnp.einsum("...j,...ji->...i", y, X) / X.shape[-2]
    w1 = eta * (v if P is None else v @ P.T)
    return jnp.sum(w1 * x_q, axis=-1)
