"""Privacy: reference values of the Laplace scale and effective noise, the optimal-bag-size table, planted
wrong DP constants, the epsilon-DP density ratio on a one-bag toy, monotonicity in k and epsilon, bad inputs
and the deprecated ``noise`` spelling (docs/aggregate.md#label-dp-constants)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.aggregate import (
    asymptotic_risk,
    dp_risk,
    effective_noise,
    label_range,
    laplace_scale,
    optimal_bag_size,
    privatize_bag_means,
)


def test_laplace_scale_and_effective_noise_reference_values():
    assert laplace_scale(bag_size=4, epsilon=1.0, clip=1.0) == 0.5
    assert effective_noise(noise_var=0.7, bag_size=4, epsilon=1.0, clip=1.0) == pytest.approx(0.7 + 2.0)
    assert label_range(clip=3.0, nonnegative=True) == 3.0


@pytest.mark.parametrize("gamma,eps,k_star,rho_star,risk_star", [
    (0.01, 0.1, 3, 4.118, 0.8909), (0.01, 0.3, 2, 0.917, 0.4812), (0.01, 1.0, 1, 0.0, 0.0909),
    (0.05, 0.1, 6, 9.086, 0.9773), (0.05, 0.3, 3, 2.582, 0.8343), (0.05, 1.0, 2, 0.501, 0.3568),
    (0.05, 3.0, 1, 0.0, 0.0994)])
def test_optimal_bag_size_matches_the_reference_table(gamma, eps, k_star, rho_star, risk_star):
    r = optimal_bag_size(gamma, epsilon=eps, constrained=False)
    assert r.bag_size == k_star
    assert r.rho == pytest.approx(rho_star, abs=6e-4)
    assert r.risk == pytest.approx(risk_star, abs=6e-5)


def test_k_star_decreases_as_epsilon_grows():
    ks = [optimal_bag_size(0.05, epsilon=e, constrained=False, max_bag_size=12).bag_size for e in (0.3, 1.0, 3.0)]
    assert ks == [3, 2, 1]


def test_bag_level_alone_prefers_k1():
    for eps in (0.1, 0.3, 1.0):
        risks = [dp_risk(0.05, bag_size=k, rho=0.0, epsilon=eps).risk for k in range(1, 19)]
        assert np.all(np.diff(risks) > 0)


def test_planted_wrong_dp_constants_change_the_risk():
    right = dp_risk(0.05, bag_size=2, rho=0.5, epsilon=1.0).risk
    base = asymptotic_risk(0.05, bag_size=2, rho=0.5)
    b2 = base.bias2 + (1 + 4 / 2) * base.variance  # Laplace variance b^2 instead of 2 b^2
    half = base.bias2 + (1 + 2 * 1 / 2) * base.variance  # sensitivity C/k instead of 2C/k
    assert (right, b2, half) == pytest.approx((0.3568, 0.2648, 0.2188), abs=1e-4)


def test_effective_noise_decreasing_and_dp_risk_limit():
    s = [effective_noise(noise_var=1.0, bag_size=k, epsilon=0.5) for k in range(1, 10)]
    assert np.all(np.diff(s) < 0)
    no_privacy = asymptotic_risk(0.1, bag_size=4, rho=0.3).risk
    assert dp_risk(0.1, bag_size=4, rho=0.3, epsilon=1e8).risk == pytest.approx(no_privacy, rel=1e-9)


def test_epsilon_dp_density_ratio_one_bag_toy():
    # Neighbouring label vectors differ in one label by the full range L = 2C; the Laplace log-density
    # ratio of the released mean is |Delta mean| / b <= eps everywhere (equality for far outputs).
    k, eps, c = 3, 0.7, 1.0
    b = laplace_scale(bag_size=k, epsilon=eps, clip=c)
    y, y_nb = np.array([1.0, 0.2, -0.5]), np.array([-1.0, 0.2, -0.5])
    t = np.linspace(-10, 10, 2001)
    ratio = (-np.abs(t - y.mean()) + np.abs(t - y_nb.mean())) / b
    assert ratio.max() <= eps + 1e-12 and ratio.max() == pytest.approx(eps)


def test_release_noise_scale_and_clipping(x64):
    n, k = 40000, 4
    y = jnp.full(n, 5.0)  # clipped to C = 1
    bags = jnp.arange(n) // k
    out = np.asarray(privatize_bag_means(y, bags, epsilon=2.0, clip=1.0, key=jax.random.key(0)))
    b = laplace_scale(bag_size=k, epsilon=2.0, clip=1.0)
    assert out.shape == (n // k,)
    assert np.mean(out) == pytest.approx(1.0, abs=5 * np.sqrt(2) * b / np.sqrt(n // k))
    assert np.var(out) == pytest.approx(2 * b * b, rel=0.1)
    nonneg = np.asarray(privatize_bag_means(-y, bags, epsilon=1e9, clip=1.0, nonnegative=True, key=jax.random.key(1)))
    np.testing.assert_allclose(nonneg, 0.0, atol=1e-6)


def test_bad_inputs():
    for eps in (0.0, -1.0):
        with pytest.raises(ValueError, match="epsilon"):
            laplace_scale(bag_size=2, epsilon=eps)
        with pytest.raises(ValueError, match="epsilon"):
            dp_risk(0.1, bag_size=2, rho=0.5, epsilon=eps)
        with pytest.raises(ValueError, match="epsilon"):
            privatize_bag_means(jnp.zeros(4), jnp.array([0, 0, 1, 1]), epsilon=eps, key=jax.random.key(0))
    with pytest.raises(ValueError, match="clip"):
        effective_noise(noise_var=1.0, bag_size=2, epsilon=1.0, clip=0.0)
    with pytest.raises(ValueError, match="same size"):
        privatize_bag_means(jnp.zeros(3), jnp.array([0, 0, 1]), epsilon=1.0, key=jax.random.key(0))
    with pytest.raises(ValueError, match="max_bag_size"):
        optimal_bag_size(0.1, epsilon=1.0, max_bag_size=0)
    with pytest.raises(ValueError, match="epsilon"):
        optimal_bag_size(0.1, epsilon=float("nan"))
    with pytest.raises(ValueError, match="noise_var"):
        effective_noise(noise_var=float("nan"), bag_size=2, epsilon=1.0)
    with pytest.raises(ValueError, match="y must not contain NaN"):
        privatize_bag_means(jnp.array([0.0, jnp.nan]), jnp.array([0, 0]), epsilon=1.0, key=jax.random.key(0))
    with pytest.raises(TypeError, match="key"):
        privatize_bag_means(jnp.zeros(2), jnp.array([0, 0]), epsilon=1.0, key=0)


def test_deprecated_noise_spelling_warns_and_gives_the_same_numbers():
    with pytest.warns(DeprecationWarning, match="noise_var"):
        assert effective_noise(noise=0.7, bag_size=4, epsilon=1.0) == effective_noise(noise_var=0.7, bag_size=4,
                                                                                       epsilon=1.0)
    with pytest.warns(DeprecationWarning, match="noise_var"):
        old = dp_risk(0.05, bag_size=2, rho=0.5, epsilon=1.0, noise=0.5)
    assert old == dp_risk(0.05, bag_size=2, rho=0.5, epsilon=1.0, noise_var=0.5)
    with pytest.warns(DeprecationWarning, match="noise_var, bag_size"):
        assert effective_noise(0.7, 4, epsilon=1.0) == effective_noise(noise_var=0.7, bag_size=4, epsilon=1.0)
    with pytest.warns(DeprecationWarning, match="bag_size"):
        assert laplace_scale(4, epsilon=1.0) == laplace_scale(bag_size=4, epsilon=1.0)
    with pytest.warns(DeprecationWarning, match="bag_size, rho"):
        assert dp_risk(0.05, 2, 0.5, epsilon=1.0) == dp_risk(0.05, bag_size=2, rho=0.5, epsilon=1.0)
    with pytest.warns(DeprecationWarning, match="noise_var"):
        old = optimal_bag_size(0.05, epsilon=1.0, noise=0.5, max_bag_size=8)
    assert old.bag_size == optimal_bag_size(0.05, epsilon=1.0, noise_var=0.5, max_bag_size=8).bag_size
