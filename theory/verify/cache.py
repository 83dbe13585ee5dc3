"""The persistent compilation cache of ``theory verify`` and ``theory figures``.

JAX can keep compiled XLA executables on disk and reuse them in later processes. The claims compile
hundreds of small functions, so a second run of ``theory verify`` spends most of its compile time
reading them back instead. The command line turns the cache on by default; a script turns it on with
:func:`enable_compile_cache`. Importing ``theory`` never changes JAX's configuration.

Where the cache lives:

1. ``$THEORY_COMPILE_CACHE_DIR`` when set (``theory verify`` then uses that folder);
2. otherwise the user's cache folder: ``$XDG_CACHE_HOME/theory/jax`` (``~/.cache/theory/jax`` when unset)
   on Linux, ``~/Library/Caches/theory/jax`` on macOS, ``%LOCALAPPDATA%\\theory\\cache\\jax`` on Windows.

``theory verify --no-compile-cache`` (and ``theory figures --no-compile-cache``) leaves JAX's cache
settings untouched. Deleting the folder is always safe: entries are keyed on the computation, the JAX
and XLA versions, the backend and the compile options, and a missing entry is compiled again.

References:
    JAX documentation, "Persistent compilation cache"; docs/verify.md, "Speed".
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["ENV_VAR", "default_cache_dir", "enable_compile_cache"]

#: The environment variable that relocates the cache.
ENV_VAR = "THEORY_COMPILE_CACHE_DIR"

#: Compiles faster than this are not written. Every compile is kept: a default-scale run makes about 860
#: compiles, 600 of them under 50 ms each, and reading one back costs about 5 ms (measured: the warm run's compile
#: time falls from 47 s to 30 s on 2 CPU cores when the small ones are kept too).
MIN_COMPILE_SECONDS = 0.0


def default_cache_dir() -> Path:
    """The cache folder: ``$THEORY_COMPILE_CACHE_DIR``, else the platform's user cache folder + ``theory/jax``."""
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return Path(override).expanduser()
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "theory" / "cache"
        return base / "jax"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache")
    return base / "theory" / "jax"


def enable_compile_cache(path: str | os.PathLike | None = None) -> Path | None:
    """Turn on JAX's persistent compilation cache in ``path`` (default :func:`default_cache_dir`).

    Creates the folder. Returns it, or ``None`` (with the cache left off) when it cannot be created or
    written: a read-only home must not stop a verification run.

    Args:
        path: the cache folder; ``None`` for the default.

    Returns:
        The folder in use, or ``None``.
    """
    import jax

    folder = Path(path).expanduser() if path is not None else default_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _reset_jax_cache()
    return folder


def write_json(path: Path, data) -> None:
    """Write ``data`` as JSON to ``path`` whole: into a temporary file beside it, then renamed into place, so a
    process started beside this one never reads half of it. Raises ``OSError`` (nothing is left behind)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _reset_jax_cache() -> None:
    """JAX decides once per process, at its first compile, whether the cache is on: make it decide again, so a
    process that compiled before this call (an import, a test) uses the folder too."""
    try:
        from jax._src import compilation_cache
    except ImportError:  # a JAX without the module: the setting applies from the next process on
        return
    reset = getattr(compilation_cache, "reset_cache", None)
    if reset is not None:
        reset()
