"""The sympy / cvxpy cross-checks of ``proofs.aggregate`` (spec B4), fast tier, and planted wrong formulas."""

import pytest

from proofs import aggregate as proofs_aggregate
from theory.aggregate import asymptotic_risk, fixed_point_tau


@pytest.mark.parametrize("check", proofs_aggregate.CHECKS, ids=lambda c: c.__name__)
def test_check(check):
    result = check(smallest=True)
    assert isinstance(result, dict) and result


def test_planted_slope_without_factor_two_fails_b6():
    def half(g, k):
        p = 1 / k
        return -(1 - p) * p * g / (p - g) ** 3

    with pytest.raises(AssertionError, match="slope at"):
        proofs_aggregate.check_b6_slope_at_zero(smallest=True, slope_fn=half)


def test_planted_instance_variance_without_1_over_k_fails_b4():
    def missing(g, k, rho):  # B8.1: sigma^2 gamma/(1-gamma) at rho = 1
        r = asymptotic_risk(g, k, rho)
        return type(r)(r.tau, r.c1, r.bias2, g / (1 - g), r.bias2 + g / (1 - g))

    with pytest.raises(AssertionError, match="rho=1 closed forms"):
        proofs_aggregate.check_b4_rho_one(smallest=True, risk_fn=missing)


def test_planted_unstable_root_fails_b3():
    def naive(g, k, rho):  # the fixed point solved with p and q swapped
        return fixed_point_tau(g, max(1, round(k / (k - 1))) if k > 1 else 1, rho, allow_extrapolation=True)

    with pytest.raises(AssertionError, match="tau at"):
        proofs_aggregate.check_b3_fixed_point_quadratic(smallest=True, tau_fn=naive)
