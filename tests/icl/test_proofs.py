"""The sympy / cvxpy derivations of ``proofs.icl`` at their smallest setting; planted wrong formulas fail them."""

import numpy as np
import pytest

from proofs import icl as proofs_icl
from theory.icl import optimum


@pytest.mark.parametrize("check", proofs_icl.CHECKS, ids=lambda c: c.__name__)
def test_check(check):
    result = check(smallest=True)
    assert isinstance(result, dict) and result


def test_planted_off_by_one_step_fails():  # n/(n+d+sigma^2)
    with pytest.raises(AssertionError):
        proofs_icl.check_isotropic_step_size(smallest=True, step_fn=lambda n, d, s2: n / (n + d + s2))


def test_planted_risk_without_noise_fails():  # s2 + d(d+1)/(n+d+1+s2)
    with pytest.raises(AssertionError):
        proofs_icl.check_isotropic_step_size(smallest=True,
                                             risk_fn=lambda n, d, s2: s2 + d * (d + 1) / (n + d + 1 + s2))


def test_planted_identity_preconditioner_fails():  # eta* I whatever the covariance
    def wrong(n, sx, sw, s2):
        return optimum.optimal_step_size(num_samples=n, dim=sx.shape[0], noise_var=s2) * np.eye(sx.shape[0])

    with pytest.raises(AssertionError):
        proofs_icl.check_preconditioner(smallest=True, gamma_fn=wrong)


def test_planted_relu_with_linear_step_fails():  # Theorem 1's step for ReLU targets
    with pytest.raises(AssertionError):
        proofs_icl.check_relu_step_size(smallest=True, step_fn=proofs_icl._iso(optimum.optimal_step_size))


def test_planted_moments_without_n_plus_one_fail():
    def wrong(n, sx, sw, s2):
        M, B = optimum.moment_matrices(num_samples=n, cov_x=sx, cov_w=sw, noise_var=s2)
        return M - sx @ sw @ sx / n, B

    with pytest.raises(AssertionError):
        proofs_icl.check_moment_matrices(smallest=True, moments_fn=wrong)


def test_planted_population_loss_fails():
    with pytest.raises(AssertionError):
        proofs_icl.check_population_loss(smallest=True,
                                         loss_fn=lambda *a: 1.01 * proofs_icl.population_loss_positional(*a))
