"""Margin losses and the CC conditions: values and derivatives, conditional-risk minimisers (closed form and
numerical), calibration gaps, the derivative criterion against the definition, and bad inputs
(docs/ensloss.md, "Margin losses and the CC conditions")."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.ensloss import (
    CLASSICAL,
    MARGIN_LOSSES,
    calibration_gap,
    conditional_risk,
    conditional_risk_minimiser,
    is_calibrated,
    is_cc,
)

SMOOTH_AWAY_FROM_KINKS = np.array([-3.0, -1.7, -0.4, 0.3, 0.6, 1.4, 2.9])


@pytest.mark.parametrize("name", list(MARGIN_LOSSES))
def test_derivatives_are_the_gradients_of_the_losses(name, x64):
    loss, derivative = MARGIN_LOSSES[name]
    z = jnp.asarray(SMOOTH_AWAY_FROM_KINKS)
    np.testing.assert_allclose(jax.jit(jax.vmap(jax.grad(loss)))(z), derivative(z), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", list(MARGIN_LOSSES))
def test_losses_are_finite_at_extreme_float32_margins_where_defined(name):
    loss, derivative = MARGIN_LOSSES[name]
    z = jnp.array([-1e4, -30.0, 0.0, 30.0, 1e4], jnp.float32)
    values, slopes = np.asarray(loss(z)), np.asarray(derivative(z))
    assert values.dtype == np.float32 and np.all(values >= 0)
    if name != "exponential":  # exp(1e4) overflows float32, as the loss itself does
        assert np.all(np.isfinite(values)) and np.all(np.isfinite(slopes))


def test_infinite_margins_give_the_limits_and_nan_raises():
    assert float(MARGIN_LOSSES["logistic"][0](np.inf)) == 0.0
    assert float(MARGIN_LOSSES["exponential"][0](-np.inf)) == np.inf
    with pytest.raises(ValueError, match="margins must not contain NaN"):
        MARGIN_LOSSES["hinge"][0](np.array([0.0, np.nan]))


@pytest.mark.parametrize("name, expected", [("logistic", 0.847298), ("exponential", 0.423649), ("hinge", 1.0),
                                            ("squared_hinge", 0.4), ("perceptron", 0.0), ("reversed_hinge", -1.0)])
def test_conditional_risk_minimisers_at_eta_0_7(name, expected):
    assert conditional_risk_minimiser(0.7, loss=name) == pytest.approx(expected, abs=1e-6)
    numeric = conditional_risk_minimiser(0.7, loss=MARGIN_LOSSES[name][0])
    assert numeric == pytest.approx(expected, abs=1e-6)


def test_closed_forms_work_under_jit_vmap_and_grad(x64):
    eta = jnp.array([0.2, 0.45, 0.7, 0.9])
    for name in ("logistic", "squared_hinge"):
        eager = conditional_risk_minimiser(np.asarray(eta), loss=name)
        np.testing.assert_allclose(jax.jit(jax.vmap(lambda e, n=name: conditional_risk_minimiser(e, loss=n)))(eta),
                                   eager, rtol=1e-14)
        h = 1e-6
        fd = (conditional_risk_minimiser(0.7 + h, loss=name) - conditional_risk_minimiser(0.7 - h, loss=name)) / (2 * h)
        grad = jax.jit(jax.grad(lambda e, n=name: conditional_risk_minimiser(e, loss=n)))
        assert grad(0.7) == pytest.approx(fd, rel=1e-6)
    a = jnp.array([-1.0, 0.3, 2.0])
    np.testing.assert_allclose(jax.jit(lambda a, e: conditional_risk(a, e, loss="logistic"))(a, 0.7),
                               conditional_risk(np.asarray(a), 0.7, loss="logistic"), rtol=1e-14)
    fd = (conditional_risk(0.3 + 1e-6, 0.7, loss="exponential") - conditional_risk(0.3 - 1e-6, 0.7, loss="exponential"))
    grad = jax.jit(jax.grad(lambda x: conditional_risk(x, 0.7, loss="exponential")))
    assert grad(0.3) == pytest.approx(fd / 2e-6, rel=1e-6)
    assert np.isnan(jax.jit(lambda e: conditional_risk_minimiser(e, loss="logistic"))(jnp.array(1.5)))


def test_the_closed_form_minimiser_minimises_the_conditional_risk():
    alphas = np.linspace(-5, 5, 20001)
    for name in ("logistic", "exponential", "squared_hinge", "hinge"):
        for eta in (0.15, 0.6, 0.85):
            star = conditional_risk_minimiser(eta, loss=name)
            assert conditional_risk(star, eta, loss=name) <= conditional_risk(alphas, eta, loss=name).min() + 1e-9


def test_calibration_gaps():
    assert calibration_gap(0.7, loss="hinge") == pytest.approx(0.4, abs=1e-8)
    assert calibration_gap(0.7, loss="logistic") == pytest.approx(np.log(2) + 0.7 * np.log(0.7) + 0.3 * np.log(0.3),
                                                                  abs=1e-9)
    assert calibration_gap(np.array([0.2, 0.9]), loss="perceptron") == pytest.approx([0.0, 0.0], abs=1e-12)
    assert calibration_gap(0.9, loss="reversed_hinge") == pytest.approx(0.0, abs=1e-12)
    assert calibration_gap(0.9, loss="sigmoid") > 0.3  # calibrated although not convex


@pytest.mark.parametrize("name, cc, calibrated", [
    ("logistic", True, True), ("exponential", True, True), ("hinge", True, True), ("squared_hinge", True, True),
    ("perceptron", False, False), ("reversed_hinge", False, False), ("sigmoid", False, None)])
def test_is_cc_verdicts_from_the_loss_and_from_its_derivative(name, cc, calibrated):
    for kind in ("loss", "derivative"):
        report = is_cc(name, kind=kind)
        assert bool(report) is cc and report.calibrated is calibrated, (kind, report)
    assert is_calibrated(name) is (name != "perceptron" and name != "reversed_hinge")


def test_positive_mixtures_are_cc_and_the_squared_perceptron_is_not():
    rng = np.random.default_rng(0)
    for _ in range(3):
        w = rng.dirichlet(np.ones(4))

        def phi(z, w=w):
            return sum(wi * MARGIN_LOSSES[n][0](z) for wi, n in zip(w, CLASSICAL, strict=True))

        report = is_cc(phi)
        assert report and report.derivative_at_zero[0] == pytest.approx(-w[0] / 2 - w[1] - w[2] - 2 * w[3], abs=1e-4)
    squared = is_cc(lambda z: jnp.square(jnp.maximum(-z, 0.0)))
    assert squared.convex and squared.differentiable_at_zero and squared.calibrated is False


def test_is_cc_reads_a_generated_derivative_function():
    """A rank-limit derivative g(z) = G(F(z))/max(1, z) is non-decreasing and negative at 0: CC."""
    from scipy import special

    from theory.ensloss import rank_limit

    report = is_cc(lambda z: jnp.asarray(rank_limit(special.ndtr(np.asarray(z))) / np.maximum(np.asarray(z), 1.0)),
                   kind="derivative")
    assert report and report.derivative_at_zero == pytest.approx((-1.0, -1.0), abs=1e-8)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: conditional_risk(0.0, 1.5, loss="logistic"), ValueError, r"eta must lie in \[0, 1\]"),
    (lambda: conditional_risk(0.0, 0.5, loss="cross_entropy"), ValueError, "loss must be one of"),
    (lambda: conditional_risk(0.0, 0.5, loss=3), TypeError, "loss must be a loss name"),
    (lambda: conditional_risk_minimiser(np.nan, loss="hinge"), ValueError, "eta must not contain NaN"),
    (lambda: conditional_risk_minimiser(0.3, loss=lambda z: z, bound=0.0), ValueError, "bound must lie in"),
    (lambda: calibration_gap(0.5, loss="hinge"), ValueError, "eta must differ from 1/2"),
    (lambda: is_cc("hinge", kind="loss-derivative"), ValueError, "kind must be one of"),
    (lambda: is_cc("hinge", grid=[0.0, 1.0]), ValueError, "grid must have at least 3 points"),
    (lambda: is_cc(42), TypeError, "fn must be a callable"),
])
def test_bad_inputs_raise(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_numerical_checks_refuse_to_trace():
    with pytest.raises(TypeError, match="cannot run under jit"):
        jax.jit(lambda e: calibration_gap(e, loss="hinge"))(0.7)
    with pytest.raises(TypeError, match="cannot run under jit"):
        jax.jit(lambda e: conditional_risk_minimiser(e, loss=lambda z: jnp.exp(-z)))(0.7)


@pytest.mark.parametrize("name", ["logistic", "exponential", "hinge", "squared_hinge", "perceptron", "sigmoid"])
def test_registry_declarations_of_the_margin_losses_match_the_numerical_checks(name):
    """The loss registry's two-class entries declare what ``is_cc``/``is_calibrated`` measure on phi, and their
    value on logits is phi of the margin f_y - f_{1-y}."""
    from theory import losses

    entry, phi = losses.get(name), MARGIN_LOSSES[name][0]
    assert entry.num_classes == 2 and entry.family == "margin"
    assert entry.calibrated(2) == is_calibrated(phi)
    assert entry.convex_in_logits(2) == is_cc(phi).convex
    f, y = np.array([[0.3, -1.2], [2.0, 0.5], [-0.4, -0.4]]), np.array([0, 1, 1])
    z = np.take_along_axis(f, y[:, None], 1)[:, 0] - np.take_along_axis(f, 1 - y[:, None], 1)[:, 0]
    np.testing.assert_allclose(entry.fn(f, y), phi(z), rtol=1e-6)
