"""The icl claims at smoke scale (no FAIL, rivals declared, the prediction passes on the recorded
measurement), the named rival formulas, and the padded trainer the trained claims measure with."""

import jax
import numpy as np
import pytest

from tests.claims_harness import claim_suite
from theory.icl import claims as icl_claims
from theory.icl import optimum
from theory.icl.lsa import effective_params
from theory.icl.simulate import lsa_risk, train_lsa_padded, unpad_params

CLAIMS, TestClaims = claim_suite("icl", min_claims=6)


# ---- the named rivals ----------------------------------------------------------------------------

def _iso(n, d, s2):
    return {"num_samples": n, "dim": d, "noise_var": s2}


def test_named_step_rivals_take_their_stated_values():
    n, d, s2 = 6, 3, 1.0
    assert icl_claims.eta_off_by_one(n, d, s2) == pytest.approx(0.6)
    assert icl_claims.eta_noise_ignored(n, d, s2) == pytest.approx(0.6)
    assert icl_claims.eta_sum_form(n, d, s2) == pytest.approx(optimum.optimal_step_size(**_iso(n, d, s2)) / n)
    # the ReLU rival with unweighted noise coincides with gamma* without noise: the claim needs sigma^2 > 0
    assert icl_claims.relu_step_noise_unweighted(5, 2, 0.0) == pytest.approx(
        optimum.relu_optimal_step_size(**_iso(5, 2, 0.0)))
    assert icl_claims.risk_off_by_one(n, d, s2) == pytest.approx(1 + 15 / 10)
    assert icl_claims.risk_noise_free_numerator(n, d, 0.0) == pytest.approx(optimum.optimal_risk(**_iso(n, d, 0.0)))


def test_preconditioner_rivals_reduce_in_the_isotropic_case():
    eye = np.eye(3)
    star = optimum.optimal_preconditioner(num_samples=6, cov_x=eye, cov_w=eye, noise_var=0.5)
    assert icl_claims.gamma_identity_prior_form(6, eye, eye, 0.5) == pytest.approx(star)
    assert not np.allclose(icl_claims.gamma_off_by_one(6, eye, eye, 0.5), star)


@pytest.mark.parametrize("claim_id", ["icl.step_size", "icl.nonlinear", "icl.preconditioner", "icl.step_argmin",
                                      "icl.risk_curve", "icl.trained_risk", "icl.stationary_point"])
def test_every_named_rival_differs_at_default(claim_id):
    """At default scale each rival is at least 2% (relative) away from the prediction somewhere: the design gives
    the run something to reject (the run itself judges it against the measured SE)."""
    claim = CLAIMS[claim_id]
    cfg = claim.config("default")
    pred = np.asarray(claim.predict(cfg), np.float64)
    for rival in claim.rivals:
        gap = np.abs(np.asarray(rival.predict(cfg), np.float64) - pred) / np.maximum(np.abs(pred), 1e-9)
        assert np.max(gap) > 0.02, rival.name


def test_nonlinear_uses_label_noise():
    for scale in ("smoke", "default", "paper"):
        assert any(s2 > 0 for _, _, s2 in CLAIMS["icl.nonlinear"].config(scale)["points"])


def test_trapped_seeds_are_those_above_the_best_by_more_than_rel():
    assert icl_claims.trapped_seeds([1.0, 1.001, 1.07, 1.0049], rel=0.005).tolist() == [2]
    with pytest.warns(DeprecationWarning):
        assert icl_claims.trapped_seeds([1.0, 1.001, 1.07, 1.0049], 0.005).tolist() == [2]


def test_rotated_covariance_takes_a_key_and_keeps_the_old_seed_draw():
    c = icl_claims.rotated_covariance([0.5, 1.0, 2.5], key=jax.random.key(0))
    assert np.linalg.eigvalsh(c) == pytest.approx([0.5, 1.0, 2.5]) and np.allclose(c, c.T)
    with pytest.warns(DeprecationWarning, match="seed is deprecated"):
        old = icl_claims.rotated_covariance([0.5, 1.0, 2.5], 0)
    assert np.array_equal(old, icl_claims._covs({"d": 3, "spectrum": [0.5, 1.0, 2.5], "rotation_seed": 0})[0])


def test_trained_claims_share_one_experiment_and_its_key():
    trained = [c for c in CLAIMS.values() if c.experiment is not None]
    assert {c.id for c in trained} == {"icl.step_size", "icl.preconditioner", "icl.nonlinear", "icl.trained_risk"}
    assert all(c.experiment is icl_claims.TRAINED and c.group == "icl.trained" for c in trained)


# ---- the padded trainer ----------------------------------------------------------------------------

def test_unpad_params_keeps_the_real_coordinates_and_the_label_row():
    W = np.arange(25.0).reshape(5, 5)  # dim_pad = 4
    assert unpad_params(W, dim=2).tolist() == [[0, 1, 4], [5, 6, 9], [20, 21, 24]]
    assert unpad_params(np.stack([W, W]), dim=4).shape == (2, 5, 5)


@pytest.mark.parametrize("target", ["linear", "relu"])
def test_padded_trainer_risk_matches_the_unpadded_layer(target):
    """The padded trainer's final risk (via g = W_KQ^T S W_PV) is the risk of the unpadded layer, estimated
    independently by lsa_risk (via the LSA readout on the prompt) on other prompts."""
    n, d, s2 = 3, 2, 0.5
    W_KQ, W_PV, losses, risk, risk_se = train_lsa_padded(
        key=jax.random.key(0), num_samples=n, dim=d, num_samples_pad=5, dim_pad=3, num_steps=40, batch=64,
        num_replicates=2, noise_var=s2, target=target, eval_batches=512)
    assert losses.shape == (2, 40) and risk.shape == risk_se.shape == (2,)
    r = lsa_risk(unpad_params(W_KQ, dim=d), unpad_params(W_PV, dim=d), key=jax.random.key(1), num_samples=n,
                 num_prompts=1 << 15, noise_var=s2, target=target)
    assert np.all(np.abs(r["risk"] - risk) < 5 * np.hypot(r["risk_se"], risk_se))
    assert np.all(np.abs(r["risk"] - risk) > 0)  # different prompts


def test_padded_trainer_finds_the_optimum_at_a_padded_point():
    n, d, s2 = 4, 2, 0.5
    W_KQ, W_PV, _, risk, _ = train_lsa_padded(key=jax.random.key(3), num_samples=n, dim=d, num_samples_pad=6,
                                              dim_pad=3, num_steps=600, batch=128, num_replicates=2, noise_var=s2,
                                              lr=2e-2)
    G = np.asarray(effective_params(unpad_params(W_KQ, dim=d), unpad_params(W_PV, dim=d))[0])
    assert G[np.argmin(risk)] == pytest.approx(optimum.optimal_step_size(**_iso(n, d, s2)) * np.eye(d), abs=0.03)


def test_padded_trainer_checks_its_sizes():
    k, kw = jax.random.key(0), {"num_samples_pad": 5, "dim_pad": 3, "num_steps": 2, "batch": 4}
    with pytest.raises(ValueError, match="num_samples must be an integer in \\[1, 5\\]"):
        train_lsa_padded(key=k, num_samples=6, dim=2, **kw)
    with pytest.raises(ValueError, match="dim must be an integer in \\[1, 3\\]"):
        train_lsa_padded(key=k, num_samples=3, dim=4, **kw)
    with pytest.raises(ValueError, match="isotropic"):
        train_lsa_padded(key=k, num_samples=3, dim=2, target="relu", cov_x=2 * np.eye(2), **kw)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="num_samples must"):
        train_lsa_padded(k, n=6, d=2, n_pad=5, d_pad=3, steps=2, batch=4)
