r"""Rate experiments for the top-K MoE MLE: designs A-EXACT, A-OVER and the wrong-K fits (spec A3.2-A3.4).

One call of :func:`run_design` fits every (n, replicate) pair of a sample-size grid with **one**
compiled program: each pair gets its own dataset drawn at the largest n, and the first n samples
are kept by a 0/1 weight mask, so n is a traced value. Initialisations are the truth (in the fit's
atom layout) plus noise of a **fixed** size, independent of n (the predecessor's n-dependent
initialisation noise would imprint a rate on the estimates, spec A3.3).

References:
    Nguyen, Akbarian, Yan, Ho, ICLR 2024 (arXiv 2309.13850), Thms 1-4 and Appendix D, as recalled;
    the designs are the spec's self-designed CPU-scale reproductions.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import check_int, check_real
from theory.moe.fit import fit_batch
from theory.moe.hellinger import _hellinger_at, x_quadrature
from theory.moe.model import MoEParams, _sample, selection_mask, validate_params
from theory.moe.voronoi import voronoi_cells, voronoi_loss_exact, voronoi_loss_over

__all__ = ["Design", "TRUTH", "A_EXACT", "A_OVER", "A_MISSPEC_DENSE", "A_MISSPEC_ONE", "run_design", "slope_ci"]

#: The spec's truth (k* = 3, d = 1, K = 2, slope ranking; expert 0 is the translation reference).
TRUTH = MoEParams(np.array([0.0, 0.5, -0.5]), np.array([[0.0], [2.0], [4.0]]), np.array([[-3.0], [1.0], [4.0]]),
                  np.array([2.0, -1.0, 0.5]), np.array([0.09, 0.16, 0.25]))


@dataclasses.dataclass(frozen=True)
class Design:
    """A fitting design: truth, selected counts, the fitted atom layout and the initialisation noise.

    Attributes:
        name: a label.
        truth: the true :class:`MoEParams`.
        K: its selected-expert count.
        layout: for each fitted atom, the true atom it starts from (the fitted k is ``len(layout)``).
        K_fit: selected experts of the fitted model.
        init_sd: standard deviation of the n-independent initialisation noise.
        ref: the reference expert (a singleton cell), pinned in truth and fit.
    """

    name: str
    truth: MoEParams
    K: int
    layout: tuple[int, ...]
    K_fit: int
    init_sd: float
    ref: int = 0

    def __post_init__(self):
        t = validate_params(self.truth, "truth")
        if self.K < 2:
            raise ValueError("K must be >= 2 for parameter-rate designs: with K = 1 the gate is identically 1 and "
                             "exp(beta0), beta1 are not identifiable (spec A2.4)")
        check_int("K", self.K, low=2, high=t.k)
        if not self.layout or any(not 0 <= j < t.k for j in self.layout):
            raise ValueError(f"layout must list true-atom indices in [0, {t.k - 1}], got {self.layout}")
        check_int("K_fit", self.K_fit, low=1, high=len(self.layout))
        check_real("init_sd", self.init_sd, low=0.0)
        if t.beta0[self.ref] != 0 or np.any(t.beta1[self.ref] != 0):
            raise ValueError("the truth must be in the gauge of ref (beta0[ref] = 0, beta1[ref] = 0)")
        if t.d != 1:
            raise ValueError(f"the rate designs use d = 1 and X ~ U[-1, 1], got d = {t.d}")
        grid = np.linspace(-1.0, 1.0, 2001)[:, None]
        never = np.flatnonzero(~selection_mask(t, grid, K=self.K).any(axis=0))
        if never.size:
            raise ValueError(f"true experts {never.tolist()} are never selected on the support [-1, 1] of X "
                             "(their parameters are not identifiable; spec A7)")

    @property
    def k_fit(self) -> int:
        """The number of fitted atoms."""
        return len(self.layout)

    def init_center(self) -> MoEParams:
        """The truth in the fitted layout; a split atom's weight is shared equally (beta0 - log m)."""
        t = validate_params(self.truth)
        lay = np.array(self.layout)
        mult = np.array([np.sum(lay == j) for j in lay])
        return MoEParams(t.beta0[lay] - np.log(mult), t.beta1[lay], t.a[lay], t.b[lay], t.var[lay])


A_EXACT = Design("A-EXACT", TRUTH, K=2, layout=(0, 1, 2), K_fit=2, init_sd=0.2)
A_OVER = Design("A-OVER", TRUTH, K=2, layout=(0, 1, 1, 2), K_fit=3, init_sd=0.1)
A_MISSPEC_DENSE = Design("K_fit=3", TRUTH, K=2, layout=(0, 1, 2), K_fit=3, init_sd=0.2)
A_MISSPEC_ONE = Design("K_fit=1", TRUTH, K=2, layout=(0, 1, 2), K_fit=1, init_sd=0.2)


def _init(key, design: Design, B: int, dtype) -> MoEParams:
    c = design.init_center()
    k = design.k_fit
    free = (np.arange(k) != design.ref).astype(np.float64)
    ks = jax.random.split(key, 5)

    def noise(i, shape):
        return design.init_sd * jax.random.normal(ks[i], (B, *shape), dtype)

    return MoEParams(jnp.asarray(c.beta0, dtype) + noise(0, (k,)) * free,
                     jnp.asarray(c.beta1, dtype) + noise(1, (k, 1)) * free[:, None],
                     jnp.asarray(c.a, dtype) + noise(2, (k, 1)), jnp.asarray(c.b, dtype) + noise(3, (k,)),
                     jnp.asarray(c.var, dtype) * jnp.exp(noise(4, (k,))))


def _draw(keys, truth, n_max, K, dtype):
    return jax.vmap(lambda k: _sample(k, truth, n_max, K, "slope", -1.0, 1.0, dtype))(keys)


_draw_jit = jax.jit(_draw, static_argnums=(2, 3, 4))


@jax.jit
def _mask(ns, n_max_arange):
    return (n_max_arange[None, :] < ns[:, None]).astype(n_max_arange.dtype)


def _hell_batch(params, truth, K_fit, K, n_nodes, n_y):
    x, w = x_quadrature(n_nodes)
    xj, wj = jnp.asarray(x, params.b.dtype), jnp.asarray(w, params.b.dtype)
    return jax.vmap(lambda p, kf: jnp.sum(wj * _hellinger_at(p, truth, xj, kf, K, "slope", n_y)))(params, K_fit)


_hell_jit = jax.jit(_hell_batch, static_argnums=(3, 4, 5))


def run_design(design, ns, reps, *, key, em_iters: int = 100, polish_iters: int = 50, newton_iters: int = 10,
               n_nodes: int = 16,
               n_y: int = 801, gap_tol: float = 0.01):
    """Fit ``reps`` fresh datasets at every n of ``ns`` (one compile) and measure the errors (float64).

    Several designs that share the truth and the fitted atom layout (they may differ in ``K_fit``,
    which is traced) are fitted in the same compiled call: pass a sequence of designs and a
    sequence of replicate counts, and get a list of tables back.

    Args:
        design: a :class:`Design`, or a sequence of designs with the same truth, K and layout.
        ns: sample sizes (each >= 50).
        reps: replicates per n (>= 2), or one count per design.
        key: JAX PRNG key (keyword-only).
        em_iters: EM iterations (fixed, so one compile serves the grid).
        polish_iters: L-BFGS iterations.
        newton_iters: saddle-free Newton iterations.
        n_nodes: Gauss-Legendre nodes per half-line of the expected Hellinger distance.
        n_y: trapezoid points in y.
        gap_tol: convergence tolerance in nats (see :mod:`theory.moe.fit`).

    Returns:
        A dict (a list of dicts for a sequence of designs) of arrays of shape (len(ns), reps):
        ``hellinger``, ``D1``, ``D2`` (with the true K), ``b_err`` (max abs error of b over singleton
        cells), ``split_b``, ``split_beta1``, ``split_a``, ``split_v`` (max abs errors inside cells of
        >= 2 atoms, NaN when there is none), ``weight_err`` (abs error of the cell weight sums, max over
        cells), ``cells_ok`` (cell sizes equal the layout's), ``converged``, ``polish_gain`` (mean
        log-lik per sample gained by L-BFGS), ``newton_gap``, ``last_change``, plus ``ns``.
    """
    single = isinstance(design, Design)
    designs = [design] if single else list(design)
    counts = [reps] * len(designs) if isinstance(reps, int | np.integer) else list(reps)
    if len(counts) != len(designs):
        raise ValueError(f"reps must be an int or one count per design, got {reps}")
    counts = [check_int("reps", r, low=2) for r in counts]
    first = designs[0]
    for d_ in designs[1:]:
        if d_.layout != first.layout or d_.K != first.K or d_.ref != first.ref or any(
                np.any(np.asarray(u) != np.asarray(v)) for u, v in zip(d_.truth, first.truth, strict=True)):
            raise ValueError("designs fitted together must share truth, K, ref and layout")
    ns = np.asarray([check_int("ns", int(n), low=50) for n in ns])
    truth_np = validate_params(first.truth)
    n_max = int(ns.max())
    sizes = [len(ns) * r for r in counts]
    B = sum(sizes)
    dt = jnp.float64
    with jax.enable_x64(True):
        truth = MoEParams(*(jnp.asarray(v, dt) for v in truth_np))
        k_data, k_init = jax.random.split(key)
        x, y = _draw_jit(jax.random.split(k_data, B), truth, n_max, first.K, dt)
        n_of = np.concatenate([np.repeat(ns, r) for r in counts])
        w = _mask(jnp.asarray(n_of, dt), jnp.arange(n_max, dtype=dt))
        inits = [_init(jax.random.fold_in(k_init, i), d_, s, dt)
                 for i, (d_, s) in enumerate(zip(designs, sizes, strict=True))]
        init = jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *inits)
        K_fit = jnp.asarray(np.concatenate([[d_.K_fit] * s for d_, s in zip(designs, sizes, strict=True)]), jnp.int32)
        chunk = max(c for c in range(1, 17) if B % c == 0)  # a divisor of B: no separately compiled remainder
        res = fit_batch(x, y, w, init, K=K_fit, selection="slope", ref=first.ref, em_iters=em_iters, batch_size=chunk,
                        polish_iters=polish_iters, newton_iters=newton_iters, gap_tol=gap_tol)
        hell = np.asarray(_hell_jit(res.params, truth, K_fit, first.K, n_nodes, n_y))
        P = jax.tree_util.tree_map(np.asarray, res.params)
    tables = []
    offsets = np.cumsum([0, *sizes])
    for d_, r, lo, hi in zip(designs, counts, offsets[:-1], offsets[1:], strict=True):
        sl = slice(lo, hi)
        t = _errors(MoEParams(*(v[sl] for v in P)), truth_np, d_)
        shape = (len(ns), r)
        t = {k: v.reshape(shape) for k, v in t.items()}
        t.update(hellinger=hell[sl].reshape(shape), converged=np.asarray(res.converged)[sl].reshape(shape),
                 polish_gain=np.asarray(res.loglik - res.em_loglik)[sl].reshape(shape),
                 newton_gap=np.asarray(res.newton_gap)[sl].reshape(shape),
                 last_change=np.asarray(res.last_change)[sl].reshape(shape), ns=ns)
        tables.append(t)
    return tables[0] if single else tables


def _errors(P: MoEParams, truth_np: MoEParams, design: Design) -> dict:
    B = P.b.shape[0]
    out = {k: np.full(B, np.nan) for k in ("D1", "D2", "b_err", "split_b", "split_beta1", "split_a", "split_v",
                                           "weight_err")}
    out["cells_ok"] = np.zeros(B, bool)
    lay = np.array(design.layout)
    for i in range(B):
        G = MoEParams(*(v[i] for v in P))
        cells = voronoi_cells(G, truth_np)
        out["cells_ok"][i] = all(len(c) == np.sum(lay == j) for j, c in enumerate(cells))
        out["D1"][i] = voronoi_loss_exact(G, truth_np, K=design.K)
        out["D2"][i] = voronoi_loss_over(G, truth_np, K=design.K, rbar={m: 2 * m for m in range(4, 1 + len(lay))})
        single = [abs(G.b[c[0]] - truth_np.b[j]) for j, c in enumerate(cells) if len(c) == 1]
        out["b_err"][i] = max(single) if single else np.nan
        out["weight_err"][i] = max(abs(np.exp(G.beta0[list(c)]).sum() - np.exp(truth_np.beta0[j]))
                                   for j, c in enumerate(cells))
        split = [(a, j) for j, c in enumerate(cells) if len(c) > 1 for a in c]
        if split:
            out["split_b"][i] = max(abs(G.b[a] - truth_np.b[j]) for a, j in split)
            out["split_beta1"][i] = max(np.linalg.norm(G.beta1[a] - truth_np.beta1[j]) for a, j in split)
            out["split_a"][i] = max(np.linalg.norm(G.a[a] - truth_np.a[j]) for a, j in split)
            out["split_v"][i] = max(abs(G.var[a] - truth_np.var[j]) for a, j in split)
    return out


def slope_ci(ns, values, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """OLS slope of log(mean over replicates) on log n, with a bootstrap CI (resampling replicates).

    Args:
        ns: sample sizes (m,).
        values: (m, R) positive replicate values (NaN entries are dropped per n).
        n_boot: bootstrap resamples.
        seed: NumPy seed of the bootstrap.
        level: CI level.

    Returns:
        ``(slope, low, high)``.

    Example:
        >>> import numpy as np
        >>> ns = np.array([100, 400, 1600])
        >>> round(slope_ci(ns, np.outer(ns ** -0.5, [0.9, 1.0, 1.1]))[0], 6)
        -0.5
    """
    lx = np.log(np.asarray(ns, np.float64))
    rows = [np.asarray(v, np.float64)[np.isfinite(v)] for v in np.asarray(values, np.float64)]

    def fit(means):
        return float(np.polyfit(lx, np.log(means), 1)[0])

    slope = fit([r.mean() for r in rows])
    rng = np.random.default_rng(seed)
    boots = [fit([r[rng.integers(0, len(r), len(r))].mean() for r in rows]) for _ in range(n_boot)]
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return slope, float(lo), float(hi)
