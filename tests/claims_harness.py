"""Shared machinery of every ``tests/<topic>/test_claims.py``: one recorded smoke run per topic, and
planted wrong predictions judged by the engine on the recorded measurement.

Each planted check is a real ``run_claim`` with only the prediction changed, so the verdict comes from
the same comparison (and the same measurement) that passed with the right prediction.
"""

import dataclasses

from theory import verify


def record_smoke(claims: dict, *, seed: int = 0):
    """Run ``claims`` (``{id: Claim}``) at smoke scale; return ``(report, {id: measurement})``."""
    measured = {}

    def recording(claim):
        def measure(key, cfg):
            measured[claim.id] = claim.measure(key, cfg)
            return measured[claim.id]

        return dataclasses.replace(claim, measure=measure)

    report = verify.run([recording(c) for c in claims.values()], scale="smoke", seed=seed)
    return report, measured


def judge_on(claims: dict, smoke, claim_id: str, predict):
    """The verdict on ``claim_id`` with ``predict`` swapped in, on the measurement ``smoke`` recorded."""
    _, measured = smoke
    variant = dataclasses.replace(claims[claim_id], predict=predict, measure=lambda key, cfg: measured[claim_id])
    return verify.run_claim(variant, scale="smoke")
