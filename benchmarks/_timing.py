"""Timing shared by the benchmarks: compile time and steady-state time, measured apart."""

import math
import statistics
import time

import jax


def timeit(fn, *args, repeat=20):
    """``(compile estimate, best steady-state seconds)`` of ``fn(*args)`` over ``repeat`` timed calls.

    The first call (trace + compile + run) minus the best later call estimates the compile time.
    """
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return first - best, best


def _first_call(fn, *args):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0


def interleaved(programs, args, repeat, *, sample_seconds=0.03):
    """``({label: (compile estimate s, median steady s)}, {label: [steady s per round]})``: the first call of each,
    then ``repeat`` rounds in which every program takes one sample, in forward order on even rounds and in reverse
    on odd ones (so no program always runs right after another).

    One sample is a burst of calls long enough to last about ``sample_seconds`` (the same count for every program:
    the slowest program's single-call time sets it), divided by the count: a single call of a few milliseconds is
    at the mercy of one scheduler tick, a burst of ten is not.
    """
    return interleaved_groups({None: (programs, args)}, repeat, sample_seconds=sample_seconds)[None]


def interleaved_groups(groups, repeat, *, sample_seconds=0.03):
    """:func:`interleaved` for several groups of programs, each ``name: (programs, args)``, with the rounds of every
    group interleaved: round r samples each group in turn (forward order on even rounds, reverse on odd ones), and
    the burst length is set per group. ``{name: (timed, times)}`` as :func:`interleaved` returns for one group.

    A group's rounds are spread over the whole run instead of one stretch of it, so a slow spell of the machine
    (another tenant's load, which can slow a memory-bound program more than the compute-bound one it is paired
    with) reaches a few rounds of every group, which the median over rounds drops, not most rounds of one group.
    """
    plan = {}
    for name, (programs, args) in groups.items():
        first = {label: _first_call(fn, *args) for label, fn in programs.items()}
        single = max(_first_call(fn, *args) for fn in programs.values())
        plan[name] = (list(programs.items()), args, first, max(1, math.ceil(sample_seconds / max(single, 1e-9))))
    times = {name: {label: [] for label in groups[name][0]} for name in groups}
    names = list(groups)
    for r in range(repeat):
        for name in (names if r % 2 == 0 else names[::-1]):
            order, args, _, calls = plan[name]
            for label, fn in (order if r % 2 == 0 else order[::-1]):
                t0 = time.perf_counter()
                for _ in range(calls):
                    out = fn(*args)
                jax.block_until_ready(out)
                times[name][label].append((time.perf_counter() - t0) / calls)
    out = {}
    for name, (_, _, first, _) in plan.items():
        steady = {label: statistics.median(ts) for label, ts in times[name].items()}
        out[name] = ({label: (max(first[label] - steady[label], 0.0), steady[label]) for label in steady}, times[name])
    return out


def paired_ratio(times, label, reference):
    """Median over rounds of ``times[label][r] / times[reference][r]``: the two samples of a round are back to back,
    so a slow spell of the machine that spans the round divides out."""
    return statistics.median(t / t_ref for t, t_ref in zip(times[label], times[reference], strict=True))


def report(benchmarks: dict, json_path=None, *, width: int = 36) -> dict:
    """Print ``{name: (rows, ratios)}`` (rows: ``label -> (compile s, steady s)``), optionally write it as JSON."""
    import json

    out = {}
    for name, (rows, ratios) in benchmarks.items():
        print(f"== {name}")
        for label, (compile_s, run_s) in rows.items():
            print(f"  {label:{width}s} compile {compile_s:7.3f} s   steady {run_s * 1e3:9.2f} ms")
        for label, value in ratios.items():
            print(f"  {label:{width}s} {value:.3g}")
        out[name] = {"rows": rows, "ratios": ratios}
    if json_path:
        with open(json_path, "w") as fh:
            json.dump(out, fh, indent=1)
    return out


def loop_over_vmap(vmapped, loop, labels, *, repeat=5):
    """``(rows, loop / vmap)`` of a simulator's vmapped replicates (``vmapped()``, one call) and a Python loop of
    one-replicate calls (``loop()``): the two timed in alternation, one call per sample (:func:`interleaved`), and
    the ratio the median over rounds of the paired ratios (:func:`paired_ratio`). ``labels``: ``(vmap row, loop
    row)``."""
    rows, times = interleaved(dict(zip(labels, (vmapped, loop), strict=True)), (), repeat, sample_seconds=0.0)
    return rows, paired_ratio(times, labels[1], labels[0])
