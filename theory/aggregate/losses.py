r"""Bag-level, instance-level and interpolated losses for any prediction function, and the regulariser.

For predictions :math:`f_i = f_\theta(x_i)`, aggregate responses :math:`\bar y_a` and bag means
:math:`\bar f_a = k^{-1}\sum_{i\in B_a} f_i`:

.. math::
    L_{bag} = \frac1m\sum_a \ell(\bar y_a, \bar f_a),\qquad
    L_{ins} = \frac1n\sum_a\sum_{i\in B_a}\ell(\bar y_a, f_i),\qquad
    L_\rho = (1-\rho)L_{bag} + \rho L_{ins}.

For the squared loss :math:`L_{ins} = L_{bag} + R` with the within-bag variance of the predictions
:math:`R = \frac1n\sum_a\sum_{i\in B_a}(f_i-\bar f_a)^2` (independent of the responses), so
:math:`L_\rho = L_{bag} + \rho R`. For a Bregman loss :math:`\ell(\bar y, f) = D_\phi(f, \bar y)` the same
holds with :math:`R_\phi = \frac1n\sum\sum D_\phi(f_i, \bar f_a)`; for any loss convex in the prediction
:math:`L_{ins} \ge L_{bag}` (Jensen). Losses follow the convention ``loss(y, f) -> per-element array``.

Concrete predictions and responses must be finite (NaN or inf raise eagerly); hyperparameters (``rho``,
``delta``) may be traced, and an invalid traced one gives NaN (docs/glossary.md#input-policy).

References:
    Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 2 ("instance-level loss = regularised
    bag-level loss"; as recalled); the exact forms are derived by the library:
    docs/aggregate.md#loss-identities.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import as_jit_input, check_real, is_traced, nan_unless
from theory.aggregate._checks import check_rho, integer_array, old_spellings, rho_valid
from theory.aggregate.bags import bag_means

__all__ = [
    "squared_loss",
    "huber_loss",
    "logistic_loss",
    "bregman_divergence",
    "bag_loss",
    "instance_loss",
    "interpolated_loss",
    "regulariser",
    "bregman_regulariser",
]


def squared_loss(y, f):
    r"""Squared loss :math:`\ell(y, f) = (y - f)^2` (the Bregman divergence of :math:`\phi(t) = t^2`).

    Example:
        >>> float(squared_loss(1.0, 3.0))
        4.0
    """
    return (jnp.asarray(y) - jnp.asarray(f)) ** 2


def huber_loss(y, f, *, delta=1.0):
    r"""Huber loss (cvxpy's convention): :math:`r^2` if :math:`|r| \le \delta`, else :math:`2\delta|r| - \delta^2`.

    Here :math:`r = y - f`.

    Example:
        >>> float(huber_loss(0.0, 3.0, delta=1.0))
        5.0
    """
    if is_traced(delta):
        r = jnp.abs(jnp.asarray(y) - jnp.asarray(f))
        return nan_unless(jnp.isfinite(delta) & (delta > 0.0), jnp.where(r <= delta, r**2, 2.0 * delta * r - delta**2))
    delta = check_real("delta", delta, low=0.0, low_open=True)
    return _huber_compiled(as_jit_input(y), as_jit_input(f), delta=delta)


def _huber(y, f, *, delta):
    r = jnp.abs(y - f)
    return jnp.where(r <= delta, r**2, 2.0 * delta * r - delta**2)


# jitted for eager calls: one compiled program per shape (and delta) instead of one per jnp operation
_huber_compiled = jax.jit(_huber, static_argnames=("delta",))


def logistic_loss(y, f):
    r"""Logistic loss with a soft label :math:`y \in [0, 1]`: :math:`\ell(y, f) = \log(1+e^f) - y f`.

    Example:
        >>> round(float(logistic_loss(1.0, 0.0)), 6)
        0.693147
    """
    f = jnp.asarray(f)
    return jax.nn.softplus(f) - jnp.asarray(y) * f


def bregman_divergence(phi):
    r"""The loss :math:`\ell(y, f) = D_\phi(f, y) = \phi(f) - \phi(y) - \phi'(y)(f - y)` of a convex :math:`\phi`.

    The prediction sits in the first slot (the slot where the compensation identity holds).

    Args:
        phi: a convex function applied elementwise (JAX-differentiable), e.g. ``jnp.exp``.

    Returns:
        ``loss(y, f)``, elementwise.

    Example:
        >>> float(bregman_divergence(lambda t: t**2)(1.0, 3.0))
        4.0
    """

    def loss(y, f):
        y, f, ones = _bregman_points(_float_arg(y), _float_arg(f))
        phi_y, dphi_y = jax.jvp(phi, (y,), (ones,))
        return _bregman_gap(phi(f), phi_y, dphi_y, f, y)

    return loss


def _float_arg(x):
    """``x`` for a jitted helper that takes it as a float array: an array as it is, anything else through
    ``jnp.asarray(x, float)`` (an integer NumPy array too: converted once, as before)."""
    if isinstance(x, jax.Array) or (isinstance(x, np.ndarray) and x.dtype in (np.float32, np.float64)):
        return x
    return jnp.asarray(x, float)


# The Bregman helpers are jitted around the user's phi (which runs as it is): one compiled program per shape each
# instead of one per jnp operation.
@jax.jit
def _bregman_points(y, f):
    y, f = jnp.broadcast_arrays(jnp.asarray(y, float), jnp.asarray(f, float))
    return y, f, jnp.ones_like(y)


@jax.jit
def _bregman_gap(phi_f, phi_y, dphi_y, f, y):
    return phi_f - phi_y - dphi_y * (f - y)


def _finite(name, x):
    """``x`` as an array (:func:`~theory._validation.as_jit_input`); a concrete one must be finite (NaN or inf
    raise)."""
    x = as_jit_input(x)
    if not is_traced(x) and not np.all(np.isfinite(np.asarray(x))):
        raise ValueError(f"{name} must be finite (got NaN or inf)")
    return x


def _compiled(loss, bags) -> bool:
    """Whether the jitted core applies: a library loss (traceable, a stable static argument) and integer array bag
    ids (other bag ids keep the eager path and its errors)."""
    return any(loss is known for known in (squared_loss, huber_loss, logistic_loss)) and integer_array(bags)


def _responses(y_bar):
    """The checked aggregate responses (as :func:`_finite`) and their number m."""
    y_bar = _finite("y_bar", y_bar)
    if y_bar.ndim != 1:
        raise ValueError(f"y_bar must be 1-D (one aggregate response per bag), got shape {y_bar.shape}")
    return y_bar, y_bar.shape[0]


def bag_loss(predictions, y_bar, bags, *, loss=squared_loss):
    r"""Bag-level loss :math:`L_{bag} = m^{-1}\sum_a \ell(\bar y_a, \bar f_a)`.

    Args:
        predictions: :math:`f_\theta(x_i)`, shape (n,).
        y_bar: aggregate responses, shape (m,).
        bags: bag id of each row, shape (n,), values in ``0..m-1``.
        loss: ``loss(y, f) -> per-element`` (default squared).

    Returns:
        Scalar.

    Example:
        >>> float(bag_loss(jnp.array([0.0, 2.0]), jnp.array([2.0]), jnp.array([0, 0])))
        1.0

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 2 (as recalled): docs/aggregate.md#loss-identities.
    """
    y, m = _responses(y_bar)
    f = _finite("predictions", predictions)
    if _compiled(loss, bags):
        return _bag_loss_compiled(f, y, bags, num_bags=m, loss=loss)
    return _bag_loss(f, y_bar, bags, num_bags=m, loss=loss)


def _bag_loss(f, y_bar, bags, *, num_bags, loss):
    return jnp.mean(loss(y_bar, bag_means(f, bags, num_bags=num_bags)))


# jitted for eager calls with a library loss: one compiled program per shape instead of one per jnp operation
_bag_loss_compiled = jax.jit(_bag_loss, static_argnames=("num_bags", "loss"))


def instance_loss(predictions, y_bar, bags, *, loss=squared_loss):
    r"""Instance-level loss :math:`L_{ins} = n^{-1}\sum_a\sum_{i\in B_a}\ell(\bar y_a, f_i)`.

    Each row is scored against its bag's aggregate response.

    Args:
        predictions: shape (n,).
        y_bar: shape (m,).
        bags: shape (n,).
        loss: ``loss(y, f)``.

    Returns:
        Scalar.

    Example:
        >>> float(instance_loss(jnp.array([0.0, 2.0]), jnp.array([2.0]), jnp.array([0, 0])))
        2.0

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 2 (as recalled): docs/aggregate.md#loss-identities.
    """
    y, _ = _responses(y_bar)
    if _compiled(loss, bags):
        return _instance_loss_compiled(_finite("predictions", predictions), y, bags, loss=loss)
    rows = _rows_compiled(y, bags) if integer_array(bags) else _rows(y, bags)
    return jnp.mean(loss(rows, jnp.asarray(_finite("predictions", predictions))))


def _rows(y_bar, bags):
    """Each row's aggregate response."""
    return jnp.asarray(y_bar)[jnp.asarray(bags)]


# jitted for eager calls with a user's loss (which runs as it is): one compiled program per shape, not one per
# jnp operation of the indexing
_rows_compiled = jax.jit(_rows)


def _instance_loss(f, y_bar, bags, *, loss):
    return jnp.mean(loss(_rows(y_bar, bags), f))


# jitted for eager calls with a library loss: one compiled program per shape instead of one per jnp operation
_instance_loss_compiled = jax.jit(_instance_loss, static_argnames=("loss",))


def interpolated_loss(predictions, y_bar, bags, *, rho, loss=squared_loss, allow_extrapolation=False):
    r"""Interpolating loss :math:`L_\rho = (1-\rho)L_{bag} + \rho L_{ins}`.

    For the squared loss it equals :math:`L_{bag} + \rho R`.

    Args:
        predictions: shape (n,).
        y_bar: shape (m,).
        bags: shape (n,).
        rho: weight in [0, 1] (0: bag level, 1: instance level); > 1 only with ``allow_extrapolation``
            (a traced rho outside the range gives NaN).
        loss: ``loss(y, f)``.
        allow_extrapolation: accept rho > 1 (then :math:`L_\rho` is convex only for the squared loss).

    Returns:
        Scalar.

    Example:
        >>> float(interpolated_loss(jnp.array([0.0, 2.0]), jnp.array([2.0]), jnp.array([0, 0]), rho=0.5))
        1.5

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 2 (as recalled): docs/aggregate.md#loss-identities.
    """
    rho = check_rho(rho, allow_extrapolation)
    value = (1.0 - rho) * bag_loss(predictions, y_bar, bags, loss=loss) + rho * instance_loss(
        predictions, y_bar, bags, loss=loss)
    return nan_unless(rho_valid(jnp, rho, allow_extrapolation), value) if is_traced(rho) else value


@old_spellings(n_bags="num_bags")
def regulariser(predictions, bags, *, num_bags):
    r"""Within-bag variance of the predictions :math:`R = n^{-1}\sum_a\sum_{i\in B_a}(f_i - \bar f_a)^2 \ge 0`.

    :math:`L_{ins} = L_{bag} + R` exactly for the squared loss; R does not depend on the responses and
    vanishes iff the predictions are constant in every bag (always for k = 1).

    Args:
        predictions: shape (n,).
        bags: shape (n,).
        num_bags: m (static; ``n_bags`` is its deprecated spelling).

    Returns:
        Scalar.

    Example:
        >>> float(regulariser(jnp.array([0.0, 2.0]), jnp.array([0, 0]), num_bags=1))
        1.0

    References:
        Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 2 (as recalled); the exact form:
        docs/aggregate.md#loss-identities.
    """
    f = _finite("predictions", predictions)
    if integer_array(bags) and isinstance(num_bags, numbers.Integral):
        return _regulariser_compiled(f, bags, num_bags=num_bags)
    return _regulariser(jnp.asarray(f), bags, num_bags=num_bags)


def _regulariser(f, bags, *, num_bags):
    return jnp.mean((f - bag_means(f, bags, num_bags=num_bags)[jnp.asarray(bags)]) ** 2)


# jitted for eager calls: one compiled program per shape instead of one per jnp operation
_regulariser_compiled = jax.jit(_regulariser, static_argnames=("num_bags",))


@old_spellings(n_bags="num_bags")
def bregman_regulariser(predictions, bags, *, num_bags, phi):
    r"""Bregman compensation term :math:`R_\phi = n^{-1}\sum_a\sum_{i\in B_a} D_\phi(f_i, \bar f_a)`.

    For :math:`\ell = ` :func:`bregman_divergence` ``(phi)``, :math:`L_{ins} = L_{bag} + R_\phi`.

    Args:
        predictions: shape (n,).
        bags: shape (n,).
        num_bags: m (static; ``n_bags`` is its deprecated spelling).
        phi: the convex generator.

    Returns:
        Scalar.

    Example:
        >>> float(bregman_regulariser(jnp.array([0.0, 2.0]), jnp.array([0, 0]), num_bags=1, phi=lambda t: t**2))
        1.0

    References:
        The Bregman compensation identity, derived by the library: docs/aggregate.md#loss-identities.
    """
    f = _finite("predictions", predictions)
    if integer_array(bags) and isinstance(num_bags, numbers.Integral):
        f, means = _bag_means_at_rows_compiled(f, bags, num_bags=num_bags)
    else:
        f, means = _bag_means_at_rows(f, bags, num_bags=num_bags)
    return jnp.mean(bregman_divergence(phi)(means, f))


def _bag_means_at_rows(f, bags, *, num_bags):
    """``f`` as a float array and its bag mean at each row."""
    f = jnp.asarray(f, float)
    return f, bag_means(f, bags, num_bags=num_bags)[jnp.asarray(bags)]


# jitted for eager calls (the user's phi runs as it is): one compiled program per shape, not one per jnp operation
_bag_means_at_rows_compiled = jax.jit(_bag_means_at_rows, static_argnames=("num_bags",))
