"""Importing the library is cheap: heavy optional libraries are imported on first use, not on import.

Each module below is imported in a fresh interpreter, every name of its ``__all__`` is looked up (a
topic may load its submodules lazily), and the test reads ``sys.modules`` afterwards:
cvxpy (reference solvers), matplotlib (figures), sympy (proofs) and rich (the CLI's table) must not be
there. The check is deterministic, not timed; ``benchmarks/import_bench.py`` measures the times.
Importing must not flip JAX's global x64 flag either.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import theory

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("cvxpy", "matplotlib", "sympy", "rich")
MODULES = ("theory", "theory.verify", "theory.losses", *(f"theory.{topic}" for topic in theory.TOPICS))
#: A module that does import matplotlib (the figure style): the probe must see it.
CONTROL = "theory._figures"

PROBE = """
import importlib, json, sys
module = importlib.import_module({module!r})
for name in getattr(module, "__all__", ()):  # a lazily loaded public name counts as imported
    getattr(module, name)
heavy = sorted(name for name in sys.modules if name.split(".")[0] in {heavy!r})
roots = sorted({{name.split(".")[0] for name in heavy}})
jax_loaded = "jax" in sys.modules
x64 = None
if jax_loaded:
    import jax
    x64 = bool(jax.config.jax_enable_x64)
print(json.dumps({{"heavy": roots, "jax": jax_loaded, "x64": x64}}))
"""


@pytest.fixture(scope="module")
def imported():
    """``{module: {"heavy": [...], "jax": bool, "x64": bool | None}}``, one fresh interpreter per module,
    started together."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JAX_ENABLE_X64")}
    env["PYTHONPATH"] = str(ROOT)
    env["JAX_PLATFORMS"] = "cpu"
    procs = {m: subprocess.Popen([sys.executable, "-c", PROBE.format(module=m, heavy=HEAVY)], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for m in (*MODULES, CONTROL)}
    out = {}
    for module, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"import {module} failed:\n{stderr[-3000:]}"
        out[module] = json.loads(stdout.strip().splitlines()[-1])
    return out


@pytest.mark.parametrize("module", MODULES)
def test_importing_loads_no_heavy_optional_library(imported, module):
    assert imported[module]["heavy"] == [], (
        f"import {module} loads {imported[module]['heavy']}: import them inside the functions that use them")


@pytest.mark.parametrize("module", MODULES)
def test_importing_leaves_jax_x64_off(imported, module):
    assert imported[module]["x64"] in (None, False)


def test_importing_theory_does_not_load_jax(imported):
    assert imported["theory"]["jax"] is False


def test_the_probe_sees_a_heavy_import(imported):
    assert "matplotlib" in imported[CONTROL]["heavy"]
