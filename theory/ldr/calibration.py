r"""Conditional risks of LDR-KL, calibration gaps by convex programming, closed forms and predicates.

The conditional risk at a label distribution :math:`q \in \Delta_K` is
:math:`L(f; q) = \sum_y q_y\,\psi_\lambda(f, y)`, and the calibration gap of a pair with
:math:`q_i > q_j` is

.. math::

    \delta_{ij}(q) = \inf_{f \in D:\, f_i \le f_j} L(f; q) - \inf_{f\in D} L(f; q) \;\ge 0 .

Rank (All-k) calibration asks :math:`\delta_{ij} > 0` for every such pair. Domains ``D``: ``"free"``
(:math:`\mathbb 1^\top f = 0`, with a box :math:`|f| \le 60\max(\lambda, 1)` against near-degenerate
``q``), ``"simplex"`` (the authors' normalised scores :math:`f \ge 0,\ \mathbb 1^\top f = K`) and
``("box", B)`` (:math:`0 \le f \le B`).

What the numerics and the library's derivations support (the paper's theorem texts were not
available; ``docs/ldr.md``, "Calibration and robustness conditions" and "Derivations"):

* uniform margins, :math:`0 < \lambda < \infty`, free domain: rank calibrated (swap argument);
* class-dependent margins: not rank calibrated in general (a counterexample);
* :math:`\lambda = 0` (Crammer-Singer): top-1 gap :math:`c(2q_{max} - 1)_+`, zero unless :math:`q_{max} > 1/2`;
* :math:`\lambda = \infty` on the bounded domain: top-1 calibrated, not top-2 (a symmetric loss);
* finite large :math:`\lambda` on the bounded domain: rank calibration can fail (a finding).

Two kinds of functions, and what they support:

* **Closed forms** (:func:`conditional_risk`, :func:`min_risk_zero_margin`, :func:`cs_top1_gap`,
  :func:`cs_min_risk`, :func:`symmetric_gap_bounded`, :func:`symmetric_sum`, :func:`symmetry_bounds`,
  :func:`noise_excess_bound`, :func:`noisy_posterior`) are written in ``jax.numpy`` and work under
  ``jit``, ``vmap`` and ``grad``. A call on concrete inputs validates them (NaN and out-of-range values
  raise ``ValueError`` naming the parameter) and computes in float64, returning a Python float or a
  NumPy float64 array. Under a transformation the same formula runs in the traced dtype (float32 by
  default, float64 inside ``jax.enable_x64()``), and an invalid traced value gives NaN, never a finite
  wrong number.
* **Convex programs** (:func:`min_conditional_risk`, :func:`conditional_risk_minimiser`,
  :func:`calibration_gap`) solve the minimisation with cvxpy (CLARABEL) in NumPy float64. A conic
  solver cannot be traced, so they run eagerly only, and raise ``TypeError`` under ``jit``/``vmap``/
  ``grad``; sweep the closed forms instead. cvxpy is imported on their first call.

References:
    Zhu, Ying, Yang, *Label Distributionally Robust Losses for Multi-class Classification: Consistency,
    Robustness and Adaptivity*, ICML 2023 (arXiv 2112.14869), consistency and robustness results (as
    recalled; the abstract's "top-k consistency for all k"); Zhang, *Statistical Analysis of Some
    Multi-Category Large Margin Classification Methods*, JMLR 2004 (Crammer-Singer); Ghosh, Kumar, Sastry,
    *Robust Loss Functions under Label Noise for Deep Neural Networks*, AAAI 2017 (symmetric losses);
    ``docs/ldr.md``, "Derivations".
"""

from __future__ import annotations

import functools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import (
    check_choice,
    check_int,
    check_real,
    check_simplex,
    is_traced,
    nan_unless,
    renamed_argument,
)
from theory.ldr.losses import check_margin, ldr_kl_loss, margin_vector

__all__ = [
    "conditional_risk",
    "min_conditional_risk",
    "conditional_risk_minimiser",
    "calibration_gap",
    "min_risk_zero_margin",
    "cs_top1_gap",
    "cs_min_risk",
    "symmetric_gap_bounded",
    "is_uniform_margin",
    "is_rank_calibrated",
    "is_top1_calibrated",
    "is_symmetric",
    "symmetric_sum",
    "symmetry_bounds",
    "noise_excess_bound",
    "noisy_posterior",
]


# ---------------------------------------------------------------------------------------------
# The input policy of the closed forms: concrete inputs checked eagerly and computed in float64,
# traced ones computed in their own dtype with NaN where they are invalid.


def _concrete(*xs) -> bool:
    return not any(is_traced(x) for x in jax.tree_util.tree_leaves(xs))


def _real(name, x, *, low=None, high=None, low_open=False, high_open=False, allow_inf=False):
    """``(value, valid)``: a concrete ``x`` checked by :func:`check_real` (``valid`` is True), a traced one
    unchanged with the mask of the same conditions (NaN fails every comparison)."""
    if not is_traced(x):
        return check_real(name, x, low=low, high=high, low_open=low_open, high_open=high_open,
                          allow_inf=allow_inf), True
    valid = ~jnp.isnan(x)
    if not allow_inf:
        valid &= jnp.isfinite(x)
    if low is not None:
        valid &= (x > low) if low_open else (x >= low)
    if high is not None:
        valid &= (x < high) if high_open else (x <= high)
    return x, valid


def _distribution(name, q):
    """``(q, valid)`` for a label distribution ``[..., K]``: concrete rows checked by :func:`check_simplex`;
    traced rows valid when non-negative and summing to 1 within the square root of the dtype's epsilon."""
    if not is_traced(q):
        dtype = np.asarray(q).dtype
        low_precision = np.issubdtype(dtype, np.floating) and np.finfo(dtype).eps > 1e-15  # float32 input
        return check_simplex(name, q, atol=math.sqrt(np.finfo(dtype).eps) if low_precision else 1e-9), True
    tol = math.sqrt(float(jnp.finfo(q.dtype).eps))
    return q, jnp.all(q >= 0, axis=-1) & (jnp.abs(jnp.sum(q, axis=-1) - 1) <= tol)


def _scores(name, f):
    """``(f, valid)`` for scores ``[..., K]`` (finite reals, ``K >= 2``)."""
    if not is_traced(f):
        arr = np.asarray(f)
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{name} must be a real array [..., K], got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
        if arr.ndim < 1 or arr.shape[-1] < 2:
            raise ValueError(f"{name} must have shape [..., K] with K >= 2 classes, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite (got inf or NaN)")
        return arr, True
    return f, jnp.all(jnp.isfinite(f), axis=-1)


def _evaluate(formula, args, valid):
    """``formula(*args)`` (a jitted core, so that eager calls in a loop stay cheap): in float64 on concrete
    inputs (returned as a Python float or a NumPy float64 array, tuples element-wise), otherwise in the
    traced dtype with NaN where ``valid`` fails."""
    if _concrete(args, valid):
        with jax.enable_x64(True):
            out = formula(*(np.asarray(a, np.float64) for a in args))
            return jax.tree_util.tree_map(lambda v: float(v) if np.ndim(v) == 0 else np.asarray(v, np.float64), out)
    return jax.tree_util.tree_map(lambda v: nan_unless(valid, v), formula(*(jnp.asarray(a) for a in args)))


def _margin_matrix(margin, K, dtype, xp=jnp):
    """The ``[K, K]`` margin matrix of a scalar ``c`` (``c (11^T - I)``) or of a matrix (unchanged); ``xp`` is
    ``jax.numpy`` or ``numpy``."""
    m = xp.asarray(margin, dtype)
    return m * (1.0 - xp.eye(K, dtype=dtype)) if m.ndim == 0 else m


def _check_margin(margin, K, *, quiet=False):
    """A concrete margin checked like :func:`~theory.ldr.ldr_kl_loss` does (scalar or ``[K, K]``, finite, zero
    diagonal); ``quiet`` drops the warning on negative margins (the predicates answer False there)."""
    if not quiet:
        return check_margin(margin, K)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return check_margin(margin, K)


def _require_concrete(owner, *xs):
    if not _concrete(*xs):
        raise TypeError(f"{owner} solves a convex program with cvxpy (NumPy float64) and cannot run under "
                        "jit, vmap or grad; its closed-form special cases (min_risk_zero_margin, cs_min_risk, "
                        "cs_top1_gap, symmetric_gap_bounded) can")


# ---------------------------------------------------------------------------------------------
# conditional risk (closed form in the scores)


def _per_label(f):
    """``(logits [..., K, K], labels [..., K])``: the scores repeated once per label ``y``."""
    K = f.shape[-1]
    logits = jnp.broadcast_to(f[..., None, :], (*f.shape[:-1], K, K))
    return logits, jnp.broadcast_to(jnp.arange(K), logits.shape[:-1])


@jax.jit
def _risk_core(f, q, lam, margin):
    return jnp.sum(q * ldr_kl_loss(*_per_label(f), lam=lam, margin=margin), axis=-1)


def conditional_risk(f, q, *, lam, margin=0.0):
    r"""The conditional risk :math:`L(f; q) = \sum_y q_y\,\psi_\lambda(f, y)` of LDR-KL.

    Args:
        f: scores ``[..., K]`` (finite).
        q: label distribution ``[K]`` (or ``[..., K]`` broadcasting against ``f``).
        lam: ``lambda >= 0``; ``0`` (Crammer-Singer) and ``inf`` (the symmetric mean) are the limits.
        margin: scalar ``c`` or a ``[K, K]`` margin matrix, as in :func:`~theory.ldr.ldr_kl_loss`.

    Returns:
        ``[...]``: a Python float for one concrete score vector, a NumPy float64 array for a batch, a JAX
        array under ``jit``/``vmap``/``grad`` (NaN where ``q``, ``lam`` or ``f`` is invalid).

    Examples:
        >>> round(float(conditional_risk([0.0, 0.0, 0.0], [0.5, 0.3, 0.2], lam=1.0)), 12)
        0.0

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), the conditional risk of a loss in the consistency
        analysis; ``docs/ldr.md``, "The objects".
    """
    f, f_ok = _scores("f", f)
    q, q_ok = _distribution("q", q)
    lam, lam_ok = _real("lam", lam, low=0.0, allow_inf=True)
    if not is_traced(margin):
        margin = _check_margin(margin, np.shape(f)[-1])
    return _evaluate(_risk_core, (f, q, lam, margin), f_ok & q_ok & lam_ok)


# ---------------------------------------------------------------------------------------------
# minimum conditional risk by convex programming (cvxpy; NumPy only)


def _check_domain(domain):
    if domain in ("free", "simplex"):
        return domain
    if isinstance(domain, tuple) and len(domain) == 2 and domain[0] == "box":
        return ("box", check_real("B", domain[1], low=0.0, low_open=True))
    raise ValueError(f"domain must be 'free', 'simplex' or ('box', B), got {domain!r}")


def _domain_constraints(cp, f, K, lam, domain):
    if domain == "free":
        bound = 60.0 * max(lam if math.isfinite(lam) else 1.0, 1.0)
        return [cp.sum(f) == 0, f <= bound, f >= -bound]
    if domain == "simplex":
        return [f >= 0, cp.sum(f) == K]
    return [f >= 0, f <= domain[1]]


def _solve_min_risk(owner, q, lam, margin, domain, order):
    """``(value, f)`` of :math:`\\inf_{f\\in D} L(f; q)` (optionally on :math:`f_i \\le f_j`) by CLARABEL."""
    _require_concrete(owner, q, lam, margin)
    q = check_simplex("q", q, ndim=1)
    K = q.size
    lam = check_real("lam", lam, low=0.0, allow_inf=True)
    domain = _check_domain(domain)
    if order is not None:
        i, j = (check_int(name, v, low=0, high=K - 1) for name, v in zip(("i", "j"), order, strict=True))
        if i == j:
            raise ValueError("order must name two different classes (i, j)")
    if domain == "free" and math.isinf(lam):
        raise ValueError("lam = inf needs a bounded domain ('simplex' or ('box', B)): the free risk is unbounded")
    C = _margin_matrix(_check_margin(margin, K), K, np.float64, np)
    import cvxpy as cp  # deferred: a second of import time, needed only here

    f = cp.Variable(K)
    terms = []
    for y in range(K):
        if q[y] == 0:
            continue
        a = C[:, y] + f - f[y]
        if lam == 0:
            t = cp.max(a)
        elif math.isinf(lam):
            t = cp.sum(a) / K
        else:
            t = lam * (cp.log_sum_exp(a / lam) - math.log(K))
        terms.append(q[y] * t)
    cons = _domain_constraints(cp, f, K, lam, domain)
    if order is not None:
        cons.append(f[i] <= f[j])
    prob = cp.Problem(cp.Minimize(sum(terms)), cons)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "may be inaccurate": the status is checked below
        prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
    if prob.status not in ("optimal", "optimal_inaccurate") or f.value is None:
        raise RuntimeError(f"conditional-risk program failed: status {prob.status}")
    fv = np.asarray(f.value, np.float64)
    return float(conditional_risk(fv, q, lam=lam, margin=C)), fv


def min_conditional_risk(q, *, lam, margin=0.0, domain="free", order=None, return_minimiser=False):
    r"""The minimum conditional risk :math:`\inf_{f\in D} L(f; q)`, by a convex program (CLARABEL).

    The risk is written with ``cp.log_sum_exp`` (finite :math:`\lambda`), ``cp.max`` (:math:`\lambda = 0`)
    or a mean (:math:`\lambda = \infty`; use a bounded domain there, the free risk is unbounded below).
    Its value is recomputed in float64 at the solver's minimiser.

    NumPy/cvxpy only: a conic solver cannot be traced, so this runs eagerly and raises ``TypeError``
    under ``jit``/``vmap``/``grad``. The closed-form special cases, which can, are
    :func:`min_risk_zero_margin` (``margin = 0``) and :func:`cs_min_risk` (``lam = 0``).

    Like ``theory.compsum.min_conditional_risk`` it returns the value. (Before, it returned
    ``(value, f)``; the minimiser is now :func:`conditional_risk_minimiser`, or
    ``return_minimiser=True``.)

    Args:
        q: label distribution ``[K]``.
        lam: ``lambda >= 0`` (``inf`` on a bounded domain only).
        margin: scalar ``c`` or a ``[K, K]`` margin matrix.
        domain: ``"free"``, ``"simplex"`` or ``("box", B)``.
        order: optional pair ``(i, j)``: minimise on :math:`f_i \le f_j` only.
        return_minimiser: also return the minimiser.

    Returns:
        The value (a float), or ``(value, f)`` with ``f`` float64 ``[K]`` when ``return_minimiser``.

    Examples:
        >>> round(min_conditional_risk([0.7, 0.2, 0.1], lam=0.0, margin=1.0), 6)
        0.6

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), conditional risks in the consistency analysis;
        ``docs/ldr.md``, "The objects".
    """
    value, f = _solve_min_risk("min_conditional_risk", q, lam, margin, domain, order)
    return (value, f) if return_minimiser else value


def conditional_risk_minimiser(q, *, lam, margin=0.0, domain="free", order=None):
    r"""A minimiser :math:`f^* \in \arg\min_{f\in D} L(f; q)` (float64 ``[K]``), by a convex program (CLARABEL).

    The same program as :func:`min_conditional_risk` (NumPy/cvxpy only, eager). With ``margin = 0`` on the
    free domain the minimiser is :math:`\lambda\log q` up to a constant shift (``docs/ldr.md``,
    "Derivations").

    Examples:
        >>> f = conditional_risk_minimiser([0.5, 0.3, 0.2], lam=1.0)
        >>> [round(float(x), 4) for x in f - f.mean()]
        [0.4757, -0.0351, -0.4406]

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869); ``docs/ldr.md``, "Derivations".
    """
    return _solve_min_risk("conditional_risk_minimiser", q, lam, margin, domain, order)[1]


def calibration_gap(q, i, j, *, lam, margin=0.0, domain="free"):
    r""":math:`\delta_{ij}(q) = \inf_{f_i\le f_j} L - \inf L` by two convex programs (float64).

    NumPy/cvxpy only (eager; ``TypeError`` under ``jit``/``vmap``/``grad``). Closed forms:
    :func:`cs_top1_gap` (``lam = 0``), :func:`symmetric_gap_bounded` (``lam = inf``, normalised scores).

    Examples:
        >>> round(calibration_gap([0.7, 0.2, 0.1], 0, 1, lam=0.0, margin=1.0), 6)
        0.4

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), rank (All-k) calibration; ``docs/ldr.md``,
        "Calibration and robustness conditions".
    """
    _require_concrete("calibration_gap", q, lam, margin)
    q = check_simplex("q", q, ndim=1)
    K = q.size
    i = check_int("i", i, low=0, high=K - 1)
    j = check_int("j", j, low=0, high=K - 1)
    if i == j:
        raise ValueError("i and j must differ")
    base = min_conditional_risk(q, lam=lam, margin=margin, domain=domain)
    return min_conditional_risk(q, lam=lam, margin=margin, domain=domain, order=(i, j)) - base


# ---------------------------------------------------------------------------------------------
# closed forms (jit / vmap / grad)


@jax.jit
def _min_risk_zero_margin(q, lam):
    K = q.shape[-1]
    return -lam * jnp.sum(jax.scipy.special.xlogy(q, K * q), axis=-1)


def min_risk_zero_margin(q, *, lam):
    r"""Closed form :math:`\inf_f L(f; q) = -\lambda\,\mathrm{KL}(q\Vert u)` for ``C = 0``.

    The minimiser is :math:`f^* = \lambda\log q` (up to a shift).

    Works under ``jit``/``vmap``/``grad`` (the input policy of the module docstring).

    Args:
        q: label distribution(s) ``[..., K]``.
        lam: ``0 <= lambda < inf``.

    Returns:
        ``[...]`` (a float for one distribution).

    Examples:
        >>> round(min_risk_zero_margin([0.5, 0.3, 0.2], lam=1.0), 10)
        -0.0689592746

    References:
        ``docs/ldr.md``, "Derivations" (minimum risk at zero margin); LDR-KL at ``lam = 1`` is cross-entropy
        minus log K (Zhu, Ying, Yang, ICML 2023, arXiv 2112.14869), whose minimum risk is the entropy.
    """
    q, q_ok = _distribution("q", q)
    lam, lam_ok = _real("lam", lam, low=0.0)
    return _evaluate(_min_risk_zero_margin, (q, lam), q_ok & lam_ok)


@jax.jit
def _cs_top1_gap(q, c):
    return c * jnp.maximum(2.0 * jnp.max(q, axis=-1) - 1.0, 0.0)


def cs_top1_gap(q, *, c):
    r"""Top-1 calibration gap of the Crammer-Singer loss (:math:`\lambda = 0`, uniform ``c``): :math:`c(2q_{max}-1)_+`.

    It is the gap of the pair (argmax q, runner-up). Zero unless :math:`q_{max} > 1/2`: CS is top-1
    calibrated only there. Works under ``jit``/``vmap``/``grad``.

    Args:
        q: label distribution(s) ``[..., K]``; c: the uniform margin, ``c >= 0``.

    Examples:
        >>> round(cs_top1_gap([0.7, 0.2, 0.1], c=1.0), 12)
        0.4

    References:
        Zhang, JMLR 2004 (the Crammer-Singer loss is consistent only when a class has probability above
        1/2); T. Yang, *Optimization for Machine Learning*, Sec. 2.5; ``docs/ldr.md``, "Derivations".
    """
    q, q_ok = _distribution("q", q)
    c, c_ok = _real("c", c, low=0.0)
    return _evaluate(_cs_top1_gap, (q, c), q_ok & c_ok)


@jax.jit
def _cs_min_risk(q, c):
    top = jnp.max(q, axis=-1)
    return jnp.where(top >= 0.5, 2.0 * c * (1.0 - top), c * jnp.ones_like(top))


def cs_min_risk(q, *, c):
    r"""Minimum Crammer-Singer conditional risk: :math:`2c(1 - q_{max})` if :math:`q_{max} \ge 1/2`, else :math:`c`.

    Works under ``jit``/``vmap``/``grad``.

    Args:
        q: label distribution(s) ``[..., K]``; c: the uniform margin, ``c >= 0``.

    Examples:
        >>> round(cs_min_risk([0.7, 0.2, 0.1], c=1.0), 12)
        0.6

    References:
        Zhang, JMLR 2004 (Crammer-Singer); ``docs/ldr.md``, "Derivations".
    """
    q, q_ok = _distribution("q", q)
    c, c_ok = _real("c", c, low=0.0)
    return _evaluate(_cs_min_risk, (q, c), q_ok & c_ok)


def symmetric_gap_bounded(q, i, j):
    r"""Gap :math:`\delta_{ij}` of the :math:`\lambda = \infty` loss on :math:`D = \{f\ge0, \mathbb 1^\top f = K\}`.

    :math:`L_\infty(f; q) = \sum_k f_k(1/K - q_k) + \text{const}` is linear, so both infima sit at vertices:
    :math:`\delta_{ij} = K q_{max} - \max(K\max_{k\ne i} q_k, \tfrac K2(q_i + q_j))` when ``i`` is the
    unique argmax of ``q``, and 0 otherwise: top-1 calibrated, not top-2. Works under
    ``jit``/``vmap``/``grad`` in ``q`` (``i`` and ``j`` are Python integers).

    Args:
        q: label distribution(s) ``[..., K]``; i, j: distinct class indices.

    Examples:
        >>> round(symmetric_gap_bounded([0.5, 0.3, 0.2], 0, 1), 12)
        0.3

    References:
        Ghosh, Kumar, Sastry, AAAI 2017 (symmetric losses); Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869),
        the negative result for normalised scores (abstract); ``docs/ldr.md``, "Derivations".
    """
    q, q_ok = _distribution("q", q)
    K = np.shape(q)[-1]
    i = check_int("i", i, low=0, high=K - 1)
    j = check_int("j", j, low=0, high=K - 1)
    if i == j:
        raise ValueError("i and j must differ")

    return _evaluate(functools.partial(_symmetric_gap_core, i=i, j=j), (q,), q_ok)


@jax.jit
def _noise_excess_bound(eta, lam, r):
    finite = jnp.where(jnp.isinf(lam), 1.0, lam)
    return jnp.where(jnp.isinf(lam), 0.0, eta * r**2 / (8.0 * finite * (1.0 - eta)))


@functools.partial(jax.jit, static_argnames=("i", "j"))
def _symmetric_gap_core(q, *, i, j):
    K = q.shape[-1]
    qi, qj = q[..., i], q[..., j]
    rest = jnp.max(jnp.where(jnp.arange(K) == i, -jnp.inf, q), axis=-1)  # max_{k != i} q_k
    gap = K * qi - jnp.maximum(K * rest, 0.5 * K * (qi + qj))
    return jnp.where(qi > rest, gap, jnp.zeros_like(gap))  # i the unique argmax


def noise_excess_bound(eta, *, lam, r):
    r"""Bound :math:`\eta r^2 / (8\lambda(1-\eta))` on the clean excess risk of the uniform-noise minimiser.

    Under :math:`\tilde q = (1-\eta)q + \eta u`,
    :math:`L(\cdot;\tilde q) = (1-\eta)L(\cdot; q) + \frac\eta K\sum_y\psi`,
    and the symmetric sum varies by at most :math:`K r^2/(8\lambda)` on a domain where every margin range is
    at most ``r``. ``lam = inf`` gives 0 (exact noise tolerance). The bound is at least 2x loose
    (``docs/ldr.md``, "Findings"). Works under ``jit``/``vmap``/``grad``.

    Args:
        eta: noise rate in ``[0, 1)``; lam: ``lambda`` in ``(0, inf]``; r: the largest margin range, ``>= 0``.

    Examples:
        >>> noise_excess_bound(0.5, lam=2.0, r=4.0)
        1.0

    References:
        Derived by the library (``docs/ldr.md``, "Derivations", noise excess bound), after Ghosh, Kumar,
        Sastry, AAAI 2017 (noise tolerance of symmetric losses) and the robustness result of Zhu, Ying, Yang,
        ICML 2023 (arXiv 2112.14869) as recalled.
    """
    eta, eta_ok = _real("eta", eta, low=0.0, high=1.0, high_open=True)
    lam, lam_ok = _real("lam", lam, low=0.0, low_open=True, allow_inf=True)
    r, r_ok = _real("r", r, low=0.0)
    return _evaluate(_noise_excess_bound, (eta, lam, r), eta_ok & lam_ok & r_ok)


def noisy_posterior(q, *, eta, kind="uniform"):
    r"""The label distribution after noise: uniform :math:`(1-\eta)q + \eta u`, or pair flip
    :math:`y \mapsto (y+1) \bmod K` with probability :math:`\eta`, i.e. :math:`(1-\eta)q + \eta\,\mathrm{roll}(q, 1)`.

    The two generators of the authors' experiments (``docs/ldr.md``, "Derivations", noise generators).
    Works under ``jit``/``vmap``/``grad`` (``kind`` is a Python string).

    Args:
        q: label distribution(s) ``[..., K]``; eta: noise rate in ``[0, 1]``; kind: ``"uniform"`` or
            ``"pairflip"``.

    Examples:
        >>> noisy_posterior([1.0, 0.0, 0.0], eta=0.3, kind="pairflip").tolist()
        [0.7, 0.3, 0.0]

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), experiments (the authors' noise generators).
    """
    check_choice("kind", kind, ("uniform", "pairflip"))
    q, q_ok = _distribution("q", q)
    eta, eta_ok = _real("eta", eta, low=0.0, high=1.0)

    valid = q_ok & eta_ok
    return _evaluate(functools.partial(_noisy_posterior_core, kind=kind), (q, eta),
                     valid if _concrete(valid) else jnp.expand_dims(valid, -1))


def _noisy_posterior_core(q, eta, *, kind):
    # Not jitted: op by op, the products and sums round exactly as in NumPy (a compiled kernel may fuse them
    # into a multiply-add), and the noisy minimiser on a box moves along its flat direction with the last bit
    # of q_noisy (ldr.noise_robustness).
    eta = eta[..., None]
    if kind == "uniform":
        return (1 - eta) * q + eta / q.shape[-1]
    return (1 - eta) * q + eta * jnp.roll(q, 1, axis=-1)




def symmetric_sum(f, *, lam, margin=0.0):
    r""":math:`\sum_y \psi_\lambda(f, y)` for ``f [..., K]`` (:math:`K\,L(f; u)`); constant in ``f`` only at
    :math:`\lambda = \infty`. Works under ``jit``/``vmap``/``grad``.

    Examples:
        >>> round(symmetric_sum([1.0, 0.0, -1.0], lam=float("inf"), margin=0.5), 12)
        1.0

    References:
        Ghosh, Kumar, Sastry, AAAI 2017 (symmetric losses); ``docs/ldr.md``, "Derivations".
    """
    f, f_ok = _scores("f", f)
    lam, lam_ok = _real("lam", lam, low=0.0, allow_inf=True)
    if not is_traced(margin):
        margin = _check_margin(margin, np.shape(f)[-1])
    K = np.shape(f)[-1]
    uniform = np.full(K, 1.0 / K) if _concrete(f) else jnp.full((K,), 1.0 / K, jnp.asarray(f).dtype)
    return _evaluate(lambda f, q, lam, margin: K * _risk_core(f, q, lam, margin), (f, uniform, lam, margin),
                     f_ok & lam_ok)


def symmetry_bounds(f, *, lam, margin=0.0):
    r"""``(C_sym, upper)`` with :math:`C_{sym} \le \sum_y\psi_\lambda(f,y) \le C_{sym} + K r^2/(8\lambda)`.

    :math:`C_{sym} = \sum_{k,y} C_{k,y}/K` and :math:`r = \max_y(\max_k a^{(y)}_k - \min_k a^{(y)}_k)`
    (Jensen below, Hoeffding's lemma above). Works under ``jit``/``vmap``/``grad``.

    Args:
        f: scores ``[..., K]``; lam: ``lambda`` in ``(0, inf]``; margin: scalar or ``[K, K]``.

    Returns:
        ``(C_sym, upper)``, each ``[...]``.

    Examples:
        >>> lo, hi = symmetry_bounds([1.0, 0.0, -1.0], lam=1.0)
        >>> round(lo, 12), round(hi, 12)
        (0.0, 1.5)

    References:
        Derived by the library (``docs/ldr.md``, "Derivations", approximate symmetry); Ghosh, Kumar,
        Sastry, AAAI 2017 (symmetric losses).
    """
    f, f_ok = _scores("f", f)
    lam, lam_ok = _real("lam", lam, low=0.0, low_open=True, allow_inf=True)
    if not is_traced(margin):
        margin = _check_margin(margin, np.shape(f)[-1])

    return _evaluate(_symmetry_bounds_core, (f, lam, margin), f_ok & lam_ok)


@jax.jit
def _symmetry_bounds_core(f, lam, margin):
    K = f.shape[-1]
    C = _margin_matrix(margin, K, f.dtype)
    a = margin_vector(*_per_label(f), C)  # [..., y, k]
    r = jnp.max(jnp.max(a, axis=-1) - jnp.min(a, axis=-1), axis=-1)
    c_sym = jnp.sum(C) / K
    finite = jnp.where(jnp.isinf(lam), 1.0, lam)
    spread = jnp.where(jnp.isinf(lam), 0.0, K * r**2 / (8.0 * finite))
    return jnp.full(r.shape, c_sym, f.dtype), c_sym + spread


# ---------------------------------------------------------------------------------------------
# predicates (Python booleans)


def _num_classes(num_classes, K, margin, owner):
    num_classes = renamed_argument("K", "num_classes", num_classes, K, owner=owner)
    if num_classes is None:
        shape = np.shape(margin)
        if len(shape) != 2:
            raise TypeError(f"{owner}: num_classes is required with a scalar margin")
        num_classes = shape[0]
    return check_int("num_classes", num_classes, low=2)


def is_uniform_margin(margin, num_classes=None, *, K=None):
    """True when ``margin`` is a scalar ``c >= 0`` or ``c(11^T - I)`` with ``c >= 0``.

    Args:
        margin: scalar or ``[num_classes, num_classes]`` matrix.
        num_classes: the number of classes (read off a matrix margin when omitted). ``K`` is its
            deprecated name.
    """
    num_classes = _num_classes(num_classes, K, margin, "is_uniform_margin")
    C = _margin_matrix(_check_margin(margin, num_classes, quiet=True), num_classes, np.float64, np)
    off = C[~np.eye(num_classes, dtype=bool)]
    return bool(np.all(off == off[0]) and off[0] >= 0)


def is_rank_calibrated(*, lam, margin, num_classes=None, domain="free", K=None):
    r"""Predicate: does the theory promise :math:`\delta_{ij}(q) > 0` for every interior ``q`` and :math:`q_i > q_j`?

    True exactly for uniform margins, :math:`0 < \lambda < \infty` and the free domain; False for
    class-dependent margins (a counterexample), :math:`\lambda = 0` (Crammer-Singer, :math:`q_{max} \le 1/2`),
    :math:`\lambda = \infty` (top-1 but not top-2) and bounded domains (large finite :math:`\lambda` fails
    there). ``K`` is the deprecated name of ``num_classes``.

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), "top-k consistency for all k" (abstract);
        ``docs/ldr.md``, "Calibration and robustness conditions" and "Findings".
    """
    num_classes = _num_classes(num_classes, K, margin, "is_rank_calibrated")
    lam = check_real("lam", lam, low=0.0, allow_inf=True)
    return bool(is_uniform_margin(margin, num_classes) and 0.0 < lam < math.inf and domain == "free")


def is_top1_calibrated(q, *, lam, margin, num_classes=None, domain="free", K=None):
    """Predicate for the top-1 gap at a given ``q``: the rank-calibrated cases, Crammer-Singer iff
    ``q_max > 1/2``, and the symmetric (``lam = inf``) loss on a bounded domain.

    ``num_classes`` defaults to ``len(q)``; ``K`` is its deprecated name.

    References:
        Zhang, JMLR 2004; Ghosh, Kumar, Sastry, AAAI 2017; ``docs/ldr.md``, "Calibration and robustness
        conditions".
    """
    lam = check_real("lam", lam, low=0.0, allow_inf=True)
    q = check_simplex("q", q, ndim=1)
    num_classes = renamed_argument("K", "num_classes", num_classes, K, owner="is_top1_calibrated")
    num_classes = q.size if num_classes is None else check_int("num_classes", num_classes, low=2)
    if num_classes != q.size:
        raise ValueError(f"num_classes must equal len(q) = {q.size}, got {num_classes}")
    if not is_uniform_margin(margin, num_classes):
        return False
    if lam == 0:
        return bool(q.max() > 0.5 and _margin_matrix(margin, num_classes, np.float64, np)[0, 1] > 0)
    if math.isinf(lam):
        return domain != "free"
    return domain == "free"


def is_symmetric(*, lam):
    r"""Predicate: :math:`\sum_y\psi_\lambda(f, y)` is constant in ``f`` (symmetric loss) iff :math:`\lambda = \infty`.

    References:
        Ghosh, Kumar, Sastry, AAAI 2017; ``docs/ldr.md``, "Calibration and robustness conditions".
    """
    return math.isinf(check_real("lam", lam, low=0.0, allow_inf=True))
