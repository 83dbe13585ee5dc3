r"""The general LDR family: other regularisers and the top-k constraint set, with exact inner solvers.

.. math::

    \psi^{\Omega,R}_\lambda(f, y) = \max_{p\in\Omega} \langle p, a(f,y)\rangle - \lambda R(p),
    \qquad \Omega_k = \{p \in \Delta_K : p_j \le 1/k\}.

| ``reg`` | ``k`` | inner solution |
| --- | --- | --- |
| ``"kl"`` | 1 | LDR-KL closed form (:func:`theory.ldr.losses.ldr_kl_loss`) |
| ``"kl"`` | k > 1 | :math:`p_j = \min(1/k, t\,e^{a_j/\lambda})`: the top m entries capped, exact by sorting |
| ``"l2"`` | 1 | :math:`p^* = \mathrm{Proj}_\Delta(u + a/\lambda)`, :math:`R = \frac12\lVert p-u\rVert^2` |
| ``"none"`` | any | mean of the k largest :math:`a_j` (k = 1: Crammer-Singer; top-k SVM) |

``lam = inf`` gives :math:`p = u` (the mean of ``a``) for every regulariser. The ``k = 1`` cases reuse
:mod:`theory.ldr.losses` (LDR-KL, and Crammer-Singer for ``reg="none"``); the variants are registered in
:mod:`theory.losses` as ``ldr_topk``, ``topk_svm`` and ``ldr_l2``, and follow its input policy (NaN
logits raise; a ``-inf`` non-target logit is a masked class).

References:
    Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), the general LDR loss (as recalled); T. Yang,
    *Optimization for Machine Learning*, Sec. 2.1 and 2.5 (top-k SVM as R = 0 on Omega_k); docs/ldr.md,
    "Numerics" (the exact top-k solution).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from theory._validation import check_choice, check_int, check_loss_inputs, is_traced, nan_unless
from theory.ldr.losses import (
    _at_limits,
    _by_chunks,
    _hinge_core,
    _label_entry,
    _ldr_kl_of_a,
    _ldr_kl_of_logits,
    _max_margin,
    _mode,
    _traced_lam,
    _weights_of_a,
    _without_label,
    _zero_at_label,
    check_lam,
    check_margin,
    margin_vector,
)

__all__ = ["ldr_loss", "ldr_weights"]


def _xlogkx(p, K):
    return jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, K * p, 1.0)), 0.0)


def _dot_support(p, a):
    """``<p, a>`` over the support of ``p``: a masked class (``a_k = -inf``, ``p_k = 0``) adds 0, not NaN."""
    return jnp.sum(p * jnp.where(p > 0, a, 0.0), axis=-1)


#: Largest k for which :func:`_few_largest` replaces ``lax.top_k`` (k passes over a short axis).
_FEW = 8


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _few_largest(x, k):
    """``lax.top_k(x, k)`` for a small k: k rounds of a row maximum, the smallest not yet chosen index attaining it,
    and that entry set aside. The same values and indices (ties go to the smaller index, as in ``lax.top_k``; the
    indices are distinct even among ``-inf`` entries) and the same derivative: each value's goes to its own entry,
    not shared among ties as a maximum's is. On XLA's CPU backend two plain reductions per round are about twice as
    fast as ``lax.top_k`` on a short axis (measured on the two levels of :func:`_top_k` for a (4096, 1000) batch).
    A NaN row gives the last index, not one out of range."""
    n = x.shape[-1]
    iota = jax.lax.broadcasted_iota(jnp.int32, x.shape, x.ndim - 1)
    taken = jnp.zeros(x.shape, bool)
    vals, idxs = [], []
    for _ in range(k):
        m = jnp.max(jnp.where(taken, -jnp.inf, x), axis=-1)
        i = jnp.minimum(jnp.min(jnp.where((x == m[..., None]) & ~taken, iota, n), axis=-1), n - 1)
        vals.append(m)
        idxs.append(i)
        taken = taken | (iota == i[..., None])
    return jnp.stack(vals, axis=-1), jnp.stack(idxs, axis=-1)


@_few_largest.defjvp
def _few_largest_jvp(k, primals, tangents):
    (x,), (dx,) = primals, tangents
    vals, idx = _few_largest(x, k)
    return (vals, idx), (jnp.take_along_axis(dx, idx, axis=-1), np.zeros(idx.shape, jax.dtypes.float0))


def _largest(x, k):
    """``lax.top_k`` over the last axis (:func:`_few_largest` for ``k <= _FEW``)."""
    return _few_largest(x, k) if k <= _FEW else jax.lax.top_k(x, k)


def _block_size(n, k):
    r"""The block size g of the two-level top-k (:func:`_top_k`), minimising the entries the two levels search,
    :math:`n/g + kg` (g near :math:`\sqrt{n/k}`); ``None`` where no block size divides ``n`` with room."""
    sizes = [g for g in (40, 32, 25, 20, 16, 10, 8) if n % g == 0 and 4 * k * g <= n]
    return min(sizes, key=lambda g: n / g + k * g) if sizes else None


def _top_k_exact(x, k, size):
    """:func:`_top_k` by rounds of maxima and index reductions (:func:`_largest`) on both levels."""
    n = x.shape[-1]
    blocks = x.reshape(x.shape[:-1] + (n // size, size))
    # the barrier keeps the first round's maximum on the block maxima: XLA otherwise folds that max of maxima into
    # a second maximum over the whole of x (top-k LDR-KL at (4096, 1000): 2-7% faster, measured paired)
    _, best = _largest(jax.lax.optimization_barrier(jnp.max(blocks, axis=-1)), k)
    cand = jnp.take_along_axis(blocks, best[..., None], axis=-2).reshape(x.shape[:-1] + (k * size,))
    vals, i = _largest(cand, k)
    return vals, jnp.take_along_axis(best, i // size, axis=-1) * size + i % size


def _top_k_of_few_rows(x, k, size):
    """The top-k classes of a few rows (the uncertified rows of :func:`_top_k`): ``lax.top_k`` in float32, whose XLA
    CPU kernel is a partial sort per row (170 us for 64 rows of 1000; in a jitted top-k LDR-KL it compiles in 0.1 s
    where the index rounds of :func:`_top_k_exact` take 0.7 s), the index rounds in other dtypes, which XLA's CPU
    backend takes through a full sort (11 ms for 64 rows of 1000 in float64)."""
    if x.dtype == jnp.float32:
        return jax.lax.top_k(x, k)[1]
    return _top_k_exact(x, k, size)[1]


#: A selection key's bits above those of the smallest positive normal float32 (:func:`_selection_keys`).
_KEY_BITS = 30


def _selection_keys(x):
    r"""One float32 key per entry of each row of ``x`` (``[..., n]``), distinct within the row: ``(keys, b)``.

    The key orders the entries by their float32 value rounded down to its leading :math:`30 - b` bits (of the
    order-preserving integer of the float), then the smaller index first (:math:`b = \lceil\log_2 n\rceil` bits).
    It is that 30-bit code added to the smallest positive normal float32's bits, so every key is a positive normal
    float (no infinity, NaN or denormal; XLA's CPU backend compares denormals as zero). A plain floating maximum
    over the keys then finds an entry and its index in one reduction, on a CPU about three times faster than a
    maximum and an index reduction (two reductions through selects) over the values."""
    n = x.shape[-1]
    b = max(1, math.ceil(math.log2(n)))
    i = jax.lax.bitcast_convert_type(x.astype(jnp.float32), jnp.int32)
    ordered = i ^ ((i >> 31) & 0x7FFFFFFF)  # increasing with the float: negative floats' magnitude bits flipped
    iota = jax.lax.broadcasted_iota(jnp.int32, x.shape, x.ndim - 1)
    code = ((ordered >> (32 - _KEY_BITS + b)) << b) | ((1 << b) - 1 - iota)  # in [-2^29, 2^29)
    return jax.lax.bitcast_convert_type(code + ((1 << (_KEY_BITS - 1)) + 0x00800000), jnp.float32), b


def _largest_by_keys(x, k):
    r"""k entries of each row of ``x``, the largest under the keys of :func:`_selection_keys`: ``(idx [..., k],
    smallest chosen value, largest value left out)``.

    k rounds of a maximum over the keys, each below the last one found, give k distinct entries. The keys round
    the values, so the choice is the k largest as a multiset where no entry left out is larger than the smallest
    chosen (two masked reductions over the exact values): that fails only where two different values share a
    rounded key and the smaller was chosen (a relative gap below :math:`2^{b - 21}`; equal values are certified),
    or on a NaN."""
    keys, b = _selection_keys(x)
    last = jnp.full(x.shape[:-1], jnp.inf, keys.dtype)
    found = []
    for _ in range(k):
        last = jnp.max(jnp.where(keys < last[..., None], keys, 0.0), axis=-1)
        found.append(last)
    code = jax.lax.bitcast_convert_type(jnp.stack(found, axis=-1), jnp.int32)
    idx = (1 << b) - 1 - (code & ((1 << b) - 1))  # the low b bits of the code (the offset's are zero)
    chosen = keys >= last[..., None]
    return (idx, jnp.min(jnp.where(chosen, x, jnp.inf), axis=-1),
            jnp.max(jnp.where(chosen, -jnp.inf, x), axis=-1))


def _sorted_descending(vals, idx, keep=None):
    """The first ``keep`` (default all) of ``(vals, idx)`` along the last axis (short) sorted by decreasing value, ties
    to the smaller index (the order of ``lax.top_k``), then to the earlier position. Each entry's rank counts the
    entries before it and each output position adds up the one entry of its rank, on the columns, so every value
    keeps its own derivative. (A compare-exchange network nests its selects as deep as it has stages, and XLA's
    fusion then recomputes the early stages for every use: 300 ms for six entries of 4096 rows; the same ranks
    from comparisons and reductions over a short last axis took 2.5x the time of the columns.)"""
    n = vals.shape[-1]
    v = [vals[..., i] for i in range(n)]
    j = [idx[..., i] for i in range(n)]
    rank = [sum(((v[m] > v[i]) | ((v[m] == v[i]) & ((j[m] < j[i]) | ((j[m] == j[i]) & (m < i))))).astype(jnp.int32)
                for m in range(n) if m != i) for i in range(n)]
    zero = jnp.zeros((), vals.dtype)
    keep = range(n if keep is None else keep)
    # the barrier materialises the result: fused into its users (an exponential pass over the logits that reads
    # the k-th value, say), the ranks would be recomputed for every entry (top-k LDR-KL at k = 5: 5.3x against 2.4x)
    return jax.lax.optimization_barrier(
        (jnp.stack([sum(jnp.where(rank[i] == p, v[i], zero) for i in range(n)) for p in keep], axis=-1),
         jnp.stack([sum(jnp.where(rank[i] == p, j[i], 0) for i in range(n)) for p in keep], axis=-1)))


def _top_k(x, k):
    r"""``lax.top_k`` over the last axis, in no particular order, in two levels where the axis splits into blocks:
    the k largest block maxima hold the k largest entries, so the search runs on the block maxima and on those k
    blocks only (the same values; among tied entries the chosen indices may differ). Each level selects by the
    rounded keys of :func:`_largest_by_keys`, and a row is certified when nothing left out on either level exceeds
    the smallest value chosen; a row that is not (a near tie under the rounding, about one row in 4000 at k = 6 on
    normal logits) is searched again (:func:`_top_k_of_few_rows`), in chunks of 64 gathered rows. The
    values are gathered from ``x`` at the indices, so they carry its derivative."""
    n = x.shape[-1]
    size = _block_size(n, k)
    if size is None:
        return jax.lax.top_k(x, k)
    if k > _FEW:
        return _top_k_exact(x, k, size)
    batch = x.shape[:-1]
    xs = jax.lax.stop_gradient(x).reshape(-1, n)
    blocks = xs.reshape(-1, n // size, size)
    best, _, blocks_left = _largest_by_keys(jnp.max(blocks, axis=-1), k)
    cand = jnp.take_along_axis(blocks, best[..., None], axis=-2).reshape(-1, k * size)
    pos, kth, cand_left = _largest_by_keys(cand, k)
    idx = jnp.take_along_axis(best, pos // size, axis=-1) * size + pos % size
    ok = jnp.maximum(blocks_left, cand_left) <= kth

    def exact(rows, idx):
        again = _top_k_of_few_rows(xs[rows], k, size)
        return idx.at[rows].set(jnp.where(ok[rows][:, None], idx[rows], again))

    idx = _by_chunks(~ok, 64, exact, idx).reshape(batch + (k,))
    return jnp.take_along_axis(x, idx, axis=-1), idx


def _top_margins(logits, labels, c, k):
    """The k largest margins ``a_j = c + f_j - f_y`` (``a_y = 0``) and their classes, for a scalar margin ``c``,
    from the logits: ``a_j`` increases with ``f_j`` (``j != y``), so they are among the ``k + 1`` largest logits
    and the label; a ``top_k`` of the logits and one of ``k + 2`` candidates replace the margin vector."""
    f_y = _label_entry(logits, labels)[..., None]
    cand, cand_idx = _top_k(logits, min(k + 1, logits.shape[-1]))
    at_y = cand_idx == labels[..., None]
    y_in = jnp.any(at_y, axis=-1, keepdims=True)
    cand = jnp.where(at_y, jnp.zeros((), logits.dtype), c + cand - f_y)
    cand = jnp.concatenate([cand, jnp.where(y_in, -jnp.inf, 0.0).astype(logits.dtype)], axis=-1)
    cand_idx = jnp.concatenate([cand_idx, labels[..., None].astype(cand_idx.dtype)], axis=-1)
    if k > _FEW:
        vals, pos = _largest(cand, k)
        return vals, jnp.take_along_axis(cand_idx, pos, axis=-1)
    # the k + 2 candidates sorted by their ranks (k rounds of reductions through selects cost 0.2-0.4x optax's
    # cross-entropy at (4096, 1000)), the label's class kept beside its margin
    return _sorted_descending(cand, cand_idx, keep=k)


def _suffix_logsumexp(seq, k):
    """``L_m = logsumexp(seq[..., m:])`` for ``m < k``: masked log-sum-exps for a small static k (``cumlogsumexp``
    over a short axis is a slow reduce-window on CPU), ``cumlogsumexp`` otherwise."""
    if k > 16:
        return jax.lax.cumlogsumexp(seq, axis=seq.ndim - 1, reverse=True)[..., :k]
    n = seq.shape[-1]
    keep = jnp.arange(n)[None, :] >= jnp.arange(k)[:, None]  # [k, n]: column i enters L_m for i >= m
    return jax.nn.logsumexp(jnp.where(keep, seq[..., None, :], -jnp.inf), axis=-1)


def _topk_closed_form(vals, tail_of, lam, k, K):
    r"""Exact top-k LDR-KL from the k largest margins ``vals`` and the tail: ``(value, parts)``.

    :math:`p_j = \min(1/k, t\,e^{a_j/\lambda})`: the m largest entries capped at 1/k (the smallest feasible m,
    m < k; tied entries are capped together), the rest :math:`(1 - m/k)\,e^{(a_j - s)/\lambda - L_m}` with
    :math:`L_m = \log(\sum_{i > m} e^{(v_i - s)/\lambda} + \sum_{j \notin \text{top-}k} e^{(a_j - s)/\lambda})` over
    the top-k values :math:`v_1 \ge \dots \ge v_k` and the shift :math:`s = v_k` (every tail term is at most 1;
    ``tail_of(s)`` removes the top k entries by a scatter, so ties at :math:`v_k` beyond the first k stay in
    the tail). The value needs no pass beyond the tail's:

    .. math::

        \psi = \frac1k\sum_{i \le m} v_i + (1 - \tfrac mk)\big(s + \lambda (L_m - \log(K(1 - \tfrac mk)))\big)
            - \lambda \tfrac mk \log\tfrac Kk .

    With fewer than k unmasked classes (:math:`v_k = -\infty`) the value is ``-inf``. ``parts = (feasible, shift,
    first, share, L_first, cap_at)`` rebuild ``p`` (:func:`_topk_weights`).
    """
    kth = jnp.min(vals, axis=-1)  # = vals[..., -1]; slicing top_k's last column is ~30x slower on CPU
    feasible = kth != -jnp.inf  # NaN (a traced invalid margin) stays NaN
    shift = jnp.where(feasible, kth, jnp.max(vals, axis=-1))[..., None]
    z_top = (vals - shift) * (1.0 / lam)[..., None]
    L = _suffix_logsumexp(jnp.concatenate([z_top, jnp.log(tail_of(shift))], axis=-1), k)
    m = jnp.arange(k)
    # the capped fractions m/k in the dtype of the values (an integer divided is float64 wherever x64 is on)
    head = (1.0 - m.astype(vals.dtype) / k) * jnp.exp(z_top - L)  # largest rest weight, the first m capped
    first = jnp.argmax(head <= (1.0 / k) * (1.0 + 1e-12), axis=-1)[..., None]
    pick = m == first  # one-hot selections (take_along_axis on top_k outputs is slow on CPU)
    L_first = jnp.sum(jnp.where(pick, L, 0.0), axis=-1, keepdims=True)
    capped = first.astype(vals.dtype) / k
    share = 1.0 - capped
    capped_sum = jnp.sum(jnp.where(m < first, vals, 0.0), axis=-1, keepdims=True)
    value = (capped_sum / k + share * (shift + lam[..., None] * (L_first - jnp.log(K * share)))
             - lam[..., None] * capped * math.log(K / k))[..., 0]
    cap_at = jnp.sum(jnp.where(m == jnp.maximum(first - 1, 0), vals, 0.0), axis=-1, keepdims=True)
    return jnp.where(feasible, value, -jnp.inf), (feasible, shift, first, share, L_first, cap_at)


def _topk_weights(a, lam, k, parts):
    r"""``p`` of the top-k solution at the margins ``a`` (entries where ``a`` is given; 0 on infeasible rows): the
    capped margins (tied ones together) at 1/k, the rest :math:`(1 - m/k)\,e^{(a_j - s)/\lambda - L_m}`. One pass
    with one compare and no select per top-k class or for infeasible rows (their share is zeroed instead), so it is
    also the gradient pass of the scalar-margin path."""
    feasible, shift, first, share, L_first, cap_at = parts
    capped = (feasible[..., None] & (first > 0)) & (a >= cap_at)
    share = jnp.where(feasible[..., None], share, jnp.zeros((), share.dtype))
    return jnp.where(capped, jnp.asarray(1.0 / k, a.dtype),
                     share * jnp.exp((a - shift) * (1.0 / lam)[..., None] - L_first)).astype(a.dtype)


def _topk_parts(a, lam, k):
    """Top-k LDR-KL of the margin vector ``a`` (:func:`_topk_closed_form`): ``(value, parts)``."""
    vals, idx = jax.lax.top_k(a, k)

    def tail_of(shift):
        e = jnp.exp((a - shift) * (1.0 / lam)[..., None])
        return jnp.sum(jnp.put_along_axis(e, idx, jnp.zeros((), a.dtype), axis=-1, inplace=False), axis=-1,
                       keepdims=True)

    return _topk_closed_form(vals, tail_of, lam, k, a.shape[-1])


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _topk_kl_value(a, lam, k):
    """Top-k LDR-KL value of the margins; its derivatives are ``p`` in ``a`` and ``-KL(p || u)`` in ``lam``
    (envelope theorem)."""
    return _topk_parts(a, lam, k)[0]


def _topk_kl_jvp(k, primals, tangents):
    a, lam = primals
    da, dlam = tangents
    value, parts = _topk_parts(a, lam, k)
    p = _topk_weights(a, lam, k, parts)
    tangent = jnp.zeros_like(value) if type(da) is SymbolicZero else _dot_support(p, da)
    if type(dlam) is not SymbolicZero:
        tangent = tangent - jnp.sum(_xlogkx(p, a.shape[-1]), axis=-1) * dlam
    return value, tangent


_topk_kl_value.defjvp(_topk_kl_jvp, symbolic_zeros=True)


def _topk_kl(a, lam, k):
    """``(value, p)`` of exact top-k LDR-KL; ``p`` carries no gradient."""
    value, parts = _topk_parts(a, lam, k)
    return _topk_kl_value(a, lam, k), jax.lax.stop_gradient(_topk_weights(a, lam, k, parts))


def _topk_of_logits(logits, labels, c, lam, k):
    r"""Top-k LDR-KL for a scalar margin ``c`` straight from the logits: ``(value, parts)``.

    The top k margins ``vals`` (classes ``idx``) come from :func:`_top_margins` (no margin vector). The tail sum
    :math:`\sum_{j \notin \text{top-}k} e^{(a_j - s)/\lambda}` is :math:`C = \sum_j e^{\min(c + f_j - f_y - s,
    0)/\lambda}` over the logits, minus the same terms of the top k classes and of the label (gathered, the same
    expression), plus the label's own :math:`e^{-s/\lambda}` (``a_y = 0``) when it is not among the top k: no
    margin vector and no scatter, so the exponential fuses into the reduction. Every subtracted term is at most 1
    (at most :math:`k + 1` of them), and the log-sum-exp the sum enters also holds the k-th term, :math:`e^0 = 1`:
    an absolute error of a few ulps of :math:`k + 1` in the sum is a relative one of that size in its logarithm.
    """
    f_y = _label_entry(logits, labels)[..., None]
    vals, idx = _top_margins(logits, labels, c, k)
    inv = (1.0 / lam)[..., None]

    def tail_of(shift):
        base = f_y - c + shift

        def clamped(f):
            return jnp.exp(jnp.minimum((f - base) * inv, 0.0))

        at_y = idx == labels[..., None]
        own = jnp.where(jnp.any(at_y, axis=-1, keepdims=True), 0.0, jnp.exp(-shift * inv))
        top = jnp.sum(jnp.where(at_y, 0.0, clamped(jnp.take_along_axis(logits, idx, axis=-1))), axis=-1,
                      keepdims=True)
        total = jnp.sum(clamped(logits), axis=-1, keepdims=True)
        return jnp.maximum(total - top - clamped(f_y) + own, 0.0)

    value, parts = _topk_closed_form(vals, tail_of, lam, k, logits.shape[-1])
    return nan_unless(~jnp.isnan(c), value), parts


@functools.partial(jax.custom_jvp, nondiff_argnums=(4,))
def _topk_kl_logits(logits, labels, c, lam, k):
    """Top-k LDR-KL value for a scalar margin (:func:`_topk_of_logits`); derivatives by the envelope theorem."""
    return _topk_of_logits(logits, labels, c, lam, k)[0]


def _topk_kl_logits_jvp(k, primals, tangents):
    # d psi = sum_{j != y} p_j df_j - q df_y + q dc - KL(p || u) dlam with q = 1 - p_y (p_y <= 1/k <= 1/2: no
    # cancellation). p_j comes from each class's margin (c + f_j) - f_y, computed as the value's top margins were
    # (a top class's softmax weight needs the exponent the value used: at logits of 1e4, (f_j - (f_y - c + s))/lam
    # was 2.4e-4/lam off), and the label takes -q by an index compare: the gradient is one pass over the logits
    # (the exponential recomputed in it), with no tail array and no scatter.
    logits, labels, c, lam = primals
    dlogits, _, dc, dlam = tangents
    value, parts = _topk_of_logits(logits, labels, c, lam, k)
    feasible = parts[0]
    p_y = _topk_weights(jnp.zeros(value.shape + (1,), logits.dtype), lam, k, parts)[..., 0]  # a_y = 0
    q = jnp.where(feasible, 1.0 - p_y, jnp.zeros((), logits.dtype))
    tangent = jnp.zeros_like(value)
    if type(dlogits) is not SymbolicZero or type(dlam) is not SymbolicZero:
        p = _topk_weights((c + logits) - _label_entry(logits, labels)[..., None], lam, k, parts)
    if type(dlogits) is not SymbolicZero:
        iota = jax.lax.broadcasted_iota(jnp.int32, logits.shape, logits.ndim - 1)
        grad = jnp.where(iota == labels[..., None].astype(jnp.int32), -q[..., None], p)
        tangent = tangent + jnp.sum(grad * dlogits, axis=-1)
    if type(dc) is not SymbolicZero:
        tangent = tangent + q * dc
    if type(dlam) is not SymbolicZero:
        p = _without_label(p, labels)
        kl = jnp.sum(_xlogkx(p, logits.shape[-1]), axis=-1) + _xlogkx(p_y, logits.shape[-1])
        tangent = tangent - jnp.where(feasible, kl, 0.0) * dlam
    return value, tangent


_topk_kl_logits.defjvp(_topk_kl_logits_jvp, symbolic_zeros=True)


def _project_simplex(v):
    r"""Euclidean projection of each row of ``v`` onto the simplex, exact and sort-free: :math:`\max(v - \theta, 0)`.

    Michelot's iteration :math:`\theta_{t+1} = (\sum_{v_j > \theta_t} v_j - 1)/|\{j: v_j > \theta_t\}|` from
    :math:`\theta_0 = \max((\sum_j v_j - 1)/K, \max_j v_j - 1)` (both lower bounds) increases to the exact
    threshold and stops when the active set stops shrinking (then :math:`\theta` is the sort-based value); at most
    K steps, a handful in practice, each one pass over the rows. A masked entry (``-inf``) is never active.

    References:
        C. Michelot, *A finite algorithm for finding the projection of a point onto the canonical simplex of R^n*,
        JOTA 50 (1986); L. Condat, *Fast projection onto the simplex and the l1 ball*, Math. Program. 158 (2016).
    """
    def active(theta):
        on = v > theta[..., None]
        count = jnp.sum(on, axis=-1)
        return (jnp.sum(jnp.where(on, v, 0.0), axis=-1) - 1.0) / count.astype(v.dtype), count

    def body(state):
        theta, count, _ = state
        new_theta, new_count = active(theta)
        return new_theta, new_count, count

    unmasked = v > -jnp.inf
    mean = (jnp.sum(jnp.where(unmasked, v, 0.0), axis=-1) - 1.0) / jnp.sum(unmasked, axis=-1).astype(v.dtype)
    theta, count = active(jnp.maximum(mean, jnp.max(v, axis=-1) - 1.0))  # both are lower bounds on theta
    state = (theta, count, jnp.zeros_like(count))
    theta = jax.lax.while_loop(lambda state: jnp.any(state[1] != state[2]), body, state)[0]
    return jnp.maximum(v - theta[..., None], 0.0)


def _l2(a, lam):
    K = a.shape[-1]
    u = 1.0 / K
    # p is held fixed under differentiation: at the maximiser the value's derivatives are p in a and
    # -||p - u||^2/2 in lam (envelope theorem), and the loop of the projection is not differentiated.
    p = jax.lax.stop_gradient(_project_simplex(u + a / lam[..., None]))
    return _dot_support(p, a) - 0.5 * lam * jnp.sum((p - u) ** 2, axis=-1), p


def _positive_count(d):
    """``#{j: d_j > 0}`` per row, as the float sum of ``sign(max(d, 0))`` (no boolean reduction: faster on CPU)."""
    return jnp.sum(jnp.sign(jnp.maximum(d, 0.0)), axis=-1)


def _michelot_rows(z, lam, tau, budget):
    r"""Michelot's (Newton's) iteration for :math:`\sum_j (z_j - \tau)_+ = \lambda` on every row of ``z`` from a lower
    bound ``tau``: ``(tau, n)`` with ``n = #{z > tau}``. A row stops when its active set stops shrinking (then
    ``tau`` is exact); the loop runs while a row moves, at most ``budget`` steps."""
    def stats(t):
        d = z - t[..., None]
        return jnp.sum(jnp.maximum(d, 0.0), axis=-1), _positive_count(d)

    def body(state):
        t, s, n, done, it = state
        new = jnp.where(done, t, t + (s - lam) / n)
        s_new, n_new = stats(new)
        return new, s_new, n_new, done | (n_new == n), it + 1

    s, n = stats(tau)
    state = (tau, s, n, jnp.zeros(tau.shape, bool), 0)
    t, _, n, _, _ = jax.lax.while_loop(lambda st: ~jnp.all(st[3]) & (st[4] < budget), body, state)
    return t, n


def _block_count(K):
    """The number ``g`` of entries per block of the compressed l2 solve (``g = 1``: no compression)."""
    return next((g for g in (8, 10, 5, 4, 16, 2) if K % g == 0 and K // g >= 16), 1)


def _top_two(x, axis):
    """The largest and second largest entries of ``x`` along ``axis`` (as a multiset: a tied maximum is also the
    second): one variadic reduction whose leaves are ``(x, -inf)`` pairs, merged as
    ``(max(h, h'), max(min(h, h'), l, l'))`` (no sort, no top_k; one pass over ``x``). A running pair over the
    slices of ``axis`` (elementwise maxima and minima) is 2.7x slower on XLA's CPU backend at ``[4096, 8, 125]``."""
    def merge(a, b):
        (h1, l1), (h2, l2) = a, b
        return jnp.maximum(h1, h2), jnp.maximum(jnp.minimum(h1, h2), jnp.maximum(l1, l2))

    ninf = jnp.array(-jnp.inf, x.dtype)
    return jax.lax.reduce((x, jnp.full_like(x, -jnp.inf)), (ninf, ninf), merge, (axis,))


def _l2_parts(logits, labels, c, lam):
    r"""LDR-l2 for a scalar margin ``c`` and ``0 < lam < inf`` (batch-shaped), from the logits, sort-free and exact.

    With :math:`x_j = f_j` (:math:`j \ne y`), :math:`x_y = f_y - c` (so :math:`a = x - x_y`), the maximiser is
    :math:`p = (x - s)_+/\lambda` with :math:`\sum_j (x_j - s)_+ = \lambda`, and with :math:`t = s - x_y`

    .. math::

        \psi = t + \frac{1}{2\lambda}\sum_j (x_j - s)_+^2 + \frac{\lambda}{2K}.

    The threshold is found on a compressed row: the maxima of ``g`` strided blocks of the off-label logits, and
    :math:`x_y`. Its sum :math:`\sum_b (x_b - s)_+` is at most the full one, so its root (Michelot's iteration,
    exact, over ``K/g + 1`` entries) is a lower bound on the true threshold, and equal to it when no block holds
    two entries above it. The pass over the logits that takes the block maxima also takes each block's second
    largest entry, which bounds all its other entries: no second entry above the threshold certifies the row
    (every other entry then adds an exact zero, in floating point too, as :math:`(x - \mathrm{top}) - \tau` is
    monotone in :math:`x`). Rows it does not certify (two support entries in one block) continue Michelot's
    iteration on their full rows, gathered in chunks of a sixteenth of the batch (at least 64 rows), from that
    lower bound; a batch with no such row runs no chunk. Returns ``(value, top, tau, Q, rest)`` with :math:`s =
    \mathrm{top} + \tau` (``top`` the largest :math:`x_j`, kept apart: :math:`x_j - s` is computed as :math:`(x_j -
    \mathrm{top}) - \tau`, exact near the top, where :math:`\mathrm{top} + \tau` would round at the scale of the
    logits), :math:`Q = \sum_j (x_j - s)_+^2` and ``rest`` :math:`= \sum_{j \ne y} (x_j - s)_+ = \lambda (1 - p_y)`.
    """
    batch, K = logits.shape[:-1], logits.shape[-1]
    f = logits.reshape(-1, K)
    y = labels.reshape(-1)
    lam = jnp.broadcast_to(lam, batch).reshape(-1)
    rows = f.shape[0]
    f_y = _label_entry(f, y)
    x_y = f_y - c
    g = _block_count(K)

    def full_rows(f, y, x_y):
        return jnp.put_along_axis(f, y[..., None], x_y[..., None], axis=-1, inplace=False)

    if g == 1:
        comp = full_rows(f, y, x_y)
    else:
        w = K // g
        hi, lo = _top_two(f.reshape(rows, g, w), axis=1)  # block b: the entries b, b + w, b + 2w, ...
        col = y % w
        idx = col[:, None] + w * jnp.arange(g)
        members = jnp.where(idx == y[:, None], -jnp.inf, jnp.take_along_axis(f, idx, axis=-1))  # the label left out
        own_hi, own_lo = _top_two(members, axis=1)

        # the compressed row: the blocks' maxima (the label's block without the label), x_y in column w, and -inf
        # (entries that add exact zeros) up to a multiple of 8 columns, where the solve's row reductions
        # vectorise without a remainder (126 -> 128 at K = 1000: the value 2.66x -> 2.47x optax, measured paired)
        j = jnp.arange(w + 1 + (-(w + 1) % 8))
        padded = jnp.pad(hi, ((0, 0), (0, j.size - w)), constant_values=-jnp.inf)
        comp = jnp.where(j == col[:, None], own_hi[:, None], jnp.where(j == w, x_y[:, None], padded))
        second = jnp.where(jnp.arange(w) == col[:, None], own_lo[:, None], lo)
    top = jnp.max(comp, axis=-1)  # the largest x_j
    z = comp - top[:, None]
    tau, n = _michelot_rows(z, lam, -lam, comp.shape[-1] + 2)  # max z - lam = -lam is a lower bound
    r = jnp.maximum(z - tau[:, None], 0.0)
    Q = jnp.sum(r * r, axis=-1)
    r_y = jnp.maximum((x_y - top) - tau, 0.0)
    rest = jnp.sum(r, axis=-1) - r_y
    if g > 1:
        fail = jnp.max((second - top[:, None]) - tau[:, None], axis=-1) > 0.0  # a second support entry in a block

        def repair(sel, state):  # a chunk of the failing rows, gathered, from the lower bound tau
            tau, Q, rest = state
            fs, ys, xs, tops, lams, ts = f[sel], y[sel], x_y[sel], top[sel], lam[sel], tau[sel]
            zs = full_rows(fs, ys, xs) - tops[:, None]
            t, _ = _michelot_rows(zs, lams, ts, K + 2)
            rs = jnp.maximum(zs - t[:, None], 0.0)
            q2, re = jnp.sum(rs * rs, axis=-1), jnp.sum(rs, axis=-1) - jnp.maximum((xs - tops) - t, 0.0)
            keep = ~fail[sel]  # a certified row in the last chunk stays as it is
            return (tau.at[sel].set(jnp.where(keep, ts, t)), Q.at[sel].set(jnp.where(keep, Q[sel], q2)),
                    rest.at[sel].set(jnp.where(keep, rest[sel], re)))

        # the failing rows (a few per cent), a sixteenth of the batch at a time: no chunk when every row is
        # certified, and the temporaries are a chunk's, never the whole batch's
        tau, Q, rest = _by_chunks(fail, max(64, rows // 16), repair, (tau, Q, rest))
    value = tau + (top - x_y) + Q / (2.0 * lam) + lam / (2.0 * K)
    shape = lambda v: v.reshape(batch)  # noqa: E731
    return shape(value), shape(top), shape(tau), shape(Q), shape(rest)


@jax.custom_jvp
def _l2_logits(logits, labels, c, lam):
    """LDR-l2 value for a scalar margin (:func:`_l2_parts`); derivatives by the envelope theorem."""
    return _l2_parts(logits, labels, c, lam)[0]


def _l2_logits_jvp(primals, tangents):
    # d psi = <p, da> - ||p - u||^2/2 dlam with da_j = dc + df_j - df_y (j != y), da_y = 0: sum_{j != y} p_j df_j
    # - q df_y + q dc, q = 1 - p_y = rest/lam (a sum over j != y: no cancellation), ||p - u||^2 = Q/lam^2 - 1/K.
    # Reverse mode: one pass writing p (the label's entry set to 0 by a scatter) plus a scatter at the label.
    logits, labels, c, lam = primals
    dlogits, _, dc, dlam = tangents
    value, top, tau, Q, rest = _l2_parts(logits, labels, c, lam)
    inv = 1.0 / lam
    q = rest * inv
    tangent = jnp.zeros_like(value)
    if type(dlogits) is not SymbolicZero:
        p = _zero_at_label(jnp.maximum((logits - top[..., None]) - tau[..., None], 0.0) * inv[..., None], labels)
        tangent = tangent + jnp.sum(p * dlogits, axis=-1) - q * _label_entry(dlogits, labels)
    if type(dc) is not SymbolicZero:
        tangent = tangent + q * dc
    if type(dlam) is not SymbolicZero:
        tangent = tangent - 0.5 * (Q * inv * inv - 1.0 / logits.shape[-1]) * dlam
    return value, tangent


_l2_logits.defjvp(_l2_logits_jvp, symbolic_zeros=True)


def _topk_none(a, k):
    top = jax.lax.top_k(a, k)[0]
    return jnp.mean(top, axis=-1)


def _mean(a):
    """The ``lam = inf`` solution: ``p = u``, the mean margin."""
    return jnp.mean(a, axis=-1), jnp.full(a.shape, 1.0 / a.shape[-1], a.dtype)


def _unregularised(a, k):
    """The ``R = 0`` solution: the mean of the k largest margins (k = 1: Crammer-Singer), ties sharing mass."""
    kth = jax.lax.top_k(a, k)[0][..., -1:]
    if k == 1:
        top = (a == kth).astype(a.dtype)
        return _max_margin(a), top / jnp.sum(top, axis=-1, keepdims=True)
    above = (a > kth).astype(a.dtype)  # ties at the k-th value share the remaining mass
    at = (a == kth).astype(a.dtype)
    rest = (1.0 - jnp.sum(above, axis=-1, keepdims=True) / k) / jnp.sum(at, axis=-1, keepdims=True)
    return _topk_none(a, k), above / k + at * rest


def _regularised(a, lam, reg, k, weights):
    """The ``0 < lam < inf`` solution (``lam`` an array of shape ``a.shape[:-1]``): ``(value, p)``, or the value."""
    if reg == "l2":
        out = _l2(a, lam)
        return out if weights else out[0]
    return _topk_kl(a, lam, k) if weights else _topk_kl_value(a, lam, k)


def _limit(a, k, weights, which):
    """The ``lam = 0`` (``"zero"``: R = 0) or ``lam = inf`` (``"inf"``: the mean) solution, or its value."""
    if which == "inf":
        return _mean(a) if weights else jnp.mean(a, axis=-1)
    if weights:
        return _unregularised(a, k)
    return _max_margin(a) if k == 1 else _topk_none(a, k)


def _scalar_margin(margin, dtype):
    """A scalar margin ``c`` in the logits' dtype (a Python float would make it float64 with x64 on), NaN where it
    is not finite (a traced invalid margin)."""
    return nan_unless(jnp.isfinite(margin), jnp.asarray(margin, dtype))


def _traced(logits, labels, margin, lam, reg, k, weights):
    """A traced ``lam``: 0 and inf by ``lax.switch`` (a scalar ``lam``: only the branch taken runs) or ``where``;
    NaN where invalid (negative, NaN, or 0 for l2). The top-k LDR-KL value with a scalar margin is computed from
    the logits (:func:`_topk_kl_logits`), without the margin vector."""
    lam = _traced_lam(lam, logits.dtype)
    if reg == "l2":
        lam = nan_unless(lam > 0, lam)
    batch = logits.shape[:-1]

    def a_of():
        return margin_vector(logits, labels, margin)

    def finite(lam):
        if reg == "none":
            return _limit(a_of(), k, weights, "zero")
        lam = jnp.broadcast_to(lam, batch)
        if reg == "kl" and not weights and jnp.ndim(margin) == 0:
            c = _scalar_margin(margin, logits.dtype)
            return _topk_kl_logits(logits, labels, c, lam, k)
        if reg == "l2" and not weights and jnp.ndim(margin) == 0:
            c = _scalar_margin(margin, logits.dtype)
            return nan_unless(~jnp.isnan(c), _l2_logits(logits, labels, c, lam))
        return _regularised(a_of(), lam, reg, k, weights)

    branches = (lambda lam: _limit(a_of(), k, weights, "zero"), lambda lam: _limit(a_of(), k, weights, "inf"), finite)
    if lam.ndim == 0:
        out = jax.lax.switch(jnp.where(lam == 0, 0, jnp.where(jnp.isinf(lam), 1, 2)), branches, lam)
    else:
        safe = _at_limits(lam)[1]
        parts = [branch(safe) for branch in branches]
        out = jax.tree.map(lambda zero, inf, fin: jnp.where(
            (lam == 0).reshape(lam.shape + (1,) * (fin.ndim - lam.ndim)), zero,
            jnp.where(jnp.isinf(lam).reshape(lam.shape + (1,) * (fin.ndim - lam.ndim)), inf, fin)), *parts)
    return jax.tree.map(lambda x: nan_unless(~jnp.isnan(lam).reshape(lam.shape + (1,) * (x.ndim - lam.ndim)), x), out)


@functools.partial(jax.jit, static_argnames=("reg", "k", "mode", "weights"))
def _solve(logits, labels, margin, lam, *, reg, k, mode, weights):
    """``(value, p*)`` of the inner maximisation (``weights``), or the value; ``mode`` is "cs"/"mean" for a concrete
    0/inf, else lam is traced (a jit argument: one compile serves a sweep)."""
    if reg == "kl" and k == 1 and mode == "lam" and not weights:
        return _ldr_kl_of_logits(logits, labels, margin, lam)  # the fused LDR-KL evaluation
    if mode == "cs" and k == 1 and not weights and jnp.ndim(margin) == 0:  # Crammer-Singer, from the logits
        return _hinge_core(logits, labels, margin, kind="cs")
    if mode == "cs" and k > 1 and not weights and jnp.ndim(margin) == 0:  # the top-k SVM, from the logits
        c = _scalar_margin(margin, logits.dtype)
        return nan_unless(~jnp.isnan(c), jnp.mean(_top_margins(logits, labels, c, k)[0], axis=-1))
    if mode in ("mean", "cs"):
        return _limit(margin_vector(logits, labels, margin), k, weights, "inf" if mode == "mean" else "zero")
    if reg == "kl" and k == 1:
        a = margin_vector(logits, labels, margin)
        return _ldr_kl_of_a(a, lam), _weights_of_a(a, lam)
    return _traced(logits, labels, margin, lam, reg, k, weights)


def _check(logits, labels, lam, margin, reg, k):
    lam = check_lam(lam)
    logits, labels = check_loss_inputs(logits, labels)
    K = logits.shape[-1]
    margin = check_margin(margin, K)
    check_choice("reg", reg, ("kl", "l2", "none"))
    k = check_int("k", k, low=1, high=K)
    if reg == "l2" and k != 1:
        raise ValueError("reg='l2' is implemented on the full simplex only (k = 1)")
    if reg == "l2" and not is_traced(lam) and lam == 0.0:
        raise ValueError("lam must be > 0 for reg='l2' (lam = 0 is the R = 0 case: use reg='none')")
    return logits, labels, lam, margin, k


def ldr_loss(logits, labels, *, lam, margin=0.0, reg="kl", k=1):
    r"""Per-example general LDR loss :math:`\max_{p\in\Omega_k}\langle p, a\rangle - \lambda R(p)`.

    Args:
        logits: floating ``[..., K]``; labels: integer ``[...]`` (input policy of :mod:`theory.losses`).
        lam: ``lambda >= 0`` (``inf`` gives the mean of ``a``; ``reg="l2"`` needs ``lam > 0``). May be traced,
            0 and inf included; a traced invalid ``lam`` (negative, NaN, or 0 for ``reg="l2"``) gives NaN.
        margin: scalar or ``[K, K]`` margin matrix (see :func:`theory.ldr.losses.ldr_kl_loss`).
        reg: ``"kl"`` (KL to uniform), ``"l2"`` (:math:`\frac12\lVert p-u\rVert^2`, k = 1 only) or ``"none"``.
        k: the constraint set :math:`\Omega_k = \{p\in\Delta_K: p \le 1/k\}`, ``1 <= k <= K``.

    Returns:
        Array ``[...]`` of per-example losses.

    Examples:
        >>> import jax.numpy as jnp
        >>> g, y = jnp.array([0.5, -1.0, 2.0, 0.0, 1.5]), jnp.array(1)
        >>> round(float(ldr_loss(g, y, lam=1.0, margin=0.2, reg="none", k=2)), 6)
        2.95
        >>> round(float(ldr_loss(g, y, lam=1.0, margin=0.2, reg="l2")), 6)
        2.8625

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), the general LDR loss; T. Yang, *Optimization for
        Machine Learning*, Sec. 2.1 and 2.5; docs/ldr.md, "Numerics" (inner solutions).
    """
    logits, labels, lam, margin, k = _check(logits, labels, lam, margin, reg, k)
    return _solve(logits, labels, margin, lam, reg=reg, k=k, mode=_mode(lam), weights=False)


def ldr_weights(logits, labels, *, lam, margin=0.0, reg="kl", k=1):
    """The maximising label distribution ``p*`` of :func:`ldr_loss` (same arguments), ``[..., K]``.

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), the maximiser of the general LDR inner problem.
    """
    logits, labels, lam, margin, k = _check(logits, labels, lam, margin, reg, k)
    return _solve(logits, labels, margin, lam, reg=reg, k=k, mode=_mode(lam), weights=True)[1]
