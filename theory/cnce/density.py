r"""A 2-D density task: an MLP energy :math:`\log\tilde p(x) = -E_w(x)` fitted to a ring of 8 Gaussians by MECO,
the plug-in and NCE, with a Gaussian noise fitted to the data, scored by the exact test NLL (grid normaliser).

MECO's gradient (:func:`~theory.cnce.meco_gradient`, moving-average :math:`u`) and NCE's gradient (in :math:`(w,
c)`, :math:`c` the learned log-normaliser) both feed Adam (optax); ``lax.scan`` over steps, ``vmap`` over seeds.

References:
    Jiang et al., ICML 2023 (arXiv 2306.07485), the density-estimation experiments (a CPU-scale analogue; the
    paper's settings could not be read); docs/cnce.md, "Training".
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from theory import _random
from theory._random import check_key
from theory._validation import check_choice, check_dtype, check_int, check_real
from theory.cnce.losses import nce_loss
from theory.logspace import logmeanexp, ma_update_log

__all__ = ["ring_samples", "init_energy", "energy_log_density", "fit_density_2d", "DENSITY_METHODS"]

DENSITY_METHODS = ("meco", "plugin", "nce")
_RADIUS, _STD, _MODES = 2.0, 0.5, 8


def ring_samples(key, num_samples, dtype=jnp.float32):
    """``num_samples`` points of the ring of 8 Gaussians (radius 2, std 0.5), shape ``[num_samples, 2]``."""
    k1, k2 = jax.random.split(check_key(key))
    mode = jax.random.randint(k1, (num_samples,), 0, _MODES)
    angle = 2 * math.pi * mode / _MODES
    centre = _RADIUS * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=-1)
    return (centre + _STD * _random.normal(k2, (num_samples, 2))).astype(dtype)


def ring_log_density(x):
    """The true log-density of the ring (mixture of 8 isotropic Gaussians)."""
    angle = 2 * math.pi * jnp.arange(_MODES) / _MODES
    centres = _RADIUS * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=-1)
    d2 = jnp.sum((x[:, None, :] - centres[None]) ** 2, axis=-1)
    return logmeanexp(-0.5 * d2 / _STD**2, axis=-1) - math.log(2 * math.pi * _STD**2)


def init_energy(key, hidden=64, dtype=jnp.float32):
    """Parameters of the MLP 2-hidden-hidden-1 with softplus activations (LeCun-normal weights)."""
    ks = jax.random.split(check_key(key), 3)
    sizes = [(2, hidden), (hidden, hidden), (hidden, 1)]
    return [{"w": (_random.normal(k, s) / math.sqrt(s[0])).astype(dtype), "b": jnp.zeros(s[1], dtype)}
            for k, s in zip(ks, sizes, strict=True)]


def energy_log_density(params, x):
    r""":math:`\log\tilde p(x) = -E_w(x)` of the MLP energy, ``x [n, 2] -> [n]``."""
    h = x
    for layer in params[:-1]:
        h = jax.nn.softplus(h @ layer["w"] + layer["b"])
    return -(h @ params[-1]["w"] + params[-1]["b"])[:, 0]


def _grid(dtype, points=201, half=5.0):
    g = jnp.linspace(-half, half, points, dtype=dtype)
    xx, yy = jnp.meshgrid(g, g)
    return jnp.stack([xx.ravel(), yy.ravel()], axis=-1), (2 * half / (points - 1)) ** 2


def _setup(key, dtype):
    """Training/test samples and the Gaussian noise fitted to the training data (NumPy float64, then ``dtype``)."""
    kd, kt = jax.random.split(key)
    train = np.asarray(ring_samples(kd, 20000), np.float64)
    test = np.asarray(ring_samples(kt, 5000), np.float64)
    mean = train.mean(axis=0)
    cov = np.cov(train.T)
    out = {"train": train, "test": test, "mean": mean, "chol": np.linalg.cholesky(cov), "inv": np.linalg.inv(cov),
           "log_det": np.log(np.linalg.det(cov))}
    return {k: jnp.asarray(v, dtype) for k, v in out.items()}


@functools.partial(jax.jit, static_argnames=("num_steps", "batch_size", "hidden"))
def _fit(key, data, lr, gamma, is_nce, *, num_steps, batch_size, hidden):
    import optax

    dtype = lr.dtype
    ki, kr = jax.random.split(key)
    train, test, mean, chol, inv, log_det = (data[k] for k in ("train", "test", "mean", "chol", "inv", "log_det"))

    def log_q(x):
        d = x - mean
        return -0.5 * jnp.sum((d @ inv) * d, axis=-1) - 0.5 * log_det - math.log(2 * math.pi)

    params = {"net": init_energy(ki, hidden, dtype), "c": jnp.zeros((), dtype)}
    opt = optax.adam(lr)

    def step(carry, t):
        p, state, log_u = carry
        k = jax.random.fold_in(kr, t)
        x = train[jax.random.randint(jax.random.fold_in(k, 0), (batch_size,), 0, train.shape[0])]
        xn = mean + _random.normal(jax.random.fold_in(k, 1), (batch_size, 2), dtype) @ chol.T
        def nce_grad(p, log_u):
            def loss(q):
                lm = energy_log_density(q["net"], x) - q["c"]
                lmn = energy_log_density(q["net"], xn) - q["c"]
                return nce_loss(lm, log_q(x), lmn, log_q(xn))

            return jax.grad(loss)(p), log_u

        def compositional_grad(p, log_u):
            log_r = jax.lax.stop_gradient(energy_log_density(p["net"], xn) - log_q(xn))
            log_u = ma_update_log(log_u, log_r, gamma=gamma)
            w = jnp.exp(log_r - log_u) / batch_size

            def surrogate(net):
                return -jnp.mean(energy_log_density(net, x)) + jnp.sum(w * energy_log_density(net, xn))

            return {"net": jax.grad(surrogate)(p["net"]), "c": jnp.zeros((), dtype)}, log_u

        grad, log_u = jax.lax.cond(is_nce, nce_grad, compositional_grad, p, log_u)
        upd, state = opt.update(grad, state, p)
        return (optax.apply_updates(p, upd), state, log_u), None

    xn0 = mean + _random.normal(jax.random.fold_in(kr, -1 & 0x7FFFFFFF), (batch_size, 2), dtype) @ chol.T
    log_u0 = logmeanexp(energy_log_density(params["net"], xn0) - log_q(xn0))
    (params, _, _), _ = jax.lax.scan(step, (params, opt.init(params), log_u0), jnp.arange(num_steps))
    grid, area = _grid(dtype)
    log_grid = energy_log_density(params["net"], grid)
    log_z = jax.nn.logsumexp(log_grid) + jnp.log(area)
    nll = -jnp.mean(energy_log_density(params["net"], test)) + log_z
    return {"test_nll": nll, "noise_nll": -jnp.mean(log_q(test)), "true_nll": -jnp.mean(ring_log_density(test)),
            "grid_log_density": log_grid - log_z, "learned_c": params["c"], "log_z": log_z}


def fit_density_2d(*, key, method, num_steps=2000, batch_size=256, hidden=64, lr=1e-3, gamma=0.1,
                   num_replicates=2, dtype=jnp.float32):
    r"""Fit the MLP energy to the ring of 8 Gaussians (20000 training and 5000 test points per replicate) with
    ``method`` in :data:`DENSITY_METHODS`; noise :math:`q = N(\bar x, \hat\Sigma)` fitted to the training data.

    Returns:
        dict of ``[num_replicates]`` arrays: ``test_nll`` (exact, grid normaliser on [-5, 5]^2, 201^2 points),
        ``noise_nll`` (q alone), ``true_nll`` (the ring's own density), ``learned_c`` (NCE's normaliser),
        ``log_z`` (the grid log-partition) and ``grid_log_density`` ``[num_replicates, 201^2]``.
    """
    check_choice("method", method, DENSITY_METHODS)
    num_steps = check_int("num_steps", num_steps, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    hidden = check_int("hidden", hidden, low=1)
    check_real("lr", lr, low=0.0, low_open=True)
    check_real("gamma", gamma, low=0.0, low_open=True, high=1.0)
    num_replicates = check_int("num_replicates", num_replicates, low=1)
    dt = check_dtype(dtype)
    keys = jax.random.split(check_key(key), num_replicates)
    data = [_setup(jax.random.fold_in(k, 0), dt) for k in keys]
    data = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *data)
    fit = functools.partial(_fit, num_steps=num_steps, batch_size=batch_size, hidden=hidden)
    g = jnp.asarray(1.0 if method == "plugin" else gamma, dt)
    return jax.vmap(lambda k, d: fit(k, d, jnp.asarray(lr, dt), g, jnp.asarray(method == "nce")))(keys, data)
