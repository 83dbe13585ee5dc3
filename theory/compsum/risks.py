r"""Conditional risks, their infima and regrets, at one input with label distribution ``p``.

.. math::

    C_\tau(h, p) = \sum_y p_y\,\Psi_\tau(S_y(h)), \qquad
    \Delta C_\tau(h, p) = C_\tau(h, p) - C^*_\tau(p), \qquad
    \Delta C_{0-1}(h, p) = \max_y p_y - p_{\hat y(h)}.

The prediction :math:`\hat y(h)` breaks ties toward the **highest** index (``np.argmax`` picks
the lowest and is wrong here: the tightness constructions depend on the rule).

Everything here is exact mathematics in float64 (numpy); arrays broadcast over leading axes.

References:
    Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4 (conditional risks and
    minimizability gaps); Awasthi, Mao, Mohri, Zhong, *Multi-Class H-Consistency Bounds*,
    NeurIPS 2022 (tie-breaking and symmetric hypothesis sets).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from theory._validation import check_real, check_simplex
from theory.compsum.losses import _loss_matrix_np

__all__ = [
    "predict",
    "conditional_risk",
    "min_conditional_risk",
    "surrogate_regret",
    "zero_one_regret",
]


def predict(logits) -> np.ndarray:
    """Predicted label ``argmax_y h_y`` with ties broken toward the highest index.

    Examples:
        >>> int(predict([0.0, 0.0, -1.0]))
        1

    References:
        Awasthi, Mao, Mohri, Zhong, NeurIPS 2022, the deterministic tie-breaking convention.
    """
    h = np.asarray(logits)
    n = h.shape[-1]
    return n - 1 - np.argmax(h[..., ::-1], axis=-1)


def _check_pair(logits, p):
    h = np.asarray(logits, dtype=np.float64)
    p = check_simplex("p", p)
    if h.shape[-1] != p.shape[-1]:
        raise ValueError(f"logits and p must have the same number of classes, got {h.shape[-1]} and {p.shape[-1]}")
    if h.shape[-1] < 2:
        raise ValueError("the number of classes must be >= 2")
    return h, p


def conditional_risk(logits, p, *, tau) -> np.ndarray:
    r""":math:`C_\tau(h, p) = \sum_y p_y \ell^\tau(h, y)` in float64 (``0 \cdot \infty = 0``).

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4.
    """
    tau = check_real("tau", tau, low=0.0)
    h, p = _check_pair(logits, p)
    losses = _loss_matrix_np(h, tau)
    with np.errstate(invalid="ignore"):
        return np.where(p > 0, p * losses, 0.0).sum(axis=-1)


def _min_risk_complete(p: np.ndarray, tau: float) -> np.ndarray:
    r"""Complete-case :math:`C^*_\tau(p)` without cancellation near ``tau = 1``.

    With :math:`L = \log\sum_y p_y^r` (``r = 1/(2-tau)``), :math:`C^* = \operatorname{expm1}((2-\tau)L)/(1-\tau)`.
    ``L`` is taken as ``log1p(sum_y p_y expm1((r-1) log p_y))`` (terms of one sign, ``r - 1`` formed
    as ``(tau-1)/(2-tau)``) when that sum is above ``-1/2``, else as a log-sum-exp. The relative error
    stays at a few ulps for every ``tau`` (the direct closed form loses about ``eps/|1-tau|``).
    """
    if tau == 1.0:
        return -special.xlogy(p, p).sum(axis=-1)
    if tau >= 2.0:
        return (1.0 - p.max(axis=-1)) / (tau - 1.0)
    r_minus_1 = (tau - 1.0) / (2.0 - tau)
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.log(p)
        m = np.where(p > 0, p * np.expm1(r_minus_1 * logp), 0.0).sum(axis=-1)  # sum p^r - 1
        log_sum = np.where(
            m > -0.5, np.log1p(np.maximum(m, -0.5)), special.logsumexp(logp / (2.0 - tau), axis=-1)
        )
    return np.expm1((2.0 - tau) * log_sum) / (1.0 - tau)


def min_conditional_risk(p, *, tau, box=None) -> np.ndarray:
    r"""The best-in-class conditional risk :math:`C^*_\tau(p) = \inf_h C_\tau(h, p)`.

    Complete hypothesis sets (``box=None``):

    .. math::

        C^*_\tau(p) = \begin{cases}
            -\sum_y p_y \log p_y & \tau = 1 \\
            \frac{(\sum_y p_y^{1/(2-\tau)})^{2-\tau} - 1}{1-\tau} & \tau \in [0,2),\ \tau \ne 1 \\
            \frac{1 - \max_y p_y}{\tau - 1} & \tau \ge 2
        \end{cases}

    Box-bounded scores :math:`|h_y| \le \Lambda` (``box=Lambda``): the minimum over the softmax
    polytope :math:`\{S \in \Delta_n : S_i \le e^{2\Lambda} S_j\}`, solved exactly by a 1-D convex
    search (``tau <= 2``) or vertex enumeration (``tau > 2``); ``box=inf`` is the complete case.

    Args:
        p: label distribution(s) ``[..., n]``.
        tau: comp-sum parameter, ``tau >= 0``.
        box: ``None`` / ``inf`` (complete) or the score bound ``Lambda >= 0``.

    Examples:
        >>> round(float(min_conditional_risk([0.5, 0.3, 0.2], tau=1.5)), 12)
        0.767117199406

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4 (minimizability gaps of comp-sum
        losses); NeurIPS 2023 (bounded hypothesis sets).
    """
    tau = check_real("tau", tau, low=0.0)
    p = check_simplex("p", p)
    if p.shape[-1] < 2:
        raise ValueError("p must have n >= 2 classes")
    if box is None:
        return _min_risk_complete(p, tau)
    lam = check_real("box", box, low=0.0, allow_inf=True)
    if np.isinf(lam):
        return _min_risk_complete(p, tau)
    from theory.compsum.box import min_conditional_risk_box

    return min_conditional_risk_box(p, tau=tau, lam=lam)


def surrogate_regret(logits, p, *, tau, box=None) -> np.ndarray:
    r""":math:`\Delta C_\tau(h, p) = C_\tau(h, p) - C^*_\tau(p)` (``>= 0``)."""
    return conditional_risk(logits, p, tau=tau) - min_conditional_risk(p, tau=tau, box=box)


def zero_one_regret(logits, p) -> np.ndarray:
    r""":math:`\Delta C_{0-1}(h, p) = \max_y p_y - p_{\hat y(h)}` for symmetric hypothesis sets.

    References:
        Awasthi, Mao, Mohri, Zhong, NeurIPS 2022, Lemma (zero-one conditional regret).
    """
    h, p = _check_pair(logits, p)
    yhat = predict(h)
    return p.max(axis=-1) - np.take_along_axis(p, yhat[..., None], axis=-1)[..., 0]
