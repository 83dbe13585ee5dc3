"""The shared figure style and plumbing: one look for every topic's figures, predictions drawn as lines
and the measurements behind the claims as points with confidence intervals, each figure saved with the
JSON numbers behind it.

Matplotlib is imported when a figure module is first used (``theory.<topic>.figures``), never by the
topics themselves.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["save", "regenerate", "main", "plt", "series_style", "predicted", "measured", "STYLE"]

#: rcParams shared by every figure.
STYLE = {
    "figure.dpi": 120,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
}
plt.rcParams.update(STYLE)

_COLOURS = plt.get_cmap("tab10").colors
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h")
_LINES = ("-", "--", "-.", ":")


def series_style(i: int) -> dict:
    """Colour, marker and line style of the ``i``-th series: distinct for any number of series (a colour
    repeats only with another marker and line style)."""
    return {"color": _COLOURS[i % len(_COLOURS)], "marker": _MARKERS[i % len(_MARKERS)],
            "linestyle": _LINES[(i // len(_COLOURS)) % len(_LINES)]}


def predicted(ax, x, y, *, label=None, **kwargs):
    """Draw a prediction (a closed form) as a line."""
    kwargs.setdefault("linewidth", 1.5)
    return ax.plot(x, y, label=label, **kwargs)


def measured(ax, x, estimate, *, low=None, high=None, stderr=None, k: float = 1.96, label=None, **kwargs):
    """Draw a measurement as points with a confidence interval: ``[low, high]``, or ``estimate +- k stderr``.

    The interval is the one the claim's comparison uses when ``k`` matches its ``k_se``.
    """
    estimate = np.asarray(estimate, dtype=float)
    if stderr is not None:
        low, high = estimate - k * np.asarray(stderr), estimate + k * np.asarray(stderr)
    yerr = None if low is None else np.vstack([estimate - np.asarray(low), np.asarray(high) - estimate])
    kwargs.setdefault("fmt", kwargs.pop("marker", "o"))
    kwargs.pop("linestyle", None)
    kwargs.setdefault("markersize", 4)
    kwargs.setdefault("capsize", 2)
    return ax.errorbar(x, estimate, yerr=yerr, label=label, **kwargs)


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
