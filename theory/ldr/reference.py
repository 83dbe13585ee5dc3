r"""Float64 reference solutions (oracles): the inner maximisation by cvxpy, and the authors' training losses.

Independent implementations the claims and tests compare the library against; they are not re-exported
by :mod:`theory.ldr` (import them from this module). NumPy/SciPy/cvxpy only: none of them runs under
``jit``/``vmap``/``grad``. cvxpy and ``scipy.optimize`` are imported on first use.

:func:`inner_max_cvxpy` solves :math:`\max_{p\in\Omega_k}\langle p,a\rangle - \lambda R(p)` as a convex
program (CLARABEL), independently of the closed forms in :mod:`theory.ldr.losses` and
:mod:`theory.ldr.general`. :func:`ldr_v1_official` and :func:`aldr_v1_official_step` re-implement,
from their formulas (not by importing the code), the losses ``LDRLoss_V1`` and ``ALDRLoss_V1`` of the
authors' repository ``Optimization-AI/ICML2023_LDR`` (``loss.py`` at ``732fc85``), in NumPy.

References:
    Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), the LDR-KL closed form and ALDR-KL; the authors' code
    ``Optimization-AI/ICML2023_LDR`` (``loss.py``: ``LDRLoss_V1``, ``ALDRLoss_V1``); ``docs/ldr.md``,
    "Numerics" and "Findings".
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.special import logsumexp, softmax

__all__ = ["inner_max_cvxpy", "ldr_kl_numpy", "aldr_kl_numpy", "ldr_v1_official", "aldr_v1_official_step"]


def ldr_kl_numpy(a, lam):
    r""":math:`\lambda\log\operatorname{mean}_k e^{a_k/\lambda}` in float64 NumPy (max-shifted; 0 and inf limits).

    Args:
        a: margin vectors ``[..., K]``; lam: ``lambda >= 0`` (scalar), or an array of positive values
            broadcasting against ``a.shape[:-1]``.

    Returns:
        Array ``[...]``.
    """
    a = np.asarray(a, np.float64)
    if np.ndim(lam) == 0:
        if lam == 0:
            return a.max(axis=-1)
        if math.isinf(lam):
            return a.mean(axis=-1)
    lam = np.asarray(lam, np.float64)
    m = a.max(axis=-1, keepdims=True)
    return m[..., 0] + lam * (logsumexp((a - m) / lam[..., None], axis=-1) - math.log(a.shape[-1]))


def inner_max_cvxpy(a, *, lam, reg="kl", k=1):
    r"""``(value, p)`` of :math:`\max_{p\in\Omega_k}\langle p,a\rangle - \lambda R(p)` by CLARABEL.

    KL: the shifted program :math:`\max \tilde a\cdot p + \sum_k \mathrm{entr}(p_k)` with
    :math:`\tilde a = (a - \max a)/\lambda`, value :math:`\lambda(\mathrm{obj} - \log K) + \max a`,
    recomputed from the clipped, renormalised ``p`` (CLARABEL can report ``-inf`` when an optimal
    :math:`p_k` underflows inside ``entr``). l2: a QP. none: an LP.

    Args:
        a: one margin vector ``[K]``; lam: ``lambda > 0`` (ignored for ``reg="none"``).
        reg: ``"kl"``, ``"l2"`` or ``"none"``; k: the cap ``p <= 1/k``.

    Returns:
        ``(value, p)`` in float64.
    """
    import cvxpy as cp  # deferred: a second of import time

    a = np.asarray(a, np.float64)
    K = a.size
    p = cp.Variable(K)
    cons = [p >= 0, cp.sum(p) == 1]
    if k > 1:
        cons.append(p <= 1.0 / k)
    if reg == "kl":
        shift = a.max()
        obj = cp.Maximize((a - shift) / lam @ p + cp.sum(cp.entr(p)))
    elif reg == "l2":
        obj = cp.Maximize(a @ p - 0.5 * lam * cp.sum_squares(p - 1.0 / K))
    elif reg == "none":
        obj = cp.Maximize(a @ p)
    else:
        raise ValueError(f"reg must be one of ['kl', 'l2', 'none'], got {reg!r}")
    prob = cp.Problem(obj, cons)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "may be inaccurate": the status is checked below
        prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    if prob.status not in ("optimal", "optimal_inaccurate") or p.value is None:
        raise RuntimeError(f"inner-max program failed: status {prob.status}")
    q = np.maximum(np.asarray(p.value, np.float64), 0.0)
    q = q / q.sum()
    if reg == "kl":
        kl = float(np.sum(q[q > 0] * np.log(K * q[q > 0])))
        return float(q @ a - lam * kl), q
    if reg == "l2":
        return float(q @ a - 0.5 * lam * np.sum((q - 1.0 / K) ** 2)), q
    return float(q @ a), q


def aldr_kl_numpy(a, *, lam0, alpha, lam_min=0.0, grid=4000):
    r"""``(value, lam_star)`` of ALDR-KL for one margin vector: dense grid, then bounded Brent (float64).

    Maximises :math:`h(\lambda) = \psi_\lambda(a) - \frac\alpha2(\lambda-\lambda_0)^2` over
    :math:`[\max(\lambda_{min}, \lambda_0 - \log K/\alpha), \lambda_0]` (the maximiser lies there:
    :math:`h'(\lambda) = -\mathrm{KL}(p^*_\lambda\Vert u) - \alpha(\lambda-\lambda_0)` and
    :math:`0 \le \mathrm{KL} \le \log K`; ``docs/ldr.md``, "Numerics"), with SciPy's bounded Brent on the
    two grid cells around the best grid point.
    """
    from scipy import optimize  # deferred: a third of a second of import time

    a = np.asarray(a, np.float64)
    K = a.size
    lo = max(lam_min, lam0 - math.log(K) / alpha, 1e-12)

    def h(lam):
        return ldr_kl_numpy(a, lam) - 0.5 * alpha * (lam - lam0) ** 2

    lams = np.linspace(lo, lam0, grid)
    hv = h(lams)
    i = int(np.argmax(hv))
    left, right = lams[max(i - 1, 0)], lams[min(i + 1, grid - 1)]
    res = optimize.minimize_scalar(lambda t: -float(h(t)), bounds=(left, right), method="bounded",
                                   options={"xatol": 1e-13})
    if -res.fun >= hv[i]:
        return -float(res.fun), float(res.x)
    return float(hv[i]), float(lams[i])


def _softplus(x):
    return np.logaddexp(0.0, x)


def ldr_v1_official(logits, labels, *, lam, margin=0.1):
    r"""The authors' ``LDRLoss_V1`` per example (before the batch mean), from its formula.

    :math:`\hat F = \mathrm{softplus}(F)/\operatorname{mean}_k \mathrm{softplus}(F)_k`,
    :math:`a = c(1 - e_y) + \hat F - \hat F_y`, loss :math:`= \lambda\log\operatorname{mean}_k e^{a_k/\lambda}`.

    Args:
        logits: raw scores ``[B, K]``; labels: integers ``[B]``; lam: the code's ``Lambda``;
        margin: the code's ``threshold`` (the experiments use 0.1).

    Returns:
        float64 ``[B]``.
    """
    F = np.atleast_2d(np.asarray(logits, np.float64))
    y = np.atleast_1d(np.asarray(labels))
    sp = _softplus(F)
    Fh = sp / sp.mean(axis=-1, keepdims=True)
    onehot = np.eye(F.shape[1])[y]
    a = margin * (1 - onehot) + Fh - np.take_along_axis(Fh, y[:, None], axis=1)
    return ldr_kl_numpy(a, lam)


def aldr_v1_official_step(logits, labels, lam_old, *, lam0, alpha_c, margin=0.1, softplus=False):
    r"""One visit of the authors' ``ALDRLoss_V1``: ``(loss [B], lam_new [B])``, float64, from its formula.

    :math:`\hat F = F/(\lVert F\rVert_1/K)`; :math:`\tilde p = \operatorname{softmax}(\hat F/\Lambda_{old}) + 10^{-5}`,
    renormalised; :math:`\kappa = \sum_k\tilde p_k\log(K\tilde p_k)`;
    :math:`\lambda_{new} = \lambda_0 - \lambda_0\kappa/(\alpha_c\log K)`; loss
    :math:`= \lambda_{new}\log\operatorname{mean}_k e^{a_k/\lambda_{new}}
    - \frac{\alpha_c\log K}{2\lambda_0}(\lambda_{new}-\lambda_0)^2`
    with :math:`a = c(1-e_y) + \hat F - \hat F_y` (the margin is absent from :math:`\tilde p`, as in the code).

    Returns:
        ``(loss, lam_new)``, each float64 ``[B]``.
    """
    F = np.atleast_2d(np.asarray(logits, np.float64))
    y = np.atleast_1d(np.asarray(labels))
    K = F.shape[1]
    if softplus:
        F = _softplus(F)
    Fh = F / np.maximum(np.abs(F).sum(axis=-1, keepdims=True) / K, 1e-12)
    pt = softmax(Fh / np.asarray(lam_old, np.float64).reshape(-1, 1), axis=-1) + 1e-5
    pt = pt / pt.sum(axis=-1, keepdims=True)
    kappa = np.sum(pt * np.log(K * pt), axis=-1)
    lam_new = lam0 - lam0 * kappa / (alpha_c * math.log(K))
    extra = -0.5 * (alpha_c * math.log(K) / lam0) * (lam_new - lam0) ** 2
    onehot = np.eye(K)[y]
    a = margin * (1 - onehot) + Fh - np.take_along_axis(Fh, y[:, None], axis=1)
    m = a.max(axis=-1, keepdims=True)
    value = m[:, 0] + lam_new * (logsumexp((a - m) / lam_new[:, None], axis=-1) - math.log(K))
    return value + extra, lam_new
