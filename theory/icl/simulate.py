r"""JAX simulators: in-context regression prompts, Adam pre-training of the LSA layer, Monte-Carlo risks.

* :func:`sample_tasks` draws prompts: covariates :math:`x = L_x z` (:math:`L_x L_x^\top = \Sigma_x`),
  weights :math:`w = L_w u`, linear noisy targets, or ReLU single-index targets
  :math:`f(x) = a\,\mathrm{relu}(v^\top x)` (:math:`v` uniform on the sphere, :math:`a = \pm1`).
* :func:`train_lsa` trains both :math:`(d+1)\times(d+1)` matrices of the LSA with ``optax.adam`` and a
  cosine-decayed learning rate on fresh prompts at every step, minimising the Rao-Blackwellised
  conditional risk (docs/icl.md, "The Rao-Blackwellised risk"); the steps are one ``lax.scan``
  (:func:`theory._training.train`) inside one ``jit``, ``vmap`` over replicates. The noise variance,
  covariance factors and learning rates are traced, so one compile serves a sweep over them.
* :func:`train_lsa_padded` is the same training with ``num_samples``, ``dim`` and the target traced as
  well (the layer padded to ``dim_pad``, the context to ``num_samples_pad``), so one compile serves every
  point of a sweep; it also returns each replicate's final risk on prompts common to all replicates.
* :func:`lsa_risk` and :func:`gd_step_argmin` are Monte-Carlo estimators on fresh prompts.

Arguments follow the shared vocabulary (docs/glossary.md): a keyword-only ``key``, ``num_samples`` (the
prompt length :math:`n`), ``dim`` (:math:`d`), ``noise_var``, ``num_steps``, ``num_replicates``; the old
spellings (``n``, ``d``, ``steps``, ``n_seeds``, ``replicates``, ``n_prompts``, ``n_pad``, ``d_pad``, a
positional key) still work and raise a ``DeprecationWarning``.

All keys are derived by ``jax.random.split`` only (mixing ``fold_in`` and ``split`` on one parent key can
alias streams). Default dtype float32.

References:
    Mahankali, Hashimoto, Ma, ICLR 2024 (arXiv 2307.03576); the training protocol of docs/icl.md,
    "Numerics".
"""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from theory import _random
from theory._compat import keyword_only
from theory._random import check_key
from theory._training import map_replicates, shard_replicates, train
from theory._validation import check_choice, check_dtype, check_int, check_real, is_traced
from theory.icl._args import as_array, check_covariance, check_square
from theory.icl.lsa import context_readout, make_prompt

__all__ = ["TARGETS", "sample_tasks", "conditional_risk", "train_lsa", "train_lsa_padded", "unpad_params", "lsa_risk",
           "gd_step_argmin", "gd_risk_coefficients"]

TARGETS = ("linear", "relu")

#: Adam's moment decays and epsilon (optax's defaults), used by every trainer here.
ADAM = {"b1": 0.9, "b2": 0.999, "eps": 1e-8}


def _factors(d, cov_x, cov_w, target):
    sx = np.eye(d) if cov_x is None else check_covariance("cov_x", cov_x, d)
    sw = np.eye(d) if cov_w is None else check_covariance("cov_w", cov_w, d)
    if target == "relu" and (cov_x is not None and not np.allclose(sx, np.eye(d))):
        raise ValueError("target='relu' requires isotropic covariates (cov_x = I)")
    return sx, np.linalg.cholesky(sx), np.linalg.cholesky(sw)


def _sample_tasks(key, batch, n, d, noise_var, chol_x, chol_w, target, dtype):
    kx, kw, ke, ka = jax.random.split(key, 4)
    X = _random.normal(kx, (batch, n, d), dtype) @ jnp.asarray(chol_x, dtype).T
    noise = jnp.sqrt(jnp.asarray(noise_var, dtype)) * _random.normal(ke, (batch, n), dtype)
    if target == "linear":
        w = _random.normal(kw, (batch, d), dtype) @ jnp.asarray(chol_w, dtype).T
        return X, jnp.einsum("bnd,bd->bn", X, w) + noise, w
    v = _random.normal(kw, (batch, d), dtype)
    v = v / jnp.linalg.norm(v, axis=-1, keepdims=True)
    a = jnp.where(jax.random.bernoulli(ka, 0.5, (batch,)), 1.0, -1.0).astype(dtype)
    return X, a[:, None] * jax.nn.relu(jnp.einsum("bnd,bd->bn", X, v)) + noise, (a, v)


# Jitted for eager calls (one compiled program per shape instead of one per jnp operation; inlined under jit).
_sample_tasks_compiled = jax.jit(_sample_tasks, static_argnames=("batch", "n", "d", "target", "dtype"))


def _host(x, dtype):
    """``jnp.asarray(x, dtype)`` without an eager JAX operation (a compile per shape) for a concrete non-JAX value:
    a NumPy array of ``dtype`` (the same single rounding), which a jitted function takes as it would the JAX one."""
    return jnp.asarray(x, dtype) if isinstance(x, jax.Array) else np.asarray(x, dtype)


def _check_factor(name, chol, d):
    if chol is None:
        return np.eye(d)
    check_square(name, jnp.shape(chol), d)
    if not is_traced(chol) and not np.all(np.isfinite(np.asarray(chol, np.float64))):
        raise ValueError(f"{name} must be finite (a Cholesky factor)")
    return chol


@keyword_only("key", "batch", "num_samples", "dim", "noise_var", "chol_x", "chol_w", "target", "dtype")
def sample_tasks(*, key, batch, num_samples, dim, noise_var, chol_x=None, chol_w=None, target="linear",
                 dtype=jnp.float32):
    r"""Draw ``batch`` prompts: ``(X (batch, num_samples, dim), y (batch, num_samples), task)``.

    ``task`` is ``w (batch, dim)`` for linear targets and ``(a (batch,), v (batch, dim))`` for ReLU targets.

    Args:
        key: PRNG key.
        batch: number of prompts (static).
        num_samples: examples per prompt, :math:`n \ge 1` (static).
        dim: covariate dimension :math:`d \ge 1` (static).
        noise_var: label-noise variance :math:`\sigma^2 \ge 0` (may be traced; a traced negative value gives
            NaN labels).
        chol_x: ``(dim, dim)`` factor :math:`L_x` of the covariate covariance (identity if None; may be traced).
        chol_w: ``(dim, dim)`` factor :math:`L_w` of the weight covariance (identity if None; may be traced).
        target: ``"linear"`` or ``"relu"`` (static).
        dtype: float dtype of the draws.

    Example:
        >>> import jax
        >>> X, y, w = sample_tasks(key=jax.random.key(0), batch=4, num_samples=5, dim=3, noise_var=0.25)
        >>> X.shape, y.shape, w.shape
        ((4, 5, 3), (4, 5), (4, 3))
    """
    key = check_key(key)
    batch = check_int("batch", batch, low=1)
    n, d = check_int("num_samples", num_samples, low=1), check_int("dim", dim, low=1)
    if not is_traced(noise_var):
        noise_var = check_real("noise_var", noise_var, low=0.0)
    check_choice("target", target, TARGETS)
    chol_x, chol_w, dtype = _check_factor("chol_x", chol_x, d), _check_factor("chol_w", chol_w, d), check_dtype(dtype)
    return _sample_tasks_compiled(key, batch, n, d, _host(noise_var, dtype), _host(chol_x, dtype), _host(chol_w, dtype),
                                  target, dtype)


def _conditional_risk(g, task, noise_var, cov_x, target):
    if target == "linear":
        r = g - task
        return jnp.einsum("bi,ij,bj->b", r, cov_x, r) + noise_var
    a, v = task
    return jnp.sum(g * g, -1) - a * jnp.sum(g * v, -1) + 0.5 + noise_var


@keyword_only("noise_var", "cov_x", "target")
def conditional_risk(g, task, *, noise_var, cov_x=None, target="linear"):
    r"""Rao-Blackwellised risk :math:`E[(g^\top x_q - y_q)^2\mid\text{context, task}]`, one value per prompt.

    Linear: :math:`(g-w)^\top\Sigma_x(g-w) + \sigma^2`; ReLU (:math:`\Sigma_x = I`, :math:`\lVert v\rVert = 1`):
    :math:`\lVert g\rVert^2 - a\,g^\top v + 1/2 + \sigma^2`.

    Args:
        g: ``(batch, dim)`` context readouts (:func:`~theory.icl.lsa.context_readout`).
        task: ``w (batch, dim)`` (linear) or ``(a (batch,), v (batch, dim))`` (ReLU), as :func:`sample_tasks`.
        noise_var: :math:`\sigma^2 \ge 0`.
        cov_x: ``(dim, dim)`` covariate covariance (identity if None; linear targets only).
        target: ``"linear"`` or ``"relu"``.

    Returns:
        ``(batch,)`` conditional risks.

    References:
        Derivation in docs/icl.md, "The Rao-Blackwellised risk".
    """
    check_choice("target", target, TARGETS)
    if not is_traced(noise_var):
        noise_var = check_real("noise_var", noise_var, low=0.0)
    g = as_array(g)
    cov_x = None if cov_x is None else as_array(cov_x)
    return _conditional_risk_compiled(g, task, noise_var, cov_x, target)


# Jitted for eager calls (one compiled program per shape instead of one per jnp operation; inlined under jit).
@functools.partial(jax.jit, static_argnames=("target",))
def _conditional_risk_compiled(g, task, noise_var, cov_x, target):
    if cov_x is None:
        cov_x = jnp.eye(g.shape[-1], dtype=g.dtype)
    return _conditional_risk(g, task, noise_var, cov_x, target)


def _adam(lr, lr_final, steps):
    r"""``optax.adam`` (:data:`ADAM`) with ``optax.cosine_decay_schedule``: the learning rate
    :math:`\mathrm{lr}_t = \mathrm{lr}_{final} + \frac12(\mathrm{lr} - \mathrm{lr}_{final})(1 + \cos(\pi t/T))`,
    ``t = 0, ..., T-1`` (``alpha = lr_final / lr``)."""
    import optax

    return optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=lr_final / lr), **ADAM)


def _init_params(key, d, scale, dtype):
    k1, k2 = jax.random.split(key)
    W_KQ = scale * _random.normal(k1, (d + 1, d + 1), dtype)
    W_PV = (scale * _random.normal(k2, (d + 1, d + 1), dtype)).at[d, d].set(1.0)  # c = 1: not the rank-one point
    return W_KQ, W_PV


@functools.partial(jax.jit, static_argnames=("n", "d", "steps", "batch", "target", "dtype"))
def _train(keys, noise_var, chol_x, chol_w, lr, lr_final, init_scale, *, n, d, steps, batch, target, dtype):
    cov_x = (chol_x @ chol_x.T).astype(dtype)

    def loss_fn(p, k, _):
        X, y, task = _sample_tasks(k, batch, n, d, noise_var, chol_x, chol_w, target, dtype)
        Z = make_prompt(X, y, jnp.zeros_like(X[:, 0]))
        g = context_readout(p[0], p[1], Z)
        return jnp.mean(_conditional_risk(g, task, noise_var, cov_x, target))

    def one_seed(key):
        k_init, k_data = jax.random.split(key)
        params = _init_params(k_init, d, init_scale, dtype)
        return train(loss_fn, params, _adam(lr, lr_final, steps), key=k_data, num_steps=steps)

    return map_replicates(one_seed, keys)


def _check_training(d, steps, batch, n_seeds, noise_var, cov_x, cov_w, target, lr, lr_final, init_scale):
    """Validate the shared training arguments; return ``(steps, batch, n_seeds, noise_var, chol_x, chol_w)``."""
    steps, batch = check_int("num_steps", steps, low=1), check_int("batch", batch, low=1)
    n_seeds = check_int("num_replicates", n_seeds, low=1)
    s2 = check_real("noise_var", noise_var, low=0.0)
    check_choice("target", target, TARGETS)
    for name, val in (("lr", lr), ("lr_final", lr_final), ("init_scale", init_scale)):
        check_real(name, val, low=0.0, low_open=True)
    _, lx, lw = _factors(d, cov_x, cov_w, target)
    return steps, batch, n_seeds, s2, lx, lw


@keyword_only("key")
def train_lsa(*, key, num_samples, dim, num_steps, batch, num_replicates=1, noise_var=0.0, cov_x=None, cov_w=None,
              target="linear", lr=1e-2, lr_final=1e-4, init_scale=0.3, dtype=jnp.float32):
    r"""Pre-train the full LSA layer with Adam (cosine-decayed learning rate) on fresh prompts.

    Per step: ``batch`` prompts, loss = mean Rao-Blackwellised conditional risk, one ``optax.adam`` step
    (:math:`\beta = (0.9, 0.999)`, :math:`\epsilon = 10^{-8}` added to :math:`\sqrt{\hat v}`) with the
    learning rate :math:`\mathrm{lr}_{final} + \frac12(\mathrm{lr} - \mathrm{lr}_{final})(1 + \cos(\pi t/T))`.
    Initialisation: entries :math:`N(0, \text{init\_scale}^2)` except :math:`c = W_{PV}[d, d] = 1` (away from
    the rank-one stationary point, docs/icl.md "The rank-one stationary point").

    Args:
        key: PRNG key (``num_replicates`` independent runs are split from it).
        num_samples: context length :math:`n` (static).
        dim: dimension :math:`d` (static).
        num_steps: number of Adam steps :math:`T` (static).
        batch: prompts per step (static).
        num_replicates: number of independent runs (vmapped).
        noise_var: :math:`\sigma^2` (traced).
        cov_x: covariate covariance (identity if None; must be ``I`` for ReLU targets).
        cov_w: weight covariance (identity if None).
        target: ``"linear"`` or ``"relu"``.
        lr: initial learning rate (cosine decay).
        lr_final: final learning rate.
        init_scale: init standard deviation.
        dtype: float dtype of the simulation.

    Returns:
        ``(W_KQ, W_PV, losses)`` with shapes ``(R, d+1, d+1)``, ``(R, d+1, d+1)``, ``(R, num_steps)``
        (``R = num_replicates``).

    References:
        Mahankali, Hashimoto, Ma, ICLR 2024, Sec. 3 (the LSA layer); the protocol of docs/icl.md (Numerics).
    """
    key = check_key(key)
    n, d = check_int("num_samples", num_samples, low=1), check_int("dim", dim, low=1)
    steps, batch, n_seeds, s2, lx, lw = _check_training(d, num_steps, batch, num_replicates, noise_var, cov_x, cov_w,
                                                         target, lr, lr_final, init_scale)
    dtype = check_dtype(dtype)
    keys = shard_replicates(jax.random.split(key, n_seeds))
    (W_KQ, W_PV), losses = _train(keys, _host(s2, dtype), _host(lx, dtype), _host(lw, dtype),
                                  _host(lr, dtype), _host(lr_final, dtype), _host(init_scale, dtype),
                                  n=n, d=d, steps=steps, batch=batch, target=target, dtype=dtype)
    return W_KQ, W_PV, losses


@functools.partial(jax.jit, static_argnames=("n_pad", "d_pad", "steps", "batch", "eval_batches", "dtype"))
def _train_padded(keys, eval_key, n, d, relu, noise_var, chol_x, chol_w, lr, lr_final, init_scale, *, n_pad, d_pad,
                  steps, batch, eval_batches, dtype):
    cov_x = (chol_x @ chol_x.T).astype(dtype)
    rows = (jnp.arange(n_pad) < n).astype(dtype)  # the context is the first n examples
    dims = (jnp.arange(d_pad) < d).astype(dtype)  # the covariates are the first d coordinates

    def sample(k):  # the context moment S = (1/n) sum_j z_j z_j^T and the task of `batch` prompts
        z = _random.normal(k, (batch, n_pad + 1, d_pad + 1), dtype)  # one draw: fewer RNG ops to compile
        X = (z[:, :n_pad, :d_pad] @ chol_x.T) * rows[:, None]
        u, noise = z[:, n_pad, :d_pad], z[:, :n_pad, d_pad]
        w, v = u @ chol_w.T, u * dims
        v = v / jnp.linalg.norm(v, axis=-1, keepdims=True)
        a = jnp.where(z[:, n_pad, d_pad] > 0, 1.0, -1.0).astype(dtype)
        f = jnp.where(relu, a[:, None] * jax.nn.relu(jnp.einsum("bnd,bd->bn", X, v)), jnp.einsum("bnd,bd->bn", X, w))
        y = (f + jnp.sqrt(noise_var) * noise) * rows
        Z = jnp.concatenate([X, y[..., None]], axis=-1)
        # S = Z^T Z / n as a product summed over the examples: one fused reduction, where a batched dot of
        # `batch` tiny (n_pad+1, d_pad+1) matrices is slow on CPU
        return jnp.sum(Z[:, :, :, None] * Z[:, :, None, :], axis=1) / n.astype(dtype), w, a, v

    def risks(p, S, w, a, v):  # Rao-Blackwellised risk per prompt, g = W_KQ[:, :d]^T S W_PV[d, :]^T
        g = jnp.einsum("kd,bkl,l->bd", p[0][:, :d_pad], S, p[1][d_pad]) * dims
        r = g - w
        linear = jnp.einsum("bi,ij,bj->b", r, cov_x, r)
        relu_risk = jnp.sum(g * g, -1) - a * jnp.sum(g * v, -1) + 0.5
        return jnp.where(relu, relu_risk, linear) + noise_var

    def one_seed(key):
        k_init, k_data = jax.random.split(key)
        params = _init_params(k_init, d_pad, init_scale, dtype)
        params, losses = train(lambda q, k, _: jnp.mean(risks(q, *sample(k))), params,
                               _adam(lr, lr_final, steps), key=k_data, num_steps=steps)

        def evaluate(k):
            r = risks(params, *sample(k)).astype(jnp.float32)
            return jnp.stack([jnp.mean(r), jnp.mean(r * r)])

        m1, m2 = jnp.mean(jax.lax.map(evaluate, jax.random.split(eval_key, eval_batches)), axis=0)
        return params, losses, m1, m2

    return map_replicates(one_seed, keys)


@keyword_only("key")
def train_lsa_padded(*, key, num_samples, dim, num_samples_pad, dim_pad, num_steps, batch, num_replicates=1,
                     noise_var=0.0, cov_x=None, cov_w=None, target="linear", lr=1e-2, lr_final=1e-4, init_scale=0.3,
                     eval_batches=16, dtype=jnp.float32):
    r""":func:`train_lsa` at any ``(num_samples, dim, noise_var, covariances, target)`` with one compiled trainer.

    The layer is the :math:`(d_{pad}+1)\times(d_{pad}+1)` one; the covariates live in the first ``dim``
    coordinates (the others are 0, as are the weights there) and the context is the first ``num_samples`` of
    ``num_samples_pad`` examples, so the real :math:`(d+1)\times(d+1)` layer (:func:`unpad_params`) sees the
    prompts of :func:`train_lsa`, while the padded parameters get zero gradient and keep their
    initial values. ``num_samples``, ``dim``, ``noise_var``, the covariances and the target are traced, so one
    compile serves a whole sweep. The readout uses the identity
    :math:`g = \frac1n\sum_j (W_{PV}[d,:] z_j) (W_{KQ}[:, :d]^\top z_j) = W_{KQ}[:, :d]^\top S\,W_{PV}[d,:]^\top`
    with the context moment :math:`S = \frac1n\sum_j z_j z_j^\top` (formed once per prompt, outside the
    gradient); loss, initialisation, Adam and cosine schedule are those of :func:`train_lsa`.

    Args:
        key: PRNG key (``num_replicates`` independent runs and the evaluation prompts are split from it).
        num_samples: context length, ``1 <= num_samples <= num_samples_pad`` (traced).
        dim: dimension, ``1 <= dim <= dim_pad`` (traced).
        num_samples_pad: padded context length (static).
        dim_pad: padded dimension (static).
        num_steps: Adam steps (static).
        batch: prompts per step (static).
        num_replicates: independent runs (vmapped).
        noise_var: :math:`\sigma^2` (traced).
        cov_x: ``(dim, dim)`` covariate covariance (identity if None; must be ``I`` for ReLU targets).
        cov_w: ``(dim, dim)`` weight covariance (identity if None).
        target: ``"linear"`` or ``"relu"`` (traced).
        lr: initial learning rate (cosine decay).
        lr_final: final learning rate.
        init_scale: init standard deviation.
        eval_batches: batches of fresh prompts, common to all replicates, for the final risk.
        dtype: float dtype of the simulation.

    Returns:
        ``(W_KQ, W_PV, losses, risk, risk_se)``: shapes ``(R, dim_pad+1, dim_pad+1)`` (twice),
        ``(R, num_steps)``, ``(R,)`` and ``(R,)`` (``R = num_replicates``). ``risk`` is each trained layer's
        Rao-Blackwellised risk on the same ``eval_batches * batch`` fresh prompts (common random numbers:
        differences between replicates are sharp), ``risk_se`` its Monte-Carlo standard error.

    References:
        Mahankali, Hashimoto, Ma, ICLR 2024, Sec. 3 (the LSA layer); the protocol of docs/icl.md (Numerics).
    """
    key = check_key(key)
    n_pad, d_pad = check_int("num_samples_pad", num_samples_pad, low=1), check_int("dim_pad", dim_pad, low=1)
    n, d = check_int("num_samples", num_samples, low=1, high=n_pad), check_int("dim", dim, low=1, high=d_pad)
    eval_batches = check_int("eval_batches", eval_batches, low=1)
    steps, batch, n_seeds, s2, lx, lw = _check_training(d, num_steps, batch, num_replicates, noise_var, cov_x, cov_w,
                                                         target, lr, lr_final, init_scale)
    dtype = check_dtype(dtype)
    chol = np.zeros((2, d_pad, d_pad))
    chol[0, :d, :d], chol[1, :d, :d] = lx, lw
    k_train, k_eval = jax.random.split(key)
    (W_KQ, W_PV), losses, m1, m2 = _train_padded(
        shard_replicates(jax.random.split(k_train, n_seeds)), k_eval, _host(n, jnp.int32), _host(d, jnp.int32),
        _host(target == "relu", bool), _host(s2, dtype), _host(chol[0], dtype), _host(chol[1], dtype),
        _host(lr, dtype), _host(lr_final, dtype), _host(init_scale, dtype), n_pad=n_pad, d_pad=d_pad, steps=steps,
        batch=batch, eval_batches=eval_batches, dtype=dtype)
    m1, m2 = np.asarray(m1, np.float64), np.asarray(m2, np.float64)
    N = eval_batches * batch
    risk_se = np.sqrt(np.maximum(m2 - m1 * m1, 0.0) / max(N - 1, 1))
    return W_KQ, W_PV, losses, m1, risk_se


@keyword_only("dim")
def unpad_params(W, *, dim):
    """The real ``(dim+1) x (dim+1)`` block (coordinates ``0..dim-1`` and the label row/column) of padded layers
    ``W (..., dim_pad+1, dim_pad+1)`` from :func:`train_lsa_padded`.

    Example:
        >>> import numpy as np
        >>> unpad_params(np.arange(16.0).reshape(4, 4), dim=1).tolist()
        [[0.0, 3.0], [12.0, 15.0]]
    """
    W = np.asarray(W)
    d = check_int("dim", dim, low=1, high=W.shape[-1] - 1)
    idx = np.r_[np.arange(d), W.shape[-1] - 1]
    return W[..., idx[:, None], idx]


@functools.partial(jax.jit, static_argnames=("n", "d", "chunks", "chunk", "target", "dtype"))
def _risk(key, W_KQ, W_PV, ref_gamma, noise_var, chol_x, chol_w, *, n, d, chunks, chunk, target, dtype):
    cov_x = (chol_x @ chol_x.T).astype(dtype)

    def body(acc, k):
        X, y, task = _sample_tasks(k, chunk, n, d, noise_var, chol_x, chol_w, target, dtype)
        Z = make_prompt(X, y, jnp.zeros_like(X[:, 0]))
        v = jnp.einsum("bn,bnd->bd", y, X) / n
        r_ref = _conditional_risk(v @ ref_gamma, task, noise_var, cov_x, target)

        def per_seed(wkq, wpv):
            r = _conditional_risk(context_readout(wkq, wpv, Z), task, noise_var, cov_x, target)
            return jnp.stack([jnp.sum(r), jnp.sum(r * r), jnp.sum(r - r_ref), jnp.sum((r - r_ref) ** 2)])

        part = jax.vmap(per_seed)(W_KQ, W_PV).astype(jnp.float32)
        ref = jnp.stack([jnp.sum(r_ref), jnp.sum(r_ref * r_ref)]).astype(jnp.float32)
        return acc, (part, ref)

    _, (parts, refs) = jax.lax.scan(body, 0, jax.random.split(key, chunks))
    return parts, refs


@keyword_only("key", leading=("key",))
def lsa_risk(W_KQ, W_PV, *, key, num_samples, num_prompts, noise_var=0.0, cov_x=None, cov_w=None, target="linear",
             ref_gamma=None, chunk=8192, dtype=jnp.float32):
    r"""Monte-Carlo pre-training risk of trained layers on fresh prompts (Rao-Blackwellised).

    The same prompts serve every layer and the reference y-linear predictor :math:`v^\top\Gamma_{ref}x_q`
    (common random numbers), so ``diff`` estimates :math:`R(\text{layer}) - R(\Gamma_{ref})` sharply.

    Args:
        W_KQ: ``(R, d+1, d+1)`` stack of key-query matrices.
        W_PV: ``(R, d+1, d+1)`` stack of projection-value matrices.
        key: PRNG key.
        num_samples: context length :math:`n`.
        num_prompts: number of evaluation prompts (rounded up to a multiple of ``chunk``).
        noise_var: :math:`\sigma^2`.
        cov_x: covariate covariance (identity if None).
        cov_w: weight covariance (identity if None).
        target: ``"linear"`` or ``"relu"``.
        ref_gamma: ``(d, d)`` reference effective matrix (zeros if None).
        chunk: prompts per scan step.
        dtype: simulation dtype.

    Returns:
        dict with float64 ``risk``, ``risk_se`` (per layer, ``(R,)``), ``diff``, ``diff_se`` (per layer)
        and ``ref_risk``, ``ref_se`` (scalars), ``num_prompts`` (also under its old name ``n_prompts``).

    References:
        Derivation of the estimator in docs/icl.md, "The Rao-Blackwellised risk".
    """
    key = check_key(key)
    dtype = check_dtype(dtype)
    W_KQ, W_PV = _host(W_KQ, dtype), _host(W_PV, dtype)
    if W_KQ.ndim != 3 or W_KQ.shape != W_PV.shape or W_KQ.shape[1] != W_KQ.shape[2]:
        raise ValueError(f"W_KQ, W_PV must be stacks (R, d+1, d+1) of equal shape, got {W_KQ.shape}, {W_PV.shape}")
    d = W_KQ.shape[1] - 1
    n = check_int("num_samples", num_samples, low=1)
    n_prompts = check_int("num_prompts", num_prompts, low=2)
    s2 = check_real("noise_var", noise_var, low=0.0)
    check_choice("target", target, TARGETS)
    _, lx, lw = _factors(d, cov_x, cov_w, target)
    chunk = min(check_int("chunk", chunk, low=1), n_prompts)
    chunks = -(-n_prompts // chunk)
    ref = np.zeros((d, d)) if ref_gamma is None else np.asarray(ref_gamma, np.float64)
    if ref.shape != (d, d):
        raise ValueError(f"ref_gamma must be ({d}, {d}), got {ref.shape}")
    parts, refs = _risk(key, W_KQ, W_PV, _host(ref, dtype), _host(s2, dtype), _host(lx, dtype),
                        _host(lw, dtype), n=n, d=d, chunks=chunks, chunk=chunk, target=target, dtype=dtype)
    tot = np.asarray(parts, np.float64).sum(axis=0)  # (R, 4)
    rtot = np.asarray(refs, np.float64).sum(axis=0)
    N = chunks * chunk

    def mean_se(s, ss):
        m = s / N
        return m, np.sqrt(np.maximum(ss / N - m * m, 0.0) / (N - 1))

    risk, risk_se = mean_se(tot[:, 0], tot[:, 1])
    diff, diff_se = mean_se(tot[:, 2], tot[:, 3])
    ref_risk, ref_se = mean_se(rtot[0], rtot[1])
    return {"risk": risk, "risk_se": risk_se, "diff": diff, "diff_se": diff_se, "ref_risk": float(ref_risk),
            "ref_se": float(ref_se), "num_prompts": N, "n_prompts": N}


@functools.partial(jax.jit, static_argnames=("n_pad", "d", "batch", "target", "dtype"))
def _coefficients(keys, n, noise_var, chol_x, chol_w, precond, *, n_pad, d, batch, target, dtype):
    cov_x = (chol_x @ chol_x.T).astype(dtype)
    mask = (jnp.arange(n_pad) < n).astype(dtype)  # context length n is traced: the first n of n_pad examples

    def one(k):
        X, y, task = _sample_tasks(k, batch, n_pad, d, noise_var, chol_x, chol_w, target, dtype)
        pv = (jnp.einsum("bn,bnd->bd", y * mask, X) / n) @ precond.T  # P v
        if target == "linear":
            q0 = jnp.einsum("bi,ij,bj->b", task, cov_x, task) + noise_var
            q1, q2 = jnp.einsum("bi,ij,bj->b", pv, cov_x, task), jnp.einsum("bi,ij,bj->b", pv, cov_x, pv)
        else:
            a, v = task
            q0 = jnp.full(a.shape, 0.5 + noise_var, dtype)
            q1, q2 = 0.5 * a * jnp.sum(pv * v, -1), jnp.sum(pv * pv, -1)
        return jnp.stack([jnp.mean(q.astype(jnp.float32)) for q in (q0, q1, q2)])

    return jax.vmap(one)(keys)


@keyword_only("key")
def gd_risk_coefficients(*, key, num_samples, dim, batch, num_replicates, noise_var=0.0, cov_x=None, cov_w=None,
                         target="linear", preconditioner=None, num_samples_pad=None, dtype=jnp.float32):
    r"""Monte-Carlo coefficients of the risk of one GD step :math:`w_1 = \eta P v` as a function of :math:`\eta`.

    The Rao-Blackwellised conditional risk of :math:`w_1` is :math:`q_0 - 2\eta q_1 + \eta^2 q_2` with
    :math:`q_0 = w^\top\Sigma_x w + \sigma^2`, :math:`q_1 = (Pv)^\top\Sigma_x w`,
    :math:`q_2 = (Pv)^\top\Sigma_x(Pv)` (linear targets) or :math:`q_0 = 1/2 + \sigma^2`,
    :math:`q_1 = a(Pv)^\top v_f/2`, :math:`q_2 = \lVert Pv\rVert^2` (ReLU targets). Each replicate
    averages them over ``batch`` fresh prompts, so its empirical risk curve is exactly minimised at
    :math:`\hat\eta = \bar q_1/\bar q_2` with minimum :math:`\bar q_0 - \bar q_1^2/\bar q_2`.

    ``num_samples`` is traced: prompts are drawn with ``num_samples_pad >= num_samples`` examples (default
    ``num_samples``) and the first ``num_samples`` are used, so one compile serves every
    ``num_samples <= num_samples_pad``.

    Args:
        key: PRNG key (one per replicate is split from it).
        num_samples: context length :math:`n \ge 1`.
        dim: dimension :math:`d \ge 1`.
        batch: prompts per replicate.
        num_replicates: independent replicates.
        noise_var: :math:`\sigma^2 \ge 0`.
        cov_x: covariate covariance (identity if None).
        cov_w: weight covariance (identity if None).
        target: ``"linear"`` or ``"relu"``.
        preconditioner: ``(d, d)`` matrix :math:`P` (identity if None).
        num_samples_pad: padded context length (static; ``num_samples`` if None).
        dtype: simulation dtype.

    Returns:
        ``(num_replicates, 3)`` float64 array of :math:`(\bar q_0, \bar q_1, \bar q_2)`.
    """
    key = check_key(key)
    n, d = check_int("num_samples", num_samples, low=1), check_int("dim", dim, low=1)
    batch, replicates = check_int("batch", batch, low=1), check_int("num_replicates", num_replicates, low=1)
    s2 = check_real("noise_var", noise_var, low=0.0)
    check_choice("target", target, TARGETS)
    dtype = check_dtype(dtype)
    _, lx, lw = _factors(d, cov_x, cov_w, target)
    P = np.eye(d) if preconditioner is None else np.asarray(preconditioner, np.float64)
    if P.shape != (d, d):
        raise ValueError(f"preconditioner must be ({d}, {d}), got {P.shape}")
    n_pad = n if num_samples_pad is None else check_int("num_samples_pad", num_samples_pad, low=n)
    keys = shard_replicates(jax.random.split(key, replicates))
    q = _coefficients(keys, _host(n, dtype), _host(s2, dtype), _host(lx, dtype),
                      _host(lw, dtype), _host(P, dtype), n_pad=n_pad, d=d, batch=batch, target=target,
                      dtype=dtype)
    return np.asarray(q, np.float64)


@keyword_only("key")
def gd_step_argmin(*, key, **kwargs):
    r"""Per replicate, the step :math:`\hat\eta = \bar q_1/\bar q_2` minimising the Monte-Carlo risk of one
    GD step (keyword arguments of :func:`gd_risk_coefficients`); returns a ``(num_replicates,)`` float64 array."""
    q = gd_risk_coefficients(key=key, **kwargs)
    return q[:, 1] / q[:, 2]


# ---------------------------------------------------------------------------------------------
# deprecated: the hand-written Adam the trainers used before they moved to optax


def adam_init(params):
    """Deprecated (the trainers use ``optax.adam``): Adam state ``(m, v, t)`` with zero moments."""
    warnings.warn("theory.icl.simulate.adam_init is deprecated; use optax.adam(...).init", DeprecationWarning,
                  stacklevel=2)
    return _adam_zeros(params)


# Jitted for eager calls (one compiled program per shape instead of one per jnp operation).
@jax.jit
def _adam_zeros(params):
    zeros = jax.tree.map(jnp.zeros_like, params)
    return zeros, zeros, jnp.zeros((), jnp.int32)


def adam_update(params, grads, state, lr, b1=0.9, b2=0.999, eps=1e-8):
    r"""Deprecated (the trainers use ``optax.adam``): one bias-corrected Adam step
    :math:`\theta \leftarrow \theta - \mathrm{lr}\,\hat m/(\sqrt{\hat v}+\epsilon)`."""
    warnings.warn("theory.icl.simulate.adam_update is deprecated; use optax.adam(...).update", DeprecationWarning,
                  stacklevel=2)
    return _adam_step(params, grads, state, lr, b1, b2, eps, 1 - b1, 1 - b2)


# Jitted for eager calls (one compiled program per shape instead of one per jnp operation); 1 - b1, 1 - b2 come in.
@jax.jit
def _adam_step(params, grads, state, lr, b1, b2, eps, one_minus_b1, one_minus_b2):
    m, v, t = state
    t = t + 1
    m = jax.tree.map(lambda m_, g: b1 * m_ + one_minus_b1 * g, m, grads)
    v = jax.tree.map(lambda v_, g: b2 * v_ + one_minus_b2 * g * g, v, grads)
    c1 = 1 - b1 ** t.astype(jnp.float32)
    c2 = 1 - b2 ** t.astype(jnp.float32)
    new = jax.tree.map(lambda p, m_, v_: p - lr * (m_ / c1) / (jnp.sqrt(v_ / c2) + eps), params, m, v)
    return new, (m, v, t)
