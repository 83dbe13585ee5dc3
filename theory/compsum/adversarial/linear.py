r"""Adversarial comp-sum losses of a linear model :math:`h(x, y) = w_y \cdot x + b_y` (float64 NumPy).

The adversarial zero-one loss has a closed form (dual norms), the smoothing term an exact one
(operator norms, cube-vertex enumeration for ``q = inf``); the sup inside the adversarial
:math:`\rho`-margin comp-sum loss is searched over a candidate set, so that loss is a **lower** estimate.
The definitions and the proven chain between them are in :mod:`theory.compsum.adversarial` and
docs/compsum.md#adversarial-losses. These functions work on concrete arrays only (sorting, enumeration and
sampling in NumPy); :func:`ramp` also runs under ``jit``/``vmap``/``grad``.

References:
    Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial robustness) [reconstructed];
    Awasthi, Mao, Mohri, Zhong, NeurIPS 2022 (adversarial losses, local rho-consistency).
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np

from theory._random import numpy_rng
from theory._validation import check_array, check_int, is_traced, nan_unless
from theory.compsum.adversarial._ball import (
    adversarial_zero_one,
    broadcast_model,
    clean_loss,
    margin_loss_lower,
    smooth_term,
)
from theory.compsum.adversarial._checks import (
    check_gamma,
    check_labels,
    check_linear,
    check_nu,
    check_q,
    check_rho,
    check_tau,
    check_W,
)

__all__ = [
    "ramp",
    "adversarial_zero_one_linear",
    "adversarial_margin_loss_lower",
    "smooth_term_linear",
    "smooth_adversarial_loss_linear",
]


def _sphere_generator(key, rng) -> np.random.Generator:
    """The generator of the random sphere points: ``key`` (a JAX key or a NumPy generator), the deprecated
    ``rng`` (an int seed too), or a fixed generator when neither is given."""
    if rng is not None:
        if key is not None:
            raise TypeError("adversarial_margin_loss_lower: pass key only (rng is its deprecated name)")
        warnings.warn("adversarial_margin_loss_lower: 'rng' is deprecated; use 'key'", DeprecationWarning,
                      stacklevel=3)
        if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
            if rng < 0:
                raise ValueError(f"rng must be a non-negative integer seed, got {rng}")
            return np.random.default_rng(int(rng))
        return numpy_rng(rng)
    return np.random.default_rng(0) if key is None else numpy_rng(key)


def ramp(z, *, rho) -> np.ndarray:
    r"""The :math:`\rho`-margin (ramp) function :math:`\Phi_\rho(z) = \min\{1, \max\{0, 1 - z/\rho\}\}`.

    Equal to 1 for :math:`z \le 0`, 0 for :math:`z \ge \rho`, linear in between; it is
    :math:`1/\rho`-Lipschitz and :math:`\Phi_\rho(z) \le e^{-z/\rho}`.

    Args:
        z: real array of margins.
        rho: the margin, ``rho > 0``.

    Returns:
        Array of the same shape, values in ``[0, 1]`` (float64 NumPy for concrete inputs; under
        ``jit``/``vmap``/``grad`` the same formula in ``jax.numpy``, NaN for an invalid traced ``rho``).

    Examples:
        >>> ramp([-1.0, 0.0, 0.25, 2.0], rho=0.5).tolist()
        [1.0, 1.0, 0.5, 0.0]

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial robustness)
        [reconstructed]; Awasthi, Mao, Mohri, Zhong, NeurIPS 2022 (rho-margin losses).
    """
    if is_traced(z) or is_traced(rho):
        return nan_unless(rho > 0, jnp.clip(1.0 - jnp.asarray(z) / rho, 0.0, 1.0))
    rho = check_rho(rho)
    z = check_array("z", z, allow_inf=True)
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
    gamma = check_gamma(gamma)
    q = check_q(q)
    W, b, x, y, batch = check_linear(W, b, x, y)
    Wm, bm = broadcast_model(W, b, len(y))
    out = adversarial_zero_one(Wm, bm, x, y, np.full(len(y), gamma), q)
    return out.reshape(batch)


def adversarial_margin_loss_lower(
    W, b, x, y, *, tau, rho, gamma, q, key=None, n_random: int = 200, rng=None
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
        key: JAX PRNG key of the random sphere points (a ``numpy.random.Generator`` is accepted too, to
            chain NumPy draws); ``None`` (default): a fixed generator, deterministic.
        n_random: number of random sphere points per input, ``>= 0``.
        rng: deprecated (an int seed, a generator or a key): use ``key``.

    Returns:
        float64 array ``[...]``, a lower estimate of :math:`\tilde\ell^\tau_\rho`.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Section 6 (adversarial robustness)
        [reconstructed]; Awasthi, Mao, Mohri, Zhong, NeurIPS 2022 (adversarial rho-margin losses).
    """
    tau = check_tau(tau)
    rho = check_rho(rho)
    gamma = check_gamma(gamma)
    q = check_q(q)
    n_random = check_int("n_random", n_random, low=0)
    W, b, x, y, batch = check_linear(W, b, x, y)
    gen = _sphere_generator(key, rng)
    Wm, bm = broadcast_model(W, b, len(y))
    out = margin_loss_lower(Wm, bm, x, y, np.full(len(y), gamma), q, tau, rho, gen, n_random)
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
    gamma = check_gamma(gamma)
    q = check_q(q)
    W = check_W(W)
    n = W.shape[0]
    y = check_labels(y, np.shape(y), n)
    per_label = smooth_term(np.broadcast_to(W, (n, *W.shape)), np.arange(n), np.full(n, gamma), q)
    return per_label[y]


def smooth_adversarial_loss_linear(W, b, x, y, *, tau, rho, nu, gamma, q) -> np.ndarray:
    r"""The smooth adversarial comp-sum loss :math:`\tilde\ell^{\tau,\mathrm{sm}}_{\rho,\nu}` of a linear model.

    .. math::

        \tilde\ell^{\tau,\mathrm{sm}}_{\rho,\nu}(h, x, y) = \ell^\tau(h/\rho, x, y)
            + \nu\,\gamma\,\|D_y\|_{q \to 2},

    with the exact smoothing sup of :func:`smooth_term_linear`. For :math:`\nu \ge \sqrt{n-1}/\rho`
    (:func:`minimum_nu`) it upper-bounds the adversarial :math:`\rho`-margin loss
    :math:`\tilde\ell^\tau_\rho` pointwise (proof in :mod:`theory.compsum.adversarial` and
    docs/compsum.md#adversarial-losses); with ``nu = 0`` it does not.

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
    tau = check_tau(tau)
    rho = check_rho(rho)
    nu = check_nu(nu)
    gamma = check_gamma(gamma)
    q = check_q(q)
    W, b, x, y, batch = check_linear(W, b, x, y)
    Wm, bm = broadcast_model(W, b, len(y))
    base = clean_loss(Wm, bm, x, y, tau, rho)
    n = W.shape[0]
    per_label = smooth_term(np.broadcast_to(W, (n, *W.shape)), np.arange(n), np.full(n, gamma), q)
    return (base + nu * per_label[y]).reshape(batch)
