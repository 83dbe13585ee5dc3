"""The JAX simulators: prompt sampling, optax training, Monte-Carlo risks, bad inputs, deprecated spellings."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
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


def _eta(n, d, s2):
    return optimum.optimal_step_size(num_samples=n, dim=d, noise_var=s2)


def test_sampled_prompts_have_the_model_moments():
    sx = np.array([[2.0, 0.5], [0.5, 1.0]])
    X, y, w = sample_tasks(key=jax.random.key(0), batch=20000, num_samples=3, dim=2, noise_var=0.25,
                           chol_x=np.linalg.cholesky(sx))
    X, y, w = (np.asarray(a, np.float64) for a in (X, y, w))
    assert np.cov(X.reshape(-1, 2).T) == pytest.approx(sx, abs=0.05)
    assert np.var(y - np.einsum("bnd,bd->bn", X, w)) == pytest.approx(0.25, abs=0.01)
    X, y, (a, v) = sample_tasks(key=jax.random.key(1), batch=1000, num_samples=3, dim=4, noise_var=0.0,
                                target="relu")
    assert np.asarray(jnp.linalg.norm(v, axis=-1)) == pytest.approx(1.0, abs=1e-5)
    assert set(np.unique(np.asarray(a))) == {-1.0, 1.0}
    assert np.all(np.asarray(y) * np.asarray(a)[:, None] >= 0)


def test_deprecated_adam_still_matches_optax_and_warns():
    params = {"a": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)}
    opt = optax.adam(1e-2)
    with pytest.warns(DeprecationWarning, match="optax"):
        s = adam_init(params)
    s_ref = opt.init(params)
    p_ref = p = params
    for i in range(5):
        g = jax.tree.map(lambda x, i=i: jnp.sin(x * (i + 1)), p)
        upd, s_ref = opt.update(g, s_ref, p_ref)
        p_ref = optax.apply_updates(p_ref, upd)
        with pytest.warns(DeprecationWarning, match="optax"):
            p, s = adam_update(p, g, s, 1e-2)
    for k in params:
        assert np.asarray(p[k]) == pytest.approx(np.asarray(p_ref[k]), abs=1e-6)


def test_trainer_adam_takes_cosine_decayed_steps_from_lr_to_lr_final():
    """With a constant unit gradient Adam's bias-corrected ratio is 1/(1 + eps), so its updates read off the
    learning rate: lr_t = lr_final + (lr - lr_final)(1 + cos(pi t / T)) / 2, t = 0, ..., T - 1."""
    from theory.icl.simulate import _adam

    T, lr, lr_final = 10, 1e-2, 1e-4
    opt = _adam(jnp.float32(lr), jnp.float32(lr_final), T)
    state, steps = opt.init(jnp.zeros(2)), []
    for _ in range(T):
        upd, state = opt.update(jnp.ones(2), state)
        steps.append(-float(upd[0]))
    expected = [lr_final + 0.5 * (lr - lr_final) * (1 + np.cos(np.pi * t / T)) for t in range(T)]
    assert steps == pytest.approx(expected, rel=1e-4)  # float32 bias corrections


def test_rao_blackwell_risk_matches_direct_sampling():
    key = jax.random.key(2)
    n, d, s2, N = 5, 3, 0.5, 200_000
    X, y, w = sample_tasks(key=key, batch=N, num_samples=n + 1, dim=d, noise_var=s2)
    eta = _eta(n, d, s2)
    g = eta * jnp.einsum("bn,bnd->bd", y[:, :n], X[:, :n]) / n
    rb = np.asarray(conditional_risk(g, w, noise_var=s2, cov_x=jnp.eye(d)), np.float64)
    direct = (np.asarray(jnp.sum(g * X[:, n], -1) - y[:, n], np.float64)) ** 2
    se = np.sqrt(rb.var() / N + direct.var() / N)
    assert abs(rb.mean() - direct.mean()) < 5 * se
    assert rb.var() < direct.var()


@pytest.fixture(scope="module")
def trained():
    # the static shapes of the icl.step_size smoke config: the compiled trainer is shared with test_claims
    return train_lsa(key=jax.random.key(0), num_samples=10, dim=3, num_steps=600, batch=512, num_replicates=2,
                     noise_var=0.25, lr=2e-2)


def test_trained_layer_converges_to_the_optimal_step_and_risk(trained):
    W_KQ, W_PV, losses = trained
    assert W_KQ.shape == W_PV.shape == (2, 4, 4) and losses.shape == (2, 600) and W_KQ.dtype == jnp.float32
    G = np.asarray(lsa.effective_params(W_KQ, W_PV)[0])
    assert np.abs(G - _eta(10, 3, 0.25) * np.eye(3)).max() < 0.02
    assert float(losses[:, -50:].mean()) == pytest.approx(optimum.optimal_risk(num_samples=10, dim=3, noise_var=0.25),
                                                          abs=0.05)


def test_lsa_risk_with_common_prompts_differences_the_reference_sharply(trained):
    W_KQ, W_PV, _ = trained
    eta = _eta(10, 3, 0.25)
    r = lsa_risk(W_KQ, W_PV, key=jax.random.key(9), num_samples=10, num_prompts=1 << 16, noise_var=0.25,
                 ref_gamma=eta * np.eye(3))
    R = optimum.optimal_risk(num_samples=10, dim=3, noise_var=0.25)
    assert abs(r["ref_risk"] - R) < 4 * r["ref_se"]
    assert np.all(np.abs(r["diff"]) < 0.005) and np.all(r["diff_se"] < r["risk_se"])
    # GD construction evaluated as a "trained" layer: exactly zero difference on common prompts
    gd = np.stack([np.stack(lsa.gd_params(eta=eta, dim=3))] * 2)
    r2 = lsa_risk(gd[:, 0], gd[:, 1], key=jax.random.key(9), num_samples=10, num_prompts=1 << 16, noise_var=0.25,
                  ref_gamma=eta * np.eye(3))
    assert np.all(np.abs(r2["diff"]) < 1e-6)


def test_monte_carlo_argmin_of_the_one_step_risk_is_the_optimal_step():
    # same static shapes as the icl.step_argmin smoke config (compiled once per process)
    eta = gd_step_argmin(key=jax.random.key(4), num_samples=10, dim=4, batch=8192, num_replicates=8, noise_var=1.0,
                         num_samples_pad=20)
    assert abs(eta.mean() - _eta(10, 4, 1.0)) < 4 * eta.std(ddof=1) / np.sqrt(8) + 1e-3
    q = gd_risk_coefficients(key=jax.random.key(4), num_samples=4, dim=3, batch=2048, num_replicates=4, noise_var=0.0,
                             target="relu", num_samples_pad=6)
    assert q.shape == (4, 3) and np.all(q[:, 0] == 0.5)
    eta_relu = (q[:, 1] / q[:, 2]).mean()
    assert eta_relu == pytest.approx(optimum.relu_optimal_step_size(num_samples=4, dim=3, noise_var=0.0), abs=0.03)


def test_bad_inputs_raise_naming_the_argument():
    k = jax.random.key(0)
    with pytest.raises(ValueError, match="num_samples must"):
        train_lsa(key=k, num_samples=0, dim=2, num_steps=10, batch=8)
    with pytest.raises(ValueError, match="batch must"):
        train_lsa(key=k, num_samples=3, dim=2, num_steps=10, batch=0)
    with pytest.raises(ValueError, match="num_steps must"):
        train_lsa(key=k, num_samples=3, dim=2, num_steps=0, batch=8)
    with pytest.raises(ValueError, match="noise_var"):
        train_lsa(key=k, num_samples=3, dim=2, num_steps=10, batch=8, noise_var=-1.0)
    with pytest.raises(ValueError, match="noise_var must be a number"):
        train_lsa(key=k, num_samples=3, dim=2, num_steps=10, batch=8, noise_var=float("nan"))
    with pytest.raises(ValueError, match="target must be one of"):
        train_lsa(key=k, num_samples=3, dim=2, num_steps=10, batch=8, target="tanh")
    with pytest.raises(ValueError, match="isotropic"):
        train_lsa(key=k, num_samples=3, dim=2, num_steps=10, batch=8, target="relu", cov_x=2 * np.eye(2))
    with pytest.raises(TypeError, match="key must be a JAX PRNG key"):
        train_lsa(key=0, num_samples=3, dim=2, num_steps=10, batch=8)
    with pytest.raises(ValueError, match="cov_w must be positive definite"):
        gd_step_argmin(key=k, num_samples=3, dim=2, batch=8, num_replicates=2, cov_w=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="cov_x must have shape"):
        gd_step_argmin(key=k, num_samples=3, dim=2, batch=8, num_replicates=2, cov_x=np.eye(3))
    with pytest.raises(ValueError, match="num_samples_pad"):
        gd_risk_coefficients(key=k, num_samples=5, dim=2, batch=8, num_replicates=2, num_samples_pad=3)
    with pytest.raises(ValueError, match="stacks"):
        lsa_risk(np.eye(3), np.eye(3), key=k, num_samples=3, num_prompts=10)
    with pytest.raises(ValueError, match="ref_gamma"):
        lsa_risk(np.eye(3)[None], np.eye(3)[None], key=k, num_samples=3, num_prompts=10, ref_gamma=np.eye(3))
    with pytest.raises(ValueError, match="noise_var"):
        sample_tasks(key=k, batch=2, num_samples=3, dim=2, noise_var=-1.0)
    with pytest.raises(ValueError, match="chol_x must have shape"):
        sample_tasks(key=k, batch=2, num_samples=3, dim=2, noise_var=0.1, chol_x=np.eye(3))


def test_old_spellings_warn_and_give_the_same_draws():
    k = jax.random.key(3)
    new = sample_tasks(key=k, batch=4, num_samples=3, dim=2, noise_var=0.5)
    with pytest.warns(DeprecationWarning, match="by position is deprecated"):
        old = sample_tasks(k, 4, 3, 2, 0.5, np.eye(2), np.eye(2))
    for a, b in zip(old, new, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    with pytest.warns(DeprecationWarning):
        q_old = gd_risk_coefficients(k, n=3, d=2, batch=16, replicates=2, n_pad=4)
    q_new = gd_risk_coefficients(key=k, num_samples=3, dim=2, batch=16, num_replicates=2, num_samples_pad=4)
    assert np.array_equal(q_old, q_new)
    W = np.stack([np.stack(lsa.gd_params(eta=0.5, dim=2))])
    with pytest.warns(DeprecationWarning):
        r_old = lsa_risk(k, W[:, 0], W[:, 1], n=3, n_prompts=64)
    r_new = lsa_risk(W[:, 0], W[:, 1], key=k, num_samples=3, num_prompts=64)
    assert r_old["risk"] == r_new["risk"] and r_new["n_prompts"] == r_new["num_prompts"] == 64
    with pytest.warns(DeprecationWarning):
        rb = conditional_risk(jnp.zeros((2, 2)), jnp.ones((2, 2)), 0.5, jnp.eye(2))
    assert np.asarray(rb) == pytest.approx([2.5, 2.5])


def test_trained_nuisance_vanishes(trained):  # u (x) A = 0 and c b = 0 at the optimum (docs/icl.md)
    _, u, c, A, b = (np.asarray(a) for a in lsa.effective_params(*trained[:2]))
    assert np.max(np.linalg.norm(u, axis=1) * np.linalg.norm(A, axis=(1, 2))) < 0.05
    assert np.max(np.abs(c) * np.linalg.norm(b, axis=1)) < 0.05
