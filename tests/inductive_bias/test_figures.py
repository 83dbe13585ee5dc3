"""The inductive_bias figure scripts (``experiments/inductive_bias_*.py``) regenerate their PNG + JSON at the
smallest setting."""

from tests.figures_harness import script_test

test_experiment_script_writes_png_and_json = script_test("inductive_bias")
