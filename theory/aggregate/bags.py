r"""Bags: random equal-size partitions, validation of user-given bags, and bag means.

A bagging of n samples is an integer array ``bags`` of length n giving each row's bag id in
``0..m-1``. Every row lies in exactly one bag by construction; :func:`bags_from_groups` converts a
list of index groups (which may overlap or miss rows) into that form and rejects both. Sizes are
keyword-only (``num_samples``, ``bag_size``, ``num_bags``); the old positional calls and spellings
(``n_samples``, ``n_bags``) still work with a ``DeprecationWarning``.

References:
    Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 2 (non-overlapping, uniformly random bags
    of equal size k, n = m k; as recalled): docs/aggregate.md#the-objects.
"""

from __future__ import annotations

import numbers
import typing
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from theory._random import check_key
from theory._validation import as_jit_input, check_int
from theory.aggregate._checks import integer_array, old_spellings

__all__ = ["BagInfo", "make_bags", "check_bags", "bags_from_groups", "bag_means"]


class BagInfo(typing.NamedTuple):
    """A validated bagging: the bag id of each row (int64), the number of bags and the common size.

    ``n_bags`` is the deprecated spelling of ``num_bags``.
    """

    bags: np.ndarray
    num_bags: int
    bag_size: int | None

    @property
    def n_bags(self) -> int:
        warnings.warn("BagInfo.n_bags is deprecated; use BagInfo.num_bags", DeprecationWarning, stacklevel=2)
        return self.num_bags


@old_spellings(positional=("num_samples", "bag_size"), n_samples="num_samples")
def make_bags(*, num_samples: int, bag_size: int, key) -> jax.Array:
    """A uniformly random partition of ``num_samples`` rows into bags of ``bag_size`` rows.

    Row ``perm[j]`` goes to bag ``j // bag_size`` for a uniform random permutation ``perm``.

    Args:
        num_samples: n >= 1, a multiple of ``bag_size`` (``n_samples`` is its deprecated spelling).
        bag_size: k >= 1.
        key: a JAX PRNG key.

    Returns:
        int32 array of shape (n,), values in ``0..n/k-1``, each taken k times.

    Example:
        >>> b = make_bags(num_samples=6, bag_size=3, key=jax.random.key(0))
        >>> sorted(np.bincount(np.asarray(b)).tolist())
        [3, 3]

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 2 (random bags; as recalled).
    """
    n = check_int("num_samples", num_samples, low=1)
    k = check_int("bag_size", bag_size, low=1)
    if n % k:
        raise ValueError(f"num_samples={n} must be a multiple of bag_size={k} (equal-size bags)")
    perm = jax.random.permutation(check_key(key), n)
    return jnp.zeros(n, jnp.int32).at[perm].set(jnp.arange(n, dtype=jnp.int32) // k)


@old_spellings(positional=("num_samples",), n_samples="num_samples")
def check_bags(bags, *, num_samples: int | None = None, equal_size: bool = True) -> BagInfo:
    """Validate a bag-id array: 1-D integers, ids ``0..m-1`` all used, equal sizes when required.

    Args:
        bags: integer array of shape (n,), the bag of each row.
        num_samples: the expected n (the number of rows of X), if known (``n_samples`` is its deprecated
            spelling).
        equal_size: require every bag to have the same size (the theory's setting).

    Returns:
        A :class:`BagInfo` ``(bags, num_bags, bag_size)``; ``bag_size`` is None for unequal bags.

    Raises:
        TypeError: non-integer ids. ValueError: wrong shape, negative or unused ids, unequal sizes.

    Example:
        >>> check_bags([0, 0, 1, 1]).bag_size
        2

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 2 (non-overlapping bags covering all samples;
        as recalled): docs/aggregate.md#the-objects.
    """
    arr = np.asarray(bags)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"bags must be an integer array of bag ids, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"bags must be a non-empty 1-D array (one bag id per row), got shape {arr.shape}")
    if num_samples is not None and arr.size != num_samples:
        raise ValueError(f"bags has {arr.size} entries but there are num_samples={num_samples} rows")
    if arr.min() < 0:
        raise ValueError(f"bag ids must be >= 0, got {arr.min()}")
    counts = np.bincount(arr.astype(np.int64))
    if np.any(counts == 0):
        raise ValueError(f"bag ids must be 0..m-1 with every id used; id {int(np.argmin(counts))} is empty")
    size = int(counts[0]) if np.all(counts == counts[0]) else None
    if equal_size and size is None:
        raise ValueError(f"bags must all have the same size (n = m k); sizes range {counts.min()}..{counts.max()}")
    return BagInfo(arr.astype(np.int64), int(counts.size), size)


@old_spellings(positional=("num_samples",), n_samples="num_samples")
def bags_from_groups(groups, *, num_samples: int) -> np.ndarray:
    """Convert a list of row-index groups into a bag-id array, rejecting overlap and gaps.

    Args:
        groups: a sequence of integer index sequences, one per bag.
        num_samples: n, the number of rows that must be covered exactly once (``n_samples`` is its
            deprecated spelling).

    Returns:
        int64 array of shape (n,), ``bags[i] = a`` for ``i`` in ``groups[a]``.

    Raises:
        ValueError: a row in two bags, a row in no bag, an index out of range, or an empty bag.

    Example:
        >>> bags_from_groups([[0, 2], [1, 3]], num_samples=4).tolist()
        [0, 1, 0, 1]

    References:
        docs/aggregate.md#the-objects (bags that overlap or do not cover all samples are rejected).
    """
    n = check_int("num_samples", num_samples, low=1)
    out = np.full(n, -1, np.int64)
    for a, g in enumerate(groups):
        idx = np.asarray(g)
        if idx.size == 0:
            raise ValueError(f"bag {a} is empty")
        if idx.dtype.kind not in "iu" or idx.ndim != 1:
            raise TypeError(f"bag {a} must be a 1-D sequence of integer row indices")
        if idx.min() < 0 or idx.max() >= n:
            raise ValueError(f"bag {a} has a row index outside [0, {n - 1}]")
        if len(np.unique(idx)) != idx.size or np.any(out[idx] >= 0):
            raise ValueError(f"bags overlap: bag {a} repeats a row or shares one with an earlier bag")
        out[idx] = a
    if np.any(out < 0):
        raise ValueError(f"bags do not cover all rows: row {int(np.argmin(out))} is in no bag")
    return out


@old_spellings(positional=("num_bags",), n_bags="num_bags")
def bag_means(values, bags, *, num_bags: int):
    r"""The per-bag means :math:`\bar v_a = |B_a|^{-1}\sum_{i \in B_a} v_i` (JAX, differentiable).

    Args:
        values: array of shape (n,) or (n, d).
        bags: int array (n,) of bag ids in ``0..num_bags-1``.
        num_bags: m (static; ``n_bags`` is its deprecated spelling).

    Returns:
        Array of shape (m,) or (m, d).

    Example:
        >>> bag_means(jnp.array([1.0, 3.0, 5.0, 7.0]), jnp.array([0, 0, 1, 1]), num_bags=2).tolist()
        [2.0, 6.0]

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 2 (the aggregate responses and the bag-mean
        predictions; as recalled).
    """
    if integer_array(bags) and isinstance(num_bags, numbers.Integral):
        return _bag_means_compiled(as_jit_input(values), bags, num_bags=num_bags)
    return _bag_means(jnp.asarray(values), bags, num_bags=num_bags)


def _bag_means(values, bags, *, num_bags):
    sums = jax.ops.segment_sum(values, bags, num_segments=num_bags)
    counts = jax.ops.segment_sum(jnp.ones(values.shape[0], values.dtype), bags, num_segments=num_bags)
    return sums / counts.reshape((-1,) + (1,) * (values.ndim - 1))


# jitted for eager calls: one compiled program per shape instead of one per jnp operation
_bag_means_compiled = jax.jit(_bag_means, static_argnames=("num_bags",))
