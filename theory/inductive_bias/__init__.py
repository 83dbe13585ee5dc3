"""Inductive bias of hypothesis spaces (topic ``theory.inductive_bias``): the exact test-error law of kernel
(Gaussian-process) hypotheses, a generalised chi-squared evaluated by Ruben's series, Imhof's integral or the
saddlepoint; rigorous bounds; the small-eps law; the paper's fitted scaled non-central chi-squared estimator and
the empirical estimator; JAX samplers of kernel and neural-network hypotheses.

All public functions are float64 and return natural-log probabilities unless they say bits; inductive bias is in
bits by default (``base=2``). Importing the topic is light: SciPy's integrators and optimisers, and optax, are
imported on first use.

References:
    A. Boopathy, W. Yue, J. Hwang, A. Iyer, I. Fiete, *Towards Exact Computation of Inductive Bias*, IJCAI 2024
    (arXiv 2406.15941), and the official code (``FieteLab/Exact-Inductive-Bias``); Ruben, Ann. Math. Stat. 1962;
    Imhof, Biometrika 1961; Barndorff-Nielsen, Biometrika 1991; ``docs/inductive_bias.md``.
"""

from theory.inductive_bias.estimators import (
    EmpiricalBias,
    NCX2Fit,
    clopper_pearson,
    empirical_inductive_bias,
    estimate_inductive_bias,
    fit_scaled_ncx2,
    inductive_bias,
    legacy_fallback_nats,
    scaled_ncx2_logcdf,
    scaled_ncx2_logpdf,
)
from theory.inductive_bias.gchisq import (
    METHODS,
    GChiSq,
    LogProb,
    chernoff_log_bound,
    imhof_logcdf,
    imhof_sf,
    log_chi2_cdf,
    ruben_first_term_log_bound,
    ruben_logcdf,
    saddlepoint_logcdf,
)
from theory.inductive_bias.kernel import (
    exact_inductive_bias,
    gp_posterior,
    posterior_sqrt,
    rbf_kernel,
    small_eps_inductive_bias,
    test_error_law,
)
from theory.inductive_bias.simulate import (
    gp_prior_task,
    init_mlp,
    kernel_test_errors,
    mlp_apply,
    nn_test_errors,
    sample_posterior_functions,
    sine_task,
    task_law,
)

__all__ = [
    "GChiSq",
    "LogProb",
    "METHODS",
    "ruben_logcdf",
    "imhof_sf",
    "imhof_logcdf",
    "saddlepoint_logcdf",
    "log_chi2_cdf",
    "chernoff_log_bound",
    "ruben_first_term_log_bound",
    "inductive_bias",
    "scaled_ncx2_logcdf",
    "scaled_ncx2_logpdf",
    "NCX2Fit",
    "fit_scaled_ncx2",
    "legacy_fallback_nats",
    "estimate_inductive_bias",
    "EmpiricalBias",
    "empirical_inductive_bias",
    "clopper_pearson",
    "rbf_kernel",
    "gp_posterior",
    "posterior_sqrt",
    "test_error_law",
    "exact_inductive_bias",
    "small_eps_inductive_bias",
    "sample_posterior_functions",
    "kernel_test_errors",
    "init_mlp",
    "mlp_apply",
    "nn_test_errors",
    "sine_task",
    "gp_prior_task",
    "task_law",
]
