"""The ``theory`` command: ``verify``, ``figures`` and ``list``.

Exit status: 0 when everything passed, 1 when a claim failed, 2 for a usage error (an unknown
topic or scale).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from theory import verify
from theory._figures import regenerate
from theory.verify.report import COLUMNS

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    topics = verify.known_topics()
    parser = argparse.ArgumentParser(prog="theory", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add_common(p, with_seed=True):
        p.add_argument("topics", nargs="*", metavar="TOPIC", help=f"topics to run ({', '.join(topics)}); default all")
        p.add_argument("--scale", default="default", choices=verify.SCALES, help="size preset (default: default)")
        if with_seed:
            p.add_argument("--seed", type=int, default=0, help="run seed (default 0)")

    p = sub.add_parser("verify", help="run the claims and print the claims table")
    add_common(p)
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    p.add_argument("--markdown", type=Path, metavar="FILE", help="also write the claims table as Markdown")

    p = sub.add_parser("figures", help="regenerate the figures (PNG) and the JSON numbers behind each")
    add_common(p)
    p.add_argument("--out", type=Path, default=Path("figures"), metavar="DIR", help="output folder (default ./figures)")

    p = sub.add_parser("list", help="list the claims")
    p.add_argument("topics", nargs="*", metavar="TOPIC")
    return parser


def _topics(parser, names) -> list[str]:
    known = verify.known_topics()
    for t in names:
        if t not in known:
            parser.error(f"unknown topic {t!r}; known topics: {', '.join(known)}")
    return list(names) or list(known)


def _table(report: verify.Report) -> Table:
    table = Table(title=f"theory verify: scale {report.scale}, seed {report.seed}")
    for col in COLUMNS:
        table.add_column(col, overflow="fold")
    for row, v in zip(report.rows(), report.verdicts, strict=True):
        style = "green" if v.passed else "bold red"
        table.add_row(*row[:5], f"[{style}]{row[5]}[/{style}]", row[6])
    return table


def _verify(args, parser, out: Console, err: Console) -> int:
    claims = verify.claims(_topics(parser, args.topics))

    def progress(i, total, claim, verdict):
        if verdict is None:
            err.print(f"[{i + 1}/{total}] {claim.id} ...", end="", highlight=False)
        else:
            took = verdict.seconds_compile + verdict.seconds_run
            mark = "ok" if verdict.passed else "FAIL"
            err.print(f" {mark} ({took:.1f} s)", highlight=False)

    report = verify.run(claims, scale=args.scale, seed=args.seed, progress=progress)
    out.print(_table(report))
    for v in report.failed:
        out.print(f"FAIL {v.claim_id}: {v.reason}" + (f"\n  error: {v.error}" if v.error else ""), highlight=False)
    out.print(report.summary(), highlight=False)
    if args.json:
        report.to_json(args.json)
    if args.markdown:
        report.to_markdown(args.markdown)
    return 0 if report.passed else 1


def _figures(args, parser, out: Console, err: Console) -> int:
    for topic in _topics(parser, args.topics):
        for name, paths in regenerate(topic, out_dir=args.out, scale=args.scale, seed=args.seed):
            err.print(f"{topic}.{name} done", highlight=False)
            for path in paths:
                out.print(str(path), highlight=False)
    return 0


def _list(args, parser, out: Console, err: Console) -> int:
    table = Table(title="claims")
    for col in ("claim", "kind", "reference", "statement"):
        table.add_column(col, overflow="fold")
    for c in verify.claims(_topics(parser, args.topics)):
        table.add_row(c.id, c.compare.kind, c.reference, c.statement)
    out.print(table)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    out = Console(width=200 if not sys.stdout.isatty() else None)
    err = Console(stderr=True)
    command = {"verify": _verify, "figures": _figures, "list": _list}[args.command]
    return command(args, parser, out, err)


if __name__ == "__main__":
    sys.exit(main())
