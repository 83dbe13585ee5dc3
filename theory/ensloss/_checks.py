"""Input checks shared by the ``ensloss`` modules: eager on concrete values, NaN masks on traced ones.

Concrete inputs are validated before any tracing and raise ``ValueError``/``TypeError`` naming the parameter
and its allowed range; traced inputs cannot be checked, so the functions return NaN where they are invalid
(docs/glossary.md, "Input policy").
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import check_array, check_real, is_traced, nan_unless

__all__ = ["hyper", "real_array", "concrete", "as_float64_or_traced"]


def concrete(*xs) -> bool:
    """True when no leaf of ``xs`` is a tracer."""
    return not any(is_traced(x) for x in jax.tree_util.tree_leaves(xs))


def hyper(name, value, **interval):
    """``(value, ok)``: a concrete scalar checked by ``check_real(**interval)`` (``ok`` is True), or a traced one
    with the boolean mask of the same interval (NaN fails every comparison)."""
    if not is_traced(value):
        return check_real(name, value, **interval), True
    low, high = interval.get("low"), interval.get("high")
    ok = ~jnp.isnan(value) if interval.get("allow_inf") else jnp.isfinite(value)
    if low is not None:
        ok &= (value > low) if interval.get("low_open") else (value >= low)
    if high is not None:
        ok &= (value < high) if interval.get("high_open") else (value <= high)
    return value, ok


def real_array(name, value, **interval):
    """A concrete real array checked by ``check_array(**interval)`` and returned with its own floating dtype (a
    traced one unchanged)."""
    if is_traced(value):
        return value
    arr = np.asarray(value)
    check_array(name, arr, **interval)
    return arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float64)


def as_float64_or_traced(fn, args, ok):
    """``fn(*args)`` in float64 on concrete arguments (a Python float or a NumPy float64 array), else in the
    traced dtype with NaN where ``ok`` fails."""
    if concrete(args, ok):
        with jax.enable_x64(True):
            out = np.asarray(_jitted(fn)(*(np.asarray(a, np.float64) for a in args)), np.float64)
        return float(out) if out.ndim == 0 else out
    return nan_unless(ok, fn(*(jnp.asarray(a) for a in args)))


@functools.lru_cache(maxsize=64)
def _jitted(fn):
    """``jax.jit(fn)``, cached: an eager call compiles the formula once per shape, not each primitive."""
    return jax.jit(fn)
