"""Figures of the ``moe`` topic: log-log convergence of the MLE (exact- and over-specified designs).

Each figure runs the claims' own experiment at the same scale and key (``theory verify moe`` judges the
very same fits) and draws, for each rate claim, the claim's measurement (geometric means over the
converged replicates, 95% intervals) next to its prediction (a line of the predicted slope through the
measured points). The plotted numbers, the weighted log-log slopes with their standard errors and the
non-converged counts go to JSON next to each PNG.

References:
    Nguyen, Akbarian, Yan, Ho, ICLR 2024 (arXiv 2309.13850), Thms 1-4, as recalled; ``docs/moe.md#figures``.
"""

from __future__ import annotations

import numpy as np

from theory._figures import measured, plt, predicted, save, series_style
from theory.moe.model import MoEParams
from theory.moe.simulate import EXACT_DESIGN, TRUTH, WRONG_TOP_K_DENSE_DESIGN, WRONG_TOP_K_ONE_DESIGN, population_kl
from theory.verify import claim_key

__all__ = ["FIGURES", "exact_rates", "over_rates"]


def _run(experiment, configs, scale, seed):
    cfg = dict(configs[scale])
    # the claims' own key: the figure shows the very experiment that `theory verify moe` judges
    return experiment.run(claim_key(seed, experiment.name), cfg), cfg


def _log_axes(ax, ns, **labels):
    """Log-log axes with the sample sizes as the x ticks (the default minor labels overlap)."""
    ax.set(xscale="log", yscale="log", **labels)
    ax.set_xticks(np.asarray(ns, float), [f"{int(n)}" for n in ns])
    ax.xaxis.set_minor_formatter(plt.NullFormatter())


def _claim_series(ax, claim, shared, cfg, i, label):
    """Draw a rate claim's measurement (points, 95% CI) and its predicted slope (a line through the points)."""
    m = claim.measure(None, cfg, shared)
    ns, est, se = np.asarray(m.inputs["n"]), np.asarray(m.estimate), np.asarray(m.stderr)
    slope, slope_se = claim.compare.fit(m)
    pred = float(claim.predict(cfg))
    style = series_style(i)
    # the claim's interval on the log scale (delta method: SE(log est) = se / est), so it stays positive
    spread = np.exp(1.96 * se / est)
    measured(ax, ns, est, low=est / spread, high=est * spread, color=style["color"], marker=style["marker"],
             label=f"{label}: slope {slope:.2f} ± {slope_se:.2f}")
    lx, ly = np.log(ns), np.log(est)
    line = np.exp(ly.mean() + pred * (lx - lx.mean()))
    relation = {"==": "", "<=": "bound "}[claim.compare.relation]
    predicted(ax, ns, line, color=style["color"], linestyle="--", linewidth=1,
              label=f"predicted {relation}slope {pred:g} ({claim.id})")
    return {"claim": claim.id, "n": ns, "estimate": est, "stderr": se, "slope": slope, "slope_se": slope_se,
            "predicted_slope": pred, "relation": claim.compare.relation, "note": m.note}


def exact_rates(out_dir, scale="default", seed=0):
    """Exact-specified MLE (top-2 of k = 3 experts): E_X h, D1 and the standardised intercept error against n,
    with the predicted n^-1/2; and the KL divergence of the wrong-top-K fits against its limit."""
    from theory.moe import claims

    shared, cfg = _run(claims.K3_EXPERIMENT, claims.K3_CONFIGS, scale, seed)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.4))
    data = {"config": cfg, "series": []}
    for i, (claim, label) in enumerate(((claims.EXACT_DENSITY_RATE, "E_X h"), (claims.EXACT_D1_RATE, "D1"),
                                        (claims.EXACT_B_RATE, "standardised |b - b*|"))):
        data["series"].append(_claim_series(ax1, claim, shared, cfg, i, label))
    _log_axes(ax1, shared["exact"]["ns"], xlabel="n", ylabel="geometric mean over converged replicates",
              title="exact-specified MLE: top-2 of k = 3 experts")
    ax1.legend(fontsize=7)
    data["wrong_top_k"] = _wrong_top_k_panel(ax2, shared, claims.WRONG_K_PLATEAU, cfg)
    data["non_converged"] = {k: int((~t["converged"]).sum()) for k, t in shared.items()}
    return save(fig, data, out_dir, "moe_exact_rates")


def _wrong_top_k_panel(ax, shared, claim, cfg):
    """Mean conditional KL of the fits with the right and the wrong number of selected experts, and the limits
    the claim predicts (the KL projections); the claim's extrapolated intercepts in the legend."""
    limits = np.asarray(claim.predict(cfg))
    intercepts = claim.measure(None, cfg, shared)
    out = {"predicted_limit": limits, "extrapolated": intercepts.estimate, "extrapolated_se": intercepts.stderr}
    designs = (("exact", EXACT_DESIGN, "correct"), ("dense", WRONG_TOP_K_DENSE_DESIGN, "dense"),
               ("one", WRONG_TOP_K_ONE_DESIGN, "too few"))
    for i, (name, design, what) in enumerate(designs):
        t = shared[name]
        ok, ns, P = t["converged"], t["ns"], t["params"]
        label = f"top_k_fit = {design.top_k_fit} ({what})"
        kl = population_kl(MoEParams(*(v.reshape(-1, *v.shape[2:]) for v in P)), TRUTH, top_k=design.top_k_fit,
                           top_k_star=design.top_k).reshape(ok.shape)
        rows = [kl[j][ok[j]] for j in range(len(ns))]
        mean = np.array([r.mean() for r in rows])
        se = np.array([r.std(ddof=1) / np.sqrt(len(r)) for r in rows])
        style = series_style(i)
        measured(ax, ns, mean, stderr=se, color=style["color"], marker=style["marker"], label=f"{label}: mean KL")
        out[name] = {"n": ns, "mean_kl": mean, "se": se}
        if name != "exact":
            j = i - 1
            predicted(ax, ns, np.full(len(ns), limits[j]), color=style["color"], linestyle="--", linewidth=1,
                      label=f"predicted limit {limits[j]:.4f} (extrapolated {intercepts.estimate[j]:.4f} "
                            f"± {1.96 * intercepts.stderr[j]:.4f})")
    _log_axes(ax, shared["exact"]["ns"], xlabel="n", ylabel="E_X KL(g* || g_Ghat)",
              title="wrong number of selected experts: the KL projection is the limit")
    ax.legend(fontsize=7)
    return out


def over_rates(out_dir, scale="default", seed=0):
    """Over-specified MLE (top-3 of k = 4 fitted experts, truth top-2 of 3): density, singleton-cell and
    split-cell errors against n with their predicted slopes (the split cell's is a bound)."""
    from theory.moe import claims

    shared, cfg = _run(claims.OVER_EXPERIMENT, claims.OVER_CONFIGS, scale, seed)
    t = shared["over"]
    fig, ax = plt.subplots(figsize=(6.8, 4.6))
    data = {"config": cfg, "series": []}
    for i, (claim, label) in enumerate(((claims.OVER_DENSITY_RATE, "E_X h"),
                                        (claims.OVER_SINGLETON_RATE, "singleton cells, standardised"),
                                        (claims.OVER_SPLIT_SLOW, "split cell max |b - b*|"))):
        data["series"].append(_claim_series(ax, claim, shared, cfg, i, label))
    _log_axes(ax, t["ns"], xlabel="n", ylabel="geometric mean over converged replicates",
              title="over-specified MLE: top-3 of k = 4 fitted experts (truth: top-2 of 3)")
    ax.legend(fontsize=7)
    ok = t["converged"]
    data["reported_not_claimed"] = {key: np.nanmean(np.where(ok, t[key], np.nan), axis=1)
                                    for key in ("weight_err", "split_beta1", "split_a", "split_v")}
    data["non_converged"] = int((~ok).sum())
    data["polish_gain_nats_max"] = float(np.max(t["polish_gain"] * t["ns"][:, None]))
    return save(fig, data, out_dir, "moe_over_rates")


FIGURES = {"exact_rates": exact_rates, "over_rates": over_rates}
