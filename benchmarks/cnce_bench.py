"""Benchmarks of the cnce topic, as ratios against reference runs in the same process.

1. MECO training: ``gaussian_mean_runs`` (jitted ``fori_loop`` over steps, ``vmap`` over 256 replicates, natural
   parameterisation, B = m = 16) against the same algorithm written as a NumPy loop vectorised over replicates
   (float32), and against NCE in the same compiled simulator (the cost of a method switch).
2. One step: ``meco_step`` (generic: any pytree model, gradient by autodiff of the surrogate), jitted, against a
   hand-written jitted closed-form update of the same natural-Gaussian step.

Compile time and steady-state time are reported apart.

Usage: python benchmarks/cnce_bench.py [--steps 1000] [--replicates 256] [--json FILE]
"""

from __future__ import annotations

import argparse
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
from _timing import report, timeit

from theory.cnce import MecoState, gaussian_mean_runs, meco_step


def _numpy_meco(steps, reps, R=1.0, lr=0.05, gamma=0.1, B=16, m=16, seed=0):
    rng = np.random.default_rng(seed)
    theta = np.zeros(reps, np.float32)
    xn = rng.standard_normal((reps, m)).astype(np.float32)
    log_u = np.log(np.mean(np.exp(theta[:, None] * xn + 0.5 * math.log(2 * math.pi)), axis=1))
    for _ in range(steps):
        x = (R + rng.standard_normal((reps, B))).astype(np.float32)
        xn = rng.standard_normal((reps, m)).astype(np.float32)
        log_r = theta[:, None] * xn + np.float32(0.5 * math.log(2 * math.pi))
        new = np.log(np.mean(np.exp(log_r - log_r.max(1, keepdims=True)), axis=1)) + log_r.max(1)
        log_u = np.logaddexp(np.log1p(-gamma) + log_u, np.log(gamma) + new)
        w = np.exp(log_r - log_u[:, None]) / m
        theta = theta - lr * (-x.mean(1) + np.sum(w * xn, axis=1))
    return theta


def training_benchmark(steps, reps):
    kw = dict(data_mean=1.0, num_steps=steps, lr=0.05, gamma=0.1, batch_size=16, num_noise=16, num_replicates=reps)

    def run(method):
        return gaussian_mean_runs(key=jax.random.key(0), method=method, **kw)["final"]

    rows = {"MECO, jit + vmap (fori_loop)": timeit(run, "meco", repeat=3),
            "NCE, same simulator": timeit(run, "nce", repeat=3)}
    t0 = time.perf_counter()
    _numpy_meco(steps, reps)
    rows["MECO, NumPy loop (vectorised)"] = (0.0, time.perf_counter() - t0)
    meco = rows["MECO, jit + vmap (fori_loop)"][1]
    return rows, {"NumPy reference / JAX MECO (steady)": rows["MECO, NumPy loop (vectorised)"][1] / meco,
                  "NCE / MECO (steady)": rows["NCE, same simulator"][1] / meco,
                  "replicate-steps per second (JAX MECO)": steps * reps / meco}


def step_benchmark(reps=4096):
    key = jax.random.key(1)
    x = 1.0 + jax.random.normal(key, (reps, 16))
    xn = jax.random.normal(jax.random.fold_in(key, 1), (reps, 16))
    state = MecoState(jnp.zeros(reps), jnp.zeros(reps), jnp.zeros(reps))
    generic = jax.jit(jax.vmap(lambda s, a, b: meco_step(s, a, b, lr=0.05, gamma=0.1, beta=0.5)))

    def closed(s, a, b):
        log_r = s.params[:, None] * b + 0.5 * math.log(2 * math.pi)
        log_u = jnp.logaddexp(jnp.log1p(-0.1) + s.log_u, jnp.log(0.1) + jax.nn.logsumexp(log_r, 1) - jnp.log(16.0))
        w = jnp.exp(log_r - log_u[:, None]) / 16
        v = 0.5 * s.v + 0.5 * (-a.mean(1) + jnp.sum(w * b, 1))
        return MecoState(s.params - 0.05 * v, log_u, v)

    hand = jax.jit(closed)
    a, b = generic(state, x, xn), hand(state, x, xn)
    assert np.allclose(np.asarray(a.params), np.asarray(b.params), atol=1e-5)
    rows = {"meco_step (generic, jit + vmap)": timeit(generic, state, x, xn),
            "hand-written closed form (jit)": timeit(hand, state, x, xn)}
    return rows, {"generic / hand-written (steady)": rows["meco_step (generic, jit + vmap)"][1]
                  / rows["hand-written closed form (jit)"][1]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--replicates", type=int, default=256)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    return report({"training": training_benchmark(args.steps, args.replicates), "one step": step_benchmark()},
                  args.json, width=40)


if __name__ == "__main__":
    main()
