"""Learning from aggregate responses: bag-level vs instance-level losses, the interpolating estimator,
its asymptotic risk, and label-private aggregation.

References:
    Javanmard, Chen, Mirrokni, Badanidiyuru, Fu, *Learning from Aggregate Responses: Instance Level
    versus Bag Level Loss Functions*, ICLR 2024 (arXiv 2401.11081).
"""

from theory.aggregate.asymptotics import (
    AsymptoticRisk,
    asymptotic_risk,
    finite_sample_variance,
    fixed_point_tau,
    optimal_rho,
    risk_slope_at_zero,
)
from theory.aggregate.bags import BagInfo, bag_means, bags_from_groups, check_bags, make_bags
from theory.aggregate.estimators import AggregateRegressor, cvxpy_estimator, interpolating_estimator
from theory.aggregate.losses import (
    bag_loss,
    bregman_divergence,
    bregman_regulariser,
    huber_loss,
    instance_loss,
    interpolated_loss,
    logistic_loss,
    regulariser,
    squared_loss,
)
from theory.aggregate.privacy import (
    OptimalBagSize,
    dp_risk,
    effective_noise,
    label_range,
    laplace_scale,
    optimal_bag_size,
    privatize_bag_means,
)
from theory.aggregate.simulate import (
    conditional_bias_variance,
    conditional_risk_slope,
    simulate_bagged_regression,
)

__all__ = [
    "AsymptoticRisk",
    "asymptotic_risk",
    "fixed_point_tau",
    "risk_slope_at_zero",
    "finite_sample_variance",
    "optimal_rho",
    "BagInfo",
    "make_bags",
    "check_bags",
    "bags_from_groups",
    "bag_means",
    "interpolating_estimator",
    "cvxpy_estimator",
    "AggregateRegressor",
    "squared_loss",
    "huber_loss",
    "logistic_loss",
    "bregman_divergence",
    "bag_loss",
    "instance_loss",
    "interpolated_loss",
    "regulariser",
    "bregman_regulariser",
    "label_range",
    "laplace_scale",
    "effective_noise",
    "privatize_bag_means",
    "dp_risk",
    "OptimalBagSize",
    "optimal_bag_size",
    "conditional_bias_variance",
    "conditional_risk_slope",
    "simulate_bagged_regression",
]
