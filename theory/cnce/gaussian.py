r"""The Gaussian test family of unnormalised models, in two parameterisations, with its closed forms.

Data :math:`p_d = N(R, I)`, noise :math:`q = N(\mu_q, I)`, model :math:`p_\theta = N(\theta, I)` written
unnormalised in one of two ways:

* **shift**: :math:`\log\tilde p(x;\theta) = -\lVert x-\theta\rVert^2/2`, so :math:`Z = (2\pi)^{d/2}` does not
  depend on :math:`\theta` (and an error in :math:`\nabla\log Z` is invisible);
* **natural**: :math:`\log\tilde p(x;\theta) = \theta^\top x - \lVert x\rVert^2/2`, so
  :math:`\log Z(\theta) = \lVert\theta\rVert^2/2 + \tfrac d2\log 2\pi` and :math:`\nabla\log Z = \theta`.

With :math:`\sigma = \lVert\theta-\mu_q\rVert`: :math:`\chi^2(p_\theta\Vert q) = e^{\sigma^2}-1`, and the
importance-weighted score moment :math:`\mathbb E_q[(r/Z)^2\lVert\nabla\log\tilde p\rVert^2]` is
:math:`e^{\sigma^2}(d + \sigma^2)` (shift) or :math:`e^{\sigma^2}(d + \lVert2\theta-\mu_q\rVert^2)` (natural).
The NCE Hessian at the optimum (1-D, :math:`\tilde T = (x, -1)`) is
:math:`H^* = \int \nu q\, p_d/(p_d+\nu q)\,\tilde T\tilde T^\top dx`, computed by quadrature in float64;
its smallest eigenvalue decays like :math:`R^{-5}e^{-R^2/8}` (``docs/cnce.md``, "The NCE landscape").

The closed forms are NumPy/SciPy float64 functions (eager); the log-densities are ``jax.numpy`` and jittable.

References:
    Jiang, Qin, Wu, Chen, Yang, Zhang, *Learning Unnormalized Statistical Models via Compositional
    Optimization*, ICML 2023 (arXiv 2306.07485), the Gaussian mean-estimation landscape; Gutmann, Hyvarinen,
    *Noise-contrastive estimation of unnormalized statistical models*, JMLR 13, 2012 (the NCE loss); Liu, Rosenfeld,
    Ravikumar, Risteski, *Analyzing and Improving the Optimization Landscape of Noise-Contrastive Estimation*,
    ICLR 2022 (arXiv 2110.11271; the flat landscape and eNCE); docs/cnce.md, "The Gaussian family".
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from theory._validation import check_choice, check_real

__all__ = [
    "PARAMETERISATIONS",
    "log_unnormalised",
    "shift_log_unnormalised",
    "natural_log_unnormalised",
    "gaussian_log_density",
    "gaussian_log_partition",
    "gaussian_partition",
    "gaussian_chi2",
    "gaussian_score_moment",
    "meco_gradient_variance",
    "gaussian_nll",
    "population_nce_loss",
    "nce_hessian_at_optimum",
    "nce_min_eigenvalue",
    "nce_profiled_normaliser",
    "profiled_nce_loss",
    "ence_gaussian_loss",
    "ence_curvature",
]

PARAMETERISATIONS = ("shift", "natural")
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def shift_log_unnormalised(theta, x):
    r""":math:`\log\tilde p(x;\theta) = -\lVert x-\theta\rVert^2/2` for ``x`` of shape ``[batch, dim]`` (or
    ``[batch]`` in 1-D) and ``theta`` ``[dim]`` (or a scalar); returns ``[batch]``."""
    x, theta = jnp.asarray(x), jnp.asarray(theta)
    d = x - theta
    return -0.5 * (jnp.sum(d * d, axis=-1) if theta.ndim else d * d)


def natural_log_unnormalised(theta, x):
    r""":math:`\log\tilde p(x;\theta) = \theta^\top x - \lVert x\rVert^2/2` (shapes as
    :func:`shift_log_unnormalised`)."""
    x, theta = jnp.asarray(x), jnp.asarray(theta)
    if theta.ndim:
        return x @ theta - 0.5 * jnp.sum(x * x, axis=-1)
    return theta * x - 0.5 * x * x


def log_unnormalised(parameterisation: str):
    """The model's log-density function ``(theta, x) -> [batch]`` for ``"shift"`` or ``"natural"``."""
    check_choice("parameterisation", parameterisation, PARAMETERISATIONS)
    return shift_log_unnormalised if parameterisation == "shift" else natural_log_unnormalised


def gaussian_log_density(x, *, mean=0.0):
    r"""The normalised log-density of :math:`N(\text{mean}, I)` at ``x`` (``[batch]`` in 1-D or ``[batch, dim]``):
    the noise log-density :math:`\log q` of the Gaussian family."""
    x, mean = jnp.asarray(x), jnp.asarray(mean)
    if mean.ndim:
        d = x - mean
        return -0.5 * jnp.sum(d * d, axis=-1) - mean.shape[-1] * HALF_LOG_2PI
    return -0.5 * (x - mean) ** 2 - HALF_LOG_2PI


def _theta(theta):
    t = np.asarray(theta, np.float64)
    if not np.all(np.isfinite(t)):
        raise ValueError("theta must be finite")
    return t


def gaussian_log_partition(theta, *, parameterisation: str = "natural"):
    r""":math:`\log Z(\theta)`: :math:`\tfrac d2\log2\pi` (shift) or
    :math:`\lVert\theta\rVert^2/2 + \tfrac d2\log 2\pi` (natural); ``theta`` a scalar (1-D) or ``[dim]``."""
    check_choice("parameterisation", parameterisation, PARAMETERISATIONS)
    t = _theta(theta)
    d = 1 if t.ndim == 0 else t.shape[-1]
    base = d * HALF_LOG_2PI
    return float(base if parameterisation == "shift" else base + 0.5 * np.sum(t * t))


def gaussian_partition(theta, *, parameterisation: str = "natural"):
    r""":math:`Z(\theta) = \int\tilde p(x;\theta)dx`, the exponential of :func:`gaussian_log_partition`."""
    return math.exp(gaussian_log_partition(theta, parameterisation=parameterisation))


def gaussian_chi2(theta, noise_mean=0.0):
    r""":math:`\chi^2(N(\theta, I)\Vert N(\mu_q, I)) = e^{\lVert\theta-\mu_q\rVert^2} - 1`, the normalised variance
    :math:`\mathrm{Var}_q(r)/Z^2` of the importance weight :math:`r = \tilde p/q` (both parameterisations)."""
    s2 = float(np.sum((_theta(theta) - _theta(noise_mean)) ** 2))
    return math.expm1(s2)


def gaussian_score_moment(theta, noise_mean=0.0, *, parameterisation: str = "shift"):
    r""":math:`\mathbb E_q[(r/Z)^2\lVert\nabla_\theta\log\tilde p\rVert^2]`: :math:`e^{\sigma^2}(d+\sigma^2)` (shift),
    :math:`e^{\sigma^2}(d+\lVert 2\theta-\mu_q\rVert^2)` (natural), :math:`\sigma = \lVert\theta-\mu_q\rVert`.

    The second moment of the noise term of MECO's gradient with the exact partition function; the noise enters
    the variance of the stochastic gradient through it (docs/cnce.md, "Variance and bias of the estimators").
    """
    check_choice("parameterisation", parameterisation, PARAMETERISATIONS)
    t, m = _theta(theta), _theta(noise_mean)
    d = 1 if t.ndim == 0 else t.shape[-1]
    s2 = float(np.sum((t - m) ** 2))
    tail = s2 if parameterisation == "shift" else float(np.sum((2 * t - m) ** 2))
    return math.exp(s2) * (d + tail)


def meco_gradient_variance(theta, noise_mean=0.0, *, batch_size: int, num_noise: int,
                           parameterisation: str = "shift"):
    r"""The variance of MECO's stochastic gradient with the exact :math:`Z` (1-D, data :math:`N(R, 1)`):

    .. math::

        \mathrm{Var}(G) = \frac1B + \frac{\mathbb E_q[(r/Z)^2 s^2] - (\nabla\log Z)^2}{m},

    :math:`s = \nabla\log\tilde p`, i.e. :math:`1/B + e^{\sigma^2}(1+\sigma^2)/m` (shift) and
    :math:`1/B + (e^{\sigma^2}(1+(2\theta-\mu_q)^2) - \theta^2)/m` (natural). It grows like :math:`e^{\sigma^2}`.
    """
    t = float(_theta(theta))
    mean_sq = gaussian_score_moment(t, noise_mean, parameterisation=parameterisation)
    grad_log_z = 0.0 if parameterisation == "shift" else t
    return 1.0 / batch_size + (mean_sq - grad_log_z**2) / num_noise


def gaussian_nll(theta, *, data_mean, parameterisation: str = "natural"):
    r"""The population NLL :math:`F(\theta) = \mathbb E_{p_d}[-\log\tilde p] + \log Z` for data :math:`N(R, 1)`:
    :math:`\tfrac12(\theta-R)^2 + \tfrac12 + \tfrac12\log 2\pi` in both parameterisations (1-D)."""
    check_choice("parameterisation", parameterisation, PARAMETERISATIONS)
    t, r = float(_theta(theta)), float(_theta(data_mean))
    return 0.5 * (t - r) ** 2 + 0.5 + HALF_LOG_2PI


# ----------------------------------------------------------------------------------------------------------------
# Population NCE in the natural parameterisation with a free normaliser c (1-D, float64 quadrature)


def _window(data_mean, noise_mean):
    lo, hi = min(data_mean, noise_mean) - 12.0, max(data_mean, noise_mean) + 12.0
    mid = 0.5 * (data_mean + noise_mean)
    return lo, hi, sorted({data_mean, noise_mean, mid})


def _quad(f, data_mean, noise_mean):
    from scipy import integrate  # deferred: SciPy's quadrature is imported on first use

    lo, hi, pts = _window(data_mean, noise_mean)
    edges = [lo, *pts, hi]
    return sum(integrate.quad(f, a, b, epsabs=1e-300, epsrel=1e-13, limit=200)[0]
               for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a)


def _nce_checks(data_mean, nu, noise_mean):
    R = check_real("data_mean", data_mean)
    nu = check_real("nu", nu, low=0.0, low_open=True)
    mu = check_real("noise_mean", noise_mean)
    return R, nu, mu


def _log_normal(x, m):
    return -0.5 * (x - m) ** 2 - HALF_LOG_2PI


def population_nce_loss(theta, c, *, data_mean, nu=1.0, noise_mean=0.0, scale=1.0):
    r"""Population NCE loss of :math:`\log p_m = \theta x - x^2/2 - c` (1-D, quadrature, float64):

    .. math::

        L(\theta, c) = \mathbb E_{p_d}[\mathrm{softplus}(-G)] + \nu\,\mathbb E_q[\mathrm{softplus}(G)],\quad
        G = \log p_m - \log q - \log\nu.

    At the optimum :math:`(R, R^2/2 + \tfrac12\log 2\pi)` with :math:`\nu = 1, \mu_q = 0` it is 1.1634513968
    (R = 1), 0.7126327204 (R = 2); with the model equal to the noise it is :math:`(1+\nu)\log(1+\nu)-\nu\log\nu`.
    """
    R, nu, mu = _nce_checks(data_mean, nu, noise_mean)
    t, c = check_real("theta", theta), check_real("c", c)
    lnu = math.log(nu)

    def g(x):
        return t * x - 0.5 * x * x - c - _log_normal(x, mu) - lnu

    def f(x):
        return (math.exp(_log_normal(x, R)) * np.logaddexp(0.0, -g(x))
                + nu * math.exp(_log_normal(x, mu)) * np.logaddexp(0.0, g(x)))

    return scale * _quad(f, R, mu)


def _hessian_parts(R, nu, mu):
    """Moments of the weight w = nu q p_d / (p_d + nu q) about the centre (R + mu) / 2."""
    centre = 0.5 * (R + mu)
    lnu = math.log(nu)

    def w(x):
        lq, lp = _log_normal(x, mu), _log_normal(x, R)
        return math.exp(lnu + lq + lp - np.logaddexp(lp, lnu + lq))

    m = [_quad(lambda x, k=k: w(x) * (x - centre) ** k, R, mu) for k in range(3)]
    return centre, m


def nce_hessian_at_optimum(data_mean, *, nu=1.0, noise_mean=0.0, scale=1.0):
    r"""The population NCE Hessian in :math:`(\theta, c)` at the optimum, :math:`H^* = s\int \nu q\,p_d/(p_d+\nu q)\,
    \tilde T\tilde T^\top dx`, :math:`\tilde T = (x, -1)` (2x2, float64 quadrature; ``scale`` = s).

    At :math:`R = 2` (:math:`\nu = 1, \mu_q = 0`): [[0.3578439184, -0.2247997546], [-0.2247997546, 0.2247997546]].

    References:
        Gutmann, Hyvarinen, JMLR 2012 (the NCE loss); Liu et al., ICLR 2022 (its Hessian in exponential
        families); docs/cnce.md, "The NCE landscape".
    """
    R, nu, mu = _nce_checks(data_mean, nu, noise_mean)
    centre, (m0, m1, m2) = _hessian_parts(R, nu, mu)
    h00 = m2 + 2 * centre * m1 + centre**2 * m0
    h01 = -(m1 + centre * m0)
    return scale * np.array([[h00, h01], [h01, m0]])


def nce_min_eigenvalue(data_mean, *, nu=1.0, noise_mean=0.0, scale=1.0):
    r""":math:`\lambda_{\min}(H^*)`, computed as :math:`\det H^*/\lambda_{\max}` with the determinant from the centred
    moments (:math:`\det H^* = m_0 m_2 - m_1^2`), which keeps its relative accuracy down to :math:`10^{-12}` where a
    plain eigensolver loses digits. 0.0568860947 at R = 2, 0.0020602205 at R = 4, :math:`1.43\cdot10^{-9}` at
    R = 10 (:math:`\nu = 1, \mu_q = 0`); asymptotically :math:`C R^{-5}e^{-R^2/8}` (docs/cnce.md, "The NCE
    landscape")."""
    R, nu, mu = _nce_checks(data_mean, nu, noise_mean)
    centre, (m0, m1, m2) = _hessian_parts(R, nu, mu)
    h = nce_hessian_at_optimum(R, nu=nu, noise_mean=mu)
    lam_max = float(np.linalg.eigvalsh(h)[-1])
    return scale * (m0 * m2 - m1 * m1) / lam_max


def nce_profiled_normaliser(theta, *, data_mean, noise_mean=0.0):
    r"""The NCE-optimal normaliser for fixed :math:`\theta` at :math:`\nu = 1`:
    :math:`c^*(\theta) = \tfrac12\log 2\pi + \mu_q^2/2 + (\theta-\mu_q)(R+\mu_q)/2` (the logistic classifier's
    threshold sits at the midpoint :math:`(R+\mu_q)/2` by symmetry; :math:`\theta R/2 + \tfrac12\log2\pi` for
    :math:`\mu_q = 0`)."""
    t, R, mu = check_real("theta", theta), check_real("data_mean", data_mean), check_real("noise_mean", noise_mean)
    return HALF_LOG_2PI + 0.5 * mu * mu + 0.5 * (t - mu) * (R + mu)


_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(200)
_GH_W = _GH_W / math.sqrt(2 * math.pi)


def profiled_nce_loss(theta, *, data_mean, derivative: int = 0):
    r"""The profiled NCE loss :math:`L_{\rm prof}(\theta) = \min_c L = 2\,\mathbb E_{y\sim N(R/2,1)}
    [\mathrm{softplus}(-\theta y)]` (:math:`\nu = 1, \mu_q = 0`), or its first/second derivative; vectorised in
    ``theta`` (Gauss-Hermite, 200 nodes, float64). :math:`L_{\rm prof}''(0) = (1+R^2/4)/2`."""
    from scipy import special

    R = check_real("data_mean", data_mean)
    derivative = int(check_choice("derivative", derivative, (0, 1, 2)))
    t = np.asarray(theta, np.float64)[..., None]
    y = R / 2 + _GH_X
    z = -t * y
    if derivative == 0:
        f = np.logaddexp(0.0, z)
    elif derivative == 1:
        f = -y * special.expit(z)
    else:
        f = y * y * special.expit(z) * special.expit(-z)
    return 2.0 * np.sum(_GH_W * f, axis=-1)


def ence_gaussian_loss(theta, *, data_mean):
    r"""The eNCE loss of the normalised model :math:`N(\theta, 1)` against :math:`q = N(0, 1)`:
    :math:`\mathbb E_{p_d}\sqrt{q/p_\theta} + \mathbb E_q\sqrt{p_\theta/q} = e^{3\theta^2/8 - \theta R/2} +
    e^{-\theta^2/8}`, minimised at :math:`\theta = R` (Liu et al., ICLR 2022)."""
    t = np.asarray(theta, np.float64)
    R = check_real("data_mean", data_mean)
    return np.exp(3 * t * t / 8 - t * R / 2) + np.exp(-t * t / 8)


def ence_curvature(data_mean):
    r""":math:`L_{\rm eNCE}''(R) = (1/2 + R^2/8)e^{-R^2/8}`: 0.6065307 at R = 2, 0.3383382 at R = 4."""
    R = check_real("data_mean", data_mean)
    return (0.5 + R * R / 8) * math.exp(-R * R / 8)
