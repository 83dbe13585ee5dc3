"""LDR-KL loss: spec test vectors, limits, invariants (hypothesis), gradients, extreme and bad inputs."""

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from theory.ldr import crammer_singer_loss, ldr_kl_loss, ldr_kl_weights, margin_matrix, margin_vector
from theory.ldr.reference import ldr_kl_numpy

F = np.array([2.0, 1.0, 0.1])
INF = math.inf


_JITTED = jax.jit(lambda f, y, lam, margin: ldr_kl_loss(f, y, lam=lam, margin=margin))


def loss64(f, y, *, lam, margin=0.0, jit=False):
    """float64 loss; ``jit=True`` runs one compiled function per K with lam and margin traced (fast for hypothesis)."""
    with jax.enable_x64(True):
        f, y = jnp.asarray(f, jnp.float64), jnp.asarray(y)
        if jit:
            return float(_JITTED(f, y, jnp.float64(lam), jnp.float64(margin)))
        return float(ldr_kl_loss(f, y, lam=lam, margin=margin))


def mp_ref(a, lam):
    mpmath.mp.dps = 50
    return float(lam * mpmath.log(sum(mpmath.e ** (mpmath.mpf(float(x)) / lam) for x in a) / len(a)))


# ---- spec A.9 test vectors -------------------------------------------------------------------


def test_tv_a1_cross_entropy_minus_log_k():
    assert loss64(F, 0, lam=1.0) == pytest.approx(-0.6815822723902762, abs=1e-14)


def test_tv_a2_value_weights_gradient(x64):
    f = jnp.asarray(F)
    assert float(ldr_kl_loss(f, jnp.asarray(0), lam=0.5, margin=1.0)) == pytest.approx(-0.16302694106825155, abs=1e-14)
    p = ldr_kl_weights(f, jnp.asarray(0), lam=0.5, margin=1.0)
    np.testing.assert_allclose(p, [0.461830006675, 0.461830006675, 0.076339986651], atol=1e-12)
    g = jax.grad(lambda f: ldr_kl_loss(f, jnp.asarray(0), lam=0.5, margin=1.0))(f)
    np.testing.assert_allclose(g, [-0.538169993325, 0.461830006675, 0.076339986651], atol=1e-12)


def test_tv_a3(x64):
    f = jnp.asarray(F)
    assert float(ldr_kl_loss(f, jnp.asarray(2), lam=0.5, margin=1.0)) == pytest.approx(2.4154894172574513, abs=1e-13)
    p = ldr_kl_weights(f, jnp.asarray(2), lam=0.5, margin=1.0)
    np.testing.assert_allclose(p, [0.878454537195, 0.118885893602, 0.002659569203], atol=1e-12)


def test_tv_a4_crammer_singer_limit():
    assert loss64(F, 1, lam=0.0, margin=1.0) == 2.0
    assert loss64(F, 1, lam=1e-3, margin=1.0) == pytest.approx(1.998901387711332, abs=1e-13)


def test_tv_a5_mean_limit():
    assert loss64(F, 1, lam=INF, margin=1.0) == pytest.approx(0.7, abs=1e-15)
    # spec TV-A5 quotes 0.700042334242923; 50-digit mpmath gives ...2432885 (the spec's last digits are off)
    assert loss64(F, 1, lam=1e4, margin=1.0) == pytest.approx(mp_ref([2.0, 0.0, 0.1], 1e4), abs=1e-15)
    assert loss64(F, 1, lam=1e4, margin=1.0) == pytest.approx(0.700042334242923, abs=1e-12)


def test_margin_matrix_equals_scalar_margin(x64):
    f = jnp.asarray(np.random.default_rng(0).normal(size=(6, 4)))
    y = jnp.arange(6) % 4
    a = ldr_kl_loss(f, y, lam=0.7, margin=0.3)
    b = ldr_kl_loss(f, y, lam=0.7, margin=margin_matrix(4, c=0.3))
    np.testing.assert_allclose(a, b, rtol=1e-14)


def test_margin_matrix_column_convention(x64):
    # C[k, y] is the margin of y over k: margin only on class 1 changes only label-1 losses.
    C = np.zeros((3, 3))
    C[[0, 2], 1] = 2.0
    f = jnp.asarray(F)
    a = margin_vector(f, jnp.asarray(1), C)
    np.testing.assert_allclose(a, [2.0 + 2.0 - 1.0, 0.0, 2.0 + 0.1 - 1.0])
    np.testing.assert_allclose(margin_vector(f, jnp.asarray(0), C), [0.0, -1.0, -1.9])
    assert margin_matrix(3, "class", delta=[0.1, 0.2, 0.3])[0].tolist() == [0.0, 0.2, 0.3]
    assert np.all(margin_matrix(3, "zero") == 0)


# ---- limits and special cases ----------------------------------------------------------------


@pytest.mark.parametrize("lam", [0.0, INF])
def test_traced_lambda_limits_match_explicit_paths(x64, lam):
    f = jnp.asarray(np.random.default_rng(1).normal(size=(5, 4)) * 3)
    y = jnp.arange(5) % 4
    fn = jax.jit(lambda lam: ldr_kl_loss(f, y, lam=lam, margin=0.5))
    np.testing.assert_allclose(fn(lam), ldr_kl_loss(f, y, lam=lam, margin=0.5), rtol=1e-14)
    g = jax.grad(lambda f: jnp.sum(fn(lam) * 0 + ldr_kl_loss(f, y, lam=jnp.asarray(lam), margin=0.5)))(f)
    assert np.all(np.isfinite(g))


def test_crammer_singer_oracle(x64):
    f = jnp.asarray(np.random.default_rng(2).normal(size=(50, 6)) * 2)
    y = jnp.arange(50) % 6
    np.testing.assert_allclose(ldr_kl_loss(f, y, lam=0.0, margin=0.4), crammer_singer_loss(f, y, margin=0.4),
                               atol=1e-15)
    small = ldr_kl_loss(f, y, lam=1e-4, margin=0.4)
    cs = crammer_singer_loss(f, y, margin=0.4)
    assert np.all(small <= cs + 1e-12) and np.all(cs - small <= 1e-4 * math.log(6) + 1e-12)


# ---- hypothesis invariants (spec A.6) --------------------------------------------------------

cases = st.sampled_from([2, 3, 5, 12]).flatmap(lambda K: st.tuples(
    st.lists(st.floats(-20, 20), min_size=K, max_size=K),
    st.integers(0, K - 1),
    st.floats(0, 3),
    st.floats(-3, 3).map(lambda e: 10.0**e),
))


@given(cases, st.floats(-50, 50))
def test_shift_invariance(case, t):
    f, y, c, lam = case
    f = np.asarray(f)
    v = loss64(f, y, lam=lam, margin=c, jit=True)
    assert loss64(f + t, y, lam=lam, margin=c, jit=True) == pytest.approx(v, abs=1e-9 * (1 + abs(v)))


@given(cases, st.randoms(use_true_random=False))
def test_permutation_equivariance(case, rnd):
    f, y, c, lam = case
    f = np.asarray(f)
    perm = list(range(len(f)))
    rnd.shuffle(perm)
    perm = np.asarray(perm)
    v = loss64(f, y, lam=lam, margin=c, jit=True)
    assert loss64(f[perm], int(np.argsort(perm)[y]), lam=lam, margin=c) == pytest.approx(v, abs=1e-9 * (1 + abs(v)))


@given(cases)
def test_interpolation_bounds(case):
    f, y, c, lam = case
    a = np.asarray(c * (1 - np.eye(len(f))[y]) + np.asarray(f) - f[y])
    v = loss64(f, y, lam=lam, margin=c, jit=True)
    tol = 1e-9 * (1 + abs(v))
    K = len(f)
    assert a.max() - lam * math.log(K) - tol <= v <= a.max() + tol
    assert a.mean() - tol <= v <= a.mean() + (a.max() - a.min()) ** 2 / (8 * lam) + tol
    assert v >= -lam * math.log(K) - tol


@given(cases)
def test_monotone_and_convex_in_lambda(case):
    f, y, c, lam = case
    v0, v1, v2 = (loss64(f, y, lam=lam * s, margin=c, jit=True) for s in (1.0, 1.3, 1.69))
    assert v1 <= v0 + 1e-9 * (1 + abs(v0))
    # convexity in log-spaced points: slope on [lam, 1.3 lam] <= slope on [1.3 lam, 1.69 lam]
    assert (v1 - v0) / (0.3 * lam) <= (v2 - v1) / (0.39 * lam) + 1e-6 * (1 + abs(v0)) / lam


@given(cases, st.floats(0, 1))
def test_convex_in_scores(case, theta):
    f, y, c, lam = case
    f = np.asarray(f)
    g = np.roll(f, 1) * 0.5 - 1.0
    lhs = loss64(theta * f + (1 - theta) * g, y, lam=lam, margin=c, jit=True)
    rhs = theta * loss64(f, y, lam=lam, margin=c, jit=True) + (1 - theta) * loss64(g, y, lam=lam, margin=c, jit=True)
    assert lhs <= rhs + 1e-9 * (1 + abs(rhs))


@given(cases, st.floats(0.1, 10))
def test_homogeneity(case, t):
    f, y, c, lam = case
    f = np.asarray(f)
    v = loss64(f, y, lam=lam, margin=c, jit=True)
    assert loss64(t * f, y, lam=t * lam, margin=t * c, jit=True) == pytest.approx(t * v, abs=1e-9 * (1 + abs(t * v)))


_GRAD = jax.jit(jax.grad(lambda f, y, lam, c: ldr_kl_loss(f, y, lam=lam, margin=c)))
_WEIGHTS = jax.jit(lambda f, y, lam, c: ldr_kl_weights(f, y, lam=lam, margin=c))


@given(cases)
def test_gradient_is_pstar_minus_ey(case):
    f, y, c, lam = case
    with jax.enable_x64(True):
        f = jnp.asarray(f)
        g = np.asarray(_GRAD(f, jnp.asarray(y), jnp.float64(lam), jnp.float64(c)))
        p = np.asarray(_WEIGHTS(f, jnp.asarray(y), jnp.float64(lam), jnp.float64(c)))
    assert float(np.sum(g)) == pytest.approx(0.0, abs=1e-12)
    assert np.all(p >= 0) and float(np.sum(p)) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(g, p - np.eye(len(f))[y], atol=1e-12)


def test_lambda_derivative_is_minus_kl(x64):
    f, y = jnp.asarray(F), jnp.asarray(0)
    lam = 0.9
    d = jax.grad(lambda lam: ldr_kl_loss(f, y, lam=lam, margin=0.7))(lam)
    p = np.asarray(ldr_kl_weights(f, y, lam=lam, margin=0.7))
    assert float(d) == pytest.approx(-np.sum(p * np.log(3 * p)), rel=1e-12)
    fd = (loss64(F, 0, lam=lam + 1e-6, margin=0.7) - loss64(F, 0, lam=lam - 1e-6, margin=0.7)) / 2e-6
    assert float(d) == pytest.approx(fd, rel=1e-7)


def test_check_grads(x64):
    f = jnp.asarray(np.random.default_rng(3).normal(size=(3, 5)))
    y = jnp.array([0, 3, 4])
    fn = jax.jit(lambda f, lam: ldr_kl_loss(f, y, lam=lam, margin=0.2))
    for lam in (0.05, 40.0):  # both branches of the two-branch evaluation
        check_grads(fn, (f, lam), order=1, modes=["fwd", "rev"])


def test_jit_vmap_traced_lambda_one_compile():
    f = jnp.asarray(np.random.default_rng(4).normal(size=(8, 5)), jnp.float32)
    y = jnp.arange(8) % 5
    fn = jax.jit(jax.vmap(lambda lam: ldr_kl_loss(f, y, lam=lam, margin=0.1).mean()))
    lams = jnp.array([0.0, 0.1, 1.0, 10.0, jnp.inf])
    out = np.asarray(fn(lams))
    assert np.all(np.diff(out) <= 1e-6) and np.all(np.isfinite(out))


# ---- numerics --------------------------------------------------------------------------------


@pytest.mark.parametrize("lam,tol", [(1e-6, 4e-6), (1e-2, 4e-6), (1.0, 4e-6), (1e2, 4e-6), (1e6, 2e-7 * 1e2),
                                     (1e8, 1e-6 * 1e2)])
def test_float32_two_branch_accuracy(lam, tol):
    # spec A.2.3 table: a = (0, 1.3, -0.7, 2.1, 0.4); the naive form is off by 2.4e-2 (1e6) and 0.62 (1e8)
    a = np.array([0.0, 1.3, -0.7, 2.1, 0.4])
    v = float(ldr_kl_loss(jnp.asarray(a, jnp.float32), jnp.asarray(0), lam=lam))
    assert abs(v - mp_ref(a, lam)) <= max(tol, 1e-7)
    naive = np.float32(lam) * (np.log(np.mean(np.exp(a.astype(np.float32) / np.float32(lam)))))
    if lam >= 1e6:
        assert abs(naive - mp_ref(a, lam)) > 100 * abs(v - mp_ref(a, lam))


@pytest.mark.parametrize("lam", [0.0, 1e-3, 1.0, 1e3, INF])
def test_extreme_logits_float32_stay_finite(lam):
    x = jnp.array([[1e4, -1e4, 0.0], [3e4, 3e4, -3e4]], jnp.float32)
    y = jnp.array([1, 2])
    v = ldr_kl_loss(x, y, lam=lam, margin=0.1)
    g = jax.grad(lambda x: ldr_kl_loss(x, y, lam=lam, margin=0.1).sum())(x)
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(g))
    assert float(v[0]) == pytest.approx(float(ldr_kl_numpy(np.array([2e4 + 0.1, 0.0, 1e4 + 0.1]), lam)), rel=1e-6)


# ---- bad inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize("lam", [-1.0, math.nan])
def test_bad_lambda(lam):
    with pytest.raises(ValueError, match="lam"):
        ldr_kl_loss(jnp.asarray(F), jnp.asarray(0), lam=lam)


@pytest.mark.parametrize("labels", [3, -1])
def test_labels_out_of_range(labels):
    with pytest.raises(ValueError, match="labels"):
        ldr_kl_loss(jnp.asarray(F), jnp.asarray(labels), lam=1.0)


def test_bad_inputs_misc():
    with pytest.raises(TypeError, match="labels"):
        ldr_kl_loss(jnp.asarray(F), jnp.asarray(0.0), lam=1.0)
    with pytest.raises(ValueError, match="finite"):
        ldr_kl_loss(jnp.array([1.0, jnp.inf, 0.0]), jnp.asarray(0), lam=1.0)
    with pytest.raises(ValueError, match="finite"):
        ldr_kl_loss(jnp.array([1.0, jnp.nan, 0.0]), jnp.asarray(0), lam=1.0)
    with pytest.raises(ValueError, match="K >= 2"):
        ldr_kl_loss(jnp.array([1.0]), jnp.asarray(0), lam=1.0)
    with pytest.raises(TypeError, match="floating"):
        ldr_kl_loss(jnp.array([1, 2]), jnp.asarray(0), lam=1.0)
    with pytest.raises(ValueError, match="diagonal"):
        ldr_kl_loss(jnp.asarray(F), jnp.asarray(0), lam=1.0, margin=np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"\[K, K\]"):
        ldr_kl_loss(jnp.asarray(F), jnp.asarray(0), lam=1.0, margin=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="labels must have shape"):
        ldr_kl_loss(jnp.zeros((2, 3)), jnp.zeros(3, jnp.int32), lam=1.0)
    with pytest.warns(UserWarning, match="negative"):
        ldr_kl_loss(jnp.asarray(F), jnp.asarray(0), lam=1.0, margin=-0.1)
    with pytest.raises(ValueError, match="kind"):
        margin_matrix(3, "nope")


# ---- planted errors (spec A.8) ---------------------------------------------------------------


def test_pe_a1_dropping_log_k_is_caught():
    wrong = 1.0 * (np.log(np.sum(np.exp(F - F[0]))))  # lambda LSE(a/lambda) without -lambda log K
    assert wrong == pytest.approx(0.41703, abs=1e-5)
    assert abs(wrong - loss64(F, 0, lam=1.0)) == pytest.approx(math.log(3), abs=1e-12)


def test_pe_a2_flipped_margin_sign_is_caught():
    a_wrong = F - F[1] - 1.0 * (1 - np.eye(3)[1])
    assert max(a_wrong.max(), 0.0) == 0.0 != loss64(F, 1, lam=0.0, margin=1.0)


def test_pe_a3_temperature_not_multiplied_back_is_caught():
    with jax.enable_x64(True):
        a = np.asarray(margin_vector(jnp.asarray(F), jnp.asarray(0), 1.0))
    wrong = float(ldr_kl_numpy(a, 0.5) / 0.5)
    assert wrong == pytest.approx(-0.32605, abs=1e-5)
    assert abs(wrong - loss64(F, 0, lam=0.5, margin=1.0)) > 0.1
