"""JAX simulators (docs/compsum.md#random-instances): instance sampler, excess errors, linear training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from theory.compsum import consistency_bound, surrogate_regret, zero_one_regret
from theory.compsum.simulate import (
    excess_errors,
    make_gaussian_mixture,
    make_linear_problem,
    sample_instances,
    sample_nested_instances,
    train_linear,
)

TAUS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
N_CASES, M, N = 2000, 2, 4


def _tie_rows(H):
    """Rows whose maximum is attained at least twice."""
    H = np.asarray(H)
    return (H == H.max(axis=-1, keepdims=True)).sum(axis=-1) >= 2


@pytest.fixture(scope="module")
def instances():
    draw = sample_instances(key=jax.random.PRNGKey(0), num_samples=N_CASES, num_inputs=M, num_classes=N)
    return [np.asarray(x) for x in draw]


@pytest.fixture(scope="module")
def nested():
    out = sample_nested_instances(key=jax.random.PRNGKey(1), num_samples=N_CASES, num_inputs=M, num_classes=(N, 6))
    return {n: [np.asarray(x) for x in v] for n, v in out.items()}


# ------------------------------------------------------------------------------------------------
# sample_instances / sample_nested_instances
# ------------------------------------------------------------------------------------------------


def test_sample_shapes_and_dtypes(instances):
    pi, P, H = instances
    assert pi.shape == (N_CASES, M) and P.shape == (N_CASES, M, N) and H.shape == (N_CASES, M, N)
    assert pi.dtype == np.float32 and P.dtype == np.float32 and H.dtype == np.float32


def test_sample_float64_on_request(x64):
    pi, P, H = sample_instances(key=jax.random.PRNGKey(0), num_samples=50, num_inputs=M, num_classes=N,
                                dtype=jnp.float64)
    assert pi.dtype == jnp.float64 and P.dtype == jnp.float64 and H.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(P).sum(-1), 1.0, atol=1e-13)
    np.testing.assert_allclose(np.asarray(pi).sum(-1), 1.0, atol=1e-13)


def test_sample_rows_are_distributions(instances):
    pi, P, H = instances
    assert np.all(P >= 0) and np.all(pi >= 0)
    np.testing.assert_allclose(P.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(pi.sum(-1), 1.0, atol=1e-5)
    assert np.all(np.isfinite(H))
    # Mixed concentrations: some rows nearly deterministic, some nearly uniform.
    top = P.max(-1).ravel()
    assert (top > 0.99).mean() > 0.05 and (top < 0.5).mean() > 0.05
    # Mixed logit scales {0.01, 0.3, 1, 3}.
    spread = H.std(-1).ravel()
    assert (spread < 0.05).mean() > 0.1 and (spread > 1.5).mean() > 0.1


def test_sample_injects_ten_percent_ties(instances):
    """10% of rows copy the max logit to a uniform position: a tie unless it lands on the argmax."""
    _, _, H = instances
    frac = _tie_rows(H).mean()
    expected = 0.1 * (1 - 1 / N)
    sigma = np.sqrt(expected * (1 - expected) / (N_CASES * M))
    assert abs(frac - expected) < 5 * sigma


def test_sample_is_deterministic_given_key(instances):
    again = sample_instances(key=jax.random.PRNGKey(0), num_samples=N_CASES, num_inputs=M, num_classes=N)
    for a, b in zip(instances, again, strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))
    other = sample_instances(key=jax.random.PRNGKey(5), num_samples=N_CASES, num_inputs=M, num_classes=N)
    assert not np.array_equal(instances[2], np.asarray(other[2]))


def test_single_n_is_nested_draw_with_one_n(instances):
    single = sample_nested_instances(key=jax.random.PRNGKey(0), num_samples=N_CASES, num_inputs=M, num_classes=(N,))[N]
    for a, b in zip(instances, single, strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))


def test_nested_instances_are_nested(nested):
    pi4, P4, H4 = nested[N]
    pi6, P6, H6 = nested[6]
    np.testing.assert_array_equal(pi4, pi6)
    sub = P6[..., :N]
    total = sub.sum(-1, keepdims=True)
    ok = total[..., 0] > 1e-30
    np.testing.assert_allclose(P4[ok], (sub / np.where(total > 0, total, 1))[ok], rtol=1e-5, atol=1e-7)
    # Logits agree wherever no tie was injected into either restriction.
    untouched = ~_tie_rows(H4) & ~_tie_rows(H6)
    np.testing.assert_array_equal(H4[untouched], H6[..., :N][untouched])


def test_nested_instances_match_single_draws_in_distribution(instances, nested):
    """Same law as sample_instances (checked with two-sample KS tests and the tie rate), not bitwise."""
    a = instances
    b = nested[N]
    for stat_a, stat_b in [
        (a[0].ravel(), b[0].ravel()),  # pi
        (a[1].max(-1).ravel(), b[1].max(-1).ravel()),  # max p
        (a[1][..., 0].ravel(), b[1][..., 0].ravel()),  # a marginal of p
        (a[2].ravel(), b[2].ravel()),  # logits
        (a[2].std(-1).ravel(), b[2].std(-1).ravel()),  # logit scale
    ]:
        assert stats.ks_2samp(stat_a, stat_b).pvalue > 1e-4
    rate_a, rate_b = _tie_rows(a[2]).mean(), _tie_rows(b[2]).mean()
    assert abs(rate_a - rate_b) < 5 * np.sqrt(2 * 0.075 * 0.925 / (N_CASES * M))


# ------------------------------------------------------------------------------------------------
# excess_errors equals the numpy risk functions
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def instances64():
    with jax.enable_x64(True):
        out = sample_instances(key=jax.random.PRNGKey(2), num_samples=200, num_inputs=3, num_classes=N,
                               dtype=jnp.float64)
        return [np.asarray(x) for x in out]


def test_excess_errors_match_numpy(instances64):
    pi, P, H = instances64
    with jax.enable_x64(True):
        for tau in TAUS:
            e_tau, e_01 = excess_errors(pi, P, H, tau=tau)
            assert e_tau.dtype == jnp.float64 and e_tau.shape == (200,)
            ref_tau = (pi * surrogate_regret(H, P, tau=tau)).sum(-1)
            ref_01 = (pi * zero_one_regret(H, P)).sum(-1)
            np.testing.assert_allclose(np.asarray(e_tau), ref_tau, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(np.asarray(e_01), ref_01, rtol=1e-12, atol=1e-12)
        # tau traced through vmap gives the same numbers.
        swept = jax.vmap(lambda tau: excess_errors(pi, P, H, tau=tau))(jnp.asarray(TAUS))
        for i, tau in enumerate(TAUS):
            np.testing.assert_allclose(np.asarray(swept[0][i]), np.asarray(excess_errors(pi, P, H, tau=tau)[0]),
                                       rtol=1e-13)


def test_excess_errors_satisfy_the_bound(instances64):
    """Theorem 3.1 at the distribution level: eps_01 <= Gamma(eps_tau) on every sampled instance."""
    pi, P, H = instances64
    with jax.enable_x64(True):
        for tau in TAUS:
            e_tau, e_01 = (np.asarray(x) for x in excess_errors(pi, P, H, tau=tau))
            assert np.all(e_tau >= -1e-12)
            assert np.all(e_01 <= consistency_bound(np.maximum(e_tau, 0), tau=tau, num_classes=N) + 1e-9)


def test_excess_errors_per_case_tau(instances64):
    """tau is documented as "scalar or broadcastable": a per-case tau of the leading shape [c].

    Fails: the per-case tau is expanded once (tau[..., None]) but the [c, m, n] risk needs it twice.
    """
    pi, P, H = instances64
    taus = np.resize(np.array(TAUS), pi.shape[0])
    with jax.enable_x64(True):
        e_tau, _ = excess_errors(pi, P, H, tau=jnp.asarray(taus))
        assert e_tau.shape == (pi.shape[0],)
        ref = np.array([(pi[i] * surrogate_regret(H[i], P[i], tau=float(taus[i]))).sum() for i in range(len(taus))])
        np.testing.assert_allclose(np.asarray(e_tau), ref, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# make_linear_problem / train_linear
# ------------------------------------------------------------------------------------------------

TRAIN_TAUS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
SCALES = (0.3, 3.0)
SEEDS, STEPS, EVERY = 2, 300, 10


@pytest.fixture(scope="module")
def problem():
    return make_linear_problem(key=jax.random.PRNGKey(0), num_samples=200, num_classes=3)


@pytest.fixture(scope="module")
def trained(problem):
    X, pi, P = problem
    out = train_linear(X, pi, P, key=jax.random.PRNGKey(1), taus=TRAIN_TAUS, num_replicates=SEEDS, init_scales=SCALES,
                       num_steps=STEPS, record_every=EVERY)
    return [np.asarray(x) for x in out]


def test_linear_problem(problem):
    X, pi, P = (np.asarray(x) for x in problem)
    assert X.shape == (200, 2) and pi.shape == (200,) and P.shape == (200, 3)
    assert X.dtype == np.float32
    np.testing.assert_allclose(pi.sum(), 1.0, atol=1e-5)
    np.testing.assert_allclose(P.sum(-1), 1.0, atol=1e-5)
    assert np.all(P > 0)
    assert 1.0 < X.std() < 2.0  # N(0, 1.5^2)


def test_train_linear_shape(trained):
    eps_tau, eps_01 = trained
    shape = (len(TRAIN_TAUS), len(SCALES), SEEDS, STEPS // EVERY)
    assert eps_tau.shape == shape and eps_01.shape == shape
    assert eps_tau.dtype == np.float32
    assert np.all(np.isfinite(eps_tau)) and np.all(np.isfinite(eps_01))
    # The replicate axes are real replicates (vmapped, not copies): seeds and scales differ.
    assert not np.allclose(eps_tau[:, :, 0, 0], eps_tau[:, :, 1, 0])
    assert not np.allclose(eps_tau[:, 0, :, 0], eps_tau[:, 1, :, 0])


def test_train_linear_is_deterministic(problem, trained):
    X, pi, P = problem
    again = train_linear(X, pi, P, key=jax.random.PRNGKey(1), taus=TRAIN_TAUS, num_replicates=SEEDS, init_scales=SCALES,
                         num_steps=STEPS, record_every=EVERY)
    for a, b in zip(trained, again, strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))
    other = train_linear(X, pi, P, key=jax.random.PRNGKey(2), taus=TRAIN_TAUS, num_replicates=SEEDS, init_scales=SCALES,
                         num_steps=STEPS, record_every=EVERY)
    assert not np.array_equal(trained[0], np.asarray(other[0]))


def test_train_linear_decreases_logistic_excess_risk(trained):
    eps_tau, _ = trained
    logistic = eps_tau[TRAIN_TAUS.index(1.0)]  # [scale, seed, record]
    assert np.all(logistic[..., -1] < logistic[..., 0])


def test_train_linear_pairs_satisfy_the_bound(trained):
    """Every recorded pair lies under the curve, eps_01 <= Gamma_{tau,3}(eps_tau)."""
    eps_tau, eps_01 = trained
    assert np.all(eps_tau > 0)  # misspecified: the linear model never reaches the pointwise optimum
    for i, tau in enumerate(TRAIN_TAUS):
        gamma = consistency_bound(eps_tau[i].astype(np.float64), tau=tau, num_classes=3)
        assert np.all(eps_01[i] <= gamma + 1e-5)  # float32 run


# ------------------------------------------------------------------------------------------------
# Bad inputs
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(num_samples=0, num_classes=3), ValueError, "num_samples"),
        (dict(num_samples=2.5, num_classes=3), TypeError, "num_samples"),
        (dict(num_samples=10, num_classes=1), ValueError, "num_classes"),
        (dict(num_samples=10, num_inputs=0, num_classes=3), ValueError, "^num_inputs must"),
    ],
)
def test_sample_bad_inputs(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        sample_instances(key=jax.random.PRNGKey(0), **kwargs)


def test_nested_bad_inputs():
    with pytest.raises(ValueError, match="num_classes"):
        sample_nested_instances(key=jax.random.PRNGKey(0), num_samples=10, num_classes=(3, 1))
    with pytest.raises(ValueError, match="num_samples"):
        sample_nested_instances(key=jax.random.PRNGKey(0), num_samples=0, num_classes=(3,))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(taus=(-0.5, 1.0)), ValueError, "taus"),
        (dict(taus=(float("nan"),)), ValueError, "taus"),
        (dict(taus=[[1.0]]), ValueError, "taus"),
        (dict(taus=(1.0,), lr=0.0), ValueError, "lr"),
        (dict(taus=(1.0,), lr=-0.1), ValueError, "lr"),
        (dict(taus=(1.0,), num_replicates=0), ValueError, "num_replicates"),
        (dict(taus=(1.0,), num_steps=5, record_every=10), ValueError, "num_steps"),
        (dict(taus=(1.0,), record_every=0), ValueError, "record_every"),
    ],
)
def test_train_bad_inputs(problem, kwargs, exc, match):
    X, pi, P = problem
    with pytest.raises(exc, match=match):
        train_linear(X, pi, P, key=jax.random.PRNGKey(0), **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(num_samples=0), "^num_samples must"), (dict(num_classes=1), "num_classes"), (dict(dim=0), "dim"),
     (dict(wiggle=-1.0), "wiggle")],
)
def test_linear_problem_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_linear_problem(key=jax.random.PRNGKey(0), **kwargs)


# ---- Gaussian-mixture data and training on sampled labels ------------------------------------------


@pytest.fixture(scope="module")
def mixture():
    with jax.enable_x64(True):
        return make_gaussian_mixture(key=jax.random.key(5), num_samples=300, num_classes=3, dim=2, dtype=jnp.float64)


def test_gaussian_mixture_posterior_is_bayes(mixture):
    X, pi, P, labels = (np.asarray(a) for a in mixture)
    assert X.shape == (300, 2) and pi.shape == (300,) and P.shape == (300, 3) and labels.shape == (300,)
    np.testing.assert_allclose(pi, 1 / 300)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    # Recover the means from the posterior's linear logits and compare with Bayes' rule on densities.
    with jax.enable_x64(True):
        mu = 1.5 * jax.random.normal(jax.random.split(jax.random.key(5), 3)[0], (3, 2), jnp.float64)
    mu = np.asarray(mu)
    dens = np.exp(-0.5 * ((X[:, None, :] - mu[None]) ** 2).sum(-1))
    np.testing.assert_allclose(P, dens / dens.sum(1, keepdims=True), rtol=1e-10)
    # sampled labels follow the posterior on average: their log-likelihood beats a shuffled assignment
    assert np.log(P[np.arange(300), labels]).mean() > np.log(P[np.arange(300), np.roll(labels, 7)]).mean()


def test_train_on_sampled_labels_satisfies_the_bound(mixture):
    X, pi, P, labels = mixture
    with jax.enable_x64(True):
        e_tau, e_01 = train_linear(X, pi, P, key=jax.random.key(6), taus=[0.0, 1.0], num_replicates=2,
                                   num_steps=100,
                                   record_every=10, labels=labels)
    e_tau, e_01 = np.asarray(e_tau), np.asarray(e_01)
    assert e_tau.shape == (2, 2, 2, 10)
    for i, tau in enumerate([0.0, 1.0]):
        assert np.all(e_01[i] <= consistency_bound(e_tau[i], tau=tau, num_classes=3) + 1e-9)
    assert e_tau[1, :, :, -1].mean() < e_tau[1, :, :, 0].mean()  # logistic excess risk goes down


def test_train_on_labels_rejects_bad_labels(mixture, x64):
    X, pi, P, labels = mixture
    with pytest.raises(ValueError, match="labels"):
        train_linear(X, pi, P, key=jax.random.key(0), taus=[1.0], labels=labels[:-1])
    with pytest.raises(ValueError, match="labels"):
        train_linear(X, pi, P, key=jax.random.key(0), taus=[1.0], labels=np.asarray(labels, float))


@pytest.mark.parametrize("kwargs,match", [({"num_samples": 0}, "num_samples"), ({"num_classes": 1}, "num_classes"),
                                          ({"noise_var": 0.0}, "noise_var"),
                                          ({"scale": -1.0}, "scale")])
def test_gaussian_mixture_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_gaussian_mixture(key=jax.random.key(0), **kwargs)


def test_old_positional_keys_and_names_still_work_and_warn(instances, nested, problem, trained):
    """The old calls (the key first and positional, n_classes=, m=) give the same draws, with a warning
    (same shapes as the fixtures, so nothing is compiled again)."""
    with pytest.warns(DeprecationWarning) as caught:
        old = sample_instances(jax.random.PRNGKey(0), n_cases=N_CASES, m=M, n_classes=N)
    said = " ".join(str(w.message) for w in caught)
    assert all(word in said for word in ("by position", "'n_classes'", "'n_cases'", "'m'")), said
    for a, b in zip(instances, old, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.warns(DeprecationWarning, match="by position"):
        old = sample_nested_instances(jax.random.PRNGKey(1), num_samples=N_CASES, num_inputs=M, num_classes=(N, 6))
    np.testing.assert_array_equal(nested[6][1], old[6][1])
    with pytest.warns(DeprecationWarning, match="'m'"):
        X_old = make_linear_problem(key=jax.random.PRNGKey(0), m=200, num_classes=3)[0]
    np.testing.assert_array_equal(X_old, problem[0])
    with pytest.warns(DeprecationWarning, match="by position"):
        X_old = make_gaussian_mixture(jax.random.key(5), num_samples=20)[0]
    np.testing.assert_array_equal(X_old, make_gaussian_mixture(key=jax.random.key(5), num_samples=20)[0])
    X, pi, P = problem
    args = dict(taus=TRAIN_TAUS, init_scales=SCALES, record_every=EVERY)
    with pytest.warns(DeprecationWarning) as caught:
        old = train_linear(jax.random.PRNGKey(1), X, pi, P, n_seeds=SEEDS, steps=STEPS, **args)
    said = " ".join(str(w.message) for w in caught)
    assert all(word in said for word in ("by position", "'n_seeds'", "'steps'")), said
    np.testing.assert_array_equal(np.asarray(old[0]), trained[0])
    with pytest.raises(TypeError, match="key"):
        train_linear(X, pi, P, num_replicates=SEEDS, num_steps=STEPS, **args)
    with pytest.raises(TypeError, match="key"):
        sample_instances(num_samples=5, num_classes=3)
    with pytest.warns(DeprecationWarning, match="by position"):
        old = excess_errors(*(jnp.asarray(a) for a in instances), 1.0)
    np.testing.assert_array_equal(old[0], excess_errors(*(jnp.asarray(a) for a in instances), tau=1.0)[0])
    with pytest.warns(DeprecationWarning, match="noise"):
        X_old = make_gaussian_mixture(key=jax.random.key(5), num_samples=20, noise=2.0)[0]
    np.testing.assert_allclose(X_old, make_gaussian_mixture(key=jax.random.key(5), num_samples=20, noise_var=4.0)[0])


@pytest.mark.parametrize("num_classes", [3, 20])  # per-class operands (<= 16 classes) and the class-axis array
def test_trainer_closed_form_gradient_and_errors_equal_the_risk_kernels(num_classes):
    """The trainer's hand-written gradient is jax.grad of sum_i pi_i C_tau(h_i, p_i) (float64), and its per-class
    excess errors are the kernels' conditional risk and zero-one regret, for tau in {0, 0.5, 1, 1.7}."""
    from theory.compsum import _kernels as K
    from theory.compsum.simulate import _risk_logit_grad, _run_errors

    with jax.enable_x64(True):
        ks = jax.random.split(jax.random.key(num_classes), 3)
        m, taus = 7, jnp.array([0.0, 0.5, 1.0, 1.7])
        h = jax.random.normal(ks[0], (taus.size, num_classes, m))
        P = jax.random.dirichlet(ks[1], jnp.ones(num_classes), (m,))
        P = P.at[0, 0].set(0.0).at[0].divide(P[0].sum())  # a zero probability: 0 * inf = 0 in the kernels
        pi = jax.nn.softmax(jax.random.normal(ks[2], (m,)))

        def risk(h):
            c = jax.vmap(lambda hr, t: K.conditional_risk(hr.T, P, t, jnp))(h, taus)  # [runs, m]
            return jnp.sum(c * pi)

        q = jnp.where(P > 0, pi[:, None] * P, 0.0).T
        a = (1.0 - taus)[:, None]
        np.testing.assert_allclose(_risk_logit_grad(h, q, a), jax.grad(risk)(h), rtol=1e-10, atol=1e-12)

        c_min = K.min_risk_complete(P, taus[:, None], jnp)
        eps_tau, eps_01 = _run_errors(h, P, pi, a, c_min)
        c = jax.vmap(lambda hr, t: K.conditional_risk(hr.T, P, t, jnp))(h, taus)
        np.testing.assert_allclose(eps_tau, jnp.sum(pi * (c - c_min), axis=-1), rtol=1e-12, atol=1e-14)
        regret = jax.vmap(lambda hr: K.zero_one_regret(hr.T, P, jnp))(h)
        np.testing.assert_allclose(eps_01, jnp.sum(pi * regret, axis=-1), rtol=1e-12, atol=1e-14)
