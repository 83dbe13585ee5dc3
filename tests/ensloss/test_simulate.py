"""Data and doubly stochastic training: the exact linear 0-1 risk, the bundled real datasets, the traced loss
selector, iterate averaging, the MLP fit (paired across losses), and input checks
(docs/ensloss.md, "Doubly stochastic training" and "Real data")."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from theory._training import train
from theory.ensloss import (
    LOSSES,
    bayes_risk,
    excess_risk_by_size,
    exponential_margin_derivative,
    fit_classifiers,
    gaussian_classes,
    hinge_margin_derivative,
    init_mlp,
    linear_zero_one_risk,
    load_dataset,
    loss_derivatives,
    mlp_scores,
    sample_ensloss_derivatives,
)
from theory.ensloss.simulate import _averaged

MU = np.array([0.9, 0.6, 0.0, 0.0, 0.0])


def test_linear_risk_is_exact_against_a_large_sample(x64):
    rng = np.random.default_rng(0)  # an independent NumPy sample of the Gaussian classes
    y = np.where(rng.random(200_000) < 0.5, 1.0, -1.0)
    x = y[:, None] * MU + rng.standard_normal((200_000, 5))
    w, b = np.array([1.0, -0.3, 0.2, 0.0, 0.5]), 0.4
    empirical = np.mean((x @ w + b) * y <= 0)
    exact = linear_zero_one_risk(w, b, MU)
    assert abs(empirical - exact) < 4 * np.sqrt(exact * (1 - exact) / 200_000)
    assert linear_zero_one_risk(MU, 0.0, MU) == pytest.approx(bayes_risk(MU), abs=1e-15)
    assert bayes_risk(MU) == pytest.approx(0.1397, abs=5e-5)
    g = jax.jit(jax.grad(lambda v: linear_zero_one_risk(v, 0.0, MU)))(jnp.asarray(MU))
    assert np.linalg.norm(g) < 1e-12  # the Bayes rule is a stationary point of the risk


def test_gaussian_classes_have_balanced_labels_and_the_stated_means():
    x, y = gaussian_classes(key=jax.random.key(0), num_samples=20_000, mean=MU)
    assert x.dtype == jnp.float32 and float(jnp.mean(y)) == pytest.approx(0.0, abs=0.03)
    np.testing.assert_allclose(np.mean(np.asarray(x) * np.asarray(y)[:, None], axis=0), MU, atol=0.05)


def test_linear_risk_rejects_a_zero_direction():
    with pytest.raises(ValueError, match="w must be nonzero"):
        linear_zero_one_risk(np.zeros(5), 0.0, MU)


@pytest.mark.parametrize("name, shape, positive", [("breast_cancer", (398, 30), 0.63), ("digits_8", (1258, 64), 0.1)])
def test_real_datasets_are_split_and_standardised(name, shape, positive):
    xtr, ytr, xte, yte = load_dataset(name, key=jax.random.key(1))
    assert xtr.shape == shape and xte.shape[1] == shape[1] and len(ytr) + len(yte) == shape[0] + len(yte)
    assert set(np.unique(np.concatenate([ytr, yte]))) == {-1.0, 1.0}
    assert np.mean(np.concatenate([ytr, yte]) > 0) == pytest.approx(positive, abs=0.02)
    np.testing.assert_allclose(xtr.mean(axis=0), 0.0, atol=1e-12)
    sd = xtr.std(axis=0)
    assert np.all((np.abs(sd - 1) < 1e-9) | (sd == 0))
    other = load_dataset(name, key=jax.random.key(2))
    assert not np.array_equal(other[1], ytr)  # another split


def test_unknown_dataset_and_bad_fraction_raise():
    with pytest.raises(ValueError, match="name must be one of"):
        load_dataset("iris", key=jax.random.key(0))
    with pytest.raises(ValueError, match="test_fraction must lie in"):
        load_dataset("breast_cancer", key=jax.random.key(0), test_fraction=1.0)


def test_a_traced_loss_index_selects_the_loss():
    z = jnp.linspace(-2.0, 3.0, 16)
    key = jax.random.key(4)
    selector = jax.jit(lambda j: loss_derivatives(j, key, z))
    np.testing.assert_allclose(selector(0), sample_ensloss_derivatives(key, z), rtol=3e-7)  # float32 rounding of exp
    np.testing.assert_allclose(selector(LOSSES.index("exponential")), exponential_margin_derivative(z), rtol=3e-7)
    np.testing.assert_array_equal(selector(LOSSES.index("hinge")), hinge_margin_derivative(z))


def test_averaging_keeps_the_mean_of_the_second_half_of_the_iterates():
    def loss(p, k, _):
        return jnp.sum((p["w"] - jax.random.normal(k, (2,))) ** 2)

    p0 = {"w": jnp.zeros(2), "avg": jnp.zeros(2)}
    params, _ = train(loss, p0, _averaged(optax.sgd(0.1), start=5), key=jax.random.key(0), num_steps=12)
    iterates, p, state = [], jnp.zeros(2), optax.sgd(0.1).init(jnp.zeros(2))
    for k in jax.random.split(jax.random.key(0), 12):
        g = jax.grad(lambda w, k=k: loss({"w": w}, k, None))(p)
        upd, state = optax.sgd(0.1).update(g, state, p)
        p = optax.apply_updates(p, upd)
        iterates.append(p)
    np.testing.assert_allclose(params["avg"], np.mean(iterates[5:], axis=0), rtol=1e-5)
    np.testing.assert_allclose(params["w"], iterates[-1], rtol=1e-6)


def test_init_mlp_follows_pytorch_bounds():
    p = jax.jit(init_mlp, static_argnums=(1, 2))(jax.random.key(0), 30, 16)
    assert p["w1"].shape == (30, 16) and p["w2"].shape == (16,) and p["b2"].shape == ()
    assert float(jnp.abs(p["w1"]).max()) <= 1 / np.sqrt(30) and float(jnp.abs(p["w2"]).max()) <= 1 / 4
    lin = jax.jit(init_mlp, static_argnums=(1, 2))(jax.random.key(0), 5, 0)
    assert set(lin) == {"w", "b"} and mlp_scores(lin, np.ones((3, 5), np.float32)).shape == (3,)


def test_mlp_scores_match_the_formula():
    p = jax.jit(init_mlp, static_argnums=(1, 2))(jax.random.key(1), 3, 4)
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    manual = np.maximum(x @ np.asarray(p["w1"]) + np.asarray(p["b1"]), 0.0) @ np.asarray(p["w2"]) + float(p["b2"])
    np.testing.assert_allclose(mlp_scores(p, x), manual, rtol=1e-5)


@pytest.mark.parametrize("kw, exc, match", [
    ({"losses": ("ensloss", "focal")}, ValueError, "losses must be a non-empty sequence"),
    ({"num_steps": 150, "eval_every": 100}, ValueError, "num_steps must be a multiple of eval_every"),
    ({"learning_rate": 0.0}, ValueError, "learning_rate must lie in"),
    ({"y_train": np.zeros(10)}, ValueError, r"y_train must be in \{-1, \+1\}"),
    ({"x_test": np.zeros((5, 3))}, ValueError, "must agree"),
    ({"eps": 0.0}, ValueError, "eps must lie in"),
])
def test_fit_classifiers_checks_its_inputs(kw, exc, match):
    base = dict(key=jax.random.key(0), x_train=np.zeros((10, 2)), y_train=np.ones(10), x_test=np.zeros((5, 2)),
                y_test=np.ones(5), num_steps=100, eval_every=100)
    with pytest.raises(exc, match=match):
        fit_classifiers(**{**base, **kw})


@pytest.mark.parametrize("kw, match", [
    ({"sizes": [0, 10]}, r"sizes must lie in \[1, inf"),
    ({"num_replicates": 0}, "num_replicates must be an integer"),
    ({"loss": "focal"}, "losses must be a non-empty sequence"),
    ({"clip": 0.1}, r"clip must lie in \(-inf, 0\)"),
    ({"mean": [np.nan, 0.0]}, "mean must not contain NaN"),
])
def test_excess_risk_by_size_checks_its_inputs(kw, match):
    base = dict(key=jax.random.key(0), sizes=[8, 16], mean=MU, num_replicates=2, num_steps=10)
    with pytest.raises(ValueError, match=match):
        excess_risk_by_size(**{**base, **kw})
