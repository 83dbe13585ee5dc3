"""Figures of the ``cnce`` topic (PNG + the JSON numbers behind each).

Each figure draws the library's exact predictions as lines and measurements as points with 95% confidence
intervals:

* ``landscapes``: NCE (normalised model), profiled NCE, eNCE and the compositional NLL against theta for R = 2, 4,
  8 (excess over the minimum, log scale), with Monte-Carlo estimates of the NLL and NCE losses from batches;
* ``convergence``: |theta_t - R| against steps for MECO, the plug-in, NCE and eNCE at R = 1 and R = 2.5 (the
  regime where MECO's variance takes over), with MECO's predicted stationary level;
* ``estimators``: the moving-average bias against gamma and the stationary error against the noise distance, the
  runs of the ``cnce.ma_bias`` and ``cnce.stationary_error`` claims;
* ``density_2d``: the ring of 8 Gaussians fitted by NCE and MECO (MLP energy), with the exact test NLLs;
* ``coupling``: E[q] of InfoNCE/DCL against the batch size, exact law, mean-field approximation and Monte Carlo.

``FIGURES`` maps a figure name to ``make(out_dir, scale, seed) -> [paths]``; ``theory figures`` and the scripts in
``experiments/`` call them.

References:
    Jiang et al., ICML 2023 (arXiv 2306.07485); Liu et al., ICLR 2022 (arXiv 2110.11271); Yeh et al., ECCV 2022
    (arXiv 2110.06848); docs/cnce.md.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from theory import _random
from theory._figures import measured, plt, predicted, save, series_style
from theory.cnce.claims import COUPLING, MA_BIAS, STATIONARY, _bias_measure, _coupling_measure, _stationary_measure
from theory.cnce.contrastive import expected_npc_multiplier, npc_multiplier_mean_field
from theory.cnce.density import fit_density_2d, ring_log_density
from theory.cnce.estimators import meco_gradient_bias, meco_stationary_mse
from theory.cnce.gaussian import (
    HALF_LOG_2PI,
    ence_gaussian_loss,
    gaussian_log_density,
    natural_log_unnormalised,
    population_nce_loss,
    profiled_nce_loss,
)
from theory.cnce.losses import compositional_nll, nce_loss
from theory.cnce.simulate import gaussian_mean_trajectories
from theory.verify import Measurement, claim_key

__all__ = ["FIGURES"]


def _ci(values):
    m = Measurement.from_replicates(values)
    low, high = m.confidence_interval(0.95)
    return m.estimate, low, high


def _mc_losses(key, R, thetas, reps, n):
    """Monte-Carlo compositional NLL and NCE loss (normalised model) at each theta: [reps, len(thetas)] each."""
    kx, kn = jax.random.split(key)
    x = R + _random.normal(kx, (reps, n))
    xn = _random.normal(kn, (reps, n))
    lq_x, lq_n = gaussian_log_density(x), gaussian_log_density(xn)
    nll, nce = [], []
    for t in thetas:
        lm, lmn = natural_log_unnormalised(t, x), natural_log_unnormalised(t, xn)
        nll.append(np.asarray(compositional_nll(lm, lmn, lq_n)))
        c = 0.5 * t * t + HALF_LOG_2PI
        nce.append(np.asarray(nce_loss(lm - c, lq_x, lmn - c, lq_n)))
    return np.stack(nll, 1), np.stack(nce, 1)


def landscapes(out_dir, scale="default", seed=0):
    """Excess losses over theta in [0, R] (log scale) for R = 2, 4, 8: MLE (compositional NLL with the exact Z),
    NCE with the normalised model, profiled NCE (c optimised) and eNCE; MC points for the NLL and NCE at R = 2, 4."""
    reps = {"smoke": 8, "default": 100, "paper": 400}[scale]
    grid_n = {"smoke": 15, "default": 60, "paper": 120}[scale]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    data = {}
    for ax, R in zip(axes, (2.0, 4.0, 8.0), strict=True):
        th = np.linspace(0.0, R, grid_n)
        mle = 0.5 * (th - R) ** 2
        nce = np.array([population_nce_loss(t, 0.5 * t * t + HALF_LOG_2PI, data_mean=R) for t in th])
        nce_min = population_nce_loss(R, 0.5 * R * R + HALF_LOG_2PI, data_mean=R)
        prof = profiled_nce_loss(th, data_mean=R) - float(profiled_nce_loss(R, data_mean=R))
        ence = ence_gaussian_loss(th, data_mean=R) - float(ence_gaussian_loss(R, data_mean=R))
        curves = {"compositional NLL (MLE)": mle, "NCE, normalised model": nce - nce_min,
                  "NCE, profiled c": prof, "eNCE, normalised model": ence}
        for j, (name, y) in enumerate(curves.items()):
            style = series_style(j)
            predicted(ax, th, np.maximum(y, 1e-12), label=name, color=style["color"], linestyle=style["linestyle"])
        data[f"R={R:g}"] = {"theta": th, **curves}
        if R <= 4:
            pts = np.linspace(0.0, R, 5)[:-1]
            nll, nce_mc = _mc_losses(jax.random.fold_in(jax.random.key(seed), int(R)), R, pts, reps, 2000)
            for j, (name, vals, offset) in enumerate((("MC compositional NLL", nll, 0.5 + HALF_LOG_2PI),
                                                      ("MC NCE", nce_mc, nce_min))):
                est, low, high = _ci(vals - offset)
                measured(ax, pts, np.maximum(est, 1e-12), low=np.maximum(low, 1e-12), high=high,
                         color=series_style(j)["color"], label=f"{name} ({reps} batches of 2000, 95% CI)")
                data[f"R={R:g}"][name] = {"theta": pts, "estimate": est, "ci_low": low, "ci_high": high}
        ax.set(yscale="log", xlabel="theta", ylabel="loss - min", title=f"R = {R:g} (noise N(0, 1))",
               ylim=(1e-7, 100))
        ax.legend(loc="lower left", fontsize=7)
    fig.suptitle("Landscapes: the NLL is a parabola, NCE and eNCE flatten as R grows", fontsize=10)
    return save(fig, data, out_dir, "cnce_landscapes")


def convergence(out_dir, scale="default", seed=0):
    """Mean |theta_t - R| (95% CI over replicates) for MECO (gamma 0.1), the plug-in, NCE and eNCE from theta = 0,
    natural parameterisation, B = m = 16, lr 0.05; dashed: MECO's predicted stationary mean |error|."""
    reps = {"smoke": 8, "default": 100, "paper": 400}[scale]
    steps = {"smoke": 200, "default": 2000, "paper": 4000}[scale]
    stride = max(steps // 100, 1)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    data = {}
    for ax, R in zip(axes, (1.0, 2.5), strict=True):
        data[f"R={R:g}"] = {}
        for j, method in enumerate(("meco", "plugin", "nce", "ence")):
            th = np.asarray(gaussian_mean_trajectories(key=jax.random.key(seed), method=method, data_mean=R,
                                                       num_steps=steps, lr=0.05, gamma=0.1, batch_size=16,
                                                       num_noise=16, num_replicates=reps, stride=stride), np.float64)
            err = np.minimum(np.abs(th - R), 1e3)
            t = np.arange(1, err.shape[1] + 1) * stride
            est, low, high = _ci(err)
            style = series_style(j)
            ax.plot(t, est, color=style["color"], lw=1.0)
            sub = slice(None, None, 10)
            measured(ax, t[sub], est[sub], low=low[sub], high=high[sub], color=style["color"],
                     marker=style["marker"], label=method)
            data[f"R={R:g}"][method] = {"step": t, "mean_abs_error": est, "ci_low": low, "ci_high": high}
        level = math.sqrt(2 / math.pi * meco_stationary_mse(R, lr=0.05, gamma=0.1, batch_size=16, num_noise=16))
        if math.isfinite(level):
            ax.axhline(level, color=series_style(0)["color"], linestyle="--", lw=1,
                       label="MECO predicted stationary E|error| (sqrt(2/pi) RMSE)")
        data[f"R={R:g}"]["meco_stationary_mean_abs_error"] = level
        ax.set(xscale="log", yscale="log", xlabel="step", ylabel="|theta_t - R|",
               title=f"R = {R:g}: chi^2(p_R || q) = {math.expm1(R * R):.3g}")
        ax.legend(loc="best")
    fig.suptitle(f"Gaussian mean estimation, {reps} paired replicates (same batches for every method)", fontsize=10)
    return save(fig, data, out_dir, "cnce_convergence")


def estimators(out_dir, scale="default", seed=0):
    """Left: MECO's gradient bias against gamma (second-order expansion, first order dashed, measured points).
    Right: MECO's stationary MSE against the noise distance (coupled Lyapunov prediction, the exact-Z formula)."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    cfg = MA_BIAS.config(scale)
    m = _bias_measure(claim_key(seed, MA_BIAS.id), cfg)
    gs = np.linspace(0.02, 1.0, 60)
    second = [-meco_gradient_bias(cfg["theta"], gamma=g, num_noise=cfg["m"]) for g in gs]
    first = [-meco_gradient_bias(cfg["theta"], gamma=g, num_noise=cfg["m"], order=1) for g in gs]
    predicted(ax, gs, second, label="second-order expansion", color="k")
    predicted(ax, gs, first, label="first order -gamma e^{s^2} s / m", color="0.5", linestyle="--")
    low, high = m.confidence_interval(0.95)
    measured(ax, cfg["gammas"], -m.estimate, low=-high, high=-low, color=series_style(1)["color"],
             label=f"measured ({m.replicates} replicates, 95% CI)")
    ax.set(xlabel="gamma (1 = plug-in)", ylabel="-bias of MECO's gradient",
           title=f"Moving-average bias at theta = {cfg['theta']:g}, m = {cfg['m']}")
    ax.legend()
    cfg2 = STATIONARY.config(scale)
    m2 = _stationary_measure(claim_key(seed, STATIONARY.id), cfg2)
    rs = np.linspace(0.0, 1.1, 40)
    kw = dict(lr=cfg2["lr"], gamma=cfg2["gamma"], batch_size=16, num_noise=16)
    coupled = [meco_stationary_mse(r, **kw) for r in rs]
    exact = [meco_stationary_mse(r, coupled=False, **kw) for r in rs]
    predicted(ax2, rs, coupled, label="MECO: linearised (theta, u) dynamics", color="k")
    predicted(ax2, rs, exact, label="exact-Z formula eta Var(G)/(2 - eta)", color="0.5", linestyle="--")
    low2, high2 = m2.confidence_interval(0.95)
    measured(ax2, cfg2["R"], m2.estimate, low=low2, high=high2, color=series_style(1)["color"],
             label=f"measured MECO ({m2.replicates} replicates, 95% CI)")
    ax2.set(yscale="log", xlabel="noise distance |R - mu_q|", ylabel="stationary E(theta - R)^2",
            title="Stationary error against the noise distance (natural parameterisation)")
    ax2.legend()
    data = {"bias": {"gamma_grid": gs, "second_order": second, "first_order": first, "gammas": cfg["gammas"],
                     "measured": -m.estimate, "ci_low": -high, "ci_high": -low},
            "stationary": {"distance_grid": rs, "coupled": coupled, "exact_z": exact, "distances": cfg2["R"],
                           "measured": m2.estimate, "ci_low": low2, "ci_high": high2}}
    return save(fig, data, out_dir, "cnce_estimators")


def density_2d(out_dir, scale="default", seed=0):
    """Ring of 8 Gaussians: true density and the NCE / MECO fits (seed 0 of each), with the exact test NLLs."""
    steps = {"smoke": 20, "default": 2000, "paper": 4000}[scale]
    reps = {"smoke": 1, "default": 2, "paper": 4}[scale]
    hidden = {"smoke": 8, "default": 64, "paper": 64}[scale]
    res = {m: fit_density_2d(key=jax.random.key(seed), method=m, num_steps=steps, hidden=hidden, num_replicates=reps)
           for m in ("nce", "meco")}
    g = np.linspace(-5, 5, 201)
    xx, yy = np.meshgrid(g, g)
    true = np.asarray(ring_log_density(jnp.asarray(np.stack([xx.ravel(), yy.ravel()], -1), jnp.float32)))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    panels = {"true ring": true, **{f"{m.upper()} fit": np.asarray(r["grid_log_density"][0]) for m, r in res.items()}}
    for ax, (name, logp) in zip(axes, panels.items(), strict=True):
        ax.contourf(xx, yy, np.exp(logp).reshape(xx.shape), levels=20, cmap="viridis")
        ax.set(aspect="equal", title=name, xlabel="x1", ylabel="x2")
    nll = {m: np.asarray(r["test_nll"]) for m, r in res.items()}
    base = res["nce"]
    fig.suptitle(f"Test NLL: NCE {nll['nce'].mean():.4f}, MECO {nll['meco'].mean():.4f}, noise alone "
                 f"{float(base['noise_nll'].mean()):.4f}, true {float(base['true_nll'].mean()):.4f} "
                 f"({reps} seeds, {steps} Adam steps, B = m = 256)", fontsize=10)
    data = {"test_nll": nll, "noise_nll": np.asarray(base["noise_nll"]), "true_nll": np.asarray(base["true_nll"]),
            "steps": steps, "replicates": reps}
    return save(fig, data, out_dir, "cnce_density_2d")


def coupling(out_dir, scale="default", seed=0):
    """E[q] against the batch size N (2N - 2 uniform negatives on S^127, tau = 0.1, s+ = 0.5): exact law, mean
    field, Monte Carlo (the run of ``cnce.coupling_batch_law``)."""
    cfg = COUPLING.config(scale)
    m = _coupling_measure(claim_key(seed, COUPLING.id), cfg)
    ns = np.unique(np.round(np.geomspace(2, 2048, 30)).astype(int))
    kw = dict(dim=cfg["dim"], temperature=cfg["tau"], positive=cfg["positive"])
    exact = [expected_npc_multiplier(int(n), **kw) for n in ns]
    mf = [npc_multiplier_mean_field(int(n), **kw) for n in ns]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    predicted(ax, ns, exact, label="exact E[q] (Laplace-transform quadrature)", color="k")
    predicted(ax, ns, mf, label="mean field U = (2N - 2) M_d(1/tau)", color="0.5", linestyle="--")
    low, high = m.confidence_interval(0.95)
    measured(ax, cfg["N"], m.estimate, low=low, high=high, color=series_style(1)["color"],
             label=f"Monte Carlo ({m.replicates} anchors, 95% CI)")
    ax.set(xscale="log", xlabel="batch size N", ylabel="E[q] (InfoNCE gradient = q x DCL gradient)",
           title="The coupling factor shrinks InfoNCE's gradient at small batches")
    ax.legend()
    data = {"N": ns, "exact": exact, "mean_field": mf, "mc_N": cfg["N"], "mc": m.estimate, "ci_low": low,
            "ci_high": high}
    return save(fig, data, out_dir, "cnce_coupling")


FIGURES = {
    "landscapes": landscapes,
    "convergence": convergence,
    "estimators": estimators,
    "density_2d": density_2d,
    "coupling": coupling,
}
