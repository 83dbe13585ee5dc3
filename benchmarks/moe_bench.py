"""Benchmark of the moe topic: the jitted, vmapped generalised EM against a plain NumPy EM loop.

Both run the same algorithm (E-step, weighted least squares, one damped Newton gate step with the
selected sets frozen) in float64 on the exact-specified design (top-2 of 3 experts): the NumPy reference
(:func:`theory.moe.reference.em_numpy`) loops over replicates in Python, the JAX version fits all
replicates in one ``jit(vmap)`` call (:func:`theory.moe.fit.fit_batch`, polish off). Compile time
and steady-state time are reported apart, with the EM iterations per second and the ratio.

Usage: python benchmarks/moe_bench.py [--n 4000] [--reps 8] [--iters 30] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from _timing import timeit

from theory.moe import MoEParams
from theory.moe.fit import fit_batch
from theory.moe.reference import em_numpy
from theory.moe.simulate import EXACT_DESIGN, TRUTH, _draw_jit, _init


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--reps", type=int, default=8)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    n, R, T = args.n, args.reps, args.iters
    with jax.enable_x64(True):
        truth = MoEParams(*(jnp.asarray(v, jnp.float64) for v in TRUTH))
        x, y = _draw_jit(jax.random.split(jax.random.key(0), R), truth, n, 2, jnp.float64)
        init = _init(jax.random.key(1), EXACT_DESIGN, R, jnp.float64)
        w = jnp.ones((R, n))

        def run():
            return fit_batch(x, y, w, init, top_k=2, em_iters=T, polish_iters=0)

        compile_s, best = timeit(run, repeat=3)
        res = run()
        xs, ys = np.asarray(x), np.asarray(y)
        inits = [MoEParams(*(np.asarray(v[r]) for v in init)) for r in range(R)]
    t0 = time.perf_counter()
    out = [em_numpy(inits[r], xs[r], ys[r], 2, T) for r in range(R)]
    numpy_s = time.perf_counter() - t0
    agree = max(float(np.max(np.abs(np.asarray(res.params.b[r]) - out[r][0].b))) for r in range(R))
    rows = {
        "n": n, "replicates": R, "em_iters": T,
        "jax compile (s)": compile_s, "jax jit(vmap) steady (s)": best, "numpy loop (s)": numpy_s,
        "numpy / jax": numpy_s / best, "jax EM iterations per second (all replicates)": R * T / best,
        "numpy EM iterations per second": R * T / numpy_s, "max |b_jax - b_numpy|": agree,
    }
    for k, v in rows.items():
        print(f"{k:48s} {v:.4g}" if isinstance(v, float) else f"{k:48s} {v}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
