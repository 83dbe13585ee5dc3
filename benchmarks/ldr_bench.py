"""Benchmarks of the ldr topic, as ratios against optax's cross-entropy in the same process.

``ldr_kl_loss`` (lambda = 1 and 10, margin 0.1; lam = 0 and inf; lambda traced), the exact ``aldr_kl_loss``
and top-k LDR-KL, value and gradient, on the same batch as
``optax.losses.softmax_cross_entropy_with_integer_labels`` (optax is a test extra), each entry timed in
alternation with optax and the ratio the median of the per-round ratios (``losses_bench``'s method). Compile
time and steady-state (median) time are reported apart.

Second, the noisy-label simulator at the default scale of ``ldr.noisy_accuracy`` (uniform noise eta = 0.3 and
0.6, 8 seeds, n_train 300, n_test 2000, 400 steps, MLP (32, 32), one loss): the replicates vmapped in one
compiled call against a Python loop over (setting, seed) calling the same program jitted for one replicate,
compile and steady time apart, with the ratio loop / vmap, and the largest difference between the two runs'
test accuracies: the replicates are the same, but a batch of 16 and a batch of 1 round the matrix products
differently, and over 400 steps a few test points can fall on the other side of a decision boundary (at 20
steps the accuracies agree exactly).

Usage: python benchmarks/ldr_bench.py [--batch 4096] [--classes 1000] [--sim-loss ldr_kl] [--json FILE]
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
from _timing import interleaved, loop_over_vmap, paired_ratio

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
    except ImportError:  # optax is a test extra: without it, the rows only
        optax = None
    traced = jnp.float32(3.0)
    f = jax.jit(lambda h, y, lam: ldr_kl_loss(h, y, lam=lam, margin=0.1).mean())
    g = jax.jit(jax.grad(lambda h, y, lam: ldr_kl_loss(h, y, lam=lam, margin=0.1).mean()))
    programs = {"ldr_kl lam traced": (lambda h, y: f(h, y, traced), lambda h, y: g(h, y, traced))}
    for name, fn in losses.items():
        programs[name] = (jax.jit(lambda h, y, fn=fn: fn(h, y).mean()),
                          jax.jit(jax.grad(lambda h, y, fn=fn: fn(h, y).mean())))
    if optax is not None:
        ce = optax.losses.softmax_cross_entropy_with_integer_labels
        reference = (jax.jit(lambda h, y: ce(h, y).mean()), jax.jit(jax.grad(lambda h, y: ce(h, y).mean())))
    rows, ratios = {}, {}
    for name, (value, grad) in programs.items():
        timed = {f"{name} value": value, f"{name} grad": grad}
        if optax is not None:  # each entry timed in alternation with optax (paired rounds, as in losses_bench)
            timed = {"optax CE value": reference[0], **timed, "optax CE grad": reference[1]}
        steady, times = interleaved(timed, (logits, labels), repeat)
        rows.update(steady)
        for part in ("value", "grad") if optax is not None else ():
            ratios[f"{name} {part} / optax"] = paired_ratio(times, f"{name} {part}", f"optax CE {part}")
    return rows, ratios


def simulator_benchmark(loss="ldr_kl", hyper=10.0, repeat=5):
    """The vmapped replicates of the noisy-label trainer against a Python loop of one-replicate calls."""
    import numpy as np

    from theory.ldr.simulate import _run

    etas, seeds, K, dim = [0.3, 0.6], 8, 10, 10
    key = jax.random.key(0)
    k_means, k_seeds = jax.random.split(key)
    means = jax.random.normal(k_means, (K, dim), jnp.float32)
    keys = jax.vmap(lambda s: jax.random.fold_in(k_seeds, s))(jnp.arange(seeds))
    eta, kind = jnp.asarray(etas, jnp.float32), jnp.zeros(len(etas), jnp.int32)
    hyper_args = (jnp.asarray(0, jnp.int32), jnp.float32(hyper), jnp.float32(0.15), jnp.float32(0.9),
                  jnp.float32(0.0))
    static = dict(names=(loss,), n_train=300, n_test=2000, hidden=(32, 32), steps=400, scale=1.0)

    def vmapped():
        return _run(keys, means, eta, kind, *hyper_args, **static)[0]

    def loop():
        return [[_run(keys[s:s + 1], means, eta[i:i + 1], kind[i:i + 1], *hyper_args, **static)[0]
                 for s in range(seeds)] for i in range(len(etas))]

    rows, ratio = loop_over_vmap(vmapped, loop, (f"vmap over {len(etas)} settings x {seeds} seeds (one call)",
                                                 "Python loop of one-replicate calls (jitted)"), repeat=repeat)
    gap = np.max(np.abs(np.asarray(vmapped()).reshape(len(etas), seeds)
                        - np.array([[np.asarray(a).item() for a in row] for row in loop()])))
    return rows, {"loop / vmap (steady)": ratio, "max |accuracy vmap - loop|": float(gap)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--sim-loss", default="ldr_kl")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    sim_rows, sim_ratios = simulator_benchmark(args.sim_loss)
    print(f"noisy-label simulator ({args.sim_loss}, default scale of ldr.noisy_accuracy)")
    for name, (compile_s, steady) in sim_rows.items():
        print(f"  {name:56s} compile {compile_s:8.3f} s  steady {steady:8.3f} s")
    for name, r in sim_ratios.items():
        print(f"  {name}: {r:.3g}")
    rows, ratios = loss_benchmark(args.batch, args.classes, args.repeat)
    print(f"device: {jax.devices()[0]}, batch {args.batch} x {args.classes} classes, float32")
    print(f"{'workload':40s} {'compile (s)':>12s} {'steady (ms)':>12s}")
    for name, (compile_s, steady) in rows.items():
        print(f"{name:40s} {compile_s:12.3f} {1e3 * steady:12.3f}")
    for name, r in ratios.items():
        print(f"{name}: {r:.3g}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"device": str(jax.devices()[0]), "rows": rows, "ratios": ratios,
                       "simulator": {"rows": sim_rows, "ratios": sim_ratios}}, fh, indent=1)
    return ratios


if __name__ == "__main__":
    main()
