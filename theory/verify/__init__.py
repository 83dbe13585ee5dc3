"""The verification engine: claims, measurements, comparisons, the runner and its report.

Public API (kept stable for analysis scripts and outside audits)::

    claims(topics_or_ids=None) -> list[Claim]
    run(claims, *, scale="default", seed=0, progress=None, jobs=1) -> Report
    run_claim(claim, *, scale="default", seed=0) -> Verdict

A :class:`Claim` is a frozen dataclass; ``dataclasses.replace(claim, predict=...)`` makes a
variant, and a wrong prediction must make its verdict fail. Each claim lists :class:`Rival` s, the
plausible wrong predictions that the same run must reject: a verdict's ``status`` is ``"PASS"``
(prediction accepted, every rival rejected), ``"FAIL"`` (prediction rejected) or ``"INCONCLUSIVE"``
(prediction accepted, but so is a rival: the run cannot tell them apart).
"""

from theory.verify import rivals
from theory.verify.cache import enable_compile_cache
from theory.verify.claim import (
    SCALES,
    Claim,
    Experiment,
    Rival,
    claim_key,
    claims,
    known_topics,
    numpy_rng,
    register,
    shared_experiment,
)
from theory.verify.compare import Agrees, Holds, Measurement, Rate, Verdict, agrees, holds, rate
from theory.verify.report import Report
from theory.verify.runner import STATUSES, run, run_claim

__all__ = [
    "SCALES",
    "Claim",
    "Rival",
    "Experiment",
    "rivals",
    "STATUSES",
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
    "shared_experiment",
    "enable_compile_cache",
]
