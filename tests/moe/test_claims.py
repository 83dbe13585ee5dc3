"""The moe claims: no FAIL at smoke scale, rivals declared on every claim, and the helpers behind the rate
and wrong-K claims (standardised error norms, the one-sided rival of the split-cell bound, the KL projection)."""

import jax
import numpy as np
import pytest

from tests.claims_harness import claim_suite
from theory.moe.claims import OVER_SPLIT_SLOW, _extrapolate, split_error, standardised_error
from theory.moe.model import MoEParams
from theory.moe.simulate import (
    EXACT_DESIGN,
    OVER_SPECIFIED_DESIGN,
    TRUTH,
    asymptotic_sd,
    kl_projection,
    population_data,
    population_kl,
    run_design,
)
from theory.verify import Measurement
from theory.verify.runner import judge_rival
from theory.verify.runner import status as run_status

CLAIMS, TestClaims = claim_suite("moe", min_claims=9)


def test_non_converged_replicates_are_reported(smoke):
    _, measured = smoke
    for claim_id in ("moe.exact_density_rate", "moe.over_density_rate"):
        assert "not converged and excluded" in measured[claim_id].note


def _power_law(slope, se=0.01):
    ns = np.array([500.0, 2000.0, 8000.0])
    return Measurement(ns**slope, se * ns**slope, 16, None, {"n": ns})


def test_split_cell_bound_and_its_one_sided_rivals():
    """The split-cell claim is an upper bound on the slope; its slower rival is judged one-sided the other way, so
    only a precise run decaying at about n^-1/8 rejects both neighbours (PASS), a noisy one rejects neither
    (INCONCLUSIVE), a faster decay satisfies the bound without its tighter rivals being rejected, and a precise
    flat run breaks the bound (FAIL)."""
    claim = OVER_SPLIT_SLOW
    assert claim.compare.relation == "<="
    cfg = claim.config("default")
    for slope, se, status in ((-0.125, 0.01, "PASS"), (0.0, 0.3, "INCONCLUSIVE"), (-0.6, 0.01, "INCONCLUSIVE"),
                              (0.0, 0.01, "FAIL")):
        m = _power_law(slope, se)
        rivals = [judge_rival(r, claim, cfg, m) for r in claim.rivals]
        assert run_status(claim.compare(claim.predict(cfg), m).passed, rivals) == status, (slope, se, rivals)


def test_standardised_error_is_zero_at_the_truth_and_scales_with_the_sd():
    sd = asymptotic_sd(TRUTH, top_k=2)
    params = MoEParams(*(np.broadcast_to(v, (1, 2, *np.shape(v))).copy() for v in TRUTH))
    params.b[0, 1] += 2 * sd.b
    table = {"params": params, "hellinger": np.zeros((1, 2))}
    np.testing.assert_allclose(standardised_error(table, ("b",), EXACT_DESIGN.layout), [[0.0, 2 * np.sqrt(3)]],
                               atol=1e-12)
    np.testing.assert_allclose(standardised_error(table, ("a", "v"), EXACT_DESIGN.layout), [[0.0, 0.0]], atol=1e-12)
    # a split layout: only experts 0 and 2 are singletons, and split_error reads the two atoms of expert 1
    layout = OVER_SPECIFIED_DESIGN.layout
    over = MoEParams(*(np.broadcast_to(v, (1, 2, *np.shape(v))).copy() for v in
                       TRUTH._replace(**{f: np.take(getattr(TRUTH, f), layout, axis=0) for f in TRUTH._fields})))
    over.b[0, 1, 2] += 0.3
    np.testing.assert_allclose(standardised_error({"params": over, "hellinger": np.zeros((1, 2))}, ("b",), layout),
                               [[0.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(split_error({"params": over, "hellinger": np.zeros((1, 2))}, "b", layout),
                               [[0.0, 0.3]], atol=1e-12)


def test_asymptotic_sd_matches_the_spread_of_the_mle():
    tab = run_design(EXACT_DESIGN, [4000], 16, key=jax.random.key(3), em_iters=15, polish_iters=5,
                     newton_iters=0)
    sd = asymptotic_sd(TRUTH, top_k=2)
    rms = np.sqrt(np.mean((tab["params"].b[0] - TRUTH.b) ** 2, axis=0))
    ratio = rms * np.sqrt(4000) / sd.b
    assert np.all((ratio > 0.5) & (ratio < 1.6)), ratio  # 16 replicates: a chi_16 spread of about +-0.35


def test_population_data_integrates_the_truth():
    x, y, w = population_data(TRUTH, top_k=2)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    # E[X] = 0, E[Y | x] is the gate-weighted expert mean: check E[Y] against a direct quadrature
    assert np.sum(w * x[:, 0]) == pytest.approx(0.0, abs=1e-12)
    from theory.moe import gates
    from theory.moe.hellinger import x_quadrature

    xq, wq = x_quadrature(16)
    mean_y = np.sum(wq * np.sum(gates(TRUTH, xq, top_k=2) * (xq @ TRUTH.a.T + TRUTH.b), axis=1))
    assert np.sum(w * y) == pytest.approx(mean_y, abs=1e-12)


def test_run_design_rejects_a_bucket_below_the_largest_n():
    with pytest.raises(ValueError, match="bucket"):
        run_design(EXACT_DESIGN, [500, 2000], 2, key=jax.random.key(0), buckets=[1000])


def test_wrong_top_k_prediction_is_the_kl_projection():
    """The wrong-K prediction is the KL divergence of the KL projection (a population fit); no member of the class
    does better, the truth with the wrong gating does worse (its rival), and the right class reaches 0."""
    claim = CLAIMS["moe.wrong_K_plateau"]
    cfg = claim.config("smoke")
    pred = claim.predict(cfg)
    np.testing.assert_allclose(pred, [0.02686, 0.96817], atol=1e-5)
    named = {r.name: np.asarray(r.predict(cfg)) for r in claim.rivals}
    assert np.all(named["truth with K_fit gating"] > pred)
    G = kl_projection(EXACT_DESIGN)
    assert population_kl(MoEParams(*(np.asarray(v)[None] for v in G)), TRUTH, top_k=2, top_k_star=2)[0] < 1e-9


def test_extrapolation_recovers_a_quadratic_in_one_over_n():
    ns = np.array([500, 1000, 8000])
    rows = [0.03 + 7.0 / n + 900.0 / n**2 + np.array([-1e-4, 1e-4]) for n in ns]
    a, se, _ = _extrapolate(ns, rows)
    assert a == pytest.approx(0.03, abs=1e-12) and se > 0


def test_rate_claims_share_the_engine_experiments_under_their_group_names():
    """The shared fits are verify.Experiments named like the former groups (same keys, same draws); the module
    keeps no cache of them."""
    from theory.moe import claims

    groups = {c.id: (c.group, c.experiment) for c in CLAIMS.values() if c.experiment is not None}
    assert {g for g, _ in groups.values()} == {"moe.k3", "moe.over"}
    assert all(e.name == g for g, e in groups.values())
    assert groups["moe.wrong_K_plateau"][1] is claims.K3_EXPERIMENT
    assert groups["moe.over_split_slow"][1] is claims.OVER_EXPERIMENT
    assert not [name for name, v in vars(claims).items() if hasattr(v, "cache_info") or name == "_GROUPS"]
