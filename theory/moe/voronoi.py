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

and :math:`D = \max_{|L| = K}\sum_{j\in L} T_j`, which (every term being >= 0) is the sum of the K
largest cell terms. Losses are computed in the gauge the parameters are given in (see
:func:`theory.moe.model.gauge`).

References:
    Nguyen, Akbarian, Yan, Ho, ICLR 2024 (arXiv 2309.13850), Voronoi losses D1 (exact-specified) and
    D2 (over-specified), as recalled; exponents r-bar from Nguyen et al. NeurIPS 2023 (code
    ``discrepancies.py``, ``rbar = [0, 1, 4, 6]``). Spec A2.5-A2.6.
"""

from __future__ import annotations

import warnings

import numpy as np

from theory._validation import check_int
from theory.moe.model import validate_params

__all__ = [
    "RBAR",
    "voronoi_cells",
    "cell_terms_exact",
    "cell_terms_over",
    "top_k_sum",
    "voronoi_loss_exact",
    "voronoi_loss_over",
    "required_Kbar",
]

#: r-bar(m) for a Voronoi cell of m fitted atoms: r(1) = 1 (unused), r(2) = 4, r(3) = 6.
RBAR = {1: 1, 2: 4, 3: 6}


def _atoms(p) -> np.ndarray:
    return np.concatenate([p.beta1, p.a, p.b[:, None], p.var[:, None]], axis=1)


def _pair(fitted, true):
    f = validate_params(fitted, "fitted")
    t = validate_params(true, "true")
    if f.d != t.d:
        raise ValueError(f"fitted and true must have the same covariate dimension d, got {f.d} and {t.d}")
    return f, t


def voronoi_cells(fitted, true) -> tuple[tuple[int, ...], ...]:
    """The Voronoi cells A_j of the fitted atoms around each true atom (ties to the lower j).

    Args:
        fitted: fitted mixing measure (k atoms).
        true: true mixing measure (k* atoms), same d.

    Returns:
        A tuple of k* tuples of fitted indices (possibly empty).

    Example (spec TV-A5):
        >>> import numpy as np
        >>> true = ([0, .5, -.5], [[0], [2], [4]], [[-3], [1], [4]], [2, -1, .5], [.09, .16, .25])
        >>> fit = ([0, .5 - np.log(2) + .05, .5 - np.log(2) - .02, -.5], [[0], [2.2], [1.9], [4]],
        ...        [[-3], [1.1], [.95], [4]], [2, -.9, -1.05, .5], [.09, .17, .15, .25])
        >>> voronoi_cells(fit, true)
        ((0,), (1, 2), (3,))
    """
    f, t = _pair(fitted, true)
    dist = np.linalg.norm(_atoms(f)[:, None, :] - _atoms(t)[None, :, :], axis=-1)  # (k, k*)
    owner = np.argmin(dist, axis=1)  # first minimum: ties to the lower j
    return tuple(tuple(int(i) for i in np.flatnonzero(owner == j)) for j in range(t.k))


def _deltas(f, t, i, j):
    return (np.linalg.norm(f.beta1[i] - t.beta1[j]), np.linalg.norm(f.a[i] - t.a[j]),
            abs(f.b[i] - t.b[j]), abs(f.var[i] - t.var[j]))


def cell_terms_exact(fitted, true) -> np.ndarray:
    """The exact-specified cell terms T1_j (k*,), every one >= 0 (see the module formula)."""
    f, t = _pair(fitted, true)
    terms = np.zeros(t.k)
    for j, cell in enumerate(voronoi_cells(f, t)):
        w = np.exp(f.beta0[list(cell)]) if cell else np.zeros(0)
        terms[j] = abs(w.sum() - np.exp(t.beta0[j])) + sum(
            wi * sum(_deltas(f, t, i, j)) for wi, i in zip(w, cell, strict=True))
    return terms


def _rbar(m: int, rbar) -> float:
    table = dict(RBAR)
    if rbar is not None:
        table.update(rbar)
    if m not in table:
        raise ValueError(f"a Voronoi cell has {m} atoms; r-bar({m}) is unknown (only bounds are known for m >= 4): "
                         f"pass rbar={{{m}: value}}")
    return float(table[m])


def cell_terms_over(fitted, true, *, rbar=None) -> np.ndarray:
    """The over-specified cell terms T2_j (k*,): singleton cells as in T1, larger cells with r-bar powers.

    Args:
        fitted: fitted mixing measure.
        true: true mixing measure.
        rbar: optional ``{m: r}`` overriding/extending :data:`RBAR` (needed for cells of >= 4 atoms).

    Returns:
        (k*,) float64 non-negative cell terms.
    """
    f, t = _pair(fitted, true)
    terms = np.zeros(t.k)
    for j, cell in enumerate(voronoi_cells(f, t)):
        w = np.exp(f.beta0[list(cell)]) if cell else np.zeros(0)
        terms[j] = abs(w.sum() - np.exp(t.beta0[j]))
        if len(cell) == 1:
            terms[j] += w[0] * sum(_deltas(f, t, cell[0], j))
        elif len(cell) > 1:
            r = _rbar(len(cell), rbar)
            for wi, i in zip(w, cell, strict=True):
                db1, da, db, dv = _deltas(f, t, i, j)
                terms[j] += wi * (db1**r + da ** (r / 2) + db**r + dv ** (r / 2))
    return terms


def top_k_sum(terms, K: int) -> float:
    """max over K-subsets L of sum_{j in L} terms_j, i.e. the sum of the K largest terms (terms >= 0).

    Example:
        >>> top_k_sum([0.13, 0.3313390349, 0.2313693978], 2)
        0.5627084327
    """
    terms = np.asarray(terms, dtype=np.float64)
    K = check_int("K", K, low=1, high=terms.shape[0])
    if np.any(terms < 0):
        raise ValueError("terms must be non-negative")
    return float(np.sort(terms)[::-1][:K].sum())


def _check_loss_K(K, k_star):
    K = check_int("K", K, low=1, high=k_star)
    if K == 1:
        warnings.warn("K = 1: the gate is identically 1, so exp(beta0) and the scale of beta1 are not identifiable; "
                      "D1/D2 cannot be bounded by the density distance (spec A2.4)", stacklevel=3)
    return K


def voronoi_loss_exact(fitted, true, *, K: int) -> float:
    r"""Exact-specified Voronoi loss :math:`D_1(G, G^*) = \max_{|L|=K}\sum_{j\in L} T1_j`.

    Args:
        fitted: fitted mixing measure (any k; exact-specified means k = k*).
        true: true mixing measure (k* atoms).
        K: number of selected experts of the true model, 1 <= K <= k* (K = 1 warns: unidentifiable).

    Returns:
        D1 >= 0 (float).

    Example (spec TV-A4):
        >>> true = ([0, .5, -.5], [[0], [2], [4]], [[-3], [1], [4]], [2, -1, .5], [.09, .16, .25])
        >>> fit = ([0, .45, -.4], [[0], [2.1], [3.8]], [[-2.9], [1.05], [4.0]], [2.02, -1, .45], [.1, .15, .25])
        >>> round(voronoi_loss_exact(fit, true, K=2), 10)
        0.5627084327

    References:
        Nguyen et al., ICLR 2024, exact-specified Voronoi loss D1 (as recalled; spec A2.6).
    """
    f, t = _pair(fitted, true)
    K = _check_loss_K(K, t.k)
    return top_k_sum(cell_terms_exact(f, t), K)


def voronoi_loss_over(fitted, true, *, K: int, rbar=None) -> float:
    r"""Over-specified Voronoi loss :math:`D_2(G, G^*) = \max_{|L|=K}\sum_{j\in L} T2_j`.

    Args:
        fitted: fitted mixing measure (k >= k* atoms).
        true: true mixing measure (k* atoms).
        K: number of selected experts of the true model, 1 <= K <= k*.
        rbar: optional ``{m: r}`` for cells of m >= 4 atoms (default table :data:`RBAR`).

    Returns:
        D2 >= 0 (float).

    Example (spec TV-A5):
        >>> import numpy as np
        >>> true = ([0, .5, -.5], [[0], [2], [4]], [[-3], [1], [4]], [2, -1, .5], [.09, .16, .25])
        >>> fit = ([0, .5 - np.log(2) + .05, .5 - np.log(2) - .02, -.5], [[0], [2.2], [1.9], [4]],
        ...        [[-3], [1.1], [.95], [4]], [2, -.9, -1.05, .5], [.09, .17, .15, .25])
        >>> round(voronoi_loss_over(fit, true, K=2), 10)
        0.0383553828

    References:
        Nguyen et al., ICLR 2024, over-specified Voronoi loss D2 (as recalled; spec A2.6).
    """
    f, t = _pair(fitted, true)
    K = _check_loss_K(K, t.k)
    return top_k_sum(cell_terms_over(f, t, rbar=rbar), K)


def required_Kbar(cells, K: int) -> int:
    r"""The number of experts the over-specified fit must select: :math:`\bar K = \max_{|L|=K}\sum_{j\in L}|A_j|`.

    Args:
        cells: the Voronoi cells (a sequence of index sequences, one per true atom).
        K: number of selected experts of the true model.

    Returns:
        K-bar (int). Only balanced designs (every positive-probability region with the same total
        cell size) make the truth representable (spec A2.6 caveat, A10 Q2).

    Example:
        >>> required_Kbar(((0,), (1, 2), (3,)), 2)
        3
    """
    sizes = [len(c) for c in cells]
    K = check_int("K", K, low=1, high=len(sizes))
    return int(sum(sorted(sizes, reverse=True)[:K]))
