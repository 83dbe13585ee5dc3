"""The exact population loss: agreement with the risk of y-linear layers, Monte Carlo, gradients, jit/vmap/grad,
bad inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from theory.icl import lsa, optimum
from theory.icl.population import population_loss, population_loss_and_grad, population_loss_fn, stationary_point


def _kw(n, sx, sw, s2):
    return {"num_samples": n, "cov_x": sx, "cov_w": sw, "noise_var": s2}


def _spd(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.3 * np.eye(d)


def test_matches_risk_of_preconditioner_on_gd_layers():
    rng = np.random.default_rng(0)
    for d in (1, 2, 3):
        sx, sw, G = _spd(rng, d), _spd(rng, d), rng.standard_normal((d, d))
        W = lsa.gd_params(eta=1.0, dim=d, preconditioner=G.T, dtype=np.float64)  # Gamma = G
        assert population_loss(*W, **_kw(7, sx, sw, 0.3)) == pytest.approx(
            optimum.risk_of_preconditioner(G, **_kw(7, sx, sw, 0.3)), rel=1e-12)


def test_sum_form_has_the_same_optimal_loss():
    eta_sum = optimum.optimal_step_size_sum(num_samples=10, dim=3, noise_var=0.5)
    W = lsa.gd_params(eta=eta_sum, dim=3, dtype=np.float64)
    assert population_loss(*W, **_kw(10, np.eye(3), np.eye(3), 0.5), normalize=False) == pytest.approx(
        optimum.optimal_risk(num_samples=10, dim=3, noise_var=0.5), rel=1e-12)


def test_rank_one_trap_value_and_stationarity():  # c = 0, A = 0, Gamma = u b^T (docs/icl.md)
    n, d, s2 = 10, 4, 0.25
    eta = optimum.optimal_step_size(num_samples=n, dim=d, noise_var=s2)
    W_KQ, W_PV = np.zeros((d + 1, d + 1)), np.zeros((d + 1, d + 1))
    W_KQ[d, 0] = np.sqrt(eta)  # b = sqrt(eta) e1
    W_PV[d, 0] = np.sqrt(eta)  # u = sqrt(eta) e1, c = 0
    val, grads = population_loss_and_grad(W_KQ, W_PV, **_kw(n, np.eye(d), np.eye(d), s2))
    assert val == pytest.approx(optimum.rank_one_trap_risk(num_samples=n, dim=d, noise_var=s2), rel=1e-12)
    assert max(np.abs(g).max() for g in grads) < 1e-12


def test_monte_carlo_agreement_random_parameters():
    rng = np.random.default_rng(3)
    n, d, s2, N = 4, 2, 0.5, 200_000
    sx, sw = _spd(rng, d), _spd(rng, d)
    wkq, wpv = 0.5 * rng.standard_normal((d + 1, d + 1)), 0.5 * rng.standard_normal((d + 1, d + 1))
    lx, lw = np.linalg.cholesky(sx), np.linalg.cholesky(sw)
    Xr = rng.standard_normal((N, n, d)) @ lx.T
    w = rng.standard_normal((N, d)) @ lw.T
    y = np.einsum("bnd,bd->bn", Xr, w) + np.sqrt(s2) * rng.standard_normal((N, n))
    xq = rng.standard_normal((N, d)) @ lx.T
    yq = np.einsum("bd,bd->b", xq, w) + np.sqrt(s2) * rng.standard_normal(N)
    with jax.enable_x64(True):
        pred = np.asarray(lsa.lsa_predict(wkq, wpv, lsa.make_prompt(Xr, y, xq)))
    r = (pred - yq) ** 2
    assert abs(r.mean() - population_loss(wkq, wpv, **_kw(n, sx, sw, s2))) < 5 * r.std() / np.sqrt(N)


def test_gradients_float64():
    rng = np.random.default_rng(5)
    fn = population_loss_fn(**_kw(5, _spd(rng, 2), np.eye(2), 0.2))
    with jax.enable_x64(True):
        a, b = (jnp.asarray(rng.standard_normal((3, 3))) for _ in range(2))
        check_grads(jax.jit(fn), (a, b), order=1, modes=("rev",))


def test_stationary_point_is_closed_form():
    rng = np.random.default_rng(7)
    sx, sw = _spd(rng, 3), _spd(rng, 3)
    W_KQ, W_PV, val, grads = stationary_point(**_kw(8, sx, sw, 0.4))
    assert W_KQ[:3, :3] == pytest.approx(optimum.optimal_preconditioner(**_kw(8, sx, sw, 0.4)), abs=1e-10)
    assert val == pytest.approx(optimum.optimal_preconditioned_risk(**_kw(8, sx, sw, 0.4)), rel=1e-10)
    assert max(np.abs(g).max() for g in grads) < 1e-10


def test_bad_inputs_raise_naming_the_argument():
    Id = np.eye(2)
    with pytest.raises(ValueError, match="must be"):
        population_loss(np.eye(2), np.eye(3), **_kw(5, Id, Id, 0.1))
    with pytest.raises(ValueError, match="cov_x must be positive definite"):
        population_loss(np.eye(3), np.eye(3), **_kw(5, -Id, Id, 0.1))
    with pytest.raises(ValueError, match="at most"):
        population_loss_fn(**_kw(5, np.eye(9), np.eye(9), 0.1))
    with pytest.raises(ValueError, match="num_samples must"):
        population_loss(np.eye(3), np.eye(3), **_kw(0, Id, Id, 0.1))
    with pytest.raises(ValueError, match="W_KQ must be finite"):
        population_loss(np.full((3, 3), np.nan), np.eye(3), **_kw(5, Id, Id, 0.1))
    with pytest.raises(TypeError, match="concrete"):
        jax.jit(lambda s2: stationary_point(**_kw(5, Id, Id, s2)))(0.1)


# ---- jit / vmap / grad ------------------------------------------------------------------------------

SX = np.array([[1.2, 0.3], [0.3, 0.8]])
SW = np.array([[0.9, -0.1], [-0.1, 1.1]])
WKQ = np.array([[0.6, 0.1, 0.2], [-0.1, 0.5, 0.0], [0.3, -0.2, 0.1]])
WPV = np.array([[0.1, 0.0, 0.2], [0.0, 0.3, 0.0], [0.2, -0.1, 0.9]])


def test_population_loss_under_jit_vmap_grad_float64():
    eager = population_loss(WKQ, WPV, **_kw(6, SX, SW, 0.3))
    _, (g_kq, _) = population_loss_and_grad(WKQ, WPV, **_kw(6, SX, SW, 0.3))
    s2s = np.array([0.1, 0.3, 1.0])
    with jax.enable_x64(True):
        f = jax.jit(lambda a, b: population_loss(a, b, **_kw(6, SX, SW, 0.3)))
        assert float(f(jnp.asarray(WKQ), jnp.asarray(WPV))) == pytest.approx(eager, rel=1e-12)
        grad = jax.grad(lambda a: population_loss(a, jnp.asarray(WPV), **_kw(6, SX, SW, 0.3)))(jnp.asarray(WKQ))
        np.testing.assert_allclose(np.asarray(grad), g_kq, rtol=1e-10, atol=1e-12)
        vm = jax.vmap(lambda s2: population_loss(WKQ, WPV, **_kw(6, SX, SW, s2)))(jnp.asarray(s2s))
        np.testing.assert_allclose(np.asarray(vm), [population_loss(WKQ, WPV, **_kw(6, SX, SW, s)) for s in s2s],
                                   rtol=1e-12)
        d_s2 = jax.grad(lambda s2: population_loss(WKQ, WPV, **_kw(6, SX, SW, s2)))(0.3)
        value, (gk, _) = jax.jit(lambda a: population_loss_and_grad(a, WPV, **_kw(6, SX, SW, 0.3)))(jnp.asarray(WKQ))
        np.testing.assert_allclose(np.asarray(gk), g_kq, rtol=1e-10, atol=1e-12)
    h = 1e-6
    fd = (population_loss(WKQ, WPV, **_kw(6, SX, SW, 0.3 + h)) - population_loss(WKQ, WPV, **_kw(6, SX, SW, 0.3 - h)))
    assert float(d_s2) == pytest.approx(fd / (2 * h), rel=1e-6)
    e = np.zeros_like(WKQ)
    e[0, 1] = h
    fd = population_loss(WKQ + e, WPV, **_kw(6, SX, SW, 0.3)) - population_loss(WKQ - e, WPV, **_kw(6, SX, SW, 0.3))
    assert g_kq[0, 1] == pytest.approx(fd / (2 * h), rel=1e-6)


def test_population_loss_under_jit_and_vmap_float32():
    eager = population_loss(WKQ, WPV, **_kw(6, SX, SW, 0.3))
    f = jax.jit(lambda a, b: population_loss(a, b, **_kw(6, SX, SW, 0.3)))
    out = f(jnp.asarray(WKQ, jnp.float32), jnp.asarray(WPV, jnp.float32))
    assert out.dtype == jnp.float32 and float(out) == pytest.approx(eager, rel=1e-5)
    ns = jnp.arange(2, 6)
    vm = jax.vmap(lambda n: population_loss(WKQ, WPV, **_kw(n, SX, SW, 0.3)))(ns)
    assert np.asarray(vm) == pytest.approx([population_loss(WKQ, WPV, **_kw(int(n), SX, SW, 0.3)) for n in ns],
                                           rel=1e-5)


def test_population_loss_traced_invalid_arguments_give_nan():
    assert np.isnan(float(jax.jit(lambda s2: population_loss(WKQ, WPV, **_kw(6, SX, SW, s2)))(-0.5)))
    assert np.isnan(float(jax.jit(lambda n: population_loss(WKQ, WPV, **_kw(n, SX, SW, 0.3)))(0)))
    assert np.isnan(float(jax.jit(lambda c: population_loss(WKQ, WPV, **_kw(6, c, SW, 0.3)))(-jnp.asarray(SX))))


def test_old_positional_calls_warn_and_agree():
    Id = np.eye(2)
    with pytest.warns(DeprecationWarning, match="by position is deprecated"):
        old = population_loss(WKQ, WPV, 6, Id, Id, 0.3)
    assert old == population_loss(WKQ, WPV, **_kw(6, Id, Id, 0.3))
    with pytest.warns(DeprecationWarning):
        stationary_point(5, Id, Id, 0.3)
    with pytest.warns(DeprecationWarning, match="MAX_DIM"):
        from theory.icl.population import MAX_D
    assert MAX_D == 8
