"""Comp-sum losses and their H-consistency bounds.

References:
    Mao, Mohri, Zhong, *Cross-Entropy Loss Functions: Theoretical Analysis and Applications*,
    ICML 2023 (arXiv 2304.07288); Mao, Mohri, Zhong, *H-Consistency Bounds: Characterization and
    Extensions*, NeurIPS 2023.
"""

from theory.compsum.adversarial import (
    adversarial_bound,
    adversarial_calibration_constant,
    adversarial_conditional_min,
    adversarial_margin_loss_lower,
    adversarial_zero_one_linear,
    chain_slacks,
    minimum_nu,
    ramp,
    smooth_adversarial_loss_linear,
    smooth_term_linear,
)
from theory.compsum.bounds import (
    consistency_bound,
    consistency_transform,
    small_t_constant,
    sqrt_bound_constant,
    transform_at_one,
)
from theory.compsum.box import box_minimizer_softmax, min_conditional_risk_box, t0_threshold
from theory.compsum.exact import (
    bounded_logistic_transform,
    characterization_transform,
    characterization_transform_tau,
    exact_transform,
    tightness_example,
)
from theory.compsum.gaps import (
    LinearRisk,
    best_linear_risk,
    minimizability_gap_intercept,
    minimizability_gap_linear,
    mutual_information,
    zero_one_gap_intercept,
)
from theory.compsum.losses import comp_sum_loss, comp_sum_phi, comp_sum_psi
from theory.compsum.risks import (
    conditional_risk,
    min_conditional_risk,
    predict,
    surrogate_regret,
    zero_one_regret,
)

__all__ = [
    "comp_sum_loss",
    "comp_sum_phi",
    "comp_sum_psi",
    "consistency_transform",
    "consistency_bound",
    "transform_at_one",
    "small_t_constant",
    "sqrt_bound_constant",
    "predict",
    "conditional_risk",
    "min_conditional_risk",
    "surrogate_regret",
    "zero_one_regret",
    "ramp",
    "adversarial_zero_one_linear",
    "adversarial_margin_loss_lower",
    "smooth_term_linear",
    "smooth_adversarial_loss_linear",
    "adversarial_conditional_min",
    "adversarial_calibration_constant",
    "adversarial_bound",
    "minimum_nu",
    "chain_slacks",
    "min_conditional_risk_box",
    "box_minimizer_softmax",
    "t0_threshold",
    "exact_transform",
    "characterization_transform",
    "characterization_transform_tau",
    "bounded_logistic_transform",
    "tightness_example",
    "LinearRisk",
    "minimizability_gap_intercept",
    "zero_one_gap_intercept",
    "best_linear_risk",
    "minimizability_gap_linear",
    "mutual_information",
]
