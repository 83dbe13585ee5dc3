r"""Doubly stochastic training in JAX: random batches and random calibrated loss-derivatives (EnsLoss), against
fixed-loss baselines trained by the same loop.

Every step samples a batch, computes the margins :math:`z_i = y_i f_\theta(x_i)`, draws the loss-derivatives
:math:`g` (a fresh EnsLoss draw, or :math:`\phi'(z)` of a fixed loss) and descends along
:math:`\frac1B\sum_i g_i y_i \nabla_\theta f_\theta(x_i)`, the gradient of the surrogate
:math:`\frac1B\sum_i \mathrm{sg}(g_i) z_i` (Algorithm 1). A loss is picked by a traced index, so one compiled
function trains every loss and seed: ``lax.scan`` over steps, ``vmap`` over (loss, seed).

* :func:`excess_risk_by_size`: linear models on Gaussian classes, the exact excess 0-1 risk of the
  (Polyak-averaged) SGD solution for several training-set sizes at once (independent training sets, traced
  sizes).
* :func:`fit_classifiers`: linear or one-hidden-layer MLP classifiers on given train/test data (one split per
  replicate), with the train and test accuracy recorded every ``eval_every`` steps.

References:
    Dai, ICML 2025 (arXiv 2409.00908), Algorithm 1 (doubly stochastic gradient descent) and the fixed-loss
    baselines of its experiments; Polyak, Juditsky, *Acceleration of Stochastic Approximation by Averaging*, SIAM
    J. Control Optim. 1992 (iterate averaging); docs/ensloss.md, "Doubly stochastic training".
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from theory import _random
from theory._random import check_key
from theory._training import over_replicates, train
from theory._validation import check_array, check_dtype, check_int, check_real
from theory.ensloss.data import _gaussian_classes, bayes_risk
from theory.ensloss.generator import _derivatives, check_generator_hyperparameters
from theory.ensloss.margin_losses import (
    exponential_margin_derivative,
    hinge_margin_derivative,
    logistic_margin_derivative,
    squared_hinge_margin_derivative,
)

__all__ = ["LOSSES", "loss_derivatives", "init_mlp", "mlp_scores", "excess_risk_by_size", "fit_classifiers"]

#: The losses the training loops know, in the order of their traced index.
LOSSES = ("ensloss", "logistic", "hinge", "exponential", "squared_hinge")
_FIXED = (logistic_margin_derivative, hinge_margin_derivative, exponential_margin_derivative,
          squared_hinge_margin_derivative)


def _check_losses(losses):
    losses = (losses,) if isinstance(losses, str) else tuple(losses)
    bad = [name for name in losses if name not in LOSSES]
    if not losses or bad:
        raise ValueError(f"losses must be a non-empty sequence of names in {list(LOSSES)}, got {list(losses)}")
    return losses


def loss_derivatives(loss_index, key, margins, *, box_cox=0.0, clip=-1.0, tail_threshold=1.0, eps=1e-6):
    r"""The loss-derivatives of loss ``LOSSES[loss_index]`` at ``margins`` (a traced index selects the loss).

    ``ensloss`` draws a fresh batch of EnsLoss derivatives from ``key`` (ranked along the last axis); the fixed
    losses return :math:`\phi'(z)`. Pure and jittable; the derivatives are not differentiated through.

    Args:
        loss_index: integer into :data:`LOSSES`; a Python int computes that loss only, a traced one computes
            every loss and selects (so ``vmap`` over losses works).
        key: a JAX PRNG key (used by ``ensloss`` only).
        margins: ``[..., batch]`` margins.
        box_cox, clip, tail_threshold, eps: the generator's hyperparameters.

    Returns:
        Derivatives shaped like ``margins``.

    References:
        Dai, ICML 2025 (arXiv 2409.00908), Algorithm 1 and its Table 1 (fixed loss vs EnsLoss per iteration).
    """
    z = jax.lax.stop_gradient(margins)
    return _derivatives_of(loss_index, _random.normal(key, z.shape, z.dtype), z,
                           dict(box_cox=box_cox, clip=clip, tail_threshold=tail_threshold, eps=eps))


def _derivatives_of(loss_index, normals, z, gen):
    """:func:`loss_derivatives` given the generator's normal draws (the training loops draw them together with the
    batch indices, one PRNG call per step)."""
    z = jax.lax.stop_gradient(z)

    def option(i):
        return _derivatives(z, normals, **gen) if i == 0 else _FIXED[i - 1](z)

    if isinstance(loss_index, int | np.integer):  # a static choice: only that loss is computed
        return jax.lax.stop_gradient(option(int(loss_index)))
    options = [option(i) for i in range(len(LOSSES))]
    return jax.lax.stop_gradient(jnp.select([loss_index == i for i in range(len(options))], options,
                                            jnp.full_like(z, jnp.nan)))


def _batch(key, n, batch_size, dtype):
    """``(indices, normals)`` of one step from a single PRNG call: ``batch_size`` indices uniform on ``[0, n)`` (as
    ``floor(n Phi(N))``) and ``batch_size`` standard normals for the generator."""
    # jax.random.normal, not theory._random.normal: with the unrolled hash this step ran 1.5-2.4x slower in the
    # trainings of ensloss.excess_risk_rate and ensloss.overfitting_gap (two processes on one core, measured)
    r = jax.random.normal(key, (2, batch_size), dtype)
    idx = jnp.floor(jax.scipy.special.ndtr(r[0]) * n).astype(jnp.int32)
    return jnp.clip(idx, 0, n - 1), r[1]


def init_mlp(key, dim, hidden, dtype=jnp.float32):
    r"""Parameters of :math:`f(x) = w_2^\top \mathrm{relu}(W_1 x + b_1) + b_2` (``hidden = 0``: the linear
    :math:`f(x) = w^\top x + b`), each layer initialised uniformly on :math:`\pm 1/\sqrt{\mathrm{fan\_in}}` as
    PyTorch's ``nn.Linear``.

    Returns:
        ``{"w1", "b1", "w2", "b2"}`` (``hidden > 0``) or ``{"w", "b"}`` (``hidden = 0``).
    """
    shapes = {"w": (dim,), "b": ()} if hidden == 0 else {"w1": (dim, hidden), "b1": (hidden,), "w2": (hidden,),
                                                           "b2": ()}
    fans = {"w": dim, "b": dim, "w1": dim, "b1": dim, "w2": hidden, "b2": hidden}
    sizes = [int(np.prod(shape)) for shape in shapes.values()]
    u = _random.uniform(key, (sum(sizes),), dtype, -1.0, 1.0)  # one PRNG call for every layer
    params, start = {}, 0
    for (name, shape), size in zip(shapes.items(), sizes, strict=True):
        params[name] = (u[start:start + size] / np.sqrt(fans[name])).reshape(shape).astype(dtype)
        start += size
    return params


def mlp_scores(params, x):
    """Scores :math:`f(x)` ``[n]`` of the model of :func:`init_mlp` on ``x [n, dim]``."""
    if "w" in params:
        return x @ params["w"] + params["b"]
    return jax.nn.relu(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]


# ---------------------------------------------------------------------------------------------
# Linear models on Gaussian classes: excess risk against the training-set size


def _averaged(inner, start: int):
    """An optax transformation that runs ``inner`` on ``params["w"]`` and keeps ``params["avg"]`` equal to the mean
    of the iterates from step ``start`` on (Polyak-Ruppert averaging), so :func:`theory._training.train` returns
    the averaged solution."""
    import optax

    def init(params):
        return inner.init(params["w"]), jnp.zeros((), jnp.int32)

    def update(grads, state, params):
        inner_state, count = state
        upd, inner_state = inner.update(grads["w"], inner_state, params["w"])
        new = optax.apply_updates(params["w"], upd)
        weight = 1.0 / jnp.maximum(count - start + 1, 1).astype(jnp.float32)
        avg_upd = jax.tree_util.tree_map(lambda n, a: (weight * (n - a)).astype(a.dtype), new, params["avg"])
        return {"w": upd, "avg": avg_upd}, (inner_state, count + 1)

    return optax.GradientTransformation(init, update)


@functools.partial(jax.jit, static_argnames=("num_replicates", "total_size", "num_steps", "batch_size", "loss_index"))
def _excess_core(key, sizes, offsets, mean, lr, gen, *, num_replicates, total_size, num_steps, batch_size, loss_index):
    import optax

    dim = mean.shape[0]
    opt = _averaged(optax.sgd(lr), start=num_steps // 2)

    def per_replicate(k):
        train_keys = jax.random.split(k, sizes.shape[0] + 1)
        x, y = _gaussian_classes(train_keys[-1], total_size, mean)  # size j trains on rows [offset_j, offset_j + n_j)

        def one(n, offset, train_key):
            def loss(params, step_key, _):
                idx, normals = _batch(step_key, n, batch_size, mean.dtype)
                idx = idx + offset
                z = y[idx] * (x[idx] @ params["w"][:dim] + params["w"][dim])
                return jnp.mean(_derivatives_of(loss_index, normals, z, gen) * z)

            theta0 = jnp.zeros(dim + 1, mean.dtype)
            params, _ = train(loss, {"w": theta0, "avg": theta0}, opt, key=train_key, num_steps=num_steps)
            return params["avg"]

        return jax.vmap(one)(sizes, offsets, train_keys[:-1])

    return over_replicates(per_replicate, key, num_replicates)


def excess_risk_by_size(*, key, sizes, mean, num_replicates, num_steps=2000, batch_size=64, learning_rate=0.1,
                        loss="ensloss", dtype=jnp.float32, **generator):
    r"""Excess 0-1 risk :math:`R(\hat w_n, \hat b_n) - \Phi(-\lVert\mu\rVert)` of a linear rule trained by doubly
    stochastic SGD on :math:`n` Gaussian-classes points, for each ``n`` in ``sizes`` and each replicate.

    Each replicate draws ``sum(sizes)`` points and gives each size its own disjoint block of them (independent
    training sets, so the per-size estimates are independent, as a log-log fit's standard error assumes); the
    sizes are traced, so one compile serves the sweep. SGD starts at 0, runs ``num_steps`` steps with
    batches of ``batch_size`` indices drawn uniformly from :math:`[0, n)`, constant ``learning_rate``, and returns
    the Polyak-Ruppert average of the second half of the iterates; its excess risk is computed exactly
    (:func:`~theory.ensloss.linear_zero_one_risk`).

    Args:
        key: a JAX PRNG key.
        sizes: training-set sizes (integers >= 1).
        mean: :math:`\mu` ``[dim]``.
        num_replicates: independent replicates (``vmap``).
        num_steps, batch_size: SGD steps and batch size.
        learning_rate: the constant step size (> 0).
        loss: a name in :data:`LOSSES`.
        dtype: floating dtype of the simulation.
        **generator: ``box_cox``, ``clip``, ``tail_threshold``, ``eps`` of the EnsLoss generator.

    Returns:
        Excess risks ``[num_replicates, len(sizes)]`` (NumPy float64).

    References:
        Dai, ICML 2025 (arXiv 2409.00908), Algorithm 1 and the consistency theory; docs/ensloss.md, "Consistency
        and the excess-risk rate".
    """
    key = check_key(key)
    sizes = check_array("sizes", sizes, low=1.0, ndim=1).astype(np.int32)
    mean = check_array("mean", mean, ndim=1)
    R = check_int("num_replicates", num_replicates, low=1)
    T = check_int("num_steps", num_steps, low=2)
    B = check_int("batch_size", batch_size, low=1)
    lr = check_real("learning_rate", learning_rate, low=0.0, low_open=True)
    (loss,) = _check_losses(loss)
    gen = check_generator_hyperparameters(**generator)
    dt = check_dtype(dtype)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
    theta = _excess_core(key, jnp.asarray(sizes), jnp.asarray(offsets), jnp.asarray(mean, dt), lr, gen,
                         num_replicates=R, total_size=int(sizes.sum()), num_steps=T, batch_size=B,
                         loss_index=LOSSES.index(loss))
    theta = np.asarray(theta, np.float64)  # [R, len(sizes), dim + 1]; the exact risk in float64
    return _numpy_linear_risk(theta[..., :-1], theta[..., -1], mean) - bayes_risk(mean)


def _numpy_linear_risk(w, b, mean):
    """The exact 0-1 risk of sign(w'x + b) under Gaussian classes, in NumPy float64 (``linear_zero_one_risk``)."""
    from scipy import special

    norm = np.linalg.norm(w, axis=-1)
    s = w @ mean
    return 0.5 * (special.ndtr(-(s + b) / norm) + special.ndtr(-(s - b) / norm))


# ---------------------------------------------------------------------------------------------
# Classifiers on given data, with accuracy curves


def _accuracy(params, x, y):
    return jnp.mean((mlp_scores(params, x) * y > 0).astype(x.dtype))


@functools.partial(jax.jit, static_argnames=("hidden", "num_checkpoints", "eval_every", "batch_size"))
def _fit_core(keys, loss_ids, data, lr, momentum, weight_decay, clip_norm, gen, *, hidden, num_checkpoints,
              eval_every, batch_size):
    import optax

    x_tr, y_tr, x_te, y_te = data
    opt = optax.chain(optax.clip_by_global_norm(clip_norm), optax.add_decayed_weights(weight_decay),
                      optax.sgd(lr, momentum=momentum))

    def one(key, loss_id, xtr, ytr, xte, yte):
        k_init, k_run = jax.random.split(key)
        params = init_mlp(k_init, xtr.shape[-1], hidden, xtr.dtype)
        n = xtr.shape[0]

        def step(carry, k):
            p, s = carry
            idx, normals = _batch(k, n, batch_size, xtr.dtype)

            def surrogate(q):
                z = ytr[idx] * mlp_scores(q, xtr[idx])
                return jnp.mean(_derivatives_of(loss_id, normals, z, gen) * z)

            upd, s = opt.update(jax.grad(surrogate)(p), s, p)
            return (optax.apply_updates(p, upd), s), None

        def checkpoint(carry, k):
            carry, _ = jax.lax.scan(step, carry, jax.random.split(k, eval_every))
            p = carry[0]
            return carry, (_accuracy(p, xtr, ytr), _accuracy(p, xte, yte))

        _, (train_acc, test_acc) = jax.lax.scan(checkpoint, (params, opt.init(params)),
                                                jax.random.split(k_run, num_checkpoints))
        return train_acc, test_acc

    per_seed = jax.vmap(one, in_axes=(0, None, 0, 0, 0, 0))
    per_loss = jax.vmap(per_seed, in_axes=(None, 0, None, None, None, None))
    return per_loss(keys, loss_ids, x_tr, y_tr, x_te, y_te)


def fit_classifiers(*, key, x_train, y_train, x_test, y_test, losses=("ensloss", "logistic", "hinge", "exponential"),
                    hidden=32, num_steps=2000, batch_size=32, learning_rate=0.01, momentum=0.9, weight_decay=0.0,
                    clip_norm=10.0, eval_every=100, dtype=jnp.float32, **generator):
    r"""Train one classifier per (loss, replicate) by doubly stochastic SGD and record its accuracy curves.

    Replicate ``r`` trains on ``x_train[r]`` (one split per replicate) from its own initialisation and batch
    order; every loss sees the same splits, initialisations and batch indices (common random numbers), so
    differences between losses are paired. Optimiser: SGD with momentum, decoupled weight decay and
    gradient-norm clipping at ``clip_norm`` (the authors clip the exponential loss at 10; the bounded derivatives
    of the other losses rarely reach it).

    Args:
        key: a JAX PRNG key.
        x_train: ``[R, n_train, dim]`` (or ``[n_train, dim]`` for one replicate); ``y_train`` ``[R, n_train]`` in
            ``{-1, +1}``; ``x_test``, ``y_test`` likewise.
        losses: names in :data:`LOSSES`.
        hidden: MLP width (0: a linear model).
        num_steps: SGD steps (a multiple of ``eval_every``).
        batch_size, learning_rate, momentum, weight_decay, clip_norm: the optimiser.
        eval_every: steps between two accuracy evaluations.
        dtype: floating dtype of the training.
        **generator: ``box_cox``, ``clip``, ``tail_threshold``, ``eps`` of the EnsLoss generator.

    Returns:
        ``{"losses": names, "steps": [C], "train_accuracy": [L, R, C], "test_accuracy": [L, R, C]}`` (NumPy),
        ``C = num_steps / eval_every``.

    References:
        Dai, ICML 2025 (arXiv 2409.00908), Algorithm 1 and the experiments' protocol (SGD with momentum 0.9,
        weight decay, batch 128, the same loop for every loss); docs/ensloss.md, "Real data".
    """
    key = check_key(key)
    losses = _check_losses(losses)
    dt = check_dtype(dtype)
    arrays = []
    for name, value in (("x_train", x_train), ("y_train", y_train), ("x_test", x_test), ("y_test", y_test)):
        arr = check_array(name, value)
        arrays.append(arr if arr.ndim == (3 if name.startswith("x") else 2) else arr[None])
    xtr, ytr, xte, yte = arrays
    if xtr.ndim != 3 or xte.ndim != 3 or ytr.shape != xtr.shape[:2] or yte.shape != xte.shape[:2] \
            or xte.shape[0] != xtr.shape[0] or xte.shape[2] != xtr.shape[2]:
        raise ValueError(f"x_train [R, n, dim], y_train [R, n], x_test [R, m, dim], y_test [R, m] must agree; got "
                         f"{xtr.shape}, {ytr.shape}, {xte.shape}, {yte.shape}")
    for name, y in (("y_train", ytr), ("y_test", yte)):
        if not np.all(np.abs(y) == 1):
            raise ValueError(f"{name} must be in {{-1, +1}}")
    hidden = check_int("hidden", hidden, low=0)
    every = check_int("eval_every", eval_every, low=1)
    T = check_int("num_steps", num_steps, low=every)
    if T % every:
        raise ValueError(f"num_steps must be a multiple of eval_every ({every}), got {T}")
    B = check_int("batch_size", batch_size, low=1)
    lr = check_real("learning_rate", learning_rate, low=0.0, low_open=True)
    mom = check_real("momentum", momentum, low=0.0, high=1.0, high_open=True)
    wd = check_real("weight_decay", weight_decay, low=0.0)
    cn = check_real("clip_norm", clip_norm, low=0.0, low_open=True, allow_inf=True)
    gen = check_generator_hyperparameters(**generator)
    keys = jax.random.split(key, xtr.shape[0])
    data = tuple(jnp.asarray(a, dt) for a in (xtr, ytr, xte, yte))
    ids = jnp.asarray([LOSSES.index(name) for name in losses])
    train_acc, test_acc = _fit_core(keys, ids, data, lr, mom, wd, cn, gen, hidden=hidden, num_checkpoints=T // every,
                                    eval_every=every, batch_size=B)
    return {"losses": losses, "steps": np.arange(1, T // every + 1) * every,
            "train_accuracy": np.asarray(train_acc, np.float64), "test_accuracy": np.asarray(test_acc, np.float64)}
