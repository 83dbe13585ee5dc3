"""Figures of the ``aggregate`` topic (PNG + the JSON numbers behind each; spec B5, Figs B1-B4).

``FIGURES`` maps a figure name to ``make(out_dir, scale, seed) -> [paths]``; ``theory figures`` and the
scripts in ``experiments/`` call them.

References:
    Javanmard et al., ICLR 2024 (arXiv 2401.11081), Sec. 3-4 figures (as recalled; regenerated from the
    closed forms of the project spec B3, with Monte-Carlo markers from the reduced model).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theory._figures import plt, save
from theory.aggregate.asymptotics import asymptotic_risk, optimal_rho
from theory.aggregate.privacy import optimal_bag_size
from theory.aggregate.simulate import conditional_bias_variance

__all__ = ["FIGURES"]

_MC = {"smoke": (60, 12), "default": (100, 30), "paper": (400, 100)}  # (d, draws): the claims' shapes


def bias_variance_vs_rho(out_dir, scale="default", seed=0):
    """Fig B1: bias², variance and risk vs rho in [0, 1] (gamma = 0.1, SNR = 1, k = 2, 4, 8), MC markers."""
    gamma, ks = 0.1, (2, 4, 8)
    rho = np.linspace(0, 1, 201)
    marks = np.array([0.0, 0.1, 0.2, 0.5, 1.0])  # 15 cases: padded to 16, as in the claims
    d, draws = _MC[scale]
    n = int(round(d / gamma))
    cases_k = np.repeat(ks, len(marks))
    cases_rho = np.tile(marks, len(ks))
    with jax.enable_x64(True):
        b, v = conditional_bias_variance(jax.random.key(seed), n_samples=np.full(len(cases_k), n), dim=d,
                                         bag_size=cases_k, rho=cases_rho, n_draws=draws, dtype=jnp.float64)
    b, v = np.asarray(b), np.asarray(v)
    mc = {"bias2": b, "variance": v, "risk": b + v}
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    data = {"gamma": gamma, "snr": 1.0, "rho": rho, "mc_rho": marks, "mc_dim": d, "mc_draws": draws, "curves": {}}
    for j, k in enumerate(ks):
        r = asymptotic_risk(gamma, k, rho)
        sl = slice(j * len(marks), (j + 1) * len(marks))
        entry = {"rho_star": optimal_rho(gamma, k)}
        for ax, what in zip(axes, ("bias2", "variance", "risk"), strict=True):
            line, = ax.plot(rho, getattr(r, what), label=f"k={k}")
            mean = mc[what][:, sl].mean(axis=0)
            se = mc[what][:, sl].std(axis=0, ddof=1) / np.sqrt(draws)
            ax.errorbar(marks, mean, yerr=2 * se, fmt="o", ms=4, color=line.get_color())
            entry[what] = getattr(r, what)
            entry[f"mc_{what}"] = mean
            entry[f"mc_{what}_se"] = se
        data["curves"][k] = entry
        axes[2].axvline(entry["rho_star"], color=line.get_color(), ls=":", lw=0.8)
    for ax, title in zip(axes, ("bias²", "variance", "risk (dotted: rho*)"), strict=True):
        ax.set(xlabel="rho", title=title)
    axes[2].set_ylim(0, 1.2)
    axes[1].set_yscale("log")
    axes[0].legend()
    return save(fig, data, out_dir, "aggregate_bias_variance_vs_rho")


def risk_vs_bag_size(out_dir, scale="default", seed=0):
    """Fig B2: risk vs bag size (gamma = 0.05, SNR = 1): bag level, instance level, optimal rho."""
    gamma = 0.05
    ks = np.arange(1, 13 if scale == "smoke" else 19)
    bag = [asymptotic_risk(gamma, int(k), 0.0).risk for k in ks]
    ins = [asymptotic_risk(gamma, int(k), 1.0).risk for k in ks]
    rhos = [optimal_rho(gamma, int(k)) for k in ks]
    opt = [asymptotic_risk(gamma, int(k), r).risk for k, r in zip(ks, rhos, strict=True)]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ks, bag, "o-", label="bag level (rho=0)")
    ax.plot(ks, ins, "s-", label="instance level (rho=1)")
    ax.plot(ks, opt, "^-", label="optimal rho in [0,1]")
    ax.set(xlabel="bag size k", ylabel="excess risk", title=f"gamma={gamma}, SNR=1", ylim=(0, 2))
    ax.legend()
    return save(fig, {"gamma": gamma, "k": ks, "bag": bag, "instance": ins, "optimal": opt, "rho_star": rhos},
                out_dir, "aggregate_risk_vs_bag_size")


def rho_star_vs_snr(out_dir, scale="default", seed=0):
    """Fig B3: rho* vs SNR (gamma = 0.1; k = 2, 4, 8), log-log; slope -> -1 at high SNR."""
    snr = np.geomspace(0.05, 20, 9 if scale == "smoke" else 41)
    fig, ax = plt.subplots(figsize=(6, 4))
    data = {"gamma": 0.1, "snr": snr, "rho_star": {}, "rho_star_constrained": {}}
    for k in (2, 4, 8):
        free = [optimal_rho(0.1, k, signal=s, constrained=False) for s in snr]
        con = [optimal_rho(0.1, k, signal=s) for s in snr]
        line, = ax.loglog(snr, free, label=f"k={k}")
        ax.loglog(snr, con, "--", color=line.get_color(), lw=0.8)
        data["rho_star"][k], data["rho_star_constrained"][k] = free, con
    ax.axhline(1.0, color="grey", lw=0.5)
    ax.set(xlabel="SNR = r²/sigma²", ylabel="rho*", title="optimal rho (dashed: constrained to [0, 1])")
    ax.legend()
    return save(fig, data, out_dir, "aggregate_rho_star_vs_snr")


def dp_risk_vs_bag_size(out_dir, scale="default", seed=0):
    """Fig B4: min_rho Risk_DP vs k for eps = 0.3, 1, 3 (gamma = 0.05, C = 1, SNR = 1; rho >= 0 free)."""
    k_max = 10 if scale == "smoke" else 20
    fig, ax = plt.subplots(figsize=(6, 4))
    data = {"gamma": 0.05, "clip": 1.0, "k": np.arange(1, k_max + 1), "curves": {}}
    for eps in (0.3, 1.0, 3.0):
        res = optimal_bag_size(0.05, epsilon=eps, max_bag_size=k_max, constrained=False)
        line, = ax.plot(data["k"], res.risks, "o-", ms=3, label=f"eps={eps:g} (k*={res.bag_size})")
        ax.plot([res.bag_size], [res.risk], "*", ms=14, color=line.get_color())
        data["curves"][eps] = {"risk": res.risks, "rho": res.rhos, "k_star": res.bag_size}
    ax.set(xlabel="bag size k", ylabel="min_rho DP risk", title="label-DP by aggregation", yscale="log")
    ax.legend()
    return save(fig, data, out_dir, "aggregate_dp_risk_vs_bag_size")


FIGURES = {
    "bias_variance_vs_rho": bias_variance_vs_rho,
    "risk_vs_bag_size": risk_vs_bag_size,
    "rho_star_vs_snr": rho_star_vs_snr,
    "dp_risk_vs_bag_size": dp_risk_vs_bag_size,
}
