"""Simulators: the reduced model against the finite-sample formulas, the per-draw slope against finite
differences, padding/sweep consistency, dtype and bad inputs. (The full bagged simulation is checked
against the formula, with random and with response-sorted bags, in test_claims.py.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.aggregate import (
    conditional_bias_variance,
    conditional_risk_slope,
    finite_sample_variance,
)

D = 8
CASES = dict(num_samples=np.array([64, 64, 32, 64]), bag_size=np.array([2, 4, 2, 4]),
             rho=np.array([0.0, 0.5, 1.0, 2.0]))


@pytest.fixture(scope="module")
def reduced():
    with jax.enable_x64(True):
        b, v = conditional_bias_variance(key=jax.random.key(0), dim=D, num_replicates=400, max_samples=64,
                                         allow_extrapolation=True, dtype=jnp.float64, **CASES)
        db, dv = conditional_risk_slope(key=jax.random.key(0), dim=D, num_replicates=400, max_samples=64,
                                        dtype=jnp.float64, **CASES)
    return np.asarray(b), np.asarray(v), np.asarray(db), np.asarray(dv)


def test_shapes_and_zero_bias_at_bag_level(reduced):
    b, v, _, _ = reduced
    assert b.shape == v.shape == (400, 4)
    assert np.abs(b[:, 0]).max() < 1e-20 and np.all(v > 0)


def test_variances_match_the_exact_finite_sample_means(reduced):
    _, v, _, _ = reduced
    for j, rho in ((0, 0.0), (2, 1.0)):
        exact = finite_sample_variance(num_samples=int(CASES["num_samples"][j]), dim=D,
                                       bag_size=int(CASES["bag_size"][j]), rho=rho)
        se = v[:, j].std(ddof=1) / np.sqrt(len(v))
        assert abs(v[:, j].mean() - exact) <= 4 * se


def test_per_draw_slope_matches_finite_differences(reduced):
    _, _, db, dv = reduced
    h = 1e-6
    with jax.enable_x64(True):
        b1, v1 = conditional_bias_variance(key=jax.random.key(0), dim=D, num_replicates=400, max_samples=64,
                                           allow_extrapolation=True, dtype=jnp.float64,
                                           **{**CASES, "rho": CASES["rho"] + h})
    b0, v0, _, _ = reduced
    np.testing.assert_allclose((np.asarray(v1) - v0) / h, dv, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose((np.asarray(b1) - b0) / h, db, rtol=1e-3, atol=1e-4)  # O(h) curvature
    assert np.all(dv[:, 0] < 0) and np.all(db[:, 0] == 0)  # at rho = 0 every draw's risk decreases


def test_padding_does_not_change_a_case(reduced):
    b, v, _, _ = reduced
    with jax.enable_x64(True):
        b1, v1 = conditional_bias_variance(key=jax.random.key(0), num_samples=64, dim=D, bag_size=4, rho=0.5,
                                           num_replicates=400, max_samples=64, dtype=jnp.float64)
    np.testing.assert_allclose(np.asarray(v1)[:, 0], v[:, 1], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(b1)[:, 0], b[:, 1], rtol=1e-10)


def test_float32_is_the_default_dtype():
    b, v = conditional_bias_variance(key=jax.random.key(0), num_samples=64, dim=D, bag_size=4, rho=0.5,
                                     num_replicates=2)
    assert b.dtype == jnp.float32 and np.all(np.isfinite(np.asarray(v)))


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_samples=63, bag_size=4, rho=0.5), "multiple of bag_size"),
    (dict(num_samples=64, bag_size=8, rho=0.0), "n/bag_size > dim"),
    (dict(num_samples=64, bag_size=4, rho=1.5), "allow_extrapolation"),
    (dict(num_samples=64, bag_size=4, rho=-1.0), "rho"),
    (dict(num_samples=8, bag_size=4, rho=0.5), "exceed dim"),
    (dict(num_samples=64.0, bag_size=4, rho=0.5), "integers"),
])
def test_bad_inputs_raise(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        conditional_bias_variance(key=jax.random.key(0), dim=D, num_replicates=2, **kwargs)
    with pytest.raises(TypeError, match="dtype"):
        conditional_bias_variance(key=jax.random.key(0), num_samples=64, dim=D, bag_size=4, rho=0.5, num_replicates=2,
                                  dtype=jnp.int32)


def test_deprecated_spellings_warn_and_give_the_same_draws():
    new = conditional_bias_variance(key=jax.random.key(2), num_samples=64, dim=D, bag_size=4, rho=0.5, num_replicates=3,
                                    noise_var=0.5)
    with pytest.warns(DeprecationWarning) as record:
        old = conditional_bias_variance(jax.random.key(2), n_samples=64, dim=D, bag_size=4, rho=0.5, n_draws=3,
                                        noise=0.5)
    messages = " ".join(str(r.message) for r in record)
    assert all(name in messages for name in ("key=", "'num_samples'", "'num_replicates'", "'noise_var'")), messages
    for a, b in zip(old, new, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(TypeError, match="key"):
        conditional_bias_variance(num_samples=64, dim=D, bag_size=4, rho=0.5, num_replicates=2, key=0)


@pytest.mark.parametrize("dim", [1, 3, 10, 60])
def test_spd_inverse_equals_the_lapack_inverse_and_its_vmap_the_unbatched_calls(dim):
    from theory.aggregate.simulate import _spd_inverse

    rows = np.random.default_rng(dim).normal(size=(dim + 8, dim))
    M = rows.T @ rows  # SPD, condition number 1 (d = 1) to 970 (d = 60)
    with jax.enable_x64(True):
        inv = np.asarray(_spd_inverse(jnp.asarray(M)))
        twice = np.asarray(_spd_inverse(2.0 * jnp.asarray(M)))
        batched = np.asarray(jax.vmap(_spd_inverse)(jnp.stack([jnp.asarray(M), 2.0 * jnp.asarray(M)])))
    # entrywise error of order cond(M) * eps relative to the largest entry (at most 2e-13 here)
    atol = 1e-12 * np.abs(np.linalg.inv(M)).max()
    np.testing.assert_allclose(inv, np.linalg.inv(M), rtol=1e-10, atol=atol)
    np.testing.assert_allclose(twice, inv / 2.0, rtol=1e-10, atol=atol)  # (2M)^-1 = M^-1 / 2
    np.testing.assert_array_equal(batched, np.stack([inv, twice]))  # under vmap: one unbatched call per matrix
