"""Figures of the ``aggregate`` topic (PNG + the JSON numbers behind each).

Every figure draws the library's closed form (lines) and the Monte-Carlo measurement behind the claims
(points with 95% confidence intervals): the exact reduced model of :mod:`theory.aggregate.simulate`, run
by the measurement function of the ``aggregate.mc_*`` claims (conditional bias², averaged over the
direction of theta_0, and variance per draw; d and draws as in the claims at each scale).

``FIGURES`` maps a figure name to ``make(out_dir, scale, seed) -> [paths]``; ``theory figures`` and the
scripts in ``experiments/`` call them.

References:
    Javanmard, Chen, Mirrokni, Badanidiyuru, Fu, *Learning from Aggregate Responses: Instance Level versus
    Bag Level Loss Functions*, ICLR 2024 (arXiv 2401.11081), Sec. 3-4 (the interpolating estimator's
    bias-variance trade-off, the optimal rho and label-DP aggregation; as recalled). The closed forms are
    derived by the library: docs/aggregate.md#derivations.
"""

from __future__ import annotations

import jax
import numpy as np

from theory._figures import measured, plt, predicted, save, series_style
from theory._random import numpy_rng
from theory.aggregate.asymptotics import asymptotic_risk, optimal_rho
from theory.aggregate.claims import _grid_cases, _grid_experiment
from theory.aggregate.privacy import effective_noise, optimal_bag_size
from theory.verify import Measurement

__all__ = ["FIGURES"]

_MC = {"smoke": (60, 12), "default": (100, 30), "paper": (400, 100)}  # (d, draws): the claims' shapes
_MEASURED = "Monte Carlo, reduced model (95% CI)"


def _monte_carlo(key, scale, grid, num_series):
    """(bias2, variance) per draw (rows) and (gamma, k, rho) case (columns) from the ``aggregate.mc_*`` claims'
    measurement (unit signal and noise), and the JSON record of the run: d, draws, and the actual gamma = d/n of
    each case (one row per series of ``grid``)."""
    d, draws = _MC[scale]
    cfg = {"dim": d, "draws": draws, "grid": grid}
    n, _, _ = _grid_cases(cfg)
    b, v = _grid_experiment(key, {**cfg, "max_samples": int(n.max())})
    return b, v, {"mc_gamma": (d / n).reshape(num_series, -1), "mc_dim": d, "mc_draws": draws}


def _draw_measured(ax, x, values, style, label=None):
    """Points at the mean over draws with the engine's 95% interval (``Measurement.confidence_interval``)."""
    m = Measurement.from_replicates(values)
    low, high = m.confidence_interval(0.95)
    measured(ax, x, m.estimate, low=low, high=high, color=style["color"], marker=style["marker"], label=label)
    return {"estimate": m.estimate, "ci_low": low, "ci_high": high}


def bias_variance_vs_rho(out_dir, scale="default", seed=0):
    """Bias², variance and excess risk of the interpolating estimator vs rho in [0, 1] (gamma = 0.1, SNR = 1,
    k = 2, 4, 8): closed form and Monte Carlo."""
    gamma, ks = 0.1, (2, 4, 8)
    rho = np.linspace(0, 1, 201)
    marks = np.array([0.0, 0.1, 0.2, 0.5, 1.0])
    b, v, run = _monte_carlo(jax.random.key(seed), scale, [(gamma, k, r) for k in ks for r in marks], len(ks))
    mc = {"bias2": b, "variance": v, "risk": b + v}
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    data = {"gamma": gamma, "snr": 1.0, "rho": rho, "mc_rho": marks, **run, "curves": {}}
    for j, k in enumerate(ks):
        style = series_style(j)
        r = asymptotic_risk(gamma, bag_size=k, rho=rho)
        cols = slice(j * len(marks), (j + 1) * len(marks))
        entry = {"rho_star": optimal_rho(gamma, bag_size=k)}
        for ax, what in zip(axes, ("bias2", "variance", "risk"), strict=True):
            predicted(ax, rho, getattr(r, what), label=f"k={k}: closed form", color=style["color"],
                      linestyle=style["linestyle"])
            entry[what] = getattr(r, what)
            entry[f"mc_{what}"] = _draw_measured(ax, marks, mc[what][:, cols], style,
                                                 label=f"k={k}: {_MEASURED}" if what == "bias2" else None)
        data["curves"][k] = entry
        axes[2].axvline(entry["rho_star"], color=style["color"], ls=":", lw=0.8)
    for ax, title in zip(axes, ("squared bias of θ̂_ρ", "variance of θ̂_ρ", "excess risk of θ̂_ρ (dotted: ρ*)"),
                         strict=True):
        ax.set(xlabel="ρ (0: bag-level loss, 1: instance-level loss)", title=title)
    axes[2].set_ylim(0, 1.2)
    axes[1].set_yscale("log")
    axes[0].legend()
    fig.suptitle(f"Interpolating estimator θ̂_ρ (Javanmard et al. 2024), γ = {gamma}, SNR = 1", fontsize=10)
    return save(fig, data, out_dir, "aggregate_bias_variance_vs_rho")


def risk_vs_bag_size(out_dir, scale="default", seed=0):
    """Excess risk vs bag size (gamma = 0.05, SNR = 1) of the bag-level, instance-level and optimally
    interpolated estimators: closed form and Monte Carlo."""
    gamma = 0.05
    ks = np.arange(1, 13 if scale == "smoke" else 19)
    rhos = optimal_rho(gamma, bag_size=ks)
    series = {"bag level (ρ=0)": np.zeros(len(ks)), "instance level (ρ=1)": np.ones(len(ks)),
              "optimal ρ* in [0, 1]": rhos}
    grid = [(gamma, int(k), float(r)) for rs in series.values() for k, r in zip(ks, rs, strict=True)]
    b, v, run = _monte_carlo(jax.random.key(seed), scale, grid, len(series))
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    data = {"gamma": gamma, "k": ks, "rho_star": rhos, **run, "curves": {}}
    for j, (name, rs) in enumerate(series.items()):
        style = series_style(j)
        curve = np.array([asymptotic_risk(gamma, bag_size=int(k), rho=r).risk for k, r in zip(ks, rs, strict=True)])
        predicted(ax, ks, curve, label=f"{name}: closed form", color=style["color"], linestyle=style["linestyle"])
        cols = slice(j * len(ks), (j + 1) * len(ks))
        data["curves"][name] = {"risk": curve, "mc_risk": _draw_measured(ax, ks, (b + v)[:, cols], style)}
    measured(ax, [], [], color="grey", label=_MEASURED)  # one legend entry for the points
    ax.set(xlabel="bag size k", ylabel="excess risk ‖θ̂ - θ₀‖²", ylim=(0, 2),
           title=f"Bag-level vs instance-level loss: risk vs bag size (γ = {gamma}, SNR = 1)")
    ax.legend()
    return save(fig, data, out_dir, "aggregate_risk_vs_bag_size")


def _measured_rho_star(b, v, rho_grid, snr, rng, n_boot=200):
    """The argmin over ``rho_grid`` of the mean Monte-Carlo risk ``snr b + v`` (refined by a parabola in log rho)
    and a bootstrap 95% interval over draws."""
    log_rho = np.log(rho_grid)

    def argmin(risk):
        i = int(np.clip(np.argmin(risk), 1, len(risk) - 2))
        (x0, x1, x2), (f0, f1, f2) = log_rho[i - 1: i + 2], risk[i - 1: i + 2]
        den = (x1 - x0) * (f1 - f2) - (x1 - x2) * (f1 - f0)
        x = x1 - 0.5 * ((x1 - x0) ** 2 * (f1 - f2) - (x1 - x2) ** 2 * (f1 - f0)) / den if den != 0 else x1
        return np.exp(np.clip(x, log_rho[i - 1], log_rho[i + 1]))

    draws = snr * b + v
    boot = [argmin(draws[rng.integers(0, len(draws), len(draws))].mean(axis=0)) for _ in range(n_boot)]
    return argmin(draws.mean(axis=0)), *np.percentile(boot, [2.5, 97.5])


def rho_star_vs_snr(out_dir, scale="default", seed=0):
    """The optimal interpolation weight rho* vs SNR (gamma = 0.1; k = 2, 4, 8), log-log: closed form (slope -> -1
    at high SNR) and the argmin of the Monte-Carlo risk over a rho grid."""
    gamma, ks = 0.1, (2, 4, 8)
    snr = np.geomspace(0.05, 20, 9 if scale == "smoke" else 41)
    snr_mc = np.geomspace(0.05, 20, 5 if scale == "smoke" else 9)
    rho_grid = np.geomspace(1e-3, 50.0, 25 if scale == "smoke" else 41)
    key = jax.random.key(seed)
    b, v, run = _monte_carlo(key, scale, [(gamma, k, float(r)) for k in ks for r in rho_grid], len(ks))
    rng = numpy_rng(jax.random.fold_in(key, 1))  # the bootstrap resamples
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    data = {"gamma": gamma, "snr": snr, "snr_mc": snr_mc, "rho_grid_mc": rho_grid, **run, "rho_star": {},
            "rho_star_constrained": {}, "mc_rho_star": {}}
    for j, k in enumerate(ks):
        style = series_style(j)
        free = optimal_rho(gamma, bag_size=k, signal=snr, constrained=False)
        con = optimal_rho(gamma, bag_size=k, signal=snr)
        predicted(ax, snr, free, label=f"k={k}: closed form", color=style["color"], linestyle=style["linestyle"])
        ax.plot(snr, con, "--", color=style["color"], lw=0.8)
        cols = slice(j * len(rho_grid), (j + 1) * len(rho_grid))
        est, low, high = np.array([_measured_rho_star(b[:, cols], v[:, cols], rho_grid, s, rng)
                                   for s in snr_mc]).T
        measured(ax, snr_mc, est, low=low, high=high, color=style["color"], marker=style["marker"])
        data["rho_star"][k], data["rho_star_constrained"][k] = free, con
        data["mc_rho_star"][k] = {"estimate": est, "ci_low": low, "ci_high": high}
    measured(ax, [], [], color="grey", label="argmin of the Monte-Carlo risk (bootstrap 95% CI)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", lw=0.5)
    ax.set(xlabel="SNR = r²/σ²", ylabel="ρ*",
           title=f"Optimal interpolation weight ρ* (γ = {gamma}; dashed: constrained to [0, 1])")
    ax.legend()
    return save(fig, data, out_dir, "aggregate_rho_star_vs_snr")


def dp_risk_vs_bag_size(out_dir, scale="default", seed=0):
    """min_rho Risk_DP vs k for eps = 0.3, 1, 3 (gamma = 0.05, C = 1, SNR = 1; rho >= 0 free): closed form and the
    Monte-Carlo risk of the reduced model at rho*(k) with the effective noise sigma^2_eff(k)."""
    gamma, clip, epsilons = 0.05, 1.0, (0.3, 1.0, 3.0)
    k_max = 10 if scale == "smoke" else 20
    ks = np.arange(1, k_max + 1)
    profiles = {eps: optimal_bag_size(gamma, epsilon=eps, clip=clip, max_bag_size=k_max, constrained=False)
                for eps in epsilons}
    grid = [(gamma, int(k), float(r)) for res in profiles.values() for k, r in zip(ks, res.rhos, strict=True)]
    b, v, run = _monte_carlo(jax.random.key(seed), scale, grid, len(epsilons))
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    data = {"gamma": gamma, "clip": clip, "k": ks, **run, "curves": {}}
    for j, (eps, res) in enumerate(profiles.items()):
        style = series_style(j)
        predicted(ax, ks, res.risks, label=f"ε={eps:g}: closed form (k*={res.bag_size})", color=style["color"],
                  linestyle=style["linestyle"])
        ax.plot([res.bag_size], [res.risk], "*", ms=14, color=style["color"])
        s2e = np.array([effective_noise(noise_var=1.0, bag_size=int(k), epsilon=eps, clip=clip) for k in ks])
        cols = slice(j * k_max, (j + 1) * k_max)
        mc = _draw_measured(ax, ks, b[:, cols] + s2e * v[:, cols], style)
        data["curves"][eps] = {"risk": res.risks, "rho": res.rhos, "k_star": res.bag_size, "mc_risk": mc}
    measured(ax, [], [], color="grey", label="Monte Carlo, reduced model with σ²_eff(k) (95% CI)")
    ax.set(xlabel="bag size k", ylabel="min over ρ of the DP risk", yscale="log",
           title=f"Label-DP by aggregation: risk vs bag size (γ = {gamma}, C = {clip:g}, SNR = 1)")
    ax.legend()
    return save(fig, data, out_dir, "aggregate_dp_risk_vs_bag_size")


FIGURES = {
    "bias_variance_vs_rho": bias_variance_vs_rho,
    "risk_vs_bag_size": risk_vs_bag_size,
    "rho_star_vs_snr": rho_star_vs_snr,
    "dp_risk_vs_bag_size": dp_risk_vs_bag_size,
}
