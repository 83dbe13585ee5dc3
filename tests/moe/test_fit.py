"""Generalised EM, the L-BFGS/Newton polish, the expected Hellinger distance and the rate designs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from theory.moe import MoEParams, em_step, expected_hellinger, fit_mle, hellinger_at, sample
from theory.moe.model import _log_gates, _scores, _topk_mask
from theory.moe.reference import em_numpy, em_step_numpy
from theory.moe.simulate import EXACT_DESIGN, TRUTH, Design, slope_ci

X64 = np.float64


@pytest.fixture(scope="module")
def data():
    x, y = sample(TRUTH, 3000, key=jax.random.key(1), top_k=2, dtype=jnp.float64)
    return np.asarray(x), np.asarray(y)


def start():
    return TRUTH._replace(beta0=TRUTH.beta0 + [0, 0.2, -0.1], beta1=TRUTH.beta1 + [[0], [0.3], [-0.2]],
                          b=TRUTH.b + 0.1, var=TRUTH.var * 1.2)


def test_em_step_matches_the_numpy_oracle(data):
    x, y = data
    p = start()
    for _ in range(3):
        new, ll = em_step(p, x, y, top_k=2)
        ref, ll_ref = em_step_numpy(p, x, y, 2)
        assert ll == pytest.approx(ll_ref, rel=1e-12)
        for u, v in zip(new, ref, strict=True):
            np.testing.assert_allclose(u, v, rtol=1e-9, atol=1e-11)
        p = new


def test_gate_newton_hessian_matches_autodiff(data):
    """The closed-form gate Hessian of the EM step equals jax.hessian of Q (frozen sets)."""
    x, y = data
    with jax.enable_x64(True):
        p = MoEParams(*(jnp.asarray(v) for v in start()))
        xj = jnp.asarray(x[:200])
        mask = _topk_mask(_scores(p, xj, "slope"), 2)
        r = jnp.where(mask, jnp.exp(_log_gates(p, xj, mask)), 0.0) * jnp.linspace(0.5, 1.5, 200)[:, None]

        def Q(theta):
            q = p._replace(beta0=theta[:3], beta1=theta[3:, None])
            lg = _log_gates(q, xj, mask)
            return jnp.sum(jnp.where(mask, r * lg, 0.0))

        theta = jnp.concatenate([p.beta0, p.beta1[:, 0]])
        H = jax.jit(jax.hessian(Q))(theta)
        pi = jnp.where(mask, jnp.exp(_log_gates(p, xj, mask)), 0.0)
        R = r.sum(1)
        z = jnp.stack([jnp.ones(200), xj[:, 0]], 1)
        W = R[:, None, None] * (pi[:, :, None] * jnp.eye(3) - pi[:, :, None] * pi[:, None, :])
        H_closed = -jnp.einsum("ijl,ia,ib->jalb", W, z, z)  # (k, 2, k, 2): order (beta0, beta1)
        H_ad = H.reshape(2, 3, 2, 3).transpose(1, 0, 3, 2)
        np.testing.assert_allclose(np.asarray(H_closed), np.asarray(H_ad), rtol=1e-10, atol=1e-10)
        check_grads(jax.jit(Q), (theta,), order=1, modes=["rev"])


def test_em_increases_the_likelihood_and_the_fit_recovers_the_truth(data):
    x, y = data
    _, trace = em_numpy(start(), x, y, 2, 6)
    assert np.all(np.diff(trace) >= -1e-12)
    res = fit_mle(x, y, start(), top_k=2, em_iters=30, polish_iters=5, newton_iters=2, dtype=jnp.float64)
    assert bool(res.converged)
    assert res.loglik >= res.em_loglik - 1e-12
    assert np.max(np.abs(res.params.b - TRUTH.b)) < 0.1
    assert np.max(np.abs(res.params.a - TRUTH.a)) < 0.3
    assert res.params.beta0[0] == 0 and res.params.beta1[0, 0] == 0
    assert expected_hellinger(res.params, TRUTH, top_k=2, n_nodes=8, n_y=401) < 0.05


def test_fit_runs_in_float32(data):
    x, y = data
    res = fit_mle(x[:500], y[:500], start(), top_k=2, em_iters=10, polish_iters=0)
    assert np.all(np.isfinite(res.params.b)) and res.params.b.dtype == np.float32


def test_hellinger_lies_in_0_1_vanishes_on_the_diagonal_and_brackets_total_variation():
    G = start()
    x = np.linspace(-0.9, 0.9, 5)
    h = hellinger_at(G, TRUTH, x, top_k=2, n_y=1001)
    assert np.all((h >= 0) & (h <= 1))
    assert np.allclose(hellinger_at(TRUTH, TRUTH, x, top_k=2, n_y=1001), 0)
    # h^2 <= TV <= sqrt(2) h (Le Cam's inequalities for h^2 = 1 - BC), TV by quadrature
    from theory.moe import log_density

    grid = np.linspace(-10, 10, 20001)
    for xi, hi in zip(x, h, strict=True):
        p = np.exp(log_density(G, np.full(grid.shape, xi), grid, top_k=2))
        q = np.exp(log_density(TRUTH, np.full(grid.shape, xi), grid, top_k=2))
        tv = 0.5 * np.trapezoid(np.abs(p - q), grid)
        bc = np.trapezoid(np.sqrt(p * q), grid)
        assert hi**2 <= tv + 1e-9 and tv <= np.sqrt(2) * hi + 1e-9
        assert hi == pytest.approx(np.sqrt(max(1 - bc, 0)), abs=1e-6)


def test_slope_ci_recovers_a_power_law():
    ns = np.array([100, 400, 1600, 6400])
    rng = np.random.default_rng(0)
    vals = np.outer(ns**-0.5, np.ones(30)) * np.exp(0.1 * rng.normal(size=(4, 30)))
    s, lo, hi = slope_ci(ns, vals)
    assert lo < -0.5 < hi and abs(s + 0.5) < 0.05


def test_bad_inputs_raise(data):
    x, y = data
    with pytest.raises(ValueError, match="top_k must be an integer in"):
        fit_mle(x, y, start(), top_k=4)
    with pytest.raises(ValueError, match="x must have shape"):
        fit_mle(x[:10], y, start(), top_k=2)
    with pytest.raises(ValueError, match="var must be > 0"):
        fit_mle(x, y, start()._replace(var=-TRUTH.var), top_k=2)
    with pytest.raises(ValueError, match="polish_iters"):
        fit_mle(x, y, start(), top_k=2, polish_iters=1)
    with pytest.raises(ValueError, match="top_k must be >= 2 for parameter-rate designs"):
        Design("bad", TRUTH, top_k=1, layout=(0, 1, 2), top_k_fit=1, init_sd=0.1)
    with pytest.raises(ValueError, match="gauge of ref"):
        Design("bad", TRUTH._replace(beta0=TRUTH.beta0 + 1), top_k=2, layout=(0, 1, 2), top_k_fit=2, init_sd=0.1)
    with pytest.raises(ValueError, match="needs dim = 1"):
        expected_hellinger(MoEParams(np.zeros(2), np.zeros((2, 2)), np.zeros((2, 2)), np.zeros(2), np.ones(2)),
                           MoEParams(np.zeros(2), np.zeros((2, 2)), np.zeros((2, 2)), np.zeros(2), np.ones(2)), top_k=1)
    assert EXACT_DESIGN.k_fit == 3
    k5 = np.arange(5.0)  # slopes 0..4: the top-2 sets are {0, 1} (x < 0) and {3, 4} (x > 0), expert 2 never
    hidden = MoEParams(np.zeros(5), k5[:, None], k5[:, None], k5, np.ones(5))
    with pytest.raises(ValueError, match="never selected"):
        Design("bad", hidden, top_k=2, layout=(0, 1, 2, 3, 4), top_k_fit=2, init_sd=0.1)
    with pytest.warns(UserWarning, match="affine"):
        fit_mle(x[:200], y[:200], start(), top_k=2, selection="affine", em_iters=2, polish_iters=0)


def test_designs_and_fits_accept_the_deprecated_spellings_with_a_warning(data):
    x, y = data
    with pytest.warns(DeprecationWarning, match="'K' is deprecated"):
        old = fit_mle(x[:300], y[:300], start(), K=2, em_iters=3, polish_iters=0, dtype=jnp.float64)
    new = fit_mle(x[:300], y[:300], start(), top_k=2, em_iters=3, polish_iters=0, dtype=jnp.float64)
    np.testing.assert_array_equal(old.params.b, new.params.b)
    with pytest.warns(DeprecationWarning, match="'K' is deprecated"):
        em_step(start(), x[:50], y[:50], K=2)
    with pytest.warns(DeprecationWarning):
        d = Design("old", TRUTH, K=2, layout=(0, 1, 2), K_fit=2, init_sd=0.2)
    assert d == EXACT_DESIGN.__class__("old", TRUTH, 2, (0, 1, 2), 2, 0.2)
    with pytest.warns(DeprecationWarning, match="Design.K is deprecated"):
        assert d.K == 2
    with pytest.warns(DeprecationWarning, match="Design.K_fit is deprecated"):
        assert d.K_fit == 2
    with pytest.warns(DeprecationWarning, match="A_EXACT is deprecated"):
        from theory.moe.simulate import A_EXACT
    assert A_EXACT is EXACT_DESIGN
    with pytest.warns(DeprecationWarning, match="'K' is deprecated"):
        assert expected_hellinger(TRUTH, TRUTH, K=2, n_nodes=2, n_y=101) == 0.0
    with pytest.warns(DeprecationWarning, match="'seed' is deprecated"):
        slope_ci([100, 400], [[1.0, 1.1], [0.5, 0.6]], seed=0, n_boot=10)


@pytest.mark.parametrize("top_k, dim", [(1, 1), (2, 1), (3, 1), (2, 3)])
def test_closed_form_newton_derivatives_match_autodiff(top_k, dim):
    """The Newton polish's closed-form gradient and Hessian equal jax.grad / jax.hessian of the mean NLL (float64,
    frozen sets, reference gate pinned, padded samples masked)."""
    from theory.moe.fit import _mean_loglik, _nll_derivatives

    with jax.enable_x64(True):
        ks = jax.random.split(jax.random.key(top_k + 10 * dim), 7)
        k, n = 4, 200
        th = MoEParams(jax.random.normal(ks[0], (k,)), jax.random.normal(ks[1], (k, dim)),
                       jax.random.normal(ks[2], (k, dim)), jax.random.normal(ks[3], (k,)),
                       0.3 * jax.random.normal(ks[4], (k,)))
        x, y = jax.random.uniform(ks[5], (n, dim), minval=-1.0, maxval=1.0), jax.random.normal(ks[6], (n,))
        w = (jnp.arange(n) < 150).astype(jnp.float64)
        free = (jnp.arange(k) != 0).astype(jnp.float64)
        mask = _topk_mask(_scores(th, x, "slope"), top_k)
        flat, unravel = jax.flatten_util.ravel_pytree(th)

        def f(v):
            t = unravel(v)
            p = MoEParams(t.beta0 * free, t.beta1 * free[:, None], t.a, t.b, jnp.exp(t.var))
            return -_mean_loglik(p, x, y, w, mask)

        g, H = jax.jit(lambda v: _nll_derivatives(unravel(v), x, y, w, mask, free))(flat)
        np.testing.assert_allclose(g, jax.jit(jax.grad(f))(flat), rtol=0, atol=1e-12)
        np.testing.assert_allclose(H, jax.jit(jax.hessian(f))(flat), rtol=1e-12, atol=1e-12)
