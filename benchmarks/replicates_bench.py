"""The replicate benchmarks with the CPU split into one JAX device per core (``jax_num_cpu_devices``).

The compsum, icl, ldr and moe benchmarks time each simulator's vmapped replicates in one call against a Python
loop of one-replicate calls of the same jitted program, on JAX's single CPU device. On a CPU the gain of the
vmapped call over the loop is then mostly dispatch: the arithmetic per replicate is the same, and one device runs
the small operations of a training step on one core. Here the same four measurements run in a process whose CPU is
split into one device per core, so the vmapped replicates are split over the cores (``jax.sharding``), as they
are over the GPUs of a GPU machine; the loop's one-replicate calls run on the first device, as a Python loop
does. ``max |... vmap - loop|`` rows check that the two runs computed the same replicates.

This is a measurement, not a setting the library makes: with as many CPU devices as cores, jaxlib's batched
LAPACK kernels can deadlock (docs/verify.md, "Several devices"; the aggregate simulator hung that way until it
stopped handing them batches: it now makes one LAPACK call per matrix).

Usage: python benchmarks/replicates_bench.py [--json FILE]
"""

from __future__ import annotations

import argparse
import os

import jax

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
jax.config.update("jax_num_cpu_devices", CORES)  # before any JAX computation: the devices are fixed then

import compsum_bench  # noqa: E402  (after the devices are set)
import icl_bench  # noqa: E402
import ldr_bench  # noqa: E402
import moe_bench  # noqa: E402
from _timing import report  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    print(f"devices: {jax.devices()}")
    runs = {"compsum": lambda: compsum_bench.simulator_benchmark(8),
            "icl": icl_bench.replicate_benchmark,
            "ldr": ldr_bench.simulator_benchmark,
            "moe": lambda: tuple(moe_bench.replicate_simulator(1000, 40).values())}
    results = {}
    for name, run in runs.items():
        rows, ratios = run()
        results[name] = (rows, {f"{k} ({CORES} CPU devices)" if k.startswith("loop") else k: v
                                for k, v in ratios.items()})
    return report(results, args.json)

if __name__ == "__main__":
    main()
