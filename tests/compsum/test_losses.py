"""The comp-sum loss: values and gradients against high-precision references, closed forms (Phi, Psi, the
Hessian), continuity and monotonicity in tau, float32 numerics and regressions.

The properties every registered loss shares (shift invariance, value range, convexity, limits, jit/vmap,
finite differences, extreme logits, bad input) are checked once for all of them in ``tests/test_losses.py``.
"""

import functools

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads
from scipy import integrate, special

from theory.compsum import comp_sum_loss, comp_sum_phi, comp_sum_psi

TAUS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
REFERENCE_LOGITS = (1.0, -0.5, 2.0)
# tau: (loss, gradient) at h = REFERENCE_LOGITS, label y = 0 (40-digit mpmath, 12 significant digits)
REFERENCE_VALUES = {
    0.0: (2.94141198860748, (-2.94141198861, 0.223130160148, 2.71828182846)),
    0.5: (1.97059793411898, (-1.48159649373, 0.11239121354, 1.36920528019)),
    1.0: (1.37153903185268, (-0.746283818365, 0.0566117322405, 0.689672086125)),
    1.5: (0.992595053347413, (-0.375905005114, 0.0285154695488, 0.347389535565)),
    2.0: (0.746283818364975, (-0.189344280812, 0.0143633125398, 0.174980968272)),
    3.0: (0.467814049588271, (-0.0480397079419, 0.00364420481323, 0.0443955031287)),
}


def _loss_fn(h, y, tau):
    return comp_sum_loss(h, y, tau=tau)


# tau and labels are arguments, so one compilation per (shape, dtype) serves every tau.
_loss_jit = jax.jit(_loss_fn)
_value_grad_jit = jax.jit(jax.value_and_grad(_loss_fn))
_batch_grad_jit = jax.jit(jax.vmap(jax.grad(_loss_fn), (0, 0, None)))
_mean_grad_jit = jax.jit(jax.grad(lambda h, y, tau: jnp.mean(comp_sum_loss(h, y, tau=tau))))
_hess_jit = jax.jit(jax.hessian(_loss_fn))


def _mp_loss_grad(h, y, tau, dps=40):
    """High-precision reference: Psi_tau(S_y) and S_y^{tau-1} (S - e_y)."""
    with mpmath.workdps(dps):
        hs = [mpmath.mpf(float(v)) for v in h]
        z = mpmath.fsum(mpmath.exp(v) for v in hs)
        s = [mpmath.exp(v) / z for v in hs]
        tau_ = mpmath.mpf(tau)
        if tau == 1.0:
            loss = -mpmath.log(s[y])
        else:
            loss = (s[y] ** (tau_ - 1) - 1) / (1 - tau_)
        scale = s[y] ** (tau_ - 1)
        grad = [scale * (s[k] - (1 if k == y else 0)) for k in range(len(hs))]
        return float(loss), np.array([float(g) for g in grad])


def _np_w(h, y):
    """float64 numpy -log S_y (reference for float32 inputs, which float64 holds exactly)."""
    h = np.asarray(h, dtype=np.float64)
    y = np.asarray(y)
    d = h - np.take_along_axis(h, y[..., None], -1)
    others = np.arange(h.shape[-1]) != y[..., None]
    top = np.max(np.where(others, d, -np.inf), axis=-1)
    with np.errstate(over="ignore"):
        # log1p(sum_{k != y} e^{d_k}) keeps full relative precision for small w; the logsumexp
        # form is exact enough (and overflow-free) once some d_k > 0.
        small = np.log1p(np.sum(np.where(others, np.exp(np.minimum(d, 700.0)), 0.0), axis=-1))
    return np.where(top > 0, special.logsumexp(d, axis=-1), small)


def _np_loss(h, y, tau):
    w = _np_w(h, y)
    with np.errstate(over="ignore"):
        return w if tau == 1.0 else np.expm1((1.0 - tau) * w) / (1.0 - tau)


def _np_grad(h, y, tau):
    h = np.asarray(h, dtype=np.float64)
    s = special.softmax(h, axis=-1)
    onehot = np.eye(h.shape[-1], dtype=bool)[y]
    # S - e_y with S_y - 1 = -sum_{k != y} S_k (no cancellation for confident predictions)
    direction = np.where(onehot, -np.sum(np.where(onehot, 0.0, s), axis=-1, keepdims=True), s)
    w = _np_w(h, y)
    return np.exp((1.0 - tau) * w)[..., None] * direction


@st.composite
def _logits_and_label(draw, n_min=2, n_max=8, bound=30.0):
    n = draw(st.integers(n_min, n_max))
    h = np.array(draw(st.lists(st.floats(-bound, bound), min_size=n, max_size=n)))
    if draw(st.booleans()):  # an exact tie at the max
        h[draw(st.integers(0, n - 1))] = h.max()
    return h, draw(st.integers(0, n - 1))


_TAU_ST = st.one_of(st.sampled_from([0.0, 1.0, 2.0]), st.floats(0.0, 4.0))


# ------------------------------------------------------------------------------------------------
# Reference values and gradients at h = (1, -0.5, 2), y = 0, float64
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tau", TAUS)
def test_values_match_the_mpmath_reference(tau, x64):
    h = jnp.array(REFERENCE_LOGITS, dtype=jnp.float64)
    loss = float(comp_sum_loss(h, jnp.array(0), tau=tau))
    ref, _ = _mp_loss_grad(REFERENCE_LOGITS, 0, tau)
    np.testing.assert_allclose(loss, ref, rtol=1e-12)
    np.testing.assert_allclose(loss, REFERENCE_VALUES[tau][0], rtol=1e-12)


@pytest.mark.parametrize("tau", TAUS)
def test_gradients_match_the_mpmath_reference(tau, x64):
    h = jnp.array(REFERENCE_LOGITS, dtype=jnp.float64)
    grad = np.asarray(jax.grad(lambda h: comp_sum_loss(h, jnp.array(0), tau=tau))(h))
    _, ref = _mp_loss_grad(REFERENCE_LOGITS, 0, tau)
    np.testing.assert_allclose(grad, ref, rtol=1e-12)
    # The table has 12 significant digits.
    np.testing.assert_allclose(grad, REFERENCE_VALUES[tau][1], rtol=1e-10)


def test_float32_by_default_and_accurate_to_float32_precision():
    """Without x64 the loss is float32 and still agrees with the reference to float32 precision."""
    h = jnp.array(REFERENCE_LOGITS)
    for tau in TAUS:
        loss = comp_sum_loss(h, jnp.array(0), tau=tau)
        assert loss.dtype == jnp.float32
        np.testing.assert_allclose(float(loss), REFERENCE_VALUES[tau][0], rtol=1e-6)


# ------------------------------------------------------------------------------------------------
# Phi and Psi (float64 numpy forms)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tau, phi1", [(0.0, 1.0), (0.5, 0.828427), (1.0, 0.693147), (1.5, 0.585786), (2.0, 0.5), (3.0, 0.375)]
)
def test_phi_at_one_is_the_closed_form(tau, phi1):
    exact = np.log(2.0) if tau == 1.0 else (2.0 ** (1 - tau) - 1) / (1 - tau)
    np.testing.assert_allclose(comp_sum_phi(1.0, tau=tau), exact, rtol=1e-14)
    np.testing.assert_allclose(comp_sum_phi(1.0, tau=tau), phi1, atol=1e-6)


@pytest.mark.parametrize("tau", TAUS + (0.3, 2.7))
def test_phi_is_the_integral(tau):
    for u in (0.0, 0.1, 1.0, 7.5, 40.0):
        ref, _ = integrate.quad(lambda v: (1.0 + v) ** (-tau), 0.0, u, epsabs=0, epsrel=1e-13)
        np.testing.assert_allclose(comp_sum_phi(u, tau=tau), ref, rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize("tau", TAUS)
def test_phi_and_psi_agree_with_loss(tau, x64):
    rng = np.random.default_rng(0)
    h = rng.normal(scale=3.0, size=(32, 4))
    y = rng.integers(0, 4, size=32)
    loss = np.asarray(comp_sum_loss(jnp.asarray(h), jnp.asarray(y), tau=tau))
    hy = h[np.arange(32), y]
    u = np.exp(h - hy[:, None]).sum(axis=1) - 1.0  # sum_{y' != y} e^{h_y' - h_y}
    s = special.softmax(h, axis=1)[np.arange(32), y]
    np.testing.assert_allclose(comp_sum_phi(u, tau=tau), loss, rtol=1e-12)
    np.testing.assert_allclose(comp_sum_psi(s, tau=tau), loss, rtol=1e-12)
    # Named members of the family (softmax form).
    named = {0.0: 1 / s - 1, 1.0: -np.log(s), 2.0: 1 - s, 3.0: (1 - s**2) / 2}
    if tau in named:
        np.testing.assert_allclose(loss, named[tau], rtol=1e-12)


def test_psi_at_the_ends_of_the_simplex():
    assert comp_sum_psi(1.0, tau=0.5) == 0.0
    assert comp_sum_psi(0.0, tau=0.5) == np.inf  # log-loss-like blow-up, not NaN
    assert comp_sum_psi(0.0, tau=1.0) == np.inf
    np.testing.assert_allclose(comp_sum_psi(0.0, tau=3.0), 0.5)  # bounded by 1/(tau-1)


# ------------------------------------------------------------------------------------------------
# tau = 1 is softmax cross-entropy (optax)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_x64, rtol", [(False, 2e-6), (True, 1e-12)])
def test_tau_one_is_optax_cross_entropy(use_x64, rtol):
    rng = np.random.default_rng(1)
    with jax.enable_x64(use_x64):
        dtype = jnp.float64 if use_x64 else jnp.float32
        h = jnp.asarray(rng.normal(scale=4.0, size=(32, 4)), dtype=dtype)
        y = jnp.asarray(rng.integers(0, 4, size=32))
        ours = comp_sum_loss(h, y, tau=1.0)
        ref = optax.losses.softmax_cross_entropy_with_integer_labels(h, y)
        assert ours.dtype == dtype
        np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=rtol, atol=rtol)
        g_ours = _mean_grad_jit(h, y, 1.0)
        optax_mean = lambda h, y: optax.losses.softmax_cross_entropy_with_integer_labels(h, y).mean()  # noqa: E731
        g_ref = jax.jit(jax.grad(optax_mean))(h, y)
        np.testing.assert_allclose(np.asarray(g_ours), np.asarray(g_ref), rtol=rtol, atol=rtol / 32)


# ------------------------------------------------------------------------------------------------
# Accuracy against NumPy, exact shift invariance in float32, permutation equivariance
# ------------------------------------------------------------------------------------------------


@settings(max_examples=30)
@given(_logits_and_label(), _TAU_ST)
def test_values_match_a_float64_numpy_reference(hy, tau):
    h, y = hy
    with jax.enable_x64(True):
        loss = float(_value_grad_jit(jnp.asarray(h), jnp.asarray(y), tau)[0])
    # -log S_y = logsumexp(h - h_y) is accurate to ~1e-16 absolute (not relative) for tiny losses.
    np.testing.assert_allclose(loss, _np_loss(h, y, tau), rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize("tau", TAUS)
@pytest.mark.parametrize("shift", [1e4, -1e4, 1e6])
def test_float32_shift_by_a_huge_constant_leaves_the_loss_unchanged(tau, shift):
    """float32 logits shifted by huge constants give the same loss (differences stay exact)."""
    rng = np.random.default_rng(2)
    h = (rng.integers(-128, 128, size=(32, 4)) / 16.0).astype(np.float32)  # exact after the shift (ulp(1e6) = 1/16)
    y = rng.integers(0, 4, size=32)
    base = np.asarray(comp_sum_loss(jnp.asarray(h), jnp.asarray(y), tau=tau))
    moved = np.asarray(comp_sum_loss(jnp.asarray(h + np.float32(shift)), jnp.asarray(y), tau=tau))
    assert moved.dtype == np.float32
    np.testing.assert_allclose(moved, base, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(base, _np_loss(h, y, tau), rtol=2e-6, atol=2e-7)


@pytest.mark.parametrize("tau", TAUS)
def test_three_equal_huge_logits_give_log3(tau):
    """optax issue #1792: three equal logits of 1e8 in float32 must give Psi_tau(1/3) (log 3 at tau=1)."""
    h = jnp.full((3,), 1e8, dtype=jnp.float32)
    loss = float(comp_sum_loss(h, jnp.array(1), tau=tau))
    np.testing.assert_allclose(loss, comp_sum_psi(1.0 / 3.0, tau=tau), rtol=1e-6)
    if tau == 1.0:
        np.testing.assert_allclose(loss, np.log(3.0), rtol=1e-6)
        # The naive logsumexp(h) - h_y loses everything here: the check above has teeth.
        naive = float(jax.nn.logsumexp(h) - h[1])
        assert abs(naive - np.log(3.0)) > 0.5


@settings(max_examples=30)
@given(_logits_and_label(), _TAU_ST, st.randoms(use_true_random=False))
def test_permuting_classes_permutes_the_gradient(hy, tau, rnd):
    h, y = hy
    perm = list(range(len(h)))
    rnd.shuffle(perm)
    perm = np.array(perm)
    inv = np.argsort(perm)  # h_perm[inv[y]] = h[y]
    with jax.enable_x64(True):
        a, ga = _value_grad_jit(jnp.asarray(h), jnp.asarray(y), tau)
        b, gb = _value_grad_jit(jnp.asarray(h[perm]), jnp.asarray(inv[y]), tau)
        a, b, ga, gb = float(a), float(b), np.asarray(ga), np.asarray(gb)
    np.testing.assert_allclose(b, a, rtol=1e-13, atol=1e-15)
    floor = 1e-15 * np.exp((1.0 - tau) * _np_w(h, y))  # rounding of S_y - 1, as in test_gradient_formula
    np.testing.assert_allclose(gb, ga[perm], rtol=1e-12, atol=1e-14 * np.abs(ga).max() + floor)


# ------------------------------------------------------------------------------------------------
# Monotone non-increasing in tau, strictly below 1/(tau - 1) for tau > 1
# ------------------------------------------------------------------------------------------------


def test_non_increasing_in_tau_and_below_one_over_tau_minus_one(x64):
    rng = np.random.default_rng(3)
    h = jnp.asarray(rng.normal(scale=5.0, size=(32, 4)))
    y = jnp.asarray(rng.integers(0, 4, size=32))
    taus = jnp.linspace(0.0, 4.0, 81)  # contains 1.0 and 2.0 exactly
    losses = np.asarray(jax.vmap(lambda t: _loss_jit(h, y, t))(taus))  # [tau, batch]
    assert np.all(np.diff(losses, axis=0) <= 1e-13 * losses[:-1])
    assert np.all(np.diff(losses, axis=0)[:, np.asarray(_np_w(h, y)) > 1e-3] < 0)  # strictly, away from w = 0
    tau_gt1 = np.asarray(taus) > 1.0
    bound = 1.0 / (np.asarray(taus)[tau_gt1] - 1.0)
    assert np.all(losses[tau_gt1] <= bound[:, None])
    # Strictly below wherever e^{-(tau-1) w} is not lost to rounding.
    resolvable = (np.asarray(taus)[tau_gt1, None] - 1.0) * np.asarray(_np_w(h, y))[None, :] < 30.0
    assert np.all((losses[tau_gt1] < bound[:, None])[resolvable])


# ------------------------------------------------------------------------------------------------
# Gradient formula, zero-sum gradient, Hessian (PSD for tau <= 1)
# ------------------------------------------------------------------------------------------------


@settings(max_examples=30)
@given(_logits_and_label(), _TAU_ST)
def test_gradient_is_s_y_to_the_tau_minus_one_times_softmax_minus_onehot(hy, tau):
    h, y = hy
    with jax.enable_x64(True):
        g = np.asarray(_value_grad_jit(jnp.asarray(h), jnp.asarray(y), tau)[1])
    ref = _np_grad(h, y, tau)
    scale = np.abs(ref).max()
    # Up to an absolute floor ~1e-16 S_y^{tau-1} from rounding S_y - 1 (the next test asks for
    # full relative precision on a confident prediction).
    floor = 1e-15 * np.exp((1.0 - tau) * _np_w(h, y))
    np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-12 * scale + floor)
    assert abs(g.sum()) <= 1e-12 * scale + floor


@pytest.mark.parametrize("tau", [0.0, 1.0, 2.0])
def test_gradient_sums_to_zero_to_relative_precision(tau, x64):
    """|sum_k grad_k| <= 1e-12 max |grad_k|, also for confident predictions.

    Fails while w = logsumexp(h - h_y) has only absolute precision and S_y - 1 is formed as
    exp(-w) - 1: at h = (11, 0), y = 0 the entries are -+1.67e-5 but the y entry is off by ~1e-16.
    (w = log1p(sum_{k != y} e^{h_k - h_y}) when y is an argmax, and S_y - 1 = expm1(-w), fix it.)
    """
    g = np.asarray(_value_grad_jit(jnp.array([11.0, 0.0]), jnp.array(0), tau)[1])
    np.testing.assert_allclose(g, _np_grad(np.array([11.0, 0.0]), 0, tau), rtol=1e-10)
    assert abs(g.sum()) <= 1e-12 * np.abs(g).max()


def _hessian_formula(h, y, tau):
    s = special.softmax(h)
    d = s - np.eye(len(h))[y]
    return s[y] ** (tau - 1) * ((1 - tau) * np.outer(d, d) + np.diag(s) - np.outer(s, s))


@pytest.mark.parametrize("tau", [0.0, 0.3, 0.5, 1.0, 1.5, 2.0, 3.0])
def test_hessian_is_the_closed_form_and_psd_for_tau_at_most_one(tau, x64):
    rng = np.random.default_rng(4)
    for _ in range(5):
        h = rng.normal(scale=2.0, size=3)
        y = int(rng.integers(0, 3))
        H = np.asarray(_hess_jit(jnp.asarray(h), jnp.asarray(y), tau))
        ref = _hessian_formula(h, y, tau)
        np.testing.assert_allclose(H, ref, rtol=1e-10, atol=1e-13 * np.abs(ref).max())
        np.testing.assert_allclose(H.sum(axis=1), 0.0, atol=1e-12 * np.abs(H).max())
        if tau <= 1.0:
            assert np.linalg.eigvalsh(H).min() >= -1e-10 * np.linalg.norm(H)


@pytest.mark.parametrize("tau, min_eig", [(1.5, -0.164), (2.0, -0.0743), (3.0, -0.00693)])
def test_not_convex_in_the_logits_for_tau_above_one(tau, min_eig, x64):
    """At h = (0, 0, 3), y = 0 the Hessian has a negative eigenvalue for tau > 1 (the registry declares
    convexity for tau <= 1 only)."""
    H = _hess_jit(jnp.array([0.0, 0.0, 3.0]), jnp.array(0), tau)
    np.testing.assert_allclose(np.linalg.eigvalsh(np.asarray(H)).min(), min_eig, rtol=5e-3)


# ------------------------------------------------------------------------------------------------
# Continuity at tau = 1
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("delta", [1e-6, 1e-9, 1e-12])
def test_continuous_at_tau_one(delta, x64):
    rng = np.random.default_rng(5)
    h = jnp.asarray(rng.normal(scale=4.0, size=(32, 4)))
    y = jnp.asarray(rng.integers(0, 4, size=32))
    w = _np_w(h, y)
    at_one = np.asarray(comp_sum_loss(h, y, tau=1.0))
    np.testing.assert_allclose(at_one, w, rtol=1e-13, atol=1e-15)
    for tau in (1.0 - delta, 1.0 + delta):
        near = np.asarray(comp_sum_loss(h, y, tau=tau))
        assert np.all(np.abs(near - at_one) <= delta * (1.0 + w) ** 2)
        traced = np.asarray(_loss_jit(h, y, tau))
        np.testing.assert_allclose(traced, near, rtol=1e-14, atol=1e-15)


# ------------------------------------------------------------------------------------------------
# check_grads, first and second order, forward and reverse mode (float64)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tau", TAUS)
def test_first_and_second_derivatives_in_logits_and_tau(tau, x64):
    """Orders 1 and 2, fwd and rev, in the logits; in (logits, tau) jointly away from tau = 1 and from the
    end tau = 0 (where the differences step outside tau >= 0, and a traced tau < 0 gives NaN).

    (At tau = 1 the joint check hits the bug of ``test_tau_derivative_of_value_at_tau_one``.)
    """
    h = jnp.array([[1.0, -0.5, 2.0], [0.3, 0.3, -1.2]])
    y = jnp.array([0, 2])
    if tau in (0.0, 1.0):
        check_grads(lambda h: _loss_jit(h, y, jnp.asarray(tau)), (h,), order=2, modes=("fwd", "rev"))
    else:
        check_grads(lambda h, t: _loss_jit(h, y, t), (h, jnp.asarray(tau)), order=2, modes=("fwd", "rev"))


def test_tau_derivative_of_value_at_tau_one(x64):
    """d/dtau of the value returned by value_and_grad must be dl/dtau = -w^2/2 at tau = 1.

    Fails while the custom JVP rule computes its primal output with ``_phi_of_w(w, a)``, whose
    ``a == 0`` branch (``where(zero, w, ...)``) has zero derivative in ``a`` (and whose ``expm1(a w)/a``
    branch differentiates with cancellation for tiny ``a``); ``loss = _comp_sum(logits, labels, a)``
    inside the rule fixes both.
    """
    h = jnp.array([1.0, -0.5, 2.0])
    y = jnp.array(0)
    w = float(_np_w(np.array(REFERENCE_LOGITS), 0))
    direct = float(jax.grad(lambda t: _loss_jit(h, y, t))(1.0))
    via_value = float(jax.grad(lambda t: jax.value_and_grad(_loss_fn)(h, y, t)[0])(1.0))
    np.testing.assert_allclose(direct, -(w**2) / 2, rtol=1e-12)
    np.testing.assert_allclose(via_value, -(w**2) / 2, rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# Overflow (tau < 1, huge margins)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.0, 0.5, 0.9])
def test_overflow_for_tau_below_one_is_inf_and_keeps_the_gradient_direction(tau):
    for dtype, margin in ((jnp.float32, 1e3), (jnp.float32, 1e4)):
        h = jnp.array([0.0, margin, -1.0], dtype=dtype)
        loss = comp_sum_loss(h, jnp.array(0), tau=tau)
        assert float(loss) == np.inf
        g = np.asarray(jax.grad(lambda h: comp_sum_loss(h, jnp.array(0), tau=tau))(h))
        assert not np.isnan(g).any()
        assert g[0] < 0 < g[1]  # the direction survives as -inf / +inf
    with jax.enable_x64(True):
        h = jnp.array([0.0, 1e5, -1.0])
        assert float(comp_sum_loss(h, jnp.array(0), tau=tau)) == np.inf
        g = np.asarray(jax.grad(lambda h: comp_sum_loss(h, jnp.array(0), tau=tau))(h))
        assert not np.isnan(g).any()


def test_forward_mode_is_finite_where_the_loss_is():
    """jax.jvp in the logits must be finite where the loss and its gradient are.

    At tau = 0, margin 85 in float32 the loss (8.2e36) and gradient are finite, but d loss/d tau
    overflows; the JVP rule's ``dlda * da`` with ``da = 0`` then gives inf * 0 = NaN
    (``jnp.nan_to_num`` on ``dlda`` fixes it and keeps the rule linear in ``da``).
    """
    h = jnp.array([0.0, 85.0, -1.0], dtype=jnp.float32)
    f = functools.partial(comp_sum_loss, labels=jnp.array(0), tau=0.0)
    loss, tangent = jax.jvp(lambda h: f(h), (h,), (jnp.array([1.0, 0.0, 0.0], jnp.float32),))
    assert np.isfinite(float(loss))
    g = np.asarray(jax.grad(lambda h: f(h))(h))
    assert np.isfinite(g).all()
    assert np.isfinite(float(tangent))
    np.testing.assert_allclose(float(tangent), g[0], rtol=1e-6)


# ------------------------------------------------------------------------------------------------
# Batches, jit with captured labels, tau traced
# ------------------------------------------------------------------------------------------------


def test_mean_gradient_and_leading_batch_axes_of_any_rank(x64):
    rng = np.random.default_rng(7)
    h = jnp.asarray(rng.normal(scale=3.0, size=(32, 4)))
    y = jnp.asarray(rng.integers(0, 4, size=32))
    eager = np.asarray(comp_sum_loss(h, y, tau=1.5))
    g_mean = np.asarray(_mean_grad_jit(h, y, 1.5))
    np.testing.assert_allclose(g_mean, _np_grad(np.asarray(h), np.asarray(y), 1.5) / 32, rtol=1e-12, atol=1e-16)
    g_rows = np.asarray(_batch_grad_jit(h, y, 1.5))
    np.testing.assert_allclose(g_rows / 32, g_mean, rtol=1e-14, atol=1e-18)
    # Leading batch axes of any rank.
    eager3 = np.asarray(comp_sum_loss(h.reshape(4, 8, 4), y.reshape(4, 8), tau=1.5))
    np.testing.assert_allclose(eager3.ravel(), eager, rtol=1e-15)


def test_jit_with_captured_labels():
    """A loss closure that captures concrete labels jits.

    Fails while the range check calls ``labels.min()`` (a staged jnp op, so a tracer under jit);
    ``np.asarray(labels).min()`` would not be staged.
    """
    h = jnp.array([1.0, -0.5, 2.0])
    y = jnp.array(0)
    loss = jax.jit(lambda h: comp_sum_loss(h, y, tau=1.0))(h)
    np.testing.assert_allclose(float(loss), REFERENCE_VALUES[1.0][0], rtol=1e-6)


def test_a_concrete_jax_scalar_tau_is_accepted():
    """A concrete jax scalar tau (e.g. from jnp.linspace) is a real number and must be accepted."""
    h = jnp.array([1.0, -0.5, 2.0])
    for tau in jnp.linspace(0.0, 3.0, 7):
        loss = comp_sum_loss(h, jnp.array(0), tau=tau)
        np.testing.assert_allclose(float(loss), comp_sum_loss(h, jnp.array(0), tau=float(tau)), rtol=1e-6)


@pytest.mark.parametrize("use_x64", [False, True])
def test_one_compile_sweeps_tau_and_equals_concrete_calls(use_x64):
    rng = np.random.default_rng(8)
    with jax.enable_x64(use_x64):
        dtype = jnp.float64 if use_x64 else jnp.float32
        h = jnp.asarray(rng.normal(scale=3.0, size=(32, 4)), dtype=dtype)
        y = jnp.asarray(rng.integers(0, 4, size=32))
        taus = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
        sweep = jax.jit(jax.vmap(lambda t, h, y: comp_sum_loss(h, y, tau=t), (0, None, None)))
        swept = np.asarray(sweep(jnp.asarray(taus, dtype), h, y))
        for i, tau in enumerate(taus):
            concrete = np.asarray(comp_sum_loss(h, y, tau=tau))
            traced = np.asarray(_loss_jit(h, y, tau))
            rtol, atol = (1e-14, 1e-15) if use_x64 else (1e-6, 1e-7)
            np.testing.assert_allclose(traced, concrete, rtol=rtol, atol=atol)
            np.testing.assert_allclose(swept[i], concrete, rtol=rtol, atol=atol)


# ------------------------------------------------------------------------------------------------
# Bad inputs
# ------------------------------------------------------------------------------------------------

_H = np.array([[1.0, -0.5, 2.0]], dtype=np.float32)
_Y = np.array([0])


def test_tau_inf_is_rejected_with_a_consistent_message():
    """The family tends to the zero loss as tau -> inf (0 <= l <= 1/(tau - 1)), so tau = inf is no member."""
    for fn, arg in ((lambda tau: comp_sum_loss(_H, _Y, tau=tau), None), (comp_sum_phi, 1.0), (comp_sum_psi, 0.5)):
        with pytest.raises(ValueError, match=r"tau must be a finite number in \[0, inf\), got inf"):
            fn(float("inf")) if arg is None else fn(arg, tau=float("inf"))
    assert float(comp_sum_loss(_H, _Y, tau=1e6)[0]) <= (1.0 + 1e-6) / (1e6 - 1.0)  # float32


def test_nan_logits_raise_and_traced_nan_or_negative_tau_gives_nan():
    with pytest.raises(ValueError, match="logits must not contain NaN"):
        comp_sum_loss(np.array([[1.0, np.nan, 0.0]]), _Y, tau=1.0)
    for tau in (-1.0, float("nan"), float("inf")):
        assert np.isnan(np.asarray(_loss_jit(jnp.asarray(_H), jnp.asarray(_Y), tau))).all()


def test_a_masked_class_drops_out_of_the_softmax(x64):
    """A -inf logit (a masked class) gives the loss of the logits without that class, as optax does."""
    h = jnp.array([1.0, -jnp.inf, 2.0, 0.3])
    for tau in TAUS:
        masked = comp_sum_loss(h, jnp.array(0), tau=tau)
        dropped = comp_sum_loss(jnp.array([1.0, 2.0, 0.3]), jnp.array(0), tau=tau)
        np.testing.assert_allclose(float(masked), float(dropped), rtol=1e-14)
        g = np.asarray(jax.grad(lambda h, tau=tau: comp_sum_loss(h, jnp.array(0), tau=tau))(h))
        assert g[1] == 0.0 and np.isfinite(g).all()
    ref = optax.losses.softmax_cross_entropy_with_integer_labels(h, jnp.array(0))
    np.testing.assert_allclose(float(comp_sum_loss(h, jnp.array(0), tau=1.0)), float(ref), rtol=1e-14)


@pytest.mark.parametrize(
    "fn, arg, tau, match",
    [
        (comp_sum_phi, -0.5, 1.0, "^u must"),
        (comp_sum_phi, float("nan"), 1.0, "^u must"),
        (comp_sum_phi, 1.0, -1.0, "tau"),
        (comp_sum_psi, 1.5, 1.0, "^s must"),
        (comp_sum_psi, -0.1, 1.0, "^s must"),
        (comp_sum_psi, 0.5, float("nan"), "tau"),
    ],
)
def test_phi_psi_bad_inputs(fn, arg, tau, match):
    with pytest.raises(ValueError, match=match):
        fn(arg, tau=tau)


# ------------------------------------------------------------------------------------------------
# The fused evaluation (one max and one exponential pass, the label removed by a scatter) against plain autodiff
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0, 1.7, 3.0])
def test_custom_jvp_matches_autodiff_of_the_plain_formula_on_a_batch(tau, x64):
    """Values, gradients in the logits and in tau against jax.grad of Psi_tau(w), w = logsumexp(h) - h_y, on a
    batch with masked classes (-inf on a non-target class); forward mode agrees with reverse mode."""
    rng = np.random.default_rng(11)
    h = rng.normal(size=(24, 7)) * 3.0
    y = rng.integers(0, 7, 24)
    h[np.arange(0, 24, 4), (y[::4] + 2) % 7] = -np.inf
    h, y = jnp.asarray(h), jnp.asarray(y)

    def plain(h, tau):
        w = jax.nn.logsumexp(h, axis=-1) - jnp.take_along_axis(h, y[:, None], axis=-1)[:, 0]
        return w if tau == 1.0 else jnp.expm1((1.0 - tau) * w) / (1.0 - tau)

    np.testing.assert_allclose(comp_sum_loss(h, y, tau=tau), plain(h, tau), rtol=1e-12)
    g, g_tau = jax.grad(lambda h, t: comp_sum_loss(h, y, tau=t).sum(), argnums=(0, 1))(h, tau)
    ref = jax.grad(lambda h: plain(h, tau).sum())(h)
    np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-14)
    if tau != 1.0:
        ref_tau = jax.grad(lambda t: plain(h, t).sum())(tau)
        np.testing.assert_allclose(g_tau, ref_tau, rtol=1e-9)
    direction = jnp.asarray(rng.normal(size=(24, 7)))
    _, tangent = jax.jvp(lambda h: comp_sum_loss(h, y, tau=tau).sum(), (h,), (direction,))
    np.testing.assert_allclose(tangent, jnp.sum(jnp.where(jnp.isinf(h), 0.0, g * direction)), rtol=1e-10)
