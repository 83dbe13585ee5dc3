"""Shared plumbing for figure scripts: save a matplotlib figure with the JSON numbers behind it."""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["save", "regenerate", "main", "plt"]


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray | np.generic):
        return _jsonable(x.tolist())
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def save(fig, data: dict, out_dir: str | Path, name: str) -> list[Path]:
    """Write ``<name>.png`` and ``<name>.json`` (the plotted numbers) to ``out_dir``; close ``fig``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png, js = out / f"{name}.png", out / f"{name}.json"
    fig.savefig(png, dpi=120, bbox_inches="tight")
    plt.close(fig)
    js.write_text(json.dumps(_jsonable(data), indent=1, allow_nan=False) + "\n")
    return [png, js]


def regenerate(topic: str, names: list[str] | None = None, *, out_dir, scale: str, seed: int):
    """Yield ``(name, paths)`` for each figure ``names`` (all by default) of ``topic``, as it is written."""
    from theory.verify import SCALES

    if scale not in SCALES:
        raise ValueError(f"scale must be one of {list(SCALES)}, got {scale!r}")
    figures = importlib.import_module(f"theory.{topic}.figures").FIGURES
    for name in names or list(figures):
        yield name, figures[name](out_dir=out_dir, scale=scale, seed=seed)


def main(topic: str, names: list[str] | None = None, argv: list[str] | None = None) -> list[Path]:
    """Command-line entry of an ``experiments/`` script: regenerate ``names`` of ``topic``."""
    from theory.verify import SCALES

    parser = argparse.ArgumentParser(description=f"Regenerate {topic} figures (PNG + JSON).")
    parser.add_argument("--scale", default="default", choices=SCALES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "figures")
    args = parser.parse_args(argv)
    paths = [p for _, ps in regenerate(topic, names, out_dir=args.out, scale=args.scale, seed=args.seed) for p in ps]
    for p in paths:
        print(p)
    return paths
