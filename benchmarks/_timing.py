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
