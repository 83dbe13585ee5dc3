"""The sympy / cvxpy cross-checks of ``proofs.ensloss`` (docs/ensloss.md), fast tier, and planted wrong formulas
that the same checks reject."""

import numpy as np
import pytest

from proofs import ensloss as proofs_ensloss
from theory.ensloss import conditional_risk_minimiser, rank_limit
from theory.ensloss.reference import numpy_ensloss_derivatives


@pytest.mark.parametrize("check", proofs_ensloss.CHECKS, ids=lambda c: c.__name__)
def test_derivation_check_passes(check):
    result = check(smallest=True)
    assert isinstance(result, dict) and result


def test_planted_exponential_minimiser_without_its_half_is_rejected():
    def wrong(name, eta):
        return conditional_risk_minimiser(eta, loss="logistic" if name == "exponential" else name)

    with pytest.raises(AssertionError, match="closed-form minimiser off"):
        proofs_ensloss.check_conditional_risk_minimisers(smallest=True, minimiser_fn=wrong)


def test_planted_rank_limit_without_the_clip_is_rejected():
    from scipy import special

    with pytest.raises(AssertionError, match="rank limit off"):
        proofs_ensloss.check_rank_limit(smallest=True, limit_fn=lambda u: -np.exp(-special.ndtri(u)))
    with pytest.raises(AssertionError, match="rank limit off"):
        proofs_ensloss.check_rank_limit(smallest=True, limit_fn=lambda u: rank_limit(1.0 - u))


def test_planted_reversed_ranks_are_rejected_by_the_order_statistics_and_the_lp():
    from theory.ensloss import expected_rank_derivative

    with pytest.raises(AssertionError, match="order-statistic expectations off"):
        proofs_ensloss.check_order_statistic_expectations(
            smallest=True, expectation_fn=lambda B, i: expected_rank_derivative(B, B - i + 1))
    with pytest.raises(AssertionError, match="library"):
        proofs_ensloss.check_convexity_certificate(
            smallest=True, derivative_fn=lambda z, n: numpy_ensloss_derivatives(z, n, assign="reversed"))
