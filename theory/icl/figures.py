"""Figures of the ``icl`` topic (PNG + the JSON numbers behind each).

``FIGURES`` maps a name to ``make(out_dir, scale, seed) -> [paths]``; ``theory figures icl`` and the
scripts ``experiments/icl_*.py`` call them. Each figure draws the closed form as lines and the measurement
behind the corresponding claim as points with confidence intervals (:mod:`theory._figures`).

References:
    Mahankali, Hashimoto, Ma, ICLR 2024 (arXiv 2307.03576), Theorems 1-3; docs/icl.md, "Figures".
"""

from __future__ import annotations

import jax
import numpy as np

from theory._figures import measured, plt, predicted, save, series_style
from theory.icl import optimum
from theory.icl.claims import _rotated, trapped_seeds
from theory.icl.lsa import effective_params
from theory.icl.simulate import gd_risk_coefficients, train_lsa

__all__ = ["FIGURES"]

_TRAIN = {"smoke": dict(num_steps=200, batch=128, num_replicates=1, lr=3e-2),
          "default": dict(num_steps=1500, batch=512, num_replicates=2, lr=1e-2),
          "paper": dict(num_steps=4000, batch=1024, num_replicates=4, lr=1e-2)}

#: Confidence level of the intervals drawn for the trained layers (mean over seeds +- 1.96 SE).
K_TRAINED = 1.96


def _iso(fn, n, d, s2):
    return fn(num_samples=int(n), dim=d, noise_var=s2)


def _learned(key, n, d, s2, scale, with_nuisance=False, **kw):
    W_KQ, W_PV, losses = train_lsa(key=key, num_samples=n, dim=d, noise_var=s2, **_TRAIN[scale], **kw)
    G, u, c, A, b = (np.asarray(a, np.float64) for a in effective_params(W_KQ, W_PV))
    if with_nuisance:
        nuis = np.maximum(np.linalg.norm(u, axis=1) * np.linalg.norm(A, axis=(1, 2)),
                          np.abs(c) * np.linalg.norm(b, axis=1))
        return G, np.asarray(losses, np.float64), nuis
    return G, np.asarray(losses, np.float64)


def _mean_se(values):
    """Mean and standard error over seeds (SE ``nan`` with one seed)."""
    v = np.asarray(values, np.float64)
    se = v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else np.nan
    return float(v.mean()), float(se)


def _draw_measured(ax, x, est, se, *, k, label, style):
    se = np.asarray(se, np.float64)
    measured(ax, x, est, stderr=None if np.any(np.isnan(se)) else se, k=k, label=label, color=style["color"],
             marker=style["marker"], markerfacecolor="none")


def step_sizes(out_dir, scale="default", seed=0):
    """Learned effective step tr(Gamma)/d vs n (linear and ReLU targets) and vs sigma^2, against Theorems 1 and 3."""
    key = jax.random.key(seed)
    d, s2 = 3, 0.25
    ns = [10] if scale == "smoke" else [2, 5, 10, 20, 40]
    noise = [0.0, 4.0] if scale == "smoke" else [0.0, 0.25, 1.0, 4.0]
    data = {"d": d, "noise_var": s2, "ns": ns, "linear": [], "relu": [], "noise_vars": noise, "vs_noise": [],
            "trapped": [], "mean": {"linear": [], "relu": [], "vs_noise": []},
            "se": {"linear": [], "relu": [], "vs_noise": []}}
    for i, n in enumerate(ns):
        for j, target in enumerate(("linear", "relu")):
            G, losses, nuis = _learned(jax.random.fold_in(key, 10 * i + j), n, d, s2 if target == "linear" else 0.0,
                                       scale, with_nuisance=True, target=target)
            steps = np.trace(G, axis1=1, axis2=2) / d
            data[target].append(steps)
            trapped = trapped_seeds(losses[:, -50:].mean(axis=1))
            for s in trapped:
                data["trapped"].append({"target": target, "n": n, "seed": int(s), "step": steps[s],
                                        "final_loss": float(losses[s, -50:].mean()),
                                        "singular_values": np.linalg.svd(G[s], compute_uv=False),
                                        "nuisance": float(nuis[s])})
            m, se = _mean_se(np.delete(steps, trapped))
            data["mean"][target].append(m)
            data["se"][target].append(se)
    for i, v in enumerate(noise):
        G, losses = _learned(jax.random.fold_in(key, 100 + i), 10, d, v, scale)
        steps = np.trace(G, axis1=1, axis2=2) / d
        data["vs_noise"].append(steps)
        m, se = _mean_se(np.delete(steps, trapped_seeds(losses[:, -50:].mean(axis=1))))
        data["mean"]["vs_noise"].append(m)
        data["se"]["vs_noise"].append(se)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    grid = np.arange(1, max(ns) + 1)
    curves = (("linear", optimum.optimal_step_size, s2, "Thm 1: n/(n+d+1+s2), s2 = 0.25"),
              ("relu", optimum.relu_optimal_step_size, 0.0, "Thm 3, ReLU targets: n/(n+2d+3), s2 = 0"))
    for i, (target, fn, v, label) in enumerate(curves):
        st = series_style(i)
        predicted(ax1, grid, [_iso(fn, n, d, v) for n in grid], label=label, color=st["color"])
        _draw_measured(ax1, ns, data["mean"][target], data["se"][target], k=K_TRAINED, style=st,
                       label=f"learned, {target} (mean +- {K_TRAINED} SE over seeds)")
    for t in data["trapped"]:
        ax1.plot(t["n"], t["step"], "x", color="k", ms=7)
    ax1.set(xlabel="context length n", ylabel="effective step tr(Gamma)/d",
            title=f"optimal step eta* vs n (d={d}); x = run stalled, left out")
    ax1.legend()
    sg = np.linspace(0, max(noise), 100)
    st = series_style(0)
    predicted(ax2, sg, [_iso(optimum.optimal_step_size, 10, d, v) for v in sg], label="Thm 1: 10/(14+s2)",
              color=st["color"])
    _draw_measured(ax2, noise, data["mean"]["vs_noise"], data["se"]["vs_noise"], k=K_TRAINED, style=st,
                   label=f"learned (mean +- {K_TRAINED} SE over seeds)")
    ax2.set(xlabel="noise variance s2", ylabel="effective step tr(Gamma)/d",
            title=f"optimal step eta* vs noise variance (n=10, d={d})")
    ax2.legend()
    data["predicted_linear"] = [_iso(optimum.optimal_step_size, n, d, s2) for n in ns]
    data["predicted_relu"] = [_iso(optimum.relu_optimal_step_size, n, d, 0.0) for n in ns]
    data["predicted_vs_noise"] = [_iso(optimum.optimal_step_size, 10, d, v) for v in noise]
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
        r = _iso(optimum.optimal_risk, n, d, s2)
        st = series_style(i)
        ax1.plot(steps, smooth, color=st["color"], label=f"training loss, n={n}, d={d}, s2={s2:g}")
        ax1.axhline(r, color=st["color"], ls="--", lw=0.8)
        data["curves"].append({"steps": steps, "loss": smooth})
        data["R_star"].append(r)
    ax1.set(xlabel="Adam step", ylabel="training loss (Rao-Blackwellised batch mean)", yscale="log",
            title="Thm 1: the pre-training loss tends to R* (dashed)")
    ax1.legend()
    d = 5
    ns = [1, 5, 20] if scale == "smoke" else [1, 2, 5, 10, 20, 40]
    grid = np.arange(1, 41)
    sigmas = (0.0, 0.5, 1.0)
    data["risk_vs_n"] = {"d": d, "ns": ns, "sigmas": list(sigmas), "mc": [], "mc_se": [], "k": 4}
    batch, reps = (2048 if scale == "smoke" else 16384), 8
    for j, sig in enumerate(sigmas):
        st = series_style(j)
        predicted(ax2, grid, [_iso(optimum.optimal_risk, n, d, sig**2) for n in grid], label=f"R*, sigma={sig:g}",
                  color=st["color"])
        mins = []
        for k, n in enumerate(ns):
            q = gd_risk_coefficients(key=jax.random.fold_in(key, 1000 + 10 * j + k), num_samples=n, dim=d,
                                     batch=batch, num_replicates=reps, noise_var=sig**2, num_samples_pad=max(ns))
            mins.append(q[:, 0] - q[:, 1] ** 2 / q[:, 2])
        mins = np.array(mins)
        se = mins.std(1, ddof=1) / np.sqrt(reps)
        _draw_measured(ax2, ns, mins.mean(1), se, k=4, style=st, label=None)
        ols = [sig**2 * (1 + d / (n - d - 1)) if n >= d + 2 else np.nan for n in grid]
        ax2.plot(grid, ols, ":", color=st["color"], lw=0.8)
        data["risk_vs_n"]["mc"].append(mins.mean(1))
        data["risk_vs_n"]["mc_se"].append(se)
    ax2.set(xlabel="n", ylabel="risk", yscale="log", ylim=(0.05, 7),
            title="Thm 1: R*(n), d=5; points: MC min over eta (4 SE); dotted: OLS")
    ax2.legend()
    return save(fig, data, out_dir, "icl_loss_curves")


def preconditioner(out_dir, scale="default", seed=0):
    """Learned vs predicted Gamma for anisotropic covariates (Theorem 2 and its general form): heatmaps and spectra."""
    key = jax.random.key(seed)
    n, s2, spectrum = 10, 0.25, [0.5, 1.0, 2.5]
    sx = _rotated(spectrum, np.random.default_rng(0))
    sinv = np.linalg.inv(sx)
    cases = {"Sw = Sx^-1 (paper)": 0.5 * (sinv + sinv.T), "Sw = I": np.eye(3)}
    closed_form = {"Sw = Sx^-1 (paper)": "Thm 2: Gamma* = eta* Sx^-1 = M^-1 B",
                   "Sw = I": "general form: Gamma* = M^-1 B (docs/icl.md)"}
    num_steps = {"smoke": 300, "default": 2500, "paper": 5000}[scale]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    data = {"n": n, "noise_var": s2, "spectrum_x": spectrum, "cases": {}}
    for row, (i, (name, sw)) in zip(axes, enumerate(cases.items()), strict=True):
        W_KQ, W_PV, losses = train_lsa(key=jax.random.fold_in(key, i), num_samples=n, dim=3, noise_var=s2, cov_x=sx,
                                       cov_w=sw, **{**_TRAIN[scale], "num_steps": num_steps,
                                                    "num_replicates": 2 if scale != "smoke" else 1})
        Gs = np.asarray(effective_params(W_KQ, W_PV)[0], np.float64)
        final = np.asarray(losses[:, -50:], np.float64).mean(axis=1)
        best = int(np.argmin(final))  # best of the seeds (a seed may stall); all seeds are in the JSON
        kept = np.delete(np.arange(len(final)), trapped_seeds(final))
        G = Gs[best]
        star = optimum.optimal_preconditioner(num_samples=n, cov_x=sx, cov_w=sw, noise_var=s2)
        vmax = np.abs(star).max()
        for ax, mat, title in ((row[0], G, f"learned Gamma, {name}"), (row[1], star, closed_form[name])):
            im = ax.imshow(mat, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.set(title=title, xticks=[], yticks=[])
            for (r, c), v in np.ndenumerate(mat):
                ax.text(c, r, f"{v:.3f}", ha="center", va="center", fontsize=8)
        fig.colorbar(im, ax=row[1], fraction=0.046)
        ev_s = np.linalg.eigvalsh(star)
        ev_seeds = np.array([np.linalg.eigvalsh(0.5 * (g + g.T)) for g in Gs[kept]])
        ev_l = ev_seeds.mean(axis=0)
        ev_se = ev_seeds.std(axis=0, ddof=1) / np.sqrt(len(kept)) if len(kept) > 1 else np.full(3, np.nan)
        predicted(row[2], ev_s, ev_s, label="predicted (Gamma* eigenvalues)", color="k", linewidth=0.8)
        _draw_measured(row[2], ev_s, ev_l, ev_se, k=K_TRAINED, style=series_style(i),
                       label=f"learned (mean +- {K_TRAINED} SE over seeds)")
        row[2].set(xlabel="eigenvalue of Gamma*", ylabel="eigenvalue of the learned Gamma",
                   title=f"spectrum; max|learned - Gamma*| = {np.abs(G - star).max():.4f}")
        row[2].legend()
        data["cases"][name] = {"learned": Gs, "predicted": star, "final_loss": final, "best_seed": best,
                               "R_star": optimum.optimal_preconditioned_risk(num_samples=n, cov_x=sx, cov_w=sw,
                                                                             noise_var=s2),
                               "eig_learned": ev_l, "eig_learned_se": ev_se, "eig_predicted": ev_s,
                               "rel_frobenius": np.linalg.norm(G - star) / np.linalg.norm(star)}
    return save(fig, data, out_dir, "icl_preconditioner")


FIGURES = {"step_sizes": step_sizes, "loss_curves": loss_curves, "preconditioner": preconditioner}
