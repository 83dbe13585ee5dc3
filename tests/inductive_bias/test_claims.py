"""The inductive_bias claims at smoke scale (no FAIL, rivals declared and judged) and what their recorded
measurements show (docs/inductive_bias.md, "Claims")."""

import numpy as np

from tests.claims_harness import claim_suite, judge_on
from theory import verify
from theory.inductive_bias import claims as ib_claims

CLAIMS, TestClaims = claim_suite("inductive_bias", min_claims=7)


def test_every_registered_claim_of_the_topic_is_tested():
    declared = {c.id for c in vars(ib_claims).values() if isinstance(c, verify.Claim)}
    assert declared == set(CLAIMS) and len(CLAIMS) >= 7


def test_the_small_eps_slope_is_half_the_degrees_of_freedom(smoke):
    _, measured = smoke
    m = measured["inductive_bias.small_eps_rate"]
    assert m.inputs["D"] == 10 and m.inputs["rank"] == 5 and m.inputs["m"] * m.inputs["k"] == 12
    slope = np.polyfit(np.log(m.inputs["excess"]), np.asarray(m.inputs["log_p"]), 1)[0]
    assert abs(slope - 5.0) < 0.01


def test_the_single_output_law_is_rejected_on_the_two_output_task(smoke):
    v = judge_on(CLAIMS, smoke, "inductive_bias.kernel_mc_cdf", ib_claims._one_df_law)
    assert v.status == "FAIL"


def test_the_bounds_are_tight_somewhere(smoke):
    _, measured = smoke
    m = measured["inductive_bias.ruben_bound"]
    bits, first = np.asarray(m.estimate), np.asarray(m.inputs["first_bits"])
    assert np.min(np.abs(first - bits) / np.maximum(bits, 1e-9)) < 1e-9  # single central terms: equality
    chern = np.asarray(m.inputs["chernoff_bits"])
    assert np.max(chern / np.maximum(bits, 1e-300)) > 0.8  # the Chernoff bound comes close in the deep tail


def test_the_fitted_estimate_underestimates_in_the_deep_tail(smoke):
    _, measured = smoke
    m = measured["inductive_bias.fit_underestimates"]
    assert np.all(np.asarray(m.inputs["exact"]) > np.asarray(m.inputs["fitted"]))
    assert np.all(np.asarray(m.inputs["df_hat"]) < m.inputs["D"] / 2)


def test_inductive_bias_grows_between_every_pair_of_dimensions(smoke):
    _, measured = smoke
    assert np.all(np.diff(measured["inductive_bias.dimension_growth"].inputs["bits"]) > 0)
