"""The LSA layer: reference forward values, the GD construction, invariances, layouts, bad shapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.icl import lsa

X = np.array([[1.0, 0], [0, 1], [1, 1]])
Y = np.array([1.0, 2, 3])
XQ = np.array([2.0, -1])
W_KQ = np.array([[1, 2, 0.5], [0, 1, -1], [0.3, 0, 2]])
W_PV = np.zeros((3, 3))
W_PV[2] = [0.1, -0.2, 0.7]


def test_lsa_forward_matches_reference_values():
    with jax.enable_x64(True):
        Z = lsa.make_prompt(X, Y, XQ)
        W_gd = lsa.gd_params(eta=0.5, dim=2, dtype=np.float64)
        assert float(lsa.lsa_predict(*W_gd, Z)) == pytest.approx(0.5, abs=1e-14)
        assert float(lsa.lsa_predict(W_KQ, W_PV, Z)) == pytest.approx(0.773333333333, abs=1e-11)
        assert float(lsa.lsa_predict(W_KQ, W_PV, Z, include_query=True)) == pytest.approx(0.906666666667, abs=1e-11)
        G, u, c, A, b = lsa.effective_params(W_KQ, W_PV)
        assert np.asarray(G) == pytest.approx(np.array([[0.73, 1.4], [-0.06, 0.7]]), abs=1e-12)
        v = Y @ X / 3
        linear = float(v @ np.asarray(G) @ XQ)
        assert linear == pytest.approx(-1.286666666667, abs=1e-11)
        assert float(lsa.lsa_predict(W_KQ, W_PV, Z)) - linear == pytest.approx(2.06, abs=1e-11)
        # g^T x_q reproduces the prediction
        assert float(lsa.context_readout(W_KQ, W_PV, Z) @ XQ) == pytest.approx(0.773333333333, abs=1e-11)
        # sum form: the attention is not divided by n
        assert float(lsa.lsa_predict(W_KQ, W_PV, Z, normalize=False)) == pytest.approx(3 * 0.773333333333, abs=1e-10)


def test_layouts_roundtrip():
    Z = lsa.make_prompt(np.ones((2, 3, 4)), np.ones((2, 3)), np.ones((2, 4)))
    assert Z.shape == (2, 5, 4)
    T = lsa.to_token_major(Z)
    assert T.shape == (2, 4, 5) and np.all(lsa.from_token_major(T) == Z)
    assert np.all(T[:, -1, -1] == 0)  # the query's label slot is zero


@settings(max_examples=12)
@given(st.sampled_from([1, 4]), st.sampled_from([1, 3]), st.floats(-2, 2), st.floats(0.1, 10), st.integers(0, 2**31))
def test_gd_construction_matches_gd_and_prediction_ignores_rescaling_and_unused_entries(n, d, eta, alpha, seed):
    rng = np.random.default_rng(seed)
    Xr, yr, xq = rng.standard_normal((4, n, d)), rng.standard_normal((4, n)), rng.standard_normal((4, d))
    Z = lsa.make_prompt(Xr, yr, xq)
    P = rng.standard_normal((d, d))
    gd = lsa.one_step_gd_predict(Xr, yr, xq, eta=eta, preconditioner=P)
    W_gd = lsa.gd_params(eta=eta, dim=d, preconditioner=P)
    assert np.asarray(lsa.lsa_predict(*W_gd, Z)) == pytest.approx(np.asarray(gd), abs=2e-4)
    wkq, wpv = rng.standard_normal((d + 1, d + 1)), rng.standard_normal((d + 1, d + 1))
    y0 = np.asarray(lsa.lsa_predict(wkq, wpv, Z))
    assert np.asarray(lsa.lsa_predict(wkq / alpha, wpv * alpha, Z)) == pytest.approx(y0, rel=1e-4, abs=1e-4)
    wkq2, wpv2 = wkq.copy(), wpv.copy()
    wkq2[:, d] = rng.standard_normal(d + 1)
    wpv2[:d, :] = rng.standard_normal((d, d + 1))
    assert np.asarray(lsa.lsa_predict(wkq2, wpv2, Z)) == pytest.approx(y0, rel=1e-5, abs=1e-5)


def test_lsa_prediction_is_rotation_equivariant():
    rng = np.random.default_rng(1)
    d, n = 3, 6
    Xr, yr, xq = rng.standard_normal((n, d)), rng.standard_normal(n), rng.standard_normal(d)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    wkq, wpv = rng.standard_normal((d + 1, d + 1)), rng.standard_normal((d + 1, d + 1))
    R = np.eye(d + 1)
    R[:d, :d] = q
    with jax.enable_x64(True):
        a = lsa.lsa_predict(wkq, wpv, lsa.make_prompt(Xr, yr, xq))
        b = lsa.lsa_predict(R @ wkq @ R.T, R @ wpv @ R.T, lsa.make_prompt(Xr @ q.T, yr, q @ xq))
        assert float(a) == pytest.approx(float(b), abs=1e-12)


def test_extreme_inputs_stay_finite():
    Z = lsa.make_prompt(1e3 * np.ones((5, 3)), 1e3 * np.ones(5), 1e3 * np.ones(3))
    assert np.isfinite(float(lsa.lsa_predict(*lsa.gd_params(eta=1e-3, dim=3), Z)))


def test_bad_shapes_raise():
    Z = lsa.make_prompt(X, Y, XQ)
    with pytest.raises(ValueError, match="W_KQ must be"):
        lsa.lsa_predict(np.eye(4), W_PV, Z)
    with pytest.raises(ValueError, match="W_PV must be"):
        lsa.context_readout(W_KQ, np.eye(2), Z)
    with pytest.raises(ValueError, match="shapes must be"):
        lsa.make_prompt(X, Y[:2], XQ)
    with pytest.raises(ValueError, match="shapes must be"):
        lsa.make_prompt(X, Y, np.ones(3))
    with pytest.raises(ValueError, match="preconditioner"):
        lsa.gd_params(eta=0.5, dim=2, preconditioner=np.eye(3))
    with pytest.raises(ValueError, match="eta must be a number"):
        lsa.gd_params(eta=float("nan"), dim=2)
    with pytest.raises(ValueError, match="W_KQ and W_PV"):
        lsa.effective_params(np.eye(3), np.eye(4))
    with pytest.raises(ValueError, match="Z must"):
        lsa.lsa_forward(W_KQ, W_PV, jnp.ones(3))


def test_old_positional_calls_warn_and_agree():
    with pytest.warns(DeprecationWarning, match="by position is deprecated"):
        old = lsa.gd_params(0.5, 2)
    new = lsa.gd_params(eta=0.5, dim=2)
    assert all(np.array_equal(a, b) for a, b in zip(old, new, strict=True))
    with pytest.warns(DeprecationWarning, match="'d' is deprecated"):
        lsa.gd_params(eta=0.5, d=2)
    with pytest.warns(DeprecationWarning):
        old = lsa.one_step_gd_predict(X, Y, XQ, 0.5)
    assert float(old) == float(lsa.one_step_gd_predict(X, Y, XQ, eta=0.5))
