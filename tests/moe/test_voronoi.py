"""Voronoi cells and the losses D1/D2 (spec A2.5-A2.6, A6.6-A6.9, A7, A8.3-A8.4, TV-A4..A6)."""

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.moe import (
    MoEParams,
    cell_terms_exact,
    cell_terms_over,
    expected_hellinger,
    log_density,
    required_Kbar,
    voronoi_cells,
    voronoi_loss_exact,
    voronoi_loss_over,
)
from theory.moe.claims import FIT_A4, FIT_A5
from theory.moe.simulate import TRUTH
from theory.moe.voronoi import top_k_sum

warnings.filterwarnings("ignore", message="K = 1")


def test_tv_a4():
    assert voronoi_cells(FIT_A4, TRUTH) == ((0,), (1,), (2,))
    np.testing.assert_allclose(cell_terms_exact(FIT_A4, TRUTH), (0.13, 0.3313390349, 0.2313693978), atol=5e-11)
    for K, want in ((1, 0.3313390349), (2, 0.5627084327), (3, 0.6927084327)):
        assert voronoi_loss_exact(FIT_A4, TRUTH, K=K) == pytest.approx(want, abs=5e-11)


def test_tv_a5_and_planted_exponents():
    assert voronoi_cells(FIT_A5, TRUTH) == ((0,), (1, 2), (3,))
    assert voronoi_loss_over(FIT_A5, TRUTH, K=2) == pytest.approx(0.0383553828, abs=5e-11)
    assert voronoi_loss_exact(FIT_A5, TRUTH, K=2) == pytest.approx(0.5509471202, abs=5e-11)
    # A8.3: swapped exponents (rbar/2 on beta1 and b, rbar on a and v) give 0.0794659594
    w = np.exp(FIT_A5.beta0[[1, 2]])
    swapped = abs(w.sum() - np.exp(0.5)) + sum(
        wi * (abs(FIT_A5.beta1[i, 0] - 2) ** 2 + abs(FIT_A5.a[i, 0] - 1) ** 4 + abs(FIT_A5.b[i] + 1) ** 2
              + abs(FIT_A5.var[i] - 0.16) ** 4) for wi, i in zip(w, (1, 2), strict=True))
    assert swapped == pytest.approx(0.0794659594, abs=5e-10)
    assert abs(swapped - voronoi_loss_over(FIT_A5, TRUTH, K=2)) > 0.04


def test_planted_sum_over_all_cells():  # A8.4: 0.692708 instead of 0.562708
    assert cell_terms_exact(FIT_A4, TRUTH).sum() == pytest.approx(0.6927084327, abs=1e-9)
    assert voronoi_loss_exact(FIT_A4, TRUTH, K=2) < 0.6


def test_duplicated_atom_a6_9():
    """Splitting the middle atom 0.3/0.7 with identical theta: same density with K-bar = 3, D2 = 0."""
    w = np.exp(0.5)
    G = MoEParams(np.array([0, np.log(0.3 * w), np.log(0.7 * w), -0.5]), TRUTH.beta1[[0, 1, 1, 2]],
                  TRUTH.a[[0, 1, 1, 2]], TRUTH.b[[0, 1, 1, 2]], TRUTH.var[[0, 1, 1, 2]])
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1, 1, 1000), rng.normal(size=1000) * 3
    assert np.max(np.abs(log_density(G, x, y, K=3) - log_density(TRUTH, x, y, K=2))) < 1e-12
    assert voronoi_loss_over(G, TRUTH, K=2) < 1e-14
    assert required_Kbar(voronoi_cells(G, TRUTH), 2) == 3
    assert expected_hellinger(G, TRUTH, K=3, K_star=2, n_nodes=8, n_y=401) < 1e-6
    assert np.max(np.abs(log_density(G, x, y, K=2) - log_density(TRUTH, x, y, K=2))) > 0.5  # K-bar matters


def perturbed(seed, eps):
    rng = np.random.default_rng(seed)
    free = np.array([0.0, 1.0, 1.0])  # the reference expert stays pinned

    def noise(shape):
        return eps * rng.normal(size=shape)

    return MoEParams(TRUTH.beta0 + noise(3) * free, TRUTH.beta1 + noise((3, 1)) * free[:, None],
                     TRUTH.a + noise((3, 1)), TRUTH.b + noise(3), TRUTH.var * np.exp(noise(3)))


@settings(max_examples=30)
@given(seed=st.integers(0, 10**6), eps=st.floats(1e-4, 0.05))
def test_loss_properties(seed, eps):
    G = perturbed(seed, eps)
    d1 = [voronoi_loss_exact(G, TRUTH, K=K) for K in (1, 2, 3)]
    assert all(v >= 0 for v in d1) and d1[0] <= d1[1] <= d1[2]
    assert d1[2] == pytest.approx(cell_terms_exact(G, TRUTH).sum())
    assert voronoi_cells(G, TRUTH) == ((0,), (1,), (2,))  # close to G*: singleton cells
    np.testing.assert_allclose(cell_terms_over(G, TRUTH), cell_terms_exact(G, TRUTH), rtol=1e-14)


def test_zero_at_truth():
    for K in (1, 2, 3):
        assert voronoi_loss_exact(TRUTH, TRUTH, K=K) == 0 and voronoi_loss_over(TRUTH, TRUTH, K=K) == 0


@settings(max_examples=30)
@given(terms=st.lists(st.floats(0, 10), min_size=1, max_size=6), data=st.data())
def test_top_k_sum_is_max_over_subsets(terms, data):
    K = data.draw(st.integers(1, len(terms)))
    brute = max(sum(c) for c in itertools.combinations(terms, K))
    assert top_k_sum(terms, K) == pytest.approx(brute, rel=1e-12, abs=1e-12)


def test_empty_cell_counts_the_missing_weight():
    far = TRUTH._replace(b=np.array([2.0, 2.1, 1.9]))  # every fitted atom nearest to true atom 0 in b? check cells
    cells = voronoi_cells(far, TRUTH)
    terms = cell_terms_exact(far, TRUTH)
    for j, c in enumerate(cells):
        if not c:
            assert terms[j] == pytest.approx(np.exp(TRUTH.beta0[j]))


def test_bad_inputs():
    with pytest.raises(ValueError, match="K must be an integer in"):
        voronoi_loss_exact(FIT_A4, TRUTH, K=0)
    with pytest.raises(ValueError, match="K must be an integer in"):
        voronoi_loss_over(FIT_A5, TRUTH, K=4)
    with pytest.warns(UserWarning, match="K = 1"):
        voronoi_loss_exact(FIT_A4, TRUTH, K=1)
    big = MoEParams(*(np.asarray(v)[[0, 1, 1, 1, 1, 2]] for v in TRUTH))
    with pytest.raises(ValueError, match="r-bar"):
        voronoi_loss_over(big, TRUTH, K=2)
    assert voronoi_loss_over(big, TRUTH, K=2, rbar={4: 8}) >= 0
    with pytest.raises(ValueError, match="same covariate dimension"):
        voronoi_cells(MoEParams(np.zeros(2), np.zeros((2, 2)), np.zeros((2, 2)), np.zeros(2), np.ones(2)), TRUTH)
    with pytest.raises(ValueError, match="var must be > 0"):
        voronoi_loss_exact(FIT_A4._replace(var=-FIT_A4.var), TRUTH, K=2)
