"""Closed forms of the Gaussian family: the test vectors, both parameterisations, the NCE Hessian and its limits."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.cnce import (
    ence_curvature,
    ence_gaussian_loss,
    gaussian_chi2,
    gaussian_log_partition,
    gaussian_nll,
    gaussian_partition,
    gaussian_score_moment,
    meco_gradient_variance,
    natural_log_unnormalised,
    nce_hessian_at_optimum,
    nce_min_eigenvalue,
    nce_profiled_normaliser,
    population_nce_loss,
    profiled_nce_loss,
    shift_log_unnormalised,
)

HALF_LOG_2PI = 0.9189385332046727


def test_shift_model_vectors():
    assert gaussian_log_partition(0.3, parameterisation="shift") == pytest.approx(HALF_LOG_2PI, abs=1e-15)
    assert gaussian_nll(0.0, data_mean=2.0) == pytest.approx(3.4189385332046727, abs=1e-14)


def test_the_natural_log_partition_has_gradient_theta():
    """A sign error on grad log Z is invisible in the shift parameterisation; here it is theta."""
    h = 1e-6
    for t in (-1.3, 0.0, 0.7, 2.0):
        d = (gaussian_log_partition(t + h) - gaussian_log_partition(t - h)) / (2 * h)
        assert d == pytest.approx(t, abs=1e-7)
        assert gaussian_log_partition(t + h, parameterisation="shift") == gaussian_log_partition(
            t - h, parameterisation="shift")


def test_the_partition_function_is_the_integral_of_the_unnormalised_density():
    x = np.linspace(-30, 30, 200001)
    for fn, param in ((natural_log_unnormalised, "natural"), (shift_log_unnormalised, "shift")):
        with jax.enable_x64(True):
            vals = np.exp(np.asarray(fn(jnp.float64(1.1), jnp.asarray(x))))
        assert np.trapezoid(vals, x) == pytest.approx(gaussian_partition(1.1, parameterisation=param), rel=1e-10)


def test_multivariate_log_partition_and_chi2():
    t = np.array([0.3, -0.4])
    assert gaussian_log_partition(t) == pytest.approx(0.125 + 2 * HALF_LOG_2PI)
    assert gaussian_chi2(t, np.zeros(2)) == pytest.approx(math.expm1(0.25))


def test_chi2_and_moment_vectors():
    assert gaussian_chi2(1.0) == pytest.approx(1.718281828, abs=1e-9)
    assert gaussian_score_moment(1.0) == pytest.approx(5.436563657, abs=1e-9)
    assert gaussian_score_moment(0.7, 0.2, parameterisation="natural") == pytest.approx(3.1330220, abs=1e-6)
    assert meco_gradient_variance(1.0, batch_size=8, num_noise=8) == pytest.approx(0.8045704571, abs=1e-10)


@pytest.mark.parametrize("R,value", [(0, 1.3862943611), (1, 1.1634513968), (2, 0.7126327204), (4, 0.1208539736)])
def test_population_nce_at_the_optimum(R, value):
    assert population_nce_loss(R, R * R / 2 + HALF_LOG_2PI, data_mean=R) == pytest.approx(value, abs=1e-9)


def test_population_nce_with_the_model_equal_to_the_noise():
    for nu in (1.0, 3.0):
        got = population_nce_loss(0.0, HALF_LOG_2PI, data_mean=2.0, nu=nu)
        assert got == pytest.approx((1 + nu) * math.log(1 + nu) - nu * math.log(nu), abs=1e-10)


def test_nce_hessian_vectors():
    np.testing.assert_allclose(nce_hessian_at_optimum(2.0), [[0.3578439184, -0.2247997546],
                                                             [-0.2247997546, 0.2247997546]], atol=1e-10)
    np.testing.assert_allclose(nce_hessian_at_optimum(4.0), [[0.1480225588, -0.0685974088],
                                                             [-0.0685974088, 0.0342987044]], atol=1e-10)
    np.testing.assert_allclose(nce_hessian_at_optimum(2.0, nu=3.0), [[0.768155, -0.44749], [-0.44749, 0.366228]],
                               atol=1e-6)
    assert nce_min_eigenvalue(2.0) == pytest.approx(0.0568860947, abs=1e-10)
    assert nce_min_eigenvalue(4.0) == pytest.approx(0.0020602205, abs=1e-10)
    assert nce_min_eigenvalue(10.0) == pytest.approx(1.42835e-9, rel=1e-5)


def test_the_nce_hessian_is_psd_and_its_smallest_eigenvalue_decreases_in_R():
    lams = [nce_min_eigenvalue(r) for r in np.linspace(0, 10, 11)]
    assert np.all(np.diff(lams) < 0) and lams[0] == pytest.approx(0.5)
    statistic = [math.log(nce_min_eigenvalue(r)) + r * r / 8 + 5 * math.log(r) for r in (8.0, 10.0)]
    assert abs(statistic[1] - statistic[0]) < 0.3


def test_the_scale_halves_the_hessian():
    np.testing.assert_allclose(nce_hessian_at_optimum(2.0, scale=0.5), 0.5 * nce_hessian_at_optimum(2.0))


def test_profiled_normaliser_and_loss():
    assert nce_profiled_normaliser(1.0, data_mean=4.0) == pytest.approx(2.91893853, abs=1e-8)
    assert nce_profiled_normaliser(2.0, data_mean=8.0) == pytest.approx(8.91893853, abs=1e-8)
    t, R = 1.0, 4.0
    direct = population_nce_loss(t, nce_profiled_normaliser(t, data_mean=R), data_mean=R)
    assert float(profiled_nce_loss(t, data_mean=R)) == pytest.approx(direct, abs=1e-8)
    for R in (4.0, 6.0, 8.0):
        assert float(profiled_nce_loss(0.0, data_mean=R, derivative=2)) == pytest.approx((1 + R * R / 4) / 2)


def test_gradient_descent_counts_on_the_profiled_landscape():
    """Deterministic GD from 0 with step 2/(1 + R^2/4) until |theta - R| < 0.1: 14 and 525 steps (MLE: 1 step)."""
    for R, count in ((2.0, 14), (4.0, 525)):
        t, n, step = 0.0, 0, 2.0 / (1 + R * R / 4)
        while abs(t - R) >= 0.1:
            t -= step * float(profiled_nce_loss(t, data_mean=R, derivative=1))
            n += 1
        assert abs(n - count) <= 0.02 * count


def test_ence_vectors():
    assert ence_curvature(2.0) == pytest.approx(0.6065307, abs=1e-7)
    assert ence_curvature(4.0) == pytest.approx(0.3383382, abs=1e-7)
    assert float(ence_gaussian_loss(1.0, data_mean=2.0)) == pytest.approx(1.4177583, abs=1e-7)
    grid = np.linspace(0, 4, 4001)
    assert grid[np.argmin(ence_gaussian_loss(grid, data_mean=3.0))] == pytest.approx(3.0, abs=1e-3)


@pytest.mark.parametrize("kwargs", [dict(nu=0.0), dict(nu=-1.0), dict(noise_mean=float("nan"))])
def test_bad_nce_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        nce_hessian_at_optimum(2.0, **kwargs)


def test_unknown_parameterisation_raises():
    with pytest.raises(ValueError, match="parameterisation"):
        gaussian_log_partition(0.0, parameterisation="precision")
