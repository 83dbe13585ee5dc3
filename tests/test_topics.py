"""Every topic in ``theory.TOPICS`` is complete: claims, figures with their scripts, proofs, docs."""

import importlib
import re
from pathlib import Path

import pytest

import theory
from theory import verify

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("topic", theory.TOPICS)
def test_topic_registers_claims(topic):
    found = verify.claims(topic)
    assert found, f"topic {topic!r} registers no claim"
    for c in found:
        assert c.id.startswith(f"{topic}.") and c.topic == topic
        assert c.reference and c.statement and c.compare.kind in {"agrees", "holds", "rate"}
        assert "smoke" in c.configs or not c.configs, f"{c.id}: a config must start at the smoke scale"


@pytest.mark.parametrize("topic", theory.TOPICS)
def test_every_figure_has_a_script_and_a_docs_image(topic):
    figures = importlib.import_module(f"theory.{topic}.figures").FIGURES
    assert figures, f"topic {topic!r} has no figure"
    for name in figures:
        assert (ROOT / "experiments" / f"{topic}_{name}.py").is_file(), f"no experiments script for {name}"
        assert (ROOT / "docs" / "figures" / f"{topic}_{name}.png").is_file(), f"no docs image for {name}"


@pytest.mark.parametrize("topic", theory.TOPICS)
def test_topic_has_proofs_docs_and_tests(topic):
    proofs = importlib.import_module(f"proofs.{topic}")
    assert proofs.CHECKS and callable(proofs.run_all)
    page = ROOT / "docs" / f"{topic}.md"
    assert f"{topic}.md" in (ROOT / "mkdocs.yml").read_text()
    assert re.search(rf"theory\.{topic}\b", page.read_text()), f"docs/{topic}.md does not document theory.{topic}"
    assert list((ROOT / "tests" / topic).glob("test_claims.py")), f"tests/{topic}/test_claims.py is missing"
    assert list((ROOT / "benchmarks").glob(f"{topic}_*.py")), f"no benchmark for {topic}"
