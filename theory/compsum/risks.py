r"""Conditional risks, their infima and regrets, at one input with label distribution ``p``.

.. math::

    C_\tau(h, p) = \sum_y p_y\,\Psi_\tau(S_y(h)), \qquad
    \Delta C_\tau(h, p) = C_\tau(h, p) - C^*_\tau(p), \qquad
    \Delta C_{0-1}(h, p) = \max_y p_y - p_{\hat y(h)}.

The prediction :math:`\hat y(h)` breaks ties toward the **highest** index (``np.argmax`` picks
the lowest and is wrong here: the tightness constructions depend on the rule).

Concrete inputs are validated and evaluated in float64 NumPy; arrays broadcast over leading axes.
Under ``jit``/``vmap``/``grad`` (traced inputs) the same formulas run in ``jax.numpy``, in the dtype of
the inputs (float64 inside ``jax.enable_x64()``), and an invalid traced input gives NaN
(docs/glossary.md, "Input policy"). Only the box-bounded :math:`C^*` (``box=Lambda``) needs concrete
inputs: it is an exact enumeration in NumPy (:mod:`theory.compsum.box`).

References:
    Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4 (conditional risks and
    minimizability gaps); Awasthi, Mao, Mohri, Zhong, *Multi-Class H-Consistency Bounds*,
    NeurIPS 2022 (tie-breaking and symmetric hypothesis sets).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import check_array, check_real, check_simplex, is_traced, nan_unless
from theory.compsum import _kernels as K
from theory.compsum.box import box_cstar_rows

__all__ = [
    "predict",
    "conditional_risk",
    "min_conditional_risk",
    "surrogate_regret",
    "zero_one_regret",
]

def _tau(tau):
    """``tau >= 0``: checked when concrete; a traced scalar passes (``nan_unless`` guards it)."""
    if is_traced(tau):
        if jnp.ndim(tau) != 0:
            raise TypeError(f"tau must be a scalar, got shape {jnp.shape(tau)}")
        return tau
    return check_real("tau", tau, low=0.0)


def _check_p(p):
    if is_traced(p):
        if jnp.ndim(p) < 1 or jnp.shape(p)[-1] < 2:
            raise ValueError(f"p must have n >= 2 classes along its last axis, got shape {jnp.shape(p)}")
        return p
    p = check_simplex("p", p)
    if p.shape[-1] < 2:
        raise ValueError("p must have n >= 2 classes")
    return p


def _check_logits(logits):
    """Logits ``[..., n]``: NaN and ``+inf`` raise; ``-inf`` (a masked class) is allowed."""
    if is_traced(logits):
        return logits
    h = check_array("logits", logits, allow_inf=True)
    if np.any(h == np.inf):
        raise ValueError("logits must not contain +inf (-inf, a masked class, is allowed)")
    if h.ndim < 1:
        raise ValueError("logits must have shape [..., n] with n >= 2 classes, got a scalar")
    return h


def _check_pair(logits, p):
    h, p = _check_logits(logits), _check_p(p)
    if h.shape[-1] != p.shape[-1]:
        raise ValueError(f"logits and p must have the same number of classes, got {h.shape[-1]} and {p.shape[-1]}")
    if h.shape[-1] < 2:
        raise ValueError("the number of classes must be >= 2")
    return h, p


def predict(logits):
    """Predicted label ``argmax_y h_y`` with ties broken toward the highest index.

    Works on concrete arrays (NumPy result; NaN raises, ``+-inf`` is allowed) and traced ones
    (``jax.numpy`` result).

    Examples:
        >>> int(predict([0.0, 0.0, -1.0]))
        1

    References:
        Awasthi, Mao, Mohri, Zhong, NeurIPS 2022, the deterministic tie-breaking convention.
    """
    if is_traced(logits):
        return K.predict_index(jnp.asarray(logits), jnp)
    h = check_array("logits", logits, allow_inf=True)
    if h.ndim < 1:
        raise ValueError("logits must have shape [..., n], got a scalar")
    return K.predict_index(h, np)


def conditional_risk(logits, p, *, tau):
    r""":math:`C_\tau(h, p) = \sum_y p_y \ell^\tau(h, y)` in float64 (``0 \cdot \infty = 0``).

    Args:
        logits: scores ``[..., n]`` (NaN and ``+inf`` raise; ``-inf``, a masked class, is allowed).
        p: label distribution(s) ``[..., n]`` on the simplex.
        tau: comp-sum parameter, ``tau >= 0``.

    Returns:
        ``C_tau`` of shape ``[...]``. Under ``jit``/``vmap``/``grad`` the same formula runs in ``jax.numpy``;
        an invalid traced ``tau`` or ``p`` gives NaN.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4.
    """
    tau = _tau(tau)
    h, p = _check_pair(logits, p)
    xp = K.namespace(h, p, tau)
    if xp is np:
        return K.conditional_risk(h, p, tau, np)
    h, p = jnp.asarray(h), jnp.asarray(p)
    value = K.conditional_risk(h, p, jnp.asarray(tau, jnp.result_type(h, p))[..., None], jnp)
    return nan_unless((tau >= 0) & K.simplex_ok(p), value)


def min_conditional_risk(p, *, tau, box=None):
    r"""The best-in-class conditional risk :math:`C^*_\tau(p) = \inf_h C_\tau(h, p)`.

    Complete hypothesis sets (``box=None``):

    .. math::

        C^*_\tau(p) = \begin{cases}
            -\sum_y p_y \log p_y & \tau = 1 \\
            \frac{(\sum_y p_y^{1/(2-\tau)})^{2-\tau} - 1}{1-\tau} & \tau \in [0,2),\ \tau \ne 1 \\
            \frac{1 - \max_y p_y}{\tau - 1} & \tau \ge 2
        \end{cases}

    evaluated without cancellation near ``tau = 1`` or underflow near ``tau = 2``
    (docs/compsum.md#minimal-conditional-risk). It works under ``jit``, ``vmap`` and ``grad`` (in ``p`` and
    ``tau``): traced inputs run the same formulas in ``jax.numpy`` and an invalid traced value gives NaN.

    Box-bounded scores :math:`|h_y| \le \Lambda` (``box=Lambda``): the minimum over the softmax
    polytope :math:`\{S \in \Delta_n : S_i \le e^{2\Lambda} S_j\}`, solved exactly by enumerating the
    KKT patterns (``tau < 2``) or the vertices (``tau > 2``) in NumPy: this case needs concrete inputs
    and cannot be traced. ``box=inf`` is the complete case.

    Args:
        p: label distribution(s) ``[..., n]``.
        tau: comp-sum parameter, ``tau >= 0``.
        box: ``None`` / ``inf`` (complete) or the score bound ``Lambda >= 0``.

    Returns:
        :math:`C^*_\tau(p)` of shape ``[...]`` (a value, as in every topic).

    Examples:
        >>> round(float(min_conditional_risk([0.5, 0.3, 0.2], tau=1.5)), 12)
        0.767117199406

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 4 (minimizability gaps of comp-sum
        losses); NeurIPS 2023 (bounded hypothesis sets).
    """
    tau = _tau(tau)
    p = _check_p(p)
    lam = None if box is None else check_real("box", box, low=0.0, allow_inf=True)
    if lam is not None and not np.isinf(lam):
        if K.namespace(p, tau) is jnp:
            raise TypeError("min_conditional_risk with a finite box is an exact enumeration in NumPy: "
                            "p and tau must be concrete (not traced by jit/vmap/grad)")
        return box_cstar_rows(p.reshape(-1, p.shape[-1]), tau, lam).reshape(p.shape[:-1])
    if K.namespace(p, tau) is np:
        return K.min_risk_complete(p, tau, np)
    p = jnp.asarray(p)
    if not jnp.issubdtype(p.dtype, jnp.floating):
        p = p.astype(jnp.result_type(float))
    return _min_conditional_risk_jnp(p, tau)


@jax.jit  # one compiled program per shape for eager (e.g. vmapped) calls; inlined under a caller's jit
def _min_conditional_risk_jnp(p, tau):
    value = K.min_risk_complete(p, jnp.broadcast_to(jnp.asarray(tau, p.dtype), p.shape[:-1]), jnp)
    return nan_unless((tau >= 0) & K.simplex_ok(p), value)


def surrogate_regret(logits, p, *, tau, box=None):
    r""":math:`\Delta C_\tau(h, p) = C_\tau(h, p) - C^*_\tau(p)` (``>= 0``); traceable for ``box=None``."""
    return conditional_risk(logits, p, tau=tau) - min_conditional_risk(p, tau=tau, box=box)


def zero_one_regret(logits, p):
    r""":math:`\Delta C_{0-1}(h, p) = \max_y p_y - p_{\hat y(h)}` for symmetric hypothesis sets.

    Traceable (``jit``/``vmap``); piecewise constant in the logits.

    References:
        Awasthi, Mao, Mohri, Zhong, NeurIPS 2022, Lemma (zero-one conditional regret).
    """
    h, p = _check_pair(logits, p)
    xp = K.namespace(h, p)
    if xp is np:
        return K.zero_one_regret(h, p, np)
    p = jnp.asarray(p)
    return nan_unless(K.simplex_ok(p), K.zero_one_regret(jnp.asarray(h), p, jnp))
