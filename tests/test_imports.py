"""Importing the library is cheap: heavy optional libraries are imported on first use, not on import.

The modules below are imported one after another in one fresh interpreter; after each import every name of its
``__all__`` is looked up (a topic may load its submodules lazily) and the probe reads ``sys.modules``.
cvxpy (reference solvers), matplotlib (figures), sympy (proofs) and rich (the CLI's table) must not be there.
``sys.modules`` only grows, so a heavy library that any of the imports loads is seen, and charged to the first
import that brings it in. The check is deterministic, not timed; ``benchmarks/import_bench.py`` measures the
times. Importing must not flip JAX's global x64 flag either, nor start JAX's backend (loading the claim registry
included), so that a script can still configure JAX's devices afterwards.
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
def heavy_roots():
    return {{name.split(".")[0] for name in sys.modules if name.split(".")[0] in {heavy!r}}}
out = {{}}
for module_name in {modules!r}:
    before = heavy_roots()
    module = importlib.import_module(module_name)
    for name in getattr(module, "__all__", ()):  # a lazily loaded public name counts as imported
        getattr(module, name)
    jax_loaded = "jax" in sys.modules
    x64 = None
    if jax_loaded:
        import jax
        x64 = bool(jax.config.jax_enable_x64)
    out[module_name] = {{"heavy": sorted(heavy_roots() - before), "jax": jax_loaded, "x64": x64}}
import jax
from theory import verify
out["claims"] = len(verify.claims())  # every topic's claims module, the moe designs built at its import included
try:  # possible only before JAX's backend starts
    jax.config.update("jax_num_cpu_devices", 3)
    out["devices_after_claims"] = len(jax.devices())
except RuntimeError as exc:
    out["devices_after_claims"] = str(exc)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def imported():
    """``{module: {"heavy": [...], "jax": bool, "x64": bool | None}}``: the modules imported in this order in one
    fresh interpreter, ``theory`` first (nothing loaded before it) and the control last; ``heavy`` lists the
    heavy libraries that the module's import brought in."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JAX_ENABLE_X64")}
    env["PYTHONPATH"] = str(ROOT)
    env["JAX_PLATFORMS"] = "cpu"
    probe = PROBE.format(modules=(*MODULES, CONTROL), heavy=HEAVY)
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"the imports failed:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", MODULES)
def test_importing_loads_no_heavy_optional_library(imported, module):
    assert imported[module]["heavy"] == [], (
        f"import {module} loads {imported[module]['heavy']}: import them inside the functions that use them")


@pytest.mark.parametrize("module", MODULES)
def test_importing_leaves_jax_x64_off(imported, module):
    assert imported[module]["x64"] in (None, False)


def test_importing_theory_does_not_load_jax(imported):
    assert imported["theory"]["jax"] is False


def test_loading_every_claim_leaves_the_jax_devices_to_configure(imported):
    """Importing the modules and building the claim registry does no JAX work: a script can still choose its devices
    afterwards (``jax_num_cpu_devices`` must be set before JAX's backend starts)."""
    assert imported["claims"] > 0
    assert imported["devices_after_claims"] == 3, imported["devices_after_claims"]


def test_the_probe_sees_a_heavy_import(imported):
    assert "matplotlib" in imported[CONTROL]["heavy"]
