"""The runner: measure, predict and compare each claim with one seed, timing compile and run apart."""

from __future__ import annotations

import dataclasses
import platform
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable

import jax
import numpy as np

from theory.verify.claim import _ACTIVE, Claim, Rival, _check_scale, claim_key, experiment_memo_key
from theory.verify.compare import Measurement, Verdict
from theory.verify.report import STATUSES, Report

__all__ = ["STATUSES", "run", "run_claim", "judge_rival", "status"]



class _CompileClock:
    """Sums JAX's compile-phase durations (trace, lowering, backend compile) reported while active."""

    _lock = threading.Lock()
    _installed = False
    _total = 0.0

    @classmethod
    def _listener(cls, event: str, duration: float, **_) -> None:
        if event.startswith("/jax/core/compile/"):
            cls._total += duration

    @classmethod
    def read(cls) -> float:
        with cls._lock:
            if not cls._installed:
                jax.monitoring.register_event_duration_secs_listener(cls._listener)
                cls._installed = True
        return cls._total


def _block(tree) -> None:
    for leaf in jax.tree_util.tree_leaves(tree):
        if isinstance(leaf, jax.Array):
            leaf.block_until_ready()


def _error(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(exc)).strip()


def judge_rival(rival: Rival, claim: Claim, config: dict, measurement: Measurement) -> dict:
    """``{name, passed, worst, why}``: the rival's prediction judged on the claim's measurement, with the
    rival's comparison or else the claim's. A rival that raises counts as not rejected (``passed`` None)."""
    compare = rival.compare or claim.compare
    try:
        v = compare(np.asarray(rival.predict(config), dtype=np.float64), measurement)
    except Exception as exc:
        why = f"{rival.why} (the rival raised: {_error(exc)})"
        return {"name": rival.name, "passed": None, "worst": None, "why": why}
    return {"name": rival.name, "passed": bool(v.passed), "worst": float(v.worst), "why": rival.why}


def status(passed: bool, rivals: list[dict]) -> str:
    """``"FAIL"`` when the prediction is rejected; else ``"PASS"`` when every rival is rejected, else
    ``"INCONCLUSIVE"``."""
    if not passed:
        return "FAIL"
    return "PASS" if all(r["passed"] is False for r in rivals) else "INCONCLUSIVE"


def _measure(claim: Claim, key: jax.Array, config: dict, experiments: dict) -> Measurement:
    """The claim's measurement; a shared experiment is run once per ``(name, key, config)`` in ``experiments``."""
    if claim.experiment is None:
        return claim.measure(key, config)
    exp_config = claim.experiment.config(config)
    memo = experiment_memo_key(claim.experiment.name, key, exp_config)
    if memo not in experiments:
        experiments[memo] = claim.experiment.run(key, exp_config)
    return claim.measure(key, config, experiments[memo])


def run_claim(claim: Claim, *, scale: str = "default", seed: int = 0, experiments: dict | None = None) -> Verdict:
    """Run one claim, judge its rivals on the same measurement and return its :class:`Verdict`.

    An exception in the measurement, prediction or comparison becomes a FAIL verdict with the error.
    ``experiments`` is the memo of shared experiments (:class:`~theory.verify.Experiment`) to reuse;
    :func:`run` passes one per run, and a lone call measures its experiment afresh.
    """
    experiments = {} if experiments is None else experiments
    if not isinstance(claim, Claim):
        raise TypeError(f"run_claim takes a theory.verify.Claim, got {type(claim).__name__}")
    _check_scale(scale)
    config = claim.config(scale)
    c0, t0 = _CompileClock.read(), time.perf_counter()
    rivals: list[dict] = []
    try:
        token = _ACTIVE.set(experiments)
        try:
            measurement = _measure(claim, claim_key(seed, claim.group or claim.id), config, experiments)
        finally:
            _ACTIVE.reset(token)
        _block([getattr(measurement, f.name) for f in dataclasses.fields(measurement)])
        inputs = {**config, **measurement.inputs}
        prediction = np.asarray(claim.predict(inputs), dtype=np.float64)
        verdict = claim.compare(prediction, measurement)
        rivals = [judge_rival(r, claim, inputs, measurement) for r in claim.rivals]
        error = None
    except Exception as exc:  # a broken claim fails; it never takes the report down with it
        error = _error(exc)
        verdict = Verdict("", claim.compare.kind, False, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan,
                          0, 0, "the claim raised: " + error)
    total = time.perf_counter() - t0
    compile_s = min(_CompileClock.read() - c0, total)
    return dataclasses.replace(
        verdict,
        claim_id=claim.id,
        topic=claim.topic,
        reference=claim.reference,
        statement=claim.statement,
        seconds_compile=compile_s,
        seconds_run=total - compile_s,
        error=error,
        status=status(verdict.passed, rivals),
        rivals=rivals,
    )


def environment() -> dict:
    """Versions and devices, recorded in every report."""
    import theory

    return {
        "theory": theory.__version__,
        "python": sys.version.split()[0],
        "jax": jax.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "devices": [str(d) for d in jax.devices()],
    }


def run(
    claims: Iterable[Claim],
    *,
    scale: str = "default",
    seed: int = 0,
    progress: Callable[[int, int, Claim, Verdict | None], None] | None = None,
) -> Report:
    """Run ``claims`` at ``scale`` with ``seed`` and return a :class:`Report`.

    The same seed gives the same verdicts: each claim's key is the seed folded with its id (or its
    group), so a claim's randomness does not depend on which other claims run. Shared experiments are
    measured once per run, by whichever claim of the group comes first.

    Args:
        claims: the claims to run (for instance ``theory.verify.claims(["compsum"])``).
        scale: ``"smoke"``, ``"default"`` or ``"paper"``.
        seed: the run seed.
        progress: optional ``callback(index, total, claim, verdict_or_None)`` called before
            (``None``) and after each claim.
    """
    _check_scale(scale)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    todo = list(claims)
    for c in todo:
        if not isinstance(c, Claim):
            raise TypeError(f"run takes theory.verify.Claim objects, got {type(c).__name__}")
    verdicts = []
    experiments: dict = {}  # shared experiments, measured once per run
    t0 = time.perf_counter()
    for i, claim in enumerate(todo):
        if progress is not None:
            progress(i, len(todo), claim, None)
        v = run_claim(claim, scale=scale, seed=int(seed), experiments=experiments)
        verdicts.append(v)
        if progress is not None:
            progress(i, len(todo), claim, v)
    return Report(verdicts=verdicts, scale=scale, seed=int(seed), seconds=time.perf_counter() - t0,
                  environment=environment())
