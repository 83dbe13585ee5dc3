"""Benchmarks of the icl topic, as ratios against reference runs in the same process.

1. Training throughput: :func:`theory.icl.simulate.train_lsa` trains ``S`` seeds in one
   ``jit(vmap(lax.scan))`` call, against a plain per-seed Python loop that runs the same Adam step
   (one jitted step function, called ``steps`` times per seed from Python). Reported as seed-steps
   per second (compile time apart).
2. (optional) The hand-written Adam against ``optax.adam`` inside the same scanned trainer (optax is a
   test extra; skipped when absent).

Usage: python benchmarks/icl_bench.py [--seeds 8] [--steps 300] [--batch 512] [--n 10] [--d 4] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from theory.icl.lsa import context_readout, make_prompt
from theory.icl.simulate import _init_params, adam_init, adam_update, conditional_risk, sample_tasks, train_lsa


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    return time.perf_counter() - t0, out


def _loss(p, X, y, w, s2, d):
    g = context_readout(p[0], p[1], make_prompt(X, y, jnp.zeros_like(X[:, 0])))
    return jnp.mean(conditional_risk(g, w, s2, jnp.eye(d)))


def python_loop_trainer(n, d, batch, s2, lr):
    """One jitted Adam step; the loop over steps and seeds is plain Python (the reference)."""

    @jax.jit
    def step(p, state, k, rate):
        X, y, w = sample_tasks(k, batch, n, d, s2, jnp.eye(d), jnp.eye(d))
        grads = jax.grad(_loss)(p, X, y, w, s2, d)
        return adam_update(p, grads, state, rate)

    def run(key, seeds, steps):
        out = []
        for s in jax.random.split(key, seeds):
            k_init, k_data = jax.random.split(s)
            p = _init_params(k_init, d, 0.3, jnp.float32)
            state = adam_init(p)
            for t, k in enumerate(jax.random.split(k_data, steps)):
                rate = 1e-4 + 0.5 * (lr - 1e-4) * (1 + np.cos(np.pi * t / steps))
                p, state = step(p, state, k, jnp.float32(rate))
            out.append(p)
        return out

    return run


def optax_trainer(n, d, batch, s2, lr, steps):
    import optax

    opt = optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=1e-4 / lr))

    @jax.jit
    def run(keys):
        def one(key):
            k_init, k_data = jax.random.split(key)
            p = _init_params(k_init, d, 0.3, jnp.float32)

            def body(carry, k):
                p, st = carry
                X, y, w = sample_tasks(k, batch, n, d, s2, jnp.eye(d), jnp.eye(d))
                upd, st = opt.update(jax.grad(_loss)(p, X, y, w, s2, d), st, p)
                return (optax.apply_updates(p, upd), st), None

            (p, _), _ = jax.lax.scan(body, (p, opt.init(p)), jax.random.split(k_data, steps))
            return p

        return jax.vmap(one)(keys)

    return run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--d", type=int, default=4)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    n, d, batch, s2, lr, S, T = a.n, a.d, a.batch, 0.25, 1e-2, a.seeds, a.steps
    key = jax.random.key(0)
    res = {"config": vars(a), "device": str(jax.devices()[0])}

    def vm(steps):
        return train_lsa(key, n=n, d=d, steps=steps, batch=batch, n_seeds=S, noise_var=s2, lr=lr)

    first, _ = _timed(lambda: vm(T))
    steady, _ = _timed(lambda: vm(T))
    res["vmap_scan"] = {"first_call_s": first, "steady_s": steady, "seed_steps_per_s": S * T / steady}

    loop = python_loop_trainer(n, d, batch, s2, lr)
    first_l, _ = _timed(lambda: loop(key, 1, 2))  # compiles the step
    steady_l, _ = _timed(lambda: loop(key, S, T))
    res["python_loop"] = {"compile_s": first_l, "steady_s": steady_l, "seed_steps_per_s": S * T / steady_l}
    res["speedup_vmap_over_loop"] = steady_l / steady

    try:
        run = optax_trainer(n, d, batch, s2, lr, T)
        keys = jax.random.split(key, S)
        first_o, _ = _timed(lambda: run(keys))
        steady_o, _ = _timed(lambda: run(keys))
        res["optax_vmap_scan"] = {"first_call_s": first_o, "steady_s": steady_o, "seed_steps_per_s": S * T / steady_o}
        res["own_adam_over_optax_time"] = steady / steady_o
    except ImportError:
        res["optax_vmap_scan"] = None

    print(json.dumps(res, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == "__main__":
    main()
