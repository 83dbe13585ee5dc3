"""Symbolic (sympy) and convex-programming (cvxpy) cross-checks, one module per topic.

Each module defines its checks as functions ``check_xxx(smallest=False, ...) -> dict`` that raise
``AssertionError`` when a derivation fails; ``CHECKS = collect_checks(globals())`` lists them in the
order they are defined, :func:`run_checks` runs them, and from the command line
(``python -m proofs.<topic> [--smallest]``) :func:`main` prints one line per check.
"""

import time
import warnings


def collect_checks(namespace: dict) -> tuple:
    """The module's ``check_*`` functions, in the order they are defined."""
    return tuple(f for name, f in namespace.items() if name.startswith("check_") and callable(f)
                 and getattr(f, "__module__", None) == namespace["__name__"])


def run_checks(checks, smallest: bool = False) -> dict:
    """Run ``checks``; return ``{name: result}``, each result with its ``seconds``. Raises the first failure."""
    results = {}
    for check in checks:
        start = time.perf_counter()
        res = dict(check(smallest=smallest))
        res["seconds"] = time.perf_counter() - start
        results[check.__name__] = res
    return results


def _summary(res: dict) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items())


def main(checks, argv=None, summary=_summary) -> int:
    """Print one line per check (status, seconds, key numbers); return 1 if any failed, else 0."""
    import sys

    smallest = "--smallest" in (sys.argv[1:] if argv is None else argv)
    failures = 0
    print(f"{'check':34s} {'status':6s} {'sec':>6s}  key numbers")
    for check in checks:
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                status, info = "ok", summary(check(smallest=smallest))
        except AssertionError as err:
            failures += 1
            status, info = "FAIL", str(err)
        print(f"{check.__name__:34s} {status:6s} {time.perf_counter() - start:6.2f}  {info}")
    return 1 if failures else 0
