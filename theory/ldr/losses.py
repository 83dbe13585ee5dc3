r"""The LDR-KL loss: a worst case over label distributions with a KL regulariser, in closed form.

With the margin vector :math:`a_k = C_{k,y} + f_k - f_y` (so :math:`a_y = 0`),

.. math::

    \psi_\lambda(f, y) = \max_{p \in \Delta_K} \langle p, a\rangle - \lambda\,\mathrm{KL}(p \,\|\, u)
    = \lambda \log\Big(\frac1K \sum_k e^{a_k/\lambda}\Big),
    \qquad p^* = \operatorname{softmax}(a/\lambda).

``lam = 0`` is the Crammer-Singer loss :math:`\max_k a_k` and ``lam = inf`` the mean
:math:`\frac1K\sum_k a_k` (a symmetric, linear loss); both are explicit code paths, not large or small
numbers. ``lam = 1`` with ``C = 0`` is cross-entropy minus :math:`\log K`. The Weston-Watkins loss
:math:`\sum_k \max(0, a_k)` shares the margin vector. Every loss here is registered in
:mod:`theory.losses` with its properties, and follows its input policy (NaN logits raise; a ``-inf``
non-target logit is a masked class).

References:
    Zhu, Ying, Yang, *Label Distributionally Robust Losses for Multi-class Classification:
    Consistency, Robustness and Adaptivity*, ICML 2023 (arXiv 2112.14869), the LDR-KL loss and its
    closed form (as recalled; restated in T. Yang, *Optimization for Machine Learning*, Sec. 2.1);
    docs/ldr.md, "The objects" and "Numerics".
"""

from __future__ import annotations

import functools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from theory._compat import keyword_only
from theory._validation import (
    check_int,
    check_logits_labels,  # noqa: F401  (importable from here, as before)
    check_loss_inputs,
    check_real,
    is_traced,
    nan_unless,
)
from theory.logspace import log1p

# check_logits_labels, check_margin and check_lam stay importable from here (argument checks, not losses).
__all__ = [
    "margin_matrix",
    "margin_vector",
    "ldr_kl_loss",
    "ldr_kl_weights",
    "crammer_singer_loss",
    "weston_watkins_loss",
]


def check_lam(lam, name="lam"):
    """``lam`` as a float in ``[0, inf]`` (0 and inf allowed), or unchanged when traced."""
    if is_traced(lam):
        return lam
    return check_real(name, lam, low=0.0, allow_inf=True)


def check_margin(margin, K):
    """Validate ``margin``: a scalar ``c`` or a ``[K, K]`` matrix ``C`` with a zero diagonal, finite.

    Negative margins are allowed with a warning (the theory assumes ``C >= 0``). Traced margins are
    passed through unchecked.
    """
    if is_traced(margin):
        return margin
    arr = np.asarray(margin)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"margin must be a real scalar or a [K, K] matrix, got {arr.dtype}")
    if arr.ndim == 0:
        c = check_real("margin", float(arr))
        if c < 0:
            warnings.warn("negative margin: the LDR theory assumes margins >= 0", stacklevel=3)
        return c
    if arr.shape != (K, K):
        raise ValueError(f"margin must be a scalar or a [K, K] = [{K}, {K}] matrix, got shape {arr.shape}")
    arr = np.asarray(arr, np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("margin must be finite")
    if np.any(np.diag(arr) != 0):
        raise ValueError("margin matrix must have a zero diagonal (C[y, y] = 0)")
    if np.any(arr < 0):
        warnings.warn("negative margins: the LDR theory assumes margins >= 0", stacklevel=3)
    return arr


@keyword_only(renamed={"K": "num_classes"})
def margin_matrix(num_classes, kind="uniform", *, c=0.0, delta=None):
    r"""The margin matrix :math:`C` with :math:`C_{k,y}` the margin required of class y over class k.

    ``"uniform"``: :math:`C = c(\mathbb 1\mathbb 1^\top - I)`; ``"class"``: :math:`C_{k,y} = \Delta_y`
    for :math:`k \ne y` (LDAM-type; ``delta`` of length K); ``"zero"``: :math:`C = 0`.

    Args:
        num_classes: number of classes K (>= 2; ``K`` is its deprecated name).
        kind: ``"uniform"``, ``"class"`` or ``"zero"``.
        c: the uniform margin.
        delta: the per-class margins for ``kind="class"``.

    Returns:
        float64 array ``[K, K]`` with a zero diagonal.

    Examples:
        >>> margin_matrix(3, c=0.5)[0].tolist()
        [0.0, 0.5, 0.5]

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), the margin matrix of the LDR losses; T. Yang,
        *Optimization for Machine Learning*, Sec. 2.1 (:math:`C_{y,y} = 0`).
    """
    K = check_int("num_classes", num_classes, low=2)
    off = 1.0 - np.eye(K)
    if kind == "uniform":
        return check_real("c", c) * off
    if kind == "zero":
        return np.zeros((K, K))
    if kind == "class":
        d = np.asarray(delta, np.float64)
        if d.shape != (K,) or not np.all(np.isfinite(d)):
            raise ValueError(f"delta must be a finite vector of length K = {K}, got {d.shape}")
        return off * d[None, :]
    raise ValueError(f"kind must be one of ['class', 'uniform', 'zero'], got {kind!r}")


def _label_entry(values, labels):
    """``values[..., y]`` per row (a gather, no mask over the row)."""
    return jnp.take_along_axis(values, labels[..., None], axis=-1)[..., 0]


def _without_label(values, labels):
    """``values [..., K]`` with the label's entry set to 0 (a scatter of one entry per row: no mask over the row).
    For an array that is reduced: a mask in the reduction keeps XLA's CPU backend from vectorising it."""
    return jnp.put_along_axis(values, labels[..., None], jnp.zeros((), values.dtype), axis=-1, inplace=False)


def _zero_at_label(values, labels):
    """``values [..., K]`` with the label's entry set to 0 by a select against the column index, for an array that is
    written out (a gradient): the select fuses into the pass that writes it and what follows it (the cotangent's
    scale), where a scatter ends that pass and the scale takes one of its own."""
    iota = jax.lax.broadcasted_iota(labels.dtype, values.shape, values.ndim - 1)
    return jnp.where(iota == labels[..., None], jnp.zeros((), values.dtype), values)


def _rows_first(need):
    """``(order, todo)``: the row indices with the rows where ``need`` holds first, each part in row order (what a
    stable ``argsort(~need)`` gives), and their count. A running count and one scatter of the permutation, about 7x
    faster than the sort on XLA's CPU backend at 4096 rows (a third of a cross-entropy pass over ``(4096, 1000)``
    logits, paid on every call)."""
    n = need.shape[0]
    rank = jnp.cumsum(need.astype(jnp.int32))  # rank[i] = #{j <= i: need[j]}
    todo = rank[-1]
    rows = jnp.arange(n, dtype=jnp.int32)
    position = jnp.where(need, rank - 1, todo + rows - rank)
    return jnp.zeros(n, jnp.int32).at[position].set(rows, unique_indices=True), todo


def _by_chunks(need, chunk, fn, carry):
    """``carry`` after ``fn(rows, carry)`` on the rows where ``need`` holds, ``chunk`` rows at a time (a gather of
    those rows: the rare rows of a later stage never cost a pass over the batch; none needed, nothing runs).
    ``fn`` must leave a row it is given unchanged where ``need`` is false."""
    n = need.shape[0]
    if n == 0:
        return carry
    chunk = min(n, chunk)
    order, todo = _rows_first(need)

    def body(state):
        start, carry = state
        rows = jax.lax.dynamic_slice(order, (jnp.minimum(start, n - chunk),), (chunk,))
        return start + chunk, fn(rows, carry)

    return jax.lax.while_loop(lambda state: state[0] < todo, body, (jnp.zeros((), todo.dtype), carry))[1]


def margin_vector(logits, labels, margin=0.0):
    r"""The margin vector :math:`a_k = C_{k,y} + f_k - f_y`, with :math:`a_y = 0` exactly.

    Args:
        logits: ``[..., K]`` scores; labels: integer ``[...]``.
        margin: scalar ``c`` (uniform margins) or a ``[K, K]`` matrix ``C``; a traced non-finite margin
            gives NaN.

    Returns:
        Array ``[..., K]``.
    """
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels)
    K = logits.shape[-1]
    onehot = labels[..., None] == jnp.arange(K)
    f_y = jnp.take_along_axis(logits, labels[..., None], axis=-1)
    if is_traced(margin):
        margin = nan_unless(jnp.all(jnp.isfinite(margin)), margin)
    margin = jnp.asarray(margin, logits.dtype)
    if margin.ndim == 0:
        cvec = margin
    else:
        cvec = margin.T[labels]  # row y of C^T = column y of C: C[k, y]
    zero = jnp.zeros((), logits.dtype)
    return jnp.where(onehot, zero, cvec + logits - f_y)


def _psi_parts(a, lam):
    """``(psi, t, T, large)`` of the two-branch stable evaluation, one pass of exponentials.

    With ``m = max_k a_k`` and ``z = (a - m)/lam <= 0``: if the spread of ``a`` is below ``lam``
    (``large``), ``t = expm1(z)`` and ``psi = m + lam log1p(mean t)`` (no cancellation as lam -> inf:
    every ``t_k`` has the same sign); otherwise ``t = exp(z)`` and ``psi = m + lam log(mean t)``.
    Both branches are finite for every input, so ``where`` never mixes in an inf or NaN.
    """
    K = a.shape[-1]
    lam_ = lam[..., None]
    m = jnp.max(a, axis=-1)
    large = (m - jnp.min(a, axis=-1)) < lam
    z = (a - m[..., None]) / lam_
    t = jnp.where(large[..., None], jnp.expm1(z), jnp.exp(z))
    T = jnp.sum(t, axis=-1)
    mean = T / K
    value = m + lam * jnp.where(large, log1p(mean), jnp.log(jnp.where(large, 1.0, mean)))
    return value, t, T, large


def _psi_value(a, lam):
    r""":math:`\lambda\log\operatorname{mean}_k e^{a_k/\lambda}` for ``0 < lam < inf`` (see :func:`_psi_parts`)."""
    return _psi_parts(a, lam)[0]


def _weights_from_parts(t, T, large, K):
    """``p* = softmax(a/lam)`` from the same exponentials: ``(1 + t)/(K + T)`` or ``t/T``."""
    return jnp.where(large[..., None], (1.0 + t) / (K + T)[..., None], t / T[..., None])


@jax.custom_jvp
def _psi(a, lam):
    return _psi_value(a, lam)


def _psi_jvp(primals, tangents):
    # d psi = <p*, da> - KL(p* || u) dlam  (envelope theorem), p* = softmax(a / lam)
    a, lam = primals
    da, dlam = tangents
    K = a.shape[-1]
    value, t, T, large = _psi_parts(a, lam)
    p = _weights_from_parts(t, T, large, K)
    tangent = jnp.zeros_like(value) if type(da) is SymbolicZero else jnp.sum(p * da, axis=-1)
    if type(dlam) is not SymbolicZero:
        tangent = tangent - _kl_to_uniform(a, lam) * dlam
    return value, tangent


_psi.defjvp(_psi_jvp, symbolic_zeros=True)


def _kl_to_uniform(a, lam):
    """``KL(p* || u)`` of ``p* = softmax(a / lam)``; a masked class (``a_k = -inf``, ``p_k = 0``) adds 0."""
    K = a.shape[-1]
    logp = jax.nn.log_softmax(a / lam[..., None], axis=-1)
    p = jnp.exp(logp)
    return jnp.sum(jnp.where(p > 0, p * (logp + math.log(K)), 0.0), axis=-1)


def _fused_shift(logits, labels, c):
    """``(F, d, m)``: ``F = max_k f_k``, ``d = c + F - f_y`` and ``m = max(0, d)`` (see :func:`_fused_parts`)."""
    top = jnp.max(logits, axis=-1)
    d = c + top - _label_entry(logits, labels)
    return top, d, jnp.maximum(d, jnp.zeros((), logits.dtype))


def _fused_parts(logits, labels, c, lam, *, weights=True):
    r"""The LDR-KL sum for a scalar margin ``c`` from one max and one exponential pass over the logits.

    With ``F = max_k f_k`` (unmasked), ``d = c + F - f_y`` and ``m = max(0, d)`` (the largest margin
    :math:`\max_k a_k`, or above it when ``y`` is the unique argmax), ``e_k = e^{(f_k - F)/\lambda}`` for
    ``k != y`` and ``e_y = 0`` (a scatter), ``r = sum_k e_k``:

    .. math::

        T = \sum_k e^{(a_k - m)/\lambda} = e^{-m/\lambda} + e^{(d - m)/\lambda}\, r,
        \qquad \psi_\lambda = m + \lambda \log(T/K),

    and the weights are :math:`p_k = e^{(d-m)/\lambda} e_k / T` (``k != y``),
    :math:`1 - p_y = e^{(d-m)/\lambda} r/T` (summed over ``k != y``: no cancellation). Returns
    ``(value, scale, e, rest, T)`` with ``scale = e^{(d-m)/\lambda}``.

    Without ``weights`` (the value alone: ``e`` is ``None``) and with ``c <= lam`` on every row, ``r`` is the sum
    over every class minus the label's term :math:`e^{(f_y - F)/\lambda}`: no scatter, so the exponential fuses
    into the reduction (the value 1.03x optax's cross-entropy at ``(4096, 1000)``, against 1.36x with the scatter,
    measured paired). The subtraction costs no precision in ``T``: the sum's rounding error, relative to it, is
    multiplied by :math:`e^{(d-m)/\lambda}(r + e^{(f_y - F)/\lambda}) / T \le 1 + e^{c/\lambda} \le 1 + e` (as
    :math:`e^{(d-m)/\lambda} e^{(f_y-F)/\lambda} = e^{(c-m)/\lambda}` and :math:`T \ge e^{-m/\lambda}`). A
    larger margin, for which the label's term could dominate ``T``, takes the scatter (``lax.cond``).
    """
    top, d, m = _fused_shift(logits, labels, c)
    inv = (1.0 / lam)[..., None]

    def terms():
        return jnp.exp((logits - top[..., None]) * inv)

    if weights:
        e = _without_label(terms(), labels)
        rest = jnp.sum(e, axis=-1)
    else:
        e = None

        def every_class(_):
            # the label's term as the sum computed it (the same expression and factor, so the same rounding)
            return jnp.sum(terms(), axis=-1) - jnp.exp((_label_entry(logits, labels) - top) * inv[..., 0])

        def scattered(_):
            return jnp.sum(_without_label(terms(), labels), axis=-1)

        rest = jax.lax.cond(jnp.all(c <= lam), every_class, scattered, None)
    scale = jnp.exp((d - m) / lam)
    total = jnp.exp(-m / lam) + scale * rest
    return m + lam * jnp.log(total / logits.shape[-1]), scale, e, rest, total


def _fused_mean_form(logits, labels, c, lam):
    r""":math:`\psi_\lambda = m + \lambda\,\mathrm{log1p}(\frac1K \sum_k t_k)` with
    :math:`t_k = \mathrm{expm1}((a_k - m)/\lambda) \in (-1, 0]`, from one pass over the logits
    (:math:`a_k - m = (f_k - F) + (d - m)` for ``k != y``; the label's term is :math:`\mathrm{expm1}(-m/\lambda)`,
    as :math:`a_y = 0`). Every term has the same sign, so the sum has full relative precision, and where
    :math:`T/K \ge 1/2` the ``log1p`` is well conditioned: the precision of the two-branch ``log1p`` branch, for
    ``lam`` beyond the spread of the margins, without building the margin vector.

    With ``c >= 0`` the pass sums every class, the label's included as :math:`\mathrm{expm1}((c - m)/\lambda)`,
    and that term is then replaced by the label's own: it is no larger in size than the one added (:math:`c - m \ge
    -m`), so the result is at least the computed sum in size and keeps its relative precision, and the ``expm1``
    fuses into the reduction (1.1x optax's value for this pass, against 1.9x with the scatter). A negative margin,
    for which the replaced term could dominate, takes the scatter (``lax.cond`` on ``c``)."""
    top, d, m = _fused_shift(logits, labels, c)

    def terms():
        return jnp.expm1(((logits - top[..., None]) + (d - m)[..., None]) * (1.0 / lam)[..., None])

    def every_class(_):
        return jnp.sum(terms(), axis=-1) - jnp.expm1((c - m) / lam)

    def scattered(_):
        return jnp.sum(_without_label(terms(), labels), axis=-1)

    rest = jax.lax.cond(c >= 0, every_class, scattered, None)
    return m + lam * log1p((jnp.expm1(-m / lam) + rest) / logits.shape[-1])


def _needs_two_branch(total, num_classes, dtype):
    """Rows the fused sum cannot certify: ``T`` so small that underflowed terms could matter (``m`` above the
    largest margin by more than the exponent range, for ``c/lam`` beyond ~60 in float32)."""
    info = jnp.finfo(dtype)
    return ~(total >= num_classes * float(info.tiny) / float(info.eps))


def _scalar_margin_parts(logits, labels, c, lam, *, weights):
    """``(value,)``, or with ``weights`` ``(value, coef, e, q)``: psi, the weights ``p*_k = coef e_k`` for
    ``k != y`` (``e_y = 0``), and ``q = 1 - p*_y = sum_{k != y} p*_k``.

    The fused evaluation (:func:`_fused_parts`); its value is replaced where it is not certified, under
    ``lax.cond`` so that a batch without such rows never pays for them: rows with ``T/K >= 1/2`` (``lam`` beyond
    the spread: ``lam log(T/K)`` would carry an error ``lam`` times that of ``T``) take the mean form
    (:func:`_fused_mean_form`), and the rare rows :func:`_needs_two_branch` finds take the two-branch evaluation of
    the margin vector. The weights need no such care (a ratio of positive terms) and pass through.
    """
    K = logits.shape[-1]
    value, scale, e, rest, total = _fused_parts(logits, labels, c, lam, weights=weights)
    coef = scale / total
    fallback = _needs_two_branch(total, K, logits.dtype)
    near_mean = total >= 0.5 * K
    fused = (value, coef, e, coef * rest) if weights else (value,)

    def mean_form(_):
        return (jnp.where(near_mean, _fused_mean_form(logits, labels, c, lam), value),) + fused[1:]

    certified = jax.lax.cond(jnp.any(near_mean), mean_form, lambda _: fused, None)

    def two_branch(_):
        v, t, T, large = _psi_parts(margin_vector(logits, labels, c), lam)
        if not weights:
            return (jnp.where(fallback, v, certified[0]),)
        p = _without_label(_weights_from_parts(t, T, large, K), labels)
        return (jnp.where(fallback, v, certified[0]), jnp.where(fallback, jnp.ones((), coef.dtype), coef),
                jnp.where(fallback[..., None], p, e), jnp.where(fallback, jnp.sum(p, axis=-1), coef * rest))

    return jax.lax.cond(jnp.any(fallback), two_branch, lambda _: certified, None)


def _at_limits(lam):
    """``(special, safe)``: where a traced ``lam`` is 0 or inf, and ``lam`` with those entries set to 1, a finite
    stand-in for the evaluations whose results the limits' entries then discard."""
    special = (lam == 0) | jnp.isinf(lam)
    return special, jnp.where(special, jnp.ones((), lam.dtype), lam)


def _limit_parts(logits, labels, c, lam, *, weights):
    """:func:`_scalar_margin_parts` for a traced ``lam`` that may be 0 or inf on some rows: those rows take the limits
    (:func:`_max_margin`, the mean) and their weights (uniform on the argmax set, uniform), under ``lax.cond`` so
    that a batch without such rows never pays for them. ``lam`` enters the fused evaluation as 1 on those rows."""
    special, safe = _at_limits(lam)
    finite = _scalar_margin_parts(logits, labels, c, safe, weights=weights)

    def limits(_):
        a = margin_vector(logits, labels, c)
        value = jnp.where(lam == 0, _max_margin(a), jnp.where(jnp.isinf(lam), jnp.mean(a, axis=-1), finite[0]))
        if not weights:
            return (value,)
        _, coef, e, q = finite
        p = _without_label(_limit_weights(a, lam), labels)
        return (value, jnp.where(special, jnp.ones((), coef.dtype), coef), jnp.where(special[..., None], p, e),
                jnp.where(special, jnp.sum(p, axis=-1), q))

    return jax.lax.cond(jnp.any(special), limits, lambda _: finite, None)


@functools.partial(jax.custom_jvp, nondiff_argnums=(4,))
def _ldr_kl_scalar(logits, labels, c, lam, limits=False):
    r""":math:`\psi_\lambda` for a scalar margin ``c`` and ``0 < lam < inf`` (an array of the batch shape), from the
    logits; with ``limits``, ``lam`` may also be 0 or inf on some rows (a traced ``lam``, :func:`_limit_parts`).

    The custom JVP keeps autodiff from linearising the ``lax.cond`` of either (a linearised ``cond`` carries the
    union of both branches' residuals, ``[batch, K]`` zeros for the branch not taken: 5.8x optax's gradient at
    ``(4096, 1000)`` with a traced ``lam``, against 1.1x here)."""
    return (_limit_parts if limits else _scalar_margin_parts)(logits, labels, c, lam, weights=False)[0]


def _ldr_kl_scalar_jvp(limits, primals, tangents):
    # d psi = sum_k p*_k da_k - KL(p* || u) dlam, with da_k = dc + df_k - df_y (k != y), da_y = 0:
    # sum_{k != y} p*_k df_k - q df_y + q dc. In reverse mode: one scaled copy of e plus a scatter at the label.
    logits, labels, c, lam = primals
    dlogits, _, dc, dlam = tangents
    value, coef, e, q = (_limit_parts if limits else _scalar_margin_parts)(logits, labels, c, lam, weights=True)
    tangent = jnp.zeros_like(value)
    if type(dlogits) is not SymbolicZero:
        tangent = tangent + coef * jnp.sum(e * dlogits, axis=-1) - q * _label_entry(dlogits, labels)
    if type(dc) is not SymbolicZero:
        tangent = tangent + q * dc
    if type(dlam) is not SymbolicZero:
        a = margin_vector(logits, labels, c)
        if limits:  # the limits do not depend on lam: their rows' lam-derivative is 0
            special, safe = _at_limits(lam)
            kl = jnp.where(special, 0.0, _kl_to_uniform(a, safe))
        else:
            kl = _kl_to_uniform(a, lam)
        tangent = tangent - kl * dlam
    return value, tangent


_ldr_kl_scalar.defjvp(_ldr_kl_scalar_jvp, symbolic_zeros=True)


def _ldr_kl_of_logits(logits, labels, margin, lam):
    """:math:`\\psi_\\lambda` from the logits: the fused path for a scalar margin and ``0 < lam < inf`` (concrete, or
    traced with 0 and inf by ``where``), else :func:`_ldr_kl_of_a` of the margin vector."""
    margin = jnp.asarray(margin, logits.dtype) if not isinstance(margin, float) else margin
    if jnp.ndim(margin) != 0:
        return _ldr_kl_of_a(margin_vector(logits, labels, margin), lam)
    c = nan_unless(jnp.isfinite(margin), margin) if is_traced(margin) else jnp.asarray(margin, logits.dtype)
    batch = logits.shape[:-1]
    if not is_traced(lam):
        lam = float(lam)
        if lam == 0.0 or math.isinf(lam):
            return _ldr_kl_of_a(margin_vector(logits, labels, margin), lam)
        return _ldr_kl_scalar(logits, labels, c, jnp.full(batch, lam, logits.dtype))
    return _ldr_kl_scalar(logits, labels, c, jnp.broadcast_to(_traced_lam(lam, logits.dtype), batch), True)


def _max_margin(a):
    """The Crammer-Singer loss :math:`\\max_k a_k` of a margin vector (``a_y = 0``), where one is at hand (a
    class-dependent margin, a traced ``lam`` at 0, the general LDR loss at ``k = 1``); a scalar margin takes
    :func:`_crammer_singer_scalar` straight from the logits."""
    return jnp.max(a, axis=-1)


def _traced_lam(lam, dtype):
    """A traced ``lam`` as an array, NaN where invalid (negative or NaN): never a finite wrong loss."""
    lam = jnp.asarray(lam, dtype)
    return nan_unless(lam >= 0, lam)


def _ldr_kl_of_a(a, lam):
    """:math:`\\psi_\\lambda` from the margin vector; ``lam`` may be traced (0 and inf handled by where)."""
    if not is_traced(lam):
        lam = float(lam)
        if lam == 0.0:
            return _max_margin(a)
        if math.isinf(lam):
            return jnp.mean(a, axis=-1)
        return _psi(a, jnp.full(a.shape[:-1], lam, a.dtype))
    lam = _traced_lam(lam, a.dtype)
    finite = _psi(a, jnp.broadcast_to(_at_limits(lam)[1], a.shape[:-1]))
    return jnp.where(lam == 0, _max_margin(a), jnp.where(jnp.isinf(lam), jnp.mean(a, axis=-1), finite))


def ldr_kl_loss(logits, labels, *, lam, margin=0.0):
    r"""Per-example LDR-KL loss :math:`\psi_\lambda(f, y)`, optax style.

    .. math::

        \psi_\lambda(f, y) = \lambda\log\Big(\frac1K\sum_k \exp\big((C_{k,y} + f_k - f_y)/\lambda\big)\Big),
        \quad \psi_0 = \max_k a_k \text{ (Crammer-Singer)},\quad \psi_\infty = \tfrac1K\textstyle\sum_k a_k.

    Shift invariant and finite for logits of any size (float32 logits of 1e4 included). For a scalar
    margin it is one max and one exponential pass over the logits (the label's term subtracted from the sum over
    every class when ``c <= lam``, removed by a scatter otherwise and for the gradient; never a mask). Rows whose
    sum is near its mean (``lam`` beyond the spread of the margins) take a
    ``log1p/expm1`` form around the mean from a second pass, and rows with ``c/lam`` beyond the exponent range
    the two-branch evaluation of the margin vector (a max-shifted log-sum-exp for small ``lam``, the
    ``log1p/expm1`` form for large ``lam``), each under ``lax.cond``: a batch without such rows never pays for
    them. The gradient is :math:`p^* - e_y` (custom JVP, reusing the exponentials of the value) and
    :math:`\partial\psi/\partial\lambda = -\mathrm{KL}(p^*\|u)`.

    Input policy (that of :mod:`theory.losses`): NaN logits raise. A ``-inf`` logit on a class
    ``k != y`` is a masked class: :math:`a_k = -\infty` adds :math:`e^{-\infty} = 0` to the sum (the
    :math:`1/K` stays; at ``lam = inf`` the mean is ``-inf``) and its gradient entry is 0 for
    ``lam < inf``. Any other infinite logit (``+inf``, or a ``-inf`` target) raises.

    Args:
        logits: floating ``[..., K]`` scores.
        labels: integer ``[...]`` in ``{0, ..., K-1}``.
        lam: ``lambda >= 0``; ``0`` and ``inf`` give the two limits. May be traced (one compile
            serves a sweep, 0 and inf included); a traced negative or NaN ``lam`` gives NaN.
        margin: scalar ``c`` (margin ``c`` on every ``k != y``) or a ``[K, K]`` matrix with
            ``C[k, y]`` the margin of ``y`` over ``k`` (zero diagonal).

    Returns:
        Array ``[...]`` of per-example losses (the caller reduces).

    Examples:
        >>> import jax.numpy as jnp
        >>> f = jnp.array([2.0, 1.0, 0.1])
        >>> round(float(ldr_kl_loss(f, jnp.array(1), lam=0.0, margin=1.0)), 6)
        2.0
        >>> round(float(ldr_kl_loss(f, jnp.array(1), lam=float("inf"), margin=1.0)), 6)
        0.7
        >>> round(float(ldr_kl_loss(jnp.array([2.0, -jnp.inf, 0.1]), jnp.array(0), lam=1.0)), 6)  # masked class
        -0.959226

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), the LDR-KL loss and its closed form (as recalled);
        docs/ldr.md, "Numerics" (the two-branch evaluation).
    """
    lam = check_lam(lam)
    logits, labels = check_loss_inputs(logits, labels)
    margin = check_margin(margin, logits.shape[-1])
    return _loss_core(logits, labels, margin, lam, mode=_mode(lam))


def _mode(lam):
    """``"cs"``/``"mean"`` for a concrete 0/inf (their own cheap code paths), else ``"lam"`` (lam traced)."""
    if is_traced(lam):
        return "lam"
    return "cs" if lam == 0.0 else "mean" if math.isinf(lam) else "lam"


@functools.partial(jax.jit, static_argnames=("mode",))
def _loss_core(logits, labels, margin, lam, *, mode):
    """Compiled once per shape and mode; a finite lam is traced (one compile serves a sweep)."""
    if mode == "lam":
        return _ldr_kl_of_logits(logits, labels, margin, lam)
    if mode == "cs":
        return _hinge_core(logits, labels, margin, kind="cs")
    return jnp.mean(margin_vector(logits, labels, margin), axis=-1)


@jax.jit
def _weights_core(logits, labels, margin, lam):
    return _weights_of_a(margin_vector(logits, labels, margin), lam)


def _limit_weights(a, lam):
    """``p*`` of the margins ``a`` at the limits: uniform on the argmax set where ``lam = 0``, uniform on every class
    elsewhere (``lam = inf``); ``lam`` a scalar or of the batch shape."""
    top = (a == jnp.max(a, axis=-1, keepdims=True)).astype(a.dtype)
    return jnp.where((jnp.asarray(lam) == 0)[..., None], top / jnp.sum(top, axis=-1, keepdims=True),
                     jnp.asarray(1.0 / a.shape[-1], a.dtype))


def _weights_of_a(a, lam):
    if not is_traced(lam):
        lam = float(lam)
        if lam == 0.0 or math.isinf(lam):
            return _limit_weights(a, lam)
        return jax.nn.softmax(a / lam, axis=-1)
    lam = _traced_lam(lam, a.dtype)
    special, safe = _at_limits(lam)
    return jnp.where(special, _limit_weights(a, lam), jax.nn.softmax(a / safe, axis=-1))


def ldr_kl_weights(logits, labels, *, lam, margin=0.0):
    r"""The worst-case label distribution :math:`p^* = \operatorname{softmax}(a/\lambda)` of LDR-KL.

    ``lam = 0`` gives the limit: uniform over the maximisers of ``a``; ``lam = inf`` the uniform
    distribution. The gradient of :func:`ldr_kl_loss` in the logits is ``p* - e_y``. Same arguments and
    input policy as :func:`ldr_kl_loss` (a masked class gets weight 0 for ``lam < inf``).

    Args:
        logits: floating ``[..., K]`` scores.
        labels: integer ``[...]`` labels.
        lam: ``lambda >= 0`` (0 and inf give the limits).
        margin: scalar or ``[K, K]`` margin matrix, as in :func:`ldr_kl_loss`.

    Returns:
        Array ``[..., K]`` of probability vectors.

    Examples:
        >>> import jax.numpy as jnp
        >>> p = ldr_kl_weights(jnp.array([2.0, 1.0, 0.1]), jnp.array(0), lam=0.5, margin=1.0)
        >>> [round(float(x), 6) for x in p]
        [0.46183, 0.46183, 0.07634]

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), the maximiser of the LDR-KL inner problem
        (the Gibbs distribution of the KL-regularised maximisation).
    """
    lam = check_lam(lam)
    logits, labels = check_loss_inputs(logits, labels)
    margin = check_margin(margin, logits.shape[-1])
    return _weights_core(logits, labels, margin, lam)


def _others(logits, labels):
    """The logits with the label's entry at ``-inf`` (an iota compare that fuses into the consumer: no one-hot
    array, no scatter), and that iota."""
    iota = jax.lax.broadcasted_iota(labels.dtype, logits.shape, logits.ndim - 1)
    return jnp.where(labels[..., None] == iota, -jnp.inf, logits), iota


def _block_size(num_classes):
    """A block size g dividing ``num_classes`` into at least 8 blocks (None if there is none): the row is searched
    on its block maxima first (:func:`_max_others`)."""
    return next((g for g in (40, 32, 25, 20, 16, 10, 8) if num_classes % g == 0 and 8 * g <= num_classes), None)


def _last_max(values, m):
    """The last index of each row of ``values [..., n]`` (a short axis) where it equals ``m [...]``; 0 if none."""
    iota = jax.lax.broadcasted_iota(jnp.int32, values.shape, values.ndim - 1)
    return jnp.max(jnp.where(values == m[..., None], iota, 0), axis=-1)


def _max_others(logits, labels):
    r"""``(m, k)``: :math:`m = \max_{k \ne y} f_k` and its last maximiser :math:`k^*`.

    Where the classes split into blocks (:func:`_block_size`), the search runs on the block maxima: one plain max
    over the row (the label's block is then recomputed without the label), the last block attaining ``m``, and the
    last maximiser inside that block. XLA's CPU backend reduces a plain max over the row about 4x faster than one
    with the label masked in, and about 8x faster than an index reduction over the whole row. Otherwise the
    label is masked by an iota compare and the index found over the row.
    """
    K = logits.shape[-1]
    g = _block_size(K)
    if g is None:
        others, _ = _others(logits, labels)
        m = jnp.max(others, axis=-1)
        return m, _last_max(others, m)
    blocks = logits.reshape(logits.shape[:-1] + (K // g, g))
    labels = labels.astype(jnp.int32)
    b_y, i_y = labels // g, labels % g

    def block(b, skip_label):  # block b of each row, [..., g], with the label's entry at -inf where asked
        rows = jnp.take_along_axis(blocks, b[..., None, None], axis=-2)[..., 0, :]
        at_y = skip_label[..., None] & (jax.lax.broadcasted_iota(jnp.int32, rows.shape, rows.ndim - 1)
                                        == i_y[..., None])
        return jnp.where(at_y, -jnp.inf, rows)

    tops = jnp.max(blocks, axis=-1)  # [..., K / g]
    own = jnp.max(block(b_y, jnp.ones_like(labels, dtype=bool)), axis=-1)
    tops = jnp.put_along_axis(tops, b_y[..., None], own[..., None], axis=-1, inplace=False)
    m = jnp.max(tops, axis=-1)
    b = _last_max(tops, m)
    return m, b * g + _last_max(block(b, b == b_y), m)


@jax.custom_jvp
def _crammer_singer_scalar(logits, labels, c):
    r""":math:`\max(0, c + \max_{k\ne y} f_k - f_y)`: equal to :math:`\max_k a_k` of the margin vector
    (``a_y = 0``) without building it."""
    m, _ = _max_others(logits, labels)
    return jnp.maximum(c + (m - _label_entry(logits, labels)), 0.0)


@_crammer_singer_scalar.defjvp
def _crammer_singer_scalar_jvp(primals, tangents):
    r"""The (sub)gradient :math:`e_{k^*} - e_y` (and 1 in ``c``) where the loss is positive, else 0, with
    :math:`k^*` the last maximiser over :math:`k \ne y` (:func:`_max_others`): two gathers of the tangent, so the
    reverse pass scatters two entries per row instead of masking the whole row."""
    logits, labels, c = primals
    t_logits, _, t_c = tangents
    m, k = _max_others(logits, labels)
    value = c + (m - _label_entry(logits, labels))
    dt = _label_entry(t_logits, k) - _label_entry(t_logits, labels) + t_c
    return jnp.maximum(value, 0.0), jnp.where(value > 0, dt, jnp.zeros_like(dt))


def _weston_watkins_of_margins(logits, labels, c):
    r""":math:`\sum_k \max(0, a_k)` of the margin vector: its autodiff reverse pass is one masked write."""
    return jnp.sum(jnp.maximum(margin_vector(logits, labels, c), 0.0), axis=-1)


@jax.custom_jvp
def _weston_watkins_scalar(logits, labels, c):
    r""":math:`\sum_k \max(0, c + (f_k - f_y)) - \max(0, c)`: the label's own term is exactly ``max(0, c)``
    (``f_y - f_y = 0``), so one fused pass over the row gives :math:`\sum_{k\ne y}\max(0, a_k)`. Differentiated
    as :func:`_weston_watkins_of_margins` (the same function, whose gradient XLA fuses better)."""
    f_y = _label_entry(logits, labels)[..., None]
    return jnp.sum(jnp.maximum(c + (logits - f_y), 0.0), axis=-1) - jnp.maximum(c, 0.0)


@_weston_watkins_scalar.defjvp
def _weston_watkins_scalar_jvp(primals, tangents):
    logits, labels, c = primals
    t_logits, _, t_c = tangents
    return jax.jvp(lambda f, m: _weston_watkins_of_margins(f, labels, m), (logits, c), (t_logits, t_c))


@functools.partial(jax.jit, static_argnames=("kind",))
def _hinge_core(logits, labels, margin, *, kind):
    if jnp.ndim(margin) == 0 and logits.shape[-1] > 1:  # uniform margin: no margin vector, one pass
        c = jnp.asarray(margin, logits.dtype)
        if is_traced(c):
            c = nan_unless(jnp.isfinite(c), c)
        labels = labels.astype(jnp.int32)
        if kind == "cs":
            return _crammer_singer_scalar(logits, labels, c)
        return _weston_watkins_scalar(logits, labels, c)
    a = margin_vector(logits, labels, margin)
    return _max_margin(a) if kind == "cs" else jnp.sum(jnp.maximum(a, 0.0), axis=-1)


def _hinge(logits, labels, margin, kind):
    logits, labels = check_loss_inputs(logits, labels)
    return _hinge_core(logits, labels, check_margin(margin, logits.shape[-1]), kind=kind)


def crammer_singer_loss(logits, labels, *, margin=1.0):
    r"""The Crammer-Singer loss :math:`\max(0, \max_{k\ne y}(C_{k,y} + f_k - f_y)) = \max_k a_k` (``a_y = 0``).

    It is LDR-KL at ``lam = 0``: :func:`ldr_kl_loss` at ``lam = 0``, :func:`theory.ldr.general.ldr_loss`
    at ``k = 1`` and the baseline ``"cs"`` all compute it. Same input policy as :func:`ldr_kl_loss` (a masked
    class never attains the max).

    Args:
        logits: floating ``[..., K]`` scores.
        labels: integer ``[...]`` in ``{0, ..., K-1}``.
        margin: scalar ``c`` or ``[K, K]`` margin matrix (see :func:`ldr_kl_loss`).

    Returns:
        Array ``[...]`` of per-example losses.

    Examples:
        >>> import jax.numpy as jnp
        >>> float(crammer_singer_loss(jnp.array([2.0, 1.0, 0.1]), jnp.array(1), margin=1.0))
        2.0

    References:
        Crammer, Singer, *On the Algorithmic Implementation of Multiclass Kernel-based Vector Machines*,
        JMLR 2001 (the multiclass hinge); Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869) (the lam = 0 case).
    """
    return _hinge(logits, labels, margin, "cs")


def weston_watkins_loss(logits, labels, *, margin=1.0):
    r"""The Weston-Watkins loss :math:`\sum_{k\ne y}\max(0, C_{k,y} + f_k - f_y) = \sum_k \max(0, a_k)`.

    Convex and shift invariant, but not classification-calibrated for ``K >= 3`` (Tewari, Bartlett 2007).
    The LDR authors' baseline ``"ww"`` is this loss divided by ``K``. Arguments, returns and input policy
    as for :func:`crammer_singer_loss`.

    Examples:
        >>> import jax.numpy as jnp
        >>> round(float(weston_watkins_loss(jnp.array([2.0, 1.0, 0.1]), jnp.array(1), margin=1.0)), 6)
        2.1

    References:
        Weston, Watkins, *Support Vector Machines for Multi-Class Pattern Recognition*, ESANN 1999;
        Tewari, Bartlett, *On the Consistency of Multiclass Classification Methods*, JMLR 2007.
    """
    return _hinge(logits, labels, margin, "ww")
