"""``Claim``: one theorem as an executable, falsifiable object; scales and the claim registry."""

from __future__ import annotations

import contextvars
import dataclasses
import importlib
import warnings
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax
import numpy as np

from theory import _random
from theory.verify.compare import Agrees, Holds, Measurement, Rate

__all__ = ["SCALES", "Claim", "Rival", "Experiment", "register", "claims", "known_topics", "claim_key",
           "numpy_rng", "shared_experiment"]

#: Named presets: ``smoke`` (tests, seconds), ``default`` (``theory verify``, minutes on 2 CPU
#: cores for everything), ``paper`` (the papers' sizes, meant for an accelerator).
SCALES = ("smoke", "default", "paper")


@dataclasses.dataclass(frozen=True)
class Rival:
    """A plausible wrong theorem that the claim's run must reject: the off-by-one, the missing factor,
    the neighbouring rate, the "no effect" alternative, the bound halved.

    The runner judges it on the claim's own measurement, with the claim's comparison unless ``compare``
    is given (a directional claim "Delta <= 0" has the rival "Delta >= 0", judged with ``holds(">=",
    k_se=...)``). A claim is PASS only when every rival is rejected.

    Attributes:
        name: short label shown in tables (``"x1.2"``, ``"slope -0.25"``, ``"Gamma_{tau,2}"``).
        predict: ``config -> value``, called like :attr:`Claim.predict` (config merged with the
            measurement's inputs).
        why: one sentence on why a referee would propose it.
        compare: an optional comparison replacing the claim's for this rival.
    """

    name: str
    predict: Callable[[Mapping[str, Any]], Any]
    why: str
    compare: Agrees | Holds | Rate | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"Rival name must be a non-empty string, got {self.name!r}")
        if not callable(self.predict):
            raise TypeError(f"Rival predict must be callable, got {type(self.predict).__name__}")


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One measurement shared by several claims: each reads its own quantity off the same run.

    The runner owns it: within one run it calls ``run(key, config)`` once per ``(name, key, config)``
    and hands the result to every claim of the group as the third argument of ``Claim.measure``
    (``measure(key, config, shared)``). Claims that share an experiment get the same key (the run seed
    folded with the experiment's name), so the result does not depend on which of them runs first.

    Attributes:
        name: the group name (``"moe.k3"``); unique per experiment.
        run: ``(key, config) -> result`` (any Python object; the claims read it).
        config_keys: the config entries the experiment depends on. When given, the result is shared by
            claims whose configs agree on these keys (and ``run`` sees only them); by default the whole
            config must agree.
    """

    name: str
    run: Callable[[jax.Array, Mapping[str, Any]], Any]
    config_keys: tuple[str, ...] | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"Experiment name must be a non-empty string, got {self.name!r}")
        if not callable(self.run):
            raise TypeError(f"Experiment run must be callable, got {type(self.run).__name__}")
        if self.config_keys is not None:
            object.__setattr__(self, "config_keys", tuple(self.config_keys))

    def config(self, config: Mapping[str, Any]) -> dict:
        """The part of a claim's ``config`` the experiment depends on (all of it without ``config_keys``)."""
        if self.config_keys is None:
            return dict(config)
        missing = [k for k in self.config_keys if k not in config]
        if missing:
            raise KeyError(f"experiment {self.name!r} needs config keys {missing}")
        return {k: config[k] for k in self.config_keys}


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
            numerical optimisation, exact enumeration); ``(key, config, shared) -> Measurement`` when
            the claim has an ``experiment`` (``shared`` is the experiment's result).
        compare: an :class:`Agrees`, :class:`Holds` or :class:`Rate` (its ``kind`` is
            ``"agrees"``, ``"holds"`` or ``"rate"``).
        configs: one config mapping per scale; a missing scale falls back to the next smaller one.
        group: claims with the same ``group`` get the same key (the run seed folded with the group name
            instead of the claim id). It defaults to the experiment's name when ``experiment`` is set.
        experiment: an optional :class:`Experiment` shared with other claims; the runner measures it
            once per run and passes its result to ``measure``.
        rivals: the plausible wrong predictions (:class:`Rival`) the same run must reject; the verdict
            is ``"INCONCLUSIVE"`` when the prediction is accepted but a rival is too.

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
    rivals: tuple[Rival, ...] = ()
    experiment: Experiment | None = None

    def __post_init__(self):
        object.__setattr__(self, "rivals", tuple(self.rivals))
        if self.experiment is not None:
            if not isinstance(self.experiment, Experiment):
                raise TypeError(f"claim {self.id!r}: experiment must be an Experiment, "
                                f"got {type(self.experiment).__name__}")
            if self.group is None:
                object.__setattr__(self, "group", self.experiment.name)
        for r in self.rivals:
            if not isinstance(r, Rival):
                raise TypeError(f"claim {self.id!r}: rivals must be Rival objects, got {type(r).__name__}")
        names = [r.name for r in self.rivals]
        if len(set(names)) != len(names):
            raise ValueError(f"claim {self.id!r}: rival names must be distinct, got {names}")

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
#: Every claim as :func:`register` received it. A fresh process that imports the topic gets these same claims,
#: so ``run(..., jobs>1)`` sends only ids, and only for claims found here (an entry put in ``_REGISTRY`` by
#: hand, as a test does to plant a wrong prediction, is not here).
_REGISTERED: dict[str, Claim] = {}


def register(*new: Claim) -> None:
    """Add claims to the registry (topics call this from their ``claims`` module)."""
    for c in new:
        if not isinstance(c, Claim):
            raise TypeError(f"register takes Claim objects, got {type(c).__name__}")
        if c.id in _REGISTRY and _REGISTRY[c.id] is not c:
            raise ValueError(f"claim id {c.id!r} is registered twice")
        _REGISTRY[c.id] = c
        _REGISTERED.setdefault(c.id, c)


def known_topics() -> tuple[str, ...]:
    """The topic names whose claims can be loaded."""
    import theory

    return tuple(theory.TOPICS)


def claims(topics: Iterable[str] | str | None = None) -> list[Claim]:
    """The registered claims of the given topics or claim ids (all topics when ``None``), in registry order.

    Each name is a topic (``"compsum"``) or a claim id (``"compsum.cross_entropy"``); an unknown one
    raises ``ValueError`` naming the known topics.
    """
    known = known_topics()
    names = list(known) if topics is None else ([topics] if isinstance(topics, str) else list(topics))
    wanted_topics, wanted_ids = set(), set()
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"claims takes topic names or claim ids (str), got {type(name).__name__}")
        topic = name.split(".", 1)[0]
        if topic not in known:
            raise ValueError(f"unknown topic or claim {name!r}; known topics: {', '.join(known)}")
        importlib.import_module(f"theory.{topic}.claims")
        if "." in name:
            if name not in _REGISTRY:
                ids = ", ".join(c.id for c in _REGISTRY.values() if c.topic == topic)
                raise ValueError(f"unknown claim {name!r}; claims of {topic}: {ids}")
            wanted_ids.add(name)
        else:
            wanted_topics.add(name)
    return [c for c in _REGISTRY.values() if c.topic in wanted_topics or c.id in wanted_ids]


def claim_key(seed: int, claim_id: str) -> jax.Array:
    """The claim's PRNG key: the run seed folded with a hash of the claim id, or of its ``group``
    (order independent)."""
    return jax.random.fold_in(jax.random.key(seed), zlib.crc32(claim_id.encode()) & 0x7FFFFFFF)


numpy_rng = _random.numpy_rng


#: The experiments measured in the current :func:`theory.verify.run` (set by the runner; ``None``
#: outside a run). Keyed on ``(name, key bytes, config)``.
_ACTIVE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("theory_verify_experiments", default=None)


def experiment_memo_key(name: str, key: jax.Array, config: Mapping[str, Any]) -> tuple:
    """The memo key of a shared experiment: its name, the key's bits and the config."""
    return (name, np.asarray(jax.random.key_data(key)).tobytes(), repr(sorted(dict(config).items())))


def shared_experiment(name: str, key: jax.Array, config: Mapping[str, Any], run: Callable[[jax.Array, dict], Any]):
    """Deprecated: give the claims an :class:`Experiment` instead (the runner then measures it once).

    ``run(key, config)``, memoised for the duration of the current :func:`theory.verify.run` (outside a
    run it is not memoised).
    """
    warnings.warn("theory.verify.shared_experiment is deprecated; pass Claim(experiment=Experiment(name, run))",
                  DeprecationWarning, stacklevel=2)
    memo = _ACTIVE.get()
    if memo is None:
        return run(key, dict(config))
    k = experiment_memo_key(name, key, config)
    if k not in memo:
        memo[k] = run(key, dict(config))
    return memo[k]
