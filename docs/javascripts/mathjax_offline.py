"""MkDocs hook: serve MathJax from the site itself, copied from an installed package (no CDN).

The MathJax 3 browser bundle (``es5/``) ships inside the ``django-static-mathjax`` distribution on
PyPI (import name ``mathjax``, no dependencies; the ``docs`` extra installs it). On every build this
hook adds the parts the pages use to the site under ``javascripts/mathjax/``, as if they were in
``docs/``, so the documentation renders its mathematics offline and ``mkdocs serve`` works too:

- ``tex-svg.js``: TeX input, SVG output with its glyphs built in (no web fonts to fetch, so a
  formula renders the same in every browser, headless ones included), the context menu and
  assistive MathML;
- ``input/``: the TeX extensions that ``tex-svg.js`` autoloads on first use (``\\boldsymbol``...);
- ``ui/``, ``a11y/``, ``sre/``: what the menu loads on demand (explorer, speech).

``mkdocs.yml`` lists ``javascripts/mathjax/tex-svg.js`` in ``extra_javascript``, after
``javascripts/mathjax-config.js`` (the configuration for ``pymdownx.arithmatex`` in generic mode).
MathJax finds its other files relative to the URL of ``tex-svg.js``.
"""

from __future__ import annotations

import importlib.resources
import os

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

#: Where the bundle goes in the site.
TARGET = "javascripts/mathjax"
#: The parts of MathJax's ``es5/`` folder the site needs.
PARTS = ("tex-svg.js", "input", "ui", "a11y", "sre")


def bundle_dir() -> str:
    """Path of MathJax's ``es5/`` folder inside the installed ``django-static-mathjax`` package."""
    try:
        root = importlib.resources.files("mathjax") / "static" / "mathjax" / "es5"
    except ModuleNotFoundError as exc:  # pragma: no cover - message only
        raise PluginError(
            "MathJax is not installed: the docs need the 'django-static-mathjax' package "
            "(pip install -e \".[docs]\")") from exc
    path = os.fspath(root)
    if not os.path.isfile(os.path.join(path, "tex-svg.js")):
        raise PluginError(f"no MathJax es5 bundle at {path}: reinstall 'django-static-mathjax'")
    return path


def bundle_files() -> list[tuple[str, str]]:
    """``(path inside the site, absolute source path)`` of every file the site serves."""
    es5 = bundle_dir()
    out = []
    for part in PARTS:
        src = os.path.join(es5, part)
        if os.path.isfile(src):
            out.append((f"{TARGET}/{part}", src))
            continue
        for folder, _, names in os.walk(src):
            for name in sorted(names):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, es5).replace(os.sep, "/")
                out.append((f"{TARGET}/{rel}", path))
    return out


def on_files(files, *, config):
    """Add the MathJax bundle to the files MkDocs copies into the site."""
    for uri, src in bundle_files():
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, abs_src_path=src))
    return files
