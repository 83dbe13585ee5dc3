r"""The generalised (non-central) chi-squared law and its exact lower-tail evaluators, in float64.

:math:`Q = c_0 + \sum_j w_j\,\chi^2_{d_j}(\lambda_j)` (independent terms, weights :math:`w_j \ne 0`, degrees of
freedom :math:`d_j > 0`, non-centralities :math:`\lambda_j \ge 0`, offset :math:`c_0`). Its cumulant generating
function is

.. math:: K(t) = c_0 t + \sum_j \Big[-\tfrac{d_j}{2}\log(1 - 2 w_j t) + \frac{\lambda_j w_j t}{1 - 2 w_j t}\Big].

Three evaluators of :math:`\log P(Q \le x)`, each used where it is accurate:

* **Ruben's series** (positive weights): with :math:`\beta = \min_j w_j`, :math:`\gamma_j = 1 - \beta/w_j` and
  :math:`D = \sum_j d_j`, :math:`P(Q - c_0 \le x) = \sum_{k \ge 0} a_k F_{\chi^2_{D+2k}}(x/\beta)` with
  :math:`a_0 = \prod_j (\beta/w_j)^{d_j/2} e^{-\sum_j\lambda_j/2}`,
  :math:`a_k = \frac{1}{2k}\sum_{r<k} g_{k-r} a_r`,
  :math:`g_k = \sum_j d_j\gamma_j^k + k\beta\sum_j (\lambda_j/w_j)\gamma_j^{k-1}`. All terms are non-negative and
  :math:`\sum_k a_k = 1`; the coefficients are carried in log space (a shared log scale and a mantissa rescaled
  before it overflows), the chi-squared CDFs as logs (a power series in the deep lower tail), and the series stops
  when the rigorous remainder bound :math:`(1 - \sum_{j \le k} a_j) F_{D+2k}(x/\beta)` falls below ``rtol`` times
  the partial sum. Finite at :math:`\log P = -3000` and beyond.
* **Imhof's integral** (any real weights): :math:`P(Q > x) = \tfrac12 + \tfrac1\pi\int_0^\infty
  \sin\theta(u) / (u\rho(u))\,du`; absolute accuracy about :math:`10^{-10}`, so it is used only for
  :math:`P \ge 10^{-7}` (below, its log is the log of a difference of near-equal numbers).
* **Saddlepoint** with Barndorff-Nielsen's :math:`r^* = \hat w + \log(\hat u/\hat w)/\hat w`,
  :math:`K'(\hat t) = x`, :math:`\hat w = \mathrm{sign}(\hat t)\sqrt{2(\hat t x - K(\hat t))}`,
  :math:`\hat u = \hat t\sqrt{K''(\hat t)}`, :math:`\log P \approx \log\Phi(r^*)` (relative error in
  :math:`\log P` below :math:`5\cdot 10^{-4}` for condition numbers up to :math:`10^3`).

Rigorous bounds: Chernoff :math:`\log P \le \min_{t \le 0} K(t) - t x` and the first Ruben term
:math:`\log P \ge \log a_0 + \log F_{\chi^2_D}(x/\beta)`.

References:
    Ruben, *Probability content of regions under spherical normal distributions IV*, Ann. Math. Stat. 1962;
    Imhof, *Computing the distribution of quadratic forms in normal variables*, Biometrika 1961;
    Barndorff-Nielsen, *Modified signed log likelihood ratio*, Biometrika 1991; Boopathy, Yue, Hwang, Iyer,
    Fiete, *Towards Exact Computation of Inductive Bias*, IJCAI 2024 (arXiv 2406.15941), Eq. 1 and the
    kernel-based sampling (Algorithm 1); docs/inductive_bias.md, "The exact law" and "Evaluators".
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import special

from theory._validation import check_array, check_choice, check_int, check_real

__all__ = [
    "GChiSq",
    "LogProb",
    "log_chi2_cdf",
    "ruben_logcdf",
    "imhof_sf",
    "imhof_logcdf",
    "saddlepoint_logcdf",
    "chernoff_log_bound",
    "ruben_first_term_log_bound",
    "METHODS",
]

METHODS = ("auto", "ruben", "imhof", "saddlepoint")
#: Imhof's absolute accuracy (about 1e-10) makes its log meaningful only above this probability.
IMHOF_MIN_P = 1e-7
#: ``method="auto"`` prefers Imhof to the saddlepoint (when Ruben is too long) above this probability.
_AUTO_IMHOF_P = 1e-5
_EPS = np.finfo(np.float64).eps
#: Imhof's result counts as converged when the quadratures' summed error estimates stay below this (in P).
_IMHOF_ERR = 1e-11


class LogProb(float):
    """A natural-log probability (a ``float``) that also says which evaluator produced it (``.method``)."""

    method: str

    def __new__(cls, value, method: str):
        obj = super().__new__(cls, value)
        obj.method = method
        return obj

    def __repr__(self):
        return f"LogProb({float(self)!r}, method={self.method!r})"


# ---------------------------------------------------------------------------------------------
# log F_{chi^2_nu}(y), deep lower tail included


def log_chi2_cdf(y, nu):
    r"""``log P(chi^2_nu <= y)``, elementwise, finite far below ``exp(-700)``.

    :math:`\log P(a, z) = a\log z - z - \log\Gamma(a+1) + \log\sum_{j\ge0} z^j/((a+1)\cdots(a+j))` with
    :math:`a = \nu/2`, :math:`z = y/2` where the regularised gamma underflows or :math:`z \le a/2`; the
    regularised gamma elsewhere.
    """
    y, nu = np.broadcast_arrays(np.asarray(y, np.float64), np.asarray(nu, np.float64))
    a, z = nu / 2.0, y / 2.0
    out = np.full(y.shape, -np.inf)
    pos = z > 0
    with np.errstate(divide="ignore", under="ignore"):
        p = special.gammainc(a, np.where(pos, z, 1.0))
        direct = pos & (p > 1e-280) & (z > 0.5 * a)
        out[direct] = np.log(p[direct])
    series = pos & ~direct
    if np.any(series):
        out[series] = _log_gamma_series(a[series], z[series])
    return out


def _log_gamma_series(a, z):
    """``log P(a, z)`` by the power series (vectorised; converges for every z, fast for z <= a/2)."""
    term = np.ones_like(a)
    total = np.ones_like(a)
    active = np.ones(a.shape, bool)
    j = 0
    while np.any(active):
        j += 1
        term = np.where(active, term * z / (a + j), 0.0)
        total = total + term
        active = term > 1e-17 * total
        if j > 100000:  # pragma: no cover - z > a/2 only reaches the series when a is huge
            break
    return a * np.log(z) - z - special.gammaln(a + 1.0) + np.log(total)


# ---------------------------------------------------------------------------------------------
# Input checks


def _law_arrays(weights, dfs, ncs, offset):
    w = check_array("weights", weights, ndim=1)
    if w.size == 0:
        raise ValueError("weights must have at least one term")
    if np.any(w == 0):
        raise ValueError("weights must be non-zero (fold a zero-weight term into the offset)")
    d = check_array("dfs", np.broadcast_to(np.asarray(dfs, np.float64), w.shape), low=0.0, low_open=True)
    nc = check_array("ncs", np.broadcast_to(np.asarray(ncs, np.float64), w.shape), low=0.0)
    c0 = check_real("offset", offset)
    return w, np.array(d), np.array(nc), c0


def _positive_weights(w, what="Ruben's series"):
    if np.any(w < 0):
        raise ValueError(f"weights must be positive for {what} (got a minimum of {w.min():g}); use "
                         "method='imhof' or 'saddlepoint' for an indefinite form")


# ---------------------------------------------------------------------------------------------
# Ruben's series


def _ruben_terms_estimate(y, w, d, nc):
    """A generous estimate of the number of Ruben terms needed at ``y = x / beta`` (to pick the method)."""
    beta = w.min()
    rho = beta / w
    gamma = 1.0 - rho
    mean_k = np.sum(d * gamma / (2 * rho) + nc / (2 * rho))
    var_k = mean_k + np.sum(d * gamma**2 / (2 * rho**2) + nc * gamma / rho**2)
    by_mass = mean_k + 8.0 * math.sqrt(var_k) + 30.0
    by_tail = y / 2.0 + 8.0 * np.sqrt(np.maximum(y, 1.0)) + 30.0
    return np.minimum(by_mass, by_tail)


def ruben_logcdf(x, weights, dfs, ncs, offset=0.0, *, rtol: float = 1e-12, max_terms: int = 200000,
                 return_info: bool = False):
    r"""``log P(Q <= x)`` by Ruben's series (positive weights), in log space with a rigorous stop.

    The partial sums :math:`S_k = \sum_{j \le k} a_j F_{D+2j}(y)`, :math:`y = (x - c_0)/\beta`, stop at the first
    ``k`` (checked every block of terms) with :math:`(1 - \sum_{j\le k} a_j + k\epsilon) F_{D+2k}(y) \le
    \mathrm{rtol}\, S_k`; since :math:`F_{D+2j}` decreases in ``j`` this bounds the neglected tail. Coefficients
    :math:`a_k` are kept as a log scale plus a mantissa (rescaled before overflow), so :math:`a_0 =
    e^{-\sum\lambda_j/2}` never underflows.

    Args:
        x: evaluation points (scalar or array).
        weights, dfs, ncs, offset: the law (weights must be positive).
        rtol: relative accuracy of the stop rule.
        max_terms: the term budget; points not converged within it are ``nan`` (``converged`` False).
        return_info: also return ``{"terms", "converged"}``.

    Returns:
        ``log P`` with the shape of ``x`` (``-inf`` where ``x <= offset``), and the info dict if asked.

    References:
        Ruben, Ann. Math. Stat. 1962 (the mixture of central chi-squared laws); docs/inductive_bias.md,
        "Evaluators".
    """
    w, d, nc, c0 = _law_arrays(weights, dfs, ncs, offset)
    _positive_weights(w)
    check_real("rtol", rtol, low=0.0, low_open=True)
    max_terms = check_int("max_terms", max_terms, low=1)
    xs = np.asarray(x, np.float64)
    if np.any(np.isnan(xs)):
        raise ValueError("x must not contain NaN")
    shape = xs.shape
    xs = xs.ravel() - c0
    out = np.full(xs.shape, -np.inf)
    out[xs == np.inf] = 0.0
    todo = np.flatnonzero((xs > 0) & np.isfinite(xs))
    terms = np.zeros(xs.shape, int)
    converged = np.ones(xs.shape, bool)
    if todo.size:
        vals, nterms, conv = _ruben_core(xs[todo], w, d, nc, rtol, max_terms)
        out[todo], terms[todo], converged[todo] = vals, nterms, conv
    out = out.reshape(shape)
    if return_info:
        return out, {"terms": terms.reshape(shape), "converged": converged.reshape(shape)}
    return out


def _ruben_core(x, w, d, nc, rtol, max_terms, block=128):
    beta = w.min()
    gamma = 1.0 - beta / w
    D = d.sum()
    y = x / beta
    log_a0 = 0.5 * np.sum(d * np.log(beta / w)) - 0.5 * nc.sum()
    nc_w = beta * nc / w
    active = gamma > 0
    g_lin, g_df, g_nc = gamma[active], d[active], nc_w[active]
    log_g = np.log(g_lin) if g_lin.size else np.zeros(0)
    inactive_nc = nc_w[~active].sum()

    def g_of(ks):  # g_k for an array of k >= 1 (gamma_j = 0 terms only enter g_1)
        out = (ks == 1) * inactive_nc
        if g_lin.size:
            out = out + np.exp(np.outer(ks, log_g)) @ g_df + ks * (np.exp(np.outer(ks - 1, log_g)) @ g_nc)
        return out

    # coefficients a_k = mant[k] * exp(scale); g_k in linear scale (at most polynomial in k); g[0] unused
    mant = np.zeros(block)
    mant[0] = 1.0
    scale = log_a0
    g = np.concatenate([[0.0], g_of(np.arange(1, block + 1))])
    log_s = np.full(x.shape, -np.inf)
    log_mass = -np.inf
    done = np.zeros(x.shape, bool)
    nterms = np.zeros(x.shape, int)
    k0 = 0  # first index of the current block
    while True:
        k1 = min(k0 + block, max_terms)
        if k1 > mant.size:
            grow = max(block, mant.size)
            mant = np.concatenate([mant, np.zeros(grow)])
            g = np.concatenate([g, g_of(np.arange(g.size, g.size + grow))])
        for k in range(max(k0, 1), k1):
            val = np.dot(g[k:0:-1], mant[:k]) / (2.0 * k)
            mant[k] = val
            if val > 1e250:  # rescale the mantissa before it overflows
                mant[: k + 1] *= 1e-250
                scale += 250.0 * math.log(10.0)
        with np.errstate(divide="ignore"):
            log_a = np.log(mant[k0:k1]) + scale
        ks = np.arange(k0, k1)
        todo = ~done
        log_f = log_chi2_cdf(y[todo][:, None], D + 2.0 * ks[None, :])
        log_s[todo] = np.logaddexp(log_s[todo], special.logsumexp(log_a[None, :] + log_f, axis=1))
        log_mass = np.logaddexp(log_mass, special.logsumexp(log_a))
        rem = max(-math.expm1(log_mass), 0.0) + k1 * 4.0 * _EPS
        with np.errstate(divide="ignore"):
            bound = math.log(rem) + log_chi2_cdf(y[todo], D + 2.0 * (k1 - 1))
        stop = bound - log_s[todo] <= math.log(rtol)
        idx = np.flatnonzero(todo)
        done[idx[stop]] = True
        nterms[idx[stop]] = k1
        if np.all(done) or k1 >= max_terms:
            break
        k0 = k1
    conv = done.copy()
    nterms[~done] = max_terms
    out = np.where(done, log_s, np.nan)
    return out, nterms, conv


def ruben_first_term_log_bound(x, weights, dfs, ncs, offset=0.0):
    r"""The rigorous lower bound :math:`\log P(Q \le x) \ge \log a_0 + \log F_{\chi^2_D}((x - c_0)/\beta)`: the
    first term of Ruben's series (every term is non-negative). Positive weights only.

    References:
        Ruben, Ann. Math. Stat. 1962; docs/inductive_bias.md, "Bounds".
    """
    w, d, nc, c0 = _law_arrays(weights, dfs, ncs, offset)
    _positive_weights(w, "the first-Ruben-term bound")
    beta = w.min()
    log_a0 = 0.5 * np.sum(d * np.log(beta / w)) - 0.5 * nc.sum()
    xs = np.asarray(x, np.float64)
    return log_a0 + log_chi2_cdf(np.maximum(xs - c0, 0.0) / beta, d.sum())


# ---------------------------------------------------------------------------------------------
# Cumulant generating function and the saddlepoint


def _cgf(t, w, d, nc, c0):
    t = np.asarray(t, np.float64)[..., None]
    one = 1.0 - 2.0 * w * t
    return c0 * t[..., 0] + np.sum(-0.5 * d * np.log(one) + nc * w * t / one, axis=-1)


def _cgf1(t, w, d, nc, c0):
    t = np.asarray(t, np.float64)[..., None]
    one = 1.0 - 2.0 * w * t
    return c0 + np.sum(d * w / one + nc * w / one**2, axis=-1)


def _cgf2(t, w, d, nc):
    t = np.asarray(t, np.float64)[..., None]
    one = 1.0 - 2.0 * w * t
    return np.sum(2.0 * d * w**2 / one**2 + 4.0 * nc * w**2 / one**3, axis=-1)


def _t_limits(w):
    lo = 1.0 / (2.0 * w.min()) if w.min() < 0 else -np.inf
    hi = 1.0 / (2.0 * w.max()) if w.max() > 0 else np.inf
    return lo, hi


def _saddle_root(x, w, d, nc, c0):
    """``t`` with ``K'(t) = x`` (bisection on a bracket found by doubling toward the domain's edge), vectorised."""
    mean = _cgf1(0.0, w, d, nc, c0)
    lo_lim, hi_lim = _t_limits(w)
    scale = 1.0 / np.max(np.abs(w))
    x = np.asarray(x, np.float64)
    below = x < mean
    lo = np.zeros(x.shape)
    hi = np.zeros(x.shape)
    # bracket: step = scale * 2^j toward the limit (or a fraction of the way to a finite limit)
    for side, lim in ((below, lo_lim), (~below, hi_lim)):
        if not np.any(side):
            continue
        sign = -1.0 if lim < 0 else 1.0
        far = np.zeros(x.shape)
        found = ~side
        for j in range(1, 1100):
            cand = (lim * (1.0 - 2.0 ** (-j))) if np.isfinite(lim) else sign * scale * 2.0 ** (j - 10)
            val = _cgf1(np.full(x.shape, cand), w, d, nc, c0)
            crossed = (val < x) if sign < 0 else (val > x)
            newly = ~found & crossed
            far[newly] = cand
            found |= crossed
            if np.all(found) or (np.isfinite(lim) and j > 60):
                break
        far[~found] = lim * (1 - 1e-16) if np.isfinite(lim) else sign * 1e300
        if sign < 0:
            lo = np.where(side, far, lo)
            hi = np.where(side, 0.0, hi)
        else:
            lo = np.where(side, 0.0, lo)
            hi = np.where(side, far, hi)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        val = _cgf1(mid, w, d, nc, c0)
        big = val > x
        hi = np.where(big, mid, hi)
        lo = np.where(big, lo, mid)
        if np.all(np.abs(hi - lo) <= 4 * _EPS * np.maximum(np.abs(mid), 1e-300)):
            break
    t = 0.5 * (lo + hi)
    return t, mean


def saddlepoint_logcdf(x, weights, dfs, ncs, offset=0.0):
    r"""``log P(Q <= x)`` by the saddlepoint with Barndorff-Nielsen's :math:`r^*`: :math:`\log\Phi(r^*)`,
    :math:`r^* = \hat w + \log(\hat u / \hat w)/\hat w` (any real non-zero weights). Within
    :math:`10^{-4}` standard deviations of the mean, where :math:`r^*` is 0/0, it uses its limit
    :math:`z + \kappa_3/(6\kappa_2^{3/2})`.

    References:
        Barndorff-Nielsen, Biometrika 1991; Lugannani and Rice, Adv. Appl. Prob. 1980; docs/inductive_bias.md,
        "Evaluators".
    """
    w, d, nc, c0 = _law_arrays(weights, dfs, ncs, offset)
    xs = np.asarray(x, np.float64)
    if np.any(np.isnan(xs)):
        raise ValueError("x must not contain NaN")
    shape = xs.shape
    xs = xs.ravel()
    out = np.full(xs.shape, -np.inf)
    lower_edge = c0 if w.min() > 0 else -np.inf
    upper_edge = c0 if w.max() < 0 else np.inf
    out[xs >= upper_edge] = 0.0
    ok = (xs > lower_edge) & (xs < upper_edge)
    if np.any(ok):
        out[ok] = _saddle_core(xs[ok], w, d, nc, c0)
    return out.reshape(shape)


def _saddle_core(x, w, d, nc, c0):
    t, mean = _saddle_root(x, w, d, nc, c0)
    k2 = _cgf2(0.0, w, d, nc)
    k3 = np.sum(8.0 * w**3 * (d + 3.0 * nc))
    z = (x - mean) / math.sqrt(k2)
    with np.errstate(invalid="ignore", divide="ignore"):
        what = np.sign(t) * np.sqrt(np.maximum(2.0 * (t * x - _cgf(t, w, d, nc, c0)), 0.0))
        uhat = t * np.sqrt(_cgf2(t, w, d, nc))
        rstar = what + np.log(uhat / what) / what
    near = (np.abs(z) < 1e-4) | ~np.isfinite(rstar)
    rstar = np.where(near, z + k3 / (6.0 * k2**1.5), rstar)
    return special.log_ndtr(rstar)


def chernoff_log_bound(x, weights, dfs, ncs, offset=0.0):
    r"""The Chernoff bound :math:`\log P(Q \le x) \le \min_{t \le 0} K(t) - t x` (0 at or above the mean); the
    minimiser is the saddlepoint :math:`K'(\hat t) = x` (``K`` is convex).

    References:
        Chernoff, Ann. Math. Stat. 1952; docs/inductive_bias.md, "Bounds".
    """
    w, d, nc, c0 = _law_arrays(weights, dfs, ncs, offset)
    xs = np.asarray(x, np.float64)
    shape = xs.shape
    xs = xs.ravel()
    out = np.zeros(xs.shape)
    mean = _cgf1(0.0, w, d, nc, c0)
    lower_edge = c0 if w.min() > 0 else -np.inf
    out[xs <= lower_edge] = -np.inf
    tail = (xs < mean) & (xs > lower_edge)
    if np.any(tail):
        t, _ = _saddle_root(xs[tail], w, d, nc, c0)
        out[tail] = np.minimum(_cgf(t, w, d, nc, c0) - t * xs[tail], 0.0)
    return out.reshape(shape)


# ---------------------------------------------------------------------------------------------
# Imhof


def imhof_sf(x, weights, dfs, ncs, offset=0.0, *, return_info: bool = False):
    r"""``P(Q > x)`` by Imhof's integral (any real non-zero weights), absolute accuracy about ``1e-10`` where the
    quadrature converges.

    :math:`P(Q > x) = \tfrac12 + \tfrac1\pi\int_0^\infty \frac{\sin\theta(u)}{u\rho(u)}du`,
    :math:`\theta(u) = \tfrac12\sum_j[d_j\arctan(w_j u) + \lambda_j w_j u/(1 + w_j^2u^2)] - \tfrac12(x - c_0)u`,
    :math:`\rho(u) = \prod_j(1 + w_j^2u^2)^{d_j/4}\exp(\tfrac12\sum_j\lambda_j w_j^2u^2/(1 + w_j^2u^2))`.
    The head :math:`[0, 20/\min|w_j|]` is integrated in geometric pieces (any condition number), the tail as two
    Fourier integrals (QUADPACK's QAWF) of the slowly varying amplitude, since there :math:`\theta(u) + xu/2`
    has settled; a result whose summed error estimates exceed ``1e-11`` is flagged (a ``RuntimeWarning``;
    ``converged`` False in the info).

    References:
        Imhof, Biometrika 1961; docs/inductive_bias.md, "Evaluators".
    """
    from scipy.integrate import IntegrationWarning, quad

    w, d, nc, c0 = _law_arrays(weights, dfs, ncs, offset)
    xs = np.asarray(x, np.float64)
    if np.any(np.isnan(xs)):
        raise ValueError("x must not contain NaN")
    shape = xs.shape
    out = np.empty(xs.size)
    ok = np.ones(xs.size, bool)
    mean_c = float(np.sum(w * (d + nc)))
    split = 20.0 / np.min(np.abs(w))  # beyond it the phase is -x u / 2 plus a slowly settling part
    # the head in geometric pieces from the scale of the largest weight to the split (any condition number)
    first = 0.5 / np.max(np.abs(w))
    edges = np.concatenate([[0.0], np.geomspace(first, split, max(2, int(np.ceil(np.log2(split / first))) + 1))])

    def parts(u):
        lu = w * u
        lu2 = lu * lu
        frac = 1.0 / (1.0 + lu2)
        phi = 0.5 * (d @ np.arctan(lu) + nc @ (lu * frac))
        lr = 0.25 * (d @ np.log1p(lu2)) + 0.5 * (nc @ (lu2 * frac))
        return phi, math.exp(-lr) / u  # the amplitude 1 / (u rho(u)); underflows to 0, never overflows

    for i, xv in enumerate(xs.ravel()):
        xv = float(xv) - c0
        omega = 0.5 * xv

        def f(u, xv=xv):
            if u == 0.0:
                return 0.5 * (mean_c - xv)
            phi, amp = parts(u)
            return math.sin(phi - 0.5 * xv * u) * amp

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IntegrationWarning)  # judged by the summed error estimates instead
            if omega == 0.0:
                val, err = quad(f, 0, np.inf, limit=500, epsabs=1e-13, epsrel=1e-10)
            else:
                # head by adaptive quadrature; tail as Fourier integrals (QAWF) of the slowly varying amplitude:
                # sin(phi - omega u) = sin(phi) cos(omega u) - cos(phi) sin(omega u)
                pieces = _gauss_pieces(xv, edges, w, d, nc)  # all pieces at once; adaptive where that is unsure
                for j in np.flatnonzero(pieces[:, 1] > 1e-15 + 1e-11 * np.abs(pieces[:, 0])):
                    pieces[j] = quad(f, edges[j], edges[j + 1], limit=200, epsabs=1e-14, epsrel=1e-10)
                val, err = float(np.sum(pieces[:, 0])), float(np.sum(pieces[:, 1]))
                # the tail is below amp(split) * split * 2 / D (the amplitude decays at least like u^(-1 - D/2))
                if parts(split)[1] * split * 2.0 / max(d.sum(), 1e-3) > 1e-16:
                    a = abs(omega)
                    sgn = 1.0 if omega > 0 else -1.0
                    c_part = quad(lambda u: math.sin(parts(u)[0]) * parts(u)[1], split, np.inf, weight="cos",
                                  wvar=a, limlst=200, epsabs=1e-13)
                    s_part = quad(lambda u: math.cos(parts(u)[0]) * parts(u)[1], split, np.inf, weight="sin",
                                  wvar=a, limlst=200, epsabs=1e-13)
                    val += c_part[0] - sgn * s_part[0]
                    err += c_part[1] + s_part[1]
        ok[i] = bool(np.isfinite(val) and err <= _IMHOF_ERR)
        out[i] = min(max(0.5 + val / math.pi, 0.0), 1.0)
    if not np.all(ok) and not return_info:
        warnings.warn(f"Imhof quadrature error estimate above {_IMHOF_ERR:g} at {int(np.sum(~ok))} point(s); use "
                      "method='ruben' or 'saddlepoint' there", RuntimeWarning, stacklevel=2)
    if return_info:
        return out.reshape(shape), {"converged": ok.reshape(shape)}
    return out.reshape(shape)


_GL = {n: np.polynomial.legendre.leggauss(n) for n in (48, 96)}


def _gauss_pieces(xv, edges, w, d, nc):
    """``[(integral, error estimate)]`` of Imhof's integrand over each ``[edges[j], edges[j+1]]``: Gauss-Legendre
    with 96 nodes, the error estimated against 48 nodes; all pieces and nodes in one vectorised evaluation."""
    lo, hi = edges[:-1, None], edges[1:, None]
    out = []
    for n in (96, 48):
        x, wt = _GL[n]
        u = 0.5 * (hi - lo) * x[None, :] + 0.5 * (hi + lo)  # [pieces, n], never 0
        lu = u[..., None] * w
        lu2 = lu * lu
        frac = 1.0 / (1.0 + lu2)
        phi = 0.5 * (np.arctan(lu) @ d + (lu * frac) @ nc)
        lr = 0.25 * (np.log1p(lu2) @ d) + 0.5 * ((lu2 * frac) @ nc)
        vals = np.sin(phi - 0.5 * xv * u) * np.exp(-lr) / u
        out.append(0.5 * (hi[:, 0] - lo[:, 0]) * (vals @ wt))
    return np.stack([out[0], np.abs(out[0] - out[1])], axis=1)


def imhof_logcdf(x, weights, dfs, ncs, offset=0.0):
    """``log P(Q <= x) = log1p(-imhof_sf)``; only meaningful where ``P >= 1e-7`` (a ``RuntimeWarning`` below).

    References:
        Imhof, Biometrika 1961; docs/inductive_bias.md, "Evaluators".
    """
    sf = imhof_sf(x, weights, dfs, ncs, offset)
    with np.errstate(divide="ignore"):
        out = np.log1p(-sf)
    if np.any(np.exp(out) < IMHOF_MIN_P):
        warnings.warn(f"Imhof's integral is accurate to about 1e-10 in absolute terms: a log-probability below "
                      f"log({IMHOF_MIN_P:g}) is not reliable; use method='ruben' or 'saddlepoint'", RuntimeWarning,
                      stacklevel=2)
    return out


# ---------------------------------------------------------------------------------------------
# The law


class GChiSq:
    r"""The generalised chi-squared law :math:`Q = c_0 + \sum_j w_j\chi^2_{d_j}(\lambda_j)`.

    Args:
        weights: non-zero real weights ``[J]`` (Ruben's series and the first-term bound need them positive).
        dfs: degrees of freedom ``> 0`` (scalar or ``[J]``).
        ncs: non-centralities ``>= 0`` (scalar or ``[J]``).
        offset: the constant :math:`c_0`.

    Moments: :math:`E Q = c_0 + \sum w_j(d_j + \lambda_j)`, :math:`\mathrm{Var}\,Q = \sum 2w_j^2(d_j + 2\lambda_j)`.

    Example:
        >>> law = GChiSq([0.05, 0.2, 0.5, 1.0, 1.7], [1, 2, 1, 3, 1], [0.3, 2, 0, 1.5, 4])
        >>> round(law.mean(), 3), round(float(law.logcdf(0.5)), 6), law.logcdf(0.5).method
        (14.365, -9.786615, 'ruben')

    References:
        Boopathy et al., IJCAI 2024 (arXiv 2406.15941): the test error of kernel hypotheses (Algorithm 1);
        docs/inductive_bias.md, "The exact law".
    """

    def __init__(self, weights, dfs, ncs, offset=0.0):
        self.weights, self.dfs, self.ncs, self.offset = _law_arrays(weights, dfs, ncs, offset)

    def __repr__(self):
        return f"GChiSq(terms={self.weights.size}, D={self.total_df:g}, offset={self.offset:g})"

    @property
    def params(self):
        """``(weights, dfs, ncs, offset)``."""
        return self.weights, self.dfs, self.ncs, self.offset

    @property
    def total_df(self) -> float:
        """:math:`D = \\sum_j d_j`, the total degrees of freedom (the small-x exponent is ``D/2``)."""
        return float(self.dfs.sum())

    def mean(self) -> float:
        """:math:`c_0 + \\sum_j w_j (d_j + \\lambda_j)`."""
        return float(self.offset + np.sum(self.weights * (self.dfs + self.ncs)))

    def var(self) -> float:
        """:math:`\\sum_j 2 w_j^2 (d_j + 2\\lambda_j)`."""
        return float(np.sum(2.0 * self.weights**2 * (self.dfs + 2.0 * self.ncs)))

    def cgf(self, t):
        """:math:`K(t)` for :math:`1 - 2 w_j t > 0` (``inf`` outside that domain)."""
        t = np.asarray(t, np.float64)
        lo, hi = _t_limits(self.weights)
        inside = (t > lo) & (t < hi)
        with np.errstate(invalid="ignore", divide="ignore"):
            val = _cgf(np.where(inside, t, 0.0), *self.params)
        return np.where(inside, val, np.inf)

    def logcdf(self, x, *, method: str = "auto", rtol: float = 1e-12, max_terms: int | None = None):
        """``log P(Q <= x)`` (natural log) by ``method``; the result says which evaluator was used.

        ``"auto"``: Ruben's series (exact) when the weights are positive and its estimated length fits
        ``max_terms`` (default 4000 terms; 200 000 for ``method="ruben"``), else Imhof's integral where the
        saddlepoint puts ``P >= 1e-5`` and the quadrature converged, else the saddlepoint. A point where Ruben does
        not converge within ``max_terms`` falls back the same way.

        Returns:
            a :class:`LogProb` (a float with ``.method``) for scalar ``x``; for an array, a float array with
            the same shape and a matching array of method names in ``.method``.
        """
        check_choice("method", method, METHODS)
        if max_terms is None:
            max_terms = 200000 if method == "ruben" else 4000
        xs = np.asarray(x, np.float64)
        if np.any(np.isnan(xs)):
            raise ValueError("x must not contain NaN")
        flat = xs.ravel()
        out = np.empty(flat.size)
        used = np.empty(flat.size, dtype=object)
        w, d, nc, c0 = self.params
        if method == "ruben":
            out[:] = ruben_logcdf(flat, w, d, nc, c0, rtol=rtol, max_terms=max_terms)
            used[:] = "ruben"
        elif method == "imhof":
            out[:] = imhof_logcdf(flat, w, d, nc, c0)
            used[:] = "imhof"
        elif method == "saddlepoint":
            out[:] = saddlepoint_logcdf(flat, w, d, nc, c0)
            used[:] = "saddlepoint"
        else:
            out[:], used[:] = self._auto(flat, rtol, max_terms)
        if xs.ndim == 0:
            return LogProb(out[0], used[0])
        return _LogProbArray(out.reshape(xs.shape), used.reshape(xs.shape))

    def _auto(self, x, rtol, max_terms):
        w, d, nc, c0 = self.params
        out = np.full(x.shape, np.nan)
        used = np.full(x.shape, "ruben", dtype=object)
        if w.min() > 0:
            y = np.maximum(x - c0, 0.0) / w.min()
            short = _ruben_terms_estimate(y, w, d, nc) <= max_terms
            if np.any(short):
                out[short] = ruben_logcdf(x[short], w, d, nc, c0, rtol=rtol, max_terms=max_terms)
        rest = np.isnan(out)
        if np.any(rest):
            sp = saddlepoint_logcdf(x[rest], w, d, nc, c0)
            bulk = sp >= math.log(_AUTO_IMHOF_P)
            vals = sp.copy()
            names = np.full(sp.shape, "saddlepoint", dtype=object)
            if np.any(bulk):
                sf, info = imhof_sf(x[rest][bulk], w, d, nc, c0, return_info=True)
                with np.errstate(divide="ignore"):
                    im = np.log1p(-sf)
                good = (im >= math.log(IMHOF_MIN_P)) & info["converged"]
                vals[np.flatnonzero(bulk)[good]] = im[good]
                names[np.flatnonzero(bulk)[good]] = "imhof"
            out[rest], used[rest] = vals, names
        return out, used

    def cdf(self, x, *, method: str = "auto"):
        """``P(Q <= x) = exp(logcdf(x))``."""
        return np.exp(np.asarray(self.logcdf(x, method=method), np.float64))

    def sample(self, key, n: int):
        """``n`` independent draws of ``Q`` (float64 NumPy array), from a JAX ``key``: each term as
        :math:`w_j(\\chi^2_{d_j} + \\text{non-central part})` by NumPy's ``noncentral_chisquare``/``chisquare``."""
        from theory._random import numpy_rng

        n = check_int("n", n, low=1)
        rng = numpy_rng(key)
        total = np.full(n, self.offset)
        for wj, dj, ncj in zip(self.weights, self.dfs, self.ncs, strict=True):
            draw = rng.noncentral_chisquare(dj, ncj, n) if ncj > 0 else rng.chisquare(dj, n)
            total += wj * draw
        return total

    def quantile(self, p: float, *, method: str = "auto") -> float:
        """The ``p``-quantile (root of ``logcdf(x) = log p``, positive weights)."""
        from scipy.optimize import brentq

        p = check_real("p", p, low=0.0, high=1.0, low_open=True, high_open=True)
        lp = math.log(p)
        lo = self.offset + 1e-300 if self.weights.min() > 0 else self.mean() - 10 * math.sqrt(self.var())
        hi = self.mean() + 10.0 * math.sqrt(self.var())
        while float(self.logcdf(hi, method=method)) < lp:
            hi = self.offset + 2.0 * (hi - self.offset)
        f = lambda v: float(self.logcdf(v, method=method)) - lp
        span = hi - self.offset
        # a bracket on a log scale: the lower tail is polynomial in (x - offset)
        a = self.offset + span
        while f(a) > 0:
            a = self.offset + (a - self.offset) / 16.0
        return brentq(f, max(a, lo), min(self.offset + 16.0 * (a - self.offset), hi), xtol=1e-300, rtol=1e-13)


class _LogProbArray(np.ndarray):
    """A float array of log-probabilities with a parallel array of evaluator names in ``.method``."""

    def __new__(cls, values, methods):
        obj = np.asarray(values, np.float64).view(cls)
        obj.method = np.asarray(methods, dtype=object)
        return obj

    def __array_finalize__(self, obj):
        if obj is not None and not hasattr(self, "method"):
            self.method = None
