"""Figures of the ``inductive_bias`` topic (PNG + the JSON numbers behind each).

* ``bits_vs_eps``: inductive bias against the error threshold on the 2-D kernel task: the exact value (Ruben,
  Imhof or saddlepoint), its small-eps asymptote (slope D/2 bits per halving), the empirical estimate with its
  Clopper-Pearson interval, and the paper-style fitted scaled non-central chi-squared (exact tail and the official
  code's fallback);
* ``bits_vs_dimension``: the exact inductive bias against the input dimension on GP-prior tasks, two thresholds,
  mean over tasks with 95% intervals.

``FIGURES`` maps a figure name to ``make(out_dir, scale, seed) -> [paths]``; ``theory figures`` and the scripts in
``experiments/`` call them.

References:
    Boopathy et al., IJCAI 2024 (arXiv 2406.15941), Eq. 1, the fitted estimator and the dimension experiments;
    docs/inductive_bias.md.
"""

from __future__ import annotations

import math

import jax
import numpy as np

from theory._figures import measured, plt, predicted, save, series_style
from theory.inductive_bias.estimators import empirical_inductive_bias, estimate_inductive_bias, fit_scaled_ncx2
from theory.inductive_bias.kernel import exact_inductive_bias, small_eps_inductive_bias
from theory.inductive_bias.simulate import gp_prior_task, kernel_test_errors, sine_task, task_law
from theory.verify import Measurement

__all__ = ["FIGURES"]


def bits_vs_eps(out_dir, scale="default", seed=0):
    """I(eps) in bits on the 2-D task (n = 20, m = 30, RBF lengthscale 0.5): exact, small-eps asymptote, empirical
    (Clopper-Pearson 95%) and the fitted estimate on the first N_fit sampled errors."""
    n_mc = {"smoke": 20000, "default": 200000, "paper": 1000000}[scale]
    n_fit = {"smoke": 1000, "default": 10000, "paper": 10000}[scale]
    key = jax.random.key(seed)
    task = sine_task(jax.random.fold_in(key, 0))
    mean, cov, law = task_law(task, lengthscale=0.5)
    errors = np.asarray(kernel_test_errors(jax.random.fold_in(key, 1), mean, cov, task[3], num_samples=n_mc),
                        np.float64)
    eps = np.geomspace(errors.min() / 8, 2.0 * law.mean(), 40)
    exact = exact_inductive_bias(law, eps)
    asym = small_eps_inductive_bias(law, eps)
    fit = fit_scaled_ncx2(errors[:n_fit])
    fitted = estimate_inductive_bias(errors[:n_fit], eps, fit=fit)
    legacy = estimate_inductive_bias(errors[:n_fit], eps, fit=fit, fallback="legacy")
    emp_eps = np.geomspace(np.quantile(errors, 1e-3), law.mean(), 12)
    emp = [empirical_inductive_bias(errors, e) for e in emp_eps]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.6))
    predicted(ax, eps, exact, label=f"exact (D = {law.total_df:g})", color="k")
    predicted(ax, eps, fitted, label=f"fitted scaled ncx2 (N = {n_fit}, df = {fit.df:.2f})",
              color=series_style(1)["color"])
    ax.plot(eps, legacy, color=series_style(2)["color"], linestyle=":", label="fitted, official fallback")
    measured(ax, emp_eps, [e.value for e in emp], low=[e.low for e in emp], high=[e.high for e in emp],
             color=series_style(0)["color"], label=f"empirical (N = {n_mc}, Clopper-Pearson 95%)")
    ax.axvline(errors.min(), color="0.7", lw=0.8)
    ax.text(errors.min(), 1.0, " smallest sampled error", fontsize=7, color="0.4")
    ax.set(xscale="log", xlabel="error threshold eps", ylabel="inductive bias I(eps) [bits]", ylim=(0, None),
           title="Bulk and near tail: the fit bends away below the sample")
    ax.legend(loc="upper right")
    deep = np.geomspace(1e-14, errors.min(), 40)
    deep_exact = exact_inductive_bias(law, deep)
    deep_fit = estimate_inductive_bias(errors[:n_fit], deep, fit=fit)
    predicted(ax2, deep, deep_exact, label="exact", color="k")
    predicted(ax2, deep, small_eps_inductive_bias(law, deep), label="small-eps law (slope D/2 per halving)",
              color="0.5", linestyle="--")
    predicted(ax2, deep, deep_fit, label=f"fitted (slope df/2 = {fit.df / 2:.2f} per halving)",
              color=series_style(1)["color"])
    ax2.set(xscale="log", xlabel="error threshold eps", ylabel="inductive bias I(eps) [bits]",
            title=f"Deep tail: exact slope D/2 = {law.total_df / 2:g} bits per halving")
    ax2.legend(loc="upper right")
    checks = errors.min() / np.array([1.0, 2.0, 4.0])
    data = {"eps": eps, "exact_bits": exact, "asymptote_bits": asym, "fitted_bits": fitted, "legacy_bits": legacy,
            "fit": fit._asdict(), "n_fit": n_fit, "n_mc": n_mc, "D": law.total_df, "min_error": errors.min(),
            "deep": {"eps": deep, "exact_bits": deep_exact, "fitted_bits": deep_fit},
            "at_min_over_1_2_4": {"eps": checks, "exact_bits": exact_inductive_bias(law, checks),
                                  "fitted_bits": estimate_inductive_bias(errors[:n_fit], checks, fit=fit)},
            "empirical": {"eps": emp_eps, "bits": [e.value for e in emp], "low": [e.low for e in emp],
                          "high": [e.high for e in emp]}}
    return save(fig, data, out_dir, "inductive_bias_bits_vs_eps")


def bits_vs_dimension(out_dir, scale="default", seed=0):
    """The exact I(eps) (bits) against the input dimension on GP-prior tasks (n = m = 30, lengthscale sqrt(d)),
    eps = 0.5 and 0.2, mean over tasks with 95% intervals."""
    tasks = {"smoke": 2, "default": 12, "paper": 40}[scale]
    dims = (1, 4, 16) if scale == "smoke" else (1, 2, 4, 8, 16, 32)  # smoke: the test of the script, 6 exact laws
    eps_list = (0.5, 0.2)
    key = jax.random.key(seed)
    bits = np.empty((len(eps_list), tasks, len(dims)))
    for r in range(tasks):
        for j, d in enumerate(dims):
            _, _, law = task_law(gp_prior_task(jax.random.fold_in(key, r), d), lengthscale=math.sqrt(d))
            bits[:, r, j] = exact_inductive_bias(law, np.array(eps_list))
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    data = {"dims": dims, "tasks": tasks, "curves": {}}
    for i, e in enumerate(eps_list):
        m = Measurement.from_replicates(bits[i])
        low, high = m.confidence_interval(0.95)
        style = series_style(i)
        ax.plot(dims, m.estimate, color=style["color"], lw=1.0)
        measured(ax, dims, m.estimate, low=low, high=high, color=style["color"], marker=style["marker"],
                 label=f"eps = {e:g}")
        data["curves"][str(e)] = {"mean": m.estimate, "ci_low": low, "ci_high": high, "per_task": bits[i]}
    ax.set(xscale="log", xlabel="input dimension d", ylabel="exact inductive bias [bits]",
           title=f"Higher-dimensional tasks need more inductive bias ({tasks} tasks per d)")
    ax.set_xticks(dims, [str(d) for d in dims])
    ax.legend(loc="upper left")
    return save(fig, data, out_dir, "inductive_bias_bits_vs_dimension")


FIGURES = {
    "bits_vs_eps": bits_vs_eps,
    "bits_vs_dimension": bits_vs_dimension,
}
