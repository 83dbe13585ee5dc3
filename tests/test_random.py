"""theory._random: the draws of jax.random.normal / jax.random.uniform, bit for bit, from the unrolled threefry hash."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory import _random

SHAPES = [(), (1,), (0,), (7,), (3, 5), (2, 3, 4), (128, 3)]


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


@pytest.mark.parametrize("x64", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_normal_and_uniform_are_jax_random_bit_for_bit(shape, x64):
    with jax.enable_x64(x64):
        dtypes = (None, jnp.float32, jnp.float64) if x64 else (None, jnp.float32)

        def draws(module):  # every dtype of both draws, in one program: compiled once, called on every seed's key
            return lambda k: [(module.normal(k, shape, d), module.uniform(k, shape, d, -2.0, 3.0)) for d in dtypes]

        jitted = jax.jit(draws(jax.random)), jax.jit(draws(_random))
        for seed in (0, 1, 2**31 - 1):
            key = jax.random.key(seed)
            for d, ref, ours in zip(dtypes, jitted[0](key), jitted[1](key), strict=True):
                assert _same(ref[0], ours[0]) and _same(ref[1], ours[1]), (shape, d, seed)
                # eager: one compiled program per draw, as JAX's
                assert _same(jax.random.normal(key, shape, d), _random.normal(key, shape, d)), (shape, d, seed)
                assert _same(jax.random.uniform(key, shape, d, -2.0, 3.0), _random.uniform(key, shape, d, -2.0, 3.0))


def test_vmapped_keys_raw_keys_and_traced_bounds_give_jax_random_draws():
    keys = jax.random.split(jax.random.key(5), 7)
    assert _same(jax.vmap(lambda k: jax.random.normal(k, (3, 4)))(keys),
                 jax.vmap(lambda k: _random.normal(k, (3, 4)))(keys))
    raw = jax.random.PRNGKey(3)
    assert _same(jax.random.normal(raw, (5,)), _random.normal(raw, (5,)))
    low = jnp.linspace(-1.0, 0.0, 6)
    assert _same(jax.jit(lambda k, a: jax.random.uniform(k, (6,), jnp.float32, a, 1.0))(raw, low),
                 jax.jit(lambda k, a: _random.uniform(k, (6,), jnp.float32, a, 1.0))(raw, low))


def test_the_unrolled_hash_runs_instead_of_jax_random_bits_and_other_keys_fall_back():
    def uses_jax_bits(fn, key):
        return "random_bits" in str(jax.make_jaxpr(fn)(key))

    assert not uses_jax_bits(lambda k: _random.normal(k, (4,)), jax.random.key(0))
    assert not uses_jax_bits(jax.vmap(lambda k: _random.uniform(k, (4,))), jax.random.split(jax.random.key(0), 3))
    for key in (jax.random.key(0, impl="rbg"), jax.random.key(0, impl="unsafe_rbg")):  # another PRNG: JAX draws
        assert uses_jax_bits(lambda k: _random.normal(k, (4,)), key)
        assert _same(jax.random.normal(key, (4,)), _random.normal(key, (4,)))
    assert uses_jax_bits(lambda k: _random.normal(k, (4,), jnp.float16), jax.random.key(0))  # a dtype not covered
    assert _same(jax.random.normal(jax.random.key(0), (4,), jnp.float16),
                 _random.normal(jax.random.key(0), (4,), jnp.float16))


def test_threefry_matches_the_random123_known_answers():
    """Threefry-2x32, 20 rounds: the known-answer vectors of Salmon et al.'s Random123 (also JAX's tests)."""
    cases = [((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
             ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
             ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0))]
    for (k1, k2), (x1, x2), expected in cases:
        out = _random._threefry2x32(*(jnp.uint32(v) for v in (k1, k2, x1, x2)))
        assert tuple(int(o) for o in out) == expected
