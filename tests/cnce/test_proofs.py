"""The sympy / cvxpy cross-checks of ``proofs.cnce`` (docs/cnce.md), fast tier."""

import pytest

from proofs import cnce as proofs_cnce


@pytest.mark.parametrize("check", proofs_cnce.CHECKS, ids=lambda c: c.__name__)
def test_derivation_check_passes(check):
    result = check(smallest=True)
    assert isinstance(result, dict) and result
