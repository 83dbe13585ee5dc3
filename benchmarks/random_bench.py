"""Random draws: :func:`theory._random.normal` (the threefry rounds unrolled) against ``jax.random.normal``.

Both give the same numbers bit for bit (``tests/test_random.py``); JAX's CPU lowering runs the hash's rounds as a
rolled loop. Two workloads, each timed in alternation with its reference in the same process:

1. one large draw, a (4096, 1000) float32 array;
2. the shape of a training loop: 2000 steps of a (2, 128) draw in a ``lax.scan``, vmapped over 8 keys.

Compile time is reported apart from steady-state time.

Usage: python benchmarks/random_bench.py [--json FILE]
"""

from __future__ import annotations

import argparse

import jax
from _timing import interleaved, paired_ratio, report

from theory import _random


def _large(normal):
    return jax.jit(lambda key: normal(key, (4096, 1000)))


def _scan(normal, *, steps=2000, shape=(2, 128)):
    def run(key):
        def body(total, k):
            return total + normal(k, shape).sum(), None

        return jax.lax.scan(body, 0.0, jax.random.split(key, steps))[0]

    return jax.jit(jax.vmap(run))


def benchmark(repeat=15):
    out = {}
    for name, build, arg in (("one (4096, 1000) draw", _large, jax.random.key(0)),
                             ("2000 scan steps of (2, 128) x 8 keys", _scan, jax.random.split(jax.random.key(0), 8))):
        programs = {"jax.random.normal": build(jax.random.normal), "theory._random.normal": build(_random.normal)}
        rows, times = interleaved(programs, (arg,), repeat)
        out[name] = (rows, {"jax.random / theory._random (steady)":
                            paired_ratio(times, "jax.random.normal", "theory._random.normal")})
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    print(f"device: {jax.devices()[0]}, float32")
    report(benchmark(), args.json, width=24)


if __name__ == "__main__":
    main()
