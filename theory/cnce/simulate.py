r"""Training in JAX: MECO (:math:`\gamma < 1`), the plug-in (:math:`\gamma = 1`), MECO with the exact partition
function, NCE and eNCE on 1-D Gaussian mean estimation, and the estimator-level experiments behind the claims.

Every run is one compiled function: ``lax.fori_loop``/``lax.scan`` over steps, ``vmap`` over replicates
(``theory._training.map_replicates``: chunked to the memory budget, split over the local devices); the
hyperparameters (step size, :math:`\gamma`, :math:`\beta`, :math:`R`, the number of steps) are traced, so one compile
serves a whole sweep. Replicate ``r`` draws the same data and noise batches for every method (common
random numbers), so methods are compared on paired runs.

* :func:`gaussian_mean_runs`: statistics of a run (first step within ``tol`` of :math:`R`, mean offset and mean
  squared error after a burn-in, final value) for ``method`` in :data:`METHODS`;
* :func:`gaussian_mean_trajectories`: the iterates themselves (for the convergence figures);
* :func:`gradient_bias_at_fixed_theta`: the bias of MECO's gradient from its moving-average inner estimate at a
  fixed :math:`\theta`, paired with the exact-:math:`Z` gradient on the same batches;
* :func:`gradient_samples`: draws of MECO's gradient with the exact :math:`Z` (its variance).

The method's update per step (data :math:`x_{1..B}\sim N(R,1)`, noise :math:`\tilde x_{1..m}\sim N(\mu_q, 1)`):
``meco``/``plugin`` the MECO step (:func:`~theory.cnce.meco_step`), ``exact`` the same with :math:`u = Z(\theta)`,
``nce`` gradient steps on :func:`~theory.cnce.nce_loss` in :math:`(\theta, c)` with the same gradient average
:math:`\beta`, ``ence`` normalised gradient steps on :func:`~theory.cnce.ence_loss` in :math:`(\theta, c)`.

References:
    Jiang et al., ICML 2023 (arXiv 2306.07485), the Gaussian mean-estimation experiment (its settings could not be
    read; the ones here are documented in docs/cnce.md, "Training"); Liu et al., ICLR 2022 (eNCE with normalised
    gradient descent).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from theory import _random
from theory._random import check_key
from theory._training import map_replicates, over_replicates
from theory._validation import check_choice, check_dtype, check_int, check_real
from theory.cnce.gaussian import HALF_LOG_2PI, PARAMETERISATIONS, gaussian_log_density, log_unnormalised
from theory.cnce.losses import ence_loss, nce_loss
from theory.cnce.meco import _step, meco_gradient
from theory.logspace import logmeanexp, ma_update_log

__all__ = ["METHODS", "gaussian_mean_runs", "gaussian_mean_trajectories", "gradient_bias_at_fixed_theta",
           "gradient_samples"]

#: The training methods, in the order of their traced index.
METHODS = ("meco", "plugin", "exact", "nce", "ence")


def _draws(key, t, R, mu, B, m, dtype):
    k = jax.random.fold_in(key, t)
    x = R + _random.normal(jax.random.fold_in(k, 0), (B,), dtype)
    xn = mu + _random.normal(jax.random.fold_in(k, 1), (m,), dtype)
    return x, xn


def _exact_log_z(theta, param):
    return HALF_LOG_2PI + (0.5 * theta * theta if param == "natural" else 0.0)


def _update(method, state, x, xn, hp, param):
    """One step of ``METHODS[method]`` (a traced index) on the state (theta, c, log_u, v_theta, v_c)."""
    theta, c, log_u, vt, vc = state
    lr, gamma, beta, mu = hp["lr"], hp["gamma"], hp["beta"], hp["mu"]
    model = log_unnormalised(param)

    def log_q(z):
        return gaussian_log_density(z, mean=mu)

    def meco(g):
        s = _step(theta, log_u, vt, x, xn, lr, g, beta, model, log_q)
        return s.params, c, s.log_u, s.v, vc

    def exact():
        lz = _exact_log_z(theta, param)
        grad = meco_gradient(theta, x, xn, lz, model=model, log_noise=log_q)
        v = (1 - beta) * vt + beta * grad
        return theta - lr * v, c, lz, v, vc

    def contrastive(loss):
        def f(p):
            t, cc = p
            return loss(model(t, x) - cc, log_q(x), model(t, xn) - cc, log_q(xn))

        gt, gc = jax.grad(f)((theta, c))
        return gt, gc

    def nce():
        gt, gc = contrastive(nce_loss)
        v1, v2 = (1 - beta) * vt + beta * gt, (1 - beta) * vc + beta * gc
        return theta - lr * v1, c - lr * v2, log_u, v1, v2

    def ence():
        gt, gc = contrastive(ence_loss)
        v1, v2 = (1 - beta) * vt + beta * gt, (1 - beta) * vc + beta * gc
        norm = jnp.sqrt(v1 * v1 + v2 * v2) + 1e-12
        return theta - lr * v1 / norm, c - lr * v2 / norm, log_u, v1, v2

    branches = (lambda: meco(gamma), lambda: meco(jnp.ones_like(gamma)), exact, nce, ence)
    return jax.lax.switch(method, branches)


def _init(key, theta0, hp, param, m, dtype):
    mu = hp["mu"]
    xn = mu + _random.normal(jax.random.fold_in(key, -1 & 0x7FFFFFFF), (m,), dtype)
    model = log_unnormalised(param)
    log_u = logmeanexp(model(theta0, xn) - gaussian_log_density(xn, mean=mu))
    c0 = _exact_log_z(theta0, param)  # NCE/eNCE start from the normalised model
    zero = jnp.zeros((), dtype)
    return (theta0, c0, log_u, zero, zero)


@functools.partial(jax.jit, static_argnames=("B", "m", "param"))
def _runs(keys, method, hp, num_steps, burn_in, tol, B, m, param):
    def one(key):
        dtype = hp["lr"].dtype
        state = _init(key, hp["theta0"], hp, param, m, dtype)

        def body(t, carry):
            state, hit, sq, off, n = carry
            x, xn = _draws(key, t, hp["R"], hp["mu"], B, m, dtype)
            state = _update(method, state, x, xn, hp, param)
            err = state[0] - hp["R"]
            hit = jnp.where((hit < 0) & (jnp.abs(err) < tol), t + 1, hit)
            w = (t >= burn_in).astype(dtype)
            return state, hit, sq + w * err * err, off + w * err, n + w

        zero = jnp.zeros((), dtype)
        state, hit, sq, off, n = jax.lax.fori_loop(0, num_steps, body, (state, jnp.int32(-1), zero, zero, zero))
        hit = jnp.where(hit < 0, num_steps + 1, hit)
        return {"steps_to_tol": hit, "mse": sq / n, "offset": off / n, "final": state[0]}

    return map_replicates(one, keys)


def _hyper(data_mean, noise_mean, lr, gamma, beta, theta0, dtype):
    return {"R": jnp.asarray(data_mean, dtype), "mu": jnp.asarray(noise_mean, dtype), "lr": jnp.asarray(lr, dtype),
            "gamma": jnp.asarray(gamma, dtype), "beta": jnp.asarray(beta, dtype),
            "theta0": jnp.asarray(theta0, dtype)}


def _check_run(method, data_mean, noise_mean, lr, gamma, beta, theta0, batch_size, num_noise, parameterisation,
               num_replicates, dtype):
    check_choice("method", method, METHODS)
    check_choice("parameterisation", parameterisation, PARAMETERISATIONS)
    check_real("data_mean", data_mean)
    check_real("noise_mean", noise_mean)
    check_real("theta0", theta0)
    check_real("lr", lr, low=0.0, low_open=True)
    check_real("gamma", gamma, low=0.0, low_open=True, high=1.0)
    check_real("beta", beta, low=0.0, low_open=True, high=1.0)
    check_int("batch_size", batch_size, low=1)
    check_int("num_noise", num_noise, low=1)
    check_int("num_replicates", num_replicates, low=1)
    return check_dtype(dtype)


def gaussian_mean_runs(*, key, method, data_mean, num_steps, lr, noise_mean=0.0, gamma=0.1, beta=1.0, theta0=0.0,
                       batch_size=8, num_noise=8, parameterisation="natural", num_replicates=100, burn_in=None,
                       tol=0.1, dtype=jnp.float32):
    r"""Run ``method`` on 1-D Gaussian mean estimation (data :math:`N(R, 1)`, noise :math:`N(\mu_q, 1)`) for
    ``num_replicates`` paired replicates and return per-replicate statistics.

    Args:
        key: PRNG key; replicate r uses ``split(key, num_replicates)[r]`` for every method (common random numbers).
        method: one of :data:`METHODS`.
        data_mean: :math:`R`.
        num_steps: the number of steps (traced: one compile serves every length).
        lr, gamma, beta: the step size and the two moving-average weights (``gamma`` is used by ``meco`` only).
        noise_mean: :math:`\mu_q`.
        theta0: the starting value (NCE/eNCE start with the normaliser of the normalised model).
        batch_size, num_noise: :math:`B` and :math:`m`.
        parameterisation: ``"natural"`` or ``"shift"``.
        burn_in: the first step counted in ``mse``/``offset`` (default ``num_steps // 2``).
        tol: the tolerance of ``steps_to_tol``.

    Returns:
        dict of ``[num_replicates]`` arrays: ``steps_to_tol`` (first step with :math:`|\theta_t - R| < ` tol;
        ``num_steps + 1`` if never), ``mse`` and ``offset`` (means of :math:`(\theta_t-R)^2` and
        :math:`\theta_t - R` over steps after ``burn_in``) and ``final``.
    """
    dt = _check_run(method, data_mean, noise_mean, lr, gamma, beta, theta0, batch_size, num_noise,
                    parameterisation, num_replicates, dtype)
    num_steps = check_int("num_steps", num_steps, low=1)
    burn_in = num_steps // 2 if burn_in is None else check_int("burn_in", burn_in, low=0, high=num_steps - 1)
    check_real("tol", tol, low=0.0, low_open=True)
    keys = jax.random.split(check_key(key), num_replicates)
    hp = _hyper(data_mean, noise_mean, lr, gamma, beta, theta0, dt)
    return _runs(keys, jnp.int32(METHODS.index(method)), hp, jnp.int32(num_steps), jnp.int32(burn_in),
                 jnp.asarray(tol, dt), B=batch_size, m=num_noise, param=parameterisation)


@functools.partial(jax.jit, static_argnames=("num_steps", "stride", "B", "m", "param"))
def _trajectories(keys, method, hp, num_steps, stride, B, m, param):
    def one(key):
        dtype = hp["lr"].dtype
        state = _init(key, hp["theta0"], hp, param, m, dtype)

        def body(state, t):
            x, xn = _draws(key, t, hp["R"], hp["mu"], B, m, dtype)
            state = _update(method, state, x, xn, hp, param)
            return state, state[0]

        _, thetas = jax.lax.scan(body, state, jnp.arange(num_steps))
        return thetas[stride - 1::stride]

    return map_replicates(one, keys)


def gaussian_mean_trajectories(*, key, method, data_mean, num_steps, lr, noise_mean=0.0, gamma=0.1, beta=1.0,
                               theta0=0.0, batch_size=8, num_noise=8, parameterisation="natural", num_replicates=100,
                               stride=1, dtype=jnp.float32):
    r"""The iterates :math:`\theta_t` (every ``stride``-th step) of :func:`gaussian_mean_runs`'s runs, shape
    ``[num_replicates, num_steps // stride]`` (same keys, so the same runs)."""
    dt = _check_run(method, data_mean, noise_mean, lr, gamma, beta, theta0, batch_size, num_noise,
                    parameterisation, num_replicates, dtype)
    num_steps = check_int("num_steps", num_steps, low=1)
    stride = check_int("stride", stride, low=1, high=num_steps)
    keys = jax.random.split(check_key(key), num_replicates)
    hp = _hyper(data_mean, noise_mean, lr, gamma, beta, theta0, dt)
    return _trajectories(keys, jnp.int32(METHODS.index(method)), hp, num_steps=num_steps, stride=stride,
                         B=batch_size, m=num_noise, param=parameterisation)


def _score(theta, x, param):
    return x - theta if param == "shift" else x


@functools.partial(jax.jit, static_argnames=("m", "num_steps", "param"))
def _bias_runs(keys, theta, mu, gammas, burn_in, m, num_steps, param):
    model = log_unnormalised(param)
    dtype = theta.dtype
    lz = _exact_log_z(theta, param)

    def one(key, gamma):
        def body(carry, t):
            log_u, total = carry
            xn = mu + _random.normal(jax.random.fold_in(key, t), (m,), dtype)
            log_r = model(theta, xn) - gaussian_log_density(xn, mean=mu)
            log_u = ma_update_log(log_u, log_r, gamma=gamma)
            s = _score(theta, xn, param)
            diff = jnp.mean((jnp.exp(log_r - log_u) - jnp.exp(log_r - lz)) * s)
            return (log_u, total + jnp.where(t >= burn_in, diff, 0.0)), None

        (_, total), _ = jax.lax.scan(body, (lz, jnp.zeros((), dtype)), jnp.arange(num_steps))
        return total / (num_steps - burn_in)

    return map_replicates(lambda k: jax.vmap(lambda g: one(k, g))(gammas), keys)


def gradient_bias_at_fixed_theta(*, key, theta, gammas, noise_mean=0.0, num_noise=10, num_steps=400, burn_in=100,
                                 num_replicates=256, parameterisation="shift", dtype=jnp.float32):
    r"""The bias of MECO's gradient from its moving-average inner estimate, at a fixed :math:`\theta`: per replicate
    and :math:`\gamma`, the time average over steps ``burn_in..num_steps`` of

    .. math::

        G^{\rm MECO}_t - G^{\rm exact}_t = \frac1m\sum_j\Big(\frac{r_j}{u_{t+1}} - \frac{r_j}{Z}\Big)
        \nabla\log\tilde p(\tilde x_j),

    the data term cancelling (same batches). :math:`u` starts at :math:`Z`; every :math:`\gamma` sees the same
    noise draws. Returns ``[num_replicates, len(gammas)]``.
    """
    check_real("theta", theta)
    check_real("noise_mean", noise_mean)
    check_choice("parameterisation", parameterisation, PARAMETERISATIONS)
    num_noise = check_int("num_noise", num_noise, low=1)
    num_steps = check_int("num_steps", num_steps, low=2)
    burn_in = check_int("burn_in", burn_in, low=0, high=num_steps - 1)
    num_replicates = check_int("num_replicates", num_replicates, low=1)
    for g in gammas:
        check_real("gammas", g, low=0.0, low_open=True, high=1.0)
    dt = check_dtype(dtype)
    keys = jax.random.split(check_key(key), num_replicates)
    return _bias_runs(keys, jnp.asarray(theta, dt), jnp.asarray(noise_mean, dt), jnp.asarray(gammas, dt),
                      jnp.int32(burn_in), m=num_noise, num_steps=num_steps, param=parameterisation)


@functools.partial(jax.jit, static_argnames=("B", "m", "n", "param"))
def _gradient_draws(key, theta, R, mu, B, m, n, param):
    model = log_unnormalised(param)
    dtype = theta.dtype

    def one(k):
        x = R + _random.normal(jax.random.fold_in(k, 0), (B,), dtype)
        xn = mu + _random.normal(jax.random.fold_in(k, 1), (m,), dtype)
        return meco_gradient(theta, x, xn, _exact_log_z(theta, param), model=model,
                             log_noise=lambda z: gaussian_log_density(z, mean=mu))

    return over_replicates(one, key, n)


def gradient_samples(*, key, theta, data_mean, noise_mean=0.0, batch_size=8, num_noise=8, num_samples=100000,
                     parameterisation="natural", dtype=jnp.float32):
    r"""``num_samples`` independent draws of MECO's stochastic gradient with the exact :math:`Z(\theta)` (fresh
    data and noise batches each); their variance is :func:`~theory.cnce.meco_gradient_variance`."""
    for name, v in (("theta", theta), ("data_mean", data_mean), ("noise_mean", noise_mean)):
        check_real(name, v)
    check_choice("parameterisation", parameterisation, PARAMETERISATIONS)
    dt = check_dtype(dtype)
    return _gradient_draws(check_key(key), jnp.asarray(theta, dt), jnp.asarray(data_mean, dt),
                           jnp.asarray(noise_mean, dt), B=check_int("batch_size", batch_size, low=1),
                           m=check_int("num_noise", num_noise, low=1), n=check_int("num_samples", num_samples, low=2),
                           param=parameterisation)
