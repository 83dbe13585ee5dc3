r"""Losses for unnormalised models from log-densities: NCE (logistic, noise ratio :math:`\nu`), eNCE and the
compositional negative log-likelihood.

All take log-densities evaluated on a data batch and a noise batch, so any model (a closed form, an MLP energy)
plugs in: ``log_model`` is :math:`\log p_m` (or :math:`\log\tilde p`) on the data, ``log_noise_data`` is
:math:`\log q` on the data, ``log_model_noise`` and ``log_noise_noise`` the same on the noise samples. Each returns
a scalar (the two batches may differ in size), is jittable and differentiable, and computes in log space.

Input policy (docs/glossary.md#input-policy): concrete non-finite log-densities raise ``ValueError`` (except
``-inf`` model values, a model with no mass there); ``+inf``/NaN noise log-densities and ``log q = -inf`` on the
noise samples raise; mismatched batch shapes and ``nu <= 0`` raise before tracing; under ``jit`` an invalid traced
``nu`` or ``scale`` gives NaN.

References:
    Gutmann, Hyvarinen, *Noise-contrastive estimation of unnormalized statistical models*, JMLR 13, 2012;
    Liu, Rosenfeld, Ravikumar, Risteski, ICLR 2022 (arXiv 2110.11271; eNCE); Jiang, Qin, Wu, Chen, Yang, Zhang,
    ICML 2023 (arXiv 2306.07485; the compositional NLL); docs/cnce.md, "Losses".
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import as_jit_input, check_real, is_traced, nan_unless
from theory.logspace import logmeanexp

__all__ = ["nce_loss", "ence_loss", "compositional_nll", "log_partition_estimate", "check_log_densities"]


def _check_density(name, x, *, allow_minus_inf):
    x = as_jit_input(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"{name} must be a non-empty batch of log-densities [..., batch], got shape {x.shape}")
    if not is_traced(x):
        a = np.asarray(x)
        if np.isnan(a).any():
            raise ValueError(f"{name} must not contain NaN (log-densities in [-inf, inf))")
        if (a == np.inf).any():
            raise ValueError(f"{name} must not contain +inf (a log-density is finite or -inf)")
        if not allow_minus_inf and (a == -np.inf).any():
            raise ValueError(f"{name} must be finite: log q = -inf on a sample means the noise has no mass where "
                             "it was drawn, or where the data lie (the importance weights are undefined)")
    return x


def check_log_densities(log_model, log_noise_data, log_model_noise, log_noise_noise):
    """Validate the four log-density batches: data pair and noise pair of equal shapes, no NaN or ``+inf``, and
    ``log q`` finite (``-inf`` model values are allowed). Returns them as JAX arrays."""
    return [jnp.asarray(x) for x in _checked_densities(log_model, log_noise_data, log_model_noise, log_noise_noise)]


def _checked_densities(log_model, log_noise_data, log_model_noise, log_noise_noise):
    """:func:`check_log_densities`, float NumPy arrays kept as they are (for the jitted cores)."""
    out = []
    for name, x, minus_inf in (("log_model", log_model, True), ("log_noise_data", log_noise_data, False),
                               ("log_model_noise", log_model_noise, True), ("log_noise_noise", log_noise_noise, False)):
        out.append(_check_density(name, x, allow_minus_inf=minus_inf))
    if out[0].shape != out[1].shape:
        raise ValueError(f"log_model and log_noise_data must have the same shape (one value per data sample), "
                         f"got {out[0].shape} and {out[1].shape}")
    if out[2].shape != out[3].shape:
        raise ValueError(f"log_model_noise and log_noise_noise must have the same shape (one value per noise "
                         f"sample), got {out[2].shape} and {out[3].shape}")
    if out[0].shape[:-1] != out[2].shape[:-1]:
        raise ValueError(f"the data and noise batches must share their leading (replicate) axes, got "
                         f"{out[0].shape} and {out[2].shape}")
    return out


def _positive(name, value):
    if is_traced(value):
        return value, value > 0
    return check_real(name, value, low=0.0, low_open=True), True


def nce_loss(log_model, log_noise_data, log_model_noise, log_noise_noise, *, nu=1.0, scale=1.0):
    r"""The NCE loss, the logistic loss of data against :math:`\nu` noise samples per data sample:

    .. math::

        L = s\Big(\frac1B\sum_i \mathrm{softplus}(-G(x_i)) + \frac{\nu}{m}\sum_j \mathrm{softplus}(G(\tilde x_j))
        \Big),\qquad G = \log p_m - \log q - \log\nu.

    ``scale`` :math:`s` = 1/2 with :math:`\nu = 1` is Liu et al.'s normalisation (same minimiser, half the
    gradient). The model must carry its normaliser (:math:`\log p_m = \log\tilde p - c`).

    Args:
        log_model, log_noise_data: ``[..., B]`` :math:`\log p_m` and :math:`\log q` on the data batch.
        log_model_noise, log_noise_noise: ``[..., m]`` the same on the noise batch.
        nu: the noise ratio :math:`\nu > 0`.
        scale: a positive factor on the loss.

    Returns:
        ``[...]`` the loss (a scalar for 1-D batches).

    References:
        Gutmann, Hyvarinen, JMLR 2012, Eq. (8); docs/cnce.md, "Losses".
    """
    lm, lqd, lmn, lqn = _checked_densities(log_model, log_noise_data, log_model_noise, log_noise_noise)
    nu, nu_ok = _positive("nu", nu)
    scale, s_ok = _positive("scale", scale)
    return _nce(lm, lqd, lmn, lqn, nu, nu_ok, scale, s_ok)


# jitted: one compiled program per shape for eager calls (inlined under a caller's jit/vmap/grad)
@jax.jit
def _nce(lm, lqd, lmn, lqn, nu, nu_ok, scale, s_ok):
    log_nu = jnp.log(nu)
    g_data = lm - lqd - log_nu
    g_noise = lmn - lqn - log_nu
    value = jnp.mean(jax.nn.softplus(-g_data), -1) + nu * jnp.mean(jax.nn.softplus(g_noise), -1)
    return nan_unless(jnp.logical_and(nu_ok, s_ok), scale * value)


def ence_loss(log_model, log_noise_data, log_model_noise, log_noise_noise):
    r"""The eNCE loss (the exponential loss :math:`e^{-yG/2}` with :math:`\nu = 1`):

    .. math::

        L = \frac1B\sum_i \sqrt{q(x_i)/p_m(x_i)} + \frac1m\sum_j\sqrt{p_m(\tilde x_j)/q(\tilde x_j)},

    minimised by :math:`p_m = p_d`; for the Gaussian family it equals :func:`~theory.cnce.ence_gaussian_loss` in
    expectation. Shapes as :func:`nce_loss`.

    References:
        Liu, Rosenfeld, Ravikumar, Risteski, ICLR 2022 (arXiv 2110.11271), the eNCE objective; docs/cnce.md,
        "Losses".
    """
    return _ence(*_checked_densities(log_model, log_noise_data, log_model_noise, log_noise_noise))


# jitted: one compiled program per shape for eager calls (inlined under a caller's jit/vmap/grad)
@jax.jit
def _ence(lm, lqd, lmn, lqn):
    return jnp.mean(jnp.exp(0.5 * (lqd - lm)), -1) + jnp.mean(jnp.exp(0.5 * (lmn - lqn)), -1)


def log_partition_estimate(log_model_noise, log_noise_noise):
    r"""The plug-in estimate :math:`\log\hat Z = \log\frac1m\sum_j \tilde p(\tilde x_j)/q(\tilde x_j)` (log-mean-exp
    of the log importance weights). Unbiased for :math:`Z` but not for :math:`\log Z`:
    :math:`\mathbb E\log\hat Z - \log Z = -\chi^2/(2m) + O(m^{-2})` (docs/cnce.md, "Variance and bias of the
    estimators")."""
    return _log_partition(*_noise_pair(log_model_noise, log_noise_noise))


def _noise_pair(log_model_noise, log_noise_noise):
    lmn = _check_density("log_model_noise", log_model_noise, allow_minus_inf=True)
    lqn = _check_density("log_noise_noise", log_noise_noise, allow_minus_inf=False)
    if lmn.shape != lqn.shape:
        raise ValueError(f"log_model_noise and log_noise_noise must have the same shape, got {lmn.shape} and "
                         f"{lqn.shape}")
    return lmn, lqn


# jitted: one compiled program per shape for eager calls (inlined under a caller's jit/vmap/grad)
@jax.jit
def _log_partition(lmn, lqn):
    return logmeanexp(lmn - lqn, axis=-1)


def compositional_nll(log_model, log_model_noise, log_noise_noise, *, log_partition=None):
    r"""The negative log-likelihood of an unnormalised model in compositional form:

    .. math::

        F = -\frac1B\sum_i\log\tilde p(x_i) + \log\,\mathbb E_q[\tilde p/q],

    the inner expectation estimated by the noise batch (:func:`log_partition_estimate`), or given as
    ``log_partition`` (a moving-average estimate :math:`\log u`, or the exact :math:`\log Z`). Its gradient with the
    exact :math:`Z` is the NLL gradient :math:`-\overline{\nabla\log\tilde p} + \mathbb E_{p_\theta}\nabla\log
    \tilde p`; the plug-in gradient is the self-normalised importance-sampling estimate (biased at finite m).

    Args:
        log_model: ``[..., B]`` :math:`\log\tilde p` on the data batch.
        log_model_noise, log_noise_noise: ``[..., m]`` :math:`\log\tilde p` and :math:`\log q` on the noise batch.
        log_partition: optional ``[...]`` value used instead of the noise estimate.

    References:
        Jiang et al., ICML 2023 (arXiv 2306.07485), the compositional form of the NLL; docs/cnce.md, "Losses".
    """
    lm = _check_density("log_model", log_model, allow_minus_inf=True)
    if log_partition is None:
        lmn, lqn = _noise_pair(log_model_noise, log_noise_noise)
        if lm.shape[:-1] != lmn.shape[:-1]:  # the shape of the estimate log Z
            raise ValueError(f"the data and noise batches must share their leading axes, got {lm.shape} and "
                             f"{jnp.shape(log_model_noise)}")
        return _nll_estimated(lm, lmn, lqn)
    log_z = jnp.asarray(log_partition)
    if not is_traced(log_z) and not np.all(np.isfinite(np.asarray(log_z))):
        raise ValueError("log_partition must be finite")
    return _nll(lm, log_z)


# jitted: one compiled program per shape for eager calls (inlined under a caller's jit/vmap/grad)
@jax.jit
def _nll(lm, log_z):
    return -jnp.mean(lm, -1) + log_z


@jax.jit
def _nll_estimated(lm, lmn, lqn):
    return _nll(lm, _log_partition(lmn, lqn))
