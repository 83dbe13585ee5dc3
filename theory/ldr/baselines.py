r"""Baseline multi-class losses of the LDR experiments (the authors' comparison suite, a subset).

All are per-example, optax style, with one scalar hyperparameter that may be traced:

============  ==============================================================  ===============
name          loss                                                            hyperparameter
============  ==============================================================  ===============
``ce``        :math:`\log\sum_k e^{f_k} - f_y`                                 (none)
``cs``        :math:`\max(0, \max_{k\ne y} c + f_k - f_y)` (Crammer-Singer)     margin ``c``
``ww``        :math:`\frac1K\sum_k \max(0, c(1-\delta_{ky}) + f_k - f_y)` (the code averages over all k)   margin ``c``
``mae``       :math:`1 - s_y` (the standard MAE; the authors' ``MAELoss`` is identically 0)   (none)
``mse``       :math:`\lVert e_y - s\rVert^2`                                    (none)
``gce``       :math:`(1 - s_y^q)/q`                                             ``q``
``sce``       :math:`(1-\beta)\,\mathrm{CE} + 4\beta(1 - s_y)`                  ``beta``
============  ==============================================================  ===============

with :math:`s = \operatorname{softmax}(f)`.

References:
    Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), baselines of the experiments (code ``loss.py``);
    Zhang, Sabuncu 2018 (GCE); Wang et al. 2019 (SCE); Ghosh et al. 2017 (MAE); spec A.2.8.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["BASELINES", "cross_entropy", "ww_loss", "mae_loss", "mse_loss", "gce_loss", "sce_loss", "cs_loss"]


def _logp_y(logits, labels):
    logp = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(logp, labels[..., None], axis=-1)[..., 0], logp


def cross_entropy(logits, labels, hyper=None):
    """Softmax cross-entropy ``logsumexp(f) - f_y`` per example."""
    return -_logp_y(logits, labels)[0]


def _hinge_terms(logits, labels, c):
    K = logits.shape[-1]
    onehot = labels[..., None] == jnp.arange(K)
    f_y = jnp.take_along_axis(logits, labels[..., None], axis=-1)
    return jnp.where(onehot, 0.0, c + logits - f_y)


def cs_loss(logits, labels, hyper=1.0):
    """Crammer-Singer hinge ``max(0, max_{k != y} c + f_k - f_y)`` with margin ``c = hyper``."""
    return jnp.maximum(jnp.max(_hinge_terms(logits, labels, hyper), axis=-1), 0.0)


def ww_loss(logits, labels, hyper=1.0):
    """Weston-Watkins hinge averaged over all K classes (k = y contributes 0), margin ``c = hyper``."""
    return jnp.mean(jnp.maximum(_hinge_terms(logits, labels, hyper), 0.0), axis=-1)


def mae_loss(logits, labels, hyper=None):
    """``1 - s_y`` (half of ``||e_y - s||_1``)."""
    return -jnp.expm1(_logp_y(logits, labels)[0])


def mse_loss(logits, labels, hyper=None):
    """``||e_y - s||^2``."""
    s = jax.nn.softmax(logits, axis=-1)
    onehot = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    return jnp.sum((onehot - s) ** 2, axis=-1)


def gce_loss(logits, labels, hyper=0.7):
    """Generalised cross-entropy ``(1 - s_y^q)/q`` with ``q = hyper`` in (0, 1]."""
    lp = _logp_y(logits, labels)[0]
    return -jnp.expm1(hyper * lp) / hyper


def sce_loss(logits, labels, hyper=0.5):
    """Symmetric cross-entropy as the authors write it: ``(1 - beta) CE + 4 beta (1 - s_y)``, ``beta = hyper``."""
    lp = _logp_y(logits, labels)[0]
    return (1.0 - hyper) * (-lp) + 4.0 * hyper * (-jnp.expm1(lp))


#: name -> ``fn(logits, labels, hyper)``
BASELINES = {"ce": cross_entropy, "cs": cs_loss, "ww": ww_loss, "mae": mae_loss, "mse": mse_loss,
             "gce": gce_loss, "sce": sce_loss}
