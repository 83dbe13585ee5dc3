"""Every comp-sum claim passes at smoke scale, and planted wrong predictions are rejected.

The smoke run happens once (module fixture) and records each claim's measurement; the planted
variants are then judged by the same engine on the same measurement, so each check is a real
``run_claim`` with only the prediction changed.
"""


import numpy as np
import pytest

from tests.claims_harness import ClaimSuiteWithPerturbation, record_smoke, scaled
from theory import verify
from theory.compsum import bounds, gaps
from theory.compsum.claims import _by_group
from theory.compsum.losses import comp_sum_psi

CLAIMS = {c.id: c for c in verify.claims("compsum")}


@pytest.fixture(scope="module")
def smoke():
    return record_smoke(CLAIMS)


# ---- planted wrong predictions, each a plausible mistake -------------------------------------------


def _binary_transform_for_all_n(cfg):  # PE1/PE2: forgetting the n-dependence of tau > 1
    t = np.maximum(cfg["dc01"] - 1e-12, 0.0)
    return _by_group(bounds.consistency_transform, t, cfg["tau"], np.full(t.shape, 2))


def _sqrt_eps_for_logistic(cfg):  # PE3: Gamma_1 = sqrt(eps), the factor 2 dropped
    right = _by_group(bounds.consistency_bound, cfg["eps_tau"], cfg["tau"], cfg["n"])
    return np.where(cfg["tau"] == 1.0, np.sqrt(cfg["eps_tau"]), right)


def _transform_instead_of_inverse(cfg):  # T used where Gamma = T^-1 belongs
    return _by_group(bounds.consistency_transform, np.minimum(cfg["eps_tau"], 1.0), cfg["tau"], cfg["n"])


def _small_t_constant_globally(cfg):  # PE9: 2(2-tau) n^(tau-1) used as a global constant for tau > 1
    def const(e, tau, n_classes):
        if tau > 1:
            c = 1.0 / bounds.small_t_constant(tau=tau, n_classes=n_classes)
        else:
            c = bounds.sqrt_bound_constant(tau=tau, n_classes=n_classes)
        return np.full(e.shape, c)

    return np.sqrt(_by_group(const, cfg["eps"], cfg["tau"], cfg["n"]) * cfg["eps"])


def _binary_transform_on_grid(cfg):  # the n-free binary T_{tau,2} used for every n
    return _by_group(bounds.consistency_transform, cfg["t"], cfg["tau"], np.full(cfg["t"].shape, 2))


def _quadratic_transform(cfg):  # the small-t approximation T ~ c t^2 used on all of [0, 1] (tau < 2)
    def quadratic(t, tau, n_classes):
        if tau >= 2:  # the transform is linear there; only the tau < 2 groups carry the planted error
            return bounds.consistency_transform(t, tau=tau, n_classes=n_classes)
        return bounds.small_t_constant(tau=tau, n_classes=n_classes) * t**2

    return _by_group(quadratic, cfg["t"], cfg["tau"], cfg["n"])


def _gce_risk_at_cross_entropy_minimiser(cfg):  # PE6: C* evaluated at S = p
    return np.array([float(np.sum(p * comp_sum_psi(p, tau=t))) for t, p in zip(cfg["tau"], cfg["p"], strict=True)])


def _mutual_information_for_every_tau(cfg):  # the logistic identity M = I(X;Y) assumed for all tau
    return np.array([gaps.mutual_information(pi, P) for pi, P in cfg["dist"]])


def _box_threshold_single_lambda(cfg):  # PE5-like: e^{-Lambda} where the box gives e^{-2 Lambda}
    q = (cfg["n"] - 2) * np.exp(-cfg["lam"])
    return q / (2 + q)


def _log2_cross_entropy(cfg):
    return CLAIMS["compsum.cross_entropy"].predict(cfg) / np.log(2.0)


PLANTED = {
    "compsum.cross_entropy": [scaled(CLAIMS, "compsum.cross_entropy", 1.25), _log2_cross_entropy],
    "compsum.bound_pointwise": [scaled(CLAIMS, "compsum.bound_pointwise", 1.25), _binary_transform_for_all_n],
    "compsum.bound_distribution": [scaled(CLAIMS, "compsum.bound_distribution", 0.75), _sqrt_eps_for_logistic],
    "compsum.trained_linear": [_transform_instead_of_inverse],
    "compsum.sqrt_rate": [lambda cfg: 1.0, scaled(CLAIMS, "compsum.sqrt_rate", 1.25)],
    "compsum.sqrt_bound": [_small_t_constant_globally],
    "compsum.adversarial_smoothing": [lambda cfg: 0.0 * cfg["smooth_term"]],
    "compsum.transform_characterization": [_binary_transform_on_grid],
    "compsum.tightness": [_quadratic_transform],
    "compsum.exact_transform": [_quadratic_transform],
    "compsum.gce_not_tight": [_binary_transform_on_grid],
    "compsum.min_conditional_risk": [_gce_risk_at_cross_entropy_minimiser],
    "compsum.gap_intercept": [_mutual_information_for_every_tau],
    "compsum.box_flat_segment": [_box_threshold_single_lambda],
}


class TestClaims(ClaimSuiteWithPerturbation):
    CLAIMS, PLANTED, MIN_CLAIMS = CLAIMS, PLANTED, 6
