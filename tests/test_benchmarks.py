"""``python -m benchmarks`` finds every benchmark, runs each in its own process and tabulates every ratio."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import theory

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runner():
    spec = importlib.util.spec_from_file_location("benchmarks_main", ROOT / "benchmarks" / "__main__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_topic_has_a_benchmark_the_runner_lists(runner):
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--list"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == list(runner.available()) and {"losses", "import"} <= set(out)
    assert all(any(name.startswith(topic) for name in out) for topic in theory.TOPICS)


def test_ratios_are_collected_wherever_they_are_nested(runner):
    result = {"device": "cpu", "ratios": {"a / b": 2.0, "note": "x"},
              "generator": {"rows": {"x": [0.1, 0.2]}, "ratios": {"gen / sort": 1.5}}}
    assert runner.ratios(result) == [("-", "a / b", 2.0), ("generator", "gen / sort", 1.5)]
    table = runner.markdown({"demo": result, "broken": {"error": "Traceback\nValueError: boom"}})
    assert "| demo | generator | gen / sort | 1.5 |" in table and "| broken | - | failed | ValueError: boom |" in table


def test_a_benchmark_runs_in_its_own_process_and_its_failure_is_recorded(runner, tmp_path):
    good, bad = tmp_path / "good_bench.py", tmp_path / "bad_bench.py"
    good.write_text("import json, sys\njson.dump({'ratios': {'r': 3.0}}, open(sys.argv[2], 'w'))\n")
    bad.write_text("raise SystemExit('no such device')\n")
    assert runner.run("good", good)["ratios"] == {"r": 3.0}
    assert "no such device" in runner.run("bad", bad)["error"]
