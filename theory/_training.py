"""Training loops and replicate vmapping shared by the simulators.

:func:`train` runs an optax optimiser for a fixed number of steps inside one ``lax.scan`` (fresh data
per step from a key), so a whole run is one compiled function; :func:`over_replicates` maps a keyed
function over independent replicate keys with ``vmap`` (in chunks when the replicates would not fit in
:func:`replicate_memory_budget` at once, estimated from the traced program by :func:`jaxpr_bytes`), never a
Python loop.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import check_int, is_traced

__all__ = [
    "train",
    "over_replicates",
    "map_replicates",
    "replicate_sharding",
    "shard_replicates",
    "replicate_memory_budget",
    "parse_bytes",
    "jaxpr_bytes",
    "sequential_under_vmap",
]

BUDGET_ENV = "THEORY_MEMORY_BUDGET"
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_BYTES = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*")
_FALLBACK_BYTES = 4 * 2**30


def train(loss, params, optimizer, *, key, num_steps: int, extra=None):
    """Minimise ``loss(params, key_t, x_t) -> scalar`` with an optax ``optimizer`` for ``num_steps`` steps.

    Args:
        loss: ``(params, key, x) -> scalar``; ``key`` is a fresh key per step (draw the step's data from
            it), ``x`` the step's slice of ``extra`` (or ``None``).
        params: the initial parameters (any pytree).
        optimizer: an ``optax.GradientTransformation`` (its schedule, if any, counts steps itself).
        key: the PRNG key the per-step keys are split from.
        num_steps: the number of optimiser steps (static).
        extra: an optional pytree with a leading axis of length ``num_steps`` scanned along with the
            steps (a per-step input such as a learning-rate multiplier).

    Returns:
        ``(params, losses)``: the final parameters and the ``[num_steps]`` loss trajectory.
    """
    import optax

    grad = jax.value_and_grad(loss)

    def step(carry, inputs):
        p, state = carry
        k, x = inputs
        value, g = grad(p, k, x)
        updates, state = optimizer.update(g, state, p)
        return (optax.apply_updates(p, updates), state), value

    keys = jax.random.split(key, num_steps)
    (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)), (keys, extra))
    return params, losses


def replicate_sharding(num_replicates: int):
    """A ``NamedSharding`` that splits a leading replicate axis over every local device, or ``None``.

    ``None`` on one device, or when ``num_replicates`` is not a multiple of the device count (the split
    must be even; the replicates then stay where they are). The mesh has one axis, ``"replicates"``.
    """
    devices = jax.local_devices()
    if len(devices) < 2 or num_replicates % len(devices):
        return None
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    return NamedSharding(Mesh(np.asarray(devices), ("replicates",)), PartitionSpec("replicates"))


def shard_replicates(x):
    """``x`` with its leading (replicate) axis split over the local devices (:func:`replicate_sharding`).

    Eagerly a ``device_put``, under ``jit`` a sharding constraint; unchanged on one device or when the split
    would be uneven. Placement only: every replicate computes the same numbers wherever it runs.
    """
    sharding = replicate_sharding(x.shape[0])
    if sharding is None:
        return x
    if is_traced(x):
        return jax.lax.with_sharding_constraint(x, sharding)
    return jax.device_put(x, sharding)


def parse_bytes(text: str, name: str = BUDGET_ENV) -> int:
    """A byte count from ``text``: plain bytes (``"1048576"``) or a number with a unit (``"512MB"``, ``"2GiB"``,
    ``"1.5GB"``; case and spaces ignored), rounded down to whole bytes.

    Units: ``B``; decimal ``KB, MB, GB, TB`` (:math:`10^3, 10^6, 10^9, 10^{12}`); binary
    ``KiB, MiB, GiB, TiB`` (:math:`2^{10}, 2^{20}, 2^{30}, 2^{40}`). The count must be at least one byte;
    anything else raises ``ValueError`` naming ``name`` and these forms.

    References:
        IEC 80000-13 (binary prefixes Ki, Mi, Gi, Ti) and the SI decimal prefixes k, M, G, T.
    """
    match = _BYTES.fullmatch(str(text))
    unit = _UNITS.get(match.group(2).lower()) if match else None
    value = math.floor(float(match.group(1)) * unit) if unit is not None else 0
    if value < 1:
        raise ValueError(f"{name} must be a positive byte count: plain bytes (e.g. 1073741824) or a number with "
                         f"a unit B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (e.g. 512MB, 2GiB, 1.5GB), got {text!r}")
    return value


@functools.cache
def _default_memory_budget() -> int:
    """Half the free memory of the default device, read once per process (:func:`replicate_memory_budget`)."""
    device = jax.devices()[0]
    if device.platform != "cpu":
        try:
            stats = device.memory_stats() or {}
        except Exception:  # a backend without memory statistics
            stats = {}
        if "bytes_limit" in stats:
            return max(1, (stats["bytes_limit"] - stats.get("bytes_in_use", 0)) // 2)
        return _FALLBACK_BYTES
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf, or these names unknown here
        return _FALLBACK_BYTES
    return max(1, free // 2) if free > 0 else _FALLBACK_BYTES


def replicate_memory_budget() -> int:
    """The bytes, per device, that :func:`map_replicates` lets one vmapped batch of replicates use.

    ``THEORY_MEMORY_BUDGET`` when it is set (:func:`parse_bytes`: ``"512MB"``, ``"2GiB"``, ``"1.5GB"``,
    plain bytes; a bad value raises ``ValueError``). Otherwise half of the default device's free memory, read
    once per process: on a GPU or TPU ``bytes_limit - bytes_in_use`` of ``jax.devices()[0].memory_stats()``,
    on a CPU the available physical pages times the page size (``os.sysconf("SC_AVPHYS_PAGES")`` x
    ``os.sysconf("SC_PAGE_SIZE")``); 4 GiB when neither is known.

    References:
        JAX documentation, "GPU memory allocation" (``bytes_limit``, ``bytes_in_use`` of
        ``Device.memory_stats``); POSIX ``sysconf`` (``_SC_AVPHYS_PAGES``, ``_SC_PAGE_SIZE``).
    """
    text = os.environ.get(BUDGET_ENV)
    if text is not None and text.strip():
        return parse_bytes(text)
    return _default_memory_budget()


def _aval_bytes(aval) -> int:
    shape, dtype = getattr(aval, "shape", None), getattr(aval, "dtype", None)
    if shape is None or dtype is None:  # tokens and other values that hold no array
        return 0
    return math.prod(shape) * getattr(dtype, "itemsize", 0)


def jaxpr_bytes(jaxpr, *, top: bool = True) -> int:
    r"""An upper bound on the bytes a jaxpr keeps live: every value it makes, as if none were freed or reused.

    .. math:: \text{bytes} = \sum_{v \in \text{inputs} \cup \text{consts}} |v|
              + \sum_{e \in \text{eqns}} \Big(\sum_{v \in \text{out}(e)} |v|
              + \sum_{p \in \text{sub}(e)} \max_{J \in p} \text{bytes}(J)\Big)

    with :math:`|v|` the size times the item size of a value. A sub-jaxpr (a ``scan`` or ``while`` body, a
    ``cond`` branch, a nested ``jit``) counts its own equations once, without its inputs (counted where they
    were made): a loop body's values are per iteration, alive one iteration at a time, and of several
    branches only the largest runs. XLA frees and reuses buffers and fuses elementwise chains, so the
    compiled program usually needs much less: the estimate errs toward smaller chunks (XLA's own scratch
    space, e.g. for sorts, is not in the jaxpr and not counted). ``jaxpr`` is a ``Jaxpr`` or ``ClosedJaxpr``;
    ``top=False`` leaves its inputs and constants out.

    References:
        JAX documentation, "JAX internals: the jaxpr language", https://docs.jax.dev/en/latest/jaxpr.html.
    """
    jaxpr = _as_jaxpr(jaxpr)
    inputs = sum(_aval_bytes(v.aval) for v in (*jaxpr.constvars, *jaxpr.invars)) if top else 0
    return inputs + _made_bytes(jaxpr, {})


def _as_jaxpr(jaxpr):
    from jax.extend.core import ClosedJaxpr

    return jaxpr.jaxpr if isinstance(jaxpr, ClosedJaxpr) else jaxpr


def _made_bytes(jaxpr, seen: dict) -> int:
    """The bytes of the values ``jaxpr``'s equations make, sub-jaxprs included (:func:`jaxpr_bytes`); ``seen``
    keeps each sub-jaxpr's count, so one called in many places is walked once."""
    from jax.extend.core import ClosedJaxpr, Jaxpr

    key = id(jaxpr)
    if key in seen:
        return seen[key]
    total = 0
    for eqn in jaxpr.eqns:
        for v in eqn.outvars:
            total += _aval_bytes(v.aval)
        for value in eqn.params.values():
            if isinstance(value, Jaxpr | ClosedJaxpr):
                total += _made_bytes(_as_jaxpr(value), seen)
            elif isinstance(value, tuple | list) and value and isinstance(value[0], Jaxpr | ClosedJaxpr):
                total += max(_made_bytes(_as_jaxpr(j), seen) for j in value)  # branches: one runs
    seen[key] = total
    return total


def map_replicates(fn: Callable[..., Any], *xs, chunk_size: int | str | None = None):
    r"""``fn`` over the leading (replicate) axis of every leaf of ``xs``, results stacked on a leading axis.

    ``vmap``, in chunks when the replicates would not fit in memory at once. With ``chunk_size=None`` (or
    ``"auto"``) the vmapped ``fn`` is traced once, by ``jax.jit(vmap(fn), inline=True).trace``; the bytes of
    its jaxpr (:func:`jaxpr_bytes`) are the bytes all :math:`R` replicates need together, and when

    .. math:: \text{bytes} \le \text{budget} \cdot D

    (``budget`` from :func:`replicate_memory_budget`, per device; :math:`D` the local devices the replicates
    are split over, 1 when they are not split) the replicates run in one call. On one device that is the jitted
    function just traced: jit's cache returns the same trace (no second trace of ``fn``) and, inside an outer
    ``jit``, its equations are inlined, so the staged program is the one ``vmap(fn)`` stages, to the bit.
    (Called eagerly, the vmapped ``fn`` runs as one compiled program instead of op by op, which can change the
    last bit of a float.) Otherwise it runs in chunks of
    :math:`c = \lfloor \text{budget} \cdot D / (\text{bytes}/R) \rfloor` replicates, rounded down to a
    multiple of :math:`D` (chunks below :math:`D` replicates stay on one device, :math:`c \ge 1`), then
    evened out so the last chunk wastes as little as possible. An integer ``chunk_size`` sets the chunk size
    itself. Chunks run one after another under ``lax.map`` (the last one padded with copies of the first
    replicates, dropped from the result), each vmapped. Each (chunk of) replicates is split over the local
    devices (:func:`replicate_sharding`) by ``shard_map``: every device runs ``vmap(fn)`` on its own share, so
    a loop whose length depends on the replicates (a line search, a convergence test under ``vmap``) stops on
    each device when its own replicates are done, with no step that waits for the other devices (the MoE fit
    ran 1.4x faster on two CPU devices than with the replicate axis only constrained to be split). The
    replicates are the same either way, so the results agree replicate for replicate.

    References:
        JAX documentation, "jax.vmap", "jax.lax.map", "jax.jit" (``inline``), "jax.shard_map" and
        "Ahead-of-time lowering and compilation" (``trace``); https://docs.jax.dev/en/latest/jaxpr.html (the
        jaxpr an estimate is read from).
    """
    if isinstance(chunk_size, str):
        if chunk_size != "auto":
            raise ValueError(f"chunk_size must be a positive integer, None or 'auto', got {chunk_size!r}")
        chunk_size = None
    elif chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, low=1)
    vmapped = jax.vmap(fn)

    def mapped(*args):  # each device runs vmap(fn) on its own share of the replicates
        sharding = replicate_sharding(jax.tree_util.tree_leaves(args)[0].shape[0])
        if sharding is None:
            return vmapped(*args)
        spec = sharding.spec
        # check_vma=False: a loop inside fn whose carry starts from a constant (optax's line-search state in the MoE
        # fit) would otherwise need a pcast to "varying" written into fn; every replicate is independent, so the
        # per-device values need no such typing
        return jax.shard_map(vmapped, mesh=sharding.mesh, in_specs=tuple(spec for _ in args), out_specs=spec,
                             check_vma=False)(*args)

    def place(tree):
        return jax.tree_util.tree_map(shard_replicates, tree)

    num = jax.tree_util.tree_leaves(xs)[0].shape[0]
    if chunk_size is None:
        placed = place(xs)
        # traced once: the call below reuses this trace (jit's cache) and, under an outer trace, inlines its
        # equations, so the staged program is the one ``mapped(*placed)`` would have staged
        jitted = jax.jit(vmapped, inline=True)
        chunk_size = _auto_chunk_size(jaxpr_bytes(jitted.trace(*placed).jaxpr), num)
        if chunk_size >= num:
            return jitted(*placed) if replicate_sharding(num) is None else mapped(*placed)
    if chunk_size >= num:
        return mapped(*place(xs))
    pad = (-num) % chunk_size

    def split(a):  # explicit sizes, not -1: a leaf may hold no elements (a zero-length trailing axis)
        return (jnp.concatenate([a, a[:pad]]) if pad else a).reshape(
            ((num + pad) // chunk_size, chunk_size) + a.shape[1:])

    out = jax.lax.map(lambda chunk: mapped(*place(chunk)), jax.tree_util.tree_map(split, xs))
    return jax.tree_util.tree_map(lambda a: a.reshape((a.shape[0] * a.shape[1],) + a.shape[2:])[:num], out)


def _auto_chunk_size(total_bytes: int, num: int) -> int:
    """The chunk size :func:`map_replicates` picks for ``num`` replicates needing ``total_bytes`` together."""
    budget = replicate_memory_budget()
    devices = len(jax.local_devices())
    split = replicate_sharding(num) is not None
    if total_bytes <= budget * (devices if split else 1):
        return num
    per = total_bytes / max(num, 1)
    chunk = int(budget * devices // per)
    if chunk >= devices > 1:
        chunk -= chunk % devices  # every chunk splits evenly over the devices
    else:
        chunk, devices = max(1, int(budget // per)), 1  # chunks too small to split: one device's budget
    chunks = -(-num // chunk)
    even = -(-num // chunks)  # the same number of chunks, as little padding as possible
    return min(chunk, -(-even // devices) * devices)


def over_replicates(fn: Callable[..., Any], key, num_replicates: int, *args, chunk_size: int | str | None = None):
    """``fn(key_r, *args)`` for ``num_replicates`` independent keys, stacked on a leading axis.

    ``vmap`` over the replicate keys; ``lax.map`` over chunks of ``chunk_size`` replicates, each chunk
    vmapped, when ``chunk_size`` is given or when the replicates would not fit in the memory budget at once
    (:func:`map_replicates`, :func:`replicate_memory_budget`). The keys are the same either way, so the
    results agree replicate for replicate. With several local devices the replicate keys are sharded over them
    (:func:`replicate_sharding`: ``jax.sharding``, one mesh axis), so XLA runs each device's share of the
    replicates there; each replicate computes the same thing on any device. (:func:`map_replicates` maps
    per-replicate inputs other than keys.)
    """
    return map_replicates(lambda k: fn(k, *args), jax.random.split(key, num_replicates), chunk_size=chunk_size)


def sequential_under_vmap(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (positional array arguments), but under ``vmap`` its batch runs one element at a time (``lax.map``).

    For LAPACK calls (a Cholesky factor, ``jnp.linalg.solve``) inside a vmapped simulator. jaxlib's batched LAPACK
    kernels split a batch over XLA's CPU thread pool and wait for the parts; a device's program runs on a thread of
    that same pool, so with several CPU devices every thread of the pool can end up waiting in such a kernel, with
    none left to run the parts (jaxlib 0.10.2: the aggregate simulator's batched Cholesky solves hung on 2 CPU
    devices at 32 replicates; docs/verify.md, "Several devices"). One matrix per call runs on the calling thread.
    Each element computes what the unbatched call computes, wherever and in whatever batch it runs; nested
    ``vmap`` calls nest the loops. Forward-mode differentiation only: ``jax.custom_batching.custom_vmap`` has no
    reverse mode, with or without ``vmap`` (the aggregate simulators differentiate in closed form, not by ``grad``).
    """

    @jax.custom_batching.custom_vmap
    def one(*args):
        return fn(*args)

    @one.def_vmap
    def _rule(axis_size, in_batched, *args):
        del axis_size
        mapped = [a for a, b in zip(args, in_batched, strict=True) if b]

        def element(xs):
            it = iter(xs)
            return one(*(next(it) if b else a for a, b in zip(args, in_batched, strict=True)))

        out = jax.lax.map(element, mapped)
        return out, jax.tree_util.tree_map(lambda _: True, out)

    return functools.wraps(fn)(one)
