"""The cnce claims at smoke scale (no FAIL, rivals declared and judged), what their recorded measurements show, and
planted wrong predictions that the recorded measurements reject (docs/cnce.md, "Claims")."""

import numpy as np

from tests.claims_harness import claim_suite, judge_on, scaled
from theory import verify
from theory.cnce import claims as cnce_claims
from theory.cnce.estimators import meco_gradient_bias

CLAIMS, TestClaims = claim_suite("cnce", min_claims=8)


def test_every_registered_claim_of_the_topic_is_tested():
    declared = {c.id for c in vars(cnce_claims).values() if isinstance(c, verify.Claim)}
    assert declared == set(CLAIMS) and len(CLAIMS) >= 8


def test_meco_needs_fewer_steps_than_nce_at_moderate_noise_distance(smoke):
    _, measured = smoke
    m = measured["cnce.meco_faster"]
    assert np.all(np.asarray(m.estimate) > 0.5)  # NCE takes more than e^0.5 times as many steps
    assert np.all(np.asarray(m.inputs["ratio_meco_over_nce"]) < 0.7)


def test_the_plug_in_gradient_is_biased_and_the_moving_average_shrinks_the_bias(smoke):
    _, measured = smoke
    est = np.asarray(measured["cnce.ma_bias"].estimate)  # gammas (0.1, 1.0)
    assert est[1] < 5 * est[0] < 0
    wrong = judge_on(CLAIMS, smoke, "cnce.ma_bias", lambda cfg: np.zeros(2))
    assert wrong.status == "FAIL"


def test_a_wrong_constant_in_the_flattening_exponent_fails():
    v = verify.run_claim(CLAIMS["cnce.nce_flattening"].__class__(
        **{**CLAIMS["cnce.nce_flattening"].__dict__, "predict": lambda cfg: -0.25}), scale="smoke")
    assert v.status == "FAIL"


def test_the_stationary_error_grows_with_the_noise_distance(smoke):
    _, measured = smoke
    est = np.asarray(measured["cnce.stationary_error"].estimate)
    assert est[1] > 3 * est[0]
    assert judge_on(CLAIMS, smoke, "cnce.stationary_error", scaled(CLAIMS, "cnce.stationary_error", 1.3)).status \
        == "FAIL"


def test_the_first_order_bias_alone_is_a_different_number():
    assert abs(meco_gradient_bias(0.5, gamma=1.0, num_noise=10, order=1)
               - meco_gradient_bias(0.5, gamma=1.0, num_noise=10)) > 2e-3
