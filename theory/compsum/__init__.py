"""Comp-sum losses and their H-consistency bounds.

References:
    Mao, Mohri, Zhong, *Cross-Entropy Loss Functions: Theoretical Analysis and Applications*,
    ICML 2023 (arXiv 2304.07288); Mao, Mohri, Zhong, *H-Consistency Bounds: Characterization and
    Extensions*, NeurIPS 2023.
"""

from theory.compsum.bounds import (
    consistency_bound,
    consistency_transform,
    small_t_constant,
    sqrt_bound_constant,
    transform_at_one,
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
]
