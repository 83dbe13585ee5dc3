"""Benchmarks of the icl topic, as ratios against reference runs in the same process.

Training throughput: :func:`theory.icl.simulate.train_lsa` trains ``S`` seeds in one
``jit(vmap(lax.scan))`` call (``optax.adam`` inside :func:`theory._training.train`), against

1. a plain per-seed Python loop that runs the same ``optax.adam`` step (one jitted step function, called
   ``steps`` times per seed from Python), reported as seed-steps per second;
2. a Python loop over the seeds of the same jitted trainer (``train_lsa`` with one replicate per call),
   the ratio ``loop / vmap`` of steady-state times.

Compile time is reported apart from steady-state time.

Usage: python benchmarks/icl_bench.py [--seeds 8] [--steps 300] [--batch 512] [--n 10] [--d 4] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import optax
from _timing import loop_over_vmap

from theory.icl.lsa import context_readout, make_prompt
from theory.icl.simulate import _adam, _conditional_risk, _init_params, _sample_tasks, train_lsa


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    return time.perf_counter() - t0, out


def _loss(p, X, y, w, s2, d):
    g = context_readout(p[0], p[1], make_prompt(X, y, jnp.zeros_like(X[:, 0])))
    return jnp.mean(_conditional_risk(g, w, s2, jnp.eye(d), "linear"))


def python_loop_trainer(n, d, batch, s2, lr, steps):
    """One jitted ``optax.adam`` step (the trainer's optimiser and schedule); the loop over steps and seeds is
    plain Python (the reference)."""
    opt = _adam(lr, 1e-4, steps)

    @jax.jit
    def step(p, state, k):
        X, y, w = _sample_tasks(k, batch, n, d, s2, jnp.eye(d), jnp.eye(d), "linear", jnp.float32)
        updates, state = opt.update(jax.grad(_loss)(p, X, y, w, s2, d), state, p)
        return optax.apply_updates(p, updates), state

    def run(key, seeds):
        out = []
        for s in jax.random.split(key, seeds):
            k_init, k_data = jax.random.split(s)
            p = _init_params(k_init, d, 0.3, jnp.float32)
            state = opt.init(p)
            for k in jax.random.split(k_data, steps):
                p, state = step(p, state, k)
            out.append(p)
        return out

    return run


def replicate_benchmark(*, seeds=8, steps=300, batch=512, n=10, d=4, noise_var=0.25, lr=1e-2):
    """``train_lsa`` over ``seeds`` replicates in one call against a Python loop over the seeds of the same
    jitted trainer (one replicate per call): ``(rows, {"loop / vmap": ratio of steady-state times})``."""
    key = jax.random.key(0)
    kw = dict(num_samples=n, dim=d, num_steps=steps, batch=batch, noise_var=noise_var, lr=lr)

    def looped():  # the same jitted trainer, one replicate per call
        return [train_lsa(key=k, num_replicates=1, **kw) for k in jax.random.split(key, seeds)]

    rows, ratio = loop_over_vmap(lambda: train_lsa(key=key, num_replicates=seeds, **kw), looped,
                                 ("train_lsa jit(vmap) over seeds", "python loop over seeds (jitted trainer)"))
    return rows, {"loop / vmap": ratio}


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
        return train_lsa(key=key, num_samples=n, dim=d, num_steps=steps, batch=batch, num_replicates=S, noise_var=s2,
                         lr=lr)

    first, _ = _timed(lambda: vm(T))
    steady, _ = _timed(lambda: vm(T))
    res["vmap_scan"] = {"first_call_s": first, "steady_s": steady, "seed_steps_per_s": S * T / steady}

    loop = python_loop_trainer(n, d, batch, s2, lr, T)
    first_l, _ = _timed(lambda: loop(key, 1))  # compiles the step (and runs one seed)
    steady_l, _ = _timed(lambda: loop(key, S))
    res["python_loop"] = {"first_seed_s": first_l, "steady_s": steady_l, "seed_steps_per_s": S * T / steady_l}
    res["speedup_vmap_over_loop"] = steady_l / steady

    rows, ratios = replicate_benchmark(seeds=S, steps=T, batch=batch, n=n, d=d)
    res["replicates"] = {"rows": rows, "ratios": ratios}

    print(json.dumps(res, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == "__main__":
    main()
