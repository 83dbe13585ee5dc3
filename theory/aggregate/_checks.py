"""Argument checks shared by the aggregate modules: the interpolation weight, integer arrays, and the
deprecated spellings of renamed arguments.

Each check is eager on concrete values and lets a JAX tracer through unchanged (the caller then masks an
invalid traced value to NaN with :func:`theory._validation.nan_unless`, docs/glossary.md#input-policy).
"""

from __future__ import annotations

import functools
import inspect
import warnings

import numpy as np

from theory._validation import check_array, check_real, is_traced, renamed_argument


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
    """Decorator keeping deprecated spellings working, each with a ``DeprecationWarning``.

    Every ``old=new`` keyword is renamed (:func:`theory._validation.renamed_argument`). ``positional`` names,
    in order, the keyword-only parameters that used to be positional: extra positional arguments beyond the
    function's own positional parameters are passed as those keywords (a PRNG key passed first to a
    simulator, ``asymptotic_risk(gamma, bag_size, rho)``, ...).
    """

    def decorate(fn):
        params = inspect.signature(fn).parameters.values()
        n_pos = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for old, new in renames.items():
                if old in kwargs:
                    kwargs[new] = renamed_argument(old, new, kwargs.get(new), kwargs.pop(old), owner=fn.__qualname__)
            if len(args) > n_pos:
                extra = args[n_pos:]
                if len(extra) > len(positional):
                    raise TypeError(f"{fn.__qualname__}() takes {n_pos} positional argument(s); pass "
                                    f"{', '.join(positional) or 'the others'} by keyword")
                names = positional[: len(extra)]
                if any(name in kwargs for name in names):
                    raise TypeError(f"{fn.__qualname__}(): {', '.join(n for n in names if n in kwargs)} given twice")
                warnings.warn(f"{fn.__qualname__}: passing {', '.join(names)} positionally is deprecated; pass "
                              f"{', '.join(f'{n}=...' for n in names)}", DeprecationWarning, stacklevel=2)
                args, kwargs = args[:n_pos], {**kwargs, **dict(zip(names, extra, strict=True))}
            return fn(*args, **kwargs)

        return wrapper

    return decorate
