"""Contrastive losses sharing the primitive: Wang & Liu's hardness weights, InfoNCE vs DCL (values, the gradient
identity, the batch-size law) and iSogCLR's robust loss (duality, temperature gradient, limits); test vectors."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory.cnce import (
    contrastive_loss,
    dcl_loss,
    expected_npc_multiplier,
    hardness_weights,
    infonce_loss,
    npc_multiplier,
    npc_multiplier_mean_field,
    robust_gcl_dual,
    robust_gcl_objective,
    robust_gcl_temperature_gradient,
)
from theory.cnce.reference import dcl_parts_numpy, dro_primal_cvxpy

S = np.array([0.6, 0.5, 0.2, -0.1, 0.55, -0.7])  # NumPy float64: converted inside jax.enable_x64
H = np.array([0.2, -0.1, 0.5, -0.3, 0.0])
Z1, Z2 = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[0.8, 0.6], [0.6, 0.8]])


def test_wang_liu_vectors():
    with jax.enable_x64(True):
        assert float(contrastive_loss(S, temperature=0.2)) == pytest.approx(0.9370213789, abs=1e-10)
        g = jax.grad(lambda s: contrastive_loss(s, temperature=0.2))(S)
        np.testing.assert_allclose(g, [-3.0410344887, 1.1881726439, 0.2651171523, 0.0591556327, 1.5256438742,
                                       0.0029451855], atol=1e-9)
        np.testing.assert_allclose(hardness_weights(S, temperature=0.2), [0.3907133077, 0.0871799229, 0.0194524702,
                                                                          0.5016858177, 0.0009684815], atol=1e-9)
        assert float(jnp.sum(jnp.abs(g[1:]))) == pytest.approx(float(-g[0]), abs=1e-12)  # gradient balance


def test_hardness_entropy_increases_with_temperature():
    ent = []
    for tau in (0.07, 0.2, 0.5, 1.0):
        r = np.asarray(hardness_weights(S, temperature=tau), np.float64)
        ent.append(float(-np.sum(r * np.log(r))))
    assert np.all(np.diff(ent) > 0) and ent[-1] < math.log(5)


def test_wang_liu_limits():
    s = np.array([0.3, 0.5, 0.2, -0.1, 0.45])
    with jax.enable_x64(True):
        assert float(1e-3 * contrastive_loss(s, temperature=1e-3)) == pytest.approx(0.2, abs=1e-3)
        assert float(1e-3 * contrastive_loss(S, temperature=1e-3)) == pytest.approx(0.0, abs=1e-3)  # easy positive
        assert float(1e4 * (contrastive_loss(S, temperature=1e4) - math.log(6))) == pytest.approx(-0.425, abs=1e-3)


def test_dcl_vectors():
    with jax.enable_x64(True):
        assert float(infonce_loss(Z1, Z2, temperature=0.5)[0]) == pytest.approx(0.6271230573, abs=1e-10)
        assert float(dcl_loss(Z1, Z2, temperature=0.5)[0]) == pytest.approx(-0.1367175327, abs=1e-10)
        assert float(npc_multiplier(Z1, Z2, temperature=0.5)[0]) == pytest.approx(0.4658737567, abs=1e-10)


@given(st.integers(0, 2**31 - 1))
def test_infonce_equals_dcl_minus_log_q_and_matches_the_definitions(seed):
    rng = np.random.default_rng(seed)
    z1, z2 = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    with jax.enable_x64(True):
        info, dcl = np.asarray(infonce_loss(z1, z2, temperature=0.7)), np.asarray(dcl_loss(z1, z2, temperature=0.7))
        q = np.asarray(npc_multiplier(z1, z2, temperature=0.7))
    np.testing.assert_allclose(info, dcl - np.log(q), atol=1e-12)
    ref = np.array([dcl_parts_numpy(z1, z2, 0.7, i) for i in range(5)])
    np.testing.assert_allclose(np.stack([info, dcl, q], 1), ref, atol=1e-12)
    assert np.all(info > dcl) and np.all((q > 0) & (q < 1))


def test_the_gradients_differ_by_the_factor_q():
    rng = np.random.default_rng(3)
    z1, z2 = rng.standard_normal((8, 5)), rng.standard_normal((8, 5))
    with jax.enable_x64(True):
        z1, z2 = jnp.asarray(z1, jnp.float64), jnp.asarray(z2, jnp.float64)
        q = npc_multiplier(z1, z2, temperature=0.5)[3]
        gi = jax.grad(lambda a, b: infonce_loss(a, b, temperature=0.5)[3], argnums=(0, 1))(z1, z2)
        gd = jax.grad(lambda a, b: dcl_loss(a, b, temperature=0.5)[3], argnums=(0, 1))(z1, z2)
        for a, b in zip(gi, gd, strict=True):
            np.testing.assert_allclose(a, q * b, atol=1e-14)


def test_the_coupling_batch_law():
    kw = dict(dim=128, temperature=0.1, positive=0.5)
    exact = [expected_npc_multiplier(n, **kw) for n in (16, 64, 256, 1024)]
    mf = [npc_multiplier_mean_field(n, **kw) for n in (16, 64, 256, 1024)]
    np.testing.assert_allclose(mf, [0.2298, 0.5562, 0.8353, 0.9532], atol=1e-4)
    np.testing.assert_allclose(exact, mf, atol=0.01)
    assert np.all(np.diff(exact) > 0) and np.all(np.asarray(exact) < np.asarray(mf))  # Jensen: E U/(c+U) < mean


def test_isogclr_vectors():
    with jax.enable_x64(True):
        assert float(robust_gcl_objective(H, temperature=0.3, rho=0.3)) == pytest.approx(0.2770309068, abs=1e-10)
        assert float(robust_gcl_temperature_gradient(H, temperature=0.3, rho=0.3)) == pytest.approx(
            -0.0968583583, abs=1e-10)
    value, tau = robust_gcl_dual(H, rho=0.3)
    assert value == pytest.approx(0.27468310, abs=1e-8) and tau == pytest.approx(0.35176926, abs=1e-6)
    assert dro_primal_cvxpy(H, 0.3)[0] == pytest.approx(value, abs=1e-7)


def test_the_optimal_temperature_decreases_with_rho_and_the_limits_hold():
    taus = [robust_gcl_dual(H, rho=r)[1] for r in (0.05, 0.3, 1.0)]
    assert np.all(np.diff(taus) < 0)
    with jax.enable_x64(True):
        assert float(robust_gcl_objective(H, temperature=1e5, rho=0.0)) == pytest.approx(float(H.mean()), abs=1e-5)
        assert float(robust_gcl_objective(H, temperature=1e-4, rho=0.0)) == pytest.approx(0.5 - 1e-4 * math.log(5),
                                                                                        abs=1e-6)
        assert float(robust_gcl_temperature_gradient(H, temperature=1e-3, rho=0.0)) == pytest.approx(-math.log(5),
                                                                                                    abs=1e-6)


@pytest.mark.parametrize("call", [
    lambda: contrastive_loss(S, temperature=0.0),
    lambda: hardness_weights(S[:1], temperature=0.2),
    lambda: infonce_loss(Z1, Z2[:1], temperature=0.5),
    lambda: robust_gcl_objective(H, temperature=0.3, rho=-0.1),
    lambda: robust_gcl_dual(H, rho=0.3, tau_min=0.0),
    lambda: contrastive_loss(np.array([0.1, np.nan]), temperature=0.2),
])
def test_bad_inputs_raise(call):
    with pytest.raises(ValueError):
        call()
