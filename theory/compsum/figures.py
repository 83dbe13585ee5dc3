"""Figures of the comp-sum topic (PNG + the JSON numbers behind each).

``FIGURES`` maps a figure name to ``make(out_dir, scale, seed) -> [paths]``; ``theory figures`` and
the scripts in ``experiments/`` call them. Every figure draws the closed forms (lines, ``predicted``) with
the measurements of the claims behind them (points, ``measured``): the regrets of the attaining
constructions, the trained linear models, the BFGS gaps, the exact transformation. These measurements
are exact (no sampling error), so they carry no confidence interval.

References:
    Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288); Mao, Mohri, Zhong, NeurIPS 2023.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theory._figures import measured, plt, predicted, save, series_style
from theory.compsum import gaps
from theory.compsum.bounds import consistency_bound, consistency_transform, sqrt_bound_constant, transform_at_one
from theory.compsum.box import t0_threshold
from theory.compsum.exact import bounded_logistic_transform, exact_transform, tightness_example
from theory.compsum.risks import surrogate_regret, zero_one_regret
from theory.compsum.simulate import make_linear_problem, train_linear

__all__ = ["FIGURES"]

TAUS = (0.0, 0.5, 1.0, 1.5, 2.0)
ICML = "ICML 2023"  # Mao, Mohri, Zhong (docs/compsum.md, references)
NEURIPS = "NeurIPS 2023"


def _tight_pairs(tau, n, ts):
    """(zero-one regret, surrogate regret) of the constructions attaining Theorem 3.1 (where they exist)."""
    if tau == 2.0:
        ts = [t / (n - 1) for t in ts]
    elif tau > 1.0 and n > 2:
        return np.zeros(0), np.zeros(0)
    cases = [tightness_example(t, tau=tau, num_classes=n) for t in ts]
    t01 = np.array([float(zero_one_regret(h, p)) for h, p in cases])
    eps = np.array([float(surrogate_regret(h, p, tau=tau)) for h, p in cases])
    return t01, eps


def bound_curves(out_dir, scale="default", seed=0):
    """T_{tau,n}(t) and Gamma_{tau,n}(eps) for several tau, with the square-root bounds (ICML 2023, Theorem 3.1
    and its corollary), and the regrets of the attaining constructions (claim ``compsum.tightness``) on them."""
    n = 10
    t = np.linspace(0, 1, 401)
    ts = (0.1, 0.3, 0.5, 0.7, 0.9)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    data = {"n_classes": n, "t": t, "T": {}, "eps": {}, "Gamma": {}, "sqrt_bound": {}, "tight": {}}
    for i, tau in enumerate(TAUS):
        style = series_style(i)
        line = {"color": style["color"], "linestyle": style["linestyle"]}
        T = consistency_transform(t, tau=tau, num_classes=n)
        predicted(ax1, t, T, label=f"T, tau={tau:g}", **line)
        eps = np.linspace(0, 1.05 * transform_at_one(tau=tau, num_classes=n), 401)
        gam = consistency_bound(eps, tau=tau, num_classes=n)
        predicted(ax2, eps, gam, label=f"Gamma, tau={tau:g}", **line)
        data["T"][tau], data["eps"][tau], data["Gamma"][tau] = T, eps, gam
        if tau < 2:
            sq = np.minimum(np.sqrt(sqrt_bound_constant(tau=tau, num_classes=n) * eps), 1.0)
            ax2.plot(eps, sq, color=style["color"], linestyle=":", linewidth=0.8)
            data["sqrt_bound"][tau] = sq
        t01, regret = _tight_pairs(tau, n, ts)
        if t01.size:
            measured(ax1, t01, regret, color=style["color"], marker=style["marker"])
            measured(ax2, regret, t01, color=style["color"], marker=style["marker"])
            data["tight"][tau] = {"zero_one_regret": t01, "surrogate_regret": regret}
    measured(ax1, [], [], color="grey", label="attaining (p, h): exact regrets")
    ax1.set(xlabel="zero-one regret t", ylabel="surrogate regret",
            title=f"{ICML}, Thm 3.1: T_(tau,{n})")
    ax2.set(xlabel="surrogate regret eps", ylabel="zero-one regret", xlim=(0, 1.05),
            title="Thm 3.1: Gamma = T^-1 (dotted: sqrt bounds)")
    ax1.legend()
    return save(fig, data, out_dir, "compsum_bound_curves")


def trained_pairs(out_dir, scale="default", seed=0):
    """(eps_tau, eps_01) of linear models along training (claim ``compsum.trained_linear``), under
    Gamma_{tau,3} (ICML 2023, Theorem 3.1), with the attaining constructions on the curve."""
    steps, seeds = {"smoke": (200, 1), "default": (1500, 5), "paper": (5000, 20)}[scale]
    n, taus = 3, (0.0, 1.0, 1.5, 2.0)
    with jax.enable_x64(True):
        k_data, k_train = jax.random.split(jax.random.key(seed))
        X, pi, P = make_linear_problem(key=k_data, num_classes=n, dtype=jnp.float64)
        e_tau, e_01 = (np.asarray(a) for a in train_linear(X, pi, P, key=k_train, taus=taus, num_replicates=seeds,
                                                           num_steps=steps))
    fig, axes = plt.subplots(1, len(taus), figsize=(4 * len(taus), 3.6))
    data = {"n_classes": n, "steps": steps, "seeds": seeds, "panels": {}}
    for i, (tau, ax) in enumerate(zip(taus, axes, strict=True)):
        et, e0 = e_tau[i].ravel(), e_01[i].ravel()
        eps = np.geomspace(1e-5, max(et.max(), 1.0) * 1.5, 400)
        predicted(ax, eps, consistency_bound(eps, tau=tau, num_classes=n), color="k", label="Gamma (Thm 3.1)")
        ax.set_xscale("log")
        style = series_style(0)
        measured(ax, et, e0, color=style["color"], marker=style["marker"], markersize=2, alpha=0.4,
                 label="GD iterates of linear models")
        t0, te = _tight_pairs(tau, n, (0.1, 0.3, 0.5))
        if t0.size:
            tight = series_style(3)
            measured(ax, te, t0, color=tight["color"], marker=tight["marker"], markersize=7,
                     label="attaining (p, h)")
        ax.set(title=f"{ICML}, Thm 3.1: tau={tau:g}, n={n}", xlabel="eps_tau", ylabel="eps_01")
        data["panels"][tau] = {"eps_tau": et, "eps_01": e0, "tight_eps_tau": te, "tight_eps_01": t0,
                               "min_slack": float(np.min(consistency_bound(et, tau=tau, num_classes=n) - e0))}
    axes[0].legend(fontsize=7, loc="center right")
    return save(fig, data, out_dir, "compsum_trained_pairs")


def minimizability_gaps(out_dir, scale="default", seed=0):
    """Minimizability gaps of intercept-only scores vs tau (ICML 2023, Section 4; NeurIPS 2023 for the box):
    non-increasing for deterministic labels, not monotone for stochastic ones, with the BFGS gaps of the claim
    ``compsum.gap_intercept`` on the complete curve."""
    taus = np.linspace(0, 3, {"smoke": 7, "default": 31, "paper": 61}[scale])
    measured_taus = taus[:: max(1, len(taus) // 6)]
    pi3 = np.full(3, 1 / 3)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    data = {"tau": taus, "deterministic": {}, "stochastic": {}, "measured_tau": measured_taus}
    for i, lam in enumerate((0.5, 1.0, 2.0)):
        g = [gaps.minimizability_gap_intercept(pi3, np.eye(3), tau=t, box=lam) for t in taus]
        style = series_style(i)
        predicted(ax1, taus, g, label=f"Lambda={lam:g}", color=style["color"], linestyle=style["linestyle"])
        data["deterministic"][lam] = g
    P = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    pi = np.array([0.5, 0.5])
    for i, lam in enumerate((None, 0.5)):
        name = "complete" if lam is None else f"Lambda={lam:g}"
        g = [gaps.minimizability_gap_intercept(pi, P, tau=t, box=lam) for t in taus]
        style = series_style(i)
        predicted(ax2, taus, g, label=name, color=style["color"], linestyle=style["linestyle"])
        data["stochastic"]["complete" if lam is None else lam] = g
    style = series_style(0)
    bfgs = [gaps._bfgs_intercept_gap(pi, P, t, 0) for t in measured_taus]  # the claim's measurement
    measured(ax2, measured_taus, bfgs, color=style["color"], marker=style["marker"], label="BFGS (complete)")
    data["stochastic"]["bfgs"] = bfgs
    ax1.set(xlabel="tau", ylabel="M_tau", title=f"{NEURIPS}: deterministic, |b| <= Lambda")
    ax2.set(xlabel="tau", ylabel="M_tau", title=f"{ICML}, Sec. 4: stochastic labels")
    ax1.legend()
    ax2.legend()
    return save(fig, data, out_dir, "compsum_minimizability_gaps")


def exact_transforms(out_dir, scale="default", seed=0):
    """The exact transformation T* (points, the measurement of ``compsum.gce_not_tight`` and
    ``compsum.box_flat_segment``) against the closed forms (lines): GCE with n = 3 is valid but not tight
    (ICML 2023, Thm 3.1), and box-bounded logistic scores with n = 3 have a flat zero segment up to t0
    (NeurIPS 2023, bounded hypothesis sets; docs/compsum.md#findings)."""
    t = np.linspace(0.02, 0.98, {"smoke": 5, "default": 17, "paper": 49}[scale])
    dense = np.linspace(0.0, 1.0, 201)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    data = {"t": t, "gce": {}, "box": {}}
    for i, tau in enumerate((1.2, 1.5, 1.8)):
        style = series_style(i)
        star = exact_transform(t, tau=tau, num_classes=3)
        closed = consistency_transform(t, tau=tau, num_classes=3)
        predicted(ax1, dense, consistency_transform(dense, tau=tau, num_classes=3), color=style["color"],
                  linestyle=style["linestyle"], label=f"T, tau={tau:g}")
        measured(ax1, t, star, color=style["color"], marker=style["marker"])
        data["gce"][tau] = {"exact": star, "closed_form": closed}
    measured(ax1, [], [], color="grey", label="exact T*")
    for i, lam in enumerate((0.25, 0.5, 1.0)):
        style = series_style(i)
        star = exact_transform(t, tau=1.0, num_classes=3, box=lam)
        t0 = t0_threshold(lam=lam, num_classes=3)
        measured(ax2, t, star, color=style["color"], marker=style["marker"],
                 label=f"exact T*, n=3, Lambda={lam:g} (line: n=2)")
        ax2.axvline(t0, color=style["color"], linestyle=":", linewidth=0.8)
        two = bounded_logistic_transform(t, lam=lam)
        predicted(ax2, dense, bounded_logistic_transform(dense, lam=lam), color=style["color"],
                  linestyle=style["linestyle"], linewidth=0.8)
        data["box"][lam] = {"exact_n3": star, "two_piece_n2": two, "t0": t0}
    ax1.set(xlabel="t", ylabel="T(t)", title=f"{ICML}, Thm 3.1: GCE, n=3")
    ax2.set(xlabel="t", ylabel="T*(t)", title=f"{NEURIPS}: box-bounded logistic")
    ax1.legend()
    ax2.legend()
    return save(fig, data, out_dir, "compsum_exact_transforms")


FIGURES = {
    "bound_curves": bound_curves,
    "trained_pairs": trained_pairs,
    "minimizability_gaps": minimizability_gaps,
    "exact_transforms": exact_transforms,
}
