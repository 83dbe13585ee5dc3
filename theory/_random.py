"""Randomness shared by every topic: JAX keys in, NumPy generators out where NumPy/SciPy does the work.

Every public function that draws takes a keyword-only ``key`` (a JAX PRNG key). Functions that run in
NumPy (exact enumerations, cvxpy problems, root-finders) derive their generator from that key with
:func:`numpy_rng`, so a whole run is reproducible from one seed.
"""

from __future__ import annotations

import functools
import math
import numbers

import jax
import numpy as np

__all__ = ["check_key", "numpy_rng", "as_key", "normal", "uniform"]


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


# ------------------------------------------------------------------------------------------------------------------
# jax.random.normal / jax.random.uniform, bit for bit, with the threefry rounds unrolled

#: The rotation constants of Threefry-2x32 (Salmon et al. 2011, Table 4), alternating every four rounds.
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
#: The key-schedule parity constant of Threefry (Salmon et al. 2011).
_PARITY = np.uint32(0x1BD11BDA)


def _threefry2x32(k1, k2, x1, x2):
    """The Threefry-2x32 hash of the counter pair ``(x1, x2)`` under the key ``(k1, k2)``: 20 rounds, a key
    injection every 4, written as straight-line ``uint32`` operations (no loop)."""
    from jax import lax

    ks = (k1, k2, k1 ^ k2 ^ _PARITY)
    x1, x2 = x1 + ks[0], x2 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x1 = x1 + x2
            x2 = x1 ^ (lax.shift_left(x2, np.uint32(r)) | lax.shift_right_logical(x2, np.uint32(32 - r)))
        x1, x2 = x1 + ks[(i + 1) % 3], x2 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x1, x2


def _bits(key_data, shape, nbits):
    """JAX's random bits of a threefry key in its partitionable mode: the hash of the element's row-major index
    (high word 0 below 2**32 elements), the two output words xor-ed (32 bits) or concatenated (64 bits)."""
    import jax.numpy as jnp
    from jax import lax

    lo = lax.iota(jnp.uint32, math.prod(shape)).reshape(shape)
    b1, b2 = _threefry2x32(key_data[0], key_data[1], jnp.zeros(shape, jnp.uint32), lo)
    bits = b1 ^ b2 if nbits == 32 else lax.shift_left(b1.astype(jnp.uint64), jnp.uint64(32)) | b2.astype(jnp.uint64)
    # stored once, as JAX's loop stores them: the float operations after them then fuse with their consumers as
    # JAX's do (and round as JAX's do), and no consumer fusion recomputes the rounds
    return lax.optimization_barrier(bits)


@functools.partial(jax.jit, static_argnums=(1, 2), inline=True)
def _uniform_threefry(key_data, shape, dtype, minval, maxval):
    """``jax.random.uniform``'s float construction on :func:`_bits`: random mantissa bits under the exponent of
    1.0, minus 1, scaled to ``[minval, maxval)`` (the same operations, so the same rounding)."""
    import jax.numpy as jnp
    from jax import lax

    finfo = jnp.finfo(dtype)
    uint = jnp.uint32 if finfo.bits == 32 else jnp.uint64
    minval = lax.broadcast_to_rank(lax.convert_element_type(minval, dtype), len(shape))
    maxval = lax.broadcast_to_rank(lax.convert_element_type(maxval, dtype), len(shape))
    bits = lax.shift_right_logical(_bits(key_data, shape, finfo.bits), uint(finfo.bits - finfo.nmant))
    floats = lax.bitcast_convert_type(bits | np.array(1.0, dtype).view(uint), dtype) - jnp.array(1.0, dtype)
    return lax.max(minval, lax.reshape(floats * (maxval - minval) + minval, shape))


@functools.partial(jax.jit, static_argnums=(1, 2), inline=True)
def _normal_threefry(key_data, shape, dtype):
    r"""``jax.random.normal``'s construction: :math:`\sqrt2\,\mathrm{erf}^{-1}(u)`, u uniform on
    ``[nextafter(-1, 0), 1)``."""
    from jax import lax

    low = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype), dtype=dtype)
    u = _uniform_threefry(key_data, shape, dtype, low, np.array(1.0, dtype))
    return lax.mul(np.array(np.sqrt(2), dtype), lax.erf_inv(u))


def _threefry_data(key, shape, dtype):
    """``(uint32[2] data of key, shape as a tuple of ints)`` when :func:`normal` and :func:`uniform` can make JAX's
    numbers themselves, else None: a scalar threefry key (typed, or raw under the default implementation), JAX's
    partitionable threefry mode (its default), a concrete shape of fewer than 2**32 elements, and float32 or float64
    exactly as requested (JAX would canonicalise any other request, with its warning)."""
    if not jax.config.jax_threefry_partitionable:
        return None
    try:
        shape = tuple(int(s) for s in shape)
        wanted = np.dtype(dtype)
    except TypeError:
        return None
    if wanted not in (np.float32, np.float64) or jax.dtypes.canonicalize_dtype(wanted) != wanted:
        return None
    if math.prod(shape) >= 2**32 or not isinstance(key, jax.Array):
        return None
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.ndim != 0 or str(jax.random.key_impl(key)) != "threefry2x32":
            return None
        return jax.random.key_data(key), shape
    if key.dtype == np.uint32 and key.shape == (2,) and jax.config.jax_default_prng_impl == "threefry2x32":
        return key, shape
    return None


def _default_float():
    return jax.dtypes.canonicalize_dtype(np.float64)


def uniform(key, shape=(), dtype=None, minval=0.0, maxval=1.0):
    r"""``jax.random.uniform(key, shape, dtype, minval, maxval)``: the same numbers, bit for bit, in less time on a
    CPU.

    JAX's CPU lowering of the threefry hash runs its 20 rounds as a rolled loop (to compile faster); here they are
    straight-line integer operations. On XLA's CPU backend the normal draws of a (4096, 1000) array were 3.3x
    faster, those of a 2000-step training loop 5.4x (``benchmarks/random_bench.py``), and an ICL training run a
    third faster, with the same values (``tests/test_random.py``). Any key, dtype or setting other than those of
    :func:`_threefry_data` (another PRNG implementation, ``jax_threefry_partitionable`` off, a float16 request)
    is passed to ``jax.random.uniform`` itself.

    References:
        J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, *Parallel random numbers: as easy as 1, 2, 3*, SC 2011
        (Threefry); the JAX documentation, "jax.random" (the partitionable threefry mode).
    """
    dtype = _default_float() if dtype is None else dtype
    fast = _threefry_data(key, shape, dtype)
    if fast is None:
        return jax.random.uniform(key, shape, dtype, minval, maxval)
    return _uniform_threefry(*fast, np.dtype(dtype), minval, maxval)


def normal(key, shape=(), dtype=None):
    r"""``jax.random.normal(key, shape, dtype)``: the same numbers, bit for bit, in less time on a CPU (see
    :func:`uniform`).

    .. math:: z = \sqrt2\,\mathrm{erf}^{-1}(u), \qquad u \sim \mathrm{U}[\mathrm{nextafter}(-1, 0), 1).

    References:
        Salmon et al., SC 2011 (Threefry); the JAX documentation, "jax.random.normal".
    """
    dtype = _default_float() if dtype is None else dtype
    fast = _threefry_data(key, shape, dtype)
    if fast is None:
        return jax.random.normal(key, shape, dtype)
    return _normal_threefry(*fast, np.dtype(dtype))
