"""Verification over several hosts: ``jax.distributed`` processes, each running its share of the claims.

Every host runs the same command (``theory verify --distributed ...``). :func:`initialize` joins the JAX
distributed runtime (:func:`jax.distributed.initialize`: explicit coordinator address, process count and
process id, or detected from the cluster environment: SLURM, Open MPI, Kubernetes, Cloud TPU). The claims are
then dealt out by :func:`partition`, a group at a time (claims sharing an experiment stay on one host, so it
is still measured once), and each process runs its share on its own devices, with the replicate axis
sharded over them as in a one-host run. :func:`gather` collects the verdicts on every process with JAX's
own collective (``multihost_utils.process_allgather``), so each host ends with the whole report, in the
claims' order; only process 0 prints and writes files.

A claim's PRNG key is the run seed folded with its id (or group), and each replicate computes the same
numbers on any device, so the distributed report has the verdicts and estimates of a one-host run, seed
for seed (``tests/verify/test_distributed.py`` checks it with two processes on one machine).

References:
    JAX documentation, "Multi-process" (``jax.distributed.initialize``); docs/verify.md, "Several hosts".
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np

__all__ = ["initialize", "partition", "gather", "run_distributed"]


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
    """Join the JAX distributed runtime (call once, before any other JAX work in the process).

    Either all three arguments or none: with none, :func:`jax.distributed.initialize` detects them from the
    cluster environment. On CPU the processes exchange data through Gloo (JAX's CPU collectives).

    Args:
        coordinator_address: ``host:port`` of process 0, reachable from every host.
        num_processes: the number of processes (one per host, usually), at least 1.
        process_id: this process's index, in ``[0, num_processes)``.
    """
    given = [coordinator_address is not None, num_processes is not None, process_id is not None]
    if any(given) and not all(given):
        raise ValueError("coordinator_address, num_processes and process_id go together: give all three or none "
                         "(none: detected from the cluster environment)")
    if num_processes is not None:
        if isinstance(num_processes, bool) or not isinstance(num_processes, int | np.integer) or num_processes < 1:
            raise ValueError(f"num_processes must be a positive integer, got {num_processes!r}")
        if (isinstance(process_id, bool) or not isinstance(process_id, int | np.integer)
                or not 0 <= process_id < num_processes):
            raise ValueError(f"process_id must be an integer in [0, {num_processes}), got {process_id!r}")
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                               process_id=process_id)


def partition(claims: Sequence, process_index: int, process_count: int) -> list[int]:
    """Indices (into ``claims``) of process ``process_index``'s share: the claim groups (``claim.group`` or
    the id) dealt round-robin in order of first appearance, so a shared experiment stays on one process."""
    if process_count < 1 or not 0 <= process_index < process_count:
        raise ValueError(f"process_index must be in [0, {process_count}), got {process_index!r}")
    groups: dict[str, int] = {}
    for c in claims:
        groups.setdefault(c.group or c.id, len(groups))
    return [i for i, c in enumerate(claims) if groups[c.group or c.id] % process_count == process_index]


def gather(items: list) -> list:
    """Every process's ``items`` (picklable), concatenated in process order, on every process."""
    import jax
    from jax.experimental import multihost_utils

    if jax.process_count() == 1:
        return list(items)
    data = np.frombuffer(pickle.dumps(items), dtype=np.uint8)
    sizes = np.asarray(multihost_utils.process_allgather(np.asarray([data.size], np.int64))).reshape(-1)
    buffer = np.zeros(int(sizes.max()), np.uint8)
    buffer[:data.size] = data
    everything = np.asarray(multihost_utils.process_allgather(buffer))
    out = []
    for row, size in zip(everything, sizes, strict=True):
        out.extend(pickle.loads(row[:int(size)].tobytes()))
    return out


def run_distributed(claims: Iterable, *, scale: str = "default", seed: int = 0,
                    progress: Callable | None = None):
    """:func:`theory.verify.run` with the claims shared out over the ``jax.distributed`` processes.

    Every process returns the whole :class:`~theory.verify.Report` (verdicts in the claims' order). With one
    process it is ``run(claims, ...)``. ``progress`` sees this process's claims only.
    """
    import jax

    from theory.verify.report import Report
    from theory.verify.runner import environment, run

    todo = list(claims)
    mine = partition(todo, jax.process_index(), jax.process_count())
    t0 = time.perf_counter()
    local = run([todo[i] for i in mine], scale=scale, seed=seed, progress=progress)
    pairs = gather(list(zip(mine, local.verdicts, strict=True)))
    verdicts = [v for _, v in sorted(pairs, key=lambda p: p[0])]
    env = {**environment(), "processes": jax.process_count(), "devices_total": len(jax.devices())}
    return Report(verdicts=verdicts, scale=local.scale, seed=local.seed, seconds=time.perf_counter() - t0,
                  environment=env)
