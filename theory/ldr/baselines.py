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

from theory import losses as _losses

__all__ = ["BASELINES", "cross_entropy", "ww_loss", "mae_loss", "mse_loss", "gce_loss", "sce_loss", "cs_loss"]


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


#: name -> ``fn(logits, labels, hyper)``
BASELINES = {"ce": cross_entropy, "cs": cs_loss, "ww": ww_loss, "mae": mae_loss, "mse": mse_loss,
             "gce": gce_loss, "sce": sce_loss}
