"""Figures of the ``moe`` topic: log-log convergence of the MLE (exact- and over-specified designs).

Each figure reuses the rate experiment of the claims at the same scale (the same compiled fit; in
the process that ran ``theory verify moe`` the same measurement) and writes the plotted numbers,
fitted slopes with bootstrap intervals, and the non-converged counts to JSON.
"""

from __future__ import annotations

import numpy as np

from theory._figures import plt, save
from theory.moe.simulate import slope_ci
from theory.verify import claim_key

__all__ = ["FIGURES", "exact_rates", "over_rates"]


def _series(ax, table, key, label, marker):
    ok = table["converged"]
    vals = np.where(ok, table[key], np.nan)
    mean = np.nanmean(vals, axis=1)
    sd = np.nanstd(vals, axis=1, ddof=1) / np.sqrt(ok.sum(axis=1))
    slope, lo, hi = slope_ci(table["ns"], vals)
    ax.errorbar(table["ns"], mean, yerr=sd, marker=marker, capsize=3,
                label=f"{label}: slope {slope:.2f} [{lo:.2f}, {hi:.2f}]")
    return {"mean": mean, "se": sd, "slope": slope, "ci95": [lo, hi]}


def _guide(ax, ns, y0, slope, text):
    ns = np.asarray(ns, float)
    ax.plot(ns, y0 * (ns / ns[0]) ** slope, "k:", lw=1)
    ax.annotate(text, (ns[-1], y0 * (ns[-1] / ns[0]) ** slope), fontsize=8)


def _tables(group, scale, seed):
    from theory.moe import claims

    cfg = (claims.K3_CONFIGS if group == "k3" else claims.OVER_CONFIGS)[scale]
    # the claims' own group key: the figure shows the very experiment that `theory verify moe` judges
    return claims._group(group, claim_key(seed, f"moe.{group}"), dict(cfg)), cfg


def exact_rates(out_dir, scale="default", seed=0):
    """A-EXACT (k* = 3, K = 2): E_X h, D1 and max |b_hat - b*| vs n; and the wrong-K plateaus."""
    tables, cfg = _tables("k3", scale, seed)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    data = {"config": cfg, "ns": tables["exact"]["ns"]}
    for key, label, m in (("hellinger", "E_X h", "o"), ("D1", "D1", "s"), ("b_err", "max |db|", "^")):
        data[key] = _series(ax1, tables["exact"], key, label, m)
    _guide(ax1, tables["exact"]["ns"], data["hellinger"]["mean"][0] * 0.6, -0.5, "n^-1/2")
    ax1.set(xscale="log", yscale="log", xlabel="n", title="exact-specified MLE (A-EXACT)")
    ax1.legend(fontsize=8)
    for name, label, m in (("exact", "K_fit = 2 (correct)", "o"), ("dense", "K_fit = 3", "s"),
                           ("one", "K_fit = 1", "^")):
        data[f"hellinger_{name}"] = _series(ax2, tables[name], "hellinger", label, m)
    ax2.set(xscale="log", yscale="log", xlabel="n", ylabel="E_X h", title="wrong number of selected experts")
    ax2.legend(fontsize=8)
    data["non_converged"] = {k: int((~t["converged"]).sum()) for k, t in tables.items()}
    return save(fig, data, out_dir, "moe_exact_rates")


def over_rates(out_dir, scale="default", seed=0):
    """A-OVER (k = 4 atoms, K-bar = 3): density, singleton, split-cell and weight errors vs n."""
    tables, cfg = _tables("over", scale, seed)
    t = tables["over"]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    data = {"config": cfg, "ns": t["ns"]}
    for key, label, m in (("hellinger", "E_X h", "o"), ("b_err", "singleton max |db|", "^"),
                          ("weight_err", "cell weight-sum error", "v"), ("split_b", "split cell max |db|", "s"),
                          ("split_beta1", "split cell max |dbeta1|", "D")):
        data[key] = _series(ax, t, key, label, m)
    _guide(ax, t["ns"], data["hellinger"]["mean"][0] * 0.6, -0.5, "n^-1/2")
    ax.set(xscale="log", yscale="log", xlabel="n", title="over-specified MLE (A-OVER)")
    ax.legend(fontsize=7)
    data["non_converged"] = int((~t["converged"]).sum())
    data["polish_gain_nats_max"] = float(np.max(t["polish_gain"] * t["ns"][:, None]))
    return save(fig, data, out_dir, "moe_over_rates")


FIGURES = {"exact_rates": exact_rates, "over_rates": over_rates}
