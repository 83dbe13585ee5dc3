"""A measured cost model: what a claim will cost at a larger scale, from a run at a small one.

``theory verify --scale paper --dry-run`` runs every chosen claim at the ``smoke`` scale, measuring its
compile seconds, run seconds and peak memory, and scales the run time and memory to the target scale by
the claim's *work units*:

- the **parallel size** (what is vmapped or batched: replicates, draws, samples, batch sizes, ...) is the
  product of the config's entries of those names (a list of sizes counts its largest entry);
- the **sequential size** (optimiser steps, epochs) is the product of the step counts;
- time scales with parallel x sequential size (a list of sizes counts its sum: each size is a separate
  run), memory with the parallel size only (a ``lax.scan`` over steps reuses its buffers);
- compile time is taken as measured: it depends on the shapes' structure, not their size.

So the estimate is ``compile + run_smoke * work(target) / work(smoke)``: time per replicate per unit of
size, measured on the current devices.

For a device that is not at hand, the same run counts the work itself: XLA's cost analysis (floating-point
operations and bytes accessed) of every compiled computation the claim executes, summed over executions.
XLA counts a loop body once, so the count is multiplied by the smoke config's sequential size (the steps
run inside ``lax.scan``), then scaled to the target like the time. :meth:`Cost.roofline_seconds` turns it
into a roofline time on a device of given peak rates (:data:`H100`: one NVIDIA H100 SXM, float32):
``max(flops / peak flops, bytes / memory bandwidth)`` plus a launch overhead per executed computation. It
is a lower bound: perfect overlap and utilisation, no host work.

The time model ignores the fixed per-call overheads that dominate a smoke run, so it overestimates runs
whose smoke time is mostly overhead, and it cannot see a cost that grows faster than linearly in a size
(a pairwise comparison of ``n`` points); both are stated in the printed table.

References:
    docs/verify.md, "Speed".
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from collections.abc import Iterable, Mapping

__all__ = ["PARALLEL_KEYS", "SEQUENTIAL_KEYS", "H100", "Cost", "work_units", "estimate", "dry_run"]

#: Config entries that set a vmapped/batched size (memory and time grow with them).
PARALLEL_KEYS = frozenset({
    "replicates", "num_replicates", "seeds", "draws", "batches", "num_samples", "samples", "n", "ns", "sizes",
    "batch_size", "batch", "num_hypotheses", "hypotheses", "trials", "num_draws", "mc", "points", "grid",
    "num_points", "cases", "num_tasks", "tasks_per_step", "num_batches",
})
#: Config entries that set a sequential count (time grows with them, memory does not).
SEQUENTIAL_KEYS = frozenset({"steps", "num_steps", "epochs", "iterations", "num_iterations", "rounds"})

#: One NVIDIA H100 SXM5 (datasheet): float32 (non-tensor-core) peak FLOP/s, HBM3 bytes/s, and a per-launch
#: overhead in seconds for each executed XLA computation.
H100 = {"name": "NVIDIA H100 SXM (float32 roofline)", "flops_per_second": 67e12, "bytes_per_second": 3.35e12,
        "launch_seconds": 10e-6}


def _size(value, *, total: bool) -> float | None:
    """A config value as a size: a positive number, or a list of them (its sum for time, its max for memory)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and value > 0 and math.isfinite(value):
        return float(value)
    if isinstance(value, list | tuple) and value and all(_size(v, total=total) for v in value):
        sizes = [_size(v, total=total) for v in value]
        return float(sum(sizes) if total else max(sizes))
    return None


def sequential_units(config: Mapping) -> float:
    """The product of the config's step counts (nested mappings: their largest)."""
    units, nested = 1.0, [1.0]
    for key, value in config.items():
        if isinstance(value, Mapping):
            nested.append(sequential_units(value))
        elif isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value):
            nested.append(max(sequential_units(v) for v in value))
        elif key in SEQUENTIAL_KEYS:
            units *= _size(value, total=False) or 1.0
    return units * max(nested)


def work_units(config: Mapping) -> tuple[float, float]:
    """``(time units, memory units)`` of a config: parallel x sequential sizes, and parallel sizes alone.

    Nested mappings (a list of tasks, each with its own sizes) contribute their own units, summed for time
    and maximised for memory.
    """
    time_units, memory_units = 1.0, 1.0
    nested_time, nested_memory = [], []
    for key, value in config.items():
        if isinstance(value, Mapping):
            t, m = work_units(value)
            nested_time.append(t)
            nested_memory.append(m)
        elif isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value):
            parts = [work_units(v) for v in value]
            nested_time.append(sum(t for t, _ in parts))
            nested_memory.append(max(m for _, m in parts))
        elif key in PARALLEL_KEYS:
            t, m = _size(value, total=True), _size(value, total=False)
            if t is not None:
                time_units *= t
                memory_units *= m
        elif key in SEQUENTIAL_KEYS:
            t = _size(value, total=True)
            if t is not None:
                time_units *= t
    for t, m in zip(nested_time, nested_memory, strict=True):
        time_units *= t
        memory_units *= m
    return time_units, memory_units


@dataclasses.dataclass(frozen=True)
class Cost:
    """A claim's measured cost at the base scale and its estimate at the target scale."""

    claim_id: str
    base_scale: str
    target_scale: str
    compile_seconds: float
    run_seconds: float
    peak_bytes: int
    time_ratio: float
    memory_ratio: float
    flops: float | None = None
    bytes_accessed: float | None = None
    launches: int | None = None

    @property
    def estimated_flops(self) -> float | None:
        """The floating-point operations at the target scale (XLA's count, scaled by the work ratio)."""
        return None if self.flops is None else self.flops * self.time_ratio

    def roofline_seconds(self, device: Mapping = H100) -> float | None:
        """The target-scale run time on ``device`` (peak rates, see :data:`H100`): a lower bound."""
        if self.flops is None:
            return None
        compute = self.flops * self.time_ratio / device["flops_per_second"]
        memory = self.bytes_accessed * self.time_ratio / device["bytes_per_second"]
        return max(compute, memory) + self.launches * device["launch_seconds"]

    @property
    def estimated_seconds(self) -> float:
        """Compile as measured plus the run time scaled by the work ratio."""
        return self.compile_seconds + self.run_seconds * self.time_ratio

    @property
    def estimated_bytes(self) -> int:
        """The peak memory scaled by the parallel-size ratio."""
        return int(self.peak_bytes * self.memory_ratio)

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "estimated_seconds": self.estimated_seconds,
                "estimated_bytes": self.estimated_bytes, "estimated_flops": self.estimated_flops,
                "h100_roofline_seconds": self.roofline_seconds(H100)}


def _resident_bytes() -> int:
    """The process's resident memory (Linux ``/proc``); 0 where unavailable."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _device_bytes() -> int:
    """Bytes in use on the first device where the backend reports it (GPUs); 0 on CPU."""
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    return int(stats.get("bytes_in_use", 0))


class _PeakMemory:
    """Samples resident (CPU) or device memory every millisecond; ``peak`` is the growth over the start."""

    def __init__(self, interval: float = 1e-3):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._read = _device_bytes if _device_bytes() else _resident_bytes

    def __enter__(self):
        self._start = self._read()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._read() - self._start)
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._read() - self._start)


class _XlaWork:
    """Sums XLA's cost analysis (``flops``, ``bytes accessed``) over every computation executed while active.

    JAX's compiled dispatch skips Python after a function's first call, so while active every call takes
    the Python path (``pjit._get_fastpath_data`` answers ``None``) and is counted. This reads JAX internals:
    where they are missing the counts stay ``None`` and the time estimate is unaffected.
    """

    def __init__(self):
        self.flops = self.bytes_accessed = self.launches = None
        self._costs: dict[int, tuple[float, float]] = {}

    def _cost(self, executable) -> tuple[float, float]:
        key = id(executable)
        if key not in self._costs:
            analysis = executable.cost_analysis()
            if isinstance(analysis, list | tuple):
                analysis = analysis[0] if analysis else {}
            self._costs[key] = (float(analysis.get("flops", 0.0)), float(analysis.get("bytes accessed", 0.0)))
        return self._costs[key]

    def __enter__(self):
        try:
            from jax._src import pjit
            from jax._src.interpreters import pxla

            self._pjit, self._execute = pjit, pxla.ExecuteReplicated
            self._fastpath, self._call = pjit._get_fastpath_data, pxla.ExecuteReplicated.__call__
        except (ImportError, AttributeError):
            return self
        self.flops, self.bytes_accessed, self.launches = 0.0, 0.0, 0
        work, call = self, self._call

        def counted(executor, *args):
            if work.launches is not None:
                try:
                    flops, nbytes = work._cost(executor.xla_executable)
                    work.flops += flops
                    work.bytes_accessed += nbytes
                    work.launches += 1
                except Exception:  # noqa: BLE001 - counting must never break a run: an uncounted call voids the count
                    work.flops = work.bytes_accessed = work.launches = None
            return call(executor, *args)

        pjit._get_fastpath_data = lambda *a, **k: None
        self._execute.__call__ = counted
        return self

    def __exit__(self, *exc):
        if hasattr(self, "_call"):
            self._pjit._get_fastpath_data = self._fastpath
            self._execute.__call__ = self._call


def estimate(claim, *, target: str = "paper", base: str = "smoke", seed: int = 0, experiments=None) -> Cost:
    """Run ``claim`` at ``base`` and estimate its cost at ``target`` (see the module docstring)."""
    from theory.verify.runner import run_claim

    with _PeakMemory() as memory, _XlaWork() as work:
        verdict = run_claim(claim, scale=base, seed=seed, experiments=experiments)
    t_base, m_base = work_units(claim.config(base))
    t_target, m_target = work_units(claim.config(target))
    loops = sequential_units(claim.config(base))  # XLA counts a scanned step once
    flops = None if work.flops is None else work.flops * loops
    nbytes = None if work.bytes_accessed is None else work.bytes_accessed * loops
    return Cost(claim.id, base, target, verdict.seconds_compile, verdict.seconds_run, memory.peak,
                t_target / t_base, m_target / m_base, flops, nbytes, work.launches)


def dry_run(claims: Iterable, *, target: str = "paper", base: str = "smoke", seed: int = 0,
            progress=None) -> list[Cost]:
    """:func:`estimate` for each claim (shared experiments measured once, as in a real run)."""
    experiments: dict = {}
    out = []
    for claim in claims:
        cost = estimate(claim, target=target, base=base, seed=seed, experiments=experiments)
        out.append(cost)
        if progress is not None:
            progress(cost)
    return out
