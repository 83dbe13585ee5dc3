r"""Binary margin losses :math:`\phi(z)`, :math:`z = y f(x)`, :math:`y \in \{-1, +1\}`, and their derivatives.

The classical convex, classification-calibrated (CC) losses (Bartlett, Jordan, McAuliffe 2006) used as fixed-loss
baselines of EnsLoss, and three non-examples that the calibration checks must reject or mark:

| loss | :math:`\phi(z)` | :math:`\phi'(z)` | :math:`\phi'(0)` | CC |
|---|---|---|---|---|
| logistic | :math:`\log(1 + e^{-z})` | :math:`-1/(1 + e^{z})` | :math:`-1/2` | yes |
| exponential | :math:`e^{-z}` | :math:`-e^{-z}` | :math:`-1` | yes |
| hinge | :math:`(1 - z)_+` | :math:`-1[z < 1]` | :math:`-1` | yes |
| squared hinge | :math:`(1 - z)_+^2` | :math:`-2(1 - z)_+` | :math:`-2` | yes |
| perceptron | :math:`(-z)_+` | :math:`-1[z < 0]` | jumps from -1 to 0 | no (not differentiable at 0) |
| reversed hinge | :math:`(1 + z)_+` | :math:`1[z > -1]` | :math:`+1` | no (increasing) |
| sigmoid | :math:`1/(1 + e^{z})` | :math:`-\sigma(z)\sigma(-z)` | :math:`-1/4` | not convex (criterion n/a) |

Each loss is ``loss(margins) -> per-example array`` (the caller reduces), pure and differentiable (``jit``,
``vmap``, ``grad``), in the margins' floating dtype; the logistic and sigmoid losses are written stably
(finite at :math:`|z| = 10^4` in float32). At a kink the derivative functions return the right derivative
(``hinge_margin_derivative(1.0) == 0``). Input policy: NaN margins raise ``ValueError`` eagerly; :math:`\pm\infty`
are accepted (the limits, e.g. ``logistic(+inf) = 0``, ``exponential(-inf) = inf``). These losses have no
hyperparameters.

References:
    Bartlett, Jordan, McAuliffe, *Convexity, Classification, and Risk Bounds*, JASA 2006 (classification
    calibration; a convex loss is calibrated iff differentiable at 0 with a negative derivative there); Dai,
    ICML 2025 (arXiv 2409.00908), the fixed-loss baselines (BCE, hinge, exponential) of its experiments;
    docs/ensloss.md, "Margin losses and the CC conditions".
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from theory._validation import check_array, check_choice, check_loss_inputs, is_traced

__all__ = [
    "logistic_margin_loss",
    "logistic_margin_derivative",
    "exponential_margin_loss",
    "exponential_margin_derivative",
    "hinge_margin_loss",
    "hinge_margin_derivative",
    "squared_hinge_margin_loss",
    "squared_hinge_margin_derivative",
    "perceptron_margin_loss",
    "perceptron_margin_derivative",
    "reversed_hinge_margin_loss",
    "reversed_hinge_margin_derivative",
    "sigmoid_margin_loss",
    "sigmoid_margin_derivative",
    "two_class_margin_loss",
    "MARGIN_LOSSES",
    "CLASSICAL",
]


def _margins(margins):
    """Margins as a floating JAX array; a concrete NaN raises (``+-inf`` pass)."""
    if not is_traced(margins):
        check_array("margins", margins, allow_inf=True)
    z = jnp.asarray(margins)
    return z if jnp.issubdtype(z.dtype, jnp.floating) else z.astype(jnp.result_type(float))


def logistic_margin_loss(margins):
    r"""Logistic (binary cross-entropy) loss :math:`\log(1 + e^{-z})`, computed as ``softplus(-z)``.

    Args:
        margins: real array :math:`z = y f(x)`.

    Returns:
        Per-example losses, shaped like ``margins``.

    Examples:
        >>> round(float(logistic_margin_loss(0.0)), 6)
        0.693147

    References:
        Bartlett, Jordan, McAuliffe, JASA 2006 (Table of examples); docs/ensloss.md.
    """
    return jax.nn.softplus(-_margins(margins))


def logistic_margin_derivative(margins):
    r""":math:`\phi'(z) = -1/(1 + e^{z}) = -\sigma(-z)` of the logistic loss (:math:`-1/2` at 0)."""
    return -jax.nn.sigmoid(-_margins(margins))


def exponential_margin_loss(margins):
    r"""Exponential (AdaBoost) loss :math:`e^{-z}`.

    Examples:
        >>> float(exponential_margin_loss(0.0))
        1.0

    References:
        Bartlett, Jordan, McAuliffe, JASA 2006; docs/ensloss.md.
    """
    return jnp.exp(-_margins(margins))


def exponential_margin_derivative(margins):
    r""":math:`\phi'(z) = -e^{-z}` of the exponential loss (:math:`-1` at 0)."""
    return -jnp.exp(-_margins(margins))


def hinge_margin_loss(margins):
    r"""Hinge (SVM) loss :math:`(1 - z)_+`.

    Examples:
        >>> float(hinge_margin_loss(0.25))
        0.75

    References:
        Bartlett, Jordan, McAuliffe, JASA 2006; docs/ensloss.md.
    """
    return jnp.maximum(1.0 - _margins(margins), 0.0)


def hinge_margin_derivative(margins):
    r""":math:`\phi'(z) = -1` for :math:`z < 1`, ``0`` for :math:`z \ge 1` (the right derivative at the kink)."""
    z = _margins(margins)
    return jnp.where(z < 1.0, -1.0, 0.0).astype(z.dtype)


def squared_hinge_margin_loss(margins):
    r"""Squared hinge loss :math:`(1 - z)_+^2`.

    Examples:
        >>> float(squared_hinge_margin_loss(0.5))
        0.25

    References:
        Bartlett, Jordan, McAuliffe, JASA 2006 (the truncated quadratic); docs/ensloss.md.
    """
    return jnp.square(jnp.maximum(1.0 - _margins(margins), 0.0))


def squared_hinge_margin_derivative(margins):
    r""":math:`\phi'(z) = -2(1 - z)_+` of the squared hinge loss (:math:`-2` at 0)."""
    return -2.0 * jnp.maximum(1.0 - _margins(margins), 0.0)


def perceptron_margin_loss(margins):
    r"""Perceptron loss :math:`(-z)_+`: convex, but not differentiable at 0 (:math:`\phi'(0^-) = -1`,
    :math:`\phi'(0^+) = 0`), so **not** classification-calibrated: its conditional risk is minimised at 0 for
    every :math:`\eta`.

    References:
        Bartlett, Jordan, McAuliffe, JASA 2006 (the characterisation of convex calibrated losses); docs/ensloss.md.
    """
    return jnp.maximum(-_margins(margins), 0.0)


def perceptron_margin_derivative(margins):
    r""":math:`\phi'(z) = -1` for :math:`z < 0`, ``0`` for :math:`z \ge 0` (the right derivative at 0)."""
    z = _margins(margins)
    return jnp.where(z < 0.0, -1.0, 0.0).astype(z.dtype)


def reversed_hinge_margin_loss(margins):
    r""":math:`(1 + z)_+`: convex and differentiable at 0 but increasing (:math:`\phi'(0) = +1`): anti-calibrated
    (its conditional-risk minimiser has the wrong sign)."""
    return jnp.maximum(1.0 + _margins(margins), 0.0)


def reversed_hinge_margin_derivative(margins):
    r""":math:`\phi'(z) = 1` for :math:`z > -1`, ``0`` for :math:`z \le -1`."""
    z = _margins(margins)
    return jnp.where(z > -1.0, 1.0, 0.0).astype(z.dtype)


def sigmoid_margin_loss(margins):
    r"""Sigmoid loss :math:`1/(1 + e^{z})`: not convex, so the CC theorem does not apply (it is calibrated in
    Bartlett et al.'s sense, its conditional risk decreasing towards the correct sign's infinity)."""
    return jax.nn.sigmoid(-_margins(margins))


def sigmoid_margin_derivative(margins):
    r""":math:`\phi'(z) = -\sigma(z)\,\sigma(-z)` (:math:`-1/4` at 0)."""
    z = _margins(margins)
    return -jax.nn.sigmoid(z) * jax.nn.sigmoid(-z)


#: ``name -> (loss, derivative)`` for every margin loss of this module.
MARGIN_LOSSES = {
    "logistic": (logistic_margin_loss, logistic_margin_derivative),
    "exponential": (exponential_margin_loss, exponential_margin_derivative),
    "hinge": (hinge_margin_loss, hinge_margin_derivative),
    "squared_hinge": (squared_hinge_margin_loss, squared_hinge_margin_derivative),
    "perceptron": (perceptron_margin_loss, perceptron_margin_derivative),
    "reversed_hinge": (reversed_hinge_margin_loss, reversed_hinge_margin_derivative),
    "sigmoid": (sigmoid_margin_loss, sigmoid_margin_derivative),
}

#: The classical convex calibrated losses (the fixed-loss baselines).
CLASSICAL = ("logistic", "exponential", "hinge", "squared_hinge")


def two_class_margin_loss(logits, labels, *, margin_loss: str):
    r"""A margin loss as a two-class loss on logits: :math:`\phi(f_y - f_{1-y})`.

    With two logits :math:`(f_0, f_1)`, label :math:`y \in \{0, 1\}` and the binary score :math:`f = f_1 - f_0`,
    the margin is :math:`z = (2y - 1) f = f_y - f_{1-y}`: the binary losses of this module take the shape of
    the multi-class registry (``theory.losses``), shift invariant in the logits. The logistic entry is the
    two-class softmax cross-entropy. Input policy of the registry: a ``-inf`` logit on the other class is a
    masked class (the margin is ``+inf`` and the loss its limit, 0 for the convex decreasing losses).

    Args:
        logits: ``[..., 2]`` floating scores.
        labels: ``[...]`` integer labels in ``{0, 1}``.
        margin_loss: a name of :data:`MARGIN_LOSSES`.

    Returns:
        ``[...]`` per-example losses.

    References:
        Bartlett, Jordan, McAuliffe, JASA 2006 (margin losses :math:`\phi(y f(x))`); docs/ensloss.md, "Margin
        losses and the CC conditions".
    """
    loss = MARGIN_LOSSES[check_choice("margin_loss", margin_loss, tuple(MARGIN_LOSSES))][0]
    if jnp.shape(logits)[-1:] != (2,):
        raise ValueError(f"logits must have 2 classes (last axis) for a margin loss, got shape {jnp.shape(logits)}")
    f, y = check_loss_inputs(logits, labels)
    # f_y - f_{1-y} as a select between the two differences: elementwise, so it fuses with the loss (two
    # gathers of the label's and the other entry cost 3x the loss itself on a large batch)
    return loss(jnp.where(y == 1, f[..., 1] - f[..., 0], f[..., 0] - f[..., 1]))
