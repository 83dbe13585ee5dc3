r"""Adversarial comp-sum objects for linear scores: a derived reconstruction, not the paper's constants.

**Status.** The exact definitions of Mao, Mohri, Zhong (ICML 2023), Section 6, could not be re-read. This
module implements the self-consistent version of the implementation spec (``compsum.md`` §2.7): every
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
cube-vertex enumeration). Everything is float64 numpy.

References:
    Mao, Mohri, Zhong, *Cross-Entropy Loss Functions: Theoretical Analysis and Applications*, ICML 2023
    (arXiv 2304.07288), Section 6 (adversarial robustness) [reconstructed]; Awasthi, Mao, Mohri, Zhong,
    *Multi-Class H-Consistency Bounds*, NeurIPS 2022 (adversarial losses, local rho-consistency).
"""

from __future__ import annotations

import math
import numbers

import jax
import numpy as np

from theory._validation import check_int, check_real, check_simplex
from theory.compsum.losses import _loss_matrix_np, comp_sum_phi

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

#: Largest input dimension for the exact l_inf vertex enumeration (2^(d-1) vertices).
MAX_VERTEX_DIM = 16

_REFS = "Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial robustness) [reconstructed]"


# ----------------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------------


def _check_q(q) -> float:
    """Return the norm index as ``1.0``, ``2.0`` or ``inf``; ``"inf"`` is accepted for ``inf``."""
    if isinstance(q, str) and q.lower() in ("inf", "infinity"):
        return math.inf
    if isinstance(q, bool) or not isinstance(q, numbers.Real | np.integer | np.floating):
        raise ValueError(f"q must be one of 1, 2, inf (the l_q perturbation norm), got {q!r}")
    qf = float(q)
    if qf not in (1.0, 2.0, math.inf):
        raise ValueError(f"q must be one of 1, 2, inf (the l_q perturbation norm), got {q!r}")
    return qf


def _dual(q: float) -> float:
    return {1.0: math.inf, 2.0: 2.0, math.inf: 1.0}[q]


def _check_gamma(gamma) -> float:
    return check_real("gamma", gamma, low=0.0)


def _check_rho(rho) -> float:
    return check_real("rho", rho, low=0.0, low_open=True)


def _check_nu(nu) -> float:
    return check_real("nu", nu, low=0.0)


def _check_tau(tau) -> float:
    return check_real("tau", tau, low=0.0)


def _real_array(name: str, value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must be a real (integer or floating) array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _check_W(W) -> np.ndarray:
    W = _real_array("W", W)
    if W.ndim != 2 or W.shape[0] < 2 or W.shape[1] < 1:
        raise ValueError(f"W must have shape [n, d] with n >= 2 classes and d >= 1, got {W.shape}")
    return W


def _check_labels(y, shape, n: int) -> np.ndarray:
    if isinstance(y, bool):
        raise TypeError("y must be integer label(s), got bool")
    arr = np.asarray(y)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"y must be integer label(s), got dtype {arr.dtype}")
    if arr.shape != tuple(shape):
        raise ValueError(f"y must have shape {tuple(shape)} (x.shape[:-1]), got {arr.shape}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= n):
        raise ValueError(f"y must lie in {{0, ..., {n - 1}}} (n = {n} classes)")
    return arr.astype(np.intp)


def _check_linear(W, b, x, y):
    """Validate one linear model and a batch of points: returns ``W, b, x [m, d], y [m], batch_shape``."""
    W = _check_W(W)
    n, d = W.shape
    b = _real_array("b", b)
    if b.shape != (n,):
        raise ValueError(f"b must have shape ({n},) (one bias per class of W), got {b.shape}")
    x = _real_array("x", x)
    if x.ndim < 1 or x.shape[-1] != d:
        raise ValueError(f"x must have shape [..., {d}] (d = W.shape[1]), got {x.shape}")
    batch = x.shape[:-1]
    y = _check_labels(y, batch, n)
    return W, b, x.reshape(-1, d), y.reshape(-1), batch


def _as_generator(key_or_seed, name: str = "rng") -> np.random.Generator:
    """A numpy Generator from a seed, a Generator, or a JAX PRNG key (same seeding as ``numpy_rng``)."""
    if isinstance(key_or_seed, np.random.Generator):
        return key_or_seed
    if isinstance(key_or_seed, numbers.Integral | np.integer) and not isinstance(key_or_seed, bool):
        seed = int(key_or_seed)
        if seed < 0:
            raise ValueError(f"{name} must be a non-negative integer seed, got {seed}")
        return np.random.default_rng(seed)
    if isinstance(key_or_seed, jax.Array):
        data = key_or_seed
        if jax.dtypes.issubdtype(data.dtype, jax.dtypes.prng_key):
            data = jax.random.key_data(data)
        return np.random.default_rng(np.asarray(data).astype(np.uint64))
    raise TypeError(
        f"{name} must be a non-negative int seed, a numpy Generator or a JAX PRNG key, "
        f"got {type(key_or_seed).__name__}"
    )


# ----------------------------------------------------------------------------------------------
# batched cores: W [m, n, d], b [m, n], x [m, d], y [m], gamma [m] (per case)
# ----------------------------------------------------------------------------------------------


def _take(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``a[i, y[i], ...]`` for a batch axis ``i``."""
    return a[np.arange(a.shape[0]), y]


def _adv01_core(W, b, x, y, gamma, q):
    scores = np.einsum("mnd,md->mn", W, x) + b
    diff = _take(scores, y)[:, None] - scores  # h_y - h_y'
    dual = np.linalg.norm(_take(W, y)[:, None, :] - W, ord=_dual(q), axis=-1)
    g = diff - gamma[:, None] * dual
    g[np.arange(len(y)), y] = np.inf
    return (g.min(axis=-1) <= 0.0).astype(np.float64)


def _worst_points(W, x, y, gamma, q):
    """For each pair (y, y'), the point of the ball that minimises ``h(x', y) - h(x', y')``: ``[m, n, d]``.

    Row ``y`` (where ``w_y - w_y = 0``) is ``x`` itself.
    """
    V = _take(W, y)[:, None, :] - W  # w_y - w_y'
    if q == 2.0:
        nrm = np.linalg.norm(V, axis=-1, keepdims=True)
        U = np.divide(V, nrm, out=np.zeros_like(V), where=nrm > 0)
    elif q == math.inf:
        U = np.sign(V)
    else:  # q == 1: a signed basis vector at the largest |v_j|
        j = np.argmax(np.abs(V), axis=-1)
        U = np.zeros_like(V)
        mi, ni = np.meshgrid(np.arange(V.shape[0]), np.arange(V.shape[1]), indexing="ij")
        U[mi, ni, j] = np.sign(V[mi, ni, j])
    return x[:, None, :] - gamma[:, None, None] * U


def _sphere_points(rng, x, gamma, q, n_random):
    """``n_random`` points on the l_q sphere of radius ``gamma`` around each ``x``: ``[m, n_random, d]``."""
    m, d = x.shape
    G = rng.standard_normal((m, n_random, d))
    nrm = np.linalg.norm(G, ord=q, axis=-1, keepdims=True)
    nrm = np.where(nrm > 0, nrm, 1.0)
    return x[:, None, :] + gamma[:, None, None] * (G / nrm)


def _ramp_loss_at(W, b, y, X, tau, rho):
    """``Phi^tau(sum_{y' != y} Phi_rho(h(x', y) - h(x', y')))`` at candidate points ``X [m, C, d]``: ``[m, C]``."""
    scores = np.matmul(X, np.swapaxes(W, -1, -2)) + b[:, None, :]  # [m, C, n]
    m, _, n = scores.shape
    sy = np.take_along_axis(scores, y[:, None, None], axis=-1)
    R = np.clip(1.0 - (sy - scores) / rho, 0.0, 1.0)
    R[np.arange(m), :, y] = 0.0
    return comp_sum_phi(R.sum(axis=-1), tau=tau)


def _margin_lower_core(W, b, x, y, gamma, q, tau, rho, rng, n_random):
    cands = [_worst_points(W, x, y, gamma, q)]  # includes x itself (row y)
    if n_random > 0:
        cands.append(_sphere_points(rng, x, gamma, q, n_random))
    X = np.concatenate(cands, axis=1)
    return _ramp_loss_at(W, b, y, X, tau, rho).max(axis=-1)


def _vertices(d: int) -> np.ndarray:
    """The ``2^(d-1)`` cube vertices with first coordinate ``+1`` (the rest follow by ``s -> -s``)."""
    k = np.arange(2 ** (d - 1))[:, None]
    bits = (k >> np.arange(d - 1)) & 1
    return np.concatenate([np.ones((len(k), 1)), 1.0 - 2.0 * bits], axis=1)


def _operator_norm(D, q):
    """``||D||_{q -> 2} = sup_{||u||_q <= 1} ||D u||_2`` for ``D [..., n, d]``."""
    if q == 2.0:
        return np.linalg.norm(D, ord=2, axis=(-2, -1))
    if q == 1.0:
        return np.sqrt((D * D).sum(axis=-2)).max(axis=-1)
    d = D.shape[-1]
    if d > MAX_VERTEX_DIM:
        raise ValueError(
            f"d = W.shape[1] must be <= {MAX_VERTEX_DIM} for the exact q = inf vertex enumeration, got d = {d}"
        )
    DV = D @ _vertices(d).T  # [..., n, 2^(d-1)]
    return np.sqrt((DV * DV).sum(axis=-2)).max(axis=-1)


def _smooth_term_core(W, y, gamma, q):
    D = W - _take(W, y)[:, None, :]  # rows w_y' - w_y
    return gamma * _operator_norm(D, q)


def _compsum_core(W, b, x, y, tau, rho):
    scores = np.einsum("mnd,md->mn", W, x) + b
    return _take(_loss_matrix_np(scores / rho, tau), y)


def _broadcast_model(W, b, m):
    return np.broadcast_to(W, (m, *W.shape)), np.broadcast_to(b, (m, *b.shape))


# ----------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------


def ramp(z, *, rho) -> np.ndarray:
    r"""The :math:`\rho`-margin (ramp) function :math:`\Phi_\rho(z) = \min\{1, \max\{0, 1 - z/\rho\}\}`.

    Equal to 1 for :math:`z \le 0`, 0 for :math:`z \ge \rho`, linear in between; it is
    :math:`1/\rho`-Lipschitz and :math:`\Phi_\rho(z) \le e^{-z/\rho}`.

    Args:
        z: real array of margins.
        rho: the margin, ``rho > 0``.

    Returns:
        float64 array of the same shape, values in ``[0, 1]``.

    Examples:
        >>> ramp([-1.0, 0.0, 0.25, 2.0], rho=0.5).tolist()
        [1.0, 1.0, 0.5, 0.0]

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial robustness)
        [reconstructed]; Awasthi, Mao, Mohri, Zhong, NeurIPS 2022 (rho-margin losses).
    """
    rho = _check_rho(rho)
    z = np.asarray(z, dtype=np.float64)
    return np.clip(1.0 - z / rho, 0.0, 1.0)


def adversarial_zero_one_linear(W, b, x, y, *, gamma, q) -> np.ndarray:
    r"""Exact adversarial zero-one loss :math:`\ell_\gamma` of a linear model (ties count as errors).

    .. math::

        \ell_\gamma(h, x, y) = 1\Big[\min_{y' \ne y}\big( h(x, y) - h(x, y')
            - \gamma\,\|w_y - w_{y'}\|_{q^*} \big) \le 0\Big],

    since :math:`\min_{\|x'-x\|_q \le \gamma} v \cdot x' = v \cdot x - \gamma\|v\|_{q^*}` for
    :math:`v = w_y - w_{y'}` (:math:`q^* = 2, \infty, 1` for :math:`q = 2, 1, \infty`). With ``gamma = 0`` this is
    :math:`1[\rho_h(x, y) \le 0]`.

    Args:
        W: class weights ``[n, d]`` (``n >= 2``).
        b: biases ``[n]``.
        x: input(s) ``[..., d]``.
        y: integer label(s) ``[...]`` in ``{0, ..., n-1}``.
        gamma: perturbation radius, ``gamma >= 0``.
        q: perturbation norm, one of ``1, 2, inf``.

    Returns:
        float64 array ``[...]`` of 0/1 values.

    Examples:
        >>> W, b = [[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0]
        >>> adversarial_zero_one_linear(W, b, [1.0, 0.0], 0, gamma=0.5, q=2).item()
        0.0
        >>> adversarial_zero_one_linear(W, b, [1.0, 0.0], 0, gamma=0.75, q=2).item()
        1.0

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial robustness)
        [reconstructed]; Awasthi, Mao, Mohri, Zhong, NeurIPS 2022 (adversarial zero-one loss).
    """
    gamma = _check_gamma(gamma)
    q = _check_q(q)
    W, b, x, y, batch = _check_linear(W, b, x, y)
    Wm, bm = _broadcast_model(W, b, len(y))
    out = _adv01_core(Wm, bm, x, y, np.full(len(y), gamma), q)
    return out.reshape(batch)


def adversarial_margin_loss_lower(
    W, b, x, y, *, tau, rho, gamma, q, rng=0, n_random: int = 200
) -> np.ndarray:
    r"""A **lower estimate** of the adversarial comp-sum :math:`\rho`-margin loss :math:`\tilde\ell^\tau_\rho`.

    .. math::

        \tilde\ell^\tau_\rho(h, x, y) = \sup_{\|x'-x\|_q \le \gamma}
            \Phi^\tau\Big(\sum_{y' \ne y} \Phi_\rho\big(h(x', y) - h(x', y')\big)\Big)
            \;\ge\; \max_{x' \in \mathcal C} \Phi^\tau(\cdots),

    where the candidate set :math:`\mathcal C` holds ``x``, the worst point of each pair
    :math:`(y, y')` (the minimiser of :math:`h(x', y) - h(x', y')` over the ball) and ``n_random``
    points on the :math:`\ell_q` sphere of radius ``gamma``. The sup is not attained at a known point
    in general, so the value returned is only a lower bound: use it on the small side of an
    inequality. Because the worst points are included, :math:`\Phi^\tau(1)\,\ell_\gamma \le` this
    estimate holds exactly (up to rounding).

    Args:
        W: class weights ``[n, d]``.
        b: biases ``[n]``.
        x: input(s) ``[..., d]``.
        y: integer label(s) ``[...]``.
        tau: comp-sum parameter, ``tau >= 0``.
        rho: ramp margin, ``rho > 0``.
        gamma: perturbation radius, ``gamma >= 0``.
        q: perturbation norm, one of ``1, 2, inf``.
        rng: int seed, ``numpy.random.Generator`` or JAX PRNG key for the random sphere points
            (default ``0``: deterministic).
        n_random: number of random sphere points per input, ``>= 0``.

    Returns:
        float64 array ``[...]``, a lower estimate of :math:`\tilde\ell^\tau_\rho`.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial robustness)
        [reconstructed]; Awasthi, Mao, Mohri, Zhong, NeurIPS 2022 (adversarial rho-margin losses).
    """
    tau = _check_tau(tau)
    rho = _check_rho(rho)
    gamma = _check_gamma(gamma)
    q = _check_q(q)
    n_random = check_int("n_random", n_random, low=0)
    W, b, x, y, batch = _check_linear(W, b, x, y)
    gen = _as_generator(rng, "rng")
    Wm, bm = _broadcast_model(W, b, len(y))
    out = _margin_lower_core(Wm, bm, x, y, np.full(len(y), gamma), q, tau, rho, gen, n_random)
    return out.reshape(batch)


def smooth_term_linear(W, y, *, gamma, q) -> np.ndarray:
    r"""Exact smoothing sup :math:`\sup_{x' \in B_q(x, \gamma)} \|\bar\Delta_h(x', y) - \bar\Delta_h(x, y)\|_2`.

    For linear scores :math:`\bar\Delta_h(x', y) - \bar\Delta_h(x, y) = D_y (x' - x)` with
    :math:`D_y = [w_{y'} - w_y]_{y'} \in \mathbb R^{n \times d}`, so the sup is
    :math:`\gamma\,\|D_y\|_{q \to 2}` (independent of ``x`` and ``b``):

    - ``q = 2``: :math:`\gamma\,\sigma_{\max}(D_y)`;
    - ``q = 1``: :math:`\gamma \max_j \|D_y e_j\|_2` (a convex function on the :math:`\ell_1` ball peaks at
      a vertex :math:`\pm\gamma e_j`);
    - ``q = inf``: :math:`\gamma \max_{s \in \{\pm 1\}^d} \|D_y s\|_2` by exact enumeration of the
      :math:`2^{d-1}` vertex pairs (``d <= 16``).

    Args:
        W: class weights ``[n, d]``.
        y: integer label(s) ``[...]``.
        gamma: perturbation radius, ``gamma >= 0``.
        q: perturbation norm, one of ``1, 2, inf``.

    Returns:
        float64 array ``[...]``.

    Raises:
        ValueError: for ``q = inf`` with ``d > 16``.

    Examples:
        >>> round(smooth_term_linear([[1.0, 0.0], [0.0, 1.0]], 0, gamma=0.5, q=2).item(), 12)
        0.707106781187

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (smooth adversarial comp-sum
        losses) [reconstructed].
    """
    gamma = _check_gamma(gamma)
    q = _check_q(q)
    W = _check_W(W)
    n = W.shape[0]
    y = _check_labels(y, np.shape(y), n)
    per_label = _smooth_term_core(np.broadcast_to(W, (n, *W.shape)), np.arange(n), np.full(n, gamma), q)
    return per_label[y]


def smooth_adversarial_loss_linear(W, b, x, y, *, tau, rho, nu, gamma, q) -> np.ndarray:
    r"""The smooth adversarial comp-sum loss :math:`\tilde\ell^{\tau,\mathrm{sm}}_{\rho,\nu}` of a linear model.

    .. math::

        \tilde\ell^{\tau,\mathrm{sm}}_{\rho,\nu}(h, x, y) = \ell^\tau(h/\rho, x, y)
            + \nu\,\gamma\,\|D_y\|_{q \to 2},

    with the exact smoothing sup of :func:`smooth_term_linear`. For :math:`\nu \ge \sqrt{n-1}/\rho`
    (:func:`minimum_nu`) it upper-bounds the adversarial :math:`\rho`-margin loss
    :math:`\tilde\ell^\tau_\rho` pointwise (proof in the module docstring); with ``nu = 0`` it does not.

    Args:
        W: class weights ``[n, d]``.
        b: biases ``[n]``.
        x: input(s) ``[..., d]``.
        y: integer label(s) ``[...]``.
        tau: comp-sum parameter, ``tau >= 0``.
        rho: margin scale, ``rho > 0``.
        nu: weight of the smoothing term, ``nu >= 0``.
        gamma: perturbation radius, ``gamma >= 0``.
        q: perturbation norm, one of ``1, 2, inf`` (``inf`` needs ``d <= 16``).

    Returns:
        float64 array ``[...]`` (``+inf`` where :math:`\ell^\tau` overflows for ``tau < 1``).

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial robustness)
        [reconstructed]; Awasthi, Mao, Mohri, Zhong, NeurIPS 2022 (local rho-consistency).
    """
    tau = _check_tau(tau)
    rho = _check_rho(rho)
    nu = _check_nu(nu)
    gamma = _check_gamma(gamma)
    q = _check_q(q)
    W, b, x, y, batch = _check_linear(W, b, x, y)
    Wm, bm = _broadcast_model(W, b, len(y))
    base = _compsum_core(Wm, bm, x, y, tau, rho)
    n = W.shape[0]
    per_label = _smooth_term_core(np.broadcast_to(W, (n, *W.shape)), np.arange(n), np.full(n, gamma), q)
    return (base + nu * per_label[y]).reshape(batch)


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
        float64 array ``[...]``.

    Examples:
        >>> round(float(adversarial_conditional_min([0.2, 0.5, 0.3], tau=2.0)), 12)
        0.283333333333

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial robustness)
        [reconstructed]; Awasthi, Mao, Mohri, Zhong, NeurIPS 2022 (local rho-consistency).
    """
    tau = _check_tau(tau)
    p = check_simplex("p", p)
    n = p.shape[-1]
    if n < 2:
        raise ValueError("p must have n >= 2 classes")
    ps = -np.sort(-p, axis=-1)
    return (ps * comp_sum_phi(np.arange(n, dtype=np.float64), tau=tau)).sum(axis=-1)


def adversarial_calibration_constant(tau) -> float:
    r"""The slope constant :math:`\Phi^\tau(1)` of the adversarial calibration inequality.

    .. math::

        \Phi^\tau(1) = \frac{2^{1-\tau} - 1}{1-\tau} \quad (\log 2 \text{ at } \tau = 1),
        \qquad \Phi^\tau(1)\,\Delta C_{\ell_\gamma} \le \Delta C_{\tilde\ell}.

    Args:
        tau: comp-sum parameter, ``tau >= 0``.

    Returns:
        float in ``(0, 1]`` (``1`` at ``tau = 0``, ``0.5`` at ``tau = 2``).

    Examples:
        >>> round(adversarial_calibration_constant(1.0), 12)
        0.69314718056

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial robustness)
        [reconstructed, derived form].
    """
    tau = _check_tau(tau)
    return float(comp_sum_phi(1.0, tau=tau))


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
        float64 array of the shape of ``eps``, values in ``[0, 1]``.

    Examples:
        >>> float(adversarial_bound(0.25, tau=2.0))
        0.5

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial H-consistency
        bound) [reconstructed, derived form]; Awasthi, Mao, Mohri, Zhong, NeurIPS 2022.
    """
    tau = _check_tau(tau)
    eps = np.asarray(eps, dtype=np.float64)
    if np.any(~(eps >= 0)):
        raise ValueError("eps must be >= 0 (a surrogate excess error) and not NaN")
    return np.minimum(eps / adversarial_calibration_constant(tau), 1.0)


def minimum_nu(n_classes, rho) -> float:
    r"""The proven sufficient smoothing weight :math:`\nu_{\min} = \sqrt{n-1}/\rho`.

    With :math:`\nu \ge \nu_{\min}`, :math:`\tilde\ell^\tau_\rho \le \tilde\ell^{\tau,\mathrm{sm}}_{\rho,\nu}`
    pointwise (the ramp sum is :math:`\sqrt{n-1}/\rho`-Lipschitz in :math:`\bar\Delta` for the
    :math:`\ell_2` norm). :math:`\nu = 1/\rho` is not enough: for ``n = 3``, ``tau = 0``, ``rho = 1``,
    ``gamma = 0.05`` there are linear cases where the sampled (lower) adversarial loss exceeds the
    smooth loss by 0.04 (a fixed counterexample is in the tests).

    Args:
        n_classes: number of classes, ``n >= 2``.
        rho: margin scale, ``rho > 0``.

    Returns:
        float.

    Examples:
        >>> round(minimum_nu(3, 0.5), 12)
        2.828427124746

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial robustness)
        [reconstructed].
    """
    n = check_int("n_classes", n_classes, low=2)
    rho = _check_rho(rho)
    return math.sqrt(n - 1) / rho


def chain_slacks(
    key_or_seed,
    *,
    n_cases,
    tau,
    n_classes,
    rho,
    gamma,
    nu,
    q=2,
    dim: int = 4,
    n_random: int = 200,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Slacks of the adversarial chain ``Phi^tau(1) l_gamma <= l~_lower <= l~_sm`` on random linear cases.

    .. math::

        \text{slack\_left} = \tilde\ell^\tau_{\rho,\text{lower}} - \Phi^\tau(1)\,\ell_\gamma,
        \qquad
        \text{slack\_right} = \tilde\ell^{\tau,\mathrm{sm}}_{\rho,\nu} - \tilde\ell^\tau_{\rho,\text{lower}}.

    Both are :math:`\ge 0` (up to rounding) on every case when :math:`\nu \ge \sqrt{n-1}/\rho`; with
    ``nu = 0`` ``slack_right`` is negative on a sizeable fraction of cases. Because the middle term is a
    *lower* estimate, a negative ``slack_right`` is a genuine violation, while ``slack_left >= 0``
    is guaranteed by including each pair's worst point among the candidates.

    Case ``i`` draws (in this order, from ``numpy.random.default_rng``) ``W ~ N(0,1)^{n x dim}``,
    ``b ~ N(0,1)^n``, ``x ~ N(0,1)^dim`` and ``y`` uniform; then ``n_random`` sphere points per case.
    Deterministic given the seed; vectorised over cases.

    Args:
        key_or_seed: int seed, ``numpy.random.Generator`` or JAX PRNG key.
        n_cases: number of random cases, ``>= 1``.
        tau: comp-sum parameter, ``tau >= 0``.
        n_classes: ``n >= 2``.
        rho: margin scale, ``rho > 0``.
        gamma: perturbation radius ``>= 0``, or a 1-D sequence of radii assigned to cases cyclically.
        nu: smoothing weight, ``nu >= 0``.
        q: perturbation norm, one of ``1, 2, inf``.
        dim: input dimension ``d >= 1`` (``<= 16`` for ``q = inf``).
        n_random: random sphere points per case, ``>= 0``.

    Returns:
        ``(slack_left, slack_right)``, two float64 arrays of shape ``[n_cases]``.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial robustness)
        [reconstructed]; implementation spec compsum.md P10.
    """
    m = check_int("n_cases", n_cases, low=1)
    tau = _check_tau(tau)
    n = check_int("n_classes", n_classes, low=2)
    rho = _check_rho(rho)
    nu = _check_nu(nu)
    q = _check_q(q)
    d = check_int("dim", dim, low=1)
    n_random = check_int("n_random", n_random, low=0)
    if q == math.inf and d > MAX_VERTEX_DIM:
        raise ValueError(f"dim must be <= {MAX_VERTEX_DIM} for q = inf (exact vertex enumeration), got {d}")
    if np.ndim(gamma) == 0:
        gammas = np.array([_check_gamma(gamma)])
    else:
        gammas = np.array([_check_gamma(g) for g in np.asarray(gamma).ravel()])
        if gammas.size == 0:
            raise ValueError("gamma must be a non-negative number or a non-empty sequence of them")
    gam = np.resize(gammas, m)
    rng = _as_generator(key_or_seed, "key_or_seed")

    W = rng.standard_normal((m, n, d))
    b = rng.standard_normal((m, n))
    x = rng.standard_normal((m, d))
    y = rng.integers(0, n, size=m)

    adv01 = _adv01_core(W, b, x, y, gam, q)
    lower = _margin_lower_core(W, b, x, y, gam, q, tau, rho, rng, n_random)
    smooth = _compsum_core(W, b, x, y, tau, rho) + nu * _smooth_term_core(W, y, gam, q)
    left = lower - adversarial_calibration_constant(tau) * adv01
    right = smooth - lower
    return left, right
