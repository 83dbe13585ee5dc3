"""Every loss of the registry (``theory.losses``) against optax's cross-entropy, in the same process.

For each entry, at its default hyperparameters (ALDR-KL: ``alpha = 2 log K / lam0`` where the default
``alpha`` is below ``log K / lam0``), the jitted mean loss ("value") and its ``value_and_grad`` ("value+grad")
on a batch of ``(4096, 1000)`` float32 logits are timed against
``optax.losses.softmax_cross_entropy_with_integer_labels`` on the same batch. The binary margin losses (defined
for two classes only) get the same number of logits, ``(2048000, 2)``, and optax on that batch: at ``(4096, 2)``
both sides take microseconds, and the ratio measured dispatch overhead and load, not the loss. The two are timed in
alternation (interleaved repeats, medians; each sample is a burst of calls lasting about 30 ms, divided by its
length), so load from other processes falls on both. The ratio is paired: each round times optax and the entry back
to back (in alternating order), and the reported ratio is the median over rounds of their per-round ratio, so a
slow spell of the machine that spans a round cancels; best / best (the fastest sample of each) is reported beside
it. The entries' rounds are interleaved over the whole run (round r samples every entry in turn), so a slow spell
that does not cancel (another tenant's load can slow a memory-bound loss more than optax) reaches a few rounds of
every entry, which the median drops, instead of most rounds of one entry: run entry by entry, one entry or
another came out at 1.7-2.0x in a full run while taking 1.1x alone. Compile time (first call minus the steady
median) and steady-state time are reported apart.

Targets: 1.25x for every entry, 3x for the top-k entries (``ldr_topk``, ``topk_svm``), 10x for ALDR-KL
(an exact per-example 1-D solve).

Usage: python benchmarks/losses_bench.py [--batch 4096] [--classes 1000] [--repeat 31] [--only NAME ...]
[--json FILE]
"""

from __future__ import annotations

import argparse
import math

import jax
import jax.numpy as jnp
from _timing import interleaved_groups, paired_ratio, report

from theory import losses

#: Ratio targets against optax's cross-entropy (value and value+grad); 1.25 for every other entry.
TARGETS = {"ldr_topk": 3.0, "topk_svm": 3.0, "aldr_kl": 10.0}


def hyperparameters(entry, num_classes):
    """The entry's defaults for ``num_classes`` classes; ALDR-KL gets a valid ``alpha`` where its default is not."""
    hyper = entry.defaults(num_classes)
    if entry.constraint is not None and not entry.constraint(num_classes, **hyper):
        hyper["alpha"] = 2.0 * math.log(num_classes) / hyper["lam0"]  # the authors' alpha_c = 2
    return hyper


def _programs(fn):
    """``(value, value+grad)`` of the mean loss, jitted."""
    def mean(h, y):
        return jnp.mean(fn(h, y))

    return jax.jit(mean), jax.jit(jax.value_and_grad(mean))


def batch(rows, num_classes, seed=0):
    key = jax.random.key(seed)
    logits = jax.random.normal(key, (rows, num_classes), jnp.float32)
    labels = jax.random.randint(jax.random.fold_in(key, 1), (rows,), 0, num_classes)
    return logits, labels


def _entry_programs(entry, rows, num_classes):
    """``(programs, shape)``: the entry's and optax's value and value+grad programs, on its batch shape."""
    import optax

    k = entry.num_classes or num_classes
    rows = rows * num_classes // k  # a fixed-class (binary) entry: the same number of logits
    hyper = hyperparameters(entry, k)
    value, grad = _programs(lambda h, y: entry.fn(h, y, **hyper))
    ce_value, ce_grad = _programs(optax.losses.softmax_cross_entropy_with_integer_labels)
    return {"optax CE value": ce_value, "value": value, "optax CE value+grad": ce_grad, "value+grad": grad}, (rows, k)


def _summary(entry, timed, times, shape, repeat):
    """Rows and ratios of one entry from its interleaved samples."""
    target = TARGETS.get(entry.name, 1.25)
    parts = ("value", "value+grad")
    ratios = {f"{part} / optax": paired_ratio(times, part, f"optax CE {part}") for part in parts}
    fastest = {f"{part} / optax (best of {repeat})": min(times[part]) / min(times[f"optax CE {part}"])
               for part in parts}
    return ({f"{label} ({shape[0]}, {shape[1]})": t for label, t in timed.items()},
            {**ratios, **fastest, "target": target, "within target": float(all(r <= target for r in ratios.values()))})


def entries_benchmark(entries, rows, num_classes, repeat):
    """``{name: (rows, ratios)}`` of several entries against optax's cross-entropy on their shapes, their rounds
    interleaved over the whole run (:func:`_timing.interleaved_groups`)."""
    batches, groups, shapes = {}, {}, {}
    for entry in entries:
        programs, shape = _entry_programs(entry, rows, num_classes)
        if shape not in batches:
            batches[shape] = batch(*shape)
        groups[entry.name], shapes[entry.name] = (programs, batches[shape]), shape
    samples = interleaved_groups(groups, repeat)
    return {entry.name: _summary(entry, *samples[entry.name], shapes[entry.name], repeat) for entry in entries}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=31)
    parser.add_argument("--only", nargs="*", default=None, help="registry names (default: every entry)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    names = args.only or losses.names()
    print(f"device: {jax.devices()[0]}, float32, ratios to optax's cross-entropy (medians of per-round paired ratios)")
    results = entries_benchmark([losses.get(name) for name in names], args.batch, args.classes, args.repeat)
    return report(results, args.json, width=40)


if __name__ == "__main__":
    main()
