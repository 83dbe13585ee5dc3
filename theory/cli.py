"""The ``theory`` command: ``verify``, ``figures`` and ``list``.

Exit status of ``theory verify``: 0 when every claim is PASS, 1 when a claim FAILs, 3 when nothing
failed but some claim is INCONCLUSIVE (a rival was accepted too), 2 for a usage error (an unknown
topic, claim or scale, a bad seed or --jobs, an unwritable output path), reported on one line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from theory import verify
from theory.verify.cache import write_json
from theory.verify.report import COLUMNS

__all__ = ["main"]

_STYLE = {"PASS": "green", "INCONCLUSIVE": "yellow", "FAIL": "bold red"}

#: The LLVM optimisation level of the CPU code the ``theory`` command compiles (XLA's default is 3). At level 1
#: XLA compiles the unrolled threefry rounds of every random draw about 5x faster and the programs run no slower:
#: a first default-scale ``theory verify`` on 2 cores took 171 s against 208 s at the default level (compile 176 s
#: against 239 s, run 150 s against 161 s, summed over the two worker processes), with the same verdicts and
#: estimates equal to about 1e-8 relative: the level changes how XLA's fused loops are turned into machine code,
#: which moves the last bits, not what is computed.
CPU_OPTIMIZATION_LEVEL = 1

#: Added with the level where this jaxlib's XLA accepts it (:func:`_xla_accepts`): XLA's legacy elemental CPU
#: emitters compile the many small fusions of a run about a third faster than its MLIR fusion emitters, and the
#: programs run as fast. A first default-scale ``theory verify`` on 2 cores (2026-12-07, one run after the other):
#: 118 s against 152 s, compile 108 s against 173 s and run 121 s both (summed over the two worker processes),
#: the same verdicts, estimates equal to 6e-9 relative or closer (and, for a quantity that is zero up to rounding,
#: in its rounding). XLA is retiring these emitters; where the flag is gone the command runs without it.
CPU_LEGACY_EMITTERS = "xla_cpu_use_fusion_emitters=false"


def _cpu_only_installation() -> bool:
    """Whether JAX can only use the CPU here: ``JAX_PLATFORMS=cpu``, or no accelerator plugin (CUDA, ROCm, TPU)."""
    platforms = os.environ.get("JAX_PLATFORMS", "").strip().lower()
    if platforms:
        return platforms == "cpu"
    from importlib import metadata, util

    return (not metadata.entry_points(group="jax_plugins") and util.find_spec("jax_plugins") is None
            and util.find_spec("libtpu") is None)


def _xla_starts_with(flags: str) -> bool:
    """Whether a JAX CPU backend starts with ``XLA_FLAGS=flags``, tried in a child process: XLA aborts the process
    on a flag it does not know, so a flag is tried before a process that matters depends on it."""
    probe = "import jax.numpy as jnp; jnp.zeros(1).block_until_ready()"
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
    try:
        return subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, timeout=300).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _xla_accepts(flag: str, memo_dir: Path | None) -> bool:
    """Whether this jaxlib's XLA accepts ``--flag`` (:func:`_xla_starts_with`), asked once per jaxlib version when
    ``memo_dir`` is given: the answer is kept there (``xla-flags.json``), and a later run reads it instead of
    starting a child process (about 2 s)."""
    from importlib import metadata

    try:
        key = f"jaxlib {metadata.version('jaxlib')}: --{flag}"
    except metadata.PackageNotFoundError:
        return False
    memo = None if memo_dir is None else Path(memo_dir) / "xla-flags.json"
    try:
        known = json.loads(memo.read_text()) if memo is not None else {}
    except (OSError, ValueError):
        known = {}
    known = known if isinstance(known, dict) else {}
    if isinstance(known.get(key), bool):
        return known[key]
    accepted = _xla_starts_with(f"--{flag}")
    if memo is not None:  # written whole, so a run started beside this one never reads half of it
        try:
            write_json(memo, {**known, key: accepted})
        except OSError:  # a read-only cache folder: asked again next time
            pass
    return accepted


def _cpu_code_generation(memo_dir: Path | None = None) -> None:
    """Compile at LLVM level :data:`CPU_OPTIMIZATION_LEVEL`, with the legacy emitters of
    :data:`CPU_LEGACY_EMITTERS` where XLA accepts them, on a CPU-only installation: both through ``XLA_FLAGS``,
    before JAX starts its backend (the flags then reach the ``--jobs`` workers too). A flag already set in
    ``XLA_FLAGS`` wins; nothing changes when an accelerator may be used (the level also drives GPU code
    generation) or when ``main`` is called in a process whose JAX backend is already running. ``memo_dir`` keeps
    the answer of :func:`_xla_accepts`."""
    flags = os.environ.get("XLA_FLAGS", "")
    if not _cpu_only_installation():
        return
    try:
        from jax._src import xla_bridge
    except ImportError:  # a JAX without the module: leave its settings alone
        return
    if getattr(xla_bridge, "backends_are_initialized", lambda: True)():
        return
    added = []
    if "xla_backend_optimization_level" not in flags:
        added.append(f"--xla_backend_optimization_level={CPU_OPTIMIZATION_LEVEL}")
    name = CPU_LEGACY_EMITTERS.split("=")[0]
    if name not in flags and _xla_accepts(CPU_LEGACY_EMITTERS, memo_dir):
        added.append(f"--{CPU_LEGACY_EMITTERS}")
    if added:
        os.environ["XLA_FLAGS"] = " ".join([flags, *added]).strip()


class _Parser(argparse.ArgumentParser):
    """Usage errors on one line (``theory: error: ...``), exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _integer(low: int, what: str):
    """An argparse type: an integer >= ``low``, else a one-line usage error ``"<what>, got '<text>'"``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"{what}, got {text!r}")
        return value

    return parse


_seed = _integer(0, "seed must be a non-negative integer")
_positive = _integer(1, "must be a positive integer")
_natural = _integer(0, "must be a non-negative integer")
_count = _integer(1, "must be a positive integer or 'auto'")


def _jobs_option(text: str) -> int | str:
    """``--jobs``: ``auto`` or a positive integer."""
    return "auto" if text.strip().lower() == "auto" else _count(text)


#: ``--jobs auto`` uses at most this many processes (each holds its own JAX runtime and compiled functions).
MAX_AUTO_JOBS = 4


def _jobs(args, claims) -> int:
    """The process count of ``theory verify``: ``--jobs N``, or for ``auto`` one per usable CPU core (at most
    :data:`MAX_AUTO_JOBS`) on a CPU backend, and 1 on an accelerator, with --distributed or --dry-run, or when a
    claim is not a registered one (worker processes look claims up by id)."""
    if args.jobs != "auto":
        return args.jobs
    if args.distributed or args.dry_run:
        return 1
    import jax

    if jax.default_backend() != "cpu":  # one accelerator shared by several processes: each would wait on it
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    jobs = max(1, min(cores, MAX_AUTO_JOBS))
    if jobs > 1:
        from theory.verify.runner import unregistered

        if unregistered(claims):
            return 1
    return jobs


def _distributed(parser, args) -> bool:
    """Check the --distributed options and join the runtime; ``True`` on the process that reports."""
    explicit = [args.coordinator_address, args.num_processes, args.process_id]
    if not args.distributed:
        if any(x is not None for x in explicit):
            parser.error("--coordinator-address, --num-processes and --process-id need --distributed")
        return True
    if args.dry_run:
        parser.error("--dry-run runs on one process; drop --distributed")
    import jax

    from theory.verify.distributed import initialize

    try:  # initialize checks the three options (all or none, process id in range) before joining
        initialize(args.coordinator_address, args.num_processes, args.process_id)
    except ValueError as exc:
        parser.error(f"--distributed: {exc}")
    return jax.process_index() == 0


def _parser() -> argparse.ArgumentParser:
    import theory

    topics = verify.known_topics()
    parser = _Parser(prog="theory", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"theory {theory.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    names = f"topics ({', '.join(topics)}) or claim ids (topic.name); default all"

    def add_common(p, with_seed=True):
        p.add_argument("topics", nargs="*", metavar="NAME", help=names)
        p.add_argument("--scale", default="default", choices=verify.SCALES, help="size preset (default: default)")
        if with_seed:
            p.add_argument("--seed", type=_seed, default=0, help="run seed, a non-negative integer (default 0)")

    cache_help = ("do not use the persistent compilation cache (default: on, in $THEORY_COMPILE_CACHE_DIR or the "
                  "user cache folder)")
    p = sub.add_parser("verify", help="run the claims and print the claims table")
    add_common(p)
    p.add_argument("--no-compile-cache", action="store_true", help=cache_help)
    p.add_argument("--dry-run", action="store_true",
                   help="estimate each claim's time and memory at --scale from a measured smoke run, and stop")
    p.add_argument("--jobs", type=_jobs_option, default="auto", metavar="N|auto",
                   help="run the claim groups in N local processes (default auto: one per CPU core, at most "
                        f"{MAX_AUTO_JOBS}, on a CPU; 1 on an accelerator); the verdicts do not depend on it")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    p.add_argument("--markdown", type=Path, metavar="FILE", help="also write the claims table as Markdown")
    p.add_argument("--distributed", action="store_true",
                   help="one of several jax.distributed processes (run the same command on every host): the "
                        "claims are shared out and process 0 prints and writes the whole report")
    p.add_argument("--coordinator-address", metavar="HOST:PORT",
                   help="with --distributed: process 0's address (default: from the cluster environment)")
    p.add_argument("--num-processes", type=_positive, metavar="N", help="with --distributed: the process count")
    p.add_argument("--process-id", type=_natural, metavar="I", help="with --distributed: this process, 0..N-1")

    p = sub.add_parser("figures", help="regenerate the figures (PNG) and the JSON numbers behind each")
    p.add_argument("topics", nargs="*", metavar="TOPIC", help=f"topics ({', '.join(topics)}); default all")
    p.add_argument("--scale", default="default", choices=verify.SCALES, help="size preset (default: default)")
    p.add_argument("--seed", type=_seed, default=0, help="run seed, a non-negative integer (default 0)")
    p.add_argument("--out", type=Path, default=Path("figures"), metavar="DIR", help="output folder (default ./figures)")
    p.add_argument("--no-compile-cache", action="store_true", help=cache_help)

    p = sub.add_parser("list", help="list the claims")
    p.add_argument("topics", nargs="*", metavar="NAME", help=names)
    return parser


def _topics(parser, names) -> list[str]:
    known = verify.known_topics()
    for t in names:
        if t not in known:
            parser.error(f"unknown topic {t!r}; known topics: {', '.join(known)}")
    return list(names) or list(known)


def _claims(parser, names) -> list[verify.Claim]:
    try:
        return verify.claims(names or None)
    except ValueError as exc:
        parser.error(str(exc))


def _check_output(parser, option: str, path: Path | None) -> None:
    """Fail before the run, not after it, when ``path`` cannot be written."""
    if path is None:
        return
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        parser.error(f"{option} {str(path)!r} is a directory; give a file path")
    if not parent.is_dir():
        parser.error(f"{option} {str(path)!r}: folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        parser.error(f"{option} {str(path)!r} is not writable")


def _table(report: verify.Report) -> Table:
    table = Table(title=f"theory verify: scale {report.scale}, seed {report.seed}")
    for col in COLUMNS:
        table.add_column(col, overflow="fold")
    status = COLUMNS.index("status")
    for row in report.rows():
        cells = [Text(c) for c in row]
        cells[status].stylize(_STYLE.get(row[status], ""))
        table.add_row(*cells)
    return table


def _verify(args, parser, out: Console, err: Console) -> int:
    _check_output(parser, "--json", args.json)
    _check_output(parser, "--markdown", args.markdown)
    if args.jobs != "auto" and args.jobs > 1 and (args.distributed or args.dry_run):
        parser.error(f"--jobs {args.jobs} runs local processes; it does not go with "
                     f"{'--distributed' if args.distributed else '--dry-run'} (use --jobs 1 or auto)")
    reporter = _distributed(parser, args)  # before any JAX work
    claims = _claims(parser, args.topics)

    def progress(i, total, claim, verdict):
        if verdict is None:
            err.print(f"[{i + 1}/{total}] {claim.id} ...", end="", highlight=False, markup=False)
        else:
            took = verdict.seconds_compile + verdict.seconds_run
            err.print(f" {verdict.status} ({took:.1f} s)", highlight=False, markup=False)

    if not args.no_compile_cache:
        verify.enable_compile_cache()
    if args.dry_run:
        return _dry_run(claims, args, out, err)
    if args.distributed:
        from theory.verify.distributed import run_distributed

        report = run_distributed(claims, scale=args.scale, seed=args.seed, progress=progress)
        if not reporter:
            return report.exit_code
    else:
        report = verify.run(claims, scale=args.scale, seed=args.seed, progress=progress,
                            jobs=_jobs(args, claims))
    out.print(_table(report))
    for v in report.verdicts:
        if v.status == "FAIL":
            out.print(f"FAIL {v.claim_id}: {v.reason}" + (f"\n  error: {v.error}" if v.error else ""),
                      highlight=False, markup=False)
        elif v.status == "INCONCLUSIVE":
            accepted = ", ".join(f"{r['name']} ({r['why']})" for r in v.rivals if r["passed"] is not False)
            out.print(f"INCONCLUSIVE {v.claim_id}: rivals not rejected: {accepted}", highlight=False, markup=False)
    out.print(report.summary(), highlight=False, markup=False)
    if args.json:
        report.to_json(args.json)
    if args.markdown:
        report.to_markdown(args.markdown)
    return report.exit_code


def _dry_run(claims, args, out: Console, err: Console) -> int:
    import jax

    from theory.verify.cost import H100, dry_run

    def progress(cost):
        err.print(f"{cost.claim_id}: {cost.estimated_seconds:.1f} s", highlight=False, markup=False)

    costs = dry_run(claims, target=args.scale, seed=args.seed, progress=progress)
    devices = ", ".join(sorted({f"{d.platform}:{d.device_kind}" for d in jax.devices()}))
    table = Table(title=f"estimated cost at scale {args.scale} on {len(jax.devices())} device(s) ({devices})")
    for col in ("claim", "smoke: compile + run s", "smoke peak MB", "work x", "estimated s", "estimated MB",
                "GFLOP", "H100 roofline s"):
        table.add_column(col, overflow="fold")

    def fmt(x, spec):
        return "n/a" if x is None else format(x, spec)

    for c in costs:
        flops = None if c.estimated_flops is None else c.estimated_flops / 1e9
        table.add_row(c.claim_id, f"{c.compile_seconds:.2f} + {c.run_seconds:.2f}", f"{c.peak_bytes / 2**20:.0f}",
                      f"{c.time_ratio:.3g}", f"{c.estimated_seconds:.1f}", f"{c.estimated_bytes / 2**20:.0f}",
                      fmt(flops, ".3g"), fmt(c.roofline_seconds(H100), ".3g"))
    out.print(table)
    total = sum(c.estimated_seconds for c in costs)
    peak = max((c.estimated_bytes for c in costs), default=0)
    out.print(f"estimated total {total:.0f} s ({total / 3600:.2f} h), largest claim {peak / 2**30:.2f} GiB: time "
              "scales with replicates x sizes x steps, memory with replicates x sizes (theory.verify.cost)",
              highlight=False, markup=False)
    roofs = [c.roofline_seconds(H100) for c in costs]
    if roofs and None not in roofs:
        flops = sum(c.estimated_flops for c in costs)
        out.print(f"one H100 (float32 roofline from XLA's operation and byte counts, a lower bound): "
                  f"{sum(roofs):.3g} s of device work, {flops / 1e12:.3g} TFLOP; plus compile time",
                  highlight=False, markup=False)
    if args.json:
        import json

        args.json.write_text(json.dumps({"scale": args.scale, "devices": [str(d) for d in jax.devices()],
                                         "claims": [c.to_dict() for c in costs]}, indent=2) + "\n")
    return 0


def _figures(args, parser, out: Console, err: Console) -> int:
    from theory._figures import regenerate  # matplotlib only when drawing

    if not args.no_compile_cache:
        verify.enable_compile_cache()
    for topic in _topics(parser, args.topics):
        for name, paths in regenerate(topic, out_dir=args.out, scale=args.scale, seed=args.seed):
            err.print(f"{topic}.{name} done", highlight=False, markup=False)
            for path in paths:
                out.print(str(path), highlight=False, markup=False)
    return 0


def _list(args, parser, out: Console, err: Console) -> int:
    table = Table(title="claims")
    for col in ("claim", "kind", "reference", "statement", "rivals"):
        table.add_column(col, overflow="fold")
    for c in _claims(parser, args.topics):
        table.add_row(*(Text(s) for s in (c.id, c.compare.kind, c.reference, c.statement,
                                          ", ".join(r.name for r in c.rivals) or "-")))
    out.print(table)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    out = Console(width=200 if not sys.stdout.isatty() else None)
    err = Console(stderr=True)
    command = {"verify": _verify, "figures": _figures, "list": _list}[args.command]
    if command is not _list:
        from theory.verify.cache import default_cache_dir

        _cpu_code_generation(None if args.no_compile_cache else default_cache_dir())
    return command(args, parser, out, err)


if __name__ == "__main__":
    sys.exit(main())
