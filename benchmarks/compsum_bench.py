"""Benchmarks of the comp-sum topic, as ratios against reference runs in the same process.

1. ``comp_sum_loss`` (tau = 1 and tau = 1.5, value and gradient) against optax's integer-label
   softmax cross-entropy on the same batch (optax is a test extra; skipped if absent).
2. The training simulator: one ``jit(vmap)`` call over seeds against a Python loop over seeds of
   the same jitted single-seed trainer.

Compile time and steady-state time are reported apart.

Usage: python benchmarks/compsum_bench.py [--batch 4096] [--classes 1000] [--seeds 8] [--json FILE]
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
from _timing import loop_over_vmap, timeit

from theory.compsum import comp_sum_loss
from theory.compsum.simulate import make_linear_problem, train_linear


def loss_benchmark(batch, classes):
    key = jax.random.key(0)
    logits = jax.random.normal(key, (batch, classes), jnp.float32)
    labels = jax.random.randint(jax.random.fold_in(key, 1), (batch,), 0, classes)
    rows = {}
    for tau in (1.0, 1.5):
        f = jax.jit(lambda h, y, tau=tau: comp_sum_loss(h, y, tau=tau).mean())
        g = jax.jit(jax.grad(lambda h, y, tau=tau: comp_sum_loss(h, y, tau=tau).mean()))
        rows[f"comp_sum tau={tau:g} value"] = timeit(f, logits, labels)
        rows[f"comp_sum tau={tau:g} grad"] = timeit(g, logits, labels)
    try:
        import optax
    except ImportError:
        return rows, None
    f = jax.jit(lambda h, y: optax.losses.softmax_cross_entropy_with_integer_labels(h, y).mean())
    g = jax.jit(jax.grad(lambda h, y: optax.losses.softmax_cross_entropy_with_integer_labels(h, y).mean()))
    rows["optax CE value"] = timeit(f, logits, labels)
    rows["optax CE grad"] = timeit(g, logits, labels)
    return rows, {
        "value tau=1 / optax": rows["comp_sum tau=1 value"][1] / rows["optax CE value"][1],
        "grad tau=1 / optax": rows["comp_sum tau=1 grad"][1] / rows["optax CE grad"][1],
    }


def simulator_benchmark(seeds, steps=1500):
    X, pi, P = make_linear_problem(key=jax.random.key(1))
    key = jax.random.key(2)

    def vmapped():
        return train_linear(X, pi, P, key=key, taus=[1.0], num_replicates=seeds, num_steps=steps)

    def looped():
        return [train_linear(X, pi, P, key=jax.random.fold_in(key, s), taus=[1.0], num_replicates=1, num_steps=steps)
                for s in range(seeds)]

    rows, ratio = loop_over_vmap(vmapped, looped, ("train_linear jit(vmap) over seeds",
                                                   "python loop over seeds (jitted trainer)"))
    steps_per_s = seeds * steps / rows["train_linear jit(vmap) over seeds"][1]
    return rows, {"loop / vmap": ratio, "vmapped steps per second": steps_per_s}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    loss_rows, loss_ratios = loss_benchmark(args.batch, args.classes)
    sim_rows, sim_ratios = simulator_benchmark(args.seeds)
    print(f"device: {jax.devices()[0]}")
    print(f"{'workload':45s} {'compile (s)':>12s} {'steady (ms)':>12s}")
    for name, (compile_s, steady) in {**loss_rows, **sim_rows}.items():
        print(f"{name:45s} {compile_s:12.3f} {1e3 * steady:12.3f}")
    ratios = {**(loss_ratios or {}), **sim_ratios}
    for name, r in ratios.items():
        print(f"{name}: {r:.3g}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"device": str(jax.devices()[0]), "rows": {**loss_rows, **sim_rows}, "ratios": ratios}, fh,
                      indent=1)
    return ratios


if __name__ == "__main__":
    main()
