"""Adversarial comp-sum objects (docs/compsum.md#adversarial-losses): the proven chain, the calibration, the
closed forms of the adversarial zero-one loss and of the smoothing term, and traced closed forms."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from theory.compsum import (
    adversarial_bound,
    adversarial_calibration_constant,
    adversarial_conditional_min,
    adversarial_margin_loss_lower,
    adversarial_zero_one_linear,
    chain_slacks,
    comp_sum_loss,
    comp_sum_phi,
    minimum_nu,
    ramp,
    smooth_adversarial_loss_linear,
    smooth_term_linear,
)

TAUS = (0.0, 0.5, 1.0, 1.5, 2.0)
GAMMAS = (0.05, 0.3, 1.0)
QS = (1, 2, math.inf)
TOL = 1e-12


def _random_linear(rng, n, d):
    return rng.standard_normal((n, d)), rng.standard_normal(n), rng.standard_normal(d)


def _unit_vectors(rng, k, d, q):
    g = rng.standard_normal((k, d))
    return g / np.linalg.norm(g, ord=q, axis=-1, keepdims=True)


# ----------------------------------------------------------------------------------------------
# the pointwise chain Phi^tau(1) l_gamma <= l~_lower <= l~_sm
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tau", TAUS)
@pytest.mark.parametrize("q", QS)
def test_chain_holds_with_minimum_nu(tau, q):
    num_samples = 3000 if q == 2 else 1000
    left, right = chain_slacks(
        key=jax.random.key(7), num_samples=num_samples, tau=tau, num_classes=3, rho=1.0, gamma=GAMMAS,
        nu=minimum_nu(num_classes=3, rho=1.0), q=q,
    )
    assert left.shape == right.shape == (num_samples,)
    assert left.min() >= -TOL, left.min()
    assert right.min() >= -TOL, right.min()
    # the left inequality is tight on some cases (l_gamma = 0 and l~ = 0, or exactly one ramp at 1)
    assert left.min() <= 1e-9


@pytest.mark.parametrize(("n", "rho", "tau"), [(2, 0.5, 0.0), (4, 2.0, 1.0), (5, 0.5, 1.5), (6, 1.0, 3.0)])
def test_chain_other_n_and_rho(n, rho, tau):
    left, right = chain_slacks(
        key=jax.random.key(11), num_samples=600, tau=tau, num_classes=n, rho=rho, gamma=GAMMAS,
        nu=minimum_nu(num_classes=n, rho=rho), q=2, dim=3,
    )
    assert left.min() >= -TOL
    assert right.min() >= -TOL


@pytest.mark.parametrize("tau", TAUS)
def test_chain_negative_control_nu_zero_fails(tau):
    """Planted error: without the smoothing term the right inequality must fail (the check can fail)."""
    left, right = chain_slacks(key=jax.random.key(7), num_samples=3000, tau=tau, num_classes=3, rho=1.0, gamma=GAMMAS,
                               nu=0.0, q=2)
    violations = np.sum(right < -TOL)
    assert 0.05 * 3000 < violations < 0.40 * 3000, violations
    assert right.min() < -0.1
    assert left.min() >= -TOL  # the left inequality does not involve nu


def test_nu_one_over_rho_is_not_enough():
    """nu = 1/rho (without sqrt(n-1)) is unproven and indeed fails: a fixed counterexample, n = 3."""
    W = np.array([[-0.481, -2.292, -0.927, 0.781], [0.549, 0.684, -0.973, -0.589], [-1.169, 0.353, 0.394, 1.476]])
    b = np.array([-0.269, -0.59, 0.526])
    x = np.array([0.234, 0.178, -1.005, 0.242])
    kw = dict(tau=0.0, rho=1.0, gamma=0.05, q=2)
    lower = adversarial_margin_loss_lower(W, b, x, 1, **kw)
    weak = smooth_adversarial_loss_linear(W, b, x, 1, nu=1.0, **kw)
    proven = smooth_adversarial_loss_linear(W, b, x, 1, nu=minimum_nu(num_classes=3, rho=1.0), **kw)
    assert lower > weak + 0.03  # a genuine violation: lower is a lower estimate of l~
    assert lower <= proven


def test_chain_slacks_is_deterministic_given_the_key():
    kw = dict(num_samples=50, tau=1.0, num_classes=3, rho=1.0, gamma=0.3, nu=1.5)
    a = chain_slacks(key=jax.random.key(3), **kw)
    b = chain_slacks(key=jax.random.key(3), **kw)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    k2 = chain_slacks(key=jax.random.PRNGKey(3), **kw)  # a raw uint32 key draws the same cases
    np.testing.assert_array_equal(a[1], k2[1])
    assert not np.array_equal(a[1], chain_slacks(key=jax.random.key(4), **kw)[1])


def test_chain_slacks_old_key_or_seed_and_n_classes_still_work_and_warn():
    kw = dict(num_samples=50, tau=1.0, rho=1.0, gamma=0.3, nu=1.5)
    new = chain_slacks(key=jax.random.key(5), num_classes=3, **kw)
    with pytest.warns(DeprecationWarning, match="key_or_seed"):
        by_key = chain_slacks(jax.random.key(5), num_classes=3, **kw)
    np.testing.assert_array_equal(new[1], by_key[1])
    with pytest.warns(DeprecationWarning, match="n_classes"), pytest.warns(DeprecationWarning, match="key_or_seed"):
        by_seed = chain_slacks(3, n_classes=3, **kw)
    with pytest.warns(DeprecationWarning):
        by_generator = chain_slacks(key_or_seed=np.random.default_rng(3), num_classes=3, **kw)
    np.testing.assert_array_equal(by_seed[1], by_generator[1])  # an int seed is numpy.random.default_rng(seed)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="key_or_seed"):
        chain_slacks(-1, num_classes=3, **kw)
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="key_or_seed"):
        chain_slacks("seed", num_classes=3, **kw)
    with pytest.raises(TypeError, match="key"):
        chain_slacks(3, key=jax.random.key(3), num_classes=3, **kw)


def test_margin_loss_lower_old_rng_argument_still_works_and_warns():
    W, b, x = np.eye(3, 2), np.zeros(3), np.array([0.3, -0.1])
    kw = dict(tau=1.0, rho=1.0, gamma=0.4, q=2, n_random=30)
    with pytest.warns(DeprecationWarning, match="rng"):
        old = adversarial_margin_loss_lower(W, b, x, 0, rng=7, **kw)
    assert old == adversarial_margin_loss_lower(W, b, x, 0, key=np.random.default_rng(7), **kw)
    with pytest.warns(DeprecationWarning, match="rng"), pytest.raises(ValueError, match="rng"):
        adversarial_margin_loss_lower(W, b, x, 0, rng=-3, **kw)
    # the default (no key) is a fixed generator: deterministic
    assert adversarial_margin_loss_lower(W, b, x, 0, **kw) == adversarial_margin_loss_lower(W, b, x, 0, **kw)


def test_old_positional_and_renamed_arguments_still_work_and_warn():
    with pytest.warns(DeprecationWarning, match="n_classes"):
        assert minimum_nu(n_classes=3, rho=0.5) == minimum_nu(num_classes=3, rho=0.5)
    with pytest.warns(DeprecationWarning, match="by position"):
        assert minimum_nu(3, 0.5) == minimum_nu(num_classes=3, rho=0.5)
    with pytest.warns(DeprecationWarning, match="by position"):
        assert adversarial_calibration_constant(1.0) == adversarial_calibration_constant(tau=1.0)
    with pytest.warns(DeprecationWarning, match="n_cases"):
        old = chain_slacks(key=jax.random.key(2), n_cases=4, tau=1.0, num_classes=3, rho=1.0, gamma=0.3, nu=1.0)
    new = chain_slacks(key=jax.random.key(2), num_samples=4, tau=1.0, num_classes=3, rho=1.0, gamma=0.3, nu=1.0)
    np.testing.assert_array_equal(old[1], new[1])


# ----------------------------------------------------------------------------------------------
# pointwise adversarial calibration Phi^tau(1) DeltaC_lgamma <= DeltaC_l~
# ----------------------------------------------------------------------------------------------


def _calibration_case(rng):
    n = int(rng.integers(2, 5))
    rho = float(rng.choice([0.5, 1.0]))
    gamma = float(rng.choice([0.1, 0.5]))
    tau = float(rng.choice([0.0, 0.5, 1.0, 1.5, 2.0, 3.0]))
    q = [1, 2, math.inf][int(rng.integers(3))]
    d = 3
    W, b, x = _random_linear(rng, n, d)
    W *= rng.choice([0.3, 1.0, 3.0])
    p = rng.dirichlet(np.ones(n))
    if rng.random() < 0.2:  # sparse p with exact zeros
        p[rng.integers(n)] = 0.0
        p /= p.sum()
    X = np.broadcast_to(x, (n, d))
    ys = np.arange(n)
    l01 = adversarial_zero_one_linear(W, b, X, ys, gamma=gamma, q=q)
    lt = adversarial_margin_loss_lower(W, b, X, ys, tau=tau, rho=rho, gamma=gamma, q=q, key=rng, n_random=20)
    d01 = p @ l01 - (1.0 - p.max())
    dlt = p @ lt - adversarial_conditional_min(p, tau=tau)
    return d01, dlt, adversarial_calibration_constant(tau=tau)


def test_adversarial_calibration_pointwise():
    rng = np.random.default_rng(2023)
    cases = np.array([_calibration_case(rng) for _ in range(1500)])
    d01, dlt, c = cases.T
    assert d01.min() >= -TOL  # C*_lgamma = 1 - max p is a lower bound
    assert dlt.min() >= -TOL  # C*_l~ is a lower bound even with the sampled (lower) l~
    slack = dlt - c * d01
    assert slack.min() >= -TOL, slack.min()
    assert np.sum(d01 > 0.05) > 300  # the check is not vacuous


def test_conditional_min_attained_by_locally_consistent_h():
    """W = 0 and biases ordered like p with gaps >= rho: C_l~(h) = C*_l~ and C_lgamma(h) = 1 - max p."""
    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(2, 6))
        rho, tau, gamma = 0.7, float(rng.choice(TAUS)), 0.4
        p = rng.dirichlet(np.ones(n))
        order = np.argsort(-p)
        b = np.empty(n)
        b[order] = -rho * np.arange(n)
        W, x, ys = np.zeros((n, 2)), np.broadcast_to(rng.standard_normal(2), (n, 2)), np.arange(n)
        lt = adversarial_margin_loss_lower(W, b, x, ys, tau=tau, rho=rho, gamma=gamma, q=2)
        l01 = adversarial_zero_one_linear(W, b, x, ys, gamma=gamma, q=2)
        np.testing.assert_allclose(p @ lt, adversarial_conditional_min(p, tau=tau), rtol=0, atol=1e-13)
        np.testing.assert_allclose(p @ l01, 1.0 - p.max(), rtol=0, atol=1e-15)


def test_conditional_min_matches_permutation_brute_force():
    rng = np.random.default_rng(5)
    for _ in range(40):
        n = int(rng.integers(2, 5))
        tau = float(rng.choice([0.0, 0.5, 1.0, 2.0, 3.0]))
        p = rng.dirichlet(np.ones(n))
        costs = comp_sum_phi(np.arange(n, dtype=float), tau=tau)
        brute = min(sum(p[y] * costs[r] for y, r in enumerate(perm)) for perm in itertools.permutations(range(n)))
        assert abs(adversarial_conditional_min(p, tau=tau) - brute) <= 1e-14
    assert adversarial_conditional_min([0.0, 1.0, 0.0], tau=0.5) == 0.0
    batch = adversarial_conditional_min(np.full((2, 3), 1 / 3), tau=2.0)
    np.testing.assert_allclose(batch, (0.0 + 0.5 + 2 / 3) / 3, rtol=1e-15)


# ----------------------------------------------------------------------------------------------
# l_gamma monotone in gamma; l_0 = 1[margin <= 0] (ties are errors)
# ----------------------------------------------------------------------------------------------


def _case_strategy():
    return st.tuples(st.integers(2, 5), st.integers(1, 4)).flatmap(
        lambda nd: st.tuples(
            hnp.arrays(np.float64, nd, elements=st.floats(-3, 3)),
            hnp.arrays(np.float64, nd[0], elements=st.floats(-3, 3)),
            hnp.arrays(np.float64, nd[1], elements=st.floats(-3, 3)),
            st.integers(0, nd[0] - 1),
        )
    )


@given(_case_strategy(), st.floats(0, 2), st.floats(0, 2), st.sampled_from(QS))
def test_zero_one_monotone_in_gamma(case, g1, g2, q):
    W, b, x, y = case
    lo, hi = sorted((g1, g2))
    assert adversarial_zero_one_linear(W, b, x, y, gamma=lo, q=q) <= adversarial_zero_one_linear(
        W, b, x, y, gamma=hi, q=q
    )


@given(_case_strategy(), st.booleans(), st.sampled_from(QS))
def test_zero_one_at_gamma_zero_is_margin_indicator(case, make_tie, q):
    W, b, x, y = case
    if make_tie:  # copy the true class into another class: an exact tie, which counts as an error
        other = (y + 1) % len(b)
        W[other], b[other] = W[y], b[y]
    s = W @ x + b
    margin = s[y] - np.max(np.delete(s, y))
    assert adversarial_zero_one_linear(W, b, x, y, gamma=0.0, q=q) == float(margin <= 0)
    if make_tie:
        assert adversarial_zero_one_linear(W, b, x, y, gamma=0.0, q=q) == 1.0


@given(_case_strategy(), st.sampled_from(TAUS), st.floats(0.1, 2))
def test_lower_estimate_at_gamma_zero_is_exact(case, tau, rho):
    W, b, x, y = case
    s = W @ x + b
    total = np.sum(np.delete(ramp(s[y] - s, rho=rho), y))
    got = adversarial_margin_loss_lower(W, b, x, y, tau=tau, rho=rho, gamma=0.0, q=2, n_random=5)
    assert abs(got - comp_sum_phi(total, tau=tau)) <= 1e-14 * (1 + got)


@pytest.mark.parametrize("q", QS)
def test_zero_one_closed_form_vs_sampling(q):
    """Sampled points never find an error the closed form misses, and the worst points reach it."""
    rng = np.random.default_rng(8)
    found = 0
    for _ in range(200):
        n, d = int(rng.integers(2, 5)), int(rng.integers(1, 4))
        W, b, x = _random_linear(rng, n, d)
        y, gamma = int(rng.integers(n)), float(rng.choice([0.1, 0.5, 1.0]))
        exact = adversarial_zero_one_linear(W, b, x, y, gamma=gamma, q=q)
        pts = x + gamma * _unit_vectors(rng, 400, d, q) * rng.random((400, 1)) ** (1 / d)
        s = pts @ W.T + b
        sampled = float(np.any(np.delete(s[:, y][:, None] - s, y, axis=1) <= 0))
        assert sampled <= exact
        found += sampled == exact == 1.0
        # the ramp-based lower estimate with a tiny rho sees the worst point: >= Phi^0(1) = 1 iff error
        lt = adversarial_margin_loss_lower(W, b, x, y, tau=0.0, rho=1e-9, gamma=gamma, q=q, n_random=0)
        assert lt >= exact - 1e-6
    assert found > 20


# ----------------------------------------------------------------------------------------------
# closed forms of the smoothing sup
# ----------------------------------------------------------------------------------------------


def _delta_bar_sup_sampled(W, b, x, y, pts):
    s = pts @ W.T + b
    s0 = W @ x + b
    return np.max(np.linalg.norm((s - s[:, y : y + 1]) - (s0 - s0[y]), axis=1))


def test_l2_closed_form_is_gamma_sigma_max():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n, d = int(rng.integers(2, 5)), 3
        W, b, x = _random_linear(rng, n, d)
        y, gamma = int(rng.integers(n)), float(rng.choice([0.05, 0.3, 1.0]))
        closed = smooth_term_linear(W, y, gamma=gamma, q=2)
        np.testing.assert_allclose(closed, gamma * np.linalg.svd(W - W[y], compute_uv=False)[0], rtol=1e-14)
        brute = _delta_bar_sup_sampled(W, b, x, y, x + gamma * _unit_vectors(rng, 20000, d, 2))
        assert brute <= closed + TOL
        assert brute >= closed * (1 - 1e-2)
        v = np.linalg.svd(W - W[y])[2][0]  # top right singular vector attains it
        assert abs(_delta_bar_sup_sampled(W, b, x, y, (x + gamma * v)[None]) - closed) <= 1e-12


def test_linf_vertex_enumeration():
    rng = np.random.default_rng(1)
    for _ in range(20):
        n, d = int(rng.integers(2, 5)), int(rng.integers(1, 6))
        W, b, x = _random_linear(rng, n, d)
        y, gamma = int(rng.integers(n)), float(rng.choice([0.05, 0.3, 1.0]))
        closed = smooth_term_linear(W, y, gamma=gamma, q=math.inf)
        verts = np.array(list(itertools.product([-1.0, 1.0], repeat=d)))
        all_vertices = _delta_bar_sup_sampled(W, b, x, y, x + gamma * verts)
        assert abs(all_vertices - closed) <= 1e-12 * (1 + closed)
        inside = x + gamma * rng.uniform(-1, 1, (5000, d))
        assert _delta_bar_sup_sampled(W, b, x, y, inside) <= closed + TOL
        surface = x + gamma * _unit_vectors(rng, 5000, d, math.inf)
        assert _delta_bar_sup_sampled(W, b, x, y, surface) <= closed + TOL


def test_l1_closed_form_is_max_column_norm():
    rng = np.random.default_rng(2)
    for _ in range(20):
        n, d = int(rng.integers(2, 5)), int(rng.integers(1, 6))
        W, b, x = _random_linear(rng, n, d)
        y, gamma = int(rng.integers(n)), float(rng.choice([0.05, 0.3, 1.0]))
        closed = smooth_term_linear(W, y, gamma=gamma, q=1)
        verts = np.concatenate([np.eye(d), -np.eye(d)])
        assert abs(_delta_bar_sup_sampled(W, b, x, y, x + gamma * verts) - closed) <= 1e-12 * (1 + closed)
        inside = x + gamma * _unit_vectors(rng, 5000, d, 1) * rng.random((5000, 1))
        assert _delta_bar_sup_sampled(W, b, x, y, inside) <= closed + TOL


def test_smooth_loss_decomposition_matches_jax_comp_sum(x64):
    rng = np.random.default_rng(4)
    n, d = 4, 3
    W, b = rng.standard_normal((n, d)), rng.standard_normal(n)
    X, ys = rng.standard_normal((6, d)), rng.integers(0, n, 6)
    settings = [(1.0, 0.5, 2.0, 0.3, 2), (0.0, 1.0, 1.8, 0.1, math.inf), (2.0, 2.0, 0.0, 1.0, 1)]
    for tau, rho, nu, gamma, q in settings:
        got = smooth_adversarial_loss_linear(W, b, X, ys, tau=tau, rho=rho, nu=nu, gamma=gamma, q=q)
        base = np.asarray(comp_sum_loss(jnp.asarray((X @ W.T + b) / rho), jnp.asarray(ys), tau=tau))
        term = smooth_term_linear(W, ys, gamma=gamma, q=q)
        assert got.shape == (6,)
        np.testing.assert_allclose(got, base + nu * term, rtol=1e-13, atol=1e-14)


def test_linf_dimension_limit():
    W, _b = np.ones((3, 17)), np.zeros(3)
    with pytest.raises(ValueError, match="d"):
        smooth_term_linear(W, 0, gamma=0.1, q=math.inf)
    with pytest.raises(ValueError, match="dim"):
        chain_slacks(key=jax.random.key(0), num_samples=2, tau=1.0, num_classes=3, rho=1.0, gamma=0.1, nu=1.0, q="inf",
                     dim=17)
    assert smooth_term_linear(W, 0, gamma=0.1, q=2) == 0.0  # other norms have no limit


# ----------------------------------------------------------------------------------------------
# ramp, constants, bound
# ----------------------------------------------------------------------------------------------


def test_ramp_values_and_inequalities():
    rho = 0.8
    z = np.linspace(-3, 3, 2001)
    r = ramp(z, rho=rho)
    assert np.all(r[z <= 0] == 1.0) and np.all(r[z >= rho] == 0.0)
    mid = (z > 0) & (z < rho)
    np.testing.assert_allclose(r[mid], 1 - z[mid] / rho, rtol=0, atol=1e-15)
    assert np.all(r <= np.exp(-z / rho) + 1e-15)
    assert np.all(np.abs(np.diff(r)) <= np.diff(z) / rho + 1e-15)


@pytest.mark.parametrize(
    ("tau", "value"), [(0.0, 1.0), (0.5, 0.828427), (1.0, 0.693147), (1.5, 0.585786), (2.0, 0.5), (3.0, 0.375)]
)
def test_calibration_constant_table(tau, value):
    assert abs(adversarial_calibration_constant(tau=tau) - value) < 5e-7


def test_bound_and_minimum_nu():
    np.testing.assert_allclose(adversarial_bound([0.0, 0.1, 0.25, 1.0, np.inf], tau=2.0), [0, 0.2, 0.5, 1, 1])
    assert adversarial_bound(0.3, tau=1.0) == pytest.approx(0.3 / math.log(2), rel=1e-15)
    assert minimum_nu(num_classes=3, rho=1.0) == math.sqrt(2)
    assert minimum_nu(num_classes=2, rho=0.25) == 4.0


# ----------------------------------------------------------------------------------------------
# bad inputs
# ----------------------------------------------------------------------------------------------

_W, _B, _X = np.eye(3, 2), np.zeros(3), np.zeros(2)
_KEY = jax.random.key(0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: adversarial_zero_one_linear(_W, _B, _X, 0, gamma=-0.1, q=2), "gamma"),
        (lambda: adversarial_zero_one_linear(_W, _B, _X, 0, gamma=float("nan"), q=2), "gamma"),
        (lambda: adversarial_zero_one_linear(_W, _B, _X, 0, gamma=0.1, q=3), "q"),
        (lambda: adversarial_zero_one_linear(_W, _B, _X, 0, gamma=0.1, q=0.5), "q"),
        (lambda: adversarial_zero_one_linear(_W, _B, _X, 3, gamma=0.1, q=2), "y"),
        (lambda: adversarial_zero_one_linear(_W, _B, _X, -1, gamma=0.1, q=2), "y"),
        (lambda: adversarial_zero_one_linear(_W, _B, np.zeros(3), 0, gamma=0.1, q=2), "x"),
        (lambda: adversarial_zero_one_linear(_W, np.zeros(2), _X, 0, gamma=0.1, q=2), "b"),
        (lambda: adversarial_zero_one_linear(np.zeros((1, 2)), np.zeros(1), _X, 0, gamma=0.1, q=2), "W"),
        (lambda: adversarial_zero_one_linear(np.zeros(3), _B, _X, 0, gamma=0.1, q=2), "W"),
        (lambda: adversarial_zero_one_linear(_W, _B, np.zeros((4, 2)), [0, 1], gamma=0.1, q=2), "y"),
        (lambda: adversarial_zero_one_linear(np.full((3, 2), np.inf), _B, _X, 0, gamma=0.1, q=2), "W"),
        (lambda: ramp(1.0, rho=0.0), "rho"),
        (lambda: ramp(1.0, rho=-1.0), "rho"),
        (lambda: adversarial_margin_loss_lower(_W, _B, _X, 0, tau=-0.5, rho=1, gamma=0.1, q=2), "tau"),
        (lambda: adversarial_margin_loss_lower(_W, _B, _X, 0, tau=1, rho=0, gamma=0.1, q=2), "rho"),
        (lambda: adversarial_margin_loss_lower(_W, _B, _X, 0, tau=1, rho=1, gamma=-1, q=2), "gamma"),
        (lambda: adversarial_margin_loss_lower(_W, _B, _X, 0, tau=1, rho=1, gamma=1, q=2, n_random=-1), "n_random"),
        (lambda: smooth_adversarial_loss_linear(_W, _B, _X, 0, tau=1, rho=1, nu=-1, gamma=0.1, q=2), "nu"),
        (lambda: smooth_adversarial_loss_linear(_W, _B, _X, 0, tau=1, rho=-2, nu=1, gamma=0.1, q=2), "rho"),
        (lambda: smooth_adversarial_loss_linear(_W, _B, _X, 0, tau=-1, rho=1, nu=1, gamma=0.1, q=2), "tau"),
        (lambda: smooth_adversarial_loss_linear(_W, _B, _X, 0, tau=1, rho=1, nu=1, gamma=0.1, q="l2"), "q"),
        (lambda: smooth_term_linear(_W, 0, gamma=-1, q=2), "gamma"),
        (lambda: adversarial_conditional_min([0.5, 0.6], tau=1), "p"),
        (lambda: adversarial_conditional_min([1.0], tau=1), "p"),
        (lambda: adversarial_conditional_min([0.5, 0.5], tau=-1), "tau"),
        (lambda: adversarial_calibration_constant(tau=-0.1), "tau"),
        (lambda: adversarial_bound(-0.1, tau=1), "eps"),
        (lambda: adversarial_bound(float("nan"), tau=1), "eps"),
        (lambda: minimum_nu(num_classes=1, rho=1.0), "num_classes"),
        (lambda: minimum_nu(num_classes=3, rho=0.0), "rho"),
        (lambda: chain_slacks(key=_KEY, num_samples=0, tau=1, num_classes=3, rho=1, gamma=0.1, nu=1), "num_samples"),
        (lambda: chain_slacks(key=_KEY, num_samples=5, tau=1, num_classes=3, rho=1, gamma=[0.1, -0.2], nu=1), "gamma"),
        (lambda: chain_slacks(key=_KEY, num_samples=5, tau=1, num_classes=3, rho=1, gamma=0.1, nu=-1), "nu"),
    ],
)
def test_bad_inputs_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: adversarial_zero_one_linear(_W, _B, _X, 0.0, gamma=0.1, q=2), "y"),
        (lambda: adversarial_zero_one_linear(_W, _B, _X, True, gamma=0.1, q=2), "y"),
        (lambda: adversarial_zero_one_linear(_W.astype(bool), _B, _X, 0, gamma=0.1, q=2), "W"),
        (lambda: adversarial_zero_one_linear(_W, _B, ["a", "b"], 0, gamma=0.1, q=2), "x"),
        (lambda: ramp(1.0, rho="1"), "rho"),
        (lambda: minimum_nu(num_classes=2.5, rho=1.0), "num_classes"),
        (lambda: chain_slacks(key="seed", num_samples=5, tau=1, num_classes=3, rho=1, gamma=0.1, nu=1), "key"),
    ],
)
def test_bad_types_raise_type_error(call, match):
    with pytest.raises(TypeError, match=match):
        call()


# ----------------------------------------------------------------------------------------------
# the closed forms run under jit, vmap and grad
# ----------------------------------------------------------------------------------------------


def test_calibration_closed_forms_agree_under_jit_and_vmap(x64):
    taus = np.array([0.0, 0.5, 1.5, 2.0, 3.0])
    eager = np.array([adversarial_calibration_constant(tau=t) for t in taus])
    np.testing.assert_allclose(jax.vmap(lambda t: adversarial_calibration_constant(tau=t))(jnp.asarray(taus)), eager,
                               rtol=1e-14)
    p = np.array([0.2, 0.5, 0.3])
    cmin = jax.jit(lambda p, tau: adversarial_conditional_min(p, tau=tau))
    for tau in taus:
        np.testing.assert_allclose(cmin(p, tau), adversarial_conditional_min(p, tau=tau), rtol=1e-14)
    eps = np.array([0.0, 0.1, 0.25, 2.0])
    np.testing.assert_allclose(jax.jit(lambda e: adversarial_bound(e, tau=2.0))(eps), adversarial_bound(eps, tau=2.0))
    np.testing.assert_allclose(jax.jit(lambda r: minimum_nu(num_classes=3, rho=r))(0.5),
                               minimum_nu(num_classes=3, rho=0.5), rtol=1e-15)
    z = np.linspace(-1, 2, 7)
    np.testing.assert_allclose(jax.jit(lambda z: ramp(z, rho=0.5))(z), ramp(z, rho=0.5))


def test_calibration_closed_forms_gradients_match_finite_differences(x64):
    h = 1e-6
    for tau in (0.3, 1.5, 2.5):
        g = jax.grad(lambda t: adversarial_calibration_constant(tau=t))(tau)
        fd = (adversarial_calibration_constant(tau=tau + h) - adversarial_calibration_constant(tau=tau - h)) / (2 * h)
        assert g == pytest.approx(fd, rel=1e-7)
        p = np.array([0.2, 0.5, 0.3])
        g = jax.grad(lambda t, p=p: adversarial_conditional_min(p, tau=t))(tau)
        fd = (adversarial_conditional_min(p, tau=tau + h) - adversarial_conditional_min(p, tau=tau - h)) / (2 * h)
        assert g == pytest.approx(fd, rel=1e-7)
    g = jax.grad(lambda r: minimum_nu(num_classes=4, rho=r))(0.5)
    assert g == pytest.approx(-math.sqrt(3) / 0.25, rel=1e-12)


def test_traced_invalid_calibration_inputs_give_nan(x64):
    assert np.isnan(jax.jit(lambda t: adversarial_calibration_constant(tau=t))(-1.0))
    assert np.isnan(jax.jit(lambda t: adversarial_bound(0.1, tau=t))(-1.0))
    assert np.all(np.isnan(jax.jit(lambda p: adversarial_conditional_min(p, tau=1.0))(jnp.array([0.6, 0.6]))))
    assert np.isnan(jax.jit(lambda r: minimum_nu(num_classes=3, rho=r))(0.0))
    assert np.all(np.isnan(jax.jit(lambda r: ramp(0.1, rho=r))(-1.0)))
