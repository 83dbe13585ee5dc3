r"""JAX simulators for the comp-sum H-consistency bounds.

Two simulators, both pure functions of an explicit key, jitted, vmapped over replicates and
device-agnostic (float32 by default, any float dtype on request):

* :func:`sample_instances` draws finite-X distributions (weights :math:`\pi`, conditional label
  distributions :math:`P`) and hypotheses (logits :math:`H`): Dirichlet rows with mixed
  concentrations, Gaussian logits at several scales, and exact ties injected, so that the samples reach
  the places where the bound of Theorem 3.1 is attained (docs/compsum.md#random-instances);
  :func:`excess_errors` turns them into the pairs :math:`(\epsilon_\tau, \epsilon_{0-1})`.
* :func:`train_linear` trains linear scores :math:`h(x) = Wx + b` by clipped full-batch gradient
  descent on the exact population comp-sum risk of a misspecified finite-X distribution
  (``lax.scan`` over steps; the runs of every seed, :math:`\tau` and init scale form one batch whose logits
  are one matrix product per step), recording the excess-error pairs along the way.

The conditional risks are those of :mod:`theory.compsum.risks` (the same kernels, traced).

References:
    Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Theorem 3.1; the sampling protocols are described
    in docs/compsum.md#random-instances.
"""

from __future__ import annotations

import functools
import math
import warnings

import jax
import jax.numpy as jnp

from theory import _random
from theory._compat import keyword_only
from theory._random import check_key
from theory._training import shard_replicates
from theory._validation import check_array, check_int, check_real, is_traced
from theory.compsum import _kernels as K
from theory.compsum.losses import _phi_of_w

__all__ = [
    "sample_instances",
    "sample_nested_instances",
    "excess_errors",
    "train_linear",
    "make_linear_problem",
    "make_gaussian_mixture",
]

_ALPHAS = (0.1, 0.5, 1.0, 5.0)
_SIGMAS = (0.01, 0.3, 1.0, 3.0)


def _check_distribution(pi, P, **data) -> None:
    """Concrete inputs of the simulators: non-negative weights and label probabilities, no NaN anywhere;
    logits ``H`` may hold ``-inf`` (a masked class), points ``X`` must be finite. Traced ones pass."""
    if any(is_traced(a) for a in (pi, P, *data.values())):
        return
    check_array("pi", pi, low=0.0)
    check_array("P", P, low=0.0)
    for name, value in data.items():
        check_array(name, value, allow_inf=name == "H")


@keyword_only("tau")
def excess_errors(pi, P, H, *, tau):
    r"""The pointwise-infimum excess errors :math:`(\epsilon_\tau, \epsilon_{0-1})` of ``H``.

    .. math::

        \epsilon_\tau = \sum_i \pi_i\,[C_\tau(h_i, p_i) - C^*_\tau(p_i)], \qquad
        \epsilon_{0-1} = \sum_i \pi_i\,[\max_y p_{iy} - p_{i\hat y(h_i)}].

    For complete symmetric H these equal :math:`R - R^*(H) + M(H)` for the surrogate and the
    zero-one loss, the two sides of the H-consistency bound.

    Args:
        pi: ``[..., m]`` weights of the m inputs.
        P: ``[..., m, n]`` label distributions.
        H: ``[..., m, n]`` logits.
        tau: comp-sum parameter (scalar or broadcastable, traced; keyword-only, positional is deprecated).

    Returns:
        ``(eps_tau, eps_01)`` with the leading shape.
    """
    _check_distribution(pi, P, H=H)
    return _excess_errors(pi, P, H, tau)


@jax.jit
def _excess_errors(pi, P, H, tau):
    tau = jnp.asarray(tau, P.dtype)
    d_tau = K.conditional_risk(H, P, tau[..., None, None], jnp) - K.min_risk_complete(P, tau[..., None], jnp)
    d_01 = K.zero_one_regret(H, P, jnp)
    return jnp.sum(pi * d_tau, axis=-1), jnp.sum(pi * d_01, axis=-1)


@functools.partial(jax.jit, static_argnames=("n_cases", "m_pad", "n_pad", "dtype"))
def _draw(key, n_cases, m_pad, n_pad, dtype):
    """Raw draws at the largest sizes; :func:`_restrict` cuts them down without recompiling the sampler."""
    k_pi, k_alpha, k_p, k_sig, k_h, k_tie, k_pos = jax.random.split(key, 7)
    w = jax.random.exponential(k_pi, (n_cases, m_pad), dtype)  # Dirichlet(1) weights, unnormalised
    alpha = jnp.asarray(_ALPHAS, dtype)[jax.random.randint(k_alpha, (n_cases, m_pad), 0, len(_ALPHAS))]
    g = jax.random.gamma(k_p, alpha[..., None] * jnp.ones(n_pad, dtype), dtype=dtype)
    sigma = jnp.asarray(_SIGMAS, dtype)[jax.random.randint(k_sig, (n_cases, m_pad), 0, len(_SIGMAS))]
    H = sigma[..., None] * _random.normal(k_h, (n_cases, m_pad, n_pad), dtype)
    tie = jax.random.bernoulli(k_tie, 0.1, (n_cases, m_pad))
    u = _random.uniform(k_pos, (n_cases, m_pad), dtype)
    return w, g, H, tie, u


@functools.partial(jax.jit, static_argnames=("m", "n"))
def _restrict(w, g, H, tie, u, m, n):
    """The first m inputs and n classes; sub-vectors of independent gammas renormalised are exactly
    Dirichlet, so the restriction has the stated distribution."""
    pi = w[:, :m] / jnp.sum(w[:, :m], axis=-1, keepdims=True)
    g = g[:, :m, :n]
    total = jnp.sum(g, axis=-1, keepdims=True)
    P = jnp.where(total > 0, g / jnp.where(total > 0, total, 1.0), 1.0 / n)  # all-zero draws at tiny alpha
    H = H[:, :m, :n]
    # On 10% of the rows, copy the max logit to a random coordinate: an exact tie.
    pos = jnp.minimum(jnp.floor(u[:, :m] * n).astype(jnp.int32), n - 1)
    onehot = jax.nn.one_hot(pos, n, dtype=bool)
    H = jnp.where(tie[:, :m, None] & onehot, jnp.max(H, axis=-1, keepdims=True), H)
    return pi, P, H


_KEY_FIRST = dict(leading=("key",), renamed={"n_classes": "num_classes", "n_cases": "num_samples", "m": "num_inputs"})


@keyword_only(**_KEY_FIRST)
def sample_instances(*, key, num_samples, num_inputs=1, num_classes, dtype=jnp.float32):
    r"""Random finite-X distributions and hypotheses ``(pi [c, m], P [c, m, n], H [c, m, n])``.

    Rows of P are Dirichlet(alpha) with alpha drawn from {0.1, 0.5, 1, 5}; logits are
    N(0, sigma^2) with sigma from {0.01, 0.3, 1, 3}; 10% of rows get an exact tie at the max.
    ``num_inputs = 1`` gives single-input (pointwise) instances.

    Args:
        key: JAX PRNG key (keyword-only; the old positional key keeps working and warns).
        num_samples: number of instances ``c >= 1`` (``n_cases`` is its deprecated name).
        num_inputs: inputs ``m`` per instance (the size of the finite input space), ``>= 1`` (``m`` is its
            deprecated name).
        num_classes: ``n >= 2`` (``n_classes`` is its deprecated name).
        dtype: floating dtype of the draws (float32 by default; float64 inside ``jax.enable_x64()``).

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Theorem 3.1; the protocol is described in
        docs/compsum.md#random-instances.
    """
    n = check_int("num_classes", num_classes, low=2)
    return sample_nested_instances(key=key, num_samples=num_samples, num_inputs=num_inputs, num_classes=(n,),
                                   dtype=dtype)[n]


@keyword_only(**_KEY_FIRST)
def sample_nested_instances(*, key, num_samples, num_inputs=1, num_classes, dtype=jnp.float32):
    """:func:`sample_instances` for several class counts at once, from one draw.

    The instances for ``n`` classes use the first ``n`` classes of the draw for ``max(num_classes)``
    (renormalised), so each is exactly distributed as :func:`sample_instances` says, the sampler
    compiles once, and the instances are nested across ``n``. The arguments are those of
    :func:`sample_instances`, with ``num_classes`` a sequence of class counts.

    Returns:
        ``{n: (pi, P, H)}`` for each ``n`` in ``num_classes``.
    """
    key = check_key(key)
    n_cases = check_int("num_samples", num_samples, low=1)
    m = check_int("num_inputs", num_inputs, low=1)
    ns = [check_int("num_classes", n, low=2) for n in num_classes]
    draws = _draw(key, n_cases, m, max(ns), jnp.dtype(dtype))
    return {n: _restrict(*draws, m, n) for n in ns}


def _noise_var(noise_var, noise):
    """``noise_var``, or the square of the deprecated ``noise`` (a standard deviation)."""
    if noise is None:
        return check_real("noise_var", 1.0 if noise_var is None else noise_var, low=0.0, low_open=True)
    if noise_var is not None:
        raise TypeError("make_gaussian_mixture: pass noise_var only (noise, a standard deviation, is deprecated)")
    warnings.warn("make_gaussian_mixture: 'noise' (a standard deviation) is deprecated; pass noise_var=noise**2",
                  DeprecationWarning, stacklevel=4)
    return check_real("noise", noise, low=0.0, low_open=True) ** 2


@keyword_only(leading=("key",), renamed={"m": "num_samples", "n_classes": "num_classes"})
def make_gaussian_mixture(*, key, num_samples=500, num_classes=3, dim=2, scale=1.5, noise_var=None,
                          dtype=jnp.float32, noise=None):
    r"""Synthetic Gaussian-mixture data with its exact class posterior.

    Class means :math:`\mu_k \sim N(0, \text{scale}^2 I)`, labels uniform, :math:`x = \mu_y + \varepsilon`,
    :math:`\varepsilon \sim N(0, \sigma^2 I)` with :math:`\sigma^2` = ``noise_var``. The posterior is linear
    in ``x``: :math:`p(y|x) = \operatorname{softmax}_y((\mu_y \cdot x - \lVert\mu_y\rVert^2/2)/\sigma^2)`.
    The ``num_samples`` sampled points with uniform weights and their exact posteriors form a finite-X
    distribution on which the excess errors are exact.

    Args:
        key: JAX PRNG key (keyword-only; the old positional key keeps working and warns).
        num_samples: number of points (``m`` is its deprecated name).
        num_classes: number of classes (``n_classes`` is its deprecated name).
        dim: input dimension.
        scale: standard deviation of the class means.
        noise_var: variance of the within-class noise (``> 0``, default 1).
        dtype: floating dtype (float32 by default).
        noise: deprecated: the noise *standard deviation* (``noise_var = noise**2``).

    Returns:
        ``(X [m, dim], pi [m], P [m, n], labels [m])``: points, weights ``1/m``, posteriors, sampled labels.
    """
    key = check_key(key)
    m = check_int("num_samples", num_samples, low=1)
    n_classes = check_int("num_classes", num_classes, low=2)
    dim = check_int("dim", dim, low=1)
    scale = check_real("scale", scale, low=0.0)
    noise_var = _noise_var(noise_var, noise)
    return _gaussian_mixture(key, scale, math.sqrt(noise_var), noise_var, m, n_classes, dim, dtype)


# Jitted: one compiled program per shape for eager calls (instead of one per operation); the floats are traced.
@functools.partial(jax.jit, static_argnames=("m", "n_classes", "dim", "dtype"))
def _gaussian_mixture(key, scale, noise, noise_var, m, n_classes, dim, dtype):
    k_mu, k_y, k_x = jax.random.split(key, 3)
    mu = scale * _random.normal(k_mu, (n_classes, dim), dtype)
    labels = jax.random.randint(k_y, (m,), 0, n_classes)
    X = mu[labels] + noise * _random.normal(k_x, (m, dim), dtype)
    P = jax.nn.softmax((X @ mu.T - 0.5 * jnp.sum(mu * mu, axis=-1)) / noise_var, axis=-1)
    return X, jnp.full((m,), 1.0 / m, dtype), P, labels


@keyword_only(leading=("key",), renamed={"m": "num_samples", "n_classes": "num_classes"})
def make_linear_problem(*, key, num_samples=200, num_classes=3, dim=2, wiggle=0.5, dtype=jnp.float32):
    r"""A distribution that linear scores cannot fit: ``num_samples`` points ``x ~ N(0, 1.5^2 I)``, weights
    ``pi ~ Dir(5)`` and ``p(y|x) = softmax(x W_t + b_t + wiggle sin(3 x_1) g)`` (misspecified for linear
    scores, so training never reaches the pointwise optimum: docs/compsum.md#random-instances).

    ``key`` is keyword-only (the old positional key keeps working and warns); ``m`` and ``n_classes`` are
    the deprecated names of ``num_samples`` and ``num_classes``.

    Returns ``(X [m, dim], pi [m], P [m, n])``.
    """
    key = check_key(key)
    m = check_int("num_samples", num_samples, low=1)
    n_classes = check_int("num_classes", num_classes, low=2)
    dim = check_int("dim", dim, low=1)
    wiggle = check_real("wiggle", wiggle, low=0.0)
    return _linear_problem(key, wiggle, m, n_classes, dim, dtype)


# Jitted: one compiled program per shape for eager calls (instead of one per operation); ``wiggle`` is traced.
@functools.partial(jax.jit, static_argnames=("m", "n_classes", "dim", "dtype"))
def _linear_problem(key, wiggle, m, n_classes, dim, dtype):
    kx, kpi, kw, kb, kg = jax.random.split(key, 5)
    X = 1.5 * _random.normal(kx, (m, dim), dtype)
    pi = jax.random.dirichlet(kpi, 5.0 * jnp.ones(m, dtype)).astype(dtype)
    logits = (X @ _random.normal(kw, (dim, n_classes), dtype) + _random.normal(kb, (n_classes,), dtype)
              + wiggle * jnp.sin(3.0 * X[:, :1]) * _random.normal(kg, (n_classes,), dtype))
    return X, pi, jax.nn.softmax(logits, axis=-1)


#: Up to this many classes the trainer keeps one ``[runs, m]`` array per class (the sums over classes are
#: plain additions that fuse with the rest of the step); above it, one array with a class axis.
_UNROLL_CLASSES = 16


def _over_classes(h):
    """``h [runs, n, m]`` as per-class operands: a list of ``[runs, m]`` slices (few classes) or the array."""
    n = h.shape[1]
    return [h[:, k] for k in range(n)] if n <= _UNROLL_CLASSES else h


def _cmap(fn, *xs):
    """``fn`` applied class by class (a list) or to the whole class axis at once (an array)."""
    if isinstance(xs[0], list):
        return [fn(*args) for args in zip(*xs, strict=True)]
    return fn(*xs)


def _csum(xs):
    if isinstance(xs, list):
        return functools.reduce(jnp.add, xs)
    return jnp.sum(xs, axis=1)


def _cmax(xs):
    if isinstance(xs, list):
        return functools.reduce(jnp.maximum, xs)
    return jnp.max(xs, axis=1)


def _cstack(xs):
    return jnp.stack(xs, axis=1) if isinstance(xs, list) else xs


def _expand(x, xs):
    """A per-(run, input) array ``[runs, m]`` against per-class operands."""
    return x if isinstance(xs, list) else x[:, None]


@jax.jit  # one compiled program per shape for eager calls; inlined in :func:`_train`
def _risk_logit_grad(h, q, a):
    r"""Gradient in the logits of :math:`\sum_i \pi_i C_\tau(h_i, p_i)`, one run per row of ``h [runs, n, m]``.

    With :math:`e_k = e^{h_k - \max h}`, :math:`s = \sum_k e_k`, :math:`d_y = \log s + \max h - h_y`,
    :math:`w_y = \max(d_y, 0)` and :math:`\Psi'(w) = e^{(1-\tau) w}`, the derivative of
    :math:`C_\tau = \sum_y p_y \Psi(w_y)` is

    .. math::

        \frac{\partial}{\partial h_k} \sum_i \pi_i C_\tau(h_i, p_i)
            = \frac{U}{s}\, e_k - u_k, \qquad u_y = q_y\,\Psi'(w_y)\,\mu(d_y), \quad U = \sum_y u_y,

    with :math:`q_y = \pi_i p_{iy}` (0 where :math:`p_{iy} = 0`) and :math:`\mu(d) = 1, \tfrac12, 0` for
    :math:`d > 0, = 0, < 0` (the derivative ``jax.grad`` takes for ``max(d, 0)``): the gradient ``jax.grad`` of
    :func:`theory.compsum._kernels.conditional_risk` gives, written out so that no value of the loss is formed.

    Args:
        h: logits ``[runs, n, m]``.
        q: ``[n, m]`` weights :math:`\pi_i p_{iy}`.
        a: ``[runs, 1]`` values of :math:`1 - \tau`.

    Returns:
        ``[runs, n, m]``.
    """
    hs = _over_classes(h)
    qs = [q[k] for k in range(q.shape[0])] if isinstance(hs, list) else q
    top = _cmax(hs)
    top = jnp.where(jnp.isfinite(top), top, 0.0)
    es = _cmap(lambda h_: jnp.exp(h_ - _expand(top, hs)), hs)
    s = _csum(es)
    lse = jnp.log(s) + top
    zero = a == 0

    def u(h_, q_):
        d = _expand(lse, hs) - h_
        a_ = _expand(a, hs)
        dpsi = jnp.where(_expand(zero, hs), 1.0, jnp.exp(a_ * jnp.maximum(d, 0.0)))
        return q_ * dpsi * jnp.where(d > 0, 1.0, jnp.where(d == 0, 0.5, 0.0))

    us = _cmap(u, hs, qs)
    r = _expand(_csum(us) / s, hs)
    return _cstack(_cmap(lambda e, u_: r * e - u_, es, us))


@jax.jit  # one compiled program per shape for eager calls; inlined in :func:`_train`
def _run_errors(h, P, pi, a, c_min):
    """:func:`excess_errors` of the logits ``h [runs, n, m]`` (``a = 1 - tau [runs, 1]``, ``c_min [runs, m]`` the
    minimal conditional risks), with the class sums, the argmax and the pick of :math:`p_{\\hat y}` done on the
    per-class operands (no gather). Same formulas as :func:`theory.compsum._kernels.conditional_risk` and
    :func:`~theory.compsum._kernels.zero_one_regret` (ties go to the highest index)."""
    hs = _over_classes(h)
    ps = [P[:, k] for k in range(P.shape[1])] if isinstance(hs, list) else P.T
    top = _cmax(hs)
    top = jnp.where(jnp.isfinite(top), top, 0.0)
    lse = jnp.log(_csum(_cmap(lambda h_: jnp.exp(h_ - _expand(top, hs)), hs))) + top
    loss = _cmap(lambda h_: _phi_of_w(jnp.maximum(_expand(lse, hs) - h_, 0.0), _expand(a, hs), xp=jnp), hs)
    risk = _csum(_cmap(lambda p_, l_: jnp.where(p_ > 0, p_ * l_, 0.0), ps, loss))
    if isinstance(hs, list):
        best, p_hat = hs[0], jnp.broadcast_to(ps[0], hs[0].shape)
        for h_, p_ in zip(hs[1:], ps[1:], strict=True):
            take = h_ >= best
            best, p_hat = jnp.where(take, h_, best), jnp.where(take, p_, p_hat)
    else:
        p_hat = jnp.take_along_axis(jnp.broadcast_to(ps, h.shape), K.predict_index(jnp.swapaxes(h, 1, 2), jnp)[:, None],
                                    axis=1)[:, 0]
    return jnp.sum(pi * (risk - c_min), axis=-1), jnp.sum(pi * (jnp.max(P, axis=-1) - p_hat), axis=-1)


@functools.partial(jax.jit, static_argnames=("steps", "record_every"))
def _train(keys, taus, init_scales, X, pi, P, P_train, lr, steps, record_every):
    """All ``len(keys) * len(taus) * len(init_scales)`` runs as one batch: the parameters ``[runs, n, dim + 1]``
    (weights and bias, against the points with a constant 1 appended), so the logits of every run are one
    matrix product ``[runs * n, dim + 1] @ [dim + 1, m]`` and the weight gradients another; the runs are
    replicate-major (replicate, tau, scale), so the replicate split over devices is a split of the run axis."""
    m, n = P.shape
    dim = X.shape[1]
    R, T, S = keys.shape[0], taus.shape[0], init_scales.shape[0]
    runs = R * T * S

    def init(key):
        kw, kb = jax.random.split(key)
        return jnp.concatenate([_random.normal(kw, (dim, n), X.dtype),
                                _random.normal(kb, (1, n), X.dtype)]).T  # [n, dim + 1]

    Wb = init_scales[None, None, :, None, None] * jax.vmap(init)(keys)[:, None, None]  # [R, 1, S, n, dim + 1]
    Wb = shard_replicates(jnp.broadcast_to(Wb, (R, T, S, n, dim + 1)).reshape(runs, n, dim + 1))
    tau = jnp.broadcast_to(taus[None, :, None], (R, T, S)).reshape(runs)
    a = (1.0 - tau)[:, None]
    X1 = jnp.concatenate([X, jnp.ones((m, 1), X.dtype)], axis=1)  # [m, dim + 1]
    q = jnp.where(P_train > 0, pi[:, None] * P_train, 0.0).T  # [n, m]
    c_min = K.min_risk_complete(P, tau[:, None], jnp)  # [runs, m], fixed along the run

    def logits(Wb):
        return (Wb.reshape(runs * n, dim + 1) @ X1.T).reshape(runs, n, m)

    def step(Wb, _):
        g = (_risk_logit_grad(logits(Wb), q, a).reshape(runs * n, m) @ X1).reshape(runs, n, dim + 1)
        eta = lr / jnp.maximum(1.0, jnp.sqrt(jnp.sum(g * g, axis=(1, 2))))
        return Wb - eta[:, None, None] * g, None

    def block(Wb, _):
        Wb, _ = jax.lax.scan(step, Wb, None, length=record_every)
        return Wb, _run_errors(logits(Wb), P, pi, a, c_min)

    _, errors = jax.lax.scan(block, Wb, None, length=steps // record_every)  # each [records, runs]
    return tuple(e.T.reshape(R, T, S, -1).transpose(1, 2, 0, 3) for e in errors)


@jax.jit  # one compiled check per shape for eager calls instead of one compile per operation
def _all_nonnegative(x):
    return jnp.all(x >= 0)


@keyword_only(leading=("key",))
def train_linear(X, pi, P, *, key, taus, num_replicates=5, init_scales=(0.3, 3.0), num_steps=1500,
                 record_every=10, lr=0.3, labels=None):
    r"""Train linear scores on the exact population comp-sum risk and record excess-error pairs.

    Full-batch gradient descent with clipped steps ``lr / max(1, ||g||)`` from random inits, one
    run per (tau, init scale, replicate), all in one jitted ``lax.scan`` over the batch of runs (their logits one
    matrix product per step, the gradient in closed form: :func:`_risk_logit_grad`).

    Args:
        X: points ``[m, dim]`` of the finite input space (see :func:`make_linear_problem`).
        pi: their weights ``[m]``.
        P: their label distributions ``[m, n]``.
        key: JAX PRNG key of the initialisations (keyword-only; the old call ``train_linear(key, X, pi, P)``
            keeps working and warns).
        taus: comp-sum parameters to train with (traced: one compile serves them all).
        num_replicates: random initialisations per (tau, scale) (``n_seeds`` is its deprecated name).
        init_scales: standard deviations of the initial weights.
        num_steps: gradient steps (``steps`` is its deprecated name).
        record_every: steps between recorded pairs.
        lr: the clipped step size.
        labels: optional sampled labels ``[m]``: train on the empirical risk of ``(X, labels)``
            instead of the population risk; the recorded pairs are always the population ones.

    Returns:
        ``(eps_tau, eps_01)``, each ``[len(taus), len(init_scales), num_replicates, num_steps // record_every]``.

    References:
        Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288), Theorem 3.1 applied to every iterate.
    """
    key = check_key(key)
    _check_distribution(pi, P, X=X)
    n_seeds = check_int("num_replicates", num_replicates, low=1)
    record_every = check_int("record_every", record_every, low=1)
    steps = check_int("num_steps", num_steps, low=record_every)
    lr = check_real("lr", lr, low=0.0, low_open=True)
    taus = jnp.asarray(taus, X.dtype)
    if taus.ndim != 1 or not bool(_all_nonnegative(taus)):
        raise ValueError("taus must be a 1-D sequence of values >= 0")
    scales = jnp.asarray(init_scales, X.dtype)
    keys = shard_replicates(jax.random.split(key, n_seeds))
    if labels is None:
        P_train = P
    else:
        labels = jnp.asarray(labels)
        if labels.shape != P.shape[:1] or not jnp.issubdtype(labels.dtype, jnp.integer):
            raise ValueError(f"labels must be integers of shape {P.shape[:1]} (one per input), got {labels.shape}")
        P_train = jax.nn.one_hot(labels, P.shape[1], dtype=P.dtype)
    return _train(keys, taus, scales, X, pi, P, P_train, jnp.asarray(lr, X.dtype), steps, record_every)
