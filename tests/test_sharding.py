"""Replicates sharded over several devices give the same numbers as one device, seed for seed.

The check runs in a subprocess with eight host CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count=8``),
since JAX fixes its devices when it starts.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import dataclasses, json
import jax, jax.numpy as jnp, numpy as np
from theory import _training, verify

assert len(jax.devices()) == 8
def one(key, scale):
    return scale * jnp.cumsum(jax.random.normal(key, (5,)))
sharded = jax.jit(lambda key: _training.over_replicates(one, key, 16, 2.0))(jax.random.key(3))
chunked = jax.jit(lambda key: _training.over_replicates(one, key, 16, 2.0, chunk_size=8))(jax.random.key(3))
placed = len(sharded.sharding.device_set)
claim = verify.claims("ensloss.excess_risk_rate")[0]
many = verify.run_claim(claim, scale="smoke", seed=1)
_training.replicate_sharding = lambda n: None  # the one-device placement; nothing else changes
single = jax.jit(lambda key: _training.over_replicates(one, key, 16, 2.0))(jax.random.key(3))
alone = verify.run_claim(claim, scale="smoke", seed=1)
keep = lambda v: {k: v.to_dict()[k] for k in ("status", "estimate", "ci_low", "ci_high", "worst")}
print(json.dumps({"placed": placed, "same_values": bool(np.array_equal(sharded, single)),
                  "same_chunked": bool(np.array_equal(chunked, single)), "many": keep(many), "alone": keep(alone)}))
"""


def test_sharded_replicates_and_verdicts_match_one_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["placed"] == 8  # the replicate axis is split over the eight devices
    assert result["same_values"] and result["same_chunked"]
    assert result["many"] == result["alone"]
