"""The sympy / cvxpy cross-checks of ``proofs.compsum`` (spec S1-S10, C1-C4), fast tier.

Each check runs as its own test at ``smallest=True``. Two planted wrong formulas show that the same
machinery rejects errors: the GCE minimal conditional risk evaluated at the cross-entropy
minimizer ``S = p`` (spec PE6) fails C1, and ``T(1)`` without the ``n^{tau-1}`` factor fails S7.
"""

import numpy as np
import pytest

from proofs import compsum as proofs_compsum
from theory.compsum import min_conditional_risk


@pytest.mark.parametrize("check", proofs_compsum.CHECKS, ids=lambda c: c.__name__)
def test_check(check):
    result = check(smallest=True)
    assert isinstance(result, dict) and result


def test_smallest_tier_is_small():
    cvx_checks = [c for c in proofs_compsum.CHECKS if c.__name__.startswith("check_c")]
    assert len(cvx_checks) == 4
    total = sum(check(smallest=True)["n_solves"] for check in cvx_checks)
    assert 0 < total <= 10  # spec pitfall 9: at most about 10 cvxpy solves in the fast tier


def _gce_cstar_at_ce_minimizer(p, tau):
    """PE6: for GCE (1 < tau < 2), C* taken as C_tau at the cross-entropy minimizer S = p."""
    p = np.asarray(p, dtype=np.float64)
    if 1 < tau < 2:
        return float(((p ** (tau - 1) - 1) / (1 - tau) * p).sum())
    return float(min_conditional_risk(p, tau=tau))


def test_planted_pe6_fails_c1():
    # Spec PE6: p = (0.5, 0.3, 0.2), tau = 1.5 gives 0.785374 instead of 0.767117.
    assert abs(_gce_cstar_at_ce_minimizer((0.5, 0.3, 0.2), 1.5) - 0.785374) < 1e-6
    with pytest.raises(AssertionError, match=r"C\*_1\.5\(\(0\.5, 0\.3, 0\.2\)\).*diff \+0\.0183"):
        proofs_compsum.check_c1_complete_min_risk(smallest=True, cstar_fn=_gce_cstar_at_ce_minimizer)


def test_planted_t1_without_n_factor_fails_s7():
    def t1_dropped(*, tau, n_classes):
        # T(1) with the n^{tau-1} factor of the tau > 1 branches dropped.
        if tau < 1:
            return (2 ** (1 - tau) - 1) / (1 - tau)
        if tau == 1:
            return float(np.log(2))
        if tau < 2:
            return (2 ** (tau - 1) - 1) / (tau - 1)
        return 1 / (tau - 1)

    with pytest.raises(AssertionError, match=r"T\(1\) at tau = 3/2"):
        proofs_compsum.check_s7_transform_at_one(smallest=True, t1_fn=t1_dropped)
