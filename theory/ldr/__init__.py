"""Label-distributionally robust losses (topic ``theory.ldr``): LDR-KL, the general LDR family, ALDR-KL.

References:
    Zhu, Ying, Yang, *Label Distributionally Robust Losses for Multi-class Classification: Consistency,
    Robustness and Adaptivity*, ICML 2023 (arXiv 2112.14869).
"""

from theory.ldr.aldr import (
    AldrState,
    aldr_alpha_from_code,
    aldr_kl_loss,
    aldr_kl_solve,
    aldr_lambda_interval,
    aldr_official_init,
    aldr_official_step,
)
from theory.ldr.baselines import BASELINES
from theory.ldr.calibration import (
    calibration_gap,
    conditional_risk,
    cs_min_risk,
    cs_top1_gap,
    is_rank_calibrated,
    is_symmetric,
    is_top1_calibrated,
    is_uniform_margin,
    min_conditional_risk,
    min_risk_zero_margin,
    noise_excess_bound,
    noisy_posterior,
    symmetric_gap_bounded,
    symmetric_sum,
    symmetry_bounds,
)
from theory.ldr.general import ldr_loss, ldr_weights
from theory.ldr.losses import crammer_singer_loss, ldr_kl_loss, ldr_kl_weights, margin_matrix, margin_vector
from theory.ldr.reference import aldr_kl_numpy, aldr_v1_official_step, inner_max_cvxpy, ldr_kl_numpy, ldr_v1_official
from theory.ldr.simulate import LOSSES, apply_noise, make_mixture, pairflip_noise, train_noisy, uniform_noise

__all__ = [
    "ldr_kl_loss",
    "ldr_kl_weights",
    "margin_matrix",
    "margin_vector",
    "crammer_singer_loss",
    "ldr_loss",
    "ldr_weights",
    "aldr_kl_loss",
    "aldr_kl_solve",
    "aldr_alpha_from_code",
    "aldr_lambda_interval",
    "AldrState",
    "aldr_official_init",
    "aldr_official_step",
    "BASELINES",
    "conditional_risk",
    "min_conditional_risk",
    "calibration_gap",
    "min_risk_zero_margin",
    "cs_top1_gap",
    "cs_min_risk",
    "symmetric_gap_bounded",
    "is_uniform_margin",
    "is_rank_calibrated",
    "is_top1_calibrated",
    "is_symmetric",
    "symmetric_sum",
    "symmetry_bounds",
    "noise_excess_bound",
    "noisy_posterior",
    "inner_max_cvxpy",
    "ldr_kl_numpy",
    "aldr_kl_numpy",
    "ldr_v1_official",
    "aldr_v1_official_step",
    "LOSSES",
    "train_noisy",
    "make_mixture",
    "uniform_noise",
    "pairflip_noise",
    "apply_noise",
]
