"""Argument handling shared by the closed forms and simulators of ``theory.icl`` (the input policy of
docs/glossary.md): concrete arguments are checked eagerly and raise, traced ones give validity masks that
turn the result into NaN when out of range."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import check_int, check_real, is_traced, nan_unless

__all__ = ["check_covariance", "check_square", "concrete", "count_arg", "positive_arg", "covariance_arg", "masked",
           "isotropic_args", "general_args"]


def concrete(value):
    """A concrete 0-d JAX array as a NumPy scalar (so the eager checks accept it); other values unchanged."""
    if isinstance(value, jax.Array) and not is_traced(value) and value.ndim == 0:
        return np.asarray(value)[()]
    return value


def count_arg(name, value):
    """``(value, valid)`` for an integer argument ``>= 1``: checked now if concrete, masked later if traced."""
    if is_traced(value):
        return value, value >= 1
    return check_int(name, concrete(value), low=1), True


def positive_arg(name, value, *, strict=False):
    """``(value, valid)`` for a real argument in ``[0, inf)`` (``(0, inf)`` when ``strict``)."""
    if is_traced(value):
        return value, (value > 0) if strict else (value >= 0)
    return check_real(name, concrete(value), low=0.0, low_open=strict), True


def masked(valid, value):
    """``value`` as computed when every argument was concrete (``valid`` is all ``True``), else NaN where any
    traced argument is out of range."""
    conds = [v for v in valid if v is not True]
    if not conds:
        return value
    ok = conds[0]
    for c in conds[1:]:
        ok = jnp.logical_and(ok, c)
    return nan_unless(ok, value)


def isotropic_args(num_samples, dim, noise_var):
    """Validated ``(n, d, s2, valid)`` of an isotropic closed form."""
    n, ok_n = count_arg("num_samples", num_samples)
    d, ok_d = count_arg("dim", dim)
    s2, ok_s = positive_arg("noise_var", noise_var)
    return n, d, s2, (ok_n, ok_d, ok_s)


def check_covariance(name: str, cov, d: int | None = None, *, rtol: float = 1e-10) -> np.ndarray:
    """Return ``cov`` as a float64 array after checking it is a symmetric positive-definite matrix.

    Raises ``ValueError`` naming ``name`` when it is not square (``d x d`` if ``d`` is given), not
    finite, not symmetric within ``rtol`` (relative to its largest entry) or not positive definite.
    """
    c = np.asarray(cov, dtype=np.float64)
    check_square(name, c.shape, d)
    if np.any(np.isnan(c)):
        raise ValueError(f"{name} must not contain NaN (a symmetric positive-definite matrix)")
    if not np.all(np.isfinite(c)):
        raise ValueError(f"{name} must be finite (a symmetric positive-definite matrix)")
    scale = max(float(np.max(np.abs(c))), np.finfo(np.float64).tiny)
    if np.max(np.abs(c - c.T)) > rtol * scale:
        raise ValueError(f"{name} must be symmetric (within relative {rtol:g})")
    try:
        np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} must be positive definite (its Cholesky factorisation failed)") from None
    return 0.5 * (c + c.T)


def check_square(name, shape, d):
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
        raise ValueError(f"{name} must be a square (d, d) matrix with d >= 1, got shape {tuple(shape)}")
    if d is not None and shape[0] != d:
        raise ValueError(f"{name} must have shape ({d}, {d}) to match the other arguments, got {tuple(shape)}")


def covariance_arg(name, cov, d=None):
    """``(cov, valid)``: checked now if concrete; if traced, shape checked now and symmetry, finiteness and
    positive definiteness masked (a failed Cholesky factorisation is NaN in JAX)."""
    if not is_traced(cov):
        return check_covariance(name, cov, d), True
    check_square(name, cov.shape, d)
    tol = (1e-10 if cov.dtype == jnp.float64 else 1e-5) * jnp.maximum(jnp.max(jnp.abs(cov)), 1e-30)
    ok = jnp.all(jnp.abs(cov - cov.T) <= tol) & jnp.all(jnp.isfinite(jnp.linalg.cholesky(cov)))
    return 0.5 * (cov + cov.T), ok


def general_args(num_samples, cov_x, cov_w, noise_var):
    """Validated ``(xp, n, sx, sw, s2, valid)``: NumPy float64 when every argument is concrete, else jax.numpy."""
    n, ok_n = count_arg("num_samples", num_samples)
    sx, ok_x = covariance_arg("cov_x", cov_x)
    sw, ok_w = covariance_arg("cov_w", cov_w, sx.shape[0])
    s2, ok_s = positive_arg("noise_var", noise_var)
    valid = (ok_n, ok_x, ok_w, ok_s)
    xp = np if all(v is True for v in valid) else jnp
    return xp, n, sx, sw, s2, valid
