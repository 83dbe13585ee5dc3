"""Kernel hypothesis spaces: the GP posterior, the exact test-error law, the small-eps law, the reference values of
docs/inductive_bias.md ("Test values"), planted errors and bad inputs."""

import math

import numpy as np
import pytest

import theory.inductive_bias as ib

X_TR, Y_TR, X_TE, Y_TE = np.array([-1.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0]), np.array([-0.5, 0.5]), [0.5, 0.5]


def test_tiny_gp_reference_values():
    mean, cov = ib.gp_posterior(X_TR, Y_TR, X_TE, kernel=1.0)
    np.testing.assert_allclose(mean, [0.6751068545, 0.6751068545], atol=1e-10)
    np.testing.assert_allclose(cov, [[0.0178923736, -0.0156797627], [-0.0156797627, 0.0178923736]], atol=1e-10)
    law = ib.test_error_law(mean, cov, Y_TE, rtol=1e-12)
    np.testing.assert_allclose(law.weights, [0.0011063054, 0.0167860682], atol=1e-10)
    np.testing.assert_allclose(law.ncs, [27.716044614, 0.0], atol=1e-8)
    assert law.offset == 0.0 and law.mean() == pytest.approx(0.0485547841, abs=1e-10)
    eps = np.array([0.001, 0.01, 0.05, 0.1])
    np.testing.assert_allclose(law.cdf(eps), [8.4239016547e-07, 2.9517403373e-03, 6.3948671102e-01,
                                              9.5150856529e-01], rtol=1e-9)
    np.testing.assert_allclose(ib.exact_inductive_bias(law, eps), [20.179008, 8.404218, 0.645014, 0.071711],
                               atol=5e-7)


def test_two_output_reference_values_and_the_one_df_planted_error():
    y_tr = np.array([[0, 0.1], [1, 0.3], [0, -0.2]])
    y_te = np.array([[0.5, 0.2], [0.5, -0.1]])
    mean, cov = ib.gp_posterior(X_TR, y_tr, X_TE, kernel=1.0)
    law = ib.test_error_law(mean, cov, y_te, rtol=1e-12)
    np.testing.assert_allclose(law.weights, [0.00055315, 0.00839303], atol=1e-8)
    np.testing.assert_array_equal(law.dfs, [2.0, 2.0])
    np.testing.assert_allclose(law.ncs, [44.29628676, 0.16877425], atol=1e-7)
    bits = ib.exact_inductive_bias(law, np.array([0.005, 0.02]))
    np.testing.assert_allclose(bits, [18.234796, 4.662567], atol=5e-7)
    one_df = ib.exact_inductive_bias(ib.GChiSq(law.weights, 1.0, law.ncs), 0.005)
    assert one_df == pytest.approx(15.26, abs=0.01)


def test_one_dimensional_gp_reference_values_all_evaluators():
    mean, cov = ib.gp_posterior([-2, -1, 0, 1.5, 2.5], [0.3, -0.4, 0.8, 0.1, -0.6], [-1.5, 0.5, 1, 3], kernel=0.8)
    np.testing.assert_allclose(mean[:, 0] if mean.ndim == 2 else mean,
                               [-0.2120267407, 0.9630037609, 0.6127624148, -0.5394709248], atol=1e-10)
    law = ib.test_error_law(mean, cov, [0, 0.5, 0.4, -0.2], rtol=1e-12)
    np.testing.assert_allclose(law.weights, [0.0014915822, 0.0117456838, 0.0501820285, 0.0975259476], atol=1e-10)
    np.testing.assert_allclose(law.ncs, [6.9737208779, 1.7978154771, 1.3712639794, 0.0474518427], atol=1e-9)
    assert law.var() == pytest.approx(0.0410116221, abs=1e-10)
    eps = np.array([0.005, 0.02, 0.05, 0.1, 0.2])
    np.testing.assert_allclose(law.logcdf(eps, method="ruben"), [-8.5766094577, -4.8626672793, -2.8260372589,
                                                                 -1.6380618033, -0.7610838174], atol=1e-10)
    p_imhof = law.cdf(eps, method="imhof")
    np.testing.assert_allclose(p_imhof, [1.8846288278e-04, 7.7298387387e-03, 5.9247170345e-02, 1.9435637837e-01,
                                         4.6715983657e-01], rtol=0, atol=1e-10)  # the reference's own accuracy
    np.testing.assert_allclose(p_imhof, law.cdf(eps, method="ruben"), rtol=0, atol=1e-12)
    np.testing.assert_allclose(law.logcdf(eps, method="saddlepoint"), [-8.563488, -4.839702, -2.814561, -1.634128,
                                                                       -0.761717], atol=5e-7)


def test_variance_used_as_its_own_square_root_is_a_planted_error():
    mean, cov = ib.gp_posterior(X_TR, Y_TR, X_TE, kernel=1.0)
    lam, u = np.linalg.eigh(cov)
    r = u.T @ (mean.ravel() - np.array(Y_TE))
    wrong = ib.GChiSq(lam**2 / 2, 1.0, r**2 / lam**2)
    assert ib.exact_inductive_bias(wrong, 0.05) < 1e-6  # vs 0.645 bits
    sf_bits = -math.log2(1 - float(ib.test_error_law(mean, cov, Y_TE, rtol=1e-12).cdf(0.01)))
    assert sf_bits == pytest.approx(0.0043, abs=1e-4)  # the survival function instead of the CDF


def test_a_test_point_on_a_training_point_has_zero_variance_and_feeds_the_offset():
    mean, cov = ib.gp_posterior(X_TR, Y_TR, np.array([0.0, 0.5]), kernel=1.0)
    assert abs(cov[0, 0]) < 1e-12 and mean.ravel()[0] == pytest.approx(1.0, abs=1e-12)
    law = ib.test_error_law(mean, cov, [1.2, 0.5])
    assert law.weights.size == 1 and law.offset == pytest.approx(0.2**2 / 2, rel=1e-8)
    assert ib.exact_inductive_bias(law, law.offset * 0.99) == math.inf


def test_permuting_test_points_leaves_the_law_unchanged():
    xte = np.array([-0.7, 0.2, 0.9])
    yte = np.array([0.1, 0.8, 0.3])
    m1, c1 = ib.gp_posterior(X_TR, Y_TR, xte, kernel=0.9)
    perm = [2, 0, 1]
    m2, c2 = ib.gp_posterior(X_TR, Y_TR, xte[perm], kernel=0.9)
    np.testing.assert_allclose(m2, m1[perm], atol=1e-12)
    np.testing.assert_allclose(c2, c1[np.ix_(perm, perm)], atol=1e-12)
    l1, l2 = ib.test_error_law(m1, c1, yte), ib.test_error_law(m2, c2, yte[perm])
    assert float(l1.logcdf(0.1)) == pytest.approx(float(l2.logcdf(0.1)), rel=1e-9)


def test_small_eps_law_slope_and_constant():
    law = ib.test_error_law(*ib.gp_posterior(X_TR, Y_TR, X_TE, kernel=1.0), Y_TE, rtol=1e-12)
    eps = np.array([1e-6, 1e-8])
    exact = ib.exact_inductive_bias(law, eps)
    np.testing.assert_allclose(ib.small_eps_inductive_bias(law, eps), exact, atol=5e-3)
    assert (exact[1] - exact[0]) / math.log2(100) == pytest.approx(law.total_df / 2, abs=1e-3)


def test_singular_gram_matrix_falls_back_to_eigh():
    mean, cov = ib.gp_posterior(np.array([0.0, 0.0, 1.0]), np.array([1.0, 1.0, 0.0]), X_TE, kernel=1.0)
    ref_m, ref_c = ib.gp_posterior(np.array([0.0, 1.0]), np.array([1.0, 0.0]), X_TE, kernel=1.0)
    np.testing.assert_allclose(mean, ref_m, atol=1e-7)
    np.testing.assert_allclose(cov, ref_c, atol=1e-7)


def test_bad_inputs_are_rejected():
    mean, cov = ib.gp_posterior(X_TR, Y_TR, X_TE, kernel=1.0)
    with pytest.raises(ValueError, match="positive semi-definite"):
        ib.test_error_law(mean, np.array([[1.0, 0.0], [0.0, -0.5]]), Y_TE)
    with pytest.raises(ValueError, match="symmetric"):
        ib.test_error_law(mean, np.array([[1.0, 0.5], [0.0, 1.0]]), Y_TE)
    with pytest.raises(ValueError, match="shape"):
        ib.test_error_law(mean, cov, [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="lengthscale"):
        ib.rbf_kernel(X_TR, X_TR, lengthscale=0.0)
    with pytest.raises(ValueError, match="jitter"):
        ib.gp_posterior(X_TR, Y_TR, X_TE, kernel=1.0, jitter=-1e-3)
    law = ib.test_error_law(mean, cov, Y_TE)
    for eps in (0.0, -0.1, np.nan):
        with pytest.raises(ValueError, match="eps"):
            ib.exact_inductive_bias(law, eps)
    with pytest.raises(ValueError, match="base"):
        ib.exact_inductive_bias(law, 0.1, base=1.0)
