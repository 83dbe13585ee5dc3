r"""The EnsLoss calibrated loss-derivative generator, pinned to the authors' code, step by step.

For a batch of margins :math:`z_1, \dots, z_B` (:math:`z_i = y_i f(x_i)`, :math:`y_i \in \{-1, +1\}`) and
standard normal draws :math:`\varepsilon_1, \dots, \varepsilon_B`:

1. inverse Box-Cox: :math:`v_i = -\mathrm{BC}^{-1}(\varepsilon_i; \lambda)` (so :math:`v_i \le 0`);
2. sort :math:`v` ascending (most negative first);
3. clip: :math:`v \leftarrow \max(v, c)` with :math:`c = -1` (the loss-derivatives are bounded by 1);
4. assign by margin rank: the sample with the :math:`j`-th smallest margin receives :math:`v_{(j)}`, so the
   derivatives are non-decreasing in the margin (a convex loss);
5. tail: :math:`g_i \leftarrow g_i / \max(1, z_i / t)` (with the authors' threshold :math:`t = 1`: divide by
   :math:`z_i` where :math:`z_i > 1`), a decaying tail that keeps the loss bounded below;
6. :math:`g \leftarrow g - \epsilon` with :math:`\epsilon = 10^{-6}`: strictly negative everywhere, so calibrated
   at every margin, 0 included.

The training surrogate :math:`\frac1B\sum_i \mathrm{sg}(g_i)\, z_i` (``sg``: stop-gradient) has gradient
:math:`\frac1B\sum_i g_i\, y_i \nabla f(x_i)`: a fresh random calibrated loss-derivative for every batch, the
doubly stochastic gradient of Algorithm 1.

Input policy: NaN margins or normals raise ``ValueError`` eagerly; margins must be finite (their ranks and the
tail division need them); normals may be ``+-inf`` (the limits ``BC^{-1} = inf`` and ``0`` are clipped to
``c`` and ``-0``). Hyperparameters are checked eagerly; under ``jit`` an invalid traced one, or a non-finite
traced margin, makes the whole batch row NaN. Ties between equal margins are broken by position (a stable
argsort; the authors' ``torch.sort`` is not stable), which changes nothing about the monotonicity.

References:
    B. Dai, *EnsLoss: Stochastic Calibrated Loss Ensembles for Preventing Overfitting in Classification*, ICML
    2025 (PMLR 267:12001-12021, arXiv 2409.00908), Algorithm 1 (lines 8-11: sorted negative random variables as
    loss-derivatives; lines 12-13: their rescaled tail); the authors' code, ``statmlben/ensLoss``,
    ``losses.py::ensLoss.forward`` (commit ``051d87d``); docs/ensloss.md, "The generator step by step".
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theory import _random
from theory._random import check_key
from theory._validation import check_array, check_real, is_traced, nan_unless
from theory.ensloss._checks import hyper
from theory.logspace import log1p

__all__ = ["bc_inv", "ensloss_derivatives", "sample_ensloss_derivatives", "ensloss_surrogate"]


def _bc_inv(e, lam):
    """Inverse Box-Cox in the dtype of ``e``: ``exp(e)`` at ``lam = 0``, else ``exp(log1p(lam e) / lam)`` where
    ``1 + lam e > 0`` and the boundary value (``0`` for ``lam > 0``, ``+inf`` for ``lam < 0``) elsewhere."""
    lam = jnp.asarray(lam, e.dtype)
    zero = lam == 0
    safe = jnp.where(zero, 1.0, lam)
    inside = 1.0 + safe * e > 0
    t = jnp.where(zero, e, log1p(jnp.where(inside, safe * e, 0.0)) / safe)
    return jnp.where(zero | inside, jnp.exp(t), jnp.where(lam > 0, 0.0, jnp.inf).astype(e.dtype))


def bc_inv(e, box_cox):
    r"""The inverse Box-Cox map :math:`\mathrm{BC}^{-1}(e; \lambda)`, the magnitude of a generated loss-derivative.

    .. math::
        \mathrm{BC}^{-1}(e; 0) = e^{e}, \qquad
        \mathrm{BC}^{-1}(e; \lambda) = \big(\max(1 + \lambda e, 0)\big)^{1/\lambda} \quad (\lambda \ne 0),

    the inverse of :math:`\mathrm{BC}(x; \lambda) = (x^\lambda - 1)/\lambda` (:math:`\log x` at 0) on
    :math:`x > 0`. Boundary cases where :math:`1 + \lambda e \le 0`: the value is ``0`` for :math:`\lambda > 0` and
    ``+inf`` for :math:`\lambda < 0` (zero to a negative power), as in the authors' code. It is computed as
    :math:`\exp(\mathrm{log1p}(\lambda e)/\lambda)`, continuous as :math:`\lambda \to 0`.

    Args:
        e: real array (``+-inf`` allowed: the limits ``inf`` and ``0``; NaN raises).
        box_cox: :math:`\lambda`, a finite real (may be traced; a non-finite traced value gives NaN).

    Returns:
        Array of the shape of ``e`` in its floating dtype, values in ``[0, inf]``.

    Examples:
        >>> import numpy as np
        >>> [round(float(x), 5) for x in bc_inv(np.array([0.3, -1.2, 1.1, -0.4]), 0.5)]
        [1.3225, 0.16, 2.4025, 0.64]

    References:
        Box, Cox, *An Analysis of Transformations*, JRSS-B 1964 (the transformation); Dai, ICML 2025
        (arXiv 2409.00908), Algorithm 1, and ``losses.py::ensLoss.BC_inv`` of the authors' code.
    """
    if not is_traced(e):
        check_array("e", e, allow_inf=True)
    lam, ok = hyper("box_cox", box_cox)
    e = jnp.asarray(e)
    if not jnp.issubdtype(e.dtype, jnp.floating):
        e = e.astype(jnp.result_type(float))
    out = _bc_inv(e, lam)
    return out if ok is True else nan_unless(ok, out)


#: Batches up to this size are ranked by pairwise comparisons (O(B^2), vectorised; faster than XLA's sort on
#: CPU for small rows), larger ones by a stable argsort (O(B log B)). Both give the same derivatives.
_PAIRWISE_MAX = 128


def _stable_ranks(x):
    """The 0-based stable ranks along the last axis: ``#{j: x_j < x_i} + #{j < i: x_j == x_i}``."""
    i = jnp.arange(x.shape[-1])
    before = jnp.where(x[..., None, :] == x[..., :, None], i[None, :] < i[:, None], x[..., None, :] < x[..., :, None])
    return jnp.sum(before, axis=-1, dtype=jnp.int32)


def _assign_by_rank(z, v):
    """``g`` with ``g_i = sort(v)[rank(z_i)]`` along the last axis, ranks stable (ties by position)."""
    if z.shape[-1] <= _PAIRWISE_MAX:
        match = _stable_ranks(z)[..., :, None] == _stable_ranks(v)[..., None, :]
        return jnp.sum(jnp.where(match, v[..., None, :], jnp.zeros((), v.dtype)), axis=-1)
    perm = jnp.argsort(z, axis=-1, stable=True)
    return jnp.put_along_axis(jnp.zeros_like(v), perm, jnp.sort(v, axis=-1), axis=-1, inplace=False)


def _derivatives(z, normals, box_cox, clip, tail_threshold, eps):
    """Steps 1-6 of the generator along the last axis (no checks). The clip is applied before the sort, which
    gives the same sorted values (``max(., c)`` is non-decreasing) and keeps ``-inf`` out of the ranking."""
    v = -_bc_inv(normals, box_cox)                                       # 1. inverse Box-Cox, negated
    v = jnp.maximum(v, jnp.asarray(clip, v.dtype))                       # 3. clip at c = -1
    g = _assign_by_rank(z, v)                                            # 2 + 4. sort, j-th smallest margin gets v_(j)
    g = g / jnp.maximum(z / jnp.asarray(tail_threshold, z.dtype), 1.0)   # 5. tail: g / z where z > t (t = 1)
    return g - jnp.asarray(eps, g.dtype)                                 # 6. strictly negative


@jax.jit
def _derivatives_checked(z, normals, box_cox, clip, tail_threshold, eps, hyper_ok):
    g = _derivatives(z, normals, box_cox, clip, tail_threshold, eps)
    ok = hyper_ok & jnp.all(jnp.isfinite(z), axis=-1, keepdims=True) & ~jnp.any(jnp.isnan(normals), axis=-1,
                                                                                  keepdims=True)
    return jnp.where(ok, g, jnp.asarray(jnp.nan, g.dtype))


def _check_margins(margins, name="margins"):
    if not is_traced(margins):
        arr = np.asarray(margins)
        if arr.ndim < 1 or arr.shape[-1] < 1:
            raise ValueError(f"{name} must have shape [..., batch_size] with batch_size >= 1, got {arr.shape}")
        check_array(name, arr)
    z = jnp.asarray(margins)
    if z.ndim < 1 or z.shape[-1] < 1:
        raise ValueError(f"{name} must have shape [..., batch_size] with batch_size >= 1, got {z.shape}")
    if not jnp.issubdtype(z.dtype, jnp.floating):
        z = z.astype(jnp.result_type(float))
    return z


def _check_hyper(box_cox, clip, tail_threshold, eps):
    """The four hyperparameters, checked eagerly when concrete; returns them with the joint validity mask."""
    lam, ok1 = hyper("box_cox", box_cox)
    c, ok2 = hyper("clip", clip, high=0.0, high_open=True)
    t, ok3 = hyper("tail_threshold", tail_threshold, low=0.0, low_open=True, allow_inf=True)
    e, ok4 = hyper("eps", eps, low=0.0, low_open=True)
    return (lam, c, t, e), jnp.asarray(ok1) & ok2 & ok3 & ok4


def ensloss_derivatives(margins, normals, *, box_cox=0.0, clip=-1.0, tail_threshold=1.0, eps=1e-6):
    r"""The EnsLoss loss-derivatives of a batch, deterministic given the standard normal draws ``normals``.

    Follows the authors' steps in order (docs/ensloss.md, "The generator step by step"):

    .. math::
        v = \mathrm{sort}\big(-\mathrm{BC}^{-1}(\varepsilon; \lambda)\big), \quad v \leftarrow \max(v, c), \quad
        g_{\pi(j)} = v_j, \quad g_i \leftarrow \frac{g_i}{\max(1, z_i / t)} - \epsilon,

    where :math:`\pi` is the (stable) argsort of the margins. Then ``g`` is non-decreasing in the margin,
    :math:`-1 - \epsilon \le g < 0`, and :math:`|g_i + \epsilon| \le t / z_i` for :math:`z_i > t`.

    With a general ``tail_threshold`` t the tail factor is :math:`t / z` (continuous at :math:`z = t`); the
    authors hard-code :math:`t = 1` and divide by :math:`z`, which is the same at the default. Dividing by
    :math:`z` with :math:`t < 1` would raise the magnitude above 1 on :math:`(t, 1)` and break monotonicity
    (docs/ensloss.md, "Findings").

    Pure and jittable; the leading axes are batch axes (each row is one batch, ranked along the last axis).

    Args:
        margins: finite real array ``[..., batch_size]``, ``batch_size >= 1`` (:math:`z = y f(x)`).
        normals: real array of the same shape, standard normal draws (NaN raises; ``+-inf`` allowed).
        box_cox: :math:`\lambda`, finite (``0``: log-normal magnitudes, the authors' default).
        clip: :math:`c`, the lower clip of the derivatives, ``-inf < c < 0`` (default ``-1``).
        tail_threshold: :math:`t > 0` (``inf`` turns the tail step off; default ``1``).
        eps: :math:`\epsilon > 0`, the final shift (default ``1e-6``).

    Returns:
        ``g`` of the shape of ``margins``, in the promoted floating dtype of ``margins`` and ``normals``.

    Raises:
        ValueError: NaN or infinite margins, NaN normals, mismatched shapes, an empty batch, ``clip >= 0``,
            ``tail_threshold <= 0``, ``eps <= 0`` or a non-finite ``box_cox`` (concrete values, before tracing).

    Examples:
        >>> import numpy as np
        >>> g = ensloss_derivatives(np.array([-0.5, 2.0, 0.3, 1.5]), np.array([0.3, -1.2, 1.1, -0.4]))
        >>> [round(float(x), 5) for x in g]
        [-1.0, -0.1506, -1.0, -0.44688]

    References:
        Dai, ICML 2025 (arXiv 2409.00908), Algorithm 1; the authors' ``losses.py::ensLoss.forward`` (commit
        ``051d87d``); docs/ensloss.md, "The generator step by step".
    """
    z = _check_margins(margins)
    if not is_traced(normals):
        check_array("normals", normals, allow_inf=True)
    n = jnp.asarray(normals)
    if n.shape != z.shape:
        raise ValueError(f"normals must have the shape of margins {z.shape}, got {n.shape}")
    dtype = jnp.result_type(z.dtype, n.dtype if jnp.issubdtype(n.dtype, jnp.floating) else z.dtype)
    (lam, c, t, e), ok = _check_hyper(box_cox, clip, tail_threshold, eps)
    return _derivatives_checked(z.astype(dtype), n.astype(dtype), lam, c, t, e, ok)


def sample_ensloss_derivatives(key, margins, *, box_cox=0.0, clip=-1.0, tail_threshold=1.0, eps=1e-6):
    r"""Random EnsLoss loss-derivatives of a batch: :func:`ensloss_derivatives` with fresh standard normals.

    ``sample_ensloss_derivatives(key, z, **kw) == ensloss_derivatives(z, jax.random.normal(key, z.shape,
    z.dtype), **kw)``: one draw per margin, in the margins' floating dtype.

    Args:
        key: a JAX PRNG key.
        margins: finite real array ``[..., batch_size]``.
        box_cox, clip, tail_threshold, eps: as in :func:`ensloss_derivatives`.

    Returns:
        ``g`` of the shape of ``margins``.

    References:
        Dai, ICML 2025 (arXiv 2409.00908), Algorithm 1 (a fresh calibrated loss-derivative for every batch);
        docs/ensloss.md, "The generator step by step".
    """
    key = check_key(key)
    z = _check_margins(margins)
    normals = _random.normal(key, z.shape, z.dtype)
    return ensloss_derivatives(z, normals, box_cox=box_cox, clip=clip, tail_threshold=tail_threshold, eps=eps)


def ensloss_surrogate(key, margins, *, box_cox=0.0, clip=-1.0, tail_threshold=1.0, eps=1e-6):
    r"""The EnsLoss training surrogate :math:`\mathrm{mean}(\mathrm{sg}(g)\, z)`, whose gradient is the sampled
    derivative.

    .. math::
        \ell(z) = \frac{1}{|z|}\sum_i \mathrm{sg}(g_i)\, z_i, \qquad
        \frac{\partial \ell}{\partial z_i} = \frac{g_i}{|z|},

    with ``g = sample_ensloss_derivatives(key, stop_gradient(z), ...)``; for :math:`z_i = y_i f_\theta(x_i)` the
    gradient is :math:`\frac1B\sum_i g_i y_i \nabla_\theta f_\theta(x_i)`. The value itself is not a loss to
    monitor (it is not monotone in training progress); log the 0-1 or logistic loss instead.

    Args:
        key: a JAX PRNG key.
        margins: finite real array ``[..., batch_size]`` (differentiable).
        box_cox, clip, tail_threshold, eps: as in :func:`ensloss_derivatives`.

    Returns:
        A scalar (the mean over every element of ``margins``).

    References:
        Dai, ICML 2025 (arXiv 2409.00908), Algorithm 1; the authors' ``losses.py::ensLoss.forward`` (the
        ``loss = g_batch * s_batch`` line, then ``mean``).
    """
    z = _check_margins(margins)
    g = jax.lax.stop_gradient(sample_ensloss_derivatives(key, jax.lax.stop_gradient(z), box_cox=box_cox,
                                                         clip=clip, tail_threshold=tail_threshold, eps=eps))
    return jnp.mean(g * z)


def check_generator_hyperparameters(*, box_cox=0.0, clip=-1.0, tail_threshold=1.0, eps=1e-6) -> dict:
    """The generator's hyperparameters as Python floats after the eager checks (for simulators that take them)."""
    return {"box_cox": check_real("box_cox", box_cox), "clip": check_real("clip", clip, high=0.0, high_open=True),
            "tail_threshold": check_real("tail_threshold", tail_threshold, low=0.0, low_open=True, allow_inf=True),
            "eps": check_real("eps", eps, low=0.0, low_open=True)}
