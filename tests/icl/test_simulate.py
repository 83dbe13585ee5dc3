"""The JAX simulators: prompt sampling, the hand-written Adam (vs optax), training, Monte-Carlo risks, bad inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.icl import lsa, optimum
from theory.icl.simulate import (
    adam_init,
    adam_update,
    conditional_risk,
    gd_risk_coefficients,
    gd_step_argmin,
    lsa_risk,
    sample_tasks,
    train_lsa,
)


def test_sampled_moments():
    sx = np.array([[2.0, 0.5], [0.5, 1.0]])
    X, y, w = sample_tasks(jax.random.key(0), 20000, 3, 2, 0.25, np.linalg.cholesky(sx), np.eye(2))
    X, y, w = (np.asarray(a, np.float64) for a in (X, y, w))
    assert np.cov(X.reshape(-1, 2).T) == pytest.approx(sx, abs=0.05)
    assert np.var(y - np.einsum("bnd,bd->bn", X, w)) == pytest.approx(0.25, abs=0.01)
    X, y, (a, v) = sample_tasks(jax.random.key(1), 1000, 3, 4, 0.0, np.eye(4), np.eye(4), target="relu")
    assert np.asarray(jnp.linalg.norm(v, axis=-1)) == pytest.approx(1.0, abs=1e-5)
    assert set(np.unique(np.asarray(a))) == {-1.0, 1.0}
    assert np.all(np.asarray(y) * np.asarray(a)[:, None] >= 0)


def test_adam_matches_optax():
    optax = pytest.importorskip("optax")
    params = {"a": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)}
    opt = optax.adam(1e-2)
    s_ref, s = opt.init(params), adam_init(params)
    p_ref = p = params
    for i in range(5):
        g = jax.tree.map(lambda x, i=i: jnp.sin(x * (i + 1)), p)
        upd, s_ref = opt.update(g, s_ref, p_ref)
        p_ref = optax.apply_updates(p_ref, upd)
        p, s = adam_update(p, g, s, 1e-2)
    for k in params:
        assert np.asarray(p[k]) == pytest.approx(np.asarray(p_ref[k]), abs=1e-6)


def test_rao_blackwell_matches_direct_sampling():  # spec A6.10
    key = jax.random.key(2)
    n, d, s2, N = 5, 3, 0.5, 200_000
    X, y, w = sample_tasks(key, N, n + 1, d, s2, np.eye(d), np.eye(d))
    eta = optimum.optimal_step_size(n, d, s2)
    g = eta * jnp.einsum("bn,bnd->bd", y[:, :n], X[:, :n]) / n
    rb = np.asarray(conditional_risk(g, w, s2, jnp.eye(d)), np.float64)
    direct = (np.asarray(jnp.sum(g * X[:, n], -1) - y[:, n], np.float64)) ** 2
    se = np.sqrt(rb.var() / N + direct.var() / N)
    assert abs(rb.mean() - direct.mean()) < 5 * se
    assert rb.var() < direct.var()


@pytest.fixture(scope="module")
def trained():
    # the static shapes of the icl.step_size smoke config: the compiled trainer is shared with test_claims
    return train_lsa(jax.random.key(0), n=10, d=3, steps=600, batch=512, n_seeds=2, noise_var=0.25, lr=2e-2)


def test_train_shapes_and_convergence(trained):
    W_KQ, W_PV, losses = trained
    assert W_KQ.shape == W_PV.shape == (2, 4, 4) and losses.shape == (2, 600) and W_KQ.dtype == jnp.float32
    G = np.asarray(lsa.effective_params(W_KQ, W_PV)[0])
    assert np.abs(G - optimum.optimal_step_size(10, 3, 0.25) * np.eye(3)).max() < 0.02
    assert float(losses[:, -50:].mean()) == pytest.approx(optimum.optimal_risk(10, 3, 0.25), abs=0.05)


def test_lsa_risk_crn(trained):
    W_KQ, W_PV, _ = trained
    eta = optimum.optimal_step_size(10, 3, 0.25)
    r = lsa_risk(jax.random.key(9), W_KQ, W_PV, n=10, n_prompts=1 << 16, noise_var=0.25, ref_gamma=eta * np.eye(3))
    R = optimum.optimal_risk(10, 3, 0.25)
    assert abs(r["ref_risk"] - R) < 4 * r["ref_se"]
    assert np.all(np.abs(r["diff"]) < 0.005) and np.all(r["diff_se"] < r["risk_se"])
    # GD construction evaluated as a "trained" layer: exactly zero difference on common prompts
    gd = np.stack([np.stack(lsa.gd_params(eta, 3))] * 2)
    r2 = lsa_risk(jax.random.key(9), gd[:, 0], gd[:, 1], n=10, n_prompts=1 << 16, noise_var=0.25,
                  ref_gamma=eta * np.eye(3))
    assert np.all(np.abs(r2["diff"]) < 1e-6)


def test_argmin_and_dtype():
    # same static shapes as the icl.step_argmin smoke config (compiled once per process)
    eta = gd_step_argmin(jax.random.key(4), n=10, d=4, batch=8192, replicates=8, noise_var=1.0, n_pad=20)
    assert abs(eta.mean() - optimum.optimal_step_size(10, 4, 1.0)) < 4 * eta.std(ddof=1) / np.sqrt(8) + 1e-3
    q = gd_risk_coefficients(jax.random.key(4), n=4, d=3, batch=2048, replicates=4, noise_var=0.0, target="relu",
                             n_pad=6)
    assert q.shape == (4, 3) and np.all(q[:, 0] == 0.5)
    eta_relu = (q[:, 1] / q[:, 2]).mean()
    assert eta_relu == pytest.approx(optimum.relu_optimal_step_size(4, 3, 0.0), abs=0.03)


def test_bad_inputs():
    with pytest.raises(ValueError, match="n must"):
        train_lsa(jax.random.key(0), n=0, d=2, steps=10, batch=8)
    with pytest.raises(ValueError, match="batch must"):
        train_lsa(jax.random.key(0), n=3, d=2, steps=10, batch=0)
    with pytest.raises(ValueError, match="noise_var"):
        train_lsa(jax.random.key(0), n=3, d=2, steps=10, batch=8, noise_var=-1.0)
    with pytest.raises(ValueError, match="target must be one of"):
        train_lsa(jax.random.key(0), n=3, d=2, steps=10, batch=8, target="tanh")
    with pytest.raises(ValueError, match="isotropic"):
        train_lsa(jax.random.key(0), n=3, d=2, steps=10, batch=8, target="relu", cov_x=2 * np.eye(2))
    with pytest.raises(ValueError, match="cov_w must be positive definite"):
        gd_step_argmin(jax.random.key(0), n=3, d=2, batch=8, replicates=2, cov_w=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="cov_x must have shape"):
        gd_step_argmin(jax.random.key(0), n=3, d=2, batch=8, replicates=2, cov_x=np.eye(3))
    with pytest.raises(ValueError, match="n_pad"):
        gd_risk_coefficients(jax.random.key(0), n=5, d=2, batch=8, replicates=2, n_pad=3)
    with pytest.raises(ValueError, match="stacks"):
        lsa_risk(jax.random.key(0), np.eye(3), np.eye(3), n=3, n_prompts=10)
    with pytest.raises(ValueError, match="ref_gamma"):
        lsa_risk(jax.random.key(0), np.eye(3)[None], np.eye(3)[None], n=3, n_prompts=10, ref_gamma=np.eye(3))


def test_trained_nuisance_vanishes(trained):  # spec A3.1: u (x) A = 0 and c b = 0 at the optimum
    _, u, c, A, b = (np.asarray(a) for a in lsa.effective_params(*trained[:2]))
    assert np.max(np.linalg.norm(u, axis=1) * np.linalg.norm(A, axis=(1, 2))) < 0.05
    assert np.max(np.abs(c) * np.linalg.norm(b, axis=1)) < 0.05
