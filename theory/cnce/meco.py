r"""MECO: maximum-likelihood estimation of an unnormalised model by stochastic compositional optimisation.

The NLL :math:`F(w) = \mathbb E_D[-\log\tilde p(x;w)] + \log g(w)`, :math:`g(w) = \mathbb E_q[r_w]`,
:math:`r_w = \tilde p/q`, is optimised with a moving-average estimate :math:`u` of the inner function and a
moving average :math:`v` of the gradient. One step, with a data batch :math:`x_{1..B}` and noise
:math:`\tilde x_{1..m}\sim q` (kept in log space: :math:`\log u` and :math:`\log r`):

.. math::

    \log u_{t+1} &= \log\big((1-\gamma)u_t + \gamma\,\tfrac1m\textstyle\sum_j r_j\big), \\
    G_t &= -\tfrac1B\textstyle\sum_i\nabla\log\tilde p(x_i;w_t) + \tfrac1m\sum_j \frac{r_j}{u_{t+1}}
           \nabla\log\tilde p(\tilde x_j; w_t), \\
    v_{t+1} &= (1-\beta)v_t + \beta G_t,\qquad w_{t+1} = w_t - \eta\, v_{t+1}.

:math:`\gamma = 1` is the plug-in (self-normalised importance sampling) gradient; :math:`\beta = 1` drops the
gradient average. :math:`G_t` is computed as the gradient of the surrogate
:math:`-\overline{\log\tilde p(x)} + \sum_j \mathrm{sg}(r_j/(m u_{t+1}))\log\tilde p(\tilde x_j)`, never through
:math:`u` across steps.

References:
    Jiang, Qin, Wu, Chen, Yang, Zhang, *Learning Unnormalized Statistical Models via Compositional Optimization*,
    ICML 2023 (arXiv 2306.07485), the MECO algorithm (its text could not be read: the update order is
    reconstructed and documented in docs/cnce.md, "The MECO step"); Wang, Fang, Liu, *Stochastic compositional
    gradient descent*, Math. Program. 2017 (the moving-average inner estimate).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import check_real, is_traced, nan_unless
from theory.cnce.gaussian import gaussian_log_density, natural_log_unnormalised, shift_log_unnormalised
from theory.logspace import logmeanexp, ma_update_log

__all__ = ["MecoState", "meco_init", "meco_step", "meco_gradient", "check_meco_hyperparameters"]


class MecoState(NamedTuple):
    """The explicit state of MECO: ``params`` (any pytree), ``log_u`` (the log of the inner estimate :math:`u`)
    and ``v`` (the gradient moving average, shaped like ``params``)."""

    params: Any
    log_u: Any
    v: Any


def _standard_normal(x):
    return gaussian_log_density(x, mean=0.0)


def _check_batch(name, x):
    x = jnp.asarray(x)
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty batch [batch] or [batch, dim], got shape {x.shape}")
    if not is_traced(x) and not np.all(np.isfinite(np.asarray(x))):
        raise ValueError(f"{name} must be finite")
    return x


def _check_batches(data_batch, noise_batch):
    d, n = _check_batch("data_batch", data_batch), _check_batch("noise_batch", noise_batch)
    if d.shape[1:] != n.shape[1:]:
        raise ValueError(f"data_batch and noise_batch must have the same sample shape (batch first), got "
                         f"{d.shape} and {n.shape}")
    return d, n


def check_meco_hyperparameters(lr, gamma, beta):
    """Check ``lr > 0``, ``gamma`` in (0, 1] and ``beta`` in (0, 1] (concrete values; traced ones pass) and return
    ``(lr, gamma, beta, valid)`` where ``valid`` is the traced condition (or ``True``)."""
    valid = True
    out = []
    for name, value, high in (("lr", lr, None), ("gamma", gamma, 1.0), ("beta", beta, 1.0)):
        if is_traced(value):
            cond = (value > 0) if high is None else ((value > 0) & (value <= high))
            valid = cond if valid is True else (valid & cond)
            out.append(value)
        else:
            out.append(check_real(name, value, low=0.0, low_open=True, high=high))
    return (*out, valid)


def _check_log_q(log_q):
    if not is_traced(log_q) and not np.all(np.isfinite(np.asarray(log_q))):
        raise ValueError("log_noise must be finite on the noise batch (no NaN, no +-inf): the importance weights "
                         "p~/q are undefined otherwise")
    return log_q


def _log_weights(params, noise, model, log_noise):
    log_q = _check_log_q(log_noise(noise))
    return model(params, noise) - log_q


@functools.cache
def _compiled(fn):
    """``fn`` jitted (a library function: traceable and a stable cache key): one compiled program per shape."""
    return jax.jit(fn)


def _arrays(tree) -> bool:
    """Whether every leaf is a JAX array (a Python or NumPy scalar keeps its eager arithmetic)."""
    return all(isinstance(leaf, jax.Array) for leaf in jax.tree_util.tree_leaves(tree))


def _library_functions(model, log_noise) -> bool:
    """Whether ``model`` and ``log_noise`` are the library's own (traceable) functions, which the jitted step may
    trace; a user's function keeps running eagerly (it may rely on concrete values)."""
    return (any(model is f for f in (natural_log_unnormalised, shift_log_unnormalised))
            and any(log_noise is f for f in (_standard_normal, gaussian_log_density)))


def meco_gradient(params, data_batch, noise_batch, log_u, *, model=natural_log_unnormalised,
                  log_noise=_standard_normal):
    r"""MECO's stochastic gradient :math:`G = -\overline{\nabla\log\tilde p(x)} + \frac1m\sum_j
    \frac{r_j}{u}\nabla\log\tilde p(\tilde x_j)` for a given inner estimate ``log_u`` (shaped like ``params``).

    With ``log_u`` the exact :math:`\log Z(w)` it is unbiased for :math:`\nabla F(w)`.
    """
    d, n = _check_batches(data_batch, noise_batch)
    log_r = jax.lax.stop_gradient(_log_weights(params, n, model, log_noise))
    weights = jnp.exp(log_r - log_u) / log_r.shape[-1]

    def surrogate(p):
        return -jnp.mean(model(p, d)) + jnp.sum(weights * model(p, n))

    return jax.grad(surrogate)(params)


def meco_init(params, noise_batch, *, model=natural_log_unnormalised, log_noise=_standard_normal):
    r"""The initial state: ``log_u`` the plug-in :math:`\log\frac1m\sum_j r_{w_0}(\tilde x_j)` on ``noise_batch``,
    ``v`` zeros."""
    n = _check_batch("noise_batch", noise_batch)
    if _arrays(params) and _library_functions(model, log_noise):
        _check_log_q(_compiled(log_noise)(n))  # the check of _log_weights, before tracing the initial state
        return MecoState(params, *_init_compiled(params, n, model=model, log_noise=log_noise))
    return MecoState(params, *_init(params, n, model=model, log_noise=log_noise))


def _init(params, n, *, model, log_noise):
    return logmeanexp(_log_weights(params, n, model, log_noise)), jax.tree_util.tree_map(jnp.zeros_like, params)


# jitted for eager calls with the library's model and noise: one compiled program per shape, not one per operation
_init_compiled = jax.jit(_init, static_argnames=("model", "log_noise"))


def meco_step(state, data_batch, noise_batch, *, lr, gamma, beta, model=natural_log_unnormalised,
              log_noise=_standard_normal):
    r"""One MECO step on an explicit state ``(params, log_u, v)`` (see the module docstring for the update).

    Args:
        state: a :class:`MecoState` (or a ``(params, log_u, v)`` tuple).
        data_batch: ``[B]`` or ``[B, dim]`` data samples.
        noise_batch: ``[m]`` or ``[m, dim]`` fresh samples from the noise :math:`q`.
        lr: the step size :math:`\eta > 0`.
        gamma: the inner moving-average weight :math:`\gamma\in(0, 1]` (1: plug-in).
        beta: the gradient moving-average weight :math:`\beta\in(0, 1]` (1: plain SGD).
        model: ``(params, x) -> [batch]``, :math:`\log\tilde p(x; w)`; default the 1-D natural Gaussian
            :math:`\theta x - x^2/2`.
        log_noise: ``x -> [batch]``, :math:`\log q(x)` (finite on the noise batch); default :math:`N(0, 1)`.

    Returns:
        The next :class:`MecoState`. Invalid concrete hyperparameters raise; traced invalid ones give NaN params.

    Example (shift model, q = N(0, 1); 0.5030611094 in float64):
        >>> import jax.numpy as jnp
        >>> from theory.cnce import MecoState, meco_step, shift_log_unnormalised
        >>> s = MecoState(jnp.float32(0.5), jnp.log(jnp.float32(2.0)), jnp.float32(0.1))
        >>> s = meco_step(s, jnp.array([1.2, 0.7]), jnp.array([0.3, -1.1, 0.8]), lr=0.05, gamma=0.1, beta=0.2,
        ...               model=shift_log_unnormalised)
        >>> round(float(s.params), 5)
        0.50306

    References:
        Jiang et al., ICML 2023 (arXiv 2306.07485), the MECO algorithm; docs/cnce.md, "The MECO step".
    """
    lr, gamma, beta, valid = check_meco_hyperparameters(lr, gamma, beta)
    params, log_u, v = state
    log_u = jnp.asarray(log_u)
    if not is_traced(log_u):
        a = np.asarray(log_u)
        plug_in = not is_traced(gamma) and gamma == 1.0
        if np.isnan(a).any() or (a == np.inf).any() or (not plug_in and (a == -np.inf).any()):
            raise ValueError("state.log_u must be finite (the inner estimate u must be positive; -inf is allowed "
                             "only with gamma = 1, where the old estimate gets weight 0)")
    d, n = _check_batches(data_batch, noise_batch)
    if valid is True and _arrays((params, v)) and _library_functions(model, log_noise):
        _check_log_q(_compiled(log_noise)(n))  # the check of _log_weights, before tracing the step
        return _update_compiled(params, log_u, v, d, n, lr, gamma, 1 - beta, beta, model=model, log_noise=log_noise)
    return _step(params, log_u, v, d, n, lr, gamma, beta, model, log_noise, valid)


def _step(params, log_u, v, d, n, lr, gamma, beta, model, log_noise, valid=True):
    return _update(params, log_u, v, d, n, lr, gamma, 1 - beta, beta, model=model, log_noise=log_noise, valid=valid)


def _update(params, log_u, v, d, n, lr, gamma, keep, beta, *, model, log_noise, valid=True):
    """The step with ``keep = 1 - beta`` computed by the caller (in Python for a concrete beta)."""
    log_r = jax.lax.stop_gradient(_log_weights(params, n, model, log_noise))
    new_log_u = _ma_update_log(log_u, log_r, gamma=gamma)
    grad = meco_gradient(params, d, n, new_log_u, model=model, log_noise=log_noise)
    new_v = jax.tree_util.tree_map(lambda a, g: keep * a + beta * g, v, grad)
    new_params = jax.tree_util.tree_map(lambda p, a: p - lr * a, params, new_v)
    if valid is not True:
        new_params = jax.tree_util.tree_map(lambda p: nan_unless(valid, p), new_params)
    return MecoState(new_params, new_log_u, new_v)


# jitted: one compiled program per shape for eager calls (gamma is checked by meco_step; traced under simulate)
_ma_update_log = jax.jit(ma_update_log)

# jitted for eager steps with the library's model and noise: one compiled program per shape, not one per operation
_update_compiled = jax.jit(_update, static_argnames=("model", "log_noise"))
