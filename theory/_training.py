"""Training loops and replicate vmapping shared by the simulators.

:func:`train` runs an optax optimiser for a fixed number of steps inside one ``lax.scan`` (fresh data
per step from a key), so a whole run is one compiled function; :func:`over_replicates` maps a keyed
function over independent replicate keys with ``vmap`` (in chunks when a memory budget asks for it),
never a Python loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import is_traced

__all__ = ["train", "over_replicates", "map_replicates", "replicate_sharding", "shard_replicates"]


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


def map_replicates(fn: Callable[..., Any], *xs, chunk_size: int | None = None):
    """``fn`` over the leading (replicate) axis of every leaf of ``xs``, results stacked on a leading axis.

    ``vmap``; with ``chunk_size``, ``lax.map`` over chunks of that many replicates (the memory budget; the
    last chunk padded with copies of the first replicates, dropped from the result), each chunk vmapped.
    Each (chunk of) replicates is split over the local devices (:func:`shard_replicates`). The replicates are
    the same either way, so the results agree replicate for replicate.
    """
    mapped = jax.vmap(fn)

    def place(tree):
        return jax.tree_util.tree_map(shard_replicates, tree)

    num = jax.tree_util.tree_leaves(xs)[0].shape[0]
    if chunk_size is None or chunk_size >= num:
        return mapped(*place(xs))
    pad = (-num) % chunk_size

    def split(a):
        return (jnp.concatenate([a, a[:pad]]) if pad else a).reshape((-1, chunk_size) + a.shape[1:])

    out = jax.lax.map(lambda chunk: mapped(*place(chunk)), jax.tree_util.tree_map(split, xs))
    return jax.tree_util.tree_map(lambda a: a.reshape((-1,) + a.shape[2:])[:num], out)


def over_replicates(fn: Callable[..., Any], key, num_replicates: int, *args, chunk_size: int | None = None):
    """``fn(key_r, *args)`` for ``num_replicates`` independent keys, stacked on a leading axis.

    ``vmap`` over the replicate keys; with ``chunk_size``, ``lax.map`` over chunks of that many replicates
    (the memory budget), each chunk vmapped. The keys are the same either way, so the results agree
    replicate for replicate. With several local devices the replicate keys are sharded over them
    (:func:`replicate_sharding`: ``jax.sharding``, one mesh axis), so XLA runs each device's share of the
    replicates there; each replicate computes the same thing on any device. (:func:`map_replicates` maps
    per-replicate inputs other than keys.)
    """
    return map_replicates(lambda k: fn(k, *args), jax.random.split(key, num_replicates), chunk_size=chunk_size)
