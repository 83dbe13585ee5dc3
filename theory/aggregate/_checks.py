"""Argument checks shared by the aggregate modules: the interpolation weight, integer arrays, and the
deprecated spellings of renamed arguments.

Each check is eager on concrete values and lets a JAX tracer through unchanged (the caller then masks an
invalid traced value to NaN with :func:`theory._validation.nan_unless`, docs/glossary.md#input-policy).
"""

from __future__ import annotations

import jax
import numpy as np

from theory._compat import keyword_only
from theory._validation import check_array, check_real, is_traced


def check_rho(rho, allow_extrapolation: bool):
    """``rho`` as a float in [0, 1], or in [0, inf) when ``allow_extrapolation``; a clear error otherwise.

    A traced ``rho`` is returned unchanged (see :func:`rho_valid`).
    """
    if is_traced(rho):
        return rho
    value = check_real("rho", rho, low=0.0)
    if value > 1.0 and not allow_extrapolation:
        raise ValueError(f"rho must lie in [0, 1], got {value}; pass allow_extrapolation=True for rho > 1")
    return value


def rho_valid(xp, rho, allow_extrapolation: bool):
    """The elementwise validity of ``rho`` (for traced values): finite, >= 0, and <= 1 unless extrapolating."""
    ok = xp.isfinite(rho) & (rho >= 0.0)
    return ok if allow_extrapolation else ok & (rho <= 1.0)


def integer_array(x) -> bool:
    """Whether ``x`` is an integer (NumPy or JAX) array, which a jitted core takes as it is (other bag ids keep the
    eager path and its errors)."""
    return isinstance(x, np.ndarray | jax.Array) and x.dtype.kind in "iu"


def real(name, value, **bounds):
    """A concrete real scalar/array checked by :func:`theory._validation.check_array` (NaN raises); a tracer as is."""
    return value if is_traced(value) else check_array(name, value, **bounds)


def integer(name, value, *, low: int = 1):
    """A concrete integer scalar/array ``>= low`` as int64 (integral floats accepted); a tracer as is."""
    if is_traced(value):
        return value
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got bool")
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be an integer (or integer array), got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if np.any(np.isnan(arr)):
            raise ValueError(f"{name} must be an integer >= {low}, got nan")
        if not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise TypeError(f"{name} must be an integer (or integer array), got {value!r}")
    arr = arr.astype(np.int64)
    if np.any(arr < low):
        raise ValueError(f"{name} must be an integer >= {low}, got {arr.min()}")
    return arr


def old_spellings(*, positional: tuple[str, ...] = (), **renames: str):
    """Keep deprecated spellings working with a ``DeprecationWarning``: ``old=new`` keywords are renamed and
    extra positional arguments are passed as the keyword-only ``positional`` (:func:`theory._compat.keyword_only`)."""
    return keyword_only(*positional, renamed=renames)
