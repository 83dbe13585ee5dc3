"""The sympy / cvxpy checks of ``proofs.moe`` at their smallest setting, and planted wrong formulas."""

import numpy as np
import pytest
import sympy as sp

from proofs import moe as proofs_moe
from theory.moe import log_density


@pytest.mark.parametrize("check", proofs_moe.CHECKS, ids=lambda c: c.__name__)
def test_check_passes_at_its_smallest_setting(check):
    result = check(smallest=True)
    assert isinstance(result, dict) and result


def test_standard_deviation_read_as_variance_fails_the_heat_equation():
    """Reading v as a standard deviation (variance v^2) breaks d f/dv = 1/2 d^2 f/db^2."""
    x, y, a, b, v = sp.symbols("x y a b v", real=True)
    wrong = sp.exp(-(y - a * x - b) ** 2 / (2 * v**2)) / sp.sqrt(2 * sp.pi * v**2)
    with pytest.raises(AssertionError, match="heat equation fails"):
        proofs_moe.check_heat_equation(smallest=True, density=wrong)


def test_sum_of_all_terms_fails_the_top_k_check():
    with pytest.raises(AssertionError):
        proofs_moe.check_top_k_sum(smallest=True, top_k_sum=lambda terms, K: float(np.sum(terms)))


def test_unrenormalised_gate_fails_the_normalisation_check():
    def unrenormalised(G, x, y, *, top_k, selection="slope"):
        # softmax over all experts, then the non-selected ones dropped without renormalising
        from theory.moe import gates

        k = G.num_experts
        dense = log_density(G, x, y, top_k=k, selection=selection)
        sparse = log_density(G, x, y, top_k=top_k, selection=selection)
        mass = gates(G, x, top_k=k)[np.arange(len(y)), :] * (gates(G, x, top_k=top_k, selection=selection) > 0)
        return np.where(top_k == k, dense, sparse + np.log(mass.sum(1)))

    with pytest.raises(AssertionError, match="integral of g_G off by"):
        proofs_moe.check_normalisation(smallest=True, log_density_fn=unrenormalised)
