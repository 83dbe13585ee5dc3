"""The top-K gate, the conditional density and the sampler (spec A2, A6, A7, A8, A9)."""

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from theory.moe import MoEParams, gates, gauge, log_density, log_gates, sample, selection_mask, validate_params
from theory.moe.reference import log_density_numpy
from theory.moe.simulate import TRUTH

X3, Y3 = np.array([-0.5, 0.3, 0.0]), np.array([1.0, 0.2, -0.4])


def random_params(seed, k, d):
    rng = np.random.default_rng(seed)
    return MoEParams(rng.normal(size=k), rng.normal(size=(k, d)), rng.normal(size=(k, d)), rng.normal(size=k),
                     rng.uniform(0.05, 2.0, size=k))


def test_tv_a1_gates():
    g = gates(TRUTH, X3, K=2)
    np.testing.assert_allclose(g, [[0.6224593312, 0.3775406688, 0], [0, 0.5986876601, 0.4013123399],
                                   [0.3775406688, 0.6224593312, 0]], atol=1e-10)


@pytest.mark.parametrize("K,want", [(2, (-20.50797423, -2.9747057751, -1.6017247855)),
                                    (3, (-15.7415702411, -3.1003776343, -1.6429125838)),
                                    (1, (-34.4371879511, -4.7257913526, -31.7149657289))])
def test_tv_a2_log_density(K, want):
    np.testing.assert_allclose(log_density(TRUTH, X3, Y3, K=K), want, atol=5e-9)


@pytest.mark.parametrize("K,slope,affine", [(1, -1.84579135, -2.53389780), (2, -2.26623386, -2.93708296),
                                            (3, -2.56086465, -2.56086465)])
def test_tv_a3_ranking_rule(K, slope, affine):
    assert log_density(TRUTH, [0.1], [0.0], K=K)[0] == pytest.approx(slope, abs=5e-9)
    assert log_density(TRUTH, [0.1], [0.0], K=K, selection="affine")[0] == pytest.approx(affine, abs=5e-9)


def test_planted_affine_ranking_is_distinguished():  # spec A8.1: 0.67 nats apart
    d = log_density(TRUTH, [0.1], [0.0], K=2) - log_density(TRUTH, [0.1], [0.0], K=2, selection="affine")
    assert abs(d[0]) > 0.6


def test_planted_variance_read_as_std():  # spec A8.2
    wrong = log_density(TRUTH._replace(var=TRUTH.var**2), X3, Y3, K=2)
    np.testing.assert_allclose(wrong, (-122.1307, -15.3723, -6.5917), atol=5e-4)
    assert np.all(np.abs(wrong - log_density(TRUTH, X3, Y3, K=2)) > 4)


def test_planted_unrenormalised_gate_fails_normalisation():  # spec A8.3b
    eta = TRUTH.beta0 + np.outer(X3, TRUTH.beta1[:, 0])
    dense = np.exp(eta - np.logaddexp.reduce(eta, axis=1, keepdims=True))
    mass = np.where(selection_mask(TRUTH, X3, K=2), dense, 0).sum(1)
    np.testing.assert_allclose(mass, (0.9514, 0.8338, 0.8137), atol=5e-5)
    np.testing.assert_allclose(gates(TRUTH, X3, K=2).sum(1), 1.0, atol=1e-14)


def test_std_alias_squares():
    p = validate_params(TRUTH, std=np.sqrt(TRUTH.var))
    np.testing.assert_allclose(p.var, TRUTH.var)


@settings(max_examples=6)
@given(seed=st.integers(0, 10**6), k=st.integers(1, 5), d=st.integers(1, 3), data=st.data())
def test_gate_invariants_and_reference(seed, k, d, data):
    K = data.draw(st.integers(1, k))
    sel = data.draw(st.sampled_from(["slope", "affine"]))
    p = random_params(seed, k, d)
    rng = np.random.default_rng(seed + 1)
    x, y = rng.normal(size=(7, d)), rng.normal(size=7) * 3
    g = gates(p, x, K=K, selection=sel)
    assert np.all(g >= 0) and np.allclose(g.sum(1), 1, atol=1e-12)
    assert np.all((g > 0).sum(1) == K)
    np.testing.assert_allclose(log_density(p, x, y, K=K, selection=sel), log_density_numpy(p, x, y, K, sel),
                               rtol=1e-12, atol=1e-10)
    # translation invariance (A4.5), slope scaling keeps S(x) under slope ranking (A6.5)
    moved = p._replace(beta0=p.beta0 + 1.7, beta1=p.beta1 - 0.4)
    np.testing.assert_allclose(log_density(moved, x, y, K=K, selection=sel), log_density(p, x, y, K=K, selection=sel),
                               atol=1e-11)
    if sel == "slope":
        np.testing.assert_array_equal(selection_mask(p._replace(beta1=3 * p.beta1), x, K=K), selection_mask(p, x, K=K))


@settings(max_examples=5)
@given(seed=st.integers(0, 10**6), k=st.integers(1, 5), d=st.integers(1, 3))
def test_dense_case_matches_independent_softmax(seed, k, d):
    p = random_params(seed, k, d)
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(5, d)), rng.normal(size=5)
    eta = p.beta0 + x @ p.beta1.T
    w = np.exp(eta - eta.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    dens = (w * stats.norm.pdf(y[:, None], x @ p.a.T + p.b, np.sqrt(p.var))).sum(1)
    np.testing.assert_allclose(log_density(p, x, y, K=k), np.log(dens), rtol=1e-10)


def test_permutation_equivariance():
    perm = [2, 0, 1]
    p = MoEParams(*(np.asarray(v)[perm] for v in TRUTH))
    x = np.array([-0.7, -0.2, 0.4, 0.9])
    np.testing.assert_allclose(log_density(p, x, np.zeros(4), K=2), log_density(TRUTH, x, np.zeros(4), K=2),
                               atol=1e-13)


def test_normalisation_integral():
    grid = np.linspace(-15, 15, 30001)
    for x in (-0.9, 0.2):
        for K in (1, 2, 3):
            g = np.exp(log_density(TRUTH, np.full(grid.shape, x), grid, K=K))
            assert abs(np.trapezoid(g, grid) - 1) < 1e-8


def test_extreme_inputs_stay_finite():
    x = np.array([[-1e4], [1e4]])
    y = np.array([1e4, -1e4])
    lg = log_gates(TRUTH._replace(beta0=np.array([0, 500.0, -500.0])), x, K=2)
    assert np.all(np.isfinite(lg[np.isfinite(lg)])) and np.all(np.isfinite(np.exp(lg)))
    assert np.all(np.isfinite(log_density(TRUTH, x, y, K=2)))


def test_sampler_matches_density_ks():
    x0 = 0.3
    xs, ys = sample(TRUTH, 4000, key=jax.random.key(0), K=2, x_low=x0, x_high=x0 + 1e-9, dtype=np.float64)
    g = gates(TRUTH, [x0], K=2)[0]

    def cdf(t):
        return np.sum(g * stats.norm.cdf((t[:, None] - (TRUTH.a[:, 0] * x0 + TRUTH.b)) / np.sqrt(TRUTH.var)), 1)

    assert stats.kstest(np.asarray(ys), cdf).pvalue > 1e-3
    assert np.asarray(xs).shape == (4000, 1)


def test_gauge_pins_reference_and_keeps_density():
    p = gauge(TRUTH._replace(beta0=TRUTH.beta0 + 2, beta1=TRUTH.beta1 + 1), ref=0)
    np.testing.assert_allclose(p.beta0, TRUTH.beta0)
    np.testing.assert_allclose(p.beta1, TRUTH.beta1)


@pytest.mark.parametrize("kwargs,match", [
    ({"K": 0}, "K must be an integer in"), ({"K": 4}, "K must be an integer in"),
    ({"K": 2, "selection": "max"}, "selection must be one of"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        log_density(TRUTH, X3, Y3, **kwargs)


@pytest.mark.parametrize("field,value,match", [
    ("var", np.array([0.1, 0.0, 0.2]), "var must be > 0"), ("var", np.array([0.1, -1.0, 0.2]), "var must be > 0"),
    ("a", np.zeros((3, 2)), r"a must have shape \(3, 1\)"), ("b", np.zeros(2), r"b must have shape \(3,\)"),
    ("beta1", np.zeros(3), "beta1 must have shape"), ("beta0", np.array([0, np.nan, 0]), "beta0 must be finite"),
])
def test_bad_params(field, value, match):
    with pytest.raises(ValueError, match=match):
        validate_params(TRUTH._replace(**{field: value}))


def test_bad_x_shape_and_sample_args():
    with pytest.raises(ValueError, match="x must have shape"):
        log_density(TRUTH, np.zeros((3, 2)), Y3, K=2)
    with pytest.raises(ValueError, match="y must have shape"):
        log_density(TRUTH, X3, Y3[:2], K=2)
    with pytest.raises(ValueError, match="x_low must be < x_high"):
        sample(TRUTH, 10, key=jax.random.key(0), K=2, x_low=1.0, x_high=0.0)
    with pytest.raises(TypeError, match="MoEParams"):
        validate_params({"beta0": 1})
