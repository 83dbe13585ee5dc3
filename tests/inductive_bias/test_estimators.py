"""Units, the scaled non-central chi-squared family, the robust fit against the official fit, the paper's
estimator with both fallbacks, and the empirical estimator (docs/inductive_bias.md, "Estimators")."""

import math

import jax
import numpy as np
import pytest
from scipy import stats

from theory.inductive_bias import (
    GChiSq,
    empirical_inductive_bias,
    estimate_inductive_bias,
    fit_scaled_ncx2,
    inductive_bias,
    legacy_fallback_nats,
    scaled_ncx2_logcdf,
    scaled_ncx2_logpdf,
)
from theory.inductive_bias.estimators import clopper_pearson_coverage, wald_coverage


def test_bits_are_nats_over_ln2_and_the_base_is_checked():
    assert inductive_bias(math.log(0.25)) == pytest.approx(2.0)
    assert inductive_bias(-1.0, base=math.e) == pytest.approx(1.0)
    np.testing.assert_allclose(inductive_bias(np.array([-9.786614628884])), 14.119100, atol=1e-6)
    assert inductive_bias(-np.inf) == math.inf
    for base in (1.0, 0.5, -2.0):
        with pytest.raises(ValueError, match="base"):
            inductive_bias(-1.0, base=base)
    with pytest.raises(ValueError, match="log_p"):
        inductive_bias(np.nan)


def test_nats_reported_as_bits_is_a_planted_error():
    lp = float(GChiSq([0.05, 0.2, 0.5, 1.0, 1.7], [1, 2, 1, 3, 1], [0.3, 2, 0, 1.5, 4]).logcdf(0.5))
    assert -lp == pytest.approx(9.786614628884) and inductive_bias(lp) == pytest.approx(14.119100, abs=1e-6)


def test_scaled_ncx2_logcdf_matches_scipy_where_finite_and_stays_finite_below():
    x = np.array([0.05, 0.5, 2.0])
    np.testing.assert_allclose(scaled_ncx2_logcdf(x, 5.0, 2.0, 0.5), stats.ncx2.logcdf(x / 0.5, 5.0, 2.0), rtol=1e-12)
    assert stats.ncx2.logcdf(1e-3, 500, 100) == -np.inf
    assert scaled_ncx2_logcdf(1e-3, 500, 100, 1.0) == pytest.approx(-3084.271245082766, rel=1e-13)


def test_log_likelihood_reference_values():
    e = np.array([0.05, 0.1, 0.2])
    assert np.sum(scaled_ncx2_logpdf(e, 3, 1, 0.05)) == pytest.approx(3.340329814542242, rel=1e-12)
    assert np.sum(scaled_ncx2_logpdf(e, 3, 0, 0.05)) == pytest.approx(3.7701019918878727, rel=1e-12)
    np.testing.assert_allclose(scaled_ncx2_logpdf(e, 2.5, 40.0, 0.01), stats.ncx2.logpdf(e / 0.01, 2.5, 40.0)
                               - math.log(0.01), rtol=1e-10)


def test_robust_fit_beats_the_true_parameters_and_recovers_them():
    rng = np.random.default_rng(3)
    e = 0.1 * rng.noncentral_chisquare(6, 3, 5000)
    fit = fit_scaled_ncx2(e)
    true_ll = float(np.sum(scaled_ncx2_logpdf(e, 6, 3, 0.1)))
    assert fit.loglik >= true_ll
    assert abs(fit.df - 6) <= 1.5 and abs(fit.nc - 3) <= 2.5 and abs(fit.scale - 0.1) <= 0.02


def test_official_fallback_reference_values_and_its_deep_tail_bias():
    assert legacy_fallback_nats(0.01, 20, 5, 1.0) == pytest.approx(35.95685737800167, rel=1e-12)
    assert legacy_fallback_nats(3, 5, 2, 1.0) == pytest.approx(0.5012019961843125, rel=1e-12)
    assert legacy_fallback_nats(10, 1000, 300, 1.0) == pytest.approx(1407.37, abs=0.01)
    assert -scaled_ncx2_logcdf(10, 1000, 300, 1.0) == pytest.approx(1960.106719454133, rel=1e-13)


def test_estimator_exact_and_legacy_fallbacks_differ_only_where_scipy_underflows():
    rng = np.random.default_rng(0)
    e = 0.02 * rng.chisquare(40, 500)
    fit = fit_scaled_ncx2(e)
    eps = np.array([0.5 * e.mean(), 1e-20])  # the second: scipy's ncx2.logcdf underflows to -inf
    exact = estimate_inductive_bias(e, eps, fit=fit)
    legacy = estimate_inductive_bias(e, eps, fit=fit, fallback="legacy")
    assert exact[0] == pytest.approx(legacy[0], rel=1e-12)
    assert exact[1] > 2 * legacy[1]  # the fallback drops log(-z sqrt(2 pi)) and more
    nats = estimate_inductive_bias(e, eps[0], fit=fit, base=math.e)
    assert nats == pytest.approx(exact[0] * math.log(2), rel=1e-12)


def test_empirical_interval_reference_values():
    e = np.r_[np.zeros(100), np.ones(9900)]
    r = empirical_inductive_bias(e, 0.5)
    assert r.value == pytest.approx(6.643856, abs=1e-6)
    assert r.low == pytest.approx(6.36296, abs=1e-5) and r.high == pytest.approx(6.94012, abs=1e-5)
    none = empirical_inductive_bias(np.ones(50), 0.5)
    assert none.value == math.inf and none.high == math.inf and none.low > 0


def test_clopper_pearson_coverage_is_at_least_nominal_and_wald_is_not():
    for n in (100, 1000):
        assert clopper_pearson_coverage(0.01, n) >= 0.95
    assert wald_coverage(0.01, 100) < 0.9


@pytest.mark.parametrize("errors, match", [(np.array([0.1, np.nan] * 20), "NaN"), (-np.ones(30), "errors"),
                                           (np.ones(5), "at least 20"), (np.ones(30), "all be equal")])
def test_bad_error_samples_are_rejected(errors, match):
    with pytest.raises(ValueError, match=match):
        fit_scaled_ncx2(errors)


def test_bad_thresholds_and_levels_are_rejected():
    e = np.linspace(0.01, 1.0, 50)
    for eps in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="eps"):
            empirical_inductive_bias(e, eps)
    with pytest.raises(ValueError, match="level"):
        empirical_inductive_bias(e, 0.5, level=1.0)
    with pytest.raises(ValueError, match="fallback"):
        estimate_inductive_bias(e, 0.5, fallback="sankaran")
    with pytest.raises(ValueError, match="eps"):
        estimate_inductive_bias(e, 0.0)


def test_sampled_errors_of_a_law_give_an_empirical_interval_around_the_exact_value():
    law = GChiSq([0.1, 0.3], [2, 3], [1.0, 0.0])
    e = law.sample(jax.random.key(1), 20000)
    eps = law.quantile(0.1)
    r = empirical_inductive_bias(e, eps, level=0.999)
    assert r.low <= -math.log2(0.1) <= r.high
