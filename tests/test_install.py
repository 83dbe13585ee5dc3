"""Installing as the README says cannot be shadowed by the checkout's own folder.

A fresh clone named ``theory`` holds the package in ``theory/theory/``. A script run from the folder
that holds the clone has that folder on ``sys.path``, where ``theory/`` (the clone's root, without an
``__init__.py``) is a namespace-package portion. setuptools' default editable install for a flat
layout is an import hook that sits *after* the path finder on ``sys.meta_path``, so the path finder
settled on the namespace package and ``verify.claims()`` failed with "module 'theory' has no attribute
'TOPICS'". ``pyproject.toml`` declares the project root as the package root
(``[tool.setuptools] package-dir = {"" = "."}``), so the editable install is a plain ``.pth`` that
puts the clone's root on ``sys.path``: the path finder then sees the regular package
``<clone>/theory/__init__.py``, and a regular package beats a namespace portion wherever the two sit
on ``sys.path``.

The test copies the package into ``tmp/theory`` (what a clone holds for the build), makes a fresh
virtual environment that sees this environment's dependencies, installs the copy with the README's
``pip install -e .`` run inside it (offline: no build isolation, no index, no dependencies), and
imports it from ``tmp``. Without a setuptools that can build the project (>= 77, in the ``test``
extra) it simulates the install by writing the same ``.pth``.
"""

import importlib.metadata
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: What the build reads from a clone.
BUILD_INPUTS = ("pyproject.toml", "README.md", "theory")
#: Variables that would put this checkout on the path or change how the interpreter starts.
CLEAN = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "PYTHONNOUSERSITE", "PIP_TARGET", "PIP_PREFIX",
         "PIP_USER", "VIRTUAL_ENV")


def _env():
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", JAX_PLATFORMS="cpu")
    return env


def _run(args, cwd, timeout=180):
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _can_build():
    """Whether this environment's setuptools builds the project offline (PEP 639 license: >= 77)."""
    try:
        major = int(importlib.metadata.version("setuptools").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return False
    return major >= 77


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """``(parent, clone, python, site_packages)``: a copy of the package in ``parent/theory`` and a fresh
    virtual environment (no pip of its own) that sees this environment's installed packages."""
    parent = tmp_path_factory.mktemp("holder")
    clone = parent / "theory"
    clone.mkdir()
    for name in BUILD_INPUTS:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, clone / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, clone / name)
    venv = tmp_path_factory.mktemp("venv") / "env"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=parent)
    python = venv / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = Path(_run([python, "-c", where], cwd=parent).strip())
    # This environment's packages (jax, numpy, pip, setuptools...) as plain path entries: a path added by
    # a .pth line is not a site directory, so its own .pth files (this checkout's install) are not run.
    deps = [p for p in [*site.getsitepackages(), sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    (purelib / "_dependencies.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    return parent, clone, python, purelib


def test_the_folder_holding_a_clone_offers_a_namespace_package_without_the_install(fresh):
    """The hazard is real: with nothing installed, ``import theory`` from the clone's parent folder finds
    the clone's root as a namespace package."""
    parent, clone, python, _ = fresh
    out = _run([python, "-c", "import theory; print(getattr(theory, '__file__', None)); print(list(theory.__path__))"],
               cwd=parent)
    file, path = out.splitlines()
    assert file == "None" and str(clone) in path


def test_pyproject_makes_the_editable_install_a_path_entry():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["setuptools"]["package-dir"] == {"": "."}


def test_the_readme_install_imports_the_package_from_the_folder_holding_the_clone(fresh):
    parent, clone, python, purelib = fresh
    if _can_build():
        # The README's `pip install -e .`, run inside the clone, offline.
        _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "-e", "."],
             cwd=clone, timeout=300)
        pth = [p for p in purelib.glob("__editable__*theory*.pth")]
        assert len(pth) == 1, sorted(p.name for p in purelib.iterdir())
        assert pth[0].read_text().split() == [str(clone)], "the editable install must be a plain path entry"
        assert not list(purelib.glob("__editable__*finder*.py")), "setuptools fell back to its import hook"
    else:
        # Simulated: the .pth that `package-dir = {"" = "."}` makes setuptools write.
        (purelib / "__editable__.theory-0.1.0.pth").write_text(f"{clone}\n")

    code = "import theory, theory.verify as v; print(theory.__file__); print(len(v.claims('compsum')))"
    file, count = _run([python, "-c", code], cwd=parent).split()
    assert Path(file) == clone / "theory" / "__init__.py"
    assert int(count) > 0

    script = parent / "analysis.py"
    script.write_text("import theory\nprint(theory.__file__)\nprint(','.join(theory.TOPICS))\n")
    file, topics = _run([python, script.name], cwd=parent).split()
    assert Path(file) == clone / "theory" / "__init__.py"
    assert "compsum" in topics.split(",")
