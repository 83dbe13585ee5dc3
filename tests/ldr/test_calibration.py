"""Conditional risks, calibration gaps (cvxpy), their closed forms, predicates, and the input policy: closed
forms under jit/vmap/grad, the convex programs eager only, NaN raising, renamed arguments warning."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

from theory.ldr import calibration as cal

INF = math.inf


@pytest.mark.parametrize("lam,min_risk,gap", [(0.0, 1.0, 0.0), (0.05, 0.977183, 4.200e-4), (0.2, 0.909539, 1.629e-3),
                                              (1.0, 0.732978, 3.258e-3), (5.0, 0.585996, 9.660e-3)])
def test_uniform_margin_gap_is_positive_for_positive_lambda_and_zero_for_crammer_singer(lam, min_risk, gap):
    q = [0.4, 0.35, 0.25]
    assert cal.min_conditional_risk(q, lam=lam, margin=1.0) == pytest.approx(min_risk, abs=1e-6)
    d = cal.calibration_gap(q, 0, 1, lam=lam, margin=1.0)
    assert d == pytest.approx(gap, abs=1e-6)
    assert (d > 1e-6) == (lam > 0)


def test_zero_margin_minimiser_is_lambda_log_q_with_minus_lambda_kl_risk():
    q = np.array([0.5, 0.3, 0.2])
    value, f = cal.min_conditional_risk(q, lam=1.0, return_minimiser=True)
    assert value == pytest.approx(-0.0689592746, abs=1e-9) == cal.min_risk_zero_margin(q, lam=1.0)
    np.testing.assert_allclose(f - f.mean(), [0.47570545, -0.03512017, -0.44058528], atol=1e-6)
    logq = np.log(q)
    np.testing.assert_allclose(f - f.mean(), logq - logq.mean(), atol=1e-6)  # f* = lambda log q + t 1
    g = cal.conditional_risk_minimiser(q, lam=1.0)
    np.testing.assert_allclose(g, f, atol=1e-12)  # the same program
    assert cal.min_risk_zero_margin(q, lam=0.5) == pytest.approx(-0.0689592746 / 2, abs=1e-9)


def test_min_conditional_risk_returns_a_value_like_compsum():
    value = cal.min_conditional_risk([0.7, 0.2, 0.1], lam=0.0, margin=1.0)
    assert isinstance(value, float) and value == pytest.approx(0.6, abs=1e-8)


@pytest.mark.parametrize("lam,f_star,risk", [(1.0, (0.67910796, -0.10023972, -0.57886825), 0.6407733668),
                                             (0.5, (0.47238435, -0.11479299, -0.35759136), 0.7392800731)])
def test_uniform_margin_minimisers_agree_with_bfgs(lam, f_star, risk):
    q = np.array([0.5, 0.3, 0.2])
    value, f = cal.min_conditional_risk(q, lam=lam, margin=1.0, return_minimiser=True)
    res = optimize.minimize(lambda g: cal.conditional_risk(g, q, lam=lam, margin=1.0), np.zeros(3), method="BFGS",
                            options={"gtol": 1e-10})
    assert value == pytest.approx(risk, abs=1e-8) and res.fun == pytest.approx(risk, abs=1e-8)
    np.testing.assert_allclose(f - f.mean(), f_star, atol=1e-5)


@pytest.mark.parametrize("q,c,gap,risk", [((0.6, 0.25, 0.15), 1.0, 0.2, 0.8), ((0.7, 0.2, 0.1), 1.0, 0.4, 0.6),
                                          ((0.7, 0.2, 0.1), 2.0, 0.8, 1.2), ((0.45, 0.35, 0.2), 1.0, 0.0, 1.0)])
def test_crammer_singer_gap_and_min_risk_closed_forms_match_cvxpy(q, c, gap, risk):
    assert cal.cs_top1_gap(q, c=c) == pytest.approx(gap, abs=1e-12)
    assert cal.cs_min_risk(q, c=c) == pytest.approx(risk, abs=1e-12)
    assert cal.calibration_gap(q, 0, 1, lam=0.0, margin=c) == pytest.approx(gap, abs=1e-8)
    assert cal.min_conditional_risk(q, lam=0.0, margin=c) == pytest.approx(risk, abs=1e-8)


def test_crammer_singer_gap_needs_its_positive_part():
    q = (0.45, 0.35, 0.2)
    wrong = 1.0 * (2 * max(q) - 1)
    assert wrong == pytest.approx(-0.1) and abs(wrong - cal.calibration_gap(q, 0, 1, lam=0.0, margin=1.0)) > 0.09


def test_class_dependent_margins_break_rank_calibration():
    C = np.zeros((3, 3))
    C[[0, 2], 1] = 2.0
    q = [0.36, 0.34, 0.30]
    gap = cal.calibration_gap(q, 0, 1, lam=1.0, margin=C)
    assert abs(gap) < 1e-8  # ~1e-10: the minimiser puts f_1 >= f_0 although q_0 > q_1
    f = cal.conditional_risk_minimiser(q, lam=1.0, margin=C)
    assert f[1] >= f[0]
    assert not cal.is_rank_calibrated(lam=1.0, margin=C, num_classes=3)  # "any margins" would say True here
    assert cal.is_rank_calibrated(lam=1.0, margin=0.5, num_classes=3)


def test_symmetric_loss_on_normalised_scores_is_top1_but_not_top2_calibrated():
    q = [0.5, 0.3, 0.2]
    assert cal.calibration_gap(q, 0, 1, lam=INF, domain="simplex") == pytest.approx(0.3, abs=1e-8)
    assert abs(cal.calibration_gap(q, 1, 2, lam=INF, domain="simplex")) < 1e-8
    assert cal.symmetric_gap_bounded(q, 0, 1) == pytest.approx(0.3)
    assert cal.symmetric_gap_bounded(q, 1, 2) == 0.0
    assert cal.is_top1_calibrated(q, lam=INF, margin=0.0, domain="simplex")
    assert not cal.is_rank_calibrated(lam=INF, margin=0.0, num_classes=3, domain="simplex")
    with pytest.raises(ValueError, match="bounded domain"):
        cal.min_conditional_risk(q, lam=INF)


def test_large_lambda_on_normalised_scores_loses_the_lower_gap():
    q = [0.5, 0.3, 0.2]
    assert cal.calibration_gap(q, 1, 2, lam=1.0, domain="simplex") == pytest.approx(0.01007, abs=1e-5)
    assert abs(cal.calibration_gap(q, 1, 2, lam=10.0, domain="simplex")) < 1e-8


def test_symmetric_sum_decreases_to_c_sym_within_its_bounds():
    rng = np.random.default_rng(0)
    f = 3.0 * rng.standard_normal(5)
    sums = [cal.symmetric_sum(f, lam=lam, margin=0.7) for lam in (0.1, 1.0, 10.0, 100.0, 1e4)]
    assert all(s2 <= s1 for s1, s2 in zip(sums, sums[1:], strict=False))
    assert sums[-1] == pytest.approx(2.8, abs=1e-3) and cal.symmetric_sum(f, lam=INF, margin=0.7) == pytest.approx(2.8)
    for lam in (0.1, 1.0, 10.0):
        lo, hi = cal.symmetry_bounds(f, lam=lam, margin=0.7)
        s = cal.symmetric_sum(f, lam=lam, margin=0.7)
        assert lo - 1e-12 <= s <= hi + 1e-12
    assert cal.is_symmetric(lam=INF) and not cal.is_symmetric(lam=10.0)
    assert sums[1] > 2.8 + 1.0  # LDR-KL at lambda = 1 is far from symmetric


def test_uniform_noise_splits_the_risk_and_the_excess_bound_vanishes_at_infinite_lambda():
    rng = np.random.default_rng(1)
    q = rng.dirichlet(np.ones(4))
    f = rng.uniform(0, 2, 4)
    eta = 0.4
    qn = cal.noisy_posterior(q, eta=eta)
    lhs = cal.conditional_risk(f, qn, lam=2.0, margin=0.1)
    rhs = (1 - eta) * cal.conditional_risk(f, q, lam=2.0, margin=0.1) + eta / 4 * cal.symmetric_sum(f, lam=2.0,
                                                                                                     margin=0.1)
    assert lhs == pytest.approx(rhs, abs=1e-12)
    assert cal.noise_excess_bound(0.5, lam=INF, r=4.1) == 0.0
    assert cal.noise_excess_bound(0.5, lam=2.0, r=4.1) == pytest.approx(0.5 * 4.1**2 / 16 / 0.5)
    np.testing.assert_allclose(cal.noisy_posterior([1.0, 0, 0], eta=0.3, kind="pairflip"), [0.7, 0.3, 0.0])


def test_predicates():
    assert cal.is_uniform_margin(0.3, 4) and not cal.is_uniform_margin(-0.3, 4)
    assert not cal.is_rank_calibrated(lam=0.0, margin=1.0, num_classes=3)
    assert cal.is_top1_calibrated([0.6, 0.3, 0.1], lam=0.0, margin=1.0)
    assert not cal.is_top1_calibrated([0.45, 0.35, 0.2], lam=0.0, margin=1.0, num_classes=3)
    assert not cal.is_top1_calibrated([0.5, 0.3, 0.2], lam=INF, margin=0.0)
    assert cal.is_uniform_margin(0.5 * (1 - np.eye(3)))  # num_classes read off the matrix


def test_renamed_num_classes_keyword_warns_and_still_works():
    with pytest.warns(DeprecationWarning, match="'K' is deprecated"):
        assert cal.is_rank_calibrated(lam=1.0, margin=0.5, K=3)
    with pytest.warns(DeprecationWarning, match="'K' is deprecated"):
        assert cal.is_uniform_margin(0.3, K=4)
    with pytest.warns(DeprecationWarning, match="'K' is deprecated"):
        assert cal.is_top1_calibrated([0.6, 0.3, 0.1], lam=0.0, margin=1.0, K=3)
    with pytest.raises(TypeError, match="num_classes"):
        cal.is_rank_calibrated(lam=1.0, margin=0.5, K=3, num_classes=3)


def test_bad_inputs_raise_naming_the_parameter():
    with pytest.raises(ValueError, match="q"):
        cal.conditional_risk([0.0, 0.0], [0.6, 0.6], lam=1.0)
    with pytest.raises(ValueError, match="lam"):
        cal.conditional_risk([0.0, 0.0], [0.5, 0.5], lam=-1.0)
    with pytest.raises(ValueError, match="lam"):
        cal.conditional_risk([0.0, 0.0], [0.5, 0.5], lam=float("nan"))
    with pytest.raises(ValueError, match="f must be finite"):
        cal.conditional_risk([0.0, float("nan")], [0.5, 0.5], lam=1.0)
    with pytest.raises(ValueError, match="q must be finite"):
        cal.min_risk_zero_margin([0.5, float("nan")], lam=1.0)
    with pytest.raises(ValueError, match=r"lam must be a finite number in \[0, inf\)"):
        cal.min_risk_zero_margin([0.5, 0.5], lam=INF)
    with pytest.raises(ValueError, match="c must lie"):
        cal.cs_top1_gap([0.5, 0.5], c=-1.0)
    with pytest.raises(ValueError, match="domain"):
        cal.min_conditional_risk([0.5, 0.5], lam=1.0, domain="ball")
    with pytest.raises(ValueError, match="differ"):
        cal.calibration_gap([0.5, 0.5], 0, 0, lam=1.0)
    with pytest.raises(ValueError, match="differ"):
        cal.symmetric_gap_bounded([0.5, 0.5], 1, 1)
    with pytest.raises(ValueError, match="eta"):
        cal.noise_excess_bound(1.0, lam=1.0, r=1.0)
    with pytest.raises(ValueError, match="r must lie"):
        cal.noise_excess_bound(0.5, lam=1.0, r=-1.0)
    with pytest.raises(ValueError, match="kind"):
        cal.noisy_posterior([0.5, 0.5], eta=0.1, kind="flip")
    with pytest.raises(ValueError, match="margin"):
        cal.conditional_risk([0.0, 1.0], [0.5, 0.5], lam=1.0, margin=np.ones((2, 2)))


# ---- closed forms under jit / vmap / grad -------------------------------------------------------------------

Q = np.array([[0.5, 0.3, 0.2], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
F = np.array([[1.0, 0.0, -1.0], [0.3, -0.2, 0.5], [2.0, 1.5, -0.5]])

#: name -> (f(x, h) with x a batched input row and h a scalar hyperparameter, x rows, h, eager reference)
CLOSED_FORMS = {
    "min_risk_zero_margin": (lambda q, h: cal.min_risk_zero_margin(q, lam=h), Q, 1.3),
    "cs_top1_gap": (lambda q, h: cal.cs_top1_gap(q, c=h), np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1]]), 1.5),
    "cs_min_risk": (lambda q, h: cal.cs_min_risk(q, c=h), np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1]]), 1.5),
    "symmetric_gap_bounded": (lambda q, h: h * cal.symmetric_gap_bounded(q, 0, 1), np.array([[0.5, 0.3, 0.2],
                                                                                            [0.6, 0.1, 0.3]]), 1.0),
    "noisy_posterior": (lambda q, h: cal.noisy_posterior(q, eta=h)[..., 0], Q, 0.3),
    "noisy_posterior_pairflip": (lambda q, h: cal.noisy_posterior(q, eta=h, kind="pairflip")[..., 1], Q, 0.3),
    "conditional_risk": (lambda f, h: cal.conditional_risk(f, Q[0], lam=h, margin=0.5), F, 0.7),
    "symmetric_sum": (lambda f, h: cal.symmetric_sum(f, lam=h, margin=0.5), F, 0.7),
    "symmetry_bounds": (lambda f, h: cal.symmetry_bounds(f, lam=h, margin=0.5)[1], F, 0.7),
    "noise_excess_bound": (lambda x, h: cal.noise_excess_bound(x[0], lam=h, r=x[1]), np.array([[0.3, 2.0],
                                                                                               [0.6, 1.0]]), 2.0),
}


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_closed_form_under_jit_and_vmap_equals_the_eager_value(name):
    fn, xs, h = CLOSED_FORMS[name]
    eager = np.array([fn(x, h) for x in xs])  # concrete: float64
    with jax.enable_x64(True):
        jitted = jax.jit(fn)
        np.testing.assert_allclose([float(jitted(jnp.asarray(x), h)) for x in xs], eager, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(jax.vmap(fn, (0, None))(jnp.asarray(xs), h), eager, rtol=1e-12, atol=1e-14)
    # float32 (JAX's default): the same numbers to float32 precision
    np.testing.assert_allclose(jax.jit(jax.vmap(fn, (0, None)))(jnp.asarray(xs, jnp.float32), h), eager, rtol=2e-6,
                               atol=2e-6)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_closed_form_gradient_matches_finite_differences(name):
    fn, xs, h = CLOSED_FORMS[name]
    x = xs[0]
    with jax.enable_x64(True):
        gx, gh = jax.grad(lambda x, h: fn(x, h), argnums=(0, 1))(jnp.asarray(x), jnp.asarray(h))
        eps = 1e-6
        fd_h = (fn(jnp.asarray(x), h + eps) - fn(jnp.asarray(x), h - eps)) / (2 * eps)
        assert float(gh) == pytest.approx(float(fd_h), rel=1e-6, abs=1e-8)
        # a direction that keeps a distribution on the simplex (and stays on the smooth piece)
        d = np.array([1.0, -1.0] + [0.0] * (x.size - 2)) * 1e-6
        fd_x = (fn(jnp.asarray(x + d), h) - fn(jnp.asarray(x - d), h)) / 2
        assert float(np.dot(np.asarray(gx), d)) == pytest.approx(float(fd_x), rel=1e-5, abs=1e-12)


def test_traced_invalid_hyperparameters_give_nan_not_a_finite_number():
    q = jnp.array([0.5, 0.3, 0.2])
    assert np.isnan(jax.jit(lambda lam: cal.min_risk_zero_margin(q, lam=lam))(-1.0))
    assert np.isnan(jax.jit(lambda c: cal.cs_top1_gap(q, c=c))(float("nan")))
    assert np.isnan(jax.jit(lambda eta: cal.noise_excess_bound(eta, lam=1.0, r=1.0))(1.5))
    assert np.isnan(jax.jit(lambda lam: cal.conditional_risk(jnp.zeros(3), q, lam=lam))(-0.5))
    assert np.isnan(jax.jit(lambda lam: cal.symmetry_bounds(jnp.zeros(3), lam=lam)[1])(0.0))  # needs lam > 0
    assert np.all(np.isnan(jax.jit(lambda q: cal.noisy_posterior(q, eta=0.1))(jnp.array([0.5, 0.6, 0.2]))))
    assert np.isnan(jax.jit(lambda q: cal.cs_min_risk(q, c=1.0))(jnp.array([0.5, -0.1, 0.6])))


def test_convex_programs_refuse_tracing_with_a_clear_error():
    q = jnp.array([0.5, 0.3, 0.2])
    for fn in (lambda q: cal.min_conditional_risk(q, lam=1.0), lambda q: cal.conditional_risk_minimiser(q, lam=1.0),
               lambda q: cal.calibration_gap(q, 0, 1, lam=1.0)):
        with pytest.raises(TypeError, match="cvxpy"):
            jax.jit(fn)(q)


def test_reference_implementations_moved_out_of_the_topic_api_still_import_with_a_warning():
    import theory.ldr
    from theory.ldr import reference

    assert "inner_max_cvxpy" not in theory.ldr.__all__
    with pytest.warns(DeprecationWarning, match="theory.ldr.reference"):
        assert theory.ldr.inner_max_cvxpy is reference.inner_max_cvxpy
    with pytest.raises(AttributeError):
        theory.ldr.no_such_name  # noqa: B018
