"""The fused evaluations of the LDR-side losses against plain formulas, in float64.

LDR-KL with a scalar margin (one max and one exponential pass, custom JVP, ``lax.cond`` fallback to the two-branch
evaluation), top-k LDR-KL and the top-k SVM from the logits (``lax.top_k`` in two levels, no margin vector), the
sort-free simplex projection of the l2 loss, and the Brier score (custom JVP): values and gradients against
autodiff of the plain formulas and against central differences.
"""

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from scipy import special

from theory.ldr.baselines import softmax_squared_error_loss, symmetric_cross_entropy_loss
from theory.ldr.general import _block_count, _project_simplex, ldr_loss, ldr_weights
from theory.ldr.losses import ldr_kl_loss, margin_vector


def _batch(rows, K, scale, seed=0, masked=False):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(rows, K)) * scale
    y = rng.integers(0, K, rows)
    if masked:
        r = np.arange(0, rows, 3)
        f[r, (y[r] + 1) % K] = -np.inf
    return jnp.asarray(f), jnp.asarray(y)


def _plain_ldr_kl(f, y, lam, c):
    """lam log mean_k exp(a_k / lam) of the margin vector, by autodiff-able jax.nn.logsumexp."""
    a = c * (1.0 - jax.nn.one_hot(y, f.shape[-1], dtype=f.dtype)) + f - jnp.take_along_axis(f, y[:, None], axis=-1)
    return lam * (jax.nn.logsumexp(a / lam, axis=-1) - jnp.log(f.shape[-1]))


@pytest.mark.parametrize("lam, c, scale", [(1.0, 0.5, 1.0), (0.05, 0.2, 3.0), (30.0, 0.1, 1.0), (1e-3, 2.0, 10.0)])
def test_fused_ldr_kl_value_and_gradients_match_the_plain_formula(x64, lam, c, scale):
    """Batches that take the fused path only, and ones where some rows need the two-branch evaluation (lam beyond
    the spread; c / lam beyond the exponent range): values, and gradients in the logits, c and lam."""
    f, y = _batch(32, 7, scale)
    value = ldr_kl_loss(f, y, lam=lam, margin=c)
    np.testing.assert_allclose(value, _plain_ldr_kl(f, y, lam, c), rtol=1e-12, atol=1e-12)
    fused = jax.grad(lambda f, c, lam: ldr_kl_loss(f, y, lam=lam, margin=c).sum(), argnums=(0, 1, 2))
    plain = jax.grad(lambda f, c, lam: _plain_ldr_kl(f, y, lam, c).sum(), argnums=(0, 1, 2))
    for got, want in zip(jax.jit(fused)(f, c, lam), plain(f, c, lam), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.filterwarnings("ignore:negative margin")
@pytest.mark.parametrize("c", [1.0, -3.0, 1.0001, 10.0])
def test_fused_ldr_kl_value_keeps_float32_precision_on_both_label_removals(c):
    """The value alone, float32, lam = 1: for ``c <= lam`` (1.0 at the threshold, -3.0) the sum over every class minus
    the label's term, otherwise (1.0001, 10.0) the scatter. Half the rows put the label 25 above the rest (the label's
    term dominates the sum, the case the subtraction could spoil: its rounding is at most ``1 + e^{c/lam}`` times the
    sum's). Against mpmath on the same float32 logits, within ``(1 + e) log2(K)`` float32 ulps of ``|psi| + lam``
    (the worst factor the threshold allows, times a pairwise sum's rounding); taking the subtraction at ``c = 10``
    errs by about 5000 ulps there."""
    lam, K = 1.0, 64
    rng = np.random.default_rng(3)
    f = (rng.normal(size=(48, K)) * 3.0).astype(np.float32)
    y = rng.integers(0, K, 48)
    f[np.arange(0, 48, 2), y[::2]] += 25.0
    got = np.asarray(jax.jit(lambda f, y: ldr_kl_loss(f, y, lam=lam, margin=c))(jnp.asarray(f), jnp.asarray(y)),
                     np.float64)
    with mpmath.workdps(30):
        exact = np.array([float(lam * mpmath.log(mpmath.fsum(
            mpmath.exp((mpmath.mpf(float(f[r, k])) - mpmath.mpf(float(f[r, y[r]])) + (c if k != y[r] else 0)) / lam)
            for k in range(K)) / K)) for r in range(48)])
    ulps = np.abs(got - exact) / ((np.abs(exact) + lam) * np.finfo(np.float32).eps)
    assert ulps.max() <= (1.0 + np.e) * np.log2(K), ulps.max()


def test_fused_mean_form_with_a_negative_margin_matches_the_plain_formula(x64):
    """lam beyond the spread (every row near its mean) with c < 0: the mean form removes the label's term by a
    scatter there (summing every class and replacing the label's term keeps the precision only for c >= 0)."""
    f, y = _batch(32, 7, 1.0, seed=6)
    with pytest.warns(UserWarning, match="negative margin"):
        value = ldr_kl_loss(f, y, lam=30.0, margin=-0.3)
    np.testing.assert_allclose(value, _plain_ldr_kl(f, y, 30.0, -0.3), rtol=1e-12, atol=1e-12)
    traced = jax.jit(lambda f, c: ldr_kl_loss(f, y, lam=30.0, margin=c))  # c traced: the cond picks the scatter
    np.testing.assert_allclose(traced(f, -0.3), _plain_ldr_kl(f, y, 30.0, -0.3), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(traced(f, 0.3), _plain_ldr_kl(f, y, 30.0, 0.3), rtol=1e-12, atol=1e-12)
    # every other class at the largest margin up to 1e-9 (psi ~ 1e-9) and c = -5: the label's term in a sum over
    # every class would be expm1(-5), so replacing it would leave about 1e-16 / 1e-9 of relative error
    g = np.array([[0.0, 5.0 + 1e-9, 5.0 + 2e-9, 5.0 - 1e-9]])
    with pytest.warns(UserWarning, match="negative margin"):
        small = float(ldr_kl_loss(jnp.asarray(g), jnp.asarray([0]), lam=1.0, margin=-5.0)[0])
    with mpmath.workdps(40):
        a = [mpmath.mpf(0)] + [mpmath.mpf(-5) + mpmath.mpf(float(v)) for v in g[0, 1:]]
        exact = float(mpmath.log(sum(mpmath.exp(v) for v in a) / 4))
    assert abs(small - exact) <= 1e-12 * abs(exact)


def test_fused_ldr_kl_rows_of_every_evaluation_in_one_batch(x64):
    """One batch whose rows take the fused sum (T/K < 1/2), its mean form (T/K >= 1/2: logits within 1e-6, every
    margin near c) and the two-branch evaluation (T below the exponent range: the label the argmax by far, c/lam =
    2000): each row's value and gradients equal the plain formula's."""
    lam, c = 1e-3, 2.0
    f, y = _batch(48, 7, 10.0, seed=5)
    f = f * jnp.where(jnp.arange(48) % 3 == 0, 1e-7, 1.0)[:, None]
    f = f.at[1::3].add(100.0 * jax.nn.one_hot(y[1::3], 7, dtype=f.dtype))
    a = np.asarray(c * (1.0 - jax.nn.one_hot(y, 7)) + f - jnp.take_along_axis(f, y[:, None], axis=-1))
    m = np.maximum(c + np.max(np.asarray(f), -1) - np.asarray(f)[np.arange(48), np.asarray(y)], 0.0)
    T = np.sum(np.exp((a - m[:, None]) / lam), -1)  # the fused sum, shifted by m = max(0, c + max_k f_k - f_y)
    assert np.any(T >= 3.5) and np.any((T < 3.5) & (T > 1e-280)) and np.any(T < 1e-280)
    np.testing.assert_allclose(ldr_kl_loss(f, y, lam=lam, margin=c), _plain_ldr_kl(f, y, lam, c), rtol=1e-12,
                               atol=1e-12)
    fused = jax.grad(lambda f, c, lam: ldr_kl_loss(f, y, lam=lam, margin=c).sum(), argnums=(0, 1, 2))
    plain = jax.grad(lambda f, c, lam: _plain_ldr_kl(f, y, lam, c).sum(), argnums=(0, 1, 2))
    for got, want in zip(jax.jit(fused)(f, c, lam), plain(f, c, lam), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_fused_ldr_kl_gradient_matches_central_differences(x64):
    f, y = _batch(4, 6, 2.0, seed=1)
    g = np.asarray(jax.grad(lambda f: ldr_kl_loss(f, y, lam=0.7, margin=0.3).sum())(f))
    eps = 1e-6
    for k in range(6):
        step = jnp.zeros_like(f).at[:, k].set(eps)
        fd = (ldr_kl_loss(f + step, y, lam=0.7, margin=0.3) - ldr_kl_loss(f - step, y, lam=0.7, margin=0.3)) / (2 * eps)
        np.testing.assert_allclose(g[:, k], fd, rtol=1e-6, atol=1e-8)


def test_fused_ldr_kl_keeps_the_masked_class_policy(x64):
    f, y = _batch(30, 5, 2.0, masked=True)
    far = jnp.where(jnp.isinf(f), -1e8, f)
    for lam in (0.3, 1.0, 20.0):
        total = jax.value_and_grad(lambda f, lam=lam: ldr_kl_loss(f, y, lam=lam, margin=0.5).sum())
        (v, g), (v_far, g_far) = total(f), total(far)
        assert np.isfinite(np.asarray(g)).all()
        np.testing.assert_allclose(v, v_far, rtol=1e-12)
        np.testing.assert_allclose(g, g_far, atol=1e-12)


def _plain_topk(f, y, lam, c, k):
    """Top-k LDR-KL from the weights of the margin-vector path: <p, a> - lam KL(p || u)."""
    p = np.asarray(ldr_weights(f, y, lam=lam, margin=c, k=k))
    a = np.asarray(margin_vector(f, y, c))
    K = a.shape[-1]
    return np.sum(np.where(p > 0, p * a, 0.0), -1) - lam * np.sum(np.where(p > 0, p * np.log(K * np.where(p > 0, p, 1)),
                                                                               0.0), -1)


@pytest.mark.parametrize("K, k", [(7, 2), (7, 5), (200, 3), (1000, 2), (1000, 5)])
def test_top_k_from_the_logits_matches_the_margin_vector_path(x64, K, k):
    """K = 200, 1000 take the two-level top_k; the value from the logits equals <p, a> - lam KL(p || u) of the
    weights, and the top-k SVM the mean of the k largest margins."""
    f, y = _batch(16, K, 2.0, seed=K + k)
    for lam in (0.05, 1.0, 20.0):
        np.testing.assert_allclose(ldr_loss(f, y, lam=lam, margin=0.4, k=k), _plain_topk(f, y, lam, 0.4, k),
                                   rtol=1e-10, atol=1e-10)
    top = np.sort(np.asarray(margin_vector(f, y, 0.4)), axis=-1)[:, -k:]
    np.testing.assert_allclose(ldr_loss(f, y, lam=0.0, margin=0.4, reg="none", k=k), top.mean(-1), rtol=1e-12)


# float32: the rounding of sums over K = 1000 terms, about sqrt(K) eps = 2e-6 (measured here: 1.1e-7 on the value,
# 8.4e-7 on the gradient's entries); float64: the tolerance of the other float64 comparisons in this file
@pytest.mark.parametrize("dtype, rtol", [(jnp.float64, 1e-12), (jnp.float32, 2e-6)])
def test_top_k_keeps_the_logits_dtype_and_equals_the_margin_vector_path(x64, dtype, rtol):
    """Float32 logits give a float32 value and gradient with x64 on (the capped fractions m/k once promoted the
    closed form to float64, and ``lax.switch`` over the limits of ``lam`` then raised a TypeError), equal to the
    margin-vector path (``lax.top_k`` of the margins, the closed form and its weights) in float64, on rows with no
    capped weight and on a row whose label's weight is capped."""
    f, y = _batch(64, 1000, 1.0, seed=21)
    f = f.at[5, y[5]].add(12.0)
    value, grad = jax.value_and_grad(lambda h: ldr_loss(h, y, lam=1.0, margin=0.5, k=2).sum())(f.astype(dtype))
    assert value.dtype == grad.dtype == dtype
    p = np.asarray(ldr_weights(f, y, lam=1.0, margin=0.5, k=2))
    assert p[5, int(y[5])] == pytest.approx(0.5) and p[np.arange(64) != 5].max() < 0.5
    q = 1.0 - np.take_along_axis(p, np.asarray(y)[:, None], axis=-1)
    ref_grad = np.where(np.arange(1000) == np.asarray(y)[:, None], -q, p)  # d psi/d f_j = p_j, -(1 - p_y) at y
    np.testing.assert_allclose(float(value), _plain_topk(f, y, 1.0, 0.5, 2).sum(), rtol=rtol)
    np.testing.assert_allclose(np.asarray(grad, np.float64), ref_grad, rtol=rtol, atol=rtol / 1000)


@pytest.mark.parametrize("reg, lam", [("kl", 0.5), ("none", 0.0)])
def test_top_k_gradients_match_central_differences(x64, reg, lam):
    f, y = _batch(3, 6, 2.0, seed=4)
    fn = jax.jit(lambda f, c: ldr_loss(f, y, lam=lam, margin=c, reg=reg, k=3).sum())
    g, gc = jax.grad(fn, argnums=(0, 1))(f, 0.3)
    eps = 1e-6
    for k in range(6):
        step = jnp.zeros_like(f).at[:, k].set(eps)
        fd = (ldr_loss(f + step, y, lam=lam, margin=0.3, reg=reg, k=3) - ldr_loss(f - step, y, lam=lam, margin=0.3,
                                                                                  reg=reg, k=3)) / (2 * eps)
        np.testing.assert_allclose(np.asarray(g)[:, k], fd, rtol=1e-6, atol=1e-8)
    fd_c = (fn(f, 0.3 + eps) - fn(f, 0.3 - eps)) / (2 * eps)
    assert float(gc) == pytest.approx(float(fd_c), rel=1e-6)


def _sorted_projection(v):
    s = -np.sort(-v, axis=-1)
    css = np.cumsum(s, axis=-1) - 1.0
    rho = np.sum(s - css / np.arange(1, v.shape[-1] + 1) > 0, axis=-1)
    theta = np.take_along_axis(css, (rho - 1)[:, None], axis=-1) / rho[:, None]
    return np.maximum(v - theta, 0.0)


@pytest.mark.parametrize("scale", [0.01, 1.0, 30.0])
def test_sort_free_simplex_projection_equals_the_sorted_one(x64, scale):
    v = np.random.default_rng(5).normal(size=(64, 50)) * scale
    p = np.asarray(_project_simplex(jnp.asarray(v)))
    np.testing.assert_allclose(p, _sorted_projection(v), atol=1e-12)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)


def test_l2_gradient_is_the_projection_minus_e_y(x64):
    f, y = _batch(8, 6, 2.0, seed=6)
    g = np.asarray(jax.grad(lambda f: ldr_loss(f, y, lam=0.8, margin=0.2, reg="l2").sum())(f))
    p = np.asarray(ldr_weights(f, y, lam=0.8, margin=0.2, reg="l2"))
    np.testing.assert_allclose(g, p - np.eye(6)[np.asarray(y)], atol=1e-12)


def _sorted_l2(f, y, lam, c):
    """LDR-l2 through the sorted projection: <p, a> - lam ||p - u||^2 / 2 at p = Proj(u + a / lam)."""
    K = f.shape[-1]
    a = c * (1.0 - np.eye(K)[y]) + f - np.take_along_axis(f, y[:, None], axis=-1)
    with np.errstate(invalid="ignore"):  # masked classes: -inf - (-inf) in the running sums, never counted
        p = _sorted_projection(1.0 / K + a / lam)
    return np.sum(p * np.where(p > 0, a, 0.0), axis=-1) - 0.5 * lam * np.sum((p - 1.0 / K) ** 2, axis=-1)


# compressed rows of 16 + 1, 23 + 1 and 125 + 1 entries: -inf padding to 24, none, and to 128
@pytest.mark.parametrize("K", [64, 184, 1000])
@pytest.mark.parametrize("lam", [0.05, 1.0, 10.0])
def test_l2_block_solve_equals_the_sorted_projection(x64, K, lam):
    """From 32 classes on, the l2 threshold is solved on the block maxima and certified by each block's second
    entry; the rows it does not certify go back to their full rows, in chunks. Built in: a quarter of the rows
    raise two entries of one strided block and an eighth three (some with the label in that block), a few
    classes are masked, and at lam = 10 more rows fail than one chunk holds. Every row is the sorted projection's."""
    rows = 320
    rng = np.random.default_rng(11)
    f = rng.normal(size=(rows, K))
    y = rng.integers(0, K, rows)
    w = K // _block_count(K)
    f[: rows // 4, [3, 3 + w]] += 3.0
    f[: rows // 8, 3 + 2 * w] += 3.0
    y[: rows // 16] = 3 + w
    masked = np.arange(rows // 2, rows, 5)
    f[masked, (y[masked] + 1) % K] = -np.inf
    loss = jax.jit(lambda f, y, lam: ldr_loss(f, y, lam=lam, margin=0.3, reg="l2"))
    value = np.asarray(loss(jnp.asarray(f), jnp.asarray(y), lam))
    np.testing.assert_allclose(value, _sorted_l2(f, y, lam, 0.3), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("scale", [0.5, 5.0, 40.0])
def test_brier_score_value_and_gradient_match_autodiff_of_the_softmax(x64, scale):
    f, y = _batch(16, 6, scale, seed=7)

    def plain(f):
        return jnp.sum((jax.nn.softmax(f, axis=-1) - jax.nn.one_hot(y, 6, dtype=f.dtype)) ** 2, axis=-1)

    np.testing.assert_allclose(softmax_squared_error_loss(f, y), plain(f), rtol=1e-12, atol=1e-15)
    g = jax.grad(lambda f: softmax_squared_error_loss(f, y).sum())(f)
    np.testing.assert_allclose(g, jax.grad(lambda f: plain(f).sum())(f), rtol=1e-9, atol=1e-14)
    assert np.all(np.abs(np.asarray(g).sum(-1)) <= 1e-15 * (1.0 + np.abs(np.asarray(g)).max()))


def test_symmetric_cross_entropy_value_and_gradient_match_the_plain_formula(x64):
    f, y = _batch(16, 6, 3.0, seed=8)

    def plain(f):
        ce = special.logsumexp(np.asarray(f), axis=-1) - np.take_along_axis(np.asarray(f), np.asarray(y)[:, None],
                                                                             axis=-1)[:, 0]
        return 0.7 * ce + 4 * 0.3 * (1 - np.exp(-ce))

    np.testing.assert_allclose(symmetric_cross_entropy_loss(f, y, beta=0.3), plain(f), rtol=1e-12)
    s = np.asarray(jax.nn.softmax(f, axis=-1))
    s_y = np.take_along_axis(s, np.asarray(y)[:, None], axis=-1)
    expected = (0.7 + 1.2 * s_y) * (s - np.eye(6)[np.asarray(y)])
    g = jax.grad(lambda f: symmetric_cross_entropy_loss(f, y, beta=0.3).sum())(f)
    np.testing.assert_allclose(g, expected, rtol=1e-10, atol=1e-14)
