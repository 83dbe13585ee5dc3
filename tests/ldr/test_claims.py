"""The ldr claims at smoke scale (shared suite: no FAIL, rivals declared, the prediction passes on the recorded
measurement), and the closed forms and rival helpers that the claims add.

The wrong predictions a referee would raise (the -lambda log K term dropped, the margin sign flipped, the
wrong-sign ALDR fixed point, "calibrated for any margins", ...) are the claims' rivals, judged by the engine on
each run.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.claims_harness import claim_suite
from theory.ldr import calibration as cal
from theory.ldr.aldr import aldr_kl_solve
from theory.ldr.claims import (
    NOISY_CONTRASTS,
    NOISY_DELTA,
    NOISY_K_SE,
    _aldr_predict,
    _box_minimiser,
    _noisy_rivals,
    _rank_gap_closed_form,
    _uniform_margin_min_risk,
    _zero_margin_risk,
)
from theory.ldr.reference import ldr_kl_numpy
from theory.verify import Measurement
from theory.verify.runner import judge_rival

CLAIMS, TestClaims = claim_suite("ldr", min_claims=9)


# ---- closed forms behind the predictions ---------------------------------------------------------


@pytest.mark.parametrize("lam,risk", [(1.0, 0.6407733668), (0.5, 0.7392800731)])
def test_uniform_margin_min_risk_matches_bfgs_table(lam, risk):
    # BFGS from six starts gave these minimum risks for c = 1, q = (0.5, 0.3, 0.2) (docs/ldr.md, calibration)
    assert _uniform_margin_min_risk(np.array([0.5, 0.3, 0.2]), lam, 1.0) == pytest.approx(risk, abs=1e-9)


def test_uniform_margin_min_risk_at_zero_margin_is_minus_lambda_kl():
    q = np.array([0.5, 0.25, 0.15, 0.1])
    for lam in (0.1, 1.0, 7.0):
        assert _uniform_margin_min_risk(q, lam, 0.0) == pytest.approx(cal.min_risk_zero_margin(q, lam=lam), abs=1e-12)


@pytest.mark.parametrize("lam,gap", [(0.05, 4.200e-4), (0.2, 1.629e-3), (1.0, 3.258e-3), (5.0, 9.660e-3)])
def test_rank_gap_closed_form_matches_the_cvxpy_table(lam, gap):
    assert _rank_gap_closed_form(np.array([0.4, 0.35, 0.25]), 0, 1, lam, 1.0) == pytest.approx(gap, abs=1e-6)


def test_rank_gap_closed_form_matches_cvxpy_on_a_four_class_case():
    q = np.array([0.1, 0.4, 0.2, 0.3])
    for i, j in ((1, 3), (3, 2), (2, 0)):
        expected = cal.calibration_gap(q, i, j, lam=0.3, margin=0.5)
        assert _rank_gap_closed_form(q, i, j, 0.3, 0.5) == pytest.approx(expected, abs=1e-8)
        assert expected > 1e-4


def test_box_minimiser_is_the_cvxpy_minimiser_and_satisfies_kkt():
    q, lam, B = np.array([0.6, 0.25, 0.1, 0.05]), 1.5, 2.0
    f = _box_minimiser(q, lam, B)
    p = np.exp(f / lam) / np.sum(np.exp(f / lam))
    inside, low, high = (f > 1e-12) & (f < B - 1e-12), f <= 1e-12, f >= B - 1e-12
    assert low.any() and high.any()  # both bounds active: the clipping is exercised
    np.testing.assert_allclose(p[inside], q[inside], atol=1e-12)
    assert np.all(p[low] >= q[low] - 1e-12) and np.all(p[high] <= q[high] + 1e-12)
    value = cal.min_conditional_risk(q, lam=lam, domain=("box", B))
    assert _zero_margin_risk(f, q, lam) == pytest.approx(value, abs=1e-9)


def test_box_minimiser_at_infinite_lambda_is_noise_tolerant():
    q = np.array([0.5, 0.3, 0.2])
    for eta in (0.2, 0.9):
        qn = cal.noisy_posterior(q, eta=eta)
        np.testing.assert_array_equal(_box_minimiser(qn, math.inf, 2.0), _box_minimiser(q, math.inf, 2.0))


def test_aldr_prediction_is_the_penalised_objective_at_lambda_star():
    # the value must be psi_{lam*} - alpha/2 (lam* - lam0)^2 with lam* in [lam0 - log K/alpha, lam0], and no grid
    # point of that interval may beat it; this case has two local maxima in lambda (one near the lower end)
    f = np.array([-0.226, -0.133, -0.021, 0.901, 0.522, -0.362, -0.435, 0.687, 0.721])
    y, c, lam0, K = 7, 0.511, 0.5, 9
    alpha = 1.05 * math.log(K) / lam0
    value = _aldr_predict({"cases": [dict(f=f, y=y, c=c, lam0=lam0, alpha=alpha)]})[0]
    with jax.enable_x64(True):
        _, lam_star = aldr_kl_solve(jnp.asarray(f), jnp.asarray(y), lam0=lam0, alpha=alpha, margin=c)
    lam_star = float(lam_star)
    a = c + f - f[y]
    a[y] = 0.0
    grid = np.linspace(lam0 - math.log(K) / alpha, lam0, 4001)[1:]
    h = ldr_kl_numpy(np.broadcast_to(a, (grid.size, K)), grid) - 0.5 * alpha * (grid - lam0) ** 2
    assert np.sum(np.r_[h[0] > h[1], (h[1:-1] > h[:-2]) & (h[1:-1] > h[2:]), h[-1] > h[-2]]) == 2
    assert lam0 - math.log(K) / alpha <= lam_star <= lam0
    assert value == pytest.approx(float(ldr_kl_numpy(a, lam_star)) - 0.5 * alpha * (lam_star - lam0) ** 2, abs=1e-12)
    assert value >= h.max() - 1e-12


# ---- rival helpers ---------------------------------------------------------------------------------


def _noisy_measurement(means, ses, etas):
    labels = [f"{c[0]}, uniform eta={e:g}" for c in NOISY_CONTRASTS for e in etas]
    return Measurement(np.asarray(means, float), np.asarray(ses, float), 8,
                       inputs={"labels": labels, "direction": [c[3] for c in NOISY_CONTRASTS for _ in etas]})


def test_noisy_row_rivals_are_judged_row_by_row():
    etas = (0.3, 0.6)
    claim = CLAIMS["ldr.noisy_accuracy"]
    rivals = {r.name: r for r in _noisy_rivals(etas)}
    assert len(rivals) == len(NOISY_CONTRASTS) * len(etas) + 1
    se = 0.005
    # every row clearly fine: each non-inferiority rival (<= -2 delta) and each "no gain" rival (<= 0) is rejected
    m = _noisy_measurement([0.0, 0.0, 0.0, 0.0, 0.1, 0.1], [se] * 6, etas)
    cfg = {**claim.config("default"), **m.inputs}
    assert claim.compare(claim.predict(cfg), m).passed
    for r in _noisy_rivals(etas):
        if r.name != "paper-sized gain everywhere":
            assert judge_rival(r, claim, cfg, m)["passed"] is False, r.name
    # one row within k SE of -2 delta: only that row's rival survives
    near = -2 * NOISY_DELTA + 0.5 * NOISY_K_SE * se
    m = _noisy_measurement([0.0, near, 0.0, 0.0, 0.1, 0.1], [se] * 6, etas)
    verdicts = {r.name: judge_rival(r, claim, cfg, m)["passed"] for r in _noisy_rivals(etas)}
    accepted = [name for name, ok in verdicts.items() if ok]
    assert accepted == ["LDR-KL lambda=10, eta=0.6: <= -2 delta"]
    assert claim.compare(claim.predict(cfg), m).passed  # between -2 delta and -delta: INCONCLUSIVE, not FAIL
    # below -delta - k SE the claim fails
    m = _noisy_measurement([0.0, -NOISY_DELTA - 1.1 * NOISY_K_SE * se, 0.0, 0.0, 0.1, 0.1], [se] * 6, etas)
    assert claim.compare(claim.predict(cfg), m).passed is False


def test_rank_rivals_reject_a_positive_gap_only_where_the_gap_is_zero(smoke):
    _, measured = smoke
    claim = CLAIMS["ldr.rank_calibration"]
    m = measured[claim.id]
    cfg = {**claim.config("smoke"), **m.inputs}
    kinds = np.array(m.inputs["kind"])
    assert set(kinds) == {"in_range", "class_margin", "cs", "symmetric", "bounded_lam"}
    # a measurement with the failure rows' gaps made positive would be accepted by those rivals
    est = np.where(kinds == "in_range", m.estimate, 1e-3)
    fake = dataclasses.replace(m, estimate=est)
    for r in claim.rivals:
        if r.name.endswith("calibrated"):
            assert judge_rival(r, claim, cfg, m)["passed"] is False, r.name
            assert judge_rival(r, claim, cfg, fake)["passed"] is True, r.name


def test_noise_excess_comes_near_half_the_derived_bound_and_no_further(smoke):
    # the derived bound eta B^2/(8 lambda (1 - eta)) is at least 2x loose (docs/ldr.md, findings); the claim's
    # worst-case rows must come near that factor, or they test nothing
    _, measured = smoke
    ratio = measured["ldr.noise_robustness"].inputs["ratio_to_bound"]
    assert 0.45 < ratio.max() < 0.5
