r"""Closed forms of the adversarial calibration: the best conditional risk, the slope constant, the bound.

All of them work under ``jit``/``vmap``/``grad`` (traced inputs run the same formulas in ``jax.numpy``;
an invalid traced input gives NaN), and on concrete inputs return float64 NumPy values.

References:
    Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial robustness) [reconstructed];
    Awasthi, Mao, Mohri, Zhong, NeurIPS 2022 (local rho-consistency).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from theory._compat import keyword_only
from theory._validation import check_array, check_int, check_simplex, is_traced, nan_unless
from theory.compsum import _kernels as K
from theory.compsum.adversarial._checks import check_rho, check_tau
from theory.compsum.losses import _phi_of_w

__all__ = [
    "adversarial_conditional_min",
    "adversarial_calibration_constant",
    "adversarial_bound",
    "minimum_nu",
]


def adversarial_conditional_min(p, *, tau) -> np.ndarray:
    r"""Best-in-class conditional risk of the adversarial :math:`\rho`-margin comp-sum loss.

    .. math::

        C^*_{\tilde\ell}(\mathcal H, x) = \sum_{k=1}^n p_{(k)}\,\Phi^\tau(k-1),
        \qquad p_{(1)} \ge p_{(2)} \ge \dots \ge p_{(n)},

    valid for a symmetric, locally :math:`\rho`-consistent :math:`\mathcal H` (some ``h`` keeps a fixed
    strict label order over the whole ball with all gaps :math:`\ge \rho`). It is a lower bound on
    :math:`C_{\tilde\ell}(h, x)` for every ``h``: the label ranked ``k`` at ``x`` has ``k-1`` ramp terms
    equal to 1, and the rearrangement inequality does the rest. The adversarial zero-one counterpart
    is :math:`C^*_{\ell_\gamma} = 1 - \max_y p_y`.

    Args:
        p: label distribution(s) ``[..., n]``, ``n >= 2``.
        tau: comp-sum parameter, ``tau >= 0``.

    Returns:
        Array ``[...]`` (float64 NumPy for concrete inputs; traceable, NaN for an invalid traced input).

    Examples:
        >>> round(float(adversarial_conditional_min([0.2, 0.5, 0.3], tau=2.0)), 12)
        0.283333333333

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial robustness)
        [reconstructed]; Awasthi, Mao, Mohri, Zhong, NeurIPS 2022 (local rho-consistency).
    """
    if K.namespace(p, tau) is jnp:
        p = jnp.asarray(p, jnp.result_type(p, float))
        if p.ndim < 1 or p.shape[-1] < 2:
            raise ValueError(f"p must have n >= 2 classes along its last axis, got shape {p.shape}")
        return _conditional_min_jnp(p, tau, 1.0 - tau)  # 1 - tau outside the jit: a Python float tau stays exact
    tau = check_tau(tau)
    p = check_simplex("p", p)
    n = p.shape[-1]
    if n < 2:
        raise ValueError("p must have n >= 2 classes")
    ps = -np.sort(-p, axis=-1)
    return (ps * K.phi(np.arange(n, dtype=np.float64), tau, np)).sum(axis=-1)


@jax.jit  # one compiled program per shape for eager (e.g. vmapped) calls; inlined under a caller's jit
def _conditional_min_jnp(p, tau, a):
    ps = -jnp.sort(-p, axis=-1)
    value = (ps * _phi_of_w(jnp.log1p(jnp.arange(p.shape[-1], dtype=p.dtype)), a, xp=jnp)).sum(axis=-1)
    return nan_unless((tau >= 0) & K.simplex_ok(p), value)


@keyword_only("tau")
def adversarial_calibration_constant(*, tau) -> float:
    r"""The slope constant :math:`\Phi^\tau(1)` of the adversarial calibration inequality.

    .. math::

        \Phi^\tau(1) = \frac{2^{1-\tau} - 1}{1-\tau} \quad (\log 2 \text{ at } \tau = 1),
        \qquad \Phi^\tau(1)\,\Delta C_{\ell_\gamma} \le \Delta C_{\tilde\ell}.

    Args:
        tau: comp-sum parameter, ``tau >= 0``.

    Returns:
        float in ``(0, 1]`` (``1`` at ``tau = 0``, ``0.5`` at ``tau = 2``); traceable (NaN for a traced
        ``tau < 0``).

    Examples:
        >>> round(adversarial_calibration_constant(tau=1.0), 12)
        0.69314718056

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial robustness)
        [reconstructed, derived form].
    """
    if is_traced(tau):
        return _calibration_constant_jnp(tau)
    tau = check_tau(tau)
    return float(K.phi(1.0, tau, np))


@jax.jit  # one compiled program per shape for eager (e.g. vmapped) calls; inlined under a caller's jit
def _calibration_constant_jnp(tau):
    return nan_unless(tau >= 0, K.phi(jnp.ones((), jnp.result_type(tau, float)), tau, jnp))


def adversarial_bound(eps, *, tau) -> np.ndarray:
    r"""The linear adversarial H-consistency bound :math:`\min\{1, \epsilon / \Phi^\tau(1)\}` (derived form).

    .. math::

        R_{\ell_\gamma}(h) - R^*_{\ell_\gamma}(\mathcal H) + M_{\ell_\gamma}(\mathcal H)
        \le \frac{R_{\tilde\ell}(h) - R^*_{\tilde\ell}(\mathcal H) + M_{\tilde\ell}(\mathcal H)}{\Phi^\tau(1)},

    for symmetric, locally :math:`\rho`-consistent :math:`\mathcal H`; the left side is at most 1, hence
    the cap. :math:`R_{\tilde\ell}` may be replaced by the larger smooth risk when
    :math:`\nu \ge \sqrt{n-1}/\rho`.

    Args:
        eps: surrogate excess error(s), ``eps >= 0`` (``inf`` allowed, giving 1).
        tau: comp-sum parameter, ``tau >= 0``.

    Returns:
        Array of the shape of ``eps``, values in ``[0, 1]`` (float64 NumPy for concrete inputs; traceable,
        NaN for an invalid traced input).

    Examples:
        >>> float(adversarial_bound(0.25, tau=2.0))
        0.5

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial H-consistency
        bound) [reconstructed, derived form]; Awasthi, Mao, Mohri, Zhong, NeurIPS 2022.
    """
    if K.namespace(eps, tau) is jnp:
        eps = jnp.asarray(eps, jnp.result_type(eps, tau, float))
        return nan_unless((eps >= 0) & (tau >= 0), jnp.minimum(eps / adversarial_calibration_constant(tau=tau), 1.0))
    tau = check_tau(tau)
    eps = check_array("eps", eps, low=0.0, allow_inf=True)
    return np.minimum(eps / adversarial_calibration_constant(tau=tau), 1.0)


@keyword_only("num_classes", "rho", renamed={"n_classes": "num_classes"})
def minimum_nu(*, num_classes, rho) -> float:
    r"""The proven sufficient smoothing weight :math:`\nu_{\min} = \sqrt{n-1}/\rho`.

    With :math:`\nu \ge \nu_{\min}`, :math:`\tilde\ell^\tau_\rho \le \tilde\ell^{\tau,\mathrm{sm}}_{\rho,\nu}`
    pointwise (the ramp sum is :math:`\sqrt{n-1}/\rho`-Lipschitz in :math:`\bar\Delta` for the
    :math:`\ell_2` norm). :math:`\nu = 1/\rho` is not enough: for ``n = 3``, ``tau = 0``, ``rho = 1``,
    ``gamma = 0.05`` there are linear cases where the sampled (lower) adversarial loss exceeds the
    smooth loss by 0.04 (a fixed counterexample is in the tests).

    Args:
        num_classes: number of classes, ``n >= 2`` (``n_classes`` is its deprecated name).
        rho: margin scale, ``rho > 0``.

    Returns:
        float (traceable: NaN for an invalid traced input).

    Examples:
        >>> round(minimum_nu(num_classes=3, rho=0.5), 12)
        2.828427124746

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial robustness)
        [reconstructed].
    """
    n = num_classes
    if is_traced(n) or is_traced(rho):
        return nan_unless((n >= 2) & (rho > 0), jnp.sqrt(jnp.asarray(n - 1, jnp.result_type(rho, float))) / rho)
    n = check_int("num_classes", n, low=2)
    rho = check_rho(rho)
    return math.sqrt(n - 1) / rho
