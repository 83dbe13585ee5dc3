"""Benchmarks of the inductive_bias topic, as ratios against reference runs in the same process.

1. ``GChiSq.logcdf`` (``method="auto"``) on 1000 random laws with 1 to 200 terms (weights log-uniform over up to
   four decades, degrees of freedom in {0.5, 1, 2, 3, 5}, non-centralities exponential), one point each at a
   random fraction of the mean, against ``scipy.stats.ncx2.logcdf`` on the same number of points (one call,
   vectorised): the ratio says what the generality (any number of terms, exact deep tails) costs over SciPy's
   single-term C routine. The evaluators chosen by ``auto`` are counted.
2. Ruben's series alone against SciPy on single terms (the same family SciPy covers), point by point.
3. Kernel hypotheses: ``kernel_test_errors`` (jit) for 200 000 posterior draws on the 2-D task against NumPy.

Compile time and steady-state time are reported apart where JAX compiles.

Usage: python benchmarks/inductive_bias_bench.py [--laws 1000] [--json FILE]
"""

from __future__ import annotations

import argparse
import collections
import time

import jax
import numpy as np
from _timing import report, timeit
from scipy import stats

from theory.inductive_bias import GChiSq, kernel_test_errors, ruben_logcdf, sine_task, task_law


def _laws(n, rng):
    out = []
    for _ in range(n):
        j = int(rng.integers(1, 201))
        w = 10 ** rng.uniform(-2, 2, j) if rng.uniform() < 0.5 else 10 ** rng.uniform(-1, 1, j)
        d = rng.choice([0.5, 1.0, 2.0, 3.0, 5.0], j)
        nc = rng.exponential(2.0, j)
        law = GChiSq(w, d, nc)
        out.append((law, law.mean() * 10 ** rng.uniform(-1.5, 0.3)))
    return out


def logcdf_benchmark(n_laws):
    rng = np.random.default_rng(0)
    laws = _laws(n_laws, rng)
    t0 = time.perf_counter()
    methods = collections.Counter(law.logcdf(x).method for law, x in laws)
    ours = time.perf_counter() - t0
    x = rng.uniform(0.5, 50.0, n_laws)
    df, nc = rng.uniform(1, 50, n_laws), rng.uniform(0, 50, n_laws)
    best = min(_time(lambda: stats.ncx2.logcdf(x, df, nc)) for _ in range(5))
    rows = {f"GChiSq.logcdf auto, {n_laws} laws": (0.0, ours), f"scipy ncx2.logcdf, {n_laws} points": (0.0, best)}
    ratios = {"GChiSq.logcdf / scipy ncx2.logcdf": ours / best, "ms per law (GChiSq)": 1e3 * ours / n_laws}
    ratios.update({f"share {k}": v / n_laws for k, v in sorted(methods.items())})
    return rows, ratios


def _time(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def single_term_benchmark(n=200):
    rng = np.random.default_rng(1)
    x, df, nc = rng.uniform(0.5, 50.0, n), rng.uniform(1, 50, n), rng.uniform(0, 50, n)
    ours = _time(lambda: [ruben_logcdf(a, [1.0], [b], [c]) for a, b, c in zip(x, df, nc, strict=True)])
    ref = _time(lambda: [stats.ncx2.logcdf(a, b, c) for a, b, c in zip(x, df, nc, strict=True)])
    return ({"ruben_logcdf, single terms": (0.0, ours), "scipy ncx2.logcdf, point by point": (0.0, ref)},
            {"ruben / scipy (point by point)": ours / ref})


def sampler_benchmark(n=200000):
    task = sine_task(jax.random.key(0))
    mean, cov, _ = task_law(task, lengthscale=0.5)
    key = jax.random.key(1)
    rows = {"kernel_test_errors (jit)": timeit(lambda: kernel_test_errors(key, mean, cov, task[3], num_samples=n),
                                               repeat=3)}
    lam, u = np.linalg.eigh(cov)
    root = u * np.sqrt(np.clip(lam, 0, None))
    rng = np.random.default_rng(0)

    def numpy_ref():
        xi = rng.standard_normal((n, root.shape[1])).astype(np.float32)
        return np.mean((mean[:, 0] + xi @ root.T.astype(np.float32) - task[3][:, 0]) ** 2, axis=1)

    rows["numpy reference"] = (0.0, min(_time(numpy_ref) for _ in range(3)))
    return rows, {"jax / numpy": rows["kernel_test_errors (jit)"][1] / rows["numpy reference"][1]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--laws", type=int, default=1000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    return report({"logcdf on random laws": logcdf_benchmark(args.laws), "single terms": single_term_benchmark(),
                   "kernel sampler": sampler_benchmark()}, args.json, width=40)


if __name__ == "__main__":
    main()
