"""The exact population loss: agreement with the risk of y-linear layers, Monte Carlo, gradients, bad inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from theory.icl import lsa, optimum
from theory.icl.population import population_loss, population_loss_and_grad, population_loss_fn, stationary_point


def _spd(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.3 * np.eye(d)


def test_matches_risk_of_preconditioner_on_gd_layers():
    rng = np.random.default_rng(0)
    for d in (1, 2, 3):
        sx, sw, G = _spd(rng, d), _spd(rng, d), rng.standard_normal((d, d))
        W = lsa.gd_params(1.0, d, G.T, dtype=np.float64)  # Gamma = G
        assert population_loss(*W, 7, sx, sw, 0.3) == pytest.approx(optimum.risk_of_preconditioner(G, 7, sx, sw, 0.3),
                                                                    rel=1e-12)


def test_sum_form_same_optimal_loss():
    eta_sum = optimum.optimal_step_size_sum(10, 3, 0.5)
    W = lsa.gd_params(eta_sum, 3, dtype=np.float64)
    assert population_loss(*W, 10, np.eye(3), np.eye(3), 0.5, normalize=False) == pytest.approx(
        optimum.optimal_risk(10, 3, 0.5), rel=1e-12)


def test_rank_one_trap_value_and_stationarity():  # spec A7: c = 0, A = 0, Gamma = u b^T
    n, d, s2 = 10, 4, 0.25
    eta = optimum.optimal_step_size(n, d, s2)
    W_KQ, W_PV = np.zeros((d + 1, d + 1)), np.zeros((d + 1, d + 1))
    W_KQ[d, 0] = np.sqrt(eta)  # b = sqrt(eta) e1
    W_PV[d, 0] = np.sqrt(eta)  # u = sqrt(eta) e1, c = 0
    val, grads = population_loss_and_grad(W_KQ, W_PV, n, np.eye(d), np.eye(d), s2)
    assert val == pytest.approx(optimum.rank_one_trap_risk(n, d, s2), rel=1e-12)
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
    assert abs(r.mean() - population_loss(wkq, wpv, n, sx, sw, s2)) < 5 * r.std() / np.sqrt(N)


def test_gradients_float64():
    rng = np.random.default_rng(5)
    fn = population_loss_fn(5, _spd(rng, 2), np.eye(2), 0.2)
    with jax.enable_x64(True):
        a, b = (jnp.asarray(rng.standard_normal((3, 3))) for _ in range(2))
        check_grads(jax.jit(fn), (a, b), order=1, modes=("rev",))


def test_stationary_point_is_closed_form():
    rng = np.random.default_rng(7)
    sx, sw = _spd(rng, 3), _spd(rng, 3)
    W_KQ, W_PV, val, grads = stationary_point(8, sx, sw, 0.4)
    assert W_KQ[:3, :3] == pytest.approx(optimum.optimal_preconditioner(8, sx, sw, 0.4), abs=1e-10)
    assert val == pytest.approx(optimum.optimal_preconditioned_risk(8, sx, sw, 0.4), rel=1e-10)
    assert max(np.abs(g).max() for g in grads) < 1e-10


def test_bad_inputs():
    Id = np.eye(2)
    with pytest.raises(ValueError, match="must be"):
        population_loss(np.eye(2), np.eye(3), 5, Id, Id, 0.1)
    with pytest.raises(ValueError, match="cov_x must be positive definite"):
        population_loss(np.eye(3), np.eye(3), 5, -Id, Id, 0.1)
    with pytest.raises(ValueError, match="at most"):
        population_loss_fn(5, np.eye(9), np.eye(9), 0.1)
    with pytest.raises(ValueError, match="n must"):
        population_loss(np.eye(3), np.eye(3), 0, Id, Id, 0.1)
    with pytest.raises(ValueError, match="finite"):
        population_loss(np.full((3, 3), np.nan), np.eye(3), 5, Id, Id, 0.1)
