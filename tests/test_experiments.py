"""Each experiments/ script and `theory figures` regenerate their PNG + JSON at the smallest setting."""

import json
import runpy
import sys
from pathlib import Path

import pytest

from theory import cli

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "experiments").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_experiment_script_writes_png_and_json(script, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(script), "--scale", "smoke", "--out", str(tmp_path)])
    runpy.run_path(str(script), run_name="__main__")
    pngs, jsons = sorted(tmp_path.glob("*.png")), sorted(tmp_path.glob("*.json"))
    assert pngs and [p.stem for p in pngs] == [j.stem for j in jsons]
    for j in jsons:
        assert json.loads(j.read_text())
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_command(tmp_path, capsys):
    assert cli.main(["figures", "compsum", "--scale", "smoke", "--out", str(tmp_path)]) == 0
    written = capsys.readouterr().out.split()
    compsum_scripts = [s for s in SCRIPTS if s.stem.startswith("compsum_")]
    assert len(written) == 2 * len(compsum_scripts) and all(Path(w).exists() for w in written)


def test_figures_unknown_topic_is_a_usage_error():
    with pytest.raises(SystemExit) as e:
        cli.main(["figures", "nope"])
    assert e.value.code == 2
