"""Benchmarks of the ldr topic, as ratios against optax's cross-entropy in the same process.

``ldr_kl_loss`` (lambda = 1 and 10, margin 0.1; lam = 0 and inf; lambda traced), the exact ``aldr_kl_loss``
and top-k LDR-KL, value and gradient, on the same batch as
``optax.losses.softmax_cross_entropy_with_integer_labels`` (optax is a test extra). Compile time and
steady-state time are reported apart.

Usage: python benchmarks/ldr_bench.py [--batch 4096] [--classes 1000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
from _timing import timeit

from theory.ldr import aldr_alpha_from_code, aldr_kl_loss, ldr_kl_loss, ldr_loss


def loss_benchmark(batch, classes, repeat=20):
    key = jax.random.key(0)
    logits = jax.random.normal(key, (batch, classes), jnp.float32)
    labels = jax.random.randint(jax.random.fold_in(key, 1), (batch,), 0, classes)
    alpha = aldr_alpha_from_code(2.0, num_classes=classes, lam0=10.0)
    losses = {
        "ldr_kl lam=1": lambda h, y: ldr_kl_loss(h, y, lam=1.0, margin=0.1),
        "ldr_kl lam=10": lambda h, y: ldr_kl_loss(h, y, lam=10.0, margin=0.1),
        "ldr_kl lam=0 (CS)": lambda h, y: ldr_kl_loss(h, y, lam=0.0, margin=0.1),
        "ldr_kl lam=inf": lambda h, y: ldr_kl_loss(h, y, lam=float("inf"), margin=0.1),
        "top-5 ldr_kl lam=1": lambda h, y: ldr_loss(h, y, lam=1.0, margin=0.1, k=5),
        "aldr_kl exact (grid 64)": lambda h, y: aldr_kl_loss(h, y, lam0=10.0, alpha=alpha, margin=0.1, grid=64,
                                                             iters=30),
    }
    try:
        import optax

        losses["optax CE"] = optax.losses.softmax_cross_entropy_with_integer_labels
    except ImportError:
        optax = None
    rows = {}
    traced = jnp.float32(3.0)
    f = jax.jit(lambda h, y, lam: ldr_kl_loss(h, y, lam=lam, margin=0.1).mean())
    g = jax.jit(jax.grad(lambda h, y, lam: ldr_kl_loss(h, y, lam=lam, margin=0.1).mean()))
    rows["ldr_kl lam traced value"] = timeit(f, logits, labels, traced, repeat=repeat)
    rows["ldr_kl lam traced grad"] = timeit(g, logits, labels, traced, repeat=repeat)
    for name, fn in losses.items():
        f = jax.jit(lambda h, y, fn=fn: fn(h, y).mean())
        g = jax.jit(jax.grad(lambda h, y, fn=fn: fn(h, y).mean()))
        rows[f"{name} value"] = timeit(f, logits, labels, repeat=repeat)
        rows[f"{name} grad"] = timeit(g, logits, labels, repeat=repeat)
    ratios = {}
    if optax is not None:
        for name in [*losses, "ldr_kl lam traced"]:
            if name != "optax CE":
                for part in ("value", "grad"):
                    ratios[f"{name} {part} / optax"] = rows[f"{name} {part}"][1] / rows[f"optax CE {part}"][1]
    return rows, ratios


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    rows, ratios = loss_benchmark(args.batch, args.classes, args.repeat)
    print(f"device: {jax.devices()[0]}, batch {args.batch} x {args.classes} classes, float32")
    print(f"{'workload':40s} {'compile (s)':>12s} {'steady (ms)':>12s}")
    for name, (compile_s, steady) in rows.items():
        print(f"{name:40s} {compile_s:12.3f} {1e3 * steady:12.3f}")
    for name, r in ratios.items():
        print(f"{name}: {r:.3g}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"device": str(jax.devices()[0]), "rows": rows, "ratios": ratios}, fh, indent=1)
    return ratios


if __name__ == "__main__":
    main()
