r"""Voronoi cells of a fitted mixing measure and the Voronoi losses D1 (exact-) and D2 (over-specified).

For fitted atoms :math:`\theta_i = (\beta_{1i}, a_i, b_i, v_i)` and true atoms :math:`\theta^*_j`, the
cell of true atom j is
:math:`A_j = \{i: \lVert\theta_i-\theta^*_j\rVert \le \lVert\theta_i-\theta^*_\ell\rVert\ \forall \ell\}`
(Euclidean norm on the stacked vector, ties to the lower j). With :math:`\Delta\cdot_{ij}` the atom
differences, the cell terms are

.. math::
    T1_j &= \Big|\sum_{i\in A_j} e^{\beta_{0i}} - e^{\beta^*_{0j}}\Big| + \sum_{i\in A_j} e^{\beta_{0i}}
    (\lVert\Delta\beta_{1ij}\rVert + \lVert\Delta a_{ij}\rVert + |\Delta b_{ij}| + |\Delta v_{ij}|),\\
    T2_j &= \text{the same weight term} + \text{the } T1 \text{ parameter term if } |A_j| = 1, \text{ else }
    \sum_{i\in A_j} e^{\beta_{0i}}(\lVert\Delta\beta_{1ij}\rVert^{\bar r} + \lVert\Delta a_{ij}\rVert^{\bar r/2}
    + |\Delta b_{ij}|^{\bar r} + |\Delta v_{ij}|^{\bar r/2}),\ \bar r = \bar r(|A_j|),

and :math:`D = \max_{|L| = K}\sum_{j\in L} T_j` over subsets of ``top_k`` :math:`= K` true atoms, which
(every term being >= 0) is the sum of the K largest cell terms. Losses are computed in the gauge the
parameters are given in (see :func:`theory.moe.model.gauge`).

The cell terms and the losses work under ``jit``/``vmap``/``grad``: the cells are a piecewise-constant
function of the fitted atoms (an argmin), and the gradient is that of the terms with the cells held
fixed; the norms have the subgradient 0 at a zero difference. Concrete inputs are validated eagerly
and give Python floats / float64 NumPy arrays; traced ones give JAX arrays in the ambient precision,
NaN where an input is invalid (a non-positive variance, ``top_k`` out of range, a cell of m >= 4
atoms without an r-bar(m)).

References:
    Nguyen, Akbarian, Yan, Ho, ICLR 2024 (arXiv 2309.13850), the Voronoi losses D1 (exact-specified)
    and D2 (over-specified) of Sec. 3-4, as recalled; exponents r-bar from Nguyen, Nguyen, Ho,
    NeurIPS 2023 (code ``CRPE-SGaME/discrepancies.py``, ``rbar = [0, 1, 4, 6]``); see
    ``docs/moe.md#voronoi-losses``.
"""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from theory._validation import check_array, check_int, is_traced, nan_unless, renamed_argument
from theory.moe.model import _check_top_k, _required, _traced, _traced_params, validate_params

__all__ = [
    "RBAR",
    "voronoi_cells",
    "cell_terms_exact",
    "cell_terms_over",
    "top_k_sum",
    "voronoi_loss_exact",
    "voronoi_loss_over",
    "required_top_k",
]

#: r-bar(m) for a Voronoi cell of m fitted atoms: r(1) = 1 (unused), r(2) = 4, r(3) = 6.
RBAR = {1: 1, 2: 4, 3: 6}


def _atoms(p):
    return jnp.concatenate([p.beta1, p.a, p.b[:, None], p.var[:, None]], axis=1)


def _norm(v):
    """Euclidean norm over the last axis with the subgradient 0 at 0 (``jnp.linalg.norm`` has a NaN gradient)."""
    s = jnp.sum(v * v, axis=-1)
    pos = s > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, s, 1.0)), 0.0)


def _owner(f, t):
    """The true atom owning each fitted atom (first minimum: ties to the lower j)."""
    dist = jnp.sqrt(jnp.sum((_atoms(f)[:, None, :] - _atoms(t)[None, :, :]) ** 2, axis=-1))  # (k, k*)
    return jnp.argmin(dist, axis=1)


def _cell_terms(f, t, rbar_table, over: bool):
    """(k*,) cell terms T1 (``over=False``) or T2 with r-bar(m) = ``rbar_table[m]`` (NaN where unknown)."""
    k_star = t.beta0.shape[0]
    member = _owner(f, t)[:, None] == jnp.arange(k_star)[None, :]  # (k, k*)
    w = jnp.exp(f.beta0)[:, None]
    weight = jnp.abs(jnp.sum(jnp.where(member, w, 0.0), axis=0) - jnp.exp(t.beta0))
    db1 = _norm(f.beta1[:, None, :] - t.beta1[None, :, :])
    da = _norm(f.a[:, None, :] - t.a[None, :, :])
    db = jnp.abs(f.b[:, None] - t.b[None, :])
    dv = jnp.abs(f.var[:, None] - t.var[None, :])
    per = db1 + da + db + dv  # (k, k*)
    if over:
        size = jnp.sum(member, axis=0)
        r = jnp.where(size > 1, rbar_table[jnp.minimum(size, rbar_table.shape[0] - 1)], 2.0)[None, :]
        powered = db1**r + da ** (r / 2) + db**r + dv ** (r / 2)
        per = jnp.where(size[None, :] > 1, powered, per)
    return weight + jnp.sum(jnp.where(member, w * per, 0.0), axis=0)


def _top_sum(terms, K):
    """Sum of the K largest entries (K may be traced)."""
    ordered = jnp.sort(terms)[::-1]
    return jnp.sum(jnp.where(jnp.arange(terms.shape[0]) < K, ordered, 0.0))


_owner_jit = jax.jit(_owner)


@functools.partial(jax.jit, static_argnames=("over",))
def _terms_jit(f, t, rbar_table, *, over):
    return _cell_terms(f, t, rbar_table, over)


def _rbar_table(rbar, max_size: int) -> np.ndarray:
    """r-bar(m) for m = 0..max_size, NaN where unknown (m = 0, 1 are not used)."""
    table = dict(RBAR)
    if rbar is not None:
        table.update({check_int("rbar key", m, low=1): v for m, v in dict(rbar).items()})
    return np.array([float(table.get(m, np.nan)) if m > 1 else 1.0 for m in range(max_size + 1)])


def _pair(fitted, true):
    """Validated ``(fitted, true, valid, traced)``: NumPy float64 for concrete inputs, JAX for traced ones."""
    if not _traced(fitted, true):
        f, t = validate_params(fitted, "fitted"), validate_params(true, "true")
        valid, traced = True, False
    else:
        (f, ok_f), (t, ok_t) = _traced_params(fitted, "fitted"), _traced_params(true, "true")
        valid, traced = ok_f & ok_t, True
    if f.dim != t.dim:
        raise ValueError(f"fitted and true must have the same covariate dimension dim, got {f.dim} and {t.dim}")
    return f, t, valid, traced


def voronoi_cells(fitted, true) -> tuple[tuple[int, ...], ...]:
    """The Voronoi cells A_j of the fitted atoms around each true atom (ties to the lower j).

    Concrete inputs only (the cells are Python tuples; the losses below handle traced inputs).

    Args:
        fitted: fitted mixing measure (num_experts atoms).
        true: true mixing measure (k* atoms), same dim.

    Returns:
        A tuple of k* tuples of fitted indices (possibly empty).

    Example (the over-specified test measure, middle expert split in two atoms):
        >>> import numpy as np
        >>> true = ([0, .5, -.5], [[0], [2], [4]], [[-3], [1], [4]], [2, -1, .5], [.09, .16, .25])
        >>> fit = ([0, .5 - np.log(2) + .05, .5 - np.log(2) - .02, -.5], [[0], [2.2], [1.9], [4]],
        ...        [[-3], [1.1], [.95], [4]], [2, -.9, -1.05, .5], [.09, .17, .15, .25])
        >>> voronoi_cells(fit, true)
        ((0,), (1, 2), (3,))
    """
    f, t, _, traced = _pair(fitted, true)
    if traced:
        raise TypeError("voronoi_cells needs concrete parameters (it returns Python tuples); under jit use the "
                        "losses or cell terms, which take traced parameters")
    with jax.enable_x64(True):
        owner = np.asarray(_owner_jit(*(jax.tree_util.tree_map(jnp.asarray, p) for p in (f, t))))
    return tuple(tuple(int(i) for i in np.flatnonzero(owner == j)) for j in range(t.num_experts))


def _terms(fitted, true, rbar, over: bool):
    """``(terms, valid, traced)`` of the cell terms (validated; float64 NumPy when concrete)."""
    f, t, valid, traced = _pair(fitted, true)
    table = _rbar_table(rbar, f.num_experts)
    if not traced:
        with jax.enable_x64(True):
            fj, tj = (jax.tree_util.tree_map(jnp.asarray, p) for p in (f, t))
            terms = np.asarray(_terms_jit(fj, tj, jnp.asarray(table), over=over))
        if np.any(np.isnan(terms)):  # only a cell whose r-bar is unknown gives NaN on validated inputs
            m = min(len(c) for c in voronoi_cells(f, t) if len(c) > 1 and np.isnan(table[len(c)]))
            raise ValueError(f"a Voronoi cell has {m} atoms; r-bar({m}) is unknown (only bounds are known for "
                             f"m >= 4): pass rbar={{{m}: value}}")
        return terms, True, False
    return _cell_terms(f, t, jnp.asarray(table, f.b.dtype), over), valid, True


def cell_terms_exact(fitted, true):
    """The exact-specified cell terms T1_j (k*,), every one >= 0 (see the module formula).

    Works under ``jit``/``vmap``/``grad`` (cells held fixed).
    """
    terms, valid, traced = _terms(fitted, true, None, over=False)
    return nan_unless(valid, terms) if traced else terms


def cell_terms_over(fitted, true, *, rbar=None):
    """The over-specified cell terms T2_j (k*,): singleton cells as in T1, larger cells with r-bar powers.

    Works under ``jit``/``vmap``/``grad`` (cells held fixed).

    Args:
        fitted: fitted mixing measure.
        true: true mixing measure.
        rbar: optional ``{m: r}`` overriding/extending :data:`RBAR` (needed for cells of >= 4 atoms).

    Returns:
        (k*,) non-negative cell terms (float64 NumPy for concrete inputs).
    """
    terms, valid, traced = _terms(fitted, true, rbar, over=True)
    return nan_unless(valid, terms) if traced else terms


def top_k_sum(terms, top_k=None, *, K=None):
    """max over ``top_k``-subsets L of sum_{j in L} terms_j, i.e. the sum of the ``top_k`` largest terms (terms >= 0).

    Works under ``jit``/``vmap``/``grad``; a traced negative term or ``top_k`` out of range gives NaN.

    Args:
        terms: (m,) non-negative terms.
        top_k: the subset size, 1 <= top_k <= m.
        K: deprecated name of ``top_k``.

    Example:
        >>> top_k_sum([0.13, 0.3313390349, 0.2313693978], 2)
        0.5627084327
    """
    top_k = _required(renamed_argument("K", "top_k", top_k, K, owner="top_k_sum"), "top_k", "top_k_sum")
    if not (is_traced(terms) or is_traced(top_k)):
        terms = check_array("terms", terms, low=0.0, ndim=1)
        top_k = check_int("top_k", top_k, low=1, high=terms.shape[0])
        return float(np.sort(terms)[::-1][:top_k].sum())
    terms = jnp.asarray(terms)
    if terms.ndim != 1:
        raise ValueError(f"terms must have 1 dimension(s), got shape {terms.shape}")
    K, ok = _check_top_k(top_k, terms.shape[0])
    return nan_unless(ok & jnp.all(terms >= 0), _top_sum(terms, K))


def _check_loss_top_k(top_k, k_star):
    top_k, ok = _check_top_k(top_k, k_star)
    if not is_traced(top_k) and top_k == 1:
        warnings.warn("top_k = 1: the gate is identically 1, so exp(beta0) and the scale of beta1 are not "
                      "identifiable; D1/D2 cannot be bounded by the density distance "
                      "(docs/moe.md#identifiability)", stacklevel=4)
    return top_k, ok


def _loss(fitted, true, top_k, rbar, over: bool):
    terms, valid, traced = _terms(fitted, true, rbar, over=over)
    K, ok = _check_loss_top_k(top_k, terms.shape[0])
    if not traced and not is_traced(K):
        return float(np.sort(terms)[::-1][:K].sum())
    return nan_unless(valid & ok, _top_sum(jnp.asarray(terms), K))


def voronoi_loss_exact(fitted, true, *, top_k: int | None = None, K: int | None = None):
    r"""Exact-specified Voronoi loss :math:`D_1(G, G^*) = \max_{|L|=K}\sum_{j\in L} T1_j`.

    Works under ``jit``/``vmap``/``grad`` (see the module docstring).

    Args:
        fitted: fitted mixing measure (any num_experts; exact-specified means num_experts = k*).
        true: true mixing measure (k* atoms).
        top_k: number of selected experts K of the true model, 1 <= top_k <= k* (top_k = 1 warns:
            unidentifiable).
        K: deprecated name of ``top_k``.

    Returns:
        D1 >= 0 (a float for concrete inputs).

    Example (the exact-specified test measure, three singleton cells):
        >>> true = ([0, .5, -.5], [[0], [2], [4]], [[-3], [1], [4]], [2, -1, .5], [.09, .16, .25])
        >>> fit = ([0, .45, -.4], [[0], [2.1], [3.8]], [[-2.9], [1.05], [4.0]], [2.02, -1, .45], [.1, .15, .25])
        >>> round(voronoi_loss_exact(fit, true, top_k=2), 10)
        0.5627084327

    References:
        Nguyen et al., ICLR 2024 (arXiv 2309.13850), the exact-specified Voronoi loss D1 (Sec. 3), as
        recalled; ``docs/moe.md#voronoi-losses``.
    """
    top_k = _required(renamed_argument("K", "top_k", top_k, K, owner="voronoi_loss_exact"), "top_k",
                      "voronoi_loss_exact")
    return _loss(fitted, true, top_k, None, over=False)


def voronoi_loss_over(fitted, true, *, top_k: int | None = None, rbar=None, K: int | None = None):
    r"""Over-specified Voronoi loss :math:`D_2(G, G^*) = \max_{|L|=K}\sum_{j\in L} T2_j`.

    Works under ``jit``/``vmap``/``grad`` (see the module docstring).

    Args:
        fitted: fitted mixing measure (num_experts >= k* atoms).
        true: true mixing measure (k* atoms).
        top_k: number of selected experts K of the true model, 1 <= top_k <= k*.
        rbar: optional ``{m: r}`` for cells of m >= 4 atoms (default table :data:`RBAR`).
        K: deprecated name of ``top_k``.

    Returns:
        D2 >= 0 (a float for concrete inputs).

    Example (the over-specified test measure, middle expert split in two atoms):
        >>> import numpy as np
        >>> true = ([0, .5, -.5], [[0], [2], [4]], [[-3], [1], [4]], [2, -1, .5], [.09, .16, .25])
        >>> fit = ([0, .5 - np.log(2) + .05, .5 - np.log(2) - .02, -.5], [[0], [2.2], [1.9], [4]],
        ...        [[-3], [1.1], [.95], [4]], [2, -.9, -1.05, .5], [.09, .17, .15, .25])
        >>> round(voronoi_loss_over(fit, true, top_k=2), 10)
        0.0383553828

    References:
        Nguyen et al., ICLR 2024 (arXiv 2309.13850), the over-specified Voronoi loss D2 (Sec. 4), as
        recalled; ``docs/moe.md#voronoi-losses``.
    """
    top_k = _required(renamed_argument("K", "top_k", top_k, K, owner="voronoi_loss_over"), "top_k",
                      "voronoi_loss_over")
    return _loss(fitted, true, top_k, rbar, over=True)


def required_top_k(cells, *, top_k: int) -> int:
    r"""The number of experts the over-specified fit must select: :math:`\bar K = \max_{|L|=K}\sum_{j\in L}|A_j|`.

    Combinatorial (Python integers); not traceable.

    Args:
        cells: the Voronoi cells (a sequence of index sequences, one per true atom).
        top_k: number of selected experts K of the true model.

    Returns:
        K-bar (int). Only balanced designs (every positive-probability region with the same total
        cell size) make the truth representable (``docs/moe.md#balanced-designs``).

    Example:
        >>> required_top_k(((0,), (1, 2), (3,)), top_k=2)
        3
    """
    sizes = [len(c) for c in cells]
    top_k = check_int("top_k", top_k, low=1, high=len(sizes))
    return int(sum(sorted(sizes, reverse=True)[:top_k]))


def required_Kbar(cells, K: int) -> int:  # noqa: N802 (the deprecated spelling)
    """Deprecated: use :func:`required_top_k` (``required_top_k(cells, top_k=K)``)."""
    warnings.warn("required_Kbar is deprecated; use required_top_k(cells, top_k=...)", DeprecationWarning,
                  stacklevel=2)
    return required_top_k(cells, top_k=K)
