r"""JAX samplers of hypotheses and their test errors: kernel hypotheses as posterior draws, neural networks by direct
optimisation (random initialisation, full-batch Adam to fit the training set, test error recorded), both vmapped
over the hypotheses; and the CPU-scale tasks the claims use.

References:
    Boopathy, Yue, Hwang, Iyer, Fiete, *Towards Exact Computation of Inductive Bias*, IJCAI 2024
    (arXiv 2406.15941): Algorithm 1 (kernel-based sampling) and the direct-optimisation sampling of neural
    networks (the official code: an MLP with ReLU, ``Linear(d_in, width)``, ``depth`` hidden ``Linear(width,
    width)`` layers and ``Linear(width, k)``, Adam); docs/inductive_bias.md, "Samplers".
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from theory import _random
from theory._random import check_key, numpy_rng
from theory._training import over_replicates, train
from theory._validation import check_array, check_dtype, check_int, check_real
from theory.inductive_bias.kernel import gp_posterior, posterior_sqrt, rbf_kernel

__all__ = [
    "sample_posterior_functions",
    "kernel_test_errors",
    "init_mlp",
    "mlp_apply",
    "nn_test_errors",
    "sine_task",
    "gp_prior_task",
    "task_law",
]


def _as_2d(name, y):
    arr = check_array(name, y)
    return arr[:, None] if arr.ndim == 1 else arr


@functools.partial(jax.jit, static_argnames=("num_samples", "chunk_size"))
def _posterior_draws(key, mean, root, *, num_samples, chunk_size=None):
    def one(k):
        xi = _random.normal(k, (root.shape[1], mean.shape[1]), mean.dtype)
        return mean + root @ xi

    return over_replicates(one, key, num_samples, chunk_size=chunk_size)


@functools.partial(jax.jit, static_argnames=("num_samples", "chunk_size"))
def _posterior_errors(key, mean, root, y_test, *, num_samples, chunk_size=None):
    """One normal draw per chunk of hypotheses (``lax.map`` over chunks), each chunk a batched product."""
    chunk = min(chunk_size or num_samples, num_samples)
    chunks = -(-num_samples // chunk)

    def block(k):
        xi = _random.normal(k, (chunk, root.shape[1], mean.shape[1]), mean.dtype)
        f = mean[None] + jnp.einsum("ij,njk->nik", root, xi)
        return jnp.mean((f - y_test[None]) ** 2, axis=(1, 2))

    out = jax.lax.map(block, jax.random.split(key, chunks))
    return out.reshape(-1)[:num_samples]


def sample_posterior_functions(key, mean, cov, *, num_samples: int, dtype=jnp.float32, chunk_size=None):
    r"""Kernel hypotheses on the test points: :math:`F = \mu + S\xi`, :math:`SS^\top = C` (eigh, clipped),
    :math:`\xi \sim N(0, I_{m\times k})`, one key per hypothesis, vmapped -> ``[num_samples, m, k]``.

    References:
        Boopathy et al., IJCAI 2024 (arXiv 2406.15941), Algorithm 1.
    """
    key = check_key(key)
    num_samples = check_int("num_samples", num_samples, low=1)
    dt = check_dtype(dtype)
    mu = _as_2d("mean", mean)
    root = posterior_sqrt(cov)
    if root.shape[0] != mu.shape[0]:
        raise ValueError(f"cov must be [{mu.shape[0]}, {mu.shape[0]}] to match mean, got {np.shape(cov)}")
    return _posterior_draws(key, jnp.asarray(mu, dt), jnp.asarray(root, dt), num_samples=num_samples,
                            chunk_size=chunk_size)


def kernel_test_errors(key, mean, cov, y_test, *, num_samples: int, dtype=jnp.float32, chunk_size=None):
    r"""Test errors :math:`e = \frac{1}{mk}\|F - Y_{te}\|^2` of ``num_samples`` posterior draws
    :math:`F = \mu + S\xi` -> ``[num_samples]``: the normals of a chunk of ``chunk_size`` hypotheses (all of them
    by default) are one draw and the chunk one batched product (chunks mapped with ``lax.map``).

    References:
        Boopathy et al., IJCAI 2024 (arXiv 2406.15941), Algorithm 1 (the official code draws 10 000).
    """
    key = check_key(key)
    num_samples = check_int("num_samples", num_samples, low=1)
    dt = check_dtype(dtype)
    mu, y = _as_2d("mean", mean), _as_2d("y_test", y_test)
    if y.shape != mu.shape:
        raise ValueError(f"y_test must have the shape of mean {mu.shape}, got {y.shape}")
    root = posterior_sqrt(cov)
    if root.shape[0] != mu.shape[0]:
        raise ValueError(f"cov must be [{mu.shape[0]}, {mu.shape[0]}] to match mean, got {np.shape(cov)}")
    return _posterior_errors(key, jnp.asarray(mu, dt), jnp.asarray(root, dt), jnp.asarray(y, dt),
                             num_samples=num_samples, chunk_size=chunk_size)


# ---------------------------------------------------------------------------------------------
# Neural networks by direct optimisation


def init_mlp(key, dim: int, width: int, depth: int, outputs: int, dtype=jnp.float32):
    """The official layout: ``Linear(dim, width)``, ``depth`` x ``Linear(width, width)``, ``Linear(width, outputs)``,
    each initialised uniformly on ``+-1/sqrt(fan_in)`` (PyTorch's ``nn.Linear``). A list of ``(W, b)``."""
    sizes = [dim] + [width] * (depth + 1) + [outputs]
    keys = jax.random.split(key, len(sizes) - 1)
    params = []
    for k, (a, b) in zip(keys, zip(sizes[:-1], sizes[1:], strict=True), strict=True):
        kw, kb = jax.random.split(k)
        bound = 1.0 / math.sqrt(a)
        params.append((_random.uniform(kw, (a, b), dtype, -bound, bound),
                       _random.uniform(kb, (b,), dtype, -bound, bound)))
    return params


def mlp_apply(params, x):
    """The MLP of :func:`init_mlp` (ReLU between layers) on ``x [n, dim]`` -> ``[n, outputs]``."""
    for w, b in params[:-1]:
        x = jax.nn.relu(x @ w + b)
    w, b = params[-1]
    return x @ w + b


@functools.partial(jax.jit, static_argnames=("num_samples", "width", "depth", "num_steps"))
def _nn_errors(key, xtr, ytr, xte, yte, lr, *, num_samples, width, depth, num_steps):
    import optax

    def one(k):
        params = init_mlp(k, xtr.shape[1], width, depth, ytr.shape[1], xtr.dtype)
        loss = lambda p, _k, _x: jnp.mean((mlp_apply(p, xtr) - ytr) ** 2)
        params, _ = train(loss, params, optax.adam(lr), key=k, num_steps=num_steps)
        return (jnp.mean((mlp_apply(params, xte) - yte) ** 2), jnp.mean((mlp_apply(params, xtr) - ytr) ** 2))

    return over_replicates(one, key, num_samples)


def nn_test_errors(key, x_train, y_train, x_test, y_test, *, num_samples: int, width: int = 64, depth: int = 0,
                   num_steps: int = 1000, learning_rate: float = 1e-2, dtype=jnp.float32):
    r"""Neural-network hypotheses by direct optimisation: ``num_samples`` random initialisations of the MLP of
    :func:`init_mlp`, each trained by full-batch Adam on the mean squared error for ``num_steps`` steps (one
    ``lax.scan``), vmapped over the hypotheses. Returns ``{"test_error", "train_error"}`` (``[num_samples]``, mean
    over points and outputs, the true mean MSE: the official code divides by about the batch size).

    References:
        Boopathy et al., IJCAI 2024 (arXiv 2406.15941), direct-optimisation sampling of neural networks;
        docs/inductive_bias.md, "Samplers".
    """
    key = check_key(key)
    num_samples = check_int("num_samples", num_samples, low=1)
    width = check_int("width", width, low=1)
    depth = check_int("depth", depth, low=0)
    num_steps = check_int("num_steps", num_steps, low=1)
    lr = check_real("learning_rate", learning_rate, low=0.0, low_open=True)
    dt = check_dtype(dtype)
    xtr, xte = _as_2d("x_train", x_train), _as_2d("x_test", x_test)
    ytr, yte = _as_2d("y_train", y_train), _as_2d("y_test", y_test)
    if xtr.shape[0] != ytr.shape[0] or xte.shape[0] != yte.shape[0] or xtr.shape[1] != xte.shape[1] \
            or ytr.shape[1] != yte.shape[1]:
        raise ValueError(f"inconsistent shapes: x_train {xtr.shape}, y_train {ytr.shape}, x_test {xte.shape}, "
                         f"y_test {yte.shape}")
    test, trn = _nn_errors(key, *(jnp.asarray(a, dt) for a in (xtr, ytr, xte, yte)), jnp.asarray(lr, dt),
                           num_samples=num_samples, width=width, depth=depth, num_steps=num_steps)
    return {"test_error": test, "train_error": trn}


# ---------------------------------------------------------------------------------------------
# Tasks


def sine_task(key, *, num_train: int = 20, num_test: int = 30, outputs: int = 1):
    r"""The 2-D regression task: :math:`x \sim U[-1, 1]^2`, target :math:`\sin(3x_1)\cos(2x_2)` (a second output,
    if asked, :math:`\cos(2x_1)\sin(3x_2)/2`). Returns ``(x_train, y_train, x_test, y_test)`` (float64, targets
    ``[n, outputs]``)."""
    rng = numpy_rng(key)
    x = rng.uniform(-1.0, 1.0, (num_train + num_test, 2))
    ys = [np.sin(3 * x[:, 0]) * np.cos(2 * x[:, 1]), 0.5 * np.cos(2 * x[:, 0]) * np.sin(3 * x[:, 1])]
    y = np.stack(ys[:outputs], axis=1)
    return x[:num_train], y[:num_train], x[num_train:], y[num_train:]


def gp_prior_task(key, dim: int, *, num_train: int = 30, num_test: int = 30, max_dim: int = 32,
                  jitter: float = 1e-8):
    r"""A task of the paper's kind at input dimension ``dim``: :math:`x \sim N(0, I_{dim})`, the target a draw of
    the GP prior with RBF lengthscale :math:`\sqrt{dim}` on the train and test points together. The same key gives
    common random numbers across dimensions (the first ``dim`` of ``max_dim`` input coordinates, the same normal
    vector behind the target). Returns ``(x_train, y_train, x_test, y_test)``."""
    dim = check_int("dim", dim, low=1, high=max_dim)
    rng = numpy_rng(key)
    n = num_train + num_test
    x = rng.standard_normal((n, max_dim))[:, :dim]
    z = rng.standard_normal(n)
    gram = rbf_kernel(x, x, lengthscale=math.sqrt(dim)) + jitter * np.eye(n)
    f = np.linalg.cholesky(gram) @ z
    return x[:num_train], f[:num_train, None], x[num_train:], f[num_train:, None]


def task_law(task, *, lengthscale, jitter=1e-8, rtol=1e-10):
    """``(mean, cov, law)`` of the RBF-GP hypothesis space on a task ``(x_train, y_train, x_test, y_test)``."""
    from theory.inductive_bias.kernel import test_error_law

    xtr, ytr, xte, yte = task
    mean, cov = gp_posterior(xtr, ytr, xte, kernel=lengthscale, jitter=jitter)
    return mean, cov, test_error_law(mean, cov, yte, rtol=rtol)
