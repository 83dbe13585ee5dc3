r"""Inductive bias from probabilities and from sampled test errors: units, the paper's fitted scaled non-central
chi-squared estimator (with a robust maximum-likelihood fit and the official code's fallback), and the empirical
estimator with a Clopper-Pearson interval.

:math:`I(\varepsilon) = -\log_b P_{h\sim p_h}(e(h) \le \varepsilon)` (bits for :math:`b = 2`; the official code
returns nats). The paper's estimator fits :math:`e \approx s\,\chi^2_{k}(\lambda)` (``loc = 0``) to the sampled
errors by maximum likelihood and returns :math:`-\log_b F_{\chi^2_k(\lambda)}(\varepsilon/s)`.

References:
    Boopathy, Yue, Hwang, Iyer, Fiete, *Towards Exact Computation of Inductive Bias*, IJCAI 2024
    (arXiv 2406.15941): Eq. 1 (the definition) and the fitted-distribution estimator, with the official code
    (``FieteLab/Exact-Inductive-Bias``: ``ncx2.fit(errors, floc=0)`` and a normal-approximation fallback);
    Clopper and Pearson, Biometrika 1934; docs/inductive_bias.md, "Estimators".
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import special

from theory._validation import check_array, check_choice, check_int, check_real
from theory.inductive_bias.gchisq import ruben_logcdf

__all__ = [
    "inductive_bias",
    "scaled_ncx2_logcdf",
    "scaled_ncx2_logpdf",
    "NCX2Fit",
    "fit_scaled_ncx2",
    "legacy_fallback_nats",
    "estimate_inductive_bias",
    "EmpiricalBias",
    "empirical_inductive_bias",
    "clopper_pearson",
    "clopper_pearson_coverage",
    "wald_coverage",
]

_MIN_FIT = 20


def _check_base(base):
    return check_real("base", base, low=1.0, low_open=True)


def inductive_bias(log_p, *, base=2):
    r"""Inductive bias :math:`I = -\log_b P = -\log P / \ln b` from a natural-log probability (bits by default).

    Args:
        log_p: natural-log probabilities (``<= 0``; ``-inf`` gives ``inf``).
        base: the logarithm base, ``> 1`` (2: bits, ``e``: nats).

    Example:
        >>> round(float(inductive_bias(np.log(0.25))), 12)
        2.0

    References:
        Boopathy et al., IJCAI 2024 (arXiv 2406.15941), Eq. 1; docs/inductive_bias.md, "Units".
    """
    base = _check_base(base)
    lp = check_array("log_p", log_p, high=1e-12, allow_inf=True)
    if np.any(lp == np.inf):
        raise ValueError("log_p must be <= 0 (a log-probability), got +inf")
    out = -np.minimum(lp, 0.0) / math.log(base)
    return float(out) if out.ndim == 0 else out


# ---------------------------------------------------------------------------------------------
# The scaled non-central chi-squared family


def scaled_ncx2_logcdf(x, df, nc, scale):
    r""":math:`\log P(s\,\chi^2_k(\lambda) \le x)`, finite where ``scipy.stats.ncx2.logcdf`` underflows.

    SciPy's value where it lies in ``(-600, 0]`` (its Boost series is accurate there), Ruben's log-space series
    (here the Poisson mixture :math:`\sum_j e^{-\lambda/2}(\lambda/2)^j/j!\,F_{k+2j}(x/s)`) below.

    References:
        docs/inductive_bias.md, "Estimators" (the official code's ``ncx2.logcdf`` returns ``-inf`` below about
        ``exp(-745)``).
    """
    from scipy import stats

    df = check_real("df", df, low=0.0, low_open=True)
    nc = check_real("nc", nc, low=0.0)
    scale = check_real("scale", scale, low=0.0, low_open=True)
    xs = check_array("x", x, allow_inf=True)
    with np.errstate(divide="ignore"):
        out = np.asarray(stats.ncx2.logcdf(np.maximum(xs, 0.0) / scale, df, nc) if nc > 0
                         else stats.chi2.logcdf(np.maximum(xs, 0.0) / scale, df), np.float64)
    out = np.where(xs <= 0, -np.inf, out)
    deep = (xs > 0) & ~(out > -600.0)
    if np.any(deep):
        out = np.array(out)
        out[deep] = ruben_logcdf(xs[deep], [scale], [df], [nc])
    return float(out) if out.ndim == 0 else out


def scaled_ncx2_logpdf(x, df, nc, scale):
    r"""Log-density of :math:`s\,\chi^2_k(\lambda)`: :math:`-\log(2s) - (y+\lambda)/2 + (k/4 - 1/2)\log(y/\lambda) +
    \log I_{k/2-1}(\sqrt{\lambda y})`, :math:`y = x/s` (exponentially scaled Bessel function; the central density
    when :math:`\lambda = 0`; SciPy's ``ncx2.logpdf`` where the Bessel form underflows)."""
    from scipy import stats

    y = np.asarray(x, np.float64) / scale
    if nc <= 0:
        return stats.chi2.logpdf(y, df) - math.log(scale)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = np.sqrt(nc * y)
        out = (-math.log(2.0 * scale) - 0.5 * (y + nc) + (0.25 * df - 0.5) * np.log(y / nc)
               + np.log(special.ive(0.5 * df - 1.0, z)) + z)
    bad = ~np.isfinite(out) & (y > 0)
    if np.any(bad):
        out[bad] = stats.ncx2.logpdf(y[bad], df, nc) - math.log(scale)
    return out


class NCX2Fit(NamedTuple):
    """A fitted scaled non-central chi-squared law ``scale * chi^2_df(nc)`` and its log-likelihood."""

    df: float
    nc: float
    scale: float
    loglik: float


def _check_errors(errors, *, min_size=1):
    e = check_array("errors", errors, low=0.0, ndim=1)
    if e.size < min_size:
        raise ValueError(f"errors must hold at least {min_size} sampled test errors, got {e.size}")
    return e


def _loglik(e, df, nc, scale):
    return float(np.sum(scaled_ncx2_logpdf(e, df, nc, scale)))


def _moment_starts(e):
    """Starts: the 3-moment solution (``8 m1 s^2 - 8 m2 s + m3 = 0``) when feasible, Patnaik's central 2-moment
    start, and a start with df = nc."""
    m1, m2 = e.mean(), e.var()
    m3 = np.mean((e - m1) ** 3)
    starts = []
    disc = 64 * m2**2 - 32 * m1 * m3
    if disc >= 0:
        for s in ((8 * m2 + math.sqrt(disc)) / (16 * m1), (8 * m2 - math.sqrt(disc)) / (16 * m1)):
            if s > 0:
                nc = m2 / (2 * s**2) - m1 / s
                df = m1 / s - nc
                if nc >= 0 and df > 0:
                    starts.append((df, max(nc, 1e-3), s))
    s = m2 / (2 * m1)
    starts.append((m1 / s, 1e-3, s))
    starts.append((0.5 * m1 / s, 0.5 * m1 / s, s))
    return starts


def fit_scaled_ncx2(errors, *, method: str = "robust", starts=None) -> NCX2Fit:
    r"""Maximum-likelihood fit of ``scale * chi^2_df(nc)`` (``loc = 0``) to sampled test errors.

    ``method="robust"``: Nelder-Mead on :math:`(\log k, \log\lambda, \log s)` from several starts (the 3-moment
    solution when feasible, Patnaik's central 2-moment start, a df = nc start, and any ``starts`` given), keeping
    the best log-likelihood; the result is at least as likely as every start. ``method="scipy_default"``:
    ``scipy.stats.ncx2.fit(errors, floc=0)``, the official code's call, which can stop far from the maximum.

    Args:
        errors: ``[N]`` non-negative finite test errors, ``N >= 20``.
        method: ``"robust"`` or ``"scipy_default"``.
        starts: extra ``(df, nc, scale)`` starts for the robust fit.

    Returns:
        :class:`NCX2Fit` ``(df, nc, scale, loglik)``.

    References:
        Boopathy et al., IJCAI 2024 (arXiv 2406.15941), the fitted-distribution estimator and the official code;
        docs/inductive_bias.md, "Estimators".
    """
    from scipy import stats
    from scipy.optimize import minimize

    e = _check_errors(errors, min_size=_MIN_FIT)
    check_choice("method", method, ("robust", "scipy_default"))
    if np.all(e == e[0]):
        raise ValueError("errors must not all be equal (no law to fit)")
    if method == "scipy_default":
        df, nc, _, scale = stats.ncx2.fit(e, floc=0)
        return NCX2Fit(float(df), float(nc), float(scale), _loglik(e, df, nc, scale))
    e_pos = np.maximum(e, np.min(e[e > 0]) * 1e-3) if np.any(e > 0) else e

    def objective(theta):
        df, nc, s = np.exp(np.clip(theta, -40.0, 40.0))
        ll = _loglik(e_pos, df, nc, s)
        return -ll if np.isfinite(ll) else 1e300

    candidates = [tuple(map(float, s)) for s in (list(starts or []) + _moment_starts(e_pos))]
    # a coarse Nelder-Mead from every start, then a tight one from the best: never worse than any start
    best, best_val = None, np.inf
    for start in candidates:
        theta0 = np.log(np.maximum(np.asarray(start, np.float64), 1e-12))
        f0 = objective(theta0)
        res = minimize(objective, theta0, method="Nelder-Mead", options={"maxiter": 1000, "xatol": 1e-3,
                                                                          "fatol": 1e-3})
        val, theta = (res.fun, res.x) if res.fun <= f0 else (f0, theta0)
        if val < best_val:
            best_val, best = val, theta
    res = minimize(objective, best, method="Nelder-Mead", options={"maxiter": 3000, "xatol": 1e-7, "fatol": 1e-7})
    if res.fun <= best_val:
        best_val, best = res.fun, res.x
    df, nc, s = np.exp(best)
    return NCX2Fit(float(df), float(nc), float(s), -float(best_val))


# ---------------------------------------------------------------------------------------------
# The paper's estimator


def legacy_fallback_nats(eps, df, nc, scale):
    r"""The official code's fallback when ``ncx2.logcdf`` underflows: Sankaran's normal approximation
    :math:`z` of :math:`(x/(k+\lambda))^h` and :math:`I = z^2/2` nats, i.e. :math:`-\log\Phi(z)` without its
    :math:`\log(-z\sqrt{2\pi})` term, with :math:`h = 1 - \tfrac23(k+\lambda)(k+3\lambda)/(k+2\lambda)^2`,
    :math:`p = (k+2\lambda)/(k+\lambda)^2`, :math:`m = (h-1)(1-3h)`,
    :math:`z = [(x/(k+\lambda))^h - (1 + hp(h - 1 - \tfrac12(2-h)mp))] / [h\sqrt{2p}(1 + \tfrac12 mp)]`.

    References:
        Sankaran, Biometrika 1963; the official code of Boopathy et al. (arXiv 2406.15941);
        docs/inductive_bias.md, "Findings".
    """
    x = np.asarray(eps, np.float64) / scale
    h = 1 - 2.0 / 3.0 * (df + nc) * (df + 3 * nc) / (df + 2 * nc) ** 2
    p = (df + 2 * nc) / (df + nc) ** 2
    mm = (h - 1) * (1 - 3 * h)
    z = ((x / (df + nc)) ** h - (1 + h * p * (h - 1 - 0.5 * (2 - h) * mm * p))) / (h * np.sqrt(2 * p) *
                                                                                  (1 + 0.5 * mm * p))
    return z**2 / 2.0


def estimate_inductive_bias(errors, eps, *, base=2, fallback: str = "exact", fit: NCX2Fit | None = None,
                            fit_method: str = "robust"):
    r"""The paper's estimator: fit ``scale * chi^2_df(nc)`` to the sampled errors and return
    :math:`-\log_b F_{\chi^2_{k}(\lambda)}(\varepsilon/s)`.

    Args:
        errors: ``[N]`` sampled test errors (ignored when ``fit`` is given, except for validation).
        eps: error threshold(s), ``> 0``.
        base: logarithm base ``> 1`` (default bits).
        fallback: where SciPy's log-CDF underflows to ``-inf``: ``"exact"`` evaluates the fitted law by Ruben's
            log-space series; ``"legacy"`` reproduces the official code's normal-approximation fallback (nats
            :math:`z^2/2`, converted to ``base``).
        fit: a precomputed :class:`NCX2Fit` (else :func:`fit_scaled_ncx2` with ``fit_method``).
        fit_method: ``"robust"`` or ``"scipy_default"``.

    Returns:
        the estimate (float or array like ``eps``).

    References:
        Boopathy et al., IJCAI 2024 (arXiv 2406.15941), the fitted-distribution estimator;
        docs/inductive_bias.md, "Estimators" and "Findings".
    """
    from scipy import stats

    check_choice("fallback", fallback, ("exact", "legacy"))
    base = _check_base(base)
    e = _check_errors(errors, min_size=_MIN_FIT if fit is None else 1)
    epsa = check_array("eps", eps, low=0.0, low_open=True)
    if fit is None:
        fit = fit_scaled_ncx2(e, method=fit_method)
    if fallback == "exact":
        lp = np.asarray(scaled_ncx2_logcdf(epsa, fit.df, fit.nc, fit.scale))
        out = -lp / math.log(base)
    else:
        lp = np.asarray(stats.ncx2.logcdf(epsa / fit.scale, fit.df, fit.nc), np.float64)
        nats = np.where(np.isfinite(lp), -lp, legacy_fallback_nats(epsa, fit.df, fit.nc, fit.scale))
        out = nats / math.log(base)
    return float(out) if out.ndim == 0 else out


# ---------------------------------------------------------------------------------------------
# The empirical estimator


class EmpiricalBias(NamedTuple):
    """The empirical inductive bias ``-log_b(count / N)`` and its Clopper-Pearson interval ``[low, high]``."""

    value: float
    low: float
    high: float
    count: int
    num_samples: int


def clopper_pearson(count, n, level=0.95):
    """The exact (Clopper-Pearson) interval ``(p_low, p_high)`` for a binomial proportion ``count / n``."""
    alpha = 1.0 - level
    count, n = np.asarray(count), np.asarray(n)
    low = np.where(count > 0, special.betaincinv(count, n - count + 1, alpha / 2), 0.0)
    high = np.where(count < n, special.betaincinv(count + 1, n - count, 1 - alpha / 2), 1.0)
    return low, high


def empirical_inductive_bias(errors, eps, *, level=0.95, base=2) -> EmpiricalBias:
    r"""The empirical estimator :math:`\hat I = -\log_b(\#\{e_j \le \varepsilon\}/N)` with the Clopper-Pearson
    interval of the proportion mapped through :math:`-\log_b` (``high = inf`` when no error is below ``eps``).

    Estimating ``I`` bits to within ``r`` bits needs about :math:`N \gtrsim 2^I/(2^r - 1)^2` samples: exponential
    in ``I``, which is why the paper fits a parametric family.

    References:
        Clopper and Pearson, Biometrika 1934; Boopathy et al., IJCAI 2024 (arXiv 2406.15941), the approximation
        error in the number of sampled hypotheses; docs/inductive_bias.md, "Estimators".
    """
    e = _check_errors(errors)
    eps = check_real("eps", eps, low=0.0, low_open=True)
    level = check_real("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    base = _check_base(base)
    n = int(e.size)
    count = int(np.sum(e <= eps))
    p_lo, p_hi = clopper_pearson(count, n, level)
    ln_b = math.log(base)
    with np.errstate(divide="ignore"):
        value = -math.log(count / n) / ln_b if count else math.inf
        low = -math.log(float(p_hi)) / ln_b
        high = -math.log(float(p_lo)) / ln_b if p_lo > 0 else math.inf
    return EmpiricalBias(value + 0.0, max(low, 0.0) + 0.0, high, count, n)


def clopper_pearson_coverage(p, n, level=0.95):
    """The exact coverage probability of the Clopper-Pearson interval at true proportion ``p`` with ``n`` draws:
    :math:`\\sum_j \\mathrm{Bin}(j; n, p)\\,1[p \\in CI(j)]`."""
    from scipy import stats

    n = check_int("n", n, low=1)
    j = np.arange(n + 1)
    lo, hi = clopper_pearson(j, n, level)
    return float(np.sum(stats.binom.pmf(j, n, p) * ((lo <= p) & (p <= hi))))


def wald_coverage(p, n, level=0.95):
    """The exact coverage of the Wald interval ``p_hat +- z sqrt(p_hat (1 - p_hat) / n)`` (a rival)."""
    from scipy import stats

    j = np.arange(n + 1)
    ph = j / n
    half = special.ndtri(0.5 + level / 2) * np.sqrt(ph * (1 - ph) / n)
    return float(np.sum(stats.binom.pmf(j, n, p) * ((ph - half <= p) & (p <= ph + half))))
