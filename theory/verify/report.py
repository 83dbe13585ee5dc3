"""``Report``: the verdicts of one run, as a table, JSON and Markdown."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from theory.verify.compare import Verdict

__all__ = ["Report", "COLUMNS", "STATUSES"]

COLUMNS = ("claim", "reference", "kind", "prediction", "measurement (95% CI)", "status", "nearest rival",
           "seconds (compile + run)")
#: The verdict statuses, best first.
STATUSES = ("PASS", "INCONCLUSIVE", "FAIL")


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.6g}"


def _measured(v: Verdict) -> str:
    if v.error is not None:
        return "error"
    if v.ci_low == v.ci_high:
        return _fmt(v.estimate)
    return f"{_fmt(v.estimate)} [{_fmt(v.ci_low)}, {_fmt(v.ci_high)}]"


def _worst(w) -> str:
    return w if isinstance(w, str) else ("-" if w is None else f"{w:.3g}")


def rival_summary(v: Verdict) -> str:
    """The nearest rival that was not rejected (``name accepted (worst)``), or, when all were rejected,
    ``all N rejected; nearest name (worst)``; ``-`` when there are none."""
    r = v.nearest_rival
    if r is None:
        return "-"
    if r["passed"] is not False:
        return f"{r['name']} {'accepted' if r['passed'] else 'raised'} ({_worst(r['worst'])})"
    return f"all {len(v.rivals)} rejected; nearest {r['name']} ({_worst(r['worst'])})"


def _row(v: Verdict) -> tuple[str, ...]:
    return (
        v.claim_id,
        v.reference,
        v.kind,
        _fmt(v.prediction),
        _measured(v),
        v.status or ("PASS" if v.passed else "FAIL"),
        rival_summary(v),
        f"{v.seconds_compile:.2f} + {v.seconds_run:.2f}",
    )


@dataclasses.dataclass
class Report:
    """The verdicts of one run, with its scale, seed, wall time and environment."""

    verdicts: list[Verdict]
    scale: str
    seed: int
    seconds: float
    environment: dict = dataclasses.field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when every claim's own prediction was accepted (no FAIL; INCONCLUSIVE counts as passed)."""
        return all(v.passed for v in self.verdicts)

    @property
    def failed(self) -> list[Verdict]:
        """The verdicts with status FAIL."""
        return [v for v in self.verdicts if not v.passed]

    @property
    def inconclusive(self) -> list[Verdict]:
        """The verdicts whose prediction was accepted but some rival too."""
        return [v for v in self.verdicts if v.status == "INCONCLUSIVE"]

    @property
    def counts(self) -> dict[str, int]:
        """The number of verdicts per status (``PASS``, ``INCONCLUSIVE``, ``FAIL``)."""
        return {s: sum(v.status == s for v in self.verdicts) for s in STATUSES}

    @property
    def exit_code(self) -> int:
        """``theory verify``'s exit status: 0 all PASS, 1 any FAIL, 3 some INCONCLUSIVE and no FAIL."""
        return 1 if self.failed else (3 if self.inconclusive else 0)

    @property
    def seconds_compile(self) -> float:
        """Seconds spent compiling (tracing, lowering, XLA), summed over the claims."""
        return float(sum(v.seconds_compile for v in self.verdicts))

    @property
    def seconds_run(self) -> float:
        """Seconds spent measuring, predicting and comparing outside compilation, summed over the claims."""
        return float(sum(v.seconds_run for v in self.verdicts))

    def rows(self) -> list[tuple[str, ...]]:
        return [_row(v) for v in self.verdicts]

    def summary(self) -> str:
        c = self.counts
        return (f"{c['PASS']}/{len(self.verdicts)} claims PASS, {c['INCONCLUSIVE']} INCONCLUSIVE, {c['FAIL']} FAIL "
                f"at scale {self.scale!r}, seed {self.seed}, in {self.seconds:.1f} s "
                f"(compile {self.seconds_compile:.1f} s, run {self.seconds_run:.1f} s{self._over_processes()})")

    def _over_processes(self) -> str:
        workers = self.environment.get("worker_processes", 1)
        return f", summed over {workers} worker processes" if workers > 1 else ""

    def table(self) -> str:
        """A plain-text table (the CLI prints a richer one when it can)."""
        rows = [COLUMNS, *self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([*lines, "", self.summary()])

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> dict:
        return {
            "scale": self.scale,
            "seed": self.seed,
            "passed": self.passed,
            "counts": self.counts,
            "seconds": self.seconds,
            "seconds_compile": self.seconds_compile,
            "seconds_run": self.seconds_run,
            "environment": self.environment,
            "verdicts": [v.to_dict() for v in self.verdicts],
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """The report as JSON (top-level ``verdicts`` list, ``counts`` per status); written to ``path`` when
        given."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    def to_markdown(self, path: str | Path | None = None) -> str:
        """The claims table as Markdown; written to ``path`` when given."""
        head = "| " + " | ".join(COLUMNS) + " |"
        sep = "|" + "|".join("---" for _ in COLUMNS) + "|"
        body = ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in self.rows()]
        text = "\n".join([head, sep, *body, "", self.summary(), ""])
        if path is not None:
            Path(path).write_text(text)
        return text
