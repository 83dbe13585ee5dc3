"""``theory.devices``: the CPU split into one JAX device per core, and its errors."""

import os
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import pytest

from tests.xla_env import xla_flags
from theory.devices import available_cores, use_cpu_cores

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
from theory.devices import use_cpu_cores
n = use_cpu_cores(3)
import jax, jax.numpy as jnp
from theory import _training
out = _training.over_replicates(lambda k: jax.random.normal(k, (2,)), jax.random.key(0), 6)
print(n, jax.local_device_count(), len(out.sharding.device_set))
"""


def test_use_cpu_cores_sets_the_devices_the_replicates_are_split_over():
    env = {**os.environ, "XLA_FLAGS": xla_flags(), "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["3", "3", "3"]


def test_use_cpu_cores_after_the_backend_started_says_where_to_call_it():
    jnp.zeros(1).block_until_ready()  # the backend of this process has started
    with pytest.raises(RuntimeError, match="before any JAX computation"):
        use_cpu_cores(2)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError), (True, TypeError)])
def test_use_cpu_cores_rejects_a_bad_count(bad, error):
    with pytest.raises(error, match="num_devices"):
        use_cpu_cores(bad)


def test_available_cores_are_the_cores_this_process_may_run_on():
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert available_cores() == expected >= 1
