"""The general LDR family (top-k constraint, l2 and no regulariser): reference values, cvxpy cross-checks,
top-k and l2 invariants, masked classes, traced 0/inf temperatures, bad inputs.

The properties every registered loss shares are checked in ``tests/test_losses.py`` (entries ``ldr_topk``,
``topk_svm``, ``ldr_l2``).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.ldr.general import ldr_loss, ldr_weights
from theory.ldr.losses import crammer_singer_loss, ldr_kl_loss, margin_vector
from theory.ldr.reference import inner_max_cvxpy

G = np.array([0.5, -1.0, 2.0, 0.0, 1.5])  # K = 5, y = 1, c = 0.2: a = (1.7, 0, 3.2, 1.2, 2.7)
TOPK_KL_WEIGHTS = [0.111244789246, 0.020322590132, 0.498564556094, 0.067473375411, 0.302394689117]


def run(reg, k, lam=1.0, f=G, y=1, c=0.2, weights=False):
    with jax.enable_x64(True):
        fn = ldr_weights if weights else ldr_loss
        return np.asarray(fn(jnp.asarray(f), jnp.asarray(y), lam=lam, margin=c, reg=reg, k=k))


def test_margin_vector_of_the_vectors(x64):
    np.testing.assert_allclose(margin_vector(jnp.asarray(G), jnp.asarray(1), 0.2), [1.7, 0, 3.2, 1.2, 2.7])


@pytest.mark.parametrize("k", [1, 2])
def test_an_inactive_top_k_constraint_gives_the_ldr_kl_value_and_weights(k):
    assert float(run("kl", k)) == pytest.approx(2.2865842848397837, abs=1e-13)
    np.testing.assert_allclose(run("kl", k, weights=True), TOPK_KL_WEIGHTS, atol=1e-12)


def test_top_3_caps_the_two_largest_weights_at_one_third():
    assert float(run("kl", 3)) == pytest.approx(2.2164332162271387, abs=1e-13)
    np.testing.assert_allclose(run("kl", 3, weights=True),
                               [0.186301526311, 0.034034219363, 1 / 3, 0.112997587659, 1 / 3], atol=1e-12)


def test_unregularised_top_k_is_the_mean_of_the_k_largest_margins():
    assert float(run("none", 2)) == pytest.approx(2.95, abs=1e-14)
    assert float(run("none", 1)) == pytest.approx(3.2, abs=1e-14)


def test_l2_regulariser_reference_case():
    assert float(run("l2", 1)) == pytest.approx(2.8625, abs=1e-14)
    np.testing.assert_allclose(run("l2", 1, weights=True), [0, 0, 0.75, 0, 0.25], atol=1e-14)


@pytest.mark.parametrize("reg,k,lam", [("kl", 1, 0.1), ("kl", 3, 1.0), ("kl", 2, 0.05), ("l2", 1, 0.3),
                                       ("none", 3, 1.0)])
def test_inner_maximum_matches_cvxpy(reg, k, lam):
    a = np.array([1.7, 0, 3.2, 1.2, 2.7])
    value, p = inner_max_cvxpy(a, lam=lam, reg=reg, k=k)
    assert float(run(reg, k, lam=lam)) == pytest.approx(value, abs=1e-6)
    if reg != "none":
        np.testing.assert_allclose(run(reg, k, lam=lam, weights=True), p, atol=1e-4)


def test_top_k_is_exact_for_spreads_far_beyond_lambda():
    # a bisection bracketed around max(a) alone failed (error 2.12) when the spread exceeds ~60 lambda
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
def test_top_k_non_increasing_in_k_capped_and_mean_at_k_equal_k(case):
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


def test_limits_in_lambda_and_gradient_is_pstar_minus_ey(x64):
    f, y = jnp.asarray(G), jnp.asarray(1)
    for reg, k in (("kl", 2), ("l2", 1)):
        assert float(ldr_loss(f, y, lam=math.inf, margin=0.2, reg=reg, k=k)) == pytest.approx(1.76)
    assert float(ldr_loss(f, y, lam=0.0, margin=0.2, k=2)) == pytest.approx(2.95)
    g = jax.grad(lambda f: ldr_loss(f, y, lam=1.0, margin=0.2, k=3))(f)
    p = ldr_weights(f, y, lam=1.0, margin=0.2, k=3)
    np.testing.assert_allclose(g, p - np.eye(5)[1], atol=1e-12)


def test_bad_k_reg_and_lambda_raise():
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


def test_top_k_gradient_is_finite_for_margins_beyond_the_exponential_range():
    """exp((a_j - max a)/lam) of a capped entry can overflow; it must not turn the gradient into NaN."""
    f = np.random.default_rng(0).uniform(-1e4, 1e4, (6, 4)).astype(np.float32)
    y = jnp.arange(6) % 4
    for lam, k in ((1.0, 2), (0.1, 3), (100.0, 3)):
        g = jax.grad(lambda f, lam=lam, k=k: ldr_loss(f, y, lam=lam, margin=0.0, k=k).sum())(jnp.asarray(f))
        assert np.isfinite(np.asarray(g)).all()


def test_l2_float32_gradient_is_the_float64_one_for_logits_of_size_1e4():
    """p = (x - s)_+ / lam with the threshold s near 1e4: formed as (x - max x) - tau, not x - (max x + tau), whose
    rounding at that scale (an ulp is about 1e-3) moved p by up to ulp/lam (2e-2 at lam = 0.01; the weights summed
    to 1.003 at lam = e^-2)."""
    rng = np.random.default_rng(0)
    f = rng.uniform(-1e4, 1e4, (64, 4)).astype(np.float32)
    y = jnp.asarray(rng.integers(0, 4, 64))

    @jax.jit
    def grad(h, lam):  # lam traced: one compile per dtype
        return jax.grad(lambda h: ldr_loss(h, y, lam=lam, margin=0.0, reg="l2").sum())(h)

    for lam in (0.01, math.exp(-2.0), 1.0):
        g32 = np.asarray(grad(jnp.asarray(f), jnp.float32(lam)))
        with jax.enable_x64(True):
            g64 = np.asarray(grad(jnp.asarray(f, jnp.float64), jnp.float64(lam)))
        np.testing.assert_allclose(g32, g64, atol=1e-5)  # the float32 rounding of the weights, not of the logits
        np.testing.assert_allclose(g32.sum(axis=-1), 0.0, atol=1e-5)  # shift invariance: the weights sum to 1


def test_masked_classes_drop_out_unless_fewer_than_k_remain(x64):
    """With m masked classes (-inf logits) the top-k loss is that of the unmasked classes while K - m >= k
    (mass 0 on the masked ones), and -inf once fewer than k remain; the gradient stays finite."""
    f = jnp.array([[0.3, -jnp.inf, 1.0, 0.2], [0.3, -jnp.inf, -jnp.inf, 0.2]])
    far = jnp.where(jnp.isinf(f), -1e8, f)
    y = jnp.array([0, 0])
    for reg, lam, k in (("kl", 1.0, 2), ("kl", 1.0, 3), ("kl", 0.0, 3), ("none", 0.0, 2), ("l2", 0.5, 1)):
        v = np.asarray(ldr_loss(f, y, lam=lam, margin=0.5, reg=reg, k=k))
        v_far = np.asarray(ldr_loss(far, y, lam=lam, margin=0.5, reg=reg, k=k))
        feasible = np.array([3, 2]) >= k
        np.testing.assert_allclose(v[feasible], v_far[feasible], atol=1e-12)
        assert np.all(v[~feasible] == -np.inf)
        g = jax.grad(lambda f, reg=reg, lam=lam, k=k: ldr_loss(f, y, lam=lam, margin=0.5, reg=reg, k=k).sum())(f)
        assert np.isfinite(np.asarray(g)).all()


def test_traced_lambda_0_and_inf_and_invalid_values_for_top_k_and_l2(x64):
    """A traced lam takes the lam = 0 (top-k SVM) and lam = inf (mean) solutions by where; an invalid traced lam
    (negative, NaN, or 0 for l2) gives NaN."""
    f, y = jnp.asarray(G), jnp.asarray(1)
    for reg, k in (("kl", 2), ("kl", 3), ("l2", 1), ("none", 2)):
        fn = jax.jit(lambda lam, reg=reg, k=k: ldr_loss(f, y, lam=lam, margin=0.2, reg=reg, k=k))
        for lam in ((0.0, 0.7, math.inf) if reg != "l2" else (0.7, math.inf)):
            assert float(fn(lam)) == pytest.approx(float(ldr_loss(f, y, lam=lam, margin=0.2, reg=reg, k=k)), abs=1e-13)
        for lam in ((-1.0, math.nan) if reg != "l2" else (-1.0, math.nan, 0.0)):
            assert math.isnan(float(fn(lam)))
    assert float(ldr_loss(f, y, lam=0.0, margin=0.2, reg="none", k=1)) == float(crammer_singer_loss(f, y, margin=0.2))


@pytest.mark.parametrize(("n", "k"), [(1, 1), (6, 3), (12, 8), (30, 4)])
def test_few_largest_is_lax_top_k_with_ties_and_masked_entries(n, k):
    """Values, indices (ties to the smaller index, distinct among -inf entries) and the gradient (each value's to its
    own entry, not shared among ties) of lax.top_k."""
    from theory.ldr.general import _few_largest

    rng = np.random.default_rng(n)
    x = rng.integers(-3, 3, (64, n)).astype(np.float32)  # many ties
    x[rng.random(x.shape) < 0.3] = -np.inf
    weights = jnp.arange(1.0, k + 1.0)

    @jax.jit
    def both(x):
        finite = jnp.where(jnp.isinf(x), -5.0, x)
        return [(*top(x, k), jax.grad(lambda v, top=top: jnp.sum(top(v, k)[0] * weights))(finite))
                for top in (_few_largest, jax.lax.top_k)]

    for got, want in zip(*both(jnp.asarray(x)), strict=True):
        np.testing.assert_array_equal(got, want)


def _rows_for_selection(K, k, rng):
    """Rows that stress the two-level selection: normal, equal, integer-tied, mostly masked, and two with a near
    tie at the k-th largest value (1 and 1 + 2 ulps, below the keys' rounding, the smaller at the lower index: the
    keys choose it, the certificate fails and the exact search runs)."""
    normal = rng.normal(size=(8, K))
    equal = np.zeros((4, K))
    ints = rng.integers(-3, 3, (8, K)).astype(float)
    masked = rng.normal(size=(8, K))
    masked[rng.random(masked.shape) < 0.99] = -np.inf
    near = rng.normal(size=(2, K)) - 10.0
    near[:, K - 1 - (K // 16) * np.arange(k - 1)] = 5.0 + np.arange(k - 1)  # the k - 1 largest, in other blocks
    near[:, 5] = 1.0
    near[:, K // 2] = np.nextafter(np.nextafter(np.float32(1.0), np.float32(2.0)), np.float32(2.0))
    return np.concatenate([normal, equal, ints, masked, near]).astype(np.float32)


@pytest.mark.parametrize(("K", "k"), [(200, 3), (1000, 6)])
def test_two_level_top_k_finds_the_k_largest_values_and_their_classes(K, k):
    """``_top_k`` (rounded keys on two levels, certified on the exact values, uncertified rows searched again)
    against ``lax.top_k``: the same values as a multiset, k distinct indices holding them, and the derivative of
    each value on its own entry, in float32 and float64; the near-tie rows really fail the keys' certificate."""
    from theory.ldr.general import _block_size, _largest_by_keys, _top_k

    rng = np.random.default_rng(K + k)
    x32 = _rows_for_selection(K, k, rng)
    size = _block_size(K, k)
    _, kth, left = jax.jit(lambda m: _largest_by_keys(m, k))(x32[-2:].reshape(2, K // size, size).max(-1))
    assert np.all(np.asarray(left) > np.asarray(kth))  # chosen by the keys: 1 in, 1 + 2 ulps out
    weights = jnp.arange(1.0, k + 1.0)

    @jax.jit
    def top_and_grad(x):
        finite = jnp.where(jnp.isinf(x), -50.0, x)
        grad = jax.grad(lambda v: jnp.sum(_top_k(v, k)[0] * weights.astype(v.dtype)))(finite)
        return _top_k(x, k), jax.lax.top_k(x, k)[0], _top_k(finite, k)[1], grad

    for dtype in (jnp.float32, jnp.float64):
        with jax.enable_x64(dtype == jnp.float64):
            x = jnp.asarray(x32, dtype)
            (vals, idx), want, picked, grad = jax.tree.map(np.asarray, top_and_grad(x))
            np.testing.assert_array_equal(-np.sort(-vals, axis=-1), want)
            np.testing.assert_array_equal(np.take_along_axis(x32.astype(vals.dtype), idx, axis=-1), vals)
            assert all(len(set(row)) == k for row in idx.tolist())
            expected = np.zeros_like(grad)
            np.put_along_axis(expected, picked, np.broadcast_to(np.asarray(weights, grad.dtype), picked.shape), -1)
            np.testing.assert_array_equal(grad, expected)


def test_sorted_descending_orders_by_value_then_index_and_keeps_each_derivative():
    """The rank-based sort of a short axis: decreasing values, ties to the smaller index (``lax.top_k``'s order on
    distinct indices), -inf entries kept, the first ``keep`` positions; the derivative of position p goes to the
    entry sorted there."""
    from theory.ldr.general import _sorted_descending

    rng = np.random.default_rng(3)
    vals = rng.integers(-2, 3, (256, 7)).astype(np.float32)
    vals[rng.random(vals.shape) < 0.2] = -np.inf
    idx = np.argsort(rng.random((256, 7)), axis=-1).astype(np.int32)  # distinct class indices per row
    order = np.lexsort((idx, -vals), axis=-1)
    got_v, got_i = jax.jit(lambda v, i: _sorted_descending(v, i, keep=5))(vals, idx)
    np.testing.assert_array_equal(got_v, np.take_along_axis(vals, order, -1)[:, :5])
    np.testing.assert_array_equal(got_i, np.take_along_axis(idx, order, -1)[:, :5])
    finite = np.where(np.isinf(vals), -9.0, vals)
    grad = jax.grad(lambda v: jnp.sum(_sorted_descending(v, idx, keep=5)[0] * jnp.arange(1.0, 6.0)))(finite)
    order = np.lexsort((idx, -finite), axis=-1)
    expected = np.zeros_like(finite)
    np.put_along_axis(expected, order[:, :5], np.broadcast_to(np.arange(1.0, 6.0), (256, 5)), axis=-1)
    np.testing.assert_array_equal(grad, expected)


@pytest.mark.parametrize("k", [2, 5])
def test_top_k_from_the_logits_equals_the_margin_vector_form_with_ties(k):
    """The scalar-margin path (tail sum from clamped exponentials, gradient by index compares) against the same
    margin as a matrix (the margin vector, its tail by a scatter, weights p): values, gradients in the logits and in
    lambda, with ties at the k-th margin, the label inside and outside the top k, and a masked class."""
    rng = np.random.default_rng(k)
    f = np.round(rng.normal(size=(64, 12)), 1)  # rounded: ties at the k-th margin
    f[0, 3] = -np.inf
    y = rng.integers(0, 12, 64)
    y[0] = 0
    c = 0.2
    matrix = c * (1.0 - np.eye(12))
    with jax.enable_x64(True):
        def total(h, lam, margin):
            return ldr_loss(h, jnp.asarray(y), lam=lam, margin=margin, k=k).sum()

        scalar, matrix_form = (jax.jit(jax.value_and_grad(total, argnums=(0, 1)))(jnp.asarray(f), 0.3, m)
                               for m in (c, jnp.asarray(matrix)))
    np.testing.assert_allclose(scalar[0], matrix_form[0], rtol=1e-13)
    for got, want in zip(scalar[1], matrix_form[1], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
