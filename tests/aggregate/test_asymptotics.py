"""Closed-form asymptotics: reference values of the fixed point, risk, slope and optimal rho (computed
independently, docs/aggregate.md#derivations), special cases, monotonicity and scaling invariants as
hypothesis properties, NaN and bad inputs, and the deprecated ``noise`` spelling."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory.aggregate import (
    asymptotic_risk,
    finite_sample_variance,
    fixed_point_tau,
    optimal_rho,
    risk_slope_at_zero,
)

REFERENCE_VALUES = [  # gamma, k, rho, tau, c1, bias2, var, risk
    (0.1, 2, 0.5, 0.1498299143, 0.6515307717, 0.1445765405, 0.0953042259, 0.2398807664),
    (0.1, 4, 0.1, 0.3986056621, 0.7125054490, 0.1111278282, 0.2583814660, 0.3695092942),
    (0.25, 3, 1.0, 1 / 3, 1 / 3, 14 / 27, 1 / 9, 17 / 27),
    (0.05, 8, 0.25, 0.1569708067, 0.3391848908, 0.4613970276, 0.0495340631, 0.5109310906),
    (0.2, 4, 0.0, 4.0, 1.0, 0.0, 4.0, 4.0),
]


@pytest.mark.parametrize("row", REFERENCE_VALUES)
def test_asymptotic_risk_matches_reference_values(row):
    g, k, rho, *expected = row
    r = asymptotic_risk(g, bag_size=k, rho=rho)
    np.testing.assert_allclose([r.tau, r.c1, r.bias2, r.variance, r.risk], expected, rtol=1e-9, atol=1e-12)


def test_risk_slope_at_zero_matches_its_reference_value():
    assert risk_slope_at_zero(0.1, bag_size=2) == pytest.approx(-0.78125, rel=1e-14)


@pytest.mark.parametrize("g,k,expected", [(0.1, 2, -0.781245), (0.05, 4, -2.343711), (0.2, 3, -37.4987)])
def test_slope_matches_numerical_derivative(g, k, expected):
    h = 1e-7
    numeric = (asymptotic_risk(g, bag_size=k, rho=h).risk - asymptotic_risk(g, bag_size=k, rho=0.0).risk) / h
    assert numeric == pytest.approx(risk_slope_at_zero(g, bag_size=k), rel=1e-4)
    assert numeric == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("g,k,snr,rho_star,risk_star,constrained", [
    (0.05, 2, 0.25, 0.3953, 0.0768, True), (0.05, 2, 1, 0.0933, 0.0999, True), (0.05, 2, 4, 0.0229, 0.1081, True),
    (0.05, 8, 1, 0.0574, 0.3563, True), (0.1, 4, 1, 0.1345, 0.3637, True), (0.1, 8, 1, 0.1261, 0.5736, True),
    (0.2, 2, 0.25, 2.6262, 0.1807, False), (0.2, 4, 0.25, 1.7080, 0.2080, False), (0.2, 8, 1, 0.3455, 0.7748, True)])
def test_optimal_rho_matches_the_reference_table(g, k, snr, rho_star, risk_star, constrained):
    r = optimal_rho(g, bag_size=k, signal=snr, constrained=constrained)
    assert r == pytest.approx(rho_star, abs=6e-5)
    risk = asymptotic_risk(g, bag_size=k, rho=r, signal=snr, allow_extrapolation=True).risk
    assert risk == pytest.approx(risk_star, abs=6e-5)


def test_constrained_optimum_is_one_when_unconstrained_exceeds_one():
    assert optimal_rho(0.2, bag_size=2, signal=0.25) == 1.0


def test_rho_star_falls_like_one_over_snr():
    snrs = [0.1, 0.25, 0.5, 1, 2, 4, 8, 16]
    expected = [1.652, 0.616, 0.288, 0.1345, 0.0638, 0.0308, 0.0151, 0.0074]
    got = [optimal_rho(0.1, bag_size=4, signal=s, constrained=False) for s in snrs]
    np.testing.assert_allclose(got, expected, rtol=2e-3, atol=1e-4)
    slope = np.polyfit(np.log(snrs[-3:]), np.log(got[-3:]), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.05)


def test_risk_vs_bag_size_matches_the_reference_table():
    ks = [1, 2, 3, 4, 6, 8, 10, 12]
    bag = [asymptotic_risk(0.05, bag_size=k, rho=0.0).risk for k in ks]
    ins = [asymptotic_risk(0.05, bag_size=k, rho=1.0).risk for k in ks]
    opt = [asymptotic_risk(0.05, bag_size=k, rho=optimal_rho(0.05, bag_size=k)).risk for k in ks]
    np.testing.assert_allclose(bag, [0.0526, 0.1111, 0.1765, 0.25, 0.4286, 0.6667, 1.0, 1.5], atol=6e-5)
    np.testing.assert_allclose(ins, [0.0526, 0.2895, 0.4737, 0.5855, 0.7105, 0.7780, 0.8200, 0.8487], atol=6e-5)
    np.testing.assert_allclose(opt, [0.0526, 0.0999, 0.1483, 0.1948, 0.2809, 0.3563, 0.4210, 0.4761], atol=6e-5)


def test_bag_and_instance_level_special_cases():
    for g in (0.05, 0.1, 0.3):
        for k in (2, 3, 5):
            p = 1 / k
            r1 = asymptotic_risk(g, bag_size=k, rho=1.0, signal=2.0, noise_var=0.5)
            assert r1.tau == pytest.approx(g / (1 - g)) and r1.c1 == pytest.approx(p)
            assert r1.bias2 == pytest.approx(2.0 * ((1 - p) ** 2 + p * (1 - p) * g / (1 - g)))
            assert r1.variance == pytest.approx(0.5 * g * p / (1 - g))
            if p > g:
                r0 = asymptotic_risk(g, bag_size=k, rho=0.0, noise_var=0.5)
                assert r0.bias2 == pytest.approx(0.0, abs=1e-15)
                assert r0.variance == pytest.approx(0.5 * k * g / (1 - k * g))


def test_large_rho_tends_to_zero_estimator():
    r = asymptotic_risk(0.1, bag_size=4, rho=1e8, allow_extrapolation=True)
    assert r.tau < 1e-6 and r.bias2 == pytest.approx(1.0, abs=1e-6) and r.variance < 1e-6


def test_array_inputs_match_scalar_calls():
    rhos = np.array([0.0, 0.1, 0.5, 1.0])
    r = asymptotic_risk(0.1, bag_size=4, rho=rhos)
    np.testing.assert_allclose(r.risk, [asymptotic_risk(0.1, bag_size=4, rho=x).risk for x in rhos], rtol=1e-15)


def test_tau_matches_numpy_roots_oracle():
    for g, k, rho in [(0.1, 2, 0.5), (0.3, 8, 1e-9), (0.5, 3, 3.0), (0.01, 20, 0.7)]:
        p = 1 / k
        coeffs = [rho * (1 - g), p + (1 - p) * rho - g * (1 + rho), -g]
        roots = np.roots(coeffs)
        pos = roots[roots.real > 0].real
        assert fixed_point_tau(g, bag_size=k, rho=rho, allow_extrapolation=True) == pytest.approx(pos.max(), rel=1e-7)


gammas = st.floats(0.01, 0.9)
ks = st.integers(1, 20)
rhos = st.floats(1e-6, 10.0)


@given(gammas, ks, rhos)
def test_tau_solves_the_fixed_point_and_outputs_stay_in_range(g, k, rho):
    r = asymptotic_risk(g, bag_size=k, rho=rho, allow_extrapolation=True)
    p = 1 / k
    assert r.tau > 0
    assert r.tau * (p / (1 + r.tau) + (1 - p) * rho / (1 + rho * r.tau)) == pytest.approx(g, rel=1e-9)
    assert 0 < r.c1 <= 1 + 1e-12
    assert r.variance > 0
    if p > g:
        assert -1e-12 <= r.bias2 <= 1 + 1e-12


@given(gammas, ks, rhos, st.floats(0.1, 10), st.floats(0.1, 10))
def test_bias_scales_with_signal_and_variance_with_noise_var(g, k, rho, r2, s2):
    base = asymptotic_risk(g, bag_size=k, rho=rho, allow_extrapolation=True)
    r = asymptotic_risk(g, bag_size=k, rho=rho, signal=r2, noise_var=s2, allow_extrapolation=True)
    assert r.bias2 == pytest.approx(r2 * base.bias2, rel=1e-12, abs=1e-300)
    assert r.variance == pytest.approx(s2 * base.variance, rel=1e-12)


@given(st.floats(0.01, 0.45), st.integers(2, 16))
def test_monotone_in_rho_when_bag_level_is_well_posed(g, k):
    if 1 / k <= g:
        return
    rhos = np.concatenate([[0.0], np.geomspace(1e-4, 31.6, 200)])
    r = asymptotic_risk(g, bag_size=k, rho=rhos, allow_extrapolation=True)
    assert np.all(np.diff(r.bias2) >= -1e-12)
    assert np.all(np.diff(r.variance) <= 1e-12)


@given(st.floats(0.01, 0.45), st.integers(2, 16), st.floats(0.1, 10))
def test_rho_star_beats_both_ends_and_slope_negative(g, k, snr):
    rho = optimal_rho(g, bag_size=k, signal=snr)
    r_star = asymptotic_risk(g, bag_size=k, rho=rho, signal=snr).risk
    ends = [asymptotic_risk(g, bag_size=k, rho=1.0, signal=snr).risk]
    if 1 / k > g:
        ends.append(asymptotic_risk(g, bag_size=k, rho=0.0, signal=snr).risk)
        assert risk_slope_at_zero(g, bag_size=k) < 0
    assert r_star <= min(ends) + 1e-12


@given(gammas, rhos)
def test_k1_is_ols(g, rho):
    r = asymptotic_risk(g, bag_size=1, rho=rho, allow_extrapolation=True)
    assert r.bias2 == pytest.approx(0.0, abs=1e-12)
    assert r.variance == pytest.approx(g / (1 - g), rel=1e-10)


def test_finite_sample_variance_reference_values():
    assert finite_sample_variance(num_samples=2000, dim=200, bag_size=8, rho=0.0) == pytest.approx(200 / 49)
    assert finite_sample_variance(num_samples=1000, dim=100, bag_size=4, rho=1.0) == pytest.approx(100 / (4 * 899))


@pytest.mark.parametrize("kwargs,match", [
    (dict(gamma=0.0, bag_size=2, rho=0.5), "gamma"),
    (dict(gamma=1.0, bag_size=2, rho=0.5), "gamma"),
    (dict(gamma=0.1, bag_size=0, rho=0.5), "bag_size"),
    (dict(gamma=0.1, bag_size=2.5, rho=0.5), "bag_size"),
    (dict(gamma=0.1, bag_size=2, rho=-0.1), "rho"),
    (dict(gamma=0.1, bag_size=2, rho=1.5), "allow_extrapolation"),
    (dict(gamma=0.25, bag_size=4, rho=0.0), "n/bag_size > d"),
    (dict(gamma=0.3, bag_size=4, rho=0.0), "n/bag_size > d"),
    (dict(gamma=0.1, bag_size=2, rho=float("nan")), "rho"),
])
def test_bad_inputs_raise(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        asymptotic_risk(**kwargs)


def test_bad_inputs_of_finite_sample_variance_and_slope_raise():
    with pytest.raises(ValueError, match="multiple of bag_size"):
        finite_sample_variance(num_samples=1001, dim=100, bag_size=4, rho=0.0)
    with pytest.raises(ValueError, match="n_bags"):
        finite_sample_variance(num_samples=404, dim=100, bag_size=4, rho=0.0)
    with pytest.raises(ValueError, match="rho must be 0 or 1"):
        finite_sample_variance(num_samples=1000, dim=100, bag_size=4, rho=0.5)
    with pytest.raises(ValueError, match="n/bag_size > d"):
        risk_slope_at_zero(0.5, bag_size=2)
    with pytest.raises(ValueError, match="signal"):
        asymptotic_risk(0.1, bag_size=2, rho=0.5, signal=-1.0)
    with pytest.raises(ValueError, match="noise_var"):
        asymptotic_risk(0.1, bag_size=2, rho=0.5, noise_var=float("nan"))
    with pytest.raises(ValueError, match="gamma"):
        optimal_rho(float("nan"), bag_size=2)
    with pytest.raises(ValueError, match="bag_size"):
        fixed_point_tau(0.1, bag_size=float("nan"), rho=0.5)
    with pytest.raises(ValueError, match="rho"):
        asymptotic_risk(0.1, bag_size=2, rho=np.array([0.5, np.inf]), allow_extrapolation=True)


def test_deprecated_spellings_warn_and_give_the_same_numbers():
    with pytest.warns(DeprecationWarning, match="noise_var"):
        old = asymptotic_risk(0.1, bag_size=4, rho=0.5, noise=0.3)
    assert old == asymptotic_risk(0.1, bag_size=4, rho=0.5, noise_var=0.3)
    with pytest.warns(DeprecationWarning, match="noise_var"):
        assert risk_slope_at_zero(0.1, bag_size=2, noise=2.0) == risk_slope_at_zero(0.1, bag_size=2, noise_var=2.0)
    with pytest.warns(DeprecationWarning, match="noise_var"):
        assert optimal_rho(0.1, bag_size=4, noise=2.0) == optimal_rho(0.1, bag_size=4, noise_var=2.0)
    with pytest.warns(DeprecationWarning, match="num_samples"):
        assert finite_sample_variance(n_samples=2000, dim=200, bag_size=8, rho=0.0) == pytest.approx(200 / 49)
    with pytest.raises(TypeError, match="noise_var"):
        asymptotic_risk(0.1, bag_size=4, rho=0.5, noise=0.3, noise_var=0.3)


def test_positional_hyperparameters_are_deprecated_and_give_the_same_numbers():
    with pytest.warns(DeprecationWarning, match="bag_size, rho"):
        assert asymptotic_risk(0.1, 4, 0.5) == asymptotic_risk(0.1, bag_size=4, rho=0.5)
    with pytest.warns(DeprecationWarning, match="bag_size, rho"):
        assert fixed_point_tau(0.1, 4, 0.5) == fixed_point_tau(0.1, bag_size=4, rho=0.5)
    with pytest.warns(DeprecationWarning, match="bag_size"):
        assert risk_slope_at_zero(0.1, 2) == risk_slope_at_zero(0.1, bag_size=2)
    with pytest.warns(DeprecationWarning, match="bag_size"):
        assert optimal_rho(0.1, 4) == optimal_rho(0.1, bag_size=4)
    with pytest.warns(DeprecationWarning, match="num_samples, dim, bag_size, rho"):
        assert finite_sample_variance(2000, 200, 8, 0.0) == pytest.approx(200 / 49)
    with pytest.raises(TypeError, match="by keyword"):
        asymptotic_risk(0.1, 4, 0.5, 1.0)
