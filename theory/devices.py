"""Where the replicates run: every CPU core as a JAX device.

The simulators split their replicate axis over every local device (``jax.sharding``; see docs/verify.md,
"Several devices"). On a GPU machine those are the GPUs. On a CPU, JAX starts one device by default, and one
device runs a program's small operations (the matrices of one training step, the rows of one fit) one after
another on one core, so the vmapped replicates use one core whatever the machine has. :func:`use_cpu_cores`
splits the CPU into one device per core: the replicate axis is then split over the cores, each core runs its
share of the replicates, and every replicate computes what it computes on one device (docs/verify.md gives the
one exception, the last bits of the MoE fit).

JAX fixes its devices when its backend starts, at the first computation of the process: call it right after the
imports, before any array is made. ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` in the environment does
the same for a process that cannot call it first.
"""

from __future__ import annotations

import os

from theory._validation import check_int

__all__ = ["use_cpu_cores", "available_cores"]


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the platform has one, else ``os.cpu_count()``)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def use_cpu_cores(num_devices: int | None = None) -> int:
    """Run JAX's CPU backend as ``num_devices`` devices (default: one per core, :func:`available_cores`).

    Sets JAX's ``jax_num_cpu_devices`` option; the replicate axis of every simulator is then split over the
    devices (``theory._training.shard_replicates``) whenever the replicate count is a multiple of their number.
    On a machine whose default backend is an accelerator the simulators use the accelerators, and this changes
    nothing they do.

    Args:
        num_devices: the CPU devices, an integer >= 1; ``None`` for one per available core.

    Returns:
        The number of CPU devices set.

    Raises:
        RuntimeError: JAX's backend has already started in this process (a computation has run); the message
            says where to call it.

    References:
        JAX documentation, "Introduction to parallel programming" (``jax_num_cpu_devices``, CPU devices) and
        "Distributed arrays and automatic parallelization" (``jax.sharding``).
    """
    num_devices = available_cores() if num_devices is None else check_int("num_devices", num_devices, low=1)
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", num_devices)
    except RuntimeError as err:
        raise RuntimeError("use_cpu_cores: JAX's backend has already started in this process; call "
                           "theory.devices.use_cpu_cores() right after the imports, before any JAX computation "
                           "(or set XLA_FLAGS=--xla_force_host_platform_device_count=N before Python starts)") from err
    return num_devices
