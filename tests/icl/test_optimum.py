"""Closed forms of ``theory.icl.optimum``: spec test vectors (A9), invariants (A6) and bad inputs (A7)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory.icl import optimum as opt

ISO = [(10, 4, 0.25, 0.655737704918, 0.065573770492, 1.627049180328, 3.594262295082),
       (20, 5, 1, 0.740740740741, 0.037037037037, 2.296296296296, 5.259259259259),
       (5, 3, 0, 0.555555555556, 0.111111111111, 1.333333333333, 2.444444444444),
       (1, 1, 0, 0.333333333333, 0.333333333333, 0.666666666667, 0.666666666667),
       (50, 10, 4, 0.769230769231, 0.015384615385, 6.307692307692, 13.230769230769),
       (100, 20, 0.5, 0.823045267490, 0.008230452675, 4.039094650206, 19.676954732510)]


@pytest.mark.parametrize("n,d,s2,eta,eta_sum,risk,trap", ISO)
def test_spec_a92_isotropic_vectors(n, d, s2, eta, eta_sum, risk, trap):
    assert opt.optimal_step_size(n, d, s2) == pytest.approx(eta, abs=1e-11)
    assert opt.optimal_step_size_sum(n, d, s2) == pytest.approx(eta_sum, abs=1e-11)
    assert opt.optimal_risk(n, d, s2) == pytest.approx(risk, abs=1e-11)
    assert opt.rank_one_trap_risk(n, d, s2) == pytest.approx(trap, abs=1e-11)
    Id = np.eye(d)
    assert opt.optimal_preconditioner(n, Id, Id, s2) == pytest.approx(eta * Id, abs=1e-11)
    assert opt.risk_of_preconditioner(eta * Id, n, Id, Id, s2) == pytest.approx(risk, abs=1e-10)
    assert opt.optimal_preconditioned_risk(n, Id, Id, s2) == pytest.approx(risk, abs=1e-10)


def test_spec_a93_risk_of_step():
    etas = [0, 0.5, 1, 10 / 14.25, 10 / 15]
    assert opt.risk_of_step_size(etas, 10, 4, 0.25) == pytest.approx([4.25, 1.775, 2.35, 1.639966, 1.627778], abs=1e-6)


def test_spec_a95_axis_aligned():
    sx = np.diag([0.5, 1, 2.5])
    g = opt.optimal_preconditioner(10, sx, np.eye(3), 0.25)
    assert np.diag(g) == pytest.approx([1.025641, 0.655738, 0.314961], abs=1e-6)
    assert opt.optimal_preconditioned_risk(10, sx, np.eye(3), 0.25) == pytest.approx(1.369348, abs=1e-6)
    # paper's case Sw = Sx^-1 (spec prints the d = 4 numbers here; the d = 3 values are these)
    g = opt.optimal_preconditioner(10, sx, np.linalg.inv(sx), 0.25)
    assert g == pytest.approx(10 / 14.25 * np.diag([2, 1, 0.4]), abs=1e-12)
    assert opt.optimal_preconditioned_risk(10, sx, np.linalg.inv(sx), 0.25) == pytest.approx(
        opt.optimal_risk(10, 3, 0.25), abs=1e-12)


def test_scaled_isotropic_model():  # spec A3.2: Sx = s Id, Sw = tau2 Id
    g = opt.optimal_preconditioner(10, 0.25 * np.eye(4), 2 * np.eye(4), 0.25)
    assert g == pytest.approx(2.580645 * np.eye(4), abs=1e-6)
    r = opt.optimal_preconditioned_risk(10, 0.25 * np.eye(4), 2 * np.eye(4), 0.25)
    assert r == pytest.approx(0.959677, abs=1e-6)


def test_relu_vectors():
    for n, d, s2, g, r in ((10, 4, 0, 0.476190476190, 0.380952380952), (20, 3, 0.25, 0.625, 0.59375),
                           (1, 1, 0, 0.166666666667, 0.458333333333)):
        assert opt.relu_optimal_step_size(n, d, s2) == pytest.approx(g, abs=1e-11)
        assert opt.relu_optimal_risk(n, d, s2) == pytest.approx(r, abs=1e-11)


def _spd(rng, d, cond=100.0):
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return q @ np.diag(np.geomspace(1, cond, d) / np.sqrt(cond) * rng.uniform(0.5, 2)) @ q.T


iso = st.tuples(st.integers(1, 500), st.integers(1, 50), st.floats(0, 100))


@given(iso)
def test_isotropic_invariants(p):  # spec A6.1-A6.2
    n, d, s2 = p
    eta, r = opt.optimal_step_size(n, d, s2), opt.optimal_risk(n, d, s2)
    assert 0 < eta < 1 and eta == pytest.approx(n * opt.optimal_step_size_sum(n, d, s2))
    assert opt.optimal_step_size(n + 1, d, s2) > eta and opt.optimal_step_size(n, d + 1, s2) < eta
    assert s2 <= r <= s2 + d
    assert opt.optimal_risk(n + 1, d, s2) < r < opt.optimal_risk(n, d + 1, s2)
    assert opt.optimal_risk(n, d, s2 + 1) > r
    assert opt.nonlinear_optimal_step_size(n, d, s2, mu1=d, kappa=d * (d + 2)) == pytest.approx(eta)  # A6.8


@given(st.integers(1, 200), st.integers(1, 6), st.floats(0, 10), st.integers(0, 2**31))
def test_general_invariants(n, d, s2, seed):  # spec A6.3-A6.7
    rng = np.random.default_rng(seed)
    sx, sw = _spd(rng, d), _spd(rng, d)
    g = opt.optimal_preconditioner(n, sx, sw, s2)
    r = opt.risk_of_preconditioner(g, n, sx, sw, s2)
    assert r == pytest.approx(opt.optimal_preconditioned_risk(n, sx, sw, s2), rel=1e-9, abs=1e-9)
    delta = rng.standard_normal((d, d)) * 0.1
    M, _ = opt.moment_matrices(n, sx, sw, s2)
    excess = opt.risk_of_preconditioner(g + delta, n, sx, sw, s2) - r
    assert excess == pytest.approx(np.trace(sx @ delta.T @ M @ delta), rel=1e-6, abs=1e-9)
    assert excess > 0
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    g_rot = opt.optimal_preconditioner(n, q @ sx @ q.T, q @ sw @ q.T, s2)
    assert g_rot == pytest.approx(q @ g @ q.T, rel=1e-6, abs=1e-9)
    a = rng.uniform(0.3, 3)
    assert opt.optimal_preconditioner(n, a**2 * sx, sw / a**2, s2) == pytest.approx(g / a**2, rel=1e-6, abs=1e-9)
    sinv = np.linalg.inv(sx)
    g_paper = opt.optimal_preconditioner(n, sx, 0.5 * (sinv + sinv.T), s2)
    assert g_paper @ sx == pytest.approx(opt.optimal_step_size(n, d, s2) * np.eye(d), rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("fn", [opt.optimal_step_size, opt.optimal_risk, opt.optimal_step_size_sum,
                                opt.relu_optimal_step_size, opt.rank_one_trap_risk])
def test_bad_scalar_inputs(fn):
    with pytest.raises(ValueError, match="n must"):
        fn(0, 3, 0.1)
    with pytest.raises(ValueError, match="d must"):
        fn(5, 0, 0.1)
    with pytest.raises(ValueError, match="noise_var"):
        fn(5, 3, -0.1)
    with pytest.raises(ValueError, match="noise_var"):
        fn(5, 3, float("nan"))
    with pytest.raises(TypeError, match="n must be an integer"):
        fn(5.5, 3, 0.1)


def test_bad_covariances():
    Id = np.eye(2)
    with pytest.raises(ValueError, match="cov_x must be positive definite"):
        opt.optimal_preconditioner(5, np.diag([1.0, -1.0]), Id, 0.1)
    with pytest.raises(ValueError, match="cov_w must be symmetric"):
        opt.optimal_preconditioner(5, Id, np.array([[1.0, 0.5], [0.0, 1.0]]), 0.1)
    with pytest.raises(ValueError, match="cov_w must have shape"):
        opt.optimal_preconditioner(5, Id, np.eye(3), 0.1)
    with pytest.raises(ValueError, match="square"):
        opt.risk_of_preconditioner(Id, 5, np.ones(2), Id, 0.1)
    with pytest.raises(ValueError, match="gamma must have shape"):
        opt.risk_of_preconditioner(np.eye(3), 5, Id, Id, 0.1)
    with pytest.raises(ValueError, match="noise_var"):
        opt.optimal_preconditioner(5, Id, Id, -1.0)
    with pytest.raises(ValueError, match="n must"):
        opt.risk_of_preconditioner(Id, 0, Id, Id, 0.1)
