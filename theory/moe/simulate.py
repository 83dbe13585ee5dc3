r"""Rate experiments for the top-K MoE MLE: the exact-specified, over-specified and wrong-top-K designs.

The designs are described in ``docs/moe.md#designs``.

One call of :func:`run_design` fits every (n, replicate) pair of a sample-size grid with one
compiled program per padded size (``buckets``; one for the whole grid by default): each pair gets its
own dataset drawn at the padded size, and the first n samples are kept by a 0/1 weight mask, so n is
a traced value. Initialisations are the truth (in the fit's atom layout) plus noise of a **fixed**
size, independent of n (the predecessor's n-dependent initialisation noise would imprint a rate on
the estimates, docs/moe.md).

Population quantities, by quadrature in x and y (:func:`population_data`): the KL projection of the
truth on a fitted class (:func:`kl_projection`, the limit of a misspecified MLE) and the asymptotic
standard deviations of the exact-specified MLE (:func:`asymptotic_sd`, inverse Fisher information).

Everything here is NumPy in and out (simulations, quadrature and a SciPy L-BFGS-B fit; see each
docstring); the jitted cores are what the experiments vmap over replicates.

References:
    Nguyen, Akbarian, Yan, Ho, ICLR 2024 (arXiv 2309.13850), Thms 1-4 and Appendix D, as recalled;
    the designs are self-designed CPU-scale reproductions (``docs/moe.md#designs``).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings

import jax
import jax.flatten_util  # noqa: F401
import jax.numpy as jnp
import numpy as np

from theory import _random
from theory._random import numpy_rng
from theory._validation import check_int, check_real, renamed_argument
from theory.moe.fit import fit_batch
from theory.moe.hellinger import _hellinger_at, x_quadrature
from theory.moe.model import (
    MoEParams,
    _log_density,
    _log_gates,
    _required,
    _sample,
    _scores,
    _topk_mask,
    validate_params,
)
from theory.moe.reference import topk_sets_numpy
from theory.moe.voronoi import voronoi_cells, voronoi_loss_exact, voronoi_loss_over

__all__ = ["Design", "TRUTH", "EXACT_DESIGN", "OVER_SPECIFIED_DESIGN", "WRONG_TOP_K_DENSE_DESIGN",
           "WRONG_TOP_K_ONE_DESIGN", "run_design", "slope_ci", "population_data", "kl_projection", "population_kl",
           "asymptotic_sd"]

#: The truth of the designs (k* = 3 experts, dim = 1, top_k = 2, slope ranking; expert 0 is the translation
#: reference).
TRUTH = MoEParams(np.array([0.0, 0.5, -0.5]), np.array([[0.0], [2.0], [4.0]]), np.array([[-3.0], [1.0], [4.0]]),
                  np.array([2.0, -1.0, 0.5]), np.array([0.09, 0.16, 0.25]))


@dataclasses.dataclass(frozen=True, init=False)
class Design:
    """A fitting design: truth, selected counts, the fitted atom layout and the initialisation noise.

    Attributes:
        name: a label.
        truth: the true :class:`MoEParams`.
        top_k: its number of selected experts K.
        layout: for each fitted atom, the true atom it starts from (the fitted num_experts is
            ``len(layout)``).
        top_k_fit: selected experts of the fitted model.
        init_sd: standard deviation of the n-independent initialisation noise.
        ref: the reference expert (a singleton cell), pinned in truth and fit.

    ``K`` and ``K_fit`` are the deprecated names of ``top_k`` and ``top_k_fit`` (constructor keywords and
    attributes).
    """

    name: str
    truth: MoEParams
    top_k: int
    layout: tuple[int, ...]
    top_k_fit: int
    init_sd: float
    ref: int = 0

    def __init__(self, name, truth, top_k=None, layout=None, top_k_fit=None, init_sd=None, ref=0, *, K=None,
                 K_fit=None):
        top_k = _required(renamed_argument("K", "top_k", top_k, K, owner="Design"), "top_k", "Design")
        top_k_fit = _required(renamed_argument("K_fit", "top_k_fit", top_k_fit, K_fit, owner="Design"), "top_k_fit",
                              "Design")
        for field, value in (("layout", layout), ("init_sd", init_sd)):
            _required(value, field, "Design")
        values = dict(name=name, truth=truth, top_k=top_k, layout=tuple(layout), top_k_fit=top_k_fit,
                      init_sd=init_sd, ref=ref)
        for field, value in values.items():
            object.__setattr__(self, field, value)
        self._validate()

    def _validate(self):
        t = validate_params(self.truth, "truth")
        if self.top_k < 2:
            raise ValueError("top_k must be >= 2 for parameter-rate designs: with top_k = 1 the gate is identically 1 "
                             "and exp(beta0), beta1 are not identifiable (docs/moe.md#identifiability)")
        check_int("top_k", self.top_k, low=2, high=t.num_experts)
        if not self.layout or any(not 0 <= j < t.num_experts for j in self.layout):
            raise ValueError(f"layout must list true-atom indices in [0, {t.num_experts - 1}], got {self.layout}")
        check_int("top_k_fit", self.top_k_fit, low=1, high=len(self.layout))
        check_real("init_sd", self.init_sd, low=0.0)
        if t.beta0[self.ref] != 0 or np.any(t.beta1[self.ref] != 0):
            raise ValueError("the truth must be in the gauge of ref (beta0[ref] = 0, beta1[ref] = 0)")
        if t.dim != 1:
            raise ValueError(f"the rate designs use dim = 1 and X ~ U[-1, 1], got dim = {t.dim}")
        grid = np.linspace(-1.0, 1.0, 2001)[:, None]
        # in NumPy: the module's designs are built when it is imported, which must not start JAX's backend
        never = np.flatnonzero(~topk_sets_numpy(t, grid, self.top_k).any(axis=0))
        if never.size:
            raise ValueError(f"true experts {never.tolist()} are never selected on the support [-1, 1] of X "
                             "(their parameters are not identifiable; docs/moe.md#identifiability)")

    @property
    def K(self) -> int:  # noqa: N802 (the deprecated spelling)
        """Deprecated: use :attr:`top_k`."""
        warnings.warn("Design.K is deprecated; use Design.top_k", DeprecationWarning, stacklevel=2)
        return self.top_k

    @property
    def K_fit(self) -> int:  # noqa: N802 (the deprecated spelling)
        """Deprecated: use :attr:`top_k_fit`."""
        warnings.warn("Design.K_fit is deprecated; use Design.top_k_fit", DeprecationWarning, stacklevel=2)
        return self.top_k_fit

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


#: Exact-specified design: fit k = 3 experts with top-2 gating, like the truth.
EXACT_DESIGN = Design("exact-specified (top-2 of 3 experts)", TRUTH, top_k=2, layout=(0, 1, 2), top_k_fit=2,
                      init_sd=0.2)
#: Over-specified design: fit k = 4 atoms, the middle expert split in two, with top-3 gating (K-bar = 3, balanced).
OVER_SPECIFIED_DESIGN = Design("over-specified (top-3 of 4 fitted experts)", TRUTH, top_k=2, layout=(0, 1, 1, 2),
                               top_k_fit=3, init_sd=0.1)
#: Wrong number of selected experts: the 3 experts fitted with dense gating (top-3).
WRONG_TOP_K_DENSE_DESIGN = Design("wrong top-k: top_k_fit = 3 (dense)", TRUTH, top_k=2, layout=(0, 1, 2),
                                  top_k_fit=3, init_sd=0.2)
#: Wrong number of selected experts: the 3 experts fitted with top-1 gating.
WRONG_TOP_K_ONE_DESIGN = Design("wrong top-k: top_k_fit = 1", TRUTH, top_k=2, layout=(0, 1, 2), top_k_fit=1,
                                init_sd=0.2)

_DEPRECATED = {"A_EXACT": "EXACT_DESIGN", "A_OVER": "OVER_SPECIFIED_DESIGN",
               "A_MISSPEC_DENSE": "WRONG_TOP_K_DENSE_DESIGN", "A_MISSPEC_ONE": "WRONG_TOP_K_ONE_DESIGN"}


def __getattr__(name):
    if name in _DEPRECATED:
        warnings.warn(f"theory.moe.simulate.{name} is deprecated; use {_DEPRECATED[name]}", DeprecationWarning,
                      stacklevel=2)
        return globals()[_DEPRECATED[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _init(key, design: Design, B: int, dtype) -> MoEParams:
    c = design.init_center()
    k = design.k_fit
    free = (np.arange(k) != design.ref).astype(np.float64)
    ks = jax.random.split(key, 5)

    def noise(i, shape):
        return design.init_sd * _random.normal(ks[i], (B, *shape), dtype)

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
               n_nodes: int = 16, n_y: int = 801, gap_tol: float = 0.01, buckets=None, chunk_size: int | None = None):
    """Fit ``reps`` fresh datasets at every n of ``ns`` and measure the errors (float64).

    Several designs that share the truth and the fitted atom layout (they may differ in ``top_k_fit``,
    which is traced) are fitted in the same compiled call: pass a sequence of designs and a
    sequence of replicate counts, and get a list of tables back.

    The fit of an n costs as much as the padded size it runs at, so ``buckets`` trades compiles for
    run time: each n is fitted padded to the smallest bucket edge >= n, one compile per edge used.

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
        buckets: padded sizes (None: one, the largest n, so one compile serves the whole grid).
        chunk_size: replicates fitted together by ``vmap`` (the memory budget; the chunks run one after another,
            each split over the local devices, :func:`~theory.moe.fit.fit_batch`). None: the largest divisor
            of a bucket's replicate count up to 16 with at most 16000 padded samples per chunk.

    Returns:
        A dict (a list of dicts for a sequence of designs) of arrays of shape (len(ns), reps):
        ``hellinger``, ``D1``, ``D2`` (with the true top_k), ``b_err`` (max abs error of b over singleton
        cells), ``b_sq`` (sum of squared errors of b over singleton cells), ``split_b``,
        ``split_beta1``, ``split_a``, ``split_v`` (max abs errors inside cells of >= 2 atoms, NaN when
        there is none), ``weight_err`` (abs error of the cell weight sums, max over cells),
        ``cells_ok`` (cell sizes equal the layout's), ``converged``, ``polish_gain`` (mean log-lik per
        sample gained by L-BFGS), ``newton_gap``, ``last_change``, plus ``ns`` and ``params`` (the fitted
        :class:`MoEParams`, each field with leading axes (len(ns), reps)).
    """
    single = isinstance(design, Design)
    designs = [design] if single else list(design)
    counts = [reps] * len(designs) if isinstance(reps, int | np.integer) else list(reps)
    if len(counts) != len(designs):
        raise ValueError(f"reps must be an int or one count per design, got {reps}")
    counts = [check_int("reps", r, low=2) for r in counts]
    first = designs[0]
    for d_ in designs[1:]:
        if d_.layout != first.layout or d_.top_k != first.top_k or d_.ref != first.ref or any(
                np.any(np.asarray(u) != np.asarray(v)) for u, v in zip(d_.truth, first.truth, strict=True)):
            raise ValueError("designs fitted together must share truth, top_k, ref and layout")
    ns = np.asarray([check_int("ns", int(n), low=50) for n in ns])
    edges = [int(ns.max())] if buckets is None else sorted(check_int("buckets", int(e), low=50) for e in buckets)
    if ns.max() > edges[-1]:
        raise ValueError(f"the largest bucket {edges[-1]} is below the largest n {ns.max()}")
    edge_of = np.array([min(e for e in edges if e >= n) for n in ns])
    truth_np = validate_params(first.truth)
    if chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, low=1)
    fit = dict(em_iters=em_iters, polish_iters=polish_iters, newton_iters=newton_iters, gap_tol=gap_tol,
               n_nodes=n_nodes, n_y=n_y, chunk_size=chunk_size)
    parts = {}  # (design index, n index) -> (params, hellinger, FitResult fields) of its replicates
    k_data, k_init = jax.random.split(key)
    for b, edge in enumerate(sorted(set(edge_of.tolist()))):
        idx = np.flatnonzero(edge_of == edge)
        rows = [(i, j) for i in range(len(designs)) for j in idx]
        out = _fit_rows([designs[i] for i, _ in rows], [ns[j] for _, j in rows], [counts[i] for i, _ in rows],
                        edge, jax.random.fold_in(k_data, b), jax.random.fold_in(k_init, b), first, truth_np, **fit)
        parts.update(zip(rows, out, strict=True))
    tables = []
    for i, (d_, r) in enumerate(zip(designs, counts, strict=True)):
        cols = [parts[(i, j)] for j in range(len(ns))]
        P = MoEParams(*(np.concatenate([c[0][f] for c in cols]) for f in range(5)))
        t = _errors(P, truth_np, d_)
        shape = (len(ns), r)
        t = {k: v.reshape(shape) for k, v in t.items()}
        extra = {name: np.concatenate([c[1][name] for c in cols]).reshape(shape)
                 for name in ("hellinger", "converged", "polish_gain", "newton_gap", "last_change")}
        t.update(extra, ns=ns, params=MoEParams(*(v.reshape(shape + v.shape[1:]) for v in P)))
        tables.append(t)
    return tables[0] if single else tables


def _fit_rows(designs, ns, counts, n_pad, k_data, k_init, first, truth_np, *, em_iters, polish_iters, newton_iters,
              gap_tol, n_nodes, n_y, chunk_size):
    """Fit ``counts[r]`` replicates of ``designs[r]`` at ``ns[r]`` for every row r, padded to ``n_pad``."""
    B = sum(counts)
    dt = jnp.float64
    with jax.enable_x64(True):
        truth = MoEParams(*(jnp.asarray(v, dt) for v in truth_np))
        x, y = _draw_jit(jax.random.split(k_data, B), truth, n_pad, first.top_k, dt)
        n_of = np.concatenate([[n] * c for n, c in zip(ns, counts, strict=True)])
        w = _mask(jnp.asarray(n_of, dt), jnp.arange(n_pad, dtype=dt))
        inits = [_init(jax.random.fold_in(k_init, r), d_, c, dt)
                 for r, (d_, c) in enumerate(zip(designs, counts, strict=True))]
        init = jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *inits)
        K_fit = jnp.asarray(np.concatenate([[d_.top_k_fit] * c for d_, c in zip(designs, counts, strict=True)]),
                            jnp.int32)
        # a divisor of B (no separately compiled remainder) with at most 16000 samples per vmapped chunk: larger
        # chunks of the Newton polish's Hessians fall out of cache (about 2x slower at n = 8000)
        chunk = chunk_size or max(c for c in range(1, 17) if B % c == 0 and c * n_pad <= max(16000, n_pad))
        res = fit_batch(x, y, w, init, top_k=K_fit, selection="slope", ref=first.ref, em_iters=em_iters,
                        batch_size=chunk, polish_iters=polish_iters, newton_iters=newton_iters, gap_tol=gap_tol)
        hell = np.asarray(_hell_jit(res.params, truth, K_fit, first.top_k, n_nodes, n_y))
        P = jax.tree_util.tree_map(np.asarray, res.params)
        extra = dict(hellinger=hell, converged=np.asarray(res.converged),
                     polish_gain=np.asarray(res.loglik - res.em_loglik), newton_gap=np.asarray(res.newton_gap),
                     last_change=np.asarray(res.last_change))
    out, lo = [], 0
    for c in counts:
        sl = slice(lo, lo + c)
        out.append((tuple(v[sl] for v in P), {k: v[sl] for k, v in extra.items()}))
        lo += c
    return out


def _errors(P: MoEParams, truth_np: MoEParams, design: Design) -> dict:
    B = P.b.shape[0]
    out = {k: np.full(B, np.nan) for k in ("D1", "D2", "b_err", "b_sq", "split_b", "split_beta1", "split_a",
                                           "split_v", "weight_err")}
    out["cells_ok"] = np.zeros(B, bool)
    lay = np.array(design.layout)
    for i in range(B):
        G = MoEParams(*(v[i] for v in P))
        cells = voronoi_cells(G, truth_np)
        out["cells_ok"][i] = all(len(c) == np.sum(lay == j) for j, c in enumerate(cells))
        out["D1"][i] = voronoi_loss_exact(G, truth_np, top_k=design.top_k)
        out["D2"][i] = voronoi_loss_over(G, truth_np, top_k=design.top_k,
                                         rbar={m: 2 * m for m in range(4, 1 + len(lay))})
        single = [abs(G.b[c[0]] - truth_np.b[j]) for j, c in enumerate(cells) if len(c) == 1]
        out["b_err"][i] = max(single) if single else np.nan
        out["b_sq"][i] = sum(e**2 for e in single) if single else np.nan
        out["weight_err"][i] = max(abs(np.exp(G.beta0[list(c)]).sum() - np.exp(truth_np.beta0[j]))
                                   for j, c in enumerate(cells))
        split = [(a, j) for j, c in enumerate(cells) if len(c) > 1 for a in c]
        if split:
            out["split_b"][i] = max(abs(G.b[a] - truth_np.b[j]) for a, j in split)
            out["split_beta1"][i] = max(np.linalg.norm(G.beta1[a] - truth_np.beta1[j]) for a, j in split)
            out["split_a"][i] = max(np.linalg.norm(G.a[a] - truth_np.a[j]) for a, j in split)
            out["split_v"][i] = max(abs(G.var[a] - truth_np.var[j]) for a, j in split)
    return out


def slope_ci(ns, values, *, key=None, n_boot: int = 1000, level: float = 0.95,
             seed: int | None = None) -> tuple[float, float, float]:
    """OLS slope of log(mean over replicates) on log n, with a bootstrap CI (resampling replicates).

    NumPy-only (a bootstrap).

    Args:
        ns: sample sizes (m,).
        values: (m, R) positive replicate values (NaN entries are dropped per n).
        key: JAX PRNG key of the bootstrap (keyword-only; default ``jax.random.key(0)``, so the interval
            is reproducible).
        n_boot: bootstrap resamples.
        level: CI level.
        seed: deprecated: a NumPy seed of the bootstrap (``np.random.default_rng(seed)``); use ``key``.

    Returns:
        ``(slope, low, high)``.

    Example:
        >>> import numpy as np
        >>> ns = np.array([100, 400, 1600])
        >>> round(slope_ci(ns, np.outer(ns ** -0.5, [0.9, 1.0, 1.1]))[0], 6)
        -0.5
    """
    if seed is not None:
        if key is not None:
            raise TypeError("slope_ci: pass 'key' only ('seed' is its deprecated NumPy spelling)")
        warnings.warn("slope_ci: 'seed' is deprecated; use key=jax.random.key(...)", DeprecationWarning, stacklevel=2)
        rng = np.random.default_rng(seed)
    else:
        rng = numpy_rng(jax.random.key(0) if key is None else key)
    n_boot = check_int("n_boot", n_boot, low=1)
    level = check_real("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    lx = np.log(np.asarray(ns, np.float64))
    rows = [np.asarray(v, np.float64)[np.isfinite(v)] for v in np.asarray(values, np.float64)]

    def fit(means):
        return float(np.polyfit(lx, np.log(means), 1)[0])

    slope = fit([r.mean() for r in rows])
    boots = [fit([r[rng.integers(0, len(r), len(r))].mean() for r in rows]) for _ in range(n_boot)]
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return slope, float(lo), float(hi)


def population_data(truth: MoEParams, *, top_k: int | None = None, n_nodes: int = 16, n_gh: int = 40,
                    K: int | None = None):
    r"""A weighted "sample" whose weighted mean is the population expectation under the truth.

    :math:`\mathbb E f(X, Y) = \sum_{x}\sum_{j \in S(x)}\sum_{t} w_x\,\mathrm{gate}_j(x)\,\omega_t\,
    f(x, \mu_j(x) + \sqrt{v_j}\,\tau_t)`: Gauss-Legendre in x on each half-line of U[-1, 1] (see
    :func:`~theory.moe.hellinger.x_quadrature`) and Gauss-Hermite (probabilists') nodes
    :math:`\tau_t, \omega_t` in y for each selected true expert (top-``top_k`` gating). Fitting it with
    these weights maximises :math:`\mathbb E\log g_G(Y|X)`, i.e. finds the KL projection of the truth on the
    fitted class. NumPy-only (quadrature nodes of data-dependent count). ``K`` is the deprecated name of
    ``top_k``.

    Returns:
        ``(x, y, w)`` float64 NumPy arrays of shapes (m, 1), (m,), (m,), the weights summing to 1.
    """
    top_k = _required(renamed_argument("K", "top_k", top_k, K, owner="population_data"), "top_k", "population_data")
    return _population_data(truth, top_k, n_nodes, n_gh)


def _population_data(truth, top_k, n_nodes, n_gh):
    t = validate_params(truth)
    xq, wq = x_quadrature(n_nodes)
    tau, om = np.polynomial.hermite_e.hermegauss(n_gh)
    om = om / om.sum()
    with jax.enable_x64(True):
        tj = MoEParams(*(jnp.asarray(v) for v in t))
        mask = _topk_mask(_scores(tj, jnp.asarray(xq), "slope"), top_k)
        gate = np.asarray(jnp.exp(_log_gates(tj, jnp.asarray(xq), mask)))
    mu = xq @ t.a.T + t.b  # (m_x, k)
    sel = gate > 0
    xs, ys, ws = [], [], []
    for i, j in zip(*np.nonzero(sel), strict=True):
        xs.append(np.full(n_gh, xq[i, 0]))
        ys.append(mu[i, j] + np.sqrt(t.var[j]) * tau)
        ws.append(wq[i] * gate[i, j] * om)
    return np.concatenate(xs)[:, None], np.concatenate(ys), np.concatenate(ws)


def _gated(th: MoEParams, free):
    """Parameters from the unconstrained ``(beta0, beta1, a, b, log v)`` with the reference's gate pinned."""
    return MoEParams(th.beta0 * free, th.beta1 * free[:, None], th.a, th.b, jnp.exp(th.var))


@functools.partial(jax.jit, static_argnums=(5,))
def _population_nll(th: MoEParams, x, y, w, free, top_k):
    """Value and gradient of -sum_i w_i log g_G(y_i|x_i) in the unconstrained parameters (sets frozen)."""
    def f(th):
        p = _gated(th, free)
        mask = jax.lax.stop_gradient(_topk_mask(_scores(p, x, "slope"), top_k))
        return -jnp.sum(w * _log_density(p, x, y, mask))

    return jax.value_and_grad(f)(th)


def kl_projection(design: Design, *, n_nodes: int = 16, n_gh: int = 40, gtol: float = 1e-10) -> MoEParams:
    r"""The population limit of the MLE of ``design``: :math:`\arg\max_G \mathbb E_{G^*}\log g_G(Y|X)`
    over the fitted class (``design.k_fit`` atoms, top-``design.top_k_fit`` gating), by L-BFGS (SciPy, float64)
    on the quadrature of :func:`population_data`, started at the truth in the fitted layout.

    Under misspecification (a wrong number of selected experts) the MLE converges to this KL projection,
    not to the truth, so :math:`\mathbb E_X h(g_{\hat G_n}, g_{G^*}) \to \mathbb E_X h(g_{G_{KL}}, g_{G^*})
    > 0`. NumPy-only: SciPy's L-BFGS-B drives the fit (the objective and its gradient are jitted).

    References:
        H. White, Maximum likelihood estimation of misspecified models, Econometrica 50 (1982).
    """
    from scipy.optimize import minimize

    x, y, w = _population_data(design.truth, design.top_k, n_nodes, n_gh)
    c = design.init_center()
    free = (np.arange(design.k_fit) != design.ref).astype(np.float64)
    with jax.enable_x64(True):
        th0 = MoEParams(*(jnp.asarray(v) for v in c._replace(var=np.log(c.var))))
        flat0, unravel = jax.flatten_util.ravel_pytree(th0)
        xj, yj, wj, fj = jnp.asarray(x), jnp.asarray(y), jnp.asarray(w), jnp.asarray(free)

        def vg(v):
            value, grad = _population_nll(unravel(jnp.asarray(v)), xj, yj, wj, fj, design.top_k_fit)
            return np.asarray(value, np.float64), np.asarray(jax.flatten_util.ravel_pytree(grad)[0], np.float64)

        res = minimize(vg, np.asarray(flat0), jac=True, method="L-BFGS-B",
                       options={"maxiter": 2000, "gtol": gtol, "ftol": 1e-15})
        return MoEParams(*(np.asarray(v) for v in _gated(unravel(jnp.asarray(res.x)), fj)))


@jax.jit
def _per_sample_scores(th: MoEParams, x, y, mask):
    """Per-sample gradients of log g_G(y|x) in ``(beta0, beta1, a, b, log v)`` (sets given)."""
    def loglik(th, xi, yi, mi):
        p = MoEParams(th.beta0, th.beta1, th.a, th.b, jnp.exp(th.var))
        return _log_density(p, xi[None], yi[None], mi[None])[0]

    return jax.vmap(jax.grad(loglik), in_axes=(None, 0, 0, 0))(th, x, y, mask)


def asymptotic_sd(truth: MoEParams, *, top_k: int | None = None, ref: int = 0, n_nodes: int = 16, n_gh: int = 40,
                  K: int | None = None) -> MoEParams:
    r"""Asymptotic standard deviations of the exact-specified MLE, :math:`\sqrt{\mathrm{diag}\,I(G^*)^{-1}}`.

    :math:`I = \mathbb E[\nabla\ell\,\nabla\ell^\top]` is the Fisher information per sample of the free
    parameters :math:`(\beta_0, \beta_1)` of the non-reference experts and :math:`(a, b, \log v)` of every
    expert, computed by quadrature (:func:`population_data`), so :math:`\sqrt n(\hat\theta_j - \theta^*_j)`
    has standard deviation ``sd_j`` in the limit. The reference expert's gate entries are 0 (pinned).
    ``var`` holds the standard deviation of :math:`\log\hat v`. NumPy-only (quadrature and a matrix
    inverse). ``K`` is the deprecated name of ``top_k``.

    References:
        Classical asymptotic normality of the MLE in a regular model (the exact-specified top-K model
        with dim = 1 and slope ranking: the selected sets do not move with the parameters near G*).
    """
    top_k = _required(renamed_argument("K", "top_k", top_k, K, owner="asymptotic_sd"), "top_k", "asymptotic_sd")
    t = validate_params(truth)
    x, y, w = _population_data(t, top_k, n_nodes, n_gh)
    free = (np.arange(t.num_experts) != ref).astype(np.float64)
    with jax.enable_x64(True):
        xj, yj = jnp.asarray(x), jnp.asarray(y)
        mask = _topk_mask(_scores(MoEParams(*(jnp.asarray(v) for v in t)), xj, "slope"), top_k)
        th0 = MoEParams(jnp.asarray(t.beta0), jnp.asarray(t.beta1), jnp.asarray(t.a), jnp.asarray(t.b),
                        jnp.log(jnp.asarray(t.var)))
        flat, unravel = jax.flatten_util.ravel_pytree(th0)
        keep = np.asarray(jax.flatten_util.ravel_pytree(MoEParams(
            jnp.asarray(free), jnp.asarray(np.broadcast_to(free[:, None], t.beta1.shape)), jnp.ones(t.a.shape),
            jnp.ones(t.b.shape), jnp.ones(t.var.shape)))[0]) > 0
        grads = _per_sample_scores(th0, xj, yj, mask)
        scores = np.concatenate([np.asarray(g).reshape(len(y), -1) for g in grads], axis=1)
    s = scores[:, keep]
    info = (s * w[:, None]).T @ s
    sd = np.zeros(flat.shape[0])
    sd[keep] = np.sqrt(np.diag(np.linalg.inv(info)))
    with jax.enable_x64(True):
        return MoEParams(*(np.asarray(v) for v in unravel(jnp.asarray(sd))))


def population_kl(params: MoEParams, truth: MoEParams, *, top_k: int | None = None, top_k_star: int | None = None,
                  n_nodes: int = 16, n_gh: int = 40, K: int | None = None, K_star: int | None = None) -> np.ndarray:
    r"""Conditional KL divergences :math:`\mathbb E_X\,\mathrm{KL}(g_{G^*}(\cdot|X)\,\|\,g_{G}(\cdot|X))` of a batch
    of fitted measures (leading batch axis, top-``top_k`` gating) from the truth (top-``top_k_star``), by the
    quadrature of :func:`population_data` (float64). NumPy-only (quadrature). ``K`` and ``K_star`` are the
    deprecated names of ``top_k`` and ``top_k_star``.

    The KL projection (:func:`kl_projection`) minimises it over a class, so for the MLE of a misspecified
    class :math:`\mathbb E\,\mathrm{KL}(\hat G_n) = \mathrm{KL}_{\min} + \mathrm{tr}(J^{-1}I)/(2n) + o(1/n)`
    (Takeuchi's expansion), a finite-size curve with an exact 1/n leading term.
    """
    top_k = _required(renamed_argument("K", "top_k", top_k, K, owner="population_kl"), "top_k", "population_kl")
    top_k_star = _required(renamed_argument("K_star", "top_k_star", top_k_star, K_star, owner="population_kl"),
                           "top_k_star", "population_kl")
    t = validate_params(truth)
    x, y, w = _population_data(t, top_k_star, n_nodes, n_gh)
    with jax.enable_x64(True):
        P = MoEParams(*(jnp.asarray(v, jnp.float64) for v in params))
        tj = MoEParams(*(jnp.asarray(v) for v in t))
        return np.asarray(_kl_jit(P, tj, jnp.asarray(x), jnp.asarray(y), jnp.asarray(w), top_k, top_k_star))


def _kl_batch(P, t, x, y, w, K, K_star):
    log_star = _log_density(t, x, y, _topk_mask(_scores(t, x, "slope"), K_star))
    return jax.vmap(lambda p: jnp.sum(w * (log_star - _log_density(p, x, y, _topk_mask(_scores(p, x, "slope"), K)))))(P)


_kl_jit = jax.jit(_kl_batch, static_argnums=(5, 6))
