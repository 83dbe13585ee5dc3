"""Figures of the comp-sum topic (PNG + the JSON numbers behind each).

``FIGURES`` maps a figure name to ``make(out_dir, scale, seed) -> [paths]``; ``theory figures`` and
the scripts in ``experiments/`` call them.

References:
    Mao, Mohri, Zhong, ICML 2023 (arXiv 2304.07288); Mao, Mohri, Zhong, NeurIPS 2023.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theory._figures import plt, save
from theory.compsum.bounds import consistency_bound, consistency_transform, sqrt_bound_constant, transform_at_one
from theory.compsum.box import t0_threshold
from theory.compsum.exact import bounded_logistic_transform, exact_transform, tightness_example
from theory.compsum.gaps import minimizability_gap_intercept
from theory.compsum.risks import surrogate_regret, zero_one_regret
from theory.compsum.simulate import make_linear_problem, train_linear

__all__ = ["FIGURES"]

TAUS = (0.0, 0.5, 1.0, 1.5, 2.0)


def bound_curves(out_dir, scale="default", seed=0):
    """T_{tau,n}(t) and Gamma_{tau,n}(eps) for several tau, with the square-root bounds (spec F1, F2)."""
    n = 10
    t = np.linspace(0, 1, 401)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    data = {"n_classes": n, "t": t, "T": {}, "eps": {}, "Gamma": {}, "sqrt_bound": {}}
    for tau in TAUS:
        T = consistency_transform(t, tau=tau, n_classes=n)
        ax1.plot(t, T, label=f"tau={tau:g}")
        eps = np.linspace(0, 1.05 * transform_at_one(tau=tau, n_classes=n), 401)
        gam = consistency_bound(eps, tau=tau, n_classes=n)
        line, = ax2.plot(eps, gam, label=f"tau={tau:g}")
        data["T"][tau], data["eps"][tau], data["Gamma"][tau] = T, eps, gam
        if tau < 2:
            sq = np.minimum(np.sqrt(sqrt_bound_constant(tau=tau, n_classes=n) * eps), 1.0)
            ax2.plot(eps, sq, "--", color=line.get_color(), lw=0.8)
            data["sqrt_bound"][tau] = sq
    ax1.set(xlabel="zero-one regret t", ylabel="T(t)", title=f"bound functions T, n={n}")
    ax2.set(xlabel="surrogate regret eps", ylabel="Gamma(eps)", title="Gamma = T^-1 (dashed: sqrt bounds)",
            xlim=(0, 1.05))
    ax1.legend()
    return save(fig, data, out_dir, "compsum_bound_curves")


def trained_pairs(out_dir, scale="default", seed=0):
    """(eps_tau, eps_01) of linear models along training, under Gamma_{tau,3}, with the tight points
    of spec P3 on the curve (spec F3)."""
    steps, seeds = {"smoke": (200, 1), "default": (1500, 5), "paper": (5000, 20)}[scale]
    n, taus = 3, (0.0, 1.0, 1.5, 2.0)
    with jax.enable_x64(True):
        k_data, k_train = jax.random.split(jax.random.key(seed))
        X, pi, P = make_linear_problem(k_data, n_classes=n, dtype=jnp.float64)
        e_tau, e_01 = (np.asarray(a) for a in train_linear(k_train, X, pi, P, taus=taus, n_seeds=seeds, steps=steps))
    fig, axes = plt.subplots(1, len(taus), figsize=(4 * len(taus), 3.6))
    data = {"n_classes": n, "steps": steps, "seeds": seeds, "panels": {}}
    for i, (tau, ax) in enumerate(zip(taus, axes, strict=True)):
        et, e0 = e_tau[i].ravel(), e_01[i].ravel()
        eps = np.geomspace(1e-5, max(et.max(), 1.0) * 1.5, 400)
        ax.plot(eps, consistency_bound(eps, tau=tau, n_classes=n), "k", label="Gamma")
        ax.set_xscale("log")
        ax.scatter(et, e0, s=3, alpha=0.4, label="trained linear models")
        ts = np.array([0.1, 0.3, 0.5]) if tau <= 1 else np.array([0.1, 0.3, 0.5]) / (n - 1) if tau == 2 else []
        tight = [tightness_example(t_, tau=tau, n_classes=n) for t_ in ts]
        te = [float(surrogate_regret(h, p, tau=tau)) for h, p in tight]
        t0 = [float(zero_one_regret(h, p)) for h, p in tight]
        if tight:
            ax.scatter(te, t0, marker="*", s=80, c="C3", label="tight instances")
        ax.set(title=f"tau={tau:g}", xlabel="eps_tau", ylabel="eps_01")
        data["panels"][tau] = {"eps_tau": et, "eps_01": e0, "tight_eps_tau": te, "tight_eps_01": t0,
                               "min_slack": float(np.min(consistency_bound(et, tau=tau, n_classes=n) - e0))}
    axes[0].legend(fontsize=7)
    return save(fig, data, out_dir, "compsum_trained_pairs")


def minimizability_gaps(out_dir, scale="default", seed=0):
    """Minimizability gaps vs tau: non-increasing for deterministic labels (MG3, box-bounded
    intercepts), not monotone for stochastic ones (MG1) (spec F4, P7)."""
    taus = np.linspace(0, 3, {"smoke": 7, "default": 31, "paper": 61}[scale])
    pi3 = np.full(3, 1 / 3)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    data = {"tau": taus, "deterministic": {}, "stochastic": {}}
    for lam in (0.5, 1.0, 2.0):
        gaps = [minimizability_gap_intercept(pi3, np.eye(3), tau=t, box=lam) for t in taus]
        ax1.plot(taus, gaps, label=f"Lambda={lam:g}")
        data["deterministic"][lam] = gaps
    P = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    pi = np.array([0.5, 0.5])
    for lam in (None, 0.5):
        gaps = [minimizability_gap_intercept(pi, P, tau=t, box=lam) for t in taus]
        ax2.plot(taus, gaps, label="complete" if lam is None else f"Lambda={lam:g}")
        data["stochastic"]["complete" if lam is None else lam] = gaps
    ax1.set(xlabel="tau", ylabel="M_tau", title="deterministic labels (MG3): non-increasing")
    ax2.set(xlabel="tau", ylabel="M_tau", title="stochastic labels (MG1): not monotone")
    ax1.legend()
    ax2.legend()
    return save(fig, data, out_dir, "compsum_minimizability_gaps")


def exact_transforms(out_dir, scale="default", seed=0):
    """Exact T* against the closed form: GCE with n = 3 is valid but not tight (spec F5), and
    box-bounded scores with n = 3 have a flat zero segment (spec F6, P8)."""
    t = np.linspace(0.02, 0.98, {"smoke": 5, "default": 17, "paper": 49}[scale])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    data = {"t": t, "gce": {}, "box": {}}
    for tau in (1.2, 1.5, 1.8):
        star = exact_transform(t, tau=tau, n_classes=3)
        closed = consistency_transform(t, tau=tau, n_classes=3)
        line, = ax1.plot(t, star, label=f"T* tau={tau:g}")
        ax1.plot(t, closed, "--", color=line.get_color(), lw=0.8)
        data["gce"][tau] = {"exact": star, "closed_form": closed}
    for lam in (0.25, 0.5, 1.0):
        star = exact_transform(t, tau=1.0, n_classes=3, box=lam)
        line, = ax2.plot(t, star, label=f"n=3, Lambda={lam:g}")
        ax2.axvline(t0_threshold(lam, 3), color=line.get_color(), ls=":", lw=0.8)
        two = bounded_logistic_transform(t, lam=lam)
        ax2.plot(t, two, "--", color=line.get_color(), lw=0.8)
        data["box"][lam] = {"exact_n3": star, "two_piece_n2": two, "t0": t0_threshold(lam, 3)}
    ax1.set(xlabel="t", ylabel="T(t)", title="GCE, n=3: exact T* (solid) vs T (dashed)")
    ax2.set(xlabel="t", ylabel="T*(t)", title="box-bounded logistic: n=3 (solid), n=2 (dashed)")
    ax1.legend()
    ax2.legend()
    return save(fig, data, out_dir, "compsum_exact_transforms")


FIGURES = {
    "bound_curves": bound_curves,
    "trained_pairs": trained_pairs,
    "minimizability_gaps": minimizability_gaps,
    "exact_transforms": exact_transforms,
}
