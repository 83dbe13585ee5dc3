"""Losses: reference values, the identity L_ins = L_bag + R (squared and Bregman) as hypothesis properties,
Jensen for other convex losses, gradients, extreme inputs, NaN and bad inputs, traced hyperparameters
(docs/aggregate.md#loss-identities)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from theory.aggregate import (
    bag_loss,
    bregman_divergence,
    bregman_regulariser,
    huber_loss,
    instance_loss,
    interpolated_loss,
    logistic_loss,
    regulariser,
)

X1 = np.array([[1, 0], [0, 1], [1, 1], [2, -1], [0.5, 0.5], [-1, 3]], float)
Y1 = np.array([1, 2, 0, -1, 3, 0.5])
BAGS1 = np.array([0, 0, 0, 1, 1, 1])
THETA1 = np.array([0.5, -0.25])


def _bar(v, bags, m):
    return np.bincount(bags, weights=v, minlength=m) / np.bincount(bags, minlength=m)


def test_losses_and_regulariser_match_reference_values(x64):
    f = X1 @ THETA1
    y_bar = _bar(Y1, BAGS1, 2)
    np.testing.assert_allclose(y_bar, [1, 0.8333333333], atol=1e-10)
    np.testing.assert_allclose(_bar(f, BAGS1, 2), [0.1666666667, 0.0416666667], atol=1e-10)
    assert float(bag_loss(f, y_bar, BAGS1)) == pytest.approx(0.6605902778, abs=1e-10)
    assert float(instance_loss(f, y_bar, BAGS1)) == pytest.approx(1.2317708333, abs=1e-10)
    assert float(regulariser(f, BAGS1, num_bags=2)) == pytest.approx(0.5711805556, abs=1e-10)


def test_planted_regulariser_over_m_breaks_the_identity(x64):
    f = X1 @ THETA1
    y_bar = _bar(Y1, BAGS1, 2)
    wrong = float(bag_loss(f, y_bar, BAGS1)) + 3 * float(regulariser(f, BAGS1, num_bags=2))
    assert wrong == pytest.approx(2.374, abs=1e-3)
    assert abs(wrong - float(instance_loss(f, y_bar, BAGS1))) > 1.0


def _case(seed, m, k):
    rng = np.random.default_rng(seed)
    n = m * k
    bags = rng.permutation(np.arange(n) // k)
    f = rng.standard_normal(n) * 3
    y_bar = rng.standard_normal(m)
    return f, y_bar, bags


SHAPES = st.sampled_from([(1, 1), (3, 1), (2, 3), (4, 5)])  # few shapes: each new one costs JAX compiles


@given(st.integers(0, 10**6), SHAPES, st.floats(0, 1))
def test_instance_loss_is_bag_loss_plus_within_bag_variance(seed, shape, rho):
    m, k = shape
    with jax.enable_x64(True):
        f, y_bar, bags = _case(seed, m, k)
        lb, li = float(bag_loss(f, y_bar, bags)), float(instance_loss(f, y_bar, bags))
        r = float(regulariser(f, bags, num_bags=m))
        assert li == pytest.approx(lb + r, rel=1e-10, abs=1e-12)
        assert r >= 0
        if k == 1:
            assert r == 0 and lb == pytest.approx(li, rel=1e-12)
        lr = float(interpolated_loss(f, y_bar, bags, rho=rho))
        assert lr == pytest.approx(lb + rho * r, rel=1e-10, abs=1e-12)


def test_regulariser_zero_iff_constant_within_bags(x64):
    bags = np.array([0, 1, 0, 1])
    assert float(regulariser(np.array([2.0, -1.0, 2.0, -1.0]), bags, num_bags=2)) == 0.0
    assert float(regulariser(np.array([2.0, -1.0, 2.0 + 1e-6, -1.0]), bags, num_bags=2)) > 0.0


@settings(max_examples=12)
@given(st.integers(0, 10**6), SHAPES, st.sampled_from(["exp", "entropy", "quartic"]))
def test_bregman_instance_loss_is_bag_loss_plus_compensation(seed, shape, name):
    m, k = shape
    phi = {"exp": jnp.exp, "entropy": lambda t: t * jnp.log(t), "quartic": lambda t: t**4}[name]
    with jax.enable_x64(True):
        f, y_bar, bags = _case(seed, m, k)
        if name == "entropy":
            f, y_bar = np.abs(f) + 0.05, np.abs(y_bar) + 0.05
        loss = bregman_divergence(phi)
        lhs = float(instance_loss(f, y_bar, bags, loss=loss))
        rhs = float(bag_loss(f, y_bar, bags, loss=loss)) + float(bregman_regulariser(f, bags, num_bags=m, phi=phi))
        assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-12)


@settings(max_examples=20)
@given(st.integers(0, 10**6), SHAPES, st.sampled_from(["huber", "logistic"]))
def test_jensen_for_convex_losses(seed, shape, name):
    m, k = shape
    loss = {"huber": lambda y, f: huber_loss(y, f, delta=0.5), "logistic": logistic_loss}[name]
    with jax.enable_x64(True):
        f, y_bar, bags = _case(seed, m, k)
        if name == "logistic":
            y_bar = 1 / (1 + np.exp(-y_bar))
        assert float(instance_loss(f, y_bar, bags, loss=loss)) >= float(bag_loss(f, y_bar, bags, loss=loss)) - 1e-12


def test_interpolated_loss_gradients_match_finite_differences(x64):
    f, y_bar, bags = _case(0, 3, 4)
    for loss in (None, logistic_loss, bregman_divergence(jnp.exp)):
        kw = {} if loss is None else {"loss": loss}
        fn = jax.jit(lambda p, kw=kw: interpolated_loss(p, y_bar, bags, rho=0.3, **kw))
        check_grads(fn, (jnp.asarray(f),), order=1, modes=["rev"])


def test_extreme_inputs_stay_finite():
    f = jnp.array([1e4, -1e4, 3e3, -2e4], jnp.float32)
    bags = jnp.array([0, 0, 1, 1])
    y_bar = jnp.array([0.5, 0.2], jnp.float32)
    for loss in (logistic_loss, lambda y, f: huber_loss(y, f)):
        for fn in (bag_loss, instance_loss):
            assert np.isfinite(float(fn(f, y_bar, bags, loss=loss)))


def test_bad_inputs_raise():
    f, y_bar, bags = _case(0, 2, 2)
    with pytest.raises(ValueError, match="allow_extrapolation"):
        interpolated_loss(f, y_bar, bags, rho=1.5)
    with pytest.raises(ValueError, match="rho"):
        interpolated_loss(f, y_bar, bags, rho=-0.1)
    assert np.isfinite(float(interpolated_loss(f, y_bar, bags, rho=1.5, allow_extrapolation=True)))
    with pytest.raises(ValueError, match="y_bar"):
        bag_loss(f, y_bar[:, None], bags)
    with pytest.raises(ValueError, match="delta"):
        huber_loss(0.0, 1.0, delta=0.0)
    with pytest.raises(ValueError, match="predictions must be finite"):
        bag_loss(np.where(f > 0, np.nan, f), y_bar, bags)
    with pytest.raises(ValueError, match="y_bar must be finite"):
        instance_loss(f, np.full_like(y_bar, np.inf), bags)
    with pytest.raises(ValueError, match="rho"):
        interpolated_loss(f, y_bar, bags, rho=float("nan"))


def test_invalid_traced_hyperparameters_give_nan():
    f, y_bar, bags = _case(0, 2, 2)
    loss = jax.jit(lambda r: interpolated_loss(f, y_bar, bags, rho=r))
    assert np.isfinite(float(loss(0.5))) and float(loss(0.5)) == pytest.approx(
        float(interpolated_loss(f, y_bar, bags, rho=0.5)), rel=1e-6)
    assert np.isnan(float(loss(-0.1))) and np.isnan(float(loss(1.5)))
    huber = jax.jit(lambda d: huber_loss(0.0, 3.0, delta=d))
    assert float(huber(1.0)) == 5.0 and np.isnan(float(huber(0.0)))


def test_deprecated_n_bags_spelling_warns():
    f, _, bags = _case(0, 2, 2)
    with pytest.warns(DeprecationWarning, match="num_bags"):
        old = regulariser(f, bags, n_bags=2)
    assert float(old) == float(regulariser(f, bags, num_bags=2))
