"""The shared log-space primitives as the cnce topic uses them: the moving average at gamma = 1, its range, and its
bounds (theory.logspace)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory.cnce import kl_to_uniform, logmeanexp, ma_update_log, softmax_weights


def test_gamma_one_is_the_plug_in_without_nan():
    out = ma_update_log(jnp.float32(-jnp.inf), jnp.array([0.1, 2.0, -1.0]), gamma=1.0)
    assert np.isfinite(out) and np.isclose(out, logmeanexp(jnp.array([0.1, 2.0, -1.0])))
    g = jax.grad(lambda v: ma_update_log(jnp.float32(0.3), v, gamma=1.0))(jnp.array([0.1, 2.0]))
    assert np.all(np.isfinite(g))


def test_the_moving_average_matches_the_test_vector():
    # u_prev = 1.5, g = 2.0, gamma = 0.9 -> u = 1.95
    out = ma_update_log(jnp.log(1.5), jnp.log(jnp.array([2.0])), gamma=0.9)
    assert np.isclose(np.exp(out), 1.95, rtol=1e-6)


@pytest.mark.parametrize("gamma", [-0.1, 1.5, float("nan")])
def test_gamma_outside_the_unit_interval_raises(gamma):
    with pytest.raises(ValueError, match="gamma"):
        ma_update_log(0.0, jnp.zeros(3), gamma=gamma)


def test_a_traced_invalid_gamma_gives_nan():
    out = jax.jit(lambda g: ma_update_log(0.0, jnp.zeros(3), gamma=g))(1.5)
    assert np.isnan(out)


@given(st.floats(-5, 5), st.lists(st.floats(-5, 5), min_size=1, max_size=6), st.floats(0.01, 1.0))
def test_the_update_lies_between_the_old_value_and_the_batch_mean(log_u, values, gamma):
    with jax.enable_x64(True):
        v = jnp.asarray(values, jnp.float64)
        out = float(ma_update_log(jnp.float64(log_u), v, gamma=gamma))
        new = float(logmeanexp(v))
    assert min(log_u, new) - 1e-12 <= out <= max(log_u, new) + 1e-12


def test_kl_to_uniform_of_the_softmax_is_stable_at_small_temperature():
    p = softmax_weights(jnp.array([0.2, -0.1, 0.5, -0.3, 0.0]), temperature=1e-3)
    assert np.isclose(kl_to_uniform(p), np.log(5.0), atol=1e-6)
