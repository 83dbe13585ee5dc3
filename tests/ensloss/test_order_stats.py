"""Order-statistic expectations, the rank limit and its CLT band, and the fixed-margin mixture
(docs/ensloss.md, "Order statistics and the rank limit")."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

from theory.ensloss import (
    expected_fixed_margin_derivative,
    expected_rank_derivative,
    rank_limit,
    rank_limit_band,
    sample_ensloss_derivatives,
)

B16 = [-1.00000, -0.99998, -0.99982, -0.99896, -0.99569, -0.98625, -0.96479, -0.92512,
       -0.86395, -0.78328, -0.68970, -0.59102, -0.49283, -0.39691, -0.30099, -0.19598]


def test_rank_expectations_match_the_batch_of_16_table():
    np.testing.assert_allclose(expected_rank_derivative(16, np.arange(1, 17)), B16, atol=5.1e-6)


def _scipy_quad(B, i, lam):
    j = B - i + 1
    log_c = special.gammaln(B + 1) - special.gammaln(j) - special.gammaln(B - j + 1)

    def f(x):
        m = np.exp(x) if lam == 0 else max(1 + lam * x, 0.0) ** (1 / lam) if 1 + lam * x > 0 or lam > 0 else np.inf
        return min(1.0, m) * np.exp(log_c + (j - 1) * special.log_ndtr(x) + (B - j) * special.log_ndtr(-x)) \
            * stats.norm.pdf(x)

    pieces = [(-12, -1 / lam if lam > 0 else -12), (-1 / lam if lam > 0 else -12, 0.0), (0.0, 12.0)]
    return -sum(integrate.quad(f, a, b, epsabs=1e-14, epsrel=1e-13, limit=200)[0] for a, b in pieces if b > a)


@pytest.mark.parametrize("B, i, lam", [(1, 1, 0.0), (7, 3, 0.0), (64, 20, 0.5), (64, 50, -0.5), (300, 260, 1.0),
                                       (16, 16, 0.9)])
def test_quadrature_agrees_with_adaptive_scipy_quadrature(B, i, lam):
    assert expected_rank_derivative(B, i, box_cox=lam) == pytest.approx(_scipy_quad(B, i, lam), abs=1e-11)


def test_rank_expectations_are_monotone_in_rank_and_in_range():
    for lam in (-1.0, 0.0, 0.5, 1.0):
        v = expected_rank_derivative(40, np.arange(1, 41), box_cox=lam)
        assert np.all(np.diff(v) > 0) and np.all(v >= -1) and np.all(v < 0)


def test_rank_limit_values_and_shape():
    assert rank_limit(0.75) == pytest.approx(-0.50942, abs=5e-6)
    assert rank_limit(0.3) == -1.0 and rank_limit(0.5) == -1.0 and rank_limit(1.0) == 0.0 and rank_limit(0.0) == -1.0
    u = np.linspace(0, 1, 101)
    for lam in (-1.0, -0.3, 0.0, 0.5, 1.0):
        G = rank_limit(u, box_cox=lam)
        assert np.all(np.diff(G) >= 0) and np.all(G[u <= 0.5] == -1.0)


def test_the_band_covers_the_exact_expectation_at_every_batch_size():
    """|E v_(i) - G(i/(B+1))| <= rank_limit_band, and the kink uses about half of it."""
    worst = 0.0
    for B in (16, 64, 256, 1024, 4096):
        ranks = np.unique(np.clip(np.round(np.linspace(0.05, 0.95, 25) * (B + 1)), 1, B).astype(int))
        u = ranks / (B + 1)
        ratio = np.abs(expected_rank_derivative(B, ranks) - rank_limit(u)) / rank_limit_band(u, B)
        worst = max(worst, ratio.max())
    assert 0.3 < worst < 0.6


def test_monte_carlo_at_batch_512_near_the_quartile():
    z = jnp.broadcast_to(jnp.linspace(-3.0, 1.0, 512), (800, 512))
    v = np.asarray(sample_ensloss_derivatives(jax.random.key(0), z), np.float64) + 1e-6
    i = int(round(0.75 * 513))
    assert abs(v[:, i - 1].mean() - expected_rank_derivative(512, i)) < 4 * v[:, i - 1].std() / np.sqrt(800)
    assert abs(expected_rank_derivative(512, i) - rank_limit(i / 513)) < rank_limit_band(i / 513, 512)


def test_fixed_margin_mixture_limits():
    assert expected_fixed_margin_derivative(16, 0.0) == pytest.approx(expected_rank_derivative(16, 1), abs=1e-14)
    assert expected_fixed_margin_derivative(16, 1.0) == pytest.approx(expected_rank_derivative(16, 16), abs=1e-14)
    levels = expected_fixed_margin_derivative(16, np.linspace(0, 1, 11))
    assert np.all(np.diff(levels) > 0)  # the more batch-mates below, the flatter the derivative
    assert expected_fixed_margin_derivative(1, 0.3) == pytest.approx(expected_rank_derivative(1, 1))


def test_rank_limit_and_band_work_under_jit_vmap_and_grad(x64):
    u, h = np.array([0.6, 0.7, 0.8, 0.9]), 1e-6  # one shape throughout: one compile per transformation
    for fn in (lambda t: rank_limit(t, box_cox=0.3), lambda t: rank_limit_band(t, 64.0)):
        eager = fn(u)
        np.testing.assert_allclose(jax.jit(jax.vmap(fn))(jnp.asarray(u)), eager, rtol=1e-14)
        fd = (fn(u + h) - fn(u - h)) / (2 * h)
        np.testing.assert_allclose(jax.jit(jax.vmap(jax.grad(fn)))(jnp.asarray(u)), fd, rtol=1e-6)
    assert np.isnan(jax.jit(lambda t: rank_limit(t))(jnp.array([1.5]))).all()
    assert np.isnan(jax.jit(lambda lam: rank_limit(0.7, box_cox=lam))(jnp.nan))


def test_rank_limit_in_float32_matches_float64():
    u = jnp.linspace(0.01, 0.99, 50, dtype=jnp.float32)
    np.testing.assert_allclose(jax.jit(rank_limit)(u), rank_limit(np.asarray(u, np.float64)), atol=2e-6)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: expected_rank_derivative(16, 0), ValueError, r"rank must lie in \[1, 16\]"),
    (lambda: expected_rank_derivative(16, 17), ValueError, r"rank must lie in \[1, 16\]"),
    (lambda: expected_rank_derivative(0, 1), ValueError, "batch_size must be an integer in"),
    (lambda: expected_rank_derivative(16, 2.5), TypeError, "rank must be an integer"),
    (lambda: expected_rank_derivative(16, 3, box_cox=np.nan), ValueError, "box_cox"),
    (lambda: rank_limit(1.2), ValueError, r"u must lie in \[0, 1\]"),
    (lambda: rank_limit(np.nan), ValueError, "u must not contain NaN"),
    (lambda: rank_limit_band(0.0, 16), ValueError, r"u must lie in \(0, 1\)"),
    (lambda: rank_limit_band(0.5, 0.5), ValueError, "batch_size must lie in"),
    (lambda: rank_limit_band(0.5, 16, box_cox=1.5), ValueError, r"box_cox must lie in \(-inf, 1\]"),
    (lambda: expected_fixed_margin_derivative(16, 1.5), ValueError, r"below must lie in \[0, 1\]"),
])
def test_bad_inputs_raise(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
