"""The LDR-KL, Crammer-Singer and Weston-Watkins losses: reference values, the two limits in lambda, the
bounds, convexity in lambda, homogeneity and gradient identities specific to LDR-KL, float32 accuracy, masked
classes, margin matrices, and wrong implementations the values would catch.

Shift invariance, value ranges, convexity in the logits, limits, jit/vmap, finite differences, extreme logits
and bad input are checked for every registered loss in ``tests/test_losses.py``.
"""

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from theory import losses
from theory.compsum import comp_sum_loss
from theory.ldr.general import ldr_loss
from theory.ldr.losses import (
    _by_chunks,
    _rows_first,
    crammer_singer_loss,
    ldr_kl_loss,
    ldr_kl_weights,
    margin_matrix,
    margin_vector,
    weston_watkins_loss,
)
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


# ---- reference values (f = (2, 1, 0.1)) -------------------------------------------------------


def test_lam_one_without_margin_is_cross_entropy_minus_log_k(x64):
    assert loss64(F, 0, lam=1.0) == pytest.approx(-0.6815822723902762, abs=1e-14)
    f = jnp.asarray(np.random.default_rng(0).normal(size=(20, 5)) * 4)
    y = jnp.arange(20) % 5
    np.testing.assert_allclose(ldr_kl_loss(f, y, lam=1.0), comp_sum_loss(f, y, tau=1.0) - math.log(5), atol=1e-13)


def test_value_weights_and_gradient_at_the_reference_case(x64):
    f = jnp.asarray(F)
    assert float(ldr_kl_loss(f, jnp.asarray(0), lam=0.5, margin=1.0)) == pytest.approx(-0.16302694106825155, abs=1e-14)
    p = ldr_kl_weights(f, jnp.asarray(0), lam=0.5, margin=1.0)
    np.testing.assert_allclose(p, [0.461830006675, 0.461830006675, 0.076339986651], atol=1e-12)
    g = jax.grad(lambda f: ldr_kl_loss(f, jnp.asarray(0), lam=0.5, margin=1.0))(f)
    np.testing.assert_allclose(g, [-0.538169993325, 0.461830006675, 0.076339986651], atol=1e-12)


def test_value_and_weights_for_the_last_label(x64):
    f = jnp.asarray(F)
    assert float(ldr_kl_loss(f, jnp.asarray(2), lam=0.5, margin=1.0)) == pytest.approx(2.4154894172574513, abs=1e-13)
    p = ldr_kl_weights(f, jnp.asarray(2), lam=0.5, margin=1.0)
    np.testing.assert_allclose(p, [0.878454537195, 0.118885893602, 0.002659569203], atol=1e-12)


def test_ldr_kl_tends_to_crammer_singer_as_lam_goes_to_0():
    assert loss64(F, 1, lam=0.0, margin=1.0) == 2.0
    assert loss64(F, 1, lam=1e-3, margin=1.0) == pytest.approx(1.998901387711332, abs=1e-13)


def test_ldr_kl_tends_to_the_mean_margin_as_lam_goes_to_inf():
    assert loss64(F, 1, lam=INF, margin=1.0) == pytest.approx(0.7, abs=1e-15)
    # The value once quoted, 0.700042334242923, is off in its last digits: 50-digit mpmath gives ...2432885
    # (docs/ldr.md, "Findings").
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


def test_traced_lambda_gradient_of_each_row_equals_its_concrete_gradient(x64):
    """A traced lam that is 0, finite (the fused and the two-branch rows) and inf on different rows of one batch:
    each row's logit gradient is that of the concrete path at its lam, and dpsi/dlam is -KL(p* || u) on the
    finite rows (p* = softmax(a/lam), NumPy) and 0 at the limits."""
    rng = np.random.default_rng(3)
    f, y = jnp.asarray(rng.normal(size=(6, 5)) * 2), jnp.arange(6) % 5
    lams = np.array([0.0, 0.7, INF, 3.0, 0.0, 1e3])
    total = jax.jit(jax.grad(lambda f, lam: jnp.sum(ldr_kl_loss(f, y, lam=lam, margin=0.4)), argnums=(0, 1)))
    g_f, g_lam = total(f, jnp.asarray(lams))
    for i, lam in enumerate(lams):
        row = jax.grad(lambda r, i=i, lam=lam: ldr_kl_loss(r, y[i], lam=float(lam), margin=0.4))(f[i])
        np.testing.assert_allclose(g_f[i], row, atol=1e-13)
        kl = 0.0
        if 0.0 < lam < INF:
            a = np.asarray(f[i]) - float(f[i, y[i]]) + 0.4
            a[int(y[i])] = 0.0
            p = np.exp(a / lam - np.max(a / lam))
            p /= p.sum()
            kl = float(np.sum(p * np.log(p * 5)))
        np.testing.assert_allclose(g_lam[i], -kl, rtol=1e-10, atol=1e-15)


def test_crammer_singer_and_weston_watkins_match_explicit_hinges(x64):
    """max(0, max_{k != y} c + f_k - f_y) and sum_{k != y} max(0, c + f_k - f_y), written as NumPy loops."""
    rng = np.random.default_rng(2)
    f, y = rng.normal(size=(50, 6)) * 2, np.arange(50) % 6
    hinges = [[0.4 + f[i, k] - f[i, y[i]] for k in range(6) if k != y[i]] for i in range(50)]
    cs = np.array([max(0.0, max(h)) for h in hinges])
    ww = np.array([sum(max(0.0, v) for v in h) for h in hinges])
    np.testing.assert_allclose(crammer_singer_loss(jnp.asarray(f), jnp.asarray(y), margin=0.4), cs, atol=1e-14)
    np.testing.assert_allclose(ldr_kl_loss(jnp.asarray(f), jnp.asarray(y), lam=0.0, margin=0.4), cs, atol=1e-14)
    np.testing.assert_allclose(weston_watkins_loss(jnp.asarray(f), jnp.asarray(y), margin=0.4), ww, atol=1e-13)


@pytest.mark.parametrize("num_classes", [64, 80, 1000])  # the block search on 8, 10 and 25 blocks
def test_crammer_singer_block_search_gives_the_row_maximum_and_the_last_maximiser(num_classes):
    """For many classes the Crammer-Singer value and subgradient come from a search over block maxima; on rows with
    ties (rounded logits, all-equal rows, the label tied with the maximum) and masked classes they equal the plain
    row search: the value max(0, c + max_{k != y} f_k - f_y) and the gradient e_{k*} - e_y, k* the last maximiser."""
    rng = np.random.default_rng(num_classes)
    f = rng.normal(size=(300, num_classes)).astype(np.float32)
    f[:80] = np.round(f[:80])  # ties within and across blocks
    f[80:90] = 0.0  # every class tied
    f[90:110, : num_classes // 2] = -np.inf  # masked classes
    y = rng.integers(0, num_classes, size=300)
    y[90:110] = num_classes - 1 - y[90:110] % (num_classes // 2)  # a label that is not masked
    f[110:130, y[110:130]] = f[110:130].max(axis=1)  # the label tied with the maximum
    others = np.where(np.arange(num_classes) == y[:, None], -np.inf, f)
    top = others.max(axis=1)
    last = num_classes - 1 - np.argmax((others == top[:, None])[:, ::-1], axis=1)
    value = np.maximum(np.float32(0.5) + (top - f[np.arange(300), y]), 0.0)  # float32, in the loss's order
    grad = np.zeros_like(f)
    positive = value > 0
    grad[np.arange(300)[positive], last[positive]] += 1.0
    grad[np.arange(300)[positive], y[positive]] -= 1.0
    for fn in (lambda h: crammer_singer_loss(h, jnp.asarray(y), margin=0.5),
               lambda h: ldr_kl_loss(h, jnp.asarray(y), lam=0.0, margin=0.5),
               lambda h: ldr_loss(h, jnp.asarray(y), reg="kl", lam=0.0, k=1, margin=0.5)):
        np.testing.assert_array_equal(jax.jit(fn)(jnp.asarray(f)), value)
        np.testing.assert_array_equal(jax.jit(jax.grad(lambda h, fn=fn: jnp.sum(fn(h))))(jnp.asarray(f)), grad)


# ---- the rows-needing-work stage of the exact solves (hypothesis) ------------------------------

_ROWS_FIRST = jax.jit(_rows_first)
_VISITED = {chunk: jax.jit(lambda need, chunk=chunk: _by_chunks(
    need, chunk, lambda rows, seen: seen.at[rows].set(jnp.where(need[rows], seen[rows] + 1, seen[rows])),
    jnp.zeros(need.shape, jnp.int32))) for chunk in (1, 5, 64)}


@given(st.lists(st.booleans(), min_size=40, max_size=40), st.sampled_from([1, 5, 64]))
def test_rows_first_is_the_stable_partition_and_chunks_reach_exactly_the_needed_rows(flags, chunk):
    """``_rows_first`` equals a stable ``argsort(~need)`` with the count of needed rows, and ``_by_chunks`` calls
    its function on every needed row (once, or twice where the last chunk is shifted back to fit) and on no
    other row's state."""
    need = np.array(flags)
    order, todo = _ROWS_FIRST(jnp.asarray(need))
    np.testing.assert_array_equal(order, np.argsort(~need, kind="stable"))
    assert int(todo) == need.sum()
    visits = np.asarray(_VISITED[chunk](jnp.asarray(need)))
    assert np.all(visits[~need] == 0) and np.all((visits[need] >= 1) & (visits[need] <= 2)), visits


def test_chunks_over_an_empty_batch_return_the_carry_untouched():
    """No rows: nothing runs (the running count of an empty batch has no last entry to read)."""
    carry = jnp.arange(3.0)
    assert _by_chunks(jnp.zeros((0,), bool), 4, lambda rows, c: c + 1.0, carry) is carry
    for name in ("ldr_l2", "aldr_kl"):  # the two users, on a (0, K) batch
        entry = losses.get(name)
        hyper = {**entry.defaults(5), **({"alpha": 2.0 * math.log(5)} if name == "aldr_kl" else {})}
        assert entry.fn(jnp.zeros((0, 5)), jnp.zeros((0,), jnp.int32), **hyper).shape == (0,)


# ---- properties specific to LDR-KL (hypothesis) -----------------------------------------------

cases = st.sampled_from([2, 3, 5, 12]).flatmap(lambda K: st.tuples(
    st.lists(st.floats(-20, 20), min_size=K, max_size=K),
    st.integers(0, K - 1),
    st.floats(0, 3),
    st.floats(-3, 3).map(lambda e: 10.0**e),
))


@given(cases, st.randoms(use_true_random=False))
def test_permuting_classes_leaves_the_loss_unchanged(case, rnd):
    f, y, c, lam = case
    f = np.asarray(f)
    perm = list(range(len(f)))
    rnd.shuffle(perm)
    perm = np.asarray(perm)
    v = loss64(f, y, lam=lam, margin=c, jit=True)
    assert loss64(f[perm], int(np.argsort(perm)[y]), lam=lam, margin=c) == pytest.approx(v, abs=1e-9 * (1 + abs(v)))


@given(cases)
def test_between_the_max_and_the_mean_margin_bounds(case):
    f, y, c, lam = case
    a = np.asarray(c * (1 - np.eye(len(f))[y]) + np.asarray(f) - f[y])
    v = loss64(f, y, lam=lam, margin=c, jit=True)
    tol = 1e-9 * (1 + abs(v))
    K = len(f)
    assert a.max() - lam * math.log(K) - tol <= v <= a.max() + tol
    assert a.mean() - tol <= v <= a.mean() + (a.max() - a.min()) ** 2 / (8 * lam) + tol
    assert v >= -lam * math.log(K) - tol


@given(cases)
def test_non_increasing_and_convex_in_lambda(case):
    f, y, c, lam = case
    v0, v1, v2 = (loss64(f, y, lam=lam * s, margin=c, jit=True) for s in (1.0, 1.3, 1.69))
    assert v1 <= v0 + 1e-9 * (1 + abs(v0))
    # convexity in log-spaced points: slope on [lam, 1.3 lam] <= slope on [1.3 lam, 1.69 lam]
    assert (v1 - v0) / (0.3 * lam) <= (v2 - v1) / (0.39 * lam) + 1e-6 * (1 + abs(v0)) / lam


@given(cases, st.floats(0.1, 10))
def test_positively_homogeneous_in_scores_lambda_and_margin(case, t):
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


def test_lambda_derivative_is_minus_kl_to_uniform(x64):
    f, y = jnp.asarray(F), jnp.asarray(0)
    lam = 0.9
    d = jax.grad(lambda lam: ldr_kl_loss(f, y, lam=lam, margin=0.7))(lam)
    p = np.asarray(ldr_kl_weights(f, y, lam=lam, margin=0.7))
    assert float(d) == pytest.approx(-np.sum(p * np.log(3 * p)), rel=1e-12)
    fd = (loss64(F, 0, lam=lam + 1e-6, margin=0.7) - loss64(F, 0, lam=lam - 1e-6, margin=0.7)) / 2e-6
    assert float(d) == pytest.approx(fd, rel=1e-7)


def test_derivatives_in_both_branches_of_the_two_branch_evaluation(x64):
    f = jnp.asarray(np.random.default_rng(3).normal(size=(3, 5)))
    y = jnp.array([0, 3, 4])
    fn = jax.jit(lambda f, lam: ldr_kl_loss(f, y, lam=lam, margin=0.2))
    for lam in (0.05, 40.0):  # both branches of the two-branch evaluation
        check_grads(fn, (f, lam), order=1, modes=["fwd", "rev"])


def test_one_compile_sweeps_lambda_including_0_and_inf():
    f = jnp.asarray(np.random.default_rng(4).normal(size=(8, 5)), jnp.float32)
    y = jnp.arange(8) % 5
    fn = jax.jit(jax.vmap(lambda lam: ldr_kl_loss(f, y, lam=lam, margin=0.1).mean()))
    lams = jnp.array([0.0, 0.1, 1.0, 10.0, jnp.inf])
    out = np.asarray(fn(lams))
    assert np.all(np.diff(out) <= 1e-6) and np.all(np.isfinite(out))


# ---- numerics --------------------------------------------------------------------------------


@pytest.mark.parametrize("lam,tol", [(1e-6, 4e-6), (1e-2, 4e-6), (1.0, 4e-6), (1e2, 4e-6), (1e6, 2e-7 * 1e2),
                                     (1e8, 1e-6 * 1e2)])
def test_float32_two_branch_evaluation_is_accurate_where_the_naive_form_is_not(lam, tol):
    # a = (0, 1.3, -0.7, 2.1, 0.4): the naive lam (LSE(a/lam) - log K) is off by 2.4e-2 at 1e6, 0.62 at 1e8
    # (docs/ldr.md, "Numerics")
    a = np.array([0.0, 1.3, -0.7, 2.1, 0.4])
    v = float(ldr_kl_loss(jnp.asarray(a, jnp.float32), jnp.asarray(0), lam=lam))
    assert abs(v - mp_ref(a, lam)) <= max(tol, 1e-7)
    if lam >= 1e6:  # where the naive form loses accuracy; not computed below (its exp(a / lam) overflows at 1e-6)
        naive = np.float32(lam) * (np.log(np.mean(np.exp(a.astype(np.float32) / np.float32(lam)))))
        assert abs(naive - mp_ref(a, lam)) > 100 * abs(v - mp_ref(a, lam))


def test_float64_rows_near_their_mean_are_accurate_to_a_few_ulps(x64):
    """Rows with T/K >= 1/2 whose log1p argument lies where XLA's CPU float64 log1p is up to 129 ulps off
    (-0.414 < mean t < -0.293; theory.logspace.log1p): the loss agrees with 50-digit arithmetic to 4 eps (it was
    1.5e-14 relative, about 70 eps, with jnp.log1p)."""
    rng = np.random.default_rng(0)
    f = np.vstack([[1.86301326, 6.66380836, -0.24052319], 3 * rng.standard_normal((40, 3))])
    y = np.concatenate([[1], rng.integers(0, 3, 40)])
    for lam in (6.042767630856989, 2.5, 4.0):
        got = np.asarray(ldr_kl_loss(jnp.asarray(f), jnp.asarray(y), lam=lam))
        ref = np.array([mp_ref(row - row[yi], lam) for row, yi in zip(f, y, strict=True)])
        assert np.max(np.abs(got - ref) / (1.0 + np.abs(ref))) <= 4 * np.finfo(np.float64).eps


# ---- masked classes, traced hyperparameters, margins -------------------------------------------


def test_a_masked_class_adds_zero_to_the_sum_but_keeps_1_over_k(x64):
    """psi = lam log((1/K) sum_{k unmasked} e^{a_k/lam}): the masked class stays in K; weight and gradient 0."""
    f, y = jnp.array([2.0, -jnp.inf, 0.1, 1.0]), jnp.asarray(0)
    a = np.array([0.0, 0.5 + 0.1 - 2.0, 0.5 + 1.0 - 2.0])
    for lam in (0.3, 1.0, 7.0):
        expected = lam * math.log(np.sum(np.exp(a / lam)) / 4)
        assert float(ldr_kl_loss(f, y, lam=lam, margin=0.5)) == pytest.approx(expected, abs=1e-14)
        p = np.asarray(ldr_kl_weights(f, y, lam=lam, margin=0.5))
        g = np.asarray(jax.grad(lambda f, lam=lam: ldr_kl_loss(f, y, lam=lam, margin=0.5))(f))
        dlam = float(jax.grad(lambda lam: ldr_kl_loss(f, y, lam=lam, margin=0.5))(lam))
        assert p[1] == 0.0 and g[1] == 0.0 and np.isfinite(g).all() and np.isfinite(dlam)
    assert float(ldr_kl_loss(f, y, lam=0.0, margin=0.5)) == 0.0  # Crammer-Singer: the masked class never wins
    assert float(ldr_kl_loss(f, y, lam=INF, margin=0.5)) == -INF  # the mean margin


def test_traced_negative_or_nan_lambda_and_non_finite_margin_give_nan():
    fn = jax.jit(lambda lam, c: ldr_kl_loss(jnp.asarray(F), jnp.asarray(0), lam=lam, margin=c))
    for lam, c in ((-1.0, 0.5), (math.nan, 0.5), (1.0, INF), (1.0, math.nan)):
        assert np.isnan(float(fn(lam, c)))
    assert np.isfinite(float(fn(1.0, 0.5)))


def test_margin_matrix_errors_and_negative_margin_warning():
    with pytest.raises(ValueError, match="diagonal"):
        ldr_kl_loss(jnp.asarray(F), jnp.asarray(0), lam=1.0, margin=np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"\[K, K\]"):
        ldr_kl_loss(jnp.asarray(F), jnp.asarray(0), lam=1.0, margin=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="margin must be finite"):
        ldr_kl_loss(jnp.asarray(F), jnp.asarray(0), lam=1.0, margin=np.where(np.eye(3), 0.0, np.inf))
    with pytest.warns(UserWarning, match="negative"):
        ldr_kl_loss(jnp.asarray(F), jnp.asarray(0), lam=1.0, margin=-0.1)
    with pytest.raises(ValueError, match="kind"):
        margin_matrix(3, "nope")


# ---- wrong implementations the values would catch -------------------------------------------


def test_dropping_the_log_k_term_would_be_caught():
    wrong = 1.0 * (np.log(np.sum(np.exp(F - F[0]))))  # lambda LSE(a/lambda) without -lambda log K
    assert wrong == pytest.approx(0.41703, abs=1e-5)
    assert abs(wrong - loss64(F, 0, lam=1.0)) == pytest.approx(math.log(3), abs=1e-12)


def test_a_flipped_margin_sign_would_be_caught():
    a_wrong = F - F[1] - 1.0 * (1 - np.eye(3)[1])
    assert max(a_wrong.max(), 0.0) == 0.0 != loss64(F, 1, lam=0.0, margin=1.0)


def test_forgetting_to_multiply_back_by_lambda_would_be_caught():
    with jax.enable_x64(True):
        a = np.asarray(margin_vector(jnp.asarray(F), jnp.asarray(0), 1.0))
    wrong = float(ldr_kl_numpy(a, 0.5) / 0.5)
    assert wrong == pytest.approx(-0.32605, abs=1e-5)
    assert abs(wrong - loss64(F, 0, lam=0.5, margin=1.0)) > 0.1


def test_margin_matrix_and_aldr_helpers_take_num_classes_and_warn_on_the_old_spellings():
    from theory.ldr.aldr import aldr_alpha_from_code, aldr_lambda_interval

    assert np.array_equal(margin_matrix(num_classes=3, c=0.5), margin_matrix(3, c=0.5))
    with pytest.warns(DeprecationWarning, match="'K' is deprecated"):
        assert np.array_equal(margin_matrix(K=3, c=0.5), margin_matrix(3, c=0.5))
    new = aldr_alpha_from_code(2.0, num_classes=5, lam0=1.0)
    with pytest.warns(DeprecationWarning, match="by position"):
        assert aldr_alpha_from_code(2.0, 5, 1.0) == new
    with pytest.warns(DeprecationWarning, match="'K' is deprecated"):
        assert aldr_lambda_interval(K=5, lam0=1.0, alpha=new) == aldr_lambda_interval(5, lam0=1.0, alpha=new)
