"""Closed forms of ``theory.icl.optimum``: reference values, invariants, bad inputs, jit/vmap/grad, deprecations."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory.icl import optimum as opt


def _iso(n, d, s2):
    return {"num_samples": n, "dim": d, "noise_var": s2}


def _gen(n, sx, sw, s2):
    return {"num_samples": n, "cov_x": sx, "cov_w": sw, "noise_var": s2}


ISO = [(10, 4, 0.25, 0.655737704918, 0.065573770492, 1.627049180328, 3.594262295082),
       (20, 5, 1, 0.740740740741, 0.037037037037, 2.296296296296, 5.259259259259),
       (5, 3, 0, 0.555555555556, 0.111111111111, 1.333333333333, 2.444444444444),
       (1, 1, 0, 0.333333333333, 0.333333333333, 0.666666666667, 0.666666666667),
       (50, 10, 4, 0.769230769231, 0.015384615385, 6.307692307692, 13.230769230769),
       (100, 20, 0.5, 0.823045267490, 0.008230452675, 4.039094650206, 19.676954732510)]


@pytest.mark.parametrize("n,d,s2,eta,eta_sum,risk,trap", ISO)
def test_isotropic_closed_forms_match_reference_values(n, d, s2, eta, eta_sum, risk, trap):
    assert opt.optimal_step_size(**_iso(n, d, s2)) == pytest.approx(eta, abs=1e-11)
    assert opt.optimal_step_size_sum(**_iso(n, d, s2)) == pytest.approx(eta_sum, abs=1e-11)
    assert opt.optimal_risk(**_iso(n, d, s2)) == pytest.approx(risk, abs=1e-11)
    assert opt.rank_one_trap_risk(**_iso(n, d, s2)) == pytest.approx(trap, abs=1e-11)
    Id = np.eye(d)
    assert opt.optimal_preconditioner(**_gen(n, Id, Id, s2)) == pytest.approx(eta * Id, abs=1e-11)
    assert opt.risk_of_preconditioner(eta * Id, **_gen(n, Id, Id, s2)) == pytest.approx(risk, abs=1e-10)
    assert opt.optimal_preconditioned_risk(**_gen(n, Id, Id, s2)) == pytest.approx(risk, abs=1e-10)


def test_risk_of_step_size_matches_reference_values():
    etas = [0, 0.5, 1, 10 / 14.25, 10 / 15]
    assert opt.risk_of_step_size(etas, **_iso(10, 4, 0.25)) == pytest.approx(
        [4.25, 1.775, 2.35, 1.639966, 1.627778], abs=1e-6)


def test_axis_aligned_preconditioner_matches_reference_values():
    sx = np.diag([0.5, 1, 2.5])
    g = opt.optimal_preconditioner(**_gen(10, sx, np.eye(3), 0.25))
    assert np.diag(g) == pytest.approx([1.025641, 0.655738, 0.314961], abs=1e-6)
    assert opt.optimal_preconditioned_risk(**_gen(10, sx, np.eye(3), 0.25)) == pytest.approx(1.369348, abs=1e-6)
    # the paper's prior Sw = Sx^-1 with d = 3: step 10/14.25 (docs/icl.md, finding 1)
    g = opt.optimal_preconditioner(**_gen(10, sx, np.linalg.inv(sx), 0.25))
    assert g == pytest.approx(10 / 14.25 * np.diag([2, 1, 0.4]), abs=1e-12)
    assert opt.optimal_preconditioned_risk(**_gen(10, sx, np.linalg.inv(sx), 0.25)) == pytest.approx(
        opt.optimal_risk(**_iso(10, 3, 0.25)), abs=1e-12)


def test_scaled_isotropic_model_preconditioner_and_risk():  # Sx = s I, Sw = tau^2 I
    g = opt.optimal_preconditioner(**_gen(10, 0.25 * np.eye(4), 2 * np.eye(4), 0.25))
    assert g == pytest.approx(2.580645 * np.eye(4), abs=1e-6)
    r = opt.optimal_preconditioned_risk(**_gen(10, 0.25 * np.eye(4), 2 * np.eye(4), 0.25))
    assert r == pytest.approx(0.959677, abs=1e-6)


def test_relu_step_and_risk_match_reference_values():
    for n, d, s2, g, r in ((10, 4, 0, 0.476190476190, 0.380952380952), (20, 3, 0.25, 0.625, 0.59375),
                           (1, 1, 0, 0.166666666667, 0.458333333333)):
        assert opt.relu_optimal_step_size(**_iso(n, d, s2)) == pytest.approx(g, abs=1e-11)
        assert opt.relu_optimal_risk(**_iso(n, d, s2)) == pytest.approx(r, abs=1e-11)


def _spd(rng, d, cond=100.0):
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return q @ np.diag(np.geomspace(1, cond, d) / np.sqrt(cond) * rng.uniform(0.5, 2)) @ q.T


iso = st.tuples(st.integers(1, 500), st.integers(1, 50), st.floats(0, 100))


@given(iso)
def test_isotropic_step_and_risk_are_monotone_and_bounded(p):
    n, d, s2 = p
    eta, r = opt.optimal_step_size(**_iso(n, d, s2)), opt.optimal_risk(**_iso(n, d, s2))
    assert 0 < eta < 1 and eta == pytest.approx(n * opt.optimal_step_size_sum(**_iso(n, d, s2)))
    assert opt.optimal_step_size(**_iso(n + 1, d, s2)) > eta and opt.optimal_step_size(**_iso(n, d + 1, s2)) < eta
    assert s2 <= r <= s2 + d
    assert opt.optimal_risk(**_iso(n + 1, d, s2)) < r < opt.optimal_risk(**_iso(n, d + 1, s2))
    assert opt.optimal_risk(**_iso(n, d, s2 + 1)) > r
    # linear targets are the non-linear family with mu1 = d, kappa = d(d+2)
    assert opt.nonlinear_optimal_step_size(**_iso(n, d, s2), mu1=d, kappa=d * (d + 2)) == pytest.approx(eta)


@given(st.integers(1, 200), st.integers(1, 6), st.floats(0, 10), st.integers(0, 2**31))
def test_general_optimum_is_the_minimiser_and_equivariant(n, d, s2, seed):
    rng = np.random.default_rng(seed)
    sx, sw = _spd(rng, d), _spd(rng, d)
    g = opt.optimal_preconditioner(**_gen(n, sx, sw, s2))
    r = opt.risk_of_preconditioner(g, **_gen(n, sx, sw, s2))
    assert r == pytest.approx(opt.optimal_preconditioned_risk(**_gen(n, sx, sw, s2)), rel=1e-9, abs=1e-9)
    delta = rng.standard_normal((d, d)) * 0.1
    M, _ = opt.moment_matrices(**_gen(n, sx, sw, s2))
    excess = opt.risk_of_preconditioner(g + delta, **_gen(n, sx, sw, s2)) - r
    assert excess == pytest.approx(np.trace(sx @ delta.T @ M @ delta), rel=1e-6, abs=1e-9)
    assert excess > 0
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    g_rot = opt.optimal_preconditioner(**_gen(n, q @ sx @ q.T, q @ sw @ q.T, s2))
    assert g_rot == pytest.approx(q @ g @ q.T, rel=1e-6, abs=1e-9)
    a = rng.uniform(0.3, 3)
    assert opt.optimal_preconditioner(**_gen(n, a**2 * sx, sw / a**2, s2)) == pytest.approx(g / a**2, rel=1e-6,
                                                                                            abs=1e-9)
    sinv = np.linalg.inv(sx)
    g_paper = opt.optimal_preconditioner(**_gen(n, sx, 0.5 * (sinv + sinv.T), s2))
    assert g_paper @ sx == pytest.approx(opt.optimal_step_size(**_iso(n, d, s2)) * np.eye(d), rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("fn", [opt.optimal_step_size, opt.optimal_risk, opt.optimal_step_size_sum,
                                opt.relu_optimal_step_size, opt.rank_one_trap_risk, opt.relu_optimal_risk])
def test_bad_scalar_inputs_raise_naming_the_argument(fn):
    with pytest.raises(ValueError, match=r"num_samples must be an integer in \[1, inf\]"):
        fn(**_iso(0, 3, 0.1))
    with pytest.raises(ValueError, match="dim must"):
        fn(**_iso(5, 0, 0.1))
    with pytest.raises(ValueError, match=r"noise_var must lie in \[0, inf"):
        fn(**_iso(5, 3, -0.1))
    with pytest.raises(ValueError, match="noise_var must be a number in .*got nan"):
        fn(**_iso(5, 3, float("nan")))
    with pytest.raises(ValueError, match=r"noise_var must be a finite number in \[0, inf\)"):
        fn(**_iso(5, 3, float("inf")))
    with pytest.raises(TypeError, match="num_samples must be an integer"):
        fn(**_iso(5.5, 3, 0.1))


def test_bad_covariances_raise_naming_the_argument():
    Id = np.eye(2)
    with pytest.raises(ValueError, match="cov_x must be positive definite"):
        opt.optimal_preconditioner(**_gen(5, np.diag([1.0, -1.0]), Id, 0.1))
    with pytest.raises(ValueError, match="cov_w must be symmetric"):
        opt.optimal_preconditioner(**_gen(5, Id, np.array([[1.0, 0.5], [0.0, 1.0]]), 0.1))
    with pytest.raises(ValueError, match="cov_w must have shape"):
        opt.optimal_preconditioner(**_gen(5, Id, np.eye(3), 0.1))
    with pytest.raises(ValueError, match="cov_x must not contain NaN"):
        opt.optimal_preconditioner(**_gen(5, np.full((2, 2), np.nan), Id, 0.1))
    with pytest.raises(ValueError, match="square"):
        opt.risk_of_preconditioner(Id, **_gen(5, np.ones(2), Id, 0.1))
    with pytest.raises(ValueError, match="gamma must have shape"):
        opt.risk_of_preconditioner(np.eye(3), **_gen(5, Id, Id, 0.1))
    with pytest.raises(ValueError, match="gamma must not contain NaN"):
        opt.risk_of_preconditioner(np.full((2, 2), np.nan), **_gen(5, Id, Id, 0.1))
    with pytest.raises(ValueError, match="eta must be finite"):
        opt.risk_of_step_size(np.inf, **_iso(5, 2, 0.1))
    with pytest.raises(ValueError, match="noise_var"):
        opt.optimal_preconditioner(**_gen(5, Id, Id, -1.0))
    with pytest.raises(ValueError, match="num_samples must"):
        opt.risk_of_preconditioner(Id, **_gen(0, Id, Id, 0.1))


# ---- jit / vmap / grad ------------------------------------------------------------------------------
#
# Each closed form users sweep, as a function of the swept argument ``x`` (a real scalar): its value
# under jit and vmap equals the eager float64 value, and its grad (float64, inside jax.enable_x64)
# matches a central finite difference of the eager value.

SX = np.array([[1.5, 0.3, 0.0], [0.3, 1.0, -0.2], [0.0, -0.2, 0.6]])
SW = np.array([[0.8, 0.1, 0.0], [0.1, 1.2, 0.0], [0.0, 0.0, 1.0]])
G0 = np.array([[0.5, 0.1, 0.0], [0.0, 0.4, -0.1], [0.2, 0.0, 0.6]])

def _affine(a, t, b):
    """``a + t b``: NumPy float64 for a concrete ``t``, jax.numpy in the current precision for a traced one (JAX's
    caches must not see NumPy float64 constants that enable_x64 switches between precisions)."""
    if isinstance(t, float):
        return a + t * b
    return jnp.asarray(a, t.dtype) + t * jnp.asarray(b, t.dtype)


SWEEPS = {
    "optimal_step_size": lambda s2: opt.optimal_step_size(**_iso(10, 4, s2)),
    "optimal_step_size_sum": lambda s2: opt.optimal_step_size_sum(**_iso(10, 4, s2)),
    "optimal_risk": lambda s2: opt.optimal_risk(**_iso(10, 4, s2)),
    "risk_of_step_size": lambda eta: opt.risk_of_step_size(eta, **_iso(10, 4, 0.25)),
    "rank_one_trap_risk": lambda s2: opt.rank_one_trap_risk(**_iso(10, 4, s2)),
    "nonlinear_optimal_step_size": lambda k: opt.nonlinear_optimal_step_size(**_iso(10, 4, 0.25), mu1=0.3, kappa=k),
    "relu_optimal_step_size": lambda s2: opt.relu_optimal_step_size(**_iso(10, 4, s2)),
    "relu_optimal_risk": lambda s2: opt.relu_optimal_risk(**_iso(10, 4, s2)),
    "optimal_preconditioner": lambda s2: opt.optimal_preconditioner(**_gen(10, SX, SW, s2)),
    "optimal_preconditioner_vs_cov": lambda t: opt.optimal_preconditioner(**_gen(10, _affine(SX, t, np.eye(3)), SW,
                                                                                 0.25)),
    "optimal_preconditioned_risk": lambda s2: opt.optimal_preconditioned_risk(**_gen(10, SX, SW, s2)),
    "risk_of_preconditioner": lambda t: opt.risk_of_preconditioner(_affine(0 * G0, t, G0), **_gen(10, SX, SW, 0.25)),
    "moment_matrices": lambda s2: opt.moment_matrices(**_gen(10, SX, SW, s2))[0],
}
POINTS = {"nonlinear_optimal_step_size": 2.0,
          "risk_of_step_size": 0.6, "optimal_preconditioner_vs_cov": 0.2, "risk_of_preconditioner": 1.3}


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_closed_form_under_jit_vmap_grad_float64(name):
    fn, x0 = SWEEPS[name], POINTS.get(name, 0.25)
    xs = np.array([x0, 1.5 * x0, 2.0 * x0])
    eager = np.stack([np.asarray(fn(float(x)), np.float64) for x in xs])
    with jax.enable_x64(True):
        jitted = np.stack([np.asarray(jax.jit(fn)(jnp.float64(x))) for x in xs])
        vmapped = np.asarray(jax.vmap(fn)(jnp.asarray(xs)))
        assert jitted.dtype == vmapped.dtype == np.float64
        np.testing.assert_allclose(jitted, eager, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(vmapped, eager, rtol=1e-12, atol=1e-14)
        grad = np.asarray(jax.jacfwd(fn)(jnp.float64(x0)))
        assert np.asarray(jax.grad(lambda x: jnp.sum(fn(x)))(jnp.float64(x0))) == pytest.approx(np.sum(grad), rel=1e-10)
    h = 1e-6 * max(1.0, abs(x0))
    fd = (np.asarray(fn(x0 + h), np.float64) - np.asarray(fn(x0 - h), np.float64)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_closed_form_under_jit_and_vmap_float32(name):
    fn, x0 = SWEEPS[name], POINTS.get(name, 0.25)
    xs = np.array([x0, 1.5 * x0, 2.0 * x0], np.float32)
    eager = np.stack([np.asarray(fn(float(x)), np.float64) for x in xs])
    vmapped = np.asarray(jax.vmap(fn)(jnp.asarray(xs)))
    assert vmapped.dtype == np.float32
    np.testing.assert_allclose(vmapped, eager, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.jit(fn)(jnp.float32(x0))), eager[0], rtol=2e-5, atol=1e-6)
    assert np.all(np.isfinite(np.asarray(jax.grad(lambda x: jnp.sum(fn(x)))(jnp.float32(x0)))))


@pytest.mark.parametrize("fn", [opt.optimal_step_size, opt.optimal_risk, opt.relu_optimal_step_size])
def test_closed_forms_vmap_over_integer_num_samples_and_dim(fn):
    ns = jnp.arange(1, 6)
    got = jax.vmap(lambda n: fn(num_samples=n, dim=4, noise_var=0.25))(ns)
    assert np.asarray(got) == pytest.approx([fn(**_iso(int(n), 4, 0.25)) for n in ns], rel=1e-6)
    got = jax.vmap(lambda d: fn(num_samples=10, dim=d, noise_var=0.25))(ns)
    assert np.asarray(got) == pytest.approx([fn(**_iso(10, int(d), 0.25)) for d in ns], rel=1e-6)


@pytest.mark.parametrize("call", [
    lambda x: opt.optimal_step_size(**_iso(10, 4, x)),
    lambda x: opt.optimal_risk(num_samples=x, dim=4, noise_var=0.25),
    lambda x: opt.relu_optimal_risk(num_samples=10, dim=x, noise_var=0.25),
    lambda x: opt.nonlinear_optimal_step_size(**_iso(10, 4, 0.25), mu1=x, kappa=2.0),
    lambda x: opt.optimal_preconditioner(**_gen(10, SX, SW, x)),
    lambda x: opt.optimal_preconditioned_risk(**_gen(10, _affine(SX, x - 2.0, np.eye(3)), SW, 0.25)),
    lambda x: opt.risk_of_preconditioner(G0, **_gen(10, SX, _affine(SW, x, np.triu(np.ones((3, 3)), 1)), 0.25)),
])
def test_traced_invalid_arguments_give_nan(call):
    """Out of range under jit (noise_var < 0, num_samples < 1, dim < 1, mu1 <= 0, cov not SPD or not symmetric):
    NaN, never a finite number."""
    out = np.asarray(jax.jit(call)(jnp.float32(-1.0)))
    assert np.all(np.isnan(out))


# ---- deprecated spellings ---------------------------------------------------------------------------


def test_old_positional_calls_and_names_warn_and_agree():
    with pytest.warns(DeprecationWarning, match="by position is deprecated"):
        assert opt.optimal_step_size(10, 4, 0.25) == opt.optimal_step_size(**_iso(10, 4, 0.25))
    with pytest.warns(DeprecationWarning, match="'n' is deprecated"):
        assert opt.optimal_risk(n=10, dim=4, noise_var=0.25) == opt.optimal_risk(**_iso(10, 4, 0.25))
    with pytest.warns(DeprecationWarning, match="'d' is deprecated"):
        assert opt.relu_optimal_risk(num_samples=10, d=4, noise_var=0.25) == opt.relu_optimal_risk(**_iso(10, 4, 0.25))
    with pytest.warns(DeprecationWarning):
        assert opt.risk_of_step_size(0.5, 10, 4, 0.25) == opt.risk_of_step_size(0.5, **_iso(10, 4, 0.25))
    with pytest.warns(DeprecationWarning):
        assert opt.nonlinear_optimal_step_size(10, 4, 0.25, 4, 24) == pytest.approx(
            opt.optimal_step_size(**_iso(10, 4, 0.25)))
    Id = np.eye(2)
    with pytest.warns(DeprecationWarning):
        assert opt.optimal_preconditioner(5, Id, Id, 0.1) == pytest.approx(
            opt.optimal_preconditioner(**_gen(5, Id, Id, 0.1)))
    with pytest.warns(DeprecationWarning):
        assert opt.risk_of_preconditioner(Id, 5, Id, Id, 0.1) == opt.risk_of_preconditioner(Id, **_gen(5, Id, Id, 0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.optimal_step_size(**_iso(10, 4, 0.25))  # the new spelling does not warn
    with pytest.raises(TypeError, match="multiple values"):
        opt.optimal_step_size(10, num_samples=10, dim=4, noise_var=0.25)
    with pytest.raises(TypeError, match="pass 'num_samples' only"):
        opt.optimal_step_size(n=10, num_samples=10, dim=4, noise_var=0.25)
