"""Run every benchmark and collect their ratios: ``python -m benchmarks [NAME ...] [--out DIR]``.

Each ``benchmarks/<name>_bench.py`` runs in its own process (ratios are measured against a reference in that
process) and writes its JSON; this collects them into ``<out>/latest.json`` and a Markdown table of every
ratio, ``<out>/latest.md`` (default ``benchmarks/results``). ``--list`` prints the benchmark names.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> dict[str, Path]:
    """``name -> script`` for every ``*_bench.py`` next to this file."""
    return {p.stem.removesuffix("_bench"): p for p in sorted(HERE.glob("*_bench.py"))}


def ratios(result, prefix: str = "") -> list[tuple[str, str, float]]:
    """Every ratio of a benchmark's JSON as ``(section, label, value)``: the entries of each ``"ratios"`` mapping,
    wherever it is nested (its section is the path of keys above it)."""
    out = []
    if isinstance(result, dict):
        for key, value in result.items():
            if key == "ratios" and isinstance(value, dict):
                out += [(prefix or "-", str(k), float(v)) for k, v in value.items() if isinstance(v, int | float)]
            else:
                out += ratios(value, f"{prefix}/{key}" if prefix else str(key))
    return out


def markdown(results: dict) -> str:
    """The Markdown table of every ratio, one row per (benchmark, section, ratio)."""
    lines = ["| benchmark | section | ratio | value |", "|---|---|---|---|"]
    for name, result in results.items():
        if "error" in result:
            lines.append(f"| {name} | - | failed | {result['error'].splitlines()[-1][:80]} |")
        for section, label, value in ratios(result):
            lines.append(f"| {name} | {section} | {label} | {value:.3g} |")
    return "\n".join(lines) + "\n"


def run(name: str, script: Path) -> dict:
    """One benchmark in a fresh process; its JSON, or ``{"error": ...}``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.json"
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script), "--json", str(path)], capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0 or not path.exists():
            return {"error": (proc.stderr or proc.stdout).strip()[-2000:] or f"exit {proc.returncode}",
                    "seconds": seconds}
        result = json.loads(path.read_text())
    return {**result, "seconds": seconds} if isinstance(result, dict) else {"result": result, "seconds": seconds}


def main(argv=None) -> int:
    scripts = available()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run ({', '.join(scripts)}); default all")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="output folder (default benchmarks/results)")
    parser.add_argument("--list", action="store_true", help="print the benchmark names and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(scripts))
        return 0
    unknown = [n for n in args.names if n not in scripts]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; known: {', '.join(scripts)}")
    import jax

    results = {}
    for name in args.names or list(scripts):
        print(f"== {name}", file=sys.stderr, flush=True)
        results[name] = run(name, scripts[name])
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"environment": {"python": sys.version.split()[0], "jax": jax.__version__,
                               "platform": platform.platform(), "devices": [str(d) for d in jax.devices()]},
               "benchmarks": results}
    (args.out / "latest.json").write_text(json.dumps(summary, indent=1) + "\n")
    (args.out / "latest.md").write_text(markdown(results))
    print(markdown(results))
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
