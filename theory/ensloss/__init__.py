"""Calibrated loss-derivatives (topic ``theory.ensloss``): the EnsLoss generator, its order statistics and
large-batch limit, the convexity-and-calibration (CC) conditions of margin losses, and doubly stochastic
training against fixed-loss baselines.

Importing the topic is light: SciPy (quadrature, bounded minimisation), optax (training) and scikit-learn (the
bundled real datasets) are imported on first use.

References:
    B. Dai, *EnsLoss: Stochastic Calibrated Loss Ensembles for Preventing Overfitting in Classification*, ICML
    2025 (PMLR 267:12001-12021, arXiv 2409.00908), and the authors' code (``statmlben/ensLoss``); Bartlett,
    Jordan, McAuliffe, *Convexity, Classification, and Risk Bounds*, JASA 2006; ``docs/ensloss.md``.
"""

from theory.ensloss.calibration import (
    CCReport,
    calibration_gap,
    conditional_risk,
    conditional_risk_minimiser,
    is_calibrated,
    is_cc,
)
from theory.ensloss.data import DATASETS, bayes_risk, gaussian_classes, linear_zero_one_risk, load_dataset
from theory.ensloss.generator import bc_inv, ensloss_derivatives, ensloss_surrogate, sample_ensloss_derivatives
from theory.ensloss.margin_losses import (
    CLASSICAL,
    MARGIN_LOSSES,
    exponential_margin_derivative,
    exponential_margin_loss,
    hinge_margin_derivative,
    hinge_margin_loss,
    logistic_margin_derivative,
    logistic_margin_loss,
    perceptron_margin_derivative,
    perceptron_margin_loss,
    reversed_hinge_margin_derivative,
    reversed_hinge_margin_loss,
    sigmoid_margin_derivative,
    sigmoid_margin_loss,
    squared_hinge_margin_derivative,
    squared_hinge_margin_loss,
    two_class_margin_loss,
)
from theory.ensloss.order_stats import (
    expected_fixed_margin_derivative,
    expected_rank_derivative,
    rank_limit,
    rank_limit_band,
)
from theory.ensloss.simulate import (
    LOSSES,
    excess_risk_by_size,
    fit_classifiers,
    init_mlp,
    loss_derivatives,
    mlp_scores,
)

__all__ = [
    "bc_inv",
    "ensloss_derivatives",
    "sample_ensloss_derivatives",
    "ensloss_surrogate",
    "expected_rank_derivative",
    "rank_limit",
    "rank_limit_band",
    "expected_fixed_margin_derivative",
    "conditional_risk",
    "conditional_risk_minimiser",
    "calibration_gap",
    "is_calibrated",
    "is_cc",
    "CCReport",
    "MARGIN_LOSSES",
    "CLASSICAL",
    "logistic_margin_loss",
    "logistic_margin_derivative",
    "exponential_margin_loss",
    "exponential_margin_derivative",
    "hinge_margin_loss",
    "hinge_margin_derivative",
    "squared_hinge_margin_loss",
    "squared_hinge_margin_derivative",
    "perceptron_margin_loss",
    "perceptron_margin_derivative",
    "reversed_hinge_margin_loss",
    "reversed_hinge_margin_derivative",
    "sigmoid_margin_loss",
    "sigmoid_margin_derivative",
    "two_class_margin_loss",
    "DATASETS",
    "gaussian_classes",
    "linear_zero_one_risk",
    "bayes_risk",
    "load_dataset",
    "LOSSES",
    "loss_derivatives",
    "init_mlp",
    "mlp_scores",
    "excess_risk_by_size",
    "fit_classifiers",
]
