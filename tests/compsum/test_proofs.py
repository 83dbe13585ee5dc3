"""The sympy / cvxpy cross-checks of ``proofs.compsum``, fast tier.

Each check runs as its own test at ``smallest=True``. Two wrong formulas show that the same machinery
rejects errors: the GCE minimal conditional risk evaluated at the cross-entropy minimizer ``S = p`` fails
the convex program of the complete-set minimal risk, and ``T(1)`` without the ``n^{tau-1}`` factor fails the
closed forms of the transformation at ``t = 1``.
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
    cvx_checks = [c for c in proofs_compsum.CHECKS if c.__name__.startswith("check_cvxpy_")]
    assert len(cvx_checks) == 4
    total = sum(check(smallest=True)["n_solves"] for check in cvx_checks)
    assert 0 < total <= 10  # the fast tier stays at about 10 cvxpy solves


def _gce_cstar_at_ce_minimizer(p, tau):
    """A wrong C*: for GCE (1 < tau < 2), C_tau taken at the cross-entropy minimizer S = p."""
    p = np.asarray(p, dtype=np.float64)
    if 1 < tau < 2:
        return float(((p ** (tau - 1) - 1) / (1 - tau) * p).sum())
    return float(min_conditional_risk(p, tau=tau))


def test_the_gce_risk_at_the_cross_entropy_minimizer_fails_the_convex_program():
    # p = (0.5, 0.3, 0.2), tau = 1.5 gives 0.785374 instead of 0.767117.
    assert abs(_gce_cstar_at_ce_minimizer((0.5, 0.3, 0.2), 1.5) - 0.785374) < 1e-6
    with pytest.raises(AssertionError, match=r"C\*_1\.5\(\(0\.5, 0\.3, 0\.2\)\).*diff \+0\.0183"):
        proofs_compsum.check_cvxpy_complete_min_risk(smallest=True, cstar_fn=_gce_cstar_at_ce_minimizer)


def test_transform_at_one_without_the_n_factor_fails_the_closed_forms():
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
        proofs_compsum.check_transform_at_one(smallest=True, t1_fn=t1_dropped)
