"""The sympy / cvxpy cross-checks of ``proofs.inductive_bias`` (docs/inductive_bias.md), fast tier, and planted
wrong formulas that the same checks reject."""

import numpy as np
import pytest

from proofs import inductive_bias as proofs_ib
from theory.inductive_bias import GChiSq, small_eps_inductive_bias


@pytest.mark.parametrize("check", proofs_ib.CHECKS, ids=lambda c: c.__name__)
def test_derivation_check_passes(check):
    result = check(smallest=True)
    assert isinstance(result, dict) and result


def test_planted_small_eps_law_without_the_gamma_factor_is_rejected():
    def wrong(law, eps):
        return small_eps_inductive_bias(law, eps) - 3.0  # drops log2 Gamma(D/2 + 1) = log2(4! ) ~ 4.6 bits

    with pytest.raises(AssertionError, match="small-eps law off"):
        proofs_ib.check_small_eps_expansion(smallest=True, asymptote_fn=wrong)


def test_planted_chernoff_bound_without_its_offset_term_is_rejected():
    from theory.inductive_bias import chernoff_log_bound

    with pytest.raises(AssertionError, match="Chernoff"):
        proofs_ib.check_chernoff_by_cvxpy(smallest=True,
                                          bound_fn=lambda x, w, d, nc: chernoff_log_bound(x, w, d, nc) - 0.5)


def test_planted_variance_without_the_factor_two_is_rejected():
    class Wrong(GChiSq):
        def var(self):
            return float(np.sum(self.weights**2 * (self.dfs + 2 * self.ncs)))

    with pytest.raises(AssertionError, match="moments"):
        proofs_ib.check_moments_from_cgf(smallest=True, law_fn=Wrong)
