"""The JAX samplers: kernel hypotheses as posterior draws (moments against the exact law, shapes, dtypes) and
neural-network hypotheses by direct optimisation (they fit the training set; vmapped over initialisations)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import theory.inductive_bias as ib


def _tiny():
    return ib.gp_posterior(np.array([-1.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0]), np.array([-0.5, 0.5]), kernel=1.0)


def test_posterior_draw_errors_have_the_exact_mean_and_variance():
    mean, cov = _tiny()
    law = ib.test_error_law(mean, cov, [0.5, 0.5])
    e = np.asarray(ib.kernel_test_errors(jax.random.key(0), mean, cov, [0.5, 0.5], num_samples=100000), np.float64)
    assert abs(e.mean() - law.mean()) < 5 * np.sqrt(law.var() / e.size)
    assert abs(e.var() - law.var()) < 0.05 * law.var()


def test_chunked_errors_are_the_same_draws_in_float64(x64):
    mean, cov = _tiny()
    a = ib.kernel_test_errors(jax.random.key(1), mean, cov, [0.5, 0.5], num_samples=1000, dtype=jnp.float64)
    assert a.dtype == jnp.float64 and a.shape == (1000,)
    b = ib.kernel_test_errors(jax.random.key(1), mean, cov, [0.5, 0.5], num_samples=1000, dtype=jnp.float64,
                              chunk_size=250)
    assert b.shape == (1000,) and np.all(np.asarray(b) >= 0)


def test_posterior_functions_match_the_posterior_and_interpolate_training_points():
    xtr, ytr = np.array([-1.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0])
    mean, cov = ib.gp_posterior(xtr, ytr, np.array([0.0, 0.4]), kernel=1.0)
    f = np.asarray(ib.sample_posterior_functions(jax.random.key(2), mean, cov, num_samples=20000))
    assert f.shape == (20000, 2, 1)
    np.testing.assert_allclose(f[:, 0, 0], 1.0, atol=1e-5)  # noise-free: the training label exactly
    np.testing.assert_allclose(np.cov(f[:, :, 0].T)[1, 1], cov[1, 1], rtol=0.05)


def test_nn_hypotheses_fit_the_training_set_and_record_test_errors():
    xtr, ytr, xte, yte = ib.sine_task(jax.random.key(0), num_train=10, num_test=20)
    out = ib.nn_test_errors(jax.random.key(1), xtr, ytr, xte, yte, num_samples=4, width=16, depth=1, num_steps=200)
    assert out["test_error"].shape == (4,) and np.all(np.asarray(out["train_error"]) < 1e-2)
    assert len(set(np.round(np.asarray(out["test_error"]), 6))) == 4  # different initialisations


def test_gp_prior_tasks_share_random_numbers_across_dimensions():
    a = ib.gp_prior_task(jax.random.key(0), 4)
    b = ib.gp_prior_task(jax.random.key(0), 8)
    np.testing.assert_array_equal(a[0], b[0][:, :4])
    assert a[0].shape == (30, 4) and a[1].shape == (30, 1)


def test_sampler_bad_inputs_are_rejected():
    mean, cov = _tiny()
    with pytest.raises(TypeError, match="key"):
        ib.kernel_test_errors(0, mean, cov, [0.5, 0.5], num_samples=10)
    with pytest.raises(ValueError, match="num_samples"):
        ib.kernel_test_errors(jax.random.key(0), mean, cov, [0.5, 0.5], num_samples=0)
    with pytest.raises(ValueError, match="shape"):
        ib.kernel_test_errors(jax.random.key(0), mean, cov, [0.5, 0.5, 0.1], num_samples=10)
    with pytest.raises(ValueError, match="depth"):
        ib.nn_test_errors(jax.random.key(0), [[0.0]], [[0.0]], [[0.0]], [[0.0]], num_samples=2, depth=-1)
