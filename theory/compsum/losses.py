r"""The comp-sum loss family :math:`\ell^\tau`, :math:`\tau \ge 0`.

.. math::

    \Phi^\tau(u) = \int_0^u (1+v)^{-\tau}\,dv =
        \begin{cases} \log(1+u) & \tau = 1 \\ \frac{(1+u)^{1-\tau}-1}{1-\tau} & \tau \ne 1 \end{cases}
    \qquad
    \ell^\tau(h, y) = \Phi^\tau\Big(\sum_{y' \ne y} e^{h_{y'} - h_y}\Big) = \Psi_\tau(S_y(h)).

``tau = 0`` is the sum-exponential loss, ``tau = 1`` the logistic (softmax cross-entropy) loss,
``1 < tau < 2`` generalized cross-entropy with ``q = tau - 1``, ``tau = 2`` mean absolute error
(``1 - S_y``). As ``tau -> inf`` the loss tends to 0 (``0 <= l^tau <= 1/(tau - 1)``): that limit is the
zero loss, not a member of the family, so ``tau = inf`` is rejected ("tau must be a finite number in
[0, inf)"). Every member is registered in :mod:`theory.losses` with its properties.

References:
    Mao, Mohri, Zhong, *Cross-Entropy Loss Functions: Theoretical Analysis and Applications*,
    ICML 2023 (arXiv 2304.07288), Section 3 (the comp-sum family).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import check_loss_inputs, check_real, is_traced, nan_unless
from theory.logspace import log1p

__all__ = ["comp_sum_loss", "comp_sum_phi", "comp_sum_psi", "neg_log_softmax_at"]


def _check_tau(tau):
    """A concrete ``tau`` checked in ``[0, inf)``; a traced one is made NaN outside it (never a finite wrong loss)."""
    if is_traced(tau):
        return _nan_unless_valid_tau(tau)
    return check_real("tau", tau, low=0.0)


@jax.jit  # one compiled program per shape for eager (e.g. grad in tau) calls; inlined under a caller's jit
def _nan_unless_valid_tau(tau):
    return nan_unless((tau >= 0) & (tau < jnp.inf), tau)


def _phi_of_w(w, a, xp=jnp):
    """``Psi_tau`` written in ``w = -log S_y >= 0`` and ``a = 1 - tau``: ``expm1(a w) / a``.

    ``expm1`` has no cancellation, so only ``a == 0`` (logistic) needs its own branch.
    """
    zero = a == 0
    a_safe = xp.where(zero, 1.0, a)
    return xp.where(zero, w, xp.expm1(a * w) / a_safe)


def _dphi_da(w, a):
    """d/da of ``expm1(a w)/a``, with its series ``w^2 (1/2 + x/3 + x^2/8)`` for small ``x = a w``."""
    x = a * w
    small = jnp.abs(x) < 1e-3
    a_safe = jnp.where(small, 1.0, a)
    exact = (x * jnp.exp(x) - jnp.expm1(x)) / (a_safe * a_safe)
    series = w * w * (0.5 + x / 3.0 + x * x / 8.0)
    return jnp.where(small, series, exact)


def _without_label(values, labels):
    """``values [..., n]`` with the label's entry set to 0 (a scatter of one entry per row: no mask over the row)."""
    return jnp.put_along_axis(values, labels[..., None], jnp.zeros((), values.dtype), axis=-1, inplace=False)


def _lse_parts(logits, labels):
    """``(m, L, e)`` with ``w = m + L = logsumexp_k(h_k - h_y) = -log S_y``: one max and one exponential pass.

    With ``M = max_k h_k``, ``m = M - h_y = max_k (h_k - h_y) >= 0``, ``e_k = e^{h_k - M}`` for ``k != y`` and
    ``e_y = 0`` (set by a scatter, so the sum excludes the label exactly), ``s = sum_k e_k`` and
    ``L = log1p(expm1(-m) + s)``. For a confident prediction (``m = 0``) ``w = log1p(s)`` keeps full relative
    precision where ``log(1 + s)`` would not. An infinite logit lets the sum carry the infinity; an infinite
    true-class logit gives ``w = 0``.
    """
    zero = jnp.zeros((), logits.dtype)
    h_y = jnp.take_along_axis(logits, labels[..., None], axis=-1)[..., 0]
    top = jnp.max(logits, axis=-1)
    e = _without_label(jnp.exp(logits - jnp.where(jnp.isfinite(top), top, zero)[..., None]), labels)
    m = jnp.where(top == h_y, zero, top - h_y)
    log_sum = jnp.where(h_y == jnp.inf, zero, log1p(jnp.expm1(-m) + jnp.sum(e, axis=-1)))
    return m, log_sum, e


def neg_log_softmax_at(logits, labels):
    """``w = logsumexp(h) - h_y = -log S_y(h)``, computed from differences ``h_k - h_y``.

    Working with differences keeps the loss exactly shift invariant and finite for logits of any
    magnitude; an infinite true-class logit gives ``w = 0``.
    """
    m, log_sum, _ = _lse_parts(logits, labels)
    return m + log_sum


@jax.custom_jvp
def _comp_sum(logits, labels, a):
    return _phi_of_w(neg_log_softmax_at(logits, labels), a)


@_comp_sum.defjvp
def _comp_sum_jvp(primals, tangents):
    # grad_h l = S_y^{tau-1} (S - e_y) = e^{(1-tau) w} (S - e_y). For k != y it is c e_k with the per-row
    # c = e^{(1-tau) w - L} and the e_k of the value pass (no second exponential pass); for k = y,
    # S_y - 1 = expm1(-w) (no cancellation for confident predictions) enters through the label's tangent,
    # so reverse mode is one scaled copy of e plus a scatter at the label, as for cross-entropy. An
    # overflowing c (tau < 1, huge margins) times an exact zero gives 0, not NaN.
    logits, labels, a = primals
    dlogits, _, da = tangents
    m, log_sum, e = _lse_parts(logits, labels)
    w = m + log_sum
    loss = _comp_sum(logits, labels, a)
    zero = jnp.zeros((), logits.dtype)
    g_y = jnp.where(w == 0, zero, jnp.exp(a * w) * jnp.expm1(-w))
    g_rest = jnp.where(e == 0, zero, jnp.exp(a * w - log_sum)[..., None] * e)
    d_y = jnp.take_along_axis(dlogits, labels[..., None], axis=-1)[..., 0]
    dlda = jnp.where(jnp.isfinite(loss), jnp.nan_to_num(_dphi_da(w, a)), zero)
    tangent = jnp.sum(g_rest * dlogits, axis=-1) + g_y * d_y + dlda * da
    return loss, tangent


#: One compiled program per shape for eager calls (inside a caller's ``jit`` it is inlined): an eager call
#: otherwise compiles and dispatches each of the dozen operations of the value and the JVP on its own.
_comp_sum_compiled = jax.jit(_comp_sum)


def comp_sum_loss(logits, labels, *, tau):
    r"""Per-example comp-sum loss :math:`\ell^\tau(h, y) = \Psi_\tau(S_y(h))`.

    .. math::

        \ell^\tau(h, y) = \frac{\exp\big((1-\tau)\,w\big) - 1}{1-\tau},
        \qquad w = \operatorname{logsumexp}(h) - h_y = -\log S_y(h),

    with :math:`\ell^1 = w` (cross-entropy). Stable for any logits: the loss is shift invariant,
    finite wherever its true value is, and ``+inf`` (never NaN) when it overflows for ``tau < 1``.
    One max and one exponential pass over the logits, as for cross-entropy (the label's term leaves the sum
    by a scatter). The gradient is :math:`S_y^{\tau-1}(S - e_y)`, written as a custom JVP with the same
    guarantees that reuses the exponentials of the value.

    Input policy (that of :mod:`theory.losses`): NaN logits raise; a ``-inf`` logit on a non-target class
    (a masked class, as in optax) is accepted and gives the limit (the class drops out of the softmax;
    its gradient entry is 0); any other infinite logit raises. ``tau = inf`` is rejected: the limit of
    the family is the zero loss.

    Args:
        logits: floating array ``[..., n]`` of scores ``h(x, .)``.
        labels: integer array ``[...]`` with values in ``{0, ..., n-1}``.
        tau: the family parameter, ``0 <= tau < inf`` (may be traced to sweep without recompiling; a
            traced ``tau`` outside that range gives NaN).

    Returns:
        Array ``[...]`` of per-example losses (the caller reduces, as in optax).

    Examples:
        >>> import jax.numpy as jnp
        >>> round(float(comp_sum_loss(jnp.array([1.0, -0.5, 2.0]), jnp.array(0), tau=2.0)), 6)
        0.746284

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Eq. (1)-(2), the comp-sum losses.
    """
    tau = _check_tau(tau)
    logits, labels = check_loss_inputs(logits, labels)
    a = jnp.asarray(1.0 - tau, dtype=logits.dtype)
    return _comp_sum_compiled(logits, labels, a)


def comp_sum_phi(u, *, tau):
    r""":math:`\Phi^\tau(u) = \int_0^u (1+v)^{-\tau} dv` for ``u >= 0``, in float64.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), the comp-sum definition.
    """
    tau = check_real("tau", tau, low=0.0)
    u = np.asarray(u, dtype=np.float64)
    if np.any(~(u >= 0)):
        raise ValueError("u must be >= 0 (a sum of exponentials)")
    return _phi_of_w(np.log1p(u), 1.0 - tau, xp=np)


def comp_sum_psi(s, *, tau):
    r""":math:`\Psi_\tau(s) = \ell^\tau` as a function of the softmax value :math:`s = S_y \in (0, 1]`, float64.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), softmax form of the comp-sum losses.
    """
    tau = check_real("tau", tau, low=0.0)
    s = np.asarray(s, dtype=np.float64)
    if np.any(~((s >= 0) & (s <= 1))):
        raise ValueError("s must lie in [0, 1] (a softmax value)")
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # s = 0: w = inf, the loss is inf
        return _phi_of_w(-np.log(s), 1.0 - tau, xp=np)


def _loss_matrix_np(logits: np.ndarray, tau: float) -> np.ndarray:
    """float64 ``l^tau(h, y)`` for every label ``y``: shape ``[..., n]`` (internal, numpy)."""
    from scipy import special

    w = special.logsumexp(logits, axis=-1, keepdims=True) - logits
    w = np.maximum(w, 0.0)
    with np.errstate(over="ignore"):
        return _phi_of_w(w, 1.0 - tau, xp=np)
