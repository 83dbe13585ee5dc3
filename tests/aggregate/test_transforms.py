"""The closed forms users sweep, under jax.jit / jax.vmap / jax.grad: jit and vmap equal the eager float64
value, grad (float64, inside jax.enable_x64) matches a central finite difference, float32 stays close, and
invalid traced inputs give NaN (docs/glossary.md#input-policy)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.aggregate import (
    asymptotic_risk,
    dp_risk,
    effective_noise,
    finite_sample_variance,
    fixed_point_tau,
    label_range,
    laplace_scale,
    optimal_bag_size,
    optimal_rho,
    risk_slope_at_zero,
)

# name: (function of one scalar, three evaluation points, relative tolerance of float32 vs float64)
CLOSED_FORMS = {
    "fixed_point_tau(rho)": (
        lambda r: fixed_point_tau(0.1, bag_size=4, rho=r, allow_extrapolation=True), (0.05, 0.5, 2.0), 1e-5),
    "fixed_point_tau(gamma)": (lambda g: fixed_point_tau(g, bag_size=4, rho=0.3), (0.05, 0.2, 0.6), 1e-5),
    "asymptotic_risk.risk(rho)": (lambda r: asymptotic_risk(0.1, bag_size=4, rho=r).risk, (0.05, 0.3, 0.9), 1e-5),
    "asymptotic_risk.bias2(gamma)": (
        lambda g: asymptotic_risk(g, bag_size=4, rho=0.5).bias2, (0.05, 0.2, 0.6), 1e-5),
    "asymptotic_risk.variance(gamma)": (
        lambda g: asymptotic_risk(g, bag_size=2, rho=0.0).variance, (0.05, 0.2, 0.4), 1e-5),
    "asymptotic_risk.c1(rho)": (
        lambda r: asymptotic_risk(0.25, bag_size=3, rho=r, allow_extrapolation=True).c1, (0.1, 1.0, 3.0), 1e-5),
    "asymptotic_risk.risk(signal)": (
        lambda s: asymptotic_risk(0.1, bag_size=8, rho=0.2, signal=s).risk, (0.2, 1.0, 5.0), 1e-5),
    "asymptotic_risk.risk(noise_var)": (
        lambda s: asymptotic_risk(0.1, bag_size=8, rho=0.2, noise_var=s).risk, (0.2, 1.0, 5.0), 1e-5),
    "risk_slope_at_zero(gamma)": (lambda g: risk_slope_at_zero(g, bag_size=3), (0.05, 0.1, 0.2), 1e-4),
    "finite_sample_variance(noise_var)": (
        lambda s: finite_sample_variance(num_samples=2000, dim=200, bag_size=8, rho=0.0, noise_var=s),
        (0.5, 1.0, 2.0), 1e-6),
    "optimal_rho(signal)": (
        lambda s: optimal_rho(0.1, bag_size=4, signal=s, constrained=False), (0.3, 1.0, 4.0), 1e-3),
    "label_range(clip)": (lambda c: label_range(clip=c), (0.5, 1.0, 3.0), 1e-6),
    "laplace_scale(epsilon)": (lambda e: laplace_scale(bag_size=4, epsilon=e, clip=1.5), (0.3, 1.0, 3.0), 1e-6),
    "effective_noise(epsilon)": (
        lambda e: effective_noise(noise_var=0.7, bag_size=4, epsilon=e), (0.3, 1.0, 3.0), 1e-6),
    "effective_noise(noise_var)": (
        lambda s: effective_noise(noise_var=s, bag_size=2, epsilon=0.5), (0.3, 1.0, 3.0), 1e-6),
    "dp_risk.risk(epsilon)": (lambda e: dp_risk(0.05, bag_size=2, rho=0.5, epsilon=e).risk, (0.3, 1.0, 3.0), 1e-5),
    "dp_risk.risk(rho)": (
        lambda r: dp_risk(0.05, bag_size=3, rho=r, epsilon=0.5, allow_extrapolation=True).risk, (0.2, 1.0, 2.5), 1e-5),
    "optimal_bag_size.risk(epsilon)": (
        lambda e: optimal_bag_size(0.05, epsilon=e, max_bag_size=8, constrained=False).risk, (0.35, 1.2, 2.5), 1e-3),
}


@pytest.mark.parametrize("name", CLOSED_FORMS)
def test_closed_form_under_jit_vmap_grad_float64(name):
    fn, xs, _ = CLOSED_FORMS[name]
    eager = np.array([fn(float(x)) for x in xs])
    with jax.enable_x64(True):
        batched = np.asarray(jax.jit(jax.vmap(fn))(jnp.asarray(xs, jnp.float64)))  # one compile: jit and vmap
        assert batched.dtype == np.float64
        np.testing.assert_allclose(batched, eager, rtol=1e-12)
        grad = float(jax.grad(fn)(jnp.float64(xs[1])))
    h = 1e-5 * xs[1]
    fd = (fn(xs[1] + h) - fn(xs[1] - h)) / (2 * h)
    assert grad == pytest.approx(fd, rel=1e-6, abs=1e-10)


@pytest.mark.parametrize("name", CLOSED_FORMS)
def test_closed_form_under_jit_and_vmap_float32(name):
    fn, xs, rtol = CLOSED_FORMS[name]
    eager = np.array([fn(float(x)) for x in xs])
    vmapped = np.asarray(jax.jit(jax.vmap(fn))(jnp.asarray(xs, jnp.float32)))
    assert vmapped.dtype == np.float32
    np.testing.assert_allclose(vmapped, eager, rtol=rtol)
    assert np.isfinite(float(jax.grad(fn)(jnp.float32(xs[1]))))


def test_vmap_over_integer_bag_size_matches_eager():
    ks = np.array([1, 2, 4, 8])
    with jax.enable_x64(True):
        got = jax.vmap(lambda k: asymptotic_risk(0.1, bag_size=k, rho=0.3).risk)(jnp.asarray(ks))
        rho = jax.vmap(lambda k: optimal_rho(0.1, bag_size=k, constrained=False))(jnp.asarray(ks))
    np.testing.assert_allclose(got, asymptotic_risk(0.1, bag_size=ks, rho=0.3).risk, rtol=1e-12)
    np.testing.assert_allclose(rho, optimal_rho(0.1, bag_size=ks, constrained=False), rtol=1e-12)


def test_optimal_rho_gradient_is_zero_at_a_boundary_optimum():
    with jax.enable_x64(True):
        assert float(jax.grad(lambda s: optimal_rho(0.2, bag_size=2, signal=s))(0.25)) == 0.0  # constrained at 1
        assert float(jax.grad(lambda s: optimal_rho(0.1, bag_size=1, signal=s))(1.0)) == 0.0  # k = 1: rho* = 0


def test_optimal_bag_size_under_jit_matches_eager():
    eager = optimal_bag_size(0.05, epsilon=0.3, max_bag_size=8, constrained=False)
    with jax.enable_x64(True):
        traced = jax.jit(lambda e: optimal_bag_size(0.05, epsilon=e, max_bag_size=8, constrained=False))(0.3)
    assert int(traced.bag_size) == eager.bag_size == 3
    np.testing.assert_allclose(traced.risks, eager.risks, rtol=1e-12)
    np.testing.assert_allclose(traced.rhos, eager.rhos, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name,fn,bad", [
    ("rho < 0", lambda r: asymptotic_risk(0.1, bag_size=4, rho=r).risk, -0.5),
    ("rho > 1 without extrapolation", lambda r: asymptotic_risk(0.1, bag_size=4, rho=r).risk, 1.5),
    ("rho = 0 with 1/k <= gamma", lambda r: asymptotic_risk(0.3, bag_size=4, rho=r).variance, 0.0),
    ("rho = nan", lambda r: fixed_point_tau(0.1, bag_size=4, rho=r), float("nan")),
    ("gamma >= 1", lambda g: asymptotic_risk(g, bag_size=4, rho=0.5).bias2, 1.2),
    ("gamma >= 1/k at the slope", lambda g: risk_slope_at_zero(g, bag_size=4), 0.3),
    ("negative noise_var", lambda s: asymptotic_risk(0.1, bag_size=4, rho=0.5, noise_var=s).risk, -1.0),
    ("negative signal", lambda s: optimal_rho(0.1, bag_size=4, signal=s), -1.0),
    ("epsilon <= 0", lambda e: laplace_scale(bag_size=4, epsilon=e), 0.0),
    ("clip <= 0", lambda c: effective_noise(noise_var=1.0, bag_size=2, epsilon=1.0, clip=c), -1.0),
    ("negative noise_var (DP)", lambda s: effective_noise(noise_var=s, bag_size=2, epsilon=1.0), -1.0),
    ("epsilon <= 0 (DP risk)", lambda e: dp_risk(0.05, bag_size=2, rho=0.5, epsilon=e).risk, -1.0),
    ("negative noise_var (finite n)",
     lambda s: finite_sample_variance(num_samples=2000, dim=200, bag_size=8, rho=1.0, noise_var=s), -1.0),
])
def test_invalid_traced_inputs_give_nan(name, fn, bad):
    assert np.isnan(float(jax.jit(fn)(bad))), name


def test_invalid_traced_inputs_of_optimal_bag_size_give_nan_and_bag_size_zero():
    out = jax.jit(lambda g: optimal_bag_size(g, epsilon=1.0, max_bag_size=4))(1.5)
    assert int(out.bag_size) == 0 and np.isnan(float(out.risk)) and np.all(np.isnan(np.asarray(out.risks)))


def test_finite_sample_variance_vmaps_over_integer_sizes():
    ns = jnp.array([1000, 2000, 4000])
    got = jax.vmap(lambda n: finite_sample_variance(num_samples=n, dim=100, bag_size=4, rho=1.0))(ns)
    eager = [finite_sample_variance(num_samples=int(n), dim=100, bag_size=4, rho=1.0) for n in ns]
    np.testing.assert_allclose(got, eager, rtol=1e-6)
    with pytest.raises(TypeError, match="concrete"):
        jax.jit(lambda r: finite_sample_variance(num_samples=1000, dim=100, bag_size=4, rho=r))(1.0)
