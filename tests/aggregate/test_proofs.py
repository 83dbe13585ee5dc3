"""The sympy / cvxpy cross-checks of ``proofs.aggregate`` (docs/aggregate.md#derivations), fast tier, and planted
wrong formulas that the same checks reject."""

import pytest

from proofs import aggregate as proofs_aggregate
from theory.aggregate import asymptotic_risk, fixed_point_tau


@pytest.mark.parametrize("check", proofs_aggregate.CHECKS, ids=lambda c: c.__name__)
def test_derivation_check_passes(check):
    result = check(smallest=True)
    assert isinstance(result, dict) and result


def test_planted_slope_without_its_factor_two_is_rejected():
    def half(g, k):
        p = 1 / k
        return -(1 - p) * p * g / (p - g) ** 3

    with pytest.raises(AssertionError, match="slope at"):
        proofs_aggregate.check_risk_slope_at_zero_by_implicit_differentiation(smallest=True, slope_fn=half)


def test_planted_instance_variance_without_1_over_k_is_rejected():
    def missing(g, k, rho):  # sigma^2 gamma/(1-gamma) at rho = 1: the 1/k of the averaged labels dropped
        r = asymptotic_risk(g, bag_size=k, rho=rho)
        return type(r)(r.tau, r.c1, r.bias2, g / (1 - g), r.bias2 + g / (1 - g))

    with pytest.raises(AssertionError, match="rho=1 closed forms"):
        proofs_aggregate.check_instance_level_closed_forms(smallest=True, risk_fn=missing)


def test_planted_root_with_p_and_q_swapped_is_rejected():
    def naive(g, k, rho):  # the fixed point solved with p and q swapped
        swapped = max(1, round(k / (k - 1))) if k > 1 else 1
        return fixed_point_tau(g, bag_size=swapped, rho=rho, allow_extrapolation=True)

    with pytest.raises(AssertionError, match="tau at"):
        proofs_aggregate.check_fixed_point_is_the_positive_root_of_a_quadratic(smallest=True, tau_fn=naive)
