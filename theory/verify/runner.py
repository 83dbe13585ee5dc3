"""The runner: measure, predict and compare each claim with one seed, timing compile and run apart."""

from __future__ import annotations

import dataclasses
import enum
import json
import platform
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import jax
import numpy as np

from theory.verify.cache import write_json
from theory.verify.claim import (
    _ACTIVE,
    _REGISTERED,
    Claim,
    Rival,
    _check_scale,
    claim_key,
    experiment_memo_key,
)
from theory.verify.claim import claims as _registered_claims
from theory.verify.compare import Measurement, Verdict
from theory.verify.report import STATUSES, Report
from theory.verify.rivals import predicted, reusing_predictions

__all__ = ["STATUSES", "TIMINGS_FILE", "run", "run_claim", "judge_rival", "status"]

#: The file, in the persistent compilation cache folder, that keeps each claim's last measured seconds per
#: scale (``{scale: {claim_id: seconds}}``); ``run(..., jobs>1)`` starts the longest claim groups first.
TIMINGS_FILE = "claim_seconds.json"


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
        with reusing_predictions():  # rivals derived from the prediction reuse it
            prediction = predicted(claim.predict, inputs)
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
    jobs: int = 1,
) -> Report:
    """Run ``claims`` at ``scale`` with ``seed`` and return a :class:`Report`.

    The same seed gives the same verdicts: each claim's key is the seed folded with its id (or its
    group), so a claim's randomness does not depend on which other claims run, nor on the process that
    runs it. Shared experiments are measured once per run, by whichever claim of the group comes first.

    With ``jobs > 1`` the claim groups (``claim.group`` or the id: a shared experiment stays in one process)
    run in up to ``jobs`` worker processes (:class:`concurrent.futures.ProcessPoolExecutor`, started with
    ``spawn``), longest group first by the seconds last recorded in the compilation cache folder
    (:data:`TIMINGS_FILE`; groups never timed go first). Workers get claim ids and look the claims up in
    their own registry, so only registered claims (``theory.verify.claims(...)``, unmodified) may run
    there. The verdicts are those of ``jobs=1``, seed for seed, and come back in the claims' order;
    ``Report.seconds`` is the wall time of the whole run (the verdicts' seconds, summed, can exceed it) and
    ``Report.environment["worker_processes"]`` the number of workers.

    When JAX's persistent compilation cache is on, each claim's seconds (compile + run) are merged into
    :data:`TIMINGS_FILE` in the cache folder at the end of the run (best effort: a failure to write is
    ignored).

    Args:
        claims: the claims to run (for instance ``theory.verify.claims(["compsum"])``).
        scale: ``"smoke"``, ``"default"`` or ``"paper"``.
        seed: the run seed.
        progress: optional ``callback(index, total, claim, verdict_or_None)`` called before
            (``None``) and after each claim; with ``jobs > 1`` both calls come when the claim's group
            has finished, in completion order (``index`` is the claim's position in ``claims``).
        jobs: the number of processes, a positive integer; 1 runs everything in this process.

    References:
        Python documentation, ``concurrent.futures.ProcessPoolExecutor`` and ``multiprocessing``
        ("Contexts and start methods"); R. L. Graham, "Bounds on multiprocessing timing anomalies",
        SIAM J. Appl. Math. 17 (1969) (longest processing time first).
    """
    _check_scale(scale)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int | np.integer):
        raise TypeError(f"jobs must be a positive integer, got {type(jobs).__name__}")
    if jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    todo = list(claims)
    for c in todo:
        if not isinstance(c, Claim):
            raise TypeError(f"run takes theory.verify.Claim objects, got {type(c).__name__}")
    if jobs > 1:
        outsiders = unregistered(todo)
        if outsiders:
            shown = ", ".join(outsiders[:3]) + (", ..." if len(outsiders) > 3 else "")
            raise ValueError(f"jobs > 1 runs registered claims only (as theory.verify.claims returns them; worker "
                             f"processes look them up by id), and these are not: {shown}; use jobs=1")
    t0 = time.perf_counter()
    groups = _groups(todo)
    workers = min(int(jobs), len(groups))
    if workers <= 1:
        verdicts = _run_here(todo, scale, int(seed), progress)
    else:
        verdicts = _run_pool(todo, groups, scale, int(seed), progress, workers)
    env = environment() if workers <= 1 else {**environment(), "worker_processes": workers}
    report = Report(verdicts=verdicts, scale=scale, seed=int(seed), seconds=time.perf_counter() - t0,
                    environment=env)
    _record_timings(verdicts, scale)
    return report


def _run_here(todo: Sequence[Claim], scale: str, seed: int, progress) -> list[Verdict]:
    """The claims one after the other in this process, sharing one memo of experiments."""
    verdicts = []
    experiments: dict = {}  # shared experiments, measured once per run
    for i, claim in enumerate(todo):
        if progress is not None:
            progress(i, len(todo), claim, None)
        v = run_claim(claim, scale=scale, seed=seed, experiments=experiments)
        verdicts.append(v)
        if progress is not None:
            progress(i, len(todo), claim, v)
    return verdicts


def unregistered(todo: Iterable[Claim]) -> list[str]:
    """The ids of the claims that are not the registered claim of that id, as a fresh process importing the
    topic would register it (a claim built or modified in this process, or put into the registry by hand)."""
    return [c.id for c in todo if _REGISTERED.get(c.id) is not c]


def _groups(todo: Sequence[Claim]) -> dict[str, list[int]]:
    """The indices of the claims of each group (``claim.group`` or the id), groups in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(todo):
        groups.setdefault(c.group or c.id, []).append(i)
    return groups


def _longest_first(groups: Mapping[str, Sequence[str]], seconds: Mapping[str, float]) -> list[str]:
    """The group names, longest first (longest processing time first, a greedy schedule within 4/3 of the
    best makespan): a group's time is the sum of its claims' recorded ``seconds``; groups with a claim never
    timed go first, in the given order (an unknown claim may be the longest)."""
    unknown = [g for g, ids in groups.items() if any(i not in seconds for i in ids)]
    known = [g for g, ids in groups.items() if all(i in seconds for i in ids)]
    cost = {g: sum(float(seconds[i]) for i in groups[g]) for g in known}
    return unknown + sorted(known, key=lambda g: -cost[g])


def _timings_path() -> Path | None:
    """:data:`TIMINGS_FILE` in JAX's persistent compilation cache folder, or ``None`` when the cache is off."""
    folder = jax.config.jax_compilation_cache_dir
    return Path(folder) / TIMINGS_FILE if folder else None


def _read_timings(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {scale: {k: float(v) for k, v in table.items() if isinstance(v, int | float)}
            for scale, table in data.items() if isinstance(table, dict)}


def _record_timings(verdicts: Sequence[Verdict], scale: str) -> None:
    """Merge each claim's seconds at ``scale`` into :data:`TIMINGS_FILE` (atomically; any failure is ignored)."""
    path = _timings_path()
    if path is None or not verdicts:
        return
    try:
        data = _read_timings(path)
        data.setdefault(scale, {}).update(
            {v.claim_id: round(v.seconds_compile + v.seconds_run, 3) for v in verdicts})
        write_json(path, data)
    except Exception:  # a timings file never fails a run
        pass


#: JAX settings that change what a computation returns; workers take the parent's values.
_NUMERIC_SETTINGS = ("jax_enable_x64", "jax_default_prng_impl", "jax_threefry_partitionable",
                     "jax_default_matmul_precision", "jax_numpy_dtype_promotion", "jax_numpy_rank_promotion",
                     "jax_platforms")
_CACHE_SETTINGS = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
                   "jax_persistent_cache_min_entry_size_bytes")


def _worker_settings() -> dict:
    """This process's JAX settings that a worker needs: the numeric ones and, when it is on, the compile cache."""
    out = {}
    names = _NUMERIC_SETTINGS + (_CACHE_SETTINGS if jax.config.jax_compilation_cache_dir else ())
    for name in names:
        try:
            value = getattr(jax.config, name)
        except AttributeError:  # a JAX without that setting
            continue
        if value is not None:
            out[name] = value.value if isinstance(value, enum.Enum) else value
    return out


def _init_worker(settings: Mapping) -> None:
    """Worker initializer: the parent's JAX settings, before any computation in this process."""
    for name, value in settings.items():
        jax.config.update(name, value)
    if "jax_compilation_cache_dir" in settings:
        from theory.verify.cache import _reset_jax_cache

        _reset_jax_cache()


def _run_group(ids: Sequence[str], scale: str, seed: int) -> list[Verdict]:
    """Worker task: the registered claims ``ids`` (one group, in this order) run as :func:`run` with ``jobs=1``."""
    by_id = {c.id: c for c in _registered_claims(list(ids))}
    return _run_here([by_id[i] for i in ids], scale, seed, None)


def _pool(workers: int, settings: dict):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(settings,))


def _run_pool(todo: Sequence[Claim], groups: dict[str, list[int]], scale: str, seed: int, progress,
              workers: int) -> list[Verdict]:
    """The groups in ``workers`` spawned processes, longest first; verdicts in the claims' order."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    seconds = _read_timings(_timings_path()).get(scale, {})
    ids = {g: [todo[i].id for i in members] for g, members in groups.items()}
    verdicts: list[Verdict | None] = [None] * len(todo)
    pool = _pool(workers, _worker_settings())
    try:
        pending = {pool.submit(_run_group, ids[g], scale, seed): g for g in _longest_first(ids, seconds)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                g = pending.pop(future)
                try:
                    got = future.result()
                except BrokenProcessPool as exc:
                    raise RuntimeError(f"a worker process died (killed, out of memory or crashed) before claim group "
                                       f"{g!r} finished; rerun with jobs=1 to see the failure in this "
                                       f"process") from exc
                for i, v in zip(groups[g], got, strict=True):
                    verdicts[i] = v
                    if progress is not None:
                        progress(i, len(todo), todo[i], None)
                        progress(i, len(todo), todo[i], v)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return verdicts
