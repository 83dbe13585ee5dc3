"""Conditional risks, their infima and regrets: reference values, the infimum property, the pointwise bound of
ICML 2023, Theorem 3.1, the tightness constructions, tie-breaking, and jit/vmap/grad of the closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from theory.compsum import (
    comp_sum_psi,
    conditional_risk,
    consistency_transform,
    min_conditional_risk,
    predict,
    surrogate_regret,
    zero_one_regret,
)

TAUS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
_TAU_ST = st.one_of(st.sampled_from([0.0, 1.0, 2.0]), st.floats(0.0, 4.0))


@st.composite
def _simplex(draw, n, sparse=True):
    """p in the simplex: normalise, then set the last non-zero entry to 1 - sum(others)."""
    w = draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 1.0)))
    if sparse:
        w = np.where(draw(hnp.arrays(np.bool_, n)), 0.0, w)
    if w.sum() == 0.0:
        w[draw(st.integers(0, n - 1))] = 1.0
    p = w / w.sum()
    k = np.flatnonzero(p)[-1]
    p[k] = 0.0
    p[k] = max(1.0 - p.sum(), 0.0)
    return p


@st.composite
def _logits(draw, n, bound=30.0):
    h = draw(hnp.arrays(np.float64, n, elements=st.floats(-bound, bound)))
    if draw(st.booleans()):  # duplicate the max: an exact tie
        h[draw(st.integers(0, n - 1))] = h.max()
    return h


@st.composite
def _instance(draw):
    n = draw(st.integers(2, 8))
    return draw(_logits(n)), draw(_simplex(n))


# ------------------------------------------------------------------------------------------------
# Tie-breaking
# ------------------------------------------------------------------------------------------------


def test_predict_breaks_ties_toward_highest_index():
    assert int(predict([0.0, 0.0, -1.0])) == 1
    assert int(predict(np.zeros(5))) == 4
    assert int(predict([3.0, 1.0, 3.0, 2.0])) == 2
    assert int(predict([1.0, 2.0, 0.0])) == 1  # no tie: the ordinary argmax
    np.testing.assert_array_equal(predict(np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0], [5.0, 0.0, 0.0]])), [1, 2, 0])
    assert predict(np.zeros((2, 3, 4))).shape == (2, 3)


def test_tight_instance_needs_the_highest_index_tie_break():
    """p = (0.75, 0.25, 0), h = (0, 0, -40): the rule picks label 1, so Delta C_01 = t = 0.5."""
    p = np.array([0.75, 0.25, 0.0])
    h = np.array([0.0, 0.0, -40.0])
    assert int(predict(h)) == 1
    assert float(zero_one_regret(h, p)) == 0.5
    for tau in (0.0, 0.5, 1.0):
        ratio = float(surrogate_regret(h, p, tau=tau)) / float(consistency_transform(0.5, tau=tau, num_classes=3))
        assert 1.0 - 1e-12 <= ratio <= 1.0 + 1e-9  # the O(e^{-40}) gap is below rounding
    # The planted lowest-index rule (np.argmax) predicts label 0 and loses the example.
    lowest = int(np.argmax(h))
    assert lowest == 0 and p.max() - p[lowest] == 0.0


# ------------------------------------------------------------------------------------------------
# reference values of the complete C*
# ------------------------------------------------------------------------------------------------

MIN_RISK_VALUES = {  # p = (0.5, 0.3, 0.2), 15 digits
    0.0: 1.89695014983179, 0.5: 1.38459445460898, 1.0: 1.02965301406457, 1.5: 0.767117199406205, 2.0: 0.5,
    3.0: 0.25}


@pytest.mark.parametrize("tau", TAUS)
def test_min_conditional_risk_matches_reference_values(tau):
    p = np.array([0.5, 0.3, 0.2])
    np.testing.assert_allclose(min_conditional_risk(p, tau=tau), MIN_RISK_VALUES[tau], rtol=1e-12)
    np.testing.assert_allclose(min_conditional_risk(p, tau=tau, box=np.inf), MIN_RISK_VALUES[tau], rtol=1e-12)
    batch = np.stack([p, p[::-1], np.array([0.2, 0.5, 0.3])])  # permutation invariant, broadcast
    np.testing.assert_allclose(min_conditional_risk(batch, tau=tau), MIN_RISK_VALUES[tau], rtol=1e-12)
    assert min_conditional_risk(batch.reshape(3, 1, 3), tau=tau).shape == (3, 1)


# ------------------------------------------------------------------------------------------------
# C* is the infimum, vanishes at vertices, is concave, and equals Psi(1/n) at uniform
# ------------------------------------------------------------------------------------------------


@settings(max_examples=200)
@given(_instance(), _TAU_ST)
def test_min_risk_below_every_risk(inst, tau):
    h, p = inst
    c = float(conditional_risk(h, p, tau=tau))
    c_star = float(min_conditional_risk(p, tau=tau))
    assert c_star >= -1e-15
    assert c_star <= c + 1e-12 * (1.0 + c)
    assert float(surrogate_regret(h, p, tau=tau)) >= -1e-12 * (1.0 + c)


@pytest.mark.parametrize("tau", TAUS + (0.3, 1.2, 1.9, 2.5))
@pytest.mark.parametrize("n", [2, 3, 8])
def test_min_risk_vertices_and_uniform(tau, n):
    eye = np.eye(n)
    assert np.all(np.abs(min_conditional_risk(eye, tau=tau)) <= 1e-15)
    uniform = np.full(n, 1.0 / n)
    psi = comp_sum_psi(1.0 / n, tau=tau)
    # Psi(1/n) is the risk of uniform (all tied) scores ...
    np.testing.assert_allclose(conditional_risk(np.zeros(n), uniform, tau=tau), psi, rtol=1e-12)
    if tau <= 2.0:
        # ... and the infimum for uniform p while Psi is convex (tau <= 2; linear at 2).
        np.testing.assert_allclose(min_conditional_risk(uniform, tau=tau), psi, rtol=1e-12)
    else:
        # For tau > 2 Psi is concave: the infimum (1 - 1/n)/(tau - 1) sits at a vertex, below Psi(1/n).
        c_star = float(min_conditional_risk(uniform, tau=tau))
        np.testing.assert_allclose(c_star, (1 - 1 / n) / (tau - 1), rtol=1e-14)
        assert c_star < psi


@settings(max_examples=150)
@given(st.integers(2, 8).flatmap(lambda n: st.tuples(_simplex(n), _simplex(n))), _TAU_ST)
def test_min_risk_is_concave(pq, tau):
    p, q = pq
    mid = float(min_conditional_risk((p + q) / 2, tau=tau))
    ends = (float(min_conditional_risk(p, tau=tau)) + float(min_conditional_risk(q, tau=tau))) / 2
    assert mid >= ends - 1e-12 * (1.0 + abs(mid))


@settings(max_examples=100)
@given(st.integers(2, 8).flatmap(lambda n: _simplex(n, sparse=False)), st.floats(0.0, 2.0, exclude_max=True))
def test_closed_form_minimiser_attains_min_risk(p, tau):
    """S* proportional to p^{1/(2-tau)} (full support, tau < 2) attains C*; perturbing it does not help."""
    if p.min() < 1e-6:  # keep log p moderate
        p = (p + 1e-3) / (1 + 1e-3 * len(p))
    logp = np.log(p)
    h = (logp - logp.max()) / (2.0 - tau)  # relative to the mode: moderate numbers even for tau -> 2
    c_star = float(min_conditional_risk(p, tau=tau))
    np.testing.assert_allclose(float(conditional_risk(h, p, tau=tau)), c_star, rtol=1e-11, atol=1e-14)
    rng = np.random.default_rng(0)
    for _ in range(3):
        assert float(conditional_risk(h + 1e-3 * rng.normal(size=len(p)), p, tau=tau)) >= c_star - 1e-13


@pytest.mark.parametrize("tau", [2.0, 2.5, 3.0])
def test_min_risk_approached_at_the_mode_for_tau_at_least_two(tau):
    """For tau >= 2 the infimum (1 - max p)/(tau - 1) is approached as S -> e_{argmax p}."""
    p = np.array([0.2, 0.5, 0.3])
    c_star = float(min_conditional_risk(p, tau=tau))
    np.testing.assert_allclose(c_star, 0.5 / (tau - 1.0), rtol=1e-15)
    risks = [float(conditional_risk(np.array([0.0, k, 0.0]), p, tau=tau)) for k in (1.0, 5.0, 20.0, 40.0)]
    assert np.all(np.diff(risks) < 0) and risks[-1] - c_star < 1e-15 + 1e-12
    assert all(r > c_star for r in risks[:-1])


@pytest.mark.parametrize("delta", [1e-6, 1e-8, 1e-10, 1e-11])
def test_min_risk_continuous_at_tau_one(delta):
    """C*_{1 +- delta}(p) -> H(p) with no cancellation blow-up (the closed form loses eps/|1 - tau|)."""
    p = np.array([0.5, 0.3, 0.2])
    entropy = float(min_conditional_risk(p, tau=1.0))
    for tau in (1.0 - delta, 1.0 + delta):
        assert abs(float(min_conditional_risk(p, tau=tau)) - entropy) <= 2 * delta
        # The minimiser h = log(p)/(2 - tau) is attained: its regret is ~0, never negative.
        regret = float(surrogate_regret(np.log(p) / (2.0 - tau), p, tau=tau))
        assert abs(regret) <= 1e-14


# ------------------------------------------------------------------------------------------------
# the pointwise H-consistency theorem T(Delta C_01) <= Delta C_tau
# ------------------------------------------------------------------------------------------------


def _slack(h, p, tau):
    n = len(p)
    d01 = float(zero_one_regret(h, p))
    dct = float(surrogate_regret(h, p, tau=tau))
    c = float(conditional_risk(h, p, tau=tau))
    lhs = float(consistency_transform(max(d01 - 1e-12, 0.0), tau=tau, num_classes=n))
    return dct + 1e-9 * (1.0 + c) - lhs


@settings(max_examples=300)
@given(_instance(), _TAU_ST)
def test_pointwise_theorem(inst, tau):
    h, p = inst
    assert _slack(h, p, tau) >= 0.0


@pytest.mark.parametrize("tau", TAUS)
@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_pointwise_theorem_on_the_random_instance_protocol(tau, n):
    """The sampling of docs/compsum.md#random-instances (Dirichlet p, Gaussian logits at several scales, 10%
    exact ties), vectorised."""
    rng = np.random.default_rng(int(100 * tau) + n)
    m = 2000
    alpha = rng.choice([0.1, 0.5, 1.0, 5.0], size=m)
    p = rng.gamma(alpha[:, None] * np.ones(n))
    p = np.where(p.sum(1, keepdims=True) > 0, p, 1.0)
    p /= p.sum(1, keepdims=True)
    h = rng.choice([0.01, 0.3, 1.0, 3.0], size=m)[:, None] * rng.normal(size=(m, n))
    tie = rng.random(m) < 0.1
    h[tie, rng.integers(0, n, size=m)[tie]] = h[tie].max(axis=1)
    d01 = zero_one_regret(h, p)
    dct = surrogate_regret(h, p, tau=tau)
    c = conditional_risk(h, p, tau=tau)
    lhs = consistency_transform(np.maximum(d01 - 1e-12, 0.0), tau=tau, num_classes=n)
    assert np.all(lhs <= dct + 1e-9 * (1.0 + c))
    assert np.any(d01 > 0.1)  # the sample is not trivial


# ------------------------------------------------------------------------------------------------
# the zero-one regret
# ------------------------------------------------------------------------------------------------


@settings(max_examples=200)
@given(_instance())
def test_zero_one_regret_range(inst):
    h, p = inst
    d = float(zero_one_regret(h, p))
    assert 0.0 <= d <= p.max()
    yhat = int(predict(h))
    assert (d == 0.0) == (p[yhat] == p.max())
    assert d == p.max() - p[yhat]


# ------------------------------------------------------------------------------------------------
# Planted errors: the n-free GCE transform and the n-free MAE transform
# ------------------------------------------------------------------------------------------------


def test_binary_gce_transform_is_violated_for_three_classes():
    tau, n = 1.97, 3
    p = np.array([0.4, 0.4, 0.2])
    h = np.zeros(3)
    assert int(predict(h)) == 2
    t = float(zero_one_regret(h, p))
    np.testing.assert_allclose(t, 0.2, rtol=1e-14)
    dct = float(surrogate_regret(h, p, tau=tau))
    np.testing.assert_allclose(dct, 0.065879, atol=1e-6)
    # The binary formula 2^{1-tau}(A-1)/(tau-1) is T_{tau,2}: it claims more than the instance has.
    wrong = float(consistency_transform(t, tau=tau, num_classes=2))
    np.testing.assert_allclose(wrong, 0.092262, atol=1e-6)
    assert wrong > dct + 0.02
    right = float(consistency_transform(t, tau=tau, num_classes=n))
    np.testing.assert_allclose(right, 0.062261, atol=1e-6)
    assert right <= dct


def test_n_free_mae_transform_is_violated():
    p = np.array([0.35, 0.35, 0.30])
    h = np.zeros(3)
    t = float(zero_one_regret(h, p))
    dct = float(surrogate_regret(h, p, tau=2.0))
    np.testing.assert_allclose(t, 0.05, rtol=1e-12)
    np.testing.assert_allclose(dct, 0.05 / 3, rtol=1e-12)
    assert t / 2 > dct + 0.008  # the planted T = t/2 is violated by 0.0083
    right = float(consistency_transform(t, tau=2.0, num_classes=3))
    assert right <= dct + 1e-15  # tight: equality up to rounding
    np.testing.assert_allclose(right, dct, rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# tightness constructions
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tau, value", [(0.0, 0.133974596), (0.5, 0.125627761), (1.0, 0.130812036)])
def test_tight_instance_regret_values_for_tau_at_most_one(tau, value):
    p = np.array([0.75, 0.25, 0.0])
    h = np.array([0.0, 0.0, -40.0])
    assert float(zero_one_regret(h, p)) == 0.5
    np.testing.assert_allclose(float(surrogate_regret(h, p, tau=tau)), value, atol=1e-9)


@pytest.mark.parametrize("tau", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("n", [2, 3, 10])
@pytest.mark.parametrize("t", [0.1, 0.5, 0.9])
def test_tightness_tau_at_most_one(tau, n, t):
    p = np.zeros(n)
    p[:2] = (1 + t) / 2, (1 - t) / 2
    h = np.full(n, -40.0)
    h[:2] = 0.0
    assert np.isclose(float(zero_one_regret(h, p)), t, rtol=1e-14)
    ratio = float(surrogate_regret(h, p, tau=tau)) / float(consistency_transform(t, tau=tau, num_classes=n))
    assert 1.0 - 1e-12 <= ratio <= 1.0 + 1e-9


@pytest.mark.parametrize("n", [3, 5, 10])
def test_tightness_mae(n):
    for t in np.linspace(0.01, 1.0 / (n - 1), 5):
        a = (1 + t) / n
        p = np.full(n, a)
        p[-1] = a - t
        h = np.zeros(n)
        assert int(predict(h)) == n - 1
        np.testing.assert_allclose(float(zero_one_regret(h, p)), t, rtol=1e-12)
        dct = float(surrogate_regret(h, p, tau=2.0))
        np.testing.assert_allclose(dct, t / n, rtol=1e-10)
        np.testing.assert_allclose(float(consistency_transform(t, tau=2.0, num_classes=n)), dct, rtol=1e-10)


def test_tight_mae_instance_regret_values():
    p = np.array([0.35, 0.35, 0.30])
    np.testing.assert_allclose(float(surrogate_regret(np.zeros(3), p, tau=2.0)), 0.0166667, atol=1e-7)
    t = 1 / 9
    a = (1 + t) / 10
    p = np.array([a] * 9 + [a - t])
    np.testing.assert_allclose(float(surrogate_regret(np.zeros(10), p, tau=2.0)), 0.0111111, atol=1e-7)


# ------------------------------------------------------------------------------------------------
# Conditional risk details
# ------------------------------------------------------------------------------------------------


def test_conditional_risk_zero_times_infinity_is_zero():
    p = np.array([1.0, 0.0, 0.0])
    h = np.array([0.0, 2000.0, -1.0])  # loss of label 1 is finite, of label 0 infinite for tau < 1
    assert float(conditional_risk(h, p, tau=0.0)) == np.inf
    h = np.array([2000.0, 0.0, -1.0])
    for tau in (0.0, 0.5):
        assert float(conditional_risk(h, p, tau=tau)) == 0.0  # 0 * inf on the other labels counts 0


def test_conditional_risk_broadcasts():
    rng = np.random.default_rng(3)
    h = rng.normal(size=(4, 5, 3))
    p = rng.dirichlet(np.ones(3), size=(4, 5))
    out = conditional_risk(h, p, tau=0.5)
    assert out.shape == (4, 5)
    np.testing.assert_allclose(out[2, 3], conditional_risk(h[2, 3], p[2, 3], tau=0.5), rtol=1e-15)
    assert zero_one_regret(h, p).shape == (4, 5)
    assert surrogate_regret(h, p, tau=0.5).shape == (4, 5)


# ------------------------------------------------------------------------------------------------
# Bad inputs
# ------------------------------------------------------------------------------------------------

_P = np.array([0.5, 0.3, 0.2])
_H = np.zeros(3)


@pytest.mark.parametrize(
    "p, h, match",
    [
        (np.array([0.5, 0.3, 0.3]), _H, "sum to 1"),
        (np.array([1.2, -0.2, 0.0]), _H, "non-negative"),
        (np.array([0.5, np.nan, 0.5]), _H, "finite"),
        (np.array([0.5, 0.5]), _H, "same number of classes"),
        (np.array([1.0]), np.zeros(1), ">= 2"),
    ],
)
def test_bad_distributions(p, h, match):
    for call in (
        lambda: conditional_risk(h, p, tau=1.0),
        lambda: surrogate_regret(h, p, tau=1.0),
        lambda: zero_one_regret(h, p),
    ):
        with pytest.raises(ValueError, match=match):
            call()
    if match != "same number of classes":
        with pytest.raises(ValueError, match="p must"):
            min_conditional_risk(p, tau=1.0)


@pytest.mark.parametrize("tau, exc", [(-0.5, ValueError), (float("nan"), ValueError), (float("inf"), ValueError),
                                      (None, TypeError)])
def test_bad_tau(tau, exc):
    for call in (
        lambda: conditional_risk(_H, _P, tau=tau),
        lambda: min_conditional_risk(_P, tau=tau),
        lambda: surrogate_regret(_H, _P, tau=tau),
    ):
        with pytest.raises(exc, match="tau"):
            call()


def test_bad_box():
    with pytest.raises(ValueError, match="box"):
        min_conditional_risk(_P, tau=1.0, box=-1.0)


def test_logits_nan_and_plus_inf_raise_minus_inf_is_a_masked_class():
    p = np.array([0.5, 0.5, 0.0])
    for bad in (np.array([0.0, np.nan, 0.0]), np.array([0.0, np.inf, 0.0])):
        with pytest.raises(ValueError, match="logits"):
            conditional_risk(bad, p, tau=1.0)
    masked = np.array([0.3, -0.2, -np.inf])
    np.testing.assert_allclose(conditional_risk(masked, p, tau=1.0), conditional_risk(masked[:2], p[:2], tau=1.0),
                               rtol=1e-15)
    assert float(zero_one_regret(masked, p)) == 0.0


# ------------------------------------------------------------------------------------------------
# jit, vmap and grad of the closed forms
# ------------------------------------------------------------------------------------------------

_MIN_RISK = jax.jit(lambda p, a: min_conditional_risk(p, tau=a))
_RISK = jax.jit(lambda h, p, a: conditional_risk(h, p, tau=a))
_GRAD_MIN_RISK = jax.jit(jax.grad(lambda p, a: min_conditional_risk(p, tau=a), argnums=(0, 1)))


def test_min_conditional_risk_agrees_with_eager_under_jit_and_vmap(x64):
    P = np.array([[0.5, 0.3, 0.2], [1.0, 0.0, 0.0], [0.2, 0.2, 0.6], [1 / 3, 1 / 3, 1 / 3]])
    for tau in (0.0, 0.5, 1.0 - 1e-9, 1.0, 1.5, 2.0 - 1e-6, 2.0, 3.0):
        np.testing.assert_allclose(_MIN_RISK(P, tau), min_conditional_risk(P, tau=tau), rtol=1e-13, atol=1e-15)
    taus = jnp.asarray([0.0, 0.7, 1.0, 1.6, 2.5])
    V = jax.vmap(lambda a: min_conditional_risk(P, tau=a))(taus)
    for row, a in zip(V, np.asarray(taus), strict=True):
        np.testing.assert_allclose(row, min_conditional_risk(P, tau=float(a)), rtol=1e-13, atol=1e-15)
    H = np.array([[0.3, -1.0, 2.0], [0.0, 0.0, 0.0], [5.0, 1.0, -3.0], [0.1, 0.2, 0.3]])
    for tau in (0.0, 1.0, 1.5):
        np.testing.assert_allclose(_RISK(H, P, tau), conditional_risk(H, P, tau=tau), rtol=1e-13)
        np.testing.assert_allclose(jax.jit(lambda h, p, a=tau: surrogate_regret(h, p, tau=a))(H, P),
                                   surrogate_regret(H, P, tau=tau), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(jax.jit(zero_one_regret)(H, P), zero_one_regret(H, P))
    np.testing.assert_array_equal(jax.jit(predict)(H), predict(H))


def test_min_conditional_risk_gradients_match_finite_differences(x64):
    """In p (along a direction that stays on the simplex) and in tau, including tau = 1 (the entropy, where the
    closed form divides 0 by 0) and either side of tau = 2."""
    p = np.array([0.5, 0.3, 0.2])
    v = np.array([1.0, -2.0, 1.0])  # sums to 0
    h = 1e-6
    for tau in (0.0, 0.5, 1.0, 1.5, 1.9, 2.5):
        d_p, d_tau = _GRAD_MIN_RISK(p, tau)
        fd_p = (min_conditional_risk(p + h * v, tau=tau) - min_conditional_risk(p - h * v, tau=tau)) / (2 * h)
        assert float(d_p @ v) == pytest.approx(fd_p, rel=1e-7)
        if tau > 0:
            fd_tau = (min_conditional_risk(p, tau=tau + h) - min_conditional_risk(p, tau=tau - h)) / (2 * h)
            assert float(d_tau) == pytest.approx(fd_tau, rel=1e-7)
    # the simulator's sweep is float32: finite values and gradients there too
    d_p, d_tau = jax.jit(jax.grad(lambda p, a: min_conditional_risk(p, tau=a), argnums=(0, 1)))(
        jnp.asarray(p, jnp.float32), jnp.float32(1.0))
    assert np.all(np.isfinite(d_p)) and np.isfinite(d_tau)


def test_traced_invalid_inputs_of_the_risks_give_nan(x64):
    P = np.array([[0.5, 0.3, 0.2], [0.6, 0.6, 0.0], [1.0, 0.0, 0.0], [0.3, 0.3, 0.4]])
    out = _MIN_RISK(P, 1.5)
    out = np.asarray(out)
    assert np.isnan(out[1]) and not np.any(np.isnan(out[[0, 2, 3]]))  # the row that is not a distribution
    assert np.all(np.isnan(_MIN_RISK(P, -1.0)))
    assert np.all(np.isnan(_RISK(np.zeros((4, 3)), P, -0.5)))


def test_box_bounded_min_risk_cannot_be_traced():
    with pytest.raises(TypeError, match="concrete"):
        jax.jit(lambda p: min_conditional_risk(p, tau=1.0, box=0.5))(jnp.array([0.5, 0.3, 0.2]))
