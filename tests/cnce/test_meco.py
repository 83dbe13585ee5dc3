"""The MECO step: the test vector, the natural parameterisation (where a sign error on grad log Z diverges), the
plug-in at gamma = 1, invariance to an energy shift and the input policy."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.cnce import (
    MecoState,
    gaussian_log_density,
    meco_gradient,
    meco_init,
    meco_step,
    natural_log_unnormalised,
    shift_log_unnormalised,
)


def _vector_step(**kw):
    s = MecoState(jnp.float64(0.5), jnp.log(jnp.float64(2.0)), jnp.float64(0.1))
    return meco_step(s, jnp.array([1.2, 0.7]), jnp.array([0.3, -1.1, 0.8]), lr=0.05, gamma=0.1, beta=0.2,
                     model=shift_log_unnormalised, **kw)


def test_one_meco_step_matches_the_test_vector():
    with jax.enable_x64(True):
        s = _vector_step()
        assert math.exp(float(s.log_u)) == pytest.approx(2.0382134255, abs=1e-9)
        assert float(s.v) == pytest.approx(-0.0612221883, abs=1e-9)
        assert float(s.params) == pytest.approx(0.5030611094, abs=1e-9)
        r = np.exp(np.asarray(shift_log_unnormalised(0.5, jnp.array([0.3, -1.1, 0.8]))
                              - gaussian_log_density(jnp.array([0.3, -1.1, 0.8]))))
        np.testing.assert_allclose(r, [2.5700838715, 1.2762658801, 3.3000530140], atol=1e-9)


def _run(key, steps, sign=1.0, R=2.0, lr=0.05):
    """MECO (gamma 0.1, beta 1) in the natural parameterisation; ``sign=-1`` plants a sign error on grad log Z."""
    def model(t, x):
        return natural_log_unnormalised(t, x)

    def step(state, k):
        x = R + jax.random.normal(jax.random.fold_in(k, 0), (32,))
        xn = jax.random.normal(jax.random.fold_in(k, 1), (32,))
        if sign > 0:
            return meco_step(state, x, xn, lr=lr, gamma=0.1, beta=1.0), state.params
        g_data = -jnp.mean(x)
        log_r = model(state.params, xn) - gaussian_log_density(xn)
        from theory.logspace import ma_update_log

        log_u = ma_update_log(state.log_u, log_r, gamma=0.1)
        g_noise = jnp.sum(jnp.exp(log_r - log_u) / 32 * xn)
        new = state.params - lr * (g_data - g_noise)
        return MecoState(new, log_u, state.v), state.params

    init = meco_init(jnp.float32(0.0), jax.random.normal(key, (32,)))
    final, path = jax.lax.scan(step, init, jax.random.split(key, steps))
    return final.params, path


def test_meco_converges_in_the_natural_parameterisation():
    theta, _ = _run(jax.random.key(0), 400, R=1.0)
    assert abs(float(theta) - 1.0) < 0.3


def test_a_sign_error_on_grad_log_z_diverges_in_the_natural_parameterisation():
    theta, _ = _run(jax.random.key(0), 300, sign=-1.0, R=1.0)
    assert not np.isfinite(float(theta)) or abs(float(theta)) > 10


def test_the_gradient_with_the_exact_partition_is_unbiased_in_both_parameterisations():
    key = jax.random.key(1)
    for model, log_z, grad_f in ((natural_log_unnormalised, lambda t: t * t / 2 + 0.5 * math.log(2 * math.pi),
                                  lambda t, R: t - R),
                                 (shift_log_unnormalised, lambda t: 0.5 * math.log(2 * math.pi), lambda t, R: t - R)):
        t, R = 0.6, 1.0

        def one(k, model=model, log_z=log_z, t=t, R=R):
            x = R + jax.random.normal(jax.random.fold_in(k, 0), (8,))
            xn = jax.random.normal(jax.random.fold_in(k, 1), (8,))
            return meco_gradient(jnp.float32(t), x, xn, log_z(t), model=model)

        g = np.asarray(jax.jit(jax.vmap(one))(jax.random.split(key, 100000)), np.float64)
        assert abs(g.mean() - grad_f(t, R)) < 4 * g.std() / math.sqrt(len(g))


def test_the_step_is_invariant_to_an_energy_shift_with_u_rescaled():
    with jax.enable_x64(True):
        c = 3.7
        a = _vector_step()
        s = MecoState(jnp.float64(0.5), jnp.log(jnp.float64(2.0)) - c, jnp.float64(0.1))
        b = meco_step(s, jnp.array([1.2, 0.7]), jnp.array([0.3, -1.1, 0.8]), lr=0.05, gamma=0.1, beta=0.2,
                      model=lambda t, x: shift_log_unnormalised(t, x) - c)
        assert float(a.params) == pytest.approx(float(b.params), abs=1e-12)
        assert float(a.log_u) - c == pytest.approx(float(b.log_u), abs=1e-12)


def test_gamma_one_is_the_plug_in_and_has_no_nan():
    s = MecoState(jnp.float32(0.5), jnp.float32(-jnp.inf), jnp.float32(0.0))
    out = meco_step(s, jnp.array([1.2, 0.7]), jnp.array([0.3, -1.1, 0.8]), lr=0.05, gamma=1.0, beta=1.0)
    assert np.isfinite(out.params) and np.isfinite(out.log_u)


def test_a_pytree_model_in_two_dimensions():
    params = {"mean": jnp.zeros(2)}

    def model(p, x):
        return natural_log_unnormalised(p["mean"], x)

    def log_q(x):
        return gaussian_log_density(x, mean=jnp.zeros(2))

    state = meco_init(params, jnp.ones((4, 2)), model=model, log_noise=log_q)
    out = meco_step(state, jnp.ones((3, 2)), jnp.zeros((5, 2)), lr=0.1, gamma=0.5, beta=0.5, model=model,
                    log_noise=log_q)
    assert out.params["mean"].shape == (2,) and np.all(np.isfinite(out.params["mean"]))


@pytest.mark.parametrize("bad", [dict(gamma=0.0), dict(gamma=1.5), dict(beta=0.0), dict(beta=2.0), dict(lr=0.0),
                                 dict(lr=-1.0)])
def test_bad_hyperparameters_raise_before_tracing(bad):
    kw = {"lr": 0.1, "gamma": 0.5, "beta": 0.5, **bad}
    with pytest.raises(ValueError, match=next(iter(bad))):
        meco_step(MecoState(0.0, 0.0, 0.0), jnp.ones(3), jnp.ones(3), **kw)


def test_a_traced_invalid_gamma_gives_nan_parameters():
    f = jax.jit(lambda g: meco_step(MecoState(0.0, 0.0, 0.0), jnp.ones(3), jnp.ones(3), lr=0.1, gamma=g,
                                    beta=0.5).params)
    assert np.isnan(f(1.5)) and np.isfinite(f(0.5))


def test_mismatched_batches_and_bad_noise_raise():
    s = MecoState(0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="sample shape"):
        meco_step(s, jnp.ones((3, 2)), jnp.ones(3), lr=0.1, gamma=0.5, beta=0.5)
    with pytest.raises(ValueError, match="log_noise"):
        meco_step(s, jnp.ones(3), jnp.ones(3), lr=0.1, gamma=0.5, beta=0.5, log_noise=lambda x: jnp.full(3, -jnp.inf))
    with pytest.raises(ValueError, match="finite"):
        meco_step(s, jnp.array([1.0, jnp.nan]), jnp.ones(3), lr=0.1, gamma=0.5, beta=0.5)
    with pytest.raises(ValueError, match="log_u"):
        meco_step(MecoState(0.0, -jnp.inf, 0.0), jnp.ones(3), jnp.ones(3), lr=0.1, gamma=0.5, beta=0.5)
