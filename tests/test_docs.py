"""The documentation builds with warnings as errors (mkdocs --strict), renders its mathematics with a
MathJax bundle served from the site itself (no CDN), lists every page, and the import rules of
docs/architecture.md hold in the code."""

import ast
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import theory

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built once by ``mkdocs build --strict`` into a temporary folder."""
    out = tmp_path_factory.mktemp("docs") / "site"
    mkdocs = Path(sys.executable).parent / "mkdocs"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([str(mkdocs), "build", "--strict", "-q", "-d", str(out)], cwd=ROOT,
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_docs_build_strict_with_the_api_reference(site):
    api = (site / "api" / "index.html").read_text()
    for name in ("consistency_bound", "comp_sum_loss", "min_conditional_risk", "Measurement"):
        assert name in api


def test_every_page_is_in_the_nav_and_links_glossary_and_architecture():
    config = (ROOT / "mkdocs.yml").read_text()
    for page in sorted(DOCS.glob("*.md")):
        assert re.search(rf":\s*{re.escape(page.name)}\s*$", config, flags=re.M), f"{page.name} is not in the nav"
    index = (DOCS / "index.md").read_text()
    assert "(glossary.md)" in index and "(architecture.md)" in index


def test_mathematics_is_typeset_by_the_bundled_mathjax(site):
    page = (site / "compsum" / "index.html").read_text()
    assert 'class="arithmatex"' in page  # pymdownx.arithmatex, generic mode
    scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', page)
    assert "../javascripts/mathjax-config.js" in scripts
    assert "../javascripts/mathjax/tex-svg.js" in scripts
    assert scripts.index("../javascripts/mathjax-config.js") < scripts.index("../javascripts/mathjax/tex-svg.js")
    bundle = site / "javascripts" / "mathjax"
    assert "MathJax" in (bundle / "tex-svg.js").read_text()[:20000]
    assert (bundle / "input" / "tex" / "extensions" / "boldsymbol.js").is_file()  # autoloaded on first use
    assert not list(site.rglob("*.py"))  # the hook itself stays out of the site


def _resources(html):
    """URLs a page loads by itself: script sources, stylesheets, icons, preloads, images, CSS imports."""
    urls = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    urls += [href for tag in re.findall(r"<link\b[^>]*>", html)
             if not re.search(r'rel="(prev|next|canonical)"', tag)
             for href in re.findall(r'\bhref="([^"]+)"', tag)]
    urls += re.findall(r'<img[^>]*\bsrc="([^"]+)"', html)
    urls += re.findall(r"@import\s+(?:url\()?['\"]?([^'\")\s;]+)", html)
    return urls


def test_no_page_references_a_cdn(site):
    config = (ROOT / "mkdocs.yml").read_text()
    assert not re.search(r"^\s*-\s*(https?:)?//", config, flags=re.M), "mkdocs.yml loads a remote script or style"
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 8
    for page in pages:
        html = page.read_text()
        remote = [url for url in _resources(html) if re.match(r"(https?:)?//", url)]
        assert not remote, f"{page.relative_to(site)} loads {remote}"
        assert "cdn." not in html.lower(), f"{page.relative_to(site)} mentions a CDN"
    for css in site.rglob("*.css"):
        assert not re.search(r"(@import|url\()\s*['\"]?(https?:)?//", css.read_text()), css.name


def test_glossary_defines_the_input_policy_anchor(site):
    glossary = (site / "glossary" / "index.html").read_text()
    assert 'id="input-policy"' in glossary
    for word in ("num_classes", "dim", "num_samples", "noise_var", "key", "replicate", "INCONCLUSIVE"):
        assert word in glossary


# ---------------------------------------------------------------------------------------------------------------------
# The import rules of docs/architecture.md, read from the code with ast (deferred imports inside functions count too).

PACKAGE = ROOT / "theory"
TOPICS = tuple(theory.TOPICS)
SHARED = ("theory._validation", "theory._random", "theory._training", "theory._compat", "theory.logspace")
#: Shared modules above the base: the figure style (may import the engine) and the loss registry (names
#: the topics' losses as "module:function" strings resolved on first call, never by an import statement:
#: the input checks live in theory._validation).
FIGURES, REGISTRY = "theory._figures", "theory.losses"
OUTSIDE = ("tests", "experiments", "proofs", "benchmarks")


def _module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules():
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name, path, known):
    """``{(imported module, imported name or None)}`` of one module, relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.add((sub, None) if sub in known else (source, alias.name))
    return found


@pytest.fixture(scope="module")
def graph():
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def _topic(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "theory" and parts[1] in TOPICS else None


def test_the_engine_imports_no_topic_and_no_cli(graph):
    bad = [(m, i) for m, imports in graph.items() if m == "theory.verify" or m.startswith("theory.verify.")
           for i, _ in imports if _topic(i) or i.startswith("theory.cli")]
    assert not bad, f"theory.verify must not know the topics or the CLI: {bad}"


def test_nothing_under_theory_imports_the_cli_except_its_entry_point(graph):
    bad = [(m, i) for m, imports in graph.items() if m not in ("theory.cli", "theory.__main__")
           for i, _ in imports if i == "theory.cli" or i.startswith("theory.cli.")]
    assert not bad, bad


def test_the_shared_layer_imports_no_topic(graph):
    base = [(m, i) for m in SHARED if m in graph for i, _ in graph[m]
            if i.startswith("theory.") and i not in SHARED]
    assert not base, f"the base of the shared layer imports only itself from theory: {base}"
    figures = [i for i, _ in graph.get(FIGURES, ()) if _topic(i) or i.startswith("theory.cli")]
    assert not figures, figures
    registry = [i for i, _ in graph.get(REGISTRY, ()) if _topic(i) or i.startswith(("theory.cli", "theory.verify"))]
    assert not registry, registry


def test_importing_theory_imports_no_submodule(graph):
    assert not [i for i, _ in graph["theory"] if i.startswith("theory.")]


def test_the_library_does_not_import_tests_experiments_proofs_or_benchmarks(graph):
    bad = [(m, i) for m, imports in graph.items() for i, _ in imports if i.split(".")[0] in OUTSIDE]
    assert not bad, bad


def test_topics_use_only_public_names_of_other_topics(graph):
    """Outside a topic (another topic, the loss registry, the engine, the CLI) only its public names are used."""
    bad = []
    for module, imports in graph.items():
        own = _topic(module)
        for target, name in imports:
            other = _topic(target)
            if other and other != own:
                private = [p for p in target.split(".") + [name or ""] if p.startswith("_") and p != "__init__"]
                if private:
                    bad.append((module, target, name))
    assert not bad, f"a topic reaches into another topic's private names: {bad}"


def _cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _part(module):
    """The part of the library a module belongs to: its topic package, ``theory.verify``, or the module."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else module


def test_the_parts_of_the_library_import_each_other_without_a_cycle(graph):
    edges = defaultdict(set)
    for module, imports in graph.items():
        for target, _ in imports:
            if target.startswith("theory") and _part(target) != _part(module):
                edges[_part(module)].add(_part(target))
    assert not _cycles(edges), f"import cycles between parts of theory: {_cycles(edges)}"


def test_the_architecture_page_names_the_tests_that_enforce_it():
    page = (DOCS / "architecture.md").read_text()
    named = set(re.findall(r"`(test_[a-z0-9_]+)`", page))
    defined = {name for name, value in globals().items() if name.startswith("test_") and callable(value)}
    assert named and named <= defined, sorted(named - defined)


@pytest.mark.parametrize("topic", TOPICS)
def test_modules_of_a_topic_do_not_import_each_other_in_a_cycle(graph, topic):
    prefix = f"theory.{topic}."
    edges = defaultdict(set)
    for module, imports in graph.items():
        if module.startswith(prefix):
            edges[module].update(i for i, _ in imports if i.startswith(prefix) and i != module)
    assert not _cycles(edges), f"import cycles in theory.{topic}: {_cycles(edges)}"


def test_the_import_graph_helpers_see_relative_and_deferred_imports(tmp_path):
    """Planted check of the parser: ``from . import x`` resolves to the submodule, function bodies count."""
    known = {"theory.t": None, "theory.t.a": None, "theory.t.b": None}
    path = tmp_path / "a.py"
    path.write_text("from . import b\ndef f():\n    from .b import g\n    import theory.t\n")
    assert _imports("theory.t.a", path, known) == {("theory.t.b", None), ("theory.t.b", "g"), ("theory.t", None)}
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
