"""The replicate map of the simulators (``theory._training``): the memory budget and the automatic chunks.

``map_replicates`` with ``chunk_size=None`` traces the vmapped function once, estimates its bytes from the
jaxpr (``jaxpr_bytes``) and runs in ``lax.map`` chunks only when the estimate is over
``replicate_memory_budget()`` (``THEORY_MEMORY_BUDGET`` when set). The replicates are the same either way,
so a tiny budget (every chunk small), a huge one (one vmap) and an explicit ``chunk_size`` agree bit for bit
on these small element-wise programs. Small arrays only.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.xla_env import xla_flags
from theory import _training

ROOT = Path(__file__).resolve().parents[1]
ENV = _training.BUDGET_ENV


def _primitives(jaxpr):
    """Every primitive name of a jaxpr, sub-jaxprs included."""
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for value in eqn.params.values():
            for sub in value if isinstance(value, tuple | list) else (value,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    names |= _primitives(inner)
    return names


def _one(key, scale):
    return scale * jnp.cumsum(jax.random.normal(key, (5,)))


def _pair(x, y):
    return {"s": jnp.sin(x) * y[0], "c": jnp.cos(y) + x.sum()}


XS = (jnp.arange(21.0).reshape(7, 3) / 5, jnp.arange(14.0).reshape(7, 2) / 3)


def _run(chunk_size=None):
    keyed = jax.jit(lambda key: _training.over_replicates(_one, key, 10, 2.0, chunk_size=chunk_size))
    mapped = jax.jit(lambda x, y: _training.map_replicates(_pair, x, y, chunk_size=chunk_size))
    return keyed(jax.random.key(3)), mapped(*XS)


def _equal(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb, strict=True))


@pytest.mark.parametrize("text, value", [
    ("1048576", 1048576), ("512MB", 512 * 10**6), ("2GiB", 2 * 2**30), ("1.5GB", 1_500_000_000),
    (" 64 kib ", 65536), ("1b", 1), ("0.5KiB", 512), ("3TB", 3 * 10**12),
])
def test_parse_bytes(text, value):
    assert _training.parse_bytes(text) == value


@pytest.mark.parametrize("text", ["", "abc", "-1", "0", "0.1", "1.5XB", "GB", "1e9", "2 GiB extra", "nan"])
def test_parse_bytes_rejects(text):
    with pytest.raises(ValueError, match=f"{ENV}.*512MB, 2GiB, 1.5GB"):
        _training.parse_bytes(text)


def test_budget_from_environment(monkeypatch):
    monkeypatch.setenv(ENV, "2GiB")
    assert _training.replicate_memory_budget() == 2 * 2**30
    monkeypatch.setenv(ENV, "lots")
    with pytest.raises(ValueError, match=ENV):
        _training.replicate_memory_budget()


def test_default_budget_positive(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    budget = _training.replicate_memory_budget()
    assert isinstance(budget, int) and budget > 0
    assert _training.replicate_memory_budget() == budget  # read once per process
    monkeypatch.setenv(ENV, " ")  # blank: unset
    assert _training.replicate_memory_budget() == budget


def test_estimate_scales_linearly_with_replicates():
    def fn(x):
        return jnp.cumsum(jnp.sin(x) * x)

    def total(num):
        return _training.jaxpr_bytes(jax.make_jaxpr(jax.vmap(fn))(jnp.ones((num, 6), jnp.float32)))

    assert total(4) > 0
    assert total(8) == 2 * total(4) and total(40) == 10 * total(4)


def test_estimate_counts_a_loop_body_once():
    def looped(length):
        def fn(x):
            return jax.lax.scan(lambda c, _: (jnp.tanh(c) * 2.0, None), x, None, length=length)[0]
        return _training.jaxpr_bytes(jax.make_jaxpr(jax.vmap(fn))(jnp.ones((4, 6))))

    assert looped(10) == looped(1000)  # a body's values are per iteration, not times the length


def test_tiny_budget_chunks_and_agrees(monkeypatch):
    monkeypatch.setenv(ENV, "1TiB")
    whole = _run()
    assert "scan" not in _primitives(jax.make_jaxpr(lambda x, y: _training.map_replicates(_pair, x, y))(*XS).jaxpr)
    explicit = _run(chunk_size=3)
    monkeypatch.setenv(ENV, "1")  # one byte: every replicate is over budget, chunks of one
    assert "scan" in _primitives(jax.make_jaxpr(lambda x, y: _training.map_replicates(_pair, x, y))(*XS).jaxpr)
    tiny = _run()
    auto = _run(chunk_size="auto")
    assert _equal(whole, tiny) and _equal(whole, explicit) and _equal(whole, auto)


def test_auto_matches_direct_vmap(monkeypatch):
    monkeypatch.setenv(ENV, "1TiB")
    direct = jax.jit(lambda x, y: jax.vmap(_pair)(x, y))(*XS)
    assert _equal(_run()[1], direct)
    keys = jax.random.split(jax.random.key(3), 10)
    eager = _training.map_replicates(lambda k: _one(k, 2.0), keys)
    assert _equal(eager, jax.jit(jax.vmap(lambda k: _one(k, 2.0)))(keys))
    # gradients through the mapped function, with the scale closed over
    grad = jax.grad(lambda s: _training.map_replicates(lambda k: _one(k, s), keys).sum())(2.0)
    assert np.isclose(grad, jax.vmap(lambda k: _one(k, 1.0))(keys).sum())


def test_chunk_size_choice(monkeypatch):
    one_device = len(jax.local_devices()) == 1
    monkeypatch.setenv(ENV, "600")
    if one_device:
        assert _training._auto_chunk_size(1000, 10) == 5  # 6 fit; two chunks of 5 pad nothing
        assert _training._auto_chunk_size(600, 10) == 10  # fits: one vmap
    monkeypatch.setenv(ENV, "50")
    assert _training._auto_chunk_size(1000, 10) == 1  # below one replicate: chunks of one


def test_chunks_carry_leaves_with_no_elements():
    # a zero-length axis (an empty history, a fit with no polish steps) in an input or an output leaf
    def fn(x, empty):
        return {"y": 2.0 * x, "none": jnp.zeros((0, 3)) + empty.sum(), "kept": empty}

    xs, empty = jnp.arange(7.0), jnp.zeros((7, 0))
    direct = jax.vmap(fn)(xs, empty)
    for chunk_size in (1, 2, 3, 7):
        out = _training.map_replicates(fn, xs, empty, chunk_size=chunk_size)
        assert {k: v.shape for k, v in out.items()} == {"y": (7,), "none": (7, 0, 3), "kept": (7, 0)}
        assert _equal(out, direct)


@pytest.mark.parametrize("bad, error", [("big", ValueError), (0, ValueError), (1.5, TypeError), (True, TypeError)])
def test_chunk_size_rejected(bad, error):
    with pytest.raises(error, match="chunk_size"):
        _training.map_replicates(jnp.sin, jnp.ones((4, 2)), chunk_size=bad)


SCRIPT = r"""
import json, os
import jax, jax.numpy as jnp, numpy as np
from theory import _training
assert len(jax.devices()) == 8
def one(key, scale):
    return scale * jnp.cumsum(jax.random.normal(key, (5,)))
run = lambda: jax.jit(lambda key: _training.over_replicates(one, key, 40, 2.0))(jax.random.key(3))
whole = run()
keys = jax.random.split(jax.random.key(0), 40)
per = _training.jaxpr_bytes(jax.make_jaxpr(jax.vmap(lambda k: one(k, 2.0)))(keys)) / 40
os.environ["THEORY_MEMORY_BUDGET"] = str(int(2 * per) + 1)  # 16 replicates over 8 devices, 8 on one
chunk = _training._auto_chunk_size(int(40 * per), 40)
small = run()
staged = str(jax.make_jaxpr(lambda key: _training.over_replicates(one, key, 40, 2.0))(jax.random.key(3)))
os.environ["THEORY_MEMORY_BUDGET"] = str(int(0.6 * per))  # below one replicate per device: chunks of one
tiny = run()
print(json.dumps({"chunk": chunk, "same": bool(np.array_equal(whole, small)),
                  "same_tiny": bool(np.array_equal(whole, tiny)), "placed": len(whole.sharding.device_set),
                  "chunked": " scan[" in staged}))
"""


def test_auto_chunks_split_over_devices():
    env = {**os.environ, "XLA_FLAGS": xla_flags(devices=8), "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["chunk"] == 16  # 16 fit on the 8 devices: three chunks, evened out to 14, 16 to split
    assert result["chunked"] and result["same"] and result["same_tiny"] and result["placed"] == 8


def test_sequential_under_vmap_runs_one_element_per_call_and_equals_the_calls():
    calls = []

    def solve(A, b):
        calls.append(A.shape)  # traced shapes: the wrapped function only ever sees one element
        return jnp.linalg.solve(A, b)

    one = _training.sequential_under_vmap(solve)
    A = jnp.eye(3) * jnp.arange(1.0, 9.0)[:, None, None] + 0.1  # [8, 3, 3]
    b = jnp.arange(3.0)
    nested = jax.jit(jax.vmap(jax.vmap(one, in_axes=(0, None)), in_axes=(0, None)))(A.reshape(2, 4, 3, 3), b)
    assert set(calls) == {(3, 3)}
    expected = np.stack([np.asarray(solve(a, b)) for a in A])
    np.testing.assert_array_equal(np.asarray(nested).reshape(8, 3), expected)
    assert "scan" in _primitives(jax.make_jaxpr(jax.vmap(one, in_axes=(0, None)))(A, b).jaxpr)
