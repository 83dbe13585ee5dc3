r"""Contrastive losses that share MECO's primitive :math:`\tau\log\mathbb E[e^{h/\tau}]`: Wang & Liu's
hardness-aware loss, InfoNCE against decoupled contrastive learning (DCL), and iSogCLR's robust (KL-DRO) global
contrastive loss with per-anchor temperatures.

* Wang & Liu: :math:`L = -s_{ii}/\tau + \log\sum_k e^{s_{ik}/\tau}`; the relative penalty on a negative,
  :math:`|\partial L/\partial s_{ij}| / |\partial L/\partial s_{ii}|`, is the softmax of the negatives'
  similarities at temperature :math:`\tau` (:func:`hardness_weights`).
* DCL: :math:`L_{\rm DCL} = -\langle z_i^{(1)}, z_i^{(2)}\rangle/\tau + \log U_i` drops the positive from
  InfoNCE's denominator, so :math:`L_{\rm InfoNCE} = L_{\rm DCL} - \log q_i` with the coupling factor
  :math:`q_i = U_i/(e^{{\rm pos}/\tau} + U_i)`, and :math:`\nabla L_{\rm InfoNCE} = q_i\nabla L_{\rm DCL}`.
* iSogCLR: :math:`\max_{p:\,\mathrm{KL}(p\Vert u)\le\rho}\langle p, h\rangle = \min_{\tau\ge0}
  \tau\log\mathbb E_u e^{h/\tau} + \tau\rho`, and :math:`\partial_\tau(\tau\log\mathbb E_u e^{h/\tau} +
  \tau\rho) = \rho - \mathrm{KL}(p_\tau\Vert u)`, :math:`p_\tau = \mathrm{softmax}(h/\tau)`.

The losses are ``jax.numpy`` (jittable, differentiable); :func:`robust_gcl_dual` and
:func:`expected_npc_multiplier` are SciPy float64.

References:
    F. Wang, H. Liu, *Understanding the Behaviour of Contrastive Loss*, CVPR 2021 (arXiv 2012.09740), Eqs. 1-4
    (the gradient and relative penalty); C.-H. Yeh et al., *Decoupled Contrastive Learning*, ECCV 2022 (arXiv
    2110.06848), Eqs. 1-4 and Proposition 1; Z.-H. Qiu et al., *Not All Semantics are Created Equal: Contrastive
    Self-supervised Learning with Automatic Temperature Individualization*, ICML 2023 (arXiv 2305.11965), the
    robust global contrastive loss (its Eq. 6 as restated in the LibAUC documentation); docs/cnce.md,
    "Contrastive losses".
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import as_jit_input, check_int, check_real, is_traced, nan_unless
from theory.logspace import logmeanexp, softmax_weights

__all__ = [
    "contrastive_loss",
    "hardness_weights",
    "infonce_loss",
    "dcl_loss",
    "npc_multiplier",
    "expected_npc_multiplier",
    "npc_multiplier_mean_field",
    "robust_gcl_objective",
    "robust_gcl_dual",
    "robust_gcl_temperature_gradient",
]


def _temperature(value, name="temperature"):
    if is_traced(value):
        return value, value > 0
    return check_real(name, value, low=0.0, low_open=True), True


def _similarities(s, min_len=2):
    s = as_jit_input(s)
    if not jnp.issubdtype(s.dtype, jnp.floating):
        s = s.astype(jnp.result_type(float))
    if s.ndim < 1 or s.shape[-1] < min_len:
        raise ValueError(f"similarities must have shape [..., N] with the positive first and N >= {min_len}, got "
                         f"{s.shape}")
    if not is_traced(s) and not np.all(np.isfinite(np.asarray(s))):
        raise ValueError("similarities must be finite")
    return s


def contrastive_loss(similarities, *, temperature):
    r"""Wang & Liu's contrastive loss per anchor, positive first: :math:`L = -s_0/\tau + \log\sum_k e^{s_k/\tau}`.

    :math:`\tau L \to \max(\max_{k\ge1}s_k - s_0, 0)` as :math:`\tau\to0` and
    :math:`\tau(L - \log N)\to \overline{s} - s_0` (mean over all N) as :math:`\tau\to\infty`.

    Args:
        similarities: ``[..., N]``, ``s_0`` the positive, ``s_1..`` the negatives.
        temperature: :math:`\tau > 0`.

    References:
        Wang, Liu, CVPR 2021 (arXiv 2012.09740), Eq. 2; docs/cnce.md, "Contrastive losses".
    """
    s = _similarities(similarities)
    tau, ok = _temperature(temperature)
    return _contrastive(s, tau, ok)


# jitted: one compiled program per shape for eager calls (inlined under a caller's jit/vmap/grad)
@jax.jit
def _contrastive(s, tau, ok):
    return nan_unless(ok, -s[..., 0] / tau + jax.nn.logsumexp(s / tau, axis=-1))


def hardness_weights(similarities, *, temperature):
    r"""The relative penalties :math:`r_j = |\partial L/\partial s_j| / |\partial L/\partial s_0| =
    e^{s_j/\tau}/\sum_{k\ge1}e^{s_k/\tau}` on the negatives (``[..., N-1]``): a softmax over the negatives only,
    tending to the hardest negative as :math:`\tau\to0` and to uniform as :math:`\tau\to\infty`.

    References:
        Wang, Liu, CVPR 2021 (arXiv 2012.09740), Eq. 4 (the relative penalty); docs/cnce.md, "Contrastive losses".
    """
    s = _similarities(similarities)
    tau, ok = _temperature(temperature)
    return _hardness(s, tau, ok)


# jitted: one compiled program per shape for eager calls (inlined under a caller's jit/vmap/grad)
@jax.jit
def _hardness(s, tau, ok):
    return nan_unless(ok, softmax_weights(s[..., 1:], temperature=tau))


def _views(z1, z2):
    z1, z2 = as_jit_input(z1), as_jit_input(z2)
    if z1.ndim != 2 or z1.shape != z2.shape or z1.shape[0] < 2:
        raise ValueError(f"z1 and z2 must be embeddings [N, dim] of the same shape with N >= 2, got {z1.shape} and "
                         f"{z2.shape}")
    for name, z in (("z1", z1), ("z2", z2)):
        if not is_traced(z) and not np.all(np.isfinite(np.asarray(z))):
            raise ValueError(f"{name} must be finite")
    return z1, z2


def _dcl_parts(z1, z2, tau):
    """Per anchor i (view 1): pos_i / tau and log U_i, U_i summing the 2N - 2 negatives of both views."""
    n = z1.shape[0]
    pos = jnp.sum(z1 * z2, axis=-1) / tau
    off = ~jnp.eye(n, dtype=bool)
    neg = jnp.concatenate([jnp.where(off, z1 @ z1.T / tau, -jnp.inf), jnp.where(off, z1 @ z2.T / tau, -jnp.inf)],
                          axis=-1)
    return pos, jax.nn.logsumexp(neg, axis=-1)


# jitted: one compiled program per shape for eager calls (inlined under a caller's jit/vmap/grad)
@jax.jit
def _infonce(z1, z2, tau, ok):
    pos, log_u = _dcl_parts(z1, z2, tau)
    return nan_unless(ok, jnp.logaddexp(pos, log_u) - pos)


@jax.jit
def _dcl(z1, z2, tau, ok):
    pos, log_u = _dcl_parts(z1, z2, tau)
    return nan_unless(ok, log_u - pos)


@jax.jit
def _npc(z1, z2, tau, ok):
    pos, log_u = _dcl_parts(z1, z2, tau)
    return nan_unless(ok, jnp.exp(log_u - jnp.logaddexp(pos, log_u)))


def infonce_loss(z1, z2, *, temperature):
    r"""InfoNCE (NT-Xent) per anchor of view 1: :math:`-\log\frac{e^{{\rm pos}_i/\tau}}{e^{{\rm pos}_i/\tau}+U_i}`,
    :math:`U_i = \sum_{l\in\{1,2\}, j\ne i}e^{\langle z_i^{(1)}, z_j^{(l)}\rangle/\tau}` (2N - 2 negatives).

    References:
        Yeh et al., ECCV 2022 (arXiv 2110.06848), Eq. 1; docs/cnce.md, "Contrastive losses".
    """
    z1, z2 = _views(z1, z2)
    return _infonce(z1, z2, *_temperature(temperature))


def dcl_loss(z1, z2, *, temperature):
    r"""Decoupled contrastive loss per anchor of view 1: :math:`-{\rm pos}_i/\tau + \log U_i` (the positive left
    out of the denominator); :math:`L_{\rm InfoNCE} = L_{\rm DCL} - \log q_i`.

    References:
        Yeh et al., ECCV 2022 (arXiv 2110.06848), Eq. 4; docs/cnce.md, "Contrastive losses".
    """
    z1, z2 = _views(z1, z2)
    return _dcl(z1, z2, *_temperature(temperature))


def npc_multiplier(z1, z2, *, temperature):
    r"""The coupling (negative-positive coupling) factor :math:`q_i = U_i/(e^{{\rm pos}_i/\tau} + U_i)\in(0, 1)`:
    :math:`\nabla L_{\rm InfoNCE} = q_i\nabla L_{\rm DCL}` for every embedding.

    References:
        Yeh et al., ECCV 2022 (arXiv 2110.06848), Proposition 1; docs/cnce.md, "Contrastive losses".
    """
    z1, z2 = _views(z1, z2)
    return _npc(z1, z2, *_temperature(temperature))


def _sphere_log_density(s, dim):
    """log-density of s = <x, y> for independent uniform x, y on S^{dim-1}: prop. to (1 - s^2)^{(dim-3)/2}."""
    from scipy import special

    a = (dim - 1) / 2.0
    log_norm = -(special.betaln(a, a) + (dim - 2) * math.log(2.0))
    return log_norm + (dim - 3) / 2.0 * np.log1p(-s * s)


def npc_multiplier_mean_field(batch_size, *, dim, temperature, positive):
    r"""The mean-field approximation :math:`\bar U/(e^{s^+/\tau} + \bar U)`, :math:`\bar U = (2N-2)M_d(1/\tau)`,
    :math:`M_d(\kappa) = \Gamma(d/2)(2/\kappa)^{d/2-1}I_{d/2-1}(\kappa)` (0.2298 at N = 16, d = 128, tau = 0.1,
    s+ = 0.5)."""
    from scipy import special

    n = check_int("batch_size", batch_size, low=2)
    d = check_int("dim", dim, low=2)
    kappa = 1.0 / check_real("temperature", temperature, low=0.0, low_open=True)
    sp = check_real("positive", positive)
    nu = d / 2 - 1
    log_m = special.gammaln(d / 2) + nu * math.log(2 / kappa) + math.log(special.ive(nu, kappa)) + kappa
    u = (2 * n - 2) * math.exp(log_m - sp * kappa)
    return u / (1.0 + u)


def expected_npc_multiplier(batch_size, *, dim, temperature, positive, num_negatives=None):
    r"""The exact :math:`\mathbb E[q]` for an anchor with positive similarity :math:`s^+` and :math:`2N-2`
    independent negatives uniform on :math:`S^{d-1}`:

    .. math::

        \mathbb E\frac{U}{c+U} = 1 - c\int_0^\infty e^{-ct}\,L(t)^{2N-2}\,dt,\qquad
        L(t) = \mathbb E\,e^{-t e^{s/\tau}},\ c = e^{s^+/\tau},

    (float64 quadrature; the batch-size law of the coupling factor: :math:`\mathbb E q\to1` as N grows).
    ``num_negatives`` overrides the count :math:`2N-2`.

    References:
        Yeh et al., ECCV 2022 (arXiv 2110.06848), Proposition 1 and the batch-size discussion; the exact form is
        derived in docs/cnce.md, "Contrastive losses".
    """
    from scipy import integrate

    n = check_int("batch_size", batch_size, low=2)
    d = check_int("dim", dim, low=3)
    kappa = 1.0 / check_real("temperature", temperature, low=0.0, low_open=True)
    sp = check_real("positive", positive)
    k = 2 * n - 2 if num_negatives is None else check_int("num_negatives", num_negatives, low=1)
    # the s-grid: Gauss-Legendre on [-1, 1] in many panels (the density is smooth, the integrand e^{-t e^{kappa s}})
    nodes, weights = np.polynomial.legendre.leggauss(64)
    edges = np.linspace(-1.0, 1.0, 65)
    s = (0.5 * (edges[1:] - edges[:-1])[:, None] * nodes + 0.5 * (edges[1:] + edges[:-1])[:, None]).ravel()
    w = (0.5 * (edges[1:] - edges[:-1])[:, None] * weights).ravel() * np.exp(_sphere_log_density(s, d))
    w = w / w.sum()
    scaled = np.exp(kappa * (s - sp))  # e^{s/tau} / c

    def integrand(y):  # substitute t = y / c
        return math.exp(-y + k * math.log(max(np.dot(w, np.exp(-y * scaled)), 1e-300)))

    tail, _ = integrate.quad(integrand, 0.0, np.inf, epsabs=1e-13, epsrel=1e-11, limit=400)
    return 1.0 - tail


def _margins(h):
    h = as_jit_input(h)
    if not jnp.issubdtype(h.dtype, jnp.floating):
        h = h.astype(jnp.result_type(float))
    if h.ndim < 1 or h.shape[-1] < 1:
        raise ValueError(f"h must be a non-empty set of negatives' scores [..., m], got shape {h.shape}")
    if not is_traced(h) and not np.all(np.isfinite(np.asarray(h))):
        raise ValueError("h must be finite")
    return h


def _rho(rho):
    if is_traced(rho):
        return rho, rho >= 0
    return check_real("rho", rho, low=0.0), True


def robust_gcl_objective(h, *, temperature, rho):
    r"""iSogCLR's per-anchor robust objective :math:`\tau\log\frac1m\sum_j e^{h_j/\tau} + \tau\rho` over the
    negatives' scores :math:`h_j = \langle a_i, z_j\rangle - \langle a_i, a_i^+\rangle` (0.2770309068 at
    h = [0.2, -0.1, 0.5, -0.3, 0], tau = rho = 0.3).

    References:
        Qiu et al., ICML 2023 (arXiv 2305.11965), the robust global contrastive loss; docs/cnce.md, "Contrastive
        losses".
    """
    h = _margins(h)
    tau, ok = _temperature(temperature)
    rho, ok_rho = _rho(rho)
    return _robust_objective(h, tau, tau * rho, ok, ok_rho)  # tau * rho in Python for concrete values, as before


# jitted: one compiled program per shape for eager calls (inlined under a caller's jit/vmap/grad)
@jax.jit
def _robust_objective(h, tau, tau_rho, ok, ok_rho):
    return nan_unless(jnp.logical_and(ok, ok_rho), tau * logmeanexp(h / tau, axis=-1) + tau_rho)


def robust_gcl_temperature_gradient(h, *, temperature, rho):
    r""":math:`\partial_\tau` of :func:`robust_gcl_objective` in closed form: :math:`\rho - \mathrm{KL}(p_\tau\Vert
    u)`, :math:`p_\tau = \mathrm{softmax}(h/\tau)`, the KL computed stably as :math:`\mathbb E_{p_\tau}[h/\tau] -
    \log\frac1m\sum_j e^{h_j/\tau}` (-0.0968583583 at the example of :func:`robust_gcl_objective`).

    References:
        Qiu et al., ICML 2023 (arXiv 2305.11965), the temperature update of iSogCLR; docs/cnce.md,
        "Contrastive losses".
    """
    h = _margins(h)
    tau, ok = _temperature(temperature)
    rho, ok_rho = _rho(rho)
    return _robust_temperature_gradient(h, tau, rho, ok, ok_rho)


# jitted: one compiled program per shape for eager calls (inlined under a caller's jit/vmap/grad)
@jax.jit
def _robust_temperature_gradient(h, tau, rho, ok, ok_rho):
    a = h / tau
    p = softmax_weights(a)
    kl = jnp.sum(p * a, axis=-1) - logmeanexp(a, axis=-1)
    return nan_unless(jnp.logical_and(ok, ok_rho), rho - kl)


def robust_gcl_dual(h, *, rho, tau_min=1e-4, tau_max=1e4):
    r"""The KL-DRO value :math:`\min_{\tau\in[\tau_{\min},\tau_{\max}]}\tau\log\frac1m\sum_j e^{h_j/\tau}+\tau\rho`
    and its minimiser :math:`\tau^*` (float64, bounded scalar minimisation in :math:`\log\tau`; the function is
    convex in :math:`\tau`, the perspective of log-mean-exp). Equals the primal
    :math:`\max_{\mathrm{KL}(p\Vert u)\le\rho}\langle p, h\rangle` when :math:`\tau^*` is interior
    (0.27468310, :math:`\tau^*` = 0.35176926 at h = [0.2, -0.1, 0.5, -0.3, 0], rho = 0.3).

    Returns:
        ``(value, tau_star)`` as floats.

    References:
        Qiu et al., ICML 2023 (arXiv 2305.11965), the DRO formulation of the robust loss; docs/cnce.md,
        "Contrastive losses".
    """
    from scipy import optimize, special

    h = np.asarray(h, np.float64)
    if h.ndim != 1 or h.size < 1 or not np.all(np.isfinite(h)):
        raise ValueError(f"h must be a finite non-empty vector, got shape {h.shape}")
    rho = check_real("rho", rho, low=0.0)
    tau_min = check_real("tau_min", tau_min, low=0.0, low_open=True)
    tau_max = check_real("tau_max", tau_max, low=tau_min, low_open=True)
    m = h.size

    def f(log_tau):
        t = math.exp(log_tau)
        return t * (special.logsumexp(h / t) - math.log(m)) + t * rho

    res = optimize.minimize_scalar(f, bounds=(math.log(tau_min), math.log(tau_max)), method="bounded",
                                   options={"xatol": 1e-12, "maxiter": 500})
    return float(res.fun), math.exp(res.x)
