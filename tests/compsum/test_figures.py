"""The compsum figure scripts (``experiments/compsum_*.py``) regenerate their PNG + JSON at the smallest setting."""

from pathlib import Path

from tests.figures_harness import script_test, topic_scripts
from theory import cli

test_experiment_script_writes_png_and_json = script_test("compsum")


def test_figures_command(tmp_path, capsys):
    """``theory figures compsum`` writes a PNG and a JSON for every compsum script, and prints their paths."""
    assert cli.main(["figures", "compsum", "--scale", "smoke", "--out", str(tmp_path)]) == 0
    written = capsys.readouterr().out.split()
    assert len(written) == 2 * len(topic_scripts("compsum")) and all(Path(w).exists() for w in written)
