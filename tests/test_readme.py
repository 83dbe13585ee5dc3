"""The README's Python examples run as written."""

import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"README block {index}", "exec"), {})
    assert capsys.readouterr().out.strip()


def test_readme_has_the_two_setup_commands():
    assert 'pip install -e . && theory verify' in README
    assert 'pip install -e ".[test,docs]" && python -m pytest' in README
