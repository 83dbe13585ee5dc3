"""The README's Python examples run as written, use no deprecated name, and its set-up commands, links
and layout table match the repository."""

import re
import subprocess
import warnings
from pathlib import Path

import pytest

import theory

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)
SETUP = ('python3 -m venv .venv && . .venv/bin/activate && pip install -e . && theory verify',
         'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test,docs]" && python -m pytest')


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    name = f"README block {index}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(compile(BLOCKS[index], name, "exec"), {})
    assert capsys.readouterr().out.strip()
    # A deprecated call of the README's: a warning filed under the block's name, or one that names a
    # function the block calls ("consistency_bound: 'n_classes' is deprecated; ..."), wherever it is filed.
    called = set(re.findall(r"\b(\w+)\(", BLOCKS[index]))
    stale = [f"{w.category.__name__}: {w.message}" for w in caught
             if issubclass(w.category, DeprecationWarning | FutureWarning)
             and (w.filename == name or str(w.message).split(":")[0].strip() in called)]
    assert not stale, f"the README example uses deprecated names: {stale}"


def test_readme_has_the_two_setup_commands():
    assert 'pip install -e . && theory verify' in README
    assert 'pip install -e ".[test,docs]" && python -m pytest' in README


def test_the_setup_commands_agree_with_the_docs_and_ci():
    index = (ROOT / "docs" / "index.md").read_text()
    for command in SETUP:
        assert command in README and command in index
    assert SETUP[1] in (ROOT / ".ci" / "run").read_text()


def test_readme_links_point_to_files():
    links = [link for link in re.findall(r"\]\(([^)\s]+)\)", README) if "://" not in link and not link.startswith("#")]
    assert links
    missing = [link for link in links if not (ROOT / link.split("#")[0]).exists()]
    assert not missing, missing


def _layout_paths():
    section = README.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {path for row in rows for path in re.findall(r"`([^`]+)`", row.split("|")[1])}


def _top_level_folders():
    """Folders at the repository root that hold tracked files (every non-hidden folder without git)."""
    try:
        files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        files = []
    if files:
        return {f.split("/")[0] for f in files if "/" in f}
    return {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")
            and not p.name.endswith(".egg-info") and p.name not in ("site", "build", "dist", "__pycache__")}


def test_readme_layout_lists_every_folder_topic_and_shared_module():
    listed = _layout_paths()
    folders = _top_level_folders()
    assert {"theory", "tests", "docs"} <= folders
    missing = [f"{folder}/" for folder in sorted(folders) if not any(p.startswith(f"{folder}/") for p in listed)]
    package = ROOT / "theory"
    missing += [f"theory/{topic}/" for topic in theory.TOPICS if f"theory/{topic}/" not in listed]
    missing += [f"theory/{p.name}/" for p in sorted(package.iterdir())
                if (p / "__init__.py").is_file() and f"theory/{p.name}/" not in listed]
    missing += [f"theory/{p.name}" for p in sorted(package.glob("*.py")) if f"theory/{p.name}" not in listed]
    assert not missing, f"the README's layout table misses {missing}"
    stale = [path for path in listed if not (ROOT / path).exists()]
    assert not stale, f"the README's layout table lists paths that do not exist: {stale}"
