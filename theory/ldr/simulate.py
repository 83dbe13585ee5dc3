r"""JAX simulator: noisy-label multi-class training with LDR-KL, ALDR-KL, CE and baselines.

Data: a Gaussian mixture with K classes in ``dim`` dimensions (class means drawn once per task key;
training and test points, label noise and initialisations drawn per seed). Noise follows the
authors' generators: *uniform* (with probability :math:`\eta` the label is replaced by a uniform
draw over all K classes, so the flip rate is :math:`\eta(K-1)/K`) and *pair flip* (with probability
:math:`\eta`, :math:`y \mapsto (y+1) \bmod K`, the class-dependent noise of the datasets without a
named involution). Model: linear or an MLP with two tanh hidden layers (the authors' FFNN), Xavier
initialisation; full-batch gradient descent with heavy-ball momentum (``optax.sgd`` in the shared loop
:func:`theory._training.train`, one ``lax.scan`` over steps),
``vmap`` over (noise setting, seed); noise rate, noise kind and the loss hyperparameter are traced,
so one compile per loss serves the whole sweep. The measurement is the clean test accuracy.

References:
    Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), experiments (protocol and noise generators from the
    authors' ``experiment.py``/``utils.py``); a CPU-sized synthetic stand-in for its noisy-label benchmarks
    (``docs/ldr.md``, "Figures" and "Findings").
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from theory import _random, _training
from theory._compat import keyword_only
from theory._random import check_key
from theory._training import train
from theory._validation import (
    check_array,
    check_choice,
    check_dtype,
    check_int,
    check_real,
    is_traced,
    renamed_argument,
)
from theory.ldr.aldr import _solve_lambda
from theory.ldr.baselines import BASELINES
from theory.ldr.losses import _ldr_kl_of_a, _psi, margin_vector

__all__ = ["LOSSES", "uniform_noise", "pairflip_noise", "apply_noise", "make_mixture", "train_noisy"]


def _ldr_kl(logits, labels, lam, margin=0.1):
    return _ldr_kl_of_a(margin_vector(logits, labels, margin), lam)


def _ldr_v1(logits, labels, lam, margin=0.1):
    """The authors' LDRLoss_V1: softplus scores normalised to mean 1 per row, then LDR-KL."""
    sp = jax.nn.softplus(logits)
    return _ldr_kl_of_a(margin_vector(sp / jnp.mean(sp, axis=-1, keepdims=True), labels, margin), lam)


def _aldr_kl(logits, labels, lam0, margin=0.1, alpha_c=2.0):
    """Exact ALDR-KL with the code's alpha = alpha_c log K / lam0 (grid 24 + 20 bisection steps: lambda* to
    ~1e-7 relative on the interval [lam0 (1 - 1/alpha_c), lam0])."""
    K = logits.shape[-1]
    a = margin_vector(logits, labels, margin)
    alpha = alpha_c * math.log(K) / lam0
    lam = jax.lax.stop_gradient(_solve_lambda(a, lam0, alpha, 0.0, 24, 20))
    return _psi(a, lam) - jax.lax.stop_gradient(0.5 * alpha * (lam - lam0) ** 2)


def _aldr_norm(logits, labels, lam0, margin=0.1, alpha_c=2.0):
    """Exact ALDR-KL on the authors' L1-normalised scores F / max(||F||_1 / K, 1e-12) (ALDRLoss_V1's input)."""
    K = logits.shape[-1]
    Fh = logits / jnp.maximum(jnp.sum(jnp.abs(logits), axis=-1, keepdims=True) / K, 1e-12)
    return _aldr_kl(Fh, labels, lam0, margin, alpha_c)


#: name -> ``fn(logits, labels, hyper)``: the LDR losses (hyper = lambda or lambda_0, margin 0.1 as in
#: the authors' experiments) and the baselines of :mod:`theory.ldr.baselines`.
LOSSES = {"ldr_kl": _ldr_kl, "ldr_v1": _ldr_v1, "aldr_kl": _aldr_kl, "aldr_norm": _aldr_norm, **BASELINES}


def _uniform(key, labels, eta, K):
    k1, k2 = jax.random.split(key)
    coin = _random.uniform(k1, labels.shape) < eta
    return jnp.where(coin, jax.random.randint(k2, labels.shape, 0, K), labels)


def _pairflip(key, labels, eta, K):
    coin = _random.uniform(key, labels.shape) < eta
    return jnp.where(coin, (labels + 1) % K, labels)


def _noise(key, labels, eta, kind, K):
    return jnp.where(kind == 0, _uniform(key, labels, eta, K), _pairflip(key, labels, eta, K))


def _check_noise(owner, labels, eta, num_classes, K, key):
    key = check_key(key)
    num_classes = renamed_argument("K", "num_classes", num_classes, K, owner=owner)
    if num_classes is None:
        raise TypeError(f"{owner}: num_classes is required")
    num_classes = check_int("num_classes", num_classes, low=2)
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels must be integers, got {labels.dtype}")
    if not is_traced(eta):
        eta = check_real("eta", eta, low=0.0, high=1.0)
    return key, labels, eta, num_classes


@keyword_only("eta", "num_classes", leading=("key",))
def uniform_noise(labels, *, eta, num_classes=None, key, K=None):
    r"""With probability ``eta`` replace each label by a uniform draw over all ``num_classes`` classes.

    A redraw may return the true class, so the flip rate is :math:`\eta(K-1)/K`, not :math:`\eta`
    (``docs/ldr.md``, "Derivations", noise generators).

    Args:
        labels: integer labels ``[...]``.
        eta: noise rate in ``[0, 1]`` (checked when concrete; a traced value outside acts as its clip to
            ``[0, 1]``: the output is integer labels, which cannot carry NaN).
        num_classes: the number of classes (``K`` is its deprecated name).
        key: PRNG key.

    Returns:
        The noisy labels, same shape and dtype.

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), experiments (the authors' symmetric-noise generator).
    """
    key, labels, eta, num_classes = _check_noise("uniform_noise", labels, eta, num_classes, K, key)
    return _uniform(key, labels, eta, num_classes)


@keyword_only("eta", "num_classes", leading=("key",))
def pairflip_noise(labels, *, eta, num_classes=None, key, K=None):
    """With probability ``eta`` map each label ``y -> (y + 1) mod num_classes`` (the authors' class-dependent noise).

    Arguments as in :func:`uniform_noise`.

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), experiments (pair-flip noise).
    """
    key, labels, eta, num_classes = _check_noise("pairflip_noise", labels, eta, num_classes, K, key)
    return _pairflip(key, labels, eta, num_classes)


@keyword_only("eta", "kind", "num_classes", leading=("key",))
def apply_noise(labels, *, eta, kind, num_classes=None, key, K=None):
    """Uniform noise when ``kind == 0``, pair flip when ``kind == 1`` (``eta`` and ``kind`` may be traced: one
    compile serves both kinds). Other arguments as in :func:`uniform_noise`.

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), experiments.
    """
    key, labels, eta, num_classes = _check_noise("apply_noise", labels, eta, num_classes, K, key)
    if not is_traced(kind) and int(kind) not in (0, 1):
        raise ValueError(f"kind must be 0 (uniform) or 1 (pair flip), got {kind!r}")
    return _noise(key, labels, eta, kind, num_classes)


def _mixture(key, means, n, scale):
    K, dim = means.shape
    ky, kx = jax.random.split(key)
    y = jax.random.randint(ky, (n,), 0, K)
    return means[y] + scale * _random.normal(kx, (n, dim), means.dtype), y


@keyword_only("num_samples", leading=("key",))
def make_mixture(means, *, num_samples=None, scale=1.0, key, n=None):
    r"""``num_samples`` points of the Gaussian mixture with class means ``means [num_classes, dim]``.

    Uniform labels :math:`y`, and :math:`x = \mu_y + \text{scale}\,N(0, I)`.

    Args:
        means: class means ``[num_classes, dim]`` (floating).
        num_samples: the number of points (``n`` is its deprecated name).
        scale: the noise standard deviation, ``> 0``.
        key: PRNG key.

    Returns:
        ``(x [num_samples, dim], y [num_samples])``.
    """
    key = check_key(key)
    num_samples = renamed_argument("n", "num_samples", num_samples, n, owner="make_mixture")
    if num_samples is None:
        raise TypeError("make_mixture: num_samples is required")
    num_samples = check_int("num_samples", num_samples, low=1)
    means = jnp.asarray(means)
    if means.ndim != 2 or not jnp.issubdtype(means.dtype, jnp.floating):
        raise ValueError(f"means must be a floating [num_classes, dim] array, got {means.dtype} {means.shape}")
    if not is_traced(scale):
        scale = check_real("scale", scale, low=0.0, low_open=True)
    return _mixture(key, means, num_samples, scale)


def _init(key, sizes, dtype):
    params = []
    for k, (m, n) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:], strict=True),
                         strict=True):
        params.append((_random.normal(k, (m, n), dtype) * jnp.sqrt(2.0 / (m + n)).astype(dtype),
                       jnp.zeros((n,), dtype)))
    return params


def _forward(params, x):
    for W, b in params[:-1]:
        x = jnp.tanh(x @ W + b)
    W, b = params[-1]
    return x @ W + b


def _loss_switch(names, index, logits, labels, hyper):
    """``LOSSES[names[index]]`` with ``index`` traced: one compiled trainer serves every loss in ``names``."""
    branches = [functools.partial(lambda fn, f, y, h: fn(f, y, h).astype(f.dtype), LOSSES[n]) for n in names]
    return jax.lax.switch(index, branches, logits, labels, hyper)


@functools.partial(jax.jit, static_argnames=("names", "n_train", "n_test", "hidden", "steps", "scale",
                                             "chunk_size"))
def _run(keys, means, etas, kinds, loss_index, hyper, lr, momentum, weight_decay, *, names, n_train, n_test,
         hidden, steps, scale, chunk_size=None):
    K, dim = means.shape
    dtype = means.dtype
    sizes = (dim, *hidden, K)

    def loss_fn(f, y, h):
        return _loss_switch(names, loss_index, f, y, h)

    def one(key, eta, kind):
        k_tr, k_te, k_noise, k_init = jax.random.split(key, 4)
        X, y = _mixture(k_tr, means, n_train, scale)
        Xt, yt = _mixture(k_te, means, n_test, scale)
        y_noisy = _noise(k_noise, y, eta, kind, K)
        params = _init(k_init, sizes, dtype)

        def objective(p):
            reg = sum(jnp.sum(W * W) for W, _ in p)
            return jnp.mean(loss_fn(_forward(p, X), y_noisy, hyper)) + 0.5 * weight_decay * reg

        # full-batch heavy-ball GD: v <- momentum v + g, p <- p - lr v (optax.sgd); the data are fixed, so the
        # per-step keys of the shared loop go unused
        import optax  # deferred: imported when the trainer is first traced

        params, _ = train(lambda p, _key, _x: objective(p), params, optax.sgd(lr, momentum=momentum), key=k_init,
                          num_steps=steps)
        acc = jnp.mean(jnp.argmax(_forward(params, Xt), axis=-1) == yt)
        noisy_frac = jnp.mean(y_noisy != y)
        return acc, noisy_frac

    def seed(key):  # every noise setting of one seed
        return jax.vmap(one, (None, 0, 0))(key, etas, kinds)

    acc, noisy = _training.map_replicates(seed, keys, chunk_size=chunk_size)  # [seed, setting]
    return acc.T, noisy.T


@keyword_only(leading=("key",))
def train_noisy(*, key, losses, etas, kinds, n_seeds=3, num_classes=None, dim=10, sep=1.0, scale=1.0, n_train=300,
                n_test=2000, hidden=(32, 32), steps=400, lr=0.15, momentum=0.9, weight_decay=0.0, dtype=jnp.float32,
                K=None, chunk_size=None):
    r"""Clean test accuracy after training on noisy labels, for each (loss, setting, seed).

    The class means are drawn from ``key`` (:math:`\mu_{k} \sim N(0, \text{sep}^2 I)`); seed ``s`` uses
    ``fold_in(key, s)`` for its training and test points, noisy labels and initial weights, identical
    across losses, so differences between losses are paired. One compile serves all the losses listed
    (the loss is a traced switch index), every noise setting and every seed.

    Args:
        key: PRNG key (keyword-only; the old positional ``train_noisy(key, ...)`` still works and warns).
        losses: sequence of ``(name, hyper)`` with ``name`` in :data:`LOSSES` (hyper: lambda, lambda_0,
            margin, q or beta; ignored by ``ce``, ``mae``, ``mse``).
        etas: noise rates in [0, 1], one per setting.
        kinds: noise kinds (0 uniform, 1 pair flip), one per setting.
        n_seeds: replicates.
        num_classes: the number of classes of the mixture (default 10; ``K`` is its deprecated name).
        dim: the mixture's dimension; ``sep`` the spread of the class means, ``scale`` the noise level.
        n_train: training sample size (``n_test``: test sample size).
        hidden: hidden widths (``()`` for a linear model); steps, lr, momentum, weight_decay: full-batch
            heavy-ball gradient descent.
        dtype: float dtype of the simulation (float32 by default).
        chunk_size: seeds trained together by ``vmap`` (a memory budget; ``lax.map`` runs the chunks one after
            another; None: as many as the memory budget allows, all at once at the default scale,
            :func:`theory._training.map_replicates`). The seeds are split over the local devices when a chunk's
            size is a multiple of their number; the numbers do not depend on the chunking or the placement.

    Returns:
        ``(accuracy [len(losses), len(etas), n_seeds], noisy_fraction [len(etas), n_seeds])``.

    References:
        Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869), experiments (a synthetic CPU-sized stand-in;
        ``docs/ldr.md``, "Figures").
    """
    key = check_key(key)
    dtype = check_dtype(dtype)
    num_classes = renamed_argument("K", "num_classes", num_classes, K, owner="train_noisy")
    K = check_int("num_classes", 10 if num_classes is None else num_classes, low=2)
    losses = [(check_choice("loss", n, tuple(LOSSES)), float(h)) for n, h in losses]
    if not losses:
        raise ValueError("losses must name at least one loss")
    n_seeds = check_int("n_seeds", n_seeds, low=1)
    dim = check_int("dim", dim, low=1)
    sep = check_real("sep", sep, low=0.0)
    scale = check_real("scale", scale, low=0.0, low_open=True)
    n_train = check_int("n_train", n_train, low=1)
    n_test = check_int("n_test", n_test, low=1)
    steps = check_int("steps", steps, low=1)
    lr = check_real("lr", lr, low=0.0, low_open=True)
    momentum = check_real("momentum", momentum, low=0.0, high=1.0, high_open=True)
    weight_decay = check_real("weight_decay", weight_decay, low=0.0)
    etas = jnp.asarray(check_array("etas", etas, low=0.0, high=1.0, ndim=1), dtype)
    kinds = jnp.asarray(kinds, jnp.int32)
    if etas.shape != kinds.shape:
        raise ValueError("etas and kinds must be 1-D of the same length (one per setting)")
    if bool(jnp.any((kinds != 0) & (kinds != 1))):
        raise ValueError("kinds must be 0 (uniform) or 1 (pair flip)")
    if chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, low=1)
    names = tuple(sorted({n for n, _ in losses}))
    k_means, k_seeds = jax.random.split(key)
    means = sep * _random.normal(k_means, (K, dim), dtype)
    keys = jax.vmap(lambda s: jax.random.fold_in(k_seeds, s))(jnp.arange(n_seeds))
    accs = []
    for name, hyper in losses:
        acc, noisy = _run(keys, means, etas, kinds, jnp.asarray(names.index(name), jnp.int32),
                          jnp.asarray(hyper, dtype), jnp.asarray(lr, dtype), jnp.asarray(momentum, dtype),
                          jnp.asarray(weight_decay, dtype), names=names, n_train=n_train, n_test=n_test,
                          hidden=tuple(int(h) for h in hidden), steps=steps, scale=scale, chunk_size=chunk_size)
        accs.append(acc)
    return jnp.stack(accs), noisy
