"""Figures of the ``icl`` topic (PNG + the JSON numbers behind each), spec A5.

``FIGURES`` maps a name to ``make(out_dir, scale, seed) -> [paths]``; ``theory figures icl`` and the
scripts ``experiments/icl_*.py`` call them.

References:
    Mahankali, Hashimoto, Ma, ICLR 2024 (arXiv 2307.03576), Theorems 1-3.
"""

from __future__ import annotations

import jax
import numpy as np

from theory._figures import plt, save
from theory.icl import optimum
from theory.icl.claims import rotated_covariance, trapped_seeds
from theory.icl.lsa import effective_params
from theory.icl.simulate import gd_risk_coefficients, train_lsa

__all__ = ["FIGURES"]

_TRAIN = {"smoke": dict(steps=200, batch=128, n_seeds=1, lr=3e-2),
          "default": dict(steps=1500, batch=512, n_seeds=2, lr=1e-2),
          "paper": dict(steps=4000, batch=1024, n_seeds=4, lr=1e-2)}


def _learned(key, n, d, s2, scale, with_nuisance=False, **kw):
    W_KQ, W_PV, losses = train_lsa(key, n=n, d=d, noise_var=s2, **_TRAIN[scale], **kw)
    G, u, c, A, b = (np.asarray(a, np.float64) for a in effective_params(W_KQ, W_PV))
    if with_nuisance:
        nuis = np.maximum(np.linalg.norm(u, axis=1) * np.linalg.norm(A, axis=(1, 2)),
                          np.abs(c) * np.linalg.norm(b, axis=1))
        return G, np.asarray(losses, np.float64), nuis
    return G, np.asarray(losses, np.float64)


def step_sizes(out_dir, scale="default", seed=0):
    """Learned effective step tr(Gamma)/d vs n (linear and ReLU targets) and vs sigma^2 (spec Fig A3, A4)."""
    key = jax.random.key(seed)
    d, s2 = 3, 0.25
    ns = [10] if scale == "smoke" else [2, 5, 10, 20, 40]
    noise = [0.0, 4.0] if scale == "smoke" else [0.0, 0.25, 1.0, 4.0]
    data = {"d": d, "noise_var": s2, "ns": ns, "linear": [], "relu": [], "noise_vars": noise, "vs_noise": [],
            "trapped": []}
    for i, n in enumerate(ns):
        for j, target in enumerate(("linear", "relu")):
            G, losses, nuis = _learned(jax.random.fold_in(key, 10 * i + j), n, d, s2 if target == "linear" else 0.0,
                                       scale, with_nuisance=True, target=target)
            data[target].append(np.trace(G, axis1=1, axis2=2) / d)
            for s in trapped_seeds(losses[:, -50:].mean(axis=1)):
                data["trapped"].append({"target": target, "n": n, "seed": int(s), "step": data[target][-1][s],
                                        "final_loss": float(losses[s, -50:].mean()),
                                        "singular_values": np.linalg.svd(G[s], compute_uv=False),
                                        "nuisance": float(nuis[s])})
    for i, v in enumerate(noise):
        G, _ = _learned(jax.random.fold_in(key, 100 + i), 10, d, v, scale)
        data["vs_noise"].append(np.trace(G, axis1=1, axis2=2) / d)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    grid = np.arange(1, max(ns) + 1)
    ax1.plot(grid, [optimum.optimal_step_size(int(n), d, s2) for n in grid], "C0", label="n/(n+d+1+s2) (linear)")
    ax1.plot(grid, [optimum.relu_optimal_step_size(int(n), d, 0.0) for n in grid], "C3",
             label="n/(n+2d+3) (ReLU, s2=0)")
    for target, c in (("linear", "C0"), ("relu", "C3")):
        for n, e in zip(ns, data[target], strict=True):
            ax1.plot([n] * len(e), e, "o", color=c, ms=5, mfc="none")
    for t in data["trapped"]:
        ax1.plot(t["n"], t["step"], "x", color="k", ms=7)
    ax1.set(xlabel="context length n", ylabel="learned step tr(Gamma)/d",
            title=f"step vs n (d={d}); x = run stalled at a non-global stationary point")
    ax1.legend(fontsize=8)
    sg = np.linspace(0, max(noise), 100)
    ax2.plot(sg, [optimum.optimal_step_size(10, d, v) for v in sg], "C0", label="10/(14+s2)")
    for v, e in zip(noise, data["vs_noise"], strict=True):
        ax2.plot([v] * len(e), e, "o", color="C0", mfc="none")
    ax2.set(xlabel="noise variance s2", ylabel="learned step", title=f"step vs noise (n=10, d={d})")
    ax2.legend(fontsize=8)
    data["predicted_linear"] = [optimum.optimal_step_size(n, d, s2) for n in ns]
    data["predicted_relu"] = [optimum.relu_optimal_step_size(n, d, 0.0) for n in ns]
    data["predicted_vs_noise"] = [optimum.optimal_step_size(10, d, v) for v in noise]
    return save(fig, data, out_dir, "icl_step_sizes")


def loss_curves(out_dir, scale="default", seed=0):
    """Training loss converging to R* for several (n, d, s2); R*(n) against the MC optimum of one GD step."""
    key = jax.random.key(seed)
    points = [(10, 3, 0.25)] if scale == "smoke" else [(10, 4, 0.25), (20, 5, 1.0), (5, 3, 0.0)]
    data = {"points": points, "curves": [], "R_star": []}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for i, (n, d, s2) in enumerate(points):
        _, losses = _learned(jax.random.fold_in(key, i), n, d, s2, scale)
        w = max(1, losses.shape[1] // 100)
        smooth = losses.mean(axis=0)[: losses.shape[1] // w * w].reshape(-1, w).mean(axis=1)
        steps = (np.arange(smooth.size) + 0.5) * w
        r = optimum.optimal_risk(n, d, s2)
        line, = ax1.plot(steps, smooth, label=f"n={n}, d={d}, s2={s2:g}")
        ax1.axhline(r, color=line.get_color(), ls="--", lw=0.8)
        data["curves"].append({"steps": steps, "loss": smooth})
        data["R_star"].append(r)
    ax1.set(xlabel="Adam step", ylabel="training loss (RB estimate)", yscale="log", title="loss -> R* (dashed)")
    ax1.legend(fontsize=8)
    d = 5
    ns = [1, 5, 20] if scale == "smoke" else [1, 2, 5, 10, 20, 40]
    grid = np.arange(1, 41)
    data["risk_vs_n"] = {"d": d, "ns": ns, "sigmas": [0.0, 0.5, 1.0], "mc": [], "mc_se": []}
    batch = 2048 if scale == "smoke" else 16384
    for j, sig in enumerate((0.0, 0.5, 1.0)):
        line, = ax2.plot(grid, [optimum.optimal_risk(int(n), d, sig**2) for n in grid], label=f"R*, sigma={sig:g}")
        mins = []
        for k, n in enumerate(ns):
            q = gd_risk_coefficients(jax.random.fold_in(key, 1000 + 10 * j + k), n=n, d=d, batch=batch,
                                     replicates=8, noise_var=sig**2, n_pad=max(ns))
            mins.append(q[:, 0] - q[:, 1] ** 2 / q[:, 2])
        mins = np.array(mins)
        ax2.errorbar(ns, mins.mean(1), 4 * mins.std(1, ddof=1) / np.sqrt(8), fmt="o", color=line.get_color(),
                     mfc="none")
        ols = [sig**2 * (1 + d / (n - d - 1)) if n >= d + 2 else np.nan for n in grid]
        ax2.plot(grid, ols, ":", color=line.get_color(), lw=0.8)
        data["risk_vs_n"]["mc"].append(mins.mean(1))
        data["risk_vs_n"]["mc_se"].append(mins.std(1, ddof=1) / np.sqrt(8))
    ax2.set(xlabel="n", ylabel="risk", yscale="log", ylim=(0.05, 7), title="R*(n), d=5: markers = MC min over eta "
            "(4 SE); dotted = OLS")
    ax2.legend(fontsize=8)
    return save(fig, data, out_dir, "icl_loss_curves")


def preconditioner(out_dir, scale="default", seed=0):
    """Learned vs predicted Gamma for anisotropic covariates: heatmaps and spectra (spec Fig A2)."""
    key = jax.random.key(seed)
    n, s2, spectrum = 10, 0.25, [0.5, 1.0, 2.5]
    sx = rotated_covariance(spectrum, 0)
    sinv = np.linalg.inv(sx)
    cases = {"Sw = Sx^-1 (paper)": 0.5 * (sinv + sinv.T), "Sw = I": np.eye(3)}
    steps = {"smoke": 300, "default": 2500, "paper": 5000}[scale]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    data = {"n": n, "noise_var": s2, "spectrum_x": spectrum, "cases": {}}
    for row, (i, (name, sw)) in zip(axes, enumerate(cases.items()), strict=True):
        W_KQ, W_PV, losses = train_lsa(jax.random.fold_in(key, i), n=n, d=3, noise_var=s2, cov_x=sx, cov_w=sw,
                                       **{**_TRAIN[scale], "steps": steps, "n_seeds": 2 if scale != "smoke" else 1})
        Gs = np.asarray(effective_params(W_KQ, W_PV)[0], np.float64)
        final = np.asarray(losses[:, -50:], np.float64).mean(axis=1)
        best = int(np.argmin(final))  # best of the seeds (spec A7: rank-one trap); all seeds are in the JSON
        G = Gs[best]
        star = optimum.optimal_preconditioner(n, sx, sw, s2)
        vmax = np.abs(star).max()
        for ax, mat, title in ((row[0], G, f"learned, {name}"), (row[1], star, "closed form M^-1 B")):
            im = ax.imshow(mat, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.set(title=title, xticks=[], yticks=[])
            for (r, c), v in np.ndenumerate(mat):
                ax.text(c, r, f"{v:.3f}", ha="center", va="center", fontsize=8)
        fig.colorbar(im, ax=row[1], fraction=0.046)
        ev_l, ev_s = np.linalg.eigvalsh(0.5 * (G + G.T)), np.linalg.eigvalsh(star)
        row[2].plot(ev_s, ev_s, "k-", lw=0.8)
        row[2].plot(ev_s, ev_l, "o", mfc="none", label="learned")
        row[2].set(xlabel="predicted eigenvalue", ylabel="learned eigenvalue",
                   title=f"max|diff| = {np.abs(G - star).max():.4f}")
        data["cases"][name] = {"learned": Gs, "predicted": star, "final_loss": final, "best_seed": best,
                               "R_star": optimum.optimal_preconditioned_risk(n, sx, sw, s2),
                               "eig_learned": ev_l, "eig_predicted": ev_s,
                               "rel_frobenius": np.linalg.norm(G - star) / np.linalg.norm(star)}
    return save(fig, data, out_dir, "icl_preconditioner")


FIGURES = {"step_sizes": step_sizes, "loss_curves": loss_curves, "preconditioner": preconditioner}
