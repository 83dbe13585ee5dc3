"""Conditional risks, calibration gaps (cvxpy), closed forms, predicates and the spec's tables P-A5..P-A11."""

import math

import numpy as np
import pytest
from scipy import optimize

from theory.ldr import calibration as cal

INF = math.inf


@pytest.mark.parametrize("lam,min_risk,gap", [(0.0, 1.0, 0.0), (0.05, 0.977183, 4.200e-4), (0.2, 0.909539, 1.629e-3),
                                              (1.0, 0.732978, 3.258e-3), (5.0, 0.585996, 9.660e-3)])
def test_tv_a14_gap_table(lam, min_risk, gap):
    q = [0.4, 0.35, 0.25]
    assert cal.min_conditional_risk(q, lam=lam, margin=1.0)[0] == pytest.approx(min_risk, abs=1e-6)
    d = cal.calibration_gap(q, 0, 1, lam=lam, margin=1.0)
    assert d == pytest.approx(gap, abs=1e-6)
    assert (d > 1e-6) == (lam > 0)


def test_tv_a15_zero_margin_minimiser():
    q = np.array([0.5, 0.3, 0.2])
    value, f = cal.min_conditional_risk(q, lam=1.0)
    assert value == pytest.approx(-0.0689592746, abs=1e-9) == cal.min_risk_zero_margin(q, lam=1.0)
    np.testing.assert_allclose(f - f.mean(), [0.47570545, -0.03512017, -0.44058528], atol=1e-6)
    logq = np.log(q)
    np.testing.assert_allclose(f - f.mean(), logq - logq.mean(), atol=1e-6)  # f* = lambda log q + t 1
    assert cal.min_risk_zero_margin(q, lam=0.5) == pytest.approx(-0.0689592746 / 2, abs=1e-9)


@pytest.mark.parametrize("lam,f_star,risk", [(1.0, (0.67910796, -0.10023972, -0.57886825), 0.6407733668),
                                             (0.5, (0.47238435, -0.11479299, -0.35759136), 0.7392800731)])
def test_p_a5_uniform_margin_minimisers_vs_bfgs(lam, f_star, risk):
    q = np.array([0.5, 0.3, 0.2])
    value, f = cal.min_conditional_risk(q, lam=lam, margin=1.0)
    res = optimize.minimize(lambda g: cal.conditional_risk(g, q, lam=lam, margin=1.0), np.zeros(3), method="BFGS",
                            options={"gtol": 1e-10})
    assert value == pytest.approx(risk, abs=1e-8) and res.fun == pytest.approx(risk, abs=1e-8)
    np.testing.assert_allclose(f - f.mean(), f_star, atol=1e-5)


@pytest.mark.parametrize("q,c,gap,risk", [((0.6, 0.25, 0.15), 1.0, 0.2, 0.8), ((0.7, 0.2, 0.1), 1.0, 0.4, 0.6),
                                          ((0.7, 0.2, 0.1), 2.0, 0.8, 1.2), ((0.45, 0.35, 0.2), 1.0, 0.0, 1.0)])
def test_tv_a16_crammer_singer(q, c, gap, risk):
    assert cal.cs_top1_gap(q, c=c) == pytest.approx(gap, abs=1e-12)
    assert cal.cs_min_risk(q, c=c) == pytest.approx(risk, abs=1e-12)
    assert cal.calibration_gap(q, 0, 1, lam=0.0, margin=c) == pytest.approx(gap, abs=1e-8)
    assert cal.min_conditional_risk(q, lam=0.0, margin=c)[0] == pytest.approx(risk, abs=1e-8)


def test_pe_a8_cs_gap_without_positive_part_is_caught():
    q = (0.45, 0.35, 0.2)
    wrong = 1.0 * (2 * max(q) - 1)
    assert wrong == pytest.approx(-0.1) and abs(wrong - cal.calibration_gap(q, 0, 1, lam=0.0, margin=1.0)) > 0.09


def test_p_a6_class_dependent_margin_counterexample_and_pe_a5():
    C = np.zeros((3, 3))
    C[[0, 2], 1] = 2.0
    q = [0.36, 0.34, 0.30]
    gap = cal.calibration_gap(q, 0, 1, lam=1.0, margin=C)
    assert abs(gap) < 1e-8  # spec: 1.4e-10, the minimiser puts f_1 >= f_0 although q_0 > q_1
    _, f = cal.min_conditional_risk(q, lam=1.0, margin=C)
    assert f[1] >= f[0]
    assert not cal.is_rank_calibrated(lam=1.0, margin=C, K=3)  # PE-A5 would say True here
    assert cal.is_rank_calibrated(lam=1.0, margin=0.5, K=3)


def test_p_a8_symmetric_loss_top1_not_top2():
    q = [0.5, 0.3, 0.2]
    assert cal.calibration_gap(q, 0, 1, lam=INF, domain="simplex") == pytest.approx(0.3, abs=1e-8)
    assert abs(cal.calibration_gap(q, 1, 2, lam=INF, domain="simplex")) < 1e-8
    assert cal.symmetric_gap_bounded(q, 0, 1) == pytest.approx(0.3)
    assert cal.symmetric_gap_bounded(q, 1, 2) == 0.0
    assert cal.is_top1_calibrated(q, lam=INF, margin=0.0, K=3, domain="simplex")
    assert not cal.is_rank_calibrated(lam=INF, margin=0.0, K=3, domain="simplex")
    with pytest.raises(ValueError, match="bounded domain"):
        cal.min_conditional_risk(q, lam=INF)


def test_p_a9_bounded_domain_caveat():
    q = [0.5, 0.3, 0.2]
    assert cal.calibration_gap(q, 1, 2, lam=1.0, domain="simplex") == pytest.approx(0.01007, abs=1e-5)
    assert abs(cal.calibration_gap(q, 1, 2, lam=10.0, domain="simplex")) < 1e-8


def test_p_a10_symmetric_sum_tends_to_c_sym():
    rng = np.random.default_rng(0)
    f = 3.0 * rng.standard_normal(5)
    sums = [cal.symmetric_sum(f, lam=lam, margin=0.7) for lam in (0.1, 1.0, 10.0, 100.0, 1e4)]
    assert all(s2 <= s1 for s1, s2 in zip(sums, sums[1:], strict=False))
    assert sums[-1] == pytest.approx(2.8, abs=1e-3) and cal.symmetric_sum(f, lam=INF, margin=0.7) == pytest.approx(2.8)
    for lam in (0.1, 1.0, 10.0):
        lo, hi = cal.symmetry_bounds(f, lam=lam, margin=0.7)
        s = cal.symmetric_sum(f, lam=lam, margin=0.7)
        assert lo - 1e-12 <= s <= hi + 1e-12
    assert cal.is_symmetric(lam=INF) and not cal.is_symmetric(lam=10.0)
    assert sums[1] > 2.8 + 1.0  # PE-A6: LDR-KL at lambda = 1 is far from symmetric


def test_p_a11_noise_identity_and_bound():
    rng = np.random.default_rng(1)
    q = rng.dirichlet(np.ones(4))
    f = rng.uniform(0, 2, 4)
    eta = 0.4
    qn = cal.noisy_posterior(q, eta=eta)
    lhs = cal.conditional_risk(f, qn, lam=2.0, margin=0.1)
    rhs = (1 - eta) * cal.conditional_risk(f, q, lam=2.0, margin=0.1) + eta / 4 * cal.symmetric_sum(f, lam=2.0,
                                                                                                     margin=0.1)
    assert lhs == pytest.approx(rhs, abs=1e-12)
    assert cal.noise_excess_bound(0.5, lam=INF, r=4.1) == 0.0
    assert cal.noise_excess_bound(0.5, lam=2.0, r=4.1) == pytest.approx(0.5 * 4.1**2 / 16 / 0.5)
    np.testing.assert_allclose(cal.noisy_posterior([1.0, 0, 0], eta=0.3, kind="pairflip"), [0.7, 0.3, 0.0])


def test_predicates():
    assert cal.is_uniform_margin(0.3, 4) and not cal.is_uniform_margin(-0.3, 4)
    assert not cal.is_rank_calibrated(lam=0.0, margin=1.0, K=3)
    assert cal.is_top1_calibrated([0.6, 0.3, 0.1], lam=0.0, margin=1.0, K=3)
    assert not cal.is_top1_calibrated([0.45, 0.35, 0.2], lam=0.0, margin=1.0, K=3)
    assert not cal.is_top1_calibrated([0.5, 0.3, 0.2], lam=INF, margin=0.0, K=3)


def test_bad_inputs():
    with pytest.raises(ValueError, match="q"):
        cal.conditional_risk([0.0, 0.0], [0.6, 0.6], lam=1.0)
    with pytest.raises(ValueError, match="lam"):
        cal.conditional_risk([0.0, 0.0], [0.5, 0.5], lam=-1.0)
    with pytest.raises(ValueError, match="domain"):
        cal.min_conditional_risk([0.5, 0.5], lam=1.0, domain="ball")
    with pytest.raises(ValueError, match="differ"):
        cal.calibration_gap([0.5, 0.5], 0, 0, lam=1.0)
    with pytest.raises(ValueError, match="eta"):
        cal.noise_excess_bound(1.0, lam=1.0, r=1.0)
    with pytest.raises(ValueError, match="kind"):
        cal.noisy_posterior([0.5, 0.5], eta=0.1, kind="flip")
