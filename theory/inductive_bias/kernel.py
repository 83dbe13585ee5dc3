r"""Kernel (Gaussian-process) hypothesis spaces: the posterior of hypotheses that fit the training data, the exact
law of their test error, and the exact inductive bias.

Hypotheses :math:`h(x) = \Phi(x)^\top\theta`, :math:`\theta \sim N(0, I)`, conditioned to fit the training set
(noise-free, optional jitter :math:`\tau^2`) are a GP posterior on the ``m`` test points, independently per
output: :math:`\mu = K_{*X}(K_{XX} + \tau^2 I)^{-1}Y`, :math:`C = K_{**} - K_{*X}(K_{XX} + \tau^2 I)^{-1}K_{X*}`.
With :math:`C = U\Lambda U^\top` and :math:`R = U^\top(\mu - Y_{te})` the test error
:math:`e = \frac{1}{mk}\|F - Y_{te}\|^2` of a posterior draw ``F`` is exactly

.. math:: e = c_0 + \sum_{i:\lambda_i > 0} \frac{\lambda_i}{mk}\chi^2_k\Big(\frac{\sum_o R_{io}^2}{\lambda_i}\Big),
   \qquad c_0 = \frac{1}{mk}\sum_{i:\lambda_i = 0}\sum_o R_{io}^2,

a generalised chi-squared law with :math:`D = k\,\mathrm{rank}(C)` degrees of freedom. As
:math:`\varepsilon \downarrow c_0`, :math:`I(\varepsilon) = \tfrac D2\log_2\frac{1}{\varepsilon - c_0} +
\sum_i\tfrac k2\log_2(2w_i) + \log_2\Gamma(\tfrac D2 + 1) + \tfrac{\sum_i\lambda_i}{2}\log_2 e + o(1)`: half a bit per
degree of freedom per halving of :math:`\varepsilon`.

References:
    Boopathy, Yue, Hwang, Iyer, Fiete, *Towards Exact Computation of Inductive Bias*, IJCAI 2024
    (arXiv 2406.15941): Eq. 1, Eq. 2 (hypotheses linear in their parameters) and Algorithm 1 (kernel-based
    sampling); Rasmussen and Williams, *Gaussian Processes for Machine Learning*, 2006, Eq. 2.19;
    docs/inductive_bias.md, "The exact law" and "The small-eps law".
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import special

from theory._validation import check_array, check_real
from theory.inductive_bias.estimators import _check_base
from theory.inductive_bias.gchisq import GChiSq

__all__ = [
    "rbf_kernel",
    "gp_posterior",
    "posterior_sqrt",
    "test_error_law",
    "exact_inductive_bias",
    "small_eps_inductive_bias",
]


def _as_points(name, x):
    arr = check_array(name, x)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape [n] or [n, dim], got {arr.shape}")
    return arr


def rbf_kernel(a, b, *, lengthscale=1.0):
    r"""The RBF kernel :math:`k(a, b) = \exp(-\|a - b\|^2 / (2\ell^2))` between point sets ``a [n(, dim)]`` and
    ``b [p(, dim)]`` -> ``[n, p]`` (float64).

    References:
        Rasmussen and Williams 2006, Eq. 2.31; the official code of Boopathy et al. (arXiv 2406.15941) uses
        ``lengthscale = 1``.
    """
    ell = check_real("lengthscale", lengthscale, low=0.0, low_open=True)
    a, b = _as_points("a", a), _as_points("b", b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same dim, got {a.shape[1]} and {b.shape[1]}")
    sq = np.sum(a**2, 1)[:, None] + np.sum(b**2, 1)[None, :] - 2.0 * a @ b.T
    return np.exp(-np.maximum(sq, 0.0) / (2.0 * ell**2))


def _kernel_fn(kernel) -> Callable:
    if callable(kernel):
        return kernel
    ell = check_real("kernel", kernel, low=0.0, low_open=True)
    return lambda a, b: rbf_kernel(a, b, lengthscale=ell)


def gp_posterior(x_train, y_train, x_test, *, kernel, jitter=0.0):
    r"""The posterior of hypotheses that interpolate the training data, on the test points: ``(mean, cov)``.

    :math:`\mu = K_{*X}(K_{XX} + \tau^2 I)^{-1}Y` (``[m]`` or ``[m, k]``, like ``y_train``),
    :math:`C = K_{**} - A^\top A` with :math:`A = L^{-1}K_{X*}`, :math:`LL^\top = K_{XX} + \tau^2 I` (Cholesky; an
    eigendecomposition with the null space dropped if the Gram matrix is singular), its negative round-off
    eigenvalues clipped to 0. Never a matrix square root.

    Args:
        x_train: ``[n]`` or ``[n, dim]`` inputs; y_train: ``[n]`` or ``[n, k]`` targets.
        x_test: ``[m]`` or ``[m, dim]``.
        kernel: a callable ``kernel(a, b) -> [len(a), len(b)]`` or a positive RBF lengthscale.
        jitter: :math:`\tau^2 \ge 0` added to the training Gram matrix.

    References:
        Rasmussen and Williams 2006, Eqs. 2.19 and Algorithm 2.1; Boopathy et al., IJCAI 2024
        (arXiv 2406.15941), Algorithm 1 (whose official code uses Adam solves and ``sqrtm``).
    """
    k = _kernel_fn(kernel)
    jitter = check_real("jitter", jitter, low=0.0)
    xtr, xte = _as_points("x_train", x_train), _as_points("x_test", x_test)
    ytr = check_array("y_train", y_train)
    if ytr.ndim not in (1, 2) or ytr.shape[0] != xtr.shape[0]:
        raise ValueError(f"y_train must have shape [n] or [n, k] with n = {xtr.shape[0]}, got {ytr.shape}")
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(f"x_train and x_test must have the same dim, got {xtr.shape[1]} and {xte.shape[1]}")
    kxx = np.asarray(k(xtr, xtr), np.float64) + jitter * np.eye(xtr.shape[0])
    ksx = np.asarray(k(xte, xtr), np.float64)
    kss = np.asarray(k(xte, xte), np.float64)
    try:
        chol = np.linalg.cholesky(kxx)
        from scipy.linalg import solve_triangular

        a = solve_triangular(chol, ksx.T, lower=True)
        b = solve_triangular(chol, ytr, lower=True)
    except np.linalg.LinAlgError:
        lam, u = np.linalg.eigh((kxx + kxx.T) / 2)
        keep = lam > 1e-12 * max(lam.max(), 1e-300)
        root = u[:, keep] / np.sqrt(lam[keep])
        a, b = root.T @ ksx.T, root.T @ ytr
    mean = a.T @ b
    cov = kss - a.T @ a
    # C is PSD in exact arithmetic; the subtraction leaves round-off of order eps * |K_**|, which can exceed the
    # tiny eigenvalues of a nearly determined posterior: project onto the PSD cone
    lam, u = np.linalg.eigh((cov + cov.T) / 2.0)
    cov = (u * np.clip(lam, 0.0, None)) @ u.T
    return mean, (cov + cov.T) / 2.0


def _check_cov(cov, m):
    c = check_array("cov", cov, ndim=2)
    if c.shape != (m, m):
        raise ValueError(f"cov must have shape ({m}, {m}) to match mean, got {c.shape}")
    scale = max(np.max(np.abs(c)), 1e-300)
    if np.max(np.abs(c - c.T)) > 1e-8 * scale:
        raise ValueError(f"cov must be symmetric (max |C - C^T| = {np.max(np.abs(c - c.T)):.3g})")
    lam, u = np.linalg.eigh((c + c.T) / 2)
    if lam.min() < -1e-8 * max(np.abs(lam).max(), 1e-300):
        raise ValueError(f"cov must be positive semi-definite: smallest eigenvalue {lam.min():.3g} "
                         f"(largest |eigenvalue| {np.abs(lam).max():.3g})")
    return np.clip(lam, 0.0, None), u


def posterior_sqrt(cov):
    r"""A square root :math:`S = U\sqrt{\Lambda}` of a PSD covariance (``S S^T = C``; eigh with negative
    round-off clipped), used to draw :math:`F = \mu + S\,\xi`."""
    lam, u = _check_cov(cov, np.asarray(cov).shape[0])
    return u * np.sqrt(lam)


def test_error_law(mean, cov, y_test, *, rtol=1e-10) -> GChiSq:
    r"""The exact law of :math:`e = \frac{1}{mk}\|F - Y_{te}\|^2` for :math:`F \sim N(\mu, C)` per output.

    Args:
        mean: ``[m]`` or ``[m, k]`` posterior mean; cov: ``[m, m]`` PSD covariance (shared by the outputs);
            y_test: test targets shaped like ``mean``.
        rtol: eigenvalues at most ``rtol * max eigenvalue`` count as zero (their residual goes to the offset);
            this sets ``D = k * rank(C)``.

    Returns:
        :class:`GChiSq` with weights :math:`\lambda_i/(mk)`, ``k`` degrees of freedom each, non-centralities
        :math:`\sum_o R_{io}^2/\lambda_i` and offset :math:`c_0`.

    References:
        Boopathy et al., IJCAI 2024 (arXiv 2406.15941), the test-error distribution of kernel-sampled
        hypotheses; docs/inductive_bias.md, "The exact law".
    """
    mu = check_array("mean", mean)
    y = check_array("y_test", y_test)
    if mu.ndim == 1:
        mu, y = mu[:, None], (y[:, None] if y.ndim == 1 else y)
    if mu.ndim != 2 or y.shape != mu.shape:
        raise ValueError(f"y_test must have the shape of mean {mu.shape}, got {y.shape}")
    rtol = check_real("rtol", rtol, low=0.0, high=1.0, high_open=True)
    m, k = mu.shape
    lam, u = _check_cov(cov, m)
    resid = u.T @ (mu - y)
    pos = lam > rtol * max(lam.max(), 1e-300)
    if not np.any(pos):
        raise ValueError("cov has no positive eigenvalue: the test error is the constant offset")
    w = lam[pos] / (m * k)
    nc = np.sum(resid[pos] ** 2, axis=1) / lam[pos]
    c0 = float(np.sum(resid[~pos] ** 2) / (m * k))
    return GChiSq(w, np.full(w.size, float(k)), nc, c0)


def exact_inductive_bias(law: GChiSq, eps, *, base=2, method: str = "auto"):
    r"""The exact :math:`I(\varepsilon) = -\log_b P(Q \le \varepsilon)` of a :class:`GChiSq` law (bits by
    default; ``inf`` at or below the offset).

    Args:
        law: the test-error law (e.g. from :func:`test_error_law`).
        eps: threshold(s) ``> 0``.
        base: logarithm base ``> 1``.
        method: the evaluator (see :meth:`GChiSq.logcdf`).

    References:
        Boopathy et al., IJCAI 2024 (arXiv 2406.15941), Eq. 1; docs/inductive_bias.md, "The exact law".
    """
    if not isinstance(law, GChiSq):
        raise TypeError(f"law must be a GChiSq, got {type(law).__name__}")
    base = _check_base(base)
    e = check_array("eps", eps, low=0.0, low_open=True)
    lp = np.asarray(law.logcdf(e, method=method), np.float64)
    out = -lp / math.log(base) + 0.0
    return float(out) if out.ndim == 0 else out


def small_eps_inductive_bias(law: GChiSq, eps, *, base=2):
    r"""The small-:math:`\varepsilon` law (positive weights): :math:`P(Q \le \varepsilon) \sim
    (\varepsilon - c_0)^{D/2} e^{-\sum\lambda_j/2}\prod_j(2w_j)^{-d_j/2}/\Gamma(D/2 + 1)`, i.e.

    .. math:: I(\varepsilon) \approx \tfrac D2\log_b\tfrac{1}{\varepsilon - c_0} + \sum_j\tfrac{d_j}{2}\log_b(2w_j)
       + \log_b\Gamma(\tfrac D2 + 1) + \tfrac{\sum_j\lambda_j}{2}\log_b e,

    with relative error :math:`O((\varepsilon - c_0)/\min_j w_j)`.

    References:
        docs/inductive_bias.md, "The small-eps law" (derived from the first term of Ruben's series).
    """
    if not isinstance(law, GChiSq):
        raise TypeError(f"law must be a GChiSq, got {type(law).__name__}")
    base = _check_base(base)
    w, d, nc, c0 = law.params
    if np.any(w < 0):
        raise ValueError("the small-eps law needs positive weights")
    e = check_array("eps", eps, low=0.0, low_open=True)
    D = d.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        nats = (0.5 * D * -np.log(np.where(e > c0, e - c0, np.nan)) + np.sum(0.5 * d * np.log(2 * w))
                + special.gammaln(0.5 * D + 1) + 0.5 * nc.sum())
    nats = np.where(e > c0, nats, np.inf)
    out = nats / math.log(base)
    return float(out) if out.ndim == 0 else out


test_error_law.__test__ = False  # not a pytest test, whatever module imports it
