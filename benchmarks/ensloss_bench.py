"""Benchmarks of the ensloss topic, as ratios against reference runs in the same process.

1. Generator throughput: ``ensloss_derivatives`` (jitted) on one batch of 1e6 margins against a jitted ``jnp.sort``
   of the same array (the generator sorts the draws and ranks the margins, so one sort is its floor; the goal is a
   ratio <= 2), and against the NumPy float64 transcription of the authors' code.
2. Small batches: 4096 batches of 64 margins (a training step's shape), ranked by pairwise comparisons (the
   library's path for batches <= 128) against the argsort path and against ``jnp.sort`` of the same array.
3. Doubly stochastic training: ``excess_risk_by_size`` with EnsLoss against the same loop with the logistic loss.

Compile time and steady-state time are reported apart.

Usage: python benchmarks/ensloss_bench.py [--size 1000000] [--json FILE]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from _timing import report, timeit

from theory.ensloss import ensloss_derivatives, excess_risk_by_size
from theory.ensloss import generator as _generator
from theory.ensloss.reference import numpy_ensloss_derivatives


def generator_benchmark(size, repeat=10):
    key = jax.random.key(0)
    z = jax.random.normal(key, (size,), jnp.float32)
    normals = jax.random.normal(jax.random.fold_in(key, 1), (size,), jnp.float32)
    gen = jax.jit(lambda z, n: ensloss_derivatives(z, n))
    sort = jax.jit(jnp.sort)
    rows = {"jnp.sort (jit)": timeit(sort, z, repeat=repeat),
            "ensloss_derivatives (jit)": timeit(gen, z, normals, repeat=repeat)}
    zn, nn = np.asarray(z), np.asarray(normals)
    t0 = time.perf_counter()
    numpy_ensloss_derivatives(zn, nn)
    rows["numpy reference (authors' steps)"] = (0.0, time.perf_counter() - t0)
    gen_s, sort_s = rows["ensloss_derivatives (jit)"][1], rows["jnp.sort (jit)"][1]
    return rows, {"generator / jnp.sort": gen_s / sort_s,
                  "numpy reference / generator": rows["numpy reference (authors' steps)"][1] / gen_s,
                  "margins per second (generator)": size / gen_s}


def small_batch_benchmark(batches=4096, batch_size=64, repeat=10):
    key = jax.random.key(2)
    z = jax.random.normal(key, (batches, batch_size), jnp.float32)
    normals = jax.random.normal(jax.random.fold_in(key, 1), (batches, batch_size), jnp.float32)
    pairwise = jax.jit(lambda z, n: _generator._derivatives(z, n, 0.0, -1.0, 1.0, 1e-6))
    rows = {"jnp.sort rows (jit)": timeit(jax.jit(lambda z: jnp.sort(z, axis=-1)), z, repeat=repeat),
            "generator, pairwise ranks (jit)": timeit(pairwise, z, normals, repeat=repeat)}
    saved = _generator._PAIRWISE_MAX
    try:
        _generator._PAIRWISE_MAX = 0  # force the argsort path (traced anew below)
        argsort = jax.jit(lambda z, n: _generator._derivatives(z, n, 0.0, -1.0, 1.0, 1e-6))
        rows["generator, argsort ranks (jit)"] = timeit(argsort, z, normals, repeat=repeat)
    finally:
        _generator._PAIRWISE_MAX = saved
    pair_s = rows["generator, pairwise ranks (jit)"][1]
    return rows, {"pairwise / jnp.sort rows": pair_s / rows["jnp.sort rows (jit)"][1],
                  "argsort path / pairwise path": rows["generator, argsort ranks (jit)"][1] / pair_s}


def training_benchmark():
    mean = np.array([0.9, 0.6, 0.0, 0.0, 0.0])
    kw = dict(key=jax.random.key(0), sizes=[64, 256, 1024], mean=mean, num_replicates=16, num_steps=1000,
              batch_size=16)
    rows = {}
    for loss in ("ensloss", "logistic"):
        t0 = time.perf_counter()
        excess_risk_by_size(loss=loss, **kw)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        excess_risk_by_size(loss=loss, **kw)
        steady = time.perf_counter() - t0
        rows[f"excess_risk_by_size, {loss}"] = (first - steady, steady)
    return rows, {"ensloss / logistic (steady)": rows["excess_risk_by_size, ensloss"][1]
                  / rows["excess_risk_by_size, logistic"][1]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    return report({"generator": generator_benchmark(args.size),
                                 "small batches": small_batch_benchmark(),
                                 "training": training_benchmark()}, args.json, width=36)


if __name__ == "__main__":
    main()
