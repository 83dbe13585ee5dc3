"""ALDR-KL: the exact solve against reference values and a NumPy oracle, stationarity, multimodal cases, the
envelope gradient, the authors' training-time update and bad inputs.

The properties every registered loss shares are checked in ``tests/test_losses.py`` (entry ``aldr_kl``).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.ldr.aldr import (
    aldr_alpha_from_code,
    aldr_kl_loss,
    aldr_kl_solve,
    aldr_lambda_interval,
    aldr_official_init,
    aldr_official_step,
)
from theory.ldr.losses import ldr_kl_loss, ldr_kl_weights, margin_vector
from theory.ldr.reference import aldr_kl_numpy, aldr_v1_official_step, ldr_kl_numpy, ldr_v1_official

G = np.array([0.5, -1.0, 2.0, 0.0, 1.5])
A02 = 0.2 * (1 - np.eye(5)[1]) + G - G[1]
A01 = 0.1 * (1 - np.eye(5)[1]) + G - G[1]


_SOLVE = jax.jit(lambda f, y, lam0, alpha, c: aldr_kl_solve(f, y, lam0=lam0, alpha=alpha, margin=c))


def solve(f, y, *, lam0, alpha, margin):
    """float64 exact ALDR through one compiled function per shape (hyperparameters traced)."""
    with jax.enable_x64(True):
        v, lam = _SOLVE(jnp.asarray(f, jnp.float64), jnp.asarray(y), jnp.float64(lam0), jnp.float64(alpha),
                        jnp.float64(margin))
        return float(v), float(lam)


@pytest.mark.parametrize("lam0,c,value,lam_star", [
    (1.0, 0.2, 2.3162884603412306, 0.84809469),
    (10.0, 0.2, 1.8230992499750909, 9.98057649),
    (10.0, 0.1, 1.739829961234931, 9.981541309),
])
def test_exact_solution_matches_reference_values_and_the_numpy_oracle(lam0, c, value, lam_star):
    alpha = aldr_alpha_from_code(2.0, num_classes=5, lam0=lam0)
    v, lam = solve(G, 1, lam0=lam0, alpha=alpha, margin=c)
    assert v == pytest.approx(value, abs=1e-12)
    assert lam == pytest.approx(lam_star, abs=1e-7)
    ref_v, ref_lam = aldr_kl_numpy(0.1 * 0 + c * (1 - np.eye(5)[1]) + G - G[1], lam0=lam0, alpha=alpha)
    assert v == pytest.approx(ref_v, abs=1e-12) and lam == pytest.approx(ref_lam, abs=1e-7)


def test_lambda_star_satisfies_the_stationarity_equation():
    alpha = aldr_alpha_from_code(2.0, num_classes=5, lam0=1.0)
    _, lam = solve(G, 1, lam0=1.0, alpha=alpha, margin=0.2)
    with jax.enable_x64(True):
        p = np.asarray(ldr_kl_weights(jnp.asarray(G), jnp.asarray(1), lam=lam, margin=0.2))
    kl = float(np.sum(p * np.log(5 * p)))
    assert kl == pytest.approx(0.488964, abs=1e-6)
    assert alpha * (1.0 - lam) == pytest.approx(kl, abs=1e-8)


def test_the_wrong_sign_fixed_point_would_be_caught():
    # the wrong fixed point lam = lam0 + KL/alpha (first reference case): 1.10666 and value 2.22896, outside [., lam0]
    alpha = aldr_alpha_from_code(2.0, num_classes=5, lam0=1.0)
    lam = 1.0
    for _ in range(200):
        p = np.exp(A02 / lam - np.log(np.sum(np.exp(A02 / lam))))
        lam = 1.0 + np.sum(p * np.log(5 * p)) / alpha
    wrong = float(ldr_kl_numpy(A02, lam)) - 0.5 * alpha * (lam - 1.0) ** 2
    assert lam == pytest.approx(1.10666, abs=1e-5) and wrong == pytest.approx(2.22896, abs=1e-5)
    v, lam_star = solve(G, 1, lam0=1.0, alpha=alpha, margin=0.2)
    lo, hi = aldr_lambda_interval(5, lam0=1.0, alpha=alpha)
    assert not lo <= lam <= hi and lo <= lam_star <= hi
    assert v - wrong == pytest.approx(0.087, abs=1e-3)


def test_lambda_star_in_its_interval_and_value_a_global_maximum_on_random_cases(x64):
    rng = np.random.default_rng(0)
    K, n = 6, 64
    f = jnp.asarray(rng.uniform(-1, 1, (n, K)) * rng.uniform(0.5, 8, (n, 1)))
    y = jnp.asarray(rng.integers(0, K, n))
    for lam0, alpha_c in ((0.5, 1.05), (3.0, 2.0), (10.0, 4.0)):
        alpha = aldr_alpha_from_code(alpha_c, num_classes=K, lam0=lam0)
        v, lam = (np.asarray(x) for x in aldr_kl_solve(f, y, lam0=lam0, alpha=alpha, margin=0.3))
        lo, hi = aldr_lambda_interval(K, lam0=lam0, alpha=alpha)
        assert np.all(lam >= lo - 1e-12) and np.all(lam <= hi + 1e-12)
        at_lam0 = np.asarray(ldr_kl_loss(f, y, lam=lam0, margin=0.3))
        at_lo = np.asarray(ldr_kl_loss(f, y, lam=lo, margin=0.3))
        assert np.all(at_lam0 <= v + 1e-12) and np.all(v <= at_lo + 1e-12)
        a = np.asarray(margin_vector(f, y, 0.3))
        for t in np.linspace(lo, hi, 50):  # never below any lambda on a grid
            assert np.all(ldr_kl_numpy(a, t) - 0.5 * alpha * (t - lam0) ** 2 <= v + 1e-12)


def test_global_maximum_found_in_multimodal_cases():
    # search random inputs for h with two local maxima and check the global one is found
    rng = np.random.default_rng(5)
    found = 0
    K = 5
    for _ in range(400):
        a = rng.uniform(-1, 1, K) * rng.uniform(0.5, 8)
        a = a - a[0]
        lam0 = float(rng.choice([0.5, 1.0, 3.0, 10.0]))
        alpha = aldr_alpha_from_code(float(rng.choice([1.05, 1.5])), num_classes=K, lam0=lam0)
        lo = lam0 - math.log(K) / alpha
        t = np.linspace(max(lo, 1e-9), lam0, 2000)
        h = ldr_kl_numpy(a, t) - 0.5 * alpha * (t - lam0) ** 2
        peaks = np.sum((h[1:-1] > h[:-2]) & (h[1:-1] > h[2:]))
        if peaks >= 2:
            found += 1
            v, _ = solve(a, 0, lam0=lam0, alpha=alpha, margin=0.0)
            assert v == pytest.approx(aldr_kl_numpy(a, lam0=lam0, alpha=alpha)[0], abs=1e-10)
        if found >= 3:
            break
    assert found >= 1


def test_gradient_is_ldr_gradient_at_lambda_star(x64):
    alpha = aldr_alpha_from_code(2.0, num_classes=5, lam0=1.0)
    f, y = jnp.asarray(G), jnp.asarray(1)
    g = jax.grad(lambda f: aldr_kl_loss(f, y, lam0=1.0, alpha=alpha, margin=0.2))(f)
    _, lam = aldr_kl_solve(f, y, lam0=1.0, alpha=alpha, margin=0.2)
    np.testing.assert_allclose(g, ldr_kl_weights(f, y, lam=float(lam), margin=0.2) - np.eye(5)[1], atol=1e-12)
    fd = (float(aldr_kl_loss(f.at[2].add(1e-6), y, lam0=1.0, alpha=alpha, margin=0.2))
          - float(aldr_kl_loss(f.at[2].add(-1e-6), y, lam0=1.0, alpha=alpha, margin=0.2))) / 2e-6
    assert float(g[2]) == pytest.approx(fd, abs=1e-6)


def test_float32_jit_with_traced_hyperparameters():
    f = jnp.asarray(np.random.default_rng(1).normal(size=(16, 10)) * 3, jnp.float32)
    y = jnp.arange(16) % 10
    fn = jax.jit(lambda lam0, alpha: aldr_kl_loss(f, y, lam0=lam0, alpha=alpha, margin=0.1).mean())
    v1 = float(fn(10.0, aldr_alpha_from_code(2.0, num_classes=10, lam0=10.0)))
    v2 = float(fn(1.0, aldr_alpha_from_code(2.0, num_classes=10, lam0=1.0)))
    assert np.isfinite(v1) and np.isfinite(v2) and v2 > v1  # smaller lambda: larger loss
    g = jax.jit(jax.grad(lambda f: aldr_kl_loss(f, y, lam0=1.0, alpha=5.0, margin=0.1).sum()))(f * 1e3)
    assert np.all(np.isfinite(g))


# ---- the authors' training-time formulation (code ALDRLoss_V1, LDRLoss_V1) -----------------------


def test_official_step_reference_values_in_numpy_and_jax():
    loss, lam_new = aldr_v1_official_step(G[None], [1], [10.0], lam0=10.0, alpha_c=2.0, margin=0.1)
    assert float(lam_new[0]) == pytest.approx(9.98253098509201, abs=1e-12)
    assert float(loss[0]) == pytest.approx(1.7398298041738784, abs=1e-12)
    with jax.enable_x64(True):
        state = aldr_official_init(4, lam0=10.0, dtype=jnp.float64)
        v, state = aldr_official_step(state, jnp.asarray(G)[None], jnp.array([1]), jnp.array([2]), lam0=10.0,
                                      alpha_c=2.0, margin=0.1)
        lam_state = np.asarray(state.lam)
        v = float(v[0])
    assert v == pytest.approx(1.7398298041738784, abs=1e-12)
    np.testing.assert_allclose(lam_state, [10.0, 10.0, 9.98253098509201, 10.0], atol=1e-12)


def test_official_step_differs_from_the_exact_solve_by_1e_3_in_lambda():
    # the official step (no margin in p) and the exact solve differ by 1e-3 in lambda, 1.6e-7 in value
    # (docs/ldr.md, "Findings")
    _, lam_off = aldr_v1_official_step(G[None], [1], [10.0], lam0=10.0, alpha_c=2.0, margin=0.1)
    v, lam = solve(G, 1, lam0=10.0, alpha=aldr_alpha_from_code(2.0, num_classes=5, lam0=10.0), margin=0.1)
    assert abs(lam - lam_off[0]) == pytest.approx(9.9e-4, abs=1e-4)
    assert v - 1.7398298041738784 == pytest.approx(1.6e-7, abs=0.2e-7)


def test_the_wrong_sign_official_update_leaves_the_lambda_range():
    # wrong sign update lam0 + lam0 kappa/(alpha_c log K) leaves [lam0 (1 - 1/alpha_c), lam0]: 10.01747 > lam0
    K = 5
    pt = np.exp(G / 10.0) / np.sum(np.exp(G / 10.0)) + 1e-5
    pt /= pt.sum()
    kappa = np.sum(pt * np.log(K * pt))
    assert 10.0 + 10.0 * kappa / (2.0 * math.log(K)) == pytest.approx(10.01747, abs=1e-5)


def test_official_step_stays_in_range_and_equals_ldr_kl_on_normalised_scores(x64):
    rng = np.random.default_rng(2)
    F = jnp.asarray(rng.normal(size=(32, 7)) * 2)
    y = jnp.asarray(rng.integers(0, 7, 32))
    ids = jnp.arange(32)
    state = aldr_official_init(32, lam0=3.0, dtype=jnp.float64)
    for _ in range(3):
        loss, state = aldr_official_step(state, F, y, ids, lam0=3.0, alpha_c=1.5, margin=0.1)
        lam = np.asarray(state.lam)
        assert np.all(lam >= 3.0 * (1 - 1 / 1.5) - 1e-12) and np.all(lam <= 3.0 + 1e-12)
    Fh = np.asarray(F) / (np.abs(np.asarray(F)).sum(1, keepdims=True) / 7)
    extra = -0.5 * (1.5 * math.log(7) / 3.0) * (lam - 3.0) ** 2
    np.testing.assert_allclose(loss, ldr_kl_numpy(0.1 * (1 - np.eye(7)[np.asarray(y)]) + Fh
                                                  - np.take_along_axis(Fh, np.asarray(y)[:, None], 1), lam) + extra,
                               atol=1e-12)


def test_official_step_guards_an_all_zero_row(x64):
    state = aldr_official_init(1, lam0=10.0, dtype=jnp.float64)
    loss, _ = aldr_official_step(state, jnp.zeros((1, 4)), jnp.array([0]), jnp.array([0]), lam0=10.0, alpha_c=2.0)
    assert np.all(np.isfinite(loss))


def test_ldr_v1_reference_value_and_softplus_normalisation():
    assert float(ldr_v1_official(G[None], [1], lam=10.0, margin=0.1)[0]) == pytest.approx(0.82821840260626, abs=1e-12)
    sp = np.logaddexp(0, G)
    np.testing.assert_allclose(sp / sp.mean(), [0.838445490362, 0.269642803873, 1.830772339503, 0.596632645198,
                                                1.464506721065], atol=1e-12)


# ---- bad inputs ------------------------------------------------------------------------------


def test_bad_hyperparameters_raise_and_traced_ones_give_nan():
    f, y = jnp.asarray(G), jnp.asarray(1)
    with pytest.raises(ValueError, match="alpha must be > log"):
        aldr_kl_loss(f, y, lam0=1.0, alpha=1.0)  # log 5 = 1.609 > 1
    aldr_kl_loss(f, y, lam0=1.0, alpha=1.0, lam_min=0.1)  # allowed with an explicit lam_min
    with pytest.raises(ValueError, match="lam0"):
        aldr_kl_loss(f, y, lam0=0.0, alpha=5.0)
    with pytest.raises(ValueError, match="alpha"):
        aldr_kl_loss(f, y, lam0=1.0, alpha=-1.0)
    with pytest.raises(ValueError, match="lam_min"):
        aldr_kl_loss(f, y, lam0=1.0, alpha=5.0, lam_min=2.0)
    with pytest.raises(ValueError, match="labels"):
        aldr_kl_loss(f, jnp.asarray(7), lam0=1.0, alpha=5.0)
    with pytest.raises(ValueError, match="alpha_c"):
        aldr_alpha_from_code(0.0, num_classes=5, lam0=1.0)
    fn = jax.jit(lambda lam0, alpha: aldr_kl_loss(f, y, lam0=lam0, alpha=alpha))
    assert np.isfinite(float(fn(1.0, 5.0)))
    for lam0, alpha in ((1.0, 1.0), (0.0, 5.0), (-1.0, 5.0), (1.0, -1.0), (math.nan, 5.0), (1.0, math.inf)):
        assert math.isnan(float(fn(lam0, alpha)))  # alpha = 1 <= log 5 / lam0: lambda* could reach 0
