"""Unnormalised models by compositional optimisation (topic ``theory.cnce``): NCE and eNCE against the
compositional negative log-likelihood optimised with a moving-average inner estimate (MECO), the Gaussian family's
closed forms (partition function, chi-squared divergence to the noise, the NCE Hessian and its flattening), and
the contrastive losses that share the primitive tau log E exp(h / tau): InfoNCE vs DCL, Wang & Liu's hardness
weights and iSogCLR's robust loss.

Importing the topic is light: SciPy (quadrature), optax (the 2-D density fit) and cvxpy (the DRO primal, in the
claims and proofs only) are imported on first use.

References:
    Jiang, Qin, Wu, Chen, Yang, Zhang, *Learning Unnormalized Statistical Models via Compositional Optimization*,
    ICML 2023 (arXiv 2306.07485); Gutmann, Hyvarinen, JMLR 2012; Liu, Rosenfeld, Ravikumar, Risteski, ICLR 2022
    (arXiv 2110.11271); Wang, Liu, CVPR 2021 (arXiv 2012.09740); Yeh et al., ECCV 2022 (arXiv 2110.06848); Qiu et
    al., ICML 2023 (arXiv 2305.11965); ``docs/cnce.md``.
"""

from theory.cnce.contrastive import (
    contrastive_loss,
    dcl_loss,
    expected_npc_multiplier,
    hardness_weights,
    infonce_loss,
    npc_multiplier,
    npc_multiplier_mean_field,
    robust_gcl_dual,
    robust_gcl_objective,
    robust_gcl_temperature_gradient,
)
from theory.cnce.estimators import (
    ma_stationary_variance,
    meco_gradient_bias,
    meco_stationary_mse,
    weighted_score_moment,
)
from theory.cnce.gaussian import (
    PARAMETERISATIONS,
    ence_curvature,
    ence_gaussian_loss,
    gaussian_chi2,
    gaussian_log_density,
    gaussian_log_partition,
    gaussian_nll,
    gaussian_partition,
    gaussian_score_moment,
    log_unnormalised,
    meco_gradient_variance,
    natural_log_unnormalised,
    nce_hessian_at_optimum,
    nce_min_eigenvalue,
    nce_profiled_normaliser,
    population_nce_loss,
    profiled_nce_loss,
    shift_log_unnormalised,
)
from theory.cnce.losses import compositional_nll, ence_loss, log_partition_estimate, nce_loss
from theory.cnce.meco import MecoState, meco_gradient, meco_init, meco_step
from theory.cnce.simulate import (
    METHODS,
    gaussian_mean_runs,
    gaussian_mean_trajectories,
    gradient_bias_at_fixed_theta,
    gradient_samples,
)
from theory.logspace import kl_to_uniform, logmeanexp, ma_update_log, softmax_weights

__all__ = [
    "logmeanexp",
    "ma_update_log",
    "softmax_weights",
    "kl_to_uniform",
    "nce_loss",
    "ence_loss",
    "compositional_nll",
    "log_partition_estimate",
    "MecoState",
    "meco_init",
    "meco_step",
    "meco_gradient",
    "PARAMETERISATIONS",
    "log_unnormalised",
    "shift_log_unnormalised",
    "natural_log_unnormalised",
    "gaussian_log_density",
    "gaussian_log_partition",
    "gaussian_partition",
    "gaussian_chi2",
    "gaussian_score_moment",
    "meco_gradient_variance",
    "gaussian_nll",
    "population_nce_loss",
    "nce_hessian_at_optimum",
    "nce_min_eigenvalue",
    "nce_profiled_normaliser",
    "profiled_nce_loss",
    "ence_gaussian_loss",
    "ence_curvature",
    "ma_stationary_variance",
    "weighted_score_moment",
    "meco_gradient_bias",
    "meco_stationary_mse",
    "METHODS",
    "gaussian_mean_runs",
    "gaussian_mean_trajectories",
    "gradient_bias_at_fixed_theta",
    "gradient_samples",
    "contrastive_loss",
    "hardness_weights",
    "infonce_loss",
    "dcl_loss",
    "npc_multiplier",
    "expected_npc_multiplier",
    "npc_multiplier_mean_field",
    "robust_gcl_objective",
    "robust_gcl_dual",
    "robust_gcl_temperature_gradient",
]
