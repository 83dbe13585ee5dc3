"""Shared machinery of every ``tests/<topic>/test_claims.py``: one recorded smoke run per topic, the
standard claim tests, and judging a changed prediction on the recorded measurement.

The wrong predictions a claim must reject are its :class:`~theory.verify.Rival` s, declared on the claim
itself, so a test cannot drift from what ``theory verify`` runs. Whether every rival is rejected is
checked at default scale (``tests/test_default_scale.py``), where users run the claims; the smoke run
here checks that no claim FAILs and that each claim's own prediction is accepted.
"""

import dataclasses

import numpy as np

from theory import verify


def record_smoke(claims: dict, *, seed: int = 0):
    """Run ``claims`` (``{id: Claim}``) at smoke scale; return ``(report, {id: measurement})``."""
    measured = {}

    def recording(claim):
        def measure(key, cfg, *shared):
            measured[claim.id] = claim.measure(key, cfg, *shared)
            return measured[claim.id]

        return dataclasses.replace(claim, measure=measure)

    report = verify.run([recording(c) for c in claims.values()], scale="smoke", seed=seed)
    return report, measured


def judge_on(claims: dict, smoke, claim_id: str, predict):
    """The verdict on ``claim_id`` with ``predict`` swapped in, on the measurement ``smoke`` recorded."""
    _, measured = smoke
    variant = dataclasses.replace(claims[claim_id], predict=predict, measure=lambda key, cfg: measured[claim_id],
                                  experiment=None)
    return verify.run_claim(variant, scale="smoke")


def scaled(claims: dict, claim_id: str, factor: float):
    """The claim's own prediction times ``factor``."""
    original = claims[claim_id].predict
    return lambda cfg: factor * np.asarray(original(cfg))


class ClaimSuite:
    """The tests every topic runs on its claims.

    Subclass it in ``tests/<topic>/test_claims.py`` as ``class TestClaims(ClaimSuite)`` with ``CLAIMS``
    (``{id: Claim}``) and ``MIN_CLAIMS``; the module-scoped ``smoke`` fixture (``tests/conftest.py``)
    records ``record_smoke(CLAIMS)`` of the module's ``CLAIMS``.
    """

    CLAIMS: dict = {}
    MIN_CLAIMS = 6

    def test_no_claim_fails_at_smoke_scale(self, smoke):
        report, _ = smoke
        failed = {v.claim_id: (v.reason, v.error) for v in report.verdicts if v.status == "FAIL"}
        assert not failed, failed
        assert len(report.verdicts) == len(self.CLAIMS) >= self.MIN_CLAIMS

    def test_every_claim_declares_rivals_with_reasons(self):
        bare = [c.id for c in self.CLAIMS.values() if not c.rivals]
        assert not bare, f"claims without rivals: {bare}"
        assert all(r.why for c in self.CLAIMS.values() for r in c.rivals)

    def test_the_original_prediction_passes_on_the_recorded_measurement(self, smoke):
        for claim_id, claim in self.CLAIMS.items():
            assert judge_on(self.CLAIMS, smoke, claim_id, claim.predict).passed, claim_id

    def test_rivals_are_judged_on_the_recorded_measurement(self, smoke):
        report, _ = smoke
        for v in report.verdicts:
            assert [r["name"] for r in v.rivals] == [r.name for r in self.CLAIMS[v.claim_id].rivals], v.claim_id


def claim_suite(topic: str, *, min_claims: int):
    """``(CLAIMS, TestClaims)`` for ``tests/<topic>/test_claims.py``: the topic's claims by id and the
    :class:`ClaimSuite` over them (the module-level ``CLAIMS`` feeds the ``smoke`` fixture)."""
    claims = {c.id: c for c in verify.claims(topic)}
    return claims, type("TestClaims", (ClaimSuite,), {"CLAIMS": claims, "MIN_CLAIMS": min_claims})

