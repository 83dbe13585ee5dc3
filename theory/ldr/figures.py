"""Figures of the ``ldr`` topic (PNG + the JSON numbers behind each).

``FIGURES`` maps a figure name to ``make(out_dir, scale, seed) -> [paths]``; ``theory figures`` and the
scripts in ``experiments/`` call them.

References:
    Zhu, Ying, Yang, ICML 2023 (arXiv 2112.14869).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from theory._figures import plt, save
from theory.ldr.losses import ldr_kl_loss
from theory.ldr.simulate import train_noisy

__all__ = ["FIGURES"]

LAMS = (0.0, 0.1, 0.5, 1.0, 3.0, 10.0, math.inf)


def loss_vs_margin(out_dir, scale="default", seed=0):
    """LDR-KL as a function of the score margin t = f_y - f_k (all k != y) for several lambda: from the
    Crammer-Singer hinge (lambda = 0) through CE - log K (lambda = 1) to the linear, symmetric mean
    (lambda = inf); right: the same losses against lambda at fixed scores (non-increasing, convex)."""
    K, c = 10, 1.0
    t = np.linspace(-4.0, 6.0, {"smoke": 41, "default": 401, "paper": 801}[scale])
    logits = np.zeros((t.size, K))
    logits[:, 0] = t
    labels = np.zeros(t.size, np.int32)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    data = {"K": K, "c": c, "t": t, "loss": {}, "lam_grid": None, "loss_vs_lam": {}}
    with jax.enable_x64(True):
        for lam in LAMS:
            v = np.asarray(ldr_kl_loss(jnp.asarray(logits), jnp.asarray(labels), lam=lam, margin=c))
            ax1.plot(t, v, label=f"lambda={lam:g}")
            data["loss"][f"{lam:g}"] = v
        lam_grid = np.geomspace(1e-2, 1e3, {"smoke": 21, "default": 121, "paper": 241}[scale])
        data["lam_grid"] = lam_grid
        for tt in (-1.0, 0.5, 2.0):
            f = np.zeros(K)
            f[0] = tt
            v = [float(ldr_kl_loss(jnp.asarray(f), jnp.asarray(0), lam=float(lam), margin=c)) for lam in lam_grid]
            ax2.semilogx(lam_grid, v, label=f"t={tt:g}")
            data["loss_vs_lam"][f"{tt:g}"] = v
    ax1.set(xlabel="margin t = f_y - f_k", ylabel="psi_lambda", title=f"LDR-KL, K={K}, c={c:g}")
    ax2.set(xlabel="lambda", ylabel="psi_lambda", title="non-increasing and convex in lambda")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
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


def noisy_accuracy(out_dir, scale="default", seed=0):
    """Clean test accuracy against the noise rate, uniform and pair-flip noise, for every loss (mean and
    95% t-interval over seeds; spec P-A13 on a synthetic Gaussian mixture, K = 10)."""
    uni = {"smoke": [0.0, 0.6], "default": [0.0, 0.2, 0.4, 0.6, 0.8], "paper": [0.0, 0.2, 0.4, 0.6, 0.8, 0.9]}[scale]
    pair = {"smoke": [0.3], "default": [0.1, 0.3, 0.45], "paper": [0.1, 0.2, 0.3, 0.4, 0.45]}[scale]
    sim = {"smoke": dict(n_seeds=2, steps=50, n_train=100, n_test=500, hidden=(16,)),
           "default": dict(n_seeds=8, steps=400, n_train=300, n_test=2000),
           "paper": dict(n_seeds=20, steps=2000, n_train=1000, n_test=5000, hidden=(64, 64))}[scale]
    losses = NOISY_LOSSES if scale != "smoke" else NOISY_LOSSES[:5]
    etas, kinds = uni + pair, [0] * len(uni) + [1] * len(pair)
    acc, noisy = train_noisy(jax.random.key(seed), losses=[(n, h) for _, n, h in losses], etas=etas, kinds=kinds,
                             **sim)
    acc = np.asarray(acc, np.float64)
    R = acc.shape[-1]
    mean = acc.mean(-1)
    half = stats.t.ppf(0.975, R - 1) * acc.std(-1, ddof=1) / math.sqrt(R) if R > 1 else np.zeros_like(mean)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    nu = len(uni)
    for i, (label, *_) in enumerate(losses):
        style = "-" if i < 6 else "--"
        axes[0].errorbar(uni, mean[i, :nu], half[i, :nu], fmt=style, marker="o", ms=3, capsize=2, label=label)
        axes[1].errorbar(pair, mean[i, nu:], half[i, nu:], fmt=style, marker="o", ms=3, capsize=2, label=label)
    axes[0].set(xlabel="uniform noise eta (flip rate 0.9 eta)", ylabel="clean test accuracy",
                title="uniform noise")
    axes[1].set(xlabel="pair-flip noise eta", ylabel="clean test accuracy", title="pair flip y -> y+1")
    axes[1].legend(fontsize=7, loc="lower left")
    data = {"losses": [list(x) for x in losses], "etas": etas, "kinds": kinds, "sim": sim,
            "accuracy_mean": mean, "ci95_half_width": half, "accuracy": acc,
            "noisy_fraction_mean": np.asarray(noisy).mean(-1)}
    return save(fig, data, out_dir, "ldr_noisy_accuracy")


FIGURES = {"loss_vs_margin": loss_vs_margin, "noisy_accuracy": noisy_accuracy}
