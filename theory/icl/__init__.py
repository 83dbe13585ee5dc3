"""In-context learning with one layer of linear self-attention (topic ``theory.icl``).

The global minimiser of the pre-training loss of a one-layer linear self-attention (LSA) layer on
in-context linear regression implements one step of (preconditioned) gradient descent on the
in-context least-squares loss. This package holds the layer (:mod:`theory.icl.lsa`), the closed
forms (:mod:`theory.icl.optimum`), the exact differentiable population loss
(:mod:`theory.icl.population`) and the JAX training simulator (:mod:`theory.icl.simulate`).

Step sizes are in the **mean form** (objective :math:`\\frac1{2n}\\sum_i(y_i - w^\\top x_i)^2`)
unless a name ends in ``_sum``.

Hyperparameters are keyword-only and use the library's vocabulary: ``num_samples`` is the prompt length
:math:`n`, ``dim`` the dimension :math:`d`, ``noise_var`` the noise variance :math:`\\sigma^2`, ``key`` a JAX
PRNG key (docs/icl.md, "Arguments"; the old positional calls still work and warn). The closed forms work
under ``jax.jit``, ``jax.vmap`` and ``jax.grad``.

References:
    Mahankali, Hashimoto, Ma, *One Step of Gradient Descent is Provably the Optimal In-Context Learner
    with One Layer of Linear Self-Attention*, ICLR 2024 (arXiv 2307.03576).
"""

from theory.icl.lsa import (
    context_readout,
    effective_params,
    gd_params,
    lsa_forward,
    lsa_predict,
    make_prompt,
    one_step_gd_predict,
)
from theory.icl.optimum import (
    moment_matrices,
    nonlinear_optimal_step_size,
    optimal_preconditioned_risk,
    optimal_preconditioner,
    optimal_risk,
    optimal_step_size,
    optimal_step_size_sum,
    rank_one_trap_risk,
    relu_optimal_risk,
    relu_optimal_step_size,
    risk_of_preconditioner,
    risk_of_step_size,
)
from theory.icl.population import population_loss, population_loss_and_grad
from theory.icl.simulate import gd_risk_coefficients, gd_step_argmin, lsa_risk, train_lsa

__all__ = [
    "context_readout",
    "effective_params",
    "gd_params",
    "lsa_forward",
    "lsa_predict",
    "make_prompt",
    "one_step_gd_predict",
    "moment_matrices",
    "nonlinear_optimal_step_size",
    "optimal_preconditioned_risk",
    "optimal_preconditioner",
    "optimal_risk",
    "optimal_step_size",
    "optimal_step_size_sum",
    "rank_one_trap_risk",
    "relu_optimal_risk",
    "relu_optimal_step_size",
    "risk_of_preconditioner",
    "risk_of_step_size",
    "population_loss",
    "population_loss_and_grad",
    "gd_risk_coefficients",
    "gd_step_argmin",
    "lsa_risk",
    "train_lsa",
]
