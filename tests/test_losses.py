"""Every loss of the registry (``theory.losses``) against every property it declares.

One parametrised suite: a loss that registers gets all of it. Per entry it checks the declared shift
invariance, value range, convexity in the logits, classification calibration, symmetry constant,
hyperparameter limits and identities; plus jit/vmap/grad agreement with eager calls, finite values at
+-1e4 logits in float32, gradients against central differences in float64, the masked-class policy,
and clear errors (eager) or NaN (traced) on bad input.

Shapes are fixed (``ROWS`` examples of ``K`` classes, or of the entry's own ``num_classes``: 2 for the binary
margin losses) and hyperparameters traced, so each entry compiles a
handful of functions once; hypothesis draws seeds, scales and hyperparameters.
"""

import functools
import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from theory import losses

K = 4  # classes, for the entries defined at every number of classes
ROWS = 2 * K  # examples per call (also the central-difference stencil: f +- eps e_k)


def _k(entry):
    """The number of classes the suite uses for ``entry``."""
    return entry.num_classes or K
ENTRIES = losses.entries()
INF = math.inf

# Few examples: each entry compiles a few functions once, and every example after that is cheap.
FEW = settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
SOME = settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))


def _ids(entries):
    return [e.name for e in entries]


def _params(predicate):
    chosen = [e for e in ENTRIES if predicate(e)]
    return pytest.mark.parametrize("entry", chosen, ids=_ids(chosen))


# ------------------------------------------------------------------------------------------------
# Strategies: hyperparameters (from the declared ranges) and logits (from seeds, fixed shapes)
# ------------------------------------------------------------------------------------------------


def _resolve(setting, entry):
    """Defaults overridden by ``setting`` (values may be functions of the number of classes)."""
    k = _k(entry)
    hyper = entry.defaults(k)
    hyper.update({name: (v(k) if callable(v) else v) for name, v in setting.items()})
    return hyper


def _value_strategy(param, k):
    iv = param.interval(k)
    if param.integer:  # a static argument (one compile per value): the default here; limits and symmetry
        return st.just(param.default_for(k))  # tests set the other values they declare (k = 1, k = K)
    lo, hi = param.typical if param.typical is not None else (iv.low, iv.high)
    base = (st.floats(math.log(lo), math.log(hi)).map(math.exp) if param.log else st.floats(lo, hi))
    base = base.filter(lambda v: v in iv)
    special = [v for v in param.special if v in iv]
    return st.one_of(st.sampled_from(special), base) if special else base


def _hyper(entry, where=None):
    """Hyperparameters in the declared ranges (and in ``where``, falling back to its examples)."""
    k = _k(entry)
    drawn = st.fixed_dictionaries({name: _value_strategy(h, k) for name, h in entry.hyperparameters.items()})

    def fix(hyper):
        if entry.constraint is not None and not entry.constraint(k, **hyper):
            hyper = entry.defaults(k)
        if where is not None and not where(k, **hyper):
            return None
        return hyper

    options = drawn.map(fix)
    if where is not None:
        examples = [_resolve(x, entry) for x in where.examples]
        options = st.one_of(st.sampled_from(examples), options.map(lambda h: h or examples[0]))
    return options


@st.composite
def _logits(draw, entry, scales=(0.0, 0.3, 1.0, 5.0, 30.0), ties=True):
    k = _k(entry)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    f = rng.normal(size=(ROWS, k)) * draw(st.sampled_from(scales))
    if ties and draw(st.booleans()):
        f[0, 1] = f[0, 0]
        f[1, :] = f[1, 0]
    return f, rng.integers(0, k, ROWS)


# ------------------------------------------------------------------------------------------------
# Evaluation: one compiled value and gradient per (entry, integer hyperparameters); float hyperparameters traced
# ------------------------------------------------------------------------------------------------


def _split(entry, hyper):
    static = tuple(sorted((k, v) for k, v in hyper.items() if entry.hyperparameters[k].integer))
    dynamic = {k: v for k, v in hyper.items() if not entry.hyperparameters[k].integer}
    return static, dynamic


@functools.cache
def _compiled(name, static):
    """Values and the gradient of their sum, in one compiled function (one compile per shape and dtype)."""
    fn = losses.get(name).fn

    def value(f, y, dyn):
        values = fn(f, y, **dict(static), **dyn)
        return jnp.sum(values), values

    return jax.jit(jax.value_and_grad(value, has_aux=True))


def _eval(entry, f, y, hyper, *, grad=False, dtype=jnp.float64):
    """Values (and gradients of their sum) through the compiled function; float64 under enable_x64."""
    static, dynamic = _split(entry, hyper)
    with jax.enable_x64(dtype == jnp.float64):
        args = (jnp.asarray(f, dtype), jnp.asarray(y), {k: jnp.asarray(v, dtype) for k, v in dynamic.items()})
        (_, values), gradient = _compiled(entry.name, static)(*args)
        return (np.asarray(values), np.asarray(gradient)) if grad else np.asarray(values)


def _limit_values(limit, f, y, hyper):
    if limit.to is None:
        return np.zeros(np.shape(y))
    return limit.scale * _eval(losses.get(limit.to), f, y, limit.hyper(**hyper))


def _close(a, b, rtol=1e-10, atol=1e-10):
    """Equal within tolerance, infinities of the same sign included."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert not np.isnan(a).any() and not np.isnan(b).any(), (a, b)
    same_inf = np.isinf(a) & (a == b)
    np.testing.assert_allclose(np.where(same_inf, 0.0, a), np.where(same_inf, 0.0, b), rtol=rtol, atol=atol)


# ------------------------------------------------------------------------------------------------
# The registry itself
# ------------------------------------------------------------------------------------------------


def test_registry_api_is_consistent():
    assert losses.names() == tuple(losses.REGISTRY) == tuple(e.name for e in losses.entries())
    assert all(losses.get(n) is losses.REGISTRY[n] for n in losses.names())
    with pytest.raises(ValueError, match="name must be one of"):
        losses.get("not_a_loss")
    with pytest.raises(TypeError):
        losses.REGISTRY["x"] = None
    with pytest.raises(ValueError, match="already registered"):
        losses.register(losses.get("mae"))
    with pytest.raises(TypeError, match="LossEntry"):
        losses.register(lambda f, y: f)


def test_a_registered_loss_joins_the_suite():
    extra = losses.LossEntry(
        name="half_cross_entropy", fn=lambda f, y: 0.5 * losses.get("cross_entropy").fn(f, y), family="test",
        summary="CE / 2", hyperparameters={}, shift_invariant=True, value_range=(0.0, INF), convex_in_logits=True,
        calibrated=True, symmetric=None, limits=(), reference="a test")
    try:
        losses.register(extra)
        assert losses.names()[-1] == "half_cross_entropy" and losses.entries()[-1] is extra
        f, y = np.array([[1.0, -0.5, 2.0, 0.0]]), np.array([2])
        _close(extra.fn(f, y), 0.5 * losses.get("cross_entropy").fn(f, y), rtol=1e-7)
    finally:
        losses._ENTRIES.pop("half_cross_entropy", None)


def test_importing_the_registry_imports_neither_jax_nor_the_topics():
    code = ("import sys, theory.losses; "
            "print(sorted(m for m in ('jax', 'theory.ldr', 'theory.compsum') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@_params(lambda e: True)
def test_declarations_are_well_formed(entry):
    k = _k(entry)
    defaults = entry.defaults(k)
    for name, param in entry.hyperparameters.items():
        assert defaults[name] in param.interval(k), name
        assert all(v in param.interval(k) for v in param.special), name
    if entry.constraint is not None:
        assert entry.constraint(k, **defaults)
    low, high = entry.value_range(k, **defaults)
    assert low <= high
    for where in (entry.convex_in_logits, entry.calibrated, *([entry.symmetric.where] if entry.symmetric else [])):
        assert all(where(k, **_resolve(x, entry)) for x in where.examples), where.text
    for limit in entry.limits:
        assert limit.to is None or limit.to in losses.REGISTRY
        assert limit.to is None or losses.get(limit.to).num_classes in (None, entry.num_classes)
        assert limit.exact or limit.near is not None, limit.text
    if entry.equals is not None:
        assert entry.equals[0] in losses.REGISTRY
        assert losses.get(entry.equals[0]).num_classes in (None, entry.num_classes)
    assert entry.reference and entry.summary and entry.family


# ------------------------------------------------------------------------------------------------
# Declared properties
# ------------------------------------------------------------------------------------------------


@_params(lambda e: e.shift_invariant)
@SOME
@given(data=st.data())
def test_shift_invariance(entry, data):
    hyper = data.draw(_hyper(entry))
    f, y = data.draw(_logits(entry))
    c = data.draw(st.floats(-50.0, 50.0))
    v = _eval(entry, f, y, hyper)
    _close(_eval(entry, f + c, y, hyper), v, rtol=1e-9, atol=1e-9)


@_params(lambda e: True)
@SOME
@given(data=st.data())
def test_values_lie_in_the_declared_range(entry, data):
    hyper = data.draw(_hyper(entry))
    f, y = data.draw(_logits(entry))
    low, high = entry.value_range(_k(entry), **hyper)
    v = _eval(entry, f, y, hyper)
    tol = 1e-9 * (1.0 + np.abs(np.where(np.isfinite(v), v, 0.0)))
    assert not np.isnan(v).any()
    assert np.all(v >= low - tol) and np.all(v <= high + tol), (low, high, v)


@_params(lambda e: e.convex_in_logits is not losses.NEVER)
@SOME
@given(data=st.data())
def test_convex_in_logits_where_declared(entry, data):
    hyper = data.draw(_hyper(entry, entry.convex_in_logits))
    f, y = data.draw(_logits(entry, scales=(0.3, 1.0, 5.0)))
    g, _ = data.draw(_logits(entry, scales=(0.3, 1.0, 5.0)))
    theta = data.draw(st.floats(0.0, 1.0))
    lhs = _eval(entry, theta * f + (1 - theta) * g, y, hyper)
    rhs = theta * _eval(entry, f, y, hyper) + (1 - theta) * _eval(entry, g, y, hyper)
    assert np.all(lhs <= rhs + 1e-9 * (1.0 + np.abs(rhs))), (lhs, rhs)


CALIBRATION_STEPS = 1500


@functools.cache
def _risk_minimiser(name, static):
    """Adam (with a decaying step) on the conditional risk sum_y q_y l(h, y) over h, from h0."""
    entry = losses.get(name)
    fn, k = entry.fn, _k(entry)
    opt = optax.adam(optax.cosine_decay_schedule(0.1, CALIBRATION_STEPS, alpha=1e-3))

    def run(q, h0, dyn):
        def risk(h):
            return jnp.dot(q, fn(jnp.broadcast_to(h, (k, k)), jnp.arange(k), **dict(static), **dyn))

        def step(carry, _):
            h, state = carry
            updates, state = opt.update(jax.grad(risk)(h), state)
            return (optax.apply_updates(h, updates), state), None

        return jax.lax.scan(step, (h0, opt.init(h0)), None, length=CALIBRATION_STEPS)[0][0]

    return jax.jit(run)


@_params(lambda e: e.calibrated is not losses.NEVER)
@FEW
@given(data=st.data())
def test_calibrated_where_declared(entry, data):
    """Descent on the conditional risk ends on argmax q: for a loss convex in the logits from scores that rank
    the top class last, otherwise from uniform scores (for tau >= 2 the risk is concave in the softmax, so every
    vertex is a local minimum; calibration is a statement about the infimum, which descent from the centre
    finds)."""
    hyper = data.draw(_hyper(entry, entry.calibrated))
    k = _k(entry)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    top = int(rng.integers(k))
    r = rng.uniform(0.0, 1.0, k)
    r[top] = r.max() + 0.3
    q = r / r.sum()
    h0 = rng.normal(size=k)
    h0[top] = h0.min() - 1.0
    if not entry.convex_in_logits(k, **hyper):
        h0 = np.zeros(k)
    static, dynamic = _split(entry, hyper)
    with jax.enable_x64(True):
        h = np.asarray(_risk_minimiser(entry.name, static)(jnp.asarray(q), jnp.asarray(h0),
                                                           {k: jnp.float64(v) for k, v in dynamic.items()}))
    assert np.argmax(h) == top, (q, h)


@_params(lambda e: e.symmetric is not None)
@SOME
@given(data=st.data())
def test_symmetric_sum_is_the_declared_constant(entry, data):
    hyper = data.draw(_hyper(entry, entry.symmetric.where))
    f, _ = data.draw(_logits(entry))
    k = _k(entry)
    rows = np.repeat(f[:2], k, axis=0)  # each of two score vectors with every label
    labels = np.tile(np.arange(k), 2)
    total = _eval(entry, rows, labels, hyper).reshape(2, k).sum(axis=1)
    expected = entry.symmetric.constant(k, **hyper)
    np.testing.assert_allclose(total, expected, rtol=1e-10, atol=1e-10 * (1.0 + np.abs(f[:2]).max()))


LIMITS = [(e, lim) for e in ENTRIES for lim in e.limits]


@pytest.mark.parametrize("entry, limit", LIMITS, ids=[f"{e.name}-{lim.param}-{lim.at:g}" for e, lim in LIMITS])
@FEW
@given(data=st.data())
def test_hyperparameter_limits(entry, limit, data):
    hyper = data.draw(_hyper(entry))
    f, y = data.draw(_logits(entry, scales=(0.3, 1.0, 5.0)))
    if limit.exact:
        at = {**hyper, limit.param: limit.at}
        _close(_eval(entry, f, y, at), _limit_values(limit, f, y, at), rtol=1e-10, atol=1e-10)
    if limit.near is not None:
        near = {**hyper, limit.param: limit.near}
        target = _limit_values(limit, f, y, near)
        gap = np.abs(_eval(entry, f, y, near) - target)
        bound = np.asarray(limit.bound(f, y, target, _k(entry), **near))
        assert np.all(gap <= bound + 1e-10 * (1.0 + np.abs(target))), (gap, bound)


@_params(lambda e: e.equals is not None)
@SOME
@given(data=st.data())
def test_declared_identity_with_another_entry(entry, data):
    hyper = data.draw(_hyper(entry))
    f, y = data.draw(_logits(entry))
    other, mapping = entry.equals
    _close(_eval(entry, f, y, hyper), _eval(losses.get(other), f, y, mapping(**hyper)), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# Transformations and numerics
# ------------------------------------------------------------------------------------------------


@_params(lambda e: True)
def test_jit_vmap_and_grad_agree_with_eager_calls(entry):
    """Eager, jit (hyperparameters closed over, and traced), vmap over examples, and their gradients."""
    k = _k(entry)
    hyper = entry.defaults(k)
    rng = np.random.default_rng(7)
    f, y = 2.0 * rng.normal(size=(ROWS, k)), rng.integers(0, k, ROWS)
    def closed(f, y):  # hyperparameters closed over (concrete under jit), and vmap over examples
        loss = functools.partial(entry.fn, **hyper)
        total, grad = jax.value_and_grad(lambda f: jnp.sum(loss(f, y)))(f)
        return total, grad, jax.vmap(loss)(f, y)

    with jax.enable_x64(True):
        f, y = jnp.asarray(f), jnp.asarray(y)
        eager = np.asarray(entry.fn(f, y, **hyper))
        closed, closed_grad, mapped = jax.jit(closed)(f, y)
    traced, traced_grad = _eval(entry, f, y, hyper, grad=True)
    for other in (mapped, traced):
        _close(other, eager, rtol=1e-12, atol=1e-12)
    _close(closed, eager.sum(), rtol=1e-12, atol=1e-12)
    _close(traced_grad, closed_grad, rtol=1e-10, atol=1e-12)


@_params(lambda e: True)
def test_float32_logits_give_float32_values_and_gradients_with_x64_on(entry):
    """With x64 on, float32 logits and Python-float hyperparameters give float32 values and gradients (a weakly typed
    hyperparameter must not promote the loss to float64, nor make the branches of its ``lax.switch`` disagree)."""
    k = _k(entry)
    hyper = entry.defaults(k)
    rng = np.random.default_rng(8)
    with jax.enable_x64(True):
        f, y = jnp.asarray(rng.normal(size=(ROWS, k)), jnp.float32), jnp.asarray(rng.integers(0, k, ROWS))
        value, grad = jax.value_and_grad(lambda f: jnp.sum(entry.fn(f, y, **hyper)))(f)
    assert value.dtype == grad.dtype == jnp.float32


@_params(lambda e: True)
@SOME
@given(data=st.data())
def test_gradient_matches_central_differences_in_float64(entry, data):
    hyper = data.draw(_hyper(entry))
    f, y = data.draw(_logits(entry, scales=(0.5, 2.0), ties=False))
    k = _k(entry)
    row, label = f[0], y[0]
    eps = 1e-6
    stencil = np.resize(row + eps * np.concatenate([np.eye(k), -np.eye(k)]), (ROWS, k))  # the first 2 k rows
    values = _eval(entry, stencil, np.full(ROWS, label), hyper)
    fd = (values[:k] - values[k:2 * k]) / (2 * eps)
    _, grad = _eval(entry, np.broadcast_to(row, (ROWS, k)), np.full(ROWS, label), hyper, grad=True)
    np.testing.assert_allclose(grad[0], fd, rtol=1e-5, atol=1e-6 * (1.0 + np.abs(fd).max()))


@_params(lambda e: True)
@FEW
@given(data=st.data())
def test_finite_at_extreme_float32_logits_where_the_value_is(entry, data):
    """+-1e4 logits in float32 (ties at the top included) against float64 on the same inputs."""
    hyper = data.draw(_hyper(entry))
    k = _k(entry)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    f = rng.uniform(-1e4, 1e4, (ROWS, k)).astype(np.float32)
    f[0] = np.float32(1e4)
    f[1, :2] = np.float32(-1e4)
    y = rng.integers(0, k, ROWS)
    v32, g32 = _eval(entry, f, y, hyper, grad=True, dtype=jnp.float32)
    v64, g64 = _eval(entry, f.astype(np.float64), y, hyper, grad=True)
    assert v32.dtype == np.float32 and not np.isnan(v32).any() and not np.isnan(g32).any()
    representable = np.abs(v64) < 1e37
    assert np.all(np.isfinite(v32[representable]))
    atol = 1e-6 * k * np.abs(f).max()  # float32 rounding of margins f_k - f_y (+ c) at this scale
    np.testing.assert_allclose(v32[representable], v64[representable], rtol=1e-4, atol=atol)
    assert np.all(v32[~representable] == np.sign(v64[~representable]) * np.inf)  # overflow: +-inf, never NaN
    # Gradients away from the tied rows 0 and 1 (at a tie a hinge's subgradient depends on rounding).
    rows = representable & np.all(np.abs(g64) < 1e37, axis=1) & (np.arange(ROWS) >= 2)
    assert np.all(np.isfinite(g32[rows]))
    np.testing.assert_allclose(g32[rows], g64[rows], atol=1e-3 * (1.0 + np.abs(g64[rows]).max(initial=0.0)))


@_params(lambda e: True)
@FEW
@given(data=st.data())
def test_masked_class_gives_the_limit_and_a_finite_gradient(entry, data):
    """A -inf logit on a non-target class (a masked class) is accepted eagerly and gives the limit f_k -> -inf."""
    hyper = data.draw(_hyper(entry))
    f, y = data.draw(_logits(entry, scales=(0.3, 1.0, 5.0)))
    num_classes = _k(entry)
    k = (y + 1 + np.arange(ROWS) % (num_classes - 1)) % num_classes  # a class other than the label
    at_inf, far = f.copy(), f.copy()
    at_inf[np.arange(ROWS), k] = -INF
    far[np.arange(ROWS), k] = -1e8
    with jax.enable_x64(True):
        eager = np.asarray(entry.fn(jnp.asarray(at_inf), jnp.asarray(y), **hyper))  # the eager checks accept it
    v, g = _eval(entry, at_inf, y, hyper, grad=True)
    v_far, g_far = _eval(entry, far, y, hyper, grad=True)
    _close(eager, v, rtol=1e-12, atol=1e-12)
    assert not np.isnan(v).any() and np.all(np.isfinite(g)), (v, g)
    finite = np.isfinite(v)
    np.testing.assert_allclose(v[finite], v_far[finite], rtol=1e-9, atol=1e-9)
    assert np.all((v[~finite] == -INF) & (v_far[~finite] < -1e6))  # the mean margin: -inf in the limit
    np.testing.assert_allclose(g, g_far, atol=1e-9)


# ------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------

_F = np.array([[1.0, -0.5, 2.0, 0.0], [0.3, 0.1, -1.0, 2.0]], np.float32)
_Y = np.array([0, 3])


def _with(f, row, col, value):
    f = f.copy()
    f[row, col] = value
    return f


def _bad_inputs(k):
    """Bad (logits, labels) for ``k`` classes: ``(logits, labels, exception, the name its message gives)``."""
    f, y = _F[:, :k], np.minimum(_Y, k - 1)
    return {
        "nan logit": (_with(f, 0, 1, np.nan), y, ValueError, "logits"),
        "-inf target logit": (_with(f, 0, 0, -np.inf), y, ValueError, "logits"),
        "+inf logit on another class": (_with(f, 1, 0, np.inf), y, ValueError, "logits"),
        "+inf target logit": (_with(f, 1, k - 1, np.inf), y, ValueError, "logits"),
        "label too large": (f, np.array([0, k]), ValueError, "labels"),
        "negative label": (f, np.array([-1, 0]), ValueError, "labels"),
        "float labels": (f, np.array([0.0, 1.0]), TypeError, "labels"),
        "labels of the wrong shape": (f, np.array([0, 1, 0]), ValueError, "labels"),
        "integer logits": (f.astype(np.int32), y, TypeError, "logits"),
        "one class": (_F[:, :1], np.array([0, 0]), ValueError, "logits"),
    }


@_params(lambda e: True)
@pytest.mark.parametrize("case", list(_bad_inputs(K)))
def test_bad_logits_and_labels_raise_naming_them(entry, case):
    k = _k(entry)
    f, y, exc, name = _bad_inputs(k)[case]
    with pytest.raises(exc, match=name):
        entry.fn(f, y, **entry.defaults(k))


@_params(lambda e: e.num_classes is not None)
def test_a_loss_of_fixed_class_count_rejects_other_counts(entry):
    for k in (K, entry.num_classes + 1):
        if k != entry.num_classes:
            with pytest.raises(ValueError, match="logits"):
                entry.fn(_F[:, :k], np.zeros(2, int), **entry.defaults(entry.num_classes))


def _invalid_values(param, k):
    """Values outside the declared range: NaN, the open or just-outside ends, an excluded infinity."""
    iv = param.interval(k)
    out = [math.nan]
    if math.isfinite(iv.low):
        out.append(iv.low if iv.low_open else iv.low - 1.0)
    if math.isfinite(iv.high):
        out.append(iv.high if iv.high_open else iv.high + 1.0)
    else:
        out += [INF] if iv.high_open else []
    if not math.isfinite(iv.low) and iv.low_open:
        out.append(-INF)
    return out


@_params(lambda e: True)
def test_bad_hyperparameters_raise_naming_them(entry):
    k = _k(entry)
    f, y = _F[:1, :k], _Y[:1] % k
    defaults = entry.defaults(k)
    with pytest.raises(TypeError):
        entry.fn(f, y, **defaults, not_a_hyperparameter=1.0)
    for name, param in entry.hyperparameters.items():
        iv = param.interval(k)
        bad = [int(iv.low) - 1, int(iv.high) + 1] if param.integer else _invalid_values(param, k)
        for value in bad:
            with pytest.raises(ValueError, match=name):
                entry.fn(f, y, **{**defaults, name: value})
        with pytest.raises(TypeError, match=name):
            entry.fn(f, y, **{**defaults, name: "1" if not param.integer else 1.5})


@_params(lambda e: any(not h.integer for h in e.hyperparameters.values()))
def test_traced_invalid_hyperparameter_gives_nan(entry):
    """Under jit an invalid hyperparameter cannot raise: the loss is NaN, never a finite wrong number."""
    k = _k(entry)
    f, y = np.resize(_F[:, :k], (ROWS, k)).astype(np.float64), np.resize(_Y % k, ROWS)
    defaults = entry.defaults(k)
    for name, param in entry.hyperparameters.items():
        if param.integer:
            continue
        for value in _invalid_values(param, k):
            v = _eval(entry, f, y, {**defaults, name: value})
            assert np.isnan(v).all(), (name, value, v)
