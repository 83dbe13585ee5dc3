"""The sympy / cvxpy checks of ``proofs.ldr`` at their smallest setting, and planted wrong formulas failing them."""

import math

import pytest

from proofs import ldr as proofs_ldr
from theory.ldr import ldr_kl_loss, ldr_loss, min_risk_zero_margin


@pytest.mark.parametrize("check", proofs_ldr.CHECKS, ids=lambda c: c.__name__)
def test_check(check):
    result = check(smallest=True)
    assert isinstance(result, dict) and result


def test_planted_pe_a1_fails_s1():
    def without_log_k(f, y, lam):  # PE-A1: lambda LSE(a/lambda), no -lambda log K
        return ldr_kl_loss(f, y, lam=lam) + lam * math.log(f.shape[-1])

    with pytest.raises(AssertionError, match="closed form"):
        proofs_ldr.check_s1_kkt_closed_form(smallest=True, loss_fn=without_log_k)


def test_planted_swapped_limits_fail_s2():
    def swapped(f, y, lam):
        return ldr_kl_loss(f, y, lam=math.inf if lam == 0 else 0.0 if math.isinf(lam) else lam)

    with pytest.raises(AssertionError, match="lam=0 gives"):
        proofs_ldr.check_s2_limits(smallest=True, loss_fn=swapped)


def test_planted_kl_without_log_k_fails_s3():
    import sympy as sp

    with pytest.raises(AssertionError, match="dpsi/dlambda"):
        proofs_ldr.check_s3_lambda_derivatives(smallest=True, kl_fn=lambda p, K: sum(pi * sp.log(pi) for pi in p))


def test_planted_positive_min_risk_fails_s6():
    with pytest.raises(AssertionError, match="min risk"):
        proofs_ldr.check_s6_conditional_risk(smallest=True,
                                             min_risk_fn=lambda q, lam: -min_risk_zero_margin(q, lam=lam))


def test_planted_topk_without_cap_fails_c1():
    def ignore_k(f, y, *, k, **kw):  # the capped set Omega_k ignored (k treated as 1 for KL)
        return ldr_loss(f, y, k=1 if kw["reg"] == "kl" else k, **kw)

    with pytest.raises(AssertionError, match="k=3"):
        proofs_ldr.check_c1_inner_max(smallest=True, loss_fn=ignore_k)


def test_planted_cs_calibrated_fails_c2():
    with pytest.raises(AssertionError, match="lambda = 0"):
        proofs_ldr.check_c2_calibration_gaps(smallest=True, gap_fn=lambda q, i, j, **kw: 1e-3)
