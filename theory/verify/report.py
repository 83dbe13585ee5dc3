"""``Report``: the verdicts of one run, as a table, JSON and Markdown."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from theory.verify.compare import Verdict

__all__ = ["Report"]

COLUMNS = ("claim", "reference", "kind", "prediction", "measurement (95% CI)", "verdict", "seconds")


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.6g}"


def _measured(v: Verdict) -> str:
    if v.error is not None:
        return "error"
    if v.kind == "holds":
        return f"{_fmt(v.estimate)} (worst slack {v.worst:.3g})"
    if v.ci_low == v.ci_high:
        return _fmt(v.estimate)
    return f"{_fmt(v.estimate)} [{_fmt(v.ci_low)}, {_fmt(v.ci_high)}]"


def _row(v: Verdict) -> tuple[str, ...]:
    return (
        v.claim_id,
        v.reference,
        v.kind,
        _fmt(v.prediction),
        _measured(v),
        "PASS" if v.passed else "FAIL",
        f"{v.seconds_compile + v.seconds_run:.2f}",
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
        """True when every claim passed."""
        return all(v.passed for v in self.verdicts)

    @property
    def failed(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.passed]

    def rows(self) -> list[tuple[str, ...]]:
        return [_row(v) for v in self.verdicts]

    def summary(self) -> str:
        n_pass = sum(v.passed for v in self.verdicts)
        return (f"{n_pass}/{len(self.verdicts)} claims passed at scale {self.scale!r}, seed {self.seed}, "
                f"in {self.seconds:.1f} s")

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
            "seconds": self.seconds,
            "environment": self.environment,
            "verdicts": [v.to_dict() for v in self.verdicts],
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """The report as JSON (top-level ``verdicts`` list); written to ``path`` when given."""
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
