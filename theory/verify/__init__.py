"""The verification engine: claims, measurements, comparisons, the runner and its report.

Public API (kept stable for analysis scripts and outside audits)::

    claims(topics=None) -> list[Claim]
    run(claims, *, scale="default", seed=0) -> Report

A :class:`Claim` is a frozen dataclass; ``dataclasses.replace(claim, predict=...)`` makes a
variant, and a wrong prediction must make its verdict fail.
"""

from theory.verify.claim import SCALES, Claim, claim_key, claims, known_topics, numpy_rng, register
from theory.verify.compare import Agrees, Holds, Measurement, Rate, Verdict, agrees, holds, rate
from theory.verify.report import Report
from theory.verify.runner import run, run_claim

__all__ = [
    "SCALES",
    "Claim",
    "Measurement",
    "Verdict",
    "Agrees",
    "Holds",
    "Rate",
    "agrees",
    "holds",
    "rate",
    "Report",
    "claims",
    "known_topics",
    "register",
    "run",
    "run_claim",
    "claim_key",
    "numpy_rng",
]
