"""``Claim``: one theorem as an executable, falsifiable object; scales and the claim registry."""

from __future__ import annotations

import dataclasses
import importlib
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax
import numpy as np

from theory.verify.compare import Agrees, Holds, Measurement, Rate

__all__ = ["SCALES", "Claim", "register", "claims", "known_topics", "claim_key", "numpy_rng"]

#: Named presets: ``smoke`` (tests, seconds), ``default`` (``theory verify``, minutes on 2 CPU
#: cores for everything), ``paper`` (the papers' sizes, meant for an accelerator).
SCALES = ("smoke", "default", "paper")


@dataclasses.dataclass(frozen=True)
class Claim:
    """A checkable statement: ``compare(predict(config), measure(key, config)) -> Verdict``.

    Attributes:
        id: stable identifier ``"<topic>.<name>"``.
        topic: the topic subpackage that registers it.
        reference: the paper and the theorem/equation number.
        statement: one sentence saying what is claimed.
        predict: ``config -> float | array``, the closed-form prediction. It receives the scale's
            config merged with ``measurement.inputs`` (the per-sample covariates, if any).
        measure: ``(key, config) -> Measurement``, the independent measurement (simulation,
            numerical optimisation, exact enumeration).
        compare: an :class:`Agrees`, :class:`Holds` or :class:`Rate` (its ``kind`` is
            ``"agrees"``, ``"holds"`` or ``"rate"``).
        configs: one config mapping per scale; a missing scale falls back to the next smaller one.
        group: claims with the same ``group`` get the same key (the run seed folded with the group name
            instead of the claim id), so claims that read different quantities off one shared experiment
            can memoise it on ``(key, config)`` and still be independent of the order they run in.

    ``dataclasses.replace(claim, predict=...)`` makes a variant (a planted wrong prediction).
    """

    id: str
    topic: str
    reference: str
    statement: str
    predict: Callable[[Mapping[str, Any]], Any]
    measure: Callable[[jax.Array, Mapping[str, Any]], Measurement]
    compare: Agrees | Holds | Rate
    configs: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    group: str | None = None

    def config(self, scale: str) -> dict:
        """The config for ``scale`` (falling back to the largest smaller scale that is defined)."""
        _check_scale(scale)
        for name in reversed(SCALES[: SCALES.index(scale) + 1]):
            if name in self.configs:
                return dict(self.configs[name])
        return {}


def _check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {list(SCALES)}, got {scale!r}")
    return scale


_REGISTRY: dict[str, Claim] = {}


def register(*new: Claim) -> None:
    """Add claims to the registry (topics call this from their ``claims`` module)."""
    for c in new:
        if not isinstance(c, Claim):
            raise TypeError(f"register takes Claim objects, got {type(c).__name__}")
        if c.id in _REGISTRY and _REGISTRY[c.id] is not c:
            raise ValueError(f"claim id {c.id!r} is registered twice")
        _REGISTRY[c.id] = c


def known_topics() -> tuple[str, ...]:
    """The topic names whose claims can be loaded."""
    import theory

    return tuple(theory.TOPICS)


def claims(topics: Iterable[str] | str | None = None) -> list[Claim]:
    """The registered claims of the given topics (all topics when ``None``), in registry order."""
    known = known_topics()
    if topics is None:
        wanted = list(known)
    else:
        wanted = [topics] if isinstance(topics, str) else list(topics)
    for t in wanted:
        if t not in known:
            raise ValueError(f"unknown topic {t!r}; known topics: {', '.join(known)}")
        importlib.import_module(f"theory.{t}.claims")
    return [c for c in _REGISTRY.values() if c.topic in wanted]


def claim_key(seed: int, claim_id: str) -> jax.Array:
    """The claim's PRNG key: the run seed folded with a hash of the claim id, or of its ``group``
    (order independent)."""
    return jax.random.fold_in(jax.random.key(seed), zlib.crc32(claim_id.encode()) & 0x7FFFFFFF)


def numpy_rng(key: jax.Array) -> np.random.Generator:
    """A NumPy generator seeded from a JAX key, for measurements done in NumPy/SciPy."""
    return np.random.default_rng(np.asarray(jax.random.key_data(key)).astype(np.uint64))
