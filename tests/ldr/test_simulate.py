"""Noise generators (the authors' semantics), baselines, and the noisy-label training simulator; the keyword-only
``key`` and ``num_classes`` (the old positional key and ``K`` still work, with a DeprecationWarning)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.ldr import BASELINES, LOSSES, apply_noise, make_mixture, pairflip_noise, train_noisy, uniform_noise
from theory.ldr.simulate import _loss_switch

N = 10_000


def test_uniform_noise_flips_eta_times_k_minus_1_over_k_of_the_labels():
    # a uniform redraw may return the true class: the flip rate is eta (K - 1)/K, not eta
    y = jnp.zeros(N, jnp.int32)
    flipped = float(jnp.mean(uniform_noise(y, eta=0.6, num_classes=10, key=jax.random.key(0)) != y))
    sigma = np.sqrt(0.54 * 0.46 / N)
    assert abs(flipped - 0.54) < 4 * sigma
    assert abs(flipped - 0.60) > 4 * sigma
    assert bool(jnp.all(uniform_noise(y, eta=0.0, num_classes=10, key=jax.random.key(1)) == y))


def test_pairflip_noise_moves_labels_to_the_next_class_at_rate_eta():
    y = jnp.arange(N) % 7
    z = pairflip_noise(y, eta=0.3, num_classes=7, key=jax.random.key(2))
    moved = z != y
    assert bool(jnp.all(z[moved] == (y[moved] + 1) % 7))
    assert abs(float(jnp.mean(moved)) - 0.3) < 4 * np.sqrt(0.21 / N)
    assert bool(jnp.all(pairflip_noise(y, eta=0.0, num_classes=7, key=jax.random.key(3)) == y))
    both = apply_noise(y, eta=jnp.float32(0.3), kind=jnp.int32(1), num_classes=7, key=jax.random.key(4))
    assert bool(jnp.all((both == y) | (both == (y + 1) % 7)))


def test_old_key_first_calls_warn_and_give_the_same_draws():
    y = jnp.arange(100) % 5
    new = uniform_noise(y, eta=0.5, num_classes=5, key=jax.random.key(7))
    with pytest.warns(DeprecationWarning, match="uniform_noise"):
        old = uniform_noise(jax.random.key(7), y, 0.5, 5)
    np.testing.assert_array_equal(old, new)
    with pytest.warns(DeprecationWarning, match="'K' is deprecated"):
        np.testing.assert_array_equal(pairflip_noise(y, eta=0.5, K=5, key=jax.random.key(7)),
                                      pairflip_noise(y, eta=0.5, num_classes=5, key=jax.random.key(7)))
    with pytest.warns(DeprecationWarning, match="apply_noise"):
        old = apply_noise(jax.random.key(8), y, 0.5, 1, 5)
    np.testing.assert_array_equal(old, apply_noise(y, eta=0.5, kind=1, num_classes=5, key=jax.random.key(8)))
    means = jnp.eye(3)
    with pytest.warns(DeprecationWarning, match="make_mixture"):
        x_old, y_old = make_mixture(jax.random.key(9), means, 20, scale=0.5)
    x_new, y_new = make_mixture(means, num_samples=20, scale=0.5, key=jax.random.key(9))
    np.testing.assert_array_equal(x_old, x_new)
    np.testing.assert_array_equal(y_old, y_new)
    with pytest.raises(TypeError, match="key"):
        uniform_noise(y, eta=0.5, num_classes=5)  # key is required, keyword-only


def test_make_mixture_draws_uniform_labels_around_the_class_means():
    means = 10.0 * jnp.eye(4)
    x, y = make_mixture(means, num_samples=4000, scale=1.0, key=jax.random.key(0))
    assert x.shape == (4000, 4) and y.shape == (4000,)
    np.testing.assert_allclose(np.bincount(np.asarray(y), minlength=4) / 4000, 0.25, atol=0.03)
    np.testing.assert_allclose(np.asarray(x - means[y]).std(), 1.0, atol=0.03)
    with pytest.raises(ValueError, match="num_samples"):
        make_mixture(means, num_samples=0, key=jax.random.key(0))
    with pytest.raises(ValueError, match="scale"):
        make_mixture(means, num_samples=5, scale=0.0, key=jax.random.key(0))


def test_baselines_match_their_formulas():
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


def test_traced_loss_switch_matches_each_loss():
    f = jax.random.normal(jax.random.key(5), (8, 5)) * 2
    y = jnp.arange(8) % 5
    names = ("ce", "ldr_v1", "gce")  # a subset: the switch compiles every branch it is given
    for i, n in enumerate(names):
        h = 10.0 if n in ("ldr_kl", "ldr_v1", "aldr_kl", "aldr_norm") else 0.5
        np.testing.assert_allclose(_loss_switch(names, jnp.int32(i), f, y, jnp.float32(h)), LOSSES[n](f, y, h),
                                   rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def tiny_run():
    kw = dict(etas=[0.0, 0.8], kinds=[0, 0], n_seeds=2, n_train=60, n_test=200, hidden=(), steps=30, num_classes=4,
              dim=3)
    return kw, train_noisy(key=jax.random.key(0), losses=[("ce", 0.0), ("ldr_kl", 1.0)], **kw)


def test_train_noisy_shapes_pairing_and_determinism(tiny_run):
    kw, (acc, noisy) = tiny_run
    assert acc.shape == (2, 2, 2) and noisy.shape == (2, 2)
    assert np.all((np.asarray(acc) >= 0) & (np.asarray(acc) <= 1))
    assert np.all(np.asarray(noisy)[0] == 0) and np.all(np.asarray(noisy)[1] > 0.4)
    again = train_noisy(key=jax.random.key(0), losses=[("ldr_kl", 1.0), ("ce", 0.0)], **kw)[0]
    np.testing.assert_array_equal(again[0], acc[1])  # same data, noise and init whatever the order of the losses
    np.testing.assert_array_equal(again[1], acc[0])


def test_train_noisy_old_positional_key_and_k_warn_and_give_the_same_run(tiny_run):
    kw, (acc, _) = tiny_run
    old_kw = {**{k: v for k, v in kw.items() if k != "num_classes"}, "K": kw["num_classes"]}
    with pytest.warns(DeprecationWarning):
        again = train_noisy(jax.random.key(0), losses=[("ce", 0.0), ("ldr_kl", 1.0)], **old_kw)[0]
    np.testing.assert_array_equal(again, acc)


def test_train_noisy_bad_inputs_raise_naming_the_parameter():
    key = jax.random.key(0)
    kw = dict(etas=[0.1], kinds=[0])
    with pytest.raises(ValueError, match="loss"):
        train_noisy(key=key, losses=[("hinge", 0.0)], **kw)
    with pytest.raises(ValueError, match="etas"):
        train_noisy(key=key, losses=[("ce", 0.0)], etas=[1.5], kinds=[0])
    with pytest.raises(ValueError, match="etas must not contain NaN"):
        train_noisy(key=key, losses=[("ce", 0.0)], etas=[float("nan")], kinds=[0])
    with pytest.raises(ValueError, match="kinds"):
        train_noisy(key=key, losses=[("ce", 0.0)], etas=[0.1], kinds=[2])
    with pytest.raises(ValueError, match="one per setting"):
        train_noisy(key=key, losses=[("ce", 0.0)], etas=[0.1, 0.2], kinds=[0])
    with pytest.raises(ValueError, match="n_seeds"):
        train_noisy(key=key, losses=[("ce", 0.0)], n_seeds=0, **kw)
    with pytest.raises(ValueError, match="num_classes"):
        train_noisy(key=key, losses=[("ce", 0.0)], num_classes=1, **kw)
    with pytest.raises(TypeError, match="key"):
        train_noisy(key=0, losses=[("ce", 0.0)], **kw)
    with pytest.raises(TypeError, match="dtype"):
        train_noisy(key=key, losses=[("ce", 0.0)], dtype=jnp.int32, **kw)
