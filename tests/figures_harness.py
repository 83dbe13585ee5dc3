"""Shared machinery of every ``tests/<topic>/test_figures.py``: each ``experiments/<topic>_*.py`` script
regenerates its PNG + JSON at the smallest setting.

The scripts of a topic run in the worker that runs the topic's smoke-scale claims (``tests/conftest.py``
schedules a topic's files together), so they reuse the programs those claims compiled.
"""

import json
import runpy
import sys
from pathlib import Path

import pytest

from theory import TOPICS

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "experiments").glob("*.py"))


def topic_scripts(topic: str) -> list[Path]:
    """The ``experiments/`` scripts of ``topic`` (named ``<topic>_<figure>.py``)."""
    return [s for s in SCRIPTS if script_topic(s) == topic]


def script_topic(script: Path) -> str:
    """The topic of an ``experiments/`` script: the longest registered topic name its file name starts with."""
    owners = [t for t in TOPICS if script.stem.startswith(f"{t}_")]
    return max(owners, key=len) if owners else ""


def run_script(script: Path, out_dir: Path, monkeypatch) -> None:
    """Run ``script --scale smoke --out out_dir`` in this process and check what it wrote: one PNG and one
    JSON per figure, the PNGs valid images and the JSON files parseable."""
    monkeypatch.setattr(sys, "argv", [str(script), "--scale", "smoke", "--out", str(out_dir)])
    runpy.run_path(str(script), run_name="__main__")
    pngs, jsons = sorted(out_dir.glob("*.png")), sorted(out_dir.glob("*.json"))
    assert pngs and [p.stem for p in pngs] == [j.stem for j in jsons]
    for j in jsons:
        assert json.loads(j.read_text())
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def script_test(topic: str):
    """``test_experiment_script_writes_png_and_json``, parametrised over ``topic``'s scripts."""
    scripts = topic_scripts(topic)

    @pytest.mark.parametrize("script", scripts, ids=[s.stem for s in scripts])
    def test_experiment_script_writes_png_and_json(script, tmp_path, monkeypatch):
        run_script(script, tmp_path, monkeypatch)

    return test_experiment_script_writes_png_and_json
