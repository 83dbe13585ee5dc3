"""Every comp-sum claim passes at smoke scale and declares its rivals (the shared suite), plus the topic's own
checks of what the claims' power rests on: the attaining constructions, the independence of the rate
measurement, and the rivals the smoke run already rejects.

The rivals themselves (the wrong predictions each run must reject) live with their claims in
``theory/compsum/claims.py``.
"""

import jax
import numpy as np
import pytest

from tests.claims_harness import claim_suite
from theory.compsum import adversarial, bounds
from theory.compsum import claims as compsum_claims

CLAIMS, TestClaims = claim_suite("compsum", min_claims=6)


def _report(smoke):
    return smoke[0] if isinstance(smoke, tuple) else smoke


@pytest.mark.parametrize("claim_id, rival", [
    ("compsum.trained_linear", "Gamma_{tau,2}"),
    ("compsum.trained_linear", "bound/2"),
    ("compsum.adversarial_smoothing", "nu = 1/rho"),
    ("compsum.adversarial_smoothing", "x0.8"),
    ("compsum.gce_not_tight", "T* = T (tight)"),
    ("compsum.gce_not_tight", "T* >= T_{tau,2}"),
    ("compsum.sqrt_rate", "slope +0.75"),
    ("compsum.bound_pointwise", "bound x2"),
    ("compsum.bound_distribution", "bound/2"),
    ("compsum.sqrt_bound", "bound/2"),
])
def test_the_named_rival_is_rejected_already_at_smoke_scale(smoke, claim_id, rival):
    verdict = next(v for v in _report(smoke).verdicts if v.claim_id == claim_id)
    judged = {r["name"]: r for r in verdict.rivals}
    assert judged[rival]["passed"] is False, judged[rival]


def test_sqrt_rate_measurement_does_not_use_the_bound_functions(monkeypatch):
    """The rate is measured on the attaining (p, h), from the conditional risks alone: it must run with every
    code path of ``theory.compsum.bounds`` broken."""
    def broken(*args, **kwargs):
        raise AssertionError("the sqrt_rate measurement called theory.compsum.bounds")

    monkeypatch.setattr(bounds, "_transform", broken)
    monkeypatch.setattr(bounds, "consistency_bound", broken)
    monkeypatch.setattr(compsum_claims, "consistency_bound", broken)
    monkeypatch.setattr(compsum_claims, "consistency_transform", broken)
    claim = CLAIMS["compsum.sqrt_rate"]
    measurement = claim.measure(jax.random.key(0), claim.config("smoke"))
    slope, se = claim.compare.fit(measurement)
    assert abs(slope - 0.5) < 1e-3 and se < 1e-4


@pytest.mark.parametrize("n", [3, 5])
def test_tight_adversarial_cases_attain_the_smoothing_constant(n):
    """At tau = 0 and gamma / rho = a the gain is (n-1)(1 - e^-a): within 1% of nu_min * term at a = 0.01, so
    nu = 1/rho and 0.8 nu_min are violated there."""
    rng = np.random.default_rng(0)
    gain, term = compsum_claims._tight_adversarial(rng, tau=0.0, n=n, rho=0.5, scales=[0.01])
    bound = adversarial.minimum_nu(num_classes=n, rho=0.5) * term
    assert np.all(gain <= bound + 1e-12)
    assert gain.max() / bound.max() == pytest.approx(-np.expm1(-0.01) / 0.01, rel=1e-9)
    assert np.any(gain > 0.8 * bound) and np.any(gain > term / 0.5)


def test_the_two_bound_claims_share_one_experiment_and_nothing_is_cached_in_the_module():
    pointwise, distribution = CLAIMS["compsum.bound_pointwise"], CLAIMS["compsum.bound_distribution"]
    assert pointwise.experiment is distribution.experiment is compsum_claims.REGRET_INSTANCES
    assert pointwise.group == distribution.group == "compsum.regret_instances"  # the key of the earlier group
    eps = np.array([0.01, 0.2, 0.5])
    cfg = {"eps_tau": eps, "tau": np.full(3, 1.0), "n": np.full(3, 3)}
    np.testing.assert_array_equal(compsum_claims._bound_upper(cfg), bounds.consistency_bound(eps, tau=1.0,
                                                                                              num_classes=3))
    assert not [name for name, value in vars(compsum_claims).items() if "MEMO" in name and isinstance(value, dict
                                                                                                     | list)]
