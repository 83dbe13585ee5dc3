r"""JAX simulators of the interpolating estimator: the exact distributional reduction, and full bagged data.

**Reduced model** (:func:`conditional_bias_variance`). A within-bag Helmert rotation maps the n
Gaussian rows to m "bag rows" :math:`Z` and n - m "within-bag rows" :math:`W`, all i.i.d.
:math:`N(0, I_d)` and independent, with :math:`X^TSX = Z^TZ = A`, :math:`X^T(I-S)X = W^TW = B`. So

.. math::
    \hat\theta_\rho = M^{-1}Z^T(Z\theta_0 + \tilde\varepsilon),\quad M = A + \rho B,\quad
    \mathrm{Bias}^2 = \rho^2\|M^{-1}B\theta_0\|^2,\quad \mathrm{Var} = \sigma^2\,\mathrm{tr}(M^{-1}AM^{-1}),

the exact conditional-on-X bias² and variance. One draw of :math:`n_{\max}` rows serves every case:
rows :math:`i < m` are bag rows, :math:`m \le i < n` within-bag rows, the rest are unused, so
(n, m, rho) are traced and one compile serves a whole (gamma, k, rho) grid at fixed d.

**Full model** (:func:`simulate_bagged_regression`): draw X, y, form bags (random, or sorted by the
response: a response-dependent bagging the theory does not cover), fit :math:`\hat\theta_\rho` and
return :math:`\|\hat\theta_\rho - \theta_0\|^2`.

Both are pure, jitted, vmapped over draws (and cases), float32 by default with a ``dtype`` option;
:math:`\theta_0 = r u` with a fresh uniform direction u per draw.

Randomness is the keyword-only ``key``.

References:
    Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 2-3 (as recalled); the reduction and the
    Monte-Carlo protocol are derived by the library: docs/aggregate.md#exact-reduction.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from theory import _random
from theory._random import check_key
from theory._training import over_replicates, sequential_under_vmap
from theory._validation import check_dtype, check_int, check_real
from theory.aggregate._checks import old_spellings

__all__ = ["conditional_bias_variance", "conditional_risk_slope", "simulate_bagged_regression"]


def _cases(num_samples, bag_size, rho, dim, allow_extrapolation):
    n, k, rho = (np.atleast_1d(np.asarray(a)) for a in (num_samples, bag_size, rho))
    n, k, rho = np.broadcast_arrays(n, k, rho)
    if n.ndim != 1:
        raise ValueError("num_samples, bag_size and rho must be scalars or 1-D arrays")
    if n.dtype.kind not in "iu" or k.dtype.kind not in "iu":
        raise TypeError("num_samples and bag_size must be integers")
    if rho.dtype.kind not in "iuf":
        raise TypeError(f"rho must be real, got dtype {rho.dtype}")
    rho = rho.astype(np.float64)
    if np.any(k < 1):
        raise ValueError("bag_size must be an integer >= 1")
    if np.any(n % k):
        raise ValueError(f"num_samples must be a multiple of bag_size (equal bags); got n={n.tolist()}, "
                         f"k={k.tolist()}")
    if not np.all(np.isfinite(rho)) or np.any(rho < 0):
        raise ValueError(f"rho must be finite and >= 0, got {rho.tolist()}")
    if not allow_extrapolation and np.any(rho > 1):
        raise ValueError("rho must lie in [0, 1]; pass allow_extrapolation=True for rho > 1")
    m = n // k
    if np.any((rho == 0) & (m <= dim)):
        raise ValueError(f"rho=0 needs n_bags = n/bag_size > dim={dim}; got n_bags={m[(rho == 0) & (m <= dim)][0]}")
    if np.any(n <= dim):
        raise ValueError(f"num_samples must exceed dim={dim}")
    return n.astype(np.int32), m.astype(np.int32), rho


_CHUNK = 50


def _prefix_grams(X):
    """Gram matrices of the first j*_CHUNK rows, j = 0..ceil(n/_CHUNK), and X zero-padded to whole chunks + 1."""
    n, d = X.shape
    c = -(-n // _CHUNK)
    Xp = jnp.concatenate([X, jnp.zeros(((c + 1) * _CHUNK - n, d), X.dtype)])
    blocks = Xp[: c * _CHUNK].reshape(c, _CHUNK, d)
    grams = jnp.einsum("cri,crj->cij", blocks, blocks)
    return jnp.concatenate([jnp.zeros((1, d, d), X.dtype), jnp.cumsum(grams, axis=0)]), Xp


def _gram_upto(prefix, Xp, m):
    """sum_{i < m} x_i x_i^T for traced m: whole chunks from the prefix sums, the rest row-masked."""
    j = m // _CHUNK
    rows = jax.lax.dynamic_slice_in_dim(Xp, j * _CHUNK, _CHUNK)
    part = rows * (jnp.arange(_CHUNK) < m - j * _CHUNK)[:, None]
    return prefix[j] + part.T @ rows


@sequential_under_vmap
def _spd_inverse(M):
    """The inverse of a symmetric positive-definite ``M [d, d]`` from its Cholesky factor (LAPACK ``potrf`` and
    triangular solves), one matrix per LAPACK call under ``vmap``
    (:func:`~theory._training.sequential_under_vmap`: batched LAPACK kernels can deadlock several CPU devices)."""
    return jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(M), jnp.eye(M.shape[0], dtype=M.dtype))


#: ``jnp.linalg.solve`` one system per LAPACK call under ``vmap`` (see :func:`_spd_inverse`).
_solve = sequential_under_vmap(jnp.linalg.solve)


def _per_case(grams, u, m, n, rho, signal, noise, mean_direction, slope):
    """(bias2, variance), or their rho-derivatives with ``slope``, of one case of one draw."""
    A = _gram_upto(*grams, m)
    B = _gram_upto(*grams, n) - A
    M = A + rho * B
    d = M.shape[0]
    m_inv = _spd_inverse(M)
    m_inv = 0.5 * (m_inv + m_inv.T)
    P = m_inv @ B  # E[theta_hat | X] - theta0 = -rho P theta0 (sign irrelevant)
    am = A @ m_inv
    if not slope:
        var = noise * jnp.sum(am * m_inv)  # tr(M^{-1} A M^{-1})
        if mean_direction:  # E_u rho^2 ||P theta0||^2 over a uniform direction u: r^2 rho^2 ||P||_F^2 / d
            return signal * rho**2 * jnp.sum(P * P) / d, var
        bias_vec = rho * (P @ (jnp.sqrt(signal) * u))
        return bias_vec @ bias_vec, var
    # d/drho with dM/drho = B, d(M^{-1}) = -M^{-1} B M^{-1}, so dP/drho = -P^2:
    d_var = -2.0 * noise * jnp.sum(P.T * (m_inv @ am))  # -2 sigma^2 tr(P M^{-1} A M^{-1})
    if mean_direction:
        pp = jnp.sum(P * P) / d
        ppp = jnp.sum(P * (P @ P)) / d
        return signal * (2.0 * rho * pp - 2.0 * rho**2 * ppp), d_var
    b_theta = P @ (jnp.sqrt(signal) * u)
    bias_vec = rho * b_theta
    d_bias_vec = b_theta - rho * (P @ b_theta)
    return 2.0 * bias_vec @ d_bias_vec, d_var


def _draw(key, n_max, dim, dtype):
    kx, ku = jax.random.split(key)
    X = _random.normal(kx, (n_max, dim), dtype)
    u = _random.normal(ku, (dim,), dtype)
    return X, u / jnp.linalg.norm(u)


@functools.partial(jax.jit, static_argnames=("n_max", "dim", "n_draws", "dtype", "mean_direction", "slope"))
def _reduced(key, m, n, rho, signal, noise, *, n_max, dim, n_draws, dtype, mean_direction=False, slope=False):
    """(bias2, variance), or (d bias2/d rho, d variance/d rho) with ``slope``, each (n_draws, n_cases): one compile
    serves all cases."""
    def one_draw(k):
        X, u = _draw(k, n_max, dim, dtype)
        grams = _prefix_grams(X)
        return jax.vmap(lambda m_, n_, r_: _per_case(grams, u, m_, n_, r_, signal, noise, mean_direction, slope))(
            m, n, rho)

    return over_replicates(one_draw, key, n_draws)


def _run_reduced(key, n, m, rho, signal, noise, *, dim, n_draws, max_samples, dtype, slope, mean_direction=False):
    """Pad the cases to a multiple of 16 (repeating the last) so that sweeps of similar length share a compile."""
    c = len(n)
    pad = -c % 16
    n, m, rho = (np.concatenate([a, np.repeat(a[-1:], pad)]) for a in (n, m, rho))
    n_max = int(n.max()) if max_samples is None else check_int("max_samples", max_samples, low=int(n.max()))
    out = _reduced(key, jnp.asarray(m), jnp.asarray(n), jnp.asarray(rho, dtype), jnp.asarray(signal, dtype),
                   jnp.asarray(noise, dtype), n_max=n_max, dim=dim, n_draws=n_draws, dtype=dtype,
                   mean_direction=bool(mean_direction), slope=bool(slope))
    return tuple(a[:, :c] for a in out)


def _check_common(key, dim, num_replicates, signal, noise_var, dtype):
    check_key(key)
    d = check_int("dim", dim, low=1)
    r = check_int("num_replicates", num_replicates, low=1)
    s = check_real("signal", signal, low=0.0)
    z = check_real("noise_var", noise_var, low=0.0)
    return d, r, s, z, check_dtype(dtype)


_RENAMED = {"n_samples": "num_samples", "n_draws": "num_replicates", "noise": "noise_var"}


@old_spellings(positional=("key",), **_RENAMED)
def conditional_bias_variance(*, key, num_samples, dim, bag_size, rho, num_replicates, signal=1.0, noise_var=1.0,
                              allow_extrapolation=False, max_samples=None, dtype=jnp.float32, mean_direction=False):
    r"""Exact conditional bias² and variance of :math:`\hat\theta_\rho` for ``num_replicates`` draws of (Z, W, u).

    Deprecated spellings still accepted (with a ``DeprecationWarning``): a positional ``key``, ``n_samples``,
    ``n_draws`` and ``noise``.

    Args:
        key: JAX PRNG key (keyword-only).
        num_samples: n (int or 1-D int array of cases), a multiple of ``bag_size``, > dim.
        dim: d.
        bag_size: k (int or 1-D array, broadcast with ``num_samples`` and ``rho``).
        rho: interpolation weight(s); rho = 0 needs n/k > d.
        num_replicates: replicates (vmapped).
        signal: :math:`\|\theta_0\|^2`.
        noise_var: :math:`\sigma^2`.
        allow_extrapolation: accept rho > 1.
        max_samples: rows drawn per replicate (default: the largest n); fix it to share one compile
            between sweeps with different n.
        dtype: float dtype of the simulation (float64 needs ``jax.enable_x64``).
        mean_direction: return the bias² averaged analytically over the uniform direction of
            :math:`\theta_0`, :math:`E_u\,\rho^2\|M^{-1}B\theta_0\|^2 = r^2\rho^2\|M^{-1}B\|_F^2/d`
            (same mean, no direction noise), instead of the bias² at one random direction per draw.

    Returns:
        ``(bias2, variance)``, each of shape (num_replicates, n_cases).

    Example:
        >>> b, v = conditional_bias_variance(key=jax.random.key(0), num_samples=64, dim=8, bag_size=4, rho=0.0,
        ...                                  num_replicates=2)
        >>> b.shape, bool(abs(float(b.max())) < 1e-6)
        ((2, 1), True)

    References:
        The exact reduction and the Monte-Carlo protocol, derived by the library: docs/aggregate.md#exact-reduction.
    """
    d, r, s, z, dtype = _check_common(key, dim, num_replicates, signal, noise_var, dtype)
    n, m, rho = _cases(num_samples, bag_size, rho, d, allow_extrapolation)
    return _run_reduced(key, n, m, rho, s, z, dim=d, n_draws=r, max_samples=max_samples, dtype=dtype, slope=False,
                        mean_direction=mean_direction)


@old_spellings(positional=("key",), **_RENAMED)
def conditional_risk_slope(*, key, num_samples, dim, bag_size, num_replicates, rho=0.0, signal=1.0, noise_var=1.0,
                           max_samples=None, dtype=jnp.float32, mean_direction=False):
    r"""Per-draw derivatives :math:`\partial_\rho` of the conditional bias² and variance (closed form per draw).

    At :math:`\rho = 0` the bias² slope is 0 and the variance slope is
    :math:`-2\sigma^2\mathrm{tr}(A^{-1}BA^{-1}) < 0` for every draw; its limit is
    :func:`theory.aggregate.asymptotics.risk_slope_at_zero`. Deprecated spellings as in
    :func:`conditional_bias_variance`.

    Args:
        key: PRNG key (keyword-only).
        num_samples: n (int or 1-D array).
        dim: d.
        bag_size: k (int or 1-D array).
        num_replicates: replicates.
        rho: where to differentiate (default 0).
        signal: :math:`\|\theta_0\|^2`.
        noise_var: :math:`\sigma^2`.
        max_samples: rows drawn per replicate (default: the largest n).
        dtype: float dtype.
        mean_direction: differentiate the direction-averaged bias² (see :func:`conditional_bias_variance`).

    Returns:
        ``(dbias2, dvariance)``, each (num_replicates, n_cases).

    References:
        The derivative at rho = 0, derived by the library: docs/aggregate.md#slope-at-the-bag-level-end.
    """
    d, r, s, z, dtype = _check_common(key, dim, num_replicates, signal, noise_var, dtype)
    n, m, rho = _cases(num_samples, bag_size, rho, d, True)
    return _run_reduced(key, n, m, rho, s, z, dim=d, n_draws=r, max_samples=max_samples, dtype=dtype, slope=True,
                        mean_direction=mean_direction)


@functools.partial(jax.jit, static_argnames=("n", "dim", "k", "n_draws", "dtype"))
def _full(key, rho, signal, noise, *, n, dim, k, n_draws, sort, dtype):
    m = n // k

    def one_draw(key):
        kx, ke, ku, kp = jax.random.split(key, 4)
        X = _random.normal(kx, (n, dim), dtype)
        u = _random.normal(ku, (dim,), dtype)
        theta0 = jnp.sqrt(signal) * u / jnp.linalg.norm(u)
        y = X @ theta0 + jnp.sqrt(noise) * _random.normal(ke, (n,), dtype)
        order = jnp.where(sort, jnp.argsort(y), jax.random.permutation(kp, n))  # sort traced: one compile
        x_bar = X[order].reshape(m, k, dim).mean(axis=1)
        y_bar = y[order].reshape(m, k).mean(axis=1)
        A = k * x_bar.T @ x_bar
        B = X.T @ X - A
        rhs = k * x_bar.T @ y_bar

        def risk(r):
            theta = _solve(A + r * B, rhs)
            return jnp.sum((theta - theta0) ** 2)

        return jax.vmap(risk)(rho)

    return over_replicates(one_draw, key, n_draws)


@old_spellings(positional=("key",), **_RENAMED)
def simulate_bagged_regression(*, key, num_samples, dim, bag_size, rho, num_replicates, sort_by_response=False,
                               signal=1.0, noise_var=1.0, allow_extrapolation=False, dtype=jnp.float32):
    r"""Excess risk :math:`\|\hat\theta_\rho - \theta_0\|^2` on fully simulated bagged data (noise included).

    Draws :math:`X \sim N(0, I)`, :math:`y = X\theta_0 + \varepsilon`, bags of ``bag_size`` consecutive rows
    after a random permutation, or after sorting by y (``sort_by_response=True``: bags that depend on the
    responses, outside the theory), and fits the closed-form estimator for each rho. Deprecated spellings as
    in :func:`conditional_bias_variance`.

    Args:
        key: PRNG key (keyword-only).
        num_samples: n, a multiple of ``bag_size``.
        dim: d.
        bag_size: k.
        rho: a scalar or 1-D array of interpolation weights (traced; vmapped).
        num_replicates: replicates.
        sort_by_response: bag by sorted response instead of at random.
        signal: :math:`\|\theta_0\|^2`.
        noise_var: :math:`\sigma^2`.
        allow_extrapolation: accept rho > 1.
        dtype: float dtype.

    Returns:
        Array (num_replicates, n_rho) of excess risks.

    References:
        Random vs response-dependent bags (the sorted-bag negative control): docs/aggregate.md#findings.
    """
    d, r, s, z, dtype = _check_common(key, dim, num_replicates, signal, noise_var, dtype)
    k = check_int("bag_size", bag_size, low=1)
    n, _, rho = _cases(check_int("num_samples", num_samples, low=1), k, rho, d, allow_extrapolation)
    return _full(key, jnp.asarray(rho, dtype), jnp.asarray(s, dtype), jnp.asarray(z, dtype), n=int(n[0]), dim=d,
                 k=k, n_draws=r, sort=jnp.asarray(bool(sort_by_response)), dtype=dtype)
