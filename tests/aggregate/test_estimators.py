"""Estimators: reference values, normal equations, cvxpy (squared, Huber, logistic) against independent
oracles, invariance to row and bag relabelling and rotation equivariance, the scikit-learn-style class, and
bad inputs (including NaN and traced arguments: the estimators are NumPy/cvxpy only)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

from theory.aggregate import (
    AggregateRegressor,
    cvxpy_estimator,
    huber_loss,
    interpolated_loss,
    interpolating_estimator,
    logistic_loss,
)

X1 = np.array([[1, 0], [0, 1], [1, 1], [2, -1], [0.5, 0.5], [-1, 3]], float)
BAGS1 = np.array([0, 0, 0, 1, 1, 1])
YBAR1 = np.array([1.0, 5 / 6])


@pytest.mark.parametrize("rho,expected", [(0.0, [1.25, 0.25]), (0.5, [0.76874401, 0.57852349]),
                                          (1.0, [0.73745819, 0.55908584])])
def test_closed_form_estimator_matches_reference_values(rho, expected):
    np.testing.assert_allclose(interpolating_estimator(X1, YBAR1, BAGS1, rho=rho), expected, atol=1e-8)


def test_cvxpy_estimator_matches_the_reference_value():
    np.testing.assert_allclose(cvxpy_estimator(X1, YBAR1, BAGS1, rho=0.5), [0.76874401, 0.57852349], atol=1e-7)


def _data(seed=0, n=40, d=3, k=4):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + 0.5 * rng.standard_normal(n)
    bags = rng.permutation(np.arange(n) // k)
    return X, np.bincount(bags, weights=y) / k, bags, y


@pytest.mark.parametrize("rho", [0.0, 0.3, 1.0, 2.5])
def test_estimator_solves_the_normal_equations_of_the_interpolated_loss(rho):
    X, y_bar, bags, _ = _data()
    theta = interpolating_estimator(X, y_bar, bags, rho=rho, allow_extrapolation=True)
    with jax.enable_x64(True):
        g = jax.grad(lambda t: interpolated_loss(jnp.asarray(X) @ t, y_bar, bags, rho=rho, allow_extrapolation=True))
        assert np.linalg.norm(np.asarray(g(jnp.asarray(theta)))) <= 1e-10


def _jax_minimiser(X, y_bar, bags, rho, loss):
    with jax.enable_x64(True):
        f = jax.jit(lambda t: interpolated_loss(jnp.asarray(X) @ t, y_bar, bags, rho=rho, loss=loss))
        g = jax.jit(jax.grad(lambda t: interpolated_loss(jnp.asarray(X) @ t, y_bar, bags, rho=rho, loss=loss)))
        res = optimize.minimize(lambda t: float(f(t)), np.zeros(X.shape[1]), jac=lambda t: np.asarray(g(t)),
                                method="BFGS", options={"gtol": 1e-11})
    return res.x


@pytest.mark.parametrize("loss,name", [(lambda y, f: huber_loss(y, f, delta=0.3), "huber"),
                                       (logistic_loss, "logistic")])
def test_cvxpy_matches_bfgs_on_the_jax_loss(loss, name):
    X, y_bar, bags, _ = _data(1)
    if name == "logistic":
        y_bar = 1 / (1 + np.exp(-y_bar))
    ref = _jax_minimiser(X, y_bar, bags, 0.4, loss)
    np.testing.assert_allclose(cvxpy_estimator(X, y_bar, bags, rho=0.4, loss=name, delta=0.3), ref, atol=1e-5)


def test_huber_with_large_delta_is_the_closed_form():
    X, y_bar, bags, _ = _data(2)
    np.testing.assert_allclose(cvxpy_estimator(X, y_bar, bags, rho=0.6, loss="huber", delta=100.0),
                               interpolating_estimator(X, y_bar, bags, rho=0.6), atol=1e-7)


def test_invariant_to_row_and_bag_relabelling_and_equivariant_to_rotations():
    X, y_bar, bags, _ = _data(3)
    theta = interpolating_estimator(X, y_bar, bags, rho=0.5)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(bags))  # permuting rows (hence within bags) changes nothing
    np.testing.assert_allclose(interpolating_estimator(X[perm], y_bar, bags[perm], rho=0.5), theta, atol=1e-12)
    relabel = rng.permutation(len(y_bar))  # permuting bag ids
    np.testing.assert_allclose(interpolating_estimator(X, y_bar[np.argsort(relabel)], relabel[bags], rho=0.5), theta,
                               atol=1e-12)
    Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    np.testing.assert_allclose(interpolating_estimator(X @ Q.T, y_bar, bags, rho=0.5), Q @ theta, atol=1e-12)


def test_noise_free_recovery_at_bag_level_and_bias_above():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40, 3))
    theta0 = np.array([1.0, -2.0, 0.5])
    bags = np.arange(40) // 4
    y_bar = np.bincount(bags, weights=X @ theta0) / 4
    np.testing.assert_allclose(interpolating_estimator(X, y_bar, bags, rho=0.0), theta0, atol=1e-12)
    assert np.linalg.norm(interpolating_estimator(X, y_bar, bags, rho=0.5) - theta0) > 1e-3


def test_regressor_follows_scikit_learn_conventions():
    X, y_bar, bags, _ = _data(5)
    model = AggregateRegressor(rho=0.3)
    assert model.fit(X, bags, y_bar) is model
    np.testing.assert_allclose(model.coef_, interpolating_estimator(X, y_bar, bags, rho=0.3))
    np.testing.assert_allclose(model.predict(X), X @ model.coef_)
    assert model.n_bags_ == 10 and model.bag_size_ == 4
    assert model.get_params()["rho"] == 0.3 and "rho=0.3" in repr(model)
    assert model.set_params(rho=0.7).rho == 0.7
    huber = AggregateRegressor(rho=0.5, loss="huber", delta=100.0).fit(X, bags, y_bar)
    np.testing.assert_allclose(huber.coef_, interpolating_estimator(X, y_bar, bags, rho=0.5), atol=1e-7)
    with pytest.raises(RuntimeError, match="not fitted"):
        AggregateRegressor().predict(X)
    with pytest.raises(ValueError, match="unknown parameter"):
        model.set_params(alpha=1)
    with pytest.raises(ValueError, match="loss"):
        AggregateRegressor(loss="hinge").fit(X, bags, y_bar)
    with pytest.raises(ValueError, match="shape"):
        model.predict(X[:, :2])
    with pytest.warns(DeprecationWarning, match="rho"):
        assert AggregateRegressor(0.3).rho == 0.3


def test_bad_inputs():
    X, y_bar, bags, _ = _data(6)
    with pytest.raises(ValueError, match="same size"):
        interpolating_estimator(X[:-1], y_bar, bags[:-1], rho=0.5)  # n not divisible by k
    with pytest.raises(ValueError, match="allow_extrapolation"):
        interpolating_estimator(X, y_bar, bags, rho=1.5)
    with pytest.raises(ValueError, match="rho"):
        interpolating_estimator(X, y_bar, bags, rho=-0.5)
    with pytest.raises(ValueError, match="one entry per bag"):
        interpolating_estimator(X, y_bar[:-1], bags, rho=0.5)
    Xw = np.random.default_rng(0).standard_normal((40, 12))
    with pytest.raises(ValueError, match="num_bags=10 < dim=12"):
        interpolating_estimator(Xw, y_bar, bags, rho=0.0)
    with pytest.raises(ValueError, match="singular"):
        interpolating_estimator(np.zeros((40, 3)), y_bar, bags, rho=0.5)
    with pytest.raises(ValueError, match="non-convex"):
        cvxpy_estimator(X, y_bar, bags, rho=1.5, loss="huber", allow_extrapolation=True)
    with pytest.raises(ValueError, match="finite"):
        interpolating_estimator(np.where(X > 1, np.nan, X), y_bar, bags, rho=0.5)
    with pytest.raises(ValueError, match="rho"):
        interpolating_estimator(X, y_bar, bags, rho=float("nan"))


def test_estimators_refuse_traced_arguments():
    X, y_bar, bags, _ = _data(7)
    for fn in (interpolating_estimator, cvxpy_estimator):
        with pytest.raises(TypeError, match="not under jit"):
            jax.jit(lambda r, fn=fn: fn(X, y_bar, bags, rho=r))(0.5)
