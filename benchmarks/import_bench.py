"""Import time of every topic, as a ratio against ``python -c "import jax"`` in the same environment.

Each target is imported in a fresh interpreter (``python -X importtime -c "import <target>"``) and every
name of its ``__all__`` is looked up (a topic that loads its submodules lazily pays for them then, as a
user does on first use); the baseline is the plain ``import jax``. Each runs ``--runs`` times, the
targets interleaved round-robin so that a slow spell of the machine hits them all alike, after one
warm-up run each (byte-code compilation, file cache). For each target it reports the median wall time
of the whole command (interpreter start included, as a user sees it) and the median total of
``-X importtime`` (the interpreter's own account of the imports), each also as a ratio to the jax
baseline. The library aims at a ratio of at most 1.2 for every topic; heavy optional libraries
(cvxpy, matplotlib, sympy) are imported on first use (``tests/test_imports.py`` checks that they are
not imported at all).

Usage: python benchmarks/import_bench.py [--runs 7] [--json FILE] [TARGET ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import theory  # noqa: E402  (only TOPICS: imports nothing else)

BASELINE = "jax"
DEFAULT_TARGETS = ("theory", "theory.verify", "theory.losses", *(f"theory.{t}" for t in theory.TOPICS))
_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)")


def importtime_total(stderr: str) -> float:
    """Seconds: the sum of the cumulative times of the top-level entries of ``-X importtime``."""
    total = 0
    for line in stderr.splitlines():
        m = _LINE.match(line)
        if m and len(m.group(3)) == 1:  # one space: a top-level import, not a nested one
            total += int(m.group(2))
    return total / 1e6


def measure(target: str, env: dict) -> tuple[float, float]:
    """``(wall seconds, -X importtime seconds)`` of one fresh ``import target``."""
    t0 = time.perf_counter()
    code = f"import {target}"
    if target != BASELINE:
        code += " as m\nfor n in getattr(m, '__all__', ()): getattr(m, n)"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"import {target} failed:\n{proc.stderr[-2000:]}")
    return wall, importtime_total(proc.stderr)


def run(targets, runs: int) -> dict:
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    order = (BASELINE, *targets)
    for target in order:  # warm-up: byte-code, file cache
        measure(target, env)
    samples = {t: [] for t in order}
    for _ in range(runs):
        for target in order:
            samples[target].append(measure(target, env))
    medians = {t: (statistics.median(w for w, _ in s), statistics.median(i for _, i in s)) for t, s in samples.items()}
    base_wall, base_imp = medians[BASELINE]
    return {
        "python": sys.version.split()[0],
        "runs": runs,
        "rows": [{"target": t, "wall_s": w, "importtime_s": i,
                  "wall_ratio": w / base_wall, "importtime_ratio": i / base_imp} for t, (w, i) in medians.items()],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", default=list(DEFAULT_TARGETS))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = run(args.targets, args.runs)
    print(f"median of {result['runs']} fresh interpreters each (Python {result['python']}); "
          f"ratio = target / `import {BASELINE}`")
    print(f"{'import':<20} {'wall s':>8} {'ratio':>6} {'importtime s':>13} {'ratio':>6}")
    for row in result["rows"]:
        flag = "" if row["target"] == BASELINE or row["wall_ratio"] <= 1.2 else "  > 1.2x"
        print(f"{row['target']:<20} {row['wall_s']:>8.3f} {row['wall_ratio']:>6.2f} "
              f"{row['importtime_s']:>13.3f} {row['importtime_ratio']:>6.2f}{flag}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
