"""The top-K gate, the conditional density and the sampler: hand-computed values, invariances, planted errors,
jit/vmap/grad agreement and the deprecated spellings."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads
from scipy import stats

from theory.moe import MoEParams, gates, gauge, log_density, log_gates, sample, selection_mask, validate_params
from theory.moe.model import log_expert
from theory.moe.reference import log_density_numpy
from theory.moe.simulate import TRUTH

X3, Y3 = np.array([-0.5, 0.3, 0.0]), np.array([1.0, 0.2, -0.4])


def random_params(seed, k, d):
    rng = np.random.default_rng(seed)
    return MoEParams(rng.normal(size=k), rng.normal(size=(k, d)), rng.normal(size=(k, d)), rng.normal(size=k),
                     rng.uniform(0.05, 2.0, size=k))


def test_top2_gates_of_the_truth_match_hand_computed_values():
    g = gates(TRUTH, X3, top_k=2)
    np.testing.assert_allclose(g, [[0.6224593312, 0.3775406688, 0], [0, 0.5986876601, 0.4013123399],
                                   [0.3775406688, 0.6224593312, 0]], atol=1e-10)


@pytest.mark.parametrize("K,want", [(2, (-20.50797423, -2.9747057751, -1.6017247855)),
                                    (3, (-15.7415702411, -3.1003776343, -1.6429125838)),
                                    (1, (-34.4371879511, -4.7257913526, -31.7149657289))])
def test_log_density_of_the_truth_matches_hand_computed_values(K, want):
    np.testing.assert_allclose(log_density(TRUTH, X3, Y3, top_k=K), want, atol=5e-9)


@pytest.mark.parametrize("K,slope,affine", [(1, -1.84579135, -2.53389780), (2, -2.26623386, -2.93708296),
                                            (3, -2.56086465, -2.56086465)])
def test_slope_and_affine_ranking_give_their_hand_computed_densities(K, slope, affine):
    assert log_density(TRUTH, [0.1], [0.0], top_k=K)[0] == pytest.approx(slope, abs=5e-9)
    assert log_density(TRUTH, [0.1], [0.0], top_k=K, selection="affine")[0] == pytest.approx(affine, abs=5e-9)


def test_affine_ranking_is_0_67_nats_away_from_slope_ranking():
    d = log_density(TRUTH, [0.1], [0.0], top_k=2) - log_density(TRUTH, [0.1], [0.0], top_k=2, selection="affine")
    assert abs(d[0]) > 0.6


def test_variance_read_as_a_standard_deviation_moves_the_density_by_nats():
    wrong = log_density(TRUTH._replace(var=TRUTH.var**2), X3, Y3, top_k=2)
    np.testing.assert_allclose(wrong, (-122.1307, -15.3723, -6.5917), atol=5e-4)
    assert np.all(np.abs(wrong - log_density(TRUTH, X3, Y3, top_k=2)) > 4)


def test_unrenormalised_sparse_gate_loses_mass():
    eta = TRUTH.beta0 + np.outer(X3, TRUTH.beta1[:, 0])
    dense = np.exp(eta - np.logaddexp.reduce(eta, axis=1, keepdims=True))
    mass = np.where(selection_mask(TRUTH, X3, top_k=2), dense, 0).sum(1)
    np.testing.assert_allclose(mass, (0.9514, 0.8338, 0.8137), atol=5e-5)
    np.testing.assert_allclose(gates(TRUTH, X3, top_k=2).sum(1), 1.0, atol=1e-14)


def test_std_argument_is_squared_into_a_variance():
    p = validate_params(TRUTH, std=np.sqrt(TRUTH.var))
    np.testing.assert_allclose(p.var, TRUTH.var)


@settings(max_examples=6)
@given(seed=st.integers(0, 10**6), k=st.integers(1, 5), d=st.integers(1, 3), data=st.data())
def test_gates_are_a_top_k_distribution_and_the_density_matches_the_numpy_oracle(seed, k, d, data):
    K = data.draw(st.integers(1, k))
    sel = data.draw(st.sampled_from(["slope", "affine"]))
    p = random_params(seed, k, d)
    rng = np.random.default_rng(seed + 1)
    x, y = rng.normal(size=(7, d)), rng.normal(size=7) * 3
    g = gates(p, x, top_k=K, selection=sel)
    assert np.all(g >= 0) and np.allclose(g.sum(1), 1, atol=1e-12)
    assert np.all((g > 0).sum(1) == K)
    np.testing.assert_allclose(log_density(p, x, y, top_k=K, selection=sel), log_density_numpy(p, x, y, K, sel),
                               rtol=1e-12, atol=1e-10)
    # translation invariance of the softmax; scaling the slopes keeps S(x) under slope ranking
    moved = p._replace(beta0=p.beta0 + 1.7, beta1=p.beta1 - 0.4)
    np.testing.assert_allclose(log_density(moved, x, y, top_k=K, selection=sel),
                               log_density(p, x, y, top_k=K, selection=sel), atol=1e-11)
    if sel == "slope":
        np.testing.assert_array_equal(selection_mask(p._replace(beta1=3 * p.beta1), x, top_k=K),
                                      selection_mask(p, x, top_k=K))


@settings(max_examples=5)
@given(seed=st.integers(0, 10**6), k=st.integers(1, 5), d=st.integers(1, 3))
def test_top_k_equal_to_num_experts_is_the_dense_softmax_moe(seed, k, d):
    p = random_params(seed, k, d)
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(5, d)), rng.normal(size=5)
    eta = p.beta0 + x @ p.beta1.T
    w = np.exp(eta - eta.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    dens = (w * stats.norm.pdf(y[:, None], x @ p.a.T + p.b, np.sqrt(p.var))).sum(1)
    np.testing.assert_allclose(log_density(p, x, y, top_k=k), np.log(dens), rtol=1e-10)


def test_relabelling_the_experts_leaves_the_density_unchanged():
    perm = [2, 0, 1]
    p = MoEParams(*(np.asarray(v)[perm] for v in TRUTH))
    x = np.array([-0.7, -0.2, 0.4, 0.9])
    np.testing.assert_allclose(log_density(p, x, np.zeros(4), top_k=2), log_density(TRUTH, x, np.zeros(4), top_k=2),
                               atol=1e-13)


def test_conditional_density_integrates_to_one():
    grid = np.linspace(-15, 15, 30001)
    for x in (-0.9, 0.2):
        for K in (1, 2, 3):
            g = np.exp(log_density(TRUTH, np.full(grid.shape, x), grid, top_k=K))
            assert abs(np.trapezoid(g, grid) - 1) < 1e-8


def test_extreme_covariates_and_biases_stay_finite():
    x = np.array([[-1e4], [1e4]])
    y = np.array([1e4, -1e4])
    lg = log_gates(TRUTH._replace(beta0=np.array([0, 500.0, -500.0])), x, top_k=2)
    assert np.all(np.isfinite(lg[np.isfinite(lg)])) and np.all(np.isfinite(np.exp(lg)))
    assert np.all(np.isfinite(log_density(TRUTH, x, y, top_k=2)))


def test_sampler_matches_the_conditional_density_ks():
    x0 = 0.3
    xs, ys = sample(TRUTH, 4000, key=jax.random.key(0), top_k=2, x_low=x0, x_high=x0 + 1e-9, dtype=np.float64)
    g = gates(TRUTH, [x0], top_k=2)[0]

    def cdf(t):
        return np.sum(g * stats.norm.cdf((t[:, None] - (TRUTH.a[:, 0] * x0 + TRUTH.b)) / np.sqrt(TRUTH.var)), 1)

    assert stats.kstest(np.asarray(ys), cdf).pvalue > 1e-3
    assert np.asarray(xs).shape == (4000, 1)


def test_gauge_pins_the_reference_expert():
    p = gauge(TRUTH._replace(beta0=TRUTH.beta0 + 2, beta1=TRUTH.beta1 + 1), ref=0)
    np.testing.assert_allclose(p.beta0, TRUTH.beta0)
    np.testing.assert_allclose(p.beta1, TRUTH.beta1)


@pytest.mark.parametrize("kwargs,match", [
    ({"top_k": 0}, "top_k must be an integer in"), ({"top_k": 4}, "top_k must be an integer in"),
    ({"top_k": 2, "selection": "max"}, "selection must be one of"),
])
def test_bad_top_k_or_selection_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        log_density(TRUTH, X3, Y3, **kwargs)


@pytest.mark.parametrize("field,value,match", [
    ("var", np.array([0.1, 0.0, 0.2]), "var must be > 0"), ("var", np.array([0.1, -1.0, 0.2]), "var must be > 0"),
    ("a", np.zeros((3, 2)), r"a must have shape \(3, 1\)"), ("b", np.zeros(2), r"b must have shape \(3,\)"),
    ("beta1", np.zeros(3), "beta1 must have shape"), ("beta0", np.array([0, np.nan, 0]), "beta0 must be finite"),
])
def test_bad_params_raise(field, value, match):
    with pytest.raises(ValueError, match=match):
        validate_params(TRUTH._replace(**{field: value}))


def test_bad_x_shape_and_sample_arguments_raise():
    with pytest.raises(ValueError, match="x must have shape"):
        log_density(TRUTH, np.zeros((3, 2)), Y3, top_k=2)
    with pytest.raises(ValueError, match="y must have shape"):
        log_density(TRUTH, X3, Y3[:2], top_k=2)
    with pytest.raises(ValueError, match="x_low must be < x_high"):
        sample(TRUTH, 10, key=jax.random.key(0), top_k=2, x_low=1.0, x_high=0.0)
    with pytest.raises(TypeError, match="MoEParams"):
        validate_params({"beta0": 1})


# ---------------------------------------------------------------------------------------------
# The closed forms under jit, vmap and grad (float64 inside jax.enable_x64, and float32).

X6 = np.linspace(-0.9, 0.8, 6)
Y6 = np.array([1.5, -0.3, 0.2, 0.9, 2.4, 3.1])


def _jax_truth(dtype):
    return MoEParams(*(jnp.asarray(v, dtype) for v in TRUTH))


@pytest.mark.parametrize("name", ["log_density", "log_gates", "gates", "log_expert"])
def test_closed_forms_under_jit_and_vmap_equal_the_eager_value(name):
    fn = {"log_density": lambda p, x, y: log_density(p, x, y, top_k=2),
          "log_gates": lambda p, x, y: log_gates(p, x, top_k=2), "gates": lambda p, x, y: gates(p, x, top_k=2),
          "log_expert": log_expert}[name]
    eager = fn(TRUTH, X6, Y6)
    assert isinstance(eager, np.ndarray) and eager.dtype == np.float64
    with jax.enable_x64(True):
        p = _jax_truth(jnp.float64)
        np.testing.assert_allclose(jax.jit(fn)(p, jnp.asarray(X6), jnp.asarray(Y6)), eager, rtol=1e-12, atol=1e-12)
        rows = jax.vmap(lambda x, y: fn(p, x[None], y[None]))(jnp.asarray(X6), jnp.asarray(Y6))
        np.testing.assert_allclose(rows.reshape(eager.shape), eager, rtol=1e-12, atol=1e-12)
        # a batch of parameters: vmap over a leading axis of the mixing measure
        batch = MoEParams(*(jnp.stack([v, v]) for v in p))
        both = jax.vmap(lambda q: fn(q, jnp.asarray(X6), jnp.asarray(Y6)))(batch)
        np.testing.assert_allclose(both, np.stack([eager, eager]), rtol=1e-12, atol=1e-12)
    out32 = jax.jit(fn)(_jax_truth(jnp.float32), jnp.asarray(X6, jnp.float32), jnp.asarray(Y6, jnp.float32))
    assert out32.dtype == jnp.float32
    finite = np.isfinite(eager)
    np.testing.assert_allclose(np.asarray(out32)[finite], eager[finite], rtol=1e-4, atol=1e-4)


def test_log_likelihood_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        x, y = jnp.asarray(X6), jnp.asarray(Y6)

        def loglik(beta0, beta1, a, b, log_var):
            return jnp.sum(log_density(MoEParams(beta0, beta1, a, b, jnp.exp(log_var)), x, y, top_k=2))

        args = tuple(jnp.asarray(v) for v in (TRUTH.beta0, TRUTH.beta1, TRUTH.a, TRUTH.b, np.log(TRUTH.var)))
        check_grads(loglik, args, order=1, modes=["rev", "fwd"], eps=1e-6)
        check_grads(lambda b1: jnp.sum(gates(TRUTH._replace(beta1=b1), x, top_k=2)[:, 1]), (args[1],), order=1,
                    eps=1e-6)


def test_traced_invalid_inputs_give_nan_not_a_finite_number():
    with jax.enable_x64(True):
        x, y = jnp.asarray(X6), jnp.asarray(Y6)
        bad_var = jax.jit(lambda v: log_density(TRUTH._replace(var=v), x, y, top_k=2))(jnp.asarray([0.09, -0.1, 0.2]))
        assert np.all(np.isnan(bad_var))
        bad_k = jax.jit(lambda k: log_density(TRUTH, x, y, top_k=k))
        assert np.all(np.isnan(bad_k(0))) and np.all(np.isnan(bad_k(4)))
        np.testing.assert_allclose(bad_k(2), log_density(TRUTH, X6, Y6, top_k=2), rtol=1e-12)
        nan_x = jax.jit(lambda x_: log_density(TRUTH, x_, y, top_k=2))(x.at[0].set(jnp.nan))
        assert np.all(np.isnan(nan_x))
    with pytest.raises(ValueError, match="x must be finite"):
        log_density(TRUTH, np.array([np.nan, 0.0]), np.zeros(2), top_k=2)


def test_deprecated_spellings_still_work_and_warn():
    with pytest.warns(DeprecationWarning, match="'K' is deprecated"):
        old = log_density(TRUTH, X3, Y3, K=2)
    np.testing.assert_array_equal(old, log_density(TRUTH, X3, Y3, top_k=2))
    for fn in (gates, log_gates, selection_mask):
        with pytest.warns(DeprecationWarning, match="'K' is deprecated"):
            fn(TRUTH, X3, K=2)
    with pytest.raises(TypeError, match="pass 'top_k' only"):
        log_density(TRUTH, X3, Y3, K=2, top_k=2)
    with pytest.raises(TypeError, match="missing required keyword argument 'top_k'"):
        log_density(TRUTH, X3, Y3)
    with pytest.warns(DeprecationWarning, match="MoEParams.k is deprecated"):
        assert TRUTH.k == TRUTH.num_experts == 3
    with pytest.warns(DeprecationWarning, match="MoEParams.d is deprecated"):
        assert TRUTH.d == TRUTH.dim == 1
    with pytest.warns(DeprecationWarning, match="positional ref"):
        np.testing.assert_array_equal(gauge(TRUTH, 0).beta0, gauge(TRUTH, ref=0).beta0)
    with pytest.warns(DeprecationWarning, match="'n' is deprecated"):
        x_old, _ = sample(TRUTH, n=5, key=jax.random.key(0), top_k=2)
    x_new, _ = sample(TRUTH, 5, key=jax.random.key(0), top_k=2)
    np.testing.assert_array_equal(x_old, x_new)
