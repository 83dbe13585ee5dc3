"""Minimizability gaps of ICML 2023, Section 4: reference values (stochastic labels with intercepts, deterministic
labels with bounded intercepts, linear scores), their properties, a planted error, and jit/vmap/grad."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from theory.compsum import (
    best_linear_risk,
    comp_sum_phi,
    comp_sum_psi,
    conditional_risk,
    min_conditional_risk,
    minimizability_gap_intercept,
    minimizability_gap_linear,
    mutual_information,
    predict,
    zero_one_gap_intercept,
)
from theory.compsum.gaps import _linear_objective

TAUS = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]
STOCHASTIC_PI = np.array([0.5, 0.5])
STOCHASTIC_P = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
LINEAR_X = np.array([-1.0, 0.0, 1.0])
LINEAR_PI = np.full(3, 1 / 3)
LINEAR_P = np.array([[0.8, 0.15, 0.05], [0.2, 0.6, 0.2], [0.05, 0.15, 0.8]])


# ------------------------------------------------------------------------------------------------
# intercept-only scores, stochastic labels (the example of docs/compsum.md#findings, finding 5)
# ------------------------------------------------------------------------------------------------

STOCHASTIC_GAPS = [  # tau, C*(pbar), M(H_const), M(H_const, Lambda = 0.5)
    (0.0, 1.9723949877, 0.3498146379, 0.3498146379),
    (0.5, 1.4429689326, 0.2694390914, 0.2599327672),
    (1.0, 1.0805276266, 0.2306454879, 0.1897315280),
    (1.5, 0.8252659876, 0.2383459087, 0.1342872036),
    (2.0, 0.6, 0.25, 0.0910438318),
    (3.0, 0.3, 0.125, 0.0358739301),
]


@pytest.mark.parametrize("tau,cstar_bar,gap,gap_box", STOCHASTIC_GAPS)
def test_stochastic_intercept_gaps_match_reference_values(tau, cstar_bar, gap, gap_box):
    pbar = STOCHASTIC_PI @ STOCHASTIC_P
    np.testing.assert_allclose(pbar, [0.4, 0.25, 0.35])
    assert float(min_conditional_risk(pbar, tau=tau)) == pytest.approx(cstar_bar, abs=1e-10)
    assert minimizability_gap_intercept(STOCHASTIC_PI, STOCHASTIC_P, tau=tau) == pytest.approx(gap, abs=1e-10)
    boxed = minimizability_gap_intercept(STOCHASTIC_PI, STOCHASTIC_P, tau=tau, box=0.5)
    assert boxed == pytest.approx(gap_box, abs=1e-10)


def test_stochastic_zero_one_gap_and_mutual_information():
    assert zero_one_gap_intercept(STOCHASTIC_PI, STOCHASTIC_P) == pytest.approx(0.25, abs=1e-15)
    mi = mutual_information(STOCHASTIC_PI, STOCHASTIC_P)
    assert mi == pytest.approx(0.2306454879, abs=1e-10)
    assert mi == pytest.approx(minimizability_gap_intercept(STOCHASTIC_PI, STOCHASTIC_P, tau=1.0), abs=1e-12)


def test_gap_is_not_monotone_in_tau_for_stochastic_labels():
    gaps = [minimizability_gap_intercept(STOCHASTIC_PI, STOCHASTIC_P, tau=tau) for tau in (1.0, 1.5, 2.0)]
    claim_non_increasing = all(a >= b for a, b in itertools.pairwise(gaps))
    assert not claim_non_increasing  # the planted claim "M_tau non-increasing in tau" is rejected
    assert gaps[0] == pytest.approx(0.230645, abs=1e-6) and gaps[1] == pytest.approx(0.238346, abs=1e-6)


# ------------------------------------------------------------------------------------------------
# deterministic labels, bounded intercepts
# ------------------------------------------------------------------------------------------------

DETERMINISTIC_BOX_GAPS = {  # Lambda: gaps for tau in (0, 0.5, 1, 1.5, 2)
    0.5: [1.2642411177, 0.8291375681, 0.5471675747, 0.3633467399, 0.2427835514],
    1.0: [1.7293294335, 1.2096211282, 0.8590675224, 0.6195441372, 0.4536527088],
    2.0: [1.9633687222, 1.4277997929, 1.0626359889, 0.8096448039, 0.6313298226],
}
# tau = 3: the closed form Phi(2) - Phi(2 e^{-2 Lambda}) (0.1103997769, 0.2541179597, 0.4097319467) assumes
# b = 0 is the best bounded intercept for the uniform marginal; Psi_3 is concave, so the vertex
# b = (Lambda, -Lambda, -Lambda) is better and the true gaps are smaller (docs/compsum.md#findings, finding 3).
DETERMINISTIC_BOX_GAPS_TAU3 = {0.5: 0.0956638137, 1.0: 0.2026677647, 2.0: 0.3100876105}
GAPS_TAU3_AT_ZERO_INTERCEPTS = {0.5: 0.1103997769, 1.0: 0.2541179597, 2.0: 0.4097319467}


@pytest.mark.parametrize("lam", list(DETERMINISTIC_BOX_GAPS))
def test_deterministic_box_gaps_match_reference_values_and_decrease_in_tau(lam):
    pi, P = np.full(3, 1 / 3), np.eye(3)
    got = [minimizability_gap_intercept(pi, P, tau=tau, box=lam) for tau in TAUS]
    np.testing.assert_allclose(got[:5], DETERMINISTIC_BOX_GAPS[lam], atol=1e-10)
    closed = [float(comp_sum_phi(2.0, tau=tau) - comp_sum_phi(2 * math.exp(-2 * lam), tau=tau)) for tau in TAUS[:5]]
    np.testing.assert_allclose(got[:5], closed, atol=1e-11)
    assert got[5] == pytest.approx(DETERMINISTIC_BOX_GAPS_TAU3[lam], abs=1e-10)
    assert all(a > b for a, b in itertools.pairwise(got))  # strictly decreasing in tau (deterministic)


@pytest.mark.parametrize("lam", list(DETERMINISTIC_BOX_GAPS_TAU3))
def test_tau3_gap_is_attained_at_a_vertex_not_at_zero_intercepts(lam):
    uniform = np.full(3, 1 / 3)
    at_zero = float(comp_sum_psi(1 / 3, tau=3.0))  # the risk of b = 0, wrongly assumed optimal
    vertex = float(conditional_risk(np.array([lam, -lam, -lam]), uniform, tau=3.0))
    assert vertex < at_zero - 0.01
    deterministic = float(comp_sum_phi(2 * math.exp(-2 * lam), tau=3.0))
    assert at_zero - deterministic == pytest.approx(GAPS_TAU3_AT_ZERO_INTERCEPTS[lam], abs=1e-10)
    assert vertex - deterministic == pytest.approx(DETERMINISTIC_BOX_GAPS_TAU3[lam], abs=1e-10)


# ------------------------------------------------------------------------------------------------
# linear scores with free bias
# ------------------------------------------------------------------------------------------------

LINEAR_GAPS = [  # tau, R*(H_lin), E C*, M(H_lin), M(H_const)
    (0.0, 1.4976978067, 1.4392304845, 0.0584673221, 0.5569176551),
    (0.5, 1.0730047280, 1.0292929792, 0.0437117488, 0.4318522036),
    (1.0, 0.7558434589, 0.7253364814, 0.0305069776, 0.3707308471),
]


@pytest.mark.parametrize("tau,risk,expected_cstar,gap_lin,gap_const", LINEAR_GAPS)
def test_linear_gap_matches_reference_values(tau, risk, expected_cstar, gap_lin, gap_const):
    fit = best_linear_risk(LINEAR_X, LINEAR_PI, LINEAR_P, tau=tau)
    assert fit.risk == pytest.approx(risk, abs=1e-9)
    assert fit.converged and not fit.upper_estimate
    assert float(LINEAR_PI @ min_conditional_risk(LINEAR_P, tau=tau)) == pytest.approx(expected_cstar, abs=1e-10)
    gap = minimizability_gap_linear(LINEAR_X, LINEAR_PI, LINEAR_P, tau=tau)
    assert gap == pytest.approx(gap_lin, abs=1e-9)
    assert minimizability_gap_intercept(LINEAR_PI, LINEAR_P, tau=tau) == pytest.approx(gap_const, abs=1e-10)
    assert gap <= minimizability_gap_intercept(LINEAR_PI, LINEAR_P, tau=tau)  # nested complete sets


def test_linear_zero_one_gap_is_zero():
    h = LINEAR_X[:, None] * np.array([-1.0, 0.0, 1.0]) + np.array([0.0, 0.5, 0.0])
    risk01 = float(LINEAR_PI @ (1 - LINEAR_P[np.arange(3), predict(h)]))
    assert risk01 == pytest.approx(0.266667, abs=1e-6)
    assert risk01 == pytest.approx(float(LINEAR_PI @ (1 - LINEAR_P.max(axis=1))), abs=1e-15)


def test_best_linear_risk_against_cvxpy():
    """Two CLARABEL solves (tau = 1 log-sum-exp; tau = 0.5 exp of a convex function)."""
    cp = pytest.importorskip("cvxpy")
    X = LINEAR_X[:, None]
    for tau in (1.0, 0.5):
        W, b = cp.Variable((1, 3)), cp.Variable(3)
        terms = []
        for i in range(3):
            h = X[i] @ W + b
            for y in range(3):
                w = cp.log_sum_exp(h) - h[y]
                loss = w if tau == 1.0 else (cp.exp((1 - tau) * w) - 1) / (1 - tau)
                terms.append(LINEAR_PI[i] * LINEAR_P[i, y] * loss)
        prob = cp.Problem(cp.Minimize(cp.sum(cp.hstack(terms))))
        prob.solve(solver=cp.CLARABEL)
        assert best_linear_risk(LINEAR_X, LINEAR_PI, LINEAR_P, tau=tau).risk == pytest.approx(prob.value, abs=1e-7)


def test_non_convex_tau_is_flagged_as_upper_estimate():
    fit = best_linear_risk(LINEAR_X, LINEAR_PI, LINEAR_P, tau=1.5, starts=3)
    assert fit.upper_estimate
    assert fit.weights.shape == (1, 3) and fit.bias.shape == (3,)
    h = LINEAR_X[:, None] @ fit.weights + fit.bias
    assert float(LINEAR_PI @ conditional_risk(h, LINEAR_P, tau=1.5)) == pytest.approx(fit.risk, abs=1e-12)


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0, 1.5, 3.0])
def test_linear_objective_gradient(tau):
    rng = np.random.default_rng(1)
    X, pi, P = rng.standard_normal((4, 2)), rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(3), size=4)
    theta = rng.standard_normal(9)
    err = optimize.check_grad(
        lambda th: _linear_objective(th, X, pi, P, tau)[0], lambda th: _linear_objective(th, X, pi, P, tau)[1], theta
    )
    assert err < 1e-6


# ------------------------------------------------------------------------------------------------
# gap properties
# ------------------------------------------------------------------------------------------------


@st.composite
def finite_distribution(draw, deterministic=False):
    m, n = draw(st.integers(1, 4)), draw(st.integers(2, 5))
    w = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=m, max_size=m)))
    pi = w / w.sum()
    if deterministic:
        P = np.eye(n)[draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))]
    else:
        P = np.array(draw(st.lists(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n), min_size=m, max_size=m)))
        P[:, 0] += 1e-3
        P = P / P.sum(axis=1, keepdims=True)
    return pi, P


@given(dist=finite_distribution(), tau=st.floats(0.0, 4.0), lam=st.one_of(st.none(), st.floats(0.0, 3.0)))
def test_gaps_nonnegative_and_logistic_is_mutual_information(dist, tau, lam):
    pi, P = dist
    assert minimizability_gap_intercept(pi, P, tau=tau, box=lam) >= -1e-10
    assert zero_one_gap_intercept(pi, P) >= -1e-15
    assert minimizability_gap_intercept(pi, P, tau=1.0) == pytest.approx(mutual_information(pi, P), abs=1e-12)


@given(dist=finite_distribution(deterministic=True), lam=st.one_of(st.none(), st.floats(0.05, 3.0)))
def test_deterministic_gap_non_increasing_in_tau(dist, lam):
    pi, P = dist
    gaps = [minimizability_gap_intercept(pi, P, tau=tau, box=lam) for tau in np.linspace(0.0, 4.0, 9)]
    assert all(a >= b - 1e-10 for a, b in itertools.pairwise(gaps))


@settings(max_examples=15)
@given(dist=finite_distribution(), tau=st.sampled_from([0.0, 0.5, 1.0]), seed=st.integers(0, 100))
def test_linear_gap_below_intercept_gap(dist, tau, seed):
    pi, P = dist
    X = np.random.default_rng(seed).standard_normal((pi.size, 2))
    gap_lin = minimizability_gap_linear(X, pi, P, tau=tau, starts=1)
    assert -1e-8 <= gap_lin <= minimizability_gap_intercept(pi, P, tau=tau) + 1e-8


# ------------------------------------------------------------------------------------------------
# bad inputs
# ------------------------------------------------------------------------------------------------


def test_bad_inputs():
    with pytest.raises(ValueError, match="tau"):
        minimizability_gap_intercept(STOCHASTIC_PI, STOCHASTIC_P, tau=-1.0)
    with pytest.raises(ValueError, match="pi"):
        minimizability_gap_intercept([0.6, 0.6], STOCHASTIC_P, tau=1.0)
    with pytest.raises(ValueError, match="pi"):
        mutual_information([], np.zeros((0, 3)))
    with pytest.raises(ValueError, match="P"):
        minimizability_gap_intercept(STOCHASTIC_PI, [[0.5, 0.6, 0.0], [1.0, 0.0, 0.0]], tau=1.0)
    with pytest.raises(ValueError, match="P"):
        zero_one_gap_intercept([1.0], STOCHASTIC_P)  # one weight, two rows
    with pytest.raises(ValueError, match="P"):
        zero_one_gap_intercept([1.0], [[1.0]])  # one class
    with pytest.raises(ValueError, match="box"):
        minimizability_gap_intercept(STOCHASTIC_PI, STOCHASTIC_P, tau=1.0, box=-0.1)
    with pytest.raises(ValueError, match="X"):
        best_linear_risk([], LINEAR_PI, LINEAR_P, tau=1.0)
    with pytest.raises(ValueError, match="X"):
        best_linear_risk([1.0, 2.0], LINEAR_PI, LINEAR_P, tau=1.0)
    with pytest.raises(ValueError, match="X"):
        best_linear_risk([1.0, np.nan, 0.0], LINEAR_PI, LINEAR_P, tau=1.0)
    with pytest.raises(ValueError, match="starts"):
        best_linear_risk(LINEAR_X, LINEAR_PI, LINEAR_P, tau=1.0, starts=0)
    with pytest.raises(ValueError, match="tau"):
        minimizability_gap_linear(LINEAR_X, LINEAR_PI, LINEAR_P, tau=float("nan"))


def test_best_linear_risk_takes_a_key_and_the_old_seed_still_works_and_warns():
    kw = dict(tau=1.5, starts=3)
    default = best_linear_risk(LINEAR_X, LINEAR_PI, LINEAR_P, **kw)
    with pytest.warns(DeprecationWarning, match="seed"):
        seeded = best_linear_risk(LINEAR_X, LINEAR_PI, LINEAR_P, seed=0, **kw)
    assert seeded.risk == default.risk  # no key: the generator of the old default seed=0
    keyed = best_linear_risk(LINEAR_X, LINEAR_PI, LINEAR_P, key=jax.random.key(1), **kw)
    assert keyed.risk == best_linear_risk(LINEAR_X, LINEAR_PI, LINEAR_P, key=jax.random.key(1), **kw).risk
    with pytest.warns(DeprecationWarning, match="seed"):
        gap = minimizability_gap_linear(LINEAR_X, LINEAR_PI, LINEAR_P, tau=1.0, seed=3)
    assert gap == pytest.approx(minimizability_gap_linear(LINEAR_X, LINEAR_PI, LINEAR_P, tau=1.0), abs=1e-9)
    with pytest.raises(TypeError, match="BFGS"):
        jax.jit(lambda P: minimizability_gap_linear(LINEAR_X, LINEAR_PI, P, tau=1.0))(LINEAR_P)


def test_closed_form_gaps_under_jit_vmap_and_grad(x64):
    pi, P = STOCHASTIC_PI, STOCHASTIC_P
    gap = jax.jit(lambda pi, P, a: minimizability_gap_intercept(pi, P, tau=a))
    for tau in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0):
        assert gap(pi, P, tau) == pytest.approx(minimizability_gap_intercept(pi, P, tau=tau), rel=1e-12, abs=1e-15)
    taus = jnp.asarray([0.0, 1.0, 1.5])
    np.testing.assert_allclose(jax.vmap(lambda a: minimizability_gap_intercept(pi, P, tau=a))(taus),
                               [minimizability_gap_intercept(pi, P, tau=float(a)) for a in taus], rtol=1e-12)
    assert jax.jit(mutual_information)(pi, P) == pytest.approx(mutual_information(pi, P), rel=1e-13)
    assert jax.jit(zero_one_gap_intercept)(pi, P) == pytest.approx(zero_one_gap_intercept(pi, P), rel=1e-14)
    h = 1e-6
    grad_tau = jax.jit(jax.grad(lambda a: minimizability_gap_intercept(pi, P, tau=a)))
    for tau in (0.5, 1.0, 1.5):
        g = grad_tau(tau)
        fd = (minimizability_gap_intercept(pi, P, tau=tau + h) - minimizability_gap_intercept(pi, P, tau=tau - h)) / (
            2 * h)
        assert g == pytest.approx(fd, rel=1e-6)
    v = np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]])  # keeps the rows of P on the simplex
    g = jax.jit(jax.grad(mutual_information, argnums=1))(pi, P)
    fd = (mutual_information(pi, P + h * v) - mutual_information(pi, P - h * v)) / (2 * h)
    assert float(np.sum(g * v)) == pytest.approx(fd, rel=1e-7)


def test_traced_invalid_gap_inputs_give_nan(x64):
    bad_P = np.array([[0.7, 0.2, 0.2], [0.1, 0.3, 0.6]])
    assert np.isnan(jax.jit(lambda P: minimizability_gap_intercept(STOCHASTIC_PI, P, tau=1.0))(bad_P))
    assert np.isnan(jax.jit(lambda a: minimizability_gap_intercept(STOCHASTIC_PI, STOCHASTIC_P, tau=a))(-1.0))
    assert np.isnan(jax.jit(mutual_information)(np.array([0.6, 0.6]), STOCHASTIC_P))
    with pytest.raises(TypeError, match="concrete"):
        jax.jit(lambda a: minimizability_gap_intercept(STOCHASTIC_PI, STOCHASTIC_P, tau=a, box=0.5))(1.0)
