"""Exact transformations T*: where the bound of ICML 2023, Theorem 3.1, is tight and where it is not, the flat
segment of box-bounded scores, the bounded logistic transformation (NeurIPS 2023), the tightness constructions,
the characterization transformation, and planted errors (docs/compsum.md#findings)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from theory.compsum import (
    bounded_logistic_transform,
    characterization_transform,
    characterization_transform_tau,
    comp_sum_psi,
    conditional_risk,
    consistency_bound,
    consistency_transform,
    exact_transform,
    min_conditional_risk,
    min_conditional_risk_box,
    surrogate_regret,
    t0_threshold,
    tightness_example,
    zero_one_regret,
)
from theory.compsum.exact import _char, _regret_floor

T = consistency_transform


# ------------------------------------------------------------------------------------------------
# exact T* for complete sets
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tau,t,tstar_expected,t_icml,t_binary",
    [
        (1.2, 0.2, 0.021847, 0.020145, 0.021847),
        (1.5, 0.1, 0.007053, 0.005759, 0.007053),
        (1.5, 0.4, 0.108941, 0.088950, 0.108941),
    ],
)
def test_gce_is_not_tight_in_the_two_label_regime(tau, t, tstar_expected, t_icml, t_binary):
    tstar = float(exact_transform(t, tau=tau, num_classes=3))
    assert tstar == pytest.approx(tstar_expected, abs=1e-6)
    assert float(T(t, tau=tau, num_classes=3)) == pytest.approx(t_icml, abs=1e-6)
    assert tstar == pytest.approx(float(T(t, tau=tau, num_classes=2)), abs=1e-12)  # the binary value
    assert tstar > float(T(t, tau=tau, num_classes=3)) * 1.05  # strictly above A's bound: not tight


@pytest.mark.parametrize(
    "tau,t,recorded,ours,witness_p2",
    [(1.8, 0.4, 0.141773, 0.1417639422, 0.4144), (1.97, 0.2, 0.065163, 0.0651432102, 0.3944)],
)
def test_spread_regime_values_are_below_the_recorded_upper_estimates(tau, t, recorded, ours, witness_p2):
    """The T* recorded earlier here (0.141773, 0.065163) are upper estimates: an explicit (h, p) does better
    (docs/compsum.md#findings, finding 3)."""
    tstar = float(exact_transform(t, tau=tau, num_classes=3))
    assert tstar == pytest.approx(ours, abs=1e-9)
    a = (1 + t - witness_p2) / 2
    p, h = np.array([a, a - t, witness_p2]), np.array([0.0, 1e-9, 0.0])  # label 1 predicted, S ~ uniform
    assert float(zero_one_regret(h, p)) == pytest.approx(t, abs=1e-15)
    regret = float(surrogate_regret(h, p, tau=tau))
    assert tstar <= regret + 1e-9 < recorded - 5e-6
    # still not tight, and below the n-free binary formula (which is therefore invalid for n = 3)
    assert float(T(t, tau=tau, num_classes=3)) < tstar < float(T(t, tau=tau, num_classes=2))


@pytest.mark.parametrize("n", [3, 4])
@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0])
def test_exact_transform_equals_the_bound_for_tau_at_most_one(tau, n):
    ts = np.array([0.1, 0.3, 0.6, 0.9, 1.0])
    np.testing.assert_allclose(exact_transform(ts, tau=tau, num_classes=n), T(ts, tau=tau, num_classes=n), atol=1e-12)


@pytest.mark.parametrize("tau", [0.0, 0.7, 1.0, 1.3, 1.8, 2.0])
def test_two_classes_are_tight_up_to_mae(tau):
    ts = np.linspace(0, 1, 11)
    np.testing.assert_allclose(exact_transform(ts, tau=tau, num_classes=2), T(ts, tau=tau, num_classes=2), atol=1e-12)


def test_mae_is_tight_up_to_one_over_n_minus_one_only():
    for n in (3, 4):
        ts = np.linspace(0, 1 / (n - 1), 7)
        np.testing.assert_allclose(exact_transform(ts, tau=2.0, num_classes=n), ts / n, atol=1e-12)
    assert float(exact_transform(0.6, tau=2.0, num_classes=3)) == pytest.approx(0.6 - 1 / 3, abs=1e-9)  # 0.2667 > 0.2


def test_tau_above_two_is_not_tight():
    assert float(exact_transform(0.1, tau=3.0, num_classes=3)) == pytest.approx(0.05, abs=1e-12)  # t/(tau-1)
    assert float(T(0.1, tau=3.0, num_classes=3)) == pytest.approx(0.1 / 18)
    ts = np.linspace(0, 1, 9)
    expected = np.minimum(ts / 2, 1 / 8 + ts / 4)
    np.testing.assert_allclose(exact_transform(ts, tau=3.0, num_classes=2), expected, atol=1e-12)


@pytest.mark.parametrize(
    "p,tau,box",
    [
        ([0.45, 0.25, 0.30], 0.5, None),
        ([0.40, 0.10, 0.35, 0.15], 1.5, None),
        ([0.50, 0.30, 0.20], 1.9, None),
        ([0.55, 0.35, 0.10], 1.0, 0.3),
        ([0.40, 0.20, 0.25, 0.15], 0.0, 0.5),
    ],
)
def test_inner_reduction_matches_direct_slsqp(p, tau, box):
    """The block-averaging reduction of the inner problem equals a direct constrained minimization."""
    p = np.array(p)
    n = p.size
    big = math.inf if box is None else math.exp(2 * box)

    def risk(s):
        return float(np.sum(p * comp_sum_psi(np.clip(s, 1e-300, 1.0), tau=tau)))

    cons = [{"type": "eq", "fun": lambda s: s.sum() - 1}]
    cons += [{"type": "ineq", "fun": lambda s, j=j: s[1] - s[j]} for j in range(n) if j != 1]
    if box is not None:
        cons += [{"type": "ineq", "fun": lambda s, i=i, j=j: big * s[j] - s[i]} for i in range(n) for j in range(n)]
    rng = np.random.default_rng(0)
    best = math.inf
    for _ in range(4):
        s0 = rng.dirichlet(np.ones(n))
        s0[1] = s0.max() + 0.05
        res = optimize.minimize(risk, s0 / s0.sum(), method="SLSQP", bounds=[(1e-9, 1)] * n,
                                constraints=cons, options={"ftol": 1e-14, "maxiter": 1000})  # fmt: skip
        if res.success:
            best = min(best, res.fun)
    cstar = float(min_conditional_risk(p, tau=tau, box=box))
    ours = float(_regret_floor(p[None, :], tau, math.inf if box is None else box)[0])
    assert ours == pytest.approx(best - cstar, abs=1e-7)


# ------------------------------------------------------------------------------------------------
# the exact box transformation is zero below t0 (n >= 3)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n,lam", [(3, 0.25), (3, 1.0), (4, 0.5)])
@pytest.mark.parametrize("tau", [0.0, 1.0, 1.5])
def test_box_transformation_is_flat_up_to_t0(n, lam, tau):
    t0 = t0_threshold(lam=lam, num_classes=n)
    below = exact_transform(np.array([0.5, 0.99]) * t0, tau=tau, num_classes=n, box=lam)
    above = exact_transform(np.array([1.01, 1.5]) * t0, tau=tau, num_classes=n, box=lam)
    assert np.all(below <= 1e-12)
    assert np.all(above > 1e-8)


@pytest.mark.parametrize("tau", [0.0, 1.0, 1.5])
def test_flat_segment_construction_has_zero_surrogate_regret(tau):
    lam, n = 0.5, 4
    t = 0.9 * t0_threshold(lam=lam, num_classes=n)
    p = np.array([(1 + t) / 2, (1 - t) / 2, 0.0, 0.0])
    h = np.array([lam, lam, -lam, -lam])
    assert float(zero_one_regret(h, p)) == pytest.approx(t, abs=1e-15)
    regret = float(conditional_risk(h, p, tau=tau) - min_conditional_risk_box(p, tau=tau, lam=lam))
    assert regret == pytest.approx(0.0, abs=1e-13)


# ------------------------------------------------------------------------------------------------
# bounded logistic, n = 2
# ------------------------------------------------------------------------------------------------

BOUNDED_LOGISTIC_VALUES = {
    0.25: [0.005008, 0.044070, 0.119070, 0.194070],
    0.5: [0.005008, 0.045701, 0.179885, 0.329885],
    1.0: [0.005008, 0.045701, 0.192745, 0.466219],
}


@pytest.mark.parametrize("lam", list(BOUNDED_LOGISTIC_VALUES))
def test_bounded_logistic_matches_exact(lam):
    ts = np.array([0.1, 0.3, 0.6, 0.9])
    closed = bounded_logistic_transform(ts, lam=lam)
    np.testing.assert_allclose(closed, BOUNDED_LOGISTIC_VALUES[lam], atol=5e-7)
    np.testing.assert_allclose(exact_transform(ts, tau=1.0, num_classes=2, box=lam), closed, atol=1e-12)


def test_bounded_logistic_limits_and_tangent():
    ts = np.linspace(0, 1, 21)
    np.testing.assert_allclose(bounded_logistic_transform(ts, lam=math.inf), T(ts, tau=1.0, num_classes=2), atol=0)
    np.testing.assert_allclose(bounded_logistic_transform(ts, lam=0.0), 0.0, atol=1e-15)
    for lam in (0.25, 1.0, 3.0):  # the second piece is the tangent of T_1 at tanh(lam): below it, continuous
        assert np.all(bounded_logistic_transform(ts, lam=lam) <= T(ts, tau=1.0, num_classes=2) + 1e-15)
        edge = math.tanh(lam)
        assert float(bounded_logistic_transform(edge + 1e-12, lam=lam)) == pytest.approx(
            float(bounded_logistic_transform(edge, lam=lam)), abs=1e-11
        )


def test_complete_gamma_fails_for_box_bounded_two_classes():
    lam, t = 0.25, 0.6
    p, h = np.array([0.8, 0.2]), np.zeros(2)  # tie: label 1 predicted, |h| <= lam
    assert float(zero_one_regret(h, p)) == pytest.approx(t)
    regret = float(conditional_risk(h, p, tau=1.0) - min_conditional_risk_box(p, tau=1.0, lam=lam))
    assert regret == pytest.approx(0.119070, abs=1e-6)
    # wrong: the complete-case bound Gamma_1(regret) would cap the 0-1 regret below the realized 0.6
    assert float(T(t, tau=1.0, num_classes=2)) == pytest.approx(0.192745, abs=1e-6)
    assert float(consistency_bound(regret, tau=1.0, num_classes=2)) < t - 0.1
    # right: the bounded transformation is attained, not violated
    assert float(bounded_logistic_transform(t, lam=lam)) == pytest.approx(regret, abs=1e-12)


# ------------------------------------------------------------------------------------------------
# tightness constructions
# ------------------------------------------------------------------------------------------------


@given(
    t=st.floats(0.0, 1.0),
    tau=st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0)),
    n=st.integers(2, 8),
)
def test_tightness_example_attains_the_bound_for_tau_at_most_one(t, tau, n):
    h, p = tightness_example(t, tau=tau, num_classes=n, logit_gap=40.0)
    assert float(zero_one_regret(h, p)) == pytest.approx(t, abs=1e-15)
    bound = float(T(t, tau=tau, num_classes=n))
    regret = float(surrogate_regret(h, p, tau=tau))
    # round-off of C - C*; risks' closed form for C* also loses about eps/|1 - tau| (pinned in test_box)
    tol = 1e-13 + (0.0 if tau == 1.0 else 1e-15 / abs(1.0 - tau))
    assert bound * (1 - 1e-12) - tol <= regret <= bound * (1 + 1e-9) + tol


@given(data=st.data(), n=st.integers(2, 10))
def test_tightness_example_is_exact_for_mae(data, n):
    t = data.draw(st.floats(0.0, 1.0 / (n - 1)))
    h, p = tightness_example(t, tau=2.0, num_classes=n)
    assert float(zero_one_regret(h, p)) == pytest.approx(t, abs=1e-15)
    assert float(surrogate_regret(h, p, tau=2.0)) == pytest.approx(t / n, abs=1e-15)


@pytest.mark.parametrize("tau", [1.2, 1.5, 1.9, 2.0])
def test_tightness_two_classes_up_to_mae(tau):
    h, p = tightness_example(0.4, tau=tau, num_classes=2)
    assert float(surrogate_regret(h, p, tau=tau)) == pytest.approx(float(T(0.4, tau=tau, num_classes=2)), abs=1e-14)


def test_tightness_example_regret_values():
    for tau, expected in [(0.0, 0.133974596), (0.5, 0.125627761), (1.0, 0.130812036)]:
        h, p = tightness_example(0.5, tau=tau, num_classes=3)
        np.testing.assert_allclose(p, [0.75, 0.25, 0.0])
        assert float(zero_one_regret(h, p)) == 0.5
        assert float(surrogate_regret(h, p, tau=tau)) == pytest.approx(expected, abs=1e-9)
    h, p = tightness_example(0.05, tau=2.0, num_classes=3)
    np.testing.assert_allclose(p, [0.35, 0.35, 0.30])
    assert float(surrogate_regret(h, p, tau=2.0)) == pytest.approx(0.0166667, abs=1e-7)
    h, p = tightness_example(1 / 9, tau=2.0, num_classes=10)
    assert float(surrogate_regret(h, p, tau=2.0)) == pytest.approx(0.0111111, abs=1e-7)


@pytest.mark.parametrize("tau,n,t", [(1.5, 3, 0.3), (1.97, 4, 0.1), (3.0, 2, 0.2), (3.0, 3, 0.2), (2.0, 3, 0.6)])
def test_tightness_not_claimed_where_false(tau, n, t):
    with pytest.raises(ValueError, match="tight|t must"):
        tightness_example(t, tau=tau, num_classes=n)
    # and indeed the exact transformation is strictly above A's bound there
    assert float(exact_transform(t, tau=tau, num_classes=n)) > float(T(t, tau=tau, num_classes=n)) + 1e-4


def test_lowest_index_tie_breaking_breaks_tightness():
    h, p = tightness_example(0.5, tau=1.0, num_classes=3)  # p = (0.75, 0.25, 0), h = (0, 0, -40)

    def regret_01(predict):
        return p.max() - p[predict(h)]

    assert regret_01(lambda z: len(z) - 1 - int(np.argmax(z[::-1]))) == 0.5  # highest index: label 1
    assert regret_01(lambda z: int(np.argmax(z))) == 0.0  # planted np.argmax: label 0, no 0-1 regret
    # the tightness check (0-1 regret equals t) therefore rejects the lowest-index rule
    assert float(zero_one_regret(h, p)) == 0.5


def test_binary_formula_is_invalid_for_three_classes():
    tau, t = 1.8, 0.4
    wrong = float(T(t, tau=tau, num_classes=2))  # the n-free binary formula
    assert wrong == pytest.approx(0.159579, abs=1e-6)
    assert float(exact_transform(t, tau=tau, num_classes=3)) < wrong - 0.015  # a distribution violates it
    assert float(exact_transform(t, tau=tau, num_classes=3)) >= float(T(t, tau=tau, num_classes=3))


# ------------------------------------------------------------------------------------------------
# characterization transformation
# ------------------------------------------------------------------------------------------------


@settings(max_examples=25)
@given(
    tau=st.one_of(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0]), st.floats(0.0, 2.0)),
    n=st.integers(2, 10),
    t=st.floats(0.0, 1.0),
)
def test_characterization_reproduces_the_icml_transform(tau, n, t):
    got = float(characterization_transform_tau(t, tau=tau, num_classes=n))
    assert got == pytest.approx(float(T(t, tau=tau, num_classes=n)), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("n", [2, 3])
def test_characterization_of_the_square_loss(n):
    got = characterization_transform([0.1, 0.5, 0.9], phi=lambda s: (1 - s) ** 2, num_classes=n)
    np.testing.assert_allclose(got, [0.0025, 0.0625, 0.2025], atol=1e-12)


def test_square_loss_is_not_t_squared_over_four_for_many_classes():
    """T = t^2/4 holds for small n only: for n = 10 and t > 1/(n-1) the inf sits at s = 1/n instead.

    There mu is capped at s: value 2(1-s)s t - s^2 = 0.152 at s = 0.1, t = 0.9 (< t^2/4 = 0.2025).
    """
    got = characterization_transform([0.1, 0.9], phi=lambda s: (1 - s) ** 2, num_classes=10)
    np.testing.assert_allclose(got, [0.0025, 2 * 0.9 * 0.1 * 0.9 - 0.01], atol=1e-12)


def test_characterization_with_user_phi_matches_tau_version():
    ts = np.array([0.2, 0.7])
    got = characterization_transform(ts, phi=lambda s: -np.log(s), num_classes=4)
    np.testing.assert_allclose(got, characterization_transform_tau(ts, tau=1.0, num_classes=4), atol=1e-14)


def test_characterization_rejects_concave_phi():
    # why: for tau = 3 the formula gives (t + 1/2)/n^2 > 0 at t = 0, not a lower bound on a regret
    assert float(_char(np.array(0.0), lambda s: (1 - s**2) / 2, 3, 101)) == pytest.approx(1 / 18, abs=1e-12)
    with pytest.raises(ValueError, match="tau"):
        characterization_transform_tau(0.1, tau=3.0, num_classes=3)
    with pytest.raises(ValueError, match="convex"):
        characterization_transform(0.1, phi=lambda s: (1 - s**2) / 2, num_classes=3)
    with pytest.raises(ValueError, match="non-increasing"):
        characterization_transform(0.1, phi=lambda s: s**2, num_classes=3)
    with pytest.raises(TypeError, match="phi"):
        characterization_transform(0.1, phi=3.0, num_classes=3)


# ------------------------------------------------------------------------------------------------
# bad inputs
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"t": 1.5, "tau": 1.0, "num_classes": 3}, ValueError, "t must"),
        ({"t": float("nan"), "tau": 1.0, "num_classes": 3}, ValueError, "^t must"),
        ({"t": 0.5, "tau": -1.0, "num_classes": 3}, ValueError, "tau"),
        ({"t": 0.5, "tau": 1.0, "num_classes": 1}, ValueError, "num_classes"),
        ({"t": 0.5, "tau": 1.0, "num_classes": 5}, ValueError, "num_classes"),
        ({"t": 0.5, "tau": 1.0, "num_classes": 3.0}, TypeError, "num_classes"),
        ({"t": 0.5, "tau": 1.0, "num_classes": 3, "box": -0.5}, ValueError, "box"),
        ({"t": 0.5, "tau": 1.0, "num_classes": 3, "grid": 2}, ValueError, "grid"),
    ],
)
def test_exact_transform_bad_inputs(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        exact_transform(**kwargs)


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="lam"):
        bounded_logistic_transform(0.5, lam=-1.0)
    with pytest.raises(ValueError, match="t must"):
        bounded_logistic_transform(-0.1, lam=1.0)
    with pytest.raises(ValueError, match="t"):
        tightness_example(1.2, tau=1.0, num_classes=3)
    with pytest.raises(ValueError, match="logit_gap"):
        tightness_example(0.5, tau=1.0, num_classes=3, logit_gap=0.0)
    with pytest.raises(ValueError, match="num_classes"):
        characterization_transform_tau(0.5, tau=1.0, num_classes=1)
    with pytest.raises(ValueError, match="t must"):
        characterization_transform_tau(2.0, tau=1.0, num_classes=3)


def test_exact_transform_shape_and_speed():
    import time

    ts = np.array([[0.1, 0.3], [0.5, 0.9]])
    start = time.perf_counter()
    out = exact_transform(ts, tau=1.5, num_classes=3, box=0.5)
    assert time.perf_counter() - start < 1.0
    assert out.shape == (2, 2) and np.all(np.diff(out.ravel()) > 0)
    assert exact_transform(0.3, tau=1.0, num_classes=3).shape == ()


def test_old_keyword_names_still_work_and_warn():
    with pytest.warns(DeprecationWarning, match="'K'"):
        h, p = tightness_example(0.5, tau=1.0, num_classes=3, K=20.0)
    np.testing.assert_array_equal(h, tightness_example(0.5, tau=1.0, num_classes=3, logit_gap=20.0)[0])
    with pytest.warns(DeprecationWarning, match="n_classes"):
        tightness_example(0.5, tau=1.0, n_classes=3)
    with pytest.warns(DeprecationWarning, match="n_classes"):
        old = exact_transform(0.3, tau=1.0, n_classes=3)
    assert old == exact_transform(0.3, tau=1.0, num_classes=3)
    with pytest.warns(DeprecationWarning, match="n_classes"):
        characterization_transform_tau(0.3, tau=1.0, n_classes=3)
    with pytest.warns(DeprecationWarning, match="n_classes"):
        characterization_transform(0.3, phi=lambda s: (1 - s) ** 2, n_classes=3)


def test_bounded_logistic_transform_under_jit_vmap_and_grad(x64):
    ts = np.linspace(0.0, 1.0, 21)
    f = jax.jit(lambda t, lam: bounded_logistic_transform(t, lam=lam))
    for lam in (0.0, 0.25, 1.0, math.inf):
        np.testing.assert_allclose(f(ts, lam), bounded_logistic_transform(ts, lam=lam), rtol=1e-13, atol=1e-16)
    lams = jnp.asarray([0.25, 1.0])
    rows = jax.vmap(lambda lam: bounded_logistic_transform(ts, lam=lam))(lams)
    for row, lam in zip(rows, [0.25, 1.0], strict=True):
        np.testing.assert_allclose(row, bounded_logistic_transform(ts, lam=lam), rtol=1e-13, atol=1e-16)
    h = 1e-6
    grad = jax.jit(jax.grad(lambda t, lam: bounded_logistic_transform(t, lam=lam), argnums=(0, 1)))
    for t, lam in ((0.1, 0.25), (0.6, 0.25), (0.6, 1.0)):  # both pieces
        g_t, g_lam = grad(t, lam)
        fd_t = (bounded_logistic_transform(t + h, lam=lam) - bounded_logistic_transform(t - h, lam=lam)) / (2 * h)
        fd_lam = (bounded_logistic_transform(t, lam=lam + h) - bounded_logistic_transform(t, lam=lam - h)) / (2 * h)
        assert g_t == pytest.approx(fd_t, rel=1e-7)
        assert g_lam == pytest.approx(fd_lam, rel=1e-6, abs=1e-12)
    assert np.isnan(f(0.5, -1.0)) and np.isnan(f(1.5, 1.0))


def test_numerical_transforms_say_they_cannot_be_traced():
    for call in (lambda t: exact_transform(t, tau=1.0, num_classes=3),
                 lambda t: characterization_transform_tau(t, tau=1.0, num_classes=3),
                 lambda t: tightness_example(t, tau=1.0, num_classes=3)):
        with pytest.raises(TypeError, match="concrete"):
            jax.jit(call)(0.3)
