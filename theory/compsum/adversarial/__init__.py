r"""Adversarial comp-sum objects for linear scores: a derived reconstruction, not the paper's constants.

**Status.** The exact definitions of Mao, Mohri, Zhong (ICML 2023), Section 6, could not be re-read. This
package implements a self-consistent reconstruction (docs/compsum.md#adversarial-losses): every
inequality below is *proven* (proof sketches in the docstrings) and *checked* numerically in
``tests/compsum/test_adversarial.py``, but the placement of :math:`\rho`, the admissible :math:`\nu`,
the norm of the smooth term and the bound's constant are **not** claimed to be the paper's. Hence
:math:`\rho`, :math:`\nu` and :math:`\gamma` are explicit parameters everywhere.

Objects (linear scores :math:`h(x, y) = w_y \cdot x + b_y`, ``W`` of shape ``[n, d]``, ``b`` of shape
``[n]``; perturbation ball :math:`B_q(x, \gamma) = \{x' : \|x' - x\|_q \le \gamma\}`, ``q`` in
``{1, 2, inf}``, dual norm :math:`q^*`):

.. math::

    \ell_\gamma(h, x, y) &= \sup_{x' \in B} 1[\rho_h(x', y) \le 0],
        \qquad \rho_h(x, y) = h(x, y) - \max_{y' \ne y} h(x, y') \quad\text{(ties are errors)} \\
    \Phi_\rho(z) &= \min\{1, \max\{0, 1 - z/\rho\}\} \\
    \tilde\ell^\tau_\rho(h, x, y) &= \sup_{x' \in B}
        \Phi^\tau\Big(\sum_{y' \ne y} \Phi_\rho\big(h(x', y) - h(x', y')\big)\Big) \\
    \tilde\ell^{\tau,\mathrm{sm}}_{\rho,\nu}(h, x, y) &= \ell^\tau(h/\rho, x, y)
        + \nu \sup_{x' \in B} \|\bar\Delta_h(x', y) - \bar\Delta_h(x, y)\|_2,
        \qquad \bar\Delta_h(x, y) = \big(h(x, y') - h(x, y)\big)_{y'}.

Proven chain (pointwise, any ``h``; the right inequality needs :math:`\nu \ge \sqrt{n-1}/\rho`):

.. math::

    \Phi^\tau(1)\,\ell_\gamma \le \tilde\ell^\tau_\rho \le \tilde\ell^{\tau,\mathrm{sm}}_{\rho,\nu}.

Left: an adversarial error at :math:`x'` makes one ramp term equal to 1 there and :math:`\Phi^\tau`
increases. Right: :math:`\Phi^\tau` is 1-Lipschitz on :math:`\mathbb R_+`, :math:`\Phi_\rho` is
:math:`1/\rho`-Lipschitz (so the ramp sum moves by at most
:math:`\|\cdot\|_1/\rho \le \sqrt{n-1}\,\|\cdot\|_2/\rho`, one coordinate of :math:`\bar\Delta` being 0),
and :math:`\Phi_\rho(z) \le e^{-z/\rho}`.

Under local :math:`\rho`-consistency of a symmetric :math:`\mathcal H`,
:math:`C^*_{\ell_\gamma} = 1 - \max_y p_y` and :math:`C^*_{\tilde\ell} = \sum_k p_{(k)}\Phi^\tau(k-1)`;
a rearrangement argument gives :math:`\Phi^\tau(1)\,\Delta C_{\ell_\gamma} \le \Delta C_{\tilde\ell}`,
hence the linear adversarial bound with slope :math:`1/\Phi^\tau(1)`.

Sampling the inner sup of :math:`\tilde\ell` gives a **lower** estimate; closed forms are used for
:math:`\ell_\gamma` (dual norms) and for the smooth term (:math:`\gamma\sigma_{\max}`, max column norm,
cube-vertex enumeration). The losses of a linear model are float64 NumPy; the closed forms of the
calibration also run under ``jit``/``vmap``/``grad``.

The package is split by idea: :mod:`~theory.compsum.adversarial.linear` (the losses of a linear model),
:mod:`~theory.compsum.adversarial.calibration` (best conditional risk, slope constant, bound, smoothing
weight) and :mod:`~theory.compsum.adversarial.measure` (the chain's slacks on random linear cases). Every
public name is re-exported here.

References:
    Mao, Mohri, Zhong, *Cross-Entropy Loss Functions: Theoretical Analysis and Applications*, ICML 2023
    (arXiv 2304.07288), Section 6 (adversarial robustness) [reconstructed]; Awasthi, Mao, Mohri, Zhong,
    *Multi-Class H-Consistency Bounds*, NeurIPS 2022 (adversarial losses, local rho-consistency).
"""

from theory.compsum.adversarial._ball import MAX_VERTEX_DIM as MAX_VERTEX_DIM
from theory.compsum.adversarial.calibration import (
    adversarial_bound,
    adversarial_calibration_constant,
    adversarial_conditional_min,
    minimum_nu,
)
from theory.compsum.adversarial.linear import (
    adversarial_margin_loss_lower,
    adversarial_zero_one_linear,
    ramp,
    smooth_adversarial_loss_linear,
    smooth_term_linear,
)
from theory.compsum.adversarial.measure import chain_slacks

__all__ = [
    "ramp",
    "adversarial_zero_one_linear",
    "adversarial_margin_loss_lower",
    "smooth_term_linear",
    "smooth_adversarial_loss_linear",
    "adversarial_conditional_min",
    "adversarial_calibration_constant",
    "adversarial_bound",
    "minimum_nu",
    "chain_slacks",
]
