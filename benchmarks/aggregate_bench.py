"""Benchmarks of the aggregate topic, as ratios against reference runs in the same process.

1. The reduced-model simulator (``conditional_bias_variance``: one ``jit(vmap)`` call over draws and a
   (gamma, k, rho) grid) against a plain NumPy loop over draws and cases computing the same exact
   conditional bias² and variance.
2. The closed-form interpolating estimator against the cvxpy reference solver on the same data.

Compile time and steady-state time are reported apart.

Usage: python benchmarks/aggregate_bench.py [--dim 100] [--draws 30] [--json FILE]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from _timing import loop_over_vmap, report, timeit

from theory.aggregate import conditional_bias_variance, cvxpy_estimator, interpolating_estimator

# 16 (gamma, k, rho) cases: the simulator pads case lists to multiples of 16 (one compile per sweep length)
GRID = [(g, k, r) for g in (0.1, 0.25) for k in (2, 4) for r in (0.1, 0.25, 0.5, 1.0)]


def numpy_reference(rng, n, k, rho, d, draws):
    out = []
    for _ in range(draws):
        u = rng.standard_normal(d)
        u /= np.linalg.norm(u)
        Z, W = rng.standard_normal((n // k, d)), rng.standard_normal((n - n // k, d))
        A, B = Z.T @ Z, W.T @ W
        M_inv = np.linalg.inv(A + rho * B)
        bias = rho * M_inv @ B @ u
        out.append((bias @ bias, np.trace(M_inv @ A @ M_inv)))
    return out


def simulator_benchmark(dim, draws):
    n = np.array([int(round(dim / g / k)) * k for g, k, _ in GRID])
    k = np.array([k for _, k, _ in GRID])
    rho = np.array([r for _, _, r in GRID])
    rng = np.random.default_rng(0)

    def simulator(dtype):
        return lambda: conditional_bias_variance(key=jax.random.key(0), num_samples=n, dim=dim, bag_size=k, rho=rho,
                                                 num_replicates=draws, dtype=dtype)

    def loop():
        return [numpy_reference(rng, int(a), int(b), float(c), dim, draws) for a, b, c in zip(n, k, rho, strict=True)]

    with jax.enable_x64(True):
        # the NumPy loop and the float64 simulator timed in alternation, the ratio the median of the paired ratios
        rows, ratio = loop_over_vmap(simulator(jnp.float64), loop, ("jit(vmap) float64", "numpy loop float64"))
        rows["jit(vmap) float32"] = timeit(simulator(jnp.float32), repeat=3)
    return rows, {"numpy loop / jit(vmap) f64": ratio,
                  "draws x cases per second (f64)": draws * len(GRID) / rows["jit(vmap) float64"][1]}


def estimator_benchmark():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((400, 20))
    bags = rng.permutation(np.arange(400) // 4)
    y_bar = np.bincount(bags, weights=X @ rng.standard_normal(20) + rng.standard_normal(400)) / 4
    closed = timeit(lambda: interpolating_estimator(X, y_bar, bags, rho=0.5), repeat=20)
    cvx = timeit(lambda: cvxpy_estimator(X, y_bar, bags, rho=0.5), repeat=2)
    return {"closed form": closed, "cvxpy": cvx}, {"cvxpy / closed form": cvx[1] / closed[1]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--draws", type=int, default=30)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    return report({"simulator": simulator_benchmark(args.dim, args.draws),
                                 "estimator": estimator_benchmark()}, args.json, width=28)


if __name__ == "__main__":
    main()
