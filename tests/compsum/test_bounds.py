"""Bound functions T_{tau,n} and Gamma_{tau,n} of ICML 2023, Theorem 3.1: reference values, inversion, shape,
dependence on n and tau, precision against mpmath, the square-root corollary, and jit/vmap/grad."""

import math
import warnings

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from theory.compsum import (
    consistency_bound,
    consistency_transform,
    small_t_constant,
    sqrt_bound_constant,
    transform_at_one,
)
from theory.compsum.risks import surrogate_regret, zero_one_regret

TAUS = (0.0, 0.3, 0.5, 0.9, 1.0, 1.2, 1.5, 1.9, 2.0, 3.0)
NS = (2, 3, 10)
T_GRID = np.linspace(0.0, 1.0, 2001)


def _mp_transform(t, tau, n, dps=40):
    """T_{tau,n}(t) at ``dps`` digits, straight from the definition (ICML 2023, Theorem 3.1)."""
    with mpmath.workdps(dps):
        t, tau, n = mpmath.mpf(t), mpmath.mpf(tau), mpmath.mpf(n)
        if tau == 1:
            return (1 + t) / 2 * mpmath.log1p(t) + ((1 - t) / 2 * mpmath.log(1 - t) if t < 1 else 0)
        if tau >= 2:
            return t / ((tau - 1) * n ** (tau - 1))
        r = 1 / (2 - tau)
        a = (((1 + t) ** r + (1 - t) ** r) / 2) ** (2 - tau)
        if tau < 1:
            return 2 ** (1 - tau) / (1 - tau) * (1 - a)
        return (a - 1) / ((tau - 1) * n ** (tau - 1))


def _naive_transform(t, tau, n):
    """The planted naive formula: A_tau(t) - 1 computed directly (loses every digit near t = 0)."""
    t = np.asarray(t, dtype=np.float64)
    r = 1.0 / (2.0 - tau)
    a = (((1 + t) ** r + (1 - t) ** r) / 2) ** (2 - tau)
    if tau < 1:
        return 2 ** (1 - tau) / (1 - tau) * (1 - a)
    return (a - 1) / ((tau - 1) * n ** (tau - 1))


# ------------------------------------------------------------------------------------------------
# reference values of T and Gamma
# ------------------------------------------------------------------------------------------------

TRANSFORM_VALUES = [  # tau, n, T(0.1), T(0.5), T(0.9), T(1); n = None: any n
    (0.0, None, 0.00501256289338, 0.133974596216, 0.564110105646, 1.0),
    (0.5, None, 0.00472500947565, 0.125627761034, 0.514426268969, 0.828427124746),
    (1.0, None, 0.00500836684636, 0.130812035941, 0.494631937214, 0.69314718056),
    (1.5, 2, 0.00705347798209, 0.166925267711, 0.488416196671, 0.585786437627),
    (1.5, 3, 0.00575914065603, 0.136293910357, 0.398790154652, 0.478292623476),
    (1.5, 10, 0.00315441124915, 0.0746512491529, 0.218426363414, 0.261971658966),
    (2.0, 2, 0.05, 0.25, 0.45, 0.5),
    (2.0, 3, 0.0333333333333, 0.166666666667, 0.3, 0.333333333333),
    (2.0, 10, 0.01, 0.05, 0.09, 0.1),
    (3.0, 2, 0.0125, 0.0625, 0.1125, 0.125),
    (3.0, 3, 0.00555555555556, 0.0277777777778, 0.05, 0.0555555555556),
    (3.0, 10, 0.0005, 0.0025, 0.0045, 0.005),
]


@pytest.mark.parametrize("tau, n, values", [(tau, n, vals) for tau, n, *vals in TRANSFORM_VALUES])
def test_transform_matches_reference_values(tau, n, values):
    for n_ in (2, 3, 10) if n is None else (n,):
        got = consistency_transform(np.array([0.1, 0.5, 0.9, 1.0]), tau=tau, num_classes=n_)
        np.testing.assert_allclose(got, values, rtol=1e-10)
        np.testing.assert_allclose(transform_at_one(tau=tau, num_classes=n_), values[-1], rtol=1e-10)


BOUND_VALUES = [  # tau, n, Gamma(0.01), Gamma(0.1)
    (0.0, None, 0.141067359797, 0.435889894354),
    (0.5, None, 0.145289402232, 0.449096051887),
    (1.0, None, 0.141185140547, 0.439589252323),
    (1.5, 2, 0.119130750118, 0.382650436087),
    (1.5, 3, 0.131892031889, 0.425094202215),
    (1.5, 10, 0.178529483844, 0.584147041435),
    (2.0, 2, 0.02, 0.2),
    (2.0, 3, 0.03, 0.3),
    (2.0, 10, 0.1, 1.0),
    (3.0, 2, 0.08, 0.8),
    (3.0, 3, 0.18, 1.0),
    (3.0, 10, 1.0, 1.0),
]


@pytest.mark.parametrize("tau, n, g01, g1", BOUND_VALUES)
def test_bound_matches_reference_values(tau, n, g01, g1):
    for n_ in (2, 3, 10) if n is None else (n,):
        got = consistency_bound(np.array([0.01, 0.1]), tau=tau, num_classes=n_)
        np.testing.assert_allclose(got, [g01, g1], rtol=1e-10)


def test_closed_forms():
    eps = np.linspace(0.0, 1.0, 101)
    np.testing.assert_allclose(consistency_bound(eps, tau=0.0, num_classes=4), np.sqrt(2 * eps - eps**2), rtol=1e-14)
    t = np.linspace(0.0, 1.0, 101)
    np.testing.assert_allclose(consistency_transform(t, tau=0.0, num_classes=4), 1 - np.sqrt(1 - t**2), atol=1e-15)
    for tau, n in ((2.0, 3), (2.5, 4), (3.0, 10)):
        top = transform_at_one(tau=tau, num_classes=n)
        np.testing.assert_allclose(top, 1 / ((tau - 1) * n ** (tau - 1)), rtol=1e-15)
        e = np.linspace(0, top, 11)
        linear = (tau - 1) * n ** (tau - 1) * e
        np.testing.assert_allclose(consistency_bound(e, tau=tau, num_classes=n), linear, rtol=1e-14)
    # T(1) closed forms (sympy S7)
    for tau in (0.0, 0.3, 0.9):
        np.testing.assert_allclose(transform_at_one(tau=tau, num_classes=5), (2 ** (1 - tau) - 1) / (1 - tau),
                                   rtol=1e-14)
    for tau, n in ((1.2, 3), (1.7, 6)):
        exact = (2 ** (tau - 1) - 1) / ((tau - 1) * n ** (tau - 1))
        np.testing.assert_allclose(transform_at_one(tau=tau, num_classes=n), exact, rtol=1e-14)


def test_shapes_are_preserved():
    t = np.full((2, 3, 4), 0.25)
    assert consistency_transform(t, tau=0.5, num_classes=3).shape == (2, 3, 4)
    assert consistency_bound(t, tau=1.5, num_classes=3).shape == (2, 3, 4)
    assert np.ndim(consistency_transform(0.25, tau=1.0, num_classes=3)) == 0
    assert np.ndim(consistency_bound(0.25, tau=0.0, num_classes=3)) == 0


# ------------------------------------------------------------------------------------------------
# T(0) = 0, increasing, convex; Gamma = T^{-1}, concave, saturating at T(1)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tau", TAUS + (1.7, 2.5))
@pytest.mark.parametrize("n", NS)
def test_transform_shape(tau, n):
    T = consistency_transform(T_GRID, tau=tau, num_classes=n)
    assert T[0] == 0.0
    assert np.all(np.diff(T) > 0)
    assert np.all(np.diff(T, 2) >= -1e-12)


@pytest.mark.parametrize("tau", TAUS + (1.7, 2.5))
@pytest.mark.parametrize("n", NS)
def test_bound_inverts_transform(tau, n):
    T = consistency_transform(T_GRID, tau=tau, num_classes=n)
    np.testing.assert_allclose(consistency_bound(T, tau=tau, num_classes=n), T_GRID, atol=1e-12, rtol=0)
    top = transform_at_one(tau=tau, num_classes=n)
    eps = np.linspace(0.0, top, 1001)
    gamma = consistency_bound(eps, tau=tau, num_classes=n)
    np.testing.assert_allclose(consistency_transform(gamma, tau=tau, num_classes=n), eps, atol=1e-12, rtol=0)
    assert np.all(np.diff(gamma) > 0)
    assert np.all(np.diff(gamma, 2) <= 1e-12)  # concave
    beyond = consistency_bound(np.array([top, top * (1 + 1e-9), 1.5 * top, 10.0, 1e6]), tau=tau, num_classes=n)
    np.testing.assert_array_equal(beyond, 1.0)
    assert 0.0 <= consistency_bound(0.0, tau=tau, num_classes=n) <= 1e-15


@given(st.floats(0.0, 1.0), st.one_of(st.sampled_from([0.0, 1.0, 2.0]), st.floats(0.0, 4.0)), st.integers(2, 50))
@example(t=0.5, tau=0.99999, n=2)  # found by hypothesis: T loses ~eps/|1 - tau| near tau = 1
def test_bound_inverts_transform_property(t, tau, n):
    T = consistency_transform(t, tau=tau, num_classes=n)
    assert 0.0 <= T <= transform_at_one(tau=tau, num_classes=n)
    assert abs(consistency_bound(T, tau=tau, num_classes=n) - t) <= 1e-12


# ------------------------------------------------------------------------------------------------
# dependence on n
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.0, 0.3, 0.5, 0.9, 1.0])
def test_no_n_dependence_for_tau_at_most_one(tau):
    ref = consistency_transform(T_GRID, tau=tau, num_classes=2)
    for n in (3, 5, 10, 100, 10**6):
        np.testing.assert_array_equal(consistency_transform(T_GRID, tau=tau, num_classes=n), ref)
        eps = np.linspace(0, 1, 51)
        np.testing.assert_array_equal(
            consistency_bound(eps, tau=tau, num_classes=n), consistency_bound(eps, tau=tau, num_classes=2)
        )


@pytest.mark.parametrize("tau", [1.1, 1.5, 1.9, 2.0])
def test_non_increasing_in_n_above_one(tau):
    ns = (2, 3, 4, 5, 10, 100)
    Ts = np.stack([consistency_transform(T_GRID, tau=tau, num_classes=n) for n in ns])
    assert np.all(np.diff(Ts[:, 1:], axis=0) < 0)  # strictly, for t > 0
    scaled = Ts * np.array(ns, dtype=float)[:, None] ** (tau - 1)  # n^{tau-1} T_{tau,n} is n-free
    np.testing.assert_allclose(scaled, np.broadcast_to(scaled[0], scaled.shape), rtol=1e-13, atol=0)


# ------------------------------------------------------------------------------------------------
# continuity in tau at 1 and at 2
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("delta", [1e-3, 1e-6, 1e-9])
@pytest.mark.parametrize("n", [2, 3, 10])
def test_continuity_at_tau_one(delta, n):
    t = np.linspace(0.0, 1.0, 201)
    at_one = consistency_transform(t, tau=1.0, num_classes=n)
    for tau in (1.0 - delta, 1.0 + delta):
        assert np.all(np.abs(consistency_transform(t, tau=tau, num_classes=n) - at_one) <= 10 * delta)


@pytest.mark.parametrize("delta", [1e-2, 1e-3])
@pytest.mark.parametrize("n", [2, 3, 10])
def test_continuity_at_tau_two(delta, n):
    t = np.linspace(0.0, 1.0, 201)
    near = consistency_transform(t, tau=2.0 - delta, num_classes=n)
    assert np.all(np.abs(near - t / n) <= 10 * delta)
    np.testing.assert_allclose(consistency_transform(t, tau=2.0, num_classes=n), t / n, rtol=1e-15)


@pytest.mark.parametrize("delta", [1e-4, 1e-6])
@pytest.mark.parametrize("t", [0.01, 0.1, 0.19, 0.5, 1.0])
def test_transform_close_to_tau_two(delta, t):
    """Down to delta = 1e-6: T_{2-delta,n}(t) -> t/n, and T matches mpmath.

    Fails: with r = 1/(2 - tau) ~ 1e4..1e6 the 40-term series (t < 0.2) is truncated and the direct
    form overflows ((1+t)^r = inf), giving wrong values or inf.
    """
    n = 3
    tau = 2.0 - delta
    got = float(consistency_transform(t, tau=tau, num_classes=n))
    assert abs(got - t / n) <= 10 * delta
    np.testing.assert_allclose(got, float(_mp_transform(t, tau, n)), rtol=1e-10)


# ------------------------------------------------------------------------------------------------
# Numerical stability: stable T agrees with 40-digit mpmath; the naive formula does not
# ------------------------------------------------------------------------------------------------

STAB_T = (1e-8, 1e-6, 1e-4, 0.1, 0.5, 0.9, 1.0)
STAB_TAU = (0.0, 0.3, 0.5, 0.9, 1.2, 1.5, 1.9)


@pytest.mark.parametrize("tau", STAB_TAU)
def test_transform_matches_mpmath(tau):
    for n in (3, 10):
        got = consistency_transform(np.array(STAB_T), tau=tau, num_classes=n)
        ref = np.array([float(_mp_transform(t, tau, n)) for t in STAB_T])
        np.testing.assert_allclose(got, ref, rtol=1e-13, atol=0)


@pytest.mark.parametrize("tau", STAB_TAU)
def test_naive_transform_fails_the_same_check(tau):
    """The check above has teeth: the naive A - 1 loses every digit at t = 1e-8."""
    t = np.array(STAB_T)
    ref = np.array([float(_mp_transform(x, tau, 3)) for x in STAB_T])
    naive = _naive_transform(t, tau, 3)
    rel = np.abs(naive - ref) / ref
    assert rel[0] > 1e-3  # t = 1e-8: at most a few ulps of 1 survive in A - 1 (all digits lost)
    assert rel[0] > 1e5 * 1e-13  # so the rel 1e-13 check fails by orders of magnitude
    assert rel[-3:].max() < 1e-12  # t >= 0.5: fine, so the failure is the cancellation


@pytest.mark.parametrize("tau", [1 - 1e-3, 1 - 1e-5, 1 - 1e-7, 1 + 1e-7, 1 + 1e-5, 1 + 1e-3])
def test_transform_precision_near_tau_one(tau):
    """Full precision for tau near (not at) 1, where the closed form divides by 1 - tau.

    Fails: the series evaluates ``r - 2k + 1`` as ``(r - 2k) + 1`` for k = 1, and the log form for
    larger t cancels O(1) terms, so the relative error grows like eps/|1 - tau| (~1e-9 at
    1 - 1e-7). Gamma(T(t)) = t then fails its 1e-12 check (hypothesis found t = 0.5, tau = 0.99999).
    """
    n = 3
    t = np.array(STAB_T)
    got = consistency_transform(t, tau=tau, num_classes=n)
    ref = np.array([float(_mp_transform(x, tau, n)) for x in STAB_T])
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=0)
    grid = np.linspace(0.0, 1.0, 201)
    back = consistency_bound(consistency_transform(grid, tau=tau, num_classes=n), tau=tau, num_classes=n)
    np.testing.assert_allclose(back, grid, atol=1e-12, rtol=0)


@pytest.mark.parametrize("t", [1e-8, 1e-6, 1e-4])
def test_logistic_transform_small_t_precision(t):
    """tau = 1 keeps full relative precision down to t = 1e-8 (as the docstring states).

    Fails: the logistic branch sums (1+t) log1p(t) and xlogy(1-t, 1-t), which cancel to t^2/2; at
    t = 1e-8 the result is 2.49e-17 instead of 5.0e-17 (the series t^2/2 + t^4/12 + ... is exact).
    """
    got = float(consistency_transform(t, tau=1.0, num_classes=3))
    np.testing.assert_allclose(got, float(_mp_transform(t, 1.0, 3)), rtol=1e-13)


# ------------------------------------------------------------------------------------------------
# the square-root corollary: Gamma <= sqrt(c eps) globally
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.0, 0.3, 0.5, 0.9, 1.0, 1.2, 1.37, 1.5, 1.9, 1.99])
@pytest.mark.parametrize("n", NS)
def test_gamma_is_below_the_global_square_root_bound(tau, n):
    c = sqrt_bound_constant(tau=tau, num_classes=n)
    expected = 2**tau * (2 - tau) if tau <= 1 else 2 * n ** (tau - 1)
    np.testing.assert_allclose(c, expected, rtol=1e-15)
    top = transform_at_one(tau=tau, num_classes=n)
    eps = np.concatenate([np.geomspace(1e-8, top, 400), [top]])
    gamma = consistency_bound(eps, tau=tau, num_classes=n)
    assert np.all(gamma <= np.sqrt(c * eps) * (1 + 1e-12))
    # Equivalently t^2 <= c T(t) on the whole interval.
    t = T_GRID[1:]
    assert np.all(t**2 <= c * consistency_transform(t, tau=tau, num_classes=n) * (1 + 1e-12))
    if tau <= 1:
        np.testing.assert_allclose(c, 1 / small_t_constant(tau=tau, num_classes=n), rtol=1e-15)
    else:
        assert c >= 1 / small_t_constant(tau=tau, num_classes=n)


def test_small_t_constant_is_not_a_global_square_root_constant():
    """At tau = 1.5, n = 3 the small-t constant 2(2-tau)n^{tau-1} = 1.732 fails at t = 1."""
    tau, n = 1.5, 3
    c_small = 1 / small_t_constant(tau=tau, num_classes=n)
    np.testing.assert_allclose(c_small, 2 * (2 - tau) * n ** (tau - 1), rtol=1e-15)
    top = transform_at_one(tau=tau, num_classes=n)
    need = 1.0 / top  # t^2 / T(t) at t = 1
    np.testing.assert_allclose(need, 2.0908, rtol=1e-4)
    np.testing.assert_allclose(need / c_small, 1.2071, rtol=1e-4)  # ~20% over
    gamma = consistency_bound(top, tau=tau, num_classes=n)
    assert gamma == 1.0
    assert gamma > math.sqrt(c_small * top) + 0.05  # the wrong bound is violated
    assert gamma <= math.sqrt(sqrt_bound_constant(tau=tau, num_classes=n) * top)  # the global one holds


# ------------------------------------------------------------------------------------------------
# square-root growth near zero
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.0, 0.3, 0.5, 0.9, 1.0, 1.2, 1.5])
@pytest.mark.parametrize("n", NS)
def test_small_t_limits(tau, n):
    k = small_t_constant(tau=tau, num_classes=n)
    expected = 1 / (2**tau * (2 - tau)) if tau <= 1 else 1 / (2 * (2 - tau) * n ** (tau - 1))
    np.testing.assert_allclose(k, expected, rtol=1e-15)
    t = 1e-4
    np.testing.assert_allclose(consistency_transform(t, tau=tau, num_classes=n) / t**2, k, rtol=1e-7)
    eps = 1e-8
    ratio = consistency_bound(eps, tau=tau, num_classes=n) / math.sqrt(eps)
    np.testing.assert_allclose(ratio, math.sqrt(1 / k), rtol=1e-6)


@pytest.mark.parametrize("tau, slope, tol", [(0.0, 0.5, 0.01), (0.5, 0.5, 0.01), (1.0, 0.5, 0.01), (1.5, 0.5, 0.01),
                                             (2.0, 1.0, 1e-12), (3.0, 1.0, 1e-12)])
def test_log_log_slope(tau, slope, tol):
    n = 2  # for tau >= 2 this keeps [1e-8, 1e-4] below T(1)
    eps = np.array([1e-8, 1e-4])
    g = consistency_bound(eps, tau=tau, num_classes=n)
    assert g[1] < 1.0
    assert abs(np.diff(np.log(g))[0] / np.diff(np.log(eps))[0] - slope) <= tol


def test_sqrt_and_small_t_constants_reject_tau_two_and_above():
    for fn in (small_t_constant, sqrt_bound_constant):
        for tau in (2.0, 3.0):
            with pytest.raises(ValueError, match="tau"):
                fn(tau=tau, num_classes=3)


# ------------------------------------------------------------------------------------------------
# logistic Gamma = sqrt(eps) (factor 2 dropped) is violated by the tight instance
# ------------------------------------------------------------------------------------------------


def test_logistic_bound_without_its_factor_two_is_violated_by_the_tight_instance():
    p = np.array([0.75, 0.25, 0.0])
    h = np.array([0.0, 0.0, -40.0])
    eps = float(surrogate_regret(h, p, tau=1.0))
    t = float(zero_one_regret(h, p))
    assert t == 0.5
    np.testing.assert_allclose(eps, 0.130812035941, rtol=1e-9)
    assert t <= consistency_bound(eps, tau=1.0, num_classes=3) + 1e-9  # the correct bound holds (tightly)
    np.testing.assert_allclose(consistency_bound(eps, tau=1.0, num_classes=3), 0.5, atol=1e-8)
    assert t > math.sqrt(eps) + 0.1  # the planted Gamma = sqrt(eps) = 0.3617 is violated


# ------------------------------------------------------------------------------------------------
# Bad inputs
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [-0.1, 1.1, float("nan"), float("inf"), [0.5, 1.5]])
def test_transform_rejects_t_outside_unit_interval(t):
    with pytest.raises(ValueError, match="^t must"):
        consistency_transform(t, tau=1.0, num_classes=3)


@pytest.mark.parametrize("eps", [-1e-3, float("nan"), [0.1, -0.1]])
def test_bound_rejects_bad_eps(eps):
    with pytest.raises(ValueError, match="^eps must"):
        consistency_bound(eps, tau=1.0, num_classes=3)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(tau=-0.5, num_classes=3), ValueError, "tau"),
        (dict(tau=float("nan"), num_classes=3), ValueError, "tau"),
        (dict(tau=1.0, num_classes=1), ValueError, "num_classes"),
        (dict(tau=1.0, num_classes=2.5), TypeError, "num_classes"),
        (dict(tau=1.0, num_classes=3.0), TypeError, "num_classes"),
        (dict(tau=1.0, num_classes=True), TypeError, "num_classes"),
    ],
)
@pytest.mark.parametrize("fn", ["transform", "bound", "at_one", "small_t", "sqrt"])
def test_bad_parameters(fn, kwargs, exc, match):
    call = {
        "transform": lambda: consistency_transform(0.5, **kwargs),
        "bound": lambda: consistency_bound(0.1, **kwargs),
        "at_one": lambda: transform_at_one(**kwargs),
        "small_t": lambda: small_t_constant(**kwargs),
        "sqrt": lambda: sqrt_bound_constant(**kwargs),
    }[fn]
    with pytest.raises(exc, match=match):
        call()


def test_old_n_classes_keyword_still_works_and_warns():
    calls = {
        consistency_transform: lambda **k: consistency_transform(0.5, tau=1.5, **k),
        consistency_bound: lambda **k: consistency_bound(0.1, tau=1.5, **k),
        transform_at_one: lambda **k: transform_at_one(tau=1.5, **k),
        small_t_constant: lambda **k: small_t_constant(tau=1.5, **k),
        sqrt_bound_constant: lambda **k: sqrt_bound_constant(tau=1.5, **k),
    }
    for call in calls.values():
        with pytest.warns(DeprecationWarning, match="n_classes"):
            old = call(n_classes=3)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert old == call(num_classes=3)
        with pytest.raises(TypeError, match="num_classes"):
            call(num_classes=3, n_classes=3)
        with pytest.raises(TypeError, match="num_classes"):
            call()


# ------------------------------------------------------------------------------------------------
# jit, vmap and grad (float64 inside jax.enable_x64, and float32)
# ------------------------------------------------------------------------------------------------

TRACED_TAUS = (0.0, 0.5, 1.0, 1.5, 1.97, 2.0, 3.0)


def _value_and_grads(fn):
    """``jit(vmap(value_and_grad))`` of an elementwise ``fn(x, tau, n)``: values and ``(d/dx, d/dtau)``."""
    return jax.jit(jax.vmap(jax.value_and_grad(fn, argnums=(0, 1)), (0, None, None)))


# Compiled once per dtype for every test (x of shape (32,); tau and n are traced arguments).
_T = _value_and_grads(lambda t, a, n: consistency_transform(t, tau=a, num_classes=n))
_G = _value_and_grads(lambda e, a, n: consistency_bound(e, tau=a, num_classes=n))
_T_AT_ONE = jax.jit(lambda a, n: transform_at_one(tau=a, num_classes=n))
_GRAD_SMALL_T = jax.jit(jax.grad(lambda a, n: small_t_constant(tau=a, num_classes=n)))
_GRAD_SQRT = jax.jit(jax.grad(lambda a, n: sqrt_bound_constant(tau=a, num_classes=n)))
_T_GRID = np.linspace(0.0, 1.0, 32)


def test_transform_and_bound_agree_with_eager_under_jit_and_vmap(x64):
    for tau in TRACED_TAUS:
        for n in (2, 3, 10):
            top = transform_at_one(tau=tau, num_classes=n)
            eps = np.concatenate([[0.0, 1e-8], np.linspace(1e-3, 1.2 * top, 30)])
            np.testing.assert_allclose(_T(_T_GRID, tau, n)[0], consistency_transform(_T_GRID, tau=tau, num_classes=n),
                                       rtol=1e-13, atol=1e-16)
            np.testing.assert_allclose(_G(eps, tau, n)[0], consistency_bound(eps, tau=tau, num_classes=n), rtol=1e-12,
                                       atol=1e-15)
            assert _T_AT_ONE(tau, n) == pytest.approx(top, rel=1e-13)
    eps = np.linspace(0.0, 0.4, 9)
    V = jax.vmap(lambda a: consistency_bound(eps, tau=a, num_classes=3))(jnp.asarray(TRACED_TAUS))
    for row, a in zip(V, TRACED_TAUS, strict=True):
        np.testing.assert_allclose(row, consistency_bound(eps, tau=a, num_classes=3), rtol=1e-12, atol=1e-15)


def _central(f, x):
    h = 1e-5 * np.abs(x) + 1e-10  # a relative step: Gamma is steep at small eps
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize("n", [2, 3, 10])
def test_gradients_match_finite_differences(n, x64):
    """d/dt T, d/deps Gamma and both d/dtau, against central differences (tau away from the kinks 1 and 2)."""
    t = np.linspace(0.02, 0.98, 32)
    for tau in (0.0, 0.3, 0.5, 0.9, 1.2, 1.5, 1.97, 2.5):
        eps = 0.5 * consistency_transform(t, tau=tau, num_classes=n)  # inside [0, T(1)], away from the cap

        def T(x, a=tau):
            return consistency_transform(x, tau=a, num_classes=n)

        def G(x, a=tau):
            return consistency_bound(x, tau=a, num_classes=n)

        d_t, d_tau = _T(t, tau, n)[1]
        np.testing.assert_allclose(d_t, _central(T, t), rtol=1e-7)
        d_eps, d_tau_g = _G(eps, tau, n)[1]
        np.testing.assert_allclose(d_eps, _central(G, eps), rtol=1e-6)
        if tau > 0:
            np.testing.assert_allclose(d_tau, _central(lambda a: T(t, a), tau), rtol=1e-6, atol=1e-12)
            np.testing.assert_allclose(d_tau_g, _central(lambda a, e=eps: G(e, a), tau), rtol=1e-6, atol=1e-12)
        if 0 < tau < 2:
            for f, grad in ((small_t_constant, _GRAD_SMALL_T), (sqrt_bound_constant, _GRAD_SQRT)):
                assert grad(tau, n) == pytest.approx(_central(lambda a, f=f: f(tau=a, num_classes=n), tau), rel=1e-6)


def test_gradient_in_tau_at_the_logistic_loss_is_the_right_derivative(x64):
    """At tau = 1 the transform switches to the n^(tau-1) branch: grad returns the right derivative
    (docs/compsum.md#derivative-in-tau-at-the-logistic-loss)."""
    h = 1e-7
    t = _T_GRID[1:-1]
    for n in (2, 3, 10):
        right = (consistency_transform(_T_GRID, tau=1 + h, num_classes=n)
                 - consistency_transform(_T_GRID, tau=1.0, num_classes=n)) / h
        np.testing.assert_allclose(_T(_T_GRID, 1.0, n)[1][1][1:-1], right[1:-1], rtol=1e-5)
        assert t.size == 30


def test_bound_gradient_is_the_inverse_function_derivative(x64):
    eps = np.linspace(0.01, 5.0, 32)  # beyond T(1) the bound is capped at 1: flat
    for tau in (0.5, 1.5):
        g = consistency_bound(eps, tau=tau, num_classes=3)
        d_eps = _G(eps, tau, 3)[1][0]
        inside = g < 1
        np.testing.assert_allclose(d_eps[inside], 1 / _T(g, tau, 3)[1][0][inside], rtol=1e-10)
        assert np.all(d_eps[~inside] == 0.0) and np.any(~inside)


def test_float32_traced_values_are_accurate():
    t = jnp.linspace(0.0, 1.0, 32, dtype=jnp.float32)
    for tau in (0.0, 0.5, 1.0, 1.5, 2.0):
        T, (d_t, _) = _T(t, jnp.float32(tau), 3)
        assert T.dtype == jnp.float32 and np.all(np.isfinite(d_t[:-1]))  # T'(1) is infinite for tau < 1
        ref = consistency_transform(np.asarray(t, np.float64), tau=tau, num_classes=3)
        np.testing.assert_allclose(T, ref, rtol=2e-6, atol=1e-7)
        eps = jnp.linspace(0.0, 0.9 * transform_at_one(tau=tau, num_classes=3), 32, dtype=jnp.float32)
        G, (d_eps, _) = _G(eps, jnp.float32(tau), 3)
        assert G.dtype == jnp.float32
        np.testing.assert_allclose(G, consistency_bound(np.asarray(eps, np.float64), tau=tau, num_classes=3),
                                   rtol=1e-5, atol=1e-6)
        assert np.all(np.isfinite(d_eps))


def test_traced_invalid_inputs_give_nan(x64):
    bad = {
        "t": _T(np.where(np.arange(32) % 2, -0.1, np.nan), 1.0, 3)[0],
        "eps": _G(np.where(np.arange(32) % 2, -0.1, np.nan), 1.0, 3)[0],
        "tau": _G(_T_GRID, -1.0, 3)[0],
        "tau of T": _T(_T_GRID, -0.5, 3)[0],
        "n": _T(_T_GRID, 1.5, 1)[0],
        "tau >= 2": jax.jit(lambda a: sqrt_bound_constant(tau=a, num_classes=3))(2.5),
    }
    for name, value in bad.items():
        assert np.all(np.isnan(value)), name
