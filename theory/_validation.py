"""Argument checks shared by every topic.

Each check runs on concrete (non-traced) values before any JAX tracing, and raises a
``ValueError`` or ``TypeError`` that names the parameter and the allowed range.
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "check_logits_labels",
    "is_traced",
    "check_real",
    "check_int",
    "check_simplex",
    "check_choice",
    "check_array",
    "check_dtype",
    "nan_unless",
    "renamed_argument",
    "check_loss_inputs",
]


def is_traced(x) -> bool:
    """True when ``x`` is a JAX tracer (its value is unknown until run time)."""
    return isinstance(x, jax.core.Tracer)


def _interval(low, high, low_open, high_open) -> str:
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    a = "-inf" if low is None else f"{low:g}"
    b = "inf" if high is None else f"{high:g}"
    return f"{lo}{a}, {b}{hi}"


def check_real(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """Return ``value`` as a Python float after checking it lies in the stated interval."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | np.ndarray | np.generic | jax.Array):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    arr = np.asarray(value)
    if arr.ndim != 0:
        raise TypeError(f"{name} must be a scalar, got an array of shape {arr.shape}")
    v = float(arr)
    open_ends = not allow_inf  # without infinities the interval's infinite ends are open
    rng = _interval(low, high, low_open or (low is None and open_ends), high_open or (high is None and open_ends))
    if math.isnan(v):
        raise ValueError(f"{name} must be a number in {rng}, got nan")
    if math.isinf(v) and not allow_inf:
        finite = _interval(low, high, low_open or low is None, high_open or high is None)
        raise ValueError(f"{name} must be a finite number in {finite}, got {v}")
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name} must lie in {rng}, got {v}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"{name} must lie in {rng}, got {v}")
    return v


def check_int(name: str, value, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as a Python int after checking ``low <= value <= high``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral | np.integer):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {v}")
    return v


def check_simplex(name: str, p, *, atol: float = 1e-9, ndim: int | None = None) -> np.ndarray:
    """Return ``p`` as float64 after checking each row is a probability vector.

    Rows must have non-negative finite entries summing to one within ``atol``.
    """
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim == 0:
        raise ValueError(f"{name} must be a probability vector, got a scalar")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if arr.shape[-1] < 1:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    if np.any(arr < 0):
        raise ValueError(f"{name} must have non-negative entries (a probability vector)")
    err = np.max(np.abs(arr.sum(axis=-1) - 1.0))
    if err > atol:
        raise ValueError(f"{name} must sum to 1 along its last axis (within {atol:g}); off by {err:.3g}")
    return arr


def check_choice(name: str, value, allowed) -> object:
    """Check ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(map(str, allowed))}, got {value!r}")
    return value


def check_logits_labels(logits, labels, *, require_finite: bool = True):
    """Validate ``logits [..., K]`` (floating, ``K >= 2``) and integer ``labels [...]`` in ``{0, ..., K-1}``.

    Concrete values are checked (labels in range; logits finite when ``require_finite``); traced ones
    pass through. Returns ``(logits, labels)`` as JAX arrays.
    """
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(logits.dtype, jnp.floating):
        raise TypeError(f"logits must have a floating dtype, got {logits.dtype}")
    if logits.ndim < 1 or logits.shape[-1] < 2:
        raise ValueError(f"logits must have shape [..., K] with K >= 2 classes, got {logits.shape}")
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels must be integers, got {labels.dtype}")
    if labels.shape != logits.shape[:-1]:
        raise ValueError(f"labels must have shape {logits.shape[:-1]} (logits.shape[:-1]), got {labels.shape}")
    K = logits.shape[-1]
    if not is_traced(labels):
        concrete = np.asarray(labels)
        if concrete.size and (concrete.min() < 0 or concrete.max() >= K):
            raise ValueError(f"labels must lie in {{0, ..., {K - 1}}} (K = {K} classes)")
    if require_finite and not is_traced(logits) and not np.all(np.isfinite(np.asarray(logits))):
        raise ValueError("logits must be finite (got inf or NaN)")
    return logits, labels


def check_array(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
    ndim: int | None = None,
) -> np.ndarray:
    """Return a concrete ``value`` as float64 after checking every entry: never NaN, infinite only with
    ``allow_inf``, and inside the stated interval.

    This is the eager half of the input policy (docs/glossary.md, "Input policy"): NaN raises, and
    ``+-inf`` passes only where the mathematics is defined. Traced values cannot be checked; use
    :func:`nan_unless` on them.
    """
    arr = np.asarray(value)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be a real array, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    arr = arr.astype(np.float64)
    rng = _interval(low, high, low_open, high_open)
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name} must not contain NaN (entries in {rng})")
    if not allow_inf and np.any(np.isinf(arr)):
        finite = _interval(low, high, low_open or low is None, high_open or high is None)
        raise ValueError(f"{name} must be finite, in {finite}")
    if low is not None and np.any((arr < low) | (low_open & (arr == low))):
        raise ValueError(f"{name} must lie in {rng}, got a minimum of {arr.min():g}")
    if high is not None and np.any((arr > high) | (high_open & (arr == high))):
        raise ValueError(f"{name} must lie in {rng}, got a maximum of {arr.max():g}")
    return arr


def check_dtype(dtype, name: str = "dtype"):
    """A floating JAX dtype (``float32`` by default for simulators, ``float64`` under ``jax.enable_x64``)."""
    try:
        dt = jnp.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name} must be a floating dtype, got {dtype!r}") from exc
    if not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(f"{name} must be a floating dtype, got {dt}")
    return dt


def as_jit_input(x):
    """``x`` to hand a jitted core: a float NumPy array as it is (the jit converts it as ``jnp.asarray`` would, without
    an eager compiled transfer of its own per shape), anything else through ``jnp.asarray``."""
    return x if isinstance(x, np.ndarray) and x.dtype in (np.float32, np.float64) else jnp.asarray(x)


def nan_unless(valid, value):
    """``value`` where ``valid`` holds, NaN elsewhere: the traced half of the input policy.

    Under ``jit`` a hyperparameter's value is unknown at trace time, so it cannot raise; an invalid one
    must then give NaN, never a finite wrong number. Concrete inputs are checked eagerly before this.
    """
    value = jnp.asarray(value)
    dtype = value.dtype if jnp.issubdtype(value.dtype, jnp.floating) else jnp.result_type(float)
    return jnp.where(valid, value.astype(dtype), jnp.asarray(jnp.nan, dtype))


def renamed_argument(old: str, new: str, value, given, *, owner: str):
    """Resolve a renamed keyword: returns ``given`` (the value under the old name) with a
    ``DeprecationWarning`` when only the old name was passed, else ``value``.

    ``None`` means "not passed" for both names.
    """
    import warnings

    if given is None:
        return value
    if value is not None:
        raise TypeError(f"{owner}: pass {new!r} only ({old!r} is its deprecated name)")
    warnings.warn(f"{owner}: {old!r} is deprecated; use {new!r}", DeprecationWarning, stacklevel=3)
    return given


def check_loss_inputs(logits, labels):
    """Validate ``logits [..., K]`` (floating, ``K >= 2``) and ``labels [...]`` under the input policy
    (docs/glossary.md#input-policy).

    Concrete NaN logits raise; an infinite logit passes only as ``-inf`` on a non-target class (a masked
    class). Traced values pass through (see :func:`theory._validation.nan_unless`). Returns
    ``(logits, labels)`` as JAX arrays.
    """
    logits, labels = check_logits_labels(logits, labels, require_finite=False)
    if is_traced(logits):
        return logits, labels
    arr = np.asarray(logits)
    if np.isnan(arr).any():
        raise ValueError("logits must not contain NaN")
    if np.isinf(arr).any():
        if np.any(arr == np.inf):
            raise ValueError("logits must be finite or -inf (a masked class); got +inf")
        if not is_traced(labels):
            target = np.take_along_axis(arr, np.asarray(labels)[..., None], axis=-1)
            if np.any(target == -np.inf):
                raise ValueError("logits may be -inf only on a non-target class (a masked class); got a -inf "
                                 "logit on the label")
    return logits, labels
