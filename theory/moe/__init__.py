"""Top-K sparse softmax gating Gaussian mixture of experts (topic ``theory.moe``).

The model (gate, log-space conditional density, sampler, translation gauge), Voronoi cells and the
Voronoi losses D1/D2, the expected Hellinger distance, and the MLE by generalised EM with an L-BFGS
and Newton polish, jitted and vmapped over replicates.

Vocabulary: ``num_experts`` is the number of experts (atoms) k of a mixing measure, ``top_k`` the number
K of experts the top-K gate selects (``K`` is its deprecated keyword), ``dim`` the covariate dimension d
and ``num_samples`` the sample size n (``docs/moe.md#vocabulary``).

References:
    Nguyen, Akbarian, Yan, Ho, *Statistical Perspective of Top-K Sparse Softmax Gating Mixture of
    Experts*, ICLR 2024 (arXiv 2309.13850).
"""

from theory.moe import voronoi
from theory.moe.fit import FitResult, em_step, fit_batch, fit_mle
from theory.moe.hellinger import expected_hellinger, hellinger_at
from theory.moe.model import MoEParams, gates, gauge, log_density, log_gates, sample, selection_mask, validate_params
from theory.moe.voronoi import (
    RBAR,
    cell_terms_exact,
    cell_terms_over,
    required_Kbar,  # noqa: F401 (deprecated alias of required_top_k, kept importable)
    required_top_k,
    voronoi_cells,
    voronoi_loss_exact,
    voronoi_loss_over,
)

__all__ = [
    "MoEParams",
    "validate_params",
    "selection_mask",
    "log_gates",
    "gates",
    "log_density",
    "sample",
    "gauge",
    "voronoi",
    "voronoi_cells",
    "voronoi_loss_exact",
    "voronoi_loss_over",
    "cell_terms_exact",
    "cell_terms_over",
    "required_top_k",
    "RBAR",
    "expected_hellinger",
    "hellinger_at",
    "FitResult",
    "em_step",
    "fit_mle",
    "fit_batch",
]
