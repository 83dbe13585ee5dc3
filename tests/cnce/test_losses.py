"""NCE, eNCE and the compositional NLL from log-densities: values against definitions, invariances, gradients and the
input policy."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory.cnce import (
    compositional_nll,
    ence_loss,
    gaussian_log_density,
    log_partition_estimate,
    natural_log_unnormalised,
    nce_loss,
)

RNG = np.random.default_rng(0)
LM, LQD, LMN, LQN = (RNG.normal(size=n) for n in (5, 5, 7, 7))


def test_nce_loss_matches_its_definition():
    nu = 3.0
    g_d, g_n = LM - LQD - math.log(nu), LMN - LQN - math.log(nu)
    ref = np.mean(np.log1p(np.exp(-g_d))) + nu * np.mean(np.log1p(np.exp(g_n)))
    with jax.enable_x64(True):
        assert float(nce_loss(LM, LQD, LMN, LQN, nu=nu)) == pytest.approx(ref, rel=1e-12)
        assert float(nce_loss(LM, LQD, LMN, LQN, nu=nu, scale=0.5)) == pytest.approx(0.5 * ref, rel=1e-12)


def test_nce_loss_with_the_model_equal_to_the_noise():
    for nu in (0.5, 1.0, 4.0):
        with jax.enable_x64(True):
            got = float(nce_loss(LQD, LQD, LQN, LQN, nu=nu))
        assert got == pytest.approx((1 + nu) * math.log(1 + nu) - nu * math.log(nu), rel=1e-12)


def test_ence_loss_matches_its_definition():
    ref = np.mean(np.exp(0.5 * (LQD - LM))) + np.mean(np.exp(0.5 * (LMN - LQN)))
    with jax.enable_x64(True):
        assert float(ence_loss(LM, LQD, LMN, LQN)) == pytest.approx(ref, rel=1e-12)


@given(st.floats(-50, 50))
def test_compositional_nll_is_invariant_to_an_energy_shift(c):
    with jax.enable_x64(True):
        a = compositional_nll(LM, LMN, LQN)
        b = compositional_nll(LM + c, LMN + c, LQN)
    assert float(a) == pytest.approx(float(b), abs=1e-9)


def test_compositional_nll_with_the_exact_partition_is_the_nll():
    x = jnp.array([0.3, 1.2, 2.5])
    t = 0.8
    exact = float(compositional_nll(natural_log_unnormalised(t, x), None, None, log_partition=t * t / 2 + 0.5 *
                                    math.log(2 * math.pi)))
    assert exact == pytest.approx(float(-jnp.mean(gaussian_log_density(x, mean=t))), rel=1e-6)


def test_log_partition_estimate_is_stable_for_huge_log_weights():
    out = log_partition_estimate(jnp.array([1000.0, 1001.0]), jnp.zeros(2))
    assert np.isfinite(out) and float(out) == pytest.approx(1000.0 + math.log((1 + math.e) / 2), rel=1e-6)


def test_the_population_gradient_of_nce_at_the_noise_is_nu_over_one_plus_nu_of_the_mle():
    """d/dtheta of NCE (normalised model, c tied to theta) at theta = mu_q = 0 is (nu/(1+nu))(mu_q - R): -1 and -1.5
    at R = 2 for nu = 1, 3 (by Gauss-Hermite expectations)."""
    xs, ws = np.polynomial.hermite_e.hermegauss(120)
    ws = ws / math.sqrt(2 * math.pi)
    R = 2.0
    for nu, target in ((1.0, -1.0), (3.0, -1.5)):
        def loss(t, nu=nu):
            c = t * t / 2 + 0.5 * math.log(2 * math.pi)
            xd, xn = jnp.asarray(R + xs), jnp.asarray(xs)
            g_d = natural_log_unnormalised(t, xd) - c - gaussian_log_density(xd) - math.log(nu)
            g_n = natural_log_unnormalised(t, xn) - c - gaussian_log_density(xn) - math.log(nu)
            return jnp.sum(ws * jax.nn.softplus(-g_d)) + nu * jnp.sum(ws * jax.nn.softplus(g_n))

        with jax.enable_x64(True):
            assert float(jax.grad(loss)(0.0)) == pytest.approx(target, abs=1e-8)


@pytest.mark.parametrize("bad", [dict(nu=0.0), dict(nu=-2.0), dict(scale=0.0)])
def test_nonpositive_nu_or_scale_raises(bad):
    with pytest.raises(ValueError, match="nu|scale"):
        nce_loss(LM, LQD, LMN, LQN, **bad)


def test_a_traced_invalid_nu_gives_nan():
    assert np.isnan(jax.jit(lambda nu: nce_loss(LM, LQD, LMN, LQN, nu=nu))(-1.0))


@pytest.mark.parametrize("which", [1, 3])
def test_non_finite_noise_log_densities_raise(which):
    args = [LM, LQD, LMN, LQN]
    args[which] = np.where(np.arange(len(args[which])) == 0, -np.inf, args[which])
    with pytest.raises(ValueError, match="finite"):
        nce_loss(*args)


def test_nan_model_log_density_raises_and_minus_inf_is_allowed():
    with pytest.raises(ValueError, match="NaN"):
        nce_loss(np.where(np.arange(5) == 0, np.nan, LM), LQD, LMN, LQN)
    # no model mass on a noise sample: finite; on a data sample: the loss is +inf (never NaN)
    assert np.isfinite(nce_loss(LM, LQD, np.where(np.arange(7) == 0, -np.inf, LMN), LQN))
    assert nce_loss(np.where(np.arange(5) == 0, -np.inf, LM), LQD, LMN, LQN) == np.inf


def test_mismatched_batch_shapes_raise():
    with pytest.raises(ValueError, match="same shape"):
        nce_loss(LM, LQD[:3], LMN, LQN)
    with pytest.raises(ValueError, match="same shape"):
        ence_loss(LM, LQD, LMN, LQN[:2])
    with pytest.raises(ValueError, match="same shape"):
        log_partition_estimate(LMN, LQN[:2])
