"""Figures of the ``ldr`` topic (PNG + the JSON numbers behind each).

``FIGURES`` maps a figure name to ``make(out_dir, scale, seed) -> [paths]``; ``theory figures`` and the
scripts in ``experiments/`` call them. Predictions are drawn as lines and measurements as points (with
confidence intervals where they are random), in the shared style of :mod:`theory._figures`.

References:
    Zhu, Ying, Yang, *Label Distributionally Robust Losses for Multi-class Classification: Consistency,
    Robustness and Adaptivity*, ICML 2023 (arXiv 2112.14869); ``docs/ldr.md``, "Figures".
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from theory._figures import measured, plt, predicted, save, series_style
from theory.ldr.claims import NOISY_ACCURACY, NOISY_CONTRASTS, NOISY_DELTA, NOISY_K_SE
from theory.ldr.losses import ldr_kl_loss
from theory.ldr.simulate import train_noisy

__all__ = ["FIGURES"]

LAMS = (0.0, 0.1, 0.5, 1.0, 3.0, 10.0, math.inf)


def _expansions(a, lam):
    """The two-term approach to the limits of ``psi_lambda(a)``: ``max a + lambda log(m/K)`` (``m`` maximisers)
    as lambda -> 0, ``mean a + Var_u(a)/(2 lambda)`` as lambda -> inf (docs/ldr.md, "Derivations")."""
    K = a.size
    m = int(np.sum(a == a.max()))
    return a.max() + lam * math.log(m / K), a.mean() + np.var(a) / (2 * lam)


def loss_vs_margin(out_dir, scale="default", seed=0):
    """LDR-KL as a function of the score margin t = f_y - f_k (all k != y) for several lambda: from the
    Crammer-Singer hinge (lambda = 0) through CE - log K (lambda = 1) to the linear, symmetric mean
    (lambda = inf); right: the same loss against lambda at fixed scores (points), non-increasing and convex,
    with its two-term approach to the lambda = 0 and lambda = inf limits (lines; the claim ``ldr.limits``)."""
    K, c = 10, 1.0
    t = np.linspace(-4.0, 6.0, {"smoke": 41, "default": 401, "paper": 801}[scale])
    logits = np.zeros((t.size, K))
    logits[:, 0] = t
    labels = np.zeros(t.size, np.int32)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    data = {"K": K, "c": c, "t": t, "loss": {}, "lam_grid": None, "loss_vs_lam": {}, "expansions": {}}
    with jax.enable_x64(True):
        for i, lam in enumerate(LAMS):
            v = np.asarray(ldr_kl_loss(jnp.asarray(logits), jnp.asarray(labels), lam=lam, margin=c))
            style = series_style(i)
            style.pop("marker")
            predicted(ax1, t, v, label=f"lambda={lam:g}", **style)
            data["loss"][f"{lam:g}"] = v
        lam_grid = np.geomspace(1e-2, 1e3, {"smoke": 21, "default": 41, "paper": 81}[scale])
        data["lam_grid"] = lam_grid
        for i, tt in enumerate((-1.0, 0.5, 2.0)):
            f = np.zeros(K)
            f[0] = tt
            v = np.array([float(ldr_kl_loss(jnp.asarray(f), jnp.asarray(0), lam=float(lam), margin=c))
                          for lam in lam_grid])
            a = np.where(np.arange(K) == 0, 0.0, c + f - f[0])
            small, large = _expansions(a, lam_grid)
            style = series_style(i)
            measured(ax2, lam_grid, v, label=f"t={tt:g}: psi_lambda", color=style["color"], marker=style["marker"])
            near0, far = lam_grid <= 0.5, lam_grid >= 2.0
            predicted(ax2, lam_grid[near0], small[near0], color=style["color"], linestyle="--",
                      label=f"t={tt:g}: max a + lambda log(m/K)")
            predicted(ax2, lam_grid[far], large[far], color=style["color"], linestyle=":",
                      label=f"t={tt:g}: mean a + Var(a)/(2 lambda)")
            data["loss_vs_lam"][f"{tt:g}"] = v
            data["expansions"][f"{tt:g}"] = {"small_lambda": small, "large_lambda": large}
    ax1.set(xlabel="margin t = f_y - f_k", ylabel="psi_lambda", title=f"LDR-KL loss, K={K}, c={c:g}")
    ax2.set_xscale("log")
    ax2.set(xlabel="lambda", ylabel="psi_lambda", title="LDR-KL against lambda: limits and approach rates")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=6, loc="lower left", bbox_to_anchor=(0.3, 0.55))
    return save(fig, data, out_dir, "ldr_loss_vs_margin")


#: (label, loss, hyper) trained in :func:`noisy_accuracy`.
NOISY_LOSSES = (
    ("CE", "ce", 0.0),
    ("LDR-KL lam=1", "ldr_kl", 1.0),
    ("LDR-KL lam=10", "ldr_kl", 10.0),
    ("ALDR-KL lam0=10", "aldr_kl", 10.0),
    ("LDR-KL lam=10 (normalised)", "ldr_v1", 10.0),
    ("ALDR-KL lam0=10 (normalised)", "aldr_norm", 10.0),
    ("CS c=1", "cs", 1.0),
    ("WW c=1", "ww", 1.0),
    ("MAE", "mae", 0.0),
    ("GCE q=0.7", "gce", 0.7),
    ("SCE beta=0.5", "sce", 0.5),
)


def _offsets(n, width):
    """Small horizontal offsets so that ``n`` series at the same x stay apart."""
    return (np.arange(n) - (n - 1) / 2) * width / max(n - 1, 1)


def noisy_accuracy(out_dir, scale="default", seed=0):
    """Clean test accuracy against the noise rate, uniform and pair-flip noise, for every loss (mean and
    95% t-interval over seeds; a synthetic Gaussian mixture, K = 10), and the claim ``ldr.noisy_accuracy``
    on the same run: the paired accuracy difference of each LDR variant against CE (mean +- k SE, the
    claim's one-sided margin) with the claimed bound (-delta for "not less accurate", 0 for "more accurate")."""
    # at smoke scale, the trainer of the claim's smoke run (two noise settings, its seeds and sizes): one compile
    smoke = NOISY_ACCURACY.configs["smoke"]
    uni = {"smoke": [0.6], "default": [0.0, 0.2, 0.4, 0.6, 0.8], "paper": [0.0, 0.2, 0.4, 0.6, 0.8, 0.9]}[scale]
    pair = {"smoke": [0.3], "default": [0.1, 0.3, 0.45], "paper": [0.1, 0.2, 0.3, 0.4, 0.45]}[scale]
    sim = {"smoke": dict(n_seeds=smoke["seeds"], **smoke["sim"]),
           "default": dict(n_seeds=8, steps=400, n_train=300, n_test=2000),
           "paper": dict(n_seeds=20, steps=2000, n_train=1000, n_test=5000, hidden=(64, 64))}[scale]
    losses = NOISY_LOSSES if scale != "smoke" else NOISY_LOSSES[:5]
    etas, kinds = uni + pair, [0] * len(uni) + [1] * len(pair)
    acc, noisy = train_noisy(key=jax.random.key(seed), losses=[(n, h) for _, n, h in losses], etas=etas,
                             kinds=kinds, **sim)
    acc = np.asarray(acc, np.float64)
    R = acc.shape[-1]
    mean = acc.mean(-1)
    half = stats.t.ppf(0.975, R - 1) * acc.std(-1, ddof=1) / math.sqrt(R) if R > 1 else np.zeros_like(mean)
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    nu = len(uni)
    du, dp = _offsets(len(losses), 0.03), _offsets(len(losses), 0.02)
    for i, (label, *_) in enumerate(losses):
        style = series_style(i)
        for ax, x, cols, dx in ((axes[0], np.array(uni), slice(0, nu), du[i]), (axes[1], np.array(pair),
                                                                                  slice(nu, None), dp[i])):
            ax.plot(x + dx, mean[i, cols], color=style["color"], linestyle=style["linestyle"], linewidth=0.8)
            measured(ax, x + dx, mean[i, cols], low=mean[i, cols] - half[i, cols], high=mean[i, cols] + half[i, cols],
                     label=label if ax is axes[0] else None, color=style["color"], marker=style["marker"])
    axes[0].set(xlabel="uniform noise eta (flip rate 0.9 eta)", ylabel="clean test accuracy (mean, 95% CI)",
                title="clean accuracy, uniform (symmetric) noise")
    axes[1].set(xlabel="pair-flip noise eta", ylabel="clean test accuracy (mean, 95% CI)",
                title="clean accuracy, pair flip y -> y+1")
    axes[0].legend(fontsize=7, loc="lower left", ncol=2)
    for ax, x in ((axes[0], uni), (axes[1], pair)):
        ax.set_xlim(min(x) - 0.05, max(x) + 0.05)

    # The claim on the same run: paired differences vs CE at the uniform noise rates.
    index = {(n, h): i for i, (_, n, h) in enumerate(losses)}
    ce = index[("ce", 0.0)]
    claim = {}
    dc = _offsets(len(NOISY_CONTRASTS), 0.03)
    for i, (label, name, hyper, direction) in enumerate(NOISY_CONTRASTS):
        if (name, hyper) not in index:
            continue
        diffs = acc[index[(name, hyper)], :nu] - acc[ce, :nu]  # [eta, seed], paired
        d_mean = diffs.mean(-1)
        d_se = diffs.std(-1, ddof=1) / math.sqrt(R) if R > 1 else np.zeros_like(d_mean)
        style = series_style(i)
        measured(axes[2], np.array(uni) + dc[i], d_mean, stderr=d_se, k=NOISY_K_SE, label=f"{label} - CE",
                 color=style["color"], marker=style["marker"])
        bound = -NOISY_DELTA if direction == "not_worse" else 0.0
        claim[label] = {"mean": d_mean, "stderr": d_se, "claimed_lower_bound": bound, "direction": direction}
    span = [uni[0] - 0.05, uni[-1] + 0.05]
    predicted(axes[2], span, [-NOISY_DELTA] * 2, color="black", linestyle="--",
              label=f"claimed >= -delta = {-NOISY_DELTA:g} (not less accurate: raw scores)")
    predicted(axes[2], span, [0.0, 0.0], color="grey", linestyle=":", label="claimed > 0 (more accurate: normalised)")
    axes[2].set_xlim(*span)
    axes[2].set(xlabel="uniform noise eta", ylabel=f"paired accuracy difference vs CE (mean +- {NOISY_K_SE:g} SE)",
                title="claim ldr.noisy_accuracy: LDR variants vs CE")
    axes[2].legend(fontsize=7, loc="best")
    data = {"losses": [list(x) for x in losses], "etas": etas, "kinds": kinds, "sim": sim,
            "accuracy_mean": mean, "ci95_half_width": half, "accuracy": acc,
            "noisy_fraction_mean": np.asarray(noisy).mean(-1),
            "claim": {"id": "ldr.noisy_accuracy", "delta": NOISY_DELTA, "k_se": NOISY_K_SE, "etas": uni,
                      "paired_difference_vs_ce": claim}}
    return save(fig, data, out_dir, "ldr_noisy_accuracy")


FIGURES = {"loss_vs_margin": loss_vs_margin, "noisy_accuracy": noisy_accuracy}
