"""The sympy / cvxpy checks of ``proofs.ldr`` at their smallest setting, and planted wrong formulas failing them."""

import math

import pytest

from proofs import ldr as proofs_ldr
from theory.ldr import ldr_kl_loss, ldr_loss, min_risk_zero_margin


@pytest.mark.parametrize("check", proofs_ldr.CHECKS, ids=lambda c: c.__name__)
def test_each_check_passes_at_its_smallest_setting(check):
    result = check(smallest=True)
    assert isinstance(result, dict) and result


def test_kkt_check_rejects_the_closed_form_without_minus_lambda_log_k():
    def without_log_k(f, y, lam):  # lambda LSE(a/lambda): the KL to the uniform distribution as negative entropy
        return ldr_kl_loss(f, y, lam=lam) + lam * math.log(f.shape[-1])

    with pytest.raises(AssertionError, match="closed form"):
        proofs_ldr.check_kkt_closed_form(smallest=True, loss_fn=without_log_k)


def test_limits_check_rejects_swapped_limits():
    def swapped(f, y, lam):
        return ldr_kl_loss(f, y, lam=math.inf if lam == 0 else 0.0 if math.isinf(lam) else lam)

    with pytest.raises(AssertionError, match="lam=0 gives"):
        proofs_ldr.check_limits(smallest=True, loss_fn=swapped)


def test_lambda_derivative_check_rejects_the_kl_without_log_k():
    import sympy as sp

    with pytest.raises(AssertionError, match="dpsi/dlambda"):
        proofs_ldr.check_lambda_derivatives(smallest=True, kl_fn=lambda p, K: sum(pi * sp.log(pi) for pi in p))


def test_conditional_risk_check_rejects_plus_lambda_kl():
    with pytest.raises(AssertionError, match="min risk"):
        proofs_ldr.check_zero_margin_conditional_risk(smallest=True,
                                             min_risk_fn=lambda q, lam: -min_risk_zero_margin(q, lam=lam))


def test_inner_max_check_rejects_top_k_without_the_cap():
    def ignore_k(f, y, *, k, **kw):  # the capped set Omega_k ignored (k treated as 1 for KL)
        return ldr_loss(f, y, k=1 if kw["reg"] == "kl" else k, **kw)

    with pytest.raises(AssertionError, match="k=3"):
        proofs_ldr.check_inner_max_by_cvxpy(smallest=True, loss_fn=ignore_k)


def test_calibration_gap_check_rejects_a_calibrated_crammer_singer():
    with pytest.raises(AssertionError, match="lambda = 0"):
        proofs_ldr.check_calibration_gaps_by_cvxpy(smallest=True, gap_fn=lambda q, i, j, **kw: 1e-3)
