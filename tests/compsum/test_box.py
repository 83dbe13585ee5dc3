"""Best conditional risks: complete and box-bounded (NeurIPS 2023, bounded hypothesis sets): reference values,
the infimum and its minimiser, independent 1-D and cvxpy references, planted errors, and the t0 threshold."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import optimize

from theory.compsum import (
    box_minimizer_softmax,
    comp_sum_phi,
    comp_sum_psi,
    conditional_risk,
    min_conditional_risk,
    min_conditional_risk_box,
    t0_threshold,
    zero_one_regret,
)

TAUS = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]


# ------------------------------------------------------------------------------------------------
# strategies
# ------------------------------------------------------------------------------------------------


@st.composite
def simplex(draw, n_min=2, n_max=6, sparse=True):
    n = draw(st.integers(n_min, n_max))
    x = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    if sparse and draw(st.booleans()):
        x[draw(st.integers(0, n - 1))] = 0.0
    if x.sum() <= 1e-3:
        x[0] = 1.0
    p = x / x.sum()
    p[-1] = max(0.0, 1.0 - p[:-1].sum())
    return p


taus_lt2 = st.one_of(st.sampled_from([0.0, 1.0, 1.5]), st.floats(0.0, 1.99))
taus_all = st.one_of(st.sampled_from([0.0, 1.0, 2.0, 3.0]), st.floats(0.0, 4.0))
lams = st.floats(0.01, 5.0)


def golden_reference(p, tau, lam):
    """The 1-D convex search of box.py's module docstring, written independently: brentq for c, bounded Brent
    over ell."""
    p = np.asarray(p, float)
    n, big, r = p.size, math.exp(2 * lam), 1.0 / (2.0 - tau)
    q = np.where(p > 0, p / p.max(), 0.0) ** r
    zeros = int(np.sum(p == 0))
    lo, hi = 1.0 / ((n - zeros) * big + zeros), 1.0 / n

    def softmax_at(ell):
        def excess(log_c):
            return np.clip(math.exp(log_c) * q, ell, big * ell).sum() - 1.0

        top = min(700.0, 60.0 + 40.0 * r)
        if excess(-60.0) >= 0:
            return np.full(n, 1.0 / n)
        if excess(top) <= 0:
            return np.where(q > 0, big * ell, ell)
        return np.clip(math.exp(optimize.brentq(excess, -60.0, top, xtol=1e-15)) * q, ell, big * ell)

    def g(ell):
        s = softmax_at(ell)
        return float(np.sum(np.where(p > 0, p * comp_sum_psi(s, tau=tau), 0.0)))

    res = optimize.minimize_scalar(g, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13})
    return min(res.fun, g(lo), g(hi))


# ------------------------------------------------------------------------------------------------
# complete case
# ------------------------------------------------------------------------------------------------

MIN_RISK_VALUES = [  # p = (0.5, 0.3, 0.2)
    1.89695014983179, 1.38459445460898, 1.02965301406457, 0.767117199406205, 0.5, 0.25]


@pytest.mark.parametrize("tau,expected", list(zip(TAUS, MIN_RISK_VALUES, strict=True)))
def test_complete_cstar_matches_reference_values(tau, expected):
    assert float(min_conditional_risk([0.5, 0.3, 0.2], tau=tau)) == pytest.approx(expected, abs=1e-13)
    # box = inf is the complete case, through the box entry point too
    assert float(min_conditional_risk_box([0.5, 0.3, 0.2], tau=tau, lam=math.inf)) == pytest.approx(expected, abs=1e-13)


@given(p=simplex(), tau=taus_all, data=st.data())
def test_complete_cstar_is_a_lower_bound_and_concave(p, tau, data):
    n = p.size
    tol = 1e-12
    h = np.array(data.draw(st.lists(st.floats(-30, 30), min_size=n, max_size=n)))
    cstar = float(min_conditional_risk(p, tau=tau))
    assert cstar <= float(conditional_risk(h, p, tau=tau)) + 1e-9 * (1 + abs(cstar)) + tol
    q = data.draw(simplex(n, n))
    mid = float(min_conditional_risk((p + q) / 2, tau=tau))
    ends = 0.5 * float(min_conditional_risk(p, tau=tau) + min_conditional_risk(q, tau=tau))
    assert mid >= ends - 1e-9 - tol
    assert float(min_conditional_risk(np.eye(n)[0], tau=tau)) == pytest.approx(0.0, abs=tol)
    uniform = float(min_conditional_risk(np.full(n, 1.0 / n), tau=tau))
    if tau <= 2.0:  # not for every tau: for tau > 2 C* = (1 - 1/n)/(tau - 1) < Psi(1/n)
        assert uniform == pytest.approx(float(comp_sum_psi(1.0 / n, tau=tau)), rel=1e-12, abs=tol)
    else:
        assert uniform == pytest.approx((1 - 1 / n) / (tau - 1), rel=1e-12) and uniform < float(
            comp_sum_psi(1.0 / n, tau=tau)
        )


def _mp_cstar(p, tau):
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    p = [mpmath.mpf(float(x)) for x in p]
    tau = mpmath.mpf(tau)
    if tau == 1:
        return -sum(x * mpmath.log(x) for x in p if x > 0)
    s = sum(x ** (1 / (2 - tau)) for x in p if x > 0)
    return (s ** (2 - tau) - 1) / (1 - tau)


CLOSE_TO_ONE_OR_TWO = [1 - 1e-11, 1 - 1e-7, 1 + 1e-9, 1 + 1e-5, 1.9999, 1.999999]
PRECISION_CASES = [([0.5, 0.3, 0.2], tau) for tau in CLOSE_TO_ONE_OR_TWO] + [([0.85, 0.15, 0.0], 1.9999)]


@pytest.mark.parametrize("p,tau", PRECISION_CASES)
def test_complete_cstar_through_box_entry_is_accurate_near_tau_one_and_two(p, tau):
    """lam = inf (used by exact.py and gaps.py) evaluates C* without cancellation or underflow."""
    got = float(min_conditional_risk_box(p, tau=tau, lam=math.inf))
    assert got == pytest.approx(float(_mp_cstar(p, tau)), abs=2e-15)


def test_complete_cstar_is_accurate_near_tau_one_and_two():
    """The direct closed form once lost ~eps/|1-tau| near tau = 1 and underflowed (0.85 off) at tau = 1.9999."""
    for p, tau in PRECISION_CASES:
        assert float(min_conditional_risk(p, tau=tau)) == pytest.approx(float(_mp_cstar(p, tau)), abs=1e-12)


# ------------------------------------------------------------------------------------------------
# box case: reference values, the tie point, deterministic closed form, oracles
# ------------------------------------------------------------------------------------------------

BOX_MIN_RISK_VALUES = {
    ((0.7, 0.2, 0.1), 0.5): [1.560324452, 1.1359404731, 0.8514447139, 0.6611442401, 0.5331357134, 0.3770933837],
    ((0.5, 0.3, 0.2), 0.2): [1.8985269211, 1.3935004177, 1.0499749787, 0.8112210932, 0.6431916099, 0.4338640341],
    ((0.6, 0.4, 0.0), 1.0): [1.1251944036, 0.913316672, 0.7491684736, 0.618570381, 0.4852055831, 0.3119271435],
    ((1.0, 0.0, 0.0), 1.0): [0.2706705665, 0.2544804869, 0.2395447662, 0.2257553245, 0.2130139578, 0.1903264847],
    ((1.0,) + (0.0,) * 9, 0.5): [3.3109149705, 2.1525486008, 1.4611501717, 1.0367361386, 0.7680306833, 0.4730951181],
}


@pytest.mark.parametrize("key", list(BOX_MIN_RISK_VALUES))
def test_box_cstar_matches_reference_values(key):
    p, lam = key
    got = [float(min_conditional_risk_box(p, tau=tau, lam=lam)) for tau in TAUS]
    np.testing.assert_allclose(got, BOX_MIN_RISK_VALUES[key], rtol=0, atol=1e-10)  # 10 decimals
    # the risks.min_conditional_risk entry point dispatches here
    assert float(min_conditional_risk(p, tau=1.0, box=lam)) == got[2]


def test_box_cstar_batched_rows_match_single_rows():
    ps = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.6, 0.4, 0.0], [1.0, 0.0, 0.0]])
    for tau in TAUS:
        batch = min_conditional_risk_box(ps.reshape(2, 2, 3), tau=tau, lam=0.5)
        single = [float(min_conditional_risk_box(p, tau=tau, lam=0.5)) for p in ps]
        np.testing.assert_allclose(batch.ravel(), single, rtol=0, atol=1e-15)


@pytest.mark.parametrize("n,lam", [(3, 1.0), (10, 0.5), (4, 3.0), (2, 0.01), (6, 0.2)])
@pytest.mark.parametrize("tau", TAUS + [1.9, 1.999])
def test_deterministic_box_cstar_closed_form(n, lam, tau):
    p = np.eye(n)[n - 1]
    expected = float(comp_sum_phi((n - 1) * math.exp(-2 * lam), tau=tau))
    assert float(min_conditional_risk_box(p, tau=tau, lam=lam)) == pytest.approx(expected, abs=1e-12)


def test_box_tie_point_is_optimal():
    p, h = np.array([0.55, 0.45, 0.0]), np.array([0.25, 0.25, -0.25])
    cstar = float(min_conditional_risk_box(p, tau=1.0, lam=0.25))
    assert cstar == pytest.approx(0.9580200879, abs=1e-10)
    assert float(conditional_risk(h, p, tau=1.0)) - cstar == pytest.approx(0.0, abs=1e-13)
    assert float(zero_one_regret(h, p)) == pytest.approx(0.1, abs=1e-15)


@pytest.mark.parametrize(
    "p,tau,lam",
    [
        ([0.7, 0.2, 0.1], 0.5, 0.5),
        ([0.6, 0.4, 0.0], 0.0, 1.0),
        ([0.4, 0.3, 0.2, 0.1, 0.0], 1.2, 0.3),
        ([0.5, 0.3, 0.2], 1.97, 0.2),
        ([0.25, 0.25, 0.25, 0.25], 1.5, 0.7),
        ([0.9, 0.05, 0.05], 1.0, 2.0),
        ([0.34, 0.33, 0.33], 0.3, 0.05),
    ],
)
def test_box_cstar_matches_independent_1d_reference(p, tau, lam):
    ours = float(min_conditional_risk_box(p, tau=tau, lam=lam))
    ref = golden_reference(p, tau, lam)
    # ours is exact; the bounded-Brent reference can only be higher (by its tolerance)
    assert ref - 1e-8 <= ours <= ref + 1e-12


@given(p=simplex(), tau=taus_all, lam=lams, data=st.data())
def test_box_minimizer_is_feasible_and_attains_cstar(p, tau, lam, data):
    s = box_minimizer_softmax(p, tau=tau, lam=lam)
    assert s.sum() == pytest.approx(1.0, abs=1e-12)
    assert s.max() <= math.exp(2 * lam) * s.min() * (1 + 1e-10)
    logits = np.log(s) - 0.5 * (np.log(s).max() + np.log(s).min())
    assert np.max(np.abs(logits)) <= lam * (1 + 1e-9) + 1e-12
    cstar = float(min_conditional_risk_box(p, tau=tau, lam=lam))
    assert float(conditional_risk(logits, p, tau=tau)) == pytest.approx(cstar, rel=1e-9, abs=1e-12)
    # no score vector in the box does better (minimality)
    h = np.clip(np.array(data.draw(st.lists(st.floats(-6, 6), min_size=p.size, max_size=p.size))), -lam, lam)
    assert cstar <= float(conditional_risk(h, p, tau=tau)) + 1e-10 * (1 + cstar)


@given(p=simplex(), tau=taus_all, lam=lams)
def test_box_cstar_properties(p, tau, lam):
    n = p.size
    box = float(min_conditional_risk_box(p, tau=tau, lam=lam))
    assert box >= float(min_conditional_risk(p, tau=tau)) - 1e-12
    assert float(min_conditional_risk_box(p, tau=tau, lam=lam * 1.5)) <= box + 1e-12  # non-increasing in lam
    assert float(min_conditional_risk_box(p, tau=tau, lam=0.0)) == pytest.approx(
        float(comp_sum_psi(1.0 / n, tau=tau)), rel=1e-13
    )
    e = np.eye(n)[0]
    assert float(min_conditional_risk_box(e, tau=tau, lam=lam)) == pytest.approx(
        float(comp_sum_phi((n - 1) * math.exp(-2 * lam), tau=tau)), rel=1e-11, abs=1e-13
    )


@given(p=simplex(sparse=False), tau=st.floats(0.0, 1.99))
def test_inactive_box_equals_complete(p, tau):
    if p.min() <= 1e-3:
        return
    lam = 0.5 * (math.log(p.max() / p.min()) / (2.0 - tau)) + 1e-6  # (pmax/pmin)^{1/(2-tau)} <= e^{2 lam}
    assert float(min_conditional_risk_box(p, tau=tau, lam=lam)) == pytest.approx(
        float(min_conditional_risk(p, tau=tau)), rel=1e-11, abs=1e-13
    )


def test_box_cstar_against_cvxpy():
    """Three CLARABEL solves (S-space twice, h-space once for the logistic loss), as in proofs/compsum.py."""
    cp = pytest.importorskip("cvxpy")
    p, lam = np.array([0.7, 0.2, 0.1]), 0.5
    big = math.exp(2 * lam)
    for tau in (0.5, 1.5):
        s, ell = cp.Variable(3), cp.Variable()
        if tau < 1:
            obj = (p @ cp.power(s, tau - 1) - 1) / (1 - tau)
        else:
            obj = (1 - p @ cp.power(s, tau - 1)) / (tau - 1)
        prob = cp.Problem(cp.Minimize(obj), [cp.sum(s) == 1, s >= ell, s <= big * ell])
        prob.solve(solver=cp.CLARABEL)
        assert prob.value == pytest.approx(float(min_conditional_risk_box(p, tau=tau, lam=lam)), rel=1e-6)
    p, lam = np.array([0.6, 0.4, 0.0]), 1.0
    h = cp.Variable(3)
    prob = cp.Problem(cp.Minimize(cp.log_sum_exp(h) - p @ h), [h >= -lam, h <= lam])
    prob.solve(solver=cp.CLARABEL)
    assert prob.value == pytest.approx(float(min_conditional_risk_box(p, tau=1.0, lam=lam)), rel=1e-6)


# ------------------------------------------------------------------------------------------------
# t0 threshold (the flat segment of the box-bounded transformation)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lam,n,expected",
    [(0.25, 3, 0.23270), (0.5, 3, 0.15536), (1.0, 3, 0.06338), (2.0, 3, 0.00907),
     (0.5, 4, 0.26894), (1.0, 4, 0.11920), (0.5, 6, 0.42388), (1.0, 6, 0.21301)],
)  # fmt: skip
def test_t0_threshold_values(lam, n, expected):
    assert t0_threshold(lam=lam, num_classes=n) == pytest.approx(expected, abs=5e-6)


def test_t0_threshold_limits():
    assert t0_threshold(lam=0.7, num_classes=2) == 0.0
    assert t0_threshold(lam=math.inf, num_classes=5) == 0.0
    assert t0_threshold(lam=0.0, num_classes=4) == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------------
# planted errors
# ------------------------------------------------------------------------------------------------


def test_wrong_exponent_in_deterministic_box_infimum_is_rejected():
    wrong = float(comp_sum_phi(2 * math.exp(-1.0), tau=1.0))  # e^{-Lambda} instead of e^{-2 Lambda}
    right = float(comp_sum_phi(2 * math.exp(-2.0), tau=1.0))
    oracle = float(min_conditional_risk_box([1.0, 0.0, 0.0], tau=1.0, lam=1.0))
    assert wrong == pytest.approx(0.551445, abs=1e-6)
    assert oracle == pytest.approx(right, abs=1e-12)
    assert abs(wrong - oracle) > 0.3
    # and the oracle value is attained inside the box, so the wrong (larger) value is not the infimum
    h = np.array([1.0, -1.0, -1.0])
    assert float(conditional_risk(h, [1.0, 0.0, 0.0], tau=1.0)) == pytest.approx(oracle, abs=1e-13)


def test_gce_cstar_at_the_cross_entropy_minimizer_is_rejected():
    p, tau = np.array([0.5, 0.3, 0.2]), 1.5
    wrong = float(conditional_risk(np.log(p), p, tau=tau))  # S = p, the logistic minimizer
    right = float(min_conditional_risk(p, tau=tau))
    assert wrong == pytest.approx(0.785374, abs=1e-6)
    assert right == pytest.approx(0.767117199406205, abs=1e-13)
    # the true minimizer S ∝ p^{1/(2-tau)} = p^2 attains the smaller value
    s = p**2 / np.sum(p**2)
    assert float(conditional_risk(np.log(s), p, tau=tau)) == pytest.approx(right, abs=1e-13)
    assert wrong - right > 0.018


# ------------------------------------------------------------------------------------------------
# bad inputs
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"p": [0.5, 0.5], "tau": -0.1, "lam": 1.0}, "tau"),
        ({"p": [0.5, 0.5], "tau": float("nan"), "lam": 1.0}, "tau"),
        ({"p": [0.5, 0.5], "tau": 1.0, "lam": -1.0}, "lam"),
        ({"p": [0.5, 0.5], "tau": 1.0, "lam": float("nan")}, "lam"),
        ({"p": [0.6, 0.6], "tau": 1.0, "lam": 1.0}, "p"),
        ({"p": [1.2, -0.2], "tau": 1.0, "lam": 1.0}, "p"),
        ({"p": [1.0], "tau": 1.0, "lam": 1.0}, "p"),
    ],
)
def test_box_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        min_conditional_risk_box(**kwargs)
    with pytest.raises(ValueError, match=match):
        box_minimizer_softmax(**kwargs)


def test_t0_threshold_bad_inputs():
    with pytest.raises(ValueError, match="lam"):
        t0_threshold(lam=-1.0, num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        t0_threshold(lam=1.0, num_classes=1)
    with pytest.raises(TypeError, match="num_classes"):
        t0_threshold(lam=1.0, num_classes=2.5)


def test_t0_threshold_old_n_keyword_still_works_and_warns():
    with pytest.warns(DeprecationWarning, match="'n'"):
        assert t0_threshold(lam=0.5, n=6) == t0_threshold(lam=0.5, num_classes=6)
    with pytest.warns(DeprecationWarning, match="by position"):
        assert t0_threshold(0.5, 6) == t0_threshold(lam=0.5, num_classes=6)


def test_t0_threshold_under_jit_vmap_and_grad(x64):
    lams = np.array([0.0, 0.25, 1.0, 3.0])
    eager = np.array([t0_threshold(lam=lam, num_classes=5) for lam in lams])
    vmapped = jax.vmap(lambda lam: t0_threshold(lam=lam, num_classes=5))(jnp.asarray(lams))
    np.testing.assert_allclose(vmapped, eager, rtol=1e-14)
    np.testing.assert_allclose(jax.jit(lambda lam, n: t0_threshold(lam=lam, num_classes=n))(0.25, 4),
                               t0_threshold(lam=0.25, num_classes=4), rtol=1e-14)
    h = 1e-6
    fd = (t0_threshold(lam=0.5 + h, num_classes=5) - t0_threshold(lam=0.5 - h, num_classes=5)) / (2 * h)
    assert jax.grad(lambda lam: t0_threshold(lam=lam, num_classes=5))(0.5) == pytest.approx(fd, rel=1e-7)
    assert np.isnan(jax.jit(lambda lam: t0_threshold(lam=lam, num_classes=4))(-1.0))


def test_box_functions_cannot_be_traced():
    with pytest.raises(TypeError, match="concrete"):
        jax.jit(lambda p: min_conditional_risk_box(p, tau=1.0, lam=0.5))(jnp.array([0.5, 0.3, 0.2]))
