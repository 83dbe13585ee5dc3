"""Timing shared by the benchmarks: compile time and steady-state time, measured apart."""

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
