r"""Maximum likelihood for the top-K MoE: generalised EM, then an L-BFGS polish (JAX, jit + vmap).

One EM iteration at parameters G, with the selected sets :math:`S_i = S(x_i)` computed from G:

* E-step: :math:`r_{ij} = w_i\,\mathrm{gate}_j(x_i) f(y_i|a_j^\top x_i+b_j, v_j) / g_G(y_i|x_i)` on
  :math:`S_i` (0 elsewhere); :math:`w_i \in \{0, 1\}` masks padded samples, so one compiled
  program serves a whole grid of sample sizes.
* Expert M-step (closed form): weighted least squares of y on (x, 1) with weights :math:`r_{\cdot j}`,
  :math:`v_j = \sum_i r_{ij}(y_i-\hat\mu_{ij})^2/\sum_i r_{ij}` floored at 1e-8; an expert with
  :math:`\sum_i r_{ij} < 10^{-10}` keeps its parameters.
* Gate step: one damped Newton step on the concave
  :math:`Q(\beta) = \sum_i\sum_{j\in S_i} r_{ij}\log\mathrm{gate}_j(x_i;\beta)` with the sets frozen
  and the reference expert pinned at :math:`\beta_0 = 0, \beta_1 = 0` (step halving until Q does
  not decrease).

The polish runs ``optax.lbfgs`` (backtracking line search) on the mean negative log-likelihood in
:math:`(\beta_0, \beta_1, a, b, \log v)` with the sets frozen at the EM result (EM converges
sublinearly on an over-specified model, ``docs/moe.md#the-estimator``), then a few saddle-free Newton
steps (Hessian eigenvalues replaced by their absolute values, floored; step halving): along the
almost flat ridge of a split cell a fixed budget of first-order steps moves the atoms less at large n
(the gradient there is :math:`O(n^{-1/2})`), which would imprint the n-independent initialisation on
the estimates.

A replicate is *converged* when the total log-likelihood changed by at most ``gap_tol`` nats over
the last ``window`` iterations of the polish (small against the O(1)-nat statistical fluctuation of
the maximised log-likelihood), the objective is finite, and recomputing the selected sets at the end
does not change the likelihood. The log-likelihood a Newton step would still gain,
:math:`\tfrac n2 g^\top |H|^{-1} g`, is reported too (``newton_gap``; along the quartic, nearly flat
ridge of a split cell this quadratic model overstates what is left, so it is not the criterion).

NumPy in and out: :func:`fit_mle` and :func:`em_step` validate concrete data eagerly and return NumPy
values; they are not differentiable or traceable (an MLE is an argmax reached by a fixed number of
iterations, the iteration counts fix the compiled program, and the convergence flag is a decision, not
a smooth function). :func:`fit_batch` is the jitted, vmapped core (no validation) that the rate
experiments call.

References:
    Nguyen et al., ICLR 2024 (arXiv 2309.13850), Appendix D (EM with a gradient step for the gate), as
    recalled; predecessor code ``CRPE-SGaME`` of Nguyen, Nguyen, Ho, NeurIPS 2023 (EM with an MM/IRLS
    gate step); ``docs/moe.md#the-estimator``.
"""

from __future__ import annotations

import functools
import warnings
from typing import NamedTuple

import jax
import jax.flatten_util  # noqa: F401
import jax.numpy as jnp
import numpy as np
import optax

from theory import _training
from theory._validation import check_choice, check_int, check_real, renamed_argument
from theory.moe.model import (
    SELECTIONS,
    MoEParams,
    _check_top_k,
    _log_density,
    _log_expert,
    _log_gates,
    _required,
    _scores,
    _topk_mask,
    validate_params,
)

__all__ = ["FitResult", "em_step", "fit_mle", "fit_batch"]

VAR_FLOOR = 1e-8
_STEPS = 0.5 ** np.arange(12)  # step-halving candidates of the Newton polish
_GATE_STEPS = 0.5 ** np.arange(4)  # and of the EM gate step


class FitResult(NamedTuple):
    """Output of :func:`fit_mle` / :func:`fit_batch` (leading batch axis for the latter).

    Attributes:
        params: the fitted :class:`MoEParams` (reference expert pinned at beta0 = beta1 = 0).
        loglik: final mean log-likelihood per sample (sets recomputed at the final parameters).
        em_trace: mean log-likelihood at the start of each EM iteration, (em_iters,).
        polish_trace: mean log-likelihood at each L-BFGS iteration, (polish_iters,).
        em_loglik: mean log-likelihood after EM (before the polish).
        last_change: change of the total log-likelihood (nats) over the last ``window`` iterations of
            the polish (of EM without a polish).
        newton_gap: log-likelihood (total over the sample) a Newton step would still gain at the end of
            the polish, ``0.5 n g' |H|^-1 g`` (absolute Hessian eigenvalues, floored). NaN without a polish.
        converged: the convergence flag (see the module docstring).
    """

    params: MoEParams
    loglik: jax.Array
    em_trace: jax.Array
    polish_trace: jax.Array
    em_loglik: jax.Array
    last_change: jax.Array
    newton_gap: jax.Array
    converged: jax.Array


def _mean_loglik(params, x, y, w, mask):
    return jnp.sum(w * _log_density(params, x, y, mask)) / jnp.sum(w)


def _features(x):
    return jnp.concatenate([jnp.ones((x.shape[0], 1), x.dtype), x], axis=1)


def _gate_matrix(params):
    return jnp.concatenate([params.beta0[:, None], params.beta1], axis=1)  # (k, d+1)


def _gate_Q(Bm, z, r, mask):
    eta = z @ Bm.T
    lse = jax.nn.logsumexp(jnp.where(mask, eta, -jnp.inf), axis=-1, keepdims=True)
    return jnp.sum(jnp.where(mask, r * (eta - lse), 0.0))


#: ``jnp.linalg.solve`` and ``jnp.linalg.eigh`` one matrix per LAPACK call under ``vmap``
#: (:func:`~theory._training.sequential_under_vmap`): jaxlib's batched LAPACK kernels split a batch over XLA's CPU
#: thread pool and wait for the parts, so with several CPU devices every thread can end up waiting (jaxlib 0.10.2: the
#: vmapped fit of 20 over-specified replicates split over 2 CPU devices hung in the batched ``eigh`` of the Newton gap;
#: docs/verify.md, "Several devices"). Each call computes what the batched call computes for its matrix.
_solve = _training.sequential_under_vmap(jnp.linalg.solve)
_eigh = _training.sequential_under_vmap(lambda H: tuple(jnp.linalg.eigh(H)))


def _em_step(params: MoEParams, x, y, w, K, selection: str, ref: int):
    """One generalised EM iteration (jittable). Returns ``(new_params, mean loglik at params)``."""
    k, d = params.beta1.shape
    mask = _topk_mask(_scores(params, x, selection), K)
    log_gate = _log_gates(params, x, mask)
    joint = jnp.where(mask, log_gate + _log_expert(params, x, y), -jnp.inf)
    ll = jax.nn.logsumexp(joint, axis=-1)
    n = jnp.sum(w)
    r = jnp.where(mask, jnp.exp(joint - ll[:, None]), 0.0) * w[:, None]
    loglik = jnp.sum(w * ll) / n
    # expert M-step: weighted least squares of y on z = (1, x)
    z = _features(x)
    rs = jnp.sum(r, axis=0)
    zz = (z[:, :, None] * z[:, None, :]).reshape(-1, (d + 1) ** 2)  # (n, (d+1)^2)
    A = (r.T @ zz).reshape(k, d + 1, d + 1) + 1e-10 * jnp.eye(d + 1, dtype=x.dtype)
    c = r.T @ (z * y[:, None])
    coef = jax.vmap(_solve)(A, c)  # (k, d+1), one expert's system per call
    resid = y[:, None] - z @ coef.T
    var = jnp.maximum(jnp.sum(r * resid**2, axis=0) / jnp.maximum(rs, 1e-30), VAR_FLOOR)
    ok = rs > 1e-10
    b_new = jnp.where(ok, coef[:, 0], params.b)
    a_new = jnp.where(ok[:, None], coef[:, 1:], params.a)
    var_new = jnp.where(ok, var, params.var)
    # gate step: damped Newton on Q with frozen sets, reference pinned
    Bm = _gate_matrix(params)
    pi = jnp.where(mask, jnp.exp(log_gate), 0.0)
    grad = ((r - w[:, None] * pi).T @ z) / n  # (k, d+1)
    W = w[:, None, None] * (pi[:, :, None] * jnp.eye(k, dtype=x.dtype) - pi[:, :, None] * pi[:, None, :])
    H = -(W.reshape(-1, k * k).T @ zz).reshape(k, k, d + 1, d + 1).transpose(0, 2, 1, 3) / n  # (k, d+1, k, d+1)
    free = np.array([j for j in range(k) if j != ref])
    P = len(free) * (d + 1)
    Hf = H[free][:, :, free].reshape(P, P)
    gf = grad[free].reshape(P)
    step = _solve(-Hf + 1e-9 * jnp.eye(P, dtype=x.dtype), gf).reshape(len(free), d + 1)
    direction = jnp.zeros_like(Bm).at[free].set(step)
    q0 = _gate_Q(Bm, z, r, mask)
    qs = jax.vmap(lambda t: _gate_Q(Bm + t * direction, z, r, mask))(jnp.asarray(_GATE_STEPS, x.dtype))
    better = qs >= q0
    t = jnp.where(jnp.any(better), jnp.asarray(_GATE_STEPS, x.dtype)[jnp.argmax(better)], 0.0)
    t = jnp.where(jnp.all(jnp.isfinite(direction)), t, 0.0)
    Bn = Bm + t * jnp.nan_to_num(direction)
    return MoEParams(Bn[:, 0], Bn[:, 1:], a_new, b_new, var_new), loglik


_em_step_jit = jax.jit(_em_step, static_argnums=(4, 5, 6))


def _polish(params: MoEParams, x, y, w, mask, ref: int, iters: int, newton_iters: int):
    """L-BFGS, then saddle-free Newton steps, on the mean NLL with frozen sets.

    Returns ``(params, trace of mean loglik, Newton gap)``.
    """
    k = params.beta0.shape[0]
    free = (jnp.arange(k) != ref).astype(x.dtype)

    def to_params(th):
        return MoEParams(th.beta0 * free, th.beta1 * free[:, None], th.a, th.b, jnp.exp(th.var))

    def f(th):
        return -_mean_loglik(to_params(th), x, y, w, mask)

    th0 = params._replace(var=jnp.log(params.var))
    opt = optax.lbfgs(memory_size=10, linesearch=optax.scale_by_backtracking_linesearch(max_backtracking_steps=20))
    # Each step takes f and its gradient at the current point from one value_and_grad, and the line search
    # evaluates f only (no stored gradient): the stored-gradient variant transposes a linearisation inside a
    # lax.cond of the search loop, which under vmap becomes a select that pays a gradient per trial step, and
    # optax.value_and_grad_from_state hides the recomputation behind another cond. Same iterates up to rounding.
    vg = jax.value_and_grad(f)

    def step(carry, _):
        th, st = carry
        v, g = vg(th)
        upd, st = opt.update(g, st, th, value=v, grad=g, value_fn=f)
        return (optax.apply_updates(th, upd), st), -v

    (th, _), trace = jax.lax.scan(step, (th0, opt.init(th0)), None, length=iters)
    flat, unravel = jax.flatten_util.ravel_pytree(th)
    keep = jax.flatten_util.ravel_pytree(th._replace(
        beta0=free, beta1=jnp.broadcast_to(free[:, None], th.beta1.shape), a=jnp.ones_like(th.a),
        b=jnp.ones_like(th.b), var=jnp.ones_like(th.var)))[0]

    def fv(v):
        return f(unravel(v))

    def derivatives(v):
        return _nll_derivatives(unravel(v), x, y, w, mask, free)

    def newton(v, _):
        direction, _ = _newton_direction(derivatives, v, keep)
        f0 = fv(v)
        fs = jax.vmap(lambda t: fv(v + t * direction))(jnp.asarray(_STEPS, x.dtype))
        better = jnp.isfinite(fs) & (fs <= f0)
        t = jnp.where(jnp.any(better), jnp.asarray(_STEPS, x.dtype)[jnp.argmax(better)], 0.0)
        return v + t * direction, -jnp.minimum(f0, jnp.min(jnp.where(better, fs, f0)))

    flat, trace_n = jax.lax.scan(newton, flat, None, length=newton_iters)
    th = unravel(flat)
    _, gap = _newton_direction(derivatives, flat, keep)
    return to_params(th), jnp.concatenate([trace[1:], trace_n, -fv(flat)[None]]), gap * jnp.sum(w)


def _nll_derivatives(th: MoEParams, x, y, w, mask, free):
    r"""Gradient and Hessian of :math:`f(\theta) = -\sum_i w_i\log g(y_i|x_i)/\sum_i w_i` (sets frozen at ``mask``)
    in the flat coordinates of ``ravel_pytree(th)``, ``th = (beta0, beta1, a, b, log v)``, the gate entries scaled
    by ``free`` (the reference pinned), in closed form.

    With :math:`\eta_{ij} = \beta_{0j} + \beta_{1j}^\top x_i` and :math:`e_{ij} = \log N(y_i; a_j^\top x_i + b_j,
    v_j)`, :math:`\ell_i = \mathrm{LSE}_{S_i}(\eta_i + e_i) - \mathrm{LSE}_{S_i}(\eta_i)`. Each
    :math:`\eta_{ij}, e_{ij}` depends on expert j's block only, so with :math:`p = \mathrm{softmax}_{S}(\eta+e)`
    (the posterior), :math:`\pi = \mathrm{softmax}_S(\eta)` (the gate), :math:`u_{ij} = \nabla(\eta_{ij}+e_{ij})`
    and :math:`c_{ij} = \nabla\eta_{ij}` (vectors of block j):

    .. math::
        \nabla\ell_i = \sum_j p_{ij}u_{ij} - \pi_{ij}c_{ij}, \qquad
        \nabla^2\ell_i = \sum_j p_{ij}(u_{ij}u_{ij}^\top + \nabla^2 e_{ij}) - \bar u_i\bar u_i^\top
        - \sum_j \pi_{ij}c_{ij}c_{ij}^\top + \bar c_i\bar c_i^\top,

    :math:`\bar u_i = \sum_j p_{ij}u_{ij}`, :math:`\bar c_i = \sum_j\pi_{ij}c_{ij}` (the Hessian of a log-sum-exp
    is :math:`\mathrm{diag}(p) - pp^\top`; :math:`\eta` is linear in the gate parameters). With
    :math:`\rho = (y - \mu)/v` and :math:`s = \log v`: :math:`\nabla_{(a,b,s)}e = (\rho x, \rho, (\rho^2 v - 1)/2)`,
    :math:`\nabla^2_{(a,b)}e = -z'z'^\top/v` (:math:`z' = (x, 1)`), :math:`\partial_s\nabla_{(a,b)}e = -\rho z'`,
    :math:`\partial^2_s e = -\rho^2 v/2`. The same numbers as ``jax.grad``/``jax.hessian`` of f up to rounding, at
    a few passes over the data where forward-over-reverse differentiation takes one per coordinate.

    References:
        The Hessian of a finite mixture log-likelihood (log-sum-exp of per-component terms); e.g. G. McLachlan,
        D. Peel, Finite Mixture Models, Wiley 2000, Sec. 2.15 (the observed information).
    """
    k, d = th.beta1.shape
    m = 2 * d + 3  # block of expert j: beta0_j, beta1_j (d), a_j (d), b_j, log v_j
    var = jnp.exp(th.var)
    p = MoEParams(th.beta0 * free, th.beta1 * free[:, None], th.a, th.b, var)
    log_gate = _log_gates(p, x, mask)
    joint = jnp.where(mask, log_gate + _log_expert(p, x, y), -jnp.inf)
    ll = jax.nn.logsumexp(joint, axis=-1, keepdims=True)
    post = jnp.where(mask, jnp.exp(joint - ll), 0.0)  # p_ij
    gate = jnp.where(mask, jnp.exp(log_gate), 0.0)  # pi_ij
    n = x.shape[0]
    rho = (y[:, None] - (x @ th.a.T + th.b)) / var  # (n, k)
    zg = jnp.broadcast_to(jnp.concatenate([jnp.ones((n, 1), x.dtype), x], axis=1)[:, None, :], (n, k, d + 1))
    zg = zg * free[None, :, None]  # d eta_ij / d(beta0_j, beta1_j)
    de = jnp.concatenate([rho[..., None] * x[:, None, :], rho[..., None], (0.5 * (rho**2 * var - 1.0))[..., None]],
                         axis=-1)  # d e_ij / d(a_j, b_j, s_j), (n, k, d + 2)
    u = jnp.concatenate([zg, de], axis=-1)  # (n, k, m)
    c = jnp.concatenate([zg, jnp.zeros_like(de)], axis=-1)
    scale = w / jnp.sum(w)
    wp, wg = scale[:, None] * post, scale[:, None] * gate
    grad = jnp.sum(wp[..., None] * u - wg[..., None] * c, axis=0)  # (k, m), gradient of the mean log-likelihood
    ubar = (post[..., None] * u).reshape(n, k * m)
    cbar = (gate[..., None] * c).reshape(n, k * m)
    cross = (scale[:, None] * ubar).T @ ubar - (scale[:, None] * cbar).T @ cbar  # (k m, k m)
    diag = jnp.einsum("nj,nja,njb->jab", wp, u, u) - jnp.einsum("nj,nja,njb->jab", wg, c, c)  # (k, m, m)
    # second derivatives of e in (a, b, s): -z'z'^T / v, -rho z', -rho^2 v / 2
    ze = jnp.concatenate([x, jnp.ones((n, 1), x.dtype)], axis=1)  # z' = (x, 1)
    wq = wp / var  # w p / v
    h_ab = -jnp.einsum("nj,na,nb->jab", wq, ze, ze)
    h_abs = -jnp.einsum("nj,na->ja", wp * rho, ze)
    h_ss = -0.5 * jnp.sum(wp * rho**2, axis=0) * var
    h_e = jnp.concatenate([jnp.concatenate([h_ab, h_abs[:, :, None]], axis=2),
                           jnp.concatenate([h_abs, h_ss[:, None]], axis=1)[:, None, :]], axis=1)  # (k, d+2, d+2)
    diag = diag.at[:, d + 1:, d + 1:].add(h_e)
    blocks = jnp.zeros((k, m, k, m), x.dtype).at[jnp.arange(k), :, jnp.arange(k), :].set(diag)
    hess = blocks.reshape(k * m, k * m) - cross
    order = _flat_order(k, d)
    return -grad.reshape(k * m)[order], -hess[order][:, order]


def _flat_order(k: int, d: int) -> np.ndarray:
    """For each flat coordinate of ``ravel_pytree(MoEParams)`` (beta0, beta1, a, b, var), its index in the
    expert-block layout of :func:`_nll_derivatives` (block j: beta0_j, beta1_j, a_j, b_j, var_j)."""
    m = 2 * d + 3
    j, c = np.arange(k), np.arange(d)
    return np.concatenate([j * m, (j[:, None] * m + 1 + c).ravel(), (j[:, None] * m + 1 + d + c).ravel(),
                           j * m + 1 + 2 * d, j * m + 2 + 2 * d])


def _newton_direction(derivatives, v, keep):
    """Saddle-free Newton direction -V |L|^-1 V' g on the free coordinates, and the gap 0.5 g'H+^-1 g.

    ``derivatives(v) -> (g, H)``. Eigenvalues are replaced by max(|lambda|, 1e-8 max|lambda|), so a small gap
    certifies approximate stationarity (over-specified likelihoods have nearly flat, even slightly negatively
    curved, ridges).
    """
    g, H = derivatives(v)
    g = g * keep
    H = H * keep[:, None] * keep[None, :] + jnp.diag(1.0 - keep)
    evals, evecs = _eigh(H)
    scale = jnp.max(jnp.abs(evals))
    lam = jnp.maximum(jnp.abs(evals), 1e-8 * scale)
    proj = evecs.T @ g
    direction = -(evecs @ (proj / lam)) * keep
    gap = 0.5 * jnp.sum(proj**2 / lam)
    return jnp.where(jnp.isfinite(direction), direction, 0.0), gap


def _fit(x, y, w, init: MoEParams, K, selection: str, ref: int, em_iters: int, polish_iters: int, newton_iters: int,
         window: int, gap_tol):
    init = init._replace(beta0=init.beta0 - init.beta0[ref], beta1=init.beta1 - init.beta1[ref])
    n = jnp.sum(w)

    def body(p, _):
        return _em_step(p, x, y, w, K, selection, ref)

    p_em, em_trace = jax.lax.scan(body, init, None, length=em_iters)
    mask_em = _topk_mask(_scores(p_em, x, selection), K)
    em_ll = _mean_loglik(p_em, x, y, w, mask_em)
    if polish_iters > 0:
        p_pol, trace, gap = _polish(p_em, x, y, w, mask_em, ref, polish_iters, newton_iters)
        frozen_ll = trace[-1]
        mask_pol = _topk_mask(_scores(p_pol, x, selection), K)
        pol_ll = _mean_loglik(p_pol, x, y, w, mask_pol)
        good = jnp.isfinite(pol_ll) & (pol_ll >= em_ll - 1e-12) & jnp.all(jnp.isfinite(p_pol.var))
        params = jax.tree_util.tree_map(lambda a, b: jnp.where(good, a, b), p_pol, p_em)
        ll = jnp.where(good, pol_ll, em_ll)
        window = min(window, polish_iters + newton_iters - 1)
        change = n * jnp.abs(trace[-1] - trace[-1 - window])
        converged = good & (change <= gap_tol) & (n * jnp.abs(pol_ll - frozen_ll) <= 1e-6)
    else:
        params, ll, trace = p_em, em_ll, jnp.zeros((0,), x.dtype)
        gap = jnp.asarray(jnp.nan, x.dtype)
        window = min(window, em_iters - 1)
        change = n * jnp.abs(em_trace[-1] - em_trace[-1 - window])
        converged = jnp.isfinite(ll) & (change <= gap_tol)
    return FitResult(params, ll, em_trace, trace, em_ll, change, gap, converged)


@functools.partial(jax.jit, static_argnames=("selection", "ref", "em_iters", "polish_iters", "newton_iters", "window",
                                                   "batch_size"))
def _fit_batch(x, y, w, init: MoEParams, K, *, selection, ref, em_iters, polish_iters, newton_iters, window, gap_tol,
               batch_size) -> FitResult:
    K = jnp.broadcast_to(jnp.asarray(K, jnp.int32), x.shape[:1])

    def one(xb, yb, wb, ib, kb):
        return _fit(xb, yb, wb, ib, kb, selection, ref, em_iters, polish_iters, newton_iters, window, gap_tol)

    return _training.map_replicates(one, x, y, w, init, K, chunk_size=batch_size)


def fit_batch(x, y, w, init: MoEParams, *, top_k=None, selection: str = "slope", ref: int = 0, em_iters: int = 200,
              polish_iters: int = 100, newton_iters: int = 10, window: int = 5, gap_tol=0.01,
              batch_size: int | None = 16, K=None) -> FitResult:
    """Jitted fit, vmapped over a leading batch axis in chunks (no validation; see :func:`fit_mle`).

    Args:
        x: (B, N, dim) covariates.
        y: (B, N) responses.
        w: (B, N) sample weights in {0, 1} (padding mask).
        init: :class:`MoEParams` with a leading batch axis B.
        top_k: selected experts, an int or a traced (B,) integer array (one compile serves several
            top_k).
        selection: ranking rule (static).
        ref: reference expert (static).
        em_iters: EM iterations (static).
        polish_iters: L-BFGS iterations (static).
        newton_iters: Newton iterations (static).
        window: convergence window (static).
        gap_tol: convergence tolerance in nats (traced).
        batch_size: replicates fitted together by ``vmap``; the chunks run one after another
            (``lax.map``), which bounds the memory of the Newton Hessians (None: as many as the memory budget allows,
            :func:`theory._training.map_replicates`). Each chunk is
            split over the local devices when its size is a multiple of their number
            (:func:`theory._training.shard_replicates`); the numbers do not depend on the placement.
        K: deprecated name of ``top_k``.

    Returns:
        A :class:`FitResult` with a leading batch axis.
    """
    top_k = _required(renamed_argument("K", "top_k", top_k, K, owner="fit_batch"), "top_k", "fit_batch")
    return _fit_batch(x, y, w, init, top_k, selection=selection, ref=ref, em_iters=em_iters,
                      polish_iters=polish_iters, newton_iters=newton_iters, window=window, gap_tol=gap_tol,
                      batch_size=batch_size)


def em_step(params, x, y, *, top_k: int | None = None, selection: str = "slope", ref: int = 0, K: int | None = None):
    """One generalised EM iteration in float64 (validated; for tests and reference comparisons). NumPy-only.

    Args:
        params: current :class:`MoEParams` (must already have ``beta0[ref] = 0``, ``beta1[ref] = 0``).
        x: covariates (num_samples, dim).
        y: responses (num_samples,).
        top_k: selected experts.
        selection: ranking rule.
        ref: the pinned reference expert.
        K: deprecated name of ``top_k``.

    Returns:
        ``(new_params, mean loglik at params)`` as float64 NumPy.
    """
    top_k = _required(renamed_argument("K", "top_k", top_k, K, owner="em_step"), "top_k", "em_step")
    p = validate_params(params)
    top_k = _check_top_k(top_k, p.num_experts)[0]
    check_choice("selection", selection, SELECTIONS)
    ref = check_int("ref", ref, low=0, high=p.num_experts - 1)
    x, y = _check_data(x, y, p.dim)
    with jax.enable_x64(True):
        pj = MoEParams(*(jnp.asarray(v) for v in p))
        new, ll = _em_step_jit(pj, jnp.asarray(x), jnp.asarray(y), jnp.ones(len(y)), top_k, selection, ref)
        return MoEParams(*(np.asarray(v) for v in new)), float(ll)


def fit_mle(x, y, init, *, top_k: int | None = None, selection: str = "slope", ref: int = 0, em_iters: int = 200,
            polish_iters: int = 100, newton_iters: int = 10, window: int = 5, gap_tol: float = 0.01,
            dtype=jnp.float32, K: int | None = None) -> FitResult:
    r"""MLE of a top-K MoE: ``em_iters`` generalised-EM iterations, then ``polish_iters`` of L-BFGS.

    NumPy in and out (see the module docstring for why it is not traceable); the fit itself runs jitted.

    Args:
        x: covariates (num_samples, dim) (or (num_samples,) when dim = 1).
        y: responses (num_samples,).
        init: initial :class:`MoEParams` (its number of atoms is the fitted num_experts); translated to
            the gauge of ``ref`` first.
        top_k: selected experts of the fitted model.
        selection: ranking rule (``"slope"`` default; ``"affine"`` makes the objective discontinuous in
            beta, so the frozen-set steps are a heuristic).
        ref: the reference expert pinned at beta0 = beta1 = 0.
        em_iters: EM iterations (>= 2).
        polish_iters: L-BFGS iterations (0 disables the polish, Newton steps included).
        newton_iters: saddle-free Newton steps after L-BFGS (finish the flat over-specified ridge).
        window: iterations over which the objective change is measured for the convergence flag.
        gap_tol: convergence tolerance in nats of total log-likelihood: its change over the last
            ``window`` iterations must be below it.
        dtype: computation dtype (float32 by default; use float64 for rate studies).
        K: deprecated name of ``top_k``.

    Returns:
        A :class:`FitResult` (NumPy arrays).

    References:
        Nguyen et al., ICLR 2024 (arXiv 2309.13850), Appendix D (EM), as recalled;
        ``docs/moe.md#the-estimator``.
    """
    top_k = _required(renamed_argument("K", "top_k", top_k, K, owner="fit_mle"), "top_k", "fit_mle")
    p = validate_params(init, "init")
    top_k = _check_top_k(top_k, p.num_experts)[0]
    check_choice("selection", selection, SELECTIONS)
    if selection == "affine":
        warnings.warn("selection='affine' makes the log-likelihood discontinuous in beta0, beta1: the frozen-set "
                      "Newton and L-BFGS steps are a heuristic there (docs/moe.md#the-model)", stacklevel=2)
    ref = check_int("ref", ref, low=0, high=p.num_experts - 1)
    em_iters = check_int("em_iters", em_iters, low=2)
    polish_iters = check_int("polish_iters", polish_iters, low=0)
    if polish_iters == 1:
        raise ValueError("polish_iters must be 0 or >= 2")
    newton_iters = check_int("newton_iters", newton_iters, low=0)
    window = check_int("window", window, low=1)
    gap_tol = check_real("gap_tol", gap_tol, low=0.0)
    x, y = _check_data(x, y, p.dim)
    with jax.enable_x64(jnp.dtype(dtype) == jnp.float64):
        cast = functools.partial(jnp.asarray, dtype=dtype)
        init_b = MoEParams(*(cast(v)[None] for v in p))
        res = _fit_batch(cast(x)[None], cast(y)[None], jnp.ones((1, y.shape[0]), dtype), init_b, top_k,
                         selection=selection, ref=ref, em_iters=em_iters, polish_iters=polish_iters,
                         newton_iters=newton_iters, window=window, gap_tol=gap_tol, batch_size=16)
        return jax.tree_util.tree_map(lambda v: np.asarray(v[0]), res)


def _check_data(x, y, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Concrete float64 ``(x (num_samples, dim), y (num_samples,))``, finite."""
    x = np.asarray(x, np.float64)
    x = x[:, None] if x.ndim == 1 else x
    y = np.asarray(y, np.float64).reshape(-1)
    if x.ndim != 2 or x.shape != (y.shape[0], d):
        raise ValueError(f"x must have shape (num_samples, {d}) matching y of length {y.shape[0]}, got {x.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite (no NaN or inf)")
    return x, y
