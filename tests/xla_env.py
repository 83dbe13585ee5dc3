"""How the test processes run XLA: faster CPU compilation, host CPU devices for a test's subprocess, and each
pytest-xdist worker on its own cores.

About 60% of the suite's time on a CPU is XLA compiling a few thousand small programs, one or more per test.
Two code-generation flags halve that: the legacy elemental emitters compile small fusions about 35% faster than
the MLIR fusion emitters, and LLVM optimisation level 1 (XLA's default is 3) compiles the unrolled threefry rounds
of every random draw several times faster. They change only how XLA turns the same HLO into machine code: the
numbers agree with the default flags to float rounding (a default-scale ``theory verify`` gives the same verdicts,
with estimates equal to about 1e-8 relative), and every comparison in the suite is made between two programs
compiled under the same flags.

Tried on top of these and not used (313 compile-heavy tests of ldr, moe, compsum, aggregate and icl in one
process on one core, XLA's compile seconds summed by ``jax.monitoring``; two runs each, on the two cores at
once and then swapped): XLA's own preset ``--xla_cpu_opt_preset=CPU_OPT_PRESET_FAST_COMPILE`` compiled slower
(91.5 and 96.8 s against 73.8 and 73.5 s); ``--xla_cpu_use_xnnpack=false`` (72.1 s) and
``--xla_cpu_max_isa=AVX2`` (72.8 s) are inside the run-to-run spread, as is
``--xla_llvm_disable_expensive_passes=true`` (2026-12-07, 317 tests side by side on the two cores: 95.1 s against
97.9 s), and so is turning off XLA's YNNPACK fusions,
``--xla_cpu_experimental_ynn_fusion_type=-reduce,-eltwise,-dot,-individual_dot,-individual_convolution``
(2026-12-07, 654 compile-heavy tests of the loss registry, ldr, moe, aggregate and compsum on one core each, side
by side: 107.6 s of XLA compile against 109.1 s). ``xla_cpu_disable_loop_unrolling``,
``xla_cpu_disable_slp_vectorizer`` and ``xla_cpu_optimize_for_size`` are in jaxlib 0.10's option list, but its
``XLA_FLAGS`` parser rejects them (unknown flags, which abort the process). The compiles themselves are many and
small: a whole run of the suite makes about 4,750 of them, 74 ms each on average (352 s of the 800 s the two
workers spend), plus 137 s tracing and lowering.

LLVM level 0 instead of 1 (2026-12-07, the whole suite with ``CI=true`` on 2 cores, compile seconds per test
from ``jax.monitoring``): XLA's compile time fell from 454 to 274 s, but the programs that do real work ran 2-5x
slower (the default-scale ensloss claims 38 -> 207 s, icl 46 -> 108 s, moe 83 -> 138 s), and the suite took 1335
worker-seconds against 1033 (718 s against 543 s). Taking the better level for every test would have given 896;
splitting by kind (level 1 for the default-scale runs only) gave 1035, since the smoke runs and the figure
scripts also lose more run time than they gain in compilation. Not used.

XLA sizes its CPU thread pools from the cores the process may run on. Two workers on two cores would each start
threads for both cores, and their parallel operations would contend for the same cores; pinned to one core each
(:func:`own_cores`), the suite ran faster on a 2-core machine: 380 s against 446 s, and 425 s against 451 s, in
two pairs of runs one after the other (the same tests; run-to-run spread on that machine is about 30 s).
"""

import os

from theory.cli import CPU_LEGACY_EMITTERS, CPU_OPTIMIZATION_LEVEL, _xla_starts_with

#: The code-generation flags of the test processes, those of the ``theory`` command on a CPU (a flag already in
#: XLA_FLAGS wins).
TEST_XLA_FLAGS = dict([CPU_LEGACY_EMITTERS.split("="), ("xla_backend_optimization_level", str(CPU_OPTIMIZATION_LEVEL))])

#: Added in a test worker that runs on one core (:func:`own_cores`). XLA splits each program's LLVM module into
#: parts compiled on separate threads; on one core the parts compile one after another and the split only adds
#: work. The gain is small, inside the run-to-run spread of a 2-core machine: the ldr and moe tests ran in 158, 146
#: and 172 s with the flag against 176 and 172 s without, the whole suite in CI in 365-394 s against 377-392 s.
ONE_CORE_XLA_FLAGS = {"xla_cpu_parallel_codegen_split_count": "1"}

DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"


#: Whether this jaxlib starts a CPU backend with ``flags``: the ``theory`` command's own check, in a child process
#: (XLA aborts the process on a flag it does not know); a module attribute, so that tests can replace it.
_accepted = _xla_starts_with


def use_test_flags(*, one_core: bool = False):
    """Add :data:`TEST_XLA_FLAGS` to ``XLA_FLAGS`` (and :data:`ONE_CORE_XLA_FLAGS` with ``one_core``), before JAX
    starts its backend. The test workers inherit the flags from the controlling process; a jaxlib that does not
    know a flag (an older or a newer XLA) runs the suite without it."""
    current = os.environ.get("XLA_FLAGS", "")
    wanted = {**TEST_XLA_FLAGS, **(ONE_CORE_XLA_FLAGS if one_core else {})}
    missing = [f"--{name}={value}" for name, value in wanted.items() if name not in current]
    if not missing:
        return
    if not _accepted(" ".join([current, *missing])):
        missing = [flag for flag in missing if _accepted(f"{current} {flag}")]
    os.environ["XLA_FLAGS"] = " ".join([current, *missing]).strip()


def xla_flags(devices=None):
    """This process's ``XLA_FLAGS`` without any device count, plus ``devices`` host CPU devices when given."""
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(DEVICE_COUNT_FLAG)]
    if devices is not None:
        flags.append(f"{DEVICE_COUNT_FLAG}={devices}")
    return " ".join(flags)


def core_share(cores, worker: int, workers: int) -> set:
    """The cores of test worker ``worker`` (0-based) of ``workers``: an even, contiguous share of the sorted
    ``cores``, or one core (shared round-robin) when there are more workers than cores."""
    cores = sorted(cores)
    if workers >= len(cores):
        return {cores[worker % len(cores)]}
    return set(cores[worker * len(cores) // workers:(worker + 1) * len(cores) // workers])


def own_cores() -> bool:
    """Pin this pytest-xdist worker to its share of the cores (:func:`core_share`), before JAX starts its backend,
    so that XLA's thread pools match it; whether the process now runs on one core. Nothing changes outside a
    worker, with one worker, or on a platform without ``os.sched_setaffinity`` (``False``)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker.startswith("gw") or workers < 2 or not hasattr(os, "sched_setaffinity"):
        return False
    share = core_share(os.sched_getaffinity(0), int(worker[2:]), workers)
    os.sched_setaffinity(0, share)
    return len(share) == 1
