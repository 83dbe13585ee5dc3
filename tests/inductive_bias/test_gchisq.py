"""The generalised chi-squared law and its evaluators: the reference values of docs/inductive_bias.md ("Test
values"), agreement between Ruben, Imhof and the saddlepoint, the bounds, invariances, and bad inputs."""

import math

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from theory.inductive_bias import (
    GChiSq,
    LogProb,
    chernoff_log_bound,
    imhof_sf,
    log_chi2_cdf,
    ruben_first_term_log_bound,
    ruben_logcdf,
    saddlepoint_logcdf,
)

W, D, NC = [0.05, 0.2, 0.5, 1.0, 1.7], [1, 2, 1, 3, 1], [0.3, 2, 0, 1.5, 4]
XS = np.array([0.02, 0.1, 0.5, 1.0, 5.0, 13.0, 30.0])
RUBEN = np.array([-22.325833918768, -15.949287941406, -9.786614628884, -7.306741849433, -2.498181238931,
                  -0.682096740886, -0.048609772382])
SADDLE = np.array([-22.316090, -15.940675, -9.778237, -7.297827, -2.501633, -0.684997, -0.048930])
IMHOF_P = np.array([1.1838970870e-07, 5.6198826057e-05, 6.7099970921e-04, 8.2234427473e-02, 5.0555586065e-01,
                    9.5255276958e-01])
BITS = np.array([32.209370, 23.009959, 14.119100, 10.541400, 3.604114, 0.984058, 0.070129])


def test_five_term_law_reference_values_ruben_saddlepoint_and_bits():
    law = GChiSq(W, D, NC)
    assert law.mean() == pytest.approx(14.365, abs=1e-12) and law.var() == pytest.approx(65.008, abs=1e-10)
    lp = law.logcdf(XS, method="ruben")
    np.testing.assert_allclose(lp, RUBEN, rtol=0, atol=5e-12)
    np.testing.assert_allclose(saddlepoint_logcdf(XS, W, D, NC), SADDLE, rtol=0, atol=5e-7)
    np.testing.assert_allclose(-np.asarray(lp) / math.log(2), BITS, atol=5e-7)


def test_imhof_matches_ruben_in_the_bulk_and_the_reference_probabilities():
    p_imhof = 1.0 - imhof_sf(XS[1:], W, D, NC)
    np.testing.assert_allclose(p_imhof, np.exp(RUBEN[1:]), rtol=0, atol=1e-9)
    # the reference Imhof values were computed with a plain quadrature: they agree to their own accuracy
    np.testing.assert_allclose(p_imhof, IMHOF_P, rtol=0, atol=5e-12)


@pytest.mark.parametrize("x, df, nc, scale, expected", [
    (3, 5, 2, 1, -1.8335601347027444), (0.5, 10, 3, 2, -16.75762267412765), (20, 4, 10, 0.5, -0.0023191381194824),
    (0.01, 20, 5, 1, -70.59099534020768), (1e-3, 50, 30, 1, -263.02635902080004),
    (2, 200, 50, 1, -389.48222497150266), (1e-3, 500, 100, 1, -3084.271245082766),
    (10, 1000, 300, 1, -1960.106719454133), (0.5, 300, 0, 1, -813.2126030342924),
    (10, 4, 3000, 1, -1340.9471674432864)])
def test_single_term_reference_values_including_where_scipy_underflows(x, df, nc, scale, expected):
    got = float(ruben_logcdf(x, [scale], [df], [nc]))
    assert got == pytest.approx(expected, rel=2e-14, abs=1e-15)
    assert math.isfinite(got)


def test_ruben_stays_finite_below_log_p_minus_3000():
    lp = float(ruben_logcdf(1e-4, [1.0], [500.0], [100.0]))
    assert math.isfinite(lp) and lp < -3500
    assert float(saddlepoint_logcdf(1e-4, [1.0], [500.0], [100.0])) == pytest.approx(lp, rel=1e-3)


def test_auto_reports_the_method_it_used():
    law = GChiSq(W, D, NC)
    v = law.logcdf(0.5)
    assert isinstance(v, LogProb) and v.method == "ruben" and float(v) == pytest.approx(RUBEN[2], abs=1e-11)
    ill = GChiSq(np.geomspace(1e-7, 1.0, 12), 1.0, 0.5)
    many = ill.logcdf(np.array([1e-6, 1e-3, 0.1]))
    assert list(many.method) == ["ruben", "saddlepoint", "imhof"]
    assert GChiSq(W, D, NC).logcdf(0.5, method="saddlepoint").method == "saddlepoint"


def test_log_chi2_cdf_agrees_with_scipy_and_extends_below_it():
    y = np.array([1e-3, 0.5, 3.0, 40.0])
    nu = np.array([4.0, 7.0, 3.0, 30.0])
    np.testing.assert_allclose(log_chi2_cdf(y, nu), stats.chi2.logcdf(y, nu), rtol=1e-13)
    assert math.isfinite(float(log_chi2_cdf(1e-3, 2000.0)))


def test_ruben_stop_rule_reports_non_convergence_within_a_tiny_budget():
    out, info = ruben_logcdf(np.array([5.0]), W, D, NC, max_terms=3, return_info=True)
    assert np.isnan(out[0]) and not info["converged"][0]


def _laws():
    term = st.tuples(st.floats(1e-2, 10.0), st.sampled_from([0.5, 1.0, 2.0, 3.0, 7.0]), st.floats(0.0, 20.0))
    return st.lists(term, min_size=1, max_size=6)


@settings(max_examples=30)
@given(_laws(), st.floats(0.01, 1.5))
def test_bounds_sandwich_the_exact_value(terms, frac):
    w, d, nc = (np.array(v) for v in zip(*terms, strict=True))
    law = GChiSq(w, d, nc)
    x = frac * law.mean()
    lp = float(ruben_logcdf(x, w, d, nc))
    assert float(ruben_first_term_log_bound(x, w, d, nc)) <= lp + 1e-9 * abs(lp) + 1e-12
    assert lp <= float(chernoff_log_bound(x, w, d, nc)) + 1e-9 * abs(lp) + 1e-12


@settings(max_examples=30)
@given(_laws(), st.floats(0.05, 1.0), st.floats(0.1, 20.0))
def test_scale_invariance_and_merging_of_equal_weights(terms, frac, a):
    w, d, nc = (np.array(v) for v in zip(*terms, strict=True))
    x = frac * GChiSq(w, d, nc).mean()
    lp = float(ruben_logcdf(x, w, d, nc))
    assert float(ruben_logcdf(a * x, a * w, d, nc)) == pytest.approx(lp, rel=1e-9, abs=1e-12)
    ww, dd, nn = np.r_[w, w[:1]], np.r_[d, d[:1]], np.r_[nc, nc[:1]]
    merged = (np.r_[w[:1], w[1:]], np.r_[2 * d[:1], d[1:]], np.r_[2 * nc[:1], nc[1:]])
    assert float(ruben_logcdf(x, ww, dd, nn)) == pytest.approx(float(ruben_logcdf(x, *merged)), rel=1e-10)


@settings(max_examples=30)
@given(_laws(), st.floats(0.05, 0.9), st.integers(0, 5))
def test_more_non_centrality_or_one_more_term_only_lowers_the_cdf(terms, frac, j):
    w, d, nc = (np.array(v) for v in zip(*terms, strict=True))
    x = frac * GChiSq(w, d, nc).mean()
    lp = float(ruben_logcdf(x, w, d, nc))
    nc2 = nc.copy()
    nc2[j % nc.size] += 1.0
    assert float(ruben_logcdf(x, w, d, nc2)) < lp
    assert float(ruben_logcdf(x, np.r_[w, 0.3], np.r_[d, 1.0], np.r_[nc, 0.0])) < lp


def test_sample_moments_match_the_law():
    law = GChiSq(W, D, NC, offset=0.5)
    x = law.sample(jax.random.key(0), 100000)
    assert abs(x.mean() - law.mean()) < 5 * math.sqrt(law.var() / x.size)
    assert x.min() > 0.5


def test_cdf_quantile_and_offset():
    law = GChiSq(W, D, NC, offset=2.0)
    assert float(law.logcdf(2.0)) == -math.inf and float(law.cdf(1e9)) == pytest.approx(1.0)
    q = law.quantile(0.01)
    assert float(law.cdf(q)) == pytest.approx(0.01, rel=1e-9)


def test_indefinite_forms_use_imhof_and_the_saddlepoint_but_not_ruben():
    law = GChiSq([1.0, -0.5], [2.0, 3.0], [0.5, 1.0])
    p_imhof = float(law.cdf(0.0, method="imhof"))
    assert p_imhof == pytest.approx(float(law.cdf(0.0, method="saddlepoint")), abs=0.01)
    assert law.logcdf(0.0).method in ("imhof", "saddlepoint")
    with pytest.raises(ValueError, match="positive"):
        law.logcdf(0.0, method="ruben")
    with pytest.raises(ValueError, match="positive"):
        ruben_first_term_log_bound(0.5, [1.0, -0.5], [2, 3], [0, 0])


@pytest.mark.parametrize("kwargs, match", [
    ({"weights": [1.0, 0.0], "dfs": 1, "ncs": 0}, "non-zero"),
    ({"weights": [1.0], "dfs": 0, "ncs": 0}, "dfs"),
    ({"weights": [1.0], "dfs": 1, "ncs": -1}, "ncs"),
    ({"weights": [np.nan], "dfs": 1, "ncs": 0}, "weights"),
    ({"weights": [], "dfs": 1, "ncs": 0}, "at least one"),
])
def test_bad_laws_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GChiSq(**kwargs)


def test_bad_evaluation_arguments_are_rejected():
    law = GChiSq(W, D, NC)
    with pytest.raises(ValueError, match="method"):
        law.logcdf(1.0, method="davies")
    with pytest.raises(ValueError, match="NaN"):
        law.logcdf(np.nan)
    with pytest.raises(ValueError, match="weights must be positive"):
        ruben_logcdf(1.0, [-1.0], [1.0], [0.0])
