"""Noise generators (official semantics), baselines, and the noisy-label training simulator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.ldr import BASELINES, LOSSES, apply_noise, pairflip_noise, train_noisy, uniform_noise
from theory.ldr.simulate import _loss_switch

N = 10_000


def test_uniform_noise_flip_rate_and_pe_a7():
    # flip rate eta (K - 1)/K (a uniform redraw may return the true class), not eta (spec PE-A7)
    y = jnp.zeros(N, jnp.int32)
    flipped = float(jnp.mean(uniform_noise(jax.random.key(0), y, 0.6, 10) != y))
    sigma = np.sqrt(0.54 * 0.46 / N)
    assert abs(flipped - 0.54) < 4 * sigma
    assert abs(flipped - 0.60) > 4 * sigma
    assert bool(jnp.all(uniform_noise(jax.random.key(1), y, 0.0, 10) == y))


def test_pairflip_noise():
    y = jnp.arange(N) % 7
    z = pairflip_noise(jax.random.key(2), y, 0.3, 7)
    moved = z != y
    assert bool(jnp.all(z[moved] == (y[moved] + 1) % 7))
    assert abs(float(jnp.mean(moved)) - 0.3) < 4 * np.sqrt(0.21 / N)
    assert bool(jnp.all(pairflip_noise(jax.random.key(3), y, 0.0, 7) == y))
    both = apply_noise(jax.random.key(4), y, jnp.float32(0.3), jnp.int32(1), 7)
    assert bool(jnp.all((both == y) | (both == (y + 1) % 7)))


def test_baselines_values():
    f = jnp.array([[2.0, 1.0, 0.1]])
    y = jnp.array([0])
    s = jax.nn.softmax(f[0])
    assert float(BASELINES["ce"](f, y)[0]) == pytest.approx(float(-jnp.log(s[0])), rel=1e-6)
    assert float(BASELINES["mae"](f, y)[0]) == pytest.approx(float(1 - s[0]), rel=1e-6)
    assert float(BASELINES["mse"](f, y)[0]) == pytest.approx(float((1 - s[0]) ** 2 + s[1] ** 2 + s[2] ** 2), rel=1e-5)
    assert float(BASELINES["gce"](f, y, 0.7)[0]) == pytest.approx(float((1 - s[0] ** 0.7) / 0.7), rel=1e-5)
    assert float(BASELINES["cs"](f, jnp.array([1]), 1.0)[0]) == pytest.approx(2.0)
    assert float(BASELINES["ww"](f, jnp.array([1]), 1.0)[0]) == pytest.approx((2.0 + 0.1) / 3, rel=1e-6)
    sce = (1 - 0.5) * -np.log(float(s[0])) + 4 * 0.5 * (1 - float(s[0]))
    assert float(BASELINES["sce"](f, y, 0.5)[0]) == pytest.approx(sce, rel=1e-5)


def test_loss_switch_matches_each_loss():
    f = jax.random.normal(jax.random.key(5), (8, 5)) * 2
    y = jnp.arange(8) % 5
    names = ("ce", "ldr_v1", "gce")  # a subset: the switch compiles every branch it is given
    for i, n in enumerate(names):
        h = 10.0 if n in ("ldr_kl", "ldr_v1", "aldr_kl", "aldr_norm") else 0.5
        np.testing.assert_allclose(_loss_switch(names, jnp.int32(i), f, y, jnp.float32(h)), LOSSES[n](f, y, h),
                                   rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def tiny_run():
    kw = dict(etas=[0.0, 0.8], kinds=[0, 0], n_seeds=2, n_train=60, n_test=200, hidden=(), steps=30, K=4, dim=3)
    return kw, train_noisy(jax.random.key(0), losses=[("ce", 0.0), ("ldr_kl", 1.0)], **kw)


def test_train_noisy_shapes_pairing_and_determinism(tiny_run):
    kw, (acc, noisy) = tiny_run
    assert acc.shape == (2, 2, 2) and noisy.shape == (2, 2)
    assert np.all((np.asarray(acc) >= 0) & (np.asarray(acc) <= 1))
    assert np.all(np.asarray(noisy)[0] == 0) and np.all(np.asarray(noisy)[1] > 0.4)
    again = train_noisy(jax.random.key(0), losses=[("ldr_kl", 1.0), ("ce", 0.0)], **kw)[0]
    np.testing.assert_array_equal(again[0], acc[1])  # same data, noise and init whatever the order of the losses
    np.testing.assert_array_equal(again[1], acc[0])


def test_train_noisy_bad_inputs():
    kw = dict(etas=[0.1], kinds=[0])
    with pytest.raises(ValueError, match="loss"):
        train_noisy(jax.random.key(0), losses=[("hinge", 0.0)], **kw)
    with pytest.raises(ValueError, match="etas"):
        train_noisy(jax.random.key(0), losses=[("ce", 0.0)], etas=[1.5], kinds=[0])
    with pytest.raises(ValueError, match="kinds"):
        train_noisy(jax.random.key(0), losses=[("ce", 0.0)], etas=[0.1], kinds=[2])
    with pytest.raises(ValueError, match="one per setting"):
        train_noisy(jax.random.key(0), losses=[("ce", 0.0)], etas=[0.1, 0.2], kinds=[0])
    with pytest.raises(ValueError, match="n_seeds"):
        train_noisy(jax.random.key(0), losses=[("ce", 0.0)], n_seeds=0, **kw)
