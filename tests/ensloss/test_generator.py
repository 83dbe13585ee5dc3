"""The EnsLoss generator: the test vectors, the authors' steps against an independent NumPy transcription, the
batch-CC properties as hypothesis invariants, the surrogate's gradient, the planted errors the checks catch, and
bad inputs (docs/ensloss.md, "The generator step by step")."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.ensloss import bc_inv, ensloss_derivatives, ensloss_surrogate, sample_ensloss_derivatives
from theory.ensloss.reference import numpy_ensloss_derivatives

Z = np.array([-0.5, 2.0, 0.3, 1.5])
E = np.array([0.3, -1.2, 1.1, -0.4])
EPS = 1e-6


def g64(z, n, **kw):
    with jax.enable_x64(True):
        return np.asarray(ensloss_derivatives(np.asarray(z, np.float64), np.asarray(n, np.float64), **kw))


# ---- test vectors (fixed normal draws, float64) -----------------------------------------------------


@pytest.mark.parametrize("box_cox, expected", [
    (0.0, (-1.000001, -0.150598105956, -1.000001, -0.44688103069)),
    (0.5, (-1.000001, -0.080001, -1.000001, -0.426667666667)),
    (-0.5, (-1.000001, -0.1953135, -1.000001, -0.462963962963)),
])
def test_generator_matches_the_test_vectors(box_cox, expected):
    np.testing.assert_allclose(g64(Z, E, box_cox=box_cox), expected, atol=1e-11)


def test_inverse_box_cox_matches_the_test_vectors(x64):
    np.testing.assert_allclose(bc_inv(E, 0.5), (1.3225, 0.16, 2.4025, 0.64), atol=1e-12)
    np.testing.assert_allclose(bc_inv(E, -0.5), (1.384083044983, 0.390625, 4.938271604938, 0.694444444444),
                               atol=1e-11)
    np.testing.assert_allclose(bc_inv(E, 0.0), np.exp(E), rtol=1e-15)


def test_planted_errors_give_the_documented_numbers():
    reversed_ = numpy_ensloss_derivatives(Z, E, assign="reversed")
    np.testing.assert_allclose(reversed_, (-0.301195, -0.500001, -0.670321, -0.666668), atol=1e-6)
    times_z = numpy_ensloss_derivatives(Z, E, tail="multiply")
    np.testing.assert_allclose(times_z[[1, 3]], (-0.602389, -1.005481), atol=1e-6)
    assert np.diff(reversed_[np.argsort(Z)])[0] < 0  # the smallest margin gets the largest derivative: not monotone


def test_inverse_box_cox_boundary_cases(x64):
    e = np.array([np.inf, -np.inf, -3.0, 3.0])
    np.testing.assert_array_equal(bc_inv(e, -0.5), [np.inf, 0.0, 0.16, np.inf])  # 1 + lam e <= 0: +inf
    np.testing.assert_array_equal(bc_inv(e, 0.5), [np.inf, 0.0, 0.0, 6.25])  # 1 + lam e <= 0: 0
    np.testing.assert_allclose(bc_inv(np.array([0.7]), 1e-9), np.exp(0.7), rtol=1e-8)  # continuous at lam = 0
    # the boundary values flow through the generator: +inf is clipped to -1, 0 gives -eps
    np.testing.assert_allclose(g64([0.0, 0.5], [3.0, -3.0], box_cox=-0.5), [-1.0 - EPS, -0.16 - EPS])
    np.testing.assert_allclose(g64([0.0, 0.5], [3.0, -3.0], box_cox=0.5), [-1.0 - EPS, -EPS])


def test_inverse_box_cox_is_differentiable_and_jittable(x64):
    f = jax.jit(lambda e, lam: bc_inv(e, lam))
    e = jnp.array([-0.4, 0.3, 1.1])
    for lam in (-0.5, 0.0, 0.5):
        np.testing.assert_allclose(f(e, lam), bc_inv(np.asarray(e), lam), rtol=1e-14)
        g = jax.grad(lambda x, lam=lam: jnp.sum(bc_inv(x, lam)))(e)
        np.testing.assert_allclose(g, (1 + lam * e) ** (1 / lam - 1) if lam else np.exp(e), rtol=1e-12)
    assert np.isnan(f(e, jnp.nan)).all()


# ---- the JAX generator equals the authors' steps (NumPy transcription) ------------------------------


@pytest.mark.parametrize("B", [1, 2, 5, 64, 129, 300])  # <= 128: pairwise ranks; larger: stable argsort
@pytest.mark.parametrize("box_cox", [0.0, -0.7, 0.5, 1.0])
def test_generator_equals_the_numpy_transcription_with_ties(B, box_cox):
    rng = np.random.default_rng(B)
    z = np.round(rng.standard_normal((7, B)) * 2, 1)  # ties and margins beyond 1
    n = rng.standard_normal((7, B)) * 1.5
    np.testing.assert_allclose(g64(z, n, box_cox=box_cox), numpy_ensloss_derivatives(z, n, box_cox=box_cox),
                               rtol=1e-13, atol=1e-15)


def test_leading_axes_are_batch_axes():
    rng = np.random.default_rng(1)
    z, n = rng.standard_normal((2, 3, 8)), rng.standard_normal((2, 3, 8))
    whole = g64(z, n)
    rows = np.stack([[g64(z[i, j], n[i, j]) for j in range(3)] for i in range(2)])
    np.testing.assert_array_equal(whole, rows)


def test_sampler_draws_one_normal_per_margin_in_the_margins_dtype():
    z = jnp.asarray(np.linspace(-1, 2, 12), jnp.float32)
    key = jax.random.key(3)
    np.testing.assert_array_equal(sample_ensloss_derivatives(key, z, box_cox=0.5),
                                  ensloss_derivatives(z, jax.random.normal(key, z.shape, jnp.float32), box_cox=0.5))
    assert sample_ensloss_derivatives(key, z).dtype == jnp.float32
    np.testing.assert_array_equal(sample_ensloss_derivatives(key, z), sample_ensloss_derivatives(key, z))
    with jax.enable_x64(True):
        assert sample_ensloss_derivatives(key, jnp.asarray(z, jnp.float64)).dtype == jnp.float64


def test_jit_agrees_with_the_eager_call():
    rng = np.random.default_rng(2)
    z, n = rng.standard_normal((4, 16)).astype(np.float32), rng.standard_normal((4, 16)).astype(np.float32)
    f = jax.jit(lambda z, n, lam: ensloss_derivatives(z, n, box_cox=lam))
    np.testing.assert_array_equal(f(z, n, 0.5), ensloss_derivatives(z, n, box_cox=0.5))


# ---- batch-CC invariants (hypothesis) ------------------------------------------------------------------

_SIZES = st.sampled_from([1, 3, 16, 130])  # a few shapes: each compiles once
_JIT = jax.jit(lambda z, n, lam: ensloss_derivatives(z, n, box_cox=lam))


@st.composite
def batches(draw):
    B = draw(_SIZES)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from([0.1, 1.0, 5.0, 50.0]))
    z = rng.standard_normal(B) * scale
    if draw(st.booleans()):
        z = np.round(z)  # ties, exact 0 and 1
    lam = draw(st.sampled_from([0.0, -1.0, -0.7, 0.5, 1.0]))
    return z.astype(np.float32), rng.standard_normal(B).astype(np.float32), lam


@settings(max_examples=25)
@given(batches())
def test_generated_derivatives_are_monotone_negative_bounded_with_a_decaying_tail(batch):
    z, n, lam = batch
    g = np.asarray(_JIT(z, n, lam), np.float64)
    order = np.argsort(z, kind="stable")
    zs, gs = z[order], g[order]
    strict = np.diff(zs) > 0
    assert np.all(np.diff(gs)[strict] >= 0)  # non-decreasing in the margin
    assert np.all(g <= -np.float32(EPS)) and np.all(g >= np.float32(-1.0) - np.float32(EPS))
    beyond = z > 1
    assert np.all(np.abs(g[beyond] + np.float32(EPS)) <= 1.0 / z[beyond] * (1 + 1e-6))


@settings(max_examples=15)
@given(batches(), st.randoms(use_true_random=False))
def test_permuting_the_batch_permutes_the_derivatives(batch, random):
    z, n, lam = batch
    z = z + np.float32(1e-3) * np.arange(len(z), dtype=np.float32)  # distinct margins (ties are broken by position)
    perm = np.array(random.sample(range(len(z)), len(z)))
    g = np.asarray(_JIT(z, n, lam))
    # the same sorted draws assigned by rank: permuting margins (the normals' multiset unchanged) permutes g
    np.testing.assert_array_equal(np.asarray(_JIT(z[perm], n[perm], lam)), g[perm])
    np.testing.assert_array_equal(np.asarray(_JIT(z[perm], n, lam)), g[perm])


@settings(max_examples=15)
@given(batches())
def test_only_the_ranks_of_the_margins_matter_below_the_tail(batch):
    z, n, lam = batch
    z = np.minimum(z, 1.0)
    h = np.minimum(np.float32(0.5) * z + np.float32(0.4) * np.tanh(z), 0.99).astype(np.float32)  # increasing on z <= 1
    if len(np.unique(h)) < len(np.unique(z)):
        return  # float32 merged two margins: the ranks changed
    np.testing.assert_array_equal(np.asarray(_JIT(h, n, lam)), np.asarray(_JIT(z, n, lam)))


def test_the_count_of_clipped_derivatives_is_the_count_of_positive_draws():
    rng = np.random.default_rng(5)
    z = rng.uniform(-3, 1, (200, 16))  # no tail step
    n = rng.standard_normal((200, 16))
    g = g64(z, n)
    np.testing.assert_array_equal(np.sum(g == -1.0 - EPS, axis=1), np.sum(n > 0, axis=1))


def test_a_batch_of_one_gets_the_clipped_magnitude_of_its_draw(x64):
    for zz, nn, lam in ((0.3, 0.7, 0.0), (0.3, -0.7, 0.0), (2.5, -0.2, 0.5), (-4.0, 3.0, -0.5)):
        expected = max(-float(bc_inv(np.array(nn), lam)), -1.0) / max(1.0, zz) - EPS
        assert g64([zz], [nn], box_cox=lam)[0] == pytest.approx(expected, abs=1e-15)


def test_a_general_tail_threshold_keeps_the_derivatives_monotone_and_bounded():
    z = np.linspace(0.05, 3.0, 60)
    n = np.random.default_rng(7).standard_normal(60)
    for t in (0.3, 1.0, 2.0):
        g = g64(z, n, tail_threshold=t)
        assert np.all(np.diff(g) >= 0) and np.all(g >= -1 - EPS)
        assert np.all(np.abs(g[z > t] + EPS) <= t / z[z > t] + 1e-15)
    np.testing.assert_array_equal(g64(z, n, tail_threshold=np.inf), g64(np.minimum(z, 1.0), n))


# ---- the surrogate ------------------------------------------------------------------------------------


def test_the_surrogate_gradient_is_the_sampled_derivative():
    key = jax.random.key(11)
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.standard_normal((16, 3)), jnp.float32)
    y = jnp.asarray(np.where(rng.standard_normal(16) > 0, 1.0, -1.0), jnp.float32)
    w = jnp.asarray([0.8, -0.5, 1.2], jnp.float32)
    g = sample_ensloss_derivatives(key, y * (x @ w))
    dz = jax.jit(jax.grad(lambda m: ensloss_surrogate(key, m)))(y * (x @ w))
    np.testing.assert_allclose(dz, g / 16, rtol=1e-6)


# ---- bad inputs: clear errors before tracing; NaN under jit ------------------------------------------


@pytest.mark.parametrize("margins, normals, kw, match", [
    ([0.1, np.nan], [0.0, 0.0], {}, "margins must not contain NaN"),
    ([0.1, np.inf], [0.0, 0.0], {}, "margins must be finite"),
    ([0.1, 0.2], [0.0, np.nan], {}, "normals must not contain NaN"),
    ([0.1, 0.2], [0.0, 0.0, 1.0], {}, "normals must have the shape of margins"),
    ([], [], {}, "batch_size >= 1"),
    (0.5, 0.5, {}, "batch_size >= 1"),
    ([0.1, 0.2], [0.0, 0.0], {"eps": 0.0}, r"eps must lie in \(0, inf\)"),
    ([0.1, 0.2], [0.0, 0.0], {"eps": -1e-6}, r"eps must lie in \(0, inf\)"),
    ([0.1, 0.2], [0.0, 0.0], {"clip": 0.0}, r"clip must lie in \(-inf, 0\)"),
    ([0.1, 0.2], [0.0, 0.0], {"clip": 0.5}, r"clip must lie in \(-inf, 0\)"),
    ([0.1, 0.2], [0.0, 0.0], {"tail_threshold": 0.0}, r"tail_threshold must lie in \(0, inf\]"),
    ([0.1, 0.2], [0.0, 0.0], {"tail_threshold": -1.0}, r"tail_threshold must lie in \(0, inf\]"),
    ([0.1, 0.2], [0.0, 0.0], {"box_cox": np.nan}, "box_cox must be a number"),
    ([0.1, 0.2], [0.0, 0.0], {"box_cox": np.inf}, "box_cox must be a finite number"),
])
def test_bad_inputs_raise_before_tracing(margins, normals, kw, match):
    with pytest.raises(ValueError, match=match):
        ensloss_derivatives(margins, normals, **kw)


def test_bad_keys_and_labels_of_the_sampler_raise():
    with pytest.raises(TypeError, match="key must be a JAX PRNG key"):
        sample_ensloss_derivatives(0, [0.1, 0.2])
    with pytest.raises(ValueError, match="margins must not contain NaN"):
        ensloss_surrogate(jax.random.key(0), [np.nan, 0.2])
    with pytest.raises(TypeError, match="box_cox must be a real number"):
        bc_inv([0.1], "0.5")


def test_invalid_traced_values_give_nan_not_finite_numbers():
    f = jax.jit(lambda z, n, eps, clip, t: ensloss_derivatives(z, n, eps=eps, clip=clip, tail_threshold=t))
    z, n = jnp.array([[0.1, 0.2], [0.3, 0.4]]), jnp.zeros((2, 2))
    assert np.isnan(f(z, n, -1e-6, -1.0, 1.0)).all()
    assert np.isnan(f(z, n, 1e-6, 0.5, 1.0)).all()
    assert np.isnan(f(z, n, 1e-6, -1.0, 0.0)).all()
    out = np.asarray(f(z.at[0, 1].set(jnp.nan), n, 1e-6, -1.0, 1.0))
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()  # only the batch with the bad margin
