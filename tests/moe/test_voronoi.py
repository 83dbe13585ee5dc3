"""Voronoi cells and the losses D1/D2: hand-computed values, planted slips, invariants, jit/vmap/grad agreement and
the deprecated spellings."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from theory.moe import (
    MoEParams,
    cell_terms_exact,
    cell_terms_over,
    expected_hellinger,
    log_density,
    required_top_k,
    voronoi_cells,
    voronoi_loss_exact,
    voronoi_loss_over,
)
from theory.moe.claims import FIT_SINGLETONS, FIT_SPLIT
from theory.moe.simulate import TRUTH
from theory.moe.voronoi import top_k_sum

pytestmark = pytest.mark.filterwarnings("ignore:top_k = 1")


def test_exact_specified_loss_of_the_singleton_fit_matches_hand_computed_values():
    assert voronoi_cells(FIT_SINGLETONS, TRUTH) == ((0,), (1,), (2,))
    np.testing.assert_allclose(cell_terms_exact(FIT_SINGLETONS, TRUTH), (0.13, 0.3313390349, 0.2313693978), atol=5e-11)
    for K, want in ((1, 0.3313390349), (2, 0.5627084327), (3, 0.6927084327)):
        assert voronoi_loss_exact(FIT_SINGLETONS, TRUTH, top_k=K) == pytest.approx(want, abs=5e-11)


def test_over_specified_loss_of_the_split_fit_matches_hand_values_and_rejects_swapped_exponents():
    assert voronoi_cells(FIT_SPLIT, TRUTH) == ((0,), (1, 2), (3,))
    assert voronoi_loss_over(FIT_SPLIT, TRUTH, top_k=2) == pytest.approx(0.0383553828, abs=5e-11)
    assert voronoi_loss_exact(FIT_SPLIT, TRUTH, top_k=2) == pytest.approx(0.5509471202, abs=5e-11)
    # swapped exponents (rbar/2 on beta1 and b, rbar on a and v) give 0.0794659594
    w = np.exp(FIT_SPLIT.beta0[[1, 2]])
    swapped = abs(w.sum() - np.exp(0.5)) + sum(
        wi * (abs(FIT_SPLIT.beta1[i, 0] - 2) ** 2 + abs(FIT_SPLIT.a[i, 0] - 1) ** 4 + abs(FIT_SPLIT.b[i] + 1) ** 2
              + abs(FIT_SPLIT.var[i] - 0.16) ** 4) for wi, i in zip(w, (1, 2), strict=True))
    assert swapped == pytest.approx(0.0794659594, abs=5e-10)
    assert abs(swapped - voronoi_loss_over(FIT_SPLIT, TRUTH, top_k=2)) > 0.04


def test_d1_is_not_the_sum_over_all_cells():  # 0.692708 instead of 0.562708
    assert cell_terms_exact(FIT_SINGLETONS, TRUTH).sum() == pytest.approx(0.6927084327, abs=1e-9)
    assert voronoi_loss_exact(FIT_SINGLETONS, TRUTH, top_k=2) < 0.6


def test_duplicated_atom_keeps_the_density_with_k_bar_3_and_has_zero_d2():
    """Splitting the middle atom 0.3/0.7 with identical theta: same density with K-bar = 3, D2 = 0."""
    w = np.exp(0.5)
    G = MoEParams(np.array([0, np.log(0.3 * w), np.log(0.7 * w), -0.5]), TRUTH.beta1[[0, 1, 1, 2]],
                  TRUTH.a[[0, 1, 1, 2]], TRUTH.b[[0, 1, 1, 2]], TRUTH.var[[0, 1, 1, 2]])
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1, 1, 1000), rng.normal(size=1000) * 3
    assert np.max(np.abs(log_density(G, x, y, top_k=3) - log_density(TRUTH, x, y, top_k=2))) < 1e-12
    assert voronoi_loss_over(G, TRUTH, top_k=2) < 1e-14
    assert required_top_k(voronoi_cells(G, TRUTH), top_k=2) == 3
    assert expected_hellinger(G, TRUTH, top_k=3, top_k_star=2, n_nodes=8, n_y=401) < 1e-6
    assert np.max(np.abs(log_density(G, x, y, top_k=2) - log_density(TRUTH, x, y, top_k=2))) > 0.5  # K-bar matters


def perturbed(seed, eps):
    rng = np.random.default_rng(seed)
    free = np.array([0.0, 1.0, 1.0])  # the reference expert stays pinned

    def noise(shape):
        return eps * rng.normal(size=shape)

    return MoEParams(TRUTH.beta0 + noise(3) * free, TRUTH.beta1 + noise((3, 1)) * free[:, None],
                     TRUTH.a + noise((3, 1)), TRUTH.b + noise(3), TRUTH.var * np.exp(noise(3)))


@settings(max_examples=30)
@given(seed=st.integers(0, 10**6), eps=st.floats(1e-4, 0.05))
def test_losses_are_nonnegative_monotone_in_top_k_and_equal_on_singleton_cells(seed, eps):
    G = perturbed(seed, eps)
    d1 = [voronoi_loss_exact(G, TRUTH, top_k=K) for K in (1, 2, 3)]
    assert all(v >= 0 for v in d1) and d1[0] <= d1[1] <= d1[2]
    assert d1[2] == pytest.approx(cell_terms_exact(G, TRUTH).sum())
    assert voronoi_cells(G, TRUTH) == ((0,), (1,), (2,))  # close to G*: singleton cells
    np.testing.assert_allclose(cell_terms_over(G, TRUTH), cell_terms_exact(G, TRUTH), rtol=1e-14)


def test_losses_vanish_at_the_truth():
    for K in (1, 2, 3):
        assert voronoi_loss_exact(TRUTH, TRUTH, top_k=K) == 0 and voronoi_loss_over(TRUTH, TRUTH, top_k=K) == 0


@settings(max_examples=30)
@given(terms=st.lists(st.floats(0, 10), min_size=1, max_size=6), data=st.data())
def test_top_k_sum_is_max_over_subsets(terms, data):
    K = data.draw(st.integers(1, len(terms)))
    brute = max(sum(c) for c in itertools.combinations(terms, K))
    assert top_k_sum(terms, K) == pytest.approx(brute, rel=1e-12, abs=1e-12)


def test_empty_cell_counts_the_missing_weight():
    far = TRUTH._replace(b=np.array([2.0, 2.1, 1.9]))  # the cells are uneven: some true atom may get none
    cells = voronoi_cells(far, TRUTH)
    terms = cell_terms_exact(far, TRUTH)
    for j, c in enumerate(cells):
        if not c:
            assert terms[j] == pytest.approx(np.exp(TRUTH.beta0[j]))


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="top_k must be an integer in"):
        voronoi_loss_exact(FIT_SINGLETONS, TRUTH, top_k=0)
    with pytest.raises(ValueError, match="top_k must be an integer in"):
        voronoi_loss_over(FIT_SPLIT, TRUTH, top_k=4)
    with pytest.warns(UserWarning, match="top_k = 1"):
        voronoi_loss_exact(FIT_SINGLETONS, TRUTH, top_k=1)
    big = MoEParams(*(np.asarray(v)[[0, 1, 1, 1, 1, 2]] for v in TRUTH))
    with pytest.raises(ValueError, match="r-bar"):
        voronoi_loss_over(big, TRUTH, top_k=2)
    assert voronoi_loss_over(big, TRUTH, top_k=2, rbar={4: 8}) >= 0
    with pytest.raises(ValueError, match="same covariate dimension"):
        voronoi_cells(MoEParams(np.zeros(2), np.zeros((2, 2)), np.zeros((2, 2)), np.zeros(2), np.ones(2)), TRUTH)
    with pytest.raises(ValueError, match="var must be > 0"):
        voronoi_loss_exact(FIT_SINGLETONS._replace(var=-FIT_SINGLETONS.var), TRUTH, top_k=2)


# ---------------------------------------------------------------------------------------------
# The losses under jit, vmap and grad (float64 inside jax.enable_x64, and float32).


def _jax(p, dtype=jnp.float64):
    return MoEParams(*(jnp.asarray(v, dtype) for v in p))


@pytest.mark.parametrize("name", ["cell_terms_exact", "cell_terms_over", "voronoi_loss_exact", "voronoi_loss_over"])
def test_losses_under_jit_and_vmap_equal_the_eager_value(name):
    fn = {"cell_terms_exact": cell_terms_exact, "cell_terms_over": cell_terms_over,
          "voronoi_loss_exact": lambda f, t: voronoi_loss_exact(f, t, top_k=2),
          "voronoi_loss_over": lambda f, t: voronoi_loss_over(f, t, top_k=2)}[name]
    fits = (FIT_SPLIT, perturbed(1, 0.1)._replace(**{f: np.take(getattr(perturbed(1, 0.1), f), [0, 1, 1, 2], axis=0)
                                                   for f in MoEParams._fields}))
    eager = np.array([fn(f, TRUTH) for f in fits])
    with jax.enable_x64(True):
        t = _jax(TRUTH)
        np.testing.assert_allclose(jax.jit(fn)(_jax(fits[0]), t), eager[0], rtol=1e-12, atol=1e-14)
        batch = MoEParams(*(jnp.stack(v) for v in zip(*(_jax(f) for f in fits), strict=True)))
        np.testing.assert_allclose(jax.vmap(fn, in_axes=(0, None))(batch, t), eager, rtol=1e-12, atol=1e-14)
    out32 = jax.jit(fn)(_jax(fits[0], jnp.float32), _jax(TRUTH, jnp.float32))
    assert out32.dtype == jnp.float32
    np.testing.assert_allclose(out32, eager[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("over", [False, True])
def test_loss_gradient_matches_finite_differences(over):
    loss = voronoi_loss_over if over else voronoi_loss_exact
    fit = FIT_SPLIT if over else FIT_SINGLETONS
    with jax.enable_x64(True):
        t = _jax(TRUTH)

        def f(beta0, beta1, a, b, var):
            return loss(MoEParams(beta0, beta1, a, b, var), t, top_k=2)

        # nudge the atoms off the truth so that every difference is non-zero (the losses are not smooth there)
        args = tuple(jnp.asarray(v) + 1e-3 * (1 + jnp.arange(np.size(v)).reshape(np.shape(v))) for v in fit)
        check_grads(f, args, order=1, modes=["rev"], eps=1e-7)
        grad_at_fit = jax.grad(lambda b: loss(_jax(fit)._replace(b=b), t, top_k=2))(jnp.asarray(fit.b))
        assert np.all(np.isfinite(grad_at_fit))  # zero differences (the pinned reference) get the subgradient 0


def test_top_k_sum_under_jit_vmap_and_grad():
    terms = np.array([0.13, 0.3313390349, 0.2313693978])
    with jax.enable_x64(True):
        assert float(jax.jit(top_k_sum)(jnp.asarray(terms), 2)) == pytest.approx(0.5627084327, abs=1e-12)
        ks = jax.vmap(lambda k: top_k_sum(jnp.asarray(terms), k))(jnp.arange(1, 4))
        np.testing.assert_allclose(ks, [top_k_sum(terms, k) for k in (1, 2, 3)], rtol=1e-12)
        np.testing.assert_allclose(jax.grad(lambda v: top_k_sum(v, 2))(jnp.asarray(terms)), [0.0, 1.0, 1.0])
        check_grads(lambda v: top_k_sum(v, 2), (jnp.asarray(terms),), order=1, modes=["rev"], eps=1e-7)


def test_traced_invalid_inputs_give_nan_not_a_finite_number():
    with jax.enable_x64(True):
        t = _jax(TRUTH)
        by_k = jax.jit(lambda k: voronoi_loss_exact(_jax(FIT_SINGLETONS), t, top_k=k))
        assert np.isnan(by_k(0)) and np.isnan(by_k(4))
        assert float(by_k(2)) == pytest.approx(0.5627084327, abs=5e-11)
        bad_var = jax.jit(lambda v: voronoi_loss_over(_jax(FIT_SPLIT)._replace(var=v), t, top_k=2))
        assert np.isnan(bad_var(jnp.asarray([0.09, -0.17, 0.15, 0.25])))
        big = _jax(MoEParams(*(np.asarray(v)[[0, 1, 1, 1, 1, 2]] for v in TRUTH)))
        assert np.isnan(jax.jit(lambda f: voronoi_loss_over(f, t, top_k=2))(big))  # r-bar(4) unknown
        assert np.isnan(jax.jit(lambda v: top_k_sum(v, 2))(jnp.asarray([0.1, -0.2, 0.3])))
    with pytest.raises(ValueError, match="terms must lie in"):
        top_k_sum([0.1, -0.2], 1)
    with pytest.raises(ValueError, match="terms must not contain NaN"):
        top_k_sum([0.1, np.nan], 1)


def test_deprecated_spellings_still_work_and_warn():
    with pytest.warns(DeprecationWarning, match="'K' is deprecated"):
        assert voronoi_loss_exact(FIT_SINGLETONS, TRUTH, K=2) == voronoi_loss_exact(FIT_SINGLETONS, TRUTH, top_k=2)
    with pytest.warns(DeprecationWarning, match="'K' is deprecated"):
        assert voronoi_loss_over(FIT_SPLIT, TRUTH, K=2) == voronoi_loss_over(FIT_SPLIT, TRUTH, top_k=2)
    with pytest.warns(DeprecationWarning, match="'K' is deprecated"):
        assert top_k_sum([0.1, 0.3], K=1) == 0.3
    with pytest.warns(DeprecationWarning, match="required_Kbar is deprecated"):
        from theory.moe import required_Kbar

        assert required_Kbar(((0,), (1, 2), (3,)), 2) == 3
