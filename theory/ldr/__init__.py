"""Label-distributionally robust losses (topic ``theory.ldr``): LDR-KL, the general LDR family, ALDR-KL.

Importing the topic is light: cvxpy (the convex programs of :mod:`theory.ldr.calibration` and the
references of :mod:`theory.ldr.reference`) and ``scipy.optimize`` are imported on first use. The float64
reference implementations used as oracles (``inner_max_cvxpy``, ``ldr_kl_numpy``, ``aldr_kl_numpy``,
``ldr_v1_official``, ``aldr_v1_official_step``) live in :mod:`theory.ldr.reference`; reaching them through
``theory.ldr`` still works, with a ``DeprecationWarning``.

References:
    Zhu, Ying, Yang, *Label Distributionally Robust Losses for Multi-class Classification: Consistency,
    Robustness and Adaptivity*, ICML 2023 (arXiv 2112.14869); ``docs/ldr.md``.
"""

import importlib
import warnings

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
    conditional_risk_minimiser,
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
from theory.ldr.losses import (
    crammer_singer_loss,
    ldr_kl_loss,
    ldr_kl_weights,
    margin_matrix,
    margin_vector,
    weston_watkins_loss,
)
from theory.ldr.simulate import LOSSES, apply_noise, make_mixture, pairflip_noise, train_noisy, uniform_noise

__all__ = [
    "ldr_kl_loss",
    "ldr_kl_weights",
    "margin_matrix",
    "margin_vector",
    "crammer_singer_loss",
    "weston_watkins_loss",
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
    "conditional_risk_minimiser",
    "calibration_gap",
    "min_risk_zero_margin",
    "cs_top1_gap",
    "cs_min_risk",
    "symmetric_gap_bounded",
    "symmetric_sum",
    "symmetry_bounds",
    "noise_excess_bound",
    "noisy_posterior",
    "is_uniform_margin",
    "is_rank_calibrated",
    "is_top1_calibrated",
    "is_symmetric",
    "LOSSES",
    "train_noisy",
    "make_mixture",
    "uniform_noise",
    "pairflip_noise",
    "apply_noise",
]

#: Oracles that moved out of the topic's public API: name -> the module that keeps them.
_REFERENCE = {name: "theory.ldr.reference" for name in
              ("inner_max_cvxpy", "ldr_kl_numpy", "aldr_kl_numpy", "ldr_v1_official", "aldr_v1_official_step")}


def __getattr__(name):
    if name in _REFERENCE:
        warnings.warn(f"theory.ldr.{name} is a reference implementation (a test oracle) and is no longer part of "
                      f"the topic's API; import it from {_REFERENCE[name]}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(_REFERENCE[name]), name)
    raise AttributeError(f"module 'theory.ldr' has no attribute {name!r}")
