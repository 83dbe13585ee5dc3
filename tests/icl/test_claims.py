"""Every icl claim passes at smoke scale, and planted wrong predictions (spec A8) are rejected.

The smoke run happens once (module fixture) and records each claim's measurement; each planted
variant is judged by the same engine on the same measurement, only the prediction changed.
"""


import numpy as np
import pytest

from tests.claims_harness import ClaimSuite, record_smoke
from theory import verify
from theory.icl import optimum
from theory.icl.claims import _argmin_cases, _covs, _points, _stat_cases

CLAIMS = {c.id: c for c in verify.claims("icl")}


@pytest.fixture(scope="module")
def smoke():
    return record_smoke(CLAIMS)


# ---- planted wrong closed forms (spec A8) --------------------------------------------------------

def eta_off_by_one(n, d, s2):  # P1: fourth moment d+1 instead of d+2
    return n / (n + d + s2)


def eta_noise_ignored(n, d, s2):  # P2
    return n / (n + d + 1.0)


def eta_sum_form(n, d, s2):  # P3: the sum-form step used as the mean-form Gamma
    return 1.0 / (n + d + 1.0 + s2)


def risk_without_noise_numerator(n, d, s2):  # P4
    return s2 + d * (d + 1.0) / (n + d + 1.0 + s2)


def _isotropic(eta_fn):
    return lambda cfg: np.concatenate([(eta_fn(n, d, s2) * np.eye(d)).ravel() for n, d, s2 in _points(cfg)])


def _precond_scaled_identity(cfg):  # P5: eta* I instead of eta* Sx^-1
    return (optimum.optimal_step_size(cfg["n"], cfg["d"], cfg["noise_var"]) * np.eye(cfg["d"])).ravel()


def _precond_times_sx(cfg):  # P5: eta* Sx
    sx, _ = _covs(cfg)
    return (optimum.optimal_step_size(cfg["n"], cfg["d"], cfg["noise_var"]) * sx).ravel()


def _stationary_with(gamma_fn):
    def predict(cfg):
        d, out = cfg["d"], []
        for n, sx, sw in _stat_cases(cfg):
            g = gamma_fn(n, sx, sw, cfg["noise_var"])
            out.append(np.concatenate([g.ravel(), np.zeros(2 * (d + 1) ** 2),
                                       [optimum.risk_of_preconditioner(g, n, sx, sw, cfg["noise_var"])]]))
        return np.concatenate(out)

    return predict


def _ahn_form_everywhere(n, sx, sw, s2):  # the Sw = I optimum used whatever the weight prior
    d = sx.shape[0]
    return n * np.linalg.inv((n + 1) * sx + (np.trace(sx) + s2) * np.eye(d))


def _off_by_one_preconditioner(n, sx, sw, s2):  # (n+1)/n -> 1 in M (the j = k pairs forgotten)
    M = sx @ sw @ sx + (np.trace(sx @ sw) + s2) / n * sx
    return np.linalg.solve(M, sx @ sw)


def _argmin(eta_fn):
    return lambda cfg: np.array([eta_fn(n, d, s2) for n, d, s2, _ in _argmin_cases(cfg)])


def _gd_sum_form(cfg):  # the LSA step read as the sum-form step: eta / n
    return CLAIMS["icl.gd_construction"].predict({**cfg, "eta": cfg["eta"] / cfg["n"]})


def _gd_transposed_preconditioner(cfg):
    return CLAIMS["icl.gd_construction"].predict({**cfg, "P": cfg["P"].T})


PLANTED = {
    "icl.step_size": [_isotropic(eta_off_by_one), _isotropic(eta_noise_ignored), _isotropic(eta_sum_form)],
    "icl.preconditioner": [_precond_scaled_identity, _precond_times_sx],
    "icl.nonlinear": [_isotropic(optimum.optimal_step_size)],  # P6: the linear-target step for ReLU targets
    "icl.trained_risk": [lambda cfg: risk_without_noise_numerator(cfg["n"], cfg["d"], cfg["noise_var"]),
                         lambda cfg: optimum.optimal_risk(cfg["n"] + 1, cfg["d"], cfg["noise_var"])],
    "icl.stationary_point": [_stationary_with(_ahn_form_everywhere), _stationary_with(_off_by_one_preconditioner)],
    "icl.step_argmin": [_argmin(eta_off_by_one), _argmin(eta_noise_ignored)],
    "icl.risk_curve": [lambda cfg: np.array([risk_without_noise_numerator(n, cfg["d"], cfg["noise_var"])
                                             for n in cfg["ns"]]),
                       lambda cfg: np.array([optimum.risk_of_step_size(optimum.optimal_step_size_sum(
                           n, cfg["d"], cfg["noise_var"]) * n * 0.9, n, cfg["d"], cfg["noise_var"])
                           for n in cfg["ns"]])],
    "icl.gd_construction": [_gd_sum_form, _gd_transposed_preconditioner],
}


class TestClaims(ClaimSuite):
    CLAIMS, PLANTED, MIN_CLAIMS = CLAIMS, PLANTED, 6
