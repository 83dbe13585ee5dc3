r"""Baseline multi-class losses of the LDR experiments (the authors' comparison suite, a subset).

Every baseline is a registered loss of :mod:`theory.losses`; this module keeps the experiments'
calling convention ``fn(logits, labels, hyper)`` (one positional scalar hyperparameter, which may be
traced) and delegates, so no loss is implemented twice:

| name | loss | hyperparameter | registry entry |
| --- | --- | --- | --- |
| ``ce`` | :math:`\log\sum_k e^{f_k} - f_y` | (none) | ``cross_entropy`` |
| ``cs`` | :math:`\max(0, \max_{k\ne y} c + f_k - f_y)` (Crammer-Singer) | margin ``c`` | ``crammer_singer`` |
| ``ww`` | :math:`\frac1K\sum_{k\ne y} \max(0, c + f_k - f_y)` | margin ``c`` | ``weston_watkins``, divided by K |
| ``mae`` | :math:`1 - s_y` | (none) | ``mae`` |
| ``mse`` | :math:`\lVert e_y - s\rVert^2` | (none) | ``mse`` |
| ``gce`` | :math:`(1 - s_y^q)/q` | ``q`` | ``gce`` |
| ``sce`` | :math:`(1-\beta)\,\mathrm{CE} + 4\beta(1 - s_y)` | ``beta`` | ``sce`` |

with :math:`s = \operatorname{softmax}(f)`. CE, GCE and MAE are the comp-sum losses at ``tau = 1``,
``1 + q`` and ``2``. The authors' code averages the Weston-Watkins hinge over all K classes (the ``k = y``
term is 0), and its ``MAELoss`` is identically zero as written, so ``mae`` is the standard :math:`1 - s_y`
(docs/ldr.md, "Findings").

References:
    Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), baselines of the experiments (code ``loss.py``);
    Zhang, Sabuncu, NeurIPS 2018 (GCE); Wang et al., ICCV 2019 (SCE); Ghosh, Kumar, Sastry, AAAI 2017 (MAE).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from theory import losses as _losses
from theory._validation import check_loss_inputs, check_real, is_traced, nan_unless
from theory.compsum.losses import comp_sum_loss

__all__ = ["BASELINES", "cross_entropy", "ww_loss", "mae_loss", "mse_loss", "gce_loss", "sce_loss", "cs_loss",
           "generalized_cross_entropy_loss", "symmetric_cross_entropy_loss", "softmax_squared_error_loss"]


def _unit_interval(name, value, *, low_open=False):
    """A hyperparameter in ``[0, 1]`` (``(0, 1]`` with ``low_open``): checked when concrete, NaN outside when traced."""
    if is_traced(value):
        return nan_unless(((value > 0) if low_open else (value >= 0)) & (value <= 1), value)
    return check_real(name, value, low=0.0, high=1.0, low_open=low_open)




def cross_entropy(logits, labels, hyper=None):
    """Softmax cross-entropy ``logsumexp(f) - f_y`` per example (registry entry ``cross_entropy``)."""
    return _losses.get("cross_entropy").fn(logits, labels)


def cs_loss(logits, labels, hyper=1.0):
    """Crammer-Singer hinge ``max(0, max_{k != y} c + f_k - f_y)`` with margin ``c = hyper`` (``crammer_singer``)."""
    return _losses.get("crammer_singer").fn(logits, labels, margin=hyper)


def ww_loss(logits, labels, hyper=1.0):
    """Weston-Watkins hinge averaged over all K classes (k = y contributes 0), margin ``c = hyper``
    (``weston_watkins`` divided by K, as in the authors' code)."""
    return _losses.get("weston_watkins").fn(logits, labels, margin=hyper) / logits.shape[-1]


def mae_loss(logits, labels, hyper=None):
    """``1 - s_y`` (half of ``||e_y - s||_1``; registry entry ``mae``)."""
    return _losses.get("mae").fn(logits, labels)


def mse_loss(logits, labels, hyper=None):
    """``||e_y - s||^2`` (registry entry ``mse``)."""
    return _losses.get("mse").fn(logits, labels)


def gce_loss(logits, labels, hyper=0.7):
    """Generalised cross-entropy ``(1 - s_y^q)/q`` with ``q = hyper`` in (0, 1] (registry entry ``gce``)."""
    return _losses.get("gce").fn(logits, labels, q=hyper)


def sce_loss(logits, labels, hyper=0.5):
    """Symmetric cross-entropy as the authors write it: ``(1 - beta) CE + 4 beta (1 - s_y)``, ``beta = hyper``
    (registry entry ``sce``)."""
    return _losses.get("sce").fn(logits, labels, beta=hyper)


def generalized_cross_entropy_loss(logits, labels, *, q):
    r"""Generalized cross-entropy :math:`L_q = (1 - S_y^q)/q`, ``0 < q <= 1``: the comp-sum loss at ``tau = 1 + q``.

    ``q -> 0`` is cross-entropy and ``q = 1`` is :math:`1 - S_y` (MAE). Computed by
    :func:`theory.compsum.losses.comp_sum_loss`, with its numerics (finite for logits of any size).

    Args:
        logits: floating ``[..., K]``.
        labels: integer ``[...]``.
        q: the exponent, ``0 < q <= 1`` (may be traced; an invalid traced ``q`` gives NaN).

    Returns:
        Array ``[...]`` of per-example losses.

    Examples:
        >>> import jax.numpy as jnp
        >>> round(float(generalized_cross_entropy_loss(jnp.array([1.0, -0.5, 2.0]), jnp.array(0), q=1.0)), 6)
        0.746284

    References:
        Zhang, Sabuncu, *Generalized Cross Entropy Loss for Training Deep Neural Networks with Noisy Labels*,
        NeurIPS 2018 (arXiv 1805.07836), Sec. 3.2 (the L_q loss); Mao, Mohri, Zhong, ICML 2023
        (arXiv 2304.07288), the comp-sum family.
    """
    q = _unit_interval("q", q, low_open=True)
    return comp_sum_loss(logits, labels, tau=1.0 + q)


def symmetric_cross_entropy_loss(logits, labels, *, beta=0.5):
    r"""Symmetric cross-entropy :math:`(1-\beta)\,\mathrm{CE} + 4\beta\,(1 - S_y)`, ``0 <= beta <= 1``.

    The reverse cross-entropy :math:`-\sum_k S_k \log e_{y,k}` with :math:`\log 0 := -4` is
    :math:`4(1 - S_y)`; the convex weights are those of the LDR authors' code. Both terms are comp-sum
    losses (``tau = 1`` and ``tau = 2``), evaluated from one pass:
    :math:`1 - S_y = -\operatorname{expm1}(-\mathrm{CE})`.

    Args:
        logits: floating ``[..., K]``.
        labels: integer ``[...]``.
        beta: weight of the reverse term, ``0 <= beta <= 1`` (may be traced; an invalid traced ``beta``
            gives NaN).

    Returns:
        Array ``[...]`` of per-example losses.

    References:
        Wang, Ma, Chen, Luo, Yi, Bailey, *Symmetric Cross Entropy for Robust Learning with Noisy Labels*,
        ICCV 2019 (arXiv 1908.06112), the SL loss with A = -4; Zhu, Ying, Yang, ICML 2023
        (arXiv 2112.14869), code ``loss.py`` (the weights).
    """
    beta = _unit_interval("beta", beta)
    ce = comp_sum_loss(logits, labels, tau=1.0)
    mae = -jnp.expm1(-ce)  # 1 - S_y = 1 - e^{-CE}: the comp-sum loss at tau = 2, from the same pass
    return (1.0 - beta) * ce + 4.0 * beta * mae


def softmax_squared_error_loss(logits, labels):
    r"""Squared error of the softmax :math:`\lVert e_y - S\rVert^2 = (1 - S_y)^2 + \sum_{k\ne y} S_k^2` (Brier score).

    With :math:`M = \max_k f_k`, :math:`e_k = e^{f_k - M}` (:math:`k \ne y`), :math:`S_k = e_k/Z`,
    :math:`1 - S_y = \sum_{k\ne y} e_k/Z`, :math:`Z = e^{f_y - M} + \sum_{k\ne y} e_k`: shift invariant and finite
    for logits of any size, and one max and one exponential pass over the logits.

    Args:
        logits: floating ``[..., K]``.
        labels: integer ``[...]``.

    Returns:
        Array ``[...]`` of per-example losses in ``[0, 2]``.

    References:
        G. W. Brier, Monthly Weather Review 78 (1950); a baseline of Ghosh, Kumar, Sastry, *Robust Loss
        Functions under Label Noise for Deep Neural Networks*, AAAI 2017 (arXiv 1712.09482).
    """
    logits, labels = check_loss_inputs(logits, labels)
    return _brier(logits, labels)


def _brier_parts(logits, labels):
    r"""``(value, e/z, rho, sigma)``: :math:`\rho = 1 - S_y`, :math:`\sigma = \sum_{k\ne y} S_k^2`, value
    :math:`\rho^2 + \sigma`."""
    e, rest, z = _softmax_rest(logits, labels)
    rho = rest / z
    sigma = jnp.sum(e * e, axis=-1) / (z * z)
    return rho * rho + sigma, e / z[..., None], rho, sigma


@jax.custom_jvp
def _brier(logits, labels):
    return _brier_parts(logits, labels)[0]


@_brier.defjvp
def _brier_jvp(primals, tangents):
    # d/df_k ||e_y - S||^2 = 2 S_k (S_k - [k = y] - (Q - S_y)), Q = sum_j S_j^2. Written in rho = 1 - S_y and
    # sigma (no cancellation for confident predictions): 2 S_k (S_k + (1 - rho) rho - sigma) for k != y and
    # -2 (1 - rho)(rho^2 + sigma) for y; reverse mode is one pass over S plus a scatter at the label.
    logits, labels = primals
    dlogits, _ = tangents
    value, s, rho, sigma = _brier_parts(logits, labels)
    beta = (1.0 - rho) * rho - sigma
    d_y = jnp.take_along_axis(dlogits, labels[..., None], axis=-1)[..., 0]
    g_y = -2.0 * (1.0 - rho) * (rho * rho + sigma)
    tangent = jnp.sum(2.0 * s * (s + beta[..., None]) * dlogits, axis=-1) + g_y * d_y
    return value, tangent


def _softmax_rest(logits, labels):
    """``(e, rest, z)``: ``e_k = e^{f_k - M}`` for ``k != y`` (``M = max_k f_k``), ``e_y = 0`` (a scatter of one entry
    per row), ``rest = sum_k e_k`` and ``z = e^{f_y - M} + rest``, so ``S_k = e_k/z`` and ``1 - S_y = rest/z``
    (no cancellation). ``M`` carries no gradient: the ratios do not depend on it."""
    top = jax.lax.stop_gradient(jnp.max(logits, axis=-1))
    f_y = jnp.take_along_axis(logits, labels[..., None], axis=-1)[..., 0]
    e = jnp.put_along_axis(jnp.exp(logits - top[..., None]), labels[..., None], jnp.zeros((), logits.dtype), axis=-1,
                           inplace=False)
    rest = jnp.sum(e, axis=-1)
    return e, rest, jnp.exp(f_y - top) + rest


#: name -> ``fn(logits, labels, hyper)``
BASELINES = {"ce": cross_entropy, "cs": cs_loss, "ww": ww_loss, "mae": mae_loss, "mse": mse_loss,
             "gce": gce_loss, "sce": sce_loss}
