"""The ensloss claims at smoke scale (no FAIL, rivals declared and judged), what their recorded measurements show,
and the planted wrong generators the batch-CC claim rejects (docs/ensloss.md, "Claims")."""

import dataclasses

import jax
import numpy as np

from tests.claims_harness import claim_suite
from theory import verify
from theory.ensloss import claims as ensloss_claims
from theory.ensloss import fit_classifiers, load_dataset

CLAIMS, TestClaims = claim_suite("ensloss", min_claims=7)


def test_every_registered_claim_of_the_topic_is_tested():
    declared = {c.id for c in vars(ensloss_claims).values() if isinstance(c, verify.Claim)}
    assert declared == set(CLAIMS) and len(CLAIMS) >= 7


def test_no_random_batch_violates_the_cc_properties(smoke):
    _, measured = smoke
    assert np.all(np.asarray(measured["ensloss.batch_cc"].estimate) <= 2e-6)


def test_every_planted_generator_is_caught_on_the_recorded_batches(smoke):
    report, _ = smoke
    v = next(v for v in report.verdicts if v.claim_id == "ensloss.batch_cc")
    assert [r["passed"] for r in v.rivals] == [False] * 4, v.rivals


def test_the_derivative_at_a_fixed_margin_moves_with_the_batch(smoke):
    _, measured = smoke
    m = measured["ensloss.data_dependence"]
    levels = np.asarray(m.inputs["levels"])
    assert np.all(np.diff(levels) < 0)  # batch-mates further right: z0 ranks lower, steeper derivative
    assert np.min(np.abs(np.asarray(m.estimate))) > 0.1  # far from "independent of the data"


def test_excess_risk_decreases_with_the_training_set_size(smoke):
    _, measured = smoke
    m = measured["ensloss.excess_risk_rate"]
    est = np.asarray(m.estimate)
    assert np.all(est > 0) and np.all(np.diff(est) < 0)


def test_a_reversed_calibration_criterion_is_rejected(smoke):
    """The verdicts claim fails when the criterion forgets differentiability (the perceptron then counts as
    calibrated)."""
    claim = CLAIMS["ensloss.calibration_verdicts"]
    _, measured = smoke
    m = measured["ensloss.calibration_verdicts"]
    variant = dataclasses.replace(claim, measure=lambda key, cfg: m,
                                  predict=lambda cfg: np.array([float(r.convex and max(r.derivative_at_zero) <= 0)
                                                                for r in cfg["reports"]]))
    assert verify.run_claim(variant, scale="smoke").status == "FAIL"


def test_fit_classifiers_pairs_the_losses_and_records_curves(smoke):
    """The shapes of the real-data claims' smoke run (8 breast-cancer splits, linear, 900 steps): the compiled fit is
    shared with it (``smoke`` runs first). The MLP path differs only in ``init_mlp``/``mlp_scores``
    (tests/ensloss/test_simulate.py)."""
    parts = [load_dataset("breast_cancer", key=jax.random.key(r)) for r in range(8)]
    xtr, ytr, xte, yte = (np.stack([p[j] for p in parts]) for j in range(4))
    res = fit_classifiers(key=jax.random.key(0), x_train=xtr, y_train=ytr, x_test=xte, y_test=yte, hidden=0,
                          num_steps=900, eval_every=150)
    assert res["losses"] == ("ensloss", "logistic", "hinge", "exponential")
    assert res["test_accuracy"].shape == (4, 8, 6) and np.all(res["test_accuracy"][:, :, -1] > 0.9)
    assert np.all(res["train_accuracy"] <= 1.0)
    np.testing.assert_array_equal(res["steps"], np.arange(1, 7) * 150)
    assert len({tuple(np.round(a, 6)) for a in res["test_accuracy"][:, :, 0]}) > 1  # the losses differ
