"""Randomness shared by every topic: JAX keys in, NumPy generators out where NumPy/SciPy does the work.

Every public function that draws takes a keyword-only ``key`` (a JAX PRNG key). Functions that run in
NumPy (exact enumerations, cvxpy problems, root-finders) derive their generator from that key with
:func:`numpy_rng`, so a whole run is reproducible from one seed.
"""

from __future__ import annotations

import numbers

import jax
import numpy as np

__all__ = ["check_key", "numpy_rng", "as_key"]


def check_key(key, name: str = "key") -> jax.Array:
    """``key`` as a JAX PRNG key (typed ``jax.random.key`` or raw ``uint32[2]`` from ``PRNGKey``)."""
    if isinstance(key, jax.Array):
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            return key
        if key.dtype == np.uint32 and key.shape[-1:] == (2,):
            return key
    raise TypeError(
        f"{name} must be a JAX PRNG key (jax.random.key(seed)), got {type(key).__name__}"
        + (f" of dtype {key.dtype}" if hasattr(key, "dtype") else "")
    )


def as_key(key_or_seed, name: str = "key") -> jax.Array:
    """A JAX key from a key or a non-negative int seed (for scripts; library functions take keys)."""
    if isinstance(key_or_seed, numbers.Integral) and not isinstance(key_or_seed, bool):
        if key_or_seed < 0:
            raise ValueError(f"{name} as a seed must be a non-negative integer, got {key_or_seed}")
        return jax.random.key(int(key_or_seed))
    return check_key(key_or_seed, name)


def numpy_rng(key) -> np.random.Generator:
    """A NumPy generator seeded from a JAX key, for measurements done in NumPy/SciPy.

    Accepts a ``numpy.random.Generator`` unchanged (so NumPy-level helpers can be chained).
    """
    if isinstance(key, np.random.Generator):
        return key
    key = check_key(key)
    data = jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    return np.random.default_rng(np.asarray(data).astype(np.uint64))
