"""General LDR family: spec test vectors TV-A6..A9, cvxpy cross-checks, top-k / l2 invariants, bad inputs."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.ldr import inner_max_cvxpy, ldr_kl_loss, ldr_loss, ldr_weights, margin_vector

G = np.array([0.5, -1.0, 2.0, 0.0, 1.5])  # K = 5, y = 1, c = 0.2: a = (1.7, 0, 3.2, 1.2, 2.7)
TV6_P = [0.111244789246, 0.020322590132, 0.498564556094, 0.067473375411, 0.302394689117]


def run(reg, k, lam=1.0, f=G, y=1, c=0.2, weights=False):
    with jax.enable_x64(True):
        fn = ldr_weights if weights else ldr_loss
        return np.asarray(fn(jnp.asarray(f), jnp.asarray(y), lam=lam, margin=c, reg=reg, k=k))


def test_margin_vector_of_the_vectors(x64):
    np.testing.assert_allclose(margin_vector(jnp.asarray(G), jnp.asarray(1), 0.2), [1.7, 0, 3.2, 1.2, 2.7])


@pytest.mark.parametrize("k", [1, 2])
def test_tv_a6_topk_inactive(k):
    assert float(run("kl", k)) == pytest.approx(2.2865842848397837, abs=1e-13)
    np.testing.assert_allclose(run("kl", k, weights=True), TV6_P, atol=1e-12)


def test_tv_a7_topk_k3():
    assert float(run("kl", 3)) == pytest.approx(2.2164332162271387, abs=1e-13)
    np.testing.assert_allclose(run("kl", 3, weights=True),
                               [0.186301526311, 0.034034219363, 1 / 3, 0.112997587659, 1 / 3], atol=1e-12)


def test_tv_a8_topk_svm():
    assert float(run("none", 2)) == pytest.approx(2.95, abs=1e-14)
    assert float(run("none", 1)) == pytest.approx(3.2, abs=1e-14)


def test_tv_a9_l2():
    assert float(run("l2", 1)) == pytest.approx(2.8625, abs=1e-14)
    np.testing.assert_allclose(run("l2", 1, weights=True), [0, 0, 0.75, 0, 0.25], atol=1e-14)


@pytest.mark.parametrize("reg,k,lam", [("kl", 1, 0.1), ("kl", 3, 1.0), ("kl", 2, 0.05), ("l2", 1, 0.3),
                                       ("none", 3, 1.0)])
def test_against_cvxpy(reg, k, lam):
    a = np.array([1.7, 0, 3.2, 1.2, 2.7])
    value, p = inner_max_cvxpy(a, lam=lam, reg=reg, k=k)
    assert float(run(reg, k, lam=lam)) == pytest.approx(value, abs=1e-6)
    if reg != "none":
        np.testing.assert_allclose(run(reg, k, lam=lam, weights=True), p, atol=1e-4)


def test_topk_bracket_regression_wide_spread():
    # spec A.2.5: a bisection bracketed around max(a) alone failed (error 2.12) when the spread exceeds ~60 lambda
    f = np.array([0.0, 30.0, -40.0, 5.0])
    value, _ = inner_max_cvxpy(margin_vector(jnp.asarray(f), jnp.asarray(0), 0.1).__array__(), lam=0.2, reg="kl", k=2)
    assert float(run("kl", 2, lam=0.2, f=f, y=0, c=0.1)) == pytest.approx(value, abs=1e-6)


cases = st.sampled_from([3, 6]).flatmap(lambda K: st.tuples(
    st.lists(st.floats(-10, 10), min_size=K, max_size=K), st.integers(0, K - 1), st.floats(0, 2),
    st.floats(-2, 2).map(lambda e: 10.0**e)))

_TOPK = {}


def topk_values(f, y, c, lam):
    """All k = 1..K of top-k LDR-KL with one compiled function per (K, k) (lam and c traced)."""
    K = len(f)
    out = []
    with jax.enable_x64(True):
        for k in range(1, K + 1):
            key = (K, k)
            if key not in _TOPK:
                _TOPK[key] = jax.jit(lambda f, y, lam, c, k=k: ldr_weights(f, y, lam=lam, margin=c, k=k))
            p = np.asarray(_TOPK[key](jnp.asarray(f), jnp.asarray(y), jnp.float64(lam), jnp.float64(c)))
            a = c * (1 - np.eye(K)[y]) + np.asarray(f) - f[y]
            nz = p[p > 0]
            out.append((p @ a - lam * np.sum(nz * np.log(K * nz)), p))
    return out


@settings(max_examples=30)
@given(cases)
def test_topk_invariants(case):
    f, y, c, lam = case
    vals = topk_values(f, y, c, lam)
    K = len(f)
    a = c * (1 - np.eye(K)[y]) + np.asarray(f) - f[y]
    v = [x[0] for x in vals]
    tol = 1e-9 * (1 + max(abs(x) for x in v))
    assert all(v2 <= v1 + tol for v1, v2 in zip(v, v[1:], strict=False))  # non-increasing in k
    assert v[-1] == pytest.approx(a.mean(), abs=tol)  # k = K forces p = u
    for k, (_, p) in enumerate(vals, start=1):
        assert np.all(p <= 1.0 / k + 1e-12) and abs(p.sum() - 1) < 1e-12
    with jax.enable_x64(True):
        assert v[0] == pytest.approx(float(ldr_kl_loss(jnp.asarray(f), jnp.asarray(y), lam=lam, margin=c)), abs=tol)


@given(cases)
def test_l2_between_mean_and_max(case):
    f, y, c, lam = case
    K = len(f)
    a = c * (1 - np.eye(K)[y]) + np.asarray(f) - f[y]
    with jax.enable_x64(True):
        v = float(_L2(jnp.asarray(f), jnp.asarray(y), jnp.float64(lam), jnp.float64(c)))
    assert a.mean() - 1e-9 <= v <= a.max() + 1e-9


_L2 = jax.jit(lambda f, y, lam, c: ldr_loss(f, y, lam=lam, margin=c, reg="l2"))


def test_limits_and_gradient(x64):
    f, y = jnp.asarray(G), jnp.asarray(1)
    for reg, k in (("kl", 2), ("l2", 1)):
        assert float(ldr_loss(f, y, lam=math.inf, margin=0.2, reg=reg, k=k)) == pytest.approx(1.76)
    assert float(ldr_loss(f, y, lam=0.0, margin=0.2, k=2)) == pytest.approx(2.95)
    g = jax.grad(lambda f: ldr_loss(f, y, lam=1.0, margin=0.2, k=3))(f)
    p = ldr_weights(f, y, lam=1.0, margin=0.2, k=3)
    np.testing.assert_allclose(g, p - np.eye(5)[1], atol=1e-12)


def test_bad_inputs():
    f, y = jnp.asarray(G), jnp.asarray(1)
    with pytest.raises(ValueError, match="k"):
        ldr_loss(f, y, lam=1.0, k=6)
    with pytest.raises(ValueError, match="k"):
        ldr_loss(f, y, lam=1.0, k=0)
    with pytest.raises(ValueError, match="reg"):
        ldr_loss(f, y, lam=1.0, reg="entropy")
    with pytest.raises(ValueError, match="lam must be > 0"):
        ldr_loss(f, y, lam=0.0, reg="l2")
    with pytest.raises(ValueError, match="k = 1"):
        ldr_loss(f, y, lam=1.0, reg="l2", k=2)
    with pytest.raises(ValueError, match="lam"):
        ldr_loss(f, y, lam=-1.0)
