"""Figures of the ``ensloss`` topic (PNG + the JSON numbers behind each).

Each figure draws the library's exact predictions as lines and the measurements behind the claims as points with
95% confidence intervals:

* ``derivative_bands``: generated loss-derivatives of one batch against the margin (mean and 5-95% band over
  draws) inside the CC cone, with the exact rank expectation, the large-batch limit and the classical losses;
* ``accuracy_curves``: test accuracy against training steps for EnsLoss and the fixed losses on breast cancer
  (linear) and digits one-vs-rest (MLP), the run of the ``ensloss.real_*`` claims;
* ``rank_limit``: the exact rank expectations at finite batch sizes converging to the limit G(u), with the CLT
  band and Monte-Carlo points.

``FIGURES`` maps a figure name to ``make(out_dir, scale, seed) -> [paths]``; ``theory figures`` and the scripts in
``experiments/`` call them.

References:
    Dai, ICML 2025 (arXiv 2409.00908), Algorithm 1, the CC conditions on loss-derivatives and the experiments;
    docs/ensloss.md.
"""

from __future__ import annotations

import jax
import numpy as np
from scipy import special

from theory._figures import measured, plt, predicted, save, series_style
from theory.ensloss.claims import NONINFERIORITY, _real_experiment
from theory.ensloss.generator import sample_ensloss_derivatives
from theory.ensloss.margin_losses import MARGIN_LOSSES
from theory.ensloss.order_stats import expected_rank_derivative, rank_limit, rank_limit_band
from theory.verify import Measurement, claim_key

__all__ = ["FIGURES"]

_EPS = 1e-6


def _ci(values):
    m = Measurement.from_replicates(values)
    low, high = m.confidence_interval(0.95)
    return m.estimate, low, high


def derivative_bands(out_dir, scale="default", seed=0):
    """One batch of B = 64 margins (quantiles of N(0.5, 1.5^2)): the generated derivatives' mean and 5-95% band
    over draws, the exact mean by rank, the large-batch limit G(F(z))/max(1, z), and the classical losses'
    derivatives, inside the CC cone (non-decreasing, -1 <= g < 0, |g| <= 1/z beyond z = 1)."""
    B, draws = 64, {"smoke": 500, "default": 4000, "paper": 40000}[scale]
    z = 0.5 + 1.5 * special.ndtri((np.arange(1, B + 1) - 0.5) / B)
    g = np.asarray(sample_ensloss_derivatives(jax.random.key(seed), np.broadcast_to(z, (draws, B)).astype(np.float32)),
                   np.float64)
    exact = expected_rank_derivative(B, np.arange(1, B + 1)) / np.maximum(z, 1.0) - _EPS
    grid = np.linspace(z.min(), z.max(), 400)
    limit = rank_limit(special.ndtr((grid - 0.5) / 1.5)) / np.maximum(grid, 1.0)
    est, low, high = _ci(g)
    q05, q95 = np.percentile(g, [5, 95], axis=0)
    fig, ax = plt.subplots(figsize=(10, 4.4))
    ax.fill_between(grid, np.where(grid > 1, -1.0 / np.maximum(grid, 1.0), -1.0), 0.0, color="0.92",
                    label="CC cone: -1 <= g < 0, |g| <= 1/z for z > 1")
    ax.fill_between(z, q05, q95, color=series_style(0)["color"], alpha=0.2, label="EnsLoss draws: 5-95% band")
    predicted(ax, z, exact, label="exact mean by rank (order statistics)", color=series_style(0)["color"])
    predicted(ax, grid, limit, label="large-batch limit G(F(z)) / max(1, z)", color="k", linestyle="--")
    measured(ax, z[::3], est[::3], low=low[::3], high=high[::3], color=series_style(0)["color"],
             label=f"mean over {draws} draws (95% CI)")
    data = {"batch_size": B, "draws": draws, "z": z, "exact_mean": exact, "measured_mean": est, "ci_low": low,
            "ci_high": high, "q05": q05, "q95": q95, "limit_z": grid, "limit": limit, "classical": {}}
    for j, name in enumerate(("logistic", "hinge", "exponential", "squared_hinge"), start=1):
        d = np.asarray(MARGIN_LOSSES[name][1](grid), np.float64)
        style = series_style(j)
        ax.plot(grid, np.maximum(d, -2.0), color=style["color"], linestyle=":", lw=1.2,
                label=f"{name} φ'(z)" + (" (cut at -2)" if d.min() < -2 else ""))
        data["classical"][name] = d
    ax.set(xlabel="margin z = y f(x)", ylabel="loss-derivative g", ylim=(-2.05, 0.1),
           title="Generated loss-derivatives of one batch (B = 64, Box-Cox λ = 0)")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save(fig, data, out_dir, "ensloss_derivative_bands")


def accuracy_curves(out_dir, scale="default", seed=0):
    """Test accuracy against SGD steps (mean over splits with 95% CIs) of EnsLoss and the fixed losses: breast cancer
    with a linear model and digits one-vs-rest with an MLP (the configuration and key of the real-data claims)."""
    cfg = NONINFERIORITY.config(scale)
    runs = _real_experiment(claim_key(seed, "ensloss.real"), cfg)
    fig, axes = plt.subplots(1, len(runs), figsize=(6.2 * len(runs), 4.2), squeeze=False)
    data = {}
    for ax, (task, res) in zip(axes[0], runs.items(), strict=True):
        data[task] = {"steps": res["steps"], "curves": {}}
        for j, name in enumerate(res["losses"]):
            style = series_style(j)
            est, low, high = _ci(res["test_accuracy"][j])
            ax.plot(res["steps"], est, color=style["color"], linestyle=style["linestyle"], lw=1.2)
            measured(ax, res["steps"], est, low=low, high=high, color=style["color"], marker=style["marker"],
                     label=name)
            train = res["train_accuracy"][j].mean(axis=0)
            data[task]["curves"][name] = {"test": est, "ci_low": low, "ci_high": high, "train": train}
        reps = res["test_accuracy"].shape[1]
        ax.set(xlabel="SGD step", ylabel="test accuracy", title=f"{task}: {reps} random 70/30 splits")
        ax.legend(loc="best")
    fig.suptitle("EnsLoss vs fixed losses, same splits, initialisations and batches (95% CIs)", fontsize=10)
    return save(fig, data, out_dir, "ensloss_accuracy_curves")


def rank_limit_figure(out_dir, scale="default", seed=0):
    """The exact expected derivative by rank quantile at B = 16, 64, 256 (order-statistic quadrature), the limit
    G(u) with the CLT band at B = 64, Monte-Carlo means at B = 64; right: the limit for several Box-Cox values."""
    sizes = (16, 64, 256)
    draws = {"smoke": 500, "default": 4000, "paper": 40000}[scale]
    u = np.linspace(0.001, 0.999, 500)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    data = {"u": u, "limit": rank_limit(u), "exact": {}, "box_cox": {}}
    inner = (u >= 0.05) & (u <= 0.95)
    band = rank_limit_band(u[inner], 64)
    ax.fill_between(u[inner], rank_limit(u[inner]) - band, np.minimum(rank_limit(u[inner]) + band, 0.0), color="0.9",
                    label="CLT band at B = 64 (u in [0.05, 0.95])")
    predicted(ax, u, rank_limit(u), label="limit G(u) = -min(1, exp(-Φ⁻¹(u)))", color="k")
    for j, B in enumerate(sizes, start=1):
        ranks = np.arange(1, B + 1)
        ex = expected_rank_derivative(B, ranks)
        style = series_style(j)
        ax.plot(ranks / (B + 1), ex, color=style["color"], linestyle=style["linestyle"], lw=1.0,
                label=f"exact E v_(i), B = {B}")
        data["exact"][B] = ex
    B = 64
    z = np.broadcast_to(np.linspace(-3.0, 1.0, B), (draws, B)).astype(np.float32)
    v = np.asarray(sample_ensloss_derivatives(jax.random.key(seed), z), np.float64) + _EPS
    est, low, high = _ci(v)
    uu = np.arange(1, B + 1) / (B + 1)
    measured(ax, uu[::2], est[::2], low=low[::2], high=high[::2], color=series_style(2)["color"],
             label=f"Monte Carlo, B = 64 ({draws} batches, 95% CI)")
    data["mc_b64"] = {"u": uu, "estimate": est, "ci_low": low, "ci_high": high}
    ax.set(xlabel="rank quantile u = i / (B + 1)", ylabel="expected derivative (before tail and ε)",
           title="Rank expectations converge to the limit G(u)")
    ax.legend(loc="upper left")
    for j, lam in enumerate((-1.0, -0.5, 0.0, 0.5, 1.0)):
        style = series_style(j)
        G = rank_limit(u, box_cox=lam)
        ax2.plot(u, G, color=style["color"], linestyle=style["linestyle"], label=f"Box-Cox λ = {lam:g}")
        data["box_cox"][lam] = G
    ax2.set(xlabel="rank quantile u", ylabel="G(u)", title="Limit G(u) = -min(1, BC⁻¹(Φ⁻¹(1 - u); λ))")
    ax2.legend(loc="lower right")
    return save(fig, data, out_dir, "ensloss_rank_limit")


FIGURES = {
    "derivative_bands": derivative_bands,
    "accuracy_curves": accuracy_curves,
    "rank_limit": rank_limit_figure,
}
