"""Argument handling shared by the closed forms and simulators of ``theory.icl`` (the input policy of
docs/glossary.md): concrete arguments are checked eagerly and raise, traced ones give validity masks that
turn the result into NaN when out of range."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import check_int, check_real, is_traced, nan_unless

__all__ = ["as_array", "check_covariance", "check_square", "concrete", "count_arg", "positive_arg", "covariance_arg",
           "masked", "checked", "traced_valid", "compiled", "isotropic_args", "general_args"]


def as_array(x):
    """``x`` as an array for the shape checks: a NumPy or JAX array (a tracer included) as it is (the jitted cores
    convert it as ``jnp.asarray`` would, without an eager JAX operation), anything else through ``jnp.asarray``."""
    return x if isinstance(x, jax.Array | np.ndarray) else jnp.asarray(x)


def concrete(value):
    """A concrete 0-d JAX array as a NumPy scalar (so the eager checks accept it); other values unchanged."""
    if isinstance(value, jax.Array) and not is_traced(value) and value.ndim == 0:
        return np.asarray(value)[()]
    return value


def checked(kind, name, value, d=None):
    """The eager half of the input policy: a concrete ``value`` checked now (raising naming ``name``) and returned
    as a Python number (a float64 array for a covariance); a traced one returned as is (only a covariance's shape
    is checked now), its range is masked by :func:`traced_valid`.

    ``kind`` is ``"count"`` (an integer ``>= 1``), ``"positive"`` (a real in ``[0, inf)``), ``"strict"`` (in
    ``(0, inf)``) or ``"covariance"`` (SPD ``(d, d)``, ``d`` given or not)."""
    if kind == "covariance":
        if not is_traced(value):
            return check_covariance(name, value, d)
        check_square(name, value.shape, d)
        return value
    if is_traced(value):
        return value
    if kind == "count":
        return check_int(name, concrete(value), low=1)
    return check_real(name, concrete(value), low=0.0, low_open=kind == "strict")


def _covariance_valid(cov):
    tol = (1e-10 if cov.dtype == jnp.float64 else 1e-5) * jnp.maximum(jnp.max(jnp.abs(cov)), 1e-30)
    ok = jnp.all(jnp.abs(cov - cov.T) <= tol) & jnp.all(jnp.isfinite(jnp.linalg.cholesky(cov)))
    return 0.5 * (cov + cov.T), ok


def traced_valid(kind, value):
    """``(value, valid)`` of a traced argument: the in-graph half of the input policy (``kind`` as in
    :func:`checked`, plus ``"finite"``, elementwise, and ``"all_finite"``); an out-of-range value gives NaN through
    :func:`masked`. A covariance comes back symmetrised; a failed Cholesky factorisation is NaN in JAX."""
    if kind == "covariance":
        return _covariance_valid(value)
    if kind == "count":
        return value, value >= 1
    if kind == "positive":
        return value, value >= 0
    if kind == "strict":
        return value, value > 0
    if kind == "finite":
        return value, jnp.isfinite(value)
    if kind == "all_finite":
        return value, jnp.all(jnp.isfinite(value))
    raise ValueError(f"unknown argument kind {kind!r}")


def count_arg(name, value):
    """``(value, valid)`` for an integer argument ``>= 1``: checked now if concrete, masked later if traced."""
    value = checked("count", name, value)
    return traced_valid("count", value) if is_traced(value) else (value, True)


def positive_arg(name, value, *, strict=False):
    """``(value, valid)`` for a real argument in ``[0, inf)`` (``(0, inf)`` when ``strict``)."""
    kind = "strict" if strict else "positive"
    value = checked(kind, name, value)
    return traced_valid(kind, value) if is_traced(value) else (value, True)


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


# Jitted: under vmap or grad without jit, one compiled program per formula and shapes instead of one per jnp operation.
@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _compiled(formula, kinds, static, args):
    values, valid = [], []
    for kind, a in zip(kinds, args, strict=True):
        if kind is not None:
            a, ok = traced_valid(kind, a)
            valid.append(ok)
        values.append(a)
    return jax.tree.map(lambda v: masked(valid, v), formula(*values, **dict(static)))


def compiled(formula, kinds, *args, **static):
    """``formula(*args, **static)`` with the validity masks of its traced arguments, as one compiled program.

    ``formula`` is a module-level function, ``kinds[i]`` the :func:`traced_valid` kind of ``args[i]`` (``None``: no
    check), applied only when ``args[i]`` is traced (a concrete argument was checked by :func:`checked`);
    ``static`` are hashable keyword arguments. Concrete Python ints travel as floats (no int32 overflow)."""
    kinds = tuple(k if is_traced(a) else None for k, a in zip(kinds, args, strict=True))
    args = tuple(float(a) if type(a) is int else a for a in args)
    return _compiled(formula, kinds, tuple(sorted(static.items())), args)


def isotropic_args(num_samples, dim, noise_var):
    """Validated ``(n, d, s2)`` of an isotropic closed form: concrete values checked, traced ones as they are."""
    n, d = checked("count", "num_samples", num_samples), checked("count", "dim", dim)
    return n, d, checked("positive", "noise_var", noise_var)


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
    cov = checked("covariance", name, cov, d)
    return traced_valid("covariance", cov) if is_traced(cov) else (cov, True)


def general_args(num_samples, cov_x, cov_w, noise_var):
    """Validated ``(n, sx, sw, s2)``: concrete values checked (covariances as symmetrised float64 arrays), traced ones
    as they are (shapes checked)."""
    n = checked("count", "num_samples", num_samples)
    sx = checked("covariance", "cov_x", cov_x)
    sw = checked("covariance", "cov_w", cov_w, sx.shape[0])
    return n, sx, sw, checked("positive", "noise_var", noise_var)
